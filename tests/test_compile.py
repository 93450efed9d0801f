"""compile_step: bit-for-bit the eager training loop (losses, parameters, p.grad, optimizer
state), its fallbacks, and the eager loop's errors for bad inputs."""
import tracemalloc

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.errors import DTypeError, ShapeError


def eager_step(model, loss_fn, opt, x, y):
    opt.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


def make_data(n_in, n_out, batches=(32,), kind="ce", seed=0, nsteps=30):
    rng = np.random.default_rng(seed)
    data = []
    for s in range(nsteps):
        b = batches[s % len(batches)]
        x = rng.standard_normal((b,) + (n_in if isinstance(n_in, tuple) else (n_in,)))
        if kind == "ce":
            y = rng.integers(0, n_out, b).astype(np.int64)
        else:
            y = rng.standard_normal((b, n_out)).astype(np.float32)
        data.append((nf.from_numpy(x.astype(np.float32)), nf.from_numpy(y)))
    return data


def twins(build_model, build_opt, seed=0):
    """Two identical (model, optimizer) pairs."""
    out = []
    for _ in range(2):
        nf.manual_seed(seed)
        model = build_model()
        out.append((model, build_opt(model.parameters())))
    return out


def assert_same_state(m1, o1, m2, o2):
    for (n1, p1), (n2, p2) in zip(m1.named_parameters(), m2.named_parameters()):
        assert np.array_equal(p1.detach().numpy(), p2.detach().numpy()), f"parameter {n1}"
        assert (p1.grad is None) == (p2.grad is None), f"grad of {n1}"
        if p1.grad is not None:
            assert np.array_equal(p1.grad.detach().numpy(), p2.grad.detach().numpy()), f"grad of {n1}"
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    assert s1["state"].keys() == s2["state"].keys()
    for k in s1["state"]:
        for key, v in s1["state"][k].items():
            w = s2["state"][k][key]
            assert np.array_equal(np.asarray(v.detach().numpy()), np.asarray(w.detach().numpy())), f"state {k} {key}"


def run_both(build_model, build_opt, loss_fn, data, expect_compiled=True, between=None,
             seed=0):
    (m1, o1), (m2, o2) = twins(build_model, build_opt, seed)
    step = nf.compile_step(m2, loss_fn, o2)
    assert step.compiled == expect_compiled, getattr(step, "reason", None)
    nf.manual_seed(123)
    l1 = []
    for i, (x, y) in enumerate(data):
        if between:
            between(i, m1, o1)
        l1.append(eager_step(m1, loss_fn, o1, x, y))
    nf.manual_seed(123)
    l2 = []
    for i, (x, y) in enumerate(data):
        if between:
            between(i, m2, o2)
        l2.append(step(x, y))
    assert all(isinstance(v, float) for v in l2)
    assert l1 == l2
    assert_same_state(m1, o1, m2, o2)
    return step, m2, o2


def mlp(act=nn.ReLU, sizes=(20, 16, 12, 5), bias=True, extra=()):
    def build():
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, bias=bias))
            if i < len(sizes) - 2:
                layers.append(act())
                layers.extend(e() for e in extra)
        return nn.Sequential(*layers)
    return build


ACTS = [nn.ReLU, lambda: nn.LeakyReLU(0.2), lambda: nn.ELU(0.7), nn.Sigmoid, nn.Tanh,
        nn.GELU, lambda: nn.GELU("tanh"), nn.SiLU, lambda: nn.ReLU(inplace=True),
        # act_extra.c's, run as their own op (not inside the GEMM)
        lambda: nn.Softplus(beta=1.5, threshold=3.0), lambda: nn.Hardtanh(-0.5, 0.7),
        nn.ReLU6, nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Softsign, nn.LogSigmoid,
        lambda: nn.Threshold(0.1, -2.0), lambda: nn.CELU(0.6), nn.SELU,
        lambda: nn.Hardswish(inplace=True)]


@pytest.mark.parametrize("act", ACTS)
def test_activations_match_eager(act):
    run_both(mlp(act), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
             make_data(20, 5))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("act", ACTS)
