"""Activations (csrc/act.c, nnfast.nn.functional, nnfast.nn activation modules) vs torch."""
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_close, check_op, copy_weights, fd_grad, to_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C, nn
from nnfast.nn import functional as F
from nnfast.nn import _functional_act as FA

# name -> (torch fn, nnfast fn); each takes one tensor
ELEMENTWISE = {
    "relu": (TF.relu, F.relu),
    "leaky_relu": (lambda x: TF.leaky_relu(x, 0.1), lambda x: F.leaky_relu(x, 0.1)),
    "leaky_relu_default": (TF.leaky_relu, F.leaky_relu),
    "elu": (TF.elu, F.elu),
    "elu_alpha": (lambda x: TF.elu(x, 0.7), lambda x: F.elu(x, 0.7)),
    "sigmoid": (torch.sigmoid, F.sigmoid),
    "tanh": (torch.tanh, F.tanh),
    "gelu": (TF.gelu, F.gelu),
    "gelu_tanh": (lambda x: TF.gelu(x, approximate="tanh"),
                  lambda x: F.gelu(x, approximate="tanh")),
    "silu": (TF.silu, F.silu),
}

MODULES = {
    "ReLU": (torch.nn.ReLU(), nn.ReLU()),
    "LeakyReLU": (torch.nn.LeakyReLU(0.2), nn.LeakyReLU(0.2)),
    "ELU": (torch.nn.ELU(0.5), nn.ELU(0.5)),
    "Sigmoid": (torch.nn.Sigmoid(), nn.Sigmoid()),
    "Tanh": (torch.nn.Tanh(), nn.Tanh()),
    "GELU": (torch.nn.GELU(), nn.GELU()),
    "GELU_tanh": (torch.nn.GELU("tanh"), nn.GELU("tanh")),
    "SiLU": (torch.nn.SiLU(), nn.SiLU()),
    "Softmax": (torch.nn.Softmax(-1), nn.Softmax(-1)),
    "LogSoftmax": (torch.nn.LogSoftmax(-1), nn.LogSoftmax(-1)),
    "Softmax0": (torch.nn.Softmax(0), nn.Softmax(0)),
}

SHAPES = [(), (7,), (3, 17), (2, 3, 5), (2, 3, 4, 5)]
ODD_SIZES = [0, 1, 7, 15, 16, 17, 33, 1000]


def atol_for(name, atol=1e-6):
    """torch's float32 GELU (oneDNN on CPU) is off by up to ~1e-6 absolute in the left tail
    (e.g. gelu(-3.41): torch -0.00110677, exact -0.00110573, ours -0.00110575), and the
    shared derivative formula cancels there (1 - tanh^2, 1 + erf), where torch's gradient is
    off from the float64 value by up to ~1.1e-6 (ours by ~0.6e-6). check_op multiplies that by
    a standard-normal upstream gradient (|g| up to ~4), hence 5e-6 for GELU."""
    return 5e-6 if "gelu" in name.lower() else atol


# ===================================================================== vs torch, float32/64

@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@pytest.mark.parametrize("shape", SHAPES)
def test_functional_matches_torch(name, shape):
    tf, nff = ELEMENTWISE[name]
    check_op([shape], tf, nff, atol=atol_for(name), rtol=1e-5, low=-5, high=5, seed=len(shape))


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_functional_float64_matches_torch(name):
    tf, nff = ELEMENTWISE[name]
    check_op([(4, 33)], tf, nff, atol=1e-12, rtol=1e-10, low=-5, high=5, dtype=np.float64)


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("shape", [(5,), (4, 9), (2, 3, 17), (2, 3, 4, 5)])
def test_modules_match_torch(name, shape):
    tm, nm = MODULES[name]
    check_op([shape], tm, nm, atol=atol_for(name), rtol=1e-5, low=-4, high=4)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_whole_range(name):
    """Around 0, tiny, moderate and huge |x| (saturation, exp over/underflow) in one go."""
    tf, nff = ELEMENTWISE[name]
    x = np.concatenate([
        np.linspace(-100, 100, 20001), np.linspace(-1e-3, 1e-3, 1001),
        [0.0, -0.0, 1e-30, -1e-30, 1e-6, -1e-6, 88.0, 89.0, -88.0, -89.0, 104.0, -104.0,
         1e4, -1e4, 3e38, -3e38],
    ]).astype(np.float32)
    if "gelu" in name:
        x = x[np.abs(x) < 1e38]  # torch's GELU overflows to inf at 3e38 (exact: 3e38)
    # Where torch's own formula cancels (e.g. gelu at x ~ -5.5, 1 + erf(x/sqrt2) -> 0) a
    # one-ulp difference in erf/tanh shows as ~1e-7 absolute: hence the small atol.
    check_op(None, tf, nff, atol=atol_for(name, 5e-7), rtol=1e-6, inputs=[x])


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_nan_propagates(name):
    tf, nff = ELEMENTWISE[name]
    x = np.array([np.nan, 1.0, -1.0], np.float32)
    out = nff(nf.tensor(x)).detach().numpy()
    ref = tf(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))


