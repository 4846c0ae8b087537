/* Direct factorizations (Cholesky, LU, trsm, QR): argument checks at the boundary and dispatch
 * by device. One checker for every matrix argument: rank >= 2 (or the batch rank for info and
 * pivots), the leading (batch) dimensions of `a`, the expected trailing extents, dtype, device
 * and row-major contiguity. */
#include "linalg_direct.h"

#include <stdio.h>

#define DISPATCH(op, args, dev)                                                                    \
    ((dev) == MC_DEVICE_CPU ? mc_cpu_##op(args) : cuda_##op(args))

#ifdef MC_WITH_CUDA
/* The CUDA kernels launch one block per matrix: the grid's x extent bounds the batch. */
#define CUDA_OP(op)                                                                                \
    static mc_status cuda_##op(const mc_dense_args *a) {                                          \
        if (a->batch > 2147483647)                                                                 \
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, #op ": batch %lld exceeds 2^31 - 1 on CUDA", \
                           (long long)a->batch);                                                   \
        return mc_cuda_##op(a);                                                                    \
    }
#define CUDA_WS(op)                                                                                \
    static size_t cuda_##op(const mc_dense_args *a) { return mc_cuda_##op(a); }
#else
#define CUDA_OP(op)                                                                                \
    static mc_status cuda_##op(const mc_dense_args *a) {                                          \
        (void)a;                                                                                   \
        return mc_fail(MC_STATUS_UNSUPPORTED_DEVICE, "no CUDA backend");                           \
    }
#define CUDA_WS(op)                                                                                \
    static size_t cuda_##op(const mc_dense_args *a) {                                              \
        (void)a;                                                                                   \
        return 0;                                                                                  \
    }
#endif
CUDA_OP(cholesky)
CUDA_OP(lu_factor)
CUDA_OP(lu_solve)
CUDA_OP(solve)
CUDA_OP(trsm)
CUDA_OP(qr)
CUDA_WS(solve_workspace_size)
CUDA_WS(qr_workspace_size)

/* The input matrix: rank >= 2, float dtype (16-bit only if allow16), contiguous. Fills batch,
 * m, n, dtype, device. */
static mc_status check_input(const char *op, const mc_tensor *t, const char *name, int allow16,
                             mc_dense_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(t, name))) return s;
    if (t->ndim < 2)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s: %s must have at least 2 dimensions (got %d)",
                       op, name, t->ndim);
    int ok = t->dtype == MC_DTYPE_F32 || t->dtype == MC_DTYPE_F64 ||
             (allow16 && (t->dtype == MC_DTYPE_F16 || t->dtype == MC_DTYPE_BF16));
    if (!ok)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: %s has dtype %s; expected float32 or float64%s",
                       op, name, mc_dtype_name(t->dtype), allow16 ? " (or float16, bfloat16)" : "");
    if ((s = mc_check_contiguous(t, name))) return s;
    a->m = t->shape[t->ndim - 2];
    a->n = t->shape[t->ndim - 1];
    a->batch = 1;
    for (int i = 0; i < t->ndim - 2; ++i) a->batch *= t->shape[i];
    a->dtype = t->dtype;
    a->device = t->device.index;
    return MC_STATUS_SUCCESS;
}

static mc_status check_square(const char *op, const mc_tensor *t, const mc_dense_args *a) {
    if (a->m != a->n)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "%s: A must be square (got %lld x %lld)", op,
                       (long long)a->m, (long long)a->n);
    (void)t;
    return MC_STATUS_SUCCESS;
}

/* t has a's batch dimensions followed by `ntrail` extents trail[0..ntrail), dtype dt, and is on
 * a's device, contiguous. */
