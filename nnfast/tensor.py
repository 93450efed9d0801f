"""Tensor: an array on a device plus `requires_grad`, `.grad` and the node that made it.

The array lives in the private `_storage` attribute (an ndarray on the CPU); only the tensor
and the backends touch it. `.data` is a Tensor sharing that storage, detached from the graph,
as in PyTorch; `.numpy()` and `np.asarray(t)` give the array.

This file holds the class: properties, conversion, devices and dtypes, the autograd entry
points and the machinery of in-place operations (version counts, history rebased onto the
new value). The operations themselves live in nnfast/_ops/, one family a file, and are
bound as methods there.
"""
import builtins
import numbers

import numpy as np

from . import autograd as ag
from .autograd import grad_mode as _grad_mode
from .backend import DeviceArray as _DeviceArray
from .device import CPU as _CPU
from .device import as_device, check_available
from .device import device as _device_cls
from ._missing import is_missing as _is_missing
from .errors import ShapeError
from .backend import contiguous

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
int16 = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)
complex64 = np.dtype(np.complex64)
float = float32   # noqa: A001 - PyTorch spells the default float type so
double = float64
half = float16
long = int64
int = int32   # noqa: A001
short = int16
cfloat = complex64


class _MissingDtype:
    """A dtype PyTorch has and nnfast cannot store yet: named, comparable, refused at use."""

    def __init__(self, name):
        self.name = name
        self.is_floating_point = True
        self.itemsize = 2

    def __repr__(self):
        return f"nnfast.{self.name}"


bfloat16 = _MissingDtype("bfloat16")

_state = ag._state
_new = object.__new__
_INFERENCE_SEEN = _grad_mode.INFERENCE_SEEN
_grad_state = _grad_mode._state
_builtin_int = builtins.int
_builtin_float = builtins.float


def _as_dtype(dtype):
    if dtype is None:
        return None
    if isinstance(dtype, _MissingDtype):
        raise TypeError(f"nnfast has no {dtype.name} tensors yet (PyTorch's torch.{dtype.name}); "
                        "use float32")
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (expected e.g. nnfast.float32)") from None


_default_dtype = [float32]


def get_default_dtype():
    return _default_dtype[0]


def set_default_dtype(d):
    d = _as_dtype(d)
    if d not in (float32, float64):
        raise TypeError(f"only floating-point types are supported as the default type, got {d}"
                        " (nnfast computes in float32 or float64)")
    _default_dtype[0] = d


_OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation.")


def _overlaps(arr):
    """Whether elements of arr share memory (an expanded tensor): torch refuses to compute
    into such a tensor, though it fills one."""
    if not arr.flags.writeable:
        return True
    for st, n in zip(arr.strides, arr.shape):
        if st == 0 and n > 1:
            return True
    return False


_LEAF_INPLACE = ("a leaf Variable that requires grad is being used in an in-place operation.")


_ONES = {}   # (dtype, shape) -> an array of ones: loss.backward()'s seed gradient, copied

