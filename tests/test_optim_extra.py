"""Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop and LBFGS against torch.optim (single-tensor CPU
path): many steps over a grid of options, each update to the ulp, state_dict round trips and
torch interop, validation, the C kernels against the NumPy references, compile_step."""
import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import nnfast as nf
from nnfast.backend import cpu as cpu_table
from nnfast import _C, nn
from nnfast.optim import _functional_extra as FX
from helpers import copy_weights
from test_optim import (TNet, assert_params_close, grid, make_pair, n_step, run_against_torch,
                        t_step)
from test_compile import _count_step_calls, make_data, mlp, run_both

ADADELTA_GRID = grid(lr=[1.0, 0.3], rho=[0.9, 0.5], weight_decay=[0.0, 0.05],
                     maximize=[False, True]) + [dict(lr=0.5, eps=1e-3)]
ADAMAX_GRID = grid(lr=[0.01], weight_decay=[0.0, 0.1], maximize=[False, True]) + [
    dict(lr=0.02, betas=(0.3, 0.8), eps=1e-6)]
NADAM_GRID = grid(lr=[0.01], weight_decay=[0.0, 0.1], decoupled_weight_decay=[False, True],
                  momentum_decay=[4e-3, 0.2], maximize=[False, True]) + [
    dict(lr=0.02, betas=(0.3, 0.8), eps=1e-6)]
# betas (0.5, 0.9): rho_inf = 19, so the rectified branch starts at step 3 (4e-3 default: ~6)
RADAM_GRID = grid(lr=[0.01], betas=[(0.9, 0.999), (0.5, 0.9)], weight_decay=[0.0, 0.1],
                  decoupled_weight_decay=[False, True], maximize=[False, True]) + [
    dict(lr=0.02, eps=1e-6)]
# t0=10: averaging (mu != 1) starts at step 11; lambd 0.05 makes the decay term visible
ASGD_GRID = grid(lr=[0.05], lambd=[1e-4, 0.05], alpha=[0.75], t0=[1e6, 10.0],
                 weight_decay=[0.0, 0.05], maximize=[False, True]) + [
    dict(lr=0.02, alpha=0.3, t0=0.0)]
RPROP_GRID = grid(lr=[0.01, 1e-3], etas=[(0.5, 1.2), (0.3, 1.5)],
                  step_sizes=[(1e-6, 50), (1e-4, 0.02)], maximize=[False, True])
ALL = ([("Adadelta", k) for k in ADADELTA_GRID] + [("Adamax", k) for k in ADAMAX_GRID]
       + [("NAdam", k) for k in NADAM_GRID] + [("RAdam", k) for k in RADAM_GRID]
       + [("ASGD", k) for k in ASGD_GRID] + [("Rprop", k) for k in RPROP_GRID])
ONE_EACH = [("Adadelta", dict(lr=0.5, weight_decay=0.01)),
            ("Adamax", dict(lr=0.01, weight_decay=0.01)),
            ("NAdam", dict(lr=0.01, weight_decay=0.01, momentum_decay=0.1)),
            ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
            ("RAdam", dict(lr=0.01, betas=(0.5, 0.9), weight_decay=0.01)),
            ("RAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
            ("ASGD", dict(lr=0.05, lambd=0.01, t0=5.0, weight_decay=0.01)),
            ("Rprop", dict(lr=0.01, step_sizes=(1e-5, 0.1)))]
NAMES = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]


def ids(v):
    return str(v)


# ----------------------------------------------------------------------------- vs torch
@pytest.mark.parametrize("name,kwargs", ALL, ids=ids)
def test_matches_torch_over_many_steps(name, kwargs):
    run_against_torch(name, kwargs, steps=60)


@pytest.mark.parametrize("name,kwargs", ONE_EACH + [
    ("Adamax", dict(lr=0.02, betas=(0.3, 0.8), maximize=True)),
    ("NAdam", dict(lr=0.01, maximize=True, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=0.0, alpha=0.3, maximize=True)),
    ("Rprop", dict(lr=0.001, etas=(0.3, 1.5), maximize=True))], ids=ids)
