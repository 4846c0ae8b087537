// Standalone harness for the RMSNorm backward (bf16, 16384 x 4096 by default): the library's
// design against a cp.async double-buffered variant, each checked against a simple reference and
// timed with CUDA events, in one process. Not part of the library build; compile and run on the
// device machine in one call:
//   nvcc -O3 -std=c++17 -gencode=arch=compute_90,code=sm_90 -o /tmp/rb bench/harness/rmsnorm_bwd.cu && /tmp/rb [rows n]
//
// Why: the library's persistent backward (src/cuda/rmsnorm.cu) reached 172-176 us (2.3 TB/s) on
// the H100 against a 135 us floor, and keeping the next row in registers (software pipelining)
// measured slower (more registers, fewer blocks). Variant B stages the next row of x and dy in
// shared memory with cp.async while the current row is reduced and written, so loads stay in
// flight without the register cost (the idea as in CUTLASS/quack's multistage pipelines; our own
// code). Written without a GPU at hand: the first run checks it before any timing is trusted.
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

// ---- B: cp.async double buffer in shared memory ------------------------------------------------
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Each thread copies and later reads back exactly the packs it owns (col = (i * tpr + tid) * VEC),
// so a stage needs no block barrier between its copy and its use, only cp.async.wait_group; the
// barrier inside block_sum orders the reuse of a stage two rows later.
template <int NV>
__global__ void __launch_bounds__(256, 2) bwd_cpasync(const bf16 *__restrict__ dy, const bf16 *__restrict__ x,
                                                      const bf16 *__restrict__ w, const float *__restrict__ rstd,
                                                      bf16 *dx, float *__restrict__ dwp, int rows, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    bf16 *sx = reinterpret_cast<bf16 *>(smem);  // [2][n]
    bf16 *sg = sx + 2 * (size_t)n;              // [2][n]
    __shared__ float red[2][32];
    const int tid = threadIdx.x, tpr = blockDim.x;
    float dwacc[NV][VEC] = {};
    Pack wv[NV];
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) wv[i] = *reinterpret_cast<const Pack *>(w + col);
    }
    auto issue = [&](int row, int stage) {
        if (row < rows) {
#pragma unroll
            for (int i = 0; i < NV; ++i) {
                const int col = (i * tpr + tid) * VEC;
                if (col < n) {
                    cp_async16(sx + (size_t)stage * n + col, x + (size_t)row * n + col);
                    cp_async16(sg + (size_t)stage * n + col, dy + (size_t)row * n + col);
                }
            }
        }
        cp_async_commit(); // an empty group past the last row keeps the wait counts uniform
    };
    int parity = 0, stage = 0;
    issue(blockIdx.x, 0);
    for (int row = blockIdx.x; row < rows; row += gridDim.x) {
        issue(row + gridDim.x, stage ^ 1);
        cp_async_wait<1>(); // this row's group has landed; the next one may still fly
        Pack xp[NV], gp[NV];
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                xp[i] = *reinterpret_cast<const Pack *>(sx + (size_t)stage * n + col);
                gp[i] = *reinterpret_cast<const Pack *>(sg + (size_t)stage * n + col);
            }
        }
        const float r = rstd[row];
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i)
#pragma unroll
            for (int j = 0; j < VEC; ++j)
                dot += __bfloat162float(gp[i].v[j]) * __bfloat162float(wv[i].v[j]) * __bfloat162float(xp[i].v[j]);
        dot = block_sum(dot, red[parity]);
        parity ^= 1;
        const float c = r * r * dot / n;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                Pack o;
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float g0 = __bfloat162float(gp[i].v[j]), xf = __bfloat162float(xp[i].v[j]);
                    o.v[j] = __float2bfloat16_rn(r * (g0 * __bfloat162float(wv[i].v[j]) - xf * c));
                    dwacc[i][j] += g0 * xf * r;
                }
                *reinterpret_cast<Pack *>(dx + (size_t)row * n + col) = o;
            }
        }
        stage ^= 1;
    }
    cp_async_wait<0>();
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n)
            for (int j = 0; j < VEC; ++j) dwp[(size_t)blockIdx.x * n + col + j] = dwacc[i][j];
    }
}

__global__ void reduce_cols(const float *p, int parts, int n, float *dw) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n) return;
    float s = 0.f;
    for (int k = 0; k < parts; ++k) s += p[(size_t)k * n + c];
    dw[c] = s;
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
    float *rstd[2], *dxr, *dwr, *dwp, *dw;
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
    CK(cudaMalloc(&dwp, (size_t)sms * 4 * n * 4));
    CK(cudaMemset(dwr, 0, n * 4));
    ref_bwd<<<rows, 256>>>(dy[0], x[0], w, rstd[0], dxr, dwr, rows, n);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> hdxr(N), hdwr(n), hdw(n);
    std::vector<bf16> hdx(N);
    CK(cudaMemcpy(hdxr.data(), dxr, N * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(hdwr.data(), dwr, n * 4, cudaMemcpyDeviceToHost));

    const size_t smem_b = 4 * (size_t)n * 2; // 2 stages x (x, dy)
    CK(cudaFuncSetAttribute(bwd_cpasync<NV>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem_b));
    int occ_a = 0, occ_b = 0;
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ_a, bwd_regs<NV>, 256, 0));
    CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ_b, bwd_cpasync<NV>, 256, smem_b));
    struct V { const char *name; int grid; };
    V vs[2] = {{"A registers (library)", sms * occ_a}, {"B cp.async 2-stage smem", sms * occ_b}};
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (int v = 0; v < 2; ++v) {
        const int grid = vs[v].grid;
        auto launch = [&](int k) {
            if (v == 0) bwd_regs<NV><<<grid, 256>>>(dy[k], x[k], w, rstd[k], dx, dwp, rows, n);
            else bwd_cpasync<NV><<<grid, 256, smem_b>>>(dy[k], x[k], w, rstd[k], dx, dwp, rows, n);
            reduce_cols<<<(n + 255) / 256, 256>>>(dwp, grid, n, dw);
        };
        launch(0);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        CK(cudaMemcpy(hdx.data(), dx, N * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(hdw.data(), dw, n * 4, cudaMemcpyDeviceToHost));
        double ex = 0, sx = 0, ew = 0, sw = 0;
        for (size_t i = 0; i < N; ++i) {
            ex = fmax(ex, fabs((double)__bfloat162float(hdx[i]) - hdxr[i]));
            sx = fmax(sx, fabs((double)hdxr[i]));
        }
        for (int i = 0; i < n; ++i) {
            ew = fmax(ew, fabs((double)hdw[i] - hdwr[i]));
            sw = fmax(sw, fabs((double)hdwr[i]));
        }
        for (int it = 0; it < 5; ++it) launch(it & 1);
        std::vector<float> ts;
        for (int it = 0; it < 30; ++it) {
            CK(cudaEventRecord(e0));
            launch(it & 1);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float ms = 0;
            CK(cudaEventElapsedTime(&ms, e0, e1));
            ts.push_back(ms);
        }
        std::sort(ts.begin(), ts.end());
        const double us = ts[ts.size() / 2] * 1e3, bytes = 3.0 * N * 2;
        printf("%-26s grid %5d  %7.1f us  %.2f TB/s  dx rel err %.2e  dw rel err %.2e\n", vs[v].name, grid, us,
               bytes / us / 1e6, ex / sx, ew / sw);
    }
    return 0;
}
