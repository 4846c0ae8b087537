// Standalone harness for the tridiagonal-reduction eigh (src/cuda/eigh_tridiag.cuh): Householder
// tridiagonalization, bisection, inverse iteration with cluster Gram-Schmidt, back-transformation.
//  (a) checks the kernels against a host double-precision reference (eigh_inputs.h: ref_eig for
//      n <= 128, ref_eig_tridiag above) for fp32 n in {33, 65, 129, 200, 256, 257, 384, 512} and fp64
//      n in {33, 65, 129, 256}, every input kind, and batches of 140 (more than the SMs: K1's small
//      blocks) of fp32 n in {48, 64, 100, 128} and fp64 100, a few kinds (random, diagonal, identity, zero, repeated,
//      graded, strided + upper-triangle NaN, nan-in-batch, clustered 1 + k 1e-6, ill-conditioned
//      1e6), plus n = 1, batch 0 and the refusals: residual ||A Q - Q diag(w)||_F / ||A||_F,
//      ||Q^T Q - I||_F and max |w - w_ref| / ||A||_F in units of n eps, tolerance 30; a PASS/FAIL
//      line each and "N passed, M failed";
//  (b) times fp32 1000x64, 100x128, 100x256, 10x512, 1000x256, 100x384 and fp64 100x256 (CUDA
//      events, median of 11 after warm-up), total and per phase (K1 tridiagonalization, K2
//      bisection, K3 inverse iteration, cluster rounds, K4 back-transformation), with K2 at the
//      library's lanes per eigenvalue and at 1, 4, 8, each checked bit-identical to 1 lane.
// Not part of the library build; from the repository root on the device machine:
//   bash bench/harness/run_all.sh eigh_tridiag
// or nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -o /tmp/et bench/harness/eigh_tridiag.cu && /tmp/et [n]
// --k4: times the back-transformation (K4) alone at several register shapes (R rows x C columns
// per thread, L lanes per column group) on fp32 1000 x 64, 100 x 128, 100 x 256, against the
// library's output. With n given, only that size is checked and timed (n [batch] [f64]: sizes without a built-in
// timing case are timed at that batch, default 100, in fp32 unless f64). ET_K1_THREADS=t runs
// K1 as k_tridiag with t threads per block instead of the library's choice (k_tridiag_2d where it
// applies): an A/B of the two K1 kernels in one run. --host-only (no GPU needed): runs a
// sequential host model of the same algorithm (the per-thread pieces are the header's own
// __host__ __device__ functions) through the same checks, and the fast reference against the
// Jacobi one; --stress KIND [COUNT] runs the host model on many matrices of one kind (e.g. 4 =
// repeated); ET_DEBUG=1 with either prints the clusters, Gram-Schmidt cancellations and the
// orthogonality of Z inside / across clusters. Exit status 0 only if every check passed.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "../../src/cuda/eigh_tridiag.cuh"

#include "harness.h" /* CK() */

#include "eigh_inputs.h" /* ref_eig, ref_eig_tridiag, make, check_case, check_results */
#include "tri_model.h"   /* tri_model::run: the host model of K2..K3b */

namespace et = mc::eigh_tridiag;

