"""Creation: tensor, as_tensor, from_numpy, zeros/ones/empty/full, the *_like twins, arange,
rand/randn/randint (torch's names, arguments and default dtypes; `device=` accepted for the
CPU and refused with a clear error for a device nnfast has no backend for)."""
import builtins
import numbers

import numpy as np

from ..device import as_device, check_available
from ..tensor import Tensor, _as_dtype

bool = builtins.bool   # noqa: A001


def _place(device):
    if device is not None:
        check_available(as_device(device))


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of data.

    Like torch.tensor: NumPy arrays and scalars keep their dtype, Python floats become
    float32, Python ints int64, bools bool."""
    _place(device)
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        data = data._storage
    if dtype is not None:
        arr = np.array(data, dtype=dtype, copy=True)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, copy=True)   # NumPy arrays and scalars keep their dtype
    else:
        arr = np.array(data)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    return Tensor._make(arr, requires_grad)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (no copy), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def as_tensor(data, dtype=None, device=None):
    _place(device)
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype):
        return Tensor._make(data)
    return tensor(data, dtype=dtype)


def _factory(fill):
    def make(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False, memory_format=None):
        _place(device)
        dtype = _as_dtype(dtype)
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        return Tensor._make(fill(size, np.dtype(dtype or np.float32)), requires_grad)
    return make


zeros = _factory(lambda s, d: np.zeros(s, d))
ones = _factory(lambda s, d: np.ones(s, d))
empty = _factory(lambda s, d: np.empty(s, d))


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False):
    """As torch.full: without dtype, a bool fill gives bool, an int int64, a float float32."""
    _place(device)
    dtype = _as_dtype(dtype)
    if dtype is None:
        if isinstance(fill_value, (bool, np.bool_)):
            dtype = np.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = np.int64
        else:
            dtype = np.float32
    return Tensor._make(np.full(size, fill_value, np.dtype(dtype)), requires_grad)


def zeros_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None):
    _place(device)
    t, dtype = input, _as_dtype(dtype)
    return Tensor._make(np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None):
    _place(device)
    t, dtype = input, _as_dtype(dtype)
    return Tensor._make(np.ones(t.shape, dtype or t.dtype), requires_grad)


def arange(*args, out=None, dtype=None, layout=None, device=None, requires_grad=False,
           **kwargs):
    _place(device)
    dtype = _as_dtype(dtype)
    if kwargs:
        args = args + tuple(kwargs.pop(k) for k in ("start", "end", "step") if k in kwargs)
        if kwargs:
            raise TypeError(f"arange() got an unexpected keyword argument {next(iter(kwargs))!r}")
    arr = np.arange(*args)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float32)
    return Tensor._make(arr, requires_grad)


def _random_factory(draw):
    def make(*size, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False):
        _place(device)
        dtype = _as_dtype(dtype)
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        from .. import random as r
        g = generator or r.default_generator()
        return Tensor._make(draw(g, size).astype(dtype or np.float32), requires_grad)
    return make


rand = _random_factory(lambda g, s: g.random(s))
randn = _random_factory(lambda g, s: g.standard_normal(s))


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None,
            layout=None, device=None, requires_grad=False, pin_memory=False):
    """Integers in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    from .. import random as r
    if size is None and isinstance(high, (tuple, list)):
        high, size = None, high   # the two-argument form randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing the required argument 'size'")
    g = generator or r.default_generator()
    return Tensor._make(g.integers(low, high, size).astype(dtype or np.int64))
