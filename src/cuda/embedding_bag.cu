/* EmbeddingBag on CUDA.
 *
 * Forward: one warp per bag (bags are short and independent; a warp covers 32 * VEC columns
 * per pass, so a 128-wide f32 row is one 16-byte load per lane). The lanes load 32 of the bag's
 * indices at once and broadcast them with shuffles, and four rows are loaded before any is
 * accumulated, so each lane keeps four 16-byte loads in flight.
 * Backward, default: one warp per bag scatters its (scaled) output gradient into the rows with
 * f32 atomics (16-byte vector atomics on sm_90), into dweight for f32 weights or an f32
 * workspace for 16-bit ones. Deterministic: over indices sorted stably by row (from the
 * caller), one warp per run of equal rows sums the contributions in sorted order and writes
 * the row once, so results are bit-identical run to run (the idea of a segmented reduction over
 * sorted indices is torch's embedding_dense_backward; the code here is our own).
 * Every index and offset is range-checked where it is read; a bad one is skipped and counted
 * in errors, never used to address memory.
 */
#include "../core/embedding_bag.h"
#include "common.cuh"

namespace {

using mc::from_float;
using mc::Pack;
using mc::to_float;

constexpr int kThreads = 256;
constexpr unsigned kFull = 0xffffffffu;

struct EbParams {
    const void *weight, *indices, *offsets, *psw, *dout, *sorted;
    const int64_t *perm;
    void *out, *dweight, *dpsw;
    float *acc; /* backward accumulator (dweight itself for f32, else the workspace) */
    int64_t *bag_count, *max_pos, *errors, *o2b;
    int64_t num, dim, n, nbags, fixed, noffsets, padding_idx;
    int mode;
};

template <typename I>
__device__ __forceinline__ bool bag_range(const EbParams &p, int64_t b, int64_t &s, int64_t &e) {
    if (!p.offsets) {
        s = b * p.fixed;
        e = s + p.fixed;
        return true;
    }
    const I *off = static_cast<const I *>(p.offsets);
    s = (int64_t)off[b];
    e = b + 1 < p.noffsets ? (int64_t)off[b + 1] : p.n;
    if (s < 0 || e > p.n || s > e || (b == 0 && s != 0)) {
        s = e = 0;
        return false;
    }
    return true;
}

/* Row of entry i (raw index value r), or -1 if out of range or padding. */
__device__ __forceinline__ int64_t valid_row(const EbParams &p, int64_t r) {
    return (r < 0 || r >= p.num || r == p.padding_idx) ? -1 : r;
}

__device__ __forceinline__ void flag(int64_t *errors, int which, int64_t where) {
    if (!errors) return;
    atomicAdd(reinterpret_cast<unsigned long long *>(errors + which), 1ull);
    errors[which + 1] = where; /* any one of the bad ones */
}

template <int VEC>
__device__ __forceinline__ void atomic_add_vec(float *dst, const float *v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    constexpr bool kVec4 = VEC % 4 == 0; /* sm_90 has 16-byte vector atomics for f32 */
#else
    constexpr bool kVec4 = false;
#endif
    if constexpr (kVec4) {
#pragma unroll
        for (int e = 0; e < VEC; e += 4)
            atomicAdd(reinterpret_cast<float4 *>(dst + e), make_float4(v[e], v[e + 1], v[e + 2], v[e + 3]));
    } else {
#pragma unroll
        for (int e = 0; e < VEC; ++e) atomicAdd(dst + e, v[e]);
    }
}

constexpr int kUnroll = 4;

/* out: (nbags, dim). MODE 0 sum, 1 mean, 2 max. */
template <typename T, typename I, int VEC, int MODE>
__global__ void __launch_bounds__(kThreads) eb_forward(const EbParams p) {
    const int64_t b = ((int64_t)blockIdx.x * kThreads + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (b >= p.nbags) return;
    int64_t s, e;
    if (!bag_range<I>(p, b, s, e) && lane == 0) flag(p.errors, 2, b);
    const T *w = static_cast<const T *>(p.weight);
    const I *idx = static_cast<const I *>(p.indices);
    const T *psw = static_cast<const T *>(p.psw);
    T *out = static_cast<T *>(p.out);
    /* at least one pass, so entries are counted and checked even when dim == 0 */
    const int64_t nchunks = p.dim > 0 ? (p.dim + 32 * VEC - 1) / (32 * VEC) : 1;
    int64_t count = 0;
    for (int64_t chunk = 0; chunk < nchunks; ++chunk) {
        const int64_t c = (chunk * 32 + lane) * VEC;
        const bool active = c < p.dim;
        float acc[VEC];
        int64_t mpos[VEC];
#pragma unroll
        for (int v = 0; v < VEC; ++v) {
            acc[v] = 0.f;
            mpos[v] = -1;
        }
        for (int64_t base = s; base < e; base += 32) {
            const int64_t pos = base + lane;
            int64_t r = -1;
            float wt = 1.f;
            if (pos < e) {
                const int64_t raw = (int64_t)idx[pos];
                r = valid_row(p, raw);
                if ((raw < 0 || raw >= p.num) && chunk == 0) flag(p.errors, 0, pos);
                if (psw) wt = to_float(psw[pos]);
            }
            const int m = (int)(e - base < 32 ? e - base : 32);
            for (int t = 0; t < m; t += kUnroll) {
                int64_t rows[kUnroll];
                float wts[kUnroll];
                Pack<T, VEC> vals[kUnroll];
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    rows[u] = __shfl_sync(kFull, r, (t + u) & 31);
                    wts[u] = __shfl_sync(kFull, wt, (t + u) & 31);
                    if (t + u >= m) rows[u] = -1;
                    if (rows[u] >= 0 && active) vals[u] = mc::load_pack<T, VEC>(w + rows[u] * p.dim + c);
                }
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) {
                    if (rows[u] < 0) continue;
                    if (chunk == 0) ++count;
                    if (!active) continue;
#pragma unroll
                    for (int v = 0; v < VEC; ++v) {
                        const float x = to_float(vals[u].v[v]);
                        if (MODE == 2) {
                            if (mpos[v] < 0 || x > acc[v]) { /* the first maximum wins ties */
                                acc[v] = x;
                                mpos[v] = base + t + u;
                            }
                        } else {
                            acc[v] += wts[u] * x;
                        }
                    }
                }
            }
        }
        if (!active) continue;
        const float scale = (MODE == 1) ? (count > 0 ? 1.f / (float)count : 0.f) : 1.f;
        Pack<T, VEC> o;
#pragma unroll
        for (int v = 0; v < VEC; ++v) o.v[v] = from_float<T>(MODE == 2 ? (mpos[v] < 0 ? 0.f : acc[v]) : acc[v] * scale);
        mc::store_pack<T, VEC>(out + b * p.dim + c, o);
        if (p.max_pos)
#pragma unroll
            for (int v = 0; v < VEC; ++v) p.max_pos[b * p.dim + c + v] = mpos[v];
    }
    if (p.bag_count && lane == 0) p.bag_count[b] = count;
}

