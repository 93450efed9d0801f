"""mpirun worker of tests/test_distributed.py: DistributedDataParallel against one process.

Each check prints "PASS <name>" on every rank; an assertion error ends the job (nonzero)."""
import numpy as np

import nnfast as nf
import nnfast.distributed as dist
from nnfast import nn
from nnfast.nn.parallel import DistributedDataParallel as DDP

dist.init_process_group("mpi")
R, N = dist.get_rank(), dist.get_world_size()
B = 6            # each rank's batch
rng = np.random.default_rng(0)   # the same global data on every rank
X = rng.standard_normal((40, N * B, 5)).astype(np.float32)
Y = rng.integers(0, 3, (40, N * B))


def make():
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))


def local(k):
    return X[k, R * B:(R + 1) * B], Y[k, R * B:(R + 1) * B]


def same_on_all_ranks(model):
    flat = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    got = [np.zeros_like(flat) for _ in range(N)]
    dist.all_gather(got, flat)
    for g in got:
        assert np.array_equal(g, flat), "ranks' weights differ"


def check(name, ddp_model, ref_model, rtol=1e-5, atol=1e-6):
    same_on_all_ranks(ddp_model)
    for (n, p), q in zip(ddp_model.module.named_parameters(), ref_model.parameters()):
        a, b = p.detach().numpy(), q.detach().numpy()
        assert np.allclose(a, b, rtol=rtol, atol=atol), (name, n, np.abs(a - b).max())
    print("PASS", name, flush=True)


def pair(seed_by_rank=True):
    """(a DDP model, a one-process model with the same initial weights as rank 0's)."""
    nf.manual_seed(100 + (R if seed_by_rank else 0))
    m = make()
    ddp = DDP(m)
    ref = make()
    ref.load_state_dict(m.state_dict())
    return ddp, ref


def train(ddp, ref, make_opt, steps=6, sched=None, clip=None, accumulate=1):
    opt, ropt = make_opt(ddp.parameters()), make_opt(ref.parameters())
    sch = [sched(opt), sched(ropt)] if sched else []
    lf = nn.CrossEntropyLoss()
    for s in range(steps):
        opt.zero_grad()
        ropt.zero_grad()
        for a in range(accumulate):
            k = s * accumulate + a
            x, y = local(k)
            if a < accumulate - 1:
                with ddp.no_sync():
                    lf(ddp(nf.tensor(x)), nf.tensor(y)).backward()
            else:
                lf(ddp(nf.tensor(x)), nf.tensor(y)).backward()
            lf(ref(nf.tensor(X[k])), nf.tensor(Y[k])).backward()
        if clip:
            n1 = nn.utils.clip_grad_norm_(ddp.parameters(), clip)
            n2 = nn.utils.clip_grad_norm_(ref.parameters(), clip)
            assert np.allclose(float(n1), float(n2), rtol=1e-5), (float(n1), float(n2))
        opt.step()
        ropt.step()
        for sc in sch:
            sc.step()


# ---- wrap: rank 0's weights everywhere, state_dict keys, .module
nf.manual_seed(7 + R)
m = make()
ddp = DDP(m)
assert ddp.module is m
same_on_all_ranks(ddp)
assert list(ddp.state_dict()) == ["module." + k for k in m.state_dict()]
print("PASS wrap_broadcast", flush=True)

# ---- SGD (momentum, with a scheduler), Adam, AdamW + clipping, no_sync accumulation
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.SGD(p, lr=0.1, momentum=0.9),
      sched=lambda o: nf.optim.lr_scheduler.StepLR(o, 2, 0.5))
