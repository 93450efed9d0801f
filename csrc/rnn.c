/* rnn.c — recurrent layers (Elman RNN, LSTM, GRU) over a whole sequence, and embedding.
 *
 * What it is: one layer in one direction per call, the whole time loop in C.
 *   Forward: the input projection of every time step is one GEMM, gates = x @ W_ih^T + b_ih
 *   over T*B rows; then per step one small GEMM gh = b_hh + h_prev @ W_hh^T (the bias is
 *   its C operand) and one fused gate kernel (sigmoid/tanh and state update in one pass
 *   over B x H) that also saves what backward needs: the activated gates (overwriting
 *   the projections) and the cell state (LSTM) or the hidden-side n-gate term
 *   W_hn h + b_hn (GRU).
 *   Backward (backprop through time): a reverse loop of a fused gate-backward kernel plus
 *   one GEMM per step for the gradient flowing into h_prev; then dW_hh, dW_ih, the biases
 *   and dinput each as one GEMM (or column sum) over all time steps at once.
 * Gate orders and formulas are PyTorch's (torch/nn/modules/rnn.py docs, aten RNN.cpp):
 *   RNN : h = act(W_ih x + b_ih + W_hh h_prev + b_hh), act = tanh or relu
 *   LSTM: gates i, f, g, o; c = f * c_prev + i * g; h = o * tanh(c)
 *   GRU : gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h_prev + b_hn));
 *         h = n + z * (h_prev - n)            (= (1 - z) * n + z * h_prev, torch's op order)
 *
 * What it is not: a multi-layer or bidirectional driver (nnfast/nn/_functional_rnn.py loops
 * over layers and directions and applies inter-layer dropout), nor a packed-sequence
 * implementation (every sequence in the batch has the full length T; packed input is run
 * by nnfast/nn/utils/rnn.py as one call per stretch of steps with equal batch size). float32 only; the
 * float64 path is the NumPy reference in _functional_rnn.py, which these kernels are tested
 * equal to. No allocation: the caller hands in every buffer, scratch included.
 * prec (NF_PREC_BF16 under autocast) is the precision of every GEMM; the gate kernels, the
 * states and the bias column sums stay fp32.
 *
 * Layouts (row-major): x[T, B, I] time-major; W_ih[G*H, I], W_hh[G*H, H] with G = 1 (RNN),
 * 4 (LSTM), 3 (GRU) gate blocks in PyTorch's order; a layer's output rows are strided by ldo
 * so the two directions of a bidirectional layer write their halves of one [T, B, 2H] array.
 */
#include <math.h>
#include <string.h>

#include "nnfast.h"
#include "nf_vmath.h"

#include "nf_simd.h"

#define RS __restrict /* the gate kernels' arrays never overlap (lets GCC vectorise) */

static inline float sigm(float x) { return 1.0f / (1.0f + nf_expf(-x)); }

static nf_int n_gates(int mode) { return mode == NF_RNN_LSTM ? 4 : mode == NF_RNN_GRU ? 3 : 1; }

/* ------------------------------------------------------------------------------------- */
/* Fused gate kernels, one time step over B rows                                         */
/* ------------------------------------------------------------------------------------- */
/* Forward. g[B, G*H]: in = input projections (b_ih included), out = activated gates.
 * gh[B, G*H] = h_prev @ W_hh^T + b_hh. hp: h_prev rows, stride ldh. h: output rows,
 * stride ldo. */

NF_CLONES static void rnn_step_f(float *RS h, nf_int ldo, const float *RS g,
                                 const float *RS gh, nf_int B, nf_int H, int relu)
{
    for (nf_int b = 0; b < B; b++) {
        const float *gx = g + b * H, *gr = gh + b * H;
        float *hb = h + b * ldo;
        if (relu) {
            for (nf_int j = 0; j < H; j++) {
                float a = gx[j] + gr[j];
                hb[j] = a > 0.0f ? a : 0.0f;
            }
        } else {
            for (nf_int j = 0; j < H; j++)
                hb[j] = nf_tanhf(gx[j] + gr[j]);
        }
    }
}

