/* AdamW: plan packing (with every per-tensor check), argument checks of the step, dispatch. */
#include "adamw.h"

#include <stddef.h>

_Static_assert(sizeof(mc_adamw_tensor) == 64, "mc_adamw_tensor is 64 bytes (device table layout)");
_Static_assert(sizeof(mc_adamw_plan_header) == 64, "plan header is 64 bytes");
_Static_assert(sizeof(mc_adamw_group) == 56, "mc_adamw_group is 56 bytes (packed by Python as <5dQii)");

static int64_t chunks_of(int64_t numel) { return (numel + MC_ADAMW_CHUNK - 1) / MC_ADAMW_CHUNK; }

static mc_status check_f32_like(const mc_tensor *param, const mc_tensor *t, const char *name) {
    mc_status s;
    if ((s = mc_check_tensor(t, name))) return s;
    if ((s = mc_check_same_device(param, "param", t, name))) return s;
    if (t->dtype != MC_DTYPE_F32)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "adamw: %s has dtype %s; expected float32", name,
                       mc_dtype_name(t->dtype));
    if (mc_tensor_numel(t) != mc_tensor_numel(param))
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "adamw: %s has %lld elements; the param has %lld", name,
                       (long long)mc_tensor_numel(t), (long long)mc_tensor_numel(param));
    return mc_check_contiguous(t, name);
}

mc_status mc_adamw_tensor_init(mc_adamw_tensor *out, const mc_tensor *param, const mc_tensor *exp_avg,
                               const mc_tensor *exp_avg_sq, const mc_tensor *max_exp_avg_sq,
                               const mc_tensor *master, const mc_tensor *step, int32_t group) {
    mc_clear_error();
    mc_status s;
    if (!out) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "out is NULL");
    if ((s = mc_check_tensor(param, "param"))) return s;
    if (param->dtype != MC_DTYPE_F32 && param->dtype != MC_DTYPE_F16 && param->dtype != MC_DTYPE_BF16)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "adamw: param has dtype %s; expected float32, "
                       "float16 or bfloat16", mc_dtype_name(param->dtype));
    if ((s = mc_check_contiguous(param, "param"))) return s;
    if ((s = check_f32_like(param, exp_avg, "exp_avg"))) return s;
    if ((s = check_f32_like(param, exp_avg_sq, "exp_avg_sq"))) return s;
    if (max_exp_avg_sq && (s = check_f32_like(param, max_exp_avg_sq, "max_exp_avg_sq"))) return s;
    if (master) {
        if (param->dtype == MC_DTYPE_F32)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: a master copy is only for 16-bit params");
        if ((s = check_f32_like(param, master, "master"))) return s;
    }
    if ((s = mc_check_tensor(step, "step"))) return s;
    if ((s = mc_check_same_device(param, "param", step, "step"))) return s;
    if (step->dtype != MC_DTYPE_F32 || mc_tensor_numel(step) != 1 || !step->data)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: step must be a float32 scalar");
    if (group < 0) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: group %d < 0", group);
    memset(out, 0, sizeof *out);
    out->param = param->data;
    out->exp_avg = (float *)exp_avg->data;
    out->exp_avg_sq = (float *)exp_avg_sq->data;
    out->max_exp_avg_sq = max_exp_avg_sq ? (float *)max_exp_avg_sq->data : NULL;
    out->master = master ? (float *)master->data : NULL;
    out->step = (float *)step->data;
    out->numel = mc_tensor_numel(param);
    out->group = group;
    return MC_STATUS_SUCCESS;
}

mc_status mc_adamw_plan_bytes(const mc_adamw_tensor *tensors, int64_t n_tensors, size_t *bytes,
                              int64_t *n_chunks) {
    mc_clear_error();
    if (!bytes || !n_chunks) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes or n_chunks is NULL");
    if (n_tensors < 0 || n_tensors > INT32_MAX)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "n_tensors = %lld outside 0..2^31-1", (long long)n_tensors);
    if (n_tensors > 0 && !tensors) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensors is NULL");
    int64_t c = 0;
    for (int64_t i = 0; i < n_tensors; ++i) {
        if (tensors[i].numel < 0)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: numel %lld < 0", (long long)i,
                           (long long)tensors[i].numel);
        if (chunks_of(tensors[i].numel) > INT32_MAX)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld is too large", (long long)i);
        c += chunks_of(tensors[i].numel);
    }
    if (c > INT32_MAX) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "too many chunks (%lld)", (long long)c);
    *n_chunks = c;
    *bytes = sizeof(mc_adamw_plan_header) + (size_t)n_tensors * sizeof(mc_adamw_tensor) +
             (size_t)c * sizeof(mc_adamw_chunk);
    return MC_STATUS_SUCCESS;
}

static int is16(mc_dtype d) { return d == MC_DTYPE_F16 || d == MC_DTYPE_BF16; }