// ---- host model: the kernels' algorithm, sequential, in precision T ------------------------------
template <typename T>
static void model_eigh(int n, const T *ab, int64_t sr, int64_t sc, T *w, T *q, int32_t *info) {
    using et::Lim;
    std::vector<T> A((size_t)n * n);
    T mx = 0;
    bool bad = false;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) {
            const T x = j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
            if (!(std::fabs(x) < (T)INFINITY)) bad = true;
            else mx = std::max(mx, (T)std::fabs(x));
            A[(size_t)i * n + j] = x;
        }
    const T scale = (T)mc_pow2_scale((double)mx, Lim<T>::max_exp);
    for (auto &x : A) x = bad ? (T)0 : x * scale;
    // K1
    std::vector<T> d(n, 0), e(n, 0), tau(n, 0), v(n), p(n);
    const T eps = Lim<T>::eps, thr = Lim<T>::tiny / (eps * eps);
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1, m = n - k1;
        T *rowk = &A[(size_t)k * n];
        const T alpha = rowk[k1], dk = rowk[k];
        T sq = 0;
        for (int i = 1; i < m; ++i) sq += rowk[k1 + i] * rowk[k1 + i];
        d[k] = dk;
        if (!(sq > thr)) {
            e[k] = alpha;
            tau[k] = 0;
            continue;
        }
        const T nr = et::sq_root(alpha * alpha + sq), beta = alpha >= 0 ? -nr : nr;
        const T tk = (beta - alpha) / beta, scl = (T)1 / (alpha - beta);
        e[k] = beta;
        tau[k] = tk;
        for (int i = 0; i < m; ++i) {
            v[i] = i == 0 ? (T)1 : rowk[k1 + i] * scl;
            rowk[k1 + i] = v[i];
        }
        T pv = 0;
        for (int i = 0; i < m; ++i) {
            T acc = 0;
            for (int j = 0; j < m; ++j) acc += A[(size_t)(k1 + j) * n + k1 + i] * v[j];
            p[i] = tk * acc;
        }
        for (int i = 0; i < m; ++i) pv += p[i] * v[i];
        const T K = (T)0.5 * tk * pv;
        for (int i = 0; i < m; ++i) p[i] -= K * v[i];
        for (int r = 0; r < m; ++r)
            for (int c = 0; c < m; ++c) {
                volatile T t1 = v[r] * p[c], t2 = p[r] * v[c]; // no contraction, as mul_rn
                A[(size_t)(k1 + r) * n + k1 + c] -= (t1 + t2);
            }
    }
    if (n == 1) d[0] = A[0];
    else {
        d[n - 2] = A[(size_t)(n - 2) * n + n - 2];
        d[n - 1] = A[(size_t)(n - 1) * n + n - 1];
        e[n - 2] = A[(size_t)(n - 1) * n + n - 2];
        tau[n - 2] = 0;
    }
    e[n - 1] = 0;
    tau[n - 1] = 0;
    // K2, K3, K3b
    *info = 0;
    if (bad) { /* the kernels skip a matrix with NaN/Inf and write NaN */
        for (int j = 0; j < n; ++j) w[j] = (T)NAN;
        for (size_t i = 0; i < (size_t)n * n; ++i) q[i] = (T)NAN;
        return;
    }
    const bool debug = getenv("ET_DEBUG") != nullptr;
    tri_model::Result<T> tr = tri_model::run<T>(n, d, e, debug);
    std::vector<T> &lam = tr.lam, &Z = tr.Z;
    const std::vector<int> &rank = tr.rank, &blo = tr.blo, &bhi = tr.bhi, &cs = tr.cs, &ce = tr.ce;
    const T tn = tr.tn;
    *info = tr.info;
    for (int j = 0; j < n; ++j) w[rank[j]] = lam[j] / scale;
    if (debug) {
        double win = 0, cross = 0, rmax = 0;
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < n; ++j) {
                double o = 0;
                for (int k = 0; k < n; ++k) o += (double)Z[(size_t)i * n + k] * Z[(size_t)j * n + k];
                o -= i == j;
                if (cs[i] == cs[j]) win += o * o;
                else cross += o * o;
            }
            double r = 0; // ||T z - lam z||
            const T *z = &Z[(size_t)i * n];
            for (int k = 0; k < n; ++k) {
                double t = (double)d[k] * z[k] - (double)lam[i] * z[k];
                if (k > 0) t += (double)e[k - 1] * z[k - 1];
                if (k + 1 < n) t += (double)e[k] * z[k + 1];
                r += t * t;
            }
            rmax = std::max(rmax, sqrt(r) / tn / eps);
            if (sqrt(r) / tn / eps > 3000) printf("   vector %d (cluster [%d,%d), block [%d,%d)) residual %.0f eps||T||, lam %.9g\n", i, cs[i], ce[i], blo[i], bhi[i], sqrt(r) / tn / eps, (double)lam[i]);
        }
        printf(" Z: within-cluster orth %.2f, cross-cluster %.2f (n eps), max residual/(eps ||T||) %.1f\n",
               sqrt(win) / (n * eps), sqrt(cross) / (n * eps), rmax);
    }
    // K4
    for (int j = 0; j < n; ++j) {
        T *z = &Z[(size_t)j * n];
        for (int k = n - 3; k >= 0; --k) {
            if (tau[k] == 0) continue;
            const T *vk = &A[(size_t)k * n];
            T dot = 0;
            for (int i = k + 1; i < n; ++i) dot += vk[i] * z[i];
            dot *= tau[k];
            for (int i = k + 1; i < n; ++i) z[i] -= dot * vk[i];
        }
        for (int i = 0; i < n; ++i) q[(size_t)i * n + rank[j]] = z[i];
    }
}

