"""What every operation shares: operand wrapping, PyTorch's type promotion, the inverse of
broadcasting, and recording a node when a result needs a gradient."""
import builtins
import numbers
import warnings

import numpy as np

from .. import autograd as ag
from ..backend import DeviceArray, table_of
from ..tensor import Tensor, float32, float64, int64

_state = ag._state
builtins_float = builtins.float


def _data(x):
    return x._storage if isinstance(x, Tensor) else x


# Allocation on the device of a reference array. NumPy's constructors (np.zeros, np.asarray,
# ...) always make host arrays; these keep the host case one type test away from NumPy's.
_ND = np.ndarray


def zeros_on(ref, shape, dtype):
    if ref.__class__ is _ND:
        return np.zeros(shape, dtype)
    return table_of(ref).zeros(shape, dtype)


def empty_on(ref, shape, dtype):
    if ref.__class__ is _ND:
        return np.empty(shape, dtype)
    return table_of(ref).empty(shape, dtype)


def full_on(ref, shape, value, dtype):
    if ref.__class__ is _ND:
        return np.full(shape, value, dtype)
    return table_of(ref).full(shape, value, dtype)


def asarray_on(ref, x, dtype=None):
    """x (host data, a number, or an array on ref's device) as an array on ref's device."""
    if ref.__class__ is _ND or not isinstance(ref, DeviceArray):
        if isinstance(x, DeviceArray):
            table_of(ref, x)   # raises the mixed-device error
        return np.asarray(x, dtype)
    return table_of(ref).asarray(x, dtype)


def as_array(x, dtype=None):
    """np.asarray that keeps a device array on its device (NumPy scalars become 0-d)."""
    if isinstance(x, DeviceArray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    return np.asarray(x, dtype)


def is_device(arr):
    return arr.__class__ is not _ND and isinstance(arr, DeviceArray)


def as_strided(arr, shape, strides, writeable=True):
    """np.lib.stride_tricks.as_strided on any device (strides in bytes)."""
    if arr.__class__ is _ND:
        return np.lib.stride_tricks.as_strided(arr, shape, strides, writeable=writeable)
    return table_of(arr).strided_view(arr, shape, strides)


def host_only(who, *arrays):
    """Refuse an op that has no device implementation, naming it (instead of a NumPy error
    from deep inside)."""
    for a in arrays:
        if a is not None and a.__class__ is not _ND and isinstance(a, DeviceArray):
            raise NotImplementedError(f"nnfast has no {a.device.type.upper()} implementation of "
                                      f"{who} yet; move the tensors to the CPU (.cpu()) for "
                                      "this op")


def _tensor_like(x, ref):
    """Wrap a Python scalar or array operand; scalars take the other operand's float dtype."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, numbers.Number):
        kind = ref.dtype.kind
        if kind == "f" or isinstance(x, (bool, np.bool_)):
            dt = ref.dtype
        elif isinstance(x, numbers.Integral):
            dt = ref.dtype if kind in "iu" else int64   # bool tensor (op) int -> int64
        else:
            dt = float32
        if dt.kind in "iu" and isinstance(x, numbers.Integral):
            return Tensor._make(np.asarray(x).astype(dt))   # wraps, as torch: uint8 - 1
        return Tensor._make(np.asarray(x, dtype=dt))
    arr = np.asarray(x)
    if arr.dtype == float64 and ref.dtype == float32:
        arr = arr.astype(float32)
    return Tensor._make(arr)


def _category(dt):
    return 2 if dt.kind in "fc" else (1 if dt.kind in "iu" else 0)


def _promote(a, b):
    """PyTorch's result dtype for a binary op on arrays a and b.

    Unlike NumPy (int64 + float32 -> float64), the operand of the higher category (bool <
    integer < float) decides; within a category a 0-d operand does not widen a dimensioned
    one. Python scalars were already given a dtype by _tensor_like."""
    da, db = a.dtype, b.dtype
    if da == db:
        return da
    ca, cb = _category(da), _category(db)
    if ca != cb:
        return da if ca > cb else db
    if a.ndim == 0 and b.ndim > 0:
        return db
    if b.ndim == 0 and a.ndim > 0:
        return da
    return np.promote_types(da, db)


def _common(a, b, floating=False):
    """a's and b's arrays cast to their promoted dtype (float32 at least when floating)."""
    ad, bd = a._storage, b._storage
    if ad.__class__ is not bd.__class__:
        check_devices(ad, bd)
    dt = _promote(ad, bd)
    if floating and dt.kind not in "fc":
        dt = float32
    return ad.astype(dt, copy=False), bd.astype(dt, copy=False)


def check_devices(*arrays):
    """PyTorch's error for operands on different devices; a 0-d host array (a Python scalar
    or a 0-d CPU tensor) goes with any device, as in PyTorch."""
    dev = [a for a in arrays if a is not None and not (a.__class__ is _ND and a.ndim == 0)]
    if len(dev) > 1:
        table_of(*dev)


def _unbroadcast(g, shape):
    """Sum g down to `shape` (the inverse of NumPy broadcasting)."""
    if g.shape == shape:
        return g
    nlead = g.ndim - len(shape)
    if nlead > 0:
        g = g.sum(axis=tuple(range(nlead)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _result(arr, inputs, backward, name, saved=(), saves_output=False):
    """The op's output tensor; with a node when one of `inputs` needs a gradient. `saved`
    are the inputs whose values backward reads; `saves_output` when it reads the output."""
    if ag.needs_grad(*inputs):
        node = ag.Node(inputs, backward, name, saved)
        t = Tensor._make(arr, True, node)
        if saves_output:
            node.save_output(t)
        return t
    return Tensor._make(arr)


def _unary(x, arr, backward, name, saved=(), saves_output=False):
    return _result(arr, (x,), backward, name, saved, saves_output)


unary = _unary


def _view(x, arr, backward, name):
    """A result that is a view of x's storage (reshape, transpose, basic indexing...)."""
    return _result(arr, (x,), backward, name)._view_of(x)