def test_activation_run_inside_the_gemm_matches_eager(act, threads):
    # The step runs an activation that follows a Linear on each finished block of that
    # Linear's GEMM output (forward) and dinp (backward). These sizes give blocks of every
    # kind: several K blocks (800 > KC), column blocks (600 > NC, and the 2-thread split
    # along N), a last row panel short of MR (batch 40, then 17), odd widths, and a Linear
    # narrow enough (12) for the dot-product kernel, whose rows go in pairs.
    old = nf.get_num_threads()
    nf.set_num_threads(threads)
    try:
        run_both(mlp(act, sizes=(800, 600, 37, 12, 45, 3)), lambda p: optim.Adam(p, lr=1e-2),
                 nn.CrossEntropyLoss(), make_data(800, 3, batches=(40, 17), nsteps=4))
    finally:
        nf.set_num_threads(old)


OPTIMIZERS = [
    lambda p: optim.Adam(p, lr=1e-2),
    lambda p: optim.Adam(p, lr=1e-2, weight_decay=0.1, amsgrad=True),
    lambda p: optim.AdamW(p, lr=1e-2),
    lambda p: optim.SGD(p, lr=0.05),
    lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: optim.RMSprop(p, lr=1e-3, centered=True, momentum=0.5),
    lambda p: optim.Adagrad(p, lr=0.05),
]


@pytest.mark.parametrize("make_opt", OPTIMIZERS)
def test_optimizers_match_eager(make_opt):
    run_both(mlp(), make_opt, nn.CrossEntropyLoss(), make_data(20, 5))


# Every option that changes the update, for the optimizers whose update runs inside the
# compiled C call (from their second step on: the first creates the state).
FUSED_OPTIMIZERS = [
    (lambda p: optim.SGD(p, lr=0.05), 0),
    (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2,
                         maximize=True), 1),
    (lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), 1),
    (lambda p: optim.Adam(p, lr=1e-2, betas=(0.8, 0.95), eps=1e-6, maximize=True), 1),
    (lambda p: optim.Adam(p, lr=1e-2, weight_decay=0.1), 1),
    (lambda p: optim.AdamW(p, lr=1e-2, weight_decay=0.3, amsgrad=True), 1),
    (lambda p: optim.RMSprop(p, lr=1e-3), 1),
    (lambda p: optim.RMSprop(p, lr=1e-3, momentum=0.7, weight_decay=1e-2, maximize=True), 1),
    (lambda p: optim.RMSprop(p, lr=1e-3, alpha=0.9, centered=True), 1),
    (lambda p: optim.Adagrad(p, lr=0.05, lr_decay=0.01, weight_decay=1e-2,
                             initial_accumulator_value=0.1, maximize=True), 1),
]


def _count_step_calls(opt):
    calls = []
    plain = opt.step

    def counted(*a, **k):
        calls.append(1)
        return plain(*a, **k)
    opt.step = counted
    return calls


@pytest.mark.parametrize("make_opt, python_steps", FUSED_OPTIMIZERS)
def test_optimizer_update_runs_in_the_c_call_and_matches_eager(make_opt, python_steps):
    calls = {}

    def between(i, model, opt):
        if i == 0:
            calls[id(opt)] = _count_step_calls(opt)
    step, _, o2 = run_both(mlp(), make_opt, nn.CrossEntropyLoss(), make_data(20, 5, nsteps=12),
                           between=between)
    # the compiled run called the Python step() only where the state had to be created
    assert len(calls[id(o2)]) == python_steps
    assert step.eager_calls == 0


def test_optimizer_update_in_c_with_param_groups_and_schedulers():
    def make_opt(params):
        params = list(params)
        return optim.AdamW([{"params": params[:2]}, {"params": params[2:4], "lr": 3e-3},
                            {"params": params[4:], "weight_decay": 0.0, "amsgrad": True}],
                           lr=1e-2)
    scheds, calls = {}, {}

    def between(i, model, opt):
        if i == 0:
            scheds[id(opt)] = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=40)
            calls[id(opt)] = _count_step_calls(opt)
        else:
            scheds[id(opt)].step()
        if i == 9:
            opt.param_groups[1]["betas"] = (0.5, 0.9)
    _, _, o2 = run_both(mlp(), make_opt, nn.CrossEntropyLoss(), make_data(20, 5, nsteps=20),
                        between=between)
    assert len(calls[id(o2)]) == 1


