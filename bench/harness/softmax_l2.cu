// Standalone experiment harness: does the softmax forward over LONG rows get faster by reading x
// twice, the second read hitting L2, instead of holding the row in registers (the library's cluster
// kernel, src/cuda/softmax.cu, which is #included here and timed in the same run as the baseline)?
// Not part of the library build; compile and run on the device machine in one call (from the
// repository root):
//   nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -Xptxas -v -o /tmp/sl2 bench/harness/softmax_l2.cu 2>&1 | grep -E "registers|spill|error" ; /tmp/sl2
// (or: bash bench/harness/run_all.sh softmax_l2). `/tmp/sl2 key` times only the two key shapes
// (fp32 64 x 131072, bf16 128 x 131072; the correctness groups still run first); `/tmp/sl2 pipe`
// checks and times V3 and V4 (below) against the library and the copy at ten long-row shapes. Exit status 0 only
// if every check passed. Whole run: ~15 s to compile, well under a minute to run (mostly the host
// reference and compares).
//
// Why: at fp32 64 x 131072 the library's cluster kernel (a cluster of up to 16 blocks owns a row,
// the row held in registers, 64 registers a thread) takes ~37 us = 1.94 TB/s on an H100: the 32 MB
// of rows do not fit the register file at once (~30 clusters resident), so 64 rows take 3 waves.
// Target >= 2.3 TB/s (<= 29 us); H100 copy ~2.98 TB/s, L2 50 MB.
// Measured (H100, session 5, bench/results/h100-2026-11-26-s5/run10_*, 339 checks passed): fp32
// 64 x 131072 library 36.6 us, best variant 35.8 (l2c C8 T256 U4 pol rev): no real gain; bf16
// 128 x 131072 library 44.7 us, the same variant 35.8 us (1.50 -> 1.87 TB/s): worth porting for
// 16-bit long rows. The split variants lost everywhere (39.5-44 us).
// Session 8 (bench/results/h100-2026-11-26-s8/run2_*, run3_*: `pipe`, 359 checks passed) added
// two designs that read x once and keep DRAM busy the way a copy does; neither reached the copy:
//   V3 pipe (rows streamed through shared-memory stages by bulk copies, NS rows ahead): fp32
//   64 x 131072 36.2-36.9 us (best T256 NV8 NS2 cs) against the library 37.9-38.1 and the copy of
//   the same bytes 26.5; bf16 128 x 131072 40.1 against 45.3-45.6; bf16 64 x 262144 42.0 against
//   47.6; slower than the library at every shape with more rows (512 x 32768 fp32 60.4 vs 57.6).
//   More stages made it slower, not faster (fewer clusters resident: T512 NV4 NS2/3/4 41.9 / 48.4 /
//   61.1 us at 21 / 14 / 7 clusters): each cluster's row takes several microseconds end to end.
//   V4 grid (the whole 32 MB on chip, 1024-thread blocks one per SM, registers + 184 KB of shared
//   memory, one cooperative grid barrier between the read and the write phase): fp32 64 x 131072
//   43.2 us (NR4; NR8 spills, 50.3), bf16 128 x 131072 47.8: one read phase then one write phase is
//   slower than the library's overlapping waves.
// Every design measured here (library, l2c, split, pipe, grid) lands at 36-43 us for fp32
// 64 x 131072 where the copy takes 26.5: the 2.3 TB/s target (<= 29 us) is not reached.
//
// Kernels (this file's own code; where an idea came from is said at each):
//  l2c    V1, one kernel: grid (C, rows), cluster (C, 1, 1) through cudaLaunchKernelEx (C = 16
//         needs cudaFuncAttributeNonPortableClusterSizeAllowed, set by the library's
//         active_clusters()); block rank r owns the contiguous chunk [r per, (r+1) per) of the row
//         (per = ceil(n / VEC / C) 16-byte vectors, rounded up to 8). Pass 1: 16-byte loads, U
//         independent loads in flight per thread, per-thread online (max, sum of exp) (Milakov &
//         Gimelshein 2018), merged per warp (shuffles), per block and per cluster by the library's
//         row_total<true> (shared memory, then distributed shared memory through
//         cluster.map_shared_rank after cluster.sync(): the library's design, after the CUDA
//         programming guide's DSMEM example). Pass 2 re-reads the same chunk (just read, so it
//         should be in L2) and writes y = exp(x - M) / S. Nothing of the row is kept in
//         registers, so registers stay <= 32 (__launch_bounds__(512, 4); no spills with nvcc
//         13.0): 2048 threads per SM, and all 1024 blocks of 64 x 131072 at C = 16, T = 256 can be
//         resident at once (if cudaOccupancyMaxActiveClusters, printed, says 64 clusters fit).
//         bf16 takes the batch max on the raw bf16 pairs (max.bf16x2, exact, drops NaN as fmaxf):
//         converting to float first spilled 80 bytes at 32 registers.
//         Knobs: C (blocks per row), T (threads per block), U (loads in flight per thread),
//         hint (below), order (fwd: pass 2 walks the chunk as pass 1 did; rev: backwards, the most
//         recently read lines first), g<k> (only k clusters along y, each looping over rows: caps
//         how much of x is live in L2 at once).
//  split  V2, two kernels (the library's split path, reworked): A writes each chunk's (max, sum)
//         to a workspace (float2 per chunk); B merges its row's partials and re-reads its chunk
//         and writes y. A block is one chunk of L bytes; rev: B's blocks run in REVERSE of A's
//         (block b of B takes A's block nb - 1 - b, the most recently read chunks first, for L2
//         hits; within a chunk backwards too). pdl: B launched with programmatic dependent
//         launch (CUDA programming guide, "Programmatic Dependent Launch"): A triggers at its
//         start (griddepcontrol.launch_dependents), B waits (griddepcontrol.wait) before it reads
//         the workspace, so B's blocks are launched and resident as A drains.
// Cache hints (PTX ISA: ld / st cache operators and eviction priorities, createpolicy):
//   def  plain ld.global / st.global in both passes
//   st   stores st.global.cs (streaming, evict-first), loads plain
//   cs   pass-2 loads ld.global.cs (last use, evict-first), stores st.global.cs
//   na   pass-2 loads ld.global.L1::no_allocate, stores st.global.cs
//   pol  pass-1 loads ld.global.L2::cache_hint with a createpolicy evict_last policy (keep x in
//        L2), pass-2 loads and the stores L1::no_allocate + L2::cache_hint with an evict_first
//        policy (sm_90 has no .L2::evict_* qualifier on 16-byte accesses, only policies)
// exp: __expf(x - m) as the library (x - m is exact near the max; the one-FFMA form
// ex2(x log2e - m log2e) rounds m log2e: ~4e-5 relative error for rows whose max is near -1000).
// Non-finite values as torch and the library (a row of all -inf, or holding +inf or NaN, is NaN):
// -inf adds nothing; exps relative to 0 while the running max is -inf; NaN poisons the sum;
// M = +inf gives finish_inv = NaN; an all -inf row gives exp(-inf + inf) = NaN.
//
// Checks (before any variant is timed, and each timed variant at the timed shape itself): host
// reference in double, per row max |out - ref| / max |ref| (fp32 1e-5, bf16 8e-3) and the NaN
// pattern exactly; outputs poisoned with NaN first; non-finite rows (10 kinds: all -inf, one +inf,
// one NaN, every other -inf, half the row -inf, ... as softmax_rows.cu) at 20 x 131072 fp32 and
// bf16, and a width that no chunking divides (6 x 100008), for every key-shape variant; non-finite
// rows at 20 x 8200 (fp32, bf16) for the shorter list.
// Timing: harness.h time_ms (events around every call, median of 30 after 5 warm-up calls), input
// sets rotated over >= 160 MB so no call finds its x in L2 from an earlier call; TB/s = (read x +
// write y) / time; a device-to-device memcpy rate (1 GiB) measured in the same run, and a memcpy of
// the same bytes per shape ("copy"). Shapes: fp32 64 x 131072 (key) and bf16 128 x 131072 with
// every variant; fp32 1 x 262144, 256 x 65536, 32 x 262144, 16 x 524288, bf16 256 x 65536 and the
// fp32 sweep at 16M elements (cols 8192 .. 262144) with a shorter list. Each timed line prints the
// registers / local bytes of its kernels (cudaFuncGetAttributes), blocks per SM
// (cudaOccupancyMaxActiveBlocksPerMultiprocessor) and, for l2c, the clusters that can be resident
// (cudaOccupancyMaxActiveClusters) and the waves the rows take.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../../src/cuda/runtime.cu"
#include "../../src/cuda/softmax.cu" /* the library forward (baseline), ms_merge, row_total, ... */

#include "harness.h" /* CK(), time_ms() */

#include "core_stubs.h"   /* mc_fail, mc_dtype_size, mc_dtype_name */
#include "softmax_host.h" /* Dt, Rng, the non-finite rows, tol_of, DevBuf, make_args */

