/* eigh for small matrices (n <= 32) on CUDA: two-sided parallel Jacobi, one matrix per group of
 * NP lanes (NP = n rounded up to a power of two, 2..32; 32 / NP matrices per warp), the matrix and
 * its eigenvectors held in registers.
 *
 * Same contract and semantics as the one-block-per-matrix kernel (eigh.cu): a (batch, n, n) at
 * element strides (sb, sr, sc), only the lower triangle read; w ascending (ties by index), q row
 * major with column j the eigenvector of w[j]; info = 0 when converged, else the sweeps done
 * (MC_JACOBI_MAX_SWEEPS); exact power-of-two scaling; NaN/Inf anywhere in the (lower triangle of
 * the) matrix -> all of that matrix's w and q NaN; rotate (p, q) only if |apq| > eps ||A||_F and
 * |apq| > eps sqrt|app| sqrt|aqq|; stop after a sweep without rotation.
 *
 * Layout and ordering (why no register is ever indexed by a run-time value):
 *   Lane i of a group holds row i of A and row i of V for the whole run (rows never move between
 *   lanes). Indices are elements of GF(2^m), NP = 2^m, and alpha is a primitive element (mul_alpha:
 *   multiplication by x modulo a primitive polynomial). Round t (t = 0..NP-2) of a sweep pairs
 *   index i with i ^ v_t, v_t = alpha^t: as alpha^t runs over all NP-1 nonzero elements, every
 *   pair of indices meets exactly once per sweep and the pairs of a round are disjoint (the
 *   "XOR" / hypercube ordering, here enumerated by a Singer cycle). In round t register j of lane
 *   i holds column i ^ M_t(j) with M_t = multiplication by alpha^t (GF(2)-linear, M_t(1) = v_t):
 *     - register 0 is the diagonal A[i][i], register 1 is A[i][i ^ v_t] (the pair's
 *       off-diagonal), fixed positions;
 *     - the partner row i ^ v_t holds the same column as register j in its register j ^ 1, so
 *       the row rotation J^T A is one __shfl_xor_sync(R[j ^ 1], v_t) per register (the lane
 *       mask is a run-time value, the register index is not);
 *     - register pairs (j, j ^ 1) hold column pairs (x, x ^ v_t) of this round, so the column
 *       rotation A J and V <- V J are register-local; the (c, s) of column x comes from a tiny
 *       per-warp shared table written by lane x (index lane ^ M_t(j), conflict-free);
 *     - going from round t to t+1 is the fixed register permutation R[j] <- R[alpha j]
 *       (compile-time renaming of the freshly computed values), and alpha^(NP-1) = 1 brings
 *       the layout back to M = identity after each sweep.
 *   So a round costs NP shuffles for the partner row, NP/2 - 1 shared loads of (c, s), and
 *   about 6 NP fused multiply-adds per lane. Rounds in which no pair of the warp rotates only
 *   rename registers (exact: a rotation with c = 1, s = 0 changes nothing).
 *   Padding indices (n <= i < NP) have zero off-diagonals, so they never rotate and never mix
 *   with real indices; they are dropped at output.
 *   Both lanes of a pair compute (c, s, t) from the same three numbers (the leader's diagonal,
 *   the partner's diagonal and the leader's off-diagonal), so they agree bit for bit.
 * Idea of the parallel two-sided Jacobi with one row per processor: Brent & Luk (1985); the
 * GF(2^m) register layout is our own. */
#ifndef MC_CUDA_EIGH_WARP_CUH
#define MC_CUDA_EIGH_WARP_CUH

#include <cstdint>

#include "../core/jacobi.h"
#include "jacobi.cuh"

