// Standalone harness for the batched Cholesky (src/cuda/cholesky.cu): the former library kernel
// (copied below as namespace baseline, from commit de40180) against "lookahead" variants (namespace
// la), fp32 and fp64. la256 won (H100: fp32 1000 x 256 0.92 vs 1.44 ms, fp64 2.27 vs 2.92 ms) and
// was ported after commit 4f3b467 into the library as chol_kernel, which adds __restrict__ on
// A/L/info and, in global memory, copies A's lower triangle into L's rows below the first block
// when that block fails (the library kernel is now la256, not baseline). Checks every kernel and mode on the host in double: ||L L^T - A||_F / ||A||_F
// <= 30 n eps, exact zeros in the other triangle (lower and upper output), info = order of the first
// non-positive pivot for non-SPD matrices, NaN in the input -> info != 0 or NaN in L, the unused
// triangle of A ignored (NaN there for half the batch); n in {1, 2, 17, 31, 32, 33, 50, 64, 100,
// 128, 129, 200, 255, 256}. Then times baseline and variants in the same run (median of 15) on
// fp32 1000 x 256, 10000 x 64, 1000 x 128 and fp64 1000 x 256, and re-checks a few matrices of
// each timed batch. Not part of the library build; compile and run on the device machine in one
// call (from the repository root):
//   nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -Xptxas -v -o /tmp/cb bench/harness/chol_batched.cu 2>&1 | grep -E "registers|spill|error" ; /tmp/cb
// (or: bash bench/harness/run_all.sh chol_batched). Exit status 0 only if every check passed.
// `/tmp/cb check` only checks, `/tmp/cb time` only times (with the re-checks).
//
// Variant la::chol_la_kernel (same layout choice as the library: S in shared memory while two
// blocks fit, else in place in the output), what changes against the baseline:
//  1. lookahead: in the trailing update of step k, warp 0 alone updates the next 32x32 diagonal
//     block (straight from the panel, in registers: 32 columns x 32 products per lane), factors
//     it and writes L and the inverted block for the next panel, while warps 1.. update the rest
//     of the trailing triangle. Two barriers per 32 columns instead of three, and the serial
//     diagonal factorisation (~4-5k cycles, one warp) overlaps the update instead of idling the
//     block;
//  2. global-memory case: no copy pass A -> L (the baseline's copy loop does a dependent
//     load -> store per element group because A and L may alias: ~140 serial DRAM round trips
//     per warp); step 0 reads A directly and writes L, and only the zeros above the diagonal are
//     stored up front;
//  3. trailing tiles load their 16 old values before the 32-step product loop (their L2/DRAM
//     latency hides under the FMAs), not four dependent load -> store pairs after it;
//  4. the panel is kept transposed (PT[q][row], 16-byte rows) so a 4x4 tile reads its 4+4 values
//     per q as two 16-byte loads without bank conflicts (the baseline's P[row*33+q] reads are
//     4-way conflicted: 20 shared wavefronts per q per warp instead of ~5);
//  5. the inverted diagonal block has 16-byte rows (stride 36): the panel solve reads it as
//     144 16-byte broadcasts per row instead of 528 scalar ones.
// Configurations: la256 (the library's thread counts: 256 for n > 128; fp32 <= 128 registers, two
// blocks per SM; fp64 one block per SM like the baseline), la512 (fp32, twice the threads: 512 for
// n > 128, one block per SM in the global-memory case).
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "harness.h" /* CK() */

// ==== KERNELS BEGIN (the host emulation check extracts this region) ===============================

// ---- baseline: a verbatim copy of chol_blocked_kernel of src/cuda/cholesky.cu at commit de40180
// (with odd_ld of src/cuda/dense_common.cuh); the launcher is harness-side (launch_base below) ----
namespace baseline {
__host__ __device__ inline int64_t odd_ld(int64_t m) { return (m % 2 == 0) ? m + 1 : m; }

constexpr int NB = 32, PLD = 33;

__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return rsqrt(x); }

template <typename C> __host__ __device__ inline int64_t chol_smem_elems(int n, bool square) {
    const int64_t prow = (int64_t)(n + 3) / 4 * 4;
    return (square ? (int64_t)n * odd_ld(n) : 0) + NB * PLD + prow * PLD;
}

