/* Per-matrix kernels of the direct factorizations on the CPU: the reference algorithms, written
 * once and instantiated for float and double by including this file with REAL and SFX defined
 * (REAL: the storage and working type; sums are accumulated in double). Row-major matrices,
 * in place. The CUDA kernels (src/cuda/dense_kernels.cuh) mirror these loops step for step.
 *
 * Used by src/cpu/{cholesky,lu,trsm,qr}.c; every function is static inline so a file that does
 * not use one pays nothing for it. */
#ifndef MC_CPU_DENSE_COMMON
#define MC_CPU_DENSE_COMMON
#include "../core/linalg_direct.h"

#include <math.h>

/* OpenMP over the batch, only when there is enough work to pay for waking the threads (a
 * parallel region on a busy machine can cost a scheduler quantum). */
#define MC_PRAGMA_(x) _Pragma(#x)
#ifdef _OPENMP
#define MC_OMP_BATCH_FOR MC_PRAGMA_(omp parallel for schedule(static) if(mc_dense_par(a)))
#define MC_OMP_BATCH_FOR_OR MC_PRAGMA_(omp parallel for schedule(static) reduction(|:bad) if(mc_dense_par(a)))
#else
#define MC_OMP_BATCH_FOR
#define MC_OMP_BATCH_FOR_OR
#endif

static inline int mc_dense_par(const mc_dense_args *a) {
    const int64_t rows = a->m > a->n ? a->m : a->n;
    return a->batch > 1 && (double)a->batch * (double)rows * (double)a->n * (double)(a->n + a->k) >= 2e5;
}

/* Element access by dtype for the 16-bit inputs of solve (converted once at the edges). */
static inline float mc_dense_ld16(const void *p, mc_dtype dt, int64_t i) {
    const uint16_t h = ((const uint16_t *)p)[i];
    return dt == MC_DTYPE_F16 ? mc_f16_to_f32(h) : mc_bf16_to_f32(h);
}
static inline void mc_dense_st16(void *p, mc_dtype dt, int64_t i, float v) {
    ((uint16_t *)p)[i] = dt == MC_DTYPE_F16 ? mc_f32_to_f16(v) : mc_f32_to_bf16(v);
}
#endif /* MC_CPU_DENSE_COMMON */

#if defined(REAL) && defined(SFX)

/* l: (n, n) holding A's lower triangle on entry (upper ignored); on exit L, upper part zeroed.
 * Cholesky-Banachiewicz (row by row: dot products run along contiguous rows).
 * Returns 0, or the order of the first leading minor that is not positive-definite. */
static inline int SFX(chol_inplace)(REAL *l, int64_t n) {
    double inv[64]; /* reciprocals of the diagonal for small n: a multiply instead of a divide */
    const int small = n <= 64;
    for (int64_t i = 0; i < n; ++i) {
        REAL *li = l + i * n;
        for (int64_t j = 0; j <= i; ++j) {
            const REAL *lj = l + j * n;
            double s = li[j];
            for (int64_t p = 0; p < j; ++p) s -= (double)li[p] * lj[p];
            if (j == i) {
                if (!(s > 0.0)) return (int)(i + 1); /* also catches NaN */
                const double d = sqrt(s);
                li[i] = (REAL)d;
                if (small) inv[i] = 1.0 / (REAL)d;
            } else {
                li[j] = (REAL)(small ? s * inv[j] : s / lj[j]);
            }
        }
        for (int64_t j = i + 1; j < n; ++j) li[j] = 0;
    }
    return 0;
}

/* Cholesky of up to MC_CHOL_LANES small matrices (n <= MC_CHOL_SMALL_N) at once, interleaved
 * so the innermost loop runs across matrices and vectorizes (the "compact" batched layout of
 * Intel MKL's and MAGMA's tiny-matrix kernels; the idea only). a: count matrices (n, n)
 * back to back; l: the same, receiving L (or L^T when upper); info: count values. */
