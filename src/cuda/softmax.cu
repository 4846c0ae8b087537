/* Softmax on CUDA. Every tensor is (outer, n, inner), contiguous; the softmax runs over n.
 *
 * Paths, chosen from the shape and the device (make_plan; forward and backward plans are made
 * the same way, and the workspace covers both):
 *  - rows:    inner == 1, n a multiple of the 16-byte vector (VEC elements), pointers 16-byte
 *             aligned. The row lives in registers, so x is read once and y written once.
 *             Short rows (n <= 512 vectors): TPR = 32..256 threads own a row, at most 2 vectors
 *             each, 256 / TPR rows per block (Liger's "one program per row, 8 warps, the row in
 *             registers" shape for 4096 bf16, with more rows per block below that).
 *             Long rows: one block, or a thread-block CLUSTER of C = 2..16 blocks (sm_90), owns a
 *             row; every thread holds NV vectors of it in 32 registers: the forward 8 (fp32 as
 *             32 floats, overwritten by their exps; bf16 / fp16 as 64 RAW 16-bit values, converted
 *             and exponentiated where used, once for the sum and once for the output), the backward
 *             4 of y and 4 of dy, in the storage type. Block rank r owns the columns
 *             [r S, (r+1) S), S = TPR * NV * VEC. Each warp reduces its part to (max, sum of
 *             exp(x - warp max)); the block merges its warps through shared memory, the cluster
 *             merges its blocks through distributed shared memory (every block reads the C
 *             partials with cluster.map_shared_rank after one cluster.sync()), and each thread
 *             scales its exps by exp(warp max - row max) / row sum. C and TPR by the threads a row
 *             needs: one block or a pair of up to 512 threads; beyond 1024 threads C = 4..16
 *             blocks of up to 256 in the forward (512 in the backward), 16 of up to 1024 for the
 *             longest rows; C doubled up to 8 while few rows would leave SMs idle. C = 16 needs
 *             the non-portable cluster size and is checked with cudaOccupancyMaxActiveClusters (C
 *             = 8 or split otherwise). Row limits: forward 16 x 1024 x 64 = 1048576 elements
 *             (16-bit) or 524288 (fp32), backward 524288 (16-bit) or 262144 (fp32).
 *             Why the 16-bit forward holds raw values (64 elements, 128 bytes in flight per thread
 *             as in the fp32 forward; the float layout held 32) and why 256-thread blocks past 2
 *             per row: bench/harness/softmax_rows.cu on an H100 (copy 3.01 TB/s), forward, float
 *             layout (4 vectors, C x TPR) against the raw layout (harness kernel, C x TPR): bf16
 *             128 x 131072 49.5 us (8 x 512) -> 37.6 us, 1.78 TB/s (8 x 256; 4 x 512 40.7,
 *             2 x 1024 40.0); bf16 256 x 65536 49.0 us (4 x 512) -> 36.4 us, 1.84 TB/s (2 x 512;
 *             4 x 256 37.1); bf16 64 x 262144 55.1 -> 40.2 us (16 x 256); bf16 512 x 32768 43.4
 *             -> 35.9 us (1 x 512). Holding part of the row in shared memory too (cp.async), so a
 *             batch is resident in fewer waves, was slower in every case (54-90 us at these
 *             shapes). fp32 (same layout, blocks of 256 past 2 per row): 256 x 65536 59.1 us
 *             (4 x 512) -> 57.7-58.4 (8 x 256); 64 x 131072 37.8 (8 x 512) -> 37.6 (16 x 256;
 *             34.9 with the harness kernel).
 *             (Cluster/DSMEM row reduction: our own design, after the CUDA programming guide's
 *             distributed shared memory example; per-warp (max, sum) pairs merged as in Milakov &
 *             Gimelshein's online softmax.)
 *  - split:   rows longer than the cluster limits, or devices without cluster launch (before
 *             sm_90, or a build without sm_90 code) with rows too long for one block or too few
 *             rows to fill the GPU; also unaligned widths n >= 4096. The row is cut into chunks
 *             of L columns, one block per chunk. Kernel A writes each chunk's (max, sum of exp)
 *             to the workspace; kernel B merges a row's partials and writes its chunk. x is read
 *             twice (the second read mostly from L2). (Chunked online softmax merge: Milakov &
 *             Gimelshein 2018.)
 *  - generic: inner == 1 otherwise (odd n < 4096, unaligned pointers): one 256-thread block per
 *             row, online (max, sum) in one pass, then a write pass.
 *  - column:  inner > 1 (softmax over a non-last dim): one thread per (outer, inner) column,
 *             walking n with stride inner, so a warp reads 32 consecutive elements.
 * Non-finite values follow torch: a row of all -inf, or holding +inf or NaN, is NaN.
 */
#include "../core/softmax.h"
#include "common.cuh"

#include <cooperative_groups.h>

#include <map>
#include <mutex>
#include <tuple>

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kBlock = 256;

/* ---- online (max, sum of exp) with torch's non-finite semantics ---------------------------- */

