/* nnfast.h — the whole C API of nnfast's kernels.
 *
 * C99, no Python headers. Row-major, C-contiguous float32 arrays throughout.
 * Conventions (STYLE.md): outputs first, then const inputs, then sizes, then scalars.
 * Gradients carry a `d` prefix. Every array argument has a shape comment.
 * Kernels trust their callers: shapes, dtypes, contiguity, label ranges and aliasing are
 * checked once at the Python edge (nnfast/_C.pyx and the Python API); kernels never allocate
 * memory the caller did not hand them, never print, never exit.
 *
 * The header is split into one section per kernel family (one .c file or folder each).
 */
#ifndef NNFAST_H
#define NNFAST_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t nf_int; /* sizes and element counts */

/* ===================================================================================== */
/* runtime.c — threads and CPU features                                                   */
/* ===================================================================================== */

void nf_set_num_threads(int n);          /* n >= 1; no-op without OpenMP */
int nf_get_num_threads(void);
int nf_has_openmp(void);
/* 1 if the running CPU (and OS) support the feature: "sse2", "avx2", "fma", "avx512f". */
int nf_cpu_has(const char *feature);

/* ===================================================================================== */
/* gemm/ — packed GEMM (frame + per-ISA micro-kernels + reference)                       */
/* ===================================================================================== */

/* Kernel sets: "avx512" (8x32 tile), "avx2" (6x16), "ref" (portable C 4x16 through the same
 * blocked frame); the best the CPU runs is chosen on first use, NNFAST_GEMM_ISA=ref|avx2|avx512
 * (read then) or nf_gemm_set_isa overrides. GEMMs of >= 1 MFLOP use omp_get_max_threads()
 * threads. Packing workspace is per thread, grown on demand and kept (no steady-state malloc;
 * concurrent callers never share it). Layout and blocking notes: csrc/gemm/gemm.c. */

/* C[M,N] = alpha * op(A) @ op(B) + beta * C
 *   op(A) = A[M,K] (lda >= K)   or, if transA, A[K,M]^T (lda >= M)
 *   op(B) = B[K,N] (ldb >= N)   or, if transB, B[N,K]^T (ldb >= K)
 *   C[M,N], ldc >= N. beta == 0: C is written without being read (NaN there is not kept).
 *   Any of M, N, K may be 0 (K == 0: C = beta*C). */
void nf_sgemm(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
              const float *A, nf_int lda, const float *B, nf_int ldb,
              float beta, float *C, nf_int ldc);
/* The plain triple loop, same contract: the fallback and the oracle of tests. */
void nf_sgemm_ref(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
                  const float *A, nf_int lda, const float *B, nf_int ldb,
                  float beta, float *C, nf_int ldc);
/* Name of the micro-kernel set in use: "avx512", "avx2", "ref". */
const char *nf_gemm_isa(void);
/* Force a kernel set ("auto", "ref", "avx2", "avx512"). 0 on success, -1 if this CPU or
 * build cannot run it (the selection is then unchanged). */
int nf_gemm_set_isa(const char *isa);

/* out[M,N] = sum_over_rows... : out[j] = beta*out[j] + sum_i x[i,j].  x[M,N], out[N]. */
void nf_colsum(float *out, const float *x, nf_int M, nf_int N, float beta);

/* Linear layer, PyTorch layout: weight[N,K] (out_features, in_features), bias[N] or NULL.
 * out[M,N] = inp[M,K] @ weight^T + bias */
void nf_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                       nf_int M, nf_int K, nf_int N);
/* Backward of nf_linear_forward. Any output pointer may be NULL (not needed).
 *   dinp[M,K]     = dout[M,N] @ weight[N,K]                 (overwritten)
 *   dweight[N,K] (+)= dout^T @ inp[M,K]                     (added if accumulate, else overwritten)
 *   dbias[N]     (+)= colsum(dout)                          (same rule) */
void nf_linear_backward(float *dinp, float *dweight, float *dbias,
                        const float *dout, const float *inp, const float *weight,
                        nf_int M, nf_int K, nf_int N, int accumulate);

/* ===================================================================================== */
/* act.c — activation forward and derivative kernels                                     */
/* ===================================================================================== */
/* (declarations added by the act.c owner) */

/* ===================================================================================== */
/* loss.c — fused loss value + gradient kernels                                          */
/* ===================================================================================== */
/* (declarations added by the loss.c owner) */

/* ===================================================================================== */
/* optim.c — fused optimizer updates over flat buffers                                   */
/* ===================================================================================== */
/* (declarations added by the optim.c owner) */

#ifdef __cplusplus
}
#endif
#endif /* NNFAST_H */
