"""Tensor: construction and dtype rules, properties, factories and every differentiable op,
each held to torch 2.13 (forward values, dtypes and gradients) through helpers.check_op."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, check_op, fd_grad

F32 = np.float32
F64 = np.float64


def tdt(t):
    """torch dtype -> numpy dtype."""
    return np.dtype(str(t.dtype).replace("torch.", ""))


# ============================================================= construction and dtype rules

@pytest.mark.parametrize("data", [
    [1.0, 2.0], [1, 2, 3], [True, False], 3, 2.5, True, [[1, 2], [3, 4]], [1, 2.5],
    [], [[1.0], [2.0]], np.float64(1.5), np.float32(1.5), np.int32(3),
])
def test_tensor_dtype_inference_matches_torch(data):
    n = nf.tensor(data)
    t = torch.tensor(data)
    assert n.dtype == tdt(t), f"{data!r}: {n.dtype} vs {t.dtype}"
    assert n.shape == tuple(t.shape)
    np.testing.assert_array_equal(n.detach().numpy(), t.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.bool_,
                                   np.uint8, np.int16])
def test_numpy_arrays_keep_dtype(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    for make in (nf.tensor, nf.from_numpy, nf.as_tensor):
        n = make(a)
        assert n.dtype == np.dtype(dtype)
        assert n.dtype == tdt(torch.from_numpy(a))
        np.testing.assert_array_equal(n.detach().numpy(), a)


def test_tensor_copies_from_numpy_shares_as_tensor_shares():
    a = np.zeros(3, F32)
    t = nf.tensor(a)
    f = nf.from_numpy(a)
    s = nf.as_tensor(a)
    a[0] = 5
    assert t.detach().numpy()[0] == 0
    assert f.detach().numpy()[0] == 5 and s.detach().numpy()[0] == 5
    assert nf.as_tensor(f) is f
    # with a different dtype as_tensor converts (a copy)
    d = nf.as_tensor(a, dtype=nf.float64)
    assert d.dtype == F64 and not np.shares_memory(d.detach().numpy(), a)


def test_tensor_explicit_dtype_and_from_tensor():
    assert nf.tensor([1, 2], dtype=nf.float32).dtype == F32
    assert nf.tensor([1.5, 2.5], dtype=nf.float64).dtype == F64
    assert nf.tensor([1.7], dtype=nf.int64).detach().numpy()[0] == 1
    src = nf.tensor([1.0, 2.0])
    cp = nf.tensor(src)
    cp.detach().numpy()[0] = 9
    assert src.detach().numpy()[0] == 1.0


def test_from_numpy_rejects_lists():
    with pytest.raises(TypeError, match="ndarray"):
        nf.from_numpy([1, 2])


def test_torch_style_constructor_is_float32():
    assert nf.Tensor([1, 2]).dtype == F32
    assert nf.Tensor([1, 2], dtype=nf.float64).dtype == F64


# ============================================================= properties

def test_properties():
    x = nf.tensor(np.arange(24, dtype=F32).reshape(2, 3, 4))
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24 and len(x) == 2
    assert x.dtype == F32 and x.device == "cpu"
    assert x.is_leaf and x.grad_fn is None and x.grad is None
    assert isinstance(x.numpy(), np.ndarray) and x.numpy() is x.detach().numpy()
    assert x.tolist() == np.arange(24).reshape(2, 3, 4).tolist()
    assert nf.tensor([[3.5]]).item() == 3.5
    assert isinstance(nf.tensor(7).item(), int)
    assert float(nf.tensor(2.5)) == 2.5 and int(nf.tensor(3)) == 3
    with pytest.raises(RuntimeError, match="24 elements cannot be converted to Scalar"):
        x.item()
    with pytest.raises(ValueError, match="one element"):
        float(x)
    with pytest.raises(TypeError):
        len(nf.tensor(1.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(nf.tensor([1.0, 2.0]))


def test_zero_dim_results_are_ndarrays():
    """Ops on 0-d and full-index results must still hold an ndarray (numpy returns scalars)."""
    x = nf.tensor([[1.0, 2.0], [3.0, 4.0]])
    for r in (x[0, 1], nf.tensor(2.0) * nf.tensor(3.0), nf.tensor([1.0, 2.0]) @ nf.tensor([3.0, 4.0]),
              x.sum(), x.max(), -nf.tensor(1.0), nf.tensor(4.0).sqrt()):
        assert isinstance(r.detach().numpy(), np.ndarray), type(r.detach().numpy())
        assert isinstance(r.numpy(), np.ndarray)
        assert r.shape == ()
    y = x[0, 1]
    y += 1   # in-place on a 0-d tensor works (no grad involved)
    assert y.item() == 3.0


def test_requires_grad_rules():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    assert x.requires_grad and x.is_leaf
    with pytest.raises(RuntimeError, match="floating point"):
        nf.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        nf.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="floating point"):
        nf.zeros(3, dtype=nf.int64, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        np.asarray(x)
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    assert "Mul" in repr(y.grad_fn)
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and np.shares_memory(d.detach().numpy(), y.detach().numpy())
    assert nf.tensor([1.0]).requires_grad_().requires_grad
    # results of ops on tensors that don't require grad don't either
    assert not (nf.tensor([1.0]) * 2).requires_grad


def test_repr_mentions_grad():
    assert "requires_grad=True" in repr(nf.tensor([1.0], requires_grad=True))
    assert "grad_fn" in repr(nf.tensor([1.0], requires_grad=True) * 2)
    assert "float64" in repr(nf.tensor([1.0], dtype=nf.float64))


def test_type_conversions():
    x = nf.tensor([1.5, -2.5])
    assert x.double().dtype == F64 and x.long().dtype == np.int64 and x.int().dtype == np.int32
    assert x.bool().dtype == np.bool_ and x.double().float().dtype == F32
    assert x.to(nf.float64).dtype == F64 and x.to("cpu") is x
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        x.to("cuda:0")
    # float casts are differentiable
    w = nf.tensor([1.0, 2.0], requires_grad=True)
    (w.double() * 3).sum().backward()
    assert w.grad.dtype == F32
    np.testing.assert_allclose(w.grad.detach().numpy(), [3, 3])


# ============================================================= factories

@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_shape_factories(name):
    nfn, tfn = getattr(nf, name), getattr(torch, name)
    for args in [(3,), (2, 3), ((2, 3),), ([4],), ((),)]:
        n, t = nfn(*args), tfn(*args)
        assert n.shape == tuple(t.shape) and n.dtype == tdt(t)
        if name != "empty":
            np.testing.assert_array_equal(n.detach().numpy(), t.numpy())
    assert nfn(2, dtype=nf.int64).dtype == np.int64
    assert nfn(2, requires_grad=True).requires_grad


def test_like_factories():
    x = nf.tensor([[1.0, 2.0]], dtype=nf.float64)
    assert nf.zeros_like(x).dtype == F64 and nf.ones_like(x).shape == (1, 2)
    np.testing.assert_array_equal(nf.ones_like(x).detach().numpy(), [[1, 1]])


@pytest.mark.parametrize("fill", [7, 2.5, True, -1])
def test_full_infers_dtype_like_torch(fill):
    n, t = nf.full((2, 3), fill), torch.full((2, 3), fill)
    assert n.dtype == tdt(t)
    np.testing.assert_array_equal(n.detach().numpy(), t.numpy())
    assert nf.full((2,), 1, dtype=nf.float64).dtype == F64


@pytest.mark.parametrize("args", [(5,), (2, 7), (0, 1, 0.25), (5.0,), (1, 10, 3), (-3, 3)])
def test_arange_matches_torch(args):
    n, t = nf.arange(*args), torch.arange(*args)
    assert n.dtype == tdt(t)
    np.testing.assert_allclose(n.detach().numpy(), t.numpy())
    assert nf.arange(4, dtype=nf.float64).dtype == F64


def test_random_factories_shapes_dtypes_ranges():
    nf.manual_seed(0)
    r = nf.rand(200, 50)
    assert r.shape == (200, 50) and r.dtype == F32 and r.detach().numpy().min() >= 0 and r.detach().numpy().max() < 1
    n = nf.randn(200, 50)
    assert n.dtype == F32 and abs(n.detach().numpy().mean()) < 0.05 and abs(n.detach().numpy().std() - 1) < 0.05
    assert nf.randn((3, 4)).shape == (3, 4) and nf.randn(3, dtype=nf.float64).dtype == F64
    assert nf.rand(2, requires_grad=True).requires_grad
    i = nf.randint(3, 9, (1000,))
    assert i.dtype == np.int64 and i.detach().numpy().min() == 3 and i.detach().numpy().max() == 8
    # torch's two-argument form randint(high, size)
    j = nf.randint(5, (4, 2))
    assert j.shape == (4, 2) and j.dtype == np.int64 and j.detach().numpy().max() < 5
    assert tuple(torch.randint(5, (4, 2)).shape) == j.shape
    assert nf.randint(0, 2, size=(3,), dtype=nf.int32).dtype == np.int32


def test_manual_seed_repeatable():
    def draw():
        return nf.rand(5).detach().numpy(), nf.randn(2, 3).detach().numpy(), nf.randint(0, 100, (4,)).detach().numpy()
    nf.manual_seed(123)
    a = draw()
    nf.manual_seed(123)
    b = draw()
    nf.manual_seed(124)
    c = draw()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[1], c[1])
    assert nf.initial_seed() == 124
    state = nf.get_rng_state()
    x = nf.randn(3).detach().numpy()
    nf.set_rng_state(state)
    np.testing.assert_array_equal(nf.randn(3).detach().numpy(), x)
    with pytest.raises(ValueError):
        nf.manual_seed(-1)


def test_explicit_generator():
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(nf.randn(4, generator=g1).detach().numpy(), nf.randn(4, generator=g2).detach().numpy())


# ============================================================= elementwise arithmetic

BINARY = {
    "add": (lambda a, b: a + b),
    "sub": (lambda a, b: a - b),
    "mul": (lambda a, b: a * b),
    "div": (lambda a, b: a / b),
}
# broadcasting in both directions, equal shapes, scalars-as-tensors, leading dims
SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((3, 1), (1, 4)),
               ((2, 3, 4), (3, 1)), ((1,), (2, 3)), ((), (2, 3)), ((2, 3), ()),
               ((2, 1, 4), (3, 1))]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shapes", SHAPE_PAIRS)
def test_binary_ops_broadcast(op, shapes):
    fn = BINARY[op]
    rng = np.random.default_rng(1)
    a = rng.uniform(-2, 2, shapes[0]).astype(F32)
    b = rng.uniform(0.5, 2, shapes[1]).astype(F32) * rng.choice([-1, 1], shapes[1]).astype(F32)
    check_op(None, fn, fn, inputs=[a, b])


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("scalar", [2, 0.5, -1.5])
def test_binary_ops_with_python_scalars_on_both_sides(op, scalar):
    fn = BINARY[op]
    rng = np.random.default_rng(2)
    x = (rng.uniform(0.5, 2, (3, 4)) * rng.choice([-1, 1], (3, 4))).astype(F32)
    check_op(None, lambda t: fn(t, scalar), lambda t: fn(t, scalar), inputs=[x])
    check_op(None, lambda t: fn(scalar, t), lambda t: fn(scalar, t), inputs=[x])


def test_binary_ops_with_numpy_operand():
    x = np.array([1.0, 2.0, 3.0], F32)
    arr = np.array([2.0, 4.0, 8.0])
    n = nf.tensor(x, requires_grad=True)
    out = arr * n + n / arr - (arr - n)
    assert isinstance(out, nf.Tensor) and out.dtype == F32
    t = torch.tensor(x, requires_grad=True)
    tout = torch.from_numpy(arr).float() * t + t / torch.from_numpy(arr).float() - (
        torch.from_numpy(arr).float() - t)
    assert_close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    assert_close(n.grad, t.grad)


def test_float64_inputs_stay_float64():
    check_op([(3, 4), (4,)], lambda a, b: a * b + a / b - 2.0, lambda a, b: a * b + a / b - 2.0,
             dtype=F64, atol=1e-12, rtol=1e-12)


PROMO_EXPRS = {
    "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "sub": lambda a, b: a - b, "add_float": lambda a, b: a + 0.5, "float_mul": lambda a, b: 0.5 * a,
    "div_int": lambda a, b: a / 2, "int_div": lambda a, b: 2 / b, "add_int": lambda a, b: a + 3,
    "bool_mul": lambda a, b: b * True,
}


@pytest.mark.parametrize("expr", list(PROMO_EXPRS))
@pytest.mark.parametrize("dts", [(np.int64, np.int64), (np.int64, F32), (F32, np.int64),
                                 (np.int32, np.int64), (np.bool_, F32), (np.bool_, np.int32),
                                 (F32, F64), (np.int32, np.int32), (np.uint8, F64)])
def test_type_promotion_matches_torch(expr, dts):
    if dts[0] == np.bool_ and expr == "sub":
        expr = "add"  # torch refuses to subtract from a bool tensor
    fn = PROMO_EXPRS[expr]
    a = np.array([[1, 2, 3], [4, 5, 6]]).astype(dts[0])
    b = np.array([1, 2, 3]).astype(dts[1])
    n = fn(nf.tensor(a), nf.tensor(b))
    t = fn(torch.from_numpy(a), torch.from_numpy(b))
    assert n.dtype == tdt(t), f"{dts}: {n.dtype} vs {t.dtype}"
    np.testing.assert_allclose(n.detach().numpy().astype(F64), t.numpy().astype(F64), rtol=1e-6)


def test_zero_dim_tensor_does_not_widen_same_category():
    x = np.ones((2, 2), F32)
    n = nf.tensor(x) * nf.tensor(2.0, dtype=nf.float64)
    t = torch.from_numpy(x) * torch.tensor(2.0, dtype=torch.float64)
    assert n.dtype == tdt(t) == F32
    n = nf.tensor([1, 2]) * nf.tensor(2.5, dtype=nf.float64)
    t = torch.tensor([1, 2]) * torch.tensor(2.5, dtype=torch.float64)
    assert n.dtype == tdt(t) == F64


def test_neg_and_pos():
    check_op([(3, 4)], lambda a: -a, lambda a: -a)
    x = nf.tensor([1.0])
    assert +x is x


# ============================================================= pow

@pytest.mark.parametrize("e", [2, 3, 0.5, -1, -2.5, 1, 0, 1.7])
def test_pow_scalar_exponent(e):
    check_op([(3, 5)], lambda a: a ** e, lambda a: a ** e, low=0.3, high=2.0)
    check_op([(3, 5)], lambda a: a.pow(e), lambda a: a.pow(e), low=0.3, high=2.0)


def test_pow_integer_exponent_negative_base():
    check_op([(4, 3)], lambda a: a ** 3, lambda a: a ** 3, low=-2, high=2)
    check_op([(4, 3)], lambda a: a ** 2, lambda a: a ** 2, low=-2, high=2)


def test_pow_zero_exponent_at_zero_base_has_zero_grad():
    x = np.array([0.0, 1.0, -2.0], F32)
    check_op(None, lambda a: a ** 0, lambda a: a ** 0, inputs=[x])
    check_op(None, lambda a: a ** 0.0, lambda a: a ** 0.0, inputs=[x])


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)),
                                    ((2, 3), ())])
def test_pow_tensor_exponent(shapes):
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 2.0, shapes[0]).astype(F32)
    ex = rng.uniform(-1.5, 2.5, shapes[1]).astype(F32)
    check_op(None, torch.pow, nf.pow, inputs=[base, ex])
    check_op(None, lambda a, b: a ** b, lambda a, b: a ** b, inputs=[base, ex])


def test_pow_tensor_exponent_zero_base():
    base = np.array([0.0, 0.0, 2.0, 1.0], F32)
    ex = np.array([2.0, 1.0, 3.0, 0.5], F32)
    check_op(None, torch.pow, nf.pow, inputs=[base, ex])


def test_pow_scalar_base():
    check_op([(3, 4)], lambda e: 2.0 ** e, lambda e: 2.0 ** e)
    check_op([(3, 4)], lambda e: 3 ** e, lambda e: 3 ** e)


def test_pow_int_tensor_dtypes_match_torch():
    for e in (2, 0.5, 2.0):
        n = nf.arange(5) ** e
        t = torch.arange(5) ** e
        assert n.dtype == tdt(t), f"exponent {e}: {n.dtype} vs {t.dtype}"
        np.testing.assert_allclose(n.detach().numpy(), t.numpy(), rtol=1e-6)


# ============================================================= matmul

MATMUL_SHAPES = [((3, 4), (4, 5)), ((1, 1), (1, 1)), ((4,), (4,)), ((4,), (4, 3)),
                 ((3, 4), (4,)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3, 4), (4,)),
                 ((3, 4), (2, 4, 5)), ((0, 4), (4, 3)), ((3, 0), (0, 2)), ((7, 17), (17, 9))]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul(shapes, dtype):
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == F32 else dict(atol=1e-12, rtol=1e-12)
    check_op(list(shapes), lambda a, b: a @ b, lambda a, b: a @ b, dtype=dtype, **tol)
    check_op(list(shapes), torch.matmul, nf.matmul, dtype=dtype, **tol)


def test_matmul_methods_and_one_side_grad():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 4)).astype(F32)
    b = rng.standard_normal((4, 2)).astype(F32)
    check_op(None, lambda x, y: x.mm(y), lambda x, y: x.mm(y), inputs=[a, b])
    check_op(None, lambda x, y: x.matmul(y), lambda x, y: x.matmul(y), inputs=[a, b])
    # only one side requires grad
    x = nf.tensor(a, requires_grad=True)
    (x @ nf.tensor(b)).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), np.ones((3, 2), F32) @ b.T, rtol=1e-5)
    y = nf.tensor(b, requires_grad=True)
    (nf.tensor(a) @ y).sum().backward()
    np.testing.assert_allclose(y.grad.detach().numpy(), a.T @ np.ones((3, 2), F32), rtol=1e-5)


def test_matmul_non_contiguous_operands():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((5, 3)).astype(F32)
    b = rng.standard_normal((4, 5)).astype(F32)
    check_op(None, lambda x, y: x.T @ y.T, lambda x, y: x.T @ y.T, inputs=[a, b])
    check_op(None, lambda x, y: x[::2] @ y[:3, 1:4], lambda x, y: x[::2] @ y[:3, 1:4],
             inputs=[rng.standard_normal((6, 3)).astype(F32), b])


def test_matmul_float32_compiled_path_equals_float64():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((13, 21))
    b = rng.standard_normal((21, 11))
    out32 = (nf.tensor(a.astype(F32)) @ nf.tensor(b.astype(F32))).detach().numpy()
    out64 = (nf.tensor(a) @ nf.tensor(b)).detach().numpy()
    assert out32.dtype == F32 and out64.dtype == F64
    np.testing.assert_allclose(out32, out64, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(out64, a @ b, atol=1e-12)


@pytest.mark.parametrize("shapes", [((3, 4), (5, 2)), ((4,), (5,)), ((2, 3, 4), (3, 4)),
                                    ((3,), (4, 2)), ((2, 3, 4), (3, 5, 2))])
def test_matmul_shape_mismatch_raises_shape_error(shapes):
    a, b = nf.zeros(shapes[0]), nf.zeros(shapes[1])
    with pytest.raises(nf.ShapeError, match="matmul") as ei:
        a @ b
    assert str(tuple(shapes[0])) in str(ei.value) and str(tuple(shapes[1])) in str(ei.value)
    assert isinstance(ei.value, RuntimeError)
    with pytest.raises(nf.ShapeError):
        nf.tensor(1.0) @ nf.zeros(3)


# ============================================================= reductions

@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (-1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean(name, dim, keepdim):
    def fn_t(a):
        return getattr(a, name)(dim=dim, keepdim=keepdim)
    fn_n = fn_t
    check_op([(2, 3, 4)], fn_t, fn_n)
    check_op([(2, 3, 4)], fn_t, fn_n, dtype=F64, atol=1e-12, rtol=1e-12)


def test_sum_mean_module_functions():
    check_op([(3, 4)], lambda a: torch.sum(a, 1), lambda a: nf.sum(a, 1))
    check_op([(3, 4)], lambda a: torch.mean(a, 0, True), lambda a: nf.mean(a, 0, True))


def test_sum_of_bool_and_int_counts_like_torch():
    x = np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], F32)
    for fn in (lambda t: (t > 0).sum(), lambda t: (t > 0).sum(dim=1),
               lambda t: (t > 0).long().sum(0), lambda t: t.int().sum()):
        n, t = fn(nf.tensor(x)), fn(torch.from_numpy(x))
        assert n.dtype == tdt(t), f"{n.dtype} vs {t.dtype}"
        np.testing.assert_array_equal(n.detach().numpy(), t.numpy())


def test_mean_of_int_raises():
    with pytest.raises(RuntimeError, match="floating"):
        nf.arange(4).mean()


def test_reduction_bad_dim():
    with pytest.raises(IndexError, match="range"):
        nf.zeros(2, 3).sum(dim=2)


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_dim(name, dim, keepdim):
    # distinct values so that the argmax is unique
    x = np.random.default_rng(7).permutation(24).reshape(2, 3, 4).astype(F32) / 7
    check_op(None, lambda a: getattr(a, name)(dim=dim, keepdim=keepdim).values,
             lambda a: getattr(a, name)(dim=dim, keepdim=keepdim).values, inputs=[x])
    n = getattr(nf.tensor(x), name)(dim, keepdim)
    t = getattr(torch.from_numpy(x), name)(dim, keepdim)
    np.testing.assert_array_equal(n.indices.detach().numpy(), t.indices.numpy())
    assert n.indices.dtype == np.int64
    vals, idx = n  # unpacks like torch's namedtuple
    assert vals.shape == tuple(t.values.shape) and idx.shape == tuple(t.indices.shape)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_full_reduction_with_ties(name):
    x = np.array([[1.0, 3.0, 3.0], [-1.0, -1.0, 0.5]], F32)
    check_op(None, lambda a: getattr(a, name)(), lambda a: getattr(a, name)(), inputs=[x])
    check_op(None, lambda a: getattr(torch, name)(a), lambda a: getattr(nf, name)(a),
             inputs=[np.random.default_rng(0).standard_normal((3, 4)).astype(F32)])


def test_argmax_argmin():
    x = np.random.default_rng(8).standard_normal((3, 5)).astype(F32)
    for name in ("argmax", "argmin"):
        for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
            n = getattr(nf.tensor(x), name)(**kw)
            t = getattr(torch.from_numpy(x), name)(**kw)
            assert n.shape == tuple(t.shape)
            np.testing.assert_array_equal(n.detach().numpy(), t.numpy())


# ============================================================= unary math

def test_exp_log_sqrt_abs():
    check_op([(3, 4)], torch.exp, nf.exp)
    check_op([(3, 4)], lambda a: a.exp(), lambda a: a.exp())
    check_op([(3, 4)], torch.log, nf.log, low=0.1, high=3)
    check_op([(3, 4)], lambda a: a.log(), lambda a: a.log(), low=0.1, high=3)
    check_op([(3, 4)], torch.sqrt, nf.sqrt, low=0.1, high=3)
    check_op([(3, 4)], lambda a: a.sqrt(), lambda a: a.sqrt(), low=0.1, high=3)
    check_op([(3, 4)], torch.abs, nf.abs)
    check_op([(3, 4)], lambda a: a.abs(), lambda a: a.abs())
    check_op(None, torch.abs, nf.abs, inputs=[np.array([0.0, -1.0, 2.0], F32)])
    for fn in ("exp", "log", "sqrt", "abs"):
        check_op([(2, 3)], getattr(torch, fn), getattr(nf, fn), dtype=F64, low=0.1, high=2,
                 atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None), (0.0, 0.0)])
def test_clamp(lo, hi):
    x = np.array([[-1.0, -0.5, -0.2, 0.0], [0.1, 0.3, 0.5, 2.0]], F32)
    check_op(None, lambda a: a.clamp(lo, hi), lambda a: a.clamp(lo, hi), inputs=[x])
    check_op(None, lambda a: torch.clamp(a, min=lo, max=hi), lambda a: nf.clamp(a, min=lo, max=hi),
             inputs=[x])
    check_op(None, lambda a: a.clip(lo, hi), lambda a: a.clip(lo, hi), inputs=[x])


# ============================================================= shape ops

SHAPE_OPS = [
    ("reshape", lambda a: a.reshape(4, 6)),
    ("reshape_tuple", lambda a: a.reshape((6, -1))),
    ("view", lambda a: a.view(2, 12)),
    ("view_neg", lambda a: a.view(-1)),
    ("flatten", lambda a: a.flatten()),
    ("flatten_1", lambda a: a.flatten(1)),
    ("flatten_01", lambda a: a.flatten(0, 1)),
    ("transpose", lambda a: a.transpose(0, 2)),
    ("transpose_neg", lambda a: a.transpose(-1, -2)),
    ("permute", lambda a: a.permute(2, 0, 1)),
    ("permute_tuple", lambda a: a.permute((1, 2, 0))),
    ("permute_neg", lambda a: a.permute(-1, 0, 1)),
    ("unsqueeze0", lambda a: a.unsqueeze(0)),
    ("unsqueeze_neg", lambda a: a.unsqueeze(-1)),
    ("unsqueeze_mid", lambda a: a.unsqueeze(2)),
    ("expand_via_unsqueeze", lambda a: a.unsqueeze(1).expand(2, 5, 3, 4)),
    ("chain", lambda a: a.permute(1, 0, 2).reshape(3, 8).transpose(0, 1)),
]


@pytest.mark.parametrize("name,fn", SHAPE_OPS, ids=[n for n, _ in SHAPE_OPS])
def test_shape_ops(name, fn):
    check_op([(2, 3, 4)], fn, fn)


def test_shape_module_functions():
    check_op([(2, 3, 4)], lambda a: torch.reshape(a, (6, 4)), lambda a: nf.reshape(a, (6, 4)))
    check_op([(2, 3, 4)], lambda a: torch.transpose(a, 0, 1), lambda a: nf.transpose(a, 0, 1))
    check_op([(2, 3, 4)], lambda a: torch.permute(a, (2, 1, 0)), lambda a: nf.permute(a, (2, 1, 0)))
    check_op([(2, 3, 4)], lambda a: torch.flatten(a, 1), lambda a: nf.flatten(a, 1))
    check_op([(2, 3)], lambda a: torch.unsqueeze(a, 1), lambda a: nf.unsqueeze(a, 1))


def test_T_and_t():
    check_op([(3, 4)], lambda a: a.T, lambda a: a.T)
    check_op([(3, 4)], lambda a: a.t(), lambda a: a.t())
    check_op([(4,)], lambda a: a.t(), lambda a: a.t())
    with pytest.raises(nf.ShapeError):
        nf.zeros(2, 3, 4).t()


@pytest.mark.parametrize("shape,dim", [((1, 3, 1, 4), None), ((1, 3, 1, 4), 0),
                                       ((1, 3, 1, 4), 2), ((1, 3, 1, 4), -2),
                                       ((1, 3, 1, 4), 1), ((1,), None), ((1,), 0)])
def test_squeeze(shape, dim):
    fn = (lambda a: a.squeeze()) if dim is None else (lambda a: a.squeeze(dim))
    check_op([shape], fn, fn)
    fn2 = (lambda a: torch.squeeze(a)) if dim is None else (lambda a: torch.squeeze(a, dim))
    fn3 = (lambda a: nf.squeeze(a)) if dim is None else (lambda a: nf.squeeze(a, dim))
    check_op([shape], fn2, fn3)


@pytest.mark.parametrize("src,target", [((3, 1), (3, 4)), ((1, 4), (2, 3, 4)), ((4,), (3, 4)),
                                        ((3, 1), (-1, 5)), ((), (2, 2)), ((2, 1, 1), (2, 3, 2))])
def test_expand(src, target):
    check_op([src], lambda a: a.expand(*target), lambda a: a.expand(*target))
    check_op([src], lambda a: a.expand(target), lambda a: a.expand(target))


def test_flatten_0d():
    check_op([()], lambda a: a.flatten(), lambda a: a.flatten())


def test_reshape_invalid_raises_shape_error():
    with pytest.raises(nf.ShapeError, match="invalid"):
        nf.zeros(2, 3).reshape(4, 2)


def test_permute_invalid():
    with pytest.raises(nf.ShapeError):
        nf.zeros(2, 3).permute(0, 0)


def test_reshape_is_a_view_like_torch():
    x = nf.zeros(2, 3)
    v = x.view(6)
    v.detach().numpy()[0] = 1
    assert x.detach().numpy()[0, 0] == 1


# ============================================================= indexing

INDEXES = [
    ("int", lambda a: a[1]),
    ("neg_int", lambda a: a[-1]),
    ("int_int", lambda a: a[1, 2]),
    ("full_int", lambda a: a[1, 2, 3]),
    ("slice", lambda a: a[1:3]),
    ("step_slice", lambda a: a[::2, 1:]),
    ("neg_slice", lambda a: a[:, -2:, ::3]),
    ("none", lambda a: a[None]),
    ("none_mid", lambda a: a[:, None, 1]),
    ("ellipsis", lambda a: a[..., 1]),
    ("ellipsis_slice", lambda a: a[1, ..., 1:3]),
    ("int_array", lambda a: a[[0, 2]]),
    ("repeated_int_array", lambda a: a[[0, 0, 2, 0]]),
    ("int_array_2nd_dim", lambda a: a[:, [1, 1, 0]]),
    ("two_int_arrays", lambda a: a[[0, 1, 1], [2, 2, 0]]),
    ("int_array_and_slice", lambda a: a[[2, 2], :, 1:3]),
]


@pytest.mark.parametrize("name,fn", INDEXES, ids=[n for n, _ in INDEXES])
def test_indexing(name, fn):
    check_op([(3, 4, 5)], fn, fn)


def test_indexing_with_int_tensors_repeated():
    idx = np.array([3, 0, 3, 3, 1])
    x = np.random.default_rng(9).standard_normal((4, 3)).astype(F32)
    check_op(None, lambda a: a[torch.from_numpy(idx)], lambda a: a[nf.tensor(idx)], inputs=[x])
    check_op(None, lambda a: a[:, torch.tensor([2, 2])], lambda a: a[:, nf.tensor([2, 2])],
             inputs=[x])
    check_op(None, lambda a: a[idx], lambda a: a[idx], inputs=[x])


def test_indexing_with_boolean_masks():
    x = np.random.default_rng(10).standard_normal((4, 5)).astype(F32)
    mask = x > 0
    check_op(None, lambda a: a[a > 0], lambda a: a[a > 0], inputs=[x])
    check_op(None, lambda a: a[torch.from_numpy(mask)], lambda a: a[mask], inputs=[x])
    row = np.array([True, False, True, True])
    check_op(None, lambda a: a[torch.from_numpy(row)], lambda a: a[nf.tensor(row)], inputs=[x])
    check_op(None, lambda a: a[:, torch.from_numpy(row[:4].repeat(2)[:5])],
             lambda a: a[:, row[:4].repeat(2)[:5]], inputs=[x])


def test_index_then_grad_accumulates_over_repeats():
    x = nf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x[[0, 0, 0, 2]] * 2).sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [6, 0, 2])


def test_setitem_rules():
    x = nf.zeros(3)
    x[1] = 5.0
    x[nf.tensor([0, 2])] = nf.tensor([1.0, 2.0])
    np.testing.assert_array_equal(x.detach().numpy(), [1, 5, 2])
    w = nf.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w[0] = 1.0
    with nf.no_grad():
        w[0] = 1.0
    assert w.detach().numpy()[0] == 1.0


# ============================================================= cat, stack, where

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    shapes = [(2, 3), (2, 3), (2, 3)]
    if dim == 0:
        shapes = [(1, 3), (2, 3), (3, 3)]
    elif dim in (1, -1):
        shapes = [(2, 1), (2, 4), (2, 2)]
    check_op(shapes, lambda *a: torch.cat(a, dim), lambda *a: nf.cat(a, dim))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    check_op([(2, 3)] * 3, lambda *a: torch.stack(a, dim), lambda *a: nf.stack(a, dim))


def test_cat_some_inputs_without_grad():
    a = nf.tensor([1.0, 2.0], requires_grad=True)
    b = nf.tensor([3.0])
    (nf.cat([a, b]) * nf.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(a.grad.detach().numpy(), [1, 2])
    assert b.grad is None


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4), (3, 4)), ((3, 4), (4,), (3, 1)),
                                    ((3, 1), (1, 4), ())])
def test_where(shapes):
    rng = np.random.default_rng(11)
    cond = rng.random(shapes[0]) > 0.5
    a = rng.standard_normal(shapes[1]).astype(F32)
    b = rng.standard_normal(shapes[2]).astype(F32)
    check_op(None, lambda x, y: torch.where(torch.from_numpy(cond), x, y),
             lambda x, y: nf.where(cond, x, y), inputs=[a, b])
    check_op(None, lambda x, y: torch.where(torch.from_numpy(cond), x, y),
             lambda x, y: nf.where(nf.tensor(cond), x, y), inputs=[a, b])


def test_where_with_scalar():
    x = np.random.default_rng(12).standard_normal((3, 4)).astype(F32)
    check_op(None, lambda a: torch.where(a > 0, a, 0.0), lambda a: nf.where(a > 0, a, 0.0),
             inputs=[x])
    check_op(None, lambda a: torch.where(a > 0, 1.0, a), lambda a: nf.where(a > 0, 1.0, a),
             inputs=[x])


# ============================================================= comparisons

@pytest.mark.parametrize("op", ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"])
def test_comparisons_return_bool(op):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], F32)
    b = np.array([2.0, 2.0, 2.0], F32)
    for other_n, other_t in ((nf.tensor(b), torch.from_numpy(b)), (2.0, 2.0), (2, 2)):
        n = getattr(nf.tensor(a, requires_grad=True), op)(other_n)
        t = getattr(torch.from_numpy(a), op)(other_t)
        assert n.dtype == np.bool_ and not n.requires_grad
        np.testing.assert_array_equal(n.detach().numpy(), t.numpy())


# ============================================================= in-place rules

def test_inplace_on_requires_grad_raises_outside_no_grad():
    w = nf.tensor([1.0, 2.0], requires_grad=True)
    for fn in (lambda t: t.__iadd__(1.0), lambda t: t.__isub__(1.0), lambda t: t.__imul__(2.0),
               lambda t: t.__itruediv__(2.0), lambda t: t.add_(1.0), lambda t: t.sub_(1.0),
               lambda t: t.mul_(2.0), lambda t: t.div_(2.0), lambda t: t.add_(1.0, alpha=2)):
        with pytest.raises(RuntimeError, match="in-place"):
            fn(w)
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with nf.no_grad():
        w += 1.0
        w.mul_(2.0)
        w.sub_(nf.tensor([1.0, 1.0]), alpha=2)
    np.testing.assert_array_equal(w.detach().numpy(), [2.0, 4.0])
    assert w.requires_grad and w.is_leaf


def test_inplace_on_plain_tensor():
    x = nf.tensor([1.0, 2.0])
    x += 1
    x *= nf.tensor([2.0, 3.0])
    x -= 1
    x /= 2
    np.testing.assert_allclose(x.detach().numpy(), [1.5, 4.0])
    x.zero_()
    np.testing.assert_array_equal(x.detach().numpy(), [0, 0])
    x.fill_(3)
    np.testing.assert_array_equal(x.detach().numpy(), [3, 3])
    x.copy_(nf.tensor([5.0, 6.0]))
    np.testing.assert_array_equal(x.detach().numpy(), [5, 6])


# ============================================================= composite expressions

def test_composite_expression_matches_torch():
    def expr(x, w, b, mod):
        h = (x @ w + b).clamp(min=0.0)
        s = (h * h).sum(dim=1, keepdim=True).sqrt() + 1.0
        z = (h / s).exp().mean(dim=0)
        y = mod.where(z > 1.1, z ** 2, (z + 3).log())
        return y.sum() + x.abs().max() - (w.T[1:, ::2] ** 2).mean()
    rng = np.random.default_rng(13)
    ins = [rng.standard_normal(s) for s in ((5, 4), (4, 6), (6,))]
    for dt, tol in ((F32, 1e-4), (F64, 1e-10)):
        arrs = [a.astype(dt) for a in ins]
        check_op(None, lambda x, w, b: expr(x, w, b, torch), lambda x, w, b: expr(x, w, b, nf),
                 inputs=arrs, atol=tol, rtol=tol)


def test_composite_expression_finite_differences():
    rng = np.random.default_rng(14)
    x0 = rng.uniform(0.5, 1.5, (3, 4))
    w = rng.standard_normal((4, 2))

    def f_nf(xt):
        h = xt @ nf.tensor(w)
        return ((h.exp() / (1 + xt.sum(1, keepdim=True))) ** 1.5).mean() + (
            xt.sqrt() * xt.log()).sum() + xt.max(dim=1).values.sum()

    x = nf.tensor(x0.copy(), requires_grad=True)
    f_nf(x).backward()
    num = fd_grad(lambda a: f_nf(nf.tensor(a)).item(), x0.copy())
    np.testing.assert_allclose(x.grad.detach().numpy(), num, rtol=1e-6, atol=1e-8)


def test_indexing_and_broadcast_finite_differences():
    rng = np.random.default_rng(15)
    x0 = rng.standard_normal((4, 3))

    def f(t):
        return ((t[[0, 2, 2]] * t[1:2]).sum(0) / (t[..., None, 1] ** 2 + 1).mean()
                ).pow(2).sum() + nf.cat([t[0], t[:, 1]]).abs().sum()

    x = nf.tensor(x0.copy(), requires_grad=True)
    f(x).backward()
    num = fd_grad(lambda a: f(nf.tensor(a)).item(), x0.copy())
    np.testing.assert_allclose(x.grad.detach().numpy(), num, rtol=1e-6, atol=1e-8)


def test_clone_is_differentiable_copy():
    check_op([(2, 3)], lambda a: a.clone() * 2, lambda a: a.clone() * 2)
    x = nf.tensor([1.0])
    c = x.clone()
    c.detach().numpy()[0] = 5
    assert x.detach().numpy()[0] == 1


def test_pow_tensor_exponent_negative_base_matches_torch():
    # integer-valued exponents: finite base gradient; exponent gradient is NaN in torch (log<0)
    base = np.array([-2.0, -0.5, 1.5, 0.0], F32)
    ex = np.array([2.0, 3.0, -1.0, 0.0], F32)
    check_op(None, torch.pow, nf.pow, inputs=[base, ex])


@pytest.mark.parametrize("fn", ["exp", "log", "sqrt"])
def test_unary_float_ops_on_int_tensors_are_float32(fn):
    n = getattr(nf.arange(1, 5), fn)()
    t = getattr(torch.arange(1, 5), fn)()
    assert n.dtype == tdt(t) == F32
    np.testing.assert_allclose(n.detach().numpy(), t.numpy(), rtol=1e-6)


def test_clamp_int_tensor():
    for lo, hi in ((1, 3), (0.5, 3), (None, 2.5)):
        n, t = nf.arange(5).clamp(lo, hi), torch.arange(5).clamp(lo, hi)
        assert n.dtype == tdt(t)
        np.testing.assert_allclose(n.detach().numpy(), t.numpy())


@pytest.mark.parametrize("dims", [(0, 2), (0, 1), [2], (-1, -3)])
def test_squeeze_tuple_dims(dims):
    check_op([(1, 3, 1)], lambda a: a.squeeze(dims if isinstance(dims, tuple) else tuple(dims)),
             lambda a: a.squeeze(dims))


def test_squeeze_out_of_range_raises():
    with pytest.raises(IndexError):
        nf.zeros(2, 3).squeeze(5)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reduce_over_empty_dim_list_reduces_all(name, keepdim):
    check_op([(2, 3)], lambda a: getattr(a, name)(dim=(), keepdim=keepdim),
             lambda a: getattr(a, name)(dim=(), keepdim=keepdim))


def test_numpy_array_on_left_of_matmul():
    b = np.random.default_rng(16).standard_normal((3, 2)).astype(F32)
    a = np.random.default_rng(17).standard_normal((4, 3)).astype(F32)
    y = nf.tensor(b, requires_grad=True)
    out = a @ y
    assert isinstance(out, nf.Tensor)
    out.sum().backward()
    np.testing.assert_allclose(y.grad.detach().numpy(), a.T @ np.ones((4, 2), F32), rtol=1e-5)
