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
 * The transforms are adds (and halves for G), vectorised across the tiles of a row; the
 * GEMMs are nf_sgemm's, serial on each worker.
 *
 * What it is not: F(4x4, 3x3) (fewer FLOPs, larger rounding errors), strides, dilations,
 * groups or bf16 (conv.c runs those through im2col).
 *
 * Non-finite values. Winograd mixes neighbouring inputs (inf - inf), so an inf gives NaN where
 * the direct sum gives inf. The transforms flag any inf or NaN they read, and the caller then
 * runs the im2col path instead: the results are its, and no output of ours is kept (weight
 * and bias gradients are only written after the check).
 *
 * Threads. Forward spreads tile rows over the threads (outputs do not overlap); backward
 * spreads whole images (input gradients of neighbouring tiles overlap). Each thread works in
 * bands of whole tile rows, sized so its transformed input and output (16 x (C + OC) x tiles)
 * stay in L2. Weight/bias gradients: one partial per thread, summed in thread order.
 */
#include <stdlib.h>
#include <string.h>
#include "conv_internal.h"
#include "nf_simd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
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

int nf_winograd_applies(const nf_conv2d_geom *g)
{
    return g->G == 1 && g->KH == 3 && g->KW == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 &&
           g->dw == 1 && g->C >= 8 && g->OC >= 8 && g->OH >= 4 && g->OW >= 4 && g->N > 0;
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
    const nf_int mine = (rows + p.T - 1) / p.T;   /* tile rows of the busiest thread */
    if (p.R > mine) p.R = mine;
    p.ldt = round16(p.R * p.TW + 15);   /* + 15: the AVX-512 bands store whole vectors */
    p.shared = round16(16 * g->OC * g->C);
    p.V = 0;
    p.sV = xi_stride(g->C, p.ldt);
    p.sM = xi_stride(g->OC, p.ldt);
    p.M = p.V + 16 * p.sV;
    p.scratch = p.M + 16 * p.sM;
    p.part = p.scratch + round16(32 * p.ldt + 2 * p.TW + 2);   /* the biggest band's */
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
/* Data transforms over a band of tile rows r0 .. r0+nrows-1 (row = n * TH + ty). Each runs   */
/* in two stages: a short one per tile row that moves between the image's layout and         */
/* streams[.][j] of the band's tiles j = (row - r0) * TW + tx, and the transform's adds over */
/* the whole band (long, contiguous, vectorised loops).                                      */
/* ---------------------------------------------------------------------------------------- */

/* The 1-D transforms, one output stream each, over n tiles. */
static inline void bt4(float *restrict o0, float *restrict o1, float *restrict o2,
                       float *restrict o3, const float *restrict a0, const float *restrict a1,
                       const float *restrict a2, const float *restrict a3, nf_int n)
{   /* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
    for (nf_int j = 0; j < n; j++) {
        o0[j] = a0[j] - a2[j];
        o1[j] = a1[j] + a2[j];
        o2[j] = a2[j] - a1[j];
        o3[j] = a1[j] - a3[j];
    }
}

static inline void at4(float *restrict o0, float *restrict o1, const float *restrict a0,
                       const float *restrict a1, const float *restrict a2,
                       const float *restrict a3, nf_int n)
{   /* A^T = [1 1 1 0; 0 1 -1 -1] */
    for (nf_int j = 0; j < n; j++) {
        o0[j] = a0[j] + a1[j] + a2[j];
        o1[j] = a1[j] - a2[j] - a3[j];
    }
}

static inline void a2(float *restrict o0, float *restrict o1, float *restrict o2,
                      float *restrict o3, const float *restrict a0, const float *restrict a1,
                      nf_int n)
{   /* A = [1 0; 1 1; 1 -1; 0 -1] */
    for (nf_int j = 0; j < n; j++) {
        o0[j] = a0[j];
        o1[j] = a0[j] + a1[j];
        o2[j] = a0[j] - a1[j];
        o3[j] = -a1[j];
    }
}

static inline void b4(float *restrict o0, float *restrict o1, float *restrict o2,
                      float *restrict o3, const float *restrict a0, const float *restrict a1,
                      const float *restrict a2, const float *restrict a3, nf_int n)
{   /* B = [1 0 0 0; 0 1 -1 1; -1 1 1 0; 0 0 0 -1] */
    for (nf_int j = 0; j < n; j++) {
        o0[j] = a0[j];
        o1[j] = a1[j] - a2[j] + a3[j];
        o2[j] = a1[j] + a2[j] - a0[j];
        o3[j] = -a3[j];
    }
}

/* line[0 .. L) = input row ih of plane with the padding's zeros (L = 2TW + 2); returns 1 if
 * a value read is inf or NaN. */
static int input_line(float *line, const float *plane, nf_int ih, const nf_conv2d_geom *g,
                      nf_int L)
{
    if (ih < 0 || ih >= g->H) {
        for (nf_int q = 0; q < L; q++) line[q] = 0.0f;
        return 0;
    }
    const float *src = plane + ih * g->W;
    const nf_int lo = g->pw < L ? g->pw : L;
    nf_int hi = g->pw + g->W;   /* line[lo .. hi) from the row */
    if (hi > L) hi = L;
    int bad = 0;
    for (nf_int q = 0; q < lo; q++) line[q] = 0.0f;
    for (nf_int q = lo; q < hi; q++) {
        const float v = src[q - g->pw];
        line[q] = v;
        bad |= !(v - v == 0.0f);
    }
    for (nf_int q = hi; q < L; q++) line[q] = 0.0f;
    return bad;
}

/* V[xi][c][j] = (B^T d B)[xi] for the band's tiles. Returns 1 if an input read is not finite.
 * scratch: 16 * ldt + 2TW + 2 floats. */
NF_CLONES static int input_band(float *V, nf_int ldt, nf_int sx, const float *inp, const nf_conv2d_geom *g,
                                const wino_plan *p, nf_int r0, nf_int nrows, float *scratch)
{
    const nf_int TW = p->TW, L = 2 * TW + 2, C = g->C, n = nrows * TW;
    float *rt = scratch, *line = scratch + 16 * ldt;   /* rt[4r + k][j]: along the rows */
    int bad = 0;
    for (nf_int c = 0; c < C; c++) {
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / p->TH, ty = (r0 + rr) % p->TH;
            const float *plane = inp + (img * C + c) * g->H * g->W;
            for (nf_int r = 0; r < 4; r++) {
                bad |= input_line(line, plane, 2 * ty - g->ph + r, g, L);
                float *o = rt + 4 * r * ldt + rr * TW;
                for (nf_int t = 0; t < TW; t++) {
                    const float x0 = line[2 * t], x1 = line[2 * t + 1];
                    const float x2 = line[2 * t + 2], x3 = line[2 * t + 3];
                    o[t] = x0 - x2;
                    o[ldt + t] = x1 + x2;
                    o[2 * ldt + t] = x2 - x1;
                    o[3 * ldt + t] = x1 - x3;
                }
            }
        }
        for (nf_int k = 0; k < 4; k++) {   /* down the columns, over the band */
            float *v = V + k * sx + c * ldt;
            const nf_int s = 4 * sx;   /* from xi to xi + 4 */
            bt4(v, v + s, v + 2 * s, v + 3 * s, rt + k * ldt, rt + (4 + k) * ldt,
                rt + (8 + k) * ldt, rt + (12 + k) * ldt, n);
        }
    }
    return bad;
}

