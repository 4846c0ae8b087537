/* eigh on CUDA for n > 32 (eigh.cu routes 33..1024 here; any 1 <= n <= kMaxN = 1024 works):
 * Householder tridiagonalization, bisection, inverse iteration, back-transformation, in
 * five kernels on the caller's stream (no allocation, no host sync; the caller passes a workspace
 * of workspace_bytes<T>(n, batch) bytes, 16-byte aligned).
 *
 * Same contract as the other eigh kernels (eigh.cu): a (batch, n, n) at element strides
 * (sb, sr, sc), only the lower triangle read; w (batch, n) ascending (ties by index); q (batch, n, n)
 * row major, column j the eigenvector of w[j]; info (batch,) = 0 on success, else the number of
 * eigenvectors whose cluster orthogonalization broke down; NaN/Inf anywhere in the lower triangle
 * -> all of that matrix's w and q NaN (info 0); the exact power-of-two scaling of jacobi.cuh
 * (load_check_scale), so subnormal and huge matrices work.
 *
 * Phases (one kernel each; B = batch):
 *  K1 k_tridiag_2d for n <= 128 (fp32 and fp64) and fp32 n <= 256, else k_tridiag; one block per
 *     matrix. k_tridiag_2d: the matrix held by the threads, tiled in 2-D (registers; for fp32
 *     n > 128 the rows below 160 in shared memory), each loaded vector entry serving several
 *     elements (H100, K1 alone against k_tridiag at its own block size: fp32 1000 x 64 0.45 ->
 *     0.29 ms, 100 x 128 0.40 -> 0.28, 100 x 256 1.60 -> 1.18). k_tridiag (128..1024 threads,
 *     tri_config): the scaled symmetric
 *     matrix (both triangles, kept exactly symmetric) in the workspace (global memory, L2 resident
 *     for moderate batches; a shared-memory tile once the trailing block fits), unblocked
 *     Householder reduction T = H_{n-3}..H_0 A H_0..H_{n-3} as LAPACK's sytd2: per column k,
 *     the reflector from row k (dlarfg), p = tau A22 v (column-oriented symv, coalesced; the
 *     threads split into row lanes x column groups), w = p - tau/2 (p.v) v, A22 -= v w^T + w v^T,
 *     that update deferred to and fused with the next column's symv. The reflector v_k
 *     (v_k[k+1] = 1) goes to row k of the workspace matrix, tau_k, d, e to the workspace. Cost:
 *     ~n^3/3 element read-modify-writes per matrix, 5 block barriers per column.
 *  K2 k_bisect, grid (n L/128, B), L = 1, 4 or 8 lanes per eigenvalue: T splits where |e_i| <=
 *     eps ||T||_inf (an absolute test: the perturbation is within the backward error of K1); the
 *     group for index j takes the unreduced block [lo, hi) that holds j and finds the (j - lo)-th
 *     eigenvalue of that block by bisection on Sturm counts (dstebz/dlaebz: pivmin guard,
 *     Gershgorin start interval, for eigh narrowed first by a 128-point multisection pre-pass
 *     where T does not split) to max(eps ||T||, eps |lambda|); a 1x1 block gives d_j exactly.
 *     With L > 1 the lanes evaluate the next log2(L) levels of the bisection tree at once
 *     (bisect_lanes: bit-identical to one lane's bisection). Cost: ~25 (float) / ~54 (double)
 *     Sturm counts of the block's length per eigenvalue in sequence, divided by log2(L). (Tried on
 *     H100: three counts per pass in ONE thread for two halvings was slower, 100 x 256 0.43 ->
 *     0.51 ms, three divisions per step outweigh the latency they hide; a quadrisection that
 *     skipped the test between halvings changed the eigenvalues within tolerance and broke a host
 *     stress case with a 126-fold repeated eigenvalue.)
 *  K3 k_solve, grid (n/CH, B), CH <= 32 threads, one thread per eigenvector: inverse iteration
 *     (dstein's scheme, our code): LU of T_block - lambda I with partial pivoting fused with the
 *     forward elimination of the right-hand side, tiny pivots replaced by eps ||T|| (dlagts),
 *     back substitution with exact power-of-two rescaling against overflow, normalization; two
 *     solves from a pseudo-random start. The factors live in shared memory (CH x n per array,
 *     pitch CH + 1: no bank conflicts); the vectors are written to Z (workspace, vector-major:
 *     Z[j*n + i], zero outside the block), staged so that the stores are coalesced.
 *  K3b k_orth, one block of 512 threads per matrix: first call: ranks of the eigenvalues (count
 *     of smaller ones, ties by index), w, and the clusters: maximal runs of eigenvalues of one
 *     block with consecutive gaps < 1e-3 ||T|| (dstein's ORTOL); then, for every cluster at once,
 *     Gram-Schmidt of member m against members 0..m-1 (classical GS twice, a third and fourth pass
 *     when the norm dropped below 1/2, a pseudo-random restart when it vanished), m = 1, 2, ...
 *     The cluster members then get one more inverse-iteration solve (K3 with mode 1) and GS again,
 *     twice: simultaneous inverse iteration with per-member shifts, so that members of a
 *     (nearly) repeated eigenvalue come out orthonormal and members of a tight cluster converge to
 *     their own eigenvectors; members of a numerically repeated group use a slightly offset shift
 *     (kDegShift below). A vector restarted in the last round gets a repair round (solve and GS
 *     again, only in the matrices that had one). Returns at once for matrices without clusters
 *     (the common case for random matrices; a pair with gap below 1e-3 ||T|| costs two short
 *     steps).
 *  K4 k_back, grid (n L / (128 C), B), 128 threads, each holding R rows of C columns of Z in
 *     registers (BackShape: R C = 64 values for fp32, 32 for fp64; 32 for fp32 n <= 128), L
 *     lanes per column group: Q = H_0 (H_1 (... (H_{n-3} Z))), one reflector at a time (C dots
 *     over the thread's rows, L-lane shuffle sums, the update), the reflectors staged in shared
 *     memory 2-16 at a time by cp.async (double-buffered, zero-filled above the reflector); column
 *     j is stored to q's column rank[j] (NaN for a bad matrix). Cost: ~n^3 multiply-adds per
 *     matrix, one shared-memory load per C of them.
 * Idea credits: LAPACK dsytd2 (reduction), dstebz/dlaebz (bisection, pivmin), dstein/dlagtf/
 * dlagts (inverse iteration with clusters), dormtr (back-transformation); the code is our own. */
#ifndef MC_CUDA_EIGH_TRIDIAG_CUH
#define MC_CUDA_EIGH_TRIDIAG_CUH

#include <cfloat>
#include <cstdint>

#include "../core/jacobi.h"
#include "jacobi.cuh"

