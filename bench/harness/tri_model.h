/* Host model of eigh_tridiag's vector phase (src/cuda/eigh_tridiag.cuh: K2 bisection, K3 inverse
 * iteration, K3b cluster Gram-Schmidt with the cluster and repair rounds), sequential, in precision
 * T, built from the header's own __host__ __device__ pieces. Shared by the eigh_tridiag and
 * svd_bidiag harnesses (their --host-only modes). */
#ifndef MC_BENCH_TRI_MODEL_H
#define MC_BENCH_TRI_MODEL_H

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "../../src/cuda/eigh_tridiag.cuh"

namespace tri_model {

namespace et = mc::eigh_tridiag;

/* What the model computes, in the kernels' slot order: eigenvalues lam, their ranks, the
 * eigenvectors Z (vector-major, N x N), the split blocks [blo, bhi) and clusters [cs, ce) of each
 * slot, ||T||_inf (tn), and info (breakdowns). */
template <typename T> struct Result {
    std::vector<T> lam, Z;
    std::vector<int> rank, blo, bhi, cs, ce;
    T tn = 0;
    int info = 0;
};

/* eigh_tridiag's K2, K3 and K3b (with the cluster and repair rounds of launch_vectors) on the
 * tridiagonal (d, e) of order N. debug: print the clusters, the Gram-Schmidt cancellations below
 * 1/4 and the restarts. */
template <typename T> Result<T> run(int N, const std::vector<T> &d, const std::vector<T> &e, bool debug) {
    using et::Lim;
    const T eps = Lim<T>::eps;
    Result<T> R;
    std::vector<T> &lam = R.lam, &Z = R.Z;
    std::vector<int> &rank = R.rank, &blo = R.blo, &bhi = R.bhi, &cs = R.cs, &ce = R.ce;
    T &tn = R.tn;
    std::vector<T> e2(N);
    T ngl = 0, gu = 0, e2m = 0;
    for (int i = 0; i < N; ++i) {
        const T ei = i + 1 < N ? e[i] : (T)0, em = i > 0 ? e[i - 1] : (T)0, rad = std::fabs(ei) + std::fabs(em);
        e2[i] = ei * ei;
        tn = std::max(tn, (T)std::fabs(d[i]) + rad);
        ngl = std::max(ngl, rad - d[i]);
        gu = std::max(gu, d[i] + rad);
        e2m = std::max(e2m, ei * ei);
    }
    const T pivmin = Lim<T>::tiny * std::max((T)1, e2m), fudge = (T)2.1 * N * eps * tn + (T)4.2 * pivmin;
    const T gl = -ngl - fudge, gh = gu + fudge, stol = eps * tn;
    blo.assign(N, 0);
    bhi.assign(N, 0);
    cs.assign(N, 0);
    ce.assign(N, 0);
    lam.assign(N, 0);
    rank.assign(N, 0);
    for (int j = 0; j < N; ++j) {
        int lo = j, hi = j + 1;
        while (lo > 0 && std::fabs(e[lo - 1]) > stol) --lo;
        while (hi < N && std::fabs(e[hi - 1]) > stol) ++hi;
        blo[j] = lo;
        bhi[j] = hi;
        lam[j] = hi - lo == 1 ? d[j] : et::bisect(d.data(), e2.data(), lo, hi, j - lo, gl, gh, eps * tn, pivmin);
    }
    Z.assign((size_t)N * N, 0);
    std::vector<T> x(N), u1(N), u2(N);
    std::vector<unsigned char> pv(N);
    const T pert = std::max(eps * tn, Lim<T>::tiny);
    auto solve = [&](int mode, int iters) {
        for (int j = 0; j < N; ++j) {
            if (mode == 1 && ce[j] - cs[j] < 2) continue;
            const int lo = blo[j], s = bhi[j] - lo;
            T *z = &Z[(size_t)j * N];
            if (s == 1) {
                z[lo] = 1;
                continue;
            }
            for (int k = 0; k < s; ++k) x[k] = mode == 0 ? et::hrand<T>((uint32_t)j, (uint32_t)(lo + k)) : z[lo + k];
            T mu = lam[j];
            if (mode == 1) {
                const T gdeg = (T)et::kDegGap * eps * tn;
                if ((j > cs[j] && lam[j] - lam[j - 1] <= gdeg) || (j + 1 < ce[j] && lam[j + 1] - lam[j] <= gdeg))
                    mu = lam[j] + (T)et::kDegShift * eps * tn;
            }
            for (int it = 0; it < iters; ++it) {
                et::tri_solve(d.data(), e.data(), lo, s, mu, pert, x.data(), u1.data(), u2.data(), pv.data(), 1);
                if (!et::normalize(x.data(), s, 1))
                    for (int k = 0; k < s; ++k) x[k] = k == j - lo ? (T)1 : (T)0;
            }
            for (int k = 0; k < s; ++k) z[lo + k] = x[k];
        }
    };
    solve(0, et::kSolveIters);
    int nfail = 0, nrestart = 0;
    auto orth = [&](int phase) {
        if (phase == 0) {
            const T ortol = (T)1e-3 * tn;
            for (int j = 0; j < N; ++j) {
                int r = 0;
                for (int i = 0; i < N; ++i) r += lam[i] < lam[j] || (lam[i] == lam[j] && i < j);
                rank[j] = r;
                int s = j, en = j + 1;
                while (s > blo[j] && lam[s] - lam[s - 1] < ortol) --s;
                while (en < bhi[j] && lam[en] - lam[en - 1] < ortol) ++en;
                cs[j] = s;
                ce[j] = en;
            }
        }
        std::vector<int> cst, csz;
        for (int j = 0; j < N; ++j)
            if (cs[j] == j && ce[j] - j >= 2) cst.push_back(j), csz.push_back(ce[j] - j);
        const int K = (int)cst.size();
        if (debug && phase == 0) {
            printf(" clusters:");
            for (int c = 0; c < K; ++c) printf(" [%d,+%d) w %.2e", cst[c], csz[c], (double)(lam[cst[c] + csz[c] - 1] - lam[cst[c]]));
            printf("\n");
        }
        if (!K) return;
        std::vector<int> ord(K);
        for (int c = 0; c < K; ++c) {
            int pos = 0;
            for (int c2 = 0; c2 < K; ++c2) pos += csz[c2] > csz[c] || (csz[c2] == csz[c] && cst[c2] < cst[c]);
            ord[pos] = c;
        }
        const T vanish = (T)1e4 * eps * eps;
        std::vector<T> dots((size_t)N);
        int am = K;
        for (int m = 1; m < csz[ord[0]]; ++m) {
            while (am > 0 && csz[ord[am - 1]] <= m) --am;
            bool redo = false;
            for (int pass = 0; pass < 4; ++pass) {
                if (pass >= 2 && !redo) break;
                for (int t = 0; t < am * m; ++t) {
                    const int a = t / m, pi = t - a * m, c = ord[a], lo = blo[cst[c]], hi = bhi[cst[c]];
                    const T *zj = &Z[(size_t)(cst[c] + m) * N], *zp = &Z[(size_t)(cst[c] + pi) * N];
                    T acc = 0;
                    for (int i = lo; i < hi; ++i) acc += zp[i] * zj[i];
                    dots[t] = acc;
                }
                for (int a = 0; a < am; ++a) {
                    const int c = ord[a], base = cst[c];
                    for (int i = blo[base]; i < bhi[base]; ++i) {
                        T s = 0;
                        for (int pi = 0; pi < m; ++pi) s += dots[a * m + pi] * Z[(size_t)(base + pi) * N + i];
                        Z[(size_t)(base + m) * N + i] -= s;
                    }
                }
                if (pass == 1 || pass == 3) {
                    for (int a = 0; a < am; ++a) {
                        const int c = ord[a], jv = cst[c] + m, lo = blo[cst[c]], hi = bhi[cst[c]];
                        T *zj = &Z[(size_t)jv * N];
                        T ss = 0;
                        for (int i = lo; i < hi; ++i) ss += zj[i] * zj[i];
                        if (debug && pass == 1 && ss < (T)0.25)
                            printf("  phase %d m %d cluster start %d size %d: ss %.3e\n", phase, m, cst[c], csz[c], (double)ss);
                        if (ss > vanish) {
                            const T f = (T)1 / et::sq_root(ss);
                            for (int i = lo; i < hi; ++i) zj[i] *= f;
                            if (pass == 1 && ss < (T)0.25) redo = true;
                        } else if (pass == 1) {
                            if (debug) printf("     restart phase %d member %d (cluster %d size %d, lam %.3e)\n", phase, jv, cst[c], csz[c], (double)lam[jv]);
                            for (int i = lo; i < hi; ++i) zj[i] = et::hrand<T>((uint32_t)jv + 7919u * (phase + 1), (uint32_t)i);
                            redo = true;
                            ++nrestart;
                        } else {
                            ++nfail;
                        }
                    }
                }
            }
        }
    };
    orth(0);
    for (int r = 1; r <= et::kClusterRounds; ++r) {
        solve(1, 1);
        nfail = 0;
        nrestart = 0;
        orth(r == et::kClusterRounds ? 2 : 1);
    }
    if (nrestart) { /* the repair round (k_solve mode 2, k_orth phase 3) */
        solve(1, et::kSolveIters);
        nfail = 0;
        nrestart = 0;
        orth(3);
        nfail += nrestart;
    }
    R.info = nfail;
    return R;
}

} // namespace tri_model

#endif
