// Standalone harness for the batched Cholesky (src/cuda/cholesky.cu): the library kernel ("lib",
// the file is #included) against the former library kernel (copied below as namespace baseline,
// from commit de40180), fp32 and fp64. The library kernel is the lookahead variant this harness
// chose (H100: fp32 1000 x 256 0.92 vs 1.44 ms, fp64 2.27 vs 2.92 ms; a 512-thread fp32 variant,
// la512, was slower at 1000 x 256 and is no longer carried: see bench/results/h100-2026-11-25-s3/
// harness.log). Checks every kernel and mode on the host in double: ||L L^T - A||_F / ||A||_F
// <= 30 n eps, exact zeros in the other triangle (lower and upper output), info = order of the first
// non-positive pivot for non-SPD matrices, NaN in the input -> info != 0 or NaN in L, the unused
// triangle of A ignored (NaN there for half the batch); n in {1, 2, 17, 31, 32, 33, 50, 64, 100,
// 128, 129, 200, 255, 256}. Then times baseline and variants in the same run (median of 15) on
// fp32 1000 x 256, 10000 x 64, 1000 x 128 and fp64 1000 x 256, and re-checks a few matrices of
// each timed batch. Not part of the library build; compile and run on the device machine in one
// call (from the repository root):
//   nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -Xptxas -v -o /tmp/cb bench/harness/chol_batched.cu 2>&1 | grep -E "registers|spill|error" ; /tmp/cb
// (or: bash bench/harness/run_all.sh chol_batched). Exit status 0 only if every check passed.
// `/tmp/cb check` only checks, `/tmp/cb time` only times (with the re-checks).
//
// What the library kernel (chol_kernel) changes against the baseline (same layout choice: S in
// shared memory while two blocks fit, else in place in the output):
//  1. lookahead: in the trailing update of step k, warp 0 alone updates the next 32x32 diagonal
//     block (straight from the panel, in registers: 32 columns x 32 products per lane), factors
//     it and writes L and the inverted block for the next panel, while warps 1.. update the rest
//     of the trailing triangle. Two barriers per 32 columns instead of three, and the serial
//     diagonal factorisation (~4-5k cycles, one warp) overlaps the update instead of idling the
//     block;
//  2. global-memory case: no copy pass A -> L (the baseline's copy loop does a dependent
//     load -> store per element group because A and L may alias: ~140 serial DRAM round trips
//     per warp); step 0 reads A directly and writes L, and only the zeros above the diagonal are
//     stored up front;
//  3. trailing tiles load their 16 old values before the 32-step product loop (their L2/DRAM
//     latency hides under the FMAs), not four dependent load -> store pairs after it;
//  4. the panel is kept transposed (PT[q][row], 16-byte rows) so a 4x4 tile reads its 4+4 values
//     per q as two 16-byte loads without bank conflicts (the baseline's P[row*33+q] reads are
//     4-way conflicted: 20 shared wavefronts per q per warp instead of ~5);
//  5. the inverted diagonal block has 16-byte rows (stride 36): the panel solve reads it as
//     144 16-byte broadcasts per row instead of 528 scalar ones.
#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "harness.h"    /* CK() */
#include "core_stubs.h" /* mc_fail & co. for the library files below */
#include "../../src/cuda/cholesky.cu"
#include "../../src/cuda/runtime.cu"

// ==== KERNELS BEGIN (the host emulation check extracts this region) ===============================

