"""The tape: accumulation, graph shapes (diamonds, sharing), grad modes, error cases,
retain_grad/detach, deep graphs, and the grad_sink contract Linear relies on."""
import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn
from nnfast.nn import functional as F
from helpers import assert_close, copy_weights

F32 = np.float32


def pair(shape, seed=0, dtype=F32, low=-1.0, high=1.0):
    """The same random leaf as an nnfast and a torch tensor, both requiring grad."""
    a = np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)
    return nf.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


# ============================================================= accumulation

def test_two_backward_calls_accumulate_like_torch():
    xn, xt = pair((3, 4))
    for _ in range(2):
        (xn * xn * 3).sum().backward()
        (xt * xt * 3).sum().backward()
    assert_close(xn.grad, xt.grad)
    np.testing.assert_allclose(xn.grad.detach().numpy(), 2 * 6 * xn.detach().numpy(), rtol=1e-6)


def test_backward_twice_on_the_same_graph_accumulates():
    xn, xt = pair((5,))
    yn = (xn.exp() * xn).sum()
    yt = (xt.exp() * xt).sum()
    yn.backward()
    yn.backward()
    yt.backward(retain_graph=True)
    yt.backward()
    assert_close(xn.grad, xt.grad)


def test_grad_object_is_kept_and_added_in_place():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).sum().backward()
    g = x.grad
    (x * 3).sum().backward()
    assert x.grad is g
    np.testing.assert_allclose(g.detach().numpy(), [5, 5])
    assert x.grad.dtype == F32 and not x.grad.requires_grad


def test_grad_dtype_follows_leaf_and_float64_graph():
    x = nf.tensor([1.0, 2.0], dtype=nf.float64, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == np.float64


# ============================================================= graph shapes

def test_diamond_graph():
    def f(m, x):
        a = x * 2
        b = a.exp()
        c = a * a
        d = b + c          # two paths from a
        return (d * a).sum() + (x / (1 + a.abs())).sum()
    xn, xt = pair((3, 3), seed=1)
    f(nf, xn).backward()
    f(torch, xt).backward()
    assert_close(xn.grad, xt.grad)


def test_leaf_used_many_times():
    xn, xt = pair((4,), seed=2)
    yn = xn + xn * xn - xn / 2 + xn[[0, 0, 1]].sum() + (xn @ xn)
    yt = xt + xt * xt - xt / 2 + xt[[0, 0, 1]].sum() + (xt @ xt)
    up = np.arange(4, dtype=F32)
    yn.backward(nf.tensor(up))
    yt.backward(torch.from_numpy(up))
    assert_close(xn.grad, xt.grad)


def test_shared_intermediate_used_by_many_consumers():
    xn, xt = pair((2, 3), seed=3)
    for mod, x in ((nf, xn), (torch, xt)):
        h = x.exp()
        outs = [h * i for i in range(1, 6)] + [h.sum(0), h.T, h.reshape(-1)]
        total = sum(o.sum() for o in outs)
        total.backward()
    assert_close(xn.grad, xt.grad)


def test_leaf_shared_by_two_linear_layers_weight_sharing():
    tl1, tl2 = torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)
    tl2.weight = tl1.weight
    nl1, nl2 = nn.Linear(4, 4), nn.Linear(4, 4)
    copy_weights(tl1, nl1)
    nl2.bias.detach().numpy()[...] = tl2.bias.detach().numpy()
    nl2.weight = nl1.weight
    x = np.random.default_rng(4).standard_normal((5, 4)).astype(F32)
    tn, tt = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn = nl2(nl1(tn) * 2) + nl1(tn)     # the weight is used three times
    yt = tl2(tl1(tt) * 2) + tl1(tt)
    assert_close(yn, yt)
    up = np.random.default_rng(5).standard_normal((5, 4)).astype(F32)
    yn.backward(nf.tensor(up))
    yt.backward(torch.from_numpy(up))
    assert_close(nl1.weight.grad, tl1.weight.grad, what="shared weight")
    assert_close(nl1.bias.grad, tl1.bias.grad, what="bias 1")
    assert_close(nl2.bias.grad, tl2.bias.grad, what="bias 2")
    assert_close(tn.grad, tt.grad, what="input")


