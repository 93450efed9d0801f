"""CUDA reductions and scans (nnfast/backend/cuda/reduce.py, scan.py) against NumPy, under
the simulator. Tiny arrays: every launch costs tens of milliseconds there."""
import warnings

import numpy as np
import pytest
from conftest import dev, host

from nnfast.backend.cuda import reduce as R
from nnfast.backend.cuda import scan as SC
from nnfast.backend.cuda.array import HOOKS

RS = np.random.RandomState(15)
X = RS.randn(3, 2, 2).astype(np.float32)        # tests use X.transpose(1, 0, 2): strided


def strided():
    """(device view, host array) of a transposed, non-contiguous float32 input."""
    return dev(X).transpose(1, 0, 2), X.transpose(1, 0, 2)


def check(got, want, exact=False):
    g = host(got)
    want = np.asarray(want)
    assert g.shape == want.shape and g.dtype == want.dtype, (g.shape, want.shape, g.dtype,
                                                             want.dtype)
    if exact:
        np.testing.assert_array_equal(g, want)
    else:
        np.testing.assert_allclose(g, want, rtol=2e-6, atol=1e-6)


@pytest.mark.parametrize("fn", [np.sum, np.mean, np.prod, np.max, np.min, np.nansum])
def test_float_reductions_over_axis_sets(fn):
    d, x = strided()
    for axis, keepdims in ((None, False), (1, True), ((0, 2), False), (-1, False)):
        check(fn(d, axis=axis, keepdims=keepdims), fn(x, axis=axis, keepdims=keepdims))


def test_leading_axes_of_contiguous_arrays_reduce_in_place():
    # the columns path: no transposing copy, one thread per output walking down the rows
    for fn in (np.sum, np.max, np.var, np.any):
        check(fn(dev(X), axis=0), fn(X, axis=0))
        check(fn(dev(X), axis=(0, 1), keepdims=True), fn(X, axis=(0, 1), keepdims=True))
    i = RS.randint(-5, 6, (4, 3)).astype(np.int32)
    check(np.mean(dev(i), axis=0), np.mean(i, axis=0))


def test_methods_forward_to_the_functions():
    d, x = strided()
    check(d.sum(1), x.sum(1))
    check(d.max(axis=0, keepdims=True), x.max(axis=0, keepdims=True))


@pytest.mark.parametrize("fn", [np.any, np.all, np.count_nonzero])
def test_truth_reductions(fn):
    h = (RS.rand(2, 3) > 0.5).astype(np.float32) * np.float32(2.5)
    h[0] = 1
    for axis in (None, 0, -1):
        check(fn(dev(h), axis=axis), fn(h, axis=axis), exact=True)
    b = h > 0
    check(fn(dev(b), axis=1), fn(b, axis=1), exact=True)


def test_var_std_with_ddof_and_int_inputs():
    d, x = strided()
    for fn in (np.var, np.std):
        for axis, ddof in ((None, 0), ((0, 2), 1)):
            check(fn(d, axis=axis, ddof=ddof), fn(x, axis=axis, ddof=ddof))
    i = RS.randint(-5, 6, (2, 3)).astype(np.int32)
    check(np.var(dev(i), axis=1, keepdims=True), np.var(i, axis=1, keepdims=True))


def test_result_dtypes_follow_numpy():
    i32 = RS.randint(-9, 9, (2, 3)).astype(np.int32)
    u8 = RS.randint(0, 4, (2, 3)).astype(np.uint8)
    b = i32 > 0
    h16 = RS.randn(2, 3).astype(np.float16)
    check(np.sum(dev(i32), axis=1), np.sum(i32, axis=1), exact=True)   # -> int64
    check(np.sum(dev(b), axis=0), np.sum(b, axis=0), exact=True)       # -> int64
    check(np.prod(dev(u8), axis=1), np.prod(u8, axis=1), exact=True)   # -> uint64
    check(np.mean(dev(i32), axis=0), np.mean(i32, axis=0))             # -> float64
    check(np.max(dev(b), axis=1), np.max(b, axis=1), exact=True)       # -> bool
    check(np.sum(dev(i32), axis=1, dtype=np.float32), np.sum(i32, axis=1, dtype=np.float32))
    got = host(np.mean(dev(h16), axis=1))
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, np.mean(h16, axis=1), rtol=1e-3)