/* -inf adds nothing (unless the whole row is -inf: m stays -inf, s stays 0, and the final
 * exp(-inf - -inf) / 0 is NaN); NaN poisons s; +inf is fixed up in finish_inv. */
__device__ __forceinline__ void ms_add(float &m, float &s, float v) {
    if (v > m) {
        s = s * __expf(m - v) + 1.f;
        m = v;
    } else if (v != -INFINITY) {
        s += __expf(v - m);
    }
}

/* s * exp(m - mm), keeping a NaN s from a part whose max is still -inf. */
__device__ __forceinline__ float rescale(float s, float m, float mm) {
    return m == -INFINITY ? s * 0.f : s * __expf(m - mm);
}

__device__ __forceinline__ void ms_merge(float &m, float &s, float m2, float s2) {
    const float mm = fmaxf(m, m2);
    s = rescale(s, m, mm) + rescale(s2, m2, mm);
    m = mm;
}

/* 1 / sum, or NaN when the row holds +inf (torch: exp(inf - inf) is NaN). */
__device__ __forceinline__ float finish_inv(float m, float s) { return m == INFINITY ? __int_as_float(0x7fc00000) : 1.f / s; }

/* Block-wide merge of (m, s) over a 1-D block of kBlock threads; every thread gets the result. */
__device__ __forceinline__ void block_ms(float &m, float &s, float *sm /* 64 floats */) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        ms_merge(m, s, m2, s2);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) {
        sm[warp] = m;
        sm[32 + warp] = s;
    }
    __syncthreads();
    m = sm[0];
    s = sm[32];
    for (int i = 1; i < kBlock / 32; ++i) ms_merge(m, s, sm[i], sm[32 + i]);
    __syncthreads(); /* sm may be reused */
}

__device__ __forceinline__ float block_sum(float v, float *sm /* 32 floats */) {
    v = mc::warp_sum(v);
    if ((threadIdx.x & 31) == 0) sm[threadIdx.x >> 5] = v;
    __syncthreads();
    float t = 0.f;
#pragma unroll
    for (int i = 0; i < kBlock / 32; ++i) t += sm[i];
    __syncthreads();
    return t;
}

/* ---- rows path: the row in registers, one block, a cluster of blocks, or a slice of a block -- */

/* Where a thread's row and columns are. Block (TPR, RPB). Without a cluster the TPR threads with
 * one threadIdx.y own row blockIdx.x * RPB + threadIdx.y (rows past the end idle but take part in
 * the barriers). With a cluster RPB == 1, the C blocks blockIdx.x / C own one row and block rank
 * r (= blockIdx.x % C) the columns from r * TPR * NV * VEC. Rows beyond the grid loop (grid-
 * stride), so every block of a cluster visits the same rows. */
struct RowWalk {
    int64_t first, stride; /* in rows; the loop is uniform over the block (and the cluster) */
    int col0;              /* first column of this block's slice */
};

template <bool CL> __device__ __forceinline__ RowWalk row_walk(int csize, int span) {
    RowWalk w;
    if (CL) {
        w.first = blockIdx.x / csize;
        w.stride = gridDim.x / csize;
        w.col0 = (int)(blockIdx.x % csize) * span;
    } else {
        w.first = (int64_t)blockIdx.x * blockDim.y;
        w.stride = (int64_t)gridDim.x * blockDim.y;
        w.col0 = 0;
    }
    return w;
}

/* The row's total from per-warp partials: wpart holds one float2 per warp (RPB * TPR / 32 <= 32);
 * with a cluster, each block's total goes to cpart and every block merges all C of them, read
 * through distributed shared memory. Every thread returns with the row's value; with a cluster
 * it has arrived on the cluster barrier, and row_done() waits on it. merge(a, b): a = a (+) b;
 * `zero` is its identity. */
template <bool CL, typename Merge>
__device__ __forceinline__ float2 row_total(float2 mine, float2 *wpart, float2 *cpart, int csize, float2 zero,
                                            Merge merge) {
    const int wpr = blockDim.x >> 5, lane = threadIdx.x & 31;
    if (!CL && wpr == 1) return mine; /* the warp is the row */
    if (lane == 0) wpart[threadIdx.y * wpr + (threadIdx.x >> 5)] = mine;
    __syncthreads();
    float2 t = lane < wpr ? wpart[threadIdx.y * wpr + lane] : zero;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        float2 u;
        u.x = __shfl_xor_sync(0xffffffffu, t.x, o);
        u.y = __shfl_xor_sync(0xffffffffu, t.y, o);
        merge(t, u);
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (CL) {
        namespace cg = cooperative_groups;
        cg::cluster_group cluster = cg::this_cluster();
        if (threadIdx.x == 0) *cpart = t;
        cluster.sync(); /* release our cpart, acquire the others' */
        const float2 peer = *cluster.map_shared_rank(cpart, lane < csize ? lane : 0);
        t = lane < csize ? peer : zero;
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float2 u;
            u.x = __shfl_xor_sync(0xffffffffu, t.x, o);
            u.y = __shfl_xor_sync(0xffffffffu, t.y, o);
            merge(t, u);
        }
        cluster.barrier_arrive(); /* done reading the other blocks' shared memory */
    }
