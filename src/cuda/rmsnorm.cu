/* RMSNorm on CUDA.
 *
 * Fast path (n a multiple of the 16-byte vector width, pointers 16-byte aligned, n up to
 * 8 vectors per thread at 256 threads per row: 16384 bf16 / 8192 fp32): a group of TPR threads
 * owns a row and keeps it in registers, so x is read once; TPR is chosen so each thread holds
 * up to 4 (at most 8) 16-byte vectors, which keeps enough loads in flight to saturate HBM.
 * Blocks are always 256 threads: max(1, 256 / TPR) rows per block.
 *
 * Backward uses a persistent grid: every thread owns the same columns in every row it visits,
 * so it accumulates dweight in registers and writes one partial row per row-slot at the end;
 * a second kernel sums the partials (idea as in Apex / Liger's layer-norm backward).
 *
 * Generic path (anything else: odd n, unaligned views, very wide rows): one 256-thread block
 * per row, reading x twice (the second read mostly hits L2); dweight through fp32 atomics.
 */
#include "../core/rmsnorm.h"
#include "common.cuh"

#include <stdlib.h>

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kBlockThreads = 256;

using mc::row_sum;

/* ---- fast path: row in registers --------------------------------------------------------- */

/* One thread's share of a row: NV 16-byte packs at columns (i * tpr + tid) * VEC. Kept packed in
 * the storage type (16 registers for NV = 4) and converted when used, so more rows fit per SM. */
template <typename T, int NV> struct RowPart {
    static constexpr int VEC = 16 / sizeof(T);
    Pack<T, VEC> p[NV];
};

/* min 4 blocks per SM (<= 64 registers) up to 4 vectors per thread: 32 rows in flight per SM
 * for 4096-wide bf16 rows; 8 vectors need the registers (2 blocks) or they spill */
template <typename T, typename W, int NV>
__global__ void __launch_bounds__(kBlockThreads, NV >= 8 ? 2 : 4)
    rmsnorm_fwd_reg(const T *__restrict__ x, const W *__restrict__ w, T *__restrict__ y,
                    float *__restrict__ rstd, int64_t rows, int n, float eps, const T *res, T *h) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[kBlockThreads];
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = row < rows;
    const int64_t off = row * n;
    mc::pdl_wait();    /* launched dependent on the previous kernel on the stream */
    mc::pdl_trigger(); /* and lets the next one (the backward, in training) be scheduled early */
    RowPart<T, NV> v;
    /* issue every load of the row before using any of them */
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) v.p[i] = mc::load_pack<T, VEC>(x + off + col);
    }
    float ss = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) {
            if (res) { /* fused add: h = x + residual, rounded to T as the unfused add would */
                Pack<T, VEC> q = mc::load_pack<T, VEC>(res + off + col);
#pragma unroll
                for (int j = 0; j < VEC; ++j) v.p[i].v[j] = from_float<T>(to_float(v.p[i].v[j]) + to_float(q.v[j]));
                mc::store_pack<T, VEC>(h + off + col, v.p[i]);
            }
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const float f = to_float(v.p[i].v[j]);
                ss += f * f;
            }
        }
    }
    ss = row_sum(ss, red);
    if (!active) return;
    const float r = 1.0f / sqrtf(ss / (float)n + eps);
    if (rstd && tid == 0) rstd[row] = r;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
            Pack<T, VEC> out;
            if (w) {
                Pack<W, VEC> wp = mc::load_pack<W, VEC>(w + col);
#pragma unroll
                for (int j = 0; j < VEC; ++j) out.v[j] = from_float<T>(to_float(v.p[i].v[j]) * r * to_float(wp.v[j]));
            } else {
#pragma unroll
                for (int j = 0; j < VEC; ++j) out.v[j] = from_float<T>(to_float(v.p[i].v[j]) * r);
            }
            mc::store_pack<T, VEC>(y + off + col, out);
        }
    }
}

/* dwp: (gridDim.x * blockDim.y, n) fp32 partial sums of dweight, or NULL. The weight is re-read
 * per row (an L1 hit) rather than held, to keep registers for x, dy and the dweight sums. */
