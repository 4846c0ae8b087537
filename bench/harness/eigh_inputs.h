/* Host side of the eigh harnesses (eigh_warp.cu, eigh_tridiag.cu): a double-precision
 * cyclic Jacobi reference (ref_eig) and a faster Householder + bisection one for n > 128
 * (ref_eig_tridiag), the symmetric test matrices by kind, and the check of one batch (check_case,
 * check_results). */
#ifndef MC_BENCH_EIGH_INPUTS_H
#define MC_BENCH_EIGH_INPUTS_H

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <cfloat>
#include <cstdio>

#include "../../src/core/jacobi.h"
#include "harness.h"

// ---- host reference: cyclic Jacobi in double, eigenvalues ascending -------------------------------
static std::vector<double> ref_eig(int n, std::vector<double> A) {
    for (int sweep = 0; sweep < 100; ++sweep) {
        double off = 0, tot = 0;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                tot += A[i * n + j] * A[i * n + j];
                if (i != j) off += A[i * n + j] * A[i * n + j];
            }
        if (off <= 1e-30 * tot || off == 0) break;
        for (int p = 0; p < n; ++p)
            for (int q = p + 1; q < n; ++q) {
                const double apq = A[p * n + q];
                if (apq == 0) continue;
                const double tau = (A[q * n + q] - A[p * n + p]) / (2 * apq);
                double t = 1 / (fabs(tau) + sqrt(1 + tau * tau));
                if (tau < 0) t = -t;
                const double c = 1 / sqrt(1 + t * t), s = t * c;
                for (int k = 0; k < n; ++k) { // A <- A J
                    const double x = A[k * n + p], y = A[k * n + q];
                    A[k * n + p] = c * x - s * y;
                    A[k * n + q] = s * x + c * y;
                }
                for (int k = 0; k < n; ++k) { // A <- J^T A
                    const double x = A[p * n + k], y = A[q * n + k];
                    A[p * n + k] = c * x - s * y;
                    A[q * n + k] = s * x + c * y;
                }
                A[p * n + q] = A[q * n + p] = 0;
            }
    }
    std::vector<double> w(n);
    for (int i = 0; i < n; ++i) w[i] = A[i * n + i];
    std::sort(w.begin(), w.end());
    return w;
}

// ---- host reference for larger n: Householder tridiagonalization (LAPACK dsytd2's recurrence) and
// bisection on Sturm counts, in double, eigenvalues ascending; O(n^3), backward stable ----------------
static std::vector<double> ref_eig_tridiag(int n, std::vector<double> A) {
    std::vector<double> d(n, 0.0), e(n, 0.0), v(n), p(n);
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1;
        const double alpha = A[k * n + k1];
        double sq = 0;
        for (int i = k1 + 1; i < n; ++i) sq += A[k * n + i] * A[k * n + i];
        d[k] = A[k * n + k];
        if (sq == 0) {
            e[k] = alpha;
            continue;
        }
        const double nr = sqrt(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
        const double tau = (beta - alpha) / beta, scl = 1 / (alpha - beta);
        e[k] = beta;
        v[k1] = 1;
        for (int i = k1 + 1; i < n; ++i) v[i] = A[k * n + i] * scl;
        double pv = 0;
        for (int i = k1; i < n; ++i) {
            double s = 0;
            for (int j = k1; j < n; ++j) s += A[i * n + j] * v[j];
            p[i] = tau * s;
            pv += p[i] * v[i];
        }
        const double K = 0.5 * tau * pv;
        for (int i = k1; i < n; ++i) p[i] -= K * v[i];
        for (int i = k1; i < n; ++i)
            for (int j = k1; j < n; ++j) A[i * n + j] -= v[i] * p[j] + p[i] * v[j];
    }
    if (n >= 2) {
        d[n - 2] = A[(n - 2) * n + n - 2];
        e[n - 2] = A[(n - 1) * n + n - 2];
    }
    d[n - 1] = A[(n - 1) * n + n - 1];
    double tn = 0, e2m = 0;
    for (int i = 0; i < n; ++i) {
        tn = std::max(tn, fabs(d[i]) + fabs(e[i]) + (i ? fabs(e[i - 1]) : 0.0));
        e2m = std::max(e2m, e[i] * e[i]);
    }
    const double pivmin = DBL_MIN * std::max(1.0, e2m);
    auto count = [&](double x) { // eigenvalues <= x
        double q = d[0] - x;
        if (fabs(q) < pivmin) q = -pivmin;
        int c = q <= 0;
        for (int i = 1; i < n; ++i) {
            q = d[i] - e[i - 1] * e[i - 1] / q - x;
            if (fabs(q) < pivmin) q = -pivmin;
            c += q <= 0;
        }
        return c;
    };
    std::vector<double> w(n);
    for (int r = 0; r < n; ++r) {
        double a = -tn * (1 + 4 * n * DBL_EPSILON) - 4 * pivmin, b = -a;
        for (int it = 0; it < 200; ++it) {
            const double mid = 0.5 * (a + b);
            if (!(mid > a && mid < b) || b - a <= 2 * DBL_EPSILON * std::max(fabs(a), fabs(b)) + tn * 1e-18) break;
            if (count(mid) >= r + 1) b = mid;
            else a = mid;
        }
        w[r] = 0.5 * (a + b);
    }
    return w;
}

