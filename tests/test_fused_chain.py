"""Sequential's fused eager path (nnfast/nn/_fused_chain.py): bit for bit the layers run one
by one (outputs, gradients, multi-step training, running statistics, dropout draws), the
calls it leaves to the layers, and what a graph's workspace must survive."""
import copy
import pickle
import threading

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast._cli_model import read_model_file
from nnfast.train import save_model


def layered(model, x):
    """model(x) with every Sequential run layer by layer (the path the fusion replaces)."""
    if type(model) is nn.Sequential:
        for m in model:
            x = layered(m, x)
        return x
    return model(x)


def mlp(*extra, sizes=(12, 16, 10, 4), act=nn.ReLU):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [act()] + [e() for e in extra]
    return nn.Sequential(*layers)


MODELS = {
    "relu": lambda: mlp(),
    "tanh-dropout": lambda: mlp(lambda: nn.Dropout(0.3), act=nn.Tanh),
    "gelu-nobias": lambda: nn.Sequential(nn.Linear(12, 16, bias=False), nn.GELU(),
                                         nn.Linear(16, 4)),
    "softplus-last": lambda: nn.Sequential(nn.Linear(12, 8), nn.Softplus(beta=2.0)),
    "batchnorm": lambda: nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                       nn.Linear(16, 4)),
    "layernorm": lambda: nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.SiLU(),
                                       nn.Linear(16, 4)),
    "residual": lambda: nn.Sequential(
        nn.Linear(12, 16), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16))),
        nn.Residual(nn.Sequential(nn.Linear(16, 8), nn.Tanh()), shortcut=nn.Linear(16, 8)),
        nn.Linear(8, 4)),
    "flatten-nested": lambda: nn.Sequential(nn.Flatten(), nn.Sequential(
        nn.Linear(12, 16), nn.LeakyReLU(0.2)), nn.Identity(), nn.Linear(16, 4)),
    "cnn": lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1),
                                 nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Dropout(0.2), nn.Flatten(), nn.Linear(6 * 4 * 4, 4)),
    "cnn-avgpool": lambda: nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.GELU(),
                                         nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                                         nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4)),
    # the middle conv runs by Winograd: Tanh's gradient on its input-gradient blocks, GELU on
    # its output blocks, GELU's gradient on the max pool's (each fused as a Linear's is)
    "cnn-winograd": lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.Tanh(),
                                          nn.Conv2d(8, 8, 3, padding=1), nn.GELU(),
                                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(200, 4)),
}
SHAPES = {"flatten-nested": (3, 4), "cnn": (1, 10, 10), "cnn-avgpool": (1, 10, 10),
          "cnn-winograd": (1, 12, 12)}


def twins(name, seed=0):
    out = []
    for _ in range(2):
        nf.manual_seed(seed)
        model = MODELS[name]()
        out.append((model, optim.Adam(model.parameters(), lr=1e-2)))
    return out


