/* loss.c — loss value and gradient in one pass (float32 in, sums accumulated in double).
 *
 * Each kernel computes the loss and, when the caller hands it a gradient buffer, the
 * derivative of the (reduced) loss with respect to its input for an upstream gradient of 1.
 * The autograd closure then only scales that buffer by the upstream scalar (or multiplies it
 * elementwise by the upstream gradient for reduction='none'). Kernels return the reduced value
 * (for reduction='none': the plain sum of the per-element losses, which the caller uses as a
 * cheap finiteness check).
 *
 * Semantics follow PyTorch 2.13 (aten/src/ATen/native/Loss.cpp, LossNLL.cpp):
 *   - regression losses: MSE, L1, Huber(delta), SmoothL1(beta) with optional per-element weight;
 *   - cross entropy = log-softmax + NLL fused, over the [outer, C, inner] layout of
 *     (N, C, d1, ...) inputs without transposing copies; class weights, ignore_index and label
 *     smoothing combined as ATen does; probability targets; plain NLL on log-probabilities;
 *   - BCE on probabilities (log clamped at -100) and BCE with logits (stable, pos_weight).
 *
 * What this file is not: a validator. Labels are in [0, C) or equal to ignore_index, sizes
 * match, probabilities lie in [0, 1] — the Python edge (nnfast/nn/_functional_loss.py) checks
 * all of that once. The NumPy reference in that file is the oracle the tests hold these
 * kernels equal to.
 */
#include <math.h>
#include <string.h>

#include "nnfast.h"
#include "nf_simd.h"
#include "nf_vmath.h"

#ifndef _OPENMP
/* Built without OpenMP (NNFAST_NO_OPENMP=1): the loops below run serially as written. */
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#endif

/* Below this many elements a loop is not worth waking the OpenMP team for. */
#define NF_LOSS_OMP_MIN 65536
/* Inner positions processed together by the K-dimensional cross-entropy panel. */
#define NF_CE_PANEL 32

/* ===================================================================================== */
/* Pointwise regression losses                                                            */
/* ===================================================================================== */

enum { K_MSE, K_L1, K_HUBER, K_SMOOTH_L1 };

/* Inlined with a constant `kind` into each public wrapper, so every loss gets its own
 * straight loop (the switch folds away). d = input - target:
 *   MSE       l = d^2                                     dl/dd = 2 d
 *   L1        l = |d|                                     dl/dd = sign(d)  (0 at 0)
 *   Huber     l = |d| < p ? d^2/2 : p (|d| - p/2)          dl/dd = clamp(d, -p, p)
 *   SmoothL1  l = |d| < p ? d^2/(2p) : |d| - p/2           dl/dd = clamp(d/p, -1, 1)
 * out[i] = w_i l_i; dinput[i] = scale w_i dl/dd; dtarget[i] = -dinput[i]. */
static inline __attribute__((always_inline)) double
pointwise(int kind, float *out, float *dinput, float *dtarget, const float *input,
          const float *target, const float *weight, nf_int n, float scale, float p)
{
    double acc = 0.0;
    const float half_p = 0.5f * p, inv_p = 1.0f / p;
#pragma omp parallel for simd reduction(+:acc) if(n > NF_LOSS_OMP_MIN) \
    num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < n; i++) {
        float d = input[i] - target[i];
        float a = fabsf(d), l, g;
        switch (kind) {
        case K_MSE:
            l = d * d;
            g = 2.0f * d;
            break;
        case K_L1:
            l = a;
            g = (float)((d > 0.0f) - (d < 0.0f));
            break;
        case K_HUBER:
            l = a < p ? 0.5f * d * d : p * (a - half_p);
            g = d < -p ? -p : (d > p ? p : d);
            break;
        default: /* K_SMOOTH_L1 */
            l = a < p ? 0.5f * d * d * inv_p : a - half_p;
            g = d <= -p ? -1.0f : (d >= p ? 1.0f : d * inv_p);
            break;
        }
        if (weight) {
            l *= weight[i];
            g *= weight[i];
        }
        if (out)
            out[i] = l;
        if (dinput)
            dinput[i] = scale * g;
        if (dtarget)
            dtarget[i] = -scale * g;
        acc += l;
    }
    return acc * scale;
}

double nf_mse_loss(float *out, float *dinput, float *dtarget, const float *input,
                   const float *target, const float *weight, nf_int n, float scale)
{
    return pointwise(K_MSE, out, dinput, dtarget, input, target, weight, n, scale, 1.0f);
}

double nf_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                  const float *target, const float *weight, nf_int n, float scale)
{
    return pointwise(K_L1, out, dinput, dtarget, input, target, weight, n, scale, 1.0f);
}