/* Sum and mean: warp per bag, atomics into acc (num, dim) f32. */
template <typename T, typename I, int VEC>
__global__ void __launch_bounds__(kThreads) eb_backward_atomic(const EbParams p) {
    const int64_t b = ((int64_t)blockIdx.x * kThreads + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (b >= p.nbags) return;
    int64_t s, e;
    if (!bag_range<I>(p, b, s, e)) return;
    const I *idx = static_cast<const I *>(p.indices);
    const T *psw = static_cast<const T *>(p.psw);
    const T *dout = static_cast<const T *>(p.dout);
    float bscale = 1.f;
    if (p.mode == 1) {
        const int64_t cnt = p.bag_count[b];
        bscale = cnt > 0 ? 1.f / (float)cnt : 0.f;
    }
    const int64_t nchunks = (p.dim + 32 * VEC - 1) / (32 * VEC);
    for (int64_t chunk = 0; chunk < nchunks; ++chunk) {
        const int64_t c = (chunk * 32 + lane) * VEC;
        const bool active = c < p.dim;
        float g[VEC];
        if (active) {
            Pack<T, VEC> gp = mc::load_pack<T, VEC>(dout + b * p.dim + c);
#pragma unroll
            for (int v = 0; v < VEC; ++v) g[v] = to_float(gp.v[v]) * bscale;
        }
        for (int64_t base = s; base < e; base += 32) {
            const int64_t pos = base + lane;
            int64_t r = -1;
            float wt = 1.f;
            if (pos < e) {
                r = valid_row(p, (int64_t)idx[pos]);
                if (psw) wt = to_float(psw[pos]);
            }
            const int m = (int)(e - base < 32 ? e - base : 32);
            for (int t = 0; t < m; ++t) {
                const int64_t row = __shfl_sync(kFull, r, t);
                const float ws = __shfl_sync(kFull, wt, t);
                if (row < 0 || !active) continue;
                float v[VEC];
#pragma unroll
                for (int k = 0; k < VEC; ++k) v[k] = g[k] * ws;
                atomic_add_vec<VEC>(p.acc + row * p.dim + c, v);
            }
        }
    }
}

/* Max: one thread per (bag, column) sends its gradient to the row that held the maximum. */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads) eb_backward_max_atomic(const EbParams p) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i >= p.nbags * p.dim) return;
    const int64_t b = i / p.dim, c = i - b * p.dim;
    int64_t s, e;
    if (!bag_range<I>(p, b, s, e)) return;
    const int64_t pos = p.max_pos[i];
    if (pos < s || pos >= e) return; /* empty bag (-1), or not this bag's: never trusted */
    const int64_t row = valid_row(p, (int64_t)static_cast<const I *>(p.indices)[pos]);
    if (row < 0) return;
    atomicAdd(p.acc + row * p.dim + c, to_float(static_cast<const T *>(p.dout)[i]));
}

