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

/*
 * Fused residual add + RMSNorm: h = x + residual (rounded to the dtype of x), y = rmsnorm(h).
 *   x, residual: (..., N) contiguous, same shape and dtype (f32, f16, bf16; f64 on the CPU only)
 *   weight:      (N,) contiguous, dtype of x or f32; NULL for none
 *   y, h:        like x (h is the updated residual; may alias x or residual, y may not)
 *   rstd:        (rows,) f32 (f64 for f64), of h; NULL if not needed
 */
MC_API mc_status mc_add_rmsnorm_forward(const mc_tensor *x, const mc_tensor *residual,
                                        const mc_tensor *weight, double eps, mc_tensor *y,
                                        mc_tensor *h, mc_tensor *rstd, mc_stream_t stream);

/*
 * Backward of the fused op: the gradient of h is dh (from the returned residual, NULL for none)
 * plus that through y; x and residual both receive it:
 *   dx = rmsnorm_backward(dy, h) + dh;  dweight as in mc_rmsnorm_backward.
 *   dh: like h, or NULL; dx: like h, may alias dy or dh; other arguments as mc_rmsnorm_backward
 *   with h in place of x (workspace size from mc_rmsnorm_backward_workspace_size(h, ...)).
 */
MC_API mc_status mc_add_rmsnorm_backward(const mc_tensor *dy, const mc_tensor *dh,
                                         const mc_tensor *h, const mc_tensor *weight,
                                         const mc_tensor *rstd, mc_tensor *dx, mc_tensor *dweight,
                                         void *workspace, size_t workspace_bytes,
                                         mc_stream_t stream);

#endif /* METALCORE_RMSNORM_H */
