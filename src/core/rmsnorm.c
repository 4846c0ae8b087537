/* RMSNorm: argument checks at the boundary and dispatch by device. */
#include "rmsnorm.h"

static mc_dtype rstd_dtype(mc_dtype x) { return x == MC_DTYPE_F64 ? MC_DTYPE_F64 : MC_DTYPE_F32; }

/* Checks what forward and backward share: x, weight and rstd; fills rows, n, dtypes. */
static mc_status rmsnorm_check_common(const mc_tensor *x, const mc_tensor *weight,
                                      const mc_tensor *rstd, mc_rmsnorm_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(x, "x"))) return s;
    if (x->ndim < 1) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "x must have at least one dimension");
    if (!mc_dtype_is_float(x->dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rmsnorm: x has dtype %s; expected float32, "
                       "float16, bfloat16 or float64", mc_dtype_name(x->dtype));
    if (x->dtype == MC_DTYPE_F64 && x->device.type != MC_DEVICE_CPU)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rmsnorm: float64 is supported on the CPU only");
    if ((s = mc_check_contiguous(x, "x"))) return s;
    a->n = x->shape[x->ndim - 1];
    if (a->n < 1) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rmsnorm: the normalized size must be >= 1");
    a->rows = mc_tensor_numel(x) / a->n;
    a->dtype = x->dtype;
    a->wdtype = x->dtype;
    a->x = x->data;
    a->device = x->device.index;
    if (weight) {
        if ((s = mc_check_tensor(weight, "weight"))) return s;
        if ((s = mc_check_same_device(x, "x", weight, "weight"))) return s;
        if (mc_tensor_numel(weight) != a->n)
            return mc_fail(MC_STATUS_SHAPE_MISMATCH, "weight has %lld elements; expected %lld (the "
                           "last dimension of x)", (long long)mc_tensor_numel(weight), (long long)a->n);
        if (weight->dtype != x->dtype && weight->dtype != MC_DTYPE_F32)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "weight has dtype %s; expected %s (that of x) "
                           "or float32", mc_dtype_name(weight->dtype), mc_dtype_name(x->dtype));
        if ((s = mc_check_contiguous(weight, "weight"))) return s;
        a->wdtype = weight->dtype;
        a->weight = weight->data;
    }
    if (rstd) {
        if ((s = mc_check_tensor(rstd, "rstd"))) return s;
        if ((s = mc_check_same_device(x, "x", rstd, "rstd"))) return s;
        if (mc_tensor_numel(rstd) != a->rows)
            return mc_fail(MC_STATUS_SHAPE_MISMATCH, "rstd has %lld elements; expected %lld (one per row)",
                           (long long)mc_tensor_numel(rstd), (long long)a->rows);
        if (rstd->dtype != rstd_dtype(x->dtype))
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rstd must be %s for %s input",
                           mc_dtype_name(rstd_dtype(x->dtype)), mc_dtype_name(x->dtype));
        if ((s = mc_check_contiguous(rstd, "rstd"))) return s;
        a->rstd = rstd->data;
    }
    return MC_STATUS_SUCCESS;
}

/* The forward of both ops, arguments checked: to the backend of the device. */
static mc_status run_forward(const mc_rmsnorm_args *a, mc_device_type dev) {
    if (a->rows == 0) return MC_STATUS_SUCCESS;
    if (dev == MC_DEVICE_CPU) return mc_cpu_rmsnorm_forward(a);
#ifdef MC_WITH_CUDA
    return mc_cuda_rmsnorm_forward(a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_rmsnorm_forward(const mc_tensor *x, const mc_tensor *weight, double eps, mc_tensor *y,
                             mc_tensor *rstd, mc_stream_t stream) {
    mc_clear_error();
    mc_rmsnorm_args a = {0};
    mc_status s;
    if ((s = rmsnorm_check_common(x, weight, rstd, &a))) return s;
    if ((s = mc_check_like_contiguous(x, "x", y, "y"))) return s;
    if (!(eps >= 0.0)) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eps must be >= 0 (got %g)", eps);
    if (y->data == x->data && a.rows > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "y must not alias x");
    a.y = y->data;
    a.eps = eps;
    a.stream = stream;
    return run_forward(&a, x->device.type);
}

static size_t backward_workspace_size(const mc_rmsnorm_args *a, mc_device_type dev) {
    if (!a->dweight || a->rows == 0) return 0;
    if (dev == MC_DEVICE_CPU) return mc_cpu_rmsnorm_backward_workspace_size(a);
#ifdef MC_WITH_CUDA
    return mc_cuda_rmsnorm_backward_workspace_size(a);
#else
    return 0;
#endif
}

mc_status mc_rmsnorm_backward_workspace_size(const mc_tensor *x, const mc_tensor *weight,
                                             int want_dweight, size_t *bytes) {
    mc_clear_error();
    mc_rmsnorm_args a = {0};
    mc_status s;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = rmsnorm_check_common(x, weight, NULL, &a))) return s;
    a.dweight = (want_dweight && weight) ? (void *)1 : NULL; /* only its presence matters */
    *bytes = backward_workspace_size(&a, x->device.type);
    return MC_STATUS_SUCCESS;
}

