"""nn.init: gains and fans equal torch's; distributions checked against the analytic bound or
std (values differ from torch's streams by design); repeatability under manual_seed."""
import math
import warnings

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn
from nnfast.nn import init

F32 = np.float32
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


# ============================================================= gains and fans

@pytest.mark.parametrize("nl", NONLINEARITIES)
def test_calculate_gain_matches_torch(nl):
    assert init.calculate_gain(nl) == pytest.approx(torch.nn.init.calculate_gain(nl), rel=1e-12)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3, 0.01, math.sqrt(5)])
def test_calculate_gain_leaky_relu_param(param):
    assert init.calculate_gain("leaky_relu", param) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", param), rel=1e-12)


@pytest.mark.parametrize("bad", [("leaky_relu", "x"), ("leaky_relu", True), ("swish", None)])
def test_calculate_gain_errors_like_torch(bad):
    with pytest.raises(ValueError):
        init.calculate_gain(*bad)
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain(*bad)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3), (6, 4, 3, 2), (1, 1), (7, 1, 5)])
def test_fan_in_fan_out_match_torch(shape):
    n = nf.zeros(shape)
    t = torch.zeros(shape)
    assert init._calculate_fan_in_and_fan_out(n) == torch.nn.init._calculate_fan_in_and_fan_out(t)
    for mode in ("fan_in", "fan_out", "FAN_IN"):
        assert init._calculate_correct_fan(n, mode) == torch.nn.init._calculate_correct_fan(
            t, mode.lower())


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(nf.zeros(4))
    with pytest.raises(ValueError, match="fewer than 2"):
        init.xavier_uniform_(nf.zeros(4))
    with pytest.raises(ValueError, match="fan_avg"):
        init.kaiming_uniform_(nf.zeros(3, 3), mode="fan_avg")


# ============================================================= distributions

def _uniform_ok(w, bound):
    """Every |w| <= bound; the extremes reach close to it; the std is bound/sqrt(3)."""
    a = np.abs(w.detach().numpy())
    assert a.max() <= bound * (1 + 1e-6)
    assert a.max() >= bound * 0.99
    np.testing.assert_allclose(w.detach().numpy().std(), bound / math.sqrt(3), rtol=0.03)
    assert abs(w.detach().numpy().mean()) < 0.02 * bound


def _normal_ok(w, std, mean=0.0):
    np.testing.assert_allclose(w.detach().numpy().std(), std, rtol=0.03)
    assert abs(w.detach().numpy().mean() - mean) < 0.02 * std + 1e-12


SHAPE = (256, 512)   # fan_in 512, fan_out 256


@pytest.mark.parametrize("gain", [1.0, 0.5, math.sqrt(2)])
def test_xavier_uniform(gain):
    nf.manual_seed(0)
    w = init.xavier_uniform_(nf.zeros(SHAPE), gain=gain)
    _uniform_ok(w, gain * math.sqrt(6.0 / (512 + 256)))
    assert w.dtype == F32


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier_normal(gain):
    nf.manual_seed(1)
    w = init.xavier_normal_(nf.zeros(SHAPE), gain=gain)
    _normal_ok(w, gain * math.sqrt(2.0 / (512 + 256)))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nl,a", [("leaky_relu", 0), ("leaky_relu", math.sqrt(5)),
                                  ("leaky_relu", 0.2), ("relu", 0), ("tanh", 0), ("linear", 0),
                                  ("sigmoid", 0), ("selu", 0)])
def test_kaiming_uniform(mode, nl, a):
    nf.manual_seed(2)
    w = init.kaiming_uniform_(nf.zeros(SHAPE), a=a, mode=mode, nonlinearity=nl)
    fan = 512 if mode == "fan_in" else 256
    gain = torch.nn.init.calculate_gain(nl, a)
    _uniform_ok(w, math.sqrt(3.0) * gain / math.sqrt(fan))


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nl,a", [("leaky_relu", 0), ("leaky_relu", 0.1), ("relu", 0),
                                  ("tanh", 0), ("selu", 0)])
def test_kaiming_normal(mode, nl, a):
    nf.manual_seed(3)
    w = init.kaiming_normal_(nf.zeros(SHAPE), a=a, mode=mode, nonlinearity=nl)
    fan = 512 if mode == "fan_in" else 256
    _normal_ok(w, torch.nn.init.calculate_gain(nl, a) / math.sqrt(fan))


def test_kaiming_conv_shaped_fans():
    nf.manual_seed(4)
    w = init.kaiming_uniform_(nf.zeros(64, 32, 3, 3), nonlinearity="relu")
    _uniform_ok(w, math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(32 * 9))


