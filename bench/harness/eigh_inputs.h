/* Host side of the eigh harnesses (eigh_warp.cu, eigh_block.cu): a double-precision cyclic Jacobi
 * reference, the symmetric test matrices by kind, and the check of one batch (check_case). */
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

// random orthogonal matrix (modified Gram-Schmidt of a Gaussian matrix), row major
static std::vector<double> rand_orth(int n, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> Q(n * n);
    for (auto &x : Q) x = N(g);
    for (int j = 0; j < n; ++j) {
        for (int k = 0; k < j; ++k) {
            double d = 0;
            for (int i = 0; i < n; ++i) d += Q[i * n + j] * Q[i * n + k];
            for (int i = 0; i < n; ++i) Q[i * n + j] -= d * Q[i * n + k];
        }
        double nr = 0;
        for (int i = 0; i < n; ++i) nr += Q[i * n + j] * Q[i * n + j];
        nr = sqrt(nr);
        for (int i = 0; i < n; ++i) Q[i * n + j] /= nr;
    }
    return Q;
}

enum Kind { RANDOM, DIAGONAL, IDENTITY, ZERO, REPEATED, GRADED, STRIDED, NANCASE, NKINDS };
static const char *kind_name[] = {"random", "diagonal", "identity", "zero", "repeated", "graded", "strided+upperNaN", "nan-in-batch"};

// symmetric matrix of the kind, values representable in T
template <typename T> static std::vector<double> make(int n, int kind, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> A(n * n, 0.0);
    if (kind == REPEATED) {
        const auto Q = rand_orth(n, g);
        std::vector<double> d(n);
        for (int i = 0; i < n; ++i) d[i] = i < 3 ? 1.0 : (i < n / 2 + 2 ? 2.0 : -0.5);
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
 * residual, orthogonality and eigenvalues within 30 n eps, ascending order, info == 0 and
 * 1 <= sweeps <= MC_JACOBI_MAX_SWEEPS, NaN propagated for the NaN matrix of NANCASE. */
static int n_pass = 0, n_fail = 0;

template <typename T, typename Launch>
static void check_case(const char *label, int n, int kind, std::mt19937 &g, int64_t batch, Launch launch) {
    const int nan_idx = 5;
    const double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    std::vector<std::vector<double>> As(batch);
    for (int64_t b = 0; b < batch; ++b) As[b] = make<T>(n, kind, g);
    // device layout: contiguous, or column major with padded leading dimension and a batch gap
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
    if (kind == NANCASE) ha[nan_idx * sb + (n - 1) * sr + 0 * sc] = n % 2 ? (T)NAN : (T)INFINITY;
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

    double worst_res = 0, worst_orth = 0, worst_w = 0;
    int max_sw = 0;
    bool ok = true;
    const char *why = "";
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
        if (sw[b] < 1 || sw[b] > MC_JACOBI_MAX_SWEEPS) ok = false, why = "sweeps out of range";
        double fa = 0;
        for (double x : A) fa += x * x;
        fa = sqrt(fa);
        const double fan = fa > 0 ? fa : 1;
        double res = 0, orth = 0;
        bool finite = true;
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                double s = 0, o = 0;
                for (int k = 0; k < n; ++k) {
                    s += A[i * n + k] * (double)qb[k * n + j];
                    o += (double)qb[k * n + i] * (double)qb[k * n + j];
                }
                s -= (double)qb[i * n + j] * (double)wb[j];
                o -= i == j;
                res += s * s;
                orth += o * o;
                finite &= std::isfinite((double)qb[i * n + j]);
            }
        res = sqrt(res) / fan;
        orth = sqrt(orth);
        const auto wr = ref_eig(n, A);
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
    printf("%s %-11s %s n=%3d %-18s res=%.2f orth=%.2f dw=%.2f (units of n*eps, tol 30) max_sweeps=%d %s\n",
           ok ? "PASS" : "FAIL", label, sizeof(T) == 4 ? "f32" : "f64", n, kind_name[kind],
           worst_res / (n * eps), worst_orth / (n * eps), worst_w / (n * eps), max_sw, why);
    (ok ? n_pass : n_fail)++;
}

#endif