namespace l2x {

using mc::Pack;

/* ---- cache-hinted 16-byte accesses -------------------------------------------------------------- */

enum Ld { kLdDef, kLdCs, kLdNa, kLdPolLast, kLdPolFirst };
enum St { kStDef, kStCs, kStPolFirst };

/* hint H: 0 def, 1 st, 2 cs, 3 na, 4 pol (see the top of the file) */
constexpr int kHints = 5;
static const char *const kHintName[kHints] = {"def", "st", "cs", "na", "pol"};
__host__ __device__ constexpr Ld p1_of(int h) { return h == 4 ? kLdPolLast : kLdDef; }
__host__ __device__ constexpr Ld p2_of(int h) { return h == 2 ? kLdCs : h == 3 ? kLdNa : h == 4 ? kLdPolFirst : kLdDef; }
__host__ __device__ constexpr St st_of(int h) { return h == 0 ? kStDef : h == 4 ? kStPolFirst : kStCs; }

template <Ld K> __device__ __forceinline__ uint64_t ld_policy() {
    uint64_t p = 0;
    if constexpr (K == kLdPolLast) asm("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;" : "=l"(p));
    else if constexpr (K == kLdPolFirst) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
    return p;
}
template <St K> __device__ __forceinline__ uint64_t st_policy() {
    uint64_t p = 0;
    if constexpr (K == kStPolFirst) asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(p));
    return p;
}

/* volatile: two loads of the same address (pass 1, pass 2) must stay two loads */
template <Ld K> __device__ __forceinline__ uint4 ld16(const uint4 *p, uint64_t pol) {
    uint4 v;
    if constexpr (K == kLdDef)
        asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    else if constexpr (K == kLdCs)
        asm volatile("ld.global.cs.v4.u32 {%0,%1,%2,%3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    else if constexpr (K == kLdNa)
        asm volatile("ld.global.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    else if constexpr (K == kLdPolLast)
        asm volatile("ld.global.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p), "l"(pol));
    else
        asm volatile("ld.global.L1::no_allocate.L2::cache_hint.v4.u32 {%0,%1,%2,%3}, [%4], %5;"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p), "l"(pol));
    (void)pol;
    return v;
}

template <St K> __device__ __forceinline__ void st16(uint4 *p, const uint4 &v, uint64_t pol) {
    if constexpr (K == kStDef)
        asm volatile("st.global.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w));
    else if constexpr (K == kStCs)
        asm volatile("st.global.cs.v4.u32 [%0], {%1,%2,%3,%4};" ::"l"(p), "r"(v.x), "r"(v.y), "r"(v.z), "r"(v.w));
    else
        asm volatile("st.global.L1::no_allocate.L2::cache_hint.v4.u32 [%0], {%1,%2,%3,%4}, %5;" ::"l"(p), "r"(v.x),
                     "r"(v.y), "r"(v.z), "r"(v.w), "l"(pol));
    (void)pol;
}

/* ---- numerics --------------------------------------------------------------------------------- */

template <typename T> __device__ __forceinline__ void unpack16(const uint4 &q, float (&f)[16 / sizeof(T)]) {
    Pack<T, 16 / sizeof(T)> p;
    memcpy(&p, &q, 16);
    mc::unpack_floats<16 / sizeof(T)>(p, f);
}
template <typename T> __device__ __forceinline__ uint4 pack16(const float (&f)[16 / sizeof(T)]) {
    const Pack<T, 16 / sizeof(T)> p = mc::pack_floats<T, 16 / sizeof(T)>(f);
    uint4 q;
    memcpy(&q, &p, 16);
    return q;
}
/* 16 bytes of -inf (exp 0: past the chunk's end) */
template <typename T> __device__ __forceinline__ uint4 ninf16() {
    const uint32_t w = sizeof(T) == 4 ? 0xff800000u : std::is_same_v<T, __half> ? 0xfc00fc00u : 0xff80ff80u;
    return make_uint4(w, w, w, w);
}

/* (m, s) merged over the warp; every lane gets the result (row_total takes lane 0's) */
__device__ __forceinline__ float2 warp_ms(float2 a) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, a.x, o), s2 = __shfl_xor_sync(0xffffffffu, a.y, o);
        ms_merge(a.x, a.y, m2, s2);
    }
    return a;
}

/* Pass 1 over one chunk: this thread's vectors first + k step + u nt (k < nb, u < U, below v1) of
 * the row xr; U loads in flight, then the batch's max and the online (max, sum of exp) update (one
 * rescale per batch). Exps are relative to 0 while the max is -inf (so an all -inf part sums to
 * 0, NaN if it holds a NaN), fmaxf drops NaN (the sum catches it). */
template <typename T, int U, Ld P1>
__device__ __forceinline__ float2 chunk_stats(const uint4 *xr, int first, int v1, int nb, int step, int nt) {
    constexpr int VEC = 16 / sizeof(T);
    const uint64_t pol = ld_policy<P1>();
    float m = -INFINITY, s = 0.f;
    for (int k = 0; k < nb; ++k) {
        const int b = first + k * step;
        uint4 q[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int i = b + u * nt;
            if (i < v1) q[u] = ld16<P1>(xr + i, pol);
            else q[u] = ninf16<T>();
        }
        float bm = -INFINITY;
        if constexpr (std::is_same_v<T, __nv_bfloat16>) {
            /* bf16: the max on the raw pairs (max.bf16x2 drops NaN as fmaxf does; exact). Converting
             * first spills at 32 registers (80 bytes at U = 4). */
            __nv_bfloat162 h = __floats2bfloat162_rn(-INFINITY, -INFINITY);
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const uint32_t w[4] = {q[u].x, q[u].y, q[u].z, q[u].w};
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    __nv_bfloat162 g;
                    memcpy(&g, &w[j], 4);
                    h = __hmax2(h, g);
                }
            }
            bm = fmaxf(__low2float(h), __high2float(h));
        } else {
#pragma unroll
            for (int u = 0; u < U; ++u) {
                float f[VEC];
                unpack16<T>(q[u], f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) bm = fmaxf(bm, f[j]);
            }
        }
        const float nm = fmaxf(m, bm), mu = nm == -INFINITY ? 0.f : nm;
        s = rescale(s, m, mu);
#pragma unroll
        for (int u = 0; u < U; ++u) {
            float f[VEC];
            unpack16<T>(q[u], f);
#pragma unroll
            for (int j = 0; j < VEC; ++j) s += __expf(f[j] - mu);
        }
        m = nm;
    }
    return make_float2(m, s);
}

/* Pass 2 over the same vectors (REV: batches last to first), y = exp(x - M) * finish_inv(M, S):
 * M = -inf (all -inf row) gives exp(-inf + inf) = NaN, M = +inf or S = NaN a NaN inv. */
template <typename T, int U, int H, bool REV>
__device__ __forceinline__ void chunk_write(const uint4 *xr, uint4 *yr, int first, int v1, int nb, int step, int nt,
                                            float2 tot) {
    constexpr int VEC = 16 / sizeof(T);
    constexpr Ld P2 = p2_of(H);
    constexpr St SK = st_of(H);
    const float inv = finish_inv(tot.x, tot.y), M = tot.x;
    const uint64_t pol = ld_policy<P2>(), spol = st_policy<SK>();
    for (int k = 0; k < nb; ++k) {
        const int b = first + (REV ? nb - 1 - k : k) * step;
        uint4 q[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int i = b + u * nt;
            q[u] = i < v1 ? ld16<P2>(xr + i, pol) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const int i = b + u * nt;
            if (i < v1) {
                float f[VEC];
                unpack16<T>(q[u], f);
#pragma unroll
                for (int j = 0; j < VEC; ++j) f[j] = __expf(f[j] - M) * inv;
                st16<SK>(yr + i, pack16<T>(f), spol);
            }
        }
    }
}

/* register budget: 512 threads x 4 blocks = 32 registers (2048 threads per SM) for U <= 4 (no
 * spills, fp32 and bf16, nvcc 13.0); U = 8 64 (1024 threads per SM; fp32 uses 56, bf16 64) */
constexpr int min_blocks(int u) { return u <= 4 ? 4 : 2; }

/* ---- V1: l2c, one cluster of C blocks per row, x read twice ---------------------------------------- */

/* grid (C, row slots), cluster (C, 1, 1); rows beyond gridDim.y loop (uniform over the cluster) */
template <typename T, int U, int H, bool REV>
__global__ void __launch_bounds__(512, min_blocks(U)) l2c_fwd(const T *x, T *y, int64_t rows, int nvec, int per) {
    __shared__ float2 wpart[32];
    __shared__ float2 cpart;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    __trap();
#endif
    const int nt = blockDim.x, step = nt * U;
    const int v0 = (int)blockIdx.x * per, v1 = min(nvec, v0 + per);
    const int nb = v1 > v0 ? (v1 - v0 + step - 1) / step : 0;
    const int first = v0 + (int)threadIdx.x;
    for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
        const uint4 *xr = reinterpret_cast<const uint4 *>(x) + row * nvec;
        uint4 *yr = reinterpret_cast<uint4 *>(y) + row * nvec;
        const float2 ms = warp_ms(chunk_stats<T, U, p1_of(H)>(xr, first, v1, nb, step, nt));
        const float2 tot = row_total<true>(ms, wpart, &cpart, (int)gridDim.x, make_float2(-INFINITY, 0.f), MsMerge());
        chunk_write<T, U, H, REV>(xr, yr, first, v1, nb, step, nt, tot);
        row_done<true>(); /* no block rewrites cpart or exits while another reads it */
    }
}

