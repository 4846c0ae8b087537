/* Device helpers shared by the CUDA eigh and svd kernels: precision traits, warp/block
 * reductions for float and double, power-of-two scaling, and the dynamic shared memory limit. */
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
    __device__ static void schur(float app, float aqq, float apq, float *c, float *s, float *t) {
        mc_sym_schur2_f32(app, aqq, apq, c, s, t);
    }
};
template <> struct Real<double> {
    static constexpr double eps = DBL_EPSILON;
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

/* 2^-e with max_abs * 2^-e in [0.5, 1): scaling by it is exact and keeps sums of squares far
 * from overflow and underflow. 1 for a zero matrix. */
template <typename T> __device__ __forceinline__ T pow2_scale(T max_abs) {
    if (!(max_abs > 0)) return 1;
    int e;
    frexp(max_abs, &e);
    return (T)ldexp(1.0, -e);
}

/* Largest dynamic shared memory a block may use on the device (opt-in limit). */
inline size_t smem_limit(int device) {
    int v = 0;
    if (cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess || v <= 0)
        v = 48 * 1024;
    return (size_t)v;
}

__host__ __device__ inline size_t align16(size_t x) { return (x + 15) / 16 * 16; }

} // namespace jacobi
} // namespace mc

#endif
