"""PyTorch's autograd habits: .data, in-place ops with version counts, autograd.grad, hooks,
anomaly detection, custom Functions, per-thread grad mode, devices. torch is the oracle."""
import threading

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn

from helpers import assert_close


def _pair(shape, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return (nf.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


# ----------------------------------------------------------------------------- .data

def test_data_is_a_detached_tensor_on_the_same_storage():
    x, _ = _pair((3, 4))
    d = x.data
    assert isinstance(d, nf.Tensor) and not d.requires_grad and d.grad_fn is None
    d[0, 0] = 7.0
    assert x[0, 0].item() == 7.0
    assert np.shares_memory(np.asarray(d), x.detach().numpy())
    x.data = nf.zeros(2)
    assert x.shape == (2,) and x.requires_grad


def test_manual_sgd_through_data_matches_torch():
    rng = np.random.default_rng(1)
    xs = rng.standard_normal((5, 8, 3)).astype(np.float32)
    ys = rng.standard_normal((5, 8, 1)).astype(np.float32)
    tm = torch.nn.Linear(3, 1)
    nm = nn.Linear(3, 1)
    nm.load_state_dict(tm.state_dict())
    for x, y in zip(xs, ys):
        for m, lib in ((tm, torch), (nm, nf)):
            m.zero_grad()
            loss = ((m(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
            loss.backward()
            for p in m.parameters():
                p.data.add_(p.grad.data, alpha=-0.1)
    for k in ("weight", "bias"):
        assert_close(nm.state_dict()[k], tm.state_dict()[k], 1e-6, 1e-5, k)


# ----------------------------------------------------------------------------- in place

def test_residual_add_in_place_matches_torch():
    x_n, x_t = _pair((4, 6))
    w = np.random.default_rng(2).standard_normal((6, 6)).astype(np.float32)
    w_n, w_t = nf.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    outs = []
    for x, wt, lib in ((x_n, w_n, nf), (x_t, w_t, torch)):
        out = x @ wt          # a product's backward reads its inputs, not its output
        out += x              # ResNet's out += identity
        out = lib.relu(out) if lib is torch else out.relu()
        out.sum().backward()
        outs.append(out)
    assert_close(outs[0], outs[1])
    assert_close(x_n.grad, x_t.grad)
    assert_close(w_n.grad, w_t.grad)


def test_consumers_of_the_old_value_keep_their_gradient():
    grads = []
    for lib in (nf, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        c = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        a = x * 2
        b = a * 3           # uses a before the in-place change
        a *= c              # a's history is rebased onto a * c
        (a * b).sum().backward()
        grads.append((x.grad, c.grad))
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])


def test_modifying_a_saved_tensor_raises_at_backward():
    for make in (lambda x: x.exp(), lambda x: x.sigmoid(), lambda x: x.sqrt()):
        x = nf.tensor([1.0, 2.0], requires_grad=True)
        y = make(x)
        y.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y * y            # saves y
    y.mul_(2.0)
    with pytest.raises(RuntimeError, match="is at version 1; it was changed in place after MulBackward0"):
        z.sum().backward()


def test_changing_an_unsaved_tensor_is_allowed():
    x = nf.tensor([1.0, 2.0], requires_grad=True)
    y = x + 1.0          # add saves nothing
    z = y * 3.0
    y += 5.0
    z.sum().backward()
    assert_close(x.grad, np.array([3.0, 3.0], np.float32))


def test_in_place_on_a_leaf_that_requires_grad():
    w = nf.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.mul_(2.0), lambda: w.zero_(),
               lambda: w.__setitem__(0, 5.0), lambda: w.fill_(1.0)):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    with nf.no_grad():
        w -= 0.5
        w[1] = 3.0
    assert w.tolist() == [0.5, 3.0] and w._version == 2


def test_setitem_into_a_graph_tensor_matches_torch():
    res = []
    for lib in (nf, torch):
        x = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
        v = lib.tensor([10.0, 20.0], requires_grad=True)
        y = x * 2
        y[:, 1] = v
        y[0, 0] = 0.0
        (y * y).sum().backward()
        res.append((y, x.grad, v.grad))
    for a, b in zip(*res):
        assert_close(a, b)


def test_in_place_dtype_rule_and_version_counts():
    i = nf.tensor([1, 2, 3])
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.add_(0.5)
    v = nf.zeros(4)
    view = v.view(2, 2)
    view.add_(1.0)
    assert v._version == view._version == 1
    assert v.tolist() == [1.0] * 4


# ----------------------------------------------------------------------------- grad, hooks

def test_autograd_grad_matches_torch_and_leaves_grad_alone():
    outs = []
    for lib in (nf, torch):
        x = lib.tensor([0.5, 1.5, -2.0], requires_grad=True)
        w = lib.tensor([1.0, -1.0, 2.0], requires_grad=True)
        h = (x * w).tanh()
        y = (h * h).sum()
        gx, gh = lib.autograd.grad(y, [x, h], retain_graph=True)
        assert x.grad is None and w.grad is None
        outs.append((gx, gh))
    assert_close(outs[0][0], outs[1][0])
    assert_close(outs[0][1], outs[1][1])
    x = nf.tensor([1.0], requires_grad=True)
    unused = nf.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        nf.autograd.grad((x * 2).sum(), [x, unused])
    g = nf.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert g[1] is None and g[0].tolist() == [2.0]
    # a Linear's weight gradient goes to the caller, not into the parameter's .grad
    lin = nn.Linear(3, 2)
    gw, = nf.autograd.grad(lin(nf.ones(4, 3)).sum(), [lin.weight])
    assert lin.weight.grad is None and gw.shape == (2, 3)


def test_hooks_change_and_observe_gradients_like_torch():
    res = []
    for lib in (nf, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        seen = []
        hx = x.register_hook(lambda g: g * 10)
        y = x * 3
        y.register_hook(lambda g: seen.append(g.clone()))
        (y * y).sum().backward()
        hx.remove()
        x.grad = None
        (x * 1).sum().backward()
        res.append((x.grad, seen[0]))
    assert_close(res[0][0], res[1][0])
    assert_close(res[0][1], res[1][1])


def test_hook_on_a_linear_weight_sees_its_gradient():
    lin = nn.Linear(3, 2)
    lin.weight.register_hook(lambda g: g * 0)
    lin(nf.ones(4, 3)).sum().backward()
    assert np.all(lin.weight.grad.numpy() == 0) and np.all(lin.bias.grad.numpy() == 4)


def test_retain_grad_and_backward_with_gradient():
    res = []
    for lib in (nf, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        h = x * x
        h.retain_grad()
        y = h * 2
        y.backward(gradient=lib.tensor([1.0, 0.5, -1.0]), retain_graph=True)
        res.append((x.grad, h.grad))
    assert_close(res[0][0], res[1][0])
    assert_close(res[0][1], res[1][1])


def test_detect_anomaly_names_the_op():
    x = nf.tensor([-1.0, 4.0], requires_grad=True)
    with nf.autograd.detect_anomaly():
        y = x.sqrt()
        with pytest.raises(RuntimeError, match="SqrtBackward0.*nan"):
            y.sum().backward()
    y = x.sqrt()
    y.sum().backward()          # outside the block NaN gradients pass silently, as in torch
    assert np.isnan(x.grad.numpy()[0])


def test_custom_function_matches_torch():
    class Cube(nf.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x * x * x * k

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x * x * ctx.k, None

    x_n, x_t = _pair((5,))
    y = Cube.apply(x_n, 2.0)
    assert y.grad_fn is not None
    (y * y).sum().backward()
    ((x_t ** 3 * 2.0) ** 2).sum().backward()
    assert_close(x_n.grad, x_t.grad, 1e-4, 1e-4)
    v = nf.autograd.Variable(nf.ones(2), requires_grad=True)
    assert v.requires_grad


# ----------------------------------------------------------------------------- grad mode

def test_grad_mode_is_per_thread():
    started, release = threading.Event(), threading.Event()

    def worker():
        with nf.no_grad():
            started.set()
            release.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    started.wait(5)
    try:
        assert nf.is_grad_enabled()
        x = nf.tensor([1.0], requires_grad=True)
        assert (x * 2).requires_grad
    finally:
        release.set()
        t.join()
    seen = []
    threading.Thread(target=lambda: seen.append(nf.is_grad_enabled())).start()
    with nf.no_grad():
        th = threading.Thread(target=lambda: seen.append(nf.is_grad_enabled()))
        th.start()
        th.join()
    assert seen[-1] is True


def test_grad_mode_decorators_and_inference_mode():
    @nf.no_grad()
    def f(x):
        return x * 2

    @nf.no_grad
    def g(x):
        return x * 2

    @nf.inference_mode()
    def h(x):
        return x * 2

    x = nf.tensor([1.0], requires_grad=True)
    assert not f(x).requires_grad and not g(x).requires_grad and not h(x).requires_grad
    with nf.inference_mode():
        assert not (x * 2).requires_grad
    with nf.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


# ----------------------------------------------------------------------------- devices

def test_devices_as_pytorch_spells_them():
    d = nf.device("cuda:1")
    assert (d.type, d.index, str(d)) == ("cuda", 1, "cuda:1")
    assert repr(nf.device("cpu")) == repr(torch.device("cpu"))
    assert nf.device("cpu") == "cpu" and nf.device("cuda", 0) == nf.device("cuda:0")
    with pytest.raises(RuntimeError):
        nf.device("tpu")
    assert not nf.cuda.is_available() and nf.cuda.device_count() == 0
    nf.cuda.manual_seed(0)
    nf.cuda.manual_seed_all(0)
    assert not nf.accelerator.is_available() and nf.accelerator.current_accelerator() is None
    assert not nf.backends.mps.is_available()
    nf.backends.cudnn.benchmark = True
    device = nf.device("cuda" if nf.cuda.is_available() else "cpu")
    model = nn.Sequential(nn.Linear(3, 2)).to(device)
    x = nf.ones(4, 3).to(device, non_blocking=True)
    assert x.device == device and model(x).device.type == "cpu"
    assert x.to(nf.float64).dtype == nf.float64 and x.to(nf.zeros(1, dtype=nf.float64)).dtype \
        == nf.float64 and x.to("cpu", nf.float64).dtype == nf.float64
    assert x.cpu() is x and x.to("cpu") is x and x.to("cpu", copy=True) is not x
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        x.cuda()
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nf.zeros(2, device="cuda")
    assert nf.zeros(2, device=nf.device("cpu")).device == nf.device("cpu")


def _random_dag(lib, seed):
    """A graph whose leaf gradient sums terms of very different sizes, so that the order in
    which backward adds them shows in the float32 bits."""
    rng = np.random.default_rng(seed)
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    nodes = [w]
    for _ in range(6):
        picks = rng.integers(0, len(nodes), rng.integers(1, 3))
        t = nodes[picks[0]] * float(10.0 ** rng.integers(-8, 9) * rng.choice([-1, 1]))
        for p in picks[1:]:
            t = t + nodes[p]
        nodes.append(t)
    loss = None
    for i in rng.permutation(len(nodes))[:4]:
        s = nodes[i].sum() * float(rng.choice([1e-7, 1.0, 1e7, -3.0]))
        loss = s if loss is None else loss + s
    loss.backward()
    return np.array(w.grad.tolist(), np.float32)


def test_backward_sums_gradients_in_torchs_order_bit_for_bit():
    # torch runs the ready node made last first; nnfast's engine does the same, so sums of
    # gradients from several consumers round identically (a depth-first order did not)
    for seed in range(150):
        np.testing.assert_array_equal(_random_dag(nf, seed), _random_dag(torch, seed),
                                      err_msg=f"graph {seed}")


def test_grad_pulled_into_a_graph_is_not_handed_out_again():
    lin = nn.Linear(3, 2)
    opt = nf.optim.SGD(lin.parameters(), lr=0.1)
    x = nf.ones(4, 3)
    lin(x).sum().backward()
    g0 = lin.weight.grad
    scale = nf.tensor(2.0, requires_grad=True)
    y = (g0 * 1.0)
    y.mul_(scale)                      # a graph built on a copy: g0 stays clean
    opt.zero_grad()
    lin(x).sum().backward()
    assert lin.weight.grad._node is None and not lin.weight.grad.requires_grad
    assert_close(lin.weight.grad.numpy(), np.full((2, 3), 4.0, np.float32))
    g1 = lin.weight.grad
    g1.requires_grad_(True)            # the handed-out grad made part of a graph
    opt.zero_grad()
    lin(x).sum().backward()
    g2 = lin.weight.grad
    assert g2 is not g1 and not g2.requires_grad and g2._node is None
    assert_close(g2.numpy(), np.full((2, 3), 4.0, np.float32))
    assert g2.numpy().base is opt._flat[0].grad   # still the optimizer's flat buffer
