"""The training problems of `bench --device cuda` (nnfast/bench/cuda.py) and their participants.

One builder makes each model from a module namespace (`nnfast.nn` or `torch.nn`: the same
names), so nnfast and PyTorch train the same network from the same host weights (NumPy draws
of torch's default U(+-1/sqrt(fan_in)), fixed seed) on the same batches:
  mlp   Linear-ReLU-...-Linear, cross-entropy: step.py's four models
  cnn   Conv2d(1->16, 3x3, pad 1)-ReLU-MaxPool2d(2)-Conv2d(16->32)-ReLU-MaxPool2d(2)-Flatten-
        Linear(32*7*7 -> 10) on 28x28, batch 64, cross-entropy
  lstm  LSTM(in, H) seq-first (bench_rnn.py's second size), MSE of every output
        against a fixed random target
Adam (lr 1e-3) everywhere. A participant is a step function `step(i) -> loss` over batch i
(no host sync inside) plus what its check found.
"""
import gc

import numpy as np

from .common import Skip, compare, torch_default_uniform

LR = 1e-3
MLPS = [((64, 32, 10), 32), ((784, 128, 10), 64), ((784, 256, 128, 10), 128),
        ((784, 1024, 1024, 10), 256)]              # step.py's MODELS
CNN = {"c1": 16, "c2": 32, "hw": 28, "batch": 64, "classes": 10}
LSTM = {"T": 32, "B": 32, "I": 32, "H": 128}       # bench_rnn.py's second case
NBATCHES = 4
LSTM_KEYS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


def _mlp(sizes, batch):
    return {"id": f"{'-'.join(map(str, sizes))} b{batch}", "kind": "mlp",
            "sizes": list(sizes), "batch": batch}


def cases(quick=False, smoke=False):
    if smoke:   # simulator sizes: the code path, nothing worth timing
        return [_mlp((6, 5, 3), 4),
                {"id": "cnn 1-2-3 8x8 b2", "kind": "cnn", "c1": 2, "c2": 3, "hw": 8,
                 "batch": 2, "classes": 3},
                {"id": "lstm T3 B2 in3 H4", "kind": "lstm", "T": 3, "B": 2, "I": 3, "H": 4}]
    out = [_mlp(s, b) for s, b in MLPS]
    out.append({"id": f"cnn 1-{CNN['c1']}-{CNN['c2']} {CNN['hw']}x{CNN['hw']} b{CNN['batch']}",
                "kind": "cnn", **CNN})
    out.append({"id": f"lstm T{LSTM['T']} B{LSTM['B']} in{LSTM['I']} H{LSTM['H']}",
                "kind": "lstm", **LSTM})
    return out


def public(case):
    return {k: v for k, v in case.items() if k not in ("id", "kind")}


# ------------------------------------------------------------------------------ problems
def _shapes(case):
    """(state_dict key, shape, fan_in) of every parameter, in torch's naming."""
    k = case["kind"]
    if k == "mlp":
        s = case["sizes"]
        return [x for i, (a, b) in enumerate(zip(s[:-1], s[1:]))
                for x in ((f"{2 * i}.weight", (b, a), a), (f"{2 * i}.bias", (b,), a))]
    if k == "cnn":
        c1, c2, q = case["c1"], case["c2"], case["hw"] // 4
        return [("0.weight", (c1, 1, 3, 3), 9), ("0.bias", (c1,), 9),
                ("3.weight", (c2, c1, 3, 3), 9 * c1), ("3.bias", (c2,), 9 * c1),
                ("7.weight", (case["classes"], c2 * q * q), c2 * q * q),
                ("7.bias", (case["classes"],), c2 * q * q)]
    H, I = case["H"], case["I"]
    dims = {"weight_ih_l0": (4 * H, I), "weight_hh_l0": (4 * H, H), "bias_ih_l0": (4 * H,),
            "bias_hh_l0": (4 * H,)}
    return [(key, dims[key], H) for key in LSTM_KEYS]


def make_problem(case, seed=0):
    """Host weights (a state dict of float32 arrays) and NBATCHES (x, y) batches."""
    rng = np.random.default_rng(seed)
    sd = {key: torch_default_uniform(rng, shape, fan) for key, shape, fan in _shapes(case)}
    k, batches = case["kind"], []
    for _ in range(NBATCHES):
        if k == "mlp":
            x = rng.standard_normal((case["batch"], case["sizes"][0])).astype(np.float32)
            y = rng.integers(0, case["sizes"][-1], case["batch"]).astype(np.int64)
        elif k == "cnn":
            x = rng.standard_normal((case["batch"], 1, case["hw"], case["hw"])).astype(
                np.float32)
            y = rng.integers(0, case["classes"], case["batch"]).astype(np.int64)
        else:
            T, B, H = case["T"], case["B"], case["H"]
            x = rng.standard_normal((T, B, case["I"])).astype(np.float32)
            y = rng.standard_normal((T, B, H)).astype(np.float32)
        batches.append((x, y))
    return {"state": sd, "batches": batches}