def _binary_operands(a, b):
    if not isinstance(a, Tensor):
        a = _tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = _tensor_like(b, a)
    return a, b


def _as_tensor(x, who="argument"):
    """An operand as a Tensor: tensors as they are; arrays, numbers and lists wrapped."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, numbers.Number, list, tuple)):
        arr = np.asarray(x)
        if arr.dtype == float64 and not isinstance(x, np.ndarray):
            arr = arr.astype(float32)
        return Tensor._make(arr)
    raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")


def copy_from(x, src):
    """The value src broadcast to x's shape and dtype (copy_ recorded in the graph)."""
    out = empty_on(x._storage, x.shape, x.dtype)
    sd = src._storage
    # copy_ may cross devices, as in PyTorch (a 0-d host value goes with any device)
    out[...] = sd if sd.__class__ is out.__class__ or not is_device(sd) else _moved(sd, out)
    shape = src.shape

    def backward(g):
        gs = _unbroadcast(g, shape).astype(src.dtype)
        return None, (gs if gs.__class__ is src._storage.__class__ else
                      _moved(gs, src._storage))
    return _result(out, (x, src), backward, "Copy")


def _moved(arr, ref):
    """arr copied onto ref's device (the gradient of a copy across devices)."""
    if ref.__class__ is _ND:
        return table_of(arr).to_host(arr)
    return table_of(ref).from_host(arr)


def full_like_grad(x, value):
    """x filled with the 0-d tensor value (fill_ with a tensor that requires grad)."""
    out = empty_on(x._storage, x.shape, x.dtype)
    out[...] = value._storage
    return _result(out, (x, value), lambda g: (None, as_array(g.sum(), value.dtype)), "Fill")


def _write_out(res, out, who):
    """The `out=` of a torch function: res written into out (resized when its shape differs,
    as PyTorch does, with its warning when out had elements) and out returned."""
    if out is None:
        return res
    if not isinstance(out, Tensor):
        raise TypeError(f"{who}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if _state.grad_enabled and (res.requires_grad or out.requires_grad):
        raise RuntimeError(f"{who}(): functions with out=... arguments don't support automatic "
                           "differentiation, but one of the arguments requires grad.")
    arr = res._storage
    if arr.__class__ is not out._storage.__class__:
        table_of(out._storage, arr)   # out= on another device: PyTorch's error
    if out.shape != arr.shape:
        if out._storage.size:
            warnings.warn(f"An output with one or more elements was resized since it had shape "
                          f"{list(out.shape)}, which does not match the required output shape "
                          f"{list(arr.shape)}.", UserWarning, stacklevel=3)
        if arr.dtype != out.dtype and not np.can_cast(arr.dtype, out.dtype, "same_kind"):
            out._write(arr)   # raises PyTorch's message
        out._storage = empty_on(out._storage, arr.shape, out.dtype)
    out._write(arr)
    out._bump()
    return out


def _bind(methods):
    """Attach functions to Tensor as methods (name -> function taking the tensor first)."""
    for name, fn in methods.items():
        setattr(Tensor, name, fn)
