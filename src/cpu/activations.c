/* SiLU, GELU and SwiGLU on the CPU. float64: the reference semantics, computed in double.
 * float32 / float16 / bfloat16: float chunks through vectorisable elementary functions
 * (vecmath.h, a few ulp), rounded once to the dtype; chunks are split across threads with
 * OpenMP for large tensors. */
#include "../core/activations.h"
#include "cpu_elem.h"
#include "float_chunks.h"
#include "vecmath.h"

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

/* ---- float fast path ------------------------------------------------------------------------ */

static inline float sigmoid_f(float x) { return 1.0f / (1.0f + mc_expf(-x)); }

/* y = act(x) (g == NULL) or y = g * act'(x), over n floats; y may alias x or g */
MC_SIMD_CLONES
static void act_floats(mc_activation act, const float *x, const float *g, float *y, int64_t n) {
    const float isq2 = 0.70710678118654752f, isq2pi = 0.39894228040143268f;
    const float c0 = 0.79788456080286536f, c1 = 0.044715f;
    switch (act) {
    case MC_ACTIVATION_SILU:
        if (!g)
            for (int64_t i = 0; i < n; ++i) y[i] = x[i] * sigmoid_f(x[i]);
        else
            for (int64_t i = 0; i < n; ++i) {
                const float s = sigmoid_f(x[i]);
                y[i] = g[i] * (s * (1.0f + x[i] * (1.0f - s)));
            }
        break;
    case MC_ACTIVATION_GELU:
        if (!g)
            for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + mc_erff(x[i] * isq2));
        else
            for (int64_t i = 0; i < n; ++i)
                y[i] = g[i] * (0.5f * (1.0f + mc_erff(x[i] * isq2)) + x[i] * isq2pi * mc_expf(-0.5f * x[i] * x[i]));
        break;
    default:
        if (!g)
            for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + mc_tanhf(c0 * (x[i] + c1 * x[i] * x[i] * x[i])));
        else
            for (int64_t i = 0; i < n; ++i) {
                const float t = mc_tanhf(c0 * (x[i] + c1 * x[i] * x[i] * x[i]));
                y[i] = g[i] * (0.5f * (1.0f + t) + 0.5f * x[i] * (1.0f - t * t) * c0 * (1.0f + 3.0f * c1 * x[i] * x[i]));
            }
        break;
    }
}

/* out = act(x) or dy * act'(x) over numel elements of a 16/32-bit float dtype, chunk by chunk */
static void act_chunks(const mc_act_args *a, const void *x, const void *g, void *out) {
    const int64_t chunks = (a->numel + MC_CHUNK - 1) / MC_CHUNK;
#pragma omp parallel for schedule(static) if (a->numel > (1 << 18))
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t off = c * MC_CHUNK, len = a->numel - off < MC_CHUNK ? a->numel - off : MC_CHUNK;
        if (a->dtype == MC_DTYPE_F32) { /* in place: no widening needed */
            act_floats(a->act, (const float *)x + off, g ? (const float *)g + off : NULL, (float *)out + off, len);
            continue;
        }
        float xb[MC_CHUNK], gb[MC_CHUNK], yb[MC_CHUNK];
        mc_chunk_load(x, a->dtype, off, len, xb);
        if (g) mc_chunk_load(g, a->dtype, off, len, gb);
        act_floats(a->act, xb, g ? gb : NULL, yb, len);
        mc_chunk_store(out, a->dtype, off, len, yb);
    }
}

/* ---- entry points ----------------------------------------------------------------------------- */

/* x, y: (numel,) */
mc_status mc_cpu_activation_forward(const mc_act_args *a) {
    if (a->dtype != MC_DTYPE_F64) {
        act_chunks(a, a->x, NULL, a->y);
        return MC_STATUS_SUCCESS;
    }
    for (int64_t i = 0; i < a->numel; ++i) mc_cpu_st(a->y, a->dtype, i, act_f(a->act, mc_cpu_ld(a->x, a->dtype, i)));
    return MC_STATUS_SUCCESS;
}

/* dy, x, dx: (numel,) */
mc_status mc_cpu_activation_backward(const mc_act_args *a) {
    if (a->dtype != MC_DTYPE_F64) {
        act_chunks(a, a->x, a->dy, a->dx);
        return MC_STATUS_SUCCESS;
    }
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

/* dy, gate, up, dgate, dup, h (optional): (rows, n) row views; every input element is read before
 * the outputs at the same position are written, so outputs may alias inputs element for element. */
mc_status mc_cpu_swiglu_backward(const mc_swiglu_args *a) {
    for (int64_t r = 0; r < a->rows; ++r)
        for (int64_t c = 0; c < a->n; ++c) {
            const double dy = mc_cpu_ld(a->dy, a->dtype, r * a->dy_rs + c);
            const double g = mc_cpu_ld(a->gate, a->dtype, r * a->gate_rs + c);
            const double u = mc_cpu_ld(a->up, a->dtype, r * a->up_rs + c);
            const double s = sigmoid(g);
            mc_cpu_st(a->dgate, a->dtype, r * a->dgate_rs + c, dy * u * s * (1.0 + g * (1.0 - s)));
            mc_cpu_st(a->dup, a->dtype, r * a->dup_rs + c, dy * g * s);
            if (a->h) mc_cpu_st(a->h, a->dtype, r * a->h_rs + c, g * s * u);
        }
    return MC_STATUS_SUCCESS;
}
