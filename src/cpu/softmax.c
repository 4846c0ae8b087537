/* Softmax on the CPU. Every tensor is (outer, n, inner); the softmax runs over n with stride
 * inner. Contiguous rows (inner == 1) of float32 / float16 / bfloat16: float chunks through the
 * vectorisable exponential (vecmath.h), sums in float with 8 partial sums, rows split across
 * threads with OpenMP when there is enough work. Everything else (float64, inner > 1): the
 * reference loops, sums in double, results rounded once. */
#include "../core/softmax.h"
#include "cpu_elem.h"
#include "float_chunks.h"
#include "vecmath.h"

#include <math.h>

/* ---- float fast path for contiguous rows -------------------------------------------------- */

/* max over n floats, and whether any is NaN */
MC_SIMD_CLONES
static float max_floats(const float *x, int64_t n, int *nan) {
    float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int bad = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) {
            m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
            bad |= x[i + l] != x[i + l];
        }
    float r = -INFINITY;
    for (; i < n; ++i) {
        r = x[i] > r ? x[i] : r;
        bad |= x[i] != x[i];
    }
    for (int l = 0; l < 8; ++l) r = m[l] > r ? m[l] : r;
    *nan |= bad;
    return r;
}

/* y = exp(x - m) (y may be NULL), returns the sum */
MC_SIMD_CLONES
static float exp_floats(const float *x, float m, float *y, int64_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) {
            const float e = mc_expf(x[i + l] - m);
            if (y) y[i + l] = e;
            s[l] += e;
        }
    float r = 0;
    for (; i < n; ++i) {
        const float e = mc_expf(x[i] - m);
        if (y) y[i] = e;
        r += e;
    }
    for (int l = 0; l < 8; ++l) r += s[l];
    return r;
}

/* y *= s */
MC_SIMD_CLONES
static void scale_floats(float *y, float s, int64_t n) {
    for (int64_t i = 0; i < n; ++i) y[i] *= s;
}

/* sum of a[i] * b[i] */
MC_SIMD_CLONES
static float dot_floats(const float *a, const float *b, int64_t n) {
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
    float r = 0;
    for (; i < n; ++i) r += a[i] * b[i];
    for (int l = 0; l < 8; ++l) r += s[l];
    return r;
}

/* Same special values as the reference: a row of all -inf or with +inf gives NaN (inf - inf). */
static void softmax_rows_float(const mc_softmax_args *a) {
    const int64_t n = a->n;
#pragma omp parallel for schedule(static) if (a->outer * n > (1 << 18))
    for (int64_t r = 0; r < a->outer; ++r) {
        const int64_t base = r * n;
        if (a->dtype == MC_DTYPE_F32) { /* in place: max, then exp written once into y, then scale */
            const float *x = (const float *)a->x + base;
            float *y = (float *)a->y + base;
            int nan = 0;
            float m = max_floats(x, n, &nan);
            if (nan) m = NAN;
            double sum = 0; /* chunk sums added in double: long rows stay accurate */
            for (int64_t c = 0; c < n; c += MC_CHUNK)
                sum += exp_floats(x + c, m, y + c, n - c < MC_CHUNK ? n - c : MC_CHUNK);
            scale_floats(y, (float)(1.0 / sum), n);
            continue;
        }
        float xb[MC_CHUNK], yb[MC_CHUNK];
        int nan = 0;
        float m = -INFINITY;
        for (int64_t c = 0; c < n; c += MC_CHUNK) {
            const int64_t len = n - c < MC_CHUNK ? n - c : MC_CHUNK;
            mc_chunk_load(a->x, a->dtype, base + c, len, xb);
            const float cm = max_floats(xb, len, &nan);
            m = cm > m ? cm : m;
        }
        if (nan) m = NAN;
        double sum = 0;
        for (int64_t c = 0; c < n; c += MC_CHUNK) {
            const int64_t len = n - c < MC_CHUNK ? n - c : MC_CHUNK;
            mc_chunk_load(a->x, a->dtype, base + c, len, xb);
            sum += exp_floats(xb, m, NULL, len);
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t c = 0; c < n; c += MC_CHUNK) {
            const int64_t len = n - c < MC_CHUNK ? n - c : MC_CHUNK;
            mc_chunk_load(a->x, a->dtype, base + c, len, xb);
            exp_floats(xb, m, yb, len);
            for (int64_t i = 0; i < len; ++i) yb[i] *= inv;
            mc_chunk_store(a->y, a->dtype, base + c, len, yb);
        }
    }
}

/* dx = y * (dy - sum(dy * y)); dx may alias dy or y element for element */
static void softmax_backward_rows_float(const mc_softmax_args *a) {
    const int64_t n = a->n;
#pragma omp parallel for schedule(static) if (a->outer * n > (1 << 18))
    for (int64_t r = 0; r < a->outer; ++r) {
        float yb[MC_CHUNK], gb[MC_CHUNK];
        const int64_t base = r * n;
        double dot = 0;
        for (int64_t c = 0; c < n; c += MC_CHUNK) {
            const int64_t len = n - c < MC_CHUNK ? n - c : MC_CHUNK;
            mc_chunk_load(a->y, a->dtype, base + c, len, yb);
            mc_chunk_load(a->dy, a->dtype, base + c, len, gb);
            dot += dot_floats(yb, gb, len);
        }
        for (int64_t c = 0; c < n; c += MC_CHUNK) {
            const int64_t len = n - c < MC_CHUNK ? n - c : MC_CHUNK;
            mc_chunk_load(a->y, a->dtype, base + c, len, yb);
            mc_chunk_load(a->dy, a->dtype, base + c, len, gb);
            const float d = (float)dot;
            for (int64_t i = 0; i < len; ++i) gb[i] = yb[i] * (gb[i] - d);
            mc_chunk_store(a->dx, a->dtype, base + c, len, gb);
        }
    }
}

/* ---- entry points (and the reference loops) ------------------------------------------------ */

/* x, y: (outer, n, inner). Plain max, then sum of exp(x - max): a row of all -inf gives
 * exp(nan) = nan, and +inf gives inf - inf = nan in the sum, so those rows are NaN (as torch). */
mc_status mc_cpu_softmax_forward(const mc_softmax_args *a) {
    if (a->inner == 1 && a->dtype != MC_DTYPE_F64) {
        softmax_rows_float(a);
        return MC_STATUS_SUCCESS;
    }
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
    if (a->inner == 1 && a->dtype != MC_DTYPE_F64) {
        softmax_backward_rows_float(a);
        return MC_STATUS_SUCCESS;
    }
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
