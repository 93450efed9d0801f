"""Reductions: sum, mean, max, min, argmax, argmin (dim / keepdim as in torch)."""
import builtins

import numpy as np

from ..tensor import Tensor, int64
from .core import _bind, _unary

def _norm_dims(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    out = []
    for d in dim:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-ndim}, {ndim - 1}], but got {d})")
        out.append(d % ndim if ndim else 0)
    return tuple(out)


def _expand_grad(g, shape, axes, keepdim):
    if not keepdim and shape != ():
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _reduce_all(dim):
    """torch's sum/mean treat an empty dim list as 'every dim'."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def sum(x, dim=None, keepdim=False):
    axes = _norm_dims(_reduce_all(dim), x.ndim)
    # As torch: bool and integer sums are int64 (a bool "sum" would be a logical or).
    dt = x.dtype if x.dtype.kind in "fc" else int64
    out = np.asarray(x._storage.sum(axis=axes, keepdims=keepdim, dtype=dt), dtype=dt)
    shape = x.shape
    return _unary(x, out, lambda g: (_expand_grad(g, shape, axes, keepdim),), "Sum")


def mean(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":
        raise RuntimeError(f"mean(): input dtype should be floating point, got {x.dtype}")
    axes = _norm_dims(_reduce_all(dim), x.ndim)
    out = np.asarray(x._storage.mean(axis=axes, keepdims=keepdim), dtype=x.dtype)
    shape = x.shape
    count = 1
    for a in axes:
        count *= shape[a]
    return _unary(x, out,
                  lambda g: (_expand_grad(g / count, shape, axes, keepdim).astype(x.dtype),),
                  "Mean")


def _minmax(x, dim, keepdim, npfn, argfn, name):
    xd = x._storage
    if dim is None:
        out = np.asarray(npfn(xd))
        # PyTorch spreads the gradient evenly over ties for the full reduction.
        def backward(g):
            mask = (xd == out)
            return (mask * (g / mask.sum()),)
        return _unary(x, out, backward, name, saved=(x,), saves_output=True)
    d = _norm_dims(dim, x.ndim)[0]
    idx = argfn(xd, axis=d)
    vals = np.take_along_axis(xd, np.expand_dims(idx, d), axis=d)
    if not keepdim:
        vals = np.squeeze(vals, d)

    def backward(g):
        gx = np.zeros_like(xd)
        gg = g if keepdim else np.expand_dims(g, d)
        np.put_along_axis(gx, np.expand_dims(idx, d), gg, axis=d)
        return (gx,)
    values = _unary(x, vals, backward, name)
    indices = Tensor._make(idx if not keepdim else np.expand_dims(idx, d))
    return _MinMax(values, indices)


class _MinMax(tuple):
    """(values, indices) as returned by max/min along a dimension."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def max(x, dim=None, keepdim=False):
    return _minmax(x, dim, keepdim, np.max, np.argmax, "Max")


def min(x, dim=None, keepdim=False):
    return _minmax(x, dim, keepdim, np.min, np.argmin, "Min")


def _arg_reduce(fn, arr, dim, keepdim):
    if dim is None:
        return np.asarray(fn(arr))
    return fn(arr, axis=dim, keepdims=keepdim)




def argmax(x, dim=None, keepdim=False):
    return Tensor._make(_arg_reduce(np.argmax, x._storage, dim, keepdim))


def argmin(x, dim=None, keepdim=False):
    return Tensor._make(_arg_reduce(np.argmin, x._storage, dim, keepdim))


_bind({"sum": sum, "mean": mean, "max": max, "min": min, "argmax": argmax, "argmin": argmin})
