/* pool.c — 2-D max, average and adaptive-average pooling, forward and backward.
 *
 * What it is: direct loops over planes inp[P, H, W] (P = N*C, NCHW), one window per output,
 * with PyTorch's CPU semantics:
 *   max:  windows of KH x KW taps spaced by dilation; taps outside the input are skipped;
 *         a tap wins if it is greater than the best so far or NaN (so ties keep the first in
 *         row-major order and NaN propagates); idx = ih*W + iw within the plane, as torch.
 *   avg:  window [oh*sh - ph, +KH) clipped to the padded input [-ph, H+ph) gives pool_size,
 *         clipped to the input gives the taps summed; divisor = divisor_override if non-zero,
 *         else pool_size (count_include_pad) or the tap count; an empty window gives 0.
 *   adaptive avg: rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), likewise columns; mean.
 *   adaptive max: the adaptive windows with the max rule and idx above.
 * Output sizes (ceil_mode and friends) are computed by the caller.
 * Backward kernels overwrite dinp. Sums run in float in torch's order (ih outer, iw inner).
 * What it is not: channels-last, 3-D pooling, LP/fractional pooling.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "conv_internal.h"
#include "nf_simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Parallelise over planes when a call touches at least this many window taps. */
#define POOL_MT_MIN_WORK 65536.0

/* Inside a thread team already (a conv's dout_prologue, step.c): the planes run on the
 * calling thread, whatever the nesting settings. */
static int in_team(void)
{
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return 0;
#endif
}

/* The AVX-512 2x2 loops where the CPU has them, unless NNFAST_POOL=portable (read on first
 * use: how tests reach the portable loops on AVX-512 hosts); W bounds their int32 offsets. */
static int pool2x2_avx512(nf_int W)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int portable = -1;
    return !nf_env_is(&portable, "NNFAST_POOL", "portable") && nf_cpu_has("avx512_core") &&
           3 * (double)W + 1 < 2147483647.0;
#else
    (void)W;
    return 0;
#endif
}


/* One output row of a 2x2, stride-2 window with no padding or dilation (a CNN's pooling):
 * the four taps as selects in torch's order (first tap, then greater-or-NaN wins), with no
 * branch, so GCC vectorises the row; taps x0[2ow], x0[2ow+1], x1[2ow], x1[2ow+1], where x0
 * is input row 2*oh (its plane offset base) and x1 the row below it. */
NF_CLONES static void max2x2_row(float *o, int64_t *ix, const float *x0, const float *x1,
                                 nf_int OW, int64_t base, int64_t W)
{
    for (nf_int ow = 0; ow < OW; ow++) {
        const int64_t i0 = base + 2 * ow;
        float m = x0[2 * ow], v;
        int64_t i = i0;
        int w;
        v = x0[2 * ow + 1];
        w = (v > m) | (v != v);
        m = w ? v : m;
        i = w ? i0 + 1 : i;
        v = x1[2 * ow];
        w = (v > m) | (v != v);
        m = w ? v : m;
        i = w ? i0 + W : i;
        v = x1[2 * ow + 1];
        w = (v > m) | (v != v);
        m = w ? v : m;
        i = w ? i0 + W + 1 : i;
        o[ow] = m;
        ix[ow] = i;
    }
}

/* The winner of each 2x2 window of max2x2_row, as its tap 0..3, and dinp's two rows from it:
 * the window's winner gets g + 0 (-0.0 becomes +0.0, as the scatter onto zeros gives), the
 * other taps 0. */
NF_CLONES static void max2x2_grad_row(float *d0, float *d1, const float *g, const float *x0,
                                      const float *x1, nf_int OW)
{
    for (nf_int ow = 0; ow < OW; ow++) {
        float m = x0[2 * ow], v;
        int t = 0, w;
        v = x0[2 * ow + 1];
        w = (v > m) | (v != v);
        m = w ? v : m;
        t = w ? 1 : t;
        v = x1[2 * ow];
        w = (v > m) | (v != v);
        m = w ? v : m;
        t = w ? 2 : t;
        v = x1[2 * ow + 1];
        w = (v > m) | (v != v);
        t = w ? 3 : t;
        const float gv = g[ow] + 0.0f;
        d0[2 * ow] = t == 0 ? gv : 0.0f;
        d0[2 * ow + 1] = t == 1 ? gv : 0.0f;
        d1[2 * ow] = t == 2 ? gv : 0.0f;
        d1[2 * ow + 1] = t == 3 ? gv : 0.0f;
    }
}

