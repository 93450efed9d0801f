"""Functional losses (torch.nn.functional names and signatures), value and gradient fused.

Each loss validates its arguments here, once, then makes ONE call that computes the loss and,
when a gradient is needed, d(loss)/d(input) (and d(loss)/d(target) when the target requires
grad) for an upstream gradient of 1. The autograd node's backward only scales that stored
gradient by the upstream scalar (or multiplies it elementwise for reduction='none').

Engines: float32 goes to the C kernels (nnfast._C, csrc/loss.c); float64 (or any other float
dtype the kernels do not take) goes to `REFERENCE`, a plain NumPy twin with the same call
signatures and semantics, which is also the oracle the tests hold the C path equal to.

Where nnfast deliberately differs from PyTorch 2.13:
  - input and target of the regression losses must have the same shape (PyTorch broadcasts
    with a warning): ShapeError otherwise;
  - mean reduction over an empty batch raises ValueError (PyTorch returns nan); sum gives 0;
  - a non-finite loss raises FloatingPointError saying whether the input or the target holds
    NaN/Inf (PyTorch returns nan/inf) — this includes a weighted mean whose weights sum to 0,
    e.g. every target equal to ignore_index;
  - class labels out of range raise ValueError naming the label and C (PyTorch: IndexError);
  - hyperparameter errors (delta, beta, label_smoothing) raise ValueError (PyTorch:
    RuntimeError); dtype errors raise DTypeError, a RuntimeError as in PyTorch;
  - a `weight` / `pos_weight` tensor receives no gradient (they are buffers, not learned).
"""
import math

import numpy as np

from ..backend import DeviceArray, table_of
from ..backend import cpu as cpu_table
from .. import autograd as ag
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits"]

NONE, MEAN, SUM = 0, 1, 2                      # = NF_REDUCTION_* in csrc/nnfast.h, ATen's enum
_REDUCTIONS = {"none": NONE, "mean": MEAN, "sum": SUM}


# ===================================================================== NumPy reference engine

