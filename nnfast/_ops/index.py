"""Indexing: x[index] (basic, integer-array and boolean) and x[index] = value."""
import numpy as np

from ..tensor import Tensor
from .core import _bind, _result, _unary, _unbroadcast, _view

def _index(index):
    if isinstance(index, Tensor):
        return index._storage
    if isinstance(index, tuple):
        return tuple(i._storage if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


def getitem(x, index):
    index = _index(index)
    xd = x._storage
    out = xd[index]
    basic = _is_basic(index)

    def backward(g):
        gx = np.zeros_like(xd)
        if basic:
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return (gx,)
    if basic:
        return _view(x, out, backward, "Index")
    return _unary(x, out, backward, "Index")




def index_put(x, index, value):
    """x with x[index] = value, out of place (x[index] = v recorded in the graph)."""
    idx = _index(index)
    v = value if isinstance(value, Tensor) else Tensor._make(np.asarray(value, x.dtype))
    out = x._storage.copy()
    out[idx] = v._storage
    vshape = v.shape

    def backward(g):
        gx = g.copy()
        gx[idx] = 0
        gv = None
        if v.requires_grad:
            gv = _unbroadcast(np.asarray(g[idx]), vshape)
        return gx, gv
    return _result(out, (x, v), backward, "IndexPut")


_bind({"__getitem__": getitem})
