/* EmbeddingBag: argument checks at the boundary and dispatch by device. */
#include "embedding_bag.h"

static mc_status check_contig(const mc_tensor *t, const char *name, const mc_tensor *ref,
                              const char *refname) {
    mc_status s;
    if ((s = mc_check_tensor(t, name))) return s;
    if ((s = mc_check_same_device(ref, refname, t, name))) return s;
    return mc_check_contiguous(t, name);
}

/* What forward and backward share: weight, indices, offsets, per_sample_weights, options. */
static mc_status check_common(const mc_tensor *weight, const mc_tensor *indices,
                              const mc_tensor *offsets, const mc_tensor *psw,
                              const mc_embedding_bag_options *o, mc_embedding_bag_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(weight, "weight"))) return s;
    if (weight->ndim != 2)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: weight must be 2-D; got %d-D", weight->ndim);
    if (!mc_dtype_is_float(weight->dtype))
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: weight has dtype %s; expected float32, "
                       "float16, bfloat16 or float64", mc_dtype_name(weight->dtype));
    if (weight->dtype == MC_DTYPE_F64 && weight->device.type != MC_DEVICE_CPU)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: float64 is supported on the CPU only");
    if ((s = mc_check_contiguous(weight, "weight"))) return s;
    if (!o) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: options is NULL");
    if ((int)o->mode < 0 || (int)o->mode > 2)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: mode %d is not sum (0), mean (1) or max (2)",
                       (int)o->mode);
    a->num = weight->shape[0];
    a->dim = weight->shape[1];
    a->dtype = weight->dtype;
    a->mode = (int)o->mode;
    a->include_last = o->include_last_offset != 0;
    a->padding_idx = o->padding_idx < 0 ? -1 : o->padding_idx;
    if (o->padding_idx >= a->num)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: padding_idx %lld is not below num_embeddings %lld",
                       (long long)o->padding_idx, (long long)a->num);
    a->weight = weight->data;
    a->device = weight->device.index;
    if ((s = check_contig(indices, "indices", weight, "weight"))) return s;
    if (indices->dtype != MC_DTYPE_I32 && indices->dtype != MC_DTYPE_I64)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: indices have dtype %s; expected int32 or int64",
                       mc_dtype_name(indices->dtype));
    a->itype = indices->dtype;
    a->indices = indices->data;
    a->n = mc_tensor_numel(indices);
    if (indices->ndim == 2) {
        if (offsets)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: offsets must be NULL for 2-D indices (fixed-size bags)");
        a->nbags = indices->shape[0];
        a->fixed = indices->shape[1];
    } else if (indices->ndim == 1) {
        if (!offsets) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: 1-D indices need offsets");
        if ((s = check_contig(offsets, "offsets", weight, "weight"))) return s;
        if (offsets->ndim != 1)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: offsets must be 1-D; got %d-D", offsets->ndim);
        if (offsets->dtype != indices->dtype)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: offsets have dtype %s but indices %s",
                           mc_dtype_name(offsets->dtype), mc_dtype_name(indices->dtype));
        a->noffsets = offsets->shape[0];
        if (a->include_last && a->noffsets == 0)
            return mc_fail(MC_STATUS_SHAPE_MISMATCH, "embedding_bag: include_last_offset needs at least one offset");
        a->nbags = a->noffsets - (a->include_last ? 1 : 0);
        a->offsets = offsets->data;
    } else {
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: indices must be 1-D or 2-D; got %d-D", indices->ndim);
    }
    if (psw) {
        if (a->mode != MC_EMBEDDING_BAG_MODE_SUM)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: per_sample_weights are only supported in sum mode");
        if ((s = check_contig(psw, "per_sample_weights", weight, "weight"))) return s;
        if ((s = mc_check_same_shape(indices, "indices", psw, "per_sample_weights"))) return s;
        if (psw->dtype != weight->dtype)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: per_sample_weights have dtype %s; expected %s "
                           "(that of weight)", mc_dtype_name(psw->dtype), mc_dtype_name(weight->dtype));
        a->psw = psw->data;
    }
    return MC_STATUS_SUCCESS;
}

/* t is (d0) or (d0, d1) contiguous with dtype dt on weight's device. */
static mc_status check_exact(const mc_tensor *t, const char *name, const mc_tensor *weight, int ndim,
                             int64_t d0, int64_t d1, mc_dtype dt) {
    mc_status s;
    if ((s = check_contig(t, name, weight, "weight"))) return s;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        if (ndim == 2)
            return mc_fail(MC_STATUS_SHAPE_MISMATCH, "embedding_bag: %s must be (%lld, %lld)", name,
                           (long long)d0, (long long)d1);
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "embedding_bag: %s must be (%lld,)", name, (long long)d0);
    }
    if (t->dtype != dt)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: %s has dtype %s; expected %s", name,
                       mc_dtype_name(t->dtype), mc_dtype_name(dt));
    return MC_STATUS_SUCCESS;
}

