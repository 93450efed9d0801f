/* act.c — activation forward and derivative kernels.
 *
 * What it is: elementwise ReLU, LeakyReLU, ELU, Sigmoid, Tanh, GELU (erf and tanh forms),
 * SiLU; per-channel PReLU; Softmax and LogSoftmax along one axis of an array viewed as
 * [outer, D, inner]. Every backward fuses the derivative with the incoming gradient:
 * dinp = dout * f'(x), written (overwritten), never accumulated; PReLU's dweight likewise.
 *
 * Numerics follow PyTorch's CPU kernels formula by formula (sigmoid = 1/(1+exp(-x)),
 * ELU via expm1, GELU = 0.5*x*(1+erf(x/sqrt 2)), ...), so float32 results agree to a few
 * ulp. exp, expm1 and tanh are our own branch-free versions (below) so that the loops
 * vectorise; each is within ~2 ulp of the correctly rounded value; so is erf.
 *
 * What it is not: a general elementwise engine. No strides (callers pass C-contiguous
 * arrays), no dtype other than float32 (the Python side runs float64 through NumPy), no
 * allocation (softmax over a non-last axis uses a fixed stack scratch), no accumulation
 * into gradient buffers (the autograd tape adds).
 *
 * Aliasing: forward kernels may be called with out == inp (in-place); backward kernels
 * with dinp == dout. Other overlaps are not allowed.
 *
 * SIMD: hot loops carry NF_CLONES (GCC function multiversioning: AVX-512, AVX2+FMA and a
 * baseline x86-64 copy chosen at load time); elsewhere they are plain C that compilers
 * auto-vectorise. Threads: OpenMP splits a call only above a size threshold (2 cores gain
 * nothing on small arrays).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnfast.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "nf_simd.h"

/* The selects in these loops (clamps, piece choices) compare floats; under GCC's default
 * -ftrapping-math a compare may raise FP exceptions, so without AVX-512 masks the vectoriser
 * will not if-convert them and the AVX2 and baseline copies stay scalar. Nothing here reads
 * the FP exception flags, and the option changes no result (no reassociation, NaN kept). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* Elements per call below which a kernel stays on one thread. Cheap ops (relu) are memory
 * bound and need more work to pay for the fork than exp/erf-heavy ones. */
#define NF_PAR_CHEAP 262144
#define NF_PAR_MATH 32768

/* Scalar math that vectorises (nf_expf, nf_expm1f, nf_tanhf): nf_vmath.h */
#include "nf_vmath.h"

/* erf(x), float32, within ~2 ulp (NaN in -> NaN out), and e = exp(-x^2) on the side (the
 * GELU derivative needs that same exponential for its pdf term; sharing it saves one exp).
 * |x| < 1: x * P(x^2), P a degree-6 fit of erf(x)/x in x^2 on [0, 1] (least squares on
 *   Chebyshev nodes weighted for relative error, double precision: relative error 1.3e-9,
 *   far below float rounding; 7 terms where the Taylor series needs 11).
 * 1 <= |x| < 4: 1 - exp(-x^2) * R(|x|), R(x) = erfc(x) * exp(x^2) fitted (least squares on
 *   Chebyshev nodes weighted for relative error, double precision: 6e-9) by a degree-12
 *   polynomial in v = (x - 2.5) / 1.5, which maps [1, 4] onto [-1, 1] without a division
 *   (float evaluation: 1.8e-7 relative). The error of R is scaled by erfc(x) <= 0.16, so it
 *   stays below half an ulp of the result.
 * |x| >= 4: +-1 (erfc(4) = 1.5e-8 is below half an ulp of 1).
 * Both pieces are computed and one is selected (no branch), so loops over it vectorise. */
/* exp(x) for x in [-87, 88.3] only (normal results; no clamps, one scaling step), same
 * reduction and polynomial as nf_expf, so it returns the same value there. */
static inline float exp_normal(float x)
{
    int32_t n;
    float r = reduce_ln2(x, &n);
    float p = nf_exp_poly(r);
    return p * pow2i(n);
}

