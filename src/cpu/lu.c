/* LU with partial pivoting on the CPU: lu_factor (in place in the output), lu_solve (pivots and
 * two triangular solves on a copy of B) and solve (both, on a working copy in f32/f64, so the
 * 16-bit dtypes are computed in f32). Kernels in src/cpu/dense_kernels.h. */
#include "dense_instances.h"

#include <string.h>

#define LU_FACTOR_BATCH(REAL, S)                                                                   \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a;                                                        \
        REAL *LU = (REAL *)a->out;                                                                 \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t b = 0; b < a->batch; ++b) {                                                   \
            memcpy(LU + b * n * n, A + b * n * n, (size_t)(n * n) * sizeof(REAL));                 \
            a->info[b] = lu_inplace_##S(LU + b * n * n, n, a->pivots + b * n);                     \
        }                                                                                          \
    } while (0)

/* a: (batch, n, n) -> out: (batch, n, n), pivots: (batch, n), info: (batch,) */
mc_status mc_cpu_lu_factor(const mc_dense_args *a) {
    const int64_t n = a->n;
    if (a->dtype == MC_DTYPE_F64) LU_FACTOR_BATCH(double, d);
    else LU_FACTOR_BATCH(float, f);
    return MC_STATUS_SUCCESS;
}

#define LU_SOLVE_BATCH(REAL, S)                                                                    \
    do {                                                                                           \
        const REAL *LU = (const REAL *)a->a, *B = (const REAL *)a->b;                              \
        REAL *X = (REAL *)a->out;                                                                  \
        MC_OMP_BATCH_FOR_OR                                                                        \
        for (int64_t b = 0; b < a->batch; ++b) {                                                   \
            memcpy(X + b * n * k, B + b * n * k, (size_t)(n * k) * sizeof(REAL));                  \
            if (lu_solve_inplace_##S(LU + b * n * n, a->pivots_in + b * n, X + b * n * k, n, k,    \
                                     a->transpose))                                                \
                bad = 1;                                                                           \
        }                                                                                          \
    } while (0)

/* a (lu): (batch, n, n), pivots_in: (batch, n), b: (batch, n, k) -> out: (batch, n, k) */
mc_status mc_cpu_lu_solve(const mc_dense_args *a) {
    const int64_t n = a->n, k = a->k;
    int bad = 0;
    if (a->dtype == MC_DTYPE_F64) LU_SOLVE_BATCH(double, d);
    else LU_SOLVE_BATCH(float, f);
    if (bad) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "lu_solve: a pivot is outside 1..%lld", (long long)n);
    return MC_STATUS_SUCCESS;
}

/* Per matrix: n*n + n*k working values (f64 for f64, else f32) and n int32 pivots. */
static size_t solve_stride_bytes(const mc_dense_args *a) {
    const size_t es = a->dtype == MC_DTYPE_F64 ? 8 : 4;
    const size_t bytes = (size_t)(a->n * a->n + a->n * a->k) * es + (size_t)a->n * sizeof(int32_t);
    return (bytes + 7) & ~(size_t)7; /* keeps every matrix's f64 values 8-byte aligned */
}

size_t mc_cpu_solve_workspace_size(const mc_dense_args *a) {
    return (size_t)a->batch * solve_stride_bytes(a);
}

/* ws layout per matrix: [A copy (n*n) | X (n*k) | pivots (n int32)]. */
#define SOLVE_ONE(REAL, S, LOADA, LOADB, STOREX)                                                   \
    do {                                                                                           \
        REAL *wa = (REAL *)(ws + b * stride), *wx = wa + n * n;                                    \
        int32_t *piv = (int32_t *)(wx + n * k);                                                    \
        for (int64_t i = 0; i < n * n; ++i) wa[i] = LOADA;                                         \
        for (int64_t i = 0; i < n * k; ++i) wx[i] = LOADB;                                         \
        a->info[b] = lu_inplace_##S(wa, n, piv);                                                   \
        lu_solve_inplace_##S(wa, piv, wx, n, k, 0);                                                \
        for (int64_t i = 0; i < n * k; ++i) STOREX;                                                \
    } while (0)

/* a: (batch, n, n), b: (batch, n, k) -> out: (batch, n, k), info: (batch,) */
mc_status mc_cpu_solve(const mc_dense_args *a) {
    const int64_t n = a->n, k = a->k;
    char *ws = (char *)a->workspace;
    const int64_t stride = (int64_t)solve_stride_bytes(a);
    if (a->dtype == MC_DTYPE_F64) {
        const double *A = (const double *)a->a, *B = (const double *)a->b;
        double *X = (double *)a->out;
        MC_OMP_BATCH_FOR
        for (int64_t b = 0; b < a->batch; ++b)
            SOLVE_ONE(double, d, A[b * n * n + i], B[b * n * k + i], X[b * n * k + i] = wx[i]);
    } else if (a->dtype == MC_DTYPE_F32) {
        const float *A = (const float *)a->a, *B = (const float *)a->b;
        float *X = (float *)a->out;
        MC_OMP_BATCH_FOR
        for (int64_t b = 0; b < a->batch; ++b)
            SOLVE_ONE(float, f, A[b * n * n + i], B[b * n * k + i], X[b * n * k + i] = wx[i]);
    } else {
        const mc_dtype dt = a->dtype;
        MC_OMP_BATCH_FOR
        for (int64_t b = 0; b < a->batch; ++b)
            SOLVE_ONE(float, f, mc_dense_ld16(a->a, dt, b * n * n + i), mc_dense_ld16(a->b, dt, b * n * k + i),
                      mc_dense_st16(a->out, dt, b * n * k + i, wx[i]));
    }
    return MC_STATUS_SUCCESS;
}
