"""Elementwise ops (nnfast/_ops/elementwise.py, binary.py, arith.py) held to torch 2.13: forward
values and dtypes, gradients through check_op, in-place twins, out=, integer and bool inputs,
bad input, and a dtype sweep. Comparisons and logical/bitwise ops: test_ops_compare.py."""
import warnings

import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, check_op

F32, F64 = np.float32, np.float64


def tdt(t):
    return np.dtype(str(t.dtype).replace("torch.", ""))


# name -> input range where the function and its derivative are finite
UNARY = {
    "sin": (-3, 3), "cos": (-3, 3), "tan": (-1.2, 1.2), "asin": (-0.9, 0.9),
    "acos": (-0.9, 0.9), "atan": (-3, 3), "sinh": (-2, 2), "cosh": (-2, 2),
    "asinh": (-3, 3), "acosh": (1.1, 3), "atanh": (-0.9, 0.9), "exp2": (-3, 3),
    "expm1": (-2, 2), "log2": (0.1, 3), "log10": (0.1, 3), "log1p": (-0.9, 3),
    "rsqrt": (0.1, 3), "reciprocal": (0.2, 3), "sigmoid": (-4, 4), "tanh": (-3, 3),
    "erf": (-2, 2), "erfc": (-2, 2), "erfinv": (-0.9, 0.9), "deg2rad": (-3, 3),
    "rad2deg": (-3, 3), "square": (-3, 3), "relu": (-2, 2), "floor": (-3, 3),
    "ceil": (-3, 3), "trunc": (-3, 3), "frac": (-3, 3), "sign": (-3, 3), "round": (-3, 3),
    "arcsin": (-0.9, 0.9), "arccos": (-0.9, 0.9), "arctan": (-3, 3), "arcsinh": (-3, 3),
    "arccosh": (1.1, 3), "arctanh": (-0.9, 0.9), "fix": (-3, 3), "sgn": (-3, 3),
    "negative": (-3, 3), "abs": (-3, 3), "exp": (-2, 2), "log": (0.1, 3), "sqrt": (0.1, 3),
    "logit": (0.05, 0.95), "sinc": (-2, 2), "nan_to_num": (-3, 3),
}
NO_INPLACE_IN_TORCH = {"relu", "square", "negative", "erfinv_"}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [F32, F64])
def test_unary_matches_torch(name, dtype):
    lo, hi = UNARY[name]
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == F32 else dict(atol=1e-10, rtol=1e-9)
    if name == "erfinv" and dtype == F32:
        tol = dict(atol=2e-5, rtol=2e-4)
    tfn = getattr(torch, name)
    if name == "sgn":   # torch's gradient is a ZeroTensor, which has no .numpy()
        tfn = lambda a: torch.sgn(a) + 0 * a   # noqa: E731
    check_op([(3, 5)], tfn, getattr(nf, name), dtype=dtype, low=lo, high=hi, **tol)
    check_op([(4,)], lambda a: tfn(a), lambda a: getattr(a, name)(), dtype=dtype,
             low=lo, high=hi, **tol)
    check_op([()], tfn, getattr(nf, name), dtype=dtype, low=lo, high=hi, **tol)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_inplace_twin(name):
    if not hasattr(torch.Tensor, name + "_"):
        assert not hasattr(torch.Tensor, name + "_")
        return
    lo, hi = UNARY[name]
    x = np.random.default_rng(1).uniform(lo, hi, (3, 4)).astype(F32)
    up = np.random.default_rng(2).standard_normal((3, 4)).astype(F32)
    # on a plain tensor, and on a graph tensor (the history is rebased)
    t, n = torch.from_numpy(x.copy()), nf.tensor(x)
    assert getattr(n, name + "_")() is n
    getattr(t, name + "_")()
    assert_close(n, t, 1e-5, 1e-4, name)
    # torch has no gradient for some in-place twins (acosh_, ...): its out-of-place op is the
    # reference for the gradient
    ta, na = torch.tensor(x, requires_grad=True), nf.tensor(x, requires_grad=True)
    ty, ny = getattr(torch, name)(ta * 2) + 0 * ta, na * 2
    getattr(ny, name + "_")()
    assert_close(ny, ty, 1e-5, 1e-4, name)
    ty.backward(torch.from_numpy(up))
    ny.backward(nf.tensor(up))
    assert_close(na.grad, ta.grad, 1e-5, 1e-4, name + " grad")
    with pytest.raises(RuntimeError, match="in-place"):
        getattr(nf.tensor(x, requires_grad=True), name + "_")()