template <typename T> static void model_case(int n, int kind, std::mt19937 &g, int64_t batch) {
    std::vector<std::vector<double>> As(batch);
    for (int64_t b = 0; b < batch; ++b) As[b] = make<T>(n, kind == NKINDS_ALL ? RANDOM : kind, g);
    int64_t sb, sr, sc;
    const std::vector<T> ha = device_image<T>(n, kind, As, &sb, &sr, &sc);
    std::vector<T> w(batch * n), q(batch * n * n);
    std::vector<int32_t> info(batch), sw(batch, 0);
    for (int64_t b = 0; b < batch; ++b) model_eigh<T>(n, &ha[b * sb], sr, sc, &w[b * n], &q[b * n * n], &info[b]);
    check_results<T>("model", n, kind, As, w, q, info, sw, false);
}

// ---- device checks -------------------------------------------------------------------------------
template <typename T>
static cudaError_t run_dev(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch,
                           int n) {
    void *ws = nullptr;
    const size_t bytes = et::workspace_bytes<T>(n, batch);
    if (bytes) CK(cudaMalloc(&ws, bytes));
    const cudaError_t e = et::launch<T>(a, sb, sr, sc, w, q, info, batch, n, ws, 0);
    if (ws) CK(cudaFree(ws)); /* synchronizes */
    return e;
}

template <typename T> static void dev_case(int n, int kind, std::mt19937 &g, int64_t batch) {
    check_case<T>("tridiag", n, kind, g, batch,
                  [](const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t bt, int nn,
                     int32_t *) { return run_dev<T>(a, sb, sr, sc, w, q, info, bt, nn); },
                  false);
}

static void check_edges() {
    bool ok = true;
    ok &= et::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 0, 256, nullptr, 0) == cudaSuccess;
    ok &= et::launch<double>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 0, 300, nullptr, 0) == cudaSuccess;
    ok &= et::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, 0, nullptr, 0) == cudaErrorInvalidValue;
    ok &= et::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, et::kMaxN + 1, nullptr, 0) == cudaErrorInvalidValue;
    ok &= et::launch<float>(nullptr, 0, 0, 0, nullptr, nullptr, nullptr, 1, 200, nullptr, 0) == cudaErrorInvalidValue; /* no workspace */
    ok &= et::workspace_bytes<float>(256, 0) == 0;
    cudaGetLastError();
    printf("%s edges (batch 0 -> success without launching; n = 0, n > %d, missing workspace -> invalid value)\n",
           ok ? "PASS" : "FAIL", et::kMaxN);
    (ok ? n_pass : n_fail)++;
}

