"""Creation, random sampling and dtype queries (nnfast/_ops/creation.py, sampling.py,
dtypes.py) held to torch 2.13: values, shapes and dtypes; distributions (the streams differ);
out=, generator=, device=, requires_grad=; bad input."""
import numpy as np
import pytest
import torch

import nnfast as nf

F32, F64 = np.float32, np.float64


def tdt(t):
    return np.dtype(str(t.dtype).replace("torch.", ""))


def same(n, t):
    assert n.dtype == tdt(t), f"dtype {n.dtype} vs {t.dtype}"
    assert n.shape == tuple(t.shape), f"shape {n.shape} vs {tuple(t.shape)}"
    np.testing.assert_array_equal(n.numpy(), t.numpy())


# ============================================================= tensor / as_tensor / from_numpy

@pytest.mark.parametrize("data", [
    [1.0, 2.0], [1, 2, 3], [True, False], 3, 2.5, True, [[1, 2], [3, 4]], [1, 2.5], [],
    [[]], np.float64(1.5), [np.float64(1.5)], np.int32(3), [np.int32(3), np.int32(4)],
    np.arange(3, dtype=np.int16), (1, 2), [(1, 2), (3, 4)],
])
def test_tensor_inference(data):
    same(nf.tensor(data), torch.tensor(data))


def test_tensor_from_tensors_and_options():
    same(nf.tensor([nf.tensor(1.0), nf.tensor(2.0)]), torch.tensor([torch.tensor(1.0),
                                                                     torch.tensor(2.0)]))
    same(nf.tensor([nf.tensor(1), nf.tensor(2)]), torch.tensor([torch.tensor(1),
                                                                 torch.tensor(2)]))
    src = nf.tensor([1.0, 2.0], requires_grad=True)
    c = nf.tensor(src)
    assert not c.requires_grad and not np.shares_memory(c.numpy(), src.detach().numpy())
    same(nf.tensor([1, 2], dtype=nf.float64), torch.tensor([1, 2], dtype=torch.float64))
    assert nf.tensor([1.0], requires_grad=True, device="cpu").requires_grad
    with pytest.raises(RuntimeError, match="CUDA"):
        nf.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="floating point"):
        nf.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="str"):
        nf.tensor("abc")
    with pytest.raises(TypeError, match="str"):
        nf.tensor([1, "a"])
    with pytest.raises(ValueError, match="equal lengths"):
        nf.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="bfloat16"):
        nf.tensor([1.0], dtype=nf.bfloat16)


def test_default_dtype_applies_to_factories():
    nf.set_default_dtype(nf.float64)
    torch.set_default_dtype(torch.float64)
    try:
        for make in (lambda m: m.tensor([1.5]), lambda m: m.zeros(2), lambda m: m.ones(2),
                     lambda m: m.full((2,), 1.5), lambda m: m.arange(0.0, 2.0),
                     lambda m: m.linspace(0, 1, 3), lambda m: m.rand(2), lambda m: m.randn(2),
                     lambda m: m.eye(2), lambda m: m.empty(2), lambda m: m.Tensor([1, 2]),
                     lambda m: m.Tensor(2, 3), lambda m: m.logspace(0, 1, 3)):
            assert make(nf).dtype == tdt(make(torch))
        assert nf.finfo().dtype == torch.finfo().dtype == "float64"
    finally:
        nf.set_default_dtype(nf.float32)
        torch.set_default_dtype(torch.float32)


def test_as_tensor_and_from_numpy_share():
    a = np.arange(4.0)
    assert np.shares_memory(nf.as_tensor(a).numpy(), a)
    assert np.shares_memory(nf.asarray(a).numpy(), a)
    t = nf.tensor([1.0, 2.0])
    assert nf.as_tensor(t) is t
    same(nf.as_tensor([1, 2], dtype=nf.float64), torch.as_tensor([1, 2], dtype=torch.float64))
    assert nf.as_tensor(t, dtype=nf.float64).dtype == F64
    with pytest.raises(ValueError, match="byte order"):
        nf.from_numpy(np.zeros(2, dtype=">f4"))
    with pytest.raises(TypeError):
        nf.from_numpy(np.array(["a"]))


