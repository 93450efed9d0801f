"""Per-training-step time of nnfast vs PyTorch (and JAX when installed), in one run.

Each framework trains the same MLP from identical initial weights on identical data with
Adam and cross-entropy. Before timing, a few steps are run in both and the losses compared,
so a fast wrong answer cannot win. Timing: blocks of `steps` training steps, repeated
`repeats` times with the frameworks interleaved (so machine noise hits both alike); the figure
is the median over blocks of (block time / steps). Speed-up = torch time / nnfast time.

    python -m bench                      # default models, 1 and 2 threads
    python -m bench --threads 1 --repeats 5 --json out.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

MODELS = [  # (layer sizes, batch)
    ((64, 32, 10), 32),
    ((784, 128, 10), 64),
]


def make_data(sizes, batch, nbatches=8, seed=0):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((batch, sizes[0])).astype(np.float32) for _ in range(nbatches)]
    ys = [rng.integers(0, sizes[-1], batch).astype(np.int64) for _ in range(nbatches)]
    return xs, ys


def torch_init_weights(sizes, seed=0):
    """Initial weights drawn once (by torch's default init) and shared by every framework."""
    import torch
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = torch.nn.Linear(a, b)
        layers.append((lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy()))
    return layers


# ------------------------------------------------------------------------------ nnfast
def nnfast_runner(sizes, weights, xs, ys, lr=1e-3):
    import nnfast as nf
    from nnfast import nn, optim
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(nn.ReLU())
    model = nn.Sequential(*mods)
    sd = {}
    for i, (w, b) in enumerate(weights):
        sd[f"{2 * i}.weight"] = w
        sd[f"{2 * i}.bias"] = b
    model.load_state_dict(sd)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=lr)
    xt = [nf.from_numpy(x) for x in xs]
    yt = [nf.from_numpy(y) for y in ys]
    n = len(xt)

    def run(steps, start=0):
        loss = None
        for s in range(start, start + steps):
            opt.zero_grad()
            loss = loss_fn(model(xt[s % n]), yt[s % n])
            loss.backward()
            opt.step()
        return loss.item()
    return run, nf.set_num_threads


# ------------------------------------------------------------------------------ torch
def torch_runner(sizes, weights, xs, ys, lr=1e-3, fused=False):
    import torch
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    with torch.no_grad():
        for i, (w, b) in enumerate(weights):
            model[2 * i].weight.copy_(torch.from_numpy(w))
            model[2 * i].bias.copy_(torch.from_numpy(b))
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=fused or None)
    xt = [torch.from_numpy(x) for x in xs]
    yt = [torch.from_numpy(y) for y in ys]
    n = len(xt)

    def run(steps, start=0):
        loss = None
        for s in range(start, start + steps):
            opt.zero_grad()
            loss = loss_fn(model(xt[s % n]), yt[s % n])
            loss.backward()
            opt.step()
        return loss.item()
    return run, torch.set_num_threads