/* c[B, H] (saved cell state), c_prev rows [B, H] */
NF_CLONES static void lstm_step_f(float *RS h, nf_int ldo, float *RS c, float *RS g,
                                  const float *RS gh, const float *RS cp, nf_int B, nf_int H)
{
    for (nf_int b = 0; b < B; b++) {
        float *gi = g + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *ri = gh + b * 4 * H, *rf = ri + H, *rg = ri + 2 * H, *ro = ri + 3 * H;
        const float *cpb = cp + b * H;
        float *cb = c + b * H, *hb = h + b * ldo;
        for (nf_int j = 0; j < H; j++) {
            float i = sigm(gi[j] + ri[j]);
            float f = sigm(gf[j] + rf[j]);
            float gc = nf_tanhf(gg[j] + rg[j]);
            float o = sigm(go[j] + ro[j]);
            float cn = f * cpb[j] + i * gc;
            gi[j] = i; gf[j] = f; gg[j] = gc; go[j] = o;
            cb[j] = cn;
            hb[j] = o * nf_tanhf(cn);
        }
    }
}

/* hn[B, H] saved W_hn h_prev + b_hn; hp: h_prev rows with stride ldh */
NF_CLONES static void gru_step_f(float *RS h, nf_int ldo, float *RS hn, float *RS g,
                                 const float *RS gh, const float *RS hp, nf_int ldh, nf_int B,
                                 nf_int H)
{
    for (nf_int b = 0; b < B; b++) {
        float *gr = g + b * 3 * H, *gz = gr + H, *gn = gr + 2 * H;
        const float *rr = gh + b * 3 * H, *rz = rr + H, *rn = rr + 2 * H;
        const float *hpb = hp + b * ldh;
        float *hnb = hn + b * H, *hb = h + b * ldo;
        for (nf_int j = 0; j < H; j++) {
            float r = sigm(gr[j] + rr[j]);
            float z = sigm(gz[j] + rz[j]);
            float hl = rn[j];
            float n = nf_tanhf(gn[j] + r * hl);
            gr[j] = r; gz[j] = z; gn[j] = n;
            hnb[j] = hl;
            hb[j] = n + z * (hpb[j] - n);
        }
    }
}

/* Backward of one step. dh[B, H] holds the gradient arriving from step t+1 (through
 * h_prev); dout rows (stride ldo) the gradient of this step's output. dg[B, G*H] receives
 * the gradient of the pre-activations on the input side (-> dW_ih, db_ih, dx); for GRU
 * dgh[B, 3H] that on the hidden side (its n block differs: multiplied by r). */

/* da = (dout + dh) * act'(a), from the saved output h (rows stride ldo) */
NF_CLONES static void rnn_step_b(float *RS dg, const float *RS dh, const float *RS dout,
                                 const float *RS h, nf_int ldo, nf_int B, nf_int H, int relu)
{
    for (nf_int b = 0; b < B; b++) {
        const float *db = dout + b * ldo, *hb = h + b * ldo, *dhb = dh + b * H;
        float *d = dg + b * H;
        if (relu) {
            for (nf_int j = 0; j < H; j++) d[j] = hb[j] > 0.0f ? db[j] + dhb[j] : 0.0f;
        } else {
            for (nf_int j = 0; j < H; j++)
                d[j] = (db[j] + dhb[j]) * (1.0f - hb[j] * hb[j]);
        }
    }
}

/* differentiates lstm_step_f; dc[B, H] in: dL/dc from step t+1, out: dL/dc_prev */
NF_CLONES static void lstm_step_b(float *RS dg, float *RS dc, const float *RS dh,
                                  const float *RS dout, nf_int ldo, const float *RS g,
                                  const float *RS c, const float *RS cp, nf_int B, nf_int H)
{
    for (nf_int b = 0; b < B; b++) {
        const float *gi = g + b * 4 * H, *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
        const float *db = dout + b * ldo, *dhb = dh + b * H, *cb = c + b * H, *cpb = cp + b * H;
        float *di = dg + b * 4 * H, *df = di + H, *dgg = di + 2 * H, *dgo = di + 3 * H;
        float *dcb = dc + b * H;
        for (nf_int j = 0; j < H; j++) {
            float i = gi[j], f = gf[j], gc = gg[j], o = go[j];
            float tc = nf_tanhf(cb[j]);
            float dhv = db[j] + dhb[j];                      /* h = o * tanh(c) */
            float dcv = dcb[j] + dhv * o * (1.0f - tc * tc);
            dgo[j] = dhv * tc * o * (1.0f - o);
            di[j] = dcv * gc * i * (1.0f - i);               /* c = f*c_prev + i*g */
            dgg[j] = dcv * i * (1.0f - gc * gc);
            df[j] = dcv * cpb[j] * f * (1.0f - f);
            dcb[j] = dcv * f;
        }
    }
}

