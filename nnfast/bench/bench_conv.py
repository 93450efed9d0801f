"""Section "conv": nnfast's Conv2d forward+backward against PyTorch (CPU, fp32).

One timed call = one step: forward of an input that requires grad, then backward of a fixed
upstream gradient into the input, the weight and the bias (grads reset to None first, as an
optimizer's zero_grad would). Both frameworks start from the same weights (NumPy draw of
torch's default distribution) and inputs. Correctness before timing: output and the three
gradients match torch's to atol = rtol = 2e-3.
FLOPs per step = 3 x 2*N*OC*(C/groups)*KH*KW*OH*OW (forward, dinput and dweight GEMMs).

    python -m nnfast.bench.bench_conv [harness options]   # = python -m nnfast.bench --only conv
"""
import numpy as np

from .common import compare, torch_default_uniform

SECTION = "conv"
TITLE = "Conv2d forward + backward (input, weight, bias grads), fp32"
# (batch, in_ch, out_ch, H=W, kernel, padding)
SHAPES = [(64, 1, 16, 8, 3, 1), (64, 16, 32, 8, 3, 1), (64, 32, 64, 16, 3, 1),
          (64, 3, 32, 32, 3, 1), (64, 32, 32, 16, 1, 0)]
REFERENCE = "torch"


def cases(quick):
    return [{"id": f"N{N} {C}->{OC} {S}x{S} k{K}", "N": N, "C": C, "OC": OC, "S": S, "K": K,
             "P": P, "seed": i} for i, (N, C, OC, S, K, P) in enumerate(SHAPES)
            if not (quick and C * OC * S * S > 2e5)]   # --quick: not the 32->64 16x16 one


def participants(case):
    return [("nnfast", "nnfast", "conv2d"), ("torch", "torch", "conv2d")]


def _out(case):
    return case["S"] + 2 * case["P"] - case["K"] + 1


def work(case):
    c = case
    return {"flops": 3 * 2.0 * c["N"] * c["OC"] * c["C"] * c["K"] ** 2 * _out(c) ** 2}


def check(case, name, got, ref):
    return compare(name, got, ref, atol=2e-3, rtol=2e-3)


def prepare(framework, variant, case, threads):
    N, C, OC, S, K, P = (case[k] for k in ("N", "C", "OC", "S", "K", "P"))
    rng = np.random.default_rng(case["seed"])
    fan_in = C * K * K
    w = torch_default_uniform(rng, (OC, C, K, K), fan_in)
    b = torch_default_uniform(rng, (OC,), fan_in)
    x = rng.standard_normal((N, C, S, S)).astype(np.float32)
    g = rng.standard_normal((N, OC, _out(case), _out(case))).astype(np.float32)
    if framework == "torch":
        import torch
        conv = torch.nn.Conv2d(C, OC, K, padding=P)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
        tx = torch.from_numpy(x).requires_grad_(True)
        tg = torch.from_numpy(g)
    else:
        import nnfast as nf
        conv = nf.nn.Conv2d(C, OC, K, padding=P)
        conv.load_state_dict({"weight": w, "bias": b})
        tx = nf.tensor(x, requires_grad=True)
        tg = nf.tensor(g)
    out = {}

    def fn():
        tx.grad = None
        conv.weight.grad = None
        conv.bias.grad = None
        y = conv(tx)
        y.backward(tg)
        out["y"] = y

    fn()
    arr = (lambda t: t.detach().numpy()) if framework == "torch" else (lambda t: t.detach().numpy())
    checks = {"y": arr(out["y"]).copy(), "dx": arr(tx.grad).copy(),
              "dw": arr(conv.weight.grad).copy(), "db": arr(conv.bias.grad).copy()}
    return fn, checks, {}


if __name__ == "__main__":
    import sys

    from .harness import main
    sys.exit(main(["--only", SECTION] + sys.argv[1:]))
