/* Direct dense factorizations and solvers, batched: Cholesky, LU (solve, factor, solve from
 * factors), triangular solve (trsm) and Householder QR. Included by metalcore.h.
 *
 * Common rules: matrices are the last two dimensions of a row-major contiguous tensor, any
 * number of leading (batch) dimensions, batch size zero included; every tensor of a call has
 * the same leading dimensions and lives on one device. f32 and f64 (mc_solve also takes f16 and
 * bf16: it factors and solves in f32 and writes the input dtype). Numerical failures are
 * reported per matrix in an int32 `info` tensor of shape (batch,) -- never by a host sync --
 * so the caller decides whether to raise. */
#ifndef METALCORE_LINALG_DIRECT_H
#define METALCORE_LINALG_DIRECT_H

/*
 * Cholesky, A = L L^T.
 *   a:    (..., n, n); only the lower triangle is read
 *   l:    (..., n, n), dtype of a (may not alias a); receives L, or U = L^T when `upper`; the
 *         other triangle is zero
 *   info: (...) int32: 0, or k >= 1 when the leading minor of order k is not positive-definite
 *         (NaN counts as not positive-definite); l is then unspecified
 */
MC_API mc_status mc_cholesky(const mc_tensor *a, int upper, mc_tensor *l, mc_tensor *info,
                             mc_stream_t stream);

/*
 * LU with partial pivoting, P A = L U (LAPACK getrf conventions, as torch.linalg.lu_factor).
 *   a:     (..., n, n)
 *   lu:    (..., n, n), dtype of a (may not alias a): unit-lower L below the diagonal, U on and above
 *   pivots:(..., n) int32, 1-based: row i was swapped with row pivots[i] - 1, in order
 *   info:  (...) int32: 0, or k >= 1 when U[k-1, k-1] is exactly zero (the factorization is
 *          completed; a solve with it would divide by zero)
 */
MC_API mc_status mc_lu_factor(const mc_tensor *a, mc_tensor *lu, mc_tensor *pivots, mc_tensor *info,
                              mc_stream_t stream);

/*
 * Solve A X = B (or A^T X = B when `transpose`) from mc_lu_factor's output.
 *   lu, pivots: as written by mc_lu_factor, (..., n, n) and (..., n)
 *   b:  (..., n, k), dtype of lu
 *   x:  (..., n, k), dtype of lu (may not alias b)
 */
MC_API mc_status mc_lu_solve(const mc_tensor *lu, const mc_tensor *pivots, const mc_tensor *b,
                             int transpose, mc_tensor *x, mc_stream_t stream);

/*
 * Solve A X = B by LU with partial pivoting, without keeping the factors.
 *   a:    (..., n, n); f32, f64, f16 or bf16 (16-bit: computed in f32)
 *   b:    (..., n, k), dtype of a
 *   x:    (..., n, k), dtype of a (may not alias a or b)
 *   info: (...) int32, as mc_lu_factor's; x is unspecified where info != 0
 *   workspace: mc_solve_workspace_size bytes (NULL when that is 0)
 */
MC_API mc_status mc_solve(const mc_tensor *a, const mc_tensor *b, mc_tensor *x, mc_tensor *info,
                          void *workspace, size_t workspace_bytes, mc_stream_t stream);
MC_API mc_status mc_solve_workspace_size(const mc_tensor *a, const mc_tensor *b, size_t *bytes);

/*
 * Triangular solve op(A) X = B, op(A) = A or A^T (when `transpose`).
 *   a: (..., n, n); only the `lower` (else upper) triangle is read, and not its diagonal when
 *      `unit_diagonal` (taken as ones)
 *   b: (..., n, k), dtype of a;  x: (..., n, k), dtype of a (may not alias a or b)
 * A zero on the diagonal gives Inf/NaN in x, as LAPACK's trsm does.
 */
MC_API mc_status mc_trsm(const mc_tensor *a, const mc_tensor *b, int lower, int transpose,
                         int unit_diagonal, mc_tensor *x, mc_stream_t stream);

/* QR modes, as torch.linalg.qr's. */
typedef enum mc_qr_mode {
    MC_QR_MODE_REDUCED = 0,  /* q: (..., m, k), r: (..., k, n), k = min(m, n) */
    MC_QR_MODE_COMPLETE = 1, /* q: (..., m, m), r: (..., m, n) */
    MC_QR_MODE_R = 2         /* q: NULL,        r: (..., k, n) */
} mc_qr_mode;

/*
 * Householder QR, A = Q R (LAPACK geqrf/orgqr conventions: R's diagonal may be negative).
 *   a: (..., m, n);  q, r: shaped by `mode` (above), dtype of a
 *   workspace: mc_qr_workspace_size bytes (NULL when that is 0)
 * Non-finite input gives non-finite output; rank-deficient input is fine.
 */
MC_API mc_status mc_qr(const mc_tensor *a, mc_qr_mode mode, mc_tensor *q, mc_tensor *r,
                       void *workspace, size_t workspace_bytes, mc_stream_t stream);
MC_API mc_status mc_qr_workspace_size(const mc_tensor *a, mc_qr_mode mode, size_t *bytes);

#endif /* METALCORE_LINALG_DIRECT_H */
