"""Scans along one dimension: cumsum, cumprod, cummax, cummin, logcumsumexp (torch's dim /
dtype / out=)."""
import numpy as np

from ..tensor import Tensor, int64
from .core import _bind, _unary, asarray_on, zeros_on
from .dims import as_dtype, norm_dim, return_type, write_out


def _rev_cumsum(g, d):
    return np.flip(np.cumsum(np.flip(g, d), axis=d), d)


def _scan_dtype(x, dtype):
    return as_dtype(dtype) or (x.dtype if x.dtype.kind in "fc" else int64)


def cumsum(x, dim, *, dtype=None, out=None):
    d = norm_dim(dim, x.ndim)
    dt = _scan_dtype(x, dtype)
    xd = x._storage.reshape(1) if x.ndim == 0 else x._storage
    res = np.cumsum(xd, axis=d, dtype=dt).reshape(x.shape)
    src = x.dtype

    def backward(g):
        g = g.reshape(xd.shape)
        return (_rev_cumsum(g, d).reshape(x.shape).astype(src),)
    return write_out(out, _unary(x, res, backward, "Cumsum"), "cumsum", (x,))


def cumprod(x, dim, *, dtype=None, out=None):
    d = norm_dim(dim, x.ndim)
    dt = _scan_dtype(x, dtype)
    xd = (x._storage.reshape(1) if x.ndim == 0 else x._storage).astype(dt, copy=False)
    res = np.cumprod(xd, axis=d, dtype=dt)

    def backward(g):
        g = g.reshape(xd.shape)
        if not (xd == 0).any():
            gx = _rev_cumsum(g * res, d) / xd
        else:
            # exact with zeros: grad_i = prod_{k<i} x_k * S_i, S_i = g_i + x_{i+1} S_{i+1}
            xm, gm = np.moveaxis(xd, d, -1), np.moveaxis(g, d, -1)
            n = xm.shape[-1]
            s = np.empty_like(gm)
            s[..., n - 1] = gm[..., n - 1]
            for i in range(n - 2, -1, -1):
                s[..., i] = gm[..., i] + xm[..., i + 1] * s[..., i + 1]
            left = np.cumprod(np.concatenate([np.ones_like(xm[..., :1]), xm[..., :-1]], -1),
                              -1)
            gx = np.moveaxis(left * s, -1, d)
        return (gx.reshape(x.shape).astype(x.dtype),)
    return write_out(out, _unary(x, res.reshape(x.shape), backward, "Cumprod", saved=(x,)),
                     "cumprod", (x,))


def _rev_logcumsumexp(a, d):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.flip(np.logaddexp.accumulate(np.flip(a, d), axis=d), d)


def logcumsumexp(x, dim, *, out=None):
    d = norm_dim(dim, x.ndim)
    xd = x._storage if x.dtype.kind in "fc" else x._storage.astype(np.float32)
    x1 = xd.reshape(1) if x.ndim == 0 else xd
    res = np.logaddexp.accumulate(x1, axis=d) if x1.size else x1.copy()

    def backward(g):
        # grad_i = sum_{j >= i} g_j exp(x_i - out_j), summed in log space for the positive
        # and the negative parts of g separately, so nothing overflows
        g = g.reshape(x1.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = _rev_logcumsumexp(np.log(np.where(g > 0, g, 0)) - res, d)
            neg = _rev_logcumsumexp(np.log(np.where(g < 0, -g, 0)) - res, d)
            gx = np.exp(x1 + pos) - np.exp(x1 + neg)
        return (gx.reshape(x.shape).astype(xd.dtype),)
    return write_out(out, _unary(x, res.reshape(x.shape), backward, "Logcumsumexp",
                                 saved=(x,), saves_output=True), "logcumsumexp", (x,))


def scatter_add_along(shape, dtype, d, idx, g):
    """zeros(shape) with g added at idx along d (the backward of a gather along d)."""
    gx = zeros_on(g, shape, dtype)
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    np.add.at(gx, tuple(grid), g)
    return gx


def _cum_ext(x, dim, ufunc, name, who, out):
    d = norm_dim(dim, x.ndim)
    xd = x._storage.reshape(1) if x.ndim == 0 else x._storage
    vals = ufunc.accumulate(xd, axis=d) if xd.size else xd.copy()
    hit = xd == vals
    if xd.dtype.kind == "f":
        hit |= np.isnan(xd)
    shape = [1] * xd.ndim
    shape[d] = xd.shape[d]
    pos = asarray_on(xd, np.arange(xd.shape[d]).reshape(shape))
    idx = np.maximum.accumulate(np.where(hit, pos, 0), axis=d) if xd.size else \
        zeros_on(xd, xd.shape, np.int64)

    def backward(g):
        return (scatter_add_along(xd.shape, x.dtype, d, idx, g.reshape(xd.shape))
                .reshape(x.shape),)
    values = _unary(x, vals.reshape(x.shape), backward, name)
    res = return_type(who)(values, Tensor._make(idx.astype(np.int64).reshape(x.shape)))
    return write_out(out, res, who, (x,))


def cummax(x, dim, *, out=None):
    return _cum_ext(x, dim, np.maximum, "Cummax", "cummax", out)


def cummin(x, dim, *, out=None):
    return _cum_ext(x, dim, np.minimum, "Cummin", "cummin", out)


_bind({
    "cumsum": cumsum, "cumprod": cumprod, "cummax": cummax, "cummin": cummin,
    "logcumsumexp": logcumsumexp,
    "cumsum_": lambda self, dim, *, dtype=None: self._inplace(cumsum, dim, dtype=dtype),
    "cumprod_": lambda self, dim, *, dtype=None: self._inplace(cumprod, dim, dtype=dtype,
                                                               keeps_input=True),
})
