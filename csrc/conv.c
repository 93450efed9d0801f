/* conv.c — 2-D convolution (NCHW, PyTorch's weight layout) on the packed GEMM.
 *
 * What it is: im2col (conv_im2col.c) into a caller-given workspace, then nf_sgemm per group;
 * backward as
 *   dweight (+)= dout @ col^T   (GEMM, accumulated over the batch)
 *   dcol        = weight^T @ dout, then col2im (accumulating) into dinp
 *   dbias      (+)= row sums of dout.
 * 1x1 convolutions with stride 1 and no padding use the input as the column matrix (no copy).
 * The direct-loop references tests hold it to are in conv_ref.c.
 * Conv1d runs these kernels on height-1 images, and ConvTranspose1d/2d runs them adjointly
 * (forward = the input-gradient path, backward = forward + weight gradient), see
 * nnfast/nn/_functional_conv1d.py and _functional_conv_transpose.py.
 * 3x3 stride-1 convolutions in fp32 go to Winograd F(2x2, 3x3) instead (conv_winograd.c),
 * which falls back on this path where an input is inf or NaN; the forward of 3x3 ones of a
 * single input channel to direct loops on AVX-512 CPUs (conv_direct_avx512.c).
 * What it is not: FFT, channels-last, or padding modes other than zeros (those live in
 * Python, if at all).
 *
 * Batching. Small images make small GEMMs (8x8 output, 16 channels: 16x64x9), which the GEMM
 * frame runs far below peak (packing and call overhead dominate). So `nb` samples are put
 * side by side in one column matrix col[C*KH*KW, nb*OH*OW] (about COLS_TARGET columns), one
 * GEMM per group covers them all, and the result tmp[OC, nb*OH*OW] is scattered back to NCHW
 * with the bias added on the way. With nb == 1 the GEMM writes into the output directly.
 *
 * Precision. prec (NF_PREC_BF16 under autocast) goes to every GEMM as an argument: the
 * chunk GEMMs run on the worker threads, where no caller's thread-local mode would reach.
 *
 * Threads. Chunks of nb samples are spread over T threads, each with its own slice of the
 * workspace, running serial GEMMs (nf_sgemm stays on one thread inside a parallel region):
 * im2col, GEMM, col2im and the scatter all run in parallel and no thread pool is nested.
 * When there are fewer chunks than threads (batch 1, big images) the chunk loop runs on one
 * thread and the GEMM threads itself. Weight/bias gradients get one partial per thread in the
 * workspace, summed at the end (fixed order: the result does not depend on the schedule).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "conv_internal.h"
#include "nf_simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* As in conv_im2col.c: the chunks' scatter and copy loops move runs of a few floats, which
 * GCC would otherwise turn into memset/memcpy calls that cost more than the runs. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

/* Columns one batched GEMM aims for: enough to amortise packing the weight, while the
 * column chunk (C*KH*KW x COLS_TARGET floats, <= ~300 KiB for 288 rows) stays in L2. */
#define COLS_TARGET 256
/* Below this many multiply-adds (whole batch) the convolution runs on one thread. */
#define CONV_MT_MIN_MACS 500000.0   /* = nf_sgemm's 1 MFLOP threshold */

typedef struct {
    nf_int nb;         /* samples per chunk */
    nf_int nchunks;
    int T;             /* threads over chunks */
    int onexone;       /* 1x1, stride 1, no padding: col == input */
    int wide;          /* the column matrix on the input's width (see wide_grid) */
    nf_int S;          /* columns per sample: OH*W when wide, else OH*OW */
    nf_int col, tmp;   /* per-thread floats: column matrix, gathered/GEMM output */
    nf_int part;       /* per-thread floats: dweight + dbias partials (backward, T > 1) */
} conv_plan;

static int max_threads(void)
{
#ifdef _OPENMP
    return nf_get_num_threads();
#else
    return 1;
#endif
}

/* 3x3 stride-1 fp32 convolutions go to conv_winograd.c unless NNFAST_CONV_WINOGRAD=0 (read
 * on first use): that keeps every convolution on im2col, for comparing the two.
 * ("portable": Winograd without its AVX-512 transforms, see conv_winograd.c.) */
static int winograd_on(const nf_conv2d_geom *g, int prec)
{
    static int off = -1;
    return !nf_env_is(&off, "NNFAST_CONV_WINOGRAD", "0") && prec == NF_PREC_FP32 &&
           nf_winograd_applies(g);
}

