/* eigh on CUDA, three kernels by size (forward() dispatches):
 *   n <= 32 (float, double): eigh_warp.cuh, several matrices per warp, rows in registers;
 *   33 <= n <= 1024: eigh_tridiag.cuh, Householder tridiagonalization, bisection and inverse
 *     iteration (Jacobi's ~20x more flops lose there: H100, fp32 100 x 256 4.1 ms against 163;
 *     the register-resident block Jacobi that had 33..128 lost too once the reduction ran in
 *     shared memory: batch 1000, fp32 n = 33 0.46 ms against 1.10, 64 1.08 against 1.26, fp64
 *     n = 33 0.71 against 3.32, 64 1.68 against 3.80; bench/harness/eigh_tridiag.cu);
 *   above: eigh_jacobi below, parallel-order (round-robin) two-sided Jacobi, one thread block per
 *     matrix, the matrix in shared or global memory (reached through the C API only: Python sends
 *     n > 512 to cuSOLVER).
 * All share the contract (lower triangle read at any strides, ascending eigenvalues with ties by
 * index, Q row major with column j the eigenvector of w[j], info != 0 when not converged (Jacobi:
 * sweeps done; tridiagonal: vectors whose re-orthogonalization broke down), NaN/Inf -> NaN w and
 * Q) and the exact power-of-two scaling of the CPU reference (src/cpu/eigh_impl.inc); they run on
 * the caller's stream, allocate nothing and never synchronise with the host.
 *
 * Why eigh_jacobi has this shape: the n/2 rotations of a round-robin round touch disjoint index
 * pairs, so a round is two block-wide steps: (1) one thread per pair computes its rotation; (2) the
 * matrix, seen as (n/2)^2 disjoint 2x2 blocks (rows of pair i, columns of pair j), is updated as
 * B_ij <- J_i^T B_ij J_j, one thread per 2x2 block (diagonal blocks set exactly), and V <- V J
 * one thread per (row, pair). The matrix and V live in shared memory when they fit (n <= 119 in
 * double, 169 in float with the H100's 227 KB), else in the caller's workspace in global memory
 * (L2 resident for moderate batches). Idea of the 2x2-block form of a parallel Jacobi round:
 * Brent & Luk (1985), the systolic-array Jacobi method; the code is our own. */
#include "../core/eigh.h"
#include "eigh_tridiag.cuh"
#include "eigh_warp.cuh"
#include "jacobi.cuh"

namespace {

using mc::jacobi::Real;

struct Layout {
    size_t small;  /* bytes of the per-block bookkeeping at the start of shared memory */
    size_t mats;   /* bytes of A and V */
    bool in_smem;  /* A and V in shared memory */
    int threads;
};

template <typename T> Layout layout(int64_t n, int device) {
    Layout L;
    const int64_t h = (n + 1) / 2;
    L.small = mc::jacobi::align16(3 * h * sizeof(T) + 32 * sizeof(T)) + mc::jacobi::align16((2 * h + n) * sizeof(int));
    L.mats = (size_t)(2 * n * n) * sizeof(T);
    L.in_smem = L.small + L.mats <= mc::max_dyn_smem(device);
    int t = 64;
    while (t < 1024 && t < h * h) t *= 2;
    L.threads = t;
    return L;
}

/* a: (batch, n, n) at strides (sb, sr, sc), lower triangle read; w: (batch, n);
 * q: (batch, n, n); info: (batch,); gws: 2 n^2 T per matrix when A and V are not in shared
 * memory, else NULL. */
template <typename T>
__global__ void __launch_bounds__(1024)
    eigh_jacobi(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, T *__restrict__ w,
                T *__restrict__ q, int32_t *__restrict__ info, int n, size_t small_bytes, T *gws) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int h = (n + 1) / 2, n2 = 2 * h, tid = threadIdx.x, nt = blockDim.x;
    const int64_t b = blockIdx.x;
    T *cs = reinterpret_cast<T *>(smem), *ss = cs + h, *ts = ss + h, *red = ts + h;
    int *pp = reinterpret_cast<int *>(smem + mc::jacobi::align16(3 * h * sizeof(T) + 32 * sizeof(T)));
    int *qq = pp + h, *rk = qq + h;
    __shared__ int rotated;
    T *A = gws ? gws + b * 2 * (int64_t)n * n : reinterpret_cast<T *>(smem + small_bytes);
    T *V = A + (int64_t)n * n;
    const T *ab = a + b * sb;

