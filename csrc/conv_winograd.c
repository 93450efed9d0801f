/* conv_winograd.c — 3x3 stride-1 convolutions by Winograd F(2x2, 3x3).
 *
 * What it is: each 2x2 block of outputs ("tile") comes from a 4x4 block of input d as
 *   Y = A^T [ (G g G^T) (.) (B^T d B) ] A
 * with (.) elementwise over the 16 "frequencies" xi. Summed over input channels that is 16
 * GEMMs, M[xi] = U[xi] @ V[xi] (OC x C times C x tiles), with 16 multiply-adds per tile and
 * channel pair instead of 36: 2.25x fewer FLOPs than im2col. Backward is the exact adjoint of
 * that computation (which is the convolution's gradient, up to rounding):
 *   dM = A dY A^T,   dU[xi] += dM[xi] @ V[xi]^T,   dV[xi] = U[xi]^T @ dM[xi],
 *   dweight = G^T dU G,   dinp += B dV B^T (tiles overlap by two rows and columns).
 * The data transforms are adds, in conv_winograd_avx512.c (a masked vector per 16 tiles of a
 * row) or conv_winograd_portable.c; the weight transforms (with halves) are here; the GEMMs
 * are nf_sgemm's (serial on each worker; threaded themselves when the kernel runs on one).
 * It takes C + OC <= 256 (WINO_MAX_CHANNELS) only.
 *
 * What it is not: F(4x4, 3x3) (fewer FLOPs, larger rounding errors), strides, dilations,
 * groups or bf16 (conv.c runs those through im2col).
 *
 * Non-finite values. Winograd mixes neighbouring inputs (inf - inf), so an inf gives NaN where
 * the direct sum gives inf, and its transformed values (up to 4x an input) can overflow where
 * the direct sum does not. So the transforms flag any inf or NaN they read (input, dout) or
 * leave (out, dinp; dU is checked once summed), and the caller then runs the im2col path
 * instead: the results are its, and no output of ours is kept (weight and bias gradients
 * are only written after the checks).
 *
 * Threads. Forward spreads tile rows over the threads (outputs do not overlap); backward
 * spreads whole images (input gradients of neighbouring tiles overlap). Each thread works in
 * bands of whole tile rows, sized so its transformed input and output (16 x (C + OC) x tiles)
 * stay in L2. Weight/bias gradients: one partial per thread, summed in thread order.
 */
#include <stdlib.h>
#include <string.h>
#include "conv_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif


/* Floats a thread's transformed band (16 x (C + OC) x tiles) aims for: 1 MiB (a Zen 4 core's
 * L2). On the bench CNN's 16->32 layer 128, 192, 256 and 384 Ki floats ran forward +
 * backward in 9.9, 9.4, 9.5, 9.7 ms on one thread and 5.8, 6.2, 5.4, 5.9 ms on two. */
#define BAND_FLOATS (256 * 1024)
/* Below this many multiply-adds (whole batch, as im2col counts them) one thread runs it. */
#define WINO_MT_MIN_MACS 500000.0

typedef struct {
    nf_int TH, TW;     /* tile rows and columns per image */
    nf_int R;          /* tile rows per band */
    nf_int ldt;        /* a transformed matrix's row stride: >= R * TW tiles */
    nf_int sV, sM;     /* V's and M's stride from one xi to the next (see xi_stride) */
    int T;             /* threads */
    nf_int shared;     /* floats: U */
    nf_int per;        /* floats per thread */
    nf_int V, M, scratch, part;   /* offsets inside a thread's slice */
} wino_plan;

static nf_int round16(nf_int n) { return (n + 15) & ~(nf_int)15; }

/* rows * ldt floats, plus one cache line where that is an even number of lines: the band
 * functions touch all 16 xi at once, and an odd stride in lines puts the 16 in different L1
 * sets (192-tile bands of 16 channels are 12 KiB apart: all 16 in one set, 2x slower). */
