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

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t nf_int; /* sizes and element counts */

/* ===================================================================================== */
/* runtime.c — threads and CPU features                                                   */
/* ===================================================================================== */

/* One process-wide thread count (n >= 1; no-op without OpenMP): every parallel region asks
 * for num_threads(nf_get_num_threads()), so a call from any thread reaches the next kernel
 * in every thread. Until set: OpenMP's default (OMP_NUM_THREADS, else the CPUs). */
void nf_set_num_threads(int n);
int nf_get_num_threads(void);
int nf_has_openmp(void);
/* glibc only: keep up to keep_bytes of freed heap for reuse (see runtime.c); 0 or -1. */
int nf_malloc_keep(size_t keep_bytes);
/* 1 if the running CPU (and OS) support the feature: "sse2", "avx2", "fma", "avx512f",
 * "avx512_core" (F, BW, DQ and VL), "avx512bf16", "amx_bf16" (the first ask for it requests
 * the OS's tile permission). */
int nf_cpu_has(const char *feature);
/* Peak-FLOP probe for bench/ (see runtime.c): every thread of the OpenMP team runs `iters`
 * rounds of register-only FMA chains; returns the fp32 FLOPs done, *sink a value to keep. */
double nf_fma_peak(float *sink /* [1] */, nf_int iters);

/* ===================================================================================== */
/* gemm/ — packed GEMM (frame + per-ISA micro-kernels + reference)                       */
/* ===================================================================================== */

/* Kernel sets: "avx512" (8x32 tile), "avx2" (6x16), "ref" (portable C 4x16 through the same
 * blocked frame); the best the CPU runs is chosen on first use, NNFAST_GEMM_ISA=ref|avx2|avx512
 * (read then) or nf_gemm_set_isa overrides. GEMMs of >= 1 MFLOP use nf_get_num_threads()
 * threads. Packing workspace is per thread, grown on demand and kept until the thread ends
 * (no steady-state malloc; concurrent callers never share it). Layout and blocking notes:
 * csrc/gemm/gemm.c. */

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

/* A GEMM epilogue: fn(ctx, i0, m, j0, n) runs once for every finished block of C (all of K
 * summed in), rows [i0, i0+m) and columns [j0, j0+n) in the whole C's coordinates, on the
 * thread that computed it, right after it did (the block is still in that core's cache).
 * Blocks are disjoint and cover C; on several threads fn runs concurrently on different
 * blocks. The _epi forms below take one (or NULL) for the output named. */
typedef struct {
    void (*fn)(void *ctx, nf_int i0, nf_int m, nf_int j0, nf_int n);
    void *ctx;
} nf_gemm_epi;
void nf_linear_forward_epi(float *out, const float *inp, const float *weight,
                           const float *bias, nf_int M, nf_int K, nf_int N,
                           const nf_gemm_epi *epi);
void nf_linear_backward_epi(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *weight,
                            nf_int M, nf_int K, nf_int N, int accumulate,
                            const nf_gemm_epi *dinp_epi, const nf_gemm_epi *dweight_epi);

/* bf16 precision (autocast): the same products with both operands rounded to bfloat16
 * (nearest even) where they are packed, fp32 accumulation, C/bias/alpha/beta fp32. On
 * AMX-BF16 CPUs the tile is tdpbf16ps ("amx_bf16"), on AVX512-BF16 ones vdpbf16ps
 * ("avx512_bf16"); elsewhere the operands are rounded while packing and the fp32 tile runs
 * ("<isa>+round"): the same numbers, up to summation order. NNFAST_GEMM_BF16 (read on first
 * use) or nf_gemm_set_bf16: "auto" (the best), "emulate" (the rounding path), "avx512_bf16"
 * (vdpbf16ps even where AMX is; "auto" where the CPU lacks it). Shapes the fp32 set serves with its own kernels (an NT
 * product with N <= 16, few output rows) stay fp32: more accurate and faster than a mostly
 * idle bf16 tile. fp16 precision (autocast to float16): the same with both operands rounded to
 * IEEE float16 (nearest even; beyond 65504 they become inf, below 2^-14 subnormal halves)
 * while packing, on the fp32 tile ("<isa>+fp16"), for every shape (where a value overflows
 * must not depend on the product's shape).
 * prec: NF_PREC_FP32, NF_PREC_BF16 or NF_PREC_FP16. */
enum { NF_PREC_FP32 = 0, NF_PREC_BF16 = 1, NF_PREC_FP16 = 2 };
void nf_sgemm_prec(int prec, int transA, int transB, nf_int M, nf_int N, nf_int K,
                   float alpha, const float *A, nf_int lda, const float *B, nf_int ldb,
                   float beta, float *C, nf_int ldc);
const char *nf_gemm_bf16_isa(void);
const char *nf_gemm_fp16_isa(void);
int nf_gemm_set_bf16(const char *mode);
void nf_linear_forward_prec(int prec, float *out, const float *inp, const float *weight,
                            const float *bias, nf_int M, nf_int K, nf_int N,
                            const nf_gemm_epi *epi);
void nf_linear_backward_prec(int prec, float *dinp, float *dweight, float *dbias,
                             const float *dout, const float *inp, const float *weight,
                             nf_int M, nf_int K, nf_int N, int accumulate,
                             const nf_gemm_epi *dinp_epi, const nf_gemm_epi *dweight_epi);
/* The bf16 tile's ceiling, as nf_fma_peak: flops done (2 per bf16 product) by every
 * thread's rounds of independent tdpbf16ps (AMX; iters/4 rounds) or vdpbf16ps chains;
 * 0 when the CPU has no AVX512-BF16. */
double nf_bf16_peak(float *sink /* [1] */, nf_int iters);

/* ===================================================================================== */
/* act.c — activation forward and derivative kernels                                     */
/* ===================================================================================== */
/* Elementwise: n elements of C-contiguous float32; any n >= 0. Forward may run in place
 * (out == inp), backward with dinp == dout. Backward = dout * f'(x), overwritten. */
