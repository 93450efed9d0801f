"""GroupNorm / F.group_norm against torch 2.13 (float32 kernel of csrc/norm_group.c, float64
NumPy reference, finite differences), the module's parameters, init and printing, the
functional signatures of layer_norm / batch_norm, and bad input."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnfast as nf
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import functional as F
from helpers import assert_close, check_op, copy_weights, fd_grad

CASES = [
    ((2, 6, 5, 4), 3, True),
    ((2, 6, 5, 4), 1, True),        # one group: LayerNorm over (C, H, W)
    ((2, 6, 5, 4), 6, True),        # one channel per group: InstanceNorm
    ((3, 8, 37), 4, True),          # 3-D input, odd spatial size
    ((4, 6), 2, True),              # (N, C)
    ((2, 4, 3, 2, 2), 2, True),     # 5-D
    ((1, 4, 1), 2, False),          # tiny groups
    ((3, 8, 20, 20), 8, True),      # big enough to take the threaded paths
]


@pytest.mark.parametrize("shape,G,affine", CASES, ids=[str(c) for c in CASES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_group_norm_matches_torch(shape, G, affine, dtype):
    C = shape[1]
    shapes = [shape] + ([(C,), (C,)] if affine else [])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    check_op(shapes, lambda x, w=None, b=None: TF.group_norm(x, G, w, b, eps=1e-4),
             lambda x, w=None, b=None: F.group_norm(x, G, w, b, eps=1e-4), atol=tol,
             rtol=tol, dtype=dtype)


def test_group_norm_shifted_data_at_least_as_exact_as_torch():
    """Mean 100, spread 0.01: badly conditioned in float32. Held to torch in float64 on the
    same data, the kernel's error is no larger than torch's own float32 error."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 6, 7)) * 0.01 + 100).astype(np.float32)
    w = rng.standard_normal(6).astype(np.float32)
    up = rng.standard_normal((3, 6, 7)).astype(np.float32)

    def torch_run(dt):
        tx = torch.tensor(x.astype(dt), requires_grad=True)
        y = TF.group_norm(tx, 2, torch.tensor(w.astype(dt)))
        y.backward(torch.tensor(up.astype(dt)))
        return y.detach().numpy(), tx.grad.numpy()

    y64, g64 = torch_run(np.float64)
    y32, g32 = torch_run(np.float32)
    nx = nf.tensor(x, requires_grad=True)
    y = F.group_norm(nx, 2, nf.tensor(w))
    y.backward(nf.tensor(up))
    assert np.abs(y.detach().numpy() - y64).max() <= np.abs(y32 - y64).max()
    assert np.abs(nx.grad.numpy() - g64).max() <= np.abs(g32 - g64).max()


def test_group_norm_finite_differences_float64():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 4, 3))
    w = rng.standard_normal(4)
    b = rng.standard_normal(4)
    up = rng.standard_normal((2, 4, 3))

    def f(xv):
        return float((F.group_norm(nf.tensor(xv), 2, nf.tensor(w), nf.tensor(b)).numpy()
                      * up).sum())

    nx = nf.tensor(x, requires_grad=True)
    (F.group_norm(nx, 2, nf.tensor(w), nf.tensor(b)) * nf.tensor(up)).sum().backward()
    np.testing.assert_allclose(nx.grad.numpy(), fd_grad(f, x.copy()), atol=1e-7)


