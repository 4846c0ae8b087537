// Standalone harness for the softmax rows path of src/cuda/softmax.cu (the file is #included, so
// the library's own kernels, planning and launchers run here): the short-row layout (several rows
// per block, at most 2 vectors per thread), the long-row layout (one block, or a thread-block
// cluster sharing the row's (max, sum) through distributed shared memory), and the split / generic
// fallbacks. Not part of the library build; compile and run on the device machine in one call
// (from the repository root):
//   nvcc -O3 -std=c++17 -Iinclude -Isrc -gencode=arch=compute_90,code=sm_90 -lineinfo -Xptxas -v -o /tmp/sr bench/harness/softmax_rows.cu 2>&1 | grep -E "registers|spill|error" ; /tmp/sr
// (or: bash bench/harness/run_all.sh softmax_rows). `/tmp/sr check` only checks, `/tmp/sr time`
// only times. Exit status 0 only if every check passed.
//
// Checks (host reference in double, torch's semantics: a row of all -inf, or holding +inf or NaN,
// is NaN): forward and backward through mc_cuda_softmax_forward / _backward (the library entry
// points, plan included), fp32 / bf16 / fp16, cols in {1, 3, 512, 4096, 8192, 8193, 16384, 65536,
// 131072, 262144, 524288, 1048576}, rows 1, 3 (few rows: clusters spread wider), 7 and up to ~2M
// elements; outputs poisoned with NaN first; per row max |out - ref| / max |ref| against a
// per-dtype bound, and the NaN pattern exactly. Non-finite rows (all -inf, one +inf, one NaN, every
// other -inf, whole slices of -inf, -inf next to values near -1000, one finite value, logits x 50)
// at cols 4096, 8192, 65536, 262144 and 8193. Also: a misaligned pointer (rows plan -> generic), the
// split path forced on a long row, the plan's knobs (block sizes, cluster sizes 2..16, spreading),
// the previous library forward ("prev", below), the old library kernel (baseline below), and every
// timing variant, each checked before it is timed.
//
// Timing (CUDA events around every call, calls queued back to back, median of 30 after 5 warm-up
// calls, input sets rotated over > 150 MB as bench/_prims.py does; TB/s = bytes read + written per
// second: forward 2N, backward 3N, forward + backward 5N elements): a device-to-device memcpy rate
// measured in the same run; the sweep at 16M elements (fp32 and bf16, cols 512 .. 262144) with the
// library default, "prev" and the knob variants (lt<k>: blocks of up to k threads at every cluster
// size); 64 x 131072 fp32, 1 x 262144 fp32, 16384 x 4096 bf16 forward and forward + backward with
// the old reg/split kernels (baseline) and forced layouts of the short-row kernel.
// Long rows, forward: the library next to
//   prev      the library's long-row forward before 16-bit rows were held raw (as of df97787, run 4):
//             bf16 / fp16 4 vectors per thread held as floats, C the smallest power of two with
//             TPR <= 512 (fp32: 8 vectors, the same rule); the library's kernel with NV = 4;
//   C<c>T<t>  the library's kernel (NV = 8: raw 16-bit values) forced to c blocks of t threads;
//   LC<c>T<t> the same layout in the harness's own kernel (bench/harness/softmax_long.cuh, the one
//             that measured it first), to tell layout from code generation;
// at 64 x 131072 fp32, 128 x 131072 bf16 / fp16, 256 x 65536 bf16 / fp32, 64 x 262144 bf16,
// 512 x 32768 bf16, 4 x 1048576 bf16, and the 16M-element sweep from 32768 cols. The start prints
// the registers of the library's kernels and the occupancy of each (C, TPR) at the timed shapes.
// H100 numbers, run 4 (bench/results/h100-2026-11-26-s4), before the raw layout: 128 x 131072 bf16
// library (prev) 49.5 us, LC8T256 37.6 us; 256 x 65536 bf16 49.0 / LC2T512 36.4 us; fp32
// 256 x 65536 59.1 / LC8T256 57.7 us; fp32 64 x 131072 37.8 / LC16T256 34.9 us; copy 3.01 TB/s.
// The old library numbers on the H100 from bench/bench_softmax.py (before the cluster path): 64 x
// 131072 fp32 78 us (0.86 TB/s); 16384 x 4096 bf16 111 us fwd (2.42 TB/s), 253 us fwd+bwd; sweep
// fp32 8192..262144 cols 1.25 TB/s, bf16 16384..262144 0.81 TB/s; Liger 90.7 us / 224 us at
// 16384 x 4096 bf16.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../../src/cuda/runtime.cu"
#include "../../src/cuda/softmax.cu"

#include "softmax_long.cuh" /* longrow::: the registers-only long-row forward of the harness */

#include "harness.h" /* CK() */

#include "core_stubs.h" /* mc_fail, mc_dtype_size, mc_dtype_name */
#include "softmax_host.h" /* Dt, Rng, make_x's cases, ref_fwd_row, tol_of, DevBuf, make_args */

// ---- baseline: the reg-path kernels of src/cuda/softmax.cu before this change (commit 7a7096d),
// verbatim but for the namespace, with its shape rule (mc::row_reg_shape(n, vec, 256), nv <= 4);
// the old split path is the library's split path, unchanged ----------------------------------------
namespace baseline {
using mc::from_float;
using mc::Pack;
using mc::to_float;
constexpr int kBlock = 256;

template <typename T, int NV, int MAXT>
__global__ void __launch_bounds__(MAXT)
    softmax_fwd_reg(const T *x, T *y, int64_t rows, int n) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[2][kBlock];
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = row < rows;
    float v[NV][VEC];
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) {
            Pack<T, VEC> p = mc::load_pack<T, VEC>(x + row * n + col);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[i][j] = to_float(p.v[j]);
                m = fmaxf(m, v[i][j]);
            }
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j) v[i][j] = -INFINITY;
        }
    }
    m = mc::row_max(m, red[0]);
    float s = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                v[i][j] = __expf(v[i][j] - m);
                s += v[i][j];
            }
        }
    }
    s = mc::row_sum(s, red[1]);
    if (!active) return;
    const float inv = 1.f / s;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
            Pack<T, VEC> o;
