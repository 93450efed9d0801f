"""Tensor: a NumPy array plus `requires_grad`, `.grad` and the node that made it.

The arithmetic here (elementwise ops, reductions, reshapes, indexing, matmul) is what losses
and small custom models need; each op records one node whose backward is a few NumPy calls,
or a compiled GEMM for float32 matrix products. Layers, activations and losses record their
own coarse nodes with compiled kernels (nnfast.nn).

`.data` is the NumPy array itself (not a Tensor as in PyTorch); `.numpy()` returns it.
"""
import builtins
import numbers

import numpy as np

from . import autograd as ag
from .errors import ShapeError

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int64 = np.dtype(np.int64)
int32 = np.dtype(np.int32)
bool_ = np.dtype(np.bool_)
float = float32   # noqa: A001 - PyTorch spells the default float type so
double = float64
long = int64


_new = object.__new__


def _as_dtype(dtype):
    if dtype is None:
        return None
    return np.dtype(dtype)


class Tensor:
    __slots__ = ("data", "requires_grad", "grad", "_node", "_grad_buf", "_retains_grad",
                 "__weakref__")
    __array_priority__ = 1000  # so ndarray (op) Tensor defers to Tensor's reflected op

    def __init__(self, data, requires_grad=False, dtype=None):
        """Like torch.Tensor(data): a copy of data as float32 unless dtype says otherwise."""
        if isinstance(data, Tensor):
            data = data.data
        arr = np.array(data, dtype=_as_dtype(dtype) or np.float32, copy=True)
        self._init(arr, requires_grad)

    def _init(self, arr, requires_grad=False, node=None):
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(
                f"only floating point tensors can require gradients (got dtype {arr.dtype})")
        if not isinstance(arr, np.ndarray):
            # NumPy ufuncs and full indexing return scalars for 0-d results; keep an ndarray
            # so .numpy(), in-place ops and kernels always see an array.
            arr = np.asarray(arr)
        self.data = arr
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = node
        self._grad_buf = None
        self._retains_grad = False

    @classmethod
    def _make(cls, arr, requires_grad=False, node=None):
        """Wrap an ndarray without copying (internal constructor; _init's rules, inlined
        because every op makes one or two of these)."""
        if requires_grad and arr.dtype.kind != "f":
            raise RuntimeError(
                f"only floating point tensors can require gradients (got dtype {arr.dtype})")
        if type(arr) is not np.ndarray and not isinstance(arr, np.ndarray):
            arr = np.asarray(arr)
        t = _new(Tensor)
        t.data = arr
        t.requires_grad = requires_grad is True or bool(requires_grad)
        t.grad = None
        t._node = node
        t._grad_buf = None
        t._retains_grad = False
        return t

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        return self._node

    @property
    def device(self):
        return "cpu"

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def dim(self):
        return self.data.ndim

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self):
        return self.data.size

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", precision=4, prefix="tensor(")
        extra = ""
        if self.dtype != float32 and self.dtype.kind == "f":
            extra += f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn={self._node!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype=None, copy=None):
        if self.requires_grad:
            raise RuntimeError("Can't convert a tensor that requires grad to a NumPy array; "
                               "use tensor.detach().numpy()")
        return self.data if dtype is None else self.data.astype(dtype)

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError("Boolean value of a tensor with more than one value is ambiguous")
        return bool(self.data)

    def __float__(self):
        return builtins_float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.data)

    def __hash__(self):
        return id(self)

    # ----------------------------------------------------------------- conversion
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on a tensor that requires grad; "
                               "use tensor.detach().numpy()")
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(
                f"only one element tensors can be converted to Python scalars (shape {self.shape})")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def detach(self):
        return Tensor._make(self.data)

    def detach_(self):
        self._node = None
        self.requires_grad = False
        return self

    def clone(self):
        return _unary(self, self.data.copy(), lambda g: (g,), "Clone")

    def requires_grad_(self, requires_grad=True):
        if requires_grad and self.dtype.kind != "f":
            raise RuntimeError("only floating point tensors can require gradients")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self):
        if self._node is not None:
            self._retains_grad = True

    def to(self, *args, **kwargs):
        dtype = kwargs.get("dtype")
        for a in args:
            if isinstance(a, str) or a is None:
                if a not in (None, "cpu"):
                    raise ValueError(f"nnfast tensors live on the CPU; cannot move to {a!r}")
            else:
                dtype = a
        return self if dtype is None else self.type(dtype)

    def cpu(self):
        return self

    def type(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        src = self.dtype
        out = self.data.astype(dtype)
        if dtype.kind == "f" and src.kind == "f":
            return _unary(self, out, lambda g: (g.astype(src),), "ToCopy")
        return Tensor._make(out)

    def float(self):
        return self.type(float32)

    def double(self):
        return self.type(float64)

    def long(self):
        return self.type(int64)

    def int(self):
        return self.type(int32)

    def bool(self):
        return self.type(bool_)

    def contiguous(self):
        return self

    # ----------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph=None, create_graph=False):
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have "
                               "a grad_fn")
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs (shape {self.shape})")
            g = np.ones_like(self.data)
        else:
            g = np.asarray(_data(gradient), dtype=self.dtype)
            if g.shape != self.shape:
                raise ShapeError(f"backward: gradient has shape {g.shape}, tensor has {self.shape}")
        ag.run_backward(self, g)

    # ----------------------------------------------------------------- in-place, no grad
    def zero_(self):
        self.data[...] = 0
        return self

    def fill_(self, value):
        self.data[...] = value
        return self

    def copy_(self, src):
        np.copyto(self.data, _data(src), casting="same_kind")
        return self

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __truediv__(self, other):
        return div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __neg__(self):
        return _unary(self, -self.data, lambda g: (-g,), "Neg")

    def __pos__(self):
        return self

    def __pow__(self, exponent):
        return pow(self, exponent)

    def __rpow__(self, base):
        return pow(base, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __iadd__(self, other):
        return self._inplace(np.add, other)

    def __isub__(self, other):
        return self._inplace(np.subtract, other)

    def __imul__(self, other):
        return self._inplace(np.multiply, other)

    def __itruediv__(self, other):
        return self._inplace(np.divide, other)

    def _inplace(self, ufunc, other):
        if ag.is_grad_enabled() and self.requires_grad:
            raise RuntimeError("in-place operation on a tensor that requires grad; "
                               "do it under nnfast.no_grad() or use the out-of-place form")
        ufunc(self.data, _data(other), out=self.data, casting="same_kind")
        return self

    def add_(self, other, alpha=1):
        return self._inplace(np.add, _data(other) * alpha if alpha != 1 else other)

    def sub_(self, other, alpha=1):
        return self._inplace(np.subtract, _data(other) * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self._inplace(np.multiply, other)

    def div_(self, other):
        return self._inplace(np.divide, other)

    # comparisons: no gradient, boolean results
    def __eq__(self, other):
        return Tensor._make(np.equal(self.data, _data(other)))

    def __ne__(self, other):
        return Tensor._make(np.not_equal(self.data, _data(other)))

    def __lt__(self, other):
        return Tensor._make(np.less(self.data, _data(other)))

    def __le__(self, other):
        return Tensor._make(np.less_equal(self.data, _data(other)))

    def __gt__(self, other):
        return Tensor._make(np.greater(self.data, _data(other)))

    def __ge__(self, other):
        return Tensor._make(np.greater_equal(self.data, _data(other)))

    # ----------------------------------------------------------------- math methods
    def exp(self):
        return exp(self)

    def log(self):
        return log(self)

    def sqrt(self):
        return sqrt(self)

    def abs(self):
        return abs(self)

    def pow(self, exponent):
        return pow(self, exponent)

    def clamp(self, min=None, max=None):
        return clamp(self, min, max)

    clip = clamp

    def sum(self, dim=None, keepdim=False):
        return sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return min(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return Tensor._make(_arg_reduce(np.argmax, self.data, dim, keepdim))

    def argmin(self, dim=None, keepdim=False):
        return Tensor._make(_arg_reduce(np.argmin, self.data, dim, keepdim))

    def matmul(self, other):
        return matmul(self, other)

    def mm(self, other):
        return matmul(self, other)

    def relu(self):
        from .nn import functional as F
        return F.relu(self)

    def sigmoid(self):
        from .nn import functional as F
        return F.sigmoid(self)

    def tanh(self):
        from .nn import functional as F
        return F.tanh(self)

    def softmax(self, dim):
        from .nn import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        from .nn import functional as F
        return F.log_softmax(self, dim)

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        return reshape(self, *shape)

    def view(self, *shape):
        return reshape(self, *shape)

    def flatten(self, start_dim=0, end_dim=-1):
        return flatten(self, start_dim, end_dim)

    def transpose(self, dim0, dim1):
        return transpose(self, dim0, dim1)

    def t(self):
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dimensions, got shape {self.shape}")
        return self.T

    def permute(self, *dims):
        return permute(self, *dims)

    def unsqueeze(self, dim):
        return unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return squeeze(self, dim)

    def expand(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(s if s != -1 else self.shape[i - len(shape) + self.ndim]
                      for i, s in enumerate(shape))
        return broadcast_to(self, shape)

    def __getitem__(self, index):
        return getitem(self, index)

    def __setitem__(self, index, value):
        if ag.is_grad_enabled() and self.requires_grad:
            raise RuntimeError("in-place assignment to a tensor that requires grad; "
                               "do it under nnfast.no_grad()")
        self.data[_index(index)] = _data(value)


builtins_float = builtins.float


# ===================================================================== helpers


def to_numpy(value):
    """Any array-like as an ndarray: nnfast or torch tensors (detached), arrays, numbers.

    The one conversion used wherever PyTorch objects may come in (state dicts, interop)."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)

def _data(x):
    return x.data if isinstance(x, Tensor) else x


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
    dt = _promote(a.data, b.data)
    if floating and dt.kind not in "fc":
        dt = float32
    return a.data.astype(dt, copy=False), b.data.astype(dt, copy=False)


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


def _result(arr, inputs, backward, name):
    if ag.needs_grad(*inputs):
        return Tensor._make(arr, True, ag.Node(inputs, backward, name))
    return Tensor._make(arr)


def _unary(x, arr, backward, name):
    return _result(arr, (x,), backward, name)


def _binary_operands(a, b):
    if not isinstance(a, Tensor):
        a = _tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = _tensor_like(b, a)
    return a, b


# ===================================================================== ops

def add(a, b):
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    out = ad + bd
    sa, sb = a.shape, b.shape
    return _result(out, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb)), "Add")


def sub(a, b):
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    out = ad - bd
    sa, sb = a.shape, b.shape
    return _result(out, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(-g, sb)), "Sub")


def mul(a, b):
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    out = ad * bd

    def backward(g):
        return (_unbroadcast(g * bd, ad.shape) if a.requires_grad else None,
                _unbroadcast(g * ad, bd.shape) if b.requires_grad else None)
    return _result(out, (a, b), backward, "Mul")


def div(a, b):
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b, floating=True)  # true division: int / int is float32
    out = ad / bd

    def backward(g):
        return (_unbroadcast(g / bd, ad.shape) if a.requires_grad else None,
                _unbroadcast(-g * out / bd, bd.shape) if b.requires_grad else None)
    return _result(out, (a, b), backward, "Div")


def pow(base, exponent):
    if isinstance(exponent, numbers.Number) and isinstance(base, Tensor):
        x = base.data
        if x.dtype.kind not in "fc" and not isinstance(exponent, numbers.Integral):
            x = x.astype(float32)  # int tensor ** 0.5 is float32, as in PyTorch
        out = np.power(x, exponent).astype(x.dtype, copy=False)

        def backward(g):
            if exponent == 0:  # d/dx x**0 = 0 everywhere, including x = 0
                return (np.zeros_like(g),)
            return (g * exponent * np.power(x, exponent - 1),)
        return _unary(base, out, backward, "Pow")
    base, exponent = _binary_operands(base, exponent)
    bd, ed = _common(base, exponent)
    out = np.power(bd, ed)

    def backward(g):
        gb = ge = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if base.requires_grad:
                d = np.where(ed == 0, 0, ed * np.power(bd, ed - 1)).astype(out.dtype)
                gb = _unbroadcast(g * d, base.shape)
            if exponent.requires_grad:
                # PyTorch: out * log(base), zero where base == 0 and exponent >= 0.
                d = np.where((bd == 0) & (ed >= 0), 0, out * np.log(bd)).astype(out.dtype)
                ge = _unbroadcast(g * d, exponent.shape)
        return gb, ge
    return _result(out, (base, exponent), backward, "Pow")


def _floating(arr):
    """Integer and bool inputs of exp/log/sqrt compute in float32, as in PyTorch."""
    return arr if arr.dtype.kind in "fc" else arr.astype(float32)


def exp(x):
    out = np.exp(_floating(x.data))
    return _unary(x, out, lambda g: (g * out,), "Exp")


def log(x):
    xd = _floating(x.data)
    out = np.log(xd)
    return _unary(x, out, lambda g: (g / xd,), "Log")


def sqrt(x):
    out = np.sqrt(_floating(x.data))
    return _unary(x, out, lambda g: (g / (2 * out),), "Sqrt")


def abs(x):
    xd = x.data
    return _unary(x, np.abs(xd), lambda g: (g * np.sign(xd),), "Abs")


def clamp(x, min=None, max=None):
    xd = x.data
    if xd.dtype.kind in "biu" and any(isinstance(v, builtins_float) for v in (min, max)):
        xd = xd.astype(float32)   # int tensor clamped to float bounds is float32 in torch
    out = np.clip(xd, min, max) if (min is not None or max is not None) else xd.copy()

    def backward(g):
        mask = np.ones(xd.shape, dtype=bool)
        if min is not None:
            mask &= xd >= min
        if max is not None:
            mask &= xd <= max
        return (g * mask,)
    return _unary(x, out.astype(xd.dtype, copy=False), backward, "Clamp")


def _norm_dims(dim, ndim):
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    out = []
    for d in dim:
        if not -ndim <= d < builtins.max(ndim, 1):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-ndim}, {ndim - 1}], but got {d})")
        out.append(d % ndim if ndim else 0)
    return tuple(out)


def _expand_grad(g, shape, axes, keepdim):
    if not keepdim and shape != ():
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _reduce_all(dim):
    """torch's sum/mean treat an empty dim list as 'every dim'."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def sum(x, dim=None, keepdim=False):
    axes = _norm_dims(_reduce_all(dim), x.ndim)
    # As torch: bool and integer sums are int64 (a bool "sum" would be a logical or).
    dt = x.dtype if x.dtype.kind in "fc" else int64
    out = np.asarray(x.data.sum(axis=axes, keepdims=keepdim, dtype=dt), dtype=dt)
    shape = x.shape
    return _unary(x, out, lambda g: (_expand_grad(g, shape, axes, keepdim),), "Sum")


def mean(x, dim=None, keepdim=False):
    if x.dtype.kind != "f":
        raise RuntimeError(f"mean(): input dtype should be floating point, got {x.dtype}")
    axes = _norm_dims(_reduce_all(dim), x.ndim)
    out = np.asarray(x.data.mean(axis=axes, keepdims=keepdim), dtype=x.dtype)
    shape = x.shape
    count = 1
    for a in axes:
        count *= shape[a]
    return _unary(x, out,
                  lambda g: (_expand_grad(g / count, shape, axes, keepdim).astype(x.dtype),),
                  "Mean")


def _minmax(x, dim, keepdim, npfn, argfn, name):
    xd = x.data
    if dim is None:
        out = np.asarray(npfn(xd))
        # PyTorch spreads the gradient evenly over ties for the full reduction.
        def backward(g):
            mask = (xd == out)
            return (mask * (g / mask.sum()),)
        return _unary(x, out, backward, name)
    d = _norm_dims(dim, x.ndim)[0]
    idx = argfn(xd, axis=d)
    vals = np.take_along_axis(xd, np.expand_dims(idx, d), axis=d)
    if not keepdim:
        vals = np.squeeze(vals, d)

    def backward(g):
        gx = np.zeros_like(xd)
        gg = g if keepdim else np.expand_dims(g, d)
        np.put_along_axis(gx, np.expand_dims(idx, d), gg, axis=d)
        return (gx,)
    values = _unary(x, vals, backward, name)
    indices = Tensor._make(idx if not keepdim else np.expand_dims(idx, d))
    return _MinMax(values, indices)


class _MinMax(tuple):
    """(values, indices) as returned by max/min along a dimension."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def max(x, dim=None, keepdim=False):
    return _minmax(x, dim, keepdim, np.max, np.argmax, "Max")


def min(x, dim=None, keepdim=False):
    return _minmax(x, dim, keepdim, np.min, np.argmin, "Min")


def _arg_reduce(fn, arr, dim, keepdim):
    if dim is None:
        return np.asarray(fn(arr))
    return fn(arr, axis=dim, keepdims=keepdim)


def _mm_2d(a, b, ta=False, tb=False):
    """op(a) @ op(b) for 2-D arrays: compiled GEMM for float32, NumPy otherwise."""
    from . import _C
    if a.dtype == float32 and b.dtype == float32:
        a = np.ascontiguousarray(a)
        b = np.ascontiguousarray(b)
        m = a.shape[1] if ta else a.shape[0]
        n = b.shape[0] if tb else b.shape[1]
        out = np.empty((m, n), dtype=float32)
        _C.sgemm(ta, tb, 1.0, a, b, 0.0, out)
        return out
    return (a.T if ta else a) @ (b.T if tb else b)


def matmul(a, b):
    a, b = _binary_operands(a, b)
    ad, bd = a.data, b.data
    if ad.ndim == 0 or bd.ndim == 0:
        raise ShapeError("matmul: both arguments need at least 1 dimension, "
                         f"got shapes {ad.shape} and {bd.shape}")
    if ad.ndim == 2 and bd.ndim == 2:
        if ad.shape[1] != bd.shape[0]:
            raise ShapeError(f"matmul: shapes {ad.shape} and {bd.shape} cannot be multiplied "
                             f"({ad.shape[1]} != {bd.shape[0]})")
        out = _mm_2d(ad, bd)

        def backward(g):
            return (_mm_2d(g, bd, tb=True) if a.requires_grad else None,
                    _mm_2d(ad, g, ta=True) if b.requires_grad else None)
        return _result(out, (a, b), backward, "Mm")
    try:
        out = np.matmul(ad, bd)
    except ValueError:
        raise ShapeError(f"matmul: shapes {ad.shape} and {bd.shape} cannot be multiplied") from None

    def backward(g):
        a2 = ad if ad.ndim > 1 else ad[None, :]
        b2 = bd if bd.ndim > 1 else bd[:, None]
        g2 = g
        # Re-insert the dims matmul dropped: the trailing one (b 1-D) first, so that for
        # 1-D @ 1-D the 0-d gradient becomes (1, 1).
        if bd.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if ad.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if a.requires_grad:
            ga = np.matmul(g2, np.swapaxes(b2, -1, -2))
            ga = _unbroadcast(ga, a2.shape).reshape(ad.shape)
        if b.requires_grad:
            gb = np.matmul(np.swapaxes(a2, -1, -2), g2)
            gb = _unbroadcast(gb, b2.shape).reshape(bd.shape)
        return ga, gb
    return _result(out, (a, b), backward, "Matmul")


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    src = x.shape
    try:
        out = x.data.reshape(shape)
    except ValueError:
        raise ShapeError(f"shape {tuple(shape)} is invalid for input of size {x.data.size} "
                         f"(shape {src})") from None
    return _unary(x, out, lambda g: (g.reshape(src),), "Reshape")


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
    return _unary(x, np.transpose(x.data, dims), lambda g: (np.transpose(g, inv),), "Permute")


def transpose(x, dim0, dim1):
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def unsqueeze(x, dim):
    d = dim % (x.ndim + 1)
    src = x.shape
    return _unary(x, np.expand_dims(x.data, d), lambda g: (g.reshape(src),), "Unsqueeze")


def squeeze(x, dim=None):
    src = x.shape
    if dim is None:
        out = np.squeeze(x.data)
    else:
        dims = dim if isinstance(dim, (tuple, list)) else (dim,)
        dims = _norm_dims(dims, x.ndim) if x.ndim else ()
        # as torch: dims whose size is not 1 are left alone
        out = np.squeeze(x.data, tuple(d for d in dims if x.shape[d] == 1))
    return _unary(x, out, lambda g: (g.reshape(src),), "Squeeze")


def broadcast_to(x, shape):
    src = x.shape
    return _unary(x, np.broadcast_to(x.data, shape), lambda g: (_unbroadcast(g, src),), "Expand")


def _index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


def getitem(x, index):
    index = _index(index)
    xd = x.data
    out = xd[index]
    basic = _is_basic(index)

    def backward(g):
        gx = np.zeros_like(xd)
        if basic:
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return (gx,)
    return _unary(x, out, backward, "Index")


def cat(tensors, dim=0):
    tensors = list(tensors)
    arrays = [t.data for t in tensors]
    out = np.concatenate(arrays, axis=dim)
    bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]

    def backward(g):
        return tuple(np.split(g, bounds, axis=dim))
    return _result(out, tuple(tensors), backward, "Cat")


def stack(tensors, dim=0):
    return cat([unsqueeze(t, dim) for t in tensors], dim)


def where(condition, a, b):
    a, b = _binary_operands(a, b)
    c = _data(condition).astype(bool)
    ad, bd = _common(a, b)
    out = np.where(c, ad, bd)
    sa, sb = a.shape, b.shape
    return _result(out, (a, b), lambda g: (_unbroadcast(np.where(c, g, 0), sa),
                                            _unbroadcast(np.where(c, 0, g), sb)), "Where")
