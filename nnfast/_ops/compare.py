"""Comparisons (eq, lt, ... and their operators), value tests (isnan, isinf, isfinite, ...),
isclose / allclose / equal, logical_and/or/xor/not, and the bitwise functions and operators
& | ^ ~ << >> on bool and integer tensors (torch's names, aliases, `out=`, in-place twins).

Comparisons compare in the operands' promoted dtype, as PyTorch does (a float32 tensor
against the Python float 0.1 compares with float32(0.1)); results are bool and carry no
gradient.
"""
import numbers

import numpy as np

from ..tensor import Tensor, bool_
from .core import (_as_tensor, _bind, _binary_operands, _common, _write_out, full_on,
                   host_only, zeros_on)
from . import elementwise as ew
from .binary import _check_broadcast


def _pair(a, b, who):
    """Both operands as tensors, with torch's errors for a non-numeric or unbroadcastable one."""
    if not isinstance(b, (Tensor, numbers.Number, np.ndarray, list, tuple)):
        raise TypeError(f"{who}(): argument 'other' must be Tensor or Number, "
                        f"not {type(b).__name__}")
    a, b = _binary_operands(_as_tensor(a, who), b)
    if a.shape != b.shape:
        _check_broadcast(a.shape, b.shape)
    return a, b


def _operands(a, b, who):
    return _common(*_pair(a, b, who))


def _comparison(name, np_fn):
    def op(input, other, *, out=None):
        ad, bd = _operands(input, other, name)
        return _write_out(Tensor._make(np_fn(ad, bd)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


eq = _comparison("eq", np.equal)
ne = _comparison("ne", np.not_equal)
lt = _comparison("lt", np.less)
le = _comparison("le", np.less_equal)
gt = _comparison("gt", np.greater)
ge = _comparison("ge", np.greater_equal)


def _dunder(op, if_other_type):
    """The operator form: `t == None` is False (and `!=` True) as in PyTorch; other
    non-numeric operands give NotImplemented so that Python can try the reflected side."""
    def method(self, other):
        if other is None or not isinstance(other, (Tensor, numbers.Number, np.ndarray,
                                                   list, tuple)):
            return if_other_type
        return op(self, other)
    return method


def _test(name, np_fn):
    def op(input, *, out=None):
        x = _as_tensor(input, name)
        xd = x._storage
        res = np_fn(xd) if xd.dtype.kind in "fc" else \
            full_on(xd, xd.shape, name == "isfinite", bool_)
        return _write_out(Tensor._make(res), out, name)
    op.__name__ = op.__qualname__ = name
    return op


isnan = _test("isnan", np.isnan)
isinf = _test("isinf", np.isinf)
isfinite = _test("isfinite", np.isfinite)
isposinf = _test("isposinf", np.isposinf)
isneginf = _test("isneginf", np.isneginf)


def isreal(input):
    x = _as_tensor(input, "isreal")
    xd = x._storage
    return Tensor._make(np.asarray(xd.imag == 0) if xd.dtype.kind == "c"
                        else full_on(xd, xd.shape, True, bool_))


def signbit(input, *, out=None):
    x = _as_tensor(input, "signbit")
    xd = x._storage
    res = np.signbit(xd) if xd.dtype.kind != "b" else zeros_on(xd, xd.shape, bool_)
    return _write_out(Tensor._make(res), out, "signbit")


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    e = _as_tensor(elements, "isin")
    t = test_elements._storage if isinstance(test_elements, Tensor) else test_elements
    host_only("isin", e._storage, t if isinstance(test_elements, Tensor) else None)
    return Tensor._make(np.asarray(np.isin(e._storage, t, assume_unique=assume_unique,
                                           invert=invert)))


def _same_dtype(a, b, who):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{who}(): expected two Tensors, got {type(a).__name__} and "
                        f"{type(b).__name__}")
    if a.dtype != b.dtype:
        raise RuntimeError(f"{ew._word(a.dtype)} did not match {ew._word(b.dtype)}")


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise (equal infinities are close)."""
    _same_dtype(input, other, "isclose")
    if rtol < 0:
        raise RuntimeError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if atol < 0:
        raise RuntimeError(f"atol must be greater than or equal to zero, but got {atol}")
    a, b = input._storage, other._storage
    if a.shape != b.shape:
        _check_broadcast(a.shape, b.shape)
    if a.dtype.kind not in "fc":
        a, b = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(all="ignore"):
        res = np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return Tensor._make(res)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(isclose(input, other, rtol, atol, equal_nan)._storage.all())


def equal(input, other):
    """True when both tensors have the same shape and elements."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        raise TypeError(f"equal(): expected two Tensors, got {type(input).__name__} and "
                        f"{type(other).__name__}")
    return input.shape == other.shape and bool(np.array_equal(input._storage, other._storage))


