"""Functional normalisation: batch_norm, layer_norm and group_norm (PyTorch's
torch.nn.functional names, arguments and defaults).

Each call records one autograd node (inputs: input, weight, bias). float32 runs the compiled
kernels of csrc/norm.c (group_norm: csrc/norm_group.c); float64 runs the NumPy references
below, which use the same formulas and are what the tests hold the compiled path to. Other
dtypes raise DTypeError.

batch_norm views the input as [N, C, S] (S = product of the dims after the channel dim), so
(N, C), (N, C, L) and (N, C, H, W) inputs need no transposing copy; layer_norm views it as
[M, D] (D = product of normalized_shape).

Deviations from PyTorch:
- Running statistics are updated in place only when they are C-contiguous arrays of the
  input's dtype (as module buffers always are); otherwise the update is written back with a
  copy. torch also accepts mixed dtypes in a few reduced-precision cases; nnfast requires
  weight, bias and running statistics to have the input's dtype.
- Argument errors raise ShapeError/DTypeError (which are also RuntimeError/ValueError, the
  types torch raises) with the function or layer and the shapes in the message.
"""
import math
import numbers

import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["batch_norm", "layer_norm", "group_norm"]


# ===================================================================== input checks

def _as_tensor(x, who, what="input"):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: expected {what} to be a Tensor, got {type(x).__name__}")


def _check_float(x, who):
    if x.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{who}: expected a float32 or float64 input, got dtype {x.dtype} "
                         f"(shape {tuple(x.shape)}); convert it with .float()")


def _check_param(t, name, n, dtype, who, shape=None):
    """None, or a Tensor of n elements (of `shape` when given) with the input's dtype."""
    if t is None:
        return None
    t = _as_tensor(t, who, name)
    if shape is not None:
        if t.shape != tuple(shape):
            raise ShapeError(f"{who}: expected {name} of the same shape as normalized_shape "
                             f"{tuple(shape)}, got {name} of shape {tuple(t.shape)}")
    elif t._storage.size != n:
        raise ShapeError(f"{who}: {name} should contain {n} elements not {t._storage.size} "
                         f"(one per channel, dim 1 of the input; {name} has shape "
                         f"{tuple(t.shape)})")
    if t.dtype != dtype:
        raise DTypeError(f"{who}: input has dtype {dtype} but {name} is {t.dtype}; "
                         f"convert the input with .float() (or the module with .double())")
    return t


def _bn_check(input, running_mean, running_var, weight, bias, training, eps, who):
    """Validate batch_norm's arguments; returns the tensors (None kept) and (N, C, S)."""
    x = _as_tensor(input, who)
    _check_float(x, who)
    if x.ndim < 2:
        raise ShapeError(f"{who}: expected an input of at least 2 dimensions (N, C, ...), "
                         f"got shape {tuple(x.shape)}")
    N, C, S = x.shape[0], x.shape[1], math.prod(x.shape[2:])
    rm = _check_param(running_mean, "running_mean", C, x.dtype, who)
    rv = _check_param(running_var, "running_var", C, x.dtype, who)
    w = _check_param(weight, "weight", C, x.dtype, who)
    b = _check_param(bias, "bias", C, x.dtype, who)
    if training:
        if N * S == 1:
            raise ShapeError(f"{who}: Expected more than 1 value per channel when training, "
                             f"got input size {tuple(x.shape)}")
        if eps <= 0.0:
            raise ValueError(f"{who}: batch_norm eps must be positive during training, "
                             f"but got {eps}")
    else:
        if eps < 0.0:
            raise ValueError(f"{who}: batch_norm eps must be non-negative, but got {eps}")
        if rm is None or rv is None:
            raise RuntimeError(f"{who}: running_mean and running_var must be defined in "
                               f"evaluation mode (training=False)")
    return x, rm, rv, w, b, (N, C, S)


# ===================================================================== NumPy references
# x3 is [N, C, S]; per-channel vectors are [C]. Same formulas as csrc/norm.c.