def test_tensor_methods():
    x = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    check_op(None, lambda t: t.relu(), lambda t: t.relu(), inputs=[x])
    check_op(None, lambda t: t.sigmoid(), lambda t: t.sigmoid(), inputs=[x])
    check_op(None, lambda t: t.tanh(), lambda t: t.tanh(), inputs=[x])
    check_op(None, lambda t: t.softmax(0), lambda t: t.softmax(0), inputs=[x])
    check_op(None, lambda t: t.log_softmax(1), lambda t: t.log_softmax(1), inputs=[x])


# ===================================================================== hypothesis over shapes

@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(sorted(ELEMENTWISE)),
       shape=st.lists(st.sampled_from(ODD_SIZES), min_size=1, max_size=3)
       .filter(lambda s: math.prod(s) <= 20000),
       seed=st.integers(0, 2**16))
def test_elementwise_shapes(name, shape, seed):
    tf, nff = ELEMENTWISE[name]
    check_op([tuple(shape)], tf, nff, atol=atol_for(name), rtol=1e-5, low=-6, high=6, seed=seed)


@settings(max_examples=60, deadline=None)
@given(log=st.booleans(),
       shape=st.lists(st.sampled_from(ODD_SIZES), min_size=1, max_size=3)
       .filter(lambda s: math.prod(s) <= 40000),
       dim_seed=st.integers(0, 100), seed=st.integers(0, 2**16))
def test_softmax_shapes(log, shape, dim_seed, seed):
    dim = dim_seed % len(shape) - (len(shape) if dim_seed % 2 else 0)
    tfn = torch.log_softmax if log else torch.softmax
    nfn = F.log_softmax if log else F.softmax
    # atol 4e-6: on AVX-512 machines torch's own float32 reduction over a strided axis of
    # 1000 is 2.8e-6 from float64 (nnfast's 3.4e-7) for shape (15, 1000, 1), dim=-2
    check_op([tuple(shape)], lambda x: tfn(x, dim), lambda x: nfn(x, dim), atol=4e-6,
             rtol=1e-5, low=-10, high=10, seed=seed)


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.sampled_from(ODD_SIZES[:7]), min_size=2, max_size=4)
       .filter(lambda s: math.prod(s) <= 20000),
       shared=st.booleans(), seed=st.integers(0, 2**16))
def test_prelu_shapes(shape, shared, seed):
    c = 1 if shared else shape[1]
    if c == 0:
        return  # PReLU(num_parameters=0) cannot be built in torch either
    _check_prelu(tuple(shape), c, seed)


# ===================================================================== PReLU

def _check_prelu(shape, num_parameters, seed=0, atol=1e-5):
    tm = torch.nn.PReLU(num_parameters)
    with torch.no_grad():
        tm.weight.copy_(torch.from_numpy(
            np.random.default_rng(seed + 1).uniform(-1, 1, num_parameters).astype(np.float32)))
    nm = nn.PReLU(num_parameters)
    copy_weights(tm, nm)
    check_op([shape], tm, nm, atol=atol, rtol=1e-5, seed=seed)
    assert nm.weight.grad is not None and nm.weight.grad.shape == (num_parameters,)
    # each weight's gradient is a float32 sum of n terms, summed in another order than
    # torch's: the rounding difference grows like sqrt(n) (n = 13328 gave 1.5e-5 on 0.39)
    n = max(1, int(np.prod(shape)) // num_parameters)
    assert_close(nm.weight.grad, tm.weight.grad, atol * max(1.0, np.sqrt(n) / 8), 1e-5,
                 "PReLU weight grad")


@pytest.mark.parametrize("shape", [(), (1,), (9,), (4, 3), (2, 3, 17), (2, 3, 4, 5), (0, 3),
                                   (1000, 3)])
def test_prelu_shared_weight(shape):
    _check_prelu(shape, 1)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 17), (2, 3, 4, 5), (0, 3, 2), (300, 3, 300)])
