/* svd on CUDA by bidiagonalization (svd.cu routes fp32/fp64 with 129 <= n <= kMaxN here): A (m x n,
 * m >= n, see supported()) = U diag(S) V^T, U m x ucols (ucols = n, or m for full_matrices), S n
 * descending, V n x n, all row major; info (batch,): 0, or the number of singular vectors whose
 * orthogonalization broke down (eigh_tridiag's count on the Golub-Kahan eigenproblem plus K5's),
 * which svd reports as not converged. NaN/Inf anywhere in A -> that matrix's U, S, V all NaN,
 * info 0. Why not Jacobi here: ~10 sweeps of one-sided Jacobi cost ~20x the flops of one reduction
 * (H100, 100 x 256 x 256 fp32: 24 ms against the Jacobi kernel's 136 ms).
 *
 * Phases (one kernel each, caller's stream, no allocation, no host sync; the batch runs in chunks
 * that bound the workspace, see chunk_of):
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
 *  K4 k_back: U = Q_L [u; 0] for columns c < n and, with full_matrices, Q_L e_c for c >= n (the
 *     last m - n columns of the orthogonal Q_L: the orthonormal completion the reduction gives);
 *     V = Q_R v. One warp per column, the column in the workspace (L1/L2), reflectors read from
 *     RL/RR (coalesced).
 * Validated by bench/harness/svd_bidiag.cu (a host double reference and a host model of these
 * kernels; on the H100, n = 129..512 square and tall, random, rank-deficient, identity, zero,
 * repeated, graded, 1e6-conditioned and NaN inputs, every error below 30 n eps).
 * Idea credits: LAPACK dgebd2 (reduction), Golub-Kahan (T_GK), dstein (inverse iteration); our code. */
#ifndef MC_CUDA_SVD_BIDIAG_CUH
#define MC_CUDA_SVD_BIDIAG_CUH

#include "eigh_tridiag.cuh"

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
/* Bytes of workspace the batch may use at once (see chunk_of): ~13 n^2 T per square matrix, over
 * 4x its input and outputs together; 10^5 fp32 matrices of 129 x 129 would need 88 GB in one
 * piece. Square 512 x 512 fp64 still runs 157 matrices a chunk (fp32 256: 1251), at least one K1
 * block on every SM of an H100. */
constexpr size_t kWsBudget = (size_t)4 << 30;

/* K1's dynamic shared memory: the reflector and the product vector (m each), one partial sum per
 * thread. */
template <typename T> constexpr size_t bidiag_smem(int64_t m) { return (2 * (size_t)m + kThreadsBd) * sizeof(T); }

/* Whether launch takes an m x n problem (any ucols) on device. */
template <typename T> inline bool supported(int64_t m, int64_t n, int device) {
    return n >= 1 && n <= kMaxN && m >= n && m <= kMaxM && bidiag_smem<T>(m) <= mc::max_dyn_smem(device);
}

/* Workspace of a chunk of matrices: the eigh_tridiag workspace of order 2n (ge; its A and tau are
 * not used: they belong to eigh_tridiag's K1 and K4), then ours. */
template <typename T> struct Ws {
    et::Ws<T> ge;
    T *A;           /* K1: the scaled copy of A (m x n row major); K4: U's columns (ucols of length m) */
    T *RL, *RR;     /* reflectors: left k at RL[k m + i], i >= k; right k at RR[k n + j], j > k */
    T *tauL, *tauR; /* their scalars (0: identity) */
    T *Uw, *Vw;     /* K5's u and v of column c at [c n + i]; K4 transforms v in place */
    T *wgk;         /* k_orth's eigenvalue output (not used afterwards) */
};

/* Bytes of the workspace for nb matrices; with base non-null, also the arrays' addresses. */
template <typename T> inline size_t carve(void *base, int m, int n, int ucols, int64_t nb, Ws<T> *w) {
    const size_t gbytes = et::carve<T>(nullptr, 2 * n, nb, nullptr);
    size_t off = et::al256(gbytes);
    auto take = [&](size_t elems) {
        const size_t o = off;
        off += et::al256(elems * sizeof(T));
        return o;
    };
    const size_t B = (size_t)nb;
    const size_t oA = take(B * m * ucols), oRL = take(B * n * m), oRR = take(B * n * n), otl = take(B * n),
                 otr = take(B * n), oU = take(B * n * n), oV = take(B * n * n), ow = take(B * 2 * n);
    if (base && w) {
        char *c = static_cast<char *>(base);
        et::carve<T>(base, 2 * n, nb, &w->ge);
        w->A = reinterpret_cast<T *>(c + oA);
        w->RL = reinterpret_cast<T *>(c + oRL);
        w->RR = reinterpret_cast<T *>(c + oRR);
        w->tauL = reinterpret_cast<T *>(c + otl);
        w->tauR = reinterpret_cast<T *>(c + otr);
        w->Uw = reinterpret_cast<T *>(c + oU);
        w->Vw = reinterpret_cast<T *>(c + oV);
        w->wgk = reinterpret_cast<T *>(c + ow);
    }
    return off;
}