class _Reference:
    """NumPy twin of the nnfast._C loss wrappers: same arguments, same outputs written into
    the same (flat) arrays, same returned reduced value. Works in the arrays' own dtype."""

    @staticmethod
    def pointwise_loss(kind, out, dinput, dtarget, input, target, weight, scale, param=1.0):
        d = input - target
        a = np.abs(d)
        p = input.dtype.type(param)
        if kind == "mse":
            loss, g = d * d, 2 * d
        elif kind == "l1":
            loss, g = a, np.sign(d)
        elif kind == "huber":
            loss = np.where(a < p, 0.5 * d * d, p * (a - 0.5 * p))
            g = np.clip(d, -p, p)
        elif kind == "smooth_l1":
            loss = np.where(a < p, 0.5 * d * d / p, a - 0.5 * p)
            g = np.clip(d / p, -1, 1)
        else:
            raise KeyError(kind)
        if weight is not None:
            loss = loss * weight
            g = g * weight
        _put(out, loss)
        _put(dinput, scale * g)
        _put(dtarget, -scale * g)
        return float(loss.sum(dtype=np.float64)) * scale

    @staticmethod
    def cross_entropy_loss(out, dinput, input, target, weight, outer, C, inner, ignore_index,
                           reduction, label_smoothing):
        eps = float(label_smoothing)
        x = input.reshape(outer, C, inner)
        y = target.reshape(outer, inner)
        keep = y != ignore_index
        ys = np.where(keep, y, 0)[:, None, :]
        w = np.ones(C, x.dtype) if weight is None else weight
        logp = x - _logsumexp(x)
        wy = w[ys[:, 0, :]] * keep                                   # (outer, inner)
        nll = -wy * np.take_along_axis(logp, ys, 1)[:, 0, :]
        smooth = -(logp * w[:, None]).sum(axis=1) * keep
        loss = (1 - eps) * nll + (eps / C) * smooth
        W = float(wy.sum(dtype=np.float64)) if reduction == MEAN else 1.0
        scale = _safe_inverse(W)
        _put(out, loss)
        if dinput is not None:
            g = np.exp(logp) * (((1 - eps) * wy + (eps / C) * w.sum()) * keep)[:, None, :]
            g -= (eps / C) * w[:, None] * keep[:, None, :]
            hit = np.take_along_axis(g, ys, 1) - (1 - eps) * wy[:, None, :]
            np.put_along_axis(g, ys, hit, 1)
            _put(dinput, g * scale)
        total = float(loss.sum(dtype=np.float64))
        return total * scale if reduction == MEAN else total

    @staticmethod
    def nll_loss(out, dinput, input, target, weight, outer, C, inner, ignore_index, reduction):
        x = input.reshape(outer, C, inner)
        y = target.reshape(outer, inner)
        keep = y != ignore_index
        ys = np.where(keep, y, 0)[:, None, :]
        w = np.ones(C, x.dtype) if weight is None else weight
        wy = w[ys[:, 0, :]] * keep
        loss = -wy * np.take_along_axis(x, ys, 1)[:, 0, :]
        W = float(wy.sum(dtype=np.float64)) if reduction == MEAN else 1.0
        scale = _safe_inverse(W)
        _put(out, loss)
        if dinput is not None:
            g = np.zeros_like(x)
            np.put_along_axis(g, ys, (-wy * scale)[:, None, :], 1)
            _put(dinput, g)
        total = float(loss.sum(dtype=np.float64))
        return total * scale if reduction == MEAN else total

    @staticmethod
    def cross_entropy_prob_loss(out, dinput, dtarget, input, target, weight, outer, C, inner,
                                reduction, label_smoothing):
        eps = float(label_smoothing)
        x = input.reshape(outer, C, inner)
        t = target.reshape(outer, C, inner) * (1 - eps) + eps / C
        w = (np.ones(C, x.dtype) if weight is None else weight)[:, None]
        logp = x - _logsumexp(x)
        wt = w * t
        loss = -(wt * logp).sum(axis=1)
        scale = 1.0 / (outer * inner) if reduction == MEAN else 1.0
        _put(out, loss)
        _put(dinput, None if dinput is None
             else scale * (np.exp(logp) * wt.sum(axis=1, keepdims=True) - wt))
        _put(dtarget, None if dtarget is None else -scale * (1 - eps) * w * logp)
        return float(loss.sum(dtype=np.float64)) * scale

    @staticmethod
    def bce_loss(out, dinput, dtarget, input, target, weight, scale):
        x, y = input, target
        w = 1 if weight is None else _tile(weight, x.size)
        with np.errstate(divide="ignore"):
            lx = np.maximum(np.log(x), -100)
            l1x = np.maximum(np.log(1 - x), -100)
        loss = -w * (y * lx + (1 - y) * l1x)
        _put(out, loss)
        _put(dinput, scale * w * (x - y) / np.maximum((1 - x) * x, 1e-12))
        _put(dtarget, scale * w * (l1x - lx))
        return float(loss.sum(dtype=np.float64)) * scale

    @staticmethod
    def bce_logits_loss(out, dinput, dtarget, input, target, weight, pos_weight, scale):
        x, y = input, target
        w = 1 if weight is None else _tile(weight, x.size)
        q = 1 if pos_weight is None else _tile(pos_weight, x.size)
        e = np.exp(-np.abs(x))
        sp = np.log1p(e)
        log_sig = np.minimum(x, 0) - sp
        loss = w * ((1 - y) * x - (1 + (q - 1) * y) * log_sig)
        _put(out, loss)
        if dinput is not None:
            sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
            _put(dinput, scale * w * ((q * y + 1 - y) * sig - q * y))
        if dtarget is not None:
            g = (np.minimum(-x, 0) - sp) - q * log_sig if pos_weight is not None else -x
            _put(dtarget, scale * w * g)
        return float(loss.sum(dtype=np.float64)) * scale


REFERENCE = _Reference()


def _put(dest, value):
    if dest is not None and value is not None:
        dest[...] = np.reshape(value, -1)


