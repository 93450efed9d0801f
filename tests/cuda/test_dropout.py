"""CUDA dropout kernels (nnfast/backend/cuda/dropout.py) vs the CPU kernels of nnfast._C: the
same seed must give the same mask and the same output bit for bit (the counter-based
SplitMix64 stream of csrc/dropout.c); channel dropout; sumabs and l1l2_backward."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C
from nnfast.nn import _functional_dropout as FD

# The simulator runs kernels as NumPy scalar code in threads of its own, where np.errstate
# cannot reach: inf * 0 below makes NumPy warn there (a GPU raises nothing).
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")

RNG = np.random.default_rng(1515)
# 37 elements: an odd count (the last hash gives one element) across the simulator's 16-thread
# blocks and 2-block grid; inf, NaN and -x show the "times 0" rule of dropped elements
X = np.concatenate([[np.inf, -np.inf, np.nan, -1.5, 0.0, -0.0],
                    RNG.standard_normal(31)]).astype(np.float32)
SEEDS = [0, 1, 0x0123456789ABCDEF, (1 << 64) - 1]


def same_floats(got, want):
    """Equal values, NaN where NaN, and the same sign of every zero."""
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got) | np.isnan(got),
                                  np.signbit(want) | np.isnan(want))


def args_for(p):
    """(thresh, scale) as the functional computes them for float32."""
    return FD._threshold(p), FD._scale(p, np.dtype(np.float32))


def cpu_dropout(x, seed, thresh, scale):
    out, mask = np.empty_like(x), np.empty(x.size, np.uint8)
    with np.errstate(all="ignore"):
        _C.dropout_forward(out, mask, x, seed, thresh, scale)
    return out, mask


@pytest.mark.parametrize("p", [1e-9, 0.1, 0.5, 0.9, 1 - 1e-7])
def test_dropout_mask_and_output_match_the_cpu_bit_for_bit(K, p):
    thresh, scale = args_for(p)
    for seed in SEEDS:
        want, wmask = cpu_dropout(X, seed, thresh, scale)
        out, mask = dev(np.zeros_like(X)), dev(np.full(X.size, 7, np.uint8))
        K.dropout_forward(out, mask, dev(X), seed, thresh, scale)
        np.testing.assert_array_equal(host(mask), wmask)
        same_floats(host(out), want)
        np.testing.assert_array_equal(wmask.astype(bool), FD._ref_mask(seed, X.size, p))


def test_threshold_edges_keep_all_or_drop_almost_all(K):
    x = dev(X)
    for thresh in (0, (1 << 32) - 1):
        want, wmask = cpu_dropout(X, 99, thresh, np.float32(2))
        out, mask = dev(np.zeros_like(X)), dev(np.zeros(X.size, np.uint8))
        K.dropout_forward(out, mask, x, 99, thresh, np.float32(2))
        np.testing.assert_array_equal(host(mask), wmask)
        same_floats(host(out), want)
    assert host(mask).sum() == 0    # u(i) >= 2^32 - 1 holds for no element of these 37


def test_dropout_without_mask_in_place_and_backward(K):
    seed, (thresh, scale) = 42, args_for(0.3)
    want, wmask = cpu_dropout(X, seed, thresh, scale)
    x = dev(X)
    K.dropout_forward(x, None, x, seed, thresh, scale)    # in place, no mask
    same_floats(host(x), want)
    g = RNG.standard_normal(X.size).astype(np.float32)
    dwant = np.empty_like(g)
    _C.dropout_backward(dwant, g, wmask, scale)
    dg = dev(g)
    K.dropout_backward(dg, dg, dev(wmask), scale)         # dinp is dout
    same_floats(host(dg), dwant)


@pytest.mark.parametrize("shape", [(7, 5), (5, 1), (5, 0)], ids=str)
def test_feature_dropout_matches_the_cpu(K, shape):
    R, S = shape
    x = RNG.standard_normal(R * S).astype(np.float32)
    thresh, scale = args_for(0.4)
    for seed in SEEDS[:3]:
        want, wmask = np.empty_like(x), np.empty(R, np.uint8)
        _C.feature_dropout_forward(want, wmask, x, R, S, seed, thresh, scale)
        out, mask = dev(np.zeros_like(x)), dev(np.full(R, 7, np.uint8))
        K.feature_dropout_forward(out, mask, dev(x), R, S, seed, thresh, scale)
        np.testing.assert_array_equal(host(mask), wmask)
        same_floats(host(out), want)
        out2 = dev(np.zeros_like(x))
        K.feature_dropout_forward(out2, None, dev(x), R, S, seed, thresh, scale)
        same_floats(host(out2), want)
    g = RNG.standard_normal(R * S).astype(np.float32)
    dwant = np.empty_like(g)
    _C.feature_dropout_backward(dwant, g, wmask, R, S, scale)
    dinp = dev(np.zeros_like(g))
    K.feature_dropout_backward(dinp, dev(g), dev(wmask), R, S, scale)
    same_floats(host(dinp), dwant)


def test_bad_calls_raise(K):
    x, m = dev(X), dev(np.zeros(X.size, np.uint8))
    with pytest.raises(OverflowError):
        K.dropout_forward(x, m, x, -1, 0, 1.0)
    with pytest.raises(OverflowError):
        K.dropout_forward(x, m, x, 1, 1 << 32, 1.0)
    with pytest.raises(ValueError, match="mask"):
        K.dropout_forward(x, dev(np.zeros(3, np.uint8)), x, 1, 0, 1.0)
    with pytest.raises(ValueError, match="uint8"):
        K.dropout_backward(x, x, dev(np.zeros(X.size, np.bool_)), 1.0)
    with pytest.raises(ValueError, match="elements"):
        K.feature_dropout_forward(x, None, x, 6, 6, 1, 0, 1.0)
    with pytest.raises(ValueError, match="mask"):
        K.feature_dropout_backward(x, x, m, 1, X.size, 1.0)


def test_sumabs_is_a_device_scalar_equal_to_the_cpu(K):
    x = (RNG.standard_normal(37) * 10.0 ** RNG.integers(-3, 4, 37)).astype(np.float32)
    s = K.sumabs(dev(x))
    assert s.shape == () and s.dtype == np.float32
    assert host(s) == np.float32(_C.sumabs(x))
    assert host(K.sumabs(dev(x[:0]))) == 0.0
    x[5] = np.nan
    assert np.isnan(host(K.sumabs(dev(x))))


@pytest.mark.parametrize("b", [0.0, 0.25])
def test_l1l2_backward_matches_the_cpu(K, b):
    x = X.copy()
    want = np.empty_like(x)
    with np.errstate(all="ignore"):
        _C.l1l2_backward(want, x, 0.5, b)
    dinp = dev(np.zeros_like(x))
    K.l1l2_backward(dinp, dev(x), 0.5, b)
    same_floats(host(dinp), want)
