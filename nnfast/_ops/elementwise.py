"""Elementwise math beyond arith.py: trigonometric and hyperbolic functions, exp2/log2/...,
rounding, sigmoid/tanh/relu, erf, binary ops (atan2, maximum, fmod, remainder, div with a
rounding mode, ...), lerp/addcmul/addcdiv, logical and bitwise ops (torch's names, aliases,
`out=` and in-place twins).

Integer and bool inputs of the floating functions compute in float32, as in PyTorch; rounding
and sign keep integer dtypes. Each op records one node whose backward is a few NumPy calls.
erf and erfc evaluate math.erf element by element (NumPy has no erf): exact, not fast.
"""
import math
import numbers

import numpy as np

from ..tensor import Tensor, bool_, float32, float64, int64
from .core import (_as_tensor, _bind, _binary_operands, _common, _result, _unary, _unbroadcast,
                   _write_out)
from . import arith

_LN2, _LN10 = math.log(2.0), math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
_WORDS = {"f": "Float", "i": "Long", "u": "Byte", "b": "Bool", "c": "ComplexFloat"}


def _word(dt):
    if dt == float64:
        return "Double"
    if dt == np.float16:
        return "Half"
    if dt.kind == "i" and dt.itemsize < 8:
        return {4: "Int", 2: "Short", 1: "Char"}[dt.itemsize]
    return _WORDS[dt.kind]


def _not_for(who, dt):
    return NotImplementedError(f'"{who}" not implemented for \'{_word(dt)}\'')


def _floating(arr):
    return arr if arr.dtype.kind in "fc" else arr.astype(float32)


def _grad(t, g):
    """g summed to t's shape in t's dtype; None when t needs no gradient."""
    if not t.requires_grad:
        return None
    return _unbroadcast(g, t.shape).astype(t.dtype, copy=False)


def _vec(fn):
    f = np.frompyfunc(fn, 1, 1)
    return lambda x: np.asarray(f(x)).astype(x.dtype)


_erf, _erfc = _vec(math.erf), _vec(math.erfc)


def _erfinv(y):
    """Inverse of erf: a rational first guess refined by Newton steps on math.erf."""
    y64 = np.asarray(y, float64)
    a = 0.147
    ln = np.log1p(-y64 * y64)
    t = 2 / (math.pi * a) + ln / 2
    x = np.sign(y64) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    inner = np.isfinite(x)
    for _ in range(3):
        err = _erf(np.where(inner, x, 0.0)) - y64
        x = np.where(inner, x - err / (_TWO_OVER_SQRT_PI * np.exp(-x * x)), x)
    return x.astype(y.dtype)


