"""The CUDA loss kernels (nnfast/backend/cuda/loss.py) against the _C loss kernels on the same
inputs: totals, per-element losses and gradients, every None combination that matters, sizes
on both sides of the simulator's block (16 threads) and grid (2 blocks), bad calls.

Sizes are tiny: the simulator runs one OS thread per CUDA thread per launch."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C
from nnfast.backend.cuda import CudaArray

NONE, MEAN, SUM = 0, 1, 2
rng = np.random.default_rng(15)


def f32(*shape, lo=None, hi=None):
    if lo is not None:
        return rng.uniform(lo, hi, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def compare(K, name, args, outs):
    """Call _C.<name> and K.<name> on the same arguments. args: ndarrays, scalars or None;
    outs: the indices of the output arguments (each an int size, or None for absent).
    Outputs start as NaN on both sides, so an element a kernel forgets to write shows."""
    cargs, gargs = list(args), []
    for i, a in enumerate(args):
        if i in outs:
            cargs[i] = None if a is None else np.full(a, np.nan, np.float32)
        gargs.append(dev(cargs[i]) if isinstance(cargs[i], np.ndarray) else cargs[i])
    want = getattr(_C, name)(*cargs)
    got = getattr(K, name)(*gargs)
    assert isinstance(got, CudaArray) and got.shape == () and got.dtype == np.float32
    np.testing.assert_allclose(host(got), np.float32(want), rtol=2e-6, atol=1e-7,
                               equal_nan=True)
    for i in outs:
        if args[i] is not None:
            np.testing.assert_allclose(host(gargs[i]), cargs[i], rtol=2e-6, atol=1e-7,
                                       equal_nan=True, err_msg=f"{name} argument {i}")
    return host(got)


# ===================================================================== pointwise losses

@pytest.mark.parametrize("kind,param", [("mse", 1.0), ("l1", 1.0), ("huber", 0.6),
                                        ("smooth_l1", 0.4)])
def test_pointwise_matches_C(K, kind, param):
    n = 41                                       # 3 blocks' worth on a 2-block grid
    x, y = f32(n), f32(n)
    y[:3] = x[:3]                                # d == 0: the sign / clamp edges
    y[3] = x[3] + np.float32(param)              # |d| == param
    w = None if kind == "smooth_l1" else f32(n, lo=0, hi=2)
    compare(K, "pointwise_loss", [kind, n, n, n, x, y, w, 1.0 / n, param], (1, 2, 3))
    # one block, gradient of the input only, sum reduction
    compare(K, "pointwise_loss", [kind, None, 5, None, x[:5], y[:5], None, 1.0, param],
            (1, 2, 3))


def test_pointwise_bad_calls(K):
    x, y = dev(f32(6)), dev(f32(6))
    with pytest.raises(KeyError):
        K.pointwise_loss("kl", None, None, None, x, y, None, 1.0)
    with pytest.raises(ValueError, match="target"):
        K.pointwise_loss("mse", None, None, None, x, dev(f32(5)), None, 1.0)
    with pytest.raises(ValueError, match="smooth_l1 takes no weight"):
        K.pointwise_loss("smooth_l1", None, None, None, x, y, dev(f32(6)), 1.0, 0.5)
    with pytest.raises(ValueError, match="dinput has 5 elements"):
        K.pointwise_loss("mse", None, dev(f32(5)), None, x, y, None, 1.0)
    with pytest.raises(ValueError, match="weight has 3 elements"):
        K.pointwise_loss("l1", None, None, None, x, y, dev(f32(3)), 1.0)
    with pytest.raises(ValueError, match="dtype"):
        K.pointwise_loss("mse", None, None, None, dev(np.zeros(6)), y, None, 1.0)
    empty = dev(np.zeros(0, np.float32))
    r = K.pointwise_loss("mse", empty, empty, None, empty, empty, None, 1.0)
    assert r.shape == () and host(r) == 0


# ===================================================================== binary cross entropy

def test_bce_matches_C(K):
    n = 36
    x, y = f32(n, lo=0, hi=1), f32(n, lo=0, hi=1)
    x[:2] = [0.0, 1.0]                           # log clamped at -100, denominator at 1e-12
    y[2:4] = [0.0, 1.0]
    compare(K, "bce_loss", [n, n, n, x, y, f32(3, lo=0, hi=2), 1.0 / n], (0, 1, 2))
    compare(K, "bce_loss", [None, n, None, x, y, None, 1.0], (0, 1, 2))
    with pytest.raises(ValueError, match="does not tile"):
        K.bce_loss(None, None, None, dev(x), dev(y), dev(f32(5)), 1.0)


def test_bce_logits_matches_C(K):
    n = 36
    x, y = 4 * f32(n), f32(n, lo=0, hi=1)
    x[0] = 0.0
    w, q = f32(4, lo=0, hi=2), f32(12, lo=0, hi=3)
    compare(K, "bce_logits_loss", [n, n, n, x, y, w, q, 1.0 / n], (0, 1, 2))
    compare(K, "bce_logits_loss", [None, n, n, x, y, None, None, 1.0], (0, 1, 2))
    compare(K, "bce_logits_loss", [7, None, 7, x[:7], y[:7], None, q[:1], 1.0 / 7], (0, 1, 2))
    with pytest.raises(ValueError, match="pos_weight of 5 elements"):
        K.bce_logits_loss(None, None, None, dev(x), dev(y), None, dev(f32(5)), 1.0)


# ===================================================================== class-index losses

# (outer, C, inner): one thread per position in one block / in two blocks with grid-stride,
# a block per row (C >= 8 under the simulator) over more rows than blocks and more classes
# than threads, a 1-D input (one row)
LAYOUTS = [(7, 5, 1), (3, 4, 7), (4, 19, 1), (1, 9, 1)]
CE_CASES = [  # (layout, weighted, reduction, ignore_index, label_smoothing, with dinput)
    (0, False, MEAN, -100, 0.0, True), (0, True, SUM, 2, 0.1, True),
    (1, True, MEAN, -100, 0.2, True), (1, False, NONE, 3, 0.0, False),
    (2, True, MEAN, 0, 0.1, True), (2, False, SUM, -100, 0.0, True),
    (2, True, NONE, -100, 0.3, True), (3, True, MEAN, -100, 0.0, True),
]


def labels(outer, C, inner, ignore_index):
    t = rng.integers(0, C, outer * inner).astype(np.int64)
    t[::4] = ignore_index                       # ignore_index may also be a real class
    t[-1] = C - 1
    return t


@pytest.mark.parametrize("layout,weighted,red,ignore,eps,grad", CE_CASES)
def test_cross_entropy_matches_C(K, layout, weighted, red, ignore, eps, grad):
    outer, C, inner = LAYOUTS[layout]
    npos = outer * inner
    x = 3 * f32(npos * C)
    t = labels(outer, C, inner, ignore)
    w = f32(C, lo=0.1, hi=2) if weighted else None
    compare(K, "cross_entropy_loss",
            [npos if red == NONE else None, npos * C if grad else None, x, t, w, outer, C,
             inner, ignore, red, eps], (0, 1))


@pytest.mark.parametrize("layout,weighted,red", [(0, True, MEAN), (1, False, SUM),
                                                  (2, True, NONE), (3, False, MEAN)])
def test_nll_matches_C(K, layout, weighted, red):
    outer, C, inner = LAYOUTS[layout]
    npos = outer * inner
    x = f32(npos * C, lo=-5, hi=0)
    t = labels(outer, C, inner, -100)
    w = f32(C, lo=0.1, hi=2) if weighted else None
    compare(K, "nll_loss", [npos, npos * C, x, t, w, outer, C, inner, -100, red], (0, 1))
    if layout == 1:   # the loss alone launches a grid over positions, not elements
        compare(K, "nll_loss", [None, None, x, t, w, outer, C, inner, -100, MEAN], (0, 1))


@pytest.mark.filterwarnings("ignore:divide by zero", "ignore:invalid value")  # the simulator's
def test_every_target_ignored_gives_nan_as_C(K):
    outer, C = 20, 5                             # two blocks: the divisor kernel runs first
    x, t = f32(outer * C), np.full(outer, -100, np.int64)
    for name, extra in (("cross_entropy_loss", [0.1]), ("nll_loss", [])):
        r = compare(K, name, [None, outer * C, x, t, None, outer, C, 1, -100, MEAN] + extra,
                    (0, 1))
        assert np.isnan(r)


def test_label_out_of_range_reads_nothing_and_gives_nan(K):
    # the functional checks labels with bad_label first; a kernel handed one anyway must
    # not read out of bounds: it reports NaN (the functional's finiteness check fires)
    outer, C = 6, 5
    x, t = dev(f32(outer * C)), dev(np.array([0, 1, 7, 2, -3, 4], np.int64))
    dx = dev(np.zeros(outer * C, np.float32))
    assert np.isnan(host(K.cross_entropy_loss(None, dx, x, t, None, outer, C, 1, -100, SUM,
                                              0.0)))
    assert np.isnan(host(dx).reshape(outer, C)[2]).all()
    assert np.isnan(host(K.nll_loss(None, None, x, t, None, outer, C, 1, -100, MEAN)))


def test_class_loss_bad_calls(K):
    x, t = dev(f32(12)), dev(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="outer=3 C=5"):
        K.cross_entropy_loss(None, None, x, t, None, 3, 5, 1, -100, MEAN, 0.0)
    with pytest.raises(ValueError, match="dinput has 4 elements"):
        K.nll_loss(None, dev(f32(4)), x, t, None, 3, 4, 1, -100, MEAN)
    with pytest.raises(ValueError, match="weight has 3 elements"):
        K.cross_entropy_loss(None, None, x, t, dev(f32(3)), 3, 4, 1, -100, MEAN, 0.0)
    with pytest.raises(ValueError, match="target has dtype"):
        K.nll_loss(None, None, x, dev(np.zeros(3, np.int32)), None, 3, 4, 1, -100, SUM)
    with pytest.raises(ValueError, match="negative size"):
        K.cross_entropy_loss(None, None, x, t, None, -3, 4, -1, -100, SUM, 0.0)
    empty = dev(np.zeros(0, np.float32))
    r = K.cross_entropy_loss(None, None, empty, dev(np.zeros(0, np.int64)), None, 0, 4, 1,
                             -100, SUM, 0.0)
    assert host(r) == 0


def test_totals_are_deterministic(K):
    outer, C = 3, 8                              # a block per row, partials then _finish
    x, t, w = dev(f32(outer * C)), dev(labels(outer, C, 1, -100)), dev(f32(C, lo=0, hi=1))
    runs = [host(K.cross_entropy_loss(None, None, x, t, w, outer, C, 1, -100, MEAN, 0.1))
            for _ in range(2)]
    assert runs[0].tobytes() == runs[1].tobytes()


# ===================================================================== probability targets

@pytest.mark.parametrize("layout,weighted,red,eps,grads", [
    (0, True, MEAN, 0.1, (True, True)), (1, False, NONE, 0.0, (True, False)),
    (2, True, SUM, 0.25, (False, True)), (3, False, MEAN, 0.0, (True, True)),
])
def test_cross_entropy_prob_matches_C(K, layout, weighted, red, eps, grads):
    outer, C, inner = LAYOUTS[layout]
    npos = outer * inner
    x = 2 * f32(npos * C)
    p = f32(outer, C, inner, lo=0, hi=1)
    p = (p / p.sum(axis=1, keepdims=True)).reshape(-1)
    w = f32(C, lo=0.1, hi=2) if weighted else None
    compare(K, "cross_entropy_prob_loss",
            [npos if red == NONE else None, npos * C if grads[0] else None,
             npos * C if grads[1] else None, x, p, w, outer, C, inner, red, eps], (0, 1, 2))


# ===================================================================== label check

def test_bad_label_matches_C(K):
    n = 75                                       # more labels than the 2 x 16 threads
    t = rng.integers(0, 6, n).astype(np.int64)
    t[::7] = -100
    for bad_at, value in ((None, None), (0, 6), (40, -1), (74, 9)):
        u = t.copy()
        if bad_at is not None:
            u[bad_at] = value
            u[bad_at + 1:] = np.where(u[bad_at + 1:] == -100, 7, u[bad_at + 1:])  # later ones
        assert K.bad_label(dev(u), 6, -100) == _C.bad_label(u, 6, -100)
    # ignore_index exempts an out-of-range label; an in-range ignore_index changes nothing
    assert K.bad_label(dev(np.array([3, -1, 2], np.int64)), 4, -1) == -1
    assert K.bad_label(dev(np.array([3, -1, 2], np.int64)), 4, 0) == 1
    assert K.bad_label(dev(np.zeros(0, np.int64)), 4, -100) == -1


# ===================================================================== the functional's calls

def test_the_functional_losses_give_the_cpus_numbers_on_cuda():
    import nnfast as nf
    from nnfast.nn import _functional_loss as FL
    x, y = f32(4, 6), f32(4, 6)
    p = f32(4, 6, lo=0.05, hi=0.95)
    logits, classes = f32(5, 3, 2), rng.integers(0, 3, (5, 2))
    classes[0, 0] = -100
    probs = p / p.sum(1, keepdims=True)
    w6, q6, w3 = f32(6, lo=0, hi=1), f32(6, lo=0, hi=2), f32(3, lo=0.5, hi=1)

    def T(a, d):
        return nf.tensor(a, device=d)
    cases = [  # (loss of the leaf tensors on device d, the leaves' arrays)
        (lambda d, a, b: FL.mse_loss(a, b, weight=T(np.tile(w6, (4, 1)), d)), (x, y)),
        (lambda d, a: FL.smooth_l1_loss(a, T(y, d), beta=0.5, reduction="sum"), (x,)),
        (lambda d, a: FL.binary_cross_entropy(a, T(p[::-1].copy(), d), weight=T(w6, d)), (p,)),
        (lambda d, a, b: FL.binary_cross_entropy_with_logits(a, b, pos_weight=T(q6, d),
                                                             reduction="none"), (x, p)),
        (lambda d, a: FL.cross_entropy(a, T(classes, d), weight=T(w3, d),
                                       label_smoothing=0.1), (logits,)),
        (lambda d, a: FL.nll_loss(a, T(classes, d), reduction="sum"), (logits,)),
        (lambda d, a, b: FL.cross_entropy(a, b), (x, probs)),
    ]
    for loss, arrays in cases:
        results = []
        for d in ("cpu", "cuda"):
            leaves = [nf.tensor(a, requires_grad=True, device=d) for a in arrays]
            value = loss(d, *leaves)
            assert value.device.type == d
            (value.sum() if value.ndim else value).backward()
            results.append([value.detach().cpu().numpy()] +
                           [t.grad.cpu().numpy() for t in leaves])
        for want, got in zip(*results):
            np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
