/* norm.c — BatchNorm and LayerNorm forward/backward kernels.
 *
 * What it is:
 *   BatchNorm over x viewed as [N, C, S] (S = product of the spatial dims, 1 for (N, C)
 *   input): per-channel statistics (mean, 1/sqrt(biased var + eps)) with the running-stat
 *   update, the normalise + affine pass, and the backward (dx, dweight, dbias) — PyTorch's
 *   formulas, no transposing copies.
 *   LayerNorm over x viewed as [M rows, D] (D = product of the normalized dims): per-row
 *   mean/rstd, normalise + elementwise affine, and the backward.
 *
 * Numerics: sums are accumulated in double (16 partial accumulators, so the loops
 * vectorise without reassociating a single sum); variance is two-pass (mean first, then
 * squared deviations), never E[x^2] - E[x]^2. Per-element work is float32, in the same
 * formula order as torch 2.13's CPU kernels:
 *   BN:  y = x * alpha + beta,  alpha = invstd * w,  beta = b - mean * alpha
 *   LN:  y = (x * rstd + (-rstd * mean)) * w + b
 * torch accumulates LayerNorm moments in float (Welford); ours are a little more exact.
 *
 * What it is not: no strides (callers pass C-contiguous arrays), float32 only (float64 runs
 * through the NumPy reference in nnfast/nn/_functional_norm.py), no allocation (the
 * channel-blocked paths keep their partial sums in fixed stack arrays), no accumulation
 * into gradient buffers (outputs are overwritten; the autograd tape adds).
 *
 * Two BatchNorm paths: S == 1 ((N, C) input, channels interleaved in memory) sweeps rows
 * over blocks of NF_BN_CB channels so every access is unit-stride; S > 1 walks each
 * channel's N contiguous runs of S. The per-channel path works for any S and is the plain
 * reference (nf_batch_norm_*_ref) that tests hold the blocked path to.
 *
 * Threads: OpenMP over channels (or channel blocks) / rows, only above NF_NORM_PAR
 * elements. SIMD: row helpers carry NF_CLONES (AVX-512, AVX2+FMA, baseline x86-64 copies
 * chosen at load time), elsewhere plain auto-vectorised C.
 */
#include <math.h>
#include <stddef.h>

#include "nnfast.h"

/* No implicit a*b+c contraction: the per-element formulas round each product as torch's
 * kernels do, so e.g. a LayerNorm row of equal values gives exactly 0 (x*r + (-r*m)). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "nf_simd.h"

#define NF_NORM_PAR 32768 /* elements below which a kernel stays on one thread */
#define NF_BN_CB 64       /* channels per block on the S == 1 path (stack scratch) */
#define NF_LANES 16       /* partial accumulators of the row reductions */

/* ------------------------------------------------------------------------------------- */
/* Row helpers on one contiguous run p[0..n)                                              */
/* ------------------------------------------------------------------------------------- */

/* sum p[i], in double */
NF_CLONES static double row_sum(const float *p, nf_int n)
{
    double acc[NF_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int k = 0; k < NF_LANES; k++) acc[k] += (double)p[i + k];
    double s = 0.0;
    for (; i < n; i++) s += (double)p[i];
    for (int k = 0; k < NF_LANES; k++) s += acc[k];
    return s;
}

/* sum (p[i] - m)^2, in double */
NF_CLONES static double row_sqdev(const float *p, nf_int n, double m)
{
    double acc[NF_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int k = 0; k < NF_LANES; k++) {
            double d = (double)p[i + k] - m;
            acc[k] += d * d;
        }
    double s = 0.0;
    for (; i < n; i++) {
        double d = (double)p[i] - m;
        s += d * d;
    }
    for (int k = 0; k < NF_LANES; k++) s += acc[k];
    return s;
}