static nf_int xi_stride(nf_int rows, nf_int ldt)
{
    const nf_int s = rows * ldt;
    return (s / 16) % 2 == 0 ? s + 16 : s;
}

/* Wider layers (C + OC > 256) would get bands of fewer than 64 tiles, GEMMs too narrow to
 * pay for the transforms: 512 -> 512 channels on 7x7 ran at half im2col's speed, 128 -> 128
 * on 28x28 at 1.7x it. */
#define WINO_MAX_CHANNELS 256

int nf_winograd_applies(const nf_conv2d_geom *g)
{
    return g->G == 1 && g->KH == 3 && g->KW == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
           g->dw == 1 && g->C >= 8 && g->OC >= 8 && g->C + g->OC <= WINO_MAX_CHANNELS &&
           g->OH >= 4 && g->OW >= 4 && g->N > 0 && g->H > 0 && g->W > 0;
}

static wino_plan make_plan(const nf_conv2d_geom *g, int backward, int T0)
{
    wino_plan p;
    p.TH = (g->OH + 1) / 2;
    p.TW = (g->OW + 1) / 2;
    nf_int tiles = BAND_FLOATS / (16 * (g->C + g->OC));
    p.R = tiles / p.TW;
    if (p.R < 1) p.R = 1;
    const nf_int rows = g->N * p.TH;
    if (T0 < 1) T0 = 1;
    const double macs = (double)g->N * g->OC * g->C * 9.0 * (double)(g->OH * g->OW);
    if (macs < WINO_MT_MIN_MACS) T0 = 1;
    /* forward: tile rows over threads; backward: images */
    const nf_int units = backward ? g->N : rows;
    p.T = (nf_int)T0 < units ? T0 : (int)units;
    const nf_int mine = (rows + p.T - 1) / p.T;   /* at most the busiest thread's rows */
    if (p.R > mine) p.R = mine;
    p.ldt = round16(p.R * p.TW + 15);   /* + 15: the AVX-512 bands store whole vectors */
    p.shared = round16(16 * g->OC * g->C);
    p.V = 0;
    p.sV = xi_stride(g->C, p.ldt);
    p.sM = xi_stride(g->OC, p.ldt);
    p.M = p.V + 16 * p.sV;
    p.scratch = p.M + 16 * p.sM;
    p.part = p.scratch + round16(nf_wino_portable_scratch(p.ldt, p.TW));
    p.per = p.part + (backward ? round16(16 * g->OC * g->C + g->OC) : 0);
    return p;
}

nf_int nf_winograd_workspace(const nf_conv2d_geom *g, int backward, int threads)
{
    if (!nf_winograd_applies(g)) return 0;
    const wino_plan p = make_plan(g, backward, threads);
    return p.shared + (nf_int)p.T * p.per;
}

/* The plan for the threads we have, with fewer threads until it fits ws_size; T == 0 when
 * even one thread's does not. */
static wino_plan fit_plan(const nf_conv2d_geom *g, int backward, nf_int ws_size)
{
    int T0 = nf_get_num_threads();
    wino_plan p = make_plan(g, backward, T0);
    while (p.shared + (nf_int)p.T * p.per > ws_size && T0 > 1)
        p = make_plan(g, backward, --T0);
    if (p.shared + (nf_int)p.T * p.per > ws_size) p.T = 0;
    return p;
}

/* ---------------------------------------------------------------------------------------- */
/* Kernel transforms                                                                        */
/* ---------------------------------------------------------------------------------------- */

/* U[xi][oc][c] = (G g G^T)[xi], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. Returns 0 when a
 * weight is not finite. */
