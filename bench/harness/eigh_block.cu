// Standalone harness for the one-block-per-matrix register Jacobi eigh (src/cuda/eigh_block.cuh),
// 33 <= n <= 64 in fp32 and fp64, 65 <= n <= 128 in fp32: checks every case against a host
// double-precision cyclic Jacobi (residual, orthogonality, eigenvalues, order, info, NaN
// propagation, the upper triangle ignored), for every configuration (fp32 n <= 64: FUSED, the
// default, and SPLIT), then times the new kernel against the current one-block kernel of
// src/cuda/eigh.cu (copied below as namespace baseline) on the issue-6 shapes. Not part of the
// library build; compile and run on the device machine in one call (from the repository root):
//   nvcc -O3 -std=c++17 -Iinclude -gencode=arch=compute_90,code=sm_90 -lineinfo -Xptxas -v -o /tmp/eb bench/harness/eigh_block.cu 2>&1 | grep -E "registers|spill|error" ; /tmp/eb [n]
// (or: bash bench/harness/run_all.sh eigh_block). With n given, only that size is checked and timed.
// Exit status 0 only if every check passed.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../../src/cuda/eigh_block.cuh"

#include "harness.h" /* CK() */

// ---- baseline: a verbatim copy of the kernel of src/cuda/eigh.cu at commit de40180 (Layout,
// layout, eigh_jacobi), with a harness-side launcher in place of the library's mc_eigh_args one ----
namespace baseline {
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
    L.in_smem = L.small + L.mats <= mc::jacobi::smem_limit(device);
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

    T mx = 0;
    int bad = 0;
    for (int idx = tid; idx < n * n; idx += nt) {
        const int i = idx / n, j = idx % n;
        const T v = j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
        if (!(fabs(v) < (T)INFINITY)) bad = 1;
        else mx = max(mx, fabs(v));
        A[idx] = v;
        V[idx] = i == j ? 1 : 0;
    }
    bad = __syncthreads_or(bad);
    const T scale = mc::jacobi::pow2_scale(mc::jacobi::block_max(mx, red));
    T sq = 0;
    for (int idx = tid; idx < n * n; idx += nt) {
        const T v = bad ? 0 : A[idx] * scale;
        A[idx] = v;
        sq += v * v;
    }
    const T eps = Real<T>::eps;
    const T abs_tol = eps * sqrt(mc::jacobi::block_sum(sq, red));

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

// same launch as eigh.cu's launch<T>(); gws: caller's workspace (2 n^2 T per matrix) when
// A and V do not fit in shared memory
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                   T *gws, cudaStream_t s) {
    int dev = 0;
    cudaGetDevice(&dev);
    const Layout L = layout<T>(n, dev);
    const size_t smem = L.small + (L.in_smem ? L.mats : 0);
    if (smem > 48 * 1024) {
        const cudaError_t e = cudaFuncSetAttribute(eigh_jacobi<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
        if (e != cudaSuccess) return e;
    }
    if (!L.in_smem && !gws) return cudaErrorInvalidValue;
    eigh_jacobi<T><<<(unsigned)batch, L.threads, smem, s>>>(a, sb, sr, sc, w, q, info, n, L.small,
                                                             L.in_smem ? nullptr : gws);
    return cudaGetLastError();
}
template <typename T> size_t workspace_elems(int n, int64_t batch) {
    int dev = 0;
    cudaGetDevice(&dev);
    const Layout L = layout<T>(n, dev);
    return L.in_smem ? 0 : (size_t)2 * n * n * batch;
}
} // namespace baseline

#include "eigh_inputs.h" /* ref_eig, rand_orth, Kind, make */

// the kernel configurations under test: 0 = mc::eigh_block::launch_ex (default), 1 = fp32 NP = 64
// SPLIT (the alternative to the default FUSED), 2 = baseline (timing only)
template <typename T>
static cudaError_t run_cfg(int cfg, const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info,
                           int64_t batch, int n, int32_t *sw, T *gws) {
    if (cfg == 0) return mc::eigh_block::launch_ex<T>(a, sb, sr, sc, w, q, info, batch, n, 0, sw);
    if (cfg == 1) {
        if constexpr (sizeof(T) == 4) return mc::eigh_block::launch_cfg<T, 64, false>(a, sb, sr, sc, w, q, info, batch, n, 0, sw);
        return cudaErrorInvalidValue;
    }
    return baseline::launch<T>(a, sb, sr, sc, w, q, info, batch, n, gws, 0);
}
static const char *cfg_name[] = {"block", "block-split", "baseline"};


template <typename T> static void check_case(int cfg, int n, int kind, std::mt19937 &g) {
    const int64_t batch = n <= 48 ? 37 : (n <= 64 ? 21 : 7);
    check_case<T>(cfg_name[cfg], n, kind, g, batch,
                  [cfg](const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t bt, int nn,
                        int32_t *sw) { return run_cfg<T>(cfg, a, sb, sr, sc, w, q, info, bt, nn, sw, nullptr); });
}