/* ---- V2: split, A per-chunk (max, sum) -> workspace, B merges and writes (blocks reversed) ------- */

/* one block per chunk of L vectors, block b = (row, chunk) row-major */
template <typename T, int U, Ld P1>
__global__ void __launch_bounds__(512, min_blocks(U)) split_stats(const T *x, float2 *ws, int nvec, int L, int chunks) {
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); /* no-op unless B is a PDL launch */
    __shared__ float2 wpart[32];
    const unsigned b = blockIdx.x, row = b / (unsigned)chunks; /* blocks < 2^31 (host) */
    const int nt = blockDim.x, step = nt * U, v0 = (int)(b - row * chunks) * L, v1 = min(nvec, v0 + L);
    const int nb = (v1 - v0 + step - 1) / step;
    const uint4 *xr = reinterpret_cast<const uint4 *>(x) + (int64_t)row * nvec;
    float2 ms = warp_ms(chunk_stats<T, U, P1>(xr, v0 + (int)threadIdx.x, v1, nb, step, nt));
    ms = row_total<false>(ms, wpart, nullptr, 1, make_float2(-INFINITY, 0.f), MsMerge());
    if (threadIdx.x == 0) ws[blockIdx.x] = ms;
}

template <typename T, int U, int H, bool REV>
__global__ void __launch_bounds__(512, min_blocks(U))
    split_write(const T *x, T *y, const float2 *ws, int nvec, int L, int chunks, int nblocks) {
    __shared__ float2 wpart[32];
    const unsigned b = REV ? (unsigned)nblocks - 1u - blockIdx.x : blockIdx.x, row = b / (unsigned)chunks;
    const int nt = blockDim.x, step = nt * U, v0 = (int)(b - row * chunks) * L, v1 = min(nvec, v0 + L);
    const int nb = (v1 - v0 + step - 1) / step;
    asm volatile("griddepcontrol.wait;" ::: "memory"); /* A complete and flushed (no-op without PDL) */
    float2 ms = make_float2(-INFINITY, 0.f);
    const float2 *wr = ws + (size_t)row * chunks;
    for (int c = threadIdx.x; c < chunks; c += nt) {
        const float2 w = wr[c];
        ms_merge(ms.x, ms.y, w.x, w.y);
    }
    ms = warp_ms(ms);
    const float2 tot = row_total<false>(ms, wpart, nullptr, 1, make_float2(-INFINITY, 0.f), MsMerge());
    chunk_write<T, U, H, REV>(reinterpret_cast<const uint4 *>(x) + (int64_t)row * nvec, reinterpret_cast<uint4 *>(y) + (int64_t)row * nvec,
                              v0 + (int)threadIdx.x, v1, nb, step, nt, tot);
}


/* ---- V3: pipe, each cluster streams its rows through shared memory ------------------------------ */
/* grid (C, G), cluster (C, 1, 1): cluster g takes rows g, g + G, ... (G = the clusters that can be
 * resident, so the grid is one wave); block rank r owns vectors [r per, r per + len) of each row,
 * per = blockDim.x * NV. NS shared-memory stages of per vectors: thread 0 issues one bulk copy
 * (cp.async.bulk, the Hopper TMA engine, completing on the stage's mbarrier) per row and stage, NS
 * rows ahead. Per row: wait for the stage, copy it to registers, release the stage (a block
 * barrier, then the copy of the row NS ahead), reduce (warp, block, cluster: the library's
 * row_total), write y from registers. x is read once and never waits in a register file while a
 * row's reduction runs: the next rows are already in flight, so DRAM sees reads and writes
 * together as in a copy, where V0 (the library: one wave of row-owning clusters at a time)
 * alternates read and write phases. (Bulk copies with an mbarrier transaction count: the PTX ISA,
 * cp.async.bulk and mbarrier.expect_tx; the stage ring is the usual producer/consumer pipeline of
 * Hopper GEMMs, here with one producer thread.) The per-row arithmetic (register layout, raw
 * 16-bit packs past 32 elements, the warp max as mu, the scale) is softmax_fwd_rows' in the library,
 * written again here with loads from the stage: if this design is ever ported, the two should share
 * one helper rather than keep two copies. */
__device__ __forceinline__ uint32_t smem_u32(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_init(uint64_t *b, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t *b, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t *b, uint32_t parity) {
    asm volatile("{\n"
                 ".reg .pred P1;\n"
                 "LAB_WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\n"
                 "@P1 bra.uni DONE;\n"
                 "bra.uni LAB_WAIT;\n"
                 "DONE:\n"
                 "}\n" ::"r"(smem_u32(b)),
                 "r"(parity)
                 : "memory");
}
__device__ __forceinline__ void bulk_g2s(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(smem_u32(dst)),
                 "l"(src), "r"(bytes), "r"(smem_u32(bar))
                 : "memory");
}

template <typename T, int NV, int NS, int H>
__global__ void __launch_bounds__(1024, 1) pipe_fwd(const T *x, T *y, int64_t rows, int nvec, int per) {
    constexpr int VEC = 16 / sizeof(T);
    constexpr bool RAW = NV * VEC > 32; /* as the library: more than 32 elements stay raw 16-bit */
    extern __shared__ __align__(128) uint4 stage[]; /* NS x per vectors */
    __shared__ uint64_t full[NS];
    __shared__ float2 wpart[32];
    __shared__ float2 cpart;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    __trap();
#endif
    const int tid = threadIdx.x, nt = blockDim.x;
    const int64_t G = gridDim.y, v0 = (int64_t)blockIdx.x * per;
    const int64_t left = (int64_t)nvec - v0;
    const int len = left <= 0 ? 0 : left < per ? (int)left : per;
    const uint32_t bytes = (uint32_t)len * 16u;
    const uint4 *xv = reinterpret_cast<const uint4 *>(x) + v0;
    uint4 *yv = reinterpret_cast<uint4 *>(y) + v0;
    constexpr St SK = st_of(H);
    const uint64_t spol = st_policy<SK>();
    if (tid == 0) {
        for (int s = 0; s < NS; ++s) mbar_init(&full[s], 1);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        if (bytes)
            for (int s = 0; s < NS; ++s) {
                const int64_t r = blockIdx.y + s * G;
                if (r < rows) {
                    mbar_expect_tx(&full[s], bytes);
                    bulk_g2s(stage + (size_t)s * per, xv + r * nvec, bytes, &full[s]);
                }
            }
    }
    __syncthreads();
    int s = 0;
    uint32_t parity = 0;
    for (int64_t row = blockIdx.y; row < rows; row += G) {
        if (bytes) mbar_wait(&full[s], parity);
        const uint4 *sv = stage + (size_t)s * per;
        Pack<T, VEC> p[RAW ? NV : 1];
        float v[RAW ? 1 : NV][VEC];
        float m = -INFINITY;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int j = i * nt + tid;
            uint4 q = j < len ? sv[j] : ninf16<T>();
            float f[VEC];
            unpack16<T>(q, f);
#pragma unroll
            for (int k = 0; k < VEC; ++k) m = fmaxf(m, f[k]);
            if constexpr (RAW) {
                memcpy(&p[i], &q, 16);
            } else {
#pragma unroll
                for (int k = 0; k < VEC; ++k) v[i][k] = f[k];
            }
        }
        __syncthreads(); /* every thread has its part of the stage: refill it */
        if (tid == 0 && bytes) {
            const int64_t nx = row + NS * G;
            if (nx < rows) {
                asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                mbar_expect_tx(&full[s], bytes);
                bulk_g2s(stage + (size_t)s * per, xv + nx * nvec, bytes, &full[s]);
            }
        }
        if (++s == NS) {
            s = 0;
            parity ^= 1u;
        }
        m = mc::warp_max(m);
        const float mu = m == -INFINITY ? 0.f : m;
        float sum = 0.f;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            if constexpr (RAW) {
                float f[VEC];
                mc::unpack_floats<VEC>(launder(p[i]), f);
#pragma unroll
                for (int k = 0; k < VEC; ++k) sum += __expf(f[k] - mu);
            } else {
#pragma unroll
                for (int k = 0; k < VEC; ++k) {
                    v[i][k] = __expf(v[i][k] - mu);
                    sum += v[i][k];
                }
            }
        }
        sum = mc::warp_sum(sum);
        const float2 tot = row_total<true>(make_float2(m, sum), wpart, &cpart, (int)gridDim.x, make_float2(-INFINITY, 0.f), MsMerge());
        const float scale = (m == -INFINITY ? 0.f : __expf(m - tot.x)) * finish_inv(tot.x, tot.y);
        uint4 *yr = yv + row * nvec;