void nf_relu_forward(float *out, const float *inp, nf_int n);                 /* [n], [n] */
void nf_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n);
void nf_leaky_relu_forward(float *out, const float *inp, nf_int n, float negative_slope);
void nf_leaky_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                            float negative_slope);
void nf_elu_forward(float *out, const float *inp, nf_int n, float alpha);
/* from the input (torch's non-inplace formula): x <= 0 ? dout*alpha*exp(x) : dout */
void nf_elu_backward(float *dinp, const float *dout, const float *inp, nf_int n, float alpha);
void nf_sigmoid_forward(float *out, const float *inp, nf_int n);
/* sigmoid/tanh derivatives read the saved forward output out[n], not the input */
void nf_sigmoid_backward(float *dinp, const float *dout, const float *out, nf_int n);
void nf_tanh_forward(float *out, const float *inp, nf_int n);
void nf_tanh_backward(float *dinp, const float *dout, const float *out, nf_int n);
/* approximate_tanh: 0 = exact (erf), 1 = tanh approximation */
void nf_gelu_forward(float *out, const float *inp, nf_int n, int approximate_tanh);
void nf_gelu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                      int approximate_tanh);
void nf_silu_forward(float *out, const float *inp, nf_int n);
void nf_silu_backward(float *dinp, const float *dout, const float *inp, nf_int n);

/* Activation kinds, as nnfast/_C_act.pxi numbers them. */
enum { NF_ACT_RELU = 0, NF_ACT_LEAKY_RELU, NF_ACT_ELU, NF_ACT_SIGMOID, NF_ACT_TANH,
       NF_ACT_GELU, NF_ACT_GELU_TANH, NF_ACT_SILU };
/* The kernels above by kind (0 <= kind <= NF_ACT_SILU); a: the slope (leaky_relu) or
 * alpha (elu), else unused. saved: the forward output for sigmoid/tanh, else the input.
 * threaded == 0 stays on the calling thread (for callers already inside a parallel
 * region); the result is the same either way. */
void nf_act_forward(int kind, float *out, const float *inp, nf_int n, float a, int threaded);
void nf_act_backward(int kind, float *dinp, const float *dout, const float *saved, nf_int n,
                     float a, int threaded);

/* PReLU over inp[N, C, S] with weight[C] (C == 1: one shared slope).
 * Backward: dinp[N,C,S] and dweight[C] are overwritten; either may be NULL. */
void nf_prelu_forward(float *out, const float *inp, const float *weight,
                      nf_int N, nf_int C, nf_int S);
void nf_prelu_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                       const float *weight, nf_int N, nf_int C, nf_int S);

/* Softmax / LogSoftmax along D of inp[outer, D, inner] (dim of a tensor: outer = product of
 * leading sizes, inner = product of trailing sizes). Backward reads the saved output.
 * out must not alias inp (the exponentials are staged in out). */
void nf_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D, nf_int inner);
void nf_softmax_backward(float *dinp, const float *dout, const float *out,
                         nf_int outer, nf_int D, nf_int inner);
void nf_log_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D,
                            nf_int inner);
void nf_log_softmax_backward(float *dinp, const float *dout, const float *out,
                             nf_int outer, nf_int D, nf_int inner);

/* Test hook: out[n] = exp (which 0), expm1 (1, x <= 20), tanh (2) or erf (3) of inp[n], by
 * act.c's vectorisable versions (ref 0) or by libm (ref 1). */
void nf_act_math(float *out, const float *inp, nf_int n, int which, int ref);

/* ===================================================================================== */
/* act_extra.c — the less common elementwise activations                                 */
/* ===================================================================================== */
/* Kinds, as nnfast/_C_act.pxi numbers them. a, b: the op's two scalars (softplus: beta,
 * threshold; hardtanh: min_val, max_val; threshold: threshold, value; celu: alpha,
 * 1 / alpha; unused by the others). Backward reads the forward input (inp[n]), writes
 * dinp[n] = dout[n] * f'(inp). out may be inp, dinp may be dout. Returns -1 for an
 * unknown kind (nothing written), else 0. */
enum { NF_ACTX_SOFTPLUS = 0, NF_ACTX_HARDTANH, NF_ACTX_MISH, NF_ACTX_HARDSWISH,
       NF_ACTX_HARDSIGMOID, NF_ACTX_SOFTSIGN, NF_ACTX_LOGSIGMOID, NF_ACTX_THRESHOLD,
       NF_ACTX_CELU, NF_ACTX_SELU, NF_ACTX_COUNT };
int nf_act_extra_forward(int kind, float *out, const float *inp, nf_int n, float a, float b);
int nf_act_extra_backward(int kind, float *dinp, const float *dout, const float *inp, nf_int n,
                          float a, float b);

/* ===================================================================================== */
/* loss.c — fused loss value + gradient kernels                                          */
/* ===================================================================================== */
/* Every kernel returns the reduced loss as a double: mean or sum, or for reduction none the
 * plain sum of the per-element losses (a free finiteness check for the caller).
 * Optional outputs may be NULL: out (per-element losses, for reduction none), dinput,
 * dtarget. Gradient buffers are overwritten with d(returned value)/d(input) for an upstream
 * gradient of 1 (for reduction none: d(out[i])/d(input[i]) per element). */
enum { NF_REDUCTION_NONE = 0, NF_REDUCTION_MEAN = 1, NF_REDUCTION_SUM = 2 }; /* = ATen's */

/* Pointwise regression losses on d = input - target, all arrays [n]; weight[n] or NULL
 * multiplies each element's loss. Returns scale * sum_i w_i l_i, and dinput = scale * w * dl/dd,
 * dtarget = -dinput. The caller picks scale: 1 (sum, none), 1/n or 1/sum(w) (mean). */
double nf_mse_loss(float *out, float *dinput, float *dtarget, const float *input,
                   const float *target, const float *weight, nf_int n, float scale);