namespace mc {
namespace eigh_tridiag {

constexpr int kMaxN = 1024;
constexpr int kThreadsTri = 1024; /* K1 */
constexpr int kThreadsBis = 128;  /* K2 */
constexpr int kThreadsOrth = 512; /* K3b */
constexpr int kThreadsBack = 128; /* K4 */
constexpr int kSolveIters = 2;    /* K3 solves from the random start */
constexpr int kClusterRounds = 2; /* (solve, orthogonalize) rounds for cluster members after the first GS */
constexpr int kMaxChunk = 32;     /* K3 threads per block */
/* In the cluster rounds, a member whose computed eigenvalue is within kDegGap eps ||T|| of a
 * neighbour of its cluster (numerically repeated: its own eigenvector is not determined) is solved
 * with the shift lambda + kDegShift eps ||T||: then the solve amplifies the whole (nearly)
 * repeated group about equally instead of the one eigenvector that happens to lie closest to the
 * shift, so the Gram-Schmidt after it does not cancel (cancellation there multiplies the rounding
 * errors outside the cluster; the host model measured ||Q^T Q - I|| up to 155 n eps on
 * Q diag(1,1,1,2,..,2,-.5,..) Q^T without this, 0.5-0.7 n eps with it). */
constexpr int kDegGap = 4, kDegShift = 100;

template <typename T> struct Lim;
template <> struct Lim<float> {
    static constexpr float eps = FLT_EPSILON, tiny = FLT_MIN, huge = FLT_MAX, big = 0x1p64f, small = 0x1p-64f;
    static constexpr int max_exp = FLT_MAX_EXP, bis_cap = 80;
};
template <> struct Lim<double> {
    static constexpr double eps = DBL_EPSILON, tiny = DBL_MIN, huge = DBL_MAX, big = 0x1p400, small = 0x1p-400;
    static constexpr int max_exp = DBL_MAX_EXP, bis_cap = 160;
};

template <typename T> __host__ __device__ __forceinline__ T absv(T x) { return x < 0 ? -x : x; }
template <typename T> __host__ __device__ __forceinline__ T maxv(T a, T b) { return a < b ? b : a; }
__host__ __device__ __forceinline__ float sq_root(float x) { return sqrtf(x); }
__host__ __device__ __forceinline__ double sq_root(double x) { return sqrt(x); }
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

/* Deterministic pseudo-random number in [-1, 1) from two integers (start vectors). */
template <typename T> __host__ __device__ inline T hrand(uint32_t a, uint32_t b) {
    uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    h *= 0x297A2D39u;
    h ^= h >> 15;
    return (T)(h >> 8) * (T)(1.0 / 8388608.0) - (T)1;
}

/* ---- per-thread pieces (host and device: the harness runs a host model of the algorithm) ---- */

/* Number of eigenvalues <= x of the unreduced block [lo, hi) of T (d diagonal, e2 squared
 * off-diagonals, e2[i] between i and i + 1); a pivot below pivmin counts as negative (dlaebz). */
template <typename T>
__host__ __device__ inline int sturm_count(const T *d, const T *e2, int lo, int hi, T x, T pivmin) {
    T q = d[lo] - x;
    if (absv(q) < pivmin) q = -pivmin;
    int c = q <= 0;
    for (int i = lo + 1; i < hi; ++i) {
        q = d[i] - e2[i - 1] / q - x;
        if (absv(q) < pivmin) q = -pivmin;
        c += q <= 0;
    }
    return c;
}

/* The r-th (0-based, ascending) eigenvalue of block [lo, hi) by bisection of [gl, gu] (which holds
 * every eigenvalue) to max(abstol, eps |lambda|); at most Lim<T>::bis_cap halvings. */
template <typename T>
__host__ __device__ inline T bisect(const T *d, const T *e2, int lo, int hi, int r, T gl, T gu, T abstol, T pivmin) {
    T a = gl, b = gu;
    for (int it = 0; it < Lim<T>::bis_cap; ++it) {
        const T tol = maxv(abstol, Lim<T>::eps * maxv(absv(a), absv(b)));
        if (!(b - a > tol)) break;
        const T mid = (T)0.5 * (a + b);
        if (!(mid > a && mid < b)) break;
        if (sturm_count(d, e2, lo, hi, mid, pivmin) >= r + 1) b = mid;
        else a = mid;
    }
    return (T)0.5 * (a + b);
}

/* x (s entries at stride P) <- x / ||x||_2, with an exact power-of-two prescale (no overflow or
 * underflow in the sum of squares). false (x unchanged) when x is zero or not finite. */
template <typename T> __host__ __device__ inline bool normalize(T *x, int s, int P) {
    T mx = 0;
    for (int k = 0; k < s; ++k) {
        const T y = absv(x[k * P]);
        if (!(y <= mx)) mx = y; /* NaN propagates */
    }
    if (!(mx > 0) || !(mx <= Lim<T>::huge)) return false;
    const T sc = (T)mc_pow2_scale((double)mx, Lim<T>::max_exp);
    T ss = 0;
    for (int k = 0; k < s; ++k) {
        const T y = x[k * P] * sc;
        ss += y * y;
    }
    const T f = sc / sq_root(ss);
    for (int k = 0; k < s; ++k) x[k * P] *= f;
    return true;
}

/* 1 / x for the pivots of tri_solve, |x| in [eps ||T||, n ||T||] with ||T|| ~ 1 (the exact
 * power-of-two scaling): fp32 on the GPU uses the hardware reciprocal (__fdividef, 2 ulp) instead
 * of the correctly rounded division; the solve's rounding is far inside inverse iteration's
 * tolerance (H100 fp32 100 x 256: K3 0.453 -> 0.406 ms, cluster rounds 0.305 -> 0.280; the eigh
 * and svd_bidiag harnesses pass with it). K2's Sturm counts keep IEEE division (their
 * monotonicity needs it). */
template <typename T> __host__ __device__ __forceinline__ T solve_rcp(T x) {
#ifdef __CUDA_ARCH__
    if constexpr (sizeof(T) == 4) return __fdividef(1.0f, x);
#endif
    return (T)1 / x;
}

/* One inverse-iteration solve (T_block - lam I) y = x on the unreduced block [lo, lo + s) of T,
 * s >= 2 (d diagonal, e off-diagonal: e[i] between i and i + 1), Gaussian elimination with
 * partial pivoting fused with the forward elimination of x (dlagtf + dlagts, our code): row k of
 * U is (u1, u2, u3) at columns k, k+1, k+2 with u3 = e[lo+k+1] where rows were swapped (pv = 1),
 * else 0; pivots below pert in magnitude are replaced by +-pert. x: s entries at stride P,
 * overwritten by y; u1 (holds 1/u1), u2, pv: scratch at stride P. The back substitution rescales
 * everything by 2^-64 (float) / 2^-400 (double) whenever an entry passes 2^64 / 2^400, so y is a
 * positive multiple of the solution and never overflows (|multipliers| <= 1, so the eliminated
 * right-hand side stays below sqrt(s) ||x||_inf). */
template <typename T>
__host__ __device__ inline void tri_solve(const T *__restrict__ d, const T *__restrict__ e, int lo, int s, T lam,
                                          T pert, T *__restrict__ x, T *__restrict__ u1, T *__restrict__ u2,
                                          unsigned char *__restrict__ pv, int P) {
    /* One thread per vector: K3 is a latency chain. Branch-free (the lanes of a warp pivot
     * differently), one reciprocal per step: the multiplier is taken times the reciprocal pivot
     * that U keeps anyway. (Loading x's next entry ahead of the store, software pipelined, measured
     * no gain on H100: the chain is the arithmetic.) */
    T p = d[lo] - lam, q = e[lo], bb = x[0];
    for (int k = 0; k + 1 < s; ++k) {
        const T ek = e[lo + k], an = d[lo + k + 1] - lam;
        const T en = k + 2 < s ? e[lo + k + 1] : (T)0;
        const T xc = x[(k + 1) * P];
        const bool sw = !(absv(p) >= absv(ek)); /* interchange: row k of U is (ek, an, en), else (p, q, 0) */
        T pp = p;
        if (absv(pp) < pert) pp = pp < 0 ? -pert : pert;
        const T rpiv = solve_rcp(sw ? ek : pp);
        const T mult = (sw ? p : ek) * rpiv;
        u1[k * P] = rpiv;
        u2[k * P] = sw ? an : q;
        pv[k * P] = sw;
        x[k * P] = sw ? xc : bb;
        const T pn = sw ? q - mult * an : an - mult * q;
        q = sw ? -mult * en : en;
        bb = sw ? bb - mult * xc : xc - mult * bb;
        p = pn;
    }
    if (absv(p) < pert) p = p < 0 ? -pert : pert;
    T x1 = bb / p, x2 = 0; /* x_{k+1}, x_{k+2} */
    if (!(absv(x1) <= Lim<T>::big)) {
        for (int i = 0; i + 1 < s; ++i) x[i * P] *= Lim<T>::small;
        x1 *= Lim<T>::small;
    }
    x[(s - 1) * P] = x1;
    for (int k = s - 2; k >= 0; --k) {
        const T u3 = (pv[k * P] && k + 2 < s) ? e[lo + k + 1] : (T)0;
        T xk = (x[k * P] - u2[k * P] * x1 - u3 * x2) * u1[k * P];
        if (!(absv(xk) <= Lim<T>::big)) { /* rare: rescale the solution so far and the rest of the rhs */
            for (int i = 0; i < s; ++i) x[i * P] *= Lim<T>::small;
            x1 *= Lim<T>::small;
            x2 *= Lim<T>::small;
            xk *= Lim<T>::small;
        }
        x[k * P] = xk;
        x2 = x1;
        x1 = xk;
    }
}

/* ---- workspace ---- */

/* Per-batch arrays in the caller's workspace. A: working matrix, then the reflectors (row k: v_k
 * at columns k+1..n-1); Z: eigenvectors of T, vector-major (Z[j*n + i]); d, e, tau: T and the
 * reflectors' scalars; lam: eigenvalue of slot j (block order); scal: (scale, ||T||_inf); flag:
 * (NaN/Inf seen, unused); blo, bhi: the unreduced block of slot j; rank: column of q for slot j;
 * cs, ce: the cluster [cs, ce) of slot j. */
template <typename T> struct Ws {
    T *A, *Z, *d, *e, *tau, *lam, *scal;
    int32_t *flag, *blo, *bhi, *rank, *cs, *ce;
};

__host__ __device__ inline size_t al256(size_t x) { return (x + 255) & ~(size_t)255; }

/* Bytes of the workspace; with base non-null, also the arrays' addresses. */
template <typename T> inline size_t carve(void *base, int n, int64_t batch, Ws<T> *w) {
    const size_t nn = (size_t)n * n * batch, nv = (size_t)n * batch;
    size_t off = 0;
    auto take = [&](size_t bytes) {
        const size_t o = off;
        off += al256(bytes);
        return o;
    };
    const size_t oA = take(nn * sizeof(T)), oZ = take(nn * sizeof(T)), od = take(nv * sizeof(T)),
                 oe = take(nv * sizeof(T)), otau = take(nv * sizeof(T)), olam = take(nv * sizeof(T)),
                 oscal = take(2 * batch * sizeof(T)), oflag = take(2 * batch * sizeof(int32_t)),
                 oblo = take(nv * sizeof(int32_t)), obhi = take(nv * sizeof(int32_t)),
                 ork = take(nv * sizeof(int32_t)), ocs = take(nv * sizeof(int32_t)), oce = take(nv * sizeof(int32_t));
    if (base && w) {
        char *c = static_cast<char *>(base);
        w->A = reinterpret_cast<T *>(c + oA);
        w->Z = reinterpret_cast<T *>(c + oZ);
        w->d = reinterpret_cast<T *>(c + od);
        w->e = reinterpret_cast<T *>(c + oe);
        w->tau = reinterpret_cast<T *>(c + otau);
        w->lam = reinterpret_cast<T *>(c + olam);
        w->scal = reinterpret_cast<T *>(c + oscal);
        w->flag = reinterpret_cast<int32_t *>(c + oflag);
        w->blo = reinterpret_cast<int32_t *>(c + oblo);
        w->bhi = reinterpret_cast<int32_t *>(c + obhi);
        w->rank = reinterpret_cast<int32_t *>(c + ork);
        w->cs = reinterpret_cast<int32_t *>(c + ocs);
        w->ce = reinterpret_cast<int32_t *>(c + oce);
    }
    return off;
}

/* ---- K1: Householder tridiagonalization, one block per matrix ---- */

/* Loads in flight per thread in K1's fused pass (a group's loads are issued before its stores). */
constexpr int kTriUnroll = 8;

/* Sum over the block (blockDim a multiple of 32), every thread gets the same value: warp sums,
 * one barrier, then each warp sums the warp partials by shuffles (the same tree in every warp).
 * red (32 T) must not be written again before a barrier that follows every thread's read. */
template <typename T> __device__ __forceinline__ T tri_block_sum(T v, T *red) {
    v = mc::jacobi::warp_sum(v);
    const int lane = threadIdx.x & 31;
    if (lane == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    return mc::jacobi::warp_sum(lane < (int)(blockDim.x >> 5) ? red[lane] : (T)0);
}

#ifdef MC_TRI_PROFILE
/* Cycles of block 0's thread 0 in K1's phases (harness only: bench/harness/eigh_tridiag.cu). */
__device__ unsigned long long tri_prof[4];
#define TRI_PROF(i)                                                                                \
    do {                                                                                           \
        if (blockIdx.x == 0 && threadIdx.x == 0) {                                                 \
            const long long t_ = clock64();                                                        \
            tri_prof[i] += t_ - prof_t;                                                            \
            prof_t = t_;                                                                           \
        }                                                                                          \
    } while (0)
#else
#define TRI_PROF(i) (void)0
#endif

/* Rows j = g, g + G, .. < m of one column of the trailing block (col: element (k1, c), pitch ld).
 * UPD: x -= v_r wqc + w_r vqc (step k-1's rank-2 update, vq/wq indexed by absolute row
 * r = k1 + j), stored; SYM: returns sum x vc[r] (step k's symv, in increasing j). */
template <typename T, bool UPD, bool SYM>
__device__ __forceinline__ T fused_col(T *col, int ld, int g, int G, int m, int k1, const T *vq, const T *wq,
                                       const T *vc, T vqc, T wqc) {
    constexpr int U = kTriUnroll;
    T acc = 0;
    for (int j0 = g; j0 < m; j0 += U * G) {
        T x[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int j = j0 + u * G;
            x[u] = j < m ? col[j * ld] : (T)0; /* j ld < n^2 <= 2^20 */
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int j = j0 + u * G;
            if (j < m) {
                const int r = k1 + j;
                if (UPD) {
                    /* products rounded separately and added in either order give the same sum:
                     * the matrix stays exactly symmetric */
                    x[u] -= (mul_rn(vq[r], wqc) + mul_rn(wq[r], vqc));
                    col[j * ld] = x[u];
                }
                if (SYM) acc += x[u] * vc[r];
            }
        }
    }
    return acc;
}

/* K1's prologue (both K1 kernels): A, block b's workspace matrix, = the scaled symmetric matrix,
 * both triangles (load_check_scale: exact power-of-two scale, NaN/Inf -> zero and the flag); the
 * scale and flag to the workspace. Every thread returns A; the caller's barrier makes it visible. */
template <typename T>
__device__ __forceinline__ T *tri_load(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, const Ws<T> &ws,
                                       int n, T *red) {
    const int64_t b = blockIdx.x;
    T *A = ws.A + b * (int64_t)n * n;
    const T *ab = a + b * sb;
    const mc::jacobi::Loaded<T> ld0 = mc::jacobi::load_check_scale(
        A, n * n, /* < 2^31 */
        [=](int idx) {
            const int i = idx / n, j = idx - i * n;
            return j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
        },
        red);
    if (threadIdx.x == 0) {
        ws.scal[2 * b] = ld0.scale;
        ws.flag[2 * b] = ld0.bad ? 1 : 0;
        ws.flag[2 * b + 1] = 0;
    }
    return A;
}

/* A column tail with sum of squares below this is left in place (H = I): its norm is below
 * sqrt(tiny) / eps (1e-12 float), far under eps ||A|| (the scaled ||A||_max >= 1/2), and the sum of
 * squares is accurate above it (so tau and v stay consistent: H orthogonal). */
template <typename T> __device__ __forceinline__ T tri_skip_below() {
    return Lim<T>::tiny / (Lim<T>::eps * Lim<T>::eps);
}

/* Column k's reflector (dlarfg) from row k with step k-1's update applied: row[c] = element (k, c),
 * c >= k, dk = row[k], alpha = row[k + 1] (block-uniform, passed so that no thread waits on a
 * global load for them); sq = sum of squares of columns k + 2..; act = sq > tri_skip_below.
 * d[k], e[k], tau[k]; if act, v (v[k + 1] = 1) to vc and to grow (A's row k, for K4). Returns tau
 * (0 when !act). */
template <typename T>
__device__ __forceinline__ T tri_reflector(int k, int n, T dk, T alpha, T sq, bool act, const T *row, T *vc, T *grow,
                                           T *d, T *e, T *tau) {
    const int tid = threadIdx.x, nt = blockDim.x, k1 = k + 1, m = n - k1;
    if (!act) {
        if (tid == 0) {
            d[k] = dk;
            e[k] = alpha;
            tau[k] = 0;
        }
        return 0;
    }
    const T nr = sq_root(alpha * alpha + sq);
    const T beta = alpha >= 0 ? -nr : nr;
    const T tk = (beta - alpha) / beta;
    const T scl = (T)1 / (alpha - beta);
    if (tid == 0) {
        d[k] = dk;
        e[k] = beta;
        tau[k] = tk;
    }
    for (int i = tid; i < m; i += nt) {
        const T vi = i == 0 ? (T)1 : row[k1 + i] * scl;
        vc[k1 + i] = vi;
        grow[k1 + i] = vi;
    }
    return tk;
}

/* Step 3 of K1 column k (k1 = k + 1, m = n - k1): p_i = tk sum_g part[g pitch + off + i] (the G
 * partial sums of A22 v), w = p - tk/2 (p.v) v into wc[k1..n-1]; then (vc, wc) become the pending
 * update (vq, wq) and the old pending buffers are free for step k + 1. Contains one barrier (the
 * block sum); red_pv is next written after the caller's barrier that makes w visible. */
template <typename T>
__device__ __forceinline__ void tri_next_update(int k1, int m, T tk, const T *part, int pitch, int off, int G, T *&vc,
                                                T *&wc, T *&vq, T *&wq, T *red_pv) {
    const int tid = threadIdx.x, nt = blockDim.x;
    T pv = 0;
    for (int i = tid; i < m; i += nt) {
        T s = 0;
#pragma unroll 4
        for (int g = 0; g < G; ++g) s += part[g * pitch + off + i];
        const T pi = tk * s;
        wc[k1 + i] = pi;
        pv += pi * vc[k1 + i];
    }
    pv = tri_block_sum(pv, red_pv);
    const T K = (T)0.5 * tk * pv;
    for (int i = tid; i < m; i += nt) wc[k1 + i] -= K * vc[k1 + i];
    T *t = vc;
    vc = vq;
    vq = t;
    t = wc;
    wc = wq;
    wq = t;
}

/* d, e, tau's last entries from the trailing 2 x 2 (or 1 x 1) at(r, c), r, c >= n - 2, after
 * step n-3's update (thread 0). */
template <typename T, typename At> __device__ __forceinline__ void tri_finish(int n, At at, T *d, T *e, T *tau) {
    if (threadIdx.x != 0) return;
    if (n == 1) {
        d[0] = at(0, 0);
    } else {
        d[n - 2] = at(n - 2, n - 2);
        d[n - 1] = at(n - 1, n - 1);
        e[n - 2] = at(n - 1, n - 2);
        tau[n - 2] = 0;
    }
    e[n - 1] = 0;
    tau[n - 1] = 0;
}

/* a: (batch, n, n) at (sb, sr, sc), lower triangle; dynamic shared memory (4 n + blockDim + msw^2) T.
 * The rank-2 update of step k-1 is deferred and fused with the symv of step k, so each column
 * costs one read and one write of the trailing block instead of two reads and a write (measured
 * on H100 against the unfused sytd2 loop: fp32 100 x 256 2.50 -> 1.74 ms, 10 x 512 22.6 -> 8.6 ms,
 * fp64 100 x 256 6.25 -> 3.54 ms; a variant that also moved the trailing block to shared memory
 * once it fit gained under 3% and was dropped). Per column k:
 *   1. row k (columns k..n-1) gets step k-1's update; v_k comes from it (dlarfg);
 *   2. one pass over the trailing block: apply step k-1's update, store, and accumulate
 *      p = tau A22 v_k column by column (coalesced; RL row lanes x G groups over j);
 *   3. w_k = p - tau/2 (p.v) v; (v_k, w_k) become the pending update.
 * Column k below the diagonal is never updated (never read again). Vectors are indexed by absolute
 * row and double-buffered (step k and step k-1). Once the trailing block fits in msw x msw (host
 * computed from the shared memory left; 0: never), rows/columns k..n-1 move to a dense tile in
 * shared memory and the rest of the reduction runs there (reflectors still go to the workspace for
 * K4); fp64 n up to ~160 runs there from the start. (fp32 n <= 256 and fp64 n <= 128 run
 * k_tridiag_2d instead.) */
template <typename T>
__global__ void __launch_bounds__(kThreadsTri)
    k_tridiag(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, Ws<T> ws, int n, int msw) {
    mc::pdl_wait(); /* every kernel here: launched dependent on the one before (launch_dependent) */
    /* K1 does not call pdl_trigger: K2 is then scheduled as K1's blocks exit. Triggered at K1's
     * start, K2's blocks were placed while K1 ran, most of them on the SMs K1 left free, and ran
     * there crowded once K1 was done (H100, bench/profile_eigh.py, fp32 100 x 128: K2 236 us
     * after K1's end against 119 when spread). */
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, nt = blockDim.x;
    T *buf = reinterpret_cast<T *>(smem);
    T *vc = buf, *wc = buf + n, *vq = buf + 2 * n, *wq = buf + 3 * n, *part = buf + 4 * n, *tile = part + nt;
    __shared__ T red[32];
    __shared__ T red_sq[2][32], red_pv[32]; /* tri_block_sum's: sq by parity of k, see there */
    __shared__ T sh_alpha[2], sh_dk[2]; /* by parity of k (a fast thread may write k + 1's early) */
    T *A = tri_load(a, sb, sr, sc, ws, n, red);
    const int64_t b = blockIdx.x;
    T *d = ws.d + b * n, *e = ws.e + b * n, *tau = ws.tau + b * n;
    __syncthreads();
    const T thr = tri_skip_below<T>();
    /* working storage: element (r, c), r, c >= base, at W[(r - base) ld + c - base] */
    T *W = A;
    int ld = n, base = 0;
    bool pend = false; /* (vq, wq): step k-1's update, not yet applied to rows/columns >= k */
#ifdef MC_TRI_PROFILE
    long long prof_t = clock64();
#endif
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1, m = n - k1;
        if (base == 0 && n - k <= msw) { /* uniform: rows/columns k..n-1 to shared memory */
            const int s = n - k;
#pragma unroll 4
            for (int idx = tid; idx < s * s; idx += nt) {
                const int r = idx / s, c = idx - r * s;
                tile[idx] = A[(int64_t)(k + r) * n + k + c];
            }
            W = tile;
            ld = s;
            base = k;
            __syncthreads();
        }
        T *rowk = W + (int64_t)(k - base) * ld - base; /* element (k, c) at rowk[c] */
        const int par = k & 1;
        /* 1. row k gets step k-1's update; sum of squares of columns k+2.. */
        T sq = 0;
        for (int c = k + tid; c < n; c += nt) {
            T x = rowk[c];
            if (pend) {
                x -= (mul_rn(vq[k], wq[c]) + mul_rn(wq[k], vq[c]));
                rowk[c] = x;
            }
            if (c == k) sh_dk[par] = x;
            else if (c == k1) sh_alpha[par] = x;
            else sq += x * x;
        }
        /* the barrier: row k and sh_* visible; red_sq[par] is next written at k + 2, after the
         * barrier of k + 1's sum, which every thread reaches after its read here */
        sq = tri_block_sum(sq, red_sq[par]);
        TRI_PROF(0);
        const bool act = sq > thr; /* uniform */
        const T tk = tri_reflector(k, n, sh_dk[par], sh_alpha[par], sq, act, rowk, vc, A + (int64_t)k * n, d, e, tau);
        if (!act && !pend) continue; /* uniform; nothing to apply, nothing to reduce */
        __syncthreads(); /* vc visible */
        TRI_PROF(1);
        /* 2. fused pass: column c = k1 + i by row lanes, rows r = k1 + j split over G groups */
        const int RL = m < nt ? ((m + 31) & ~31) : nt;
        const int G = nt / RL;
        {
            const int g = tid / RL, i0 = tid - g * RL;
            if (g < G) {
                for (int i = i0; i < m; i += RL) {
                    const int c = k1 + i;
                    T *col = W + (int64_t)(k1 - base) * ld + (c - base);
                    T acc = 0;
                    if (pend) {
                        const T vqc = vq[c], wqc = wq[c];
                        if (act) acc = fused_col<T, true, true>(col, ld, g, G, m, k1, vq, wq, vc, vqc, wqc);
                        else fused_col<T, true, false>(col, ld, g, G, m, k1, vq, wq, vc, vqc, wqc);
                    } else {
                        acc = fused_col<T, false, true>(col, ld, g, G, m, k1, vq, wq, vc, (T)0, (T)0);
                    }
                    if (act) part[g * RL + i] = acc;
                }
            }
        }
        __syncthreads(); /* the pass's stores and part visible */
        TRI_PROF(2);
        if (act) {
            /* 3. p = tau A22 v, w = p - tau/2 (p.v) v */
            tri_next_update(k1, m, tk, part, RL, 0, G, vc, wc, vq, wq, red_pv);
            __syncthreads(); /* w visible before the next step reads it; part free */
        }
        TRI_PROF(3);
        pend = act;
    }
    auto at = [&](int r, int c) -> T & { return W[(int64_t)(r - base) * ld + (c - base)]; };
    if (n >= 3 && pend && tid < 4) { /* step n-3's update of the trailing 2x2 */
        const int r = n - 2 + (tid >> 1), c = n - 2 + (tid & 1);
        at(r, c) -= (mul_rn(vq[r], wq[c]) + mul_rn(wq[r], vq[c]));
    }
    __syncthreads();
    tri_finish(n, at, d, e, tau);
}

/* K1 for n <= 256 (fp32; n <= 128 fp64) with the matrix held by the threads, tiled in 2-D: the
 * block is CG column lanes x RG row groups (CG a multiple of 32, so a row group is whole warps);
 * thread (cg, rg) holds elements (r, c), r = rg + RG v (v < V), c = cg + CG u (u < U), rows
 * v < VS (r < RG VS) in shared memory S (row r at S + r n), rows v >= VS in registers. Same
 * algorithm and outputs as k_tridiag (the sums run in another order: results agree to rounding);
 * per step a thread loads the row vectors (vq, wq, vc) once per row it holds and the column
 * vectors once per column, so each loaded value serves U (or V) elements, and an element in
 * registers costs no shared-memory traffic at all (k_tridiag: ~5 shared wavefronts per element
 * and step). The low rows, which leave the trailing block first, are the ones in shared memory.
 * Dynamic shared memory (6 + RG + RG VS) n T: vc, wc, vq, wq, row k by parity (2 n), the RG
 * partial sums of A22 v, S. */
template <typename T, int CG, int RG, int V, int VS, int U>
__global__ void __launch_bounds__(CG *RG)
    k_tridiag_2d(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, Ws<T> ws, int n) {
    constexpr int VR = V - VS, NW = CG / 32; /* rows in registers; warps per row group */
    static_assert(CG % 32 == 0 && VS >= 0 && VS <= V, "K1 2-D shape");
    mc::pdl_wait(); /* no pdl_trigger: see k_tridiag */
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, cg = tid % CG, rg = tid / CG;
    T *buf = reinterpret_cast<T *>(smem);
    T *vc = buf, *wc = buf + n, *vq = buf + 2 * n, *wq = buf + 3 * n, *rowb0 = buf + 4 * n, *part = buf + 6 * n;
    T *S = part + RG * n;
    __shared__ T red[32], red_pv[32], sh_sq[2][NW], tail[4];
    T *A = tri_load(a, sb, sr, sc, ws, n, red);
    const int64_t b = blockIdx.x;
    T *d = ws.d + b * n, *e = ws.e + b * n, *tau = ws.tau + b * n;
    __syncthreads(); /* A (scaled) visible to every thread */
    T z[VR > 0 ? VR : 1][U];
#pragma unroll
    for (int v = 0; v < V; ++v)
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int r = rg + RG * v, c = cg + CG * u;
            const T x = (r < n && c < n) ? A[(int64_t)r * n + c] : (T)0;
            if (v >= VS) z[v - VS][u] = x;
            else if (r < n && c < n) S[r * n + c] = x;
        }
    __syncthreads(); /* every load of A done before row 0's reflector overwrites it; S visible */
    const T thr = tri_skip_below<T>();
    bool pend = false; /* (vq, wq): step k-1's update, not yet applied to rows/columns >= k */
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1, m = n - k1, par = k & 1;
        T *rowb = rowb0 + par * n; /* row k, updated; next written at k + 2 */
        /* 1. row k (columns k..n-1) gets step k-1's update, in the row group that holds it */
        if (rg == k % RG) {
            const int v0 = k / RG;
            T sq = 0;
#pragma unroll
            for (int v = 0; v < V; ++v)
                if (v == v0) {
#pragma unroll
                    for (int u = 0; u < U; ++u) {
                        const int c = cg + CG * u;
                        if (c >= k && c < n) {
                            T x = v < VS ? S[k * n + c] : z[v >= VS ? v - VS : 0][u];
                            if (pend) x -= (mul_rn(vq[k], wq[c]) + mul_rn(wq[k], vq[c]));
                            rowb[c] = x;
                            if (c >= k + 2) sq += x * x;
                        }
                    }
                }
            sq = mc::jacobi::warp_sum(sq);
            if ((tid & 31) == 0) sh_sq[par][cg >> 5] = sq;
        }
        __syncthreads(); /* rowb, sh_sq[par] visible (next written at k + 2, after k + 1's barriers) */
        T sq = 0;
#pragma unroll
        for (int i = 0; i < NW; ++i) sq += sh_sq[par][i];
        const bool act = sq > thr; /* uniform */
        const T tk = tri_reflector(k, n, rowb[k], rowb[k1], sq, act, rowb, vc, A + (int64_t)k * n, d, e, tau);
        if (!act && !pend) continue; /* uniform */
        __syncthreads();             /* vc visible */
        /* 2. fused pass over the thread's elements (r, c >= k1): step k-1's update, A22 v partials */
        T vqc[U], wqc[U], acc[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int c = cg + CG * u;
            const bool in = pend && c >= k1 && c < n;
            vqc[u] = in ? vq[c] : (T)0;
            wqc[u] = in ? wq[c] : (T)0;
            acc[u] = 0;
        }
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int r = rg + RG * v;
            if (r >= k1 && r < n) { /* warp-uniform */
                const T vqr = pend ? vq[r] : (T)0, wqr = pend ? wq[r] : (T)0, vcr = act ? vc[r] : (T)0;
#pragma unroll
                for (int u = 0; u < U; ++u) {
                    const int c = cg + CG * u;
                    if (c >= k1 && c < n) {
                        T x = v < VS ? S[r * n + c] : z[v >= VS ? v - VS : 0][u];
                        if (pend) {
                            x -= (mul_rn(vqr, wqc[u]) + mul_rn(wqr, vqc[u]));
                            if (v < VS) S[r * n + c] = x;
                            else z[v >= VS ? v - VS : 0][u] = x;
                        }
                        acc[u] += x * vcr;
                    }
                }
            }
        }
        if (act)
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const int c = cg + CG * u;
                if (c >= k1 && c < n) part[rg * n + c] = acc[u];
            }
        __syncthreads(); /* part visible; every read of vq, wq done */
        if (act) {
            /* 3. p = tau A22 v, w = p - tau/2 (p.v) v */
            tri_next_update(k1, m, tk, part, n, k1, RG, vc, wc, vq, wq, red_pv);
            __syncthreads(); /* w visible; part free */
        }
        pend = act;
    }
    /* the trailing 2 x 2 (or 1 x 1), with step n-3's update */
    const int t0 = n >= 2 ? n - 2 : 0;