// ---- timing --------------------------------------------------------------------------------------
// A batch of random symmetric matrices (both triangles) on the device with the buffers launch
// needs (w, q, info, workspace); freed when it goes out of scope.
template <typename T> struct DevBatch {
    int n;
    int64_t batch, sb;
    size_t ws_bytes;
    T *da = nullptr, *dw = nullptr, *dq = nullptr;
    int32_t *dinfo = nullptr;
    void *ws = nullptr;
    DevBatch(int n_, int64_t batch_, std::mt19937 &g)
        : n(n_), batch(batch_), sb((int64_t)n_ * n_), ws_bytes(et::workspace_bytes<T>(n_, batch_)) {
        std::normal_distribution<double> N;
        std::vector<T> ha((size_t)(sb * batch));
        for (int64_t b = 0; b < batch; ++b)
            for (int i = 0; i < n; ++i)
                for (int j = 0; j <= i; ++j) ha[b * sb + i * n + j] = ha[b * sb + j * n + i] = (T)N(g);
        CK(cudaMalloc(&da, ha.size() * sizeof(T)));
        CK(cudaMalloc(&dw, batch * n * sizeof(T)));
        CK(cudaMalloc(&dq, batch * sb * sizeof(T)));
        CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
        CK(cudaMalloc(&ws, ws_bytes));
        CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    }
    ~DevBatch() {
        cudaFree(da);
        cudaFree(dw);
        cudaFree(dq);
        cudaFree(dinfo);
        cudaFree(ws);
    }
    DevBatch(const DevBatch &) = delete;
    DevBatch &operator=(const DevBatch &) = delete;
};

