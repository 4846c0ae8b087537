// Standalone harness for the RMSNorm backward (bf16, 16384 x 4096 by default): the library's design
// (src/cuda/rmsnorm.cu: persistent grid, row in registers, one dweight partial row per block summed
// by reduce_partials), checked against a simple fp32 reference and timed with CUDA events. Not part
// of the library build; compile and run on the device machine in one call:
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90,code=sm_90 -o /tmp/rb bench/harness/rmsnorm_bwd.cu && /tmp/rb [rows n]
//
// Bytes counted: 3 x rows x n x 2 (x, dy read, dx written); at the H100's 2.98 TB/s device copy
// rate that is a 135 us floor at 16384 x 4096 (docs/PERF_NOTES.md). The output line gives registers,
// local memory, occupancy, grid, workspace, the time split into the main kernel and the dweight
// reduce, and TB/s. dx and dweight are poisoned with NaN before the check, so unwritten elements fail.
//
// The old reduce (32 x 8 scalar lanes, one load in flight) is timed after the library's on the
// same partials. Variants once here, all dropped (H100, 16384 x 4096, median total us; the
// library's A: 159.6 = 152.5 kernel + 7.1 reduce with the old reduce). bench/results/h100-2026-11-26-s4/run1_df97787_harness.log, section
// '=== rmsnorm_bwd', and docs/PERF_NOTES.md:
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

#include "harness.h" /* CK() */

typedef __nv_bfloat16 bf16;
constexpr int VEC = 8; // bf16 per 16-byte pack
struct alignas(16) Pack {
    bf16 v[VEC];
};

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (blockDim.x threads, one row per block iteration); red: 32 floats x 2 parities.
__device__ __forceinline__ float block_sum(float v, float *red) {
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.f;
    for (int i = 0; i < (int)(blockDim.x >> 5); ++i) s += red[i];
    return s;
}

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

// ---- A: the library's design (persistent grid, row in registers, NV packs per thread) -------
template <int NV>
__global__ void __launch_bounds__(256, 3) bwd_regs(const bf16 *__restrict__ dy, const bf16 *__restrict__ x,
                                                const bf16 *__restrict__ w, const float *__restrict__ rstd,
                                                bf16 *dx, float *__restrict__ dwp, int rows, int n) {
    __shared__ float red[2][32];
    const int tid = threadIdx.x, tpr = blockDim.x;
    float dwacc[NV][VEC] = {};
    int parity = 0;
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        Pack xp[NV], gp[NV];
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                xp[i] = *reinterpret_cast<const Pack *>(x + (size_t)row * n + col);
                gp[i] = *reinterpret_cast<const Pack *>(dy + (size_t)row * n + col);
            }
        }
        const float r = rstd[row];
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                const Pack wp = *reinterpret_cast<const Pack *>(w + col);
#pragma unroll
                for (int j = 0; j < VEC; ++j)
                    dot += __bfloat162float(gp[i].v[j]) * __bfloat162float(wp.v[j]) * __bfloat162float(xp[i].v[j]);
            }
        }
        dot = block_sum(dot, red[parity]);
        parity ^= 1;
        const float c = r * r * dot / n;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                const Pack wp = *reinterpret_cast<const Pack *>(w + col);
                Pack o;
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float g0 = __bfloat162float(gp[i].v[j]), xf = __bfloat162float(xp[i].v[j]);
                    o.v[j] = __float2bfloat16_rn(r * (g0 * __bfloat162float(wp.v[j]) - xf * c));
                    dwacc[i][j] += g0 * xf * r;
                }
                *reinterpret_cast<Pack *>(dx + (size_t)row * n + col) = o;
            }
        }
    }
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n)
            for (int j = 0; j < VEC; ++j) dwp[(size_t)blockIdx.x * n + col + j] = dwacc[i][j];
    }
}

