/* act_extra.c — the less common elementwise activations, forward and derivative.
 *
 * What it is: Softplus (beta, threshold), Hardtanh (min, max; ReLU6 is Hardtanh(0, 6)),
 * Mish, Hardswish, Hardsigmoid, Softsign, LogSigmoid, Threshold (threshold, value), CELU
 * (alpha) and SELU, by kind (NF_ACTX_*), each with two scalar parameters a and b. Every
 * backward reads the forward INPUT and fuses the derivative with the incoming gradient:
 * dinp = dout * f'(x), overwritten, never accumulated (the autograd tape adds).
 *
 * Numerics follow PyTorch's CPU kernels formula by formula (softplus = log1p(exp(beta x)) /
 * beta below the threshold, CELU and SELU as ELU with an input scale / output scale, the
 * hard functions by the same comparisons, so the kinks land on the same side), so float32
 * results agree with torch to a few ulp.
 * exp, expm1, tanh: nf_vmath.h's vectorisable versions; log1p (Softplus, LogSigmoid): our
 * own log1p_pos below, for the non-negative arguments those two pass.
 * Mish needs no log: tanh(log1p(e)) = e (e + 2) / (e (e + 2) + 2) with e = exp(x), exact
 * algebra, no cancellation (all terms positive); e is taken at min(x, 20), where the ratio
 * is already 1 in float.
 *
 * What it is not: strided, non-float32 (the Python side runs float64 through NumPy), or
 * allocating. Aliasing: out == inp and dinp == dout are allowed; nothing else.
 * Threads: blocks of NF_XBLOCK elements, OpenMP only above NF_XPAR elements.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnfast.h"

/* As in act.c: lets the selects if-convert. Before nf_vmath.h, so that its inline helpers
 * carry the same options as the loops (GCC will not inline across an optimize mismatch). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#include "nf_simd.h"
#include "nf_vmath.h"

#define NF_XBLOCK 4096
#define NF_XPAR 32768

#define NF_SELU_ALPHA 1.6732632423543772848170429916717f
#define NF_SELU_SCALE 1.0507009873554804934193349852946f

/* log1p(u) for u >= 0, +inf and NaN (what softplus and logsigmoid pass: u = exp(.)), within
 * ~1 ulp, without a call so that the loops vectorise. fdlibm's scheme: w = fl(1 + u) =
 * 2^k * z with z in [sqrt(1/2), sqrt(2)), f = z - 1 exact; log(z) = f - hf + s (hf + R(s^2)),
 * hf = f^2 / 2, s = f / (2 + f), R the series of 2 atanh(s) / s - 2 - 2s^2/3 ... truncated
 * after s^8 (error below 2^-30 relative on |s| <= 0.172); c = (1 + u - w) / w corrects for
 * the rounding of 1 + u (exact for u < 2^-24, where log1p(u) = u). */
static inline float log1p_pos(float u)
{
    float w = 1.0f + u;
    int32_t b = f2i(w);
    int32_t k = (b - 0x3f3504f3) >> 23; /* 0x3f3504f3 = sqrt(1/2) */
    float z = i2f(b - (k << 23));
    float f = z - 1.0f;
    float c = k > 0 ? (1.0f - (w - u)) / w : (u - (w - 1.0f)) / w;
    float s = f / (2.0f + f);
    float s2 = s * s;
    float R = s2 * (6.6666668653e-01f + s2 * (4.0000000596e-01f +
              s2 * (2.8571429849e-01f + s2 * 2.2222198546e-01f)));
    float hf = 0.5f * f * f;
    float fk = (float)k;
    float r = fk * 6.9313812256e-01f + (f - (hf - (s * (hf + R) + (fk * 9.0580006145e-06f + c))));
    return u < INFINITY ? r : u; /* +inf and NaN pass through */
}

typedef void (*xfwd_fn)(float *out, const float *x, nf_int n, float a, float b);
typedef void (*xbwd_fn)(float *dx, const float *dy, const float *x, nf_int n, float a,
                        float b);

/* softplus: z = beta x; z > threshold ? x : log1p(exp(z)) / beta   (a = beta, b = threshold) */
NF_CLONES static void softplus_f(float *out, const float *x, nf_int n, float beta, float th)
{
    for (nf_int i = 0; i < n; i++) {
        float z = x[i] * beta;
        out[i] = z > th ? x[i] : log1p_pos(nf_expf(z)) / beta;
    }
}
/* d softplus: e = exp(z); z > threshold ? dy : dy * e / (e + 1) */
NF_CLONES static void softplus_b(float *dx, const float *dy, const float *x, nf_int n,
                                 float beta, float th)
{
    for (nf_int i = 0; i < n; i++) {
        float z = x[i] * beta;
        float e = nf_expf(z);
        dx[i] = z > th ? dy[i] : dy[i] * e / (e + 1.0f);
    }
}

