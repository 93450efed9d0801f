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
#include "avx512_lanes.h"

/* where v wins over m: v > m, or v is NaN */
static inline __mmask16 wins(__m512 v, __m512 m)
{
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
}

/* The 16 windows at outputs ow0 .. ow0+n-1 of the row pair p0 (row 2*oh), p1: their max in
 * torch's order, and w[k] the windows where tap k + 1 took the lead (taps: p0's even column,
 * p0's odd, p1's even, p1's odd) */
static inline __m512 windows(const float *p0, const float *p1, nf_int n, __mmask16 w[3])
{
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __mmask16 lo = nf_lane_first(2 * n), hi = nf_lane_first(2 * n - 16);
    const __m512 t0 = _mm512_maskz_loadu_ps(lo, p0), t1 = _mm512_maskz_loadu_ps(hi, p0 + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(lo, p1), b1 = _mm512_maskz_loadu_ps(hi, p1 + 16);
    __m512 m = _mm512_permutex2var_ps(t0, ev, t1);
    const __m512 v[3] = {_mm512_permutex2var_ps(t0, od, t1), _mm512_permutex2var_ps(b0, ev, b1),
                         _mm512_permutex2var_ps(b0, od, b1)};
    for (int k = 0; k < 3; k++) {
        w[k] = wins(v[k], m);
        m = _mm512_mask_mov_ps(m, w[k], v[k]);
    }
    return m;
}

void nf_max_pool2x2_plane_avx512(float *out, int64_t *idx, const float *x, nf_int W, nf_int OH,
                                 nf_int OW)
{
    const __m512i two_lane = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                               28, 30);
    const __m512i tap_off[3] = {_mm512_set1_epi32(1), _mm512_set1_epi32((int)W),
                                _mm512_set1_epi32((int)W + 1)};
    for (nf_int oh = 0; oh < OH; oh++) {
        const float *x0 = x + 2 * oh * W, *x1 = x0 + W;
        const __m512i base = _mm512_set1_epi64((int64_t)(2 * oh * W));
        for (nf_int ow0 = 0; ow0 < OW; ow0 += 16) {
            const nf_int n = OW - ow0 < 16 ? OW - ow0 : 16;
            __mmask16 w[3];
            const __m512 m = windows(x0 + 2 * ow0, x1 + 2 * ow0, n, w);
            _mm512_mask_storeu_ps(out + oh * OW + ow0, nf_lane_first(n), m);
            if (!idx) continue;
            /* idx = 2*oh*W + 2*ow + the winner's offset, in int64 */
            __m512i off = _mm512_setzero_si512();
            for (int k = 0; k < 3; k++) off = _mm512_mask_mov_epi32(off, w[k], tap_off[k]);
            const __m512i col = _mm512_add_epi32(
                _mm512_add_epi32(_mm512_set1_epi32((int)(2 * ow0)), two_lane), off);
            const __m512i i0 =
                _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(col)));
            const __m512i i1 =
                _mm512_add_epi64(base, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(col, 1)));
            int64_t *d = idx + oh * OW + ow0;
            _mm512_mask_storeu_epi64(d, (__mmask8)(nf_lane_first(n) & 0xFF), i0);
            _mm512_mask_storeu_epi64(d + 8, (__mmask8)(nf_lane_first(n) >> 8), i1);
        }
    }
}

/* dinp's rows 2*oh, 2*oh+1 from the winners found again as above: the winner's tap gets
 * dout + 0 (-0.0 becomes +0.0, as the scatter onto zeros gives), the other three 0. */
void nf_max_pool2x2_grad_plane_avx512(float *dinp, const float *dout, const float *x, nf_int W,
                                      nf_int OH, nf_int OW)
{
    const __m512i lo_i = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi_i = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                           15, 31);
    const __m512 zero = _mm512_setzero_ps();
    for (nf_int oh = 0; oh < OH; oh++) {
        const float *x0 = x + 2 * oh * W, *x1 = x0 + W;
        float *d0 = dinp + 2 * oh * W, *d1 = d0 + W;
        for (nf_int ow0 = 0; ow0 < OW; ow0 += 16) {
            const nf_int n = OW - ow0 < 16 ? OW - ow0 : 16;
            const __mmask16 lo = nf_lane_first(2 * n), hi = nf_lane_first(2 * n - 16);
            __mmask16 w[3];
            windows(x0 + 2 * ow0, x1 + 2 * ow0, n, w);
            /* the last to take the lead wins: tap 3 if w[2], else 2 if w[1], else 1 if w[0] */
            const __mmask16 is3 = w[2], is2 = w[1] & ~w[2], is1 = w[0] & ~w[1] & ~w[2],
                            is0 = ~(w[0] | w[1] | w[2]);
            const __m512 g =
                _mm512_add_ps(_mm512_maskz_loadu_ps(nf_lane_first(n), dout + oh * OW + ow0), zero);
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