# ============================================================= shapes and fills

@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
def test_shape_factories(name):
    nfn, tfn = getattr(nf, name), getattr(torch, name)
    for args in [(3,), (2, 3), ((2, 3),), ([4],), ((),), (nf.Size([2, 1]),), (0,)]:
        targs = tuple(torch.Size(a) if isinstance(a, nf.Size) else a for a in args)
        n, t = nfn(*args), tfn(*targs)
        assert n.shape == tuple(t.shape) and n.dtype == tdt(t)
        if name != "empty":
            same(n, t)
    assert nfn(2, dtype=nf.int64).dtype == np.int64
    assert nfn(2, requires_grad=True).requires_grad
    o = nf.zeros(6)
    with pytest.warns(UserWarning, match="resized"):   # as torch warns
        assert nfn(2, 3, out=o) is o and o.shape == (2, 3)
    same_shape = nfn(size=(2, 3)).shape == tuple(tfn(size=(2, 3)).shape)
    assert same_shape and nf.rand(size=(2,)).shape == (2,) and nf.randn(size=[1]).shape == (1,)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shape'"):
        nfn(shape=(2,))
    with pytest.raises(RuntimeError, match="negative dimension"):
        nfn(-1)
    with pytest.raises(TypeError, match="tuple of ints"):
        nfn(2.5)
    with pytest.raises(TypeError, match="tuple of ints"):
        nfn((2, 2.0))


@pytest.mark.parametrize("fill", [7, 2.5, True, -1, np.float64(1.5), np.int32(2)])
def test_full_infers_dtype_like_torch(fill):
    same(nf.full((2, 3), fill), torch.full((2, 3), fill))
    same(nf.full([2], fill, dtype=nf.float64), torch.full([2], fill, dtype=torch.float64))
    same(nf.full((2,), nf.tensor(3.0)), torch.full((2,), torch.tensor(3.0)))


def test_like_factories():
    for src in (np.zeros((2, 3), F64), np.zeros((4,), np.int64), np.zeros((), F32)):
        n, t = nf.tensor(src), torch.from_numpy(src)
        for name in ("zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"):
            if name in ("rand_like", "randn_like") and src.dtype.kind != "f":
                with pytest.raises(NotImplementedError):
                    getattr(nf, name)(n)
                continue
            a, b = getattr(nf, name)(n), getattr(torch, name)(t)
            assert a.dtype == tdt(b) and a.shape == tuple(b.shape), name
            if name in ("zeros_like", "ones_like"):
                same(a, b)
        same(nf.full_like(n, 2.7), torch.full_like(t, 2.7))
        a, b = nf.randint_like(n, 10), torch.randint_like(t, 10)
        assert a.dtype == tdt(b) and a.shape == tuple(b.shape)
        assert nf.zeros_like(n, dtype=nf.int32).dtype == np.int32
    x = nf.zeros(2, 3)
    assert nf.zeros_like(x, requires_grad=True).requires_grad
    r = nf.randint_like(x, 5, 10).numpy()
    assert r.min() >= 5 and r.max() < 10 and r.dtype == F32


def test_new_methods():
    for src in (np.zeros(2, F64), np.zeros(2, np.int32)):
        n, t = nf.tensor(src), torch.from_numpy(src)
        same(n.new_zeros(3), t.new_zeros(3))
        same(n.new_ones((2, 2)), t.new_ones((2, 2)))
        same(n.new_full((2,), 1), t.new_full((2,), 1))
        same(n.new_tensor([1, 2]), t.new_tensor([1, 2]))
        same(n.new_tensor([1.5, 2]), t.new_tensor([1.5, 2]))
        assert n.new_empty((2, 3)).dtype == tdt(t.new_empty((2, 3)))
        same(n.new_ones(2, dtype=nf.int64), t.new_ones(2, dtype=torch.int64))
    assert nf.zeros(1).new_zeros(2, requires_grad=True).requires_grad


