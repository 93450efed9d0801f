"""Section "step": time per training step of an MLP, nnfast vs PyTorch (and JAX when installed).

Every framework trains the same MLP (Linear-ReLU-...-Linear) from bit-identical initial
weights (drawn once with NumPy from torch's default distribution) on identical batches, with
Adam (lr 1e-3, torch defaults otherwise) and cross-entropy. One timed call = one step:
zero_grad, forward, loss, backward, optimizer step, and the loss read back as a Python float
(every framework pays that one sync, as a training loop that logs losses does).

Participants: nnfast (eager), nnfast compiled (nf.compile_step, when the checkout has it),
torch (default Adam, i.e. foreach), torch fused (Adam(fused=True)), jax (jit-compiled step with
the same Adam arithmetic, when installed). Correctness before timing: each participant's losses
over its first 5 steps must match torch's to 1e-3 * max(1, |loss|).
FLOPs per step (for GFLOP/s): forward 2*B*sum(in*out), weight gradients the same again, input
gradients of every layer but the first the same again: 4*B*sum(in*out) + 2*B*sum_{l>1}(in*out).
"""
import numpy as np

from .common import Skip, compare, torch_default_uniform

SECTION = "step"
TITLE = "Training step (Adam, cross-entropy), time per step"
MODELS = [((64, 32, 10), 32), ((784, 128, 10), 64), ((784, 256, 128, 10), 128),
          ((784, 1024, 1024, 10), 256)]
CHECK_STEPS = 5
BLOCK_FACTOR = 4.0   # timed blocks of 4 x --block-ms (100 ms by default): a step is long
LR = 1e-3


def cases(quick):
    return [{"id": f"{'-'.join(map(str, s))} b{b}", "sizes": list(s), "batch": b}
            for s, b in (MODELS[:3] if quick else MODELS)]   # --quick: not the 1024-wide one


def participants(case):
    return [("nnfast", "nnfast", "eager"), ("nnfast compiled", "nnfast", "compiled"),
            ("torch", "torch", "default"), ("torch fused", "torch", "fused"),
            ("jax", "jax", "jit")]


REFERENCE = "torch"


def work(case):
    s, b = case["sizes"], case["batch"]
    layer = [i * o for i, o in zip(s[:-1], s[1:])]
    return {"flops": 4.0 * b * sum(layer) + 2.0 * b * sum(layer[1:])}


def check(case, name, got, ref):
    return compare(name, got, ref, atol=1e-3 * max(1.0, float(np.abs(ref).max())), rtol=0)


def make_problem(sizes, batch, nbatches=8, seed=0):
    rng = np.random.default_rng(seed)
    weights = [(torch_default_uniform(rng, (o, i), i), torch_default_uniform(rng, (o,), i))
               for i, o in zip(sizes[:-1], sizes[1:])]
    xs = [rng.standard_normal((batch, sizes[0])).astype(np.float32) for _ in range(nbatches)]
    ys = [rng.integers(0, sizes[-1], batch).astype(np.int64) for _ in range(nbatches)]
    return weights, xs, ys


def prepare(framework, variant, case, threads):
    weights, xs, ys = make_problem(case["sizes"], case["batch"])
    make = {"nnfast": nnfast_step, "torch": torch_step, "jax": jax_step}[framework]
    step, info = make(case["sizes"], weights, xs, ys, variant)
    n = len(xs)
    losses = np.array([step(s % n) for s in range(CHECK_STEPS)])
    pos = [CHECK_STEPS]

    def fn():
        step(pos[0] % n)
        pos[0] += 1
    return fn, {"losses": losses}, info


# ------------------------------------------------------------------------------ nnfast
def relu_mlp(lib, sizes, weights):
    """nn.Sequential(Linear, ReLU, ..., Linear) of torch or nnfast (`lib`) holding `weights`
    ([(w, b)] NumPy arrays), so every framework starts from the same numbers."""
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(lib.nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(lib.nn.ReLU())
    model = lib.nn.Sequential(*mods)
    model.load_state_dict({f"{2 * i}.{k}": lib.from_numpy(v) for i, (w, b) in enumerate(weights)
                           for k, v in (("weight", w), ("bias", b))})
    return model


def eager_step(model, loss_fn, opt, xt, yt):
    """step(i): the PyTorch loop on batch i, its loss as a float (torch or nnfast alike)."""
    def step(i):
        opt.zero_grad()
        loss = loss_fn(model(xt[i]), yt[i])
        loss.backward()
        opt.step()
        return loss.item()
    return step


def nnfast_step(sizes, weights, xs, ys, variant):
    import nnfast as nf
    from nnfast import nn, optim
    model = relu_mlp(nf, sizes, weights)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=LR)
    xt = [nf.from_numpy(x) for x in xs]
    yt = [nf.from_numpy(y) for y in ys]
    if variant == "compiled":
        if not hasattr(nf, "compile_step"):
            raise Skip("nnfast.compile_step is not in this checkout")
        compiled = nf.compile_step(model, loss_fn, opt)

        def step(i):
            return float(compiled(xt[i], yt[i]))
        return step, {"compiled": bool(getattr(compiled, "compiled", False))}
    return eager_step(model, loss_fn, opt, xt, yt), {}


# ------------------------------------------------------------------------------ torch
def torch_step(sizes, weights, xs, ys, variant):
    import torch
    model = relu_mlp(torch, sizes, weights)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True if variant == "fused" else None)
    xt = [torch.from_numpy(x) for x in xs]
    yt = [torch.from_numpy(y) for y in ys]
    return eager_step(model, loss_fn, opt, xt, yt), {}


# ------------------------------------------------------------------------------ JAX
def jax_step(sizes, weights, xs, ys, variant):
    import jax
    import jax.numpy as jnp

    params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in weights]
    b1, b2, eps = 0.9, 0.999, 1e-8

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = x @ w.T + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    def loss_fn(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def jstep(params, m, v, t, x, y):
        # torch.optim.Adam's arithmetic: p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1 = 1 - b1 ** t
        c2 = 1 - b2 ** t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - LR / c1 * m / (jnp.sqrt(v) / jnp.sqrt(c2) + eps), params, m, v)
        return params, m, v, t, loss

    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params),
             "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.asarray(0.0)}
    xt = [jnp.asarray(x) for x in xs]
    yt = [jnp.asarray(y.astype(np.int32)) for y in ys]

    def step(i):
        state["p"], state["m"], state["v"], state["t"], loss = jstep(
            state["p"], state["m"], state["v"], state["t"], xt[i], yt[i])
        return float(loss)
    return step, {"jax": jax.__version__}
