"""bench_conv.py — nnfast's Conv2d forward+backward against PyTorch (CPU, fp32).

    python bench/bench_conv.py [--threads 1,2] [--repeats 7]

For each thread count the measurements run in a fresh subprocess whose environment pins the
thread pools before NumPy/torch load (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS);
torch.set_num_threads and nnfast._C.set_num_threads are set too. One step = forward of an
input that requires grad, then backward of a fixed upstream gradient into the input, the
weight and the bias (grads are reset between steps, as an optimizer's zero_grad would).
Outputs and gradients are checked against torch before timing. Each figure is the median of
`repeats` timings, each of enough steps to take ~30 ms.
GFLOP/s = 3 x 2*N*OC*(C/groups)*KH*KW*OH*OW / t (forward, dinput and dweight GEMMs).
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (batch, in_ch, out_ch, H=W, kernel, padding)
SHAPES = [(64, 1, 16, 8, 3, 1), (64, 16, 32, 8, 3, 1), (64, 32, 64, 16, 3, 1),
          (64, 3, 32, 32, 3, 1), (64, 32, 32, 16, 1, 0)]


def median_time(fn, repeats):
    fn()
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    iters = max(1, int(0.03 / max(one, 1e-6)))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        ts.append((time.perf_counter() - t0) / iters)
    ts.sort()
    return ts[len(ts) // 2]


def worker(nthreads, repeats):
    import numpy as np
    import torch
    sys.path.insert(0, ROOT)
    import nnfast as nf
    from nnfast import nn
    torch.set_num_threads(nthreads)
    nf._C.set_num_threads(nthreads)
    rng = np.random.default_rng(0)
    rows = []
    for (N, C, OC, S, K, P) in SHAPES:
        x = rng.standard_normal((N, C, S, S)).astype(np.float32)
        tconv = torch.nn.Conv2d(C, OC, K, padding=P)
        conv = nn.Conv2d(C, OC, K, padding=P)
        conv.load_state_dict({k: v.detach().numpy().copy()
                              for k, v in tconv.state_dict().items()})
        tx = torch.from_numpy(x.copy()).requires_grad_(True)
        nx = nf.tensor(x, requires_grad=True)
        g = rng.standard_normal((N, OC, S + 2 * P - K + 1, S + 2 * P - K + 1)).astype(np.float32)
        tg, ng = torch.from_numpy(g), nf.tensor(g)

        def t_step():
            tx.grad = None
            tconv.weight.grad = None
            tconv.bias.grad = None
            tconv(tx).backward(tg)

        def n_step():
            nx.grad = None
            conv.weight.grad = None
            conv.bias.grad = None
            conv(nx).backward(ng)

        t_step()
        n_step()
        for a, b in ((nx.grad, tx.grad), (conv.weight.grad, tconv.weight.grad),
                     (conv.bias.grad, tconv.bias.grad)):
            np.testing.assert_allclose(a.data, b.numpy(), atol=2e-3, rtol=2e-3)
        OHW = g.shape[2] * g.shape[3]
        flops = 3 * 2.0 * N * OC * C * K * K * OHW
        tt = median_time(t_step, repeats)
        time.sleep(0.2)
        tn = median_time(n_step, repeats)
        rows.append(dict(shape=f"N{N} {C}->{OC} {S}x{S} k{K}", flops=flops, torch_us=tt * 1e6,
                         nnfast_us=tn * 1e6))
    print(json.dumps(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--worker", type=int, default=0)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.repeats)
        return
    print("Conv2d forward+backward (input, weight, bias grads), fp32, median of "
          f"{a.repeats}; ratio = nnfast time / torch time (< 1: nnfast faster)")
    print(f"{'shape':<24}{'thr':>4}{'torch us':>11}{'nnfast us':>11}{'ratio':>7}"
          f"{'nnfast GFLOP/s':>16}")
    for t in [int(s) for s in a.threads.split(",")]:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t),
                   OPENBLAS_NUM_THREADS=str(t))
        out = subprocess.run([sys.executable, __file__, "--worker", str(t), "--repeats",
                              str(a.repeats)], env=env, capture_output=True, text=True,
                             check=True).stdout
        for r in json.loads(out.strip().splitlines()[-1]):
            print(f"{r['shape']:<24}{t:>4}{r['torch_us']:>11.0f}{r['nnfast_us']:>11.0f}"
                  f"{r['nnfast_us'] / r['torch_us']:>7.2f}"
                  f"{r['flops'] / r['nnfast_us'] / 1e3:>16.1f}")


if __name__ == "__main__":
    main()
