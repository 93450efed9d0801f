/* optim_extra.c — the less common fused optimizer updates: Adadelta, Adamax, NAdam, RAdam,
 * ASGD and Rprop, over flat float32 buffers.
 *
 * What it is: the same pattern as optim.c (read its header first): one elementwise loop per
 * optimizer over a whole parameter group, every scalar that torch computes in Python double
 * (bias corrections, step sizes, momentum products, ...) computed by the caller
 * (nnfast/optim/_functional_extra.py) and handed in rounded to float, and inside the loop the
 * float32 operations in the order of torch 2.13's single-tensor CPU implementations, with a
 * fused multiply-add exactly where torch's vectorised kernels use one (add_ with alpha,
 * addcmul_, lerp_). torch's CPU sqrt is MKL VML, not correctly rounded, so the loops with a
 * sqrt agree with torch to about an ulp per step rather than bit for bit.
 *
 * What it is not: no allocation, no validation (nnfast/optim checks hyper-parameters, the
 * Cython wrappers check sizes), no float64 path (the NumPy reference in _functional_extra.py
 * serves float64 and is the oracle the tests hold these loops equal to).
 */
#include <math.h>
#include <stddef.h>

#include "nnfast.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "nf_simd.h"
#include "nf_chunked.h"

/* Weight decay on the gradient g or the parameter p (both locals), as NAdam / RAdam apply it
 * (a macro on locals, with a select rather than a branch, so the loops vectorise):
 *   decoupled: p = p * decay                  (param.mul_(1 - lr * wd); decay precomputed)
 *   else:      g = g + decay * p if decay != 0 (grad.add(param, alpha=wd)) */
#define NF_DECAY(p, g, decay, decoupled)                                          \
    do {                                                                          \
        if (decoupled) p = p * (decay);                                           \
        else g = (decay) != 0.0f ? fmaf(p, (decay), g) : g;                       \
    } while (0)

/* exp_avg.lerp_(g, w) as torch's vectorised CPU kernel computes it (see optim.c): with
 * LERP_COEF(w) before the loop, LERP(m0, g) is fmaf(coef, g - m0, small ? m0 : g). The choice
 * is made once, outside the loop: a per-element branch on w keeps GCC from vectorising. */
#define LERP_COEF(w)                        \
    const int small = fabsf(w) < 0.5f;      \
    const float coef = small ? (w) : (w) - 1.0f
#define LERP(m0, g) fmaf(coef, (g) - (m0), small ? (m0) : (g))

/* ===================================================================================== */
/* Adadelta — torch/optim/adadelta.py _single_tensor_adadelta, per element:
 *   g = maximize ? -grad : grad;  if wd != 0: g = g + wd * p
 *   sq = sq * rho + (1 - rho) * g * g           (mul_ then addcmul_)
 *   std = sqrt(sq + eps);  delta = sqrt(acc + eps) / std * g
 *   acc = acc * rho + (1 - rho) * delta * delta
 *   p = p - lr * delta                          (add_ with alpha=-lr)                      */
/* ===================================================================================== */
NF_CLONES_V3
static void adadelta_chunk(float *restrict param, float *restrict square_avg,
                           float *restrict acc_delta, const float *restrict grad, nf_int n,
                           float neg_lr, float rho, float one_minus_rho, float eps,
                           float weight_decay, int maximize) {
    const float sign = maximize ? -1.0f : 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(p, weight_decay, g) : g;
        float sq = fmaf(one_minus_rho * g, g, square_avg[i] * rho);
        square_avg[i] = sq;
        float std = sqrtf(sq + eps);
        float delta = sqrtf(acc_delta[i] + eps);
        delta = (delta / std) * g;
        acc_delta[i] = fmaf(one_minus_rho * delta, delta, acc_delta[i] * rho);
        param[i] = fmaf(delta, neg_lr, p);
    }
}

void nf_adadelta_step(float *param, float *square_avg, float *acc_delta, const float *grad,
                      nf_int n, float neg_lr, float rho, float one_minus_rho, float eps,
                      float weight_decay, int maximize) {
    NF_CHUNKED(n, adadelta_chunk(param + lo, square_avg + lo, acc_delta + lo, grad + lo, hi - lo,
                                 neg_lr, rho, one_minus_rho, eps, weight_decay, maximize));
}