def test_nan_propagates_like_numpy():
    h = np.array([[1, np.nan, 3, np.nan], [2, 5, 5, -1], [np.nan, 0, 9, 9]], np.float32)
    d = dev(h)
    for fn in (np.max, np.min, np.argmax, np.argmin):
        check(fn(d, axis=1), fn(h, axis=1), exact=True)
        check(fn(d, axis=0), fn(h, axis=0), exact=True)
    check(np.nansum(d, axis=1), np.nansum(h, axis=1))
    check(np.sum(d, axis=1), np.sum(h, axis=1))


def test_argmax_argmin_ties_axes_dtypes():
    h = np.array([[3, 1, 3, 0], [2, 2, 2, 2], [0, 7, 1, 7]], np.int32)
    d = dev(h)
    for fn in (np.argmax, np.argmin):
        check(fn(d), fn(h), exact=True)
        check(fn(d, axis=0), fn(h, axis=0), exact=True)
        check(fn(d, axis=-1, keepdims=True), fn(h, axis=-1, keepdims=True), exact=True)
        check(fn(d, keepdims=True), fn(h, keepdims=True), exact=True)
    b = h > 1
    check(np.argmax(dev(b), axis=1), np.argmax(b, axis=1), exact=True)
    ds, xs = strided()
    check(np.argmax(ds, axis=1), np.argmax(xs, axis=1), exact=True)
    s = np.array([[1, np.nan, np.nan], [4, 4, 1]], np.float32)     # short rows: one thread
    assert s.shape[1] <= R.SHORT
    for fn in (np.argmax, np.argmin):
        check(fn(dev(s), axis=1), fn(s, axis=1), exact=True)


def test_empty_arrays():
    e = np.zeros((0, 3), np.float32)
    check(np.sum(dev(e), axis=0), np.sum(e, axis=0))
    check(np.max(dev(e), axis=1), np.max(e, axis=1))          # nothing reduced: empty
    check(np.prod(dev(e)), np.prod(e))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # NumPy's "Mean of empty slice"
        check(np.mean(dev(e), axis=0), np.mean(e, axis=0))
    with pytest.raises(ValueError, match="zero-size array"):
        np.max(dev(e), axis=0)
    with pytest.raises(ValueError, match="empty sequence"):
        np.argmax(dev(e), axis=0)
    check(np.max(dev(e), axis=0, initial=-2.0), np.max(e, axis=0, initial=-2.0))
    check(np.cumsum(dev(e), axis=0), np.cumsum(e, axis=0))


def test_out_and_initial():
    d, x = strided()
    out = dev(np.zeros((2, 2), np.float32))
    r = np.sum(d, axis=1, out=out)
    assert r is out
    check(out, np.sum(x, axis=1))
    check(np.sum(d, axis=1, initial=10.0), np.sum(x, axis=1, initial=10.0))
    check(np.max(d, axis=(0, 1), initial=1.0), np.max(x, axis=(0, 1), initial=1.0))
    with pytest.raises(ValueError, match="output parameter"):
        np.sum(d, axis=1, out=dev(np.zeros((4,), np.float32)))


def test_bad_arguments():
    d, _ = strided()
    with pytest.raises(np.exceptions.AxisError):
        np.sum(d, axis=3)
    with pytest.raises(np.exceptions.AxisError):
        np.argmax(d, axis=-4)
    with pytest.raises(NotImplementedError, match="where"):
        np.sum(d, where=np.ones(d.shape, bool))


def _tree_sum_reference(v, threads, chunk):
    """The kernel's order of additions for one row, in float32: chunks, then per-thread
    strided partials, then the shared-memory tree."""
    def block(vals):
        parts = [np.float32(0)] * threads
        for t in range(threads):
            for j in range(t, len(vals), threads):
                parts[t] = np.float32(parts[t] + vals[j])
        w = threads // 2
        while w:
            for t in range(w):
                parts[t] = np.float32(parts[t] + parts[t + w])
            w //= 2
        return parts[0]
    while len(v) > chunk:
        v = [block(v[i:i + chunk]) for i in range(0, len(v), chunk)]
    return block(v)


