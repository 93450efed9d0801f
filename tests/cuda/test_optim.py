"""CUDA optim kernels against nnfast._C on the same inputs: every step kernel over several
steps and its flag combinations, bit for bit (the kernels follow the C's float32 rounding
exactly); sumsq / maxabs / scale_ / clamp_; None buffers and bad calls.

n = 37 crosses the simulator's 16-thread blocks and its 32-thread grid (the grid-stride loop
runs twice); the step counts (1, 2, 9) give the step-dependent scalars, computed on the host
by the functionals' *_scalars helpers as the optimizers do."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C
from nnfast.optim import _functional as F
from nnfast.optim import _functional_extra as FX

N = 37
STEPS = (1, 2, 9)


def _rand(rng, n=N, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, n).astype(np.float32)


class Twin:
    """The same buffers on the host (for _C) and the device (for the CUDA table)."""

    def __init__(self, arrays):
        self.h = [None if a is None else np.array(a, np.float32) for a in arrays]
        self.d = [None if a is None else dev(a) for a in arrays]

    def set(self, i, a):
        self.h[i] = np.array(a, np.float32)
        self.d[i] = dev(a)

    def step(self, K, name, *args):
        getattr(_C, name)(*self.h, *args)
        getattr(K, name)(*self.d, *args)
        for j, (h, d) in enumerate(zip(self.h, self.d)):
            if h is not None:
                np.testing.assert_array_equal(host(d), h, err_msg=f"{name} array {j} {args}")


def _run(K, name, arrays, grad_pos, args_of_step, seed=0, grad=None):
    """len(STEPS) steps of kernel `name`: a fresh gradient each step, then args_of_step(i, step)."""
    rng = np.random.default_rng(seed)
    tw = Twin(arrays)
    for i, s in enumerate(STEPS):
        tw.set(grad_pos, grad(rng) if grad is not None else _rand(rng))
        tw.step(K, name, *args_of_step(i, s))
    return tw


# ============================================================================ step kernels
@pytest.mark.parametrize("wd,momentum,dampening,nesterov,maximize", [
    (0.0, 0.0, 0.0, False, False),
    (0.1, 0.0, 0.0, False, True),
    (0.0, 0.9, 0.0, False, False),
    (0.05, 0.9, 0.3, False, True),
    (0.05, 0.8, 0.0, True, False),
])
def test_sgd_step(K, wd, momentum, dampening, nesterov, maximize):
    rng = np.random.default_rng(1)
    buf = np.zeros(N, np.float32) if momentum else None
    sc = F.sgd_scalars(lr=0.1, weight_decay=wd, momentum=momentum, dampening=dampening)
    _run(K, "sgd_step", [_rand(rng), buf, None], 2,
         lambda i, s: (*sc, nesterov, maximize, i == 0))


@pytest.mark.parametrize("amsgrad,maximize,wd,decoupled,beta1", [
    (False, False, 0.0, False, 0.9),
    (True, False, 0.01, False, 0.9),
    (False, True, 0.01, True, 0.9),
    (True, True, 0.1, True, 0.3),     # 1 - beta1 = 0.7: lerp's other branch
])
def test_adam_step(K, amsgrad, maximize, wd, decoupled, beta1):
    rng = np.random.default_rng(2)
    vmax = np.zeros(N, np.float32) if amsgrad else None
    _run(K, "adam_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), vmax, None], 4,
         lambda i, s: (*F.adam_scalars(s, beta1=beta1, beta2=0.999, lr=0.01, weight_decay=wd,
                                       eps=1e-8, decoupled_weight_decay=decoupled), maximize))


@pytest.mark.parametrize("centered,momentum,wd,maximize,alpha", [
    (False, 0.0, 0.0, False, 0.99),
    (True, 0.0, 0.1, True, 0.99),
    (False, 0.9, 0.0, True, 0.3),     # 1 - alpha = 0.7: lerp's other branch
    (True, 0.9, 0.05, False, 0.99),
])
def test_rmsprop_step(K, centered, momentum, wd, maximize, alpha):
    rng = np.random.default_rng(3)
    sq = np.zeros(N, np.float32)
    ga = np.zeros(N, np.float32) if centered else None
    buf = np.zeros(N, np.float32) if momentum else None
    sc = F.rmsprop_scalars(lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd, momentum=momentum)
    _run(K, "rmsprop_step", [_rand(rng), sq, ga, buf, None], 4, lambda i, s: (*sc, maximize))


@pytest.mark.parametrize("wd,lr_decay,maximize", [(0.0, 0.0, False), (0.1, 0.01, True)])
def test_adagrad_step(K, wd, lr_decay, maximize):
    rng = np.random.default_rng(4)
    _run(K, "adagrad_step", [_rand(rng), np.full(N, 0.1, np.float32), None], 2,
         lambda i, s: (*F.adagrad_scalars(s, lr=0.1, lr_decay=lr_decay, weight_decay=wd,
                                          eps=1e-10), maximize))


@pytest.mark.parametrize("wd,maximize", [(0.0, False), (0.1, True)])
def test_adadelta_step(K, wd, maximize):
    rng = np.random.default_rng(5)
    sc = FX.adadelta_scalars(lr=1.0, rho=0.9, eps=1e-6, weight_decay=wd)
    _run(K, "adadelta_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), None], 3,
         lambda i, s: (*sc, maximize))


@pytest.mark.parametrize("wd,maximize,beta1", [(0.0, False, 0.9), (0.1, True, 0.2)])
def test_adamax_step(K, wd, maximize, beta1):
    rng = np.random.default_rng(6)
    _run(K, "adamax_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), None], 3,
         lambda i, s: (*FX.adamax_scalars(s, beta1=beta1, beta2=0.999, lr=0.002,
                                          weight_decay=wd, eps=1e-8), maximize))


@pytest.mark.parametrize("wd,decoupled,maximize", [(0.0, False, False), (0.1, False, True),
                                                   (0.1, True, False)])
def test_nadam_step(K, wd, decoupled, maximize):
    rng = np.random.default_rng(7)
    mu_product = np.ones((), np.float32)

    def args(i, s):
        sc, mp = FX.nadam_scalars(s, mu_product, beta1=0.9, beta2=0.999, lr=0.002,
                                  weight_decay=wd, eps=1e-8, momentum_decay=4e-3,
                                  decoupled_weight_decay=decoupled)
        mu_product[...] = mp
        return (*sc, maximize, FX._decay_scalar(0.002, wd, decoupled)[1])
    _run(K, "nadam_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), None], 3, args)


@pytest.mark.parametrize("wd,decoupled,maximize", [(0.0, False, False), (0.1, False, True),
                                                   (0.1, True, False)])
def test_radam_step(K, wd, decoupled, maximize):
    rng = np.random.default_rng(8)

    def args(i, s):   # beta2 = 0.9 rectifies from step 6 on: steps 1 and 2 don't, 9 does
        sc, flags = FX.radam_scalars(s, beta1=0.9, beta2=0.9, lr=0.01, weight_decay=wd,
                                     eps=1e-8, decoupled_weight_decay=decoupled)
        assert flags[1] == (s >= 6)
        return (*sc, maximize, *flags)
    _run(K, "radam_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), None], 3, args)


@pytest.mark.parametrize("wd,t0,maximize", [(0.0, 1e6, False), (0.1, 1.0, True)])
def test_asgd_step(K, wd, t0, maximize):
    rng = np.random.default_rng(9)
    eta, mu = np.array(0.01, np.float32), np.array(1.0, np.float32)

    def args(i, s):   # t0 = 1: mu != 1 from the second step on (averaging starts)
        sc, flags, (new_eta, new_mu) = FX.asgd_scalars(s, eta, mu, lambd=1e-4, lr=0.01, t0=t0,
                                                       alpha=0.75, weight_decay=wd)
        eta[...], mu[...] = new_eta, new_mu
        return (*sc, maximize, *flags)
    _run(K, "asgd_step", [_rand(rng), np.zeros(N, np.float32), None], 2, args)


@pytest.mark.parametrize("maximize", [False, True])
def test_rprop_step(K, maximize):
    def grad(rng):    # some zeros: the product-is-zero branch
        g = _rand(rng)
        g[::5] = 0.0
        return g
    rng = np.random.default_rng(10)
    _run(K, "rprop_step",
         [_rand(rng), np.zeros(N, np.float32), np.full(N, 0.01, np.float32), None], 3,
         lambda i, s: (0.5, 1.2, 1e-6, 50.0, maximize), grad=grad)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # NumPy's, from the simulator threads
def test_non_finite_gradients_propagate_as_in_c(K):
    """NaN and inf in the gradient: adamax's NaN-propagating max, rprop's NaN sign."""
    def grad(rng):
        g = _rand(rng)
        g[3], g[20], g[30] = np.nan, np.inf, -np.inf
        return g
    rng = np.random.default_rng(11)
    _run(K, "adamax_step",
         [_rand(rng), np.zeros(N, np.float32), np.zeros(N, np.float32), None], 3,
         lambda i, s: (*FX.adamax_scalars(s, beta1=0.9, beta2=0.999, lr=0.002,
                                          weight_decay=0.0, eps=1e-8), False), grad=grad)
    _run(K, "rprop_step",
         [_rand(rng), np.zeros(N, np.float32), np.full(N, 0.01, np.float32), None], 3,
         lambda i, s: (0.5, 1.2, 1e-6, 50.0, False), grad=grad)


def test_step_kernels_update_views_of_one_flat_buffer(K):
    """A group's buffers are slices of one allocation: a kernel on a slice leaves the rest."""
    rng = np.random.default_rng(12)
    whole = _rand(rng, 3 * N)
    d = dev(whole)
    K.sgd_step(d[N:2 * N], None, dev(np.ones(N, np.float32)), -0.5, 0.0, 0.0, 1.0, False,
               False, False)
    want = whole.copy()
    _C.sgd_step(want[N:2 * N], None, np.ones(N, np.float32), -0.5, 0.0, 0.0, 1.0, False,
                False, False)
    np.testing.assert_array_equal(host(d), want)