/* hardtanh: min(max(x, lo), hi), NaN kept   (a = min_val, b = max_val) */
NF_CLONES static void hardtanh_f(float *out, const float *x, nf_int n, float lo, float hi)
{
    for (nf_int i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        out[i] = v > hi ? hi : v;
    }
}
/* d hardtanh: x <= lo || x >= hi ? 0 : dy (torch's hardtanh_backward: 0 on the kinks) */
NF_CLONES static void hardtanh_b(float *dx, const float *dy, const float *x, nf_int n,
                                 float lo, float hi)
{
    for (nf_int i = 0; i < n; i++) dx[i] = (x[i] <= lo || x[i] >= hi) ? 0.0f : dy[i];
}

/* mish: x * tanh(softplus(x)), tanh(softplus(x)) = p / (p + 2), p = e (e + 2), e = exp(x) */
static inline float tanh_softplus(float x)
{
    float e = nf_expf(x < 20.0f ? x : 20.0f); /* NaN passes */
    float p = e * (e + 2.0f);
    return p / (p + 2.0f);
}
NF_CLONES static void mish_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) out[i] = x[i] * tanh_softplus(x[i]);
}
/* d mish: dy * (t + x * sigmoid(x) * (1 - t^2)), t = tanh(softplus(x)) */
NF_CLONES static void mish_b(float *dx, const float *dy, const float *x, nf_int n, float a,
                             float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float t = tanh_softplus(v);
        float s = 1.0f / (1.0f + nf_expf(-v));
        dx[i] = dy[i] * (t + v * s * (1.0f - t * t));
    }
}

/* hardswish: x * min(max(x + 3, 0), 6) / 6 */
NF_CLONES static void hardswish_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float r = x[i] + 3.0f;
        r = r < 0.0f ? 0.0f : r;
        r = r > 6.0f ? 6.0f : r;
        out[i] = x[i] * r / 6.0f;
    }
}
/* d hardswish: x <= -3 ? 0 : (x < 3 ? dy * (x / 3 + 0.5) : dy) (torch's sides of the kinks) */
NF_CLONES static void hardswish_b(float *dx, const float *dy, const float *x, nf_int n,
                                  float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float mid = dy[i] * (v / 3.0f + 0.5f);
        dx[i] = v <= -3.0f ? 0.0f : (v < 3.0f ? mid : dy[i]);
    }
}

/* hardsigmoid: min(max(x + 3, 0), 6) / 6 */
NF_CLONES static void hardsigmoid_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float r = x[i] + 3.0f;
        r = r < 0.0f ? 0.0f : r;
        r = r > 6.0f ? 6.0f : r;
        out[i] = r / 6.0f;
    }
}
/* d hardsigmoid: -3 < x < 3 ? dy * (1/6 in float) : 0 (torch multiplies by the float constant,
 * in float64 too) */
NF_CLONES static void hardsigmoid_b(float *dx, const float *dy, const float *x, nf_int n,
                                    float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++)
        dx[i] = (x[i] > -3.0f && x[i] < 3.0f) ? dy[i] * (1.0f / 6.0f) : 0.0f;
}

/* softsign: x / (1 + |x|) */
NF_CLONES static void softsign_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) out[i] = x[i] / (fabsf(x[i]) + 1.0f);
}
/* d softsign: dy / (1 + |x|)^2, NaN at +-inf as torch's composite gradient (x - x adds 0
 * to a finite x, NaN to an infinite one) */
NF_CLONES static void softsign_b(float *dx, const float *dy, const float *x, nf_int n, float a,
                                 float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float d = fabsf(x[i]) + 1.0f;
        dx[i] = dy[i] / (d * d) + (x[i] - x[i]);
    }
}

/* logsigmoid: min(x, 0) - log1p(exp(-|x|)) */
NF_CLONES static void logsigmoid_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float m = x[i] < 0.0f ? x[i] : 0.0f;
        out[i] = m - log1p_pos(nf_expf(-fabsf(x[i])));
    }
}
/* d logsigmoid: z = exp(-|x|); dy * (x < 0 ? 1 - z / (1 + z) : z / (1 + z)) */
NF_CLONES static void logsigmoid_b(float *dx, const float *dy, const float *x, nf_int n,
                                   float a, float b)
{
    (void)a, (void)b;
    for (nf_int i = 0; i < n; i++) {
        float z = nf_expf(-fabsf(x[i]));
        float q = z / (1.0f + z);
        dx[i] = dy[i] * (x[i] < 0.0f ? 1.0f - q : q);
    }
}

/* threshold: x <= threshold ? value : x   (a = threshold, b = value) */
NF_CLONES static void threshold_f(float *out, const float *x, nf_int n, float th, float value)
{
    for (nf_int i = 0; i < n; i++) out[i] = x[i] <= th ? value : x[i];
}
/* d threshold: x <= threshold ? 0 : dy */
NF_CLONES static void threshold_b(float *dx, const float *dy, const float *x, nf_int n,
                                  float th, float value)
{
    (void)value;
    for (nf_int i = 0; i < n; i++) dx[i] = x[i] <= th ? 0.0f : dy[i];
}

