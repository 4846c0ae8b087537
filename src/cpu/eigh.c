/* eigh on the CPU: cyclic Jacobi on MC_LANES matrices at once (see jacobi_lanes.h), in the
 * input precision, with the relative stopping test of Demmel & Veselic (rotate only while
 * |a_pq| > eps sqrt(|a_pp a_qq|)) plus an absolute floor eps ||A||_F, which bounds the final
 * off-diagonal mass by n eps ||A||_F. */
#include "../core/eigh.h"
#include "../core/jacobi.h"
#include "jacobi_lanes.h"

#define MC_JACOBI_IMPL "eigh_impl.inc"
#include "jacobi_instances.h"

static size_t per_thread_bytes(const mc_eigh_args *x) {
    return (size_t)2 * (size_t)(x->n * x->n) * MC_LANES * mc_dtype_size(x->dtype);
}

static int64_t groups_of(const mc_eigh_args *x) { return (x->batch + MC_LANES - 1) / MC_LANES; }

size_t mc_cpu_eigh_workspace_size(const mc_eigh_args *x) {
    return per_thread_bytes(x) * (size_t)mc_cpu_jacobi_threads(groups_of(x));
}

static void group(void *ctx, int64_t g, int tid) {
    const mc_eigh_args *x = (const mc_eigh_args *)ctx;
    const int64_t b0 = g * MC_LANES;
    const int nl = (int)(x->batch - b0 < MC_LANES ? x->batch - b0 : MC_LANES);
    char *ws = (char *)x->workspace + per_thread_bytes(x) * (size_t)tid;
    const size_t half = per_thread_bytes(x) / 2;
    if (x->dtype == MC_DTYPE_F32) eigh_group_f32(x, b0, nl, (float *)ws, (float *)(ws + half));
    else eigh_group_f64(x, b0, nl, (double *)ws, (double *)(ws + half));
}

/* a: (batch, n, n) strided; w: (batch, n); q: (batch, n, n); info: (batch,) */
mc_status mc_cpu_eigh_forward(const mc_eigh_args *x) {
    const int64_t groups = groups_of(x);
    mc_cpu_parallel_groups(group, (void *)x, groups, mc_cpu_jacobi_threads(groups));
    return MC_STATUS_SUCCESS;
}
