"""The scalar functions of the elementwise ufuncs: what one CUDA thread computes per element.

`SCALAR[key](dts)` gives the plain Python function for a ufunc (or a named elementwise op
such as "isposinf") whose loop takes input dtypes `dts` (NumPy's resolved loop dtypes);
elementwise.py compiles it as an inline device function and maps it over arrays. Makers
take the dtypes so that constants are of the loop's type (a float64 literal would promote a
float32 computation and round differently from NumPy) and so that integer, bool and float
loops can differ (NumPy's integer floor division, shifts past the width, ...).

Transcendentals are the `math` functions, which Numba lowers to CUDA's libdevice (float32
versions for float32, ~1 ulp). Under the simulator each thread runs as Python on NumPy
scalars, where `math.log(0.0)` raises instead of returning -inf: there the same names are
bound to NumPy's ufuncs, which return what the GPU returns (inf, nan) without raising.
"""
import math

import numpy as np

from ._launch import SIM

if SIM:   # NumPy scalar functions: IEEE results (inf/nan) where Python's math raises
    _exp, _exp2, _expm1, _log, _log2, _log10, _log1p = (
        np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p)
    _sqrt, _sin, _cos, _tan, _asin, _acos, _atan = (
        np.sqrt, np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan)
    _sinh, _cosh, _tanh, _asinh, _acosh, _atanh = (
        np.sinh, np.cosh, np.tanh, np.arcsinh, np.arccosh, np.arctanh)
    _floor, _ceil, _trunc, _fabs = np.floor, np.ceil, np.trunc, np.fabs
    _atan2, _hypot, _copysign, _fmod, _nextafter = (
        np.arctan2, np.hypot, np.copysign, np.fmod, np.nextafter)
    _rintf = _rintd = np.rint
    _cbrtf = _cbrtd = np.cbrt
else:
    from numba.cuda import libdevice
    _exp, _exp2, _expm1, _log, _log2, _log10, _log1p = (
        math.exp, math.exp2, math.expm1, math.log, math.log2, math.log10, math.log1p)
    _sqrt, _sin, _cos, _tan, _asin, _acos, _atan = (
        math.sqrt, math.sin, math.cos, math.tan, math.asin, math.acos, math.atan)
    _sinh, _cosh, _tanh, _asinh, _acosh, _atanh = (
        math.sinh, math.cosh, math.tanh, math.asinh, math.acosh, math.atanh)
    _floor, _ceil, _trunc, _fabs = math.floor, math.ceil, math.trunc, math.fabs
    _atan2, _hypot, _copysign, _fmod, _nextafter = (
        math.atan2, math.hypot, math.copysign, math.fmod, math.nextafter)
    # math has no round-half-even, and Numba's CUDA target no math.cbrt
    _rintf, _rintd = libdevice.rintf, libdevice.rint
    _cbrtf, _cbrtd = libdevice.cbrtf, libdevice.cbrt

SCALAR = {}


def _def(*keys):
    def reg(maker):
        for k in keys:
            SCALAR[k] = maker
        return maker
    return reg


def _fixed(*keys):
    """Register a scalar function that is the same for every loop dtype."""
    def reg(fn):
        for k in keys:
            SCALAR[k] = lambda dts, fn=fn: fn
        return fn
    return reg


def _is_float(dts):
    return dts[0].kind == "f"


# ---------------------------------------------------------------------- arithmetic
@_fixed(np.add)
def _add(a, b):
    return a + b


@_fixed(np.subtract)
def _subtract(a, b):
    return a - b


@_fixed(np.multiply)
def _multiply(a, b):
    return a * b


@_fixed(np.true_divide)
def _true_divide(a, b):
    return a / b


@_fixed(np.negative)
def _negative(a):
    return -a


@_fixed(np.positive)
def _positive(a):
    return a


@_fixed(np.square)
def _square(a):
    return a * a


def _int_floor_divide(a, b):
    if b == 0:
        return a - a            # NumPy: 0 (with a warning)
    if b == -1:
        return -a               # MIN // -1 wraps to MIN, as NumPy's loop
    return a // b


