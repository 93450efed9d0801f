"""bench_gemm.py — nnfast's sgemm against NumPy (OpenBLAS) and PyTorch (MKL), fp32.

    python bench/bench_gemm.py [--threads 1,2] [--quick]

For each thread count the measurements run in a fresh subprocess whose environment pins the
BLAS thread pools before NumPy/torch load (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS,
MKL_NUM_THREADS); torch.set_num_threads and nnfast._C.set_num_threads are set as well, and
threadpoolctl is used too when installed. All three libraries write into a preallocated
output (np.matmul(out=), torch.matmul(out=), sgemm's C), so no one pays for allocation.
Results are checked against each other before timing. Each figure is the median of 7
repeats, each repeat long enough (~20 ms) for the timer; GFLOP/s = 2·M·N·K / t.
Threaded runs pause between libraries so one library's spinning thread pool does not steal
the cores another is timed on (three thread pools share the machine: libgomp, OpenBLAS,
torch's own libgomp). Forms: NN = A[M,K] @ B[K,N]; NT = A @ B[N,K]^T (Linear forward); TN = A[K,M]^T @ B (dW).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (M, K, N): MLP layer shapes first (batch, in, out), then square ones.
SHAPES = [(32, 64, 32), (64, 784, 128), (128, 784, 256), (256, 1024, 1024),
          (512, 512, 512), (1024, 1024, 1024)]
FORMS = ["NN", "NT", "TN"]
# Backward of the MLP layers (batch B, in I, out O): dinp[B,I] = dout[B,O] @ W[O,I] (NN),
# dW[O,I] = dout^T @ inp[B,I] (TN), written as (M, K, N, form).
MLP = [(32, 64, 32), (64, 784, 128), (128, 784, 256), (256, 1024, 1024)]
BACKWARD = [c for (b, i, o) in MLP for c in ((b, o, i, "NN"), (o, b, i, "TN"))]
IDLE_S = 0.3       # pause between libraries in threaded runs (see worker)
# GFLOP/s of one core: 1 zmm FMA/cycle (Zen4: 2 x 256-bit pipes) x 32 flops x clock. Nominal
# ~125 at 3.9 GHz; a pure register FMA loop measured 111.5 on the 2-core EPYC VM we tune on.
PEAK_1CORE = 111.5


def median_time(fn, flops):
    fn()
    iters = max(1, int(0.02 / max(flops / 100e9, 1e-7)))
    ts = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        ts.append((time.perf_counter() - t0) / iters)
    ts.sort()
    return ts[len(ts) // 2]


def worker(nthreads, quick):
    import numpy as np
    import torch
    sys.path.insert(0, ROOT)
    import nnfast._C as C

    controlled = [f"env OPENBLAS/OMP/MKL_NUM_THREADS={nthreads}"]
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(nthreads)
        controlled.append("threadpoolctl")
    except ImportError:
        pass
    torch.set_num_threads(nthreads)
    controlled.append(f"torch.set_num_threads({nthreads})")
    C.set_num_threads(nthreads)
    rng = np.random.default_rng(0)
    rows = []
    shapes = SHAPES[:3] + SHAPES[4:5] if quick else SHAPES
    cases = [(M, K, N, f) for (M, K, N) in shapes for f in FORMS]
    cases += BACKWARD[:6] if quick else BACKWARD
    for M, K, N, form in cases:
        flops = 2.0 * M * N * K
        tA, tB = form[0] == "T", form[1] == "T"
        A = rng.standard_normal((K, M) if tA else (M, K)).astype(np.float32)
        B = rng.standard_normal((N, K) if tB else (K, N)).astype(np.float32)
        opA, opB = (A.T if tA else A), (B.T if tB else B)
        tAt, tBt = torch.from_numpy(A), torch.from_numpy(B)
        topA, topB = (tAt.t() if tA else tAt), (tBt.t() if tB else tBt)
        c_nf = np.empty((M, N), np.float32)
        c_np = np.empty((M, N), np.float32)
        c_t = torch.empty((M, N), dtype=torch.float32)

        def f_nf():
            C.sgemm(tA, tB, 1.0, A, B, 0.0, c_nf)

        def f_np():
            np.matmul(opA, opB, out=c_np)

        def f_t():
            torch.matmul(topA, topB, out=c_t)

        for f in (f_nf, f_np, f_t):
            f()
        tol = 1e-4 * np.sqrt(K) * (1 + np.abs(c_np))
        assert (np.abs(c_nf - c_np) <= tol).all(), f"nnfast != numpy at {M,K,N} {form}"
        assert (np.abs(c_t.numpy() - c_np) <= tol).all(), f"torch != numpy at {M,K,N} {form}"
        r = {"M": M, "K": K, "N": N, "form": form, "threads": nthreads}
        for name, f in (("nnfast", f_nf), ("numpy", f_np), ("torch", f_t)):
            # Let the previous library's worker threads stop spinning first: on a
            # 2-core box a spinning OpenBLAS/OpenMP pool steals the cores it times on.
            time.sleep(IDLE_S if nthreads > 1 else 0.0)
            r[name] = median_time(f, flops)
        rows.append(r)
    print(json.dumps({"controlled": controlled, "isa": C.gemm_isa(),
                      "numpy_blas": _blas_name(np), "rows": rows}))


def _blas_name(np):
    try:
        cfg = np.show_config(mode="dicts")
        b = cfg["Build Dependencies"]["blas"]
        return f"{b.get('name')} {b.get('version')}"
    except Exception:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="skip 1024^3 and 256x1024x1024")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run everything this many times, keep each cell's best median "
                         "(for shared, noisy machines)")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.quick)
        return
    for nt in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(nt), OMP_NUM_THREADS=str(nt),
                   MKL_NUM_THREADS=str(nt))
        cmd = [sys.executable, __file__, "--worker", str(nt)] + (["--quick"] if args.quick else [])
        res = None
        for _ in range(max(1, args.rounds)):
            out = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True,
                                            text=True).stdout.strip().splitlines()[-1])
            if res is None:
                res = out
            else:
                for r, o in zip(res["rows"], out["rows"]):
                    for k in ("nnfast", "numpy", "torch"):
                        r[k] = min(r[k], o[k])
        print(f"\n== {nt} thread(s); nnfast kernels: {res['isa']}; numpy BLAS: "
              f"{res['numpy_blas']}; thread control: {', '.join(res['controlled'])}")
        print(f"   GFLOP/s = 2*M*N*K / t (t: median of 7, best of {args.rounds} round(s));"
              f" 1-core fp32 peak ~{PEAK_1CORE:.0f} GFLOP/s; %peak is of {nt} core(s)")
        print(f"{'M x K x N':>16} {'form':>4} | {'nnfast':>25} | {'numpy':>8} | {'torch':>8} |"
              f" {'nf/np':>5} {'nf/torch':>8} {'%peak':>6}")
        for i, r in enumerate(res["rows"]):
            M, K, N = r["M"], r["K"], r["N"]
            if i == len(res["rows"]) - len(BACKWARD) and not args.quick:
                print("   -- MLP backward forms: dinp = dout @ W (NN), dW = dout^T @ inp (TN)")
            fl = 2.0 * M * N * K
            g = {k: fl / r[k] / 1e9 for k in ("nnfast", "numpy", "torch")}
            arith = f"{fl / 1e6:.4g}MF/{r['nnfast'] * 1e6:.4g}us"
            print(f"{M:>5}x{K:>4}x{N:>5} {r['form']:>4} | {g['nnfast']:6.1f} ({arith:>17}) |"
                  f" {g['numpy']:8.1f} | {g['torch']:8.1f} | {g['nnfast'] / g['numpy']:5.2f}"
                  f" {g['nnfast'] / g['torch']:8.2f} {100 * g['nnfast'] / (PEAK_1CORE * nt):5.0f}%")


if __name__ == "__main__":
    main()
