"""Section "gemm": nnfast's sgemm against NumPy (OpenBLAS) and PyTorch (MKL/oneDNN), fp32.

All three libraries write into a preallocated output (sgemm's C, np.matmul(out=),
torch.matmul(out=)), so no one pays for allocation; operands are NumPy arrays shared with
torch through from_numpy, and transposed operands are views (no copies timed).
Forms: NN = A[M,K] @ B[K,N]; NT = A @ B[N,K]^T (Linear forward); TN = A[K,M]^T @ B (dW).
Shapes (M, K, N): the MLP layers of the step section (batch, in, out), then 512^3 and 1024^3;
without --quick also the MLP backward forms: dinp[B,I] = dout[B,O] @ W[O,I] (NN) and
dW[O,I] = dout^T @ inp[B,I] (TN).
Correctness before timing: every library's output is held to a float64 product of the same
operands (computed by the harness), |C - C64| <= 1e-4 * sqrt(K) * (1 + |C64|).
GFLOP/s = 2*M*N*K / t; %peak is of the FMA peak the harness measured at that thread count.

    python -m nnfast.bench.bench_gemm [harness options]   # = python -m nnfast.bench --only gemm
"""
import numpy as np

SECTION = "gemm"
TITLE = "GEMM, fp32"
SHAPES = [(32, 64, 32), (64, 784, 128), (128, 784, 256), (256, 1024, 1024),
          (512, 512, 512), (1024, 1024, 1024)]
FORMS = ["NN", "NT", "TN"]
MLP = [(32, 64, 32), (64, 784, 128), (128, 784, 256), (256, 1024, 1024)]
BACKWARD = [c for (b, i, o) in MLP for c in ((b, o, i, "NN"), (o, b, i, "TN"))]
REFERENCE = "float64"


def cases(quick):
    shapes = SHAPES[:3] + SHAPES[4:5] if quick else SHAPES
    cs = [(M, K, N, f) for (M, K, N) in shapes for f in FORMS]
    if not quick:
        cs += [c + ("bwd",) for c in BACKWARD]
    return [{"id": f"{c[0]}x{c[1]}x{c[2]} {c[3]}" + (" (bwd)" if len(c) > 4 else ""),
             "M": c[0], "K": c[1], "N": c[2], "form": c[3], "seed": i}
            for i, c in enumerate(cs)]


def participants(case):
    return [("nnfast", "nnfast", "sgemm"), ("numpy", "numpy", "matmul"),
            ("torch", "torch", "matmul")]


def work(case):
    return {"flops": 2.0 * case["M"] * case["N"] * case["K"]}


def operands(case):
    M, K, N, form = case["M"], case["K"], case["N"], case["form"]
    tA, tB = form[0] == "T", form[1] == "T"
    rng = np.random.default_rng(case["seed"])
    A = rng.standard_normal((K, M) if tA else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tB else (K, N)).astype(np.float32)
    return A, B, tA, tB


def reference(case):
    A, B, tA, tB = operands(case)
    A, B = A.astype(np.float64), B.astype(np.float64)
    return {"C": (A.T if tA else A) @ (B.T if tB else B)}


def check(case, name, got, ref):
    tol = 1e-4 * np.sqrt(case["K"]) * (1 + np.abs(ref))
    bad = np.abs(np.asarray(got, np.float64) - ref) > tol
    if bad.any():
        return (f"{name}: {int(bad.sum())} of {bad.size} entries differ from the float64 "
                "product by more than 1e-4*sqrt(K)*(1+|C|)")
    return None


def prepare(framework, variant, case, threads):
    A, B, tA, tB = operands(case)
    M, N = case["M"], case["N"]
    if framework == "nnfast":
        import nnfast._C as C
        out = np.empty((M, N), np.float32)

        def fn():
            C.sgemm(tA, tB, 1.0, A, B, 0.0, out)
        info = {"isa": C.gemm_isa()}
    elif framework == "numpy":
        out = np.empty((M, N), np.float32)
        opA, opB = (A.T if tA else A), (B.T if tB else B)

        def fn():
            np.matmul(opA, opB, out=out)
        info = {"blas": _blas_name()}
    else:
        import torch
        tAt, tBt = torch.from_numpy(A), torch.from_numpy(B)
        opA, opB = (tAt.t() if tA else tAt), (tBt.t() if tB else tBt)
        tout = torch.empty((M, N), dtype=torch.float32)
        out = tout.numpy()

        def fn():
            torch.matmul(opA, opB, out=tout)
        info = {}
    fn()
    return fn, {"C": out.copy()}, info


def _blas_name():
    try:
        b = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{b.get('name')} {b.get('version')}"
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    import sys

    from .harness import main
    sys.exit(main(["--only", SECTION] + sys.argv[1:]))
