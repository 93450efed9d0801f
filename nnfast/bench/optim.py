"""Section "optim": one optimizer step over 1e5 and 1e6 parameters, nnfast vs PyTorch.

One parameter tensor of n float32 values with a fixed gradient; one timed call = opt.step().
Adam: lr 1e-3, torch defaults. SGD: lr 1e-2, momentum 0.9. torch runs its default (foreach)
and fused=True implementations; nnfast its flat-buffer C step. Correctness before timing: the
parameters after 3 steps from the same start match torch's (atol 1e-6, rtol 1e-5).
GB/s counts the nominal traffic per step: Adam reads p, g, m, v and writes p, m, v
(7 x 4 bytes per parameter); SGD with momentum reads p, g, buf and writes p, buf (5 x 4).
Without --quick, also the less common optimizers at n=1e6 with torch defaults (torch has no
fused CPU version of them and runs its single-tensor loop): Adadelta, Adamax, NAdam, RAdam and
Rprop move 7 x 4 bytes per parameter like Adam; ASGD (t0 default: ax = p) reads p, g and
writes p, ax (4 x 4).
"numpy copy" is np.copyto of n float32 values in the same process setting (2 x 4 bytes per
value): a bandwidth an optimizer step can be held to, so "% of copy" is GB/s / copy GB/s.
"""
import numpy as np

from .common import compare

SECTION = "optim"
TITLE = "Optimizer step"
# 1e5 and 1e6 sit in this machine's caches (Adam's 7 arrays of 1e6 floats: 28 MB against a
# 32 MiB L3), where Adam is bound by its divisions and square root; 1e7 (280 MB) is past
# them, the case the "% of copy" target is about.
SIZES = [100_000, 1_000_000, 10_000_000]
BYTES_PER_PARAM = {"Adam": 28, "SGD": 20, "Adadelta": 28, "Adamax": 28, "NAdam": 28,
                   "RAdam": 28, "ASGD": 16, "Rprop": 28}
KW = {"Adam": {"lr": 1e-3}, "SGD": {"lr": 1e-2, "momentum": 0.9}}
EXTRA = ["Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"]   # no torch fused on CPU
REFERENCE = "torch"
CHECK_STEPS = 3


def cases(quick):
    # --quick: not the 1e7 size (half the section's time; 1e6 is already past the caches)
    pairs = [(o, n) for o in ("Adam", "SGD") for n in (SIZES[:2] if quick else SIZES)]
    if not quick:
        pairs += [(o, 1_000_000) for o in EXTRA]
    return [{"id": f"{opt} n={n:.0e}".replace("e+0", "e"), "opt": opt, "n": n, "seed": i}
            for i, (opt, n) in enumerate(pairs)]


def participants(case):
    fused = [] if case["opt"] in EXTRA else [("torch fused", "torch", "fused")]
    return [("nnfast", "nnfast", "flat"), ("torch", "torch", "default")] + fused + [
        ("numpy copy", "numpy", "copy")]


def work(case):
    return {"bytes": float(BYTES_PER_PARAM[case["opt"]] * case["n"])}


def check(case, name, got, ref):
    return compare(name, got, ref, atol=1e-6, rtol=1e-5)


def prepare(framework, variant, case, threads):
    rng = np.random.default_rng(case["seed"])
    p0 = rng.standard_normal(case["n"]).astype(np.float32)
    g = rng.standard_normal(case["n"]).astype(np.float32)
    if framework == "numpy":
        dst = np.empty_like(p0)

        def fn():
            np.copyto(dst, p0)
        return fn, None, {"bytes": 8.0 * case["n"]}
    kw = KW.get(case["opt"], {})
    if framework == "torch":
        import torch
        p = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        p.grad = torch.from_numpy(g)
        if variant == "fused":
            kw = dict(kw, fused=True)
        opt = getattr(torch.optim, case["opt"])([p], **kw)
        params = lambda: p.detach().numpy()  # noqa: E731
    else:
        import nnfast as nf
        p = nf.nn.Parameter(nf.tensor(p0))
        p.grad = nf.tensor(g)   # set before the optimizer: it moves into the flat grad buffer
        opt = getattr(nf.optim, case["opt"])([p], **kw)
        params = lambda: p.detach().numpy()  # noqa: E731
    for _ in range(CHECK_STEPS):
        opt.step()
    return opt.step, {"params": params().copy()}, {}
