"""Optimizers against torch.optim (single-tensor CPU path) over many steps, plus the flat-buffer
machinery, state_dict interop, validation, and the C kernels against the NumPy reference."""
import copy
import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import nnfast as nf
from nnfast.backend import cpu as cpu_table
from nnfast import _C
from nnfast.optim import _functional as F
from helpers import copy_weights

STEPS = 60


# ----------------------------------------------------------------------------- models
class NfNet(nf.nn.Module):
    def __init__(self, unused=False, dtype=None):
        super().__init__()
        self.fc1 = nf.nn.Linear(5, 8, dtype=dtype)
        self.fc2 = nf.nn.Linear(8, 3, dtype=dtype)
        if unused:
            self.spare = nf.nn.Linear(2, 2, dtype=dtype)   # never used: its grads stay None

    def forward(self, x):
        h = self.fc1(x)
        h = h / (1 + h.abs())   # softsign from Tensor ops
        return self.fc2(h)


class TNet(torch.nn.Module):
    def __init__(self, unused=False, dtype=None):
        super().__init__()
        self.fc1 = torch.nn.Linear(5, 8, dtype=dtype)
        self.fc2 = torch.nn.Linear(8, 3, dtype=dtype)
        if unused:
            self.spare = torch.nn.Linear(2, 2, dtype=dtype)

    def forward(self, x):
        h = self.fc1(x)
        h = h / (1 + h.abs())
        return self.fc2(h)


def make_pair(seed=0, unused=False, dtype=torch.float32):
    torch.manual_seed(seed)
    tm = TNet(unused, dtype)
    nm = NfNet(unused, np.float64 if dtype == torch.float64 else None)
    copy_weights(tm, nm)
    rng = np.random.default_rng(seed)
    npdt = np.float64 if dtype == torch.float64 else np.float32
    # a few mini-batches, cycled: gradients vary from step to step as in real training
    # (with one fixed batch, centered RMSprop's variance estimate collapses towards 0)
    x = rng.standard_normal((NBATCH, 16, 5)).astype(npdt)
    y = rng.standard_normal((NBATCH, 16, 3)).astype(npdt)
    return tm, nm, Batches(torch.from_numpy(x), torch.from_numpy(y)), Batches(nf.tensor(x),
                                                                              nf.tensor(y))


NBATCH = 4


class Batches:
    """Yields (x, y) of the next mini-batch each time it is unpacked."""

    def __init__(self, x, y):
        self.x, self.y, self.i = x, y, 0

    def __iter__(self):
        i = self.i % NBATCH
        self.i += 1
        return iter((self.x[i], self.y[i]))


def t_step(tm, topt, data, sign=1.0):
    x, y = data
    topt.zero_grad()
    loss = sign * ((tm(x) - y) ** 2).mean()
    loss.backward()
    topt.step()
    return loss.item()


def n_step(nm, nopt, data, sign=1.0):
    x, y = data
    nopt.zero_grad()
    loss = sign * ((nm(x) - y) ** 2).mean()
    loss.backward()
    nopt.step()
    return loss.item()


def assert_params_close(tm, nm, atol=1e-5, rtol=1e-5, what=""):
    nsd = nm.state_dict()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(nsd[k].detach().numpy(), v.detach().numpy(), atol=atol, rtol=rtol,
                                   err_msg=f"{what} {k}")


def run_against_torch(name, kwargs, steps=STEPS, check_every=5, atol=1e-5, unused=False,
                      groups=None, dtype=torch.float32):
    tm, nm, tdata, ndata = make_pair(unused=unused, dtype=dtype)
    tcls, ncls = getattr(torch.optim, name), getattr(nf.optim, name)
    tkw = dict(kwargs, foreach=False)   # torch's default on CPU, spelled out
    if groups is None:
        topt, nopt = tcls(tm.parameters(), **tkw), ncls(nm.parameters(), **kwargs)
    else:
        topt = tcls(groups(tm), **tkw)
        nopt = ncls(groups(nm), **kwargs)
    # maximize=True ascends -MSE, so the run converges instead of blowing up
    sign = -1.0 if kwargs.get("maximize") else 1.0
    for t in range(steps):
        lt = t_step(tm, topt, tdata, sign)
        ln = n_step(nm, nopt, ndata, sign)
        if t % check_every == 0 or t == steps - 1:
            assert abs(lt - ln) <= atol * (1 + abs(lt)), f"step {t}: loss {ln} vs {lt}"
            assert_params_close(tm, nm, atol=atol, what=f"{name} {kwargs} step {t}")
    return tm, nm, topt, nopt, tdata, ndata


def grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*axes.values())]


SGD_GRID = [k for k in grid(lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.5],
                            nesterov=[False, True], weight_decay=[0.0, 0.05],
                            maximize=[False, True])
            if not (k["nesterov"] and (k["momentum"] == 0 or k["dampening"] != 0))]
ADAM_GRID = grid(lr=[0.01], amsgrad=[False, True], weight_decay=[0.0, 0.1],
                 maximize=[False, True]) + [dict(lr=0.02, betas=(0.3, 0.8), eps=1e-6)]
RMSPROP_GRID = grid(lr=[0.005], centered=[False, True], momentum=[0.0, 0.8],
                    weight_decay=[0.0, 0.05], maximize=[False, True]) + [
    dict(lr=0.003, alpha=0.3, centered=True, momentum=0.5, eps=1e-6)]
ADAGRAD_GRID = grid(lr=[0.05], lr_decay=[0.0, 0.01], initial_accumulator_value=[0.0, 0.1],
                    weight_decay=[0.0, 0.05], maximize=[False, True])
ALL = ([("SGD", k) for k in SGD_GRID] + [("Adam", k) for k in ADAM_GRID]
       + [("AdamW", k) for k in ADAM_GRID] + [("RMSprop", k) for k in RMSPROP_GRID]
       + [("Adagrad", k) for k in ADAGRAD_GRID])
ONE_EACH = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
            ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
            ("AdamW", dict(lr=0.01, amsgrad=True)),
            ("RMSprop", dict(lr=0.005, centered=True, momentum=0.8)),
            ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1))]


# ----------------------------------------------------------------------------- vs torch
@pytest.mark.parametrize("name,kwargs", ALL, ids=lambda v: str(v))
def test_matches_torch_over_many_steps(name, kwargs):
    run_against_torch(name, kwargs)


@pytest.mark.parametrize("name,kwargs", ONE_EACH + [
    ("Adam", dict(lr=0.02, betas=(0.3, 0.8), maximize=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.003, alpha=0.3, centered=True, weight_decay=0.1, eps=1e-2))])