#pragma unroll
            for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(v[i][j] * inv);
            mc::store_pack<T, VEC>(y + row * n + col, o);
        }
    }
}

template <typename T, int NV, int MAXT>
__global__ void __launch_bounds__(MAXT)
    softmax_bwd_reg(const T *dy, const T *y, T *dx, int64_t rows, int n) {
    constexpr int VEC = 16 / sizeof(T);
    __shared__ float red[kBlock];
    const int tid = threadIdx.x, tpr = blockDim.x;
    const int64_t row = (int64_t)blockIdx.x * blockDim.y + threadIdx.y;
    const bool active = row < rows;
    float yv[NV][VEC], gv[NV][VEC];
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (active && col < n) {
            Pack<T, VEC> yp = mc::load_pack<T, VEC>(y + row * n + col);
            Pack<T, VEC> gp = mc::load_pack<T, VEC>(dy + row * n + col);
#pragma unroll
            for (int j = 0; j < VEC; ++j) {
                yv[i][j] = to_float(yp.v[j]);
                gv[i][j] = to_float(gp.v[j]);
                dot += yv[i][j] * gv[i][j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < VEC; ++j) yv[i][j] = gv[i][j] = 0.f;
        }
    }
    dot = mc::row_sum(dot, red);
    if (!active) return;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
        const int col = (i * tpr + tid) * VEC;
        if (col < n) {
            Pack<T, VEC> o;
#pragma unroll
            for (int j = 0; j < VEC; ++j) o.v[j] = from_float<T>(yv[i][j] * (gv[i][j] - dot));
            mc::store_pack<T, VEC>(dx + row * n + col, o);
        }
    }
}

/* The old plan: reg when row_reg_shape(n, vec, 256) fits with nv <= 4 and the blocks fill the GPU,
 * split for n >= 4096 otherwise. Returns false where the old library took the split path (the
 * caller then runs the library's split plan, which is unchanged). */
template <typename T> bool old_reg_launch(const mc_softmax_args *a, bool bwd, cudaStream_t s) {
    constexpr int vec = 16 / sizeof(T);
    const int64_t rows = a->outer, n = a->n, sms = mc::sm_count(a->device);
    mc::RowRegShape r = mc::row_reg_shape(n, vec, kBlock);
    const bool reg_ok = r.ok && r.nv <= 4;
    const bool fills = reg_ok && (rows + r.rpb - 1) / r.rpb >= sms;
    if ((n >= 4096 && !fills) || !reg_ok) return false;
    dim3 block(r.tpr, r.rpb);
    const unsigned grid = (unsigned)((rows + r.rpb - 1) / r.rpb);
    const int threads = r.tpr * r.rpb;
    const T *x = (const T *)a->x, *dy = (const T *)a->dy, *yc = (const T *)a->y;
    T *y = (T *)a->y, *dx = (T *)a->dx;
#define OLD(NV, MAXT)                                                                              \
    if (bwd) softmax_bwd_reg<T, NV, MAXT><<<grid, block, 0, s>>>(dy, yc, dx, rows, (int)n);       \
    else softmax_fwd_reg<T, NV, MAXT><<<grid, block, 0, s>>>(x, y, rows, (int)n)
    if (threads > 256) {
        fprintf(stderr, "old plan: %d threads unexpected\n", threads);
        return false;
    }
    switch (r.nv) {
    case 1: OLD(1, 256); break;
    case 2: OLD(2, 256); break;
    default: OLD(4, 256); break;
    }
#undef OLD
    return true;
}
} // namespace baseline

// ---- host helpers ------------------------------------------------------------------------------
static void ref_bwd_row(const double *dy, const double *y, double *dx, int64_t n) {
    double dot = 0;
    for (int64_t i = 0; i < n; ++i) dot += dy[i] * y[i];
    for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (dy[i] - dot);
}


static int g_pass = 0, g_fail = 0;

/* Compares out with ref row by row; returns the worst relative error (inf for a NaN mismatch).
 * Differences up to abs_floor (fp16: the subnormal spacing 2^-24, the rounding of tiny outputs)
 * do not count. */
static double compare(const std::vector<double> &out, const std::vector<double> &ref, int64_t rows, int64_t n,
                      int64_t *bad_row, int64_t *bad_col, double abs_floor,
                      const std::vector<double> *row_scale = nullptr) {
    double worst = 0;
    *bad_row = *bad_col = -1;
    for (int64_t r = 0; r < rows; ++r) {
        const double *o = &out[r * n], *f = &ref[r * n];
        double mx = 0, e = 0;
        int64_t ec = -1;
        for (int64_t i = 0; i < n; ++i) {
            if (std::isnan(f[i]) != std::isnan(o[i])) {
                *bad_row = r;
                *bad_col = i;
                return INFINITY;
            }
            if (std::isnan(f[i])) continue;
            mx = std::max(mx, std::fabs(f[i]));
            const double d = std::max(0.0, std::fabs(o[i] - f[i]) - abs_floor);
            if (!(d <= e)) {
                e = d;
                ec = i;
            }
        }
        if (row_scale) mx = (*row_scale)[r];
        const double rel = mx > 0 ? e / mx : e;
        if (rel > worst) {
            worst = rel;
            *bad_row = r;
            *bad_col = ec;
        }
    }
    return worst;
}

/* How a run is launched: the library entry point (plan by the library), or a given plan. */
struct Runner {
    enum Mode { kLibrary, kPlan, kOld, kLong } mode = kLibrary;
    Plan plan{};  /* kPlan: the forward's (and the backward's unless bplan_set) */
    Plan bplan{};
    bool bplan_set = false;
    longrow::LongPlan lplan{}; /* kLong: the forward (softmax_long.cuh); the backward is the library's */
    std::string name = "library";
};

