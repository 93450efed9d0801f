"""Functional odds and ends (torch.nn.functional names and signatures): one_hot, normalize,
cosine_similarity, pairwise_distance, pad.

NumPy in the input's dtype, one autograd node per call (value and local derivative in the
same pass): these are data-preparation or head-of-network ops, not the hot inner loop.
`_pnorm` (a p-norm over one axis and its derivative) is shared with triplet_margin_loss.
"""
import math

import numpy as np

from .. import autograd as ag
from .._ops.core import _unbroadcast
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["one_hot", "normalize", "cosine_similarity", "pairwise_distance", "pad"]


def _tensor(x, who, what="input"):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: {what} must be a Tensor, got {type(x).__name__}")


def _float(x, who, what="input"):
    t = _tensor(x, who, what)
    if t.dtype.kind != "f":
        raise DTypeError(f"{who}: {what} must be a floating point tensor, got dtype {t.dtype} "
                         f"(shape {t.shape}); convert it with .float()")
    return t


def _dim(dim, ndim, who):
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not lo <= dim <= hi:
        raise IndexError(f"{who}: Dimension out of range (expected to be in range of "
                         f"[{lo}, {hi}], but got {dim})")
    return int(dim) % max(ndim, 1)


# ===================================================================== p-norms

def _pnorm(v, p, who, axis=-1, keepdims=False):
    """(||v||_p over axis, grad) where grad() gives d||v||_p / dv (v's shape), 0 where the
    norm is 0, split evenly between ties for p = inf (as PyTorch)."""
    p = float(p)
    a = np.abs(v)
    dt = v.dtype.type
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p == math.inf:
            n = a.max(axis=axis, keepdims=True, initial=0)
        elif p == -math.inf:
            n = a.min(axis=axis, keepdims=True, initial=math.inf) if a.size else \
                np.zeros(a.sum(axis=axis, keepdims=True).shape, v.dtype)
        elif p == 0:
            n = (v != 0).sum(axis=axis, keepdims=True).astype(v.dtype)
        elif p == 1:
            n = a.sum(axis=axis, keepdims=True)
        elif p == 2:
            n = np.sqrt((v * v).sum(axis=axis, keepdims=True))
        else:
            n = ((a ** dt(p)).sum(axis=axis, keepdims=True)) ** dt(1 / p)
    n = n.astype(v.dtype, copy=False)

    def grad():
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p in (math.inf, -math.inf):
                hit = (a == n).astype(v.dtype)
                g = np.sign(v) * hit / np.maximum(hit.sum(axis=axis, keepdims=True), 1)
            elif p == 0:
                g = np.zeros_like(v)
            elif p == 1:
                g = np.sign(v)
            elif p == 2:
                g = v / n
            else:
                g = np.sign(v) * a ** dt(p - 1) / n ** dt(p - 1)
            return np.where((n == 0) | (v == 0) if p not in (1, 2) else (n == 0),
                            dt(0), g).astype(v.dtype, copy=False)

    return (n if keepdims else np.squeeze(n, axis=axis)), grad


def _node(name, val, parts, local):
    """val's tensor with one node; local(g) -> the gradient of each part (or None)."""
    if not ag.needs_grad(*parts):
        return Tensor._make(val)

    def backward(g):
        res = local(g)
        return tuple(None if (t is None or r is None or not t.requires_grad) else
                     contiguous(_unbroadcast(
                         np.broadcast_to(r, np.broadcast_shapes(r.shape, t.shape)), t.shape)
                     ).astype(t.dtype, copy=False)
                     for t, r in zip(parts, res))

    return Tensor._make(val, True, ag.Node(tuple(parts), backward, name))


# ===================================================================== public API

