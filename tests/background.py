"""Long subprocess checks that run beside the rest of the suite.

The CUDA simulator run (test_cuda_sim.py) and the PTX compile of every kernel
(test_cuda_ptx.py) are minutes of single-threaded CPU each. Run after the other tests they
add those minutes to the suite's wall time; started when collection ends, in one lane (one
job at a time, so they hold one of CI's two cores and the tests keep the other), they are
usually done by the time their tests ask. A test run alone starts its jobs side by side
instead (tests/conftest.py decides which).
"""
import subprocess
import tempfile
import threading

_lane = {}      # job name -> [thread-done Event, [(returncode, output)]]
_lock = threading.Lock()


def _run(cmds):
    """[(returncode, output)] of cmds run one after another."""
    out = []
    for argv, env, cwd in cmds:
        with tempfile.TemporaryFile("w+") as f:   # a file, not a pipe: no buffer to fill
            p = subprocess.run(argv, env=env, cwd=cwd, stdout=f, stderr=subprocess.STDOUT,
                               text=True, timeout=1800)
            f.seek(0)
            out.append((p.returncode, f.read()))
    return out


def start_in_lane(jobs):
    """jobs: [(name, cmds)]: run every job's commands in one background thread, in order."""
    pending = []
    with _lock:
        for name, cmds in jobs:
            if name not in _lane:
                _lane[name] = [threading.Event(), None]
                pending.append((name, cmds))
    if not pending:
        return

    def lane():
        for name, cmds in pending:
            try:
                _lane[name][1] = _run(cmds)
            except Exception as e:   # reported by the test that waits for it
                _lane[name][1] = [(-1, f"background job {name} failed: {e!r}")]
            _lane[name][0].set()

    threading.Thread(target=lane, name="tests-background-lane", daemon=True).start()


def results(name, cmds):
    """[(returncode, output)] of job `name`: from the lane if it was started there, else
    its commands now, side by side."""
    with _lock:
        entry = _lane.get(name)
    if entry is not None:
        if not entry[0].wait(timeout=3600):
            raise AssertionError(f"background job {name} did not finish")
        return entry[1]
    procs = []
    for argv, env, cwd in cmds:
        f = tempfile.TemporaryFile("w+")
        procs.append((subprocess.Popen(argv, env=env, cwd=cwd, stdout=f,
                                       stderr=subprocess.STDOUT, text=True), f))
    out = []
    for p, f in procs:
        p.wait(timeout=1800)
        f.seek(0)
        out.append((p.returncode, f.read()))
        f.close()
    return out
