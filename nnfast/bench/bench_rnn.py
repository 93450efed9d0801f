"""Section "lstm": one LSTM training step (forward + backward) in nnfast against PyTorch, fp32.

Shapes: seq-first input T x B x in, one layer; the "loss" is sum(output * G) + sum(h_n * Gh)
for fixed random G, Gh, so backward runs through every output and the final state. Both
frameworks get the same weights (NumPy draw of torch's default U(+-1/sqrt(H))) and inputs; the
output and every parameter gradient are checked against torch's before timing (output
atol 1e-5 rtol 1e-4, gradients atol 1e-4 rtol 1e-3). One timed call = one step including
zero_grad. FLOPs per step (the GEMMs only): forward 2*T*B*4H*(in+H), backward twice that
(dinput/dh and dW), i.e. 6*T*B*4H*(in+H) in all.

Where nnfast trails at 2 threads, and why (measured while writing bench_rnn.py): each per-step
GEMM (h @ W_hh^T forward, dgates @ W_hh backward: B x 4H x H, 1-8 MFLOP) is above the GEMM's
1 MFLOP threading threshold, so every one of the 2T per-step GEMMs pays an OpenMP fork/join
and repacks W_hh; the gate math is single-threaded (B x H is too small to split).

    python -m nnfast.bench.bench_rnn [harness options]   # = python -m nnfast.bench --only lstm
"""
import numpy as np

from .common import compare, torch_default_uniform

SECTION = "lstm"
TITLE = "LSTM training step (forward + backward), 1 layer, fp32"
CASES = [(32, 32, 32, 64), (32, 32, 32, 128), (64, 16, 32, 128), (32, 64, 64, 256)]
REFERENCE = "torch"
KEYS = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]


def cases(quick):
    return [{"id": f"T{T} B{B} in{I} H{H}", "T": T, "B": B, "I": I, "H": H, "seed": i}
            for i, (T, B, I, H) in enumerate(CASES[:2] if quick else CASES)]


def participants(case):
    return [("nnfast", "nnfast", "lstm"), ("torch", "torch", "lstm")]


def work(case):
    c = case
    return {"flops": 6.0 * c["T"] * c["B"] * 4 * c["H"] * (c["I"] + c["H"])}


def check(case, name, got, ref):
    if name == "output":
        return compare(name, got, ref, atol=1e-5, rtol=1e-4)
    return compare(name, got, ref, atol=1e-4, rtol=1e-3)


def prepare(framework, variant, case, threads):
    T, B, I, H = case["T"], case["B"], case["I"], case["H"]
    rng = np.random.default_rng(case["seed"])
    shapes = {"weight_ih_l0": (4 * H, I), "weight_hh_l0": (4 * H, H), "bias_ih_l0": (4 * H,),
              "bias_hh_l0": (4 * H,)}
    sd = {k: torch_default_uniform(rng, shapes[k], H) for k in KEYS}
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    G = rng.standard_normal((T, B, H)).astype(np.float32)
    Gh = rng.standard_normal((1, B, H)).astype(np.float32)
    if framework == "torch":
        import torch
        m = torch.nn.LSTM(I, H)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
        tx, tG, tGh = torch.from_numpy(x), torch.from_numpy(G), torch.from_numpy(Gh)
        arr = lambda t: t.detach().numpy()  # noqa: E731
    else:
        import nnfast as nf
        m = nf.nn.LSTM(I, H)
        m.load_state_dict(sd)
        tx, tG, tGh = nf.tensor(x), nf.tensor(G), nf.tensor(Gh)
        arr = lambda t: t.detach().numpy()  # noqa: E731
    last = {}

    def fn():
        m.zero_grad(set_to_none=False)
        out, (h, c) = m(tx)
        ((out * tG).sum() + (h * tGh).sum()).backward()
        last["out"] = out

    fn()
    params = dict(m.named_parameters())
    checks = {"output": arr(last["out"]).copy()}
    checks.update({f"d{k}": arr(params[k].grad).copy() for k in KEYS})
    return fn, checks, {}


if __name__ == "__main__":
    import sys

    from .harness import main
    sys.exit(main(["--only", "lstm"] + sys.argv[1:]))
