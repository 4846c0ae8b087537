/* eigh: the contract between the core (src/core/eigh.c, which validates) and the backends
 * (src/cpu/eigh.c, src/cuda/eigh.cu, which trust their arguments). */
#ifndef MC_CORE_EIGH_H
#define MC_CORE_EIGH_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_eigh_args {
    int64_t batch, n;
    mc_dtype dtype;         /* f32 or f64 */
    const void *a;          /* (batch, n, n) at strides sa; lower triangle read */
    int64_t sa[3];          /* batch, row, column strides of a, in elements */
    void *w;                /* (batch, n) */
    void *q;                /* (batch, n, n) */
    int32_t *info;          /* (batch,) */
    void *workspace;
    size_t workspace_bytes;
    int device;
    mc_stream_t stream;
} mc_eigh_args;

mc_status mc_cpu_eigh_forward(const mc_eigh_args *a);
size_t mc_cpu_eigh_workspace_size(const mc_eigh_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_eigh_forward(const mc_eigh_args *a);
size_t mc_cuda_eigh_workspace_size(const mc_eigh_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
