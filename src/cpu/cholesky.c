/* Cholesky on the CPU: one matrix per iteration of the batch loop (OpenMP over the batch when
 * built with it), factored in place in the output (Cholesky-Banachiewicz, src/cpu/dense_kernels.h). */
#include "dense_instances.h"

#define CHOL_BATCH(REAL, S)                                                                        \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a;                                                        \
        REAL *L = (REAL *)a->out;                                                                  \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t b = 0; b < a->batch; ++b) {                                                   \
            const REAL *ab = A + b * n * n;                                                        \
            REAL *lb = L + b * n * n;                                                              \
            for (int64_t i = 0; i < n; ++i)                                                        \
                for (int64_t j = 0; j <= i; ++j) lb[i * n + j] = ab[i * n + j];                    \
            a->info[b] = chol_inplace_##S(lb, n);                                                  \
            if (a->upper) transpose_inplace_##S(lb, n);                                            \
        }                                                                                          \
    } while (0)

/* Small n: groups of MC_CHOL_LANES matrices factored together (vectorized across matrices). */
#define CHOL_GROUPS(REAL, S)                                                                       \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a;                                                        \
        REAL *L = (REAL *)a->out;                                                                  \
        const int64_t groups = (a->batch + MC_CHOL_LANES - 1) / MC_CHOL_LANES;                     \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t g = 0; g < groups; ++g) {                                                     \
            const int64_t b0 = g * MC_CHOL_LANES, rest = a->batch - b0;                            \
            chol_group_##S(A + b0 * n * n, L + b0 * n * n, n, rest < MC_CHOL_LANES ? rest : MC_CHOL_LANES, \
                           a->upper, a->info + b0);                                                \
        }                                                                                          \
    } while (0)

/* a: (batch, n, n) -> out: (batch, n, n), info: (batch,) */
mc_status mc_cpu_cholesky(const mc_dense_args *a) {
    const int64_t n = a->n;
    if (n <= MC_CHOL_SMALL_N) {
        if (a->dtype == MC_DTYPE_F64) CHOL_GROUPS(double, d);
        else CHOL_GROUPS(float, f);
        return MC_STATUS_SUCCESS;
    }
    if (a->dtype == MC_DTYPE_F64) CHOL_BATCH(double, d);
    else CHOL_BATCH(float, f);
    return MC_STATUS_SUCCESS;
}