// ---- baseline: a verbatim copy of chol_blocked_kernel of src/cuda/cholesky.cu at commit de40180
// (with odd_ld of src/cuda/dense_common.cuh); the launcher is harness-side (launch_base below) ----
namespace baseline {
__host__ __device__ inline int64_t odd_ld(int64_t m) { return (m % 2 == 0) ? m + 1 : m; }

constexpr int NB = 32, PLD = 33;

__device__ __forceinline__ float rsqrt_(float x) { return rsqrtf(x); }
__device__ __forceinline__ double rsqrt_(double x) { return rsqrt(x); }

template <typename C> __host__ __device__ inline int64_t chol_smem_elems(int n, bool square) {
    const int64_t prow = (int64_t)(n + 3) / 4 * 4;
    return (square ? (int64_t)n * odd_ld(n) : 0) + NB * PLD + prow * PLD;
}

/* A, L: (batch, n, n) row-major; info: (batch,). SQUARE: S in shared memory. */
template <typename C, bool SQUARE>
__global__ void __launch_bounds__(256)
    chol_blocked_kernel(const C *A, C *L, int32_t *info, int n, int upper) {
    extern __shared__ __align__(16) unsigned char smem[];
    __shared__ int fail;
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31;
    const int64_t b = blockIdx.x, nn = (int64_t)n * n;
    const int64_t ld = SQUARE ? odd_ld(n) : n;
    C *base = reinterpret_cast<C *>(smem);
    C *S = SQUARE ? base : L + b * nn;
    C *Ld = base + (SQUARE ? n * ld : 0);
    C *P = Ld + NB * PLD;
    const C *a = A + b * nn;
    const int warp = tid >> 5, nw = nt >> 5;
    /* a row per warp: coalesced, and no 64-bit division per element */
    for (int i = warp; i < n; i += nw)
        for (int j = lane; j < n; j += 32) {
            if (j <= i) S[i * ld + j] = a[(int64_t)i * n + j];
            else if (!SQUARE) S[(int64_t)i * n + j] = C(0);
        }
    if (tid == 0) fail = 0;
    __syncthreads();
    /* fp32 in global memory with rows of a multiple of 4: trailing tiles move as float4 (r0 is
     * a multiple of 32, the output 16-byte aligned) */
    const bool vec4 = !SQUARE && sizeof(C) == 4 && n % 4 == 0 && (reinterpret_cast<uintptr_t>(S) & 15) == 0;
    for (int c0 = 0; c0 < n; c0 += NB) {
        const int w = min(NB, n - c0);
        if (tid < 32) {
            C r[NB];
            const bool mine = lane < w;
#pragma unroll
            for (int t = 0; t < NB; ++t) r[t] = (mine && t <= lane) ? S[(c0 + lane) * ld + c0 + t] : C(0);
            int bad = 0;
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                const C d = __shfl_sync(0xffffffffu, r[t], t); /* pivot after all earlier updates */
                if (!(d > C(0)) && !bad) bad = c0 + t + 1;       /* uniform: d is the same in every lane */
                const C ri = rsqrt_(d);                          /* NaN for d <= 0: reported above */
                r[t] = lane == t ? d * ri : r[t] * ri;
#pragma unroll
                for (int q = t + 1; q < NB; ++q) {
                    const C lqt = __shfl_sync(0xffffffffu, r[t], q);
                    if (lane >= q) r[q] -= r[t] * lqt;
                }
            }
            if (mine)
#pragma unroll
                for (int t = 0; t < NB; ++t)
                    if (t <= lane) {
                        S[(c0 + lane) * ld + c0 + t] = r[t];
                        /* the diagonal is kept inverted: the panel below multiplies by it */
                        Ld[lane * PLD + t] = t == lane ? C(1) / r[t] : r[t];
                    }
            if (lane == 0 && bad) fail = bad;
        }
        __syncthreads();
        if (fail) break; /* uniform; like potrf, stop at the first failing minor */
        const int r0 = c0 + w, m = n - r0;
        for (int s = r0 + tid; s < n; s += nt) {
            C x[NB];
#pragma unroll
            for (int t = 0; t < NB; ++t) x[t] = t < w ? S[s * ld + c0 + t] : C(0);
#pragma unroll
            for (int t = 0; t < NB; ++t) {
                if (t >= w) break;
                C v = x[t];
#pragma unroll
                for (int q = 0; q < t; ++q) v -= x[q] * Ld[t * PLD + q];
                x[t] = v * Ld[t * PLD + t];
            }
#pragma unroll
            for (int t = 0; t < NB; ++t)
                if (t < w) {
                    S[s * ld + c0 + t] = x[t];
                    P[(s - r0) * PLD + t] = x[t];
                }
        }
        __syncthreads();
        const int mt = (m + 3) / 4, ntiles = mt * (mt + 1) / 2;
        for (int tile = tid; tile < ntiles; tile += nt) {
            int ti = (int)((sqrtf(8.f * tile + 1.f) - 1.f) * 0.5f);
            while (ti * (ti + 1) / 2 > tile) --ti;
            while ((ti + 1) * (ti + 2) / 2 <= tile) ++ti;
            const int tj = tile - ti * (ti + 1) / 2;
            C acc[4][4] = {};
            for (int q = 0; q < w; ++q) {
                C u[4], v[4];
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    u[e] = P[(4 * ti + e) * PLD + q];
                    v[e] = P[(4 * tj + e) * PLD + q];
                }
#pragma unroll
                for (int e = 0; e < 4; ++e)
#pragma unroll
                    for (int f = 0; f < 4; ++f) acc[e][f] += u[e] * v[f];
            }
            if (vec4 && tj < ti && 4 * ti + 3 < m) { /* whole tile below the diagonal: 16-byte rows */
#pragma unroll
                for (int e = 0; e < 4; ++e) {
                    float4 *p4 = reinterpret_cast<float4 *>(&S[(int64_t)(r0 + 4 * ti + e) * ld + r0 + 4 * tj]);
                    float4 t4 = *p4;
                    t4.x -= acc[e][0];
                    t4.y -= acc[e][1];
                    t4.z -= acc[e][2];
                    t4.w -= acc[e][3];
                    *p4 = t4;
                }
                continue;
            }
#pragma unroll
            for (int e = 0; e < 4; ++e)
#pragma unroll
                for (int f = 0; f < 4; ++f) {
                    const int i = 4 * ti + e, j = 4 * tj + f;
                    if (i < m && j <= i) S[(int64_t)(r0 + i) * ld + r0 + j] -= acc[e][f];
                }
        }
        __syncthreads();
    }
    C *l = L + b * nn;
    if (SQUARE) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < n; j += 32)
                l[(int64_t)i * n + j] = upper ? (i <= j ? S[j * ld + i] : C(0)) : (j <= i ? S[i * ld + j] : C(0));
    } else if (upper) {
        for (int i = warp; i < n; i += nw)
            for (int j = lane; j < i; j += 32) { /* each pair (i, j), j < i, belongs to this thread only */
                l[(int64_t)j * n + i] = l[(int64_t)i * n + j];
                l[(int64_t)i * n + j] = C(0);
            }
    }
    if (tid == 0) info[b] = fail;
}
} // namespace baseline

