/* RoPE on CUDA: one kernel for forward and backward (the transpose), q and k in one launch.
 *
 * Parallelisation: a one-shot grid (no grid-stride loop), one thread per (token, head, item),
 * where an item is a VEC-wide slice of the first half of the rotary dims (the thread also handles
 * the matching slice of the second half: both halves of a pair stay in one thread, so in place is
 * safe) or a VEC-wide slice of the pass-through dims (partial rotary). The flat thread index runs
 * item fastest, then head, then token, so the threads of a warp and of neighbouring blocks are the
 * heads of the same few tokens: cos/sin of a token (shared by every head of q and k) come from
 * DRAM once and are then served by the coalescer (several heads in one warp read the same
 * addresses), L1 and L2, at any sequence length. Heads beyond q's continue into k, so grouped
 * heads (Hk < Hq) need no second launch.
 * Why this shape: the previous kernel (4 heads per thread, 64-bit divisions, 123 registers: 2 blocks
 * of 256 per SM; head groups as the slow grid dimension, so cos/sin were swept from DRAM once per
 * head group) reached 2.26 TB/s on the H100 (bench/bench_rope.py) against a 3.01 TB/s copy, while
 * elementwise kernels with one-shot grids, a few 16-byte accesses and 30-60 registers per thread
 * and 32-bit multiply-high index math reached the copy rate (bench/harness/swiglu_bw.cu).
 * bench/harness/rope_bw.cu checks and times this kernel; its header records what the previous
 * kernel and the other settings of kHeadsPerThread / kHeadsFastest below measured.
 * Index math in 32 bits when every offset and the thread count fit in int32; otherwise the same
 * kernel with 64-bit indices and offsets.
 * Vector path: 16-byte accesses when every pointer, stride and half-width allows them;
 * otherwise the same kernel with VEC = 1.
 */
#include "../core/rope.h"
#include "common.cuh"

#include <climits>
#include <type_traits>

