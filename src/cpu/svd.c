/* svd on the CPU: one-sided (Hestenes) Jacobi on MC_LANES tall matrices at once (see
 * jacobi_lanes.h and svd_impl.inc), in the input precision. The core hands over wide problems
 * transposed, so here m >= n. */
#include "../core/svd.h"
#include "../core/jacobi.h"
#include "jacobi_lanes.h"

#define MC_JACOBI_IMPL "svd_impl.inc"
#include "jacobi_instances.h"

/* A (m n lanes) + V (n n lanes) in the dtype, then m doubles of scratch (m >= n). */
static size_t mats_bytes(const mc_svd_args *x) {
    return (size_t)(x->m * x->n + x->n * x->n) * MC_LANES * mc_dtype_size(x->dtype);
}
static size_t per_thread_bytes(const mc_svd_args *x) {
    return (mats_bytes(x) + 7) / 8 * 8 + (size_t)x->m * sizeof(double);
}
static int64_t groups_of(const mc_svd_args *x) { return (x->batch + MC_LANES - 1) / MC_LANES; }

size_t mc_cpu_svd_workspace_size(const mc_svd_args *x) {
    return per_thread_bytes(x) * (size_t)mc_cpu_jacobi_threads(groups_of(x));
}

static void group(void *ctx, int64_t g, int tid) {
    const mc_svd_args *x = (const mc_svd_args *)ctx;
    const int64_t b0 = g * MC_LANES;
    const int nl = (int)(x->batch - b0 < MC_LANES ? x->batch - b0 : MC_LANES);
    char *ws = (char *)x->workspace + per_thread_bytes(x) * (size_t)tid;
    double *tmp = (double *)(ws + (mats_bytes(x) + 7) / 8 * 8);
    const size_t abytes = (size_t)(x->m * x->n) * MC_LANES * mc_dtype_size(x->dtype);
    if (x->dtype == MC_DTYPE_F32) svd_group_f32(x, b0, nl, (float *)ws, (float *)(ws + abytes), tmp);
    else svd_group_f64(x, b0, nl, (double *)ws, (double *)(ws + abytes), tmp);
}

/* k = 0 (an empty side): no singular values; U (m, ucols) is any orthonormal basis: identity. */
static void empty_k(const mc_svd_args *x) {
    for (int64_t b = 0; b < x->batch; ++b) {
        x->info[b] = 0;
        for (int64_t i = 0; i < x->m; ++i)
            for (int64_t j = 0; j < x->ucols; ++j) {
                const int64_t o = (b * x->m + i) * x->ucols + j;
                if (x->dtype == MC_DTYPE_F32) ((float *)x->u)[o] = i == j;
                else ((double *)x->u)[o] = i == j;
            }
    }
}

/* a: (batch, m, n) strided, m >= n; u: (batch, m, ucols); s: (batch, n); v: (batch, n, n) */
mc_status mc_cpu_svd_forward(const mc_svd_args *x) {
    if (x->n == 0) {
        empty_k(x);
        return MC_STATUS_SUCCESS;
    }
    const int64_t groups = groups_of(x);
    mc_cpu_parallel_groups(group, (void *)x, groups, mc_cpu_jacobi_threads(groups));
    return MC_STATUS_SUCCESS;
}