/* exp(x) as 1 + exp(x) needs it in sigmoid and SiLU: one scaling step, no denormals.
 * x is clamped to [-87, 89] (NaN passes): below, exp(x) < 1.7e-38 vanishes next to 1 anyway;
 * above 88.38 the scale 2^128 is inf, so the result is inf where exp overflows (and
 * already on (88.38, 88.72], where the true value is still finite: 1 / (1 + e) then gives 0
 * instead of at most 6e-39). Elsewhere the same value as nf_expf. */
static inline float exp_sig(float x)
{
    x = x < -87.0f ? -87.0f : x;
    x = x > 89.0f ? 89.0f : x;
    return exp_normal(x);
}

/* erf(a), 0 <= a < 1 (see above) */
static inline float erf_small(float a)
{
    float z = a * a;
    float p = 7.847259118e-05f;
    p = p * z - 8.008189320e-04f;
    p = p * z + 5.188098889e-03f;
    p = p * z - 2.685369110e-02f;
    p = p * z + 1.128358225e-01f;
    p = p * z - 3.761262557e-01f;
    p = p * z + 1.128379166e+00f;
    return a * p;
}

/* erf from its two pieces; ez must be exp(-x^2) wherever 1 <= |x| < 4 */
static inline float erf_pieces(float x, float ez)
{
    float a = fabsf(x);
    float small = erf_small(a);

    float b = a < 1.0f ? 1.0f : (a > 4.0f ? 4.0f : a); /* keeps NaN */
    float v = b * (1.0f / 1.5f) - (2.5f / 1.5f); /* [1, 4] -> [-1, 1] */
    float q = 1.244564896e-05f;
    q = q * v - 3.665494841e-05f;
    q = q * v + 5.902049466e-05f;
    q = q * v - 1.446941095e-04f;
    q = q * v + 4.099893438e-04f;
    q = q * v - 1.016381326e-03f;
    q = q * v + 2.404004378e-03f;
    q = q * v - 5.567650117e-03f;
    q = q * v + 1.248917580e-02f;
    q = q * v - 2.700566980e-02f;
    q = q * v + 5.611051653e-02f;
    q = q * v - 1.115210074e-01f;
    q = q * v + 2.108063637e-01f;
    float big = 1.0f - ez * q;
    big = a >= 4.0f ? 1.0f : big;
    return copysignf(a < 1.0f ? small : big, x);
}

/* erf(x) without the exponential, for GELU's forward (and nf_act_math): the same |x| < 1
 * piece; on 1 <= |x| < 4, erfc(|x|) is a degree-16 polynomial in w = |x| - 2.5 (exact in
 * float, so the variable carries no rounding), fitted for absolute error (least squares on
 * Chebyshev nodes, double precision: 6e-10). Float evaluation keeps it within 4e-8
 * absolute of erfc, i.e. within about one ulp of erf there (erf >= 0.84: ulp 6e-8), while
 * costing 16 multiply-adds instead of the 13 plus an exp of the form above. */
static inline float nf_erff(float x)
{
    float a = fabsf(x);
    float b = a < 1.0f ? 1.0f : (a > 4.0f ? 4.0f : a); /* keeps NaN */
    float v = b - 2.5f;
    float q = -1.127201533e-08f;
    q = q * v + 3.512991436e-07f;
    q = q * v - 7.886890088e-07f;
    q = q * v - 3.462653716e-06f;
    q = q * v + 1.534835108e-05f;
    q = q * v - 7.756445347e-06f;
    q = q * v - 8.039429880e-05f;
    q = q * v + 2.534241779e-04f;
    q = q * v - 2.594749103e-04f;
    q = q * v - 5.445338303e-04f;
    q = q * v + 2.797981251e-03f;
    q = q * v - 6.116587560e-03f;
    q = q * v + 8.622484327e-03f;
    q = q * v - 8.350211774e-03f;
    q = q * v + 5.445701506e-03f;
    q = q * v - 2.178278504e-03f;
    q = q * v + 4.069521418e-04f;
    float big = a >= 4.0f ? 1.0f : 1.0f - q;
    return copysignf(a < 1.0f ? erf_small(a) : big, x);
}