def test_optimizer_state_it_cannot_fuse_runs_python_step():
    calls = {}

    def between(i, model, opt):
        if i == 0:
            calls[id(opt)] = _count_step_calls(opt)
        if i == 4:   # step counts that differ: step() takes its per-parameter path
            p = next(iter(model.parameters()))
            opt.state[p]["step"].detach().numpy()[...] = 10
        if i == 7:   # amsgrad switched on: step() completes the state first
            opt.param_groups[0]["amsgrad"] = True
    _, _, o2 = run_both(mlp(), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
                        make_data(20, 5, nsteps=12), between=between)
    # step() ran for step 0 (it makes the state) and for 4..11 (unequal counts); 1..3 fused
    assert len(calls[id(o2)]) == 1 + 8


class LoggingAdam(optim.Adam):
    def __init__(self, params, **kw):
        super().__init__(params, **kw)
        self.steps_seen = 0

    def step(self, closure=None):
        self.steps_seen += 1
        return super().step(closure)


class TweakedAdam(optim.Adam):
    def _update(self, group, params, grads, states, steps):
        super()._update(group, params, grads, states, steps)
        for p in params:
            p *= 0.5


@pytest.mark.parametrize("cls", [LoggingAdam, TweakedAdam])
def test_optimizer_subclass_that_changes_the_step_keeps_it(cls):
    _, _, o2 = run_both(mlp(), lambda p: cls(p, lr=1e-2), nn.CrossEntropyLoss(),
                        make_data(20, 5, nsteps=6))
    if cls is LoggingAdam:
        assert o2.steps_seen == 6


def test_param_groups_match_eager():
    def make_opt(params):
        params = list(params)
        return optim.Adam([{"params": params[:2]}, {"params": params[2:], "lr": 3e-3}],
                          lr=1e-2)
    run_both(mlp(), make_opt, nn.CrossEntropyLoss(), make_data(20, 5))


@pytest.mark.parametrize("loss_fn", [
    nn.CrossEntropyLoss(reduction="sum"),
    nn.CrossEntropyLoss(label_smoothing=0.2),
    nn.CrossEntropyLoss(weight=nf.tensor([1.0, 2.0, 0.5, 1.5, 1.0]), ignore_index=3),
])
def test_cross_entropy_options_match_eager(loss_fn):
    run_both(mlp(), lambda p: optim.Adam(p, lr=1e-2), loss_fn, make_data(20, 5))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_matches_eager(reduction):
    run_both(mlp(nn.Tanh), lambda p: optim.SGD(p, lr=1e-3, momentum=0.9),
             nn.MSELoss(reduction=reduction), make_data(20, 5, kind="mse"))


def test_uint8_targets_and_no_bias():
    data = [(x, nf.from_numpy(y.detach().numpy().astype(np.uint8))) for x, y in make_data(20, 5)]
    run_both(mlp(bias=False), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(), data)


def test_batch_size_changes_mid_run():
    step, _, _ = run_both(mlp(), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
                          make_data(20, 5, batches=(32, 32, 7, 1, 32, 19)))
    assert step.eager_calls == 0


def test_lr_changes_and_scheduler():
    scheds = {}

    def between(i, model, opt):
        if i == 0:
            scheds[id(opt)] = optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
        elif i == 12:
            opt.param_groups[0]["lr"] = 0.1
        else:
            scheds[id(opt)].step()
    run_both(mlp(), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
             make_data(20, 5), between=between)


def test_dropout_train_and_eval():
    def between(i, model, opt):
        model.train(i % 3 != 2)
    build = mlp(extra=(lambda: nn.Dropout(0.3),))
    step, m, _ = run_both(build, lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
                          make_data(20, 5), between=between)
    assert step.eager_calls == 0


def test_dropout_first_and_last_and_p0():
    def build():
        return nn.Sequential(nn.Dropout(0.2), nn.Linear(20, 16), nn.ReLU(), nn.Dropout(0.0),
                             nn.Identity(), nn.Linear(16, 5), nn.Dropout(0.1))
    run_both(build, lambda p: optim.SGD(p, lr=0.1), nn.CrossEntropyLoss(), make_data(20, 5))