# ===================================================================== unary ops
# name -> (node name, forward(x), backward(g, x, y), what backward reads: "x", "y" or "")
_FLOAT_UNARY = {
    "sin": ("Sin", np.sin, lambda g, x, y: g * np.cos(x), "x"),
    "cos": ("Cos", np.cos, lambda g, x, y: -g * np.sin(x), "x"),
    "tan": ("Tan", np.tan, lambda g, x, y: g * (1 + y * y), "y"),
    "asin": ("Asin", np.arcsin, lambda g, x, y: g / np.sqrt(1 - x * x), "x"),
    "acos": ("Acos", np.arccos, lambda g, x, y: -g / np.sqrt(1 - x * x), "x"),
    "atan": ("Atan", np.arctan, lambda g, x, y: g / (1 + x * x), "x"),
    "sinh": ("Sinh", np.sinh, lambda g, x, y: g * np.cosh(x), "x"),
    "cosh": ("Cosh", np.cosh, lambda g, x, y: g * np.sinh(x), "x"),
    "asinh": ("Asinh", np.arcsinh, lambda g, x, y: g / np.sqrt(x * x + 1), "x"),
    "acosh": ("Acosh", np.arccosh, lambda g, x, y: g / np.sqrt(x * x - 1), "x"),
    "atanh": ("Atanh", np.arctanh, lambda g, x, y: g / (1 - x * x), "x"),
    "exp2": ("Exp2", np.exp2, lambda g, x, y: g * y * _LN2, "y"),
    "expm1": ("Expm1", np.expm1, lambda g, x, y: g * (y + 1), "y"),
    "log2": ("Log2", np.log2, lambda g, x, y: g / (x * _LN2), "x"),
    "log10": ("Log10", np.log10, lambda g, x, y: g / (x * _LN10), "x"),
    "log1p": ("Log1P", np.log1p, lambda g, x, y: g / (1 + x), "x"),
    "rsqrt": ("Rsqrt", lambda x: 1 / np.sqrt(x), lambda g, x, y: -0.5 * g * y * y * y, "y"),
    "reciprocal": ("Reciprocal", lambda x: 1 / x, lambda g, x, y: -g * y * y, "y"),
    "erf": ("Erf", _erf, lambda g, x, y: g * _TWO_OVER_SQRT_PI * np.exp(-x * x), "x"),
    "erfc": ("Erfc", _erfc, lambda g, x, y: -g * _TWO_OVER_SQRT_PI * np.exp(-x * x), "x"),
    "erfinv": ("Erfinv", _erfinv, lambda g, x, y: g * _SQRT_PI_OVER_2 * np.exp(y * y), "y"),
    "deg2rad": ("Deg2Rad", np.deg2rad, lambda g, x, y: g * (math.pi / 180), ""),
    "rad2deg": ("Rad2Deg", np.rad2deg, lambda g, x, y: g * (180 / math.pi), ""),
    "sigmoid": ("Sigmoid", lambda x: 1 / (1 + np.exp(-x)), lambda g, x, y: g * y * (1 - y), "y"),
    "tanh": ("Tanh", np.tanh, lambda g, x, y: g * (1 - y * y), "y"),
}


def _float_unary(name, node, fwd, bwd, reads):
    def op(input, *, out=None):
        x = _as_tensor(input, name)
        xd = _floating(x._storage)
        with np.errstate(all="ignore"):
            y = np.asarray(fwd(xd)).astype(xd.dtype, copy=False)

        def backward(g):
            with np.errstate(all="ignore"):
                return (np.asarray(bwd(g, xd, y)).astype(xd.dtype, copy=False),)
        res = _unary(x, y, backward, node, saved=(x,) if reads == "x" else (),
                     saves_output=reads == "y")
        return _write_out(res, out, name)
    op.__name__ = op.__qualname__ = name
    return op


_UNARY = {name: _float_unary(name, *spec) for name, spec in _FLOAT_UNARY.items()}
sin, cos, tan, asin, acos, atan = (_UNARY[n] for n in ("sin", "cos", "tan", "asin", "acos",
                                                       "atan"))
sinh, cosh, asinh, acosh, atanh = (_UNARY[n] for n in ("sinh", "cosh", "asinh", "acosh",
                                                       "atanh"))
exp2, expm1, log2, log10, log1p = (_UNARY[n] for n in ("exp2", "expm1", "log2", "log10",
                                                       "log1p"))
rsqrt, reciprocal, erf, erfc, erfinv = (_UNARY[n] for n in ("rsqrt", "reciprocal", "erf",
                                                            "erfc", "erfinv"))
deg2rad, rad2deg = _UNARY["deg2rad"], _UNARY["rad2deg"]
_np_sigmoid, _np_tanh = _UNARY["sigmoid"], _UNARY["tanh"]


def sigmoid(input, *, out=None):
    """1 / (1 + exp(-x)); float32 and float64 run the compiled kernel of csrc/act.c."""
    x = _as_tensor(input, "sigmoid")
    if x.dtype in (float32, float64) and out is None:
        from ..nn._functional_act import sigmoid as kernel
        return kernel(x)
    return _np_sigmoid(x, out=out)


def tanh(input, *, out=None):
    x = _as_tensor(input, "tanh")
    if x.dtype in (float32, float64) and out is None:
        from ..nn._functional_act import tanh as kernel
        return kernel(x)
    return _np_tanh(x, out=out)


def relu(input):
    """max(x, 0); integer tensors stay integer, bool is refused (as in PyTorch)."""
    x = _as_tensor(input, "relu")
    if x.dtype in (float32, float64):
        from ..nn._functional_act import relu as kernel
        return kernel(x)
    xd = x._storage
    if xd.dtype == bool_:
        raise RuntimeError("Boolean inputs not supported for relu")
    pos = ~(xd < 0)
    return _unary(x, np.where(pos, xd, xd.dtype.type(0)), lambda g: (g * (xd > 0),), "Relu",
                  saved=(x,))