// ---- the library kernel (the lookahead variant this harness chose, now src/cuda/cholesky.cu's
// chol_kernel): the file is #included, so its anonymous-namespace kernel is callable here ---------

// ==== KERNELS END ===================================================================================

// ---- launchers ----------------------------------------------------------------------------------
static int g_max_smem = 0; // opt-in limit per block

// mode: 0 = as the library chooses (shared memory while two blocks fit), 1 = global memory,
// 2 = shared memory. Returns false when the mode cannot run for this n.
template <typename T> static bool launch_base(const T *A, T *L, int32_t *info, int batch, int n, int upper, int mode) {
    using namespace baseline;
    const int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    const size_t square = (size_t)chol_smem_elems<T>(n, true) * sizeof(T);
    const size_t glob = (size_t)chol_smem_elems<T>(n, false) * sizeof(T);
    bool sq = mode == 2 || (mode == 0 && square <= (size_t)g_max_smem / 2);
    if (sq && square > (size_t)g_max_smem) return false;
    if (!sq && glob > (size_t)g_max_smem) return false;
    if (sq) {
        CK(cudaFuncSetAttribute(chol_blocked_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)square));
        chol_blocked_kernel<T, true><<<batch, threads, square>>>(A, L, info, n, upper);
    } else {
        CK(cudaFuncSetAttribute(chol_blocked_kernel<T, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)glob));
        chol_blocked_kernel<T, false><<<batch, threads, glob>>>(A, L, info, n, upper);
    }
    CK(cudaGetLastError());
    return true;
}

/* the library's kernel with the harness's mode choice (the library's own rule is mode 0) */
template <typename T> static bool launch_lib(const T *A, T *L, int32_t *info, int batch, int n, int upper, int mode) {
    const int threads = n > 128 ? 256 : (n > 64 ? 128 : 64);
    const size_t square = chol_smem_bytes<T>(n, true), glob = chol_smem_bytes<T>(n, false);
    bool sq = mode == 2 || (mode == 0 && n <= CHOL_SQUARE_MAX_N && square <= (size_t)g_max_smem / 2);
    if (sq && (n > CHOL_SQUARE_MAX_N || square > (size_t)g_max_smem)) return false;
    if (!sq && glob > (size_t)g_max_smem) return false;
    if (sq) {
        CK(cudaFuncSetAttribute(chol_kernel<T, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)square));
        chol_kernel<T, true><<<batch, threads, square>>>(A, L, info, n, upper);
    } else {
        CK(cudaFuncSetAttribute(chol_kernel<T, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)glob));
        chol_kernel<T, false><<<batch, threads, glob>>>(A, L, info, n, upper);
    }
    CK(cudaGetLastError());
    return true;
}