#pragma unroll
    for (int v = 0; v < V; ++v)
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int r = rg + RG * v, c = cg + CG * u;
            if (r >= t0 && r < n && c >= t0 && c < n) {
                T x = v < VS ? S[r * n + c] : z[v >= VS ? v - VS : 0][u];
                if (n >= 3 && pend) x -= (mul_rn(vq[r], wq[c]) + mul_rn(wq[r], vq[c]));
                tail[(r - t0) * 2 + (c - t0)] = x;
            }
        }
    __syncthreads();
    tri_finish(n, [&](int r, int c) { return tail[(r - t0) * 2 + (c - t0)]; }, d, e, tau);
}

/* ---- K2: eigenvalues by bisection, L lanes per eigenvalue ---- */

/* bisect() with the L = 4 or 8 lanes of a group (gmask, lane sub) sharing one eigenvalue: each round
 * lane k evaluates the Sturm count at node k (heap order) of the bisection tree below (a, b), LEV =
 * log2(L) levels deep (L - 1 nodes), and the group then walks LEV halvings with those counts. The
 * nodes are the midpoints bisect() would compute, by the same float operations, and every halving
 * makes the same tests, so the result is bit-identical to bisect(); the sequential chain of Sturm
 * counts is LEV times shorter (25 -> 9 rounds in float for L = 8) for L - 1 times the work per
 * round. (Multisection of the bisection interval: Lessig's "Eigenvalue computation with CUDA",
 * NVIDIA 2007, splits intervals across threads; this exact-tree form is our own.) */
