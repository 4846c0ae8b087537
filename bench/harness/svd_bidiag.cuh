/* Harness-only SVD by bidiagonalization (not wired into the library): A (m x n, m >= n,
 * 1 <= n <= kMaxN, n <= m <= kMaxM) = U diag(S) V^T, reduced (U m x n, S n descending, V n x n),
 * both row major, info (batch,) as eigh_tridiag's (number of cluster-orthogonalization breakdowns
 * of the Golub-Kahan eigenproblem). NaN/Inf anywhere in A -> that matrix's U, S, V all NaN.
 *
 * Phases (one kernel each, caller's stream, no allocation, no host sync):
 *  K1 k_bidiag, one block of 512 threads per matrix: the scaled copy of A (row major, exact
 *     power-of-two scaling of jacobi.cuh) in the workspace, Householder bidiagonalization
 *     (LAPACK gebd2 order): per column k a left reflector H_k on rows k..m-1 (d_k), then a right
 *     reflector G_k on columns k+1..n-1 of row k (e_k); the reflectors go to RL (k*m + i) and RR
 *     (k*n + j) contiguously (for K4), with tauL, tauR. B = Q_L^T A Q_R is upper bidiagonal.
 *  K2..K3b: the library's eigh_tridiag kernels k_bisect, k_solve, k_orth (unchanged), run on the
 *     Golub-Kahan tridiagonal T_GK of order N = 2n: zero diagonal, off-diagonals d_0, e_0, d_1,
 *     e_1, ..., d_{n-1}; its eigenvalues are +-sigma_i, the eigenvector of +sigma is
 *     (v_0, u_0, v_1, u_1, ...)/sqrt2 with B v = sigma u. All 2n eigenpairs are computed so that
 *     the cluster Gram-Schmidt of k_orth sees the +-sigma pairs of small singular values together.
 *  K5 k_split, one block per matrix: the n largest eigenpairs (ranks N-1 .. n) in descending
 *     order; column c: v from the even, u from the odd entries of z, each normalized on its own
 *     (a +sigma/-sigma mixture only changes the two norms). A column is "deficient" when sigma <=
 *     kDefTol eps ||T|| or a part has norm < 1/8 (z nearly pure v or pure u: null vectors, or a
 *     mixture of a tiny pair): its small part is rebuilt as B v / sigma (or B^T u / sigma) when
 *     sigma is not tiny, else from a pseudo-random vector, and both parts are Gram-Schmidt'ed
 *     (2 to 4 passes) against ALL previous columns; so is a column of the near-null cluster
 *     (2 sigma < 1e-3 ||T||: +sigma and -sigma in one cluster of T_GK; there the computed z are
 *     mixtures of several (v_i, +-u_i), whose v parts are not orthogonal, and the Gram-Schmidt
 *     inside the cluster alone amplified the contamination from other columns: the host model
 *     measured ||V^T V - I|| = 9e4 n eps on a tall 1e6-conditioned matrix); a column of any other
 *     singular-value cluster (consecutive gaps < 1e-3 ||T||) is Gram-Schmidt'ed against the
 *     previous members of its cluster. Sigma = max(lambda, 0) / scale. The column loop is
 *     sequential (block barriers per column that needs work).
 *  K4 k_backu / k_backv: U = Q_L [u; 0], V = Q_R v, one warp per column, the column in the
 *     workspace (L1/L2), reflectors read from RL/RR (coalesced).
 * Idea credits: LAPACK dgebd2 (reduction), Golub-Kahan (T_GK), dstein (inverse iteration); our code. */
#ifndef MC_BENCH_SVD_BIDIAG_CUH
#define MC_BENCH_SVD_BIDIAG_CUH

#include "../../src/cuda/eigh_tridiag.cuh"

