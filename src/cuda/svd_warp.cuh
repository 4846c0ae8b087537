/* svd on CUDA for small matrices: one-sided (Hestenes) Jacobi with the matrix held in registers.
 * n <= 32 columns, n <= m <= 64 rows, reduced U only (uc == n); fp32 and fp64.
 *
 * Layout: a segment of NP lanes (NP = n rounded up to 8, 16 or 32) owns one matrix, so a warp
 * holds 32 / NP matrices (4 matrices of n <= 8 per warp, 2 of n <= 16). Lane j of a segment
 * keeps column j of A (A[MP], MP = m rounded up to 8/16/32/48/64, rows >= m zero) and column j of
 * V (V[NP]) in registers; lanes j >= n hold zero columns, which never rotate (norm^2 0 <= small).
 * Every register array is indexed by compile-time constants only (the loops over rows are fully
 * unrolled; a dynamic index would go to local memory), so the only dynamic quantity is the
 * source lane of __shfl_sync.
 *
 * A round of the round-robin schedule (the pairs of mc_round_robin_pair; lane j's partner is
 * (2r - j) mod (n2 - 1), with n2 - 1 paired to r) pairs every lane with one partner. Each lane
 * fetches the partner's A column (MP shuffles; kept in registers when small, else fetched again
 * for the update), its norm^2 (1 shuffle), and forms ga = a_p . a_q itself. Both lanes of a pair
 * compute bit-identical (al, be, ga): the products a_p[i] * a_q[i] are commutative, the sums run
 * in the same order in both, and each lane's own norm^2 is sent to the partner rather than
 * recomputed, so the two lanes agree on the rotation test and on (c, s). The lower index p then
 * stores c a_p - s a_q, the higher q stores s a_p + c a_q (the convention of svd.cu); V columns
 * follow with NP shuffles, fetched only when some lane of the warp rotates this round (late
 * sweeps mostly skip them). The rotation test, exact power-of-two scaling, small = eps^2 ||A||_F^2,
 * the stop after a sweep without a rotation, the sweep limit, the descending order with ties by
 * index and the Gram-Schmidt completion of the U columns whose sig^2 <= small mirror
 * src/cuda/svd.cu. A sweep without a rotation leaves the matrix unchanged, so a segment that
 * converged before the others of its warp stays converged while they go on (its sweep count
 * stops). NaN/Inf in a matrix gives NaN u, s, v for it (info 0, as svd.cu after zeroing it).
 *
 * Output stores: lane j writes row i of U / V at column rank(j): the NP lanes of a segment write
 * a permutation of one contiguous row, so the stores coalesce without shared-memory staging.
 * Block = 4 warps. */
#ifndef MC_CUDA_SVD_WARP_CUH
#define MC_CUDA_SVD_WARP_CUH

#include <cfloat>
#include <cstdint>
#include <cuda_runtime.h>

#include "../core/jacobi.h"
#include "jacobi.cuh"

