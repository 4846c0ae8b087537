/* Triangular solve on the CPU: x = B copied, then substitution in place (src/cpu/dense_kernels.h). */
#include "dense_instances.h"

#include <string.h>

#define TRSM_BATCH(REAL, S)                                                                        \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a, *B = (const REAL *)a->b;                               \
        REAL *X = (REAL *)a->out;                                                                  \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t b = 0; b < a->batch; ++b) {                                                   \
            memcpy(X + b * n * k, B + b * n * k, (size_t)(n * k) * sizeof(REAL));                  \
            trsm_inplace_##S(A + b * n * n, X + b * n * k, n, k, a->lower, a->transpose,           \
                             a->unit_diagonal);                                                    \
        }                                                                                          \
    } while (0)

/* a: (batch, n, n), b: (batch, n, k) -> out: (batch, n, k) */
mc_status mc_cpu_trsm(const mc_dense_args *a) {
    const int64_t n = a->n, k = a->k;
    if (a->dtype == MC_DTYPE_F64) TRSM_BATCH(double, d);
    else TRSM_BATCH(float, f);
    return MC_STATUS_SUCCESS;
}