namespace mc {
namespace eigh_warp {

using mc::jacobi::kFull;
using mc::jacobi::log2i;
using mc::jacobi::mul_alpha; /* GF(NP) for NP = 2..32 here */
using mc::jacobi::Rot;

constexpr int kWarps = 4; /* warps per block */
constexpr int kMaxN = 32;

/* blocks per SM promised to ptxas: keeps fp32 NP = 16 from a 16-byte spill at its default
 * choice and fp64 NP = 32 (about 200 registers) from spilling */
template <typename T, int NP> struct MinBlocks {
    static constexpr int value = (sizeof(T) == 8 && NP == 32) ? 2 : 4;
};

/* floor(e / d) for e < 1024, d <= 1024 with m = ceil(2^21 / d): exact since e * (m d - 2^21) < 2^21. */
__device__ __forceinline__ unsigned div_small(unsigned e, unsigned m) { return (e * m) >> 21; }

template <typename T, int NP>
__global__ void __launch_bounds__(32 * kWarps, MinBlocks<T, NP>::value)
    eigh_warp_kernel(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc, T *__restrict__ w,
                     T *__restrict__ q, int32_t *__restrict__ info, int64_t batch, int n,
                     int32_t *__restrict__ sweeps_out) {
    using mc::jacobi::Real;
    constexpr int G = 32 / NP, LOG = log2i<NP>();
    __shared__ T stage[kWarps][32 * NP]; /* G matrices of NP x NP */
    __shared__ Rot<T> rots[kWarps][2][32];
    __shared__ int inv[kWarps][32];

    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    const int g = lane / NP, il = lane % NP;
    const int64_t b0 = ((int64_t)blockIdx.x * kWarps + wid) * G;
    if (b0 >= batch) return; /* warp-uniform; the kernel only synchronizes warps */
    const int nvalid = (int)min((int64_t)G, batch - b0);
    const bool valid = g < nvalid;
    T *S = stage[wid];
    const unsigned nn = (unsigned)(n * n), tot = (unsigned)nvalid * nn;
    const unsigned mnn = ((1u << 21) + nn - 1) / nn, mn = ((1u << 21) + n - 1) / n;

    /* lower triangles of the warp's matrices -> S[g][i][k], read in storage order */
    for (unsigned e = lane; e < tot; e += 32) {
        const unsigned gg = div_small(e, mnn), rem = e - gg * nn;
        const unsigned i = div_small(rem, mn), k = rem - i * n;
        if (k <= i) S[gg * NP * NP + i * NP + k] = a[(int64_t)(b0 + gg) * sb + (int64_t)i * sr + (int64_t)k * sc];
    }
    __syncwarp();

    T R[NP], V[NP];
    T mx = 0;
    bool badl = false;
#pragma unroll
    for (int j = 0; j < NP; ++j) {
        const int c = il ^ j;
        T x = 0;
        if (valid && il < n && c < n) x = c <= il ? S[g * NP * NP + il * NP + c] : S[g * NP * NP + c * NP + il];
        const T ax = fabs(x);
        if (!(ax < (T)INFINITY)) badl = true;
        else mx = max(mx, ax);
        R[j] = x;
        V[j] = j == 0 ? (T)1 : (T)0;
    }
    const unsigned gmask = NP == 32 ? kFull : ((1u << NP) - 1) << (g * NP);
    const bool bad = (__ballot_sync(kFull, badl) & gmask) != 0;
#pragma unroll
    for (int o = NP / 2; o > 0; o >>= 1) mx = max(mx, __shfl_xor_sync(kFull, mx, o));
    const T scale = mc::jacobi::pow2_scale(mx);
    T sq = 0;
#pragma unroll
    for (int j = 0; j < NP; ++j) {
        R[j] = bad ? (T)0 : R[j] * scale;
        sq += R[j] * R[j];
    }
#pragma unroll
    for (int o = NP / 2; o > 0; o >>= 1) sq += __shfl_xor_sync(kFull, sq, o);
    const T eps = Real<T>::eps;
    const T abs_tol = eps * sqrt(sq);

    Rot<T> *rbase = rots[wid][0];
    int buf = 0, sweeps = 0, it = 0;
    bool active = valid;
    while (it < MC_JACOBI_MAX_SWEEPS && __any_sync(kFull, active)) {
        bool rs = false;
        int vt = 1;
#pragma unroll 1
        for (int t = 0; t < NP - 1; ++t) {
            const int hb = 1 << (31 - __clz(vt));
            const bool lead = (il & hb) == 0;
            const T pd = __shfl_xor_sync(kFull, R[0], vt);
            const T po = __shfl_xor_sync(kFull, R[1], vt);
            const T app = lead ? R[0] : pd, aqq = lead ? pd : R[0], apq = lead ? R[1] : po;
            const bool rot = fabs(apq) > abs_tol && fabs(apq) > eps * sqrt(fabs(app)) * sqrt(fabs(aqq));
            T c = 1, s = 0, tt = 0;
            if (rot) Real<T>::schur(app, aqq, apq, &c, &s, &tt);
            rs |= rot;
            const T sp = lead ? s : -s; /* this row's sign: new row = c R - sp P */
            Rot<T> *rb = rbase + buf * 32;
            buf ^= 1;
            rb[lane] = Rot<T>{c, sp};
            __syncwarp();
            T nR[NP], nV[NP];
            if (__any_sync(kFull, rot)) {
                int bk[LOG];
                bk[0] = vt;
#pragma unroll
                for (int k = 1; k < LOG; ++k) bk[k] = mul_alpha<NP>(bk[k - 1]);
                nR[0] = rot ? (lead ? app - tt * apq : aqq + tt * apq) : R[0];
                nR[1] = rot ? (T)0 : R[1];
                nV[0] = c * V[0] - sp * V[1];
                nV[1] = sp * V[0] + c * V[1];
#pragma unroll
                for (int j = 2; j < NP; j += 2) {
                    int m = 0; /* M_t(j) = alpha^t j */
#pragma unroll
                    for (int k = 1; k < LOG; ++k)
                        if ((j >> k) & 1) m ^= bk[k];
                    const T pj = __shfl_xor_sync(kFull, R[j + 1], vt);
                    const T pj1 = __shfl_xor_sync(kFull, R[j], vt);
                    const T X = c * R[j] - sp * pj, Y = c * R[j + 1] - sp * pj1;
                    const Rot<T> r = rb[lane ^ m];
                    nR[j] = r.c * X - r.s * Y;
                    nR[j + 1] = r.s * X + r.c * Y;
                    const T vx = V[j], vy = V[j + 1];
                    nV[j] = r.c * vx - r.s * vy;
                    nV[j + 1] = r.s * vx + r.c * vy;
                }
            } else {
#pragma unroll
                for (int j = 0; j < NP; ++j) {
                    nR[j] = R[j];
                    nV[j] = V[j];
                }
            }
#pragma unroll
            for (int j = 0; j < NP; ++j) {
                R[j] = nR[mul_alpha<NP>(j)];
                V[j] = nV[mul_alpha<NP>(j)];
            }
            vt = mul_alpha<NP>(vt);
        }
        if (active) {
            ++sweeps;
            active = (__ballot_sync(kFull, rs) & gmask) != 0;
        } else {
            (void)__ballot_sync(kFull, rs);
        }
        ++it;
    }

    /* ascending eigenvalues by rank counting (ties by index); eigenvectors follow */
    const T d = R[0];
    int rank = 0;
#pragma unroll
    for (int k = 0; k < NP; ++k) {
        const T dk = __shfl_sync(kFull, d, k, NP);
        rank += k < n && (dk < d || (dk == d && k < il));
    }
    const bool real = valid && il < n;
    if (real) {
        inv[wid][g * NP + rank] = il;
        w[(b0 + g) * n + rank] = bad ? (T)NAN : d / scale;
        if (il == 0) info[b0 + g] = active ? sweeps : 0;
        if (il == 0 && sweeps_out) sweeps_out[b0 + g] = sweeps;
    }
    __syncwarp();
#pragma unroll
    for (int j = 0; j < NP; ++j) S[g * NP * NP + il * NP + (il ^ j)] = bad ? (T)NAN : V[j];
    __syncwarp();
    T *qb = q + b0 * (int64_t)nn;
    for (unsigned e = lane; e < tot; e += 32) {
        const unsigned gg = div_small(e, mnn), rem = e - gg * nn;
        const unsigned i = div_small(rem, mn), k = rem - i * n;
        qb[e] = S[gg * NP * NP + i * NP + inv[wid][gg * NP + k]];
    }
}

template <typename T, int NP>
cudaError_t launch_np(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info,
                      int64_t batch, int n, cudaStream_t stream, int32_t *sweeps_out) {
    constexpr int G = 32 / NP;
    const int64_t warps = (batch + G - 1) / G;
    const int64_t blocks = (warps + kWarps - 1) / kWarps;
    eigh_warp_kernel<T, NP><<<(unsigned)blocks, 32 * kWarps, 0, stream>>>(a, sb, sr, sc, w, q, info, batch, n,
                                                                          sweeps_out);
    return cudaGetLastError();
}

/* Same as launch; sweeps_out (batch int32, may be null) receives the sweeps each matrix ran
 * (including the final sweep without rotation). */
template <typename T>
cudaError_t launch_ex(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch,
                      int n, cudaStream_t stream, int32_t *sweeps_out) {
    if (n < 1 || n > kMaxN || batch < 0) return cudaErrorInvalidValue;
    if (batch == 0) return cudaGetLastError();
    if (n <= 2) return launch_np<T, 2>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    if (n <= 4) return launch_np<T, 4>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    if (n <= 8) return launch_np<T, 8>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    if (n <= 16) return launch_np<T, 16>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
    return launch_np<T, 32>(a, sb, sr, sc, w, q, info, batch, n, stream, sweeps_out);
}

/* a: (batch, n, n) at element strides (sb, sr, sc), lower triangle read; w: (batch, n); q: (batch,
 * n, n) contiguous; info: (batch,). 1 <= n <= 32. Runs on stream; no allocation, no sync. */
template <typename T>
cudaError_t launch(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch, int n,
                   cudaStream_t stream) {
    return launch_ex<T>(a, sb, sr, sc, w, q, info, batch, n, stream, nullptr);
}

} // namespace eigh_warp
} // namespace mc

#endif