namespace mc {
namespace svd_warp {

using mc::jacobi::Real;
using mc::jacobi::pow2_scale;

constexpr int kWarps = 4; /* warps per block */
#ifndef KSTORE_BYTES
#define KSTORE_BYTES 256
#endif

template <typename T, int NP> __device__ __forceinline__ T seg_sum(T v) {
#pragma unroll
    for (int o = NP / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <typename T, int NP> __device__ __forceinline__ T seg_max(T v) {
#pragma unroll
    for (int o = NP / 2; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* a: (batch, m, n) at element strides (sb, sr, sc); u: (batch, m, n); s: (batch, n);
 * v: (batch, n, n); info: (batch,). MP >= m, NP >= n. */
template <typename T, int MP, int NP>
__global__ void __launch_bounds__(32 * kWarps, 1)
    svd_warp_kernel(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, T *__restrict__ u,
                    T *__restrict__ so, T *__restrict__ vo, int32_t *__restrict__ info, int64_t batch, int m,
                    int n) {
    static_assert(NP == 8 || NP == 16 || NP == 32, "NP");
    static_assert(MP >= NP && MP <= 64, "MP");
    constexpr int G = 32 / NP;                        /* matrices per warp */
    constexpr bool kStore = MP * sizeof(T) <= KSTORE_BYTES; /* keep the partner's column in registers */
    constexpr unsigned FULL = 0xffffffffu;

    const int lane = threadIdx.x & 31;
    const int j = lane % NP, base = lane - j;
    const int64_t b0 = ((int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5)) * G;
    if (b0 >= batch) return; /* whole warp idle: no collective below involves it */
    const int64_t b = b0 + lane / NP;
    const bool live = b < batch; /* a dead segment runs on zeros and stores nothing */
    const unsigned segmask = NP == 32 ? FULL : (((1u << NP) - 1u) << base);

    T A[MP], V[NP];
    bool bad = false;
    T mx = 0;
    {
        const T *ab = a + (live ? b : 0) * sb + (int64_t)j * sc;
        const bool col = live && j < n;
#pragma unroll
        for (int i = 0; i < MP; ++i) {
            T x = 0;
            if (col && i < m) x = ab[(int64_t)i * sr];
            if (!(fabs(x) < (T)INFINITY)) bad = true;
            else mx = max(mx, fabs(x));
            A[i] = x;
        }
    }
#pragma unroll
    for (int i = 0; i < NP; ++i) V[i] = (i == j && j < n) ? (T)1 : (T)0;
    bad = (__ballot_sync(FULL, bad) & segmask) != 0;
    const T scale = pow2_scale(seg_max<T, NP>(mx));
    T own2 = 0;
#pragma unroll
    for (int i = 0; i < MP; ++i) {
        A[i] = bad ? (T)0 : A[i] * scale;
        own2 += A[i] * A[i];
    }
    const T eps = Real<T>::eps, tol = eps * sqrt((T)m);
    const T small = eps * eps * seg_sum<T, NP>(own2);

    const int n2 = n + (n & 1), mr = n2 - 1;
    int sweeps = 0;
    bool more = true; /* segment-uniform */
    for (int sw = 0; sw < MC_JACOBI_MAX_SWEEPS; ++sw) {
        if (!__any_sync(FULL, more)) break;
        bool rotated = false;
        for (int r = 0; r < mr; ++r) {
            int p;
            if (j > mr) p = j; /* idle lane: partner itself, never rotates */
            else if (j == mr) p = r;
            else if (j == r) p = mr;
            else {
                p = 2 * r - j;
                if (p < 0) p += mr;
                else if (p >= mr) p -= mr;
            }
            const int src = base + p;
            const bool low = j < p;
            T O[kStore ? MP : 1];
            T g0 = 0, g1 = 0, g2 = 0, g3 = 0;
#pragma unroll
            for (int i = 0; i < MP; ++i) {
                const T y = __shfl_sync(FULL, A[i], src);
                if (kStore) O[i] = y;
                if (i % 4 == 0) g0 += A[i] * y;
                else if (i % 4 == 1) g1 += A[i] * y;
                else if (i % 4 == 2) g2 += A[i] * y;
                else g3 += A[i] * y;
            }
            const T oth2 = __shfl_sync(FULL, own2, src);
            const T ga = (g0 + g1) + (g2 + g3);
            const T al = low ? own2 : oth2, be = low ? oth2 : own2;
            const bool rot = p != j && al > small && be > small && fabs(ga) > tol * sqrt(al) * sqrt(be);
            T c = 1, s = 0;
            if (rot) {
                T t;
                Real<T>::schur(al, be, ga, &c, &s, &t);
                if (low) s = -s; /* own' = c own + s other, for both p and q */
                rotated = true;
            }
            if (__any_sync(FULL, rot)) {
                T n0 = 0, n1 = 0, n2_ = 0, n3 = 0;
#pragma unroll
                for (int i = 0; i < MP; ++i) {
                    T y;
                    if (kStore) y = O[kStore ? i : 0];
                    else y = __shfl_sync(FULL, A[i], src);
                    const T x = c * A[i] + s * y;
                    A[i] = x;
                    if (i % 4 == 0) n0 += x * x;
                    else if (i % 4 == 1) n1 += x * x;
                    else if (i % 4 == 2) n2_ += x * x;
                    else n3 += x * x;
                }
                own2 = (n0 + n1) + (n2_ + n3);
#pragma unroll
                for (int i = 0; i < NP; ++i) {
                    const T y = __shfl_sync(FULL, V[i], src);
                    V[i] = c * V[i] + s * y;
                }
            }
        }
        const bool seg_rot = (__ballot_sync(FULL, rotated) & segmask) != 0;
        if (more) ++sweeps;
        more = seg_rot; /* a converged segment rotates nothing, so it stays converged */
    }

    /* singular values, descending rank (ties by index), number of valid (non-tiny) columns */
    T sig2 = 0;
#pragma unroll
    for (int i = 0; i < MP; ++i) sig2 += A[i] * A[i];
    if (j >= n) sig2 = 0;
    int rank = 0, valid = 0;
#pragma unroll
    for (int k = 0; k < NP; ++k) {
        const T o = __shfl_sync(FULL, sig2, base + k);
        if (k < n) {
            rank += (o > sig2 || (o == sig2 && k < j)) ? 1 : 0;
            valid += o > small ? 1 : 0;
        }
    }
    const bool hasu = j < n && rank < valid;
    const T qnan = (T)NAN;
    /* s, V and info now: V is dead before the completion, which needs registers for A only */
    if (live && j < n) {
        so[b * n + rank] = bad ? qnan : sqrt(sig2) / scale;
        T *vb = vo + b * (int64_t)n * n + rank;
#pragma unroll
        for (int i = 0; i < NP; ++i)
            if (i < n) vb[(int64_t)i * n] = bad ? qnan : V[i];
    }
    if (live && j == 0) info[b] = more ? sweeps : 0;
    T *ub = u + b * (int64_t)m * n; /* not dereferenced for a dead segment */
    if (live && j < n) {
        const T rs = hasu ? 1 / sqrt(sig2) : (T)0; /* one division: the IEEE divide is a call */
#pragma unroll
        for (int i = 0; i < MP; ++i)
            if (i < m) ub[(int64_t)i * n + rank] = bad ? qnan : A[i] * rs;
    }
    /* Orthonormal completion of U columns [valid, n), as in svd.cu: start from e_k with the
     * largest residual 1 - sum_{c' < c} U[k][c']^2 (smallest k on ties), classical Gram-Schmidt
     * twice, normalise. A rare path (rank-deficient input), so it works on the U already stored
     * in global memory (L1-resident, ordered by __syncwarp) instead of holding a second MP-array
     * in registers, which would raise the register count of every call. Loops are warp-uniform
     * (c, t, q) so that the shuffles see the whole warp; `act` says whether a segment uses the
     * result. Lane j handles rows k = t NP + j. */
    const int vmin = __reduce_min_sync(FULL, (live && !bad) ? valid : n);
    for (int c = vmin; c < n; ++c) {
        const bool act = live && !bad && c >= valid; /* segment-uniform */
        __syncwarp();
        T best = -1;
        int kb = 0x7fffffff;
        if (act) {
            for (int k = j; k < m; k += NP) {
                T w = 0;
                for (int q = 0; q < c; ++q) {
                    const T x = ub[(int64_t)k * n + q];
                    w += x * x;
                }
                if (1 - w > best) {
                    best = 1 - w;
                    kb = k;
                }
            }
        }
#pragma unroll
        for (int o = NP / 2; o > 0; o >>= 1) {
            const T ob = __shfl_xor_sync(FULL, best, o);
            const int ok = __shfl_xor_sync(FULL, kb, o);
            if (ob > best || (ob == best && ok < kb)) {
                best = ob;
                kb = ok;
            }
        }
        constexpr int R = (MP + NP - 1) / NP; /* rows per lane (MP = 48, NP = 32: 2) */
        T xr[R];
#pragma unroll
        for (int t = 0; t < R; ++t) {
            const int k = t * NP + j;
            xr[t] = k == kb ? (T)1 : (T)0;
            if (act && k < m) ub[(int64_t)k * n + c] = xr[t];
        }
#pragma unroll 1
        for (int pass = 0; pass < 2; ++pass) {
            __syncwarp();
            T h = 0;
            if (act && j < c)
                for (int k = 0; k < m; ++k) h += ub[(int64_t)k * n + j] * ub[(int64_t)k * n + c];
            for (int q = 0; q < c; ++q) {
                const T hq = __shfl_sync(FULL, h, base + q);
#pragma unroll
                for (int t = 0; t < R; ++t) {
                    const int k = t * NP + j;
                    if (act && k < m) xr[t] -= ub[(int64_t)k * n + q] * hq;
                }
            }
            T nx = 0;
#pragma unroll
            for (int t = 0; t < R; ++t) nx += xr[t] * xr[t];
            nx = 1 / sqrt(seg_sum<T, NP>(nx));
            if (pass == 1) {
#pragma unroll
                for (int t = 0; t < R; ++t) xr[t] *= nx;
            }
            __syncwarp();
#pragma unroll
            for (int t = 0; t < R; ++t) {
                const int k = t * NP + j;
                if (act && k < m) ub[(int64_t)k * n + c] = xr[t];
            }
        }
    }
}

template <typename T, int MP, int NP>
cudaError_t launch_t(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info,
                     int64_t batch, int m, int n, cudaStream_t stream) {
    const int64_t per_block = (int64_t)kWarps * (32 / NP);
    const int64_t grid = (batch + per_block - 1) / per_block;
    if (grid > 0x7fffffffLL) return cudaErrorInvalidValue;
    svd_warp_kernel<T, MP, NP><<<(unsigned)grid, 32 * kWarps, 0, stream>>>(a, sb, sr, sc, u, s, v, info, batch, m, n);
    return cudaGetLastError();
}

template <typename T, int NP>
cudaError_t launch_np(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info,
                      int64_t batch, int m, int n, cudaStream_t stream) {
    if (m <= 8 && NP <= 8) return launch_t<T, 8, (NP <= 8 ? NP : 8)>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    if (m <= 16 && NP <= 16) return launch_t<T, 16, (NP <= 16 ? NP : 16)>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    if (m <= 32) return launch_t<T, 32, NP>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    if (m <= 48) return launch_t<T, 48, NP>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    return launch_t<T, 64, NP>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
}

/* Host launcher: on `stream`, no allocation or synchronisation. cudaErrorInvalidValue for shapes
 * this kernel does not handle (n < 1, n > 32, m < n, m > 64, uc != n: full_matrices is left to
 * svd.cu), else the launch status. batch 0 launches nothing. */
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *u, T *s, T *v, int32_t *info, int64_t batch,
                   int m, int n, int uc, cudaStream_t stream) {
    if (n < 1 || n > 32 || m < n || m > 64 || uc != n || batch < 0) return cudaErrorInvalidValue;
    if (batch == 0) return cudaSuccess;
    if (n <= 8) return launch_np<T, 8>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    if (n <= 16) return launch_np<T, 16>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
    return launch_np<T, 32>(a, sb, sr, sc, u, s, v, info, batch, m, n, stream);
}

} // namespace svd_warp
} // namespace mc

#endif
