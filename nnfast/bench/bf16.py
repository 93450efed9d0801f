"""Section "bf16": the MLP training step of the step section under bf16 autocast.

Same models, weights, batches, loss (cross-entropy) and optimizer (Adam, lr 1e-3) as step.py,
for the two models the issue names: 784-256-128-10 at batch 128 and 784-1024-1024-10 at batch
256 (--quick: the smaller only). One timed call = one step, the loss read back as a float.

Participants:
  nnfast bf16     nf.compile_step(model, loss, Adam) called inside
                  `nf.autocast("cpu", dtype=nf.bfloat16)` (entered per step, as a loop would)
  torch autocast  zero_grad; forward and loss under `torch.autocast("cpu", dtype=torch.bfloat16)`;
                  backward; `torch.optim.Adam(..., fused=True)` step
  nnfast fp32     the same compiled step as nnfast bf16, outside autocast
The ratios are X's time ÷ nnfast bf16's.
Correctness before timing: nnfast bf16's losses over its first 5 steps against torch
autocast's to 5e-3 * max(1, |loss|) (both multiply bf16-rounded operands; torch also rounds
each GEMM's output to bf16, nnfast keeps the fp32 accumulation; measured ~4e-4 apart), nnfast
fp32's against torch's fp32 step (fused Adam, run by the torch participant for the check
only) to 1e-3, as step.py.
FLOPs per step are step.py's (the GEMMs); the nnfast bf16 figure is quoted as % of the
measured bf16 peak (peak section, `_C.bf16_peak`), nnfast fp32's of the FMA peak.
"""
from .common import Skip, compare
from .step import LR, make_problem, relu_mlp, work  # noqa: F401  (work: the harness's FLOPs per case)

SECTION = "bf16"
TITLE = "Training step under bf16 autocast (Adam, cross-entropy), time per step"
MODELS = [((784, 256, 128, 10), 128), ((784, 1024, 1024, 10), 256)]
CHECK_STEPS = 5
BLOCK_FACTOR = 4.0   # as step.py: a step is long
REFERENCE = "torch autocast"
BASELINE = "nnfast bf16"     # the ratios are of this participant's time
PEAK = {"nnfast bf16": "bf16", "torch autocast": "bf16"}   # %peak of the bf16 peak; else FMA
PARTIAL_CHECKS = True        # each participant answers to the reference's check of its precision
BF16_TOL, FP32_TOL = 5e-3, 1e-3


def cases(quick):
    return [{"id": f"{'-'.join(map(str, s))} b{b}", "sizes": list(s), "batch": b}
            for s, b in (MODELS[:1] if quick else MODELS)]


def participants(case):
    return [("nnfast bf16", "nnfast", "bf16"), ("torch autocast", "torch", "autocast"),
            ("nnfast fp32", "nnfast", "fp32")]


def check(case, name, got, ref):
    tol = BF16_TOL if name == "losses_bf16" else FP32_TOL
    return compare(name, got, ref, atol=tol * max(1.0, float(abs(ref).max())), rtol=0)


def prepare(framework, variant, case, threads):
    import numpy as np
    weights, xs, ys = make_problem(case["sizes"], case["batch"])
    n = len(xs)
    checks = {}
    if framework == "torch":
        fp32 = torch_step(case["sizes"], weights, xs, ys, autocast=False)
        checks["losses_fp32"] = np.array([fp32(s % n) for s in range(CHECK_STEPS)])
        step, info = torch_step(case["sizes"], weights, xs, ys, autocast=True), {}
    else:
        step, info = nnfast_step(case["sizes"], weights, xs, ys, bf16=variant == "bf16")
    key = "losses_fp32" if variant == "fp32" else "losses_bf16"
    checks[key] = np.array([step(s % n) for s in range(CHECK_STEPS)])
    pos = [CHECK_STEPS]

    def fn():
        step(pos[0] % n)
        pos[0] += 1
    return fn, checks, info


def nnfast_step(sizes, weights, xs, ys, bf16):
    import nnfast as nf
    from nnfast import nn, optim
    if not hasattr(nf, "autocast"):
        raise Skip("nnfast.autocast is not in this checkout")
    model = relu_mlp(nf, sizes, weights)
    compiled = nf.compile_step(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=LR))
    xt = [nf.from_numpy(x) for x in xs]
    yt = [nf.from_numpy(y) for y in ys]
    info = {"compiled": bool(getattr(compiled, "compiled", False))}
    if bf16:
        info["bf16_tile"] = nf._C.gemm_bf16_isa()

        def step(i):
            with nf.autocast("cpu", dtype=nf.bfloat16):
                return float(compiled(xt[i], yt[i]))
        return step, info

    def step(i):
        return float(compiled(xt[i], yt[i]))
    return step, info


def torch_step(sizes, weights, xs, ys, autocast):
    import torch
    model = relu_mlp(torch, sizes, weights)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    xt = [torch.from_numpy(x) for x in xs]
    yt = [torch.from_numpy(y) for y in ys]

    def step(i):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(model(xt[i]), yt[i])
        loss.backward()
        opt.step()
        return loss.item()
    return step


if __name__ == "__main__":
    import sys

    from .harness import main
    sys.exit(main(["--only", SECTION] + sys.argv[1:]))
