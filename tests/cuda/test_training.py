"""Short training runs on "cuda" against the same runs on the CPU: the loop a PyTorch user
writes (zero_grad, forward, loss, backward, clip, step) gives the same numbers on both
devices, to float32 rounding (the GEMMs sum in another order)."""
import copy

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim


def _run(model, make_opt, loss_fn, batches, device, steps=3, clip=None):
    model = copy.deepcopy(model).to(device)
    opt = make_opt(model.parameters())
    losses = []
    for x, y in batches[:steps]:
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        losses.append(loss.item())
    return losses, {k: v.cpu().numpy() for k, v in model.state_dict().items()}


def _same_run(model, make_opt, loss_fn, batches, rtol=2e-5, atol=2e-6, **kw):
    cpu_losses, cpu_state = _run(model, make_opt, loss_fn, batches, "cpu", **kw)
    gpu_losses, gpu_state = _run(model, make_opt, loss_fn, batches, "cuda", **kw)
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=rtol, atol=atol)
    assert cpu_state.keys() == gpu_state.keys()
    for k in cpu_state:
        np.testing.assert_allclose(gpu_state[k], cpu_state[k], rtol=rtol, atol=atol, err_msg=k)


def _class_batches(shape, n_classes, n=3, seed=0):
    g = np.random.default_rng(seed)
    return [(nf.tensor(g.standard_normal(shape).astype(np.float32)),
             nf.tensor(g.integers(0, n_classes, shape[0]))) for _ in range(n)]


def test_mlp_with_adam_and_cross_entropy():
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    _same_run(model, lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
              _class_batches((7, 6), 3), clip=1.0)


def test_mlp_with_norms_dropout_and_sgd_momentum():
    nf.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.3),
                          nn.Linear(6, 5), nn.LayerNorm(5), nn.GELU(), nn.Linear(5, 2))
    g = np.random.default_rng(1)
    batches = [(nf.tensor(g.standard_normal((5, 4)).astype(np.float32)),
                nf.tensor(g.standard_normal((5, 2)).astype(np.float32))) for _ in range(3)]
    # the same seed gives the same dropout masks on both devices
    nf.manual_seed(7)
    cpu = _run(model, lambda p: optim.SGD(p, lr=0.1, momentum=0.9), nn.MSELoss(), batches, "cpu")
    nf.manual_seed(7)
    gpu = _run(model, lambda p: optim.SGD(p, lr=0.1, momentum=0.9), nn.MSELoss(), batches,
               "cuda")
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=2e-5, atol=2e-6)
    for k in cpu[1]:
        np.testing.assert_allclose(gpu[1][k], cpu[1][k], rtol=2e-5, atol=2e-6, err_msg=k)


def test_cnn_with_pooling():
    nf.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(2, 3, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(3, 3))
    _same_run(model, lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
              _class_batches((2, 1, 6, 6), 3), steps=2)


class _Seq(nn.Module):
    def __init__(self, cell):
        super().__init__()
        self.rnn = cell(3, 4, batch_first=True)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


@pytest.mark.parametrize("cell", [nn.LSTM, nn.GRU])
def test_recurrent_model(cell):
    nf.manual_seed(3)
    g = np.random.default_rng(3)
    batches = [(nf.tensor(g.standard_normal((2, 3, 3)).astype(np.float32)),
                nf.tensor(g.standard_normal((2, 2)).astype(np.float32))) for _ in range(2)]
    _same_run(_Seq(cell), lambda p: optim.Adam(p, lr=1e-2), nn.MSELoss(), batches, steps=2)


def test_fit_on_cuda_matches_fit_on_the_cpu():
    from nnfast.train import fit
    g = np.random.default_rng(4)
    x = g.standard_normal((12, 4)).astype(np.float32)
    y = g.integers(0, 3, 12)
    nf.manual_seed(4)
    base = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    runs = []
    for device in ("cpu", "cuda"):
        model = copy.deepcopy(base)
        opt = optim.Adam(model.parameters(), lr=1e-2)   # made before the move, as torch allows
        h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=2, batch_size=6, seed=0,
                verbose=False, device=device, metrics=["accuracy"])
        assert next(iter(model.parameters())).device.type == device
        runs.append((h["loss"], {k: v.cpu().numpy() for k, v in model.state_dict().items()}))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=2e-5)
    for k in runs[0][1]:
        np.testing.assert_allclose(runs[1][1][k], runs[0][1][k], rtol=2e-5, atol=2e-6)
