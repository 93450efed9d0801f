"""The `nnfast` command.

    nnfast train            train an MLP classifier and report test accuracy
    nnfast info             build and CPU facts (GEMM kernel set, threads, OpenMP)

`train` currently runs on a seeded synthetic 10-class problem (Gaussian clusters with noise
features); the embedded real dataset arrives with the training-workflow work.
"""
import argparse
import json
import sys
import time

import numpy as np


def make_blobs_problem(n=3000, features=20, classes=10, seed=0):
    """Seeded synthetic classification data: one Gaussian cluster per class in 8 informative
    dimensions, plus pure-noise features."""
    rng = np.random.default_rng(seed)
    informative = min(8, features)
    centers = rng.normal(0, 2.0, (classes, informative))
    y = rng.integers(0, classes, n)
    x = rng.normal(0, 1.0, (n, features))
    x[:, :informative] += centers[y]
    return x.astype(np.float32), y.astype(np.int64)


def _split(x, y, test_fraction, rng):
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    return x[idx[n_test:]], y[idx[n_test:]], x[idx[:n_test]], y[idx[:n_test]]


def cmd_train(args):
    import nnfast as nf
    from nnfast import nn, optim

    nf.manual_seed(args.seed)
    if args.threads:
        nf.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    x, y = make_blobs_problem(seed=args.seed)
    xtr, ytr, xte, yte = _split(x, y, 0.2, rng)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-8
    xtr = (xtr - mean) / std
    xte = (xte - mean) / std
    hidden = [int(h) for h in args.hidden.split(",") if h]
    sizes = [x.shape[1]] + hidden + [int(y.max()) + 1]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    quiet = args.json
    t0 = time.perf_counter()
    steps = 0
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = rng.permutation(len(xtr))
        total = 0.0
        for s in range(0, len(order), args.batch_size):
            b = order[s:s + args.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(nf.from_numpy(xtr[b])), nf.from_numpy(ytr[b]))
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
            steps += 1
        if not quiet:
            print(f"epoch {epoch:3d}  train loss {total / len(xtr):.4f}", flush=True)
    elapsed = time.perf_counter() - t0
    model.eval()
    with nf.no_grad():
        pred = model(nf.from_numpy(np.ascontiguousarray(xte))).data.argmax(1)
    acc = float((pred == yte).mean())
    summary = {"dataset": "synthetic-blobs", "n_train": len(xtr), "n_test": len(xte),
               "model": "-".join(map(str, sizes)), "epochs": args.epochs, "steps": steps,
               "train_seconds": round(elapsed, 3),
               "us_per_step": round(elapsed / max(steps, 1) * 1e6, 1),
               "test_accuracy": acc}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"test accuracy {acc:.4f}  ({steps} steps in {elapsed:.2f} s, "
              f"{summary['us_per_step']} µs/step, model {summary['model']})")
    return 0


def cmd_info(args):
    import nnfast as nf
    print(f"nnfast {nf.__version__}")
    print(f"GEMM kernels: {nf._C.gemm_isa()}")
    print(f"OpenMP: {nf._C.has_openmp()}, threads: {nf.get_num_threads()}")
    feats = [f for f in ("sse2", "avx2", "fma", "avx512f") if nf._C.cpu_has(f)]
    print(f"CPU features: {', '.join(feats) or 'none detected'}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="nnfast", description="nnfast: fast small-CPU training")
    sub = ap.add_subparsers(dest="command")
    tr = sub.add_parser("train", help="train an MLP classifier and report test accuracy")
    tr.add_argument("--hidden", default="64,32", help="hidden layer sizes, e.g. 256,128")
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--batch-size", type=int, default=32)
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=0, help="kernel threads (0: default)")
    tr.add_argument("--json", action="store_true", help="print a JSON summary only")
    sub.add_parser("info", help="build and CPU facts")
    args = ap.parse_args(argv)
    if args.command == "train":
        return cmd_train(args)
    if args.command == "info":
        return cmd_info(args)
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