int nf_max_pool2x2_applies(nf_int H, nf_int W, nf_int OH, nf_int OW, nf_int KH, nf_int KW,
                           nf_int sh, nf_int sw, nf_int ph, nf_int pw, nf_int dh, nf_int dw)
{
    return KH == 2 && KW == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && dh == 1 &&
           dw == 1 && 2 * OH <= H && 2 * OW <= W;
}

/* out[P, OH, OW], idx[P, OH, OW] (int64; NULL where nf_max_pool2x2_applies), inp[P, H, W] */
void nf_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P, nf_int H,
                           nf_int W, nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh,
                           nf_int sw, nf_int ph, nf_int pw, nf_int dh, nf_int dw)
{
    const double work = (double)P * OH * OW * KH * KW;
    const int two_by_two = nf_max_pool2x2_applies(H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw);
    const int avx512 = two_by_two && pool2x2_avx512(W);
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        int64_t *ix = idx ? idx + p * OH * OW : NULL;
#if defined(__x86_64__) && defined(__GNUC__)
        if (avx512) {
            nf_max_pool2x2_plane_avx512(o, ix, x, W, OH, OW);
            continue;
        }
#endif
        if (two_by_two) {
            int64_t spare[64];   /* where a row's indices go when nobody keeps them */
            for (nf_int oh = 0; oh < OH; oh++)
                for (nf_int ow = 0; ow < OW; ow += 64)
                    max2x2_row(o + oh * OW + ow, ix ? ix + oh * OW + ow : spare,
                               x + 2 * oh * W + 2 * ow, x + (2 * oh + 1) * W + 2 * ow,
                               OW - ow < 64 ? OW - ow : 64, (int64_t)(2 * oh * W + 2 * ow),
                               (int64_t)W);
            continue;
        }
        for (nf_int oh = 0; oh < OH; oh++) {
            nf_int ih0 = oh * sh - ph;
            const nf_int ih1 = ih0 + (KH - 1) * dh + 1 < H ? ih0 + (KH - 1) * dh + 1 : H;
            if (ih0 < 0) ih0 += (-ih0 + dh - 1) / dh * dh;   /* first tap >= 0, no loop */
            for (nf_int ow = 0; ow < OW; ow++) {
                nf_int iw0 = ow * sw - pw;
                const nf_int iw1 = iw0 + (KW - 1) * dw + 1 < W ? iw0 + (KW - 1) * dw + 1 : W;
                if (iw0 < 0) iw0 += (-iw0 + dw - 1) / dw * dw;
                nf_int best = ih0 * W + iw0;
                float m = -INFINITY;
                for (nf_int ih = ih0; ih < ih1; ih += dh)
                    for (nf_int iw = iw0; iw < iw1; iw += dw) {
                        const float v = x[ih * W + iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = ih * W + iw;
                        }
                    }
                o[oh * OW + ow] = m;
                ix[oh * OW + ow] = best;
            }
        }
    }
}

/* The backward of a 2x2 stride-2 max pool (nf_max_pool2x2_applies) without indices: each
 * window's winner found again in inp (as the forward found it: same taps, same order), so
 * the same dinp as nf_max_pool2d_backward_epi with the forward's idx, written once, with no
 * scatter; the epilogue as that one's. */
void nf_max_pool2x2_backward_epi(float *dinp, const float *dout, const float *inp, nf_int P,
                                 nf_int H, nf_int W, nf_int OH, nf_int OW,
                                 const nf_gemm_epi *epi)
{
    const double work = (double)P * (OH * OW + H * W);
    const int avx512 = pool2x2_avx512(W);
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK && !in_team()) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW, *x = inp + p * H * W;
#if defined(__x86_64__) && defined(__GNUC__)
        if (avx512)
            nf_max_pool2x2_grad_plane_avx512(d, g, x, W, OH, OW);
        else