/* erf(x), and *e = exp(-x^2) for every x (0 for |x| >= 10.2, NaN for NaN) */
static inline float nf_erff_exp(float x, float *e)
{
    float a = fabsf(x);
    float ez = nf_expf(-(a * a));
    *e = ez;
    return erf_pieces(x, ez);
}

/* ------------------------------------------------------------------------------------- */
/* Threading helpers: split [0, n) into one contiguous chunk per thread                   */
/* ------------------------------------------------------------------------------------- */

typedef void (*unary_fn)(float *out, const float *x, nf_int n, float a);
typedef void (*binary_fn)(float *dx, const float *dy, const float *s, nf_int n, float a);

static inline void chunk(nf_int n, nf_int *lo, nf_int *hi)
{
#ifdef _OPENMP
    nf_int nt = omp_get_num_threads(), t = omp_get_thread_num();
    nf_int per = ((n + nt - 1) / nt + 15) & ~(nf_int)15; /* multiples of 16 floats */
    *lo = t * per < n ? t * per : n;
    *hi = *lo + per < n ? *lo + per : n;
#else
    *lo = 0;
    *hi = n;
#endif
}

static void run_unary(unary_fn f, float *out, const float *x, nf_int n, float a, nf_int par)
{
    if (n <= 0) return;
#pragma omp parallel if (n > par) num_threads(nf_get_num_threads())
    {
        nf_int lo, hi;
        chunk(n, &lo, &hi);
        if (hi > lo) f(out + lo, x + lo, hi - lo, a);
    }
}

static void run_binary(binary_fn f, float *dx, const float *dy, const float *s, nf_int n,
                       float a, nf_int par)
{
    if (n <= 0) return;
#pragma omp parallel if (n > par) num_threads(nf_get_num_threads())
    {
        nf_int lo, hi;
        chunk(n, &lo, &hi);
        if (hi > lo) f(dx + lo, dy + lo, s + lo, hi - lo, a);
    }
}

/* ------------------------------------------------------------------------------------- */
/* Elementwise kernels: one chunk each; `a` is the op's scalar (unused where it has none) */
/* ------------------------------------------------------------------------------------- */

/* relu: x < 0 ? 0 : x (keeps NaN and -0.0, as torch.clamp_min does) */
NF_CLONES static void relu_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) out[i] = x[i] < 0.0f ? 0.0f : x[i];
}
/* d relu: x <= 0 ? 0 : dy (torch's threshold_backward; NaN x lets dy through) */
NF_CLONES static void relu_b(float *dx, const float *dy, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) dx[i] = x[i] <= 0.0f ? 0.0f : dy[i];
}

/* leaky_relu: x > 0 ? x : x * slope */
NF_CLONES static void leaky_f(float *out, const float *x, nf_int n, float slope)
{
    for (nf_int i = 0; i < n; i++) out[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}
/* d leaky_relu: x > 0 ? dy : dy * slope */
NF_CLONES static void leaky_b(float *dx, const float *dy, const float *x, nf_int n, float slope)
{
    for (nf_int i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * slope;
}

/* elu: x <= 0 ? expm1(x) * alpha : x */
NF_CLONES static void elu_f(float *out, const float *x, nf_int n, float alpha)
{
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float e = nf_expm1f(v < 0.0f ? v : 0.0f) * alpha;
        out[i] = v <= 0.0f ? e : v;
    }
}
/* d elu (from the input, torch's non-inplace form): x <= 0 ? dy * alpha * exp(x) : dy */
NF_CLONES static void elu_b(float *dx, const float *dy, const float *x, nf_int n, float alpha)
{
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float g = dy[i] * alpha * nf_expf(v < 0.0f ? v : 0.0f);
        dx[i] = v <= 0.0f ? g : dy[i];
    }
}

/* sigmoid: 1 / (1 + exp(-x)) */
NF_CLONES static void sigmoid_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) out[i] = 1.0f / (1.0f + exp_sig(-x[i]));
}
/* d sigmoid from the output y: dy * (1 - y) * y */
NF_CLONES static void sigmoid_b(float *dx, const float *dy, const float *y, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i]) * y[i];
}