def _logsumexp(x):
    m = x.max(axis=1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def _safe_inverse(W):
    return 1.0 / W if W != 0 else math.nan


def _tile(w, n):
    if n == 0:   # an empty input: w may be empty too (no period to divide by)
        return w.reshape(-1)[:0]
    return np.broadcast_to(w, (n // w.size, w.size)).reshape(-1)


def _engine(dtype, K):
    """The kernel table K (of the inputs' device) for float32, the NumPy twin otherwise."""
    return K if dtype == np.float32 else REFERENCE


# ===================================================================== validation helpers

def _reduction(reduction, size_average, reduce, who):
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else ("sum" if reduce else "none")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: {reduction!r} is not a valid value for reduction "
                         "(expected 'none', 'mean' or 'sum')")
    return _REDUCTIONS[reduction]


def _as_tensor(x, who, what):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: {what} must be a Tensor, got {type(x).__name__}")


def _float_tensor(x, who, what):
    x = _as_tensor(x, who, what)
    if x.dtype.kind != "f":
        raise DTypeError(f"{who}: {what} must be a floating point tensor, got dtype {x.dtype} "
                         f"(shape {x.shape}); convert it with .float()")
    return x


def _same_float_dtype(x, y, who):
    if x.dtype != y.dtype:
        raise DTypeError(f"{who}: input has dtype {x.dtype} but target has dtype {y.dtype}; "
                         "convert one of them so that they match")


def _flat(arr, dtype=None):
    """A flat C-contiguous view (a copy only when needed) in the given dtype."""
    if arr.__class__ is np.ndarray:   # (the host case without a Python frame)
        return np.ascontiguousarray(arr, dtype=dtype).reshape(-1)
    return contiguous(arr, dtype=dtype).reshape(-1)


def _aux_weight(w, dtype, who, what):
    """A weight / pos_weight argument as an ndarray of the input's dtype (or None)."""
    if w is None:
        return None
    w = w._storage if isinstance(w, Tensor) else np.asarray(w)
    if w.dtype.kind not in "fiub":
        raise DTypeError(f"{who}: {what} must be a numeric tensor, got dtype {w.dtype}")
    return w.astype(dtype, copy=False)


def _empty_batch(who, shape):
    return ValueError(f"{who}: empty batch (input shape {shape}): the mean over no elements is "
                      "undefined (PyTorch returns nan); use reduction='sum' or skip the batch")


def _nonfinite(who, value, named_arrays, hint=""):
    bad = [name for name, a in named_arrays if a is not None and a.dtype.kind == "f"
           and not np.isfinite(a).all()]
    if bad:
        return FloatingPointError(f"{who}: the loss is {value} because the "
                                  f"{' and the '.join(bad)} contain{'s' if len(bad) == 1 else ''}"
                                  " NaN or Inf")
    return FloatingPointError(f"{who}: the loss is {value} although input and target are "
                              f"finite{hint}")


def _finish(who, name, total, out, reduction, dtype, out_shape, x, y, dx, dy, gshape,
            named_arrays, hint=""):
    """Check the value, wrap it, and record one node whose backward scales dx / dy.

    dx, dy: the stored gradients for upstream 1 (flat arrays or None); gshape: the shape an
    upstream gradient of reduction='none' takes to broadcast against dx/dy's own shape."""
    on_host = not isinstance(total, DeviceArray)
    # (on a GPU the check would wait for the device every step: a NaN loss stays NaN there,
    # as in PyTorch)
    if on_host and not math.isfinite(total):
        value = float(total) if reduction != NONE else "not finite"
        raise _nonfinite(who, value, named_arrays, hint)
    if reduction == NONE:
        val = out.reshape(out_shape)
    elif on_host:
        val = np.array(total, dtype=dtype)
    else:
        val = total if total.dtype == dtype else total.astype(dtype)
    if dx is None and dy is None:
        return Tensor._make(val)
    xs = x.shape
    ys = y.shape if y is not None else None

    def backward(g):
        if reduction == NONE:
            gb = g.reshape(gshape)
            return (None if dx is None else (dx * gb).reshape(xs),
                    None if dy is None else (dy * gb).reshape(ys))
        if on_host and g == 1:   # the common case: hand the stored gradient over as it is (never mutated)
            return (None if dx is None else dx.reshape(xs),
                    None if dy is None else dy.reshape(ys))
        return (None if dx is None else (dx * g).reshape(xs),
                None if dy is None else (dy * g).reshape(ys))

    return Tensor._make(val, True, ag.Node((x, y), backward, name))


# ===================================================================== regression losses

def _pointwise(kind, who, name, input, target, reduction, weight=None, param=1.0,
               mean_by_weight=False):
    x = _float_tensor(input, who, "input")
    y = _float_tensor(target, who, "target")
    _same_float_dtype(x, y, who)
    if x.shape != y.shape:
        raise ShapeError(f"{who}: target shape {y.shape} differs from input shape {x.shape} "
                         "(nnfast does not broadcast loss targets; reshape one of them)")
    dtype = x.dtype
    w = _aux_weight(weight, dtype, who, "weight")
    if w is not None and w.shape != x.shape:
        raise ShapeError(f"{who}: weight shape {w.shape} must equal the input shape {x.shape}")
    n = x._storage.size
    if n == 0 and reduction == MEAN:
        raise _empty_batch(who, x.shape)
    xf, yf = _flat(x._storage), _flat(y._storage)
    wf = None if w is None else _flat(w)
    if reduction == MEAN:
        denom = float(wf.sum(dtype=np.float64)) if (w is not None and mean_by_weight) else n
        scale = _safe_inverse(denom)
    else:
        scale = 1.0
    want = ag.needs_grad(x, y)
    K = table_of(xf, yf, wf)
    out = K.empty(n, dtype) if reduction == NONE else None
    dx = K.empty(n, dtype) if want and x.requires_grad else None
    dy = K.empty(n, dtype) if want and y.requires_grad else None
    total = _engine(dtype, K).pointwise_loss(kind, out, dx, dy, xf, yf, wf, scale, param)
    hint = " (the weights sum to 0)" if w is not None and mean_by_weight else ""
    return _finish(who, name, total, out, reduction, dtype, x.shape, x, y, dx, dy, (n,),
                   (("input", xf), ("target", yf), ("weight", wf)), hint)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean squared error, optionally weighted per element (weighted mean divides by
    sum(weight), as PyTorch)."""
    red = _reduction(reduction, size_average, reduce, "mse_loss")
    return _pointwise("mse", "mse_loss", "MseLoss", input, target, red, weight,
                      mean_by_weight=True)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """Mean absolute error, optionally weighted per element (weighted mean divides by
    sum(weight), as PyTorch)."""
    red = _reduction(reduction, size_average, reduce, "l1_loss")
    return _pointwise("l1", "l1_loss", "L1Loss", input, target, red, weight,
                      mean_by_weight=True)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """Huber loss; a weighted mean divides by the number of elements (as PyTorch)."""
    red = _reduction(reduction, None, None, "huber_loss")
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _pointwise("huber", "huber_loss", "HuberLoss", input, target, red, weight,
                      param=float(delta))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """Smooth L1 loss; beta == 0 is the L1 loss (as PyTorch)."""
    red = _reduction(reduction, size_average, reduce, "smooth_l1_loss")
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return _pointwise("l1", "smooth_l1_loss", "SmoothL1Loss", input, target, red)
    return _pointwise("smooth_l1", "smooth_l1_loss", "SmoothL1Loss", input, target, red,
                      param=float(beta))


# ===================================================================== class losses

def _class_layout(x, who):
    """(outer, C, inner, out_shape) of an input (C,) or (N, C, d1, ...)."""
    shape = x.shape
    if x.ndim == 0:
        raise ShapeError(f"{who}: input must be (C,), (N, C) or (N, C, d1, ...), got a scalar")
    if x.ndim == 1:
        return 1, shape[0], 1, ()
    inner = int(np.prod(shape[2:], dtype=np.int64)) if x.ndim > 2 else 1
    return shape[0], shape[1], inner, (shape[0],) + shape[2:]


def _class_targets(y, x, C, out_shape, ignore_index, who, K):
    """Validate class-index targets; returns them flat as int64."""
    if y.dtype.kind == "f":
        raise DTypeError(f"{who}: expected class-index targets of dtype int64, got {y.dtype} "
                         f"targets of shape {y.shape} for input of shape {x.shape} "
                         f"(class-probability targets must have the input's shape)")
    if y.dtype not in (np.int64, np.uint8):
        raise DTypeError(f"{who}: class-index targets must have dtype int64 (or uint8), got "
                         f"{y.dtype}; convert them with .long()")
    if y.shape != out_shape:
        raise ShapeError(f"{who}: target shape {y.shape} does not fit input shape {x.shape} "
                         f"(expected target shape {out_shape})")
    t = _flat(y._storage, np.int64)
    i = K.bad_label(t, C, ignore_index)   # one pass in C, not two NumPy reductions
    if i >= 0:
        raise ValueError(f"{who}: target {int(t[i])} is out of bounds: labels must lie "
                         f"in [0, {C}) for C={C} classes (or equal ignore_index="
                         f"{ignore_index}); input shape {x.shape}")
    return t


def _class_weight(weight, C, dtype, who):
    w = _aux_weight(weight, dtype, who, "weight")
    if w is not None and w.shape != (C,):
        raise ShapeError(f"{who}: weight must have shape ({C},), one value per class, got "
                         f"{w.shape}")
    return None if w is None else _flat(w)


def _class_loss(who, name, input, target, weight, ignore_index, red, label_smoothing, nll):
    x = _float_tensor(input, who, "input")
    y = _as_tensor(target, who, "target")
    dtype = x.dtype
    outer, C, inner, out_shape = _class_layout(x, who)
    if C < 1:
        raise ShapeError(f"{who}: input of shape {x.shape} has no classes")
    w = _class_weight(weight, C, dtype, who)
    K = table_of(x._storage, y._storage, w)
    eng = _engine(dtype, K)
    npos = outer * inner
    prob = not nll and y.dtype.kind == "f" and y.shape == x.shape
    if npos == 0 and red == MEAN:
        raise _empty_batch(who, x.shape)
    want = ag.needs_grad(x, y if prob else None)
    out = K.empty(npos, dtype) if red == NONE else None
    dx = K.empty(npos * C, dtype) if want and x.requires_grad else None
    xf = _flat(x._storage)
    if prob:
        _same_float_dtype(x, y, who)
        if ignore_index != -100:
            raise ValueError(f"{who}: ignore_index is not supported for class-probability "
                             f"targets (got ignore_index={ignore_index})")
        dy = K.empty(npos * C, dtype) if want and y.requires_grad else None
        yf = _flat(y._storage)
        total = eng.cross_entropy_prob_loss(out, dx, dy, xf, yf, w, outer, C, inner, red,
                                            label_smoothing)
        hint = ""
    else:
        dy = None
        yf = _class_targets(y, x, C, out_shape, ignore_index, who, K)
        if nll:
            total = eng.nll_loss(out, dx, xf, yf, w, outer, C, inner, ignore_index, red)
        else:
            total = eng.cross_entropy_loss(out, dx, xf, yf, w, outer, C, inner, ignore_index,
                                           red, label_smoothing)
        hint = (f" (the weights of the non-ignored targets sum to 0, e.g. every target equals "
                f"ignore_index={ignore_index})") if red == MEAN else ""
    gshape = (outer, 1, inner)
    return _finish(who, name, total, out, red, dtype, out_shape, x, y if prob else None,
                   None if dx is None else dx.reshape(outer, C, inner),
                   None if dy is None else dy.reshape(outer, C, inner), gshape,
                   (("input", xf), ("target", yf), ("weight", w)), hint)


_F32, _I64 = np.dtype(np.float32), np.dtype(np.int64)


def _cross_entropy_mean(x, y):
    """cross_entropy's default call on host float32 logits (N, C) and int64 labels (N,),
    with no Python beyond the kernel call and one node (the usual training loss); None
    when the general path must run (which also raises its errors)."""
    if x.__class__ is not Tensor or y.__class__ is not Tensor or y.requires_grad:
        return None
    xd, yd = x._storage, y._storage
    if xd.__class__ is not np.ndarray or yd.__class__ is not np.ndarray or \
            xd.dtype != _F32 or yd.dtype != _I64 or xd.ndim != 2 or yd.ndim != 1 or \
            not (xd.flags.c_contiguous and yd.flags.c_contiguous):
        return None
    n, c = xd.shape
    if n == 0 or c == 0 or yd.shape[0] != n:
        return None
    K = cpu_table
    t = yd.reshape(-1)
    if K.bad_label(t, c, -100) >= 0:
        return None
    want = x.requires_grad and ag._state.grad_enabled
    dx = np.empty((n, c), _F32) if want else None
    total = K.cross_entropy_loss(None, None if dx is None else dx.reshape(-1), xd.reshape(-1),
                                 t, None, n, c, 1, -100, MEAN, 0.0)
    if not math.isfinite(total):
        return None
    val = np.array(total, dtype=_F32)
    if dx is None:
        return Tensor._make(val)

    def backward(g):
        return (dx if g == 1 else dx * g), None   # dx is never mutated downstream

    return Tensor._make(val, True, ag.Node((x, y), backward, "CrossEntropyLoss"))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """Softmax cross entropy of logits input (C,), (N, C) or (N, C, d1, ...) against class
    indices (int64, shape (), (N) or (N, d1, ...)) or class probabilities (float, the input's
    shape). Log-softmax and NLL are one fused kernel pass."""
    if (weight is None and reduction == "mean" and label_smoothing == 0.0 and
            ignore_index == -100 and size_average is None and reduce is None):
        loss = _cross_entropy_mean(input, target)
        if loss is not None:
            return loss
    red = _reduction(reduction, size_average, reduce, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    return _class_loss("cross_entropy", "CrossEntropyLoss", input, target, weight,
                       int(ignore_index), red, float(label_smoothing), nll=False)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """Negative log likelihood of log-probabilities input (C,), (N, C) or (N, C, d1, ...)."""
    red = _reduction(reduction, size_average, reduce, "nll_loss")
    return _class_loss("nll_loss", "NllLoss", input, target, weight, int(ignore_index), red,
                       0.0, nll=True)


# ===================================================================== binary cross entropy

def _periodic(w, shape, who, what):
    """A weight broadcastable to `shape` as a flat array that repeats with its own size
    (w[i % len]) — no copy when it only spans trailing dimensions, else materialised."""
    if w is None:
        return None
    try:
        full = np.broadcast_shapes(w.shape, shape)
    except ValueError:
        full = None
    if full != tuple(shape):
        raise ShapeError(f"{who}: {what} of shape {w.shape} does not broadcast to the input "
                         f"shape {tuple(shape)}")
    ws = list(w.shape)
    while ws and ws[0] == 1:
        ws.pop(0)
    if not ws:
        return _flat(w)[:1]
    k = len(ws)
    if tuple(ws) == tuple(shape[-k:]):
        return _flat(w)
    return _flat(np.broadcast_to(w, shape))


def _binary_operands(input, target, who):
    x = _float_tensor(input, who, "input")
    y = _float_tensor(target, who, "target")
    _same_float_dtype(x, y, who)
    if x.shape != y.shape:
        raise ShapeError(f"{who}: target size {y.shape} must be the same as the input size "
                         f"{x.shape}")
    return x, y


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """BCE on probabilities in [0, 1]; logs are clamped at -100 (as PyTorch)."""
    who = "binary_cross_entropy"
    red = _reduction(reduction, size_average, reduce, who)
    x, y = _binary_operands(input, target, who)
    dtype, n = x.dtype, x._storage.size
    if n == 0 and red == MEAN:
        raise _empty_batch(who, x.shape)
    xf, yf = _flat(x._storage), _flat(y._storage)
    for what, a in (("input", xf), ("target", yf)):
        if a.size and not (a.min() >= 0 and a.max() <= 1):
            raise ValueError(f"{who}: all elements of {what} should be between 0 and 1 (got "
                             f"values in [{a.min()}, {a.max()}], shape {x.shape})")
    w = _periodic(_aux_weight(weight, dtype, who, "weight"), x.shape, who, "weight")
    scale = 1.0 / n if red == MEAN else 1.0
    want = ag.needs_grad(x, y)
    K = table_of(xf, yf, w)
    out = K.empty(n, dtype) if red == NONE else None
    dx = K.empty(n, dtype) if want and x.requires_grad else None
    dy = K.empty(n, dtype) if want and y.requires_grad else None
    total = _engine(dtype, K).bce_loss(out, dx, dy, xf, yf, w, scale)
    return _finish(who, "BinaryCrossEntropy", total, out, red, dtype, x.shape, x, y, dx, dy,
                   (n,), (("input", xf), ("target", yf), ("weight", w)))


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None,
                                     reduce=None, reduction="mean", pos_weight=None):
    """BCE on logits, in the stable log-sigmoid form; pos_weight broadcasts against the input
    (a (C,) pos_weight weighs the positives of each class along the last dimension)."""
    who = "binary_cross_entropy_with_logits"
    red = _reduction(reduction, size_average, reduce, who)
    x, y = _binary_operands(input, target, who)
    dtype, n = x.dtype, x._storage.size
    if n == 0 and red == MEAN:
        raise _empty_batch(who, x.shape)
    xf, yf = _flat(x._storage), _flat(y._storage)
    w = _periodic(_aux_weight(weight, dtype, who, "weight"), x.shape, who, "weight")
    q = _periodic(_aux_weight(pos_weight, dtype, who, "pos_weight"), x.shape, who,
                  "pos_weight")
    scale = 1.0 / n if red == MEAN else 1.0
    want = ag.needs_grad(x, y)
    K = table_of(xf, yf, w, q)
    out = K.empty(n, dtype) if red == NONE else None
    dx = K.empty(n, dtype) if want and x.requires_grad else None
    dy = K.empty(n, dtype) if want and y.requires_grad else None
    total = _engine(dtype, K).bce_logits_loss(out, dx, dy, xf, yf, w, q, scale)
    return _finish(who, "BinaryCrossEntropyWithLogits", total, out, red, dtype, x.shape, x, y,
                   dx, dy, (n,),
                   (("input", xf), ("target", yf), ("weight", w), ("pos_weight", q)))