# ============================================================= ranges

@pytest.mark.parametrize("args", [(5,), (2, 7), (0, 1, 0.25), (5.0,), (1, 10, 3), (-3, 3),
                                  (0, 1, 0.1), (10, 0, -3), (0.5, 2.5), (0, -1, -0.3),
                                  (3, 3), (1e-3, 1e-2, 1e-3)])
def test_arange_matches_torch(args):
    n, t = nf.arange(*args), torch.arange(*args)
    assert n.dtype == tdt(t) and n.shape == tuple(t.shape)
    np.testing.assert_allclose(n.numpy(), t.numpy(), rtol=1e-6, atol=1e-7)
    assert nf.arange(4, dtype=nf.float64).dtype == F64
    same(nf.arange(start=1, end=4), torch.arange(start=1, end=4))
    same(nf.arange(nf.tensor(5)), torch.arange(torch.tensor(5)))


def test_arange_errors_and_out():
    with pytest.raises(RuntimeError, match="nonzero"):
        nf.arange(0, 1, 0)
    with pytest.raises(RuntimeError, match="inconsistent"):
        nf.arange(1, 0, 1)
    o = nf.zeros(2)
    with pytest.warns(UserWarning, match="resized"):
        assert nf.arange(5, out=o) is o and o.shape == (5,) and o.dtype == F32


@pytest.mark.parametrize("args", [(0, 1, 5), (0, 1, 1), (0, 1, 0), (-2, 7, 10), (3, -3, 7),
                                  (0, 1, 100), (1e-3, 1e3, 11)])