/* celu: x <= 0 ? alpha * expm1(x / alpha) : x   (a = alpha, b = 1 / alpha, torch's ELU with
 * input_scale = 1 / alpha) */
NF_CLONES static void celu_f(float *out, const float *x, nf_int n, float alpha, float inv)
{
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float z = v * inv;
        float e = nf_expm1f(z < 0.0f ? z : 0.0f) * alpha;
        out[i] = v < 0.0f ? e : v; /* (v == 0: both are 0; this keeps -0.0 as torch) */
    }
}
/* d celu: x <= 0 ? dy * (alpha * s) * exp(x * s) : dy, where torch's derivative takes the
 * input scale s as 1 / alpha with alpha rounded to float (alpha.toFloat()), not the forward's
 * b; in float32 that is 1.0f / alpha */
NF_CLONES static void celu_b(float *dx, const float *dy, const float *x, nf_int n, float alpha,
                             float inv)
{
    (void)inv;
    float s = 1.0f / alpha;
    float c = alpha * s;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float z = v * s;
        float g = dy[i] * c * nf_expf(z < 0.0f ? z : 0.0f);
        dx[i] = v <= 0.0f ? g : dy[i];
    }
}

/* selu: scale * (x <= 0 ? alpha * expm1(x) : x), computed as torch's ELU with
 * negcoef = alpha * scale, poscoef = scale */
NF_CLONES static void selu_f(float *out, const float *x, nf_int n, float a, float b)
{
    (void)a, (void)b;
    const float neg = NF_SELU_ALPHA * NF_SELU_SCALE;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float e = nf_expm1f(v < 0.0f ? v : 0.0f) * neg;
        out[i] = v < 0.0f ? e : v * NF_SELU_SCALE; /* keeps -0.0 */
    }
}
/* d selu: x <= 0 ? dy * negcoef * exp(x) : dy * scale */
NF_CLONES static void selu_b(float *dx, const float *dy, const float *x, nf_int n, float a,
                             float b)
{
    (void)a, (void)b;
    const float neg = NF_SELU_ALPHA * NF_SELU_SCALE;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float g = dy[i] * neg * nf_expf(v < 0.0f ? v : 0.0f);
        dx[i] = v <= 0.0f ? g : dy[i] * NF_SELU_SCALE;
    }
}

/* ------------------------------------------------------------------------------------- */
/* By kind: the one table the public entry points read                                    */
/* ------------------------------------------------------------------------------------- */

static const struct {
    xfwd_fn f;
    xbwd_fn b;
} ACTX_BY_KIND[NF_ACTX_COUNT] = {
    [NF_ACTX_SOFTPLUS] = {softplus_f, softplus_b},
    [NF_ACTX_HARDTANH] = {hardtanh_f, hardtanh_b},
    [NF_ACTX_MISH] = {mish_f, mish_b},
    [NF_ACTX_HARDSWISH] = {hardswish_f, hardswish_b},
    [NF_ACTX_HARDSIGMOID] = {hardsigmoid_f, hardsigmoid_b},
    [NF_ACTX_SOFTSIGN] = {softsign_f, softsign_b},
    [NF_ACTX_LOGSIGMOID] = {logsigmoid_f, logsigmoid_b},
    [NF_ACTX_THRESHOLD] = {threshold_f, threshold_b},
    [NF_ACTX_CELU] = {celu_f, celu_b},
    [NF_ACTX_SELU] = {selu_f, selu_b},
};

int nf_act_extra_forward(int kind, float *out, const float *inp, nf_int n, float a, float b)
{
    if (kind < 0 || kind >= NF_ACTX_COUNT) return -1;
    if (n <= 0) return 0;
    xfwd_fn f = ACTX_BY_KIND[kind].f;
    nf_int nb = (n + NF_XBLOCK - 1) / NF_XBLOCK;
#pragma omp parallel for if (n > NF_XPAR) num_threads(nf_get_num_threads())
    for (nf_int t = 0; t < nb; t++) {
        nf_int lo = t * NF_XBLOCK;
        nf_int len = n - lo < NF_XBLOCK ? n - lo : NF_XBLOCK;
        f(out + lo, inp + lo, len, a, b);
    }
    return 0;
}

int nf_act_extra_backward(int kind, float *dinp, const float *dout, const float *inp, nf_int n,
                          float a, float b)
{
    if (kind < 0 || kind >= NF_ACTX_COUNT) return -1;
    if (n <= 0) return 0;
    xbwd_fn f = ACTX_BY_KIND[kind].b;
    nf_int nb = (n + NF_XBLOCK - 1) / NF_XBLOCK;
#pragma omp parallel for if (n > NF_XPAR) num_threads(nf_get_num_threads())
    for (nf_int t = 0; t < nb; t++) {
        nf_int lo = t * NF_XBLOCK;
        nf_int len = n - lo < NF_XBLOCK ? n - lo : NF_XBLOCK;
        f(dinp + lo, dout + lo, inp + lo, len, a, b);
    }
    return 0;
}
