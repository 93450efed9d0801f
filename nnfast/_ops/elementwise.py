"""Unary elementwise math beyond arith.py: trigonometric and hyperbolic functions,
exp2/log2/..., rounding and sign, sigmoid/tanh/relu (and torch.softmax/log_softmax), erf,
nan_to_num, logit, sinc (torch's names, aliases, `out=` and in-place twins). Binary ones are
in binary.py.

Integer and bool inputs of the floating functions compute in float32, as in PyTorch; rounding
and sign keep integer dtypes. Each op records one node whose backward is a few NumPy calls.
NumPy has no erf: float64 erf/erfc call math.erf per element (exact, slow); float32 uses a
vectorised fit within 3 ulp of it.
"""
import math

import numpy as np

from ..tensor import bool_, float32, float64, int64
from .core import _as_tensor, _bind, _unary, _unbroadcast, _write_out, host_only
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

    def per_element(x):
        host_only(f"float64 {fn.__name__} (math.{fn.__name__} per element)", x)
        return np.asarray(f(x)).astype(x.dtype)
    return per_element


_erf64, _erfc64 = _vec(math.erf), _vec(math.erfc)

# erfc(z) for z >= 0 as t * exp(-z^2 + P(t)), t = 1 / (1 + z/2): the Chebyshev fit of
# Numerical Recipes (erfcc), relative error under 1.2e-7 - float32's resolution.
_ERFC_FIT = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
             -1.13520398, 1.48851587, -0.82215223, 0.17087277)
# erf's Taylor series, (-1)^n / (n! (2n+1)), highest power first: below |x| = 0.5 eight
# terms reach float32's resolution where 1 - erfc would lose it
_ERF_TAYLOR = (-1 / 75600, 1 / 9360, -1 / 1320, 1 / 216, -1 / 42, 1 / 10, -1 / 3, 1.0)


def _erfc_pos(z):
    t = 1 / (1 + 0.5 * z)
    p = t * _ERFC_FIT[-1]
    for c in _ERFC_FIT[-2:0:-1]:
        p = t * (c + p)
    return t * np.exp(p + (_ERFC_FIT[0] - z * z))


def _erf(x):
    """erf: exact (math.erf) in float64; in float32 and float16 a vectorised fit within
    3 ulp of it (about 3x faster than calling math.erf per element)."""
    if x.dtype == float64:
        return _erf64(x)
    x = x.astype(float32)
    out = np.empty_like(x)
    small = np.abs(x) < 0.5
    xs = x[small]
    x2 = xs * xs
    p = np.float32(_ERF_TAYLOR[0])
    for c in _ERF_TAYLOR[1:]:
        p = p * x2 + np.float32(c)
    out[small] = xs * p * np.float32(_TWO_OVER_SQRT_PI)
    big = ~small
    xb = x[big].astype(float64)   # exp(-z^2) in float64: z^2 rounded to float32 would cost
    out[big] = np.copysign(1 - _erfc_pos(np.abs(xb)), xb)   # erfc's relative accuracy
    return out


def _erfc(x):
    if x.dtype == float64:
        return _erfc64(x)
    x = x.astype(float32)
    out = np.empty_like(x)
    small = np.abs(x) < 0.5
    out[small] = 1 - _erf(x[small])
    big = ~small
    xb = x[big].astype(float64)
    r = _erfc_pos(np.abs(xb))
    out[big] = np.where(xb >= 0, r, 2 - r)
    return out


def _erfinv(y):
    """Inverse of erf: a rational first guess refined by Newton steps on math.erf."""
    host_only("erfinv (Newton steps on math.erf)", y)
    y64 = np.asarray(y, float64)
    a = 0.147
    ln = np.log1p(-y64 * y64)
    t = 2 / (math.pi * a) + ln / 2
    x = np.sign(y64) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    inner = np.isfinite(x)
    for _ in range(3):
        err = _erf64(np.where(inner, x, 0.0)) - y64
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
            y = fwd(xd).astype(xd.dtype, copy=False)

        def backward(g):
            with np.errstate(all="ignore"):
                return (bwd(g, xd, y).astype(xd.dtype, copy=False),)
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


_ACT = []


def _act():
    """nn's activation kernels (imported on first use: nn imports this package)."""
    if not _ACT:
        from ..nn import _functional_act
        _ACT.append(_functional_act)
    return _ACT[0]


def sigmoid(input, *, out=None):
    """1 / (1 + exp(-x)); float32 and float64 run the compiled kernel of csrc/act.c."""
    x = _as_tensor(input, "sigmoid")
    if x.dtype in (float32, float64) and out is None:
        return _act().sigmoid(x)
    return _np_sigmoid(x, out=out)


def tanh(input, *, out=None):
    x = _as_tensor(input, "tanh")
    if x.dtype in (float32, float64) and out is None:
        return _act().tanh(x)
    return _np_tanh(x, out=out)


