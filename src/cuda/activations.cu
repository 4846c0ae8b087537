/* SiLU, GELU and SwiGLU on CUDA: elementwise and memory bound.
 *
 * Fast path (pointers 16-byte aligned): each thread moves kUnroll 16-byte packs per tensor,
 * issuing all loads before any math so enough bytes are in flight to saturate HBM; one block
 * covers kThreads * kUnroll packs, no grid-stride loop (the grid is sized to the data). A
 * scalar kernel finishes the last numel % VEC elements. Unaligned views take the scalar kernel
 * for everything. Math in fp32 with the same formulas as src/cpu/activations.c.
 *
 * SwiGLU works on row views (rows, n) with a row stride per tensor, so either half of a packed
 * [..., 2I] gate-up tensor (and of its gradient) is read or written in place; dense problems
 * come from the core as one long row, which needs no division per pack.
 */
#include "../core/activations.h"
#include "common.cuh"

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

/* __fdividef: MUFU.RCP and a multiply instead of the IEEE division sequence (2 ulp; 0 once
 * 1 + e^-x passes 2^126, where the true value is below 1e-38) */
__device__ __forceinline__ float sigmoidf_(float x) { return __fdividef(1.f, 1.f + __expf(-x)); }

template <int ACT> struct Act;
template <> struct Act<MC_ACTIVATION_SILU> {
    static __device__ __forceinline__ float f(float x) { return x * sigmoidf_(x); }
    static __device__ __forceinline__ float df(float x) {
        const float s = sigmoidf_(x);
        return s * (1.f + x * (1.f - s));
    }
};
template <> struct Act<MC_ACTIVATION_GELU> {
    static __device__ __forceinline__ float f(float x) { return 0.5f * x * (1.f + erff(x * 0.70710678118654752f)); }
    static __device__ __forceinline__ float df(float x) {
        return 0.5f * (1.f + erff(x * 0.70710678118654752f)) + x * 0.39894228040143268f * __expf(-0.5f * x * x);
    }
};
template <> struct Act<MC_ACTIVATION_GELU_TANH> {
    static __device__ __forceinline__ float f(float x) {
        const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1.f + tanhf(u));
    }
    static __device__ __forceinline__ float df(float x) {
        const float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
        const float t = tanhf(u);
        return 0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * 0.79788456080286536f * (1.f + 3.f * 0.044715f * x * x);
    }
};

/* out = A::f(x) (dy == nullptr) or dy * A::df(x). x, dy, out: (npacks * VEC,) aligned. */
template <typename T, int ACT>
__global__ void __launch_bounds__(kThreads)
    act_vec(const T *__restrict__ x, const T *__restrict__ dy, T *out, int64_t npacks) {
    constexpr int VEC = 16 / sizeof(T);
    const int64_t base = (int64_t)blockIdx.x * kThreads * kUnroll + threadIdx.x;
    Pack<T, VEC> xp[kUnroll], gp[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + (int64_t)u * kThreads;
        if (i < npacks) {
            xp[u] = mc::load_pack<T, VEC>(x + i * VEC);
            if (dy) gp[u] = mc::load_pack<T, VEC>(dy + i * VEC);
        }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
        const int64_t i = base + (int64_t)u * kThreads;
        if (i < npacks) {
            Pack<T, VEC> o;
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                const float xv = to_float(xp[u].v[j]);
                o.v[j] = from_float<T>(dy ? to_float(gp[u].v[j]) * Act<ACT>::df(xv) : Act<ACT>::f(xv));
            }
            mc::store_pack<T, VEC>(out + i * VEC, o);
        }
    }
}

/* Scalar version over (n,) for tails and unaligned views; grid-stride. */
template <typename T, int ACT>
__global__ void __launch_bounds__(kThreads)
    act_scalar(const T *__restrict__ x, const T *__restrict__ dy, T *out, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < n; i += (int64_t)gridDim.x * kThreads) {
        const float xv = to_float(x[i]);
        out[i] = from_float<T>(dy ? to_float(dy[i]) * Act<ACT>::df(xv) : Act<ACT>::f(xv));
    }
}

int64_t scalar_blocks(int64_t n, int device) {
    const int64_t need = (n + kThreads - 1) / kThreads, cap = (int64_t)mc::sm_count(device) * 16;
    return need < cap ? (need > 0 ? need : 1) : cap;
}

