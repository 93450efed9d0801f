"""Reductions, scans and order statistics against torch: values, dtypes, gradients,
named tuples, out=, empty and 0-d inputs, bad dims."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, check_op

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(0)


def distinct(*shape, dtype=F32):
    """Values without ties (so argmax / sort indices are unique), shuffled."""
    n = int(np.prod(shape))
    return ((RNG.permutation(n).reshape(shape) + 0.5) / n * 2.4 - 1.2).astype(dtype)


def both(f):
    """(torch form, nnfast form) of f(module, *tensors)."""
    return (lambda *a: f(torch, *a)), (lambda *a: f(nf, *a))


def check(f, *arrays, **kw):
    tf, nf_ = both(f)
    return check_op(None, tf, nf_, inputs=list(arrays), **kw)


# ------------------------------------------------------------------ sum/mean/prod/var/std

SMOOTH = [
    ("sum", lambda M, a: M.sum(a)),
    ("sum_dim", lambda M, a: M.sum(a, 1)),
    ("sum_tuple_keep", lambda M, a: a.sum((0, -1), keepdim=True)),
    ("sum_dtype", lambda M, a: M.sum(a, dim=0, dtype=M.float64)),
    ("mean_neg", lambda M, a: a.mean(-2)),
    ("mean_tuple", lambda M, a: M.mean(a, (2, 0))),
    ("nansum", lambda M, a: M.nansum(a, 1)),
    ("nanmean", lambda M, a: M.nanmean(a, (0, 1))),
    ("prod_all", lambda M, a: a.prod()),
    ("prod_dim", lambda M, a: M.prod(a, 1, keepdim=True)),
    ("var", lambda M, a: a.var()),
    ("var_dim_unbiased_false", lambda M, a: M.var(a, 1, False)),
    ("var_correction", lambda M, a: a.var(dim=(0, 2), correction=2, keepdim=True)),
    ("var_bool_positional", lambda M, a: a.var(False)),
    ("std", lambda M, a: M.std(a, 0)),
    ("std_correction0", lambda M, a: a.std(dim=-1, correction=0)),
    ("logsumexp", lambda M, a: M.logsumexp(a, 1)),
    ("logsumexp_tuple", lambda M, a: a.logsumexp((0, 2), keepdim=True)),
    ("norm", lambda M, a: M.norm(a)),
    ("norm_p1_dim", lambda M, a: a.norm(1, dim=1)),
    ("norm_p3", lambda M, a: M.norm(a, 3, dim=(0, 2), keepdim=True)),
    ("norm_fro_dims", lambda M, a: M.norm(a, "fro", dim=(1, 2))),
    ("amax", lambda M, a: M.amax(a, (0, 1))),
    ("amin_keep", lambda M, a: a.amin(-1, keepdim=True)),
    ("max_all", lambda M, a: a.max()),
    ("min_all", lambda M, a: M.min(a)),
    ("max_dim", lambda M, a: M.max(a, 1).values),
    ("min_dim_keep", lambda M, a: a.min(dim=-1, keepdim=True)[0]),
    ("median_all", lambda M, a: a.median()),
    ("median_dim", lambda M, a: M.median(a, 1).values),
    ("nanmedian_dim", lambda M, a: M.nanmedian(a, 0).values),
    ("kthvalue", lambda M, a: M.kthvalue(a, 2, 1).values),
    ("cumsum", lambda M, a: M.cumsum(a, 1)),
    ("cumprod", lambda M, a: a.cumprod(-1)),
    ("cummax", lambda M, a: M.cummax(a, 1).values),
    ("logcumsumexp", lambda M, a: M.logcumsumexp(a * 30, 1)),
    ("logcumsumexp_method", lambda M, a: a.logcumsumexp(-1)),
    ("cummin", lambda M, a: a.cummin(0)[0]),
    ("sort", lambda M, a: M.sort(a, 1).values),
    ("sort_desc", lambda M, a: a.sort(dim=0, descending=True)[0]),
    ("msort", lambda M, a: M.msort(a)),
    ("topk", lambda M, a: M.topk(a, 2, dim=1).values),
    ("topk_smallest", lambda M, a: a.topk(3, largest=False).values),
    ("aminmax", lambda M, a: M.aminmax(a, dim=1).max),
]


@pytest.mark.parametrize("name,f", SMOOTH, ids=[n for n, _ in SMOOTH])
def test_differentiable_reductions(name, f):
    x = distinct(3, 4, 5)
    check(f, x)
    check(f, x.astype(F64), atol=1e-10, rtol=1e-10)


def test_mode_values_indices_and_gradient():
    x = np.array([[1.0, 2.0, 2.0, 1.0], [3.0, 3.0, 1.0, 1.0], [0.5, 4.0, 4.0, 4.0]], F32)
    check(lambda M, a: M.mode(a, 1).values, x)
    check(lambda M, a: a.mode(0, keepdim=True).values, x)
    for dim in (0, 1):
        t, n = torch.mode(torch.from_numpy(x), dim), nf.mode(nf.tensor(x), dim)
        np.testing.assert_array_equal(n.indices.numpy(), t.indices.numpy())


def test_var_with_no_degrees_of_freedom_is_nan_like_torch():
    check(lambda M, a: M.var(a, 0), np.array([[1.5, 2.0]], F32))
    check(lambda M, a: a.std(), np.array([0.5], F32))


def test_std_of_constant_slice_has_zero_gradient_like_torch():
    x = np.array([[1.0, 1.0, 1.0], [0.5, 2.0, -1.0]], F32)
    check(lambda M, a: M.std(a, 1), x)
    check(lambda M, a: a.std(1, keepdim=True, correction=0), x)


def test_prod_and_cumprod_with_zeros_match_torch():
    x = np.array([[2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 1.5, 2.0], [1.0, 2.0, -1.0, 0.5]], F32)
    for f in (lambda M, a: a.prod(), lambda M, a: M.prod(a, 1), lambda M, a: M.prod(a, 0),
              lambda M, a: M.cumprod(a, 1), lambda M, a: a.cumprod(0)):
        check(f, x)


def test_max_ties_spread_like_torch():
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], F32)
    for f in (lambda M, a: a.max(), lambda M, a: M.amax(a, 1), lambda M, a: M.amin(a),
              lambda M, a: M.max(a, 1).values, lambda M, a: M.norm(a, float("inf"), dim=1),
              lambda M, a: M.cummax(a, 1).values):
        check(f, x)


@pytest.mark.parametrize("name", ["max", "min", "sort", "topk", "median", "mode",
                                  "kthvalue", "cummax", "cummin", "nanmedian"])
def test_named_tuples(name):
    x = distinct(3, 4)
    args = {"topk": (2,), "kthvalue": (2,)}.get(name, ())
    dim_kw = {"dim": 1}
    t = getattr(torch, name)(torch.from_numpy(x), *args, **dim_kw)
    n = getattr(nf, name)(nf.tensor(x), *args, **dim_kw)
    assert type(n).__name__ == type(t).__name__ and isinstance(n, tuple) and len(n) == 2
    values, indices = n
    assert values is n.values and indices is n.indices and n[0] is n.values
    assert_close(n.values, t.values)
    assert n.indices.dtype == np.int64
    np.testing.assert_array_equal(n.indices.numpy(), t.indices.numpy())
    assert repr(n).startswith(f"torch.return_types.{name}(")
    m = getattr(nf.tensor(x), name)(*args, **dim_kw)
    np.testing.assert_array_equal(m.indices.numpy(), t.indices.numpy())


def test_aminmax_and_slogdet_field_names():
    x = distinct(3, 4)
    t = torch.aminmax(torch.from_numpy(x), dim=0)
    n = nf.aminmax(nf.tensor(x), dim=0)
    assert_close(n.min, t.min)
    assert_close(n.max, t.max)
    mn, mx = nf.tensor(x).aminmax()
    assert_close(mn, x.min()) and assert_close(mx, x.max())


def test_binary_max_min_is_maximum_minimum():
    a, b = distinct(3, 4), distinct(3, 4)[::-1].copy()
    check(lambda M, x, y: M.max(x, y), a, b)
    check(lambda M, x, y: M.min(x, y), a, b)
    check(lambda M, x, y: x.max(y), a, b)
    # ties split the gradient
    check(lambda M, x, y: M.max(x, y), a, a.copy())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (0, False), (-1, True)])
def test_argmax_argmin(name, dim, keepdim):
    x = distinct(3, 4, 2)
    t = getattr(torch, name)(torch.from_numpy(x), dim=dim, keepdim=keepdim)
    n = getattr(nf, name)(nf.tensor(x), dim=dim, keepdim=keepdim)
    assert n.dtype == np.int64 and n.shape == t.shape
    np.testing.assert_array_equal(n.numpy(), t.numpy())


def test_nan_handling_like_torch():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]], F32)
    for f in (lambda M, a: M.argmax(a, 1), lambda M, a: M.max(a, 1).indices,
              lambda M, a: M.median(a, 1).values, lambda M, a: M.nanmedian(a, 1).values,
              lambda M, a: M.nansum(a, 1), lambda M, a: M.nanmean(a, 1),
              lambda M, a: M.sort(a, 1).indices, lambda M, a: M.sort(a, 1, True).indices,
              lambda M, a: M.max(a)):
        t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
        np.testing.assert_array_equal(n.numpy(), t.numpy())


@pytest.mark.parametrize("f", [
    lambda M, a: M.all(a), lambda M, a: M.any(a, 1), lambda M, a: a.all(dim=0, keepdim=True),
    lambda M, a: M.any(a, ()), lambda M, a: M.count_nonzero(a, ()),
    lambda M, a: M.any(a, (0, 1)), lambda M, a: M.count_nonzero(a),
    lambda M, a: M.count_nonzero(a, 1), lambda M, a: M.count_nonzero(a, (0, 1)),
    lambda M, a: (a > 0).sum(1), lambda M, a: a.long().prod(1), lambda M, a: M.cumsum(a > 0, 1),
    lambda M, a: M.unique(a.long()), lambda M, a: M.argsort(a, 1),
    lambda M, a: M.argsort(a, 0, descending=True),
])
def test_integer_and_bool_results(f):
    x = np.array([[1.0, 0.0, -2.0], [0.0, 3.0, 0.5]], F32)
    t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
    assert n.dtype == np.dtype(str(t.dtype).replace("torch.", "")), (n.dtype, t.dtype)
    np.testing.assert_array_equal(n.numpy(), t.numpy())


@pytest.mark.parametrize("f", [
    lambda M, a: M.sum(a, 0), lambda M, a: M.mean(a, 1), lambda M, a: M.prod(a, 0),
    lambda M, a: a.sum(), lambda M, a: M.logsumexp(a, 0), lambda M, a: M.cumsum(a, 0),
    lambda M, a: M.sort(a, 0).values, lambda M, a: M.amax(a, 1), lambda M, a: M.std(a, 1),
    lambda M, a: M.norm(a), lambda M, a: M.any(a, 0), lambda M, a: M.count_nonzero(a),
])
def test_empty_inputs(f):
    x = np.zeros((0, 3), F32)
    t, n = f(torch, torch.from_numpy(x)), f(nf, nf.tensor(x))
    assert n.shape == t.shape
    np.testing.assert_allclose(n.detach().numpy(), t.detach().numpy().astype(n.dtype))


@pytest.mark.parametrize("f", [
    lambda M, a: M.max(a), lambda M, a: M.amax(a), lambda M, a: M.argmax(a),
    lambda M, a: M.max(a, 0), lambda M, a: M.median(a, 0), lambda M, a: M.kthvalue(a, 1, 0),
    lambda M, a: M.aminmax(a), lambda M, a: M.topk(a, 1, 0), lambda M, a: M.mode(a, 0),
    lambda M, a: M.amax(a, 0), lambda M, a: M.argmin(a, 0),
])
def test_empty_reductions_without_identity_raise_like_torch(f):
    x = np.zeros((0, 3), F32)
    with pytest.raises(Exception) as te:
        f(torch, torch.from_numpy(x))
    with pytest.raises(type(te.value)):
        f(nf, nf.tensor(x))


@pytest.mark.parametrize("f", [
    lambda M, a: a.sum(), lambda M, a: a.sum(0), lambda M, a: a.mean(-1), lambda M, a: a.max(),
    lambda M, a: M.max(a, 0).values, lambda M, a: a.prod(0), lambda M, a: M.cumsum(a, 0),
    lambda M, a: M.sort(a).values, lambda M, a: M.logsumexp(a, 0), lambda M, a: M.norm(a),
    lambda M, a: a.median(), lambda M, a: M.topk(a, 1).values, lambda M, a: M.amax(a, 0),
])
def test_zero_dim_inputs(f):
    check(f, np.array(1.5, F32))


@pytest.mark.parametrize("f", [
    lambda M, a: a.sum(3), lambda M, a: a.mean((0, -4)), lambda M, a: M.max(a, 2),
    lambda M, a: M.argmax(a, -3), lambda M, a: M.cumsum(a, 2), lambda M, a: M.sort(a, 5),
    lambda M, a: M.logsumexp(a, 2), lambda M, a: M.std(a, 2), lambda M, a: a.prod(-3),
    lambda M, a: M.topk(a, 4, 1), lambda M, a: M.kthvalue(a, 0, 1), lambda M, a: a.sum((0, 0)),
])
def test_bad_dims_raise_like_torch(f):
    x = np.zeros((2, 3), F32)
    with pytest.raises(Exception) as te:
        f(torch, torch.from_numpy(x))
    with pytest.raises(type(te.value)) as ne:
        f(nf, nf.tensor(x))
    assert "axis" not in str(ne.value).lower()


def test_mean_of_int_needs_dtype():
    with pytest.raises(RuntimeError, match="floating"):
        nf.arange(4).mean()
    assert_close(nf.arange(4).mean(dtype=nf.float32), torch.arange(4).mean(dtype=torch.float32))


def test_out_argument():
    x = distinct(3, 4)
    out = nf.empty(0)
    r = nf.sum(nf.tensor(x), 1, out=out)
    assert r is out and out.shape == (3,)
    assert_close(out, x.sum(1))
    vals, idx = nf.empty(3), nf.zeros(3, dtype=nf.int64)
    r = nf.max(nf.tensor(x), 1, out=(vals, idx))
    assert r.values is vals and r.indices is idx
    np.testing.assert_array_equal(idx.numpy(), x.argmax(1))
    c = nf.empty(3, 4)
    nf.cumsum(nf.tensor(x), 0, out=c)
    assert_close(c, np.cumsum(x, 0))
    with pytest.raises(RuntimeError, match="out="):
        nf.sum(nf.tensor(x, requires_grad=True), out=nf.empty(()))


def test_std_var_mean_pairs():
    x = distinct(3, 4)
    for name in ("std_mean", "var_mean"):
        t = getattr(torch, name)(torch.from_numpy(x), 1, keepdim=True)
        n = getattr(nf, name)(nf.tensor(x), 1, keepdim=True)
        assert_close(n[0], t[0]) and assert_close(n[1], t[1])


def test_unique_keeps_each_nan_like_torch():
    x = np.array([np.nan, 1.0, np.nan, 1.0], F32)
    t = torch.unique(torch.from_numpy(x), return_counts=True)
    n = nf.unique(nf.tensor(x), return_counts=True)
    for a, b in zip(n, t):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unique_and_consecutive():
    x = np.array([[3, 1, 2], [1, 3, 3], [3, 1, 2]], np.int64)
    for kw in ({}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True}, {"dim": 0},
               {"dim": 1, "return_inverse": True, "return_counts": True}):
        for fn in ("unique", "unique_consecutive"):
            t = getattr(torch, fn)(torch.from_numpy(x), **kw)
            n = getattr(nf, fn)(nf.tensor(x), **kw)
            t, n = (t, n) if isinstance(t, tuple) else ((t,), (n,))
            assert len(t) == len(n)
            for a, b in zip(n, t):
                assert a.shape == b.shape, (fn, kw)
                np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_searchsorted_and_bucketize():
    b = np.array([1, 3, 5, 7, 9], np.int64)
    v = np.array([[3, 6, 9], [0, 1, 10]], np.int64)
    seq2 = np.array([[1, 3, 5], [2, 4, 6]], np.int64)
    for f in (lambda M: M.bucketize(M.tensor(v), M.tensor(b)),
              lambda M: M.bucketize(M.tensor(v), M.tensor(b), right=True, out_int32=True),
              lambda M: M.searchsorted(M.tensor(b), M.tensor(v)),
              lambda M: M.searchsorted(M.tensor(b), M.tensor(v), side="right"),
              lambda M: M.searchsorted(M.tensor(seq2), M.tensor(v)),
              lambda M: M.bucketize(5, M.tensor(b))):
        t, n = f(torch), f(nf)
        assert n.dtype == np.dtype(str(t.dtype).replace("torch.", ""))
        np.testing.assert_array_equal(n.numpy(), t.numpy())
    with pytest.raises(RuntimeError):
        nf.bucketize(nf.tensor(v), nf.tensor(seq2))


def test_sort_stable_descending_keeps_tie_order():
    x = np.array([2.0, 1.0, 2.0, 3.0, 1.0, 2.0], F32)
    for desc in (False, True):
        t = torch.sort(torch.from_numpy(x), descending=desc, stable=True)
        n = nf.sort(nf.tensor(x), descending=desc, stable=True)
        np.testing.assert_array_equal(n.indices.numpy(), t.indices.numpy())