/* out tiles = A^T M A (+ bias); the last row/column of a tile is dropped where OH/OW is odd.
 * scratch: 12 * ldt floats. */
NF_CLONES static void output_band(float *out, const float *M, nf_int ldt, nf_int sx,
                                  const float *bias,
                                  const nf_conv2d_geom *g, const wino_plan *p, nf_int r0,
                                  nf_int nrows, float *scratch)
{
    const nf_int TW = p->TW, OC = g->OC, OHW = g->OH * g->OW, n = nrows * TW, pairs = g->OW / 2;
    float *S = scratch, *Y = scratch + 8 * ldt;   /* S[2a + ...]: after the columns; Y[2a + b] */
    for (nf_int oc = 0; oc < OC; oc++) {
        const float b = bias ? bias[oc] : 0.0f;
        const float *m = M + oc * ldt;
        const nf_int s = sx;
        for (nf_int k = 0; k < 4; k++)   /* S[k], S[4 + k]: tile rows 0, 1 at column k */
            at4(S + k * ldt, S + (4 + k) * ldt, m + k * s, m + (4 + k) * s, m + (8 + k) * s,
                m + (12 + k) * s, n);
        at4(Y, Y + ldt, S, S + ldt, S + 2 * ldt, S + 3 * ldt, n);
        at4(Y + 2 * ldt, Y + 3 * ldt, S + 4 * ldt, S + 5 * ldt, S + 6 * ldt, S + 7 * ldt, n);
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / p->TH, ty = (r0 + rr) % p->TH;
            for (nf_int a = 0; a < 2 && 2 * ty + a < g->OH; a++) {
                const float *y0 = Y + 2 * a * ldt + rr * TW, *y1 = y0 + ldt;
                float *dst = out + (img * OC + oc) * OHW + (2 * ty + a) * g->OW;
                for (nf_int t = 0; t < pairs; t++) {
                    dst[2 * t] = y0[t] + b;
                    dst[2 * t + 1] = y1[t] + b;
                }
                if (g->OW & 1) dst[g->OW - 1] = y0[pairs] + b;
            }
        }
    }
}