static std::string long_str(const longrow::LongPlan &p, size_t es) {
    char b[128];
    snprintf(b, sizeof b, "harness long C=%d tpr=%d (%d per block, registers)", p.csize, p.tpr, p.tpr * longrow::kNV * (int)(16 / es));
    return b;
}

/* The library's plan with its knobs (make_plan: long_tpr, wide_tpr, spread). */
static Plan lib_plan(const mc_softmax_args &a, bool bwd, int long_tpr = 512, int wide_tpr = 0, int spread = 8) {
    return make_plan(&a, bwd, long_tpr, wide_tpr, spread);
}

/* The split plan make_plan makes for these args. */
static Plan split_plan(const mc_softmax_args &a) {
    const int64_t sms = mc::sm_count(a.device);
    const int64_t per_block = (a.outer * a.n + 2 * sms - 1) / (2 * sms);
    int64_t L = 2048;
    while (L < 16384 && L < per_block) L *= 2;
    Plan p = {kSplit, 0, 0, 1, 1, L, (a.n + L - 1) / L};
    return p;
}

/* The library's forward plan before 16-bit long rows were held raw (as of df97787): long rows 4
 * vectors per thread held as floats for bf16 / fp16 (8 for fp32), C the smallest power of two with
 * TPR <= 512 (16 with TPR up to 1024), doubled up to 8 while few rows leave SMs idle; rows needing
 * more than 16 x 1024 threads took the split path. Assumes a device with clusters (the harness runs
 * on an H100). Short rows and the other paths: as the library now (unchanged). */
static Plan prev_plan(const mc_softmax_args &a) {
    Plan p = lib_plan(a, false, 512, 512);
    if (a.dtype == MC_DTYPE_F32 || a.inner > 1 || a.n % 8 != 0 || a.n / 8 <= 512) return p;
    const int64_t need = (a.n / 8 + 3) / 4, sms = mc::sm_count(a.device);
    int c = 1;
    while (c < 16 && need > 512 * c) c *= 2;
    int64_t tpr = round_up32((need + c - 1) / c);
    if (tpr > 1024) return split_plan(a);
    while (c < 8 && a.outer * c * 2 <= sms && round_up32((need + 2 * c - 1) / (2 * c)) >= 128) {
        c *= 2;
        tpr = round_up32((need + c - 1) / c);
    }
    p = {kRows, 4, (int)tpr, 1, c, 0, 0};
    return p;
}

/* A forward rows plan the library's dispatcher does not take (NV = 4 in the forward: "prev" and the
 * forced short-row layouts): the library's launcher with that NV. */
template <typename T> static mc_status launch_fwd_nv4(const mc_softmax_args &a, const Plan &p) {
    const void *ptrs[] = {a.x, a.y};
    if (!aligned_rows(ptrs, 2)) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "harness: misaligned for a forced NV = 4 plan");
    const cudaStream_t s = mc::as_stream(a.stream);
    static bool nonportable = false; /* C = 16: set once per dtype (the library sets it on its own kernels) */
    if (p.csize > 8 && !nonportable) {
        const cudaError_t e = cudaFuncSetAttribute(reinterpret_cast<const void *>(&softmax_fwd_rows<T, 4, true>),
                                                   cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
        if (e != cudaSuccess) return mc::launch_status(e, "softmax forward (NV = 4)");
        nonportable = true;
    }
    const cudaError_t e = p.csize > 1 ? launch_rows_nv<T, 4, true, false>(&a, p, s) : launch_rows_nv<T, 4, false, false>(&a, p, s);
    if (e != cudaSuccess) return mc::launch_status(e, "softmax forward (NV = 4)");
    return mc::check_launch("softmax forward (NV = 4)");
}

template <typename T> static mc_status run_t(const Runner &r, const mc_softmax_args &a, bool bwd) {
    if (r.mode == Runner::kLibrary || (r.mode == Runner::kLong && bwd))
        return bwd ? mc_cuda_softmax_backward(&a) : mc_cuda_softmax_forward(&a);
    if (r.mode == Runner::kLong) {
        const cudaError_t e = longrow::launch_long<T>(static_cast<const T *>(a.x), static_cast<T *>(a.y), a.outer, a.n, r.lplan,
                                                      mc::as_stream(a.stream));
        if (e != cudaSuccess) return mc::launch_status(e, "softmax long forward");
        return mc::check_launch("softmax long forward");
    }
    if (r.mode == Runner::kOld) {
        if (baseline::old_reg_launch<T>(&a, bwd, nullptr)) return mc::check_launch("old");
        /* the old library took the split path here */
        return launch_plan<T>(&a, split_plan(a), bwd);
    }
    const Plan &p = bwd && r.bplan_set ? r.bplan : r.plan;
    if (!bwd && p.kind == kRows && p.nv == 4) return launch_fwd_nv4<T>(a, p);
    return launch_plan<T>(&a, p, bwd);
}
static mc_status run(Dt d, const Runner &r, const mc_softmax_args &a, bool bwd) {
    switch (d) {
    case F32: return run_t<float>(r, a, bwd);
    case BF16: return run_t<__nv_bfloat16>(r, a, bwd);
    default: return run_t<__half>(r, a, bwd);
    }
}

/* Workspace the runner may need for these args (the library's size, or a forced split's). */
static size_t ws_need(const Runner &r, const mc_softmax_args &a) {
    size_t w = mc_cuda_softmax_workspace_size(&a);
    const int64_t chunks_max = (a.n + 2047) / 2048;
    if (r.mode != Runner::kLibrary) w = std::max(w, (size_t)(a.outer * chunks_max) * 2 * sizeof(float));
    return w;
}