def test_same_linear_applied_twice_and_regularised():
    tl, nl = torch.nn.Linear(3, 3), nn.Linear(3, 3)
    copy_weights(tl, nl)
    x = np.random.default_rng(6).standard_normal((4, 3)).astype(F32)
    yn = nl(nl(nf.tensor(x))).sum() + (nl.weight ** 2).sum() * 0.1
    yt = tl(tl(torch.from_numpy(x))).sum() + (tl.weight ** 2).sum() * 0.1
    yn.backward()
    yt.backward()
    assert_close(nl.weight.grad, tl.weight.grad)
    assert_close(nl.bias.grad, tl.bias.grad)


# ============================================================= grad modes

def test_no_grad_context():
    x = nf.tensor([1.0], requires_grad=True)
    with nf.no_grad():
        assert not nf.is_grad_enabled()
        y = x * 2
        with nf.enable_grad():
            z = x * 2
            assert nf.is_grad_enabled()
        assert not nf.is_grad_enabled()
    assert nf.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_restores_on_exception():
    with pytest.raises(KeyError):
        with nf.no_grad():
            raise KeyError
    assert nf.is_grad_enabled()


def test_grad_mode_decorators():
    x = nf.tensor([1.0], requires_grad=True)

    @nf.no_grad()
    def f1():
        return x * 2

    @nf.no_grad
    def f2():
        return x * 2

    @nf.enable_grad()
    def g1():
        return x * 2

    @nf.enable_grad
    def g2():
        return x * 2

    @nf.set_grad_enabled(False)
    def h():
        return x * 2

    assert nf.is_grad_enabled(), "decorating must not change the mode"
    assert not f1().requires_grad and not f2().requires_grad and not h().requires_grad
    assert nf.is_grad_enabled()
    with nf.no_grad():
        assert g1().requires_grad and g2().requires_grad
        assert not nf.is_grad_enabled()
    assert f1.__name__ == "f1"


def test_set_grad_enabled_call_and_context():
    x = nf.tensor([1.0], requires_grad=True)
    with nf.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with nf.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not nf.is_grad_enabled()
    assert nf.is_grad_enabled()
    nf.set_grad_enabled(False)
    try:
        assert not nf.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        nf.set_grad_enabled(True)
    assert nf.is_grad_enabled()


def test_no_grad_linear_records_nothing():
    lin = nn.Linear(3, 2)
    with nf.no_grad():
        y = lin(nf.randn(4, 3, requires_grad=True))
    assert not y.requires_grad and y.grad_fn is None


# ============================================================= errors

def test_backward_non_scalar_without_gradient_raises():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2).backward()


def test_backward_on_tensor_not_requiring_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nf.tensor([1.0]).sum().backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        (nf.tensor([1.0], requires_grad=True).detach() * 2).sum().backward()


def test_backward_gradient_wrong_shape_raises():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(nf.ShapeError, match="shape"):
        (x * 2).backward(nf.tensor([1.0, 2.0, 3.0]))


def test_backward_does_not_mutate_upstream_gradient():
    x = nf.tensor(np.ones((2, 3), F32), requires_grad=True)
    up = np.full((2, 3), 2.0, F32)
    keep = up.copy()
    (x + x).backward(up)
    (x * 1.0 + x).backward(up)
    np.testing.assert_array_equal(up, keep)
    np.testing.assert_allclose(x.grad.detach().numpy(), 8.0)


def test_leaf_backward_directly():
    x = nf.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


# ============================================================= retain_grad, detach

def test_retain_grad_on_intermediate():
    xn, xt = pair((3,), seed=7)
    hn, ht = xn * 3, xt * 3
    hn.retain_grad()
    ht.retain_grad()
    other_n, other_t = hn.exp(), ht.exp()
    (other_n * hn).sum().backward()
    (other_t * ht).sum().backward()
    assert_close(hn.grad, ht.grad)
    assert_close(xn.grad, xt.grad)
    assert other_n.grad is None  # not retained


def test_retain_grad_on_root():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum()
    y.retain_grad()
    y.backward()
    assert y.grad.item() == 1.0