def test_step_kernel_errors(K):
    p, g = dev(np.zeros(5, np.float32)), dev(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="grad has 4 elements"):
        K.sgd_step(p, None, dev(np.zeros(4, np.float32)), -0.1, 0.0, 0.0, 1.0, 0, 0, 0)
    with pytest.raises(ValueError, match="momentum_buf has 6"):
        K.sgd_step(p, dev(np.zeros(6, np.float32)), g, -0.1, 0.0, 0.9, 1.0, 0, 0, 0)
    with pytest.raises(ValueError, match="float32"):
        K.adagrad_step(p, dev(np.zeros(5, np.float64)), g, -0.1, 0.0, 1e-10, False)
    with pytest.raises(TypeError, match="CUDA array"):
        K.adagrad_step(p, np.zeros(5, np.float32), g, -0.1, 0.0, 1e-10, False)
    e = dev(np.zeros(0, np.float32))
    K.adam_step(e, e, e, None, e, 1.0, 0.0, 0.1, 0.999, 0.001, 1.0, 1e-8, -0.1, False)  # no-op


# ============================================================================ clipping helpers
@pytest.mark.parametrize("n", [0, 1, N, 101])
def test_sumsq_and_maxabs_match_c(K, n):
    rng = np.random.default_rng(n)
    x = (rng.standard_normal(n) * 10).astype(np.float32)
    s = K.sumsq(dev(x))
    assert s.shape == () and s.dtype == np.float64
    np.testing.assert_allclose(host(s), _C.sumsq(x), rtol=1e-13)
    m = K.maxabs(dev(x))
    assert m.shape == () and m.dtype == np.float32
    assert host(m) == np.float32(_C.maxabs(x))
    assert host(K.sumsq(dev(x))) == host(s)          # a fixed reduction order


def test_maxabs_nan_and_inf(K):
    x = np.linspace(-3, 3, N).astype(np.float32)
    x[30] = -np.inf
    assert host(K.maxabs(dev(x))) == np.inf == _C.maxabs(x)
    for pos in (0, 17, N - 1):    # first, second block, last element
        y = x.copy()
        y[pos] = np.nan
        assert np.isnan(host(K.maxabs(dev(y)))) and np.isnan(_C.maxabs(y))


def test_scale_and_clamp(K):
    rng = np.random.default_rng(13)
    x = _rand(rng, N, -3.0, 3.0)
    x[5] = np.nan
    for s in (0.37, dev(np.array(0.37, np.float32)), dev(np.array([0.37], np.float64))):
        d = dev(x)
        K.scale_(d, s)
        want = x.copy()
        _C.scale_(want, 0.37)
        np.testing.assert_array_equal(host(d), want)
    d = dev(x)
    K.clamp_(d, -1.5, 0.5)
    want = x.copy()
    _C.clamp_(want, -1.5, 0.5)
    np.testing.assert_array_equal(host(d), want)
    with pytest.raises(ValueError, match="one element"):
        K.scale_(d, dev(np.ones(2, np.float32)))
