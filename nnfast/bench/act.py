"""Section "act": activation forward + backward on 2^20 elements, nnfast vs PyTorch, fp32.

One timed call: y = act(x) for x (1024, 1024) that requires grad, then y.backward(g) for a
fixed g (x.grad reset to None first). Same x and g in both frameworks; y and x.grad are held
to torch's (atol 1e-5, rtol 1e-4) before timing. gelu is the exact (erf) form, the default of
both. GB/s counts the nominal traffic 5 x 4 bytes per element: x read, y written (forward);
g and x read, dx written (backward).
"""
import numpy as np

from .common import compare

SECTION = "act"
TITLE = "Activation forward + backward, 2^20 fp32 elements"
NAMES = ["relu", "gelu", "tanh", "sigmoid", "silu"]
EXTRA = ["softplus", "mish", "hardswish", "selu", "logsigmoid"]   # csrc/act_extra.c; not --quick
SHAPE = (1024, 1024)
REFERENCE = "torch"


def cases(quick):
    names = NAMES if quick else NAMES + EXTRA
    return [{"id": name, "name": name, "seed": i} for i, name in enumerate(names)]


def participants(case):
    return [("nnfast", "nnfast", "functional"), ("torch", "torch", "functional")]


def work(case):
    return {"bytes": 20.0 * SHAPE[0] * SHAPE[1]}


def check(case, name, got, ref):
    return compare(name, got, ref, atol=1e-5, rtol=1e-4)


def prepare(framework, variant, case, threads):
    rng = np.random.default_rng(case["seed"])
    x = (3 * rng.standard_normal(SHAPE)).astype(np.float32)
    g = rng.standard_normal(SHAPE).astype(np.float32)
    if framework == "torch":
        import torch
        f = getattr(torch.nn.functional, case["name"])
        tx = torch.from_numpy(x).requires_grad_(True)
        tg = torch.from_numpy(g)
        arr = lambda t: t.detach().numpy()  # noqa: E731
    else:
        import nnfast as nf
        f = getattr(nf.nn.functional, case["name"])
        tx = nf.tensor(x, requires_grad=True)
        tg = nf.tensor(g)
        arr = lambda t: t.detach().numpy()  # noqa: E731
    last = {}

    def fn():
        tx.grad = None
        y = f(tx)
        y.backward(tg)
        last["y"] = y

    fn()
    return fn, {"y": arr(last["y"]).copy(), "dx": arr(tx.grad).copy()}, {}