def test_prelu_per_channel(shape):
    _check_prelu(shape, 3)


def test_prelu_functional_and_float64():
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((3, 4, 5)).astype(dt)
        w = rng.uniform(-1, 1, 4).astype(dt)
        check_op(None, TF.prelu, F.prelu, inputs=[x, w],
                 atol=1e-12 if dt == np.float64 else 1e-5, rtol=1e-6)
    # 0-d weight, as torch allows
    check_op(None, TF.prelu, F.prelu,
             inputs=[rng.standard_normal((2, 3)).astype(np.float32), np.array(0.3, np.float32)])


def test_prelu_state_dict_matches_torch():
    for n in (1, 5):
        tm, nm = torch.nn.PReLU(n, init=0.1), nn.PReLU(n, init=0.1)
        tsd, nsd = tm.state_dict(), nm.state_dict()
        assert list(nsd) == list(tsd) == ["weight"]
        assert tuple(nsd["weight"].shape) == tuple(tsd["weight"].shape) == (n,)
        assert_close(nsd["weight"], tsd["weight"], 0, 0)
        assert nm.weight.dtype == np.float32
    assert repr(nn.PReLU(5)) == repr(torch.nn.PReLU(5))


# ===================================================================== softmax specifics

@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 33)])
def test_softmax_every_dim(log, shape):
    tfn = torch.log_softmax if log else torch.softmax
    nfn = F.log_softmax if log else F.softmax
    for dim in range(-len(shape), len(shape)):
        check_op([shape], lambda x: tfn(x, dim), lambda x: nfn(x, dim), atol=1e-6, rtol=1e-5,
                 low=-8, high=8, seed=dim + 10)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_softmax_large_magnitude_stays_finite(log, dim):
    rng = np.random.default_rng(dim)
    x = (rng.choice([-1000.0, 1000.0], (4, 6, 5)) + rng.uniform(-3, 3, (4, 6, 5))).astype(
        np.float32)
    tfn = torch.log_softmax if log else torch.softmax
    nfn = F.log_softmax if log else F.softmax
    nout, _ = check_op(None, lambda t: tfn(t, dim), lambda t: nfn(t, dim), inputs=[x],
                       atol=1e-4 if log else 1e-6, rtol=1e-5)
    assert np.isfinite(nout.detach().numpy()).all()
    if not log:
        np.testing.assert_allclose(nout.detach().numpy().sum(axis=dim), 1.0, rtol=1e-5)


def test_softmax_0d_and_dtype():
    check_op(None, lambda t: torch.softmax(t, 0), lambda t: F.softmax(t, 0),
             inputs=[np.array(2.5, np.float32)])
    check_op(None, lambda t: torch.log_softmax(t, -1), lambda t: F.log_softmax(t, -1),
             inputs=[np.array(2.5, np.float32)])
    x = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
    n_out, t_out = check_op(None, lambda t: TF.softmax(t, 1, dtype=torch.float64),
                            lambda t: F.softmax(t, 1, dtype=nf.float64), inputs=[x], atol=1e-7)
    assert n_out.dtype == np.float64
    check_op(None, lambda t: TF.log_softmax(t, 0, dtype=torch.float64),
             lambda t: F.log_softmax(t, 0, dtype=np.float64), inputs=[x], atol=1e-7)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dim", [0, 1])