// launch_ex must refuse what it does not handle
static void check_refusals() {
    bool ok = true;
    ok &= mc::eigh_block::launch_ex<double>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, 65, 0, nullptr) == cudaErrorInvalidValue;
    ok &= mc::eigh_block::launch_ex<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, 129, 0, nullptr) == cudaErrorInvalidValue;
    ok &= mc::eigh_block::launch_ex<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, 0, 0, nullptr) == cudaErrorInvalidValue;
    ok &= mc::eigh_block::launch_ex<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 0, 64, 0, nullptr) == cudaSuccess;
    cudaGetLastError();
    printf("%s refusals (f64 n=65, f32 n=129, n=0 -> invalid value; batch 0 -> success)\n", ok ? "PASS" : "FAIL");
    (ok ? n_pass : n_fail)++;
}

template <typename T> static void time_case(int cfg, int n, int64_t batch, std::mt19937 &g) {
    const int64_t sb = (int64_t)n * n, sr = n, sc = 1;
    std::normal_distribution<double> N;
    std::vector<T> ha((size_t)(sb * batch), (T)0);
    for (int64_t b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j <= i; ++j) {
                const T v = (T)N(g);
                ha[b * sb + i * sr + j * sc] = v;
                ha[b * sb + j * sr + i * sc] = v;
            }
    T *da, *dw, *dq, *gws = nullptr;
    int32_t *dinfo, *dsw;
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dw, batch * n * sizeof(T)));
    CK(cudaMalloc(&dq, batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&dsw, batch * sizeof(int32_t)));
    CK(cudaMemset(dsw, 0, batch * sizeof(int32_t)));
    if (cfg == 2 && baseline::workspace_elems<T>(n, batch)) CK(cudaMalloc(&gws, baseline::workspace_elems<T>(n, batch) * sizeof(T)));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(run_cfg<T>(cfg, da, sb, sr, sc, dw, dq, dinfo, batch, n, dsw, gws));
    for (int i = 0; i < 2; ++i) CK(run_cfg<T>(cfg, da, sb, sr, sc, dw, dq, dinfo, batch, n, nullptr, gws));
    CK(cudaDeviceSynchronize());
    const int reps = cfg == 2 && n >= 128 ? 5 : 11;
    std::vector<float> ms;
    for (int r = 0; r < reps; ++r) {
        CK(cudaEventRecord(e0));
        CK(run_cfg<T>(cfg, da, sb, sr, sc, dw, dq, dinfo, batch, n, nullptr, gws));
        CK(cudaEventRecord(e1));
        CK(cudaEventSynchronize(e1));
        float t;
        CK(cudaEventElapsedTime(&t, e0, e1));
        ms.push_back(t);
    }
    std::sort(ms.begin(), ms.end());
    std::vector<int32_t> sw(batch), info(batch);
    CK(cudaMemcpy(sw.data(), dsw, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    int mx = 0, nonconv = 0;
    double mean = 0;
    for (int64_t b = 0; b < batch; ++b) {
        mx = std::max(mx, (int)sw[b]);
        mean += sw[b];
        nonconv += info[b] != 0;
    }
    if (cfg == 2)
        printf("TIME %-11s %s n=%3d batch=%5lld: median %8.3f ms (min %8.3f) info!=0: %d\n", cfg_name[cfg],
               sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, ms[ms.size() / 2], ms[0], nonconv);
    else
        printf("TIME %-11s %s n=%3d batch=%5lld: median %8.3f ms (min %8.3f) sweeps max %d mean %.2f, info!=0: %d\n",
               cfg_name[cfg], sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, ms[ms.size() / 2], ms[0], mx,
               mean / batch, nonconv);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaFree(da));
    CK(cudaFree(dw));
    CK(cudaFree(dq));
    CK(cudaFree(dinfo));
    CK(cudaFree(dsw));
    if (gws) CK(cudaFree(gws));
}

int main(int argc, char **argv) {
    const int only = argc > 1 ? atoi(argv[1]) : 0;
    std::mt19937 g(12345);
    check_refusals();
    // 1, 2, 17: padding far beyond n (not the intended range, but must be right)
    const int sizes[] = {1, 2, 17, 33, 40, 48, 63, 64, 65, 96, 100, 127, 128};
    for (int n : sizes) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS; ++kind) check_case<float>(0, n, kind, g);
        if (n <= 64)
            for (int kind = 0; kind < NKINDS; ++kind) check_case<float>(1, n, kind, g);
        if (n <= 64)
            for (int kind = 0; kind < NKINDS; ++kind) check_case<double>(0, n, kind, g);
    }
    printf("eigh_block: %d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    struct Shape { int n; int64_t batch; bool f64; };
    const Shape shapes[] = {{64, 1000, false}, {48, 1000, false}, {128, 100, false}, {96, 100, false},
                            {64, 10000, false}, {64, 1000, true}};
    for (const Shape &s : shapes) {
        if (only && s.n != only) continue;
        for (int cfg = 0; cfg < 3; ++cfg) {
            if (cfg == 1 && (s.f64 || s.n > 64)) continue;
            if (cfg == 2 && s.batch > 1000) continue; // baseline: ~84 ms at 10000 x 64
            if (s.f64) time_case<double>(cfg, s.n, s.batch, g);
            else time_case<float>(cfg, s.n, s.batch, g);
        }
        fflush(stdout);
    }
    if (only && only != 48 && only != 64 && only != 96 && only != 128) {
        for (int cfg = 0; cfg < 3; ++cfg) {
            if (cfg == 1 && only > 64) continue;
            time_case<float>(cfg, only, only <= 64 ? 1000 : 100, g);
        }
        if (only <= 64) time_case<double>(0, only, 1000, g);
    }
    return n_fail ? 1 : 0;
}