mc_status mc_adamw_plan_pack(const mc_adamw_tensor *tensors, int64_t n_tensors,
                             const int32_t *amsgrad_of_group, int n_groups, mc_dtype dtype,
                             void *host_buffer, size_t bytes) {
    size_t need;
    int64_t nc;
    mc_status s = mc_adamw_plan_bytes(tensors, n_tensors, &need, &nc); /* clears the error */
    if (s) return s;
    if (dtype != MC_DTYPE_F32 && !is16(dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "adamw: parameters of dtype %s; expected float32, "
                       "float16 or bfloat16", mc_dtype_name(dtype));
    if (n_groups < 1 || !amsgrad_of_group)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: n_groups must be >= 1 with amsgrad_of_group given");
    if (!host_buffer || bytes < need)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: plan buffer of %zu bytes; %zu needed",
                       host_buffer ? bytes : 0, need);
    if (((uintptr_t)host_buffer & 15u) != 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: plan buffer must be 16-byte aligned");
    for (int64_t i = 0; i < n_tensors; ++i) {
        const mc_adamw_tensor *t = &tensors[i];
        if (t->group < 0 || t->group >= n_groups)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: group %d outside 0..%d", (long long)i,
                           t->group, n_groups - 1);
        if (!t->step) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: step is NULL", (long long)i);
        if (t->numel > 0 && (!t->param || !t->exp_avg || !t->exp_avg_sq))
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: param, exp_avg or exp_avg_sq is NULL",
                           (long long)i);
        if (t->numel > 0 && amsgrad_of_group[t->group] && !t->max_exp_avg_sq)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: amsgrad needs max_exp_avg_sq", (long long)i);
        if (t->master && !is16(dtype))
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor %lld: a master copy is only for 16-bit "
                           "parameters", (long long)i);
    }
    mc_adamw_plan_header h;
    memset(&h, 0, sizeof h);
    h.magic = MC_ADAMW_MAGIC;
    h.dtype = (int32_t)dtype;
    h.n_tensors = n_tensors;
    h.n_chunks = nc;
    memcpy(host_buffer, &h, sizeof h);
    mc_adamw_tensor *dst = (mc_adamw_tensor *)((char *)host_buffer + sizeof h);
    for (int64_t i = 0; i < n_tensors; ++i) {
        dst[i] = tensors[i];
        if (!amsgrad_of_group[tensors[i].group]) dst[i].max_exp_avg_sq = NULL;
        dst[i].reserved = 0;
    }
    mc_adamw_chunk *map = (mc_adamw_chunk *)(dst + n_tensors);
    int64_t b = 0;
    for (int64_t i = 0; i < n_tensors; ++i)
        for (int64_t c = 0; c < chunks_of(tensors[i].numel); ++c) {
            map[b].tensor = (int32_t)i;
            map[b].chunk = (int32_t)c;
            ++b;
        }
    return MC_STATUS_SUCCESS;
}

mc_status mc_adamw_step(const void *plan, size_t plan_bytes, int64_t n_tensors, int64_t n_chunks,
                        const void *const *grads, const mc_adamw_group *groups, int n_groups,
                        mc_dtype dtype, mc_device device, const float *grad_scale,
                        const float *found_inf, mc_stream_t stream) {
    mc_clear_error();
    mc_status s;
    if ((s = mc_check_device(&device, "adamw device"))) return s;
    if (dtype != MC_DTYPE_F32 && !is16(dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "adamw: parameters of dtype %s; expected float32, "
                       "float16 or bfloat16", mc_dtype_name(dtype));
    if (n_tensors < 0 || n_chunks < 0 || n_tensors > INT32_MAX || n_chunks > INT32_MAX)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: bad n_tensors/n_chunks");
    if (n_tensors == 0) return MC_STATUS_SUCCESS;
    if (!plan || !grads || !groups || n_groups < 1)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: plan, grads and groups are required");
    size_t need = sizeof(mc_adamw_plan_header) + (size_t)n_tensors * sizeof(mc_adamw_tensor) +
                  (size_t)n_chunks * sizeof(mc_adamw_chunk);
    if (plan_bytes < need)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: plan of %zu bytes; %zu expected", plan_bytes, need);
    mc_adamw_args a;
    memset(&a, 0, sizeof a);
    a.plan = plan;
    a.n_tensors = n_tensors;
    a.n_chunks = n_chunks;
    a.grads = grads;
    a.groups = groups;
    a.n_groups = n_groups;
    a.dtype = dtype;
    a.grad_scale = grad_scale;
    a.found_inf = found_inf;
    a.device = device.index;
    a.stream = stream;
    if (device.type == MC_DEVICE_CPU) {
        /* On the CPU the plan is host memory: check it was packed for these arguments. */
        const mc_adamw_plan_header *h = (const mc_adamw_plan_header *)plan;
        if (h->magic != MC_ADAMW_MAGIC || h->n_tensors != n_tensors || h->n_chunks != n_chunks ||
            h->dtype != (int32_t)dtype)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: the plan was not packed for these arguments");
        const mc_adamw_tensor *t = mc_adamw_plan_tensors(plan);
        for (int64_t i = 0; i < n_tensors; ++i) {
            if (t[i].group >= n_groups)
                return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: tensor %lld refers to group %d of %d",
                               (long long)i, t[i].group, n_groups);
            if (t[i].numel > 0 && !grads[i])
                return mc_fail(MC_STATUS_INVALID_ARGUMENT, "adamw: grads[%lld] is NULL", (long long)i);
        }
        return mc_cpu_adamw_step(&a);
    }
#ifdef MC_WITH_CUDA
    return mc_cuda_adamw_step(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