def _int_remainder(a, b):
    if b == 0 or b == -1:
        return a - a
    return a % b


def _float_floor_divide_maker(dts):
    one, half = dts[0].type(1), dts[0].type(0.5)   # typed, so float32 stays float32

    def float_floor_divide(a, b):
        # NumPy's npy_floor_divide / npy_divmod, so signs, zeros and infs agree bitwise
        if b == 0:
            return a / b
        mod = _fmod(a, b)
        div = (a - mod) / b
        if mod != 0:
            if (b < 0) != (mod < 0):
                div -= one
        if div != 0:
            fl = _floor(div)
            if div - fl > half:
                fl += one
            return fl
        return _copysign(div - div, a / b)
    return float_floor_divide


def _float_remainder(a, b):
    mod = _fmod(a, b)
    if b == 0:
        return mod
    if mod != 0:
        if (b < 0) != (mod < 0):
            mod += b
        return mod
    return _copysign(mod - mod, b)


SCALAR[np.floor_divide] = lambda dts: (_float_floor_divide_maker(dts) if _is_float(dts)
                                       else _int_floor_divide)
SCALAR[np.remainder] = lambda dts: _float_remainder if _is_float(dts) else _int_remainder


def _int_fmod(a, b):
    if b == 0 or b == -1:
        return a - a
    r = a % b                   # sign of b; C's fmod has the sign of a
    if r != 0 and (r < 0) != (a < 0):
        r -= b
    return r


def _float_fmod(a, b):
    return _fmod(a, b)


SCALAR[np.fmod] = lambda dts: _float_fmod if _is_float(dts) else _int_fmod


def _int_power_maker(dts):
    one = dts[0].type(1)        # typed: an int literal would make uint64 math float64
    unsigned = dts[0].kind == "u"

    def int_power(a, e):
        # NumPy raises for negative integer exponents of arrays; a kernel cannot, so it
        # gives what repeated division would (1 for base 1, +-1 for base -1, else 0)
        if not unsigned and e < 0:
            if a == 1:
                return a
            if a == -1:
                return a if e % 2 else -a
            return a - a
        r = one
        while e > 0:
            if e & 1:
                r = r * a
            a = a * a
            e >>= 1
        return r
    return int_power


def _float_power(a, e):
    if e == 2:                  # NumPy squares for x ** 2; powf could be an ulp off
        return a * a
    return a ** e


SCALAR[np.power] = lambda dts: _float_power if _is_float(dts) else _int_power_maker(dts)
SCALAR[np.float_power] = lambda dts: _float_power


@_def(np.absolute)
def _absolute_maker(dts):
    if dts[0].kind == "b":
        return _positive
    return _fabs_f if _is_float(dts) else _abs_i


def _fabs_f(a):
    return _fabs(a)


def _abs_i(a):
    return a if a >= 0 else -a


SCALAR[np.fabs] = lambda dts: _fabs_f
SCALAR[np.conjugate] = lambda dts: _positive   # real dtypes only (complex is refused)


@_def(np.sign)
def _sign_maker(dts):
    one, zero = dts[0].type(1), dts[0].type(0)

    def sign(a):
        if a > 0:
            return one
        if a < 0:
            return -one
        if a == 0:
            return zero
        return a                # nan
    return sign


@_def(np.reciprocal)
def _reciprocal_maker(dts):
    dt = dts[0]
    if dt.kind == "f":
        one = dt.type(1)
        return lambda a: one / a
    # NumPy computes 1.0 / a and converts: 1/0 -> inf -> the x86 conversion's "invalid"
    # value, INT_MIN of a 32- or 64-bit register, truncated for narrower types
    wide = np.int64 if dt.itemsize == 8 else np.int32
    low = np.array(np.iinfo(wide).min).astype(dt)[()]

    def reciprocal(a):
        if a == 0:
            return low
        if a == 1 or a == -1:
            return a
        return a - a
    return reciprocal


