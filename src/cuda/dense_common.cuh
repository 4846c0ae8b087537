/* Shared pieces of the CUDA direct factorizations (cholesky.cu, lu.cu, trsm.cu, qr.cu): the
 * working type, matrix layouts, shared-memory opt-in, and the triangular-solve and row-pivot
 * kernels that trsm, lu_solve and solve all use. The algorithms mirror src/cpu/dense_kernels.h.
 *
 * Ideas, not code: one thread block per small matrix resident in shared memory, as in MAGMA's
 * batched factorizations (magma_*_batched "small size" kernels) and cuSolverDx. */
#ifndef MC_CUDA_DENSE_COMMON_CUH
#define MC_CUDA_DENSE_COMMON_CUH

#include <type_traits>

#include "../core/linalg_direct.h"
#include "common.cuh"

namespace mc {
namespace dense {

/* Working (accumulation) type: f32 for f32/f16/bf16, f64 for f64. */
template <typename T> struct Acc { using type = float; };
template <> struct Acc<double> { using type = double; };

template <typename T> __device__ __forceinline__ typename Acc<T>::type ld_c(T v) { return to_float(v); }
template <> __device__ __forceinline__ double ld_c<double>(double v) { return v; }
template <typename T> __device__ __forceinline__ T st_c(typename Acc<T>::type v) { return from_float<T>(v); }
template <> __device__ __forceinline__ double st_c<double>(double v) { return v; }

template <typename C> __device__ __forceinline__ C wsum(C v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Element (i, j) of a matrix: column-major with leading dimension ld (shared-memory copies,
 * padded to an odd ld so a warp walking a row touches 32 banks) or row-major. */
struct ColMajor {
    int64_t ld;
    __device__ __forceinline__ int64_t operator()(int64_t i, int64_t j) const { return j * ld + i; }
};
struct RowMajor {
    int64_t ld;
    __device__ __forceinline__ int64_t operator()(int64_t i, int64_t j) const { return i * ld + j; }
};

__host__ __device__ inline int64_t odd_ld(int64_t m) { return (m % 2 == 0) ? m + 1 : m; }

/* Threads for a block that works column by column, one warp per column: enough warps to
 * cover `cols` columns in a few rounds, at most max_warps. */
inline int block_threads(int64_t cols, int max_warps) {
    int64_t w = (cols + 3) / 4;
    if (w < 1) w = 1;
    if (w > max_warps) w = max_warps;
    return (int)w * 32;
}

/* ---- triangular solve op(A) X = B, in place allowed (X == B) ------------------------------- */
/* A: (batch, n, n) row-major, stride sA per matrix; B, X: (batch, n, k), stride sB.
 * op(A)(i, j) = trans ? A[j][i] : A[i][j]; op(A) is lower triangular when lower ^ trans. */

/* Few right-hand sides (k <= 8): one thread block per matrix, 32 rows of the substitution at a
 * time. In the coordinates s of the effective lower-triangular system (row i = s when op(A) is
 * lower, n-1-s when it is upper), warp 0 solves the 32x32 diagonal block with the block in
 * registers (a lane per row; each solved value reaches the lanes below by a shuffle), then every
 * thread subtracts that block's contribution from the rows it owns further down. Reads of op(A)
 * are contiguous per thread (A as stored) or coalesced across threads (A transposed); each
 * element of the triangle is read once, so the kernel runs near memory speed at n = 64..256.
 * Idea: the blocked (panel + update) forward substitution of LAPACK's trsv / MAGMA's batched
 * trsv; the code is our own. X may alias B. */
template <typename C, int K, typename TB, typename TO>
__global__ void __launch_bounds__(256)
    trsm_panel_kernel(const C *A, int64_t sA, const TB *B, C *X, int64_t sB, TO *Y, const int32_t *piv, int n,
                      int k, int lower, int trans, int unit) {
    __shared__ C xs[32][K];
    extern __shared__ int perm[]; /* n entries when piv is given */
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const int64_t b = blockIdx.x;
    const C *a = A + b * sA;
    const TB *bb = B + b * sB;
    C *x = X + b * sB;
    TO *y = Y ? Y + b * sB : nullptr;
    const bool el = (lower ^ trans) != 0;
    /* op(A) in s coordinates: lower triangular */
    auto row = [&](int s) -> int64_t { return el ? s : n - 1 - s; };
    auto M = [&](int s, int t) -> C {
        const int64_t i = row(s), j = row(t);
        return trans ? a[j * n + i] : a[i * n + j];
    };
    if (piv) { /* x = P b: the row interchanges of LU, applied in order, as one permutation */
        if (tid == 0) {
            const int32_t *p = piv + b * n;
            for (int i = 0; i < n; ++i) perm[i] = i;
            for (int i = 0; i < n; ++i) {
                const int q = p[i] - 1;
                if (q >= 0 && q < n && q != i) {
                    const int t = perm[i];
                    perm[i] = perm[q];
                    perm[q] = t;
                }
            }
        }
        __syncthreads();
        for (int i = tid; i < n; i += nt)
            for (int c = 0; c < k; ++c) x[(int64_t)i * k + c] = ld_c(bb[(int64_t)perm[i] * k + c]);
        __syncthreads();
    } else if ((const void *)x != (const void *)bb) {
        for (int64_t t = tid; t < (int64_t)n * k; t += nt) x[t] = ld_c(bb[t]);
        __syncthreads();
    }
    for (int s0 = 0; s0 < n; s0 += 32) {
        const int w = min(32, n - s0);
        if (tid < 32) {
            C v[K], d[32];
            const bool mine = lane < w;
#pragma unroll
            for (int c = 0; c < K; ++c) v[c] = (mine && c < k) ? x[row(s0 + lane) * k + c] : C(0);
#pragma unroll
            for (int t = 0; t < 32; ++t) d[t] = (mine && t <= lane) ? M(s0 + lane, s0 + t) : C(0);
#pragma unroll
            for (int t = 0; t < 32; ++t) {
                if (t >= w) break;
                if (lane == t && !unit)
#pragma unroll
                    for (int c = 0; c < K; ++c) v[c] /= d[t];
#pragma unroll
                for (int c = 0; c < K; ++c) {
                    const C xt = __shfl_sync(0xffffffffu, v[c], t);
                    if (lane > t) v[c] -= d[t] * xt;
                }
            }
            if (mine)
#pragma unroll
                for (int c = 0; c < K; ++c)
                    if (c < k) {
                        x[row(s0 + lane) * k + c] = v[c];
                        if (y) y[row(s0 + lane) * k + c] = st_c<TO>(v[c]); /* final value */
                        xs[lane][c] = v[c];
                    }
        }
        __syncthreads();
        for (int s = s0 + w + tid; s < n; s += nt) {
            C acc[K];
            const int64_t i = row(s);
#pragma unroll
            for (int c = 0; c < K; ++c) acc[c] = c < k ? x[i * k + c] : C(0);
            for (int t = 0; t < w; ++t) {
                const C m = M(s, s0 + t);
#pragma unroll
                for (int c = 0; c < K; ++c) acc[c] -= m * xs[t][c];
            }
#pragma unroll
            for (int c = 0; c < K; ++c)
                if (c < k) x[i * k + c] = acc[c];
        }
        __syncthreads();
    }
}

/* One thread per right-hand side (for many): the substitution of the CPU reference, with the
 * element of op(A) broadcast to the warp and x read along rows (coalesced across threads). */
template <typename C>
__global__ void __launch_bounds__(128)
    trsm_col_kernel(const C *A, int64_t sA, const C *B, C *X, int64_t sB, int n, int k, int lower,
                    int trans, int unit) {
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= k) return;
    const int64_t b = blockIdx.x;
    const C *a = A + b * sA;
    const C *bb = B + b * sB;
    C *x = X + b * sB;
    const bool el = (lower ^ trans) != 0;
    for (int s = 0; s < n; ++s) {
        const int i = el ? s : n - 1 - s;
        const int j0 = el ? 0 : i + 1, j1 = el ? i : n;
        C acc = bb[(int64_t)i * k + c];
        for (int j = j0; j < j1; ++j)
            acc -= (trans ? a[(int64_t)j * n + i] : a[(int64_t)i * n + j]) * x[(int64_t)j * k + c];
        if (!unit) acc /= a[(int64_t)i * n + i];
        x[(int64_t)i * k + c] = acc;
    }
}

/* ---- row interchanges --------------------------------------------------------------------- */
/* dst: (batch, n, k) working copy. If src is given, dst = src (converted) first; then, if piv is
 * given (1-based, (batch, n)), the swaps row i <-> piv[i]-1 in order (forward) or in reverse.
 * One thread per column; an out-of-range pivot is skipped (never read out of bounds). */
template <typename TI, typename C>
__global__ void pivot_rows_kernel(const TI *src, C *dst, const int32_t *piv, int n, int k, int forward) {
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= k) return;
    const int64_t b = blockIdx.x, off = b * (int64_t)n * k;
    if (src)
        for (int i = 0; i < n; ++i) dst[off + (int64_t)i * k + c] = ld_c(src[off + (int64_t)i * k + c]);
    if (!piv) return;
    const int32_t *p = piv + b * n;
    for (int s = 0; s < n; ++s) {
        const int i = forward ? s : n - 1 - s;
        const int q = p[i] - 1;
        if (q < 0 || q >= n || q == i) continue;
        C t = dst[off + (int64_t)i * k + c];
        dst[off + (int64_t)i * k + c] = dst[off + (int64_t)q * k + c];
        dst[off + (int64_t)q * k + c] = t;
    }
}

template <typename TI, typename C>
inline mc_status launch_pivot_rows(const TI *src, C *dst, const int32_t *piv, int64_t batch, int n, int k,
                                   int forward, cudaStream_t s) {
    const int t = k >= 128 ? 128 : ((k + 31) / 32) * 32;
    dim3 grid((unsigned)batch, (unsigned)((k + t - 1) / t));
    pivot_rows_kernel<TI, C><<<grid, t, 0, s>>>(src, dst, piv, n, k, forward);
    return check_launch("row interchanges");
}

template <typename C, typename TO>
__global__ void cast_kernel(const C *src, TO *dst, int64_t count) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = st_c<TO>(src[i]);
}