#endif
            for (nf_int oh = 0; oh < OH; oh++)
                max2x2_grad_row(d + 2 * oh * W, d + (2 * oh + 1) * W, g + oh * OW,
                                x + 2 * oh * W, x + (2 * oh + 1) * W, OW);
        if (2 * OW < W)   /* a last column no window covers */
            for (nf_int r = 0; r < 2 * OH; r++)
                for (nf_int iw = 2 * OW; iw < W; iw++) d[r * W + iw] = 0.0f;
        if (2 * OH < H)
            memset(d + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(float));
        if (epi) epi->fn(epi->ctx, p, 1, 0, H * W);
    }
}

/* dinp[P, H, W] = scatter-add of dout[P, OH, OW] at idx[P, OH, OW]; indices outside
 * [0, H*W) are skipped (see below). */
void nf_max_pool2d_backward(float *dinp, const float *dout, const int64_t *idx, nf_int P,
                            nf_int H, nf_int W, nf_int OH, nf_int OW)
{
    nf_max_pool2d_backward_epi(dinp, dout, idx, P, H, W, OH, OW, NULL);
}

void nf_max_pool2d_backward_epi(float *dinp, const float *dout, const int64_t *idx, nf_int P,
                                nf_int H, nf_int W, nf_int OH, nf_int OW,
                                const nf_gemm_epi *epi)
{
    const double work = (double)P * (OH * OW + H * W);
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW;
        const int64_t *ix = idx + p * OH * OW;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        /* A window with no tap inside the input (padding + dilation) keeps torch's index of
         * its first position, which can lie past the plane: it has no gradient to give. */
        for (nf_int j = 0; j < OH * OW; j++)
            if ((uint64_t)ix[j] < (uint64_t)(H * W)) d[ix[j]] += g[j];
        if (epi) epi->fn(epi->ctx, p, 1, 0, H * W);
    }
}

/* The window of output (oh, ow) for avg pooling: taps [h0, h1) x [w0, w1), divisor. */
static inline float avg_window(nf_int oh, nf_int ow, nf_int H, nf_int W, nf_int KH, nf_int KW,
                               nf_int sh, nf_int sw, nf_int ph, nf_int pw,
                               int count_include_pad, nf_int divisor_override, nf_int *h0,
                               nf_int *h1, nf_int *w0, nf_int *w1)
{
    nf_int a = oh * sh - ph, c = ow * sw - pw;
    nf_int b = a + KH < H + ph ? a + KH : H + ph;
    nf_int d = c + KW < W + pw ? c + KW : W + pw;
    const double pool_size = (double)(b - a) * (double)(d - c);   /* huge kernels: no overflow */
    if (a < 0) a = 0;
    if (c < 0) c = 0;
    if (b > H) b = H;
    if (d > W) d = W;
    *h0 = a; *h1 = b; *w0 = c; *w1 = d;
    if (divisor_override) return (float)divisor_override;
    return (float)(count_include_pad ? pool_size : (b - a) * (d - c));
}

/* out[P, OH, OW], inp[P, H, W]; divisor_override 0 = none */
void nf_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H, nf_int W,
                           nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh, nf_int sw,
                           nf_int ph, nf_int pw, int count_include_pad,
                           nf_int divisor_override)
{
    const double work = (double)P * OH * OW * KH * KW;
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        for (nf_int oh = 0; oh < OH; oh++)
            for (nf_int ow = 0; ow < OW; ow++) {
                nf_int h0, h1, w0, w1;
                const float div = avg_window(oh, ow, H, W, KH, KW, sh, sw, ph, pw,
                                             count_include_pad, divisor_override,
                                             &h0, &h1, &w0, &w1);
                if (h0 >= h1 || w0 >= w1) {
                    o[oh * OW + ow] = 0.0f;
                    continue;
                }
                float s = 0.0f;
                for (nf_int ih = h0; ih < h1; ih++)
                    for (nf_int iw = w0; iw < w1; iw++) s += x[ih * W + iw];
                o[oh * OW + ow] = s / div;
            }
    }
}