mc_status mc_embedding_bag_forward(const mc_tensor *weight, const mc_tensor *indices,
                                   const mc_tensor *offsets, const mc_tensor *psw,
                                   const mc_embedding_bag_options *options, mc_tensor *out,
                                   mc_tensor *bag_count, mc_tensor *max_pos, mc_tensor *errors,
                                   mc_stream_t stream) {
    mc_clear_error();
    mc_embedding_bag_args a;
    memset(&a, 0, sizeof a);
    mc_status s;
    if ((s = check_common(weight, indices, offsets, psw, options, &a))) return s;
    if ((s = check_exact(out, "out", weight, 2, a.nbags, a.dim, a.dtype))) return s;
    a.out = out->data;
    if (bag_count) {
        if ((s = check_exact(bag_count, "bag_count", weight, 1, a.nbags, 0, MC_DTYPE_I64))) return s;
        a.bag_count = (int64_t *)bag_count->data;
    }
    if (max_pos) {
        if (a.mode != MC_EMBEDDING_BAG_MODE_MAX)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: max_pos is for max mode only");
        if ((s = check_exact(max_pos, "max_pos", weight, 2, a.nbags, a.dim, MC_DTYPE_I64))) return s;
        a.max_pos = (int64_t *)max_pos->data;
    }
    if (errors) {
        if ((s = check_exact(errors, "errors", weight, 1, 4, 0, MC_DTYPE_I64))) return s;
        a.errors = (int64_t *)errors->data;
    }
    a.stream = stream;
    if (weight->device.type == MC_DEVICE_CPU) return mc_cpu_embedding_bag_forward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_embedding_bag_forward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}

static size_t workspace_size(const mc_embedding_bag_args *a, mc_device_type dev) {
    if (dev == MC_DEVICE_CPU) return mc_cpu_embedding_bag_workspace_size(a);
#ifdef MC_WITH_CUDA
    return mc_cuda_embedding_bag_workspace_size(a);
#else
    return 0;
#endif
}

mc_status mc_embedding_bag_backward_workspace_size(const mc_tensor *weight, const mc_tensor *indices,
                                                   int deterministic, size_t *bytes) {
    mc_clear_error();
    mc_status s;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = mc_check_tensor(weight, "weight"))) return s;
    if ((s = mc_check_tensor(indices, "indices"))) return s;
    if (weight->ndim != 2) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: weight must be 2-D");
    mc_embedding_bag_args a;
    memset(&a, 0, sizeof a);
    a.num = weight->shape[0];
    a.dim = weight->shape[1];
    a.dtype = weight->dtype;
    a.n = mc_tensor_numel(indices);
    a.sorted = deterministic ? (const void *)1 : NULL; /* only its presence matters */
    *bytes = workspace_size(&a, weight->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_embedding_bag_backward(
    const mc_tensor *dout, const mc_tensor *weight, const mc_tensor *indices,
    const mc_tensor *offsets, const mc_tensor *psw, const mc_embedding_bag_options *options,
    const mc_tensor *bag_count, const mc_tensor *max_pos, const mc_tensor *sorted_indices,
    const mc_tensor *sorted_positions, mc_tensor *dweight, mc_tensor *dpsw, void *workspace,
    size_t workspace_bytes, mc_stream_t stream) {
    mc_clear_error();
    mc_embedding_bag_args a;
    memset(&a, 0, sizeof a);
    mc_status s;
    if ((s = check_common(weight, indices, offsets, psw, options, &a))) return s;
    if (!dout) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: dout is NULL");
    if ((s = check_exact(dout, "dout", weight, 2, a.nbags, a.dim, a.dtype))) return s;
    a.dout = dout->data;
    if (a.mode == MC_EMBEDDING_BAG_MODE_MEAN) {
        if (!bag_count) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: mean mode backward needs bag_count");
        if ((s = check_exact(bag_count, "bag_count", weight, 1, a.nbags, 0, MC_DTYPE_I64))) return s;
        a.bag_count = (int64_t *)bag_count->data;
    }
    if (a.mode == MC_EMBEDDING_BAG_MODE_MAX) {
        if (!max_pos) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: max mode backward needs max_pos");
        if ((s = check_exact(max_pos, "max_pos", weight, 2, a.nbags, a.dim, MC_DTYPE_I64))) return s;
        a.max_pos = (int64_t *)max_pos->data;
    }
    if ((sorted_indices == NULL) != (sorted_positions == NULL))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: sorted_indices and sorted_positions go together");
    if (sorted_indices) {
        if ((s = check_exact(sorted_indices, "sorted_indices", weight, 1, a.n, 0, a.itype))) return s;
        if ((s = check_exact(sorted_positions, "sorted_positions", weight, 1, a.n, 0, MC_DTYPE_I64))) return s;
        a.sorted = sorted_indices->data;
        a.perm = (const int64_t *)sorted_positions->data;
    }
    if (dweight) {
        if ((s = check_exact(dweight, "dweight", weight, 2, a.num, a.dim, a.dtype))) return s;
        a.dweight = dweight->data;
    }
    if (dpsw) {
        if (!psw) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: dpsw given without per_sample_weights");
        if ((s = check_contig(dpsw, "dpsw", weight, "weight"))) return s;
        if ((s = mc_check_same_shape(psw, "per_sample_weights", dpsw, "dpsw"))) return s;
        if (dpsw->dtype != a.dtype)
            return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "embedding_bag: dpsw must have the dtype of weight");
        a.dpsw = dpsw->data;
    }
    size_t need = a.dweight ? workspace_size(&a, weight->device.type) : 0;
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "embedding_bag: workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = stream;
    if (!a.dweight && !a.dpsw) return MC_STATUS_SUCCESS;
    if (weight->device.type == MC_DEVICE_CPU) return mc_cpu_embedding_bag_backward(&a);
#ifdef MC_WITH_CUDA
    return mc_cuda_embedding_bag_backward(&a);
#else
    return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");
#endif
}