#else
    (void)cpart;
    (void)csize;
#endif
    return t;
}

/* After a row: the cluster's blocks must not overwrite cpart (next row) or exit (their shared
 * memory goes away) before every block has read it; without a cluster, wpart is rewritten only
 * after every warp has read it. */
template <bool CL> __device__ __forceinline__ void row_done() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (CL) {
        cooperative_groups::this_cluster().barrier_wait();
        return;
    }
#endif
    if (blockDim.x > 32) __syncthreads();
}

/* Register budgets: short rows (NV <= 2, 256-thread blocks) 32 registers in the forward (8 blocks
 * per SM, a full SM), 40 in the backward (6; 32 spill); long rows 64 (1024 threads per SM: four
 * 256-thread blocks, two of 512 or one of 1024). */
constexpr int rows_max_threads(int nv) { return nv <= 2 ? 256 : 1024; }
constexpr int rows_min_blocks(int nv, bool bwd) { return nv <= 2 ? (bwd ? 6 : 8) : 1; }

struct MsMerge {
    __device__ __forceinline__ void operator()(float2 &a, const float2 &b) const { ms_merge(a.x, a.y, b.x, b.y); }
};
struct SumMerge {
    __device__ __forceinline__ void operator()(float2 &a, const float2 &b) const { a.x += b.x; }
};

/* An opaque copy of a pack. The forward's raw 16-bit packs are converted and exponentiated twice
 * (sum pass, write pass); without this the compiler may keep the sum pass's values live across
 * the row reduction instead of recomputing them (bf16: ~160 bytes of spills at 64 registers). */
template <typename T, int VEC> __device__ __forceinline__ Pack<T, VEC> launder(const Pack<T, VEC> &p) {
    static_assert(sizeof(Pack<T, VEC>) == 16, "16-byte packs");
    uint32_t w[4];
    memcpy(w, &p, 16);
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("mov.b32 %0, %0;" : "+r"(w[j]));
    Pack<T, VEC> q;
    memcpy(&q, w, 16);
    return q;
}

template <typename T, int VEC> __device__ __forceinline__ Pack<T, VEC> neg_inf_pack() {
    Pack<T, VEC> p;
#pragma unroll
    for (int j = 0; j < VEC; ++j) p.v[j] = from_float<T>(-INFINITY);
    return p;
}

/* Forward. NV 16-byte vectors per thread, at most 64 registers (long rows: 1024 threads per SM).
 * Up to 32 elements per thread (fp32 NV <= 8, 16-bit NV <= 4) are held as floats, overwritten by
 * their exps. More (16-bit NV = 8: 64 elements) are held RAW, 8 packs in 32 registers, and
 * converted and exponentiated where used: once for the sum, once more (the same __expf of the same
 * argument, so the same value) for the output. Twice the bytes in flight per thread of the float
 * layout; bench/harness/softmax_rows.cu measured it (see the top of the file). */
template <typename T, int NV, bool CL>
__global__ void __launch_bounds__(rows_max_threads(NV), rows_min_blocks(NV, false))
    softmax_fwd_rows(const T *x, T *y, int64_t rows, int n, int csize) {
    constexpr int VEC = 16 / sizeof(T);
    constexpr bool RAW = NV * VEC > 32;
    __shared__ float2 wpart[32];
    __shared__ float2 cpart;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    if (CL) __trap(); /* no clusters before sm_90; the host never plans them there */
#endif
    const int tid = threadIdx.x, tpr = blockDim.x;
    const RowWalk w = row_walk<CL>(csize, tpr * NV * VEC);
    for (int64_t r0 = w.first; r0 < rows; r0 += w.stride) {
        const int64_t row = CL ? r0 : r0 + threadIdx.y;
        const bool active = row < rows;
        const T *xr = x + row * n;
        Pack<T, VEC> p[RAW ? NV : 1]; /* RAW: the packs; past the row's end -inf (exp 0) */
        float v[RAW ? 1 : NV][VEC];   /* otherwise: floats */
        float m = -INFINITY;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (active && col < n) {
                const Pack<T, VEC> q = mc::load_pack<T, VEC>(xr + col);
                float f[VEC];
                mc::unpack_floats<VEC>(q, f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) m = fmaxf(m, f[j]); /* drops NaN; the sum catches it */
                if constexpr (RAW) {
                    p[i] = q;
                } else {
#pragma unroll
                    for (int j = 0; j < VEC; ++j) v[i][j] = f[j];
                }
            } else if constexpr (RAW) {
                p[i] = neg_inf_pack<T, VEC>();
            } else {
#pragma unroll
                for (int j = 0; j < VEC; ++j) v[i][j] = -INFINITY;
            }
        }
        m = mc::warp_max(m);
        /* exps relative to the warp's max; a warp of only -inf (or of no columns) uses 0, so its
         * sum is 0 (NaN if it holds a NaN) instead of exp(-inf - -inf) */
        const float mu = m == -INFINITY ? 0.f : m;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            if constexpr (RAW) {
                float f[VEC];
                mc::unpack_floats<VEC>(launder(p[i]), f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) s += __expf(f[j] - mu);
            } else {
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    v[i][j] = __expf(v[i][j] - mu);
                    s += v[i][j];
                }
            }
        }
        s = mc::warp_sum(s);
        const float2 tot = row_total<CL>(make_float2(m, s), wpart, &cpart, csize, make_float2(-INFINITY, 0.f), MsMerge());
        /* y = exp(x - mu) * exp(mu - M) / S; a warp of only -inf writes 0 (a whole row of -inf:
         * 0 * 1/0 = NaN, as torch); M = +inf or S = NaN make every output NaN */
        const float scale = (m == -INFINITY ? 0.f : __expf(m - tot.x)) * finish_inv(tot.x, tot.y);
        T *yr = y + row * n;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (active && col < n) {
                float o[VEC];
                if constexpr (RAW) {
                    mc::unpack_floats<VEC>(launder(p[i]), o);
#pragma unroll
                    for (int j = 0; j < VEC; ++j) o[j] = __expf(o[j] - mu) * scale;
                } else {
#pragma unroll
                    for (int j = 0; j < VEC; ++j) o[j] = v[i][j] * scale;
                }
                mc::store_pack<T, VEC>(yr + col, mc::pack_floats<T, VEC>(o));
            }
        }
        row_done<CL>();
    }
}

