/* nf_vmath.h — scalar float32 exp/expm1/tanh written so that loops over them vectorise.
 *
 * Internal to csrc/ (not part of the C API in nnfast.h): static inline, shared by the
 * kernel families that need transcendental functions in hot elementwise loops (act.c,
 * rnn.c). Branch-free, no libm calls, each within ~2 ulp of the correctly rounded value.
 */
#ifndef NF_VMATH_H
#define NF_VMATH_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline int32_t f2i(float f) { int32_t i; memcpy(&i, &f, 4); return i; }
static inline float i2f(int32_t i) { float f; memcpy(&f, &i, 4); return f; }

/* Split x = j*ln2 + r, |r| <= ~ln2/2, j an integer (returned as float and as int n).
 * Rounding by adding 1.5*2^23 avoids a float->int conversion (undefined for NaN). ln2 is
 * split Cody-Waite style: j*LN2_HI is exact for |j| < 2^15. */
#define NF_SHIFTER 12582912.0f /* 1.5 * 2^23 */
#define NF_LOG2E 1.44269504088896341f
#define NF_LN2_HI 0.693359375f
#define NF_LN2_LO (-2.12194440e-4f)

static inline float reduce_ln2(float x, int32_t *n)
{
    float t = x * NF_LOG2E + NF_SHIFTER;
    float j = t - NF_SHIFTER;
    *n = f2i(t) - f2i(NF_SHIFTER);
    float r = x - j * NF_LN2_HI;
    return r - j * NF_LN2_LO;
}

/* 2^n for n in [-126, 127] */
static inline float pow2i(int32_t n) { return i2f((int32_t)((uint32_t)(n + 127) << 23)); }

/* exp(r) for |r| <= ln2/2: the degree-7 Taylor polynomial, evaluated the same way by every
 * exp below so that they agree where their ranges overlap. */
static inline float nf_exp_poly(float r)
{
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p;
}

/* exp(x), float32, within ~1 ulp, including overflow to inf, gradual underflow to
 * denormals and 0, and NaN in -> NaN out. exp(r) on |r| <= ln2/2 by its degree-7 Taylor
 * polynomial (truncation error r^8/8! < 6e-9 relative). The scale 2^n is applied in two
 * steps so that n in [-150, 128] needs no branch and the result is rounded once. */
static inline float nf_expf(float x)
{
    x = x < -104.0f ? -104.0f : x; /* NaN passes both clamps */
    x = x > 89.0f ? 89.0f : x;
    int32_t n;
    float r = reduce_ln2(x, &n);
    float p = nf_exp_poly(r);
    int32_t n1 = n >> 1;
    return p * pow2i(n1) * pow2i(n - n1);
}

/* expm1(x) = exp(x) - 1 without the cancellation near 0, within ~2 ulp, for x <= 20
 * (larger x is clamped to 20: every caller here passes x <= 20). Below -20 the float
 * result is -1 exactly, so clamping there is exact.
 * expm1(x) = 2^n * (expm1(r) + 1) - 1 = 2^n * expm1(r) + (2^n - 1). */
static inline float nf_expm1f(float x)
{
    x = x < -20.0f ? -20.0f : x;
    x = x > 20.0f ? 20.0f : x;
    int32_t n;
    float r = reduce_ln2(x, &n);
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    float q = r + (r * r) * p; /* expm1(r) */
    float s = pow2i(n);
    return s * q + (s - 1.0f);
}

/* tanh(|x|) = e / (e + 2) with e = expm1(2|x|) for |x| < 0.55 (no cancellation near 0),
 * else 1 - 2 / (e + 2) (no rounding of e + 2 towards e near saturation); sign restored.
 * |x| >= 10 gives +-1 exactly (tanh(10) = 1 - 4e-9 rounds to 1). Within ~2 ulp. */
static inline float nf_tanhf(float x)
{
    float a = fabsf(x);
    a = a > 10.0f ? 10.0f : a;
    float e = nf_expm1f(2.0f * a);
    float small = e / (e + 2.0f), big = 1.0f - 2.0f / (e + 2.0f);
    return copysignf(a < 0.55f ? small : big, x);
}

#endif /* NF_VMATH_H */
