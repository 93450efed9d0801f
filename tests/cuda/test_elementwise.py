"""The CUDA elementwise family against NumPy: every registered ufunc on float32/float64/int64/
bool arrays (contiguous, broadcast, transposed and sliced views, scalars on either side),
out= in place and aliased, NumPy 2's result dtypes, special values, and the elementwise
functions (np.where, np.clip, np.copyto, ...). Tiny arrays: each simulated launch costs a
few milliseconds per thread."""
import numpy as np
import pytest

from nnfast.backend.cuda import elementwise as E
from nnfast.backend.cuda.array import HOOKS

from conftest import dev, host

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

INF, NAN = np.inf, np.nan
FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, -3.5, 7.0, 1e-3, 0.9, -0.9, 30.0, INF, -INF,
          NAN]
INTS = [0, 1, -1, 2, -2, 3, 7, -7, 100, -100, 5, -13, 64, 63, 12, -18]
BOOLS = [True, False, True, True, False, False, True, False] * 2
VALUES = {"f4": FLOATS, "f8": FLOATS, "i8": INTS, "?": BOOLS}

# not bitwise-reproducible across libms: compared to float rounding
INEXACT = {np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.sqrt, np.sin,
           np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh, np.tanh,
           np.arcsinh, np.arccosh, np.arctanh, np.arctan2, np.hypot, np.logaddexp,
           np.logaddexp2, np.power, np.float_power, np.deg2rad, np.rad2deg, np.cbrt}

UNARY = [u for u in E.UFUNC_NAMES if u.nin == 1]
BINARY = [u for u in E.UFUNC_NAMES if u.nin == 2]


def values(code, shape=(4, 4), shift=0):
    v = np.roll(np.array(VALUES[code], dtype=code), shift)
    return v.reshape(shape)