double nf_huber_loss(float *out, float *dinput, float *dtarget, const float *input,
                     const float *target, const float *weight, nf_int n, float scale,
                     float delta)
{
    return pointwise(K_HUBER, out, dinput, dtarget, input, target, weight, n, scale, delta);
}

double nf_smooth_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                         const float *target, nf_int n, float scale, float beta)
{
    return pointwise(K_SMOOTH_L1, out, dinput, dtarget, input, target, NULL, n, scale, beta);
}

/* ===================================================================================== */
/* Cross entropy with class-index targets: log-softmax + NLL (+ label smoothing)          */
/* ===================================================================================== */

/* Sum over non-ignored positions of weight[target] (or their count without weight): the
 * divisor of reduction='mean' for both the NLL and the smoothing term (ATen divides both by
 * the same sum). */
static double target_weight_sum(const int64_t *target, const float *weight, nf_int npos,
                                nf_int ignore_index)
{
    double W = 0.0;
    for (nf_int i = 0; i < npos; i++) {
        int64_t y = target[i];
        if (y != ignore_index)
            W += weight ? (double)weight[y] : 1.0;
    }
    return W;
}

/* Per position with logits x_c, lse = log sum_c exp x_c, p_c = softmax, target y, class
 * weights w_c (1 without weight), Wall = sum_c w_c, eps = label_smoothing:
 *   loss     = (1-eps) w_y (lse - x_y) + eps/C (Wall lse - sum_c w_c x_c)
 *   dloss/dx_c = (1-eps) w_y (p_c - [c==y]) + eps/C (Wall p_c - w_c)
 *            = a p_c - b w_c - [c==y] (1-eps) w_y,   a = (1-eps) w_y + eps Wall/C, b = eps/C
 * An ignored position contributes 0 to the loss and its gradient is 0. */

/* inner == 1: one contiguous row of C logits per sample. */
/* d[c] = exp(x[c] - m), with nf_vmath.h's exp so that the loop vectorises (libm's expf is a
 * call per logit: 64 x 10 cross entropy took 6.4 us, most of it in expf). */
NF_CLONES static void exp_shifted(float *d, const float *x, nf_int n, float m)
{
    for (nf_int c = 0; c < n; c++) d[c] = nf_expf(x[c] - m);
}

static double ce_rows(float *out, float *dinput, const float *input, const int64_t *target,
                      const float *weight, nf_int N, nf_int C, nf_int ignore_index,
                      double scale, double eps, double wall)
{
    double total = 0.0;
    const double b = eps / (double)C;
#pragma omp parallel for reduction(+:total) schedule(static) if(N * C > NF_LOSS_OMP_MIN) \
    num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < N; i++) {
        const float *x = input + i * C;
        float *dx = dinput ? dinput + i * C : NULL;
        int64_t y = target[i];
        if (y == ignore_index) {
            if (out)
                out[i] = 0.0f;
            if (dx)
                memset(dx, 0, (size_t)C * sizeof(float));
            continue;
        }
        float m = -INFINITY;
        for (nf_int c = 0; c < C; c++)
            m = fmaxf(m, x[c]);
        double s = 0.0, sx = 0.0;
        if (dx) {   /* keep each exp in dx for the gradient pass: one exp per logit */
            exp_shifted(dx, x, C, m);
            for (nf_int c = 0; c < C; c++)
                s += (double)dx[c];
        } else {   /* the same exps (the same loss with and without a gradient) */
            for (nf_int c = 0; c < C; c++)
                s += (double)nf_expf(x[c] - m);
        }
        if (eps != 0.0) {
            for (nf_int c = 0; c < C; c++)
                sx += weight ? (double)weight[c] * x[c] : (double)x[c];
        }
        double lse = (double)m + log(s);
        double wy = weight ? (double)weight[y] : 1.0;
        double loss = (1.0 - eps) * wy * (lse - x[y]) + b * (wall * lse - sx);
        if (out)
            out[i] = (float)loss;
        total += loss;
        if (dx) {
            float a = (float)(scale * ((1.0 - eps) * wy + b * wall));
            float bs = (float)(scale * b);
            float inv_s = (float)(1.0 / s);
            for (nf_int c = 0; c < C; c++) {
                float p = dx[c] * inv_s;    /* dx[c] holds expf(x[c] - m) */
                dx[c] = a * p - bs * (weight ? weight[c] : 1.0f);
            }
            dx[y] -= (float)(scale * (1.0 - eps) * wy);
        }
    }
    return total;
}

