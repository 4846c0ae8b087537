// Standalone harness for the RMSNorm backward (bf16, 16384 x 4096 by default): the library's own
// kernels (src/cuda/rmsnorm.cu is #included: rmsnorm_bwd_reg on a persistent grid, row in
// registers, one dweight partial row per block, summed by reduce_partials), checked against a simple
// fp32 reference and timed with CUDA events. Not part of the library build; compile and run on the
// device machine in one call (from the repository root):
//   bash bench/harness/run_all.sh rmsnorm_bwd
//
// Bytes counted: 3 x rows x n x 2 (x, dy read, dx written); at the H100's 2.98 TB/s device copy
// rate that is a 135 us floor at 16384 x 4096 (docs/PERF_NOTES.md). The output line gives registers,
// local memory, occupancy, grid, workspace, the time split into the main kernel and the dweight
// reduce, and TB/s. dx and dweight are poisoned with NaN before the check, so unwritten elements fail.
// Both kernels are launched here the ordinary way, with events between them (the library chains
// them by programmatic dependent launch).
//
// Measured, H100, 16384 x 4096 (bench/results/h100-2026-11-26-s5/run4_*): kernel 153.6 + reduce
// 5.1 us; the reduce before session 5 (32 columns x 8 lanes of scalar loads, one in flight) 9.1 us
// on the same partials. Variants once here, all dropped (median total us; the library's A: 159.6 =
// 152.5 kernel + 7.1 reduce with the old reduce; bench/results/h100-2026-11-26-s4/run1_df97787_harness.log,
// section '=== rmsnorm_bwd', and docs/PERF_NOTES.md):
//   A + old reduce_cols (one thread per column, serial over the partials)  164.5 (reduce 11.7)
//   B   cp.async 2-stage shared-memory double buffer of x, dy, lb 2          152.4
//   C3  register prefetch of the next row, lb 3                              152.7
//   C2  register prefetch of the next row, lb 2                              150.3, but the same
//       prefetch ported into the library was slower in every 16-bit shape
//   D2  two rows per block iteration, 128 threads per row, lb 2              161.4
//   E   one-shot grid, 16 or 32 consecutive rows per block, lb 3 or 4        173-186
//   F   A under __launch_bounds__(256, 4): 64 registers, 4 blocks/SM         179.8
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>

#include "../../src/cuda/runtime.cu"
#include "../../src/cuda/rmsnorm.cu" /* rmsnorm_bwd_reg, reduce_partials, block_sum */

#include "harness.h"    /* CK() */
#include "core_stubs.h" /* mc_fail, mc_dtype_size, mc_dtype_name */

typedef __nv_bfloat16 bf16;
constexpr int VEC = 8; // bf16 per 16-byte pack

// ---- reference: one block per row, fp32, two passes; dw via per-row atomics ------------------
__global__ void ref_bwd(const bf16 *dy, const bf16 *x, const bf16 *w, const float *rstd, float *dx,
                        float *dw, int rows, int n) {
    __shared__ float red[32];
    const int r = blockIdx.x;
    float dot = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x)
        dot += __bfloat162float(dy[(size_t)r * n + c]) * __bfloat162float(w[c]) * __bfloat162float(x[(size_t)r * n + c]);
    dot = block_sum(dot, red);
    const float rs = rstd[r], k = rs * rs * dot / n;
    for (int c = threadIdx.x; c < n; c += blockDim.x) {
        const float g = __bfloat162float(dy[(size_t)r * n + c]), xv = __bfloat162float(x[(size_t)r * n + c]);
        dx[(size_t)r * n + c] = rs * (g * __bfloat162float(w[c]) - xv * k);
        atomicAdd(dw + c, g * xv * rs);
    }
}

__global__ void fill_rand(bf16 *p, size_t n, unsigned seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
        p[i] = __float2bfloat16_rn(((h & 0xffffff) / 16777216.0f - 0.5f) * scale);
    }
}

__global__ void rstd_kernel(const bf16 *x, float *rstd, int rows, int n) {
    __shared__ float red[32];
    float ss = 0.f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) {
        const float v = __bfloat162float(x[(size_t)blockIdx.x * n + c]);
        ss += v * v;
    }
    ss = block_sum(ss, red);
    if (threadIdx.x == 0) rstd[blockIdx.x] = rsqrtf(ss / n + 1e-6f);
}

