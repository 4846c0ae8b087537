/* RoPE on CUDA: one kernel for forward and backward (the transpose), q and k in one launch.
 *
 * Parallelisation: a thread owns one (token, item) and HPT consecutive heads, where an item is
 * a VEC-wide slice of the first half of the rotary dims (it also handles the matching slice of
 * the second half: both halves of a pair stay in one thread, so in place is safe) or a VEC-wide
 * slice of the pass-through dims (partial rotary). cos/sin for its slice are loaded once and
 * reused over the HPT heads, and the HPT heads' loads are all issued before any store, so each
 * thread keeps 2 * HPT 16-byte loads in flight. Heads beyond q's continue into k, so grouped
 * heads (Hk < Hq) need no second launch.
 * Vector path: 16-byte accesses when every pointer, stride and half-width allows them;
 * otherwise the same kernel with VEC = 1.
 */
#include "../core/rope.h"
#include "common.cuh"

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kThreads = 256;
constexpr int kHeadsPerThread = 4;

struct RopeParams {
    const void *x[2];
    void *y[2];
    int64_t xs[2][3], ys[2][3];
    int64_t hq, htot;
    const void *cos, *sin;
    int64_t cs[2], ss[2];
    int64_t seq, half, rot, npair, items, nwork; /* nwork = tokens * items */
};

template <typename T, typename C, int VEC, bool INV>
__global__ void __launch_bounds__(kThreads) rope_kernel(const RopeParams p) {
    const int64_t gid = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (gid >= p.nwork) return;
    const int64_t tok = gid / p.items;
    const int64_t item = gid - tok * p.items;
    const int64_t b = tok / p.seq, s = tok - b * p.seq;
    const int64_t h0 = (int64_t)blockIdx.y * kHeadsPerThread;
    const bool pair = item < p.npair;
    const int64_t j = pair ? item * VEC : p.rot + (item - p.npair) * VEC;

    float c1[VEC], c2[VEC], sa[VEC], sb[VEC];
    if (pair) {
        const C *cr = static_cast<const C *>(p.cos) + b * p.cs[0] + s * p.cs[1];
        const C *sr = static_cast<const C *>(p.sin) + b * p.ss[0] + s * p.ss[1];
        Pack<C, VEC> a1 = mc::load_pack<C, VEC>(cr + j), a2 = mc::load_pack<C, VEC>(cr + j + p.half);
        Pack<C, VEC> b1 = mc::load_pack<C, VEC>(sr + j), b2 = mc::load_pack<C, VEC>(sr + j + p.half);
#pragma unroll
        for (int e = 0; e < VEC; ++e) {
            c1[e] = to_float(a1.v[e]);
            c2[e] = to_float(a2.v[e]);
            /* forward: y1 = x1 c1 - x2 s1, y2 = x2 c2 + x1 s2; the transpose swaps and negates */
            sa[e] = INV ? -to_float(b2.v[e]) : to_float(b1.v[e]);
            sb[e] = INV ? -to_float(b1.v[e]) : to_float(b2.v[e]);
        }
    }

    Pack<T, VEC> v1[kHeadsPerThread], v2[kHeadsPerThread];
    T *dst[kHeadsPerThread];
#pragma unroll
    for (int u = 0; u < kHeadsPerThread; ++u) {
        const int64_t hh = h0 + u;
        dst[u] = nullptr;
        if (hh >= p.htot) continue;
        const int ti = hh < p.hq ? 0 : 1;
        const int64_t hd = ti == 0 ? hh : hh - p.hq;
        const T *xr = static_cast<const T *>(p.x[ti]) + b * p.xs[ti][0] + hd * p.xs[ti][1] + s * p.xs[ti][2];
        dst[u] = static_cast<T *>(p.y[ti]) + b * p.ys[ti][0] + hd * p.ys[ti][1] + s * p.ys[ti][2];
        v1[u] = mc::load_pack<T, VEC>(xr + j);
        if (pair) v2[u] = mc::load_pack<T, VEC>(xr + j + p.half);
    }
#pragma unroll
    for (int u = 0; u < kHeadsPerThread; ++u) {
        if (!dst[u]) continue;
        if (pair) {
            Pack<T, VEC> o1, o2;
#pragma unroll
            for (int e = 0; e < VEC; ++e) {
                const float x1 = to_float(v1[u].v[e]), x2 = to_float(v2[u].v[e]);
                o1.v[e] = from_float<T>(x1 * c1[e] - x2 * sa[e]);
                o2.v[e] = from_float<T>(x2 * c2[e] + x1 * sb[e]);
            }
            mc::store_pack<T, VEC>(dst[u] + j, o1);
            mc::store_pack<T, VEC>(dst[u] + j + p.half, o2);
        } else {
            mc::store_pack<T, VEC>(dst[u] + j, v1[u]);
        }
    }
}

