/* conv_direct_avx512.c — the forward of a 3x3 convolution of one input channel on AVX-512
 * (conv.c's path for a grey-image first layer: stride 1, dilation 1, any padding).
 *
 * Why: with its 9 taps im2col's GEMM has K = 9, far too short for its tile, and the column
 * matrix and the GEMM's output are copies as large as the work. Here a 16-wide piece of an
 * output row is one vector: each tap is one masked load of the input row (shifted by the
 * tap; lanes outside the image load 0, which is the padding), multiplied into the
 * accumulators of 8 output channels at once, whose weights come as embedded broadcasts.
 * Measured against im2col (batch 64, 28x28, one thread): 16 output channels 0.28 -> 0.20
 * ms, 32 with padding 1 0.65 -> 0.47 ms. Where it lost, it is not used: 3 channels (27
 * taps: 1.64 -> 1.97 ms for 3 -> 32 on 32x32) and 5x5 (0.61 -> 1.20 ms); nor the weight
 * gradient's adjoint, one accumulator per tap (0.43 -> 0.51 ms), so backward stays on
 * im2col.
 *
 * Padding is arithmetic on zeros, as im2col's (0 * inf is NaN there too), so results differ
 * from the im2col path's only in rounding (summation order). Addresses that may lie outside
 * a row (masked lanes) are formed as integers, as in conv_winograd_avx512.c.
 *
 * Compiled for AVX-512 with a per-file target pragma; conv.c calls in only after
 * nf_cpu_has("avx512_core").
 */
#include <stdint.h>
#include <string.h>
#include "conv_internal.h"
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
#include <immintrin.h>
#include "avx512_lanes.h"

#define OCB 8   /* output channels per pass of the forward */

/* The lanes of tap column kw's load for outputs j0 .. j0+15: inside the image's row and
 * before the row's last output. The same for every row and channel. */
static inline void tap_masks(__mmask16 *mask, const nf_conv2d_geom *g, nf_int j0, nf_int KW)
{
    for (nf_int kw = 0; kw < KW; kw++)
        mask[kw] = nf_lane_span(j0 + kw - g->pw, g->W) & nf_lane_first(g->OW - j0);
}

/* Row ih of channel c of an H x W image, or NULL outside it (its taps are 0: padding) */
static inline const float *row_of(const float *x, nf_int H, nf_int W, nf_int c, nf_int ih)
{
    return ih < 0 || ih >= H ? NULL : x + (c * H + ih) * W;
}

static inline __m512 tap(const float *row, nf_int iw, __mmask16 mask)
{
    return row ? _mm512_maskz_loadu_ps(mask, nf_lane_at(row, iw)) : _mm512_setzero_ps();
}

/* One image, output channels oc0 .. oc0+OCB-1 (wt: their weights tap-major, OCB a tap, zero
 * for channels past OC). always_inline with constants for C, KH, KW: the tap loops unroll
 * and the accumulators stay in registers. */
static inline __attribute__((always_inline)) void forward_block(
    float *out, const float *x, const float *wt, const float *bias, const nf_conv2d_geom *g,
    nf_int oc0, const nf_int C, const nf_int KH, const nf_int KW)
{
    const nf_int nb = g->OC - oc0 < OCB ? g->OC - oc0 : OCB, OHW = g->OH * g->OW;
    const nf_int H = g->H, W = g->W, ph = g->ph, pw = g->pw, OH = g->OH, OW = g->OW;
    __mmask16 mask[3];
    for (nf_int j0 = 0; j0 < OW; j0 += 16) {
        tap_masks(mask, g, j0, KW);
        const __mmask16 m = nf_lane_first(OW - j0);
        for (nf_int oh = 0; oh < OH; oh++) {
            __m512 acc[OCB];
            for (int b = 0; b < OCB; b++) acc[b] = _mm512_setzero_ps();
            const float *w = wt;
#pragma GCC unroll 4
            for (nf_int c = 0; c < C; c++)
#pragma GCC unroll 8
                for (nf_int kh = 0; kh < KH; kh++) {
                    const float *row = row_of(x, H, W, c, oh + kh - ph);
#pragma GCC unroll 8
                    for (nf_int kw = 0; kw < KW; kw++, w += OCB) {
                        const __m512 v = tap(row, j0 + kw - pw, mask[kw]);
                        for (int b = 0; b < OCB; b++)
                            acc[b] = _mm512_fmadd_ps(_mm512_set1_ps(w[b]), v, acc[b]);
                    }
                }
            for (nf_int b = 0; b < nb; b++) {
                const __m512 r = bias ? _mm512_add_ps(acc[b], _mm512_set1_ps(bias[oc0 + b]))
                                      : acc[b];
                _mm512_mask_storeu_ps(out + (oc0 + b) * OHW + oh * OW + j0, m, r);
            }
        }
    }
}

static inline __attribute__((always_inline)) void forward_image(
    float *out, const float *x, const float *weight, const float *bias,
    const nf_conv2d_geom *g, const nf_int C, const nf_int KH, const nf_int KW)
{
    const nf_int T = C * KH * KW;
    float wt[9 * OCB];
    for (nf_int oc0 = 0; oc0 < g->OC; oc0 += OCB) {
        for (nf_int t = 0; t < T; t++)
            for (nf_int b = 0; b < OCB; b++)
                wt[t * OCB + b] = oc0 + b < g->OC ? weight[(oc0 + b) * T + t] : 0.0f;
        forward_block(out, x, wt, bias, g, oc0, C, KH, KW);
    }
}

void nf_conv_direct_forward_avx512(float *out, const float *inp, const float *weight,
                                   const float *bias, const nf_conv2d_geom *g)
{
    forward_image(out, inp, weight, bias, g, 1, 3, 3);
}

#endif
