"""A pytest plugin for bench/gpu_check.sh: a time limit per test and one for the whole stage,
with nothing to install (`python -m pytest -p bench._gpu_pytest ...`).

  NNFAST_TEST_TIMEOUT=45       seconds one test may run: past it SIGALRM raises TimeoutError
                               in the test (between Python bytecodes: a kernel that hangs the
                               GPU inside a C call is left to the stage's outer `timeout`)
  NNFAST_TESTS_END=<unix time> the stage's end: a test is cut off there too, and the tests not
                               started by then are skipped with that reason, so the run still
                               ends with pytest's summary (and JUnit XML) of what ran

tests/cuda is written for Numba's simulator; on a GPU the same tests check the production
tile sizes on hardware against the CPU kernels, and the first call of each kernel compiles it
(hence a per-test limit well above the simulator's few seconds).
"""
import os
import signal
import time

import pytest

_PER_TEST = float(os.environ.get("NNFAST_TEST_TIMEOUT", "45"))
_END = float(os.environ.get("NNFAST_TESTS_END", "0"))


def _left():
    return _END - time.time() if _END else float("inf")


def pytest_runtest_setup(item):
    if _left() < 2:
        pytest.skip("gpu_check: the test stage's time ran out before this test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = max(1.0, min(_PER_TEST, _left()))

    def ring(signum, frame):
        raise TimeoutError(f"over gpu_check's limit ({limit:.0f} s: {_PER_TEST:.0f} s per test "
                           "or the stage's end)")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
