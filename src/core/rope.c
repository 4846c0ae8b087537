/* RoPE: argument checks at the boundary and dispatch by device. */
#include "rope.h"

/* x is (B, H, S, D) with the last dimension contiguous (or of extent <= 1). */
static mc_status check_bhsd(const mc_tensor *x, const char *name) {
    mc_status s;
    if ((s = mc_check_tensor(x, name))) return s;
    if (x->ndim != 4)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: %s must be 4-D (B, H, S, D); got %d-D", name,
                       x->ndim);
    if (x->shape[3] > 1 && x->strides[3] != 1 && mc_tensor_numel(x) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: %s must have a contiguous last dimension", name);
    return MC_STATUS_SUCCESS;
}

static mc_status check_cs(const mc_tensor *c, const char *name, const mc_tensor *q, mc_rope_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(c, name))) return s;
    if ((s = mc_check_same_device(q, "q", c, name))) return s;
    if (c->ndim != 3)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: %s must be 3-D (B or 1, S, R); got %d-D", name,
                       c->ndim);
    if (c->shape[0] != 1 && c->shape[0] != a->batch)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "rope: %s has batch %lld; expected 1 or %lld", name,
                       (long long)c->shape[0], (long long)a->batch);
    if (c->shape[1] != a->seq)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "rope: %s has sequence length %lld; q has %lld", name,
                       (long long)c->shape[1], (long long)a->seq);
    if (c->shape[2] > 1 && c->strides[2] != 1 && mc_tensor_numel(c) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: %s must have a contiguous last dimension", name);
    if (c->dtype != q->dtype && c->dtype != MC_DTYPE_F32)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: %s has dtype %s; expected %s (that of q) or float32",
                       name, mc_dtype_name(c->dtype), mc_dtype_name(q->dtype));
    return MC_STATUS_SUCCESS;
}

/* out must have the shape, dtype and device of x, a contiguous last dimension, and be either
 * exactly x or (as far as a cheap test can tell) another buffer. */
static mc_status check_out(const mc_tensor *x, const char *xn, const mc_tensor *y, const char *yn) {
    mc_status s;
    if ((s = check_bhsd(y, yn))) return s;
    if ((s = mc_check_like(x, xn, y, yn))) return s;
    if (y->data == x->data && mc_tensor_numel(x) > 0)
        for (int i = 0; i < 4; ++i)
            if (x->shape[i] > 1 && x->strides[i] != y->strides[i])
                return mc_fail(MC_STATUS_INVALID_ARGUMENT,
                               "rope: %s shares memory with %s but has other strides", yn, xn);
    return MC_STATUS_SUCCESS;
}

static void fill_tensor(mc_rope_tensor *t, const mc_tensor *x, mc_tensor *y) {
    t->x = x->data;
    t->y = y->data;
    t->heads = x->shape[1];
    t->xs[0] = x->strides[0]; t->xs[1] = x->strides[1]; t->xs[2] = x->strides[2];
    t->ys[0] = y->strides[0]; t->ys[1] = y->strides[1]; t->ys[2] = y->strides[2];
}

static mc_status rope_run(const mc_tensor *q, const mc_tensor *k, const mc_tensor *cos,
                          const mc_tensor *sin, mc_tensor *qo, mc_tensor *ko, int inverse,
                          mc_stream_t stream) {
    mc_clear_error();
    mc_rope_args a;
    memset(&a, 0, sizeof a);
    mc_status s;
    const char *qn = inverse ? "dq_embed" : "q", *kn = inverse ? "dk_embed" : "k";
    const char *qon = inverse ? "dq" : "q_out", *kon = inverse ? "dk" : "k_out";
    if ((s = check_bhsd(q, qn))) return s;
    if (!mc_dtype_is_float(q->dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: %s has dtype %s; expected float32, float16, "
                       "bfloat16 or float64", qn, mc_dtype_name(q->dtype));
    if (q->dtype == MC_DTYPE_F64 && q->device.type != MC_DEVICE_CPU)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: float64 is supported on the CPU only");
    a.batch = q->shape[0];
    a.seq = q->shape[2];
    a.dim = q->shape[3];
    a.dtype = q->dtype;
    a.device = q->device.index;
    if ((s = check_out(q, qn, qo, qon))) return s;
    if ((k == NULL) != (ko == NULL))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: %s and %s must both be given or both be NULL", kn, kon);
    if (k) {
        if ((s = check_bhsd(k, kn))) return s;
        if ((s = mc_check_same_device(q, qn, k, kn))) return s;
        if (k->dtype != q->dtype)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: %s has dtype %s but %s has %s", kn,
                           mc_dtype_name(k->dtype), qn, mc_dtype_name(q->dtype));
        if (k->shape[0] != a.batch || k->shape[2] != a.seq || k->shape[3] != a.dim)
            return mc_fail(MC_STATUS_SHAPE_MISMATCH, "rope: %s (B, H, S, D) = (%lld, %lld, %lld, %lld) does "
                           "not match %s in B, S or D", kn, (long long)k->shape[0], (long long)k->shape[1],
                           (long long)k->shape[2], (long long)k->shape[3], qn);
        if ((s = check_out(k, kn, ko, kon))) return s;
    }
    if (!cos || !sin) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rope: cos and sin must be given");
    if ((s = check_cs(cos, "cos", q, &a))) return s;
    if ((s = check_cs(sin, "sin", q, &a))) return s;
    if ((s = mc_check_same_shape(cos, "cos", sin, "sin"))) return s;
    if (cos->dtype != sin->dtype)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "rope: cos and sin have different dtypes");
    a.rot = cos->shape[2];
    if (a.rot % 2 != 0 || a.rot > a.dim || (a.rot == 0 && a.dim > 0))
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "rope: the rotary dimension (last of cos) is %lld; it must be "
                       "even, >= 2 and <= the head dimension %lld", (long long)a.rot, (long long)a.dim);
    a.cdtype = cos->dtype;
    a.cos = cos->data;
    a.sin = sin->data;
    a.cs[0] = cos->shape[0] == 1 ? 0 : cos->strides[0];
    a.cs[1] = cos->strides[1];
    a.ss[0] = sin->shape[0] == 1 ? 0 : sin->strides[0];
    a.ss[1] = sin->strides[1];
    fill_tensor(&a.t[0], q, qo);
    if (k) fill_tensor(&a.t[1], k, ko);
    a.inverse = inverse;
    a.stream = stream;
    if (a.batch == 0 || a.seq == 0 || a.dim == 0 || a.t[0].heads + a.t[1].heads == 0)
        return MC_STATUS_SUCCESS;
    if (q->device.type == MC_DEVICE_CPU) return mc_cpu_rope(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_rope(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_rope_forward(const mc_tensor *q, const mc_tensor *k, const mc_tensor *cos,
                          const mc_tensor *sin, mc_tensor *q_out, mc_tensor *k_out,
                          mc_stream_t stream) {
    return rope_run(q, k, cos, sin, q_out, k_out, 0, stream);
}

mc_status mc_rope_backward(const mc_tensor *dq_embed, const mc_tensor *dk_embed,
                           const mc_tensor *cos, const mc_tensor *sin, mc_tensor *dq,
                           mc_tensor *dk, mc_stream_t stream) {
    return rope_run(dq_embed, dk_embed, cos, sin, dq, dk, 1, stream);
}
