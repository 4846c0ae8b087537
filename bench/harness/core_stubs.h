/* Stand-ins for the src/core/status.c functions the CUDA sources call, for the harnesses that
 * #include library .cu files (src/core is C11 and not linked here). mc_fail keeps its message in
 * g_last_error and prints it, so a refused launch shows why. */
#ifndef MC_BENCH_CORE_STUBS_H
#define MC_BENCH_CORE_STUBS_H

#include <cstdarg>
#include <cstdio>

#include "metalcore.h"

static char g_last_error[512];

extern "C" {
mc_status mc_fail(mc_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mc_fail: %s\n", g_last_error);
    return status;
}
size_t mc_dtype_size(mc_dtype d) { return d == MC_DTYPE_F64 ? 8 : d == MC_DTYPE_F32 ? 4 : 2; }
const char *mc_dtype_name(mc_dtype d) {
    return d == MC_DTYPE_F32 ? "float32" : d == MC_DTYPE_F64 ? "float64" : d == MC_DTYPE_F16 ? "float16"
         : d == MC_DTYPE_BF16 ? "bfloat16" : "other";
}
}

#endif
