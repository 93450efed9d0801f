/* step.c — one captured training step of a plain MLP or CNN (nnfast.compile_step), in one
 * C call.
 *
 * What it is: a driver that runs a fixed sequence of ops (Linear, elementwise activation of
 * act.c or act_extra.c, dropout, BatchNorm1d/2d in training mode, LayerNorm, Residual blocks,
 * Conv2d, max/average/adaptive-average 2-D pooling) forward over a batch, the loss (cross
 * entropy on class indices, or MSE) with its gradient, and the backward pass, by calling the
 * very kernels the eager layers call (nf_linear_forward/backward, nf_*_forward/backward of
 * act.c, nf_dropout_*, nf_conv2d_*, the pool.c kernels, the loss.c kernels) in the same
 * order. So its results are bit-for-bit those of the eager path; what it saves is the
 * Python between the kernels, the fresh arrays of each step, and one pass over memory per
 * activation: an activation right after a Linear runs inside that Linear's GEMMs (forward on
 * the output, backward on dinp), block by block as each block is final (nf_gemm_epi). The
 * activation kernels are elementwise, so an element comes out the same whichever call
 * computes it.
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
#include "conv_internal.h"   /* nf_max_pool2x2_* */

/* ---- fused epilogues: run on each block of a GEMM's output as soon as it is final, on the
 * thread that computed it, while the block is still in that core's cache. Each does to its
 * block exactly what the separate call would do to those elements (the kernels are
 * elementwise), so results are unchanged; what goes is a pass over memory and a fork. */

/* the block's rows as runs of a row-major [*, ld] array: one run when it spans whole rows */
#define FOR_RUNS(i0, m, j0, n, ld, off, len, body)                                    \
    do {                                                                               \
        if ((j0) == 0 && (n) == (ld)) {                                                \
            nf_int off = (i0) * (ld), len = (m) * (ld);                                \
            body;                                                                      \
        } else {                                                                       \
            for (nf_int i_ = (i0); i_ < (i0) + (m); i_++) {                            \
                nf_int off = i_ * (ld) + (j0), len = (n);                              \
                body;                                                                  \
            }                                                                          \
        }                                                                              \
    } while (0)

typedef struct {
    const nf_mlp_op *lin;   /* the op whose output (forward) or dinp (backward) it is */
    const nf_mlp_op *act;   /* the activation right after that op */
    nf_int ld;              /* the blocks' row length: lin's n_out, n_in, or a pool's H*W */
} act_epi_ctx;

/* forward: act->out = f(lin->out) on the block */
static void act_fwd_block(void *ctx, nf_int i0, nf_int m, nf_int j0, nf_int n)
{
    const act_epi_ctx *c = ctx;
    const nf_mlp_op *act = c->act;
    FOR_RUNS(i0, m, j0, n, c->ld, off, len,
             nf_act_forward(act->act, act->out + off, c->lin->out + off, len, act->a, 0));
}

/* backward: act->dinp = lin->dinp * f'(saved) on the block */
static void act_bwd_block(void *ctx, nf_int i0, nf_int m, nf_int j0, nf_int n)
{
    const act_epi_ctx *c = ctx;
    const nf_mlp_op *act = c->act;
    const float *saved = act->saves_output ? act->out : act->inp;
    FOR_RUNS(i0, m, j0, n, c->ld, off, len,
             nf_act_backward(act->act, act->dinp + off, c->lin->dinp + off, saved + off, len,
                             act->a, 0));
}

/* A 2x2 stride-2 max pool keeps no indices here: its input (the activation before it, or
 * the batch) lives until backward, which finds the winners again, so the forward writes no
 * int64 per output and the backward reads none (2.4 MB each way on the bench CNN). */
static int pool2x2(const nf_conv2d_geom *q)
{
    return nf_max_pool2x2_applies(q->H, q->W, q->OH, q->OW, q->KH, q->KW, q->sh, q->sw, q->ph,
                                  q->pw, q->dh, q->dw);
}

/* A BatchNorm op's values per channel: H*W for BatchNorm2d, 1 for BatchNorm1d (or unset) */
static inline nf_int bn_inner(const nf_mlp_op *op) { return op->inner > 1 ? op->inner : 1; }