/* One input channel, 3x3, stride 1, fp32 (a grey-image first layer): the forward runs
 * conv_direct_avx512.c instead of im2col's K = 9 GEMM (0.28 -> 0.20 ms for the bench CNN's
 * 1 -> 16 layer, batch 64, one thread), on AVX-512 CPUs unless NNFAST_CONV_DIRECT=0 (read
 * on first use). Backward stays on im2col. */
static int direct_on(const nf_conv2d_geom *g, int prec)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int off = -1;
    return prec == NF_PREC_FP32 && g->G == 1 && g->C == 1 && g->KH == 3 && g->KW == 3 &&
           g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           !nf_env_is(&off, "NNFAST_CONV_DIRECT", "0") && nf_cpu_has("avx512_core");
#else
    (void)g;
    (void)prec;
    return 0;
#endif
}

static nf_int per_thread(const conv_plan *p, int backward)
{
    return p->col + p->tmp + (backward && p->T > 1 ? p->part : 0);
}

/* Stride 1, no padding, output narrower than the input (a "valid" convolution, the LeNet
 * kind): the column matrix is laid on the input's width, OH rows of W columns per sample,
 * the last W - OW of each row computing nothing wanted. Then each (c, kh, kw) row of it is
 * the input plane from offset kh*dh*W + kw*dw, one contiguous copy, instead of OH copies of
 * OW floats (26x26 planes, 3x3: 24 rows of 24 floats), and col2im one contiguous add. The
 * price is (W - OW)/OW more GEMM columns, so only where that is at most a quarter. The
 * extra columns' outputs are dropped; in backward their dout is 0, so they add 0 to the
 * weight gradient (backward zeroes their columns when an input is not finite, so there is no
 * 0 * inf) and, through dcol, to dinp (with finite weights). */
static int wide_grid(const nf_conv2d_geom *g)
{
    /* OH and OW exactly those of the kernel's reach: the contiguous runs end in the plane */
    return g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->OH > 0 && g->OW > 0 &&
           g->OH == g->H - (g->KH - 1) * g->dh && g->OW == g->W - (g->KW - 1) * g->dw &&
           g->OW < g->W && (g->W - g->OW) * 4 <= g->OW;
}

/* p's chunking for nb samples a chunk over up to T0 threads, and the workspace it takes. */
static void set_chunk(conv_plan *p, const nf_conv2d_geom *g, int T0, nf_int nb)
{
    const nf_int CKK = g->C * g->KH * g->KW;
    p->nb = nb;
    p->nchunks = g->N > 0 ? nf_cdiv(g->N, nb) : 0;
    p->T = (nf_int)T0 < p->nchunks ? T0 : (int)(p->nchunks > 0 ? p->nchunks : 1);
    p->col = p->onexone ? 0 : CKK * nb * p->S;
    p->tmp = nb > 1 || p->wide ? g->OC * nb * p->S : 0;
    p->part = g->OC * (CKK / (g->G > 0 ? g->G : 1)) + g->OC;
}

/* The plan for T0 available threads; deterministic, so the workspace size query and the
 * kernel agree. */
static conv_plan make_plan(const nf_conv2d_geom *g, int backward, int T0)
{
    conv_plan p;
    const nf_int OHW = g->OH * g->OW, CKK = g->C * g->KH * g->KW;
    p.onexone = g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
                g->pw == 0 && g->OH == g->H && g->OW == g->W;
    p.wide = !p.onexone && wide_grid(g);
    p.S = p.wide ? g->OH * g->W : OHW;
    if (T0 < 1) T0 = 1;
    const double macs = (double)g->N * (double)g->OC * (double)(CKK / (g->G > 0 ? g->G : 1)) *
                        (double)OHW;
    if (macs < CONV_MT_MIN_MACS) T0 = 1;
    nf_int nb = 1;
    if (!p.onexone && OHW > 0) {
        nb = nf_cdiv(COLS_TARGET, p.S);
        const nf_int share = nf_cdiv(g->N > 0 ? g->N : 1, T0);
        if (nb > share) nb = share;
        if (nb < 1) nb = 1;
    }
    set_chunk(&p, g, T0, nb);
    return p;
}

nf_int nf_conv2d_workspace(const nf_conv2d_geom *g, int backward)
{
    conv_plan p = make_plan(g, backward, max_threads());
    const nf_int im2col = (nf_int)p.T * per_thread(&p, backward);
    /* Winograd falls back on im2col (non-finite values), so the workspace holds either */
    const nf_int wino =
        winograd_on(g, NF_PREC_FP32) ? nf_winograd_workspace(g, backward, max_threads()) : 0;
    return wino > im2col ? wino : im2col;
}

