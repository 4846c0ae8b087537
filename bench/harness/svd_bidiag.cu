// Standalone harness for the library's bidiagonalization SVD (src/cuda/svd_bidiag.cuh, the CUDA svd
// path for 129 <= n <= 512): Householder bidiagonalization, bisection + inverse iteration on the
// Golub-Kahan tridiagonal (eigh_tridiag's kernels), split/repair of the singular vectors,
// back-transformation.
//  (a) checks against a host double reference (Householder bidiagonalization + bisection on T_GK,
//      in double) for n in {129, 200, 256, 384, 512}, square and tall (m = n + 64), fp32 (and fp64
//      for n in {129, 256, 512}), kinds random, rank-deficient (rank n/2), identity, zero,
//      repeated singular values, graded, ill-conditioned (1e6), nan-in-batch:
//      ||A - U diag(S) V^T||_F / ||A||_F, ||U^T U - I||_F, ||V^T V - I||_F, max |s - s_ref| / ||A||_F,
//      in units of n eps, tolerance 30; S descending and >= 0; info == 0; the NaN matrix all NaN,
//      its neighbours checked; on the GPU, tall cases also with full U (ucols = m): its first n
//      columns bit-equal to the reduced U, ||U^T U - I||_F (m x m) within the same tolerance; the
//      nan-in-batch cases also in chunks of one matrix (launch_ex's budget): bit-equal outputs.
//      A PASS/FAIL line each, then "svd_bidiag: N passed, M failed";
//  (b) times fp32 100x256, 10x512 and fp64 100x256 (square), total and per phase (K1 bidiag,
//      K2 bisection on T_GK, K3 inverse iteration + cluster rounds, K5 split/repair, K4 back).
// From the repository root on the device machine:
//   nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -o /tmp/sb bench/harness/svd_bidiag.cu && /tmp/sb [n]
// --seed S: other matrices; SB_DEBUG=1 (host model): T_GK eigenvector residuals, restarts, repaired
// columns, columns with poor orthogonality. --host-only (no GPU): a sequential host model of the same algorithm (the per-thread pieces are
// eigh_tridiag.cuh's __host__ __device__ functions) through the same checks. Exit status 0 only if
// every check passed.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../../src/cuda/svd_bidiag.cuh"

#include "harness.h" /* CK() */
#include "tri_model.h" /* tri_model::run: the host model of K2..K3b */

namespace sb = mc::svd_bidiag;
namespace et = mc::eigh_tridiag;

static int n_pass = 0, n_fail = 0;

// ---- inputs ----------------------------------------------------------------------------------------
enum Kind { RANDOM, RANKDEF, IDENTITY, ZERO, REPEATED, GRADED, ILLCOND, NANCASE, NKINDS };
static const char *kind_name[] = {"random", "rank-deficient", "identity", "zero", "repeated", "graded", "ill-cond-1e6", "nan-in-batch"};

// m x k row-major with orthonormal columns (modified Gram-Schmidt, twice, on the transpose)
static std::vector<double> orth_cols(int m, int k, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> Qt((size_t)k * m);
    for (auto &x : Qt) x = N(g);
    for (int j = 0; j < k; ++j) {
        double *qj = &Qt[(size_t)j * m];
        for (int pass = 0; pass < 2; ++pass)
            for (int p = 0; p < j; ++p) {
                const double *qp = &Qt[(size_t)p * m];
                double d = 0;
                for (int i = 0; i < m; ++i) d += qj[i] * qp[i];
                for (int i = 0; i < m; ++i) qj[i] -= d * qp[i];
            }
        double nr = 0;
        for (int i = 0; i < m; ++i) nr += qj[i] * qj[i];
        nr = sqrt(nr);
        for (int i = 0; i < m; ++i) qj[i] /= nr;
    }
    std::vector<double> Q((size_t)m * k);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < k; ++j) Q[(size_t)i * k + j] = Qt[(size_t)j * m + i];
    return Q;
}