def one_hot(tensor, num_classes=-1):
    """int64 one-hot encoding: shape tensor.shape + (num_classes,); num_classes=-1 takes
    max + 1."""
    who = "one_hot"
    t = _tensor(tensor, who, "tensor")
    if t.dtype != np.int64:
        raise DTypeError("one_hot is only applicable to index tensor of type LongTensor.")
    idx = t._storage
    if num_classes == -1:
        if idx.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(idx.max()) + 1
    num_classes = int(num_classes)
    if idx.size:
        if idx.min() < 0:
            raise ShapeError("Class values must be non-negative.")
        if idx.max() >= num_classes:
            raise ShapeError("Class values must be smaller than num_classes.")
    elif num_classes < 0:
        raise ShapeError("num_classes should be positive")
    out = np.zeros_like(idx, shape=idx.shape + (num_classes,), dtype=np.int64)  # idx's device
    if idx.size:
        np.put_along_axis(out, idx[..., None].astype(np.int64, copy=False), 1, axis=-1)
    return Tensor._make(out)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p over dim, eps)."""
    who = "normalize"
    if out is not None:
        raise NotImplementedError("normalize: out= is not supported")
    x = _float(input, who)
    xd = x._storage
    if isinstance(dim, (tuple, list)):
        axes = tuple(_dim(d, x.ndim, who) for d in dim)
    else:
        axes = (_dim(dim, x.ndim, who),) if x.ndim else ()
    if not axes:   # 0-d: the norm is |x|
        xv, axes_r = xd.reshape(1), (0,)
    else:
        xv, axes_r = xd, axes
    moved = np.moveaxis(xv, axes_r, tuple(range(-len(axes_r), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes_r)] + (-1,))
    n, ngrad = _pnorm(flat, p, who, axis=-1, keepdims=True)
    dt = xd.dtype.type
    den = np.maximum(n, dt(eps))
    y_flat = flat / den
    y = np.moveaxis(y_flat.reshape(moved.shape), tuple(range(-len(axes_r), 0)), axes_r)
    y = y.reshape(xd.shape)

    def local(g):
        gm = np.moveaxis(g.reshape(xv.shape), axes_r, tuple(range(-len(axes_r), 0)))
        gf = gm.reshape(flat.shape)
        # y = x / den(x): dx = g / den - x * sum(g * x) / den^2 * d den / dx
        on = (n >= dt(eps)).astype(xd.dtype)     # clamp_min passes where n >= eps
        dx = gf / den - ngrad() * on * (gf * flat).sum(-1, keepdims=True) / (den * den)
        dx = np.moveaxis(dx.reshape(moved.shape), tuple(range(-len(axes_r), 0)), axes_r)
        return (dx.reshape(xd.shape),)

    return _node("Normalize", y, (x,), local)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) over dim, x1 and x2 broadcast."""
    who = "cosine_similarity"
    a, b = _float(x1, who, "x1"), _float(x2, who, "x2")
    if a.dtype != b.dtype:
        raise DTypeError(f"{who}: x1 has dtype {a.dtype} but x2 has dtype {b.dtype}")
    ad, bd = a._storage, b._storage
    try:
        full = np.broadcast_shapes(ad.shape, bd.shape)
    except ValueError:
        raise ShapeError(f"{who}: x1 of shape {ad.shape} and x2 of shape {bd.shape} do not "
                         "broadcast together") from None
    d = _dim(dim, len(full), who)
    A, B = np.broadcast_to(ad, full), np.broadcast_to(bd, full)
    dt = ad.dtype.type
    n1, g1 = _pnorm(A, 2, who, axis=d, keepdims=True)
    n2, g2 = _pnorm(B, 2, who, axis=d, keepdims=True)
    c1, c2 = np.maximum(n1, dt(eps)), np.maximum(n2, dt(eps))
    u1, u2 = A / c1, B / c2
    cos = (u1 * u2).sum(axis=d)

    def local(g):
        gk = np.expand_dims(g, d)
        # cos = sum(A B) / (c1 c2): d/dA = B / (c1 c2) - cos / c1 * dn1/dA (n1 >= eps only)
        ck = np.expand_dims(cos, d)
        on1, on2 = (n1 >= dt(eps)), (n2 >= dt(eps))
        da = gk * (u2 / c1 - np.where(on1, ck / c1 * g1(), dt(0)))
        db = gk * (u1 / c2 - np.where(on2, ck / c2 * g2(), dt(0)))
        return da, db

    return _node("CosineSimilarity", cos.astype(ad.dtype, copy=False), (a, b), local)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dimension (of the larger rank)."""
    who = "pairwise_distance"
    a, b = _float(x1, who, "x1"), _float(x2, who, "x2")
    if a.dtype != b.dtype:
        raise DTypeError(f"{who}: x1 has dtype {a.dtype} but x2 has dtype {b.dtype}")
    ad, bd = a._storage, b._storage
    try:
        np.broadcast_shapes(ad.shape, bd.shape)
    except ValueError:
        raise ShapeError(f"{who}: x1 of shape {ad.shape} and x2 of shape {bd.shape} do not "
                         "broadcast together") from None
    if max(ad.ndim, bd.ndim) == 0:
        raise ShapeError(f"{who}: x1 and x2 are both 0-dimensional")
    v = ad - bd + ad.dtype.type(eps)
    n, grad = _pnorm(v, p, who, axis=-1, keepdims=keepdim)

    def local(g):
        gk = g if keepdim else g[..., None]
        dv = gk * grad()
        return dv, -dv

    return _node("PairwiseDistance", n, (a, b), local)


# ----------------------------------------------------------------------------- pad

_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(n, lo, hi, mode, dim, shape):
    """For each output position along one dimension, the input index it reads (-1: the
    constant fill)."""
    q = np.arange(-lo, n + hi)
    if mode == "constant":
        return np.where((q >= 0) & (q < n), q, -1)
    if mode == "reflect":
        if lo >= n or hi >= n:
            raise ShapeError(f"Argument #4: Padding size should be less than the corresponding "
                             f"input dimension, but got: padding ({lo}, {hi}) at dimension "
                             f"{dim} of input {list(shape)}")
        if n == 1:
            return np.zeros_like(q)
        r = np.mod(q, 2 * n - 2)
        return np.where(r < n, r, 2 * n - 2 - r)
    if mode == "replicate":
        if n == 0:
            raise ShapeError(f"pad: replicate padding needs a non-empty dimension {dim} "
                             f"(input shape {tuple(shape)})")
        return np.clip(q, 0, n - 1)
    # circular: negative amounts crop first, and the wrap reads the cropped part (as torch)
    start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
    if lo > m or hi > m:
        raise ShapeError("Padding value causes wrapping around more than once.")
    return start + np.mod(np.arange(-max(lo, 0), m + max(hi, 0)), m) if m > 0 else q[:0]


def pad(input, pad, mode="constant", value=None):
    """Pads (or, for negative amounts, crops) the last len(pad) // 2 dimensions:
    pad = (left_last, right_last, left_second_last, ...). Modes constant (fill `value`,
    default 0), reflect, replicate, circular (these: 2-3-D input with 2 pads, 3-4-D with 4,
    4-5-D with 6, as PyTorch)."""
    who = "pad"
    x = _tensor(input, who)
    xd = x._storage
    pad = tuple(int(v) for v in pad)
    if len(pad) % 2:
        raise ShapeError("Padding length must be divisible by 2")
    k = len(pad) // 2
    if k > xd.ndim:
        raise ShapeError(f"Padding length should be less than or equal to two times the input "
                         f"dimension but got padding length {len(pad)} and input of dimension "
                         f"{xd.ndim}")
    if mode not in _MODES:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if mode != "constant":
        if value is not None and value != 0:
            raise ShapeError(f'Padding mode "{mode}" doesn\'t take in value argument')
        if k not in (1, 2, 3) or xd.ndim not in (k + 1, k + 2):
            raise NotImplementedError(
                f"Padding size {len(pad)} is not supported for {xd.ndim}D input tensor. "
                "Supported combinations for non-constant padding: 2D or 3D input: padding "
                "size = 2 (pads last dimension); 3D or 4D input: padding size = 4 (pads last 2 "
                "dimensions); 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    fill = np.asarray(0 if value is None else value).astype(xd.dtype)
    maps = []   # (axis, index map, input length)
    for i in range(k):
        axis = xd.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        n = xd.shape[axis]
        if n + lo + hi < 0:
            raise ShapeError(f"pad: padding ({lo}, {hi}) leaves a negative size along dimension "
                             f"{axis} of input {tuple(xd.shape)}")
        maps.append((axis, _pad_index(n, lo, hi, mode, axis, xd.shape), n))
    out = xd
    for axis, idx, n in maps:
        if n == 0:
            shp = list(out.shape)
            shp[axis] = idx.size
            out = np.full(shp, fill, xd.dtype)
            continue
        out = np.take(out, np.clip(idx, 0, n - 1), axis=axis)
        if mode == "constant" and (idx < 0).any():
            sl = [slice(None)] * out.ndim
            sl[axis] = idx < 0
            out[tuple(sl)] = fill
    out = contiguous(out)
    if x.dtype.kind != "f" or not ag.needs_grad(x):
        return Tensor._make(out)

    def local(g):
        for axis, idx, n in reversed(maps):
            gm = np.moveaxis(g, axis, 0)
            dst = np.zeros((n,) + gm.shape[1:], g.dtype)
            keep = idx >= 0
            if n:
                np.add.at(dst, idx[keep], gm[keep])
            g = np.moveaxis(dst, 0, axis)
        return (g,)

    return _node("ConstantPadNd" if mode == "constant" else f"{mode.capitalize()}PadNd", out,
                 (x,), local)
