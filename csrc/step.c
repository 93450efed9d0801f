/* step.c — one captured training step of a plain MLP (nnfast.compile_step), in one C call.
 *
 * What it is: a driver that runs a fixed sequence of ops (Linear, elementwise activation,
 * dropout) forward over a batch, the loss (cross entropy on class indices, or MSE) with its
 * gradient, and the backward pass, by calling the very kernels the eager layers call
 * (nf_linear_forward/backward, nf_*_forward/backward of act.c, nf_dropout_*, the loss.c
 * kernels) with the same arguments in the same order. So its results are bit-for-bit those
 * of the eager path; what it saves is the Python between the kernels.
 *
 * It also runs the optimizer update after backward when the caller hands one in: records
 * (nf_update) that the Python optimizer prepared exactly as its step() would call the
 * optim.c kernels.
 *
 * What it is not: a graph compiler, or a validator: the caller (nnfast/compile.py) has
 * checked every shape, label and option, and owns every buffer.
 */
#include <math.h>
#include <stddef.h>
#include "nnfast.h"

static void act_fwd(int kind, float *out, const float *inp, nf_int n, float a)
{
    switch (kind) {   /* kinds in nnfast/_C_act.pxi's order */
    case NF_ACT_RELU: nf_relu_forward(out, inp, n); break;
    case NF_ACT_LEAKY_RELU: nf_leaky_relu_forward(out, inp, n, a); break;
    case NF_ACT_ELU: nf_elu_forward(out, inp, n, a); break;
    case NF_ACT_SIGMOID: nf_sigmoid_forward(out, inp, n); break;
    case NF_ACT_TANH: nf_tanh_forward(out, inp, n); break;
    case NF_ACT_GELU: nf_gelu_forward(out, inp, n, 0); break;
    case NF_ACT_GELU_TANH: nf_gelu_forward(out, inp, n, 1); break;
    default: nf_silu_forward(out, inp, n); break;
    }
}

/* saved: the forward output for sigmoid/tanh, else the forward input */
static void act_bwd(int kind, float *dinp, const float *dout, const float *saved, nf_int n,
                    float a)
{
    switch (kind) {
    case NF_ACT_RELU: nf_relu_backward(dinp, dout, saved, n); break;
    case NF_ACT_LEAKY_RELU: nf_leaky_relu_backward(dinp, dout, saved, n, a); break;
    case NF_ACT_ELU: nf_elu_backward(dinp, dout, saved, n, a); break;
    case NF_ACT_SIGMOID: nf_sigmoid_backward(dinp, dout, saved, n); break;
    case NF_ACT_TANH: nf_tanh_backward(dinp, dout, saved, n); break;
    case NF_ACT_GELU: nf_gelu_backward(dinp, dout, saved, n, 0); break;
    case NF_ACT_GELU_TANH: nf_gelu_backward(dinp, dout, saved, n, 1); break;
    default: nf_silu_backward(dinp, dout, saved, n); break;
    }
}

/* Backward, last op first, down to the first op with a gradient to give; g = dlogits. */
static void mlp_backward(nf_mlp_op *ops, int nops, nf_int M, const float *g)
{
    for (int k = nops - 1; k >= 0; k--) {
        nf_mlp_op *op = &ops[k];
        switch (op->op) {
        case NF_MLP_LINEAR:
            nf_linear_backward(op->dinp, op->dweight, op->dbias, g, op->inp, op->weight, M,
                               op->n_in, op->n_out, 0);
            break;
        case NF_MLP_ACT:
            if (!op->dinp)
                return;
            act_bwd(op->act, op->dinp, g, op->saves_output ? op->out : op->inp,
                    M * op->n_in, op->a);
            break;
        default:
            if (!op->active)
                continue;
            if (!op->dinp)
                return;
            nf_dropout_backward(op->dinp, g, op->mask, M * op->n_in, op->scale);
            break;
        }
        if (!op->dinp)
            return;
        g = op->dinp;
    }
}

double nf_mlp_step(nf_mlp_op *ops, int nops, const float *x, nf_int M,
                   const nf_mlp_loss *loss, float *dlogits, const nf_update *updates,
                   int nupdates)
{
    /* ---- forward: h is the current activation [M, width] */
    const float *h = x;
    for (int k = 0; k < nops; k++) {
        nf_mlp_op *op = &ops[k];
        op->inp = h;
        switch (op->op) {
        case NF_MLP_LINEAR:
            nf_linear_forward(op->out, h, op->weight, op->bias, M, op->n_in, op->n_out);
            break;
        case NF_MLP_ACT:
            act_fwd(op->act, op->out, h, M * op->n_in, op->a);
            break;
        default: /* NF_MLP_DROPOUT */
            if (!op->active)
                continue;   /* identity: h stays */
            nf_dropout_forward(op->out, op->mask, h, M * op->n_in, op->seed, op->thresh,
                               op->scale);
            break;
        }
        h = op->out;
    }
    /* ---- loss value and d(loss)/d(logits) for an upstream gradient of 1 */
    double total;
    if (loss->kind == NF_MLP_LOSS_CROSS_ENTROPY)
        total = nf_cross_entropy_loss(NULL, dlogits, h, loss->target, loss->weight, M,
                                      loss->C, 1, loss->ignore_index, loss->reduction,
                                      loss->label_smoothing);
    else
        total = nf_mse_loss(NULL, dlogits, NULL, h, loss->target_f, NULL, M * loss->C,
                            loss->scale);
    if (!isfinite(total))
        return total;   /* the caller reports it; no gradient is written, nothing updated */
    mlp_backward(ops, nops, M, dlogits);
    /* ---- the optimizer, in the same call: the thread team is still awake (back in Python
     * its workers would go to sleep and need waking again) */
    for (int u = 0; u < nupdates; u++)
        nf_update_run(&updates[u]);
    return total;
}

nf_int nf_bad_label(const int64_t *target, nf_int n, nf_int C, nf_int ignore_index)
{
    for (nf_int i = 0; i < n; i++) {
        int64_t y = target[i];
        if ((y < 0 || y >= C) && y != ignore_index)
            return i;
    }
    return -1;
}
