// Where K1 (eigh_tridiag's Householder tridiagonalization, src/cuda/eigh_tridiag.cuh k_tridiag)
// spends its time: the kernel built with MC_TRI_PROFILE, whose block 0 / thread 0 adds clock64()
// deltas per phase of every column (0: row k's update, its sum of squares and the reflector;
// 1: the reflector's stores and the barrier after them; 2: the fused update + symv pass; 3: p, w
// and p.v). Prints cycles per column for each phase, for fp32 100 x n at a few n. Compiles and
// runs on the device machine: bash bench/harness/run_all.sh eigh_tridiag_prof
#define MC_TRI_PROFILE 1
#include "../../src/cuda/eigh_tridiag.cuh"

#include <cstdio>
#include <random>
#include <vector>

#include "harness.h" /* CK() */

namespace et = mc::eigh_tridiag;

int main() {
    std::mt19937 g(5);
    std::normal_distribution<float> N;
    for (int n : {64, 128, 256, 512}) {
        const int64_t batch = 100;
        std::vector<float> ha((size_t)batch * n * n);
        for (int64_t b = 0; b < batch; ++b)
            for (int i = 0; i < n; ++i)
                for (int j = 0; j <= i; ++j) ha[(b * n + i) * n + j] = ha[(b * n + j) * n + i] = N(g);
        float *da, *dw, *dq;
        int32_t *dinfo;
        void *ws;
        CK(cudaMalloc(&da, ha.size() * 4));
        CK(cudaMalloc(&dw, batch * n * 4));
        CK(cudaMalloc(&dq, ha.size() * 4));
        CK(cudaMalloc(&dinfo, batch * 4));
        CK(cudaMalloc(&ws, et::workspace_bytes<float>(n, batch)));
        CK(cudaMemcpy(da, ha.data(), ha.size() * 4, cudaMemcpyHostToDevice));
        CK(et::launch<float>(da, (int64_t)n * n, n, 1, dw, dq, dinfo, batch, n, ws, 0)); /* warm-up */
        const unsigned long long zero[4] = {0, 0, 0, 0};
        CK(cudaMemcpyToSymbol(et::tri_prof, zero, sizeof zero));
        cudaEvent_t e[6];
        for (auto &x : e) CK(cudaEventCreate(&x));
        CK(cudaEventRecord(e[5]));
        CK(et::launch_ex<float>(da, (int64_t)n * n, n, 1, dw, dq, dinfo, batch, n, ws, 0, e));
        CK(cudaDeviceSynchronize());
        unsigned long long c[4];
        CK(cudaMemcpyFromSymbol(c, et::tri_prof, sizeof c));
        float k1 = 0;
        CK(cudaEventElapsedTime(&k1, e[5], e[0]));
        int clk = 0;
        CK(cudaDeviceGetAttribute(&clk, cudaDevAttrClockRate, 0));
        const double cols = n - 2, tot = (double)(c[0] + c[1] + c[2] + c[3]);
        printf("K1 f32 n=%3d batch=%lld: %.3f ms; block 0: %.0f cycles (%.3f ms at %d MHz) = %.0f per column: row+norm+reflector %.0f, "
               "stores+barrier %.0f, fused pass %.0f, p/w/p.v %.0f\n",
               n, (long long)batch, k1, tot, tot / clk, clk / 1000, tot / cols, c[0] / cols, c[1] / cols, c[2] / cols,
               c[3] / cols);
        CK(cudaFree(da));
        CK(cudaFree(dw));
        CK(cudaFree(dq));
        CK(cudaFree(dinfo));
        CK(cudaFree(ws));
    }
    return 0;
}