/* The plan for the threads we have, shrunk until it fits the workspace we were given: fewer
 * threads, then fewer samples a chunk (one thread's plan can want more than two threads'
 * when the batch cut in two limits the chunk; the thread count may have changed since the
 * caller sized ws). One sample on one thread is the least any plan needs, and the callers
 * check ws against a plan's size, so that one always fits. */
static conv_plan fit_plan(const nf_conv2d_geom *g, int backward, nf_int ws_size)
{
    int T0 = max_threads();
    conv_plan p = make_plan(g, backward, T0);
    while (T0 > 1 && (nf_int)p.T * per_thread(&p, backward) > ws_size) {
        T0--;
        p = make_plan(g, backward, T0);
    }
    while (p.nb > 1 && (nf_int)p.T * per_thread(&p, backward) > ws_size)
        set_chunk(&p, g, p.T, p.nb - 1);
    return p;
}

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* One chunk: samples n0 .. n0+nb-1. col/tmp: this thread's workspace. */
static void forward_chunk(float *out, float *col, float *tmp, const float *inp,
                          const float *weight, const float *bias, const nf_conv2d_geom *g,
                          const conv_plan *p, nf_int n0, nf_int nb, int prec)
{
    const nf_int OHW = g->OH * g->OW, ncols = nb * p->S;
    const nf_int Cg = g->C / g->G, OCg = g->OC / g->G, CKKg = Cg * g->KH * g->KW;
#if defined(__x86_64__) && defined(__GNUC__)
    if (direct_on(g, prec)) {
        for (nf_int b = n0; b < n0 + nb; b++)
            nf_conv_direct_forward_avx512(out + b * g->OC * OHW, inp + b * g->C * g->H * g->W,
                                          weight, bias, g);
        return;
    }
#endif
    const float *colp = inp + n0 * g->C * g->H * g->W;    /* 1x1: the input itself */
    if (p->wide) {
        nf_im2col_wide(col, inp, g, n0, nb, 0);
        colp = col;
    } else if (!p->onexone) {
        nf_im2col(col, inp, g, n0, nb);
        colp = col;
    }
    float *dst = nb == 1 && !p->wide ? out + n0 * g->OC * OHW : tmp;
    float beta = 0.0f;
    if (dst != tmp && bias) {   /* bias first, GEMM adds onto it */
        for (nf_int oc = 0; oc < g->OC; oc++)
            for (nf_int j = 0; j < OHW; j++) dst[oc * OHW + j] = bias[oc];
        beta = 1.0f;
    }
    for (nf_int grp = 0; grp < g->G; grp++)
        nf_sgemm_prec(prec, 0, 0, OCg, ncols, CKKg, 1.0f, weight + grp * OCg * CKKg, CKKg,
                      colp + grp * CKKg * ncols, ncols, beta, dst + grp * OCg * ncols, ncols);
    if (dst != tmp)
        return;
    /* tmp[oc, b*S + oh*w + ow] -> out[n0+b, oc, oh, ow] (+ bias[oc]); w = W when wide */
    const nf_int w = p->wide ? g->W : g->OW, run = p->wide ? g->OW : OHW;
    for (nf_int b = 0; b < nb; b++)
        for (nf_int oc = 0; oc < g->OC; oc++) {
            const float bv = bias ? bias[oc] : 0.0f;
            for (nf_int r = 0; r < OHW / run; r++) {
                const float *s = tmp + oc * ncols + b * p->S + r * w;
                float *d = out + ((n0 + b) * g->OC + oc) * OHW + r * run;
                for (nf_int j = 0; j < run; j++) d[j] = s[j] + bv;
            }
        }
}

void nf_conv2d_forward(float *out, float *ws, nf_int ws_size, const float *inp,
                       const float *weight, const float *bias, const nf_conv2d_geom *g,
                       int prec)
{
    nf_conv2d_forward_epi(out, ws, ws_size, inp, weight, bias, g, prec, NULL);
}

