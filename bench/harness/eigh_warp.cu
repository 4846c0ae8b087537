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


template <typename T> static void check_case(int n, int kind, std::mt19937 &g) {
    check_case<T>("warp", n, kind, g, 37,
                  [](const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t bt, int nn,
                     int32_t *sw) { return mc::eigh_warp::launch_ex<T>(a, sb, sr, sc, w, q, info, bt, nn, 0, sw); });
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