def test_kaiming_zero_element_warns_like_torch():
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_uniform_(nf.zeros(0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init.kaiming_normal_(nf.zeros(3, 0))


def test_uniform_normal_constant_ones_zeros():
    nf.manual_seed(5)
    u = init.uniform_(nf.zeros(SHAPE), -0.3, 0.7)
    assert u.detach().numpy().min() >= -0.3 and u.detach().numpy().max() < 0.7
    np.testing.assert_allclose(u.detach().numpy().mean(), 0.2, atol=0.005)
    np.testing.assert_allclose(u.detach().numpy().std(), 1.0 / math.sqrt(12), rtol=0.03)
    d = init.uniform_(nf.zeros(1000))
    assert d.data.min() >= 0 and d.data.max() < 1
    n = init.normal_(nf.zeros(SHAPE), mean=1.5, std=0.25)
    _normal_ok(n, 0.25, mean=1.5)
    t = nf.zeros(3, 4)
    assert init.constant_(t, 0.3) is t
    np.testing.assert_allclose(t.detach().numpy(), 0.3)
    np.testing.assert_array_equal(init.ones_(nf.zeros(2, 3)).detach().numpy(), 1)
    np.testing.assert_array_equal(init.zeros_(nf.ones(2, 3)).detach().numpy(), 0)


def test_trunc_normal():
    nf.manual_seed(6)
    w = init.trunc_normal_(nf.zeros(SHAPE), mean=0.0, std=1.0, a=-1.0, b=2.0)
    assert w.detach().numpy().min() >= -1.0 and w.detach().numpy().max() <= 2.0
    # mean of N(0,1) truncated to [-1, 2] is (phi(-1) - phi(2)) / (Phi(2) - Phi(-1))
    phi = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    expected = (phi(-1) - phi(2)) / (Phi(2) - Phi(-1))
    np.testing.assert_allclose(w.detach().numpy().mean(), expected, atol=0.01)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye_matches_torch(shape):
    np.testing.assert_array_equal(init.eye_(nf.ones(shape)).detach().numpy(),
                                  torch.nn.init.eye_(torch.ones(shape)).numpy())
    with pytest.raises(ValueError):
        init.eye_(nf.zeros(2, 2, 2))


@pytest.mark.parametrize("shape", [(4, 8), (8, 4), (6, 6), (3, 2, 4), (1, 5), (5, 1)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain):
    nf.manual_seed(7)
    w = init.orthogonal_(nf.zeros(shape), gain=gain)
    assert w.shape == shape and w.dtype == F32
    rows = shape[0]
    m = w.detach().numpy().reshape(rows, -1).astype(np.float64) / gain
    if rows <= m.shape[1]:
        np.testing.assert_allclose(m @ m.T, np.eye(rows), atol=1e-5)
    else:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-5)
    with pytest.raises(ValueError):
        init.orthogonal_(nf.zeros(3))


def test_orthogonal_random_not_identity():
    nf.manual_seed(8)
    a = init.orthogonal_(nf.zeros(5, 5)).detach().numpy()
    b = init.orthogonal_(nf.zeros(5, 5)).detach().numpy()
    assert not np.allclose(a, b)


def test_init_on_parameter_in_place_returns_same_and_records_nothing():
    lin = nn.Linear(3, 4)
    data = lin.weight.detach().numpy()
    out = init.xavier_uniform_(lin.weight)
    assert out is lin.weight and lin.weight.detach().numpy() is data
    assert lin.weight.is_leaf and lin.weight.grad is None


def test_float64_tensor_keeps_dtype():
    w = init.kaiming_normal_(nf.zeros(4, 4, dtype=nf.float64))
    assert w.dtype == np.float64


# ============================================================= Linear defaults

@pytest.mark.parametrize("fan_in,fan_out", [(512, 256), (300, 100)])
def test_linear_default_init_bounds_equal_torch_formula(fan_in, fan_out):
    nf.manual_seed(9)
    lin = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    # kaiming_uniform(a=sqrt(5)) on the weight gives exactly U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    torch_bound = math.sqrt(3.0) * torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) \
        / math.sqrt(fan_in)
    assert torch_bound == pytest.approx(bound, rel=1e-12)
    _uniform_ok(lin.weight, bound)
    b = np.abs(lin.bias.detach().numpy())
    assert b.max() <= bound and b.max() > 0.9 * bound
    # torch's own Linear obeys the same bounds
    tl = torch.nn.Linear(fan_in, fan_out)
    assert tl.weight.abs().max().item() <= bound and tl.bias.abs().max().item() <= bound


def test_linear_reset_parameters_and_small_layers():
    lin = nn.Linear(1, 1)
    assert abs(lin.weight.item()) <= 1.0 and abs(lin.bias.item()) <= 1.0
    nf.manual_seed(10)
    lin = nn.Linear(4, 3)
    w0 = lin.weight.detach().numpy().copy()
    lin.reset_parameters()
    assert not np.array_equal(w0, lin.weight.detach().numpy())
    assert np.abs(lin.weight.detach().numpy()).max() <= 0.5


def test_manual_seed_repeatable_init():
    def build():
        model = nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 2))
        extra = [init.xavier_normal_(nf.zeros(4, 4)).detach().numpy(), init.orthogonal_(nf.zeros(3, 5)).detach().numpy(),
                 init.kaiming_uniform_(nf.zeros(6, 2)).detach().numpy(), init.trunc_normal_(nf.zeros(9)).detach().numpy()]
        return [p.detach().numpy().copy() for p in model.parameters()] + extra
    nf.manual_seed(42)
    a = build()
    nf.manual_seed(42)
    b = build()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    nf.manual_seed(43)
    c = build()
    assert not np.array_equal(a[0], c[0])


def test_explicit_generator_repeatable():
    a = init.normal_(nf.zeros(8), generator=np.random.default_rng(1)).detach().numpy()
    b = init.normal_(nf.zeros(8), generator=np.random.default_rng(1)).detach().numpy()
    np.testing.assert_array_equal(a, b)