// random orthogonal matrix (modified Gram-Schmidt of a Gaussian matrix), row major
// (the Gram-Schmidt runs on the transpose, column j = row j of Qt, for cache locality at large n;
// the arithmetic, and so the matrix, is the same as column-wise)
static std::vector<double> rand_orth(int n, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> Q(n * n), Qt(n * n);
    for (auto &x : Q) x = N(g);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) Qt[j * n + i] = Q[i * n + j];
    for (int j = 0; j < n; ++j) {
        double *qj = &Qt[j * n];
        for (int k = 0; k < j; ++k) {
            const double *qk = &Qt[k * n];
            double d = 0;
            for (int i = 0; i < n; ++i) d += qj[i] * qk[i];
            for (int i = 0; i < n; ++i) qj[i] -= d * qk[i];
        }
        double nr = 0;
        for (int i = 0; i < n; ++i) nr += qj[i] * qj[i];
        nr = sqrt(nr);
        for (int i = 0; i < n; ++i) qj[i] /= nr;
    }
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) Q[i * n + j] = Qt[j * n + i];
    return Q;
}

// Kinds 0 .. NKINDS-1 are the ones every eigh harness loops over; CLUSTERED (eigenvalues
// 1 + k 1e-6) and ILLCOND (eigenvalues +-10^(-6 k/(n-1)), condition 1e6) are extra, by name.
enum Kind { RANDOM, DIAGONAL, IDENTITY, ZERO, REPEATED, GRADED, STRIDED, NANCASE, NKINDS, CLUSTERED = NKINDS, ILLCOND, NKINDS_ALL };
static const char *kind_name[] = {"random", "diagonal", "identity", "zero", "repeated", "graded", "strided+upperNaN", "nan-in-batch", "clustered", "ill-conditioned"};

// symmetric matrix of the kind, values representable in T
template <typename T> static std::vector<double> make(int n, int kind, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> A(n * n, 0.0);
    if (kind == REPEATED || kind == CLUSTERED || kind == ILLCOND) {
        const auto Q = rand_orth(n, g);
        std::vector<double> d(n);
        for (int i = 0; i < n; ++i) {
            if (kind == REPEATED) d[i] = i < 3 ? 1.0 : (i < n / 2 + 2 ? 2.0 : -0.5);
            else if (kind == CLUSTERED) d[i] = 1.0 + i * 1e-6;
            else d[i] = (i % 2 ? -1.0 : 1.0) * pow(10.0, n > 1 ? -6.0 * i / (n - 1) : 0.0);
        }
        for (int i = 0; i < n; ++i)
            for (int j = 0; j <= i; ++j) {
                double s = 0;
                for (int k = 0; k < n; ++k) s += Q[i * n + k] * d[k] * Q[j * n + k];
                A[i * n + j] = A[j * n + i] = (double)(T)s;
            }
        return A;
    }
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) {
            double v = N(g);
            if (kind == DIAGONAL) v = i == j ? v : 0;
            if (kind == IDENTITY) v = i == j;
            if (kind == ZERO) v = 0;
            if (kind == GRADED) v *= pow(10.0, -(i + j) / 8.0);
            A[i * n + j] = A[j * n + i] = (double)(T)v;
        }
    return A;
}

