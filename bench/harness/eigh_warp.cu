// Standalone harness for the register-resident warp eigh (src/cuda/eigh_warp.cuh), n <= 32, fp32
// and fp64: checks every case against a host double-precision cyclic Jacobi (residual, orthogonality,
// eigenvalues, order, info, NaN propagation), then times batch 10000. Not part of the library
// build; compile and run on the device machine in one call (from the repository root):
//   nvcc -O3 -std=c++17 -Iinclude -gencode=arch=compute_90,code=sm_90 -lineinfo -o /tmp/ew bench/harness/eigh_warp.cu && /tmp/ew [n]
// With n given, only that size is checked and timed.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../../src/cuda/eigh_warp.cuh"

#include "harness.h" /* CK() */

#include "eigh_inputs.h" /* ref_eig, rand_orth, Kind, make */

static int n_pass = 0, n_fail = 0;

template <typename T> static void check_case(int n, int kind, std::mt19937 &g) {
    const int64_t batch = 37;
    const int nan_idx = 5;
    const double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    std::vector<std::vector<double>> As(batch);
    for (int64_t b = 0; b < batch; ++b) As[b] = make<T>(n, kind, g);
    // device layout: contiguous, or column major with padded leading dimension and a batch gap
    int64_t sb = (int64_t)n * n, sr = n, sc = 1;
    if (kind == STRIDED) {
        sr = 1;
        sc = n + 1;
        sb = (int64_t)n * (n + 1) + 3;
    }
    std::vector<T> ha((size_t)(sb * batch + n * (n + 1)), (T)NAN);
    for (int64_t b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                T v = (T)As[b][i * n + j];
                if (kind == STRIDED && j > i) v = (T)NAN; // upper triangle must be ignored
                ha[b * sb + i * sr + j * sc] = v;
            }
    if (kind == NANCASE) ha[nan_idx * sb + (n - 1) * sr + 0 * sc] = n % 2 ? (T)NAN : (T)INFINITY;
    T *da, *dw, *dq;
    int32_t *dinfo, *dsw;
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dw, batch * n * sizeof(T)));
    CK(cudaMalloc(&dq, batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&dsw, batch * sizeof(int32_t)));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemset(dw, 0, batch * n * sizeof(T)));
    CK(cudaMemset(dq, 0, batch * n * n * sizeof(T)));
    CK(cudaMemset(dinfo, 0xff, batch * sizeof(int32_t)));
    CK(mc::eigh_warp::launch_ex<T>(da, sb, sr, sc, dw, dq, dinfo, batch, n, 0, dsw));
    CK(cudaDeviceSynchronize());
    std::vector<T> w(batch * n), q(batch * n * n);
    std::vector<int32_t> info(batch), sw(batch);
    CK(cudaMemcpy(w.data(), dw, w.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(q.data(), dq, q.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(sw.data(), dsw, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CK(cudaFree(da));
    CK(cudaFree(dw));
    CK(cudaFree(dq));
    CK(cudaFree(dinfo));
    CK(cudaFree(dsw));

    double worst_res = 0, worst_orth = 0, worst_w = 0;
    int max_sw = 0;
    bool ok = true;
    const char *why = "";
    for (int64_t b = 0; b < batch; ++b) {
        const T *wb = &w[b * n], *qb = &q[b * n * n];
        if (kind == NANCASE && b == nan_idx) {
            bool all = true;
            for (int i = 0; i < n; ++i) all &= std::isnan((double)wb[i]);
            for (int i = 0; i < n * n; ++i) all &= std::isnan((double)qb[i]);
            if (!all) ok = false, why = "NaN not propagated";
            continue;
        }
        const auto &A = As[b];
        max_sw = std::max(max_sw, (int)sw[b]);
        if (info[b] != 0) ok = false, why = "info != 0";
        double fa = 0;
        for (double x : A) fa += x * x;
        fa = sqrt(fa);
        const double fan = fa > 0 ? fa : 1;
        double res = 0, orth = 0;
        bool finite = true;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0, o = 0;
                for (int k = 0; k < n; ++k) {
                    s += A[i * n + k] * (double)qb[k * n + j];
                    o += (double)qb[k * n + i] * (double)qb[k * n + j];
                }
                s -= (double)qb[i * n + j] * (double)wb[j];
                o -= i == j;
                res += s * s;
                orth += o * o;
                finite &= std::isfinite((double)qb[i * n + j]);
            }
        res = sqrt(res) / fan;
        orth = sqrt(orth);
        const auto wr = ref_eig(n, A);
        double dw = 0;
        for (int i = 0; i < n; ++i) dw = std::max(dw, fabs((double)wb[i] - wr[i]) / fan);
        for (int i = 1; i < n; ++i)
            if (!(wb[i - 1] <= wb[i])) ok = false, why = "not ascending";
        if (!finite) ok = false, why = "non-finite output";
        worst_res = std::max(worst_res, res);
        worst_orth = std::max(worst_orth, orth);
        worst_w = std::max(worst_w, dw);
    }
    const double tol = 30 * n * eps;
    if (!(worst_res <= tol)) ok = false, why = "residual";
    if (!(worst_orth <= tol)) ok = false, why = "orthogonality";
    if (!(worst_w <= tol)) ok = false, why = "eigenvalues vs reference";
    printf("%s %s n=%2d %-18s res=%.2f orth=%.2f dw=%.2f (units of n*eps, tol 30) max_sweeps=%d %s\n",
           ok ? "PASS" : "FAIL", sizeof(T) == 4 ? "f32" : "f64", n, kind_name[kind], worst_res / (n * eps),
           worst_orth / (n * eps), worst_w / (n * eps), max_sw, why);
    (ok ? n_pass : n_fail)++;
}

template <typename T> static void time_case(int n, int64_t batch, bool strided, std::mt19937 &g) {
    int64_t sb = (int64_t)n * n, sr = n, sc = 1;
    if (strided) {
        sr = 1;
        sc = n + 1;
        sb = (int64_t)n * (n + 1) + 3;
    }
    std::normal_distribution<double> N;
    std::vector<T> ha((size_t)(sb * batch + n * (n + 1)), (T)0);
    for (int64_t b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j <= i; ++j) {
                const T v = (T)N(g);
                ha[b * sb + i * sr + j * sc] = v;
                ha[b * sb + j * sr + i * sc] = v;
            }
    T *da, *dw, *dq;
    int32_t *dinfo, *dsw;
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dw, batch * n * sizeof(T)));
    CK(cudaMalloc(&dq, batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&dsw, batch * sizeof(int32_t)));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(mc::eigh_warp::launch_ex<T>(da, sb, sr, sc, dw, dq, dinfo, batch, n, 0, dsw));
    for (int i = 0; i < 3; ++i) CK(mc::eigh_warp::launch<T>(da, sb, sr, sc, dw, dq, dinfo, batch, n, 0));
    CK(cudaDeviceSynchronize());
    std::vector<float> ms;
    for (int r = 0; r < 15; ++r) {
        CK(cudaEventRecord(e0));
        CK(mc::eigh_warp::launch<T>(da, sb, sr, sc, dw, dq, dinfo, batch, n, 0));
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
    printf("TIME %s n=%2d batch=%lld%s: median %.3f ms (min %.3f) sweeps max %d mean %.2f, info!=0: %d\n",
           sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, strided ? " strided" : "", ms[ms.size() / 2], ms[0],
           mx, mean / batch, nonconv);
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaFree(da));
    CK(cudaFree(dw));
    CK(cudaFree(dq));
    CK(cudaFree(dinfo));
    CK(cudaFree(dsw));
}

int main(int argc, char **argv) {
    const int only = argc > 1 ? atoi(argv[1]) : 0;
    std::mt19937 g(12345);
    const int sizes[] = {1, 2, 3, 8, 16, 17, 31, 32};
    for (int n : sizes) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS; ++kind) check_case<float>(n, kind, g);
        for (int kind = 0; kind < NKINDS; ++kind) check_case<double>(n, kind, g);
    }
    printf("eigh_warp: %d passed, %d failed\n", n_pass, n_fail);
    const int64_t batch = 10000;
    if (!only || only == 8) time_case<float>(8, batch, false, g);
    if (!only || only == 16) time_case<float>(16, batch, false, g);
    if (!only || only == 32) time_case<float>(32, batch, false, g);
    if (!only || only == 32) time_case<float>(32, batch, true, g);
    if (!only || only == 32) time_case<double>(32, batch, false, g);
    if (only && only != 8 && only != 16 && only != 32) {
        time_case<float>(only, batch, false, g);
        time_case<double>(only, batch, false, g);
    }
    if (!only) time_case<float>(8, 100000, false, g);
    if (!only) time_case<float>(16, 100000, false, g);
    return n_fail ? 1 : 0;
}
