/* Elementary functions in float that the compiler can vectorise (only arithmetic, comparisons
 * and bit casts, no libm calls), for the CPU kernels' fast paths, and the multi-versioning
 * attribute those loops use. Accuracy: mc_expf within 2 ulp of expf on [-87.3, 88.7] (Cephes'
 * expf polynomial, Cody-Waite reduction), +inf above, 0 below (results under FLT_MIN are
 * flushed), NaN for NaN; mc_erff within 1.5e-7 absolute (Abramowitz & Stegun 7.1.26 form with
 * the exponential above). The coefficient sets are the published ones; the code is ours. */
#ifndef MC_CPU_VECMATH_H
#define MC_CPU_VECMATH_H

#include <stdint.h>
#include <string.h>

/* Multi-versioned hot loops: AVX2 + FMA where the CPU has them, baseline otherwise (GCC on x86-64). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(MC_NO_CLONES)
#define MC_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MC_SIMD_CLONES
#endif

static inline float mc_bits_to_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline float mc_expf(float x) {
    const float hi = 88.7f, lo = -87.3f;
    const float xc = x > hi ? hi : (x < lo ? lo : x);
    /* k = round(x / ln 2) with the 1.5 * 2^23 trick (exact for |k| < 2^22) */
    const float kf = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - kf * 0.693359375f; /* ln 2 split in two (Cody-Waite) */
    r = r + kf * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t k = (int32_t)kf; /* in [-126, 128] */
    /* 2^k as two factors so k = 128 (x near 88.7) does not overflow the exponent field */
    const float s1 = mc_bits_to_float((uint32_t)(k / 2 + 127) << 23);
    const float s2 = mc_bits_to_float((uint32_t)(k - k / 2 + 127) << 23);
    float y = p * s1 * s2;
    y = x > hi ? __builtin_inff() : y;
    y = x < lo ? 0.0f : y;
    return x != x ? x : y;
}

/* erf(x) = sign(x) (1 - (a1 t + ... + a5 t^5) e^{-x^2}), t = 1 / (1 + p |x|) */
static inline float mc_erff(float x) {
    const float ax = x < 0 ? -x : x;
    const float t = 1.0f / (1.0f + 0.3275911f * ax);
    float q = 1.061405429f;
    q = q * t - 1.453152027f;
    q = q * t + 1.421413741f;
    q = q * t - 0.284496736f;
    q = q * t + 0.254829592f;
    const float e = 1.0f - q * t * mc_expf(-ax * ax);
    return x < 0 ? -e : e;
}

/* tanh(u) = sign(u) (1 - 2 / (e^{2|u|} + 1)); for |u| < 1/4 the odd Taylor series to u^9
 * (there the subtraction would cancel; the series' next term is below 1e-8 relative) */
static inline float mc_tanhf(float u) {
    const float au = u < 0 ? -u : u;
    const float big = 1.0f - 2.0f / (mc_expf(2.0f * au) + 1.0f);
    const float u2 = au * au;
    const float small =
        au * (1.0f + u2 * (-1.0f / 3 + u2 * (2.0f / 15 + u2 * (-17.0f / 315 + u2 * (62.0f / 2835)))));
    const float t = au < 0.25f ? small : big;
    return u < 0 ? -t : t;
}

#endif
