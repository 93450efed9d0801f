"""One benchmark worker: one framework at one thread count, in its own process.

Started by nnfast.bench.harness (never by hand) as `python .../nnfast/bench/_worker.py FRAMEWORK
THREADS` with
the thread environment already set (OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS;
XLA_FLAGS for JAX). It reads one JSON request per line on stdin and answers one JSON line on
a private copy of stdout (fd 1 itself is pointed at stderr, so a library that prints cannot
corrupt the protocol). Between requests it blocks on stdin and uses no CPU, which is what
lets the harness interleave timed blocks of many workers without their thread pools meeting.

Requests:
  {"op": "prepare", "section", "case", "variant", "block_s", "check_path"}
      build the case (section module's prepare()), save its check arrays to check_path,
      warm up, pick the iterations per timed block -> {"ok", "iters", "info"}
  {"op": "time", "key"}   one timed block -> {"ok", "t": seconds per iteration}
  {"op": "evaluate", "section", "case", "variant"}
      an untimed section's figures (its evaluate()) -> {"ok", "result"}
  {"op": "drop", "key"}   forget a prepared case
  {"op": "quit"}
"""
import importlib
import importlib.util
import json
import os
import sys
import time
import traceback


def _sections_package():
    """This folder imported as a package of its own name, not as nnfast.bench: importing
    nnfast.bench would import nnfast (its OpenMP runtime and all) into the torch and JAX
    workers too. The section modules' relative imports work the same either way."""
    here = os.path.dirname(os.path.abspath(__file__))
    if __package__:
        return __package__
    if sys.path and os.path.abspath(sys.path[0]) == here:
        del sys.path[0]     # step.py, cuda.py, ... must not shadow top-level modules
    name = "_nnfast_bench_sections"
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, "__init__.py"),
                                                  submodule_search_locations=[here])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[name] = pkg
    spec.loader.exec_module(pkg)
    return name


SECTIONS_PACKAGE = _sections_package()
Skip = importlib.import_module(f"{SECTIONS_PACKAGE}.common").Skip


def setup_threads(framework, threads):
    if framework == "jax":
        # XLA has no exact intra-op thread knob; pin the process to `threads` CPUs as well.
        cpus = sorted(os.sched_getaffinity(0))
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus[:threads])
        import jax
        jax.config.update("jax_platforms", "cpu")
    elif framework == "torch":
        import torch
        torch.set_num_threads(threads)
    elif framework == "nnfast":
        import nnfast
        nnfast.set_num_threads(threads)
    import numpy  # noqa: F401  (OpenBLAS threads come from OPENBLAS_NUM_THREADS)


def calibrate(fn, block_s):
    """Warm up (at least 3 calls or 0.05 s), then the iterations that fill ~block_s."""
    t0 = time.perf_counter()
    n = 0
    while n < 3 or time.perf_counter() - t0 < 0.05:
        fn()
        n += 1
        if time.perf_counter() - t0 > 4 * block_s and n >= 1:
            break
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    return max(1, int(block_s / max(one, 1e-7)))


def main():
    framework, threads = sys.argv[1], int(sys.argv[2])
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**kw):
        proto.write(json.dumps(kw) + "\n")
        proto.flush()

    try:
        setup_threads(framework, threads)
    except Exception as e:  # noqa: BLE001
        reply(ok=False, error=f"{framework} unavailable: {type(e).__name__}: {e}")
        return
    reply(ok=True, pid=os.getpid())
    import numpy as np
    prepared = {}
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        if op == "quit":
            break
        try:
            if op == "prepare":
                mod = importlib.import_module(f"{SECTIONS_PACKAGE}.{req['section']}")
                fn, checks, info = mod.prepare(framework, req["variant"], req["case"], threads)
                if checks:
                    np.savez(req["check_path"], **{k: np.asarray(v) for k, v in checks.items()})
                iters = calibrate(fn, req["block_s"])
                prepared[req["key"]] = (fn, iters)
                reply(ok=True, iters=iters, info=info or {}, checked=bool(checks))
            elif op == "time":
                fn, iters = prepared[req["key"]]
                t0 = time.perf_counter()
                for _ in range(iters):
                    fn()
                reply(ok=True, t=(time.perf_counter() - t0) / iters)
            elif op == "evaluate":
                mod = importlib.import_module(f"{SECTIONS_PACKAGE}.{req['section']}")
                reply(ok=True, result=mod.evaluate(framework, req["variant"], req["case"],
                                                   threads))
            elif op == "drop":
                prepared.pop(req["key"], None)
                reply(ok=True)
            else:
                reply(ok=False, error=f"unknown op {op!r}")
        except Skip as e:
            reply(ok=False, skip=True, error=str(e))
        except Exception as e:  # noqa: BLE001
            reply(ok=False, error=f"{type(e).__name__}: {e}",
                  trace=traceback.format_exc(limit=6))


if __name__ == "__main__":
    main()