def test_sums_are_deterministic_and_in_the_fixed_order():
    # magnitudes spread over 8 decades so that any other order rounds differently
    h = (RS.randn(40) * 10.0 ** RS.randint(-4, 4, 40)).astype(np.float32)
    d = dev(h)
    a, b = host(np.sum(d)), host(np.sum(d))
    assert a.tobytes() == b.tobytes()
    want = _tree_sum_reference(list(h), R.THREADS, R.CHUNK)
    assert a.tobytes() == np.float32(want).tobytes()
    np.testing.assert_allclose(a, h.astype(np.float64).sum(), rtol=1e-5)


def test_var_over_a_long_row_takes_two_passes():
    h = RS.randn(1, 37).astype(np.float32) + 3
    assert h.shape[1] > R.CHUNK
    check(np.var(dev(h), axis=1), np.var(h, axis=1))
    check(np.mean(dev(h)), np.mean(h))


def test_cumsum_cumprod():
    d, x = strided()
    for fn in (np.cumsum, np.cumprod):
        for axis in (None, 0, -1):
            check(fn(d, axis=axis), fn(x, axis=axis))
    b = x > 0
    check(np.cumsum(dev(b), axis=1), np.cumsum(b, axis=1), exact=True)   # -> int64
    h = RS.randn(2, 11).astype(np.float32)            # few long rows: the chunked scan
    check(np.cumsum(dev(h), axis=1), np.cumsum(h, axis=1))
    check(np.cumprod(dev(h)), np.cumprod(h))
    check(HOOKS["ufunc_accumulate"](np.maximum, dev(h), axis=1), np.maximum.accumulate(h, 1))
    out = dev(np.zeros(x.shape, np.float64))
    assert np.cumsum(d, axis=2, dtype=np.float64, out=out) is out
    check(out, np.cumsum(x, axis=2, dtype=np.float64))


def test_ufunc_reduce_hook():
    reduce = HOOKS["ufunc_reduce"]
    d, x = strided()
    for uf, axis in ((np.add, None), (np.multiply, 0), (np.maximum, (0, 2)), (np.minimum, 1)):
        check(reduce(uf, d, axis=axis), uf.reduce(x, axis=axis))
    check(reduce(np.add, d, axis=(0, 2), keepdims=True), np.add.reduce(x, axis=(0, 2),
                                                                       keepdims=True))
    check(reduce(np.maximum, d, axis=1, initial=0.5), np.maximum.reduce(x, axis=1, initial=0.5))
    b = x > 0
    for uf in (np.logical_and, np.logical_or):
        check(reduce(uf, dev(b), axis=None), uf.reduce(b, axis=None), exact=True)
    i = (x * 3).astype(np.int16)
    check(reduce(np.add, dev(i), axis=1), np.add.reduce(i, axis=1), exact=True)
    out = dev(np.zeros((2, 2), np.float32))
    reduce(np.add, d, axis=1, out=(out,))
    check(out, np.add.reduce(x, axis=1))
    with pytest.raises(NotImplementedError):
        reduce(np.subtract, d)


def test_ufunc_accumulate_hook():
    acc = HOOKS["ufunc_accumulate"]
    d, x = strided()
    for uf in (np.add, np.multiply, np.maximum, np.minimum, np.logaddexp):
        check(acc(uf, d, axis=1), uf.accumulate(x, axis=1))
    h = np.array([[-np.inf, -np.inf, 0.5, -np.inf, 2.0]], np.float32)
    check(acc(np.logaddexp, dev(h), axis=1), np.logaddexp.accumulate(h, axis=1))
    with pytest.raises(NotImplementedError):
        acc(np.subtract, d)


def test_ptx_checks_listed():
    assert len(R.PTX_CHECKS) >= 40 and len(SC.PTX_CHECKS) >= 15
