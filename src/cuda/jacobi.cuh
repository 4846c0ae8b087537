/* Device helpers shared by the CUDA eigh and svd kernels: precision traits, warp/block
 * reductions for float and double, power-of-two scaling, the load-check-scale prologue of the
 * one-block-per-matrix kernels, the GF(2^m) pairing helpers of the register-resident eigh kernel
 * (eigh_warp.cuh). */
#ifndef MC_CUDA_JACOBI_CUH
#define MC_CUDA_JACOBI_CUH

#include <cfloat>

#include "../core/jacobi.h"
#include "common.cuh"

namespace mc {
namespace jacobi {

template <typename T> struct Real;
template <> struct Real<float> {
    static constexpr float eps = FLT_EPSILON;
    static constexpr int max_exp = FLT_MAX_EXP;
    __device__ static void schur(float app, float aqq, float apq, float *c, float *s, float *t) {
        mc_sym_schur2_f32(app, aqq, apq, c, s, t);
    }
};
template <> struct Real<double> {
    static constexpr double eps = DBL_EPSILON;
    static constexpr int max_exp = DBL_MAX_EXP;
    __device__ static void schur(double app, double aqq, double apq, double *c, double *s, double *t) {
        mc_sym_schur2_f64(app, aqq, apq, c, s, t);
    }
};

template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide sum / max; every thread gets the result. red: 32 T of shared scratch. */
template <typename T> __device__ T block_sum(T v, T *red) {
    v = warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    T s = 0;
    for (int i = 0; i < nw; ++i) s += red[i];
    return s;
}
template <typename T> __device__ T block_max(T v, T *red) {
    v = warp_max(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    T s = 0;
    for (int i = 0; i < nw; ++i) s = max(s, red[i]);
    return s;
}

/* mc_pow2_scale (core/jacobi.h, shared with the CPU kernels) in the working type: 2^-e with
 * max_abs * 2^-e in [0.5, 1), an exact scaling that keeps sums of squares far from overflow and
 * underflow; capped at 2^(max_exp - 2) for a subnormal max_abs so it stays finite; 1 for a zero
 * matrix. */
template <typename T> __device__ __forceinline__ T pow2_scale(T max_abs) {
    return (T)mc_pow2_scale((double)max_abs, Real<T>::max_exp);
}

/* What load_check_scale found: the scale applied, ||scaled M||_F^2, NaN/Inf present. */
template <typename T> struct Loaded {
    T scale, sumsq;
    bool bad;
};

/* Prologue of the one-block-per-matrix Jacobi kernels (eigh.cu, svd.cu), all threads of the
 * block: M[idx] = load(idx) for 0 <= idx < count, block-strided (M in shared or global memory;
 * each thread rereads only what it wrote, so the passes need no barrier between them). Then, if
 * any element is NaN or Inf, M = 0 and bad; else M is scaled by pow2_scale of its largest
 * |entry|. Every thread gets the result. red: 32 T of shared scratch. idx has count's type I:
 * int where count < 2^31 (an int64_t loop made ptxas spill the eigh kernel on sm_80). */
template <typename T, typename I, typename Load>
__device__ __forceinline__ Loaded<T> load_check_scale(T *M, I count, Load load, T *red) {
    const int tid = threadIdx.x, nt = blockDim.x;
    T mx = 0;
    int nonfinite = 0;
    for (I idx = tid; idx < count; idx += nt) {
        const T x = load(idx);
        if (!(fabs(x) < (T)INFINITY)) nonfinite = 1;
        else mx = max(mx, fabs(x));
        M[idx] = x;
    }
    Loaded<T> r;
    r.bad = __syncthreads_or(nonfinite) != 0;
    r.scale = pow2_scale(block_max(mx, red));
    T sq = 0;
    for (I idx = tid; idx < count; idx += nt) {
        const T x = r.bad ? (T)0 : M[idx] * r.scale;
        M[idx] = x;
        sq += x * x;
    }
    r.sumsq = block_sum(sq, red);
    return r;
}

/* ---- GF(2^m) pairing of the register-resident eigh kernel (eigh_warp.cuh: NP = 2..32); the
 * schedule is explained there. */

constexpr unsigned kFull = 0xffffffffu; /* all lanes of a warp */

/* alpha * j in GF(NP), alpha = x, modulo the primitive polynomials x^2+x+1, x^3+x+1, x^4+x+1,
 * x^5+x^2+1 (NP = 4 .. 32); NP = 2: GF(2), alpha = 1. */
template <int NP> __host__ __device__ constexpr int mul_alpha(int j) {
    static_assert(NP >= 2 && NP <= 32 && (NP & (NP - 1)) == 0, "NP: a power of two, 2..32");
    return NP == 2 ? j : (((j << 1) & (NP - 1)) ^ ((j & (NP >> 1)) ? (NP == 32 ? 5 : 3) : 0));
}
template <int NP> __host__ __device__ constexpr int log2i() {
    return NP == 2 ? 1 : NP == 4 ? 2 : NP == 8 ? 3 : NP == 16 ? 4 : 5;
}

/* A rotation (c, s) as one 8- or 16-byte shared-memory word. */
template <typename T> struct alignas(2 * sizeof(T)) Rot {
    T c, s;
};

__host__ __device__ inline size_t align16(size_t x) { return (x + 15) / 16 * 16; }

} // namespace jacobi
} // namespace mc

#endif
