"""Triangles and diagonals: tril, triu (and in place), tril_indices, triu_indices, diag,
diagonal (a writable view, as in torch), diag_embed, diagflat, fill_diagonal_."""
import numpy as np

from ..tensor import Tensor
from .core import _bind, _unary, _view, as_strided, asarray_on, zeros_on
from .creation import placed
from .dims import norm_dim
from ..backend import contiguous


def _tri_mask(shape, k, lower):
    r, c = shape[-2], shape[-1]
    return np.tri(r, c, k, dtype=bool) if lower else ~np.tri(r, c, k - 1, dtype=bool)


def _tri(x, diagonal, lower, name):
    if x.ndim < 2:
        raise RuntimeError(f"{name.lower()}: input tensor must have at least 2 dimensions")
    xd = x._storage
    mask = asarray_on(xd, _tri_mask(x.shape, int(diagonal), lower))
    return _unary(x, np.where(mask, xd, np.zeros((), xd.dtype)),
                  lambda g: (np.where(mask, g, 0).astype(g.dtype),), name)


def tril(x, diagonal=0):
    return _tri(x, diagonal, True, "Tril")


def triu(x, diagonal=0):
    return _tri(x, diagonal, False, "Triu")


def _diag_view(arr, offset, d1, d2):
    """The (offset) diagonal of arr over dims d1, d2 as a writable view (last dim)."""
    if offset >= 0:
        arr = arr[(slice(None),) * d2 + (slice(offset, None),)]
    else:
        arr = arr[(slice(None),) * d1 + (slice(-offset, None),)]
    n = max(0, min(arr.shape[d1], arr.shape[d2]))
    keep = [i for i in range(arr.ndim) if i not in (d1, d2)]
    shape = tuple(arr.shape[i] for i in keep) + (n,)
    strides = tuple(arr.strides[i] for i in keep) + (arr.strides[d1] + arr.strides[d2],)
    return as_strided(arr, shape, strides, writeable=arr.flags.writeable)


def diagonal(x, offset=0, dim1=0, dim2=1):
    if x.ndim < 2:
        raise RuntimeError(f"diagonal(): input must have at least 2 dimensions, but got {x.ndim}")
    d1, d2 = norm_dim(dim1, x.ndim), norm_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    xd = x._storage
    out = _diag_view(xd, int(offset), d1, d2)
    shape, dtype = x.shape, x.dtype

    def backward(g):
        gx = zeros_on(g, shape, dtype)
        _diag_view(gx, int(offset), d1, d2)[...] = g
        return (gx,)
    return _view(x, out, backward, "Diagonal")


def diag_embed(x, offset=0, dim1=-2, dim2=-1):
    nd = x.ndim + 1
    d1, d2 = norm_dim(dim1, nd), norm_dim(dim2, nd)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    xd = x._storage if x.ndim else x._storage.reshape(1)
    n = xd.shape[-1] + abs(int(offset))
    rest = list(xd.shape[:-1])
    shape = []
    for i in range(nd):
        shape.append(n if i in (d1, d2) else rest.pop(0))
    out = zeros_on(xd, shape, x.dtype)
    _diag_view(out, int(offset), d1, d2)[...] = xd
    return _unary(x, out, lambda g: (contiguous(
        _diag_view(g, int(offset), d1, d2)).reshape(x.shape),), "DiagEmbed")


def diag(x, diagonal=0):
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        return _unary(x, _diag_view(x._storage, int(diagonal), 0, 1).copy(),
                      lambda g: (_embed2(g, x.shape, diagonal, x.dtype),), "Diag")
    raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {x.ndim}D")


def _embed2(g, shape, k, dtype):
    gx = zeros_on(g, shape, dtype)
    _diag_view(gx, int(k), 0, 1)[...] = g
    return gx


def diagflat(x, offset=0):
    return diag_embed(Tensor.reshape(x, -1), offset, 0, 1)


def _fill_diag(a, value, wrap):
    """np.fill_diagonal on a C-contiguous array of any device (NumPy's rule: every step-th
    element of the flat array, the first row-count ones unless wrap)."""
    if a.__class__ is np.ndarray:
        np.fill_diagonal(a, value, wrap=wrap)
        return
    if a.ndim == 2:
        step, end = a.shape[1] + 1, None if wrap else a.shape[1] * a.shape[1]
    else:
        step, end = 1 + int(np.cumprod(a.shape[:-1]).sum()), None
    a.reshape(-1)[:end:step] = value


def _fill_diagonal(x, fill_value, wrap=False):
    if x.ndim < 2:
        raise RuntimeError("dimensions must larger than 1")
    if x.ndim > 2 and len(set(x.shape)) != 1:
        raise RuntimeError("all dimensions of input must be of equal length")
    out = x._storage.copy()
    _fill_diag(out, fill_value, wrap)

    def backward(g):
        g = g.copy()
        _fill_diag(g, 0, wrap)
        return (g,)
    return _unary(x, out, backward, "FillDiagonal")


def _indices(lower, row, col, offset, dtype):
    from .dims import as_dtype
    dt = as_dtype(dtype) or np.dtype(np.int64)
    if dt.kind not in "iu":
        raise RuntimeError(f"\"{'tril' if lower else 'triu'}_indices\" not implemented for "
                           f"'{dt}'")
    r, c = (np.tril_indices if lower else np.triu_indices)(row, offset, col)
    return Tensor._make(np.stack([r, c]).astype(dt).reshape(2, -1))


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _indices(True, row, col, offset, dtype)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _indices(False, row, col, offset, dtype)


tril_indices, triu_indices = placed(tril_indices), placed(triu_indices)   # device=


_bind({"fill_diagonal_": lambda self, fill_value, wrap=False:
           self._inplace(_fill_diagonal, fill_value, wrap),
       "tril": tril, "triu": triu, "diagonal": diagonal, "diag_embed": diag_embed,
       "diag": diag, "diagflat": diagflat,
       "tril_": lambda self, diagonal=0: self._inplace(tril, diagonal),
       "triu_": lambda self, diagonal=0: self._inplace(triu, diagonal)})
