/* SiLU, GELU and SwiGLU on CUDA: elementwise and memory bound.
 *
 * Fast path (pointers 16-byte aligned): one 16-byte pack per tensor per thread, 256 threads per
 * block, a one-shot grid sized to the data (no loop), forward and backward as separate
 * instantiations. That keeps a thread at 18-36 registers (sm_90), so 6-8 blocks per SM keep enough
 * loads in flight to run at the copy rate; 16-bit values convert two at a time
 * (mc::unpack_floats / mc::pack_floats). Pack indices are 32-bit: a launch covers at most
 * kMaxPacks packs, bigger problems are split into several launches on the host, and the row of a
 * pack in a SwiGLU row view comes from a multiply-high (mc::FastDiv) instead of a division.
 * This is variant B1 of bench/harness/swiglu_bw.cu: on an H100 (16384 x 11008 bf16) it ran SwiGLU
 * forward and backward at 3.03 TB/s, the device-to-device copy rate, where the kernel it replaces
 * (4 packs per thread, forward and backward in one kernel, 64-bit or divided indices: 121
 * registers, 2 blocks per SM) reached 2.46 and 2.81 TB/s. No __restrict__ on purpose: outputs
 * may alias inputs element for element (each pack is read, then written, by one thread), and
 * read-only (ld.global.nc) loads measured 2-3% slower there.
 *
 * A scalar kernel finishes the last n % VEC columns (of every row, for SwiGLU); unaligned views take
 * it for everything. Math in fp32 with the same formulas as src/cpu/activations.c.
 *
 * SwiGLU works on row views (rows, n) with a row stride per tensor, so either half of a packed
 * [..., 2I] gate-up tensor (and of its gradient) is read or written in place; dense problems
 * come from the core as one long row. Its backward can also write h = silu(gate) * up (for the
 * down-projection gradients of the fused MLP), over dy if asked: 6N bytes instead of a separate
 * forward (3N) and backward (5N).
 */
#include "../core/activations.h"
#include "common.cuh"

#include <algorithm>

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kThreads = 256;
/* Most packs one vector launch covers: pack indices stay below 2^31, mc::FastDiv's range (2^30
 * packs are 16 GiB per tensor, so only huge problems take more than one launch). */
constexpr int64_t kMaxPacks = int64_t(1) << 30;

unsigned vec_blocks(int64_t packs) { return (unsigned)((packs + kThreads - 1) / kThreads); }

int64_t scalar_blocks(int64_t n, int device) {
    const int64_t need = (n + kThreads - 1) / kThreads, cap = (int64_t)mc::sm_count(device) * 16;
    return need < cap ? (need > 0 ? need : 1) : cap;
}

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

/* ---- SiLU, GELU ----------------------------------------------------------------------------- */

/* out = act(x), or dy * act'(x) (BW). x, dy, out: (npacks * VEC,), 16-byte aligned; out may
 * alias x or dy. One pack per thread. */
template <typename T, int ACT, bool BW>
__global__ void __launch_bounds__(kThreads) act_vec(const T *x, const T *dy, T *out, uint32_t npacks) {
    constexpr int VEC = 16 / sizeof(T);
    const uint32_t p = blockIdx.x * kThreads + threadIdx.x;
    if (p >= npacks) return;
    const int64_t e = (int64_t)p * VEC;
    float xv[VEC], dv[VEC], o[VEC];
    mc::unpack_floats(mc::load_pack<T, VEC>(x + e), xv);
    if constexpr (BW) mc::unpack_floats(mc::load_pack<T, VEC>(dy + e), dv);
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
        if constexpr (BW) o[j] = dv[j] * Act<ACT>::df(xv[j]);
        else o[j] = Act<ACT>::f(xv[j]);
    }
    mc::store_pack<T, VEC>(out + e, mc::pack_floats<T, VEC>(o));
}

/* Scalar version over (n,) for tails and unaligned views; grid-stride. */
template <typename T, int ACT>
__global__ void __launch_bounds__(kThreads) act_scalar(const T *x, const T *dy, T *out, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x; i < n; i += (int64_t)gridDim.x * kThreads) {
        const float xv = to_float(x[i]);
        out[i] = from_float<T>(dy ? to_float(dy[i]) * Act<ACT>::df(xv) : Act<ACT>::f(xv));
    }
}

template <typename T, int ACT, bool BW> mc_status launch_act(const mc_act_args *a) {
    constexpr int VEC = 16 / sizeof(T);
    cudaStream_t s = mc::as_stream(a->stream);
    const T *x = static_cast<const T *>(a->x);
    const T *dy = BW ? static_cast<const T *>(a->dy) : nullptr;
    T *out = static_cast<T *>(BW ? a->dx : a->y);
    const bool vec = mc::aligned16(x) && mc::aligned16(out) && (!dy || mc::aligned16(dy));
    const int64_t npacks = vec ? a->numel / VEC : 0;
    for (int64_t p0 = 0; p0 < npacks; p0 += kMaxPacks) {
        const int64_t np = std::min(kMaxPacks, npacks - p0), e0 = p0 * VEC;
        act_vec<T, ACT, BW><<<vec_blocks(np), kThreads, 0, s>>>(x + e0, BW ? dy + e0 : nullptr, out + e0,
                                                                 (uint32_t)np);
    }
    const int64_t done = npacks * VEC, rest = a->numel - done;
    if (rest > 0)
        act_scalar<T, ACT><<<(unsigned)scalar_blocks(rest, a->device), kThreads, 0, s>>>(
            x + done, BW ? dy + done : nullptr, out + done, rest);
    return mc::check_launch(BW ? "activation backward" : "activation forward");
}

