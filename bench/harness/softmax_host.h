/* Host side shared by the softmax harnesses (softmax_rows.cu, softmax_l2.cu): dtypes and their
 * conversions, the random source, the input rows (random, and the non-finite cases torch's
 * semantics cover), torch's softmax of a row in double, the per-dtype error bound, a device buffer,
 * the library's argument block, plan_str (one line naming a launch plan) and the copy rate.
 * Include after the library's softmax.cu and harness.h. */
#ifndef MC_BENCH_SOFTMAX_HOST_H
#define MC_BENCH_SOFTMAX_HOST_H

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h" /* CK() */

enum Dt { F32, BF16, F16 };
static const char *dt_name(Dt d) { return d == F32 ? "f32" : d == BF16 ? "bf16" : "f16"; }
static mc_dtype dt_mc(Dt d) { return d == F32 ? MC_DTYPE_F32 : d == BF16 ? MC_DTYPE_BF16 : MC_DTYPE_F16; }
static size_t dt_size(Dt d) { return d == F32 ? 4 : 2; }

/* Element k of a buffer in dtype d, as a double. */
static double stored_at(Dt d, const uint8_t *bytes, size_t k) {
    if (d == F32) {
        float v;
        memcpy(&v, bytes + k * 4, 4);
        return v;
    }
    if (d == BF16) {
        __nv_bfloat16 h;
        memcpy(&h, bytes + k * 2, 2);
        return __bfloat162float(h);
    }
    __half h;
    memcpy(&h, bytes + k * 2, 2);
    return __half2float(h);
}
static void to_dev_type(Dt d, const std::vector<float> &f, std::vector<uint8_t> &out) {
    out.resize(f.size() * dt_size(d));
    for (size_t i = 0; i < f.size(); ++i) {
        if (d == F32) {
            memcpy(&out[i * 4], &f[i], 4);
        } else if (d == BF16) {
            __nv_bfloat16 h = __float2bfloat16_rn(f[i]);
            memcpy(&out[i * 2], &h, 2);
        } else {
            __half h = __float2half_rn(f[i]);
            memcpy(&out[i * 2], &h, 2);
        }
    }
}
static void from_dev_type(Dt d, const std::vector<uint8_t> &in, std::vector<double> &f) {
    f.resize(in.size() / dt_size(d));
    for (size_t i = 0; i < f.size(); ++i) f[i] = stored_at(d, in.data(), i);
}

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t u32() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return (uint32_t)(s >> 11);
    }
    double uni() { return (u32() + 0.5) / 4294967296.0; } /* (0, 1) */
    float normal() {
        const double u = uni(), v = uni();
        return (float)(std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v));
    }
};

enum Fill { kRandom, kNonFinite };

/* Row r % 10 of x (rows, n) made one of the non-finite / extreme cases (x holds random values);
 * big: the factor of case 7 (large logits). */
static void fill_nonfinite(std::vector<float> &x, int64_t rows, int64_t n, float big) {
    for (int64_t r = 0; r < rows; ++r) {
        float *p = &x[r * n];
        switch (r % 10) {
        case 0: std::fill(p, p + n, -INFINITY); break;                  // NaN row
        case 1: p[n / 3] = INFINITY; break;                             // NaN row
        case 2: p[n / 2] = NAN; break;                                  // NaN row
        case 3: for (int64_t i = 0; i < n; i += 2) p[i] = -INFINITY; break;
        case 4: std::fill(p, p + n / 2, -INFINITY); break;              // whole blocks of -inf
        case 5:                                                         // -inf blocks, max near -1000
            std::fill(p, p + n / 2, -INFINITY);
            for (int64_t i = n / 2; i < n; ++i) p[i] = -1000.f + p[i];
            break;
        case 6: p[n - 1] = INFINITY; p[0] = -INFINITY; break;            // NaN row
        case 7: for (int64_t i = 0; i < n; ++i) p[i] *= big; break;     // large logits
        case 8: std::fill(p, p + n, -INFINITY); p[n - 1] = 3.f; break;  // one finite value
        default: p[0] = NAN; std::fill(p + 1, p + n, -INFINITY); break; // NaN among -inf: NaN
        }
    }
}

/* torch's softmax of one row in double (input as stored in the dtype) */
static void ref_fwd_row(const double *x, double *y, int64_t n) {
    double m = -INFINITY;
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
        if (std::isnan(x[i])) nan = true;
        else m = std::max(m, x[i]);
    }
    if (nan || m == INFINITY || m == -INFINITY) {
        for (int64_t i = 0; i < n; ++i) y[i] = NAN;
        return;
    }
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
    for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - m) / s;
}

/* per-dtype bound on max |out - ref| / max |ref| of a row: the output's rounding (half an ulp of
 * the largest element) with room for the fp32 arithmetic and __expf (a few ulp) */
static double tol_of(Dt d) { return d == F32 ? 1e-5 : d == BF16 ? 8e-3 : 1.2e-3; }

struct DevBuf {
    void *p = nullptr;
    size_t bytes = 0;
    explicit DevBuf(size_t b) : bytes(b) { CK(cudaMalloc(&p, b ? b : 1)); }
    ~DevBuf() { cudaFree(p); }
    DevBuf(const DevBuf &) = delete;
    DevBuf &operator=(const DevBuf &) = delete;
};

static mc_softmax_args make_args(Dt d, int64_t rows, int64_t n) {
    mc_softmax_args a;
    memset(&a, 0, sizeof a);
    a.outer = rows;
    a.n = n;
    a.inner = 1;
    a.dtype = dt_mc(d);
    a.device = 0;
    a.stream = nullptr;
    return a;
}

/* One line naming a softmax.cu launch plan (the library's or a harness's). */
static std::string plan_str(const Plan &p) {
    char b[128];
    switch (p.kind) {
    case kRows:
        if (p.csize > 1) snprintf(b, sizeof b, "cluster C=%d tpr=%d nv=%d", p.csize, p.tpr, p.nv);
        else snprintf(b, sizeof b, "rows tpr=%d nv=%d rpb=%d", p.tpr, p.nv, p.rpb);
        break;
    case kSplit: snprintf(b, sizeof b, "split L=%lld chunks=%lld", (long long)p.L, (long long)p.chunks); break;
    case kGeneric: snprintf(b, sizeof b, "generic"); break;
    default: snprintf(b, sizeof b, "column"); break;
    }
    return b;
}

/* Device-to-device copy rate, bytes read + written, TB/s (1 GiB). */
static double copy_rate() {
    const size_t B = 1ull << 30;
    DevBuf a(B), b(B);
    CK(cudaMemset(a.p, 1, B));
    const float ms = time_ms([&] { CK(cudaMemcpyAsync(b.p, a.p, B, cudaMemcpyDeviceToDevice)); });
    return 2.0 * B / (ms * 1e-3) / 1e12;
}

#endif
