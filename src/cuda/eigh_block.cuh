/* eigh for mid-size matrices (33 <= n <= 64 in float and double, 65 <= n <= 128 in float) on CUDA:
 * the register-resident two-sided parallel Jacobi of eigh_warp.cuh widened from one warp to one
 * thread block per matrix, one matrix row per thread.
 *
 * Same contract and semantics as eigh.cu / eigh_warp.cuh: a (batch, n, n) at element strides
 * (sb, sr, sc), only the lower triangle read; w ascending (ties by index), q row major with column
 * j the eigenvector of w[j]; info = 0 when converged, else the sweeps done (MC_JACOBI_MAX_SWEEPS);
 * exact power-of-two scaling; NaN/Inf anywhere in the lower triangle -> all of that matrix's w and
 * q NaN; rotate (p, q) only if |apq| > eps ||A||_F and |apq| > eps sqrt|app| sqrt|aqq|; stop after a
 * sweep without rotation.
 *
 * Schedule and layout (see eigh_warp.cuh for the full argument): NP = 64 or 128 indices are the
 * elements of GF(NP) (primitive polynomials x^6 + x + 1 and x^7 + x + 1, alpha = x); round t of a
 * sweep (t = 0..NP-2) pairs index i with i ^ v_t, v_t = alpha^t; the thread of row i holds in its
 * register j the column i ^ M_t(j), M_t = multiplication by alpha^t, so register 0 is the
 * diagonal, register 1 the pair's off-diagonal, the partner row's register j ^ 1 holds the column
 * of register j (row rotation = one exchange per register), register pairs (j, j ^ 1) are column
 * pairs of the round (column rotation register-local), and the next round is the compile-time
 * renaming R[j] <- R[alpha j]; alpha^(NP-1) = 1 restores M = identity at the end of a sweep.
 *
 * What is new for NP > 32 (the choices, and why):
 *  - One row per thread, NP threads for A: rounds whose v_t < 32 keep the partner in the same warp
 *    (one __shfl_xor_sync per register, as in eigh_warp); rounds with v_t >= 32 (half of them)
 *    pair lane l of one warp with lane l ^ (v_t & 31) of another, and rows go through shared
 *    memory: each thread stores its row (column-major by register, xb[j][row]: consecutive threads
 *    consecutive words, no bank conflicts; the partner reads the same register j ^ 1 of row
 *    i ^ v_t, a permutation inside one aligned 32-word group: no conflicts either). Cost of such
 *    a round: one store + one load per register instead of one shuffle, and one extra named
 *    barrier (bar.sync 1, NP: only the A-threads) between publishing (A[i][i], A[i][i^v]) and
 *    reading the partner's pair. One exchange buffer suffices: slots 0 and 1 (diagonal, pair
 *    off-diagonal) are read before the round's block barrier and rewritten only after it;
 *    slots j >= 2 are read after that barrier and rewritten only after the next barrier of the
 *    A-threads (the next cross-warp round's named barrier, or an intervening block barrier).
 *  - The (c, s) table (every thread needs the rotation of every column pair of the round) is
 *    written by the A-threads and read after one block barrier per round, __syncthreads_or,
 *    which also returns "some pair of the matrix rotates"; when none does the round only
 *    renames registers. The table is double-buffered by round parity, so one barrier per round
 *    suffices (a thread writes buffer b again only after the next round's barrier, which every
 *    reader of buffer b reaches after its reads).
 *  - Where V lives. FUSED (float, NP = 64): the thread of row i also holds row i of V (64 + 64
 *    registers, like eigh_warp at NP = 32 in double); one (c, s) load serves both the A and the V
 *    column rotation. SPLIT (double at NP = 64, float at NP = 128: 2 NP values would not fit in
 *    255 registers): a second group of NP threads (warps NP/32 .. 2 NP/32 - 1) holds the rows of
 *    V; they never exchange anything, they only wait at the block barrier, load the (c, s) table
 *    and rotate their register pairs. Two rows per lane in a single warp (A 2 x 64 + V 2 x 64 =
 *    256 floats) would not fit; V in shared memory would add a load and a store per element and
 *    round, more than the table loads it saves.
 *  - One matrix per block (64, 128 or 256 threads), not a multi-matrix block: the barriers are
 *    then plain block barriers, and a finished matrix frees its slot for the next block.
 *    ptxas (nvcc 13.0, sm_90), no spills: float NP = 64 FUSED 208 registers (4 blocks per SM:
 *    1000 matrices = 7.6 per SM = two balanced waves; capping at 5 blocks spills), float NP = 64
 *    SPLIT 168 (3 blocks), double NP = 64 SPLIT 255 (2 blocks), float NP = 128 SPLIT 255 (1
 *    block, 256 threads use the whole register file; 100 matrices < 132 SMs). Double at NP = 128
 *    (128 doubles per thread) is not offered.
 *  - The sweep loop is not unrolled: the renaming becomes register moves at the back edge
 *    (NP or 2 NP moves per round), the price of a loop body that stays in the instruction cache
 *    (the whole fused kernel is ~5000 SASS instructions, with a shuffle and a shared-memory
 *    variant of the row rotation; unrolling by 3 (63 = 3 x 21) would cut the moves by 2/3).
 * Per round and thread: NP exchanges (shuffles, or a store and a load), NP/2 table loads (8 or 16
 * bytes), about 6 NP (fused) or 4 NP / 2 NP (split, A / V) multiplies; the shared-memory /
 * shuffle pipe (128 bytes per clock per SM) is the expected bound. Host checks: a C++ model of the
 * schedule (index algebra asserted) and an emulation of this kernel's source with every thread a
 * fiber and randomized scheduling at each synchronisation point; timings and device checks:
 * bench/harness/eigh_block.cu.
 * Idea of the parallel two-sided Jacobi with one row per processor: Brent & Luk (1985); the
 * GF(2^m) register layout is ours (eigh_warp.cuh). */
