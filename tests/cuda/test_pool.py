"""The CUDA pooling and upsampling kernels against nnfast._C on the same inputs (run under
the simulator)."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C
from nnfast.nn._functional_conv import _pool_out_size
from nnfast.nn._functional_upsample import _linear_table, _nearest_table

RTOL, ATOL = 1e-6, 1e-6


def _planes(P, H, W, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    if ties:   # few distinct values: ties in every window, the first must win
        return rng.integers(0, 3, (P, H, W)).astype(np.float32)
    return rng.standard_normal((P, H, W)).astype(np.float32)


def _nan(shape, dtype=np.float32):
    return dev(np.full(shape, np.nan if dtype == np.float32 else -7, dtype))


MAX_CASES = [
    # H, W, kernel, stride, padding, dilation, ceil_mode, ties
    (5, 6, (2, 2), (2, 2), (0, 0), (1, 1), False, False),
    (5, 5, (3, 2), (2, 1), (1, 1), (1, 2), True, True),
    (6, 5, (3, 3), (1, 2), (1, 0), (2, 1), True, False),
    (4, 3, (2, 3), (3, 1), (1, 1), (1, 1), False, True),
    (6, 6, (2, 2), (1, 1), (0, 0), (1, 1), False, True),   # outputs cross the grid
]


@pytest.mark.parametrize("case", MAX_CASES)
def test_max_pool2d_matches_the_cpu(K, case):
    H, W, k, s, p, d, ceil, ties = case
    OH = _pool_out_size(H, k[0], p[0], s[0], d[0], ceil)
    OW = _pool_out_size(W, k[1], p[1], s[1], d[1], ceil)
    x = _planes(2, H, W, ties=ties)
    out, idx = np.empty((2, OH, OW), np.float32), np.empty((2, OH, OW), np.int64)
    _C.max_pool2d_forward(out, idx, x, k, s, p, d)
    kout, kidx = _nan((2, OH, OW)), _nan((2, OH, OW), np.int64)
    K.max_pool2d_forward(kout, kidx, dev(x), k, s, p, d)
    np.testing.assert_array_equal(host(kout), out)
    np.testing.assert_array_equal(host(kidx), idx)
    g = _planes(2, OH, OW, seed=1)
    dx = np.empty_like(x)
    _C.max_pool2d_backward(dx, g, idx)
    # the windows the forward remembered / given / none (a copy of idx: one thread a plane)
    for ix, window in ((kidx, None), (kidx, (k, s, p, d)), (dev(idx), None)):
        kdx = _nan(x.shape)
        K.max_pool2d_backward(kdx, dev(g), ix, window=window)
        np.testing.assert_array_equal(host(kdx), dx)


def test_max_pool2d_nan_wins(K):
    x = _planes(1, 4, 4)
    x[0, 1, 2] = np.nan
    x[0, 2, 3] = np.nan
    out, idx = np.empty((1, 2, 2), np.float32), np.empty((1, 2, 2), np.int64)
    _C.max_pool2d_forward(out, idx, x, (2, 2), (2, 2), (0, 0), (1, 1))
    kout, kidx = _nan((1, 2, 2)), _nan((1, 2, 2), np.int64)
    K.max_pool2d_forward(kout, kidx, dev(x), (2, 2), (2, 2), (0, 0), (1, 1))
    np.testing.assert_array_equal(host(kout), out)
    np.testing.assert_array_equal(host(kidx), idx)


@pytest.mark.parametrize("case", [
    # H, W, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (5, 6, (2, 2), (2, 2), (0, 0), False, True, 0),
    (5, 5, (3, 2), (2, 1), (1, 1), True, False, 0),
    (6, 5, (3, 3), (2, 2), (1, 1), True, True, 0),
    (4, 5, (2, 3), (1, 2), (1, 1), False, True, 5),
])
def test_avg_pool2d_matches_the_cpu(K, case):
    H, W, k, s, p, ceil, cip, div = case
    OH = _pool_out_size(H, k[0], p[0], s[0], 1, ceil)
    OW = _pool_out_size(W, k[1], p[1], s[1], 1, ceil)
    x = _planes(2, H, W)
    out = np.empty((2, OH, OW), np.float32)
    _C.avg_pool2d_forward(out, x, k, s, p, cip, div)
    kout = _nan(out.shape)
    K.avg_pool2d_forward(kout, dev(x), k, s, p, cip, div)
    np.testing.assert_array_equal(host(kout), out)
    g = _planes(2, OH, OW, seed=1)
    dx = np.empty_like(x)
    _C.avg_pool2d_backward(dx, g, k, s, p, cip, div)
    kdx = _nan(x.shape)
    K.avg_pool2d_backward(kdx, dev(g), k, s, p, cip, div)
    np.testing.assert_allclose(host(kdx), dx, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("H, W, OH, OW", [(5, 6, 3, 4), (4, 3, 6, 5), (5, 5, 1, 1)])
def test_adaptive_pools_match_the_cpu(K, H, W, OH, OW):
    x = _planes(2, H, W, seed=2, ties=H == 4)
    out = np.empty((2, OH, OW), np.float32)
    _C.adaptive_avg_pool2d_forward(out, x)
    kout = _nan(out.shape)
    K.adaptive_avg_pool2d_forward(kout, dev(x))
    np.testing.assert_array_equal(host(kout), out)
    g = _planes(2, OH, OW, seed=3)
    dx = np.empty_like(x)
    _C.adaptive_avg_pool2d_backward(dx, g)
    kdx = _nan(x.shape)
    K.adaptive_avg_pool2d_backward(kdx, dev(g))
    np.testing.assert_allclose(host(kdx), dx, rtol=RTOL, atol=ATOL)
    idx = np.empty((2, OH, OW), np.int64)
    _C.adaptive_max_pool2d_forward(out, idx, x)
    kidx = _nan(out.shape, np.int64)
    K.adaptive_max_pool2d_forward(kout, kidx, dev(x))
    np.testing.assert_array_equal(host(kout), out)
    np.testing.assert_array_equal(host(kidx), idx)
    _C.max_pool2d_backward(dx, g, idx)
    for window in (None, "adaptive"):
        kdx = _nan(x.shape)
        K.max_pool2d_backward(kdx, dev(g), kidx, window=window)
        np.testing.assert_array_equal(host(kdx), dx)


def test_max_pool2d_backward_remembers_windows_only_while_idx_lives(K):
    from nnfast.backend.cuda import pool
    x = dev(_planes(1, 4, 4))
    idx = _nan((1, 2, 2), np.int64)
    K.max_pool2d_forward(_nan((1, 2, 2)), idx, x, (2, 2), (2, 2), (0, 0), (1, 1))
    assert pool._recall(idx) == ((2, 2), (2, 2), (0, 0), (1, 1))
    key = id(idx)
    del idx
    import gc
    gc.collect()
    assert key not in pool._windows


def test_pool_kernels_reject_bad_calls(K):
    x = dev(_planes(1, 4, 4))
    out, idx = _nan((1, 2, 2)), _nan((1, 2, 2), np.int64)
    with pytest.raises(ValueError, match="padding"):
        K.max_pool2d_forward(out, idx, x, (2, 2), (2, 2), (-1, 0), (1, 1))
    with pytest.raises(ValueError, match="disagree"):
        K.max_pool2d_forward(out, _nan((1, 2, 3), np.int64), x, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="int64"):
        K.max_pool2d_forward(out, out, x, (2, 2), (2, 2), (0, 0), (1, 1))
    with pytest.raises(ValueError, match="pairs"):
        K.avg_pool2d_forward(out, x, (2,), (2, 2), (0, 0), True, 0)
    with pytest.raises(ValueError, match="disagree"):
        K.adaptive_avg_pool2d_backward(_nan((2, 4, 4)), out)
    with pytest.raises(ValueError, match="empty output"):
        K.adaptive_avg_pool2d_backward(x, _nan((1, 0, 2)))


# ------------------------------------------------------------------------ upsampling

@pytest.mark.parametrize("H, W, OH, OW, exact", [(3, 4, 6, 7, False), (5, 4, 3, 6, True)])
def test_upsample_nearest2d_matches_the_cpu(K, H, W, OH, OW, exact):
    f32 = np.dtype(np.float32)
    hi = _nearest_table(H, OH, None, exact, f32)
    wi = _nearest_table(W, OW, None, exact, f32)
    x = _planes(2, H, W)
    out = np.empty((2, OH, OW), np.float32)
    _C.upsample_nearest2d(out, x, hi, wi)
    kout = _nan(out.shape)
    K.upsample_nearest2d(kout, dev(x), dev(hi), dev(wi))
    np.testing.assert_array_equal(host(kout), out)
    g = _planes(2, OH, OW, seed=1)
    dx = np.empty_like(x)
    _C.upsample_nearest2d(dx, g, hi, wi, backward=True)
    kdx = _nan(x.shape)
    K.upsample_nearest2d(kdx, dev(g), dev(hi), dev(wi), backward=True)
    np.testing.assert_array_equal(host(kdx), dx)


@pytest.mark.parametrize("H, W, OH, OW, align", [(3, 4, 5, 7, False), (4, 3, 6, 5, True),
                                                 (5, 6, 3, 4, False), (2, 5, 4, 5, True)])
def test_upsample_bilinear2d_matches_the_cpu(K, H, W, OH, OW, align):
    f32 = np.dtype(np.float32)
    tabs = _linear_table(H, OH, None, align, f32) + _linear_table(W, OW, None, align, f32)
    x = _planes(2, H, W)
    out = np.empty((2, OH, OW), np.float32)
    _C.upsample_bilinear2d(out, x, *tabs)
    kout = _nan(out.shape)
    ktabs = [dev(t) for t in tabs]
    K.upsample_bilinear2d(kout, dev(x), *ktabs)
    np.testing.assert_allclose(host(kout), out, rtol=RTOL, atol=ATOL)
    g = _planes(2, OH, OW, seed=1)
    dx = np.empty_like(x)
    _C.upsample_bilinear2d(dx, g, *tabs, backward=True)
    kdx = _nan(x.shape)
    K.upsample_bilinear2d(kdx, dev(g), *ktabs, backward=True)
    np.testing.assert_allclose(host(kdx), dx, rtol=1e-5, atol=1e-6)


def test_upsample_bad_tables_are_refused_or_never_followed(K):
    x = dev(_planes(1, 3, 3))
    hi = dev(np.array([0, 1, 2, 2], np.int64))
    wi = dev(np.array([0, 1, 2, 2], np.int64))
    with pytest.raises(ValueError, match="entries"):
        K.upsample_nearest2d(_nan((1, 4, 4)), x, hi, dev(np.array([0, 1], np.int64)))
    with pytest.raises(ValueError, match="int64"):
        K.upsample_nearest2d(_nan((1, 4, 4)), x, hi, dev(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="planes"):
        K.upsample_nearest2d(_nan((2, 4, 4)), x, hi, wi)
    with pytest.raises(ValueError, match="outside"):   # host tables: checked as the C does
        K.upsample_nearest2d(_nan((1, 4, 4)), x, np.array([0, 1, 2, 3]), np.zeros(4, np.int64))
    out = _nan((1, 4, 4))
    K.upsample_nearest2d(out, x, np.array([0, 1, 2, 2]), np.array([0, 0, 1, 2]))
    np.testing.assert_array_equal(host(out)[0, 3], host(x)[0, 2, [0, 0, 1, 2]])
    # a device entry outside the plane: the forward reads 0 there, the backward drops it
    bad = dev(np.array([0, 1, 2, 99], np.int64))
    out = _nan((1, 4, 4))
    K.upsample_nearest2d(out, x, bad, wi)
    assert np.all(host(out)[0, 3] == 0)
    dx = _nan((1, 3, 3))
    K.upsample_nearest2d(dx, dev(np.ones((1, 4, 4), np.float32)), bad, wi, backward=True)
    assert host(dx).sum() == 12