template <typename T> struct Cfg {
    const char *name;
    bool (*fn)(const T *, T *, int32_t *, int, int, int, int);
};
template <typename T> static std::vector<Cfg<T>> configs();
// fp32: <= 128 registers (two 256-thread blocks per SM); fp64: one block per SM as the baseline
// (218 registers), so up to 255 registers and no spills. (A 256-thread fp32 variant capped at 80
// registers for three blocks per SM spilled ~500 bytes in the diagonal factorisation: left out.)
template <> std::vector<Cfg<float>> configs<float>() {
    return {{"base", launch_base<float>}, {"lib", launch_lib<float>}};
}
template <> std::vector<Cfg<double>> configs<double>() {
    return {{"base", launch_base<double>}, {"lib", launch_lib<double>}};
}

// ---- host reference and checks ------------------------------------------------------------------
static int n_pass = 0, n_fail = 0;

// symmetric positive definite: G G^T / n + shift I, optionally graded by D = diag(2^(-8 i / n))
static std::vector<double> make_spd(int n, double shift, bool graded, std::mt19937 &g) {
    std::normal_distribution<double> N;
    std::vector<double> G((size_t)n * n), A((size_t)n * n);
    for (auto &x : G) x = N(g);
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = 0;
            for (int k = 0; k < n; ++k) s += G[(size_t)i * n + k] * G[(size_t)j * n + k];
            s = s / n + (i == j ? shift : 0.0);
            if (graded) s *= std::ldexp(1.0, -(8 * i) / std::max(n, 1)) * std::ldexp(1.0, -(8 * j) / std::max(n, 1));
            A[(size_t)i * n + j] = A[(size_t)j * n + i] = s;
        }
    return A;
}

enum Kind { SPD, SPD_ILL, GRADED, NONSPD, NANIN, DIAG, NONSPD_EDGE, SPD2, NKINDS };
static const char *kind_name[] = {"spd", "spd-ill", "graded", "non-spd", "nan", "diag", "non-spd-edge", "spd"};

struct Case {
    std::vector<double> A; // exactly representable in T, symmetric (for NONSPD: as built)
    int expect_info;       // 0, p > 0 exact, or -1 = NaN case (info != 0 or NaN in L)
};

template <typename T> static Case make_case(int n, int kind, int b, std::mt19937 &g) {
    Case c;
    c.expect_info = 0;
    if (kind == DIAG) {
        c.A.assign((size_t)n * n, 0.0);
        std::uniform_real_distribution<double> U(0.5, 4.0);
        for (int i = 0; i < n; ++i) c.A[(size_t)i * n + i] = U(g);
    } else {
        c.A = make_spd(n, kind == SPD_ILL ? 1e-3 : 0.5, kind == GRADED, g);
    }
    for (auto &x : c.A) x = (double)(T)x;
    if (kind == NONSPD || kind == NONSPD_EDGE) {
        const int p = kind == NONSPD ? 1 + (b * 7919 + 3 * n) % n : (b % 2 ? 1 : n);
        c.A[(size_t)(p - 1) * n + (p - 1)] = -1.0; // leading minors 1..p-1 unchanged, pivot p < 0
        c.expect_info = p;
    }
    if (kind == NANIN) {
        c.A[(size_t)(n - 1) * n] = NAN; // lower triangle, (n-1, 0)
        c.expect_info = -1;
    }
    return c;
}

