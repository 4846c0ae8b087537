/* Status strings, the thread-local error detail, dtype traits and tensor helpers. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_strings[MC_STATUS_COUNT_] = {
    "success",
    "invalid argument",
    "shape mismatch",
    "unsupported dtype",
    "device mismatch",
    "unsupported device",
    "CUDA error",
    "numerical error",
    "not converged",
    "internal error",
};

const char *mc_status_string(mc_status status) {
    if ((int)status < 0 || status >= MC_STATUS_COUNT_) return "unknown status";
    return status_strings[status];
}

static _Thread_local char last_error[512];

const char *mc_last_error(void) { return last_error; }

void mc_clear_error(void) { last_error[0] = '\0'; }

mc_status mc_fail(mc_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- dtypes -------------------------------------------------------------------------------- */

static const size_t dtype_sizes[MC_DTYPE_COUNT_] = {4, 8, 2, 2, 1, 1, 2, 4, 8, 1};
static const char *const dtype_names[MC_DTYPE_COUNT_] = {
    "float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16", "int32", "int64",
    "bool"};

size_t mc_dtype_size(mc_dtype dtype) {
    if ((int)dtype < 0 || dtype >= MC_DTYPE_COUNT_) return 0;
    return dtype_sizes[dtype];
}

const char *mc_dtype_name(mc_dtype dtype) {
    if ((int)dtype < 0 || dtype >= MC_DTYPE_COUNT_) return "invalid";
    return dtype_names[dtype];
}

int mc_dtype_is_float(mc_dtype d) {
    return d == MC_DTYPE_F32 || d == MC_DTYPE_F64 || d == MC_DTYPE_F16 || d == MC_DTYPE_BF16;
}

/* IEEE binary16 <-> binary32, bit-exact, round to nearest even. */
float mc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1fu) {
        u = sign | 0x7f800000u | (man << 13); /* inf / nan */
    } else if (exp != 0) {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else { /* subnormal: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while ((man & 0x400u) == 0);
        u = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t mc_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); /* NaN */
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflow (>= 65520) -> inf */
    if (absu < 0x38800000u) {                                   /* result is subnormal or zero */
        if (absu < 0x33000000u) return (uint16_t)sign;          /* < 2^-25 rounds to 0 */
        uint32_t e = absu >> 23;
        uint32_t m = (absu & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e; /* 14..24 */
        uint32_t half = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = absu + 0xfffu + ((absu >> 13) & 1u) - 0x38000000u; /* rebias 127 -> 15 */
    return (uint16_t)(sign | (r >> 13));
}

/* ---- tensors ------------------------------------------------------------------------------- */

mc_status mc_tensor_init_contiguous(mc_tensor *t, void *data, mc_dtype dtype, int ndim,
                                    const int64_t *shape, mc_device device) {
    if (!t) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "tensor descriptor is NULL");
    if (ndim < 0 || ndim > MC_MAX_DIMS)
        return mc_fail(MC_STATUS_INVALID_ARGUMENT, "rank %d outside 0..%d", ndim, MC_MAX_DIMS);
    if (ndim > 0 && !shape) return mc_fail(MC_STATUS_INVALID_ARGUMENT, "shape is NULL");
    memset(t, 0, sizeof *t);
    t->data = data;
    t->dtype = dtype;
    t->ndim = ndim;
    t->device = device;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; --i) {
        if (shape[i] < 0)
            return mc_fail(MC_STATUS_INVALID_ARGUMENT, "negative extent %lld in dim %d",
                           (long long)shape[i], i);
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        stride *= shape[i] > 0 ? shape[i] : 1;
    }
    return MC_STATUS_SUCCESS;
}

int64_t mc_tensor_numel(const mc_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; ++i) n *= t->shape[i];
    return n;
}

int mc_tensor_is_contiguous(const mc_tensor *t) {
    if (mc_tensor_numel(t) == 0) return 1; /* no element to address */
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; --i) {
        if (t->shape[i] != 1 && t->strides[i] != expected) return 0;
        expected *= t->shape[i];
    }
    return 1;
}
