/* Direct factorizations (Cholesky, LU, trsm, QR): the contract between the core
 * (src/core/linalg_direct.c, which validates) and the backends (src/cpu/{cholesky,lu,trsm,qr}.c,
 * src/cuda/{cholesky,lu,trsm,qr}.cu, which trust their arguments). All matrices row-major
 * contiguous, `batch` of them back to back. */
#ifndef MC_CORE_LINALG_DIRECT_H
#define MC_CORE_LINALG_DIRECT_H

#include "internal.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mc_dense_args {
    int64_t batch;         /* number of matrices (>= 1 when a backend is called) */
    int64_t m, n;          /* a: (m, n); square ops have m == n */
    int64_t k;             /* right-hand sides: b, x: (n, k) */
    int64_t kq, kr;        /* qr: q: (m, kq) (kq = 0: no q); r: (kr, n) */
    mc_dtype dtype;        /* of a, b, x, l, lu, q, r */
    int upper;             /* cholesky: write U = L^T */
    int lower, transpose, unit_diagonal; /* trsm; lu_solve uses transpose */
    const void *a;         /* (batch, m, n) */
    const void *b;         /* (batch, n, k) */
    void *out;             /* l / lu: (batch, n, n); x: (batch, n, k); r: (batch, kr, n) */
    void *q;               /* (batch, m, kq) or NULL */
    const int32_t *pivots_in; /* lu_solve: (batch, n), 1-based */
    int32_t *pivots;       /* lu_factor: (batch, n), 1-based */
    int32_t *info;         /* (batch,) */
    void *workspace;       /* from the backend's *_workspace_size */
    size_t workspace_bytes;
    int device;            /* CUDA ordinal */
    mc_stream_t stream;
} mc_dense_args;

mc_status mc_cpu_cholesky(const mc_dense_args *a);
mc_status mc_cpu_lu_factor(const mc_dense_args *a);
mc_status mc_cpu_lu_solve(const mc_dense_args *a);
mc_status mc_cpu_solve(const mc_dense_args *a);
size_t mc_cpu_solve_workspace_size(const mc_dense_args *a);
mc_status mc_cpu_trsm(const mc_dense_args *a);
mc_status mc_cpu_qr(const mc_dense_args *a);
size_t mc_cpu_qr_workspace_size(const mc_dense_args *a);

#ifdef MC_WITH_CUDA
mc_status mc_cuda_cholesky(const mc_dense_args *a);
mc_status mc_cuda_lu_factor(const mc_dense_args *a);
mc_status mc_cuda_lu_solve(const mc_dense_args *a);
mc_status mc_cuda_solve(const mc_dense_args *a);
size_t mc_cuda_solve_workspace_size(const mc_dense_args *a);
mc_status mc_cuda_trsm(const mc_dense_args *a);
mc_status mc_cuda_qr(const mc_dense_args *a);
size_t mc_cuda_qr_workspace_size(const mc_dense_args *a);
#endif

#ifdef __cplusplus
}
#endif

#endif
