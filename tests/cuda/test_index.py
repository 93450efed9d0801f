"""CUDA indexing, sorting and searching (nnfast/backend/cuda/index.py, sort.py) against
NumPy, under the simulator. Tiny arrays: every launch costs tens of milliseconds there."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast.backend.cuda import index as I
from nnfast.backend.cuda import sort as S
from nnfast.backend.cuda.array import HOOKS

RS = np.random.RandomState(15)
X = RS.randn(3, 4, 2).astype(np.float32)


def check(got, want):
    g = host(got)
    want = np.asarray(want)
    assert g.shape == want.shape and g.dtype == want.dtype, (g.shape, want.shape, g.dtype,
                                                             want.dtype)
    np.testing.assert_array_equal(g, want)


IDX = np.array([2, 0, -1])


@pytest.mark.parametrize("key", [
    (IDX,),                                           # one array, first
    (slice(None), np.array([3, -4, 1])),              # one array after a slice
    (1, slice(None), np.array([1, 0, 1])),            # int + array: separated, dims first
    (IDX, slice(1, 3), np.array([0, 1, 1])),          # two arrays split by a slice
    (IDX[:, None], np.array([[0, 3]])),               # two arrays broadcast to (3, 2)
    (None, slice(None), np.array([1, 2]), Ellipsis),  # None, Ellipsis around an array
    [0, 2],                                           # a list is an index array
    np.array([], np.int64),                           # empty
], ids=lambda k: str(k)[:30])
def test_getitem_integer_arrays(key):
    check(dev(X)[key], X[key])


def test_getitem_device_index_and_strided_source():
    d = dev(X).transpose(2, 0, 1)                     # strided view
    x = X.transpose(2, 0, 1)
    check(d[:, dev(IDX)], x[:, IDX])
    check(d[dev(np.array([1, 0])), 1:, dev(np.array([[3], [0]]))],
          x[np.array([1, 0]), 1:, np.array([[3], [0]])])


def test_getitem_boolean_masks():
    d = dev(X)
    check(d[dev(X > 0)], X[X > 0])
    m = X[:, 0, 0] > 0
    check(d[dev(m)], X[m])
    m2 = X[0] > 0
    check(d[:, dev(m2)], X[:, m2])
    check(d[np.array([True, False, True]), 1], X[np.array([True, False, True]), 1])


def test_getitem_errors_like_numpy():
    d = dev(X)
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 3"):
        d[np.array([0, 3])]
    with pytest.raises(IndexError, match="out of bounds for axis 1 with size 4"):
        d[:, dev(np.array([-5]))]
    with pytest.raises(IndexError, match="boolean index did not match"):
        d[np.array([True, False])]
    with pytest.raises(IndexError, match="shape mismatch"):
        d[np.array([0, 1]), np.array([0, 1, 2])]
    with pytest.raises(IndexError, match="too many indices"):
        d[0, 0, 0, np.array([0])]
    with pytest.raises(IndexError, match="integer"):
        d[dev(np.array([0.5]))]


def test_setitem_basic_keys():
    y, d = X.copy(), dev(X)
    d[0, 1:3] = 7.0
    y[0, 1:3] = 7.0
    d[1] = dev(np.arange(2, dtype=np.float32))        # broadcast over axis 0 of d[1]
    y[1] = np.arange(2)
    d[2, :, 0] = np.arange(4)                         # a host array, cast to float32
    y[2, :, 0] = np.arange(4)
    d[1:, :3] = d[:2, 1:]                             # overlapping source
    y[1:, :3] = y[:2, 1:]
    d[0, 0] = dev(np.array([[[4.0, 5.0]]], np.float32))  # leading unit dims dropped
    y[0, 0] = np.array([[[4.0, 5.0]]])
    check(d, y)
    with pytest.raises(ValueError, match="broadcast"):
        d[0] = dev(np.zeros(3, np.float32))


def test_setitem_advanced_keys():
    y, d = X.copy(), dev(X)
    d[IDX, 1] = dev(np.arange(2, dtype=np.float32))
    y[IDX, 1] = np.arange(2)
    d[dev(X > 1)] = 0.0                               # a full-shape mask: no host count
    y[X > 1] = 0.0
    d.T[dev(X.T < -1)] = 2                            # strided target and mask
    y.T[X.T < -1] = 2
    d[:, np.array([0, 3]), 1] = dev(np.array([[5.0], [6.0], [7.0]], np.float32))
    y[:, np.array([0, 3]), 1] = np.array([[5.0], [6.0], [7.0]])
    rep = np.array([1, 0, 1, 1])                      # repeats: the last write wins
    d[rep, 2, 0] = dev(np.array([1.0, 2.0, 3.0, 4.0], np.float32))
    y[rep, 2, 0] = np.array([1.0, 2.0, 3.0, 4.0])
    check(d, y)
    with pytest.raises(ValueError, match="shape mismatch"):
        d[IDX] = dev(np.zeros((2, 4, 2), np.float32))


def test_ufunc_at_is_sequential_per_destination():
    at = HOOKS["ufunc_at"]
    # float32 sums with spread magnitudes: NumPy adds in source order, so must we (exactly)
    idx = np.array([1, 0, 1, 3, 1, 1, 0])
    vals = (RS.randn(7) * 10.0 ** RS.randint(-3, 4, 7)).astype(np.float32)
    for uf in (np.add, np.subtract, np.multiply, np.maximum, np.minimum):
        z = np.linspace(-1, 1, 4).astype(np.float32)
        dz = dev(z)
        at(uf, dz, dev(idx), dev(vals))
        uf.at(z, idx, vals)
        check(dz, z)
    g, dg = np.zeros((3, 2), np.float32), dev(np.zeros((3, 2), np.float32))
    key = (slice(None), np.array([1, 1, 0]))
    at(np.add, dg, key, 1.5)                          # scalar operand, slice + array key
    np.add.at(g, key, 1.5)
    check(dg, g)
    for key in ((slice(1, None),), 2):                 # basic keys: no index array at all
        at(np.multiply, dg, key, dev(np.array([2.0, 3.0], np.float32)))
        np.multiply.at(g, key, np.array([2.0, 3.0], np.float32))
    check(dg, g)
    with pytest.raises(NotImplementedError):
        at(np.divide, dg, key, 1.0)


def test_nonzero_argwhere_flatnonzero():
    h = (X > 0.3)
    for got, want in zip(np.nonzero(dev(h)), np.nonzero(h)):
        check(got, want)
    check(np.argwhere(dev(X)), np.argwhere(X))
    check(np.flatnonzero(dev(h)), np.flatnonzero(h))
    check(np.flatnonzero(dev(np.zeros(5, np.int32))), np.flatnonzero(np.zeros(5, np.int32)))
    with pytest.raises(ValueError, match="0d"):
        np.nonzero(dev(np.float32(1)))


def test_sort_and_argsort_are_stable():
    h = np.array([[3, 1, 3, np.nan, 1, 0, 3], [2, np.nan, -1, 2, 2, 5, -1]], np.float32)
    d = dev(h)
    for axis in (-1, 0, None):
        check(np.argsort(d, axis=axis), np.argsort(h, axis=axis, kind="stable"))
        check(np.sort(d, axis=axis), np.sort(h, axis=axis))
    i = RS.randint(0, 3, (2, 5)).astype(np.int32)
    check(np.argsort(dev(i).T, axis=0), np.argsort(i.T, axis=0, kind="stable"))
    b = i > 0
    check(np.sort(dev(b)), np.sort(b))


def test_unique_with_every_return():
    h = np.array([[3, 1, np.nan], [1, 7, np.nan], [3, 0, 1]], np.float32)
    got = np.unique(dev(h), return_index=True, return_inverse=True, return_counts=True)
    want = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
    for g, w in zip(got, want):
        check(g, w)
    check(np.unique(dev(np.array([2, 2, 0]))), np.unique(np.array([2, 2, 0])))
    r = np.array([[1, 0, 1], [0, 2, 0], [1, 0, 1], [0, 1, 0]], np.int32)
    for axis in (0, 1):
        got = np.unique(dev(r), return_index=True, return_inverse=True, return_counts=True,
                        axis=axis)
        want = np.unique(r, return_index=True, return_inverse=True, return_counts=True,
                         axis=axis)
        for g, w in zip(got, want):
            check(g, w)
    got = np.unique(dev(h), return_counts=True, equal_nan=False)      # torch's: NaNs apart
    for g, w in zip(got, np.unique(h, return_counts=True, equal_nan=False)):
        check(g, w)


def test_bincount_and_searchsorted():
    q = np.array([3, 1, 1, 0, 3, 3, 6])
    w = RS.randn(7)
    check(np.bincount(dev(q)), np.bincount(q))
    check(np.bincount(dev(q), minlength=9), np.bincount(q, minlength=9))
    got = host(np.bincount(dev(q), weights=dev(w)))
    np.testing.assert_allclose(got, np.bincount(q, weights=w), rtol=1e-12)
    check(np.bincount(dev(np.zeros(0, np.int64)), minlength=2),
          np.bincount(np.zeros(0, np.int64), minlength=2))
    with pytest.raises(ValueError, match="negative"):
        np.bincount(dev(np.array([1, -1])))
    s = np.array([0.0, 1.0, 1.0, 2.5, np.nan], np.float32)
    v = np.array([[1.0, -3.0], [2.5, np.nan]], np.float32)
    for side in ("left", "right"):
        check(np.searchsorted(dev(s), dev(v), side=side), np.searchsorted(s, v, side=side))
    check(np.searchsorted(dev(s), [1.0, 9.0]), np.searchsorted(s, [1.0, 9.0]))
    perm = np.array([4, 2, 0, 3, 1])
    check(np.searchsorted(dev(s[perm]), dev(v), sorter=dev(np.argsort(perm))),
          np.searchsorted(s[perm], v, sorter=np.argsort(perm)))


def test_take_and_along_axis():
    d = dev(X)
    check(np.take(d, [1, -1], axis=1), np.take(X, [1, -1], axis=1))
    check(np.take(d, dev(np.array([[0, 5]]))), np.take(X, np.array([[0, 5]])))
    ix = RS.randint(-4, 4, (3, 2, 2))
    check(np.take_along_axis(d, dev(ix), axis=1), np.take_along_axis(X, ix, axis=1))
    with pytest.raises(IndexError):
        np.take(d, [24])
    y, dy = X.copy(), dev(X)
    ix = np.array([[[0, 1]], [[3, 3]], [[2, 0]]])
    np.put_along_axis(dy, dev(ix), dev(np.full((3, 1, 2), 9.0, np.float32)), axis=1)
    np.put_along_axis(y, ix, 9.0, axis=1)
    check(dy, y)


def test_tril_triu_diag():
    d = dev(X).transpose(2, 0, 1)                     # a batch of two 3x4 (strided)
    x = X.transpose(2, 0, 1)
    for k in (-1, 0, 2):
        check(np.tril(d, k), np.tril(x, k))
        check(np.triu(d, k), np.triu(x, k))
    m = X[:, :, 0]
    for k in (0, 1, -2, 5):
        check(np.diag(dev(m), k), np.diag(m, k))
    v = X[0, :, 0]
    for k in (0, 2, -1):
        check(np.diag(dev(v), k), np.diag(v, k))


def test_trace_fill_diagonal_isin():
    m = RS.randint(-5, 5, (3, 4)).astype(np.int32)
    for k in (0, 1, -2):
        check(np.trace(dev(m), k), np.trace(m, k))                 # int32 -> int64
    check(np.trace(dev(X), 0, 0, 2), np.trace(X, 0, 0, 2))
    for shape, val, wrap in (((3, 4), 7.0, False), ((5, 2), [1.0, 2.0], True),
                             ((3, 3, 3), 2.0, False), ((3, 3), [5.0, 6.0], False)):
        h = np.zeros(shape, np.float32)
        d = dev(h)
        np.fill_diagonal(d, val, wrap=wrap)
        np.fill_diagonal(h, val, wrap=wrap)
        check(d, h)
    e = np.array([[1.0, np.nan], [3.0, 2.0]], np.float32)
    t = [2.0, np.nan, 7.0]
    check(np.isin(dev(e), t), np.isin(e, t))
    check(np.isin(dev(e), dev(np.array(t, np.float32)), invert=True), np.isin(e, t, invert=True))


def test_ptx_checks_listed():
    assert len(I.PTX_CHECKS) >= 12 and len(S.PTX_CHECKS) >= 10