NF_CLONES static void tanh_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) out[i] = nf_tanhf(x[i]);
}
/* d tanh from the output y: dy * (1 - y*y) */
NF_CLONES static void tanh_b(float *dx, const float *dy, const float *y, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

#define NF_SQRT1_2 0.70710678118654752440f
#define NF_GELU_PDF 0.39894228040143267794f  /* 1/sqrt(2 pi) = M_2_SQRTPI * M_SQRT1_2 / 2 */
#define NF_GELU_BETA 0.79788456080286535588f /* sqrt(2/pi) = M_SQRT2 * M_2_SQRTPI / 2 */
#define NF_GELU_KAPPA 0.044715f

/* gelu (exact): x * 0.5 * (1 + erf(x / sqrt 2)) */
NF_CLONES static void gelu_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) out[i] = x[i] * 0.5f * (1.0f + nf_erff(x[i] * NF_SQRT1_2));
}
/* d gelu (exact): dy * (cdf + x * pdf), cdf = 0.5*(1+erf(x/sqrt 2)),
 * pdf = exp(-x*x/2) / sqrt(2 pi), that exponential taken from the erf evaluation (its
 * argument is (x/sqrt 2)^2 rounded, not x*x*0.5: the two differ by an ulp or two) */
NF_CLONES static void gelu_b(float *dx, const float *dy, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i], e;
        float cdf = 0.5f * (1.0f + nf_erff_exp(v * NF_SQRT1_2, &e)); /* e = exp(-x^2/2) */
        float pdf = NF_GELU_PDF * e;
        dx[i] = dy[i] * (cdf + v * pdf);
    }
}

/* gelu (tanh): 0.5 * x * (1 + tanh(beta * (x + kappa * x^3))) */
NF_CLONES static void gelu_tanh_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float inner = NF_GELU_BETA * (v + NF_GELU_KAPPA * (v * v * v));
        out[i] = 0.5f * v * (1.0f + nf_tanhf(inner));
    }
}
/* d gelu (tanh): dy * (0.5 * (1 + t) + 0.5 * x * (1 - t^2) * beta * (1 + 3 kappa x^2)) */
NF_CLONES static void gelu_tanh_b(float *dx, const float *dy, const float *x, nf_int n,
                                  float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        float v2 = v * v;
        float inner = NF_GELU_BETA * (v + NF_GELU_KAPPA * (v2 * v));
        float t = nf_tanhf(inner);
        float left_d = 0.5f * (1.0f + t);
        float right_d = (1.0f - t * t) * (NF_GELU_BETA * (1.0f + 3.0f * NF_GELU_KAPPA * v2));
        dx[i] = dy[i] * (left_d + 0.5f * v * right_d);
    }
}

/* silu: x / (1 + exp(-x)) */
NF_CLONES static void silu_f(float *out, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) out[i] = x[i] / (1.0f + exp_sig(-x[i]));
}
/* d silu: dy * s * (1 + x * (1 - s)), s = sigmoid(x) */
NF_CLONES static void silu_b(float *dx, const float *dy, const float *x, nf_int n, float a)
{
    (void)a;
    for (nf_int i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + exp_sig(-x[i]));
        dx[i] = dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

/* ------------------------------------------------------------------------------------- */
/* Public elementwise API                                                                */
/* ------------------------------------------------------------------------------------- */

/* Each kernel by kind (NF_ACT_*) with the size above which it forks: the one place the
 * public functions below and run-time callers (nf_mlp_step) take them from. */
static const struct {
    unary_fn f;
    binary_fn b;
    nf_int par_f, par_b;
} ACT_BY_KIND[] = {
    [NF_ACT_RELU] = {relu_f, relu_b, NF_PAR_CHEAP, NF_PAR_CHEAP},
    [NF_ACT_LEAKY_RELU] = {leaky_f, leaky_b, NF_PAR_CHEAP, NF_PAR_CHEAP},
    [NF_ACT_ELU] = {elu_f, elu_b, NF_PAR_MATH, NF_PAR_MATH},
    [NF_ACT_SIGMOID] = {sigmoid_f, sigmoid_b, NF_PAR_MATH, NF_PAR_CHEAP},
    [NF_ACT_TANH] = {tanh_f, tanh_b, NF_PAR_MATH, NF_PAR_CHEAP},
    [NF_ACT_GELU] = {gelu_f, gelu_b, NF_PAR_MATH, NF_PAR_MATH},
    [NF_ACT_GELU_TANH] = {gelu_tanh_f, gelu_tanh_b, NF_PAR_MATH, NF_PAR_MATH},
    [NF_ACT_SILU] = {silu_f, silu_b, NF_PAR_MATH, NF_PAR_MATH},
};

void nf_act_forward(int kind, float *out, const float *inp, nf_int n, float a, int threaded)
{
    if (threaded) run_unary(ACT_BY_KIND[kind].f, out, inp, n, a, ACT_BY_KIND[kind].par_f);
    else if (n > 0) ACT_BY_KIND[kind].f(out, inp, n, a);
}

void nf_act_backward(int kind, float *dinp, const float *dout, const float *saved, nf_int n,
                     float a, int threaded)
{
    if (threaded)
        run_binary(ACT_BY_KIND[kind].b, dinp, dout, saved, n, a, ACT_BY_KIND[kind].par_b);
    else if (n > 0) ACT_BY_KIND[kind].b(dinp, dout, saved, n, a);
}

void nf_relu_forward(float *out, const float *inp, nf_int n)
{ nf_act_forward(NF_ACT_RELU, out, inp, n, 0.0f, 1); }
void nf_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n)
{ nf_act_backward(NF_ACT_RELU, dinp, dout, inp, n, 0.0f, 1); }

