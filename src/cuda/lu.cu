/* LU with partial pivoting on CUDA: lu_factor, lu_solve and solve.
 *
 * One thread block per matrix: blocked by 32 columns with the panel in registers for n <= 256
 * (lu_blocked_kernel), one column at a time in global memory beyond (lu_global_kernel; the
 * Python layer sends large matrices to cuSOLVER). solve = factor into a working copy, then the
 * row interchanges and two triangular solves of dense_common.cuh. 16-bit solve factors and
 * solves in fp32 and rounds once at the end. Mirrors src/cpu/dense_kernels.h (lu_inplace). */
#include <type_traits>

#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* Matrix accessors for the cores below: element (i, c) as a reference. */
template <typename C, typename Ix> struct Plain {
    C *p;
    Ix ix;
    __device__ __forceinline__ C &operator()(int64_t i, int64_t c) const { return p[ix(i, c)]; }
};
/* (v, i) beats (best, bi): larger |value|, NaN over numbers, the lower row on ties (LAPACK's
 * first maximum). */
template <typename C> __device__ __forceinline__ bool better(C v, int i, C best, int bi) {
    const bool vn = v != v, bn = best != best;
    if (vn != bn) return vn;
    if (vn) return i < bi;
    return v > best || (v == best && i < bi);
}

/* Warp-wide argmax: every lane ends with the (value, row) pair that beats all the lanes' pairs
 * under better(). */
template <typename C> __device__ __forceinline__ void warp_argmax(C &best, int &bi) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const C ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ov, oi, best, bi)) {
            best = ov;
            bi = oi;
        }
    }
}

/* Eliminates columns 0..n-1 of M (element (i, c) is M(i, c); n rows, ncols >= n columns; columns n.. are right-hand sides
 * carried along) with partial pivoting, in place: L\U and L^{-1} P B. piv: n ints, 1-based,
 * shared or global. Returns 0 or 1 + the first exactly-zero pivot column; uniform. */
template <typename C, typename Acc_>
__device__ int lu_core(Acc_ M, int n, int ncols, int32_t *piv) {
    __shared__ int s_p;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    int info = 0;
    for (int j = 0; j < n; ++j) {
        if (warp == 0) {
            C best = C(-1);
            int bi = j;
            for (int i = j + lane; i < n; i += 32) {
                const C v = fabs(M(i, j));
                if (better(v, i, best, bi)) {
                    best = v;
                    bi = i;
                }
            }
            warp_argmax(best, bi);
            if (lane == 0) {
                s_p = bi;
                piv[j] = bi + 1;
            }
        }
        __syncthreads();
        const int p = s_p;
        if (p != j)
            for (int c = tid; c < ncols; c += nt) {
                const C t = M(j, c);
                M(j, c) = M(p, c);
                M(p, c) = t;
            }
        __syncthreads();
        const C d = M(j, j);
        if (d == C(0)) { /* uniform: every thread read the same d; nothing written since */
            if (!info) info = j + 1;
            continue;
        }
        for (int i = j + 1 + tid; i < n; i += nt) M(i, j) /= d;
        __syncthreads();
        for (int c = j + 1 + warp; c < ncols; c += nw) {
            const C u = M(j, c);
            for (int i = j + 1 + lane; i < n; i += 32) M(i, c) -= M(i, j) * u;
        }
        __syncthreads();
    }
    return info;
}

/* Factors in global memory: W = A (converted, in layout ix) then L\U in place.
 * A: (batch, n, n); W: (batch, n, n) with per-matrix stride n*n, not overlapping A (the output of
 * lu_factor, which mc_lu_factor checks is not A, or solve's workspace); piv: (batch, n) 1-based;
 * info: (batch,). */
template <typename T, typename C, typename Ix>
__global__ void __launch_bounds__(1024)
    lu_global_kernel(const T *__restrict__ A, C *__restrict__ W, Ix ix, int32_t *piv, int32_t *info, int n) {
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const Plain<C, Ix> M{W + b * nn, ix};
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) M(t / n, t % n) = ld_c(A[b * nn + t]);
    __syncthreads();
    const int inf = lu_core<C>(M, n, n, piv + b * n);
    if (threadIdx.x == 0) info[b] = inf;
}

/* Blocked right-looking LU with partial pivoting (n <= 256), one thread block per matrix, 32
 * columns per step. Thread t owns row c0 + t of the panel, its 32 panel values in registers:
 * per column, one block-wide argmax picks the pivot, the pivot row is swapped and broadcast
 * through shared memory, and every row below eliminates in registers (two barriers per column
 * instead of a pass over the whole trailing matrix). Then the panel's interchanges reach the
 * other columns, U12 = L11^{-1} A12 (a thread per column), and A22 -= L21 U12 in 4x4 register
 * tiles from shared copies of L21 and U12. The matrix S is in shared memory when it fits (two
 * blocks per multiprocessor), else in place in W. Ideas: LAPACK's getrf (blocked right-looking,
 * deferred interchanges) and MAGMA's batched getrf with a register panel; the code is our own. */