namespace {

using mc::Pack;

constexpr int kThreads = 256;
/* The shipped configuration (bench/harness/rope_bw.cu records the others): heads per thread, and the
 * grid order (true: head fastest, then token; false: token fastest, then head group). */
constexpr int kHeadsPerThread = 1;
constexpr bool kHeadsFastest = true;

struct RopeParams {
    const void *x[2];
    void *y[2];
    int64_t xs[2][3], ys[2][3];
    const void *cos, *sin;
    int64_t cs[2], ss[2];
    int64_t hq, htot, half, rot, npair;
    int64_t total;                   /* batch * seq * groups * items threads */
    mc::IndexDiv items, groups, seq; /* items per row; head groups (htot / HPT rounded up); S */
};

/* x, y: (B, H, S, D) for q (heads [0, hq)) and k (heads [hq, htot)); cos, sin: (Bc, S, R).
 * BIG: 64-bit indices and offsets (else every offset and the thread count fit in int32). */
template <typename T, typename C, int VEC, bool INV, int HPT, bool HEADS_FAST, bool BIG>
__global__ void __launch_bounds__(kThreads) rope_kernel(const RopeParams p) {
    using U = std::conditional_t<BIG, uint64_t, uint32_t>;
    using I = std::conditional_t<BIG, int64_t, int32_t>;
    const U gid = (U)blockIdx.x * kThreads + threadIdx.x;
    if (gid >= (U)p.total) return;
    /* gid = ((b * S + s) * groups + g) * items + item (HEADS_FAST) or ((b * groups + g) * S + s) * items + item */
    const U r0 = p.items.div<BIG>(gid);
    const I item = (I)(gid - r0 * (U)p.items.d);
    I g, s;
    U r2;
    if constexpr (HEADS_FAST) {
        const U r1 = p.groups.div<BIG>(r0);
        g = (I)(r0 - r1 * (U)p.groups.d);
        r2 = p.seq.div<BIG>(r1);
        s = (I)(r1 - r2 * (U)p.seq.d);
    } else {
        const U r1 = p.seq.div<BIG>(r0);
        s = (I)(r0 - r1 * (U)p.seq.d);
        r2 = p.groups.div<BIG>(r1);
        g = (I)(r1 - r2 * (U)p.groups.d);
    }
    const I b = (I)r2;
    const I npair = (I)p.npair, half = (I)p.half;
    const bool pair = item < npair;
    const I j = pair ? item * VEC : (I)p.rot + (item - npair) * VEC;

    /* Every load is issued before any value is used (cos/sin converted only after the x loads):
     * a use inside the `if (pair)` would stall the thread on cos/sin before it asks for x. */
    Pack<C, VEC> pc1, pc2, ps1, ps2;
    if (pair) {
        const C *cr = static_cast<const C *>(p.cos) + (b * (I)p.cs[0] + s * (I)p.cs[1] + j);
        const C *sr = static_cast<const C *>(p.sin) + (b * (I)p.ss[0] + s * (I)p.ss[1] + j);
        pc1 = mc::load_pack<C, VEC>(cr);
        pc2 = mc::load_pack<C, VEC>(cr + half);
        ps1 = mc::load_pack<C, VEC>(sr);
        ps2 = mc::load_pack<C, VEC>(sr + half);
    }

    const I hq = (I)p.hq, htot = (I)p.htot;
    Pack<T, VEC> v1[HPT], v2[HPT];
    const T *src[HPT];
    T *dst[HPT];
#pragma unroll
    for (int u = 0; u < HPT; ++u) {
        const I hh = g * HPT + u;
        src[u] = nullptr;
        dst[u] = nullptr;
        if (HPT > 1 && hh >= htot) continue; /* HPT == 1: g < groups == htot */
        const bool isk = hh >= hq;
        const I hd = isk ? hh - hq : hh;
        const I xo = b * (I)(isk ? p.xs[1][0] : p.xs[0][0]) + hd * (I)(isk ? p.xs[1][1] : p.xs[0][1]) +
                     s * (I)(isk ? p.xs[1][2] : p.xs[0][2]) + j;
        const I yo = b * (I)(isk ? p.ys[1][0] : p.ys[0][0]) + hd * (I)(isk ? p.ys[1][1] : p.ys[0][1]) +
                     s * (I)(isk ? p.ys[1][2] : p.ys[0][2]) + j;
        src[u] = static_cast<const T *>(isk ? p.x[1] : p.x[0]) + xo;
        dst[u] = static_cast<T *>(isk ? p.y[1] : p.y[0]) + yo;
        v1[u] = mc::load_pack<T, VEC>(src[u]);
        if (pair) v2[u] = mc::load_pack<T, VEC>(src[u] + half);
    }

    if (pair) {
        float c1[VEC], c2[VEC], s1[VEC], s2[VEC];
        mc::unpack_floats(pc1, c1);
        mc::unpack_floats(pc2, c2);
        mc::unpack_floats(ps1, s1);
        mc::unpack_floats(ps2, s2);
#pragma unroll
        for (int u = 0; u < HPT; ++u) {
            if (HPT > 1 && !dst[u]) continue;
            float x1[VEC], x2[VEC], o1[VEC], o2[VEC];
            mc::unpack_floats(v1[u], x1);
            mc::unpack_floats(v2[u], x2);
#pragma unroll
            for (int e = 0; e < VEC; ++e) {
                /* forward: y1 = x1 c1 - x2 s1, y2 = x2 c2 + x1 s2; the transpose: y1 = x1 c1 + x2 s2,
                 * y2 = x2 c2 - x1 s1 */
                o1[e] = INV ? x1[e] * c1[e] + x2[e] * s2[e] : x1[e] * c1[e] - x2[e] * s1[e];
                o2[e] = INV ? x2[e] * c2[e] - x1[e] * s1[e] : x2[e] * c2[e] + x1[e] * s2[e];
            }
            mc::store_pack<T, VEC>(dst[u], mc::pack_floats<T, VEC>(o1));
            mc::store_pack<T, VEC>(dst[u] + half, mc::pack_floats<T, VEC>(o2));
        }
    } else {
#pragma unroll
        for (int u = 0; u < HPT; ++u)
            if (dst[u] && dst[u] != src[u]) mc::store_pack<T, VEC>(dst[u], v1[u]); /* in place: no-op */
    }
}

bool aligned_to(const void *ptr, size_t bytes) {
    return (reinterpret_cast<uintptr_t>(ptr) % bytes) == 0;
}

/* The 16-byte path applies: half and pass-through widths, every (b, h, s) stride of an extent
 * above 1 and every base pointer are multiples of the vector. */
bool vec_ok(const mc_rope_args *a, int vec) {
    const int64_t pass = a->dim - a->rot;
    if ((a->rot / 2) % vec || pass % vec) return false;
    const size_t es = mc_dtype_size(a->dtype), ces = mc_dtype_size(a->cdtype);
    if (!aligned_to(a->cos, ces * vec) || !aligned_to(a->sin, ces * vec)) return false;
    const int64_t cext[2] = {a->batch, a->seq};
    for (int i = 0; i < 2; ++i)
        if (cext[i] > 1 && (a->cs[i] % vec || a->ss[i] % vec)) return false;
    for (int ti = 0; ti < 2; ++ti) {
        const mc_rope_tensor *t = &a->t[ti];
        if (t->heads == 0) continue;
        if (!aligned_to(t->x, es * vec) || !aligned_to(t->y, es * vec)) return false;
        const int64_t ext[3] = {a->batch, t->heads, a->seq};
        for (int i = 0; i < 3; ++i)
            if (ext[i] > 1 && (t->xs[i] % vec || t->ys[i] % vec)) return false;
    }
    return true;
}

/* Every element offset of a view with these extents and strides (those of extents <= 1 unused)
 * plus `last` fits in int32, with no negative stride. */
bool fits_int32(int n, const int64_t *ext, const int64_t *st, int64_t last) {
    int64_t sum = last;
    for (int i = 0; i < n; ++i) {
        if (ext[i] <= 1) continue;
        if (st[i] < 0 || st[i] > INT32_MAX || ext[i] > INT32_MAX) return false;
        sum += (ext[i] - 1) * st[i];
        if (sum > INT32_MAX) return false;
    }
    return sum <= INT32_MAX;
}

bool offsets_fit_int32(const mc_rope_args *a) {
    const int64_t cext[2] = {a->batch, a->seq};
    if (!fits_int32(2, cext, a->cs, a->rot) || !fits_int32(2, cext, a->ss, a->rot)) return false;
    for (int ti = 0; ti < 2; ++ti) {
        const mc_rope_tensor *t = &a->t[ti];
        if (t->heads == 0) continue;
        const int64_t ext[3] = {a->batch, t->heads, a->seq};
        if (!fits_int32(3, ext, t->xs, a->dim) || !fits_int32(3, ext, t->ys, a->dim)) return false;
    }
    return true;
}

template <typename T, typename C, int VEC, int HPT, bool HEADS_FAST>
mc_status launch(const mc_rope_args *a, bool force64) {
    RopeParams p;
    for (int ti = 0; ti < 2; ++ti) {
        p.x[ti] = a->t[ti].x;
        p.y[ti] = a->t[ti].y;
        for (int i = 0; i < 3; ++i) {
            p.xs[ti][i] = a->t[ti].xs[i];
            p.ys[ti][i] = a->t[ti].ys[i];
        }
    }
    p.cos = a->cos;
    p.sin = a->sin;
    p.cs[0] = a->cs[0]; p.cs[1] = a->cs[1];
    p.ss[0] = a->ss[0]; p.ss[1] = a->ss[1];
    p.hq = a->t[0].heads;
    p.htot = a->t[0].heads + a->t[1].heads;
    p.half = a->rot / 2;
    p.rot = a->rot;
    p.npair = p.half / VEC;
    const int64_t items = p.npair + (a->dim - a->rot) / VEC;
    const int64_t groups = (p.htot + HPT - 1) / HPT;
    p.total = a->batch * a->seq * groups * items;
    p.items = mc::IndexDiv::make(items);
    p.groups = mc::IndexDiv::make(groups);
    p.seq = mc::IndexDiv::make(a->seq);
    const int64_t gx = (p.total + kThreads - 1) / kThreads;
    if (gx > INT32_MAX)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: problem too large for one launch (%lld blocks)",
                       (long long)gx);
    const bool big = force64 || p.total > INT32_MAX - kThreads || !offsets_fit_int32(a);
    void (*kernel)(const RopeParams);
    if (a->inverse)
        kernel = big ? rope_kernel<T, C, VEC, true, HPT, HEADS_FAST, true>
                     : rope_kernel<T, C, VEC, true, HPT, HEADS_FAST, false>;
    else
        kernel = big ? rope_kernel<T, C, VEC, false, HPT, HEADS_FAST, true>
                     : rope_kernel<T, C, VEC, false, HPT, HEADS_FAST, false>;
    kernel<<<(unsigned)gx, kThreads, 0, mc::as_stream(a->stream)>>>(p);
    return mc::check_launch(a->inverse ? "rope backward" : "rope forward");
}