/* The backward of both ops: dres (NULL for plain RMSNorm) is added to dx. */
static mc_status rmsnorm_backward_impl(const mc_tensor *dy, const mc_tensor *dres, const mc_tensor *x,
                                       const mc_tensor *weight, const mc_tensor *rstd, mc_tensor *dx,
                                       mc_tensor *dweight, void *workspace, size_t workspace_bytes,
                                       mc_stream_t stream) {
    mc_rmsnorm_args a = {0};
    mc_status s;
    if (!rstd) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rstd is NULL");
    if ((s = rmsnorm_check_common(x, weight, rstd, &a))) return s;
    if ((s = mc_check_like_contiguous(x, "x", dy, "dy"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", dx, "dx"))) return s;
    if (dx->data == x->data && a.rows > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "dx must not alias x");
    if (dweight) {
        if (!weight) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "dweight given without weight");
        if ((s = mc_check_tensor(dweight, "dweight"))) return s;
        if ((s = mc_check_same_device(x, "x", dweight, "dweight"))) return s;
        if ((s = mc_check_same_shape(weight, "weight", dweight, "dweight"))) return s;
        if (dweight->dtype != weight->dtype)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "dweight must have the dtype of weight");
        if ((s = mc_check_contiguous(dweight, "dweight"))) return s;
        a.dweight = dweight->data;
    }
    if (dres) {
        if ((s = mc_check_like_contiguous(x, "x", dres, "dh"))) return s;
        a.dres = dres->data;
    }
    a.dy = dy->data;
    a.dx = dx->data;
    a.stream = stream;
    size_t need = backward_workspace_size(&a, x->device.type);
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    if (a.rows == 0) {
        /* No rows: dweight is a sum over nothing. Writing zeros needs the backend. */
        if (!a.dweight) return MC_STATUS_SUCCESS;
    }
    if (x->device.type == MC_DEVICE_CPU) return mc_cpu_rmsnorm_backward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_rmsnorm_backward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_rmsnorm_backward(const mc_tensor *dy, const mc_tensor *x, const mc_tensor *weight,
                              const mc_tensor *rstd, mc_tensor *dx, mc_tensor *dweight,
                              void *workspace, size_t workspace_bytes, mc_stream_t stream) {
    mc_clear_error();
    return rmsnorm_backward_impl(dy, NULL, x, weight, rstd, dx, dweight, workspace, workspace_bytes, stream);
}

/* ---- fused residual add + RMSNorm ---------------------------------------------------------- */

mc_status mc_add_rmsnorm_forward(const mc_tensor *x, const mc_tensor *residual, const mc_tensor *weight,
                                 double eps, mc_tensor *y, mc_tensor *h, mc_tensor *rstd,
                                 mc_stream_t stream) {
    mc_clear_error();
    mc_rmsnorm_args a = {0};
    mc_status s;
    if ((s = rmsnorm_check_common(x, weight, rstd, &a))) return s;
    if ((s = mc_check_like_contiguous(x, "x", residual, "residual"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", y, "y"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", h, "h"))) return s;
    if (!(eps >= 0.0)) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "eps must be >= 0 (got %g)", eps);
    if (a.rows > 0 && (y->data == x->data || y->data == residual->data || y->data == h->data))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "y must not alias x, residual or h");
    a.residual = residual->data;
    a.h = h->data;
    a.y = y->data;
    a.eps = eps;
    a.stream = stream;
    return run_forward(&a, x->device.type);
}

mc_status mc_add_rmsnorm_backward(const mc_tensor *dy, const mc_tensor *dh, const mc_tensor *h,
                                  const mc_tensor *weight, const mc_tensor *rstd, mc_tensor *dx,
                                  mc_tensor *dweight, void *workspace, size_t workspace_bytes,
                                  mc_stream_t stream) {
    mc_clear_error();
    return rmsnorm_backward_impl(dy, dh, h, weight, rstd, dx, dweight, workspace, workspace_bytes, stream);
}