/* A, L: (batch, n, n) row-major; info: (batch,). SQUARE: S in shared memory. */
template <typename C, bool SQUARE>
__global__ void __launch_bounds__(256)
    chol_blocked_kernel(const C *A, C *L, int32_t *info, int n, int upper) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int fail;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const int64_t ld = SQUARE ? odd_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *S = SQUARE ? base : L + b * nn;
    C *Ld = base + (SQUARE ? n * ld : 0);
    C *P = Ld + NB * PLD;
    const C *a = A + b * nn;
    const int warp = tid >> 5, nw = nt >> 5;
    /* a row per warp: coalesced, and no 64-bit division per element */
    for (int i = warp; i < n; i += nw)
        for (int j = lane; j < n; j += 32) {
            if (j <= i) S[i * ld + j] = a[(int64_t)i * n + j];
            else if (!SQUARE) S[(int64_t)i * n + j] = C(0);
        }
    if (tid == 0) fail = 0;
    __syncthreads();
    /* fp32 in global memory with rows of a multiple of 4: trailing tiles move as float4 (r0 is
     * a multiple of 32, the output 16-byte aligned) */
    const bool vec4 = !SQUARE && sizeof(C) == 4 && n % 4 == 0 && (reinterpret_cast<uintptr_t>(S) & 15) == 0;
    for (int c0 = 0; c0 < n; c0 += NB) {
        const int w = min(NB, n - c0);
        if (tid < 32) {
            C r[NB];
            const bool mine = lane < w;
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = (mine && t <= lane) ? S[(c0 + lane) * ld + c0 + t] : C(0);
            int bad = 0;
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                const C d = __shfl_sync(0xffffffffu, r[t], t); /* pivot after all earlier updates */
                if (!(d > C(0)) && !bad) bad = c0 + t + 1;       /* uniform: d is the same in every lane */
                const C ri = rsqrt_(d);                          /* NaN for d <= 0: reported above */
                r[t] = lane == t ? d * ri : r[t] * ri;
#pragma unroll
                for (int q = t + 1; q < NB; ++q) {
                    const C lqt = __shfl_sync(0xffffffffu, r[t], q);
                    if (lane >= q) r[q] -= r[t] * lqt;
                }
            }
            if (mine)
#pragma unroll
                for (int t = 0; t < NB; ++t)
                    if (t <= lane) {
                        S[(c0 + lane) * ld + c0 + t] = r[t];
                        /* the diagonal is kept inverted: the panel below multiplies by it */
                        Ld[lane * PLD + t] = t == lane ? C(1) / r[t] : r[t];
                    }
            if (lane == 0 && bad) fail = bad;
        }
        __syncthreads();
        if (fail) break; /* uniform; like potrf, stop at the first failing minor */
        const int r0 = c0 + w, m = n - r0;
        for (int s = r0 + tid; s < n; s += nt) {
            C x[NB];
#pragma unroll
            for (int t = 0; t < NB; ++t) x[t] = t < w ? S[s * ld + c0 + t] : C(0);
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                C v = x[t];
#pragma unroll
                for (int q = 0; q < t; ++q) v -= x[q] * Ld[t * PLD + q];
                x[t] = v * Ld[t * PLD + t];
            }
#pragma unroll
            for (int t = 0; t < NB; ++t)
                if (t < w) {
                    S[s * ld + c0 + t] = x[t];
                    P[(s - r0) * PLD + t] = x[t];
                }
        }
        __syncthreads();
        const int mt = (m + 3) / 4, ntiles = mt * (mt + 1) / 2;
        for (int tile = tid; tile < ntiles; tile += nt) {
            int ti = (int)((sqrtf(8.f * tile + 1.f) - 1.f) * 0.5f);
            while (ti * (ti + 1) / 2 > tile) --ti;
            while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
            const int tj = tile - ti * (ti + 1) / 2;
            C acc[4][4] = {};
            for (int q = 0; q < w; ++q) {
                C u[4], v[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    u[e] = P[(4 * ti + e) * PLD + q];
                    v[e] = P[(4 * tj + e) * PLD + q];
                }
#pragma unroll
                for (int e = 0; e < 4; ++e)
#pragma unroll
                    for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
            }
            if (vec4 && tj < ti && 4 * ti + 3 < m) { /* whole tile below the diagonal: 16-byte rows */
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float4 *p4 = reinterpret_cast<float4 *>(&S[(int64_t)(r0 + 4 * ti + e) * ld + r0 + 4 * tj]);
                    float4 t4 = *p4;
                    t4.x -= acc[e][0];
                    t4.y -= acc[e][1];
                    t4.z -= acc[e][2];
                    t4.w -= acc[e][3];
                    *p4 = t4;
                }
                continue;
            }
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int i = 4 * ti + e, j = 4 * tj + f;
                    if (i < m && j <= i) S[(int64_t)(r0 + i) * ld + r0 + j] -= acc[e][f];
                }
        }
        __syncthreads();
    }
    C *l = L + b * nn;
    if (SQUARE) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32)
                l[(int64_t)i * n + j] = upper ? (i <= j ? S[j * ld + i] : C(0)) : (j <= i ? S[i * ld + j] : C(0));
    } else if (upper) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < i; j += 32) { /* each pair (i, j), j < i, belongs to this thread only */
                l[(int64_t)j * n + i] = l[(int64_t)i * n + j];
                l[(int64_t)i * n + j] = C(0);
            }
    }
    if (tid == 0) info[b] = fail;
}
} // namespace baseline

