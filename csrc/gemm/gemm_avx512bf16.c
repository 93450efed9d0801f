/* gemm_avx512bf16.c — the bf16 GEMM tile on AVX512-BF16: an 8×32 tile of vdpbf16ps, and the
 * packers that turn fp32 operands into bf16 pairs once per block.
 *
 * vdpbf16ps multiplies pairs of bf16 along K and adds both products to one fp32 lane, so the
 * packed operands hold K in pairs: a B panel as [K/2][32 columns][2], an A panel as
 * [K/2][8 rows][2] (one 32-bit pair per row, broadcast to every lane). Packing is the fp32
 * packers' (gemm_avx512.c) followed by an in-place conversion of each panel (round to
 * nearest even, vcvtne2ps2bf16), which reads each pair of k rows before it writes the half-
 * size result over their start; an odd K pairs its last row with zeros. Per pair of k: 2 B
 * loads, 8 broadcasts, 16 vdpbf16ps (64 multiply-adds each), twice the fp32 tile's work per
 * instruction.
 *
 * What it is not: a frame (gemm.c), nor bf16 storage. C, the bias, alpha and beta stay
 * fp32; only the operands are rounded to bf16, once, where they are packed.
 */
#include <stdint.h>
#include "gemm_internal.h"
#ifdef NF_GEMM_HAVE_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma")
#include <immintrin.h>

#define MR 8
#define NR 32

static inline __mmask16 mask_lo(int n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1); }
static inline __mmask16 mask_hi(int n) { return n <= 16 ? 0 : mask_lo(n - 16); }

/* word index interleaving two 16-word halves: out[2j] = in[j], out[2j+1] = in[16 + j] */
static inline __m512i pair_index32(void)
{
    return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8,
                            23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
}

/* the same for two 8-word halves of a ymm */
static inline __m256i pair_index16(void)
{
    return _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
}

/* An fp32 A panel [kc][MR] -> bf16 pairs [(kc+1)/2][MR][2], in place. */
static void a_panel_to_pairs(float *panel, nf_int kc)
{
    const __m256i idx = pair_index16();
    uint16_t *out = (uint16_t *)panel;
    for (nf_int q = 0; 2 * q < kc; q++) {
        const __mmask16 km = 2 * q + 1 < kc ? 0xFFFF : 0x00FF;
        const __m512 v = _mm512_maskz_loadu_ps(km, panel + 2 * q * MR); /* rows 2q, 2q+1 */
        const __m256i h = (__m256i)_mm512_cvtneps_pbh(v);
        _mm256_storeu_si256((__m256i *)(out + q * 2 * MR), _mm256_permutexvar_epi16(idx, h));
    }
}

/* An fp32 B panel [kc][NR] -> bf16 pairs [(kc+1)/2][NR][2], in place. */
static void b_panel_to_pairs(float *panel, nf_int kc)
{
    const __m512i idx = pair_index32();
    uint16_t *out = (uint16_t *)panel;
    for (nf_int q = 0; 2 * q < kc; q++) {
        const float *r0 = panel + 2 * q * NR, *r1 = r0 + NR;
        const int odd = 2 * q + 1 >= kc;
        const __m512 a0 = _mm512_loadu_ps(r0), a1 = _mm512_loadu_ps(r0 + 16);
        const __m512 b0 = odd ? _mm512_setzero_ps() : _mm512_loadu_ps(r1);
        const __m512 b1 = odd ? _mm512_setzero_ps() : _mm512_loadu_ps(r1 + 16);
        const __m512i lo = (__m512i)_mm512_cvtne2ps_pbh(b0, a0); /* a0 words 0-15, b0 16-31 */
        const __m512i hi = (__m512i)_mm512_cvtne2ps_pbh(b1, a1);
        _mm512_storeu_si512(out + q * 2 * NR, _mm512_permutexvar_epi16(idx, lo));
        _mm512_storeu_si512(out + q * 2 * NR + 32, _mm512_permutexvar_epi16(idx, hi));
    }
}

void nf_gemm_pack_a_avx512bf16(float *dst, int transA, const float *A, nf_int lda,
                               nf_int mc, nf_int kc, int mr)
{
    nf_gemm_pack_a_avx512(dst, transA, A, lda, mc, kc, mr);
    for (nf_int i0 = 0; i0 < mc; i0 += MR) a_panel_to_pairs(dst + (i0 / MR) * MR * kc, kc);
}

