"""Elementwise arithmetic, matrix products and where (torch's add, mul, exp, matmul, ...).

Each op records one node whose backward is a few NumPy calls, or a compiled GEMM for float32
matrix products; the operators and in-place twins are bound as Tensor methods at the end.
"""
import builtins
import numbers

import numpy as np

from ..backend import contiguous
from ..backend import table_of
from ..errors import ShapeError
from ..amp import AUTOCAST_SEEN as _AUTOCAST_SEEN, lowp as _lowp
from ..tensor import Tensor, float32
from .core import (_bind, _binary_operands, _common, _data, _result, _unary, _unbroadcast,
                   _write_out, builtins_float, check_devices)

def _scaled(b, alpha):
    """alpha * b for add/sub's alpha= (b a tensor or a number)."""
    return mul(b, alpha) if isinstance(b, Tensor) else b * alpha


def add(a, b, *, alpha=1, out=None):
    if alpha != 1:
        b = _scaled(b, alpha)
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    res = ad + bd
    sa, sb = a.shape, b.shape
    res = _result(res, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(g, sb)), "Add")
    return res if out is None else _write_out(res, out, "add")


_BOOL_SUB = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def sub(a, b, *, alpha=1, out=None):
    if alpha != 1:
        b = _scaled(b, alpha)
    if isinstance(b, bool) or isinstance(a, bool):
        raise RuntimeError(_BOOL_SUB)
    a, b = _binary_operands(a, b)
    if a.dtype == bool or b.dtype == bool:
        raise RuntimeError(_BOOL_SUB)
    ad, bd = _common(a, b)
    res = ad - bd
    sa, sb = a.shape, b.shape
    res = _result(res, (a, b), lambda g: (_unbroadcast(g, sa), _unbroadcast(-g, sb)), "Sub")
    return res if out is None else _write_out(res, out, "sub")


def mul(a, b, *, out=None):
    if out is not None:
        return _write_out(mul(a, b), out, "mul")
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b)
    out = ad * bd

    def backward(g):
        return (_unbroadcast(g * bd, ad.shape) if a.requires_grad else None,
                _unbroadcast(g * ad, bd.shape) if b.requires_grad else None)
    return _result(out, (a, b), backward, "Mul",
                   saved=(b if a.requires_grad else None, a if b.requires_grad else None))


def div(a, b, *, out=None):
    if out is not None:
        return _write_out(div(a, b), out, "div")
    a, b = _binary_operands(a, b)
    ad, bd = _common(a, b, floating=True)  # true division: int / int is float32
    out = ad / bd

    def backward(g):
        return (_unbroadcast(g / bd, ad.shape) if a.requires_grad else None,
                _unbroadcast(-g * out / bd, bd.shape) if b.requires_grad else None)
    return _result(out, (a, b), backward, "Div", saved=(b,), saves_output=b.requires_grad)


def pow(base, exponent, *, out=None):
    if out is not None:
        return _write_out(pow(base, exponent), out, "pow")
    if isinstance(exponent, numbers.Number) and isinstance(base, Tensor):
        x = base._storage
        if x.dtype.kind not in "fc" and not isinstance(exponent, numbers.Integral):
            x = x.astype(float32)  # int tensor ** 0.5 is float32, as in PyTorch
        elif x.dtype == bool and not isinstance(exponent, bool):
            x = x.astype(np.int64)   # bool tensor ** 2 is int64
        out = np.power(x, exponent).astype(x.dtype, copy=False)

        def backward(g):
            if exponent == 0:  # d/dx x**0 = 0 everywhere, including x = 0
                return (np.zeros_like(g),)
            return (g * exponent * np.power(x, exponent - 1),)
        return _unary(base, out, backward, "Pow", saved=(base,))
    base, exponent = _binary_operands(base, exponent)
    bd, ed = _common(base, exponent)
    if bd.dtype == bool:
        raise NotImplementedError('"pow" not implemented for \'Bool\'')
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
    return _result(out, (base, exponent), backward, "Pow", saved=(base, exponent),
                   saves_output=True)


def _floating(arr):
    """Integer and bool inputs of exp/log/sqrt compute in float32, as in PyTorch."""
    return arr if arr.dtype.kind in "fc" else arr.astype(float32)


def exp(x, *, out=None):
    if out is not None:
        return _write_out(exp(x), out, "exp")
    out = np.exp(_floating(x._storage))
    return _unary(x, out, lambda g: (g * out,), "Exp", saves_output=True)


def log(x, *, out=None):
    if out is not None:
        return _write_out(log(x), out, "log")
    xd = _floating(x._storage)
    with np.errstate(divide="ignore", invalid="ignore"):   # -inf and nan, as torch, silently
        out = np.log(xd)
    return _unary(x, out, lambda g: (g / xd,), "Log", saved=(x,))


def sqrt(x, *, out=None):
    if out is not None:
        return _write_out(sqrt(x), out, "sqrt")
    with np.errstate(invalid="ignore"):
        out = np.sqrt(_floating(x._storage))
    return _unary(x, out, lambda g: (g / (2 * out),), "Sqrt", saves_output=True)