// ---- variant: lookahead (see the header comment) --------------------------------------------------
namespace la {
constexpr int NB = 32;  /* columns per step */
constexpr int LDD = 36; /* row stride of the inverted diagonal block Ld: 16-byte rows */

__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return rsqrt(x); }

/* four consecutive elements as 16-byte accesses (p 16-byte aligned) */
__device__ __forceinline__ void ld4(const float *p, float (&o)[4]) {
    const float4 v = *reinterpret_cast<const float4 *>(p);
    o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
}
__device__ __forceinline__ void ld4(const double *p, double (&o)[4]) {
    const double2 v = reinterpret_cast<const double2 *>(p)[0], w = reinterpret_cast<const double2 *>(p)[1];
    o[0] = v.x, o[1] = v.y, o[2] = w.x, o[3] = w.y;
}
__device__ __forceinline__ void st4(float *p, const float (&o)[4]) {
    *reinterpret_cast<float4 *>(p) = make_float4(o[0], o[1], o[2], o[3]);
}
__device__ __forceinline__ void st4(double *p, const double (&o)[4]) {
    reinterpret_cast<double2 *>(p)[0] = make_double2(o[0], o[1]);
    reinterpret_cast<double2 *>(p)[1] = make_double2(o[2], o[3]);
}

/* shared-memory square copy: rows of a multiple of 4 elements whose 16-byte count is odd, so 8
 * consecutive rows read at the same column hit 8 different 16-byte bank groups */
__host__ __device__ inline int sq_ld(int n) {
    int l = (n + 3) / 4 * 4;
    if ((l / 4) % 2 == 0) l += 4;
    return l;
}
/* row stride of the transposed panel PT[q][row]: rows of a multiple of 4, at least 32 (warp 0
 * reads PT[q][0..31]) */
__host__ __device__ inline int pt_ld(int n) {
    const int l = (n + 3) / 4 * 4;
    return l < 32 ? 32 : l;
}
template <typename C> inline size_t smem_bytes(int n, bool square) {
    return ((square ? (size_t)n * sq_ld(n) : 0) + (size_t)NB * LDD + (size_t)NB * pt_ld(n)) * sizeof(C);
}

/* Warp 0: the diagonal block of rows/columns r0 .. r0+w1-1 (lane = row). UPD: first subtract the
 * last panel's contribution, sum_q PT[q][lane] PT[q][t] (the block's share of the trailing
 * update). Then factor in registers as the baseline does, write the rows of L (zeros above the
 * diagonal inside the block) and Ld (rows of 16 bytes, inverted diagonal, zeros above). */