def test_each_update_matches_torch_to_the_ulp(name, kwargs):
    """Same params and gradients each step (torch's), so only the optimizer's arithmetic is
    compared. SGD is bit-identical; the others differ only through torch's CPU sqrt (MKL VML,
    not correctly rounded: 1 ulp off in ~15% of elements) against our IEEE sqrtf."""
    tm, nm, tdata, _ = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    tps, nps = list(tm.parameters()), list(nm.parameters())
    for t in range(20):
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
            pairs = [(p.detach().numpy(), tp.detach().numpy())] + [
                (nopt.state[p][k].detach().numpy(), v.numpy()) for k, v in topt.state[tp].items()]
            for j, (a, b) in enumerate(pairs):
                if name == "SGD":
                    np.testing.assert_array_equal(a, b)
                elif j == 0:   # parameters: within an ulp or so of an lr-sized update
                    np.testing.assert_allclose(a, b, rtol=3e-7, atol=1e-8)
                else:          # state: momentum buffers carry the ulps along
                    np.testing.assert_allclose(a, b, rtol=5e-6, atol=1e-6 * np.abs(b).max())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_default_hyperparameters_match_torch(name):
    tm, nm, _, _ = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters())
    nopt = getattr(nf.optim, name)(nm.parameters())
    tg = {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    ng = {k: v for k, v in nopt.param_groups[0].items() if k != "params"}
    assert ng == tg
    run_against_torch(name, {}, steps=20)


@pytest.mark.parametrize("name,kwargs", ONE_EACH)
def test_two_param_groups_with_own_options(name, kwargs):
    def groups(m):
        return [{"params": list(m.fc1.parameters()), "lr": kwargs["lr"] * 2,
                 "weight_decay": 0.02},
                {"params": list(m.fc2.parameters())}]
    *_, nopt, _, _ = run_against_torch(name, kwargs, groups=groups)
    assert len(nopt.param_groups) == 2 and nopt.param_groups[0]["weight_decay"] == 0.02
    assert nopt.param_groups[1]["weight_decay"] == kwargs.get("weight_decay",
                                                              nopt.defaults["weight_decay"])


@pytest.mark.parametrize("name,kwargs", ONE_EACH)
def test_params_without_grad_are_skipped(name, kwargs):
    tm, nm, topt, nopt, _, _ = run_against_torch(name, kwargs, unused=True, steps=20)
    spare = [nm.spare.weight, nm.spare.bias]
    for p, tp in zip(spare, [tm.spare.weight, tm.spare.bias]):   # untouched in both
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
        assert p.grad is None and tp.grad is None
    ts, ns = topt.state_dict()["state"], nopt.state_dict()["state"]
    assert sorted(ts) == sorted(ns)
    for k in ts:
        assert list(ts[k]) == list(ns[k])
    for p in spare:
        if name != "Adagrad":   # Adagrad creates every state at construction, as torch
            assert len(nopt.state[p]) == 0


@pytest.mark.parametrize("name,kwargs", ONE_EACH)
def test_lr_changed_mid_run(name, kwargs):
    tm, nm, tdata, ndata = make_pair()
    topt = getattr(torch.optim, name)(tm.parameters(), foreach=False, **kwargs)
    nopt = getattr(nf.optim, name)(nm.parameters(), **kwargs)
    for t in range(50):
        if t in (15, 30):
            for g in topt.param_groups + nopt.param_groups:
                g["lr"] *= 0.5 if t == 15 else 3.0
        t_step(tm, topt, tdata)
        n_step(nm, nopt, ndata)
    assert_params_close(tm, nm)


def test_closure_returns_loss():
    tm, nm, _, (x, y) = make_pair()
    opt = nf.optim.SGD(nm.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((nm(x) - y) ** 2).mean()
        loss.backward()
        return loss
    l0 = opt.step(closure)
    l1 = opt.step(closure)
    assert isinstance(l0, nf.Tensor) and l1.item() < l0.item()
    assert opt.step() is None


def test_float64_params_use_the_reference():
    *_, nopt, _, _ = run_against_torch("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1),
                                       steps=30, atol=1e-10, dtype=torch.float64)
    assert nopt._flat[0].param.dtype == np.float64
    run_against_torch("RMSprop", dict(lr=0.005, centered=True, momentum=0.8), steps=30,
                      atol=1e-10, dtype=torch.float64)
    run_against_torch("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01), steps=30,
                      atol=1e-10, dtype=torch.float64)
    run_against_torch("Adagrad", dict(lr=0.05, lr_decay=0.01), steps=30, atol=1e-10,
                      dtype=torch.float64)


# ----------------------------------------------------------------------------- flat buffers
def test_parameters_and_grads_live_in_flat_buffers():
    _, nm, _, (x, y) = make_pair()
    w0 = nm.fc1.weight.detach().numpy().copy()
    opt = nf.optim.Adam(nm.parameters(), lr=0.01)
    fl = opt._flat[0]
    params = list(nm.parameters())
    assert fl.param.size == sum(p.numel() for p in params)
    np.testing.assert_array_equal(nm.fc1.weight.detach().numpy(), w0)
    for p in params:
        assert p.detach().numpy().base is fl.param and p._grad_buf.numpy().base is fl.grad
    ((nm(x) - y) ** 2).mean().backward()
    for p in params:
        assert p.grad.detach().numpy() is p._grad_buf.numpy()
    opt.step()
    assert set(opt.state[params[0]]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[params[0]]["exp_avg"].detach().numpy().base is fl.buffers["exp_avg"]
    assert opt.state[params[0]]["step"].item() == 1.0


def test_existing_grads_are_copied_into_the_flat_buffer():
    _, nm, _, (x, y) = make_pair()
    ((nm(x) - y) ** 2).mean().backward()
    g = nm.fc2.weight.grad.detach().numpy().copy()
    opt = nf.optim.SGD(nm.parameters(), lr=0.1)
    assert nm.fc2.weight.grad.detach().numpy().base is opt._flat[0].grad
    np.testing.assert_array_equal(nm.fc2.weight.grad.detach().numpy(), g)


def _count_calls(monkeypatch, fn_name):
    calls = []
    orig = getattr(F, fn_name)

    def spy(params, *a, **k):
        calls.append(len(params))
        return orig(params, *a, **k)
    monkeypatch.setattr(F, fn_name, spy)
    run_update = cpu_table.run_update   # the one-call path: the group's record, run in C

    def spy_record(rec):
        calls.append(1)
        return run_update(rec)
    monkeypatch.setattr(cpu_table, "run_update", spy_record)
    return calls


@pytest.mark.parametrize("name,kwargs", ONE_EACH)
def test_fast_path_equals_per_parameter_path(name, kwargs, monkeypatch):
    fn = {"SGD": "sgd", "Adam": "adam", "AdamW": "adam", "RMSprop": "rmsprop",
          "Adagrad": "adagrad"}[name]
    calls = _count_calls(monkeypatch, fn)
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


def test_step_counts_stay_per_parameter():
    tm, nm, tdata, ndata = make_pair()
    topt = torch.optim.Adam(tm.parameters(), lr=0.01, foreach=False)
    nopt = nf.optim.Adam(nm.parameters(), lr=0.01)
    for t in range(30):
        for opt, m, (x, y) in ((topt, tm, tdata), (nopt, nm, ndata)):
            opt.zero_grad()
            ((m(x) - y) ** 2).mean().backward()
            if t % 3 == 0:
                m.fc1.bias.grad = None     # this parameter skips every third step
            opt.step()
        assert_params_close(tm, nm, what=f"step {t}")
    assert nopt.state[nm.fc1.bias]["step"].item() == topt.state[tm.fc1.bias]["step"].item()
    assert nopt.state[nm.fc1.weight]["step"].item() == 30


def test_zero_grad_modes():
    _, nm, _, (x, y) = make_pair()
    opt = nf.optim.SGD(nm.parameters(), lr=0.1, momentum=0.9)
    ((nm(x) - y) ** 2).mean().backward()
    opt.zero_grad(set_to_none=False)
    for p in nm.parameters():
        assert p.grad is not None and p.grad.detach().numpy().base is opt._flat[0].grad
        assert not p.grad.detach().numpy().any()
    ((nm(x) - y) ** 2).mean().backward()
    g1 = nm.fc1.weight.grad.detach().numpy().copy()
    opt.zero_grad()   # set_to_none=True
    assert all(p.grad is None for p in nm.parameters())
    ((nm(x) - y) ** 2).mean().backward()
    np.testing.assert_array_equal(nm.fc1.weight.grad.detach().numpy(), g1)   # backward overwrote
    # a hand-assigned grad is zeroed in place too
    nm.fc2.bias.grad = nf.tensor(np.ones(3, np.float32))
    opt.zero_grad(set_to_none=False)
    assert not nm.fc2.bias.grad.detach().numpy().any()


def test_zero_grad_false_matches_torch_training():
    tm, nm, tdata, ndata = make_pair()
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9, foreach=False)
    nopt = nf.optim.SGD(nm.parameters(), lr=0.05, momentum=0.9)
    for _ in range(30):
        for opt, m, (x, y) in ((topt, tm, tdata), (nopt, nm, ndata)):
            opt.zero_grad(set_to_none=False)
            ((m(x) - y) ** 2).mean().backward()
            opt.step()
    assert_params_close(tm, nm)


def test_add_param_group_later():
    tm, nm, tdata, ndata = make_pair()
    topt = torch.optim.Adam(tm.fc1.parameters(), lr=0.01, foreach=False)
    nopt = nf.optim.Adam(nm.fc1.parameters(), lr=0.01)
    for t in range(30):
        if t == 10:
            topt.add_param_group({"params": tm.fc2.parameters(), "lr": 0.02})
            nopt.add_param_group({"params": nm.fc2.parameters(), "lr": 0.02})
        t_step(tm, topt, tdata)
        n_step(nm, nopt, ndata)
    assert_params_close(tm, nm)
    assert len(nopt._flat) == 2


# ----------------------------------------------------------------------------- state_dict
@pytest.mark.parametrize("name,kwargs", ONE_EACH)
def test_state_dict_round_trip_nnfast(name, kwargs):
    _, nm, _, data = make_pair()
    data = tuple(data)   # one fixed batch, shared by both runs
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
    # state_dict values are snapshots, not views
    for k, v in sd["state"].items():
        for key, val in v.items():
            np.testing.assert_array_equal(val.detach().numpy(), sd_copy["state"][k][key].detach().numpy())


@pytest.mark.parametrize("name,kwargs", ONE_EACH)
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
    for t in range(30):
        t_step(tm, topt, tdata)
        n_step(nm, nopt, ndata)
    assert_params_close(tm, nm)


def test_torch_can_read_our_state_format():
    tm, nm, tdata, ndata = make_pair()
    nopt = nf.optim.Adam(nm.parameters(), lr=0.01, amsgrad=True)
    topt = torch.optim.Adam(tm.parameters(), lr=0.01, amsgrad=True, foreach=False)
    for _ in range(10):
        n_step(nm, nopt, ndata)
        t_step(tm, topt, tdata)
    sd = nopt.state_dict()
    as_torch = {"param_groups": sd["param_groups"],
                "state": {k: {kk: torch.from_numpy(vv.detach().numpy().copy()) for kk, vv in v.items()}
                          for k, v in sd["state"].items()}}
    topt.load_state_dict(as_torch)
    copy_weights(tm, nm)  # same start
    for _ in range(10):
        n_step(nm, nopt, ndata)
        t_step(tm, topt, tdata)
    assert_params_close(tm, nm)


def test_load_state_dict_errors():
    _, nm, _, _ = make_pair()
    opt = nf.optim.SGD(nm.parameters(), lr=0.1, momentum=0.9)
    sd = opt.state_dict()
    other = nf.optim.SGD([{"params": [nm.fc1.weight]}, {"params": [nm.fc1.bias]}], lr=0.1)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        other.load_state_dict(sd)
    small = nf.optim.SGD([nm.fc1.weight], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        small.load_state_dict(sd)
    bad = {"state": {0: {"momentum_buffer": np.zeros((2, 2), np.float32)}},
           "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict(bad)


def test_adagrad_state_created_at_construction():
    tm, nm, _, _ = make_pair()
    topt = torch.optim.Adagrad(tm.parameters(), initial_accumulator_value=0.3)
    nopt = nf.optim.Adagrad(nm.parameters(), initial_accumulator_value=0.3)
    tsd, nsd = topt.state_dict(), nopt.state_dict()
    assert sorted(tsd["state"]) == sorted(nsd["state"])
    for k in tsd["state"]:
        np.testing.assert_array_equal(nsd["state"][k]["sum"].detach().numpy(), tsd["state"][k]["sum"].numpy())
        assert nsd["state"][k]["step"].item() == 0


# ----------------------------------------------------------------------------- validation
BAD = [
    ("SGD", dict(lr=-0.1), "learning rate"),
    ("SGD", dict(momentum=-0.5), "momentum"),
    ("SGD", dict(weight_decay=-1e-3), "weight_decay"),
    ("SGD", dict(nesterov=True), "Nesterov"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov"),
    ("Adam", dict(lr=-1.0), "learning rate"),
    ("Adam", dict(eps=-1e-8), "epsilon"),
    ("Adam", dict(betas=(1.0, 0.999)), "beta parameter at index 0"),
    ("Adam", dict(betas=(0.9, -0.1)), "beta parameter at index 1"),
    ("Adam", dict(weight_decay=-0.1), "weight_decay"),
    ("AdamW", dict(betas=(0.9, 1.5)), "beta parameter at index 1"),
    ("AdamW", dict(lr=-1e-3), "learning rate"),
    ("RMSprop", dict(lr=-0.01), "learning rate"),
    ("RMSprop", dict(alpha=-0.5), "alpha"),
    ("RMSprop", dict(eps=-1.0), "epsilon"),
    ("RMSprop", dict(momentum=-0.1), "momentum"),
    ("RMSprop", dict(weight_decay=-0.1), "weight_decay"),
    ("Adagrad", dict(lr=-0.01), "learning rate"),
    ("Adagrad", dict(lr_decay=-0.1), "lr_decay"),
    ("Adagrad", dict(weight_decay=-0.1), "weight_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    ("Adagrad", dict(eps=-1e-10), "epsilon"),
]


@pytest.mark.parametrize("name,kwargs,msg", BAD)
def test_invalid_hyperparameters_raise_like_torch(name, kwargs, msg):
    _, nm, _, _ = make_pair()
    with pytest.raises(ValueError, match=msg):
        getattr(nf.optim, name)(nm.parameters(), **kwargs)
    tm = TNet()
    with pytest.raises(ValueError):
        getattr(torch.optim, name)(tm.parameters(), **kwargs)
    # the same option given per group is checked too
    with pytest.raises(ValueError, match=msg):
        getattr(nf.optim, name)([{"params": nm.fc1.parameters(), **kwargs}])


def test_invalid_params():
    _, nm, _, _ = make_pair()
    w = nm.fc1.weight
    with pytest.raises(ValueError, match="empty parameter list"):
        nf.optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="duplicate"):
        nf.optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        nf.optim.Adam([{"params": [w]}, {"params": [w, nm.fc1.bias]}])
    with pytest.raises(TypeError, match="only optimize Tensors"):
        nf.optim.Adam([w, np.zeros(3, np.float32)])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        nf.optim.Adam(w)
    with pytest.raises(TypeError, match="ordered collections"):
        nf.optim.Adam([{"params": {w}}])
    with pytest.raises(ValueError, match="non-leaf"):
        nf.optim.Adam([w * 2])
    opt = nf.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [w]})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([nm.fc1.bias])


def test_torch_flags_accepted_and_checked():
    _, nm, _, _ = make_pair()
    nf.optim.Adam(nm.fc1.parameters(), fused=True)
    nf.optim.SGD(nm.fc2.parameters(), foreach=True)
    with pytest.raises(NotImplementedError, match="differentiable"):
        nf.optim.Adam(nm.fc1.parameters(), differentiable=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        nf.optim.SGD(nm.fc1.parameters(), fused=True, foreach=True)


# ----------------------------------------------------------------------------- C vs reference
def _arrays(rng, n, k, positive=()):
    out = []
    for i in range(k):
        a = rng.standard_normal(n).astype(np.float32)
        out.append(np.abs(a) + np.float32(0.01) if i in positive else a)
    return out


def _check_engines(fn, arrays_fn, kw, n, seed):
    rng = np.random.default_rng(seed)
    base = arrays_fn(rng, n)
    c_arrays = [None if a is None else a.copy() for a in base]
    r_arrays = [None if a is None else a.copy() for a in base]
    for _ in range(3):
        fn(*[[a] for a in c_arrays], **kw, engine="c")
        fn(*[[a] for a in r_arrays], **kw, engine="numpy")
    for c, r in zip(c_arrays, r_arrays):
        if c is not None:
            np.testing.assert_array_equal(c, r)


SIZES = st.sampled_from([0, 1, 7, 8, 15, 16, 17, 31, 33, 64, 100, 257])


@settings(max_examples=30, deadline=None)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), momentum=st.sampled_from([0.0, 0.9]),
       dampening=st.sampled_from([0.0, 0.3]), nesterov=st.booleans(),
       wd=st.sampled_from([0.0, 0.05]), maximize=st.booleans(), first=st.booleans())
def test_sgd_kernel_equals_reference(n, seed, momentum, dampening, nesterov, wd, maximize,
                                     first):
    def arrays(rng, n):
        p, g, b = _arrays(rng, n, 3)
        return p, g, b

    kw = dict(lr=0.07, weight_decay=wd, momentum=momentum, dampening=dampening,
              nesterov=nesterov, maximize=maximize, first=[first])
    _check_engines(F.sgd, arrays, kw, n, seed)


@settings(max_examples=30, deadline=None)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), amsgrad=st.booleans(),
       wd=st.sampled_from([0.0, 0.1]), decoupled=st.booleans(), maximize=st.booleans(),
       betas=st.sampled_from([(0.9, 0.999), (0.2, 0.5)]), step=st.integers(1, 100))