#pragma unroll
        for (int i = 0; i < NV; ++i) {
            const int j = i * nt + tid;
            if (j < len) {
                float o[VEC];
                if constexpr (RAW) {
                    mc::unpack_floats<VEC>(launder(p[i]), o);
#pragma unroll
                    for (int k = 0; k < VEC; ++k) o[k] = __expf(o[k] - mu) * scale;
                } else {
#pragma unroll
                    for (int k = 0; k < VEC; ++k) o[k] = v[i][k] * scale;
                }
                st16<SK>(yr + j, pack16<T>(o), spol);
            }
        }
        row_done<true>();
    }
}


/* ---- V4: grid, the whole batch on chip at once, one grid barrier --------------------------------- */
/* One block of 1024 threads per SM, cooperative launch. Block b owns the flat vectors [a, e) =
 * [b slice, (b + 1) slice) of x (rows x nvec): the first NR x 1024 in registers (NR a thread), the
 * rest in shared memory (bulk copies on one mbarrier, issued before the register loads so both are
 * in flight). Its slice touches K <= KMAX rows: per row the block's (max, sum of exp) goes to
 * part[b][k]; then one grid barrier (cooperative_groups grid sync); then each block merges the
 * partials of its rows (the blocks of row r are r nvec / slice .. ((r + 1) nvec - 1) / slice) and
 * writes y from registers and shared memory. x is read once, all of it before any y is written:
 * DRAM sees one read phase and one write phase, as a copy of 32 MB would if it had to. Fits where
 * rows x n x size <= SMs x (NR x 16 KB + ~220 KB), ~45 MB on an H100. (Our design; the online
 * (max, sum) merge as in Milakov & Gimelshein 2018.) */
constexpr int kGridK = 4;

template <typename T, int NR>
__global__ void __launch_bounds__(1024, 1) grid_fwd(const T *x, T *y, int64_t nvec, int64_t V, int64_t slice, float2 *part) {
    constexpr int VEC = 16 / sizeof(T);
    extern __shared__ __align__(128) uint4 rest[];
    __shared__ uint64_t bar;
    __shared__ float2 wpart[32];
    __shared__ float2 rowtot[kGridK];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const int64_t a = (int64_t)blockIdx.x * slice;
    const int64_t e = a + slice < V ? a + slice : V;
    const int64_t rs = a + (int64_t)nt * NR; /* the shared-memory part starts here */
    const int64_t nrest = e > rs ? e - rs : 0;
    const uint4 *xv = reinterpret_cast<const uint4 *>(x);
    uint4 *yv = reinterpret_cast<uint4 *>(y);
    if (tid == 0) {
        mbar_init(&bar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
        if (nrest) {
            mbar_expect_tx(&bar, (uint32_t)(nrest * 16));
            for (int64_t off = 0; off < nrest; off += 2048) {
                const int64_t cnt = nrest - off < 2048 ? nrest - off : 2048;
                bulk_g2s(rest + off, xv + rs + off, (uint32_t)(cnt * 16), &bar);
            }
        }
    }
    uint4 q[NR];
#pragma unroll
    for (int i = 0; i < NR; ++i) {
        const int64_t vi = a + i * nt + tid;
        q[i] = vi < e ? xv[vi] : ninf16<T>();
    }
    __syncthreads(); /* bar initialised */
    if (nrest) mbar_wait(&bar, 0);
    const int64_t r0 = a < e ? a / nvec : 0;
    const int K = a < e ? (int)((e - 1) / nvec - r0 + 1) : 0;
    /* f(vector) for each of this thread's vectors of x in [lo, hi): registers, then shared memory */
    auto each = [&](int64_t lo, int64_t hi, auto &&f) {
#pragma unroll
        for (int i = 0; i < NR; ++i) {
            const int64_t vi = a + i * nt + tid;
            if (vi >= lo && vi < hi) f(q[i], vi);
        }
        for (int64_t j = tid; j < nrest; j += nt)
            if (rs + j >= lo && rs + j < hi) f(rest[j], rs + j);
    };
    auto row_lo = [&](int k) { return (r0 + k) * nvec > a ? (r0 + k) * nvec : a; };
    auto row_hi = [&](int k) { return (r0 + k + 1) * nvec < e ? (r0 + k + 1) * nvec : e; };
#pragma unroll
    for (int k = 0; k < kGridK; ++k) {
        if (k >= K) break;
        float m = -INFINITY;
        each(row_lo(k), row_hi(k), [&](const uint4 &v, int64_t) {
            float f[VEC];
            unpack16<T>(v, f);
#pragma unroll
            for (int j = 0; j < VEC; ++j) m = fmaxf(m, f[j]);
        });
        m = mc::warp_max(m);
        const float mu = m == -INFINITY ? 0.f : m;
        float s = 0.f;
        each(row_lo(k), row_hi(k), [&](const uint4 &v, int64_t) {
            float f[VEC];
            unpack16<T>(v, f);
#pragma unroll
            for (int j = 0; j < VEC; ++j) s += __expf(f[j] - mu);
        });
        s = mc::warp_sum(s);
        const float2 t = row_total<false>(make_float2(m, s), wpart, nullptr, 1, make_float2(-INFINITY, 0.f), MsMerge());
        if (tid == 0) part[blockIdx.x * kGridK + k] = t;
        row_done<false>();
    }
    cooperative_groups::this_grid().sync();
    if (tid < 32) {
        for (int k = 0; k < K; ++k) {
            const int64_t r = r0 + k, blo = r * nvec / slice, bhi = ((r + 1) * nvec - 1) / slice;
            float2 t = make_float2(-INFINITY, 0.f);
            for (int64_t b = blo + lane; b <= bhi; b += 32) {
                const float2 w = part[b * kGridK + (int)(r - b * slice / nvec)];
                ms_merge(t.x, t.y, w.x, w.y);
            }
            t = warp_ms(t);
            if (lane == 0) rowtot[k] = make_float2(t.x, finish_inv(t.x, t.y));
        }
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kGridK; ++k) {
        if (k >= K) break;
        const float M = rowtot[k].x, inv = rowtot[k].y;
        each(row_lo(k), row_hi(k), [&](const uint4 &v, int64_t vi) {
            float f[VEC];
            unpack16<T>(v, f);
#pragma unroll
            for (int j = 0; j < VEC; ++j) f[j] = __expf(f[j] - M) * inv;
            yv[vi] = pack16<T>(f);
        });
    }
}

/* ---- host launchers ---------------------------------------------------------------------------- */

struct Cfg {
    int64_t rows = 0;
    int nvec = 0;     /* 16-byte vectors per row */
    int C = 0, nt = 0; /* l2c: blocks per row, threads per block (split: threads) */
    int gy = 0;       /* l2c: row slots (gridDim.y) */
    int per = 0;      /* l2c: vectors per block */
    int L = 0, chunks = 0; /* split: vectors per chunk, chunks per row */
    bool pdl = false;
};

/* grid (C, gy) of nt-thread blocks in clusters (C, 1, 1); attr must outlive the launch */
static cudaLaunchConfig_t cluster_cfg(int C, int gy, int nt, size_t smem, cudaStream_t st, cudaLaunchAttribute &attr) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)C, (unsigned)gy);
    cfg.blockDim = dim3((unsigned)nt);
    cfg.dynamicSmemBytes = smem;
    cfg.stream = st;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = (unsigned)C;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cfg;
}

template <typename T, int U, int H, bool REV>
cudaError_t run_l2c(const Cfg &c, const void *x, void *y, void *, cudaStream_t st) {
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = cluster_cfg(c.C, c.gy, c.nt, 0, st, attr);
    return cudaLaunchKernelEx(&cfg, l2c_fwd<T, U, H, REV>, static_cast<const T *>(x), static_cast<T *>(y), c.rows, c.nvec, c.per);
}

template <typename T, int U, int H, bool REV>
cudaError_t run_split(const Cfg &c, const void *x, void *y, void *ws, cudaStream_t st) {
    const int64_t nb = c.rows * c.chunks;
    split_stats<T, U, p1_of(H)><<<(unsigned)nb, c.nt, 0, st>>>(static_cast<const T *>(x), static_cast<float2 *>(ws), c.nvec,
                                                               c.L, c.chunks);
    const cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)nb);
    cfg.blockDim = dim3((unsigned)c.nt);
    cfg.stream = st;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr.val.programmaticStreamSerializationAllowed = 1;
    if (c.pdl) {
        cfg.attrs = &attr;
        cfg.numAttrs = 1;
    }
    return cudaLaunchKernelEx(&cfg, split_write<T, U, H, REV>, static_cast<const T *>(x), static_cast<T *>(y),
                              static_cast<const float2 *>(ws), c.nvec, c.L, c.chunks, (int)nb);
}


