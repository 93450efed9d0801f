/* optim.c — fused optimizer updates over flat float32 buffers, and gradient-clipping helpers.
 *
 * What it is: one elementwise loop per optimizer (SGD, Adam/AdamW, RMSprop, Adagrad). The
 * Python side lays a parameter group's parameters, gradients and state out in contiguous
 * buffers, so one call updates the whole group. Every scalar that PyTorch computes in Python
 * double (bias corrections, step sizes, 1 - beta, ...) is computed by the caller and handed in
 * already rounded to float; inside the loop the float32 operations follow the order of
 * torch 2.13's single-tensor ("for-loop") CPU implementations, including where PyTorch's
 * vectorised CPU kernels use a fused multiply-add (add_ with alpha, addcmul_, lerp_). SGD is
 * bit-identical to torch; Adam/RMSprop/Adagrad differ only where torch's sqrt (MKL VML, not
 * correctly rounded) is 1 ulp away from the IEEE sqrtf used here (~15% of elements).
 *
 * What it is not: no allocation, no validation (sizes, aliasing and hyper-parameter ranges are
 * checked in nnfast/optim), no float64 path (float64 parameters use the NumPy reference in
 * nnfast/optim/_functional.py, which is also the oracle the tests hold these loops equal to),
 * no sparse gradients.
 *
 * Each loop is its own plain reference: it is the textbook update written once. Speed comes
 * from (a) auto-vectorisation, with GCC function multiversioning adding an AVX2+FMA clone on
 * x86-64 (fmaf is then one instruction; the portable clone calls libm's fmaf, same result),
 * and (b) OpenMP over contiguous chunks above NF_OPTIM_OMP_MIN elements. The result of every
 * element is independent of how the buffer is split, so threading never changes the numbers.
 */
#include <math.h>
#include <stddef.h>

#include "nnfast.h"

/* No implicit a*b+c contraction: the fused operations are the explicit fmaf calls below,
 * exactly where PyTorch fuses, and nowhere else. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "nf_simd.h"
#include "nf_chunked.h"

/* torch.lerp(start, end, w), as PyTorch's vectorised CPU kernel computes it, appears inline
 * below as fmaf(coef, end - start, base):
 *   |w| < 0.5:  coef = w,     base = start         else:  coef = w - 1,  base = end */

/* ===================================================================================== */
/* SGD                                                                                    */
/* ===================================================================================== */

/* torch/optim/sgd.py _single_tensor_sgd, per element:
 *   g = maximize ? -grad : grad
 *   if wd != 0:        g = g + wd * p                      (grad.add(param, alpha=wd))
 *   if momentum != 0:  buf = init ? g : buf * momentum + (1 - dampening) * g
 *                      g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g                                         (param.add_(g, alpha=-lr)) */
NF_CLONES_V3
static void sgd_chunk(float *restrict param, float *restrict buf, const float *restrict grad,
                      nf_int n, float neg_lr, float weight_decay, float momentum,
                      float one_minus_dampening, int nesterov, int maximize, int init_buf) {
    const float sign = maximize ? -1.0f : 1.0f;
    if (buf == NULL) {
        for (nf_int i = 0; i < n; i++) {
            float g = sign * grad[i];
            g = weight_decay != 0.0f ? fmaf(param[i], weight_decay, g) : g;
            param[i] = fmaf(g, neg_lr, param[i]);
        }
        return;
    }
    for (nf_int i = 0; i < n; i++) {
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(param[i], weight_decay, g) : g;
        float b = init_buf ? g : fmaf(g, one_minus_dampening, buf[i] * momentum);
        buf[i] = b;
        if (nesterov) g = fmaf(b, momentum, g);
        else g = b;
        param[i] = fmaf(g, neg_lr, param[i]);
    }
}

