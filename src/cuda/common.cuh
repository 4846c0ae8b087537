/* Helpers shared by the CUDA kernels: 16-bit float conversion, vector packs, division by a
 * runtime constant, warp reductions, the device guard and error reporting. */
#ifndef MC_CUDA_COMMON_CUH
#define MC_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>

#include "../core/internal.h"

namespace mc {

template <typename T> __device__ __forceinline__ float to_float(T v);
template <> __device__ __forceinline__ float to_float<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

template <typename T> __device__ __forceinline__ T from_float(float v);
template <> __device__ __forceinline__ float from_float<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

/* VEC elements of T loaded or stored as one aligned access (16 bytes for VEC * sizeof(T) == 16). */
template <typename T, int VEC> struct alignas(sizeof(T) * VEC) Pack {
    T v[VEC];
};

template <typename T, int VEC>
__device__ __forceinline__ Pack<T, VEC> load_pack(const T *p) {
    return *reinterpret_cast<const Pack<T, VEC> *>(p);
}
template <typename T, int VEC>
__device__ __forceinline__ void store_pack(T *p, const Pack<T, VEC> &v) {
    *reinterpret_cast<Pack<T, VEC> *>(p) = v;
}

/* A pack <-> VEC floats. 16-bit types convert two at a time: bf16 in is a shift or a mask of the
 * 32-bit word, out one cvt.rn.bf16x2.f32 (f16: cvt.f32.f16 in, cvt.rn.f16x2.f32 out) per pair,
 * instead of one conversion and a byte permute per element (from bench/harness/swiglu_bw.cu).
 * VEC == 1 (the scalar paths) converts the one element. */
template <int VEC> __device__ __forceinline__ void unpack_floats(const Pack<float, VEC> &p, float (&f)[VEC]) {
#pragma unroll
    for (int j = 0; j < VEC; ++j) f[j] = p.v[j];
}
template <int VEC> __device__ __forceinline__ void unpack_floats(const Pack<__nv_bfloat16, VEC> &p, float (&f)[VEC]) {
    if constexpr (VEC == 1) {
        f[0] = to_float(p.v[0]);
    } else {
        static_assert(VEC % 2 == 0, "bf16 packs hold pairs");
#pragma unroll
        for (int j = 0; j < VEC; j += 2) {
            uint32_t w;
            memcpy(&w, &p.v[j], 4);
            f[j] = __uint_as_float(w << 16);
            f[j + 1] = __uint_as_float(w & 0xffff0000u);
        }
    }
}
template <int VEC> __device__ __forceinline__ void unpack_floats(const Pack<__half, VEC> &p, float (&f)[VEC]) {
    if constexpr (VEC == 1) {
        f[0] = to_float(p.v[0]);
    } else {
        static_assert(VEC % 2 == 0, "f16 packs hold pairs");
#pragma unroll
        for (int j = 0; j < VEC; j += 2) {
            __half2 h;
            memcpy(&h, &p.v[j], 4);
            const float2 v = __half22float2(h);
            f[j] = v.x;
            f[j + 1] = v.y;
        }
    }
}
template <typename T, int VEC> __device__ __forceinline__ Pack<T, VEC> pack_floats(const float (&f)[VEC]) {
    Pack<T, VEC> p;
    if constexpr (sizeof(T) == 4) {
#pragma unroll
        for (int j = 0; j < VEC; ++j) p.v[j] = f[j];
    } else if constexpr (VEC == 1) {
        p.v[0] = from_float<T>(f[0]);
    } else {
        static_assert(VEC % 2 == 0, "16-bit packs hold pairs");
#pragma unroll
        for (int j = 0; j < VEC; j += 2) {
            if constexpr (std::is_same_v<T, __nv_bfloat16>) {
                const __nv_bfloat162 h = __floats2bfloat162_rn(f[j], f[j + 1]);
                memcpy(&p.v[j], &h, 4);
            } else {
                const __half2 h = __floats2half2_rn(f[j], f[j + 1]);
                memcpy(&p.v[j], &h, 4);
            }
        }
    }
    return p;
}

/* q = p / d for a runtime divisor 1 <= d < 2^31 and dividends p < 2^31, as a multiply-high and a
 * shift instead of the integer-division sequence (CUTLASS's FastDivmod; Triton gets the same from
 * compile-time divisors). With l = ceil(log2 d) and mul = ceil(2^(31+l) / d) < 2^32,
 * q = umulhi(p, mul) >> (l - 1) = floor(p * mul / 2^(31+l)), exact because
 * p * (mul * d - 2^(31+l)) < 2^31 * d <= 2^(31+l). d == 1 is mul == 0 (q = p). Callers keep their
 * dividends below 2^31 (split the launch). From bench/harness/swiglu_bw.cu. */
struct FastDiv {
    uint32_t d, mul, shr;
    static FastDiv make(uint32_t d) {
        FastDiv f = {d, 0, 0};
        if (d > 1) {
            uint32_t l = 0;
            while ((1ull << l) < d) ++l;
            f.mul = (uint32_t)(((1ull << (31 + l)) + d - 1) / d);
            f.shr = l - 1;
        }
        return f;
    }
    __device__ __forceinline__ uint32_t div(uint32_t p) const { return mul ? __umulhi(p, mul) >> shr : p; }
};

/* A divisor for a kernel built in two index widths from one source (rope.cu): div<false> is
 * FastDiv's multiply-high on 32-bit indices (its range: d and dividends below 2^31), div<true> a
 * plain 64-bit division by d. A d of 2^31 or more leaves the multiply-high unset (q = p): callers
 * take the 32-bit kernel only when the thread count, and so every extent it is a product of,
 * is below 2^31 (where an extent is that large, another is 0 and no thread runs). */
struct IndexDiv {
    int64_t d;
    FastDiv f;
    static IndexDiv make(int64_t d) {
        return {d, d >= 0 && d <= INT32_MAX ? FastDiv::make((uint32_t)d) : FastDiv{0, 0, 0}};
    }
    template <bool BIG, typename U> __device__ __forceinline__ U div(U p) const {
        static_assert(std::is_same_v<U, std::conditional_t<BIG, uint64_t, uint32_t>>, "32-bit or 64-bit index");
        if constexpr (BIG) return p / (U)d;
        else return f.div(p);
    }
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* ---- row reductions for the "row in registers" kernels (rmsnorm, softmax) -------------------
 * A block is (TPR, rows per block): the TPR threads with one threadIdx.y own one row. All threads
 * of the block must call these (they may __syncthreads). red: rows_per_block * 32 floats; a
 * kernel that reduces twice in a row alternates between two such buffers. */
__device__ __forceinline__ float row_sum(float v, float *red) {
    v = warp_sum(v);
    const int tpr = blockDim.x;
    if (tpr == 32) return v;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) red[threadIdx.y * 32 + warp] = v;
    __syncthreads();
    float s = 0.f;
    for (int i = 0; i < tpr / 32; ++i) s += red[threadIdx.y * 32 + i];
    return s;
}

__device__ __forceinline__ float row_max(float v, float *red) {
    v = warp_max(v);
    const int tpr = blockDim.x;
    if (tpr == 32) return v;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) red[threadIdx.y * 32 + warp] = v;
    __syncthreads();
    float m = red[threadIdx.y * 32];
    for (int i = 1; i < tpr / 32; ++i) m = fmaxf(m, red[threadIdx.y * 32 + i]);
    return m;
}