check("sgd_steplr", ddp, ref)
# the optimizer's flat gradient buffer is the bucket: reduced in place, nothing packed
assert len(ddp.reducer.flats) == 1 and not ddp.reducer.packed, ddp.reducer.packed
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.Adam(p, lr=0.01))
check("adam", ddp, ref)
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.AdamW(p, lr=0.01), clip=0.05)
check("adamw_clip", ddp, ref)
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.SGD(p, lr=0.05), accumulate=3, steps=4)
check("no_sync_accumulate", ddp, ref)
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.RMSprop(p, lr=0.01))
check("rmsprop", ddp, ref)
ddp, ref = pair()
train(ddp, ref, lambda p: nf.optim.Adagrad(p, lr=0.05), clip=None)
check("adagrad", ddp, ref)
# LBFGS evaluates its closure (forward + backward) several times a step: each reduces
ddp, ref = pair()
opt = nf.optim.LBFGS(ddp.parameters(), lr=0.5, max_iter=4)
ropt = nf.optim.LBFGS(ref.parameters(), lr=0.5, max_iter=4)
lf = nn.CrossEntropyLoss()
for k in range(3):
    x, y = local(k)

    def closure():
        opt.zero_grad()
        loss = lf(ddp(nf.tensor(x)), nf.tensor(y))
        loss.backward()
        # LBFGS reads the loss too: the global batch's mean, as one process sees it
        t = nf.tensor([loss.item()])
        dist.all_reduce(t, dist.ReduceOp.AVG)
        return t[0]

    def rclosure():
        ropt.zero_grad()
        loss = lf(ref(nf.tensor(X[k])), nf.tensor(Y[k]))
        loss.backward()
        return loss

    opt.step(closure)
    ropt.step(rclosure)
check("lbfgs_closure", ddp, ref, rtol=1e-4, atol=1e-5)

# pieces started while backward runs: a small bucket cap cuts the flat buffer into many
# pieces; the last layers' pieces start before the first layer's backward. A penalty built
# before the forward (its node runs after every forward node), a weight used twice and a
# no_sync step in between must not start a piece too early.


class Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 16)
        self.b = nn.Linear(16, 16)
        self.c = nn.Linear(16, 3)

    def forward(self, x):
        return self.c(nf.tanh(self.b(nf.tanh(self.b(nf.tanh(self.a(x)))))))


for name, build, pre in (("early_pieces", make, False), ("early_pieces_tied", Tied, False),
                         ("early_pieces_penalty", Tied, True)):
    nf.manual_seed(11 + R)
    m = build()
    ddp = DDP(m, bucket_cap_mb=40 * 4 / 2 ** 20)   # 40 floats a piece
    ref = build()
    ref.load_state_dict(m.state_dict())
    opt, ropt = nf.optim.Adam(ddp.parameters(), lr=0.01), nf.optim.Adam(ref.parameters(), lr=0.01)
    lf = nn.CrossEntropyLoss()
    for k in range(6):
        opt.zero_grad()
        ropt.zero_grad()
        x, y = local(k)
        if k == 3:
            with ddp.no_sync():
                lf(ddp(nf.tensor(x)), nf.tensor(y)).backward()
            lf(ref(nf.tensor(X[k])), nf.tensor(Y[k])).backward()
        reg = nn.utils.l2_penalty(ddp.parameters(), 1e-3) if pre else 0.0
        (lf(ddp(nf.tensor(x)), nf.tensor(y)) + reg).backward()
        rreg = nn.utils.l2_penalty(ref.parameters(), 1e-3) if pre else 0.0
        (lf(ref(nf.tensor(X[k])), nf.tensor(Y[k])) + rreg).backward()
        opt.step()
        ropt.step()
    assert len(ddp.reducer.pieces) > 3
    if not pre:
        # 6 synced backwards; from the second on (the counts open at the end of one), the
        # last Linear's piece starts before the first Linear's backward has run (the tied
        # b's pieces only once both of its uses have run)
        assert ddp.reducer.overlapped >= 5, ddp.reducer.overlapped
    check(name, ddp, ref)

# a backward that raises on every rank (a user's hook) and is caught leaves DDP ready for
# the next one
ddp, ref = pair()
opt, ropt = nf.optim.SGD(ddp.parameters(), lr=0.1), nf.optim.SGD(ref.parameters(), lr=0.1)
lf = nn.CrossEntropyLoss()
for k in range(4):
    x, y = local(k)
    opt.zero_grad()
    out = ddp(nf.tensor(x))
    if k == 1:
        out.register_hook(lambda g: (_ for _ in ()).throw(KeyError("hook fails")))
        try:
            lf(out, nf.tensor(y)).backward()
            raise AssertionError("the hook did not raise")
        except KeyError:
            continue
    lf(out, nf.tensor(y)).backward()
    ropt.zero_grad()
    lf(ref(nf.tensor(X[k])), nf.tensor(Y[k])).backward()
    opt.step()
    ropt.step()