static mc_status check_like(const char *op, const mc_tensor *ref, const mc_tensor *t,
                            const char *name, mc_dtype dt, int ntrail, int64_t r0, int64_t r1) {
    mc_status s;
    if ((s = mc_check_tensor(t, name))) return s;
    if ((s = mc_check_same_device(ref, "A", t, name))) return s;
    const int nb = ref->ndim - 2;
    int same = t->ndim == nb + ntrail;
    for (int i = 0; same && i < nb; ++i) same = t->shape[i] == ref->shape[i];
    if (same && ntrail >= 1) same = t->shape[nb] == r0;
    if (same && ntrail >= 2) same = t->shape[nb + 1] == r1;
    if (!same) {
        char want[64];
        if (ntrail == 0) snprintf(want, sizeof want, "(batch)");
        else if (ntrail == 1) snprintf(want, sizeof want, "(batch, %lld)", (long long)r0);
        else snprintf(want, sizeof want, "(batch, %lld, %lld)", (long long)r0, (long long)r1);
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "%s: %s must have shape %s with A's batch dimensions",
                       op, name, want);
    }
    if (t->dtype != dt)
        return mc_fail(MC_STATUS_UNSUPPORTED_DTYPE, "%s: %s has dtype %s; expected %s", op, name,
                       mc_dtype_name(t->dtype), mc_dtype_name(dt));
    return mc_check_contiguous(t, name);
}

static mc_status check_no_alias(const char *op, const mc_tensor *x, const char *xn,
                                const mc_tensor *y, const char *yn) {
    if (x->data && x->data == y->data && mc_tensor_numel(x) > 0)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "%s: %s must not alias %s", op, xn, yn);
    return MC_STATUS_SUCCESS;
}

/* b (batch, n, k) against a; fills k. */
static mc_status check_rhs(const char *op, const mc_tensor *a_t, const mc_tensor *b,
                           const char *name, mc_dense_args *a) {
    mc_status s;
    if ((s = mc_check_tensor(b, name))) return s;
    if (b->ndim != a_t->ndim)
        return mc_fail(MC_STATUS_SHAPE_MISMATCH, "%s: %s must have A's rank (%d), got %d", op, name,
                       a_t->ndim, b->ndim);
    a->k = b->shape[b->ndim - 1];
    return check_like(op, a_t, b, name, a_t->dtype, 2, a->n, a->k);
}

#define ENTER(op) const char *OP = op; mc_clear_error(); mc_dense_args a = {0}; mc_status s

mc_status mc_cholesky(const mc_tensor *A, int upper, mc_tensor *l, mc_tensor *info, mc_stream_t stream) {
    ENTER("cholesky");
    if ((s = check_input(OP, A, "A", 0, &a))) return s;
    if ((s = check_square(OP, A, &a))) return s;
    if ((s = check_like(OP, A, l, "L", a.dtype, 2, a.n, a.n))) return s;
    if ((s = check_like(OP, A, info, "info", MC_DTYPE_I32, 0, 0, 0))) return s;
    if ((s = check_no_alias(OP, l, "L", A, "A"))) return s;
    a.a = A->data;
    a.out = l->data;
    a.info = (int32_t *)info->data;
    a.upper = upper != 0;
    a.stream = stream;
    if (a.batch == 0 || a.n == 0) return MC_STATUS_SUCCESS; /* n == 0: nothing, info untouched */
    return DISPATCH(cholesky, &a, A->device.type);
}

mc_status mc_lu_factor(const mc_tensor *A, mc_tensor *lu, mc_tensor *pivots, mc_tensor *info,
                       mc_stream_t stream) {
    ENTER("lu_factor");
    if ((s = check_input(OP, A, "A", 0, &a))) return s;
    if ((s = check_square(OP, A, &a))) return s;
    if ((s = check_like(OP, A, lu, "LU", a.dtype, 2, a.n, a.n))) return s;
    if ((s = check_like(OP, A, pivots, "pivots", MC_DTYPE_I32, 1, a.n, 0))) return s;
    if ((s = check_like(OP, A, info, "info", MC_DTYPE_I32, 0, 0, 0))) return s;
    if ((s = check_no_alias(OP, lu, "LU", A, "A"))) return s;
    a.a = A->data;
    a.out = lu->data;
    a.pivots = (int32_t *)pivots->data;
    a.info = (int32_t *)info->data;
    a.stream = stream;
    if (a.batch == 0 || a.n == 0) return MC_STATUS_SUCCESS;
    return DISPATCH(lu_factor, &a, A->device.type);
}