def test_each_update_matches_torch_to_the_ulp(name, kwargs):
    """Same params and gradients each step (torch's), so only the optimizer's arithmetic is
    compared, state included (0-d state too). Adamax, ASGD and Rprop have no sqrt and are
    bit-identical; the others differ only through torch's CPU sqrt (MKL VML, ~1 ulp off in
    some elements) against our IEEE sqrtf."""
    tm, nm, tdata, _ = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    tps, nps = list(tm.parameters()), list(nm.parameters())
    exact = name in ("Adamax", "ASGD", "Rprop")
    for t in range(25):
        x, y = tdata
        topt.zero_grad()
        ((tm(x) - y) ** 2).mean().backward()
        for tp, p in zip(tps, nps):
            p.detach().numpy()[...] = tp.detach().numpy()
            p._grad_buf[...] = tp.grad.numpy()
            p.grad = nf.Tensor._make(p._grad_buf)
        topt.step()
        nopt.step()
        for tp, p in zip(tps, nps):
            assert list(nopt.state[p]) == list(topt.state[tp])
            pairs = [(p.detach().numpy(), tp.detach().numpy())] + [
                (nopt.state[p][k].detach().numpy(), v.numpy())
                for k, v in topt.state[tp].items()]
            for j, (a, b) in enumerate(pairs):
                assert a.shape == b.shape and a.dtype == b.dtype
                if exact or b.ndim == 0:
                    np.testing.assert_array_equal(a, b, err_msg=f"step {t} item {j}")
                elif j == 0:
                    np.testing.assert_allclose(a, b, rtol=3e-7, atol=1e-8)
                else:
                    np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-6 * np.abs(b).max())


