"""CudaArray: the storage of a CUDA tensor, an N-d strided view of one device block.

It speaks enough of NumPy's array interface (attributes, views, operators, and NumPy's
function and ufunc protocols) that the Tensor ops written against `_storage` run on the GPU
unchanged: `np.add(a, b)`, `a.sum(axis=1)`, `a[1:, None]`, `a.reshape(-1)` each reach a
CUDA kernel registered in `UFUNCS` or `FUNCS` by the family modules beside this one. A
NumPy function with no CUDA kernel raises NotImplementedError naming it, never copies to
the host behind the caller's back; `np.asarray(cuda_array)` raises as torch's `.numpy()` of
a CUDA tensor does.

NumPy's constructors (np.asarray, np.array, np.ascontiguousarray, np.empty, ...) do not
dispatch: ops call `backend.contiguous` and the table's allocators instead.

Views (slices, transposes, broadcasts, reshapes of contiguous data) share the block and
carry element strides and an element offset. Kernels take `a.flat` (a contiguous 1-D Numba
view) or `a.nb` (shaped); `ascontiguous(a)` copies a strided view first.

Not here: the kernels themselves (elementwise.py, reduce.py, index.py and the families),
dtype-reinterpreting views, Fortran order, more than one GPU.
"""
import numbers
import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_tuple

from ...device import device as _device_cls
from .._device_array import DeviceArray
from . import memory

DEVICE = _device_cls("cuda", 0)
UFUNCS = {}   # np.ufunc -> fn(method, *inputs, **kwargs)
FUNCS = {}    # NumPy function -> fn(*args, **kwargs), same signature as NumPy's
HOOKS = {}    # "getitem", "setitem", "copy", "fill": kernels registered by the families


def implements(*np_funcs):
    def reg(fn):
        for f in np_funcs:
            FUNCS[f] = fn
        return fn
    return reg


def implements_ufunc(*ufuncs):
    def reg(fn):
        for u in ufuncs:
            UFUNCS[u] = fn
        return fn
    return reg


def missing(what):
    return NotImplementedError(
        f"nnfast's CUDA backend has no kernel for {what}; move the tensor to the CPU "
        "(.cpu()) for this op")


def _c_strides(shape):
    st, acc = [], 1
    for n in reversed(shape):
        st.append(acc)
        acc *= max(n, 1)
    return tuple(reversed(st))


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "writeable", "aligned", "owndata")

    def __init__(self, c, f):
        self.c_contiguous = c
        self.f_contiguous = f
        self.writeable = True
        self.aligned = True
        self.owndata = False

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "WRITEABLE": True, "ALIGNED": True}[key.upper()]


