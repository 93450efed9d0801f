"""scatter_reduce: src reduced into input at index along dim with sum, prod, mean, amax or
amin (include_self as in torch), differentiable for every reduction (products with zeros
exactly, max/min ties sharing the gradient evenly)."""
import numpy as np

from .core import _bind, _result, zeros_on
from .dims import index_array, norm_dim
from .index import _as_src, _check_gather_index, _grid

_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(x, dim, index, src, reduce, *, include_self=True):
    if reduce not in _REDUCES:
        raise RuntimeError(f"reduce argument must be either sum, prod, mean, amax or amin, got "
                           f"{reduce}")
    d = norm_dim(dim, x.ndim)
    idx = index_array(index, "scatter_reduce")
    src = _as_src(src, x)
    _check_gather_index(x, d, idx, "scatter", src)
    grid = _grid(idx, d)
    sl = tuple(slice(0, s) for s in idx.shape)
    xd = x._storage
    sv = src._storage[sl].astype(xd.dtype, copy=False)
    touched = zeros_on(xd, xd.shape, bool)
    touched[grid] = True
    drop = touched & (not include_self)      # positions whose own value is left out
    cnt = zeros_on(xd, xd.shape, np.int64)
    np.add.at(cnt, grid, 1)
    if reduce in ("sum", "mean"):
        res = np.where(drop, 0, xd).astype(xd.dtype)
        np.add.at(res, grid, sv)
        if reduce == "mean":
            n = cnt + (1 if include_self else 0)
            n = np.maximum(n, 1)
            res = res // n if xd.dtype.kind in "iu" else (res / n).astype(xd.dtype)
    elif reduce == "prod":
        res = np.where(drop, 1, xd).astype(xd.dtype)
        np.multiply.at(res, grid, sv)
    else:
        ufunc = np.maximum if reduce == "amax" else np.minimum
        if xd.dtype.kind == "f":
            fill = -np.inf if reduce == "amax" else np.inf
        else:
            info = np.iinfo(xd.dtype) if xd.dtype.kind in "iu" else None
            fill = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
        res = np.where(drop, fill, xd).astype(xd.dtype)
        ufunc.at(res, grid, sv)
    sshape = src.shape

    def backward(g):
        keep = ~touched | include_self
        if reduce == "sum":
            gx, gs = g * keep, g[grid]
        elif reduce == "mean":
            n = np.maximum(cnt + (1 if include_self else 0), 1)
            gx, gs = np.where(touched, g / n * include_self, g), (g / n)[grid]
        elif reduce == "prod":
            own = np.where(keep, xd, 1)
            zc = zeros_on(xd, xd.shape, np.int64)
            np.add.at(zc, grid, sv == 0)
            zc += (own == 0)
            nzp = np.where(own == 0, 1, own).astype(g.dtype)
            np.multiply.at(nzp, grid, np.where(sv == 0, 1, sv))
            with np.errstate(divide="ignore", invalid="ignore"):
                dx = np.where(own == 0, (zc == 1) * nzp, (zc == 0) * nzp / own)
                dsrc = np.where(sv == 0, ((zc == 1) * nzp)[grid],
                                ((zc == 0) * nzp)[grid] / np.where(sv == 0, 1, sv))
            gx = np.where(touched, g * dx * include_self, g)
            gs = g[grid] * dsrc
        else:
            hit_self = touched & include_self & (xd == res)
            hit_src = sv == res[grid]
            ties = hit_self.astype(np.int64)
            np.add.at(ties, grid, hit_src)
            share = g / np.maximum(ties, 1)
            gx = np.where(touched, share * hit_self, g)
            gs = share[grid] * hit_src
        out_s = None
        if src.requires_grad:
            out_s = zeros_on(xd, sshape, src.dtype)
            out_s[sl] = gs
        return gx.astype(x.dtype), out_s
    return _result(res, (x, src), backward, "ScatterReduce", saved=(x, src),
                   saves_output=False)


_bind({"scatter_reduce": scatter_reduce,
       "scatter_reduce_": lambda self, dim, index, src, reduce, *, include_self=True:
           self._inplace(scatter_reduce, dim, index, src, reduce, include_self=include_self,
                         keeps_input=True)})