template <typename C, bool UPD>
__device__ __forceinline__ void diag_block(const C *src, C *S, int ld, int r0, int w1, bool vec, const C *PT, int ptld,
                                           C *Ld, int *fail, int lane) {
    C r[NB];
    const bool mine = lane < w1;
    const C *row = src + (r0 + lane) * ld + r0;
    if (vec && w1 == NB) { /* whole 16-byte groups; the elements above the diagonal are dropped */
#pragma unroll
        for (int g = 0; g < NB / 4; ++g) {
            C t4[4];
            ld4(row + 4 * g, t4);
#pragma unroll
            for (int h = 0; h < 4; ++h) r[4 * g + h] = 4 * g + h <= lane ? t4[h] : C(0);
        }
    } else {
#pragma unroll
        for (int t = 0; t < NB; ++t) r[t] = (mine && t <= lane) ? row[t] : C(0);
    }
    if (UPD) {
        if (sizeof(C) == 4) { /* separate sums: the loads above stay in flight during the products */
            C acc[NB];
#pragma unroll
            for (int t = 0; t < NB; ++t) acc[t] = C(0);
#pragma unroll 4
            for (int q = 0; q < NB; ++q) {
                const C *pq = PT + q * ptld;
                const C p = pq[lane];
#pragma unroll
                for (int g = 0; g < NB / 4; ++g) {
                    C v4[4];
                    ld4(pq + 4 * g, v4);
#pragma unroll
                    for (int h = 0; h < 4; ++h) acc[4 * g + h] += p * v4[h];
                }
            }
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = t <= lane ? r[t] - acc[t] : C(0);
        } else { /* fp64: 64 more registers would not fit; subtract in place */
#pragma unroll 2
            for (int q = 0; q < NB; ++q) {
                const C *pq = PT + q * ptld;
                const C p = pq[lane];
#pragma unroll
                for (int g = 0; g < NB / 4; ++g) {
                    C v4[4];
                    ld4(pq + 4 * g, v4);
#pragma unroll
                    for (int h = 0; h < 4; ++h) r[4 * g + h] -= p * v4[h];
                }
            }
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = t <= lane ? r[t] : C(0);
        }
    }
    int bad = 0;
#pragma unroll
    for (int t = 0; t < NB; ++t) {
        if (t >= w1) break;
        const C d = __shfl_sync(0xffffffffu, r[t], t); /* pivot after all earlier updates */
        if (!(d > C(0)) && !bad) bad = r0 + t + 1;       /* uniform: d is the same in every lane */
        const C ri = rsqrt_(d);                          /* NaN for d <= 0: reported above */
        r[t] = lane == t ? d * ri : r[t] * ri;
#pragma unroll
        for (int q = t + 1; q < NB; ++q) {
            const C lqt = __shfl_sync(0xffffffffu, r[t], q);
            if (lane >= q) r[q] -= r[t] * lqt;
        }
    }
    C dg = C(1);
#pragma unroll
    for (int t = 0; t < NB; ++t)
        if (t == lane) dg = r[t];
    const C dinv = C(1) / dg;
    C *orow = S + (r0 + lane) * ld + r0;
    C *lrow = Ld + lane * LDD;
#pragma unroll
    for (int g = 0; g < NB / 4; ++g) { /* Ld rows of lanes >= w1 are never read (no panel follows) */
        C o[4];
#pragma unroll
        for (int h = 0; h < 4; ++h) {
            const int t = 4 * g + h;
            o[h] = t < lane ? r[t] : (t == lane ? dinv : C(0));
        }
        st4(lrow + 4 * g, o);
    }
    if (vec && w1 == NB) {
#pragma unroll
        for (int g = 0; g < NB / 4; ++g) {
            C o[4];
#pragma unroll
            for (int h = 0; h < 4; ++h) o[h] = 4 * g + h <= lane ? r[4 * g + h] : C(0);
            st4(orow + 4 * g, o);
        }
    } else if (mine) {
#pragma unroll
        for (int t = 0; t < NB; ++t)
            if (t < w1) orow[t] = t <= lane ? r[t] : C(0);
    }
    if (lane == 0 && bad) *fail = bad;
}

/* All threads: the panel rows r0 .. n-1 of columns c0 .. c0+31 (c0 + 32 = r0), x Ld^T = a row
 * per thread; the result goes to S (final L) and to PT[q][s - r0]. */
template <typename C>
__device__ __forceinline__ void panel_rows(const C *src, C *S, int ld, int c0, int r0, int n, bool vec, const C *Ld,
                                           C *PT, int ptld, int tid, int nt) {
    for (int s = r0 + tid; s < n; s += nt) {
        C x[NB];
        const C *row = src + s * ld + c0;
        if (vec) {
#pragma unroll
            for (int g = 0; g < NB / 4; ++g) {
                C t4[4];
                ld4(row + 4 * g, t4);
#pragma unroll
                for (int h = 0; h < 4; ++h) x[4 * g + h] = t4[h];
            }
        } else {
#pragma unroll
            for (int t = 0; t < NB; ++t) x[t] = row[t];
        }
#pragma unroll
        for (int t = 0; t < NB; ++t) {
            C v = x[t], dinv = C(0);
#pragma unroll
            for (int g = 0; g <= t / 4; ++g) {
                C l4[4];
                ld4(Ld + t * LDD + 4 * g, l4); /* broadcast */
#pragma unroll
                for (int h = 0; h < 4; ++h) {
                    const int q = 4 * g + h;
                    if (q < t) v -= x[q] * l4[h];
                    else if (q == t) dinv = l4[h];
                }
            }
            x[t] = v * dinv;
        }
        C *orow = S + s * ld + c0;
        if (vec) {
#pragma unroll
            for (int g = 0; g < NB / 4; ++g) {
                C o[4] = {x[4 * g], x[4 * g + 1], x[4 * g + 2], x[4 * g + 3]};
                st4(orow + 4 * g, o);
            }
        } else {
#pragma unroll
            for (int t = 0; t < NB; ++t) orow[t] = x[t];
        }
#pragma unroll
        for (int t = 0; t < NB; ++t) PT[t * ptld + (s - r0)] = x[t];
    }
}

/* Threads t0 = 0 .. nthr-1 (warps 1..): the trailing triangle below the next diagonal block, rows
 * r0+32 .. n-1, T -= P P^T in 4x4 tiles (tile rows ti >= 8; the 36 tiles with ti < 8 are the
 * diagonal block, warp 0's). Old values are read from src (A in step 0 of the global-memory
 * case), results written to S. */