template <typename T, bool BW> mc_status act_by_kind(const mc_act_args *a) {
    switch (a->act) {
    case MC_ACTIVATION_SILU: return launch_act<T, MC_ACTIVATION_SILU, BW>(a);
    case MC_ACTIVATION_GELU: return launch_act<T, MC_ACTIVATION_GELU, BW>(a);
    default: return launch_act<T, MC_ACTIVATION_GELU_TANH, BW>(a);
    }
}

template <bool BW> mc_status act_dispatch(const mc_act_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return act_by_kind<float, BW>(a);
    case MC_DTYPE_F16: return act_by_kind<__half, BW>(a);
    case MC_DTYPE_BF16: return act_by_kind<__nv_bfloat16, BW>(a);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "activation: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

enum { kFwd = 0, kBwd = 1, kBwdH = 2 }; /* kBwdH: backward that also writes h */

/* The row views of one launch: element (r, c) of t at t + r * t_rs + c. y is the forward output,
 * or h in kBwdH; views a mode does not use are null. */
template <typename T> struct SwiViews {
    const T *g, *u, *dy;
    T *y, *dg, *du;
    int64_t g_rs, u_rs, dy_rs, y_rs, dg_rs, du_rs;

    /* the same views starting at row r, column c */
    SwiViews at(int64_t r, int64_t c) const {
        SwiViews v = *this;
        const auto mv = [&](auto *p, int64_t rs) { return p ? p + r * rs + c : p; };
        v.g = mv(g, g_rs), v.u = mv(u, u_rs), v.dy = mv(dy, dy_rs);
        v.y = mv(y, y_rs), v.dg = mv(dg, dg_rs), v.du = mv(du, du_rs);
        return v;
    }
};

/* One element: o0 = y = silu(g) u (kFwd), or o0 = dg = d u silu'(g), o1 = du = d silu(g) and in
 * kBwdH o2 = h = silu(g) u; one sigmoid for all of them. */
template <int MODE>
__device__ __forceinline__ void swiglu_math(float g, float u, float d, float &o0, float &o1, float &o2) {
    const float s = sigmoidf_(g), f = g * s;
    if constexpr (MODE == kFwd) {
        o0 = f * u;
    } else {
        o0 = d * u * s * (1.f + g * (1.f - s));
        o1 = d * f;
        if constexpr (MODE == kBwdH) o2 = f * u;
    }
}

/* Views of rows x npr.d packs, total = rows * npr.d < 2^31 packs; one pack of every view per
 * thread, its row by a multiply-high. Pointers aligned to 16 bytes, row strides multiples of VEC
 * (or a single row). Every output may alias an input element for element: the thread that reads a
 * pack is the one that writes it, loads first. */
template <typename T, int MODE>
__global__ void __launch_bounds__(kThreads) swiglu_vec(SwiViews<T> v, mc::FastDiv npr, uint32_t total) {
    constexpr int VEC = 16 / sizeof(T);
    const uint32_t p = blockIdx.x * kThreads + threadIdx.x;
    if (p >= total) return;
    const uint32_t r = npr.div(p);
    const int64_t c = (int64_t)(p - r * npr.d) * VEC;
    float g[VEC], u[VEC], d[VEC], o0[VEC], o1[VEC], o2[VEC];
    mc::unpack_floats(mc::load_pack<T, VEC>(v.g + r * v.g_rs + c), g);
    mc::unpack_floats(mc::load_pack<T, VEC>(v.u + r * v.u_rs + c), u);
    if constexpr (MODE != kFwd) mc::unpack_floats(mc::load_pack<T, VEC>(v.dy + r * v.dy_rs + c), d);
#pragma unroll
    for (int j = 0; j < VEC; ++j) swiglu_math<MODE>(g[j], u[j], MODE == kFwd ? 0.f : d[j], o0[j], o1[j], o2[j]);
    if constexpr (MODE == kFwd) {
        mc::store_pack<T, VEC>(v.y + r * v.y_rs + c, mc::pack_floats<T, VEC>(o0));
    } else {
        mc::store_pack<T, VEC>(v.dg + r * v.dg_rs + c, mc::pack_floats<T, VEC>(o0));
        mc::store_pack<T, VEC>(v.du + r * v.du_rs + c, mc::pack_floats<T, VEC>(o1));
        if constexpr (MODE == kBwdH) mc::store_pack<T, VEC>(v.y + r * v.y_rs + c, mc::pack_floats<T, VEC>(o2));
    }
}

/* Scalar version over views of rows x n elements (the tail columns, or unaligned views);
 * grid-stride over elements. */
template <typename T, int MODE>
__global__ void __launch_bounds__(kThreads) swiglu_scalar(SwiViews<T> v, int64_t rows, int64_t n) {
    const int64_t total = rows * n;
    for (int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x; e < total; e += (int64_t)gridDim.x * kThreads) {
        const int64_t r = e / n, c = e - r * n;
        const float gv = to_float(v.g[r * v.g_rs + c]), uv = to_float(v.u[r * v.u_rs + c]);
        const float dv = MODE == kFwd ? 0.f : to_float(v.dy[r * v.dy_rs + c]);
        float o0, o1, o2;
        swiglu_math<MODE>(gv, uv, dv, o0, o1, o2);
        if constexpr (MODE == kFwd) {
            v.y[r * v.y_rs + c] = from_float<T>(o0);
        } else {
            v.dg[r * v.dg_rs + c] = from_float<T>(o0);
            v.du[r * v.du_rs + c] = from_float<T>(o1);
            if constexpr (MODE == kBwdH) v.y[r * v.y_rs + c] = from_float<T>(o2);
        }
    }
}

template <typename T, int MODE> mc_status launch_swiglu(const mc_swiglu_args *a) {
    constexpr int VEC = 16 / sizeof(T);
    constexpr bool kBw = MODE != kFwd;
    cudaStream_t s = mc::as_stream(a->stream);
    SwiViews<T> v = {static_cast<const T *>(a->gate),
                     static_cast<const T *>(a->up),
                     kBw ? static_cast<const T *>(a->dy) : nullptr,
                     static_cast<T *>(MODE == kFwd ? a->y : MODE == kBwdH ? a->h : nullptr),
                     kBw ? static_cast<T *>(a->dgate) : nullptr,
                     kBw ? static_cast<T *>(a->dup) : nullptr,
                     a->gate_rs,
                     a->up_rs,
                     a->dy_rs,
                     MODE == kFwd ? a->y_rs : a->h_rs,
                     a->dgate_rs,
                     a->dup_rs};
    /* The vector path needs aligned pointers and, with several rows, row strides in whole packs;
     * it then takes the first n - n % VEC columns of every row. */
    bool vec = true;
    const void *ptrs[] = {v.g, v.u, v.dy, v.y, v.dg, v.du};
    const int64_t strides[] = {v.g_rs, v.u_rs, v.dy_rs, v.y_rs, v.dg_rs, v.du_rs};
    for (int i = 0; i < 6; ++i)
        if (ptrs[i] && (!mc::aligned16(ptrs[i]) || (a->rows > 1 && strides[i] % VEC))) vec = false;
    const int64_t nv = vec ? a->n - a->n % VEC : 0;
    if (nv > 0) {
        /* launches of nr rows x nc packs, nr * nc <= kMaxPacks: one launch unless the views
         * exceed 16 GiB each */
        const int64_t npr = nv / VEC, nc_max = std::min(npr, kMaxPacks), nr_max = kMaxPacks / nc_max;
        for (int64_t c0 = 0; c0 < npr; c0 += nc_max)
            for (int64_t r0 = 0; r0 < a->rows; r0 += nr_max) {
                const int64_t nc = std::min(nc_max, npr - c0), nr = std::min(nr_max, a->rows - r0);
                swiglu_vec<T, MODE><<<vec_blocks(nr * nc), kThreads, 0, s>>>(
                    v.at(r0, c0 * VEC), mc::FastDiv::make((uint32_t)nc), (uint32_t)(nr * nc));
            }
    }
    if (nv < a->n)
        swiglu_scalar<T, MODE><<<(unsigned)scalar_blocks(a->rows * (a->n - nv), a->device), kThreads, 0, s>>>(
            v.at(0, nv), a->rows, a->n - nv);
    return mc::check_launch(kBw ? "swiglu backward" : "swiglu forward");
}

template <typename T> mc_status swiglu_by_mode(const mc_swiglu_args *a, bool backward) {
    if (!backward) return launch_swiglu<T, kFwd>(a);
    return a->h ? launch_swiglu<T, kBwdH>(a) : launch_swiglu<T, kBwd>(a);
}

mc_status swiglu_dispatch(const mc_swiglu_args *a, bool backward) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    switch (a->dtype) {
    case MC_DTYPE_F32: return swiglu_by_mode<float>(a, backward);
    case MC_DTYPE_F16: return swiglu_by_mode<__half>(a, backward);
    case MC_DTYPE_BF16: return swiglu_by_mode<__nv_bfloat16>(a, backward);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "swiglu: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

} // namespace

extern "C" mc_status mc_cuda_activation_forward(const mc_act_args *a) { return act_dispatch<false>(a); }
extern "C" mc_status mc_cuda_activation_backward(const mc_act_args *a) { return act_dispatch<true>(a); }
extern "C" mc_status mc_cuda_swiglu_forward(const mc_swiglu_args *a) { return swiglu_dispatch(a, false); }
extern "C" mc_status mc_cuda_swiglu_backward(const mc_swiglu_args *a) { return swiglu_dispatch(a, true); }