/* Backward: dx = y * (dy - sum(dy * y)). NV vectors of y and of dy per thread, kept in the storage
 * type (2 * NV * 4 registers) and converted when used. */
template <typename T, int NV, bool CL>
__global__ void __launch_bounds__(rows_max_threads(NV), rows_min_blocks(NV, true))
    softmax_bwd_rows(const T *dy, const T *y, T *dx, int64_t rows, int n, int csize) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float2 wpart[32];
    __shared__ float2 cpart;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    if (CL) __trap(); /* no clusters before sm_90; the host never plans them there */
#endif
    const int tid = threadIdx.x, tpr = blockDim.x;
    const RowWalk w = row_walk<CL>(csize, tpr * NV * VEC);
    for (int64_t r0 = w.first; r0 < rows; r0 += w.stride) {
        const int64_t row = CL ? r0 : r0 + threadIdx.y;
        const bool active = row < rows;
        Pack<T, VEC> yp[NV], gp[NV];
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (active && col < n) {
                yp[i] = mc::load_pack<T, VEC>(y + row * n + col);
                gp[i] = mc::load_pack<T, VEC>(dy + row * n + col);
            }
        }
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (active && col < n) {
                float yf[VEC], gf[VEC];
                mc::unpack_floats<VEC>(yp[i], yf);
                mc::unpack_floats<VEC>(gp[i], gf);
#pragma unroll
                for (int j = 0; j < VEC; ++j) dot += yf[j] * gf[j];
            }
        }
        dot = mc::warp_sum(dot);
        const float tot = row_total<CL>(make_float2(dot, 0.f), wpart, &cpart, csize, make_float2(0.f, 0.f), SumMerge()).x;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (active && col < n) {
                float yf[VEC], gf[VEC], o[VEC];
                mc::unpack_floats<VEC>(yp[i], yf);
                mc::unpack_floats<VEC>(gp[i], gf);
#pragma unroll
                for (int j = 0; j < VEC; ++j) o[j] = yf[j] * (gf[j] - tot);
                mc::store_pack<T, VEC>(dx + row * n + col, mc::pack_floats<T, VEC>(o));
            }
        }
        row_done<CL>();
    }
}

/* ---- generic path: one block per row ------------------------------------------------------- */

template <typename T>
__global__ void __launch_bounds__(kBlock) softmax_fwd_generic(const T *x, T *y, int64_t rows, int64_t n) {
    __shared__ float sm[64];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xr = x + row * n;
        float m = -INFINITY, s = 0.f;
        for (int64_t c = threadIdx.x; c < n; c += kBlock) ms_add(m, s, to_float(xr[c]));
        block_ms(m, s, sm);
        const float inv = finish_inv(m, s);
        for (int64_t c = threadIdx.x; c < n; c += kBlock) y[row * n + c] = from_float<T>(__expf(to_float(xr[c]) - m) * inv);
    }
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_bwd_generic(const T *dy, const T *y, T *dx, int64_t rows, int64_t n) {
    __shared__ float sm[32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const int64_t off = row * n;
        float dot = 0.f;
        for (int64_t c = threadIdx.x; c < n; c += kBlock) dot += to_float(y[off + c]) * to_float(dy[off + c]);
        dot = block_sum(dot, sm);
        for (int64_t c = threadIdx.x; c < n; c += kBlock) {
            const float yv = to_float(y[off + c]);
            dx[off + c] = from_float<T>(yv * (to_float(dy[off + c]) - dot));
        }
    }
}