template <typename T, int L>
__device__ inline T bisect_lanes(const T *d, const T *e2, int lo, int hi, int r, T gl, T gu, T abstol, T pivmin,
                                 int sub, unsigned gmask) {
    constexpr int LEV = L == 8 ? 3 : 2;
    static_assert(L == 4 || L == 8, "4 or 8 lanes");
    T a = gl, b = gu;
    int it = 0;
    for (;;) {
        /* node sub: the path from the root is the bits of sub + 1 below its leading one (0 left) */
        T pa = a, pb = b, x = (T)0.5 * (pa + pb);
        const int node = sub + 1, depth = 31 - __clz(node);
        for (int bit = depth - 1; bit >= 0; --bit) {
            if ((node >> bit) & 1) pa = x;
            else pb = x;
            x = (T)0.5 * (pa + pb);
        }
        const int c = sub < L - 1 ? sturm_count(d, e2, lo, hi, x, pivmin) : 0;
        int k = 0;
        for (int lev = 0; lev < LEV; ++lev) {
            const T tol = maxv(abstol, Lim<T>::eps * maxv(absv(a), absv(b)));
            if (it >= Lim<T>::bis_cap || !(b - a > tol)) return (T)0.5 * (a + b);
            const T mid = (T)0.5 * (a + b);
            if (!(mid > a && mid < b)) return (T)0.5 * (a + b);
            const bool left = __shfl_sync(gmask, c, k, L) >= r + 1;
            if (left) b = mid;
            else a = mid;
            k = 2 * k + (left ? 1 : 2);
            ++it;
        }
    }
}

