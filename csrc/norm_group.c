/* norm_group.c — GroupNorm forward and backward.
 *
 * What it is: x[N, C, S] (S = product of the spatial dims) split into G groups of Cg = C/G
 * channels; each (sample, group) row of D = Cg*S contiguous values is normalised with its own
 * mean and rstd = 1/sqrt(biased var + eps), then scaled and shifted per channel:
 *   forward: y = x * scale + shift,  scale = rstd * w[c],  shift = b[c] - scale * mean
 *            (torch 2.13's CPU order).
 *   backward, per row (xhat = (x - m) * r, dxhat = dy * w[c]):
 *            dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 *               = (r * w[c]) * dy + k * x + q,  k = -r^3 * A / D,  q = -k * m - r * B / D
 *            with A = sum_c w[c] * sum_s dy * (x - m), B = sum_c w[c] * sum_s dy;
 *            dweight[c] = sum_n r * sum_s dy * (x - m);  dbias[c] = sum_n sum_s dy.
 * Numerics as norm.c: sums in double, two-pass variance, per-element work in float32.
 * What it is not: strided or channels-last input, float64 (the NumPy reference in
 * nnfast/nn/_functional_norm.py runs that), accumulation into gradient buffers (outputs are
 * overwritten). The backward takes its per-(n, c) partial sums in a caller-given double
 * workspace of 2*N*C, so nothing is allocated here.
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

#define NF_GN_PAR 32768 /* elements below which a kernel stays on one thread */
#define NF_GN_LANES 16

NF_CLONES static double gn_sum(const float *p, nf_int n)
{
    double acc[NF_GN_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_GN_LANES <= n; i += NF_GN_LANES)
        for (int k = 0; k < NF_GN_LANES; k++) acc[k] += (double)p[i + k];
    double s = 0.0;
    for (; i < n; i++) s += (double)p[i];
    for (int k = 0; k < NF_GN_LANES; k++) s += acc[k];
    return s;
}

NF_CLONES static double gn_sqdev(const float *p, nf_int n, double m)
{
    double acc[NF_GN_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_GN_LANES <= n; i += NF_GN_LANES)
        for (int k = 0; k < NF_GN_LANES; k++) {
            double d = (double)p[i + k] - m;
            acc[k] += d * d;
        }
    double s = 0.0;
    for (; i < n; i++) {
        double d = (double)p[i] - m;
        s += d * d;
    }
    for (int k = 0; k < NF_GN_LANES; k++) s += acc[k];
    return s;
}

