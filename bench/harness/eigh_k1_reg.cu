// Experiment harness (written in session 6 when no device time was left: NOT YET RUN ON A GPU;
// the next session runs it first): eigh_tridiag's K1 (Householder tridiagonalization) for
// n <= 128 with the whole matrix held in registers, then the library's K2, K3, K4 on its output.
//
// Why: the library's K1 keeps the trailing block in shared memory and its fused update + symv pass
// costs ~5 shared-memory wavefronts per element and step (session 5's profile: 3663 of ~5600
// cycles per column at fp32 100 x 128; K1 is 0.40 of the 0.77 ms kernels). Here 16 warps x 32
// lanes hold the 128 x 128 matrix, 32 values per thread: warp w owns rows w + W v, lane l columns
// l + 32 u. Per step a thread loads only the vectors (v, w of the pending update, the new v) for
// its 8 rows (warp-uniform) and 4 columns; the matrix never leaves the register file. Same
// algorithm as k_tridiag (sytd2 with the rank-2 update deferred and fused with the next symv, the
// update written so that both triangles stay exactly equal); the sums run in another order, so
// results agree with the library's to rounding, not bit for bit.
//
//  (a) the full eigh (this K1, then et::launch_bisect / launch_vectors / launch_back) through
//      eigh_inputs.h's checks (residual, orthogonality, eigenvalues vs the double reference, 30 n
//      eps) for fp32 and fp64 n in {33, 64, 100, 128}, every input kind;
//  (b) K1 alone, this kernel against the library's k_tridiag: fp32 1000 x 64 and 100 x 128.
// Its prologue (load_check_scale, scal, flag) and the per-column reflector step (dlarfg, d, e,
// tau, v to vc and to A's row k) are copies of k_tridiag's: if this kernel wins, both move into
// helpers of eigh_tridiag.cuh that the two kernels call, and this file keeps only the test.
// nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -o /tmp/k1r bench/harness/eigh_k1_reg.cu
// (or bash bench/harness/run_all.sh eigh_k1_reg). Exit status 0 only if every check passed.
#include <cuda_runtime.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "../../src/cuda/eigh_tridiag.cuh"

#include "harness.h"
#include "eigh_inputs.h"

namespace et = mc::eigh_tridiag;
using et::Lim;
using et::mul_rn;

constexpr int kVM = 8, kUM = 4; /* rows per warp, columns per lane: n <= 32 kUM, n <= W kVM */

/* One block per matrix, nt = 32 W threads with W kVM >= n and 32 kUM >= n; dynamic shared memory
 * (6 + W) n T. Writes what k_tridiag writes: A's rows k = reflectors, d, e, tau, scal, flag. */