template <typename T> static std::vector<double> make(int m, int n, int kind, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> A((size_t)m * n, 0.0);
    if (kind == RANKDEF || kind == REPEATED || kind == ILLCOND) {
        std::vector<double> s(n);
        for (int i = 0; i < n; ++i) {
            if (kind == RANKDEF) s[i] = i < n / 2 ? 1.0 + N(g) * 0.3 : 0.0;
            else if (kind == REPEATED) s[i] = i < 3 ? 3.0 : (i < n / 2 + 2 ? 2.0 : 0.5);
            else s[i] = pow(10.0, -6.0 * i / (n - 1));
            s[i] = fabs(s[i]);
        }
        const auto Q1 = orth_cols(m, n, g), Q2 = orth_cols(n, n, g);
        std::vector<double> Q2s((size_t)n * n);
        for (int j = 0; j < n; ++j)
            for (int k = 0; k < n; ++k) Q2s[(size_t)k * n + j] = s[k] * Q2[(size_t)j * n + k]; // row k of diag(s) Q2^T
        for (int i = 0; i < m; ++i)
            for (int k = 0; k < n; ++k) {
                const double q = Q1[(size_t)i * n + k];
                if (q == 0 || s[k] == 0) continue;
                for (int j = 0; j < n; ++j) A[(size_t)i * n + j] += q * Q2s[(size_t)k * n + j];
            }
        for (auto &x : A) x = (double)(T)x;
        return A;
    }
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double v = N(g);
            if (kind == IDENTITY) v = i == j;
            if (kind == ZERO) v = 0;
            if (kind == GRADED) v *= pow(10.0, -(i + j) / 32.0);
            A[(size_t)i * n + j] = (double)(T)v;
        }
    return A;
}