class CudaArray(DeviceArray):
    __slots__ = ("_block", "_off", "shape", "_est", "dtype", "size", "__weakref__")
    __array_priority__ = 2000
    device = DEVICE

    def __init__(self, block, off, shape, est, dtype):
        self._block = block      # memory.Block (shared by views)
        self._off = off          # element offset into the block
        self.shape = shape       # tuple of ints
        self._est = est          # element strides
        self.dtype = dtype
        n = 1
        for s in shape:
            n *= s
        self.size = n

    # ------------------------------------------------------------------ attributes
    ndim = property(lambda self: len(self.shape))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)
    strides = property(lambda self: tuple(s * self.dtype.itemsize for s in self._est))
    T = property(lambda self: self.transpose())
    base = property(lambda self: None)

    @property
    def is_contiguous(self):
        if self.size <= 1:
            return True
        want = 1
        for n, s in zip(reversed(self.shape), reversed(self._est)):
            if n != 1 and s != want:
                return False
            want *= n
        return True

    @property
    def flags(self):
        c = self.is_contiguous
        return _Flags(c, c and self.ndim <= 1)

    @property
    def flat(self):
        """The elements as a contiguous 1-D Numba device array (a view; C order)."""
        if not self.is_contiguous:
            raise ValueError("CudaArray.flat needs a contiguous array (use ascontiguous)")
        return self._block.buf[self._off:self._off + self.size]

    @property
    def nb(self):
        """A shaped Numba device array viewing the same memory (contiguous arrays only)."""
        f = self.flat
        return f.reshape(self.shape) if self.ndim != 1 else f

    def _view(self, shape, est, off=None):
        return CudaArray(self._block, self._off if off is None else off, tuple(shape),
                         tuple(est), self.dtype)

    # ------------------------------------------------------------------ host boundary
    def __array__(self, dtype=None, copy=None):
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() "
                        "to copy the tensor to host memory first.")

    def get(self):
        """A host copy (an ndarray of the same shape and dtype). The copy waits for the
        kernels before it: an error one of them raised names the op that launched last."""
        try:
            return self._get()
        except Exception as e:
            if type(e).__module__.startswith("numba") and "CUDA_ERROR" in str(e):
                from ._launch import last_op
                raise RuntimeError(f"CUDA error in or after {last_op() or 'an nnfast kernel'}: "
                                   f"{e}") from e
            raise

    def _get(self):
        if self.size == 0:
            return np.empty(self.shape, self.dtype)
        if self.is_contiguous:
            return self.flat.copy_to_host().reshape(self.shape)
        lo = self._off + sum(s * (n - 1) for s, n in zip(self._est, self.shape) if s < 0)
        hi = self._off + sum(s * (n - 1) for s, n in zip(self._est, self.shape) if s > 0)
        span = self._block.buf[lo:hi + 1].copy_to_host()
        view = np.lib.stride_tricks.as_strided(
            span[self._off - lo:], self.shape, self.strides)
        return np.array(view)

    def data_ptr(self):
        """The device address of the first element (torch's Tensor.data_ptr)."""
        buf = self._block.buf
        cai = getattr(buf, "__cuda_array_interface__", None)
        base = cai["data"][0] if cai else buf._ary.ctypes.data   # (the simulator's host array)
        return base + self._off * self.dtype.itemsize

    def tolist(self):
        return self.get().tolist()

    def item(self, *args):
        return self.get().item(*args)

    def __bool__(self):
        if self.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous")
        return bool(self.get().reshape(()))

    def __float__(self):
        return float(self.get().reshape(()))

    def __int__(self):
        return int(self.get().reshape(()))

    def __index__(self):
        if self.dtype.kind not in "iu":
            raise TypeError("only integer arrays can be used as an index")
        return int(self.get().reshape(()))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self):
        return f"CudaArray({self.get()!r}, device='cuda:0')"

    def __reduce__(self):
        return (from_host, (self.get(),))

    # ------------------------------------------------------------------ views
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
            shape = tuple(shape[0])
        shape = _resolve_shape(shape, self.size)
        if shape == self.shape:
            return self
        if self.is_contiguous:
            return self._view(shape, _c_strides(shape))
        return ascontiguous(self)._view(shape, _c_strides(shape))

    def ravel(self, order="C"):
        return self.reshape(-1)

    def flatten(self, order="C"):
        return copy(self).reshape(-1)

    def transpose(self, *axes):
        if not axes or axes == (None,):
            axes = tuple(range(self.ndim))[::-1]
        elif len(axes) == 1 and not isinstance(axes[0], numbers.Integral):
            axes = tuple(axes[0])
        axes = tuple(operator.index(a) % max(self.ndim, 1) for a in axes)
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError("axes don't match array")
        return self._view([self.shape[a] for a in axes], [self._est[a] for a in axes])

    def swapaxes(self, a, b):
        axes = list(range(self.ndim))
        axes[a], axes[b] = axes[b], axes[a]
        return self.transpose(axes)

    def squeeze(self, axis=None):
        if axis is None:
            keep = [i for i, n in enumerate(self.shape) if n != 1]
        else:
            drop = {a % self.ndim for a in ((axis,) if isinstance(axis, int) else axis)}
            for a in drop:
                if self.shape[a] != 1:
                    raise ValueError("cannot select an axis to squeeze out which has size "
                                     "not equal to one")
            keep = [i for i in range(self.ndim) if i not in drop]
        return self._view([self.shape[i] for i in keep], [self._est[i] for i in keep])

    def __getitem__(self, key):
        view = _basic_index(self, key)
        if view is not None:
            return view
        fn = HOOKS.get("getitem")
        if fn is None:
            raise missing("advanced indexing (integer or boolean index arrays)")
        return fn(self, key)

    def __setitem__(self, key, value):
        fn = HOOKS.get("setitem")
        if fn is None:
            raise missing("assignment into a CUDA array")
        fn(self, key, value)

    # ------------------------------------------------------------------ NumPy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = UFUNCS.get(ufunc)
        if fn is None:
            raise missing(f"numpy.{ufunc.__name__}" + ("" if method == "__call__"
                                                       else f".{method}"))
        return fn(method, *inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        fn = FUNCS.get(func)
        if fn is None:
            raise missing(f"numpy.{func.__name__}")
        return fn(*args, **kwargs)

    def copy(self, order="C"):
        return copy(self)

    def astype(self, dtype, copy=True, **kwargs):
        dtype = np.dtype(dtype)
        if dtype == self.dtype and not copy:
            return self
        fn = HOOKS.get("astype")
        if fn is None:
            raise missing("dtype conversion")
        return fn(self, dtype)

    def fill(self, value):
        fn = HOOKS.get("fill")
        if fn is None:
            raise missing("fill")
        fn(self, value)


def _forward_method(np_func):
    def method(self, *args, **kwargs):
        return np_func(self, *args, **kwargs)
    method.__name__ = np_func.__name__
    return method


for _name in ("sum", "mean", "prod", "max", "min", "argmax", "argmin", "any", "all", "var",
              "std", "cumsum", "cumprod", "clip", "round", "nonzero", "dot", "repeat",
              "take", "conj"):
    setattr(CudaArray, _name, _forward_method(getattr(np, _name)))

for _name, _uf in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply),
                   ("truediv", np.true_divide), ("floordiv", np.floor_divide),
                   ("mod", np.remainder), ("pow", np.power), ("matmul", np.matmul),
                   ("and", np.bitwise_and), ("or", np.bitwise_or), ("xor", np.bitwise_xor),
                   ("lshift", np.left_shift), ("rshift", np.right_shift)):
    setattr(CudaArray, f"__{_name}__", (lambda u: lambda s, o: u(s, o))(_uf))
    setattr(CudaArray, f"__r{_name}__", (lambda u: lambda s, o: u(o, s))(_uf))
    setattr(CudaArray, f"__i{_name}__", (lambda u: lambda s, o: u(s, o, out=s))(_uf))