def build(nn, case):
    """The case's model from a module namespace: nnfast.nn or torch.nn."""
    k = case["kind"]
    if k == "mlp":
        s, mods = case["sizes"], []
        for i, (a, b) in enumerate(zip(s[:-1], s[1:])):
            mods.append(nn.Linear(a, b))
            if i < len(s) - 2:
                mods.append(nn.ReLU())
        return nn.Sequential(*mods)
    if k == "cnn":
        c1, c2, q = case["c1"], case["c2"], case["hw"] // 4
        return nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(c2 * q * q, case["classes"]))
    return nn.LSTM(case["I"], case["H"])


def loss_fn_of(nn, kind):
    return nn.MSELoss() if kind == "lstm" else nn.CrossEntropyLoss()


def loss_of(kind, model, loss_fn, x, y):
    out = model(x)
    return loss_fn(out[0] if kind == "lstm" else out, y)   # LSTM: (output, (h_n, c_n))


def _cycle(step, n):
    """A no-argument timed call: one step on the next batch."""
    pos = [0]

    def fn():
        step(pos[0] % n)
        pos[0] += 1
    return fn


# ------------------------------------------------------------------------------ nnfast
def _nnfast_setup(nf, case, prob, device):
    model = build(nf.nn, case)
    model.load_state_dict(prob["state"])
    model.to(device)
    opt = nf.optim.Adam(model.parameters(), lr=LR)

    batches = [(nf.from_numpy(x).to(device), nf.from_numpy(y).to(device))
               for x, y in prob["batches"]]
    return model, loss_fn_of(nf.nn, case["kind"]), opt, batches


def _host(t):
    return t.detach().cpu().numpy()


def _train_checked(model, loss_fn, opt, batches, kind, steps):
    """`steps` eager steps; their losses, the last step's gradients, the weights after."""
    losses, grads = [], {}
    for i in range(steps):
        opt.zero_grad()
        loss = loss_of(kind, model, loss_fn, *batches[i % len(batches)])
        loss.backward()
        if i == steps - 1:
            grads = {n: _host(p.grad) for n, p in model.named_parameters()}
        opt.step()
        losses.append(float(loss.item()))
    weights = {n: _host(p) for n, p in model.named_parameters()}
    return losses, grads, weights


def nnfast_reference(nf, case, prob, steps):
    model, loss_fn, opt, batches = _nnfast_setup(nf, case, prob, "cpu")
    losses, grads, weights = _train_checked(model, loss_fn, opt, batches, case["kind"], steps)
    return {"losses": losses, "grads": grads, "weights": weights}


def nnfast_cuda_checked(nf, case, prob, ref, steps):
    """The eager nnfast loop on CUDA, held to nnfast CPU: (timed call, verdict)."""
    model, loss_fn, opt, batches = _nnfast_setup(nf, case, prob, "cuda")
    losses, grads, weights = _train_checked(model, loss_fn, opt, batches, case["kind"], steps)
    verdict = verdict_vs_cpu(ref, losses, grads, weights, steps)

    def step(i):
        opt.zero_grad()
        loss = loss_of(case["kind"], model, loss_fn, *batches[i])
        loss.backward()
        opt.step()
        return loss
    return _cycle(step, len(batches)), verdict


def verdict_vs_cpu(ref, losses, grads, weights, steps, rtol=1e-4):
    """Losses (rtol), the last gradients (rtol, atol rtol*max|g| per tensor: sums in another
    order), the weights (rtol, atol 1e-5). Adam moves a weight by ~lr whatever the size of
    its gradient, so a gradient within rounding of 0 may take the other sign on the GPU: a
    few weights (at most max(2, 1e-5 n)) up to 2*lr*steps off are counted, not failed."""
    v = {"steps": steps, "rtol": rtol, "losses_cpu": ref["losses"], "losses_cuda": losses,
         "errors": []}
    lc, lr_ = np.asarray(losses), np.asarray(ref["losses"])
    v["max_loss_rel_err"] = float(np.max(np.abs(lc - lr_) / np.maximum(np.abs(lr_), 1e-12)))
    msg = compare("losses", lc, lr_, atol=1e-6 * max(1.0, float(np.abs(lr_).max())), rtol=rtol)
    if msg:
        v["errors"].append(msg)
    worst_g = 0.0
    for n, g in ref["grads"].items():
        scale = max(float(np.abs(g).max()), 1e-30)
        worst_g = max(worst_g, float(np.abs(grads[n] - g).max()) / scale)
        msg = compare(f"grad {n}", grads[n], g, atol=rtol * scale, rtol=rtol)
        if msg:
            v["errors"].append(msg)
    v["max_grad_err_over_max_grad"] = worst_g
    worst_w, flips = 0.0, 0
    for n, w in ref["weights"].items():
        d = np.abs(weights[n].astype(np.float64) - w)
        worst_w = max(worst_w, float(d.max()))
        bad = d > 1e-5 + rtol * np.abs(w)
        if bad.any():
            nbad = int(bad.sum())
            if nbad <= max(2, 1e-5 * w.size) and float(d[bad].max()) <= 2 * LR * steps + 1e-6:
                flips += nbad
            else:
                msg = compare(f"weight {n}", weights[n], w, atol=1e-5, rtol=rtol)
                v["errors"].append(f"{msg or 'weight ' + n} ({nbad} of {w.size} off)")
    v["max_weight_abs_err"] = worst_w
    v["weights_off_by_adam_sign_flips"] = flips
    v["ok"] = not v["errors"]
    return v


