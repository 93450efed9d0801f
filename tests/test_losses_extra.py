"""The less common losses (nn/_functional_loss_extra.py, nn/loss_extra.py) against torch:
values and gradients of every operand, every reduction, broadcasting and odd shapes,
float64, degenerate values and bad input."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_close, check_op, fd_grad

import nnfast as nf
from nnfast import nn
from nnfast.nn import _functional_loss_extra as FL
from nnfast.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]
rng = np.random.default_rng(0)


def _u(*shape, lo=-2, hi=2, dtype=np.float32):
    return rng.uniform(lo, hi, shape).astype(dtype)


def _pm1(*shape, dtype=np.float32):
    return rng.choice(np.array([-1, 1], dtype), shape)


def _quiet(fn):
    def run(*a):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*a)
    return run


def _cases(dtype):
    """name -> (inputs, torch fn, nnfast fn); every float input takes a gradient."""
    u = lambda *s, **k: _u(*s, dtype=dtype, **k)  # noqa: E731
    pm = lambda *s: _pm1(*s, dtype=dtype)  # noqa: E731
    prob = lambda *s: rng.dirichlet(np.ones(s[-1]), s[:-1]).astype(dtype)  # noqa: E731
    c = {}
    for red in REDUCTIONS:
        for lt in (False, True):
            tgt = prob(3, 5)
            tgt[0, 1] = 0.0 if not lt else tgt[0, 1]
            c[f"kl_{red}_{lt}"] = ([np.log(prob(3, 5)), np.log(tgt) if lt else tgt],
                                   _quiet(lambda x, t, r=red, l=lt: TF.kl_div(x, t, reduction=r,
                                                                              log_target=l)),
                                   _quiet(lambda x, t, r=red, l=lt: F.kl_div(x, t, reduction=r,
                                                                             log_target=l)))
        c[f"kl_batchmean_bcast_{red}"] = (
            [np.log(prob(2, 3, 4)), prob(3, 4)],
            lambda x, t: TF.kl_div(x, t, reduction="batchmean"),
            lambda x, t: F.kl_div(x, t, reduction="batchmean"))
        for li in (True, False):
            for full in (False, True):
                x = u(4, 6) if li else u(4, 6, lo=0.01, hi=3)
                t = u(4, 6, lo=0, hi=4)
                c[f"poisson_{red}_{li}_{full}"] = (
                    [x, t],
                    lambda x, t, r=red, a=li, f=full: TF.poisson_nll_loss(x, t, a, f,
                                                                          reduction=r),
                    lambda x, t, r=red, a=li, f=full: F.poisson_nll_loss(x, t, a, f,
                                                                         reduction=r))
        for vshape in [(4, 3), (4,), (4, 1), (1, 3)]:
            for full in (False, True):
                c[f"gauss_{red}_{vshape}_{full}"] = (
                    [u(4, 3), u(4, 3), u(*vshape, lo=1e-7, hi=2)],
                    lambda x, t, v, r=red, f=full: TF.gaussian_nll_loss(x, t, v, f, reduction=r),
                    lambda x, t, v, r=red, f=full: F.gaussian_nll_loss(x, t, v, f, reduction=r))
        c[f"mrl_{red}"] = ([u(7), u(7), pm(7)],
                           lambda a, b, y, r=red: TF.margin_ranking_loss(a, b, y, 0.3,
                                                                         reduction=r),
                           lambda a, b, y, r=red: F.margin_ranking_loss(a, b, y, 0.3,
                                                                        reduction=r))
        c[f"mrl_bcast_{red}"] = ([u(3, 1), u(1, 4), pm(3, 4)],
                                 lambda a, b, y, r=red: TF.margin_ranking_loss(a, b, y,
                                                                               reduction=r),
                                 lambda a, b, y, r=red: F.margin_ranking_loss(a, b, y,
                                                                              reduction=r))
        for p in (2, 1, 3, 0.5, float("inf")):
            for swap in (False, True):
                c[f"triplet_{red}_{p}_{swap}"] = (
                    [u(5, 4), u(5, 4), u(5, 4)],
                    lambda a, q, n, r=red, p=p, s=swap: TF.triplet_margin_loss(
                        a, q, n, 1.5, p, swap=s, reduction=r),
                    lambda a, q, n, r=red, p=p, s=swap: F.triplet_margin_loss(
                        a, q, n, 1.5, p, swap=s, reduction=r))
        c[f"triplet_1d_3d_{red}"] = (
            [u(2, 3, 4), u(2, 3, 4), u(1, 3, 4)],
            lambda a, q, n, r=red: TF.triplet_margin_loss(a, q, n, reduction=r),
            lambda a, q, n, r=red: F.triplet_margin_loss(a, q, n, reduction=r))
        for margin in (0.0, 0.4, -0.5):
            c[f"cosemb_{red}_{margin}"] = (
                [u(6, 5), u(6, 5), pm(6).astype(np.int64)],
                lambda a, b, y, r=red, m=margin: TF.cosine_embedding_loss(a, b, y, m,
                                                                          reduction=r),
                lambda a, b, y, r=red, m=margin: F.cosine_embedding_loss(a, b, y, m,
                                                                         reduction=r))
        c[f"cosemb_0d_{red}"] = ([u(5), u(5), np.array(-1)],
                                 lambda a, b, y, r=red: TF.cosine_embedding_loss(a, b, y,
                                                                                 reduction=r),
                                 lambda a, b, y, r=red: F.cosine_embedding_loss(a, b, y,
                                                                                reduction=r))
        c[f"softmargin_{red}"] = ([u(4, 5), pm(4, 5).astype(np.int64)],
                                  lambda x, y, r=red: TF.soft_margin_loss(x, y, reduction=r),
                                  lambda x, y, r=red: F.soft_margin_loss(x, y, reduction=r))
        for margin in (1.0, 0.5, -1.0):
            c[f"hinge_{red}_{margin}"] = (
                [u(4, 5), pm(4, 5).astype(np.int64)],
                lambda x, y, r=red, m=margin: TF.hinge_embedding_loss(x, y, m, reduction=r),
                lambda x, y, r=red, m=margin: F.hinge_embedding_loss(x, y, m, reduction=r))
        for shape in [(4, 5), (5,), (2, 3, 4)]:
            c[f"mlsm_{red}_{shape}"] = (
                [u(*shape, lo=-5, hi=5), u(*shape, lo=0, hi=1)],
                lambda x, t, r=red: TF.multilabel_soft_margin_loss(x, t, reduction=r),
                lambda x, t, r=red: F.multilabel_soft_margin_loss(x, t, reduction=r))
        w = u(5, lo=0, hi=2)
        c[f"mlsm_weight_{red}"] = (
            [u(4, 5), u(4, 5, lo=0, hi=1)],
            lambda x, t, r=red, w=w: TF.multilabel_soft_margin_loss(
                x, t, torch.from_numpy(w.astype(dtype)), reduction=r),
            lambda x, t, r=red, w=w: F.multilabel_soft_margin_loss(
                x, t, nf.tensor(w.astype(dtype)), reduction=r))
    return c


CASES32 = _cases(np.float32)
CASES64 = _cases(np.float64)


@pytest.mark.parametrize("name", sorted(CASES32))
def test_float32_matches_torch(name):
    inputs, tf, nff = CASES32[name]
    check_op(None, tf, nff, inputs=inputs, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize("name", sorted(CASES64))
def test_float64_matches_torch(name):
    inputs, tf, nff = CASES64[name]
    check_op(None, tf, nff, inputs=inputs, atol=1e-10, rtol=1e-9)


MODULES = [
    (lambda: (torch.nn.KLDivLoss(reduction="batchmean", log_target=True),
              nn.KLDivLoss(reduction="batchmean", log_target=True)), 2),
    (lambda: (torch.nn.PoissonNLLLoss(full=True), nn.PoissonNLLLoss(full=True)), 2),
    (lambda: (torch.nn.PoissonNLLLoss(log_input=False, eps=1e-3, reduction="sum"),
              nn.PoissonNLLLoss(log_input=False, eps=1e-3, reduction="sum")), 2),
    (lambda: (torch.nn.GaussianNLLLoss(full=True, eps=1e-3),
              nn.GaussianNLLLoss(full=True, eps=1e-3)), 3),
    (lambda: (torch.nn.MarginRankingLoss(0.2), nn.MarginRankingLoss(0.2)), 3),
    (lambda: (torch.nn.TripletMarginLoss(0.5, 1.0, swap=True),
              nn.TripletMarginLoss(0.5, 1.0, swap=True)), 3),
    (lambda: (torch.nn.CosineEmbeddingLoss(0.1), nn.CosineEmbeddingLoss(0.1)), 3),
    (lambda: (torch.nn.SoftMarginLoss(reduction="sum"), nn.SoftMarginLoss(reduction="sum")), 2),
    (lambda: (torch.nn.HingeEmbeddingLoss(0.5), nn.HingeEmbeddingLoss(0.5)), 2),
    (lambda: (torch.nn.MultiLabelSoftMarginLoss(), nn.MultiLabelSoftMarginLoss()), 2),
]


@pytest.mark.parametrize("i", range(len(MODULES)))
def test_modules_match_torch(i):
    make, nargs = MODULES[i]
    tm, nm = make()
    assert repr(tm) == repr(nm)
    name = type(tm).__name__
    x = _u(6, 4, lo=0.1, hi=2)
    if name in ("MarginRankingLoss",):
        inputs = [_u(6), _u(6), _pm1(6)]
    elif name == "CosineEmbeddingLoss":
        inputs = [_u(6, 4), _u(6, 4), _pm1(6).astype(np.int64)]
    elif name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        inputs = [_u(6, 4), _pm1(6, 4).astype(np.int64)]
    elif name == "KLDivLoss":
        inputs = [np.log(x / x.sum(1, keepdims=True)), np.log(x[::-1] / x.sum(1, keepdims=True))]
    else:
        inputs = [x] + [_u(6, 4, lo=0.1, hi=2) for _ in range(nargs - 1)]
    check_op(None, tm, nm, inputs=[np.ascontiguousarray(a) for a in inputs], atol=2e-5,
             rtol=2e-5)


def test_legacy_size_average_reduce():
    x, t = _u(3, 4), _u(3, 4)
    for sa, rd in [(False, None), (None, False), (True, True)]:
        a = F.kl_div(nf.tensor(x), nf.tensor(t), size_average=sa, reduce=rd)
        b = TF.kl_div(torch.from_numpy(x), torch.from_numpy(t), size_average=sa, reduce=rd)
        assert_close(a, b, 1e-5, 1e-5)
        a = F.margin_ranking_loss(nf.tensor(x), nf.tensor(t), nf.ones(3, 4), size_average=sa,
                                  reduce=rd)
        b = TF.margin_ranking_loss(torch.from_numpy(x), torch.from_numpy(t), torch.ones(3, 4),
                                   size_average=sa, reduce=rd)
        assert_close(a, b, 1e-6, 1e-6)


def test_kl_div_mean_warns_and_zero_target_gradient_like_torch():
    x = np.log(np.array([[0.2, 0.3, 0.5]], np.float32))
    t = np.array([[0.0, 0.5, 0.5]], np.float32)
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(nf.tensor(x), nf.tensor(t))
    tt, nt = torch.from_numpy(t).requires_grad_(), nf.tensor(t, requires_grad=True)
    TF.kl_div(torch.from_numpy(x), tt, reduction="sum").backward()
    F.kl_div(nf.tensor(x), nt, reduction="sum").backward()
    np.testing.assert_allclose(nt.grad.numpy(), tt.grad.numpy(), rtol=1e-6)  # nan at t == 0
    assert np.isnan(nt.grad.numpy()[0, 0])


def test_degenerate_values_follow_torch():
    # a mean over nothing is nan; an empty sum is 0
    e = np.zeros((0, 3), np.float32)
    for red, expect in (("mean", np.nan), ("sum", 0.0)):
        v = F.triplet_margin_loss(nf.tensor(e), nf.tensor(e), nf.tensor(e), reduction=red)
        np.testing.assert_equal(v.item(), expect)
    # var below eps is clamped; its gradient still flows (torch's clone-and-clamp)
    x, t = _u(3, 2), _u(3, 2)
    v = np.array([[1e-9, 0.5], [0.0, 1.0], [2.0, 1e-7]], np.float32)
    check_op(None, lambda a, b, c: TF.gaussian_nll_loss(a, b, c, eps=1e-6),
             lambda a, b, c: F.gaussian_nll_loss(a, b, c, eps=1e-6), inputs=[x, t, v],
             atol=1e-3, rtol=1e-5)
    # float var
    a = F.gaussian_nll_loss(nf.tensor(x), nf.tensor(t), 0.5)
    assert_close(a, TF.gaussian_nll_loss(torch.from_numpy(x), torch.from_numpy(t), 0.5), 1e-6)
    # cosine embedding on a zero row, and labels other than +-1 contribute 0
    z = np.zeros((2, 3), np.float32)
    z[1] = 1
    y = np.array([1, 0])
    check_op(None, TF.cosine_embedding_loss, F.cosine_embedding_loss,
             inputs=[z, _u(2, 3), y], atol=1e-6)
    # triplet with a zero distance (the gradient at a norm of 0 is 0)
    a = _u(2, 3)
    check_op(None, lambda x, p, n: TF.triplet_margin_loss(x, p, n, eps=0.0),
             lambda x, p, n: F.triplet_margin_loss(x, p, n, eps=0.0),
             inputs=[a, a.copy(), _u(2, 3)], atol=1e-6)


def test_kinks_take_torch_side():
    # margin ranking and hinge at exactly the hinge: clamp_min passes the gradient (>=)
    check_op(None, lambda a, b, y: TF.margin_ranking_loss(a, b, y, 1.0),
             lambda a, b, y: F.margin_ranking_loss(a, b, y, 1.0),
             inputs=[np.array([1.0, 2.0], np.float32), np.array([1.0, 1.0], np.float32),
                     np.array([1.0, 1.0], np.float32)])
    check_op(None, lambda x, y: TF.hinge_embedding_loss(x, y, -1.0),
             lambda x, y: F.hinge_embedding_loss(x, y, -1.0),
             inputs=[np.array([0.0, -1.0, 2.0], np.float32), np.array([1, -1, -1])])


def test_integer_label_targets():
    x1, x2 = _u(4, 3), _u(4, 3)
    y = np.array([1, -1, 1, -1])
    a = F.cosine_embedding_loss(nf.tensor(x1), nf.tensor(x2), nf.tensor(y))
    b = TF.cosine_embedding_loss(torch.from_numpy(x1), torch.from_numpy(x2), torch.from_numpy(y))
    assert_close(a, b, 1e-6)
    a = F.hinge_embedding_loss(nf.tensor(x1), nf.tensor(np.ones((4, 3), np.int64)))
    b = TF.hinge_embedding_loss(torch.from_numpy(x1), torch.ones(4, 3, dtype=torch.long))
    assert_close(a, b, 1e-6)


@pytest.mark.parametrize("fn,nargs", [
    (lambda x, t: F.poisson_nll_loss(x, t, log_input=False, full=True), 2),
    (lambda x, t, v: F.gaussian_nll_loss(x, t, v, full=True), 3),
    (lambda x, t: F.kl_div(x, t, reduction="batchmean", log_target=True), 2),
    (lambda a, p, n: F.triplet_margin_loss(a, p, n, p=3, swap=True), 3),
    (lambda x, t: F.multilabel_soft_margin_loss(x, t), 2),
])
def test_finite_differences_float64(fn, nargs):
    r = np.random.default_rng(5)
    args = [r.uniform(0.5, 3, (3, 4)) for _ in range(nargs)]
    for k in range(nargs):
        ts = [nf.tensor(a, requires_grad=(i == k)) for i, a in enumerate(args)]
        fn(*ts).backward()

        def f(v, k=k):
            return float(fn(*[nf.tensor(v if i == k else a) for i, a in enumerate(args)]).item())
        np.testing.assert_allclose(ts[k].grad.numpy(), fd_grad(f, args[k].copy()), rtol=1e-6,
                                   atol=1e-8)


def test_exports():
    for name in FL.__all__:
        assert callable(getattr(F, name))
    for name in nn.loss_extra.__all__:
        assert hasattr(nn, name)
    for name in ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy",
                 "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"]:
        assert callable(getattr(F, name))


def test_mlsm_weight_buffer_in_state_dict():
    w = nf.tensor(np.ones(4, np.float32))
    m = nn.MultiLabelSoftMarginLoss(weight=w)
    assert list(m.state_dict()) == list(torch.nn.MultiLabelSoftMarginLoss(
        weight=torch.ones(4)).state_dict())


# ===================================================================== bad input

def test_bad_input():
    x, t = nf.randn(3, 4), nf.randn(3, 4)
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.kl_div(x, t, reduction="bad")
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.poisson_nll_loss(x, t, reduction="bad")
    with pytest.raises(ValueError, match="x is not valid"):
        F.gaussian_nll_loss(x, t, t.abs(), reduction="x")
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(x, t, nf.ones(2))
    with pytest.raises(ValueError, match="negative entry"):
        F.gaussian_nll_loss(x, t, -t.abs() - 1)
    with pytest.raises(ValueError, match="negative entry"):
        F.gaussian_nll_loss(x, t, -1.0)
    with pytest.raises(RuntimeError, match="same dimension but got sizes"):
        F.margin_ranking_loss(nf.randn(3), nf.randn(3, 1), nf.randn(3))
    with pytest.raises(RuntimeError, match="anchor 2D, positive 1D, and negative 2D"):
        F.triplet_margin_loss(x, nf.randn(4), x)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        F.triplet_margin_loss(x, x, x, margin=0)
    with pytest.raises(ValueError, match="margin to be greater than 0"):
        nn.TripletMarginLoss(margin=-1)
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        F.cosine_embedding_loss(x, t, nf.ones(3, 1))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input"):
        F.cosine_embedding_loss(nf.randn(2, 3, 4), nf.randn(2, 3, 4), nf.ones(3))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input"):
        F.cosine_embedding_loss(x, t, nf.tensor(1.0))
    with pytest.raises(nf.ShapeError, match="do not broadcast"):
        F.cosine_embedding_loss(x, nf.randn(3, 5), nf.ones(3))
    with pytest.raises(nf.ShapeError, match="do not broadcast"):
        F.poisson_nll_loss(x, nf.randn(3))
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
        F.soft_margin_loss(x, nf.randn(3, 4, requires_grad=True))
    with pytest.raises(nf.DTypeError, match="floating point"):
        F.kl_div(nf.tensor([[1, 2]]), t, reduction="sum")
    with pytest.raises(nf.DTypeError, match="float64"):
        F.kl_div(x, t.double(), reduction="sum")
    with pytest.raises(TypeError, match="Tensor"):
        F.hinge_embedding_loss([1.0], nf.ones(1))