# ---------------------------------------------------------------------- transcendentals
for _uf, _fn in ((np.exp, _exp), (np.exp2, _exp2), (np.expm1, _expm1), (np.log, _log),
                 (np.log2, _log2), (np.log10, _log10), (np.log1p, _log1p), (np.sqrt, _sqrt),
                 (np.sin, _sin), (np.cos, _cos), (np.tan, _tan), (np.arcsin, _asin),
                 (np.arccos, _acos), (np.arctan, _atan), (np.sinh, _sinh), (np.cosh, _cosh),
                 (np.tanh, _tanh), (np.arcsinh, _asinh), (np.arccosh, _acosh),
                 (np.arctanh, _atanh)):
    # exec keeps each one a distinct plain function calling its global (Numba resolves the
    # global at compile time; a closure over a loop variable would be one shared cell)
    _ns = {"f": _fn}
    exec("def g(a):\n    return f(a)", _ns)
    SCALAR[_uf] = (lambda g: lambda dts: g)(_ns["g"])


def _floor_f(a):
    return _floor(a)


def _ceil_f(a):
    return _ceil(a)


def _trunc_f(a):
    return _trunc(a)


SCALAR[np.floor] = lambda dts: _floor_f if _is_float(dts) else _positive
SCALAR[np.ceil] = lambda dts: _ceil_f if _is_float(dts) else _positive
SCALAR[np.trunc] = lambda dts: _trunc_f if _is_float(dts) else _positive


def _rint_f(a):
    return _rintf(a)


def _rint_d(a):
    return _rintd(a)


SCALAR[np.rint] = lambda dts: _rint_f if dts[0] == np.float32 else _rint_d


def _cbrt_f(a):
    return _cbrtf(a)


def _cbrt_d(a):
    return _cbrtd(a)


SCALAR[np.cbrt] = lambda dts: _cbrt_f if dts[0] == np.float32 else _cbrt_d


@_def(np.deg2rad, np.radians)
def _deg2rad_maker(dts):
    c = dts[0].type(np.pi) / dts[0].type(180)   # NumPy's constant, in the loop type
    return lambda a: a * c


@_def(np.rad2deg, np.degrees)
def _rad2deg_maker(dts):
    c = dts[0].type(180) / dts[0].type(np.pi)
    return lambda a: a * c


@_fixed(np.arctan2)
def _arctan2(a, b):
    return _atan2(a, b)


@_fixed(np.hypot)
def _hypot_fn(a, b):
    return _hypot(a, b)


@_fixed(np.copysign)
def _copysign_fn(a, b):
    return _copysign(a, b)


@_fixed(np.nextafter)
def _nextafter_fn(a, b):
    return _nextafter(a, b)


@_def(np.logaddexp)
def _logaddexp_maker(dts):
    ln2 = dts[0].type(np.log(2))

    def logaddexp(a, b):
        if a == b:              # equal infinities too
            return a + ln2
        d = a - b
        if d > 0:
            return a + _log1p(_exp(-d))
        if d <= 0:
            return b + _log1p(_exp(d))
        return d                # nan
    return logaddexp


@_def(np.logaddexp2)
def _logaddexp2_maker(dts):
    one, log2e = dts[0].type(1), dts[0].type(1 / np.log(2))

    def logaddexp2(a, b):
        if a == b:
            return a + one
        d = a - b
        if d > 0:
            return a + log2e * _log1p(_exp2(-d))
        if d <= 0:
            return b + log2e * _log1p(_exp2(d))
        return d
    return logaddexp2


@_def(np.heaviside)
def _heaviside_maker(dts):
    one, zero = dts[0].type(1), dts[0].type(0)

    def heaviside(a, h0):
        if a < 0:
            return zero
        if a > 0:
            return one
        if a == 0:
            return h0
        return a
    return heaviside


@_def(np.maximum)
def _maximum_maker(dts):
    if not _is_float(dts):
        return lambda a, b: a if a > b else b

    def maximum(a, b):          # nan wins; a tie gives b, as NumPy's loop
        if a != a:
            return a
        if b != b:
            return b
        return a if a > b else b
    return maximum