template <typename T>
__global__ void __launch_bounds__(512) k_tridiag_reg(const T *__restrict__ a, int64_t sb, int64_t sr, int64_t sc,
                                                     et::Ws<T> ws, int n) {
    extern __shared__ __align__(16) unsigned char smem[];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, w = tid >> 5, W = nt >> 5;
    T *buf = reinterpret_cast<T *>(smem);
    T *vc = buf, *wc = buf + n, *vq = buf + 2 * n, *wq = buf + 3 * n;
    T *rowb0 = buf + 4 * n, *part = buf + 6 * n; /* rowb by parity of k: rowb0 + (k & 1) n */
    __shared__ T red[32], red_pv[32], sh_sq[2], tail[4];
    const int64_t b = blockIdx.x;
    T *A = ws.A + b * (int64_t)n * n;
    const T *ab = a + b * sb;
    const mc::jacobi::Loaded<T> ld0 = mc::jacobi::load_check_scale(
        A, n * n,
        [=](int idx) {
            const int i = idx / n, j = idx - i * n;
            return j <= i ? ab[i * sr + j * sc] : ab[j * sr + i * sc];
        },
        red);
    T *d = ws.d + b * n, *e = ws.e + b * n, *tau = ws.tau + b * n;
    if (tid == 0) {
        ws.scal[2 * b] = ld0.scale;
        ws.flag[2 * b] = ld0.bad ? 1 : 0;
        ws.flag[2 * b + 1] = 0;
    }
    __syncthreads(); /* A (scaled) visible to every thread */
    T z[kVM][kUM];
#pragma unroll
    for (int v = 0; v < kVM; ++v)
#pragma unroll
        for (int u = 0; u < kUM; ++u) {
            const int r = w + W * v, c = lane + 32 * u;
            z[v][u] = (r < n && c < n) ? A[(int64_t)r * n + c] : (T)0;
        }
    __syncthreads(); /* every load of A done before row 0's reflector overwrites it */
    const T eps = Lim<T>::eps, thr = Lim<T>::tiny / (eps * eps);
    bool pend = false;
    for (int k = 0; k + 2 < n; ++k) {
        const int k1 = k + 1, m = n - k1, par = k & 1;
        T *rowb = rowb0 + par * n;
        /* 1. row k (columns k..n-1) gets step k-1's update, in the warp that owns it */
        if (w == k % W) {
            const int v0 = k / W;
            T sq = 0;
#pragma unroll
            for (int v = 0; v < kVM; ++v)
                if (v == v0) {
#pragma unroll
                    for (int u = 0; u < kUM; ++u) {
                        const int c = lane + 32 * u;
                        if (c >= k && c < n) {
                            T x = z[v][u];
                            if (pend) x -= (mul_rn(vq[k], wq[c]) + mul_rn(wq[k], vq[c]));
                            rowb[c] = x;
                            if (c >= k + 2) sq += x * x;
                        }
                    }
                }
            sq = mc::jacobi::warp_sum(sq);
            if (lane == 0) sh_sq[par] = sq;
        }
        __syncthreads(); /* rowb, sh_sq[par]: next written at k + 2, after k + 1's barriers */
        const T sq = sh_sq[par], alpha = rowb[k1], dk = rowb[k];
        const bool act = sq > thr; /* uniform */
        T tk = 0;
        if (act) {
            const T nr = et::sq_root(alpha * alpha + sq);
            const T beta = alpha >= 0 ? -nr : nr;
            tk = (beta - alpha) / beta;
            const T scl = (T)1 / (alpha - beta);
            if (tid == 0) {
                d[k] = dk;
                e[k] = beta;
                tau[k] = tk;
            }
            T *grow = A + (int64_t)k * n; /* the reflector, for K4 */
            for (int i = tid; i < m; i += nt) {
                const T vi = i == 0 ? (T)1 : rowb[k1 + i] * scl;
                vc[k1 + i] = vi;
                grow[k1 + i] = vi;
            }
        } else if (tid == 0) {
            d[k] = dk;
            e[k] = alpha;
            tau[k] = 0;
        }
        if (!act && !pend) continue; /* uniform */
        __syncthreads();             /* vc visible */
        /* 2. fused pass on the thread's elements (r, c >= k1): step k-1's update, p partials */
        T vqc[kUM], wqc[kUM], acc[kUM];
#pragma unroll
        for (int u = 0; u < kUM; ++u) {
            const int c = lane + 32 * u;
            const bool in = c >= k1 && c < n;
            vqc[u] = in && pend ? vq[c] : (T)0;
            wqc[u] = in && pend ? wq[c] : (T)0;
            acc[u] = 0;
        }
#pragma unroll
        for (int v = 0; v < kVM; ++v) {
            const int r = w + W * v;
            if (r >= k1 && r < n) { /* warp-uniform */
                const T vqr = pend ? vq[r] : (T)0, wqr = pend ? wq[r] : (T)0, vcr = act ? vc[r] : (T)0;
#pragma unroll
                for (int u = 0; u < kUM; ++u) {
                    const int c = lane + 32 * u;
                    if (c >= k1 && c < n) {
                        T x = z[v][u];
                        if (pend) {
                            x -= (mul_rn(vqr, wqc[u]) + mul_rn(wqr, vqc[u]));
                            z[v][u] = x;
                        }
                        acc[u] += x * vcr;
                    }
                }
            }
        }
        if (act)
#pragma unroll
            for (int u = 0; u < kUM; ++u) {
                const int c = lane + 32 * u;
                if (c >= k1 && c < n) part[w * n + c] = acc[u];
            }
        __syncthreads(); /* part visible; every read of vq, wq done */
        if (act) {
            /* 3. p = tau A22 v, w = p - tau/2 (p.v) v */
            T pv = 0;
            for (int i = tid; i < m; i += nt) {
                T s = 0;
                for (int g = 0; g < W; ++g) s += part[g * n + k1 + i];
                const T pi = tk * s;
                wc[k1 + i] = pi;
                pv += pi * vc[k1 + i];
            }
            pv = et::tri_block_sum(pv, red_pv);
            const T K = (T)0.5 * tk * pv;
            for (int i = tid; i < m; i += nt) wc[k1 + i] -= K * vc[k1 + i];
            T *t = vc;
            vc = vq;
            vq = t;
            t = wc;
            wc = wq;
            wq = t;
            __syncthreads(); /* w visible; part free */
        }
        pend = act;
    }
    /* the trailing 2 x 2 (or 1 x 1), with step n-3's update */
    const int t0 = n >= 2 ? n - 2 : 0;
#pragma unroll
    for (int v = 0; v < kVM; ++v)
#pragma unroll
        for (int u = 0; u < kUM; ++u) {
            const int r = w + W * v, c = lane + 32 * u;
            if (r >= t0 && r < n && c >= t0 && c < n) {
                T x = z[v][u];
                if (n >= 3 && pend) x -= (mul_rn(vq[r], wq[c]) + mul_rn(wq[r], vq[c]));
                tail[(r - t0) * 2 + (c - t0)] = x;
            }
        }
    __syncthreads();
    if (tid == 0) {
        if (n == 1) {
            d[0] = tail[0];
        } else {
            d[n - 2] = tail[0];
            d[n - 1] = tail[3];
            e[n - 2] = tail[2];
            tau[n - 2] = 0;
        }
        e[n - 1] = 0;
        tau[n - 1] = 0;
    }
}