/* x (rows, n) as float: N(0,1) * 4, or the non-finite rows for kNonFinite (row r % 10) */
static void make_x(std::vector<float> &x, int64_t rows, int64_t n, Fill fill, uint64_t seed) {
    Rng g(seed);
    x.resize(rows * n);
    for (auto &v : x) v = 4.f * g.normal();
    if (fill == kNonFinite) fill_nonfinite(x, rows, n, 12.5f); /* logits ~ N(0, 50) */
}

/* One check of forward and backward for (dt, rows, n) through runner r. misalign: offset every
 * pointer by one element. Prints one PASS/FAIL line per direction. */
static void check_case(Dt d, int64_t rows, int64_t n, Fill fill, const Runner &r, bool misalign = false,
                       const char *note = "") {
    const size_t es = dt_size(d), N = (size_t)rows * n, off = misalign ? es : 0;
    std::vector<float> xf;
    make_x(xf, rows, n, fill, (uint64_t)(rows * 1000003 + n * 7 + d));
    std::vector<uint8_t> xb, yb(N * es), dyb, dxb(N * es);
    to_dev_type(d, xf, xb);
    std::vector<double> xd, yref(N), dyd, dxref(N), yout, dxout;
    from_dev_type(d, xb, xd);
    for (int64_t i = 0; i < rows; ++i) ref_fwd_row(&xd[i * n], &yref[i * n], n);
    // backward inputs: y = the reference rounded to the dtype (NaN rows -> the softmax of a random
    // row so the backward has finite inputs), dy ~ N(0, 1)
    std::vector<float> yin(N), dyf(N);
    Rng g(n * 31 + rows);
    for (int64_t i = 0; i < rows; ++i) {
        bool nanrow = std::isnan(yref[i * n]);
        for (int64_t j = 0; j < n; ++j) yin[i * n + j] = nanrow ? (float)(1.0 / n) : (float)yref[i * n + j];
    }
    for (auto &v : dyf) v = g.normal();
    std::vector<uint8_t> yinb;
    to_dev_type(d, yin, yinb);
    to_dev_type(d, dyf, dyb);
    std::vector<double> yind, dyin;
    from_dev_type(d, yinb, yind);
    from_dev_type(d, dyb, dyin);
    for (int64_t i = 0; i < rows; ++i) ref_bwd_row(&dyin[i * n], &yind[i * n], &dxref[i * n], n);
    // The backward's error scale per row: dx_i = y_i (dy_i - sum_j dy_j y_j) cancels where dy_i is
    // close to the sum, so max |dx| understates what the rounding of the sum (eps * sum |dy_j y_j|)
    // and of dy_i contribute: measure against max_i y_i (|dy_i| + sum_j |dy_j y_j|) instead.
    std::vector<double> bscale(rows);
    for (int64_t i = 0; i < rows; ++i) {
        double sabs = 0, m = 0;
        for (int64_t j = 0; j < n; ++j) sabs += std::fabs(dyin[i * n + j] * yind[i * n + j]);
        for (int64_t j = 0; j < n; ++j) m = std::max(m, std::fabs(yind[i * n + j]) * (std::fabs(dyin[i * n + j]) + sabs));
        bscale[i] = m;
    }

    DevBuf X(N * es + 16), Y(N * es + 16), DY(N * es + 16), DX(N * es + 16), YIN(N * es + 16);
    char *xp = (char *)X.p + off, *yp = (char *)Y.p + off, *dyp = (char *)DY.p + off, *dxp = (char *)DX.p + off,
         *yinp = (char *)YIN.p + off;
    CK(cudaMemcpy(xp, xb.data(), N * es, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dyp, dyb.data(), N * es, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(yinp, yinb.data(), N * es, cudaMemcpyHostToDevice));
    CK(cudaMemset(Y.p, 0xff, N * es + 16)); /* NaN in every dtype */
    CK(cudaMemset(DX.p, 0xff, N * es + 16));
    mc_softmax_args a = make_args(d, rows, n);
    const size_t wsb = ws_need(r, a);
    DevBuf WS(wsb);
    a.workspace = WS.p;
    a.workspace_bytes = wsb;
    const std::string fplan = r.mode == Runner::kOld    ? "old reg or split"
                              : r.mode == Runner::kLong ? long_str(r.lplan, es)
                                                        : plan_str(r.mode == Runner::kPlan ? r.plan : lib_plan(a, false));
    const std::string bplan = r.mode == Runner::kOld    ? "old reg or split"
                              : r.mode == Runner::kLong ? "library: " + plan_str(lib_plan(a, true))
                                                        : plan_str(r.mode == Runner::kPlan ? (r.bplan_set ? r.bplan : r.plan) : lib_plan(a, true));
    a.x = xp;
    a.y = yp;
    mc_status s1 = run(d, r, a, false);
    a.x = nullptr;
    a.y = yinp;
    a.dy = dyp;
    a.dx = dxp;
    mc_status s2 = run(d, r, a, true);
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        printf("FAIL %-5s %-4s rows %6lld n %6lld [%s]: CUDA error %s\n", "both", dt_name(d), (long long)rows,
               (long long)n, r.name.c_str(), cudaGetErrorString(e));
        g_fail += 2;
        exit(1); /* the context is gone */
    }
    CK(cudaMemcpy(yb.data(), yp, N * es, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(dxb.data(), dxp, N * es, cudaMemcpyDeviceToHost));
    from_dev_type(d, yb, yout);
    from_dev_type(d, dxb, dxout);
    const double tol = tol_of(d);
    for (int dir = 0; dir < 2; ++dir) {
        int64_t br, bc;
        const double fl = d == F16 ? std::ldexp(1.0, -24) : 0.0;
        const double err = dir == 0 ? compare(yout, yref, rows, n, &br, &bc, fl) : compare(dxout, dxref, rows, n, &br, &bc, fl, &bscale);
        const bool ok = (dir == 0 ? s1 : s2) == MC_STATUS_SUCCESS && err <= tol;
        (ok ? g_pass : g_fail)++;
        printf("%s %-3s %-4s rows %6lld n %6lld %-9s %-8s %-34s max rel err %.2e (tol %.0e)%s%s\n", ok ? "PASS" : "FAIL",
               dir == 0 ? "fwd" : "bwd", dt_name(d), (long long)rows, (long long)n,
               fill == kNonFinite ? "nonfinite" : "random", r.name.c_str(), (dir == 0 ? fplan : bplan).c_str(), err, tol,
               misalign ? " misaligned" : "", note);
        if (!ok && br >= 0) {
            const std::vector<double> &o = dir == 0 ? yout : dxout, &f = dir == 0 ? yref : dxref;
            printf("     first bad: row %lld col %lld out %.9g ref %.9g status %d\n", (long long)br, (long long)bc,
                   o[br * n + (bc < 0 ? 0 : bc)], f[br * n + (bc < 0 ? 0 : bc)], (int)(dir == 0 ? s1 : s2));
        }
    }
}

static Runner forced(const char *name, Plan p) {
    Runner r;
    r.mode = Runner::kPlan;
    r.plan = p;
    r.name = name;
    return r;
}

static Plan rows_plan(int tpr, int nv, int rpb, int csize = 1) {
    Plan p = {kRows, nv, tpr, rpb, csize, 0, 0};
    return p;
}

// ---- long-row forward variants: the library's kernel at forced (C, TPR), the harness's kernel
// (softmax_long.cuh) at the same, and the previous library forward ------------------------------

static const void *long_kernel_of(Dt d) {
    return d == F32 ? longrow::long_kernel<float>() : d == BF16 ? longrow::long_kernel<__nv_bfloat16>() : longrow::long_kernel<__half>();
}

static Runner long_runner(Dt d, int64_t n, int csize, int tpr) {
    Runner r;
    r.mode = Runner::kLong;
    r.lplan = longrow::long_plan(n, (int)dt_size(d), csize, tpr);
    char b[48];
    snprintf(b, sizeof b, "LC%dT%d", csize, tpr);
    r.name = b;
    return r;
}

/* The library's forward forced to C blocks of TPR threads (NV = 8; C = 1: one block, no cluster);
 * the backward is the library's own plan. */
static Runner lib_shape(Dt d, int64_t rows, int64_t n, int csize, int tpr) {
    char b[48];
    snprintf(b, sizeof b, "C%dT%d", csize, tpr);
    Runner r = forced(b, rows_plan(tpr, long_nv(false), 1, csize));
    r.bplan = lib_plan(make_args(d, rows, n), true);
    r.bplan_set = true;
    return r;
}

/* The previous library forward (prev_plan); the backward is the library's. */
static Runner prev_runner(Dt d, int64_t rows, int64_t n) {
    const mc_softmax_args a = make_args(d, rows, n);
    Runner r = forced("prev", prev_plan(a));
    r.bplan = lib_plan(a, true);
    r.bplan_set = true;
    return r;
}

/* The (C, TPR) shapes tried: a block of 128..1024 threads, 1..16 blocks per row. */
static const int kLongShapes[][2] = {{1, 1024}, {1, 512}, {1, 256}, {2, 1024}, {2, 512}, {2, 256}, {4, 512},
                                     {4, 256}, {8, 512}, {8, 256}, {8, 128}, {16, 1024}, {16, 512}, {16, 256}};

/* The (C, TPR) shapes whose registers (8 vectors per thread) cover n at least half used, that can
 * be resident (max active clusters of the library's kernel > 0): for each, the library's kernel
 * (C<c>T<t>) and, with harness, the harness's (LC<c>T<t>). print: one line each with blocks per
 * SM, max active clusters and the waves that `rows` rows take. */
static std::vector<Runner> long_variants(Dt d, int64_t rows, int64_t n, bool print, bool harness = true) {
    std::vector<Runner> out;
    const int vec = 16 / (int)dt_size(d);
    if (n % vec != 0) return out;
    for (auto &cs : kLongShapes) {
        const int c = cs[0], t = cs[1];
        const int64_t span = (int64_t)c * t * longrow::kNV * vec;
        if (span < n || span >= 2 * n) continue;
        const void *k = c > 1 ? cluster_kernel(dt_mc(d), false) : nullptr;
        const int clusters = c > 1 ? active_clusters(k, 0, c, t) : 1 << 20;
        if (clusters <= 0) {
            if (print) printf("  %-4s n %-7lld C%dT%d cannot run (0 active clusters)\n", dt_name(d), (long long)n, c, t);
            continue;
        }
        int bps = 0;
        const void *kb = c > 1 ? k : reinterpret_cast<const void *>(&softmax_fwd_rows<float, 8, false>);
        if (d == BF16 && c == 1) kb = reinterpret_cast<const void *>(&softmax_fwd_rows<__nv_bfloat16, 8, false>);
        if (d == F16 && c == 1) kb = reinterpret_cast<const void *>(&softmax_fwd_rows<__half, 8, false>);
        if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&bps, kb, t, 0) != cudaSuccess) bps = 0;
        (void)cudaGetLastError();
        const int64_t resident = c > 1 ? clusters : (int64_t)bps * mc::sm_count(0);
        if (print)
            printf("  %-4s %5lld x %-7lld C%dT%-5d %d blocks/SM, %lld rows resident, %lld wave(s)\n", dt_name(d), (long long)rows,
                   (long long)n, c, t, bps, (long long)resident, (long long)((rows + resident - 1) / resident));
        out.push_back(lib_shape(d, rows, n, c, t));
        if (harness) {
            Runner r = long_runner(d, n, c, t);
            int hc = 0, hb = 0;
            longrow::long_occupancy(long_kernel_of(d), r.lplan, &hc, &hb);
            if (r.lplan.sv == 0 && hc > 0) out.push_back(r);
        }
    }
    return out;
}