void nf_gemm_pack_b_avx512bf16(float *dst, int transB, const float *B, nf_int ldb,
                               nf_int kc, nf_int nc, int nr)
{
    nf_gemm_pack_b_avx512(dst, transB, B, ldb, kc, nc, nr);
    for (nf_int j0 = 0; j0 < nc; j0 += NR) b_panel_to_pairs(dst + (j0 / NR) * NR * kc, kc);
}

/* The tile body for ROWS rows × VECS 16-column vectors over packed bf16 pairs. Rows past m
 * and columns past n hold whatever the packers left there: their lanes are never stored. */
static inline __attribute__((always_inline)) void
bf16_body(const int ROWS, const int VECS, nf_int k, const float *a, const float *b,
          float *c, nf_int ldc, int m, int n, float alpha, float beta, const float *bias)
{
    const __mmask16 km[2] = {mask_lo(n), mask_hi(n)};
    const int32_t *ap = (const int32_t *)a;
    __m512 acc[MR][2];
    #pragma GCC unroll 8
    for (int i = 0; i < ROWS; i++)
        #pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) acc[i][v] = _mm512_setzero_ps();

    const nf_int pairs = (k + 1) / 2;
    #pragma GCC unroll 2
    for (nf_int q = 0; q < pairs; q++) {
        __m512bh bv[2];
        #pragma GCC unroll 2
        for (int v = 0; v < VECS; v++)
            bv[v] = (__m512bh)_mm512_loadu_si512(b + q * NR + 16 * v);
        #pragma GCC unroll 8
        for (int i = 0; i < ROWS; i++) {
            const __m512bh x = (__m512bh)_mm512_set1_epi32(ap[q * MR + i]);
            #pragma GCC unroll 2
            for (int v = 0; v < VECS; v++) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], x, bv[v]);
        }
    }

    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias_v[2];
    #pragma GCC unroll 2
    for (int v = 0; v < VECS; v++)
        bias_v[v] = bias ? _mm512_maskz_loadu_ps(km[v], bias + 16 * v) : _mm512_setzero_ps();
    const int use_c = beta != 0.0f;
    #pragma GCC unroll 8
    for (int i = 0; i < ROWS; i++) {
        if (i >= m) break;
        float *cr = c + i * ldc;
        #pragma GCC unroll 2
        for (int v = 0; v < VECS; v++) {
            __m512 r = _mm512_fmadd_ps(va, acc[i][v], bias_v[v]);
            if (use_c)
                r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(km[v], cr + 16 * v), r);
            _mm512_mask_storeu_ps(cr + 16 * v, km[v], r);
        }
    }
}

/* C[0:m,0:n] = alpha * bf16(a) @ bf16(b) + beta*C + bias over panels packed by the two
 * packers above (the strides of nf_ukr_fn are those of packed panels and go unused). */
void nf_ukr_avx512bf16_8x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                            const float *b, nf_int rs_b, float *c, nf_int ldc,
                            int m, int n, float alpha, float beta, const float *bias)
{
    (void)rs_a, (void)cs_a, (void)rs_b;
#define NF_UKR(R, V) bf16_body(R, V, k, a, b, c, ldc, m, n, alpha, beta, bias)
    if (n > 16) {
        if (m > 4) NF_UKR(8, 2);
        else if (m > 2) NF_UKR(4, 2);
        else if (m == 2) NF_UKR(2, 2);
        else NF_UKR(1, 2);
    } else {
        if (m > 4) NF_UKR(8, 1);
        else if (m > 2) NF_UKR(4, 1);
        else if (m == 2) NF_UKR(2, 1);
        else NF_UKR(1, 1);
    }
#undef NF_UKR
}

/* The vdpbf16ps ceiling: `iters` rounds of 12 independent accumulator chains, as
 * nf_fma_peak's chains (runtime.c). Returns the multiply-adds' flops (2 per product). */
double nf_bf16_dot_chains(long iters, float *sink)
{
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80);  /* (1.0, 1.0) */
    const __m512bh y = (__m512bh)_mm512_set1_epi32(0x33803380);  /* tiny: no overflow */
    for (long it = 0; it < iters; it++)
        #pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * 32.0 * 12.0 * (double)iters;
}
#endif