#ifndef MC_CUDA_EIGH_BLOCK_CUH
#define MC_CUDA_EIGH_BLOCK_CUH

#include <cstdint>

#include "../core/jacobi.h"
#include "jacobi.cuh"

namespace mc {
namespace eigh_block {

using mc::jacobi::kFull;
using mc::jacobi::log2i;
using mc::jacobi::mul_alpha; /* GF(NP) for NP = 64, 128 here */
using mc::jacobi::Rot;

/* largest n per dtype: float 128, double 64 (double at NP = 128 would need 256 registers per thread) */
template <typename T> __host__ __device__ constexpr int max_n() { return sizeof(T) == 4 ? 128 : 64; }

/* float at NP = 64: A and V rows in one thread; otherwise A-threads and V-threads */
template <typename T, int NP> struct DefaultFused {
    static constexpr bool value = sizeof(T) == 4 && NP == 64;
};

template <int NP, bool FUSED> __host__ __device__ constexpr int threads() { return FUSED ? NP : 2 * NP; }

template <typename T, int NP> __host__ __device__ constexpr size_t smem_bytes() {
    /* exchange buffer NP x NP, (c, s) tables 2 x NP, diagonal NP, inverse ranks NP */
    return (size_t)NP * NP * sizeof(T) + 2 * NP * sizeof(Rot<T>) + NP * sizeof(T) + NP * sizeof(int);
}

__device__ __forceinline__ void bar_named(int id, int count) {
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(count) : "memory");
}

/* Rows of A (and of V when FUSED) after the rotation of round (vt, bk): the row rotation with the
 * partner row (CROSS: from the exchange buffer xb, else by shuffle), then the column rotations
 * with the (c, s) table rb. Pair (0, 1) is set exactly (diagonal, zero off-diagonal). */
template <typename T, int NP, bool FUSED, bool CROSS, int NY>
__device__ __forceinline__ void update_a(const T (&X)[NP], const T (&Y)[NY], T (&nX)[NP], T (&nY)[NY],
                                         const T *xb, const Rot<T> *rb, int i, int p, int vt, const int *bk,
                                         bool rot, bool lead, T c, T sp, T tt, T app, T aqq, T apq) {
    constexpr int LOG = log2i<NP>();
    nX[0] = rot ? (lead ? app - tt * apq : aqq + tt * apq) : X[0];
    nX[1] = rot ? (T)0 : X[1];
    if (FUSED) {
        nY[0] = c * Y[0] - sp * Y[1];
        nY[1] = sp * Y[0] + c * Y[1];
    }
#pragma unroll
    for (int j = 2; j < NP; j += 2) {
        int m = 0; /* M_t(j) = alpha^t j */
#pragma unroll
        for (int k = 1; k < LOG; ++k)
            if ((j >> k) & 1) m ^= bk[k];
        T pj, pj1;
        if (CROSS) {
            pj = xb[(j + 1) * NP + p];
            pj1 = xb[j * NP + p];
        } else {
            pj = __shfl_xor_sync(kFull, X[j + 1], vt);
            pj1 = __shfl_xor_sync(kFull, X[j], vt);
        }
        const T x = c * X[j] - sp * pj, y = c * X[j + 1] - sp * pj1;
        const Rot<T> r = rb[i ^ m];
        nX[j] = r.c * x - r.s * y;
        nX[j + 1] = r.s * x + r.c * y;
        if (FUSED) {
            const T vx = Y[j], vy = Y[j + 1];
            nY[j] = r.c * vx - r.s * vy;
            nY[j + 1] = r.s * vx + r.c * vy;
        }
    }
}

template <typename T, int NP, bool FUSED>
__global__ void __launch_bounds__(threads<NP, FUSED>(), 1)
    eigh_block_kernel(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, T *__restrict__ w,
                      T *__restrict__ q, int32_t *__restrict__ info, int n, int32_t *__restrict__ sweeps_out) {
    using mc::jacobi::Real;
    constexpr int LOG = log2i<NP>(), NT = threads<NP, FUSED>(), NY = FUSED ? NP : 1;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    T *xs = reinterpret_cast<T *>(smem_raw);             /* NP x NP: input, exchange, output */
    Rot<T> *tab = reinterpret_cast<Rot<T> *>(xs + NP * NP); /* 2 x NP */
    T *dg = reinterpret_cast<T *>(tab + 2 * NP);                /* NP */
    int *inv = reinterpret_cast<int *>(dg + NP);                /* NP */
    __shared__ T red[32];

    const int tid = threadIdx.x;
    const bool isA = FUSED || tid < NP; /* warp-uniform */
    const int i = FUSED ? tid : (tid < NP ? tid : tid - NP);
    const int64_t b = blockIdx.x;
    const T *ab = a + b * sb;
    const int nn = n * n;

    /* lower triangle -> xs[r][k] (k <= r), read in logical row-major order; its largest magnitude
     * and whether it holds NaN/Inf */
    T mx = 0;
    bool badl = false;
    for (int e = tid; e < nn; e += NT) {
        const int r = e / n, k = e - r * n;
        if (k <= r) {
            const T x = ab[(int64_t)r * sr + (int64_t)k * sc];
            const T ax = fabs(x);
            if (!(ax < (T)INFINITY)) badl = true;
            else mx = max(mx, ax);
            xs[r * NP + k] = x;
        }
    }
    const bool bad = __syncthreads_or(badl) != 0;
    const T scale = mc::jacobi::pow2_scale(mc::jacobi::block_max(mx, red)); /* its barriers publish xs */

    /* register j of row i: A[i][i ^ j] scaled (A-threads), V = I (V-threads, and Y when FUSED) */
    T X[NP], Y[NY];
    T sq = 0;
#pragma unroll
    for (int j = 0; j < NP; ++j) {
        const int cj = i ^ j;
        T x = 0;
        if (isA && !bad && i < n && cj < n) x = (cj <= i ? xs[i * NP + cj] : xs[cj * NP + i]) * scale;
        sq += x * x;
        X[j] = isA ? x : (j == 0 ? (T)1 : (T)0);
        if (FUSED) Y[j < NY ? j : 0] = j == 0 ? (T)1 : (T)0;
    }
    const T eps = Real<T>::eps;
    const T abs_tol = eps * sqrt(mc::jacobi::block_sum(sq, red));

    int tbuf = 0, sweeps = 0;
    bool more = true;
    while (more && sweeps < MC_JACOBI_MAX_SWEEPS) {
        bool rs = false;
        int vt = 1;
#pragma unroll 1
        for (int t = 0; t < NP - 1; ++t) {
            const int hb = 1 << (31 - __clz(vt));
            const bool lead = (i & hb) == 0;
            const int p = i ^ vt;
            const bool cross = vt >= 32; /* block-uniform */
            T *xb = xs;
            Rot<T> *rb = tab + tbuf * NP;
            tbuf ^= 1;
            bool rot = false;
            T c = 1, sp = 0, tt = 0, app = 0, aqq = 0, apq = 0;
            if (isA) {
                T pd, po;
                if (cross) {
                    xb[i] = X[0];
                    xb[NP + i] = X[1];
                    bar_named(1, NP);
                    pd = xb[p];
                    po = xb[NP + p];
#pragma unroll
                    for (int j = 2; j < NP; ++j) xb[j * NP + i] = X[j]; /* read after the block barrier */
                } else {
                    pd = __shfl_xor_sync(kFull, X[0], vt);
                    po = __shfl_xor_sync(kFull, X[1], vt);
                }
                app = lead ? X[0] : pd;
                aqq = lead ? pd : X[0];
                apq = lead ? X[1] : po;
                rot = fabs(apq) > abs_tol && fabs(apq) > eps * sqrt(fabs(app)) * sqrt(fabs(aqq));
                T s = 0;
                if (rot) Real<T>::schur(app, aqq, apq, &c, &s, &tt);
                sp = lead ? s : -s; /* this row's sign: new row = c R - sp P */
                rb[i] = Rot<T>{c, sp};
            }
            const bool any = __syncthreads_or(rot) != 0;
            rs |= any;
            T nX[NP], nY[NY];
            if (any) {
                int bk[LOG];
                bk[0] = vt;
#pragma unroll
                for (int k = 1; k < LOG; ++k) bk[k] = mul_alpha<NP>(bk[k - 1]);
                if (isA) {
                    if (cross)
                        update_a<T, NP, FUSED, true, NY>(X, Y, nX, nY, xb, rb, i, p, vt, bk, rot, lead, c, sp, tt,
                                                         app, aqq, apq);
                    else
                        update_a<T, NP, FUSED, false, NY>(X, Y, nX, nY, xb, rb, i, p, vt, bk, rot, lead, c, sp, tt,
                                                          app, aqq, apq);
                } else { /* V-thread (SPLIT): column rotations only */
#pragma unroll
                    for (int j = 0; j < NP; j += 2) {
                        int m = 0;
#pragma unroll
                        for (int k = 1; k < LOG; ++k)
                            if ((j >> k) & 1) m ^= bk[k];
                        const Rot<T> r = rb[i ^ m];
                        nX[j] = r.c * X[j] - r.s * X[j + 1];
                        nX[j + 1] = r.s * X[j] + r.c * X[j + 1];
                    }
                }
            } else {
#pragma unroll
                for (int j = 0; j < NP; ++j) nX[j] = X[j];
#pragma unroll
                for (int j = 0; j < NY; ++j) nY[j] = Y[j];
            }
#pragma unroll
            for (int j = 0; j < NP; ++j) X[j] = nX[mul_alpha<NP>(j)];
            if (FUSED) {
#pragma unroll
                for (int j = 0; j < NY; ++j) Y[j] = nY[mul_alpha<NP>(j) % NY];
            }
            vt = mul_alpha<NP>(vt);
        }
        more = rs;
        ++sweeps;
    }

    /* ascending eigenvalues by rank counting (ties by index); eigenvectors follow */
    if (isA) dg[i] = X[0];
    __syncthreads(); /* also: every read of the exchange buffer is done */
    if (isA && i < n) {
        const T d = X[0];
        int rank = 0;
        for (int k = 0; k < n; ++k) {
            const T dk = dg[k];
            rank += dk < d || (dk == d && k < i);
        }
        inv[rank] = i;
        w[b * n + rank] = bad ? (T)NAN : d / scale;
    }
    if (tid == 0) {
        info[b] = more ? sweeps : 0;
        if (sweeps_out) sweeps_out[b] = sweeps;
    }
    if (FUSED) {
#pragma unroll
        for (int j = 0; j < NP; ++j) xs[i * NP + (i ^ j)] = bad ? (T)NAN : Y[j % NY];
    } else if (!isA) {
#pragma unroll
        for (int j = 0; j < NP; ++j) xs[i * NP + (i ^ j)] = bad ? (T)NAN : X[j];
    }
    __syncthreads();
    T *qb = q + b * (int64_t)nn;
    for (int e = tid; e < nn; e += NT) {
        const int r = e / n, k = e - r * n;
        qb[e] = xs[r * NP + inv[k]];
    }
}

/* One configuration (NP = 64 or 128, FUSED or not); 1 <= n <= NP. */
template <typename T, int NP, bool FUSED>
cudaError_t launch_cfg(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch,
                       int n, cudaStream_t stream, int32_t *sweeps_out) {
    if (n < 1 || n > NP || batch < 0 || batch > 0x7fffffffLL) return cudaErrorInvalidValue;
    if (batch == 0) return cudaGetLastError();
    constexpr size_t smem = smem_bytes<T, NP>();
    auto kern = eigh_block_kernel<T, NP, FUSED>;
    cudaError_t e = cudaFuncSetAttribute(kern, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    kern<<<(unsigned)batch, threads<NP, FUSED>(), smem, stream>>>(a, sb, sr, sc, w, q, info, n, sweeps_out);
    return cudaGetLastError();
}

/* Same as launch; sweeps_out (batch int32, may be null) receives the sweeps each matrix ran
 * (including the final sweep without rotation). */
template <typename T>
cudaError_t launch_ex(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch,
                      int n, cudaStream_t stream, int32_t *sweeps_out) {
    if (n < 1 || n > max_n<T>()) return cudaErrorInvalidValue;
    if (n <= 64)
        return launch_cfg<T, 64, DefaultFused<T, 64>::value>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    if constexpr (sizeof(T) == 4) /* double at NP = 128 would need 256 registers per thread */
        return launch_cfg<T, 128, false>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    return cudaErrorInvalidValue;
}

/* Bytes of shared memory per block (dynamic + the static reduction scratch) that launch needs for
 * n: the device's opt-in limit must allow it (68.7 kB at float n > 64, else at most 35.9 kB). */
template <typename T> constexpr size_t smem_needed(int n) {
    return (n <= 64 ? smem_bytes<T, 64>() : smem_bytes<T, 128>()) + 32 * sizeof(T);
}

/* a: (batch, n, n) at element strides (sb, sr, sc), lower triangle read; w: (batch, n); q: (batch,
 * n, n) contiguous; info: (batch,). 1 <= n <= max_n<T>() (double 64, float 128); meant for n > 32
 * (below, eigh_warp.cuh is faster): eigh.cu sends 33 <= n <= max_n<T>() here. Runs on stream; no
 * allocation, no sync. */
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                   cudaStream_t stream) {
    return launch_ex<T>(a, sb, sr, sc, w, q, info, batch, n, stream, nullptr);
}

} // namespace eigh_block
} // namespace mc

#endif