mc_status mc_lu_solve(const mc_tensor *lu, const mc_tensor *pivots, const mc_tensor *b, int transpose,
                      mc_tensor *x, mc_stream_t stream) {
    ENTER("lu_solve");
    if ((s = check_input(OP, lu, "LU", 0, &a))) return s;
    if ((s = check_square(OP, lu, &a))) return s;
    if ((s = check_like(OP, lu, pivots, "pivots", MC_DTYPE_I32, 1, a.n, 0))) return s;
    if ((s = check_rhs(OP, lu, b, "B", &a))) return s;
    if ((s = check_like(OP, lu, x, "X", a.dtype, 2, a.n, a.k))) return s;
    if ((s = check_no_alias(OP, x, "X", b, "B"))) return s;
    if ((s = check_no_alias(OP, x, "X", lu, "LU"))) return s;
    a.a = lu->data;
    a.pivots_in = (const int32_t *)pivots->data;
    a.b = b->data;
    a.out = x->data;
    a.transpose = transpose != 0;
    a.stream = stream;
    if (a.batch == 0 || a.n == 0 || a.k == 0) return MC_STATUS_SUCCESS;
    return DISPATCH(lu_solve, &a, lu->device.type);
}

static mc_status solve_check(const mc_tensor *A, const mc_tensor *b, mc_dense_args *a) {
    const char *OP = "solve";
    mc_status s;
    if ((s = check_input(OP, A, "A", 1, a))) return s;
    if ((s = check_square(OP, A, a))) return s;
    return check_rhs(OP, A, b, "B", a);
}

static size_t solve_ws(const mc_dense_args *a, mc_device_type dev) {
    if (a->batch == 0 || a->n == 0 || a->k == 0) return 0;
    return dev == MC_DEVICE_CPU ? mc_cpu_solve_workspace_size(a) : cuda_solve_workspace_size(a);
}

