/* Pieces of the Jacobi eigen/singular-value methods shared by the CPU (C11) and CUDA backends of
 * the eigh and svd families: the 2x2 symmetric Schur rotation, the capped power-of-two scale,
 * the round-robin pair schedule, and the sweep limit. Header-only so both compilers inline it
 * (MC_HD: host and device functions under nvcc; src/cuda/jacobi.cuh wraps them per type). */
#ifndef MC_CORE_JACOBI_H
#define MC_CORE_JACOBI_H

#include <math.h>
#include <stdint.h>

#ifdef __CUDACC__
#define MC_HD __host__ __device__ __forceinline__
#else
#define MC_HD static inline
#endif

/* Sweeps before a Jacobi method reports non-convergence (info = sweeps done). Quadratic
 * convergence needs about 6-12 sweeps up to n = 512; the limit only bounds pathological input. */
#define MC_JACOBI_MAX_SWEEPS 40

/* Rotation annihilating the off-diagonal of the symmetric 2x2 [[app, apq], [apq, aqq]]
 * (Golub & Van Loan, sym.schur2): with J = [[c, s], [-s, c]], J^T A J = diag(app - t apq,
 * aqq + t apq). |tau| stays far below overflow because callers rotate only when |apq| exceeds
 * eps times the matrix norm. */
#define MC_SYM_SCHUR2(T, SQRT, FABS)                                                                     \
    T tau_ = (aqq - app) / (2 * apq);                                                              \
    T t_ = 1 / (FABS(tau_) + SQRT(1 + tau_ * tau_));                                              \
    if (tau_ < 0) t_ = -t_;                                                                        \
    *c = 1 / SQRT(1 + t_ * t_);                                                                    \
    *s = t_ * *c;                                                                                  \
    *t = t_;

MC_HD void mc_sym_schur2_f64(double app, double aqq, double apq, double *c, double *s, double *t) {
    MC_SYM_SCHUR2(double, sqrt, fabs)
}
MC_HD void mc_sym_schur2_f32(float app, float aqq, float apq, float *c, float *s, float *t) {
    MC_SYM_SCHUR2(float, sqrtf, fabsf)
}

/* The power of two 2^-e that brings a matrix's largest |entry| max_abs into [0.5, 1): scaling by
 * it is exact and keeps sums of squares far from overflow and underflow. For a (deeply)
 * subnormal max_abs the factor is capped at 2^(max_exp - 2) (max_exp: FLT_MAX_EXP or
 * DBL_MAX_EXP) so it stays finite in the working type; 1 for a zero matrix. */
MC_HD double mc_pow2_scale(double max_abs, int max_exp) {
    if (!(max_abs > 0)) return 1;
    int e = 0;
    frexp(max_abs, &e);
    if (-e > max_exp - 2) e = -(max_exp - 2);
    return ldexp(1.0, -e);
}

/* Round-robin ("circle") schedule over n2 = n rounded up to even players: in round r
 * (0 <= r < n2 - 1) pair k (0 <= k < n2 / 2) is (*p, *q), p < q; every pair of indices meets
 * exactly once per sweep and the pairs of one round are disjoint, so they can be rotated in
 * parallel. An index equal to n (odd n) is a bye. */
MC_HD void mc_round_robin_pair(int n2, int r, int k, int *p, int *q) {
    const int m = n2 - 1;
    int a, b;
    if (k == 0) {
        a = r;
        b = m;
    } else {
        a = (r + k) % m;
        b = (r - k + m) % m;
    }
    *p = a < b ? a : b;
    *q = a < b ? b : a;
}

#endif

#ifndef __CUDACC__
#include "internal.h"
/* Checks a batched matrix argument of eigh/svd: rank 2 or 3, f32/f64, any strides; fills the
 * batch, row and column extents and the strides in elements (batch stride 0 for rank 2). */
mc_status mc_check_batched_matrix(const mc_tensor *a, const char *name, int64_t *batch, int64_t *m,
                                  int64_t *n, int64_t strides[3]);
/* Checks an output: contiguous, dtype and device of `like`, and exactly the given shape
 * (ndim extents; a leading batch extent is dropped when `like` has rank 2). */
mc_status mc_check_output(const mc_tensor *like, const mc_tensor *out, const char *name,
                          mc_dtype dtype, int ndim, const int64_t *shape);
/* Checks info: int32, contiguous, `batch` elements (rank 0 or 1), on the device of `like`. */
mc_status mc_check_info(const mc_tensor *like, const mc_tensor *info, int64_t batch);
#endif