/* Shape of a "row in registers" launch for rows of n elements in 16-byte vectors of `vec`
 * elements: TPR threads per row (32..1024, grown until each holds at most 4 vectors), NV vectors
 * per thread (1, 2, 4 or 8), rows per block filling `block_threads`. ok is false when n is not a
 * multiple of vec or the row does not fit 8 vectors x 1024 threads. */
struct RowRegShape {
    bool ok;
    int tpr, nv, rpb;
};
inline RowRegShape row_reg_shape(int64_t n, int vec, int block_threads, int vpt = 4) {
    RowRegShape c = {false, 0, 0, 0};
    if (n < 1 || n % vec != 0 || n > (int64_t)block_threads * 8 * vec) return c;
    const int nvec = (int)(n / vec);
    int tpr = 32; /* never more threads per row than a block has */
    while (tpr < block_threads && tpr * vpt < nvec) tpr *= 2;
    int nv = 1;
    while (nv * tpr < nvec) nv *= 2;
    c.ok = nv <= 8;
    c.tpr = tpr;
    c.nv = nv;
    c.rpb = tpr >= block_threads ? 1 : block_threads / tpr;
    return c;
}

/* A device attribute, read once per device (the query is slow on some drivers); fallback where the
 * query fails or the device index is past the cache. Only the attributes below are cached. */