constexpr int LNB = 32, LPLD = 33, LU_BLOCKED_MAX_N = 256;

template <typename C> __host__ __device__ inline int64_t lu_smem_elems(int n, bool square) {
    const int64_t rows = (int64_t)(n + 3) / 4 * 4;
    return (square ? (int64_t)n * odd_ld(n) : 0) + 2 * rows * LPLD + 2 * LPLD + 64;
}

/* A: (batch, n, n) row-major (input type T); W: (batch, n, n) row-major in the working type C,
 * not overlapping A (as for lu_global_kernel), gets L\U; piv: (batch, n) 1-based; info: (batch,).
 * blockDim.x >= n, a multiple of 32. */
template <typename T, typename C, bool SQUARE>
__global__ void __launch_bounds__(256)
    lu_blocked_kernel(const T *__restrict__ A, C *__restrict__ W, int32_t *pivots, int32_t *info, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int s_p, s_piv[LNB];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const int64_t ld = SQUARE ? odd_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *w = W + b * nn;
    C *S = SQUARE ? base : w;
    const int64_t rows4 = (int64_t)(n + 3) / 4 * 4;
    C *Pl = base + (SQUARE ? n * ld : 0); /* L21: (rows, 33) */
    C *Pu = Pl + rows4 * LPLD;              /* U12^T: (cols, 33) */
    C *prow = Pu + rows4 * LPLD;            /* pivot row of the panel (33) */
    C *jrow = prow + LPLD;                  /* row displaced by the swap (33) */
    C *rv = jrow + LPLD;                    /* argmax scratch: 32 values */
    int *ri = reinterpret_cast<int *>(rv + 32);
    int32_t *piv = pivots + b * n;
    const T *a = A + b * nn;
    for (int i = warp; i < n; i += nw) /* a row per warp: coalesced, no 64-bit division */
        for (int j = lane; j < n; j += 32) S[i * ld + j] = ld_c(a[(int64_t)i * n + j]);
    __syncthreads();
    int inf = 0;
    for (int c0 = 0; c0 < n; c0 += LNB) {
        const int wd = min(LNB, n - c0), m = n - c0;
        const int r = c0 + tid; /* this thread's row */
        const bool own = tid < m;
        C x[LNB];
#pragma unroll
        for (int q = 0; q < LNB; ++q) x[q] = (own && q < wd) ? S[r * ld + c0 + q] : C(0);
#pragma unroll
        for (int j = 0; j < LNB; ++j) {
            if (j >= wd) break;
            /* pivot: the largest |x_j| over rows c0 + j.. (NaN first, lowest row on ties) */
            C best = (own && tid >= j) ? fabs(x[j]) : C(-1);
            int bi = (own && tid >= j) ? tid : m;
            warp_argmax(best, bi);
            if (lane == 0) {
                rv[warp] = best;
                ri[warp] = bi;
            }
            __syncthreads();
            if (tid == 0) {
                C bv = rv[0];
                int bx = ri[0];
                for (int k = 1; k < nw; ++k)
                    if (better(rv[k], ri[k], bv, bx)) {
                        bv = rv[k];
                        bx = ri[k];
                    }
                s_p = bx;
                s_piv[j] = bx;
                piv[c0 + j] = c0 + bx + 1;
            }
            __syncthreads();
            const int p = s_p;
            if (tid == p)
#pragma unroll
                for (int q = 0; q < LNB; ++q) prow[q] = x[q];
            if (tid == j && p != j)
#pragma unroll
                for (int q = 0; q < LNB; ++q) jrow[q] = x[q];
            __syncthreads();
            if (p != j) {
                if (tid == j)
#pragma unroll
                    for (int q = 0; q < LNB; ++q) x[q] = prow[q];
                else if (tid == p)
#pragma unroll
                    for (int q = 0; q < LNB; ++q) x[q] = jrow[q];
            }
            const C d = prow[j];
            if (d == C(0)) {
                if (!inf) inf = c0 + j + 1; /* uniform; LAPACK's info, elimination skipped */
            } else if (own && tid > j) {
                const C l = x[j] / d;
                x[j] = l;
#pragma unroll
                for (int q = j + 1; q < LNB; ++q) x[q] -= l * prow[q];
            }
            /* the next column's pivot writes prow only after the next argmax barrier */
        }
        if (own)
#pragma unroll
            for (int q = 0; q < LNB; ++q)
                if (q < wd) {
                    S[r * ld + c0 + q] = x[q];
                    if (tid >= wd) Pl[(tid - wd) * LPLD + q] = x[q];
                }
        __syncthreads();
        /* the panel's interchanges on the other columns, in order */
        for (int c = tid; c < n; c += nt) {
            if (c >= c0 && c < c0 + wd) continue;
            for (int j = 0; j < wd; ++j) {
                const int p = s_piv[j];
                if (p != j) {
                    const C t = S[(c0 + j) * ld + c];
                    S[(c0 + j) * ld + c] = S[(c0 + p) * ld + c];
                    S[(c0 + p) * ld + c] = t;
                }
            }
        }
        __syncthreads();
        const int r0 = c0 + wd, rest = n - r0;
        if (rest <= 0) break;
        /* U12 = L11^{-1} A12, L11 unit lower (rows c0.., columns c0.. of S) */
        for (int c = r0 + tid; c < n; c += nt) {
            C u[LNB];
#pragma unroll
            for (int j = 0; j < LNB; ++j) {
                if (j >= wd) break;
                C v = S[(c0 + j) * ld + c];
#pragma unroll
                for (int q = 0; q < j; ++q) v -= S[(c0 + j) * ld + c0 + q] * u[q];
                u[j] = v;
            }
#pragma unroll
            for (int j = 0; j < LNB; ++j)
                if (j < wd) {
                    S[(c0 + j) * ld + c] = u[j];
                    Pu[(c - r0) * LPLD + j] = u[j];
                }
        }
        __syncthreads();
        /* A22 -= L21 U12 in 4x4 tiles */
        const int mt = (rest + 3) / 4, tiles = mt * mt;
        for (int tile = tid; tile < tiles; tile += nt) {
            const int ti = tile / mt, tj = tile % mt;
            C acc[4][4] = {};
            for (int q = 0; q < wd; ++q) {
                C u[4], v[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    u[e] = Pl[(4 * ti + e) * LPLD + q];
                    v[e] = Pu[(4 * tj + e) * LPLD + q];
                }
#pragma unroll
                for (int e = 0; e < 4; ++e)
#pragma unroll
                    for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
            }
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int i = 4 * ti + e, j = 4 * tj + f;
                    if (i < rest && j < rest) S[(int64_t)(r0 + i) * ld + r0 + j] -= acc[e][f];
                }
        }
        __syncthreads();
    }
    if (SQUARE)
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32) w[(int64_t)i * n + j] = S[i * ld + j];
    if (tid == 0) info[b] = inf;
}