template <typename C>
__device__ __forceinline__ void syrk_tiles(const C *src, C *S, int ld, int r0, int m, bool vec, const C *PT, int ptld,
                                           int t0, int nthr) {
    const int mt = (m + 3) / 4, ntiles = mt * (mt + 1) / 2;
    for (int tile = 36 + t0; tile < ntiles; tile += nthr) {
        int ti = (int)((sqrtf(8.f * tile + 1.f) - 1.f) * 0.5f);
        while (ti * (ti + 1) / 2 > tile) --ti;
        while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
        const int tj = tile - ti * (ti + 1) / 2;
        const int i0 = 4 * ti, j0 = 4 * tj;
        const bool full = vec && tj < ti && i0 + 3 < m;
        const int off = (r0 + i0) * ld + r0 + j0;
        C old[4][4];
        if (full) {
#pragma unroll
            for (int e = 0; e < 4; ++e) ld4(src + off + e * ld, old[e]);
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f)
                    old[e][f] = (i0 + e < m && j0 + f <= i0 + e) ? src[off + e * ld + f] : C(0);
        }
        C acc[4][4];
#pragma unroll
        for (int e = 0; e < 4; ++e)
#pragma unroll
            for (int f = 0; f < 4; ++f) acc[e][f] = C(0);
#pragma unroll 8
        for (int q = 0; q < NB; ++q) {
            C u[4], v[4];
            ld4(PT + q * ptld + i0, u);
            ld4(PT + q * ptld + j0, v);
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
        }
        if (full) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
                C o[4];
#pragma unroll
                for (int f = 0; f < 4; ++f) o[f] = old[e][f] - acc[e][f];
                st4(S + off + e * ld, o);
            }
        } else {
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f)
                    if (i0 + e < m && j0 + f <= i0 + e) S[off + e * ld + f] = old[e][f] - acc[e][f];
        }
    }
}

/* A, L: (batch, n, n) row-major; info: (batch,). SQUARE: S in shared memory (ld = sq_ld(n)), else
 * S is L itself (ld = n). blockDim.x: a multiple of 32, >= 64, <= NTB. */
template <typename C, bool SQUARE, int NTB, int MINB>
__global__ void __launch_bounds__(NTB, MINB) chol_la_kernel(const C *A, C *L, int32_t *info, int n, int upper) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int fail;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5, nw = nt >> 5;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const C *a = A + b * nn;
    C *l = L + b * nn;
    const int ld = SQUARE ? sq_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *S = SQUARE ? base : l;
    C *Ld = base + (SQUARE ? n * ld : 0);
    C *PT = Ld + NB * LDD;
    const int ptld = pt_ld(n);
    bool vec;
    if (SQUARE) {
        vec = true;
        /* lower triangle into shared memory, four rows per warp in flight (loads before stores) */
        for (int i0 = warp; i0 < n; i0 += 4 * nw) {
            C v[4][8];
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int i = i0 + u * nw, j = lane + 32 * k;
                    v[u][k] = (i < n && j <= i) ? a[i * n + j] : C(0);
                }
#pragma unroll
            for (int u = 0; u < 4; ++u)
#pragma unroll
                for (int k = 0; k < 8; ++k) {
                    const int i = i0 + u * nw, j = lane + 32 * k;
                    if (i < n && j <= i) S[i * ld + j] = v[u][k];
                }
        }
    } else {
        vec = n % 4 == 0 && (reinterpret_cast<uintptr_t>(a) & 15) == 0 && (reinterpret_cast<uintptr_t>(l) & 15) == 0;
        /* step 0 reads A itself; only the zeros above the diagonal are written up front */
        for (int i = warp; i < n; i += nw)
            for (int j = i + 1 + lane; j < n; j += 32) l[i * n + j] = C(0);
    }
    if (tid == 0) fail = 0;
    __syncthreads();
    if (warp == 0) diag_block<C, false>(SQUARE ? S : a, S, ld, 0, min(NB, n), vec, PT, ptld, Ld, &fail, lane);
    __syncthreads();
    for (int c0 = 0; c0 + NB < n; c0 += NB) {
        if (fail) break; /* uniform; like potrf, stop at the first failing minor */
        const int r0 = c0 + NB, m = n - r0;
        const C *src = (SQUARE || c0 > 0) ? S : a;
        panel_rows<C>(src, S, ld, c0, r0, n, vec, Ld, PT, ptld, tid, nt);
        __syncthreads();
        if (warp == 0) diag_block<C, true>(src, S, ld, r0, min(NB, m), vec, PT, ptld, Ld, &fail, lane);
        else syrk_tiles<C>(src, S, ld, r0, m, vec, PT, ptld, tid - 32, nt - 32);
        __syncthreads();
    }
    if (SQUARE) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32)
                l[i * n + j] = upper ? (i <= j ? S[j * ld + i] : C(0)) : (j <= i ? S[i * ld + j] : C(0));
    } else if (upper) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < i; j += 32) { /* each pair (i, j), j < i, belongs to this thread only */
                l[j * n + i] = l[i * n + j];
                l[i * n + j] = C(0);
            }
    }
    if (tid == 0) info[b] = fail;
}
} // namespace la