/* ===================================================================================== */
/* Adamax — torch/optim/adamax.py _single_tensor_adamax (capturable=False), per element:
 *   g = maximize ? -grad : grad;  if wd != 0: g = g + wd * p
 *   m = lerp(m, g, 1 - beta1)
 *   u = max(u * beta2, |g| + eps)               (torch.maximum: NaN if either is NaN)
 *   p = p + (-clr * m) / u                      (addcdiv_, clr = lr / (1 - beta1^step))     */
/* ===================================================================================== */
NF_CLONES_V3
static void adamax_chunk(float *restrict param, float *restrict exp_avg, float *restrict exp_inf,
                         const float *restrict grad, nf_int n, float weight_decay,
                         float beta1_weight, float beta2, float eps, float neg_clr,
                         int maximize) {
    const float sign = maximize ? -1.0f : 1.0f;
    LERP_COEF(beta1_weight);
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(p, weight_decay, g) : g;
        float m = LERP(exp_avg[i], g);
        exp_avg[i] = m;
        float a = exp_inf[i] * beta2, b = fabsf(g) + eps;
        float u = a > b ? a : b;       /* b when b is NaN */
        u = a != a ? a : u;            /* a when a is NaN */
        exp_inf[i] = u;
        param[i] = p + (neg_clr * m) / u;
    }
}

void nf_adamax_step(float *param, float *exp_avg, float *exp_inf, const float *grad, nf_int n,
                    float weight_decay, float beta1_weight, float beta2, float eps,
                    float neg_clr, int maximize) {
    NF_CHUNKED(n, adamax_chunk(param + lo, exp_avg + lo, exp_inf + lo, grad + lo, hi - lo,
                               weight_decay, beta1_weight, beta2, eps, neg_clr, maximize));
}

/* ===================================================================================== */
/* NAdam — torch/optim/nadam.py _single_tensor_nadam (capturable=False), per element:
 *   g = maximize ? -grad : grad;  weight decay (decayed_grad above)
 *   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
 *   denom = sqrt(v / bias_correction2) + eps
 *   p = p + (c_grad * g) / denom;  p = p + (c_avg * m) / denom     (two addcdiv_)
 * with c_grad = -lr (1 - mu) / (1 - mu_product), c_avg = -lr mu_next / (1 - mu_product_next). */
/* ===================================================================================== */
NF_INLINE void nadam_loop(float *restrict param, float *restrict exp_avg,
                          float *restrict exp_avg_sq, const float *restrict grad, nf_int n,
                          float decay, float beta1_weight, float beta2, float one_minus_beta2,
                          float bias_correction2, float eps, float c_grad, float c_avg,
                          float sign, const int decoupled) {
    LERP_COEF(beta1_weight);
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        NF_DECAY(p, g, decay, decoupled);
        float m = LERP(exp_avg[i], g);
        exp_avg[i] = m;
        float v = fmaf(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
        exp_avg_sq[i] = v;
        float denom = sqrtf(v / bias_correction2) + eps;
        p = p + (c_grad * g) / denom;
        param[i] = p + (c_avg * m) / denom;
    }
}

NF_CLONES_V3
static void nadam_chunk(float *restrict param, float *restrict exp_avg,
                        float *restrict exp_avg_sq, const float *restrict grad, nf_int n,
                        float decay, float beta1_weight, float beta2, float one_minus_beta2,
                        float bias_correction2, float eps, float c_grad, float c_avg,
                        int maximize, int decoupled) {
    const float s = maximize ? -1.0f : 1.0f;
    if (decoupled)
        nadam_loop(param, exp_avg, exp_avg_sq, grad, n, decay, beta1_weight, beta2,
                   one_minus_beta2, bias_correction2, eps, c_grad, c_avg, s, 1);
    else
        nadam_loop(param, exp_avg, exp_avg_sq, grad, n, decay, beta1_weight, beta2,
                   one_minus_beta2, bias_correction2, eps, c_grad, c_avg, s, 0);
}