double nf_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                  const float *target, const float *weight, nf_int n, float scale);
double nf_huber_loss(float *out, float *dinput, float *dtarget, const float *input,
                     const float *target, const float *weight, nf_int n, float scale,
                     float delta);                                   /* delta > 0 */
double nf_smooth_l1_loss(float *out, float *dinput, float *dtarget, const float *input,
                         const float *target, nf_int n, float scale, float beta); /* beta > 0 */

/* Cross entropy = log-softmax over C + NLL, fused. input[outer, C, inner] logits (an
 * (N, C, d1, ...) tensor with inner = d1*...), target[outer, inner] class indices, each in
 * [0, C) or == ignore_index; weight[C] or NULL; 0 <= label_smoothing <= 1.
 * out[outer, inner] or NULL; dinput[outer, C, inner] or NULL.
 * Mean divides by the sum of weight[target] over non-ignored positions (0/0 = NaN if none). */
double nf_cross_entropy_loss(float *out, float *dinput, const float *input,
                             const int64_t *target, const float *weight, nf_int outer,
                             nf_int C, nf_int inner, nf_int ignore_index, int reduction,
                             float label_smoothing);
/* NLL on log-probabilities, same layout and rules (loss = -weight[y] * input[o, y, j]). */
double nf_nll_loss(float *out, float *dinput, const float *input, const int64_t *target,
                   const float *weight, nf_int outer, nf_int C, nf_int inner,
                   nf_int ignore_index, int reduction);
/* Cross entropy with class-probability targets: input, target, dinput, dtarget
 * [outer, C, inner]; out[outer, inner]; weight[C] or NULL. Mean divides by outer*inner. */
double nf_cross_entropy_prob_loss(float *out, float *dinput, float *dtarget, const float *input,
                                  const float *target, const float *weight, nf_int outer,
                                  nf_int C, nf_int inner, int reduction,
                                  float label_smoothing);

/* Binary cross entropy on probabilities input[n] in [0, 1], target[n]; weight repeats with
 * period wperiod (weight[i % wperiod]; a weight broadcast over the trailing dimensions of
 * the input) or is NULL. Returns scale * sum (scale as for the pointwise losses). */
double nf_bce_loss(float *out, float *dinput, float *dtarget, const float *input,
                   const float *target, const float *weight, nf_int wperiod, nf_int n,
                   float scale);
/* BCE with logits input[n]; pos_weight repeats with period qperiod, or is NULL. */
double nf_bce_logits_loss(float *out, float *dinput, float *dtarget, const float *input,
                          const float *target, const float *weight, nf_int wperiod,
                          const float *pos_weight, nf_int qperiod, nf_int n, float scale);

/* ===================================================================================== */
/* optim.c — fused optimizer updates over flat buffers                                   */
/* ===================================================================================== */
/* One loop per optimizer over n contiguous elements (a whole parameter group). Arrays are
 * updated in place and must not overlap. Scalars PyTorch computes in Python double (step
 * sizes, bias corrections, 1 - beta) come in precomputed, rounded to float; the float32 op
 * order inside follows torch 2.13's single-tensor CPU implementations. n may be 0. */

/* SGD. param[n], momentum_buf[n] or NULL (momentum == 0), grad[n].
 *   neg_lr = -lr, one_minus_dampening = 1 - dampening; init_buf: first step (buf = grad). */
void nf_sgd_step(float *param, float *momentum_buf, const float *grad, nf_int n, float neg_lr,
                 float weight_decay, float momentum, float one_minus_dampening, int nesterov,
                 int maximize, int init_buf);

/* Adam / AdamW. param[n], exp_avg[n], exp_avg_sq[n], max_exp_avg_sq[n] or NULL (no
 * amsgrad), grad[n].
 *   param_scale = 1 - lr*wd for AdamW's decoupled decay (1: none); weight_decay = the L2 term
 *   added to the gradient (Adam; 0: none); beta1_weight = 1 - beta1; neg_step_size =
 *   -lr / (1 - beta1^step); bias_correction2_sqrt = sqrt(1 - beta2^step). */
void nf_adam_step(float *param, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                  const float *grad, nf_int n, float param_scale, float weight_decay,
                  float beta1_weight, float beta2, float one_minus_beta2,
                  float bias_correction2_sqrt, float eps, float neg_step_size, int maximize);

/* RMSprop. param[n], square_avg[n], grad_avg[n] or NULL (not centered), momentum_buf[n] or
 * NULL (momentum == 0), grad[n]. */
void nf_rmsprop_step(float *param, float *square_avg, float *grad_avg, float *momentum_buf,
                     const float *grad, nf_int n, float neg_lr, float alpha,
                     float one_minus_alpha, float eps, float weight_decay, float momentum,
                     int maximize);

/* Adagrad. param[n], sum[n], grad[n]; neg_clr = -lr / (1 + (step - 1) * lr_decay). */
void nf_adagrad_step(float *param, float *sum, const float *grad, nf_int n, float neg_clr,
                     float weight_decay, float eps, int maximize);

/* optim_extra.c — the less common optimizers, same conventions. Scalars are computed by
 * nnfast/optim/_functional_extra.py exactly as torch 2.13 computes them in Python double.
 * Adadelta. param[n], square_avg[n], acc_delta[n], grad[n]; neg_lr = -lr. */
void nf_adadelta_step(float *param, float *square_avg, float *acc_delta, const float *grad,
                      nf_int n, float neg_lr, float rho, float one_minus_rho, float eps,
                      float weight_decay, int maximize);
/* Adamax. param[n], exp_avg[n], exp_inf[n], grad[n]; beta1_weight = 1 - beta1,
 * neg_clr = -lr / (1 - beta1^step). */
void nf_adamax_step(float *param, float *exp_avg, float *exp_inf, const float *grad, nf_int n,
                    float weight_decay, float beta1_weight, float beta2, float eps,
                    float neg_clr, int maximize);
