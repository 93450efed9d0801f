/* conv_internal.h — internal to csrc/: what conv.c, conv_winograd.c and pool.c share with
 * their AVX-512 files. conv.c's nf_conv2d_forward/backward choose the algorithm, pool.c its
 * row loop; none of these is called from Python. */
#ifndef NF_CONV_INTERNAL_H
#define NF_CONV_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "nnfast.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static inline nf_int nf_cdiv(nf_int a, nf_int b) { return (a + b - 1) / b; }

/* Inside a parallel region: this thread's number and the team's size (0 and 1 without
 * OpenMP, or outside one). */
static inline void nf_team(int *t, int *T)
{
#ifdef _OPENMP
    *t = omp_get_thread_num();
    *T = omp_get_num_threads();
#else
    *t = 0;
    *T = 1;
#endif
}

/* x[0] + ... + x[n-1] in a fixed order (16 interleaved partial sums folded at the end). */
float nf_conv_row_sum(const float *x, nf_int n);
/* conv_im2col.c: the wide column matrix of samples n0 .. n0+nb-1 (conv.c's wide_grid
 * geometries) and its adjoint (adds into dinp); whether x[0 .. n) holds no inf or NaN. */
void nf_im2col_wide(float *col, const float *inp, const nf_conv2d_geom *g, nf_int n0,
                    nf_int nb, int gaps);
void nf_col2im_wide(float *dinp, const float *col, const nf_conv2d_geom *g, nf_int n0,
                    nf_int nb);
int nf_all_finite(const float *x, nf_int n);

/* Whether environment variable `name` is set to `value`, read once per flag (*flag: -1
 * until then; later calls and other threads see the first answer). How NNFAST_CONV_* and
 * NNFAST_POOL switch paths for tests and A/B runs. */
static inline int nf_env_is(int *flag, const char *name, const char *value)
{
    int v = __atomic_load_n(flag, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv(name);
        v = e && strcmp(e, value) == 0;
        __atomic_store_n(flag, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Winograd F(2x2, 3x3) (conv_winograd.c): whether it takes g (3x3, stride 1, dilation 1,
 * one group, at least 8 channels in and out, outputs at least 4x4), and the floats of
 * workspace it wants on `threads` threads (0 where it does not take g). */
int nf_winograd_applies(const nf_conv2d_geom *g);
nf_int nf_winograd_workspace(const nf_conv2d_geom *g, int backward, int threads);
/* nf_conv2d_forward / nf_conv2d_backward in fp32 by Winograd. Return 0, having kept nothing
 * (dweight and dbias untouched; out and dinp garbage), when a value read or a result is inf
 * or NaN, or ws is too small for one thread: the caller then runs im2col. The epilogues as
 * nf_conv2d_forward_epi's / nf_conv2d_backward_epi's (they may have run on some blocks when
 * 0 is returned; im2col runs them again on its own results). */
int nf_winograd_forward(float *out, float *ws, nf_int ws_size, const float *inp,
                        const float *weight, const float *bias, const nf_conv2d_geom *g,
                        const nf_gemm_epi *epi);
int nf_winograd_backward(float *dinp, float *dweight, float *dbias, float *ws, nf_int ws_size,
                         const float *dout, const float *inp, const float *weight,
                         const nf_conv2d_geom *g, int accumulate, const nf_gemm_epi *dout_pro,
                         const nf_gemm_epi *dinp_epi);

/* conv_winograd.c's band transforms on AVX-512 (conv_winograd_avx512.c; x86-64 only, called
 * after nf_cpu_has("avx512_core")). The band: tile rows r0 .. r0+nrows-1 of TH a image, TW
 * tiles each; a transformed matrix's rows ldt apart, its xi sx apart. Each returns 1 when a
 * value it read (input, dout) or wrote (out, dinp) is inf or NaN. (scratch: unused, for the
 * portable ones' signature.) */
int nf_wino_input_avx512(float *V, nf_int ldt, nf_int sx, const float *inp, const nf_conv2d_geom *g,
                         nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);
int nf_wino_output_avx512(float *out, const float *M, nf_int ldt, nf_int sx, const float *bias,
                           const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                           nf_int nrows, float *scratch);
int nf_wino_dout_avx512(float *dM, nf_int ldt, nf_int sx, const float *dout,
                        const nf_conv2d_geom *g,
                        nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);
int nf_wino_dinput_avx512(float *dinp, const float *dV, nf_int ldt, nf_int sx,
                           const nf_conv2d_geom *g,
                           nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);

/* Direct 3x3 convolution of one input channel (conv_direct_avx512.c; x86-64 only, called
 * after nf_cpu_has("avx512_core")): G == 1, C == 1, stride 1, dilation 1. One image:
 * out[OC, OH, OW] = conv(inp[1, H, W]) + bias. */
void nf_conv_direct_forward_avx512(float *out, const float *inp, const float *weight,
                                   const float *bias, const nf_conv2d_geom *g);

/* Whether a max pool's window is 2x2 with stride 2 and nothing else (its fast loops; its
 * forward then takes idx NULL, and nf_max_pool2x2_backward_epi needs no indices) */
int nf_max_pool2x2_applies(nf_int H, nf_int W, nf_int OH, nf_int OW, nf_int KH, nf_int KW,
                           nf_int sh, nf_int sw, nf_int ph, nf_int pw, nf_int dh, nf_int dw);
void nf_max_pool2x2_backward_epi(float *dinp, const float *dout, const float *inp, nf_int P,
                                 nf_int H, nf_int W, nf_int OH, nf_int OW,
                                 const nf_gemm_epi *epi);

/* pool.c's 2x2 stride-2 max pooling of one plane x[2*OH.., W] into out/idx[OH, OW] (idx may
 * be NULL) on
 * AVX-512 (pool_avx512.c; x86-64 only, called after nf_cpu_has("avx512_core"); needs W + 1
 * and 2*OW + W + 1 to fit an int32). */
void nf_max_pool2x2_plane_avx512(float *out, int64_t *idx, const float *x, nf_int W, nf_int OH,
                                 nf_int OW);
/* its backward without indices (pool.c's nf_max_pool2x2_backward_epi): dinp rows 0 .. 2*OH of
 * the plane, columns 0 .. 2*OW, from dout[OH, OW] and the forward's input x */
void nf_max_pool2x2_grad_plane_avx512(float *dinp, const float *dout, const float *x, nf_int W,
                                      nf_int OH, nf_int OW);

/* The same in portable C (conv_winograd_portable.c), with scratch[nf_wino_portable_scratch]. */
nf_int nf_wino_portable_scratch(nf_int ldt, nf_int TW);
int nf_wino_input_portable(float *V, nf_int ldt, nf_int sx, const float *inp,
                           const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                           nf_int nrows, float *scratch);
int nf_wino_output_portable(float *out, const float *M, nf_int ldt, nf_int sx,
                             const float *bias, const nf_conv2d_geom *g, nf_int TH, nf_int TW,
                             nf_int r0, nf_int nrows, float *scratch);
int nf_wino_dout_portable(float *dM, nf_int ldt, nf_int sx, const float *dout,
                          const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                          nf_int nrows, float *scratch);
int nf_wino_dinput_portable(float *dinp, const float *dV, nf_int ldt, nf_int sx,
                             const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                             nf_int nrows, float *scratch);

#endif /* NF_CONV_INTERNAL_H */