/* ---- split path: grid (chunks, row slots); chunk b of a row is columns [b L, min(n, (b+1) L)) */

/* ws: (rows, chunks, 2) fp32 (max, sum) */
template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_fwd_split_stats(const T *x, float *ws, int64_t rows, int64_t n, int64_t L) {
    __shared__ float sm[64];
    const int64_t c0 = (int64_t)blockIdx.x * L, c1 = c0 + L < n ? c0 + L : n;
    for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
        float m = -INFINITY, s = 0.f;
        for (int64_t c = c0 + threadIdx.x; c < c1; c += kBlock) ms_add(m, s, to_float(x[row * n + c]));
        block_ms(m, s, sm);
        if (threadIdx.x == 0) {
            float *w = ws + (row * gridDim.x + blockIdx.x) * 2;
            w[0] = m;
            w[1] = s;
        }
    }
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_fwd_split_write(const T *x, T *y, const float *ws, int64_t rows, int64_t n, int64_t L) {
    __shared__ float sm[64];
    const int64_t c0 = (int64_t)blockIdx.x * L, c1 = c0 + L < n ? c0 + L : n;
    const int chunks = gridDim.x;
    for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
        float m = -INFINITY, s = 0.f;
        for (int b = threadIdx.x; b < chunks; b += kBlock) {
            const float *w = ws + (row * chunks + b) * 2;
            ms_merge(m, s, w[0], w[1]);
        }
        block_ms(m, s, sm);
        const float inv = finish_inv(m, s);
        for (int64_t c = c0 + threadIdx.x; c < c1; c += kBlock)
            y[row * n + c] = from_float<T>(__expf(to_float(x[row * n + c]) - m) * inv);
    }
}

/* ws: (rows, chunks) fp32 partial sums of dy * y */
template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_bwd_split_dot(const T *dy, const T *y, float *ws, int64_t rows, int64_t n, int64_t L) {
    __shared__ float sm[32];
    const int64_t c0 = (int64_t)blockIdx.x * L, c1 = c0 + L < n ? c0 + L : n;
    for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
        float dot = 0.f;
        for (int64_t c = c0 + threadIdx.x; c < c1; c += kBlock) dot += to_float(y[row * n + c]) * to_float(dy[row * n + c]);
        dot = block_sum(dot, sm);
        if (threadIdx.x == 0) ws[row * gridDim.x + blockIdx.x] = dot;
    }
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_bwd_split_write(const T *dy, const T *y, T *dx, const float *ws, int64_t rows, int64_t n, int64_t L) {
    __shared__ float sm[32];
    const int64_t c0 = (int64_t)blockIdx.x * L, c1 = c0 + L < n ? c0 + L : n;
    const int chunks = gridDim.x;
    for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
        float dot = 0.f;
        for (int b = threadIdx.x; b < chunks; b += kBlock) dot += ws[row * chunks + b];
        dot = block_sum(dot, sm);
        for (int64_t c = c0 + threadIdx.x; c < c1; c += kBlock) {
            const float yv = to_float(y[row * n + c]);
            dx[row * n + c] = from_float<T>(yv * (to_float(dy[row * n + c]) - dot));
        }
    }
}

/* ---- column path: inner > 1 ---------------------------------------------------------------- */

template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_fwd_column(const T *x, T *y, int64_t outer, int64_t n, int64_t inner) {
    const int64_t cols = outer * inner;
    for (int64_t k = (int64_t)blockIdx.x * kBlock + threadIdx.x; k < cols; k += (int64_t)gridDim.x * kBlock) {
        const int64_t o = k / inner, base = o * n * inner + (k - o * inner);
        float m = -INFINITY, s = 0.f;
        for (int64_t j = 0; j < n; ++j) ms_add(m, s, to_float(x[base + j * inner]));
        const float inv = finish_inv(m, s);
        for (int64_t j = 0; j < n; ++j)
            y[base + j * inner] = from_float<T>(__expf(to_float(x[base + j * inner]) - m) * inv);
    }
}

template <typename T>
__global__ void __launch_bounds__(kBlock)
    softmax_bwd_column(const T *dy, const T *y, T *dx, int64_t outer, int64_t n, int64_t inner) {
    const int64_t cols = outer * inner;
    for (int64_t k = (int64_t)blockIdx.x * kBlock + threadIdx.x; k < cols; k += (int64_t)gridDim.x * kBlock) {
        const int64_t o = k / inner, base = o * n * inner + (k - o * inner);
        float dot = 0.f;
        for (int64_t j = 0; j < n; ++j) dot += to_float(y[base + j * inner]) * to_float(dy[base + j * inner]);
        for (int64_t j = 0; j < n; ++j) {
            const float yv = to_float(y[base + j * inner]);
            dx[base + j * inner] = from_float<T>(yv * (to_float(dy[base + j * inner]) - dot));
        }
    }
}