// ==== KERNELS END ===================================================================================

// ---- launchers ----------------------------------------------------------------------------------
static int g_max_smem = 0; // opt-in limit per block

// mode: 0 = as the library chooses (shared memory while two blocks fit), 1 = global memory,
// 2 = shared memory. Returns false when the mode cannot run for this n.
template <typename T> static bool launch_base(const T *A, T *L, int32_t *info, int batch, int n, int upper, int mode) {
    using namespace baseline;
    const int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    const size_t square = (size_t)chol_smem_elems<T>(n, true) * sizeof(T);
    const size_t glob = (size_t)chol_smem_elems<T>(n, false) * sizeof(T);
    bool sq = mode == 2 || (mode == 0 && square <= (size_t)g_max_smem / 2);
    if (sq && square > (size_t)g_max_smem) return false;
    if (!sq && glob > (size_t)g_max_smem) return false;
    if (sq) {
        CK(cudaFuncSetAttribute(chol_blocked_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)square));
        chol_blocked_kernel<T, true><<<batch, threads, square>>>(A, L, info, n, upper);
    } else {
        CK(cudaFuncSetAttribute(chol_blocked_kernel<T, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)glob));
        chol_blocked_kernel<T, false><<<batch, threads, glob>>>(A, L, info, n, upper);
    }
    CK(cudaGetLastError());
    return true;
}

template <typename T, int NTB, int MINB>
static bool launch_la(const T *A, T *L, int32_t *info, int batch, int n, int upper, int mode) {
    using namespace la;
    int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    if (NTB > 256) threads *= 2;
    if (threads > NTB) threads = NTB;
    const size_t square = smem_bytes<T>(n, true), glob = smem_bytes<T>(n, false);
    bool sq = mode == 2 || (mode == 0 && square <= (size_t)g_max_smem / 2);
    if (sq && square > (size_t)g_max_smem) return false;
    if (!sq && glob > (size_t)g_max_smem) return false;
    if (sq) {
        CK(cudaFuncSetAttribute(chol_la_kernel<T, true, NTB, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)square));
        chol_la_kernel<T, true, NTB, MINB><<<batch, threads, square>>>(A, L, info, n, upper);
    } else {
        CK(cudaFuncSetAttribute(chol_la_kernel<T, false, NTB, MINB>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)glob));
        chol_la_kernel<T, false, NTB, MINB><<<batch, threads, glob>>>(A, L, info, n, upper);
    }
    CK(cudaGetLastError());
    return true;
}

template <typename T> struct Cfg {
    const char *name;
    bool (*fn)(const T *, T *, int32_t *, int, int, int, int);
};
template <typename T> static std::vector<Cfg<T>> configs();
// fp32: <= 128 registers (two 256-thread blocks per SM); fp64: one block per SM as the baseline
// (218 registers), so up to 255 registers and no spills. (A 256-thread fp32 variant capped at 80
// registers for three blocks per SM spilled ~500 bytes in the diagonal factorisation: left out.)
template <> std::vector<Cfg<float>> configs<float>() {
    return {{"base", launch_base<float>}, {"la256", launch_la<float, 256, 2>}, {"la512", launch_la<float, 512, 1>}};
}
template <> std::vector<Cfg<double>> configs<double>() {
    return {{"base", launch_base<double>}, {"la256", launch_la<double, 256, 1>}};
}

// ---- host reference and checks ------------------------------------------------------------------
static int n_pass = 0, n_fail = 0;

// symmetric positive definite: G G^T / n + shift I, optionally graded by D = diag(2^(-8 i / n))
static std::vector<double> make_spd(int n, double shift, bool graded, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> G((size_t)n * n), A((size_t)n * n);
    for (auto &x : G) x = N(g);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = 0;
            for (int k = 0; k < n; ++k) s += G[(size_t)i * n + k] * G[(size_t)j * n + k];
            s = s / n + (i == j ? shift : 0.0);
            if (graded) s *= std::ldexp(1.0, -(8 * i) / std::max(n, 1)) * std::ldexp(1.0, -(8 * j) / std::max(n, 1));
            A[(size_t)i * n + j] = A[(size_t)j * n + i] = s;
        }
    return A;
}

