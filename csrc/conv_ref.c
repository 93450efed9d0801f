/* conv_ref.c — the direct-loop Conv2d references (forward and backward) that tests hold
 * conv.c's im2col + GEMM path to: plain loops over every output and tap, the forward
 * accumulating in double. */
#include <string.h>
#include "nnfast.h"

void nf_conv2d_forward_ref(float *out, const float *inp, const float *weight,
                           const float *bias, const nf_conv2d_geom *g)
{
    const nf_int Cg = g->C / g->G, OCg = g->OC / g->G;
    for (nf_int n = 0; n < g->N; n++)
        for (nf_int oc = 0; oc < g->OC; oc++) {
            const nf_int grp = oc / OCg;
            for (nf_int oh = 0; oh < g->OH; oh++)
                for (nf_int ow = 0; ow < g->OW; ow++) {
                    double s = bias ? bias[oc] : 0.0;
                    for (nf_int ci = 0; ci < Cg; ci++)
                        for (nf_int kh = 0; kh < g->KH; kh++)
                            for (nf_int kw = 0; kw < g->KW; kw++) {
                                const nf_int ih = oh * g->sh - g->ph + kh * g->dh;
                                const nf_int iw = ow * g->sw - g->pw + kw * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                s += (double)inp[((n * g->C + grp * Cg + ci) * g->H + ih) * g->W + iw] *
                                     weight[((oc * Cg + ci) * g->KH + kh) * g->KW + kw];
                            }
                    out[((n * g->OC + oc) * g->OH + oh) * g->OW + ow] = (float)s;
                }
        }
}

/* Every output is overwritten (no accumulate); any may be NULL. */
void nf_conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, const nf_conv2d_geom *g)
{
    const nf_int Cg = g->C / g->G, OCg = g->OC / g->G;
    if (dinp) memset(dinp, 0, (size_t)(g->N * g->C * g->H * g->W) * sizeof(float));
    if (dweight) memset(dweight, 0, (size_t)(g->OC * Cg * g->KH * g->KW) * sizeof(float));
    if (dbias) memset(dbias, 0, (size_t)g->OC * sizeof(float));
    for (nf_int n = 0; n < g->N; n++)
        for (nf_int oc = 0; oc < g->OC; oc++) {
            const nf_int grp = oc / OCg;
            for (nf_int oh = 0; oh < g->OH; oh++)
                for (nf_int ow = 0; ow < g->OW; ow++) {
                    const float go = dout[((n * g->OC + oc) * g->OH + oh) * g->OW + ow];
                    if (dbias) dbias[oc] += go;
                    for (nf_int ci = 0; ci < Cg; ci++)
                        for (nf_int kh = 0; kh < g->KH; kh++)
                            for (nf_int kw = 0; kw < g->KW; kw++) {
                                const nf_int ih = oh * g->sh - g->ph + kh * g->dh;
                                const nf_int iw = ow * g->sw - g->pw + kw * g->dw;
                                if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) continue;
                                const nf_int ii = ((n * g->C + grp * Cg + ci) * g->H + ih) * g->W + iw;
                                const nf_int wi = ((oc * Cg + ci) * g->KH + kh) * g->KW + kw;
                                if (dinp) dinp[ii] += go * weight[wi];
                                if (dweight) dweight[wi] += go * inp[ii];
                            }
                }
        }
}