@pytest.mark.parametrize("threads", [1, 2])
def test_activation_chains_match_eager(threads):
    # A Linear and the activation right after it share their forward buffer when the
    # activation's backward reads only its output (ReLU, Sigmoid, Tanh), and their backward
    # buffer always; a second activation, one after a Dropout or one before the first Linear
    # keeps its own. Sizes large enough for the 2-thread split of every GEMM.
    def build():
        return nn.Sequential(nn.ReLU(), nn.Linear(300, 256), nn.ReLU(), nn.Tanh(),
                             nn.Linear(256, 130), nn.GELU(), nn.Sigmoid(), nn.Linear(130, 70),
                             nn.Dropout(0.2), nn.ReLU(), nn.Linear(70, 40), nn.SiLU(),
                             nn.Linear(40, 5))
    old = nf.get_num_threads()
    nf.set_num_threads(threads)
    try:
        run_both(build, lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
                 make_data(300, 5, batches=(64, 33), nsteps=4))
    finally:
        nf.set_num_threads(old)


def test_flatten_and_nested_sequential():
    def build():
        return nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(12, 8), nn.ReLU()),
                             nn.Linear(8, 3))
    step, _, _ = run_both(build, lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(),
                          make_data((3, 4), 3))
    assert step.eager_calls == 0


def test_non_contiguous_input():
    data = []
    for x, y in make_data(20, 5):
        xx = np.asfortranarray(x.detach().numpy())
        data.append((nf.from_numpy(xx), y))
    run_both(mlp(), lambda p: optim.Adam(p, lr=1e-2), nn.CrossEntropyLoss(), data)


def test_grad_and_state_visible_after_compiled_step():
    (m, o), = twins(mlp(), lambda p: optim.Adam(p, lr=1e-2))[:1]
    step = nf.compile_step(m, nn.CrossEntropyLoss(), o)
    x, y = make_data(20, 5)[0]
    step(x, y)
    for p in m.parameters():
        assert p.grad is not None and p.grad.shape == p.shape
        assert float(o.state[p]["step"]) == 1.0


# ------------------------------------------------------------------ fallbacks

class Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(20, 5)

    def forward(self, x):
        return self.lin(x) * 2


class PlainSGD:
    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with nf.no_grad():
            for p in self.params:
                p.data -= self.lr * p.grad.data


@pytest.mark.parametrize("build, loss_fn, make_opt, why", [
    (Twice, nn.CrossEntropyLoss(), lambda p: optim.Adam(p), "Sequential"),
    (lambda: nn.Sequential(nn.Linear(20, 5), nn.Softmax(dim=1)), nn.CrossEntropyLoss(),
     lambda p: optim.Adam(p), "Softmax"),
    (lambda: nn.Sequential(nn.Linear(20, 5), nn.PReLU()), nn.CrossEntropyLoss(),
     lambda p: optim.Adam(p), "PReLU"),
    (mlp(), nn.L1Loss(), lambda p: optim.Adam(p), "L1Loss"),
    (mlp(), nn.CrossEntropyLoss(), lambda p: PlainSGD(p, 0.1), "PlainSGD"),
    (mlp(), nn.CrossEntropyLoss(), lambda p: optim.Adam(list(p)[:2]), "exactly"),
    (lambda: nn.Sequential(nn.Linear(20, 5), nn.Dropout(1.0)), nn.CrossEntropyLoss(),
     lambda p: optim.Adam(p), "Dropout"),
])
def test_fallback_runs_eager(build, loss_fn, make_opt, why):
    kind = "mse" if isinstance(loss_fn, nn.L1Loss) else "ce"
    data = make_data(20, 5, kind=kind, nsteps=5)
    (m1, o1), (m2, o2) = twins(build, make_opt)
    step = nf.compile_step(m2, loss_fn, o2)
    assert step.compiled is False
    assert why in step.reason
    for x, y in data:
        assert eager_step(m1, loss_fn, o1, x, y) == step(x, y)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p1.detach().numpy(), p2.detach().numpy())