// ---- host reference: Householder bidiagonalization + bisection on T_GK, double ---------------------
static std::vector<double> ref_sv(int m, int n, std::vector<double> A) {
    std::vector<double> d(n, 0), e(n, 0), u(m), w(n);
    for (int k = 0; k < n; ++k) {
        { // left
            double sq = 0;
            for (int i = k + 1; i < m; ++i) sq += A[(size_t)i * n + k] * A[(size_t)i * n + k];
            const double alpha = A[(size_t)k * n + k];
            if (sq == 0) d[k] = alpha;
            else {
                const double nr = sqrt(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const double tau = (beta - alpha) / beta, scl = 1 / (alpha - beta);
                d[k] = beta;
                u[k] = 1;
                for (int i = k + 1; i < m; ++i) u[i] = A[(size_t)i * n + k] * scl;
                for (int j = k + 1; j < n; ++j) w[j] = 0;
                for (int i = k; i < m; ++i)
                    for (int j = k + 1; j < n; ++j) w[j] += u[i] * A[(size_t)i * n + j];
                for (int i = k; i < m; ++i)
                    for (int j = k + 1; j < n; ++j) A[(size_t)i * n + j] -= tau * u[i] * w[j];
            }
        }
        if (k + 1 < n) { // right
            double sq = 0;
            for (int j = k + 2; j < n; ++j) sq += A[(size_t)k * n + j] * A[(size_t)k * n + j];
            const double alpha = A[(size_t)k * n + k + 1];
            if (sq == 0) e[k] = alpha;
            else {
                const double nr = sqrt(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const double tau = (beta - alpha) / beta, scl = 1 / (alpha - beta);
                e[k] = beta;
                w[k + 1] = 1;
                for (int j = k + 2; j < n; ++j) w[j] = A[(size_t)k * n + j] * scl;
                for (int i = k + 1; i < m; ++i) {
                    double y = 0;
                    for (int j = k + 1; j < n; ++j) y += A[(size_t)i * n + j] * w[j];
                    y *= tau;
                    for (int j = k + 1; j < n; ++j) A[(size_t)i * n + j] -= y * w[j];
                }
            }
        }
    }
    const int N2 = 2 * n;
    std::vector<double> off(N2, 0.0);
    for (int k = 0; k < n; ++k) {
        off[2 * k] = d[k];
        if (k + 1 < n) off[2 * k + 1] = e[k];
    }
    double tn = 0, e2m = 0;
    for (int i = 0; i < N2; ++i) {
        tn = std::max(tn, fabs(off[i]) + (i ? fabs(off[i - 1]) : 0.0));
        e2m = std::max(e2m, off[i] * off[i]);
    }
    const double pivmin = DBL_MIN * std::max(1.0, e2m);
    auto count = [&](double x) { // eigenvalues <= x
        double q = -x;
        if (fabs(q) < pivmin) q = -pivmin;
        int c = q <= 0;
        for (int i = 1; i < N2; ++i) {
            q = -off[i - 1] * off[i - 1] / q - x;
            if (fabs(q) < pivmin) q = -pivmin;
            c += q <= 0;
        }
        return c;
    };
    std::vector<double> s(n);
    for (int c = 0; c < n; ++c) { // c-th largest: eigenvalue index N2 - 1 - c
        const int r = N2 - 1 - c;
        double a = -tn * (1 + 4 * N2 * DBL_EPSILON) - 4 * pivmin, b = -a;
        for (int it = 0; it < 200; ++it) {
            const double mid = 0.5 * (a + b);
            if (!(mid > a && mid < b) || b - a <= 2 * DBL_EPSILON * std::max(fabs(a), fabs(b)) + tn * 1e-18) break;
            if (count(mid) >= r + 1) b = mid;
            else a = mid;
        }
        s[c] = std::max(0.0, 0.5 * (a + b));
    }
    return s;
}

// The whole algorithm on one matrix: a (m x n at strides sr, sc); u (m x n), s (n), v (n x n) row major.
template <typename T>
static void model_svd(int m, int n, const T *ab, int64_t sr, int64_t sc, T *uo, T *so, T *vo, int32_t *info) {
    using et::Lim;
    const T eps = Lim<T>::eps, thr = Lim<T>::tiny / (eps * eps);
    std::vector<T> A((size_t)m * n);
    T mx = 0;
    bool bad = false;
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            const T x = ab[i * sr + j * sc];
            if (!(std::fabs(x) < (T)INFINITY)) bad = true;
            else mx = std::max(mx, (T)std::fabs(x));
            A[(size_t)i * n + j] = x;
        }
    *info = 0;
    if (bad) {
        for (size_t i = 0; i < (size_t)m * n; ++i) uo[i] = (T)NAN;
        for (size_t i = 0; i < (size_t)n * n; ++i) vo[i] = (T)NAN;
        for (int i = 0; i < n; ++i) so[i] = (T)NAN;
        return;
    }
    const T scale = (T)mc_pow2_scale((double)mx, Lim<T>::max_exp);
    for (auto &x : A) x *= scale;
    // K1
    const int N2 = 2 * n;
    std::vector<T> gk(N2, 0), tauL(n, 0), tauR(n, 0), RL((size_t)n * m, 0), RR((size_t)n * n, 0), uv(m), wy(m);
    for (int k = 0; k < n; ++k) {
        {
            const T alpha = A[(size_t)k * n + k];
            T sq = 0;
            for (int i = k + 1; i < m; ++i) sq += A[(size_t)i * n + k] * A[(size_t)i * n + k];
            if (!(sq > thr)) gk[2 * k] = alpha;
            else {
                const T nr = et::sq_root(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const T tk = (beta - alpha) / beta, scl = (T)1 / (alpha - beta);
                gk[2 * k] = beta;
                tauL[k] = tk;
                for (int i = k; i < m; ++i) uv[i] = RL[(size_t)k * m + i] = i == k ? (T)1 : A[(size_t)i * n + k] * scl;
                for (int j = k + 1; j < n; ++j) {
                    T acc = 0;
                    for (int i = k; i < m; ++i) acc += uv[i] * A[(size_t)i * n + j];
                    wy[j] = tk * acc;
                }
                for (int i = k; i < m; ++i)
                    for (int j = k + 1; j < n; ++j) A[(size_t)i * n + j] -= uv[i] * wy[j];
            }
        }
        if (k + 1 < n) {
            const T alpha = A[(size_t)k * n + k + 1];
            T sq = 0;
            for (int j = k + 2; j < n; ++j) sq += A[(size_t)k * n + j] * A[(size_t)k * n + j];
            if (!(sq > thr)) gk[2 * k + 1] = alpha;
            else {
                const T nr = et::sq_root(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
                const T tk = (beta - alpha) / beta, scl = (T)1 / (alpha - beta);
                gk[2 * k + 1] = beta;
                tauR[k] = tk;
                for (int j = k + 1; j < n; ++j) uv[j] = RR[(size_t)k * n + j] = j == k + 1 ? (T)1 : A[(size_t)k * n + j] * scl;
                for (int i = k + 1; i < m; ++i) {
                    T acc = 0;
                    for (int j = k + 1; j < n; ++j) acc += A[(size_t)i * n + j] * uv[j];
                    wy[i] = tk * acc;
                }
                for (int i = k + 1; i < m; ++i)
                    for (int j = k + 1; j < n; ++j) A[(size_t)i * n + j] -= wy[i] * uv[j];
            }
        }
    }
    // K2..K3b on T_GK
    const std::vector<T> dz(N2, 0);
    tri_model::Result<T> tr = tri_model::run<T>(N2, dz, gk, getenv("SB_DEBUG") != nullptr);
    const std::vector<T> &lam = tr.lam, &Z = tr.Z;
    const std::vector<int> &rank = tr.rank;
    const T tn = tr.tn;
    *info = tr.info;
    // K5
    std::vector<int> inv(N2), cst(n), flg(n);
    if (getenv("SB_DEBUG")) { // residuals of the T_GK eigenvectors of the positive half
        double worst = 0;
        int wc = 0;
        std::vector<int> inv2(N2);
        for (int i = 0; i < N2; ++i) inv2[rank[i]] = i;
        for (int c = 0; c < n; ++c) {
            const T *z = &Z[(size_t)inv2[N2 - 1 - c] * N2];
            const double l = lam[inv2[N2 - 1 - c]];
            double r = 0;
            for (int k = 0; k < N2; ++k) {
                double t = -l * z[k];
                if (k > 0) t += (double)gk[k - 1] * z[k - 1];
                if (k + 1 < N2) t += (double)gk[k] * z[k + 1];
                r += t * t;
            }
            if (sqrt(r) > worst) worst = sqrt(r), wc = c;
        }
        printf("   T_GK: worst eigenvector residual %.2f eps ||T|| (column %d, sigma %.3e), info %d\n", worst / (eps * tn), wc, (double)lam[inv2[N2 - 1 - wc]], *info);
    }
    for (int i = 0; i < N2; ++i) inv[rank[i]] = i;
    std::vector<T> sg(n), Vw((size_t)n * n), Uw((size_t)n * n), dots(n);
    for (int c = 0; c < n; ++c) {
        const T l = lam[inv[N2 - 1 - c]];
        sg[c] = l > 0 ? l : (T)0;
    }
    const T deftol = (T)sb::kDefTol * eps * tn, ortol = (T)1e-3 * tn;
    for (int c = 0; c < n; ++c) {
        int s = c;
        while (s > 0 && sg[s - 1] - sg[s] < ortol) --s;
        cst[c] = s;
        so[c] = sg[c] / scale;
    }
    for (int c = 0; c < n; ++c) {
        const T *z = &Z[(size_t)inv[N2 - 1 - c] * N2];
        T sv = 0, su = 0;
        for (int i = 0; i < n; ++i) sv += z[2 * i] * z[2 * i], su += z[2 * i + 1] * z[2 * i + 1];
        const T fv = sv > 0 ? (T)1 / et::sq_root(sv) : (T)0, fu = su > 0 ? (T)1 / et::sq_root(su) : (T)0;
        for (int i = 0; i < n; ++i) Vw[(size_t)c * n + i] = z[2 * i] * fv, Uw[(size_t)c * n + i] = z[2 * i + 1] * fu;
        int f = 0;
        if (!(sv >= (T)(1.0 / 64))) f |= 1;
        if (!(su >= (T)(1.0 / 64))) f |= 2;
        if (sg[c] <= deftol) f |= 4;
        flg[c] = f;
    }
    int nfix = 0;
    for (int c = 0; c < n; ++c) {
        const int f = flg[c], s = (f || (cst[c] < c && 2 * sg[c] < ortol)) ? 0 : cst[c]; /* deficient or near-null cluster: against all previous */
        if (!f && s == c) continue;
        T *vc = &Vw[(size_t)c * n], *uc = &Uw[(size_t)c * n];
        if (f) {
            ++nfix;
            if (!(f & 4) && (f & 3) != 3) {
                if (f & 2) for (int i = 0; i < n; ++i) uc[i] = sb::bmul(gk.data(), vc, n, i) / sg[c];
                else for (int i = 0; i < n; ++i) vc[i] = sb::btmul(gk.data(), uc, i) / sg[c];
            } else {
                if (f & 1) for (int i = 0; i < n; ++i) vc[i] = et::hrand<T>((uint32_t)c + 104729u, (uint32_t)i);
                if (f & 2) for (int i = 0; i < n; ++i) uc[i] = et::hrand<T>((uint32_t)c + 7919u, (uint32_t)i);
            }
        }
        for (int part = 0; part < 2; ++part) {
            T *X = part ? Uw.data() : Vw.data(), *xc = part ? uc : vc;
            for (int pass = 0; pass < 4; ++pass) {
                for (int p = s; p < c; ++p) {
                    T acc = 0;
                    for (int i = 0; i < n; ++i) acc += X[(size_t)p * n + i] * xc[i];
                    dots[p] = acc;
                }
                for (int i = 0; i < n; ++i) {
                    T acc = 0;
                    for (int p = s; p < c; ++p) acc += dots[p] * X[(size_t)p * n + i];
                    xc[i] -= acc;
                }
                T ss = 0;
                for (int i = 0; i < n; ++i) ss += xc[i] * xc[i];
                if (ss > (T)1e4 * eps * eps) {
                    const T fct = (T)1 / et::sq_root(ss);
                    for (int i = 0; i < n; ++i) xc[i] *= fct;
                } else {
                    for (int i = 0; i < n; ++i) xc[i] = et::hrand<T>((uint32_t)(c * 3 + pass) + 31337u * (part + 1), (uint32_t)i);
                    *info += pass == 3;
                }
                if (pass >= 1 && ss > (T)0.25) break;
            }
        }
    }
    if (getenv("SB_DEBUG")) {
        printf("   model: tn %.3e, repaired columns %d, info %d\n", (double)tn, nfix, *info);
        for (int c = 0; c < n; ++c) {
            double wv = 0, wu = 0;
            int pm = -1;
            for (int p = 0; p < c; ++p) {
                double a = 0, b2 = 0;
                for (int i = 0; i < n; ++i) a += (double)Vw[(size_t)p * n + i] * Vw[(size_t)c * n + i], b2 += (double)Uw[(size_t)p * n + i] * Uw[(size_t)c * n + i];
                if (fabs(a) > wv) pm = p;
                wv = std::max(wv, fabs(a));
                wu = std::max(wu, fabs(b2));
            }
            if (flg[c] || wv > 1e-3 || wu > 1e-3)
                printf("    col %d sigma %.3e flag %d cst %d: max |<v_p, v_c>| %.2e (p %d), |<u_p,u_c>| %.2e\n", c, (double)sg[c], flg[c], cst[c], wv, pm, wu);
        }
    }
    // K4
    std::vector<T> x(m);
    for (int c = 0; c < n; ++c) {
        for (int i = 0; i < m; ++i) x[i] = i < n ? Uw[(size_t)c * n + i] : (T)0;
        for (int k = n - 1; k >= 0; --k) {
            if (tauL[k] == 0) continue;
            const T *r = &RL[(size_t)k * m];
            T acc = 0;
            for (int i = k; i < m; ++i) acc += r[i] * x[i];
            acc *= tauL[k];
            for (int i = k; i < m; ++i) x[i] -= acc * r[i];
        }
        for (int i = 0; i < m; ++i) uo[(size_t)i * n + c] = x[i];
        for (int i = 0; i < n; ++i) x[i] = Vw[(size_t)c * n + i];
        for (int k = n - 2; k >= 0; --k) {
            if (tauR[k] == 0) continue;
            const T *r = &RR[(size_t)k * n];
            T acc = 0;
            for (int i = k + 1; i < n; ++i) acc += r[i] * x[i];
            acc *= tauR[k];
            for (int i = k + 1; i < n; ++i) x[i] -= acc * r[i];
        }
        for (int i = 0; i < n; ++i) vo[(size_t)i * n + c] = x[i];
    }
}

// ---- checks (host, double) -------------------------------------------------------------------------
static int nan_index(int64_t batch) { return (int)std::min<int64_t>(1, batch - 1); }

// ||Q^T Q - I||_F of q (rows x cols, row major)
template <typename T> static double orth_err(const T *q, int rows, int cols) {
    std::vector<double> G((size_t)cols * cols, 0.0);
    for (int i = 0; i < rows; ++i)
        for (int a = 0; a < cols; ++a) {
            const double qa = q[(size_t)i * cols + a];
            for (int c = a; c < cols; ++c) G[(size_t)a * cols + c] += qa * (double)q[(size_t)i * cols + c];
        }
    double o = 0;
    for (int a = 0; a < cols; ++a)
        for (int c = a; c < cols; ++c) {
            const double x = G[(size_t)a * cols + c] - (a == c);
            o += (a == c ? 1 : 2) * x * x;
        }
    return sqrt(o);
}

template <typename T>
static void check_results(const char *label, int m, int n, int kind, const std::vector<std::vector<double>> &As,
                          const std::vector<T> &U, const std::vector<T> &S, const std::vector<T> &V,
                          const std::vector<int32_t> &info) {
    const double ne = n * (double)et::Lim<T>::eps, tol = 30;
    double wr = 0, wu = 0, wv = 0, ws = 0;
    bool ok = true;
    const int64_t batch = (int64_t)As.size();
    const char *why = "";
    for (int64_t b = 0; b < batch; ++b) {
        const T *u = &U[(size_t)b * m * n], *s = &S[(size_t)b * n], *v = &V[(size_t)b * n * n];
        if (kind == NANCASE && b == nan_index(batch)) {
            bool alln = true;
            for (size_t i = 0; i < (size_t)m * n; ++i) alln &= std::isnan((double)u[i]);
            for (size_t i = 0; i < (size_t)n * n; ++i) alln &= std::isnan((double)v[i]);
            for (int i = 0; i < n; ++i) alln &= std::isnan((double)s[i]);
            if (!alln) ok = false, why = " (NaN matrix not all NaN)";
            continue;
        }
        if (info[b] != 0) ok = false, why = " (info != 0)";
        const auto &A = As[b];
        double fa = 0;
        for (double x : A) fa += x * x;
        fa = sqrt(fa);
        const double fn = fa > 0 ? fa : 1.0;
        for (int i = 0; i < n; ++i) {
            if (!(s[i] >= 0)) ok = false, why = " (S < 0 or NaN)";
            if (i && !(s[i] <= s[i - 1])) ok = false, why = " (S not descending)";
        }
        double r = 0;
        std::vector<double> row(n);
        for (int i = 0; i < m; ++i) {
            for (int k = 0; k < n; ++k) row[k] = (double)u[(size_t)i * n + k] * (double)s[k];
            for (int j = 0; j < n; ++j) {
                double x = A[(size_t)i * n + j];
                for (int k = 0; k < n; ++k) x -= row[k] * (double)v[(size_t)j * n + k];
                r += x * x;
            }
        }
        wr = std::max(wr, sqrt(r) / fn / ne);
        wu = std::max(wu, orth_err(u, m, n) / ne);
        wv = std::max(wv, orth_err(v, n, n) / ne);
        const auto sr = ref_sv(m, n, A);
        for (int i = 0; i < n; ++i) ws = std::max(ws, fabs((double)s[i] - sr[i]) / fn / ne);
    }
    if (!(wr <= tol && wu <= tol && wv <= tol && ws <= tol)) ok = false;
    printf("%s %-8s %s m=%3d n=%3d %-15s batch=%lld: resid %.2f, U orth %.2f, V orth %.2f, sv err %.2f (n eps)%s\n",
           ok ? "PASS" : "FAIL", label, sizeof(T) == 4 ? "f32" : "f64", m, n, kind_name[kind], (long long)batch, wr, wu, wv, ws,
           why);
    fflush(stdout);
    (ok ? n_pass : n_fail)++;
}

template <typename T>
static std::vector<std::vector<double>> make_batch(int m, int n, int kind, std::mt19937 &g, int64_t batch, std::vector<T> &ha) {
    std::vector<std::vector<double>> As(batch);
    ha.assign((size_t)batch * m * n, 0);
    for (int64_t b = 0; b < batch; ++b) {
        As[b] = make<T>(m, n, kind == NANCASE ? RANDOM : kind, g);
        for (size_t i = 0; i < (size_t)m * n; ++i) ha[(size_t)b * m * n + i] = (T)As[b][i];
    }
    if (kind == NANCASE) ha[(size_t)nan_index(batch) * m * n + (size_t)(m / 2) * n + n / 3] = (T)NAN;
    return As;
}

template <typename T> static void model_case(int m, int n, int kind, std::mt19937 &g, int64_t batch) {
    std::vector<T> ha;
    const auto As = make_batch<T>(m, n, kind, g, batch, ha);
    std::vector<T> U((size_t)batch * m * n), S((size_t)batch * n), V((size_t)batch * n * n);
    std::vector<int32_t> info(batch);
    for (int64_t b = 0; b < batch; ++b)
        model_svd<T>(m, n, &ha[(size_t)b * m * n], n, 1, &U[(size_t)b * m * n], &S[(size_t)b * n], &V[(size_t)b * n * n], &info[b]);
    check_results<T>("model", m, n, kind, As, U, S, V, info);
}

template <typename T> static void dev_case(int m, int n, int kind, std::mt19937 &g, int64_t batch) {
    std::vector<T> ha;
    const auto As = make_batch<T>(m, n, kind, g, batch, ha);
    T *da, *du, *ds, *dv;
    int32_t *dinfo;
    void *ws = nullptr;
    const size_t bytes = std::max(sb::workspace_bytes<T>(m, n, n, batch), sb::workspace_bytes<T>(m, n, m, batch));
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&du, (size_t)batch * m * m * sizeof(T)));
    CK(cudaMalloc(&ds, (size_t)batch * n * sizeof(T)));
    CK(cudaMalloc(&dv, (size_t)batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&ws, bytes));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    CK(sb::launch<T>(da, (int64_t)m * n, n, 1, du, ds, dv, dinfo, batch, m, n, n, ws, 0));
    CK(cudaDeviceSynchronize());
    std::vector<T> U((size_t)batch * m * n), S((size_t)batch * n), V((size_t)batch * n * n);
    std::vector<int32_t> info(batch);
    CK(cudaMemcpy(U.data(), du, U.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(S.data(), ds, S.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(V.data(), dv, V.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(info.data(), dinfo, info.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
    check_results<T>("bidiag", m, n, kind, As, U, S, V, info);
    if (kind == NANCASE) { // the batch in chunks of one matrix (offsets of a, U, S, V, info): the same bits
        CK(sb::launch_ex<T>(da, (int64_t)m * n, n, 1, du, ds, dv, dinfo, batch, m, n, n, ws, 0, nullptr, 1));
        std::vector<T> U1(U.size()), S1(S.size()), V1(V.size());
        std::vector<int32_t> info1(batch);
        CK(cudaMemcpy(U1.data(), du, U1.size() * sizeof(T), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(S1.data(), ds, S1.size() * sizeof(T), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(V1.data(), dv, V1.size() * sizeof(T), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(info1.data(), dinfo, info1.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
        const bool ok = !memcmp(U1.data(), U.data(), U.size() * sizeof(T)) && !memcmp(S1.data(), S.data(), S.size() * sizeof(T)) &&
                        !memcmp(V1.data(), V.data(), V.size() * sizeof(T)) && info1 == info;
        printf("%s chunked  %s m=%3d n=%3d batch=%lld in chunks of 1: U, S, V, info as in one chunk\n", ok ? "PASS" : "FAIL",
               sizeof(T) == 4 ? "f32" : "f64", m, n, (long long)batch);
        fflush(stdout);
        (ok ? n_pass : n_fail)++;
    }
    if (m > n) { // full U: the same first n columns, the rest completing an orthonormal basis
        CK(sb::launch<T>(da, (int64_t)m * n, n, 1, du, ds, dv, dinfo, batch, m, n, m, ws, 0));
        std::vector<T> Uf((size_t)batch * m * m);
        CK(cudaMemcpy(Uf.data(), du, Uf.size() * sizeof(T), cudaMemcpyDeviceToHost));
        const double ne = n * (double)et::Lim<T>::eps;
        double wu = 0;
        bool ok = true;
        for (int64_t b = 0; b < batch; ++b) {
            const T *uf = &Uf[(size_t)b * m * m], *u = &U[(size_t)b * m * n];
            const bool nanm = kind == NANCASE && b == nan_index(batch);
            for (int i = 0; i < m; ++i)
                for (int c = 0; c < m; ++c) {
                    const T x = uf[(size_t)i * m + c];
                    if (nanm ? !std::isnan((double)x) : (c < n && memcmp(&x, &u[(size_t)i * n + c], sizeof(T)))) ok = false;
                }
            if (!nanm) wu = std::max(wu, orth_err(uf, m, m) / ne);
        }
        ok &= wu <= 30;
        printf("%s full     %s m=%3d n=%3d %-15s batch=%lld: first n columns as reduced%s, U (m x m) orth %.2f (n eps)\n",
               ok ? "PASS" : "FAIL", sizeof(T) == 4 ? "f32" : "f64", m, n, kind_name[kind], (long long)batch,
               ok ? "" : " (or NaN matrix not all NaN)", wu);
        fflush(stdout);
        (ok ? n_pass : n_fail)++;
    }
    for (void *p : {(void *)da, (void *)du, (void *)ds, (void *)dv, (void *)dinfo, ws}) CK(cudaFree(p));
}

// ---- timing --------------------------------------------------------------------------------------
template <typename T> static void time_case(int n, int64_t batch, std::mt19937 &g) {
    const int m = n;
    std::normal_distribution<double> N;
    std::vector<T> ha((size_t)batch * m * n);
    for (auto &x : ha) x = (T)N(g);
    const size_t bytes = sb::workspace_bytes<T>(m, n, n, batch);
    T *da, *du, *ds, *dv;
    int32_t *dinfo;
    void *ws;
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&du, (size_t)batch * m * n * sizeof(T)));
    CK(cudaMalloc(&ds, (size_t)batch * n * sizeof(T)));
    CK(cudaMalloc(&dv, (size_t)batch * n * n * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMalloc(&ws, bytes));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    const std::vector<float> t = time_phases(5, [&](cudaEvent_t *marks) {
        CK(sb::launch_ex<T>(da, (int64_t)m * n, n, 1, du, ds, dv, dinfo, batch, m, n, n, ws, 0, marks));
    });
    std::vector<int32_t> info(batch);
    CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (auto i : info) bad += i != 0;
    printf("TIME %s n=%3d batch=%4lld: median %8.3f ms | K1 bidiag %.3f, K2 bisect(T_GK) %.3f, K3 invit+clusters %.3f, "
           "K5 split %.3f, K4 back %.3f | info!=0: %d | workspace %.1f MB\n",
           sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, t[5], t[0], t[1], t[2], t[3], t[4], bad, bytes / 1e6);
    fflush(stdout);
    for (void *p : {(void *)da, (void *)du, (void *)ds, (void *)dv, (void *)dinfo, ws}) CK(cudaFree(p));
}

static void check_edges() {
    bool ok = true;
    ok &= sb::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 0, 300, 256, 256, nullptr, 0) == cudaSuccess;
    ok &= sb::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 1, 100, 200, 200, nullptr, 0) == cudaErrorInvalidValue; /* m < n */
    ok &= sb::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 1, 600, sb::kMaxN + 1, sb::kMaxN + 1, nullptr, 0) == cudaErrorInvalidValue;
    ok &= sb::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 1, 300, 256, 299, nullptr, 0) == cudaErrorInvalidValue; /* ucols not n or m */
    ok &= sb::launch<double>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, 1, 256, 256, 256, nullptr, 0) == cudaErrorInvalidValue; /* no workspace */
    ok &= sb::workspace_bytes<float>(256, 256, 256, 0) == 0;
    cudaGetLastError();
    printf("%s edges (batch 0 -> success; m < n, n > %d, ucols not n or m, missing workspace -> invalid value)\n", ok ? "PASS" : "FAIL", sb::kMaxN);
    (ok ? n_pass : n_fail)++;
}

static const int kSizes[] = {129, 200, 256, 384, 512};
static bool f64_size(int n) { return n == 129 || n == 256 || n == 512; }

int main(int argc, char **argv) {
    bool host = false;
    int only = 0;
    unsigned seed = 2024;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--host-only")) host = true;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = (unsigned)atoi(argv[++i]);
        else only = atoi(argv[i]);
    }
    std::mt19937 g(seed);
    if (!host) check_edges();
    for (int n : kSizes) {
        if (only && n != only) continue;
        for (int tall = 0; tall < 2; ++tall) {
            const int m = tall ? n + 64 : n;
            for (int kind = 0; kind < NKINDS; ++kind) {
                const int64_t batch = host ? 2 : 3;
                if (host) model_case<float>(m, n, kind, g, batch);
                else dev_case<float>(m, n, kind, g, batch);
                if (f64_size(n)) {
                    if (host) model_case<double>(m, n, kind, g, batch);
                    else dev_case<double>(m, n, kind, g, batch);
                }
            }
        }
    }
    printf("svd_bidiag%s: %d passed, %d failed\n", host ? " (host model)" : "", n_pass, n_fail);
    fflush(stdout);
    if (!host) {
        if (!only || only == 256) time_case<float>(256, 100, g);
        if (!only || only == 512) time_case<float>(512, 10, g);
        if (!only || only == 256) time_case<double>(256, 100, g);
    }
    return n_fail ? 1 : 0;
}