void nf_nadam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                   nf_int n, float decay, float beta1_weight, float beta2,
                   float one_minus_beta2, float bias_correction2, float eps, float c_grad,
                   float c_avg, int maximize, int decoupled) {
    NF_CHUNKED(n, nadam_chunk(param + lo, exp_avg + lo, exp_avg_sq + lo, grad + lo, hi - lo,
                              decay, beta1_weight, beta2, one_minus_beta2, bias_correction2,
                              eps, c_grad, c_avg, maximize, decoupled));
}

/* ===================================================================================== */
/* RAdam — torch/optim/radam.py _single_tensor_radam (capturable=False), per element:
 *   g = maximize ? -grad : grad;  weight decay (decayed_grad above)
 *   m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
 *   b = m / bias_correction1
 *   rectify (rho_t > 5): u = b * lr * (1 / (sqrt(v) + eps) * sqrt(bc2)) * rect
 *                        (torch's scalar / tensor is tensor.reciprocal() * scalar)
 *   else:                u = b * lr
 *   p = p - u                                   (add_ with alpha=-1)                       */
/* ===================================================================================== */
NF_INLINE void radam_loop(float *restrict param, float *restrict exp_avg,
                          float *restrict exp_avg_sq, const float *restrict grad, nf_int n,
                          float decay, float beta1_weight, float beta2, float one_minus_beta2,
                          float bias_correction1, float lr, float bias_correction2_sqrt,
                          float rect, float eps, float sign, const int decoupled,
                          const int rectify) {
    LERP_COEF(beta1_weight);
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        NF_DECAY(p, g, decay, decoupled);
        float m = LERP(exp_avg[i], g);
        exp_avg[i] = m;
        float v = fmaf(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
        exp_avg_sq[i] = v;
        float u = (m / bias_correction1) * lr;
        if (rectify) {
            float adaptive = (1.0f / (sqrtf(v) + eps)) * bias_correction2_sqrt;
            u = (u * adaptive) * rect;
        }
        param[i] = p - u;
    }
}

NF_CLONES_V3
static void radam_chunk(float *restrict param, float *restrict exp_avg,
                        float *restrict exp_avg_sq, const float *restrict grad, nf_int n,
                        float decay, float beta1_weight, float beta2, float one_minus_beta2,
                        float bias_correction1, float lr, float bias_correction2_sqrt,
                        float rect, float eps, int maximize, int decoupled, int rectify) {
    const float s = maximize ? -1.0f : 1.0f;
#define NF_RADAM(d, r) radam_loop(param, exp_avg, exp_avg_sq, grad, n, decay, beta1_weight,    \
                                  beta2, one_minus_beta2, bias_correction1, lr,                \
                                  bias_correction2_sqrt, rect, eps, s, d, r)
    if (decoupled && rectify) NF_RADAM(1, 1);
    else if (decoupled) NF_RADAM(1, 0);
    else if (rectify) NF_RADAM(0, 1);
    else NF_RADAM(0, 0);
#undef NF_RADAM
}

void nf_radam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                   nf_int n, float decay, float beta1_weight, float beta2,
                   float one_minus_beta2, float bias_correction1, float lr,
                   float bias_correction2_sqrt, float rect, float eps, int maximize,
                   int decoupled, int rectify) {
    NF_CHUNKED(n, radam_chunk(param + lo, exp_avg + lo, exp_avg_sq + lo, grad + lo, hi - lo,
                              decay, beta1_weight, beta2, one_minus_beta2, bias_correction1, lr,
                              bias_correction2_sqrt, rect, eps, maximize, decoupled, rectify));
}

/* ===================================================================================== */
/* ASGD — torch/optim/asgd.py _single_tensor_asgd (capturable=False), per element:
 *   g = maximize ? -grad : grad;  if wd != 0: g = g + wd * p
 *   p = p * (1 - lambd * eta);  p = p - eta * g           (mul_, then add_ alpha=-eta)
 *   average (mu != 1): ax = ax + (p - ax) * mu   else ax = p
 * eta and mu (per-parameter scalars) are read and advanced by the caller.                  */
/* ===================================================================================== */
NF_CLONES_V3
static void asgd_chunk(float *restrict param, float *restrict ax, const float *restrict grad,
                       nf_int n, float weight_decay, float param_scale, float neg_eta, float mu,
                       int maximize, int average) {
    const float sign = maximize ? -1.0f : 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(p, weight_decay, g) : g;
        p = p * param_scale;
        p = fmaf(g, neg_eta, p);
        param[i] = p;
        ax[i] = average ? ax[i] + (p - ax[i]) * mu : p;
    }
}

