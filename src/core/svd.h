/* svd: the contract between the core (src/core/svd.c, which validates and turns a wide problem
 * into a tall one by transposing) and the backends (src/cpu/svd.c, src/cuda/svd.cu). */
#ifndef MC_CORE_SVD_H
#define MC_CORE_SVD_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_svd_args {
    int64_t batch, m, n;    /* the backend's problem is tall: m >= n */
    int64_t ucols;          /* columns of u: n, or m for full_matrices */
    mc_dtype dtype;         /* f32 or f64 */
    const void *a;          /* (batch, m, n) at strides sa */
    int64_t sa[3];          /* batch, row, column strides of a, in elements */
    void *u;                /* (batch, m, ucols) contiguous */
    void *s;                /* (batch, n) */
    void *v;                /* (batch, n, n) contiguous */
    int32_t *info;          /* (batch,) */
    void *workspace;
    size_t workspace_bytes;
    int device;
    mc_stream_t stream;
} mc_svd_args;

mc_status mc_cpu_svd_forward(const mc_svd_args *a);
size_t mc_cpu_svd_workspace_size(const mc_svd_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_svd_forward(const mc_svd_args *a);
size_t mc_cuda_svd_workspace_size(const mc_svd_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
