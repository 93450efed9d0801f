"""Shape operations: reshape/view, flatten, permute, transpose, squeeze, unsqueeze, expand,
cat, stack. Results that NumPy makes as views of the input share its version count."""
import builtins

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from .core import _bind, _result, _unary, _unbroadcast, _view
from .reduce import _norm_dims

def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    src = x.shape
    try:
        out = x._storage.reshape(shape)
    except ValueError:
        raise ShapeError(f"shape {tuple(shape)} is invalid for input of size {x._storage.size} "
                         f"(shape {src})") from None
    return _view(x, out, lambda g: (g.reshape(src),), "Reshape")


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s = start_dim % x.ndim
    e = end_dim % x.ndim
    if s > e:
        raise ValueError("flatten: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1])),) + x.shape[e + 1:]
    return reshape(x, shape)


def permute(x, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % builtins.max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise ShapeError(f"permute: dims {dims} do not match a tensor of shape {x.shape}")
    dims = tuple(d % x.ndim for d in dims)
    inv = tuple(np.argsort(dims))
    return _view(x, np.transpose(x._storage, dims), lambda g: (np.transpose(g, inv),),
                 "Permute")


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    src = x.shape
    return _view(x, np.expand_dims(x._storage, d), lambda g: (g.reshape(src),), "Unsqueeze")


def squeeze(x, dim=None):
    src = x.shape
    if dim is None:
        out = np.squeeze(x._storage)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = _norm_dims(dims, x.ndim) if x.ndim else ()
        # as torch: dims whose size is not 1 are left alone
        out = np.squeeze(x._storage, tuple(d for d in dims if x.shape[d] == 1))
    return _view(x, out, lambda g: (g.reshape(src),), "Squeeze")


def broadcast_to(x, shape):
    src = x.shape
    return _view(x, np.broadcast_to(x._storage, shape), lambda g: (_unbroadcast(g, src),),
                 "Expand")


def cat(tensors, dim=0):
    tensors = list(tensors)
    arrays = [t._storage for t in tensors]
    out = np.concatenate(arrays, axis=dim)
    bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=dim))
    return _result(out, tuple(tensors), backward, "Cat")


def stack(tensors, dim=0):
    return cat([unsqueeze(t, dim) for t in tensors], dim)




def _t(self):
    if self.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
    return self.permute(*reversed(range(self.ndim)))


def _expand(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(s if s != -1 else self.shape[i - len(shape) + self.ndim]
                  for i, s in enumerate(shape))
    return broadcast_to(self, shape)


_bind({"reshape": reshape, "view": reshape, "flatten": flatten, "transpose": transpose,
       "t": _t, "permute": permute, "unsqueeze": unsqueeze, "squeeze": squeeze,
       "expand": _expand,
       "T": property(lambda self: self.permute(*reversed(range(self.ndim))))})