def test_softmax_nan_and_inf_rows_like_torch(log, dim):
    x = np.zeros((3, 40), np.float32)
    x[0, 5] = np.nan
    x[1, :] = -np.inf
    x[2, :] = -np.inf
    x[2, 7] = 1.0
    tfn = torch.log_softmax if log else torch.softmax
    nfn = F.log_softmax if log else F.softmax
    n = nfn(nf.tensor(x), dim).detach().numpy()
    t = tfn(torch.from_numpy(x), dim).numpy()
    np.testing.assert_array_equal(np.isnan(n), np.isnan(t))
    np.testing.assert_allclose(n, t, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_implicit_dim_warns_like_torch(shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        n = F.softmax(nf.tensor(x)).detach().numpy()
        nm = nn.LogSoftmax()(nf.tensor(x)).detach().numpy()
    assert len(rec) == 2 and all("Implicit dimension choice" in str(w.message) for w in rec)
    assert all(w.filename == __file__ for w in rec), [w.filename for w in rec]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = TF.softmax(torch.from_numpy(x)).numpy()
        tm = torch.nn.LogSoftmax()(torch.from_numpy(x)).numpy()
    assert_close(n, t, 1e-6, 1e-5)
    assert_close(nm, tm, 1e-6, 1e-5)


# ===================================================================== float64 gradient checks

FD_CASES = dict(ELEMENTWISE)
FD_CASES["softmax0"] = (None, lambda x: F.softmax(x, 0))
FD_CASES["softmax2"] = (None, lambda x: F.softmax(x, 2))
FD_CASES["log_softmax1"] = (None, lambda x: F.log_softmax(x, 1))
FD_CASES["log_softmax-1"] = (None, lambda x: F.log_softmax(x, -1))


@pytest.mark.parametrize("name", sorted(FD_CASES))
def test_finite_differences_float64(name):
    fn = FD_CASES[name][1]
    rng = np.random.default_rng(7)
    x = rng.uniform(-3, 3, (2, 3, 4))
    x[np.abs(x) < 0.05] = 0.5  # keep away from the kinks of relu/leaky_relu/elu
    w = rng.standard_normal(x.shape)
    t = nf.tensor(x, requires_grad=True)
    (fn(t) * nf.tensor(w)).sum().backward()
    num = fd_grad(lambda v: float((fn(nf.tensor(v)).detach().numpy() * w).sum()), x.copy())
    np.testing.assert_allclose(t.grad.detach().numpy(), num, atol=1e-7, rtol=1e-6)


def test_prelu_finite_differences_float64():
    rng = np.random.default_rng(8)
    x = rng.uniform(-3, 3, (2, 3, 4))
    x[np.abs(x) < 0.05] = 0.5
    m = nn.PReLU(3, dtype=np.float64)
    nn.init.uniform_(m.weight, -1, 1)
    w = rng.standard_normal(x.shape)
    t = nf.tensor(x, requires_grad=True)
    (m(t) * nf.tensor(w)).sum().backward()
    num_x = fd_grad(lambda v: float((m(nf.tensor(v)).detach().numpy() * w).sum()), x.copy())
    wd = m.weight.detach().numpy()

    def f_w(v):
        old = wd.copy()
        wd[...] = v
        r = float((m(nf.tensor(x)).detach().numpy() * w).sum())
        wd[...] = old
        return r
    num_w = fd_grad(f_w, wd.copy())
    np.testing.assert_allclose(t.grad.detach().numpy(), num_x, atol=1e-7, rtol=1e-6)
    np.testing.assert_allclose(m.weight.grad.detach().numpy(), num_w, atol=1e-7, rtol=1e-6)


# ===================================================================== C path == NumPy reference

KINDS = {"relu": (FA._RELU, 0.0), "leaky_relu": (FA._LEAKY_RELU, 0.03),
         "elu": (FA._ELU, 1.3), "sigmoid": (FA._SIGMOID, 0.0), "tanh": (FA._TANH, 0.0),
         "gelu": (FA._GELU, 0.0), "gelu_tanh": (FA._GELU_TANH, 0.0), "silu": (FA._SILU, 0.0)}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_c_kernels_equal_numpy_reference(name):
    kind, a = KINDS[name]
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-12, 12, 5000), rng.uniform(-1e-2, 1e-2, 500),
                        [0.0, 40.0, -40.0, 95.0, -95.0]]).astype(np.float32)
    g = rng.standard_normal(x.size).astype(np.float32)
    out = np.empty_like(x)
    _C.act_forward(kind, out, x, a)
    ref = FA._ref_forward(kind, x.astype(np.float64), a)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)
    saved = out if kind in FA._SAVES_OUTPUT else x
    dx = np.empty_like(x)
    _C.act_backward(kind, dx, g, saved, a)
    dref = FA._ref_backward(kind, g.astype(np.float64), saved.astype(np.float64), a)
    # (the derivative formulas shared with torch cancel in GELU's left tail: atol_for)
    np.testing.assert_allclose(dx, dref, rtol=1e-6, atol=atol_for(name))
    # in place forward gives the same as out of place
    y = x.copy()
    _C.act_forward(kind, y, y, a)
    np.testing.assert_array_equal(y, out)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dims", [(5, 1000, 1), (3, 17, 33), (1, 7, 300), (2, 1, 5)])