template <typename C, typename TO>
inline mc_status launch_cast(const C *src, TO *dst, int64_t count, cudaStream_t s) {
    int64_t blocks = (count + 255) / 256;
    if (blocks > 4096) blocks = 4096; /* grid-stride beyond */
    if (blocks < 1) blocks = 1;
    cast_kernel<C, TO><<<(unsigned)blocks, 256, 0, s>>>(src, dst, count);
    return check_launch("cast");
}

/* op(A) X = P B (P from 1-based LU pivots when piv is given, applied in order), B of type TB;
 * X in the working type C; when Y is given the solution is also written there as TO. */
template <typename C, typename TB = C, typename TO = C>
inline mc_status launch_trsm(const C *A, int64_t sA, const TB *B, C *X, int64_t sB, int64_t batch, int n,
                             int k, int lower, int trans, int unit, cudaStream_t s, const int32_t *piv = nullptr,
                             TO *Y = nullptr) {
    if (k <= 8) {
        const int t = n >= 256 ? 256 : (n <= 32 ? 32 : (n + 31) / 32 * 32);
        const size_t smem = piv ? (size_t)n * sizeof(int) : 0;
        if (smem > 48 * 1024) {
            mc_status st = launch_pivot_rows<TB, C>(B, X, piv, batch, n, k, 1, s);
            if (st) return st;
            return launch_trsm<C, C, TO>(A, sA, X, X, sB, batch, n, k, lower, trans, unit, s, nullptr, Y);
        }
#define MC_TRSM_PANEL(K)                                                                           \
    trsm_panel_kernel<C, K, TB, TO><<<(unsigned)batch, t, smem, s>>>(A, sA, B, X, sB, Y, piv, n, k, lower, trans, unit)
        if (k == 1) MC_TRSM_PANEL(1);
        else if (k <= 2) MC_TRSM_PANEL(2);
        else if (k <= 4) MC_TRSM_PANEL(4);
        else MC_TRSM_PANEL(8);
#undef MC_TRSM_PANEL
        return check_launch("trsm");
    }
    const C *src = X;
    if constexpr (std::is_same<TB, C>::value)
        if (!piv) src = B;
    if (src == X && (piv || (const void *)B != (const void *)X)) {
        mc_status st = launch_pivot_rows<TB, C>(B, X, piv, batch, n, k, 1, s);
        if (st) return st;
    }
    const int t = k >= 128 ? 128 : ((k + 31) / 32) * 32;
    dim3 grid((unsigned)batch, (unsigned)((k + t - 1) / t));
    trsm_col_kernel<C><<<grid, t, 0, s>>>(A, sA, src, X, sB, n, k, lower, trans, unit);
    mc_status st = check_launch("trsm");
    if (st || !Y) return st;
    return launch_cast<C, TO>(X, Y, batch * (int64_t)n * k, s);
}

} // namespace dense
} // namespace mc

#endif
