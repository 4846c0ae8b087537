/* eigh: argument checks at the boundary and dispatch by device. */
#include "eigh.h"
#include "jacobi.h"

static mc_status eigh_check(const mc_tensor *a, mc_tensor *w, mc_tensor *q, mc_tensor *info,
                            mc_eigh_args *x) {
    mc_status s;
    int64_t m;
    if ((s = mc_check_batched_matrix(a, "a", &x->batch, &m, &x->n, x->sa))) return s;
    if (m != x->n)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "eigh: a must be square; got %lld x %lld", (long long)m,
                       (long long)x->n);
    if (x->n < 1) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eigh: n must be >= 1");
    x->dtype = a->dtype;
    x->a = a->data;
    x->device = a->device.index;
    if (!w && !q && !info) return MC_STATUS_SUCCESS; /* workspace query */
    const int64_t ws[2] = {x->batch, x->n}, qs[3] = {x->batch, x->n, x->n}, is[1] = {x->batch};
    if ((s = mc_check_output(a, w, "w", a->dtype, 2, ws))) return s;
    if ((s = mc_check_output(a, q, "q", a->dtype, 3, qs))) return s;
    if ((s = mc_check_info(a, info, is[0]))) return s;
    x->w = w->data;
    x->q = q->data;
    x->info = (int32_t *)info->data;
    return MC_STATUS_SUCCESS;
}

static size_t workspace_size(const mc_eigh_args *x, mc_device_type dev) {
    if (x->batch == 0) return 0;
    if (dev == MC_DEVICE_CPU) return mc_cpu_eigh_workspace_size(x);
#ifdef MC_WITH_CUDA
    return mc_cuda_eigh_workspace_size(x);
#else
    return 0;
#endif
}

mc_status mc_eigh_workspace_size(const mc_tensor *a, size_t *bytes) {
    mc_clear_error();
    mc_eigh_args x = {0};
    mc_status s;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = eigh_check(a, NULL, NULL, NULL, &x))) return s;
    *bytes = workspace_size(&x, a->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_eigh_forward(const mc_tensor *a, mc_tensor *w, mc_tensor *q, mc_tensor *info,
                          void *workspace, size_t workspace_bytes, mc_stream_t stream) {
    mc_clear_error();
    mc_eigh_args x = {0};
    mc_status s;
    if (!w || !q || !info) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eigh: w, q and info are required");
    if ((s = eigh_check(a, w, q, info, &x))) return s;
    if (x.batch == 0) return MC_STATUS_SUCCESS;
    const size_t need = workspace_size(&x, a->device.type);
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eigh: workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    x.workspace = workspace;
    x.workspace_bytes = workspace_bytes;
    x.stream = stream;
    if (a->device.type == MC_DEVICE_CPU) return mc_cpu_eigh_forward(&x);
#ifdef MC_WITH_CUDA
    return mc_cuda_eigh_forward(&x);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
