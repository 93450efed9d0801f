"""Threads beside other thread pools: NumPy's OpenBLAS, and processes forked after nnfast has
run a team of threads. Each case runs in a fresh interpreter (what these settings act on
happens at import or at fork), under a timeout so that a hang fails instead of stalling."""
import os
import subprocess
import sys

import nnfast as nf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(nf.__file__)))
ENV = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], env=dict(ENV, **env), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_shortens_openblas_spin_only_before_numpy_and_when_unset():
    show = "import os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    assert _run("import nnfast; " + show) == "16"
    # NumPy already loaded: OpenBLAS has read its setting, so nnfast does not pretend
    assert _run("import numpy, nnfast; " + show) == "None"
    assert _run("import nnfast; " + show, OPENBLAS_THREAD_TIMEOUT="20") == "20"


_FORK = """
import multiprocessing as mp, numpy as np, nnfast as nf
from nnfast import nn
nf.set_num_threads(2)
A = np.ones((512, 512), np.float32)
def gemm(_):
    out = np.empty_like(A)
    nf._C.sgemm(False, False, 1.0, A, A, 0.0, out)    # big enough to open a team
    return float(out[0, 0]), nf.get_num_threads()
if __name__ == "__main__":
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    step = nf.compile_step(model, nn.CrossEntropyLoss(),
                           nf.optim.Adam(model.parameters(), lr=1e-3))
    x = np.ones((128, 784), np.float32)
    step(x, np.zeros(128, np.int64))        # the parent's team has run
    print(gemm(0))
    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map(gemm, range(4)))
    print(gemm(0))
"""


def test_processes_forked_after_a_team_ran_use_one_thread_and_finish():
    """GCC's OpenMP runtime does not survive fork: a child that opened a team after its
    parent had one used to hang. Children now start on one thread; the parent keeps its."""
    lines = _run(_FORK).splitlines()
    assert lines == ["(512.0, 2)", "[(512.0, 1), (512.0, 1), (512.0, 1), (512.0, 1)]",
                     "(512.0, 2)"]
