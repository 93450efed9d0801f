"""Creation: tensor, as_tensor, from_numpy, zeros/ones/empty/full, arange/linspace/logspace,
eye, the *_like twins and the Tensor.new_* methods (torch's names, arguments and default
dtypes; floating results take nnfast.get_default_dtype(); `device=` accepted for the CPU and
refused with a clear error for a device nnfast has no backend for; `out=` writes into the
given tensor). The random factories live in sampling.py.
"""
import builtins
import math
import numbers

import numpy as np

from ..device import as_device, check_available
from ..tensor import Tensor, _as_dtype, bool_, float64, get_default_dtype, int64, to_numpy
from .core import _bind, _write_out

bool = builtins.bool   # noqa: A001


def _place(device):
    if device is not None:
        check_available(as_device(device))


def placed(fn, like=False, pos=None):
    """fn with `device=` honoured: fn builds the tensor on the host, the result moves to the
    device as a leaf (random factories so draw the same numbers on every device). like:
    the first argument's device is the default (the *_like and Tensor.new_* family); pos:
    the index of a positional device argument (torch.tensor(data, dtype, device))."""
    def call(*args, **kwargs):
        dev = kwargs.get("device")
        if dev is None and pos is not None and len(args) > pos:
            dev = args[pos]
            args = args[:pos] + (None,) + args[pos + 1:]
        if dev is None and like and args and isinstance(args[0], Tensor) \
                and type(args[0]._storage) is not np.ndarray:
            dev = args[0].device
        if dev is None:
            return fn(*args, **kwargs)
        dev = check_available(as_device(dev))
        if dev.type == "cpu":
            return fn(*args, **kwargs)
        out = kwargs.get("out")
        kwargs = dict(kwargs, out=None) if "out" in kwargs else dict(kwargs)
        if pos is None or len(args) <= pos:
            kwargs["device"] = None
        t = fn(*args, **kwargs)
        moved = t.detach()._to_device(dev)
        moved.requires_grad = t.requires_grad
        if out is not None:
            return _write_out(moved, out, fn.__name__)
        return moved
    call.__name__ = call.__qualname__ = fn.__name__
    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn
    return call


def _plain(data):
    """data with the Tensors inside lists and tuples replaced by their arrays."""
    if isinstance(data, Tensor):
        return to_numpy(data)
    if isinstance(data, (list, tuple)):
        return [_plain(d) for d in data]
    return data


def _infer(data):
    """torch.tensor's dtype inference: Python floats take the default dtype, ints int64;
    NumPy values (and tensors) inside lists keep theirs."""
    try:
        arr = np.array(data)
    except (RuntimeError, TypeError):   # tensors that require grad or live on a device
        arr = np.array(_plain(data))
    except ValueError:
        raise ValueError("expected a sequence of equal lengths at every dimension (a ragged "
                         "nested list cannot be a tensor)") from None
    if arr.dtype.kind in "USV":
        raise TypeError("new(): invalid data type 'str'")
    if arr.dtype == object:
        raise TypeError(f"can't make a tensor from an object of type {type(data).__name__}")
    if arr.dtype == float64 and not _has_numpy(data):
        arr = arr.astype(get_default_dtype())
    elif arr.dtype.kind in "iu" and not _has_numpy(data):
        arr = arr.astype(int64)
    return arr


def _has_numpy(data):
    """Whether the values are NumPy's (or tensors), which keep their dtype."""
    while isinstance(data, (list, tuple)) and len(data) > 0:
        data = data[0]
    return isinstance(data, (np.ndarray, np.generic, Tensor))


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """A new tensor holding a copy of data.

    Like torch.tensor: NumPy arrays and scalars keep their dtype, Python floats take the
    default dtype (float32), Python ints int64, bools bool."""
    _place(device)
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor):
        data = to_numpy(data)
    if dtype is not None:
        if isinstance(data, str):
            raise TypeError("new(): invalid data type 'str'")
        try:
            arr = np.array(data, dtype=dtype, copy=True)
        except RuntimeError:
            arr = np.array(_plain(data), dtype=dtype)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, copy=True)   # NumPy arrays and scalars keep their dtype
    else:
        arr = _infer(data)
    return Tensor._make(arr, requires_grad)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (no copy), as torch.from_numpy."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(array).__name__}")
    if array.dtype.byteorder == (">" if np.little_endian else "<"):
        raise ValueError("given numpy array has byte order different from the native byte "
                         "order. Conversion between byte orders is currently not supported.")
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(f"can't convert np.ndarray of type {array.dtype}. The only supported "
                        "types are: float64, float32, float16, complex64, complex128, int64, "
                        "int32, int16, int8, uint8, and bool.")
    return Tensor._make(array)