@pytest.mark.parametrize("name", NAMES)
def test_default_hyperparameters_match_torch(name):
    tm, nm, _, _ = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters())
    nopt = getattr(nf.optim, name)(nm.parameters())
    tg = {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    ng = {k: v for k, v in nopt.param_groups[0].items() if k != "params"}
    assert ng == tg and list(ng) == list(tg)
    run_against_torch(name, {}, steps=20)


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_two_param_groups_with_own_options(name, kwargs):
    def groups(m):
        return [{"params": list(m.fc1.parameters()), "lr": kwargs["lr"] * 2},
                {"params": list(m.fc2.parameters())}]
    *_, nopt, _, _ = run_against_torch(name, kwargs, groups=groups)
    assert nopt.param_groups[0]["lr"] == kwargs["lr"] * 2


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_params_without_grad_are_skipped(name, kwargs):
    tm, nm, topt, nopt, _, _ = run_against_torch(name, kwargs, unused=True, steps=20)
    for p, tp in zip([nm.spare.weight, nm.spare.bias], [tm.spare.weight, tm.spare.bias]):
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
        assert len(nopt.state[p]) == 0
    ts, ns = topt.state_dict()["state"], nopt.state_dict()["state"]
    assert sorted(ts) == sorted(ns)
    for k in ts:
        assert list(ts[k]) == list(ns[k])


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_step_counts_and_scalar_state_stay_per_parameter(name, kwargs):
    """One parameter skips every third step: its step count (and NAdam's mu_product, ASGD's
    eta / mu) run behind the others', so the group falls back to per-parameter calls."""
    tm, nm, tdata, ndata = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    for t in range(30):
        for opt, m, (x, y) in ((topt, tm, tdata), (nopt, nm, ndata)):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            if t % 3 == 0:
                m.fc1.bias.grad = None
            opt.step()
        assert_params_close(tm, nm, what=f"step {t}")
    for k, v in topt.state[tm.fc1.bias].items():
        if v.ndim == 0:
            assert nopt.state[nm.fc1.bias][k].item() == v.item(), k


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_lr_changed_mid_run(name, kwargs):
    tm, nm, tdata, ndata = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    for t in range(40):
        if t in (15, 30):
            for g in topt.param_groups + nopt.param_groups:
                g["lr"] *= 0.5 if t == 15 else 3.0
        t_step(tm, topt, tdata)
        n_step(nm, nopt, ndata)
    assert_params_close(tm, nm)


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_float64_params_use_the_reference(name, kwargs):
    *_, nopt, _, _ = run_against_torch(name, kwargs, steps=30, atol=1e-10,
                                       dtype=torch.float64)
    assert nopt._flat[0].param.dtype == np.float64


# ----------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_state_dict_round_trip_nnfast(name, kwargs):
    _, nm, _, data = make_pair()
    data = tuple(data)
    opt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    for _ in range(15):
        n_step(nm, opt, data)
    sd = opt.state_dict()
    nm2 = copy.deepcopy(nm)
    nm2.load_state_dict(nm.state_dict())
    opt2 = getattr(nf.optim, name)(nm2.parameters(), lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    sd_copy = copy.deepcopy(sd)
    for _ in range(15):
        n_step(nm, opt, data)
        n_step(nm2, opt2, data)
    for a, b in zip(nm.parameters(), nm2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for k, v in sd["state"].items():   # snapshots, not views
        for key, val in v.items():
            np.testing.assert_array_equal(val.detach().numpy(),
                                          sd_copy["state"][k][key].detach().numpy())


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_load_torch_state_dict_mid_training(name, kwargs):
    tm, nm, tdata, ndata = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    for _ in range(20):
        t_step(tm, topt, tdata)
    copy_weights(tm, nm)
    ndata.i = tdata.i
    nopt = getattr(nf.optim, name)(nm.parameters())
    nopt.load_state_dict(topt.state_dict())
    tsd, nsd = topt.state_dict(), nopt.state_dict()
    assert nsd["param_groups"] == tsd["param_groups"]
    for k, v in tsd["state"].items():
        assert list(nsd["state"][k]) == list(v)
        for key, val in v.items():
            np.testing.assert_array_equal(nsd["state"][k][key].detach().numpy(), val.numpy())
    for _ in range(30):
        t_step(tm, topt, tdata)
        n_step(nm, nopt, ndata)
    assert_params_close(tm, nm)


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_torch_can_read_our_state_format(name, kwargs):
    tm, nm, tdata, ndata = make_pair()
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    for _ in range(10):
        n_step(nm, nopt, ndata)
        t_step(tm, topt, tdata)
    sd = nopt.state_dict()
    as_torch = {"param_groups": sd["param_groups"],
                "state": {k: {kk: torch.from_numpy(vv.detach().numpy().copy())
                              for kk, vv in v.items()} for k, v in sd["state"].items()}}
    topt.load_state_dict(as_torch)
    copy_weights(tm, nm)
    for _ in range(10):
        n_step(nm, nopt, ndata)
        t_step(tm, topt, tdata)
    assert_params_close(tm, nm)


# ----------------------------------------------------------------------------- validation
BAD = [
    ("Adadelta", dict(lr=-1.0), "learning rate"),
    ("Adadelta", dict(rho=1.5), "rho"),
    ("Adadelta", dict(rho=-0.1), "rho"),
    ("Adadelta", dict(eps=-1e-6), "epsilon"),
    ("Adadelta", dict(weight_decay=-0.1), "weight_decay"),
    ("Adamax", dict(lr=-1.0), "learning rate"),
    ("Adamax", dict(eps=-1.0), "epsilon"),
    ("Adamax", dict(betas=(1.0, 0.9)), "beta parameter at index 0"),
    ("Adamax", dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    ("Adamax", dict(weight_decay=-0.1), "weight_decay"),
    ("NAdam", dict(lr=-1.0), "learning rate"),
    ("NAdam", dict(eps=-1.0), "epsilon"),
    ("NAdam", dict(betas=(-0.1, 0.9)), "beta parameter at index 0"),
    ("NAdam", dict(betas=(0.9, 1.0)), "beta parameter at index 1"),
    ("NAdam", dict(weight_decay=-0.1), "weight_decay"),
    ("NAdam", dict(momentum_decay=-0.1), "momentum_decay"),
    ("RAdam", dict(lr=-1.0), "learning rate"),
    ("RAdam", dict(eps=-1.0), "epsilon"),
    ("RAdam", dict(betas=(1.5, 0.9)), "beta parameter at index 0"),
    ("RAdam", dict(betas=(0.9, 1.5)), "beta parameter at index 1"),
    ("RAdam", dict(weight_decay=-0.1), "weight_decay"),
    ("ASGD", dict(lr=-1.0), "learning rate"),
    ("ASGD", dict(weight_decay=-0.1), "weight_decay"),
    ("Rprop", dict(lr=-1.0), "learning rate"),
    ("Rprop", dict(etas=(1.2, 0.5)), "eta values"),
    ("Rprop", dict(etas=(0.0, 1.2)), "eta values"),
    ("Rprop", dict(etas=(0.5, 1.0)), "eta values"),
]


@pytest.mark.parametrize("name,kwargs,msg", BAD, ids=ids)
def test_invalid_hyperparameters_raise_like_torch(name, kwargs, msg):
    _, nm, _, _ = make_pair()
    with pytest.raises(ValueError, match=msg):
        getattr(nf.optim, name)(nm.parameters(), **kwargs)
    with pytest.raises(ValueError, match=msg):
        getattr(torch.optim, name)(TNet().parameters(), **kwargs)
    with pytest.raises(ValueError, match=msg):     # given per group, checked too
        getattr(nf.optim, name)([{"params": nm.fc1.parameters(), **kwargs}])


@pytest.mark.parametrize("name", NAMES)
def test_torch_flags_accepted_and_differentiable_refused(name):
    _, nm, _, _ = make_pair()
    getattr(nf.optim, name)(nm.fc1.parameters(), foreach=True, capturable=False)
    with pytest.raises(NotImplementedError, match="differentiable"):
        getattr(nf.optim, name)(nm.fc2.parameters(), differentiable=True)


# ----------------------------------------------------------------------------- flat buffers
FNS = {"Adadelta": "adadelta", "Adamax": "adamax", "NAdam": "nadam", "RAdam": "radam",
       "ASGD": "asgd", "Rprop": "rprop"}


@pytest.mark.parametrize("name,kwargs", ONE_EACH, ids=ids)
def test_fast_path_equals_per_parameter_path(name, kwargs, monkeypatch):
    calls = []
    orig = getattr(FX, FNS[name])

    def spy(params, *a, **k):
        calls.append(len(params))
        return orig(params, *a, **k)
    monkeypatch.setattr(FX, FNS[name], spy)
    run_update = cpu_table.run_update   # the one-call path: the group's record, run in C

    def spy_record(rec):
        calls.append(1)
        return run_update(rec)
    monkeypatch.setattr(cpu_table, "run_update", spy_record)
    _, m_fast, _, (x, y) = make_pair()
    m_slow = copy.deepcopy(m_fast)
    o_fast = getattr(nf.optim, name)(m_fast.parameters(), **kwargs)
    o_slow = getattr(nf.optim, name)(m_slow.parameters(), **kwargs)
    for _ in range(25):
        n_step(m_fast, o_fast, (x, y))
        assert calls[-1] == 1          # one call for the whole group
        o_slow.zero_grad()
        ((m_slow(x) - y) ** 2).mean().backward()
        for p in m_slow.parameters():  # user-assigned grads: not the flat views
            p.grad = nf.tensor(p.grad.detach().numpy().copy())
        o_slow.step()
        assert calls[-1] == 4          # one call per parameter
    for a, b in zip(m_fast.parameters(), m_slow.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for a, b in zip(m_fast.parameters(), m_slow.parameters()):
        for k, v in o_fast.state[a].items():
            np.testing.assert_array_equal(v.detach().numpy(), o_slow.state[b][k].detach().numpy())


def test_scalar_state_lives_in_the_group_array():
    _, nm, _, data = make_pair()
    opt = nf.optim.NAdam(nm.parameters(), lr=0.01)
    n_step(nm, opt, tuple(data))
    fl = opt._flat[0]
    for p in nm.parameters():
        st = opt.state[p]
        assert list(st) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
        assert st["mu_product"].detach().numpy().base is fl.scalars["mu_product"]
        assert st["mu_product"].shape == () and st["mu_product"].dtype == np.float32


# ----------------------------------------------------------------------------- C vs reference
def _arrays(rng, n, k, positive=()):
    out = []
    for i in range(k):
        a = rng.standard_normal(n).astype(np.float32)
        out.append(np.abs(a) + np.float32(0.01) if i in positive else a)
    return out


def _check_engines(fn, base, kw, scalars=()):
    """Three steps through each engine from the same arrays: bit-identical arrays and 0-d
    state. scalars: one-element arrays (per-parameter 0-d state) passed after the arrays."""
    c = [a.copy() for a in base] + [s.copy() for s in scalars]
    r = [a.copy() for a in base] + [s.copy() for s in scalars]
    for step in (1, 2, 3):
        fn(*[[a] for a in c], step, **kw, engine="c")
        fn(*[[a] for a in r], step, **kw, engine="numpy")
    for a, b in zip(c, r):
        np.testing.assert_array_equal(a, b)


SIZES = st.sampled_from([0, 1, 7, 8, 15, 16, 17, 33, 64, 100, 257])
EX = dict(max_examples=25, deadline=None)


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), rho=st.sampled_from([0.9, 0.3]),
       wd=st.sampled_from([0.0, 0.1]), maximize=st.booleans())
def test_adadelta_kernel_equals_reference(n, seed, rho, wd, maximize):
    base = _arrays(np.random.default_rng(seed), n, 4, positive=(2, 3))

    def fn(p, g, sq, acc, step, **kw):
        FX.adadelta(p, g, sq, acc, **kw)
    _check_engines(fn, base, dict(lr=0.7, rho=rho, eps=1e-6, weight_decay=wd,
                                  maximize=maximize))


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), wd=st.sampled_from([0.0, 0.1]),
       maximize=st.booleans(), betas=st.sampled_from([(0.9, 0.999), (0.2, 0.5)]))
def test_adamax_kernel_equals_reference(n, seed, wd, maximize, betas):
    base = _arrays(np.random.default_rng(seed), n, 4, positive=(3,))

    def fn(p, g, m, u, step, **kw):
        FX.adamax(p, g, m, u, [step], **kw)
    _check_engines(fn, base, dict(beta1=betas[0], beta2=betas[1], lr=0.01, weight_decay=wd,
                                  eps=1e-8, maximize=maximize))


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), wd=st.sampled_from([0.0, 0.1]),
       decoupled=st.booleans(), maximize=st.booleans(),
       momentum_decay=st.sampled_from([4e-3, 0.3]))