def _ref_bn_stats(x3, running_mean, running_var, momentum, eps):
    """(mean, invstd) of x3 per channel; updates running_mean/var ([C] arrays or None)."""
    n = x3.shape[0] * x3.shape[2]
    m = x3.astype(np.float64).sum(axis=(0, 2)) / n
    sq = ((x3.astype(np.float64) - m[None, :, None]) ** 2).sum(axis=(0, 2))
    invstd = 1.0 / np.sqrt(sq / n + eps)
    if running_mean is not None:
        running_mean[...] = momentum * m + (1.0 - momentum) * running_mean
    if running_var is not None and n > 1:
        running_var[...] = momentum * (sq / (n - 1)) + (1.0 - momentum) * running_var
    return m.astype(x3.dtype), invstd.astype(x3.dtype)


def _ref_bn_apply(x3, mean, invstd, weight, bias):
    alpha = invstd * (weight if weight is not None else 1)
    beta = (bias if bias is not None else 0) - mean * alpha
    return x3 * alpha[None, :, None] + beta[None, :, None]


def _ref_bn_backward(g3, x3, mean, invstd, weight, training):
    """(dx, dweight, dbias) of _ref_bn_apply, through the batch statistics when training."""
    dt = x3.dtype
    n = x3.shape[0] * x3.shape[2]
    xm = x3.astype(np.float64) - mean.astype(np.float64)[None, :, None]
    sdy = g3.astype(np.float64).sum(axis=(0, 2))
    sdyx = (g3.astype(np.float64) * xm).sum(axis=(0, 2))
    is64 = invstd.astype(np.float64)
    iw = invstd * (weight if weight is not None else dt.type(1))
    if training and n > 0:
        k = (sdyx * is64 * is64 / n).astype(dt)
        gm = (sdy / n).astype(dt)
        dx = (g3 - gm[None, :, None] - (x3 - mean[None, :, None]) * k[None, :, None]) \
            * iw[None, :, None]
    else:
        dx = g3 * iw[None, :, None]
    return dx.astype(dt), (sdyx * is64).astype(dt), sdy.astype(dt)


def _ref_ln_forward(x2, weight, bias, eps):
    """(out, mean, rstd) over the rows of x2[M, D]."""
    D = x2.shape[1]
    x64 = x2.astype(np.float64)
    m = x64.sum(axis=1) / D
    var = ((x64 - m[:, None]) ** 2).sum(axis=1) / D
    r = (1.0 / np.sqrt(var + eps)).astype(x2.dtype)
    m = m.astype(x2.dtype)
    y = x2 * r[:, None] + (-r * m)[:, None]
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y, m, r


def _ref_ln_backward(g2, x2, mean, rstd, weight):
    """(dx, dweight, dbias) of _ref_ln_forward (dweight/dbias over the D columns)."""
    dt = x2.dtype
    D = x2.shape[1]
    g64, x64 = g2.astype(np.float64), x2.astype(np.float64)
    gw = g64 * (weight.astype(np.float64) if weight is not None else 1.0)
    ds = (gw * x64).sum(axis=1)
    db = gw.sum(axis=1)
    r, m = rstd.astype(np.float64), mean.astype(np.float64)
    b = (db * m - ds) * r ** 3 / D
    c = -b * m - db * r / D
    dx = r[:, None] * gw + b[:, None] * x64 + c[:, None]
    xhat = (x64 - m[:, None]) * r[:, None]
    return dx.astype(dt), (g64 * xhat).sum(axis=0).astype(dt), g64.sum(axis=0).astype(dt)


# ===================================================================== helpers

def _flat(a):
    """A C-contiguous float32 1-D view (copying only when needed)."""
    if a.__class__ is np.ndarray:   # (the host case without a Python frame)
        return np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    return contiguous(a, dtype=np.float32).reshape(-1)


def _inplace_target(t):
    """t's array if it can be updated in place by a kernel (C-contiguous, writable)."""
    d = t._storage
    if d.flags.c_contiguous and d.flags.writeable:
        return d.reshape(-1), False
    return contiguous(d).reshape(-1).copy(), True


# ===================================================================== batch_norm

