"""Linear / F.linear: forward and every gradient against torch over batch and feature sizes,
3-D inputs, float64 finite differences, hypothesis over shapes, and the compiled float32
path held equal to the NumPy float64 reference path."""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import nn
from nnfast.nn import functional as F
from helpers import assert_close, copy_weights, fd_grad

F32 = np.float32
F64 = np.float64


def twins(in_f, out_f, bias=True, seed=0, dtype=F32):
    torch.manual_seed(seed)
    t = torch.nn.Linear(in_f, out_f, bias=bias)
    n = nn.Linear(in_f, out_f, bias=bias)
    if dtype == F64:
        t.double()
        n.double()
    copy_weights(t, n)
    return t, n


def compare(t, n, x, atol=1e-5, rtol=1e-4, seed=1):
    """Forward and all gradients (input, weight, bias) of t and n on x."""
    xt = torch.tensor(x, requires_grad=True)
    xn = nf.tensor(x, requires_grad=True)
    yt, yn = t(xt), n(xn)
    assert yn.dtype == x.dtype
    assert_close(yn, yt, atol, rtol, "forward")
    up = np.random.default_rng(seed).standard_normal(tuple(yt.shape)).astype(x.dtype)
    yt.backward(torch.from_numpy(up.copy()))
    yn.backward(nf.tensor(up))
    assert_close(xn.grad, xt.grad, atol, rtol, "dx")
    assert_close(n.weight.grad, t.weight.grad, atol, rtol, "dW")
    if t.bias is not None:
        assert_close(n.bias.grad, t.bias.grad, atol, rtol, "db")
    return yn


@pytest.mark.parametrize("batch", [0, 1, 7, 64])
@pytest.mark.parametrize("in_f", [1, 3, 17, 64])
@pytest.mark.parametrize("out_f", [1, 3, 17, 64])
def test_linear_matches_torch_grid(batch, in_f, out_f):
    t, n = twins(in_f, out_f, seed=batch * 1000 + in_f * 10 + out_f)
    x = np.random.default_rng(batch + in_f + out_f).standard_normal((batch, in_f)).astype(F32)
    compare(t, n, x)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(2, 5, 6), (1, 1, 6), (3, 0, 6), (2, 3, 4, 6), (6,)])
def test_linear_nd_inputs(shape, bias):
    t, n = twins(6, 5, bias=bias)
    x = np.random.default_rng(2).standard_normal(shape).astype(F32)
    y = compare(t, n, x)
    assert y.shape == shape[:-1] + (5,)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_float64_matches_torch(bias):
    t, n = twins(5, 4, bias=bias, dtype=F64)
    x = np.random.default_rng(3).standard_normal((6, 5))
    compare(t, n, x, atol=1e-12, rtol=1e-12)