/* ops[k + 1] when it is an activation (fused into ops[k]'s output blocks), else NULL */
static nf_mlp_op *act_after(nf_mlp_op *ops, int nops, int k)
{
    return k + 1 < nops && ops[k + 1].op == NF_MLP_ACT ? &ops[k + 1] : NULL;
}

/* ops[k - 1] when it is an activation with a gradient to give and ops[k] gives it one
 * (fused into ops[k]'s dinp blocks), else NULL */
static nf_mlp_op *act_below(nf_mlp_op *ops, int k)
{
    return ops[k].dinp && k > 0 && ops[k - 1].op == NF_MLP_ACT && ops[k - 1].dinp ? &ops[k - 1]
                                                                                 : NULL;
}

/* A 2x2 max pool's backward and the activation's below it, for one image at a time: the
 * dout_prologue of the conv below them (nf_conv2d_backward_epi), so that each image's
 * gradient is made just before the conv reads it (74 KB on the bench CNN, in cache) rather
 * than all 64 (4.7 MB) first. The same kernels on the same planes: the same values. */
typedef struct {
    const nf_mlp_op *pool, *act;
    const float *g;   /* the pool's output gradient */
} pool_pro_ctx;

/* act_bwd_block's rows offset by a first plane */
typedef struct {
    act_epi_ctx ac;
    nf_int plane0;
} plane_epi_ctx;

static void act_bwd_planes(void *ctx, nf_int i0, nf_int m, nf_int j0, nf_int n)
{
    plane_epi_ctx *c = ctx;
    act_bwd_block(&c->ac, c->plane0 + i0, m, j0, n);
}

/* images img .. img+m-1 (their planes spread over the threads when m is large enough) */
static void pool_pro_image(void *ctx, nf_int img, nf_int m, nf_int j0, nf_int n)
{
    (void)j0;
    (void)n;
    const pool_pro_ctx *c = ctx;
    const nf_conv2d_geom *q = &c->pool->geom;
    const nf_int HW = q->H * q->W, p0 = img * q->C;
    plane_epi_ctx pc = {{c->pool, c->act, HW}, p0};
    const nf_gemm_epi epi = {act_bwd_planes, &pc};
    nf_max_pool2x2_backward_epi(c->pool->dinp + p0 * HW, c->g + p0 * q->OH * q->OW,
                                c->pool->inp + p0 * HW, m * q->C, q->H, q->W, q->OH, q->OW,
                                &epi);
}

