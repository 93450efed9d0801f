/* gemm_internal.h — the seam between the portable GEMM frame (gemm.c) and the per-ISA parts
 * (gemm_avx512.c, gemm_avx2.c, gemm_generic.c). Not part of the public API (nnfast.h).
 *
 * Layout conventions shared by the frame and every kernel (all row-major, float32):
 *   op(A) is M×K, op(B) is K×N, C is M×N.
 *   A "micro-panel" of op(A) is MR rows × kc; the micro-kernel reads element (i, p) at
 *   a[i*rs_a + p*cs_a]. Packed: rs_a = 1, cs_a = MR (k-major, MR floats per k step).
 *   Unpacked, not transposed: rs_a = lda, cs_a = 1. Unpacked, transposed: rs_a = 1, cs_a = lda.
 *   A micro-panel of op(B) is kc × NR; element (p, j) at b[p*rs_b + j], j contiguous.
 *   Packed: rs_b = NR. Unpacked (only when B is not transposed): rs_b = ldb.
 */
#ifndef NF_GEMM_INTERNAL_H
#define NF_GEMM_INTERNAL_H

#include "nnfast.h"

/* C[0:m, 0:n] = alpha * a(m×k) @ b(k×n) + beta * C + bias[0:n]
 *   m <= MR, n <= NR (edge tiles are handled by the kernel itself, with masks / clamped rows;
 *   it never reads a row i >= m of a nor a column j >= n of b, nor writes outside C[m, n]).
 *   beta == 0: C is not read. bias may be NULL. k may be 0. */
typedef void (*nf_ukr_fn)(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                          const float *b, nf_int rs_b, float *c, nf_int ldc,
                          int m, int n, float alpha, float beta, const float *bias);

/* Pack op(A)[0:mc, 0:kc] (A already offset to the block's corner) into ceil(mc/MR) panels;
 * panel r starts at dst + r*MR*kc, element (i, p) of it at [p*MR + i]. Rows past mc in the
 * last panel are left unset (the micro-kernel never reads them). */
typedef void (*nf_packa_fn)(float *dst, int transA, const float *A, nf_int lda,
                            nf_int mc, nf_int kc, int mr);
/* Pack op(B)[0:kc, 0:nc] into ceil(nc/NR) panels; panel s starts at dst + s*NR*kc,
 * element (p, j) at [p*NR + j]. Columns past nc in the last panel are left unset. */
typedef void (*nf_packb_fn)(float *dst, int transB, const float *B, nf_int ldb,
                            nf_int kc, nf_int nc, int nr);

/* C[M, N] = alpha * A[M, K] @ B[N, K]^T + beta*C + bias for 1 <= N <= 16, K >= 1: the NT form
 * with a narrow output (a classifier's last Linear), where the register tile would be mostly
 * idle. A row i at A + i*lda, B row j at B + j*ldb, both read along K. beta == 0: C is not
 * read. bias may be NULL. */
typedef void (*nf_nt_narrow_fn)(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                                nf_int lda, const float *B, nf_int ldb, float beta, float *C,
                                nf_int ldc, const float *bias);

/* C[M, N] = alpha * op(A) @ B + beta*C + bias for 1 <= M <= short_m_max, B not transposed,
 * K >= 1: few output rows (a classifier's dW, a batch of a few rows), all in one register
 * tile down the whole K. op(A) element (i, p) at A[i*rs_a + p*cs_a], B row p at B + p*ldb.
 * beta == 0: C is not read. bias may be NULL. */
typedef void (*nf_short_m_fn)(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                              nf_int rs_a, nf_int cs_a, const float *B, nf_int ldb, float beta,
                              float *C, nf_int ldc, const float *bias);

/* One kernel set: its register tile, its cache blocking, its kernels. The frame reads block
 * sizes only from here. mc is a multiple of mr, nc a multiple of nr. */
typedef struct {
    const char *name;
    int mr, nr;          /* register tile of the micro-kernel */
    int mc, kc, nc;      /* cache blocks: A block mc×kc, B block kc×nc (meant to sit in L2) */
    nf_ukr_fn ukr;
    nf_packa_fn pack_a;
    nf_packb_fn pack_b;
    nf_nt_narrow_fn nt_narrow;  /* or NULL: the frame then uses the tiles for narrow NT too */
    nf_short_m_fn short_m;      /* or NULL, likewise for few rows */
    int short_m_max;
    int packed_only;            /* the tile reads only packed panels (bf16 pairs, rounded) */
    /* or 0: packed panels hold K padded with zeros to a multiple of this, as bf16:
     * round_up(kc, k_pad)/2 float slots per row of A or column of B (not kc), which the
     * frame uses for panel strides and the workspace */
    int k_pad;
    void (*begin)(void), (*end)(void);  /* or NULL: around each thread's run of the tile */
} nf_gemm_cfg;