def test_linear_float64_finite_differences():
    t, n = twins(4, 3, dtype=F64)
    rng = np.random.default_rng(4)
    x0 = rng.standard_normal((2, 3, 4))
    c = rng.standard_normal((2, 3, 3))   # a fixed non-uniform weighting of the outputs

    def loss_x(a):
        return float((n(nf.tensor(a)).detach().numpy() * c).sum())

    def loss_w(w):
        return float((F.linear(nf.tensor(x0), nf.tensor(w), n.bias).detach().numpy() * c).sum())

    def loss_b(b):
        return float((F.linear(nf.tensor(x0), n.weight, nf.tensor(b)).detach().numpy() * c).sum())

    xn = nf.tensor(x0.copy(), requires_grad=True)
    (n(xn) * nf.tensor(c)).sum().backward()
    np.testing.assert_allclose(xn.grad.detach().numpy(), fd_grad(loss_x, x0.copy()), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(n.weight.grad.detach().numpy(), fd_grad(loss_w, n.weight.detach().numpy().copy()),
                               rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(n.bias.grad.detach().numpy(), fd_grad(loss_b, n.bias.detach().numpy().copy()),
                               rtol=1e-7, atol=1e-9)


def test_compiled_path_equals_numpy_float64_path():
    rng = np.random.default_rng(5)
    for (m, k, nout) in [(1, 1, 1), (7, 17, 3), (33, 9, 65), (0, 5, 4), (5, 64, 1)]:
        w = rng.standard_normal((nout, k))
        b = rng.standard_normal(nout)
        x = rng.standard_normal((m, k))
        up = rng.standard_normal((m, nout))
        res = {}
        for dt in (F32, F64):
            xn = nf.tensor(x.astype(dt), requires_grad=True)
            wn = nn.Parameter(w.astype(dt))
            bn = nn.Parameter(b.astype(dt))
            y = F.linear(xn, wn, bn)
            y.backward(nf.tensor(up.astype(dt)))
            res[dt] = (y.detach().numpy(), xn.grad.detach().numpy(), wn.grad.detach().numpy(), bn.grad.detach().numpy())
            assert all(r.dtype == dt for r in res[dt])
        for name, a32, a64 in zip(("y", "dx", "dW", "db"), res[F32], res[F64]):
            np.testing.assert_allclose(a32, a64, atol=1e-4, rtol=1e-4, err_msg=f"{name} {m, k, nout}")
        # the float64 path is the plain math
        np.testing.assert_allclose(res[F64][0], x @ w.T + b, atol=1e-12)
        np.testing.assert_allclose(res[F64][2], up.T @ x, atol=1e-12)


def test_compiled_kernels_equal_reference_loops():
    """The float32 GEMM entry point equals its plain reference (and NumPy) for all transposes."""
    from nnfast import _C
    rng = np.random.default_rng(6)
    for (m, nn_, k) in [(1, 1, 1), (5, 7, 3), (17, 9, 33), (4, 4, 0)]:
        for ta in (False, True):
            for tb in (False, True):
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(F32)
                b = rng.standard_normal((nn_, k) if tb else (k, nn_)).astype(F32)
                c0 = rng.standard_normal((m, nn_)).astype(F32)
                fast, ref = c0.copy(), c0.copy()
                _C.sgemm(ta, tb, 0.5, a, b, 2.0, fast)
                _C.sgemm(ta, tb, 0.5, a, b, 2.0, ref, reference=True)
                expect = 0.5 * (a.T if ta else a).astype(F64) @ (b.T if tb else b).astype(F64) \
                    + 2.0 * c0
                np.testing.assert_allclose(fast, ref, atol=1e-5, rtol=1e-5)
                np.testing.assert_allclose(fast, expect, atol=1e-4, rtol=1e-4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lead=st.lists(st.integers(0, 5), min_size=0, max_size=2),
       in_f=st.integers(1, 20), out_f=st.integers(1, 20), bias=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_linear_hypothesis_shapes(lead, in_f, out_f, bias, seed):
    t, n = twins(in_f, out_f, bias=bias, seed=seed)
    x = np.random.default_rng(seed).standard_normal(tuple(lead) + (in_f,)).astype(F32)
    compare(t, n, x, seed=seed)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(0, 12), k=st.integers(1, 12), nout=st.integers(1, 12),
       seed=st.integers(0, 2 ** 16))
def test_linear_hypothesis_float32_vs_float64(m, k, nout, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, k))
    w = rng.standard_normal((nout, k))
    b = rng.standard_normal(nout)
    y32 = F.linear(nf.tensor(x.astype(F32)), nf.tensor(w.astype(F32)), nf.tensor(b.astype(F32)))
    y64 = F.linear(nf.tensor(x), nf.tensor(w), nf.tensor(b))
    np.testing.assert_allclose(y32.detach().numpy(), y64.detach().numpy(), atol=1e-4, rtol=1e-4)


def test_functional_linear_matches_torch_and_accepts_arrays():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4)).astype(F32)
    w = rng.standard_normal((2, 4)).astype(F32)
    b = rng.standard_normal(2).astype(F32)
    yt = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b))
    assert_close(F.linear(nf.tensor(x), nf.tensor(w), nf.tensor(b)), yt)
    assert_close(F.linear(x, nf.tensor(w), nf.tensor(b)), yt)
    assert_close(F.linear(nf.tensor(x), nf.tensor(w)), torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w)))
    with pytest.raises(TypeError, match="linear"):
        F.linear([[1.0] * 4], nf.tensor(w))


def test_functional_linear_non_contiguous_weight_and_bias():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4)).astype(F32)
    wbig = rng.standard_normal((4, 6)).astype(F32)
    bbig = rng.standard_normal(6).astype(F32)
    wn = nf.tensor(wbig, requires_grad=True)
    bn = nf.tensor(bbig, requires_grad=True)
    wt = torch.tensor(wbig, requires_grad=True)
    bt = torch.tensor(bbig, requires_grad=True)
    yn = F.linear(nf.tensor(x), wn.T[::2], bn[::2])       # (3, 4) weight view, strided bias
    yt = torch.nn.functional.linear(torch.from_numpy(x), wt.T[::2], bt[::2])
    assert_close(yn, yt)
    yn.sum().backward()
    yt.sum().backward()
    assert_close(wn.grad, wt.grad)
    assert_close(bn.grad, bt.grad)


def test_functional_linear_validation():
    w = nf.zeros(3, 4)
    with pytest.raises(nf.ShapeError, match="2-D"):
        F.linear(nf.zeros(2, 4), nf.zeros(12))
    with pytest.raises(nf.ShapeError, match="bias"):
        F.linear(nf.zeros(2, 4), w, nf.zeros(4))
    with pytest.raises(nf.DTypeError):
        F.linear(nf.zeros(2, 4), w, nf.zeros(3, dtype=nf.float64))
    with pytest.raises(nf.ShapeError, match=r"\(2, 5\)"):
        F.linear(nf.zeros(2, 5), w)


def test_linear_constructor_and_repr():
    lin = nn.Linear(3, 2)
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (2,)
    assert lin.weight.dtype == F32
    assert nn.Linear(3, 2, dtype=nf.float64).weight.dtype == F64
    assert repr(lin) == repr(torch.nn.Linear(3, 2))
    assert lin.in_features == 3 and lin.out_features == 2
    with pytest.raises(ValueError):
        nn.Linear(-1, 2)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_linear_zero_out_features_and_empty_batch_backward():
    t, n = twins(3, 0)
    x = np.random.default_rng(9).standard_normal((4, 3)).astype(F32)
    compare(t, n, x)
    t, n = twins(3, 2)
    compare(t, n, np.zeros((0, 3), F32))
    np.testing.assert_array_equal(n.weight.grad.detach().numpy(), 0)


def test_identity_and_flatten():
    x = nf.randn(2, 3, 4, requires_grad=True)
    assert nn.Identity(5, foo=1)(x) is x
    y = nn.Flatten()(x)
    assert y.shape == tuple(torch.nn.Flatten()(torch.zeros(2, 3, 4)).shape)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), 1)