def nnfast_compiled(nf, case, prob, ref, steps):
    """nf.compile_step on CUDA, timed only when it really captured the step."""
    if not hasattr(nf, "compile_step"):
        raise Skip("nnfast.compile_step is not in this checkout")
    if case["kind"] == "lstm":
        raise Skip("compile_step takes loss_fn(model(x), y); an LSTM returns a tuple")
    model, loss_fn, opt, batches = _nnfast_setup(nf, case, prob, "cuda")
    step = nf.compile_step(model, loss_fn, opt)
    if not getattr(step, "compiled", False):
        raise Skip(f"compile_step gave the eager loop: {getattr(step, 'reason', '?')}")
    losses = [float(step(*batches[i % len(batches)])) for i in range(steps)]
    msg = compare("compiled losses", losses, ref["losses"],
                  atol=1e-6 * max(1.0, max(abs(x) for x in ref["losses"])), rtol=1e-4)
    if msg:
        raise AssertionError(msg)
    return _cycle(lambda i: step(*batches[i]), len(batches)), {"compiled": True}


# ------------------------------------------------------------------------------ torch
def torch_participant(torch, variant, case, prob, ref, steps, device="cuda"):
    """torch on CUDA: variant eager (default Adam, foreach), graphs (one captured step
    replayed on static inputs, Adam(capturable=True)) or compile (torch.compile(mode=
    "reduce-overhead") of forward + loss, its backward; Adam(fused=True)). Its first `steps`
    losses must match nnfast CPU's to 1e-3 * max(1, |loss|), step.py's cross-library check."""
    kind = case["kind"]
    model = build(torch.nn, case)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in prob["state"].items()})
    model.to(device)
    loss_fn = loss_fn_of(torch.nn, kind)
    batches = [(torch.from_numpy(x).to(device), torch.from_numpy(y).to(device))
               for x, y in prob["batches"]]
    info = {}
    if variant == "eager":
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        info["adam"] = "default (foreach)"

        def step(i):
            opt.zero_grad()
            loss = loss_of(kind, model, loss_fn, *batches[i])
            loss.backward()
            opt.step()
            return loss
    elif variant == "graphs":
        opt = torch.optim.Adam(model.parameters(), lr=LR, capturable=True)
        step = _graph_step(torch, model, opt, loss_fn, kind, batches)
        info["adam"] = "capturable (foreach)"
    else:
        opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
        fwd = torch.compile(lambda x, y: loss_of(kind, model, loss_fn, x, y),
                            mode="reduce-overhead")
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
        info["adam"] = "fused"

        def step(i):
            if mark is not None:
                mark()
            opt.zero_grad(set_to_none=True)
            loss = fwd(*batches[i])
            loss.backward()
            opt.step()
            return loss
    losses = [float(step(i % len(batches)).detach()) for i in range(steps)]
    msg = compare(f"torch {variant} losses vs nnfast CPU", losses, ref["losses"],
                  atol=1e-3 * max(1.0, max(abs(x) for x in ref["losses"])), rtol=0)
    if msg:
        raise AssertionError(msg)
    return _cycle(step, len(batches)), info


def _graph_step(torch, model, opt, loss_fn, kind, batches):
    """PyTorch's whole-network capture recipe: warm up on a side stream, capture one step on it
    (zero_grad(set_to_none) first so the graph owns the gradients), then put the weights and
    Adam's state back in place (the graph holds their addresses) so replay 1 is step 1."""
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    sx, sy = batches[0][0].clone(), batches[0][1].clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_of(kind, model, loss_fn, sx, sy).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    # captured on the warm-up's stream, where the libraries' handles and workspaces exist
    with torch.cuda.graph(graph, stream=side):
        static_loss = loss_of(kind, model, loss_fn, sx, sy)
        static_loss.backward()
        opt.step()
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(init[n])
        for st in opt.state.values():
            for v in st.values():
                if torch.is_tensor(v):
                    v.zero_()

    def step(i):
        sx.copy_(batches[i][0])
        sy.copy_(batches[i][1])
        graph.replay()
        return static_loss
    return step


def release(env):
    """Drop a case's device memory before the next (both allocators cache blocks)."""
    gc.collect()
    try:
        env.nf.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass
    if env.torch is not None:
        env.torch.cuda.empty_cache()
