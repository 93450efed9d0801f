"""Reductions: sum, mean, prod, std/var, max/min and their arg/amax forms, logsumexp, norm,
all/any, count_nonzero, nan-aware sums and means (torch's dim / keepdim / dtype / out=).

One node per call; each backward is a few NumPy lines. Sorting-based reductions (median,
mode, kthvalue, topk, sort) live in sort.py, scans (cumsum, cummax...) in scan.py.
"""
import builtins
import numbers

import numpy as np

from ..tensor import Tensor, float32, int64
from .core import (_bind, _unary, _result, _binary_operands, _common, _unbroadcast, as_array,
                   full_on, zeros_on)
from .dims import (as_dtype, expand_reduced, norm_dim, norm_dims, return_type, write_out)


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _floating_dtype(x, dtype, who):
    dt = as_dtype(dtype) if dtype is not None else x.dtype
    if dt.kind not in "fc":
        raise RuntimeError(f"{who}(): could not infer output dtype. Input dtype must be either "
                           f"a floating point or complex dtype. Got: {_word(dt)}")
    return dt


def _word(dt):
    return {"i": "Long", "u": "Byte", "b": "Bool", "f": "Float"}.get(dt.kind, str(dt))


def _cast_input(x, dtype):
    """x's array in `dtype` (torch's dtype= casts before reducing)."""
    return x._storage if dtype is None or x.dtype == dtype else x._storage.astype(dtype)


def _grad_cast(g, x):
    return g.astype(x.dtype, copy=False) if x.dtype.kind in "fc" else None


def sum(x, dim=None, keepdim=False, *, dtype=None, out=None):
    axes = norm_dims(dim, x.ndim)
    dtype = as_dtype(dtype)
    # As torch: bool and integer sums are int64 (a bool "sum" would be a logical or).
    dt = dtype or (x.dtype if x.dtype.kind in "fc" else int64)
    res = x._storage.sum(axis=axes, keepdims=keepdim, dtype=dt)   # 0-d: _make wraps
    shape = x.shape
    r = _unary(x, res, lambda g: (_grad_cast(expand_reduced(g, shape, axes, keepdim), x),),
               "Sum")
    return write_out(out, r, "sum", (x,))


def nansum(x, dim=None, keepdim=False, *, dtype=None, out=None):
    xd = x._storage
    mask = np.isnan(xd) if xd.dtype.kind in "fc" else None
    axes = norm_dims(dim, x.ndim)
    dt = as_dtype(dtype) or (x.dtype if x.dtype.kind in "fc" else int64)
    res = as_array(np.nansum(xd, axis=axes, keepdims=keepdim, dtype=dt), dt)
    shape = x.shape

    def backward(g):
        return (np.where(mask, 0, expand_reduced(g, shape, axes, keepdim)).astype(x.dtype),)
    return write_out(out, _unary(x, res, backward, "Nansum", saved=(x,)), "nansum", (x,))


def mean(x, dim=None, keepdim=False, *, dtype=None, out=None):
    dt = as_dtype(dtype) or x.dtype
    if dt.kind not in "fc":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either "
                           f"a floating point or complex dtype. Got: {_word(dt)}")
    axes = norm_dims(dim, x.ndim)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = _cast_input(x, dt).mean(axis=axes, keepdims=keepdim)   # dt already
    shape = x.shape
    count = _count(shape, axes)
    r = _unary(x, res, lambda g: (_grad_cast(expand_reduced(g / count, shape, axes, keepdim),
                                             x),), "Mean")
    return write_out(out, r, "mean", (x,))


def nanmean(x, dim=None, keepdim=False, *, dtype=None, out=None):
    dt = _floating_dtype(x, dtype, "nanmean")
    xd = _cast_input(x, dt)
    axes = norm_dims(dim, x.ndim)
    mask = np.isnan(xd)
    cnt = (~mask).sum(axis=axes, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = np.where(mask, 0, xd).sum(axis=axes, keepdims=True) / cnt
    res = as_array(res if keepdim else res.reshape(
        tuple(s for i, s in enumerate(x.shape) if i not in axes)), dt)
    shape = x.shape

    def backward(g):
        gg = expand_reduced(g, shape, axes, keepdim) / cnt
        return (np.where(mask, 0, gg).astype(x.dtype),)
    return write_out(out, _unary(x, res, backward, "Nanmean", saved=(x,)), "nanmean", (x,))


def _excl_prod(a, axis):
    """prod of every element but one along axis, exact with zeros (prefix * suffix)."""
    a = np.moveaxis(a, axis, -1)
    ones = np.ones_like(a, shape=a.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], -1), -1)
    right = np.cumprod(np.concatenate([ones, a[..., :0:-1]], -1), -1)[..., ::-1]
    return np.moveaxis(left * right, -1, axis)


