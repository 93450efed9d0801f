"""Binary and ternary elementwise ops: atan2, maximum/minimum/fmax/fmin, fmod, remainder,
floor_divide, div with a rounding mode, lerp, addcmul, addcdiv, hypot, xlogy, logaddexp,
copysign, float_power, clamp with tensor bounds (torch's names, aliases, `out=`, in-place
twins, the // and % operators).

Operands promote as in PyTorch (core._common); gradients are summed back to each input's
shape and dtype.
"""
import math
import numbers

import numpy as np

from ..tensor import Tensor, bool_, float64, int64
from .core import _as_tensor, _bind, _binary_operands, _common, _result, _write_out
from . import arith
from .elementwise import _grad, _not_for, _word, inplace_method


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


def _logaddexp(name, np_fn, base):
    def op(input, other, *, out=None):
        a, b, ad, bd = _binary(name, input, other)
        if ad.dtype.kind not in "fc":
            raise _not_for(name + "_cpu", ad.dtype)
        y = np_fn(ad, bd)

        def backward(g):
            return (_grad(a, g * np.power(base, ad - y)), _grad(b, g * np.power(base, bd - y)))
        return _write_out(_result(y, (a, b), backward, name.capitalize(), saved=(a, b),
                                  saves_output=True), out, name)
    op.__name__ = op.__qualname__ = name
    return op


logaddexp = _logaddexp("logaddexp", np.logaddexp, math.e)
logaddexp2 = _logaddexp("logaddexp2", np.logaddexp2, 2.0)


def copysign(input, other, *, out=None):
    a, b, ad, bd = _binary("copysign", input, other, floating=True)
    y = np.copysign(ad, bd)

    def backward(g):
        with np.errstate(all="ignore"):
            ratio = np.where(ad == 0, 0, y / ad)
        return _grad(a, g * ratio), _grad(b, g * 0)
    return _write_out(_result(y, (a, b), backward, "Copysign", saved=(a,), saves_output=True),
                      out, "copysign")


def float_power(input, exponent, *, out=None):
    """input ** exponent computed in float64 (as torch.float_power)."""
    a, b = _binary_operands(_as_tensor(input, "float_power"), exponent)
    res = arith.pow(a.double() if a.dtype != float64 else a,
                    b.double() if b.dtype != float64 else b)
    return _write_out(res, out, "float_power")


# ===================================================================== clamp with tensor bounds

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



def _integral(name, np_fn):
    """gcd / lcm: integer inputs only, no gradient."""
    def op(input, other, *, out=None):
        a, b, ad, bd = _binary(name, input, other)
        if ad.dtype.kind not in "iu":
            raise _not_for(name + "_cpu", ad.dtype)
        return _write_out(Tensor._make(np_fn(ad, bd)), out, name)
    op.__name__ = op.__qualname__ = name
    return op


gcd = _integral("gcd", np.gcd)
lcm = _integral("lcm", np.lcm)


def heaviside(input, values, *, out=None):
    """0 where input < 0, values where input == 0, 1 where input > 0 (no gradient)."""
    a, b, ad, bd = _binary("heaviside", input, values)
    if a.dtype != b.dtype:
        raise RuntimeError("heaviside is not yet implemented for tensors with different dtypes")
    return _write_out(Tensor._make(np.heaviside(ad, bd).astype(ad.dtype)), out,
                      "heaviside")


def nextafter(input, other, *, out=None):
    a, b, ad, bd = _binary("nextafter", input, other)
    if ad.dtype.kind != "f":
        raise _not_for("nextafter_cpu", ad.dtype)
    return _write_out(Tensor._make(np.nextafter(ad, bd)), out, "nextafter")


# torch's aliases
arctan2, true_divide, divide, clip = atan2, div, div, clamp

PUBLIC = {f.__name__: f for f in (
    atan2, maximum, minimum, fmax, fmin, fmod, remainder, floor_divide, div, lerp, addcmul,
    addcdiv, hypot, xlogy, logaddexp, logaddexp2, copysign, float_power, clamp, clamp_min,
    clamp_max, gcd, lcm, heaviside, nextafter)}
PUBLIC.update({"arctan2": arctan2, "true_divide": true_divide, "divide": divide,
               "clip": clip})

_READS_INPUT = {"atan2", "arctan2", "maximum", "minimum", "fmax", "fmin", "fmod", "remainder",
                "lerp", "addcmul", "addcdiv", "hypot", "xlogy", "copysign", "clamp", "clip",
                "clamp_min", "clamp_max"}
# div_ stays arith's (a fast path when nothing is recorded); torch has no logaddexp_
_NO_TWIN = {"div", "divide", "true_divide", "logaddexp", "logaddexp2"}

_methods = {}
for _name, _fn in PUBLIC.items():
    _methods[_name] = _fn
    if _name not in _NO_TWIN:
        _methods[_name + "_"] = inplace_method(_name, _fn, _name in _READS_INPUT)
_methods.update({
    "true_divide_": arith._div_,
    "__floordiv__": floor_divide, "__rfloordiv__": lambda self, o: floor_divide(o, self),
    "__ifloordiv__": lambda self, o: self._inplace(floor_divide, o),
    "__mod__": remainder, "__rmod__": lambda self, o: remainder(o, self),
    "__imod__": lambda self, o: self._inplace(remainder, o, keeps_input=True),
})
_bind(_methods)
