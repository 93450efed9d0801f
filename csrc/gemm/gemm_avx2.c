/* gemm_avx2.c — AVX2+FMA micro-kernel (6×16 register tile), packers and colsum.
 *
 * For x86-64 CPUs without AVX-512. Compiled with a per-file target pragma; gemm.c calls in
 * only after __builtin_cpu_supports("avx2") and ("fma") said yes.
 * Tile: 6 rows × 2 ymm = 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm registers.
 * Edges: B columns past n are masked out of loads (vmaskmov), rows past m re-read row m-1.
 */
#include "gemm_internal.h"
#ifdef NF_GEMM_HAVE_X86 /* x86-64 + GCC/Clang only; the file is empty elsewhere */
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include "gemm_x86.h"

#define MR 6
#define NR 16

/* lane mask for columns [from, from+8) of an n-wide row */
static inline __m256i lane_mask(int n, int from)
{
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n - from), idx);
}

void nf_ukr_avx2_6x16(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                      const float *b, nf_int rs_b, float *c, nf_int ldc,
                      int m, int n, float alpha, float beta, const float *bias)
{
    const __m256i k0 = lane_mask(n, 0), k1 = lane_mask(n, 8);
    const float *a0 = a;
    const float *a1 = a + (m > 1 ? 1 : 0) * rs_a;
    const float *a2 = a + (m > 2 ? 2 : m - 1) * rs_a;
    const float *a3 = a + (m > 3 ? 3 : m - 1) * rs_a;
    const float *a4 = a + (m > 4 ? 4 : m - 1) * rs_a;
    const float *a5 = a + (m > 5 ? 5 : m - 1) * rs_a;

    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

#define NF_ROW(ci0, ci1, ai)                                     \
    do {                                                         \
        __m256 x_ = _mm256_broadcast_ss((ai) + off);             \
        ci0 = _mm256_fmadd_ps(x_, b0, ci0);                      \
        ci1 = _mm256_fmadd_ps(x_, b1, ci1);                      \
    } while (0)

    nf_int off = 0;
    if (n == NR) {
        for (nf_int p = 0; p < k; p++) {
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            NF_ROW(c00, c01, a0); NF_ROW(c10, c11, a1); NF_ROW(c20, c21, a2);
            NF_ROW(c30, c31, a3); NF_ROW(c40, c41, a4); NF_ROW(c50, c51, a5);
            off += cs_a;
            b += rs_b;
        }
    } else {
        for (nf_int p = 0; p < k; p++) {
            __m256 b0 = _mm256_maskload_ps(b, k0), b1 = _mm256_maskload_ps(b + 8, k1);
            NF_ROW(c00, c01, a0); NF_ROW(c10, c11, a1); NF_ROW(c20, c21, a2);
            NF_ROW(c30, c31, a3); NF_ROW(c40, c41, a4); NF_ROW(c50, c51, a5);
            off += cs_a;
            b += rs_b;
        }
    }
#undef NF_ROW

    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const __m256 bias0 = bias ? _mm256_maskload_ps(bias, k0) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_maskload_ps(bias + 8, k1) : _mm256_setzero_ps();
    const int use_c = beta != 0.0f;

#define NF_STORE(i, ci0, ci1)                                                       \
    if ((i) < m) {                                                                  \
        float *cr = c + (i) * ldc;                                                  \
        __m256 r0 = _mm256_fmadd_ps(va, ci0, bias0);                                \
        __m256 r1 = _mm256_fmadd_ps(va, ci1, bias1);                                \
        if (use_c) {                                                                \
            r0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr, k0), r0);               \
            r1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + 8, k1), r1);           \
        }                                                                           \
        _mm256_maskstore_ps(cr, k0, r0);                                            \
        _mm256_maskstore_ps(cr + 8, k1, r1);                                        \
    }
    NF_STORE(0, c00, c01)
    NF_STORE(1, c10, c11)
    NF_STORE(2, c20, c21)
    NF_STORE(3, c30, c31)
    NF_STORE(4, c40, c41)
    NF_STORE(5, c50, c51)
#undef NF_STORE
}

void nf_gemm_pack_a_avx2(float *dst, int transA, const float *A, nf_int lda,
                         nf_int mc, nf_int kc, int mr)
{
    (void)mr;
    for (nf_int i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
        nf_int m = mc - i0 < MR ? mc - i0 : MR;
        if (transA) {
            const float *src = A + i0;
            for (nf_int p = 0; p < kc; p++)
                for (nf_int i = 0; i < m; i++) dst[p * MR + i] = src[p * lda + i];
        } else {
            /* 6 is not a transpose-friendly width: plain copy, row by row */
            for (nf_int i = 0; i < m; i++) {
                const float *src = A + (i0 + i) * lda;
                for (nf_int p = 0; p < kc; p++) dst[p * MR + i] = src[p];
            }
        }
    }
}

void nf_gemm_pack_b_avx2(float *dst, int transB, const float *B, nf_int ldb,
                         nf_int kc, nf_int nc, int nr)
{
    (void)nr;
    for (nf_int j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
        int n = (int)(nc - j0 < NR ? nc - j0 : NR);
        if (!transB) {
            const float *src = B + j0;
            if (n == NR) {
                for (nf_int p = 0; p < kc; p++) {
                    _mm256_store_ps(dst + p * NR, _mm256_loadu_ps(src + p * ldb));
                    _mm256_store_ps(dst + p * NR + 8, _mm256_loadu_ps(src + p * ldb + 8));
                }
            } else {
                for (nf_int p = 0; p < kc; p++)
                    for (int j = 0; j < n; j++) dst[p * NR + j] = src[p * ldb + j];
            }
        } else {
            nf_transpose_copy(dst, NR, B + j0 * ldb, ldb, n, kc);
        }
    }
}

void nf_colsum_avx2(float *out, const float *x, nf_int M, nf_int N, float beta)
{
    nf_int j = 0;
    for (; j + 32 <= N; j += 32) {
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        const float *xp = x + j;
        for (nf_int i = 0; i < M; i++, xp += N) {
            s0 = _mm256_add_ps(s0, _mm256_loadu_ps(xp));
            s1 = _mm256_add_ps(s1, _mm256_loadu_ps(xp + 8));
            s2 = _mm256_add_ps(s2, _mm256_loadu_ps(xp + 16));
            s3 = _mm256_add_ps(s3, _mm256_loadu_ps(xp + 24));
        }
        if (beta != 0.0f) {
            __m256 vb = _mm256_set1_ps(beta);
            s0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(out + j), s0);
            s1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(out + j + 8), s1);
            s2 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(out + j + 16), s2);
            s3 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(out + j + 24), s3);
        }
        _mm256_storeu_ps(out + j, s0);
        _mm256_storeu_ps(out + j + 8, s1);
        _mm256_storeu_ps(out + j + 16, s2);
        _mm256_storeu_ps(out + j + 24, s3);
    }
    for (; j < N; j++) {
        float s = 0.0f;
        for (nf_int i = 0; i < M; i++) s += x[i * N + j];
        out[j] = (beta == 0.0f) ? s : beta * out[j] + s;
    }
}
#endif /* x86-64 */
