"""Runs tests/cuda under Numba's CUDA simulator, in processes of their own (the simulator is
chosen by an environment variable read when Numba is first imported). The files are split
over two processes: in the whole suite they run one after the other beside the other tests,
started when collection ends (tests/background.py); alone, side by side (CI has two cores,
the simulator is single-threaded Python)."""
import glob
import os
import sys

import pytest

import background

HERE = os.path.dirname(os.path.abspath(__file__))


def jobs():
    """The simulator run's commands: the files split over two processes."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", OMP_NUM_THREADS="1")
    files = sorted(glob.glob(os.path.join(HERE, "cuda", "test_*.py")),
                   key=os.path.getsize, reverse=True)
    halves = [files[0::2], files[1::2]]
    return [("cuda_sim", [([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o",
                            "addopts=", "-q", *half], env, os.path.dirname(HERE))
                          for half in halves if half])]


def test_cuda_backend_under_the_simulator():
    pytest.importorskip("numba.cuda")
    (name, cmds), = jobs()
    for rc, out in background.results(name, cmds):
        assert rc == 0, out[-8000:]
        assert " passed" in out and " skipped" not in out, out[-3000:]
