/* Cholesky on CUDA: one thread block per matrix, blocked by 32 columns (see
 * chol_blocked_kernel). Mirrors src/cpu/dense_kernels.h (chol_inplace) in what it computes and
 * reports: L (or U = L^T), and info = the order of the first leading minor that is not
 * positive-definite (NaN counts as not positive). */
#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* Blocked right-looking Cholesky, one thread block per matrix, 32 columns per step:
 *  1. warp 0 factors the 32x32 diagonal block in registers (a lane per row; column t reaches
 *     the lanes below by shuffles) and leaves it in Ld (shared);
 *  2. every thread takes rows below the block and solves x Ld^T = a for its row's 32 values in
 *     registers (Ld read as shared-memory broadcasts), keeping the result in P (shared);
 *  3. the trailing triangle is updated, T -= P P^T, in 4x4 register tiles read from P.
 * The matrix S lives in shared memory (padded odd leading dimension) when it fits, else in
 * place in the output L (global memory, L2 resident while the block works on it).
 * Three barriers per 32 columns instead of three per column. Ideas: LAPACK's blocked potrf and
 * MAGMA's batched "small size" potrf (register panel); the code is our own. */
constexpr int NB = 32, PLD = 33;

__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return rsqrt(x); }

template <typename C> __host__ __device__ inline int64_t chol_smem_elems(int n, bool square) {
    const int64_t prow = (int64_t)(n + 3) / 4 * 4;
    return (square ? (int64_t)n * odd_ld(n) : 0) + NB * PLD + prow * PLD;
}

/* A, L: (batch, n, n) row-major; info: (batch,). SQUARE: S in shared memory. */
template <typename C, bool SQUARE>
__global__ void __launch_bounds__(256)
    chol_blocked_kernel(const C *A, C *L, int32_t *info, int n, int upper) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int fail;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const int64_t ld = SQUARE ? odd_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *S = SQUARE ? base : L + b * nn;
    C *Ld = base + (SQUARE ? n * ld : 0);
    C *P = Ld + NB * PLD;
    const C *a = A + b * nn;
    const int warp = tid >> 5, nw = nt >> 5;
    /* a row per warp: coalesced, and no 64-bit division per element */
    for (int i = warp; i < n; i += nw)
        for (int j = lane; j < n; j += 32) {
            if (j <= i) S[i * ld + j] = a[(int64_t)i * n + j];
            else if (!SQUARE) S[(int64_t)i * n + j] = C(0);
        }
    if (tid == 0) fail = 0;
    __syncthreads();
    /* fp32 in global memory with rows of a multiple of 4: trailing tiles move as float4 (r0 is
     * a multiple of 32, the output 16-byte aligned) */
    const bool vec4 = !SQUARE && sizeof(C) == 4 && n % 4 == 0 && (reinterpret_cast<uintptr_t>(S) & 15) == 0;
    for (int c0 = 0; c0 < n; c0 += NB) {
        const int w = min(NB, n - c0);
        if (tid < 32) {
            C r[NB];
            const bool mine = lane < w;
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = (mine && t <= lane) ? S[(c0 + lane) * ld + c0 + t] : C(0);
            int bad = 0;
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                const C d = __shfl_sync(0xffffffffu, r[t], t); /* pivot after all earlier updates */
                if (!(d > C(0)) && !bad) bad = c0 + t + 1;       /* uniform: d is the same in every lane */
                const C ri = rsqrt_(d);                          /* NaN for d <= 0: reported above */
                r[t] = lane == t ? d * ri : r[t] * ri;
#pragma unroll
                for (int q = t + 1; q < NB; ++q) {
                    const C lqt = __shfl_sync(0xffffffffu, r[t], q);
                    if (lane >= q) r[q] -= r[t] * lqt;
                }
            }
            if (mine)
#pragma unroll
                for (int t = 0; t < NB; ++t)
                    if (t <= lane) {
                        S[(c0 + lane) * ld + c0 + t] = r[t];
                        /* the diagonal is kept inverted: the panel below multiplies by it */
                        Ld[lane * PLD + t] = t == lane ? C(1) / r[t] : r[t];
                    }
            if (lane == 0 && bad) fail = bad;
        }
        __syncthreads();
        if (fail) break; /* uniform; like potrf, stop at the first failing minor */
        const int r0 = c0 + w, m = n - r0;
        for (int s = r0 + tid; s < n; s += nt) {
            C x[NB];
#pragma unroll
            for (int t = 0; t < NB; ++t) x[t] = t < w ? S[s * ld + c0 + t] : C(0);
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                C v = x[t];
#pragma unroll
                for (int q = 0; q < t; ++q) v -= x[q] * Ld[t * PLD + q];
                x[t] = v * Ld[t * PLD + t];
            }
