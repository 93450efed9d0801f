"""The less common losses (torch.nn.functional names, signatures, shape rules and messages):
kl_div, poisson_nll_loss, gaussian_nll_loss, margin_ranking_loss, triplet_margin_loss,
cosine_embedding_loss, soft_margin_loss, hinge_embedding_loss, multilabel_soft_margin_loss.

NumPy, not compiled kernels: these are not in the hot loop of the networks nnfast targets, so
each is plain NumPy in the input's dtype (float32 or float64) that computes the per-item
loss and, when a gradient is wanted, its local derivatives in the same pass; ONE autograd
node then applies the reduction's scale (or, for reduction='none', the upstream gradient)
and sums the derivatives down to each operand's shape (operands broadcast as in PyTorch).

Unlike the fused losses of _functional_loss.py, these follow PyTorch on degenerate values:
a mean over no elements is nan, a non-finite loss is returned as it is (no
FloatingPointError). Floating operands must share one dtype (DTypeError otherwise; PyTorch
promotes); label-like targets (margin_ranking, cosine_embedding, hinge_embedding,
soft_margin) may be integer tensors and are cast to the input's dtype.
"""
import math
import warnings

import numpy as np

from .. import autograd as ag
from .._ops.core import _unbroadcast
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ._functional_loss import NONE, SUM, _as_tensor, _reduction
from ._functional_misc import _pnorm
from ..backend import contiguous

__all__ = ["kl_div", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss",
           "triplet_margin_loss", "cosine_embedding_loss", "soft_margin_loss",
           "hinge_embedding_loss", "multilabel_soft_margin_loss"]


# ===================================================================== shared pieces

def _floats(who, **named):
    """The named operands as Tensors of one floating dtype (None stays None)."""
    out, dtype = [], None
    for what, v in named.items():
        if v is None:
            out.append(None)
            continue
        t = _as_tensor(v, who, what)
        if t.dtype.kind != "f":
            raise DTypeError(f"{who}: {what} must be a floating point tensor, got dtype "
                             f"{t.dtype} (shape {t.shape}); convert it with .float()")
        if dtype is not None and t.dtype != dtype:
            raise DTypeError(f"{who}: {what} has dtype {t.dtype} but the input has dtype "
                             f"{dtype}; convert one of them so that they match")
        dtype = t.dtype
        out.append(t)
    return out


def _label(v, who, what, dtype):
    """A target of labels (+-1 etc.): a float tensor of `dtype`, or an integer/bool one cast
    to it (then it takes no gradient)."""
    t = _as_tensor(v, who, what)
    if t.dtype.kind == "f":
        if t.dtype != dtype:
            raise DTypeError(f"{who}: {what} has dtype {t.dtype} but the input has dtype "
                             f"{dtype}; convert one of them so that they match")
        return t
    if t.dtype.kind not in "iub":
        raise DTypeError(f"{who}: {what} must be a numeric tensor, got dtype {t.dtype}")
    return Tensor._make(t._storage.astype(dtype))


def _bshape(who, *arrays):
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise ShapeError(f"{who}: the shapes {', '.join(str(tuple(a.shape)) for a in arrays)} "
                         "do not broadcast together") from None


_ZERO = object()   # a local derivative that is zero everywhere (any operand shape)


def _record(name, loss, red, parts, grads, dtype, gshape=None, scale=1.0):
    """Reduce the per-item `loss` and record one node.

    parts: the operand tensors (None allowed); grads(): called once, only when a gradient is
    needed, returns for each part d loss_item / d operand (broadcastable against the loss
    shaped as gshape, or None). scale multiplies the sum (kl_div's batchmean)."""
    n = loss.size
    with np.errstate(invalid="ignore", divide="ignore"):
        if red == NONE:
            val = loss.astype(dtype, copy=False)
            factor = 1.0
        elif red == SUM:
            factor = scale
            val = np.asarray(loss.sum() * dtype.type(scale), dtype)
        else:
            factor = 1.0 / n if n else math.nan
            val = np.asarray(loss.sum() / dtype.type(n) if n else math.nan, dtype)
    if not ag.needs_grad(*parts):
        return Tensor._make(val)
    local = grads()
    lshape = loss.shape if gshape is None else gshape

    def backward(g):
        gb = g.reshape(lshape) if red == NONE else g * dtype.type(factor)
        res = []
        for t, d in zip(parts, local):
            if t is None or d is None or not t.requires_grad:
                res.append(None)
                continue
            if d is _ZERO:
                res.append(np.zeros(t.shape, dtype))
                continue
            v = np.asarray(d * gb, dtype)
            v = np.broadcast_to(v, np.broadcast_shapes(v.shape, t.shape))
            res.append(contiguous(_unbroadcast(v, t.shape)))
        return tuple(res)

    return Tensor._make(val, True, ag.Node(tuple(parts), backward, name))


