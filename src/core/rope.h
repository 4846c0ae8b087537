/* RoPE: the contract between the core (src/core/rope.c, which validates) and the backends
 * (src/cpu/rope.c, src/cuda/rope.cu, which trust their arguments). */
#ifndef MC_CORE_ROPE_H
#define MC_CORE_ROPE_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One rotated tensor: x (B, H, S, D) read, y written; strides of (b, h, s) in elements
 * (the last dimension is contiguous). */
typedef struct mc_rope_tensor {
    const void *x;
    void *y;
    int64_t heads;
    int64_t xs[3], ys[3];
} mc_rope_tensor;

typedef struct mc_rope_args {
    int64_t batch, seq, dim, rot; /* B, S, D, R (R even, R <= D) */
    mc_dtype dtype;               /* of q, k and the outputs */
    mc_dtype cdtype;              /* of cos and sin (dtype or f32) */
    mc_rope_tensor t[2];          /* q, then k (t[1].heads == 0 when k is absent) */
    const void *cos, *sin;        /* (Bc, S, R) */
    int64_t cs[2], ss[2];         /* strides of (b, s) for cos and sin; b stride 0 when Bc == 1 */
    int inverse;                  /* 0: forward rotation; 1: its transpose (the backward) */
    int device;
    mc_stream_t stream;
} mc_rope_args;

mc_status mc_cpu_rope(const mc_rope_args *a);
#ifdef MC_WITH_CUDA
mc_status mc_cuda_rope(const mc_rope_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