/* ---- planning ------------------------------------------------------------------------------ */

enum Kind { kRows, kGeneric, kSplit, kColumn };

struct Plan {
    Kind kind;
    int nv, tpr, rpb, csize; /* kRows: vectors per thread, block (tpr, rpb), blocks per cluster */
    int64_t L, chunks;       /* kSplit */
};

/* Vectors per thread of a long row: forward 8 (fp32: 32 floats; 16-bit: 64 raw values, also 32
 * registers), backward 4 of y and 4 of dy, in the storage type. */
constexpr int long_nv(bool bwd) { return bwd ? 4 : 8; }

template <typename T, int NV> const void *fwd_kernel() { return reinterpret_cast<const void *>(&softmax_fwd_rows<T, NV, true>); }
template <typename T, int NV> const void *bwd_kernel() { return reinterpret_cast<const void *>(&softmax_bwd_rows<T, NV, true>); }

/* The cluster kernel of a dtype and direction (NV = long_nv). */
const void *cluster_kernel(mc_dtype dt, bool bwd) {
    switch (dt) {
    case MC_DTYPE_F32: return bwd ? bwd_kernel<float, long_nv(true)>() : fwd_kernel<float, long_nv(false)>();
    case MC_DTYPE_F16: return bwd ? bwd_kernel<__half, long_nv(true)>() : fwd_kernel<__half, long_nv(false)>();
    default: return bwd ? bwd_kernel<__nv_bfloat16, long_nv(true)>() : fwd_kernel<__nv_bfloat16, long_nv(false)>();
    }
}

/* Clusters of csize blocks of tpr threads of `kernel` that can be resident at once on `device`
 * (cudaOccupancyMaxActiveClusters), 0 where clusters cannot run: no cluster launch on the device,
 * or the kernel was not compiled for sm_90+ (a PTX-only or sm_80 build JIT-compiled for a newer
 * GPU has no cluster code). Cached: the answer depends on nothing else. The caller has made
 * `device` current. Sizes over 8 set cudaFuncAttributeNonPortableClusterSizeAllowed first. */
int active_clusters(const void *kernel, int device, int csize, int tpr) {
    static std::mutex mu;
    static std::map<std::tuple<const void *, int, int, int>, int> cache;
    const auto key = std::make_tuple(kernel, device, csize, tpr);
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
    int num = 0, can = 0;
    cudaFuncAttributes fa;
    if (cudaDeviceGetAttribute(&can, cudaDevAttrClusterLaunch, device) == cudaSuccess && can &&
        cudaFuncGetAttributes(&fa, kernel) == cudaSuccess && fa.binaryVersion >= 90 && fa.ptxVersion >= 90 &&
        (csize <= 8 || cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) == cudaSuccess)) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3((unsigned)csize * 64u);
        cfg.blockDim = dim3((unsigned)tpr);
        cudaLaunchAttribute attr;
        attr.id = cudaLaunchAttributeClusterDimension;
        attr.val.clusterDim.x = (unsigned)csize;
        attr.val.clusterDim.y = 1;
        attr.val.clusterDim.z = 1;
        cfg.attrs = &attr;
        cfg.numAttrs = 1;
        if (cudaOccupancyMaxActiveClusters(&num, kernel, &cfg) != cudaSuccess) num = 0;
    }
    (void)cudaGetLastError(); /* a refused query must not show up as this op's launch error */
    cache[key] = num;
    return num;
}

int round_up32(int64_t t) { return (int)((t + 31) / 32 * 32); }

/* From the shape, the dtype and the device; the rows path may still fall back to generic for
 * unaligned pointers. Queries the device (cached) for cluster support: make `device` current.
 * Knobs (bench/harness/softmax_rows.cu tries others): long_tpr, the most threads per block while a
 * long row takes one block or a cluster of 2; wide_tpr, the most per block in a cluster of 4..16
 * (0: forward 256, backward long_tpr), except that 16 blocks take up to 1024 threads; spread, the
 * most blocks per row when few rows leave SMs idle. */