/* *sdy += sum dy[i];  *sdyx += sum dy[i] * (x[i] - m), in double */
NF_CLONES static void row_dsums(double *sdy, double *sdyx, const float *dy, const float *x,
                                nf_int n, double m)
{
    double a[NF_LANES] = {0}, b[NF_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_LANES <= n; i += NF_LANES)
        for (int k = 0; k < NF_LANES; k++) {
            double g = (double)dy[i + k];
            a[k] += g;
            b[k] += g * ((double)x[i + k] - m);
        }
    double s = 0.0, t = 0.0;
    for (; i < n; i++) {
        double g = (double)dy[i];
        s += g;
        t += g * ((double)x[i] - m);
    }
    for (int k = 0; k < NF_LANES; k++) {
        s += a[k];
        t += b[k];
    }
    *sdy += s;
    *sdyx += t;
}

/* y = x * a + b */
NF_CLONES static void row_affine(float *y, const float *x, nf_int n, float a, float b)
{
    for (nf_int i = 0; i < n; i++) y[i] = x[i] * a + b;
}

/* BN training dx: (dy - gm - (x - m) * k) * iw */
NF_CLONES static void row_bn_dx(float *dx, const float *dy, const float *x, nf_int n, float m,
                                float k, float gm, float iw)
{
    for (nf_int i = 0; i < n; i++) dx[i] = (dy[i] - gm - (x[i] - m) * k) * iw;
}

/* ------------------------------------------------------------------------------------- */
/* Column helpers for the S == 1 path: one row's slice of w channels                      */
/* ------------------------------------------------------------------------------------- */

NF_CLONES static void col_sum(double *acc, const float *x, nf_int w)
{
    for (nf_int j = 0; j < w; j++) acc[j] += (double)x[j];
}

NF_CLONES static void col_sqdev(double *acc, const float *x, const double *m, nf_int w)
{
    for (nf_int j = 0; j < w; j++) {
        double d = (double)x[j] - m[j];
        acc[j] += d * d;
    }
}

NF_CLONES static void col_dsums(double *sdy, double *sdyx, const float *dy, const float *x,
                                const double *m, nf_int w)
{
    for (nf_int j = 0; j < w; j++) {
        double g = (double)dy[j];
        sdy[j] += g;
        sdyx[j] += g * ((double)x[j] - m[j]);
    }
}

NF_CLONES static void col_affine(float *y, const float *x, const float *a, const float *b,
                                 nf_int w)
{
    for (nf_int j = 0; j < w; j++) y[j] = x[j] * a[j] + b[j];
}

NF_CLONES static void col_bn_dx(float *dx, const float *dy, const float *x, const float *m,
                                const float *k, const float *gm, const float *iw, nf_int w)
{
    for (nf_int j = 0; j < w; j++) dx[j] = (dy[j] - gm[j] - (x[j] - m[j]) * k[j]) * iw[j];
}

/* ------------------------------------------------------------------------------------- */
/* BatchNorm                                                                              */
/* ------------------------------------------------------------------------------------- */

/* From one channel's sum and sum of squared deviations over n = N*S values: the saved
 * mean/invstd and the running-stat update (PyTorch: new = momentum * batch +
 * (1 - momentum) * old, in double; running_var takes the unbiased variance). */
static void bn_finish(float *mean, float *invstd, float *running_mean, float *running_var,
                      nf_int c, double m, double sq, nf_int n, double momentum, double eps)
{
    mean[c] = (float)m;
    invstd[c] = (float)(1.0 / sqrt(sq / (double)n + eps));
    if (running_mean)
        running_mean[c] = (float)(momentum * m + (1.0 - momentum) * (double)running_mean[c]);
    if (running_var && n > 1)
        running_var[c] = (float)(momentum * (sq / (double)(n - 1))
                                 + (1.0 - momentum) * (double)running_var[c]);
}

static void bn_stats_channels(float *mean, float *invstd, float *running_mean,
                              float *running_var, const float *x, nf_int N, nf_int C, nf_int S,
                              double momentum, double eps)
{
    nf_int n = N * S;
#pragma omp parallel for if (N * C * S > NF_NORM_PAR && C > 1) num_threads(nf_get_num_threads())
    for (nf_int c = 0; c < C; c++) {
        double s = 0.0;
        for (nf_int b = 0; b < N; b++) s += row_sum(x + (b * C + c) * S, S);
        double m = s / (double)n, sq = 0.0;
        for (nf_int b = 0; b < N; b++) sq += row_sqdev(x + (b * C + c) * S, S, m);
        bn_finish(mean, invstd, running_mean, running_var, c, m, sq, n, momentum, eps);
    }
}

