/* gemm_ref.c — the plain GEMM anyone can check by eye.
 * Used as the fallback on CPUs without a tuned kernel set and as the oracle in tests.
 * Not fast, on purpose: no blocking, no packing, no threads. */
#include "nnfast.h"

void nf_sgemm_ref(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
                  const float *A, nf_int lda, const float *B, nf_int ldb,
                  float beta, float *C, nf_int ldc)
{
    for (nf_int i = 0; i < M; i++) {
        for (nf_int j = 0; j < N; j++) {
            float acc = 0.0f;
            for (nf_int p = 0; p < K; p++) {
                float a = transA ? A[p * lda + i] : A[i * lda + p];
                float b = transB ? B[j * ldb + p] : B[p * ldb + j];
                acc += a * b;
            }
            float *c = &C[i * ldc + j];
            *c = (beta == 0.0f) ? alpha * acc : alpha * acc + beta * *c;
        }
    }
}