# ===================================================================== logical and bitwise

def _logical(name, np_fn):
    def op(input, other, *, out=None):
        a, b = _pair(input, other, name)
        return _write_out(Tensor._make(np_fn(a._storage != 0, b._storage != 0)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


logical_and = _logical("logical_and", np.logical_and)
logical_or = _logical("logical_or", np.logical_or)
logical_xor = _logical("logical_xor", np.logical_xor)


def logical_not(input, *, out=None):
    x = _as_tensor(input, "logical_not")
    return _write_out(Tensor._make(x._storage == 0), out, "logical_not")


def _bitwise(name, np_fn, bool_ok=True):
    def op(input, other, *, out=None):
        ad, bd = _operands(input, other, name)
        if ad.dtype.kind not in "iub" or ad.dtype == bool_ and not bool_ok:
            raise ew._not_for(name, ad.dtype)
        return _write_out(Tensor._make(np_fn(ad, bd)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


bitwise_and = _bitwise("bitwise_and", np.bitwise_and)
bitwise_or = _bitwise("bitwise_or", np.bitwise_or)
bitwise_xor = _bitwise("bitwise_xor", np.bitwise_xor)
bitwise_left_shift = _bitwise("bitwise_left_shift", np.left_shift, bool_ok=False)
bitwise_right_shift = _bitwise("bitwise_right_shift", np.right_shift, bool_ok=False)


def bitwise_not(input, *, out=None):
    x = _as_tensor(input, "bitwise_not")
    if x.dtype.kind not in "iub":
        raise ew._not_for("bitwise_not", x.dtype)
    return _write_out(Tensor._make(np.invert(x._storage)), out, "bitwise_not")


def _bit_operator(fn):
    def method(self, other):
        if not isinstance(other, (Tensor, numbers.Number, np.ndarray)):
            return NotImplemented
        return fn(self, other)
    return method


def _invert(self):
    if self.dtype.kind not in "iub":
        raise TypeError("~ (operator.invert) is only implemented on integer and Boolean-type "
                        "tensors")
    return bitwise_not(self)


PUBLIC = {f.__name__: f for f in (eq, ne, lt, le, gt, ge, isnan, isinf, isfinite, isposinf,
                                  isneginf, isreal, signbit, isin, isclose, allclose, equal,
                                  logical_and, logical_or, logical_xor, logical_not,
                                  bitwise_and, bitwise_or, bitwise_xor, bitwise_left_shift,
                                  bitwise_right_shift, bitwise_not)}
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne   # torch's aliases
PUBLIC.update({"greater": greater, "greater_equal": greater_equal, "less": less,
               "less_equal": less_equal, "not_equal": not_equal})

_methods = {name: fn for name, fn in PUBLIC.items() if name != "isin"}
for _name in ("eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
              "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor",
              "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift",
              "bitwise_right_shift", "bitwise_not"):
    _methods[_name + "_"] = (lambda fn: lambda self, other: self._inplace(fn, other))(
        PUBLIC[_name])
_methods.update({
    "__eq__": _dunder(eq, False), "__ne__": _dunder(ne, True),
    "__lt__": _dunder(lt, NotImplemented), "__le__": _dunder(le, NotImplemented),
    "__gt__": _dunder(gt, NotImplemented), "__ge__": _dunder(ge, NotImplemented),
    "__and__": _bit_operator(bitwise_and), "__or__": _bit_operator(bitwise_or),
    "__xor__": _bit_operator(bitwise_xor),
    "__rand__": _bit_operator(lambda s, o: bitwise_and(o, s)),
    "__ror__": _bit_operator(lambda s, o: bitwise_or(o, s)),
    "__rxor__": _bit_operator(lambda s, o: bitwise_xor(o, s)),
    "__iand__": lambda self, o: self._inplace(bitwise_and, o),
    "__ior__": lambda self, o: self._inplace(bitwise_or, o),
    "__ixor__": lambda self, o: self._inplace(bitwise_xor, o),
    "__lshift__": _bit_operator(bitwise_left_shift),
    "__rshift__": _bit_operator(bitwise_right_shift),
    "__rlshift__": _bit_operator(lambda s, o: bitwise_left_shift(o, s)),
    "__rrshift__": _bit_operator(lambda s, o: bitwise_right_shift(o, s)),
    "__ilshift__": lambda self, o: self._inplace(bitwise_left_shift, o),
    "__irshift__": lambda self, o: self._inplace(bitwise_right_shift, o),
    "__invert__": _invert,
})
_bind(_methods)
Tensor.__hash__ = lambda self: id(self)   # __eq__ is elementwise, hashing stays by identity