#define MC_CHOL_LANES 8
#define MC_CHOL_SMALL_N 32
static inline void SFX(chol_group)(const REAL *a, REAL *l, int64_t n, int64_t count, int upper, int32_t *info) {
    REAL t[MC_CHOL_SMALL_N][MC_CHOL_SMALL_N][MC_CHOL_LANES];
    REAL s[MC_CHOL_LANES], r[MC_CHOL_LANES];
    int32_t inf[MC_CHOL_LANES];
    for (int64_t q = 0; q < MC_CHOL_LANES; ++q) {
        const REAL *src = a + (q < count ? q : 0) * n * n; /* idle lanes repeat matrix 0 */
        inf[q] = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j <= i; ++j) t[i][j][q] = src[i * n + j];
    }
    for (int64_t j = 0; j < n; ++j) {
        for (int64_t q = 0; q < MC_CHOL_LANES; ++q) s[q] = t[j][j][q];
        for (int64_t p = 0; p < j; ++p)
            for (int64_t q = 0; q < MC_CHOL_LANES; ++q) s[q] -= t[j][p][q] * t[j][p][q];
        for (int64_t q = 0; q < MC_CHOL_LANES; ++q) {
            if (!(s[q] > 0) && !inf[q]) inf[q] = (int32_t)(j + 1); /* also catches NaN */
            t[j][j][q] = (REAL)sqrt((double)s[q]);
            r[q] = (REAL)1 / t[j][j][q];
        }
        for (int64_t i = j + 1; i < n; ++i) {
            for (int64_t q = 0; q < MC_CHOL_LANES; ++q) s[q] = t[i][j][q];
            for (int64_t p = 0; p < j; ++p)
                for (int64_t q = 0; q < MC_CHOL_LANES; ++q) s[q] -= t[i][p][q] * t[j][p][q];
            for (int64_t q = 0; q < MC_CHOL_LANES; ++q) t[i][j][q] = s[q] * r[q];
        }
    }
    for (int64_t q = 0; q < count; ++q) {
        REAL *dst = l + q * n * n;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < n; ++j)
                dst[i * n + j] = upper ? (i <= j ? t[j][i][q] : 0) : (j <= i ? t[i][j][q] : 0);
        info[q] = inf[q];
    }
}

/* In-place transpose of a square (n, n) matrix (for Cholesky's upper = L^T). */
static inline void SFX(transpose_inplace)(REAL *a, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) {
            REAL t = a[i * n + j];
            a[i * n + j] = a[j * n + i];
            a[j * n + i] = t;
        }
}

/* a: (n, n) -> L\U with partial pivoting (right-looking getf2). piv: (n,) 1-based.
 * Returns 0, or 1 + the first column whose pivot is exactly zero (the factorization goes on, as
 * LAPACK's does; the zero pivot's column is left unscaled). NaN wins the pivot search so NaN
 * input propagates. */
static inline int SFX(lu_inplace)(REAL *a, int64_t n, int32_t *piv) {
    int info = 0;
    for (int64_t j = 0; j < n; ++j) {
        int64_t p = j;
        REAL best = (REAL)fabs((double)a[j * n + j]);
        for (int64_t i = j + 1; i < n; ++i) {
            REAL v = (REAL)fabs((double)a[i * n + j]);
            if (v > best || (v != v && best == best)) {
                best = v;
                p = i;
            }
        }
        piv[j] = (int32_t)(p + 1);
        if (p != j)
            for (int64_t c = 0; c < n; ++c) {
                REAL t = a[j * n + c];
                a[j * n + c] = a[p * n + c];
                a[p * n + c] = t;
            }
        const REAL d = a[j * n + j];
        if (d == 0) {
            if (!info) info = (int)(j + 1);
            continue;
        }
        const REAL *aj = a + j * n;
        for (int64_t i = j + 1; i < n; ++i) {
            REAL *ai = a + i * n;
            const REAL lij = ai[j] / d;
            ai[j] = lij;
            for (int64_t c = j + 1; c < n; ++c) ai[c] -= lij * aj[c];
        }
    }
    return info;
}

/* x: (n, k) holds B on entry, op(A)^{-1} B on exit. a: (n, n); op(A) = A^T when trans; only
 * the `lower` (else upper) triangle of a is read, its diagonal not at all when `unit`.
 * Row-oriented substitution: each step is an axpy over the k contiguous columns of x. */
static inline void SFX(trsm_inplace)(const REAL *a, REAL *x, int64_t n, int64_t k, int lower,
                                     int trans, int unit) {
    const int eff_lower = lower ^ trans; /* op(A) is lower triangular */
    if (k == 1) { /* one right-hand side: dot products (along a row of a unless trans) */
        for (int64_t s = 0; s < n; ++s) {
            const int64_t i = eff_lower ? s : n - 1 - s;
            const int64_t j0 = eff_lower ? 0 : i + 1, j1 = eff_lower ? i : n;
            double acc = x[i];
            if (trans)
                for (int64_t j = j0; j < j1; ++j) acc -= (double)a[j * n + i] * x[j];
            else
                for (int64_t j = j0; j < j1; ++j) acc -= (double)a[i * n + j] * x[j];
            x[i] = (REAL)(unit ? acc : acc / a[i * n + i]);
        }
        return;
    }
    for (int64_t s = 0; s < n; ++s) {
        const int64_t i = eff_lower ? s : n - 1 - s;
        REAL *xi = x + i * k;
        const int64_t j0 = eff_lower ? 0 : i + 1, j1 = eff_lower ? i : n;
        for (int64_t j = j0; j < j1; ++j) {
            const REAL aij = trans ? a[j * n + i] : a[i * n + j];
            const REAL *xj = x + j * k;
            for (int64_t c = 0; c < k; ++c) xi[c] -= aij * xj[c];
        }
        if (!unit) {
            const REAL d = a[i * n + i];
            for (int64_t c = 0; c < k; ++c) xi[c] /= d;
        }
    }
}