/* Matrices per chunk of the batch: as many as fit in budget bytes (at least 1), at most 65535 (the
 * grid.y limit of K2, K3 and K4). carve is subadditive in nb, so nb matrices need at most nb times
 * one's bytes. budget is kWsBudget but for the harness, which checks chunks of one matrix. */
template <typename T> inline int64_t chunk_of(int m, int n, int ucols, int64_t batch, size_t budget) {
    const size_t one = carve<T>(nullptr, m, n, ucols, 1, nullptr);
    int64_t nb = (int64_t)(budget / one);
    if (nb < 1) nb = 1;
    if (nb > 65535) nb = 65535;
    return nb < batch ? nb : batch;
}

/* Bytes of workspace launch needs (0 for batch 0). */
template <typename T> size_t workspace_bytes(int m, int n, int ucols, int64_t batch, size_t budget = kWsBudget) {
    if (n < 1 || batch <= 0) return 0;
    return carve<T>(nullptr, m, n, ucols, chunk_of<T>(m, n, ucols, batch, budget), nullptr);
}

/* ---- K1: Householder bidiagonalization, one block per matrix ---- */

/* a: (batch, m, n) at (sb, sr, sc); dynamic shared memory bidiag_smem<T>(m). */
template <typename T>
__global__ void __launch_bounds__(kThreadsBd)
    k_bidiag(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, Ws<T> ws, int m, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    T *uv = reinterpret_cast<T *>(smem), *wy = uv + m, *part = wy + m;
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

/* Dynamic shared memory of K5: gk and dots (2n each), sigma (n); inv (2n), cst, flg (n each) */
template <typename T> inline size_t k5_smem(int n) { return 5 * (size_t)n * sizeof(T) + 4 * (size_t)n * sizeof(int); }

/* so: (chunk, n) singular values; info: (chunk,), k_orth's count, to which K5 adds the parts whose
 * Gram-Schmidt still vanished in the last pass. */
template <typename T>
__global__ void __launch_bounds__(kThreadsSp, 1)
    k_split(Ws<T> ws, T *__restrict__ so, int32_t *__restrict__ info, int n) {
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
    }
    T *Vw = ws.Vw + b * (int64_t)n * n, *Uw = ws.Uw + b * (int64_t)n * n;
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
    /* sequential repair / Gram-Schmidt (uniform control flow: flg, cst in shared memory, ss a
     * block sum) */
    int nfail = 0;
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
                } else { /* vanished: a pseudo-random restart (then GS again; after the last pass the
                          * column is not orthogonalized: reported in info) */
                    for (int i = tid; i < n; i += nt) xc[i] = et::hrand<T>((uint32_t)(c * 3 + pass) + 31337u * (part + 1), (uint32_t)i);
                    nfail += pass == 3;
                }
                __syncthreads();
                if (pass >= 1 && ss > (T)0.25) break; /* uniform: block_sum result */
            }
        }
        __syncthreads();
    }
    if (tid == 0 && nfail) info[b] += nfail;
}

/* ---- K4: U = Q_L [u; 0] (and Q_L e_c for c >= n), V = Q_R v; one warp per column ---- */

/* grid (ceil(cols / kWarpsBack), chunk). which 0: U (m x ucols, reflectors RL, k = n-1..0), the
 * column built in ws.A; 1: V (n x n, reflectors RR on rows k+1.., k = n-2..0), in place in Vw. */
template <typename T>
__global__ void __launch_bounds__(32 * kWarpsBack)
    k_back(Ws<T> ws, T *__restrict__ out, int m, int n, int ucols, int which) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int64_t b = blockIdx.y;
    const int c = blockIdx.x * kWarpsBack + warp;
    const int L = which == 0 ? m : n, cols = which == 0 ? ucols : n;
    if (c >= cols) return;
    T *ob = out + b * (int64_t)L * cols;
    if (ws.ge.flag[2 * b]) {
        for (int i = lane; i < L; i += 32) ob[(int64_t)i * cols + c] = (T)NAN;
        return;
    }
    T *x;
    if (which == 0) {
        x = ws.A + (b * (int64_t)ucols + c) * m;
        const T *src = ws.Uw + (b * (int64_t)n + c) * n;
        for (int i = lane; i < m; i += 32) x[i] = c < n ? (i < n ? src[i] : (T)0) : (T)(i == c);
        __syncwarp();
    } else {
        x = ws.Vw + (b * (int64_t)n + c) * n;
    }
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
    for (int i = lane; i < L; i += 32) ob[(int64_t)i * cols + c] = x[i];
}

