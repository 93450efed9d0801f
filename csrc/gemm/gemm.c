/* gemm.c — GEMM entry points and the Linear layer built on them.
 * PLACEHOLDER frame: forwards to the reference kernel until the packed frame lands. */
#include <string.h>
#include "nnfast.h"

static const char *g_isa = "ref";

const char *nf_gemm_isa(void) { return g_isa; }

int nf_gemm_set_isa(const char *isa)
{
    if (strcmp(isa, "ref") == 0 || strcmp(isa, "auto") == 0) { g_isa = "ref"; return 0; }
    return -1;
}

void nf_sgemm(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
              const float *A, nf_int lda, const float *B, nf_int ldb,
              float beta, float *C, nf_int ldc)
{
    nf_sgemm_ref(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void nf_colsum(float *out, const float *x, nf_int M, nf_int N, float beta)
{
    for (nf_int j = 0; j < N; j++) out[j] = (beta == 0.0f) ? 0.0f : beta * out[j];
    for (nf_int i = 0; i < M; i++)
        for (nf_int j = 0; j < N; j++) out[j] += x[i * N + j];
}

void nf_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       nf_int M, nf_int K, nf_int N)
{
    if (bias) {
        for (nf_int i = 0; i < M; i++) memcpy(out + i * N, bias, (size_t)N * sizeof(float));
        nf_sgemm(0, 1, M, N, K, 1.0f, inp, K, weight, K, 1.0f, out, N);
    } else {
        nf_sgemm(0, 1, M, N, K, 1.0f, inp, K, weight, K, 0.0f, out, N);
    }
}

void nf_linear_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        nf_int M, nf_int K, nf_int N, int accumulate)
{
    float beta = accumulate ? 1.0f : 0.0f;
    if (dinp) nf_sgemm(0, 0, M, K, N, 1.0f, dout, N, weight, K, 0.0f, dinp, K);
    if (dweight) nf_sgemm(1, 0, N, K, M, 1.0f, dout, N, inp, K, beta, dweight, K);
    if (dbias) nf_colsum(dbias, dout, M, N, beta);
}
