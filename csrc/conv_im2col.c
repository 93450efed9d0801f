/* conv_im2col.c — conv.c's column matrices: im2col and its adjoint col2im over a chunk of
 * samples, in the usual layout (col[C*KH*KW, nb*OH*OW]) and in the "wide" one of valid
 * stride-1 convolutions (see conv.c's wide_grid: each row one contiguous copy of the
 * input plane). conv.c plans the chunks and runs the GEMMs between these.
 */
#include <stdint.h>
#include <string.h>
#include "conv_internal.h"
#include "nf_simd.h"

/* The loops zero and copy runs of a few floats; GCC would turn each into a memset/memcpy
 * call, which costs more than the run (16->32 channels on 8x8: 10% of a forward + backward
 * in memset). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif


/* For kernel row kh of a stride-1 plane: ih = oh + *ih0, valid for oh in [*r_lo, *r_hi). */
static void shifted_rows(const nf_conv2d_geom *g, nf_int kh, nf_int *ih0, nf_int *r_lo,
                         nf_int *r_hi)
{
    *ih0 = kh * g->dh - g->ph;
    *r_lo = *ih0 >= 0 ? 0 : -*ih0;
    *r_hi = g->H - *ih0;
    if (*r_hi > g->OH) *r_hi = g->OH;
    if (*r_lo > g->OH) *r_lo = g->OH;
}

/* For kernel column kw: iw = ow*sw + *iw0, inside [0, W) for ow in [*lo, *hi). */
static void tap_columns(const nf_conv2d_geom *g, nf_int kw, nf_int *iw0, nf_int *lo,
                        nf_int *hi)
{
    *iw0 = kw * g->dw - g->pw;
    *lo = *iw0 >= 0 ? 0 : nf_cdiv(-*iw0, g->sw);
    *hi = g->W - *iw0 > 0 ? nf_cdiv(g->W - *iw0, g->sw) : 0;
    if (*hi > g->OW) *hi = g->OW;
    if (*lo > *hi) *lo = *hi;
}

/* Stride 1 and OW == W ("same" width): one (c, kh, kw) plane of a sample is the input plane
 * shifted by a constant, dst[i] = src[i + shift] inside its rows [r_lo, r_hi) and columns
 * [lo, hi), zero elsewhere. Across the valid rows that is one select per element against the
 * plane's column pattern, keep[j] = (j % W in [lo, hi)), held for `run` elements (whole rows):
 * a masked vector copy with no per-row loop trips (8x8 planes: rows of 8 floats, each with a
 * zero on one side). src[i + shift] is only read where keep is set, where it lies in the
 * plane. */
static inline void im2col_plane_shifted(float *restrict d, const float *restrict src,
                                        nf_int OHW, nf_int W, nf_int r_lo, nf_int r_hi,
                                        const int32_t *restrict keep, nf_int run, nf_int shift)
{
    for (nf_int i = 0; i < r_lo * W; i++) d[i] = 0.0f;
    for (nf_int i0 = r_lo * W; i0 < r_hi * W; i0 += run) {
        const nf_int n = r_hi * W - i0 < run ? r_hi * W - i0 : run;
        for (nf_int j = 0; j < n; j++) d[i0 + j] = keep[j] ? src[i0 + j + shift] : 0.0f;
    }
    for (nf_int i = r_hi * W > r_lo * W ? r_hi * W : r_lo * W; i < OHW; i++) d[i] = 0.0f;
}

/* keep[j] = (j % W in [lo, hi)) for j < run (a multiple of W): the column pattern of the
 * shifted planes above, for kernel column kw. */
static void column_keep(int32_t *keep, nf_int run, nf_int W, nf_int lo, nf_int hi)
{
    for (nf_int j0 = 0; j0 < run; j0 += W)
        for (nf_int ow = 0; ow < W; ow++) keep[j0 + ow] = ow >= lo && ow < hi;
}

/* Longest column pattern kept (on the stack): whole rows of up to this many floats. Planes
 * with wider rows take the row-by-row path, where loop trips are cheap next to the row. */
#define KEEP_MAX 1024

/* How many elements of column pattern the shifted-plane path holds (whole rows), or 0 when
 * the planes are not shifted copies (stride > 1, OW != W) or a row is wider than KEEP_MAX:
 * then im2col/col2im go row by row. */
static nf_int keep_run(const nf_conv2d_geom *g)
{
    const nf_int W = g->W, OHW = g->OH * g->OW;
    if (g->sh != 1 || g->sw != 1 || g->OW != W || W <= 0 || W > KEEP_MAX) return 0;
    const nf_int run = KEEP_MAX / W * W;
    return run < OHW ? run : OHW;
}