FLOAT_RESULT = ["sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "exp2", "expm1", "log2",
                "log10", "log1p", "rsqrt", "reciprocal", "sigmoid", "tanh", "erf", "erfc",
                "deg2rad", "rad2deg", "exp", "log", "sqrt"]
KEEP_DTYPE = ["square", "relu", "floor", "ceil", "trunc", "sign", "round", "abs", "neg",
              "fix", "sgn"]


@pytest.mark.parametrize("name", FLOAT_RESULT + KEEP_DTYPE)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_unary_integer_and_bool_inputs(name, dtype):
    x = np.array([0, 1, 2, 3, 1, 0]).astype(dtype)
    tfn, nfn = getattr(torch, name), getattr(nf, name)
    try:
        t = tfn(torch.from_numpy(x.copy()))
    except (RuntimeError, TypeError) as e:   # NotImplementedError is a RuntimeError
        with pytest.raises(type(e)):
            nfn(nf.tensor(x))
        return
    n = nfn(nf.tensor(x))
    assert n.dtype == tdt(t), f"{name}({dtype.__name__}): {n.dtype} vs {t.dtype}"
    assert_close(n, t, 1e-6, 1e-5, name)


def test_sign_of_nan_and_zero_like_torch():
    x = np.array([np.nan, -0.0, 0.0, -2.0, np.inf], F32)
    assert_close(nf.sign(nf.tensor(x)), torch.sign(torch.from_numpy(x)))


def test_round_decimals_and_half_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, 1.25, 1.2345, 123.456], F32)
    for d in (0, 1, 2, -1):
        n = nf.round(nf.tensor(x), decimals=d)
        assert_close(n, torch.round(torch.from_numpy(x), decimals=d), 1e-6, 1e-6, f"d={d}")
        t = nf.tensor(x.copy())
        t.round_(decimals=d)
        assert_close(t, n)
    check_op(None, lambda a: torch.round(a, decimals=1), lambda a: nf.round(a, decimals=1),
             inputs=[x])


def test_relu_sigmoid_tanh_methods_and_inplace_keep_kernels():
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(F32)
    for name in ("relu", "sigmoid", "tanh"):
        check_op(None, lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), inputs=[x])
        check_op(None, getattr(torch, name), getattr(nf, name), inputs=[x.astype(F64)],
                 dtype=F64)
        h = x.astype(np.float16)
        assert_close(getattr(nf, name)(nf.tensor(h)), getattr(torch, name)(torch.from_numpy(h)),
                     1e-3, 1e-3)
    assert nf.sigmoid(nf.tensor([1, 2])).dtype == F32
    with pytest.raises(RuntimeError, match="Boolean"):
        nf.relu(nf.tensor([True]))


def test_nan_to_num_logit_eps_positive_softmax():
    x = np.array([np.nan, np.inf, -np.inf, 1.5, -2.0], F32)
    for kw in ({}, {"nan": 1.0}, {"posinf": 9.0, "neginf": -9.0}):
        check_op(None, lambda a: torch.nan_to_num(a, **kw), lambda a: nf.nan_to_num(a, **kw),
                 inputs=[x])
        check_op(None, lambda a: a.nan_to_num(**kw), lambda a: a.nan_to_num(**kw), inputs=[x])
    p = np.array([0.0, 0.01, 0.3, 0.7, 0.99, 1.0], F32)
    check_op(None, lambda a: torch.logit(a, eps=0.05), lambda a: nf.logit(a, eps=0.05),
             inputs=[p])
    assert_close(nf.logit(nf.tensor(p)), torch.logit(torch.from_numpy(p)))
    t = nf.tensor([1.0, 2.0])
    assert nf.positive(t) is t
    with pytest.raises(RuntimeError, match="bool"):
        nf.positive(nf.tensor([True]))
    z = np.random.default_rng(0).standard_normal((3, 5)).astype(F32)
    for name in ("softmax", "log_softmax"):
        check_op(None, lambda a: getattr(torch, name)(a, 1), lambda a: getattr(nf, name)(a, 1),
                 inputs=[z])
        check_op(None, lambda a: getattr(torch, name)(a, dim=0, dtype=torch.float64),
                 lambda a: getattr(nf, name)(a, dim=0, dtype=nf.float64), inputs=[z])
        with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
            getattr(nf, name)(nf.tensor([1, 2]), 0)
        check_op(None, lambda a: getattr(a, name)(dim=-1, dtype=torch.float64),
                 lambda a: getattr(a, name)(dim=-1, dtype=nf.float64), inputs=[z])