/* pipe: grid (C, gy) with C = ceil(nvec / per), per = nt * NV; NS stages of per vectors */
template <typename T, int NV, int NS, int H>
cudaError_t run_pipe(const Cfg &c, const void *x, void *y, void *, cudaStream_t st) {
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = cluster_cfg(c.C, c.gy, c.nt, (size_t)NS * c.per * 16, st, attr);
    return cudaLaunchKernelEx(&cfg, pipe_fwd<T, NV, NS, H>, static_cast<const T *>(x), static_cast<T *>(y), c.rows, c.nvec, c.per);
}

/* clusters of C blocks of nt threads with smem bytes of dynamic shared memory that fit at once (0:
 * none); sets the kernel's shared-memory and non-portable cluster attributes first */
static int pipe_clusters(const void *k, int C, int nt, size_t smem) {
    if (cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess ||
        (C > 8 && cudaFuncSetAttribute(k, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) != cudaSuccess)) {
        (void)cudaGetLastError();
        return 0;
    }
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = cluster_cfg(C, 256, nt, smem, nullptr, attr);
    int num = 0;
    if (cudaOccupancyMaxActiveClusters(&num, k, &cfg) != cudaSuccess) num = 0;
    (void)cudaGetLastError();
    return num;
}


/* grid: G blocks of 1024 (one per SM), cooperative; c.per = slice (vectors a block), c.C = NR */
template <typename T, int NR> cudaError_t run_grid(const Cfg &c, const void *x, void *y, void *ws, cudaStream_t st) {
    const int64_t V = c.rows * (int64_t)c.nvec;
    const int64_t slice = c.per;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((unsigned)c.gy);
    cfg.blockDim = dim3(1024u);
    cfg.dynamicSmemBytes = (size_t)std::max<int64_t>(0, slice - 1024 * NR) * 16;
    cfg.stream = st;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeCooperative;
    attr.val.cooperative = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cudaLaunchKernelEx(&cfg, grid_fwd<T, NR>, static_cast<const T *>(x), static_cast<T *>(y), (int64_t)c.nvec, V, slice,
                              static_cast<float2 *>(ws));
}

using RunFn = cudaError_t (*)(const Cfg &, const void *, void *, void *, cudaStream_t);
struct Impl {
    RunFn run = nullptr;
    const void *k1 = nullptr, *k2 = nullptr; /* l2c: k1; split: A, B */
};

template <typename T, int U, int H, bool R> Impl l2c_impl() {
    return {&run_l2c<T, U, H, R>, reinterpret_cast<const void *>(&l2c_fwd<T, U, H, R>), nullptr};
}
template <typename T, int U, int H, bool R> Impl split_impl() {
    return {&run_split<T, U, H, R>, reinterpret_cast<const void *>(&split_stats<T, U, p1_of(H)>),
            reinterpret_cast<const void *>(&split_write<T, U, H, R>)};
}

/* The instantiated combinations (others return an empty Impl): l2c U = 4 with every hint and
 * order, U = 2 and 8 with cs; split U = 4 with def, cs, pol. */
template <typename T> Impl pick_l2c(int U, int H, bool rev) {
#define L2C(u, h)                                                                                  \
    if (U == u && H == h) return rev ? l2c_impl<T, u, h, true>() : l2c_impl<T, u, h, false>();
    L2C(4, 0) L2C(4, 1) L2C(4, 2) L2C(4, 3) L2C(4, 4) L2C(2, 2) L2C(8, 2)
#undef L2C
    return Impl{};
}
template <typename T> Impl pick_split(int U, int H, bool rev) {
#define SPL(u, h)                                                                                  \
    if (U == u && H == h) return rev ? split_impl<T, u, h, true>() : split_impl<T, u, h, false>();
    SPL(4, 0) SPL(4, 2) SPL(4, 4)
#undef SPL
    return Impl{};
}


template <typename T, int NV, int NS, int H> Impl pipe_impl() {
    return {&run_pipe<T, NV, NS, H>, reinterpret_cast<const void *>(&pipe_fwd<T, NV, NS, H>), nullptr};
}
/* pipe: NV 2, 4, 8 vectors a thread, NS 2..4 stages, stores plain (H 0) or streaming (H 2) */
template <typename T> Impl pick_pipe(int NV, int NS, int H) {
#define PIPE(nv, ns, h)                                                                            \
    if (NV == nv && NS == ns && H == h) return pipe_impl<T, nv, ns, h>();
    PIPE(2, 2, 0) PIPE(2, 3, 0) PIPE(2, 4, 0) PIPE(4, 2, 0) PIPE(4, 3, 0) PIPE(4, 4, 0) PIPE(8, 2, 0) PIPE(8, 3, 0)
    PIPE(4, 3, 2) PIPE(8, 2, 2)
#undef PIPE
    return Impl{};
}


template <typename T> Impl pick_grid(int NR) {
    if (NR == 4) return {&run_grid<T, 4>, reinterpret_cast<const void *>(&grid_fwd<T, 4>), nullptr};
    if (NR == 8) return {&run_grid<T, 8>, reinterpret_cast<const void *>(&grid_fwd<T, 8>), nullptr};
    return Impl{};
}

} // namespace l2x

// ---- host side --------------------------------------------------------------------------------


static int g_pass = 0, g_fail = 0;
static int g_sms = 0;
static double g_copy_tbs = 0;

/* x (rows, n): triangular on (-8, 8) (sd ~3.3); kNonFinite: row r % 10 as softmax_rows.cu's make_x */
static void make_x(std::vector<float> &x, int64_t rows, int64_t n, Fill fill, uint64_t seed) {
    Rng g(seed);
    x.resize((size_t)rows * n);
    for (auto &v : x) v = (float)(8.0 * (g.uni() + g.uni() - 1.0));
    if (fill == kNonFinite) fill_nonfinite(x, rows, n, 6.f); /* logits up to +-48 */
}

/* The input as stored (bytes) and as the float each element holds. */
static void to_dtype(Dt d, std::vector<float> &x, std::vector<uint8_t> &bytes) {
    to_dev_type(d, x, bytes);
    for (size_t i = 0; i < x.size(); ++i) x[i] = (float)stored_at(d, bytes.data(), i);
}

/* torch's softmax in double, stored as float (6e-8 relative: far below the bounds) */
struct Ref {
    std::vector<float> y;
    std::vector<double> scale; /* max |ref| of the row */
    std::vector<char> nanrow;
};
static void make_ref(const std::vector<float> &x, int64_t rows, int64_t n, Ref &r) {
    r.y.assign((size_t)rows * n, 0.f);
    r.scale.assign(rows, 0.0);
    r.nanrow.assign(rows, 0);
    std::vector<double> e(n);
    for (int64_t row = 0; row < rows; ++row) {
        const float *p = &x[row * n];
        double m = -INFINITY;
        bool nan = false;
        for (int64_t i = 0; i < n; ++i) {
            if (std::isnan(p[i])) nan = true;
            else m = std::max(m, (double)p[i]);
        }
        if (nan || std::isinf(m)) {
            r.nanrow[row] = 1;
            continue;
        }
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += (e[i] = std::exp((double)p[i] - m));
        const double inv = 1.0 / s;
        double mx = 0;
        float *y = &r.y[row * n];
        for (int64_t i = 0; i < n; ++i) {
            const double v = e[i] * inv;
            y[i] = (float)v;
            mx = std::max(mx, v);
        }
        r.scale[row] = mx;
    }
}

/* worst per-row max |out - ref| / max |ref|; INFINITY on a NaN-pattern mismatch (row, col set) */
static double compare(Dt d, const std::vector<uint8_t> &out, const Ref &r, int64_t rows, int64_t n, int64_t *br, int64_t *bc) {
    double worst = 0;
    *br = *bc = -1;
    for (int64_t row = 0; row < rows; ++row) {
        const float *f = &r.y[row * n];
        double e = 0;
        int64_t ec = -1;
        for (int64_t i = 0; i < n; ++i) {
            const size_t k = (size_t)row * n + i;
            const double o = stored_at(d, out.data(), k);
            if (std::isnan(o) != (bool)r.nanrow[row]) {
                *br = row;
                *bc = i;
                return INFINITY;
            }
            if (r.nanrow[row]) continue;
            const double dd = std::fabs((double)o - (double)f[i]);
            if (dd > e) {
                e = dd;
                ec = i;
            }
        }
        const double rel = r.nanrow[row] ? 0.0 : e / r.scale[row];
        if (rel > worst) {
            worst = rel;
            *br = row;
            *bc = ec;
        }
    }
    return worst;
}

// ---- variants ------------------------------------------------------------------------------------

