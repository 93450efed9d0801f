"""Writing through indices and views against torch: x[index] = v into graph tensors, in-place
ops on views (the base's history rebased), expanded tensors, scatter_reduce, and random index
expressions read and written."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import check_both as check, idx

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(1)


def rand(*shape, dtype=F32):
    return RNG.uniform(-2, 2, shape).astype(dtype)


# ------------------------------------------------------------------ setitem and autograd

SETITEMS = [
    ("int", lambda M, y, v: y.__setitem__(0, v[0])),
    ("slice", lambda M, y, v: y.__setitem__((slice(None), slice(1, 3)), v[:, :2])),
    ("mask_tensor", lambda M, y, v: y.__setitem__(y.detach() > 0, v[y.detach() > 0])),
    ("mask_scalar", lambda M, y, v: y.__setitem__(y.detach() > 0, 1.5)),
    ("int_tensor", lambda M, y, v: y.__setitem__(idx(M, [2, 0]), v[:2])),
    ("list_dim1", lambda M, y, v: y.__setitem__((slice(None), [0, 3]), v[:, :2])),
    ("broadcast_row", lambda M, y, v: y.__setitem__(1, v[0, 0])),
    ("broadcast_lead_one", lambda M, y, v: y.__setitem__(1, v[:1])),
    ("ellipsis", lambda M, y, v: y.__setitem__((Ellipsis, 2), v[:, 0])),
    ("value_only_grad", lambda M, y, v: y.__setitem__((0, 1), v.sum())),
]


@pytest.mark.parametrize("name,f", SETITEMS, ids=[n for n, _ in SETITEMS])
def test_setitem_into_non_leaf_gradients_match_torch(name, f):
    xa, va = rand(3, 4), rand(3, 4)
    res = []
    for M in (torch, nf):
        x = M.tensor(xa, requires_grad=True)
        v = M.tensor(va, requires_grad=True)
        y = x * 2
        f(M, y, v)
        (y * M.tensor(np.arange(12, dtype=F32).reshape(3, 4))).sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy(),
                    np.zeros(1) if v.grad is None else v.grad.numpy()))
    for n, t in zip(res[1], res[0]):
        np.testing.assert_allclose(n, t, rtol=1e-6)


def test_setitem_errors_and_no_grad_path():
    x = nf.zeros(3, 4)
    x[nf.tensor([0, 2]), 1] = nf.tensor([5.0, 6.0])
    assert x.numpy()[2, 1] == 6.0
    x[x > 5] = 0
    assert x.numpy().max() == 5.0
    with pytest.raises(IndexError, match="dimension"):
        x[5] = 1.0
    with pytest.raises(RuntimeError, match="shape mismatch"):
        x[0] = nf.ones(3)
    with pytest.raises(IndexError):
        x[nf.tensor([0.5])] = 1.0


# ------------------------------------------------------------------ scatter_reduce

SR_INDEX = np.array([[0, 1, 0, 2], [0, 0, 2, 2]], np.int64)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self):
    x = rand(3, 4)
    s = rand(2, 4)
    s[1, 3] = s[0, 3] = 0.75 if reduce in ("amax", "amin") else s[1, 3]   # a tie
    f = lambda M, a, b: a.scatter_reduce(0, idx(M, SR_INDEX), b, reduce,  # noqa: E731
                                         include_self=include_self)
    check(f, x, s)
    check(f, x.astype(F64), s.astype(F64), atol=1e-12, rtol=1e-12)


def test_scatter_reduce_prod_with_zeros_and_ints():
    x = np.array([[1.0, 0.0, 2.0, 3.0], [2.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.0]], F32)
    s = np.array([[0.0, 2.0, 3.0, 0.0], [5.0, 0.0, 0.0, 2.0]], F32)
    for inc in (True, False):
        check(lambda M, a, b: M.scatter_reduce(a, 0, idx(M, SR_INDEX), b, "prod",
                                               include_self=inc), x, s)
    xi, si = np.arange(12).reshape(3, 4), np.arange(8).reshape(2, 4)
    for red in ("sum", "prod", "mean", "amax", "amin"):
        t = torch.from_numpy(xi).scatter_reduce(0, torch.from_numpy(SR_INDEX),
                                                torch.from_numpy(si), red)
        n = nf.tensor(xi).scatter_reduce(0, nf.tensor(SR_INDEX), nf.tensor(si), red)
        np.testing.assert_array_equal(n.numpy(), t.numpy())
    y = nf.zeros(3, 4)
    y.scatter_reduce_(0, nf.tensor(SR_INDEX), nf.ones(2, 4), "sum")
    assert y.numpy().sum() == 8


# ------------------------------------------------------------------ in place through views

VIEW_INPLACE = [
    ("chained_setitem", lambda M, y, v: y[0].__setitem__(1, v[0])),
    ("slice_mul_", lambda M, y, v: y[:, 2].mul_(v[1])),
    ("narrow_copy_", lambda M, y, v: y.narrow(1, 3, 1).copy_(v[2:3].expand(3, 1))),
    ("row_zero_", lambda M, y, v: y[2].zero_()),
    ("view_add_", lambda M, y, v: y.view(-1)[3:7].add_(v)),
    ("diagonal_fill_", lambda M, y, v: y.diagonal().fill_(v[0])),
    ("transpose_masked_fill_", lambda M, y, v: y.t()[1].masked_fill_(v[:3] > 0.5, 0.0)),
    ("select_mul_", lambda M, y, v: y.select(1, 0).mul_(v[:3])),
]


@pytest.mark.parametrize("name,f", VIEW_INPLACE, ids=[n for n, _ in VIEW_INPLACE])
def test_inplace_on_views_rebases_the_base_like_torch(name, f):
    xa, va = rand(3, 4), np.array([0.3, 0.9, -1.2, 0.7], F32)
    res = []
    for M in (torch, nf):
        x = M.tensor(xa, requires_grad=True)
        v = M.tensor(va, requires_grad=True)
        y = x * 2
        f(M, y, v)
        (y * M.tensor(np.arange(12, dtype=F32).reshape(3, 4))).sum().backward()
        res.append((y.detach().numpy(), x.grad.numpy(),
                    np.zeros(4, F32) if v.grad is None else v.grad.numpy()))
    for n, t in zip(res[1], res[0]):
        np.testing.assert_allclose(n, t, rtol=1e-6, atol=1e-7)


def test_inplace_on_view_of_leaf_raises_like_torch():
    for f in (lambda w: w[0].mul_(2), lambda w: w.view(-1).zero_(), lambda w: w[1].fill_(3.0),
              lambda w: w[0].__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="view of a leaf"):
            f(nf.ones(2, 3, requires_grad=True))
        with pytest.raises(RuntimeError, match="leaf"):
            f(torch.ones(2, 3, requires_grad=True))
    w = nf.ones(2, 3, requires_grad=True)
    with nf.no_grad():
        w[0].mul_(2)
    assert w.detach().numpy()[0, 0] == 2
    w = nf.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError):
        w[1].fill_(3.0)
    assert w.detach().numpy().max() == 1   # refused before anything was written


@pytest.mark.parametrize("f", [lambda e: e.add_(1), lambda e: e.mul_(e),
                               lambda e: e.copy_(e.detach().clone() * 0)])
def test_computing_into_an_expanded_tensor_raises_like_torch(f):
    for M in (torch, nf):
        with pytest.raises(RuntimeError, match="single memory location"):
            f(M.ones(1, 4).expand(3, 4))


@pytest.mark.parametrize("f", [lambda e: e.zero_(), lambda e: e.fill_(2.0),
                               lambda e: e.__setitem__((0, 1), 5.0)])
def test_filling_an_expanded_tensor_writes_through_like_torch(f):
    out = []
    for M in (torch, nf):
        base = M.ones(1, 4)
        f(base.expand(3, 4))
        out.append(base.numpy().copy())
    np.testing.assert_array_equal(out[1], out[0])


# ------------------------------------------------------------------ random index expressions

def _random_index(rnd, shape):
    items, dim = [], 0
    for _ in range(rnd.randint(1, 3)):
        n = shape[min(dim, len(shape) - 1)]
        r = rnd.random()
        if r < 0.25:
            it = rnd.randrange(-n, n)
        elif r < 0.5:
            it = slice(rnd.randrange(-n, n), rnd.randrange(-n, n + 1), rnd.choice([None, 1, 2]))
        elif r < 0.7:
            it = [rnd.randrange(-n, n) for _ in range(rnd.randint(1, 3))]
        elif r < 0.8:
            it = None
        else:
            it = slice(None)
        items.append(it)
        dim += it is not None
    if rnd.random() < 0.2:
        items.insert(rnd.randrange(len(items) + 1), Ellipsis)
    return tuple(items)


def _as_index(M, index):
    return tuple(M.tensor(i) if isinstance(i, list) else i for i in index)


@pytest.mark.parametrize("seed", range(4))
def test_random_index_expressions_read_and_write_like_torch(seed):
    import random
    rnd = random.Random(seed)
    shape = (3, 4, 5)
    weights = np.arange(60, dtype=F32).reshape(shape)
    for _ in range(60):
        index = _random_index(rnd, shape)
        x = rand(*shape)
        try:
            target = torch.from_numpy(x)[_as_index(torch, index)]
        except (IndexError, RuntimeError):
            with pytest.raises((IndexError, RuntimeError)):
                nf.tensor(x)[_as_index(nf, index)]
            continue
        # read: value and gradient
        check(lambda M, a: a[_as_index(M, index)], x, grad=target.numel() > 0)
        # write into a non-leaf: value and both gradients
        v = rand(*target.shape)
        res = []
        for M in (torch, nf):
            a, w = M.tensor(x, requires_grad=True), M.tensor(v, requires_grad=True)
            y = a * 1.5
            y[_as_index(M, index)] = w
            (y * M.tensor(weights)).sum().backward()
            res.append((y.detach().numpy(), a.grad.numpy(), w.grad.numpy()))
        for n, t in zip(res[1], res[0]):
            np.testing.assert_allclose(n, t, rtol=1e-6, err_msg=str(index))