template <typename T, typename W, int NV>
__global__ void __launch_bounds__(kBlockThreads, NV >= 4 ? 1 : 3)
    rmsnorm_bwd_reg(const T *__restrict__ dy, const T *__restrict__ x, const W *__restrict__ w,
                    const float *__restrict__ rstd, T *dx, float *__restrict__ dwp, int64_t rows,
                    int n, const T *dres) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[2][kBlockThreads];
    const int tid = threadIdx.x, tpr = blockDim.x;
    float dwacc[NV][VEC];
#pragma unroll
    for (int i = 0; i < NV; ++i)
#pragma unroll
        for (int j = 0; j < VEC; ++j) dwacc[i][j] = 0.f;
    const int64_t stride = (int64_t)gridDim.x * blockDim.y;
    int parity = 0;
    mc::pdl_wait(); /* launched dependent on the previous kernel on the stream (the forward) */
    for (int64_t base = (int64_t)blockIdx.x * blockDim.y; base < rows; base += stride) {
        const int64_t row = base + threadIdx.y;
        const bool active = row < rows;
        const int64_t off = row * n;
        RowPart<T, NV> xv, gv;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (active && col < n) {
                xv.p[i] = mc::load_pack<T, VEC>(x + off + col);
                gv.p[i] = mc::load_pack<T, VEC>(dy + off + col);
            }
        }
        const float r = active ? rstd[row] : 0.f;
        float dot = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (active && col < n) {
                Pack<W, VEC> wp;
                if (w) wp = mc::load_pack<W, VEC>(w + col);
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float g = to_float(gv.p[i].v[j]) * (w ? to_float(wp.v[j]) : 1.f);
                    dot += g * to_float(xv.p[i].v[j]);
                }
            }
        }
        dot = row_sum(dot, red[parity]);
        parity ^= 1;
        if (!active) continue;
        const float c = r * r * dot / (float)n;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int col = (i * tpr + tid) * VEC;
            if (col < n) {
                Pack<T, VEC> out, add;
                Pack<W, VEC> wp;
                if (w) wp = mc::load_pack<W, VEC>(w + col);
                if (dres) add = mc::load_pack<T, VEC>(dres + off + col);
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float g0 = to_float(gv.p[i].v[j]), xf = to_float(xv.p[i].v[j]);
                    const float g = w ? g0 * to_float(wp.v[j]) : g0;
                    const float extra = dres ? to_float(add.v[j]) : 0.f;
                    out.v[j] = from_float<T>(r * (g - xf * c) + extra);
                    dwacc[i][j] += g0 * xf * r;
                }
                mc::store_pack<T, VEC>(dx + off + col, out);
            }
        }
    }
    if (!dwp) return;
    mc::pdl_trigger(); /* reduce_partials may start being scheduled; it waits for this grid */
    float *pr = dwp + ((int64_t)blockIdx.x * blockDim.y + threadIdx.y) * n;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
#pragma unroll
            for (int j = 0; j < VEC; j += 4)
                *reinterpret_cast<float4 *>(pr + col + j) =
                    make_float4(dwacc[i][j], dwacc[i][j + 1], dwacc[i][j + 2], dwacc[i][j + 3]);
        }
    }
}

/* dw[c] = sum_p partial[p][c], n a multiple of 4 (the register path's vector). Block (8, 128): 8
 * lanes of float4 cover 32 columns, 128 lanes stride the partials with 4 loads in flight each
 * (the bf16 16384 x 4096 backward has 396 partial rows: one round trip); lanes of one column group
 * meet by shuffles, then across the 32 warps in shared memory. The
 * order of the sums is fixed: deterministic. (The first version, 32 columns x 8 lanes of scalar
 * loads, one in flight, took 7.1 us of the 159.6 us bf16 16384 x 4096 backward on the H100:
 * bench/harness/rmsnorm_bwd.cu.) */
