/* gemm_avx512.c — AVX-512 micro-kernel (8×32 register tile, smaller bodies for edge tiles),
 * packers, colsum, and two shapes the tile serves badly: few output rows (M <= 12, one 12×32
 * tile down the whole K) and a narrow NT output (N <= 16, dot products along K).
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

/* The tile body for ROWS rows and VECS 16-column vectors (ROWS×VECS accumulators), each an
 * inline instantiation with constant sizes, so the accumulators live in registers. An edge
 * tile runs the smallest body that covers it: a 2-row remainder costs 2 rows of FMAs, not
 * 8, and a 16-wide one (784 = 24·32 + 16) one vector, not two. The 12-row body serves only
 * nf_gemm_short_m_avx512 (24 accumulators, 27 of the 32 zmm registers). */
static inline __attribute__((always_inline)) void
ukr_body(const int ROWS, const int VECS, nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
         const float *b, nf_int rs_b, float *c, nf_int ldc, int m, int n, float alpha,
         float beta, const float *bias)
{
    const __mmask16 km[2] = {mask_lo(n), mask_hi(n)};
    /* Rows past m re-read row m-1: no out-of-bounds read and no branch in the k loop;
     * their results are simply not stored. */
    const float *ar[12];
    #pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) ar[i] = a + (i < m ? i : m - 1) * rs_a;
    __m512 acc[12][2];
    #pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++)
        #pragma GCC unroll 12
        for (int v = 0; v < VECS; v++) acc[i][v] = _mm512_setzero_ps();

    nf_int off = 0;
    #pragma GCC unroll 4
    for (nf_int p = 0; p < k; p++) {
        __m512 bv[2];
        #pragma GCC unroll 12
        for (int v = 0; v < VECS; v++) bv[v] = _mm512_maskz_loadu_ps(km[v], b + 16 * v);
        #pragma GCC unroll 12
        for (int i = 0; i < ROWS; i++) { /* row i of the tile += a_i[off] * b */
            const __m512 x = _mm512_set1_ps(ar[i][off]);
            #pragma GCC unroll 12
            for (int v = 0; v < VECS; v++) acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]);
        }
        off += cs_a;
        b += rs_b;
    }

    /* Epilogue, while the tile is in registers: scale, add beta*C and the bias, store. */
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 bias_v[2];
    #pragma GCC unroll 12
    for (int v = 0; v < VECS; v++)
        bias_v[v] = bias ? _mm512_maskz_loadu_ps(km[v], bias + 16 * v) : _mm512_setzero_ps();
    const int use_c = beta != 0.0f;
    #pragma GCC unroll 12
    for (int i = 0; i < ROWS; i++) {
        if (i >= m) break;
        float *cr = c + i * ldc;
        #pragma GCC unroll 12
        for (int v = 0; v < VECS; v++) {
            __m512 r = _mm512_fmadd_ps(va, acc[i][v], bias_v[v]);
            if (use_c)
                r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(km[v], cr + 16 * v), r);
            _mm512_mask_storeu_ps(cr + 16 * v, km[v], r);
        }
    }
}

