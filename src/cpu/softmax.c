/* Softmax on the CPU: the reference semantics. Every tensor is (outer, n, inner); the softmax
 * runs over n with stride inner. Sums in double, results rounded once. */
#include "../core/softmax.h"
#include "cpu_elem.h"

#include <math.h>

/* x, y: (outer, n, inner). Plain max, then sum of exp(x - max): a row of all -inf gives
 * exp(nan) = nan, and +inf gives inf - inf = nan in the sum, so those rows are NaN (as torch). */
mc_status mc_cpu_softmax_forward(const mc_softmax_args *a) {
    const int64_t n = a->n, in = a->inner;
    for (int64_t o = 0; o < a->outer; ++o)
        for (int64_t i = 0; i < in; ++i) {
            const int64_t base = o * n * in + i;
            double m = -INFINITY;
            int nan = 0;
            for (int64_t j = 0; j < n; ++j) {
                const double v = mc_cpu_ld(a->x, a->dtype, base + j * in);
                if (v != v) nan = 1;
                if (v > m) m = v;
            }
            if (nan) m = NAN;
            double s = 0.0;
            for (int64_t j = 0; j < n; ++j) s += exp(mc_cpu_ld(a->x, a->dtype, base + j * in) - m);
            const double inv = 1.0 / s;
            for (int64_t j = 0; j < n; ++j)
                mc_cpu_st(a->y, a->dtype, base + j * in, exp(mc_cpu_ld(a->x, a->dtype, base + j * in) - m) * inv);
        }
    return MC_STATUS_SUCCESS;
}

/* dy, y, dx: (outer, n, inner); dx = y * (dy - sum(dy * y)). */
mc_status mc_cpu_softmax_backward(const mc_softmax_args *a) {
    const int64_t n = a->n, in = a->inner;
    for (int64_t o = 0; o < a->outer; ++o)
        for (int64_t i = 0; i < in; ++i) {
            const int64_t base = o * n * in + i;
            double dot = 0.0;
            for (int64_t j = 0; j < n; ++j)
                dot += mc_cpu_ld(a->dy, a->dtype, base + j * in) * mc_cpu_ld(a->y, a->dtype, base + j * in);
            for (int64_t j = 0; j < n; ++j) {
                const double yv = mc_cpu_ld(a->y, a->dtype, base + j * in);
                mc_cpu_st(a->dx, a->dtype, base + j * in, yv * (mc_cpu_ld(a->dy, a->dtype, base + j * in) - dot));
            }
        }
    return MC_STATUS_SUCCESS;
}