/* Factors A into W (row-major, working type) with pivots and info: blocked for n <= 256, else
 * the one-column-at-a-time kernel in global memory. */
template <typename T, typename C>
mc_status launch_factor(const mc_dense_args *a, const T *A, C *W, int32_t *piv) {
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n;
    if (n > LU_BLOCKED_MAX_N) {
        lu_global_kernel<T, C, RowMajor><<<(unsigned)a->batch, 1024, 0, s>>>(A, W, RowMajor{a->n}, piv, a->info, n);
        return mc::check_launch("lu (global memory)");
    }
    const int threads = n <= 32 ? 32 : (n + 31) / 32 * 32;
    const size_t square = (size_t)lu_smem_elems<C>(n, true) * sizeof(C);
    if (square <= (size_t)mc::max_dyn_smem(a->device) / 2) {
        if (const cudaError_t e = mc::allow_smem(lu_blocked_kernel<T, C, true>, square))
            return mc::launch_status(e, "lu: shared memory opt-in");
        lu_blocked_kernel<T, C, true><<<(unsigned)a->batch, threads, square, s>>>(A, W, piv, a->info, n);
    } else {
        const size_t bytes = (size_t)lu_smem_elems<C>(n, false) * sizeof(C);
        if (const cudaError_t e = mc::allow_smem(lu_blocked_kernel<T, C, false>, bytes))
            return mc::launch_status(e, "lu: shared memory opt-in");
        lu_blocked_kernel<T, C, false><<<(unsigned)a->batch, threads, bytes, s>>>(A, W, piv, a->info, n);
    }
    return mc::check_launch("lu");
}

