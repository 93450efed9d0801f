/* gemm_avx512.c — AVX-512 micro-kernel (8×32 register tile), packers and colsum.
 *
 * Compiled for AVX-512 with a per-file target pragma so the default build stays portable;
 * gemm.c only calls into here after __builtin_cpu_supports("avx512f") said yes.
 * What it is not: a frame. Blocking, threading and the choice of packing live in gemm.c;
 * block sizes live in the config table there.
 *
 * Tile choice (Zen4, where a zmm FMA issues at 1/cycle with 4-cycle latency): 8 rows × 2 zmm
 * = 16 accumulators, 2 B loads + 8 embedded broadcasts per 16 FMAs. MR = 8 divides the batch
 * sizes users pick (32, 64, 128, ...), NR = 32 divides typical layer widths.
 */
#include "gemm_internal.h"
#ifdef NF_GEMM_HAVE_X86 /* x86-64 + GCC/Clang only; the file is empty elsewhere */
#pragma GCC target("avx512f,avx512vl,avx512dq,avx512bw,fma")
#include <immintrin.h>
#include "gemm_x86.h"

#define MR 8
#define NR 32

static inline __mmask16 mask_lo(int n) { return n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1); }
static inline __mmask16 mask_hi(int n) { return n <= 16 ? 0 : mask_lo(n - 16); }

/* C[0:m,0:n] = alpha * a @ b + beta*C + bias (see nf_ukr_fn in gemm_internal.h). */
void nf_ukr_avx512_8x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                        const float *b, nf_int rs_b, float *c, nf_int ldc,
                        int m, int n, float alpha, float beta, const float *bias)
{
    const __mmask16 k0 = mask_lo(n), k1 = mask_hi(n);
    /* Rows past m re-read row m-1: no out-of-bounds read and no branch in the k loop;
     * their results are simply not stored. */
    const float *a0 = a;
    const float *a1 = a + (m > 1 ? 1 : 0) * rs_a;
    const float *a2 = a + (m > 2 ? 2 : m - 1) * rs_a;
    const float *a3 = a + (m > 3 ? 3 : m - 1) * rs_a;
    const float *a4 = a + (m > 4 ? 4 : m - 1) * rs_a;
    const float *a5 = a + (m > 5 ? 5 : m - 1) * rs_a;
    const float *a6 = a + (m > 6 ? 6 : m - 1) * rs_a;
    const float *a7 = a + (m > 7 ? 7 : m - 1) * rs_a;

    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();

/* one rank-1 update: row i of the tile += a_i[off] * (b0, b1) */
#define NF_ROW(ci0, ci1, ai)                                     \
    do {                                                         \
        __m512 x_ = _mm512_set1_ps((ai)[off]);                   \
        ci0 = _mm512_fmadd_ps(x_, b0, ci0);                      \
        ci1 = _mm512_fmadd_ps(x_, b1, ci1);                      \
    } while (0)

    nf_int off = 0;
#pragma GCC unroll 4
    for (nf_int p = 0; p < k; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(k0, b);
        __m512 b1 = _mm512_maskz_loadu_ps(k1, b + 16);
        NF_ROW(c00, c01, a0);
        NF_ROW(c10, c11, a1);
        NF_ROW(c20, c21, a2);
        NF_ROW(c30, c31, a3);
        NF_ROW(c40, c41, a4);
        NF_ROW(c50, c51, a5);
        NF_ROW(c60, c61, a6);
        NF_ROW(c70, c71, a7);
        off += cs_a;
        b += rs_b;
    }
#undef NF_ROW

    /* Epilogue, while the tile is in registers: scale, add beta*C and the bias, store. */
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(k0, bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(k1, bias + 16) : _mm512_setzero_ps();
    const int use_c = beta != 0.0f;

#define NF_STORE(i, ci0, ci1)                                                       \
    if ((i) < m) {                                                                  \
        float *cr = c + (i) * ldc;                                                  \
        __m512 r0 = _mm512_fmadd_ps(va, ci0, bias0);                                \
        __m512 r1 = _mm512_fmadd_ps(va, ci1, bias1);                                \
        if (use_c) {                                                                \
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k0, cr), r0);            \
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(k1, cr + 16), r1);       \
        }                                                                           \
        _mm512_mask_storeu_ps(cr, k0, r0);                                          \
        _mm512_mask_storeu_ps(cr + 16, k1, r1);                                     \
    }
    NF_STORE(0, c00, c01)
    NF_STORE(1, c10, c11)
    NF_STORE(2, c20, c21)
    NF_STORE(3, c30, c31)
    NF_STORE(4, c40, c41)
    NF_STORE(5, c50, c51)
    NF_STORE(6, c60, c61)
    NF_STORE(7, c70, c71)
