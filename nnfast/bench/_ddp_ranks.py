"""The program `ddp` runs under `mpirun -np 2` (nnfast/bench/ddp.py): DDP step time against
one rank alone, and what the gradients' allreduce costs.

argv[1]: JSON {"sizes": [...], "batch": b, "blocks": n, "steps": k}. Blocks of k steps,
interleaved in rotating order so machine noise hits every kind alike:
  one     rank 0 trains the plain model on batch b while rank 1 waits (the 1-rank figure)
  ddp     both ranks train the DistributedDataParallel model, batch b each
  nosync  the same under no_sync() (no allreduce): DDP's compute alone
  reduce  one allreduce of the model's gradient bytes (the flat buffer) alone
Rank 0 prints one JSON line: the median per-step microseconds of each, the bytes reduced per
step, and the derived figures (weak-scaling efficiency = one / ddp, the allreduce's share).
"""
import json
import sys
import time

import numpy as np


def main():
    case = json.loads(sys.argv[1])
    import nnfast as nf
    import nnfast.distributed as dist
    from nnfast import nn, optim
    from nnfast.nn.parallel import DistributedDataParallel
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    sizes, b = case["sizes"], case["batch"]
    rng = np.random.default_rng(rank)
    xs = [nf.from_numpy(rng.standard_normal((b, sizes[0])).astype(np.float32))
          for _ in range(8)]
    ys = [nf.from_numpy(rng.integers(0, sizes[-1], b)) for _ in range(8)]

    def mlp():
        layers = []
        for i, (a, c) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(a, c)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        return nn.Sequential(*layers)

    nf.manual_seed(0)
    plain, wrapped = mlp(), mlp()
    ddp = DistributedDataParallel(wrapped)
    lf = nn.CrossEntropyLoss()
    o1 = optim.Adam(plain.parameters(), lr=1e-3)
    o2 = optim.Adam(ddp.parameters(), lr=1e-3)
    nbytes = 4 * sum(p.numel() for p in plain.parameters())
    flat = np.zeros(nbytes // 4, np.float32)

    def step(model, opt, i):
        opt.zero_grad()
        loss = lf(model(xs[i % 8]), ys[i % 8])
        loss.backward()
        opt.step()
        return loss.item()

    def block(kind, k):
        dist.barrier()
        t = time.perf_counter()
        if kind == "one":
            if rank == 0:
                for i in range(k):
                    step(plain, o1, i)
        elif kind == "ddp":
            for i in range(k):
                step(ddp, o2, i)
        elif kind == "nosync":
            with ddp.no_sync():
                for i in range(k):
                    step(ddp, o2, i)
        else:
            for i in range(k):
                dist.all_reduce(flat)
        dt = (time.perf_counter() - t) / k
        dist.barrier()
        return dt

    kinds = ["one", "ddp", "nosync", "reduce"]
    k = case["steps"]
    for kind in kinds:   # warm-up: workspaces, first-step state, MPI connections
        block(kind, max(2, k // 4))
    times = {kind: [] for kind in kinds}
    for r in range(case["blocks"]):
        order = kinds[r % 4:] + kinds[:r % 4]
        for kind in order:
            times[kind].append(block(kind, k))
    med = {kind: float(np.median(v)) * 1e6 for kind, v in times.items()}
    if rank == 0:
        print(json.dumps({
            "world": world, "bytes": nbytes, "one_us": med["one"], "ddp_us": med["ddp"],
            "nosync_us": med["nosync"], "allreduce_us": med["reduce"],
            "efficiency": med["one"] / med["ddp"],
            "comm_us": med["ddp"] - med["nosync"],
            "allreduce_gbs": nbytes / (med["reduce"] * 1e-6) / 1e9}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