constexpr int kReduceCols = 32, kReduceLanes = 128;
template <typename W>
__global__ void __launch_bounds__(kReduceCols / 4 * kReduceLanes)
    reduce_partials(const float *__restrict__ partial, int64_t parts, int n, W *__restrict__ dw) {
    __shared__ float s[kReduceLanes / 4][kReduceCols]; /* a row per warp */
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int col = blockIdx.x * kReduceCols + tx * 4;
    mc::pdl_wait(); /* launched dependent on the backward kernel that writes partial */
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    auto add = [&acc](const float4 v) {
        acc.x += v.x;
        acc.y += v.y;
        acc.z += v.z;
        acc.w += v.w;
    };
    if (col < n) {
        /* 4 loads per thread issued together (ptxas keeps about that many in flight; rows past the
         * end load the last row and are not added): up to 4 x kReduceLanes partial rows in one L2 round trip */
        const float *p0 = partial + col;
        for (int64_t p = ty; p < parts; p += 4 * kReduceLanes) {
            float4 v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int64_t q = p + u * kReduceLanes < parts ? p + u * kReduceLanes : parts - 1;
                v[u] = __ldg(reinterpret_cast<const float4 *>(p0 + q * n));
            }
#pragma unroll
            for (int u = 0; u < 4; ++u)
                if (p + u * kReduceLanes < parts) add(v[u]);
        }
    }
    /* a warp is 4 partial lanes x 8 column lanes (lane = 8 ty' + tx) */
    for (int o = 8; o < 32; o <<= 1) {
        acc.x += __shfl_xor_sync(0xffffffffu, acc.x, o);
        acc.y += __shfl_xor_sync(0xffffffffu, acc.y, o);
        acc.z += __shfl_xor_sync(0xffffffffu, acc.z, o);
        acc.w += __shfl_xor_sync(0xffffffffu, acc.w, o);
    }
    const int warp = ty / 4;
    if ((ty & 3) == 0) *reinterpret_cast<float4 *>(&s[warp][tx * 4]) = acc;
    __syncthreads();
    const int t = ty * 8 + tx, c = blockIdx.x * kReduceCols + t;
    if (t < kReduceCols && c < n) {
        float sum = 0.f;
#pragma unroll
        for (int k = 0; k < kReduceLanes / 4; ++k) sum += s[k][t];
        dw[c] = from_float<W>(sum);
    }
}

/* ---- generic path: one block per row, scalar loads -------------------------------------- */

__device__ __forceinline__ float block_sum(float v, float *red) {
    /* blockDim = (256, 1) */
    v = mc::warp_sum(v);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < kBlockThreads / 32; ++i) s += red[i];
    __syncthreads(); /* red may be reused by the caller's next reduction */
    return s;
}

template <typename T, typename W>
__global__ void __launch_bounds__(kBlockThreads)
    rmsnorm_fwd_generic(const T *__restrict__ x, const W *__restrict__ w, T *__restrict__ y,
                        float *__restrict__ rstd, int64_t rows, int64_t n, float eps, const T *res,
                        T *h) {
    __shared__ float red[32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const T *xr = x + row * n;
        float ss = 0.f;
        for (int64_t c = threadIdx.x; c < n; c += kBlockThreads) {
            float v = to_float(xr[c]);
            if (res) { /* h = x + residual in T; the second pass reads h (this thread wrote it) */
                const T hv = from_float<T>(v + to_float(res[row * n + c]));
                h[row * n + c] = hv;
                v = to_float(hv);
            }
            ss += v * v;
        }
        if (res) xr = h + row * n;
        ss = block_sum(ss, red);
        const float r = 1.0f / sqrtf(ss / (float)n + eps);
        if (rstd && threadIdx.x == 0) rstd[row] = r;
        for (int64_t c = threadIdx.x; c < n; c += kBlockThreads) {
            float v = to_float(xr[c]) * r;
            if (w) v *= to_float(w[c]);
            y[row * n + c] = from_float<T>(v);
        }
    }
}