    const mc::jacobi::Loaded<T> ld = mc::jacobi::load_check_scale(
        A, n * n, /* < 2^31 */
        [=](int e) {
            const int i = e / n, j = e % n;
            return j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
        },
        red);
    const bool bad = ld.bad;
    const T scale = ld.scale, eps = Real<T>::eps;
    const T abs_tol = eps * sqrt(ld.sumsq);
    for (int idx = tid; idx < n * n; idx += nt) V[idx] = idx / n == idx % n ? 1 : 0;

    int sweeps = 0, more = 1;
    while (more && sweeps < MC_JACOBI_MAX_SWEEPS) {
        __syncthreads();
        if (tid == 0) rotated = 0;
        __syncthreads();
        for (int r = 0; r < n2 - 1; ++r) {
            for (int k = tid; k < h; k += nt) {
                int p, qi;
                mc_round_robin_pair(n2, r, k, &p, &qi);
                T c = 1, s = 0, t = 0;
                if (qi < n) {
                    const T app = A[p * n + p], aqq = A[qi * n + qi], apq = A[p * n + qi];
                    if (fabs(apq) > abs_tol && fabs(apq) > eps * sqrt(fabs(app)) * sqrt(fabs(aqq))) {
                        Real<T>::schur(app, aqq, apq, &c, &s, &t);
                        rotated = 1;
                    }
                }
                cs[k] = c;
                ss[k] = s;
                ts[k] = t;
                pp[k] = p;
                qq[k] = qi;
            }
            __syncthreads();
            for (int idx = tid; idx < h * h; idx += nt) {
                const int i = idx / h, j = idx % h;
                const int pi = pp[i], qi = qq[i], pj = pp[j], qj = qq[j];
                if (i == j) {
                    if (qi < n && ss[i] != 0) {
                        const T apq = A[pi * n + qi];
                        A[pi * n + pi] -= ts[i] * apq;
                        A[qi * n + qi] += ts[i] * apq;
                        A[pi * n + qi] = 0;
                        A[qi * n + pi] = 0;
                    }
                    continue;
                }
                const bool vi = qi < n, vj = qj < n;
                const T x00 = A[pi * n + pj], x01 = vj ? A[pi * n + qj] : 0;
                const T x10 = vi ? A[qi * n + pj] : 0, x11 = (vi && vj) ? A[qi * n + qj] : 0;
                const T ci = cs[i], si = ss[i], cj = cs[j], sj = ss[j];
                /* rows: J_i^T */
                const T y00 = ci * x00 - si * x10, y01 = ci * x01 - si * x11;
                const T y10 = si * x00 + ci * x10, y11 = si * x01 + ci * x11;
                /* columns: J_j */
                A[pi * n + pj] = cj * y00 - sj * y01;
                if (vj) A[pi * n + qj] = sj * y00 + cj * y01;
                if (vi) A[qi * n + pj] = cj * y10 - sj * y11;
                if (vi && vj) A[qi * n + qj] = sj * y10 + cj * y11;
            }
            for (int idx = tid; idx < n * h; idx += nt) {
                const int row = idx / h, j = idx % h;
                const int pj = pp[j], qj = qq[j];
                if (qj >= n || ss[j] == 0) continue;
                const T u = V[row * n + pj], v = V[row * n + qj];
                V[row * n + pj] = cs[j] * u - ss[j] * v;
                V[row * n + qj] = ss[j] * u + cs[j] * v;
            }
            __syncthreads();
        }
        more = rotated;
        ++sweeps;
    }