void nf_conv2d_forward_epi(float *out, float *ws, nf_int ws_size, const float *inp,
                           const float *weight, const float *bias, const nf_conv2d_geom *g,
                           int prec, const nf_gemm_epi *epi)
{
    if (g->N <= 0 || g->OC <= 0 || g->OH <= 0 || g->OW <= 0) return;
    if (winograd_on(g, prec) &&
        nf_winograd_forward(out, ws, ws_size, inp, weight, bias, g, epi))
        return;
    const conv_plan p = fit_plan(g, 0, ws_size);
    const nf_int pt = per_thread(&p, 0);
#ifdef _OPENMP
#pragma omp parallel num_threads(p.T) if (p.T > 1)
#endif
    {
        int t, T;
        nf_team(&t, &T);
        float *col = ws ? ws + t * pt : NULL;
        float *tmp = col ? col + p.col : NULL;
        for (nf_int ch = t; ch < p.nchunks; ch += T) {
            const nf_int n0 = ch * p.nb;
            const nf_int nb = g->N - n0 < p.nb ? g->N - n0 : p.nb;
            forward_chunk(out, col, tmp, inp, weight, bias, g, &p, n0, nb, prec);
            if (epi) epi->fn(epi->ctx, n0, nb, 0, g->OC * g->OH * g->OW);
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Backward                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* x[0] + ... + x[n-1] as 16 interleaved partial sums folded at the end: one vector add per
 * 16 floats (a single running sum is a chain of dependent adds, 4 cycles per float), and the
 * same order whatever vector width the clone uses. */
NF_CLONES float nf_conv_row_sum(const float *x, nf_int n)
{
    float acc[16] = {0.0f};
    nf_int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) acc[l] += x[j + l];
    float s = 0.0f;
    for (int l = 0; l < 16; l++) s += acc[l];
    for (; j < n; j++) s += x[j];
    return s;
}

static void backward_chunk(float *dinp, float *dw, float *db, float *col, float *tmp,
                           const float *dout, const float *inp, const float *weight,
                           const nf_conv2d_geom *g, const conv_plan *p, nf_int n0, nf_int nb,
                           int prec)
{
    const nf_int OHW = g->OH * g->OW, ncols = nb * p->S, HW = g->H * g->W;
    const nf_int Cg = g->C / g->G, OCg = g->OC / g->G, CKKg = Cg * g->KH * g->KW;
    /* dout of the chunk as a matrix [OC, ncols] (wide: 0 in the columns past OW) */
    const float *dop = dout + n0 * g->OC * OHW;
    if (p->wide) {
        for (nf_int b = 0; b < nb; b++)
            for (nf_int oc = 0; oc < g->OC; oc++)
                for (nf_int oh = 0; oh < g->OH; oh++) {
                    float *d = tmp + oc * ncols + b * p->S + oh * g->W;
                    const float *s = dout + (((n0 + b) * g->OC + oc) * g->OH + oh) * g->OW;
                    for (nf_int ow = 0; ow < g->OW; ow++) d[ow] = s[ow];
                    for (nf_int ow = g->OW; ow < g->W; ow++) d[ow] = 0.0f;
                }
        dop = tmp;
    } else if (nb > 1) {
        for (nf_int b = 0; b < nb; b++)
            for (nf_int oc = 0; oc < g->OC; oc++)
                memcpy(tmp + oc * ncols + b * OHW, dout + ((n0 + b) * g->OC + oc) * OHW,
                       (size_t)OHW * sizeof(float));
        dop = tmp;
    }
    if (db)
        for (nf_int oc = 0; oc < g->OC; oc++) db[oc] += nf_conv_row_sum(dop + oc * ncols, ncols);
    if (dw) {
        const float *colp = inp + n0 * g->C * HW;
        if (p->wide) {
            /* the extra columns hold inputs: zero them only when one may be inf or NaN */
            nf_im2col_wide(col, inp, g, n0, nb,
                           !nf_all_finite(inp + n0 * g->C * HW, nb * g->C * HW));
            colp = col;
        } else if (!p->onexone) {
            nf_im2col(col, inp, g, n0, nb);
            colp = col;
        }
        for (nf_int grp = 0; grp < g->G; grp++)   /* dW_g[OCg, CKKg] += dout_g @ col_g^T */
            nf_sgemm_prec(prec, 0, 1, OCg, CKKg, ncols, 1.0f, dop + grp * OCg * ncols, ncols,
                          colp + grp * CKKg * ncols, ncols, 1.0f, dw + grp * OCg * CKKg, CKKg);
    }
    if (dinp) {
        if (p->onexone) {   /* dinp[n0] = W^T @ dout (nb == 1) */
            for (nf_int grp = 0; grp < g->G; grp++)
                nf_sgemm_prec(prec, 1, 0, Cg, ncols, OCg, 1.0f, weight + grp * OCg * CKKg, CKKg,
                              dop + grp * OCg * ncols, ncols, 0.0f,
                              dinp + n0 * g->C * HW + grp * Cg * HW, HW);
        } else {
            for (nf_int grp = 0; grp < g->G; grp++)   /* dcol_g = W_g^T @ dout_g */
                nf_sgemm_prec(prec, 1, 0, CKKg, ncols, OCg, 1.0f, weight + grp * OCg * CKKg,
                              CKKg, dop + grp * OCg * ncols, ncols, 0.0f,
                              col + grp * CKKg * ncols, ncols);
            memset(dinp + n0 * g->C * HW, 0, (size_t)(nb * g->C * HW) * sizeof(float));
            if (p->wide)
                nf_col2im_wide(dinp, col, g, n0, nb);
            else
                nf_col2im(dinp, col, g, n0, nb);
        }
    }
}

void nf_conv2d_backward(float *dinp, float *dweight, float *dbias, float *ws, nf_int ws_size,
                        const float *dout, const float *inp, const float *weight,
                        const nf_conv2d_geom *g, int accumulate, int prec)
{
    nf_conv2d_backward_epi(dinp, dweight, dbias, ws, ws_size, dout, inp, weight, g, accumulate,
                           prec, NULL, NULL);
}

void nf_conv2d_backward_epi(float *dinp, float *dweight, float *dbias, float *ws,
                            nf_int ws_size, const float *dout, const float *inp,
                            const float *weight, const nf_conv2d_geom *g, int accumulate,
                            int prec, const nf_gemm_epi *dout_pro, const nf_gemm_epi *dinp_epi)
{
    if (!dinp) dinp_epi = NULL;
    if (winograd_on(g, prec) && nf_winograd_backward(dinp, dweight, dbias, ws, ws_size, dout, inp,
                                                     weight, g, accumulate, dout_pro, dinp_epi))
        return;
    if (dout_pro && g->N > 0)   /* im2col reads dout in chunks: all of it first, at once */
        dout_pro->fn(dout_pro->ctx, 0, g->N, 0, g->OC * g->OH * g->OW);
    const nf_int CKKg = (g->C / g->G) * g->KH * g->KW, wsize = g->OC * CKKg;
    if (!accumulate) {
        if (dweight) memset(dweight, 0, (size_t)wsize * sizeof(float));
        if (dbias) memset(dbias, 0, (size_t)g->OC * sizeof(float));
    }
    if (g->N <= 0) return;
    if (g->OC <= 0 || g->OH <= 0 || g->OW <= 0) {   /* no outputs: dinp = 0 */
        if (dinp) memset(dinp, 0, (size_t)(g->N * g->C * g->H * g->W) * sizeof(float));
        if (dinp_epi) dinp_epi->fn(dinp_epi->ctx, 0, g->N, 0, g->C * g->H * g->W);
        return;
    }
    const conv_plan p = fit_plan(g, 1, ws_size);
    const nf_int pt = per_thread(&p, 1);
    if (p.T > 1)   /* zero every partial here: the runtime may give us fewer threads */
        for (int t = 0; t < p.T; t++)
            memset(ws + t * pt + p.col + p.tmp, 0, (size_t)p.part * sizeof(float));
#ifdef _OPENMP
#pragma omp parallel num_threads(p.T) if (p.T > 1)
#endif
    {
        int t, T;
        nf_team(&t, &T);
        float *col = ws ? ws + t * pt : NULL;
        float *tmp = col ? col + p.col : NULL;
        float *dw = dweight, *db = dbias;
        if (p.T > 1) {   /* this thread's partials, summed below */
            float *part = tmp + p.tmp;
            dw = dweight ? part : NULL;
            db = dbias ? part + wsize : NULL;
        }
        for (nf_int ch = t; ch < p.nchunks; ch += T) {
            const nf_int n0 = ch * p.nb;
            const nf_int nb = g->N - n0 < p.nb ? g->N - n0 : p.nb;
            backward_chunk(dinp, dw, db, col, tmp, dout, inp, weight, g, &p, n0, nb, prec);
            if (dinp_epi) dinp_epi->fn(dinp_epi->ctx, n0, nb, 0, g->C * g->H * g->W);
        }
    }
    if (p.T > 1)   /* sum the partials in thread order */
        for (int t = 0; t < p.T; t++) {
            const float *part = ws + t * pt + p.col + p.tmp;
            if (dweight)
                for (nf_int i = 0; i < wsize; i++) dweight[i] += part[i];
            if (dbias)
                for (nf_int i = 0; i < g->OC; i++) dbias[i] += part[wsize + i];
        }
}