void nf_sgd_step(float *param, float *momentum_buf, const float *grad, nf_int n, float neg_lr,
                 float weight_decay, float momentum, float one_minus_dampening, int nesterov,
                 int maximize, int init_buf) {
    NF_CHUNKED(n, sgd_chunk(param + lo, momentum_buf ? momentum_buf + lo : NULL, grad + lo,
                            hi - lo, neg_lr, weight_decay, momentum, one_minus_dampening,
                            nesterov, maximize, init_buf));
}

/* ===================================================================================== */
/* Adam / AdamW                                                                           */
/* ===================================================================================== */

/* torch/optim/adam.py _single_tensor_adam (capturable=False), per element:
 *   g = maximize ? -grad : grad
 *   p = p * param_scale                    (AdamW: param.mul_(1 - lr*wd); 1 means skip)
 *   if l2 != 0:  g = g + l2 * p            (Adam:  grad.add(param, alpha=wd))
 *   m = lerp(m, g, 1 - beta1)
 *   v = v * beta2 + (1 - beta2) * g * g    (mul_ then addcmul_)
 *   if amsgrad: vmax = max(vmax, v), v' = vmax else v' = v
 *   denom = sqrt(v') / bias_correction2_sqrt + eps
 *   p = p + (-step_size * m) / denom       (addcdiv_) */
/* One loop body, specialised below on the loop-invariant flags so each variant vectorises
 * (no pointer tests inside the loop). */
NF_INLINE void adam_loop(float *restrict param, float *restrict exp_avg,
                         float *restrict exp_avg_sq, float *restrict max_exp_avg_sq,
                         const float *restrict grad, nf_int n, float param_scale, float l2,
                         float beta1_weight, float beta2, float one_minus_beta2,
                         float bias_correction2_sqrt, float eps, float neg_step_size, float sign,
                         const int amsgrad) {
    const int small = fabsf(beta1_weight) < 0.5f;
    const float coef = small ? beta1_weight : beta1_weight - 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float p = param[i] * param_scale; /* exact when param_scale == 1 */
        float g = sign * grad[i];
        g = l2 != 0.0f ? fmaf(p, l2, g) : g;
        float m0 = exp_avg[i];
        float m = fmaf(coef, g - m0, small ? m0 : g); /* lerp(m0, g, beta1_weight) */
        exp_avg[i] = m;
        float v = fmaf(one_minus_beta2 * g, g, exp_avg_sq[i] * beta2);
        exp_avg_sq[i] = v;
        if (amsgrad) {
            float vm = max_exp_avg_sq[i];
            v = vm > v ? vm : v;
            max_exp_avg_sq[i] = v;
        }
        float denom = sqrtf(v) / bias_correction2_sqrt + eps;
        param[i] = p + (neg_step_size * m) / denom;
    }
}

NF_CLONES_V3
static void adam_chunk(float *restrict param, float *restrict exp_avg, float *restrict exp_avg_sq,
                       float *restrict max_exp_avg_sq, const float *restrict grad, nf_int n,
                       float param_scale, float l2, float beta1_weight, float beta2,
                       float one_minus_beta2, float bias_correction2_sqrt, float eps,
                       float neg_step_size, int maximize) {
    const float sign = maximize ? -1.0f : 1.0f;
    if (max_exp_avg_sq)
        adam_loop(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, param_scale, l2,
                  beta1_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
                  neg_step_size, sign, 1);
    else
        adam_loop(param, exp_avg, exp_avg_sq, NULL, grad, n, param_scale, l2, beta1_weight,
                  beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size, sign, 0);
}

void nf_adam_step(float *param, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                  const float *grad, nf_int n, float param_scale, float weight_decay,
                  float beta1_weight, float beta2, float one_minus_beta2,
                  float bias_correction2_sqrt, float eps, float neg_step_size, int maximize) {
    NF_CHUNKED(n, adam_chunk(param + lo, exp_avg + lo, exp_avg_sq + lo,
                             max_exp_avg_sq ? max_exp_avg_sq + lo : NULL, grad + lo, hi - lo,
                             param_scale, weight_decay, beta1_weight, beta2, one_minus_beta2,
                             bias_correction2_sqrt, eps, neg_step_size, maximize));
}