@_def(np.minimum)
def _minimum_maker(dts):
    if not _is_float(dts):
        return lambda a, b: a if a < b else b

    def minimum(a, b):
        if a != a:
            return a
        if b != b:
            return b
        return a if a < b else b
    return minimum


@_def(np.fmax)
def _fmax_maker(dts):
    if not _is_float(dts):
        return lambda a, b: a if a > b else b

    def fmax(a, b):             # nan loses
        if b != b:
            return a
        if a != a:
            return b
        return a if a > b else b
    return fmax


@_def(np.fmin)
def _fmin_maker(dts):
    if not _is_float(dts):
        return lambda a, b: a if a < b else b

    def fmin(a, b):
        if b != b:
            return a
        if a != a:
            return b
        return a if a < b else b
    return fmin


# ---------------------------------------------------------------------- predicates
@_def(np.signbit)
def _signbit_maker(dts):
    one = dts[0].type(1)
    return lambda a: _copysign(one, a) < 0


def _never(a):
    return a != a and a == a


def _always(a):
    return a == a


def _isnan_f(a):
    return math.isnan(a)


def _isinf_f(a):
    return math.isinf(a)


def _isfinite_f(a):
    return math.isfinite(a)


SCALAR[np.isnan] = lambda dts: _isnan_f if _is_float(dts) else _never
SCALAR[np.isinf] = lambda dts: _isinf_f if _is_float(dts) else _never
SCALAR[np.isfinite] = lambda dts: _isfinite_f if _is_float(dts) else _always


@_def("isposinf")
def _isposinf_maker(dts):
    if not _is_float(dts):
        return _never
    inf = dts[0].type(np.inf)
    return lambda a: a == inf


@_def("isneginf")
def _isneginf_maker(dts):
    if not _is_float(dts):
        return _never
    inf = dts[0].type(-np.inf)
    return lambda a: a == inf


for _uf, _src in ((np.less, "a < b"), (np.less_equal, "a <= b"), (np.greater, "a > b"),
                  (np.greater_equal, "a >= b"), (np.equal, "a == b"),
                  (np.not_equal, "a != b"), (np.logical_and, "(a != 0) & (b != 0)"),
                  (np.logical_or, "(a != 0) | (b != 0)"),
                  (np.logical_xor, "(a != 0) != (b != 0)"), (np.bitwise_and, "a & b"),
                  (np.bitwise_or, "a | b"), (np.bitwise_xor, "a ^ b")):
    _ns = {}
    exec(f"def g(a, b):\n    return {_src}", _ns)
    SCALAR[_uf] = (lambda g: lambda dts: g)(_ns["g"])


@_fixed(np.logical_not)
def _logical_not(a):
    return a == 0


@_def(np.invert)
def _invert_maker(dts):
    if dts[0].kind == "b":
        return lambda a: not a
    return lambda a: ~a


@_def(np.left_shift)
def _left_shift_maker(dts):
    bits = dts[0].itemsize * 8

    def left_shift(a, s):       # NumPy: shifting by the width or more (or < 0) gives 0
        if s < 0 or s >= bits:
            return a - a
        return a << s
    return left_shift


@_def(np.right_shift)
def _right_shift_maker(dts):
    bits = dts[0].itemsize * 8
    if dts[0].kind == "u":
        def right_shift_unsigned(a, s):
            if s >= bits:
                return a - a
            return a >> s
        return right_shift_unsigned
    minus_one = dts[0].type(-1)

    def right_shift(a, s):      # ... and the sign for right shifts
        if s < 0 or s >= bits:
            return minus_one if a < 0 else a - a
        return a >> s
    return right_shift


@_fixed(np.gcd)
def _gcd_fn(a, b):
    a = a if a >= 0 else -a
    b = b if b >= 0 else -b
    while b != 0:
        a, b = b, a % b
    return a


@_fixed(np.lcm)
def _lcm_fn(a, b):
    x = a if a >= 0 else -a
    y = b if b >= 0 else -b
    g = x
    h = y
    while h != 0:
        g, h = h, g % h
    if g == 0:
        return g
    return (x // g) * y
