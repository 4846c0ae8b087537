/* Softmax along one dimension: y = exp(x - max) / sum(exp(x - max)), computed in fp32 (fp64 for
 * fp64) and stored in the dtype of x. Included by metalcore.h. */
#ifndef METALCORE_SOFTMAX_H
#define METALCORE_SOFTMAX_H

/*
 * Forward.
 *   x:   any shape (rank 0 is one element), contiguous; f32, f16, bf16 (f64 on the CPU only)
 *   dim: the reduced dimension, 0 <= dim < ndim (negative counts from the end); any extent
 *   y:   same shape and dtype as x, contiguous; may alias x
 *   workspace: bytes from mc_softmax_workspace_size (NULL when that is 0)
 * A row of all -inf, or holding +inf or NaN, gives NaN across the row (as torch does).
 */
MC_API mc_status mc_softmax_forward(const mc_tensor *x, int dim, mc_tensor *y, void *workspace,
                                    size_t workspace_bytes, mc_stream_t stream);

/*
 * Backward from the saved output: dx = y * (dy - sum(dy * y)) along dim.
 *   dy, y: like x above; dx: like x, may alias dy
 */
MC_API mc_status mc_softmax_backward(const mc_tensor *dy, const mc_tensor *y, int dim,
                                     mc_tensor *dx, void *workspace, size_t workspace_bytes,
                                     mc_stream_t stream);

/* Scratch bytes forward and backward need for x and dim (partial row statistics for very long
 * rows on CUDA; 0 otherwise). It is 0 whenever the extent of dim is below
 * MC_SOFTMAX_SPLIT_MIN_COLS. */
#define MC_SOFTMAX_SPLIT_MIN_COLS 4096
MC_API mc_status mc_softmax_workspace_size(const mc_tensor *x, int dim, size_t *bytes);

#endif /* METALCORE_SOFTMAX_H */