/* dM[xi][oc][j] = (A dY A^T)[xi] for the band's tiles (dY zero past OH/OW). Returns 1 if a
 * value read is not finite. scratch: 12 * ldt floats. */
NF_CLONES static int dout_band(float *dM, nf_int ldt, nf_int sx, const float *dout, const nf_conv2d_geom *g,
                               const wino_plan *p, nf_int r0, nf_int nrows, float *scratch)
{
    const nf_int TW = p->TW, OC = g->OC, OHW = g->OH * g->OW, n = nrows * TW, pairs = g->OW / 2;
    float *Y = scratch, *Q = scratch + 4 * ldt;   /* Y[2a + b][j]: dY's (a, b); Q[4a + k] */
    int bad = 0;
    for (nf_int oc = 0; oc < OC; oc++) {
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / p->TH, ty = (r0 + rr) % p->TH;
            for (nf_int a = 0; a < 2; a++) {
                float *y0 = Y + 2 * a * ldt + rr * TW, *y1 = y0 + ldt;
                if (2 * ty + a >= g->OH) {
                    for (nf_int t = 0; t < TW; t++) y0[t] = y1[t] = 0.0f;
                    continue;
                }
                const float *src = dout + (img * OC + oc) * OHW + (2 * ty + a) * g->OW;
                for (nf_int t = 0; t < pairs; t++) {
                    const float u = src[2 * t], v = src[2 * t + 1];
                    y0[t] = u;
                    y1[t] = v;
                    bad |= !(u - u == 0.0f) | !(v - v == 0.0f);
                }
                if (g->OW & 1) {
                    const float u = src[g->OW - 1];
                    y0[pairs] = u;
                    y1[pairs] = 0.0f;
                    bad |= !(u - u == 0.0f);
                }
            }
        }
        a2(Q, Q + ldt, Q + 2 * ldt, Q + 3 * ldt, Y, Y + ldt, n);                   /* row 0 */
        a2(Q + 4 * ldt, Q + 5 * ldt, Q + 6 * ldt, Q + 7 * ldt, Y + 2 * ldt, Y + 3 * ldt, n);
        float *m = dM + oc * ldt;
        const nf_int s = sx;
        for (nf_int k = 0; k < 4; k++)
            a2(m + k * s, m + (4 + k) * s, m + (8 + k) * s, m + (12 + k) * s, Q + k * ldt,
               Q + (4 + k) * ldt, n);
    }
    return bad;
}

/* dinp += B dV B^T over the band's tiles (each tile's 4x4 at (2ty - ph, 2tx - pw), the
 * padding's part dropped); tiles overlap, so a band's rows go in order on one thread.
 * scratch: 32 * ldt + 2TW + 2 floats. */
