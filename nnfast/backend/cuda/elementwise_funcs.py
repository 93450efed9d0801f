"""NumPy's elementwise functions (not ufuncs) on CudaArrays: np.where, np.clip, np.copyto,
np.nan_to_num, np.isclose/allclose/array_equal, np.isposinf/isneginf, np.sinc, np.round.

Each reduces to one `elementwise.apply` launch with a scalar function defined here, its
dtypes decided as NumPy 2 decides them (Python scalars weak)."""
import numpy as np

from .array import FUNCS, HOOKS, CudaArray, implements, missing
from .elementwise import apply, as_operand, check_dtype, ptx_entry, unalias
from .elementwise_math import SCALAR, _rintd, _rintf, _sin

__all__ = []


def _weak_or_dtype(x):
    if isinstance(x, CudaArray):
        return x.dtype
    if type(x) in (int, float, bool):
        return x
    return np.asarray(x).dtype


def _result_type(*xs):
    return np.result_type(*[_weak_or_dtype(x) for x in xs])


# ---------------------------------------------------------------------- scalar functions
def _where(c, x, y):
    return x if c else y


SCALAR["where"] = lambda dts: _where


def _nan_max(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a > b else b


def _nan_min(a, b):
    if a != a:
        return a
    if b != b:
        return b
    return a if a < b else b


def _clip_maker(dts):
    if dts[0].kind != "f":
        def clip_int(a, lo, hi):
            v = a if a > lo else lo
            return v if v < hi else hi
        return clip_int

    def clip(a, lo, hi):        # NumPy's _NPY_MIN(_NPY_MAX(a, lo), hi): a nan in a wins
        if a != a:
            return a
        v = a if a > lo else lo
        if v != v:
            return v
        return v if v < hi else hi
    return clip


SCALAR["clip"] = _clip_maker


def _isclose_maker(dts):
    inf = dts[0].type(np.inf)

    def isclose(x, y, atol, rtol, equal_nan):
        if x == y:
            return True
        if x != x or y != y:
            return equal_nan and x != x and y != y
        if y == inf or y == -inf:
            return False
        d = x - y
        d = d if d >= 0 else -d
        ay = y if y >= 0 else -y
        return d <= atol + rtol * ay
    return isclose


SCALAR["isclose"] = _isclose_maker


def _nan_to_num_maker(dts):
    inf = dts[0].type(np.inf)

    def nan_to_num(x, nan, posinf, neginf):
        if x != x:
            return nan
        if x == inf:
            return posinf
        if x == -inf:
            return neginf
        return x
    return nan_to_num


SCALAR["nan_to_num"] = _nan_to_num_maker


def _sinc_maker(dts):
    pi, one = dts[0].type(np.pi), dts[0].type(1)

    def sinc(x):
        if x == 0:
            return one
        y = pi * x
        return _sin(y) / y
    return sinc


SCALAR["sinc"] = _sinc_maker


def _round_maker(dts):
    rint = _rintf if dts[0] == np.float32 else _rintd

    def round_scaled(x, f, up):   # NumPy: rint(x * f) / f for decimals > 0, rint(x / f) * f
        if up:
            return rint(x * f) / f
        return rint(x / f) * f
    return round_scaled


SCALAR["round"] = _round_maker


def _rint_maker(dts):
    rint = _rintf if dts[0] == np.float32 else _rintd
    return lambda x: rint(x)


SCALAR["rint0"] = _rint_maker


# ---------------------------------------------------------------------- functions
def _cuda_out(out, name):
    if isinstance(out, tuple):
        out = out[0]
    if out is not None and not isinstance(out, CudaArray):
        raise TypeError(f"out= of numpy.{name} on CUDA arrays must be a CUDA array")
    return out


@implements(np.where)
def where(condition, x=None, y=None):
    if x is None and y is None:
        fn = HOOKS.get("nonzero")
        if fn is None:
            raise missing("numpy.where(condition) (nonzero)")
        return fn(condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    ops = [as_operand(v) for v in (condition, x, y)]
    dt = _result_type(ops[1], ops[2])
    cdt = ops[0].dtype if isinstance(ops[0], CudaArray) else np.dtype(np.bool_)
    if not isinstance(ops[0], CudaArray):
        ops[0] = bool(ops[0])
    return apply("where", ops, (cdt, dt, dt), dt, name="where")


@implements(np.clip)
def clip(a, a_min=np._NoValue, a_max=np._NoValue, out=None, *, min=np._NoValue,
         max=np._NoValue, **kwargs):
    lo = a_min if a_min is not np._NoValue else (None if min is np._NoValue else min)
    hi = a_max if a_max is not np._NoValue else (None if max is np._NoValue else max)
    out = _cuda_out(out, "clip")
    a = as_operand(a)
    if lo is None and hi is None:
        return apply(np.positive, [a], (a.dtype,), a.dtype, out, "clip")
    bounds = [as_operand(v) for v in (lo, hi)]
    dt = _result_type(a, *[b for b in bounds if b is not None])
    if dt.kind == "f":
        fill = (-np.inf, np.inf)
    elif dt.kind == "b":
        fill = (False, True)
    else:
        info = np.iinfo(dt)
        fill = (info.min, info.max)
    bounds = [f if b is None else b for b, f in zip(bounds, fill)]
    return apply("clip", [a] + bounds, (dt, dt, dt), dt, out, "clip")


@implements(np.copyto)
def copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, CudaArray):
        raise TypeError("numpy.copyto into a host array from a CUDA array: use .get()")
    src = as_operand(src)
    sdt = src.dtype if isinstance(src, CudaArray) else None
    if sdt is not None and not np.can_cast(sdt, dst.dtype, casting):
        raise TypeError(f"Cannot cast array data from {sdt!r} to {dst.dtype!r} according "
                        f"to the rule {casting!r}")
    if where is True:
        if isinstance(src, CudaArray):
            HOOKS["copy"](dst, unalias([src], dst)[0])
        else:
            apply("where", [True, src, dst], (np.dtype(np.bool_), dst.dtype, dst.dtype),
                     dst.dtype, dst, "copyto")
        return None
    mask = as_operand(where)
    mdt = mask.dtype if isinstance(mask, CudaArray) else np.dtype(np.bool_)
    if not isinstance(mask, CudaArray):
        mask = bool(mask)
    apply("where", [mask, src, dst], (mdt, dst.dtype, dst.dtype), dst.dtype, dst,
             "copyto")
    return None


@implements(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    if x.dtype.kind != "f":
        return x.copy() if copy else x
    info = np.finfo(x.dtype)
    t = x.dtype.type
    scal = [t(nan), t(info.max if posinf is None else posinf),
            t(info.min if neginf is None else neginf)]
    out = None if copy else x
    return apply("nan_to_num", [x] + scal, (x.dtype,) * 4, x.dtype, out, "nan_to_num")


def _isclose_mask(a, b, rtol, atol, equal_nan):
    x, y = as_operand(a), as_operand(b)
    ydt = np.result_type(_weak_or_dtype(y), 1.0)
    dt = np.result_type(_weak_or_dtype(x), ydt)
    return apply("isclose", [x, y, dt.type(atol), dt.type(rtol), bool(equal_nan)],
                    (dt, dt, dt, dt, np.dtype(np.bool_)), np.dtype(np.bool_), name="isclose")


@implements(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _isclose_mask(a, b, rtol, atol, equal_nan)


def _all(mask):
    fn = FUNCS.get(np.all)
    if fn is not None:
        return bool(fn(mask))
    return bool(mask.get().all())


@implements(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return _all(_isclose_mask(a, b, rtol, atol, equal_nan))


@implements(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    x, y = as_operand(a1), as_operand(a2)
    if np.shape(x) != np.shape(y):
        return False
    eq = np.equal(x, y)
    if equal_nan and np.result_type(_weak_or_dtype(x), _weak_or_dtype(y)).kind == "f":
        eq = np.logical_or(eq, np.logical_and(np.isnan(x), np.isnan(y)))
    return _all(eq)


def _pos_neg_inf(key):
    def fn(x, out=None):
        out = _cuda_out(out, key)
        check_dtype(x.dtype, f"numpy.{key}")
        return apply(key, [x], (x.dtype,), np.dtype(np.bool_), out, key)
    fn.__name__ = key
    return fn


FUNCS[np.isposinf] = _pos_neg_inf("isposinf")
FUNCS[np.isneginf] = _pos_neg_inf("isneginf")


@implements(np.sinc)
def sinc(x):
    dt = np.result_type(x.dtype, 1.0)
    return apply("sinc", [x], (dt,), dt, name="sinc")


@implements(np.round, np.around)
def round_(a, decimals=0, out=None):
    out = _cuda_out(out, "round")
    if a.dtype.kind in "biu":
        if decimals >= 0:
            if out is None:
                return a.copy()
            apply(np.positive, [a], (a.dtype,), a.dtype, out, "round")
            return out
        raise missing("numpy.round of integers to negative decimals")
    if decimals == 0:
        return apply("rint0", [a], (a.dtype,), a.dtype, out, "round")
    f = a.dtype.type(10.0 ** abs(decimals))
    return apply("round", [a, f, decimals > 0], (a.dtype, a.dtype, np.dtype(np.bool_)),
                    a.dtype, out, "round")


_f32, _b1 = np.float32, np.bool_
PTX_CHECKS = [
    ptx_entry("where", (_b1, _f32, _f32), _f32, "aaa"),
    ptx_entry("where", (_b1, _f32, _f32), _f32, "aas", nd=2),
    ptx_entry("clip", (_f32, _f32, _f32), _f32, "ass"),
    ptx_entry("nan_to_num", (_f32,) * 4, _f32, "asss"),
    ptx_entry("isclose", (_f32, _f32, _f32, _f32, _b1), _b1, "aasss"),
    ptx_entry("round", (_f32, _f32, _b1), _f32, "ass"),
    ptx_entry("sinc", (_f32,), _f32, "a"),
]
