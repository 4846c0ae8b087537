/* Softmax: argument checks at the boundary and dispatch by device. */
#include "softmax.h"

/* Checks x and dim; fills outer, n, inner, dtype, device. */
static mc_status softmax_check_x(const mc_tensor *x, int dim, const char *name, mc_softmax_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(x, name))) return s;
    if (!mc_dtype_is_float(x->dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "softmax: %s has dtype %s; expected float32, float16, "
                       "bfloat16 or float64", name, mc_dtype_name(x->dtype));
    if (x->dtype == MC_DTYPE_F64 && x->device.type != MC_DEVICE_CPU)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "softmax: float64 is supported on the CPU only");
    if ((s = mc_check_contiguous(x, name))) return s;
    const int nd = x->ndim;
    const int lo = nd ? -nd : -1, hi = nd ? nd - 1 : 0; /* rank 0 behaves as torch: dim 0 or -1 */
    if (dim < lo || dim > hi)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "softmax: dim %d out of range for a tensor of rank %d", dim, nd);
    if (dim < 0) dim += nd ? nd : 1;
    a->outer = 1;
    a->inner = 1;
    a->n = 1;
    for (int d = 0; d < nd; ++d) {
        if (d < dim) a->outer *= x->shape[d];
        else if (d == dim) a->n = x->shape[d];
        else a->inner *= x->shape[d];
    }
    a->dtype = x->dtype;
    a->device = x->device.index;
    return MC_STATUS_SUCCESS;
}

/* The workspace a call needs (CUDA split path only). The CUDA backend checks what it is given
 * against the plan it launches, so a call makes its plan once. */
static size_t workspace_size(const mc_softmax_args *a, mc_device_type dev) {
    if (a->outer * a->n * a->inner == 0 || dev == MC_DEVICE_CPU) return 0;
#ifdef MC_WITH_CUDA
    return mc_cuda_softmax_workspace_size(a);
#else
    return 0;
#endif
}

mc_status mc_softmax_workspace_size(const mc_tensor *x, int dim, size_t *bytes) {
    mc_clear_error();
    mc_softmax_args a = {0};
    mc_status s;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = softmax_check_x(x, dim, "x", &a))) return s;
    *bytes = workspace_size(&a, x->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_softmax_forward(const mc_tensor *x, int dim, mc_tensor *y, void *workspace,
                             size_t workspace_bytes, mc_stream_t stream) {
    mc_clear_error();
    mc_softmax_args a = {0};
    mc_status s;
    if ((s = softmax_check_x(x, dim, "x", &a))) return s;
    if ((s = mc_check_like_contiguous(x, "x", y, "y"))) return s;
    a.x = x->data;
    a.y = y->data;
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = stream;
    if (a.outer * a.n * a.inner == 0) return MC_STATUS_SUCCESS;
    if (x->device.type == MC_DEVICE_CPU) return mc_cpu_softmax_forward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_softmax_forward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_softmax_backward(const mc_tensor *dy, const mc_tensor *y, int dim, mc_tensor *dx,
                              void *workspace, size_t workspace_bytes, mc_stream_t stream) {
    mc_clear_error();
    mc_softmax_args a = {0};
    mc_status s;
    if ((s = softmax_check_x(y, dim, "y", &a))) return s;
    if ((s = mc_check_like_contiguous(y, "y", dy, "dy"))) return s;
    if ((s = mc_check_like_contiguous(y, "y", dx, "dx"))) return s;
    if (dx->data == y->data && mc_tensor_numel(y) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "softmax backward: dx must not alias y");
    a.y = y->data;
    a.dy = dy->data;
    a.dx = dx->data;
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = stream;
    if (a.outer * a.n * a.inner == 0) return MC_STATUS_SUCCESS;
    if (y->device.type == MC_DEVICE_CPU) return mc_cpu_softmax_backward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_softmax_backward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
