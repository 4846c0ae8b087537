/* Householder QR on CUDA: one thread block per matrix, the matrix (column-major) and Q in
 * shared memory when they fit (fp32 up to ~128 x 128 with Q), else in a column-major global
 * workspace (100 x 256x256 fp32 is 52 MB, mostly L2-resident). Per column: warp 0 builds the
 * reflector (dlarfg), then one warp per trailing column applies it (lanes over rows, a warp-sum
 * for the dot product). Q by backward accumulation, the same way. Mirrors
 * src/cpu/dense_kernels.h (qr_one). */
#include "dense_common.cuh"

namespace {
using namespace mc::dense;

/* geqr2 on W (m x n, element (i, j) at W[ix(i, j)]); tau: k = min(m, n) values. */
template <typename C, typename Ix>
__device__ void qr_core(C *W, Ix ix, int m, int n, C *tau) {
    __shared__ C s_t;
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int k = m < n ? m : n;
    for (int j = 0; j < k; ++j) {
        if (warp == 0) {
            C xn2 = 0;
            for (int i = j + 1 + lane; i < m; i += 32) {
                const C v = W[ix(i, j)];
                xn2 += v * v;
            }
            xn2 = wsum(xn2);
            const C alpha = W[ix(j, j)];
            C t = 0;
            if (xn2 != C(0)) { /* NaN goes this way too, and propagates */
                const C nrm = sqrt(alpha * alpha + xn2);
                const C beta = alpha >= C(0) ? -nrm : nrm;
                t = (beta - alpha) / beta;
                const C scale = C(1) / (alpha - beta);
                for (int i = j + 1 + lane; i < m; i += 32) W[ix(i, j)] *= scale;
                __syncwarp();
                if (lane == 0) W[ix(j, j)] = beta;
            }
            if (lane == 0) {
                tau[j] = t;
                s_t = t;
            }
        }
        __syncthreads();
        const C t = s_t;
        if (t != C(0)) {
            for (int c = j + 1 + warp; c < n; c += nw) {
                const C wjc = W[ix(j, c)];
                C s = 0;
                for (int i = j + 1 + lane; i < m; i += 32) s += W[ix(i, j)] * W[ix(i, c)];
                s = (wsum(s) + wjc) * t;
                if (lane == 0) W[ix(j, c)] = wjc - s;
                for (int i = j + 1 + lane; i < m; i += 32) W[ix(i, c)] -= s * W[ix(i, j)];
            }
        }
        __syncthreads();
    }
}

/* Q (m x kq) = H_0 H_1 ... H_{k-1} I, backward accumulation; H_j leaves columns c < j alone. */
template <typename C, typename Ix>
__device__ void q_form(const C *W, Ix ixw, C *Q, Ix ixq, const C *tau, int m, int k, int kq) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, nw = blockDim.x >> 5;
    const int64_t mq = (int64_t)m * kq;
    for (int64_t t = tid; t < mq; t += blockDim.x) {
        const int64_t i = t % m, c = t / m;
        Q[ixq(i, c)] = i == c ? C(1) : C(0);
    }
    __syncthreads();
    for (int j = k - 1; j >= 0; --j) {
        const C t = tau[j];
        if (t == C(0)) continue; /* uniform */
        for (int c = j + warp; c < kq; c += nw) {
            const C qjc = Q[ixq(j, c)];
            C s = 0;
            for (int i = j + 1 + lane; i < m; i += 32) s += W[ixw(i, j)] * Q[ixq(i, c)];
            s = (wsum(s) + qjc) * t;
            if (lane == 0) Q[ixq(j, c)] = qjc - s;
            for (int i = j + 1 + lane; i < m; i += 32) Q[ixq(i, c)] -= s * W[ixw(i, j)];
        }
        __syncthreads();
    }
}

/* A: (batch, m, n); Q: (batch, m, kq) or NULL; R: (batch, kr, n). SMEM: W, Q, tau in shared
 * memory (ld padded odd); else in ws, per matrix m*n + m*kq + k values (ld = m). */