/* inner > 1: for each outer index, panels of up to NF_CE_PANEL consecutive inner positions;
 * each class loop then reads contiguous runs of the [C, inner] slab (no transposed copy). */
static double ce_panels(float *out, float *dinput, const float *input, const int64_t *target,
                        const float *weight, nf_int outer, nf_int C, nf_int inner,
                        nf_int ignore_index, double scale, double eps, double wall)
{
    double total = 0.0;
    const double b = eps / (double)C;
    const nf_int npanel = (inner + NF_CE_PANEL - 1) / NF_CE_PANEL;
#pragma omp parallel for reduction(+:total) schedule(static) \
    if(outer * C * inner > NF_LOSS_OMP_MIN) num_threads(nf_get_num_threads())
    for (nf_int task = 0; task < outer * npanel; task++) {
        nf_int o = task / npanel, j0 = (task % npanel) * NF_CE_PANEL;
        nf_int J = inner - j0 < NF_CE_PANEL ? inner - j0 : NF_CE_PANEL;
        const float *x = input + o * C * inner + j0;        /* x[c * inner + j] */
        float *dx = dinput ? dinput + o * C * inner + j0 : NULL;
        const int64_t *yt = target + o * inner + j0;         /* yt[j] */
        float m[NF_CE_PANEL];
        double s[NF_CE_PANEL], sx[NF_CE_PANEL];
        for (nf_int j = 0; j < J; j++) {
            m[j] = -INFINITY;
            s[j] = 0.0;
            sx[j] = 0.0;
        }
        for (nf_int c = 0; c < C; c++)
            for (nf_int j = 0; j < J; j++)
                m[j] = fmaxf(m[j], x[c * inner + j]);
        for (nf_int c = 0; c < C; c++)
            for (nf_int j = 0; j < J; j++)
                s[j] += (double)expf(x[c * inner + j] - m[j]);
        if (eps != 0.0) {
            for (nf_int c = 0; c < C; c++) {
                double wc = weight ? (double)weight[c] : 1.0;
                for (nf_int j = 0; j < J; j++)
                    sx[j] += wc * x[c * inner + j];
            }
        }
        float a[NF_CE_PANEL], inv_s[NF_CE_PANEL];
        for (nf_int j = 0; j < J; j++) {
            int64_t y = yt[j];
            float loss = 0.0f;
            a[j] = 0.0f;
            inv_s[j] = 0.0f; /* ignored position: p_c * 0 and b * 0 give a zero gradient */
            if (y != ignore_index) {
                double lse = (double)m[j] + log(s[j]);
                double wy = weight ? (double)weight[y] : 1.0;
                double l = (1.0 - eps) * wy * (lse - x[y * inner + j]) + b * (wall * lse - sx[j]);
                total += l;
                loss = (float)l;
                a[j] = (float)(scale * ((1.0 - eps) * wy + b * wall));
                inv_s[j] = (float)(1.0 / s[j]);
            }
            if (out)
                out[o * inner + j0 + j] = loss;
        }
        if (!dx)
            continue;
        const float bs = (float)(scale * b);
        for (nf_int c = 0; c < C; c++) {
            float wc = weight ? weight[c] : 1.0f;
            for (nf_int j = 0; j < J; j++) {
                float p = expf(x[c * inner + j] - m[j]) * inv_s[j];
                float keep = inv_s[j] != 0.0f ? 1.0f : 0.0f;
                dx[c * inner + j] = a[j] * p - keep * bs * wc;
            }
        }
        for (nf_int j = 0; j < J; j++) {
            int64_t y = yt[j];
            if (y != ignore_index) {
                double wy = weight ? (double)weight[y] : 1.0;
                dx[y * inner + j] -= (float)(scale * (1.0 - eps) * wy);
            }
        }
    }
    return total;
}

double nf_cross_entropy_loss(float *out, float *dinput, const float *input,
                             const int64_t *target, const float *weight, nf_int outer,
                             nf_int C, nf_int inner, nf_int ignore_index, int reduction,
                             float label_smoothing)
{
    double wall = (double)C, W = 1.0;
    if (weight) {
        wall = 0.0;
        for (nf_int c = 0; c < C; c++)
            wall += weight[c];
    }
    if (reduction == NF_REDUCTION_MEAN)
        W = target_weight_sum(target, weight, outer * inner, ignore_index);
    /* W == 0 (every target ignored): 0/0 = NaN as in PyTorch; the caller reports it. */
    double scale = 1.0 / W;
    double total = inner == 1
        ? ce_rows(out, dinput, input, target, weight, outer, C, ignore_index, scale,
                  label_smoothing, wall)
        : ce_panels(out, dinput, input, target, weight, outer, C, inner, ignore_index, scale,
                    label_smoothing, wall);
    return reduction == NF_REDUCTION_MEAN ? total / W : total;
}

