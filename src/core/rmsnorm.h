/* RMSNorm: the contract between the core (src/core/rmsnorm.c, which validates) and the
 * backends (src/cpu/rmsnorm.c, src/cuda/rmsnorm.cu, which trust their arguments). */
#ifndef MC_CORE_RMSNORM_H
#define MC_CORE_RMSNORM_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_rmsnorm_args {
    int64_t rows, n;      /* x viewed as (rows, n), contiguous */
    mc_dtype dtype;       /* of x, y, dy, dx */
    mc_dtype wdtype;      /* of weight and dweight (dtype or f32) */
    double eps;
    const void *x;        /* (rows, n) */
    const void *weight;   /* (n,) or NULL */
    void *y;              /* (rows, n) forward output */
    void *rstd;           /* (rows,) f32 (f64 for f64 x); forward output or backward input; may be NULL in forward */
    const void *dy;       /* (rows, n) */
    void *dx;             /* (rows, n) */
    void *dweight;        /* (n,) or NULL */
    void *workspace;      /* backward scratch, size from *_workspace_size */
    size_t workspace_bytes;
    int device;           /* CUDA ordinal */
    mc_stream_t stream;
    /* fused residual add (mc_add_rmsnorm_*); all NULL for plain RMSNorm */
    const void *residual; /* (rows, n) forward: the normalised row is h = x + residual */
    void *h;              /* (rows, n) forward output h (may alias x or residual) */
    const void *dres;     /* (rows, n) backward: added to dx (may alias dx) */
} mc_rmsnorm_args;

mc_status mc_cpu_rmsnorm_forward(const mc_rmsnorm_args *a);
mc_status mc_cpu_rmsnorm_backward(const mc_rmsnorm_args *a);
size_t mc_cpu_rmsnorm_backward_workspace_size(const mc_rmsnorm_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_rmsnorm_forward(const mc_rmsnorm_args *a);
mc_status mc_cuda_rmsnorm_backward(const mc_rmsnorm_args *a);
size_t mc_cuda_rmsnorm_backward_workspace_size(const mc_rmsnorm_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