bool aligned_to(const void *ptr, size_t bytes) {
    return (reinterpret_cast<uintptr_t>(ptr) % bytes) == 0;
}

/* The 16-byte path applies: half and pass-through widths, every (b, h, s) stride and every
 * base pointer are multiples of the vector. */
bool vec_ok(const mc_rope_args *a, int vec) {
    const int64_t pass = a->dim - a->rot;
    if ((a->rot / 2) % vec || pass % vec) return false;
    const size_t es = mc_dtype_size(a->dtype), ces = mc_dtype_size(a->cdtype);
    if (!aligned_to(a->cos, ces * vec) || !aligned_to(a->sin, ces * vec)) return false;
    for (int i = 0; i < 2; ++i)
        if (a->cs[i] % vec || a->ss[i] % vec) return false;
    for (int ti = 0; ti < 2; ++ti) {
        const mc_rope_tensor *t = &a->t[ti];
        if (t->heads == 0) continue;
        if (!aligned_to(t->x, es * vec) || !aligned_to(t->y, es * vec)) return false;
        for (int i = 0; i < 3; ++i)
            if (t->xs[i] % vec || t->ys[i] % vec) return false;
    }
    return true;
}

template <typename T, typename C, int VEC>
mc_status launch(const mc_rope_args *a) {
    RopeParams p;
    for (int ti = 0; ti < 2; ++ti) {
        p.x[ti] = a->t[ti].x;
        p.y[ti] = a->t[ti].y;
        for (int i = 0; i < 3; ++i) {
            p.xs[ti][i] = a->t[ti].xs[i];
            p.ys[ti][i] = a->t[ti].ys[i];
        }
    }
    p.hq = a->t[0].heads;
    p.htot = a->t[0].heads + a->t[1].heads;
    p.cos = a->cos;
    p.sin = a->sin;
    p.cs[0] = a->cs[0]; p.cs[1] = a->cs[1];
    p.ss[0] = a->ss[0]; p.ss[1] = a->ss[1];
    p.seq = a->seq;
    p.half = a->rot / 2;
    p.rot = a->rot;
    p.npair = p.half / VEC;
    p.items = p.npair + (a->dim - a->rot) / VEC;
    p.nwork = a->batch * a->seq * p.items;
    const int64_t gx = (p.nwork + kThreads - 1) / kThreads;
    const int64_t gy = (p.htot + kHeadsPerThread - 1) / kHeadsPerThread;
    if (gx > 0x7fffffff || gy > 65535)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: problem too large for one launch (%lld x %lld blocks)",
                       (long long)gx, (long long)gy);
    dim3 grid((unsigned)gx, (unsigned)gy);
    cudaStream_t s = mc::as_stream(a->stream);
    if (a->inverse)
        rope_kernel<T, C, VEC, true><<<grid, kThreads, 0, s>>>(p);
    else
        rope_kernel<T, C, VEC, false><<<grid, kThreads, 0, s>>>(p);
    return mc::check_launch(a->inverse ? "rope backward" : "rope forward");
}

template <typename T, typename C>
mc_status run(const mc_rope_args *a) {
    constexpr int V = 16 / sizeof(T);
    if (vec_ok(a, V)) return launch<T, C, V>(a);
    return launch<T, C, 1>(a);
}

} // namespace

extern "C" mc_status mc_cuda_rope(const mc_rope_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    const bool cf32 = a->cdtype == MC_DTYPE_F32;
    switch (a->dtype) {
    case MC_DTYPE_F32: return run<float, float>(a);
    case MC_DTYPE_F16: return cf32 ? run<__half, float>(a) : run<__half, __half>(a);
    case MC_DTYPE_BF16: return cf32 ? run<__nv_bfloat16, float>(a) : run<__nv_bfloat16, __nv_bfloat16>(a);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}
