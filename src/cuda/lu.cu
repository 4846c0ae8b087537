/* LU with partial pivoting on CUDA: lu_factor, lu_solve and solve.
 *
 * One thread block per matrix. When [A | B] fits in shared memory (fp32 n = 64 with a few
 * right-hand sides: 17 KiB), or does once its first few columns are kept in global memory (fp32
 * n = 256: 33 of 257 columns), solve is one kernel: eliminate with partial pivoting on the
 * augmented matrix (B carried along as extra columns), then back-substitute; lu_factor is the
 * same kernel without B. Otherwise the block factors in global memory (a column-major working
 * copy for solve, in place in the output for lu_factor), and the solve runs as row interchanges
 * and two triangular solves (dense_common.cuh). Mirrors src/cpu/dense_kernels.h (lu_inplace). */
#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* Matrix accessors for the cores below: element (i, c) as a reference. */
template <typename C, typename Ix> struct Plain {
    C *p;
    Ix ix;
    __device__ __forceinline__ C &operator()(int64_t i, int64_t c) const { return p[ix(i, c)]; }
};
/* Columns [0, c0) in global memory (element (i, c) at g[c * gcs + i * grs]), the rest
 * column-major in shared memory (ld lds). The leading columns become L early and are then only
 * read while their own step runs, so a matrix slightly too big for shared memory (fp32 n = 256:
 * 257 KiB) keeps all its trailing updates in shared memory. */
template <typename C> struct SplitCols {
    C *g;
    int64_t gcs, grs;
    C *s;
    int64_t lds;
    int c0;
    __device__ __forceinline__ C &operator()(int64_t i, int64_t c) const {
        return c < c0 ? g[c * gcs + i * grs] : s[(c - c0) * lds + i];
    }
};

/* (v, i) beats (best, bi): larger |value|, NaN over numbers, the lower row on ties (LAPACK's
 * first maximum). */
template <typename C> __device__ __forceinline__ bool better(C v, int i, C best, int bi) {
    const bool vn = v != v, bn = best != best;
    if (vn != bn) return vn;
    if (vn) return i < bi;
    return v > best || (v == best && i < bi);
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
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                const C ov = __shfl_xor_sync(0xffffffffu, best, o);
                const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
                if (better(ov, oi, best, bi)) {
                    best = ov;
                    bi = oi;
                }
            }
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

/* Back substitution U X = Y on the right-hand-side columns n..n+k-1 of M. */
template <typename C, typename Acc_>
__device__ void back_subst(Acc_ M, int n, int k) {
    for (int j = n - 1; j >= 0; --j) {
        const C d = M(j, j);
        for (int c = threadIdx.x; c < k; c += blockDim.x) M(j, n + c) /= d;
        __syncthreads();
        const int tot = j * k;
        for (int t = threadIdx.x; t < tot; t += blockDim.x) {
            const int i = t % j, c = t / j;
            M(i, n + c) -= M(i, j) * M(j, n + c);
        }
        __syncthreads();
    }
}

/* A: (batch, n, n); B, X: (batch, n, k) or NULL (k = 0: factor only); LU: (batch, n, n) or NULL;
 * pivots: (batch, n) or NULL; info: (batch,). [A | B] column-major in shared memory, except its
 * first c0 columns (SplitCols): in LU itself when factoring, else in gws (batch, c0, n). */