/* dwacc: (n,) fp32, zeroed by the launcher, or NULL. */
template <typename T, typename W>
__global__ void __launch_bounds__(kBlockThreads)
    rmsnorm_bwd_generic(const T *__restrict__ dy, const T *__restrict__ x, const W *__restrict__ w,
                        const float *__restrict__ rstd, T *dx, float *__restrict__ dwacc,
                        int64_t rows, int64_t n, const T *dres) {
    __shared__ float red[32];
    for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
        const int64_t off = row * n;
        float dot = 0.f;
        for (int64_t c = threadIdx.x; c < n; c += kBlockThreads) {
            float g = to_float(dy[off + c]);
            if (w) g *= to_float(w[c]);
            dot += g * to_float(x[off + c]);
        }
        dot = block_sum(dot, red);
        const float r = rstd[row];
        const float k = r * r * dot / (float)n;
        for (int64_t c = threadIdx.x; c < n; c += kBlockThreads) {
            const float g0 = to_float(dy[off + c]);
            const float xv = to_float(x[off + c]);
            const float g = w ? g0 * to_float(w[c]) : g0;
            if (dwacc) atomicAdd(dwacc + c, g0 * xv * r);
            const float extra = dres ? to_float(dres[off + c]) : 0.f;
            dx[off + c] = from_float<T>(r * (g - xv * k) + extra);
        }
    }
}

template <typename W>
__global__ void cast_from_f32(const float *__restrict__ src, W *__restrict__ dst, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = from_float<W>(src[i]);
}

/* ---- launch configuration ---------------------------------------------------------------- */

struct RegConfig {
    bool ok;  /* the fast path applies */
    int tpr;  /* threads per row */
    int nv;   /* 16-byte vectors per thread: 1, 2, 4 or 8 */
    int rpb;  /* rows per block */
};

/* Vectors per thread the register path aims for: enough 16-byte loads in flight per thread,
 * few enough registers for several blocks per SM. The backward holds x and dy (and sums dweight),
 * so it aims lower. MC_RMSNORM_{FWD,BWD}_VPT override them (tuning runs only). */
int target_vpt(bool backward) {
    static int fwd = -1, bwd = -1;
    int &v = backward ? bwd : fwd;
    if (v < 0) {
        const char *e = getenv(backward ? "MC_RMSNORM_BWD_VPT" : "MC_RMSNORM_FWD_VPT");
        v = e && atoi(e) > 0 ? atoi(e) : 2; /* measured best for both on H100 (bench/tune_rmsnorm.py) */
    }
    return v;
}

RegConfig reg_config(const mc_rmsnorm_args *a, bool backward) {
    RegConfig c = {false, 0, 0, 0};
    const int es = (int)mc_dtype_size(a->dtype);
    const int vec = 16 / es;
    const void *ptrs[] = {a->x, a->y, a->dy, a->dx, a->weight, a->residual, a->h, a->dres};
    for (const void *p : ptrs)
        if (p && !mc::aligned16(p)) return c;
    const mc::RowRegShape r = mc::row_reg_shape(a->n, vec, kBlockThreads, target_vpt(backward));
    c.ok = r.ok;
    c.tpr = r.tpr;
    c.nv = r.nv;
    c.rpb = r.rpb;
    return c;
}

template <typename T, typename W> const void *bwd_kernel(int nv) {
    switch (nv) {
    case 1: return (const void *)rmsnorm_bwd_reg<T, W, 1>;
    case 2: return (const void *)rmsnorm_bwd_reg<T, W, 2>;
    case 4: return (const void *)rmsnorm_bwd_reg<T, W, 4>;
    default: return (const void *)rmsnorm_bwd_reg<T, W, 8>;
    }
}

/* Resident blocks per SM of the backward kernel for this config, from the occupancy API
 * (cached per kernel: it depends on the compiled register count, not on the call). */
