/* RoPE: rotary position embedding in the split-half ("rotate_half") format of Hugging Face's
 * apply_rotary_pos_emb (Llama, Mistral, Qwen), with partial rotary (Phi).
 * Included by metalcore.h; not meant to be included on its own. */
#ifndef METALCORE_ROPE_H
#define METALCORE_ROPE_H

/*
 * With R = cos.shape[-1] (even, R <= D) and h = R / 2, for every head of q and of k at (b, s),
 * forward (y = x * cos + rotate_half(x) * sin):
 *   y[j]     = x[j]     * cos[j]     - x[j + h] * sin[j]        (j < h)
 *   y[j + h] = x[j + h] * cos[j + h] + x[j]     * sin[j + h]
 *   y[j]     = x[j]                                             (R <= j < D, partial rotary)
 * backward applies the transpose of that map (for HF's duplicated cos/sin halves it is the
 * rotation by -sin), so it needs nothing but cos and sin:
 *   dx[j]     = dy[j]     * cos[j]     + dy[j + h] * sin[j + h]
 *   dx[j + h] = dy[j + h] * cos[j + h] - dy[j]     * sin[j]
 *
 *   q:        (B, Hq, S, D) any strides, stride[3] == 1; f32, f16, bf16 (f64 on the CPU only)
 *   k:        (B, Hk, S, D) same B, S, D and dtype as q, stride[3] == 1; NULL for none
 *   cos, sin: (Bc, S, R) with Bc == 1 (shared by the batch) or Bc == B; stride[2] == 1;
 *             dtype of q or f32; cos and sin alike
 *   q_out:    like q (its own strides, stride[3] == 1); k_out like k (NULL iff k is NULL).
 *             An output is either exactly its input (same data and strides: in place) or does
 *             not overlap any input.
 * The [B, S, H, D] layout is the same call with a transposed (B, H, S, D) view. Any extent may
 * be zero. Computed in f32 (f64 for f64) and rounded once.
 */
MC_API mc_status mc_rope_forward(const mc_tensor *q, const mc_tensor *k, const mc_tensor *cos,
                                 const mc_tensor *sin, mc_tensor *q_out, mc_tensor *k_out,
                                 mc_stream_t stream);

/* Backward, in one launch for q and k: dq from dq_embed, dk from dk_embed (same layout rules as
 * the forward, with dq_embed, dk_embed in place of q, k and dq, dk in place of q_out, k_out). */
MC_API mc_status mc_rope_backward(const mc_tensor *dq_embed, const mc_tensor *dk_embed,
                                  const mc_tensor *cos, const mc_tensor *sin, mc_tensor *dq,
                                  mc_tensor *dk, mc_stream_t stream);

#endif /* METALCORE_ROPE_H */