/* col[(c*KH + kh)*KW + kw, b*OH*OW + oh*OW + ow] = inp[n0+b, c, ih, iw] (0 outside), with
 * ih = oh*sh - ph + kh*dh, iw = ow*sw - pw + kw*dw; b < nb. col[C*KH*KW, nb*OH*OW]. */
NF_CLONES void nf_im2col(float *col, const float *inp, const nf_conv2d_geom *g, nf_int n0,
                         nf_int nb)
{
    const nf_int H = g->H, W = g->W, OH = g->OH, OW = g->OW, OHW = OH * OW;
    const nf_int ld = nb * OHW;
    const nf_int run = keep_run(g);
    int32_t keep[run > 0 ? run : 1];
    for (nf_int kh = 0; kh < g->KH; kh++)
        for (nf_int kw = 0; kw < g->KW; kw++) {
            nf_int iw0, lo, hi;
            tap_columns(g, kw, &iw0, &lo, &hi);
            if (run > 0) {
                nf_int ih0, r_lo, r_hi;
                shifted_rows(g, kh, &ih0, &r_lo, &r_hi);
                column_keep(keep, run, W, lo, hi);
                for (nf_int c = 0; c < g->C; c++) {
                    float *dst = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                    for (nf_int b = 0; b < nb; b++)
                        im2col_plane_shifted(dst + b * OHW, inp + ((n0 + b) * g->C + c) * H * W,
                                             OHW, W, r_lo, r_hi, keep, run, ih0 * W + iw0);
                }
                continue;
            }
            for (nf_int c = 0; c < g->C; c++) {
                float *dst = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                for (nf_int b = 0; b < nb; b++) {
                    const float *src = inp + ((n0 + b) * g->C + c) * H * W;
                    for (nf_int oh = 0; oh < OH; oh++) {
                        float *d = dst + b * OHW + oh * OW;
                        const nf_int ih = oh * g->sh - g->ph + kh * g->dh;
                        if (ih < 0 || ih >= H) {
                            for (nf_int ow = 0; ow < OW; ow++) d[ow] = 0.0f;
                            continue;
                        }
                        /* plain loops, not memcpy/memset: rows are often a few floats.
                         * Index from the row start: row + iw0 may lie before the array
                         * (left padding) or be NULL + offset (W == 0), which is UB. */
                        const float *row = src + ih * W;
                        for (nf_int ow = 0; ow < lo; ow++) d[ow] = 0.0f;
                        if (g->sw == 1)
                            for (nf_int ow = lo; ow < hi; ow++) d[ow] = row[iw0 + ow];
                        else
                            for (nf_int ow = lo; ow < hi; ow++) d[ow] = row[iw0 + ow * g->sw];
                        for (nf_int ow = hi; ow < OW; ow++) d[ow] = 0.0f;
                    }
                }
            }
        }
}

/* The adjoint of im2col_plane_shifted: dst[i + shift] += s[i] over the valid rows and
 * columns, a masked vector add against the same column pattern. */
static inline void col2im_plane_shifted(float *restrict dst, const float *restrict s,
                                        nf_int W, nf_int r_lo, nf_int r_hi,
                                        const int32_t *restrict keep, nf_int run, nf_int shift)
{
    for (nf_int i0 = r_lo * W; i0 < r_hi * W; i0 += run) {
        const nf_int n = r_hi * W - i0 < run ? r_hi * W - i0 : run;
        for (nf_int j = 0; j < n; j++)
            if (keep[j]) dst[i0 + j + shift] += s[i0 + j];
    }
}

/* The adjoint of nf_im2col: dinp[n0+b, c, ih, iw] += col[...] over every (kh, kw, oh, ow)
 * that read it. dinp[N, C, H, W] (only samples n0..n0+nb-1 touched), col as nf_im2col. */