/* C[0:m,0:n] = alpha * a @ b + beta*C + bias (see nf_ukr_fn in gemm_internal.h). */
void nf_ukr_avx512_8x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                        const float *b, nf_int rs_b, float *c, nf_int ldc,
                        int m, int n, float alpha, float beta, const float *bias)
{
#define NF_UKR(R, V) ukr_body(R, V, k, a, rs_a, cs_a, b, rs_b, c, ldc, m, n, alpha, beta, bias)
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

/* C[M, N] = alpha * op(A) @ B + beta*C + bias for M <= 12, B not transposed (see
 * gemm_internal.h): all M rows in one tile (12 rows × 32 columns, 24 accumulators) down the
 * whole K, so B is read once, in place. The 8-row frame ran a 10-row output (a classifier's
 * dW) as 8 + 2 rows, reading B twice, the second time with 2 rows of FMAs to hide each
 * load's latency. */
void nf_gemm_short_m_avx512(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                            nf_int rs_a, nf_int cs_a, const float *B, nf_int ldb, float beta,
                            float *C, nf_int ldc, const float *bias)
{
    const int m = (int)M;
    for (nf_int j = 0; j < N; j += NR) {
        const int n = (int)(N - j < NR ? N - j : NR);
        const float *bj = bias ? bias + j : NULL;
        if (m > 8) {
            if (n > 16)
                ukr_body(12, 2, K, A, rs_a, cs_a, B + j, ldb, C + j, ldc, m, n, alpha, beta, bj);
            else
                ukr_body(12, 1, K, A, rs_a, cs_a, B + j, ldb, C + j, ldc, m, n, alpha, beta, bj);
        } else {
            nf_ukr_avx512_8x32(K, A, rs_a, cs_a, B + j, ldb, C + j, ldc, m, n, alpha, beta, bj);
        }
    }
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
    if (transB) {
        /* op(B)[p][j] = B[j*ldb + p]: rows j of B become columns of the panel */
        for (nf_int j0 = 0; j0 < nc; j0 += NR, dst += NR * kc)
            nf_transpose_copy(dst, NR, B + j0 * ldb, ldb, nc - j0 < NR ? nc - j0 : NR, kc);
        return;
    }
    /* op(B) = B: 8 rows of B at a time across every panel, so each row is read along its
     * length while it is in L1. Panel by panel, each k step read 128 bytes of a row ldb
     * apart, and a 1024-wide B's rows share L1 sets (40x1024x1024 NN, where the pack is a
     * large part: 85 -> 95 GFLOP/s on one thread, 155 -> 174 on two; 256x1024x1024 +3%). */
    for (nf_int p0 = 0; p0 < kc; p0 += 8) {
        const nf_int p1 = p0 + 8 < kc ? p0 + 8 : kc;
        float *d = dst;
        for (nf_int j0 = 0; j0 < nc; j0 += NR, d += NR * kc) {
            const int n = (int)(nc - j0 < NR ? nc - j0 : NR);
            const __mmask16 k0 = mask_lo(n), k1 = mask_hi(n);
            for (nf_int p = p0; p < p1; p++) {
                const float *src = B + p * ldb + j0;
                _mm512_store_ps(d + p * NR, _mm512_maskz_loadu_ps(k0, src));
                _mm512_store_ps(d + p * NR + 16, _mm512_maskz_loadu_ps(k1, src + 16));
            }
        }
    }
}

/* ---- NT with a narrow output (N <= 16: a classifier's logits) ----------------------------
 * The 8×32 tile would spend 32 columns of FMAs on 10 useful ones, so here each output is a
 * dot product along K instead: both operands are row-major along K, 16 k per vector, one
 * accumulator per (row, output column), summed across lanes once per K stretch. */

/* r[j] = sum of the lanes of v[j], j < 16: one shuffle tree for all sixteen (45 ops where
 * sixteen separate reductions take ~130). Pairs (j, j+4) fold 512 -> 256 bits, pairs
 * (j, j+8) 256 -> 128, so 128-bit lane Q of w[j] holds v[4Q+j]'s partial sums; a 4×4
 * transposing add inside each lane finishes with v[4Q+t] in lane Q, element t. */
static inline __m512 hsum16(const __m512 v[16])
{
    __m512 u[16], w[4];
    for (int g = 0; g < 16; g += 8)
        for (int j = g; j < g + 4; j++)
            u[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[j], v[j + 4], _MM_SHUFFLE(1, 0, 1, 0)),
                                 _mm512_shuffle_f32x4(v[j], v[j + 4], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int j = 0; j < 4; j++)
        w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(u[j], u[j + 8], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[j], u[j + 8], _MM_SHUFFLE(3, 1, 3, 1)));
    __m512 x0 = _mm512_add_ps(_mm512_unpacklo_ps(w[0], w[1]), _mm512_unpackhi_ps(w[0], w[1]));
    __m512 x1 = _mm512_add_ps(_mm512_unpacklo_ps(w[2], w[3]), _mm512_unpackhi_ps(w[2], w[3]));
    return _mm512_add_ps(_mm512_shuffle_ps(x0, x1, _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(x0, x1, _MM_SHUFFLE(3, 2, 3, 2)));
}

/* Rows [i, i+R) of C against the packed stretch bp of B (k in [k0, k1): bp holds, for each
 * 16 k, the N rows' 16 values one after another, zero past k1). s = A·B^T there; the first
 * stretch (k0 == 0) writes alpha*s + beta*C + bias, later ones add alpha*s. N is a constant
 * in each instantiation, so the R×N accumulators live in registers. */
static inline __attribute__((always_inline)) void
nt_narrow_rows(const int R, const int N, nf_int k0, nf_int k1, const float *a, nf_int lda,
               const float *bp, float *c, nf_int ldc, float alpha, float beta,
               const float *bias)
{
    __m512 acc[2][16];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < 16; j++) acc[r][j] = _mm512_setzero_ps();
    nf_int k = k0;
    for (; k < k1; k += 16, bp += 16 * N) {
        /* the last k < 16 masked, so nothing past a row's end is read */
        const __mmask16 km = k1 - k >= 16 ? 0xFFFF : mask_lo((int)(k1 - k));
        __m512 x[2];
        for (int r = 0; r < R; r++) x[r] = _mm512_maskz_loadu_ps(km, a + r * lda + k);
#pragma GCC unroll 16
        for (int j = 0; j < N; j++) {
            __m512 y = _mm512_load_ps(bp + 16 * j);
            for (int r = 0; r < R; r++) acc[r][j] = _mm512_fmadd_ps(x[r], y, acc[r][j]);
        }
    }
    const __mmask16 kn = mask_lo(N);
    const __m512 va = _mm512_set1_ps(alpha);
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        __m512 s = _mm512_mul_ps(va, hsum16(acc[r]));
        if (k0 == 0) {
            if (bias) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(kn, bias));
            if (beta != 0.0f)
                s = _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(kn, cr), s);
        } else {
            s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(kn, cr));
        }
        _mm512_mask_storeu_ps(cr, kn, s);
    }
}