def as_tensor(data, dtype=None, device=None):
    """data itself when it already is a tensor (or an ndarray, shared) of that dtype."""
    _place(device)
    dtype = _as_dtype(dtype)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, Tensor):
        return data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtype):
        return from_numpy(data)
    return tensor(data, dtype=dtype)


asarray = as_tensor


def _size(size, who):
    """A shape from torch's spellings: f(2, 3), f((2, 3)), f([2, 3]), f(torch.Size)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for i, s in enumerate(size):
        if isinstance(s, Tensor) and s.numel() == 1 and s.dtype.kind in "iu":
            s = s.item()
        if isinstance(s, builtins.bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{who}(): argument 'size' must be tuple of ints, but found element "
                            f"of type {type(s).__name__} at pos {i}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: "
                               f"{list(size)}")
        out.append(int(s))
    return tuple(out)


def _size_kw(size, kw, who):
    """The shape given positionally or as torch's size= keyword."""
    if kw:
        if set(kw) != {"size"} or size:
            bad = next(iter(set(kw) - {"size"}), "size")
            raise TypeError(f"{who}() got an unexpected keyword argument '{bad}'")
        return (kw["size"],)
    return size


def _finish(arr, out, requires_grad, who):
    if out is not None:
        return _write_out(Tensor._make(arr), out, who)
    return Tensor._make(arr, requires_grad)


def _factory(name, fill):
    def make(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False,
             pin_memory=False, memory_format=None, **kw):
        size = _size_kw(size, kw, name)
        _place(device)
        dtype = _as_dtype(dtype) or (out.dtype if out is not None else get_default_dtype())
        return _finish(fill(_size(size, name), dtype), out, requires_grad, name)
    make.__name__ = make.__qualname__ = name
    return make


zeros = placed(_factory("zeros", np.zeros))
ones = placed(_factory("ones", np.ones))
empty = placed(_factory("empty", np.empty))


def _fill_dtype(fill_value):
    if isinstance(fill_value, Tensor):
        return fill_value.dtype
    if isinstance(fill_value, (builtins.bool, np.bool_)):
        return bool_
    if isinstance(fill_value, numbers.Integral):
        return int64
    if isinstance(fill_value, complex):
        return np.dtype(np.complex64)
    return get_default_dtype()


def _value(v):
    return v._storage if isinstance(v, Tensor) else v


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False):
    """As torch.full: without dtype, a bool fill gives bool, an int int64, a float the
    default dtype."""
    _place(device)
    dtype = _as_dtype(dtype) or _fill_dtype(fill_value)
    size = _size((size,) if isinstance(size, numbers.Integral) else (tuple(size),), "full")
    return _finish(np.full(size, _value(fill_value), dtype), out, requires_grad, "full")


def _like(name, fill):
    def make(input, *, dtype=None, layout=None, device=None, requires_grad=False,
             memory_format=None):
        _place(device)
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not "
                            f"{type(input).__name__}")
        return Tensor._make(fill(input.shape, _as_dtype(dtype) or input.dtype), requires_grad)
    make.__name__ = make.__qualname__ = name
    return make


zeros_like = placed(_like("zeros_like", np.zeros), like=True)
ones_like = placed(_like("ones_like", np.ones), like=True)
empty_like = placed(_like("empty_like", np.empty), like=True)