/* Row interchanges of getrf's pivots on x: (n, k): in order (forward) or in reverse.
 * Returns 0, or -1 if a pivot is out of range (nothing is read out of bounds). */
static inline int SFX(apply_pivots)(REAL *x, int64_t n, int64_t k, const int32_t *piv, int forward) {
    for (int64_t s = 0; s < n; ++s) {
        const int64_t i = forward ? s : n - 1 - s;
        const int64_t p = (int64_t)piv[i] - 1;
        if (p < 0 || p >= n) return -1;
        if (p == i) continue;
        for (int64_t c = 0; c < k; ++c) {
            REAL t = x[i * k + c];
            x[i * k + c] = x[p * k + c];
            x[p * k + c] = t;
        }
    }
    return 0;
}

/* x: (n, k) = B on entry, A^{-1} B (or A^{-T} B) on exit, from getrf's lu and piv. */
static inline int SFX(lu_solve_inplace)(const REAL *lu, const int32_t *piv, REAL *x, int64_t n,
                                        int64_t k, int trans) {
    if (!trans) {
        if (SFX(apply_pivots)(x, n, k, piv, 1)) return -1;
        SFX(trsm_inplace)(lu, x, n, k, 1, 0, 1);
        SFX(trsm_inplace)(lu, x, n, k, 0, 0, 0);
        return 0;
    }
    /* A = P^T L U, so A^T = U^T L^T P: solve U^T, then L^T, then undo P. */
    SFX(trsm_inplace)(lu, x, n, k, 0, 1, 0);
    SFX(trsm_inplace)(lu, x, n, k, 1, 1, 1);
    return SFX(apply_pivots)(x, n, k, piv, 0);
}

/* Householder QR of up to MC_QR_LANES small matrices (m, n <= MC_QR_SMALL) at once,
 * interleaved so the innermost loops run across matrices and vectorize; the same reflectors as
 * qr_one below (a lane whose column is already zero below the diagonal gets tau = 0, and
 * applying it is then a no-op). a: count matrices (m, n); q: count x (m, kq) or NULL;
 * r: count x (kr, n). */
#define MC_QR_LANES 8
#define MC_QR_SMALL 16
static inline void SFX(qr_group)(const REAL *a, int64_t m, int64_t n, int64_t count, REAL *q, int64_t kq,
                                 REAL *r, int64_t kr) {
    REAL w[MC_QR_SMALL][MC_QR_SMALL][MC_QR_LANES], qq[MC_QR_SMALL][MC_QR_SMALL][MC_QR_LANES];
    REAL tau[MC_QR_SMALL][MC_QR_LANES], s[MC_QR_LANES];
    const int64_t k = m < n ? m : n;
    for (int64_t l = 0; l < MC_QR_LANES; ++l) {
        const REAL *src = a + (l < count ? l : 0) * m * n; /* idle lanes repeat matrix 0 */
        for (int64_t i = 0; i < m; ++i)
            for (int64_t c = 0; c < n; ++c) w[i][c][l] = src[i * n + c];
    }
    for (int64_t j = 0; j < k; ++j) {
        for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] = 0;
        for (int64_t i = j + 1; i < m; ++i)
            for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] += w[i][j][l] * w[i][j][l];
        for (int64_t l = 0; l < MC_QR_LANES; ++l) {
            const double alpha = w[j][j][l], xn2 = s[l];
            double t = 0, scale = 1, beta = alpha;
            if (xn2 != 0.0) {
                const double nrm = sqrt(alpha * alpha + xn2);
                beta = alpha >= 0 ? -nrm : nrm;
                t = (beta - alpha) / beta;
                scale = 1.0 / (alpha - beta);
            }
            tau[j][l] = (REAL)t;
            s[l] = (REAL)scale;
            w[j][j][l] = (REAL)beta;
        }
        for (int64_t i = j + 1; i < m; ++i)
            for (int64_t l = 0; l < MC_QR_LANES; ++l) w[i][j][l] *= s[l];
        for (int64_t c = j + 1; c < n; ++c) {
            for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] = w[j][c][l];
            for (int64_t i = j + 1; i < m; ++i)
                for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] += w[i][j][l] * w[i][c][l];
            for (int64_t l = 0; l < MC_QR_LANES; ++l) {
                s[l] *= tau[j][l];
                w[j][c][l] -= s[l];
            }
            for (int64_t i = j + 1; i < m; ++i)
                for (int64_t l = 0; l < MC_QR_LANES; ++l) w[i][c][l] -= s[l] * w[i][j][l];
        }
    }
    for (int64_t l = 0; l < count; ++l)
        for (int64_t i = 0; i < kr; ++i)
            for (int64_t c = 0; c < n; ++c) r[(l * kr + i) * n + c] = (i <= c && i < k) ? w[i][c][l] : 0;
    if (!q) return;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t c = 0; c < kq; ++c)
            for (int64_t l = 0; l < MC_QR_LANES; ++l) qq[i][c][l] = i == c ? 1 : 0;
    for (int64_t j = k - 1; j >= 0; --j)
        for (int64_t c = j; c < kq; ++c) {
            for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] = qq[j][c][l];
            for (int64_t i = j + 1; i < m; ++i)
                for (int64_t l = 0; l < MC_QR_LANES; ++l) s[l] += w[i][j][l] * qq[i][c][l];
            for (int64_t l = 0; l < MC_QR_LANES; ++l) {
                s[l] *= tau[j][l];
                qq[j][c][l] -= s[l];
            }
            for (int64_t i = j + 1; i < m; ++i)
                for (int64_t l = 0; l < MC_QR_LANES; ++l) qq[i][c][l] -= s[l] * w[i][j][l];
        }
    for (int64_t l = 0; l < count; ++l)
        for (int64_t i = 0; i < m; ++i)
            for (int64_t c = 0; c < kq; ++c) q[(l * m + i) * kq + c] = qq[i][c][l];
}

