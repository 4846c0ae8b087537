/* svd on CUDA, three kernels by size (the problem is tall, m >= n: src/core/svd.c transposes):
 *   n <= 32 columns, m <= 64 rows, reduced U: one-sided (Hestenes) Jacobi in registers, a column
 *     per lane (svd_warp.cuh);
 *   129 <= n <= 512, m <= 16384 with K1's (2m + 512) T of shared memory within the device's limit
 *     (fp64 on the H100: m <= 14272): Householder bidiagonalization, then bisection and inverse
 *     iteration on the Golub-Kahan tridiagonal (svd_bidiag.cuh; H100, 100 x 256 x 256 fp32:
 *     24 ms against 136 ms for the Jacobi kernel below);
 *   otherwise one-sided Jacobi, one thread block per matrix, below.
 * All keep the contract of include/metalcore/svd.h: S descending, NaN/Inf input -> NaN U, S, V
 * with info 0; info != 0 where the result is not to be trusted (Jacobi: the sweeps done without
 * converging; bidiagonalization: singular vectors whose orthogonalization broke down).
 *
 * Why the Jacobi kernel below has this shape: a round-robin round rotates n/2 disjoint column
 * pairs; each warp takes whole pairs (the three length-m dot products are warp reductions, the
 * column updates are lane parallel), so a round needs a single block barrier. A and V are stored
 * column-major (a column is contiguous: conflict-free lanes) in shared memory when they fit, else
 * in the caller's workspace. Stopping test, scaling, zero-column rule and the orthonormal
 * completion of U mirror the CPU reference (src/cpu/svd_impl.inc). Ideas: one-sided Jacobi with
 * round-robin ordering as in MAGMA's batched gesvj and the W-cycle SVD paper (SC22); the code is
 * our own. */
#include "../core/svd.h"
#include "jacobi.cuh"
#include "svd_bidiag.cuh"
#include "svd_warp.cuh"

namespace {

using mc::jacobi::Real;

struct Layout {
    size_t small;  /* bookkeeping at the start of shared memory */
    size_t mats;   /* A (m n) + V (n n) */
    bool in_smem;
    int threads;
};

template <typename T> Layout layout(int64_t m, int64_t n, int device) {
    Layout L;
    const int64_t h = (n + 1) / 2;
    L.small = mc::jacobi::align16((n + 64) * sizeof(T)) + mc::jacobi::align16(2 * n * sizeof(int) + 64);
    L.mats = (size_t)(m * n + n * n) * sizeof(T);
    L.in_smem = L.small + L.mats <= mc::max_dyn_smem(device);
    int warps = 1;
    while (warps < 16 && warps < h) warps *= 2;
    L.threads = 32 * warps;
    return L;
}

/* Block-wide argmax of (v, index); every thread gets the index (smallest index on ties).
 * rv: 32 T, ri: 32 int of shared scratch. */
template <typename T> __device__ int block_argmax(T v, int i, T *rv, int *ri) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const T ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        if (ov > v || (ov == v && oi < i)) {
            v = ov;
            i = oi;
        }
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) {
        rv[warp] = v;
        ri[warp] = i;
    }
    __syncthreads();
    T bv = rv[0];
    int bi = ri[0];
    for (int k = 1; k < nw; ++k)
        if (rv[k] > bv || (rv[k] == bv && ri[k] < bi)) {
            bv = rv[k];
            bi = ri[k];
        }
    return bi;
}

/* a: (batch, m, n) at strides (sb, sr, sc), m >= n; u: (batch, m, uc); s: (batch, n);
 * v: (batch, n, n); info: (batch,); gws: A and V per matrix (NULL when in shared memory);
 * hws: uc T per matrix, the Gram-Schmidt coefficients of the completion. */