inline int cached_attr(int device, cudaDeviceAttr attr, int fallback) {
    static const cudaDeviceAttr kAttrs[] = {cudaDevAttrMultiProcessorCount, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                            cudaDevAttrComputeCapabilityMajor};
    constexpr int kSlots = sizeof(kAttrs) / sizeof(kAttrs[0]), kDevices = 64;
    static std::atomic<int> cache[kSlots][kDevices]; /* 0: not read yet */
    int slot = 0;
    while (slot < kSlots && kAttrs[slot] != attr) ++slot;
    if (slot == kSlots || device < 0 || device >= kDevices) return fallback;
    int v = cache[slot][device].load(std::memory_order_relaxed);
    if (v == 0) {
        if (cudaDeviceGetAttribute(&v, attr, device) != cudaSuccess || v <= 0) {
            cudaGetLastError();
            v = fallback;
        }
        cache[slot][device].store(v, std::memory_order_relaxed);
    }
    return v;
}

/* Multiprocessor count (1 when unknown). */
inline int sm_count(int device) { return cached_attr(device, cudaDevAttrMultiProcessorCount, 1); }

/* Largest dynamic shared memory a block may opt into (48 KB when unknown). */
inline size_t max_dyn_smem(int device) {
    return (size_t)cached_attr(device, cudaDevAttrMaxSharedMemoryPerBlockOptin, 48 * 1024);
}

/* Compute capability major (-1 when unknown: treated as old). */
inline int cc_major(int device) { return cached_attr(device, cudaDevAttrComputeCapabilityMajor, -1); }

/* Lets kernel launch with dyn bytes of dynamic shared memory on the current device. Past the
 * 48 KB default the opt-in attribute must be set, and that default also counts the kernel's
 * static shared memory (a few hundred bytes in ours), so the test leaves 4 KB for it:
 * eigh_tridiag's K3 at fp32 n = 112 asked for 48944 dynamic bytes, under 48 KB, and failed to
 * launch with its 384 static bytes. The attribute is per kernel and device: it is set once per
 * size it has to grow to, not on every call. */
template <typename K> inline cudaError_t allow_smem(K *kernel, size_t dyn) {
    if (dyn + 4096 <= 48 * 1024) return cudaSuccess;
    int dev = 0;
    cudaError_t e = cudaGetDevice(&dev);
    if (e != cudaSuccess) return e;
    static std::mutex mu;
    static std::map<std::pair<const void *, int>, size_t> set;
    const std::lock_guard<std::mutex> lock(mu);
    size_t &have = set[{reinterpret_cast<const void *>(kernel), dev}];
    if (have >= dyn) return cudaSuccess;
    e = cudaFuncSetAttribute(reinterpret_cast<const void *>(kernel), cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)dyn);
    if (e == cudaSuccess) have = dyn;
    return e;
}

/* Programmatic dependent launch (sm_90+): a kernel started by launch_dependent may be scheduled
 * while the kernel before it on the stream is still finishing (after that one's pdl_trigger, or
 * as its blocks exit), which hides the launch gap; it must call pdl_wait() before touching what
 * the earlier kernel writes (pdl_wait returns once that grid has completed and its memory is
 * visible; at once in a kernel launched the ordinary way). Elsewhere both are no-ops and the
 * launch is an ordinary one. (CUDA programming guide, "Programmatic Dependent Launch".) */
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
inline bool pdl_supported() {
    int dev = 0;
    return cudaGetDevice(&dev) == cudaSuccess && cc_major(dev) >= 9;
}
/* A kernel launch on stream, with the programmatic-dependent attribute where the current device
 * supports it (the kernel must call pdl_wait() before touching what earlier work wrote). */
template <typename... KArgs, typename... Args>
cudaError_t launch_dependent(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                             Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl_supported() ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, args...);
}

/* Makes the tensors' device current for the duration of a launch and restores the caller's
 * device afterwards (torch keeps its own notion of the current device in the same runtime
 * state). Check ok() after construction. */
class DeviceGuard {
  public:
    explicit DeviceGuard(int device);
    ~DeviceGuard();
    mc_status status() const { return status_; }

  private:
    int previous_ = -1;
    mc_status status_ = MC_STATUS_SUCCESS;
};

/* MC_STATUS_SUCCESS, or MC_STATUS_CUDA_ERROR with the message of the last launch error. */
mc_status check_launch(const char *what);
/* The status for an error a launcher already took from cudaGetLastError. */
mc_status launch_status(cudaError_t e, const char *what);

inline bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

inline cudaStream_t as_stream(mc_stream_t s) { return static_cast<cudaStream_t>(s); }

} // namespace mc

#endif