/* grid (ceil(n L / blockDim), batch chunk), L lanes per eigenvalue (1: bisect(); 4, 8:
 * bisect_lanes()); dynamic shared memory 3 n T. */
template <typename T, int L> __global__ void __launch_bounds__(kThreadsBis) k_bisect(Ws<T> ws, int n, int64_t b0, int multisect) {
    mc::pdl_wait();
    mc::pdl_trigger();
    extern __shared__ __align__(16) unsigned char smem[];
    T *d = reinterpret_cast<T *>(smem), *e = d + n, *e2 = e + n;
    __shared__ T red[32];
    const int tid = threadIdx.x, nt = blockDim.x;
    const int64_t b = b0 + blockIdx.y;
    const int j = blockIdx.x * (nt / L) + tid / L, sub = tid % L;
    T tn = 0, ngl = 0, gu = 0, e2m = 0;
    for (int i = tid; i < n; i += nt) {
        const T di = ws.d[b * n + i], ei = i + 1 < n ? ws.e[b * n + i] : (T)0, em = i > 0 ? ws.e[b * n + i - 1] : (T)0;
        d[i] = di;
        e[i] = ei;
        e2[i] = ei * ei;
        const T rad = absv(ei) + absv(em);
        tn = maxv(tn, absv(di) + rad);
        ngl = maxv(ngl, rad - di);
        gu = maxv(gu, di + rad);
        e2m = maxv(e2m, ei * ei);
    }
    /* block_max starts from 0: gl <= 0 <= gu, still bounds */
    tn = mc::jacobi::block_max(tn, red);
    ngl = mc::jacobi::block_max(ngl, red);
    gu = mc::jacobi::block_max(gu, red);
    e2m = mc::jacobi::block_max(e2m, red);
    __syncthreads();
    const T eps = Lim<T>::eps, pivmin = Lim<T>::tiny * maxv((T)1, e2m);
    const T fudge = (T)2.1 * n * eps * tn + (T)4.2 * pivmin; /* dstebz's widening */
    const T gl = -ngl - fudge, gh = gu + fudge;
    const T stol = eps * tn;
    T ga = gl, gb = gh; /* the bracket bisection starts from */
    /* Multisection pre-pass (multisect, where T does not split: the common case): every thread
     * takes the Sturm count at one of nt evenly spaced interior points of [gl, gh], so each
     * eigenvalue starts its bisection from a bracket 1/(nt + 1) of the Gershgorin interval wide
     * (log2(nt + 1) = 7 fewer halvings for one count). The bracket ends are points with count
     * <= r and >= r + 1, the invariant bisection keeps, so the lanes variants stay bit-identical
     * to one lane. The points are mid + half s_t with s_t = -s_{nt-1-t} exactly, so a spectrum
     * symmetric about 0 keeps its exact +- symmetry (H100: K2 fp32 100 x 128 0.137 -> 0.119 ms,
     * 100 x 256 0.394 -> 0.341). Off for svd_bidiag's T_GK: its harness fails fp32 576 x 512
     * ill-conditioned 1e6 with the pre-pass on, with the earlier non-symmetric grid (V
     * orthogonality 311 n eps) and with this symmetric one (374; session 8 run 9), so the grid's
     * symmetry is not the cause; not explained. */
    __shared__ int cnt[kThreadsBis];
    const T gmid = (T)0.5 * (gl + gh), ghalf = (T)0.5 * (gh - gl);
    auto grid_x = [&](int t) { return gmid + ghalf * ((T)(2 * t + 1 - nt) / (T)(nt + 1)); };
    bool split = !multisect;
    for (int i = tid; i + 1 < n; i += nt) split |= !(absv(e[i]) > stol);
    const bool whole = !__syncthreads_or(split); /* block-uniform */
    if (whole) {
        cnt[tid] = sturm_count(d, e2, 0, n, grid_x(tid), pivmin);
        __syncthreads();
        if (j < n) { /* lo = 0, hi = n: the first point with count >= j + 1 and the one before */
            int l = 0, h = nt;
            while (l < h) {
                const int mm = (l + h) >> 1;
                if (cnt[mm] >= j + 1) h = mm;
                else l = mm + 1;
            }
            if (l < nt) gb = grid_x(l);
            if (l > 0) ga = grid_x(l - 1);
        }
    }
    if (j >= n) return; /* the whole group */
    int lo = j, hi = j + 1;
    while (lo > 0 && absv(e[lo - 1]) > stol) --lo;
    while (hi < n && absv(e[hi - 1]) > stol) ++hi;
    T lam;
    if (hi - lo == 1) lam = d[j];
    else if constexpr (L == 1) lam = bisect(d, e2, lo, hi, j - lo, ga, gb, eps * tn, pivmin);
    else {
        const unsigned gmask = ((1u << L) - 1) << ((tid & 31) & ~(L - 1)); /* the group's lanes */
        lam = bisect_lanes<T, L>(d, e2, lo, hi, j - lo, ga, gb, eps * tn, pivmin, sub, gmask);
    }
    if (sub) return;
    ws.lam[b * n + j] = lam;
    ws.blo[b * n + j] = lo;
    ws.bhi[b * n + j] = hi;
    if (j == 0) ws.scal[2 * b + 1] = tn;
}

/* Lanes per eigenvalue for K2: more lanes shorten each eigenvalue's chain of Sturm counts but cost
 * (L - 1) / log2(L) times the work. Measured on H100 (bench/harness/eigh_tridiag.cu, K2 alone, fp32
 * batch x n: ms at 1 / 4 / 8 lanes): 10 x 512 0.81 / 0.45 / 0.34; 100 x 128 0.21 / 0.14 / 0.15;
 * 100 x 256 0.43 / 0.40 / 0.47 (fp64 1.50 / 1.44 / 1.67); 100 x 384 0.66 / 0.81 / 0.99; 1000 x 64
 * 0.13 / 0.22 / 0.29. */
inline int bisect_lanes_for(int n, int64_t batch) {
    const int64_t eig = (int64_t)n * batch;
    return eig <= 8192 ? 8 : eig <= 32768 ? 4 : 1;
}

/* K2 over batch matrices of ws (n each); lanes 0: bisect_lanes_for, else 1, 4 or 8. */
template <typename T>
cudaError_t launch_bisect(const Ws<T> &ws, int n, int64_t batch, cudaStream_t stream, bool multisect, int lanes = 0) {
    if (lanes == 0) lanes = bisect_lanes_for(n, batch);
    const size_t sm = 3 * (size_t)n * sizeof(T);
    const unsigned gx = (unsigned)(((int64_t)n * lanes + kThreadsBis - 1) / kThreadsBis);
    for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
        const unsigned nb = (unsigned)(batch - b0 < 65535 ? batch - b0 : 65535);
        const dim3 g(gx, nb);
        cudaError_t e;
        switch (lanes) {
        case 1: e = mc::launch_dependent(k_bisect<T, 1>, g, dim3(kThreadsBis), sm, stream, ws, n, b0, (int)multisect); break;
        case 4: e = mc::launch_dependent(k_bisect<T, 4>, g, dim3(kThreadsBis), sm, stream, ws, n, b0, (int)multisect); break;
        case 8: e = mc::launch_dependent(k_bisect<T, 8>, g, dim3(kThreadsBis), sm, stream, ws, n, b0, (int)multisect); break;
        default: return cudaErrorInvalidValue;
        }
        if (e != cudaSuccess) return e;
    }
    return cudaGetLastError();
}

/* ---- K3: inverse iteration, one thread per eigenvector ---- */

template <typename T> inline size_t solve_smem(int n, int ch) {
    const size_t P = ch + 1;
    return 2 * (size_t)n * sizeof(T) + 3 * P * n * sizeof(T) + P * n;
}

/* grid (ceil(n / CH), batch chunk), CH = blockDim.x <= 32 threads; mode 0: every vector from a
 * pseudo-random start, iters solves; mode 1: only members of clusters (size >= 2), from their
 * current Z, iters solves; mode 2: as 1, only in matrices whose last k_orth round restarted a
 * vector (flag[2 b + 1]). Dynamic shared memory solve_smem<T>(n, CH). */