def test_group_norm_kernel_matches_reference():
    """The float32 kernel and the float64 NumPy reference agree on the same data."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 11)).astype(np.float32)
    w = rng.standard_normal(8).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    y32 = F.group_norm(nf.tensor(x), 4, nf.tensor(w), nf.tensor(b)).numpy()
    y64 = F.group_norm(nf.tensor(x.astype(np.float64)), 4, nf.tensor(w.astype(np.float64)),
                       nf.tensor(b.astype(np.float64))).numpy()
    np.testing.assert_allclose(y32, y64, atol=1e-5)


def test_group_norm_module_matches_torch():
    t = torch.nn.GroupNorm(3, 6, eps=1e-3)
    m = nn.GroupNorm(3, 6, eps=1e-3)
    assert repr(m) == repr(t)
    assert set(m.state_dict()) == set(t.state_dict()) == {"weight", "bias"}
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones(6, np.float32))
    np.testing.assert_array_equal(m.bias.detach().numpy(), np.zeros(6, np.float32))
    with torch.no_grad():
        t.weight.uniform_(-1, 1)
        t.bias.uniform_(-1, 1)
    copy_weights(t, m)
    x = np.random.default_rng(0).standard_normal((4, 6, 5, 3)).astype(np.float32)
    nx, tx = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = m(nx), t(tx)
    assert_close(yn, yt, atol=1e-5)
    yn.pow(2).sum().backward()
    yt.pow(2).sum().backward()
    assert_close(nx.grad, tx.grad, atol=1e-4)
    assert_close(m.weight.grad, t.weight.grad, atol=1e-3)
    assert_close(m.bias.grad, t.bias.grad, atol=1e-3)
    for kw in (dict(affine=False), dict(bias=False)):
        a, b = nn.GroupNorm(2, 4, **kw), torch.nn.GroupNorm(2, 4, **kw)
        assert repr(a) == repr(b)
        assert set(a.state_dict()) == set(b.state_dict())
    assert nn.GroupNorm(2, 4, dtype=np.float64).weight.dtype == np.float64


def test_group_norm_bad_input():
    with pytest.raises(ValueError, match=r"num_channels \(4\) must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ShapeError, match="divisible by num_groups"):
        F.group_norm(nf.randn(2, 6, 4), 4)
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        F.group_norm(nf.randn(4), 2)
    with pytest.raises(ShapeError, match="weight should contain 4 elements"):
        F.group_norm(nf.randn(2, 4, 3), 2, nf.randn(3))
    with pytest.raises(ShapeError, match="expected input with 4 channels"):
        nn.GroupNorm(2, 4)(nf.randn(2, 6, 3))
    with pytest.raises(DTypeError):
        F.group_norm(nf.tensor(np.ones((2, 4), np.int64)), 2)
    with pytest.raises(DTypeError, match="weight"):
        F.group_norm(nf.randn(2, 4, 3), 2, nf.randn(4).double())
    with pytest.raises(ValueError, match="num_groups"):
        F.group_norm(nf.randn(2, 4, 3), 0)


def test_functional_norm_signatures_as_torch():
    for name in ("layer_norm", "batch_norm", "group_norm"):
        ours = [p for p in inspect.signature(getattr(F, name)).parameters
                if not p.startswith("_")]
        theirs = list(inspect.signature(getattr(TF, name)).parameters)
        assert ours == theirs, name
        for p in ours:
            d0 = inspect.signature(getattr(F, name)).parameters[p].default
            d1 = inspect.signature(getattr(TF, name)).parameters[p].default
            assert d0 == d1 or (d0 is inspect.Parameter.empty and d1 is inspect.Parameter.empty)


def test_group_norm_kernel_checks_sizes():
    from nnfast import _C
    x = np.zeros(2 * 4 * 3, np.float32)
    out = np.empty_like(x)
    m, r = np.empty(4, np.float32), np.empty(4, np.float32)
    _C.group_norm_forward(out, m, r, x, None, None, 2, 4, 3, 2, 1e-5)   # fits
    with pytest.raises(ValueError, match="bad sizes"):
        _C.group_norm_forward(out, m, r, x, None, None, 2, 4, 3, 3, 1e-5)
    with pytest.raises(ValueError, match="x has"):
        _C.group_norm_forward(out, m, r, x[:-1], None, None, 2, 4, 3, 2, 1e-5)
    with pytest.raises(ValueError, match="weight has"):
        _C.group_norm_forward(out, m, r, x, np.ones(3, np.float32), None, 2, 4, 3, 2, 1e-5)
    with pytest.raises(ValueError, match="workspace"):
        _C.group_norm_backward(out, None, None, np.empty(3), x, x, m, r, None, 2, 4, 3, 2)
