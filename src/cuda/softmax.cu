/* Softmax on CUDA. Every tensor is (outer, n, inner), contiguous; the softmax runs over n.
 *
 * Paths, chosen from the shape alone (so forward and backward agree on the workspace):
 *  - reg:     inner == 1, rows aligned in 16-byte vectors, n <= 4 vectors x 1024 threads, and
 *             enough rows to fill the GPU. The rmsnorm design (src/cuda/rmsnorm.cu): TPR threads
 *             own a row and keep it in registers, so x is read once; max and sum by row_max /
 *             row_sum from common.cuh.
 *  - split:   inner == 1 and long rows too few to fill the GPU (or too long for registers): the
 *             row is cut into chunks of L columns, one block per chunk. Kernel A writes each
 *             chunk's (max, sum of exp) to the workspace; kernel B merges a row's partials and
 *             writes its chunk. x is read twice; for rows that fit L2 (64 x 131072 fp32 is 32 MB)
 *             the second read mostly hits L2. (Chunked "online softmax" merge: Milakov &
 *             Gimelshein 2018.)
 *  - generic: inner == 1 otherwise (unaligned or odd n): one 256-thread block per row, online
 *             (max, sum) in one pass, then a write pass.
 *  - column:  inner > 1 (softmax over a non-last dim): one thread per (outer, inner) column,
 *             walking n with stride inner, so a warp reads 32 consecutive elements.
 * Non-finite values follow torch: a row of all -inf, or holding +inf or NaN, is NaN.
 */
#include "../core/softmax.h"
#include "common.cuh"

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

/* ---- reg path ------------------------------------------------------------------------------ */

/* Block (TPR, rows per block); MAXT = the block size it is launched with (register budget). */
template <typename T, int NV, int MAXT>
__global__ void __launch_bounds__(MAXT)
    softmax_fwd_reg(const T *x, T *y, int64_t rows, int n) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[2][kBlock];
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = row < rows;
    float v[NV][VEC];
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) {
            Pack<T, VEC> p = mc::load_pack<T, VEC>(x + row * n + col);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[i][j] = to_float(p.v[j]);
                m = fmaxf(m, v[i][j]); /* drops NaN, but a NaN then makes the sum NaN */
            }
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j) v[i][j] = -INFINITY;
        }
    }
    m = mc::row_max(m, red[0]);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[i][j] = __expf(v[i][j] - m);
                s += v[i][j];
            }
        }
    }
    s = mc::row_sum(s, red[1]);
    if (!active) return;
    const float inv = 1.f / s;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
            Pack<T, VEC> o;
#pragma unroll
            for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(v[i][j] * inv);
            mc::store_pack<T, VEC>(y + row * n + col, o);
        }
    }
}

template <typename T, int NV, int MAXT>
__global__ void __launch_bounds__(MAXT)
    softmax_bwd_reg(const T *dy, const T *y, T *dx, int64_t rows, int n) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[kBlock];
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = row < rows;
    float yv[NV][VEC], gv[NV][VEC];
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) {
            Pack<T, VEC> yp = mc::load_pack<T, VEC>(y + row * n + col);
            Pack<T, VEC> gp = mc::load_pack<T, VEC>(dy + row * n + col);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                yv[i][j] = to_float(yp.v[j]);
                gv[i][j] = to_float(gp.v[j]);
                dot += yv[i][j] * gv[i][j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j) yv[i][j] = gv[i][j] = 0.f;
        }
    }
    dot = mc::row_sum(dot, red);
    if (!active) return;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
            Pack<T, VEC> o;
#pragma unroll
            for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(yv[i][j] * (gv[i][j] - dot));
            mc::store_pack<T, VEC>(dx + row * n + col, o);
        }
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

enum Kind { kReg, kGeneric, kSplit, kColumn };

struct Plan {
    Kind kind;
    mc::RowRegShape reg; /* kReg */
    int64_t L, chunks;   /* kSplit */
};

