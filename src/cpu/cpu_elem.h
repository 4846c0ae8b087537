/* Element access by dtype for the CPU reference kernels: load as double, store rounded once.
 * The per-element switch keeps one loop for every dtype; the CPU path is the reference (rmsnorm.c
 * has typed loops of its own, generated per dtype). */
#ifndef MC_CPU_ELEM_H
#define MC_CPU_ELEM_H

#include "../core/internal.h"

static inline double mc_cpu_ld(const void *p, mc_dtype dt, int64_t i) {
    switch (dt) {
    case MC_DTYPE_F32: return ((const float *)p)[i];
    case MC_DTYPE_F64: return ((const double *)p)[i];
    case MC_DTYPE_F16: return mc_f16_to_f32(((const uint16_t *)p)[i]);
    case MC_DTYPE_BF16: return mc_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return 0.0;
    }
}

static inline void mc_cpu_st(void *p, mc_dtype dt, int64_t i, double v) {
    switch (dt) {
    case MC_DTYPE_F32: ((float *)p)[i] = (float)v; break;
    case MC_DTYPE_F64: ((double *)p)[i] = v; break;
    case MC_DTYPE_F16: ((uint16_t *)p)[i] = mc_f32_to_f16((float)v); break;
    case MC_DTYPE_BF16: ((uint16_t *)p)[i] = mc_f32_to_bf16((float)v); break;
    default: break;
    }
}

/* Integer index of dtype i32 or i64. */
static inline int64_t mc_cpu_ld_index(const void *p, mc_dtype dt, int64_t i) {
    return dt == MC_DTYPE_I32 ? (int64_t)((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

#endif