def prod(x, dim=None, keepdim=False, *, dtype=None, out=None):
    dt = as_dtype(dtype) or (x.dtype if x.dtype.kind in "fc" else int64)
    xd = _cast_input(x, dt)
    shape = x.shape
    if dim is None:
        res = as_array(xd.prod(dtype=dt), dt)

        def backward(g):
            return (_grad_cast(g * _excl_prod(xd.reshape(-1), 0).reshape(shape), x),)
    else:
        d = norm_dim(dim, x.ndim)
        res = as_array(xd.prod(axis=d if x.ndim else None, keepdims=keepdim and x.ndim > 0,
                               dtype=dt), dt)

        def backward(g):
            if x.ndim == 0:
                return (_grad_cast(np.ones_like(xd) * g, x),)
            return (_grad_cast(expand_reduced(g, shape, (d,), keepdim) * _excl_prod(xd, d), x),)
    return write_out(out, _unary(x, res, backward, "Prod", saved=(x,)), "prod", (x,))


def _var_args(dim, unbiased, correction, who):
    """torch's var/std argument forms: (dim, unbiased, keepdim), (unbiased), correction=."""
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise RuntimeError(f"{who}(): cannot give both unbiased and correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return dim, correction


def _var_core(x, dim, correction, keepdim, who):
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"{who}(): input dtype should be floating point, got {x.dtype}")
    xd = x._storage
    axes = norm_dims(dim, x.ndim)
    n = _count(x.shape, axes)
    dof = np.float64(builtins.max(n - correction, 0))
    mu = xd.mean(axis=axes, keepdims=True) if n else full_on(
        xd, tuple(1 if i in axes else s for i, s in enumerate(x.shape)), np.nan, x.dtype)
    dev = xd - mu
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (dev * dev).sum(axis=axes, keepdims=keepdim) / dof
    return xd, axes, dof, dev, as_array(v, x.dtype)