def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, _who="batch_norm"):
    """Normalise each channel (dim 1) of input with batch statistics (training=True; the
    running statistics, when given, are updated in place with `momentum`, the variance
    unbiased) or with running_mean/running_var (training=False), then scale by weight and
    shift by bias (each per channel, or None)."""
    x, rm, rv, w, b, (N, C, S) = _bn_check(input, running_mean, running_var, weight, bias,
                                           training, eps, _who)
    xd = x._storage
    K = table_of(xd, None if w is None else w._storage, None if b is None else b._storage, None if rm is None else rm._storage)
    fast = xd.dtype == np.float32
    momentum = float(momentum) if momentum is not None else 0.0
    x3 = contiguous(xd).reshape(N, C, S)
    wd = None if w is None else contiguous(w._storage).reshape(-1)
    bd = None if b is None else contiguous(b._storage).reshape(-1)
    empty = N * S == 0
    if training:
        if empty:   # as torch: an empty output, running statistics untouched
            mean = K.zeros(C, xd.dtype)
            invstd = K.ones(C, xd.dtype)
        else:
            targets = [None if t is None else _inplace_target(t) for t in (rm, rv)]
            rm_a = None if rm is None else targets[0][0]
            rv_a = None if rv is None else targets[1][0]
            if fast:
                mean = K.empty(C, np.float32)
                invstd = K.empty(C, np.float32)
                K.batch_norm_stats(mean, invstd, rm_a, rv_a, x3.reshape(-1), N, C, S,
                                    momentum, float(eps))
            else:
                mean, invstd = _ref_bn_stats(x3, rm_a, rv_a, momentum, float(eps))
            for t, tgt in zip((rm, rv), targets):
                if t is not None and tgt[1]:
                    t._storage[...] = tgt[0].reshape(t.shape)
    else:
        dt = xd.dtype.type
        mean = rm._storage.astype(xd.dtype).reshape(-1)   # a snapshot, not a view
        invstd = dt(1) / np.sqrt(rv._storage.reshape(-1) + dt(eps))
    if fast:
        out = K.empty(xd.shape, np.float32)
        K.batch_norm_apply(out.reshape(-1), x3.reshape(-1), mean, invstd, wd, bd, N, C, S)
    else:
        out = _ref_bn_apply(x3, mean, invstd, wd, bd).reshape(xd.shape)
    if not ag.needs_grad(x, w, b):
        return Tensor._make(out)

    def backward(g):
        want_x = x.requires_grad
        want_w = w is not None and w.requires_grad
        want_b = b is not None and b.requires_grad
        if fast:
            dx = K.empty(xd.shape, np.float32) if want_x else None
            dw = K.empty(C, np.float32) if want_w else None
            db = K.empty(C, np.float32) if want_b else None
            K.batch_norm_backward(None if dx is None else dx.reshape(-1), dw, db, _flat(g),
                                   x3.reshape(-1), mean, invstd, wd, N, C, S, bool(training))
        else:
            g3 = g.astype(xd.dtype, copy=False).reshape(N, C, S)
            dx, dw, db = _ref_bn_backward(g3, x3, mean, invstd, wd, bool(training))
            dx = dx.reshape(xd.shape) if want_x else None
        return (dx,
                dw.reshape(w.shape) if want_w else None,
                db.reshape(b.shape) if want_b else None)

    return Tensor._make(out, True, ag.Node((x, w, b), backward, "NativeBatchNorm"))


# ===================================================================== layer_norm

