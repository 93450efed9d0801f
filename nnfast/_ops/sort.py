"""Order statistics and searching: sort, argsort, msort, topk, kthvalue, median, nanmedian,
mode, unique, unique_consecutive, bucketize, searchsorted.

Sorting is stable; NaN sorts above every number, as in torch. Values that pick elements
(sort, topk, median...) send their gradient back to the picked positions.
"""
import numpy as np

from ..tensor import Tensor
from .core import _bind, _unary, as_array, full_on, host_only, zeros_on
from .dims import norm_dim, return_type, write_out
from .scan import scatter_add_along


def _argsort(xd, d, descending):
    if xd.dtype == np.bool_:
        xd = xd.view(np.uint8)
    if not descending:
        return np.argsort(xd, axis=d, kind="stable")
    # stable descending: sort the reversed slice ascending, then read it backwards
    n = xd.shape[d]
    idx = np.argsort(np.flip(xd, d), axis=d, kind="stable")
    return (n - 1) - np.flip(idx, d)


def _picked(x, xd, d, idx, name, keep_shape):
    """Values of x at idx along d (a gather), differentiable back to x."""
    vals = np.take_along_axis(xd, idx, axis=d)

    def backward(g):
        return (scatter_add_along(xd.shape, x.dtype, d, idx, g.reshape(idx.shape))
                .reshape(x.shape),)
    return _unary(x, vals.reshape(keep_shape), backward, name)


def _as_1d(x):
    return x._storage.reshape(1) if x.ndim == 0 else x._storage


def sort(x, dim=-1, descending=False, stable=False, *, out=None):
    d = norm_dim(dim, x.ndim)
    xd = _as_1d(x)
    idx = _argsort(xd, d, descending)
    res = return_type("sort")(_picked(x, xd, d, idx, "Sort", x.shape),
                              Tensor._make(idx.reshape(x.shape).astype(np.int64)))
    return write_out(out, res, "sort", (x,))


def argsort(x, dim=-1, descending=False, stable=False):
    d = norm_dim(dim, x.ndim)
    return Tensor._make(_argsort(_as_1d(x), d, descending).reshape(x.shape).astype(np.int64))


def msort(x, *, out=None):
    return write_out(out, sort(x, 0).values, "msort", (x,))


def topk(x, k, dim=-1, largest=True, sorted=True, *, out=None):
    d = norm_dim(dim, x.ndim)
    xd = _as_1d(x)
    if not 0 <= k <= xd.shape[d]:
        raise RuntimeError("selected index k out of range")
    idx = np.take(_argsort(xd, d, largest), np.arange(k), axis=d)
    shape = idx.shape if x.ndim else ()
    res = return_type("topk")(_picked(x, xd, d, idx, "Topk", shape),
                              Tensor._make(idx.reshape(shape).astype(np.int64)))
    return write_out(out, res, "topk", (x,))


def _select(x, d, pos, keepdim, name, who, idx_sorted=None):
    """The element at sorted position pos[...] of each slice along d: (values, indices)."""
    xd = _as_1d(x)
    if idx_sorted is None:
        idx_sorted = _argsort(xd, d, False)
    idx = np.take_along_axis(idx_sorted, np.expand_dims(pos, d), axis=d)
    shape = idx.shape if keepdim else np.squeeze(idx, d).shape
    if x.ndim == 0:
        shape = ()
    res = return_type(who)(_picked(x, xd, d, idx, name, shape),
                           Tensor._make(idx.reshape(shape).astype(np.int64)))
    return res


def _check_size(x, d, who):
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{who}(): Expected reduction dim {d} to have non-zero size.")


def kthvalue(x, k, dim=-1, keepdim=False, *, out=None):
    d = norm_dim(dim, x.ndim)
    _check_size(x, d, "kthvalue")
    xd = _as_1d(x)
    if not 1 <= k <= xd.shape[d]:
        raise RuntimeError(f"kthvalue(): selected number k out of range for dimension {d}")
    pos = full_on(xd, tuple(np.delete(xd.shape, d)), k - 1, np.int64)
    return write_out(out, _select(x, d, pos, keepdim, "Kthvalue", "kthvalue"), "kthvalue", (x,))