// checks one output; returns residual / (n eps) (or -1 for non-SPD / NaN cases); sets why on failure
template <typename T>
static double check_one(int n, const Case &c, const T *Lo, int info, bool upper, const char *&why) {
    const double eps = sizeof(T) == 4 ? FLT_EPSILON : DBL_EPSILON;
    if (c.expect_info == -1) {
        bool nan = false;
        for (int i = 0; i < n * n; ++i) nan |= std::isnan((double)Lo[i]);
        if (info == 0 && !nan) why = "NaN input: info 0 and no NaN";
        return -1;
    }
    if (c.expect_info > 0) {
        if (info != c.expect_info) why = "wrong info for non-SPD";
        return -1;
    }
    if (info != 0) {
        why = "info != 0 for SPD";
        return 1e30;
    }
    auto Lm = [&](int i, int j) -> double { return upper ? (double)Lo[(size_t)j * n + i] : (double)Lo[(size_t)i * n + j]; };
    for (int i = 0; i < n; ++i)
        for (int j = i + 1; j < n; ++j)
            if (Lm(i, j) != 0.0) {
                why = "nonzero in the other triangle";
                return 1e30;
            }
    double r2 = 0, a2 = 0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) {
            double s = 0;
            for (int k = 0; k <= j; ++k) s += Lm(i, k) * Lm(j, k);
            const double d = s - c.A[(size_t)i * n + j], w = i == j ? 1 : 2;
            if (!std::isfinite(d)) {
                why = "non-finite L";
                return 1e30;
            }
            r2 += w * d * d;
            a2 += w * c.A[(size_t)i * n + j] * c.A[(size_t)i * n + j];
        }
    const double res = std::sqrt(r2) / std::sqrt(a2 > 0 ? a2 : 1.0) / (n * eps);
    if (!(res <= 30)) why = "residual > 30 n eps";
    return res;
}