template <typename T, int ACT> mc_status launch_act(const mc_act_args *a, bool backward) {
    constexpr int VEC = 16 / sizeof(T);
    cudaStream_t s = mc::as_stream(a->stream);
    const T *x = static_cast<const T *>(a->x);
    const T *dy = backward ? static_cast<const T *>(a->dy) : nullptr;
    T *out = static_cast<T *>(backward ? a->dx : a->y);
    const bool vec = mc::aligned16(x) && mc::aligned16(out) && (!dy || mc::aligned16(dy));
    const int64_t npacks = vec ? a->numel / VEC : 0;
    if (npacks > 0) {
        const int64_t grid = (npacks + kThreads * kUnroll - 1) / (kThreads * kUnroll);
        act_vec<T, ACT><<<(unsigned)grid, kThreads, 0, s>>>(x, dy, out, npacks);
    }
    const int64_t done = npacks * VEC, rest = a->numel - done;
    if (rest > 0)
        act_scalar<T, ACT><<<(unsigned)scalar_blocks(rest, a->device), kThreads, 0, s>>>(
            x + done, dy ? dy + done : nullptr, out + done, rest);
    return mc::check_launch(backward ? "activation backward" : "activation forward");
}

template <typename T> mc_status act_by_kind(const mc_act_args *a, bool backward) {
    switch (a->act) {
    case MC_ACTIVATION_SILU: return launch_act<T, MC_ACTIVATION_SILU>(a, backward);
    case MC_ACTIVATION_GELU: return launch_act<T, MC_ACTIVATION_GELU>(a, backward);
    default: return launch_act<T, MC_ACTIVATION_GELU_TANH>(a, backward);
    }
}

mc_status act_dispatch(const mc_act_args *a, bool backward) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return act_by_kind<float>(a, backward);
    case MC_DTYPE_F16: return act_by_kind<__half>(a, backward);
    case MC_DTYPE_BF16: return act_by_kind<__nv_bfloat16>(a, backward);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "activation: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

/* Row-view geometry in elements. */
struct Views {
    int64_t rows, n, g, u, y, dy, dg, du; /* row strides */
};

/* Row and column of flat pack p (npr packs per row); I is the index type of the division
 * (32-bit when rows * npr fits, which is much cheaper than a 64-bit divide). */
template <typename I>
__device__ __forceinline__ void row_col(int64_t p, int64_t npr, int64_t &r, int64_t &c) {
    r = (int64_t)((I)p / (I)npr);
    c = p - r * npr;
}

/* Forward (dy == nullptr): y = silu(g) * u. Backward: dg = dy * u * silu'(g), du = dy * silu(g).
 * Pointers aligned to 16 bytes, n and every row stride multiples of VEC. */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads)
    swiglu_vec(const T *g, const T *u, const T *dy, T *y, T *dg, T *du, Views v) {
    constexpr int VEC = 16 / sizeof(T);
    const int64_t npr = v.n / VEC, total = v.rows * npr;
    const int64_t base = (int64_t)blockIdx.x * kThreads * kUnroll + threadIdx.x;
    Pack<T, VEC> gp[kUnroll], up[kUnroll], dp[kUnroll];
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
        const int64_t p = base + (int64_t)k * kThreads;
        if (p < total) {
            int64_t r, c;
            row_col<I>(p, npr, r, c);
            c *= VEC;
            gp[k] = mc::load_pack<T, VEC>(g + r * v.g + c);
            up[k] = mc::load_pack<T, VEC>(u + r * v.u + c);
            if (dy) dp[k] = mc::load_pack<T, VEC>(dy + r * v.dy + c);
        }
    }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
        const int64_t p = base + (int64_t)k * kThreads;
        if (p < total) {
            int64_t r, c;
            row_col<I>(p, npr, r, c);
            c *= VEC;
            if (!dy) {
                Pack<T, VEC> o;
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float gv = to_float(gp[k].v[j]);
                    o.v[j] = from_float<T>(gv * sigmoidf_(gv) * to_float(up[k].v[j]));
                }
                mc::store_pack<T, VEC>(y + r * v.y + c, o);
            } else {
                Pack<T, VEC> og, ou;
#pragma unroll
                for (int j = 0; j < VEC; ++j) {
                    const float gv = to_float(gp[k].v[j]), uv = to_float(up[k].v[j]), d = to_float(dp[k].v[j]);
                    const float sg = sigmoidf_(gv);
                    og.v[j] = from_float<T>(d * uv * sg * (1.f + gv * (1.f - sg)));
                    ou.v[j] = from_float<T>(d * gv * sg);
                }
                mc::store_pack<T, VEC>(dg + r * v.dg + c, og);
                mc::store_pack<T, VEC>(du + r * v.du + c, ou);
            }
        }
    }
}