def test_detach_cuts_the_graph():
    xn, xt = pair((4,), seed=8)
    yn = xn * xn.detach() + xn.exp().detach() * xn
    yt = xt * xt.detach() + xt.exp().detach() * xt
    yn.sum().backward()
    yt.sum().backward()
    assert_close(xn.grad, xt.grad)
    d = (xn * 2).detach()
    assert not d.requires_grad and d.is_leaf


def test_detach_inplace():
    x = nf.tensor([1.0], requires_grad=True)
    y = x * 2
    y.detach_()
    assert not y.requires_grad and y.grad_fn is None


# ============================================================= deep graphs

def test_deep_elementwise_chain_no_recursion_limit():
    x = nf.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [1.0001 ** 3000], rtol=1e-3)


def test_deep_200_layer_linear_chain_matches_torch():
    torch.manual_seed(0)
    tlayers = [torch.nn.Linear(3, 3) for _ in range(200)]
    nlayers = [nn.Linear(3, 3) for _ in range(200)]
    for t, n in zip(tlayers, nlayers):
        copy_weights(t, n)
    x = np.random.default_rng(9).standard_normal((2, 3)).astype(F32)
    xn, xt = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hn, ht = xn, xt
    for t, n in zip(tlayers, nlayers):
        # residual blocks with a softsign (core ops only) keep the gradient alive
        an, at = n(hn), t(ht)
        hn, ht = hn + 0.1 * an / (1 + an.abs()), ht + 0.1 * at / (1 + at.abs())
    hn.sum().backward()
    ht.sum().backward()
    assert_close(hn, ht, atol=1e-4, rtol=1e-3)
    assert_close(xn.grad, xt.grad, atol=1e-4, rtol=1e-3)
    assert_close(nlayers[0].weight.grad, tlayers[0].weight.grad, atol=1e-4, rtol=1e-3)
    assert np.abs(tlayers[0].weight.grad.numpy()).max() > 1e-6, "signal vanished; test is void"


# ============================================================= grad_sink and Linear

def _linear_pair(in_f=4, out_f=3, bias=True, seed=10):
    torch.manual_seed(seed)
    t = torch.nn.Linear(in_f, out_f, bias=bias)
    n = nn.Linear(in_f, out_f, bias=bias)
    copy_weights(t, n)
    return t, n


def _run(t, n, x, x_grad=False, up_seed=11):
    xt = torch.tensor(x, requires_grad=x_grad)
    xn = nf.tensor(x, requires_grad=x_grad)
    yt, yn = t(xt), n(xn)
    up = np.random.default_rng(up_seed).standard_normal(yt.shape).astype(x.dtype)
    yt.backward(torch.from_numpy(up))
    yn.backward(nf.tensor(up))
    return xt, xn


def test_grad_sink_writes_into_preset_grad_buf():
    t, n = _linear_pair()
    wbuf = np.full(n.weight.shape, np.nan, F32)
    bbuf = np.full(n.bias.shape, np.nan, F32)
    n.weight._grad_buf, n.bias._grad_buf = nf.Tensor._make(wbuf), nf.Tensor._make(bbuf)
    x = np.random.default_rng(12).standard_normal((5, 4)).astype(F32)
    _run(t, n, x)
    assert n.weight.grad.detach().numpy() is wbuf and n.bias.grad.detach().numpy() is bbuf
    assert_close(wbuf, t.weight.grad)
    assert_close(bbuf, t.bias.grad)
    # second backward accumulates into the same buffers
    _run(t, n, x, up_seed=13)
    assert n.weight.grad.detach().numpy() is wbuf
    assert_close(wbuf, t.weight.grad)
    assert_close(bbuf, t.bias.grad)


def test_grad_sink_after_zero_grad_set_to_none_overwrites_buffer():
    t, n = _linear_pair()
    wbuf = np.zeros(n.weight.shape, F32)
    n.weight._grad_buf = nf.Tensor._make(wbuf)
    x = np.random.default_rng(14).standard_normal((5, 4)).astype(F32)
    _run(t, n, x)
    n.zero_grad()            # grad -> None, buffer keeps stale values
    t.zero_grad()
    assert n.weight.grad is None
    _run(t, n, x, up_seed=15)
    assert n.weight.grad.detach().numpy() is wbuf
    assert_close(wbuf, t.weight.grad)


