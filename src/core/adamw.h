/* AdamW: the contract between the core (src/core/adamw.c, which validates and packs the plan) and
 * the backends (src/cpu/adamw.c, src/cuda/adamw.cu, which trust their arguments). */
#ifndef MC_CORE_ADAMW_H
#define MC_CORE_ADAMW_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Plan layout: header, then n_tensors mc_adamw_tensor entries, then n_chunks map entries. */
typedef struct mc_adamw_plan_header {
    uint32_t magic;      /* MC_ADAMW_MAGIC */
    int32_t dtype;
    int64_t n_tensors;
    int64_t n_chunks;
    int64_t reserved[5]; /* header is 64 bytes: entries stay 16-byte aligned */
} mc_adamw_plan_header;

/* Block b of the step updates elements [chunk * MC_ADAMW_CHUNK, +MC_ADAMW_CHUNK) of tensor `tensor`. */
typedef struct mc_adamw_chunk {
    int32_t tensor;
    int32_t chunk;
} mc_adamw_chunk;

#define MC_ADAMW_MAGIC 0x4d41444du

static inline const mc_adamw_tensor *mc_adamw_plan_tensors(const void *plan) {
    return (const mc_adamw_tensor *)((const char *)plan + sizeof(mc_adamw_plan_header));
}
static inline const mc_adamw_chunk *mc_adamw_plan_chunks(const void *plan, int64_t n_tensors) {
    return (const mc_adamw_chunk *)((const char *)plan + sizeof(mc_adamw_plan_header) +
                                    (size_t)n_tensors * sizeof(mc_adamw_tensor));
}

typedef struct mc_adamw_args {
    const void *plan;
    int64_t n_tensors, n_chunks;
    const void *const *grads;
    const mc_adamw_group *groups;
    int n_groups;
    mc_dtype dtype;
    const float *grad_scale, *found_inf;
    int device;
    mc_stream_t stream;
} mc_adamw_args;

mc_status mc_cpu_adamw_step(const mc_adamw_args *a);
#ifdef MC_WITH_CUDA
mc_status mc_cuda_adamw_step(const mc_adamw_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