/* Householder QR of one matrix (geqr2 + org2r).
 *   a: (m, n) row-major input;  w: m*n + m + m scratch (column-major copy of a, tau, a row)
 *   q: (m, kq) or NULL;  r: (kr, n)
 * Reflector j (LAPACK dlarfg): beta = -sign(alpha) ||x||, tau = (beta - alpha) / beta,
 * v = [1, x(1:) / (alpha - beta)]; tau = 0 when x(1:) is zero (H = I). */
static inline void SFX(qr_one)(const REAL *a, int64_t m, int64_t n, REAL *w, REAL *q, int64_t kq,
                               REAL *r, int64_t kr) {
    const int64_t k = m < n ? m : n;
    REAL *tau = w + m * n, *row = tau + m;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t c = 0; c < n; ++c) w[c * m + i] = a[i * n + c];
    for (int64_t j = 0; j < k; ++j) {
        REAL *v = w + j * m; /* column j; v[j] is alpha, v[j+1:] is x */
        double xn2 = 0.0;
        for (int64_t i = j + 1; i < m; ++i) xn2 += (double)v[i] * v[i];
        const double alpha = v[j];
        if (xn2 == 0.0) {
            tau[j] = 0;
            continue;
        }
        const double nrm = sqrt(alpha * alpha + xn2);
        const double beta = alpha >= 0 ? -nrm : nrm;
        const double t = (beta - alpha) / beta;
        const REAL scale = (REAL)(1.0 / (alpha - beta));
        for (int64_t i = j + 1; i < m; ++i) v[i] *= scale;
        v[j] = (REAL)beta;
        tau[j] = (REAL)t;
        for (int64_t c = j + 1; c < n; ++c) {
            REAL *wc = w + c * m;
            double s = wc[j];
            for (int64_t i = j + 1; i < m; ++i) s += (double)v[i] * wc[i];
            const REAL ts = (REAL)(t * s);
            wc[j] -= ts;
            for (int64_t i = j + 1; i < m; ++i) wc[i] -= ts * v[i];
        }
    }
    for (int64_t i = 0; i < kr; ++i)
        for (int64_t c = 0; c < n; ++c) r[i * n + c] = (i <= c && i < k) ? w[c * m + i] : 0;
    if (!q) return;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t c = 0; c < kq; ++c) q[i * kq + c] = i == c ? 1 : 0;
    /* Backward accumulation Q = H_0 (H_1 (... H_{k-1} I)); H_j leaves columns c < j alone. */
    for (int64_t j = k - 1; j >= 0; --j) {
        const REAL t = tau[j];
        if (t == 0) continue;
        const REAL *v = w + j * m;
        for (int64_t c = j; c < kq; ++c) row[c] = q[j * kq + c];
        for (int64_t i = j + 1; i < m; ++i)
            for (int64_t c = j; c < kq; ++c) row[c] += v[i] * q[i * kq + c];
        for (int64_t c = j; c < kq; ++c) {
            row[c] *= t;
            q[j * kq + c] -= row[c];
        }
        for (int64_t i = j + 1; i < m; ++i)
            for (int64_t c = j; c < kq; ++c) q[i * kq + c] -= v[i] * row[c];
    }
}

#endif /* REAL && SFX */