def test_c_softmax_equals_numpy_reference(log, dims):
    outer, D, inner = dims
    rng = np.random.default_rng(12)
    x = rng.uniform(-20, 20, dims).astype(np.float32)
    g = rng.standard_normal(dims).astype(np.float32)
    out = np.empty(x.size, np.float32)
    _C.softmax_forward(out, x.reshape(-1), outer, D, inner, log)
    ref = FA._ref_softmax(x.astype(np.float64), 1, log)
    # log-softmax near 0 carries the absolute rounding of x - max - lse (|x| up to 20)
    np.testing.assert_allclose(out.reshape(dims), ref, rtol=1e-5, atol=1e-6 if log else 1e-7)
    dx = np.empty_like(out)
    _C.softmax_backward(dx, g.reshape(-1), out, outer, D, inner, log)
    dref = FA._ref_softmax_backward(g.astype(np.float64), out.reshape(dims).astype(np.float64),
                                    1, log)
    np.testing.assert_allclose(dx.reshape(dims), dref, rtol=1e-5, atol=1e-6)


def test_float32_path_equals_float64_reference_through_api():
    rng = np.random.default_rng(13)
    x = rng.uniform(-6, 6, (4, 5, 6)).astype(np.float32)
    for name, (_, nff) in ELEMENTWISE.items():
        a = nff(nf.tensor(x)).detach().numpy()
        b = nff(nf.tensor(x.astype(np.float64))).detach().numpy()
        assert a.dtype == np.float32 and b.dtype == np.float64
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("which,lo,hi", [(0, -105, 89), (1, -21, 20), (2, -12, 12), (3, -5, 5)])
def test_vector_math_within_few_ulp_of_libm(which, lo, hi):
    rng = np.random.default_rng(which)
    x = np.concatenate([rng.uniform(lo, hi, 100000), rng.uniform(-1e-3, 1e-3, 5000),
                        [0.0, -0.0, np.nan]]).astype(np.float32)
    ours, libm = np.empty_like(x), np.empty_like(x)
    _C.act_math(ours, x, which)
    _C.act_math(libm, x, which, True)
    assert np.array_equal(np.isnan(ours), np.isnan(libm))
    inf = np.isinf(libm)
    assert np.array_equal(ours[inf], libm[inf])
    ok = ~np.isnan(libm) & ~inf
    tiny = np.finfo(np.float32).tiny
    ulp = np.spacing(np.maximum(np.abs(libm[ok]), tiny))
    assert (np.abs(ours[ok].astype(np.float64) - libm[ok]) <= 3 * ulp).all()


def test_erf_pieces_meet_and_stay_within_few_ulp():
    """erf (GELU forward) switches pieces at |x| = 1 and 4; the exp form inside the GELU
    backward uses the same split. Dense grids across both joins, against float64 erf."""
    x = np.concatenate([np.linspace(j - 0.01, j + 0.01, 4001) for j in (-4, -1, 1, 4)]
                       + [np.linspace(-6, 6, 20001)]).astype(np.float32)
    ours = np.empty_like(x)
    _C.act_math(ours, x, 3)
    exact = np.array([math.erf(float(v)) for v in x])
    ulp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    assert (np.abs(ours - exact) <= 3 * ulp).all()
    # the GELU derivative at the same points, against its float64 formula
    g = np.ones_like(x)
    dx = np.empty_like(x)
    _C.act_backward(FA._GELU, dx, g, x, 0.0)
    xd = x.astype(np.float64) / math.sqrt(2)
    ref = 0.5 * (1 + np.array([math.erf(v) for v in xd])) + x * np.exp(-xd * xd) / math.sqrt(
        2 * math.pi)
    np.testing.assert_allclose(dx, ref, rtol=1e-6, atol=2e-7)