#undef NF_STORE
}

/* Pack op(A)[0:mc,0:kc] into 8-row k-major panels (layout: gemm_internal.h). */
void nf_gemm_pack_a_avx512(float *dst, int transA, const float *A, nf_int lda,
                           nf_int mc, nf_int kc, int mr)
{
    (void)mr; /* always MR here */
    for (nf_int i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
        int m = (int)(mc - i0 < MR ? mc - i0 : MR);
        if (transA) {
            /* op(A)[i][p] = A[p*lda + i]: each k step is 8 contiguous floats already */
            const float *src = A + i0;
            __mmask8 km = (__mmask8)((1u << m) - 1);
            for (nf_int p = 0; p < kc; p++)
                _mm256_mask_storeu_ps(dst + p * MR, km,
                                      _mm256_maskz_loadu_ps(km, src + p * lda));
        } else {
            /* op(A)[i][p] = A[i*lda + p]: transpose 8 rows into k-major order */
            nf_transpose_copy(dst, MR, A + i0 * lda, lda, m, kc);
        }
    }
}

/* Pack op(B)[0:kc,0:nc] into 32-column panels (layout: gemm_internal.h). */
void nf_gemm_pack_b_avx512(float *dst, int transB, const float *B, nf_int ldb,
                           nf_int kc, nf_int nc, int nr)
{
    (void)nr; /* always NR here */
    for (nf_int j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {
        int n = (int)(nc - j0 < NR ? nc - j0 : NR);
        if (!transB) {
            const float *src = B + j0;
            __mmask16 k0 = mask_lo(n), k1 = mask_hi(n);
            for (nf_int p = 0; p < kc; p++) {
                _mm512_store_ps(dst + p * NR, _mm512_maskz_loadu_ps(k0, src + p * ldb));
                _mm512_store_ps(dst + p * NR + 16,
                                _mm512_maskz_loadu_ps(k1, src + p * ldb + 16));
            }
        } else {
            /* op(B)[p][j] = B[j*ldb + p]: rows j of B become columns of the panel */
            nf_transpose_copy(dst, NR, B + j0 * ldb, ldb, n, kc);
        }
    }
}

/* out[j] = beta*out[j] + sum_i x[i,j]; 64 columns per pass keep four sums in registers. */
void nf_colsum_avx512(float *out, const float *x, nf_int M, nf_int N, float beta)
{
    for (nf_int j = 0; j < N; j += 64) {
        int n = (int)(N - j < 64 ? N - j : 64);
        __mmask16 k[4];
        for (int q = 0; q < 4; q++) {
            int r = n - 16 * q;
            k[q] = r <= 0 ? 0 : mask_lo(r);
        }
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
        const float *xp = x + j;
        for (nf_int i = 0; i < M; i++, xp += N) {
            s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(k[0], xp));
            s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(k[1], xp + 16));
            s2 = _mm512_add_ps(s2, _mm512_maskz_loadu_ps(k[2], xp + 32));
            s3 = _mm512_add_ps(s3, _mm512_maskz_loadu_ps(k[3], xp + 48));
        }
        __m512 s[4] = {s0, s1, s2, s3};
        for (int q = 0; q < 4; q++) {
            if (!k[q]) break;
            float *o = out + j + 16 * q;
            if (beta != 0.0f)
                s[q] = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(k[q], o), s[q]);
            _mm512_mask_storeu_ps(o, k[q], s[q]);
        }
    }
}
#endif /* x86-64 */