/* Scalar version over the columns [c0, n) of every row; grid-stride over elements. */
template <typename T>
__global__ void __launch_bounds__(kThreads)
    swiglu_scalar(const T *g, const T *u, const T *dy, T *y, T *dg, T *du, Views v, int64_t c0) {
    const int64_t w = v.n - c0, total = v.rows * w;
    for (int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x; e < total; e += (int64_t)gridDim.x * kThreads) {
        const int64_t r = e / w, c = c0 + (e - r * w);
        const float gv = to_float(g[r * v.g + c]), uv = to_float(u[r * v.u + c]);
        const float sg = sigmoidf_(gv);
        if (!dy) {
            y[r * v.y + c] = from_float<T>(gv * sg * uv);
        } else {
            const float d = to_float(dy[r * v.dy + c]);
            dg[r * v.dg + c] = from_float<T>(d * uv * sg * (1.f + gv * (1.f - sg)));
            du[r * v.du + c] = from_float<T>(d * gv * sg);
        }
    }
}

template <typename T> mc_status launch_swiglu(const mc_swiglu_args *a, bool backward) {
    constexpr int VEC = 16 / sizeof(T);
    cudaStream_t s = mc::as_stream(a->stream);
    const T *g = static_cast<const T *>(a->gate), *u = static_cast<const T *>(a->up);
    const T *dy = backward ? static_cast<const T *>(a->dy) : nullptr;
    T *y = backward ? nullptr : static_cast<T *>(a->y);
    T *dg = backward ? static_cast<T *>(a->dgate) : nullptr, *du = backward ? static_cast<T *>(a->dup) : nullptr;
    Views v = {a->rows, a->n, a->gate_rs, a->up_rs, a->y_rs, a->dy_rs, a->dgate_rs, a->dup_rs};
    bool vec = true;
    const void *ptrs[] = {g, u, dy, y, dg, du};
    for (const void *p : ptrs)
        if (p && !mc::aligned16(p)) vec = false;
    const int64_t strides[] = {v.g, v.u, backward ? v.dy : 0, backward ? 0 : v.y, backward ? v.dg : 0,
                               backward ? v.du : 0};
    if (a->rows > 1)
        for (int64_t st : strides)
            if (st % VEC) vec = false;
    /* With several rows the vector path needs whole packs per row; a single row can end in a
     * scalar tail. */
    if (a->rows > 1 && a->n % VEC) vec = false;
    int64_t c0 = 0;
    if (vec && a->n >= VEC) {
        Views vv = v;
        vv.n = a->n - a->n % VEC;
        const int64_t total = vv.rows * (vv.n / VEC);
        const int64_t grid = (total + kThreads * kUnroll - 1) / (kThreads * kUnroll);
        if (total + kThreads * kUnroll <= (int64_t)UINT32_MAX)
            swiglu_vec<T, uint32_t><<<(unsigned)grid, kThreads, 0, s>>>(g, u, dy, y, dg, du, vv);
        else
            swiglu_vec<T, uint64_t><<<(unsigned)grid, kThreads, 0, s>>>(g, u, dy, y, dg, du, vv);
        c0 = vv.n;
    }
    if (c0 < a->n)
        swiglu_scalar<T><<<(unsigned)scalar_blocks(a->rows * (a->n - c0), a->device), kThreads, 0, s>>>(
            g, u, dy, y, dg, du, v, c0);
    return mc::check_launch(backward ? "swiglu backward" : "swiglu forward");
}

mc_status swiglu_dispatch(const mc_swiglu_args *a, bool backward) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return launch_swiglu<float>(a, backward);
    case MC_DTYPE_F16: return launch_swiglu<__half>(a, backward);
    case MC_DTYPE_BF16: return launch_swiglu<__nv_bfloat16>(a, backward);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "swiglu: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

} // namespace

extern "C" mc_status mc_cuda_activation_forward(const mc_act_args *a) { return act_dispatch(a, false); }
extern "C" mc_status mc_cuda_activation_backward(const mc_act_args *a) { return act_dispatch(a, true); }
extern "C" mc_status mc_cuda_swiglu_forward(const mc_swiglu_args *a) { return swiglu_dispatch(a, false); }
extern "C" mc_status mc_cuda_swiglu_backward(const mc_swiglu_args *a) { return swiglu_dispatch(a, true); }
