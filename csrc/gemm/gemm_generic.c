/* gemm_generic.c — the portable micro-kernel (4×16 tile, plain C).
 *
 * Runs on any CPU the compiler targets; the frame in gemm.c uses it for the "ref" kernel set
 * (no x86 SIMD, or forced with NNFAST_GEMM_ISA=ref). Written so a compiler can keep the tile
 * in vector registers at its baseline ISA (SSE2 on x86-64, NEON on aarch64).
 * What it is not: the oracle — that is nf_sgemm_ref in gemm_ref.c, with no blocking at all.
 */
#include "gemm_internal.h"

#define MR 4
#define NR 16

void nf_ukr_generic_4x16(nf_int k, const float *a, nf_int rs_a, nf_int cs_a,
                         const float *b, nf_int rs_b, float *c, nf_int ldc,
                         int m, int n, float alpha, float beta, const float *bias)
{
    float acc[MR][NR] = {{0}};
    const float *ar[MR];
    for (int i = 0; i < MR; i++) ar[i] = a + (i < m ? i : m - 1) * rs_a;

    if (n == NR) {
        for (nf_int p = 0; p < k; p++, b += rs_b)
            for (int i = 0; i < MR; i++) {
                float x = ar[i][p * cs_a];
                for (int j = 0; j < NR; j++) acc[i][j] += x * b[j];
            }
    } else {
        for (nf_int p = 0; p < k; p++, b += rs_b)
            for (int i = 0; i < MR; i++) {
                float x = ar[i][p * cs_a];
                for (int j = 0; j < n; j++) acc[i][j] += x * b[j];
            }
    }
    for (int i = 0; i < m; i++) {
        float *cr = c + i * ldc;
        for (int j = 0; j < n; j++) {
            float r = alpha * acc[i][j] + (bias ? bias[j] : 0.0f);
            cr[j] = (beta == 0.0f) ? r : r + beta * cr[j];
        }
    }
}