def check(got, want, inexact=False):
    """got (a CudaArray) equals NumPy's want: dtype, shape, values (nan where nan, the sign
    of zeros where NumPy is exact)."""
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    g = host(got)
    if inexact and want.dtype.kind == "f":
        rtol = 2e-6 if want.dtype == np.float32 else 1e-13
        np.testing.assert_allclose(g, want, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(g, want)
        if want.dtype.kind == "f":
            np.testing.assert_array_equal(np.signbit(g), np.signbit(want))


def supported(ufunc, *codes):
    try:
        loop = ufunc.resolve_dtypes(tuple(np.dtype(c) for c in codes) + (None,))
    except (TypeError, np.exceptions.DTypePromotionError):
        return False
    return not any(d == np.float16 for d in loop)


def binary_operands(ufunc, code, shift=5):
    a, b = values(code), values(code, shift=shift)
    if code == "i8" and ufunc in (np.power,):
        a, b = a % 5, np.abs(b) % 5     # NumPy raises for negative integer exponents
    return a, b


@pytest.mark.parametrize("ufunc", UNARY, ids=lambda u: u.__name__)
def test_unary_ufunc_matches_numpy(ufunc):
    tested = 0
    for code in VALUES:
        if not supported(ufunc, code):
            continue
        a = values(code)
        with np.errstate(all="ignore"):
            want = ufunc(a)
            want_t = ufunc(a.T[1:, ::2])
        check(ufunc(dev(a)), want, ufunc in INEXACT)                   # flat kernel
        check(ufunc(dev(a).T[1:, ::2]), want_t, ufunc in INEXACT)      # strided view
        tested += 1
    assert tested


@pytest.mark.parametrize("ufunc", BINARY, ids=lambda u: u.__name__)
def test_binary_ufunc_matches_numpy(ufunc):
    tested = 0
    inexact = ufunc in INEXACT
    for code in VALUES:
        if not supported(ufunc, code, code):
            continue
        a, b = binary_operands(ufunc, code)
        s = b[1, 2].item()                        # a Python scalar (weak)
        with np.errstate(all="ignore"):
            check(ufunc(dev(a), dev(b)), ufunc(a, b), inexact)
            # broadcast row against a transposed view
            check(ufunc(dev(a).T, dev(b[2])), ufunc(a.T, b[2]), inexact)
            # a column against a slice (stride-0 and stride-2 operands)
            check(ufunc(dev(b[:2, :1]), dev(a)[::2]), ufunc(b[:2, :1], a[::2]), inexact)
            check(ufunc(dev(a), s), ufunc(a, s), inexact)
            check(ufunc(s, dev(a)), ufunc(s, a), inexact)
        tested += 1
    assert tested


def test_every_ufunc_nnfast_needs_is_registered():
    names = {u.__name__ for u in E.UFUNC_NAMES}
    want = """add subtract multiply divide floor_divide remainder fmod power float_power negative
    positive absolute sign exp exp2 expm1 log log2 log10 log1p sqrt square reciprocal sin cos
    tan arcsin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh arctanh floor ceil trunc
    rint maximum minimum fmax fmin hypot copysign logaddexp logaddexp2 heaviside nextafter
    signbit isnan isinf isfinite less less_equal greater greater_equal equal not_equal
    logical_and logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor invert
    left_shift right_shift deg2rad rad2deg gcd lcm""".split()
    assert [n for n in want if n not in names] == []
    assert np.matmul not in E.UFUNC_NAMES


def test_int_shifts_and_division_edges():
    a = np.array([1, -5, -128, 7, 0, 127], np.int8)
    s = np.array([7, 8, -1, 1, 3, 65], np.int8)
    for uf in (np.left_shift, np.right_shift):
        check(uf(dev(a), dev(s)), uf(a, s))
    d = np.array([-1, 0, 3, -2, 0, -1], np.int8)
    with np.errstate(all="ignore"):
        for uf in (np.floor_divide, np.remainder, np.fmod):
            check(uf(dev(a), dev(d)), uf(a, d))
    u = np.array([1, 200, 255, 7, 0, 128], np.uint8)
    us = np.array([7, 8, 1, 1, 3, 65], np.uint8)
    for uf in (np.left_shift, np.right_shift, np.power, np.floor_divide, np.remainder):
        with np.errstate(all="ignore"):
            check(uf(dev(u), dev(us)), uf(u, us))
    big = np.array([2 ** 40, -(2 ** 62), 3], np.int64)
    with np.errstate(all="ignore"):
        check(np.multiply(dev(big), dev(big)), big * big)               # wraps as NumPy
        check(np.floor_divide(dev(big), -1), big // -1)
    check(np.reciprocal(dev(np.array([0, 1, 2, -1, -3]))),
          np.reciprocal(np.array([0, 1, 2, -1, -3])))


def test_float_division_edges_and_signed_zeros():
    a = np.array([1, -1, 0, -0.0, INF, NAN, 5.5, -7.25], np.float32)
    b = np.array([0, 0, 0, 0, 2, 1, -2, 0.5], np.float32)
    with np.errstate(all="ignore"):
        for uf in (np.true_divide, np.floor_divide, np.remainder, np.fmod):
            check(uf(dev(a), dev(b)), uf(a, b))
            check(uf(dev(a), -0.0), uf(a, np.float32(-0.0)))


def test_result_dtypes_follow_numpy2():
    f4 = np.arange(4, dtype=np.float32)
    i8 = np.arange(4, dtype=np.int64)
    i1 = np.arange(4, dtype=np.int8)
    bb = np.array([True, False, True, False])
    cases = [(np.add, f4, 2.5), (np.add, f4, 3), (np.multiply, f4, i8), (np.add, i1, 5),
             (np.true_divide, i8, 2), (np.add, bb, bb), (np.multiply, bb, 2),
             (np.add, f4, np.float64(1.5)), (np.less, i8, 2.5), (np.power, f4, 2),
             (np.maximum, i1, f4), (np.sqrt, i8, None), (np.floor, i8, None)]
    for uf, x, y in cases:
        args = (x,) if y is None else (x, y)
        want = uf(*args)
        got = uf(*[dev(v) if isinstance(v, np.ndarray) else v for v in args])
        check(got, want, uf is np.sqrt)
    check(np.add(dev(f4), dev(f4), dtype=np.float64), np.add(f4, f4, dtype=np.float64))
    check(np.add(dev(f4), 1, dtype="f8"), np.add(f4, 1, dtype="f8"))


def test_host_and_zero_d_operands():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    h = np.array([1.0, -2.0, 0.5], np.float32)
    check(np.add(dev(a), h), a + h)                         # a host array is uploaded
    check(np.multiply(np.float32(3), dev(a)), 3 * a)
    z = np.array(2.0, np.float64)                          # 0-d host array: strong scalar
    check(np.multiply(dev(a), z), a * z)
    d0 = dev(np.array(1.5, np.float32))
    check(np.add(d0, d0), np.add(np.array(1.5, np.float32), np.array(1.5, np.float32))[...])
    check(np.add(dev(a), d0), a + np.float32(1.5))
    e = np.zeros((0, 3), np.float32)
    check(np.exp(dev(e)), np.exp(e))
    check(np.add(dev(e), dev(h)), e + h)


def test_out_in_place_strided_and_aliased():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) - 4
    b = np.linspace(-1, 1, 4).astype(np.float32)
    d = dev(a)
    d += dev(b)                                      # np.add(d, b, out=d)
    check(d, a + b)
    d *= 2
    check(d, (a + b) * 2)
    d -= 1.5
    check(d, (a + b) * 2 - 1.5)
    # out is a strided view: only it changes
    big = dev(np.zeros((4, 6), np.float32))
    res = np.multiply(dev(a)[:, :3], 3, out=big[:3, ::2])
    want = np.zeros((4, 6), np.float32)
    want[:3, ::2] = a[:, :3] * 3
    assert res.shape == (3, 3)
    check(big, want)
    # out overlapping an input other than element for element: NumPy copies the input first
    x = np.arange(8, dtype=np.float32)
    dx = dev(x)
    np.add(dx, dx[::-1], out=dx)
    check(dx, x + x[::-1])
    m = np.arange(9, dtype=np.int64).reshape(3, 3)
    dm = dev(m)
    np.add(dm, dm.T, out=dm)
    check(dm, m + m.T)
    # tuple out, and the out array is what is returned
    o = dev(np.empty((3, 4), np.float32))
    assert np.negative(dev(a), out=(o,)) is o
    check(o, -a)
    # a bool comparison into a float out (same_kind allows it)
    of = dev(np.empty((3, 4), np.float32))
    np.greater(dev(a), 0, out=of)
    check(of, (a > 0).astype(np.float32))


def test_errors_name_what_is_missing():
    a = dev(np.ones(3, np.float32))
    with pytest.raises(NotImplementedError, match="spacing"):
        np.spacing(a)
    with pytest.raises(NotImplementedError, match="complex"):
        np.conjugate(dev(np.ones(2, np.complex64)))
    with pytest.raises(NotImplementedError, match="divmod"):
        np.divmod(a, a)
    with pytest.raises(NotImplementedError, match="float16"):
        np.exp(dev(np.ones(2, np.int8)))             # NumPy's loop is float16
    with pytest.raises(NotImplementedError, match="where"):
        np.add(a, a, where=dev(np.ones(3, bool)))
    with pytest.raises(TypeError):
        np.subtract(dev(np.ones(2, bool)), dev(np.ones(2, bool)))
    with pytest.raises(TypeError, match="same_kind"):
        np.add(a, 0.5, out=dev(np.ones(3, np.int64)))
    with pytest.raises(ValueError, match="broadcast"):
        np.add(a, a, out=dev(np.ones(2, np.float32)))
    with pytest.raises(ValueError):
        np.add(a, dev(np.ones(2, np.float32)))


def test_reduce_accumulate_at_go_to_their_hooks(monkeypatch):
    a = dev(np.ones(3, np.float32))
    for method, call in (("reduce", lambda: np.add.reduce(a)),
                         ("accumulate", lambda: np.multiply.accumulate(a)),
                         ("at", lambda: np.add.at(a, [0], 1))):
        monkeypatch.delitem(HOOKS, "ufunc_" + method, raising=False)
        with pytest.raises(NotImplementedError, match=f"numpy.[a-z]+.{method}"):
            call()
        seen = []
        monkeypatch.setitem(HOOKS, "ufunc_" + method,
                            lambda uf, *args, **kw: seen.append((uf, len(args))) or "hooked")
        assert call() == "hooked" or method == "at"
        assert seen and seen[0][0] in (np.add, np.multiply)
    with pytest.raises(NotImplementedError, match="outer"):
        np.add.outer(a, a)


def test_where():
    c = np.array([[True, False, True], [False, False, True]])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = -np.arange(3, dtype=np.float32)
    check(np.where(dev(c), dev(x), dev(y)), np.where(c, x, y))
    check(np.where(dev(c), dev(x), 0.5), np.where(c, x, 0.5))
    check(np.where(dev(c).T, 1, dev(x).T), np.where(c.T, 1, x.T))
    check(np.where(dev(x) > 2, dev(x), dev(np.arange(3))), np.where(x > 2, x, np.arange(3)))
    check(np.where(dev(x), 1.0, 0.0), np.where(x, 1.0, 0.0))          # non-bool condition
    monkey = HOOKS.pop("nonzero", None)
    try:
        with pytest.raises(NotImplementedError, match="nonzero"):
            np.where(dev(c))
    finally:
        if monkey is not None:
            HOOKS["nonzero"] = monkey


def test_clip():
    # (no -0.0: NumPy's scalar-bound and array-bound clip paths disagree on its sign)
    a = np.array([[-3, 0.25, 0.5, NAN], [2, 9, INF, -INF]], np.float32)
    lo = np.array([-1, 0, 1, 0], np.float32)
    check(np.clip(dev(a), -1, 2), np.clip(a, -1, 2))
    check(np.clip(dev(a), dev(lo), 3.0), np.clip(a, lo, 3.0))
    check(np.clip(dev(a), None, 1), np.clip(a, None, 1))
    check(np.clip(dev(a), 0.0, None), np.clip(a, 0.0, None))
    check(np.clip(dev(a), NAN, 1), np.clip(a, NAN, 1))
    check(dev(a).clip(0, 1), a.clip(0, 1))
    i = np.arange(-4, 4)
    check(np.clip(dev(i), -2, 2), np.clip(i, -2, 2))
    check(np.clip(dev(i), -2, 2.5), np.clip(i, -2, 2.5))
    d = dev(a)
    assert np.clip(d, -1, 1, out=d) is d
    check(d, np.clip(a, -1, 1))


def test_copyto():
    dst = dev(np.zeros((2, 3), np.float32))
    np.copyto(dst, dev(np.arange(3, dtype=np.float32)))
    check(dst, np.broadcast_to(np.arange(3, dtype=np.float32), (2, 3)).copy())
    np.copyto(dst, 7.0, where=dev(np.array([[True, False, True], [False, True, False]])))
    want = np.array([[7, 1, 7], [0, 7, 2]], np.float32)
    check(dst, want)
    np.copyto(dst[:, ::2], -1)
    want[:, ::2] = -1
    check(dst, want)
    with pytest.raises(TypeError):
        np.copyto(dev(np.zeros(3, np.int64)), dev(np.ones(3, np.float32)))


def test_nan_to_num_isclose_allclose_array_equal():
    a = np.array([NAN, INF, -INF, 1.5, -0.0], np.float32)
    check(np.nan_to_num(dev(a)), np.nan_to_num(a))
    check(np.nan_to_num(dev(a), nan=-1, posinf=9, neginf=-9),
          np.nan_to_num(a, nan=-1, posinf=9, neginf=-9))
    d = dev(a)
    np.nan_to_num(d, copy=False)
    check(d, np.nan_to_num(a))
    check(np.nan_to_num(dev(np.arange(3))), np.arange(3))
    x = np.array([1.0, 1.000005, NAN, INF, -INF, 0.0, 1e-9], np.float32)
    y = np.array([1.0, 1.0, NAN, INF, INF, 1e-9, 0.0], np.float32)
    check(np.isclose(dev(x), dev(y)), np.isclose(x, y))
    check(np.isclose(dev(x), dev(y), equal_nan=True), np.isclose(x, y, equal_nan=True))
    check(np.isclose(dev(x), 1.0, rtol=0, atol=1e-4), np.isclose(x, 1.0, rtol=0, atol=1e-4))
    assert np.allclose(dev(x[:2]), dev(y[:2])) is True
    assert np.allclose(dev(x), dev(y)) is False
    assert np.array_equal(dev(x[:2]), dev(x[:2])) is True
    assert np.array_equal(dev(x), dev(x)) is False
    assert np.array_equal(dev(x), dev(x), equal_nan=True) is True
    assert np.array_equal(dev(x), dev(x[:3])) is False


def test_isposinf_isneginf_sinc_round():
    a = np.array([INF, -INF, NAN, 0.0, -2.5], np.float32)
    check(np.isposinf(dev(a)), np.isposinf(a))
    check(np.isneginf(dev(a)), np.isneginf(a))
    o = dev(np.zeros(5, bool))
    np.isposinf(dev(a), out=o)
    check(o, np.isposinf(a))
    s = np.array([0.0, 0.5, -1.0, 2.25, 1e-3], np.float32)
    check(np.sinc(dev(s)), np.sinc(s), inexact=True)
    check(np.sinc(dev(np.arange(3))), np.sinc(np.arange(3)), inexact=True)
    r = np.array([0.5, 1.5, 2.5, -0.5, -1.25, 3.14159, -2.71828, 123.456], np.float32)
    for dec in (0, 1, 2, -1):
        check(np.round(dev(r), dec), np.round(r, dec))
        check(np.around(dev(r).astype(np.float64), dec), np.around(r.astype(np.float64), dec))
    check(dev(r).round(1), r.round(1))
    check(np.round(dev(np.arange(-3, 3)), 1), np.round(np.arange(-3, 3), 1))
    o = dev(np.zeros(8, np.float32))
    np.round(dev(r), 2, out=o)
    check(o, np.round(r, 2))


def test_contiguous_operands_take_the_flat_kernel(monkeypatch):
    seen = []
    real = E._kernel

    def spy(fn, pattern, flat):
        seen.append((pattern, flat))
        return real(fn, pattern, flat)
    monkeypatch.setattr(E, "_kernel", spy)
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.add(dev(a), dev(a))
    np.multiply(dev(a)[1:], 2.0)                 # a row slice is contiguous
    np.add(dev(a).T, dev(a).T)                  # transposed: strided
    np.add(dev(a), dev(a[0]))                    # broadcast: strided
    assert seen == [("aa", True), ("as", True), ("aa", False), ("aa", False)]


def test_higher_rank_broadcasts_and_negative_strides():
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5) / 7
    b = np.linspace(-3, 3, 4 * 5).astype(np.float32).reshape(4, 5)
    c = np.arange(3, dtype=np.float32).reshape(1, 3, 1, 1)
    check(np.add(dev(a), dev(b)), a + b)
    check(np.multiply(dev(a)[::-1, :, ::-2], dev(c)), a[::-1, :, ::-2] * c)
    check(np.maximum(dev(a).transpose(3, 1, 0, 2), 0.5), np.maximum(a.transpose(3, 1, 0, 2), 0.5))
    check(np.where(dev(c) > 0, dev(a), dev(b)), np.where(c > 0, a, b))