/* ===================================================================================== */
/* RMSprop                                                                                */
/* ===================================================================================== */

/* torch/optim/rmsprop.py _single_tensor_rmsprop, per element:
 *   g = maximize ? -grad : grad;  if wd != 0: g = g + wd * p
 *   sq = sq * alpha + (1 - alpha) * g * g
 *   centered: ga = lerp(ga, g, 1 - alpha); avg = sqrt(sq - ga * ga)   else avg = sqrt(sq)
 *   avg = avg + eps
 *   momentum > 0: buf = buf * momentum + g / avg;  p = p - lr * buf
 *   else:         p = p + (-lr * g) / avg */
NF_INLINE void rmsprop_loop(float *restrict param, float *restrict square_avg,
                            float *restrict grad_avg, float *restrict momentum_buf,
                            const float *restrict grad, nf_int n, float neg_lr, float alpha,
                            float one_minus_alpha, float eps, float weight_decay, float momentum,
                            float sign, const int centered, const int use_momentum) {
    const int small = fabsf(one_minus_alpha) < 0.5f;
    const float coef = small ? one_minus_alpha : one_minus_alpha - 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(p, weight_decay, g) : g;
        float sq = fmaf(one_minus_alpha * g, g, square_avg[i] * alpha);
        square_avg[i] = sq;
        float avg;
        if (centered) {
            float ga0 = grad_avg[i];
            float ga = fmaf(coef, g - ga0, small ? ga0 : g); /* lerp(ga0, g, 1 - alpha) */
            grad_avg[i] = ga;
            avg = sqrtf(fmaf(-ga, ga, sq));
        } else {
            avg = sqrtf(sq);
        }
        avg = avg + eps;
        if (use_momentum) {
            float b = momentum_buf[i] * momentum; /* buf.mul_(momentum) */
            b = b + g / avg;                      /* .addcdiv_(grad, avg) */
            momentum_buf[i] = b;
            param[i] = fmaf(b, neg_lr, p);
        } else {
            param[i] = p + (neg_lr * g) / avg;
        }
    }
}

NF_CLONES_V3
static void rmsprop_chunk(float *restrict param, float *restrict square_avg,
                          float *restrict grad_avg, float *restrict momentum_buf,
                          const float *restrict grad, nf_int n, float neg_lr, float alpha,
                          float one_minus_alpha, float eps, float weight_decay, float momentum,
                          int maximize) {
    const float s = maximize ? -1.0f : 1.0f;
#define NF_RMS(c, m) rmsprop_loop(param, square_avg, grad_avg, momentum_buf, grad, n, neg_lr, \
                                  alpha, one_minus_alpha, eps, weight_decay, momentum, s, c, m)
    if (grad_avg && momentum_buf) NF_RMS(1, 1);
    else if (grad_avg) NF_RMS(1, 0);
    else if (momentum_buf) NF_RMS(0, 1);
    else NF_RMS(0, 0);
#undef NF_RMS
}

void nf_rmsprop_step(float *param, float *square_avg, float *grad_avg, float *momentum_buf,
                     const float *grad, nf_int n, float neg_lr, float alpha,
                     float one_minus_alpha, float eps, float weight_decay, float momentum,
                     int maximize) {
    NF_CHUNKED(n, rmsprop_chunk(param + lo, square_avg + lo, grad_avg ? grad_avg + lo : NULL,
                                momentum_buf ? momentum_buf + lo : NULL, grad + lo, hi - lo,
                                neg_lr, alpha, one_minus_alpha, eps, weight_decay, momentum,
                                maximize));
}

/* ===================================================================================== */
/* Adagrad                                                                                */
/* ===================================================================================== */

/* torch/optim/adagrad.py _single_tensor_adagrad (dense), per element:
 *   g = maximize ? -grad : grad;  if wd != 0: g = g + wd * p
 *   sum = sum + g * g;  std = sqrt(sum) + eps;  p = p + (-clr * g) / std
 * with clr = lr / (1 + (step - 1) * lr_decay) computed by the caller. */
