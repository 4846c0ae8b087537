/* The CPU fast paths work on float chunks: 16-bit inputs are widened a chunk at a time into a
 * stack buffer, computed in float with loops the compiler vectorises (vecmath.h), and rounded
 * back once. float64 keeps the double-precision reference loops. */
#ifndef MC_CPU_FLOAT_CHUNKS_H
#define MC_CPU_FLOAT_CHUNKS_H

#include "../core/internal.h"

#define MC_CHUNK 1024

/* out[0..len) = p[off..off+len) as float (p of dtype f32, f16 or bf16) */
static inline void mc_chunk_load(const void *p, mc_dtype dt, int64_t off, int64_t len, float *out) {
    if (dt == MC_DTYPE_F32) {
        memcpy(out, (const float *)p + off, (size_t)len * sizeof(float));
    } else if (dt == MC_DTYPE_BF16) {
        const uint16_t *h = (const uint16_t *)p + off;
        for (int64_t i = 0; i < len; ++i) out[i] = mc_bf16_to_f32(h[i]);
    } else {
        const uint16_t *h = (const uint16_t *)p + off;
        for (int64_t i = 0; i < len; ++i) out[i] = mc_f16_to_f32(h[i]);
    }
}

/* p[off..off+len) = in[0..len) rounded to dt */
static inline void mc_chunk_store(void *p, mc_dtype dt, int64_t off, int64_t len, const float *in) {
    if (dt == MC_DTYPE_F32) {
        memcpy((float *)p + off, in, (size_t)len * sizeof(float));
    } else if (dt == MC_DTYPE_BF16) {
        uint16_t *h = (uint16_t *)p + off;
        for (int64_t i = 0; i < len; ++i) h[i] = mc_f32_to_bf16(in[i]);
    } else {
        uint16_t *h = (uint16_t *)p + off;
        for (int64_t i = 0; i < len; ++i) h[i] = mc_f32_to_f16(in[i]);
    }
}

#endif
