/* C API tests: bad arguments return the right status and never crash; the CPU kernels match
 * double-precision references. Closes with "N passed, N failed". */
#include "metalcore.h"
#include "../../src/core/internal.h" /* the 16-bit float conversions */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            ++passed;                                                                              \
        } else {                                                                                   \
            ++failed;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                           \
            printf(__VA_ARGS__);                                                                   \
            printf("  [last error: %s]\n", mc_last_error());                                      \
        }                                                                                          \
    } while (0)

static const mc_device cpu = {MC_DEVICE_CPU, 0};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* xorshift64*, uniform in [-1, 1) */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ull) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static mc_tensor make(void *data, mc_dtype dt, int ndim, const int64_t *shape) {
    mc_tensor t;
    mc_tensor_init_contiguous(&t, data, dt, ndim, shape, cpu);
    return t;
}

static void test_basics(void) {
    CHECK(strcmp(mc_status_string(MC_STATUS_SUCCESS), "success") == 0, "status string\n");
    for (int s = 0; s < MC_STATUS_COUNT_; ++s)
        CHECK(mc_status_string((mc_status)s) && mc_status_string((mc_status)s)[0], "status %d string\n", s);
    CHECK(strcmp(mc_status_string((mc_status)999), "unknown status") == 0, "out-of-range status\n");
    CHECK(mc_dtype_size(MC_DTYPE_BF16) == 2 && mc_dtype_size(MC_DTYPE_F64) == 8, "dtype sizes\n");
    CHECK(mc_dtype_size((mc_dtype)-1) == 0 && strcmp(mc_dtype_name((mc_dtype)77), "invalid") == 0,
          "invalid dtype\n");
    CHECK(strcmp(mc_version(), "0.1.0") == 0, "version\n");
    CHECK(mc_cuda_device_count() >= 0, "device count\n");
    CHECK(mc_has_cuda() == 0 || mc_has_cuda() == 1, "has_cuda\n");
    int64_t shape[2] = {3, -1};
    mc_tensor t;
    CHECK(mc_tensor_init_contiguous(&t, NULL, MC_DTYPE_F32, 2, shape, cpu) == MC_STATUS_INVALID_ARGUMENT,
          "negative extent\n");
    CHECK(mc_tensor_init_contiguous(&t, NULL, MC_DTYPE_F32, 9, shape, cpu) == MC_STATUS_INVALID_ARGUMENT,
          "rank too large\n");
    CHECK(mc_tensor_init_contiguous(NULL, NULL, MC_DTYPE_F32, 1, shape, cpu) == MC_STATUS_INVALID_ARGUMENT,
          "NULL descriptor\n");
}