enum Kind { SPD, SPD_ILL, GRADED, NONSPD, NANIN, DIAG, NONSPD_EDGE, SPD2, NKINDS };
static const char *kind_name[] = {"spd", "spd-ill", "graded", "non-spd", "nan", "diag", "non-spd-edge", "spd"};

struct Case {
    std::vector<double> A; // exactly representable in T, symmetric (for NONSPD: as built)
    int expect_info;       // 0, p > 0 exact, or -1 = NaN case (info != 0 or NaN in L)
};

template <typename T> static Case make_case(int n, int kind, int b, std::mt19937 &g) {
    Case c;
    c.expect_info = 0;
    if (kind == DIAG) {
        c.A.assign((size_t)n * n, 0.0);
        std::uniform_real_distribution<double> U(0.5, 4.0);
        for (int i = 0; i < n; ++i) c.A[(size_t)i * n + i] = U(g);
    } else {
        c.A = make_spd(n, kind == SPD_ILL ? 1e-3 : 0.5, kind == GRADED, g);
    }
    for (auto &x : c.A) x = (double)(T)x;
    if (kind == NONSPD || kind == NONSPD_EDGE) {
        const int p = kind == NONSPD ? 1 + (b * 7919 + 3 * n) % n : (b % 2 ? 1 : n);
        c.A[(size_t)(p - 1) * n + (p - 1)] = -1.0; // leading minors 1..p-1 unchanged, pivot p < 0
        c.expect_info = p;
    }
    if (kind == NANIN) {
        c.A[(size_t)(n - 1) * n] = NAN; // lower triangle, (n-1, 0)
        c.expect_info = -1;
    }
    return c;
}

// checks one output; returns residual / (n eps) (or -1 for non-SPD / NaN cases); sets why on failure
template <typename T>
static double check_one(int n, const Case &c, const T *Lo, int info, bool upper, const char *&why) {
    const double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    if (c.expect_info == -1) {
        bool nan = false;
        for (int i = 0; i < n * n; ++i) nan |= std::isnan((double)Lo[i]);
        if (info == 0 && !nan) why = "NaN input: info 0 and no NaN";
        return -1;
    }
    if (c.expect_info > 0) {
        if (info != c.expect_info) why = "wrong info for non-SPD";
        return -1;
    }
    if (info != 0) {
        why = "info != 0 for SPD";
        return 1e30;
    }
    auto Lm = [&](int i, int j) -> double { return upper ? (double)Lo[(size_t)j * n + i] : (double)Lo[(size_t)i * n + j]; };
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j)
            if (Lm(i, j) != 0.0) {
                why = "nonzero in the other triangle";
                return 1e30;
            }
    double r2 = 0, a2 = 0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = 0;
            for (int k = 0; k <= j; ++k) s += Lm(i, k) * Lm(j, k);
            const double d = s - c.A[(size_t)i * n + j], w = i == j ? 1 : 2;
            if (!std::isfinite(d)) {
                why = "non-finite L";
                return 1e30;
            }
            r2 += w * d * d;
            a2 += w * c.A[(size_t)i * n + j] * c.A[(size_t)i * n + j];
        }
    const double res = std::sqrt(r2) / std::sqrt(a2 > 0 ? a2 : 1.0) / (n * eps);
    if (!(res <= 30)) why = "residual > 30 n eps";
    return res;
}