def test_exp_edges_of_sigmoid_silu_gelu():
    """Saturation and non-finite inputs: the values torch gives (sigmoid/SiLU use an exp
    without denormal results, so -88.72 < x < -88.38 gives 0 where torch gives <= 4e-39)."""
    x = np.array([-np.inf, -1e4, -89.0, -88.5, -88.0, -20.0, 20.0, 89.0, 1e4, np.inf, np.nan],
                 np.float32)
    for kind, tf in ((FA._SIGMOID, torch.sigmoid), (FA._SILU, TF.silu), (FA._GELU, TF.gelu)):
        out = np.empty_like(x)
        _C.act_forward(kind, out, x, 0.0)
        ref = tf(torch.from_numpy(x)).numpy()
        if kind == FA._GELU:
            ref[x == np.inf] = np.inf  # torch's vectorised erf gives NaN at +inf; x * 1 here
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-36, err_msg=str(kind))
        assert np.array_equal(np.isnan(out), np.isnan(ref))


def test_large_parallel_inputs():
    """Sizes above the OpenMP thresholds (the split must cover every element once)."""
    rng = np.random.default_rng(14)
    x = rng.uniform(-5, 5, 300_001).astype(np.float32)
    for name in ("relu", "sigmoid", "gelu"):
        tf, nff = ELEMENTWISE[name]
        check_op(None, tf, nff, inputs=[x], atol=atol_for(name), rtol=1e-5)
    x2 = rng.uniform(-5, 5, (300, 2, 100)).astype(np.float32)
    check_op(None, lambda t: torch.softmax(t, 2), lambda t: F.softmax(t, 2), inputs=[x2],
             atol=1e-6)
    check_op(None, lambda t: torch.log_softmax(t, 0), lambda t: F.log_softmax(t, 0),
             inputs=[x2], atol=1e-6)


# ===================================================================== inplace

@pytest.mark.parametrize("name,tf,nff", [
    ("relu", lambda x: TF.relu(x, inplace=True), lambda x: F.relu(x, inplace=True)),
    ("leaky_relu", lambda x: TF.leaky_relu(x, 0.2, True), lambda x: F.leaky_relu(x, 0.2, True)),
    ("elu", lambda x: TF.elu(x, 1.0, True), lambda x: F.elu(x, 1.0, True)),
    ("silu", lambda x: TF.silu(x, True), lambda x: F.silu(x, True)),
])
def test_inplace_without_grad(name, tf, nff):
    x = np.random.default_rng(2).standard_normal((4, 5)).astype(np.float32)
    t, n = torch.from_numpy(x.copy()), nf.tensor(x)
    rt, rn = tf(t), nff(n)
    assert rn is n
    assert_close(n, t, 1e-6, 1e-5)
    # non-contiguous float64 storage also works
    xd = np.asfortranarray(x.astype(np.float64))
    n2 = nf.from_numpy(xd)
    nff(n2)
    assert_close(n2.detach().numpy(), tf(torch.from_numpy(x.astype(np.float64))), 1e-12, 1e-12)


@pytest.mark.parametrize("name,tf,nff", [
    ("relu", lambda x: TF.relu(x, inplace=True), lambda x: F.relu(x, inplace=True)),
    ("relu_module", lambda x: torch.nn.ReLU(inplace=True)(x), lambda x: nn.ReLU(inplace=True)(x)),
    ("elu", lambda x: TF.elu(x, 1.0, True), lambda x: F.elu(x, 1.0, True)),
    ("silu", lambda x: torch.nn.SiLU(True)(x), lambda x: nn.SiLU(True)(x)),
])
def test_inplace_with_grad_trains_like_torch(name, tf, nff):
    # torch applies it in place on an intermediate; nnfast computes it out of place, with the
    # same values and gradients, so models written with inplace=True port unchanged.
    check_op([(3, 4)], lambda t: tf(t * 2), lambda t: nff(t * 2), atol=1e-6)


def test_inplace_under_no_grad_is_in_place():
    x = nf.randn(3, 4, requires_grad=True)
    with nf.no_grad():
        y = nn.ReLU(inplace=True)(x)
    assert y is x and (x.detach().numpy() >= 0).all()


# ===================================================================== repr

