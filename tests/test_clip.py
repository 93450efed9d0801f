"""nn.utils.clip_grad_norm_ / clip_grad_value_ against torch, and the C clipping helpers."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import nnfast as nf
from nnfast import _C
from nnfast.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(7, 5), (7,), (3, 7), (3,), (1,), (33,)]


def make_params(seed=0, scale=1.0, shapes=SHAPES, none=()):
    """Twin parameter lists (nnfast, torch) with equal random gradients; indices in `none`
    get no gradient."""
    rng = np.random.default_rng(seed)
    nps, tps = [], []
    for i, s in enumerate(shapes):
        w = rng.standard_normal(s).astype(np.float32)
        p, tp = nf.nn.Parameter(w.copy()), torch.nn.Parameter(torch.from_numpy(w.copy()))
        if i not in none:
            g = (rng.standard_normal(s) * scale).astype(np.float32)
            p.grad = nf.tensor(g.copy())
            tp.grad = torch.from_numpy(g.copy())
        nps.append(p)
        tps.append(tp)
    return nps, tps


def assert_grads(nps, tps, atol=1e-6, rtol=1e-5):
    for p, tp in zip(nps, tps):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), atol=atol, rtol=rtol)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3.0, 0.5, "inf", -math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 1e4])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    nps, tps = make_params(none=(2,))
    n = clip_grad_norm_(nps, max_norm, norm_type=norm_type)
    t = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(n, nf.Tensor) and n.shape == () and n.dtype == np.float32
    np.testing.assert_allclose(n.item(), t.item(), rtol=1e-5)
    assert_grads(nps, tps)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_on_optimizer_flat_buffers(norm_type):
    # gradients living in an optimizer's flat buffer are clipped as one span
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.Linear(9, 2))
    nm = nf.nn.Sequential(nf.nn.Linear(6, 9), nf.nn.Linear(9, 2))
    nm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    opt = nf.optim.SGD(nm.parameters(), lr=0.1)
    x = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    ((tm(torch.from_numpy(x)) ** 2).sum() * 10).backward()
    ((nm(nf.tensor(x)) ** 2).sum() * 10).backward()
    for p in nm.parameters():
        assert p.grad.detach().numpy().base is opt._flat[0].grad
    n = clip_grad_norm_(nm.parameters(), 0.5, norm_type)
    t = torch.nn.utils.clip_grad_norm_(tm.parameters(), 0.5, norm_type)
    np.testing.assert_allclose(n.item(), t.item(), rtol=1e-5)
    assert_grads(list(nm.parameters()), list(tm.parameters()))
    total = n.item()
    assert total > 0.5   # really clipped
    np.testing.assert_allclose(nf.nn.utils.get_total_norm(
        [p.grad for p in nm.parameters()], norm_type).item(), 0.5, rtol=1e-4)


def test_clip_grad_norm_single_tensor_and_generator():
    nps, tps = make_params(seed=3, scale=5.0)
    n = clip_grad_norm_(nps[0], 1.0)
    t = torch.nn.utils.clip_grad_norm_(tps[0], 1.0)
    np.testing.assert_allclose(n.item(), t.item(), rtol=1e-5)
    n = clip_grad_norm_((p for p in nps[1:]), 1.0)
    t = torch.nn.utils.clip_grad_norm_((p for p in tps[1:]), 1.0)
    np.testing.assert_allclose(n.item(), t.item(), rtol=1e-5)
    assert_grads(nps, tps)


def test_clip_grad_norm_no_grads():
    nps, tps = make_params(none=tuple(range(len(SHAPES))))
    n = clip_grad_norm_(nps, 1.0)
    t = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert n.item() == t.item() == 0.0


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_nonfinite(norm_type):
    for bad in (np.nan, np.inf):
        nps, tps = make_params()
        nps[1].grad.detach().numpy()[0] = bad
        tps[1].grad[0] = bad
        with pytest.raises(RuntimeError, match="non-finite"):
            clip_grad_norm_(nps, 1.0, norm_type, error_if_nonfinite=True)
        with pytest.raises(RuntimeError):
            torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type, error_if_nonfinite=True)
        n = clip_grad_norm_(nps, 1.0, norm_type)
        t = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type)
        assert (math.isnan(n.item()) and math.isnan(t.item())) or n.item() == t.item()
        for p, tp in zip(nps, tps):
            np.testing.assert_array_equal(np.isnan(p.grad.detach().numpy()), np.isnan(tp.grad.numpy()))


def test_clip_grad_norm_float64_grads():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((4, 3)) * 3
    p = nf.nn.Parameter(np.zeros((4, 3)))
    p.grad = nf.tensor(g.copy())
    tp = torch.nn.Parameter(torch.zeros(4, 3, dtype=torch.float64))
    tp.grad = torch.from_numpy(g.copy())
    n = clip_grad_norm_([p], 1.0)
    t = torch.nn.utils.clip_grad_norm_([tp], 1.0)
    assert n.dtype == np.float64
    np.testing.assert_allclose(n.item(), t.item(), rtol=1e-12)
    np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 1.0, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    nps, tps = make_params(seed=2, none=(1,))
    nps[0].grad.detach().numpy()[0, 0] = np.nan
    tps[0].grad[0, 0] = float("nan")
    assert clip_grad_value_(nps, clip_value) is None
    torch.nn.utils.clip_grad_value_(tps, clip_value)
    for p, tp in zip(nps, tps):
        if tp.grad is not None:
            np.testing.assert_array_equal(p.grad.detach().numpy(), tp.grad.numpy())


def test_clip_grad_value_on_flat_buffer_single_tensor():
    m = nf.nn.Linear(4, 3)
    opt = nf.optim.Adam(m.parameters())
    (m(nf.tensor(np.full((2, 4), 5.0, np.float32))) ** 2).sum().backward()
    before = {id(p): p.grad.detach().numpy().copy() for p in m.parameters()}
    clip_grad_value_(m.weight, 0.25)
    np.testing.assert_array_equal(m.weight.grad.detach().numpy(), np.clip(before[id(m.weight)], -.25, .25))
    np.testing.assert_array_equal(m.bias.grad.detach().numpy(), before[id(m.bias)])  # untouched
    assert m.weight.grad.detach().numpy().base is opt._flat[0].grad


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 300), seed=st.integers(0, 2 ** 16))
def test_c_helpers_match_numpy(n, seed):
    x = np.random.default_rng(seed).standard_normal(n).astype(np.float32) * 3
    np.testing.assert_allclose(_C.sumsq(x), np.sum(x.astype(np.float64) ** 2), rtol=1e-12)
    assert _C.maxabs(x) == (np.abs(x).max() if n else 0.0)
    y = x.copy()
    _C.scale_(y, 0.37)
    np.testing.assert_array_equal(y, x * np.float32(0.37))
    y = x.copy()
    _C.clamp_(y, -0.5, 0.75)
    np.testing.assert_array_equal(y, np.clip(x, np.float32(-0.5), np.float32(0.75)))


def test_maxabs_propagates_nan():
    x = np.ones(20, np.float32)
    x[13] = np.nan
    assert math.isnan(_C.maxabs(x))