// The second kernel as it was until session 5: block (32, 8), 32 columns, 8 lanes over the
// partials, one scalar load in flight per thread; n / 32 blocks (7.1 us of 159.6 in session 4).
__global__ void reduce_old(const float *__restrict__ partial, int parts, int n, float *__restrict__ dw) {
    __shared__ float s[8][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    float acc = 0.f;
    if (col < n)
        for (int p = threadIdx.y; p < parts; p += 8) acc += partial[(size_t)p * n + col];
    s[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < n) {
        float t = 0.f;
#pragma unroll
        for (int k = 0; k < 8; ++k) t += s[k][threadIdx.x];
        dw[col] = t;
    }
}

// The library's second kernel (src/cuda/rmsnorm.cu reduce_partials, copied): block (8, 128), 8
// float4 lanes x 128 lanes over the partials, 4 loads in flight per thread; n / 32 blocks.
__global__ void __launch_bounds__(1024) reduce_partials(const float *__restrict__ partial, int parts, int n,
                                                       float *__restrict__ dw) {
    __shared__ float s[32][32];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int col = blockIdx.x * 32 + tx * 4;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    auto add = [&acc](const float4 v) {
        acc.x += v.x;
        acc.y += v.y;
        acc.z += v.z;
        acc.w += v.w;
    };
    if (col < n) {
        /* 4 loads per thread issued together (ptxas keeps about that many in flight; rows past the
         * end load the last row and are not added): up to 4 x 128 partial rows in one L2 round trip */
        const float *p0 = partial + col;
        for (int p = ty; p < parts; p += 4 * 128) {
            float4 v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int q = p + u * 128 < parts ? p + u * 128 : parts - 1;
                v[u] = __ldg(reinterpret_cast<const float4 *>(p0 + (size_t)q * n));
            }
#pragma unroll
            for (int u = 0; u < 4; ++u)
                if (p + u * 128 < parts) add(v[u]);
        }
    }
    for (int o = 8; o < 32; o <<= 1) {
        acc.x += __shfl_xor_sync(0xffffffffu, acc.x, o);
        acc.y += __shfl_xor_sync(0xffffffffu, acc.y, o);
        acc.z += __shfl_xor_sync(0xffffffffu, acc.z, o);
        acc.w += __shfl_xor_sync(0xffffffffu, acc.w, o);
    }
    if ((ty & 3) == 0) *reinterpret_cast<float4 *>(&s[ty / 4][tx * 4]) = acc;
    __syncthreads();
    const int t = ty * 8 + tx, c = blockIdx.x * 32 + t;
    if (t < 32 && c < n) {
        float sum = 0.f;
#pragma unroll
        for (int k = 0; k < 32; ++k) sum += s[k][t];
        dw[c] = sum;
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
    CK(cudaFuncGetAttributes(&attr, bwd_regs<NV>));
    int occ = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, bwd_regs<NV>, 256, 0));
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
    auto kernel = [&](int k) { bwd_regs<NV><<<grid, 256>>>(dy[k], x[k], w, rstd[k], dx, dwp, rows, n); };
    auto reduce = [&]() { reduce_partials<<<(n + 31) / 32, dim3(8, 128)>>>(dwp, grid, n, dw); };
    auto reduce_prev = [&]() { reduce_old<<<(n + 31) / 32, dim3(32, 8)>>>(dwp, grid, n, dw); };

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
    std::vector<float> tro; /* the old reduce on the same partials, for comparison */
    for (int it = 0; it < 30; ++it) {
        CK(cudaEventRecord(e1));
        reduce_prev();
        CK(cudaEventRecord(e2));
        CK(cudaEventSynchronize(e2));
        float b = 0;
        CK(cudaEventElapsedTime(&b, e1, e2));
        tro.push_back(b);
    }
    std::sort(tro.begin(), tro.end());
    std::vector<float> hdw_old(n);
    CK(cudaMemcpy(hdw_old.data(), dw, n * 4, cudaMemcpyDeviceToHost));
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
    double ewo = 0;
    for (int i = 0; i < n; ++i) ewo = fmax(ewo, fabs((double)hdw_old[i] - hdwr[i]));
    printf("%-36s reduce %5.1f us (new %5.1f), dw rel err %.2e\n", "   old reduce (32 x 8 scalar)",
           tro[tro.size() / 2] * 1e3, tr[tr.size() / 2] * 1e3, ewo / sw);
    if (!ok) printf("the check FAILED\n");
    return ok ? 0 : 1;
}