# ============================================================= binary ops

BINARY = {
    "atan2": (lambda a, b: torch.atan2(a, b), lambda a, b: nf.atan2(a, b), (-2, 2)),
    "arctan2": (torch.arctan2, nf.arctan2, (-2, 2)),
    "maximum": (torch.maximum, nf.maximum, (-2, 2)),
    "minimum": (torch.minimum, nf.minimum, (-2, 2)),
    "fmax": (torch.fmax, nf.fmax, (-2, 2)),
    "fmin": (torch.fmin, nf.fmin, (-2, 2)),
    "fmod": (torch.fmod, nf.fmod, (0.3, 3)),
    "remainder": (torch.remainder, nf.remainder, (0.3, 3)),
    "hypot": (torch.hypot, nf.hypot, (0.3, 3)),
    "xlogy": (torch.xlogy, nf.xlogy, (0.3, 3)),
    "div_trunc": (lambda a, b: torch.div(a, b, rounding_mode="trunc"),
                  lambda a, b: nf.div(a, b, rounding_mode="trunc"), (0.3, 3)),
    "div_floor": (lambda a, b: torch.div(a, b, rounding_mode="floor"),
                  lambda a, b: nf.div(a, b, rounding_mode="floor"), (0.3, 3)),
    "div_none": (lambda a, b: torch.div(a, b, rounding_mode=None),
                 lambda a, b: nf.div(a, b, rounding_mode=None), (0.3, 3)),
    "divide": (torch.divide, nf.divide, (0.3, 3)),
    "true_divide": (torch.true_divide, nf.true_divide, (0.3, 3)),
    "logaddexp": (torch.logaddexp, nf.logaddexp, (-3, 3)),
    "logaddexp2": (torch.logaddexp2, nf.logaddexp2, (-3, 3)),
    "copysign": (torch.copysign, nf.copysign, (-3, 3)),
    "float_power": (torch.float_power, nf.float_power, (0.3, 3)),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1, 3), (4, 1)],
                                    [(), (3,)]])
def test_binary_matches_torch(name, shapes):
    tfn, nfn, (lo, hi) = BINARY[name]
    check_op(shapes, tfn, nfn, low=lo, high=hi)
    check_op(shapes, tfn, nfn, low=lo, high=hi, dtype=F64, atol=1e-10, rtol=1e-9)