static void bn_stats_blocked(float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, nf_int N, nf_int C,
                             double momentum, double eps)
{
    nf_int nblk = (C + NF_BN_CB - 1) / NF_BN_CB;
#pragma omp parallel for if (N * C > NF_NORM_PAR && nblk > 1) num_threads(nf_get_num_threads())
    for (nf_int blk = 0; blk < nblk; blk++) {
        nf_int c0 = blk * NF_BN_CB, w = C - c0 < NF_BN_CB ? C - c0 : NF_BN_CB;
        double s[NF_BN_CB] = {0}, sq[NF_BN_CB] = {0}, m[NF_BN_CB];
        for (nf_int b = 0; b < N; b++) col_sum(s, x + b * C + c0, w);
        for (nf_int j = 0; j < w; j++) m[j] = s[j] / (double)N;
        for (nf_int b = 0; b < N; b++) col_sqdev(sq, x + b * C + c0, m, w);
        for (nf_int j = 0; j < w; j++)
            bn_finish(mean, invstd, running_mean, running_var, c0 + j, m[j], sq[j], N,
                      momentum, eps);
    }
}

void nf_batch_norm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                         const float *x, nf_int N, nf_int C, nf_int S, double momentum,
                         double eps)
{
    if (C <= 0 || N * S <= 0) return;
    if (S == 1)
        bn_stats_blocked(mean, invstd, running_mean, running_var, x, N, C, momentum, eps);
    else
        bn_stats_channels(mean, invstd, running_mean, running_var, x, N, C, S, momentum, eps);
}

void nf_batch_norm_stats_ref(float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, nf_int N, nf_int C, nf_int S,
                             double momentum, double eps)
{
    if (C <= 0 || N * S <= 0) return;
    bn_stats_channels(mean, invstd, running_mean, running_var, x, N, C, S, momentum, eps);
}

/* alpha = invstd * w, beta = b - mean * alpha (torch's order) */
static inline void bn_coeffs(float *alpha, float *beta, const float *mean, const float *invstd,
                             const float *weight, const float *bias, nf_int c)
{
    float a = invstd[c] * (weight ? weight[c] : 1.0f);
    *alpha = a;
    *beta = (bias ? bias[c] : 0.0f) - mean[c] * a;
}

static void bn_apply_channels(float *out, const float *x, const float *mean,
                              const float *invstd, const float *weight, const float *bias,
                              nf_int N, nf_int C, nf_int S)
{
    nf_int rows = N * C;
#pragma omp parallel for if (rows * S > NF_NORM_PAR) num_threads(nf_get_num_threads())
    for (nf_int r = 0; r < rows; r++) {
        float a, b;
        bn_coeffs(&a, &b, mean, invstd, weight, bias, r % C);
        row_affine(out + r * S, x + r * S, S, a, b);
    }
}

static void bn_apply_blocked(float *out, const float *x, const float *mean,
                             const float *invstd, const float *weight, const float *bias,
                             nf_int N, nf_int C)
{
    nf_int nblk = (C + NF_BN_CB - 1) / NF_BN_CB;
    if (nblk == 1) { /* few channels: split rows across threads instead */
        float a[NF_BN_CB], b[NF_BN_CB];
        for (nf_int c = 0; c < C; c++) bn_coeffs(&a[c], &b[c], mean, invstd, weight, bias, c);
#pragma omp parallel for if (N * C > NF_NORM_PAR) num_threads(nf_get_num_threads())
        for (nf_int r = 0; r < N; r++) col_affine(out + r * C, x + r * C, a, b, C);
        return;
    }
#pragma omp parallel for if (N * C > NF_NORM_PAR) num_threads(nf_get_num_threads())
    for (nf_int blk = 0; blk < nblk; blk++) {
        nf_int c0 = blk * NF_BN_CB, w = C - c0 < NF_BN_CB ? C - c0 : NF_BN_CB;
        float a[NF_BN_CB], b[NF_BN_CB];
        for (nf_int j = 0; j < w; j++) bn_coeffs(&a[j], &b[j], mean, invstd, weight, bias, c0 + j);
        for (nf_int r = 0; r < N; r++) col_affine(out + r * C + c0, x + r * C + c0, a, b, w);
    }
}