    /* ascending eigenvalues by rank counting (ties by index); eigenvectors follow */
    for (int j = tid; j < n; j += nt) {
        const T dj = A[j * n + j];
        int r = 0;
        for (int i = 0; i < n; ++i) {
            const T di = A[i * n + i];
            r += di < dj || (di == dj && i < j);
        }
        rk[j] = r;
        w[b * n + r] = bad ? (T)NAN : dj / scale;
    }
    if (tid == 0) info[b] = more ? sweeps : 0;
    __syncthreads();
    T *qb = q + b * (int64_t)n * n;
    for (int idx = tid; idx < n * n; idx += nt) {
        const int i = idx / n, j = idx % n;
        qb[i * n + rk[j]] = bad ? (T)NAN : V[i * n + j];
    }
}

template <typename T> mc_status launch(const mc_eigh_args *x) {
    const Layout L = layout<T>(x->n, x->device);
    const size_t smem = L.small + (L.in_smem ? L.mats : 0);
    if (const cudaError_t e = mc::allow_smem(eigh_jacobi<T>, smem))
        return mc::launch_status(e, "eigh: shared memory configuration");
    cudaStream_t s = mc::as_stream(x->stream);
    /* grid.x is limited to 2^31 - 1 blocks: far above any batch whose outputs fit in memory */
    eigh_jacobi<T><<<(unsigned)x->batch, L.threads, smem, s>>>(
        static_cast<const T *>(x->a), x->sa[0], x->sa[1], x->sa[2], static_cast<T *>(x->w),
        static_cast<T *>(x->q), x->info, (int)x->n, L.small, L.in_smem ? nullptr : static_cast<T *>(x->workspace));
    return mc::check_launch("eigh");
}

/* Whether eigh_tridiag.cuh takes n: above the register kernel's range, up to its own limit. */
template <typename T> bool use_tridiag(int64_t n) {
    return n > mc::eigh_warp::kMaxN && n <= mc::eigh_tridiag::max_n<T>();
}

template <typename T> size_t workspace_size(const mc_eigh_args *x) {
    if (x->n <= mc::eigh_warp::kMaxN) return 0;
    if (use_tridiag<T>(x->n)) return mc::eigh_tridiag::workspace_bytes<T>((int)x->n, x->batch);
    const Layout L = layout<T>(x->n, x->device);
    return L.in_smem ? 0 : L.mats * (size_t)x->batch;
}

template <typename T> mc_status forward(const mc_eigh_args *x) {
    cudaStream_t s = mc::as_stream(x->stream);
    const int n = (int)x->n;
    const T *a = static_cast<const T *>(x->a);
    T *w = static_cast<T *>(x->w), *q = static_cast<T *>(x->q);
    if (n >= 1 && n <= mc::eigh_warp::kMaxN) /* registers, several matrices per warp */
        return mc::launch_status(
            mc::eigh_warp::launch<T>(a, x->sa[0], x->sa[1], x->sa[2], w, q, x->info, x->batch, n, s), "eigh (warp)");
    if (use_tridiag<T>(n)) /* tridiagonalization; workspace checked by src/core/eigh.c */
        return mc::launch_status(mc::eigh_tridiag::launch<T>(a, x->sa[0], x->sa[1], x->sa[2], w, q, x->info, x->batch,
                                                             n, x->workspace, s),
                                 "eigh (tridiagonal)");
    return launch<T>(x);
}

} // namespace

extern "C" size_t mc_cuda_eigh_workspace_size(const mc_eigh_args *x) {
    return x->dtype == MC_DTYPE_F64 ? workspace_size<double>(x) : workspace_size<float>(x);
}

extern "C" mc_status mc_cuda_eigh_forward(const mc_eigh_args *x) {
    mc::DeviceGuard guard(x->device);
    if (guard.status()) return guard.status();
    if (x->n > 46340) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eigh: n = %lld is too large for the CUDA Jacobi kernel", (long long)x->n);
    return x->dtype == MC_DTYPE_F64 ? forward<double>(x) : forward<float>(x);
}