template <typename T> static void check_size(int n, std::mt19937 &g) {
    const int batch = NKINDS;
    std::vector<Case> cases;
    for (int b = 0; b < batch; ++b) cases.push_back(make_case<T>(n, b, b, g));
    std::vector<T> ha((size_t)batch * n * n);
    for (int b = 0; b < batch; ++b)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) {
                double v = cases[b].A[(size_t)i * n + j];
                if (j > i) v = (b % 2) ? NAN : cases[b].A[(size_t)j * n + i]; // upper of A must be ignored
                ha[((size_t)b * n + i) * n + j] = (T)v;
            }
    T *dA, *dL;
    int32_t *dinfo;
    CK(cudaMalloc(&dA, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dL, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMemcpy(dA, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    std::vector<T> hl(ha.size());
    std::vector<int32_t> info(batch);
    for (const auto &cfg : configs<T>())
        for (int mode = 0; mode < 3; ++mode)
            for (int upper = 0; upper < 2; ++upper) {
                CK(cudaMemset(dL, 0x7f, ha.size() * sizeof(T))); // garbage everywhere
                CK(cudaMemset(dinfo, 0x7f, batch * sizeof(int32_t)));
                if (!cfg.fn(dA, dL, dinfo, batch, n, upper, mode)) continue;
                CK(cudaDeviceSynchronize());
                CK(cudaMemcpy(hl.data(), dL, hl.size() * sizeof(T), cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
                const char *why = nullptr;
                double worst = 0;
                int bad_b = -1;
                for (int b = 0; b < batch; ++b) {
                    const char *w = nullptr;
                    const double r = check_one<T>(n, cases[b], &hl[(size_t)b * n * n], info[b], upper, w);
                    worst = std::max(worst, r);
                    if (w && !why) why = w, bad_b = b;
                }
                const bool ok = !why;
                static const char *mname[] = {"auto", "global", "shared"};
                printf("%s %s n=%3d %-8s %-6s %s res=%.3f (units of n*eps, tol 30)%s%s", ok ? "PASS" : "FAIL",
                       sizeof(T) == 4 ? "f32" : "f64", n, cfg.name, mname[mode], upper ? "U" : "L", worst,
                       ok ? "" : " ", ok ? "" : why);
                if (!ok) printf(" (matrix %d, %s, info %d expected %d)", bad_b, kind_name[bad_b], info[bad_b], cases[bad_b].expect_info);
                printf("\n");
                (ok ? n_pass : n_fail)++;
            }
    CK(cudaFree(dA));
    CK(cudaFree(dL));
    CK(cudaFree(dinfo));
}

template <typename T> static void time_case(int n, int batch, std::mt19937 &g) {
    const int distinct = 4;
    std::vector<Case> cases;
    for (int k = 0; k < distinct; ++k) cases.push_back(make_case<T>(n, k % 2 ? SPD_ILL : SPD, 0, g));
    const size_t nn = (size_t)n * n;
    std::vector<T> ha(nn * batch);
    for (int b = 0; b < batch; ++b)
        for (size_t i = 0; i < nn; ++i) ha[b * nn + i] = (T)cases[b % distinct].A[i];
    T *dA, *dL;
    int32_t *dinfo;
    CK(cudaMalloc(&dA, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dL, ha.size() * sizeof(T)));
    CK(cudaMalloc(&dinfo, batch * sizeof(int32_t)));
    CK(cudaMemcpy(dA, ha.data(), ha.size() * sizeof(T), cudaMemcpyHostToDevice));
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    double base_ms = 0;
    for (const auto &cfg : configs<T>()) {
        CK(cudaMemset(dL, 0x7f, ha.size() * sizeof(T)));
        CK(cudaMemset(dinfo, 0x7f, batch * sizeof(int32_t)));
        for (int i = 0; i < 3; ++i) cfg.fn(dA, dL, dinfo, batch, n, 0, 0);
        CK(cudaDeviceSynchronize());
        std::vector<float> ms;
        for (int r = 0; r < 15; ++r) {
            CK(cudaEventRecord(e0));
            cfg.fn(dA, dL, dinfo, batch, n, 0, 0);
            CK(cudaEventRecord(e1));
            CK(cudaEventSynchronize(e1));
            float t;
            CK(cudaEventElapsedTime(&t, e0, e1));
            ms.push_back(t);
        }
        std::sort(ms.begin(), ms.end());
        // re-check: every info, and matrices 0, 1, batch-1 of the timed output
        std::vector<int32_t> info(batch);
        CK(cudaMemcpy(info.data(), dinfo, batch * sizeof(int32_t), cudaMemcpyDeviceToHost));
        int nbad = 0;
        for (int b = 0; b < batch; ++b) nbad += info[b] != 0;
        double worst = 0;
        const char *why = nbad ? "info != 0" : nullptr;
        std::vector<T> hl(nn);
        for (int b : {0, 1, batch - 1}) {
            CK(cudaMemcpy(hl.data(), dL + (size_t)b * nn, nn * sizeof(T), cudaMemcpyDeviceToHost));
            const char *w = nullptr;
            worst = std::max(worst, check_one<T>(n, cases[b % distinct], hl.data(), info[b], false, w));
            if (w && !why) why = w;
        }
        const double med = ms[ms.size() / 2];
        if (cfg.fn == configs<T>()[0].fn) base_ms = med;
        printf("TIME %s %5d x %3d %-8s median %.4f ms (min %.4f, max %.4f)  %.3fx base  check %s res=%.3f%s%s\n",
               sizeof(T) == 4 ? "f32" : "f64", batch, n, cfg.name, med, ms[0], ms.back(), base_ms / med,
               why ? "FAIL" : "PASS", worst, why ? " " : "", why ? why : "");
        (why ? n_fail : n_pass)++;
    }
    CK(cudaEventDestroy(e0));
    CK(cudaEventDestroy(e1));
    CK(cudaFree(dA));
    CK(cudaFree(dL));
    CK(cudaFree(dinfo));
}

int main(int argc, char **argv) {
    const bool do_check = argc < 2 || !strcmp(argv[1], "check");
    const bool do_time = argc < 2 || !strcmp(argv[1], "time");
    int dev = 0;
    CK(cudaGetDevice(&dev));
    CK(cudaDeviceGetAttribute(&g_max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, dev));
    printf("device: %s, %d SMs, opt-in shared memory per block %d bytes\n", prop.name, prop.multiProcessorCount, g_max_smem);
    std::mt19937 g(20261125);
    if (do_check) {
        const int sizes[] = {1, 2, 17, 31, 32, 33, 50, 64, 100, 128, 129, 200, 255, 256};
        for (int n : sizes) check_size<float>(n, g);
        for (int n : sizes) check_size<double>(n, g);
        printf("chol_batched checks: %d passed, %d failed\n", n_pass, n_fail);
    }
    if (do_time) {
        time_case<float>(256, 1000, g);
        time_case<float>(64, 10000, g);
        time_case<float>(128, 1000, g);
        time_case<double>(256, 1000, g);
    }
    printf("chol_batched: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