def test_extra_repr_matches_torch():
    pairs = [(nn.ReLU(), torch.nn.ReLU()), (nn.ReLU(True), torch.nn.ReLU(True)),
             (nn.LeakyReLU(), torch.nn.LeakyReLU()),
             (nn.LeakyReLU(0.2, True), torch.nn.LeakyReLU(0.2, True)),
             (nn.PReLU(3), torch.nn.PReLU(3)), (nn.ELU(), torch.nn.ELU()),
             (nn.ELU(0.5, True), torch.nn.ELU(0.5, True)), (nn.Sigmoid(), torch.nn.Sigmoid()),
             (nn.Tanh(), torch.nn.Tanh()), (nn.GELU(), torch.nn.GELU()),
             (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.SiLU(), torch.nn.SiLU()),
             (nn.SiLU(True), torch.nn.SiLU(True)), (nn.Softmax(1), torch.nn.Softmax(1)),
             (nn.Softmax(), torch.nn.Softmax()), (nn.LogSoftmax(-1), torch.nn.LogSoftmax(-1))]
    for a, b in pairs:
        assert repr(a) == repr(b)


def test_all_lists_public_names():
    for name in nn.activation.__all__:
        assert hasattr(nn, name)
    for name in FA.__all__:
        assert callable(getattr(F, name))


# ===================================================================== bad input

@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_integer_input_raises_dtype_error(name):
    x = nf.tensor(np.arange(6).reshape(2, 3))
    fname = name.replace("_default", "").replace("_alpha", "").replace("gelu_tanh", "gelu")
    with pytest.raises(nf.DTypeError, match=fname):
        ELEMENTWISE[name][1](x)


@pytest.mark.parametrize("mod", ["ReLU", "Sigmoid", "GELU", "Softmax", "LogSoftmax", "SiLU"])
def test_module_integer_input_raises(mod):
    with pytest.raises(nf.DTypeError, match="int64"):
        MODULES[mod][1](nf.tensor([[1, 2, 3]]))
    with pytest.raises(RuntimeError):  # DTypeError is also a RuntimeError, as in torch
        MODULES[mod][1](nf.tensor([[1, 2, 3]]))


def test_softmax_bad_args():
    x = nf.randn(2, 3)
    with pytest.raises(IndexError, match=r"\[-2, 1\].*got 2"):
        F.softmax(x, 2)
    with pytest.raises(IndexError):
        F.log_softmax(x, -3)
    with pytest.raises(nf.DTypeError, match="log_softmax"):
        F.log_softmax(nf.tensor([1, 2]), 0)
    with pytest.raises(nf.DTypeError, match="int32"):
        F.softmax(x, 1, dtype=np.int32)
    # an int input with a float dtype is fine, as in torch
    out = F.softmax(nf.tensor([1, 2, 3]), 0, dtype=nf.float32)
    assert_close(out, torch.softmax(torch.tensor([1, 2, 3]), 0, dtype=torch.float32))


def test_gelu_bad_approximate():
    with pytest.raises(ValueError, match="none or tanh"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="none or tanh"):
        F.gelu(nf.randn(3), approximate="erf")


def test_prelu_bad_inputs():
    m = nn.PReLU(3)
    with pytest.raises(nf.ShapeError, match=r"PReLU\(num_parameters=3\).*4 channel.*\(2, 4, 5\)"):
        m(nf.randn(2, 4, 5))
    with pytest.raises(nf.ShapeError, match=r"PReLU\(num_parameters=3\)"):
        m(nf.randn(3))  # rank 1 counts as one channel, as in torch
    with pytest.raises(RuntimeError):
        m(nf.randn(2, 4))
    with pytest.raises(nf.DTypeError, match=r"PReLU\(num_parameters=3\).*float64"):
        m(nf.randn(2, 3).double())
    with pytest.raises(nf.DTypeError, match="int64"):
        m(nf.tensor([[1, 2, 3]]))
    with pytest.raises(nf.ShapeError, match="scalar or 1-D"):
        F.prelu(nf.randn(2, 3), nf.randn(1, 3))
    # torch raises for the same mistakes
    with pytest.raises(RuntimeError):
        torch.nn.PReLU(3)(torch.randn(2, 4, 5))
    with pytest.raises(RuntimeError):
        torch.nn.PReLU(3)(torch.randn(3))
