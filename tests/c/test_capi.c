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

int main(void) {
    test_basics();
    test_half_conversions();
    test_rmsnorm_bad_arguments();
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
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
