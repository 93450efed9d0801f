/* conv_winograd_portable.c — conv_winograd.c's band transforms in portable C, for CPUs
 * without AVX-512 (and tests, through NNFAST_CONV_WINOGRAD=portable).
 *
 * Each runs in two stages: a short one per tile row that moves between the image's layout
 * and streams[.][j] of the band's tiles j = (row - r0) * TW + tx, and the transform's adds
 * over the whole band (long, contiguous loops the vectoriser takes). Same arguments and
 * results as conv_winograd_avx512.c's, plus a scratch of nf_wino_portable_scratch floats.
 */
#include "conv_internal.h"
#include "nf_simd.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-loop-distribute-patterns")
#endif

nf_int nf_wino_portable_scratch(nf_int ldt, nf_int TW) { return 32 * ldt + 2 * TW + 2; }


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
NF_CLONES int nf_wino_input_portable(float *V, nf_int ldt, nf_int sx, const float *inp,
                                     const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                                     nf_int nrows, float *scratch)
{
    const nf_int L = 2 * TW + 2, C = g->C, n = nrows * TW;
    float *rt = scratch, *line = scratch + 16 * ldt;   /* rt[4r + k][j]: along the rows */
    int bad = 0;
    for (nf_int c = 0; c < C; c++) {
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
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
 * Returns 1 if an output is inf or NaN. scratch: 12 * ldt floats. */
NF_CLONES int nf_wino_output_portable(float *out, const float *M, nf_int ldt, nf_int sx,
                                      const float *bias, const nf_conv2d_geom *g, nf_int TH,
                                      nf_int TW, nf_int r0, nf_int nrows, float *scratch)
{
    const nf_int OC = g->OC, OHW = g->OH * g->OW, n = nrows * TW, pairs = g->OW / 2;
    int bad = 0;
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
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
            for (nf_int a = 0; a < 2 && 2 * ty + a < g->OH; a++) {
                const float *y0 = Y + 2 * a * ldt + rr * TW, *y1 = y0 + ldt;
                float *dst = out + (img * OC + oc) * OHW + (2 * ty + a) * g->OW;
                for (nf_int t = 0; t < pairs; t++) {
                    dst[2 * t] = y0[t] + b;
                    dst[2 * t + 1] = y1[t] + b;
                }
                if (g->OW & 1) dst[g->OW - 1] = y0[pairs] + b;
                for (nf_int j = 0; j < g->OW; j++) bad |= !(dst[j] - dst[j] == 0.0f);
            }
        }
    }
    return bad;
}

/* dM[xi][oc][j] = (A dY A^T)[xi] for the band's tiles (dY zero past OH/OW). Returns 1 if a
 * value read is not finite. scratch: 12 * ldt floats. */
NF_CLONES int nf_wino_dout_portable(float *dM, nf_int ldt, nf_int sx, const float *dout,
                                    const nf_conv2d_geom *g, nf_int TH, nf_int TW, nf_int r0,
                                    nf_int nrows, float *scratch)
{
    const nf_int OC = g->OC, OHW = g->OH * g->OW, n = nrows * TW, pairs = g->OW / 2;
    float *Y = scratch, *Q = scratch + 4 * ldt;   /* Y[2a + b][j]: dY's (a, b); Q[4a + k] */
    int bad = 0;
    for (nf_int oc = 0; oc < OC; oc++) {
        for (nf_int rr = 0; rr < nrows; rr++) {
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
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
 * Returns 1 if a sum it leaves is inf or NaN. scratch: 32 * ldt + 2TW + 2 floats. */
NF_CLONES int nf_wino_dinput_portable(float *dinp, const float *dV, nf_int ldt, nf_int sx,
                                      const nf_conv2d_geom *g, nf_int TH, nf_int TW,
                                      nf_int r0, nf_int nrows, float *scratch)
{
    const nf_int C = g->C, L = 2 * TW + 2, HW = g->H * g->W, n = nrows * TW;
    int bad = 0;
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
            const nf_int img = (r0 + rr) / TH, ty = (r0 + rr) % TH;
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
                for (nf_int iw = 0; iw < w_end; iw++) {
                    dst[iw] += line[iw + g->pw];
                    bad |= !(dst[iw] - dst[iw] == 0.0f);
                }
            }
        }
    }
    return bad;
}