template <typename T> __global__ void __launch_bounds__(kMaxChunk) k_solve(Ws<T> ws, int n, int64_t b0, int mode, int iters) {
    mc::pdl_wait();
    mc::pdl_trigger();
    extern __shared__ __align__(16) unsigned char smem[];
    const int CH = blockDim.x, P = CH + 1, t = threadIdx.x;
    T *d = reinterpret_cast<T *>(smem), *e = d + n, *X = e + n, *U1 = X + (size_t)P * n, *U2 = U1 + (size_t)P * n;
    unsigned char *PV = reinterpret_cast<unsigned char *>(U2 + (size_t)P * n);
    __shared__ int lo_s[kMaxChunk], hi_s[kMaxChunk], act_s[kMaxChunk];
    const int64_t b = b0 + blockIdx.y;
    const int j0 = blockIdx.x * CH, j = j0 + t;
    if (ws.flag[2 * b]) return; /* whole block: NaN input, K4 writes NaN */
    if (mode == 2 && !ws.flag[2 * b + 1]) return;
    int lo = 0, hi = 0, act = 0;
    if (j < n) {
        lo = ws.blo[b * n + j];
        hi = ws.bhi[b * n + j];
        act = mode == 0 ? 1 : (ws.ce[b * n + j] - ws.cs[b * n + j] >= 2); /* modes 1, 2: cluster members */
    }
    /* the cluster rounds: most blocks hold no member, so they leave before loading T (the rounds'
     * time is the blocks that do: H100 fp32 100 x 128, 0.11 ms either way) */
    if (mode != 0 && !__syncthreads_or(act)) return;
    for (int i = t; i < n; i += CH) {
        d[i] = ws.d[b * n + i];
        e[i] = ws.e[b * n + i];
    }
    lo_s[t] = lo;
    hi_s[t] = hi;
    act_s[t] = act;
    __syncthreads();
    T *Zb = ws.Z + b * (int64_t)n * n;
    if (mode != 0) { /* gather the start vectors, coalesced */
        for (int u = 0; u < CH; ++u) {
            if (!act_s[u]) continue;
            const int l = lo_s[u], h = hi_s[u];
            const T *zc = Zb + (int64_t)(j0 + u) * n;
            for (int i = l + t; i < h; i += CH) X[(size_t)(i - l) * P + u] = zc[i];
        }
        __syncthreads();
    }
    if (act) {
        const int s = hi - lo;
        T *x = X + t;
        if (s == 1) {
            x[0] = 1;
        } else {
            const T tn = ws.scal[2 * b + 1], pert = maxv(Lim<T>::eps * tn, Lim<T>::tiny);
            const T *lm = ws.lam + b * n;
            T lam = lm[j];
            if (mode != 0) { /* numerically repeated member: offset shift (see kDegShift) */
                const int c0 = ws.cs[b * n + j], c1 = ws.ce[b * n + j];
                const T gdeg = (T)kDegGap * Lim<T>::eps * tn;
                if ((j > c0 && lam - lm[j - 1] <= gdeg) || (j + 1 < c1 && lm[j + 1] - lam <= gdeg))
                    lam += (T)kDegShift * Lim<T>::eps * tn;
            }
            if (mode == 0)
                for (int k = 0; k < s; ++k) x[(size_t)k * P] = hrand<T>((uint32_t)j, (uint32_t)(lo + k));
            for (int it = 0; it < iters; ++it) {
                tri_solve(d, e, lo, s, lam, pert, x, U1 + t, U2 + t, PV + t, P);
                if (!normalize(x, s, P)) { /* cannot happen in exact terms; keep a unit vector */
                    for (int k = 0; k < s; ++k) x[(size_t)k * P] = k == j - lo ? (T)1 : (T)0;
                }
            }
        }
    }
    __syncthreads();
    /* scatter, coalesced; mode 0 also writes the zeros outside the block */
    for (int u = 0; u < CH; ++u) {
        if (!act_s[u]) continue;
        const int l = lo_s[u], h = hi_s[u];
        T *zc = Zb + (int64_t)(j0 + u) * n;
        if (mode == 0) {
            for (int i = t; i < n; i += CH) zc[i] = (i >= l && i < h) ? X[(size_t)(i - l) * P + u] : (T)0;
        } else {
            for (int i = l + t; i < h; i += CH) zc[i] = X[(size_t)(i - l) * P + u];
        }
    }
}

/* ---- K3b: ranks, w, clusters; Gram-Schmidt inside clusters, one block per matrix ---- */

template <typename T> inline size_t orth_smem(int n) { return 2 * (size_t)n * sizeof(T) + 5 * (size_t)n * sizeof(int); }

/* phase 0: also ranks, w, clusters (cs, ce), info = 0; 1: a middle round; 2: the last round:
 * info = breakdowns, and flag[2 b + 1] = 1 when a vector was restarted from a pseudo-random start
 * (it is then orthogonal to its cluster but not yet an eigenvector: the repair round, k_solve mode
 * 2 and phase 3, solves it again); 3: the repair round, only for matrices so flagged: info =
 * breakdowns, a restart now counted as one too (nothing solves it again). */
template <typename T>
__global__ void __launch_bounds__(kThreadsOrth) k_orth(Ws<T> ws, T *__restrict__ w, int32_t *__restrict__ info, int n, int phase) {
    mc::pdl_wait();
    mc::pdl_trigger();
    extern __shared__ __align__(16) unsigned char smem[];
    T *lam = reinterpret_cast<T *>(smem), *dots = lam + n;
    int *cst = reinterpret_cast<int *>(dots + n), *csz = cst + n, *clo = csz + n, *chi = clo + n, *ord = chi + n;
    __shared__ int nclu, redo, nfail, nrestart;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x;
    const int bad = ws.flag[2 * b];
    if (phase == 3 && !ws.flag[2 * b + 1]) return; /* uniform: no repair needed */
    const int32_t *blo = ws.blo + b * n, *bhi = ws.bhi + b * n;
    int32_t *cs = ws.cs + b * n, *ce = ws.ce + b * n;
    if (phase == 0) {
        for (int i = tid; i < n; i += nt) lam[i] = ws.lam[b * n + i];
        __syncthreads();
        const T scale = ws.scal[2 * b], ortol = (T)1e-3 * ws.scal[2 * b + 1];
        for (int j = tid; j < n; j += nt) {
            const T lj = lam[j];
            int r = 0;
            for (int i = 0; i < n; ++i) {
                const T li = lam[i];
                r += li < lj || (li == lj && i < j);
            }
            ws.rank[b * n + j] = r;
            w[b * n + r] = bad ? (T)NAN : lj / scale;
            const int lo = blo[j], hi = bhi[j];
            int s = j, en = j + 1;
            while (s > lo && lam[s] - lam[s - 1] < ortol) --s;
            while (en < hi && lam[en] - lam[en - 1] < ortol) ++en;
            cs[j] = s;
            ce[j] = en;
        }
        if (tid == 0) info[b] = 0;
    }
    if (bad) return; /* uniform */
    if (tid == 0) {
        nclu = 0;
        redo = 0;
        nfail = 0;
        nrestart = 0;
    }
    __syncthreads(); /* also: cs, ce written above are visible to the block */
    for (int j = tid; j < n; j += nt) {
        const int s = cs[j], en = ce[j];
        if (s == j && en - j >= 2) {
            const int c = atomicAdd(&nclu, 1);
            cst[c] = j;
            csz[c] = en - j;
            clo[c] = blo[j];
            chi[c] = bhi[j];
        }
    }
    __syncthreads();
    const int K = nclu;
    if (K == 0) return; /* uniform */
    /* clusters by size, descending (ties by start): the active ones at step m are a prefix */
    for (int c = tid; c < K; c += nt) {
        int pos = 0;
        for (int c2 = 0; c2 < K; ++c2) pos += csz[c2] > csz[c] || (csz[c2] == csz[c] && cst[c2] < cst[c]);
        ord[pos] = c;
    }
    __syncthreads();
    const int maxsz = csz[ord[0]];
    T *Zb = ws.Z + b * (int64_t)n * n;
    const T eps = Lim<T>::eps, vanish = (T)1e4 * eps * eps; /* squared norm: remaining norm < 100 eps */
    int am = K;
    for (int m = 1; m < maxsz; ++m) {
        while (am > 0 && csz[ord[am - 1]] <= m) --am; /* clusters with a member m; am * m < n */
        for (int pass = 0; pass < 4; ++pass) {
            if (pass >= 2 && !redo) break; /* uniform: redo set before a barrier */
            /* dots[a m + p] = <z_{start + p}, z_{start + m}>, one warp per dot */
            for (int t = warp; t < am * m; t += nw) {
                const int a = t / m, pi = t - a * m, c = ord[a];
                const T *zj = Zb + (int64_t)(cst[c] + m) * n, *zp = Zb + (int64_t)(cst[c] + pi) * n;
                T acc = 0;
                for (int i = clo[c] + lane; i < chi[c]; i += 32) acc += zp[i] * zj[i];
                acc = mc::jacobi::warp_sum(acc);
                if (lane == 0) dots[t] = acc;
            }
            __syncthreads();
            /* z_{start + m} -= sum_p dots z_{start + p}, one thread per row */
            for (int t = tid; t < am * n; t += nt) {
                const int a = t / n, i = t - a * n, c = ord[a];
                if (i < clo[c] || i >= chi[c]) continue;
                const int base = cst[c];
                T s = 0;
                for (int pi = 0; pi < m; ++pi) s += dots[a * m + pi] * Zb[(int64_t)(base + pi) * n + i];
                Zb[(int64_t)(base + m) * n + i] -= s;
            }
            __syncthreads();
            if (pass == 1 || pass == 3) {
                for (int a = warp; a < am; a += nw) {
                    const int c = ord[a], l = clo[c], h = chi[c], jv = cst[c] + m;
                    T *zj = Zb + (int64_t)jv * n;
                    T ss = 0;
                    for (int i = l + lane; i < h; i += 32) ss += zj[i] * zj[i];
                    ss = mc::jacobi::warp_sum(ss);
                    if (ss > vanish) {
                        const T f = (T)1 / sq_root(ss);
                        for (int i = l + lane; i < h; i += 32) zj[i] *= f;
                        if (pass == 1 && ss < (T)0.25 && lane == 0) redo = 1; /* lost more than half: again */
                    } else if (pass == 1) { /* in the span of the others: restart from a random vector */
                        for (int i = l + lane; i < h; i += 32) zj[i] = hrand<T>((uint32_t)jv + 7919u * (phase + 1), (uint32_t)i);
                        if (lane == 0) {
                            redo = 1;
                            atomicAdd(&nrestart, 1);
                        }
                    } else if (lane == 0) {
                        atomicAdd(&nfail, 1);
                    }
                }
                __syncthreads();
            }
        }
        if (tid == 0) redo = 0;
        __syncthreads();
    }
    if (tid == 0) {
        if (phase == 2) {
            info[b] = nfail;
            if (nrestart) ws.flag[2 * b + 1] = 1;
        } else if (phase == 3) {
            info[b] = nfail + nrestart;
        }
    }
}

/* ---- K4: back-transformation Q = H_0 ... H_{n-3} Z and the output ---- */

/* K4's thread layout: each thread holds C columns of Z (register blocking: every v value loaded
 * from shared memory serves C columns) at R rows; L lanes (a power of two) share a column group,
 * lane p owning rows 4 (L r + p) + u, r < R / 4, u < 4 (four-row chunks dealt round robin, so the
 * rows below reflector k, the only ones it touches, are spread evenly). R C = 64 (float) / 32
 * (double) values per thread (fp32 n <= 128: 32); L = n / R rounded up to a power of two, at most
 * 32. */
