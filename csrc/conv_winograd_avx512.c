/* conv_winograd_avx512.c — the data transforms of conv_winograd.c on AVX-512.
 *
 * Why a file of its own: a small image has few tiles a row (12 on 24x24 outputs), so the
 * portable transforms' loops over a tile row end before a 16-float vector fills, and the
 * stride-2 walk along image rows defeats the vectoriser. Here a tile row is one masked
 * 16-lane vector per 16 tiles: image rows come in with masked loads (zero past the edges,
 * which is the padding), even/odd columns are split with one permute each, and each tile
 * row's 16 transformed values stay in registers from the image to the band's streams.
 * The caller's arrays (input, output, gradients) are read and written only through masks,
 * so no access leaves them; the band's streams in the workspace take whole vectors (their
 * padding holds the lanes past a row). Addresses that may lie outside an array (masked lanes
 * before a row's start) are formed as integers (nf_lane_at()), not by pointer arithmetic.
 * Output values are checked as they are stored: an inf or NaN (an input's, or an overflow
 * in the transforms) makes the caller run im2col instead.
 *
 * Compiled for AVX-512 with a per-file target pragma; conv_winograd.c calls in only after
 * nf_cpu_has("avx512_core") (F, BW, DQ, VL). Same arguments and results as the portable
 * bands (conv_winograd_portable.c).
 */
#include <stdint.h>
#include "conv_internal.h"
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
#include <immintrin.h>
#include "avx512_lanes.h"