def test_linspace_logspace(args):
    for dt in (None, torch.float64):
        ndt = None if dt is None else nf.float64
        n, t = nf.linspace(*args, dtype=ndt), torch.linspace(*args, dtype=dt)
        assert n.dtype == tdt(t) and n.shape == tuple(t.shape)
        np.testing.assert_allclose(n.numpy(), t.numpy(), rtol=2e-7, atol=1e-7)
        for base in (10.0, 2.0):
            lo, hi, steps = args
            lo, hi = lo / 100, hi / 100
            n = nf.logspace(lo, hi, steps, base=base, dtype=ndt)
            t = torch.logspace(lo, hi, steps, base=base, dtype=dt)
            assert n.dtype == tdt(t) and n.shape == tuple(t.shape)
            np.testing.assert_allclose(n.numpy(), t.numpy(), rtol=1e-6)
    same(nf.linspace(0, 10, 5, dtype=nf.int64), torch.linspace(0, 10, 5, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="non-negative"):
        nf.linspace(0, 1, -1)


def test_eye():
    for args in [(3,), (2, 4), (4, 2), (0,)]:
        same(nf.eye(*args), torch.eye(*args))
    same(nf.eye(2, dtype=nf.int64), torch.eye(2, dtype=torch.int64))
    with pytest.raises(RuntimeError, match="n must be greater or equal to 0"):
        nf.eye(-1)


# ============================================================= random

def test_rand_randn_distributions():
    g = nf.Generator().manual_seed(0)
    r = nf.rand(200, 500, generator=g).numpy()
    assert r.dtype == F32 and r.min() >= 0 and r.max() < 1
    assert abs(r.mean() - 0.5) < 0.005 and abs(r.var() - 1 / 12) < 0.002
    n = nf.randn(200, 500, generator=g, dtype=nf.float64).numpy()
    assert n.dtype == F64 and abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
    assert nf.rand(3, dtype=nf.float16).numpy().max() < 1
    with pytest.raises(NotImplementedError):
        nf.rand(3, dtype=nf.int64)
    o = nf.zeros(0, dtype=nf.float64)
    assert nf.randn(2, 2, out=o) is o and o.shape == (2, 2) and o.dtype == F64


def test_generator_repeats_and_is_a_numpy_generator():
    a = nf.randn(5, generator=nf.Generator().manual_seed(7)).numpy()
    b = nf.randn(5, generator=nf.Generator().manual_seed(7)).numpy()
    np.testing.assert_array_equal(a, b)
    g = nf.Generator()
    assert isinstance(g, np.random.Generator) and g.manual_seed(3) is g
    assert g.initial_seed() == 3 and g.device == nf.device("cpu")
    state = g.get_state()
    x = nf.rand(4, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(nf.rand(4, generator=g).numpy(), x)
    s = g.seed()
    assert isinstance(s, int) and g.initial_seed() == s
    # a torch-style program: manual_seed returns the global generator
    gen = nf.manual_seed(11)
    assert isinstance(gen, nf.Generator) and gen.initial_seed() == 11
    with pytest.raises(TypeError, match="generator"):
        nf.rand(2, generator=5)


def test_randint_randperm():
    i = nf.randint(3, 9, (2000,)).numpy()
    assert i.dtype == np.int64 and i.min() == 3 and i.max() == 8
    assert nf.randint(5, (4, 2)).shape == (4, 2)
    assert nf.randint(0, 2, size=(3,), dtype=nf.int32).dtype == np.int32
    assert nf.randint(10, size=(3,)).shape == (3,)
    with pytest.raises(RuntimeError, match="from"):
        nf.randint(3, 2, (2,))
    p = nf.randperm(10)
    t = torch.randperm(10)
    assert p.dtype == tdt(t) and sorted(p.tolist()) == list(range(10))
    assert nf.randperm(4, dtype=nf.float32).dtype == F32
    assert nf.randperm(0).shape == (0,)


def test_normal_forms_and_gradient():
    g = nf.Generator().manual_seed(1)
    for n, t in ((nf.normal(nf.zeros(2), 1.0), torch.normal(torch.zeros(2), 1.0)),
                 (nf.normal(0.0, 1.0, (2, 3)), torch.normal(0.0, 1.0, (2, 3))),
                 (nf.normal(0.0, nf.ones(3)), torch.normal(0.0, torch.ones(3))),
                 (nf.normal(nf.zeros(2, 1), nf.ones(3)), torch.normal(torch.zeros(2, 1),
                                                                      torch.ones(3))),
                 (nf.normal(0, 1, size=(2,)), torch.normal(0, 1, size=(2,)))):
        assert n.dtype == tdt(t) and n.shape == tuple(t.shape)
    x = nf.normal(3.0, 2.0, (100000,), generator=g).numpy()
    assert abs(x.mean() - 3) < 0.03 and abs(x.std() - 2) < 0.03
    m = nf.zeros(4, requires_grad=True)
    s = nf.ones(4, requires_grad=True)
    y = nf.normal(m, s, generator=g)
    y.sum().backward()
    np.testing.assert_allclose(m.grad.numpy(), np.ones(4))
    np.testing.assert_allclose(s.grad.numpy(), y.detach().numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        nf.normal(nf.zeros(2), -1.0)
    with pytest.raises(RuntimeError, match="must match the size"):
        nf.normal(nf.zeros(2), nf.ones(3))


def test_bernoulli_multinomial():
    g = nf.Generator().manual_seed(2)
    p = nf.full((100000,), 0.3)
    b = nf.bernoulli(p, generator=g)
    assert b.dtype == F32 and set(np.unique(b.numpy())) <= {0.0, 1.0}
    assert abs(b.numpy().mean() - 0.3) < 0.01
    assert abs(p.bernoulli().numpy().mean() - 0.3) < 0.01
    assert abs(nf.bernoulli(nf.zeros(100000), 0.7).numpy().mean() - 0.7) < 0.01
    with pytest.raises(RuntimeError):
        nf.bernoulli(nf.tensor([0.5, 2.0]))
    with pytest.raises(NotImplementedError):
        nf.bernoulli(nf.tensor([0, 1]))
    w = nf.tensor([1.0, 0.0, 3.0])
    draws = nf.multinomial(w, 20000, replacement=True, generator=g).numpy()
    assert draws.dtype == np.int64 and set(np.unique(draws)) <= {0, 2}
    assert abs((draws == 2).mean() - 0.75) < 0.02
    nr = nf.multinomial(nf.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 5.0]]), 3).numpy()
    assert nr.shape == (2, 3) and all(len(set(r)) == 3 for r in nr) and 0 not in nr[1]
    assert w.multinomial(1).shape == (1,)
    for bad, msg in ((nf.tensor([0.0, 0.0]), "sum of probabilities"),
                     (nf.tensor([-1.0, 1.0]), "element < 0"),
                     (nf.tensor(1.0), "1 or 2 dim"), (nf.tensor([1, 1]), "floating")):
        with pytest.raises(RuntimeError, match=msg):
            nf.multinomial(bad, 1)
    with pytest.raises(RuntimeError, match="without replacement"):
        nf.multinomial(nf.tensor([1.0, 1.0]), 3)
    with pytest.raises(RuntimeError, match="n_sample <= 0"):
        nf.multinomial(nf.tensor([1.0, 1.0]), 0)