enum VKind { vLib, vCopy, vL2c, vSplit, vPipe, vGrid };
struct Spec {
    VKind kind = vLib;
    int C = 16, nt = 256, U = 4, H = 2; /* H: l2x::kHintName */
    bool rev = false;
    int gy = 0;   /* l2c: row slots (0: one per row) */
    int lkb = 0;  /* split: chunk KiB */
    bool pdl = false;
    int NV = 4, NS = 3; /* pipe: vectors per thread, stages */
};
static Spec S_lib() { return Spec{}; }
static Spec S_copy() {
    Spec s;
    s.kind = vCopy;
    return s;
}
static Spec S_l2c(int C, int nt, int H, bool rev, int U = 4, int gy = 0) {
    Spec s;
    s.kind = vL2c;
    s.C = C;
    s.nt = nt;
    s.H = H;
    s.rev = rev;
    s.U = U;
    s.gy = gy;
    return s;
}
static Spec S_split(int lkb, int H, bool rev, bool pdl, int nt = 256) {
    Spec s;
    s.kind = vSplit;
    s.lkb = lkb;
    s.H = H;
    s.rev = rev;
    s.pdl = pdl;
    s.nt = nt;
    return s;
}

enum { H_DEF = 0, H_ST = 1, H_CS = 2, H_NA = 3, H_POL = 4 };

static Spec S_pipe(int nt, int NV, int NS, int H = H_DEF) {
    Spec s;
    s.kind = vPipe;
    s.nt = nt;
    s.NV = NV;
    s.NS = NS;
    s.H = H;
    return s;
}
/* the library, the copy and the pipe variants (`pipe` on the command line) */
static std::vector<Spec> pipe_specs() {
    std::vector<Spec> v = {S_lib(), S_copy()};
    for (int nt : {256, 512, 1024})
        for (int nv : {2, 4, 8})
            for (int ns : {2, 3, 4})
                if (nt * nv <= 4096 && l2x::pick_pipe<float>(nv, ns, H_DEF).run) v.push_back(S_pipe(nt, nv, ns));
    v.push_back(S_pipe(512, 4, 3, H_CS));
    v.push_back(S_pipe(256, 8, 2, H_CS));
    for (int nr : {4, 8}) {
        Spec g;
        g.kind = vGrid;
        g.NV = nr;
        v.push_back(g);
    }
    return v;
}

/* every variant: the key shapes and the correctness sweep */
static std::vector<Spec> full_specs() {
    std::vector<Spec> v = {S_lib(), S_copy()};
    for (int C : {4, 8, 16}) v.push_back(S_l2c(C, 256, H_CS, false));
    for (int C : {8, 16})
        for (int h = 0; h < l2x::kHints; ++h)
            for (bool rev : {false, true})
                if (!(h == H_CS && !rev)) v.push_back(S_l2c(C, 256, h, rev));
    for (int C : {8, 16})
        for (int nt : {128, 512}) v.push_back(S_l2c(C, nt, H_CS, true));
    for (int C : {8, 16})
        for (int U : {2, 8}) v.push_back(S_l2c(C, 256, H_CS, false, U));
    for (int gy : {16, 32}) v.push_back(S_l2c(16, 256, H_CS, true, 4, gy));
    for (int lkb : {16, 32, 64, 128})
        for (bool rev : {false, true})
            for (bool pdl : {false, true}) v.push_back(S_split(lkb, H_CS, rev, pdl));
    for (int lkb : {32, 64})
        for (int h : {H_DEF, H_POL}) v.push_back(S_split(lkb, h, true, true));
    return v;
}
/* the other shapes */
static std::vector<Spec> quick_specs() {
    std::vector<Spec> v = {S_lib(), S_copy()};
    for (int C : {4, 8, 16})
        for (bool rev : {false, true}) v.push_back(S_l2c(C, 256, H_CS, rev));
    for (int C : {8, 16}) v.push_back(S_l2c(C, 256, H_POL, true));
    for (int lkb : {32, 64}) {
        v.push_back(S_split(lkb, H_CS, false, false));
        v.push_back(S_split(lkb, H_CS, true, false));
        v.push_back(S_split(lkb, H_CS, true, true));
    }
    return v;
}

static std::string spec_name(const Spec &s) {
    char b[96];
    switch (s.kind) {
    case vLib: return "library";
    case vCopy: return "copy";
    case vL2c:
        snprintf(b, sizeof b, "l2c C%d T%d U%d %s %s", s.C, s.nt, s.U, l2x::kHintName[s.H], s.rev ? "rev" : "fwd");
        if (s.gy) snprintf(b + strlen(b), sizeof b - strlen(b), " g%d", s.gy);
        return b;
    case vPipe:
        snprintf(b, sizeof b, "pipe T%d NV%d NS%d %s", s.nt, s.NV, s.NS, l2x::kHintName[s.H]);
        return b;
    case vGrid:
        snprintf(b, sizeof b, "grid T1024 NR%d", s.NV);
        return b;
    default:
        snprintf(b, sizeof b, "split %dK T%d U%d %s %s%s", s.lkb, s.nt, s.U, l2x::kHintName[s.H], s.rev ? "rev" : "fwd",
                 s.pdl ? " pdl" : "");
        return b;
    }
}

struct Variant {
    std::string name, info;
    bool softmax = true; /* false: the copy (not checked) */
    size_t ws_bytes = 0;
    std::function<cudaError_t(const void *x, void *y, void *ws)> run;
};

static std::string kattr(const void *k, int nt, int *bps_out = nullptr) {
    cudaFuncAttributes fa;
    CK(cudaFuncGetAttributes(&fa, k));
    int bps = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, k, nt, 0) != cudaSuccess) bps = 0;
    (void)cudaGetLastError();
    if (bps_out) *bps_out = bps;
    char b[96];
    snprintf(b, sizeof b, "%d regs %zu B local %d blk/SM", fa.numRegs, (size_t)fa.localSizeBytes, bps);
    return b;
}

/* The variant for (d, rows, n); false (why set) where it cannot run. */
static bool make_variant(Dt d, int64_t rows, int64_t n, const Spec &s, Variant &v, std::string &why) {
    v.name = spec_name(s);
    const int vec = 16 / (int)dt_size(d);
    if (n % vec != 0) {
        why = "n not a multiple of the 16-byte vector";
        return false;
    }
    const int nvec = (int)(n / vec);
    char b[256];
    if (s.kind == vLib) {
        const mc_softmax_args a0 = make_args(d, rows, n);
        v.ws_bytes = mc_cuda_softmax_workspace_size(&a0);
        v.info = plan_str(make_plan(&a0, false));
        const size_t wsb = v.ws_bytes;
        v.run = [=](const void *x, void *y, void *ws) {
            mc_softmax_args a = a0;
            a.x = x;
            a.y = y;
            a.workspace = ws;
            a.workspace_bytes = wsb;
            return mc_cuda_softmax_forward(&a) == MC_STATUS_SUCCESS ? cudaSuccess : cudaErrorLaunchFailure;
        };
        return true;
    }
    if (s.kind == vCopy) {
        v.softmax = false;
        const size_t bytes = (size_t)rows * n * dt_size(d);
        v.info = "cudaMemcpyAsync D2D, same bytes";
        v.run = [=](const void *x, void *y, void *) { return cudaMemcpyAsync(y, x, bytes, cudaMemcpyDeviceToDevice); };
        return true;
    }
    /* the harness's own kernels: one implementation pick, the common configuration, then each
     * kind's shape and checks; one run function at the end */
    auto pick = [&](auto tag) -> l2x::Impl {
        using T = decltype(tag);
        switch (s.kind) {
        case vL2c: return l2x::pick_l2c<T>(s.U, s.H, s.rev);
        case vSplit: return l2x::pick_split<T>(s.U, s.H, s.rev);
        case vPipe: return l2x::pick_pipe<T>(s.NV, s.NS, s.H);
        default: return l2x::pick_grid<T>(s.NV);
        }
    };
    const l2x::Impl im = d == F32 ? pick(float{}) : pick(__nv_bfloat16{});
    if (!im.run) {
        why = "combination not instantiated";
        return false;
    }
    l2x::Cfg c;
    c.rows = rows;
    c.nvec = nvec;
    c.nt = s.nt;
    c.pdl = s.pdl;
    if (s.kind == vGrid) {
        c.gy = g_sms;
        const int64_t V = rows * (int64_t)nvec;
        c.per = (int)((V + g_sms - 1) / g_sms);
        const int64_t smem = std::max<int64_t>(0, (int64_t)c.per - 1024 * s.NV) * 16;
        if ((c.per + nvec - 1) / nvec + 1 > l2x::kGridK) {
            why = "a slice touches too many rows";
            return false;
        }
        if (smem > 227 * 1024 - 1024 ||
            cudaFuncSetAttribute(im.k1, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) != cudaSuccess) {
            (void)cudaGetLastError();
            why = "does not fit on chip";
            return false;
        }
        int bps = 0;
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, im.k1, 1024, (size_t)smem) != cudaSuccess || bps < 1) {
            (void)cudaGetLastError();
            why = "no block fits an SM";
            return false;
        }
        v.ws_bytes = (size_t)g_sms * l2x::kGridK * sizeof(float2);
        snprintf(b, sizeof b, "%s, %d blocks, slice %d vectors, %lld KB smem", kattr(im.k1, 1024).c_str(), g_sms, c.per,
                 (long long)(smem >> 10));
        v.info = b;
    } else if (s.kind == vPipe) {
        c.per = s.nt * s.NV;
        c.C = (nvec + c.per - 1) / c.per;
        if (c.C > 16 || (c.C - 1) * c.per >= nvec) {
            why = c.C > 16 ? "more than 16 blocks a row" : "a block with no columns";
            return false;
        }
        const size_t smem = (size_t)s.NS * c.per * 16;
        const int clusters = l2x::pipe_clusters(im.k1, c.C, s.nt, smem);
        if (clusters <= 0) {
            why = "0 active clusters";
            return false;
        }
        c.gy = (int)std::min<int64_t>(rows, clusters);
        snprintf(b, sizeof b, "%s, C%d, %zu KB smem, %d clusters resident, %.1f rows each", kattr(im.k1, s.nt).c_str(), c.C,
                 smem >> 10, clusters, (double)rows / c.gy);
        v.info = b;
    } else if (s.kind == vL2c) {
        c.C = s.C;
        c.gy = (int)std::min<int64_t>(s.gy ? std::min<int64_t>(s.gy, rows) : rows, 65535);
        c.per = ((nvec + s.C - 1) / s.C + 7) / 8 * 8;
        const int clusters = active_clusters(im.k1, 0, s.C, s.nt); /* sets the non-portable size for C > 8 */
        if (clusters <= 0) {
            why = "0 active clusters";
            return false;
        }
        snprintf(b, sizeof b, "%s, %d clusters resident, %lld wave(s) of %d row slots", kattr(im.k1, s.nt).c_str(), clusters,
                 (long long)((c.gy + clusters - 1) / clusters), c.gy);
        v.info = b;
    } else {
        c.L = std::max(8, s.lkb * 1024 / 16);
        if (c.L / 2 >= nvec) {
            why = "chunk over twice the row (a smaller chunk covers it)";
            return false;
        }
        c.chunks = (nvec + c.L - 1) / c.L;
        const int64_t nb = rows * c.chunks;
        if (nb > 0x7fffffff) {
            why = "too many blocks";
            return false;
        }
        v.ws_bytes = (size_t)nb * sizeof(float2);
        int bpa = 0;
        const std::string a = kattr(im.k1, s.nt, &bpa), bb = kattr(im.k2, s.nt);
        snprintf(b, sizeof b, "A %s, B %s; %lld blocks of %d vectors, A %.2f wave(s)", a.c_str(), bb.c_str(), (long long)nb,
                 c.L, bpa > 0 ? (double)nb / ((double)bpa * g_sms) : 0.0);
        v.info = b;
    }
    const l2x::RunFn run = im.run;
    v.run = [=](const void *x, void *y, void *ws) { return run(c, x, y, ws, nullptr); };
    return true;
}