def _xlogy_self(t):
    """xlogy(t, t): t * log(t), 0 where t == 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t == 0, t.dtype.type(0), t * np.log(t))


# ===================================================================== losses

def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise KL divergence target * (log target - input); input holds log-probabilities
    (target too when log_target). reduction='batchmean' divides the sum by the batch size;
    'mean' divides by the number of elements and warns, as PyTorch does."""
    who = "kl_div"
    scale = 1.0
    if size_average is not None or reduce is not None:
        red = _reduction(reduction, size_average, reduce, who)
    elif reduction == "batchmean":
        red = SUM
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                          "the support size.'batchmean' divides only by the batch size, and "
                          "aligns with the KL div math definition.'mean' will be changed to "
                          "behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        red = _reduction(reduction, None, None, who)
    x, t = _floats(who, input=input, target=target)
    if reduction == "batchmean" and x.ndim != 0 and size_average is None and reduce is None:
        scale = 1.0 / x.shape[0] if x.shape[0] else math.nan
    xd, td = x._storage, t._storage
    _bshape(who, xd, td)
    with np.errstate(over="ignore", invalid="ignore"):
        if log_target:
            et = np.exp(td)
            loss = et * (td - xd)
        else:
            loss = _xlogy_self(td) - td * xd

    def grads():
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if log_target:
                return -et, et * (td - xd + 1)
            # xlogy(t, t)'s derivative as PyTorch's autograd takes it: xlogy(t != 0, t) + t / t
            dlog = np.where(td != 0, np.log(np.where(td != 0, td, 1)), 0) + td / td
            return -td, dlog - xd

    return _record("KlDiv", loss, red, (x, t), grads, xd.dtype, scale=scale)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8,
                     reduce=None, reduction="mean"):
    """Poisson negative log likelihood: exp(input) - target * input (log_input) or
    input - target * log(input + eps); full adds Stirling's term where target > 1."""
    who = "poisson_nll_loss"
    if size_average is None and reduce is None and reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    red = _reduction(reduction, size_average, reduce, who)
    x, t = _floats(who, input=input, target=target)
    xd, td = x._storage, t._storage
    _bshape(who, xd, td)
    dt = xd.dtype.type
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if log_input:
            ex = np.exp(xd)
            loss = ex - td * xd
        else:
            lx = np.log(xd + dt(eps))
            loss = xd - td * lx
        if full:
            big = td > 1
            ts = np.where(big, td, dt(2))        # keeps log() away from t <= 1 (masked anyway)
            stirling = ts * np.log(ts) - ts + dt(0.5) * np.log(dt(2 * math.pi) * ts)
            loss = loss + np.where(big, stirling, dt(0))

    def grads():
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if log_input:
                gx, gt = ex - td, -xd
            else:
                gx, gt = dt(1) - td / (xd + dt(eps)), -lx
            if full:
                gt = gt + np.where(big, np.log(ts) + dt(0.5) / ts, dt(0))
            return gx, gt

    return _record("PoissonNllLoss", loss, red, (x, t), grads, xd.dtype)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Gaussian negative log likelihood 0.5 * (log(var) + (input - target)^2 / var), var
    clamped at eps (the clamp passes gradients through unchanged, as in PyTorch). var: the
    input's shape, one dimension short of it, or broadcastable in one mismatched dimension
    (homoscedastic), or a float."""
    who = "gaussian_nll_loss"
    x, t = _floats(who, input=input, target=target)
    xd, td = x._storage, t._storage
    dtype = xd.dtype
    if isinstance(var, (float, np.floating)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        v, vd = None, np.full(xd.shape, var, dtype)
    else:
        (v,) = _floats(who, var=var)
        if v.dtype != dtype:
            raise DTypeError(f"{who}: var has dtype {v.dtype} but the input has dtype {dtype}")
        if (v._storage < 0).any():
            raise ValueError("var has negative entry/entries")
        if v.shape != xd.shape:
            if xd.shape[:-1] == v.shape:
                v = v.unsqueeze(-1)    # recorded: the gradient flows back to var's own shape
            elif not (xd.ndim == v.ndim and sum(b for a, b in zip(xd.shape, v.shape)
                                                if a != b) == 1):
                raise ValueError("var is of incorrect size")
        vd = v._storage
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    red = _reduction(reduction, None, None, who)
    _bshape(who, xd, td, vd)
    vc = np.maximum(vd, dtype.type(eps))
    d = xd - td
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        loss = dtype.type(0.5) * (np.log(vc) + d * d / vc)
        if full:
            loss = loss + dtype.type(0.5 * math.log(2 * math.pi))

    def grads():
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            gx = d / vc
            return gx, -gx, dtype.type(0.5) * (1 / vc - d * d / (vc * vc))

    return _record("GaussianNllLoss", loss, red, (x, t, v), grads, dtype)


def margin_ranking_loss(input1, input2, target, margin=0.0, size_average=None, reduce=None,
                        reduction="mean"):
    """max(0, -target * (input1 - input2) + margin)."""
    who = "margin_ranking_loss"
    red = _reduction(reduction, size_average, reduce, who)
    a, b = _floats(who, input1=input1, input2=input2)
    y = _label(target, who, "target", a.dtype)
    if not a.ndim == b.ndim == y.ndim:
        raise ShapeError(f"margin_ranking_loss : All input tensors should have same dimension "
                         f"but got sizes: input1: {a.shape}, input2: {b.shape}, target: "
                         f"{y.shape} ")
    ad, bd, yd = a._storage, b._storage, y._storage
    _bshape(who, ad, bd, yd)
    diff = ad - bd
    v = -yd * diff + a.dtype.type(margin)
    loss = np.maximum(v, 0)
    on = (v >= 0).astype(a.dtype)           # clamp_min passes the gradient where v >= min

    def grads():
        return -yd * on, yd * on, -diff * on

    return _record("MarginRankingLoss", loss, red, (a, b, y), grads, a.dtype)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        size_average=None, reduce=None, reduction="mean"):
    """max(d(a, p) - d(a, n) + margin, 0), d the p-norm distance over the last dimension
    (pairwise_distance, eps added to the difference); swap uses min(d(a, n), d(p, n))."""
    who = "triplet_margin_loss"
    red = _reduction(reduction, size_average, reduce, who)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    a, po, ne = _floats(who, anchor=anchor, positive=positive, negative=negative)
    if not a.ndim == po.ndim == ne.ndim:
        raise ShapeError(f"The anchor, positive, and negative tensors are expected to have the "
                         f"same number of dimensions, but got: anchor {a.ndim}D, positive "
                         f"{po.ndim}D, and negative {ne.ndim}D inputs")
    ad, pd, nd = a._storage, po._storage, ne._storage
    _bshape(who, ad, pd, nd)
    dt = ad.dtype.type
    d_pos, g_pos = _pnorm(ad - pd + dt(eps), p, who)
    d_neg, g_neg = _pnorm(ad - nd + dt(eps), p, who)
    if swap:
        d_sw, g_sw = _pnorm(pd - nd + dt(eps), p, who)
        w_neg = np.where(d_neg < d_sw, dt(1), np.where(d_neg == d_sw, dt(0.5), dt(0)))
        d_neg_eff = np.minimum(d_neg, d_sw)
    else:
        d_neg_eff = d_neg
    v = dt(margin) + d_pos - d_neg_eff
    loss = np.maximum(v, 0)
    on = (v >= 0).astype(ad.dtype)
    gshape = loss.shape + (1,)

    def grads():
        gp, gn = g_pos(), g_neg()
        o = on[..., None]
        if swap:
            gs = g_sw()
            wn, ws = w_neg[..., None], 1 - w_neg[..., None]
            return (o * (gp - wn * gn), o * (-gp - ws * gs), o * (wn * gn + ws * gs))
        return o * (gp - gn), -o * gp, o * gn

    return _record("TripletMarginLoss", loss, red, (a, po, ne), grads, ad.dtype, gshape)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None,
                          reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1
    (0 elsewhere); cos over the last dimension of 2-D inputs with a 1-D target, or of 1-D
    inputs with a 0-D target."""
    who = "cosine_embedding_loss"
    red = _reduction(reduction, size_average, reduce, who)
    a, b = _floats(who, input1=input1, input2=input2)
    y = _label(target, who, "target", a.dtype)
    ad, bd, yd = a._storage, b._storage, y._storage
    if y.ndim > 1:
        raise ShapeError("0D or 1D target tensor expected, multi-target not supported")
    if y.ndim == 1 and not (ad.ndim == 2 and bd.ndim == 2):
        raise ShapeError(f"1D target tensor expects 2D input tensors, but found inputs with "
                         f"sizes {list(ad.shape)} and {list(bd.shape)}.")
    if y.ndim == 0 and not (ad.ndim == 1 and bd.ndim == 1):
        raise ShapeError(f"0D target tensor expects 1D input tensors, but found inputs with "
                         f"sizes {list(ad.shape)} and {list(bd.shape)}.")
    full = _bshape(who, ad, bd)
    _bshape(who, np.empty(full[:-1]), yd)
    dt = ad.dtype.type
    eps = dt(1e-12)
    s = (ad * bd).sum(-1)
    m1 = (ad * ad).sum(-1) + eps
    m2 = (bd * bd).sum(-1) + eps
    den = np.sqrt(m1 * m2)
    cos = s / den
    pos = yd == 1
    neg = yd == -1
    vneg = cos - dt(margin)
    loss = np.where(pos, dt(1) - cos, dt(0)) + np.where(neg, np.maximum(vneg, 0), dt(0))

    def grads():
        # d cos / d x1 = x2 / den - cos * x1 / m1 (and symmetrically)
        c = cos[..., None]
        dc1 = bd / den[..., None] - c * ad / m1[..., None]
        dc2 = ad / den[..., None] - c * bd / m2[..., None]
        w = (np.where(pos, dt(-1), dt(0)) + np.where(neg & (vneg >= 0), dt(1), dt(0)))[..., None]
        return w * dc1, w * dc2, _ZERO   # torch hands a float target zeros

    return _record("CosineEmbeddingLoss", loss, red, (a, b, y), grads, ad.dtype,
                   loss.shape + (1,))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + exp(-target * input)) (target of +-1). Not differentiable in target, as in
    PyTorch."""
    who = "soft_margin_loss"
    red = _reduction(reduction, size_average, reduce, who)
    (x,) = _floats(who, input=input)
    y = _label(target, who, "target", x.dtype)
    if ag.is_grad_enabled() and y.requires_grad:
        raise RuntimeError("The function 'soft_margin_loss' is not differentiable with respect "
                           "to argument 'target'. This input cannot have requires_grad True.")
    xd, yd = x._storage, y._storage
    _bshape(who, xd, yd)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(-yd * xd)
        loss = np.log1p(e)

    def grads():
        with np.errstate(over="ignore", invalid="ignore"):
            return (-yd * e / (e + 1),)

    return _record("SoftMarginLoss", loss, red, (x,), grads, xd.dtype)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None,
                         reduction="mean"):
    """input where target != -1, plus max(0, margin - input) where target != 1."""
    who = "hinge_embedding_loss"
    red = _reduction(reduction, size_average, reduce, who)
    (x,) = _floats(who, input=input)
    y = _label(target, who, "target", x.dtype)
    xd, yd = x._storage, y._storage
    _bshape(who, xd, yd)
    dt = xd.dtype.type
    v = dt(margin) - xd
    not_pos, not_neg = yd != 1, yd != -1
    loss = np.where(not_pos, np.maximum(v, 0), dt(0)) + np.where(not_neg, xd, dt(0))

    def grads():
        return (np.where(not_pos & (v >= 0), dt(-1), dt(0)) + np.where(not_neg, dt(1), dt(0)),)

    return _record("HingeEmbeddingLoss", loss, red, (x,), grads, xd.dtype)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None,
                                reduction="mean"):
    """-(target * logsigmoid(input) + (1 - target) * logsigmoid(-input)) * weight, averaged
    over the classes (the last dimension)."""
    who = "multilabel_soft_margin_loss"
    if size_average is None and reduce is None and reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not valid")
    red = _reduction(reduction, size_average, reduce, who)
    x, t = _floats(who, input=input, target=target)
    xd, td = x._storage, t._storage
    if xd.ndim == 0:
        raise ShapeError(f"{who}: input must have a class dimension, got a scalar")
    w = None
    if weight is not None:
        w = weight._storage if isinstance(weight, Tensor) else np.asarray(weight)
        w = w.astype(xd.dtype, copy=False)
    full = _bshape(who, xd, td, *(() if w is None else (w,)))
    dt = xd.dtype.type
    C = full[-1]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ls_pos = np.minimum(xd, 0) - np.log1p(np.exp(-np.abs(xd)))     # logsigmoid(x)
        ls_neg = ls_pos - xd                                            # logsigmoid(-x)
        item = -(td * ls_pos + (dt(1) - td) * ls_neg)
        if w is not None:
            item = item * w
        item = np.broadcast_to(item, full)
        loss = item.sum(-1) / dt(C)

    def grads():
        with np.errstate(over="ignore", invalid="ignore"):
            sig = np.exp(ls_pos)
            ww = dt(1) if w is None else w
            return (sig - td) * ww / dt(C), -xd * ww / dt(C)

    return _record("MultilabelSoftMarginLoss", loss, red, (x, t), grads, xd.dtype,
                   loss.shape + (1,))
