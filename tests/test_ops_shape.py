"""Shape, joining, indexing, gather/scatter and diagonal ops against torch: values,
gradients, views, in-place twins, odd shapes and torch's errors."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, check_both as check, idx, mask

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(1)


def rand(*shape, dtype=F32):
    return RNG.uniform(-2, 2, shape).astype(dtype)


# ------------------------------------------------------------------ one input

UNARY = [
    ("view_as", lambda M, a: a.view_as(M.zeros(6, 4))),
    ("reshape_as", lambda M, a: a.reshape_as(M.zeros(4, 6))),
    ("reshape_infer", lambda M, a: M.reshape(a, (-1, 3))),
    ("unflatten", lambda M, a: a.unflatten(2, (2, 2))),
    ("unflatten_neg", lambda M, a: M.unflatten(a, -1, (-1, 2))),
    ("flatten_mid", lambda M, a: M.flatten(a, 1, 2)),
    ("swapaxes", lambda M, a: M.swapaxes(a, 0, 2)),
    ("swapdims", lambda M, a: a.swapdims(-1, 1)),
    ("movedim", lambda M, a: M.movedim(a, 0, -1)),
    ("movedim_tuple", lambda M, a: a.movedim((0, 1), (2, 0))),
    ("moveaxis", lambda M, a: M.moveaxis(a, -1, 0)),
    ("mT", lambda M, a: a.mT),
    ("mH", lambda M, a: a.mH),
    ("squeeze_tuple", lambda M, a: a.unsqueeze(1).unsqueeze(0).squeeze((0, 2))),
    ("expand_as", lambda M, a: a[:, :1].expand_as(a)),
    ("broadcast_to", lambda M, a: M.broadcast_to(a, (2, 2, 3, 4))),
    ("narrow", lambda M, a: M.narrow(a, 1, 1, 2)),
    ("narrow_neg", lambda M, a: a.narrow(-1, -3, 2)),
    ("select", lambda M, a: M.select(a, 1, -1)),
    ("split_int", lambda M, a: M.split(a, 2, 2)[1]),
    ("split_list", lambda M, a: M.cat(a.split([1, 2], 1)[::-1], 1)),
    ("chunk", lambda M, a: M.stack(M.chunk(a, 2, -1), 0)),
    ("chunk_uneven", lambda M, a: a.chunk(2, 1)[1]),
    ("tensor_split", lambda M, a: M.tensor_split(a, 3, 2)[0]),
    ("tensor_split_idx", lambda M, a: a.tensor_split([1, 3], dim=2)[1]),
    ("unbind", lambda M, a: M.unbind(a, 1)[2]),
    ("unbind_sum", lambda M, a: sum(a.unbind(0))),
    ("repeat", lambda M, a: a.repeat(2, 1, 1, 3)),
    ("tile", lambda M, a: M.tile(a, (2, 1))),
    ("repeat_interleave", lambda M, a: M.repeat_interleave(a, 2, dim=1)),
    ("repeat_interleave_tensor", lambda M, a: a.repeat_interleave(idx(M, [1, 0, 3]), 1)),
    ("repeat_interleave_flat", lambda M, a: M.repeat_interleave(a, 2)),
    ("flip", lambda M, a: M.flip(a, (0, 2))),
    ("flip_method", lambda M, a: a.flip(-1)),
    ("fliplr", lambda M, a: M.fliplr(a)),
    ("flipud", lambda M, a: M.flipud(a)),
    ("roll", lambda M, a: M.roll(a, 2, 1)),
    ("roll_multi", lambda M, a: a.roll((1, -2), (0, 2))),
    ("roll_flat", lambda M, a: M.roll(a, 5)),
    ("tril", lambda M, a: M.tril(a)),
    ("triu_k", lambda M, a: a.triu(1)),
    ("tril_neg", lambda M, a: a.tril(-1)),
    ("diagonal", lambda M, a: M.diagonal(a, 0, 1, 2)),
    ("diagonal_off", lambda M, a: a.diagonal(1, -1, 0)),
    ("diagonal_neg", lambda M, a: M.diagonal(a, -1, 1, 2)),
    ("diag_embed", lambda M, a: M.diag_embed(a)),
    ("diag_embed_off", lambda M, a: M.diag_embed(a[0], 1, 0, 2)),
    ("diag_2d", lambda M, a: M.diag(a[0], 1)),
    ("diag_1d", lambda M, a: M.diag(a[0, 0], -1)),
    ("atleast_3d", lambda M, a: M.atleast_3d(a[0, 0])),
    ("index_select", lambda M, a: M.index_select(a, 1, idx(M, [2, 0, 2]))),
    ("index_select_method", lambda M, a: a.index_select(-1, idx(M, [3]))),
    ("gather", lambda M, a: M.gather(a, 1, idx(M, [[[0, 1], [2, 2]], [[1, 0], [0, 0]]]))),
    ("gather_method", lambda M, a: a.gather(2, idx(M, [[[3, 3, 0, 1]] * 3] * 2))),
    ("take", lambda M, a: M.take(a, idx(M, [[0, 23], [-1, 5]]))),
    ("take_along_dim", lambda M, a: M.take_along_dim(a, idx(M, [[[0], [2], [1]]] * 2), 2)),
    ("take_along_dim_bcast", lambda M, a: M.take_along_dim(a, idx(M, [[[0, 1, 1, 2]]]), 1)),
    ("take_along_dim_flat", lambda M, a: M.take_along_dim(a, idx(M, [1, 7, 7]))),
    ("masked_select", lambda M, a: M.masked_select(a, a > 0)),
    ("masked_select_bcast", lambda M, a: a.masked_select(mask(M, [True, False, True, False]))),
    ("masked_fill", lambda M, a: a.masked_fill(a > 0.5, -1.0)),
    ("masked_fill_bcast", lambda M, a: M.masked_fill(a, mask(M, [[True], [False], [True]]), 2)),
    ("int_index_list", lambda M, a: a[:, [0, 2]]),
    ("index_tensor", lambda M, a: a[idx(M, [1, 1, 0])]),
    ("index_tensor_2d", lambda M, a: a[idx(M, [[1, 0], [0, 0]]), 1:]),
    ("bool_mask", lambda M, a: a[a > 0]),
    ("bool_mask_dim1", lambda M, a: a[:, mask(M, [True, False, True])]),
    ("none_ellipsis", lambda M, a: a[..., None]),
    ("mixed", lambda M, a: a[1, None, [0, 2], ..., ::2]),
    ("neg_step_free", lambda M, a: a[-1, -2:, 1:-1]),
    ("where_cond", lambda M, a: a[M.where(a > 0)]),
    ("nonzero_tuple", lambda M, a: a[M.nonzero(a > 0, as_tuple=True)]),
]


@pytest.mark.parametrize("name,f", UNARY, ids=[n for n, _ in UNARY])
def test_unary_shape_and_index_ops(name, f):
    check(f, rand(2, 3, 4))
    check(f, rand(2, 3, 4, dtype=F64), atol=1e-12, rtol=1e-12)


# ------------------------------------------------------------------ several inputs

MULTI = [
    ("cat0", lambda M, a, b: M.cat([a, b], 0), [(2, 3), (4, 3)]),
    ("cat_neg", lambda M, a, b: M.cat((a, b), -1), [(2, 3), (2, 1)]),
    ("concat", lambda M, a, b: M.concat([a, b], 1), [(2, 3), (2, 2)]),
    ("concatenate", lambda M, a, b: M.concatenate([a, b]), [(1, 3), (2, 3)]),
    ("cat_skips_empty", lambda M, a, b: M.cat([a, b, M.zeros(0)]), [(2, 3), (1, 3)]),
    ("stack1", lambda M, a, b: M.stack([a, b], 1), [(2, 3), (2, 3)]),
    ("stack_neg", lambda M, a, b: M.stack((a, b), -1), [(2, 3), (2, 3)]),
    ("hstack", lambda M, a, b: M.hstack([a, b]), [(2, 3), (2, 1)]),
    ("hstack_1d", lambda M, a, b: M.hstack([a, b]), [(3,), (2,)]),
    ("vstack", lambda M, a, b: M.vstack([a, b]), [(3,), (2, 3)]),
    ("dstack", lambda M, a, b: M.dstack([a, b]), [(2, 3), (2, 3)]),
    ("column_stack", lambda M, a, b: M.column_stack([a, b]), [(3,), (3, 2)]),
    ("broadcast_tensors", lambda M, a, b: sum(M.broadcast_tensors(a, b)), [(3, 1), (1, 4)]),
    ("meshgrid_ij", lambda M, a, b: M.stack(M.meshgrid(a, b, indexing="ij")), [(3,), (4,)]),
    ("meshgrid_xy", lambda M, a, b: M.stack(M.meshgrid([a, b], indexing="xy")), [(3,), (4,)]),
    ("scatter", lambda M, a, b: M.scatter(a, 1, idx(M, [[0, 2], [1, 0]]), b), [(2, 3), (2, 2)]),
    ("scatter_add", lambda M, a, b: a.scatter_add(0, idx(M, [[1, 0, 1], [1, 1, 0]]), b),
     [(2, 3), (2, 3)]),
    ("index_add", lambda M, a, b: M.index_add(a, 0, idx(M, [2, 0, 2]), b), [(3, 2), (3, 2)]),
    ("index_add_alpha", lambda M, a, b: a.index_add(1, idx(M, [1]), b, alpha=-2),
     [(3, 2), (3, 1)]),
    ("index_copy", lambda M, a, b: M.index_copy(a, 1, idx(M, [2, 0]), b), [(2, 3), (2, 2)]),
    ("masked_scatter", lambda M, a, b: a.masked_scatter(a > 0, b), [(3, 4), (20,)]),
    ("masked_fill_tensor", lambda M, a, b: a.masked_fill(a > 0, b.sum()), [(3, 4), (2,)]),
    ("index_fill_tensor", lambda M, a, b: a.index_fill(1, idx(M, [0, 3]), b.sum()),
     [(3, 4), (2,)]),
    ("index_put", lambda M, a, b: a.index_put((idx(M, [0, 2]),), b), [(3, 4), (2, 4)]),
    ("index_put_acc", lambda M, a, b: M.index_put(a, (idx(M, [0, 0]), idx(M, [1, 1])), b,
                                                 accumulate=True), [(3, 4), (2,)]),
]


@pytest.mark.parametrize("name,f,shapes", MULTI, ids=[m[0] for m in MULTI])
def test_multi_input_ops(name, f, shapes):
    check(f, *[rand(*s) for s in shapes])
    check(f, *[rand(*s, dtype=F64) for s in shapes], atol=1e-12, rtol=1e-12)


def test_scatter_with_reduce_forward():
    x, s = rand(2, 3), rand(2, 2)
    for red in ("add", "multiply"):
        for f in (lambda M, a, b: a.scatter(1, idx(M, [[0, 0], [1, 2]]), b, reduce=red),
                  lambda M, a, b: a.scatter(1, idx(M, [[0, 0], [1, 2]]), 2.0, reduce=red)):
            assert_close(f(nf, nf.tensor(x), nf.tensor(s)),
                         f(torch, torch.tensor(x), torch.tensor(s)))


def test_cat_promotes_dtypes_and_keeps_int_inputs_gradient_free():
    a = nf.tensor([[1.0, 2.0]], requires_grad=True)
    b = nf.tensor([[3, 4]])
    c = nf.cat([a, b])
    assert str(c.dtype) == "float32"
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[1.0, 1.0]])
    assert nf.cat([nf.tensor([1], dtype=nf.int32), nf.tensor([2])]).dtype == nf.int64


# ------------------------------------------------------------------ in-place twins

INPLACE = [
    ("masked_fill_", lambda M, y: y.masked_fill_(y > 0, 0.25)),
    ("scatter_", lambda M, y: y.scatter_(1, idx(M, [[0], [2], [1]]), 9.0)),
    ("scatter_src", lambda M, y: y.scatter_(0, idx(M, [[2, 1, 0, 0]]), M.ones(1, 4) * 3)),
    ("scatter_add_", lambda M, y: y.scatter_add_(1, idx(M, [[0, 0], [1, 1], [3, 3]]),
                                                 M.ones(3, 2))),
    ("index_add_", lambda M, y: y.index_add_(0, idx(M, [0, 0]), M.ones(2, 4))),
    ("index_fill_", lambda M, y: y.index_fill_(1, idx(M, [1, 2]), -3.0)),
    ("index_copy_", lambda M, y: y.index_copy_(0, idx(M, [1]), M.zeros(1, 4))),
    ("tril_", lambda M, y: y.tril_()),
    ("triu_", lambda M, y: y.triu_(-1)),
    ("t_", lambda M, y: y.t_()),
    ("transpose_", lambda M, y: y.transpose_(0, 1)),
    ("squeeze_", lambda M, y: y.unsqueeze_(0).squeeze_(0)),
    ("unsqueeze_", lambda M, y: y.unsqueeze_(1)),
    ("index_put_", lambda M, y: y.index_put_((idx(M, [1, 2]),), M.zeros(4))),
]


@pytest.mark.parametrize("name,f", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_twins(name, f):
    xa = rand(3, 4)
    out = []
    for M in (torch, nf):
        plain = M.tensor(xa.copy())
        r = f(M, plain)
        assert r is plain
        x = M.tensor(xa, requires_grad=True)
        y = x * 1.5
        r = f(M, y)
        assert r is y
        up = M.tensor(np.arange(y.numel(), dtype=F32).reshape(tuple(y.shape)))
        (y * up).sum().backward()
        out.append((plain.numpy(), y.detach().numpy(), x.grad.numpy()))
    for a, b in zip(out[0], out[1]):
        np.testing.assert_allclose(b, a, rtol=1e-6)
    with pytest.raises(RuntimeError, match="leaf"):
        f(nf, nf.tensor(xa, requires_grad=True))


# ------------------------------------------------------------------ views

def test_views_share_storage_like_torch():
    for f in (lambda a: a.view(6), lambda a: a.narrow(1, 1, 2), lambda a: a.diagonal(),
              lambda a: a.unbind(0)[1], lambda a: a.split(1, 1)[2], lambda a: a.select(0, 1),
              lambda a: a.movedim(0, 1), lambda a: a.mT, lambda a: a.chunk(2)[0]):
        x = nf.zeros(2, 3)
        v = f(x)
        v.fill_(7.0)
        t = torch.zeros(2, 3)
        f(t).fill_(7.0)
        np.testing.assert_array_equal(x.numpy(), t.numpy())
    for f in (lambda a: a.flip(0), lambda a: a.repeat(1, 1), lambda a: a.roll(1, 0)):
        x = nf.zeros(2, 3)
        f(x).fill_(1.0)
        assert x.numpy().sum() == 0


def test_view_of_non_contiguous_raises_reshape_copies():
    x = nf.zeros(2, 3).t()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(6)
    assert x.reshape(6).shape == (6,)
    assert nf.zeros(2, 3).view(nf.int32).dtype == nf.int32


# ------------------------------------------------------------------ no-grad results

def test_nonzero_argwhere_where():
    x = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 3.0]], F32)
    for f in (lambda M, a: M.nonzero(a), lambda M, a: a.nonzero(), lambda M, a: M.argwhere(a),
              lambda M, a: M.nonzero(M.tensor(5.0)), lambda M, a: M.nonzero(M.zeros(0, 2))):
        t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
        assert n.dtype == np.int64 and n.shape == t.shape
        np.testing.assert_array_equal(n.numpy(), t.numpy())
    for f in (lambda M, a: M.where(a > 0), lambda M, a: M.nonzero(a, as_tuple=True),
              lambda M, a: M.nonzero(M.tensor(5.0), as_tuple=True)):
        t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
        assert len(t) == len(n)
        for a, b in zip(n, t):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    check(lambda M, a, b: M.where(a > 0, a, b), rand(3, 4), rand(3, 4))
    check(lambda M, a, b: a.where(b > 0, b * 2), rand(3, 4), rand(3, 4))
    for f in (lambda M, a: M.where(a > 0, 1.0, 0.0), lambda M, a: M.where(a > 0, a, 0.5)):
        t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
        assert str(n.dtype) == str(t.dtype).replace("torch.", "")
        np.testing.assert_array_equal(n.numpy(), t.numpy())


def test_repeat_interleave_of_repeats_and_atleast():
    r = np.array([2, 0, 1], np.int64)
    assert_close(nf.repeat_interleave(nf.tensor(r)), torch.repeat_interleave(torch.tensor(r)))
    for fn in ("atleast_1d", "atleast_2d", "atleast_3d"):
        for shape in ((), (3,), (2, 3), (2, 3, 4)):
            t = getattr(torch, fn)(torch.zeros(shape))
            n = getattr(nf, fn)(nf.zeros(shape))
            assert n.shape == t.shape, (fn, shape)
        t = getattr(torch, fn)(torch.zeros(()), torch.zeros(2))
        n = getattr(nf, fn)(nf.zeros(()), nf.zeros(2))
        assert [a.shape for a in n] == [a.shape for a in t]


def test_split_chunk_shapes_match_torch():
    for shape, f in [((5, 2), lambda M, a: M.split(a, 2)), ((0,), lambda M, a: M.split(a, 2)),
                     ((5,), lambda M, a: M.chunk(a, 3)), ((6,), lambda M, a: a.chunk(4)),
                     ((0,), lambda M, a: M.chunk(a, 3)), ((7,), lambda M, a: a.tensor_split(3)),
                     ((7,), lambda M, a: M.tensor_split(a, [2, 10])),
                     ((5, 2), lambda M, a: a.split([3, 0, 2]))]:
        t, n = f(torch, torch.zeros(shape)), f(nf, nf.zeros(shape))
        assert [p.shape for p in n] == [p.shape for p in t], shape


def test_meshgrid_shapes_and_broadcast_shapes():
    a, b, c = (np.arange(n, dtype=F32) for n in (2, 3, 4))
    for ind in ("ij", "xy"):
        t = torch.meshgrid(*map(torch.from_numpy, (a, b, c)), indexing=ind)
        n = nf.meshgrid(*map(nf.tensor, (a, b, c)), indexing=ind)
        for p, q in zip(n, t):
            assert_close(p, q)
    assert nf.broadcast_shapes((3, 1), (4,), ()) == torch.broadcast_shapes((3, 1), (4,), ())


# ------------------------------------------------------------------ errors

ERRORS = [
    lambda M, a: a.view(5), lambda M, a: a.reshape(-1, -1), lambda M, a: a.permute(0, 2),
    lambda M, a: a.transpose(0, 3), lambda M, a: a.unsqueeze(4), lambda M, a: a.squeeze(3),
    lambda M, a: a.flatten(2, 0), lambda M, a: a.expand(3, 4), lambda M, a: a.narrow(0, 1, 5),
    lambda M, a: a.select(1, 3), lambda M, a: M.cat([a, M.zeros(3, 3)], 1),
    lambda M, a: M.cat([a, M.zeros(3)]), lambda M, a: M.cat([M.tensor(1.0)]),
    lambda M, a: M.cat([a, M.zeros(2)], 1), lambda M, a: M.cat([a, M.zeros(2, 3, 1)], 1),
    lambda M, a: M.cat([]), lambda M, a: M.stack([a, M.zeros(3, 2)]), lambda M, a: a.repeat(2),
    lambda M, a: a.split([1, 2], 0), lambda M, a: a.chunk(0), lambda M, a: a.movedim(0, 5),
    lambda M, a: a.flip(3), lambda M, a: a.roll(1, 2), lambda M, a: M.tril(a[0]),
    lambda M, a: a.diagonal(0, 1, 1), lambda M, a: a[3], lambda M, a: a[0, 0, 0],
    lambda M, a: a[:, mask(M, [True, False])], lambda M, a: a[M.tensor([0.5])],
    lambda M, a: a.gather(0, idx(M, [[5]])), lambda M, a: a.gather(0, idx(M, [[-1]])),
    lambda M, a: a.gather(0, idx(M, [[0, 0, 0, 0]])), lambda M, a: a.gather(0, idx(M, [0])),
    lambda M, a: a.index_select(0, idx(M, [2])), lambda M, a: a.index_select(3, idx(M, [0])),
    lambda M, a: a.scatter(0, idx(M, [[2]]), 1.0), lambda M, a: M.take(a, idx(M, [6])),
    lambda M, a: a.index_add(0, idx(M, [0]), M.ones(2, 3)),
    lambda M, a: a.masked_fill(M.tensor([1.0, 0.0, 1.0]), 0.0),
    lambda M, a: a.masked_fill(mask(M, [True, False, True]), M.tensor([1.0, 2.0])),
    lambda M, a: a.masked_fill(mask(M, [True, False]), 0.0), lambda M, a: a.t().t().t()[5],
    lambda M, a: M.zeros(2, 3, 4).t(), lambda M, a: M.zeros(3).mT,
    lambda M, a: a.repeat_interleave(idx(M, [1, 2, 3]), 0), lambda M, a: a.unbind(2),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors_like_torch(k):
    f = ERRORS[k]
    x = np.zeros((2, 3), F32)
    with pytest.raises(Exception) as te:
        f(torch, torch.from_numpy(x))
    expected = type(te.value)
    if expected.__name__ == "_LinAlgError":
        expected = RuntimeError
    with pytest.raises(expected) as ne:
        f(nf, nf.tensor(x))
    assert "axis" not in str(ne.value).lower(), str(ne.value)


# ------------------------------------------------------------------ odd shapes

@pytest.mark.parametrize("f", [
    lambda M, a: a.flip(0), lambda M, a: a.roll(1, 0), lambda M, a: a.repeat(2, 2),
    lambda M, a: M.cat([a, a], 1), lambda M, a: M.stack([a, a]), lambda M, a: a.tril(),
    lambda M, a: a.diagonal(), lambda M, a: a.view(-1, 2), lambda M, a: a.unsqueeze(0).squeeze(),
    lambda M, a: a[a > 0], lambda M, a: a.index_select(1, idx(M, [0, 1])),
    lambda M, a: a.masked_fill(a > 0, 1.0), lambda M, a: a.movedim(0, 1),
])
def test_empty_tensors(f):
    x = np.zeros((0, 2), F32)
    t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
    assert n.shape == t.shape


@pytest.mark.parametrize("f", [
    lambda M, a: a.reshape(1, 1), lambda M, a: a.view(-1), lambda M, a: a.unsqueeze(-1),
    lambda M, a: a.squeeze(0), lambda M, a: a.expand(3, 2), lambda M, a: a.flip(0),
    lambda M, a: a.permute(()), lambda M, a: a.t(), lambda M, a: a.T,
    lambda M, a: M.atleast_2d(a), lambda M, a: a[None, ..., None], lambda M, a: a.roll(1),
    lambda M, a: a.repeat(2), lambda M, a: M.stack([a, a]), lambda M, a: a.movedim(0, -1),
    lambda M, a: a.gather(0, idx(M, 0)), lambda M, a: a.take(idx(M, [0, 0])),
])
def test_zero_dim_tensors(f):
    check(f, np.array(1.5, F32))


# ------------------------------------------------------------------ windows, rotations, diff

@pytest.mark.parametrize("f", [
    lambda M, a: a.unfold(2, 2, 1), lambda M, a: a.unfold(-1, 3, 2), lambda M, a: a.unfold(0, 2, 2),
    lambda M, a: M.rot90(a), lambda M, a: M.rot90(a, 2, (1, 2)), lambda M, a: a.rot90(-1, [0, 2]),
    lambda M, a: M.rot90(a, 4), lambda M, a: M.diff(a), lambda M, a: a.diff(n=2, dim=1),
    lambda M, a: M.diff(a, dim=0, prepend=a[:1] * 2, append=a[-1:]),
])
def test_unfold_rot90_diff(f):
    check(f, rand(2, 3, 5))


def test_unfold_is_a_view_and_diff_of_bool():
    x = nf.zeros(6)
    x.unfold(0, 2, 2).fill_(1.0)
    assert x.numpy().sum() == 6
    b = np.array([True, True, False, True])
    np.testing.assert_array_equal(nf.diff(nf.tensor(b)).numpy(),
                                  torch.diff(torch.from_numpy(b)).numpy())
    with pytest.raises(RuntimeError, match="maximum size"):
        nf.zeros(3).unfold(0, 4, 1)


@pytest.mark.parametrize("shape,wrap", [((3, 3), False), ((5, 3), False), ((7, 3), True),
                                        ((3, 5), True), ((2, 2, 2), False)])
def test_fill_diagonal_(shape, wrap):
    check(lambda M, a: (a * 1).fill_diagonal_(-1.0, wrap=wrap), rand(*shape))


@pytest.mark.parametrize("args", [(3, 3), (3, 4, 1), (4, 3, -1), (0, 3), (3, 5, 10)])
def test_tril_triu_indices(args):
    for name in ("tril_indices", "triu_indices"):
        t, n = getattr(torch, name)(*args), getattr(nf, name)(*args)
        assert n.dtype == np.int64 and n.shape == t.shape
        np.testing.assert_array_equal(n.numpy(), t.numpy())