def test_grad_sink_mixed_fresh_and_accumulating():
    """weight already has a grad (accumulate), bias has none (fresh): both must be right."""
    t, n = _linear_pair()
    x = np.random.default_rng(16).standard_normal((6, 4)).astype(F32)
    _run(t, n, x)
    n.bias.grad = None
    t.bias.grad = None
    _run(t, n, x, up_seed=17)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(n.bias.grad, t.bias.grad)
    # and the other way round
    n.weight.grad = None
    t.weight.grad = None
    _run(t, n, x, up_seed=18)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(n.bias.grad, t.bias.grad)


def test_grad_sink_with_unusable_existing_grad_falls_back():
    t, n = _linear_pair()
    x = np.random.default_rng(19).standard_normal((3, 4)).astype(F32)
    _run(t, n, x)
    # a read-only, non-contiguous existing grad cannot be written into directly
    g = np.asfortranarray(n.weight.grad.detach().numpy().copy())
    n.weight.grad = nf.Tensor._make(g)
    _run(t, n, x, up_seed=20)
    assert_close(n.weight.grad, t.weight.grad)


def test_zero_grad_keep_then_accumulate_in_place():
    t, n = _linear_pair()
    x = np.random.default_rng(21).standard_normal((3, 4)).astype(F32)
    _run(t, n, x)
    g = n.weight.grad
    n.zero_grad(set_to_none=False)
    t.zero_grad(set_to_none=False)
    assert n.weight.grad is g and not g.detach().numpy().any()
    _run(t, n, x, up_seed=22)
    assert n.weight.grad is g
    assert_close(g, t.weight.grad)


def test_grad_buf_float64_reference_path():
    t, n = _linear_pair()
    t.double()
    n.double()
    wbuf = np.zeros(n.weight.shape, np.float64)
    n.weight._grad_buf = nf.Tensor._make(wbuf)
    x = np.random.default_rng(23).standard_normal((4, 4))
    _run(t, n, x)
    assert n.weight.grad.detach().numpy() is wbuf
    assert_close(wbuf, t.weight.grad, atol=1e-12, rtol=1e-12)


def test_grad_sink_empty_batch_gives_zero_grads():
    t, n = _linear_pair()
    n.weight._grad_buf = nf.Tensor._make(np.full(n.weight.shape, 7.0, F32))
    x = np.zeros((0, 4), F32)
    _run(t, n, x, x_grad=True)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(n.bias.grad, t.bias.grad)
    np.testing.assert_array_equal(n.weight.grad.detach().numpy(), 0)


def test_linear_bias_false():
    t, n = _linear_pair(bias=False)
    assert n.bias is None
    x = np.random.default_rng(24).standard_normal((5, 4)).astype(F32)
    xt, xn = _run(t, n, x, x_grad=True)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(xn.grad, xt.grad)
    assert [k for k, _ in n.named_parameters()] == ["weight"]


def test_linear_only_input_requires_grad():
    t, n = _linear_pair()
    t.requires_grad_(False)
    n.requires_grad_(False)
    x = np.random.default_rng(25).standard_normal((5, 4)).astype(F32)
    xt, xn = _run(t, n, x, x_grad=True)
    assert_close(xn.grad, xt.grad)
    assert n.weight.grad is None and n.bias.grad is None


def test_linear_weight_requires_grad_not_input():
    t, n = _linear_pair()
    x = np.random.default_rng(26).standard_normal((5, 4)).astype(F32)
    xt, xn = _run(t, n, x, x_grad=False)
    assert xn.grad is None
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(n.bias.grad, t.bias.grad)


def test_linear_only_bias_requires_grad():
    t, n = _linear_pair()
    t.weight.requires_grad_(False)
    n.weight.requires_grad_(False)
    x = np.random.default_rng(27).standard_normal((5, 4)).astype(F32)
    _run(t, n, x)
    assert n.weight.grad is None
    assert_close(n.bias.grad, t.bias.grad)


