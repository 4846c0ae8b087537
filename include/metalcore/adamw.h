/* AdamW: one fused multi-tensor step over every parameter of a device and dtype (torch.optim.AdamW's
 * update, decoupled weight decay, AMSGrad, maximize, AMP unscale/skip, optional fp32 master copy).
 * Included by metalcore.h; not meant to be included on its own.
 *
 * How the tensor list reaches the GPU (no host sync, no allocation per step): the caller packs a
 * "plan" (one entry per tensor plus a block -> (tensor, chunk) map) into host memory with
 * mc_adamw_plan_pack, and copies it once into a device buffer it owns (asynchronously, from pinned
 * memory); the plan only changes when the set of parameters changes, so it is cached between
 * steps. Gradient pointers, which change from step to step, travel in their own small array, and
 * the per-group hyperparameters in another; each step is then one launch whose kernel arguments
 * are a handful of pointers, whatever the number of tensors. (torch's multi_tensor_apply packs the
 * pointers into ~4 KB of kernel arguments and launches once per ~100 tensors; a cached device
 * table removes that per-launch limit and the per-step packing.) On the CPU the same buffers are
 * simply host memory. */
#ifndef METALCORE_ADAMW_H
#define METALCORE_ADAMW_H

/* One parameter tensor, all buffers contiguous with `numel` elements. */
typedef struct mc_adamw_tensor {
    void *param;          /* (numel,) f32, f16 or bf16: updated in place */
    float *exp_avg;       /* (numel,) f32 first moment */
    float *exp_avg_sq;    /* (numel,) f32 second moment */
    float *max_exp_avg_sq;/* (numel,) f32, required when the group has amsgrad, else NULL */
    float *master;        /* (numel,) f32 master copy of a 16-bit param, or NULL */
    float *step;          /* f32 scalar: this tensor's step count (distinct per tensor) */
    int64_t numel;
    int32_t group;        /* index into the groups array */
    int32_t reserved;     /* 0 */
} mc_adamw_tensor;

/* Hyperparameters of a parameter group (torch.optim.AdamW's names). */
typedef struct mc_adamw_group {
    double lr, beta1, beta2, eps, weight_decay;
    const float *lr_tensor; /* NULL, or an f32 scalar on the tensors' device that replaces lr */
    int32_t amsgrad, maximize;
} mc_adamw_group;

/* Fills *out from descriptors, checking them: param (numel,) contiguous f32/f16/bf16; exp_avg,
 * exp_avg_sq, max_exp_avg_sq (NULL unless amsgrad) and master (NULL, or for a 16-bit param) f32
 * contiguous with the param's numel; step an f32 scalar; all on the param's device. */
MC_API mc_status mc_adamw_tensor_init(mc_adamw_tensor *out, const mc_tensor *param,
                                      const mc_tensor *exp_avg, const mc_tensor *exp_avg_sq,
                                      const mc_tensor *max_exp_avg_sq, const mc_tensor *master,
                                      const mc_tensor *step, int32_t group);

/* Elements one block of the step kernel owns (a plan has one map entry per chunk). */
#define MC_ADAMW_CHUNK 16384

/* Bytes of the plan for these tensors, and its number of chunks (blocks of the step). */
MC_API mc_status mc_adamw_plan_bytes(const mc_adamw_tensor *tensors, int64_t n_tensors,
                                     size_t *bytes, int64_t *n_chunks);

/* Validates the tensors (non-NULL buffers, numel >= 0, group in [0, n_groups), max_exp_avg_sq
 * present exactly where `amsgrad_of_group[group]`, master only for 16-bit dtypes) and writes the
 * plan into `host_buffer` (bytes from mc_adamw_plan_bytes, 16-byte aligned). */
MC_API mc_status mc_adamw_plan_pack(const mc_adamw_tensor *tensors, int64_t n_tensors,
                                    const int32_t *amsgrad_of_group, int n_groups, mc_dtype dtype,
                                    void *host_buffer, size_t bytes);

/*
 * One AdamW step over every tensor of a plan. All pointers are memory of `device` (host memory
 * for the CPU):
 *   plan:      (plan_bytes) as packed by mc_adamw_plan_pack for n_tensors / n_chunks
 *   grads:     (n_tensors,) pointers, grads[i] a contiguous (numel_i,) gradient of dtype `dtype`
 *   groups:    (n_groups,) mc_adamw_group
 *   grad_scale:f32 scalar or NULL: gradients are divided by it
 *   found_inf: f32 scalar or NULL: when != 0 nothing is written and no step count advances
 * The step count of each tensor advances by one (unless found_inf), and the update uses the
 * advanced count, as torch does. Runs on `stream`; never synchronises.
 */
MC_API mc_status mc_adamw_step(const void *plan, size_t plan_bytes, int64_t n_tensors,
                               int64_t n_chunks, const void *const *grads,
                               const mc_adamw_group *groups, int n_groups, mc_dtype dtype,
                               mc_device device, const float *grad_scale, const float *found_inf,
                               mc_stream_t stream);

#endif /* METALCORE_ADAMW_H */
