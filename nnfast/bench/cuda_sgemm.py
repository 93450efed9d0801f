"""nnfast's CUDA SGEMM (nnfast/backend/cuda/gemm.py) against cuBLAS (through torch), fp32.

GPU only: run on a machine with an NVIDIA GPU and numba-cuda (torch with CUDA optional).
Self-checking: every case is first held to a float64 product of the same operands on the host
(a sample of rows, so 4096^3 stays cheap): |C - C64| <= 1e-4 * sqrt(K) * (1 + |C64|), for ours
and for cuBLAS; a case that fails prints FAIL and is not timed; the exit status is 1 if any
failed. Then each library runs `--inner` back-to-back launches per timed repeat, between two
device synchronisations; the figure is the median of `--repeats` repeats.
    GFLOP/s = 2 * M * N * K / t      (t: seconds per product)
cuBLAS runs with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False), so both compute in
fp32 with fp32 accumulation.
Forms: NN = A[M,K] @ B[K,N]; NT = A @ B[N,K]^T (Linear forward); TN = A[K,M]^T @ B (dW).

    python -m nnfast.bench.cuda_sgemm                  # squares 256..4096, NN NT TN
    python -m nnfast.bench.cuda_sgemm --sizes 1024 --forms NN --repeats 20
    python -m nnfast.bench.cuda_sgemm --smoke          # tiny sizes: checks the script runs
"""
import argparse
import functools
import statistics
import sys
import time

import numpy as np

SIZES = [256, 512, 1024, 2048, 4096]
FORMS = ["NN", "NT", "TN"]
CHECK_ROWS = 64


def operands(m, n, k, form, rng):
    """Host A, B stored as the form reads them, and op(A), op(B) as (m, k), (k, n) views."""
    ta, tb = form[0] == "T", form[1] == "T"
    A = rng.standard_normal((k, m) if ta else (m, k), dtype=np.float32)
    B = rng.standard_normal((n, k) if tb else (k, n), dtype=np.float32)
    return ta, tb, A, B, (A.T if ta else A), (B.T if tb else B)


def check(C, opA, opB, rows):
    """Worst ratio of error to tolerance over the sampled rows (<= 1 passes)."""
    ref = opA[rows].astype(np.float64) @ opB.astype(np.float64)
    tol = 1e-4 * np.sqrt(opA.shape[1]) * (1.0 + np.abs(ref))
    return float(np.max(np.abs(C[rows] - ref) / tol))


def timed(run, sync, repeats, inner):
    """Median seconds of one call over `repeats` repeats of `inner` calls."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            run()
        sync()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=SIZES)
    p.add_argument("--forms", nargs="+", default=FORMS, choices=["NN", "NT", "TN", "TT"])
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--inner", type=int, default=0,
                   help="launches per timed repeat (0: enough for ~20 ms)")
    p.add_argument("--smoke", action="store_true", help="sizes 16 and 33, 2 repeats")
    p.add_argument("--max-registers", type=int, default=None,
                   help="cap the float32 production kernels' registers (ptxas), to compare")
    args = p.parse_args(argv)
    if args.smoke:
        args.sizes, args.repeats, args.inner = [16, 33], 2, 1

    from numba import config, cuda
    if not config.ENABLE_CUDASIM and not cuda.is_available():
        print("cuda_sgemm: no CUDA GPU here (numba.cuda.is_available() is False)")
        return 2
    from nnfast import backend
    K = backend.get("cuda")
    if args.max_registers:
        from nnfast.backend.cuda import gemm_kernels as gk
        f32 = np.dtype(np.float32)
        gk.PRODUCTION[f32] = tuple(c._replace(regs=args.max_registers)
                                   for c in gk.PRODUCTION[f32])
        print(f"float32 kernels capped at {args.max_registers} registers")
    from nnfast.backend.cuda import empty, from_host
    torch = None if config.ENABLE_CUDASIM else torch_cuda()
    if not config.ENABLE_CUDASIM:
        name = cuda.get_current_device().name
        print(f"device: {name.decode() if isinstance(name, bytes) else name}")
    print(f"cuBLAS via torch: {'yes, ' + torch.__version__ if torch else 'no (not importable)'}")
    print("GFLOP/s = 2*M*N*K / t, t the median of", args.repeats, "repeats\n")
    head = f"{'M=N=K':>6} {'form':>4} | {'ours ms':>9} {'GFLOP/s':>9} | "
    head += f"{'cuBLAS ms':>9} {'GFLOP/s':>9} {'speed ratio':>11}" if torch else ""
    print(head)
    rng = np.random.default_rng(0)
    failed = False
    for s in args.sizes:
        m = n = k = s
        flops = 2.0 * m * n * k
        rows = rng.choice(m, size=min(m, CHECK_ROWS), replace=False)
        for form in args.forms:
            ta, tb, A, B, opA, opB = operands(m, n, k, form, rng)
            dA, dB, dC = from_host(A), from_host(B), empty((m, n), np.float32)
            dC.fill(np.nan)   # beta = 0 must never read C
            ours = functools.partial(K.sgemm, ta, tb, 1.0, dA, dB, 0.0, dC)
            ours()
            K.synchronize()
            err = check(dC.get(), opA, opB, rows)
            line = f"{s:>6} {form:>4} | "
            if not err <= 1.0:
                print(line + f"FAIL: error {err:.2f}x the tolerance")
                failed = True
                continue
            inner = args.inner or min(200, max(1, int(0.02 * 20e12 / flops)))
            t = timed(ours, K.synchronize, args.repeats, inner)
            line += f"{t * 1e3:>9.3f} {flops / t / 1e9:>9.1f} | "
            if torch:
                tA = torch.from_numpy(A).cuda()
                tB = torch.from_numpy(B).cuda()
                oA, oB = (tA.T if ta else tA), (tB.T if tb else tB)
                tC = torch.empty((m, n), device="cuda", dtype=torch.float32)
                theirs = functools.partial(torch.matmul, oA, oB, out=tC)
                theirs()
                torch.cuda.synchronize()
                terr = check(tC.cpu().numpy(), opA, opB, rows)
                if not terr <= 1.0:
                    line += f"cuBLAS FAIL: error {terr:.2f}x the tolerance"
                    failed = True
                else:
                    tt = timed(theirs, torch.cuda.synchronize, args.repeats, inner)
                    line += f"{tt * 1e3:>9.3f} {flops / tt / 1e9:>9.1f} {tt / t:>10.2f}x"
            print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