/* NAdam. param[n], exp_avg[n], exp_avg_sq[n], grad[n].
 *   decoupled: decay = 1 - lr*wd scales p (NAdamW); else decay = wd, the L2 term (0: none).
 *   c_grad = -lr (1 - mu) / (1 - mu_product), c_avg = -lr mu_next / (1 - mu_product_next). */
void nf_nadam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                   nf_int n, float decay, float beta1_weight, float beta2,
                   float one_minus_beta2, float bias_correction2, float eps, float c_grad,
                   float c_avg, int maximize, int decoupled);
/* RAdam. param[n], exp_avg[n], exp_avg_sq[n], grad[n]; decay as NAdam; rectify: rho_t > 5
 * (then rect is the variance rectification term and bias_correction2_sqrt is used). */
void nf_radam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                   nf_int n, float decay, float beta1_weight, float beta2,
                   float one_minus_beta2, float bias_correction1, float lr,
                   float bias_correction2_sqrt, float rect, float eps, int maximize,
                   int decoupled, int rectify);
/* ASGD. param[n], ax[n], grad[n]; param_scale = 1 - lambd*eta, neg_eta = -eta; average:
 * mu != 1 (ax moves towards p by mu; else ax = p). */
void nf_asgd_step(float *param, float *ax, const float *grad, nf_int n, float weight_decay,
                  float param_scale, float neg_eta, float mu, int maximize, int average);
/* Rprop. param[n], prev[n], step_size[n], grad[n]. */
void nf_rprop_step(float *param, float *prev, float *step_size, const float *grad, nf_int n,
                   float etaminus, float etaplus, float step_size_min, float step_size_max,
                   int maximize);

/* One of the updates above as a record, for a caller that decides the update before
 * it can run it (nf_mlp_step runs them after its backward pass). state[] and s[] / flag[]
 * hold the kernel's state buffers and its float / int arguments in its own argument order:
 *   SGD      state {momentum_buf}                    s {neg_lr, weight_decay, momentum,
 *            one_minus_dampening}                    flag {nesterov, maximize, init_buf}
 *   ADAM     state {exp_avg, exp_avg_sq, max_exp_avg_sq}   s {param_scale, weight_decay,
 *            beta1_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
 *            neg_step_size}                          flag {maximize}
 *   RMSPROP  state {square_avg, grad_avg, momentum_buf}    s {neg_lr, alpha,
 *            one_minus_alpha, eps, weight_decay, momentum}  flag {maximize}
 *   ADAGRAD  state {sum}                             s {neg_clr, weight_decay, eps}
 *            flag {maximize}
 *   ADADELTA state {square_avg, acc_delta}   s {neg_lr, rho, one_minus_rho, eps,
 *            weight_decay}                   flag {maximize}
 *   ADAMAX   state {exp_avg, exp_inf}        s {weight_decay, beta1_weight, beta2, eps,
 *            neg_clr}                        flag {maximize}
 *   NADAM    state {exp_avg, exp_avg_sq}     s {decay, beta1_weight, beta2, one_minus_beta2,
 *            bias_correction2, eps, c_grad, c_avg}   flag {maximize, decoupled}
 *   RADAM    state {exp_avg, exp_avg_sq}     s {decay, beta1_weight, beta2, one_minus_beta2,
 *            bias_correction1, lr, bias_correction2_sqrt, rect, eps}
 *            flag {maximize, decoupled, rectify}
 *   ASGD     state {ax}                      s {weight_decay, param_scale, neg_eta, mu}
 *            flag {maximize, average}
 *   RPROP    state {prev, step_size}         s {etaminus, etaplus, step_size_min,
 *            step_size_max}                  flag {maximize}
 * Unused entries are ignored; optional buffers are NULL as the kernels take them. */
enum {
    NF_UPDATE_SGD = 1, NF_UPDATE_ADAM, NF_UPDATE_RMSPROP, NF_UPDATE_ADAGRAD,
    NF_UPDATE_ADADELTA, NF_UPDATE_ADAMAX, NF_UPDATE_NADAM, NF_UPDATE_RADAM, NF_UPDATE_ASGD,
    NF_UPDATE_RPROP
};
typedef struct {
    int kind;
    nf_int n;
    float *param;
    const float *grad;
    float *state[3];
    float s[10];
    int flag[3];
} nf_update;

/* Runs one record (an unknown kind does nothing); nf_update_run_extra runs the kinds of
 * optim_extra.c (nf_update_run hands them on). */
void nf_update_run(const nf_update *u);
void nf_update_run_extra(const nf_update *u);

/* Clipping helpers. x[n].
 *   nf_sumsq: sum of squares accumulated in double.  nf_maxabs: max |x| (NaN if any NaN).
 *   nf_scale: x *= s.  nf_clamp: x = min(max(x, lo), hi). */
double nf_sumsq(const float *x, nf_int n);
float nf_maxabs(const float *x, nf_int n);
void nf_scale(float *x, nf_int n, float s);
void nf_clamp(float *x, nf_int n, float lo, float hi);

/* ===================================================================================== */
/* dropout.c — dropout masks from a counter-based RNG                                    */
/* ===================================================================================== */

/* Random bits (see dropout.c): element i of a call gets 32 bits u(i), the low (i even) or
 * high (i odd) half of the (i/2)-th output of SplitMix64 seeded with `seed`. Element i is
 * kept when u(i) >= thresh; callers pass thresh = floor(p * 2^32) for 0 < p < 1 and
 * scale = 1 / (1 - p) rounded to float. Results never depend on the thread count. */

/* out[n] = inp[n] * (keep ? scale : 0); mask[n] (or NULL: not stored) = keep (0/1).
 * out may be inp. */
void nf_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int n, uint64_t seed,
                        uint32_t thresh, float scale);
/* The plain one-element-at-a-time loop, same contract: the oracle of tests. */
void nf_dropout_forward_ref(float *out, uint8_t *mask, const float *inp, nf_int n,
                            uint64_t seed, uint32_t thresh, float scale);