int bwd_blocks_per_sm(const mc_rmsnorm_args *a, const RegConfig &c) {
    static int cache[4][2][4]; /* dtype (f32, f64, f16, bf16) x weight f32 x log2(nv) */
    const bool wf32 = a->wdtype == MC_DTYPE_F32 && a->dtype != MC_DTYPE_F32;
    const int li = c.nv == 1 ? 0 : c.nv == 2 ? 1 : c.nv == 4 ? 2 : 3;
    int &v = cache[a->dtype & 3][wf32][li];
    if (v == 0) {
        const void *k = nullptr;
        switch (a->dtype) {
        case MC_DTYPE_F16: k = wf32 ? bwd_kernel<__half, float>(c.nv) : bwd_kernel<__half, __half>(c.nv); break;
        case MC_DTYPE_BF16:
            k = wf32 ? bwd_kernel<__nv_bfloat16, float>(c.nv) : bwd_kernel<__nv_bfloat16, __nv_bfloat16>(c.nv);
            break;
        default: k = bwd_kernel<float, float>(c.nv); break;
        }
        int nb = 0;
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, k, kBlockThreads, 0) != cudaSuccess || nb < 1) {
            cudaGetLastError();
            nb = 1;
        }
        v = nb;
    }
    return v;
}

/* Persistent grid for the fast backward: one resident wave. Its partial count sizes the
 * workspace, so the size query and the launch must agree (both call this). */
int64_t bwd_blocks(const mc_rmsnorm_args *a, const RegConfig &c) {
    const int64_t groups = (a->rows + c.rpb - 1) / c.rpb;
    const int64_t cap = (int64_t)mc::sm_count(a->device) * bwd_blocks_per_sm(a, c);
    return groups < cap ? (groups > 0 ? groups : 1) : cap;
}

int64_t generic_blocks(const mc_rmsnorm_args *a) {
    const int64_t cap = (int64_t)mc::sm_count(a->device) * 8;
    return a->rows < cap ? (a->rows > 0 ? a->rows : 1) : cap;
}

template <typename T, typename W>
mc_status launch_fwd(const mc_rmsnorm_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const T *x = static_cast<const T *>(a->x);
    const W *w = static_cast<const W *>(a->weight);
    T *y = static_cast<T *>(a->y);
    float *rstd = static_cast<float *>(a->rstd);
    const float eps = (float)a->eps;
    const T *res = static_cast<const T *>(a->residual);
    T *h = static_cast<T *>(a->h);
    RegConfig c = reg_config(a, false);
    if (c.ok) {
        dim3 block(c.tpr, c.rpb);
        const int64_t grid = (a->rows + c.rpb - 1) / c.rpb;
        const int n = (int)a->n;
        auto go = [&](auto kernel) {
            return mc::launch_dependent(kernel, dim3((unsigned)grid), block, 0, s, x, w, y, rstd, a->rows, n,
                                        eps, res, h);
        };
        cudaError_t le;
        switch (c.nv) {
        case 1: le = go(rmsnorm_fwd_reg<T, W, 1>); break;
        case 2: le = go(rmsnorm_fwd_reg<T, W, 2>); break;
        case 4: le = go(rmsnorm_fwd_reg<T, W, 4>); break;
        default: le = go(rmsnorm_fwd_reg<T, W, 8>); break;
        }
        if (le != cudaSuccess) return mc::launch_status(le, "rmsnorm forward");
    } else {
        rmsnorm_fwd_generic<T, W><<<generic_blocks(a), kBlockThreads, 0, s>>>(x, w, y, rstd, a->rows, a->n, eps, res, h);
    }
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        return mc_fail(MC_STATUS_CUDA_ERROR, "rmsnorm forward: %s [rows %lld, n %lld, path %s, tpr %d, nv %d]",
                       cudaGetErrorString(e), (long long)a->rows, (long long)a->n,
                       c.ok ? "registers" : "generic", c.tpr, c.nv);
    return MC_STATUS_SUCCESS;
}