/* Backward, last op first, down to the first op with a gradient to give; g = dlogits. */
static void mlp_backward(nf_mlp_op *ops, int nops, nf_int M, const float *g, int prec)
{
    pool_pro_ctx pro = {NULL, NULL, NULL};   /* a pool's backward deferred to the conv's */
    const nf_gemm_epi pro_epi = {pool_pro_image, &pro};
    for (int k = nops - 1; k >= 0; k--) {
        nf_mlp_op *op = &ops[k];
        switch (op->op) {
        case NF_MLP_LINEAR: {
            /* an activation below with a gradient to give takes dinp block by block */
            nf_mlp_op *act = act_below(ops, k);
            act_epi_ctx ac = {op, act, op->n_in};
            nf_gemm_epi act_epi = {act_bwd_block, &ac};
            nf_linear_backward_prec(prec, op->dinp, op->dweight, op->dbias, g, op->inp,
                                    op->weight, M, op->n_in, op->n_out, 0,
                                    act ? &act_epi : NULL, NULL);
            if (act) {
                k--;          /* its backward is done */
                op = act;
            }
            break;
        }
        case NF_MLP_ACT:
            if (!op->dinp)
                return;
            nf_act_backward(op->act, op->dinp, g, op->saves_output ? op->out : op->inp,
                            M * op->n_in, op->a, 1);
            break;
        case NF_MLP_ACT_EXTRA:
            if (!op->dinp)
                return;
            nf_act_extra_backward(op->act, op->dinp, g, op->inp, M * op->n_in, op->a, op->b);
            break;
        case NF_MLP_BATCHNORM: { /* its weight and bias get gradients even with no dinp */
            const nf_int S = bn_inner(op);
            nf_batch_norm_backward(op->dinp, op->dweight, op->dbias, g, op->inp, op->stat0,
                                   op->stat1, op->weight, M, op->n_in / S, S, 1);
            break;
        }
        case NF_MLP_CONV2D: {    /* likewise; an activation below as a Linear's */
            nf_mlp_op *act = act_below(ops, k);
            act_epi_ctx ac = {op, act, op->n_in};
            nf_gemm_epi act_epi = {act_bwd_block, &ac};
            nf_conv2d_backward_epi(op->dinp, op->dweight, op->dbias, op->ws, op->ws_size, g,
                                   op->inp, op->weight, &op->geom, 0, prec,
                                   pro.pool ? &pro_epi : NULL, act ? &act_epi : NULL);
            pro.pool = NULL;
            if (act) {
                k--;
                op = act;
            }
            break;
        }
        case NF_MLP_MAXPOOL2D: { /* an activation below takes dinp plane by plane */
            if (!op->dinp)
                return;
            const nf_conv2d_geom *q = &op->geom;
            nf_mlp_op *act = act_below(ops, k);
            act_epi_ctx ac = {op, act, q->H * q->W};
            nf_gemm_epi act_epi = {act_bwd_block, &ac};
            if (pool2x2(q) && act && k >= 2 && ops[k - 2].op == NF_MLP_CONV2D) {
                /* conv -> activation -> this pool: the conv's backward runs both, image by
                 * image, just before it reads the image's gradient (dout_pro) */
                pro = (pool_pro_ctx){op, act, g};
                k--;
                op = act;
                break;
            }
            if (pool2x2(q))   /* no indices kept: the winners found again in its input */
                nf_max_pool2x2_backward_epi(op->dinp, g, op->inp, q->N * q->C, q->H, q->W,
                                            q->OH, q->OW, act ? &act_epi : NULL);
            else
                nf_max_pool2d_backward_epi(op->dinp, g, op->idx, q->N * q->C, q->H, q->W,
                                           q->OH, q->OW, act ? &act_epi : NULL);
            if (act) {
                k--;
                op = act;
            }
            break;
        }
        case NF_MLP_AVGPOOL2D: {
            if (!op->dinp)
                return;
            const nf_conv2d_geom *q = &op->geom;
            nf_avg_pool2d_backward(op->dinp, g, q->N * q->C, q->H, q->W, q->OH, q->OW, q->KH,
                                   q->KW, q->sh, q->sw, q->ph, q->pw, op->count_include_pad,
                                   op->divisor_override);
            break;
        }
        case NF_MLP_ADAPTIVE_AVGPOOL2D: {
            if (!op->dinp)
                return;
            const nf_conv2d_geom *q = &op->geom;
            nf_adaptive_avg_pool2d_backward(op->dinp, g, q->N * q->C, q->H, q->W, q->OH, q->OW);
            break;
        }
        case NF_MLP_LAYERNORM:
            nf_layer_norm_backward(op->dinp, op->dweight, op->dbias, g, op->inp, op->stat0,
                                   op->stat1, op->weight, M, op->n_in);
            break;
        case NF_MLP_RES_END: {   /* the shortcut's part now; g flows on into the block */
            const nf_mlp_op *begin = &ops[op->act];
            if (op->weight) {
                nf_linear_backward_prec(prec, begin->dinp ? op->dinp : NULL, op->dweight,
                                        op->dbias, g, begin->inp, op->weight, M, begin->n_in,
                                        op->n_out, 0, NULL, NULL);
                op->skip = op->dinp;
            } else {
                op->skip = g;
            }
            continue;
        }
        case NF_MLP_RES_BEGIN: { /* the input's gradient: through the block + the shortcut */
            if (!op->dinp)
                return;
            const float *s = ops[op->act].skip;
            for (nf_int i = 0; i < M * op->n_in; i++) op->dinp[i] = g[i] + s[i];
            break;
        }
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

const float *nf_mlp_forward(nf_mlp_op *ops, int nops, const float *x, nf_int M, int prec)
{
    /* h is the current activation [M, width] */
    const float *h = x;
    for (int k = 0; k < nops; k++) {
        nf_mlp_op *op = &ops[k];
        op->inp = h;
        switch (op->op) {
        case NF_MLP_LINEAR: {
            nf_mlp_op *act = act_after(ops, nops, k);
            act_epi_ctx ac = {op, act, op->n_out};
            nf_gemm_epi epi = {act_fwd_block, &ac};
            if (act)
                act->inp = op->out;
            nf_linear_forward_prec(prec, op->out, h, op->weight, op->bias, M, op->n_in,
                                   op->n_out, act ? &epi : NULL);
            if (act) {
                k++;          /* computed block by block above */
                op = act;
            }
            break;
        }
        case NF_MLP_ACT:
            nf_act_forward(op->act, op->out, h, M * op->n_in, op->a, 1);
            break;
        case NF_MLP_ACT_EXTRA:
            nf_act_extra_forward(op->act, op->out, h, M * op->n_in, op->a, op->b);
            break;
        case NF_MLP_BATCHNORM: {
            const nf_int S = bn_inner(op);
            nf_batch_norm_stats(op->stat0, op->stat1, op->running_mean, op->running_var, h, M,
                                op->n_in / S, S, op->momentum, op->eps);
            nf_batch_norm_apply(op->out, h, op->stat0, op->stat1, op->weight, op->bias, M,
                                op->n_in / S, S);
            break;
        }
        case NF_MLP_CONV2D: {    /* an activation after it as a Linear's */
            nf_mlp_op *act = act_after(ops, nops, k);
            act_epi_ctx ac = {op, act, op->n_out};
            nf_gemm_epi epi = {act_fwd_block, &ac};
            if (act)
                act->inp = op->out;
            nf_conv2d_forward_epi(op->out, op->ws, op->ws_size, h, op->weight, op->bias,
                                  &op->geom, prec, act ? &epi : NULL);
            if (act) {
                k++;
                op = act;
            }
            break;
        }
        case NF_MLP_MAXPOOL2D: {
            const nf_conv2d_geom *q = &op->geom;
            nf_max_pool2d_forward(op->out, pool2x2(q) ? NULL : op->idx, h, q->N * q->C, q->H,
                                  q->W, q->OH, q->OW, q->KH, q->KW, q->sh, q->sw, q->ph, q->pw,
                                  q->dh, q->dw);
            break;
        }
        case NF_MLP_AVGPOOL2D: {
            const nf_conv2d_geom *q = &op->geom;
            nf_avg_pool2d_forward(op->out, h, q->N * q->C, q->H, q->W, q->OH, q->OW, q->KH,
                                  q->KW, q->sh, q->sw, q->ph, q->pw, op->count_include_pad,
                                  op->divisor_override);
            break;
        }
        case NF_MLP_ADAPTIVE_AVGPOOL2D: {
            const nf_conv2d_geom *q = &op->geom;
            nf_adaptive_avg_pool2d_forward(op->out, h, q->N * q->C, q->H, q->W, q->OH, q->OW);
            break;
        }
        case NF_MLP_LAYERNORM:
            nf_layer_norm_forward(op->out, op->stat0, op->stat1, h, op->weight, op->bias, M,
                                  op->n_in, op->eps);
            break;
        case NF_MLP_RES_BEGIN:
            continue;   /* op->inp keeps the block's input; h flows on unchanged */
        case NF_MLP_RES_END: {   /* out = block(x) + shortcut(x), as Residual adds them */
            const nf_mlp_op *begin = &ops[op->act];
            const float *x = begin->inp;
            const nf_int n = M * op->n_out;
            if (op->weight) {
                nf_linear_forward_prec(prec, op->out, x, op->weight, op->bias, M, begin->n_in,
                                       op->n_out, NULL);
                for (nf_int i = 0; i < n; i++) op->out[i] = h[i] + op->out[i];
            } else {
                for (nf_int i = 0; i < n; i++) op->out[i] = h[i] + x[i];
            }
            break;
        }
        default: /* NF_MLP_DROPOUT */
            if (!op->active)
                continue;   /* identity: h stays */
            nf_dropout_forward(op->out, op->mask, h, M * op->n_in, op->seed, op->thresh,
                               op->scale);
            break;
        }
        h = op->out;
    }
    return h;
}

void nf_mlp_backward(nf_mlp_op *ops, int nops, nf_int M, const float *dout, int prec)
{
    mlp_backward(ops, nops, M, dout, prec);
}

double nf_mlp_step(nf_mlp_op *ops, int nops, const float *x, nf_int M,
                   const nf_mlp_loss *loss, float *dlogits, const nf_update *updates,
                   int nupdates, int prec)
{
    const float *h = nf_mlp_forward(ops, nops, x, M, prec);
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
    mlp_backward(ops, nops, M, dlogits, prec);
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