/* dinp[n] = dout[n] * (mask[n] ? scale : 0). dinp may be dout. */
void nf_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, nf_int n,
                         float scale);

/* Channel dropout over inp[R, S] (a row = one sample's channel): row r is kept when
 * u(r) >= thresh; out[R, S] = inp * (keep ? scale : 0); mask[R] or NULL. out may be inp. */
void nf_feature_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int R,
                                nf_int S, uint64_t seed, uint32_t thresh, float scale);
/* dinp[R, S] = dout[R, S] * (mask[R] ? scale : 0). dinp may be dout. */
void nf_feature_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, nf_int R,
                                 nf_int S, float scale);

/* L1/L2 penalties (the sum of squares is nf_sumsq above).
 *   nf_sumabs: sum |x[n]| accumulated in double, fixed order.
 *   nf_l1l2_backward: dinp[n] = a * sign(inp[n]) + b * inp[n], sign(0) = sign(NaN) = 0;
 *   with b == 0 the b term is left out (an infinite inp gives +-a, not NaN). */
double nf_sumabs(const float *x, nf_int n);
void nf_l1l2_backward(float *dinp, const float *inp, nf_int n, float a, float b);

/* ===================================================================================== */
/* norm.c — BatchNorm and LayerNorm forward/backward                                     */
/* ===================================================================================== */
/* BatchNorm over x[N, C, S] (S = product of the spatial dims; 1 for (N, C) input) and
 * LayerNorm over x[M, D] (D = product of the normalized trailing dims). Sums in double,
 * per-element work in float32 in torch's formula order; outputs are overwritten. Pointers
 * marked "or NULL" may be NULL; any size may be 0. Layout and numerics notes: csrc/norm.c.
 * The *_ref variants are the plain per-channel loops (same contract): tests' oracle. */

/* Training statistics. mean[C], invstd[C] = 1/sqrt(biased var + eps) (written);
 * running_mean[C], running_var[C] or NULL: r = momentum * batch + (1 - momentum) * r, the
 * variance unbiased (n/(n-1), left alone when N*S == 1). x[N,C,S]. */
void nf_batch_norm_stats(float *mean, float *invstd, float *running_mean, float *running_var,
                         const float *x, nf_int N, nf_int C, nf_int S, double momentum,
                         double eps);
void nf_batch_norm_stats_ref(float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, nf_int N, nf_int C, nf_int S,
                             double momentum, double eps);
/* out[N,C,S] = x * alpha[c] + beta[c], alpha = invstd * weight, beta = bias - mean * alpha.
 * x[N,C,S], mean[C], invstd[C], weight[C] or NULL (1), bias[C] or NULL (0). out may be x. */
void nf_batch_norm_apply(float *out, const float *x, const float *mean, const float *invstd,
                         const float *weight, const float *bias, nf_int N, nf_int C, nf_int S);
void nf_batch_norm_apply_ref(float *out, const float *x, const float *mean, const float *invstd,
                             const float *weight, const float *bias, nf_int N, nf_int C,
                             nf_int S);
/* Backward of apply with the statistics of the forward: batch mean/invstd when training
 * (dinp includes the paths through mean and var), running mean and 1/sqrt(var + eps) when
 * not (they are constants). dinp[N,C,S], dweight[C], dbias[C] each or NULL; dout[N,C,S],
 * x[N,C,S], mean[C], invstd[C], weight[C] or NULL. */
void nf_batch_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *x, const float *mean, const float *invstd,
                            const float *weight, nf_int N, nf_int C, nf_int S, int training);
void nf_batch_norm_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *invstd,
                                const float *weight, nf_int N, nf_int C, nf_int S,
                                int training);

/* LayerNorm. out[M,D] = (x - mean) * rstd * weight + bias per row; mean[M], rstd[M] =
 * 1/sqrt(biased var + eps) (written, for the backward). x[M,D], weight[D] or NULL,
 * bias[D] or NULL. */
void nf_layer_norm_forward(float *out, float *mean, float *rstd, const float *x,
                           const float *weight, const float *bias, nf_int M, nf_int D,
                           double eps);
/* dinp[M,D], dweight[D], dbias[D] each or NULL; dout[M,D], x[M,D], mean[M], rstd[M],
 * weight[D] or NULL. */
void nf_layer_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *x, const float *mean, const float *rstd,
                            const float *weight, nf_int M, nf_int D);

/* ===================================================================================== */
/* conv.c, pool.c — Conv2d (im2col/col2im on the GEMM; 3x3 stride 1: Winograd) and pools */
/* ===================================================================================== */
/* Geometry of one conv2d call (NCHW). Input inp[N, C, H, W], weight[OC, C/G, KH, KW],
 * out[N, OC, OH, OW]. ph/pw are the top/left paddings; the bottom/right ones are implied by
 * OH/OW (so torch's asymmetric "same" padding is just OH == H with ph = total/2).
 * The caller guarantees G >= 1 divides C and OC, strides/dilations >= 1, OH, OW >= 0 and
 * every window starting inside the padded input. */
typedef struct {
    nf_int N, C, H, W;
    nf_int OC, KH, KW;
    nf_int OH, OW;
    nf_int sh, sw, ph, pw, dh, dw;
    nf_int G;
} nf_conv2d_geom;

/* Floats of workspace nf_conv2d_forward (backward = 0) or nf_conv2d_backward (1) wants with
 * the current thread count. May be 0 (then ws may be NULL). */
nf_int nf_conv2d_workspace(const nf_conv2d_geom *g, int backward);
/* out = conv2d(inp, weight) + bias (bias[OC] or NULL). ws[ws_size] scratch from
 * nf_conv2d_workspace (a smaller one makes it use fewer threads; >= the one-thread size). */
void nf_conv2d_forward(float *out, float *ws, nf_int ws_size, const float *inp,
                       const float *weight, const float *bias, const nf_conv2d_geom *g,
                       int prec);
