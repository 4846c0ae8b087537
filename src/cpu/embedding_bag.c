/* EmbeddingBag on the CPU. float32 sum/mean forward: a row-major fast path in float. Everything
 * else: the reference semantics, sums in double; the weight gradient is accumulated sequentially
 * (deterministic) in the weight's dtype, or in f32 for f16/bf16. */
#include "../core/embedding_bag.h"
#include "cpu_elem.h"
#include "vecmath.h" /* MC_SIMD_CLONES */


/* Bag b is [start, end). Returns 0 when the offsets make it invalid (then start = end = 0). */
static int bag_range(const mc_embedding_bag_args *a, int64_t b, int64_t *start, int64_t *end) {
    if (a->fixed || !a->offsets) { /* 2-D indices */
        *start = b * a->fixed;
        *end = *start + a->fixed;
        return 1;
    }
    int64_t s = mc_cpu_ld_index(a->offsets, a->itype, b);
    int64_t e = b + 1 < a->noffsets ? mc_cpu_ld_index(a->offsets, a->itype, b + 1) : a->n;
    if (s < 0 || e > a->n || s > e || (b == 0 && s != 0)) {
        *start = *end = 0;
        return 0;
    }
    *start = s;
    *end = e;
    return 1;
}

/* The row of entry p, or -1 if it is out of range or the padding row. */
static inline int64_t entry_row(const mc_embedding_bag_args *a, int64_t p) {
    int64_t r = mc_cpu_ld_index(a->indices, a->itype, p);
    if (r < 0 || r >= a->num || r == a->padding_idx) return -1;
    return r;
}

/* Validation pass: counts bad bags and out-of-range indices into errors, or fails on the first
 * when errors is NULL. Indices outside every bag are not read by the op and not checked. */
static mc_status validate(const mc_embedding_bag_args *a) {
    int64_t err[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < a->nbags; ++b) {
        int64_t s, e;
        if (!bag_range(a, b, &s, &e)) {
            if (!a->errors)
                return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: offsets of bag %lld are invalid (offsets "
                               "must start at 0, be non-decreasing and at most %lld)", (long long)b, (long long)a->n);
            if (err[2]++ == 0) err[3] = b;
            continue;
        }
        for (int64_t p = s; p < e; ++p) {
            int64_t r = mc_cpu_ld_index(a->indices, a->itype, p);
            if (r < 0 || r >= a->num) {
                if (!a->errors)
                    return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: indices[%lld] = %lld is out of range "
                                   "for %lld embeddings", (long long)p, (long long)r, (long long)a->num);
                if (err[0]++ == 0) err[1] = p;
            }
        }
    }
    if (a->errors)
        for (int i = 0; i < 4; ++i) a->errors[i] = err[i];
    return MC_STATUS_SUCCESS;
}

/* o += s * x over n floats (a separate function so it gets the AVX2 clone: the OpenMP body
 * that calls it is outlined and would not) */
MC_SIMD_CLONES
static void axpy_f32(float *o, const float *x, float s, int64_t n) {
    for (int64_t c = 0; c < n; ++c) o[c] += s * x[c];
}

/* float32 weights, sum or mean: row-major accumulation in float (each bag adds whole
 * contiguous rows, which the compiler vectorises), bags split across threads. */
static void forward_sum_f32(const mc_embedding_bag_args *a) {
    const int64_t D = a->dim;
    const float *w = (const float *)a->weight, *psw = (const float *)a->psw;
    float *out = (float *)a->out;
#pragma omp parallel for schedule(static) if (a->n * D > (1 << 18))
    for (int64_t b = 0; b < a->nbags; ++b) {
        int64_t st, en, count = 0;
        bag_range(a, b, &st, &en);
        float *o = out + b * D;
        for (int64_t c = 0; c < D; ++c) o[c] = 0.0f;
        for (int64_t p = st; p < en; ++p) {
            const int64_t r = entry_row(a, p);
            if (r < 0) continue;
            ++count;
            axpy_f32(o, w + r * D, psw ? psw[p] : 1.0f, D);
        }
        if (a->mode == MC_EMBEDDING_BAG_MODE_MEAN && count > 0) {
            const float inv = 1.0f / (float)count;
            for (int64_t c = 0; c < D; ++c) o[c] *= inv;
        }
        if (a->bag_count) a->bag_count[b] = count;
        if (a->max_pos)
            for (int64_t c = 0; c < D; ++c) a->max_pos[b * D + c] = -1;
    }
}