def test_remainder_fmod_signs_and_gradients():
    a = np.array([5.0, -5.0, 5.0, -5.0, 7.5], F32)
    b = np.array([3.0, 3.0, -3.0, -3.0, 2.0], F32)
    for name in ("fmod", "remainder"):
        check_op(None, getattr(torch, name), getattr(nf, name), inputs=[a, b])
        check_op(None, lambda x: getattr(torch, name)(x, 2.5), lambda x: getattr(nf, name)(x, 2.5),
                 inputs=[a])
    ai = np.array([7, -7, 7, -7]), np.array([2, 2, -2, -2])
    for op in ("__mod__", "__floordiv__"):
        n = getattr(nf.tensor(ai[0]), op)(nf.tensor(ai[1]))
        t = getattr(torch.tensor(ai[0]), op)(torch.tensor(ai[1]))
        assert n.dtype == tdt(t)
        np.testing.assert_array_equal(n.numpy(), t.numpy())
    assert_close(7 % nf.tensor([-2.5, 2.0]), 7 % torch.tensor([-2.5, 2.0]))
    assert_close(7 // nf.tensor([-2, 2]), 7 // torch.tensor([-2, 2]))


def test_maximum_ties_and_nan_gradients():
    a = np.array([1.0, 2.0, np.nan, 3.0, 1.0], F32)
    b = np.array([1.0, 1.0, 1.0, np.nan, 4.0], F32)
    for name in ("maximum", "minimum", "fmax", "fmin"):
        n, t = check_op(None, getattr(torch, name), getattr(nf, name), inputs=[a, b])


@pytest.mark.parametrize("mode", ["trunc", "floor"])
@pytest.mark.parametrize("dt", [np.int64, np.int32, np.uint8, F32, F64])
def test_div_rounding_modes(mode, dt):
    a = np.array([7, -7, 6, -6, 0, 5]).astype(dt) if dt != np.uint8 else \
        np.array([7, 9, 6, 0, 5, 200], np.uint8)
    b = np.array([2, 2, -4, 4, 3, 3]).astype(dt) if dt != np.uint8 else \
        np.array([2, 2, 4, 4, 3, 3], np.uint8)
    n = nf.div(nf.tensor(a), nf.tensor(b), rounding_mode=mode)
    t = torch.div(torch.from_numpy(a), torch.from_numpy(b), rounding_mode=mode)
    assert n.dtype == tdt(t)
    np.testing.assert_array_equal(n.numpy(), t.numpy())
    n = nf.tensor(a).div(3, rounding_mode=mode)
    t = torch.from_numpy(a).div(3, rounding_mode=mode)
    assert n.dtype == tdt(t)
    np.testing.assert_array_equal(n.numpy(), t.numpy())
    x = nf.tensor(a)
    x.div_(2, rounding_mode=mode)
    np.testing.assert_array_equal(x.numpy(), torch.from_numpy(a).div_(2, rounding_mode=mode))


def test_division_errors():
    with pytest.raises(RuntimeError, match="rounding_mode"):
        nf.div(nf.tensor([1.0]), 2, rounding_mode="round")
    for fn in (lambda a, b: nf.div(a, b, rounding_mode="floor"), nf.fmod, nf.remainder,
               nf.floor_divide):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            fn(nf.tensor([1, 2]), nf.tensor([1, 0]))
    # float division by zero is IEEE, as in torch
    assert_close(nf.floor_divide(nf.tensor([1.0, -1.0]), 0.0),
                 torch.floor_divide(torch.tensor([1.0, -1.0]), 0.0))
    x = nf.tensor([5.0, -5.0], requires_grad=True)
    y = nf.floor_divide(x, 2)
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, -3.0])
    with pytest.raises(RuntimeError, match="floor_divide is not implemented"):
        y.sum().backward()


def test_binary_integer_and_mixed_dtypes():
    i = np.array([1, -2, 3]), np.array([2, 2, -2])
    f = np.array([1.5, -2.5, 0.5], F32)
    for name in ("maximum", "minimum", "fmax", "fmin", "fmod", "remainder", "floor_divide",
                 "atan2"):
        for x, y in ((i[0], i[1]), (i[0], f), (f, i[1])):
            t = getattr(torch, name)(torch.from_numpy(x), torch.from_numpy(y))
            n = getattr(nf, name)(nf.tensor(x), nf.tensor(y))
            assert n.dtype == tdt(t), f"{name}: {n.dtype} vs {t.dtype}"
            assert_close(n, t, 1e-6, 1e-6, name)