void nf_asgd_step(float *param, float *ax, const float *grad, nf_int n, float weight_decay,
                  float param_scale, float neg_eta, float mu, int maximize, int average) {
    NF_CHUNKED(n, asgd_chunk(param + lo, ax + lo, grad + lo, hi - lo, weight_decay, param_scale,
                             neg_eta, mu, maximize, average));
}

/* ===================================================================================== */
/* Rprop — torch/optim/rprop.py _single_tensor_rprop, per element:
 *   g = maximize ? -grad : grad
 *   s = sign(g * prev) -> etaplus (> 0), etaminus (< 0), 1 (== 0)   (NaN stays NaN)
 *   step_size = clamp(step_size * s, step_size_min, step_size_max)
 *   if s == etaminus: g = 0
 *   p = p - sign(g) * step_size                 (addcmul_ with value=-1);  prev = g        */
/* ===================================================================================== */
NF_CLONES_V3
static void rprop_chunk(float *restrict param, float *restrict prev, float *restrict step_size,
                        const float *restrict grad, nf_int n, float etaminus, float etaplus,
                        float step_size_min, float step_size_max, int maximize) {
    const float sign = maximize ? -1.0f : 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float g = sign * grad[i];
        float prod = g * prev[i];
        float s = prod > 0.0f ? etaplus : prod < 0.0f ? etaminus : prod == 0.0f ? 1.0f : prod;
        float ss = step_size[i] * s;
        ss = ss < step_size_min ? step_size_min : ss;     /* clamp_: NaN stays NaN */
        ss = ss > step_size_max ? step_size_max : ss;
        step_size[i] = ss;
        g = s == etaminus ? 0.0f : g;
        float sg = g > 0.0f ? 1.0f : g < 0.0f ? -1.0f : g;    /* torch.sign (0 and NaN kept) */
        param[i] = fmaf(-sg, ss, param[i]);
        prev[i] = g;
    }
}

void nf_rprop_step(float *param, float *prev, float *step_size, const float *grad, nf_int n,
                   float etaminus, float etaplus, float step_size_min, float step_size_max,
                   int maximize) {
    NF_CHUNKED(n, rprop_chunk(param + lo, prev + lo, step_size + lo, grad + lo, hi - lo,
                              etaminus, etaplus, step_size_min, step_size_max, maximize));
}

/* ===================================================================================== */
/* Update records (nf_update): the kinds of this file, run from nf_update_run (optim.c).   */
/* ===================================================================================== */
void nf_update_run_extra(const nf_update *u) {
    const float *s = u->s;
    const int *f = u->flag;
    switch (u->kind) {
    case NF_UPDATE_ADADELTA:
        nf_adadelta_step(u->param, u->state[0], u->state[1], u->grad, u->n, s[0], s[1], s[2],
                         s[3], s[4], f[0]);
        break;
    case NF_UPDATE_ADAMAX:
        nf_adamax_step(u->param, u->state[0], u->state[1], u->grad, u->n, s[0], s[1], s[2],
                       s[3], s[4], f[0]);
        break;
    case NF_UPDATE_NADAM:
        nf_nadam_step(u->param, u->state[0], u->state[1], u->grad, u->n, s[0], s[1], s[2], s[3],
                      s[4], s[5], s[6], s[7], f[0], f[1]);
        break;
    case NF_UPDATE_RADAM:
        nf_radam_step(u->param, u->state[0], u->state[1], u->grad, u->n, s[0], s[1], s[2], s[3],
                      s[4], s[5], s[6], s[7], s[8], f[0], f[1], f[2]);
        break;
    case NF_UPDATE_ASGD:
        nf_asgd_step(u->param, u->state[0], u->grad, u->n, s[0], s[1], s[2], s[3], f[0], f[1]);
        break;
    case NF_UPDATE_RPROP:
        nf_rprop_step(u->param, u->state[0], u->state[1], u->grad, u->n, s[0], s[1], s[2], s[3],
                      f[0]);
        break;
    default:
        break;
    }
}