/* weight: (num, dim); out: (nbags, dim); bag_count: (nbags,); max_pos: (nbags, dim) */
mc_status mc_cpu_embedding_bag_forward(const mc_embedding_bag_args *a) {
    mc_status s = validate(a);
    if (s) return s;
    if (a->dtype == MC_DTYPE_F32 && a->mode != MC_EMBEDDING_BAG_MODE_MAX) {
        forward_sum_f32(a);
        return MC_STATUS_SUCCESS;
    }
    const int64_t D = a->dim;
    for (int64_t b = 0; b < a->nbags; ++b) {
        int64_t st, en;
        bag_range(a, b, &st, &en);
        int64_t count = 0;
        for (int64_t p = st; p < en; ++p) count += entry_row(a, p) >= 0;
        if (a->bag_count) a->bag_count[b] = count;
        for (int64_t c = 0; c < D; ++c) {
            double acc = 0.0;
            int64_t mpos = -1;
            for (int64_t p = st; p < en; ++p) {
                const int64_t r = entry_row(a, p);
                if (r < 0) continue;
                const double v = mc_cpu_ld(a->weight, a->dtype, r * D + c);
                if (a->mode == MC_EMBEDDING_BAG_MODE_MAX) {
                    if (mpos < 0 || v > acc) { /* the first maximum wins ties */
                        acc = v;
                        mpos = p;
                    }
                } else {
                    acc += a->psw ? v * mc_cpu_ld(a->psw, a->dtype, p) : v;
                }
            }
            if (a->mode == MC_EMBEDDING_BAG_MODE_MEAN && count > 0) acc /= (double)count;
            mc_cpu_st(a->out, a->dtype, b * D + c, acc);
            if (a->max_pos) a->max_pos[b * D + c] = mpos;
        }
    }
    return MC_STATUS_SUCCESS;
}

size_t mc_cpu_embedding_bag_workspace_size(const mc_embedding_bag_args *a) {
    /* f32 accumulator for 16-bit weights; f32 and f64 accumulate in dweight itself */
    if (a->dtype == MC_DTYPE_F16 || a->dtype == MC_DTYPE_BF16) return (size_t)(a->num * a->dim) * sizeof(float);
    return 0;
}

mc_status mc_cpu_embedding_bag_backward(const mc_embedding_bag_args *a) {
    const int64_t D = a->dim;
    const int half = a->dtype == MC_DTYPE_F16 || a->dtype == MC_DTYPE_BF16;
    float *acc32 = half ? (float *)a->workspace : NULL;
    void *acc = half ? (void *)acc32 : a->dweight;
    const mc_dtype adt = half ? MC_DTYPE_F32 : a->dtype;
    if (a->dweight)
        for (int64_t i = 0; i < a->num * D; ++i) mc_cpu_st(acc, adt, i, 0.0);
    if (a->dpsw)
        for (int64_t p = 0; p < a->n; ++p) mc_cpu_st(a->dpsw, a->dtype, p, 0.0);
    for (int64_t b = 0; b < a->nbags; ++b) {
        int64_t st, en;
        if (!bag_range(a, b, &st, &en)) continue;
        if (a->dweight && a->mode == MC_EMBEDDING_BAG_MODE_MAX) {
            for (int64_t c = 0; c < D; ++c) {
                const int64_t p = a->max_pos[b * D + c];
                if (p < st || p >= en) continue; /* empty bag (-1), or not ours: never trusted */
                const int64_t r = entry_row(a, p);
                if (r < 0) continue;
                mc_cpu_st(acc, adt, r * D + c, mc_cpu_ld(acc, adt, r * D + c) + mc_cpu_ld(a->dout, a->dtype, b * D + c));
            }
        }
        for (int64_t p = st; p < en; ++p) {
            const int64_t r = entry_row(a, p);
            if (r < 0) continue;
            if (a->dweight && a->mode != MC_EMBEDDING_BAG_MODE_MAX) {
                double scale = 1.0;
                if (a->psw) scale = mc_cpu_ld(a->psw, a->dtype, p);
                if (a->mode == MC_EMBEDDING_BAG_MODE_MEAN) scale = a->bag_count[b] > 0 ? 1.0 / (double)a->bag_count[b] : 0.0;
                for (int64_t c = 0; c < D; ++c)
                    mc_cpu_st(acc, adt, r * D + c,
                              mc_cpu_ld(acc, adt, r * D + c) + scale * mc_cpu_ld(a->dout, a->dtype, b * D + c));
            }
            if (a->dpsw) {
                double dot = 0.0;
                for (int64_t c = 0; c < D; ++c)
                    dot += mc_cpu_ld(a->dout, a->dtype, b * D + c) * mc_cpu_ld(a->weight, a->dtype, r * D + c);
                mc_cpu_st(a->dpsw, a->dtype, p, dot);
            }
        }
    }
    if (a->dweight && half)
        for (int64_t i = 0; i < a->num * D; ++i) mc_cpu_st(a->dweight, a->dtype, i, acc32[i]);
    return MC_STATUS_SUCCESS;
}
