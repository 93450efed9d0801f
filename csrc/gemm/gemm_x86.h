/* gemm_x86.h — small AVX helpers shared by gemm_avx2.c and gemm_avx512.c.
 * Include only after the file's `#pragma GCC target(...)` line (needs AVX). */
#ifndef NF_GEMM_X86_H
#define NF_GEMM_X86_H
#include <immintrin.h>

/* In-register 8×8 transpose: r[i] holds row i on entry, column i on exit. */
static inline void nf_tr8x8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[q*ldd + r] = src[r*lds + q] for an 8×8 block (rows r of src become columns of dst). */
static inline void nf_tr8x8_copy(float *dst, nf_int ldd, const float *src, nf_int lds)
{
    __m256 r[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    nf_tr8x8(r);
    for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + i * ldd, r[i]);
}

/* Transposing copy of a rows×cols block of any size: dst[q*ldd + r] = src[r*lds + q].
 * 8×8 tiles in registers, scalar fringes. */
static inline void nf_transpose_copy(float *dst, nf_int ldd, const float *src, nf_int lds,
                                     nf_int rows, nf_int cols)
{
    nf_int r8 = rows & ~(nf_int)7, c8 = cols & ~(nf_int)7, c16 = cols & ~(nf_int)15;
    /* 16 columns (one cache line of each source row) per 8×16 step: with 8 the second half
     * of every line is fetched again after it may have been evicted. And 8 rows at a time
     * along a stretch of 128 columns, before the next 8 rows: when lds is a multiple of
     * 1 KiB the rows' lines share L1 sets, and 8 rows at once stay within the 8 ways, where
     * all the rows of a 32-row panel at once evicted each other's prefetched lines (packing
     * W^T from a 1024-wide W ran 1.7x slower). The stretch keeps the 8-float pieces that
     * each 8-row pass writes into dst within L1 (128 x 32 floats) for the next pass. */
    for (nf_int qb = 0; qb < c16; qb += 128) {
        const nf_int qe = qb + 128 < c16 ? qb + 128 : c16;
        for (nf_int r = 0; r < r8; r += 8)
            for (nf_int q = qb; q < qe; q += 16) {
                nf_tr8x8_copy(dst + q * ldd + r, ldd, src + r * lds + q, lds);
                nf_tr8x8_copy(dst + (q + 8) * ldd + r, ldd, src + r * lds + q + 8, lds);
            }
    }
    for (nf_int q = c16; q < c8; q += 8)
        for (nf_int r = 0; r < r8; r += 8)
            nf_tr8x8_copy(dst + q * ldd + r, ldd, src + r * lds + q, lds);
    for (nf_int r = r8; r < rows; r++)
        for (nf_int q = 0; q < cols; q++) dst[q * ldd + r] = src[r * lds + q];
    for (nf_int r = 0; r < r8; r++)
        for (nf_int q = c8; q < cols; q++) dst[q * ldd + r] = src[r * lds + q];
}
#endif