/* Runs v once on X -> Y (poisoned first) and compares with ref. Prints a FAIL line (or, with
 * verbose, a PASS line). Returns the error (INFINITY on failure of any kind). */
static double check_variant(const Variant &v, Dt d, int64_t rows, int64_t n, const void *X, void *Y, void *WS, const Ref &ref,
                            const char *what, bool verbose) {
    const size_t bytes = (size_t)rows * n * dt_size(d);
    CK(cudaMemset(Y, 0xff, bytes)); /* NaN in every dtype */
    CK(cudaDeviceSynchronize());
    const cudaError_t le = v.run(X, Y, WS);
    const cudaError_t se = cudaDeviceSynchronize();
    if (se != cudaSuccess) {
        printf("FAIL %-4s %5lld x %-7lld %-9s %-36s CUDA error %s\n", dt_name(d), (long long)rows, (long long)n, what,
               v.name.c_str(), cudaGetErrorString(se));
        g_fail++;
        exit(1); /* the context is gone */
    }
    if (le != cudaSuccess) {
        printf("FAIL %-4s %5lld x %-7lld %-9s %-36s launch error %s %s\n", dt_name(d), (long long)rows, (long long)n, what,
               v.name.c_str(), cudaGetErrorString(le), g_last_error);
        (void)cudaGetLastError();
        g_fail++;
        return INFINITY;
    }
    std::vector<uint8_t> out(bytes);
    CK(cudaMemcpy(out.data(), Y, bytes, cudaMemcpyDeviceToHost));
    int64_t br, bc;
    const double err = compare(d, out, ref, rows, n, &br, &bc);
    const bool ok = err <= tol_of(d);
    (ok ? g_pass : g_fail)++;
    if (!ok || verbose)
        printf("%s %-4s %5lld x %-7lld %-9s %-36s max rel err %.2e (tol %.0e)\n", ok ? "PASS" : "FAIL", dt_name(d), (long long)rows,
               (long long)n, what, v.name.c_str(), err, tol_of(d));
    if (!ok && br >= 0) {
        const size_t k = (size_t)br * n + (bc < 0 ? 0 : bc);
        const double o = stored_at(d, out.data(), k);
        printf("     first bad: row %lld col %lld out %.9g ref %.9g%s\n", (long long)br, (long long)bc, o, ref.y[k],
               ref.nanrow[br] ? " (NaN row)" : "");
    }
    return ok ? err : INFINITY;
}

struct Upload { /* x of a shape: host floats (as stored), device bytes */
    std::vector<float> xf;
    std::vector<uint8_t> xb;
};

/* Checks every spec (that can run) at (d, rows, n, fill); one summary line, FAIL lines. */
static void check_group(Dt d, int64_t rows, int64_t n, Fill fill, const std::vector<Spec> &specs) {
    Upload u;
    make_x(u.xf, rows, n, fill, (uint64_t)(rows * 1000003 + n * 7 + d + 11 * fill));
    to_dtype(d, u.xf, u.xb);
    Ref ref;
    make_ref(u.xf, rows, n, ref);
    const size_t bytes = (size_t)rows * n * dt_size(d);
    DevBuf X(bytes), Y(bytes);
    CK(cudaMemcpy(X.p, u.xb.data(), bytes, cudaMemcpyHostToDevice));
    int cnt = 0, bad = 0;
    double worst = 0;
    const char *what = fill == kNonFinite ? "nonfinite" : "random";
    for (const Spec &s : specs) {
        Variant v;
        std::string why;
        if (!make_variant(d, rows, n, s, v, why) || !v.softmax) continue;
        DevBuf WS(std::max<size_t>(v.ws_bytes, 256));
        const double e = check_variant(v, d, rows, n, X.p, Y.p, WS.p, ref, what, false);
        ++cnt;
        if (!(e <= tol_of(d))) ++bad;
        else worst = std::max(worst, e);
    }
    printf("checks %-4s %5lld x %-7lld %-9s: %d variants, %d failed, worst max rel err %.2e (tol %.0e)\n", dt_name(d),
           (long long)rows, (long long)n, what, cnt, bad, worst, tol_of(d));
}

struct Result {
    std::string name;
    double us = NAN;
};
struct ShapeSummary {
    Dt d;
    int64_t rows, n;
    double lib = NAN, copy = NAN;
    Result l2c, split, pipe;
};