def abs(x, *, out=None):
    if out is not None:
        return _write_out(abs(x), out, "abs")
    xd = x._storage
    if xd.dtype == bool:
        raise NotImplementedError('"abs_cpu" not implemented for \'Bool\'')
    return _unary(x, np.abs(xd), lambda g: (g * np.sign(xd),), "Abs", saved=(x,))


def clamp(x, min=None, max=None):
    xd = x._storage
    if xd.dtype.kind in "biu" and any(isinstance(v, builtins_float) for v in (min, max)):
        xd = xd.astype(float32)   # int tensor clamped to float bounds is float32 in torch
    out = np.clip(xd, min, max) if (min is not None or max is not None) else xd.copy()

    def backward(g):
        mask = np.ones_like(xd, dtype=bool)
        if min is not None:
            mask &= xd >= min
        if max is not None:
            mask &= xd <= max
        return (g * mask,)
    return _unary(x, out.astype(xd.dtype, copy=False), backward, "Clamp", saved=(x,))


def _mm_2d(a, b, ta=False, tb=False, lp=False):
    """op(a) @ op(b) for 2-D arrays: compiled GEMM for float32, NumPy otherwise. lp: the
    precision, 0 fp32, 1 bf16 or 2 fp16 operands with fp32 accumulation (autocast: see
    lowp_of; a backward passes its forward's)."""
    if a.dtype == float32 and b.dtype == float32:
        a = contiguous(a)
        b = contiguous(b)
        m = a.shape[1] if ta else a.shape[0]
        n = b.shape[0] if tb else b.shape[1]
        K = table_of(a, b)
        out = K.empty((m, n), dtype=float32)
        if lp:
            K.sgemm(ta, tb, 1.0, a, b, 0.0, out, False, lp)
        else:
            K.sgemm(ta, tb, 1.0, a, b, 0.0, out)
        return out
    return (a.T if ta else a) @ (b.T if tb else b)


def lowp_of(*arrays):
    """The precision a matmul of these float arrays runs in now: 0 fp32, 1 bf16, 2 fp16
    (autocast, nnfast/amp)."""
    return _AUTOCAST_SEEN[0] and _lowp(table_of(*arrays))


def matmul(a, b, *, out=None):
    if out is not None:
        return _write_out(matmul(a, b), out, "matmul")
    a, b = _binary_operands(a, b)
    ad, bd = a._storage, b._storage
    if ad.ndim == 0 or bd.ndim == 0:
        raise ShapeError("matmul: both arguments need at least 1 dimension, "
                         f"got shapes {ad.shape} and {bd.shape}")
    if ad.ndim == 2 and bd.ndim == 2:
        if ad.shape[1] != bd.shape[0]:
            raise ShapeError(f"matmul: shapes {ad.shape} and {bd.shape} cannot be multiplied "
                             f"({ad.shape[1]} != {bd.shape[0]})")
        lp = lowp_of(ad, bd)
        out = _mm_2d(ad, bd, lp=lp)

        def backward(g):
            return (_mm_2d(g, bd, tb=True, lp=lp) if a.requires_grad else None,
                    _mm_2d(ad, g, ta=True, lp=lp) if b.requires_grad else None)
        return _result(out, (a, b), backward, "Mm",
                       saved=(b if a.requires_grad else None, a if b.requires_grad else None))
    if ad.ndim >= 2 and bd.ndim >= 2 and ad.dtype == float32 and bd.dtype == float32:
        return _matmul_batched(a, b)
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
    return _result(out, (a, b), backward, "Matmul",
                   saved=(b if a.requires_grad else None, a if b.requires_grad else None))


def _gemm_batched(x, y, tx=False, ty=False, lp=False):
    """op(x) @ op(y) over a common leading batch shape, one compiled GEMM per matrix."""
    batch = x.shape[:-2]
    nb = int(np.prod(batch))
    x3 = x.reshape((nb,) + x.shape[-2:])
    y3 = y.reshape((nb,) + y.shape[-2:])
    m = x.shape[-1] if tx else x.shape[-2]
    n = y.shape[-2] if ty else y.shape[-1]
    out = table_of(x3, y3).empty((x3.shape[0], m, n), float32)
    for i in range(x3.shape[0]):
        out[i] = _mm_2d(x3[i], y3[i], tx, ty, lp)
    return out.reshape(batch + (m, n))