void nf_leaky_relu_forward(float *out, const float *inp, nf_int n, float negative_slope)
{ nf_act_forward(NF_ACT_LEAKY_RELU, out, inp, n, negative_slope, 1); }
void nf_leaky_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                            float negative_slope)
{ nf_act_backward(NF_ACT_LEAKY_RELU, dinp, dout, inp, n, negative_slope, 1); }

void nf_elu_forward(float *out, const float *inp, nf_int n, float alpha)
{ nf_act_forward(NF_ACT_ELU, out, inp, n, alpha, 1); }
void nf_elu_backward(float *dinp, const float *dout, const float *inp, nf_int n, float alpha)
{ nf_act_backward(NF_ACT_ELU, dinp, dout, inp, n, alpha, 1); }

void nf_sigmoid_forward(float *out, const float *inp, nf_int n)
{ nf_act_forward(NF_ACT_SIGMOID, out, inp, n, 0.0f, 1); }
void nf_sigmoid_backward(float *dinp, const float *dout, const float *out, nf_int n)
{ nf_act_backward(NF_ACT_SIGMOID, dinp, dout, out, n, 0.0f, 1); }

void nf_tanh_forward(float *out, const float *inp, nf_int n)
{ nf_act_forward(NF_ACT_TANH, out, inp, n, 0.0f, 1); }
void nf_tanh_backward(float *dinp, const float *dout, const float *out, nf_int n)
{ nf_act_backward(NF_ACT_TANH, dinp, dout, out, n, 0.0f, 1); }

void nf_gelu_forward(float *out, const float *inp, nf_int n, int approximate_tanh)
{ nf_act_forward(approximate_tanh ? NF_ACT_GELU_TANH : NF_ACT_GELU, out, inp, n, 0.0f, 1); }
void nf_gelu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                      int approximate_tanh)
{
    nf_act_backward(approximate_tanh ? NF_ACT_GELU_TANH : NF_ACT_GELU, dinp, dout, inp, n,
                    0.0f, 1);
}

void nf_silu_forward(float *out, const float *inp, nf_int n)
{ nf_act_forward(NF_ACT_SILU, out, inp, n, 0.0f, 1); }
void nf_silu_backward(float *dinp, const float *dout, const float *inp, nf_int n)
{ nf_act_backward(NF_ACT_SILU, dinp, dout, inp, n, 0.0f, 1); }

/* ------------------------------------------------------------------------------------- */
/* PReLU: out = x > 0 ? x : weight[c] * x over x[N, C, S]                                 */
/* ------------------------------------------------------------------------------------- */