Plan make_plan(const mc_softmax_args *a, bool bwd, int long_tpr = 512, int wide_tpr = 0, int spread = 8) {
    Plan p = {kGeneric, 0, 0, 1, 1, 0, 0};
    if (a->inner > 1) {
        p.kind = kColumn;
        return p;
    }
    const int vec = 16 / (int)mc_dtype_size(a->dtype);
    const int64_t rows = a->outer, n = a->n, sms = mc::sm_count(a->device);
    const int64_t nvec = n / vec;
    bool split = false;
    if (n % vec != 0) {
        split = n >= MC_SOFTMAX_SPLIT_MIN_COLS; /* spread over chunks; generic below that */
    } else if (nvec <= 512) {
        /* short rows: TPR threads per row, at most 2 vectors each, 256-thread blocks */
        int tpr = 32;
        while (tpr < 256 && 2 * tpr < nvec) tpr *= 2;
        p.kind = kRows;
        p.nv = nvec <= tpr ? 1 : 2;
        p.tpr = tpr;
        p.rpb = 256 / tpr;
        return p;
    } else {
        /* long rows: one block or a cluster per row, 8 (forward) or 2 x 4 (backward) vectors of
         * the row per thread; C the smallest power of two whose blocks stay within long_tpr
         * (C <= 2) or wide_tpr (C >= 4) threads */
        const int nv = long_nv(bwd);
        const int64_t need = (nvec + nv - 1) / nv; /* threads per row */
        const int wide = wide_tpr > 0 ? wide_tpr : bwd ? long_tpr : 256;
        int c = 1;
        while (c < 16 && need > (int64_t)(c <= 2 ? long_tpr : wide) * c) c *= 2;
        int64_t tpr = round_up32((need + c - 1) / c);
        if (tpr > 1024) {
            split = true;
        } else {
            const void *k = cluster_kernel(a->dtype, bwd);
            const int row_c = c, row_tpr = (int)tpr; /* what the row itself needs */
            /* few rows: more blocks per row (up to 8, at least 128 threads each) to use more SMs */
            while (c < spread && rows * c * 2 <= sms && round_up32((need + 2 * c - 1) / (2 * c)) >= 128) {
                c *= 2;
                tpr = round_up32((need + c - 1) / c);
            }
            if (row_c == 1 && c > 1 && active_clusters(k, a->device, c, (int)tpr) == 0) {
                c = 1; /* spreading needs clusters: one block per row where there are none */
                tpr = row_tpr;
            }
            if (c > 1 && active_clusters(k, a->device, c, (int)tpr) == 0 && c == 16 &&
                round_up32((need + 7) / 8) <= 1024) {
                c = 8; /* the non-portable size refused: 8 blocks of up to 1024 threads */
                tpr = round_up32((need + 7) / 8);
            }
            if (c > 1 && active_clusters(k, a->device, c, (int)tpr) == 0) {
                split = true; /* no clusters here (pre-sm_90, or no sm_90 code in this build) */
            } else if (c == 1 && rows < sms / 2 && n >= MC_SOFTMAX_SPLIT_MIN_COLS &&
                       active_clusters(k, a->device, 2, 128) == 0) {
                split = true; /* no clusters to spread few rows with: the chunked path, as before */
            } else {
                p.kind = kRows;
                p.nv = nv;
                p.tpr = (int)tpr;
                p.rpb = 1;
                p.csize = c;
                return p;
            }
        }
    }
    if (split) {
        /* aim for about two blocks per SM in all; chunk length a power of two in [2048, 16384] */
        const int64_t per_block = (rows * n + 2 * sms - 1) / (2 * sms);
        int64_t L = 2048;
        while (L < 16384 && L < per_block) L *= 2;
        p.kind = kSplit;
        p.L = L;
        p.chunks = (n + L - 1) / L;
    }
    return p;
}

size_t split_bytes(const mc_softmax_args *a, const Plan &p, bool bwd) {
    if (p.kind != kSplit) return 0;
    return (size_t)(a->outer * p.chunks) * (bwd ? 1 : 2) * sizeof(float);
}

bool aligned_rows(const void *const *ptrs, int count) {
    for (int i = 0; i < count; ++i)
        if (ptrs[i] && !mc::aligned16(ptrs[i])) return false;
    return true;
}

int64_t capped(int64_t need, int64_t cap) { return need < cap ? (need > 0 ? need : 1) : cap; }

/* Launches the rows kernel with NV vectors per thread: a plain launch without a cluster, else
 * cudaLaunchKernelEx with the cluster dimension (csize blocks along x). */
template <typename T, int NV, bool CL, bool BWD>
cudaError_t launch_rows_nv(const mc_softmax_args *a, const Plan &p, cudaStream_t s) {
    const T *x = static_cast<const T *>(a->x), *dy = static_cast<const T *>(a->dy), *yc = static_cast<const T *>(a->y);
    T *y = static_cast<T *>(a->y), *dx = static_cast<T *>(a->dx);
    const int n = (int)a->n, c = p.csize;
    if constexpr (!CL) {
        const unsigned grid = (unsigned)capped((a->outer + p.rpb - 1) / p.rpb, 0x7fffffff);
        const dim3 block((unsigned)p.tpr, (unsigned)p.rpb);
        if constexpr (BWD) softmax_bwd_rows<T, NV, false><<<grid, block, 0, s>>>(dy, yc, dx, a->outer, n, 1);
        else softmax_fwd_rows<T, NV, false><<<grid, block, 0, s>>>(x, y, a->outer, n, 1);
        return cudaSuccess;
    } else {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3((unsigned)(capped(a->outer, 0x7fffffff / c) * c));
        cfg.blockDim = dim3((unsigned)p.tpr);
        cfg.stream = s;
        cudaLaunchAttribute attr;
        attr.id = cudaLaunchAttributeClusterDimension;
        attr.val.clusterDim.x = (unsigned)c;
        attr.val.clusterDim.y = 1;
        attr.val.clusterDim.z = 1;
        cfg.attrs = &attr;
        cfg.numAttrs = 1;
        if constexpr (BWD) return cudaLaunchKernelEx(&cfg, softmax_bwd_rows<T, NV, true>, dy, yc, dx, a->outer, n, c);
        else return cudaLaunchKernelEx(&cfg, softmax_fwd_rows<T, NV, true>, x, y, a->outer, n, c);
    }
}