static void test_rmsnorm_bad_arguments(void) {
    float xbuf[12], ybuf[12], w[4], rs[3];
    int64_t s2[2] = {3, 4}, s1[1] = {4}, s1r[1] = {3}, s1bad[1] = {5};
    mc_tensor x = make(xbuf, MC_DTYPE_F32, 2, s2), y = make(ybuf, MC_DTYPE_F32, 2, s2);
    mc_tensor wt = make(w, MC_DTYPE_F32, 1, s1), r = make(rs, MC_DTYPE_F32, 1, s1r);
    for (int i = 0; i < 12; ++i) xbuf[i] = (float)i;
    for (int i = 0; i < 4; ++i) w[i] = 1.0f;

    CHECK(mc_rmsnorm_forward(NULL, &wt, 1e-6, &y, &r, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL x\n");
    CHECK(mc_rmsnorm_forward(&x, &wt, 1e-6, NULL, &r, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL y\n");
    CHECK(mc_last_error()[0] != '\0', "detail is set\n");
    CHECK(mc_rmsnorm_forward(&x, &wt, 1e-6, &y, &r, NULL) == MC_STATUS_SUCCESS, "valid call\n");
    CHECK(mc_last_error()[0] == '\0', "detail cleared on success\n");

    mc_tensor wbad = make(w, MC_DTYPE_F32, 1, s1bad);
    CHECK(mc_rmsnorm_forward(&x, &wbad, 1e-6, &y, &r, NULL) == MC_STATUS_SHAPE_MISMATCH, "weight size\n");
    mc_tensor wi = make(w, MC_DTYPE_I32, 1, s1);
    CHECK(mc_rmsnorm_forward(&x, &wi, 1e-6, &y, &r, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "weight dtype\n");
    mc_tensor xi = make(xbuf, MC_DTYPE_I32, 2, s2);
    CHECK(mc_rmsnorm_forward(&xi, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "x dtype\n");
    mc_tensor ybf = make(ybuf, MC_DTYPE_BF16, 2, s2);
    CHECK(mc_rmsnorm_forward(&x, NULL, 1e-6, &ybf, NULL, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "y dtype\n");
    mc_tensor xbad = x;
    xbad.dtype = (mc_dtype)42;
    CHECK(mc_rmsnorm_forward(&xbad, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "bad dtype code\n");
    xbad = x;
    xbad.ndim = 12;
    CHECK(mc_rmsnorm_forward(&xbad, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "bad rank\n");
    xbad = x;
    xbad.data = NULL;
    CHECK(mc_rmsnorm_forward(&xbad, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL data\n");
    xbad = x; /* a transposed view: not contiguous */
    xbad.shape[0] = 4; xbad.shape[1] = 3; xbad.strides[0] = 1; xbad.strides[1] = 4;
    mc_tensor yt = make(ybuf, MC_DTYPE_F32, 2, (int64_t[]){4, 3});
    CHECK(mc_rmsnorm_forward(&xbad, NULL, 1e-6, &yt, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "non-contiguous\n");
    mc_tensor ysh = make(ybuf, MC_DTYPE_F32, 2, (int64_t[]){4, 3});
    CHECK(mc_rmsnorm_forward(&x, NULL, 1e-6, &ysh, NULL, NULL) == MC_STATUS_SHAPE_MISMATCH, "y shape\n");
    mc_tensor rbad = make(rs, MC_DTYPE_F32, 1, (int64_t[]){2});
    CHECK(mc_rmsnorm_forward(&x, NULL, 1e-6, &y, &rbad, NULL) == MC_STATUS_SHAPE_MISMATCH, "rstd size\n");
    CHECK(mc_rmsnorm_forward(&x, NULL, -1.0, &y, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "negative eps\n");
    CHECK(mc_rmsnorm_forward(&x, NULL, NAN, &y, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "NaN eps\n");
    CHECK(mc_rmsnorm_forward(&x, NULL, 1e-6, &x, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "aliasing\n");
    mc_tensor x0 = make(xbuf, MC_DTYPE_F32, 2, (int64_t[]){3, 0});
    CHECK(mc_rmsnorm_forward(&x0, NULL, 1e-6, &x0, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "n == 0\n");
    mc_tensor xe = make(NULL, MC_DTYPE_F32, 2, (int64_t[]){0, 4});
    mc_tensor ye = make(NULL, MC_DTYPE_F32, 2, (int64_t[]){0, 4});
    CHECK(mc_rmsnorm_forward(&xe, NULL, 1e-6, &ye, NULL, NULL) == MC_STATUS_SUCCESS, "no rows\n");

    mc_tensor xg = x;
    xg.device.type = MC_DEVICE_CUDA;
    xg.device.index = 0;
    mc_status st = mc_rmsnorm_forward(&xg, NULL, 1e-6, &y, NULL, NULL);
    if (mc_has_cuda() && mc_cuda_device_count() > 0)
        CHECK(st == MC_STATUS_DEVICE_MISMATCH, "device mismatch (%d)\n", st);
    else
        CHECK(st == MC_STATUS_UNSUPPORTED_DEVICE, "CUDA tensor without a CUDA device (%d)\n", st);
    xg.device.index = 1000;
    CHECK(mc_rmsnorm_forward(&xg, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_UNSUPPORTED_DEVICE, "bad ordinal\n");
    xg.device.type = (mc_device_type)7;
    CHECK(mc_rmsnorm_forward(&xg, NULL, 1e-6, &y, NULL, NULL) == MC_STATUS_UNSUPPORTED_DEVICE, "bad device type\n");

    /* backward */
    float dyb[12], dxb[12], dwb[4];
    mc_tensor dy = make(dyb, MC_DTYPE_F32, 2, s2), dx = make(dxb, MC_DTYPE_F32, 2, s2);
    mc_tensor dw = make(dwb, MC_DTYPE_F32, 1, s1);
    size_t ws = 0;
    CHECK(mc_rmsnorm_backward_workspace_size(&x, &wt, 1, &ws) == MC_STATUS_SUCCESS && ws > 0, "ws size\n");
    CHECK(mc_rmsnorm_backward_workspace_size(&x, &wt, 1, NULL) == MC_STATUS_INVALID_ARGUMENT, "ws NULL\n");
    CHECK(mc_rmsnorm_backward(&dy, &x, &wt, &r, &dx, &dw, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "missing workspace\n");
    CHECK(mc_rmsnorm_backward(&dy, &x, &wt, NULL, &dx, &dw, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "missing rstd\n");
    CHECK(mc_rmsnorm_backward(&dy, &x, NULL, &r, &dx, &dw, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "dweight without weight\n");
    mc_tensor dwh = make(dwb, MC_DTYPE_BF16, 1, s1);
    CHECK(mc_rmsnorm_backward(&dy, &x, &wt, &r, &dx, &dwh, NULL, 0, NULL) == MC_STATUS_UNSUPPORTED_DTYPE,
          "dweight dtype\n");
    CHECK(mc_rmsnorm_backward(&dy, &x, &wt, &r, &x, NULL, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "dx aliasing x\n");
}

static void test_rmsnorm_values(mc_dtype dt, mc_dtype wdt, int64_t rows, int64_t n, double tol) {
    size_t es = mc_dtype_size(dt), wes = mc_dtype_size(wdt);
    int64_t shape[2] = {rows, n}, wshape[1] = {n}, rshape[1] = {rows};
    mc_dtype rdt = dt == MC_DTYPE_F64 ? MC_DTYPE_F64 : MC_DTYPE_F32;
    double *xd = malloc(sizeof(double) * rows * n), *wd = malloc(sizeof(double) * n);
    double *gd = malloc(sizeof(double) * rows * n);
    void *xb = malloc(es * rows * n), *yb = malloc(es * rows * n), *wb = malloc(wes * n);
    void *gb = malloc(es * rows * n), *dxb = malloc(es * rows * n), *dwb = malloc(wes * n);
    void *rb = malloc(mc_dtype_size(rdt) * rows);
    /* Values exactly representable in every dtype: x, w, dy in multiples of 1/64. */
    for (int64_t i = 0; i < rows * n; ++i) {
        xd[i] = floor(urand() * 128.0) / 64.0;
        gd[i] = floor(urand() * 128.0) / 64.0;
    }
    for (int64_t j = 0; j < n; ++j) wd[j] = 0.5 + floor((urand() + 1.0) * 32.0) / 64.0;
    mc_tensor x = make(xb, dt, 2, shape), y = make(yb, dt, 2, shape), w = make(wb, wdt, 1, wshape);
    mc_tensor g = make(gb, dt, 2, shape), dx = make(dxb, dt, 2, shape), dw = make(dwb, wdt, 1, wshape);
    mc_tensor r = make(rb, rdt, 1, rshape);
    /* Store through a float32 round trip: the values above are exact in every dtype. */
    for (int64_t i = 0; i < rows * n; ++i) {
        switch (dt) {
        case MC_DTYPE_F32: ((float *)xb)[i] = (float)xd[i]; ((float *)gb)[i] = (float)gd[i]; break;
        case MC_DTYPE_F64: ((double *)xb)[i] = xd[i]; ((double *)gb)[i] = gd[i]; break;
        default: {
            /* bf16 keeps the top 16 bits of a float; f16 is exact for these small multiples */
            float fx = (float)xd[i], fg = (float)gd[i];
            uint32_t ux, ug;
            memcpy(&ux, &fx, 4);
            memcpy(&ug, &fg, 4);
            if (dt == MC_DTYPE_BF16) {
                ((uint16_t *)xb)[i] = (uint16_t)(ux >> 16);
                ((uint16_t *)gb)[i] = (uint16_t)(ug >> 16);
            } else {
                /* f16: sign, exponent rebias, mantissa; values are normal or zero */
                uint16_t hx = 0, hg = 0;
                if (fx != 0.0f) hx = (uint16_t)(((ux >> 16) & 0x8000u) | ((((ux >> 23) & 0xffu) - 112u) << 10) | ((ux >> 13) & 0x3ffu));
                if (fg != 0.0f) hg = (uint16_t)(((ug >> 16) & 0x8000u) | ((((ug >> 23) & 0xffu) - 112u) << 10) | ((ug >> 13) & 0x3ffu));
                ((uint16_t *)xb)[i] = hx;
                ((uint16_t *)gb)[i] = hg;
            }
        }
        }
    }
    for (int64_t j = 0; j < n; ++j) {
        float f = (float)wd[j];
        if (wdt == MC_DTYPE_F32) ((float *)wb)[j] = f;
        else if (wdt == MC_DTYPE_F64) ((double *)wb)[j] = wd[j];
        else {
            uint32_t u;
            memcpy(&u, &f, 4);
            if (wdt == MC_DTYPE_BF16) ((uint16_t *)wb)[j] = (uint16_t)(u >> 16);
            else ((uint16_t *)wb)[j] = (uint16_t)(((u >> 16) & 0x8000u) | ((((u >> 23) & 0xffu) - 112u) << 10) | ((u >> 13) & 0x3ffu));
        }
    }
    mc_status s = mc_rmsnorm_forward(&x, &w, 1e-5, &y, &r, NULL);
    CHECK(s == MC_STATUS_SUCCESS, "forward %s\n", mc_dtype_name(dt));
    size_t wsb = 0;
    mc_rmsnorm_backward_workspace_size(&x, &w, 1, &wsb);
    void *ws = malloc(wsb);
    s = mc_rmsnorm_backward(&g, &x, &w, &r, &dx, &dw, ws, wsb, NULL);
    CHECK(s == MC_STATUS_SUCCESS, "backward %s\n", mc_dtype_name(dt));

    /* reference in double */
    double maxe_y = 0, maxe_dx = 0, maxe_dw = 0, scale_y = 0, scale_dx = 0, scale_dw = 0;
    double *dwref = calloc((size_t)n, sizeof(double));
    for (int64_t i = 0; i < rows; ++i) {
        double ss = 0, dot = 0;
        for (int64_t j = 0; j < n; ++j) ss += xd[i * n + j] * xd[i * n + j];
        double rs = 1.0 / sqrt(ss / n + 1e-5);
        for (int64_t j = 0; j < n; ++j) dot += gd[i * n + j] * wd[j] * xd[i * n + j];
        for (int64_t j = 0; j < n; ++j) {
            double yr = xd[i * n + j] * rs * wd[j];
            double dxr = rs * (gd[i * n + j] * wd[j] - xd[i * n + j] * rs * rs * dot / n);
            dwref[j] += gd[i * n + j] * xd[i * n + j] * rs;
            double yv, dxv;
            switch (dt) {
            case MC_DTYPE_F32: yv = ((float *)yb)[i * n + j]; dxv = ((float *)dxb)[i * n + j]; break;
            case MC_DTYPE_F64: yv = ((double *)yb)[i * n + j]; dxv = ((double *)dxb)[i * n + j]; break;
            default: {
                uint16_t hy = ((uint16_t *)yb)[i * n + j], hd = ((uint16_t *)dxb)[i * n + j];
                if (dt == MC_DTYPE_BF16) {
                    uint32_t a = (uint32_t)hy << 16, b = (uint32_t)hd << 16;
                    float fa, fb;
                    memcpy(&fa, &a, 4);
                    memcpy(&fb, &b, 4);
                    yv = fa;
                    dxv = fb;
                } else {
                    /* decode normal f16 (test magnitudes stay normal or zero) */
                    uint16_t hs[2] = {hy, hd};
                    double out[2];
                    for (int k = 0; k < 2; ++k) {
                        int e = (hs[k] >> 10) & 0x1f, m = hs[k] & 0x3ff;
                        double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
                        out[k] = (hs[k] & 0x8000) ? -v : v;
                    }
                    yv = out[0];
                    dxv = out[1];
                }
            }
            }
            maxe_y = fmax(maxe_y, fabs(yv - yr));
            maxe_dx = fmax(maxe_dx, fabs(dxv - dxr));
            scale_y = fmax(scale_y, fabs(yr));
            /* dx cancels (n = 1 gives ~0): measure against the size of its terms */
            scale_dx = fmax(scale_dx, fabs(rs * gd[i * n + j] * wd[j]));
        }
    }
    for (int64_t j = 0; j < n; ++j) {
        double v;
        if (wdt == MC_DTYPE_F32) v = ((float *)dwb)[j];
        else if (wdt == MC_DTYPE_F64) v = ((double *)dwb)[j];
        else if (wdt == MC_DTYPE_BF16) {
            uint32_t a = (uint32_t)((uint16_t *)dwb)[j] << 16;
            float f;
            memcpy(&f, &a, 4);
            v = f;
        } else {
            uint16_t h = ((uint16_t *)dwb)[j];
            int e = (h >> 10) & 0x1f, m = h & 0x3ff;
            v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
            if (h & 0x8000) v = -v;
        }
        maxe_dw = fmax(maxe_dw, fabs(v - dwref[j]));
        scale_dw = fmax(scale_dw, fabs(dwref[j]));
    }
    CHECK(maxe_y <= tol * scale_y, "y %s rows=%lld n=%lld: err %.3g scale %.3g\n", mc_dtype_name(dt),
          (long long)rows, (long long)n, maxe_y, scale_y);
    CHECK(maxe_dx <= tol * scale_dx, "dx %s: err %.3g scale %.3g\n", mc_dtype_name(dt), maxe_dx, scale_dx);
    CHECK(maxe_dw <= tol * scale_dw, "dw %s: err %.3g scale %.3g\n", mc_dtype_name(dt), maxe_dw, scale_dw);
    free(xd); free(wd); free(gd); free(xb); free(yb); free(wb); free(gb); free(dxb); free(dwb);
    free(rb); free(ws); free(dwref);
}

static void test_half_conversions(void) {
    /* normal, subnormal, overflow and round-half-to-even ties */
    const struct { float f; uint16_t h; } f16[] = {
        {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff}, {65520.0f, 0x7c00}, {1e9f, 0x7c00},
        {5.9604645e-08f, 0x0001}, {2.9802322e-08f, 0x0000}, {6.1035156e-05f, 0x0400},
        {1.0009765625f, 0x3c01}, {1.00048828125f, 0x3c00}, {1.00146484375f, 0x3c02}, {0.0f, 0x0000},
        {-0.0f, 0x8000}, {INFINITY, 0x7c00}, {-INFINITY, 0xfc00}, {8.940697e-08f, 0x0002},
    };
    for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; ++i) {
        CHECK(mc_f32_to_f16(f16[i].f) == f16[i].h, "f32->f16 %g: got %04x want %04x\n", f16[i].f,
              mc_f32_to_f16(f16[i].f), f16[i].h);
    }
    CHECK(mc_f16_to_f32(0x0001) == 5.9604645e-08f && mc_f16_to_f32(0x7bff) == 65504.0f &&
              mc_f16_to_f32(0xc000) == -2.0f && isinf(mc_f16_to_f32(0x7c00)),
          "f16 decode\n");
    CHECK(isnan(mc_f16_to_f32(mc_f32_to_f16(NAN))), "f16 NaN\n");
    /* every finite f16 survives the round trip */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000u; ++h)
        if (((h >> 10) & 0x1f) != 0x1f && mc_f32_to_f16(mc_f16_to_f32((uint16_t)h)) != h) ++bad;
    CHECK(bad == 0, "f16 round trip: %d values\n", bad);
    CHECK(mc_f32_to_bf16(1.0f) == 0x3f80 && mc_f32_to_bf16(1.00390625f) == 0x3f80 &&
              mc_f32_to_bf16(1.01171875f) == 0x3f82,
          "bf16 ties to even\n");
    CHECK(isnan(mc_bf16_to_f32(mc_f32_to_bf16(NAN))), "bf16 NaN\n");
    CHECK(mc_bf16_to_f32(0xc040) == -3.0f, "bf16 decode\n");
}


static void test_adamw(void) {
    /* one f32 tensor of 5 elements, one bf16 tensor with a master copy, one empty tensor */
    float p[5], g[5], m[5] = {0}, v[5] = {0}, step0 = 0.0f, step1 = 0.0f, step2 = 0.0f;
    uint16_t pb[3], gb[3];
    float mb[3] = {0}, vb[3] = {0}, vmb[3] = {0}, master[3];
    for (int i = 0; i < 5; ++i) { p[i] = (float)urand(); g[i] = (float)urand(); }
    for (int i = 0; i < 3; ++i) { master[i] = (float)urand(); pb[i] = mc_f32_to_bf16(master[i]); gb[i] = mc_f32_to_bf16((float)urand()); }
    int64_t s5[1] = {5}, s3[1] = {3}, s4[1] = {4};
    mc_tensor tp = make(p, MC_DTYPE_F32, 1, s5), tm = make(m, MC_DTYPE_F32, 1, s5), tv = make(v, MC_DTYPE_F32, 1, s5);
    mc_tensor ts = make(&step0, MC_DTYPE_F32, 0, NULL), tbad = make(m, MC_DTYPE_F32, 1, s4);
    mc_tensor th = make(m, MC_DTYPE_F16, 1, s5);
    mc_adamw_tensor e[3];
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &tm, &tv, NULL, NULL, &ts, 0) == MC_STATUS_SUCCESS, "adamw init\n");
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &tbad, &tv, NULL, NULL, &ts, 0) == MC_STATUS_SHAPE_MISMATCH, "adamw numel\n");
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &th, &tv, NULL, NULL, &ts, 0) == MC_STATUS_UNSUPPORTED_DTYPE, "adamw moment dtype\n");
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &tm, &tv, NULL, &tm, &ts, 0) == MC_STATUS_INVALID_ARGUMENT, "adamw f32 master\n");
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &tm, &tv, NULL, NULL, NULL, 0) == MC_STATUS_INVALID_ARGUMENT, "adamw NULL step\n");
    CHECK(mc_adamw_tensor_init(&e[0], &tp, &tm, &tv, NULL, NULL, &ts, 0) == MC_STATUS_SUCCESS, "adamw init\n");
    mc_tensor bp = make(pb, MC_DTYPE_BF16, 1, s3), bm = make(mb, MC_DTYPE_F32, 1, s3), bv = make(vb, MC_DTYPE_F32, 1, s3);
    mc_tensor bvm = make(vmb, MC_DTYPE_F32, 1, s3), bms = make(master, MC_DTYPE_F32, 1, s3), bs = make(&step1, MC_DTYPE_F32, 0, NULL);
    CHECK(mc_adamw_tensor_init(&e[1], &bp, &bm, &bv, &bvm, &bms, &bs, 1) == MC_STATUS_SUCCESS, "adamw bf16 init\n");
    memset(&e[2], 0, sizeof e[2]);
    e[2].step = &step2;
    size_t bytes = 0;
    int64_t nc = 0;
    CHECK(mc_adamw_plan_bytes(e, 3, &bytes, &nc) == MC_STATUS_SUCCESS && nc == 2, "adamw plan bytes\n");
    CHECK(mc_adamw_plan_bytes(e, -1, &bytes, &nc) == MC_STATUS_INVALID_ARGUMENT, "adamw negative n\n");
    double *buf = (double *)calloc(bytes / 8 + 2, 8);
    int32_t ams[2] = {0, 1};
    /* mixed dtypes are packed per dtype: pack the f32 tensor alone, then the bf16 one */
    CHECK(mc_adamw_plan_pack(e, 1, ams, 2, MC_DTYPE_F32, buf, bytes) == MC_STATUS_SUCCESS, "adamw pack\n");
    CHECK(mc_adamw_plan_pack(e, 1, ams, 2, MC_DTYPE_F64, buf, bytes) == MC_STATUS_UNSUPPORTED_DTYPE, "adamw f64\n");
    CHECK(mc_adamw_plan_pack(e, 1, ams, 0, MC_DTYPE_F32, buf, bytes) == MC_STATUS_INVALID_ARGUMENT, "adamw no groups\n");
    CHECK(mc_adamw_plan_pack(e, 1, ams, 2, MC_DTYPE_F32, buf, 8) == MC_STATUS_INVALID_ARGUMENT, "adamw small buffer\n");
    mc_adamw_tensor bad = e[1];
    bad.max_exp_avg_sq = NULL;
    CHECK(mc_adamw_plan_pack(&bad, 1, ams, 2, MC_DTYPE_BF16, buf, bytes) == MC_STATUS_INVALID_ARGUMENT, "adamw amsgrad needs max\n");
    bad = e[0];
    bad.group = 5;
    CHECK(mc_adamw_plan_pack(&bad, 1, ams, 2, MC_DTYPE_F32, buf, bytes) == MC_STATUS_INVALID_ARGUMENT, "adamw group range\n");
    mc_adamw_group groups[2] = {{1e-2, 0.9, 0.999, 1e-8, 0.1, NULL, 0, 0}, {1e-2, 0.8, 0.99, 1e-6, 0.0, NULL, 1, 1}};
    size_t b1;
    int64_t nc1;
    mc_adamw_plan_bytes(e, 1, &b1, &nc1);
    const void *grads[1] = {g};
    float p0[5];
    memcpy(p0, p, sizeof p0);
    float found = 1.0f, scale = 2.0f;
    CHECK(mc_adamw_step(buf, b1, 1, nc1, grads, groups, 2, MC_DTYPE_F32, cpu, NULL, &found, NULL) == MC_STATUS_SUCCESS &&
          memcmp(p, p0, sizeof p) == 0 && step0 == 0.0f, "adamw found_inf skips\n");
    CHECK(mc_adamw_step(buf, b1, 1, nc1, grads, groups, 2, MC_DTYPE_BF16, cpu, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "adamw plan/dtype mismatch\n");
    CHECK(mc_adamw_step(buf, b1 - 1, 1, nc1, grads, groups, 2, MC_DTYPE_F32, cpu, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "adamw short plan\n");
    found = 0.0f;
    CHECK(mc_adamw_step(buf, b1, 1, nc1, grads, groups, 2, MC_DTYPE_F32, cpu, &scale, &found, NULL) == MC_STATUS_SUCCESS &&
          step0 == 1.0f, "adamw step\n");
    /* first step from zero state: p = p0 (1 - lr wd) - lr * sign(g) * |g| / (|g| + eps / ...) ~ -lr sign(g) */
    double maxe = 0.0;
    for (int i = 0; i < 5; ++i) {
        double gg = g[i] / 2.0, mm = 0.1 * gg, vv = 0.001 * gg * gg;
        double ref = p0[i] * (1 - 1e-3) - (1e-2 / 0.1) * mm / (sqrt(vv) / sqrt(0.001) + 1e-8);
        maxe = fmax(maxe, fabs(ref - p[i]));
    }
    CHECK(maxe <= 1e-6, "adamw values: err %g\n", maxe);
    CHECK(mc_adamw_plan_pack(&e[1], 1, ams, 2, MC_DTYPE_BF16, buf, bytes) == MC_STATUS_SUCCESS, "adamw bf16 pack\n");
    mc_adamw_plan_bytes(&e[1], 1, &b1, &nc1);
    const void *gb1[1] = {gb};
    CHECK(mc_adamw_step(buf, b1, 1, nc1, gb1, groups, 2, MC_DTYPE_BF16, cpu, NULL, NULL, NULL) == MC_STATUS_SUCCESS && step1 == 1.0f,
          "adamw bf16 step\n");
    int ok = 1;
    for (int i = 0; i < 3; ++i) ok &= pb[i] == mc_f32_to_bf16(master[i]) && vmb[i] == vb[i];
    CHECK(ok, "adamw bf16 param is the rounded master; amsgrad max\n");
    free(buf);
}

static void test_rope_capi(void) {
    /* q (1, 2, 3, 6) with R = 4 (partial), k (1, 1, 3, 6); values vs a direct double formula */
    float q[36], k[18], qo[36], ko[18], c[12], sn[12];
    int64_t sq[4] = {1, 2, 3, 6}, sk[4] = {1, 1, 3, 6}, sc[3] = {1, 3, 4};
    for (int i = 0; i < 36; ++i) q[i] = (float)urand();
    for (int i = 0; i < 18; ++i) k[i] = (float)urand();
    for (int i = 0; i < 12; ++i) { c[i] = (float)cos(i * 0.7); sn[i] = (float)sin(i * 0.7); }
    mc_tensor tq = make(q, MC_DTYPE_F32, 4, sq), tk = make(k, MC_DTYPE_F32, 4, sk);
    mc_tensor tqo = make(qo, MC_DTYPE_F32, 4, sq), tko = make(ko, MC_DTYPE_F32, 4, sk);
    mc_tensor tc = make(c, MC_DTYPE_F32, 3, sc), ts = make(sn, MC_DTYPE_F32, 3, sc);
    CHECK(mc_rope_forward(&tq, &tk, &tc, &ts, &tqo, &tko, NULL) == MC_STATUS_SUCCESS, "rope forward\n");
    double maxe = 0;
    for (int hd = 0; hd < 2; ++hd)
        for (int s = 0; s < 3; ++s)
            for (int j = 0; j < 6; ++j) {
                const float *x = q + (hd * 3 + s) * 6;
                double ref;
                if (j >= 4) ref = x[j];
                else if (j < 2) ref = x[j] * c[s * 4 + j] - x[j + 2] * sn[s * 4 + j];
                else ref = x[j] * c[s * 4 + j] + x[j - 2] * sn[s * 4 + j];
                maxe = fmax(maxe, fabs(ref - qo[(hd * 3 + s) * 6 + j]));
            }
    CHECK(maxe < 1e-6, "rope values: err %g\n", maxe);
    /* backward of forward is the identity when cos^2 + sin^2 = 1 and halves agree: not here
     * (halves differ), so just check it runs in place */
    CHECK(mc_rope_backward(&tqo, &tko, &tc, &ts, &tqo, &tko, NULL) == MC_STATUS_SUCCESS, "rope backward in place\n");
    CHECK(mc_rope_forward(NULL, &tk, &tc, &ts, &tqo, &tko, NULL) == MC_STATUS_INVALID_ARGUMENT, "rope NULL q\n");
    CHECK(mc_rope_forward(&tq, &tk, &tc, &ts, &tqo, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "rope k without k_out\n");
    CHECK(mc_rope_forward(&tq, &tk, NULL, &ts, &tqo, &tko, NULL) == MC_STATUS_INVALID_ARGUMENT, "rope NULL cos\n");
    mc_tensor tc5 = make(c, MC_DTYPE_F32, 3, (int64_t[]){1, 3, 3});
    CHECK(mc_rope_forward(&tq, &tk, &tc5, &tc5, &tqo, &tko, NULL) == MC_STATUS_SHAPE_MISMATCH, "rope odd R\n");
    mc_tensor tc2 = make(c, MC_DTYPE_F32, 3, (int64_t[]){1, 2, 4});
    CHECK(mc_rope_forward(&tq, &tk, &tc2, &tc2, &tqo, &tko, NULL) == MC_STATUS_SHAPE_MISMATCH, "rope seq\n");
    mc_tensor tkb = make(k, MC_DTYPE_BF16, 4, sk);
    CHECK(mc_rope_forward(&tq, &tkb, &tc, &ts, &tqo, &tko, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "rope k dtype\n");
    mc_tensor tqi = make(q, MC_DTYPE_I32, 4, sq);
    CHECK(mc_rope_forward(&tqi, NULL, &tc, &ts, &tqi, NULL, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "rope int\n");
    mc_tensor tqs = tq; /* last dim strided */
    tqs.shape[3] = 3; tqs.strides[3] = 2;
    CHECK(mc_rope_forward(&tqs, NULL, &tc, &ts, &tqo, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "rope stride\n");
    mc_tensor tq3 = make(q, MC_DTYPE_F32, 3, sq);
    CHECK(mc_rope_forward(&tq3, NULL, &tc, &ts, &tq3, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "rope rank\n");
}

static void test_embedding_bag_capi(void) {
    float w[20], out[8], g[8], dw[20];
    int64_t idx[5] = {1, 4, 4, 0, 2}, off[2] = {0, 3}, cnt[2], err[4];
    for (int i = 0; i < 20; ++i) w[i] = (float)urand();
    for (int i = 0; i < 8; ++i) g[i] = (float)urand();
    mc_tensor tw = make(w, MC_DTYPE_F32, 2, (int64_t[]){5, 4}), ti = make(idx, MC_DTYPE_I64, 1, (int64_t[]){5});
    mc_tensor to = make(off, MC_DTYPE_I64, 1, (int64_t[]){2}), tout = make(out, MC_DTYPE_F32, 2, (int64_t[]){2, 4});
    mc_tensor tc = make(cnt, MC_DTYPE_I64, 1, (int64_t[]){2}), te = make(err, MC_DTYPE_I64, 1, (int64_t[]){4});
    mc_embedding_bag_options o = {MC_EMBEDDING_BAG_MODE_MEAN, 0, 0}; /* padding row 0 */
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tout, &tc, NULL, &te, NULL) == MC_STATUS_SUCCESS, "eb fwd\n");
    double e1 = 0;
    for (int c = 0; c < 4; ++c) {
        e1 = fmax(e1, fabs(out[c] - ((double)w[4 + c] + w[16 + c] + w[16 + c]) / 3));
        e1 = fmax(e1, fabs(out[4 + c] - (double)w[8 + c])); /* bag 1: rows 0 (padding) and 2 */
    }
    CHECK(e1 < 1e-6 && cnt[0] == 3 && cnt[1] == 1 && err[0] == 0, "eb values: err %g\n", e1);
    mc_tensor tg = make(g, MC_DTYPE_F32, 2, (int64_t[]){2, 4}), tdw = make(dw, MC_DTYPE_F32, 2, (int64_t[]){5, 4});
    size_t wsb = 1;
    CHECK(mc_embedding_bag_backward_workspace_size(&tw, &ti, 0, &wsb) == MC_STATUS_SUCCESS && wsb == 0, "eb ws\n");
    CHECK(mc_embedding_bag_backward(&tg, &tw, &ti, &to, NULL, &o, &tc, NULL, NULL, NULL, &tdw, NULL, NULL, 0, NULL) ==
              MC_STATUS_SUCCESS, "eb bwd\n");
    CHECK(fabs(dw[16] - 2.0 * g[0] / 3) < 1e-6 && dw[0] == 0.0f && fabs(dw[8] - g[4]) < 1e-6, "eb grad values\n");
    CHECK(mc_embedding_bag_backward(&tg, &tw, &ti, &to, NULL, &o, NULL, NULL, NULL, NULL, &tdw, NULL, NULL, 0, NULL) ==
              MC_STATUS_INVALID_ARGUMENT, "eb mean without counts\n");
    idx[2] = 5; /* out of range: flagged with errors, an error status without */
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tout, NULL, NULL, &te, NULL) == MC_STATUS_SUCCESS &&
              err[0] == 1 && err[1] == 2, "eb flagged\n");
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "eb out of range\n");
    idx[2] = -3;
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "eb negative\n");
    idx[2] = 4;
    off[1] = 9;
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tout, NULL, NULL, &te, NULL) == MC_STATUS_SUCCESS &&
              err[2] == 2 && err[3] == 0, "eb bad offsets flagged (both bags)\n");
    off[1] = 3;
    mc_embedding_bag_options bad = {(mc_embedding_bag_mode)7, 0, -1};
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &bad, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "eb mode\n");
    mc_embedding_bag_options pad = {MC_EMBEDDING_BAG_MODE_SUM, 0, 5};
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &pad, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "eb pad\n");
    mc_tensor tpsw = make(g, MC_DTYPE_F32, 1, (int64_t[]){5});
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, &tpsw, &o, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "eb psw mean\n");
    mc_tensor tof = make(off, MC_DTYPE_I32, 1, (int64_t[]){2});
    CHECK(mc_embedding_bag_forward(&tw, &ti, &tof, NULL, &o, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "eb off dtype\n");
    mc_tensor tob = make(out, MC_DTYPE_F32, 2, (int64_t[]){3, 4});
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, &o, &tob, NULL, NULL, NULL, NULL) == MC_STATUS_SHAPE_MISMATCH, "eb out shape\n");
    CHECK(mc_embedding_bag_forward(&tw, &ti, NULL, NULL, &o, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "eb no offsets\n");
    CHECK(mc_embedding_bag_forward(&tw, &ti, &to, NULL, NULL, &tout, NULL, NULL, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "eb NULL opts\n");
}

/* ---- activations, SwiGLU, softmax, fused add + RMSNorm (f32 and f64 values, bad arguments) ---- */

static void test_activations_capi(void) {
    float x[6] = {-3.f, -1.f, -0.25f, 0.f, 0.5f, 2.f}, y[6], g[6], dx[6];
    int64_t s1[1] = {6}, s2[2] = {2, 3};
    mc_tensor tx = make(x, MC_DTYPE_F32, 1, s1), ty = make(y, MC_DTYPE_F32, 1, s1);
    mc_tensor tg = make(g, MC_DTYPE_F32, 1, s1), tdx = make(dx, MC_DTYPE_F32, 1, s1);
    for (int i = 0; i < 6; ++i) g[i] = 1.0f;
    for (int act = 0; act < 3; ++act) {
        CHECK(mc_activation_forward((mc_activation)act, &tx, &ty, NULL) == MC_STATUS_SUCCESS, "act %d fwd\n", act);
        CHECK(mc_activation_backward((mc_activation)act, &tg, &tx, &tdx, NULL) == MC_STATUS_SUCCESS, "act %d bwd\n", act);
        double maxe = 0, maxde = 0;
        for (int i = 0; i < 6; ++i) {
            const double v = x[i], h = 1e-4;
            double f, fp, fm;
            if (act == 0) { f = v / (1 + exp(-v)); fp = (v + h) / (1 + exp(-(v + h))); fm = (v - h) / (1 + exp(-(v - h))); }
            else if (act == 1) { f = 0.5 * v * (1 + erf(v / sqrt(2.0))); fp = 0.5 * (v + h) * (1 + erf((v + h) / sqrt(2.0))); fm = 0.5 * (v - h) * (1 + erf((v - h) / sqrt(2.0))); }
            else {
                const double k = sqrt(2.0 / 3.14159265358979323846);
                f = 0.5 * v * (1 + tanh(k * (v + 0.044715 * v * v * v)));
                fp = 0.5 * (v + h) * (1 + tanh(k * ((v + h) + 0.044715 * (v + h) * (v + h) * (v + h))));
                fm = 0.5 * (v - h) * (1 + tanh(k * ((v - h) + 0.044715 * (v - h) * (v - h) * (v - h))));
            }
            maxe = fmax(maxe, fabs(y[i] - f));
            maxde = fmax(maxde, fabs(dx[i] - (fp - fm) / (2 * h))); /* central difference, error ~h^2 */
        }
        CHECK(maxe < 1e-6 && maxde < 1e-5, "act %d values: %g %g\n", act, maxe, maxde);
    }
    CHECK(mc_activation_forward((mc_activation)9, &tx, &ty, NULL) == MC_STATUS_INVALID_ARGUMENT, "bad act\n");
    CHECK(mc_activation_forward(MC_ACTIVATION_SILU, NULL, &ty, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL x\n");
    mc_tensor t23 = make(y, MC_DTYPE_F32, 2, s2);
    CHECK(mc_activation_forward(MC_ACTIVATION_SILU, &tx, &t23, NULL) == MC_STATUS_SHAPE_MISMATCH, "shape\n");
    mc_tensor ti = make(x, MC_DTYPE_I32, 1, s1);
    CHECK(mc_activation_forward(MC_ACTIVATION_GELU, &ti, &ti, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "int dtype\n");
    CHECK(mc_activation_forward(MC_ACTIVATION_SILU, &tx, &tx, NULL) == MC_STATUS_SUCCESS, "in place\n");

    /* SwiGLU on a packed (2, 6) buffer: halves are (2, 3) row views with row stride 6 */
    double p[12], o[6], dp[12], dyv[6];
    for (int i = 0; i < 12; ++i) p[i] = urand() * 3;
    for (int i = 0; i < 6; ++i) dyv[i] = urand();
    mc_tensor gate = make(p, MC_DTYPE_F64, 2, s2), up = gate, out = make(o, MC_DTYPE_F64, 2, s2);
    gate.strides[0] = 6;
    up.data = p + 3;
    up.strides[0] = 6;
    mc_tensor dgate = gate, dup = up, tdy = make(dyv, MC_DTYPE_F64, 2, s2);
    dgate.data = dp;
    dup.data = dp + 3;
    CHECK(mc_swiglu_forward(&gate, &up, &out, NULL) == MC_STATUS_SUCCESS, "swiglu fwd\n");
    CHECK(mc_swiglu_backward(&tdy, &gate, &up, &dgate, &dup, NULL, NULL) == MC_STATUS_SUCCESS, "swiglu bwd\n");
    double e = 0;
    for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 3; ++c) {
            const double gv = p[r * 6 + c], uv = p[r * 6 + 3 + c], sg = 1 / (1 + exp(-gv)), d = dyv[r * 3 + c];
            e = fmax(e, fabs(o[r * 3 + c] - gv * sg * uv));
            e = fmax(e, fabs(dp[r * 6 + c] - d * uv * sg * (1 + gv * (1 - sg))));
            e = fmax(e, fabs(dp[r * 6 + 3 + c] - d * gv * sg));
        }
    CHECK(e < 1e-12, "swiglu values %g\n", e);
    /* backward with h = silu(gate) * up written over dy, and dgate, dup over gate, up (as the
     * fused MLP calls it): same gradients, h equal to the forward output */
    double p2[12], dy2[6];
    for (int i = 0; i < 12; ++i) p2[i] = p[i];
    for (int i = 0; i < 6; ++i) dy2[i] = dyv[i];
    mc_tensor g2 = gate, u2 = up, h2 = make(dy2, MC_DTYPE_F64, 2, s2), dy2t = h2;
    g2.data = p2;
    u2.data = p2 + 3;
    CHECK(mc_swiglu_backward(&dy2t, &g2, &u2, &g2, &u2, &h2, NULL) == MC_STATUS_SUCCESS, "swiglu bwd + h\n");
    e = 0;
    for (int i = 0; i < 6; ++i) e = fmax(e, fabs(dy2[i] - o[i]));
    for (int i = 0; i < 12; ++i) e = fmax(e, fabs(p2[i] - dp[i]));
    CHECK(e < 1e-12, "swiglu bwd + h in place %g\n", e);
    CHECK(mc_swiglu_backward(&tdy, &gate, &up, &dgate, &dup, &dgate, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "h == dgate\n");
    mc_tensor h6 = make(dy2, MC_DTYPE_F64, 1, s1);
    CHECK(mc_swiglu_backward(&tdy, &gate, &up, &dgate, &dup, &h6, NULL) == MC_STATUS_SHAPE_MISMATCH, "h shape\n");
    mc_tensor bad = gate;
    bad.strides[1] = 2;
    CHECK(mc_swiglu_forward(&bad, &up, &out, NULL) == MC_STATUS_INVALID_ARGUMENT, "non-unit last stride\n");
    bad = gate;
    bad.strides[0] = 2;
    CHECK(mc_swiglu_forward(&bad, &up, &out, NULL) == MC_STATUS_INVALID_ARGUMENT, "overlapping rows\n");
    CHECK(mc_swiglu_backward(&tdy, &gate, &up, &dgate, &dgate, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT,
          "dgate == dup\n");
    mc_tensor up32 = up;
    up32.dtype = MC_DTYPE_F32;
    CHECK(mc_swiglu_forward(&gate, &up32, &out, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "dtype mismatch\n");
}

static void test_softmax_capi(void) {
    /* (2, 3, 4): softmax over each dim against a direct double computation */
    double x[24], y[24], dy[24], dx[24];
    int64_t sh[3] = {2, 3, 4};
    for (int i = 0; i < 24; ++i) { x[i] = urand() * 5; dy[i] = urand(); }
    x[5] = -INFINITY;
    mc_tensor tx = make(x, MC_DTYPE_F64, 3, sh), ty = make(y, MC_DTYPE_F64, 3, sh);
    mc_tensor tdy = make(dy, MC_DTYPE_F64, 3, sh), tdx = make(dx, MC_DTYPE_F64, 3, sh);
    size_t ws = 1;
    CHECK(mc_softmax_workspace_size(&tx, 1, &ws) == MC_STATUS_SUCCESS && ws == 0, "cpu workspace 0\n");
    for (int dim = -3; dim < 3; ++dim) {
        CHECK(mc_softmax_forward(&tx, dim, &ty, NULL, 0, NULL) == MC_STATUS_SUCCESS, "fwd dim %d\n", dim);
        CHECK(mc_softmax_backward(&tdy, &ty, dim, &tdx, NULL, 0, NULL) == MC_STATUS_SUCCESS, "bwd dim %d\n", dim);
        const int d = dim < 0 ? dim + 3 : dim;
        const int64_t st[3] = {12, 4, 1};
        double e = 0;
        for (int i = 0; i < 24; ++i) {
            const int64_t base = i - ((i / st[d]) % sh[d]) * st[d]; /* first element of i's line */
            double m = -INFINITY, s = 0, dot = 0;
            for (int j = 0; j < sh[d]; ++j) m = fmax(m, x[base + j * st[d]]);
            for (int j = 0; j < sh[d]; ++j) s += exp(x[base + j * st[d]] - m);
            const double yi = exp(x[i] - m) / s;
            for (int j = 0; j < sh[d]; ++j) dot += dy[base + j * st[d]] * exp(x[base + j * st[d]] - m) / s;
            e = fmax(e, fabs(y[i] - yi) + fabs(dx[i] - yi * (dy[i] - dot)));
        }
        CHECK(e < 1e-13, "softmax dim %d values %g\n", dim, e);
    }
    CHECK(mc_softmax_forward(&tx, 3, &ty, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "dim too large\n");
    CHECK(mc_softmax_forward(&tx, -4, &ty, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "dim too small\n");
    CHECK(mc_softmax_backward(&tdy, &ty, 0, &ty, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "dx aliases y\n");
    CHECK(mc_softmax_forward(&tx, 0, &tx, NULL, 0, NULL) == MC_STATUS_SUCCESS, "in place\n");
    mc_tensor t0 = make(x, MC_DTYPE_F64, 0, sh), y0 = make(y, MC_DTYPE_F64, 0, sh);
    CHECK(mc_softmax_forward(&t0, 0, &y0, NULL, 0, NULL) == MC_STATUS_SUCCESS && y[0] == 1.0, "rank 0\n");
    mc_tensor tnc = tx;
    tnc.strides[2] = 2;
    CHECK(mc_softmax_forward(&tnc, 0, &ty, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "non-contiguous\n");
    CHECK(mc_softmax_workspace_size(&tx, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL bytes\n");
}

static void test_add_rmsnorm_capi(void) {
    float x[8], r[8], w[4], y[8], h[8], rs[2], dy[8], dh[8], dx[8], dw[4];
    int64_t s2[2] = {2, 4}, s1[1] = {4}, sr[1] = {2};
    for (int i = 0; i < 8; ++i) { x[i] = (float)urand(); r[i] = (float)urand(); dy[i] = (float)urand(); dh[i] = (float)urand(); }
    for (int i = 0; i < 4; ++i) w[i] = 1.0f + 0.25f * i;
    mc_tensor tx = make(x, MC_DTYPE_F32, 2, s2), tr = make(r, MC_DTYPE_F32, 2, s2), tw = make(w, MC_DTYPE_F32, 1, s1);
    mc_tensor ty = make(y, MC_DTYPE_F32, 2, s2), th = make(h, MC_DTYPE_F32, 2, s2), trs = make(rs, MC_DTYPE_F32, 1, sr);
    mc_tensor tdy = make(dy, MC_DTYPE_F32, 2, s2), tdh = make(dh, MC_DTYPE_F32, 2, s2), tdx = make(dx, MC_DTYPE_F32, 2, s2);
    mc_tensor tdw = make(dw, MC_DTYPE_F32, 1, s1);
    CHECK(mc_add_rmsnorm_forward(&tx, &tr, &tw, 1e-6, &ty, &th, &trs, NULL) == MC_STATUS_SUCCESS, "fwd\n");
    size_t wsb = 0;
    mc_rmsnorm_backward_workspace_size(&th, &tw, 1, &wsb);
    void *ws = malloc(wsb ? wsb : 1);
    CHECK(mc_add_rmsnorm_backward(&tdy, &tdh, &th, &tw, &trs, &tdx, &tdw, ws, wsb, NULL) == MC_STATUS_SUCCESS, "bwd\n");
    double e = 0, dwr[4] = {0, 0, 0, 0};
    for (int i = 0; i < 2; ++i) {
        double hv[4], ss = 0, dot = 0;
        for (int j = 0; j < 4; ++j) { hv[j] = (float)(x[i * 4 + j] + r[i * 4 + j]); ss += hv[j] * hv[j]; }
        const double rr = 1 / sqrt(ss / 4 + 1e-6);
        for (int j = 0; j < 4; ++j) dot += dy[i * 4 + j] * w[j] * hv[j];
        for (int j = 0; j < 4; ++j) {
            e = fmax(e, fabs(h[i * 4 + j] - hv[j]) + fabs(y[i * 4 + j] - hv[j] * rr * w[j]));
            e = fmax(e, fabs(dx[i * 4 + j] - (rr * (dy[i * 4 + j] * w[j] - hv[j] * rr * rr * dot / 4) + dh[i * 4 + j])));
            dwr[j] += dy[i * 4 + j] * hv[j] * rr;
        }
    }
    for (int j = 0; j < 4; ++j) e = fmax(e, fabs(dw[j] - dwr[j]));
    CHECK(e < 1e-5, "add_rmsnorm values %g\n", e);
    CHECK(mc_add_rmsnorm_forward(&tx, &tr, &tw, 1e-6, &tx, &th, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "y aliases x\n");
    CHECK(mc_add_rmsnorm_forward(&tx, &tr, &tw, 1e-6, &ty, &tr, NULL, NULL) == MC_STATUS_SUCCESS, "h aliases residual\n");
    mc_tensor tbad = make(r, MC_DTYPE_F32, 2, (int64_t[]){4, 2});
    CHECK(mc_add_rmsnorm_forward(&tx, &tbad, &tw, 1e-6, &ty, &th, NULL, NULL) == MC_STATUS_SHAPE_MISMATCH, "residual shape\n");
    CHECK(mc_add_rmsnorm_forward(&tx, NULL, &tw, 1e-6, &ty, &th, NULL, NULL) == MC_STATUS_INVALID_ARGUMENT, "NULL residual\n");
    CHECK(mc_add_rmsnorm_backward(&tdy, &tbad, &th, &tw, &trs, &tdx, NULL, NULL, 0, NULL) == MC_STATUS_SHAPE_MISMATCH, "dh shape\n");
    free(ws);
}

/* eigh and svd: bad arguments, then a 5x5 symmetric and a 4x6 (wide) matrix against their defining
 * identities in double (A Q = Q diag(w), Q^T Q = I; A = U diag(s) V^T, U^T U = V^T V = I). */
static void test_eigh_svd(void) {
    enum { N = 5, M = 4, K = 6 };
    double a[N * N], w[N], q[N * N], ws_buf[4096];
    int32_t info[1];
    for (int i = 0; i < N; ++i)
        for (int j = 0; j <= i; ++j) a[i * N + j] = a[j * N + i] = urand();
    const int64_t sa[2] = {N, N}, sw[1] = {N}, si[1] = {1}, sq[2] = {N, N};
    mc_tensor A = make(a, MC_DTYPE_F64, 2, sa), W = make(w, MC_DTYPE_F64, 1, sw), Q = make(q, MC_DTYPE_F64, 2, sq),
              I = make(info, MC_DTYPE_I32, 1, si);
    size_t bytes = 0;
    CHECK(mc_eigh_workspace_size(&A, &bytes) == MC_STATUS_SUCCESS && bytes <= sizeof ws_buf, "eigh workspace\n");
    CHECK(mc_eigh_forward(&A, &W, &Q, &I, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "eigh without workspace\n");
    CHECK(mc_eigh_forward(&A, NULL, &Q, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_INVALID_ARGUMENT, "eigh NULL w\n");
    CHECK(mc_eigh_forward(&A, &W, &W, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_SHAPE_MISMATCH, "eigh q shape\n");
    mc_tensor Ai = A;
    Ai.dtype = MC_DTYPE_I32;
    CHECK(mc_eigh_forward(&Ai, &W, &Q, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "eigh dtype\n");
    mc_tensor Ar = A;
    Ar.shape[1] = 3;
    CHECK(mc_eigh_forward(&Ar, &W, &Q, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_SHAPE_MISMATCH, "eigh square\n");
    mc_tensor I64 = I;
    I64.dtype = MC_DTYPE_I64;
    CHECK(mc_eigh_forward(&A, &W, &Q, &I64, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "eigh info dtype\n");
    CHECK(mc_eigh_forward(&A, &W, &Q, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_SUCCESS, "eigh run\n");
    double err = 0, orth = 0;
    for (int i = 0; i < N; ++i)
        for (int j = 0; j < N; ++j) {
            double aq = 0, qq = 0;
            for (int k = 0; k < N; ++k) {
                aq += a[i * N + k] * q[k * N + j];
                qq += q[k * N + i] * q[k * N + j];
            }
            err = fmax(err, fabs(aq - q[i * N + j] * w[j]));
            orth = fmax(orth, fabs(qq - (i == j)));
        }
    CHECK(err < 1e-13 && orth < 1e-13 && info[0] == 0, "eigh values: residual %g orth %g\n", err, orth);
    for (int j = 1; j < N; ++j) CHECK(w[j - 1] <= w[j], "eigh ascending\n");

    double b[M * K], u[M * M], s[M], v[K * M];
    for (int i = 0; i < M * K; ++i) b[i] = urand();
    const int64_t sb[2] = {M, K}, su[2] = {M, M}, ss[1] = {M}, sv[2] = {K, M};
    mc_tensor B = make(b, MC_DTYPE_F64, 2, sb), U = make(u, MC_DTYPE_F64, 2, su), S = make(s, MC_DTYPE_F64, 1, ss),
              V = make(v, MC_DTYPE_F64, 2, sv);
    CHECK(mc_svd_workspace_size(&B, 0, &bytes) == MC_STATUS_SUCCESS && bytes <= sizeof ws_buf, "svd workspace\n");
    CHECK(mc_svd_forward(&B, 0, &V, &S, &U, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_SHAPE_MISMATCH, "svd u/v swapped\n");
    CHECK(mc_svd_forward(&B, 0, &U, &S, &V, &I, ws_buf, 8, NULL) == MC_STATUS_INVALID_ARGUMENT, "svd short workspace\n");
    CHECK(mc_svd_forward(&B, 0, &U, &S, &V, &I, ws_buf, sizeof ws_buf, NULL) == MC_STATUS_SUCCESS, "svd run\n");
    err = orth = 0;
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < K; ++j) {
            double r = 0;
            for (int k = 0; k < M; ++k) r += u[i * M + k] * s[k] * v[j * M + k];
            err = fmax(err, fabs(r - b[i * K + j]));
        }
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < M; ++j) {
            double uu = 0, vv = 0;
            for (int k = 0; k < M; ++k) uu += u[k * M + i] * u[k * M + j];
            for (int k = 0; k < K; ++k) vv += v[k * M + i] * v[k * M + j];
            orth = fmax(orth, fmax(fabs(uu - (i == j)), fabs(vv - (i == j))));
        }
    CHECK(err < 1e-13 && orth < 1e-13 && info[0] == 0, "svd values: residual %g orth %g\n", err, orth);
    for (int j = 1; j < M; ++j) CHECK(s[j - 1] >= s[j], "svd descending\n");
}

/* ---- direct factorizations: bad arguments and CPU values ------------------------------------- */

static void test_linalg_direct_bad_arguments(void) {
    double a[2 * 9], l[2 * 9], b[2 * 6], x[2 * 6];
    int32_t info[2], piv[2 * 3];
    int64_t s3[3] = {2, 3, 3}, s32[3] = {2, 3, 2}, s2[1] = {2}, sp[2] = {2, 3}, s23[3] = {2, 2, 3};
    for (int i = 0; i < 18; ++i) a[i] = (i % 4 == 0) ? 4.0 : 0.5; /* 2 x SPD 3x3 */
    for (int i = 0; i < 12; ++i) b[i] = 1.0;
    mc_tensor A = make(a, MC_DTYPE_F64, 3, s3), L = make(l, MC_DTYPE_F64, 3, s3);
    mc_tensor I = make(info, MC_DTYPE_I32, 1, s2), P = make(piv, MC_DTYPE_I32, 2, sp);
    mc_tensor B = make(b, MC_DTYPE_F64, 3, s32), X = make(x, MC_DTYPE_F64, 3, s32);
    CHECK(mc_cholesky(&A, 0, &L, &I, NULL) == MC_STATUS_SUCCESS, "cholesky valid\n");
    CHECK(mc_cholesky(NULL, 0, &L, &I, NULL) == MC_STATUS_INVALID_ARGUMENT, "cholesky NULL A\n");
    CHECK(mc_cholesky(&A, 0, &A, &I, NULL) == MC_STATUS_INVALID_ARGUMENT, "cholesky alias\n");
    CHECK(mc_cholesky(&A, 0, &L, &P, NULL) == MC_STATUS_SHAPE_MISMATCH, "cholesky info shape\n");
    mc_tensor Lf = make(l, MC_DTYPE_F32, 3, s3);
    CHECK(mc_cholesky(&A, 0, &Lf, &I, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "cholesky out dtype\n");
    mc_tensor W = make(a, MC_DTYPE_F64, 3, s23);
    CHECK(mc_cholesky(&W, 0, &L, &I, NULL) == MC_STATUS_SHAPE_MISMATCH, "cholesky non-square\n");
    mc_tensor Ah = make(a, MC_DTYPE_F16, 3, s3);
    CHECK(mc_cholesky(&Ah, 0, &L, &I, NULL) == MC_STATUS_UNSUPPORTED_DTYPE, "cholesky f16\n");
    mc_tensor Anc = A;
    Anc.strides[1] = 1;
    Anc.strides[2] = 3;
    CHECK(mc_cholesky(&Anc, 0, &L, &I, NULL) == MC_STATUS_INVALID_ARGUMENT, "cholesky non-contiguous\n");
    CHECK(mc_lu_factor(&A, &L, &P, &I, NULL) == MC_STATUS_SUCCESS, "lu_factor valid\n");
    CHECK(mc_lu_factor(&A, &L, &I, &I, NULL) == MC_STATUS_SHAPE_MISMATCH, "lu_factor pivots shape\n");
    CHECK(mc_lu_solve(&L, &P, &B, 0, &X, NULL) == MC_STATUS_SUCCESS, "lu_solve valid\n");
    CHECK(mc_lu_solve(&L, &P, &B, 0, &B, NULL) == MC_STATUS_INVALID_ARGUMENT, "lu_solve alias\n");
    piv[1] = 99;
    CHECK(mc_lu_solve(&L, &P, &B, 0, &X, NULL) == MC_STATUS_INVALID_ARGUMENT, "lu_solve bad pivot\n");
    size_t ws = 0;
    CHECK(mc_solve_workspace_size(&A, &B, &ws) == MC_STATUS_SUCCESS && ws > 0, "solve ws\n");
    CHECK(mc_solve_workspace_size(&A, &B, NULL) == MC_STATUS_INVALID_ARGUMENT, "solve ws NULL\n");
    CHECK(mc_solve(&A, &B, &X, &I, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "solve no workspace\n");
    mc_tensor Bw = make(b, MC_DTYPE_F64, 3, s23);
    CHECK(mc_solve(&A, &Bw, &X, &I, NULL, 0, NULL) == MC_STATUS_SHAPE_MISMATCH, "solve B rows\n");
    CHECK(mc_trsm(&A, &B, 1, 0, 0, &X, NULL) == MC_STATUS_SUCCESS, "trsm valid\n");
    CHECK(mc_trsm(&A, &B, 1, 0, 0, &B, NULL) == MC_STATUS_INVALID_ARGUMENT, "trsm alias\n");
    CHECK(mc_qr_workspace_size(&A, (mc_qr_mode)7, &ws) == MC_STATUS_INVALID_ARGUMENT, "qr bad mode\n");
    CHECK(mc_qr(&A, MC_QR_MODE_R, &L, &X, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "qr mode r with Q\n");
    CHECK(mc_qr(&A, MC_QR_MODE_REDUCED, NULL, &L, NULL, 0, NULL) == MC_STATUS_INVALID_ARGUMENT, "qr Q NULL\n");
    CHECK(mc_qr(&A, MC_QR_MODE_REDUCED, &X, &L, NULL, 0, NULL) == MC_STATUS_SHAPE_MISMATCH, "qr Q shape\n");
    int64_t s0[3] = {0, 3, 3}, s0b[1] = {0};
    mc_tensor A0 = make(NULL, MC_DTYPE_F64, 3, s0), I0 = make(NULL, MC_DTYPE_I32, 1, s0b);
    CHECK(mc_cholesky(&A0, 0, &A0, &I0, NULL) == MC_STATUS_SUCCESS, "empty batch\n");
}

/* Random well-conditioned matrices; checks residuals in double against the inputs. */
static void test_linalg_direct_values(int64_t batch, int64_t m, int64_t n) {
    const int64_t k = m < n ? m : n, sq = m, nrhs = 3;
    double *a = malloc(sizeof(double) * batch * m * n), *q = malloc(sizeof(double) * batch * m * k);
    double *r = malloc(sizeof(double) * batch * k * n), *spd = malloc(sizeof(double) * batch * sq * sq);
    double *l = malloc(sizeof(double) * batch * sq * sq), *b = malloc(sizeof(double) * batch * sq * nrhs);
    double *x = malloc(sizeof(double) * batch * sq * nrhs);
    int32_t *info = malloc(sizeof(int32_t) * batch);
    for (int64_t i = 0; i < batch * m * n; ++i) a[i] = urand();
    for (int64_t i = 0; i < batch * sq * nrhs; ++i) b[i] = urand();
    double *g = malloc(sizeof(double) * batch * sq * sq);
    for (int64_t i = 0; i < batch * sq * sq; ++i) g[i] = urand();
    for (int64_t t = 0; t < batch; ++t) /* spd = G G^T / sq + I */
        for (int64_t i = 0; i < sq; ++i)
            for (int64_t j = 0; j < sq; ++j) {
                double s = i == j ? 1.0 : 0.0;
                for (int64_t p = 0; p < sq; ++p) s += g[(t * sq + i) * sq + p] * g[(t * sq + j) * sq + p] / (double)sq;
                spd[(t * sq + i) * sq + j] = s;
            }
    free(g);
    int64_t sa[3] = {batch, m, n}, sqs[3] = {batch, m, k}, srs[3] = {batch, k, n}, ss[3] = {batch, sq, sq};
    int64_t sb[3] = {batch, sq, nrhs}, si[1] = {batch};
    mc_tensor A = make(a, MC_DTYPE_F64, 3, sa), Q = make(q, MC_DTYPE_F64, 3, sqs), R = make(r, MC_DTYPE_F64, 3, srs);
    mc_tensor S = make(spd, MC_DTYPE_F64, 3, ss), L = make(l, MC_DTYPE_F64, 3, ss), I = make(info, MC_DTYPE_I32, 1, si);
    mc_tensor B = make(b, MC_DTYPE_F64, 3, sb), X = make(x, MC_DTYPE_F64, 3, sb);
    size_t ws_bytes = 0;
    CHECK(mc_qr_workspace_size(&A, MC_QR_MODE_REDUCED, &ws_bytes) == MC_STATUS_SUCCESS, "qr ws\n");
    void *ws = malloc(ws_bytes ? ws_bytes : 1);
    CHECK(mc_qr(&A, MC_QR_MODE_REDUCED, &Q, &R, ws, ws_bytes, NULL) == MC_STATUS_SUCCESS, "qr %lldx%lld\n", (long long)m, (long long)n);
    double e_qr = 0, e_orth = 0;
    for (int64_t t = 0; t < batch; ++t) {
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
                double s = 0;
                for (int64_t p = 0; p < k; ++p) s += q[(t * m + i) * k + p] * r[(t * k + p) * n + j];
                e_qr = fmax(e_qr, fabs(s - a[(t * m + i) * n + j]));
            }
        for (int64_t i = 0; i < k; ++i)
            for (int64_t j = 0; j < k; ++j) {
                double s = 0;
                for (int64_t p = 0; p < m; ++p) s += q[(t * m + p) * k + i] * q[(t * m + p) * k + j];
                e_orth = fmax(e_orth, fabs(s - (i == j)));
            }
    }
    CHECK(e_qr < 1e-13 * (m + n) && e_orth < 1e-13 * (m + n), "qr %lldx%lld: %.3g %.3g\n", (long long)m, (long long)n, e_qr, e_orth);
    free(ws);
    CHECK(mc_cholesky(&S, 0, &L, &I, NULL) == MC_STATUS_SUCCESS, "cholesky\n");
    double e_ch = 0;
    for (int64_t t = 0; t < batch; ++t) {
        CHECK(info[t] == 0, "cholesky info %d\n", info[t]);
        for (int64_t i = 0; i < sq; ++i)
            for (int64_t j = 0; j < sq; ++j) {
                double s = 0;
                for (int64_t p = 0; p < sq; ++p) s += l[(t * sq + i) * sq + p] * l[(t * sq + j) * sq + p];
                e_ch = fmax(e_ch, fabs(s - spd[(t * sq + i) * sq + j]));
            }
    }
    CHECK(e_ch < 1e-13 * sq, "cholesky residual %.3g\n", e_ch);
    CHECK(mc_solve_workspace_size(&S, &B, &ws_bytes) == MC_STATUS_SUCCESS, "solve ws\n");
    ws = malloc(ws_bytes ? ws_bytes : 1);
    CHECK(mc_solve(&S, &B, &X, &I, ws, ws_bytes, NULL) == MC_STATUS_SUCCESS, "solve\n");
    double e_sv = 0;
    for (int64_t t = 0; t < batch; ++t)
        for (int64_t i = 0; i < sq; ++i)
            for (int64_t c = 0; c < nrhs; ++c) {
                double s = 0;
                for (int64_t p = 0; p < sq; ++p) s += spd[(t * sq + i) * sq + p] * x[(t * sq + p) * nrhs + c];
                e_sv = fmax(e_sv, fabs(s - b[(t * sq + i) * nrhs + c]));
            }
    CHECK(e_sv < 1e-12 * sq, "solve residual %.3g\n", e_sv);
    CHECK(mc_trsm(&L, &B, 1, 1, 0, &X, NULL) == MC_STATUS_SUCCESS, "trsm\n"); /* L^T x = b */
    double e_tr = 0;
    for (int64_t t = 0; t < batch; ++t)
        for (int64_t i = 0; i < sq; ++i)
            for (int64_t c = 0; c < nrhs; ++c) {
                double s = 0;
                for (int64_t p = i; p < sq; ++p) s += l[(t * sq + p) * sq + i] * x[(t * sq + p) * nrhs + c];
                e_tr = fmax(e_tr, fabs(s - b[(t * sq + i) * nrhs + c]));
            }
    CHECK(e_tr < 1e-12 * sq, "trsm residual %.3g\n", e_tr);
    free(ws);
    free(a); free(q); free(r); free(spd); free(l); free(b); free(x); free(info);
}

int main(void) {
    test_basics();
    test_half_conversions();
    test_rmsnorm_bad_arguments();
    test_adamw();
    test_rope_capi();
    test_embedding_bag_capi();
    test_activations_capi();
    test_softmax_capi();
    test_add_rmsnorm_capi();
    test_eigh_svd();
    const mc_dtype dts[] = {MC_DTYPE_F32, MC_DTYPE_F64, MC_DTYPE_F16, MC_DTYPE_BF16};
    const double tols[] = {1e-5, 1e-12, 4e-3, 2e-2};
    const int64_t shapes[][2] = {{1, 1}, {3, 7}, {17, 128}, {5, 1031}};
    for (int d = 0; d < 4; ++d)
        for (int s = 0; s < 4; ++s) {
            test_rmsnorm_values(dts[d], dts[d], shapes[s][0], shapes[s][1], tols[d]);
            if (dts[d] != MC_DTYPE_F32 && dts[d] != MC_DTYPE_F64)
                test_rmsnorm_values(dts[d], MC_DTYPE_F32, shapes[s][0], shapes[s][1], tols[d]);
        }
    test_linalg_direct_bad_arguments();
    test_linalg_direct_values(3, 5, 5);
    test_linalg_direct_values(2, 9, 4);
    test_linalg_direct_values(1, 17, 17);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
