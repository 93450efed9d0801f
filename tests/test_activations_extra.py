"""The less common activations (csrc/act_extra.c, nn/_functional_act_extra.py, their
modules) against torch: forward, input gradients, odd shapes, float64, kinks, inplace, repr
and bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_close, check_op, fd_grad

import nnfast as nf
from nnfast import _C, nn
from nnfast.nn import _functional_act_extra as FX
from nnfast.nn import functional as F

# name -> (torch fn, nnfast fn)
FUNCS = {
    "softplus": (TF.softplus, F.softplus),
    "softplus_beta": (lambda x: TF.softplus(x, 2.0, 3.0), lambda x: F.softplus(x, 2.0, 3.0)),
    "softplus_neg_beta": (lambda x: TF.softplus(x, -0.5), lambda x: F.softplus(x, -0.5)),
    "hardtanh": (TF.hardtanh, F.hardtanh),
    "hardtanh_range": (lambda x: TF.hardtanh(x, -0.5, 2.0), lambda x: F.hardtanh(x, -0.5, 2.0)),
    "relu6": (TF.relu6, F.relu6),
    "mish": (TF.mish, F.mish),
    "hardswish": (TF.hardswish, F.hardswish),
    "hardsigmoid": (TF.hardsigmoid, F.hardsigmoid),
    "softsign": (TF.softsign, F.softsign),
    "logsigmoid": (TF.logsigmoid, F.logsigmoid),
    "threshold": (lambda x: TF.threshold(x, 0.3, -2.0), lambda x: F.threshold(x, 0.3, -2.0)),
    "celu": (TF.celu, F.celu),
    "celu_alpha": (lambda x: TF.celu(x, 0.3), lambda x: F.celu(x, 0.3)),
    "selu": (TF.selu, F.selu),
}

MODULES = {
    "Softplus": (torch.nn.Softplus(), nn.Softplus()),
    "Softplus2": (torch.nn.Softplus(1.5, 4), nn.Softplus(1.5, 4)),
    "Hardtanh": (torch.nn.Hardtanh(-2, 1.5), nn.Hardtanh(-2, 1.5)),
    "ReLU6": (torch.nn.ReLU6(), nn.ReLU6()),
    "Mish": (torch.nn.Mish(), nn.Mish()),
    "Hardswish": (torch.nn.Hardswish(), nn.Hardswish()),
    "Hardsigmoid": (torch.nn.Hardsigmoid(), nn.Hardsigmoid()),
    "Softsign": (torch.nn.Softsign(), nn.Softsign()),
    "LogSigmoid": (torch.nn.LogSigmoid(), nn.LogSigmoid()),
    "Threshold": (torch.nn.Threshold(0.1, 20.0), nn.Threshold(0.1, 20.0)),
    "CELU": (torch.nn.CELU(0.7), nn.CELU(0.7)),
    "SELU": (torch.nn.SELU(), nn.SELU()),
}

SHAPES = [(), (1,), (7,), (3, 17), (2, 3, 5), (2, 3, 4, 5)]


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("shape", SHAPES)
def test_functional_matches_torch(name, shape):
    tf, nff = FUNCS[name]
    check_op([shape], tf, nff, atol=2e-6, rtol=1e-5, low=-8, high=8, seed=len(shape))


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_float64_matches_torch(name):
    tf, nff = FUNCS[name]
    check_op([(4, 33)], tf, nff, atol=1e-12, rtol=1e-10, low=-8, high=8, dtype=np.float64)


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("shape", [(5,), (4, 9), (2, 3, 17)])
def test_modules_match_torch(name, shape):
    tm, nm = MODULES[name]
    check_op([shape], tm, nm, atol=2e-6, rtol=1e-5, low=-6, high=6)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_whole_range_and_specials(name):
    """Far tails (exp overflow/underflow), the kinks, +-inf, -0.0 and NaN, as torch."""
    tf, nff = FUNCS[name]
    x = np.concatenate([np.linspace(-120, 120, 2001), [-3, 3, 0, -0.0, 6, -1, 1, 0.3, 20, 40,
                                                       1.5, -0.5, 2, -2, 4, 10,
                                                       np.inf, -np.inf]]).astype(np.float32)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    n = nf.tensor(x, requires_grad=True)
    to, no = tf(t), nff(n)
    assert_close(no, to, 2e-6, 1e-5, "forward")
    nz, tz = no.detach().numpy(), to.detach().numpy()
    both = (nz == 0) & (tz == 0)
    np.testing.assert_array_equal(np.signbit(nz[both]), np.signbit(tz[both]), "signed zeros")
    to.backward(torch.ones_like(to))
    no.backward(nf.ones(no.shape))
    assert_close(n.grad, t.grad, 2e-6, 1e-5, "grad")
    # NaN in, NaN out, and a NaN gradient where torch gives one
    tn = torch.tensor([np.nan, 1.0], requires_grad=True)
    nn_ = nf.tensor(np.array([np.nan, 1.0], np.float32), requires_grad=True)
    assert np.array_equal(np.isnan(nff(nn_).detach().numpy()), np.isnan(tf(tn).detach().numpy()))


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("n", [0, 1, 15, 17, 4095, 4097, 40000])
def test_c_kernels_equal_float64_reference(name, n):
    """The float32 kernels against the float64 NumPy twins (the engines' oracle), over sizes
    that cover the SIMD tails, the block edges and the threaded path."""
    _, nff = FUNCS[name]
    rng = np.random.default_rng(n)
    x = rng.uniform(-10, 10, n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    a = nf.tensor(x, requires_grad=True)
    b = nf.tensor(x.astype(np.float64), requires_grad=True)
    ya, yb = nff(a), nff(b)
    ya.backward(nf.tensor(g))
    yb.backward(nf.tensor(g.astype(np.float64)))
    assert ya.dtype == nf.float32 and yb.dtype == nf.float64
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=3e-6, atol=1e-6)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=3e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["softplus", "mish", "softsign", "logsigmoid", "celu_alpha",
                                  "selu", "hardswish", "hardsigmoid", "hardtanh_range"])
def test_finite_differences_float64(name):
    _, nff = FUNCS[name]
    rng = np.random.default_rng(3)
    x = rng.uniform(-4, 4, (3, 5))
    # keep away from the kinks, where a difference quotient straddles two pieces
    x = np.where(np.min(np.abs(x[..., None] - np.array([-3, -0.5, 0, 2, 3])), -1) < 1e-3,
                 x + 0.01, x)
    t = nf.tensor(x, requires_grad=True)
    nff(t).sum().backward()
    fd = fd_grad(lambda v: float(nff(nf.tensor(v)).sum().item()), x.copy())
    np.testing.assert_allclose(t.grad.numpy(), fd, rtol=1e-6, atol=1e-8)


def test_relu6_is_hardtanh_0_6():
    x = nf.tensor(np.array([-1, 0, 3, 6, 7], np.float32), requires_grad=True)
    y = nn.ReLU6()(x)
    y.backward(nf.ones(5))
    assert y.tolist() == [0, 0, 3, 6, 6]
    assert x.grad.tolist() == [0, 0, 1, 0, 0]   # torch: zero gradient on both kinks
    assert isinstance(nn.ReLU6(), nn.Hardtanh)


# ===================================================================== inplace

@pytest.mark.parametrize("name,tf,nff", [
    ("hardtanh", lambda x: TF.hardtanh(x, -0.5, 0.5, True), lambda x: F.hardtanh(x, -0.5, 0.5,
                                                                                True)),
    ("relu6", lambda x: TF.relu6(x, True), lambda x: F.relu6(x, True)),
    ("mish", lambda x: TF.mish(x, True), lambda x: F.mish(x, True)),
    ("hardswish", lambda x: TF.hardswish(x, True), lambda x: F.hardswish(x, True)),
    ("hardsigmoid", lambda x: TF.hardsigmoid(x, True), lambda x: F.hardsigmoid(x, True)),
    ("threshold", lambda x: TF.threshold(x, 0.1, 5.0, True),
     lambda x: F.threshold(x, 0.1, 5.0, True)),
    ("celu", lambda x: TF.celu(x, 0.5, True), lambda x: F.celu(x, 0.5, True)),
    ("selu", lambda x: TF.selu(x, True), lambda x: F.selu(x, True)),
])
def test_inplace(name, tf, nff):
    x = np.random.default_rng(2).uniform(-5, 5, (4, 5)).astype(np.float32)
    t, n = torch.from_numpy(x.copy()), nf.tensor(x)
    tf(t)
    assert nff(n) is n
    assert_close(n, t, 2e-6, 1e-5)
    # non-contiguous float64 storage too
    n2 = nf.from_numpy(np.asfortranarray(x.astype(np.float64)))
    nff(n2)
    assert_close(n2, tf(torch.from_numpy(x.astype(np.float64))), 1e-12, 1e-12)
    # with a gradient recorded: same values and gradients as torch (on an intermediate)
    check_op([(3, 4)], lambda v: tf(v * 2), lambda v: nff(v * 2), atol=2e-6, low=-4, high=4)


# ===================================================================== repr, exports

def test_extra_repr_matches_torch():
    pairs = [(nn.Softplus(), torch.nn.Softplus()), (nn.Softplus(2, 10), torch.nn.Softplus(2, 10)),
             (nn.Hardtanh(), torch.nn.Hardtanh()),
             (nn.Hardtanh(-2, 3, True), torch.nn.Hardtanh(-2, 3, True)),
             (nn.ReLU6(), torch.nn.ReLU6()), (nn.ReLU6(True), torch.nn.ReLU6(True)),
             (nn.Mish(), torch.nn.Mish()), (nn.Mish(True), torch.nn.Mish(True)),
             (nn.Hardswish(True), torch.nn.Hardswish(True)),
             (nn.Hardsigmoid(True), torch.nn.Hardsigmoid(True)),
             (nn.Softsign(), torch.nn.Softsign()), (nn.LogSigmoid(), torch.nn.LogSigmoid()),
             (nn.Threshold(0.1, 20), torch.nn.Threshold(0.1, 20)),
             (nn.Threshold(0.1, 20, True), torch.nn.Threshold(0.1, 20, True)),
             (nn.CELU(), torch.nn.CELU()), (nn.CELU(0.5, True), torch.nn.CELU(0.5, True)),
             (nn.SELU(), torch.nn.SELU()), (nn.SELU(True), torch.nn.SELU(True))]
    for a, b in pairs:
        assert repr(a) == repr(b)


def test_exports():
    for name in FX.__all__:
        assert callable(getattr(F, name))
    for name in ["Softplus", "Hardtanh", "ReLU6", "Mish", "Hardswish", "Hardsigmoid",
                 "Softsign", "LogSigmoid", "Threshold", "CELU", "SELU"]:
        assert name in nn.activation.__all__ and hasattr(nn, name)


# ===================================================================== bad input

@pytest.mark.parametrize("name", sorted(FUNCS))
def test_integer_input_raises_dtype_error(name):
    with pytest.raises(nf.DTypeError, match="int64"):
        FUNCS[name][1](nf.tensor(np.arange(6).reshape(2, 3)))


def test_bad_arguments():
    x = nf.randn(3)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(AssertionError, match="must be greater than min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(RuntimeError, match="alpha cannot be 0"):
        F.celu(x, 0.0)
    with pytest.raises(TypeError, match="beta"):
        F.softplus(x, "2")
    with pytest.raises(TypeError, match="threshold"):
        F.threshold(x, None, 1.0)
    with pytest.raises(TypeError, match="Tensor"):
        F.mish([1.0, 2.0])


def test_kernel_seam_rejects_bad_calls():
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="unknown kind"):
        _C.act_extra_forward(_C.ACTX_COUNT, a, a)
    with pytest.raises(ValueError, match="unknown kind"):
        _C.act_extra_backward(-1, a, a, a)
    with pytest.raises(ValueError, match="elements"):
        _C.act_extra_forward(0, np.zeros(3, np.float32), a)
    with pytest.raises(ValueError, match="elements"):
        _C.act_extra_backward(0, a, a, np.zeros(5, np.float32))


@pytest.mark.parametrize("name,args", [("relu_", ()), ("elu_", (0.5,)), ("leaky_relu_", (0.2,)),
                                       ("hardtanh_", (-0.5, 0.5)), ("threshold_", (0.1, 3.0)),
                                       ("celu_", (0.7,)), ("selu_", ())])
def test_underscore_inplace_functionals(name, args):
    x = np.random.default_rng(4).uniform(-3, 3, (3, 5)).astype(np.float32)
    t, n = torch.from_numpy(x.copy()), nf.tensor(x)
    getattr(TF, name)(t, *args)
    assert getattr(F, name)(n, *args) is n
    assert_close(n, t, 2e-6, 1e-5)


@pytest.mark.parametrize("name,ref", [("softplus", lambda v: np.logaddexp(0, v)),
                                      ("logsigmoid", lambda v: -np.logaddexp(0, -v)),
                                      ("mish", lambda v: v * np.tanh(np.logaddexp(0, v)))])
def test_within_few_ulp_of_exact(name, ref):
    """act_extra.c's own log1p (and Mish's log-free tanh(softplus)) over a dense sweep,
    against the exact value of the same float32 input: within 4 ulp (exp's error included)."""
    x = np.concatenate([np.linspace(-100, 30, 200001), -np.logspace(-30, 2, 10001),
                        np.logspace(-30, 1.3, 10001)]).astype(np.float32)
    y = FUNCS[name][1](nf.tensor(x)).numpy().astype(np.float64)
    r = ref(x.astype(np.float64))
    keep = x > -85                    # exp(x) normal (below, its denormal loses bits)
    ulp = np.abs(y - r)[keep] / np.spacing(np.abs(r[keep]).astype(np.float32))
    assert ulp.max() <= 4, f"{name}: {ulp.max():.2f} ulp at x = {x[keep][ulp.argmax()]}"


def test_kernel_seam_fuzz_inconsistent_arguments():
    """Arrays of independently drawn lengths and dtypes, any kind: the seam runs (sizes
    consistent) or raises ValueError/TypeError - never touches memory past a buffer."""
    r = np.random.default_rng(11)
    ran = 0
    for _ in range(400):
        kind = int(r.integers(-2, _C.ACTX_COUNT + 2))
        lens = r.choice([0, 1, 3, 7, 8, 17], 3)
        dts = r.choice([np.float32, np.float32, np.float64], 3)
        arrs = [np.ones(int(n), d) for n, d in zip(lens, dts)]
        fwd = r.random() < 0.5
        try:
            if fwd:
                _C.act_extra_forward(kind, arrs[0], arrs[1], 0.5, 2.0)
            else:
                _C.act_extra_backward(kind, arrs[0], arrs[1], arrs[2], 0.5, 2.0)
            ran += 1
            assert 0 <= kind < _C.ACTX_COUNT and all(a.dtype == np.float32 for a in arrs[:3 - fwd])
        except (ValueError, TypeError):
            pass
    assert ran > 0