def test_calls_it_does_not_cover_run_eager():
    (m1, o1), (m2, o2) = twins(mlp(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    x, y = make_data(20, 5)[0]
    xs = [nf.tensor(x.detach().numpy(), requires_grad=True), nf.tensor(x.detach().numpy(), requires_grad=True)]
    assert eager_step(m1, lf, o1, xs[0], y) == step(xs[1], y)
    assert step.eager_calls == 1
    assert np.array_equal(xs[0].grad.detach().numpy(), xs[1].grad.detach().numpy())
    # a frozen parameter: the eager loop (which skips its update) runs
    for m in (m1, m2):
        m[0].bias.requires_grad_(False)
    for x, y in make_data(20, 5, nsteps=3):
        assert eager_step(m1, lf, o1, x, y) == step(x, y)
    assert step.eager_calls == 4
    assert_same_state(m1, o1, m2, o2)
    for m in (m1, m2):
        m[0].bias.requires_grad_(True)
    for x, y in make_data(20, 5, nsteps=3, seed=1):
        assert eager_step(m1, lf, o1, x, y) == step(x, y)
    assert step.eager_calls == 4
    assert_same_state(m1, o1, m2, o2)


# ------------------------------------------------------------------ errors as eager

def _errors(fn):
    try:
        fn()
    except Exception as e:     # noqa: BLE001 - the comparison is the point
        return type(e), str(e)
    return None


@pytest.mark.parametrize("bad", ["features", "float64", "rank1", "label", "negative label",
                                 "float target", "target shape", "int32 target"])
def test_bad_input_raises_as_eager(bad):
    (m1, o1), (m2, o2) = twins(mlp(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    x, y = make_data(20, 5)[0]
    xd, yd = x.detach().numpy(), y.detach().numpy()
    if bad == "features":
        x = nf.from_numpy(xd[:, :7].copy())
    elif bad == "float64":
        x = nf.from_numpy(xd.astype(np.float64))
    elif bad == "rank1":
        x = nf.from_numpy(xd[0].copy())
    elif bad == "label":
        y = nf.from_numpy(np.where(yd == 0, 5, yd))
    elif bad == "negative label":
        y = nf.from_numpy(np.where(yd == 0, -1, yd))
    elif bad == "float target":
        y = nf.from_numpy(yd.astype(np.float32))
    elif bad == "target shape":
        y = nf.from_numpy(yd[:5].copy())
    else:
        y = nf.from_numpy(yd.astype(np.int32))
    e1 = _errors(lambda: eager_step(m1, lf, o1, x, y))
    e2 = _errors(lambda: step(x, y))
    assert e1 is not None and e1 == e2
    expected = {"features": ShapeError, "float64": DTypeError, "rank1": ShapeError,
                "label": ValueError, "negative label": ValueError,
                "float target": DTypeError, "target shape": ShapeError,
                "int32 target": DTypeError}[bad]
    assert issubclass(e2[0], expected)
    assert_same_state(m1, o1, m2, o2)


def test_non_finite_loss_raises_as_eager():
    (m1, o1), (m2, o2) = twins(mlp(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    x, y = make_data(20, 5)[0]
    step(x, y)
    eager_step(m1, lf, o1, x, y)
    bad = x.detach().numpy().copy()
    bad[3, 4] = np.inf
    xb = nf.from_numpy(bad)
    e1 = _errors(lambda: eager_step(m1, lf, o1, xb, y))
    e2 = _errors(lambda: step(xb, y))
    assert e1 is not None and e1 == e2 and issubclass(e2[0], FloatingPointError)
    assert step.eager_calls == 0
    assert_same_state(m1, o1, m2, o2)   # the update the C call would have run did not count
    for p in m2.parameters():
        assert float(o2.state[p]["step"]) == 1.0
    # and the next finite step goes on from there, as the eager loop does
    assert step(x, y) == eager_step(m1, lf, o1, x, y)
    assert_same_state(m1, o1, m2, o2)
    # all targets ignored: the weighted mean is 0/0
    lf2 = nn.CrossEntropyLoss(ignore_index=1)
    step2 = nf.compile_step(m2, lf2, o2)
    y1 = nf.from_numpy(np.ones(32, np.int64))
    e1 = _errors(lambda: eager_step(m1, lf2, o1, x, y1))
    e2 = _errors(lambda: step2(x, y1))
    assert e1 is not None and e1 == e2


def test_no_grad_mode_raises_as_eager():
    (m1, o1), (m2, o2) = twins(mlp(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    x, y = make_data(20, 5)[0]
    with nf.no_grad():
        e1 = _errors(lambda: eager_step(m1, lf, o1, x, y))
        e2 = _errors(lambda: step(x, y))
    assert e1 is not None and e1 == e2


def test_steady_state_allocates_no_arrays():
    (m, o), = twins(mlp(sizes=(64, 256, 10)), lambda p: optim.Adam(p))[:1]
    step = nf.compile_step(m, nn.CrossEntropyLoss(), o)
    data = make_data(64, 10, nsteps=4)
    for x, y in data:
        step(x, y)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            for x, y in data:
                step(x, y)
        grown = tracemalloc.get_traced_memory()[0] - before
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # a 32x256 float32 activation alone is 32 KiB: nothing of that size is made per step
    assert grown < 4096 and peak < 16384, (grown, peak)


def test_import_sets_a_short_openmp_spin_only_when_unset():
    import os
    import subprocess
    import sys
    code = "import os, nnfast; print(os.environ.get('GOMP_SPINCOUNT'))"
    root = os.path.dirname(os.path.dirname(os.path.abspath(nf.__file__)))
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=root).stdout.strip()
    assert out == "10000"
    out = subprocess.run([sys.executable, "-c", code], env=dict(env, OMP_WAIT_POLICY="active"),
                         capture_output=True, text=True, check=True, cwd=root).stdout.strip()
    assert out == "None"


def test_changed_model_runs_eager_not_stale_capture():
    (m1, o1), (m2, o2) = twins(mlp(nn.LeakyReLU, extra=(lambda: nn.Dropout(0.2),)),
                               lambda p: optim.SGD(p, lr=0.1))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    data = make_data(20, 5, nsteps=4)
    nf.manual_seed(7)
    ref = []
    for i, (x, y) in enumerate(data):
        if i == 1:
            m1[1].negative_slope = 0.3
            m1[2].p = 0.5
        if i == 2:
            m1[0] = m1[0]      # re-assigning the same layer changes nothing
        if i == 3:
            m1[1] = nn.Tanh()
        ref.append(eager_step(m1, lf, o1, x, y))
    nf.manual_seed(7)
    got = []
    for i, (x, y) in enumerate(data):
        if i == 1:
            m2[1].negative_slope = 0.3
            m2[2].p = 0.5
        if i == 2:
            m2[0] = m2[0]
        if i == 3:
            m2[1] = nn.Tanh()
        got.append(step(x, y))
    assert ref == got
    assert step.eager_calls == 3
    assert_same_state(m1, o1, m2, o2)


NORM_MODELS = {
    "batchnorm": lambda: nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(),
                                       nn.Linear(16, 5)),
    "batchnorm first": lambda: nn.Sequential(nn.BatchNorm1d(20), nn.Linear(20, 16), nn.ReLU(),
                                             nn.Linear(16, 5)),
    "batchnorm not affine, first": lambda: nn.Sequential(
        nn.BatchNorm1d(20, affine=False), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5)),
    "batchnorm momentum None": lambda: nn.Sequential(
        nn.Linear(20, 16), nn.BatchNorm1d(16, momentum=None), nn.Tanh(), nn.Linear(16, 5)),
    "batchnorm without running stats": lambda: nn.Sequential(
        nn.Linear(20, 16), nn.BatchNorm1d(16, track_running_stats=False, bias=False),
        nn.Mish(), nn.Linear(16, 5)),
    "layernorm": lambda: nn.Sequential(nn.Linear(20, 16), nn.LayerNorm(16), nn.GELU(),
                                       nn.Linear(16, 5)),
    "layernorm first, no bias": lambda: nn.Sequential(
        nn.LayerNorm(20, bias=False), nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5)),
    "layernorm not affine, dropout": lambda: nn.Sequential(
        nn.Linear(20, 16), nn.LayerNorm(16, elementwise_affine=False), nn.ReLU(),
        nn.Dropout(0.2), nn.Linear(16, 16), nn.BatchNorm1d(16), nn.SELU(), nn.Linear(16, 5)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(NORM_MODELS))
def test_norm_layers_match_eager_running_statistics_included(name, threads):
    nf.set_num_threads(threads)
    try:
        step, model, _ = run_both(NORM_MODELS[name], lambda p: optim.Adam(p, lr=1e-2),
                                  nn.CrossEntropyLoss(), make_data(20, 5, batches=(32, 7)))
    finally:
        nf.set_num_threads(2)
    assert step.eager_calls == 0
    # run_both compared parameters and optimizer state; the buffers too, on a second pair
    (m1, o1), (m2, o2) = twins(NORM_MODELS[name], lambda p: optim.SGD(p, lr=0.1))
    step = nf.compile_step(m2, nn.CrossEntropyLoss(), o2)
    data = make_data(20, 5, nsteps=6)
    for run in (lambda x, y: eager_step(m1, nn.CrossEntropyLoss(), o1, x, y), step):
        nf.manual_seed(7)   # the same dropout draws
        for x, y in data:
            run(x, y)
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert np.array_equal(s1[k].numpy(), s2[k].numpy()), k


def test_batchnorm_in_eval_mode_runs_eager_and_back():
    data = make_data(20, 5, nsteps=6)

    def between(i, model, opt):
        model.train(i % 3 != 1)    # every third step in eval mode: running statistics used
    step, _, _ = run_both(NORM_MODELS["batchnorm"], lambda p: optim.Adam(p, lr=1e-2),
                          nn.CrossEntropyLoss(), data, between=between)
    assert step.eager_calls == 2


RESIDUAL_MODELS = {
    "identity shortcut": lambda: nn.Sequential(
        nn.Linear(20, 16), nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 16))),
        nn.Linear(16, 5)),
    "linear shortcut": lambda: nn.Sequential(
        nn.Linear(20, 16), nn.Tanh(),
        nn.Residual(nn.Sequential(nn.Linear(16, 12), nn.ReLU()), shortcut=nn.Linear(16, 12)),
        nn.Linear(12, 5)),
    "nested, with norms and dropout": lambda: nn.Sequential(
        nn.Linear(20, 16),
        nn.Residual(nn.Sequential(nn.LayerNorm(16), nn.Residual(nn.Linear(16, 16)),
                                  nn.Dropout(0.1), nn.Hardswish())),
        nn.ReLU(), nn.Linear(16, 5)),
    "residual last": lambda: nn.Sequential(nn.Linear(20, 5), nn.Residual(nn.Linear(5, 5))),
    "batchnorm block, bias-free shortcut": lambda: nn.Sequential(
        nn.Linear(20, 16),
        nn.Residual(nn.BatchNorm1d(16), shortcut=nn.Linear(16, 16, bias=False)),
        nn.Linear(16, 5)),
    "activation-only block": lambda: nn.Sequential(nn.Flatten(), nn.Linear(20, 16),
                                                   nn.Residual(nn.SiLU()), nn.Linear(16, 5)),
}


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", sorted(RESIDUAL_MODELS))
def test_residual_blocks_match_eager(name, threads):
    nf.set_num_threads(threads)
    try:
        for make_opt in (lambda p: optim.Adam(p, lr=1e-2),
                         lambda p: optim.SGD(p, lr=0.05, momentum=0.9)):
            step, _, _ = run_both(RESIDUAL_MODELS[name], make_opt, nn.CrossEntropyLoss(),
                                  make_data(20, 5, batches=(32, 7)))
            assert step.eager_calls == 0
    finally:
        nf.set_num_threads(2)


@pytest.mark.parametrize("build, why", [
    (lambda: nn.Sequential(nn.Residual(nn.Linear(20, 20)), nn.Linear(20, 5)),
     "before the first Linear"),
    (lambda: nn.Sequential(nn.Linear(20, 16),
                           nn.Residual(nn.Linear(16, 8), shortcut=nn.Sequential(nn.Linear(16, 8))),
                           nn.Linear(8, 5)), "shortcut Sequential"),
    (lambda: nn.Sequential(nn.Linear(20, 16), nn.Residual(nn.Linear(16, 8)), nn.Linear(8, 5)),
     "identity shortcut"),
])
def test_residual_it_cannot_capture_runs_eager(build, why):
    m = build()
    step = nf.compile_step(m, nn.CrossEntropyLoss(), optim.Adam(m.parameters()))
    assert not step.compiled and why in step.reason
