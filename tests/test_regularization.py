"""ActivityRegularization and the L1/L2 penalty helpers of nn.utils: values against hand
computation, gradients against torch autograd of the same expression, the compiled helpers
against NumPy, float64 finite differences, bad inputs, and training runs against torch."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C, nn, optim
from nnfast.nn import utils as U
from helpers import assert_close, copy_weights, fd_grad


def _rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ============================================================ compiled helpers

@settings(max_examples=40)
@given(n=st.integers(0, 300), a=st.floats(-3, 3), b=st.floats(-3, 3), s=st.integers(0, 99))
def test_sumabs_and_l1l2_backward_match_numpy(n, a, b, s):
    x = _rand(n, s)
    if n > 2:
        x[::3] = 0.0     # sign(0) = 0
    assert _C.sumabs(x) == pytest.approx(float(np.abs(x.astype(np.float64)).sum()),
                                         rel=1e-12, abs=1e-12)
    d = np.empty_like(x)
    _C.l1l2_backward(d, x, a, b)
    a32, b32 = np.float32(a), np.float32(b)
    ref = a32 * np.sign(x) + b32 * x
    np.testing.assert_allclose(d, ref, rtol=1e-6, atol=1e-6)
    _C.l1l2_backward(d, x, a, 0.0)
    np.testing.assert_array_equal(d, a32 * np.sign(x))


def test_l1l2_backward_special_values():
    x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], np.float32)
    d = np.empty_like(x)
    _C.l1l2_backward(d, x, 0.5, 0.0)        # L1 only: +-a, and 0 for NaN and zeros, as torch
    np.testing.assert_array_equal(d, [0.5, -0.5, 0.0, 0.0, 0.0])
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    (0.5 * xt.abs().sum()).backward()
    np.testing.assert_array_equal(d, xt.grad.numpy())


# ============================================================ ActivityRegularization

@pytest.mark.parametrize("l1,l2", [(0.1, 0.0), (0.0, 0.05), (0.3, 0.2)])
@pytest.mark.parametrize("reduction", ["batchmean", "sum"])
def test_activity_penalty_value_and_gradient_vs_torch(l1, l2, reduction):
    x0, w = _rand((6, 5), 1), _rand((6, 5), 2)
    x0[0, 0] = 0.0
    layer = nn.ActivityRegularization(l1=l1, l2=l2, reduction=reduction)
    x = nf.tensor(x0, requires_grad=True)
    y = layer(x)
    assert y is x
    div = 6 if reduction == "batchmean" else 1
    x64 = x0.astype(np.float64)
    hand = (l1 * np.abs(x64).sum() + l2 * (x64 ** 2).sum()) / div
    assert layer.penalty.dtype == np.float32 and layer.penalty.shape == ()
    assert layer.penalty.item() == pytest.approx(hand, rel=1e-6)
    loss = (y * nf.tensor(w)).sum() + layer.penalty
    loss.backward()
    xt = torch.from_numpy(x0.copy()).requires_grad_(True)
    lt = (xt * torch.from_numpy(w)).sum() + (l1 * xt.abs().sum() + l2 * xt.pow(2).sum()) / div
    lt.backward()
    assert loss.item() == pytest.approx(lt.item(), rel=1e-5)
    assert_close(x.grad, xt.grad, atol=1e-6, rtol=1e-5, what="input grad")


def test_activity_penalty_is_divided_by_the_batch_size():
    # the convention: the same rows give the same penalty whatever the batch size
    row = _rand((1, 8), 3)
    layer = nn.ActivityRegularization(l1=0.2, l2=0.1)
    layer(nf.tensor(row))
    one = layer.penalty.item()
    layer(nf.tensor(np.repeat(row, 16, axis=0)))
    assert layer.penalty.item() == pytest.approx(one, rel=1e-6)
    layer_sum = nn.ActivityRegularization(l1=0.2, l2=0.1, reduction="sum")
    layer_sum(nf.tensor(np.repeat(row, 16, axis=0)))
    assert layer_sum.penalty.item() == pytest.approx(16 * one, rel=1e-6)
    # empty batch: 0; a 0-d input: not divided
    layer(nf.tensor(np.zeros((0, 8), np.float32), requires_grad=True))
    assert layer.penalty.item() == 0.0
    layer(nf.tensor(-2.0))
    assert layer.penalty.item() == pytest.approx(0.2 * 2 + 0.1 * 4)


def test_activity_regularization_eval_and_no_grad():
    layer = nn.ActivityRegularization(l1=1.0)
    x = nf.tensor(_rand((3, 4)), requires_grad=True)
    layer(x)
    assert layer.penalty is not None and layer.penalty.requires_grad
    layer.eval()
    assert layer(x) is x and layer.penalty is None
    layer.train()
    with nf.no_grad():
        layer(x)
    assert not layer.penalty.requires_grad
    assert layer.penalty.item() == pytest.approx(float(np.abs(x.detach().numpy()).sum()) / 3, rel=1e-6)
    zero = nn.ActivityRegularization()
    zero(x)
    assert zero.penalty.item() == 0.0 and not zero.penalty.requires_grad
    assert repr(nn.ActivityRegularization(0.1, 0.2)) == "ActivityRegularization(l1=0.1, l2=0.2)"
    assert "reduction='sum'" in repr(nn.ActivityRegularization(reduction="sum"))
    assert layer.state_dict() == {}


def test_activity_penalty_sums_layers_of_a_model_and_is_zero_without_any():
    model = nn.Sequential(nn.Linear(4, 6), nn.ActivityRegularization(l1=0.1), nn.ReLU(),
                          nn.Linear(6, 3), nn.ActivityRegularization(l2=0.5))
    assert U.activity_penalty(model).item() == 0.0        # no forward yet
    x = nf.tensor(_rand((5, 4)))
    out = model(x)
    h1 = model[0](x).detach().numpy().astype(np.float64)
    hand = 0.1 * np.abs(h1).sum() / 5 + 0.5 * (out.detach().numpy().astype(np.float64) ** 2).sum() / 5
    total = U.activity_penalty(model)
    assert total.item() == pytest.approx(hand, rel=1e-5)
    assert total.requires_grad
    plain = nn.Sequential(nn.Linear(2, 2))
    z = U.activity_penalty(plain)
    assert z.item() == 0.0 and not z.requires_grad
    model.eval()
    model(x)
    assert U.activity_penalty(model).item() == 0.0


def test_activity_regularization_float64_finite_differences():
    x0 = _rand((4, 3), 5, np.float64)
    x0[1, 1] = 0.3   # keep away from |x| kinks
    layer = nn.ActivityRegularization(l1=0.3, l2=0.7)
    w = _rand((4, 3), 6, np.float64)

    def f(a):
        t = nf.tensor(a)
        y = layer(t)
        return float((y.detach().numpy() * w).sum() + layer.penalty.item())

    x = nf.tensor(x0.copy(), requires_grad=True)
    y = layer(x)
    assert layer.penalty.dtype == np.float64
    ((y * nf.tensor(w)).sum() + layer.penalty).backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), fd_grad(f, x0.copy()), atol=1e-7)


@pytest.mark.parametrize("kw,msg", [({"l1": -0.1}, "l1 must be a finite non-negative"),
                                    ({"l2": float("nan")}, "l2 must be a finite"),
                                    ({"reduction": "mean"}, "reduction must be")])
def test_activity_regularization_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        nn.ActivityRegularization(**kw)


def test_activity_regularization_bad_input():
    with pytest.raises(nf.DTypeError, match="ActivityRegularization.*int64"):
        nn.ActivityRegularization(l1=1.0)(nf.tensor(np.arange(3)))


def test_training_with_activity_regularization_matches_torch():
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(),
                                  torch.nn.Linear(16, 3))
    n_model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.ActivityRegularization(1e-2, 1e-2),
                            nn.Linear(16, 3))
    copy_weights(t_model, nn.Sequential(n_model[0], n_model[1], n_model[3]))
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.1)
    n_opt = optim.SGD(n_model.parameters(), lr=0.1)
    rng = np.random.default_rng(1)
    for _ in range(15):
        x = rng.standard_normal((10, 8)).astype(np.float32)
        y = rng.integers(0, 3, 10)
        xt = torch.from_numpy(x)
        h = t_model[1](t_model[0](xt))
        pen = (1e-2 * h.abs().sum() + 1e-2 * h.pow(2).sum()) / 10
        lt = torch.nn.functional.cross_entropy(t_model[2](h), torch.from_numpy(y)) + pen
        t_opt.zero_grad()
        lt.backward()
        t_opt.step()
        ln = nn.CrossEntropyLoss()(n_model(nf.tensor(x)), nf.tensor(y)) \
            + U.activity_penalty(n_model)
        n_opt.zero_grad()
        ln.backward()
        n_opt.step()
        assert ln.item() == pytest.approx(lt.item(), rel=1e-5)
    for k, v in t_model.state_dict().items():
        nk = {"0": "0", "2": "3"}[k.split(".")[0]] + "." + k.split(".")[1]
        assert_close(n_model.state_dict()[nk], v, atol=1e-5, rtol=1e-4, what=k)


# ============================================================ l1_penalty / l2_penalty

def _model():
    nf.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))


@pytest.mark.parametrize("kind", ["l1", "l2"])
@pytest.mark.parametrize("include_bias", [False, True])
def test_penalty_of_a_model_value_and_gradients_vs_torch(kind, include_bias):
    model = _model()
    fn = U.l1_penalty if kind == "l1" else U.l2_penalty
    pen = fn(model, weight=0.3, include_bias=include_bias)
    named = dict(model.named_parameters())
    used = [n for n in named if include_bias or not n.endswith("bias")]
    arrs = [named[n].detach().numpy().astype(np.float64) for n in used]
    hand = 0.3 * sum((np.abs(a).sum() if kind == "l1" else (a ** 2).sum()) for a in arrs)
    assert pen.dtype == np.float32 and pen.shape == ()
    assert pen.item() == pytest.approx(hand, rel=1e-6)
    pen.backward()
    for n, p in named.items():
        tp = torch.from_numpy(p.detach().numpy().copy()).requires_grad_(True)
        tv = 0.3 * (tp.abs().sum() if kind == "l1" else tp.pow(2).sum())
        tv.backward()
        if n in used:
            assert_close(p.grad, tp.grad, atol=1e-7, rtol=1e-6, what=n)
        else:
            assert p.grad is None, n


def test_penalty_parameter_selection_forms():
    model = _model()
    ws = [model[0].weight, model[2].weight]
    by_model = U.l2_penalty(model).item()
    assert U.l2_penalty(ws).item() == pytest.approx(by_model, rel=1e-7)
    assert U.l2_penalty(model.named_parameters()).item() == pytest.approx(by_model, rel=1e-7)
    assert U.l2_penalty(model.parameters()).item() == pytest.approx(
        U.l2_penalty(model, include_bias=True).item(), rel=1e-7)
    w = model[0].weight
    assert U.l1_penalty(w, 2.0).item() == pytest.approx(
        2.0 * float(np.abs(w.detach().numpy().astype(np.float64)).sum()), rel=1e-6)
    # RNN-style names count as biases
    assert U._is_bias("rnn.bias_ih_l0") and U._is_bias("bias") and not U._is_bias("biased.w")
    empty = U.l1_penalty([])
    assert empty.item() == 0.0 and not empty.requires_grad
    # a parameter listed twice counts twice, gradients too
    w.grad = None
    U.l1_penalty([w, w]).backward()
    np.testing.assert_array_equal(w.grad.detach().numpy(), 2 * np.sign(w.detach().numpy()))


def test_penalty_gradients_accumulate_with_the_loss_and_into_flat_buffers():
    model = _model()
    opt = optim.SGD(model.parameters(), lr=0.1)   # flat gradient buffers
    x = nf.tensor(_rand((3, 5)))
    opt.zero_grad()
    loss = model(x).sum()
    loss.backward()
    g_loss = [p.grad.detach().numpy().copy() for p in model.parameters()]
    opt.zero_grad()
    (model(x).sum() + U.l2_penalty(model, 0.25)).backward()
    for (n, p), gl in zip(model.named_parameters(), g_loss):
        extra = 0.5 * p.detach().numpy() if n.endswith("weight") else 0.0
        np.testing.assert_allclose(p.grad.detach().numpy(), gl + extra, rtol=1e-6, atol=1e-7)


def test_l2_penalty_equals_weight_decay():
    """SGD on loss + l2_penalty(model, wd/2, include_bias=True) == SGD(weight_decay=wd)."""
    wd = 0.05
    m1, m2 = _model(), _model()
    o1 = optim.SGD(m1.parameters(), lr=0.1, weight_decay=wd)
    o2 = optim.SGD(m2.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = nf.tensor(rng.standard_normal((4, 5)).astype(np.float32))
        o1.zero_grad()
        (m1(x) ** 2).mean().backward()
        o1.step()
        o2.zero_grad()
        ((m2(x) ** 2).mean() + U.l2_penalty(m2, wd / 2, include_bias=True)).backward()
        o2.step()
    for (n, a), b in zip(m1.named_parameters(), m2.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("kind", ["l1", "l2"])
def test_penalty_float64_finite_differences(kind):
    w0 = _rand((4, 3), 7, np.float64)
    b0 = _rand(3, 8, np.float64)
    fn = U.l1_penalty if kind == "l1" else U.l2_penalty

    def f(a):
        return fn([nf.tensor(a), nf.tensor(b0)], 0.7).item()

    w = nf.tensor(w0.copy(), requires_grad=True)
    b = nf.tensor(b0.copy(), requires_grad=False)
    pen = fn([w, b], 0.7)
    assert pen.dtype == np.float64
    pen.backward()
    assert b.grad is None
    np.testing.assert_allclose(w.grad.detach().numpy(), fd_grad(f, w0.copy()), atol=1e-7)


def test_penalty_bad_arguments():
    model = _model()
    with pytest.raises(ValueError, match="l1_penalty: weight must be a finite non-negative"):
        U.l1_penalty(model, -1.0)
    with pytest.raises(ValueError, match="l2_penalty: weight"):
        U.l2_penalty(model, float("inf"))
    with pytest.raises(TypeError, match="l2_penalty: expected a Module.*got an item of type"):
        U.l2_penalty([1.0, 2.0])


def test_public_names():
    for name in ("l1_penalty", "l2_penalty", "activity_penalty"):
        assert name in U.__all__ and callable(getattr(nn.utils, name))
    assert nn.ActivityRegularization is not None and "ActivityRegularization" in dir(nn)