def test_adam_kernel_equals_reference(n, seed, amsgrad, wd, decoupled, maximize, betas, step):
    def arrays(rng, n):
        p, g, m, v, vm = _arrays(rng, n, 5, positive=(3, 4))
        return p, g, m, v, vm

    def fn(p, g, m, v, vm, **kw):
        F.adam(p, g, m, v, vm, [step], **kw)

    kw = dict(amsgrad=amsgrad, beta1=betas[0], beta2=betas[1], lr=0.01, weight_decay=wd,
              eps=1e-8, maximize=maximize, decoupled_weight_decay=decoupled)
    _check_engines(fn, arrays, kw, n, seed)


@settings(max_examples=30, deadline=None)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), centered=st.booleans(),
       momentum=st.sampled_from([0.0, 0.7]), wd=st.sampled_from([0.0, 0.1]),
       maximize=st.booleans(), alpha=st.sampled_from([0.99, 0.3]))
def test_rmsprop_kernel_equals_reference(n, seed, centered, momentum, wd, maximize, alpha):
    def arrays(rng, n):
        p, g, sq, ga, b = _arrays(rng, n, 5, positive=(2,))
        sq += 2 * ga * ga   # keep sq - ga^2 positive in the centered variant
        return p, g, sq, ga, b

    kw = dict(lr=0.01, alpha=alpha, eps=1e-8, weight_decay=wd, momentum=momentum,
              centered=centered, maximize=maximize)
    _check_engines(F.rmsprop, arrays, kw, n, seed)