template <typename T> static void time_case(int n, int64_t batch, std::mt19937 &g) {
    const char *kt = getenv("ET_K1_THREADS"); /* K1 block size override (0: the library's choice) */
    const int k1_threads = kt ? atoi(kt) : 0;
    const size_t bytes = et::workspace_bytes<T>(n, batch);
    size_t fr = 0, tot = 0;
    CK(cudaMemGetInfo(&fr, &tot));
    const size_t need = bytes + (size_t)batch * ((size_t)2 * n * n + n) * sizeof(T);
    if (need + (256u << 20) > fr) {
        printf("TIME %s n=%3d batch=%5lld: skipped (needs %.0f MB, %.0f MB free)\n", sizeof(T) == 4 ? "f32" : "f64", n,
               (long long)batch, need / 1e6, fr / 1e6);
        return;
    }
    const DevBatch<T> m(n, batch, g);
    T *const da = m.da, *const dw = m.dw, *const dq = m.dq;
    int32_t *const dinfo = m.dinfo;
    void *const ws = m.ws;
    const int64_t sb = m.sb;
    /* K2 with 1, 4 and 8 lanes per eigenvalue after the library's choice (0): bisect_lanes must
     * reproduce one lane's bisection bit for bit, so w and q must match the 1-lane run exactly */
    std::vector<T> w1((size_t)batch * n), q1((size_t)batch * n * n), wl(w1.size()), ql(q1.size());
    for (int lanes : {0, 1, 4, 8}) {
        const std::vector<float> t = time_phases(5, [&](cudaEvent_t *marks) {
            CK(et::launch_ex<T>(da, sb, n, 1, dw, dq, dinfo, batch, n, ws, 0, marks, k1_threads, lanes));
        });
        std::vector<int32_t> info(batch);
        CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
        int bad = 0;
        for (auto i : info) bad += i != 0;
        CK(cudaMemcpy(wl.data(), dw, wl.size() * sizeof(T), cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(ql.data(), dq, ql.size() * sizeof(T), cudaMemcpyDeviceToHost));
        const char *same = "";
        if (lanes == 1) {
            w1 = wl;
            q1 = ql;
        } else if (lanes > 1) {
            const bool eq = !memcmp(w1.data(), wl.data(), wl.size() * sizeof(T)) &&
                            !memcmp(q1.data(), ql.data(), ql.size() * sizeof(T));
            same = eq ? " | PASS bit-identical to 1 lane" : " | FAIL differs from 1 lane";
            (eq ? n_pass : n_fail)++;
        }
        printf("TIME %s n=%3d batch=%5lld: median %8.3f ms (min %8.3f) | K1 tridiag %.3f, K2 bisect %.3f, K3 invit "
               "%.3f, clusters %.3f, K4 back %.3f | info!=0: %d | workspace %.1f MB | K1 threads %s | K2 lanes %d%s%s\n",
               sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, t[5], t[6], t[0], t[1], t[2], t[3], t[4], bad,
               bytes / 1e6, kt ? kt : "auto", lanes ? lanes : et::bisect_lanes_for(n, batch), lanes ? "" : " (auto)",
               same);
        fflush(stdout);
    }
}

// ---- K4 shapes (--k4 n batch): the back-transformation alone at several (R, C, L), on the same Z --
template <typename T, int R, int C, int L>
static void time_back(const et::Ws<T> &ws, T *dq, int n, int64_t batch, const std::vector<T> &qref) {
    const float ms = time_ms([&] { CK((et::launch_back_rcl<T, R, C, L>(ws, dq, n, batch, 0))); });
    std::vector<T> q(qref.size());
    CK(cudaMemcpy(q.data(), dq, q.size() * sizeof(T), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (size_t i = 0; i < q.size(); ++i) worst = std::max(worst, (double)std::fabs(q[i] - qref[i]));
    const bool ok = worst < (sizeof(T) == 4 ? 1e-4 : 1e-12);
    printf("%s K4 %s n=%d batch=%lld R=%d C=%d L=%d: median %.4f ms (max |q - q_lib| %.2e)\n", ok ? "PASS" : "FAIL",
           sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, R, C, L, ms, worst);
    (ok ? n_pass : n_fail)++;
}

/* A K4 shape (R rows x C columns per thread, L lanes), and time_back over a list of them. */
template <int R_, int C_, int L_> struct Sh {
    static constexpr int R = R_, C = C_, L = L_;
};
template <typename T, typename... S>
static void time_backs(const et::Ws<T> &ws, T *dq, int n, int64_t batch, const std::vector<T> &qref) {
    (time_back<T, S::R, S::C, S::L>(ws, dq, n, batch, qref), ...);
}

template <typename T> static void k4_shapes(int n, int64_t batch, std::mt19937 &g) {
    const DevBatch<T> m(n, batch, g);
    T *const dq = m.dq;
    CK(et::launch<T>(m.da, m.sb, n, 1, m.dw, dq, m.dinfo, batch, n, m.ws, 0));
    CK(cudaDeviceSynchronize());
    std::vector<T> qref((size_t)batch * n * n);
    CK(cudaMemcpy(qref.data(), dq, qref.size() * sizeof(T), cudaMemcpyDeviceToHost));
    et::Ws<T> ws;
    et::carve<T>(m.ws, n, batch, &ws);
    const et::BackShape lib = et::back_shape<T>(n);
    printf("K4 shapes f%d n=%d: library R=%d C=%d L=%d\n", (int)(8 * sizeof(T)), n, lib.R, lib.C, lib.L);
    if (n == 128)
        time_backs<T, Sh<16, 4, 8>, Sh<16, 2, 8>, Sh<16, 1, 8>, Sh<8, 4, 16>, Sh<8, 2, 16>, Sh<32, 2, 4>, Sh<4, 4, 32>>(
            ws, dq, n, batch, qref);
    else if (n == 256)
        time_backs<T, Sh<16, 4, 16>, Sh<16, 2, 16>, Sh<16, 1, 16>, Sh<8, 4, 32>, Sh<8, 2, 32>, Sh<32, 2, 8>>(
            ws, dq, n, batch, qref);
    else if (n == 64)
        time_backs<T, Sh<16, 4, 4>, Sh<16, 2, 4>, Sh<8, 4, 8>, Sh<4, 4, 16>, Sh<32, 2, 2>>(ws, dq, n, batch, qref);
}

static int64_t batch_for(int n, int kind) {
    const int64_t b = n <= 65 ? 9 : (n <= 257 ? 4 : 3);
    return kind == NANCASE ? std::max<int64_t>(b, 3) : b;
}

static void host_only(int only) {
    std::mt19937 g(777);
    // the fast reference against the Jacobi one
    {
        double worst = 0;
        for (int n : {1, 2, 5, 33, 64, 100})
            for (int kind : {RANDOM, REPEATED, GRADED, CLUSTERED, ILLCOND, DIAGONAL}) {
                const auto A = make<double>(n, kind, g);
                const auto w1 = ref_eig(n, A), w2 = ref_eig_tridiag(n, A);
                double fa = 0;
                for (double x : A) fa += x * x;
                fa = std::max(sqrt(fa), 1e-300);
                for (int i = 0; i < n; ++i) worst = std::max(worst, fabs(w1[i] - w2[i]) / fa / (n * DBL_EPSILON));
            }
        const bool ok = worst <= 30;
        printf("%s ref_eig_tridiag vs ref_eig: max |dw| / ||A|| = %.2f n eps\n", ok ? "PASS" : "FAIL", worst);
        (ok ? n_pass : n_fail)++;
    }
    const int f32[] = {1, 33, 65, 129, 200, 256, 257, 384, 512};
    for (int n : f32) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS_ALL; ++kind) model_case<float>(n, kind, g, n <= 65 ? 5 : (n <= 256 ? 3 : 2));
    }
    const int f64[] = {33, 65, 129, 256};
    for (int n : f64) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS_ALL; ++kind) model_case<double>(n, kind, g, 3);
    }
}