int main(int argc, char **argv) {
    const int rows = argc > 2 ? atoi(argv[1]) : 16384, n = argc > 2 ? atoi(argv[2]) : 4096;
    constexpr int NV = 2; // n = 4096 bf16: 256 threads x 2 packs x 8
    if (n != 256 * NV * VEC) {
        fprintf(stderr, "this harness is built for n = %d\n", 256 * NV * VEC);
        return 1;
    }
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    const size_t N = (size_t)rows * n;
    bf16 *x[2], *dy[2], *w, *dx;
    float *rstd[2], *dxr, *dwr, *dw;
    for (int k = 0; k < 2; ++k) { // two input sets so timing does not run from L2
        CK(cudaMalloc(&x[k], N * 2));
        CK(cudaMalloc(&dy[k], N * 2));
        CK(cudaMalloc(&rstd[k], rows * 4));
        fill_rand<<<1024, 256>>>(x[k], N, 17u + k, 6.f);
        fill_rand<<<1024, 256>>>(dy[k], N, 91u + k, 2.f);
        rstd_kernel<<<rows, 256>>>(x[k], rstd[k], rows, n);
    }
    CK(cudaMalloc(&w, n * 2));
    fill_rand<<<16, 256>>>(w, n, 5u, 2.f);
    CK(cudaMalloc(&dx, N * 2));
    CK(cudaMalloc(&dxr, N * 4));
    CK(cudaMalloc(&dwr, n * 4));
    CK(cudaMalloc(&dw, n * 4));
    CK(cudaMemset(dwr, 0, n * 4));
    ref_bwd<<<rows, 256>>>(dy[0], x[0], w, rstd[0], dxr, dwr, rows, n);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> hdxr(N), hdwr(n), hdw(n);
    std::vector<bf16> hdx(N);
    CK(cudaMemcpy(hdxr.data(), dxr, N * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hdwr.data(), dwr, n * 4, cudaMemcpyDeviceToHost));

    // Persistent grid: SMs x occupancy blocks, one partial row of n floats each.
    const char *name = "A  registers (library)";
    cudaFuncAttributes attr;
    const auto bwd = rmsnorm_bwd_reg<bf16, bf16, NV>;
    CK(cudaFuncGetAttributes(&attr, bwd));
    int occ = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, bwd, 256, 0));
    printf("RMSNorm backward harness: %d SMs, rows %d, n %d bf16; bytes counted 3 x rows x n x 2 = %.1f MB\n", sms,
           rows, n, 3.0 * N * 2 / 1e6);
    if (occ == 0) {
        printf("%-36s regs %3d lmem %3zu occ 0: cannot launch\n", name, attr.numRegs, attr.localSizeBytes);
        return 1;
    }
    const int grid = sms * occ;
    const double ws_mb = (double)grid * n * 4 / 1e6;
    float *dwp;
    CK(cudaMalloc(&dwp, (size_t)grid * n * 4));
    auto kernel = [&](int k) { bwd<<<grid, 256>>>(dy[k], x[k], w, rstd[k], dx, dwp, rows, n, nullptr); };
    auto reduce = [&]() {
        reduce_partials<float><<<(n + kReduceCols - 1) / kReduceCols, dim3(kReduceCols / 4, kReduceLanes)>>>(
            dwp, grid, n, dw);
    };

    // check: outputs poisoned with NaN first, so an element nobody wrote shows up
    CK(cudaMemset(dx, 0xff, N * 2));
    CK(cudaMemset(dw, 0xff, n * 4));
    kernel(0);
    reduce();
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(hdx.data(), dx, N * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hdw.data(), dw, n * 4, cudaMemcpyDeviceToHost));
    double ex = 0, sx = 0, ew = 0, sw = 0;
    size_t bad = 0;
    for (size_t i = 0; i < N; ++i) {
        const double d = __bfloat162float(hdx[i]);
        if (!std::isfinite(d)) { ++bad; continue; }
        ex = fmax(ex, fabs(d - hdxr[i]));
        sx = fmax(sx, fabs((double)hdxr[i]));
    }
    for (int i = 0; i < n; ++i) {
        if (!std::isfinite(hdw[i])) { ++bad; continue; }
        ew = fmax(ew, fabs((double)hdw[i] - hdwr[i]));
        sw = fmax(sw, fabs((double)hdwr[i]));
    }
    const bool ok = bad == 0 && ex / sx < 1e-2 && ew / sw < 1e-3;

    // timing: medians of 30 after 5 warm-ups, input sets alternating; kernel and reduce each
    // between their own events
    cudaEvent_t e0, e1, e2;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    CK(cudaEventCreate(&e2));
    for (int it = 0; it < 5; ++it) {
        kernel(it & 1);
        reduce();
    }
    CK(cudaGetLastError());
    std::vector<float> tt, tk, tr;
    for (int it = 0; it < 30; ++it) {
        CK(cudaEventRecord(e0));
        kernel(it & 1);
        CK(cudaEventRecord(e1));
        reduce();
        CK(cudaEventRecord(e2));
        CK(cudaEventSynchronize(e2));
        float a = 0, b = 0;
        CK(cudaEventElapsedTime(&a, e0, e1));
        CK(cudaEventElapsedTime(&b, e1, e2));
        tk.push_back(a);
        tr.push_back(b);
        tt.push_back(a + b);
    }
    CK(cudaGetLastError());
    CK(cudaGetLastError());
    std::sort(tt.begin(), tt.end());
    std::sort(tk.begin(), tk.end());
    std::sort(tr.begin(), tr.end());
    const double us = tt[tt.size() / 2] * 1e3, bytes = 3.0 * N * 2;
    printf("%-36s regs %3d lmem %3zu occ %d grid %5d ws %5.1f MB  %7.1f us (kernel %7.1f + reduce %5.1f)  "
           "%.2f TB/s  dx rel err %.2e  dw rel err %.2e  %s",
           name, attr.numRegs, attr.localSizeBytes, occ, grid, ws_mb, us, tk[tk.size() / 2] * 1e3,
           tr[tr.size() / 2] * 1e3, bytes / us / 1e6, ex / sx, ew / sw, ok ? "ok" : "FAIL");
    if (bad) printf(" (%zu non-finite)", bad);
    printf("\n");
    if (!ok) printf("the check FAILED\n");
    return ok ? 0 : 1;
}