namespace mc {
namespace svd_bidiag {

namespace et = mc::eigh_tridiag;
using et::Lim;

constexpr int kMaxN = et::kMaxN / 2; /* T_GK has order 2n */
constexpr int kMaxM = 1 << 14;
constexpr int kThreadsBd = 512;  /* K1 */
constexpr int kThreadsSp = 256;  /* K5 */
constexpr int kWarpsBack = 4;    /* K4 */
constexpr int kDefTol = 8;       /* deficient: sigma <= kDefTol eps ||T|| */
/* (solve, orthogonalize) rounds of eigh_tridiag's cluster process on T_GK: eigh_tridiag does
 * kClusterRounds = 2; a pseudo-random restart inside k_orth's last round is never solved again and
 * leaves a vector that is orthogonal inside its cluster only (host model, tall 200, fp32, 1e6
 * conditioned: residual 1.7e6 eps ||T||, ||V^T V - I|| 5.6e4 n eps); more rounds make that rarer. */
constexpr int kRounds = et::kClusterRounds + 2;

/* Workspace: the eigh_tridiag workspace of order 2n (ge), then ours. */
template <typename T> struct Ws {
    et::Ws<T> ge;
    T *A, *RL, *RR, *tauL, *tauR, *Uw, *Vw, *wgk, *sig;
    int32_t *inv;
};

template <typename T> inline size_t carve(void *base, int m, int n, int64_t batch, Ws<T> *w) {
    const size_t gbytes = et::carve<T>(nullptr, 2 * n, batch, nullptr);
    size_t off = et::al256(gbytes);
    auto take = [&](size_t bytes) {
        const size_t o = off;
        off += et::al256(bytes);
        return o;
    };
    const size_t B = (size_t)batch;
    const size_t oA = take(B * m * n * sizeof(T)), oRL = take(B * n * m * sizeof(T)), oRR = take(B * n * n * sizeof(T)),
                 otl = take(B * n * sizeof(T)), otr = take(B * n * sizeof(T)), oU = take(B * n * m * sizeof(T)),
                 oV = take(B * n * n * sizeof(T)), ow = take(B * 2 * n * sizeof(T)), os = take(B * n * sizeof(T)),
                 oi = take(B * 2 * n * sizeof(int32_t));
    if (base && w) {
        char *c = static_cast<char *>(base);
        et::carve<T>(base, 2 * n, batch, &w->ge);
        w->A = reinterpret_cast<T *>(c + oA);
        w->RL = reinterpret_cast<T *>(c + oRL);
        w->RR = reinterpret_cast<T *>(c + oRR);
        w->tauL = reinterpret_cast<T *>(c + otl);
        w->tauR = reinterpret_cast<T *>(c + otr);
        w->Uw = reinterpret_cast<T *>(c + oU);
        w->Vw = reinterpret_cast<T *>(c + oV);
        w->wgk = reinterpret_cast<T *>(c + ow);
        w->sig = reinterpret_cast<T *>(c + os);
        w->inv = reinterpret_cast<int32_t *>(c + oi);
    }
    return off;
}

template <typename T> size_t workspace_bytes(int m, int n, int64_t batch) {
    if (n < 1 || batch <= 0) return 0;
    return carve<T>(nullptr, m, n, batch, nullptr);
}

/* ---- K1: Householder bidiagonalization, one block per matrix ---- */

/* dynamic shared memory: (m + n + blockDim) T */
template <typename T>
__global__ void __launch_bounds__(kThreadsBd)
    k_bidiag(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, Ws<T> ws, int m, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    T *uv = reinterpret_cast<T *>(smem), *wy = uv + m, *part = wy + (m > n ? m : n);
    __shared__ T red[32];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x;
    const int N2 = 2 * n;
    T *A = ws.A + b * (int64_t)m * n;
    const T *ab = a + b * sb;
    const mc::jacobi::Loaded<T> ld = mc::jacobi::load_check_scale(
        A, m * n, /* < 2^31 */
        [=](int idx) {
            const int i = idx / n, j = idx - i * n;
            return ab[i * sr + j * sc];
        },
        red);
    T *gd = ws.ge.d + b * N2, *ge = ws.ge.e + b * N2;
    T *tauL = ws.tauL + b * n, *tauR = ws.tauR + b * n;
    T *RL = ws.RL + b * (int64_t)n * m, *RR = ws.RR + b * (int64_t)n * n;
    if (tid == 0) {
        ws.ge.scal[2 * b] = ld.scale;
        ws.ge.flag[2 * b] = ld.bad ? 1 : 0;
        ws.ge.flag[2 * b + 1] = 0;
    }
    for (int i = tid; i < N2; i += nt) gd[i] = 0;
    __syncthreads();
    const T eps = Lim<T>::eps, thr = Lim<T>::tiny / (eps * eps);
    for (int k = 0; k < n; ++k) {
        /* left reflector on column k, rows k..m-1 */
        {
            const T alpha = A[(int64_t)k * n + k];
            T sq = 0;
            for (int i = k + 1 + tid; i < m; i += nt) {
                const T x = A[(int64_t)i * n + k];
                sq += x * x;
            }
            sq = mc::jacobi::block_sum(sq, red); /* barriers: alpha read by all before any write */
            if (!(sq > thr)) {
                if (tid == 0) {
                    ge[2 * k] = alpha;
                    tauL[k] = 0;
                }
            } else {
                const T nr = et::sq_root(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const T tk = (beta - alpha) / beta, scl = (T)1 / (alpha - beta);
                if (tid == 0) {
                    ge[2 * k] = beta;
                    tauL[k] = tk;
                }
                for (int i = k + tid; i < m; i += nt) {
                    const T ui = i == k ? (T)1 : A[(int64_t)i * n + k] * scl;
                    uv[i] = ui;
                    RL[(int64_t)k * m + i] = ui;
                }
                __syncthreads();
                /* w_j = tk sum_i u_i A[i][j], j in k+1..n-1: CL column lanes x G row groups */
                const int nc = n - k - 1;
                if (nc > 0) {
                    const int CL = nc < nt ? ((nc + 31) & ~31) : nt, G = nt / CL;
                    const int g = tid / CL, c0 = tid - g * CL;
                    if (g < G)
                        for (int c = c0; c < nc; c += CL) {
                            T acc = 0;
                            for (int i = k + g; i < m; i += G) acc += uv[i] * A[(int64_t)i * n + k + 1 + c];
                            if (G == 1) wy[c] = tk * acc; /* nc may exceed nt only here */
                            else part[g * CL + c] = acc;
                        }
                    __syncthreads();
                    if (G > 1) {
                        for (int c = tid; c < nc; c += nt) {
                            T s = 0;
                            for (int gg = 0; gg < G; ++gg) s += part[gg * CL + c];
                            wy[c] = tk * s;
                        }
                        __syncthreads();
                    }
                    for (int64_t idx = tid; idx < (int64_t)(m - k) * nc; idx += nt) {
                        const int r = (int)(idx / nc), c = (int)(idx - (int64_t)r * nc);
                        A[(int64_t)(k + r) * n + k + 1 + c] -= uv[k + r] * wy[c];
                    }
                }
                __syncthreads();
            }
        }
        /* right reflector on row k, columns k+1..n-1 */
        if (k + 1 < n) {
            const T alpha = A[(int64_t)k * n + k + 1];
            T sq = 0;
            for (int j = k + 2 + tid; j < n; j += nt) {
                const T x = A[(int64_t)k * n + j];
                sq += x * x;
            }
            sq = mc::jacobi::block_sum(sq, red);
            if (!(sq > thr)) {
                if (tid == 0) {
                    ge[2 * k + 1] = alpha;
                    tauR[k] = 0;
                }
            } else {
                const T nr = et::sq_root(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const T tk = (beta - alpha) / beta, scl = (T)1 / (alpha - beta);
                if (tid == 0) {
                    ge[2 * k + 1] = beta;
                    tauR[k] = tk;
                }
                for (int j = k + 1 + tid; j < n; j += nt) {
                    const T vj = j == k + 1 ? (T)1 : A[(int64_t)k * n + j] * scl;
                    uv[j] = vj;
                    RR[(int64_t)k * n + j] = vj;
                }
                __syncthreads();
                /* y_i = tk sum_j A[i][j] v_j, rows k+1..m-1, a warp per row */
                for (int i = k + 1 + warp; i < m; i += nw) {
                    T acc = 0;
                    for (int j = k + 1 + lane; j < n; j += 32) acc += A[(int64_t)i * n + j] * uv[j];
                    acc = mc::jacobi::warp_sum(acc);
                    if (lane == 0) wy[i] = tk * acc;
                }
                __syncthreads();
                const int nc = n - k - 1;
                for (int64_t idx = tid; idx < (int64_t)(m - k - 1) * nc; idx += nt) {
                    const int r = (int)(idx / nc), c = (int)(idx - (int64_t)r * nc);
                    A[(int64_t)(k + 1 + r) * n + k + 1 + c] -= wy[k + 1 + r] * uv[k + 1 + c];
                }
                __syncthreads();
            }
        } else if (tid == 0) {
            tauR[k] = 0;
            ge[2 * k + 1] = 0; /* e of T_GK past the end */
        }
        __syncthreads();
    }
}

/* ---- K5: split the Golub-Kahan eigenvectors into u and v, repair, orthogonalize ---- */

/* B x (x: v, length n) -> y (u, length n): y_i = d_i x_i + e_i x_{i+1}; B^T y: x_j = d_j y_j + e_{j-1} y_{j-1}.
 * gk: off-diagonals of T_GK (d_i = gk[2i], e_i = gk[2i+1]). */
template <typename T> __host__ __device__ inline T bmul(const T *gk, const T *x, int n, int i) {
    return gk[2 * i] * x[i] + (i + 1 < n ? gk[2 * i + 1] * x[i + 1] : (T)0);
}
template <typename T> __host__ __device__ inline T btmul(const T *gk, const T *y, int i) {
    return gk[2 * i] * y[i] + (i > 0 ? gk[2 * i - 1] * y[i - 1] : (T)0);
}

/* dynamic shared memory: (2n (gk) + 2n (dots) + n (sig)) T + 4n int */
template <typename T> __global__ void __launch_bounds__(kThreadsSp, 1) k_split(Ws<T> ws, T *__restrict__ so, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int N2 = 2 * n;
    T *gk = reinterpret_cast<T *>(smem), *dots = gk + N2, *sg = dots + N2;
    int *inv = reinterpret_cast<int *>(sg + n), *cst = inv + N2, *flg = cst + n;
    __shared__ T red[32];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x;
    const int bad = ws.ge.flag[2 * b];
    if (bad) {
        for (int c = tid; c < n; c += nt) so[b * n + c] = (T)NAN;
        return;
    }
    const T scale = ws.ge.scal[2 * b], tn = ws.ge.scal[2 * b + 1], eps = Lim<T>::eps;
    for (int i = tid; i < N2; i += nt) {
        gk[i] = ws.ge.e[b * N2 + i];
        inv[ws.ge.rank[b * N2 + i]] = i;
    }
    __syncthreads();
    for (int c = tid; c < n; c += nt) {
        const T l = ws.ge.lam[b * N2 + inv[N2 - 1 - c]];
        sg[c] = l > 0 ? l : (T)0;
    }
    __syncthreads();
    const T deftol = (T)kDefTol * eps * tn, ortol = (T)1e-3 * tn;
    for (int c = tid; c < n; c += nt) {
        int s = c;
        while (s > 0 && sg[s - 1] - sg[s] < ortol) --s; /* bounded by c */
        cst[c] = s;
        so[b * n + c] = sg[c] / scale;
        ws.sig[b * n + c] = sg[c];
    }
    T *Vw = ws.Vw + b * (int64_t)n * n, *Uw = ws.Uw + b * (int64_t)n * n; /* u: length n here */
    const T *Zb = ws.ge.Z + b * (int64_t)N2 * N2;
    /* split and normalize each part, a warp per column */
    for (int c = warp; c < n; c += nw) {
        const T *z = Zb + (int64_t)inv[N2 - 1 - c] * N2;
        T sv = 0, su = 0;
        for (int i = lane; i < n; i += 32) {
            const T x = z[2 * i], y = z[2 * i + 1];
            sv += x * x;
            su += y * y;
        }
        sv = mc::jacobi::warp_sum(sv);
        su = mc::jacobi::warp_sum(su);
        const T fv = sv > 0 ? (T)1 / et::sq_root(sv) : (T)0, fu = su > 0 ? (T)1 / et::sq_root(su) : (T)0;
        for (int i = lane; i < n; i += 32) {
            Vw[(int64_t)c * n + i] = z[2 * i] * fv;
            Uw[(int64_t)c * n + i] = z[2 * i + 1] * fu;
        }
        /* flag: 1 = v part weak, 2 = u part weak; 4 = sigma tiny */
        int f = 0;
        if (!(sv >= (T)(1.0 / 64))) f |= 1;
        if (!(su >= (T)(1.0 / 64))) f |= 2;
        if (sg[c] <= deftol) f |= 4;
        if (lane == 0) flg[c] = f;
    }
    __syncthreads();
    /* sequential repair / Gram-Schmidt (uniform control flow: flg, cst in shared memory) */
    for (int c = 0; c < n; ++c) {
        const int f = flg[c], s = (f || (cst[c] < c && 2 * sg[c] < ortol)) ? 0 : cst[c]; /* deficient or near-null cluster: against all previous */
        if (!f && s == c) continue; /* uniform */
        T *vc = Vw + (int64_t)c * n, *uc = Uw + (int64_t)c * n;
        if (f) {
            const T sgc = sg[c];
            if (!(f & 4) && (f & 3) != 3) { /* rebuild the weak part from the other one */
                if (f & 2) {
                    for (int i = tid; i < n; i += nt) uc[i] = bmul(gk, vc, n, i) / sgc;
                } else {
                    for (int i = tid; i < n; i += nt) vc[i] = btmul(gk, uc, i) / sgc;
                }
            } else { /* tiny sigma: weak parts from pseudo-random vectors */
                if (f & 1)
                    for (int i = tid; i < n; i += nt) vc[i] = et::hrand<T>((uint32_t)c + 104729u, (uint32_t)i);
                if (f & 2)
                    for (int i = tid; i < n; i += nt) uc[i] = et::hrand<T>((uint32_t)c + 7919u, (uint32_t)i);
            }
            __syncthreads();
        }
#pragma unroll 1
        for (int part = 0; part < 2; ++part) {
            T *X = part ? Uw : Vw, *xc = part ? uc : vc;
#pragma unroll 1
            for (int pass = 0; pass < 4; ++pass) {
                for (int p = s + warp; p < c; p += nw) {
                    const T *xp = X + (int64_t)p * n;
                    T acc = 0;
                    for (int i = lane; i < n; i += 32) acc += xp[i] * xc[i];
                    acc = mc::jacobi::warp_sum(acc);
                    if (lane == 0) dots[p] = acc;
                }
                __syncthreads();
                for (int i = tid; i < n; i += nt) {
                    T acc = 0;
                    for (int p = s; p < c; ++p) acc += dots[p] * X[(int64_t)p * n + i];
                    xc[i] -= acc;
                }
                __syncthreads();
                T ss = 0;
                for (int i = tid; i < n; i += nt) ss += xc[i] * xc[i];
                ss = mc::jacobi::block_sum(ss, red);
                if (ss > (T)1e4 * eps * eps) {
                    const T fct = (T)1 / et::sq_root(ss);
                    for (int i = tid; i < n; i += nt) xc[i] *= fct;
                } else { /* vanished: a pseudo-random restart (then GS again) */
                    for (int i = tid; i < n; i += nt) xc[i] = et::hrand<T>((uint32_t)(c * 3 + pass) + 31337u * (part + 1), (uint32_t)i);
                }
                __syncthreads();
                if (pass >= 1 && ss > (T)0.25) break; /* uniform: block_sum result */
            }
        }
        __syncthreads();
    }
}

/* ---- K4: U = Q_L [u; 0], V = Q_R v; one warp per column ---- */

/* grid (ceil(n / kWarpsBack), batch); which 0: U (length m, reflectors RL, k = n-1..0),
 * 1: V (length n, reflectors RR on k+1.., k = n-2..0). x: scratch column in the workspace
 * (U: Uw holds n columns of length n; we use a separate stride-m area, see launch). */
template <typename T>
__global__ void __launch_bounds__(32 * kWarpsBack)
    k_back(Ws<T> ws, T *__restrict__ out, T *__restrict__ xs, int m, int n, int which) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t b = blockIdx.y;
    const int c = blockIdx.x * kWarpsBack + warp;
    if (c >= n) return;
    const int L = which == 0 ? m : n;
    T *ob = out + b * (int64_t)L * n;
    if (ws.ge.flag[2 * b]) {
        for (int i = lane; i < L; i += 32) ob[(int64_t)i * n + c] = (T)NAN;
        return;
    }
    T *x = xs + (b * (int64_t)n + c) * L;
    const T *src = (which == 0 ? ws.Uw : ws.Vw) + (b * (int64_t)n + c) * n;
    for (int i = lane; i < L; i += 32) x[i] = i < n ? src[i] : (T)0;
    __syncwarp();
    const T *R = which == 0 ? ws.RL + b * (int64_t)n * m : ws.RR + b * (int64_t)n * n;
    const T *tau = (which == 0 ? ws.tauL : ws.tauR) + b * n;
    for (int k = which == 0 ? n - 1 : n - 2; k >= 0; --k) {
        const T tk = tau[k];
        if (tk == 0) continue;
        const int s = which == 0 ? k : k + 1;
        const T *r = R + (int64_t)k * L;
        T acc = 0;
        for (int i = s + lane; i < L; i += 32) acc += r[i] * x[i];
        acc = tk * mc::jacobi::warp_sum(acc);
        for (int i = s + lane; i < L; i += 32) x[i] -= acc * r[i];
        __syncwarp();
    }
    for (int i = lane; i < L; i += 32) ob[(int64_t)i * n + c] = x[i];
}

/* U scratch of stride m: in the RL-sized area after Uw? We reuse ws.A (m n per matrix, free after
 * K1... no: K1's A is not needed after K1 (reflectors are in RL/RR), so it holds the U columns;
 * V columns use ws.ge.A (2n x 2n per matrix, unused by k_bisect/k_solve/k_orth). */

/* marks (5 events, may be null): after K1, K2, K3 (+clusters), K5, K4. */
template <typename T>
cudaError_t launch_ex(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info, int64_t batch,
                      int m, int n, void *workspace, cudaStream_t stream, cudaEvent_t *marks) {
    if (n < 1 || n > kMaxN || m < n || m > kMaxM || batch < 0 || batch > 65535) return cudaErrorInvalidValue;
    if (batch == 0) return cudaSuccess;
    if (!workspace || (reinterpret_cast<uintptr_t>(workspace) & 15)) return cudaErrorInvalidValue;
    Ws<T> ws;
    carve<T>(workspace, m, n, batch, &ws);
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess) return err;
    const size_t limit = mc::jacobi::smem_limit(dev);
    auto mark = [&](int i) {
        if (marks) cudaEventRecord(marks[i], stream);
    };
    const int N2 = 2 * n;
    /* K1 */
    const size_t sm1 = ((size_t)m + (size_t)m + kThreadsBd) * sizeof(T);
    if (sm1 > limit) return cudaErrorInvalidValue;
    if (sm1 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(k_bidiag<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm1)) != cudaSuccess)
        return err;
    k_bidiag<T><<<(unsigned)batch, kThreadsBd, sm1, stream>>>(a, sb, sr, sc, ws, m, n);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(0);
    /* K2: eigh_tridiag's bisection on T_GK */
    const size_t sm2 = 3 * (size_t)N2 * sizeof(T);
    et::k_bisect<T><<<dim3((unsigned)((N2 + et::kThreadsBis - 1) / et::kThreadsBis), (unsigned)batch), et::kThreadsBis, sm2,
                      stream>>>(ws.ge, N2, 0);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(1);
    /* K3 + cluster rounds, as eigh_tridiag::launch_ex */
    int ch = et::kMaxChunk;
    while (ch > 1 && et::solve_smem<T>(N2, ch) + 1024 > limit) ch /= 2;
    const size_t sm3 = et::solve_smem<T>(N2, ch);
    if (sm3 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(et::k_solve<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3)) != cudaSuccess)
        return err;
    auto solve = [&](int mode, int iters) {
        et::k_solve<T><<<dim3((unsigned)((N2 + ch - 1) / ch), (unsigned)batch), ch, sm3, stream>>>(ws.ge, N2, 0, mode, iters);
    };
    solve(0, et::kSolveIters);
    const size_t sm4 = et::orth_smem<T>(N2);
    if (sm4 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(et::k_orth<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm4)) != cudaSuccess)
        return err;
    et::k_orth<T><<<(unsigned)batch, et::kThreadsOrth, sm4, stream>>>(ws.ge, ws.wgk, info, N2, 0);
    for (int r = 1; r <= kRounds; ++r) {
        solve(1, 1);
        et::k_orth<T><<<(unsigned)batch, et::kThreadsOrth, sm4, stream>>>(ws.ge, ws.wgk, info, N2, r == kRounds ? 2 : 1);
    }
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(2);
    /* K5 */
    const size_t sm5 = 5 * (size_t)n * sizeof(T) + 4 * (size_t)n * sizeof(int);
    if (sm5 > 48 * 1024 &&
        (err = cudaFuncSetAttribute(k_split<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm5)) != cudaSuccess)
        return err;
    k_split<T><<<(unsigned)batch, kThreadsSp, sm5, stream>>>(ws, s, n);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(3);
    /* K4: U columns (length m) in ws.A (m n per matrix), V columns (length n) in ws.ge.A (4 n^2) */
    const dim3 g4((unsigned)((n + kWarpsBack - 1) / kWarpsBack), (unsigned)batch);
    k_back<T><<<g4, 32 * kWarpsBack, 0, stream>>>(ws, u, ws.A, m, n, 0);
    k_back<T><<<g4, 32 * kWarpsBack, 0, stream>>>(ws, v, ws.ge.A, m, n, 1);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    mark(4);
    return cudaSuccess;
}

template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info, int64_t batch, int m,
                   int n, void *workspace, cudaStream_t stream) {
    return launch_ex<T>(a, sb, sr, sc, u, s, v, info, batch, m, n, workspace, stream, nullptr);
}

} // namespace svd_bidiag
} // namespace mc

#endif
