/* Argument checks shared by the eigh and svd families. */
#include "jacobi.h"

mc_status mc_check_batched_matrix(const mc_tensor *a, const char *name, int64_t *batch, int64_t *m,
                                  int64_t *n, int64_t strides[3]) {
    mc_status s;
    if ((s = mc_check_tensor(a, name))) return s;
    if (a->ndim != 2 && a->ndim != 3)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s must have shape (batch, m, n) or (m, n); got rank %d",
                       name, a->ndim);
    if (a->dtype != MC_DTYPE_F32 && a->dtype != MC_DTYPE_F64)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s has dtype %s; expected float32 or float64", name,
                       mc_dtype_name(a->dtype));
    const int o = a->ndim - 2;
    *batch = o ? a->shape[0] : 1;
    *m = a->shape[o];
    *n = a->shape[o + 1];
    strides[0] = o ? a->strides[0] : 0;
    strides[1] = a->strides[o];
    strides[2] = a->strides[o + 1];
    return MC_STATUS_SUCCESS;
}

mc_status mc_check_output(const mc_tensor *like, const mc_tensor *out, const char *name,
                          mc_dtype dtype, int ndim, const int64_t *shape) {
    mc_status s;
    if ((s = mc_check_tensor(out, name))) return s;
    if ((s = mc_check_same_device(like, "a", out, name))) return s;
    if (out->dtype != dtype)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s has dtype %s; expected %s", name,
                       mc_dtype_name(out->dtype), mc_dtype_name(dtype));
    const int skip = like->ndim == 2 ? 1 : 0; /* unbatched: no leading batch extent */
    int ok = out->ndim == ndim - skip;
    for (int i = 0; ok && i < out->ndim; ++i) ok = out->shape[i] == shape[i + skip];
    if (!ok) {
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "%s has the wrong shape (rank %d; expected rank %d with "
                       "extents ending in %lld)", name, out->ndim, ndim - skip, (long long)shape[ndim - 1]);
    }
    return mc_check_contiguous(out, name);
}

mc_status mc_check_info(const mc_tensor *like, const mc_tensor *info, int64_t batch) {
    mc_status s;
    if ((s = mc_check_tensor(info, "info"))) return s;
    if ((s = mc_check_same_device(like, "a", info, "info"))) return s;
    if (info->dtype != MC_DTYPE_I32)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "info has dtype %s; expected int32", mc_dtype_name(info->dtype));
    if (info->ndim > 1 || mc_tensor_numel(info) != batch)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "info must have shape (%lld,)", (long long)batch);
    return mc_check_contiguous(info, "info");
}