def test_inplace_samplers():
    g = nf.Generator().manual_seed(4)
    x = nf.empty(100000)
    assert x.uniform_(-2, 3, generator=g) is x
    v = x.numpy()
    assert v.min() >= -2 and v.max() < 3 and abs(v.mean() - 0.5) < 0.05
    x.normal_(1.0, 0.5)
    assert abs(x.numpy().mean() - 1) < 0.01 and abs(x.numpy().std() - 0.5) < 0.01
    x.bernoulli_(0.25)
    assert abs(x.numpy().mean() - 0.25) < 0.01
    x.exponential_(2.0)
    assert abs(x.numpy().mean() - 0.5) < 0.01
    x.geometric_(0.5)
    assert x.numpy().min() >= 1 and abs(x.numpy().mean() - 2) < 0.05
    x.log_normal_(0.0, 0.25)
    assert abs(np.log(x.numpy()).mean()) < 0.01
    x.cauchy_()
    assert abs(np.median(x.numpy())) < 0.05
    x.random_(5)
    assert set(np.unique(x.numpy())) == {0, 1, 2, 3, 4}
    x.random_(2, 5)
    assert set(np.unique(x.numpy())) == {2, 3, 4}
    i = nf.zeros(1000, dtype=nf.int64).random_()
    assert i.dtype == np.int64 and i.numpy().min() >= 0
    assert nf.zeros(3).uniform_(**{"from": 1, "to": 2}).numpy().min() >= 1
    assert nf.zeros(3).bernoulli_(nf.tensor([0.0, 1.0, 1.0])).tolist() == [0.0, 1.0, 1.0]
    for call, msg in ((lambda t: t.uniform_(2, 1), "from=2 > to=1"),
                      (lambda t: t.normal_(0, -1), "std >= 0.0"),
                      (lambda t: t.exponential_(0), "lambda > 0.0")):
        with pytest.raises(RuntimeError, match=msg):
            call(nf.zeros(3))
    with pytest.raises(NotImplementedError):
        nf.zeros(3, dtype=nf.int64).normal_()
    w = nf.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w.normal_()
    with nf.no_grad():
        w.uniform_(-1, 1)
    assert w.requires_grad and w.is_leaf and w.numpy(force=True).max() < 1


# ============================================================= dtypes

@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16"])
def test_finfo(name):
    n, t = nf.finfo(getattr(nf, name)), torch.finfo(getattr(torch, name))
    for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(n, field) == getattr(t, field), field
        assert type(getattr(n, field)) is type(getattr(t, field)), field
    assert repr(n) == repr(t)


@pytest.mark.parametrize("name", ["int64", "int32", "int16", "int8", "uint8"])
def test_iinfo(name):
    n, t = nf.iinfo(getattr(nf, name)), torch.iinfo(getattr(torch, name))
    for field in ("bits", "max", "min", "dtype"):
        assert getattr(n, field) == getattr(t, field), field
    assert repr(n) == repr(t)


def test_info_errors():
    with pytest.raises(TypeError, match="floating point"):
        nf.finfo(nf.int64)
    with pytest.raises(TypeError, match="integer"):
        nf.iinfo(nf.float32)
    with pytest.raises(TypeError, match="bool"):
        nf.iinfo(nf.bool)


NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def test_promote_types_and_can_cast_match_torch():
    for a in NAMES:
        for b in NAMES:
            ta, tb = getattr(torch, a), getattr(torch, b)
            na, nb = getattr(nf, a), getattr(nf, b)
            assert nf.promote_types(na, nb) == tdt(torch.empty(0, dtype=torch.promote_types(
                ta, tb))), (a, b)
            assert nf.can_cast(na, nb) == torch.can_cast(ta, tb), (a, b)


def test_result_type_and_predicates():
    cases = [(np.array([1]), 2.5), (1, 2.0), (np.array([1.0], np.float16), np.array(1.0, F32)),
             (np.array([1], np.uint8), -1), (np.array([1], np.int32), np.array([1])),
             (True, np.array([1], np.int8)), (np.array([1.0], F32), 2)]
    for a, b in cases:
        ta = torch.from_numpy(a) if isinstance(a, np.ndarray) else a
        tb = torch.from_numpy(b) if isinstance(b, np.ndarray) else b
        na = nf.tensor(a) if isinstance(a, np.ndarray) else a
        nb = nf.tensor(b) if isinstance(b, np.ndarray) else b
        assert nf.result_type(na, nb) == tdt(torch.empty(0, dtype=torch.result_type(ta, tb))), \
            (a, b)
    assert nf.is_tensor(nf.zeros(1)) and not nf.is_tensor([1])
    assert nf.is_floating_point(nf.zeros(1)) and not nf.is_floating_point(nf.tensor([1]))
    assert nf.numel(nf.zeros(2, 3)) == 6
    with pytest.raises(TypeError, match="must be Tensor"):
        nf.is_floating_point([1.0])


# ============================================================= tensor basics and printing

def test_tensor_basics_match_torch():
    a = np.arange(24, dtype=F32).reshape(2, 3, 4)
    n, t = nf.tensor(a), torch.from_numpy(a.copy())
    assert n.size(1) == t.size(1) and n.size(-1) == t.size(-1) and n.dim() == t.dim()
    assert n.ndim == t.ndim and n.numel() == t.numel() and n.element_size() == t.element_size()
    assert n.nbytes == t.nbytes and n.tolist() == t.tolist()
    assert nf.tensor(2.5).item() == t.new_tensor(2.5).item()
    assert n.clone().numpy() is not n.numpy() and n.contiguous() is n
    nt = n.transpose(0, 2)
    assert not nt.is_contiguous() and nt.contiguous().is_contiguous()
    assert f"{nf.tensor(0.123456):.4f}" == f"{torch.tensor(0.123456):.4f}" == "0.1235"
    assert f"{nf.tensor(3):d}" == "3"
    with pytest.raises(IndexError):
        n.size(3)
    w = nf.tensor([1.0, 2.0])
    assert w.requires_grad_() is w and w.requires_grad
    y = w * 2
    y.retain_grad()
    seen = []
    h = y.register_hook(lambda g: seen.append(g.numpy().copy()))
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 8.0])
    np.testing.assert_allclose(seen[0], [4.0, 8.0])
    h.remove()


PRINT_CASES = [
    [1, 2, 3], [[1, -20], [300, 4]], [1.0, 2.5, -3.25], [0.1, 0.01, 0.001], [1e-5, 1.0],
    [1e10, 1.0], [123456789.0, 1.5], [1.0, 2.0, 3.0], [[0.5, -1.0], [2.0, 1e3]], [],
    [True, False], [float("nan"), 1.0, float("inf"), -float("inf")], 3.5, 7, True, [1e-10],
    [[[1.0, 2.0]], [[3.0, 4.0]]], [0.0, -0.0], [100.0, 2.5], [1e8, 1.5], [1e-4, 1.0],
]


@pytest.mark.parametrize("data", PRINT_CASES, ids=[str(i) for i in range(len(PRINT_CASES))])
def test_repr_matches_torch(data):
    assert repr(nf.tensor(data)) == repr(torch.tensor(data))