void nf_batch_norm_apply(float *out, const float *x, const float *mean, const float *invstd,
                         const float *weight, const float *bias, nf_int N, nf_int C, nf_int S)
{
    if (N * C * S <= 0) return;
    if (S == 1)
        bn_apply_blocked(out, x, mean, invstd, weight, bias, N, C);
    else
        bn_apply_channels(out, x, mean, invstd, weight, bias, N, C, S);
}

void nf_batch_norm_apply_ref(float *out, const float *x, const float *mean, const float *invstd,
                             const float *weight, const float *bias, nf_int N, nf_int C,
                             nf_int S)
{
    if (N * C * S <= 0) return;
    bn_apply_channels(out, x, mean, invstd, weight, bias, N, C, S);
}

/* Per-channel backward coefficients from the sums over n values:
 *   forward (training): xhat = (x - mean) * invstd, y = xhat * w + b
 *   dbias = sum dy; dweight = sum dy * xhat = sdyx * invstd
 *   dx = (dy - sdy/n - (x - mean) * sdyx * invstd^2 / n) * invstd * w     (training)
 *   dx = dy * invstd * w                                                  (eval: mean and
 *        invstd are constants, so this is the k = gm = 0 case of the same formula) */
static void bn_bcoeffs(float *k, float *gm, float *iw, float *dweight, float *dbias,
                       const float *invstd, const float *weight, nf_int c, double sdy,
                       double sdyx, nf_int n, int training)
{
    double is = (double)invstd[c];
    *k = training ? (float)(sdyx * is * is / (double)n) : 0.0f;
    *gm = training ? (float)(sdy / (double)n) : 0.0f;
    *iw = invstd[c] * (weight ? weight[c] : 1.0f);
    if (dweight) dweight[c] = (float)(sdyx * is);
    if (dbias) dbias[c] = (float)sdy;
}

static void bn_backward_channels(float *dinp, float *dweight, float *dbias, const float *dout,
                                 const float *x, const float *mean, const float *invstd,
                                 const float *weight, nf_int N, nf_int C, nf_int S,
                                 int training)
{
    nf_int n = N * S;
#pragma omp parallel for if (N * C * S > NF_NORM_PAR && C > 1) num_threads(nf_get_num_threads())
    for (nf_int c = 0; c < C; c++) {
        double sdy = 0.0, sdyx = 0.0, m = (double)mean[c];
        for (nf_int b = 0; b < N; b++) {
            nf_int off = (b * C + c) * S;
            row_dsums(&sdy, &sdyx, dout + off, x + off, S, m);
        }
        float k, gm, iw;
        bn_bcoeffs(&k, &gm, &iw, dweight, dbias, invstd, weight, c, sdy, sdyx, n, training);
        if (dinp)
            for (nf_int b = 0; b < N; b++) {
                nf_int off = (b * C + c) * S;
                row_bn_dx(dinp + off, dout + off, x + off, S, mean[c], k, gm, iw);
            }
    }
}

