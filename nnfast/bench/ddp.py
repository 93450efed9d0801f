"""Section "ddp": data-parallel training over MPI on this machine, 1 rank against 2.

`mpirun -np 2` runs nnfast/bench/_ddp_ranks.py (each rank one kernel thread): an MLP trained
with Adam, batch b per rank, as DistributedDataParallel (gradients averaged by allreduce of
the flat buffers), against rank 0 training the plain model alone. Figures, medians of
interleaved blocks: the step time of each, the weak-scaling efficiency (1-rank step time ÷
2-rank step time: 1.0 means twice the samples per second), DDP's compute alone (the same
step under no_sync()), the communication it adds per step against the gradient bytes, and
one bare allreduce of those bytes (GB/s). Loopback shared memory here; across hosts see
docs/distributed.md (hostfile, btl_tcp_if_include).

Untimed by the harness (UNTIMED): the ranks time themselves, one mpirun per case.
"""
import json
import os
import shutil
import subprocess
import sys

from .common import PACKAGE_PARENT, Skip

SECTION = "ddp"
TITLE = "DistributedDataParallel over MPI: 2 ranks vs 1 on this machine (MLP, Adam)"
UNTIMED = True
MODELS = (([64, 32, 10], 32, 100), ([784, 256, 128, 10], 128, 20))   # sizes, batch, steps
NO_MPI = ('mpi4py / mpirun not installed: pip install "nnfast[mpi]" for the ddp rows')


def cases(quick):
    return [{"id": f"{'-'.join(map(str, s))} b{b}/rank", "sizes": s, "batch": b,
             "blocks": 3 if quick else 9, "steps": max(3, k // 4) if quick else k}
            for s, b, k in MODELS]


def participants(case):
    return [("nnfast", "nnfast", "ddp")]


def _mpirun():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        raise Skip(NO_MPI) from None
    path = shutil.which("mpirun") or os.path.join(os.path.dirname(sys.executable), "mpirun")
    if not os.path.exists(path):
        raise Skip(NO_MPI)
    return path


def evaluate(framework, variant, case, threads):
    cmd = [_mpirun(), "-np", "2", "--oversubscribe", sys.executable, "-m",
           "nnfast.bench._ddp_ranks", json.dumps({k: case[k] for k in
                                                  ("sizes", "batch", "blocks", "steps")})]
    env = dict(os.environ, OMP_NUM_THREADS="1", PRTE_MCA_prte_silence_shared_fs="1",
               PYTHONPATH=PACKAGE_PARENT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if hasattr(os, "geteuid") and os.geteuid() == 0:   # mpirun refuses root without these
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"mpirun exited {out.returncode}: {(out.stderr or out.stdout)[-600:]}")
    return json.loads(lines[-1])
