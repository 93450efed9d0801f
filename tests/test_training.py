"""End to end: the README's training loop gives PyTorch's numbers, step after step."""
import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn, optim
from helpers import assert_close, copy_weights

ACTS = {"relu": (nn.ReLU, torch.nn.ReLU), "tanh": (nn.Tanh, torch.nn.Tanh),
        "gelu": (nn.GELU, torch.nn.GELU), "silu": (nn.SiLU, torch.nn.SiLU),
        "leaky_relu": (nn.LeakyReLU, torch.nn.LeakyReLU), "elu": (nn.ELU, torch.nn.ELU),
        "sigmoid": (nn.Sigmoid, torch.nn.Sigmoid), "prelu": (nn.PReLU, torch.nn.PReLU)}

OPTS = {
    "sgd": lambda m, p: m.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda m, p: m.Adam(p, lr=1e-3),
    "adam_amsgrad": lambda m, p: m.Adam(p, lr=2e-3, amsgrad=True, weight_decay=1e-3),
    "adamw": lambda m, p: m.AdamW(p, lr=1e-3),
    "rmsprop": lambda m, p: m.RMSprop(p, lr=1e-3, momentum=0.5, centered=True),
    "adagrad": lambda m, p: m.Adagrad(p, lr=0.05, lr_decay=1e-3),
}


def _mlp(lib, act, sizes):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(lib.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return lib.Sequential(*layers)


def _batches(n_in, n_out, batch, count, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch, n_in)).astype(np.float32),
             rng.integers(0, n_out, batch)) for _ in range(count)]


def _train_both(act_name, opt_name, loss_name="ce", steps=60, sizes=(12, 16, 8, 5), batch=10):
    nf_act, t_act = ACTS[act_name]
    torch.manual_seed(0)
    t_model = _mlp(torch.nn, t_act, sizes)
    n_model = _mlp(nn, nf_act, sizes)
    copy_weights(t_model, n_model)
    t_opt = OPTS[opt_name](torch.optim, t_model.parameters())
    n_opt = OPTS[opt_name](optim, n_model.parameters())
    if loss_name == "ce":
        t_loss, n_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1), \
            nn.CrossEntropyLoss(label_smoothing=0.1)
    else:
        t_loss, n_loss = torch.nn.MSELoss(), nn.MSELoss()
    data = _batches(sizes[0], sizes[-1], batch, 4)
    t_losses, n_losses = [], []
    for s in range(steps):
        x, y = data[s % len(data)]
        if loss_name != "ce":
            y = np.eye(sizes[-1], dtype=np.float32)[y]
        t_opt.zero_grad()
        lt = t_loss(t_model(torch.from_numpy(x)), torch.from_numpy(y))
        lt.backward()
        t_opt.step()
        n_opt.zero_grad()
        ln = n_loss(n_model(nf.tensor(x)), nf.tensor(y))
        ln.backward()
        n_opt.step()
        t_losses.append(lt.item())
        n_losses.append(ln.item())
    return t_model, n_model, t_losses, n_losses


@pytest.mark.parametrize("opt_name", sorted(OPTS))
def test_mlp_training_matches_torch_for_every_optimizer(opt_name):
    t_model, n_model, tl, nl = _train_both("relu", opt_name)
    np.testing.assert_allclose(nl, tl, rtol=1e-4, atol=1e-5)
    for k, v in t_model.state_dict().items():
        assert_close(n_model.state_dict()[k], v, atol=2e-5, rtol=1e-4, what=k)
    assert nl[-1] < nl[0]  # it actually trained


@pytest.mark.parametrize("act_name", sorted(ACTS))
def test_mlp_training_matches_torch_for_every_activation(act_name):
    t_model, n_model, tl, nl = _train_both(act_name, "adam", loss_name="mse", steps=50)
    np.testing.assert_allclose(nl, tl, rtol=1e-4, atol=1e-6)
    for k, v in t_model.state_dict().items():
        assert_close(n_model.state_dict()[k], v, atol=2e-5, rtol=1e-4, what=k)


def test_readme_loop_with_torch_weights_gives_torch_losses():
    """The issue's own example, with torch's initial weights copied in."""
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                  torch.nn.Linear(128, 10))
    n_model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    copy_weights(t_model, n_model)
    t_opt = torch.optim.Adam(t_model.parameters(), lr=1e-3)
    n_opt = optim.Adam(n_model.parameters(), lr=1e-3)
    for x, y in _batches(64, 10, 32, 20):
        t_opt.zero_grad()
        lt = torch.nn.CrossEntropyLoss()(t_model(torch.from_numpy(x)), torch.from_numpy(y))
        lt.backward()
        t_opt.step()
        n_opt.zero_grad()
        ln = nn.CrossEntropyLoss()(n_model(nf.tensor(x)), nf.tensor(y))
        ln.backward()
        n_opt.step()
        assert abs(ln.item() - lt.item()) < 1e-5
    assert n_model.state_dict()["0.weight"].shape == (128, 64)


def test_eval_mode_and_no_grad_inference():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2)).eval()
    with nf.no_grad():
        out = model(nf.randn(5, 4))
    assert not out.requires_grad and out.grad_fn is None and out.shape == (5, 2)


def test_bad_labels_and_shapes_fail_clearly_in_a_training_loop():
    model = nn.Sequential(nn.Linear(4, 3))
    loss_fn = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="3"):
        loss_fn(model(nf.randn(2, 4)), nf.tensor([0, 3]))
    with pytest.raises(nf.ShapeError, match="Linear"):
        model(nf.randn(2, 5))
    with pytest.raises(nf.DTypeError):
        model(nf.tensor(np.zeros((2, 4))))  # float64 data into float32 weights