/* Round n packed floats in place to the float32 nearest a bfloat16 / float16 (gemm_round.c) */
void nf_gemm_round_bf16(float *x, nf_int n);
void nf_gemm_round_fp16(float *x, nf_int n);

/* Portable packers (gemm.c); ISA files may provide faster ones. */
void nf_gemm_pack_a_generic(float *dst, int transA, const float *A, nf_int lda,
                            nf_int mc, nf_int kc, int mr);
void nf_gemm_pack_b_generic(float *dst, int transB, const float *B, nf_int ldb,
                            nf_int kc, nf_int nc, int nr);

void nf_ukr_generic_4x16(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                         const float *b, nf_int rs_b, float *c, nf_int ldc,
                         int m, int n, float alpha, float beta, const float *bias);

/* x86-64 SIMD kernel sets (built with per-file target pragmas, chosen at run time).
 * -DNNFAST_PORTABLE_ONLY leaves them out, to check the build a non-x86 CPU gets. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(NNFAST_PORTABLE_ONLY)
#define NF_GEMM_HAVE_X86 1
void nf_ukr_avx512_8x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                        const float *b, nf_int rs_b, float *c, nf_int ldc,
                        int m, int n, float alpha, float beta, const float *bias);
void nf_gemm_pack_a_avx512(float *dst, int transA, const float *A, nf_int lda,
                           nf_int mc, nf_int kc, int mr);
void nf_gemm_pack_b_avx512(float *dst, int transB, const float *B, nf_int ldb,
                           nf_int kc, nf_int nc, int nr);
void nf_colsum_avx512(float *out, const float *x, nf_int M, nf_int N, float beta);
/* AVX512-BF16 (gemm_avx512bf16.c): the same 8×32 tile over bf16 pairs */
void nf_ukr_avx512bf16_8x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                            const float *b, nf_int rs_b, float *c, nf_int ldc,
                            int m, int n, float alpha, float beta, const float *bias);
void nf_gemm_pack_a_avx512bf16(float *dst, int transA, const float *A, nf_int lda,
                               nf_int mc, nf_int kc, int mr);
void nf_gemm_pack_b_avx512bf16(float *dst, int transB, const float *B, nf_int ldb,
                               nf_int kc, nf_int nc, int nr);
/* the pair packer behind it, panel s at dst + s*panel floats (any panel >= NR*(kc+1)/2) */
void nf_gemm_pack_b_bf16_pairs(float *dst, int transB, const float *B, nf_int ldb,
                               nf_int kc, nf_int nc, nf_int panel);
/* AMX-BF16 (gemm_amx.c): a 32×32 tile of four tile registers, K padded to 32 */
void nf_ukr_amx_32x32(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                      const float *b, nf_int rs_b, float *c, nf_int ldc,
                      int m, int n, float alpha, float beta, const float *bias);
void nf_gemm_pack_a_amx(float *dst, int transA, const float *A, nf_int lda,
                        nf_int mc, nf_int kc, int mr);
void nf_gemm_pack_b_amx(float *dst, int transB, const float *B, nf_int ldb,
                        nf_int kc, nf_int nc, int nr);
void nf_gemm_amx_begin(void);
void nf_gemm_amx_end(void);
void nf_gemm_short_m_avx512(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                            nf_int rs_a, nf_int cs_a, const float *B, nf_int ldb, float beta,
                            float *C, nf_int ldc, const float *bias);
void nf_gemm_nt_narrow_avx512(nf_int M, nf_int N, nf_int K, float alpha, const float *A,
                              nf_int lda, const float *B, nf_int ldb, float beta, float *C,
                              nf_int ldc, const float *bias);

void nf_ukr_avx2_6x16(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                      const float *b, nf_int rs_b, float *c, nf_int ldc,
                      int m, int n, float alpha, float beta, const float *bias);
void nf_gemm_pack_a_avx2(float *dst, int transA, const float *A, nf_int lda,
                         nf_int mc, nf_int kc, int mr);
void nf_gemm_pack_b_avx2(float *dst, int transB, const float *B, nf_int ldb,
                         nf_int kc, nf_int nc, int nr);
void nf_colsum_avx2(float *out, const float *x, nf_int M, nf_int N, float beta);
#endif

#endif /* NF_GEMM_INTERNAL_H */