template <typename T, bool SMEM>
__global__ void __launch_bounds__(1024)
    qr_kernel(const T *A, T *Q, T *R, T *ws, int m, int n, int kq, int kr) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int64_t b = blockIdx.x;
    const int k = m < n ? m : n;
    const int64_t ld = SMEM ? odd_ld(m) : m;
    T *W = SMEM ? reinterpret_cast<T *>(smem) : ws + b * ((int64_t)m * n + (int64_t)m * kq + k);
    T *Qs = W + ld * n;
    T *tau = Qs + ld * kq;
    const ColMajor ix{ld};
    const int64_t mn = (int64_t)m * n;
    for (int64_t t = threadIdx.x; t < mn; t += blockDim.x) W[ix(t / n, t % n)] = A[b * mn + t];
    __syncthreads();
    qr_core(W, ix, m, n, tau);
    const int64_t rn = (int64_t)kr * n;
    for (int64_t t = threadIdx.x; t < rn; t += blockDim.x) {
        const int64_t i = t / n, c = t % n;
        R[b * rn + t] = (i <= c && i < k) ? W[ix(i, c)] : T(0);
    }
    if (!Q) return;
    q_form(W, ix, Qs, ix, tau, m, k, kq);
    const int64_t mq = (int64_t)m * kq;
    for (int64_t t = threadIdx.x; t < mq; t += blockDim.x) Q[b * mq + t] = Qs[ix(t / kq, t % kq)];
}

template <typename T> size_t smem_bytes(const mc_dense_args *a) {
    const int64_t k = a->m < a->n ? a->m : a->n;
    return (size_t)(odd_ld(a->m) * (a->n + a->kq) + k) * sizeof(T);
}
template <typename T> bool fits_smem(const mc_dense_args *a) {
    return smem_bytes<T>(a) + 1024 <= (size_t)mc::max_dyn_smem(a->device); /* 1 KiB for static shared */
}
template <typename T> size_t ws_bytes(const mc_dense_args *a) {
    if (fits_smem<T>(a)) return 0;
    const int64_t k = a->m < a->n ? a->m : a->n;
    return (size_t)a->batch * (size_t)(a->m * a->n + a->m * a->kq + k) * sizeof(T);
}

template <typename T> mc_status launch(const mc_dense_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const T *A = static_cast<const T *>(a->a);
    T *Q = static_cast<T *>(a->q), *R = static_cast<T *>(a->out);
    const int64_t cols = a->n > a->kq ? a->n : a->kq;
    if (fits_smem<T>(a)) {
        const size_t bytes = smem_bytes<T>(a);
        if (const cudaError_t e = mc::allow_smem(qr_kernel<T, true>, bytes))
            return mc::launch_status(e, "qr: shared memory opt-in");
        qr_kernel<T, true><<<(unsigned)a->batch, block_threads(cols, 16), bytes, s>>>(
            A, Q, R, nullptr, (int)a->m, (int)a->n, (int)a->kq, (int)a->kr);
    } else {
        qr_kernel<T, false><<<(unsigned)a->batch, block_threads(cols, 32), 0, s>>>(
            A, Q, R, static_cast<T *>(a->workspace), (int)a->m, (int)a->n, (int)a->kq, (int)a->kr);
    }
    return mc::check_launch("qr");
}

} // namespace

extern "C" mc_status mc_cuda_qr(const mc_dense_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    if (a->dtype == MC_DTYPE_F64) return launch<double>(a);
    if (a->dtype == MC_DTYPE_F32) return launch<float>(a);
    return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "qr: %s not supported on CUDA", mc_dtype_name(a->dtype));
}

extern "C" size_t mc_cuda_qr_workspace_size(const mc_dense_args *a) {
    return a->dtype == MC_DTYPE_F64 ? ws_bytes<double>(a) : ws_bytes<float>(a);
}