static void long_checks() {
    for (Dt d : {F32, BF16, F16}) {
        for (int64_t n : {32768, 65536, 65544, 131072, 131080, 262144, 524288}) {
            check_case(d, 7, n, kRandom, prev_runner(d, 7, n));
            for (Runner &r : long_variants(d, 7, n, false)) {
                check_case(d, 7, n, kRandom, r);
                if (n == 65536 || n == 131072) check_case(d, 10, n, kNonFinite, r);
            }
        }
        check_case(d, 10, 131072, kNonFinite, prev_runner(d, 10, 131072));
        // (the harness kernel with fewer clusters than rows, its grid-stride loop, gave inf on the
        // H100 in run 5: dropped, the library launches a cluster per row and never takes that loop)
    }
}

static Runner knob(const char *name, Dt d, int64_t rows, int64_t n, int lt, int wide = 0, int spread = 8) {
    mc_softmax_args a = make_args(d, rows, n);
    Runner r = forced(name, lib_plan(a, false, lt, wide, spread));
    r.bplan = lib_plan(a, true, lt, wide, spread);
    r.bplan_set = true;
    return r;
}

static void checks() {
    const int64_t cols[] = {1, 3, 512, 4096, 8192, 8193, 16384, 65536, 131072, 262144, 524288, 1048576};
    Runner lib;
    for (Dt d : {F32, BF16, F16})
        for (int64_t n : cols) {
            const int64_t big = std::max<int64_t>(2, std::min<int64_t>(1000, (1 << 21) / n));
            for (int64_t rows : {(int64_t)1, (int64_t)3, (int64_t)7, big}) check_case(d, rows, n, kRandom, lib);
        }
    for (Dt d : {F32, BF16, F16})
        for (int64_t n : {4096, 8192, 65536, 262144, 8193}) check_case(d, 10, n, kNonFinite, lib);
    check_case(BF16, 4, 1048576, kNonFinite, lib);
    // a 16-byte-aligned width at a misaligned address: the rows plan falls back to generic
    check_case(F32, 5, 4096, kRandom, lib, true);
    check_case(BF16, 5, 65536, kRandom, lib, true);
    // the plan's knobs: blocks of up to 256 / 512 / 1024 threads at every cluster size (cluster
    // sizes 2..16 and 1024-thread blocks), no spreading of few rows, and spreading up to 16
    for (Dt d : {F32, BF16}) {
        for (int64_t n : {8192, 65536, 262144}) {
            for (int lt : {256, 512, 1024}) {
                char name[16];
                snprintf(name, sizeof name, "lt%d", lt);
                Runner r = knob(name, d, 10, n, lt, lt);
                check_case(d, 10, n, kRandom, r);
                check_case(d, 10, n, kNonFinite, r);
            }
            check_case(d, 1, n, kRandom, knob("spread16", d, 1, n, 512, 0, 16));
        }
    }
    // the split path (fallback for rows beyond the cluster limits and for devices without clusters)
    {
        Plan p = {kSplit, 0, 0, 1, 1, 4096, (65536 + 4095) / 4096};
        check_case(F32, 3, 65536, kRandom, forced("split", p));
        check_case(BF16, 10, 65536, kNonFinite, forced("split", p));
        Plan g = {kGeneric, 0, 0, 1, 1, 0, 0};
        check_case(F16, 10, 8192, kNonFinite, forced("generic", g));
    }
    // forced short-row layouts timed below (NV = 4 forward through the harness's launcher), the
    // previous library forward at short and mid widths, and the old library kernels
    check_case(BF16, 333, 4096, kRandom, forced("t128r2v4", rows_plan(128, 4, 2)));
    check_case(BF16, 333, 4096, kRandom, forced("t128v4", rows_plan(128, 4, 1)));
    check_case(BF16, 333, 4096, kRandom, forced("t256v2", rows_plan(256, 2, 1)));
    check_case(BF16, 10, 4096, kNonFinite, forced("t128r2v4", rows_plan(128, 4, 2)));
    for (int64_t n : {8192, 16384})
        for (int64_t rows : {3, 300}) check_case(BF16, rows, n, kRandom, prev_runner(BF16, rows, n));
    {
        Runner old;
        old.mode = Runner::kOld;
        old.name = "old";
        check_case(BF16, 333, 4096, kRandom, old);
        check_case(F32, 7, 131072, kRandom, old);
        check_case(F32, 333, 4096, kRandom, old);
    }
    long_checks();
}