/* ===================================================================================== */
/* NLL on log-probabilities                                                               */
/* ===================================================================================== */

double nf_nll_loss(float *out, float *dinput, const float *input, const int64_t *target,
                   const float *weight, nf_int outer, nf_int C, nf_int inner,
                   nf_int ignore_index, int reduction)
{
    const nf_int npos = outer * inner;
    double W = reduction == NF_REDUCTION_MEAN
        ? target_weight_sum(target, weight, npos, ignore_index) : 1.0;
    double scale = 1.0 / W, total = 0.0;
    if (dinput)
        memset(dinput, 0, (size_t)(outer * C * inner) * sizeof(float));
    for (nf_int o = 0; o < outer; o++) {
        for (nf_int j = 0; j < inner; j++) {
            int64_t y = target[o * inner + j];
            float l = 0.0f;
            if (y != ignore_index) {
                nf_int k = (o * C + y) * inner + j;      /* input[o, y, j] */
                float wy = weight ? weight[y] : 1.0f;
                l = -wy * input[k];
                if (dinput)
                    dinput[k] = (float)(-wy * scale);
            }
            if (out)
                out[o * inner + j] = l;
            total += l;
        }
    }
    return reduction == NF_REDUCTION_MEAN ? total / W : total;
}

/* ===================================================================================== */
/* Cross entropy with class-probability targets                                           */
/* ===================================================================================== */

/* t'_c = (1-eps) t_c + eps/C;  loss = -sum_c w_c t'_c (x_c - lse)
 * dloss/dx_c = p_c sum_k w_k t'_k - w_c t'_c;  dloss/dt_c = -(1-eps) w_c (x_c - lse).
 * Mean divides by the number of positions (outer * inner), not by a weight sum (as ATen).
 * Each position walks its classes at stride `inner`; no copies. */
double nf_cross_entropy_prob_loss(float *out, float *dinput, float *dtarget, const float *input,
                                  const float *target, const float *weight, nf_int outer,
                                  nf_int C, nf_int inner, int reduction,
                                  float label_smoothing)
{
    const nf_int npos = outer * inner;
    const double eps = label_smoothing, b = eps / (double)C;
    const double scale = reduction == NF_REDUCTION_MEAN ? 1.0 / (double)npos : 1.0;
    double total = 0.0;
#pragma omp parallel for reduction(+:total) schedule(static) if(npos * C > NF_LOSS_OMP_MIN) \
    num_threads(nf_get_num_threads())
    for (nf_int pos = 0; pos < npos; pos++) {
        nf_int o = pos / inner, j = pos % inner;
        const nf_int base = o * C * inner + j;
        const float *x = input + base, *t = target + base;   /* x[c * inner] */
        float m = -INFINITY;
        for (nf_int c = 0; c < C; c++)
            m = fmaxf(m, x[c * inner]);
        double s = 0.0;
        for (nf_int c = 0; c < C; c++)
            s += (double)expf(x[c * inner] - m);
        double lse = (double)m + log(s), l = 0.0, wt_sum = 0.0;
        for (nf_int c = 0; c < C; c++) {
            double wt = (weight ? (double)weight[c] : 1.0) * ((1.0 - eps) * t[c * inner] + b);
            l -= wt * ((double)x[c * inner] - lse);
            wt_sum += wt;
        }
        if (out)
            out[pos] = (float)l;
        total += l;
        if (dinput) {
            float *dx = dinput + base;
            float inv_s = (float)(1.0 / s), a = (float)(scale * wt_sum);
            for (nf_int c = 0; c < C; c++) {
                float wc = weight ? weight[c] : 1.0f;
                float tc = (float)((1.0 - eps) * t[c * inner] + b);
                dx[c * inner] = a * expf(x[c * inner] - m) * inv_s - (float)scale * wc * tc;
            }
        }
        if (dtarget) {
            float *dt = dtarget + base;
            for (nf_int c = 0; c < C; c++) {
                double wc = weight ? (double)weight[c] : 1.0;
                dt[c * inner] = (float)(-scale * (1.0 - eps) * wc * ((double)x[c * inner] - lse));
            }
        }
    }
    return reduction == NF_REDUCTION_MEAN ? total * scale : total;
}

/* ===================================================================================== */
/* Binary cross entropy                                                                   */
/* ===================================================================================== */

/* Weights broadcast over trailing dimensions repeat with a period: w[i % wperiod]. The loops
 * go in blocks so each block (and each thread) derives its phase once, then counts. */