int main(int argc, char **argv) {
    bool host = false;
    int only = 0, only_batch = 100;
    bool only_f64 = false;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--host-only")) host = true;
        else if (!strcmp(argv[i], "f64")) only_f64 = true;
        else if (!only) only = atoi(argv[i]);
        else only_batch = atoi(argv[i]);
    }
    if (argc > 1 && !strcmp(argv[1], "--k4")) { /* --k4: K4 shapes at fp32 1000 x 64, 100 x 128, 100 x 256 */
        std::mt19937 g(4242);
        k4_shapes<float>(64, 1000, g);
        k4_shapes<float>(128, 100, g);
        k4_shapes<float>(256, 100, g);
        printf("K4 shapes: %d passed, %d failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
    }
    if (argc > 2 && !strcmp(argv[1], "--stress")) { /* --stress kind [count]: host model, many seeds */
        const int kind = atoi(argv[2]), cnt = argc > 3 ? atoi(argv[3]) : 6;
        std::mt19937 g(4242);
        for (int n : {129, 200, 256, 384}) model_case<float>(n, kind, g, cnt);
        for (int n : {129, 256}) model_case<double>(n, kind, g, cnt);
        printf("stress: %d passed, %d failed\n", n_pass, n_fail);
        return 0;
    }
    if (host) {
        host_only(only);
        printf("eigh_tridiag (host model): %d passed, %d failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
    }
    std::mt19937 g(12345);
    check_edges();
    if (!only || only == 1)
        for (int kind : {RANDOM, IDENTITY, STRIDED, NANCASE}) dev_case<float>(1, kind, g, 7);
    const int f32[] = {33, 65, 129, 200, 256, 257, 384, 512};
    for (int n : f32) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS_ALL; ++kind) dev_case<float>(n, kind, g, batch_for(n, kind));
    }
    const int f64[] = {33, 65, 129, 256};
    for (int n : f64) {
        if (only && n != only) continue;
        for (int kind = 0; kind < NKINDS_ALL; ++kind) dev_case<double>(n, kind, g, batch_for(n, kind));
    }
    /* batches above the SM count: K1 runs smaller blocks, several matrices per SM */
    for (int n : {48, 64, 100, 128}) {
        if (only && n != only) continue;
        for (int kind : {RANDOM, REPEATED, NANCASE, CLUSTERED}) dev_case<float>(n, kind, g, 140);
    }
    if (!only || only == 100)
        for (int kind : {RANDOM, NANCASE}) dev_case<double>(100, kind, g, 140);
    printf("eigh_tridiag: %d passed, %d failed\n", n_pass, n_fail);
    fflush(stdout);
    struct Shape {
        int n;
        int64_t batch;
        bool f64;
    };
    const Shape shapes[] = {{64, 1000, false}, {128, 100, false}, {256, 100, false}, {512, 10, false},
                            {256, 1000, false}, {384, 100, false}, {256, 100, true}};
    for (const Shape &s : shapes) {
        if (only && s.n != only) continue;
        if (s.f64) time_case<double>(s.n, s.batch, g);
        else time_case<float>(s.n, s.batch, g);
    }
    if (only && only != 64 && only != 128 && only != 256 && only != 512 && only != 384) {
        if (only_f64) time_case<double>(only, only_batch, g);
        else time_case<float>(only, only_batch, g);
    }
    printf("eigh_tridiag with timing checks: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