/* One check: `batch` matrices of `kind`, solved on the device by
 * launch(a, sb, sr, sc, w, q, info, batch, n, sweeps) -> cudaError_t, then checked in double:
 * residual, orthogonality and eigenvalues within 30 n eps, ascending order, info == 0 and (when
 * check_sweeps) 1 <= sweeps <= MC_JACOBI_MAX_SWEEPS, NaN propagated for the NaN matrix of NANCASE
 * (matrix min(5, batch - 1)). check_results is the host half (the harness's host model calls it
 * too). */
static int n_pass = 0, n_fail = 0;

static int nan_index(int64_t batch) { return (int)std::min<int64_t>(5, batch - 1); }

/* The host half of check_case: As (batch matrices of n x n, double), the kernel's w (batch, n),
 * q (batch, n, n) row major, info and sweeps (batch,); prints one PASS/FAIL line. Returns the
 * worst orthogonality in units of n eps. */
template <typename T>
static double check_results(const char *label, int n, int kind, const std::vector<std::vector<double>> &As,
                            const std::vector<T> &w, const std::vector<T> &q, const std::vector<int32_t> &info,
                            const std::vector<int32_t> &sw, bool check_sweeps) {
    const int64_t batch = (int64_t)As.size();
    const int nan_idx = nan_index(batch);
    const double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    double worst_res = 0, worst_orth = 0, worst_w = 0;
    int max_sw = 0;
    bool ok = true;
    const char *why = "";
    std::vector<double> Qt((size_t)n * n);
    for (int64_t b = 0; b < batch; ++b) {
        const T *wb = &w[b * n], *qb = &q[b * n * n];
        if (kind == NANCASE && b == nan_idx) {
            bool all = true;
            for (int i = 0; i < n; ++i) all &= std::isnan((double)wb[i]);
            for (int i = 0; i < n * n; ++i) all &= std::isnan((double)qb[i]);
            if (!all) ok = false, why = "NaN not propagated";
            if (info[b] != 0) ok = false, why = "info != 0 (NaN matrix)";
            continue;
        }
        const auto &A = As[b];
        max_sw = std::max(max_sw, (int)sw[b]);
        if (info[b] != 0) ok = false, why = "info != 0";
        if (check_sweeps && (sw[b] < 1 || sw[b] > MC_JACOBI_MAX_SWEEPS)) ok = false, why = "sweeps out of range";
        double fa = 0;
        for (double x : A) fa += x * x;
        fa = sqrt(fa);
        const double fan = fa > 0 ? fa : 1;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) Qt[(size_t)j * n + i] = (double)qb[i * n + j];
        double res = 0, orth = 0;
        bool finite = true;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0, o = 0;
                const double *ai = &A[(size_t)i * n], *qi = &Qt[(size_t)i * n], *qj = &Qt[(size_t)j * n];
                for (int k = 0; k < n; ++k) {
                    s += ai[k] * qj[k];
                    o += qi[k] * qj[k];
                }
                s -= (double)qb[i * n + j] * (double)wb[j];
                o -= i == j;
                res += s * s;
                orth += o * o;
                finite &= std::isfinite((double)qb[i * n + j]);
            }
        res = sqrt(res) / fan;
        orth = sqrt(orth);
        const auto wr = n > 128 ? ref_eig_tridiag(n, A) : ref_eig(n, A);
        double dw = 0;
        for (int i = 0; i < n; ++i) dw = std::max(dw, fabs((double)wb[i] - wr[i]) / fan);
        for (int i = 1; i < n; ++i)
            if (!(wb[i - 1] <= wb[i])) ok = false, why = "not ascending";
        if (!finite) ok = false, why = "non-finite output";
        worst_res = std::max(worst_res, res);
        worst_orth = std::max(worst_orth, orth);
        worst_w = std::max(worst_w, dw);
    }
    const double tol = 30 * n * eps;
    if (!(worst_res <= tol)) ok = false, why = "residual";
    if (!(worst_orth <= tol)) ok = false, why = "orthogonality";
    if (!(worst_w <= tol)) ok = false, why = "eigenvalues vs reference";
    if (check_sweeps)
        printf("%s %-11s %s n=%3d %-18s res=%.2f orth=%.2f dw=%.2f (units of n*eps, tol 30) max_sweeps=%d %s\n",
               ok ? "PASS" : "FAIL", label, sizeof(T) == 4 ? "f32" : "f64", n, kind_name[kind],
               worst_res / (n * eps), worst_orth / (n * eps), worst_w / (n * eps), max_sw, why);
    else
        printf("%s %-11s %s n=%3d %-18s batch=%lld res=%.2f orth=%.2f dw=%.2f (units of n*eps, tol 30) %s\n",
               ok ? "PASS" : "FAIL", label, sizeof(T) == 4 ? "f32" : "f64", n, kind_name[kind], (long long)batch,
               worst_res / (n * eps), worst_orth / (n * eps), worst_w / (n * eps), why);
    fflush(stdout);
    (ok ? n_pass : n_fail)++;
    return worst_orth / (n * eps);
}