struct BackShape {
    int R, C, L;
};
template <typename T> inline BackShape back_shape(int n) {
    BackShape s;
    const int rc = sizeof(T) == 4 ? 64 : 32;
    s.R = rc / 4; /* C = 4 while L <= 32 allows */
    while (s.R * 32 < n) s.R *= 2;
    s.C = rc / s.R;
    /* fp32 up to 128: 2 columns, twice the threads (H100, bench/harness/eigh_tridiag.cu --k4:
     * 1000 x 64 0.093 -> 0.065 ms, 100 x 128 0.077 -> 0.069; at 256 C = 4 wins, 0.41 vs 0.48) */
    if (sizeof(T) == 4 && n <= 128) s.C = 2;
    s.L = 1;
    while (s.L * s.R < n) s.L *= 2;
    return s;
}
/* reflectors per staging buffer: two buffers of nb rows of np = n rounded up to 4 in <= 32 KB */
template <typename T> __host__ __device__ inline int back_chunk(int np) {
    const int nb = (int)(32768 / (2 * sizeof(T) * (size_t)np));
    return nb < 2 ? 2 : (nb > 16 ? 16 : nb);
}
template <typename T> inline size_t back_smem(int n) {
    const int np = (n + 3) & ~3;
    return (size_t)n * (sizeof(T) + sizeof(int)) + 2 * (size_t)back_chunk<T>(np) * np * sizeof(T);
}

/* Four consecutive T from 16-byte aligned shared memory. */
__device__ __forceinline__ void lds4(const float *p, float *v) {
    const float4 a = *reinterpret_cast<const float4 *>(p);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
}
__device__ __forceinline__ void lds4(const double *p, double *v) {
    const double2 a = reinterpret_cast<const double2 *>(p)[0], b = reinterpret_cast<const double2 *>(p)[1];
    v[0] = a.x, v[1] = a.y, v[2] = b.x, v[3] = b.y;
}

/* global -> shared copy of one T without registers (cp.async, sm_80+), zero-filled when !valid
 * (src is then not read). */
template <typename T> __device__ __forceinline__ void cp_async_or_zero(T *dst, const T *src, bool valid) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(sizeof(T)),
                 "r"(valid ? (int)sizeof(T) : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
__device__ __forceinline__ void cp_async_wait_prev() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

/* grid (ceil(n L / (kThreadsBack C)), batch chunk), kThreadsBack threads (BackShape R, C, L);
 * dynamic shared memory back_smem<T>(n). Each thread keeps R rows of C columns of Z in registers
 * and applies the reflectors k = n-3 .. 0 in turn: C dots of v_k with its rows, summed over the L
 * lanes by shuffles, then the update (v_k's values kept in registers between the two); v_k comes
 * from shared memory, where the block stages nb reflectors at a time (cp.async, double-buffered,
 * zeros at rows <= k so the arithmetic needs no masks; four-row chunks wholly above the reflector
 * are skipped). Column j goes to q's column rank[j] (NaN for a bad matrix). (The kernel this
 * replaced held 32 lanes per column, so every dot took a 5-step shuffle tree: H100 fp32 100 x
 * 256, 0.98 ms; one column per thread, 64 rows, was bound by shared-memory loads, one per
 * multiply-add: 0.53 ms.) */
template <typename T, int R, int C, int L>
__global__ void __launch_bounds__(kThreadsBack) k_back(Ws<T> ws, T *__restrict__ q, int n, int64_t b0) {
    mc::pdl_wait();
    mc::pdl_trigger();
    extern __shared__ __align__(16) unsigned char smem[];
    const int np = (n + 3) & ~3, nb = back_chunk<T>(np);
    T *vs = reinterpret_cast<T *>(smem); /* 2 nb rows of np, 16-byte aligned */
    T *tau = vs + 2 * (size_t)nb * np;
    int *rk = reinterpret_cast<int *>(tau + n);
    const int tid = threadIdx.x, p = tid & (L - 1);
    const int64_t b = b0 + blockIdx.y;
    const int j0 = (blockIdx.x * kThreadsBack + tid) / L * C; /* columns j0 .. j0 + C - 1 (those < n) */
    T *qb = q + b * (int64_t)n * n;
    if (ws.flag[2 * b]) { /* block-uniform: NaN input */
        for (int c = 0; c < C; ++c)
            if (j0 + c < n)
                for (int i = p; i < n; i += L) qb[(int64_t)i * n + j0 + c] = (T)NAN;
        return;
    }
    for (int i = tid; i < n; i += kThreadsBack) {
        tau[i] = ws.tau[b * n + i];
        rk[i] = ws.rank[b * n + i];
    }
    const T *A = ws.A + b * (int64_t)n * n;
    /* reflectors k_hi, k_hi - 1, ... (nb of them, those >= 0) into buffer buf, row kk = k_hi - k */
    auto stage = [&](int buf, int k_hi) {
        T *dst = vs + (size_t)buf * nb * np;
        for (int idx = tid; idx < nb * np; idx += kThreadsBack) {
            const int kk = idx / np, i = idx - kk * np, k = k_hi - kk;
            const bool valid = k >= 0 && i > k && i < n;
            cp_async_or_zero(dst + idx, valid ? A + (int64_t)k * n + i : A, valid);
        }
    };
    const int nref = n - 2; /* reflectors 0 .. n-3 */
    const int nchunks = nref > 0 ? (nref + nb - 1) / nb : 0;
    if (nchunks > 0) stage(0, n - 3);
    cp_async_commit();

    T z[C][R];
#pragma unroll
    for (int c = 0; c < C; ++c) {
        const int j = j0 + c;
        const T *zc = ws.Z + (b * n + (j < n ? j : 0)) * (int64_t)n;
#pragma unroll
        for (int r = 0; r < R / 4; ++r)
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int i = 4 * (L * r + p) + u;
                z[c][4 * r + u] = (j < n && i < n) ? zc[i] : (T)0;
            }
    }
    for (int ch = 0; ch < nchunks; ++ch) {
        const int k_hi = n - 3 - ch * nb;
        if (ch + 1 < nchunks) stage((ch + 1) & 1, k_hi - nb);
        cp_async_commit();
        cp_async_wait_prev(); /* chunk ch has landed (this thread's copies) */
        __syncthreads();      /* ... and everyone's */
        const T *vbuf = vs + (size_t)(ch & 1) * nb * np;
        const int kk_end = k_hi + 1 < nb ? k_hi + 1 : nb;
        for (int kk = 0; kk < kk_end; ++kk) {
            const int k = k_hi - kk;
            const T tk = tau[k];
            if (tk == 0) continue; /* block-uniform */
            const T *v = vbuf + (size_t)kk * np + 4 * p; /* chunk r at v + 4 L r */
            const int lo = k - 3 - 4 * p, hi = np - 4 * p; /* chunk r active iff lo < 4 L r < hi */
            T vr[R], dot[C];
#pragma unroll
            for (int c = 0; c < C; ++c) dot[c] = 0;
#pragma unroll
            for (int r = 0; r < R / 4; ++r) {
                if (4 * L * r > lo && 4 * L * r < hi) {
                    lds4(v + 4 * L * r, vr + 4 * r);
#pragma unroll
                    for (int c = 0; c < C; ++c)
                        dot[c] += (vr[4 * r] * z[c][4 * r] + vr[4 * r + 1] * z[c][4 * r + 1]) +
                                  (vr[4 * r + 2] * z[c][4 * r + 2] + vr[4 * r + 3] * z[c][4 * r + 3]);
                }
            }
#pragma unroll
            for (int c = 0; c < C; ++c) {
#pragma unroll
                for (int o = 1; o < L; o <<= 1) dot[c] += __shfl_xor_sync(0xffffffffu, dot[c], o);
                dot[c] *= tk;
            }
#pragma unroll
            for (int r = 0; r < R / 4; ++r) {
                if (4 * L * r > lo && 4 * L * r < hi) {
#pragma unroll
                    for (int c = 0; c < C; ++c)
#pragma unroll
                        for (int u = 0; u < 4; ++u) z[c][4 * r + u] -= dot[c] * vr[4 * r + u];
                }
            }
        }
        __syncthreads(); /* buffer ch & 1 is restaged in iteration ch + 1 */
    }
#pragma unroll
    for (int c = 0; c < C; ++c) {
        const int j = j0 + c;
        if (j < n) {
            const int col = rk[j];
#pragma unroll
            for (int r = 0; r < R / 4; ++r)
#pragma unroll
                for (int u = 0; u < 4; ++u) {
                    const int i = 4 * (L * r + p) + u;
                    if (i < n) qb[(int64_t)i * n + col] = z[c][4 * r + u];
                }
        }
    }
}

/* ---- host side ---- */

/* Bytes of workspace launch needs (0 for batch 0). */
template <typename T> size_t workspace_bytes(int n, int64_t batch) {
    if (n < 1 || batch <= 0) return 0;
    return carve<T>(nullptr, n, batch, nullptr);
}

template <typename T> constexpr int max_n() { return kMaxN; }