/* NV: 1 or 2 for short rows, long_nv for long ones (forward 8, backward 4). */
template <typename T, bool BWD> cudaError_t launch_rows(const mc_softmax_args *a, const Plan &p, cudaStream_t s) {
    constexpr int kLong = long_nv(BWD);
    if (p.csize > 1) return launch_rows_nv<T, kLong, true, BWD>(a, p, s);
    switch (p.nv) {
    case 1: return launch_rows_nv<T, 1, false, BWD>(a, p, s);
    case 2: return launch_rows_nv<T, 2, false, BWD>(a, p, s);
    case kLong: return launch_rows_nv<T, kLong, false, BWD>(a, p, s);
    default: return cudaErrorInvalidConfiguration;
    }
}

template <typename T> mc_status launch_plan(const mc_softmax_args *a, Plan p, bool bwd) {
    cudaStream_t s = mc::as_stream(a->stream);
    const T *x = static_cast<const T *>(a->x);
    const T *dy = static_cast<const T *>(a->dy);
    T *y = static_cast<T *>(a->y);
    T *dx = static_cast<T *>(a->dx);
    const int64_t sms = mc::sm_count(a->device);
    const char *what = bwd ? "softmax backward" : "softmax forward";
    const size_t need = split_bytes(a, p, bwd);
    if (need > 0 && (!a->workspace || a->workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "softmax: workspace of %zu bytes given; %zu needed",
                       a->workspace ? a->workspace_bytes : 0, need);
    if (p.kind == kRows) {
        const void *ptrs[] = {a->x, a->y, a->dy, a->dx};
        if (!aligned_rows(ptrs, 4)) p.kind = kGeneric;
    }
    switch (p.kind) {
    case kRows: {
        const cudaError_t e = bwd ? launch_rows<T, true>(a, p, s) : launch_rows<T, false>(a, p, s);
        if (e != cudaSuccess) return mc::launch_status(e, what);
        break;
    }
    case kGeneric: {
        const unsigned grid = (unsigned)capped(a->outer, sms * 8);
        if (bwd) softmax_bwd_generic<T><<<grid, kBlock, 0, s>>>(dy, y, dx, a->outer, a->n);
        else softmax_fwd_generic<T><<<grid, kBlock, 0, s>>>(x, y, a->outer, a->n);
        break;
    }
    case kSplit: {
        dim3 grid((unsigned)p.chunks, (unsigned)capped(a->outer, 65535));
        float *ws = static_cast<float *>(a->workspace);
        if (bwd) {
            softmax_bwd_split_dot<T><<<grid, kBlock, 0, s>>>(dy, y, ws, a->outer, a->n, p.L);
            softmax_bwd_split_write<T><<<grid, kBlock, 0, s>>>(dy, y, dx, ws, a->outer, a->n, p.L);
        } else {
            softmax_fwd_split_stats<T><<<grid, kBlock, 0, s>>>(x, ws, a->outer, a->n, p.L);
            softmax_fwd_split_write<T><<<grid, kBlock, 0, s>>>(x, y, ws, a->outer, a->n, p.L);
        }
        break;
    }
    case kColumn: {
        const unsigned grid = (unsigned)capped((a->outer * a->inner + kBlock - 1) / kBlock, sms * 16);
        if (bwd) softmax_bwd_column<T><<<grid, kBlock, 0, s>>>(dy, y, dx, a->outer, a->n, a->inner);
        else softmax_fwd_column<T><<<grid, kBlock, 0, s>>>(x, y, a->outer, a->n, a->inner);
        break;
    }
    }
    return mc::check_launch(what);
}

template <typename T> mc_status launch(const mc_softmax_args *a, bool bwd) { return launch_plan<T>(a, make_plan(a, bwd), bwd); }

mc_status dispatch(const mc_softmax_args *a, bool bwd) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return launch<float>(a, bwd);
    case MC_DTYPE_F16: return launch<__half>(a, bwd);
    case MC_DTYPE_BF16: return launch<__nv_bfloat16>(a, bwd);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "softmax: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

} // namespace

extern "C" mc_status mc_cuda_softmax_forward(const mc_softmax_args *a) { return dispatch(a, false); }
extern "C" mc_status mc_cuda_softmax_backward(const mc_softmax_args *a) { return dispatch(a, true); }

/* Covers both directions: the Python layer sizes one workspace for the forward and the backward. */
extern "C" size_t mc_cuda_softmax_workspace_size(const mc_softmax_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return 0;
    const size_t f = split_bytes(a, make_plan(a, false), false), b = split_bytes(a, make_plan(a, true), true);
    return f > b ? f : b;
}