def test_functional_linear_with_non_leaf_weight():
    rng = np.random.default_rng(28)
    w0 = rng.standard_normal((3, 4)).astype(F32)
    x = rng.standard_normal((2, 4)).astype(F32)
    wn, wt = nf.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    yn = F.linear(nf.tensor(x), wn * 2.0)
    yt = torch.nn.functional.linear(torch.from_numpy(x), wt * 2.0)
    assert_close(yn, yt)
    yn.sum().backward()
    yt.sum().backward()
    assert_close(wn.grad, wt.grad)


def test_linear_with_fortran_ordered_weight_leaf():
    """A Parameter over a transposed array: grad_sink must hand the kernel a C-order buffer."""
    t, n = _linear_pair()
    n.weight = nn.Parameter(np.asfortranarray(t.weight.detach().numpy()))
    assert not n.weight.detach().numpy().flags.c_contiguous
    x = np.random.default_rng(29).standard_normal((5, 4)).astype(F32)
    xt, xn = _run(t, n, x, x_grad=True)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(xn.grad, xt.grad)
    _run(t, n, x, up_seed=30)
    assert_close(n.weight.grad, t.weight.grad)


def test_non_contiguous_preset_grad_buf_still_receives_grad():
    t, n = _linear_pair()
    buf = np.zeros((4, 3), F32).T           # right shape, Fortran order
    n.weight._grad_buf = nf.Tensor._make(buf)
    x = np.random.default_rng(31).standard_normal((5, 4)).astype(F32)
    _run(t, n, x)
    assert_close(n.weight.grad, t.weight.grad)
    assert_close(buf, t.weight.grad)


# ============================================================= grad_sink and activations

ACT_NAMES = ["relu", "gelu", "tanh", "sigmoid", "silu"]


def _act_run(name, xn, xt, up_seed):
    up = np.random.default_rng(up_seed).standard_normal(xt.shape).astype(F32)
    getattr(F, name)(xn).backward(nf.tensor(up))
    getattr(torch.nn.functional, name)(xt).backward(torch.from_numpy(up))


@pytest.mark.parametrize("name", ACT_NAMES)
def test_activation_writes_a_fresh_leaf_grad_in_place(name):
    # An activation of a leaf writes the leaf's gradient straight into its storage: into a
    # preset buffer (the optimizer's flat one) when there is one, then accumulating into it.
    xn, xt = pair((5, 7), seed=30, low=-3, high=3)
    buf = np.full((5, 7), np.nan, F32)
    xn._grad_buf = nf.Tensor._make(buf)
    _act_run(name, xn, xt, 31)
    assert xn.grad.detach().numpy() is buf
    assert_close(xn.grad, xt.grad)
    _act_run(name, xn, xt, 32)
    assert xn.grad.detach().numpy() is buf
    assert_close(xn.grad, xt.grad)
    # after zero_grad(set_to_none) the stale values in the buffer are overwritten
    xn.grad, xt.grad = None, None
    _act_run(name, xn, xt, 33)
    assert xn.grad.detach().numpy() is buf
    assert_close(xn.grad, xt.grad)


@pytest.mark.parametrize("name", ACT_NAMES)
def test_activation_leaf_grad_with_other_uses_of_the_leaf(name):
    # the leaf also feeds another node before and after the activation in tape order,
    # and the activation's output is used twice
    xn, xt = pair((4, 6), seed=34, low=-3, high=3)
    fn, ft = getattr(F, name), getattr(torch.nn.functional, name)
    yn = fn(xn)
    yt = ft(xt)
    (yn * xn + yn * 2.0 + xn * xn).sum().backward()
    (yt * xt + yt * 2.0 + xt * xt).sum().backward()
    assert_close(xn.grad, xt.grad)


def test_activation_leaf_frozen_before_backward_gets_no_grad():
    xn = nf.tensor(np.linspace(-2, 2, 12, dtype=F32).reshape(3, 4), requires_grad=True)
    wn = nf.tensor(np.ones((3, 4), F32), requires_grad=True)
    y = F.relu(xn) * wn
    xn.requires_grad = False
    y.sum().backward()
    assert xn.grad is None
    assert wn.grad is not None