/* Backward of nf_conv2d_forward; any gradient pointer may be NULL (not needed).
 *   dinp[N,C,H,W]          overwritten
 *   dweight[OC,C/G,KH,KW] (+)= sum over the batch   (added if accumulate, else overwritten)
 *   dbias[OC]            (+)= sum of dout over N, OH, OW   (same rule)
 * prec (both): the GEMMs' precision, NF_PREC_FP32 or NF_PREC_BF16 (autocast). */
void nf_conv2d_backward(float *dinp, float *dweight, float *dbias, float *ws, nf_int ws_size,
                        const float *dout, const float *inp, const float *weight,
                        const nf_conv2d_geom *g, int accumulate, int prec);
/* The same with an epilogue (nf_gemm_epi's contract) on blocks of out[N, OC*OH*OW] as they
 * are final (forward), or of dinp[N, C*H*W] (backward; not run when dinp is NULL). One
 * exception to that contract: where Winograd falls back on im2col (an inf or NaN), the
 * epilogue may run on a block twice; the last run sees the final values.
 * dout_prologue (backward, or NULL): what writes dout: fn(ctx, n, m, 0, OC*OH*OW) writes
 * images n .. n+m-1 and is called before their dout is first read (Winograd: image by
 * image on the thread that takes it, just before its first tile row, so the values are
 * still in its cache; im2col: once for all images, from the calling thread), at least
 * once per image and perhaps twice (a fallback); it must write the same values each time. */
void nf_conv2d_forward_epi(float *out, float *ws, nf_int ws_size, const float *inp,
                           const float *weight, const float *bias, const nf_conv2d_geom *g,
                           int prec, const nf_gemm_epi *epi);
void nf_conv2d_backward_epi(float *dinp, float *dweight, float *dbias, float *ws,
                            nf_int ws_size, const float *dout, const float *inp,
                            const float *weight, const nf_conv2d_geom *g, int accumulate,
                            int prec, const nf_gemm_epi *dout_prologue,
                            const nf_gemm_epi *dinp_epi);
/* The direct loops (double accumulation in the forward): the oracle of tests. The backward
 * overwrites every non-NULL output. */
void nf_conv2d_forward_ref(float *out, const float *inp, const float *weight,
                           const float *bias, const nf_conv2d_geom *g);
void nf_conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, const nf_conv2d_geom *g);
/* Column matrix of samples n0 .. n0+nb-1: col[C*KH*KW, nb*OH*OW], and its adjoint (adds
 * into dinp[N, C, H, W]). */
void nf_im2col(float *col, const float *inp, const nf_conv2d_geom *g, nf_int n0, nf_int nb);
void nf_col2im(float *dinp, const float *col, const nf_conv2d_geom *g, nf_int n0, nf_int nb);

/* Pooling over planes inp[P, H, W] (P = N*C) with PyTorch's CPU rules (see pool.c); output
 * sizes come from the caller. Backward kernels overwrite dinp[P, H, W]. */
/* out[P,OH,OW], idx[P,OH,OW] = argmax as ih*W + iw (first of ties; NaN wins) */
void nf_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P, nf_int H,
                           nf_int W, nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh,
                           nf_int sw, nf_int ph, nf_int pw, nf_int dh, nf_int dw);
void nf_max_pool2d_backward(float *dinp, const float *dout, const int64_t *idx, nf_int P,
                            nf_int H, nf_int W, nf_int OH, nf_int OW);
/* ... with an epilogue (nf_gemm_epi's contract) on each plane of dinp viewed as [P, H*W]. */
void nf_max_pool2d_backward_epi(float *dinp, const float *dout, const int64_t *idx, nf_int P,
                                nf_int H, nf_int W, nf_int OH, nf_int OW,
                                const nf_gemm_epi *epi);
/* divisor_override: 0 = none */
void nf_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H, nf_int W,
                           nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh, nf_int sw,
                           nf_int ph, nf_int pw, int count_include_pad,
                           nf_int divisor_override);
void nf_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H, nf_int W,
                            nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh, nf_int sw,
                            nf_int ph, nf_int pw, int count_include_pad,
                            nf_int divisor_override);
/* OH, OW >= 1 */
void nf_adaptive_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H,
                                    nf_int W, nf_int OH, nf_int OW);
void nf_adaptive_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H,
                                     nf_int W, nf_int OH, nf_int OW);

/* Adaptive max pooling: windows as adaptive avg (see pool.c); out[P,OH,OW], idx[P,OH,OW] =
 * argmax as ih*W + iw (first of ties; NaN wins). Its backward is nf_max_pool2d_backward. */
void nf_adaptive_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P,
                                    nf_int H, nf_int W, nf_int OH, nf_int OW);

/* ===================================================================================== */
/* norm_group.c — GroupNorm forward/backward                                             */
/* ===================================================================================== */
/* x[N, C, S] in G groups of C/G channels (G divides C); rows of (C/G)*S values are
 * normalised (mean[N*G], rstd[N*G] written), then y = x * rstd*w[c] + (b[c] - rstd*w[c]*mean).
 * weight[C], bias[C] or NULL. Backward: dinp[N,C,S], dweight[C], dbias[C] each or NULL
 * (overwritten); ws holds 2*N*C doubles of scratch. */
void nf_group_norm_forward(float *out, float *mean, float *rstd, const float *x,
                           const float *weight, const float *bias, nf_int N, nf_int C,
                           nf_int S, nf_int G, double eps);
void nf_group_norm_backward(float *dinp, float *dweight, float *dbias, double *ws,
                            const float *dout, const float *x, const float *mean,
                            const float *rstd, const float *weight, nf_int N, nf_int C,
                            nf_int S, nf_int G);

/* ===================================================================================== */
/* upsample.c — nearest and bilinear resizing of planes [P, H, W]                        */
/* ===================================================================================== */
/* Index/weight tables from the caller (torch's source-index rules), every index inside the
 * plane. nearest: out[p,oh,ow] = inp[p, hi[oh], wi[ow]]. bilinear: rows h0/h1[OH] with the
 * weight lh[OH] of row h1, columns w0/w1[OW] with lw[OW]. Backward kernels overwrite
 * dinp[P, H, W]. */