def test_nadam_kernel_equals_reference(n, seed, wd, decoupled, maximize, momentum_decay):
    base = _arrays(np.random.default_rng(seed), n, 4, positive=(3,))

    def fn(p, g, m, v, mp, step, **kw):
        FX.nadam(p, g, m, v, mp, [step], **kw)
    _check_engines(fn, base, dict(beta1=0.9, beta2=0.999, lr=0.01, weight_decay=wd, eps=1e-8,
                                  momentum_decay=momentum_decay,
                                  decoupled_weight_decay=decoupled, maximize=maximize),
                   scalars=[np.ones(1, np.float32)])


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), wd=st.sampled_from([0.0, 0.1]),
       decoupled=st.booleans(), maximize=st.booleans(),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.9)]), start=st.integers(0, 20))
def test_radam_kernel_equals_reference(n, seed, wd, decoupled, maximize, betas, start):
    base = _arrays(np.random.default_rng(seed), n, 4, positive=(3,))

    def fn(p, g, m, v, step, **kw):
        FX.radam(p, g, m, v, [step + start], **kw)   # both branches of rho_t > 5
    _check_engines(fn, base, dict(beta1=betas[0], beta2=betas[1], lr=0.01, weight_decay=wd,
                                  eps=1e-8, decoupled_weight_decay=decoupled,
                                  maximize=maximize))


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), wd=st.sampled_from([0.0, 0.1]),
       maximize=st.booleans(), t0=st.sampled_from([0.0, 1.0, 1e6]),
       lambd=st.sampled_from([1e-4, 0.1]))