// ---- timing -----------------------------------------------------------------------------------

static double g_copy_tbs = 0;

enum Op { kFwd, kBwd, kFwdBwd };

/* Times op for (d, rows, n) with each runner; returns microseconds per runner (NaN on error). */
static std::vector<double> time_case(Dt d, int64_t rows, int64_t n, Op op, const std::vector<Runner> &runners,
                                     bool print = true) {
    const size_t es = dt_size(d), N = (size_t)rows * n;
    const double per_set = (double)N * es * (op == kFwd ? 2 : 4);
    const int sets = (int)std::max(1.0, std::min(16.0, std::ceil(3.0 * (50 << 20) / per_set)));
    std::vector<DevBuf *> X, Y, DY, DX;
    for (int i = 0; i < sets; ++i) {
        X.push_back(new DevBuf(N * es));
        Y.push_back(new DevBuf(N * es));
        if (op != kFwd) {
            DY.push_back(new DevBuf(N * es));
            DX.push_back(new DevBuf(N * es));
        }
    }
    {
        std::vector<float> xf;
        make_x(xf, std::min<int64_t>(rows, 64), n, kRandom, 7);
        std::vector<uint8_t> xb;
        to_dev_type(d, xf, xb);
        for (int i = 0; i < sets; ++i)
            for (int64_t r0 = 0; r0 < rows; r0 += 64) {
                const int64_t cnt = std::min<int64_t>(64, rows - r0);
                CK(cudaMemcpy((char *)X[i]->p + r0 * n * es, xb.data(), cnt * n * es, cudaMemcpyHostToDevice));
                if (op != kFwd) {
                    CK(cudaMemcpy((char *)DY[i]->p + r0 * n * es, xb.data(), cnt * n * es, cudaMemcpyHostToDevice));
                    CK(cudaMemcpy((char *)Y[i]->p + r0 * n * es, xb.data(), cnt * n * es, cudaMemcpyHostToDevice));
                }
            }
    }
    const double bytes = (double)N * es * (op == kFwd ? 2 : op == kBwd ? 3 : 5);
    std::vector<double> us;
    for (const Runner &r : runners) {
        mc_softmax_args a = make_args(d, rows, n);
        const size_t wsb = ws_need(r, a);
        DevBuf WS(wsb);
        a.workspace = WS.p;
        a.workspace_bytes = wsb;
        bool bad = false;
        const float ms = time_ms(
            [&](int k) {
                const int i = k % sets;
                mc_softmax_args b = a;
                if (op != kBwd) {
                    b.x = X[i]->p;
                    b.y = Y[i]->p;
                    if (run(d, r, b, false) != MC_STATUS_SUCCESS) bad = true;
                }
                if (op != kFwd) {
                    b.x = nullptr;
                    b.y = Y[i]->p;
                    b.dy = DY[i]->p;
                    b.dx = DX[i]->p;
                    if (run(d, r, b, true) != MC_STATUS_SUCCESS) bad = true;
                }
            });
        const double u = bad ? NAN : ms * 1e3;
        us.push_back(u);
        if (print) {
            std::string plan;
            if (r.mode == Runner::kLibrary) {
                plan = plan_str(lib_plan(a, op == kBwd));
                if (op == kFwdBwd) plan += " / " + plan_str(lib_plan(a, true));
            } else if (r.mode == Runner::kPlan) {
                plan = plan_str(r.plan);
                if (op != kFwd && r.bplan_set) plan += " / " + plan_str(r.bplan);
            } else if (r.mode == Runner::kLong) {
                plan = op == kBwd ? "library " + plan_str(lib_plan(a, true)) : long_str(r.lplan, es);
            } else {
                plan = "old reg or split";
            }
            printf("  %-8s %-4s %6lld x %-6lld %-7s %-9s %-58s %9.1f us %5.2f TB/s %4.0f%% of copy\n",
                   op == kFwd ? "fwd" : op == kBwd ? "bwd" : "fwd+bwd", dt_name(d), (long long)rows, (long long)n, "",
                   r.name.c_str(), plan.c_str(), u, bytes / (u * 1e-6) / 1e12, 100.0 * bytes / (u * 1e-6) / 1e12 / g_copy_tbs);
        }
    }
    for (auto p : X) delete p;
    for (auto p : Y) delete p;
    for (auto p : DY) delete p;
    for (auto p : DX) delete p;
    return us;
}

