/* Householder QR on the CPU: geqr2 on a column-major working copy, then R and (backward
 * accumulation) Q; one matrix per batch iteration (src/cpu/dense_kernels.h). */
#include "dense_instances.h"

/* Per matrix: m*n (column-major copy) + m (tau) + m (a row of partial products). */
static int64_t qr_stride(const mc_dense_args *a) { return a->m * a->n + 2 * a->m; }

size_t mc_cpu_qr_workspace_size(const mc_dense_args *a) {
    if (a->m <= MC_QR_SMALL && a->n <= MC_QR_SMALL) return 0; /* qr_group works on the stack */
    return (size_t)(a->batch * qr_stride(a)) * (a->dtype == MC_DTYPE_F64 ? 8 : 4);
}

#define QR_BATCH(REAL, S)                                                                          \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a;                                                        \
        REAL *Q = (REAL *)a->q, *R = (REAL *)a->out, *W = (REAL *)a->workspace;                    \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t b = 0; b < a->batch; ++b)                                                     \
            qr_one_##S(A + b * m * n, m, n, W + b * st, Q ? Q + b * m * a->kq : NULL, a->kq,       \
                       R + b * a->kr * n, a->kr);                                                  \
    } while (0)

/* Small matrices: groups of MC_QR_LANES factored together (vectorized across matrices). */
#define QR_GROUPS(REAL, S)                                                                         \
    do {                                                                                           \
        const REAL *A = (const REAL *)a->a;                                                        \
        REAL *Q = (REAL *)a->q, *R = (REAL *)a->out;                                               \
        const int64_t groups = (a->batch + MC_QR_LANES - 1) / MC_QR_LANES;                         \
        MC_OMP_BATCH_FOR                                                                           \
        for (int64_t g = 0; g < groups; ++g) {                                                     \
            const int64_t b0 = g * MC_QR_LANES, rest = a->batch - b0;                              \
            qr_group_##S(A + b0 * m * n, m, n, rest < MC_QR_LANES ? rest : MC_QR_LANES,            \
                         Q ? Q + b0 * m * a->kq : NULL, a->kq, R + b0 * a->kr * n, a->kr);         \
        }                                                                                          \
    } while (0)

/* a: (batch, m, n) -> q: (batch, m, kq) or NULL, out (r): (batch, kr, n) */
mc_status mc_cpu_qr(const mc_dense_args *a) {
    const int64_t m = a->m, n = a->n, st = qr_stride(a);
    if (m <= MC_QR_SMALL && n <= MC_QR_SMALL) {
        if (a->dtype == MC_DTYPE_F64) QR_GROUPS(double, d);
        else QR_GROUPS(float, f);
        return MC_STATUS_SUCCESS;
    }
    if (a->dtype == MC_DTYPE_F64) QR_BATCH(double, d);
    else QR_BATCH(float, f);
    return MC_STATUS_SUCCESS;
}
