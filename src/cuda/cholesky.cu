/* Cholesky on CUDA: one thread block per matrix. The lower triangle lives packed in shared
 * memory when it fits (fp32 up to n ~ 330); otherwise the block factors in place in the output
 * (global memory, correct at any n; the Python layer sends single large matrices to cuSOLVER).
 * Right-looking: per column, scale by the pivot's square root, then update the trailing
 * triangle with one warp per row. Mirrors src/cpu/dense_kernels.h (chol_inplace). */
#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* Factors the lower triangle of S (element (i, j), i >= j, at S[ix(i, j)]) in place.
 * Returns 0 or the order of the first non-positive (or NaN) leading minor; uniform across the block. */
template <typename C, typename Ix>
__device__ int chol_core(C *S, Ix ix, int n) {
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    for (int j = 0; j < n; ++j) {
        const C d = S[ix(j, j)];
        __syncthreads(); /* every thread has read d before thread 0 overwrites it */
        if (!(d > C(0))) return j + 1;
        const C r = sqrt(d), inv = C(1) / r;
        for (int i = j + 1 + tid; i < n; i += nt) S[ix(i, j)] *= inv;
        if (tid == 0) S[ix(j, j)] = r;
        __syncthreads();
        for (int i = j + 1 + warp; i < n; i += nw) {
            const C lij = S[ix(i, j)];
            for (int c = j + 1 + lane; c <= i; c += 32) S[ix(i, c)] -= lij * S[ix(c, j)];
        }
        __syncthreads();
    }
    return 0;
}

/* A, L: (batch, n, n); info: (batch,). Packed lower triangle in shared memory. */
template <typename T>
__global__ void __launch_bounds__(1024)
    chol_smem_kernel(const T *A, T *L, int32_t *info, int n, int upper) {
    using C = T;
    extern __shared__ __align__(16) unsigned char smem[];
    C *S = reinterpret_cast<C *>(smem);
    const PackedLower ix;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const T *a = A + b * nn;
    T *l = L + b * nn;
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) {
        const int64_t i = t / n, j = t % n;
        if (j <= i) S[ix(i, j)] = a[t];
    }
    __syncthreads();
    const int inf = chol_core(S, ix, n);
    __syncthreads();
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) {
        const int64_t i = t / n, j = t % n;
        l[t] = upper ? (i <= j ? S[ix(j, i)] : C(0)) : (j <= i ? S[ix(i, j)] : C(0));
    }
    if (threadIdx.x == 0) info[b] = inf;
}

/* Same, in place in L (row-major, global memory). */
template <typename T>
__global__ void __launch_bounds__(1024)
    chol_global_kernel(const T *A, T *L, int32_t *info, int n, int upper) {
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const T *a = A + b * nn;
    T *l = L + b * nn;
    for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) {
        const int64_t i = t / n, j = t % n;
        l[t] = j <= i ? a[t] : T(0);
    }
    __syncthreads();
    const int inf = chol_core(l, RowMajor{n}, n);
    __syncthreads();
    if (upper)
        for (int64_t t = threadIdx.x; t < nn; t += blockDim.x) {
            const int64_t i = t / n, j = t % n;
            if (j < i) { /* each pair (i, j) belongs to this thread only */
                l[j * n + i] = l[t];
                l[t] = T(0);
            }
        }
    if (threadIdx.x == 0) info[b] = inf;
}

template <typename T> mc_status launch(const mc_dense_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n;
    const T *A = static_cast<const T *>(a->a);
    T *L = static_cast<T *>(a->out);
    const size_t bytes = (size_t)a->n * (a->n + 1) / 2 * sizeof(T);
    if (bytes + 1024 <= (size_t)max_smem(a->device)) {
        /* about n/16 warps: the trailing update is small (n^3/6 in all), so few threads per
         * matrix and many matrices per multiprocessor */
        const int threads = block_threads((a->n + 3) / 4, 32);
        mc_status st = allow_smem(chol_smem_kernel<T>, bytes, "cholesky");
        if (st) return st;
        chol_smem_kernel<T><<<(unsigned)a->batch, threads, bytes, s>>>(A, L, a->info, n, a->upper);
    } else {
        chol_global_kernel<T><<<(unsigned)a->batch, 1024, 0, s>>>(A, L, a->info, n, a->upper);
    }
    return mc::check_launch("cholesky");
}

} // namespace

extern "C" mc_status mc_cuda_cholesky(const mc_dense_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    if (a->dtype == MC_DTYPE_F64) return launch<double>(a);
    if (a->dtype == MC_DTYPE_F32) return launch<float>(a);
    return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "cholesky: %s not supported on CUDA", mc_dtype_name(a->dtype));
}
