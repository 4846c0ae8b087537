/* RMSNorm on the CPU: the reference semantics. Sums in double; f32/f16/bf16 results are
 * computed in float and rounded once. */
#include "../core/rmsnorm.h"

#include <math.h>

/* Element access by dtype. The per-element switch keeps one loop for every dtype; the CPU
 * path is the reference, not the fast path. */
static inline double ld(const void *p, mc_dtype dt, int64_t i) {
    switch (dt) {
    case MC_DTYPE_F32: return ((const float *)p)[i];
    case MC_DTYPE_F64: return ((const double *)p)[i];
    case MC_DTYPE_F16: return mc_f16_to_f32(((const uint16_t *)p)[i]);
    case MC_DTYPE_BF16: return mc_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0.0;
    }
}

static inline void st(void *p, mc_dtype dt, int64_t i, double v) {
    switch (dt) {
    case MC_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case MC_DTYPE_F64: ((double *)p)[i] = v; break;
    case MC_DTYPE_F16: ((uint16_t *)p)[i] = mc_f32_to_f16((float)v); break;
    case MC_DTYPE_BF16: ((uint16_t *)p)[i] = mc_f32_to_bf16((float)v); break;
    default: break;
    }
}

/* x: (rows, n); weight: (n,) or NULL; y: (rows, n); rstd: (rows,) or NULL */
mc_status mc_cpu_rmsnorm_forward(const mc_rmsnorm_args *a) {
    const int64_t n = a->n;
    const mc_dtype rdt = a->dtype == MC_DTYPE_F64 ? MC_DTYPE_F64 : MC_DTYPE_F32;
    for (int64_t r = 0; r < a->rows; ++r) {
        const int64_t off = r * n;
        double ss = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            double v = ld(a->x, a->dtype, off + j);
            if (a->residual) { /* h = x + residual, rounded to the dtype as the unfused add would */
                st(a->h, a->dtype, off + j, v + ld(a->residual, a->dtype, off + j));
                v = ld(a->h, a->dtype, off + j);
            }
            ss += v * v;
        }
        const void *src = a->residual ? a->h : a->x;
        double rs = 1.0 / sqrt(ss / (double)n + a->eps);
        if (a->dtype != MC_DTYPE_F64) rs = (float)rs;
        if (a->rstd) st(a->rstd, rdt, r, rs);
        for (int64_t j = 0; j < n; ++j) {
            double v = ld(src, a->dtype, off + j) * rs;
            if (a->weight) v *= ld(a->weight, a->wdtype, j);
            st(a->y, a->dtype, off + j, v);
        }
    }
    return MC_STATUS_SUCCESS;
}

size_t mc_cpu_rmsnorm_backward_workspace_size(const mc_rmsnorm_args *a) {
    return (size_t)a->n * sizeof(double); /* dweight accumulated in double */
}

/* dx = rstd * (g - x * rstd^2 * mean(g * x)), g = dy * weight;  dweight = sum_rows dy * x * rstd */
mc_status mc_cpu_rmsnorm_backward(const mc_rmsnorm_args *a) {
    const int64_t n = a->n;
    const mc_dtype rdt = a->dtype == MC_DTYPE_F64 ? MC_DTYPE_F64 : MC_DTYPE_F32;
    double *dw = a->dweight ? (double *)a->workspace : NULL;
    if (dw)
        for (int64_t j = 0; j < n; ++j) dw[j] = 0.0;
    for (int64_t r = 0; r < a->rows; ++r) {
        const int64_t off = r * n;
        const double rs = ld(a->rstd, rdt, r);
        double dot = 0.0;
        for (int64_t j = 0; j < n; ++j) {
            double g = ld(a->dy, a->dtype, off + j);
            if (a->weight) g *= ld(a->weight, a->wdtype, j);
            dot += g * ld(a->x, a->dtype, off + j);
        }
        const double c = rs * rs * dot / (double)n;
        for (int64_t j = 0; j < n; ++j) {
            const double dyv = ld(a->dy, a->dtype, off + j);
            const double xv = ld(a->x, a->dtype, off + j);
            double g = a->weight ? dyv * ld(a->weight, a->wdtype, j) : dyv;
            if (dw) dw[j] += dyv * xv * rs;
            const double extra = a->dres ? ld(a->dres, a->dtype, off + j) : 0.0;
            st(a->dx, a->dtype, off + j, rs * (g - xv * c) + extra);
        }
    }
    if (dw)
        for (int64_t j = 0; j < n; ++j) st(a->dweight, a->wdtype, j, dw[j]);
    return MC_STATUS_SUCCESS;
}