/* Threads for n: W warps with W kVM >= n, at least 4 (the library's K1 uses 4 threads a row). */
static int reg_threads(int n) {
    int W = 4;
    while (W * kVM < n) W *= 2;
    return 32 * W;
}

template <typename T> static cudaError_t launch_k1_reg(const T *a, int64_t sb, int64_t sr, int64_t sc,
                                                      const et::Ws<T> &ws, int n, int64_t batch) {
    const int nt = reg_threads(n);
    const size_t smem = (size_t)(6 + nt / 32) * n * sizeof(T);
    k_tridiag_reg<T><<<(unsigned)batch, nt, smem>>>(a, sb, sr, sc, ws, n);
    return cudaGetLastError();
}

/* The full eigh with this K1 (same sequence as et::launch_ex after K1). */
template <typename T>
static cudaError_t eigh_reg(const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t batch,
                            int n, void *workspace) {
    et::Ws<T> ws;
    et::carve<T>(workspace, n, batch, &ws);
    cudaError_t e;
    if ((e = launch_k1_reg<T>(a, sb, sr, sc, ws, n, batch)) != cudaSuccess) return e;
    if ((e = et::launch_bisect<T>(ws, n, batch, 0)) != cudaSuccess) return e;
    if ((e = et::launch_vectors<T>(ws, w, info, batch, n, mc::max_dyn_smem(0), 0, nullptr)) != cudaSuccess) return e;
    return et::launch_back<T>(ws, q, n, batch, 0);
}