template <int HPT, bool HEADS_FAST, typename T, typename C>
mc_status run(const mc_rope_args *a, bool force64) {
    constexpr int V = 16 / sizeof(T);
    if (vec_ok(a, V)) return launch<T, C, V, HPT, HEADS_FAST>(a, force64);
    return launch<T, C, 1, HPT, HEADS_FAST>(a, force64);
}

/* force64: the 64-bit kernel even where 32 bits would do (for the harness's checks). */
template <int HPT, bool HEADS_FAST> mc_status rope_dispatch(const mc_rope_args *a, bool force64) {
    const bool cf32 = a->cdtype == MC_DTYPE_F32;
    switch (a->dtype) {
    case MC_DTYPE_F32: return run<HPT, HEADS_FAST, float, float>(a, force64);
    case MC_DTYPE_F16:
        return cf32 ? run<HPT, HEADS_FAST, __half, float>(a, force64)
                    : run<HPT, HEADS_FAST, __half, __half>(a, force64);
    case MC_DTYPE_BF16:
        return cf32 ? run<HPT, HEADS_FAST, __nv_bfloat16, float>(a, force64)
                    : run<HPT, HEADS_FAST, __nv_bfloat16, __nv_bfloat16>(a, force64);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

} // namespace

extern "C" mc_status mc_cuda_rope(const mc_rope_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    return rope_dispatch<kHeadsPerThread, kHeadsFastest>(a, false);
}