def full_like(input, fill_value, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    _place(device)
    dtype = _as_dtype(dtype) or input.dtype
    return Tensor._make(np.full(input.shape, _value(fill_value), dtype), requires_grad)


def _scalar(v, who):
    if isinstance(v, Tensor):
        if v.numel() != 1:
            raise RuntimeError(f"{who}: expected a scalar, got a tensor of shape "
                               f"{list(v.shape)}")
        return v.item()
    if not isinstance(v, numbers.Number):
        raise TypeError(f"{who}(): expected a number, got {type(v).__name__}")
    return v


def arange(start=0, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False, pin_memory=False):
    """[start, end) by step; int64 when all three are integers, else the default dtype."""
    _place(device)
    if end is None:
        start, end = 0, start
    start, end, step = (_scalar(v, "arange") for v in (start, end, step))
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    for v in (start, end, step):
        if not math.isfinite(v):
            raise RuntimeError(f"unsupported range: {start} -> {end}")
    n = max(math.ceil((end - start) / step), 0)
    ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
    dt = _as_dtype(dtype) or (out.dtype if out is not None else
                              (int64 if ints else get_default_dtype()))
    if ints:
        arr = (start + step * np.arange(n, dtype=np.int64)).astype(dt)
    else:
        arr = (start + step * np.arange(n, dtype=float64)).astype(dt)
    return _finish(arr, out, requires_grad, "arange")


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    """steps points from start to end inclusive: from start up to the middle, from end back
    beyond it (PyTorch's symmetric formula, so both ends are exact)."""
    _place(device)
    start, end = _scalar(start, "linspace"), _scalar(end, "linspace")
    steps = _scalar(steps, "linspace")
    if not isinstance(steps, numbers.Integral):
        raise TypeError(f"linspace(): argument 'steps' must be int, not {type(steps).__name__}")
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _as_dtype(dtype) or (out.dtype if out is not None else get_default_dtype())
    return _finish(_linspace(start, end, steps).astype(dt), out, requires_grad, "linspace")


def _linspace(start, end, steps):
    if steps == 1:
        return np.array([start], float64)
    i = np.arange(steps, dtype=float64)
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    half = steps // 2
    return np.where(i < half, start + step * i, end - step * (steps - 1 - i))


def logspace(start, end, steps, base=10.0, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _place(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    dt = _as_dtype(dtype) or (out.dtype if out is not None else get_default_dtype())
    exps = _linspace(_scalar(start, "logspace"), _scalar(end, "logspace"), steps)
    return _finish(np.power(float(base), exps).astype(dt), out, requires_grad, "logspace")


def eye(n, m=None, *, out=None, dtype=None, layout=None, device=None, requires_grad=False,
        pin_memory=False):
    _place(device)
    for v, name in ((n, "n"), (m, "m")):
        if v is not None and v < 0:
            raise RuntimeError(f"{name} must be greater or equal to 0, got {v}")
    dt = _as_dtype(dtype) or (out.dtype if out is not None else get_default_dtype())
    return _finish(np.eye(n, n if m is None else m, dtype=dt), out, requires_grad, "eye")


# ===================================================================== Tensor.new_*

def _new(fill):
    def method(self, *size, dtype=None, layout=None, device=None, requires_grad=False,
               pin_memory=False):
        _place(device)
        dt = _as_dtype(dtype) or self.dtype
        return Tensor._make(fill(_size(size, "new"), dt), requires_grad)
    return method


def _new_full(self, size, fill_value, *, dtype=None, layout=None, device=None,
              requires_grad=False, pin_memory=False):
    return full(size, fill_value, dtype=_as_dtype(dtype) or self.dtype, device=device,
                requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, layout=None, device=None, requires_grad=False,
                pin_memory=False):
    return tensor(data, dtype=_as_dtype(dtype) or self.dtype, device=device,
                  requires_grad=requires_grad)


_bind({"new_zeros": placed(_new(np.zeros), like=True),
       "new_ones": placed(_new(np.ones), like=True),
       "new_empty": placed(_new(np.empty), like=True),
       "new_full": placed(_new_full, like=True), "new_tensor": placed(_new_tensor, like=True)})


# device= for the factories defined as plain functions above
# a tensor argument keeps its device, as in torch (torch.tensor(cuda_t) is on cuda)
tensor = placed(tensor, like=True, pos=2)
as_tensor = placed(as_tensor, like=True, pos=2)
full = placed(full)
full_like = placed(full_like, like=True)
arange = placed(arange)
linspace = placed(linspace)
logspace = placed(logspace)
eye = placed(eye)