check("backward_raised_then_recovers", ddp, ref)

# gradients before any optimizer (packed buckets, not the flat buffers), several buckets
nf.manual_seed(3)
m = make()
ddp = DDP(m, bucket_cap_mb=0.0002)
ref = make()
ref.load_state_dict(m.state_dict())
lf = nn.CrossEntropyLoss()
x, y = local(0)
lf(ddp(nf.tensor(x)), nf.tensor(y)).backward()
lf(ref(nf.tensor(X[0])), nf.tensor(Y[0])).backward()
assert len(ddp.reducer.packed) > 1
for p, q in zip(ddp.parameters(), ref.parameters()):
    assert np.allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
print("PASS packed_buckets", flush=True)

# ---- compile_step of the DDP model: captured, same weights as one process
for name, mk in (("compile_sgd", lambda p: nf.optim.SGD(p, lr=0.1, momentum=0.9)),
                 ("compile_adam", lambda p: nf.optim.Adam(p, lr=0.01))):
    ddp, ref = pair()
    opt, ropt = mk(ddp.parameters()), mk(ref.parameters())
    step = nf.compile_step(ddp, nn.CrossEntropyLoss(), opt)
    rstep = nf.compile_step(ref, nn.CrossEntropyLoss(), ropt)
    assert step.compiled, step.reason
    calls = ddp.reducer.calls
    for k in range(6):
        x, y = local(k)
        step(x, y)
        rstep(X[k], Y[k])
    assert ddp.reducer.calls == calls + 6 and step.eager_calls == 0
    check(name, ddp, ref)

# ---- unused parameters: an error naming them on every rank, or zeros with find_unused


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x):
        return self.a(x)


nf.manual_seed(1)
ddp = DDP(Branchy())
x, y = local(0)
try:
    nn.CrossEntropyLoss()(ddp(nf.tensor(x)), nf.tensor(y)).backward()
    raise AssertionError("no error for unused parameters")
except RuntimeError as e:
    assert "b.weight" in str(e) and "find_unused_parameters=True" in str(e), e
ddp = DDP(Branchy(), find_unused_parameters=True)
nn.CrossEntropyLoss()(ddp(nf.tensor(x)), nf.tensor(y)).backward()
assert ddp.module.b.weight.grad is None and ddp.module.a.weight.grad is not None
print("PASS unused_parameters", flush=True)

# ---- a model that differs across ranks: named at wrap, on every rank
nf.manual_seed(0)
bad = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3 + (R == N - 1)))
try:
    DDP(bad)
    raise AssertionError("no error for a mismatched model")
except RuntimeError as e:
    msg = str(e)
    assert "'2.weight'" in msg and f"rank {N - 1}" in msg and "[3, 4]" in msg, msg
# the same shapes, another layer: the layer is named
odd = nn.Sequential(nn.Linear(5, 4), nn.Tanh() if R == N - 1 else nn.ReLU(), nn.Linear(4, 3))
try:
    DDP(odd)
    raise AssertionError("no error for a model with another layer")
except RuntimeError as e:
    msg = str(e)
    assert "module '1' is a nnfast.nn.activation.ReLU on rank 0 and a " \
           f"nnfast.nn.activation.Tanh on rank {N - 1}" in msg, msg
print("PASS mismatch_named", flush=True)

# ---- buffers: rank 0's BatchNorm statistics at wrap and before each synced forward
nf.manual_seed(R)
bn = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4))
bn[1].running_mean.numpy()[...] = R + 1.0
ddp = DDP(bn)
assert np.all(bn[1].running_mean.numpy() == 1.0)
bn[1].running_var.numpy()[...] = R + 5.0
ddp.eval()
with nf.no_grad():
    ddp(nf.tensor(local(0)[0]))     # no sync without grad mode: local statistics stay
assert np.all(bn[1].running_var.numpy() == R + 5.0)
ddp(nf.tensor(local(0)[0]))
assert np.all(bn[1].running_var.numpy() == 5.0)
print("PASS buffers", flush=True)

dist.destroy_process_group()
print("PASS done", flush=True)