template <typename T>
__global__ void __launch_bounds__(512)
    svd_jacobi(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, T *__restrict__ u,
               T *__restrict__ so, T *__restrict__ vo, int32_t *__restrict__ info, int m, int n, int uc,
               size_t small_bytes, T *gws, T *hws) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int h = (n + 1) / 2, n2 = 2 * h, tid = threadIdx.x, nt = blockDim.x;
    const int lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x;
    T *sig2 = reinterpret_cast<T *>(smem), *red = sig2 + n, *rv = red + 32;
    int *rk = reinterpret_cast<int *>(smem + mc::jacobi::align16((n + 64) * sizeof(T)));
    int *inv = rk + n, *ri = inv + n;
    __shared__ int rotated;
    T *A = gws ? gws + b * ((int64_t)m * n + (int64_t)n * n) : reinterpret_cast<T *>(smem + small_bytes);
    T *V = A + (int64_t)m * n;
    T *hc = hws + b * uc;
    const T *ab = a + b * sb;

    for (int idx = tid; idx < n * n; idx += nt) V[idx] = (idx / n == idx % n) ? 1 : 0;
    const mc::jacobi::Loaded<T> ld = mc::jacobi::load_check_scale(
        A, (int64_t)m * n, [=](int64_t idx) { return ab[(idx % m) * sr + (idx / m) * sc]; }, red);
    const bool bad = ld.bad;
    const T scale = ld.scale, eps = Real<T>::eps, tol = eps * sqrt((T)m);
    const T small = eps * eps * ld.sumsq;

    int sweeps = 0, more = 1;
    while (more && sweeps < MC_JACOBI_MAX_SWEEPS) {
        __syncthreads();
        if (tid == 0) rotated = 0;
        __syncthreads();
        for (int r = 0; r < n2 - 1; ++r) {
            for (int k = warp; k < h; k += nw) {
                int p, q;
                mc_round_robin_pair(n2, r, k, &p, &q);
                if (q >= n) continue;
                T *ap = A + (int64_t)p * m, *aq = A + (int64_t)q * m;
                T al = 0, be = 0, ga = 0;
                for (int i = lane; i < m; i += 32) {
                    const T x = ap[i], y = aq[i];
                    al += x * x;
                    be += y * y;
                    ga += x * y;
                }
                al = mc::jacobi::warp_sum(al);
                be = mc::jacobi::warp_sum(be);
                ga = mc::jacobi::warp_sum(ga);
                if (!(al > small && be > small && fabs(ga) > tol * sqrt(al) * sqrt(be))) continue;
                T c, s, t;
                Real<T>::schur(al, be, ga, &c, &s, &t);
                if (lane == 0) rotated = 1;
                for (int i = lane; i < m; i += 32) {
                    const T x = ap[i], y = aq[i];
                    ap[i] = c * x - s * y;
                    aq[i] = s * x + c * y;
                }
                T *vp = V + p * n, *vq = V + q * n;
                for (int i = lane; i < n; i += 32) {
                    const T x = vp[i], y = vq[i];
                    vp[i] = c * x - s * y;
                    vq[i] = s * x + c * y;
                }
            }
            __syncthreads();
        }
        more = rotated;
        ++sweeps;
    }

    /* singular values descending (rank by counting, ties by index) */
    for (int j = warp; j < n; j += nw) {
        T x = 0;
        for (int i = lane; i < m; i += 32) x += A[(int64_t)j * m + i] * A[(int64_t)j * m + i];
        x = mc::jacobi::warp_sum(x);
        if (lane == 0) sig2[j] = x;
    }
    __syncthreads();
    for (int j = tid; j < n; j += nt) {
        int r = 0;
        for (int i = 0; i < n; ++i) r += sig2[i] > sig2[j] || (sig2[i] == sig2[j] && i < j);
        rk[j] = r;
        inv[r] = j;
        so[b * n + r] = bad ? (T)NAN : sqrt(sig2[j]) / scale;
    }
    int valid = 0;
    for (int j = 0; j < n; ++j) valid += sig2[j] > small;
    if (tid == 0) info[b] = more ? sweeps : 0;
    __syncthreads();
    T *vb = vo + b * (int64_t)n * n;
    for (int idx = tid; idx < n * n; idx += nt) {
        const int i = idx % n, j = idx / n;
        vb[i * n + rk[j]] = bad ? (T)NAN : V[idx];
    }
    T *ub = u + b * (int64_t)m * uc;
    for (int64_t idx = tid; idx < (int64_t)m * uc; idx += nt) {
        const int64_t i = idx / uc, c = idx % uc;
        T x = 0;
        if (bad) x = (T)NAN;
        else if (c < valid) x = A[(int64_t)inv[c] * m + i] / sqrt(sig2[inv[c]]);
        ub[idx] = x;
    }
    if (bad) return;
    /* orthonormal completion of columns [valid, uc), as complete_basis in the CPU reference */
    for (int c = valid; c < uc; ++c) {
        __syncthreads();
        T best = -1;
        int bi = 0;
        for (int k = tid; k < m; k += nt) {
            T x = 0;
            for (int j = 0; j < c; ++j) x += ub[(int64_t)k * uc + j] * ub[(int64_t)k * uc + j];
            if (1 - x > best) {
                best = 1 - x;
                bi = k;
            }
        }
        const int kb = block_argmax(best, bi, rv, ri);
        for (int i = tid; i < m; i += nt) ub[(int64_t)i * uc + c] = i == kb ? 1 : 0;
        for (int pass = 0; pass < 2; ++pass) {
            __syncthreads();
            for (int j = tid; j < c; j += nt) {
                T x = 0;
                for (int i = 0; i < m; ++i) x += ub[(int64_t)i * uc + j] * ub[(int64_t)i * uc + c];
                hc[j] = x;
            }
            __syncthreads();
            for (int i = tid; i < m; i += nt) {
                T x = ub[(int64_t)i * uc + c];
                for (int j = 0; j < c; ++j) x -= ub[(int64_t)i * uc + j] * hc[j];
                ub[(int64_t)i * uc + c] = x;
            }
        }
        T x = 0;
        for (int i = tid; i < m; i += nt) x += ub[(int64_t)i * uc + c] * ub[(int64_t)i * uc + c];
        const T nrm = sqrt(mc::jacobi::block_sum(x, red));
        for (int i = tid; i < m; i += nt) ub[(int64_t)i * uc + c] /= nrm;
    }
}

