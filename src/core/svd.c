/* svd: argument checks at the boundary and dispatch by device. A wide matrix is handed to the
 * backend as its (tall) transpose, A^T = V S U^T, by swapping strides and the U/V outputs, so
 * the backends only ever see m >= n. */
#include "svd.h"
#include "jacobi.h"

static mc_status svd_check(const mc_tensor *a, int full, mc_tensor *u, mc_tensor *s_, mc_tensor *v,
                           mc_tensor *info, mc_svd_args *x) {
    mc_status s;
    int64_t batch, m, n, st[3];
    if ((s = mc_check_batched_matrix(a, "a", &batch, &m, &n, st))) return s;
    const int64_t k = m < n ? m : n;
    x->batch = batch;
    x->dtype = a->dtype;
    x->a = a->data;
    x->device = a->device.index;
    const int wide = m < n;
    x->m = wide ? n : m;
    x->n = k;
    x->ucols = full ? x->m : k;
    x->sa[0] = st[0];
    x->sa[1] = wide ? st[2] : st[1];
    x->sa[2] = wide ? st[1] : st[2];
    if (!u && !s_ && !v && !info) return MC_STATUS_SUCCESS; /* workspace query */
    const int64_t us[3] = {batch, m, full ? m : k}, ss[2] = {batch, k}, vs[3] = {batch, n, full ? n : k},
                  is[1] = {batch};
    if ((s = mc_check_output(a, u, "u", a->dtype, 3, us))) return s;
    if ((s = mc_check_output(a, s_, "s", a->dtype, 2, ss))) return s;
    if ((s = mc_check_output(a, v, "v", a->dtype, 3, vs))) return s;
    if ((s = mc_check_info(a, info, is[0]))) return s;
    x->u = wide ? v->data : u->data;
    x->v = wide ? u->data : v->data;
    x->s = s_->data;
    x->info = (int32_t *)info->data;
    return MC_STATUS_SUCCESS;
}

static size_t workspace_size(const mc_svd_args *x, mc_device_type dev) {
    if (x->batch == 0 || x->n == 0) return 0;
    if (dev == MC_DEVICE_CPU) return mc_cpu_svd_workspace_size(x);
#ifdef MC_WITH_CUDA
    return mc_cuda_svd_workspace_size(x);
#else
    return 0;
#endif
}

mc_status mc_svd_workspace_size(const mc_tensor *a, int full_matrices, size_t *bytes) {
    mc_clear_error();
    mc_svd_args x = {0};
    mc_status s;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = svd_check(a, full_matrices, NULL, NULL, NULL, NULL, &x))) return s;
    *bytes = workspace_size(&x, a->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_svd_forward(const mc_tensor *a, int full_matrices, mc_tensor *u, mc_tensor *s_,
                         mc_tensor *v, mc_tensor *info, void *workspace, size_t workspace_bytes,
                         mc_stream_t stream) {
    mc_clear_error();
    mc_svd_args x = {0};
    mc_status s;
    if (!u || !s_ || !v || !info) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "svd: u, s, v and info are required");
    if ((s = svd_check(a, full_matrices, u, s_, v, info, &x))) return s;
    if (x.batch == 0) return MC_STATUS_SUCCESS;
    const size_t need = workspace_size(&x, a->device.type);
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "svd: workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    x.workspace = workspace;
    x.workspace_bytes = workspace_bytes;
    x.stream = stream;
    if (a->device.type == MC_DEVICE_CPU) return mc_cpu_svd_forward(&x);
#ifdef MC_WITH_CUDA
    return mc_cuda_svd_forward(&x);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