def _normalized_shape(normalized_shape, who):
    if isinstance(normalized_shape, numbers.Integral):
        shape = (int(normalized_shape),)
    else:
        try:
            shape = tuple(int(s) for s in normalized_shape)
        except TypeError:
            raise TypeError(f"{who}: normalized_shape must be an int or a sequence of ints, "
                            f"got {normalized_shape!r}") from None
    if len(shape) == 0:
        raise ShapeError(f"{who}: Expected normalized_shape to be at least 1-dimensional, "
                         f"i.e., containing at least one element, but got normalized_shape "
                         f"= {list(shape)}")
    return shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, _who="layer_norm"):
    """Normalise over the trailing dims given by normalized_shape (mean 0, biased variance 1
    per row, eps inside the square root), then weight * . + bias elementwise (each shaped
    like normalized_shape, or None)."""
    shape = _normalized_shape(normalized_shape, _who)
    x = _as_tensor(input, _who)
    _check_float(x, _who)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        raise ShapeError(f"{_who}: Given normalized_shape={list(shape)}, expected input with "
                         f"shape [*, {', '.join(map(str, shape))}], but got input of size "
                         f"{list(x.shape)}")
    w = _check_param(weight, "weight", None, x.dtype, _who, shape)
    b = _check_param(bias, "bias", None, x.dtype, _who, shape)
    xd = x._storage
    K = table_of(xd, None if w is None else w._storage, None if b is None else b._storage)
    D = math.prod(shape)
    M = math.prod(x.shape[:x.ndim - k])
    fast = xd.dtype == np.float32
    x2 = contiguous(xd).reshape(M, D)
    wd = None if w is None else contiguous(w._storage).reshape(-1)
    bd = None if b is None else contiguous(b._storage).reshape(-1)
    if fast:
        out = K.empty(xd.shape, np.float32)
        mean = K.empty(M, np.float32)
        rstd = K.empty(M, np.float32)
        K.layer_norm_forward(out.reshape(-1), mean, rstd, x2.reshape(-1), wd, bd, M, D,
                              float(eps))
    elif M * D:
        out, mean, rstd = _ref_ln_forward(x2, wd, bd, float(eps))
        out = out.reshape(xd.shape)
    else:
        out, mean, rstd = K.empty(xd.shape, xd.dtype), K.empty(M, xd.dtype), None
    if not ag.needs_grad(x, w, b):
        return Tensor._make(out)

    def backward(g):
        want_x = x.requires_grad
        want_w = w is not None and w.requires_grad
        want_b = b is not None and b.requires_grad
        if fast:
            dx = K.empty(xd.shape, np.float32) if want_x else None
            dw = K.empty(D, np.float32) if want_w else None
            db = K.empty(D, np.float32) if want_b else None
            K.layer_norm_backward(None if dx is None else dx.reshape(-1), dw, db, _flat(g),
                                   x2.reshape(-1), mean, rstd, wd, M, D)
        elif M * D:
            g2 = g.astype(xd.dtype, copy=False).reshape(M, D)
            dx, dw, db = _ref_ln_backward(g2, x2, mean, rstd, wd)
            dx = dx.reshape(xd.shape) if want_x else None
        else:
            dx = K.zeros(xd.shape, xd.dtype) if want_x else None
            dw = K.zeros(D, xd.dtype)
            db = K.zeros(D, xd.dtype)
        return (dx,
                dw.reshape(w.shape) if want_w else None,
                db.reshape(b.shape) if want_b else None)

    return Tensor._make(out, True, ag.Node((x, w, b), backward, "NativeLayerNorm"))


# ===================================================================== group_norm