for _name, _uf in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
                   ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)):
    setattr(CudaArray, f"__{_name}__", (lambda u: lambda s, o: u(s, o))(_uf))
CudaArray.__neg__ = lambda s: np.negative(s)
CudaArray.__pos__ = lambda s: s
CudaArray.__abs__ = lambda s: np.absolute(s)
CudaArray.__invert__ = lambda s: np.invert(s)
CudaArray.__hash__ = None


def _resolve_shape(shape, size):
    shape = tuple(operator.index(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = 1
        for s in shape:
            if s != -1:
                known *= s
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    n = 1
    for s in shape:
        n *= s
    if n != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


def _basic_index(a, key):
    """A view for ints, slices, None and Ellipsis; None when the key needs a kernel."""
    if not isinstance(key, tuple):
        key = (key,)
    for k in key:
        if not (k is None or k is Ellipsis or isinstance(k, slice)
                or (isinstance(k, numbers.Integral) and not isinstance(k, (bool, np.bool_)))):
            return None
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > a.ndim:
        raise IndexError(f"too many indices for array: array is {a.ndim}-dimensional, but "
                         f"{n_real} were indexed")
    if Ellipsis in key:
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (a.ndim - n_real) + key[i + 1:]
    else:
        key = key + (slice(None),) * (a.ndim - n_real)
    shape, est, off, d = [], [], a._off, 0
    for k in key:
        if k is None:
            shape.append(1)
            est.append(0)
            continue
        n, s = a.shape[d], a._est[d]
        if isinstance(k, slice):
            start, stop, step = k.indices(n)
            cnt = len(range(start, stop, step))
            shape.append(cnt)
            est.append(s * step)
            if cnt:
                off += start * s
        else:
            i = operator.index(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {d} with size {n}")
            off += (i % n) * s
        d += 1
    return a._view(shape, est, off)


# ---------------------------------------------------------------------- allocation
def empty(shape, dtype=np.float32, order="C", **kwargs):
    if isinstance(shape, numbers.Integral):
        shape = (int(shape),)
    shape = tuple(operator.index(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError("negative dimensions are not allowed")
    dtype = np.dtype(dtype)
    n = 1
    for s in shape:
        n *= s
    return CudaArray(memory.allocate(n, dtype), 0, shape, _c_strides(shape), dtype)


def empty_like(a, dtype=None, shape=None, **kwargs):
    return empty(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


def full(shape, value, dtype=None):
    dtype = np.dtype(dtype) if dtype is not None else np.asarray(value).dtype
    out = empty(shape, dtype)
    out.fill(value)
    return out


def zeros(shape, dtype=np.float32, **kwargs):
    return full(shape, 0, dtype)


def zeros_like(a, dtype=None, **kwargs):
    return zeros(a.shape, a.dtype if dtype is None else dtype)


def from_host(arr, dtype=None):
    """A device copy of a host array (any layout; C order on the device)."""
    arr = np.asarray(arr, dtype=dtype, order="C")   # ascontiguousarray makes 0-d 1-d
    out = empty(arr.shape, arr.dtype)
    if arr.size:
        out.flat.copy_to_device(arr.reshape(-1))
    return out


def to_host(a):
    return a.get() if isinstance(a, CudaArray) else np.asarray(a)


def copy(a):
    fn = HOOKS.get("copy")
    if fn is None:
        raise missing("copy")
    out = empty(a.shape, a.dtype)
    fn(out, a)
    return out


def ascontiguous(a, dtype=None):
    if dtype is not None and np.dtype(dtype) != a.dtype:
        return a.astype(dtype)
    return a if a.is_contiguous else copy(a)


@implements(np.copy)
def _np_copy(a, order="K", subok=False):
    return copy(a)


@implements(np.empty_like)
def _np_empty_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return empty_like(a, dtype, shape)


@implements(np.zeros_like)
def _np_zeros_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return zeros(a.shape if shape is None else shape, a.dtype if dtype is None else dtype)


@implements(np.ones_like)
def _np_ones_like(a, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return full(a.shape if shape is None else shape, 1, a.dtype if dtype is None else dtype)


@implements(np.full_like)
def _np_full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    return full(a.shape if shape is None else shape, fill_value,
                a.dtype if dtype is None else dtype)


@implements(np.shape)
def _np_shape(a):
    return a.shape


@implements(np.ndim)
def _np_ndim(a):
    return a.ndim


@implements(np.size)
def _np_size(a, axis=None):
    return a.size if axis is None else a.shape[axis]


@implements(np.reshape)
def _np_reshape(a, *args, **kwargs):
    shape = kwargs.pop("shape", kwargs.pop("newshape", None))
    if shape is None:
        shape = args[0]
    return a.reshape(shape)


@implements(np.ravel)
def _np_ravel(a, order="C"):
    return a.reshape(-1)


@implements(np.transpose)
def _np_transpose(a, axes=None):
    return a.transpose(axes) if axes is not None else a.transpose()


@implements(np.swapaxes)
def _np_swapaxes(a, a1, a2):
    return a.swapaxes(a1, a2)


@implements(np.moveaxis)
def _np_moveaxis(a, source, destination):
    src = normalize_axis_tuple(source, a.ndim, "source")
    dst = normalize_axis_tuple(destination, a.ndim, "destination")
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number "
                         "of elements")
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return a.transpose(order)


@implements(np.squeeze)
def _np_squeeze(a, axis=None):
    return a.squeeze(axis)


@implements(np.expand_dims)
def _np_expand_dims(a, axis):
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = a.ndim + len(axes)
    axes = sorted(normalize_axis_tuple(axes, nd))
    shape, est = list(a.shape), list(a._est)
    for x in axes:
        shape.insert(x, 1)
        est.insert(x, 0)
    return a._view(shape, est)


@implements(np.broadcast_to)
def _np_broadcast_to(a, shape, subok=False):
    shape = tuple(shape)
    nlead = len(shape) - a.ndim
    if nlead < 0:
        raise ValueError("input operand has more dimensions than allowed by the axis remapping")
    est = [0] * nlead
    for n, want, s in zip(a.shape, shape[nlead:], a._est):
        if n == want:
            est.append(s)
        elif n == 1:
            est.append(0)
        else:
            raise ValueError(f"operands could not be broadcast together with remapped shapes "
                             f"[original->remapped]: {a.shape} and requested shape {shape}")
    return a._view(shape, est)


@implements(np.result_type)
def _np_result_type(*args):
    return np.result_type(*[x.dtype if isinstance(x, CudaArray) else x for x in args])