def test_lerp_addcmul_addcdiv():
    for w in (0.3, None):
        def tl(a, b, c=None):
            return torch.lerp(a, b, 0.3 if c is None else c)

        def nl(a, b, c=None):
            return nf.lerp(a, b, 0.3 if c is None else c)
        shapes = [(3, 4), (4,)] if w is not None else [(3, 4), (4,), (3, 1)]
        check_op(shapes, tl, nl)
        check_op(shapes, lambda *a: tl(*a).neg(), lambda *a: a[0].lerp(*a[1:]).neg()
                 if w is None else a[0].lerp(a[1], 0.3).neg())
    for v in (1, 0.5, -2):
        check_op([(3, 4), (3, 1), (4,)], lambda a, b, c: torch.addcmul(a, b, c, value=v),
                 lambda a, b, c: nf.addcmul(a, b, c, value=v))
        check_op([(3, 4), (3, 1), (4,)], lambda a, b, c: torch.addcdiv(a, b, c, value=v),
                 lambda a, b, c: nf.addcdiv(a, b, c, value=v), low=0.5, high=2)
        check_op([(3, 4), (3, 4), (3, 4)], lambda a, b, c: a.addcmul(b, c, value=v),
                 lambda a, b, c: a.addcmul(b, c, value=v))
    x = np.ones((2, 2), F32)
    n, t = nf.tensor(x), torch.from_numpy(x.copy())
    n.addcdiv_(nf.full((2, 2), 3.0), nf.full((2, 2), 2.0), value=2)
    t.addcdiv_(torch.full((2, 2), 3.0), torch.full((2, 2), 2.0), value=2)
    assert_close(n, t)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        nf.addcdiv(nf.tensor([1]), nf.tensor([1]), nf.tensor([2]))
    with pytest.raises(RuntimeError, match="expected dtype"):
        nf.lerp(nf.tensor([1.0]), nf.tensor([1.0], dtype=nf.float64), 0.5)
    with pytest.raises(NotImplementedError):
        nf.lerp(nf.tensor([1]), nf.tensor([2]), 0.5)


@pytest.mark.parametrize("lo_t,hi_t", [(True, True), (True, False), (False, True)])
def test_clamp_with_tensor_bounds(lo_t, hi_t):
    rng = np.random.default_rng(3)
    x = rng.uniform(-2, 2, (3, 4)).astype(F32)
    lo = rng.uniform(-1, 0, (4,)).astype(F32)
    hi = rng.uniform(0, 1, (3, 1)).astype(F32)

    def run(lib, a, *bounds):   # torch takes two tensor bounds or two numbers
        bounds = list(bounds)
        lo_ = bounds.pop(0) if lo_t else (nf.tensor(-0.5) if lib is nf else torch.tensor(-0.5))
        hi_ = bounds.pop(0) if hi_t else (nf.tensor(0.5) if lib is nf else torch.tensor(0.5))
        return lib.clamp(a, lo_, hi_)
    inputs = [x] + ([lo] if lo_t else []) + ([hi] if hi_t else [])
    check_op(None, lambda *a: run(torch, *a), lambda *a: run(nf, *a), inputs=inputs)
    check_op(None, lambda a, b: torch.clamp_min(a, b), lambda a, b: nf.clamp_min(a, b),
             inputs=[x, lo])
    check_op(None, lambda a, b: a.clamp_max(b), lambda a, b: a.clamp_max(b), inputs=[x, hi])
    check_op(None, lambda a: a.clamp_min(0.2), lambda a: a.clamp_min(0.2), inputs=[x])
    with pytest.raises(RuntimeError, match="At least one"):
        nf.clamp(nf.tensor(x))


# ============================================================= out= and bad input

@pytest.mark.parametrize("call", [
    lambda lib, x, o: lib.sin(x, out=o), lambda lib, x, o: lib.atan2(x, x, out=o),
    lambda lib, x, o: lib.maximum(x, x, out=o), lambda lib, x, o: lib.add(x, x, alpha=2, out=o),
    lambda lib, x, o: lib.mul(x, 3, out=o), lambda lib, x, o: lib.exp(x, out=o),
    lambda lib, x, o: lib.div(x, 2, rounding_mode="floor", out=o),
    lambda lib, x, o: lib.clamp(x, -0.5, 0.5, out=o), lambda lib, x, o: lib.round(x, out=o),
    lambda lib, x, o: lib.sigmoid(x, out=o), lambda lib, x, o: lib.matmul(x, x.T, out=o),
    lambda lib, x, o: lib.lerp(x, x * 2, 0.5, out=o),
])
def test_out_argument(call):
    x = np.random.default_rng(5).standard_normal((3, 3)).astype(F32)
    for shape in ((3, 3), (0,)):
        o, ot = nf.zeros(shape), torch.zeros(shape)
        r = call(nf, nf.tensor(x), o)
        call(torch, torch.from_numpy(x), ot)
        assert r is o
        assert_close(o, ot)
    o64 = nf.zeros((3, 3), dtype=nf.float64)
    call(nf, nf.tensor(x), o64)   # nnfast casts where torch sometimes refuses
    assert o64.dtype == F64
    assert_close(o64, call(torch, torch.from_numpy(x), torch.zeros((3, 3))))
    with pytest.raises(RuntimeError, match="can't be cast"):
        call(nf, nf.tensor(x), nf.zeros((3, 3), dtype=nf.int64))
    with pytest.raises(RuntimeError, match="out=... arguments don't support automatic"):
        call(nf, nf.tensor(x, requires_grad=True), nf.zeros((3, 3)))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        o = nf.zeros(4)
        call(nf, nf.tensor(x), o)
        assert o.shape == (3, 3) and any("resized" in str(m.message) for m in w)
    with pytest.raises(TypeError, match="out"):
        call(nf, nf.tensor(x), np.zeros((3, 3), F32))