/* X = A^{-1} B (or A^{-T} B) from row-major LU and pivots; X may not alias B. */
template <typename C>
mc_status lu_solve_rowmajor(const C *LU, const int32_t *piv, const C *B, C *X, int64_t batch, int n, int k,
                            int trans, cudaStream_t s) {
    const int64_t sA = (int64_t)n * n, sB = (int64_t)n * k;
    mc_status st;
    if (!trans) {
        if ((st = launch_trsm<C>(LU, sA, B, X, sB, batch, n, k, 1, 0, 1, s, piv))) return st;
        return launch_trsm<C>(LU, sA, X, X, sB, batch, n, k, 0, 0, 0, s);
    }
    /* A = P^T L U, so A^T = U^T L^T P. */
    if ((st = launch_trsm<C>(LU, sA, B, X, sB, batch, n, k, 0, 1, 0, s))) return st;
    if ((st = launch_trsm<C>(LU, sA, X, X, sB, batch, n, k, 1, 1, 1, s))) return st;
    return launch_pivot_rows<C, C>(nullptr, X, piv, batch, n, k, 0, s);
}

template <typename T> mc_status factor(const mc_dense_args *a) {
    return launch_factor<T, T>(a, static_cast<const T *>(a->a), static_cast<T *>(a->out), a->pivots);
}

/* Workspace of solve: per matrix W (n*n, row-major L\U) and, for 16-bit inputs, Xw (n*k), both
 * in the working type; then the pivots of the whole batch. */
template <typename T> size_t solve_ws(const mc_dense_args *a) {
    using C = typename Acc<T>::type;
    const int64_t xw = std::is_same<T, C>::value ? 0 : a->n * a->k;
    return (size_t)a->batch * ((size_t)(a->n * a->n + xw) * sizeof(C) + (size_t)a->n * sizeof(int32_t));
}

template <typename T> mc_status solve(const mc_dense_args *a) {
    using C = typename Acc<T>::type;
    constexpr bool same = std::is_same<T, C>::value;
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n, k = (int)a->k;
    const int64_t nn = a->n * a->n, nk = a->n * a->k;
    C *W = static_cast<C *>(a->workspace);
    C *Xw = same ? reinterpret_cast<C *>(a->out) : W + a->batch * nn;
    int32_t *piv = reinterpret_cast<int32_t *>((same ? W : Xw) + a->batch * (same ? nn : nk));
    mc_status st = launch_factor<T, C>(a, static_cast<const T *>(a->a), W, piv);
    if (st) return st;
    /* L y = P b reads b (T) through the pivots; U x = y writes x (T) as it finishes each row */
    if ((st = launch_trsm<C, T>(W, nn, static_cast<const T *>(a->b), Xw, nk, a->batch, n, k, 1, 0, 1, s, piv)))
        return st;
    return launch_trsm<C, C, T>(W, nn, Xw, Xw, nk, a->batch, n, k, 0, 0, 0, s, nullptr,
                                same ? nullptr : static_cast<T *>(a->out));
}

template <template <typename> class Op, bool ALLOW16> mc_status dispatch(const mc_dense_args *a, const char *what) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return Op<float>::run(a);
    case MC_DTYPE_F64: return Op<double>::run(a);
    default: break;
    }
    if constexpr (ALLOW16) {
        if (a->dtype == MC_DTYPE_F16) return Op<__half>::run(a);
        if (a->dtype == MC_DTYPE_BF16) return Op<__nv_bfloat16>::run(a);
    }
    return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: %s not supported on CUDA", what, mc_dtype_name(a->dtype));
}

template <typename T> struct Factor { static mc_status run(const mc_dense_args *a) { return factor<T>(a); } };
template <typename T> struct Solve { static mc_status run(const mc_dense_args *a) { return solve<T>(a); } };
template <typename T> struct LuSolve {
    static mc_status run(const mc_dense_args *a) {
        return lu_solve_rowmajor<T>(static_cast<const T *>(a->a), a->pivots_in, static_cast<const T *>(a->b),
                                    static_cast<T *>(a->out), a->batch, (int)a->n, (int)a->k, a->transpose,
                                    mc::as_stream(a->stream));
    }
};

} // namespace

extern "C" mc_status mc_cuda_lu_factor(const mc_dense_args *a) { return dispatch<Factor, false>(a, "lu_factor"); }
extern "C" mc_status mc_cuda_lu_solve(const mc_dense_args *a) { return dispatch<LuSolve, false>(a, "lu_solve"); }
extern "C" mc_status mc_cuda_solve(const mc_dense_args *a) { return dispatch<Solve, true>(a, "solve"); }

extern "C" size_t mc_cuda_solve_workspace_size(const mc_dense_args *a) {
    switch (a->dtype) {
    case MC_DTYPE_F64: return solve_ws<double>(a);
    case MC_DTYPE_F32: return solve_ws<float>(a);
    default: return solve_ws<__half>(a); /* f16 and bf16: the same f32 working copy */
    }
}