template <typename T>
__global__ void __launch_bounds__(1024)
    lu_smem_kernel(const T *A, const T *B, T *X, T *LU, int32_t *pivots, int32_t *info, int n, int k,
                   int c0, typename Acc<T>::type *gws) {
    using C = typename Acc<T>::type;
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t ld = odd_ld(n);
    C *S = reinterpret_cast<C *>(smem);
    int32_t *piv = reinterpret_cast<int32_t *>(S + ld * (n + k - c0));
    const int64_t b = blockIdx.x, nn = (int64_t)n * n, nk = (int64_t)n * k;
    /* Global columns: in place in the row-major LU output when factoring (T is the working
     * type there), else column-major in the workspace. */
    SplitCols<C> M{nullptr, n, 1, S, ld, c0};
    if (c0 > 0) {
        if (LU) {
            M.g = reinterpret_cast<C *>(LU) + b * nn;
            M.gcs = 1;
            M.grs = n;
        } else {
            M.g = gws + b * (int64_t)n * c0;
        }
    }
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) M(t / n, t % n) = ld_c(A[b * nn + t]);
    for (int64_t t = threadIdx.x; t < nk; t += blockDim.x) M(t / k, n + t % k) = ld_c(B[b * nk + t]);
    __syncthreads();
    const int inf = lu_core<C>(M, n, n + k, piv);
    __syncthreads();
    if (threadIdx.x == 0) info[b] = inf;
    if (LU) {
        for (int64_t t = threadIdx.x; t < nn; t += blockDim.x)
            if (t % n >= c0) LU[b * nn + t] = st_c<T>(M(t / n, t % n));
        for (int i = threadIdx.x; i < n; i += blockDim.x) pivots[b * n + i] = piv[i];
    }
    if (X) {
        back_subst<C>(M, n, k);
        for (int64_t t = threadIdx.x; t < nk; t += blockDim.x) X[b * nk + t] = st_c<T>(M(t / k, n + t % k));
    }
}

/* Factors in global memory: W = A (converted, in layout ix) then L\U in place.
 * W: (batch, n, n) with per-matrix stride n*n; piv: (batch, n) 1-based; info: (batch,). */
template <typename T, typename C, typename Ix>
__global__ void __launch_bounds__(1024)
    lu_global_kernel(const T *A, C *W, Ix ix, int32_t *piv, int32_t *info, int n) {
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const Plain<C, Ix> M{W + b * nn, ix};
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) M(t / n, t % n) = ld_c(A[b * nn + t]);
    __syncthreads();
    const int inf = lu_core<C>(M, n, n, piv + b * n);
    if (threadIdx.x == 0) info[b] = inf;
}

/* How a call runs: in shared memory with its first c0 columns in global memory (c0 = 0: all in
 * shared memory), or (c0 < 0) entirely in global memory. At most a quarter of the columns go
 * to global memory; beyond that the split saves little. */
template <typename T> int plan_c0(const mc_dense_args *a, int64_t k) {
    using C = typename Acc<T>::type;
    const int64_t ld = odd_ld(a->n), cols = a->n + k;
    const int64_t avail = (int64_t)max_smem(a->device) - 1024 - a->n * (int64_t)sizeof(int32_t);
    const int64_t fit = avail > 0 ? avail / (ld * (int64_t)sizeof(C)) : 0;
    const int64_t c0 = cols - fit;
    if (c0 <= 0) return 0;
    if (c0 > a->n / 4) return -1;
    return (int)c0;
}

template <typename T> size_t smem_bytes(const mc_dense_args *a, int64_t k, int c0) {
    using C = typename Acc<T>::type;
    return (size_t)(odd_ld(a->n) * (a->n + k - c0)) * sizeof(C) + (size_t)a->n * sizeof(int32_t);
}

template <typename T>
mc_status launch_smem(const mc_dense_args *a, const T *B, T *X, T *LU, int32_t *pivots, int64_t k, int c0,
                      typename Acc<T>::type *gws) {
    const size_t bytes = smem_bytes<T>(a, k, c0);
    mc_status st = allow_smem(lu_smem_kernel<T>, bytes, "lu");
    if (st) return st;
    /* about 16 columns per warp: enough warps to hide latency, few enough to fit many blocks */
    const int threads = block_threads((a->n + k + 3) / 4, 32);
    lu_smem_kernel<T><<<(unsigned)a->batch, threads, bytes, mc::as_stream(a->stream)>>>(
        static_cast<const T *>(a->a), B, X, LU, pivots, a->info, (int)a->n, (int)k, c0, gws);
    return mc::check_launch("lu (shared memory)");
}

