/* Symmetric eigendecomposition (batched Jacobi). Included by metalcore.h. */
#ifndef METALCORE_EIGH_H
#define METALCORE_EIGH_H

/*
 * A = Q diag(w) Q^T for each matrix of a batch of real symmetric matrices; only the lower
 * triangle of A is read (pass the transposed view for the upper one).
 *   a:    (batch, n, n) or (n, n); f32 or f64; any strides (a transposed view is fine)
 *   w:    (batch, n) contiguous, dtype of a: eigenvalues, ascending
 *   q:    (batch, n, n) contiguous, dtype of a: orthonormal eigenvectors in the columns
 *   info: (batch,) int32 contiguous ((1,) for a rank-2 a): 0 converged; k > 0 not converged (Jacobi:
 *         the sweeps; CUDA tridiagonal path: k eigenvectors whose re-orthogonalization broke down)
 *         within k sweeps (outputs then hold the last iterate)
 *   workspace: bytes from mc_eigh_workspace_size (NULL when that is 0)
 * Non-finite input gives NaN in w and q with info 0. Any batch, zero included; n >= 1.
 * On CUDA, info stays on the device: the op never synchronises.
 */
MC_API mc_status mc_eigh_forward(const mc_tensor *a, mc_tensor *w, mc_tensor *q, mc_tensor *info,
                                 void *workspace, size_t workspace_bytes, mc_stream_t stream);

MC_API mc_status mc_eigh_workspace_size(const mc_tensor *a, size_t *bytes);

#endif