static void timings() {
    g_copy_tbs = copy_rate();
    printf("\n== memcpy D2D 1 GiB: %.2f TB/s (read + write) ==\n", g_copy_tbs);
    Runner lib, old;
    old.mode = Runner::kOld;
    old.name = "old";

    printf("\n== targets ==\n");
    {
        std::vector<Runner> rs = {lib, old, knob("lt256", F32, 64, 131072, 256, 256), knob("lt1024", F32, 64, 131072, 1024, 1024)};
        std::vector<Runner> fw = rs;
        fw.insert(fw.begin() + 1, prev_runner(F32, 64, 131072));
        printf("long-row variants, 64 x 131072 fp32:\n");
        for (Runner &r : long_variants(F32, 64, 131072, true)) fw.push_back(r);
        time_case(F32, 64, 131072, kFwd, fw);
        time_case(F32, 64, 131072, kBwd, rs);
    }
    printf("\n== long rows, forward: library vs prev (16-bit as floats, 4 vectors) vs forced (C, TPR) ==\n");
    {
        const struct { Dt d; int64_t rows, n; } shapes[] = {{BF16, 128, 131072}, {F16, 128, 131072}, {BF16, 256, 65536},
                                                            {F32, 256, 65536},   {BF16, 64, 262144}, {BF16, 512, 32768},
                                                            {BF16, 1024, 16384}, {BF16, 2048, 8192}, {BF16, 4, 1048576},
                                                            {BF16, 3, 131072}};
        for (auto &sh : shapes) {
            printf("long-row variants, %lld x %lld %s:\n", (long long)sh.rows, (long long)sh.n, dt_name(sh.d));
            std::vector<Runner> rs = {lib, prev_runner(sh.d, sh.rows, sh.n)};
            for (Runner &r : long_variants(sh.d, sh.rows, sh.n, true)) rs.push_back(r);
            time_case(sh.d, sh.rows, sh.n, kFwd, rs);
        }
        time_case(BF16, 128, 131072, kFwdBwd, {lib, prev_runner(BF16, 128, 131072)});
    }
    {
        std::vector<Runner> rs = {lib, old, knob("spread16", F32, 1, 262144, 512, 0, 16), knob("lt1024", F32, 1, 262144, 1024, 1024)};
        time_case(F32, 1, 262144, kFwd, rs);
        time_case(F32, 1, 262144, kBwd, rs);
    }
    {
        std::vector<Runner> rs = {lib, old, forced("t128r2v4", rows_plan(128, 4, 2)), forced("t128v4", rows_plan(128, 4, 1))};
        time_case(BF16, 16384, 4096, kFwd, rs);
        time_case(BF16, 16384, 4096, kBwd, rs);
        time_case(BF16, 16384, 4096, kFwdBwd, {lib, old, forced("t128r2v4", rows_plan(128, 4, 2))});
    }
    {
        std::vector<Runner> rs = {lib, old};
        time_case(F32, 4096, 4096, kFwd, rs);
    }

    printf("\n== sweep at 16M elements (rows x cols = 2^24), forward; TB/s ==\n");
    std::vector<std::string> lines;
    for (int64_t n = 512; n <= 262144; n *= 2) {
        const int64_t rows = (1 << 24) / n;
        char line[256];
        int pos = snprintf(line, sizeof line, "%-7lld |", (long long)n);
        for (Dt d : {F32, BF16}) {
            std::vector<Runner> rs = {lib, prev_runner(d, rows, n), old, knob("lt256", d, rows, n, 256, 256),
                                      knob("lt1024", d, rows, n, 1024, 1024)};
            std::vector<double> us = time_case(d, rows, n, kFwd, rs, true);
            const double bytes = (double)(1 << 24) * dt_size(d) * 2;
            for (double u : us) pos += snprintf(line + pos, sizeof line - pos, " %5.2f", bytes / (u * 1e-6) / 1e12);
            pos += snprintf(line + pos, sizeof line - pos, "%*s|", 12, "");
        }
        lines.push_back(line);
    }
    printf("\n== sweep summary (TB/s; copy %.2f) ==\n", g_copy_tbs);
    printf("%-7s | %-42s | %-42s\n", "cols", "fp32: library prev old lt256 lt1024", "bf16: library prev old lt256 lt1024");
    for (auto &l : lines) printf("%s\n", l.c_str());

    printf("\n== sweep at 16M elements from 32768 cols, forward: library vs prev vs forced (C, TPR) ==\n");
    std::vector<std::string> llines;
    for (int64_t n = 32768; n <= 262144; n *= 2) {
        const int64_t rows = (1 << 24) / n;
        for (Dt d : {F32, BF16}) {
            std::vector<Runner> rs = {lib, prev_runner(d, rows, n)};
            for (Runner &r : long_variants(d, rows, n, true)) rs.push_back(r);
            std::vector<double> us = time_case(d, rows, n, kFwd, rs, true);
            const double bytes = (double)(1 << 24) * dt_size(d) * 2;
            std::string l;
            char b[64];
            snprintf(b, sizeof b, "%-7lld %-4s", (long long)n, dt_name(d));
            l += b;
            for (size_t i = 0; i < rs.size(); ++i) {
                snprintf(b, sizeof b, " %s %.2f", rs[i].name.c_str(), bytes / (us[i] * 1e-6) / 1e12);
                l += b;
            }
            llines.push_back(l);
        }
    }
    printf("\n== long sweep summary (TB/s; copy %.2f) ==\n", g_copy_tbs);
    for (auto &l : llines) printf("%s\n", l.c_str());

    printf("\n== sweep at 16M elements, backward (library vs old) ==\n");
    for (int64_t n = 512; n <= 262144; n *= 4)
        for (Dt d : {F32, BF16}) time_case(d, (1 << 24) / n, n, kBwd, {lib, old});
}

