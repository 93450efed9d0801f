"""Runs tests/cuda under Numba's CUDA simulator, in processes of their own (the simulator is
chosen by an environment variable read when Numba is first imported). The files are split
over two processes run side by side: the simulator is single-threaded Python, CI has two
cores."""
import glob
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_cuda_backend_under_the_simulator():
    pytest.importorskip("numba.cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1")
    files = sorted(glob.glob(os.path.join(HERE, "cuda", "test_*.py")),
                   key=os.path.getsize, reverse=True)
    halves = [files[0::2], files[1::2]]
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                               "-o", "addopts=", "-q", *half], env=env, cwd=os.path.dirname(HERE),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for half in halves if half]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-8000:]
        assert " passed" in out and " skipped" not in out, out[-3000:]
