/* Activations and SwiGLU: the contract between the core (src/core/activations.c, which
 * validates) and the backends (src/cpu/activations.c, src/cuda/activations.cu). */
#ifndef MC_CORE_ACTIVATIONS_H
#define MC_CORE_ACTIVATIONS_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_act_args {
    mc_activation act;
    int64_t numel;    /* every tensor is a contiguous run of numel elements */
    mc_dtype dtype;
    const void *x;    /* (numel,) */
    void *y;          /* (numel,) forward output */
    const void *dy;   /* (numel,) backward input */
    void *dx;         /* (numel,) backward output */
    int device;
    mc_stream_t stream;
} mc_act_args;

/* SwiGLU on row views: tensor t is (rows, n) with element (r, c) at t + r * t_rs + c. When every
 * view is dense (all row strides == n) the core passes rows = 1, n = numel. Row strides of unused
 * views are 0. */
typedef struct mc_swiglu_args {
    int64_t rows, n;
    mc_dtype dtype;
    const void *gate, *up; /* forward and backward inputs */
    void *y;               /* forward output */
    const void *dy;        /* backward input */
    void *dgate, *dup;     /* backward outputs */
    void *h;               /* optional backward output h = silu(gate) * up (NULL: not wanted) */
    int64_t gate_rs, up_rs, y_rs, dy_rs, dgate_rs, dup_rs, h_rs;
    int device;
    mc_stream_t stream;
} mc_swiglu_args;

mc_status mc_cpu_activation_forward(const mc_act_args *a);
mc_status mc_cpu_activation_backward(const mc_act_args *a);
mc_status mc_cpu_swiglu_forward(const mc_swiglu_args *a);
mc_status mc_cpu_swiglu_backward(const mc_swiglu_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_activation_forward(const mc_act_args *a);
mc_status mc_cuda_activation_backward(const mc_act_args *a);
mc_status mc_cuda_swiglu_forward(const mc_swiglu_args *a);
mc_status mc_cuda_swiglu_backward(const mc_swiglu_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
