"""bench_rnn.py — one LSTM training step (forward + backward) in nnfast against PyTorch, fp32.

    python bench/bench_rnn.py [--threads 1,2] [--reps 15]

Shapes: seq-first input T x B x in, one layer; the "loss" is sum(output * G) + sum(h_n * Gh)
for fixed random G, Gh, so backward runs through every output and the final state. Both
libraries get the same weights (load_state_dict) and inputs; outputs and every gradient are
checked against each other before timing. Each figure is the median of --reps steps after
warm-up. FLOPs per step (the GEMMs only): forward 2*T*B*4H*(in+H), backward twice that
(dinput/dh and dW), i.e. 6*T*B*4H*(in+H) in all; GFLOP/s = that / t.

Measured on the 2-core dev VM (shared with other jobs, load ~3, so the 2-thread rows were
noisy: one 170 ms outlier from an OpenMP barrier waiting on a descheduled thread):
  1 thread : nnfast 1.0-1.3x faster (T32 B32 in32 H64: 1.84 vs 2.35 ms; H128: 6.2 vs 6.9 ms;
             T32 B64 in64 H256: 43.7 vs 44.3 ms, both GEMM-bound at ~92 GFLOP/s).
  2 threads: mixed, 0.8-0.9x at H128/H256. Where nnfast is slower, and why: each per-step
             GEMM (h @ W_hh^T forward, dgates @ W_hh backward: B x 4H x H, 1-8 MFLOP) is
             above the GEMM's 1 MFLOP threading threshold, so every one of the 2T per-step
             GEMMs pays an OpenMP fork/join and repacks W_hh (the GEMM packs B per call; a
             W_hh packed once per sequence would remove that). The gate math is single-
             threaded (B x H is too small to split).

For each thread count the measurement runs in a fresh subprocess whose environment pins
OMP/MKL/OpenBLAS thread pools before the libraries load; torch.set_num_threads and
nnfast.set_num_threads are set as well.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASES = [(32, 32, 32, 64), (32, 32, 32, 128), (64, 16, 32, 128), (32, 64, 64, 256)]


def worker(nthreads, reps):
    import numpy as np
    import torch
    sys.path.insert(0, ROOT)
    import nnfast as nf

    torch.set_num_threads(nthreads)
    nf.set_num_threads(nthreads)
    rows = []
    for T, B, I, H in CASES:
        rng = np.random.default_rng(0)
        tm = torch.nn.LSTM(I, H)
        m = nf.nn.LSTM(I, H)
        m.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        G = rng.standard_normal((T, B, H)).astype(np.float32)
        Gh = rng.standard_normal((1, B, H)).astype(np.float32)
        tx, tG, tGh = torch.from_numpy(x), torch.from_numpy(G), torch.from_numpy(Gh)
        nx, nG, nGh = nf.tensor(x), nf.tensor(G), nf.tensor(Gh)

        def step_torch():
            tm.zero_grad(set_to_none=False)
            out, (h, c) = tm(tx)
            ((out * tG).sum() + (h * tGh).sum()).backward()
            return out

        def step_nf():
            m.zero_grad(set_to_none=False)
            out, (h, c) = m(nx)
            ((out * nG).sum() + (h * nGh).sum()).backward()
            return out

        to, no = step_torch(), step_nf()
        assert np.allclose(no.data, to.detach().numpy(), atol=1e-5, rtol=1e-4), "output"
        tp = dict(tm.named_parameters())
        for name, p in m.named_parameters():
            assert np.allclose(p.grad.data, tp[name].grad.numpy(), atol=1e-4, rtol=1e-3), name
        r = {"T": T, "B": B, "I": I, "H": H, "threads": nthreads}
        for name, f in (("nnfast", step_nf), ("torch", step_torch)):
            time.sleep(0.2 if nthreads > 1 else 0.0)
            for _ in range(3):
                f()
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                f()
                ts.append(time.perf_counter() - t0)
            ts.sort()
            r[name] = ts[len(ts) // 2]
        rows.append(r)
    print(json.dumps({"isa": nf._C.gemm_isa(), "rows": rows}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.reps)
        return
    print("LSTM training step (forward + backward), 1 layer, fp32; median of "
          f"{args.reps} steps; GFLOP/s counts the GEMMs only: 6*T*B*4H*(in+H)")
    print(f"{'threads':>7} {'T':>3} {'B':>3} {'in':>3} {'H':>4} | {'nnfast ms':>9} "
          f"{'GF/s':>6} | {'torch ms':>9} {'GF/s':>6} | {'torch/nnfast':>12}")
    for nt in [int(t) for t in args.threads.split(",")]:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(nt), OMP_NUM_THREADS=str(nt),
                   MKL_NUM_THREADS=str(nt))
        cmd = [sys.executable, __file__, "--worker", str(nt), "--reps", str(args.reps)]
        res = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True,
                                        text=True).stdout.strip().splitlines()[-1])
        for r in res["rows"]:
            fl = 6.0 * r["T"] * r["B"] * 4 * r["H"] * (r["I"] + r["H"])
            print(f"{nt:>7} {r['T']:>3} {r['B']:>3} {r['I']:>3} {r['H']:>4} | "
                  f"{r['nnfast'] * 1e3:9.3f} {fl / r['nnfast'] / 1e9:6.1f} | "
                  f"{r['torch'] * 1e3:9.3f} {fl / r['torch'] / 1e9:6.1f} | "
                  f"{r['torch'] / r['nnfast']:12.2f}")


if __name__ == "__main__":
    main()
