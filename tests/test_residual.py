"""nn.Residual: y = block(x) + shortcut(x), against torch's hand-written equivalent; shape
errors; and why it matters: a 24-layer Tanh MLP whose gradients vanish trains once each
layer is a residual block."""
import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn, optim
from nnfast.errors import ShapeError

from helpers import assert_close, copy_weights


class TorchResidual(torch.nn.Module):
    def __init__(self, block, shortcut=None):
        super().__init__()
        self.block = block
        self.shortcut = shortcut

    def forward(self, x):
        return self.block(x) + (x if self.shortcut is None else self.shortcut(x))


def _compare(tm, nm, x_shape, seed=0):
    copy_weights(tm, nm)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(np.float32)
    xt, xn = torch.tensor(x, requires_grad=True), nf.tensor(x, requires_grad=True)
    yt, yn = tm(xt), nm(xn)
    assert_close(yn, yt, 1e-5, 1e-4, "forward")
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    yt.backward(torch.tensor(g))
    yn.backward(nf.tensor(g))
    assert_close(xn.grad, xt.grad, 1e-5, 1e-4, "input grad (sum over both branches)")
    nps = dict(nm.named_parameters())
    for name, p in tm.named_parameters():
        assert_close(nps[name].grad, p.grad, 1e-5, 1e-4, name)


def test_identity_shortcut_matches_torch():
    tm = TorchResidual(torch.nn.Sequential(torch.nn.Linear(6, 6), torch.nn.Tanh()))
    nm = nn.Residual(nn.Sequential(nn.Linear(6, 6), nn.Tanh()))
    assert list(nm.state_dict()) == list(tm.state_dict()) == ["block.0.weight", "block.0.bias"]
    _compare(tm, nm, (5, 6))


def test_projection_shortcut_matches_torch():
    tm = TorchResidual(torch.nn.Sequential(torch.nn.Linear(4, 7), torch.nn.ReLU()),
                       torch.nn.Linear(4, 7, bias=False))
    nm = nn.Residual(nn.Sequential(nn.Linear(4, 7), nn.ReLU()), nn.Linear(4, 7, bias=False))
    assert list(nm.state_dict()) == list(tm.state_dict())
    _compare(tm, nm, (3, 4))


def test_residual_with_norm_layers_in_a_stack_matches_torch():
    def tblock():
        return TorchResidual(torch.nn.Sequential(torch.nn.LayerNorm(8), torch.nn.Linear(8, 8),
                                                 torch.nn.GELU()))

    def nblock():
        return nn.Residual(nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8), nn.GELU()))

    tm = torch.nn.Sequential(tblock(), tblock(), torch.nn.BatchNorm1d(8), tblock())
    nm = nn.Sequential(nblock(), nblock(), nn.BatchNorm1d(8), nblock())
    _compare(tm, nm, (6, 8), seed=1)
    assert_close(nm[2].running_var, tm[2].running_var, 1e-6, 1e-5)


def test_shape_mismatch_names_the_block():
    r = nn.Residual(nn.Linear(4, 5))
    with pytest.raises(ShapeError, match=r"Residual: the block Linear\(in_features=4, "
                                         r"out_features=5.*\(3, 4\) to shape \(3, 5\).*"
                                         r"input has shape \(3, 4\)"):
        r(nf.zeros(3, 4))
    r = nn.Residual(nn.Linear(4, 5), nn.Linear(4, 6))
    with pytest.raises(ShapeError, match=r"shortcut Linear\(in_features=4, out_features=6"):
        r(nf.zeros(3, 4))
    # no silent broadcasting: a (3, 1) branch against a (3, 4) input is an error
    with pytest.raises(ShapeError, match=r"\(3, 1\)"):
        nn.Residual(nn.Linear(4, 1))(nf.zeros(3, 4))
    with pytest.raises(TypeError, match="block must be a Module"):
        nn.Residual(lambda x: x)


