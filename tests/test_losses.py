"""Losses: torch 2.13 is the oracle for values and gradients; the C path is held equal to the
NumPy reference; float64 finite differences; bad inputs raise precise errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import _functional_loss as L
from nnfast.nn import functional as F

from helpers import assert_close, check_op, fd_grad

REDUCTIONS = ["mean", "sum", "none"]


def _tol(reduction):
    # sums over many elements carry more absolute rounding than means
    return dict(atol=1e-4, rtol=1e-4) if reduction == "sum" else dict(atol=1e-5, rtol=1e-4)


def _tw(w):
    return None if w is None else torch.from_numpy(np.array(w))


def _nw(w):
    return None if w is None else nf.tensor(w)


# ============================================================================ regression losses

REGRESSION = {
    "mse": (lambda x, y, **k: F.mse_loss(x, y, **k), lambda x, y, **k: TF.mse_loss(x, y, **k)),
    "l1": (lambda x, y, **k: F.l1_loss(x, y, **k), lambda x, y, **k: TF.l1_loss(x, y, **k)),
    "huber": (lambda x, y, **k: F.huber_loss(x, y, **k),
              lambda x, y, **k: TF.huber_loss(x, y, **k)),
    "smooth_l1": (lambda x, y, **k: F.smooth_l1_loss(x, y, **k),
                  lambda x, y, **k: TF.smooth_l1_loss(x, y, **k)),
}
PARAMS = {"mse": [{}], "l1": [{}], "huber": [{}, {"delta": 0.5}, {"delta": 2.5}],
          "smooth_l1": [{}, {"beta": 0.5}, {"beta": 0.0}]}


@pytest.mark.parametrize("kind", list(REGRESSION))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 5), (7,), (2, 3, 5), ()])
def test_regression_vs_torch(kind, reduction, shape):
    nf_fn, t_fn = REGRESSION[kind]
    for p in PARAMS[kind]:
        check_op([shape, shape], lambda x, y: t_fn(x, y, reduction=reduction, **p),
                 lambda x, y: nf_fn(x, y, reduction=reduction, **p), **_tol(reduction))


@pytest.mark.parametrize("kind", ["mse", "l1", "huber"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_weighted_vs_torch(kind, reduction):
    nf_fn, t_fn = REGRESSION[kind]
    w = np.random.default_rng(1).uniform(0.1, 2.0, (4, 6)).astype(np.float32)
    check_op([(4, 6), (4, 6)], lambda x, y: t_fn(x, y, reduction=reduction, weight=_tw(w)),
             lambda x, y: nf_fn(x, y, reduction=reduction, weight=_nw(w)), **_tol(reduction))


def test_regression_kinks_match_torch():
    # d exactly 0 and exactly +-delta/beta: the subgradient conventions of ATen
    x = np.array([0.0, 1.0, -1.0, 0.5, -0.5, 2.0], np.float32)
    y = np.zeros_like(x)
    for kind, p in [("l1", {}), ("huber", {"delta": 1.0}), ("huber", {"delta": 0.5}),
                    ("smooth_l1", {"beta": 1.0}), ("smooth_l1", {"beta": 0.5}), ("mse", {})]:
        nf_fn, t_fn = REGRESSION[kind]
        check_op(None, lambda a, b: t_fn(a, b, reduction="sum", **p),
                 lambda a, b: nf_fn(a, b, reduction="sum", **p), inputs=[x, y])


def test_regression_no_target_grad_when_not_required():
    x = nf.tensor(np.ones(3, np.float32), requires_grad=True)
    y = nf.tensor(np.zeros(3, np.float32))
    F.mse_loss(x, y).backward()
    assert y.grad is None
    np.testing.assert_allclose(x.grad.detach().numpy(), 2 / 3 * np.ones(3), rtol=1e-6)
    out = F.mse_loss(nf.tensor(np.ones(3, np.float32)), y)
    assert not out.requires_grad and out.grad_fn is None


# ============================================================================ cross entropy

CE_LAYOUTS = {"2d": ((6, 5), (6,)), "kdim": ((3, 4, 5, 2), (3, 5, 2)), "unbatched": ((5,), ()),
              "c1": ((4, 1), (4,))}


def _labels(rng, tshape, C, ignore):
    y = rng.integers(0, C, tshape).astype(np.int64)
    if ignore is not None and y.size:
        y.reshape(-1)[:: 3] = ignore
    return y


@pytest.mark.parametrize("layout", list(CE_LAYOUTS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("ignore", [None, -100, 2])
def test_cross_entropy_indices_vs_torch(layout, reduction, weighted, smoothing, ignore):
    xshape, tshape = CE_LAYOUTS[layout]
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    rng = np.random.default_rng(hash((layout, reduction, weighted, smoothing)) % 2**32)
    if ignore == 2 and C <= 2:
        ignore = -100
    y = _labels(rng, tshape, C, ignore if tshape != () else None)
    w = rng.uniform(0.2, 2.0, C).astype(np.float32) if weighted else None
    ii = -100 if ignore is None else ignore
    if tshape == () and int(y) == ii:
        y = np.array((ii + 1) % C)      # a single ignored sample would make the mean 0/0
    x = rng.standard_normal(xshape).astype(np.float32) * 3
    check_op(None, lambda a, t: TF.cross_entropy(a, t, weight=_tw(w), ignore_index=ii,
                                                 reduction=reduction, label_smoothing=smoothing),
             lambda a, t: F.cross_entropy(a, t, weight=_nw(w), ignore_index=ii,
                                          reduction=reduction, label_smoothing=smoothing),
             inputs=[x, y], **_tol(reduction))


@pytest.mark.parametrize("layout", ["2d", "kdim", "unbatched", "c1"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probabilities_vs_torch(layout, reduction, weighted, smoothing):
    xshape, _ = CE_LAYOUTS[layout]
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xshape).astype(np.float32)
    cdim = 1 if len(xshape) > 1 else 0
    t = rng.random(xshape).astype(np.float32)
    t = t / t.sum(axis=cdim, keepdims=True)
    w = rng.uniform(0.2, 2.0, C).astype(np.float32) if weighted else None
    # both input and (float) target require grad: the target gradient is checked as well
    check_op(None, lambda a, b: TF.cross_entropy(a, b, weight=_tw(w), reduction=reduction,
                                                 label_smoothing=smoothing),
             lambda a, b: F.cross_entropy(a, b, weight=_nw(w), reduction=reduction,
                                          label_smoothing=smoothing),
             inputs=[x, t], **_tol(reduction))


def test_cross_entropy_extreme_logits_are_stable():
    x = np.array([[1000.0, -1000.0, 0.0], [-500.0, 500.0, 499.0]], np.float32)
    y = np.array([1, 2])
    check_op(None, lambda a, t: TF.cross_entropy(a, t, label_smoothing=0.1),
             lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1), inputs=[x, y],
             atol=1e-3, rtol=1e-5)


def test_cross_entropy_uint8_targets():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 2], np.uint8)
    check_op(None, lambda a, t: TF.cross_entropy(a, t), lambda a, t: F.cross_entropy(a, t),
             inputs=[x, y])


# ============================================================================ NLL

@pytest.mark.parametrize("layout", list(CE_LAYOUTS))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [None, 0])
def test_nll_vs_torch(layout, reduction, weighted, ignore):
    xshape, tshape = CE_LAYOUTS[layout]
    C = xshape[1] if len(xshape) > 1 else xshape[0]
    rng = np.random.default_rng(7)
    y = _labels(rng, tshape, C, ignore if (tshape != () and C > 1) else None)
    ii = -100 if ignore is None else ignore
    if (tshape == () or C == 1) and ignore is not None:
        ii = -100                       # keep at least one sample counted in the mean
    w = rng.uniform(0.2, 2.0, C).astype(np.float32) if weighted else None
    x = -rng.random(xshape).astype(np.float32) * 4
    check_op(None, lambda a, t: TF.nll_loss(a, t, weight=_tw(w), ignore_index=ii,
                                            reduction=reduction),
             lambda a, t: F.nll_loss(a, t, weight=_nw(w), ignore_index=ii, reduction=reduction),
             inputs=[x, y], **_tol(reduction))


# ============================================================================ BCE

BCE_WEIGHTS = {"none": None, "full": (4, 3), "class": (3,), "column": (4, 1), "scalar": ()}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", list(BCE_WEIGHTS))
def test_bce_vs_torch(reduction, wkind):
    rng = np.random.default_rng(11)
    x = rng.uniform(0.02, 0.98, (4, 3)).astype(np.float32)
    x[0, 0], x[1, 1] = 0.0, 1.0          # the -100 log clamp (torch clamps, so do we)
    y = rng.random((4, 3)).astype(np.float32)
    y[0, 0], y[1, 1] = 1.0, 0.0
    ws = BCE_WEIGHTS[wkind]
    w = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(np.float32)
    # gradient at the clamped points is huge (1/1e-12): compare the value there, gradients
    # on the interior copy
    n_out = F.binary_cross_entropy(nf.tensor(x), nf.tensor(y), weight=_nw(w),
                                   reduction=reduction)
    t_out = TF.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(y), weight=_tw(w),
                                    reduction=reduction)
    assert_close(n_out, t_out, atol=1e-4, rtol=1e-5, what="clamped value")
    x[0, 0], x[1, 1] = 0.3, 0.6
    check_op(None, lambda a, b: TF.binary_cross_entropy(a, b, weight=_tw(w),
                                                        reduction=reduction),
             lambda a, b: F.binary_cross_entropy(a, b, weight=_nw(w), reduction=reduction),
             inputs=[x, y], **_tol(reduction))


PW = {"none": None, "class": (5,), "full": (2, 3, 5), "mid": (3, 1)}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wkind", ["none", "full", "class"])
@pytest.mark.parametrize("pkind", list(PW))
def test_bce_with_logits_vs_torch(reduction, wkind, pkind):
    rng = np.random.default_rng(13)
    shape = (2, 3, 5)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    x[0, 0, 0], x[0, 0, 1] = 60.0, -60.0
    y = rng.random(shape).astype(np.float32)
    ws = {"none": None, "full": shape, "class": (5,)}[wkind]
    w = None if ws is None else rng.uniform(0.2, 2.0, ws).astype(np.float32)
    pw = None if PW[pkind] is None else rng.uniform(0.5, 3.0, PW[pkind]).astype(np.float32)
    check_op(None, lambda a, b: TF.binary_cross_entropy_with_logits(
                 a, b, weight=_tw(w), pos_weight=_tw(pw), reduction=reduction),
             lambda a, b: F.binary_cross_entropy_with_logits(
                 a, b, weight=_nw(w), pos_weight=_nw(pw), reduction=reduction),
             inputs=[x, y], **_tol(reduction))


# ============================================================================ modules

def test_modules_match_torch_and_state_dict():
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 2, 4).astype(np.float32)
    pw = rng.uniform(0.5, 2, 4).astype(np.float32)
    pairs = [
        (nn.MSELoss(), torch.nn.MSELoss(), "reg"),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum"), "reg"),
        (nn.HuberLoss(delta=0.7), torch.nn.HuberLoss(delta=0.7), "reg"),
        (nn.SmoothL1Loss(beta=0.3), torch.nn.SmoothL1Loss(beta=0.3), "reg"),
        (nn.CrossEntropyLoss(weight=nf.tensor(w), ignore_index=1, label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=1,
                                   label_smoothing=0.1), "cls"),
        (nn.NLLLoss(weight=nf.tensor(w), reduction="none"),
         torch.nn.NLLLoss(weight=torch.tensor(w), reduction="none"), "cls"),
        (nn.BCELoss(weight=nf.tensor(w)), torch.nn.BCELoss(weight=torch.tensor(w)), "prob"),
        (nn.BCEWithLogitsLoss(pos_weight=nf.tensor(pw)),
         torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pw)), "reg"),
        (nn.MSELoss(size_average=False), torch.nn.MSELoss(reduction="sum"), "reg"),
    ]
    for m, tm, kind in pairs:
        assert list(m.state_dict()) == list(tm.state_dict()), type(m).__name__
        assert m.reduction == tm.reduction
        x = rng.standard_normal((3, 4)).astype(np.float32)
        if kind == "cls":
            y = rng.integers(0, 4, 3)
        elif kind == "prob":
            x = rng.uniform(0.05, 0.95, (3, 4)).astype(np.float32)
            y = rng.random((3, 4)).astype(np.float32)
        else:
            y = rng.standard_normal((3, 4)).astype(np.float32)
        check_op(None, tm, m, inputs=[x, y])
    bce = nn.BCEWithLogitsLoss(weight=nf.tensor(w), pos_weight=nf.tensor(pw))
    assert list(bce.state_dict()) == ["weight", "pos_weight"]


def test_module_double_casts_weight_buffers():
    w = np.array([1.0, 2.0, 0.5], np.float32)
    m = nn.CrossEntropyLoss(weight=nf.tensor(w)).double()
    assert m.weight.dtype == np.float64
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([0, 1, 2, 1])
    check_op(None, torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float64)), m,
             inputs=[x, y], atol=1e-10, rtol=1e-10)


def test_functional_all_exports():
    assert sorted(L.__all__) == sorted(
        ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss",
         "binary_cross_entropy", "binary_cross_entropy_with_logits"])
    for name in L.__all__:
        assert getattr(F, name) is getattr(L, name)
    for name in nn.loss.__all__:
        assert issubclass(getattr(nn, name), nn.Module)


# ============================================================================ hypothesis

@settings(max_examples=40, deadline=None)
@given(N=st.integers(1, 19), C=st.integers(1, 37), inner=st.sampled_from([1, 3, 40]),
       smoothing=st.sampled_from([0.0, 0.2]), weighted=st.booleans(),
       reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_cross_entropy_hypothesis(N, C, inner, smoothing, weighted, reduction, seed):
    rng = np.random.default_rng(seed)
    xshape = (N, C) if inner == 1 else (N, C, inner)
    tshape = (N,) if inner == 1 else (N, inner)
    x = rng.standard_normal(xshape).astype(np.float32) * 2
    y = rng.integers(0, C, tshape)
    if y.size > 1:
        y.reshape(-1)[0] = -100
    w = rng.uniform(0.2, 2.0, C).astype(np.float32) if weighted else None
    check_op(None, lambda a, t: TF.cross_entropy(a, t, weight=_tw(w), reduction=reduction,
                                                 label_smoothing=smoothing),
             lambda a, t: F.cross_entropy(a, t, weight=_nw(w), reduction=reduction,
                                          label_smoothing=smoothing),
             inputs=[x, y], seed=seed, atol=2e-4 if reduction == "sum" else 1e-5, rtol=1e-4)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 70), kind=st.sampled_from(list(REGRESSION)),
       reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_regression_hypothesis(n, kind, reduction, seed):
    nf_fn, t_fn = REGRESSION[kind]
    check_op([(n,), (n,)], lambda x, y: t_fn(x, y, reduction=reduction),
             lambda x, y: nf_fn(x, y, reduction=reduction), seed=seed, **_tol(reduction))


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 9), C=st.integers(1, 21), reduction=st.sampled_from(REDUCTIONS),
       logits=st.booleans(), seed=st.integers(0, 2**16))
def test_bce_hypothesis(N, C, reduction, logits, seed):
    rng = np.random.default_rng(seed)
    y = rng.random((N, C)).astype(np.float32)
    pw = rng.uniform(0.5, 2.0, C).astype(np.float32)
    if logits:
        x = rng.standard_normal((N, C)).astype(np.float32) * 3
        check_op(None, lambda a, b: TF.binary_cross_entropy_with_logits(
                     a, b, pos_weight=_tw(pw), reduction=reduction),
                 lambda a, b: F.binary_cross_entropy_with_logits(
                     a, b, pos_weight=_nw(pw), reduction=reduction),
                 inputs=[x, y], seed=seed, **_tol(reduction))
    else:
        x = rng.uniform(0.05, 0.95, (N, C)).astype(np.float32)
        check_op(None, lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction),
                 lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                 inputs=[x, y], seed=seed, **_tol(reduction))


# ============================================================================ C == reference

def _both_engines(name, arrays, *args):
    """Call the C wrapper on float32 arrays and the NumPy reference on float64 copies of the
    same data; return (C outputs, reference outputs) with the reduced values."""
    res = []
    for eng, dt in ((_C, np.float32), (L.REFERENCE, np.float64)):
        outs = [None if a is None else np.zeros(a, dt) for a in arrays["outs"]]
        ins = [None if a is None else (a.astype(dt) if a.dtype.kind == "f" else a)
               for a in arrays["ins"]]
        total = getattr(eng, name)(*arrays.get("pre", ()), *outs, *ins, *args)
        res.append((total, outs))
    return res


def _assert_engines_equal(res, rtol=2e-5, atol=1e-6):
    (tc, oc), (tr, orf) = res
    np.testing.assert_allclose(tc, tr, rtol=rtol, atol=atol)
    for c, r in zip(oc, orf):
        if c is not None:
            np.testing.assert_allclose(c, r, rtol=rtol, atol=atol)


@pytest.mark.parametrize("kind", ["mse", "l1", "huber", "smooth_l1"])
@pytest.mark.parametrize("n", [1, 17, 100_003])          # the last one crosses the OpenMP bar
def test_pointwise_c_equals_reference(kind, n):
    rng = np.random.default_rng(n)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    w = None if kind == "smooth_l1" else rng.random(n).astype(np.float32)
    _assert_engines_equal(_both_engines(
        "pointwise_loss", {"pre": [kind], "outs": [n, n, n], "ins": [x, y, w]}, 1.0 / n, 0.7))


@pytest.mark.parametrize("outer,C,inner", [(5, 7, 1), (3, 4, 33), (1, 1, 5), (700, 130, 1),
                                           (2, 9, 5000)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_cross_entropy_c_equals_reference(outer, C, inner, weighted, reduction):
    rng = np.random.default_rng(C)
    x = rng.standard_normal(outer * C * inner).astype(np.float32) * 3
    y = rng.integers(0, C, outer * inner)
    y[::7] = -100
    w = rng.uniform(0.1, 2, C).astype(np.float32) if weighted else None
    npos = outer * inner
    for eps in (0.0, 0.25):
        _assert_engines_equal(_both_engines(
            "cross_entropy_loss", {"outs": [npos, npos * C], "ins": [x, y, w]},
            outer, C, inner, -100, reduction, eps))
    _assert_engines_equal(_both_engines(
        "nll_loss", {"outs": [npos, npos * C], "ins": [x, y, w]}, outer, C, inner, -100,
        reduction))
    t = rng.random(outer * C * inner).astype(np.float32)
    _assert_engines_equal(_both_engines(
        "cross_entropy_prob_loss", {"outs": [npos, npos * C, npos * C], "ins": [x, t, w]},
        outer, C, inner, reduction, 0.1))


@pytest.mark.parametrize("n,period", [(12, 3), (40_005, 7), (5, 1)])
def test_bce_c_equals_reference(n, period):
    rng = np.random.default_rng(n)
    p = rng.uniform(0.0, 1.0, n).astype(np.float32)
    p[0] = 0.0
    y = rng.random(n).astype(np.float32)
    w = rng.uniform(0.1, 2, period).astype(np.float32)
    q = rng.uniform(0.1, 3, period).astype(np.float32)
    res = _both_engines("bce_loss", {"outs": [n, n, n], "ins": [p, y, w]}, 1.0 / n)
    (tc, oc), (tr, orf) = res
    np.testing.assert_allclose(tc, tr, rtol=2e-5)
    np.testing.assert_allclose(oc[0], orf[0], rtol=2e-5, atol=1e-5)
    interior = p > 1e-3
    np.testing.assert_allclose(oc[1][interior], orf[1][interior], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(oc[2], orf[2], rtol=2e-5, atol=1e-5)
    x = rng.standard_normal(n).astype(np.float32) * 5
    for ww, qq in ((None, None), (w, None), (None, q), (w, q)):
        _assert_engines_equal(_both_engines(
            "bce_logits_loss", {"outs": [n, n, n], "ins": [x, y, ww, qq]}, 1.0))


# ============================================================================ float64 FD checks

def _fd_check(loss_fn, x, y=None, check_target=True):
    """Autograd gradient of a float64 loss (NumPy reference path) against central
    differences, for input and, if y is float, target."""
    xt = nf.tensor(x, requires_grad=True)
    yt = nf.tensor(y, requires_grad=y.dtype.kind == "f" and check_target)
    loss_fn(xt, yt).backward()
    gx = fd_grad(lambda a: float(loss_fn(nf.tensor(a), nf.tensor(y)).item()), x.copy())
    np.testing.assert_allclose(xt.grad.detach().numpy(), gx, rtol=1e-6, atol=1e-8)
    if yt.requires_grad:
        gy = fd_grad(lambda b: float(loss_fn(nf.tensor(x), nf.tensor(b)).item()), y.copy())
        np.testing.assert_allclose(yt.grad.detach().numpy(), gy, rtol=1e-6, atol=1e-8)


def test_fd_float64_all_losses():
    rng = np.random.default_rng(21)
    x = rng.standard_normal((3, 4))
    y = rng.standard_normal((3, 4))
    _fd_check(lambda a, b: F.mse_loss(a, b), x, y)
    _fd_check(lambda a, b: F.l1_loss(a, b, reduction="sum"), x, y)
    _fd_check(lambda a, b: F.huber_loss(a, b, delta=0.6), x, y)
    _fd_check(lambda a, b: F.smooth_l1_loss(a, b, beta=0.4), x, y)
    w = nf.tensor(rng.uniform(0.5, 2, 4))
    lab = np.array([0, 3, -100])
    _fd_check(lambda a, b: F.cross_entropy(a, b, weight=w, ignore_index=-100,
                                           label_smoothing=0.2), x, lab)
    xk = rng.standard_normal((2, 4, 3))
    _fd_check(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1),
              xk, np.array([[0, 1, 3], [2, 2, 0]]))
    prob = rng.random((3, 4))
    _fd_check(lambda a, b: F.cross_entropy(a, b, weight=w, label_smoothing=0.3), x, prob)
    _fd_check(lambda a, b: F.nll_loss(a, b, weight=w), x, np.array([1, 0, 3]))
    p = rng.uniform(0.1, 0.9, (3, 4))
    _fd_check(lambda a, b: F.binary_cross_entropy(a, b, weight=w), p, prob)
    pw = nf.tensor(rng.uniform(0.5, 3, 4))
    _fd_check(lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=w, pos_weight=pw),
              x, prob)


def test_float64_matches_torch():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    y = rng.integers(0, 3, 5)
    check_op(None, lambda a, t: TF.cross_entropy(a, t, label_smoothing=0.1),
             lambda a, t: F.cross_entropy(a, t, label_smoothing=0.1), inputs=[x, y],
             atol=1e-12, rtol=1e-10)
    check_op([(5, 3), (5, 3)], lambda a, b: TF.huber_loss(a, b, delta=0.3),
             lambda a, b: F.huber_loss(a, b, delta=0.3), dtype=np.float64, atol=1e-12,
             rtol=1e-10)


# ============================================================================ edge cases

def test_empty_batch():
    e = np.zeros((0, 3), np.float32)
    for fn in (lambda: F.mse_loss(nf.tensor(e), nf.tensor(e)),
               lambda: F.cross_entropy(nf.tensor(e), nf.tensor(np.zeros(0, np.int64))),
               lambda: F.binary_cross_entropy_with_logits(nf.tensor(e), nf.tensor(e))):
        with pytest.raises(ValueError, match="empty batch"):
            fn()
    s = F.cross_entropy(nf.tensor(e, requires_grad=True), nf.tensor(np.zeros(0, np.int64)),
                        reduction="sum")
    assert s.item() == 0.0
    s.backward()
    none = F.mse_loss(nf.tensor(e), nf.tensor(e), reduction="none")
    assert none.shape == (0, 3)
    k = F.nll_loss(nf.tensor(np.zeros((2, 3, 0), np.float32)),
                   nf.tensor(np.zeros((2, 0), np.int64)), reduction="none")
    assert k.shape == (2, 0)


def test_upstream_gradient_is_not_mutated_and_scales():
    x = nf.tensor(np.array([[1.0, 2.0, 0.5]], np.float32), requires_grad=True)
    loss = F.cross_entropy(x, nf.tensor(np.array([1])))
    up = nf.tensor(np.float32(3.0))
    loss.backward(up)
    assert up.item() == 3.0
    g3 = x.grad.detach().numpy().copy()
    x.grad = None
    loss.backward()
    np.testing.assert_allclose(g3, 3 * x.grad.detach().numpy(), rtol=1e-6)


# ============================================================================ bad inputs

def _f32(*shape):
    return nf.tensor(np.zeros(shape, np.float32))


def test_bad_reduction():
    for fn in (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss, F.binary_cross_entropy,
               F.binary_cross_entropy_with_logits):
        with pytest.raises(ValueError, match="'avg' is not a valid value for reduction"):
            fn(_f32(2), _f32(2), reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy.*reduction"):
        F.cross_entropy(_f32(2, 3), nf.tensor(np.array([0, 1])), reduction="avg")


def test_shape_mismatch():
    with pytest.raises(ShapeError, match=r"mse_loss: target shape torch.Size\(\[3, 1\]\) differs .*\[3\]"):
        F.mse_loss(_f32(3), _f32(3, 1))
    with pytest.raises(ShapeError, match=r"binary_cross_entropy: target size"):
        F.binary_cross_entropy(_f32(3), _f32(4))
    with pytest.raises(ShapeError, match="binary_cross_entropy_with_logits"):
        F.binary_cross_entropy_with_logits(_f32(3, 2), _f32(2, 3))
    with pytest.raises(ShapeError, match=r"cross_entropy: target shape torch.Size\(\[4\]\) does not fit "
                                         r"input shape torch.Size\(\[3, 5\]\)"):
        F.cross_entropy(_f32(3, 5), nf.tensor(np.zeros(4, np.int64)))
    with pytest.raises(ShapeError, match=r"expected target shape \(2, 4\)"):
        F.nll_loss(_f32(2, 3, 4), nf.tensor(np.zeros((2, 3), np.int64)))
    with pytest.raises(ShapeError, match="weight must have shape"):
        F.cross_entropy(_f32(2, 3), nf.tensor(np.array([0, 1])), weight=_f32(4))
    with pytest.raises(ShapeError, match="pos_weight of shape"):
        F.binary_cross_entropy_with_logits(_f32(2, 3), _f32(2, 3), pos_weight=_f32(2))
    with pytest.raises(ShapeError, match="weight shape"):
        F.mse_loss(_f32(2, 3), _f32(2, 3), weight=_f32(3))
    with pytest.raises(ShapeError, match="scalar"):
        F.cross_entropy(_f32(), nf.tensor(np.array(0)))


def test_dtype_errors():
    with pytest.raises(DTypeError, match="class-index targets of dtype int64"):
        F.cross_entropy(_f32(3, 4), _f32(3))
    with pytest.raises(DTypeError, match="int32"):
        F.nll_loss(_f32(3, 4), nf.tensor(np.zeros(3, np.int32)))
    with pytest.raises(DTypeError, match="input must be a floating point"):
        F.cross_entropy(nf.tensor(np.zeros((3, 4), np.int64)), nf.tensor(np.zeros(3, np.int64)))
    with pytest.raises(DTypeError, match="mse_loss: input must be a floating point"):
        F.mse_loss(nf.tensor(np.zeros(3, np.int64)), _f32(3))
    with pytest.raises(DTypeError, match="float32 but target has dtype float64"):
        F.l1_loss(_f32(3), nf.tensor(np.zeros(3)))
    assert issubclass(DTypeError, RuntimeError)


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"target 7 is out of bounds.*\[0, 4\).*C=4"):
        F.cross_entropy(_f32(3, 4), nf.tensor(np.array([0, 7, 1])))
    with pytest.raises(ValueError, match="target -1 is out of bounds"):
        F.nll_loss(_f32(3, 4), nf.tensor(np.array([0, -1, 1])))
    with pytest.raises(ValueError, match="target 4 is out of bounds"):
        F.cross_entropy(_f32(2, 4, 2), nf.tensor(np.array([[0, 4], [1, 1]])), ignore_index=5)
    # ignore_index itself may lie outside [0, C)
    F.cross_entropy(_f32(3, 4), nf.tensor(np.array([0, -7, 1])), ignore_index=-7)


def test_probability_and_hyperparameter_errors():
    with pytest.raises(ValueError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(nf.tensor(np.array([0.5, 1.5], np.float32)), _f32(2))
    with pytest.raises(ValueError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(_f32(2), nf.tensor(np.array([0.5, -0.1], np.float32)))
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(_f32(2, 3), nf.tensor(np.array([0, 1])), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(_f32(2, 3), _f32(2, 3), ignore_index=1)
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(_f32(2), _f32(2), delta=0.0)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(_f32(2), _f32(2), beta=-1.0)


def test_nonfinite_loss_names_the_culprit():
    x = np.ones((2, 3), np.float32)
    x[1, 2] = np.nan
    with pytest.raises(FloatingPointError, match="cross_entropy.*the input contains NaN or Inf"):
        F.cross_entropy(nf.tensor(x), nf.tensor(np.array([0, 1])))
    y = np.zeros((2, 3), np.float32)
    y[0, 0] = np.inf
    with pytest.raises(FloatingPointError, match="mse_loss.*the target contains NaN or Inf"):
        F.mse_loss(nf.tensor(np.ones((2, 3), np.float32)), nf.tensor(y), reduction="none")
    with pytest.raises(FloatingPointError, match="input and the target contain"):
        F.l1_loss(nf.tensor(x), nf.tensor(y))
    with pytest.raises(FloatingPointError, match="every target equals ignore_index=-100"):
        F.cross_entropy(_f32(2, 3), nf.tensor(np.array([-100, -100])))
    with pytest.raises(FloatingPointError, match="weights sum to 0"):
        F.mse_loss(_f32(2), _f32(2), weight=_f32(2))
    big = nf.tensor(np.full(4, 3e38, np.float32))
    with pytest.raises(FloatingPointError, match="although input and target are finite"):
        F.mse_loss(big, -big, reduction="sum")
    # the per-element path catches it too
    with pytest.raises(FloatingPointError, match="binary_cross_entropy_with_logits.*input"):
        F.binary_cross_entropy_with_logits(nf.tensor(x), _f32(2, 3), reduction="none")


def test_non_tensor_argument():
    with pytest.raises(TypeError, match="mse_loss: input must be a Tensor"):
        F.mse_loss([1.0, 2.0], _f32(2))
