"""What the reduction, shape, indexing and linear-algebra ops share: dimension arguments
checked as torch checks them, torch's (values, indices) result tuples, and the out= argument.

Errors are torch's: a dimension out of range is an IndexError naming the valid range, never
NumPy's AxisError text.
"""
import builtins

import numpy as np

from .. import autograd as ag
from ..backend import DeviceArray, table_of
from ..tensor import Tensor, _as_dtype

_state = ag._state


def norm_dim(d, ndim):
    """One dimension index in [0, ndim) (a 0-d tensor accepts 0 and -1, as in torch)."""
    if isinstance(d, Tensor):
        d = d.item()
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
        raise TypeError(f"dim must be an int, got {type(d).__name__}")
    n = builtins.max(ndim, 1)
    if not -n <= d < n:
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {d})")
    return int(d) % n if ndim else 0


def norm_dims(dim, ndim, empty_is_all=True):
    """A dim argument (None, int, tuple or list) as a tuple of distinct dims in [0, ndim)."""
    if dim is None or (empty_is_all and isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    if not isinstance(dim, (tuple, list)):
        dim = (dim,)
    out = tuple(norm_dim(d, ndim) for d in dim)
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {out[0]} appears multiple times in the list of dims")
    return out if ndim else ()


def dim_list(args, name="dims"):
    """f(1, 2) or f((1, 2)) or f([1, 2]) -> (1, 2)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    if len(args) == 1 and isinstance(args[0], Tensor):
        return tuple(int(v) for v in args[0].tolist())
    return tuple(args)


def int_shape(args):
    """Sizes given as f(2, 3), f((2, 3)), f([2, 3]) or f(torch.Size) -> tuple of ints."""
    shape = dim_list(args)
    if all(type(s) is int for s in shape):
        return shape
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = s.item()
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"sizes must be ints, got {type(s).__name__}")
        out.append(int(s))
    return tuple(out)


def expand_reduced(g, shape, axes, keepdim):
    """The gradient of a reduction over `axes`, broadcast back to the input's shape."""
    if g.__class__ is not np.ndarray and not isinstance(g, DeviceArray):
        g = np.asarray(g)
    if not keepdim and axes:
        g = g.reshape(tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return np.broadcast_to(g, shape)


class _ReturnType(tuple):
    """A named pair like torch.return_types.max: .values/.indices, indexable, unpackable."""
    __slots__ = ()
    _fields = ("values", "indices")
    _name = "result"

    def __new__(cls, *items):
        return super().__new__(cls, items)

    def __getattr__(self, name):
        try:
            return self[type(self)._fields.index(name)]
        except ValueError:
            raise AttributeError(f"'{type(self).__name__}' has no attribute '{name}'") from None

    def __repr__(self):
        inner = ",\n".join(f"{f}={v!r}" for f, v in zip(self._fields, self))
        return f"torch.return_types.{self._name}(\n{inner})"

    def __reduce__(self):
        return (_rebuild_return_type, (self._name, self._fields, tuple(self)))


_TYPES = {}


def return_type(name, fields=("values", "indices")):
    """The named-tuple class torch returns from `name` (one class per name)."""
    key = (name, fields)
    if key not in _TYPES:
        _TYPES[key] = type(name, (_ReturnType,), {"__slots__": (), "_fields": fields,
                                                  "_name": name})
    return _TYPES[key]


def _rebuild_return_type(name, fields, items):
    return return_type(name, fields)(*items)


def _check_out_grad(name, inputs):
    if _state.grad_enabled and any(isinstance(t, Tensor) and t.requires_grad for t in inputs):
        raise RuntimeError(f"{name}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")


def write_out(out, res, name="op", inputs=()):
    """torch's out=: the result written into `out` (resized when its shape differs), which is
    returned. `out` may be a tuple for ops returning several tensors."""
    if out is None:
        return res
    if isinstance(res, tuple):
        if not isinstance(out, (tuple, list)) or len(out) != len(res):
            raise TypeError(f"{name}(): out= must be a tuple of {len(res)} tensors")
        items = [write_out(o, r, name, inputs) for o, r in zip(out, res)]
        return type(res)(*items) if isinstance(res, _ReturnType) else tuple(items)
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    _check_out_grad(name, tuple(inputs) + (out,))
    arr = res._storage
    if out.dtype != arr.dtype and not np.can_cast(arr.dtype, out.dtype, "same_kind"):
        raise RuntimeError(f"{name}(): result type {arr.dtype} can't be cast to the desired "
                           f"output type {out.dtype}")
    if out._storage.shape != arr.shape:
        out._storage = np.empty_like(out._storage, shape=arr.shape, order="C")
    if out._storage.__class__ is not arr.__class__:
        table_of(out._storage, arr)   # the mixed-device error
    np.copyto(out._storage, arr, casting="unsafe")
    out._bump()
    return out


def as_dtype(dtype):
    return _as_dtype(dtype)


def index_array(index, who, dim_size=None, dim=0):
    """An integer index tensor/array/list as an int64 ndarray, range-checked (negative
    indices count from the end, as in torch's index_select and friends refuse: see callers)."""
    arr = index._storage if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise RuntimeError(f"{who}(): Expected dtype int64 for index, got {arr.dtype}")
    if dim_size is not None and arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < -dim_size or hi >= dim_size:
            bad = hi if hi >= dim_size else lo
            raise IndexError(f"{who}(): index {bad} is out of bounds for dimension {dim} with "
                             f"size {dim_size}")
    return arr.astype(np.int64, copy=False)