def test_repr_special_cases_match_torch():
    for a in (np.arange(2000, dtype=F32), np.arange(3000).reshape(30, 100),
              np.random.default_rng(0).standard_normal((40, 40)).astype(F32),
              np.zeros((0, 3), F32), np.zeros((2, 0), np.int64),
              np.arange(6, dtype=F64).reshape(2, 3) / 7, np.arange(4, dtype=np.int32),
              np.array([1, 2], np.uint8), np.array([1.5, 2.5], np.float16),
              np.arange(30, dtype=F32) * 1.5, np.linspace(-1, 1, 12).astype(F32).reshape(3, 4)):
        assert repr(nf.tensor(a)) == repr(torch.from_numpy(a.copy())), a.shape
    w = nf.tensor([1.0, 2.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    assert repr(w) == repr(tw)
    assert repr(w * 2) == repr(tw * 2)
    assert repr(w.sum()) == repr(tw.sum())
    assert repr(nf.tensor(2.0, dtype=nf.float64)) == repr(torch.tensor(2.0, dtype=torch.float64))


def test_set_printoptions_like_torch():
    a = np.array([1.123456789, 2.0, 3e-3], F32)
    try:
        for kw in ({"precision": 2}, {"sci_mode": True}, {"sci_mode": False},
                   {"precision": 6}, {"threshold": 3, "edgeitems": 1}, {"profile": "short"},
                   {"linewidth": 20}):
            nf.set_printoptions(**kw)
            torch.set_printoptions(**kw)
            assert repr(nf.tensor(a)) == repr(torch.from_numpy(a.copy())), kw
            big = np.arange(12, dtype=F32) / 3
            assert repr(nf.tensor(big)) == repr(torch.from_numpy(big)), kw
    finally:
        nf.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
        nf.set_printoptions(sci_mode=None)
        torch.set_printoptions(sci_mode=None)


FACTORY_CALLS = {
    "zeros": lambda m, **k: m.zeros(2, 3, **k), "ones": lambda m, **k: m.ones((2,), **k),
    "empty": lambda m, **k: m.empty(2, **k), "full": lambda m, **k: m.full((2,), 1.5, **k),
    "arange": lambda m, **k: m.arange(0.0, 3.0, **k),
    "linspace": lambda m, **k: m.linspace(0, 1, 4, **k),
    "logspace": lambda m, **k: m.logspace(0, 1, 4, **k), "eye": lambda m, **k: m.eye(3, **k),
    "rand": lambda m, **k: m.rand(2, **k), "randn": lambda m, **k: m.randn(2, **k),
    "tensor": lambda m, **k: m.tensor([1.0, 2.0], **k),
    "zeros_like": lambda m, **k: m.zeros_like(m.ones(2), **k),
    "full_like": lambda m, **k: m.full_like(m.ones(2), 3.0, **k),
    "rand_like": lambda m, **k: m.rand_like(m.ones(2), **k),
    "randn_like": lambda m, **k: m.randn_like(m.ones(2), **k),
    "new_zeros": lambda m, **k: m.ones(2).new_zeros(3, **k),
    "new_tensor": lambda m, **k: m.ones(2).new_tensor([1.0], **k),
}


@pytest.mark.parametrize("name", sorted(FACTORY_CALLS))
def test_factory_options(name):
    call = FACTORY_CALLS[name]
    n, t = call(nf), call(torch)
    assert n.dtype == tdt(t) and n.shape == tuple(t.shape)
    for dt_n, dt_t in ((nf.float64, torch.float64), (nf.float16, torch.float16)):
        n, t = call(nf, dtype=dt_n), call(torch, dtype=dt_t)
        assert n.dtype == tdt(t), name
    r = call(nf, requires_grad=True)
    assert r.requires_grad and r.is_leaf and r.grad_fn is None
    assert not call(nf, device="cpu").requires_grad
    assert call(nf, device=nf.device("cpu")).device == nf.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA"):
        call(nf, device="cuda")
    with pytest.raises(TypeError, match="bfloat16"):
        call(nf, dtype=nf.bfloat16)
