/* Activations: SiLU, GELU (exact and tanh), and SwiGLU (silu(gate) * up), forward and backward.
 * Included by metalcore.h; not meant to be included on its own. */
#ifndef METALCORE_ACTIVATIONS_H
#define METALCORE_ACTIVATIONS_H

typedef enum mc_activation {
    MC_ACTIVATION_SILU = 0,      /* x * sigmoid(x) */
    MC_ACTIVATION_GELU = 1,      /* x * Phi(x), Phi the normal CDF (erf form) */
    MC_ACTIVATION_GELU_TANH = 2, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    MC_ACTIVATION_COUNT_ = 3
} mc_activation;

/*
 * Elementwise forward y = act(x).
 *   x: any shape, contiguous; f32, f16, bf16 (f64 on the CPU only)
 *   y: same shape and dtype as x, contiguous; may alias x (in place)
 */
MC_API mc_status mc_activation_forward(mc_activation act, const mc_tensor *x, mc_tensor *y,
                                       mc_stream_t stream);

/*
 * Elementwise backward dx = dy * act'(x).
 *   dy, x: like x above; dx: like x, may alias dy or x
 */
MC_API mc_status mc_activation_backward(mc_activation act, const mc_tensor *dy, const mc_tensor *x,
                                        mc_tensor *dx, mc_stream_t stream);

/*
 * SwiGLU forward y = silu(gate) * up.
 * "Row views": every tensor here is (..., I) with a unit stride in its last dimension and its
 * leading dimensions collapsible into one row stride (a contiguous tensor, or a column slice of
 * one such as either half of a packed [..., 2I] gate-up tensor).
 *   gate, up: (..., I) row views, same shape and dtype (f32, f16, bf16; f64 on the CPU only)
 *   y:        (..., I) row view, dtype of gate; must not overlap gate or up unless equal to one
 */
MC_API mc_status mc_swiglu_forward(const mc_tensor *gate, const mc_tensor *up, mc_tensor *y,
                                   mc_stream_t stream);

/*
 * SwiGLU backward, recomputing silu(gate):
 *   dgate = dy * up * silu'(gate),  dup = dy * silu(gate)
 * and, when h is not NULL, the forward output h = silu(gate) * up as well (what a fused MLP needs
 * for its down-projection gradients: one pass instead of a forward and a backward).
 *   dy, gate, up: (..., I) row views as above
 *   dgate, dup:   (..., I) row views (e.g. the halves of one packed gradient)
 *   h:            NULL, or an (..., I) row view (e.g. dy's own buffer, in place)
 * Each output may alias dy, gate or up element for element, not partially; the outputs must not
 * alias each other.
 */
MC_API mc_status mc_swiglu_backward(const mc_tensor *dy, const mc_tensor *gate, const mc_tensor *up,
                                    mc_tensor *dgate, mc_tensor *dup, mc_tensor *h, mc_stream_t stream);

#endif /* METALCORE_ACTIVATIONS_H */