void nf_upsample_nearest2d_forward(float *out, const float *inp, const nf_int *hi,
                                   const nf_int *wi, nf_int P, nf_int H, nf_int W, nf_int OH,
                                   nf_int OW);
void nf_upsample_nearest2d_backward(float *dinp, const float *dout, const nf_int *hi,
                                    const nf_int *wi, nf_int P, nf_int H, nf_int W, nf_int OH,
                                    nf_int OW);
void nf_upsample_bilinear2d_forward(float *out, const float *inp, const nf_int *h0,
                                    const nf_int *h1, const float *lh, const nf_int *w0,
                                    const nf_int *w1, const float *lw, nf_int P, nf_int H,
                                    nf_int W, nf_int OH, nf_int OW);
void nf_upsample_bilinear2d_backward(float *dinp, const float *dout, const nf_int *h0,
                                     const nf_int *h1, const float *lh, const nf_int *w0,
                                     const nf_int *w1, const float *lw, nf_int P, nf_int H,
                                     nf_int W, nf_int OH, nf_int OW);

/* ===================================================================================== */
/* rnn.c — fused gate kernels for RNN, LSTM and GRU cells; embedding                     */
/* ===================================================================================== */
/* One recurrent layer in one direction over a whole sequence, time loop in C (layout and
 * formulas: csrc/rnn.c). mode: NF_RNN_TANH, NF_RNN_RELU, NF_RNN_LSTM, NF_RNN_GRU; G = 1, 1,
 * 4, 3 gate blocks in PyTorch's order (LSTM i,f,g,o; GRU r,z,n). reverse: run t = T-1..0.
 * Every size >= 1. Output rows are strided: out[T, B, ldo] with this direction's H columns
 * at out (callers offset the pointer for the second direction), ldo >= H. */
#define NF_RNN_TANH 0
#define NF_RNN_RELU 1
#define NF_RNN_LSTM 2
#define NF_RNN_GRU 3
/* out[T,B,ldo] hidden states; hn[B,H]; cn[B,H] (LSTM, else NULL);
 * gates[T,B,G*H] saved activated gates; saved[T,B,H] LSTM cell states / GRU W_hn h + b_hn
 * (unused by RNN: may be NULL); ws[B,G*H] scratch;
 * x[T,B,I]; w_ih[G*H,I]; w_hh[G*H,H]; b_ih[G*H], b_hh[G*H] or NULL; h0[B,H]; c0[B,H] (LSTM) */
void nf_rnn_layer_forward(float *out, float *hn, float *cn, float *gates, float *saved,
                          float *ws, const float *x, const float *w_ih, const float *w_hh,
                          const float *b_ih, const float *b_hh, const float *h0,
                          const float *c0, nf_int T, nf_int B, nf_int I, nf_int H, nf_int ldo,
                          int mode, int reverse, int prec);
/* Backward of nf_rnn_layer_forward (same x, weights, h0, c0, out, gates, saved).
 * dx[T,B,I] overwritten (added if dx_accumulate) or NULL; dw_ih[G*H,I], dw_hh[G*H,H],
 * db_ih[G*H], db_hh[G*H] ADDED into, each may be NULL; dh0[B,H], dc0[B,H] overwritten or
 * NULL; dg[T,B,G*H] scratch; dgh[T,B,G*H] scratch for GRU (else NULL); ws[B,2H] scratch;
 * dout[T,B,ldo] gradient of out (same strides); dhn[B,H], dcn[B,H] or NULL (zero).
 * prec (both): the GEMMs' precision, NF_PREC_FP32 or NF_PREC_BF16 (autocast). */
void nf_rnn_layer_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                           float *dh0, float *dc0, float *dg, float *dgh, float *ws,
                           const float *dout, const float *dhn, const float *dcn,
                           const float *x, const float *w_ih, const float *w_hh,
                           const float *h0, const float *c0, const float *out,
                           const float *gates, const float *saved, nf_int T, nf_int B,
                           nf_int I, nf_int H, nf_int ldo, int mode, int reverse,
                           int dx_accumulate, int prec);
/* Embedding gather: out[N,D] = weight[idx[n], :]; weight[V,D]; idx[N] all in [0, V). */
void nf_embedding_forward(float *out, const float *weight, const int64_t *idx, nf_int N,
                          nf_int D);
/* Scatter-add: dweight[idx[n], :] += scale[idx[n]] * dout[n, :] for idx[n] != padding_idx
 * (pass -1 for none); scale[V] or NULL (1). dweight[V,D] is added into. */
void nf_embedding_backward(float *dweight, const float *dout, const int64_t *idx,
                           const float *scale, nf_int N, nf_int D, nf_int padding_idx);

/* ===================================================================================== */
/* resample.c — k-nearest-neighbour selection for SMOTE                                  */
/* ===================================================================================== */
/* For each row i of g (M, N): the k smallest of v_ij = g[i, j] + colnorm[j] (colnorm (N) may
 * be NULL), skipping column i + self_offset when self_offset >= 0; written ascending (ties:
 * lower column first) to idx (M, k) and dist (M, k). With g = -2 A B^T and colnorm = ||b_j||^2
 * these are the k nearest rows of B to each row of A (distances minus ||a_i||^2). Rows with
 * fewer than k admissible columns are padded with idx -1, dist +inf. _ref: the plain loop. */
void nf_knn_select(nf_int *idx, float *dist, const float *g, const float *colnorm,
                   nf_int M, nf_int N, nf_int k, nf_int self_offset);
void nf_knn_select_ref(nf_int *idx, float *dist, const float *g, const float *colnorm,
                       nf_int M, nf_int N, nf_int k, nf_int self_offset);

