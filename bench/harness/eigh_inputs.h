/* Host side of the eigh harnesses (eigh_warp.cu, eigh_block.cu): a double-precision cyclic Jacobi
 * reference and the symmetric test matrices by kind. */
#ifndef MC_BENCH_EIGH_INPUTS_H
#define MC_BENCH_EIGH_INPUTS_H

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

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

#endif