def test_asgd_kernel_equals_reference(n, seed, wd, maximize, t0, lambd):
    base = _arrays(np.random.default_rng(seed), n, 3)

    def fn(p, g, ax, mu, eta, step, **kw):
        FX.asgd(p, g, ax, mu, eta, [step], **kw)
    _check_engines(fn, base, dict(lambd=lambd, lr=0.05, t0=t0, alpha=0.75, weight_decay=wd,
                                  maximize=maximize),
                   scalars=[np.ones(1, np.float32), np.full(1, 0.05, np.float32)])


@settings(**EX)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), maximize=st.booleans(),
       etas=st.sampled_from([(0.5, 1.2), (0.3, 1.7)]),
       step_sizes=st.sampled_from([(1e-6, 50.0), (0.05, 0.2)]))
def test_rprop_kernel_equals_reference(n, seed, maximize, etas, step_sizes):
    rng = np.random.default_rng(seed)
    p, g, prev, ss = _arrays(rng, n, 4, positive=(3,))
    prev[::3] = 0   # every sign case: agree, disagree, zero product
    ss *= np.float32(0.1)

    def fn(p, g, prev, ss, step, **kw):
        FX.rprop(p, g, prev, ss, **kw)
        g[0][...] = np.roll(g[0], 1) * np.float32(-0.7)   # next step's gradient
    _check_engines(fn, [p, g, prev, ss], dict(etaminus=etas[0], etaplus=etas[1],
                                               step_size_min=step_sizes[0],
                                               step_size_max=step_sizes[1], maximize=maximize))