/* ===================================================================================== */
/* step.c — one captured MLP or CNN training step (nnfast.compile_step)                   */
/* ===================================================================================== */
enum { NF_MLP_LINEAR = 0, NF_MLP_ACT = 1, NF_MLP_DROPOUT = 2, NF_MLP_ACT_EXTRA = 3,
       NF_MLP_BATCHNORM = 4, NF_MLP_LAYERNORM = 5, NF_MLP_RES_BEGIN = 6, NF_MLP_RES_END = 7,
       NF_MLP_CONV2D = 8, NF_MLP_MAXPOOL2D = 9, NF_MLP_AVGPOOL2D = 10,
       NF_MLP_ADAPTIVE_AVGPOOL2D = 11 };
enum { NF_MLP_LOSS_CROSS_ENTROPY = 0, NF_MLP_LOSS_MSE = 1 };

/* One op of the sequence, for a batch of M rows. Linear: weight[n_out, n_in], bias[n_out]
 * or NULL, dweight/dbias the same shapes (overwritten by backward; dbias NULL without
 * bias). Act (act.c's kinds), act_extra (act_extra.c's NF_ACTX_* kinds, reading its input
 * in backward) and dropout: n_out == n_in. out[M, n_out] receives the op's output; dinp[M, n_in]
 * the gradient w.r.t. its input, or NULL when no op below needs one (backward stops
 * there). Dropout: active == 0 is the identity (eval mode, p == 0); mask[M * n_in] (or
 * NULL when dinp is NULL and no op below has a gradient), seed, thresh, scale as
 * nf_dropout_forward takes them. inp is set by nf_mlp_step (the op's input, kept for
 * backward). */
typedef struct {
    int op, act, saves_output, active;
    float a, b;   /* the activation's scalars (act.c's a; act_extra.c's a and b) */
    nf_int n_in, n_out;
    const float *weight, *bias;
    float *dweight, *dbias;
    float *out, *dinp;
    uint8_t *mask;
    uint64_t seed;
    uint32_t thresh;
    float scale;
    const float *inp;
    /* BatchNorm1d (training: batch statistics) and LayerNorm over the width n_in: weight,
     * bias, dweight, dbias as a Linear's (NULL when not affine); stat0/stat1 [C] (BN: mean,
     * invstd) or [M] (LN: mean, rstd) written by forward for backward; running_mean/var [C]
     * or NULL, updated with momentum (BN); eps. */
    float *stat0, *stat1, *running_mean, *running_var;
    double momentum, eps;
    /* BatchNorm over (M, n_in / inner, inner): inner = H*W for BatchNorm2d on (M, C, H, W)
     * activations (weight, bias, stats then [n_in / inner]); 0 or 1 for BatchNorm1d. */
    nf_int inner;
    /* Residual: RES_BEGIN marks the block's input (its out is unused: the block reads that
     * input), RES_END adds the shortcut to the block's output: the input itself, or a
     * Linear of it (weight[n_out, begin's n_in], bias, dweight, dbias as a Linear's; dinp
     * [M, begin's n_in] its input gradient, or NULL). `act` holds the partner op's index;
     * skip is the shortcut's gradient, set by RES_END's backward for RES_BEGIN's. */
    const float *skip;
    /* Conv2d and the pools on (M, C, H, W) activations (n_in = C*H*W, n_out = OC*OH*OW):
     * geom as conv.c takes it, N == M (a pool's: OC == C, G == 1, its window in KH .. dw).
     * Conv2d: weight [OC, C/G, KH, KW], bias [OC] or NULL, dweight/dbias as a Linear's;
     * ws[ws_size] conv.c's scratch, at least nf_conv2d_workspace's forward and backward
     * sizes. MaxPool2d: idx[M*C*OH*OW] the argmax forward writes for backward. AvgPool2d:
     * count_include_pad and divisor_override (0: none) as nf_avg_pool2d_forward takes them;
     * AdaptiveAvgPool2d: the geometry's sizes only. */
    nf_conv2d_geom geom;
    float *ws;
    nf_int ws_size;
    int64_t *idx;
    int count_include_pad;
    nf_int divisor_override;
} nf_mlp_op;

/* The loss over the last op's output logits[M, C]: cross entropy against target[M] class
 * indices (weight[C] or NULL, ignore_index, reduction mean/sum, label_smoothing; inner = 1)
 * or MSE against target_f[M, C] (scale: 1/(M*C) for mean, 1 for sum). */
typedef struct {
    int kind, reduction;
    nf_int C, ignore_index;
    const int64_t *target;
    const float *target_f, *weight;
    float label_smoothing, scale;
} nf_mlp_loss;

/* Forward over x[M, ops[0].n_in], the loss with dlogits[M, C], backward, then the
 * optimizer updates[nupdates] (nf_update_run, in order; nupdates may be 0). Returns the
 * reduced loss as the loss kernel returns it; when it is not finite, no gradient is
 * written and no update runs. M >= 1, every size >= 1. prec: the Linear GEMMs' precision
 * (NF_PREC_BF16 under autocast, as the eager layers'). */
double nf_mlp_step(nf_mlp_op *ops, int nops, const float *x, nf_int M,
                   const nf_mlp_loss *loss, float *dlogits, const nf_update *updates,
                   int nupdates, int prec);

/* The step's halves, for the eager layers (nnfast/nn/_fused_chain.py): the forward over
 * x[M, ops[0].n_in], returning the last op's output (an inactive dropout's input when it is
 * last), and the backward from dout[M, C] = d(something)/d(that output), which writes every
 * dweight/dbias and dinp as the step does (dout is only read). */
const float *nf_mlp_forward(nf_mlp_op *ops, int nops, const float *x, nf_int M, int prec);
void nf_mlp_backward(nf_mlp_op *ops, int nops, nf_int M, const float *dout, int prec);

/* First index i of target[n] outside [0, C) and != ignore_index, or -1. */
nf_int nf_bad_label(const int64_t *target, nf_int n, nf_int C, nf_int ignore_index);

#ifdef __cplusplus
}
#endif
#endif /* NNFAST_H */