#define NT_NARROW_BP 4096 /* floats of B per stretch: 16 KiB, half of L1 */

/* C[M, N] = alpha * A[M, K] @ B[N, K]^T + beta*C + bias, 1 <= N <= 16 (see gemm_internal.h).
 * K in stretches; each stretch of B is first copied so that the N values the kernel loads
 * for each 16 k are consecutive. Read in place, B's rows are K apart, and when K is a
 * multiple of 1024 they share L1 sets: 10 rows and the 2 of A overflowed the 8 ways and
 * every load missed (256x10x1024 on one thread: 140 us read in place, 71-76 us packed; the
 * 8×32 tiles took 161 us). */
#define NT_NARROW_CASE(n_)                                                                  \
    case n_:                                                                                \
        for (nf_int i = 0; i + R <= M; i += R)                                              \
            nt_narrow_rows(R, n_, k0, k1, A + i * lda, lda, bp, C + i * ldc, ldc, alpha,    \
                           beta, bias);                                                     \
        if (M % R)                                                                          \
            nt_narrow_rows(1, n_, k0, k1, A + (M - 1) * lda, lda, bp, C + (M - 1) * ldc,    \
                           ldc, alpha, beta, bias);                                         \
        break;

void nf_gemm_nt_narrow_avx512(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                              nf_int lda, const float *B, nf_int ldb, float beta, float *C,
                              nf_int ldc, const float *bias)
{
    float bp[NT_NARROW_BP] __attribute__((aligned(64)));
    const nf_int kb = (NT_NARROW_BP / N) & ~(nf_int)15; /* k per stretch: N=10 400, N=16 256 */
    for (nf_int k0 = 0; k0 < K; k0 += kb) {
        const nf_int k1 = k0 + kb < K ? k0 + kb : K;
        const __mmask16 kt = mask_lo((int)((k1 - k0) % 16));
        for (nf_int k = k0, q = 0; k < k1; k += 16, q += 16 * N)
            for (nf_int j = 0; j < N; j++) {
                const float *src = B + j * ldb + k;
                _mm512_store_ps(bp + q + 16 * j, k1 - k >= 16 ? _mm512_loadu_ps(src)
                                                               : _mm512_maskz_loadu_ps(kt, src));
            }
        /* two rows at once share each load of B, while 2N accumulators fit in registers */
        if (N <= 12) {
            const int R = 2;
            switch (N) {
                NT_NARROW_CASE(1) NT_NARROW_CASE(2) NT_NARROW_CASE(3) NT_NARROW_CASE(4)
                NT_NARROW_CASE(5) NT_NARROW_CASE(6) NT_NARROW_CASE(7) NT_NARROW_CASE(8)
                NT_NARROW_CASE(9) NT_NARROW_CASE(10) NT_NARROW_CASE(11) NT_NARROW_CASE(12)
            }
        } else {
            const int R = 1;
            switch (N) {
                NT_NARROW_CASE(13) NT_NARROW_CASE(14) NT_NARROW_CASE(15) NT_NARROW_CASE(16)
            }
        }
    }
}
#undef NT_NARROW_CASE

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
