"""CUDA embedding kernels against nnfast._C on the same inputs: the gather, and the
scatter-add backward bit for bit (repeated indices summed in index order), with padding_idx,
a per-row scale (scale_grad_by_freq), accumulation into a non-zero dweight, host and device
indices, and bad calls. N * D and V * D cross the simulator's 32-thread grid."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C

V, D = 7, 5


def _indices(rng, n=23):
    """Row 2 thirteen times (a long segment for the sort), the rest spread, shuffled."""
    idx = np.concatenate([np.full(13, 2), rng.integers(0, V, n - 13)]).astype(np.int64)
    return idx[rng.permutation(n)]


def _dout(rng, n):
    # magnitudes over many binades: a different summation order changes the bits
    return (rng.standard_normal((n, D)) * 10.0 ** rng.integers(-4, 5, (n, D))).astype(np.float32)


def test_forward_matches_c(K):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((V, D)).astype(np.float32)
    idx = _indices(rng)
    want = np.empty((idx.size, D), np.float32)
    _C.embedding_forward(want, w, idx)
    for ix in (dev(idx), dev(idx.astype(np.int32)), idx):     # device int64 / int32, host
        out = dev(np.zeros((idx.size, D), np.float32))
        K.embedding_forward(out, dev(w), ix)
        np.testing.assert_array_equal(host(out), want)


@pytest.mark.parametrize("padding_idx,with_scale,start", [(-1, False, 0.0), (2, False, 0.5),
                                                          (4, True, 0.5)])
def test_backward_matches_c_bit_for_bit(K, padding_idx, with_scale, start):
    rng = np.random.default_rng(1)
    idx = _indices(rng)
    g = _dout(rng, idx.size)
    scale = None
    if with_scale:
        counts = np.bincount(idx, minlength=V)
        scale = (1.0 / np.maximum(counts, 1)).astype(np.float32)
    want = np.full((V, D), start, np.float32)
    _C.embedding_backward(want, g, idx, scale, padding_idx)
    dw = dev(np.full((V, D), start, np.float32))
    K.embedding_backward(dw, dev(g), dev(idx), None if scale is None else dev(scale),
                         padding_idx)
    np.testing.assert_array_equal(host(dw), want)
    if padding_idx >= 0:
        assert (want[padding_idx] == start).all()
    # the inputs can tell orders apart: row 2 summed backwards differs from the C somewhere
    rows = np.flatnonzero(idx == 2)[::-1]
    rev = np.full(D, start, np.float32)
    for n in rows:
        rev = rev + (np.float32(1) if scale is None else scale[2]) * g[n]
    if padding_idx != 2:
        assert (rev != want[2]).any()


def test_backward_with_host_indices_and_repeated_calls(K):
    """Host indices are accepted; two backward calls accumulate as the C's do."""
    rng = np.random.default_rng(2)
    idx = _indices(rng, 17)
    g1, g2 = _dout(rng, 17), _dout(rng, 17)
    want = np.zeros((V, D), np.float32)
    _C.embedding_backward(want, g1, idx, None, -1)
    _C.embedding_backward(want, g2, idx, None, -1)
    dw = dev(np.zeros((V, D), np.float32))
    K.embedding_backward(dw, dev(g1), idx, None, -1)
    K.embedding_backward(dw, dev(g2), dev(idx), None, -1)
    np.testing.assert_array_equal(host(dw), want)


def test_empty_and_errors(K):
    w = dev(np.ones((V, D), np.float32))
    K.embedding_forward(dev(np.zeros((0, D), np.float32)), w, dev(np.zeros(0, np.int64)))
    dw = dev(np.zeros((V, D), np.float32))
    K.embedding_backward(dw, dev(np.zeros((0, D), np.float32)), dev(np.zeros(0, np.int64)),
                         None, -1)
    assert (host(dw) == 0).all()
    out = dev(np.zeros((3, D), np.float32))
    with pytest.raises(IndexError, match="index 7 is out of range for 7 rows"):
        K.embedding_forward(out, w, np.array([0, 7, 1]))
    with pytest.raises(ValueError, match="expected"):
        K.embedding_forward(out, w, dev(np.array([0, 1], np.int64)))
    with pytest.raises(ValueError, match="int64"):
        K.embedding_forward(out, w, dev(np.array([0.0, 1.0, 2.0])))
    with pytest.raises(ValueError, match="scale"):
        K.embedding_backward(dw, dev(np.ones((3, D), np.float32)), dev(np.array([0, 1, 2])),
                             dev(np.ones(V + 1, np.float32)), -1)
    with pytest.raises(ValueError, match="float32"):
        K.embedding_backward(dev(np.zeros((V, D))), dev(np.ones((3, D), np.float32)),
                             dev(np.array([0, 1, 2])), None, -1)


def test_out_of_range_device_indices_stay_in_bounds(K):
    """Not range-checked on the device (no host sync): a NaN row forward, skipped backward."""
    w = np.arange(V * D, dtype=np.float32).reshape(V, D)
    idx = dev(np.array([1, -1, V, 3], np.int64))
    out = dev(np.zeros((4, D), np.float32))
    K.embedding_forward(out, dev(w), idx)
    o = host(out)
    np.testing.assert_array_equal(o[[0, 3]], w[[1, 3]])
    assert np.isnan(o[[1, 2]]).all()
    dw = dev(np.zeros((V, D), np.float32))
    K.embedding_backward(dw, dev(np.ones((4, D), np.float32)), idx, None, -1)
    want = np.zeros((V, D), np.float32)
    want[[1, 3]] = 1.0
    np.testing.assert_array_equal(host(dw), want)


def test_segment_sort_restores_index_order():
    """The fill step's integer atomics leave each row's indices in arrival order (the
    simulator happens to arrive in order, a GPU does not): the sort step must put every
    segment back in index order, whatever the arrival."""
    from nnfast.backend.cuda import _launch, embedding
    rng = np.random.default_rng(3)
    lengths = [0, 1, 13, 2, 40, 3, 0]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    order = np.concatenate([rng.permutation(np.arange(100 * r, 100 * r + m))
                            for r, m in enumerate(lengths)]).astype(np.int32)
    d_order, d_offsets = dev(order), dev(offsets)
    nrows = len(lengths)
    embedding._sort_segments_kernel[_launch.grid(nrows)](d_offsets.flat, nrows, d_order.flat)
    want = np.concatenate([np.sort(order[offsets[r]:offsets[r + 1]]) for r in range(nrows)])
    assert (order != want).any()
    np.testing.assert_array_equal(host(d_order), want)


def test_backward_with_more_rows_than_a_scan_block(K):
    """V = 40 rows: the one-block scan of the row counts runs over three 16-row chunks."""
    rng = np.random.default_rng(4)
    rows, n = 40, 60
    idx = rng.integers(0, rows, n).astype(np.int64)
    g = _dout(rng, n)[:, :2].copy()
    want = np.zeros((rows, 2), np.float32)
    _C.embedding_backward(want, g, idx, None, 5)
    dw = dev(np.zeros((rows, 2), np.float32))
    K.embedding_backward(dw, dev(g), dev(idx), None, 5)
    np.testing.assert_array_equal(host(dw), want)