def test_repr_and_children():
    r = nn.Residual(nn.Tanh())
    assert [n for n, _ in r.named_children()] == ["block"]
    assert "(block): Tanh()" in repr(r)
    r2 = nn.Residual(nn.Tanh(), nn.Identity())
    assert [n for n, _ in r2.named_children()] == ["block", "shortcut"]


# ===================================================================== deep networks

DEPTH, WIDTH = 24, 32


def _mlp(residual):
    nf.manual_seed(0)
    layers = [nn.Linear(8, WIDTH)]
    for _ in range(DEPTH):
        block = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.Tanh())
        layers.append(nn.Residual(block) if residual else block)
    layers.append(nn.Linear(WIDTH, 1))
    return nn.Sequential(*layers)


def _problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 8)).astype(np.float32)
    y = np.sin(X @ rng.standard_normal(8)).astype(np.float32)[:, None]
    return nf.tensor(X), nf.tensor(y)


def _hidden_grad_norms(model):
    """Frobenius norm of each hidden Linear's weight gradient, first layer first."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)][1:-1]
    assert len(linears) == DEPTH
    return np.array([np.linalg.norm(m.weight.grad.detach().numpy()) for m in linears])


def test_deep_plain_mlp_gradients_vanish_residual_ones_do_not():
    X, y = _problem()
    norms = {}
    for residual in (False, True):
        model = _mlp(residual)
        nn.MSELoss()(model(X), y).backward()
        norms[residual] = _hidden_grad_norms(model)
    plain, res = norms[False], norms[True]
    # plain: each Tanh layer with PyTorch's default init shrinks the gradient, so the first
    # hidden layer gets orders of magnitude less than the last
    assert plain[0] < 1e-4 * plain[-1], plain
    # residual: the identity path carries the gradient down undiminished
    assert res[0] > 0.1 * res[-1], res
    assert res[0] > 1e4 * plain[0], (res[0], plain[0])


def test_deep_residual_mlp_trains_where_plain_one_stalls():
    X, y = _problem()
    final = {}
    for residual in (False, True):
        model = _mlp(residual)
        opt = optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = nn.MSELoss()
        first = None
        for _ in range(100):
            opt.zero_grad()
            loss = loss_fn(model(X), y)
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
        final[residual] = (first, loss.item())
    (p0, p1), (r0, r1) = final[False], final[True]
    assert np.isfinite(r1) and r1 < 0.05 * r0, final      # residual: fits the problem
    assert r1 < 0.1 * p1, final                           # plain: far behind
    assert p1 > 0.5 * p0 or p1 > 0.2, final               # ... barely moved from the mean


def test_gradient_monitor_flags_the_plain_net_and_not_the_residual_one():
    """The remedy shown with the tool a user has: fit() with a GradientMonitor warns, naming
    the first hidden layer, for the plain net; the residual net trains without a warning."""
    import warnings

    from nnfast.train import GradientMonitor, GradientWarning, fit
    X, y = _problem()
    caught = {}
    for residual in (False, True):
        model = _mlp(residual)
        monitor = GradientMonitor(vanish=1e-5)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            fit(model, nn.MSELoss(), optim.Adam(model.parameters(), lr=1e-3), (X.detach().numpy(), y.detach().numpy()),
                epochs=2, batch_size=64, callbacks=[monitor], verbose=False, seed=0)
        caught[residual] = [str(m.message) for m in w if issubclass(m.category, GradientWarning)]
        first_hidden = "1.0" if not residual else "1.block.0"
        assert first_hidden in monitor.norms, sorted(monitor.norms)
        caught[(residual, "norm")] = monitor.norms[first_hidden][-1]
    assert any("'1.0'" in m and "vanishing" in m for m in caught[False]), caught[False]
    assert not caught[True], caught[True]
    assert caught[(True, "norm")] > 1e3 * caught[(False, "norm")]