void nf_prelu_forward(float *out, const float *inp, const float *weight, nf_int N, nf_int C,
                      nf_int S)
{
    nf_int rows = N * C;
    if (rows <= 0 || S <= 0) return;
    if (C == 1) { /* one shared slope: a flat leaky_relu */
        run_unary(leaky_f, out, inp, rows * S, weight[0], NF_PAR_CHEAP);
        return;
    }
#pragma omp parallel for if (rows * S > NF_PAR_CHEAP) num_threads(nf_get_num_threads())
    for (nf_int r = 0; r < rows; r++) {
        float w = weight[r % C];
        leaky_f(out + r * S, inp + r * S, S, w);
    }
}

/* One row of PReLU's backward: dx = x > 0 ? dy : w * dy (dx may be NULL);
 * returns sum over the row of (x > 0 ? 0 : x * dy), in double. */
static double prelu_row_b(float *dx, const float *dy, const float *x, nf_int S, float w)
{
    double acc = 0.0;
    if (dx) leaky_b(dx, dy, x, S, w);
    for (nf_int s = 0; s < S; s++) acc += x[s] > 0.0f ? 0.0f : x[s] * dy[s];
    return acc;
}

void nf_prelu_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                       const float *weight, nf_int N, nf_int C, nf_int S)
{
    nf_int total = N * C * S;
    if (dweight) for (nf_int c = 0; c < C; c++) dweight[c] = 0.0f;
    if (total <= 0) return;
    if (C == 1) {
        /* flat: per-thread partial sums of dweight, combined by OpenMP's scalar reduction */
        double acc = 0.0;
        float w = weight[0];
#pragma omp parallel reduction(+ : acc) if (total > NF_PAR_CHEAP) num_threads(nf_get_num_threads())
        {
            nf_int lo, hi;
            chunk(total, &lo, &hi);
            if (hi > lo)
                acc += prelu_row_b(dinp ? dinp + lo : NULL, dout + lo, inp + lo, hi - lo, w);
        }
        if (dweight) dweight[0] = (float)acc;
        return;
    }
    /* per channel: threads own whole channels, so dweight[c] needs no reduction */
#pragma omp parallel for if (total > NF_PAR_CHEAP) num_threads(nf_get_num_threads())
    for (nf_int c = 0; c < C; c++) {
        double acc = 0.0;
        for (nf_int b = 0; b < N; b++) {
            nf_int off = (b * C + c) * S;
            acc += prelu_row_b(dinp ? dinp + off : NULL, dout + off, inp + off, S, weight[c]);
        }
        if (dweight) dweight[c] = (float)acc;
    }
}

/* ------------------------------------------------------------------------------------- */
/* Softmax / LogSoftmax over axis D of x[outer, D, inner]                                 */
/* ------------------------------------------------------------------------------------- */
/* inner == 1 (the last axis): one contiguous row per outer index; reductions use 16
 * partial accumulators so they vectorise without reassociating a single sum.
 * inner > 1: columns are processed in blocks of NF_SM_BLOCK with the running max and sum
 * in stack arrays, sweeping the D rows of the block so every access is unit-stride. */

#define NF_LANES 16
#define NF_SM_BLOCK 256

/* max of a row; a NaN anywhere gives NaN, as in torch (tracked in a separate flag so the
 * max itself stays a plain vectorisable select) */
static inline float row_max(const float *x, nf_int n)
{
    float m[NF_LANES];
    int32_t nan[NF_LANES];
    for (int j = 0; j < NF_LANES; j++) { m[j] = -INFINITY; nan[j] = 0; }
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int j = 0; j < NF_LANES; j++) {
            float v = x[i + j];
            m[j] = v > m[j] ? v : m[j];
            nan[j] |= v != v;
        }
    float r = -INFINITY;
    int32_t any_nan = 0;
    for (int j = 0; j < NF_LANES; j++) {
        r = m[j] > r ? m[j] : r;
        any_nan |= nan[j];
    }
    for (; i < n; i++) {
        r = x[i] > r ? x[i] : r;
        any_nan |= x[i] != x[i];
    }
    return any_nan ? NAN : r;
}