def test_large_buffer_threaded_path_equals_reference():
    n = (1 << 18) + 37   # above the OpenMP threshold: chunking must not change a bit
    base = _arrays(np.random.default_rng(1), n, 4, positive=(3,))

    def fn(p, g, m, v, mp, step, **kw):
        FX.nadam(p, g, m, v, mp, [step], **kw)
    _check_engines(fn, base, dict(beta1=0.9, beta2=0.999, lr=0.01, weight_decay=0.01, eps=1e-8,
                                  momentum_decay=4e-3, decoupled_weight_decay=True,
                                  maximize=False), scalars=[np.ones(1, np.float32)])

    def fr(p, g, prev, ss, step, **kw):
        FX.rprop(p, g, prev, ss, **kw)
    _check_engines(fr, base, dict(etaminus=0.5, etaplus=1.2, step_size_min=1e-6,
                                  step_size_max=50, maximize=False))


def test_kernel_wrappers_check_sizes():
    a = np.zeros(4, np.float32)
    b = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="acc_delta"):
        _C.adadelta_step(a, a.copy(), b, a.copy(), -1, 0.9, 0.1, 1e-6, 0, False)
    with pytest.raises(ValueError, match="grad"):
        _C.adamax_step(a, a.copy(), a.copy(), b, 0, 0.1, 0.999, 1e-8, -0.01, False)
    with pytest.raises(ValueError, match="exp_avg_sq"):
        _C.nadam_step(a, a.copy(), b, a.copy(), 0, 0.1, 0.999, 0.001, 0.1, 1e-8, -0.1, -0.1,
                      False, False)
    with pytest.raises(ValueError, match="exp_avg"):
        _C.radam_step(a, b, a.copy(), a.copy(), 0, 0.1, 0.999, 0.001, 0.1, 0.01, 0.1, 1.0,
                      1e-8, False, False, True)
    with pytest.raises(ValueError, match="ax"):
        _C.asgd_step(a, b, a.copy(), 0, 1, -0.01, 1, False, False)
    with pytest.raises(ValueError, match="step_size"):
        _C.rprop_step(a, a.copy(), b, a.copy(), 0.5, 1.2, 1e-6, 50, False)
    with pytest.raises(ValueError, match="engine"):
        FX.rprop([a], [a], [a], [a], step_size_min=0, step_size_max=1, etaminus=0.5,
                 etaplus=1.2, maximize=False, engine="gpu")


# ----------------------------------------------------------------------------- compile_step
COMPILED = [
    lambda p: nf.optim.Adadelta(p, lr=0.5, weight_decay=1e-2, maximize=True),
    lambda p: nf.optim.Adamax(p, lr=1e-2, betas=(0.8, 0.95), weight_decay=1e-2),
    lambda p: nf.optim.NAdam(p, lr=1e-2, weight_decay=1e-2, momentum_decay=0.1),
    lambda p: nf.optim.NAdam(p, lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True,
                             maximize=True),
    lambda p: nf.optim.RAdam(p, lr=1e-2, betas=(0.5, 0.9), weight_decay=1e-2),
    lambda p: nf.optim.RAdam(p, lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True),
    lambda p: nf.optim.ASGD(p, lr=0.05, lambd=0.01, t0=3.0, weight_decay=1e-2),
    lambda p: nf.optim.Rprop(p, lr=1e-2, step_sizes=(1e-5, 0.1), maximize=True),
]


@pytest.mark.parametrize("make_opt", COMPILED)
def test_compile_step_runs_the_update_in_c_and_matches_eager(make_opt):
    calls = {}

    def between(i, model, opt):
        if i == 0:
            calls[id(opt)] = _count_step_calls(opt)
    step, _, opt = run_both(mlp(), make_opt, nn.CrossEntropyLoss(), make_data(20, 5, nsteps=12),
                            between=between)
    assert step.compiled and step.eager_calls == 0
    # Python's step() ran only for the first step (it creates the state); then the C call
    assert len(calls[id(opt)]) == 1


def test_undone_records_leave_scalar_state_untouched():
    _, nm, _, data = make_pair()
    opt = nf.optim.ASGD(nm.parameters(), lr=0.05, t0=0.0)
    n_step(nm, opt, tuple(data))
    ((nm(data.x[0]) - data.y[0]) ** 2).mean().backward()
    before = {k: v.copy() for k, v in opt._flat[0].scalars.items()}
    steps = opt._flat[0].step.copy()
    assert opt._take_step_records() is not None
    assert not np.array_equal(opt._flat[0].scalars["eta"], before["eta"])
    opt._undo_step_records()
    for k, v in before.items():
        np.testing.assert_array_equal(opt._flat[0].scalars[k], v)
    np.testing.assert_array_equal(opt._flat[0].step, steps)


