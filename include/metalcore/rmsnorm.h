/* RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight, over the last dimension.
 * Included by metalcore.h; not meant to be included on its own. */
#ifndef METALCORE_RMSNORM_H
#define METALCORE_RMSNORM_H

/*
 * Forward.
 *   x:      (..., N) contiguous; f32, f16, bf16 (f64 on the CPU only)
 *   weight: (N,) contiguous, dtype of x or f32; NULL for no affine weight
 *   y:      same shape and dtype as x, contiguous (may not alias x)
 *   rstd:   (rows,) f32 with rows = numel(x) / N, contiguous; NULL if not needed (inference)
 * All on one device. Any number of rows, zero included; N >= 1.
 */
MC_API mc_status mc_rmsnorm_forward(const mc_tensor *x, const mc_tensor *weight, double eps,
                                    mc_tensor *y, mc_tensor *rstd, mc_stream_t stream);

/*
 * Backward, from the saved input and rstd.
 *   dy:      like x
 *   x, weight, rstd: as given to / produced by the forward
 *   dx:      like x (may alias dy)
 *   dweight: like weight (NULL if weight is NULL or its gradient is not wanted)
 *   workspace: bytes from mc_rmsnorm_backward_workspace_size (NULL when that is 0)
 */
MC_API mc_status mc_rmsnorm_backward(const mc_tensor *dy, const mc_tensor *x,
                                     const mc_tensor *weight, const mc_tensor *rstd,
                                     mc_tensor *dx, mc_tensor *dweight, void *workspace,
                                     size_t workspace_bytes, mc_stream_t stream);

/* Scratch bytes mc_rmsnorm_backward needs for these arguments (fp32 partial sums of dweight). */
MC_API mc_status mc_rmsnorm_backward_workspace_size(const mc_tensor *x, const mc_tensor *weight,
                                                    int want_dweight, size_t *bytes);

#endif /* METALCORE_RMSNORM_H */