template <typename T> static void check_n(int n, std::mt19937 &g) {
    for (int kind = 0; kind < NKINDS_ALL; ++kind) {
        const int64_t batch = kind == NANCASE ? 7 : 5;
        void *ws = nullptr;
        CK(cudaMalloc(&ws, et::workspace_bytes<T>(n, batch)));
        check_case<T>(
            "k1_reg", n, kind, g, batch,
            [&](const T *a, int64_t sb, int64_t sr, int64_t sc, T *w, T *q, int32_t *info, int64_t bt, int nn,
                int32_t *) { return eigh_reg<T>(a, sb, sr, sc, w, q, info, bt, nn, ws); },
            false);
        CK(cudaFree(ws));
    }
}

template <typename T> static void time_k1(int n, int64_t batch, std::mt19937 &g) {
    const int64_t sb = (int64_t)n * n;
    std::normal_distribution<double> N;
    std::vector<T> ha((size_t)(sb * batch));
    for (int64_t b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j <= i; ++j) ha[b * sb + i * n + j] = ha[b * sb + j * n + i] = (T)N(g);
    T *da;
    void *w1, *w2;
    const size_t bytes = et::workspace_bytes<T>(n, batch);
    CK(cudaMalloc(&da, ha.size() * sizeof(T)));
    CK(cudaMalloc(&w1, bytes));
    CK(cudaMalloc(&w2, bytes));
    CK(cudaMemcpy(da, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    et::Ws<T> ws1, ws2;
    et::carve<T>(w1, n, batch, &ws1);
    et::carve<T>(w2, n, batch, &ws2);
    const et::Tri1 t1 = et::tri_config<T>(n, mc::max_dyn_smem(0), 0);
    CK(mc::allow_smem(et::k_tridiag<T>, t1.smem));
    const float ms_lib = time_ms([&] {
        et::k_tridiag<T><<<(unsigned)batch, t1.threads, t1.smem>>>(da, sb, n, 1, ws1, n, t1.msw);
    });
    const float ms_reg = time_ms([&] { launch_k1_reg<T>(da, sb, n, 1, ws2, n, batch); });
    CK(cudaDeviceSynchronize());
    /* d, e, tau of both, relative to ||T||_max */
    std::vector<T> d1(batch * n), d2(batch * n), e1(batch * n), e2(batch * n);
    CK(cudaMemcpy(d1.data(), ws1.d, d1.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(d2.data(), ws2.d, d2.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(e1.data(), ws1.e, e1.size() * sizeof(T), cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(e2.data(), ws2.e, e2.size() * sizeof(T), cudaMemcpyDeviceToHost));
    double mx = 0, diff = 0;
    for (size_t i = 0; i < d1.size(); ++i) {
        mx = std::max({mx, (double)std::fabs(d1[i]), (double)std::fabs(e1[i])});
        diff = std::max({diff, (double)std::fabs(d1[i] - d2[i]), (double)std::fabs(e1[i] - e2[i])});
    }
    printf("TIME K1 %s n=%d batch=%lld: library k_tridiag (%d threads) %.4f ms, registers (%d threads) %.4f ms "
           "(%.2fx); max |d, e diff| / max |d, e| = %.2e\n",
           sizeof(T) == 4 ? "f32" : "f64", n, (long long)batch, t1.threads, ms_lib, reg_threads(n), ms_reg,
           ms_lib / ms_reg, diff / (mx > 0 ? mx : 1));
    CK(cudaFree(da));
    CK(cudaFree(w1));
    CK(cudaFree(w2));
}

int main() {
    std::mt19937 g(606);
    for (int n : {1, 2, 3, 33, 64, 100, 128}) {
        check_n<float>(n, g);
        check_n<double>(n, g);
    }
    printf("eigh_k1_reg: %d passed, %d failed\n", n_pass, n_fail);
    time_k1<float>(64, 1000, g);
    time_k1<float>(128, 100, g);
    time_k1<double>(128, 100, g);
    return n_fail ? 1 : 0;
}