NF_CLONES static void dinput_band(float *dinp, const float *dV, nf_int ldt, nf_int sx,
                                  const nf_conv2d_geom *g, const wino_plan *p, nf_int r0,
                                  nf_int nrows, float *scratch)
{
    const nf_int TW = p->TW, C = g->C, L = 2 * TW + 2, HW = g->H * g->W, n = nrows * TW;
    float *P = scratch, *D = scratch + 16 * ldt, *line = scratch + 32 * ldt;
    nf_int w_end = L - g->pw;   /* line q = iw + pw covers iw < L - pw */
    if (w_end > g->W) w_end = g->W;
    for (nf_int c = 0; c < C; c++) {
        const float *v = dV + c * ldt;
        const nf_int s = sx;
        for (nf_int k = 0; k < 4; k++)   /* P[4r + k]: down the columns */
            b4(P + k * ldt, P + (4 + k) * ldt, P + (8 + k) * ldt, P + (12 + k) * ldt, v + k * s,
               v + (4 + k) * s, v + (8 + k) * s, v + (12 + k) * s, n);
        for (nf_int r = 0; r < 4; r++)   /* D[4r + k]: along the rows */
            b4(D + 4 * r * ldt, D + (4 * r + 1) * ldt, D + (4 * r + 2) * ldt,
               D + (4 * r + 3) * ldt, P + 4 * r * ldt, P + (4 * r + 1) * ldt,
               P + (4 * r + 2) * ldt, P + (4 * r + 3) * ldt, n);
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / p->TH, ty = (r0 + rr) % p->TH;
            float *plane = dinp + (img * C + c) * HW;
            for (nf_int r = 0; r < 4; r++) {
                const nf_int ih = 2 * ty - g->ph + r;
                if (ih < 0 || ih >= g->H) continue;
                const float *d = D + 4 * r * ldt + rr * TW;
                line[2 * TW] = line[2 * TW + 1] = 0.0f;
                for (nf_int t = 0; t < TW; t++) {   /* columns 0, 1 of each tile */
                    line[2 * t] = d[t];
                    line[2 * t + 1] = d[ldt + t];
                }
                for (nf_int t = 0; t < TW; t++) {   /* 2, 3: on the next tile's 0, 1 */
                    line[2 * t + 2] += d[2 * ldt + t];
                    line[2 * t + 3] += d[3 * ldt + t];
                }
                float *dst = plane + ih * g->W;
                for (nf_int iw = 0; iw < w_end; iw++) dst[iw] += line[iw + g->pw];
            }
        }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* The bands on AVX-512 where the CPU has it, else the portable ones (also where
 * NNFAST_CONV_WINOGRAD=portable, read on first use: how tests reach them on AVX-512). */
static int have_avx512(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int has = -1;
    int v = __atomic_load_n(&has, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("NNFAST_CONV_WINOGRAD");
        v = !(e && strcmp(e, "portable") == 0) && __builtin_cpu_supports("avx512f") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl");
        __atomic_store_n(&has, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

static int input_of(float *V, const float *inp, const nf_conv2d_geom *g, const wino_plan *p,
                    nf_int r0, nf_int nr, float *scratch)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_avx512()) return nf_wino_input_avx512(V, p->ldt, p->sV, inp, g, p->TH, p->TW, r0, nr);
#endif
    return input_band(V, p->ldt, p->sV, inp, g, p, r0, nr, scratch);
}

static void output_of(float *out, const float *M, const float *bias, const nf_conv2d_geom *g,
                      const wino_plan *p, nf_int r0, nf_int nr, float *scratch)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_avx512()) {
        nf_wino_output_avx512(out, M, p->ldt, p->sM, bias, g, p->TH, p->TW, r0, nr);
        return;
    }
#endif
    output_band(out, M, p->ldt, p->sM, bias, g, p, r0, nr, scratch);
}

static int dout_of(float *dM, const float *dout, const nf_conv2d_geom *g, const wino_plan *p,
                   nf_int r0, nf_int nr, float *scratch)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_avx512()) return nf_wino_dout_avx512(dM, p->ldt, p->sM, dout, g, p->TH, p->TW, r0, nr);