template <typename T, typename W>
mc_status launch_bwd(const mc_rmsnorm_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    const T *dy = static_cast<const T *>(a->dy);
    const T *x = static_cast<const T *>(a->x);
    const W *w = static_cast<const W *>(a->weight);
    const float *rstd = static_cast<const float *>(a->rstd);
    T *dx = static_cast<T *>(a->dx);
    W *dw = static_cast<W *>(a->dweight);
    float *ws = static_cast<float *>(a->workspace);
    const T *dres = static_cast<const T *>(a->dres);
    if (a->rows == 0) { /* only dweight = 0 left to write */
        cudaMemsetAsync(dw, 0, (size_t)a->n * sizeof(W), s);
        return mc::check_launch("rmsnorm backward (empty)");
    }
    RegConfig c = reg_config(a, true);
    if (c.ok) {
        dim3 block(c.tpr, c.rpb);
        const int64_t grid = bwd_blocks(a, c);
        float *dwp = dw ? ws : nullptr;
        const int n = (int)a->n;
        auto go = [&](auto kernel) {
            return mc::launch_dependent(kernel, dim3((unsigned)grid), block, 0, s, dy, x, w, rstd, dx, dwp,
                                        a->rows, n, dres);
        };
        cudaError_t le;
        switch (c.nv) {
        case 1: le = go(rmsnorm_bwd_reg<T, W, 1>); break;
        case 2: le = go(rmsnorm_bwd_reg<T, W, 2>); break;
        case 4: le = go(rmsnorm_bwd_reg<T, W, 4>); break;
        default: le = go(rmsnorm_bwd_reg<T, W, 8>); break;
        }
        if (le != cudaSuccess) return mc::launch_status(le, "rmsnorm backward");
        if (dw) {
            const dim3 rgrid((unsigned)((n + kReduceCols - 1) / kReduceCols)), rblock(kReduceCols / 4, kReduceLanes);
            const cudaError_t e = mc::launch_dependent(reduce_partials<W>, rgrid, rblock, 0, s,
                                                       (const float *)ws, grid * c.rpb, n, dw);
            if (e != cudaSuccess) return mc::launch_status(e, "rmsnorm backward (dweight)");
        }
    } else {
        if (dw) cudaMemsetAsync(ws, 0, (size_t)a->n * sizeof(float), s);
        rmsnorm_bwd_generic<T, W><<<generic_blocks(a), kBlockThreads, 0, s>>>(
            dy, x, w, rstd, dx, dw ? ws : nullptr, a->rows, a->n, dres);
        if (dw) {
            const int64_t blocks = (a->n + 255) / 256 < 4096 ? (a->n + 255) / 256 : 4096;
            cast_from_f32<W><<<(unsigned)blocks, 256, 0, s>>>(ws, dw, a->n);
        }
    }
    return mc::check_launch("rmsnorm backward");
}

/* Dispatch on (dtype, weight dtype); weight is either the dtype of x or f32. */
template <template <typename, typename> class Op>
mc_status dispatch(const mc_rmsnorm_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    const bool wf32 = a->wdtype == MC_DTYPE_F32;
    switch (a->dtype) {
    case MC_DTYPE_F32: return Op<float, float>::run(a);
    case MC_DTYPE_F16: return wf32 ? Op<__half, float>::run(a) : Op<__half, __half>::run(a);
    case MC_DTYPE_BF16:
        return wf32 ? Op<__nv_bfloat16, float>::run(a) : Op<__nv_bfloat16, __nv_bfloat16>::run(a);
    default: return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rmsnorm: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

template <typename T, typename W> struct Fwd {
    static mc_status run(const mc_rmsnorm_args *a) { return launch_fwd<T, W>(a); }
};
template <typename T, typename W> struct Bwd {
    static mc_status run(const mc_rmsnorm_args *a) { return launch_bwd<T, W>(a); }
};

} // namespace

extern "C" mc_status mc_cuda_rmsnorm_forward(const mc_rmsnorm_args *a) { return dispatch<Fwd>(a); }

extern "C" mc_status mc_cuda_rmsnorm_backward(const mc_rmsnorm_args *a) { return dispatch<Bwd>(a); }

extern "C" size_t mc_cuda_rmsnorm_backward_workspace_size(const mc_rmsnorm_args *a) {
    RegConfig c = reg_config(a, true);
    if (!c.ok) return (size_t)a->n * sizeof(float);
    return (size_t)(bwd_blocks(a, c) * c.rpb) * (size_t)a->n * sizeof(float);
}
