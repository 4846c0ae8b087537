/* Activations and SwiGLU: argument checks at the boundary and dispatch by device. */
#include "activations.h"

/* A floating dtype this op handles on t's device (f64 on the CPU only). */
static mc_status check_float(const mc_tensor *t, const char *op, const char *name) {
    if (!mc_dtype_is_float(t->dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: %s has dtype %s; expected float32, float16, "
                       "bfloat16 or float64", op, name, mc_dtype_name(t->dtype));
    if (t->dtype == MC_DTYPE_F64 && t->device.type != MC_DEVICE_CPU)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: float64 is supported on the CPU only", op);
    return MC_STATUS_SUCCESS;
}

static mc_status check_act(mc_activation act) {
    if ((int)act < 0 || act >= MC_ACTIVATION_COUNT_)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "unknown activation %d", (int)act);
    return MC_STATUS_SUCCESS;
}

mc_status mc_activation_forward(mc_activation act, const mc_tensor *x, mc_tensor *y, mc_stream_t stream) {
    mc_clear_error();
    mc_status s;
    if ((s = check_act(act))) return s;
    if ((s = mc_check_tensor(x, "x"))) return s;
    if ((s = check_float(x, "activation", "x"))) return s;
    if ((s = mc_check_contiguous(x, "x"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", y, "y"))) return s;
    mc_act_args a = {0};
    a.act = act;
    a.numel = mc_tensor_numel(x);
    a.dtype = x->dtype;
    a.x = x->data;
    a.y = y->data;
    a.device = x->device.index;
    a.stream = stream;
    if (a.numel == 0) return MC_STATUS_SUCCESS;
    if (x->device.type == MC_DEVICE_CPU) return mc_cpu_activation_forward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_activation_forward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_activation_backward(mc_activation act, const mc_tensor *dy, const mc_tensor *x,
                                 mc_tensor *dx, mc_stream_t stream) {
    mc_clear_error();
    mc_status s;
    if ((s = check_act(act))) return s;
    if ((s = mc_check_tensor(x, "x"))) return s;
    if ((s = check_float(x, "activation backward", "x"))) return s;
    if ((s = mc_check_contiguous(x, "x"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", dy, "dy"))) return s;
    if ((s = mc_check_like_contiguous(x, "x", dx, "dx"))) return s;
    mc_act_args a = {0};
    a.act = act;
    a.numel = mc_tensor_numel(x);
    a.dtype = x->dtype;
    a.x = x->data;
    a.dy = dy->data;
    a.dx = dx->data;
    a.device = x->device.index;
    a.stream = stream;
    if (a.numel == 0) return MC_STATUS_SUCCESS;
    if (x->device.type == MC_DEVICE_CPU) return mc_cpu_activation_backward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_activation_backward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

/* ---- SwiGLU ------------------------------------------------------------------------------- */

/* t (of ref's shape, checked by the caller) as a row view: unit stride in the last dimension,
 * the leading dimensions collapsing into one row stride >= n. Sets *rs. */
static mc_status row_view(const mc_tensor *t, const char *name, int64_t *rs) {
    if (t->ndim < 1) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu: %s must have at least one dimension", name);
    const int64_t n = t->shape[t->ndim - 1];
    if (mc_tensor_numel(t) == 0) {
        *rs = n;
        return MC_STATUS_SUCCESS;
    }
    if (n > 1 && t->strides[t->ndim - 1] != 1)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu: %s must have unit stride in its last dimension", name);
    int64_t stride = -1, span = 1; /* row stride, and rows covered so far by the inner leading dims */
    for (int d = t->ndim - 2; d >= 0; --d) {
        if (t->shape[d] == 1) continue;
        if (stride < 0) stride = t->strides[d];
        else if (t->strides[d] != stride * span)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu: the leading dimensions of %s do not collapse "
                           "into one row stride (make it contiguous)", name);
        span *= t->shape[d];
    }
    if (stride < 0) stride = n;
    if (stride < n)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu: the rows of %s overlap (row stride %lld < %lld)",
                       name, (long long)stride, (long long)n);
    *rs = stride;
    return MC_STATUS_SUCCESS;
}

/* Fills rows and n from gate (checked) and turns a dense problem into one long row. */
static void set_rows(mc_swiglu_args *a, const mc_tensor *gate) {
    a->n = gate->ndim ? gate->shape[gate->ndim - 1] : 1;
    a->rows = a->n ? mc_tensor_numel(gate) / a->n : 0;
    int64_t *rs[] = {&a->gate_rs, &a->up_rs, &a->y_rs, &a->dy_rs, &a->dgate_rs, &a->dup_rs, &a->h_rs};
    const int nrs = (int)(sizeof rs / sizeof rs[0]);
    int dense = 1;
    for (int i = 0; i < nrs; ++i)
        if (*rs[i] != a->n && *rs[i] != 0) dense = 0; /* 0: that view is not used */
    if (dense && a->rows > 1) {
        a->n *= a->rows;
        a->rows = 1;
        for (int i = 0; i < nrs; ++i)
            if (*rs[i]) *rs[i] = a->n;
    }
}

static mc_status swiglu_inputs(const mc_tensor *gate, const mc_tensor *up, mc_swiglu_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(gate, "gate"))) return s;
    if ((s = check_float(gate, "swiglu", "gate"))) return s;
    if ((s = mc_check_like(gate, "gate", up, "up"))) return s;
    if ((s = row_view(gate, "gate", &a->gate_rs))) return s;
    if ((s = row_view(up, "up", &a->up_rs))) return s;
    a->dtype = gate->dtype;
    a->gate = gate->data;
    a->up = up->data;
    a->device = gate->device.index;
    return MC_STATUS_SUCCESS;
}

mc_status mc_swiglu_forward(const mc_tensor *gate, const mc_tensor *up, mc_tensor *y, mc_stream_t stream) {
    mc_clear_error();
    mc_swiglu_args a = {0};
    mc_status s;
    if ((s = swiglu_inputs(gate, up, &a))) return s;
    if ((s = mc_check_like(gate, "gate", y, "y"))) return s;
    if ((s = row_view(y, "y", &a.y_rs))) return s;
    a.y = y->data;
    a.stream = stream;
    set_rows(&a, gate);
    if (a.rows == 0 || a.n == 0) return MC_STATUS_SUCCESS;
    if (gate->device.type == MC_DEVICE_CPU) return mc_cpu_swiglu_forward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_swiglu_forward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

mc_status mc_swiglu_backward(const mc_tensor *dy, const mc_tensor *gate, const mc_tensor *up,
                             mc_tensor *dgate, mc_tensor *dup, mc_tensor *h, mc_stream_t stream) {
    mc_clear_error();
    mc_swiglu_args a = {0};
    mc_status s;
    if ((s = swiglu_inputs(gate, up, &a))) return s;
    if ((s = mc_check_like(gate, "gate", dy, "dy"))) return s;
    if ((s = row_view(dy, "dy", &a.dy_rs))) return s;
    if ((s = mc_check_like(gate, "gate", dgate, "dgate"))) return s;
    if ((s = row_view(dgate, "dgate", &a.dgate_rs))) return s;
    if ((s = mc_check_like(gate, "gate", dup, "dup"))) return s;
    if ((s = row_view(dup, "dup", &a.dup_rs))) return s;
    if (dgate->data == dup->data && mc_tensor_numel(gate) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu backward: dgate and dup must not alias");
    if (h) {
        if ((s = mc_check_like(gate, "gate", h, "h"))) return s;
        if ((s = row_view(h, "h", &a.h_rs))) return s;
        if ((h->data == dgate->data || h->data == dup->data) && mc_tensor_numel(gate) > 0)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "swiglu backward: h must not alias dgate or dup");
        a.h = h->data;
    }
    a.dy = dy->data;
    a.dgate = dgate->data;
    a.dup = dup->data;
    a.stream = stream;
    set_rows(&a, gate);
    if (a.rows == 0 || a.n == 0) return MC_STATUS_SUCCESS;
    if (gate->device.type == MC_DEVICE_CPU) return mc_cpu_swiglu_backward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_swiglu_backward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