/* From the shape alone; the reg path may still fall back to generic for unaligned pointers. */
Plan make_plan(const mc_softmax_args *a) {
    Plan p = {kGeneric, {false, 0, 0, 0}, 0, 0};
    if (a->inner > 1) {
        p.kind = kColumn;
        return p;
    }
    const int vec = 16 / (int)mc_dtype_size(a->dtype);
    const int64_t rows = a->outer, n = a->n, sms = mc::sm_count(a->device);
    mc::RowRegShape r = mc::row_reg_shape(n, vec, kBlock);
    const bool reg_ok = r.ok && r.nv <= 4; /* 8 vectors at 1024 threads would spill */
    const bool fills = reg_ok && (rows + r.rpb - 1) / r.rpb >= sms;
    if (n >= 4096 && !fills) {
        /* aim for about two blocks per SM in all; chunk length a power of two in [2048, 16384] */
        const int64_t per_block = (rows * n + 2 * sms - 1) / (2 * sms);
        int64_t L = 2048;
        while (L < 16384 && L < per_block) L *= 2;
        p.kind = kSplit;
        p.L = L;
        p.chunks = (n + L - 1) / L;
        return p;
    }
    if (reg_ok) {
        p.kind = kReg;
        p.reg = r;
    }
    return p;
}

bool aligned_rows(const void *const *ptrs, int count) {
    for (int i = 0; i < count; ++i)
        if (ptrs[i] && !mc::aligned16(ptrs[i])) return false;
    return true;
}

int64_t capped(int64_t need, int64_t cap) { return need < cap ? (need > 0 ? need : 1) : cap; }

template <typename T, int NV>
void launch_reg_nv(const mc_softmax_args *a, const mc::RowRegShape &r, bool bwd, cudaStream_t s) {
    dim3 block(r.tpr, r.rpb);
    const int64_t grid = (a->outer + r.rpb - 1) / r.rpb;
    const int n = (int)a->n;
    const int threads = r.tpr * r.rpb;
#define MC_SOFTMAX_REG(MAXT)                                                                       \
    if (bwd)                                                                                       \
        softmax_bwd_reg<T, NV, MAXT><<<(unsigned)grid, block, 0, s>>>(                             \
            static_cast<const T *>(a->dy), static_cast<const T *>(a->y), static_cast<T *>(a->dx), a->outer, n); \
    else                                                                                           \
        softmax_fwd_reg<T, NV, MAXT><<<(unsigned)grid, block, 0, s>>>(                             \
            static_cast<const T *>(a->x), static_cast<T *>(a->y), a->outer, n)
    if (threads <= 256) {
        MC_SOFTMAX_REG(256);
    } else if (threads <= 512) {
        MC_SOFTMAX_REG(512);
    } else {
        MC_SOFTMAX_REG(1024);
    }
#undef MC_SOFTMAX_REG
}

template <typename T> mc_status launch(const mc_softmax_args *a, bool bwd) {
    cudaStream_t s = mc::as_stream(a->stream);
    const T *x = static_cast<const T *>(a->x);
    const T *dy = static_cast<const T *>(a->dy);
    T *y = static_cast<T *>(a->y);
    T *dx = static_cast<T *>(a->dx);
    const int64_t sms = mc::sm_count(a->device);
    Plan p = make_plan(a);
    if (p.kind == kReg) {
        const void *ptrs[] = {a->x, a->y, a->dy, a->dx};
        if (!aligned_rows(ptrs, 4)) p.kind = kGeneric;
    }
    switch (p.kind) {
    case kReg:
        switch (p.reg.nv) {
        case 1: launch_reg_nv<T, 1>(a, p.reg, bwd, s); break;
        case 2: launch_reg_nv<T, 2>(a, p.reg, bwd, s); break;
        default: launch_reg_nv<T, 4>(a, p.reg, bwd, s); break;
        }
        break;
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
    return mc::check_launch(bwd ? "softmax backward" : "softmax forward");
}

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

extern "C" size_t mc_cuda_softmax_workspace_size(const mc_softmax_args *a) {
    const Plan p = make_plan(a);
    return p.kind == kSplit ? (size_t)(a->outer * p.chunks) * 2 * sizeof(float) : 0;
}