template <typename T>
__global__ void cast_from_f32(const float *__restrict__ src, T *__restrict__ dst, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = from_float<T>(src[i]);
}

/* o2b[pos] = the bag of pos, or -1 (o2b filled with -1 first: 0xff bytes). Warp per bag. */
template <typename I>
__global__ void __launch_bounds__(kThreads) eb_offset2bag(const EbParams p) {
    const int64_t b = ((int64_t)blockIdx.x * kThreads + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (b >= p.nbags) return;
    int64_t s, e;
    if (!bag_range<I>(p, b, s, e)) return;
    for (int64_t pos = s + lane; pos < e; pos += 32) p.o2b[pos] = b;
}

/* Deterministic: warp per sorted position; the first of each run of equal rows sums the run's
 * contributions in sorted order (32 at a time) and writes the row. */
template <typename T, typename I, int VEC>
__global__ void __launch_bounds__(kThreads) eb_backward_sorted(const EbParams p) {
    const int64_t j = ((int64_t)blockIdx.x * kThreads + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (j >= p.n) return;
    const I *sorted = static_cast<const I *>(p.sorted);
    const int64_t row = (int64_t)sorted[j];
    if (j > 0 && (int64_t)sorted[j - 1] == row) return;
    if (valid_row(p, row) < 0) return;
    const T *psw = static_cast<const T *>(p.psw);
    const T *dout = static_cast<const T *>(p.dout);
    T *dw = static_cast<T *>(p.dweight);
    const int64_t nchunks = (p.dim + 32 * VEC - 1) / (32 * VEC);
    for (int64_t chunk = 0; chunk < nchunks; ++chunk) {
        const int64_t c = (chunk * 32 + lane) * VEC;
        const bool active = c < p.dim;
        float acc[VEC];
#pragma unroll
        for (int v = 0; v < VEC; ++v) acc[v] = 0.f;
        for (int64_t base = j;; base += 32) {
            const int64_t k = base + lane;
            const bool in = k < p.n && (int64_t)sorted[k] == row;
            const unsigned ballot = __ballot_sync(kFull, in);
            const int cnt = __popc(ballot); /* the run is a prefix of these 32 */
            int64_t pos = -1, bag = -1;
            float wt = 0.f;
            if (in) {
                pos = p.perm[k];
                if (pos >= 0 && pos < p.n) bag = p.o2b[pos];
                if (bag >= 0) {
                    wt = psw ? to_float(psw[pos]) : 1.f;
                    if (p.mode == 1) {
                        const int64_t n = p.bag_count[bag];
                        wt = n > 0 ? 1.f / (float)n : 0.f;
                    }
                }
            }
            for (int t = 0; t < cnt; ++t) {
                const int64_t bb = __shfl_sync(kFull, bag, t);
                const int64_t pp = __shfl_sync(kFull, pos, t);
                const float ws = __shfl_sync(kFull, wt, t);
                if (bb < 0 || !active) continue;
                Pack<T, VEC> g = mc::load_pack<T, VEC>(dout + bb * p.dim + c);
#pragma unroll
                for (int v = 0; v < VEC; ++v) {
                    if (p.mode == 2)
                        acc[v] += p.max_pos[bb * p.dim + c + v] == pp ? to_float(g.v[v]) : 0.f;
                    else
                        acc[v] += ws * to_float(g.v[v]);
                }
            }
            if (cnt < 32) break;
        }
        if (!active) continue;
        Pack<T, VEC> o;
#pragma unroll
        for (int v = 0; v < VEC; ++v) o.v[v] = from_float<T>(acc[v]);
        mc::store_pack<T, VEC>(dw + row * p.dim + c, o);
    }
}

/* dpsw[pos] = dot(dout[bag], weight[row]); warp per bag (dpsw zeroed first). */
template <typename T, typename I>
__global__ void __launch_bounds__(kThreads) eb_backward_psw(const EbParams p) {
    const int64_t b = ((int64_t)blockIdx.x * kThreads + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (b >= p.nbags) return;
    int64_t s, e;
    if (!bag_range<I>(p, b, s, e)) return;
    const I *idx = static_cast<const I *>(p.indices);
    const T *w = static_cast<const T *>(p.weight);
    const T *dout = static_cast<const T *>(p.dout);
    for (int64_t pos = s; pos < e; ++pos) {
        const int64_t row = valid_row(p, (int64_t)idx[pos]);
        if (row < 0) continue;
        float dot = 0.f;
        for (int64_t c = lane; c < p.dim; c += 32) dot += to_float(dout[b * p.dim + c]) * to_float(w[row * p.dim + c]);
        dot = mc::warp_sum(dot);
        if (lane == 0) static_cast<T *>(p.dpsw)[pos] = from_float<T>(dot);
    }
}

bool aligned_to(const void *ptr, size_t bytes) { return (reinterpret_cast<uintptr_t>(ptr) % bytes) == 0; }

EbParams make_params(const mc_embedding_bag_args *a) {
    EbParams p;
    p.weight = a->weight;
    p.indices = a->indices;
    p.offsets = a->offsets;
    p.psw = a->psw;
    p.dout = a->dout;
    p.sorted = a->sorted;
    p.perm = a->perm;
    p.out = a->out;
    p.dweight = a->dweight;
    p.dpsw = a->dpsw;
    p.acc = nullptr;
    p.bag_count = a->bag_count;
    p.max_pos = a->max_pos;
    p.errors = a->errors;
    p.o2b = nullptr;
    p.num = a->num;
    p.dim = a->dim;
    p.n = a->n;
    p.nbags = a->nbags;
    p.fixed = a->fixed;
    p.noffsets = a->noffsets;
    p.padding_idx = a->padding_idx;
    p.mode = a->mode;
    return p;
}

/* 16-byte rows: dim a multiple of the vector and every row-addressed buffer aligned. */
template <typename T>
bool vec_ok(const mc_embedding_bag_args *a) {
    constexpr int V = 16 / sizeof(T);
    if (a->dim % V) return false;
    const void *ptrs[] = {a->weight, a->out, a->dout, a->dweight, a->workspace};
    for (const void *q : ptrs)
        if (q && !aligned_to(q, 16)) return false;
    return true;
}

unsigned blocks_for(int64_t threads) { return (unsigned)((threads + kThreads - 1) / kThreads); }

template <typename T, typename I, int VEC>
mc_status forward_vec(const mc_embedding_bag_args *a, const EbParams &p) {
    cudaStream_t s = mc::as_stream(a->stream);
    const unsigned g = blocks_for(a->nbags * 32);
    switch (a->mode) {
    case 0: eb_forward<T, I, VEC, 0><<<g, kThreads, 0, s>>>(p); break;
    case 1: eb_forward<T, I, VEC, 1><<<g, kThreads, 0, s>>>(p); break;
    default: eb_forward<T, I, VEC, 2><<<g, kThreads, 0, s>>>(p); break;
    }
    return mc::check_launch("embedding_bag forward");
}

template <typename T, typename I>
mc_status forward(const mc_embedding_bag_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    EbParams p = make_params(a);
    if (a->errors) cudaMemsetAsync(a->errors, 0, 4 * sizeof(int64_t), s);
    if (a->nbags == 0) return mc::check_launch("embedding_bag forward");
    if ((a->nbags * 32 + kThreads - 1) / kThreads > 0x7fffffff)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: too many bags for one launch");
    if (vec_ok<T>(a)) return forward_vec<T, I, 16 / sizeof(T)>(a, p);
    return forward_vec<T, I, 1>(a, p);
}

template <typename T, typename I, int VEC>
void launch_backward_weight(const mc_embedding_bag_args *a, const EbParams &p, cudaStream_t s) {
    if (p.sorted) {
        eb_backward_sorted<T, I, VEC><<<blocks_for(a->n * 32), kThreads, 0, s>>>(p);
    } else if (a->mode == 2) {
        eb_backward_max_atomic<T, I><<<blocks_for(a->nbags * a->dim), kThreads, 0, s>>>(p);
    } else {
        eb_backward_atomic<T, I, VEC><<<blocks_for(a->nbags * 32), kThreads, 0, s>>>(p);
    }
}

template <typename T, typename I>
mc_status backward(const mc_embedding_bag_args *a) {
    cudaStream_t s = mc::as_stream(a->stream);
    EbParams p = make_params(a);
    constexpr bool is_f32 = sizeof(T) == 4;
    const int64_t total = a->num * a->dim;
    if (a->dpsw) {
        cudaMemsetAsync(a->dpsw, 0, (size_t)a->n * sizeof(T), s);
        if (a->nbags > 0) eb_backward_psw<T, I><<<blocks_for(a->nbags * 32), kThreads, 0, s>>>(p);
    }
    if (a->dweight) {
        cudaMemsetAsync(a->dweight, 0, (size_t)total * sizeof(T), s);
        if (a->sorted) {
            p.o2b = static_cast<int64_t *>(a->workspace);
            if (a->n > 0) {
                cudaMemsetAsync(p.o2b, 0xff, (size_t)a->n * sizeof(int64_t), s);
                if (a->nbags > 0) eb_offset2bag<I><<<blocks_for(a->nbags * 32), kThreads, 0, s>>>(p);
            }
        } else {
            p.acc = is_f32 ? static_cast<float *>(a->dweight) : static_cast<float *>(a->workspace);
            if (!is_f32) cudaMemsetAsync(p.acc, 0, (size_t)total * sizeof(float), s);
        }
        const bool work = p.sorted ? a->n > 0 : a->nbags > 0;
        if (work) {
            if (vec_ok<T>(a))
                launch_backward_weight<T, I, 16 / sizeof(T)>(a, p, s);
            else
                launch_backward_weight<T, I, 1>(a, p, s);
        }
        if (!p.sorted && !is_f32 && total > 0) {
            const int64_t blocks = (total + kThreads - 1) / kThreads < 8192 ? (total + kThreads - 1) / kThreads : 8192;
            cast_from_f32<T><<<(unsigned)blocks, kThreads, 0, s>>>(p.acc, static_cast<T *>(a->dweight), total);
        }
    }
    return mc::check_launch("embedding_bag backward");
}

template <template <typename, typename> class Op>
mc_status dispatch(const mc_embedding_bag_args *a) {
    mc::DeviceGuard guard(a->device);
    if (guard.status()) return guard.status();
    const bool i32 = a->itype == MC_DTYPE_I32;
    switch (a->dtype) {
    case MC_DTYPE_F32: return i32 ? Op<float, int32_t>::run(a) : Op<float, int64_t>::run(a);
    case MC_DTYPE_F16: return i32 ? Op<__half, int32_t>::run(a) : Op<__half, int64_t>::run(a);
    case MC_DTYPE_BF16: return i32 ? Op<__nv_bfloat16, int32_t>::run(a) : Op<__nv_bfloat16, int64_t>::run(a);
    default:
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: %s not supported on CUDA", mc_dtype_name(a->dtype));
    }
}

template <typename T, typename I> struct Fwd {
    static mc_status run(const mc_embedding_bag_args *a) { return forward<T, I>(a); }
};
template <typename T, typename I> struct Bwd {
    static mc_status run(const mc_embedding_bag_args *a) { return backward<T, I>(a); }
};

} // namespace

extern "C" mc_status mc_cuda_embedding_bag_forward(const mc_embedding_bag_args *a) { return dispatch<Fwd>(a); }
extern "C" mc_status mc_cuda_embedding_bag_backward(const mc_embedding_bag_args *a) { return dispatch<Bwd>(a); }

extern "C" size_t mc_cuda_embedding_bag_workspace_size(const mc_embedding_bag_args *a) {
    if (a->sorted) return (size_t)a->n * sizeof(int64_t); /* bag of each position */
    if (a->dtype == MC_DTYPE_F16 || a->dtype == MC_DTYPE_BF16) return (size_t)(a->num * a->dim) * sizeof(float);
    return 0;
}