def relu(input):
    """max(x, 0); integer tensors stay integer, bool is refused (as in PyTorch)."""
    x = _as_tensor(input, "relu")
    if x.dtype in (float32, float64):
        return _act().relu(x)
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
        y = y.astype(xd.dtype, copy=False)
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


# ===================================================================== less common ones

def nan_to_num(input, nan=0.0, posinf=None, neginf=None, *, out=None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest/smallest)."""
    x = _as_tensor(input, "nan_to_num")
    xd = x._storage
    y = np.nan_to_num(xd, nan=nan, posinf=posinf, neginf=neginf) if xd.dtype.kind == "f" \
        else xd.copy()
    fin = np.isfinite(xd) if xd.dtype.kind == "f" else True
    return _write_out(_unary(x, y, lambda g: (np.where(fin, g, 0),), "NanToNum", saved=(x,)),
                      out, "nan_to_num")


def logit(input, eps=None, *, out=None):
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    x = _as_tensor(input, "logit")
    xd = _floating(x._storage)
    xc = xd if eps is None else np.clip(xd, eps, 1 - eps)
    with np.errstate(all="ignore"):
        y = np.log(xc / (1 - xc))

    def backward(g):
        with np.errstate(all="ignore"):
            d = g / (xd * (1 - xd))
        if eps is not None:
            d = np.where((xd < eps) | (xd > 1 - eps), 0, d)
        else:   # NaN outside the domain, as torch
            d = np.where((xd < 0) | (xd > 1), np.nan, d)
        return (d.astype(xd.dtype, copy=False),)
    return _write_out(_unary(x, y.astype(xd.dtype, copy=False), backward, "Logit", saved=(x,)),
                      out, "logit")


def sinc(input, *, out=None):
    """sin(pi x) / (pi x), 1 at 0."""
    x = _as_tensor(input, "sinc")
    xd = _floating(x._storage)
    y = np.sinc(xd).astype(xd.dtype, copy=False)

    def backward(g):
        px = np.pi * xd
        with np.errstate(all="ignore"):
            d = np.where(xd == 0, 0, (np.cos(px) * px - np.sin(px)) / (px * xd))
        return ((g * d).astype(xd.dtype, copy=False),)
    return _write_out(_unary(x, y, backward, "Sinc", saved=(x,)), out, "sinc")


def positive(input):
    x = _as_tensor(input, "positive")
    if x.dtype == bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return x


def softmax(input, dim, dtype=None):
    """torch.softmax (the kernel of nn.functional.softmax)."""
    x = _as_tensor(input, "softmax")
    if dtype is None and x.dtype.kind != "f":
        raise RuntimeError(f'"softmax_lastdim_kernel_impl" not implemented for '
                           f"'{_word(x.dtype)}'")
    return _act().softmax(x, dim, dtype=dtype)


def log_softmax(input, dim, dtype=None):
    x = _as_tensor(input, "log_softmax")
    if dtype is None and x.dtype.kind != "f":
        raise RuntimeError(f'"log_softmax_lastdim_kernel_impl" not implemented for '
                           f"'{_word(x.dtype)}'")
    return _act().log_softmax(x, dim, dtype=dtype)


# torch's aliases
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh
fix, sgn, negative = trunc, sign, arith.neg
_ALIASES = {"arcsin": arcsin, "arccos": arccos, "arctan": arctan, "arcsinh": arcsinh,
            "arccosh": arccosh, "arctanh": arctanh, "fix": fix, "sgn": sgn,
            "negative": negative}

PUBLIC = {f.__name__: f for f in (
    sin, cos, tan, asin, acos, atan, sinh, cosh, asinh, acosh, atanh, exp2, expm1, log2, log10,
    log1p, rsqrt, reciprocal, erf, erfc, erfinv, deg2rad, rad2deg, sigmoid, tanh, relu,
    floor, ceil, trunc, frac, sign, round, square, nan_to_num, logit, sinc, positive,
    softmax, log_softmax)}
PUBLIC.update(_ALIASES)

# In-place twins: those whose backward reads the input keep a copy of it.
_READS_INPUT = {"sin", "cos", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                "log2", "log10", "log1p", "erf", "erfc", "square", "nan_to_num", "logit",
                "sinc", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "relu"}
_NO_TWIN = {"positive", "softmax", "log_softmax"}


def inplace_method(name, fn, reads_input):
    """The in-place twin foo_ of an op foo (keeping a copy of the input when foo's backward
    reads it)."""
    if reads_input:
        return lambda self, *a, **kw: self._inplace(fn, *a, keeps_input=True, **kw)
    return lambda self, *a, **kw: self._inplace(fn, *a, **kw)


_methods = {}
for _name, _fn in PUBLIC.items():
    _methods[_name] = _fn
    if _name not in _NO_TWIN:
        _methods[_name + "_"] = inplace_method(_name, _fn, _name in _READS_INPUT)
_methods.update({"__abs__": arith.abs,
                 "absolute_": lambda self: self._inplace(arith.abs, keeps_input=True)})
_bind(_methods)