/* X = A^{-1} B (or A^{-T} B) from row-major LU and pivots; X may not alias B. */
template <typename C>
mc_status lu_solve_rowmajor(const C *LU, const int32_t *piv, const C *B, C *X, int64_t batch, int n, int k,
                            int trans, cudaStream_t s) {
    const int64_t sA = (int64_t)n * n, sB = (int64_t)n * k;
    mc_status st;
    if (!trans) {
        if ((st = launch_pivot_rows<C, C>(B, X, piv, batch, n, k, 1, s))) return st;
        if ((st = launch_trsm<C>(LU, sA, X, X, sB, batch, n, k, 1, 0, 1, s))) return st;
        return launch_trsm<C>(LU, sA, X, X, sB, batch, n, k, 0, 0, 0, s);
    }
    /* A = P^T L U, so A^T = U^T L^T P. */
    if ((st = launch_trsm<C>(LU, sA, B, X, sB, batch, n, k, 0, 1, 0, s))) return st;
    if ((st = launch_trsm<C>(LU, sA, X, X, sB, batch, n, k, 1, 1, 1, s))) return st;
    return launch_pivot_rows<C, C>(nullptr, X, piv, batch, n, k, 0, s);
}

template <typename T> mc_status factor(const mc_dense_args *a) {
    T *LU = static_cast<T *>(a->out);
    const int c0 = plan_c0<T>(a, 0);
    if (c0 >= 0) return launch_smem<T>(a, nullptr, nullptr, LU, a->pivots, 0, c0, nullptr);
    lu_global_kernel<T, T, RowMajor><<<(unsigned)a->batch, 1024, 0, mc::as_stream(a->stream)>>>(
        static_cast<const T *>(a->a), LU, RowMajor{a->n}, a->pivots, a->info, (int)a->n);
    return mc::check_launch("lu_factor (global memory)");
}

/* Workspace of solve. Split shared/global: the c0 global columns of each matrix (n*c0 working
 * values). Global: per matrix W (n*n, column-major) and Xw (n*k) in the working type, then
 * pivots for the whole batch. */
template <typename T> size_t solve_ws(const mc_dense_args *a) {
    using C = typename Acc<T>::type;
    const int c0 = plan_c0<T>(a, a->k);
    if (c0 >= 0) return (size_t)a->batch * (size_t)(a->n * c0) * sizeof(C);
    return (size_t)a->batch * ((size_t)(a->n * a->n + a->n * a->k) * sizeof(C) + (size_t)a->n * sizeof(int32_t));
}

template <typename T> mc_status solve(const mc_dense_args *a) {
    using C = typename Acc<T>::type;
    const T *B = static_cast<const T *>(a->b);
    T *X = static_cast<T *>(a->out);
    const int c0 = plan_c0<T>(a, a->k);
    if (c0 >= 0) return launch_smem<T>(a, B, X, nullptr, nullptr, a->k, c0, static_cast<C *>(a->workspace));
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n, k = (int)a->k;
    const int64_t nn = a->n * a->n, nk = a->n * a->k;
    C *W = static_cast<C *>(a->workspace);
    C *Xw = W + a->batch * nn;
    int32_t *piv = reinterpret_cast<int32_t *>(Xw + a->batch * nk);
    lu_global_kernel<T, C, ColMajor><<<(unsigned)a->batch, 1024, 0, s>>>(static_cast<const T *>(a->a), W,
                                                                          ColMajor{a->n}, piv, a->info, n);
    mc_status st = mc::check_launch("solve (global memory)");
    if (st) return st;
    if ((st = launch_pivot_rows<T, C>(B, Xw, piv, a->batch, n, k, 1, s))) return st;
    /* W holds LU column-major, i.e. the row-major matrix M = LU^T: L = M^T (M's upper triangle,
     * unit diagonal) and U = M^T (M's lower triangle). */
    if ((st = launch_trsm<C>(W, nn, Xw, Xw, nk, a->batch, n, k, 0, 1, 1, s))) return st;
    if ((st = launch_trsm<C>(W, nn, Xw, Xw, nk, a->batch, n, k, 1, 1, 0, s))) return st;
    return launch_cast<C, T>(Xw, X, a->batch * nk, a->device, s);
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