def _keep_unary(name, node, fwd, int_fwd=np.copy, grad_zero=True, bool_ok=False):
    """An op that keeps its input's dtype (rounding, sign): int_fwd on integers."""
    def op(input, *, out=None):
        x = _as_tensor(input, name)
        xd = x._storage
        if xd.dtype == bool_ and not bool_ok or int_fwd is None and xd.dtype.kind in "iub":
            raise _not_for(name, xd.dtype)
        y = fwd(xd) if xd.dtype.kind in "fc" else int_fwd(xd)
        y = np.asarray(y).astype(xd.dtype, copy=False)
        bw = (lambda g: (np.zeros_like(g),)) if grad_zero else (lambda g: (g,))
        return _write_out(_unary(x, y, bw, node), out, name)
    op.__name__ = op.__qualname__ = name
    return op


floor = _keep_unary("floor", "Floor", np.floor)
ceil = _keep_unary("ceil", "Ceil", np.ceil)
trunc = _keep_unary("trunc", "Trunc", np.trunc)
frac = _keep_unary("frac", "Frac", lambda x: x - np.trunc(x), int_fwd=None, grad_zero=False)
sign = _keep_unary("sign", "Sign", lambda x: np.nan_to_num(np.sign(x), nan=0.0),
                   int_fwd=lambda x: x.copy() if x.dtype == bool_ else np.sign(x), bool_ok=True)


def round(input, *, decimals=0, out=None):   # noqa: A001 - torch.round
    """Round half to even, to `decimals` places (as torch.round)."""
    x = _as_tensor(input, "round")
    xd = x._storage
    if xd.dtype == bool_ or xd.dtype.kind in "iu" and decimals != 0:
        raise _not_for("round", xd.dtype)
    y = np.round(xd, decimals) if xd.dtype.kind == "f" else xd.copy()
    return _write_out(_unary(x, y, lambda g: (np.zeros_like(g),), "Round"), out, "round")


def square(input, *, out=None):
    x = _as_tensor(input, "square")
    xd = x._storage
    if xd.dtype == bool_:
        xd = xd.astype(int64)
    return _write_out(_unary(x, xd * xd, lambda g: (2 * g * xd,), "Pow", saved=(x,)),
                      out, "square")


# ===================================================================== binary ops

def _check_broadcast(sa, sb):
    """PyTorch's message for operands whose shapes do not broadcast."""
    for i in range(1, min(len(sa), len(sb)) + 1):
        x, y = sa[-i], sb[-i]
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b "
                               f"({y}) at non-singleton dimension {max(len(sa), len(sb)) - i}")


def _binary(name, a, b, floating=False):
    if not isinstance(b, (Tensor, numbers.Number, np.ndarray, list, tuple)):
        raise TypeError(f"{name}(): argument 'other' must be Tensor or Number, "
                        f"not {type(b).__name__}")
    a, b = _binary_operands(_as_tensor(a, name), b)
    if a.shape != b.shape:
        _check_broadcast(a.shape, b.shape)
    ad, bd = _common(a, b, floating=floating)
    return a, b, ad, bd


def atan2(input, other, *, out=None):
    a, b, ad, bd = _binary("atan2", input, other, floating=True)
    y = np.arctan2(ad, bd)

    def backward(g):
        den = ad * ad + bd * bd
        with np.errstate(all="ignore"):
            return (_grad(a, np.where(den == 0, 0, g * bd / den)),
                    _grad(b, np.where(den == 0, 0, -g * ad / den)))
    return _write_out(_result(y, (a, b), backward, "Atan2", saved=(a, b)), out, "atan2")


