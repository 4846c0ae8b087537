/* EmbeddingBag: sums, means or maxima of bags of embedding rows (torch.nn.EmbeddingBag).
 * Included by metalcore.h; not meant to be included on its own. */
#ifndef METALCORE_EMBEDDING_BAG_H
#define METALCORE_EMBEDDING_BAG_H

typedef enum mc_embedding_bag_mode {
    MC_EMBEDDING_BAG_MODE_SUM = 0,
    MC_EMBEDDING_BAG_MODE_MEAN = 1,
    MC_EMBEDDING_BAG_MODE_MAX = 2
} mc_embedding_bag_mode;

typedef struct mc_embedding_bag_options {
    mc_embedding_bag_mode mode;
    int include_last_offset; /* offsets has nbags + 1 entries, the last one ends the last bag */
    int64_t padding_idx;     /* a row in [0, num_embeddings) that is skipped, or < 0 for none */
} mc_embedding_bag_options;

/*
 * Bags: indices 1-D (N,) with offsets (nbags,) (bag b is [offsets[b], offsets[b+1]), the last
 * one ending at N) or (nbags + 1,) with include_last_offset; or indices 2-D (nbags, L) with
 * offsets NULL (fixed-size bags). offsets[0] must be 0, offsets non-decreasing and <= N.
 * Entries equal to padding_idx are skipped (and not counted by the mean); an empty bag gives 0.
 *
 *   weight:  (num_embeddings, D) contiguous; f32, f16, bf16 (f64 on the CPU only)
 *   indices: (N,) or (nbags, L) contiguous; i32 or i64
 *   offsets: (nbags,) or (nbags + 1,) contiguous, dtype of indices; NULL for 2-D indices
 *   per_sample_weights: shape of indices, dtype of weight, contiguous; sum mode only; or NULL
 *   out:       (nbags, D) contiguous, dtype of weight
 *   bag_count: (nbags,) i64: entries counted per bag (what the mean divides by); or NULL
 *   max_pos:   (nbags, D) i64: max mode, the position in indices of each maximum (-1 for an
 *              empty bag), needed by the backward; or NULL
 *   errors:    (4,) i64 or NULL: [number of out-of-range indices, position of one of them,
 *              number of invalid bags (bad offsets), one of those bags]. Out-of-range entries
 *              and invalid bags are skipped, never read. With errors NULL, the CPU returns
 *              MC_STATUS_INVALID_ARGUMENT naming the first bad entry; CUDA, which cannot tell
 *              without a host sync, skips them silently (for callers that guarantee validity).
 */
MC_API mc_status mc_embedding_bag_forward(const mc_tensor *weight, const mc_tensor *indices,
                                          const mc_tensor *offsets,
                                          const mc_tensor *per_sample_weights,
                                          const mc_embedding_bag_options *options, mc_tensor *out,
                                          mc_tensor *bag_count, mc_tensor *max_pos,
                                          mc_tensor *errors, mc_stream_t stream);

/*
 * Backward: the dense weight gradient and, optionally, the gradient of per_sample_weights.
 *   dout:      (nbags, D) contiguous, dtype of weight
 *   weight, indices, offsets, per_sample_weights, options: as given to the forward (weight is
 *              read only for dpsw; its shape and dtype define dweight)
 *   bag_count: from the forward; required in mean mode
 *   max_pos:   from the forward; required in max mode
 *   sorted_indices, sorted_positions: NULL for the default (atomic) reduction; for the
 *              deterministic one (bit-identical run to run), indices flattened and sorted
 *              stably (dtype of indices) and the permutation (i64) that sorts them
 *   dweight:   (num_embeddings, D) contiguous, dtype of weight; or NULL
 *   dpsw:      shape and dtype of per_sample_weights (sum mode with weights); or NULL
 *   workspace: bytes from mc_embedding_bag_backward_workspace_size (NULL when that is 0)
 * Out-of-range entries are skipped.
 */
MC_API mc_status mc_embedding_bag_backward(
    const mc_tensor *dout, const mc_tensor *weight, const mc_tensor *indices,
    const mc_tensor *offsets, const mc_tensor *per_sample_weights,
    const mc_embedding_bag_options *options, const mc_tensor *bag_count, const mc_tensor *max_pos,
    const mc_tensor *sorted_indices, const mc_tensor *sorted_positions, mc_tensor *dweight,
    mc_tensor *dpsw, void *workspace, size_t workspace_bytes, mc_stream_t stream);

/* Scratch bytes the backward needs (an f32 accumulator for 16-bit weights; the bag of each
 * position for the deterministic reduction). */
MC_API mc_status mc_embedding_bag_backward_workspace_size(const mc_tensor *weight,
                                                          const mc_tensor *indices,
                                                          int deterministic, size_t *bytes);

#endif /* METALCORE_EMBEDDING_BAG_H */
