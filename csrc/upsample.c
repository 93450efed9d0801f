/* upsample.c — nearest and bilinear resizing of image planes, forward and backward.
 *
 * What it is: direct loops over planes inp[P, H, W] (P = N*C, NCHW) driven by index and
 * weight tables the caller computed with torch's source-index rules (nnfast/nn/
 * _functional_upsample.py holds them, in the input's precision as torch's CPU kernels do):
 *   nearest:  out[p, oh, ow] = inp[p, hi[oh], wi[ow]]
 *   bilinear: out = (x00 * lw0 + x01 * lw1) * lh0 + (x10 * lw0 + x11 * lw1) * lh1 with rows
 *             h0[oh], h1[oh], columns w0[ow], w1[ow], lh1 = lh[oh], lh0 = 1 - lh1 (likewise w)
 * Backward kernels overwrite dinp with the adjoint scatter-adds, in output order.
 * Indices are trusted: the Cython seam checks every table entry lies inside the plane.
 * What it is not: bicubic, area or antialiased resizing, 3-D (volumetric) input, channels-last.
 */
#include <string.h>
#include "nnfast.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Parallelise over planes above this many output elements. */
#define UP_MT_MIN_WORK 65536.0

/* out[P, OH, OW], inp[P, H, W], hi[OH], wi[OW] */
void nf_upsample_nearest2d_forward(float *out, const float *inp, const nf_int *hi,
                                   const nf_int *wi, nf_int P, nf_int H, nf_int W, nf_int OH,
                                   nf_int OW)
{
    const double work = (double)P * OH * OW;
#pragma omp parallel for schedule(static) if (work >= UP_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        for (nf_int oh = 0; oh < OH; oh++) {
            const float *row = x + hi[oh] * W;
            for (nf_int ow = 0; ow < OW; ow++) o[oh * OW + ow] = row[wi[ow]];
        }
    }
}

/* dinp[P, H, W] (overwritten) = scatter-add of dout[P, OH, OW] through hi, wi */
void nf_upsample_nearest2d_backward(float *dinp, const float *dout, const nf_int *hi,
                                    const nf_int *wi, nf_int P, nf_int H, nf_int W, nf_int OH,
                                    nf_int OW)
{
    const double work = (double)P * OH * OW;
#pragma omp parallel for schedule(static) if (work >= UP_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (nf_int oh = 0; oh < OH; oh++) {
            float *row = d + hi[oh] * W;
            for (nf_int ow = 0; ow < OW; ow++) row[wi[ow]] += g[oh * OW + ow];
        }
    }
}

/* out[P, OH, OW], inp[P, H, W]; rows h0/h1[OH] with weights lh[OH] (of row h1), columns
 * w0/w1[OW] with lw[OW] (of column w1). */
void nf_upsample_bilinear2d_forward(float *out, const float *inp, const nf_int *h0,
                                    const nf_int *h1, const float *lh, const nf_int *w0,
                                    const nf_int *w1, const float *lw, nf_int P, nf_int H,
                                    nf_int W, nf_int OH, nf_int OW)
{
    const double work = (double)P * OH * OW;
#pragma omp parallel for schedule(static) if (work >= UP_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        for (nf_int oh = 0; oh < OH; oh++) {
            const float *r0 = x + h0[oh] * W, *r1 = x + h1[oh] * W;
            const float b1 = lh[oh], b0 = 1.0f - b1;
            for (nf_int ow = 0; ow < OW; ow++) {
                const float a1 = lw[ow], a0 = 1.0f - a1;
                const nf_int c0 = w0[ow], c1 = w1[ow];
                o[oh * OW + ow] =
                    (r0[c0] * a0 + r0[c1] * a1) * b0 + (r1[c0] * a0 + r1[c1] * a1) * b1;
            }
        }
    }
}

/* dinp[P, H, W] (overwritten): the adjoint of the forward above */
void nf_upsample_bilinear2d_backward(float *dinp, const float *dout, const nf_int *h0,
                                     const nf_int *h1, const float *lh, const nf_int *w0,
                                     const nf_int *w1, const float *lw, nf_int P, nf_int H,
                                     nf_int W, nf_int OH, nf_int OW)
{
    const double work = (double)P * OH * OW;
#pragma omp parallel for schedule(static) if (work >= UP_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (nf_int oh = 0; oh < OH; oh++) {
            float *r0 = d + h0[oh] * W, *r1 = d + h1[oh] * W;
            const float b1 = lh[oh], b0 = 1.0f - b1;
            for (nf_int ow = 0; ow < OW; ow++) {
                const float a1 = lw[ow], a0 = 1.0f - a1;
                const nf_int c0 = w0[ow], c1 = w1[ow];
                const float v = g[oh * OW + ow];
                r0[c0] += b0 * a0 * v;
                r0[c1] += b0 * a1 * v;
                r1[c0] += b1 * a0 * v;
                r1[c1] += b1 * a1 * v;
            }
        }
    }
}
