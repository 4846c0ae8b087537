/* Argument checks shared by every op's boundary, and the library queries. */
#include "internal.h"

#ifndef MC_CUDA_ARCHS_STRING
#define MC_CUDA_ARCHS_STRING ""
#endif

const char *mc_version(void) { return "0.1.0"; }

int mc_has_cuda(void) {
#ifdef MC_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

int mc_cuda_device_count(void) {
#ifdef MC_WITH_CUDA
    return mc_cuda_runtime_device_count();
#else
    return 0;
#endif
}

const char *mc_cuda_architectures(void) { return MC_CUDA_ARCHS_STRING; }

mc_status mc_check_device(const mc_device *d, const char *name) {
    if (d->type == MC_DEVICE_CPU) return MC_STATUS_SUCCESS;
    if (d->type != MC_DEVICE_CUDA)
        return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "%s: unknown device type %d", name,
                       (int)d->type);
#ifdef MC_WITH_CUDA
    int count = mc_cuda_runtime_device_count();
    if (d->index < 0 || d->index >= count)
        return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "%s: CUDA device %d does not exist (%d found)",
                       name, d->index, count);
    return MC_STATUS_SUCCESS;
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE,
                   "%s is a CUDA tensor but this build of metalcore has no CUDA backend", name);
#endif
}

mc_status mc_check_tensor(const mc_tensor *t, const char *name) {
    if (!t) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s is NULL", name);
    if (t->ndim < 0 || t->ndim > MC_MAX_DIMS)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s: rank %d outside 0..%d", name, t->ndim,
                       MC_MAX_DIMS);
    if ((int)t->dtype < 0 || t->dtype >= MC_DTYPE_COUNT_)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: invalid dtype code %d", name,
                       (int)t->dtype);
    for (int i = 0; i < t->ndim; ++i)
        if (t->shape[i] < 0)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s: negative extent %lld in dim %d", name,
                           (long long)t->shape[i], i);
    if (!t->data && mc_tensor_numel(t) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s: data pointer is NULL", name);
    return mc_check_device(&t->device, name);
}

mc_status mc_check_contiguous(const mc_tensor *t, const char *name) {
    if (!mc_tensor_is_contiguous(t))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s must be contiguous (row-major)", name);
    return MC_STATUS_SUCCESS;
}

mc_status mc_check_same_device(const mc_tensor *a, const char *an, const mc_tensor *b,
                               const char *bn) {
    if (a->device.type != b->device.type ||
        (a->device.type == MC_DEVICE_CUDA && a->device.index != b->device.index))
        return mc_fail(MC_STATUS_DEVICE_MISMATCH, "%s is on %s:%d but %s is on %s:%d", an,
                       a->device.type == MC_DEVICE_CPU ? "cpu" : "cuda", a->device.index, bn,
                       b->device.type == MC_DEVICE_CPU ? "cpu" : "cuda", b->device.index);
    return MC_STATUS_SUCCESS;
}

mc_status mc_check_same_shape(const mc_tensor *a, const char *an, const mc_tensor *b,
                              const char *bn) {
    int same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; ++i) same = a->shape[i] == b->shape[i];
    if (!same) return mc_fail(MC_STATUS_SHAPE_MISMATCH, "%s and %s have different shapes", an, bn);
    return MC_STATUS_SUCCESS;
}

mc_status mc_check_like(const mc_tensor *ref, const char *rn, const mc_tensor *t, const char *name) {
    mc_status s;
    if ((s = mc_check_tensor(t, name))) return s;
    if ((s = mc_check_same_device(ref, rn, t, name))) return s;
    if ((s = mc_check_same_shape(ref, rn, t, name))) return s;
    if (t->dtype != ref->dtype)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s has dtype %s; expected %s (that of %s)", name,
                       mc_dtype_name(t->dtype), mc_dtype_name(ref->dtype), rn);
    return MC_STATUS_SUCCESS;
}

mc_status mc_check_like_contiguous(const mc_tensor *ref, const char *rn, const mc_tensor *t, const char *name) {
    mc_status s = mc_check_like(ref, rn, t, name);
    return s ? s : mc_check_contiguous(t, name);
}