/* *sdy = sum dy, *sdyx = sum dy * (x - m), in double */
NF_CLONES static void gn_dsums(double *sdy, double *sdyx, const float *dy, const float *x,
                               nf_int n, double m)
{
    double a[NF_GN_LANES] = {0}, b[NF_GN_LANES] = {0};
    nf_int i = 0;
    for (; i + NF_GN_LANES <= n; i += NF_GN_LANES)
        for (int k = 0; k < NF_GN_LANES; k++) {
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
    for (int k = 0; k < NF_GN_LANES; k++) {
        s += a[k];
        t += b[k];
    }
    *sdy = s;
    *sdyx = t;
}

NF_CLONES static void gn_affine(float *y, const float *x, nf_int n, float a, float b)
{
    for (nf_int i = 0; i < n; i++) y[i] = x[i] * a + b;
}

NF_CLONES static void gn_dx(float *dx, const float *dy, const float *x, nf_int n, float a,
                            float k, float q)
{
    for (nf_int i = 0; i < n; i++) dx[i] = a * dy[i] + k * x[i] + q;
}

/* out[N,C,S]; mean[N*G], rstd[N*G] written; x[N,C,S]; weight[C], bias[C] or NULL. */
void nf_group_norm_forward(float *out, float *mean, float *rstd, const float *x,
                           const float *weight, const float *bias, nf_int N, nf_int C,
                           nf_int S, nf_int G, double eps)
{
    if (N <= 0 || C <= 0 || G <= 0) return;
    const nf_int Cg = C / G, D = Cg * S, M = N * G;
#pragma omp parallel for if (N * C * S > NF_GN_PAR && M > 1) num_threads(nf_get_num_threads())
    for (nf_int i = 0; i < M; i++) {
        const float *xi = x + i * D;
        double m = 0.0, r = 1.0 / sqrt(eps);
        if (D > 0) {
            m = gn_sum(xi, D) / (double)D;
            r = 1.0 / sqrt(gn_sqdev(xi, D, m) / (double)D + eps);
        }
        const float mf = (float)m, rf = (float)r;
        mean[i] = mf;
        rstd[i] = rf;
        const nf_int c0 = (i % G) * Cg;
        for (nf_int j = 0; j < Cg; j++) {
            const float sc = rf * (weight ? weight[c0 + j] : 1.0f);
            const float sh = (bias ? bias[c0 + j] : 0.0f) - sc * mf;
            gn_affine(out + i * D + j * S, xi + j * S, S, sc, sh);
        }
    }
}

/* dinp[N,C,S], dweight[C], dbias[C] each or NULL; ws: 2*N*C doubles; dout, x [N,C,S];
 * mean, rstd [N*G] from the forward; weight[C] or NULL. */
void nf_group_norm_backward(float *dinp, float *dweight, float *dbias, double *ws,
                            const float *dout, const float *x, const float *mean,
                            const float *rstd, const float *weight, nf_int N, nf_int C,
                            nf_int S, nf_int G)
{
    if (C <= 0 || G <= 0) return;
    if (N <= 0) {
        for (nf_int c = 0; c < C; c++) {
            if (dweight) dweight[c] = 0.0f;
            if (dbias) dbias[c] = 0.0f;
        }
        return;
    }
    const nf_int Cg = C / G, D = Cg * S, NC = N * C;
    double *sdy = ws, *sdyx = ws + NC;
    /* per (n, c): sum dy and sum dy * (x - mean of its group) */
#pragma omp parallel for if (N * C * S > NF_GN_PAR && NC > 1) num_threads(nf_get_num_threads())
    for (nf_int nc = 0; nc < NC; nc++) {
        const nf_int row = (nc / C) * G + (nc % C) / Cg;
        gn_dsums(&sdy[nc], &sdyx[nc], dout + nc * S, x + nc * S, S, (double)mean[row]);
    }
    if (dinp) {
#pragma omp parallel for if (N * C * S > NF_GN_PAR && N * G > 1) num_threads(nf_get_num_threads())
        for (nf_int i = 0; i < N * G; i++) {
            const nf_int n = i / G, c0 = (i % G) * Cg;
            double A = 0.0, B = 0.0;
            for (nf_int j = 0; j < Cg; j++) {
                const double w = weight ? (double)weight[c0 + j] : 1.0;
                A += w * sdyx[n * C + c0 + j];
                B += w * sdy[n * C + c0 + j];
            }
            const double r = (double)rstd[i], m = (double)mean[i];
            const double k = D > 0 ? -r * r * r * A / (double)D : 0.0;
            const double q = D > 0 ? -k * m - r * B / (double)D : 0.0;
            for (nf_int j = 0; j < Cg; j++) {
                const float a = rstd[i] * (weight ? weight[c0 + j] : 1.0f);
                const nf_int off = i * D + j * S;
                gn_dx(dinp + off, dout + off, x + off, S, a, (float)k, (float)q);
            }
        }
    }
    if (dweight || dbias)
        for (nf_int c = 0; c < C; c++) {
            double sw = 0.0, sb = 0.0;
            for (nf_int n = 0; n < N; n++) {
                sw += sdyx[n * C + c] * (double)rstd[n * G + c / Cg];
                sb += sdy[n * C + c];
            }
            if (dweight) dweight[c] = (float)sw;
            if (dbias) dbias[c] = (float)sb;
        }
}