static inline __m512i even_idx(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline __m512i odd_idx(void)
{
    return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
/* a0 b0 a1 b1 ...: lanes 0-7 of a and b, then 8-15 */
static inline __m512i ilv_lo(void)
{
    return _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
static inline __m512i ilv_hi(void)
{
    return _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

static inline __mmask16 not_finite(__m512 x)
{
    return _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_NEQ_UQ);
}

int nf_wino_input_avx512(float *V, nf_int ldt, nf_int sx, const float *inp, const nf_conv2d_geom *g,
                         nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch)
{
    (void)scratch;
    const nf_int C = g->C, W = g->W, HW = g->H * g->W;
    const __m512i ev = even_idx(), od = odd_idx();
    __mmask16 bad = 0;
    for (nf_int c = 0; c < C; c++)   /* each stream walked in order */
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
            const float *plane = inp + (img * C + c) * HW;
            for (nf_int t0 = 0; t0 < TW; t0 += 16) {
                const nf_int iw0 = 2 * t0 - g->pw;
                __m512 R[4][4];   /* R[r][k]: input row r along the columns */
                for (int r = 0; r < 4; r++) {
                    const nf_int ih = 2 * ty - g->ph + r;
                    if (ih < 0 || ih >= g->H) {
                        for (int k = 0; k < 4; k++) R[r][k] = _mm512_setzero_ps();
                        continue;
                    }
                    const float *s = plane + ih * W;
                    const __m512 a = nf_lane_load(s, iw0, W);
                    const __m512 b = nf_lane_load(s, iw0 + 16, W);
                    const __m512 a2 = nf_lane_load(s, iw0 + 2, W);
                    const __m512 b2 = nf_lane_load(s, iw0 + 18, W);
                    bad |= not_finite(a) | not_finite(b) | not_finite(b2);
                    const __m512 x0 = _mm512_permutex2var_ps(a, ev, b);
                    const __m512 x1 = _mm512_permutex2var_ps(a, od, b);
                    const __m512 x2 = _mm512_permutex2var_ps(a2, ev, b2);
                    const __m512 x3 = _mm512_permutex2var_ps(a2, od, b2);
                    R[r][0] = _mm512_sub_ps(x0, x2);
                    R[r][1] = _mm512_add_ps(x1, x2);
                    R[r][2] = _mm512_sub_ps(x2, x1);
                    R[r][3] = _mm512_sub_ps(x1, x3);
                }
                /* whole vectors: lanes past the row's tiles land on the next row's (written
                 * after this) or on the stream's padding (ldt > band + 15) */
                float *v = V + c * ldt + rr * TW + t0;
                const nf_int s = sx;
                for (int k = 0; k < 4; k++) {
                    _mm512_storeu_ps(v + k * s, _mm512_sub_ps(R[0][k], R[2][k]));
                    _mm512_storeu_ps(v + (4 + k) * s, _mm512_add_ps(R[1][k], R[2][k]));
                    _mm512_storeu_ps(v + (8 + k) * s, _mm512_sub_ps(R[2][k], R[1][k]));
                    _mm512_storeu_ps(v + (12 + k) * s, _mm512_sub_ps(R[1][k], R[3][k]));
                }
            }
        }
    return bad != 0;
}

int nf_wino_output_avx512(float *out, const float *M, nf_int ldt, nf_int sx, const float *bias,
                           const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                           nf_int nrows, float *scratch)
{
    (void)scratch;
    const nf_int OC = g->OC, OW = g->OW, OHW = g->OH * g->OW, s = sx;
    const __m512i lo = ilv_lo(), hi = ilv_hi();
    __mmask16 bad = 0;
    for (nf_int oc = 0; oc < OC; oc++)
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
            const __m512 b = _mm512_set1_ps(bias ? bias[oc] : 0.0f);
            float *dst = out + (img * OC + oc) * OHW + 2 * ty * OW;
            for (nf_int t0 = 0; t0 < TW; t0 += 16) {
                const __mmask16 m = nf_lane_first(TW - t0);
                const float *src = M + oc * ldt + rr * TW + t0;
                __m512 S[2][4];
                for (int k = 0; k < 4; k++) {
                    const __m512 m0 = _mm512_maskz_loadu_ps(m, src + k * s);
                    const __m512 m1 = _mm512_maskz_loadu_ps(m, src + (4 + k) * s);
                    const __m512 m2 = _mm512_maskz_loadu_ps(m, src + (8 + k) * s);
                    const __m512 m3 = _mm512_maskz_loadu_ps(m, src + (12 + k) * s);
                    S[0][k] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
                    S[1][k] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
                }
                const nf_int ow0 = 2 * t0;
                for (int a = 0; a < 2 && 2 * ty + a < g->OH; a++) {
                    const __m512 y0 = _mm512_add_ps(
                        _mm512_add_ps(_mm512_add_ps(S[a][0], S[a][1]), S[a][2]), b);
                    const __m512 y1 = _mm512_add_ps(
                        _mm512_sub_ps(_mm512_sub_ps(S[a][1], S[a][2]), S[a][3]), b);
                    float *d = dst + a * OW;
                    const __mmask16 k0 = nf_lane_span(ow0, OW), k1 = nf_lane_span(ow0 + 16, OW);
                    const __m512 v0 = _mm512_permutex2var_ps(y0, lo, y1);
                    const __m512 v1 = _mm512_permutex2var_ps(y0, hi, y1);
                    bad |= (not_finite(v0) & k0) | (not_finite(v1) & k1);
                    _mm512_mask_storeu_ps(nf_lane_at(d, ow0), k0, v0);
                    _mm512_mask_storeu_ps(nf_lane_at(d, ow0 + 16), k1, v1);
                }
            }
        }
    return bad != 0;
}

int nf_wino_dout_avx512(float *dM, nf_int ldt, nf_int sx, const float *dout,
                        const nf_conv2d_geom *g,
                        nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch)
{
    (void)scratch;
    const nf_int OC = g->OC, OW = g->OW, OHW = g->OH * g->OW, s = sx;
    const __m512i ev = even_idx(), od = odd_idx();
    __mmask16 bad = 0;
    for (nf_int oc = 0; oc < OC; oc++)
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
            const float *src = dout + (img * OC + oc) * OHW + 2 * ty * OW;
            for (nf_int t0 = 0; t0 < TW; t0 += 16) {
                const nf_int ow0 = 2 * t0;
                __m512 Q[2][4];   /* Q[a][k]: dY's row a along the columns */
                for (int a = 0; a < 2; a++) {
                    __m512 u = _mm512_setzero_ps(), v = u;
                    if (2 * ty + a < g->OH) {
                        const float *p = src + a * OW;
                        const __m512 x = nf_lane_load(p, ow0, OW);
                        const __m512 y = nf_lane_load(p, ow0 + 16, OW);
                        bad |= not_finite(x) | not_finite(y);
                        u = _mm512_permutex2var_ps(x, ev, y);
                        v = _mm512_permutex2var_ps(x, od, y);
                    }
                    Q[a][0] = u;
                    Q[a][1] = _mm512_add_ps(u, v);
                    Q[a][2] = _mm512_sub_ps(u, v);
                    Q[a][3] = _mm512_sub_ps(_mm512_setzero_ps(), v);
                }
                float *d = dM + oc * ldt + rr * TW + t0;   /* whole vectors, as V's */
                for (int k = 0; k < 4; k++) {
                    _mm512_storeu_ps(d + k * s, Q[0][k]);
                    _mm512_storeu_ps(d + (4 + k) * s, _mm512_add_ps(Q[0][k], Q[1][k]));
                    _mm512_storeu_ps(d + (8 + k) * s, _mm512_sub_ps(Q[0][k], Q[1][k]));
                    _mm512_storeu_ps(d + (12 + k) * s, _mm512_sub_ps(_mm512_setzero_ps(), Q[1][k]));
                }
            }
        }
    return bad != 0;
}

