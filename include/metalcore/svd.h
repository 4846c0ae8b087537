/* Singular value decomposition (batched: one-sided Jacobi; on CUDA for 129 <= k <= 512,
 * bidiagonalization and the Golub-Kahan tridiagonal). Included by metalcore.h. */
#ifndef METALCORE_SVD_H
#define METALCORE_SVD_H

/*
 * A = U diag(s) V^T for each matrix of a batch; k = min(m, n).
 *   a:    (batch, m, n) or (m, n); f32 or f64; any strides (a transposed view is fine)
 *   u:    (batch, m, k) contiguous, or (batch, m, m) with full_matrices
 *   s:    (batch, k) contiguous: singular values, descending
 *   v:    (batch, n, k) contiguous, or (batch, n, n) with full_matrices (V, not V^T)
 *   info: (batch,) int32 contiguous ((1,) for a rank-2 a): 0 converged; k > 0 not converged (Jacobi:
 *         within k sweeps; bidiagonalization: k singular vectors whose re-orthogonalization broke down)
 *   workspace: bytes from mc_svd_workspace_size (NULL when that is 0)
 * u, s, v have the dtype of a. Columns of U (or V) belonging to zero singular values, and the
 * extra columns of full_matrices, complete an orthonormal basis. Non-finite input gives NaN
 * outputs with info 0. Any batch, zero included.
 */
MC_API mc_status mc_svd_forward(const mc_tensor *a, int full_matrices, mc_tensor *u, mc_tensor *s,
                                mc_tensor *v, mc_tensor *info, void *workspace,
                                size_t workspace_bytes, mc_stream_t stream);

MC_API mc_status mc_svd_workspace_size(const mc_tensor *a, int full_matrices, size_t *bytes);

#endif