#endif
    return dout_band(dM, p->ldt, p->sM, dout, g, p, r0, nr, scratch);
}

static void dinput_of(float *dinp, const float *dV, const nf_conv2d_geom *g, const wino_plan *p,
                      nf_int r0, nf_int nr, float *scratch)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_avx512()) {
        nf_wino_dinput_avx512(dinp, dV, p->ldt, p->sV, g, p->TH, p->TW, r0, nr);
        return;
    }
#endif
    dinput_band(dinp, dV, p->ldt, p->sV, g, p, r0, nr, scratch);
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
    const float *U = ws;
    const nf_int rows = g->N * p.TH;
    int bad = 0;
#ifdef _OPENMP
#pragma omp parallel num_threads(p.T) if (p.T > 1) reduction(| : bad)
#endif
    {
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        float *mine = ws + p.shared + t * p.per;
        float *V = mine + p.V, *M = mine + p.M, *scratch = mine + p.scratch;
        nf_int lo, hi;
        share(rows, t, T, &lo, &hi);
        for (nf_int r0 = lo; r0 < hi && !bad; r0 += p.R) {
            const nf_int nr = hi - r0 < p.R ? hi - r0 : p.R, cols = nr * p.TW;
            bad |= input_of(V, inp, g, &p, r0, nr, scratch);
            if (bad) break;
            for (int xi = 0; xi < 16; xi++)
                nf_sgemm(0, 0, g->OC, cols, g->C, 1.0f, U + xi * g->OC * g->C, g->C,
                         V + xi * p.sV, p.ldt, 0.0f, M + xi * p.sM, p.ldt);
            output_of(out, M, bias, g, &p, r0, nr, scratch);
            if (epi) band_epilogue(epi, g, &p, r0, nr);
        }
    }
    return !bad;
}

int nf_winograd_backward(float *dinp, float *dweight, float *dbias, float *ws, nf_int ws_size,
                         const float *dout, const float *inp, const float *weight,
                         const nf_conv2d_geom *g, int accumulate, const nf_gemm_epi *dinp_epi)
{
    const wino_plan p = fit_plan(g, 1, ws_size);
    if (p.T == 0 || !weight_transform(ws, weight, g->OC, g->C)) return 0;
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
        int t = 0, T = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        T = omp_get_num_threads();
#endif
        float *mine = ws + p.shared + t * p.per;
        float *V = mine + p.V, *dM = mine + p.M, *scratch = mine + p.scratch;
        float *dU = mine + p.part, *db = dU + nU;
        nf_int n_lo, n_hi;
        share(g->N, t, T, &n_lo, &n_hi);
        if (dinp && n_hi > n_lo)
            memset(dinp + n_lo * C * g->H * g->W, 0,
                   (size_t)((n_hi - n_lo) * C * g->H * g->W) * sizeof(float));
        if (dbias)
            for (nf_int n = n_lo; n < n_hi; n++)
                for (nf_int oc = 0; oc < OC; oc++)
                    db[oc] += nf_conv_row_sum(dout + (n * OC + oc) * OHW, OHW);
        const nf_int hi = n_hi * p.TH;
        nf_int done = n_lo;   /* images before it have had the epilogue */
        for (nf_int r0 = n_lo * p.TH; r0 < hi && !bad; r0 += p.R) {
            const nf_int nr = hi - r0 < p.R ? hi - r0 : p.R, cols = nr * p.TW;
            bad |= dout_of(dM, dout, g, &p, r0, nr, scratch);
            if (dweight) bad |= input_of(V, inp, g, &p, r0, nr, scratch);
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
                dinput_of(dinp, V, g, &p, r0, nr, scratch);
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
    if (dweight) weight_gradient(dweight, sum, OC, C, dU_t, accumulate);
    if (dbias)
        for (nf_int oc = 0; oc < OC; oc++) dbias[oc] = (accumulate ? dbias[oc] : 0.0f) + sum[nU + oc];
    return 1;
}