@settings(max_examples=30, deadline=None)
@given(n=SIZES, seed=st.integers(0, 2 ** 16), lr_decay=st.sampled_from([0.0, 0.01]),
       wd=st.sampled_from([0.0, 0.1]), maximize=st.booleans(), step=st.integers(1, 50))
def test_adagrad_kernel_equals_reference(n, seed, lr_decay, wd, maximize, step):
    def arrays(rng, n):
        p, g, s = _arrays(rng, n, 3, positive=(2,))
        return p, g, s

    def fn(p, g, s, **kw):
        F.adagrad(p, g, s, [step], **kw)

    kw = dict(lr=0.05, weight_decay=wd, lr_decay=lr_decay, eps=1e-10, maximize=maximize)
    _check_engines(fn, arrays, kw, n, seed)


def test_large_buffer_threaded_path_equals_reference():
    # above the OpenMP threshold: chunking must not change a single bit
    n = (1 << 18) + 37
    kw = dict(amsgrad=True, beta1=0.9, beta2=0.999, lr=0.01, weight_decay=0.01, eps=1e-8,
              maximize=False, decoupled_weight_decay=True)

    def fn(p, g, m, v, vm, **k):
        F.adam(p, g, m, v, vm, [3], **k)

    def arrays(rng, n):
        return tuple(_arrays(rng, n, 5, positive=(3, 4)))
    _check_engines(fn, arrays, kw, n, 1)
    kw = dict(lr=0.05, weight_decay=0.01, momentum=0.9, dampening=0.0, nesterov=True,
              maximize=False, first=[False])
    _check_engines(F.sgd, lambda rng, n: tuple(_arrays(rng, n, 3)), kw, n, 2)


def test_kernel_wrappers_check_sizes():
    a = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="grad"):
        _C.sgd_step(a, None, np.zeros(3, np.float32), -0.1, 0, 0, 1, False, False, False)
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        _C.adam_step(a, a.copy(), a.copy(), np.zeros(5, np.float32), a.copy(), 1, 0, 0.1,
                     0.999, 0.001, 1, 1e-8, -0.01, False)
    with pytest.raises(ValueError, match="engine"):
        F.sgd([a], [a], [None], lr=0.1, weight_decay=0, momentum=0, dampening=0,
              nesterov=False, maximize=False, first=[True], engine="gpu")