mc_status mc_solve_workspace_size(const mc_tensor *A, const mc_tensor *b, size_t *bytes) {
    ENTER("solve");
    (void)OP;
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = solve_check(A, b, &a))) return s;
    *bytes = solve_ws(&a, A->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_solve(const mc_tensor *A, const mc_tensor *b, mc_tensor *x, mc_tensor *info, void *workspace,
                   size_t workspace_bytes, mc_stream_t stream) {
    ENTER("solve");
    if ((s = solve_check(A, b, &a))) return s;
    if ((s = check_like(OP, A, x, "X", a.dtype, 2, a.n, a.k))) return s;
    if ((s = check_like(OP, A, info, "info", MC_DTYPE_I32, 0, 0, 0))) return s;
    if ((s = check_no_alias(OP, x, "X", b, "B"))) return s;
    if ((s = check_no_alias(OP, x, "X", A, "A"))) return s;
    size_t need = solve_ws(&a, A->device.type);
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "solve: workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    a.a = A->data;
    a.b = b->data;
    a.out = x->data;
    a.info = (int32_t *)info->data;
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = stream;
    if (a.batch == 0 || a.n == 0 || a.k == 0) return MC_STATUS_SUCCESS;
    return DISPATCH(solve, &a, A->device.type);
}

mc_status mc_trsm(const mc_tensor *A, const mc_tensor *b, int lower, int transpose, int unit_diagonal,
                  mc_tensor *x, mc_stream_t stream) {
    ENTER("trsm");
    if ((s = check_input(OP, A, "A", 0, &a))) return s;
    if ((s = check_square(OP, A, &a))) return s;
    if ((s = check_rhs(OP, A, b, "B", &a))) return s;
    if ((s = check_like(OP, A, x, "X", a.dtype, 2, a.n, a.k))) return s;
    if ((s = check_no_alias(OP, x, "X", b, "B"))) return s;
    if ((s = check_no_alias(OP, x, "X", A, "A"))) return s;
    a.a = A->data;
    a.b = b->data;
    a.out = x->data;
    a.lower = lower != 0;
    a.transpose = transpose != 0;
    a.unit_diagonal = unit_diagonal != 0;
    a.stream = stream;
    if (a.batch == 0 || a.n == 0 || a.k == 0) return MC_STATUS_SUCCESS;
    return DISPATCH(trsm, &a, A->device.type);
}

/* Fills kq, kr from the mode; MC_STATUS_INVALID_ARGUMENT for a bad mode. */
static mc_status qr_shapes(mc_qr_mode mode, mc_dense_args *a) {
    const int64_t k = a->m < a->n ? a->m : a->n;
    switch (mode) {
    case MC_QR_MODE_REDUCED: a->kq = k; a->kr = k; return MC_STATUS_SUCCESS;
    case MC_QR_MODE_COMPLETE: a->kq = a->m; a->kr = a->m; return MC_STATUS_SUCCESS;
    case MC_QR_MODE_R: a->kq = 0; a->kr = k; return MC_STATUS_SUCCESS;
    default: return mc_fail(MC_STATUS_INVALID_ARGUMENT, "qr: invalid mode %d", (int)mode);
    }
}

static size_t qr_ws(const mc_dense_args *a, mc_device_type dev) {
    if (a->batch == 0 || a->m == 0 || a->n == 0) return 0;
    return dev == MC_DEVICE_CPU ? mc_cpu_qr_workspace_size(a) : cuda_qr_workspace_size(a);
}

mc_status mc_qr_workspace_size(const mc_tensor *A, mc_qr_mode mode, size_t *bytes) {
    ENTER("qr");
    if (!bytes) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "bytes is NULL");
    if ((s = check_input(OP, A, "A", 0, &a))) return s;
    if ((s = qr_shapes(mode, &a))) return s;
    *bytes = qr_ws(&a, A->device.type);
    return MC_STATUS_SUCCESS;
}

mc_status mc_qr(const mc_tensor *A, mc_qr_mode mode, mc_tensor *q, mc_tensor *r, void *workspace,
                size_t workspace_bytes, mc_stream_t stream) {
    ENTER("qr");
    if ((s = check_input(OP, A, "A", 0, &a))) return s;
    if ((s = qr_shapes(mode, &a))) return s;
    if (mode == MC_QR_MODE_R) {
        if (q) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "qr: Q must be NULL in mode 'r'");
    } else {
        if (!q) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "qr: Q is NULL");
        if ((s = check_like(OP, A, q, "Q", a.dtype, 2, a.m, a.kq))) return s;
        if ((s = check_no_alias(OP, q, "Q", A, "A"))) return s;
        a.q = q->data;
    }
    if ((s = check_like(OP, A, r, "R", a.dtype, 2, a.kr, a.n))) return s;
    if ((s = check_no_alias(OP, r, "R", A, "A"))) return s;
    if (q && (s = check_no_alias(OP, r, "R", q, "Q"))) return s;
    size_t need = qr_ws(&a, A->device.type);
    if (need > 0 && (!workspace || workspace_bytes < need))
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "qr: workspace of %zu bytes given; %zu needed",
                       workspace ? workspace_bytes : 0, need);
    a.a = A->data;
    a.out = r->data;
    a.workspace = workspace;
    a.workspace_bytes = workspace_bytes;
    a.stream = stream;
    if (a.batch == 0) return MC_STATUS_SUCCESS;
    if (a.m == 0 || a.n == 0) {
        /* Nothing to factor, but Q = I (m x kq) and R = 0 may still have elements to write. */
        if ((a.q ? a.m * a.kq : 0) + a.kr * a.n == 0) return MC_STATUS_SUCCESS;
    }
    return DISPATCH(qr, &a, A->device.type);
}