/* The device layout of check_case: contiguous, or (STRIDED) column major with padded leading
 * dimension and a batch gap, the unused upper triangle NaN; NANCASE: one NaN/Inf in matrix
 * nan_index(batch). Returns the host image (sb * batch + n (n + 1) elements) and the strides. */
template <typename T>
static std::vector<T> device_image(int n, int kind, const std::vector<std::vector<double>> &As, int64_t *sb_,
                                   int64_t *sr_, int64_t *sc_) {
    const int64_t batch = (int64_t)As.size();
    int64_t sb = (int64_t)n * n, sr = n, sc = 1;
    if (kind == STRIDED) {
        sr = 1;
        sc = n + 1;
        sb = (int64_t)n * (n + 1) + 3;
    }
    std::vector<T> ha((size_t)(sb * batch + n * (n + 1)), (T)NAN);
    for (int64_t b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                T v = (T)As[b][i * n + j];
                if (kind == STRIDED && j > i) v = (T)NAN; // upper triangle must be ignored
                ha[b * sb + i * sr + j * sc] = v;
            }
    if (kind == NANCASE) ha[nan_index(batch) * sb + (n - 1) * sr + 0 * sc] = n % 2 ? (T)NAN : (T)INFINITY;
    *sb_ = sb;
    *sr_ = sr;
    *sc_ = sc;
    return ha;
}

template <typename T, typename Launch>
static double check_case(const char *label, int n, int kind, std::mt19937 &g, int64_t batch, Launch launch,
                         bool check_sweeps = true) {
    std::vector<std::vector<double>> As(batch);
    for (int64_t b = 0; b < batch; ++b) As[b] = make<T>(n, kind, g);
    int64_t sb, sr, sc;
    const std::vector<T> ha = device_image<T>(n, kind, As, &sb, &sr, &sc);
    T *da, *dw, *dq;
    int32_t *dinfo, *dsw;
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dw, batch * n * sizeof(T)));
    CK(cudaMalloc(&dq, batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&dsw, batch * sizeof(int32_t)));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(cudaMemset(dw, 0, batch * n * sizeof(T)));
    CK(cudaMemset(dq, 0, batch * n * n * sizeof(T)));
    CK(cudaMemset(dinfo, 0xff, batch * sizeof(int32_t)));
    CK(cudaMemset(dsw, 0, batch * sizeof(int32_t)));
    CK(launch(da, sb, sr, sc, dw, dq, dinfo, batch, n, dsw));
    CK(cudaDeviceSynchronize());
    std::vector<T> w(batch * n), q(batch * n * n);
    std::vector<int32_t> info(batch), sw(batch);
    CK(cudaMemcpy(w.data(), dw, w.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(q.data(), dq, q.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(sw.data(), dsw, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    CK(cudaFree(da));
    CK(cudaFree(dw));
    CK(cudaFree(dq));
    CK(cudaFree(dinfo));
    CK(cudaFree(dsw));
    return check_results<T>(label, n, kind, As, w, q, info, sw, check_sweeps);
}

#endif