/* k = 0: U (m, uc) is the identity's first uc columns; no singular values. */
template <typename T> __global__ void svd_empty(T *u, int32_t *info, int64_t batch, int64_t m, int64_t uc) {
    const int64_t total = batch * m * uc;
    for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total; idx += (int64_t)gridDim.x * blockDim.x) {
        const int64_t c = idx % uc, i = (idx / uc) % m;
        u[idx] = i == c ? 1 : 0;
    }
    for (int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; b < batch; b += (int64_t)gridDim.x * blockDim.x) info[b] = 0;
}

template <typename T> size_t hws_bytes(const mc_svd_args *x) {
    return mc::jacobi::align16((size_t)(x->batch * x->ucols) * sizeof(T));
}

/* Whether svd_bidiag.cuh takes the problem. Below n = 129 the Jacobi kernels stay: the
 * bidiagonalization path was validated and timed for n >= 129 only. */
constexpr int64_t kBidiagMinN = 129;
template <typename T> bool use_bidiag(const mc_svd_args *x) {
    return x->n >= kBidiagMinN && mc::svd_bidiag::supported<T>(x->m, x->n, x->device);
}

template <typename T> mc_status launch(const mc_svd_args *x) {
    cudaStream_t s = mc::as_stream(x->stream);
    if (x->n == 0) {
        svd_empty<T><<<1024, 256, 0, s>>>(static_cast<T *>(x->u), x->info, x->batch, x->m, x->ucols);
        return mc::check_launch("svd (empty)");
    }
    if (x->n <= 32 && x->m <= 64 && x->ucols == x->n) { /* registers, a warp or less per matrix */
        const cudaError_t e = mc::svd_warp::launch<T>(static_cast<const T *>(x->a), x->sa[0], x->sa[1], x->sa[2],
                                                      static_cast<T *>(x->u), static_cast<T *>(x->s),
                                                      static_cast<T *>(x->v), x->info, x->batch, (int)x->m,
                                                      (int)x->n, (int)x->ucols, s);
        if (e != cudaErrorInvalidValue) return mc::launch_status(e, "svd (warp)");
    }
    if (use_bidiag<T>(x)) /* workspace checked by src/core/svd.c */
        return mc::launch_status(
            mc::svd_bidiag::launch<T>(static_cast<const T *>(x->a), x->sa[0], x->sa[1], x->sa[2], static_cast<T *>(x->u),
                                      static_cast<T *>(x->s), static_cast<T *>(x->v), x->info, x->batch, (int)x->m,
                                      (int)x->n, (int)x->ucols, x->workspace, s),
            "svd (bidiagonalization)");
    const Layout L = layout<T>(x->m, x->n, x->device);
    const size_t smem = L.small + (L.in_smem ? L.mats : 0);
    if (const cudaError_t e = mc::allow_smem(svd_jacobi<T>, smem))
        return mc::launch_status(e, "svd: shared memory configuration");
    T *hws = static_cast<T *>(x->workspace);
    T *gws = L.in_smem ? nullptr : reinterpret_cast<T *>(static_cast<char *>(x->workspace) + hws_bytes<T>(x));
    svd_jacobi<T><<<(unsigned)x->batch, L.threads, smem, s>>>(
        static_cast<const T *>(x->a), x->sa[0], x->sa[1], x->sa[2], static_cast<T *>(x->u),
        static_cast<T *>(x->s), static_cast<T *>(x->v), x->info, (int)x->m, (int)x->n, (int)x->ucols, L.small,
        gws, hws);
    return mc::check_launch("svd");
}

template <typename T> size_t workspace(const mc_svd_args *x) {
    if (use_bidiag<T>(x)) return mc::svd_bidiag::workspace_bytes<T>((int)x->m, (int)x->n, (int)x->ucols, x->batch);
    const Layout L = layout<T>(x->m, x->n, x->device);
    return hws_bytes<T>(x) + (L.in_smem ? 0 : L.mats * (size_t)x->batch);
}

} // namespace

extern "C" size_t mc_cuda_svd_workspace_size(const mc_svd_args *x) {
    return x->dtype == MC_DTYPE_F64 ? workspace<double>(x) : workspace<float>(x);
}

extern "C" mc_status mc_cuda_svd_forward(const mc_svd_args *x) {
    mc::DeviceGuard guard(x->device);
    if (guard.status()) return guard.status();
    if (x->m > INT32_MAX / 2 || x->ucols > INT32_MAX / 2)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "svd: m = %lld is too large for the CUDA Jacobi kernel", (long long)x->m);
    return x->dtype == MC_DTYPE_F64 ? launch<double>(x) : launch<float>(x);
}
