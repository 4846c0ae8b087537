/* EmbeddingBag: the contract between the core (src/core/embedding_bag.c, which validates) and
 * the backends (src/cpu/embedding_bag.c, src/cuda/embedding_bag.cu, which trust their
 * arguments, except the values of indices and offsets: those are checked where they are read,
 * and a bad one is skipped and counted in errors, never used to address memory). */
#ifndef MC_CORE_EMBEDDING_BAG_H
#define MC_CORE_EMBEDDING_BAG_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_embedding_bag_args {
    int64_t num, dim;       /* weight (num, dim) */
    int64_t n;              /* entries (numel of indices) */
    int64_t nbags;
    int64_t fixed;          /* bag size L for 2-D indices (offsets NULL); else 0 */
    int64_t noffsets;       /* entries of offsets (nbags or nbags + 1) */
    mc_dtype dtype;         /* of weight, out, psw, dout, dweight, dpsw */
    mc_dtype itype;         /* of indices, offsets, sorted_indices: i32 or i64 */
    int mode;               /* mc_embedding_bag_mode */
    int include_last;
    int64_t padding_idx;    /* < 0: none */
    const void *weight;     /* (num, dim) */
    const void *indices;    /* (n,) */
    const void *offsets;    /* (noffsets,) or NULL */
    const void *psw;        /* (n,) or NULL */
    void *out;              /* (nbags, dim) */
    int64_t *bag_count;     /* (nbags,) or NULL */
    int64_t *max_pos;       /* (nbags, dim) or NULL */
    int64_t *errors;        /* (4,) or NULL */
    const void *dout;       /* (nbags, dim) */
    const void *sorted;     /* (n,) or NULL: deterministic backward */
    const int64_t *perm;    /* (n,) */
    void *dweight;          /* (num, dim) or NULL */
    void *dpsw;             /* (n,) or NULL */
    void *workspace;
    size_t workspace_bytes;
    int device;
    mc_stream_t stream;
} mc_embedding_bag_args;

mc_status mc_cpu_embedding_bag_forward(const mc_embedding_bag_args *a);
mc_status mc_cpu_embedding_bag_backward(const mc_embedding_bag_args *a);
size_t mc_cpu_embedding_bag_workspace_size(const mc_embedding_bag_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_embedding_bag_forward(const mc_embedding_bag_args *a);
mc_status mc_cuda_embedding_bag_backward(const mc_embedding_bag_args *a);
size_t mc_cuda_embedding_bag_workspace_size(const mc_embedding_bag_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
