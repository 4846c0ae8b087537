/* Softmax: the contract between the core (src/core/softmax.c, which validates) and the backends
 * (src/cpu/softmax.c, src/cuda/softmax.cu, which trust their arguments). */
#ifndef MC_CORE_SOFTMAX_H
#define MC_CORE_SOFTMAX_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_softmax_args {
    int64_t outer, n, inner; /* every tensor viewed as (outer, n, inner), contiguous; softmax over n */
    mc_dtype dtype;
    const void *x;           /* forward input */
    void *y;                 /* forward output; backward input */
    const void *dy;          /* backward input */
    void *dx;                /* backward output */
    void *workspace;
    size_t workspace_bytes;
    int device;
    mc_stream_t stream;
} mc_softmax_args;

mc_status mc_cpu_softmax_forward(const mc_softmax_args *a);
mc_status mc_cpu_softmax_backward(const mc_softmax_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_softmax_forward(const mc_softmax_args *a);
mc_status mc_cuda_softmax_backward(const mc_softmax_args *a);
size_t mc_cuda_softmax_workspace_size(const mc_softmax_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