static int weight_transform(float *U, const float *weight, nf_int OC, nf_int C)
{
    int bad = 0;
    for (nf_int oc = 0; oc < OC; oc++)
        for (nf_int c = 0; c < C; c++) {
            const float *w = weight + (oc * C + c) * 9;
            float t[4][3], u[4][4];
            for (int j = 0; j < 3; j++) {
                t[0][j] = w[j];
                t[1][j] = 0.5f * (w[j] + w[3 + j] + w[6 + j]);
                t[2][j] = 0.5f * (w[j] - w[3 + j] + w[6 + j]);
                t[3][j] = w[6 + j];
            }
            for (int i = 0; i < 4; i++) {
                u[i][0] = t[i][0];
                u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            for (int xi = 0; xi < 16; xi++) {
                U[(xi * OC + oc) * C + c] = u[xi / 4][xi % 4];
                bad |= !(u[xi / 4][xi % 4] - u[xi / 4][xi % 4] == 0.0f);
            }
        }
    return !bad;
}

/* dweight[oc][c] (+)= G^T dU G, the adjoint of weight_transform; dU[xi][oc][c], or
 * dU[xi][c][oc] when transposed. */
static void weight_gradient(float *dweight, const float *dU, nf_int OC, nf_int C, int transposed,
                            int accumulate)
{
    const nf_int so = transposed ? 1 : C, sc = transposed ? OC : 1;
    for (nf_int oc = 0; oc < OC; oc++)
        for (nf_int c = 0; c < C; c++) {
            float d[4][4], p[3][4], r[3][3];
            for (int xi = 0; xi < 16; xi++) d[xi / 4][xi % 4] = dU[xi * OC * C + oc * so + c * sc];
            for (int k = 0; k < 4; k++) {
                p[0][k] = d[0][k] + 0.5f * (d[1][k] + d[2][k]);
                p[1][k] = 0.5f * (d[1][k] - d[2][k]);
                p[2][k] = 0.5f * (d[1][k] + d[2][k]) + d[3][k];
            }
            for (int a = 0; a < 3; a++) {
                r[a][0] = p[a][0] + 0.5f * (p[a][1] + p[a][2]);
                r[a][1] = 0.5f * (p[a][1] - p[a][2]);
                r[a][2] = 0.5f * (p[a][1] + p[a][2]) + p[a][3];
            }
            float *w = dweight + (oc * C + c) * 9;
            for (int i = 0; i < 9; i++) w[i] = (accumulate ? w[i] : 0.0f) + r[i / 3][i % 3];
        }
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* The band transforms: AVX-512 where the CPU has it, else the portable ones (also where
 * NNFAST_CONV_WINOGRAD=portable, read on first use: how tests reach them on AVX-512). Each
 * returns 1 when a value it read or wrote is inf or NaN. */
typedef struct {
    int (*input)(float *V, nf_int ldt, nf_int sx, const float *inp, const nf_conv2d_geom *g,
                 nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);
    int (*output)(float *out, const float *M, nf_int ldt, nf_int sx, const float *bias,
                  const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0, nf_int nrows,
                  float *scratch);
    int (*dout)(float *dM, nf_int ldt, nf_int sx, const float *dout, const nf_conv2d_geom *g,
                nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);
    int (*dinput)(float *dinp, const float *dV, nf_int ldt, nf_int sx, const nf_conv2d_geom *g,
                  nf_int TH, nf_int TW, nf_int r0, nf_int nrows, float *scratch);
} wino_bands;

static const wino_bands PORTABLE = {nf_wino_input_portable, nf_wino_output_portable,
                                    nf_wino_dout_portable, nf_wino_dinput_portable};

static const wino_bands *bands(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static const wino_bands AVX512 = {nf_wino_input_avx512, nf_wino_output_avx512,
                                      nf_wino_dout_avx512, nf_wino_dinput_avx512};
    static int portable = -1;
    if (!nf_env_is(&portable, "NNFAST_CONV_WINOGRAD", "portable") && nf_cpu_has("avx512_core"))
        return &AVX512;
#endif
    return &PORTABLE;
}

static void share(nf_int total, int t, int T, nf_int *lo, nf_int *hi)
{
    *lo = total * t / T;
    *hi = total * (t + 1) / T;
}

/* The forward epilogue on the outputs of tile rows r0 .. r0+nr-1: for each image and channel
 * the output rows they cover, one run of out[N, OC*OH*OW]. */
static void band_epilogue(const nf_gemm_epi *epi, const nf_conv2d_geom *g, const wino_plan *p,
                          nf_int r0, nf_int nr)
{
    const nf_int OHW = g->OH * g->OW;
    for (nf_int r = r0; r < r0 + nr;) {
        const nf_int img = r / p->TH, ty0 = r % p->TH;
        const nf_int ty1 = ty0 + (r0 + nr - r) < p->TH ? ty0 + (r0 + nr - r) : p->TH;
        const nf_int oh0 = 2 * ty0, oh1 = 2 * ty1 < g->OH ? 2 * ty1 : g->OH;
        for (nf_int oc = 0; oc < g->OC; oc++)
            epi->fn(epi->ctx, img, 1, oc * OHW + oh0 * g->OW, (oh1 - oh0) * g->OW);
        r += ty1 - ty0;
    }
}

int nf_winograd_forward(float *out, float *ws, nf_int ws_size, const float *inp,
                        const float *weight, const float *bias, const nf_conv2d_geom *g,
                        const nf_gemm_epi *epi)
{
    const wino_plan p = fit_plan(g, 0, ws_size);
    if (p.T == 0 || !weight_transform(ws, weight, g->OC, g->C)) return 0;
    const wino_bands *B = bands();
    const float *U = ws;
    const nf_int rows = g->N * p.TH;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(p.T) if (p.T > 1) reduction(| : bad)
#endif
    {
        int t, T;
        nf_team(&t, &T);
        float *mine = ws + p.shared + t * p.per;
        float *V = mine + p.V, *M = mine + p.M, *scratch = mine + p.scratch;
        nf_int lo, hi;
        share(rows, t, T, &lo, &hi);
        for (nf_int r0 = lo; r0 < hi && !bad; r0 += p.R) {
            const nf_int nr = hi - r0 < p.R ? hi - r0 : p.R, cols = nr * p.TW;
            bad |= B->input(V, p.ldt, p.sV, inp, g, p.TH, p.TW, r0, nr, scratch);
            if (bad) break;
            for (int xi = 0; xi < 16; xi++)
                nf_sgemm(0, 0, g->OC, cols, g->C, 1.0f, U + xi * g->OC * g->C, g->C,
                         V + xi * p.sV, p.ldt, 0.0f, M + xi * p.sM, p.ldt);
            bad |= B->output(out, M, p.ldt, p.sM, bias, g, p.TH, p.TW, r0, nr, scratch);
            if (epi) band_epilogue(epi, g, &p, r0, nr);
        }
    }
    return !bad;
}

int nf_winograd_backward(float *dinp, float *dweight, float *dbias, float *ws, nf_int ws_size,
                         const float *dout, const float *inp, const float *weight,
                         const nf_conv2d_geom *g, int accumulate, const nf_gemm_epi *dout_pro,
                         const nf_gemm_epi *dinp_epi)
{
    const wino_plan p = fit_plan(g, 1, ws_size);
    if (p.T == 0 || !weight_transform(ws, weight, g->OC, g->C)) return 0;
    const wino_bands *B = bands();
    const float *U = ws;
    const nf_int OC = g->OC, C = g->C, OHW = g->OH * g->OW, nU = 16 * OC * C;
    const int dU_t = OC > C;
    for (int t = 0; t < p.T; t++)   /* every partial: the runtime may give us fewer threads */
        memset(ws + p.shared + t * p.per + p.part, 0, (size_t)(nU + OC) * sizeof(float));
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(p.T) if (p.T > 1) reduction(| : bad)
#endif
    {
        int t, T;
        nf_team(&t, &T);
        float *mine = ws + p.shared + t * p.per;
        float *V = mine + p.V, *dM = mine + p.M, *scratch = mine + p.scratch;
        float *dU = mine + p.part, *db = dU + nU;
        nf_int n_lo, n_hi;
        share(g->N, t, T, &n_lo, &n_hi);
        if (dinp && n_hi > n_lo)
            memset(dinp + n_lo * C * g->H * g->W, 0,
                   (size_t)((n_hi - n_lo) * C * g->H * g->W) * sizeof(float));
        const nf_int hi = n_hi * p.TH;
        nf_int done = n_lo;   /* images before it have had the epilogue */
        for (nf_int r0 = n_lo * p.TH; r0 < hi && !bad; r0 += p.R) {
            const nf_int nr = hi - r0 < p.R ? hi - r0 : p.R, cols = nr * p.TW;
            for (nf_int r = r0; r < r0 + nr; r++)   /* images whose first tile row this is */
                if (r % p.TH == 0) {
                    const nf_int n = r / p.TH;
                    if (dout_pro) dout_pro->fn(dout_pro->ctx, n, 1, 0, OC * OHW);
                    if (dbias)
                        for (nf_int oc = 0; oc < OC; oc++)
                            db[oc] += nf_conv_row_sum(dout + (n * OC + oc) * OHW, OHW);
                }
            bad |= B->dout(dM, p.ldt, p.sM, dout, g, p.TH, p.TW, r0, nr, scratch);
            if (dweight) bad |= B->input(V, p.ldt, p.sV, inp, g, p.TH, p.TW, r0, nr, scratch);
            if (bad) break;
            /* dU[xi] += dM[xi] @ V[xi]^T, or its transpose when that is the wider product
             * (the GEMM's narrow-N kernel is its slowest here: 16 x 32 x 168 runs 20%
             * faster than 32 x 16 x 168) */
            for (int xi = 0; dweight && xi < 16; xi++)
                if (dU_t)
                    nf_sgemm(0, 1, C, OC, cols, 1.0f, V + xi * p.sV, p.ldt, dM + xi * p.sM,
                             p.ldt, 1.0f, dU + xi * OC * C, OC);
                else
                    nf_sgemm(0, 1, OC, C, cols, 1.0f, dM + xi * p.sM, p.ldt, V + xi * p.sV,
                             p.ldt, 1.0f, dU + xi * OC * C, C);
            if (dinp) {
                for (int xi = 0; xi < 16; xi++)   /* dV, over V */
                    nf_sgemm(1, 0, C, cols, OC, 1.0f, U + xi * OC * C, C, dM + xi * p.sM,
                             p.ldt, 0.0f, V + xi * p.sV, p.ldt);
                bad |= B->dinput(dinp, V, p.ldt, p.sV, g, p.TH, p.TW, r0, nr, scratch);
                /* the images whose every tile row is done: their input gradient is final */
                const nf_int upto = (r0 + nr) / p.TH;
                if (dinp_epi && upto > done)
                    dinp_epi->fn(dinp_epi->ctx, done, upto - done, 0, C * g->H * g->W);
                done = upto > done ? upto : done;
            }
        }
    }
    if (bad) return 0;
    float *sum = ws + p.shared + p.part;   /* thread 0's partials collect the others' */
    for (int t = 1; t < p.T; t++) {
        const float *part = ws + p.shared + t * p.per + p.part;
        for (nf_int i = 0; i < nU + OC; i++) sum[i] += part[i];
    }
    if (dweight && !nf_all_finite(sum, nU)) return 0;   /* an overflow in dU */
    if (dweight) weight_gradient(dweight, sum, OC, C, dU_t, accumulate);
    if (dbias)
        for (nf_int oc = 0; oc < OC; oc++)
            dbias[oc] = (accumulate ? dbias[oc] : 0.0f) + sum[nU + oc];
    return 1;
}
