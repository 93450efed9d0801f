/* pool_avx512.c — pool.c's 2x2, stride-2 max pooling on AVX-512.
 *
 * Why: a CNN's pooling rows are short (12 outputs on 24x24 inputs), shorter than the 16
 * floats a portable loop needs before the vectoriser's main body runs. Here 16 outputs are
 * one masked vector: the two input rows come in with masked loads, even and odd columns are
 * split with one permute each, and the four taps are compared in torch's order (greater or
 * NaN wins), the winner's offset carried in an integer vector.
 *
 * Compiled for AVX-512 with a per-file target pragma; pool.c calls in only after
 * nf_cpu_has("avx512_core") (F, BW, DQ, VL). Same results as pool.c's max2x2_row.
 */
#include <stdint.h>
#include "conv_internal.h"
#if defined(__x86_64__) && defined(__GNUC__)
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
#include <immintrin.h>

static inline __mmask16 first(nf_int n)
{
    return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
}

/* where v wins over m: v > m, or v is NaN */
static inline __mmask16 wins(__m512 v, __m512 m)
{
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

void nf_max_pool2x2_plane_avx512(float *out, int64_t *idx, const float *x, nf_int W, nf_int OH,
                                 nf_int OW)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i two_lane = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                               28, 30);
    const __m512i one = _mm512_set1_epi32(1), below = _mm512_set1_epi32((int)W),
                  diag = _mm512_set1_epi32((int)W + 1);
    for (nf_int oh = 0; oh < OH; oh++) {
        const float *x0 = x + 2 * oh * W, *x1 = x0 + W;
        const __m512i base = _mm512_set1_epi64((int64_t)(2 * oh * W));
        for (nf_int ow0 = 0; ow0 < OW; ow0 += 16) {
            const nf_int n = OW - ow0 < 16 ? OW - ow0 : 16;
            const __mmask16 lo = first(2 * n), hi = first(2 * n - 16);
            const float *p0 = x0 + 2 * ow0, *p1 = x1 + 2 * ow0;
            const __m512 t0 = _mm512_maskz_loadu_ps(lo, p0);
            const __m512 t1 = _mm512_maskz_loadu_ps(hi, p0 + 16);
            const __m512 b0 = _mm512_maskz_loadu_ps(lo, p1);
            const __m512 b1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
            __m512 m = _mm512_permutex2var_ps(t0, ev, t1);
            __m512i off = _mm512_setzero_si512();
            __m512 v = _mm512_permutex2var_ps(t0, od, t1);
            __mmask16 w = wins(v, m);
            m = _mm512_mask_mov_ps(m, w, v);
            off = _mm512_mask_mov_epi32(off, w, one);
            v = _mm512_permutex2var_ps(b0, ev, b1);
            w = wins(v, m);
            m = _mm512_mask_mov_ps(m, w, v);
            off = _mm512_mask_mov_epi32(off, w, below);
            v = _mm512_permutex2var_ps(b0, od, b1);
            w = wins(v, m);
            m = _mm512_mask_mov_ps(m, w, v);
            off = _mm512_mask_mov_epi32(off, w, diag);
            _mm512_mask_storeu_ps(out + oh * OW + ow0, first(n), m);
            if (!idx) continue;
            /* idx = 2*oh*W + 2*ow + off, in int64 */
            const __m512i col = _mm512_add_epi32(
                _mm512_add_epi32(_mm512_set1_epi32((int)(2 * ow0)), two_lane), off);
            const __m512i i0 =
                _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(col)));
            const __m512i i1 =
                _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(col, 1)));
            int64_t *d = idx + oh * OW + ow0;
            _mm512_mask_storeu_epi64(d, (__mmask8)(first(n) & 0xFF), i0);
            _mm512_mask_storeu_epi64(d + 8, (__mmask8)(first(n) >> 8), i1);
        }
    }
}

/* dinp's rows 2*oh, 2*oh+1 from the winners found again as above: the winner's tap gets
 * dout + 0 (-0.0 becomes +0.0, as the scatter onto zeros gives), the other three 0. */
void nf_max_pool2x2_grad_plane_avx512(float *dinp, const float *dout, const float *x, nf_int W,
                                      nf_int OH, nf_int OW)
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lo_i = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_i = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                           15, 31);
    const __m512 zero = _mm512_setzero_ps();
    for (nf_int oh = 0; oh < OH; oh++) {
        const float *x0 = x + 2 * oh * W, *x1 = x0 + W;
        float *d0 = dinp + 2 * oh * W, *d1 = d0 + W;
        for (nf_int ow0 = 0; ow0 < OW; ow0 += 16) {
            const nf_int n = OW - ow0 < 16 ? OW - ow0 : 16;
            const __mmask16 lo = first(2 * n), hi = first(2 * n - 16);
            const float *p0 = x0 + 2 * ow0, *p1 = x1 + 2 * ow0;
            const __m512 t0 = _mm512_maskz_loadu_ps(lo, p0);
            const __m512 t1 = _mm512_maskz_loadu_ps(hi, p0 + 16);
            const __m512 b0 = _mm512_maskz_loadu_ps(lo, p1);
            const __m512 b1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
            __m512 m = _mm512_permutex2var_ps(t0, ev, t1);
            __m512 v = _mm512_permutex2var_ps(t0, od, t1);
            const __mmask16 w1 = wins(v, m);
            m = _mm512_mask_mov_ps(m, w1, v);
            v = _mm512_permutex2var_ps(b0, ev, b1);
            const __mmask16 w2 = wins(v, m);
            m = _mm512_mask_mov_ps(m, w2, v);
            v = _mm512_permutex2var_ps(b0, od, b1);
            const __mmask16 w3 = wins(v, m);
            /* the last winner: tap 3 if w3, else 2 if w2, else 1 if w1, else 0 */
            const __mmask16 is3 = w3, is2 = w2 & ~w3, is1 = w1 & ~w2 & ~w3,
                            is0 = ~(w1 | w2 | w3);
            const __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(first(n), dout + oh * OW + ow0),
                                           zero);
            const __m512 g0 = _mm512_maskz_mov_ps(is0, g), g1 = _mm512_maskz_mov_ps(is1, g);
            const __m512 g2 = _mm512_maskz_mov_ps(is2, g), g3 = _mm512_maskz_mov_ps(is3, g);
            _mm512_mask_storeu_ps(d0 + 2 * ow0, lo, _mm512_permutex2var_ps(g0, lo_i, g1));
            _mm512_mask_storeu_ps(d0 + 2 * ow0 + 16, hi, _mm512_permutex2var_ps(g0, hi_i, g1));
            _mm512_mask_storeu_ps(d1 + 2 * ow0, lo, _mm512_permutex2var_ps(g2, lo_i, g3));
            _mm512_mask_storeu_ps(d1 + 2 * ow0 + 16, hi, _mm512_permutex2var_ps(g2, hi_i, g3));
        }
    }
}

#endif