NF_CLONES void nf_col2im(float *dinp, const float *col, const nf_conv2d_geom *g, nf_int n0,
                          nf_int nb)
{
    const nf_int H = g->H, W = g->W, OH = g->OH, OW = g->OW, OHW = OH * OW;
    const nf_int ld = nb * OHW;
    const nf_int run = keep_run(g);
    int32_t keep[run > 0 ? run : 1];
    for (nf_int kh = 0; kh < g->KH; kh++)
        for (nf_int kw = 0; kw < g->KW; kw++) {
            nf_int iw0, lo, hi;
            tap_columns(g, kw, &iw0, &lo, &hi);
            if (run > 0) {
                nf_int ih0, r_lo, r_hi;
                shifted_rows(g, kh, &ih0, &r_lo, &r_hi);
                column_keep(keep, run, W, lo, hi);
                for (nf_int c = 0; c < g->C; c++) {
                    const float *src = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                    for (nf_int b = 0; b < nb; b++)
                        col2im_plane_shifted(dinp + ((n0 + b) * g->C + c) * H * W,
                                             src + b * OHW, W, r_lo, r_hi, keep, run,
                                             ih0 * W + iw0);
                }
                continue;
            }
            for (nf_int c = 0; c < g->C; c++) {
                const float *src = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                for (nf_int b = 0; b < nb; b++) {
                    float *dst = dinp + ((n0 + b) * g->C + c) * H * W;
                    for (nf_int oh = 0; oh < OH; oh++) {
                        const nf_int ih = oh * g->sh - g->ph + kh * g->dh;
                        if (ih < 0 || ih >= H) continue;
                        const float *s = src + b * OHW + oh * OW;
                        float *row = dst + ih * W;   /* as in nf_im2col: no row + iw0 */
                        if (g->sw == 1)
                            for (nf_int ow = lo; ow < hi; ow++) row[iw0 + ow] += s[ow];
                        else
                            for (nf_int ow = lo; ow < hi; ow++) row[iw0 + ow * g->sw] += s[ow];
                    }
                }
            }
        }
}

/* The wide column matrix (see wide_grid) of samples n0 .. n0+nb-1: col[C*KH*KW, nb*S],
 * S = OH*W; row (c, kh, kw) of sample b is inp[n0+b, c] from kh*dh*W + kw*dw on, up to the
 * last wanted tap ((OH-1)*W + OW floats, which end inside the plane), zeros after. gaps:
 * the columns past OW of every row zeroed too (backward, when an input is inf or NaN: the
 * weight gradient's products there are then 0 * 0, not 0 * inf). */
NF_CLONES void nf_im2col_wide(float *col, const float *inp, const nf_conv2d_geom *g,
                               nf_int n0, nf_int nb, int gaps)
{
    const nf_int HW = g->H * g->W, S = g->OH * g->W, ld = nb * S;
    const nf_int len = (g->OH - 1) * g->W + g->OW;
    for (nf_int c = 0; c < g->C; c++)
        for (nf_int kh = 0; kh < g->KH; kh++)
            for (nf_int kw = 0; kw < g->KW; kw++) {
                float *dst = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                const nf_int shift = kh * g->dh * g->W + kw * g->dw;
                for (nf_int b = 0; b < nb; b++) {
                    const float *src = inp + ((n0 + b) * g->C + c) * HW + shift;
                    float *d = dst + b * S;
                    memcpy(d, src, (size_t)len * sizeof(float));
                    for (nf_int j = len; j < S; j++) d[j] = 0.0f;
                    if (gaps)
                        for (nf_int oh = 0; oh + 1 < g->OH; oh++)
                            for (nf_int ow = g->OW; ow < g->W; ow++) d[oh * g->W + ow] = 0.0f;
                }
            }
}

/* Whether x[0 .. n) holds no inf or NaN (x - x is 0 exactly for the finite ones). */
NF_CLONES int nf_all_finite(const float *x, nf_int n)
{
    int bad = 0;
    for (nf_int i = 0; i < n; i++) bad |= !(x[i] - x[i] == 0.0f);
    return !bad;
}

/* Its adjoint: dinp[n0+b, c] from kh*dh*W + kw*dw on += the row's first (OH-1)*W + OW. */
NF_CLONES void nf_col2im_wide(float *dinp, const float *col, const nf_conv2d_geom *g,
                               nf_int n0, nf_int nb)
{
    const nf_int HW = g->H * g->W, S = g->OH * g->W, ld = nb * S;
    const nf_int len = (g->OH - 1) * g->W + g->OW;
    for (nf_int c = 0; c < g->C; c++)
        for (nf_int kh = 0; kh < g->KH; kh++)
            for (nf_int kw = 0; kw < g->KW; kw++) {
                const float *src = col + ((c * g->KH + kh) * g->KW + kw) * ld;
                const nf_int shift = kh * g->dh * g->W + kw * g->dw;
                for (nf_int b = 0; b < nb; b++) {
                    float *restrict d = dinp + ((n0 + b) * g->C + c) * HW + shift;
                    const float *restrict s = src + b * S;
                    for (nf_int j = 0; j < len; j++) d[j] += s[j];
                }
            }
}