/* Checks and times every spec at (d, rows, n): input sets rotated over >= 160 MB. */
static ShapeSummary run_shape(Dt d, int64_t rows, int64_t n, const std::vector<Spec> &specs) {
    ShapeSummary sum;
    sum.d = d;
    sum.rows = rows;
    sum.n = n;
    const size_t es = dt_size(d), N = (size_t)rows * n, bytes = N * es;
    const int sets = (int)std::max<double>(2.0, std::ceil(160.0 * (1 << 20) / (2.0 * bytes)));
    printf("\n== %s %lld x %lld: %.1f MB in + out, %d input sets (%.0f MB) ==\n", dt_name(d), (long long)rows, (long long)n,
           2.0 * bytes / 1e6, sets, 2.0 * bytes * sets / 1e6);
    Upload u;
    make_x(u.xf, rows, n, kRandom, (uint64_t)(rows * 31 + n));
    to_dtype(d, u.xf, u.xb);
    Ref ref;
    make_ref(u.xf, rows, n, ref);
    std::vector<DevBuf *> X, Y;
    for (int i = 0; i < sets; ++i) {
        X.push_back(new DevBuf(bytes));
        Y.push_back(new DevBuf(bytes));
    }
    CK(cudaMemcpy(X[0]->p, u.xb.data(), bytes, cudaMemcpyHostToDevice));
    for (int i = 1; i < sets; ++i) CK(cudaMemcpy(X[i]->p, X[0]->p, bytes, cudaMemcpyDeviceToDevice));
    std::vector<void *> xs, ys;
    for (int i = 0; i < sets; ++i) {
        xs.push_back(X[i]->p);
        ys.push_back(Y[i]->p);
    }
    const double tb = 2.0 * bytes;
    for (const Spec &s : specs) {
        Variant v;
        std::string why;
        if (!make_variant(d, rows, n, s, v, why)) {
            printf("  %-36s skipped: %s\n", spec_name(s).c_str(), why.c_str());
            continue;
        }
        DevBuf WS(std::max<size_t>(v.ws_bytes, 256));
        double err = 0;
        if (v.softmax) {
            err = check_variant(v, d, rows, n, xs[0], ys[0], WS.p, ref, "random", false);
            if (!(err <= tol_of(d))) {
                printf("  %-36s not timed (check failed)\n", v.name.c_str());
                continue;
            }
        }
        bool bad = false;
        const float ms = time_ms([&](int k) {
            const int i = k % sets;
            if (v.run(xs[i], ys[i], WS.p) != cudaSuccess) bad = true;
        });
        CK(cudaDeviceSynchronize());
        const double us = bad ? NAN : ms * 1e3;
        if (bad) {
            printf("  %-36s launch failed while timing\n", v.name.c_str());
            g_fail++;
            continue;
        }
        char e[32] = "";
        if (v.softmax) snprintf(e, sizeof e, "err %.1e", err);
        printf("  %-36s %8.2f us %5.2f TB/s %4.0f%% of copy  %-11s| %s\n", v.name.c_str(), us, tb / (us * 1e-6) / 1e12,
               100.0 * tb / (us * 1e-6) / 1e12 / g_copy_tbs, e, v.info.c_str());
        fflush(stdout);
        Result r{v.name, us};
        if (s.kind == vLib) sum.lib = us;
        else if (s.kind == vCopy) sum.copy = us;
        else if (s.kind == vL2c && !(sum.l2c.us <= us)) sum.l2c = r;
        else if (s.kind == vSplit && !(sum.split.us <= us)) sum.split = r;
        else if ((s.kind == vPipe || s.kind == vGrid) && !(sum.pipe.us <= us)) sum.pipe = r;
    }
    for (auto p : X) delete p;
    for (auto p : Y) delete p;
    return sum;
}

/* registers and occupancy of every instantiated kernel, once */
static void print_kernels() {
    printf("\nkernels (registers, local bytes, blocks per SM at 256 threads; active clusters at C x 256):\n");
    for (Dt d : {F32, BF16}) {
        for (int U : {2, 4, 8})
            for (int h = 0; h < l2x::kHints; ++h)
                for (bool rev : {false, true}) {
                    const l2x::Impl im = d == F32 ? l2x::pick_l2c<float>(U, h, rev) : l2x::pick_l2c<__nv_bfloat16>(U, h, rev);
                    if (!im.run) continue;
                    printf("  %-4s l2c   U%d %-3s %s  %s, clusters C4/C8/C16: %d/%d/%d\n", dt_name(d), U, l2x::kHintName[h],
                           rev ? "rev" : "fwd", kattr(im.k1, 256).c_str(), active_clusters(im.k1, 0, 4, 256),
                           active_clusters(im.k1, 0, 8, 256), active_clusters(im.k1, 0, 16, 256));
                }
        for (int h = 0; h < l2x::kHints; ++h)
            for (bool rev : {false, true}) {
                const l2x::Impl im = d == F32 ? l2x::pick_split<float>(4, h, rev) : l2x::pick_split<__nv_bfloat16>(4, h, rev);
                if (!im.run) continue;
                printf("  %-4s split U4 %-3s %s  A %s; B %s\n", dt_name(d), l2x::kHintName[h], rev ? "rev" : "fwd",
                       kattr(im.k1, 256).c_str(), kattr(im.k2, 256).c_str());
            }
        const void *lk = cluster_kernel(dt_mc(d), false);
        printf("  %-4s library cluster forward (NV = 8)  %s, clusters C8/C16 x 256: %d/%d\n", dt_name(d), kattr(lk, 256).c_str(),
               active_clusters(lk, 0, 8, 256), active_clusters(lk, 0, 16, 256));
    }
}

static void print_summary(const char *title, const std::vector<ShapeSummary> &v) {
    printf("\n== %s (us, TB/s; copy %.2f TB/s) ==\n", title, g_copy_tbs);
    printf("%-4s %5s x %-7s | %-15s | %-15s | %-36s | %-36s | %s\n", "dt", "rows", "cols", "library", "copy same bytes",
           "best l2c", "best split", "best pipe");
    for (const ShapeSummary &s : v) {
        const double tb = 2.0 * s.rows * s.n * dt_size(s.d) / 1e12;
        auto cell = [&](double us) {
            char b[48];
            snprintf(b, sizeof b, "%6.1f %5.2f", us, tb / (us * 1e-6));
            return std::string(b);
        };
        printf("%-4s %5lld x %-7lld | %-15s | %-15s | %-36s | %-36s | %s\n", dt_name(s.d), (long long)s.rows, (long long)s.n,
               cell(s.lib).c_str(), cell(s.copy).c_str(), (cell(s.l2c.us) + " " + s.l2c.name).c_str(),
               (cell(s.split.us) + " " + s.split.name).c_str(), (cell(s.pipe.us) + " " + s.pipe.name).c_str());
    }
}

int main(int argc, char **argv) {
    const bool key_only = argc > 1 && strcmp(argv[1], "key") == 0;
    const bool pipe_only = argc > 1 && strcmp(argv[1], "pipe") == 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaSetDevice(0));
    g_sms = prop.multiProcessorCount;
    printf("softmax L2 re-read harness: %s, %d SMs, cc %d.%d, L2 %.1f MB, persisting L2 max %.1f MB\n", prop.name,
           prop.multiProcessorCount, prop.major, prop.minor, prop.l2CacheSize / 1048576.0, prop.persistingL2CacheMaxSize / 1048576.0);
    if (prop.major < 9) {
        printf("needs sm_90 (clusters, griddepcontrol)\n");
        return 1;
    }
    g_copy_tbs = copy_rate();
    printf("memcpy D2D 1 GiB: %.2f TB/s (read + write)\n", g_copy_tbs);
    print_kernels();

    if (pipe_only) { /* V3 against the library and the copy: checks, then the long-row shapes */
        g_copy_tbs = copy_rate();
        printf("memcpy D2D 1 GiB: %.2f TB/s (read + write)\n\n== checks ==\n", g_copy_tbs);
        const std::vector<Spec> ps = pipe_specs();
        for (Dt d : {F32, BF16}) {
            check_group(d, 20, 131072, kNonFinite, ps);
            check_group(d, 6, 100008, kRandom, ps);
            check_group(d, 20, 8200, kNonFinite, ps);
            check_group(d, 1000, 16384, kRandom, ps); /* many rows a cluster: the stage ring wraps */
        }
        if (g_fail) printf("checks failed: %d (timing the variants that pass)\n", g_fail);
        std::vector<ShapeSummary> sum;
        const struct { Dt d; int64_t rows, n; } shapes[] = {
            {F32, 64, 131072}, {BF16, 128, 131072}, {F32, 1, 262144},   {F32, 512, 32768},   {F32, 256, 65536},
            {F32, 128, 131072}, {F32, 64, 262144}, {BF16, 256, 65536}, {BF16, 64, 262144}, {BF16, 512, 32768}};
        for (auto &sh : shapes) sum.push_back(run_shape(sh.d, sh.rows, sh.n, ps));
        print_summary("pipe", sum);
        printf("\n%d passed, %d failed\n", g_pass, g_fail);
        return g_fail ? 1 : 0;
    }
    /* correctness before any timing: non-finite rows and a width no chunking divides, every variant */
    printf("\n== checks ==\n");
    const std::vector<Spec> full = full_specs(), quick = quick_specs();
    for (Dt d : {F32, BF16}) {
        check_group(d, 20, 131072, kNonFinite, full);
        check_group(d, 6, 100008, kRandom, full);
        check_group(d, 20, 8200, kNonFinite, quick);
    }
    if (g_fail) printf("checks failed: %d (timing the variants that pass)\n", g_fail);

    std::vector<ShapeSummary> main_sum, sweep;
    main_sum.push_back(run_shape(F32, 64, 131072, full));
    main_sum.push_back(run_shape(BF16, 128, 131072, full));
    if (!key_only) {
        const struct { Dt d; int64_t rows, n; } shapes[] = {
            {F32, 1, 262144}, {F32, 256, 65536}, {F32, 32, 262144}, {F32, 16, 524288}, {BF16, 256, 65536}};
        for (auto &sh : shapes) main_sum.push_back(run_shape(sh.d, sh.rows, sh.n, quick));
        for (int64_t n = 8192; n <= 262144; n *= 2) sweep.push_back(run_shape(F32, (1 << 24) / n, n, quick));
    }
    print_summary("shapes", main_sum);
    if (!sweep.empty()) print_summary("fp32 sweep at 16M elements", sweep);
    printf("\n%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