def _extremum(name, node, np_fn, keep_a, keep_b=None):
    """maximum/minimum (NaN propagates, ties share the gradient) and fmax/fmin (NaN skipped).

    keep_a / keep_b: where each input receives the gradient (PyTorch's masks: for maximum a
    NaN on either side sends the whole gradient to both inputs)."""
    def op(input, other, *, out=None):
        a, b, ad, bd = _binary(name, input, other)
        y = np_fn(ad, bd)

        def backward(g):
            ka = keep_a(ad, bd)
            if keep_b is not None:
                half = np.where(ad == bd, g / 2, g)
                return (_grad(a, np.where(ka, half, 0)),
                        _grad(b, np.where(keep_b(ad, bd), half, 0)))
            return _grad(a, np.where(ka, g, 0)), _grad(b, np.where(ka, 0, g))
        return _write_out(_result(y, (a, b), backward, node, saved=(a, b)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


maximum = _extremum("maximum", "Maximum", np.maximum, lambda a, b: ~(a < b),
                   lambda a, b: ~(a > b))
minimum = _extremum("minimum", "Minimum", np.minimum, lambda a, b: ~(a > b),
                   lambda a, b: ~(a < b))
fmax = _extremum("fmax", "Fmax", np.fmax, lambda a, b: (a >= b) | np.isnan(b))
fmin = _extremum("fmin", "Fmin", np.fmin, lambda a, b: (a <= b) | np.isnan(b))


def _int_divisor_check(bd):
    if bd.dtype.kind in "iub" and np.any(bd == 0):
        raise RuntimeError("ZeroDivisionError")


def _mod(name, node, np_fn, quotient):
    def op(input, other, *, out=None):
        a, b, ad, bd = _binary(name, input, other)
        if ad.dtype == bool_:
            raise _not_for(name, ad.dtype)
        _int_divisor_check(bd)
        with np.errstate(all="ignore"):
            y = np_fn(ad, bd)

        def backward(g):
            with np.errstate(all="ignore"):
                return _grad(a, g), _grad(b, -g * quotient(ad / bd))
        return _write_out(_result(y, (a, b), backward, node, saved=(a, b)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


fmod = _mod("fmod", "Fmod", np.fmod, np.trunc)
remainder = _mod("remainder", "Remainder", np.remainder, np.floor)


def _trunc_divide(ad, bd):
    if ad.dtype.kind == "f":
        return np.trunc(ad / bd)
    q = ad // bd
    return q + ((q < 0) & (q * bd != ad)).astype(q.dtype)


def _no_derivative(name):
    def backward(g):
        raise RuntimeError(f"derivative for aten::{name} is not implemented")
    return backward


def floor_divide(input, other, *, out=None):
    a, b, ad, bd = _binary("floor_divide", input, other)
    if ad.dtype == bool_:
        raise _not_for("div_floor", ad.dtype)
    _int_divisor_check(bd)
    with np.errstate(all="ignore"):
        y = np.floor_divide(ad, bd)
    return _write_out(_result(y, (a, b), _no_derivative("floor_divide"), "NotImplemented"),
                      out, "floor_divide")


def div(input, other, *, rounding_mode=None, out=None):
    """True division (rounding_mode=None), or rounded toward zero ('trunc') or down ('floor')
    in the inputs' promoted dtype, as torch.div."""
    if rounding_mode is None:
        return _write_out(arith.div(input, other), out, "div")
    if rounding_mode not in ("trunc", "floor"):
        raise RuntimeError("div expected rounding_mode to be one of None, 'trunc', or 'floor' "
                           f"but found '{rounding_mode}'")
    a, b, ad, bd = _binary("div", input, other)
    if ad.dtype == bool_:
        ad, bd = ad.astype(int64), bd.astype(int64)
    _int_divisor_check(bd)
    with np.errstate(all="ignore"):
        y = np.floor_divide(ad, bd) if rounding_mode == "floor" else _trunc_divide(ad, bd)
    return _write_out(_result(y, (a, b), lambda g: (_grad(a, g * 0), _grad(b, g * 0)), "Div"),
                      out, "div")


def _tensorish(x, ref):
    return x if isinstance(x, Tensor) else _binary_operands(x, ref)[0]


def lerp(input, end, weight, *, out=None):
    """input + weight * (end - input); weight a number or a tensor."""
    a, e = _binary_operands(input, end)
    if a.dtype != e.dtype:
        raise RuntimeError(f"expected dtype {_word(a.dtype).lower()} for `end` but got dtype "
                           f"{_word(e.dtype).lower()}")
    if a.dtype.kind not in "fc":
        raise _not_for("lerp_kernel_scalar", a.dtype)
    w = _tensorish(weight, a)
    ad, ed, wd = a._storage, e._storage, w._storage.astype(a.dtype, copy=False)
    y = ad + wd * (ed - ad)

    def backward(g):
        return _grad(a, g * (1 - wd)), _grad(e, g * wd), _grad(w, g * (ed - ad))
    return _write_out(_result(y, (a, e, w), backward, "Lerp", saved=(a, e, w)), out, "lerp")


def _three(name, input, t1, t2):
    x = _as_tensor(input, name)
    p, q = _binary_operands(t1, t2)
    pd, qd = _common(p, q)
    return x, p, q, pd, qd


def addcmul(input, tensor1, tensor2, *, value=1, out=None):
    x, p, q, pd, qd = _three("addcmul", input, tensor1, tensor2)
    prod = pd * qd
    xd, pr = _common(x, Tensor._make(prod))
    y = xd + value * pr if value != 1 else xd + pr

    def backward(g):
        return _grad(x, g), _grad(p, g * value * qd), _grad(q, g * value * pd)
    return _write_out(_result(y.astype(xd.dtype, copy=False), (x, p, q), backward, "Addcmul",
                              saved=(p, q)), out, "addcmul")


def addcdiv(input, tensor1, tensor2, *, value=1, out=None):
    x, p, q, pd, qd = _three("addcdiv", input, tensor1, tensor2)
    if pd.dtype.kind not in "fc":
        raise RuntimeError("Integer division with addcdiv is no longer supported, and in a "
                           "future release addcdiv will perform a true division of tensor1 "
                           "and tensor2. Use torch.addcmul(input, tensor1, 1 / tensor2) "
                           "instead.")
    with np.errstate(all="ignore"):
        quot = pd / qd
    xd, qt = _common(x, Tensor._make(quot))
    y = xd + value * qt if value != 1 else xd + qt

    def backward(g):
        with np.errstate(all="ignore"):
            return (_grad(x, g), _grad(p, g * value / qd), _grad(q, -g * value * pd / (qd * qd)))
    return _write_out(_result(y.astype(xd.dtype, copy=False), (x, p, q), backward, "Addcdiv",
                              saved=(p, q)), out, "addcdiv")


def hypot(input, other, *, out=None):
    a, b, ad, bd = _binary("hypot", input, other)
    if ad.dtype.kind not in "fc":
        raise _not_for("hypot", ad.dtype)
    y = np.hypot(ad, bd)

    def backward(g):
        with np.errstate(all="ignore"):
            return _grad(a, g * ad / y), _grad(b, g * bd / y)
    return _write_out(_result(y, (a, b), backward, "Hypot", saved=(a, b), saves_output=True),
                      out, "hypot")


def xlogy(input, other, *, out=None):
    """x * log(y), 0 where x == 0 (unless y is NaN)."""
    a, b, ad, bd = _binary("xlogy", input, other, floating=True)
    with np.errstate(all="ignore"):
        y = np.where((ad == 0) & ~np.isnan(bd), 0, ad * np.log(bd)).astype(ad.dtype)

    def backward(g):
        with np.errstate(all="ignore"):
            ga = np.where((ad == 0) & ~np.isnan(bd), 0, g * np.log(bd))
            return _grad(a, ga), _grad(b, g * ad / bd)
    return _write_out(_result(y, (a, b), backward, "Xlogy", saved=(a, b)), out, "xlogy")


# ===================================================================== logical and bitwise

def _logical(name, np_fn):
    def op(input, other, *, out=None):
        a, b = _binary_operands(input, other)
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
        a, b = _binary_operands(input, other)
        ad, bd = _common(a, b)
        if ad.dtype.kind not in "iub" or ad.dtype == bool_ and not bool_ok:
            raise _not_for(name, ad.dtype)
        return _write_out(Tensor._make(np.asarray(np_fn(ad, bd))), out, name)
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
        raise _not_for("bitwise_not", x.dtype)
    return _write_out(Tensor._make(np.invert(x._storage)), out, "bitwise_not")


# ===================================================================== clamp with tensors

def clamp(input, min=None, max=None, *, out=None):   # noqa: A002 - torch's argument names
    """min(max(x, min), max) with number or tensor bounds; gradients reach tensor bounds."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        return _write_out(arith.clamp(input, min, max), out, "clamp")
    x = _as_tensor(input, "clamp")
    y = x
    if min is not None:
        y = _clamp_side(y, min, np.maximum, "ClampMin")
    if max is not None:
        y = _clamp_side(y, max, np.minimum, "ClampMax")
    return _write_out(y, out, "clamp")


def _clamp_side(x, bound, np_fn, node):
    if not isinstance(bound, Tensor):
        return arith.clamp(x, *((bound, None) if node == "ClampMin" else (None, bound)))
    x, b = _binary_operands(x, bound)
    xd, bd = _common(x, b)
    y = np_fn(xd, bd)
    keep = (xd >= bd) if node == "ClampMin" else (xd <= bd)

    def backward(g):
        return _grad(x, np.where(keep, g, 0)), _grad(b, np.where(keep, 0, g))
    return _result(y, (x, b), backward, node, saved=(x, b))


def clamp_min(input, min, *, out=None):   # noqa: A002
    return clamp(input, min, None, out=out)


def clamp_max(input, max, *, out=None):   # noqa: A002
    return clamp(input, None, max, out=out)


# torch's aliases
arcsin, arccos, arctan, arctan2, arcsinh, arccosh, arctanh = asin, acos, atan, atan2, asinh, \
    acosh, atanh
fix, sgn, negative, true_divide, divide, clip = trunc, sign, arith.neg, div, div, clamp
_ALIASES = {"arcsin": arcsin, "arccos": arccos, "arctan": arctan, "arctan2": arctan2,
            "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh, "fix": fix,
            "sgn": sgn, "negative": negative, "true_divide": true_divide, "divide": divide,
            "clip": clip}

PUBLIC = {f.__name__: f for f in (
    sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, exp2, expm1, log2, log10,
    log1p, rsqrt, reciprocal, erf, erfc, erfinv, deg2rad, rad2deg, sigmoid, tanh, relu,
    floor, ceil, trunc, frac, sign, round, square, atan2, maximum, minimum, fmax, fmin, fmod,
    remainder, floor_divide, div, lerp, addcmul, addcdiv, hypot, xlogy, logical_and,
    logical_or, logical_xor, logical_not, bitwise_and, bitwise_or, bitwise_xor,
    bitwise_left_shift, bitwise_right_shift, bitwise_not, clamp, clamp_min, clamp_max)}
PUBLIC.update(_ALIASES)

# In-place twins: those whose backward reads the input keep a copy of it.
_READS_INPUT = {"sin", "cos", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                "log2", "log10", "log1p", "erf", "erfc", "square", "atan2", "maximum",
                "minimum", "fmax", "fmin", "fmod", "remainder", "lerp", "addcmul", "addcdiv",
                "hypot", "xlogy", "clamp", "clamp_min", "clamp_max", "arcsin", "arccos",
                "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "relu"}

def _inplace_method(name, fn):
    if name in _READS_INPUT:
        return lambda self, *a, **kw: self._inplace(fn, *a, keeps_input=True, **kw)
    return lambda self, *a, **kw: self._inplace(fn, *a, **kw)


# div_ stays arith's (a fast path when nothing is recorded)
_ARITH_INPLACE = {"div", "divide", "true_divide"}
_methods = {}
for _name, _fn in PUBLIC.items():
    _methods[_name] = _fn
    if _name not in _ARITH_INPLACE:
        _methods[_name + "_"] = _inplace_method(_name, _fn)
_methods.update({
    "__floordiv__": floor_divide, "__rfloordiv__": lambda self, o: floor_divide(o, self),
    "__ifloordiv__": lambda self, o: self._inplace(floor_divide, o),
    "__mod__": remainder, "__rmod__": lambda self, o: remainder(o, self),
    "__imod__": lambda self, o: self._inplace(remainder, o, keeps_input=True),
    "__abs__": arith.abs,
})
_bind(_methods)
