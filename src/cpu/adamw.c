/* AdamW on the CPU: the reference semantics of mc_adamw_step. Each element is updated in double
 * and rounded once per stored value; bias corrections in double from the step count, as
 * torch.optim.AdamW computes them on the host. */
#include "../core/adamw.h"

#include <math.h>

static inline double ldp(const void *p, mc_dtype dt, int64_t i) {
    switch (dt) {
    case MC_DTYPE_F32: return ((const float *)p)[i];
    case MC_DTYPE_F16: return mc_f16_to_f32(((const uint16_t *)p)[i]);
    case MC_DTYPE_BF16: return mc_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0.0;
    }
}

static inline void stp(void *p, mc_dtype dt, int64_t i, double v) {
    switch (dt) {
    case MC_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case MC_DTYPE_F16: ((uint16_t *)p)[i] = mc_f32_to_f16((float)v); break;
    case MC_DTYPE_BF16: ((uint16_t *)p)[i] = mc_f32_to_bf16((float)v); break;
    default: break;
    }
}

/* For every tensor i: param/master, exp_avg, exp_avg_sq, max_exp_avg_sq: (numel_i,); grads[i]:
 * (numel_i,) of the param dtype; step: scalar. */
mc_status mc_cpu_adamw_step(const mc_adamw_args *a) {
    if (a->found_inf && *a->found_inf != 0.0f) return MC_STATUS_SUCCESS; /* skipped step */
    const double scale = a->grad_scale ? (double)*a->grad_scale : 1.0;
    const mc_adamw_tensor *ts = mc_adamw_plan_tensors(a->plan);
    for (int64_t i = 0; i < a->n_tensors; ++i) {
        const mc_adamw_tensor *t = &ts[i];
        const mc_adamw_group *g = &a->groups[t->group];
        const double step = (double)*t->step + 1.0;
        const double lr = g->lr_tensor ? (double)*g->lr_tensor : g->lr;
        const double bc1 = 1.0 - pow(g->beta1, step);
        const double bc2_sqrt = sqrt(1.0 - pow(g->beta2, step));
        const double step_size = lr / bc1;
        const double decay = 1.0 - lr * g->weight_decay;
        const void *grad = a->grads[i];
        for (int64_t j = 0; j < t->numel; ++j) {
            double gr = ldp(grad, a->dtype, j) / scale; /* divide by the scale, as torch does */
            if (g->maximize) gr = -gr;
            double p = t->master ? (double)t->master[j] : ldp(t->param, a->dtype, j);
            p *= decay;
            const double m = g->beta1 * (double)t->exp_avg[j] + (1.0 - g->beta1) * gr;
            const double v = g->beta2 * (double)t->exp_avg_sq[j] + (1.0 - g->beta2) * gr * gr;
            t->exp_avg[j] = (float)m;
            t->exp_avg_sq[j] = (float)v;
            double vh = v;
            if (t->max_exp_avg_sq) {
                const double vm = fmax((double)t->max_exp_avg_sq[j], v);
                t->max_exp_avg_sq[j] = (float)vm;
                vh = vm;
            }
            p -= step_size * m / (sqrt(vh) / bc2_sqrt + g->eps);
            if (t->master) t->master[j] = (float)p;
            stp(t->param, a->dtype, j, t->master ? (double)t->master[j] : p);
        }
    }
    for (int64_t i = 0; i < a->n_tensors; ++i) *ts[i].step += 1.0f;
    return MC_STATUS_SUCCESS;
}
