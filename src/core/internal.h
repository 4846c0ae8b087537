/* Internal helpers shared by the core and the backends. Not part of the public API. */
#ifndef MC_INTERNAL_H
#define MC_INTERNAL_H

#include "metalcore.h"

#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Records the detail of a failure for mc_last_error() and returns `status`, so a check reads
 * `return mc_fail(MC_STATUS_INVALID_ARGUMENT, "x must be ...");`. printf-style. */
mc_status mc_fail(mc_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Clears the thread's error detail (called on entry to every public op). */
void mc_clear_error(void);

/* ---- argument checks (BLIS-style: every op's *_check calls these at the boundary) ---------- */

/* t is non-NULL, rank and extents valid, dtype valid, data non-NULL unless numel == 0. */
mc_status mc_check_tensor(const mc_tensor *t, const char *name);
/* t is row-major contiguous. */
mc_status mc_check_contiguous(const mc_tensor *t, const char *name);
/* a and b are on the same device. */
mc_status mc_check_same_device(const mc_tensor *a, const char *an, const mc_tensor *b,
                               const char *bn);
/* a and b have the same shape. */
mc_status mc_check_same_shape(const mc_tensor *a, const char *an, const mc_tensor *b,
                              const char *bn);
/* t is a valid tensor with the shape, dtype and device of ref (an output or a gradient shaped
 * like an input); the _contiguous form also requires t to be row-major contiguous. */
mc_status mc_check_like(const mc_tensor *ref, const char *rn, const mc_tensor *t, const char *name);
mc_status mc_check_like_contiguous(const mc_tensor *ref, const char *rn, const mc_tensor *t, const char *name);
/* The device is usable: CPU, or CUDA compiled in with a valid ordinal. */
mc_status mc_check_device(const mc_device *d, const char *name);
/* dtype is one of f32, f64, f16, bf16. */
int mc_dtype_is_float(mc_dtype d);

/* ---- 16-bit floats on the CPU (round to nearest even, NaN preserved) ----------------------- */

static inline float mc_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static inline uint16_t mc_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
float mc_f16_to_f32(uint16_t h);
uint16_t mc_f32_to_f16(float f);

/* ---- CUDA backend entry points (defined in src/cuda/, present when MC_WITH_CUDA) ---------- */

#ifdef MC_WITH_CUDA
int mc_cuda_runtime_device_count(void);
/* Makes `device` current for this thread; MC_STATUS_CUDA_ERROR with detail on failure. */
mc_status mc_cuda_set_device(int device);
#endif

#ifdef __cplusplus
}
#endif

#endif