def _random_view(rng, base):
    """A random view of host array `base` and the same view of a device copy."""
    d = dev(base)
    h = base
    for _ in range(2):
        axis = int(rng.integers(h.ndim))
        n = h.shape[axis]
        start, step = int(rng.integers(max(n // 2, 1))), int(rng.choice([1, 2, -1]))
        key = (slice(None),) * axis + (slice(start, None, step) if step > 0
                                       else slice(None, None, -1),)
        h, d = h[key], d[key]
    perm = tuple(int(p) for p in rng.permutation(h.ndim))
    return h.transpose(perm), d.transpose(perm)


def test_random_views_and_broadcasts_match_numpy():
    rng = np.random.default_rng(0)
    for case in range(12):
        shape = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 4))))
        ha, da = _random_view(rng, rng.standard_normal(shape).astype(np.float32))
        # b broadcasts against a: some of a's dims kept, others 1, maybe fewer dims
        bshape = tuple(n if rng.random() < 0.6 else 1 for n in ha.shape)[
            int(rng.integers(ha.ndim)):]
        hb = rng.standard_normal(bshape).astype(np.float32)
        db = dev(hb)
        check(np.subtract(da, db), ha - hb)
        check(np.where(da > 0, db, da), np.where(ha > 0, hb, ha))
        out = dev(np.zeros(ha.shape, np.float32))
        np.multiply(da, db, out=out)
        check(out, ha * hb)