template <typename T> static void print_fwd_regs(Dt d) {
    const void *ks[] = {reinterpret_cast<const void *>(&softmax_fwd_rows<T, 8, true>),
                        reinterpret_cast<const void *>(&softmax_fwd_rows<T, 8, false>),
                        reinterpret_cast<const void *>(&softmax_fwd_rows<T, 4, true>), long_kernel_of(d)};
    const char *names[] = {"library fwd NV=8 cluster", "library fwd NV=8 one block", "prev fwd NV=4 cluster", "harness LC"};
    for (int i = 0; i < 4; ++i) {
        cudaFuncAttributes fa;
        CK(cudaFuncGetAttributes(&fa, ks[i]));
        printf("%-4s %-26s %d registers/thread, %zu B local (spills)\n", dt_name(d), names[i], fa.numRegs, fa.localSizeBytes);
    }
}

int main(int argc, char **argv) {
    const bool do_check = argc < 2 || strcmp(argv[1], "time") != 0;
    const bool do_time = argc < 2 || strcmp(argv[1], "check") != 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    CK(cudaSetDevice(0));
    printf("softmax rows harness: %s, %d SMs, cc %d.%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
    // what the occupancy queries say (the plan's cluster checks)
    for (Dt d : {F32, BF16})
        for (int bwd = 0; bwd < 2; ++bwd) {
            printf("max active clusters, %s %s:", dt_name(d), bwd ? "bwd" : "fwd");
            for (int c : {2, 4, 8, 16})
                for (int t : {256, 512, 1024}) printf(" C%dxT%d=%d", c, t, active_clusters(cluster_kernel(dt_mc(d), bwd), 0, c, t));
            printf("\n");
        }
    // the long-row forward kernels' resources, and the occupancy of each (C, TPR) at the timed shapes
    print_fwd_regs<float>(F32);
    print_fwd_regs<__nv_bfloat16>(BF16);
    print_fwd_regs<__half>(F16);
    printf("long-row forward shapes (occupancy of the library's kernel):\n");
    {
        const struct { Dt d; int64_t rows, n; } shapes[] = {{F32, 64, 131072},  {BF16, 128, 131072}, {BF16, 256, 65536},
                                                            {F32, 256, 65536},  {F32, 512, 32768},   {BF16, 512, 32768},
                                                            {F32, 64, 262144},  {BF16, 64, 262144},  {BF16, 4, 1048576}};
        for (auto &sh : shapes) {
            const mc_softmax_args a = make_args(sh.d, sh.rows, sh.n);
            printf("  %-4s %5lld x %-7lld library %s, prev %s\n", dt_name(sh.d), (long long)sh.rows, (long long)sh.n,
                   plan_str(lib_plan(a, false)).c_str(), plan_str(prev_plan(a)).c_str());
            long_variants(sh.d, sh.rows, sh.n, true, false);
        }
    }
    if (do_check) {
        checks();
        printf("\nchecks: %d passed, %d failed\n", g_pass, g_fail);
    }
    if (do_time) timings();
    printf("\n%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
