"""CUDA activation kernels (nnfast/backend/cuda/act.py) vs the CPU kernels of nnfast._C, on
the same inputs: every act / act_extra kind forward and backward (special values included),
act_math, PReLU with one and with C slopes, Softmax / LogSoftmax on both kernel layouts."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C

# The simulator runs kernels as NumPy scalar code in threads of its own, where np.errstate
# cannot reach: the inf/NaN inputs below make NumPy warn there (a GPU raises nothing).
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")

RNG = np.random.default_rng(15)
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 100.0, -100.0, 88.5, -88.5, 1e-30,
                    -1e-30, 3.0, -3.0, 20.0, -20.0, 0.5, -0.5, 1.5, -2.0, 0.3], np.float32)
# 20 special values + 17 random: 37 elements cross the simulator's 16-thread blocks and the
# 2-block grid (the grid-stride loop runs twice)
X = np.concatenate([SPECIAL, RNG.uniform(-6, 6, 17).astype(np.float32)])
G = RNG.standard_normal(X.size).astype(np.float32)

# kind -> (a, b); piecewise-linear kinds must match bit for bit (no transcendental function)
ACT_ARGS = {0: (0, 0), 1: (0.1, 0), 2: (1.3, 0), 3: (0, 0), 4: (0, 0), 5: (0, 0), 6: (0, 0),
            7: (0, 0)}
ACT_EXACT = {0, 1}
ACTX_ARGS = {0: (2.0, 5.0), 1: (-0.5, 1.5), 2: (0, 0), 3: (0, 0), 4: (0, 0), 5: (0, 0),
             6: (0, 0), 7: (0.3, -2.0), 8: (1.5, 1 / 1.5), 9: (0, 0)}
ACTX_EXACT = {1, 3, 4, 7}
SAVES_OUTPUT = {3, 4}   # sigmoid and tanh differentiate from their output


def close(got, want, exact=False, rtol=2e-6, atol=1e-6):
    if exact:
        np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("extra", [False, True], ids=["act", "act_extra"])
def test_every_kind_forward_and_backward_match_the_cpu(K, extra):
    args, exact = (ACTX_ARGS, ACTX_EXACT) if extra else (ACT_ARGS, ACT_EXACT)
    cfwd, cbwd = ((_C.act_extra_forward, _C.act_extra_backward) if extra
                  else (_C.act_forward, _C.act_backward))
    kfwd, kbwd = ((K.act_extra_forward, K.act_extra_backward) if extra
                  else (K.act_forward, K.act_backward))
    with np.errstate(all="ignore"):
        for kind, (a, b) in args.items():
            want = np.empty_like(X)
            cfwd(kind, want, X, a, b)
            out = dev(np.zeros_like(X))
            kfwd(kind, out, dev(X), a, b)
            got = host(out)
            close(got, want, kind in exact)
            saved = want if (not extra and kind in SAVES_OUTPUT) else X
            dwant = np.empty_like(X)
            cbwd(kind, dwant, G, saved, a, b)
            dinp = dev(np.zeros_like(X))
            kbwd(kind, dinp, dev(G), dev(saved), a, b)
            close(host(dinp), dwant, kind in exact)


def test_forward_in_place_and_backward_into_dout(K):
    x = dev(X)
    K.act_forward(5, x, x)                    # GELU, out is inp
    want = np.empty_like(X)
    _C.act_forward(5, want, X)
    close(host(x), want)
    g = dev(G)
    K.act_extra_backward(2, g, g, dev(X))     # Mish, dinp is dout
    dwant = np.empty_like(X)
    _C.act_extra_backward(2, dwant, G, X)
    close(host(g), dwant)


def test_bad_calls_raise(K):
    x, y = dev(X), dev(X[:5])
    with pytest.raises(ValueError, match="unknown kind"):
        K.act_forward(8, x, x)
    with pytest.raises(ValueError, match="unknown kind"):
        K.act_extra_backward(-1, x, x, x)
    with pytest.raises(ValueError, match="elements"):
        K.act_forward(0, y, x)
    with pytest.raises(ValueError, match="elements"):
        K.act_backward(0, x, x, y)
    with pytest.raises(ValueError, match="float32"):
        K.act_forward(0, dev(X.astype(np.float64)), x)
    with pytest.raises(ValueError, match="contiguous"):
        K.act_forward(0, dev(np.zeros((4, 4), np.float32))[:, 1], dev(X[:4]))
    K.act_forward(0, dev(X[:0]), dev(X[:0]))  # empty: nothing to launch, no error


def test_act_math_matches_the_cpu(K):
    x = np.concatenate([X[np.isfinite(X) & (np.abs(X) < 50)], [25.0, -30.0]]).astype(np.float32)
    for which in range(4):
        for ref in (False, True):
            want = np.empty_like(x)
            _C.act_math(want, x, which, ref)
            out = dev(np.zeros_like(x))
            K.act_math(out, dev(x), which, ref)
            close(host(out), want, rtol=3e-6)


@pytest.mark.parametrize("C", [1, 3])
def test_prelu_matches_the_cpu(K, C):
    N, S = 2, 5
    x = RNG.standard_normal(N * C * S).astype(np.float32)
    x[:4] = [0.0, -0.0, -1.0, 2.0]
    g = RNG.standard_normal(x.size).astype(np.float32)
    w = RNG.uniform(0.05, 0.5, C).astype(np.float32)
    want = np.empty_like(x)
    _C.prelu_forward(want, x, w, N, C, S)
    out = dev(np.zeros_like(x))
    K.prelu_forward(out, dev(x), dev(w), N, C, S)
    close(host(out), want, exact=True)

    dx, dw = np.empty_like(x), np.empty_like(w)
    _C.prelu_backward(dx, dw, g, x, w, N, C, S)
    kdx, kdw = dev(np.zeros_like(x)), dev(np.full_like(w, 7.0))
    K.prelu_backward(kdx, kdw, dev(g), dev(x), dev(w), N, C, S)
    close(host(kdx), dx, exact=True)
    close(host(kdw), dw, rtol=1e-6)

    kdw = dev(np.full_like(w, 7.0))           # dinp None: dweight alone
    K.prelu_backward(None, kdw, dev(g), dev(x), dev(w), N, C, S)
    close(host(kdw), dw, rtol=1e-6)


def test_prelu_edges(K):
    w = dev(np.array([0.25, 0.5], np.float32))
    dw = dev(np.full(2, 3.0, np.float32))
    empty = dev(np.zeros(0, np.float32))
    K.prelu_backward(None, dw, empty, empty, w, 0, 2, 4)   # no elements: dweight zeroed
    np.testing.assert_array_equal(host(dw), [0.0, 0.0])
    x = dev(np.ones(8, np.float32))
    K.prelu_backward(x, None, x, x, w, 1, 2, 4)            # dweight None
    np.testing.assert_array_equal(host(x), np.ones(8))
    with pytest.raises(ValueError, match="weight"):
        K.prelu_forward(x, x, dev(np.ones(3, np.float32)), 1, 2, 4)
    with pytest.raises(ValueError, match="inp"):
        K.prelu_forward(x, dev(np.ones(6, np.float32)), w, 1, 2, 4)


# (outer, D, inner): rows of 37 run the block-per-row kernel and cross its 16-thread block
# (inner 3: strided rows); inner 33 and short rows (D = 5) the one-thread-per-column kernel
SOFTMAX_SHAPES = [(2, 37, 1), (1, 37, 3), (1, 3, 33), (4, 5, 1)]


@pytest.mark.parametrize("shape", SOFTMAX_SHAPES, ids=str)
@pytest.mark.parametrize("log", [False, True], ids=["softmax", "log_softmax"])
def test_softmax_matches_the_cpu(K, shape, log):
    outer, D, inner = shape
    n = outer * D * inner
    x = (RNG.standard_normal(n) * 30).astype(np.float32)
    x[0] = 1e30                                # stability: a huge value beside small ones
    g = RNG.standard_normal(n).astype(np.float32)
    want = np.empty_like(x)
    _C.softmax_forward(want, x, outer, D, inner, log)
    out = dev(np.zeros_like(x))
    K.softmax_forward(out, dev(x), outer, D, inner, log)
    close(host(out), want, rtol=1e-5)
    assert np.isfinite(host(out)).all()
    dwant = np.empty_like(x)
    _C.softmax_backward(dwant, g, want, outer, D, inner, log)
    dinp = dev(np.zeros_like(x))
    K.softmax_backward(dinp, dev(g), dev(want), outer, D, inner, log)
    close(host(dinp), dwant, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("D", [6, 40], ids=["by_column", "by_row"])
def test_softmax_special_rows(K, D):
    # rows: a NaN (all NaN), all -inf (NaN, as the CPU), +inf, equal values, huge and tiny
    rows = np.array([[1, np.nan, 2, 3, 4, 5], [-np.inf] * 6, [0, np.inf, 1, 2, 3, 4],
                     [7] * 6, [3e38, -3e38, 3e38, 0, 1, 2]], np.float32)
    rows = np.concatenate([rows, np.repeat(rows[:, -1:], D - 6, axis=1)], axis=1)
    outer = rows.shape[0]
    for log in (False, True):
        want = np.empty(rows.size, np.float32)
        with np.errstate(all="ignore"):
            _C.softmax_forward(want, rows.reshape(-1), outer, D, 1, log)
        out = dev(np.zeros(rows.size, np.float32))
        K.softmax_forward(out, dev(rows), outer, D, 1, log)
        close(host(out), want, rtol=1e-6)


def test_softmax_bad_sizes_raise(K):
    x = dev(np.zeros(12, np.float32))
    with pytest.raises(ValueError, match="elements"):
        K.softmax_forward(x, x, 2, 3, 3)
    with pytest.raises(ValueError, match="elements"):
        K.softmax_backward(x, dev(np.zeros(6, np.float32)), x, 2, 3, 2)
