/* gemm_avx512bf16.c — the bf16 GEMM tile on AVX512-BF16: an 8×32 tile of vdpbf16ps, and the
 * packers that turn fp32 operands into bf16 pairs once per block.
 *
 * vdpbf16ps multiplies pairs of bf16 along K and adds both products to one fp32 lane, so the
 * packed operands hold K in pairs: a B panel as [K/2][32 columns][2], an A panel as
 * [K/2][8 rows][2] (one 32-bit pair per row, broadcast to every lane). The packers convert
 * (round to nearest even, vcvtneps2bf16) as they read op(A)/op(B), one pass writing half the
 * bytes of an fp32 pack: where a pair lies along a row of the source (A, and B = W^T of a
 * Linear) the converted rows are transposed in 32-bit pairs, 8×8 at a time; where it spans
 * two rows, the rows are interleaved. An odd K pairs its last row with zeros. Per pair of k:
 * 2 B loads, 8 broadcasts, 16 vdpbf16ps (64 multiply-adds each), twice the fp32 tile's work
 * per instruction.
 *
 * What it is not: a frame (gemm.c), nor bf16 storage. C, the bias, alpha and beta stay
 * fp32; only the operands are rounded to bf16, once, where they are packed.
 */
#include <stdint.h>
#include "gemm_internal.h"
#ifdef NF_GEMM_HAVE_X86
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,avx512bf16,fma")
#include <immintrin.h>
#include "gemm_x86.h"

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

/* 8 rows (row r at src + r*lds, `rows` of them real, the rest zeros) × 16 columns from
 * column c (`cols` of them real) -> 8 k-pairs × 8 rows of bf16 pairs: dst[q*ldd + r] holds
 * (src_r[c + 2q], src_r[c + 2q + 1]). A row's pairs are contiguous after conversion, so
 * this is an 8×8 transpose of 32-bit pairs. Returns the pairs written per row, (cols+1)/2. */
static inline int rows8_to_pairs(uint32_t *dst, nf_int ldd, const float *src, nf_int lds,
                                 int rows, int cols)
{
    const __mmask16 km = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    __m256 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = i < rows ? (__m256)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(km, src + i * lds))
                        : _mm256_setzero_ps();
    nf_tr8x8(r);
    const int q = (cols + 1) / 2 < 8 ? (cols + 1) / 2 : 8;
    for (int i = 0; i < q; i++) _mm256_storeu_ps((float *)(dst + i * ldd), r[i]);
    return q;
}

/* Pack op(A)[0:mc,0:kc] as bf16 pairs: panel r at dst + r*MR*kc floats holds
 * [(kc+1)/2][MR][2] (the frame's panel stride of fp32, half of it used). */
void nf_gemm_pack_a_avx512bf16(float *dst, int transA, const float *A, nf_int lda,
                               nf_int mc, nf_int kc, int mr)
{
    (void)mr;
    const __m256i idx = pair_index16();
    for (nf_int i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
        const int m = (int)(mc - i0 < MR ? mc - i0 : MR);
        uint32_t *d = (uint32_t *)dst;
        if (!transA) {   /* row i of op(A) is row i0+i of A: pairs contiguous along it */
            for (nf_int p = 0; p < kc; p += 16)
                rows8_to_pairs(d + (p / 2) * MR, MR, A + i0 * lda + p, lda, m,
                               (int)(kc - p < 16 ? kc - p : 16));
            continue;
        }
        /* op(A)[i][p] = A[p*lda + i0 + i]: a pair takes two rows of A, interleaved */
        const __mmask8 km = (__mmask8)((1u << m) - 1);
        for (nf_int p = 0; p < kc; p += 2) {
            const __m256 r0 = _mm256_maskz_loadu_ps(km, A + p * lda + i0);
            const __m256 r1 = p + 1 < kc ? _mm256_maskz_loadu_ps(km, A + (p + 1) * lda + i0)
                                         : _mm256_setzero_ps();
            const __m512 both = _mm512_insertf32x8(_mm512_castps256_ps512(r0), r1, 1);
            const __m256i h = (__m256i)_mm512_cvtneps_pbh(both);
            _mm256_storeu_si256((__m256i *)(d + (p / 2) * MR), _mm256_permutexvar_epi16(idx, h));
        }
    }
}

/* Pack op(B)[0:kc,0:nc] as bf16 pairs: panel s at dst + s*panel floats holds
 * [(kc+1)/2][NR][2]. Both forms read 8 rows of B at a time along their length, across every
 * panel, as the fp32 packer does: rows ldb apart share L1 sets when ldb is a multiple of
 * 1 KiB, and 32 rows at once evicted each other (the first version, panel by panel, spent
 * 12% of a 784-1024-1024-10 bf16 step packing B, more than the fp32 pack and conversion). */
void nf_gemm_pack_b_bf16_pairs(float *dst, int transB, const float *B, nf_int ldb,
                               nf_int kc, nf_int nc, nf_int panel)
{
    if (transB) {   /* column j of op(B) is row j of B: pairs contiguous along it */
        for (nf_int j0 = 0; j0 < nc; j0 += 8) {
            const int rows = (int)(nc - j0 < 8 ? nc - j0 : 8);
            uint32_t *d = (uint32_t *)(dst + (j0 / NR) * panel) + j0 % NR;
            for (nf_int p = 0; p < kc; p += 16)
                rows8_to_pairs(d + (p / 2) * NR, NR, B + j0 * ldb + p, ldb, rows,
                               (int)(kc - p < 16 ? kc - p : 16));
        }
        return;
    }
    /* op(B)[p][j] = B[p*ldb + j]: a pair takes two rows of B, interleaved */
    const __m512i idx = pair_index32();
    for (nf_int p0 = 0; p0 < kc; p0 += 8) {
        const nf_int p1 = p0 + 8 < kc ? p0 + 8 : kc;
        for (nf_int j0 = 0; j0 < nc; j0 += NR) {
            const int n = (int)(nc - j0 < NR ? nc - j0 : NR);
            const __mmask16 k0 = mask_lo(n), k1 = mask_hi(n);
            uint32_t *d = (uint32_t *)(dst + (j0 / NR) * panel);
            for (nf_int p = p0; p < p1; p += 2) {
                const float *r0 = B + p * ldb + j0, *r1 = r0 + ldb;
                const int last = p + 1 >= kc;
                const __m512 a0 = _mm512_maskz_loadu_ps(k0, r0);
                const __m512 a1 = _mm512_maskz_loadu_ps(k1, r0 + 16);
                const __m512 b0 = last ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(k0, r1);
                const __m512 b1 = last ? _mm512_setzero_ps()
                                       : _mm512_maskz_loadu_ps(k1, r1 + 16);
                uint32_t *o = d + (p / 2) * NR;
                _mm512_storeu_si512(o, _mm512_permutexvar_epi16(
                                           idx, (__m512i)_mm512_cvtne2ps_pbh(b0, a0)));
                _mm512_storeu_si512(o + 16, _mm512_permutexvar_epi16(
                                                idx, (__m512i)_mm512_cvtne2ps_pbh(b1, a1)));
            }
        }
    }
}

void nf_gemm_pack_b_avx512bf16(float *dst, int transB, const float *B, nf_int ldb,
                               nf_int kc, nf_int nc, int nr)
{
    (void)nr;
    nf_gemm_pack_b_bf16_pairs(dst, transB, B, ldb, kc, nc, (nf_int)NR * kc);
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