static void bn_backward_blocked(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *invstd,
                                const float *weight, nf_int N, nf_int C, int training)
{
    nf_int nblk = (C + NF_BN_CB - 1) / NF_BN_CB;
#pragma omp parallel for if (N * C > NF_NORM_PAR && nblk > 1) num_threads(nf_get_num_threads())
    for (nf_int blk = 0; blk < nblk; blk++) {
        nf_int c0 = blk * NF_BN_CB, w = C - c0 < NF_BN_CB ? C - c0 : NF_BN_CB;
        double sdy[NF_BN_CB] = {0}, sdyx[NF_BN_CB] = {0}, m[NF_BN_CB];
        float k[NF_BN_CB], gm[NF_BN_CB], iw[NF_BN_CB], mf[NF_BN_CB];
        for (nf_int j = 0; j < w; j++) {
            m[j] = (double)mean[c0 + j];
            mf[j] = mean[c0 + j];
        }
        for (nf_int b = 0; b < N; b++)
            col_dsums(sdy, sdyx, dout + b * C + c0, x + b * C + c0, m, w);
        for (nf_int j = 0; j < w; j++)
            bn_bcoeffs(&k[j], &gm[j], &iw[j], dweight, dbias, invstd, weight, c0 + j, sdy[j],
                       sdyx[j], N, training);
        if (dinp)
            for (nf_int b = 0; b < N; b++)
                col_bn_dx(dinp + b * C + c0, dout + b * C + c0, x + b * C + c0, mf, k, gm, iw,
                          w);
    }
}

void nf_batch_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *x, const float *mean, const float *invstd,
                            const float *weight, nf_int N, nf_int C, nf_int S, int training)
{
    if (C <= 0) return;
    if (N * S <= 0) { /* no values: zero parameter gradients, nothing else to write */
        for (nf_int c = 0; c < C; c++) {
            if (dweight) dweight[c] = 0.0f;
            if (dbias) dbias[c] = 0.0f;
        }
        return;
    }
    if (S == 1)
        bn_backward_blocked(dinp, dweight, dbias, dout, x, mean, invstd, weight, N, C,
                            training);
    else
        bn_backward_channels(dinp, dweight, dbias, dout, x, mean, invstd, weight, N, C, S,
                             training);
}

void nf_batch_norm_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *invstd,
                                const float *weight, nf_int N, nf_int C, nf_int S,
                                int training)
{
    if (C <= 0) return;
    if (N * S <= 0) {
        for (nf_int c = 0; c < C; c++) {
            if (dweight) dweight[c] = 0.0f;
            if (dbias) dbias[c] = 0.0f;
        }
        return;
    }
    bn_backward_channels(dinp, dweight, dbias, dout, x, mean, invstd, weight, N, C, S,
                         training);
}

/* ------------------------------------------------------------------------------------- */
/* LayerNorm over rows of x[M, D]                                                         */
/* ------------------------------------------------------------------------------------- */

/* y = (x * scale + shift) * w + b, w/b may be NULL (1 / 0) */
NF_CLONES static void row_ln_f(float *y, const float *x, const float *w, const float *b,
                               nf_int D, float scale, float shift)
{
    if (w && b)
        for (nf_int j = 0; j < D; j++) y[j] = (x[j] * scale + shift) * w[j] + b[j];
    else if (w)
        for (nf_int j = 0; j < D; j++) y[j] = (x[j] * scale + shift) * w[j];
    else if (b)
        for (nf_int j = 0; j < D; j++) y[j] = (x[j] * scale + shift) + b[j];
    else
        for (nf_int j = 0; j < D; j++) y[j] = x[j] * scale + shift;
}

void nf_layer_norm_forward(float *out, float *mean, float *rstd, const float *x,
                           const float *weight, const float *bias, nf_int M, nf_int D,
                           double eps)
{
    if (M <= 0 || D <= 0) return;
#pragma omp parallel for if (M * D > NF_NORM_PAR && M > 1) num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < M; i++) {
        const float *xi = x + i * D;
        double m = row_sum(xi, D) / (double)D;
        double var = row_sqdev(xi, D, m) / (double)D;
        float r = (float)(1.0 / sqrt(var + eps));
        float mf = (float)m;
        mean[i] = mf;
        rstd[i] = r;
        row_ln_f(out + i * D, xi, weight, bias, D, r, -r * mf);
    }
}