def var(x, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    dim, correction = _var_args(dim, unbiased, correction, "var")
    xd, axes, dof, dev, v = _var_core(x, dim, correction, keepdim, "var")
    shape = x.shape

    def backward(g):
        with np.errstate(invalid="ignore", divide="ignore"):
            return ((expand_reduced(g, shape, axes, keepdim) * (2 / dof) * dev).astype(x.dtype),)
    return write_out(out, _unary(x, v, backward, "Var", saved=(x,)), "var", (x,))


def std(x, dim=None, unbiased=None, keepdim=False, *, correction=None, out=None):
    dim, correction = _var_args(dim, unbiased, correction, "std")
    xd, axes, dof, dev, v = _var_core(x, dim, correction, keepdim, "std")
    s = np.sqrt(v)
    shape = x.shape

    def backward(g):
        with np.errstate(invalid="ignore", divide="ignore"):
            # as torch: no gradient where std is 0 (a constant slice)
            gs = expand_reduced(np.where(s == 0, 0, g / s), shape, axes, keepdim)
            return ((gs * dev / dof).astype(x.dtype),)
    return write_out(out, _unary(x, s, backward, "Std", saved=(x,)), "std", (x,))


def var_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (var(x, dim, unbiased, keepdim, correction=correction),
            mean(x, _var_args(dim, unbiased, correction, "var_mean")[0], keepdim))


def std_mean(x, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return (std(x, dim, unbiased, keepdim, correction=correction),
            mean(x, _var_args(dim, unbiased, correction, "std_mean")[0], keepdim))


# ------------------------------------------------------------------ max / min family

def _check_nonempty(x, axes, who, dim_given):
    if x._storage.size == 0:
        if not dim_given:
            raise RuntimeError(f"{who}(): Expected reduction dim to be specified for "
                               "input.numel() == 0. Specify the reduction dim with the 'dim' "
                               "argument.")
        for a in axes:
            if x.shape[a] == 0:
                raise IndexError(f"{who}(): Expected reduction dim {a} to have non-zero size.")


def _even_ties_backward(xd, res, shape, axes, keepdim, dtype):
    """Gradient of amax/amin and of full max/min: spread evenly over the tied extrema."""
    def backward(g):
        r = expand_reduced(res, shape, axes, keepdim)
        mask = (xd == r) | (np.isnan(xd) & np.isnan(r)) if xd.dtype.kind == "f" else xd == r
        cnt = mask.sum(axis=axes, keepdims=True)
        return ((mask * expand_reduced(g, shape, axes, keepdim) / cnt).astype(dtype),)
    return backward


def _amax_like(x, dim, keepdim, fn, name, who):
    axes = norm_dims(dim, x.ndim)
    _check_nonempty(x, axes, who, dim is not None and dim != ())
    xd = x._storage
    res = as_array(fn(xd, axis=axes, keepdims=keepdim))
    return _unary(x, res, _even_ties_backward(xd, res, x.shape, axes, keepdim, x.dtype), name,
                  saved=(x,))


def amax(x, dim=(), keepdim=False, *, out=None):
    return write_out(out, _amax_like(x, dim, keepdim, np.max, "Amax", "amax"), "amax", (x,))


def amin(x, dim=(), keepdim=False, *, out=None):
    return write_out(out, _amax_like(x, dim, keepdim, np.min, "Amin", "amin"), "amin", (x,))


def _max_dim(x, dim, keepdim, argfn, name, who):
    d = norm_dim(dim, x.ndim)
    _check_nonempty(x, (d,) if x.ndim else (), who, True)
    xd = x._storage
    if x.ndim == 0:
        return return_type(who)(_unary(x, xd.copy(), lambda g: (g,), name),
                                Tensor._make(zeros_on(xd, (), np.int64)))
    idx = argfn(xd, d)
    idx_k = np.expand_dims(idx, d)
    vals = np.take_along_axis(xd, idx_k, axis=d)
    if not keepdim:
        vals = np.squeeze(vals, d)
    shape = x.shape

    def backward(g):
        gx = zeros_on(xd, shape, x.dtype)
        np.put_along_axis(gx, idx_k, g if keepdim else np.expand_dims(g, d), axis=d)
        return (gx,)
    values = _unary(x, vals, backward, name)
    return return_type(who)(values, Tensor._make(idx_k if keepdim else idx))


def _max_min(x, dim, keepdim, out, other, npfn, argfn, binfn, name, who):
    if isinstance(dim, Tensor) or other is not None:
        try:   # the elementwise family's maximum/minimum, where it has them
            from . import binary
            binfn = getattr(binary, binfn.__name__)
        except (ImportError, AttributeError):
            pass
        return binfn(x, dim if other is None else other, out=out)
    if dim is None:
        _check_nonempty(x, (), who, False)
        xd = x._storage
        res = as_array(npfn(xd))
        r = _unary(x, res, _even_ties_backward(xd, res, x.shape, tuple(range(x.ndim)), False,
                                               x.dtype), name, saved=(x,))
        return write_out(out, r, who, (x,))
    return write_out(out, _max_dim(x, dim, keepdim, argfn, name, who), who, (x,))


def _nan_argmax(xd, axis):
    """First index of the largest element along axis; NaN counts as the largest, as in
    torch (and in NumPy's argmax)."""
    return np.argmax(xd.view(np.uint8) if xd.dtype == np.bool_ else xd, axis=axis)


def _nan_argmin(xd, axis):
    return np.argmin(xd.view(np.uint8) if xd.dtype == np.bool_ else xd, axis=axis)


def maximum(a, b, *, out=None):
    return _binary_ext(a, b, np.maximum, "Maximum", out, "maximum")


def minimum(a, b, *, out=None):
    return _binary_ext(a, b, np.minimum, "Minimum", out, "minimum")


def _binary_ext(a, b, ufunc, name, out, who):
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    res = ufunc(ad, bd)

    def backward(g):
        # ties split the gradient in half, as torch does
        ga = np.where(ad == bd, g / 2, np.where(res == ad, g, 0))
        gb = g - ga
        return (_unbroadcast(ga, a.shape).astype(a.dtype) if a.requires_grad else None,
                _unbroadcast(gb, b.shape).astype(b.dtype) if b.requires_grad else None)
    return write_out(out, _result(res, (a, b), backward, name, saved=(a, b)), who, (a, b))


def max(x, dim=None, keepdim=False, *, out=None, other=None):
    return _max_min(x, dim, keepdim, out, other, np.max, _nan_argmax, maximum, "Max", "max")


def min(x, dim=None, keepdim=False, *, out=None, other=None):
    return _max_min(x, dim, keepdim, out, other, np.min, _nan_argmin, minimum, "Min", "min")


def _arg(x, dim, keepdim, fn, who):
    xd = x._storage
    if dim is None:
        if xd.size == 0:
            raise IndexError(f"{who}(): Expected reduction dim to be specified for "
                             "input.numel() == 0.")
        res = as_array(fn(xd.reshape(-1), 0))
        if keepdim:
            res = res.reshape((1,) * x.ndim)
        return Tensor._make(res.astype(np.int64))
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        return Tensor._make(zeros_on(xd, (), np.int64))
    _check_nonempty(x, (d,), who, True)
    res = fn(xd, d)
    return Tensor._make(np.expand_dims(res, d) if keepdim else res)


def argmax(x, dim=None, keepdim=False, *, out=None):
    return write_out(out, _arg(x, dim, keepdim, _nan_argmax, "argmax"), "argmax")


def argmin(x, dim=None, keepdim=False, *, out=None):
    return write_out(out, _arg(x, dim, keepdim, _nan_argmin, "argmin"), "argmin")


def aminmax(x, *, dim=None, keepdim=False, out=None):
    if x._storage.size == 0 and (dim is None or x.shape[norm_dim(dim, x.ndim)] == 0):
        raise RuntimeError("aminmax(): cannot compute aminmax over an empty dimension as the "
                           "operation has no identity.")
    d = () if dim is None else norm_dim(dim, x.ndim)
    res = return_type("aminmax", ("min", "max"))(amin(x, d, keepdim), amax(x, d, keepdim))
    return write_out(out, res, "aminmax", (x,))


# ------------------------------------------------------------------ other reductions

def logsumexp(x, dim, keepdim=False, *, out=None):
    xd = x._storage if x.dtype.kind in "fc" else x._storage.astype(float32)
    axes = norm_dims(dim, x.ndim)
    if xd.size == 0:
        m = zeros_on(xd, tuple(1 if i in axes else s for i, s in enumerate(xd.shape)), xd.dtype)
    else:
        m = np.max(xd, axis=axes, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        res = np.log(np.exp(xd - m).sum(axis=axes, keepdims=True)) + m
    lse = res
    if not keepdim:
        res = res.reshape(tuple(s for i, s in enumerate(xd.shape) if i not in axes))
    shape = x.shape

    def backward(g):
        with np.errstate(invalid="ignore"):
            p = np.exp(xd - lse)
        return ((expand_reduced(g, shape, axes, keepdim) * p).astype(xd.dtype),)
    return write_out(out, _unary(x, as_array(res, xd.dtype), backward, "Logsumexp",
                                 saved=(x,)), "logsumexp", (x,))


def all(x, dim=None, keepdim=False, *, out=None):
    return write_out(out, _logical(x, dim, keepdim, np.all), "all")


def any(x, dim=None, keepdim=False, *, out=None):
    return write_out(out, _logical(x, dim, keepdim, np.any), "any")


def _logical(x, dim, keepdim, fn):
    # as torch: all/any over an empty dim list reduce nothing (sum and mean reduce all)
    axes = norm_dims(dim, x.ndim, empty_is_all=False)
    res = as_array(fn(x._storage, axis=axes, keepdims=keepdim))
    if x.dtype == np.uint8:
        res = res.astype(np.uint8)   # torch keeps uint8 for all/any of uint8
    return Tensor._make(res)


def count_nonzero(x, dim=None):
    axes = norm_dims(dim, x.ndim)
    return Tensor._make(as_array(np.count_nonzero(x._storage, axis=axes), np.int64))


def norm(x, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm: vector norms, 'fro' and 'nuc' matrix norms (see nnfast.linalg)."""
    from .linalg import matrix_norm, vector_norm
    if isinstance(p, str):
        if p == "fro" and (dim is None or isinstance(dim, numbers.Integral) or len(dim) <= 2):
            r = vector_norm(x, 2, dim, keepdim, dtype=dtype)
        elif p == "nuc":
            r = matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim, dtype=dtype)
        else:
            raise RuntimeError(f"norm(): unsupported p={p!r} for dim={dim!r}")
    else:
        r = vector_norm(x, p, dim, keepdim, dtype=dtype)
    return write_out(out, r, "norm", (x,))


_bind({
    "sum": sum, "nansum": nansum, "mean": mean, "nanmean": nanmean, "prod": prod,
    "var": var, "std": std, "max": max, "min": min, "amax": amax, "amin": amin,
    "argmax": argmax, "argmin": argmin, "aminmax": aminmax, "logsumexp": logsumexp,
    "all": all, "any": any, "count_nonzero": count_nonzero, "norm": norm,
})
# maximum/minimum may also come from the elementwise family; bind ours only if absent
for _n, _f in (("maximum", maximum), ("minimum", minimum)):
    if not hasattr(Tensor, _n):
        setattr(Tensor, _n, _f)