def test_bad_input():
    with pytest.raises(TypeError, match="sin"):
        nf.sin("abc")
    with pytest.raises(TypeError):
        nf.maximum(nf.tensor([1.0]), "abc")
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        nf.atan2(nf.ones(2, 3), nf.ones(4))
    with pytest.raises(NotImplementedError, match="Bool"):
        nf.floor(nf.tensor([True]))
    with pytest.raises(NotImplementedError, match="Long"):
        nf.frac(nf.tensor([1]))
    for a, b in ((nf.tensor([True]), nf.tensor([False])), (nf.tensor([1.0]), True),
                 (nf.tensor([True]), nf.tensor([1.5]))):
        with pytest.raises(RuntimeError, match="with a bool tensor is not supported"):
            a - b
    with pytest.raises(NotImplementedError, match="Bool"):
        nf.tensor([True]) ** nf.tensor([True])


def test_inplace_float_result_into_int_refused():
    x = nf.tensor([1, 2])
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.sin_()
    y = nf.tensor([1, 2])
    y.floor_()
    np.testing.assert_array_equal(y.numpy(), [1, 2])


@pytest.mark.parametrize("alpha", [1, 2, -0.5])
def test_add_sub_alpha(alpha):
    for name in ("add", "sub", "subtract"):
        check_op([(3, 4), (4,)], lambda a, b: getattr(torch, name)(a, b, alpha=alpha),
                 lambda a, b: getattr(nf, name)(a, b, alpha=alpha))
        check_op([(3, 4)], lambda a: getattr(torch, name)(a, 2, alpha=alpha),
                 lambda a: getattr(nf, name)(a, 2, alpha=alpha))
        check_op([(3, 4), (3, 4)], lambda a, b: getattr(a, name)(b, alpha=alpha),
                 lambda a, b: getattr(a, name)(b, alpha=alpha))


@pytest.mark.parametrize("name", ["logical_and", "bitwise_or", "eq", "lt", "maximum", "fmod"])
def test_binary_bad_operands(name):
    fn = getattr(nf, name)
    a = nf.tensor([1, 2])
    with pytest.raises(TypeError, match="must be Tensor or Number"):
        fn(a, "x")
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        fn(a, nf.tensor([1, 2, 3]))


def test_gcd_lcm_heaviside_nextafter():
    a, b = np.array([12, -18, 0, 7]), np.array([8, 27, 5, 0])
    for name in ("gcd", "lcm"):
        n = getattr(nf, name)(nf.tensor(a), nf.tensor(b))
        t = getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b))
        assert n.dtype == tdt(t)
        np.testing.assert_array_equal(n.numpy(), t.numpy())
        with pytest.raises(NotImplementedError, match="Float"):
            getattr(nf, name)(nf.tensor([1.0]), nf.tensor([2.0]))
    x = np.array([-1.0, 0.0, 2.0, -0.0], F32)
    assert_close(nf.heaviside(nf.tensor(x), nf.tensor([0.5])),
                 torch.heaviside(torch.from_numpy(x), torch.tensor([0.5])))
    with pytest.raises(RuntimeError, match="different dtypes"):
        nf.heaviside(nf.tensor(x), nf.tensor([1]))
    y = np.array([2.0, -1.0, 0.0, 1.0], F32)
    np.testing.assert_array_equal(nf.nextafter(nf.tensor(x), nf.tensor(y)).numpy(),
                                  torch.nextafter(torch.from_numpy(x), torch.from_numpy(y)))
    z, tz = nf.tensor([1.0, 3.0]), torch.tensor([1.0, 3.0])
    z.true_divide_(2)
    tz.true_divide_(2)
    assert_close(z, tz)
    w, tw = nf.tensor([-1.5, 2.0]), torch.tensor([-1.5, 2.0])
    w.absolute_()
    tw.absolute_()
    assert_close(w, tw)
    assert isinstance(nf.float32, nf.dtype) and isinstance(nf.seed(), int)


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_float32_erf_within_3_ulp(name):
    """The vectorised float32 erf/erfc against math.erf over their whole useful range."""
    import math
    x = np.concatenate([np.linspace(-9, 9, 20001), np.geomspace(1e-8, 9, 2000),
                        -np.geomspace(1e-8, 9, 2000)]).astype(F32)
    ref = np.array([getattr(math, name)(v) for v in x.astype(F64)])
    got = getattr(nf, name)(nf.tensor(x)).numpy()
    assert got.dtype == F32
    ulp = np.abs(got.astype(F64) - ref) / np.spacing(np.abs(ref).astype(F32))
    assert ulp.max() <= 3, f"{ulp.max()} ulp at x={x[ulp.argmax()]}"
    h = getattr(nf, name)(nf.tensor(x.astype(np.float16)))
    assert h.dtype == np.float16