#define NF_BCE_BLOCK 4096

/* Probabilities x, targets y, weight w (ATen binary_cross_entropy, logs clamped at -100):
 *   loss = -w (y max(log x, -100) + (1-y) max(log(1-x), -100))
 *   dloss/dx = w (x - y) / max(x (1-x), 1e-12)
 *   dloss/dy = w (max(log(1-x), -100) - max(log x, -100)) */
double nf_bce_loss(float *out, float *dinput, float *dtarget, const float *input,
                   const float *target, const float *weight, nf_int wperiod, nf_int n,
                   float scale)
{
    double total = 0.0;
    const nf_int nblock = (n + NF_BCE_BLOCK - 1) / NF_BCE_BLOCK;
#pragma omp parallel for reduction(+:total) schedule(static) if(n > NF_LOSS_OMP_MIN / 4) \
    num_threads(nf_get_num_threads())
    for (nf_int blk = 0; blk < nblock; blk++) {
        nf_int i0 = blk * NF_BCE_BLOCK;
        nf_int i1 = i0 + NF_BCE_BLOCK < n ? i0 + NF_BCE_BLOCK : n;
        nf_int k = weight ? i0 % wperiod : 0;
        double acc = 0.0;
        for (nf_int i = i0; i < i1; i++) {
            float x = input[i], y = target[i];
            float w = 1.0f;
            if (weight) {
                w = weight[k];
                if (++k == wperiod)
                    k = 0;
            }
            float lx = fmaxf(logf(x), -100.0f), l1x = fmaxf(logf(1.0f - x), -100.0f);
            float l = -w * (y * lx + (1.0f - y) * l1x);
            if (out)
                out[i] = l;
            if (dinput)
                dinput[i] = scale * w * (x - y) / fmaxf((1.0f - x) * x, 1e-12f);
            if (dtarget)
                dtarget[i] = scale * w * (l1x - lx);
            acc += l;
        }
        total += acc;
    }
    return total * scale;
}

/* Logits x, targets y, weight w, pos_weight q (1 without), log_sigmoid(x) = min(x,0) -
 * log1p(exp(-|x|)) (ATen binary_cross_entropy_with_logits):
 *   loss = w ((1-y) x - (1 + (q-1) y) log_sigmoid(x))
 *   dloss/dx = w ((q y + 1 - y) sigmoid(x) - q y)
 *   dloss/dy = w (log_sigmoid(-x) - q log_sigmoid(x))      (= -w x without pos_weight) */
double nf_bce_logits_loss(float *out, float *dinput, float *dtarget, const float *input,
                          const float *target, const float *weight, nf_int wperiod,
                          const float *pos_weight, nf_int qperiod, nf_int n, float scale)
{
    double total = 0.0;
    const nf_int nblock = (n + NF_BCE_BLOCK - 1) / NF_BCE_BLOCK;
#pragma omp parallel for reduction(+:total) schedule(static) if(n > NF_LOSS_OMP_MIN / 4) \
    num_threads(nf_get_num_threads())
    for (nf_int blk = 0; blk < nblock; blk++) {
        nf_int i0 = blk * NF_BCE_BLOCK;
        nf_int i1 = i0 + NF_BCE_BLOCK < n ? i0 + NF_BCE_BLOCK : n;
        nf_int kw = weight ? i0 % wperiod : 0, kq = pos_weight ? i0 % qperiod : 0;
        double acc = 0.0;
        for (nf_int i = i0; i < i1; i++) {
            float x = input[i], y = target[i];
            float w = 1.0f, q = 1.0f;
            if (weight) {
                w = weight[kw];
                if (++kw == wperiod)
                    kw = 0;
            }
            if (pos_weight) {
                q = pos_weight[kq];
                if (++kq == qperiod)
                    kq = 0;
            }
            float e = expf(-fabsf(x));
            float sp = log1pf(e);                       /* log1p(exp(-|x|)) */
            float ls = fminf(x, 0.0f) - sp;             /* log_sigmoid(x) */
            float l = w * ((1.0f - y) * x - (1.0f + (q - 1.0f) * y) * ls);
            if (out)
                out[i] = l;
            if (dinput) {
                float sig = x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
                float qy = q * y;
                dinput[i] = scale * w * ((qy + 1.0f - y) * sig - qy);
            }
            if (dtarget) {
                float g = pos_weight ? (fminf(-x, 0.0f) - sp) - q * ls : -x;
                dtarget[i] = scale * w * g;
            }
            acc += l;
        }
        total += acc;
    }
    return total * scale;
}