class Tensor:
    __slots__ = ("_storage", "requires_grad", "grad", "_node", "_grad_buf", "_retains_grad",
                 "_vbase", "_vcount", "_vmod", "_rebased", "_hooks", "_inference",
                 "__weakref__")
    __array_priority__ = 1000  # so ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(self, *args, requires_grad=False, dtype=None, device=None):
        """torch.Tensor(data) copies data in the default dtype (float32); torch.Tensor(3, 4)
        is a new 3x4 tensor (uninitialised in PyTorch; zeros here); torch.Tensor() is empty."""
        if device is not None:
            check_available(as_device(device))
        if len(args) == 1 and isinstance(args[0], Tensor):
            arr = np.array(to_numpy(args[0]), dtype=_as_dtype(dtype) or _default_dtype[0], copy=True)
        elif args and all(isinstance(a, numbers.Integral) for a in args):
            arr = np.zeros(tuple(_builtin_int(a) for a in args), _as_dtype(dtype) or _default_dtype[0])
        elif len(args) == 1 and isinstance(args[0], (tuple, list, np.ndarray, numbers.Number)) \
                and not (isinstance(args[0], (tuple, list)) and len(args[0]) == 0):
            arr = np.array(args[0], dtype=_as_dtype(dtype) or _default_dtype[0], copy=True)
        elif not args or (len(args) == 1 and len(args[0]) == 0):
            arr = np.zeros((0,), _as_dtype(dtype) or _default_dtype[0])
        else:
            raise TypeError(f"Tensor(): cannot make a tensor from {args!r}")
        if device is not None and as_device(device).type != "cpu":
            from . import backend
            arr = backend.get(as_device(device)).from_host(arr)
        self._init(arr, requires_grad)

    def _init(self, arr, requires_grad=False, node=None):
        if requires_grad and arr.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating point tensors can require gradients (got dtype {arr.dtype})")
        if not isinstance(arr, (np.ndarray, _DeviceArray)):
            # NumPy ufuncs and full indexing return scalars for 0-d results; keep an ndarray
            # so .numpy(), in-place ops and kernels always see an array.
            arr = np.asarray(arr)
        self._storage = arr
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = node
        self._grad_buf = None
        self._retains_grad = False
        self._vbase = None    # the tensor whose version count this view shares
        self._vcount = 0      # in-place changes so far (torch's _version)
        # self._vmod: autograd's number of the last change, set with the first (read only
        # when _vcount is not 0)
        self._rebased = None  # [(number, old node, old requires_grad)] of in-place rebases
        self._hooks = None
        if _INFERENCE_SEEN[0] and _grad_state.inference:
            self._inference = True

    @classmethod
    def _make(cls, arr, requires_grad=False, node=None):
        """Wrap an ndarray without copying (internal constructor; _init's rules, inlined
        because every op makes one or two of these)."""
        if requires_grad and arr.dtype.kind not in "fc":
            raise RuntimeError(
                f"only floating point tensors can require gradients (got dtype {arr.dtype})")
        if type(arr) is not np.ndarray and not isinstance(arr, (np.ndarray, _DeviceArray)):
            arr = np.asarray(arr)
        t = _new(Tensor)
        t._storage = arr
        t.requires_grad = requires_grad is True or bool(requires_grad)
        t.grad = None
        t._node = node
        t._grad_buf = None
        t._retains_grad = False
        t._vbase = None
        t._vcount = 0
        t._rebased = None
        t._hooks = None
        if _INFERENCE_SEEN[0] and _grad_state.inference:   # unset slot: not an inference one
            t._inference = True
        return t

    def is_inference(self):
        """True for a tensor made inside inference_mode (torch.Tensor.is_inference)."""
        try:
            return self._inference
        except AttributeError:
            return False

    def _view_of(self, base):
        """Mark self as a view of base: they share one version count (in-place changes to
        either are seen by nodes that saved the other)."""
        self._vbase = base if base._vbase is None else base._vbase
        return self

    # ----------------------------------------------------------------- properties
    @property
    def data(self):
        """A tensor on the same storage, detached from the graph (PyTorch's .data)."""
        return Tensor._make(self._storage)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be set to a Tensor, got {type(value).__name__}")
        self._storage = value._storage

    @property
    def shape(self):
        return Size(self._storage.shape)

    @property
    def dtype(self):
        return self._storage.dtype

    @property
    def ndim(self):
        return self._storage.ndim

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def device(self):
        st = self._storage
        return _CPU if type(st) is np.ndarray else getattr(st, "device", None) or _CPU

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def is_cpu(self):
        return self.device.type == "cpu"

    @property
    def layout(self):
        return "strided"

    @property
    def _version(self):
        return (self if self._vbase is None else self._vbase)._vcount

    @property
    def itemsize(self):
        return self._storage.itemsize

    @property
    def nbytes(self):
        return self._storage.nbytes

    def element_size(self):
        return self._storage.itemsize

    def dim(self):
        return self._storage.ndim

    ndimension = dim

    def size(self, dim=None):
        shape = self._storage.shape
        if dim is None:
            return Size(shape)
        n = len(shape)
        if not -n <= dim < n:
            if n == 0:
                raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, "
                             f"{n - 1}], but got {dim})")
        return shape[dim]

    def numel(self):
        return self._storage.size

    nelement = numel

    def __len__(self):
        if self._storage.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._storage.shape[0]

    def __iter__(self):
        if self._storage.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._storage.shape[0]))

    def __array__(self, dtype=None, copy=None):
        if isinstance(self._storage, _DeviceArray):
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._storage if dtype is None else self._storage.astype(dtype)

    def __bool__(self):
        if self._storage.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._storage)

    def __float__(self):
        if self._storage.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return _builtin_float(self.item())

    def __int__(self):
        if self._storage.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return _builtin_int(self.item())

    def __complex__(self):
        return complex(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self._storage.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return _builtin_int(self._storage)

    def __hash__(self):
        return id(self)

    def __format__(self, spec):
        if self._storage.ndim == 0 or (spec and self._storage.size == 1):
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __repr__(self):
        from ._ops.printing import tensor_repr
        return tensor_repr(self)

    def __dir__(self):
        return [n for n in object.__dir__(self) if not _is_missing(type(self), n)]

    def __reduce_ex__(self, protocol):
        st = self._storage
        if isinstance(st, _DeviceArray):   # pickled as host data, rebuilt on the device
            return (_rebuild, (st.get(), self.requires_grad, str(st.device)))
        return (_rebuild, (st, self.requires_grad))

    def __deepcopy__(self, memo):
        if self._node is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) "
                               "support the deepcopy protocol at the moment")
        t = self.__class__.__new__(self.__class__)
        t._init(self._storage.copy(), self.requires_grad)
        if self.grad is not None:
            t.grad = Tensor._make(self.grad._storage.copy())
        memo[id(self)] = t
        return t

    # ----------------------------------------------------------------- conversion
    def numpy(self, *, force=False):
        if self.requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        st = self._storage
        if isinstance(st, _DeviceArray):
            if force:
                return st.get()
            raise TypeError(f"can't convert {self.device} device type tensor to numpy. Use "
                            "Tensor.cpu() to copy the tensor to host memory first.")
        return st

    def item(self):
        if self._storage.size != 1:
            raise ShapeError(f"a Tensor with {self._storage.size} elements cannot be "
                             "converted to Scalar")
        return self._storage.reshape(()).item()

    def tolist(self):
        return self._storage.tolist()

    def detach(self):
        return Tensor._make(self._storage)._view_of(self)

    def detach_(self):
        self._node = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        if not requires_grad and self._node is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If "
                               "you want to use a computed variable in a subgraph that doesn't "
                               "require differentiation use var_no_grad = var.detach().")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._node is not None:
            self._retains_grad = True
            self._node.out = self

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """hook(grad) -> Tensor or None, called with this tensor's gradient during backward;
        a returned tensor replaces the gradient. Returns a handle with .remove()."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if self._hooks is None:
            self._hooks = {}
        if self._node is not None:
            self._node.out = self
        return _HookHandle(self._hooks, hook)

    # ----------------------------------------------------------------- devices and dtypes
    def to(self, *args, **kwargs):
        """to(dtype), to(device), to(device, dtype), to(other), with non_blocking= and copy=
        accepted as PyTorch does; a copy only when something changes (or copy=True)."""
        dev, dtype, copy = _parse_to(args, kwargs)
        out = self if dtype is None else self.type(dtype)
        if dev is not None:
            moved = out._to_device(check_available(dev))
            if moved is not out:
                return moved
        if copy and out is self:
            out = self.clone()
        return out

    def _to_device(self, dev):
        """self on device dev: self when it is there, else a copy the gradient flows back
        through (torch's ToCopyBackward)."""
        here = self.device
        if dev.type == here.type:
            return self
        from .backend import move
        from ._ops.core import unary
        return unary(self, move(self._storage, dev), lambda g: (move(g, here),), "ToCopy")

    def cpu(self, memory_format=None):
        return self._to_device(_CPU)

    def cuda(self, device=None, non_blocking=False, memory_format=None):
        return self._to_device(check_available(
            _device_cls("cuda" if device is None else device)
            if not isinstance(device, _builtin_int) else _device_cls("cuda", device)))

    def get_device(self):
        d = self.device
        return -1 if d.type == "cpu" else (d.index or 0)

    def type(self, dtype=None, non_blocking=False):
        if dtype is None:
            return _TYPE_NAMES.get(self.dtype, f"torch.{self.dtype}Tensor")
        if isinstance(dtype, str):
            dtype = _NAME_TYPES.get(dtype, dtype)
        dtype = _as_dtype(dtype)
        if dtype == self.dtype:
            return self
        src = self.dtype
        out = self._storage.astype(dtype)
        if dtype.kind in "fc" and src.kind in "fc":
            from ._ops.core import unary
            return unary(self, out, lambda g: (g.astype(src),), "ToCopy")
        return Tensor._make(out)

    def type_as(self, other):
        return self.type(other.dtype)

    def is_floating_point(self):
        return self.dtype.kind == "f"

    def is_complex(self):
        return self.dtype.kind == "c"

    def is_signed(self):
        return self.dtype.kind in "fci"

    def float(self):
        return self.type(float32)

    def double(self):
        return self.type(float64)

    def half(self):
        return self.type(float16)

    def bfloat16(self):
        return self.type(bfloat16)

    def long(self):
        return self.type(int64)

    def int(self):
        return self.type(int32)

    def short(self):
        return self.type(int16)

    def char(self):
        return self.type(int8)

    def byte(self):
        return self.type(uint8)

    def bool(self):
        return self.type(bool_)

    def contiguous(self, memory_format=None):
        if self._storage.flags.c_contiguous:
            return self
        from ._ops.core import unary
        return unary(self, contiguous(self._storage), lambda g: (g,), "Contiguous")

    def is_contiguous(self, memory_format=None):
        return bool(self._storage.flags.c_contiguous)

    def pin_memory(self, device=None):
        return self

    def is_pinned(self, device=None):
        return False

    def share_memory_(self):
        return self

    def stride(self, dim=None):
        st = tuple(s // self._storage.itemsize for s in self._storage.strides)
        return st if dim is None else st[dim]

    def data_ptr(self):
        st = self._storage
        if isinstance(st, _DeviceArray):   # the device address of the first element
            return st.data_ptr()
        return st.ctypes.data

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if (gradient is None and not create_graph and inputs is None and self.requires_grad
                and self._node is not None and self._storage.size == 1):
            # loss.backward(), the common case, without autograd.backward's general checks
            st = self._storage
            if st.__class__ is np.ndarray:
                key = (st.dtype, st.shape)
                one = _ONES.get(key)
                if one is None:
                    one = _ONES[key] = np.ones(st.shape, st.dtype)
                ag.run_backward((self,), (one.copy(),), retain=retain_graph)   # (one C call)
            else:
                ag.run_backward((self,), (np.ones_like(st),), retain=retain_graph)
            return
        ag.backward(self, gradient, retain_graph, create_graph, inputs)

    # ----------------------------------------------------------------- in place
    def _bump(self):
        base = self if self._vbase is None else self._vbase
        base._vcount += 1
        base._vmod = next(ag._seq)

    def _write(self, arr):
        """Copy arr (broadcast) into this tensor's storage, with PyTorch's casting rule."""
        st = self._storage
        if _overlaps(st):
            raise RuntimeError(_OVERLAP)
        if arr.dtype != st.dtype and not np.can_cast(arr.dtype, st.dtype, "same_kind"):
            raise RuntimeError(f"result type {_type_word(arr.dtype)} can't be cast to the "
                               f"desired output type {_type_word(st.dtype)}")
        if np.broadcast_shapes(arr.shape, st.shape) != st.shape:
            raise RuntimeError(f"output with shape {list(st.shape)} doesn't match the broadcast "
                               f"shape {list(np.broadcast_shapes(arr.shape, st.shape))}")
        if arr.__class__ is not st.__class__ and st.__class__ is np.ndarray and \
                isinstance(arr, _DeviceArray):   # copy_ from a device into host memory
            from .backend import table_of
            arr = table_of(arr).to_host(arr)
        np.copyto(st, arr, casting="unsafe")

    def _inplace(self, fn, *args, keeps_input=False, **kwargs):
        """self <- fn(self, *args, **kwargs), done in place as PyTorch's in-place ops are.

        While gradients are recorded and the op involves a tensor that requires grad, the
        history is rebased: the value before the op becomes a graph tensor of its own (a copy
        when fn's backward reads it, `keeps_input`), fn is recorded on it, and self takes the
        new node. Nodes that saved self's old values see its version change and refuse to
        run backward."""
        if _state.grad_enabled and (self.requires_grad or _any_grad(args)):
            if self.requires_grad and self._node is None:
                raise RuntimeError(_LEAF_INPLACE)
            base = self._graph_base()
            if keeps_input:
                old = Tensor._make(self._storage.copy(), self.requires_grad, self._node)
            else:
                old = Tensor._make(self._storage, self.requires_grad, self._node)._view_of(self)
            res = fn(old, *args, **kwargs)
            self._write(res._storage)
            ag.record_rebase(self)
            self._node = res._node
            self.requires_grad = res.requires_grad
            if self._node is not None and (self._hooks is not None or self._retains_grad):
                self._node.out = self
            if base is not None:
                _rebase_view_base(base, self)
        else:
            res = fn(self, *args, **kwargs)
            self._write(res._storage)
        self._bump()
        return self

    def _inplace_ufunc(self, ufunc, other, fn):
        """Fast path of _inplace for a binary ufunc when nothing is recorded."""
        if _state.grad_enabled and (self.requires_grad or
                                    (isinstance(other, Tensor) and other.requires_grad)):
            return self._inplace(fn, other)
        st = self._storage
        if _overlaps(st):
            raise RuntimeError(_OVERLAP)
        o = other._storage if isinstance(other, Tensor) else other
        if o.__class__ is not st.__class__ and isinstance(other, Tensor) and not (
                o.__class__ is np.ndarray and o.ndim == 0):
            from .backend import table_of
            table_of(st, o)   # PyTorch's error for operands on two devices
        try:
            ufunc(st, o, out=st, casting="same_kind")
        except TypeError:
            return self._inplace(fn, other)   # the slow path raises PyTorch's message
        except ValueError:
            raise RuntimeError(f"output with shape {list(st.shape)} doesn't match the "
                               f"broadcast shape {list(np.broadcast_shapes(st.shape, np.shape(o)))}"
                               ) from None
        self._bump()
        return self

    def zero_(self):
        if _state.grad_enabled and self.requires_grad and self._node is None:
            raise RuntimeError(_LEAF_INPLACE)
        if not self._storage.flags.writeable:
            raise RuntimeError(_OVERLAP)
        if _state.grad_enabled:
            self._graph_base()   # refuses a view of a leaf
        self._storage[...] = 0
        if self._node is not None:
            self._detach_history("Zero")
        self._bump()
        return self

    def fill_(self, value):
        if isinstance(value, Tensor) and value.requires_grad and _state.grad_enabled:
            from ._ops.core import full_like_grad
            return self._inplace(full_like_grad, value)
        if _state.grad_enabled and self.requires_grad and self._node is None:
            raise RuntimeError(_LEAF_INPLACE)
        if not self._storage.flags.writeable:
            raise RuntimeError(_OVERLAP)
        if _state.grad_enabled:
            self._graph_base()   # refuses a view of a leaf before anything is written
        self._storage[...] = value._storage if isinstance(value, Tensor) else value
        if self._node is not None:
            self._detach_history("Fill")
        self._bump()
        return self

    def _detach_history(self, name):
        """After overwriting a graph tensor with constants: no gradient flows to the old
        value (it is gone), but self still requires grad, as in PyTorch."""
        if _state.grad_enabled:
            base = self._graph_base()
            ag.record_rebase(self)
            node = ag.Node((), lambda g: (), name)
            self._node = node
            if self._hooks is not None or self._retains_grad:
                node.out = self
            if base is not None:
                _rebase_view_base(base, self)

    def _graph_base(self):
        """The base tensor whose history an in-place change to this view must also rebase
        (torch's CopySlices): a graph tensor this one is a differentiable view of; None for
        tensors that are not views. A view of a leaf that requires grad refuses, as in torch."""
        base = self._vbase
        if base is None or base is self or not (base.requires_grad and self.requires_grad):
            return None
        if base._node is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in "
                               "an in-place operation.")
        return base

    def copy_(self, src, non_blocking=False):
        from ._ops.core import copy_from
        if not isinstance(src, Tensor):
            src = Tensor._make(np.asarray(src))
        if _state.grad_enabled and (self.requires_grad or src.requires_grad):
            return self._inplace(copy_from, src)
        self._write(src._storage)
        self._bump()
        return self

    def set_(self, source=None):
        self._storage = source._storage if isinstance(source, Tensor) else \
            np.zeros_like(self._storage, shape=(0,))
        self._bump()
        return self

    def __setitem__(self, index, value):
        from ._ops.index import setitem
        setitem(self, index, value)


class Size(tuple):
    """torch.Size: a tuple of dimensions with numel()."""
    __slots__ = ()

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"torch.Size([{', '.join(str(s) for s in self)}])"



class _HookHandle:
    _next_id = 0

    def __init__(self, store, hook):
        _HookHandle._next_id += 1
        self.id = _HookHandle._next_id
        self.store = store
        store[self.id] = hook

    def remove(self):
        self.store.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _rebase_view_base(base, view):
    """After an in-place change to `view`, a view of graph tensor `base`: base's new value is
    its old one with the view's elements replaced by the view's new value. Its gradient: g
    outside the view's elements to the old base, g at them to the view's new node. The
    elements are found from the view's place in base's memory (base C-contiguous)."""
    b, v = base._storage, view._storage
    if v.size == 0:
        return
    if not b.flags.c_contiguous or v.dtype != b.dtype:
        raise RuntimeError("in-place change of a view whose base is not contiguous (or of "
                           "another dtype) is not supported with autograd yet; use "
                           "out-of-place ops or write into the base tensor directly")
    if b.__class__ is np.ndarray:
        offset = (v.ctypes.data - b.ctypes.data) // b.itemsize
    else:   # a device view: its element offset into the same block as its base's
        offset = v._off - b._off
    shape, strides = v.shape, v.strides
    from ._ops.core import as_strided

    def region(a):
        return as_strided(a.reshape(-1)[offset:], shape, strides)

    def backward(g):
        gb = np.array(g, dtype=b.dtype, order="C", copy=True) if g.__class__ is np.ndarray \
            else g.astype(b.dtype)   # a new C-ordered device array
        gv = region(gb).copy()
        region(gb)[...] = 0
        return gb, gv
    old = Tensor._make(b, base.requires_grad, base._node)
    ag.record_rebase(base)   # earlier nodes keep the old node
    node = ag.Node((old, view), backward, "CopySlices")
    base._node = node
    if base._hooks is not None or base._retains_grad:
        node.out = base


def _rebuild(arr, requires_grad, device=None):
    t = Tensor._make(arr, requires_grad)
    if device is not None:
        from .device import device as dev
        t = t.detach()._to_device(check_available(dev(device))).requires_grad_(requires_grad)
    return t


def _any_grad(args):
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            return True
    return False


def _type_word(dt):
    return {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool", "c": "ComplexFloat"}[dt.kind]


_TYPE_NAMES = {float32: "torch.FloatTensor", float64: "torch.DoubleTensor",
               float16: "torch.HalfTensor", int64: "torch.LongTensor", int32: "torch.IntTensor",
               int16: "torch.ShortTensor", int8: "torch.CharTensor", uint8: "torch.ByteTensor",
               bool_: "torch.BoolTensor"}
_NAME_TYPES = {v: k for k, v in _TYPE_NAMES.items()}
_NAME_TYPES.update({v.replace("torch.", "nnfast."): k for k, v in _TYPE_NAMES.items()})


def _parse_to(args, kwargs):
    """(device or None, dtype or None, copy) from Tensor.to / Module.to arguments."""
    dev = dtype = None
    for a in args:
        if isinstance(a, Tensor):
            dev, dtype = a.device, a.dtype
        elif isinstance(a, (str, _device_cls)) or (isinstance(a, _builtin_int)
                                                   and not isinstance(a, bool)):
            if isinstance(a, str) and a in _NAME_TYPES:
                dtype = _NAME_TYPES[a]
            else:
                dev = as_device(a)
        elif isinstance(a, bool):
            pass   # the positional non_blocking of to(device, dtype, non_blocking)
        elif a is not None:
            dtype = _as_dtype(a)
    extra = set(kwargs) - {"device", "dtype", "non_blocking", "copy", "memory_format"}
    if extra:
        raise TypeError(f"to() got an unexpected keyword argument '{extra.pop()}'")
    if kwargs.get("device") is not None:
        dev = as_device(kwargs["device"])
    if kwargs.get("dtype") is not None:
        dtype = _as_dtype(kwargs["dtype"])
    return dev, dtype, bool(kwargs.get("copy", False))


# ===================================================================== helpers


def to_numpy(value):
    """Any array-like as an ndarray: nnfast or torch tensors (detached), arrays, numbers.

    The one conversion used wherever PyTorch objects may come in (state dicts, interop)."""
    if isinstance(value, Tensor):
        st = value._storage
        return st.get() if isinstance(st, _DeviceArray) else st
    if isinstance(value, _DeviceArray):
        return value.get()
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _data(x):
    return x._storage if isinstance(x, Tensor) else x


from . import _ops  # noqa: E402,F401  (binds the operations as Tensor methods)
