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

/* a: (batch, n, n) -> out: (batch, n, n), info: (batch,) */
mc_status mc_cpu_cholesky(const mc_dense_args *a) {
    const int64_t n = a->n;
    if (a->dtype == MC_DTYPE_F64) CHOL_BATCH(double, d);
    else CHOL_BATCH(float, f);
    return MC_STATUS_SUCCESS;
}