def _matmul_batched(a, b):
    """float32 matmul of operands with >= 2 dims, at least one batched: batch dims broadcast,
    then the compiled GEMM per matrix (forward and both gradients)."""
    ad, bd = a._storage, b._storage
    if ad.shape[-1] != bd.shape[-2]:
        raise ShapeError(f"matmul: shapes {ad.shape} and {bd.shape} cannot be multiplied "
                         f"({ad.shape[-1]} != {bd.shape[-2]})")
    try:
        batch = np.broadcast_shapes(ad.shape[:-2], bd.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: shapes {ad.shape} and {bd.shape} cannot be multiplied "
                         "(batch dimensions do not broadcast)") from None
    ab = np.broadcast_to(ad, batch + ad.shape[-2:])
    bb = np.broadcast_to(bd, batch + bd.shape[-2:])
    lp = lowp_of(ad, bd)
    out = _gemm_batched(ab, bb, lp=lp)

    def backward(g):
        ga = _unbroadcast(_gemm_batched(g, bb, ty=True, lp=lp), ad.shape) \
            if a.requires_grad else None
        gb = _unbroadcast(_gemm_batched(ab, g, tx=True, lp=lp), bd.shape) \
            if b.requires_grad else None
        return ga, gb
    return _result(out, (a, b), backward, "Matmul",
                   saved=(b if a.requires_grad else None, a if b.requires_grad else None))


def where(condition, a, b):
    a, b = _binary_operands(a, b)
    c = _data(condition).astype(bool)
    ad, bd = _common(a, b)
    if c.__class__ is not ad.__class__ or c.__class__ is not bd.__class__:
        check_devices(c, ad, bd)
    out = np.where(c, ad, bd)
    sa, sb = a.shape, b.shape
    return _result(out, (a, b), lambda g: (_unbroadcast(np.where(c, g, 0), sa),
                                            _unbroadcast(np.where(c, 0, g), sb)), "Where")


def neg(x, *, out=None):
    if out is not None:
        return _write_out(neg(x), out, "neg")
    if x._storage.dtype == bool:
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")
    return _unary(x, -x._storage, lambda g: (-g,), "Neg")


def _method_add(self, other, alpha=1):
    return add(self, other if alpha == 1 else _scaled(other, alpha))


def _method_sub(self, other, alpha=1):
    return sub(self, other if alpha == 1 else _scaled(other, alpha))


def _add_(self, other, alpha=1):
    if alpha != 1:
        other = other * alpha
    return self._inplace_ufunc(np.add, other, add)


def _sub_(self, other, alpha=1):
    if alpha != 1:
        other = other * alpha
    return self._inplace_ufunc(np.subtract, other, sub)


def _mul_(self, other):
    if isinstance(other, Tensor) and other.requires_grad or self.requires_grad:
        return self._inplace(mul, other, keeps_input=isinstance(other, Tensor)
                             and other.requires_grad)
    return self._inplace_ufunc(np.multiply, other, mul)


def _div_(self, other, rounding_mode=None):
    if rounding_mode is not None:
        from .binary import div as div_mode
        return self._inplace(div_mode, other, rounding_mode=rounding_mode, keeps_input=True)
    if self.dtype.kind not in "fc":
        return self._inplace(div, other)   # raises: the float result can't go back to int
    return self._inplace(div, other, keeps_input=isinstance(other, Tensor)
                         and other.requires_grad)


_bind({
    "__add__": add, "__radd__": lambda self, o: add(o, self),
    "__sub__": sub, "__rsub__": lambda self, o: sub(o, self),
    "__mul__": mul, "__rmul__": lambda self, o: mul(o, self),
    "__truediv__": div, "__rtruediv__": lambda self, o: div(o, self),
    "__neg__": neg, "__pos__": lambda self: self,
    "__pow__": pow, "__rpow__": lambda self, b: pow(b, self),
    "__matmul__": matmul, "__rmatmul__": lambda self, o: matmul(o, self),
    "__iadd__": lambda self, o: _add_(self, o), "__isub__": lambda self, o: _sub_(self, o),
    "__imul__": _mul_, "__itruediv__": _div_,
    "add": _method_add, "sub": _method_sub, "subtract": _method_sub, "mul": mul,
    "multiply": mul, "div": div, "divide": div, "true_divide": div, "neg": neg,
    "negative": neg, "pow": pow, "exp": exp, "log": log, "sqrt": sqrt, "abs": abs,
    "absolute": abs, "clamp": clamp, "clip": clamp, "matmul": matmul, "mm": matmul,
    "add_": _add_, "sub_": _sub_, "subtract_": _sub_, "mul_": _mul_, "multiply_": _mul_,
    "div_": _div_, "divide_": _div_,
    "neg_": lambda self: self._inplace(neg), "exp_": lambda self: self._inplace(exp, keeps_input=False),
    "log_": lambda self: self._inplace(log, keeps_input=True),
    "sqrt_": lambda self: self._inplace(sqrt), "abs_": lambda self: self._inplace(abs, keeps_input=True),
    "pow_": lambda self, e: self._inplace(pow, e, keeps_input=True),
    "clamp_": lambda self, min=None, max=None: self._inplace(clamp, min, max, keeps_input=True),
    "clip_": lambda self, min=None, max=None: self._inplace(clamp, min, max, keeps_input=True),
})


def clone(x, memory_format=None):
    return _unary(x, x._storage.copy(), lambda g: (g,), "Clone")


_bind({"clone": clone})
