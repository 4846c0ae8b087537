// Harness-only long-row softmax forward (bench/harness/softmax_rows.cu includes it after
// src/cuda/softmax.cu and uses the library's row_walk / row_total / row_done / finish_inv, so the
// numerics are the library's cluster kernel's): a row is owned by a cluster of C blocks (C = 1 is
// a cluster of one), and each block's slice of the row lives in REGISTERS, 8 16-byte vectors per
// thread: fp32 as floats (overwritten by their exps), bf16 / fp16 as the RAW 16-bit values (64
// elements in 32 registers), converted and exponentiated twice (sum pass and write pass, the same
// __expf of the same argument, so the same value). The library's forward took this layout over
// (softmax_fwd_rows, NV = 8, H100 run 4: bf16 128 x 131072 49.5 -> 37.6 us). The kernel is kept
// as it was measured, named LC<C>T<threads>, and timed next to the library's kernel forced to the
// same (C, TPR), to tell layout from code generation (fp32 64 x 131072 at C = 16, TPR = 256:
// 34.9 us here, 37.6 us through the library in run 4). Do not "simplify" it: a copy without the
// shared-memory loops below spills in the 16-bit instantiations (64 registers, ~140-250 bytes).
// It could also hold part of each row in DYNAMIC SHARED MEMORY (sv 16-byte vectors per thread,
// filled by cp.async) so a whole batch is resident in fewer waves: slower in every case measured
// (H100 run 4: bf16 128 x 131072 54-90 us against 37.6 us registers only; fp32 no better), so
// long_plan no longer plans a shared part (sv is always 0; the code paths stay, unused).
//
// Layout of block rank r's slice [col0, col0 + span), span = TPR * (8 + sv) * VEC, col0 = r span:
//   registers: vector i (< 8) of thread t at col0 + (i TPR + t) VEC
//   shared:    vector k (< sv) of thread t at col0 + (8 TPR + k TPR + t) VEC, stored at smem
//              element (k TPR + t) VEC, copied with cp.async and read back only by the thread that
//              copied it (cp.async.wait_all makes a thread's own copies visible to it).
// Numerics: as softmax_fwd_rows: per-warp max m (NaN dropped by fmaxf, caught by the sum), exps
// relative to mu = (m == -inf ? 0 : m), per-warp (m, s) merged over the block and the cluster
// (MsMerge through distributed shared memory), y = exp(x - mu) * exp(m - M) * finish_inv(M, S):
// an all -inf row gives 0 * (1 / 0) = NaN, +inf or NaN anywhere gives NaN.
// Requirements (checked by the host launcher): n % VEC == 0, x and y 16-byte aligned,
// C * span >= n, dynamic shared memory <= the opt-in limit.
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