/* ds = sum dy * w * x, db = sum dy * w (w NULL: 1), in double */
NF_CLONES static void row_ln_dsums(double *ds, double *db, const float *dy, const float *x,
                                   const float *w, nf_int D)
{
    double a[NF_LANES] = {0}, b[NF_LANES] = {0};
    nf_int j = 0;
    for (; j + NF_LANES <= D; j += NF_LANES)
        for (int k = 0; k < NF_LANES; k++) {
            double g = (double)dy[j + k] * (w ? (double)w[j + k] : 1.0);
            a[k] += g * (double)x[j + k];
            b[k] += g;
        }
    double s = 0.0, t = 0.0;
    for (; j < D; j++) {
        double g = (double)dy[j] * (w ? (double)w[j] : 1.0);
        s += g * (double)x[j];
        t += g;
    }
    for (int k = 0; k < NF_LANES; k++) {
        s += a[k];
        t += b[k];
    }
    *ds = s;
    *db = t;
}

/* dx = a * dy * w + b * x + c (w NULL: 1) */
NF_CLONES static void row_ln_dx(float *dx, const float *dy, const float *x, const float *w,
                                nf_int D, float a, float b, float c)
{
    if (w)
        for (nf_int j = 0; j < D; j++) dx[j] = a * dy[j] * w[j] + b * x[j] + c;
    else
        for (nf_int j = 0; j < D; j++) dx[j] = a * dy[j] + b * x[j] + c;
}

/* dw[j] += dy[j] * (x[j] - m) * r;  db[j] += dy[j]  (either may be NULL) */
NF_CLONES static void col_ln_dwb(double *dw, double *db, const float *dy, const float *x,
                                 nf_int w, double m, double r)
{
    if (dw)
        for (nf_int j = 0; j < w; j++) dw[j] += (double)dy[j] * (((double)x[j] - m) * r);
    if (db)
        for (nf_int j = 0; j < w; j++) db[j] += (double)dy[j];
}

/* Backward of y = xhat * w + b, xhat = (x - mean) * rstd, over each row of D values:
 *   dxhat = dy * w; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 * written, as torch does, as dx = a * dy * w + b * x + c with
 *   a = rstd, b = (db * mean - ds) * rstd^3 / D, c = -b * mean - db * rstd / D
 *   (ds = sum dy*w*x, db = sum dy*w).
 *   dweight[j] = sum_i dy[i,j] * xhat[i,j]; dbias[j] = sum_i dy[i,j]. */
void nf_layer_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *x, const float *mean, const float *rstd,
                            const float *weight, nf_int M, nf_int D)
{
    if (D <= 0) return;
    if (M <= 0) {
        for (nf_int j = 0; j < D; j++) {
            if (dweight) dweight[j] = 0.0f;
            if (dbias) dbias[j] = 0.0f;
        }
        return;
    }
    if (dinp) {
#pragma omp parallel for if (M * D > NF_NORM_PAR && M > 1) num_threads(nf_get_num_threads())
        for (nf_int i = 0; i < M; i++) {
            double ds, db;
            row_ln_dsums(&ds, &db, dout + i * D, x + i * D, weight, D);
            double r = (double)rstd[i], m = (double)mean[i], inv_d = 1.0 / (double)D;
            double b = (db * m - ds) * r * r * r * inv_d;
            double c = -b * m - db * r * inv_d;
            row_ln_dx(dinp + i * D, dout + i * D, x + i * D, weight, D, (float)r, (float)b,
                      (float)c);
        }
    }
    if (dweight || dbias) {
        nf_int nblk = (D + NF_BN_CB - 1) / NF_BN_CB;
#pragma omp parallel for if (M * D > NF_NORM_PAR && nblk > 1) num_threads(nf_get_num_threads())
        for (nf_int blk = 0; blk < nblk; blk++) {
            nf_int j0 = blk * NF_BN_CB, w = D - j0 < NF_BN_CB ? D - j0 : NF_BN_CB;
            double aw[NF_BN_CB] = {0}, ab[NF_BN_CB] = {0};
            for (nf_int i = 0; i < M; i++)
                col_ln_dwb(dweight ? aw : NULL, dbias ? ab : NULL, dout + i * D + j0,
                           x + i * D + j0, w, (double)mean[i], (double)rstd[i]);
            for (nf_int j = 0; j < w; j++) {
                if (dweight) dweight[j0 + j] = (float)aw[j];
                if (dbias) dbias[j0 + j] = (float)ab[j];
            }
        }
    }
}