def batches(n=12, seed=0, shape=(12,)):
    rng = np.random.default_rng(seed)
    return [(nf.from_numpy(rng.standard_normal((b,) + shape).astype(np.float32)),
             nf.from_numpy(rng.integers(0, 4, b))) for b in [16, 16, 5, 16] * (n // 4)]


def arr(t):
    return t.detach().numpy() if isinstance(t, nf.Tensor) else np.asarray(t)


def same(a, b):
    np.testing.assert_array_equal(arr(a), arr(b))


def train(model, opt, data, forward):
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for x, y in data:
        nf.manual_seed(len(losses))   # dropout draws: the same stream on both sides
        opt.zero_grad()
        loss = loss_fn(forward(model, x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_is_bit_for_bit_the_layers(name):
    (m1, o1), (m2, o2) = twins(name)
    data = batches(shape=SHAPES.get(name, (12,)))
    l1 = train(m1, o1, data, lambda m, x: m(x))
    l2 = train(m2, o2, data, layered)
    assert l1 == l2
    assert type(m1.__dict__.get("_fused_chain")).__name__ == "_Chain"   # it did fuse
    for (k, a), (_, b) in zip(m1.state_dict().items(), m2.state_dict().items()):
        same(a, b)
    for p, q in zip(m1.parameters(), m2.parameters()):
        same(p.grad, q.grad)
    with nf.no_grad():
        m1.eval(), m2.eval()
        x = data[0][0]
        same(m1(x), layered(m2, x))


def test_output_and_grad_fn():
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(7, 12)
    y = m(x)
    assert y.requires_grad and y.grad_fn.name == "FusedSequential"
    same(y, layered(m, x))
    # the output is the caller's own: the next call does not overwrite it
    keep = y.detach().numpy().copy()
    m(nf.randn(7, 12))
    same(y, keep)


def test_accumulating_gradients_without_zero_grad():
    (m1, _), (m2, _) = twins("relu")
    data = batches(4)
    for x, y in data:
        nn.functional.cross_entropy(m1(x), y).backward()
        nn.functional.cross_entropy(layered(m2, x), y).backward()
    for p, q in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_two_graphs_alive_keep_their_own_activations():
    nf.manual_seed(0)
    m = mlp()
    x1, x2 = nf.randn(6, 12), nf.randn(6, 12)
    l1, l2 = m(x1).square().sum(), m(x2).sum()
    (l1 + 2 * l2).backward()
    got = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    (layered(m, x1).square().sum() + 2 * layered(m, x2).sum()).backward()
    for g, p in zip(got, m.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_many_graphs_alive_fall_back_to_the_layers():
    nf.manual_seed(0)
    m = mlp()
    xs = [nf.randn(4, 12) for _ in range(7)]
    outs = [m(x) for x in xs]   # more graphs than workspaces lent at once
    names = {o.grad_fn.name for o in outs}
    assert "FusedSequential" in names and len(names) == 2
    sum(o.sum() for o in outs).backward()
    got = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    sum(layered(m, x).sum() for x in xs).backward()
    for g, p in zip(got, m.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_backward_twice_with_retain_graph():
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(5, 12)
    loss = m(x).square().mean()
    loss.backward(retain_graph=True)
    first = [p.grad.numpy().copy() for p in m.parameters()]
    loss.backward()
    for g, p in zip(first, m.parameters()):
        np.testing.assert_allclose(2 * g, p.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_autograd_grad_and_parameter_hooks_go_through_the_engine():
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(5, 12)
    gs = nf.autograd.grad(m(x).sum(), list(m.parameters()))
    want = nf.autograd.grad(layered(m, x).sum(), list(m.parameters()))
    for a, b in zip(gs, want):
        same(a, b)
    assert all(p.grad is None for p in m.parameters())
    seen = []
    m[0].weight.register_hook(lambda g: seen.append(g.shape) or g * 2)
    m(x).sum().backward()
    assert seen == [(16, 12)]
    same(m[0].weight.grad, 2 * want[0].numpy())
    same(m[2].weight.grad, want[2])


def test_calls_it_leaves_to_the_layers():
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(5, 12)
    # an input that needs a gradient
    xr = x.clone().requires_grad_()
    out = m(xr)
    assert out.grad_fn.name != "FusedSequential"
    out.sum().backward()
    assert xr.grad.shape == (5, 12)
    # float64 input: the layers' own error
    with pytest.raises(Exception, match="dtype"):
        m(nf.randn(5, 12, dtype=nf.float64))
    # a frozen layer
    m[0].weight.requires_grad_(False)
    assert m(x).grad_fn.name != "FusedSequential"
    m[0].weight.requires_grad_(True)
    # a forward hook on a member
    calls = []
    h = m[1].register_forward_hook(lambda mod, i, o: calls.append(1))
    assert m(x).grad_fn.name != "FusedSequential" and calls == [1]
    h.remove()
    m(x)   # the first call after the last hook's removal notes that none is left
    assert m(x).grad_fn.name == "FusedSequential"
    # BatchNorm1d in eval mode
    bn = nn.Sequential(nn.Linear(12, 6), nn.BatchNorm1d(6)).eval()
    assert bn(x).grad_fn.name != "FusedSequential"
    # an unsupported layer: the layers run, and keep running
    conv = nn.Sequential(nn.Linear(12, 6), nn.Softmax(dim=1))
    for _ in range(2):
        same(conv(x), layered(conv, x))


def test_changes_to_the_model_are_seen():
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(5, 12)
    m(x)
    m[0] = nn.Linear(12, 16)                      # a layer replaced
    same(m(x), layered(m, x))
    m[1] = nn.LeakyReLU(0.1)
    m(x)
    m[1].negative_slope = 0.5                     # an option changed
    same(m(x), layered(m, x))
    m[4].weight = nn.Parameter(nf.randn(4, 10))   # a parameter replaced
    same(m(x), layered(m, x))
    m[4].weight.data = nf.randn(4, 10)            # its storage replaced
    same(m(x), layered(m, x))
    with nf.no_grad():
        m[4].weight.mul_(3)                       # changed in place
    same(m(x), layered(m, x))
    m.append(nn.Tanh())                           # a layer added
    same(m(x), layered(m, x))
    m.double()
    same(m(x.double()), layered(m, x.double()))
    m.float()
    assert m(x).grad_fn.name == "FusedSequential"


def test_copies_pickles_and_saved_models_carry_no_cache(tmp_path):
    nf.manual_seed(0)
    m = mlp()
    x = nf.randn(5, 12)
    m(x).sum().backward()
    assert "_fused_chain" in m.__dict__
    for twin in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert "_fused_chain" not in twin.__dict__
        same(twin(x), m(x))
    save_model(m, tmp_path / "m.nnf", meta={"task": "regress", "input_shape": [12]})
    with nf.no_grad():
        same(read_model_file(str(tmp_path / "m.nnf")).build()(x), m(x))


def test_inference_and_no_grad():
    nf.manual_seed(0)
    m = mlp(lambda: nn.Dropout(0.5)).eval()
    x = nf.randn(9, 12)
    with nf.inference_mode():
        y = m(x)
    assert y.is_inference() and not y.requires_grad
    same(y, layered(m, x))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_matches_the_layers(dtype):
    nf.manual_seed(0)
    m = mlp(sizes=(64, 48, 10))
    x = nf.randn(20, 64)
    with nf.autocast("cpu", dtype=getattr(nf, dtype)):
        y = m(x)
        want = layered(m, x)
    same(y, want)
    y.sum().backward()
    g1 = [p.grad.numpy().copy() for p in m.parameters()]
    m.zero_grad()
    with nf.autocast("cpu", dtype=getattr(nf, dtype)):
        layered(m, x).sum().backward()
    for g, p in zip(g1, m.parameters()):
        same(g, p.grad)


def test_threads_sharing_a_model_get_their_own_workspaces():
    nf.manual_seed(0)
    m = mlp(sizes=(12, 64, 64, 4))
    xs = [nf.randn(32, 12) for _ in range(4)]
    with nf.no_grad():
        want = [layered(m, x).numpy().copy() for x in xs]
    errors = []

    def work(i):
        try:
            for _ in range(200):
                with nf.no_grad():
                    np.testing.assert_array_equal(m(xs[i]).numpy(), want[i])
        except Exception as e:   # reported below: an assert in a thread would be lost
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_module_call_count_is_one_per_sequential():
    nf.manual_seed(0)
    m = mlp()
    calls = []
    orig = nn.Linear.forward
    nn.Linear.forward = lambda self, x: calls.append(1) or orig(self, x)
    try:
        m(nf.randn(3, 12))
    finally:
        nn.Linear.forward = orig
    assert calls == []   # the chain ran in C, not through the layers


def test_second_backward_without_retain_graph_raises_as_torch():
    import torch
    nf.manual_seed(0)
    m = mlp()
    loss = m(nf.randn(5, 12)).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()
    tm = torch.nn.Linear(3, 2)
    tl = tm(torch.randn(4, 3)).sum()
    tl.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        tl.backward()


def test_workspace_returns_after_backward_even_when_a_hook_makes_a_cycle():
    # a hook on the output keeps its node alive until gc (node.out -> output -> node): the
    # workspace must come back when backward has run, or the calls would fall back
    import gc
    nf.manual_seed(0)
    m = mlp()
    gc.disable()
    try:
        for _ in range(3 * 4 + 1):
            out = m(nf.randn(6, 12))
            assert out.grad_fn.name == "FusedSequential"
            out.register_hook(lambda g: g)
            out.sum().backward()
    finally:
        gc.enable()


def test_cnn_inputs_the_layers_refuse_raise_their_errors():
    # a CNN chain covers (N, C, H, W) batches the layers take; others run the layers, which
    # raise their own errors (and keep doing so: the misfit is remembered, not retried)
    nf.manual_seed(0)
    m = MODELS["cnn"]()
    x = nf.randn(3, 1, 10, 10)
    assert m(x).grad_fn.name == "FusedSequential"
    for bad in (nf.randn(3, 2, 10, 10), nf.randn(3, 1, 12, 12), nf.randn(3, 100)):
        for _ in range(2):
            with pytest.raises(Exception) as e1:
                m(bad)
            with pytest.raises(Exception) as e2:
                layered(m, bad)
            assert (type(e1.value), str(e1.value)) == (type(e2.value), str(e2.value))
    assert m(x).grad_fn.name == "FusedSequential"