#pragma unroll
            for (int t = 0; t < NB; ++t)
                if (t < w) {
                    S[s * ld + c0 + t] = x[t];
                    P[(s - r0) * PLD + t] = x[t];
                }
        }
        __syncthreads();
        const int mt = (m + 3) / 4, ntiles = mt * (mt + 1) / 2;
        for (int tile = tid; tile < ntiles; tile += nt) {
            int ti = (int)((sqrtf(8.f * tile + 1.f) - 1.f) * 0.5f);
            while (ti * (ti + 1) / 2 > tile) --ti;
            while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
            const int tj = tile - ti * (ti + 1) / 2;
            C acc[4][4] = {};
            for (int q = 0; q < w; ++q) {
                C u[4], v[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    u[e] = P[(4 * ti + e) * PLD + q];
                    v[e] = P[(4 * tj + e) * PLD + q];
                }
#pragma unroll
                for (int e = 0; e < 4; ++e)
#pragma unroll
                    for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
            }
            if (vec4 && tj < ti && 4 * ti + 3 < m) { /* whole tile below the diagonal: 16-byte rows */
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float4 *p4 = reinterpret_cast<float4 *>(&S[(int64_t)(r0 + 4 * ti + e) * ld + r0 + 4 * tj]);
                    float4 t4 = *p4;
                    t4.x -= acc[e][0];
                    t4.y -= acc[e][1];
                    t4.z -= acc[e][2];
                    t4.w -= acc[e][3];
                    *p4 = t4;
                }
                continue;
            }
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int i = 4 * ti + e, j = 4 * tj + f;
                    if (i < m && j <= i) S[(int64_t)(r0 + i) * ld + r0 + j] -= acc[e][f];
                }
        }
        __syncthreads();
    }
    C *l = L + b * nn;
    if (SQUARE) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32)
                l[(int64_t)i * n + j] = upper ? (i <= j ? S[j * ld + i] : C(0)) : (j <= i ? S[i * ld + j] : C(0));
    } else if (upper) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < i; j += 32) { /* each pair (i, j), j < i, belongs to this thread only */
                l[(int64_t)j * n + i] = l[(int64_t)i * n + j];
                l[(int64_t)i * n + j] = C(0);
            }
    }
    if (tid == 0) info[b] = fail;
}

template <typename T> mc_status launch(const mc_dense_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const int n = (int)a->n;
    const T *A = static_cast<const T *>(a->a);
    T *L = static_cast<T *>(a->out);
    const int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    /* S in shared memory while two blocks still fit on a multiprocessor (fp32 n <= ~150) */
    const size_t square = (size_t)chol_smem_elems<T>(n, true) * sizeof(T);
    if (square <= (size_t)max_smem(a->device) / 2) {
        mc_status st = allow_smem(chol_blocked_kernel<T, true>, square, "cholesky");
        if (st) return st;
        chol_blocked_kernel<T, true><<<(unsigned)a->batch, threads, square, s>>>(A, L, a->info, n, a->upper);
    } else {
        const size_t bytes = (size_t)chol_smem_elems<T>(n, false) * sizeof(T);
        if (bytes > (size_t)max_smem(a->device))
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "cholesky: n = %d is too large for the CUDA kernel", n);
        mc_status st = allow_smem(chol_blocked_kernel<T, false>, bytes, "cholesky");
        if (st) return st;
        chol_blocked_kernel<T, false><<<(unsigned)a->batch, threads, bytes, s>>>(A, L, a->info, n, a->upper);
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