template <typename T, int R, int C, int L>
cudaError_t launch_back_rcl(const Ws<T> &ws, T *q, int n, int64_t batch, cudaStream_t stream) {
    const size_t smem = back_smem<T>(n);
    cudaError_t e = mc::allow_smem(k_back<T, R, C, L>, smem);
    if (e != cudaSuccess) return e;
    const int64_t threads = (int64_t)(n + C - 1) / C * L;
    const unsigned gx = (unsigned)((threads + kThreadsBack - 1) / kThreadsBack);
    for (int64_t b0 = 0; b0 < batch; b0 += 65535) {
        const unsigned nb = (unsigned)(batch - b0 < 65535 ? batch - b0 : 65535);
        e = mc::launch_dependent(k_back<T, R, C, L>, dim3(gx, nb), dim3(kThreadsBack), smem, stream, ws, q, n, b0);
        if (e != cudaSuccess) return e;
    }
    return cudaGetLastError();
}
template <typename T, int R, int C>
cudaError_t launch_back_rc(const Ws<T> &ws, T *q, int n, int64_t batch, cudaStream_t stream, int L) {
    switch (L) {
    case 1: return launch_back_rcl<T, R, C, 1>(ws, q, n, batch, stream);
    case 2: return launch_back_rcl<T, R, C, 2>(ws, q, n, batch, stream);
    case 4: return launch_back_rcl<T, R, C, 4>(ws, q, n, batch, stream);
    case 8: return launch_back_rcl<T, R, C, 8>(ws, q, n, batch, stream);
    case 16: return launch_back_rcl<T, R, C, 16>(ws, q, n, batch, stream);
    case 32: return launch_back_rcl<T, R, C, 32>(ws, q, n, batch, stream);
    default: return cudaErrorInvalidValue;
    }
}
template <typename T> cudaError_t launch_back(const Ws<T> &ws, T *q, int n, int64_t batch, cudaStream_t stream) {
    const BackShape s = back_shape<T>(n); /* n <= kMaxN = 1024 */
    constexpr int rc = sizeof(T) == 4 ? 64 : 32;
    if (s.C == 4) return launch_back_rc<T, rc / 4, 4>(ws, q, n, batch, stream, s.L);
    if constexpr (sizeof(T) == 4)
        if (s.R == rc / 4) return launch_back_rc<T, rc / 4, 2>(ws, q, n, batch, stream, s.L);
    /* larger n: 32 lanes with 2 columns (float n > 512, double > 256) or 1 (double n > 512) */
    if (s.C == 2) return launch_back_rcl<T, rc / 2, 2, 32>(ws, q, n, batch, stream);
    if constexpr (sizeof(T) == 8) return launch_back_rcl<T, rc, 1, 32>(ws, q, n, batch, stream);
    return cudaErrorInvalidValue;
}

/* K3 and K3b on ws (order n; batch matrices): inverse iteration for every vector, then the cluster
 * process (kClusterRounds rounds of solve and Gram-Schmidt for cluster members) and the repair
 * round (k_orth phase 3). Shared with svd_bidiag (on the Golub-Kahan tridiagonal). after_solve
 * (may be null) is recorded after the first solve. */
template <typename T>
cudaError_t launch_vectors(const Ws<T> &ws, T *w, int32_t *info, int64_t batch, int n, size_t limit,
                           cudaStream_t stream, cudaEvent_t after_solve) {
    /* the largest chunk (<= 32 vectors) whose factors fit in shared memory */
    int ch = kMaxChunk;
    while (ch > 1 && solve_smem<T>(n, ch) + 1024 > limit) ch /= 2;
    const size_t sm3 = solve_smem<T>(n, ch), sm4 = orth_smem<T>(n);
    cudaError_t err;
    if ((err = mc::allow_smem(k_solve<T>, sm3)) != cudaSuccess ||
        (err = mc::allow_smem(k_orth<T>, sm4)) != cudaSuccess)
        return err;
    /* each launch's error is kept (the first one wins) and nothing more is launched after it */
    auto solve = [&](int mode, int iters) {
        for (int64_t b0 = 0; b0 < batch && err == cudaSuccess; b0 += 65535) {
            const unsigned nb = (unsigned)(batch - b0 < 65535 ? batch - b0 : 65535);
            err = mc::launch_dependent(k_solve<T>, dim3((unsigned)((n + ch - 1) / ch), nb), dim3(ch), sm3, stream, ws, n,
                                       b0, mode, iters);
        }
    };
    auto orth = [&](int phase) {
        if (err == cudaSuccess)
            err = mc::launch_dependent(k_orth<T>, dim3((unsigned)batch), dim3(kThreadsOrth), sm4, stream, ws, w, info, n,
                                       phase);
    };
    solve(0, kSolveIters);
    if (after_solve && err == cudaSuccess) cudaEventRecord(after_solve, stream);
    orth(0);
    for (int r = 1; r <= kClusterRounds; ++r) {
        solve(1, 1);
        orth(r == kClusterRounds ? 2 : 1);
    }
    solve(2, kSolveIters); /* the repair round: returns at once in matrices that need none */
    orth(3);
    if (err != cudaSuccess) return err;
    return cudaGetLastError();
}

/* K1's launch shape: threads per block, the shared-memory tile side msw, dynamic shared bytes. */
struct Tri1 {
    int threads, msw;
    size_t smem;
};

/* k_tridiag's shape (it runs where k_tridiag_2d does not: fp32 n > 256, fp64 n > 128, or forced).
 * Four threads per row up to 512 (at least 128), 1024 above n = 224; measured on H100 (K1 alone,
 * bench/harness/eigh_tridiag.cu): fp32 100 x 128 0.42 ms at 512 against 0.50 at 256 and 1024,
 * 100 x 200 1.01 at 512 against 1.07 at 1024, batch 1000 x 64 0.46 at 256. The tile side is the
 * largest that fits what is left of limit (0 below 32: stays in global memory). */
template <typename T> Tri1 tri_config(int n, size_t limit, int force_threads) {
    Tri1 c;
    c.threads = 128;
    while (c.threads < 512 && c.threads < 4 * n) c.threads *= 2;
    if (n > 224) c.threads = kThreadsTri;
    if (force_threads > 0) c.threads = force_threads;
    const size_t fixed = (4 * (size_t)n + c.threads) * sizeof(T), reserve = 2048; /* static red/sh_* */
    size_t s = 0;
    if (limit > fixed + reserve)
        while ((int)s < n && (s + 1) * (s + 1) * sizeof(T) <= limit - fixed - reserve) ++s;
    c.msw = s < 32 ? 0 : (int)s;
    c.smem = fixed + (size_t)c.msw * c.msw * sizeof(T);
    return c;
}

/* K1 by k_tridiag_2d where one of its shapes covers n (fp32 and fp64 n <= 128: 8 rows x U
 * columns per thread in registers, 256 threads for n <= 64, 512 for n <= 128; fp32 n <= 256: 1024
 * threads, 16 rows x 4 columns each, rows below 160 in shared memory (160 n T), the rest in
 * registers); *done = false and nothing launched elsewhere (or where the shared memory it needs
 * is more than limit). */
template <typename T>
cudaError_t launch_tridiag_2d(const T *a, int64_t sb, int64_t sr, int64_t sc, const Ws<T> &ws, int n, int64_t batch,
                              size_t limit, cudaStream_t stream, bool *done) {
    *done = false;
    auto go = [&](auto kern, int threads, int rg, int vs) {
        const size_t smem = (size_t)(6 + rg + rg * vs) * n * sizeof(T);
        if (smem > limit) return cudaSuccess;
        *done = true;
        const cudaError_t err = mc::allow_smem(kern, smem);
        if (err != cudaSuccess) return err;
        return mc::launch_dependent(kern, dim3((unsigned)batch), dim3(threads), smem, stream, a, sb, sr, sc, ws, n);
    };
    if (n <= 64) return go(k_tridiag_2d<T, 32, 8, 8, 0, 2>, 256, 8, 0);
    if (n <= 128) return go(k_tridiag_2d<T, 32, 16, 8, 0, 4>, 512, 16, 0);
    if constexpr (sizeof(T) == 4)
        if (n <= 256) return go(k_tridiag_2d<T, 64, 16, 16, 10, 4>, 1024, 16, 10);
    return cudaSuccess;
}

/* Same as launch; marks (5 events, may be null) are recorded after K1, K2, K3, the cluster rounds
 * and K4, k1_threads > 0 (a multiple of 32, <= kThreadsTri) runs K1 as k_tridiag (never
 * k_tridiag_2d) with that block size and k2_lanes
 * > 0 (1, 4 or 8) K2's lanes per eigenvalue (the harness's per-phase timing and tuning). */
template <typename T>
cudaError_t launch_ex(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                      void *workspace, cudaStream_t stream, cudaEvent_t *marks, int k1_threads = 0,
                      int k2_lanes = 0) {
    if (n < 1 || n > kMaxN || batch < 0 || batch > 0x7fffffffLL) return cudaErrorInvalidValue;
    if (k1_threads < 0 || k1_threads > kThreadsTri || k1_threads % 32) return cudaErrorInvalidValue;
    if (k2_lanes != 0 && k2_lanes != 1 && k2_lanes != 4 && k2_lanes != 8) return cudaErrorInvalidValue;
    if (batch == 0) return cudaSuccess;
    if (!workspace || (reinterpret_cast<uintptr_t>(workspace) & 15)) return cudaErrorInvalidValue;
    Ws<T> ws;
    carve<T>(workspace, n, batch, &ws);
    int dev = 0;
    cudaError_t err = cudaGetDevice(&dev);
    if (err != cudaSuccess) return err;
    const size_t limit = mc::max_dyn_smem(dev);
    auto mark = [&](int i) {
        if (marks) cudaEventRecord(marks[i], stream);
    };

    /* K1 */
    bool k1_done = false;
    if (k1_threads == 0 && (err = launch_tridiag_2d<T>(a, sb, sr, sc, ws, n, batch, limit, stream, &k1_done)) != cudaSuccess)
        return err;
    if (!k1_done) {
        const Tri1 t1 = tri_config<T>(n, limit, k1_threads);
        if ((err = mc::allow_smem(k_tridiag<T>, t1.smem)) != cudaSuccess) return err;
        if ((err = mc::launch_dependent(k_tridiag<T>, dim3((unsigned)batch), dim3(t1.threads), t1.smem, stream, a, sb,
                                        sr, sc, ws, n, t1.msw)) != cudaSuccess)
            return err;
    }
    mark(0);

    /* K2 */
    if ((err = launch_bisect<T>(ws, n, batch, stream, true, k2_lanes)) != cudaSuccess) return err;
    mark(1);

    /* K3, K3b, the cluster and repair rounds */
    if ((err = launch_vectors<T>(ws, w, info, batch, n, limit, stream, marks ? marks[2] : nullptr)) != cudaSuccess)
        return err;
    mark(3);

    /* K4 */
    if ((err = launch_back<T>(ws, q, n, batch, stream)) != cudaSuccess) return err;
    mark(4);
    return cudaGetLastError();
}

/* a: (batch, n, n) at element strides (sb, sr, sc), lower triangle read; w: (batch, n); q: (batch,
 * n, n) contiguous; info: (batch,); workspace: workspace_bytes<T>(n, batch) bytes, 16-byte aligned
 * (not needed for batch 0). 1 <= n <= kMaxN (else cudaErrorInvalidValue). Runs on stream; no
 * allocation, no sync. */
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                   void *workspace, cudaStream_t stream) {
    return launch_ex<T>(a, sb, sr, sc, w, q, info, batch, n, workspace, stream, nullptr);
}

} // namespace eigh_tridiag
} // namespace mc

#endif