static inline float row_dot(const float *a, const float *b, nf_int n)
{
    float s[NF_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int j = 0; j < NF_LANES; j++) s[j] += a[i + j] * b[i + j];
    float r = 0.0f;
    for (int j = 0; j < NF_LANES; j++) r += s[j];
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

static inline float row_sum(const float *a, nf_int n)
{
    float s[NF_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int j = 0; j < NF_LANES; j++) s[j] += a[i + j];
    float r = 0.0f;
    for (int j = 0; j < NF_LANES; j++) r += s[j];
    for (; i < n; i++) r += a[i];
    return r;
}

/* one row y[D] = softmax(x[D]) or log_softmax; y must not alias x */
NF_CLONES static void sm_row_f(float *y, const float *x, nf_int D, int log)
{
    float mx = row_max(x, D);
    for (nf_int i = 0; i < D; i++) y[i] = nf_expf(x[i] - mx);
    float s = row_sum(y, D);
    if (log) {
        float lse = logf(s);
        for (nf_int i = 0; i < D; i++) y[i] = x[i] - mx - lse;
    } else {
        float inv = 1.0f / s;
        for (nf_int i = 0; i < D; i++) y[i] *= inv;
    }
}

/* its backward from the saved output y: softmax dx = y * (g - <g, y>),
 * log_softmax dx = g - exp(y) * sum(g) */
NF_CLONES static void sm_row_b(float *dx, const float *g, const float *y, nf_int D, int log)
{
    if (log) {
        float s = row_sum(g, D);
        for (nf_int i = 0; i < D; i++) dx[i] = g[i] - nf_expf(y[i]) * s;
    } else {
        float s = row_dot(g, y, D);
        for (nf_int i = 0; i < D; i++) dx[i] = y[i] * (g[i] - s);
    }
}

/* one [D, w] block of columns (row stride `inner`) of softmax or log_softmax */
NF_CLONES static void sm_block_f(float *out, const float *x, nf_int D, nf_int inner, nf_int w,
                                 int log)
{
    float mx[NF_SM_BLOCK], sum[NF_SM_BLOCK];
    for (nf_int k = 0; k < w; k++) { mx[k] = -INFINITY; sum[k] = 0.0f; }
    for (nf_int d = 0; d < D; d++) {
        const float *xr = x + d * inner;
        /* NaN-propagating max: (v > m || v != v) keeps a NaN once seen */
        for (nf_int k = 0; k < w; k++) mx[k] = (xr[k] > mx[k] || xr[k] != xr[k]) ? xr[k] : mx[k];
    }
    for (nf_int d = 0; d < D; d++) {
        const float *xr = x + d * inner;
        float *orow = out + d * inner;
        if (log) {
            for (nf_int k = 0; k < w; k++) sum[k] += nf_expf(xr[k] - mx[k]);
        } else {
            for (nf_int k = 0; k < w; k++) {
                float e = nf_expf(xr[k] - mx[k]);
                orow[k] = e;
                sum[k] += e;
            }
        }
    }
    if (log) {
        for (nf_int k = 0; k < w; k++) sum[k] = logf(sum[k]);
        for (nf_int d = 0; d < D; d++)
            for (nf_int k = 0; k < w; k++)
                out[d * inner + k] = x[d * inner + k] - mx[k] - sum[k];
    } else {
        for (nf_int k = 0; k < w; k++) sum[k] = 1.0f / sum[k];
        for (nf_int d = 0; d < D; d++)
            for (nf_int k = 0; k < w; k++) out[d * inner + k] *= sum[k];
    }
}

/* one [D, w] block of the softmax / log_softmax backward, from the saved output y */
NF_CLONES static void sm_block_b(float *dx, const float *dy, const float *y, nf_int D,
                                 nf_int inner, nf_int w, int log)
{
    float acc[NF_SM_BLOCK];
    for (nf_int k = 0; k < w; k++) acc[k] = 0.0f;
    for (nf_int d = 0; d < D; d++) {
        const float *g = dy + d * inner, *yr = y + d * inner;
        if (log)
            for (nf_int k = 0; k < w; k++) acc[k] += g[k];
        else
            for (nf_int k = 0; k < w; k++) acc[k] += g[k] * yr[k];
    }
    for (nf_int d = 0; d < D; d++) {
        const float *g = dy + d * inner, *yr = y + d * inner;
        float *o = dx + d * inner;
        if (log)
            for (nf_int k = 0; k < w; k++) o[k] = g[k] - nf_expf(yr[k]) * acc[k];
        else
            for (nf_int k = 0; k < w; k++) o[k] = yr[k] * (g[k] - acc[k]);
    }
}

static void softmax_any(float *out, const float *inp, nf_int outer, nf_int D, nf_int inner,
                        int log)
{
    if (outer <= 0 || D <= 0 || inner <= 0) return;
    if (inner == 1) {
#pragma omp parallel for if (outer * D > NF_PAR_MATH) num_threads(nf_get_num_threads())
        for (nf_int o = 0; o < outer; o++) sm_row_f(out + o * D, inp + o * D, D, log);
        return;
    }
    nf_int nb = (inner + NF_SM_BLOCK - 1) / NF_SM_BLOCK;
#pragma omp parallel for if (outer * D * inner > NF_PAR_MATH) num_threads(nf_get_num_threads())
    for (nf_int t = 0; t < outer * nb; t++) {
        nf_int o = t / nb, k0 = (t % nb) * NF_SM_BLOCK;
        nf_int w = inner - k0 < NF_SM_BLOCK ? inner - k0 : NF_SM_BLOCK;
        nf_int off = o * D * inner + k0;
        sm_block_f(out + off, inp + off, D, inner, w, log);
    }
}

static void softmax_any_b(float *dinp, const float *dout, const float *out, nf_int outer,
                          nf_int D, nf_int inner, int log)
{
    if (outer <= 0 || D <= 0 || inner <= 0) return;
    if (inner == 1) {
#pragma omp parallel for if (outer * D > NF_PAR_MATH) num_threads(nf_get_num_threads())
        for (nf_int o = 0; o < outer; o++)
            sm_row_b(dinp + o * D, dout + o * D, out + o * D, D, log);
        return;
    }
    nf_int nb = (inner + NF_SM_BLOCK - 1) / NF_SM_BLOCK;
#pragma omp parallel for if (outer * D * inner > NF_PAR_MATH) num_threads(nf_get_num_threads())
    for (nf_int t = 0; t < outer * nb; t++) {
        nf_int o = t / nb, k0 = (t % nb) * NF_SM_BLOCK;
        nf_int w = inner - k0 < NF_SM_BLOCK ? inner - k0 : NF_SM_BLOCK;
        nf_int off = o * D * inner + k0;
        sm_block_b(dinp + off, dout + off, out + off, D, inner, w, log);
    }
}

void nf_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D, nf_int inner)
{ softmax_any(out, inp, outer, D, inner, 0); }
void nf_softmax_backward(float *dinp, const float *dout, const float *out, nf_int outer,
                         nf_int D, nf_int inner)
{ softmax_any_b(dinp, dout, out, outer, D, inner, 0); }
void nf_log_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D, nf_int inner)
{ softmax_any(out, inp, outer, D, inner, 1); }
void nf_log_softmax_backward(float *dinp, const float *dout, const float *out, nf_int outer,
                             nf_int D, nf_int inner)
{ softmax_any_b(dinp, dout, out, outer, D, inner, 1); }

/* ------------------------------------------------------------------------------------- */
/* Plain references (tests hold the fast kernels to these)                               */
/* ------------------------------------------------------------------------------------- */

/* Our nf_expf / nf_expm1f / nf_tanhf / nf_erff elementwise, or libm's (their oracle).
 * which: 0 exp, 1 expm1 (x <= 20), 2 tanh, 3 erf. ref != 0 selects libm instead of ours. */
void nf_act_math(float *out, const float *inp, nf_int n, int which, int ref)
{
    for (nf_int i = 0; i < n; i++) {
        float x = inp[i];
        if (which == 0) out[i] = ref ? expf(x) : nf_expf(x);
        else if (which == 1) out[i] = ref ? expm1f(x) : nf_expm1f(x);
        else if (which == 2) out[i] = ref ? tanhf(x) : nf_tanhf(x);
        else out[i] = ref ? erff(x) : nf_erff(x);
    }
}