/* row[off + l] += x[l] on the lanes of mask m; the lanes of those sums that are inf or NaN */
static inline __mmask16 add_row(float *row, nf_int off, __mmask16 m, __m512 x)
{
    float *p = nf_lane_at(row, off);
    const __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), x);
    _mm512_mask_storeu_ps(p, m, v);
    return not_finite(v) & m;
}

int nf_wino_dinput_avx512(float *dinp, const float *dV, nf_int ldt, nf_int sx,
                           const nf_conv2d_geom *g,
                           nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch)
{
    (void)scratch;
    const nf_int C = g->C, W = g->W, HW = g->H * g->W, s = sx;
    const __m512i lo = ilv_lo(), hi = ilv_hi();
    __mmask16 bad = 0;
    for (nf_int c = 0; c < C; c++)
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
            float *plane = dinp + (img * C + c) * HW;
            for (nf_int t0 = 0; t0 < TW; t0 += 16) {
                const nf_int nt = TW - t0 < 16 ? TW - t0 : 16;
                const __mmask16 m = nf_lane_first(nt), mlo = nf_lane_first(2 * nt),
                                mhi = nf_lane_first(2 * nt - 16);
                const float *src = dV + c * ldt + rr * TW + t0;
                __m512 P[4][4];   /* P[r][k]: down the columns */
                for (int k = 0; k < 4; k++) {
                    const __m512 v0 = _mm512_maskz_loadu_ps(m, src + k * s);
                    const __m512 v1 = _mm512_maskz_loadu_ps(m, src + (4 + k) * s);
                    const __m512 v2 = _mm512_maskz_loadu_ps(m, src + (8 + k) * s);
                    const __m512 v3 = _mm512_maskz_loadu_ps(m, src + (12 + k) * s);
                    P[0][k] = v0;
                    P[1][k] = _mm512_add_ps(_mm512_sub_ps(v1, v2), v3);
                    P[2][k] = _mm512_sub_ps(_mm512_add_ps(v1, v2), v0);
                    P[3][k] = _mm512_sub_ps(_mm512_setzero_ps(), v3);
                }
                const nf_int iw0 = 2 * t0 - g->pw;
                for (int r = 0; r < 4; r++) {
                    const nf_int ih = 2 * ty - g->ph + r;
                    if (ih < 0 || ih >= g->H) continue;
                    const __m512 d0 = P[r][0];
                    const __m512 d1 = _mm512_add_ps(_mm512_sub_ps(P[r][1], P[r][2]), P[r][3]);
                    const __m512 d2 = _mm512_sub_ps(_mm512_add_ps(P[r][1], P[r][2]), P[r][0]);
                    const __m512 d3 = _mm512_sub_ps(_mm512_setzero_ps(), P[r][3]);
                    float *row = plane + ih * W;
                    /* a tile's columns 0, 1, then 2, 3 (on the next tile's 0, 1) */
                    bad |= add_row(row, iw0, nf_lane_span(iw0, W) & mlo,
                                   _mm512_permutex2var_ps(d0, lo, d1));
                    bad |= add_row(row, iw0 + 16, nf_lane_span(iw0 + 16, W) & mhi,
                                   _mm512_permutex2var_ps(d0, hi, d1));
                    bad |= add_row(row, iw0 + 2, nf_lane_span(iw0 + 2, W) & mlo,
                                   _mm512_permutex2var_ps(d2, lo, d3));
                    bad |= add_row(row, iw0 + 18, nf_lane_span(iw0 + 18, W) & mhi,
                                   _mm512_permutex2var_ps(d2, hi, d3));
                }
            }
        }
    return bad != 0;
}

#endif