/* dinp[P, H, W] (overwritten), dout[P, OH, OW]; same window rules as the forward */
void nf_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H, nf_int W,
                            nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh, nf_int sw,
                            nf_int ph, nf_int pw, int count_include_pad,
                            nf_int divisor_override)
{
    const double work = (double)P * OH * OW * KH * KW;
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (nf_int oh = 0; oh < OH; oh++)
            for (nf_int ow = 0; ow < OW; ow++) {
                nf_int h0, h1, w0, w1;
                const float div = avg_window(oh, ow, H, W, KH, KW, sh, sw, ph, pw,
                                             count_include_pad, divisor_override,
                                             &h0, &h1, &w0, &w1);
                const float v = g[oh * OW + ow] / div;
                for (nf_int ih = h0; ih < h1; ih++)
                    for (nf_int iw = w0; iw < w1; iw++) d[ih * W + iw] += v;
            }
    }
}

static inline nf_int ad_start(nf_int o, nf_int I, nf_int O) { return (o * I) / O; }
static inline nf_int ad_end(nf_int o, nf_int I, nf_int O) { return ((o + 1) * I + O - 1) / O; }

/* out[P, OH, OW], inp[P, H, W]; OH, OW >= 1 */
void nf_adaptive_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H,
                                    nf_int W, nf_int OH, nf_int OW)
{
    const double work = (double)P * H * W;
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        for (nf_int oh = 0; oh < OH; oh++) {
            const nf_int h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
            for (nf_int ow = 0; ow < OW; ow++) {
                const nf_int w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
                float s = 0.0f;
                for (nf_int ih = h0; ih < h1; ih++)
                    for (nf_int iw = w0; iw < w1; iw++) s += x[ih * W + iw];
                o[oh * OW + ow] = s / (float)(h1 - h0) / (float)(w1 - w0);   /* torch: / kh / kw */
            }
        }
    }
}

/* dinp[P, H, W] (overwritten), dout[P, OH, OW] */
void nf_adaptive_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H,
                                     nf_int W, nf_int OH, nf_int OW)
{
    const double work = (double)P * H * W;
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        float *d = dinp + p * H * W;
        const float *g = dout + p * OH * OW;
        memset(d, 0, (size_t)(H * W) * sizeof(float));
        for (nf_int oh = 0; oh < OH; oh++) {
            const nf_int h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
            for (nf_int ow = 0; ow < OW; ow++) {
                const nf_int w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
                const float v = g[oh * OW + ow] / (float)(h1 - h0) / (float)(w1 - w0);
                for (nf_int ih = h0; ih < h1; ih++)
                    for (nf_int iw = w0; iw < w1; iw++) d[ih * W + iw] += v;
            }
        }
    }
}

/* out[P, OH, OW], idx[P, OH, OW], inp[P, H, W]; OH, OW >= 1, H, W >= 1. Windows as the
 * adaptive average; the max rule (and idx) as nf_max_pool2d_forward. */
void nf_adaptive_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P,
                                    nf_int H, nf_int W, nf_int OH, nf_int OW)
{
    const double work = (double)P * H * W;
#pragma omp parallel for schedule(static) if (work >= POOL_MT_MIN_WORK) \
    num_threads(nf_get_num_threads())
    for (nf_int p = 0; p < P; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        int64_t *ix = idx + p * OH * OW;
        for (nf_int oh = 0; oh < OH; oh++) {
            const nf_int h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
            for (nf_int ow = 0; ow < OW; ow++) {
                const nf_int w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
                nf_int best = h0 * W + w0;
                float m = -INFINITY;
                for (nf_int ih = h0; ih < h1; ih++)
                    for (nf_int iw = w0; iw < w1; iw++) {
                        const float v = x[ih * W + iw];
                        if (v > m || isnan(v)) {
                            m = v;
                            best = ih * W + iw;
                        }
                    }
                o[oh * OW + ow] = m;
                ix[oh * OW + ow] = best;
            }
        }
    }
}