def _ref_gn_forward(x3, G, weight, bias, eps):
    """(out, mean[N*G], rstd[N*G]) of x3[N, C, S] in G groups (csrc/norm_group.c's formulas)."""
    N, C, S = x3.shape
    xg = x3.reshape(N * G, -1).astype(np.float64)
    m = xg.mean(axis=1) if xg.shape[1] else np.zeros(N * G)
    var = ((xg - m[:, None]) ** 2).mean(axis=1) if xg.shape[1] else np.zeros(N * G)
    r = (1.0 / np.sqrt(var + eps)).astype(x3.dtype)
    m = m.astype(x3.dtype)
    w = weight if weight is not None else np.ones(C, x3.dtype)
    b = bias if bias is not None else np.zeros(C, x3.dtype)
    scale = r.reshape(N, G, 1) * w.reshape(1, G, C // G)
    shift = b.reshape(1, G, C // G) - scale * m.reshape(N, G, 1)
    out = x3 * scale.reshape(N, C, 1) + shift.reshape(N, C, 1)
    return out, m, r


def _ref_gn_backward(g3, x3, G, mean, rstd, weight):
    """(dx, dweight, dbias) of _ref_gn_forward."""
    dt = x3.dtype
    N, C, S = x3.shape
    D = (C // G) * S
    g64 = g3.astype(np.float64)
    xm = x3.astype(np.float64) - np.repeat(mean.reshape(N, G).astype(np.float64), C // G,
                                           axis=1)[:, :, None]
    r = np.repeat(rstd.reshape(N, G).astype(np.float64), C // G, axis=1)[:, :, None]
    w = (weight.astype(np.float64) if weight is not None else np.ones(C)).reshape(1, C, 1)
    gw = (g64 * w).reshape(N, G, -1)
    xh = (xm * r).reshape(N, G, -1)
    dx = r.reshape(N, G, -1)[:, :, :1] * (gw - gw.mean(axis=2, keepdims=True)
                                          - xh * (gw * xh).mean(axis=2, keepdims=True)) \
        if D else gw
    dw = (g64 * xm * r).sum(axis=(0, 2))
    return dx.reshape(x3.shape).astype(dt), dw.astype(dt), g64.sum(axis=(0, 2)).astype(dt)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, _who="group_norm"):
    """Normalise input (N, C, *) over each group of C/num_groups channels (and all the
    trailing dims) per sample, then scale and shift per channel by weight and bias (each of
    C elements, or None)."""
    who = _who
    x = _as_tensor(input, who)
    _check_float(x, who)
    if x.ndim < 2:
        raise ShapeError(f"{who}: Expected at least 2 dimensions for input tensor but "
                         f"received {x.ndim} (input of shape {tuple(x.shape)})")
    if not isinstance(num_groups, numbers.Integral) or num_groups <= 0:
        raise ValueError(f"{who}: num_groups must be a positive integer, got {num_groups!r}")
    N, C, S = x.shape[0], x.shape[1], math.prod(x.shape[2:])
    G = int(num_groups)
    if C % G:
        raise ShapeError(f"{who}: Expected number of channels in input to be divisible by "
                         f"num_groups, but got input of shape {tuple(x.shape)} and num_groups={G}")
    w = _check_param(weight, "weight", C, x.dtype, who)
    b = _check_param(bias, "bias", C, x.dtype, who)
    xd = x._storage
    K = table_of(xd, None if w is None else w._storage, None if b is None else b._storage)
    fast = xd.dtype == np.float32
    x3 = contiguous(xd).reshape(N, C, S)
    wd = None if w is None else contiguous(w._storage).reshape(-1)
    bd = None if b is None else contiguous(b._storage).reshape(-1)
    if fast:
        out = K.empty(xd.shape, np.float32)
        mean = K.empty(N * G, np.float32)
        rstd = K.empty(N * G, np.float32)
        K.group_norm_forward(out.reshape(-1), mean, rstd, x3.reshape(-1), wd, bd, N, C, S, G,
                              float(eps))
    else:
        out, mean, rstd = _ref_gn_forward(x3, G, wd, bd, float(eps))
        out = out.reshape(xd.shape)
    if not ag.needs_grad(x, w, b):
        return Tensor._make(out)

    def backward(g):
        want_x = x.requires_grad
        want_w = w is not None and w.requires_grad
        want_b = b is not None and b.requires_grad
        if fast:
            dx = K.empty(xd.shape, np.float32) if want_x else None
            dw = K.empty(C, np.float32) if want_w else None
            db = K.empty(C, np.float32) if want_b else None
            ws = K.empty(max(2 * N * C, 1), np.float64)
            K.group_norm_backward(None if dx is None else dx.reshape(-1), dw, db, ws,
                                   _flat(g), x3.reshape(-1), mean, rstd, wd, N, C, S, G)
        else:
            g3 = g.astype(xd.dtype, copy=False).reshape(N, C, S)
            dx, dw, db = _ref_gn_backward(g3, x3, G, mean, rstd, wd)
            dx = dx.reshape(xd.shape) if want_x else None
        return (dx,
                dw.reshape(w.shape) if want_w else None,
                db.reshape(b.shape) if want_b else None)

    return Tensor._make(out, True, ag.Node((x, w, b), backward, "NativeGroupNorm"))
