/* SiLU, GELU and SwiGLU on the CPU: the reference semantics, computed in double and rounded once
 * to the dtype of the input. */
#include "../core/activations.h"
#include "cpu_elem.h"

#include <math.h>

#define MC_SQRT_2_OVER_PI 0.7978845608028654
#define MC_GELU_TANH_C 0.044715
#define MC_INV_SQRT_2 0.7071067811865476
#define MC_INV_SQRT_2PI 0.3989422804014327

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

static double act_f(mc_activation act, double x) {
    switch (act) {
    case MC_ACTIVATION_SILU: return x * sigmoid(x);
    case MC_ACTIVATION_GELU: return 0.5 * x * (1.0 + erf(x * MC_INV_SQRT_2));
    default: {
        const double u = MC_SQRT_2_OVER_PI * (x + MC_GELU_TANH_C * x * x * x);
        return 0.5 * x * (1.0 + tanh(u));
    }
    }
}

/* d act / dx */
static double act_df(mc_activation act, double x) {
    switch (act) {
    case MC_ACTIVATION_SILU: {
        const double s = sigmoid(x);
        return s * (1.0 + x * (1.0 - s));
    }
    case MC_ACTIVATION_GELU:
        return 0.5 * (1.0 + erf(x * MC_INV_SQRT_2)) + x * MC_INV_SQRT_2PI * exp(-0.5 * x * x);
    default: {
        const double u = MC_SQRT_2_OVER_PI * (x + MC_GELU_TANH_C * x * x * x);
        const double t = tanh(u);
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * MC_SQRT_2_OVER_PI * (1.0 + 3.0 * MC_GELU_TANH_C * x * x);
    }
    }
}

/* x, y: (numel,) */
mc_status mc_cpu_activation_forward(const mc_act_args *a) {
    for (int64_t i = 0; i < a->numel; ++i) mc_cpu_st(a->y, a->dtype, i, act_f(a->act, mc_cpu_ld(a->x, a->dtype, i)));
    return MC_STATUS_SUCCESS;
}

/* dy, x, dx: (numel,) */
mc_status mc_cpu_activation_backward(const mc_act_args *a) {
    for (int64_t i = 0; i < a->numel; ++i) {
        const double g = mc_cpu_ld(a->dy, a->dtype, i);
        mc_cpu_st(a->dx, a->dtype, i, g * act_df(a->act, mc_cpu_ld(a->x, a->dtype, i)));
    }
    return MC_STATUS_SUCCESS;
}

/* gate, up, y: (rows, n) row views */
mc_status mc_cpu_swiglu_forward(const mc_swiglu_args *a) {
    for (int64_t r = 0; r < a->rows; ++r)
        for (int64_t c = 0; c < a->n; ++c) {
            const double g = mc_cpu_ld(a->gate, a->dtype, r * a->gate_rs + c);
            const double u = mc_cpu_ld(a->up, a->dtype, r * a->up_rs + c);
            mc_cpu_st(a->y, a->dtype, r * a->y_rs + c, g * sigmoid(g) * u);
        }
    return MC_STATUS_SUCCESS;
}

/* dy, gate, up, dgate, dup: (rows, n) row views; every input element is read before the
 * outputs at the same position are written, so outputs may alias inputs element for element. */
mc_status mc_cpu_swiglu_backward(const mc_swiglu_args *a) {
    for (int64_t r = 0; r < a->rows; ++r)
        for (int64_t c = 0; c < a->n; ++c) {
            const double dy = mc_cpu_ld(a->dy, a->dtype, r * a->dy_rs + c);
            const double g = mc_cpu_ld(a->gate, a->dtype, r * a->gate_rs + c);
            const double u = mc_cpu_ld(a->up, a->dtype, r * a->up_rs + c);
            const double s = sigmoid(g);
            mc_cpu_st(a->dgate, a->dtype, r * a->dgate_rs + c, dy * u * s * (1.0 + g * (1.0 - s)));
            mc_cpu_st(a->dup, a->dtype, r * a->dup_rs + c, dy * g * s);
        }
    return MC_STATUS_SUCCESS;
}