/* differentiates gru_step_f; dh[B, H] in: gradient from step t+1, out: the direct part of
 * dL/dh_prev (dh * z); the caller then adds dgh @ W_hh */
NF_CLONES static void gru_step_b(float *RS dg, float *RS dgh, float *RS dh,
                                 const float *RS dout, nf_int ldo, const float *RS g,
                                 const float *RS hn, const float *RS hp, nf_int ldh, nf_int B,
                                 nf_int H)
{
    for (nf_int b = 0; b < B; b++) {
        const float *gr = g + b * 3 * H, *gz = gr + H, *gn = gr + 2 * H;
        const float *db = dout + b * ldo, *hnb = hn + b * H, *hpb = hp + b * ldh;
        float *dr = dg + b * 3 * H, *dz = dr + H, *dn = dr + 2 * H;
        float *hr = dgh + b * 3 * H, *hz = hr + H, *hnn = hr + 2 * H;
        float *dhb = dh + b * H;
        for (nf_int j = 0; j < H; j++) {
            float r = gr[j], z = gz[j], n = gn[j];
            float dhv = db[j] + dhb[j];                      /* h = n + z * (h_prev - n) */
            float dan = dhv * (1.0f - z) * (1.0f - n * n);   /* n = tanh(an) */
            float dar = dan * hnb[j] * r * (1.0f - r);       /* an = x_n + r * hn */
            float daz = dhv * (hpb[j] - n) * z * (1.0f - z);
            dr[j] = dar; dz[j] = daz; dn[j] = dan;
            hr[j] = dar; hz[j] = daz; hnn[j] = dan * r;
            dhb[j] = dhv * z;
        }
    }
}

/* ------------------------------------------------------------------------------------- */
/* One layer, one direction, whole sequence                                              */
/* ------------------------------------------------------------------------------------- */

void nf_rnn_layer_forward(float *out, float *hn, float *cn, float *gates, float *saved,
                          float *ws, const float *x, const float *w_ih, const float *w_hh,
                          const float *b_ih, const float *b_hh, const float *h0,
                          const float *c0, nf_int T, nf_int B, nf_int I, nf_int H, nf_int ldo,
                          int mode, int reverse, int prec)
{
    nf_int G = n_gates(mode) * H;
    /* the input projection for all steps: gates[T*B, G] = x[T*B, I] @ W_ih^T + b_ih */
    nf_linear_forward_prec(prec, gates, x, w_ih, b_ih, T * B, I, G, NULL);
    for (nf_int s = 0; s < T; s++) {
        nf_int t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
        const float *hp = s == 0 ? h0 : out + tp * B * ldo;
        nf_int ldh = s == 0 ? H : ldo;
        float *ht = out + t * B * ldo, *gt = gates + t * B * G;
        /* ws = b_hh + h_prev W_hh^T (the bias is the GEMM's C operand) */
        if (b_hh)
            for (nf_int b = 0; b < B; b++) memcpy(ws + b * G, b_hh, G * sizeof(float));
        nf_sgemm_prec(prec, 0, 1, B, G, H, 1.0f, hp, ldh, w_hh, H, b_hh ? 1.0f : 0.0f, ws, G);
        switch (mode) {
        case NF_RNN_TANH:
        case NF_RNN_RELU:
            rnn_step_f(ht, ldo, gt, ws, B, H, mode == NF_RNN_RELU);
            break;
        case NF_RNN_LSTM: {
            const float *cp = s == 0 ? c0 : saved + tp * B * H;
            lstm_step_f(ht, ldo, saved + t * B * H, gt, ws, cp, B, H);
            break;
        }
        default:
            gru_step_f(ht, ldo, saved + t * B * H, gt, ws, hp, ldh, B, H);
        }
    }
    nf_int tl = reverse ? 0 : T - 1; /* the step processed last */
    for (nf_int b = 0; b < B; b++)
        memcpy(hn + b * H, out + (tl * B + b) * ldo, H * sizeof(float));
    if (mode == NF_RNN_LSTM && cn)
        memcpy(cn, saved + tl * B * H, B * H * sizeof(float));
}