template <typename T> static void check_size(int n, std::mt19937 &g) {
    const int batch = NKINDS;
    std::vector<Case> cases;
    for (int b = 0; b < batch; ++b) cases.push_back(make_case<T>(n, b, b, g));
    std::vector<T> ha((size_t)batch * n * n);
    for (int b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                double v = cases[b].A[(size_t)i * n + j];
                if (j > i) v = (b % 2) ? NAN : cases[b].A[(size_t)j * n + i]; // upper of A must be ignored
                ha[((size_t)b * n + i) * n + j] = (T)v;
            }
    T *dA, *dL;
    int32_t *dinfo;
    CK(cudaMalloc(&dA, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dL, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMemcpy(dA, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    std::vector<T> hl(ha.size());
    std::vector<int32_t> info(batch);
    for (const auto &cfg : configs<T>())
        for (int mode = 0; mode < 3; ++mode)
            for (int upper = 0; upper < 2; ++upper) {
                CK(cudaMemset(dL, 0x7f, ha.size() * sizeof(T))); // garbage everywhere
                CK(cudaMemset(dinfo, 0x7f, batch * sizeof(int32_t)));
                if (!cfg.fn(dA, dL, dinfo, batch, n, upper, mode)) continue;
                CK(cudaDeviceSynchronize());
                CK(cudaMemcpy(hl.data(), dL, hl.size() * sizeof(T), cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
                const char *why = nullptr;
                double worst = 0;
                int bad_b = -1;
                for (int b = 0; b < batch; ++b) {
                    const char *w = nullptr;
                    const double r = check_one<T>(n, cases[b], &hl[(size_t)b * n * n], info[b], upper, w);
                    worst = std::max(worst, r);
                    if (w && !why) why = w, bad_b = b;
                }
                const bool ok = !why;
                static const char *mname[] = {"auto", "global", "shared"};
                printf("%s %s n=%3d %-8s %-6s %s res=%.3f (units of n*eps, tol 30)%s%s", ok ? "PASS" : "FAIL",
                       sizeof(T) == 4 ? "f32" : "f64", n, cfg.name, mname[mode], upper ? "U" : "L", worst,
                       ok ? "" : " ", ok ? "" : why);
                if (!ok) printf(" (matrix %d, %s, info %d expected %d)", bad_b, kind_name[bad_b], info[bad_b], cases[bad_b].expect_info);
                printf("\n");
                (ok ? n_pass : n_fail)++;
            }
    CK(cudaFree(dA));
    CK(cudaFree(dL));
    CK(cudaFree(dinfo));
}

template <typename T> static void time_case(int n, int batch, std::mt19937 &g) {
    const int distinct = 4;
    std::vector<Case> cases;
    for (int k = 0; k < distinct; ++k) cases.push_back(make_case<T>(n, k % 2 ? SPD_ILL : SPD, 0, g));
    const size_t nn = (size_t)n * n;
    std::vector<T> ha(nn * batch);
    for (int b = 0; b < batch; ++b)
        for (size_t i = 0; i < nn; ++i) ha[b * nn + i] = (T)cases[b % distinct].A[i];
    T *dA, *dL;
    int32_t *dinfo;
    CK(cudaMalloc(&dA, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dL, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMemcpy(dA, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double base_ms = 0;
    for (const auto &cfg : configs<T>()) {
        CK(cudaMemset(dL, 0x7f, ha.size() * sizeof(T)));
        CK(cudaMemset(dinfo, 0x7f, batch * sizeof(int32_t)));
        for (int i = 0; i < 3; ++i) cfg.fn(dA, dL, dinfo, batch, n, 0, 0);
        CK(cudaDeviceSynchronize());
        std::vector<float> ms;
        for (int r = 0; r < 15; ++r) {
            CK(cudaEventRecord(e0));
            cfg.fn(dA, dL, dinfo, batch, n, 0, 0);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        // re-check: every info, and matrices 0, 1, batch-1 of the timed output
        std::vector<int32_t> info(batch);
        CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
        int nbad = 0;
        for (int b = 0; b < batch; ++b) nbad += info[b] != 0;
        double worst = 0;
        const char *why = nbad ? "info != 0" : nullptr;
        std::vector<T> hl(nn);
        for (int b : {0, 1, batch - 1}) {
            CK(cudaMemcpy(hl.data(), dL + (size_t)b * nn, nn * sizeof(T), cudaMemcpyDeviceToHost));
            const char *w = nullptr;
            worst = std::max(worst, check_one<T>(n, cases[b % distinct], hl.data(), info[b], false, w));
            if (w && !why) why = w;
        }
        const double med = ms[ms.size() / 2];
        if (cfg.fn == configs<T>()[0].fn) base_ms = med;
        printf("TIME %s %5d x %3d %-8s median %.4f ms (min %.4f, max %.4f)  %.3fx base  check %s res=%.3f%s%s\n",
               sizeof(T) == 4 ? "f32" : "f64", batch, n, cfg.name, med, ms[0], ms.back(), base_ms / med,
               why ? "FAIL" : "PASS", worst, why ? " " : "", why ? why : "");
        (why ? n_fail : n_pass)++;
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaFree(dA));
    CK(cudaFree(dL));
    CK(cudaFree(dinfo));
}

int main(int argc, char **argv) {
    const bool do_check = argc < 2 || !strcmp(argv[1], "check");
    const bool do_time = argc < 2 || !strcmp(argv[1], "time");
    int dev = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&g_max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    printf("device: %s, %d SMs, opt-in shared memory per block %d bytes\n", prop.name, prop.multiProcessorCount, g_max_smem);
    std::mt19937 g(20261125);
    if (do_check) {
        const int sizes[] = {1, 2, 17, 31, 32, 33, 50, 64, 100, 128, 129, 200, 255, 256};
        for (int n : sizes) check_size<float>(n, g);
        for (int n : sizes) check_size<double>(n, g);
        printf("chol_batched checks: %d passed, %d failed\n", n_pass, n_fail);
    }
    if (do_time) {
        time_case<float>(256, 1000, g);
        time_case<float>(64, 10000, g);
        time_case<float>(128, 1000, g);
        time_case<double>(256, 1000, g);
    }
    printf("chol_batched: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