/* ---- host side ---- */

/* Same as launch; marks (5 events, may be null) are recorded after K1, K2, K3 (+ cluster rounds),
 * K5 and K4 of every chunk (the harness's per-phase timing; meaningful for a batch of one chunk);
 * budget: see chunk_of (the workspace must have workspace_bytes<T>(m, n, ucols, batch, budget)). */
template <typename T>
cudaError_t launch_ex(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info, int64_t batch,
                      int m, int n, int ucols, void *workspace, cudaStream_t stream, cudaEvent_t *marks,
                      size_t budget = kWsBudget) {
    if (n < 1 || n > kMaxN || m < n || m > kMaxM || (ucols != n && ucols != m) || batch < 0)
        return cudaErrorInvalidValue;
    if (batch == 0) return cudaSuccess;
    if (!workspace || (reinterpret_cast<uintptr_t>(workspace) & 15)) return cudaErrorInvalidValue;
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess) return err;
    if (!supported<T>(m, n, dev)) return cudaErrorInvalidValue;
    const size_t limit = mc::max_dyn_smem(dev);
    const int64_t chunk = chunk_of<T>(m, n, ucols, batch, budget);
    Ws<T> ws;
    carve<T>(workspace, m, n, ucols, chunk, &ws);
    auto mark = [&](int i) {
        if (marks) cudaEventRecord(marks[i], stream);
    };
    const int N2 = 2 * n;
    const size_t sm1 = bidiag_smem<T>(m), sm5 = k5_smem<T>(n);
    using mc::allow_smem;
    if ((err = allow_smem(k_bidiag<T>, sm1)) != cudaSuccess || (err = allow_smem(k_split<T>, sm5)) != cudaSuccess)
        return err;
    for (int64_t b0 = 0; b0 < batch; b0 += chunk) {
        const unsigned nb = (unsigned)(batch - b0 < chunk ? batch - b0 : chunk);
        int32_t *info_c = info + b0;
        k_bidiag<T><<<nb, kThreadsBd, sm1, stream>>>(a + b0 * sb, sb, sr, sc, ws, m, n);
        if ((err = cudaGetLastError()) != cudaSuccess) return err;
        mark(0);
        /* K2: eigh_tridiag's bisection on T_GK */
        if ((err = et::launch_bisect<T>(ws.ge, N2, nb, stream, false)) != cudaSuccess) return err;
        mark(1);
        /* K3 + the cluster and repair rounds on T_GK */
        if ((err = et::launch_vectors<T>(ws.ge, ws.wgk, info_c, nb, N2, limit, stream, nullptr)) != cudaSuccess)
            return err;
        mark(2);
        k_split<T><<<nb, kThreadsSp, sm5, stream>>>(ws, s + b0 * n, info_c, n);
        if ((err = cudaGetLastError()) != cudaSuccess) return err;
        mark(3);
        const dim3 gu((unsigned)((ucols + kWarpsBack - 1) / kWarpsBack), nb);
        const dim3 gv((unsigned)((n + kWarpsBack - 1) / kWarpsBack), nb);
        k_back<T><<<gu, 32 * kWarpsBack, 0, stream>>>(ws, u + b0 * m * ucols, m, n, ucols, 0);
        k_back<T><<<gv, 32 * kWarpsBack, 0, stream>>>(ws, v + b0 * n * n, m, n, ucols, 1);
        if ((err = cudaGetLastError()) != cudaSuccess) return err;
        mark(4);
    }
    return cudaSuccess;
}

/* a: (batch, m, n) at element strides (sb, sr, sc); u: (batch, m, ucols), ucols = n or m; s: (batch,
 * n); v: (batch, n, n), all contiguous; info: (batch,); workspace: workspace_bytes<T>(m, n, ucols,
 * batch) bytes, 16-byte aligned (not needed for batch 0). An unsupported shape (see supported())
 * gives cudaErrorInvalidValue. Runs on stream; no allocation, no sync. */
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info, int64_t batch, int m,
                   int n, int ucols, void *workspace, cudaStream_t stream) {
    return launch_ex<T>(a, sb, sr, sc, u, s, v, info, batch, m, n, ucols, workspace, stream, nullptr);
}

} // namespace svd_bidiag
} // namespace mc

#endif