void nf_rnn_layer_backward(float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                           float *dh0, float *dc0, float *dg, float *dgh, float *ws,
                           const float *dout, const float *dhn, const float *dcn,
                           const float *x, const float *w_ih, const float *w_hh,
                           const float *h0, const float *c0, const float *out,
                           const float *gates, const float *saved, nf_int T, nf_int B,
                           nf_int I, nf_int H, nf_int ldo, int mode, int reverse,
                           int dx_accumulate, int prec)
{
    nf_int G = n_gates(mode) * H, BH = B * H;
    float *dh = ws, *dc = ws + BH;
    const float *dgr = mode == NF_RNN_GRU ? dgh : dg; /* the hidden-side pre-activation grads */
    if (dhn) memcpy(dh, dhn, BH * sizeof(float));
    else memset(dh, 0, BH * sizeof(float));
    if (mode == NF_RNN_LSTM) {
        if (dcn) memcpy(dc, dcn, BH * sizeof(float));
        else memset(dc, 0, BH * sizeof(float));
    }
    for (nf_int s = T - 1; s >= 0; s--) {
        nf_int t = reverse ? T - 1 - s : s, tp = reverse ? t + 1 : t - 1;
        const float *hp = s == 0 ? h0 : out + tp * B * ldo;
        nf_int ldh = s == 0 ? H : ldo;
        const float *gt = gates + t * B * G, *dot = dout + t * B * ldo;
        float *dgt = dg + t * B * G;
        switch (mode) {
        case NF_RNN_TANH:
        case NF_RNN_RELU:
            rnn_step_b(dgt, dh, dot, out + t * B * ldo, ldo, B, H, mode == NF_RNN_RELU);
            break;
        case NF_RNN_LSTM: {
            const float *cp = s == 0 ? c0 : saved + tp * B * H;
            lstm_step_b(dgt, dc, dh, dot, ldo, gt, saved + t * B * H, cp, B, H);
            break;
        }
        default:
            gru_step_b(dgt, dgh + t * B * G, dh, dot, ldo, gt, saved + t * B * H, hp, ldh, B, H);
        }
        if (s > 0 || dh0) /* dh_prev (+)= dgates_hidden @ W_hh; GRU added dh*z already */
            nf_sgemm_prec(prec, 0, 0, B, H, G, 1.0f, dgr + t * B * G, G, w_hh, H,
                          mode == NF_RNN_GRU ? 1.0f : 0.0f, dh, H);
    }
    if (dh0) memcpy(dh0, dh, BH * sizeof(float));
    if (dc0 && mode == NF_RNN_LSTM) memcpy(dc0, dc, BH * sizeof(float));

    if (dw_hh) {
        /* dW_hh += sum_t dgr[t]^T @ h_prev(t): the steps after the first read h_prev from
         * the output (one GEMM over (T-1)*B rows), the first one from h0 */
        nf_int first = reverse ? T - 1 : 0;
        if (T > 1) {
            const float *dgs = reverse ? dgr : dgr + B * G;
            const float *hs = reverse ? out + B * ldo : out;
            nf_sgemm_prec(prec, 1, 0, G, H, (T - 1) * B, 1.0f, dgs, G, hs, ldo, 1.0f, dw_hh,
                          H);
        }
        nf_sgemm_prec(prec, 1, 0, G, H, B, 1.0f, dgr + first * B * G, G, h0, H, 1.0f, dw_hh,
                      H);
    }
    if (db_hh) nf_colsum(db_hh, dgr, T * B, G, 1.0f);
    if (db_ih) nf_colsum(db_ih, dg, T * B, G, 1.0f);
    if (dw_ih) nf_sgemm_prec(prec, 1, 0, G, I, T * B, 1.0f, dg, G, x, I, 1.0f, dw_ih, I);
    if (dx)
        nf_sgemm_prec(prec, 0, 0, T * B, I, G, 1.0f, dg, G, w_ih, I,
                      dx_accumulate ? 1.0f : 0.0f, dx, I);
}

/* ------------------------------------------------------------------------------------- */
/* Embedding                                                                             */
/* ------------------------------------------------------------------------------------- */

void nf_embedding_forward(float *out, const float *weight, const int64_t *idx, nf_int N,
                          nf_int D)
{
    for (nf_int n = 0; n < N; n++)
        memcpy(out + n * D, weight + idx[n] * D, D * sizeof(float));
}

void nf_embedding_backward(float *dweight, const float *dout, const int64_t *idx,
                           const float *scale, nf_int N, nf_int D, nf_int padding_idx)
{
    for (nf_int n = 0; n < N; n++) {
        int64_t k = idx[n];
        if (k == padding_idx) continue;
        float s = scale ? scale[k] : 1.0f;
        float *dw = dweight + k * D;
        const float *g = dout + n * D;
        for (nf_int j = 0; j < D; j++) dw[j] += s * g[j];
    }
}
