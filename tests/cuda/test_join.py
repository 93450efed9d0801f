"""CUDA joins, splits and rearrangements (nnfast/backend/cuda/join.py) against NumPy, under
the simulator."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast.backend.cuda import join as J

RS = np.random.RandomState(15)
X = RS.randn(2, 3, 4).astype(np.float32)
Y = RS.randint(0, 5, (2, 1, 4)).astype(np.int32)


def check(got, want):
    g = host(got)
    want = np.asarray(want)
    assert g.shape == want.shape and g.dtype == want.dtype, (g.shape, want.shape, g.dtype,
                                                             want.dtype)
    np.testing.assert_array_equal(g, want)


def test_concatenate_stack_append():
    d, dy = dev(X), dev(Y)
    check(np.concatenate([d, dy], axis=1), np.concatenate([X, Y], axis=1))   # float32 wins
    check(np.concatenate([d.transpose(0, 2, 1), d.transpose(0, 2, 1)], axis=-1),
          np.concatenate([X.transpose(0, 2, 1)] * 2, axis=-1))
    check(np.concatenate([d, dy], axis=None), np.concatenate([X, Y], axis=None))
    check(np.concatenate([dy, dy], axis=1, dtype=np.float64),
          np.concatenate([Y, Y], axis=1, dtype=np.float64))
    out = dev(np.zeros((4, 3, 4), np.float32))
    assert np.concatenate([d, d], out=out) is out
    check(out, np.concatenate([X, X]))
    check(np.stack([d, d], axis=-1), np.stack([X, X], axis=-1))
    check(np.stack([dy[0], dy[1]]), np.stack([Y[0], Y[1]]))
    check(np.append(d, dy), np.append(X, Y))
    check(np.append(d, dy, axis=1), np.append(X, Y, axis=1))


def test_join_errors_like_numpy():
    d, dy = dev(X), dev(Y)
    with pytest.raises(ValueError, match="need at least one array"):
        np.concatenate([])
    with pytest.raises(ValueError, match="along dimension 1"):
        np.concatenate([d, dy], axis=0)
    with pytest.raises(ValueError, match="same number of dimensions"):
        np.concatenate([d, d[0]])
    with pytest.raises(ValueError, match="zero-dimensional"):
        np.concatenate([d[0, 0, 0], d[0, 0, 1]])
    with pytest.raises(np.exceptions.AxisError):
        np.concatenate([d, d], axis=3)
    with pytest.raises(ValueError, match="same shape"):
        np.stack([d, dy])


def test_split_and_array_split_are_views():
    d = dev(X)
    for got, want in zip(np.array_split(d, 3, axis=2), np.array_split(X, 3, axis=2)):
        check(got, want)
    for got, want in zip(np.split(d, [1, -1], axis=1), np.split(X, [1, -1], axis=1)):
        check(got, want)
    parts = np.split(d, 2)
    assert parts[1]._block is d._block
    with pytest.raises(ValueError, match="equal division"):
        np.split(d, 3, axis=2)


def test_flip_roll():
    d = dev(X)
    check(np.flip(d), np.flip(X))
    check(np.flip(d, axis=(0, 2)), np.flip(X, axis=(0, 2)))
    check(np.flip(d, 1)[:, 1:], np.flip(X, 1)[:, 1:])
    check(np.roll(d, 2, axis=2), np.roll(X, 2, axis=2))
    check(np.roll(d, -7), np.roll(X, -7))
    check(np.roll(d, (1, 5), axis=(0, 1)), np.roll(X, (1, 5), axis=(0, 1)))
    check(np.roll(d, 4, axis=2), np.roll(X, 4, axis=2))


def test_repeat_tile():
    d = dev(X)
    check(np.repeat(d, 2, axis=1), np.repeat(X, 2, axis=1))
    check(np.repeat(d, 2), np.repeat(X, 2))
    check(np.repeat(d, [1, 0, 2], axis=1), np.repeat(X, [1, 0, 2], axis=1))
    check(np.repeat(d, dev(np.array([2, 1])), axis=0), np.repeat(X, [2, 1], axis=0))
    with pytest.raises(ValueError, match="negative"):
        np.repeat(d, -1)
    with pytest.raises(ValueError, match="broadcast"):
        np.repeat(d, [1, 2], axis=1)
    check(np.tile(d, (2, 1, 1, 2)), np.tile(X, (2, 1, 1, 2)))
    check(np.tile(d[0].T, 2), np.tile(X[0].T, 2))


def test_pad_constant():
    d = dev(X)
    check(np.pad(d, ((1, 0), (0, 2), (1, 1)), constant_values=3),
          np.pad(X, ((1, 0), (0, 2), (1, 1)), constant_values=3))
    cv = ((1, 2), (3, 4), (5, 6))
    check(np.pad(d, 1, constant_values=cv), np.pad(X, 1, constant_values=cv))
    check(np.pad(dev(Y), (0, 1)), np.pad(Y, (0, 1)))
    with pytest.raises(ValueError, match="negative"):
        np.pad(d, -1)
    with pytest.raises(NotImplementedError, match="reflect"):
        np.pad(d, 1, mode="reflect")


def test_diff():
    d = dev(X)
    check(np.diff(d, axis=1), np.diff(X, axis=1))
    check(np.diff(dev(Y), n=2), np.diff(Y, n=2))
    check(np.diff(d, prepend=0, append=1), np.diff(X, prepend=0, append=1))
    check(np.diff(dev(X > 0), axis=0), np.diff(X > 0, axis=0))
    check(np.diff(d, n=0), X)
    check(np.diff(d, n=5), np.diff(X, n=5))              # empty last axis
    with pytest.raises(ValueError, match="non-negative"):
        np.diff(d, n=-1)


def test_ptx_checks_listed():
    assert len(J.PTX_CHECKS) == 3