def _median(x, dim, keepdim, out, ignore_nan, who):
    name = "Nanmedian" if ignore_nan else "Median"
    if dim is None:
        if x._storage.size == 0:
            return Tensor._make(full_on(x._storage, (), np.nan, x.dtype))
        flat = x.reshape(-1)
        return _median(flat, 0, False, None, ignore_nan, who).values if out is None else \
            write_out(out, _median(flat, 0, False, None, ignore_nan, who).values, who, (x,))
    d = norm_dim(dim, x.ndim)
    _check_size(x, d, who)
    xd = _as_1d(x)
    idx_sorted = _argsort(xd, d, False)
    n = xd.shape[d]
    if xd.dtype.kind == "f":
        nans = np.isnan(xd).sum(axis=d)
        if ignore_nan:
            valid = n - nans
            pos = np.where(valid > 0, (valid - 1) // 2, 0)
        else:
            # a slice with a NaN has median NaN: point at its first NaN (sorted last)
            pos = np.where(nans > 0, n - nans, (n - 1) // 2)
    else:
        pos = full_on(xd, tuple(np.delete(xd.shape, d)), (n - 1) // 2, np.int64)
    res = _select(x, d, as_array(pos, np.int64), keepdim, name, who, idx_sorted)
    return write_out(out, res, who, (x,))


def median(x, dim=None, keepdim=False, *, out=None):
    return _median(x, dim, keepdim, out, False, "median")


def nanmedian(x, dim=None, keepdim=False, *, out=None):
    return _median(x, dim, keepdim, out, True, "nanmedian")


def mode(x, dim=-1, keepdim=False, *, out=None):
    d = norm_dim(dim, x.ndim)
    _check_size(x, d, "mode")
    xd = _as_1d(x)
    host_only("mode", xd)   # a host loop over rows
    rows = np.moveaxis(xd, d, -1).reshape(-1, xd.shape[d])
    n = rows.shape[1]
    vals = np.empty(rows.shape[0], xd.dtype)
    idx = np.empty(rows.shape[0], np.int64)
    for r, row in enumerate(rows):
        u, cnt = np.unique(row, return_counts=True)
        v = u[np.argmax(cnt)]   # the smallest of the most frequent values
        vals[r] = v
        idx[r] = n - 1 - np.argmax(row[::-1] == v)   # its last occurrence
    shape = np.delete(xd.shape, d)
    idx = np.expand_dims(idx.reshape(shape), d)
    keep = idx.shape if keepdim else tuple(shape)
    if x.ndim == 0:
        keep = ()
    res = return_type("mode")(_picked(x, xd, d, idx, "Mode", keep),
                              Tensor._make(idx.reshape(keep)))
    return write_out(out, res, "mode", (x,))


def _unique_outputs(out, inverse, counts, return_inverse, return_counts):
    res = [Tensor._make(out)]
    if return_inverse:
        res.append(Tensor._make(inverse.astype(np.int64)))
    if return_counts:
        res.append(Tensor._make(counts.astype(np.int64)))
    return res[0] if len(res) == 1 else tuple(res)


def unique(x, sorted=True, return_inverse=False, return_counts=False, dim=None):
    xd = x._storage
    if dim is None:
        # as torch: each NaN is its own value
        u, inv, cnt = np.unique(xd.reshape(-1), return_inverse=True, return_counts=True,
                                equal_nan=False)
        inv = inv.reshape(x.shape)
    else:
        d = norm_dim(dim, x.ndim)
        if xd.shape[d] == 0:
            u, inv, cnt = xd.copy(), zeros_on(xd, 0, np.int64), zeros_on(xd, 0, np.int64)
        else:
            u, inv, cnt = np.unique(xd, return_inverse=True, return_counts=True, axis=d)
            inv = inv.reshape(-1)
    return _unique_outputs(u, inv, cnt, return_inverse, return_counts)


def unique_consecutive(x, return_inverse=False, return_counts=False, dim=None):
    xd = x._storage
    if dim is None:
        flat, d = xd.reshape(-1), 0
    else:
        d = norm_dim(dim, x.ndim)
        flat = xd
    n = flat.shape[d]
    if n == 0:
        return _unique_outputs(flat.copy(), zeros_on(xd, x.shape if dim is None else 0, np.int64),
                               zeros_on(xd, 0, np.int64), return_inverse, return_counts)
    a = np.moveaxis(flat, d, 0).reshape(n, -1)
    new = full_on(a, n, True, bool)
    new[1:] = (a[1:] != a[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    u = np.take(flat, starts, axis=d)
    inv = np.cumsum(new) - 1
    cnt = np.diff(np.append(starts, n))
    if dim is None:
        inv = inv.reshape(x.shape)
    return _unique_outputs(u, inv, cnt, return_inverse, return_counts)


def _data_of(v):
    return v._storage if isinstance(v, Tensor) else np.asarray(v)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None, out=None):
    seq = _data_of(sorted_sequence)
    vals = _data_of(input)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"torch.searchsorted(): side can only be 'left' or 'right' but "
                               f"got {side}")
        if right and side == "left":
            raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, "
                               "got side of left while right was True")
        right = side == "right"
    sd = "right" if right else "left"
    srt = None if sorter is None else _data_of(sorter)
    if seq.ndim <= 1:
        res = np.searchsorted(seq, vals, side=sd, sorter=srt)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise RuntimeError("torch.searchsorted(): boundaries tensor should be 1 dimension or "
                               "the first N-1 dimensions of boundaries tensor and input value "
                               f"tensor must match, but we got boundaries tensor {list(seq.shape)}"
                               f" and input value tensor {list(vals.shape)}")
        s2 = seq.reshape(-1, seq.shape[-1])
        v2 = vals.reshape(-1, vals.shape[-1])
        o2 = None if srt is None else srt.reshape(-1, srt.shape[-1])
        res = np.stack([np.searchsorted(s2[i], v2[i], side=sd,
                                        sorter=None if o2 is None else o2[i])
                        for i in range(s2.shape[0])]).reshape(vals.shape)
    res = as_array(res, np.int32 if out_int32 else np.int64)
    return write_out(out, Tensor._make(res), "searchsorted")


def bucketize(input, boundaries, *, out_int32=False, right=False, out=None):
    b = _data_of(boundaries)
    if b.ndim != 1:
        raise RuntimeError(f"boundaries tensor must be 1 dimension, but got dim({b.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right, out=out)


_bind({"sort": sort, "argsort": argsort, "msort": msort, "topk": topk, "kthvalue": kthvalue,
       "median": median, "nanmedian": nanmedian, "mode": mode, "unique": unique,
       "unique_consecutive": unique_consecutive,
       "bucketize": lambda self, boundaries, **kw: bucketize(self, boundaries, **kw)})
