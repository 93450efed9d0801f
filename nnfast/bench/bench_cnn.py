"""Section "cnn": one training step of a small CNN on 28x28 single-channel inputs, batch 64.

    Conv2d(1, 16, 3) -> ReLU -> Conv2d(16, 32, 3) -> ReLU -> MaxPool2d(2) -> Flatten
    -> Linear(32*12*12, 10), cross-entropy, Adam (lr 1e-3, torch defaults otherwise)

Both frameworks start from the same weights (NumPy draw of torch's default distribution) and
train on the same 8 batches in turn. Participants:
  nnfast      the eager loop: zero_grad, forward, loss, backward, step, loss.item()
  nnfast compiled  nf.compile_step's captured step (one C call a step)
  nnfast fit  nnfast.train.fit over the 8 batches (epochs=1, shuffle=False, verbose=False):
              one timed call is one fit() of 8 steps, quoted per step (its per-epoch set-up and
              the gradient norm it logs each step included)
  torch       the same eager loop in PyTorch
Correctness before timing: the losses of the first 5 steps against torch's to
1e-3 * max(1, |loss|) (fit's through an on_batch_end callback); the compiled step must have
captured the model.
FLOPs per step (for GFLOP/s): forward, weight gradients and input gradients of every layer but
the first: 2*B*(F1 * 2 + (F2 + FL) * 3) with F1 = 16*9*26*26, F2 = 32*16*9*24*24, FL = 4608*10.
"""
import numpy as np

from .common import compare, torch_default_uniform
from .step import eager_step

SECTION = "cnn"
TITLE = "Small CNN training step (2 conv, pool, linear; Adam), 28x28x1, batch 64"
BATCH, SIDE, NBATCHES = 64, 28, 8
CHECK_STEPS = 5
BLOCK_FACTOR = 4.0
LR = 1e-3
REFERENCE = "torch"
CONV1, CONV2 = (1, 16, 3), (16, 32, 3)
FLAT = 32 * 12 * 12


def cases(quick):
    return [{"id": f"conv16-conv32-pool-fc10 b{BATCH}", "batch": BATCH}]


def participants(case):
    return [("nnfast", "nnfast", "eager"), ("nnfast compiled", "nnfast", "compiled"),
            ("nnfast fit", "nnfast", "fit"), ("torch", "torch", "eager")]


def work(case):
    b = case["batch"]
    f1 = CONV1[1] * CONV1[0] * 9 * 26 * 26
    f2 = CONV2[1] * CONV2[0] * 9 * 24 * 24
    fl = FLAT * 10
    return {"flops": 2.0 * b * (2 * f1 + 3 * (f2 + fl))}


def check(case, name, got, ref):
    return compare(name, got, ref, atol=1e-3 * max(1.0, float(np.abs(ref).max())), rtol=0)


def make_problem(batch, seed=0):
    rng = np.random.default_rng(seed)
    weights = {}
    for name, (c, oc, k) in (("0", CONV1), ("2", CONV2)):
        weights[f"{name}.weight"] = torch_default_uniform(rng, (oc, c, k, k), c * k * k)
        weights[f"{name}.bias"] = torch_default_uniform(rng, (oc,), c * k * k)
    weights["6.weight"] = torch_default_uniform(rng, (10, FLAT), FLAT)
    weights["6.bias"] = torch_default_uniform(rng, (10,), FLAT)
    xs = [rng.standard_normal((batch, 1, SIDE, SIDE)).astype(np.float32)
          for _ in range(NBATCHES)]
    ys = [rng.integers(0, 10, batch).astype(np.int64) for _ in range(NBATCHES)]
    return weights, xs, ys


def _layers(nn):
    return nn.Sequential(nn.Conv2d(*CONV1), nn.ReLU(), nn.Conv2d(*CONV2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(FLAT, 10))


def prepare(framework, variant, case, threads):
    weights, xs, ys = make_problem(case["batch"])
    if framework == "torch":
        import torch
        lib, model = torch, _layers(torch.nn)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
        to = torch.from_numpy
    else:
        import nnfast as lib
        model = _layers(lib.nn)
        model.load_state_dict(weights)
        to = lib.from_numpy
    loss_fn = lib.nn.CrossEntropyLoss()
    opt = lib.optim.Adam(model.parameters(), lr=LR)
    if variant == "fit":
        return _fit_participant(lib, model, loss_fn, opt, xs, ys)
    if variant == "compiled":
        compiled = lib.compile_step(model, loss_fn, opt)
        if not compiled.compiled:
            raise RuntimeError(f"compile_step did not capture the CNN: {compiled.reason}")
        xt, yt = [to(x) for x in xs], [to(y) for y in ys]

        def step(i):
            return float(compiled(xt[i], yt[i]))
    else:
        step = eager_step(model, loss_fn, opt, [to(x) for x in xs], [to(y) for y in ys])
    losses = np.array([step(s % NBATCHES) for s in range(CHECK_STEPS)])
    pos = [CHECK_STEPS]

    def fn():
        step(pos[0] % NBATCHES)
        pos[0] += 1
    return fn, {"losses": losses}, {}


def _fit_participant(nf, model, loss_fn, opt, xs, ys):
    from nnfast.train import fit
    from nnfast.train.callbacks import Callback

    class Losses(Callback):
        def __init__(self):
            self.seen = []

        def on_batch_end(self, step, logs):
            self.seen.append(logs["loss"])

    rec = Losses()
    x, y = np.concatenate(xs), np.concatenate(ys)
    n = CHECK_STEPS * BATCH
    fit(model, loss_fn, opt, (x[:n], y[:n]), epochs=1, batch_size=BATCH, shuffle=False,
        verbose=False, seed=0, callbacks=[rec])

    def fn():
        fit(model, loss_fn, opt, (x, y), epochs=1, batch_size=BATCH, shuffle=False,
            verbose=False, seed=0)
    # one call = NBATCHES steps: the harness divides the block's time by it
    return fn, {"losses": np.array(rec.seen)}, {"steps_per_call": NBATCHES}


if __name__ == "__main__":
    import sys

    from .harness import main
    sys.exit(main(["--only", SECTION] + sys.argv[1:]))