namespace longrow {

using mc::Pack;

constexpr int kNV = 8;         /* 16-byte vectors per thread in registers (32 registers of data) */
constexpr int kMaxThreads = 1024; /* one instantiation per dtype: 64 registers per thread at most */

__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

/* An opaque copy of a pack: the write pass's exps of the raw 16-bit registers must be computed
 * again, not kept from the sum pass (the compiler would otherwise keep 64 floats live and spill). */
template <typename T, int VEC> __device__ __forceinline__ Pack<T, VEC> launder(const Pack<T, VEC> &p) {
    static_assert(sizeof(Pack<T, VEC>) == 16, "16-byte packs");
    uint32_t w[4];
    memcpy(w, &p, 16);
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("mov.b32 %0, %0;\n" : "+r"(w[j]));
    Pack<T, VEC> q;
    memcpy(&q, w, 16);
    return q;
}

template <typename T> __device__ __forceinline__ Pack<T, 16 / sizeof(T)> neg_inf_pack() {
    constexpr int VEC = 16 / sizeof(T);
    Pack<T, VEC> p;
#pragma unroll
    for (int j = 0; j < VEC; ++j) p.v[j] = mc::from_float<T>(-INFINITY);
    return p;
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads, 1)
    softmax_fwd_long(const T *x, T *y, int64_t rows, int n, int csize, int sv) {
    constexpr int VEC = 16 / sizeof(T);
    constexpr bool RAW = sizeof(T) != 4; /* 16-bit: registers hold the raw values */
    extern __shared__ __align__(16) unsigned char long_dsm[];
    __shared__ float2 wpart[32];
    __shared__ float2 cpart;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    __trap(); /* clusters only; the host never launches this before sm_90 */
#endif
    T *sbuf = reinterpret_cast<T *>(long_dsm);
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int reg_span = kNV * tpr * VEC;
    const RowWalk w = row_walk<true>(csize, tpr * (kNV + sv) * VEC);
    const int csm0 = w.col0 + reg_span; /* first column of the shared part */
    for (int64_t row = w.first; row < rows; row += w.stride) {
        const T *xr = x + row * (int64_t)n;
        T *yr = y + row * (int64_t)n;
        /* 1. the shared part: every copy in flight at once */
        for (int k = 0; k < sv; ++k) {
            const int e = (k * tpr + tid) * VEC;
            if (csm0 + e < n) cp_async16(sbuf + e, xr + csm0 + e);
        }
        /* 2. the register part */
        float m = -INFINITY;
        Pack<T, VEC> p[RAW ? kNV : 1];
        float v[RAW ? 1 : kNV][VEC];
#pragma unroll
        for (int i = 0; i < kNV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            Pack<T, VEC> q = col < n ? mc::load_pack<T, VEC>(xr + col) : neg_inf_pack<T>();
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
        }
        /* 3. the shared part's max, once this thread's copies have landed */
        cp_async_wait_all();
#pragma unroll 4
        for (int k = 0; k < sv; ++k) {
            const int e = (k * tpr + tid) * VEC;
            if (csm0 + e < n) {
                float f[VEC];
                mc::unpack_floats<VEC>(mc::load_pack<T, VEC>(sbuf + e), f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) m = fmaxf(m, f[j]);
            }
        }
        m = mc::warp_max(m);
        const float mu = m == -INFINITY ? 0.f : m;
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < kNV; ++i) {
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
#pragma unroll 4
        for (int k = 0; k < sv; ++k) {
            const int e = (k * tpr + tid) * VEC;
            if (csm0 + e < n) {
                float f[VEC];
                mc::unpack_floats<VEC>(mc::load_pack<T, VEC>(sbuf + e), f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) s += __expf(f[j] - mu);
            }
        }
        s = mc::warp_sum(s);
        const float2 tot = row_total<true>(make_float2(m, s), wpart, &cpart, csize, make_float2(-INFINITY, 0.f), MsMerge());
        const float scale = (m == -INFINITY ? 0.f : __expf(m - tot.x)) * finish_inv(tot.x, tot.y);
#pragma unroll
        for (int i = 0; i < kNV; ++i) {
            const int col = w.col0 + (i * tpr + tid) * VEC;
            if (col < n) {
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
#pragma unroll 4
        for (int k = 0; k < sv; ++k) {
            const int e = (k * tpr + tid) * VEC;
            if (csm0 + e < n) {
                float o[VEC];
                mc::unpack_floats<VEC>(mc::load_pack<T, VEC>(sbuf + e), o);
#pragma unroll
                for (int j = 0; j < VEC; ++j) o[j] = __expf(o[j] - mu) * scale;
                mc::store_pack<T, VEC>(yr + csm0 + e, mc::pack_floats<T, VEC>(o));
            }
        }
        /* waits on the cluster barrier row_total arrived on: no block rewrites cpart (next row) or
         * exits while another still reads it; also orders this thread's shared reads above before
         * the next row's cp.async into the same slots */
        row_done<true>();
    }
    /* conservative: one more full cluster barrier before any block of the cluster exits */
    cooperative_groups::this_cluster().sync();
}

/* ---- host side ------------------------------------------------------------------------------ */

struct LongPlan {
    int csize = 0, tpr = 0, sv = 0; /* blocks per row (cluster), threads per block, shared vectors per thread */
};

constexpr int kMaxDynSmem = 227 * 1024 - 1024; /* the sm_90 opt-in limit (232448) less the static part, rounded */

inline size_t long_smem_bytes(const LongPlan &p) { return (size_t)p.tpr * p.sv * 16; }

/* The plan for (n, element size, C, TPR): registers only (sv = 0); sv = -1 where they do not
 * cover the row or n is not a multiple of the vector. */
inline LongPlan long_plan(int64_t n, int es, int csize, int tpr) {
    LongPlan p;
    p.csize = csize;
    p.tpr = tpr;
    const int vec = 16 / es;
    p.sv = n % vec == 0 && n <= 0x7fffffff / 2 && (int64_t)csize * tpr * kNV * vec >= n ? 0 : -1;
    return p;
}

template <typename T> const void *long_kernel() { return reinterpret_cast<const void *>(&softmax_fwd_long<T>); }

/* Opt-in attributes for this launch's shared memory and cluster size; set once per kernel to the
 * largest size asked so far (no host calls in the timed loop after the first). Single-threaded
 * harness: no lock. */
inline cudaError_t long_attrs(const void *k, const LongPlan &p) {
    struct Set {
        const void *k;
        int smem;
        bool nonportable;
    };
    static Set set[8];
    static int nset = 0;
    Set *st = nullptr;
    for (int i = 0; i < nset; ++i)
        if (set[i].k == k) st = &set[i];
    if (!st) {
        if (nset == 8) return cudaErrorInvalidValue;
        set[nset] = {k, -1, false};
        st = &set[nset++];
    }
    cudaError_t e = cudaSuccess;
    const int want = (int)long_smem_bytes(p);
    if (want > st->smem) {
        e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, want);
        if (e == cudaSuccess) st->smem = want;
    }
    if (e == cudaSuccess && p.csize > 8 && !st->nonportable) {
        e = cudaFuncSetAttribute(k, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
        if (e == cudaSuccess) st->nonportable = true;
    }
    return e;
}

inline cudaLaunchConfig_t long_cfg(const LongPlan &p, unsigned grid, cudaLaunchAttribute *attr, cudaStream_t s) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(grid);
    cfg.blockDim = dim3((unsigned)p.tpr);
    cfg.dynamicSmemBytes = long_smem_bytes(p);
    cfg.stream = s;
    attr->id = cudaLaunchAttributeClusterDimension;
    attr->val.clusterDim.x = (unsigned)p.csize;
    attr->val.clusterDim.y = 1;
    attr->val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = 1;
    return cfg;
}

/* Occupancy of a plan: clusters resident at once (0 if it cannot run) and blocks per SM. */
inline void long_occupancy(const void *k, const LongPlan &p, int *clusters, int *blocks_per_sm) {
    *clusters = 0;
    *blocks_per_sm = 0;
    if (p.sv < 0 || long_attrs(k, p) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = long_cfg(p, (unsigned)p.csize * 64u, &attr, nullptr);
    if (cudaOccupancyMaxActiveClusters(clusters, k, &cfg) != cudaSuccess) *clusters = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(blocks_per_sm, k, p.tpr, long_smem_bytes(p)) != cudaSuccess)
        *blocks_per_sm = 0;
    (void)cudaGetLastError();
}

/* Forward through the plan; cudaErrorInvalidValue where the plan or the pointers do not fit. */
template <typename T>
cudaError_t launch_long(const T *x, T *y, int64_t rows, int64_t n, const LongPlan &p, cudaStream_t s) {
    constexpr int VEC = 16 / sizeof(T);
    if (rows <= 0 || n <= 0) return cudaSuccess;
    if (p.sv < 0 || p.csize < 1 || p.csize > 16 || p.tpr < 32 || p.tpr > kMaxThreads || p.tpr % 32 != 0 ||
        n % VEC != 0 || n > 0x7fffffff / 2 || !mc::aligned16(x) || !mc::aligned16(y) ||
        (int64_t)p.csize * p.tpr * (kNV + p.sv) * VEC < n || long_smem_bytes(p) > (size_t)kMaxDynSmem)
        return cudaErrorInvalidValue;
    const void *k = long_kernel<T>();
    cudaError_t e = long_attrs(k, p);
    if (e != cudaSuccess) return e;
    int64_t clusters = rows < 0x7fffffff / p.csize ? rows : 0x7fffffff / p.csize;
    cudaLaunchAttribute attr;
    cudaLaunchConfig_t cfg = long_cfg(p, (unsigned)(clusters * p.csize), &attr, s);
    return cudaLaunchKernelEx(&cfg, softmax_fwd_long<T>, x, y, rows, (int)n, p.csize, p.sv);
}

} // namespace longrow