# ----------------------------------------------------------------------------- LBFGS
def _regression(seed=0, n=40, d=6, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    y = (x @ rng.standard_normal((d, 2)) + 0.1 * rng.standard_normal((n, 2))).astype(dtype)
    return x, y


def _lbfgs_pair(kwargs, seed=0, dtype=np.float32):
    torch.manual_seed(seed)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tm = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    tm = tm.to(tdt)
    nm = nf.nn.Sequential(nf.nn.Linear(6, 5, dtype=dtype), nf.nn.Tanh(),
                          nf.nn.Linear(5, 2, dtype=dtype))
    copy_weights(tm, nm)
    return tm, nm, torch.optim.LBFGS(tm.parameters(), **kwargs), nf.optim.LBFGS(
        nm.parameters(), **kwargs)


LBFGS_GRID = [dict(), dict(lr=0.5, max_iter=5), dict(line_search_fn="strong_wolfe"),
              dict(line_search_fn="strong_wolfe", history_size=3, max_iter=10),
              dict(lr=0.8, history_size=2, max_iter=7, max_eval=9)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", LBFGS_GRID, ids=ids)
def test_lbfgs_matches_torch_on_a_regression(kwargs, dtype):
    """float64: torch's iterates to ~1e-10 over 4 steps (up to 80 iterations, same function
    evaluation counts), which pins the algorithm. float32: the forward pass already differs
    from torch's in the last bit and L-BFGS on a non-convex net amplifies that over tens of
    iterations, so 2 steps at a float32-sized tolerance."""
    x, y = _regression(dtype=dtype)
    tm, nm, topt, nopt = _lbfgs_pair(kwargs, dtype=dtype)
    tx, ty, nx, ny = torch.from_numpy(x), torch.from_numpy(y), nf.tensor(x), nf.tensor(y)
    steps, tol = (4, 1e-8) if dtype == np.float64 else (2, 5e-4)

    def tclosure():
        topt.zero_grad()
        loss = ((tm(tx) - ty) ** 2).mean()
        loss.backward()
        return loss

    def nclosure():
        nopt.zero_grad()
        loss = ((nm(nx) - ny) ** 2).mean()
        loss.backward()
        return loss
    l0 = None
    for it in range(steps):
        lt = topt.step(tclosure)
        ln = nopt.step(nclosure)
        l0 = lt.item() if l0 is None else l0
        assert isinstance(ln, nf.Tensor)
        assert abs(lt.item() - ln.item()) <= tol * (1 + abs(lt.item())), it
        assert_params_close(tm, nm, atol=tol, rtol=tol, what=f"LBFGS {kwargs} step {it}")
        ts, ns = topt.state[next(tm.parameters())], nopt.state[next(nm.parameters())]
        assert ns["func_evals"] == ts["func_evals"] and ns["n_iter"] == ts["n_iter"]
        assert len(ns["old_dirs"]) == len(ts["old_dirs"])
        np.testing.assert_allclose(ns["d"].detach().numpy(), ts["d"].numpy(), rtol=tol * 10,
                                   atol=tol * 10 * np.abs(ts["d"].numpy()).max())
    assert tclosure().item() < l0 and nclosure().item() < l0   # it descended


def _rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch_on_rosenbrock(line_search_fn):
    start = np.array([-1.5, 2.0], np.float32)
    tp = torch.tensor(start, requires_grad=True)
    npar = nf.nn.Parameter(nf.tensor(start.copy()))
    kw = dict(lr=1 if line_search_fn else 0.05, max_iter=10, line_search_fn=line_search_fn,
              history_size=10)
    topt, nopt = torch.optim.LBFGS([tp], **kw), nf.optim.LBFGS([npar], **kw)

    def closure(opt, p):
        def f():
            opt.zero_grad()
            loss = _rosenbrock(p)
            loss.backward()
            return loss
        return f
    for it in range(5):
        topt.step(closure(topt, tp))
        nopt.step(closure(nopt, npar))
        np.testing.assert_allclose(npar.detach().numpy(), tp.detach().numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=f"iteration {it}")
    if line_search_fn:
        np.testing.assert_allclose(npar.detach().numpy(), [1, 1], atol=1e-3)   # converged


def test_lbfgs_state_dict_round_trip_and_torch_interop():
    x, y = _regression(1)
    kwargs = dict(history_size=4, max_iter=6, line_search_fn="strong_wolfe")
    tm, nm, topt, nopt = _lbfgs_pair(kwargs, seed=1)
    tx, ty, nx, ny = torch.from_numpy(x), torch.from_numpy(y), nf.tensor(x), nf.tensor(y)

    def make_closure(m, opt, xx, yy):
        def f():
            opt.zero_grad()
            loss = ((m(xx) - yy) ** 2).mean()
            loss.backward()
            return loss
        return f
    topt.step(make_closure(tm, topt, tx, ty))
    nopt.step(make_closure(nm, nopt, nx, ny))
    # nnfast -> nnfast
    sd = nopt.state_dict()
    assert list(sd["state"]) == [0]
    assert set(sd["state"][0]) == set(topt.state_dict()["state"][0])
    nm2 = copy.deepcopy(nm)
    nopt2 = nf.optim.LBFGS(nm2.parameters(), lr=5.0)
    nopt2.load_state_dict(sd)
    assert nopt2.param_groups[0]["lr"] == 1 and nopt2.param_groups[0]["history_size"] == 4
    nopt.step(make_closure(nm, nopt, nx, ny))
    nopt2.step(make_closure(nm2, nopt2, nx, ny))
    for a, b in zip(nm.parameters(), nm2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    # torch -> nnfast, mid-run
    nm3 = nf.nn.Sequential(nf.nn.Linear(6, 5), nf.nn.Tanh(), nf.nn.Linear(5, 2))
    copy_weights(tm, nm3)
    nopt3 = nf.optim.LBFGS(nm3.parameters())
    nopt3.load_state_dict(topt.state_dict())
    topt.step(make_closure(tm, topt, tx, ty))
    nopt3.step(make_closure(nm3, nopt3, nx, ny))
    assert_params_close(tm, nm3, atol=2e-4, rtol=2e-4)


def test_lbfgs_checks():
    _, nm, _, _ = make_pair()
    with pytest.raises(ValueError, match="learning rate"):
        nf.optim.LBFGS(nm.parameters(), lr=-1)
    with pytest.raises(ValueError, match="parameter groups"):
        nf.optim.LBFGS([{"params": nm.fc1.parameters()}, {"params": nm.fc2.parameters()}])
    opt = nf.optim.LBFGS(nm.parameters())
    with pytest.raises(TypeError, match="closure"):
        opt.step(None)
    with pytest.raises(TypeError):
        opt.step()
    assert opt.param_groups[0]["max_eval"] == 25
    bad = nf.optim.LBFGS(nm.parameters(), line_search_fn="armijo")
    x, y = nf.tensor(np.ones((2, 5), np.float32)), nf.tensor(np.zeros((2, 3), np.float32))

    def closure():
        bad.zero_grad()
        loss = ((nm(x) - y) ** 2).mean()
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="strong_wolfe"):
        bad.step(closure)


def test_lbfgs_param_without_grad_and_hand_set_grads():
    """A parameter without a gradient counts as a zero gradient (torch); gradients assigned by
    hand (not the flat buffer's views) are gathered one by one."""
    rng = np.random.default_rng(3)
    start = rng.standard_normal(4).astype(np.float32)
    spare0 = rng.standard_normal(3).astype(np.float32)
    tp, tspare = torch.tensor(start, requires_grad=True), torch.tensor(spare0, requires_grad=True)
    npar = nf.nn.Parameter(nf.tensor(start.copy()))
    nspare = nf.nn.Parameter(nf.tensor(spare0.copy()))
    target = rng.standard_normal(4).astype(np.float32)
    topt = torch.optim.LBFGS([tp, tspare], max_iter=8, line_search_fn="strong_wolfe")
    nopt = nf.optim.LBFGS([npar, nspare], max_iter=8, line_search_fn="strong_wolfe")

    def tclosure():
        topt.zero_grad()
        loss = ((tp - torch.from_numpy(target)) ** 4).sum()
        loss.backward()
        return loss

    def nclosure():
        nopt.zero_grad()
        loss = ((npar - nf.tensor(target)) ** 4).sum()
        loss.backward()
        npar.grad = nf.tensor(npar.grad.detach().numpy().copy())   # off the flat buffer
        return loss
    for _ in range(3):
        topt.step(tclosure)
        nopt.step(nclosure)
        np.testing.assert_allclose(npar.detach().numpy(), tp.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    assert nspare.grad is None
    np.testing.assert_array_equal(nspare.detach().numpy(), spare0)