NF_CLONES_V3
static void adagrad_chunk(float *restrict param, float *restrict sum, const float *restrict grad,
                          nf_int n, float neg_clr, float weight_decay, float eps, int maximize) {
    const float sign = maximize ? -1.0f : 1.0f;
    for (nf_int i = 0; i < n; i++) {
        float p = param[i];
        float g = sign * grad[i];
        g = weight_decay != 0.0f ? fmaf(p, weight_decay, g) : g;
        float s = fmaf(g, g, sum[i]);
        sum[i] = s;
        float std = sqrtf(s) + eps;
        param[i] = p + (neg_clr * g) / std;
    }
}

void nf_adagrad_step(float *param, float *sum, const float *grad, nf_int n, float neg_clr,
                     float weight_decay, float eps, int maximize) {
    NF_CHUNKED(n, adagrad_chunk(param + lo, sum + lo, grad + lo, hi - lo, neg_clr, weight_decay,
                                eps, maximize));
}

/* ===================================================================================== */
/* Update records (nf_update)                                                            */
/* ===================================================================================== */

void nf_update_run(const nf_update *u) {
    const float *s = u->s;
    switch (u->kind) {
    case NF_UPDATE_SGD:
        nf_sgd_step(u->param, u->state[0], u->grad, u->n, s[0], s[1], s[2], s[3], u->flag[0],
                    u->flag[1], u->flag[2]);
        break;
    case NF_UPDATE_ADAM:
        nf_adam_step(u->param, u->state[0], u->state[1], u->state[2], u->grad, u->n, s[0], s[1],
                     s[2], s[3], s[4], s[5], s[6], s[7], u->flag[0]);
        break;
    case NF_UPDATE_RMSPROP:
        nf_rmsprop_step(u->param, u->state[0], u->state[1], u->state[2], u->grad, u->n, s[0],
                        s[1], s[2], s[3], s[4], s[5], u->flag[0]);
        break;
    case NF_UPDATE_ADAGRAD:
        nf_adagrad_step(u->param, u->state[0], u->grad, u->n, s[0], s[1], s[2], u->flag[0]);
        break;
    default:
        nf_update_run_extra(u);
        break;
    }
}

/* ===================================================================================== */
/* Gradient clipping helpers                                                              */
/* ===================================================================================== */

/* sum_i x[i]^2 accumulated in double (8 independent partial sums so the loop vectorises and
 * the result does not depend on the thread count). */
NF_CLONES_V3
static double sumsq_chunk(const float *restrict x, nf_int n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    nf_int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)x[i + k] * (double)x[i + k];
    for (; i < n; i++) acc[0] += (double)x[i] * (double)x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double nf_sumsq(const float *x, nf_int n) {
    /* One thread: the pass is memory-bound and a fixed order keeps the sum reproducible. */
    return n > 0 ? sumsq_chunk(x, n) : 0.0;
}

/* max_i |x[i]| (NaN if any element is NaN, as torch's inf-norm). */
NF_CLONES_V3
float nf_maxabs(const float *x, nf_int n) {
    float m = 0.0f;
    int nan = 0;
    for (nf_int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        nan |= a != a;
        m = a > m ? a : m;
    }
    return nan ? NAN : m;
}

/* x[i] = x[i] * s */
NF_CLONES_V3
void nf_scale(float *x, nf_int n, float s) {
    for (nf_int i = 0; i < n; i++) x[i] = x[i] * s;
}

/* x[i] = min(max(x[i], lo), hi)  (clamp_min_ then clamp_max_; NaN stays NaN) */
NF_CLONES_V3
void nf_clamp(float *x, nf_int n, float lo, float hi) {
    for (nf_int i = 0; i < n; i++) {
        float v = x[i];
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        x[i] = v;
    }
}