# ============================================================= dtype sweep

SWEEP_DTYPES = [F32, F64, np.float16, np.int64, np.int32, np.uint8, np.int8, np.bool_]
SWEEP_UNARY = ("sin cos tan atan sinh cosh asinh exp2 expm1 log2 log10 log1p rsqrt square sign "
               "sgn floor ceil round trunc frac reciprocal sigmoid tanh relu erf erfc deg2rad "
               "rad2deg exp log sqrt abs neg logical_not bitwise_not isnan isinf isfinite "
               "signbit nan_to_num logit sinc").split()
SWEEP_BINARY = ("atan2 maximum minimum fmax fmin fmod remainder floor_divide logical_and "
                "logical_or logical_xor bitwise_and bitwise_or bitwise_xor hypot xlogy copysign "
                "logaddexp float_power eq ne lt le gt ge add sub mul div pow true_divide").split()


def _sweep_value(dt, rng):
    if dt == np.bool_:
        return rng.random(4) > 0.5
    if np.dtype(dt).kind == "f":
        return rng.uniform(0.2, 3, 4).astype(dt)
    return rng.integers(1, 5, 4).astype(dt)


def _sweep_compare(tag, run_torch, run_nf):
    """Same dtype and values as torch, or the same refusal (torch's TypeError for a number
    where it wants a tensor aside: nnfast takes the number)."""
    try:
        t = run_torch()
    except (RuntimeError, TypeError) as e:
        if isinstance(e, TypeError) and "must be Tensor" in str(e):
            return
        with pytest.raises((RuntimeError, TypeError)):
            run_nf()
        return
    n = run_nf()
    assert n.dtype == tdt(t), f"{tag}: dtype {n.dtype} vs {t.dtype}"
    np.testing.assert_allclose(n.numpy().astype(F64), t.numpy().astype(F64), rtol=2e-3,
                               atol=1e-3, err_msg=tag)


@pytest.mark.parametrize("name", SWEEP_UNARY)
def test_unary_dtype_sweep(name):
    rng = np.random.default_rng(0)
    for dt in SWEEP_DTYPES:
        a = _sweep_value(dt, rng)
        _sweep_compare(f"{name}({np.dtype(dt)})", lambda: getattr(torch, name)(torch.from_numpy(a)),
                       lambda: getattr(nf, name)(nf.tensor(a)))


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")   # x / False (arith.div)
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("name", SWEEP_BINARY)
def test_binary_dtype_sweep(name):
    rng = np.random.default_rng(1)
    for d1 in SWEEP_DTYPES:
        for d2 in SWEEP_DTYPES + [2, 2.0, True]:
            a = _sweep_value(d1, rng)
            if isinstance(d2, type):
                b = _sweep_value(d2, rng)
                tb, nb = torch.from_numpy(b), nf.tensor(b)
            else:
                tb = nb = d2
            _sweep_compare(f"{name}({np.dtype(d1)}, {d2})",
                           lambda: getattr(torch, name)(torch.from_numpy(a), tb),
                           lambda: getattr(nf, name)(nf.tensor(a), nb))