# ------------------------------------------------------------------------------ JAX
def jax_runner(sizes, weights, xs, ys, lr=1e-3):
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
    def step(params, m, v, t, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        c1 = 1 - b1 ** t
        c2 = 1 - b2 ** t
        params = jax.tree_util.tree_map(
            lambda p, m, v: p - lr / c1 * m / (jnp.sqrt(v) / jnp.sqrt(c2) + eps), params, m, v)
        return params, m, v, t, loss

    state = {"p": params, "m": jax.tree_util.tree_map(jnp.zeros_like, params),
             "v": jax.tree_util.tree_map(jnp.zeros_like, params), "t": jnp.asarray(0.0)}
    xt = [jnp.asarray(x) for x in xs]
    yt = [jnp.asarray(y) for y in ys]
    n = len(xt)

    def run(steps, start=0):
        loss = None
        for s in range(start, start + steps):
            state["p"], state["m"], state["v"], state["t"], loss = step(
                state["p"], state["m"], state["v"], state["t"], xt[s % n], yt[s % n])
        return float(loss)
    return run, None


def _block_times(runners, steps, repeats):
    times = {name: [] for name in runners}
    pos = {name: 1000 for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run(steps, pos[name])
            times[name].append((time.perf_counter() - t0) / steps)
            pos[name] += steps
    return {k: statistics.median(v) for k, v in times.items()}


def bench_model(sizes, batch, threads, steps, repeats, with_jax):
    weights = torch_init_weights(sizes)
    xs, ys = make_data(sizes, batch)
    runners = {}
    setters = []
    r, s = nnfast_runner(sizes, weights, xs, ys)
    runners["nnfast"] = r
    setters.append(s)
    r, s = torch_runner(sizes, weights, xs, ys)
    runners["torch"] = r
    setters.append(s)
    r, _ = torch_runner(sizes, weights, xs, ys, fused=True)
    runners["torch_fused"] = r
    if with_jax:
        r, _ = jax_runner(sizes, weights, xs, ys)
        runners["jax"] = r
    for set_threads in setters:
        set_threads(threads)
    # correctness before timing: same losses after the same 5 steps from the same start
    losses = {name: run(5, 0) for name, run in runners.items()}
    ref = losses["torch"]
    for name, val in losses.items():
        if not abs(val - ref) <= 1e-3 * max(1.0, abs(ref)):
            raise SystemExit(f"bench: {name} loss {val} differs from torch's {ref} "
                             f"for {sizes} batch {batch}; not timing a wrong answer")
    for run in runners.values():  # warm up
        run(max(steps // 4, 5), 100)
    return _block_times(runners, steps, repeats), losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=200, help="training steps per timed block")
    ap.add_argument("--repeats", type=int, default=7, help="timed blocks per framework")
    ap.add_argument("--json", default=None, help="write results here")
    ap.add_argument("--no-jax", action="store_true")
    args = ap.parse_args(argv)

    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("bench needs torch==2.13.0 (pip install -e .[test])")
    with_jax = False
    if not args.no_jax:
        try:
            import jax  # noqa: F401
            with_jax = True
        except ImportError:
            pass
    import nnfast as nf
    rows = []
    print(f"# nnfast {nf.__version__} vs torch {torch.__version__}"
          + ("" if with_jax else " (JAX not installed)")
          + f"; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"GEMM kernels: {nf._C.gemm_isa()}")
    print("| model | batch | threads | nnfast µs/step | torch µs/step | torch fused µs/step |"
          + (" jax µs/step |" if with_jax else "") + " speed-up vs best torch |"
          + (" vs jax |" if with_jax else ""))
    print("|---|---|---|---|---|---|" + ("---|" if with_jax else "") + "---|"
          + ("---|" if with_jax else ""))
    for sizes, batch in MODELS:
        for threads in args.threads:
            t, losses = bench_model(sizes, batch, threads, args.steps, args.repeats, with_jax)
            best_torch = min(t["torch"], t["torch_fused"])
            row = {"model": "-".join(map(str, sizes)), "batch": batch, "threads": threads,
                   **{f"{k}_us": v * 1e6 for k, v in t.items()},
                   "speedup_vs_torch": best_torch / t["nnfast"]}
            line = (f"| {row['model']} | {batch} | {threads} | {t['nnfast'] * 1e6:.1f} | "
                    f"{t['torch'] * 1e6:.1f} | {t['torch_fused'] * 1e6:.1f} |")
            if with_jax:
                row["speedup_vs_jax"] = t["jax"] / t["nnfast"]
                line += f" {t['jax'] * 1e6:.1f} |"
            line += f" {row['speedup_vs_torch']:.2f}× |"
            if with_jax:
                line += f" {row['speedup_vs_jax']:.2f}× |"
            print(line, flush=True)
            rows.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "steps": args.steps, "repeats": args.repeats,
                       "python": sys.version.split()[0]}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
