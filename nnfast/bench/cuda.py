"""`python -m nnfast.bench --device cuda` (also `--only cuda`, `nnfast bench --device cuda`): nnfast's
CUDA backend against PyTorch on one GPU. See bench/CUDA.md.

Per training case (the four bench MLPs, a small CNN, an LSTM; Adam lr 1e-3), in one process:
  1. correctness first: the same model from the same weights trains 3 steps on nnfast CPU and
     nnfast CUDA; losses, the last step's gradients and the weights after must agree (rtol
     1e-4). PyTorch's participants must reproduce nnfast CPU's losses to step.py's 1e-3.
     A participant that fails is reported and not timed.
  2. time per step: interleaved rounds, one timed block per participant per round, the order
     rotated each round; a block is `iters` steps between two device synchronisations (no
     per-step host sync: a GPU loop does not read its loss every step); the figure is the
     median block's time per step. Participants: nnfast cuda (eager loop), nnfast compiled
     (nf.compile_step, only when step.compiled, else its reason), torch eager, torch graphs
     (one captured step replayed, Adam(capturable=True)), torch compile
     (torch.compile(mode="reduce-overhead"), its warm-up capped).
Plus SGEMM: nnfast's K.sgemm against cuBLAS (torch.matmul, TF32 off), n^3 for n in 1024, 2048,
4096, checked on sampled rows against float64 first; GFLOP/s = 2*m*n*k / t.

What it is not: a multi-GPU, mixed-precision or data-loading benchmark. Everything that can
fail is caught, recorded in the JSON (written again after every case, so a run cut short
still leaves its results) and the run goes on; the exit status is 1 when anything failed.
"""
import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import sys
import time
import traceback

import numpy as np

from . import cuda_cases as cc
from .common import DEFAULT_OUT_NAME, PACKAGE_PARENT, Skip

TITLE = "nnfast CUDA vs PyTorch CUDA: training steps and SGEMM"
# (case, baseline, minimum baseline-time / nnfast-time): the targets on the H200
TARGETS = {"64-32-10 b32": ("torch eager", 5.0), "784-1024-1024-10 b256": ("torch eager", 1.5)}
SGEMM_TARGET = (4096, 0.5)        # our GFLOP/s at least this fraction of cuBLAS's at 4096^3
SGEMM_SIZES = [1024, 2048, 4096]
CHECK_ROWS = 64                   # SGEMM rows held to the float64 product
NF = ("nnfast cuda", "nnfast compiled")
TORCH = ("torch eager", "torch graphs", "torch compile")


class Budget:
    """The run's time limit: what starts after it is spent is skipped with that reason."""

    def __init__(self, seconds):
        self.end = time.perf_counter() + seconds if seconds else None

    def left(self):
        return float("inf") if self.end is None else self.end - time.perf_counter()

    def check(self):
        if self.left() <= 0:
            raise Skip("the run's time budget (--budget-s) was spent")


class _Alarm(BaseException):
    """Not an Exception: torch.compile's internals catch and wrap those."""


def capped(seconds, fn):
    """fn() interrupted (by SIGALRM, between Python bytecodes) after `seconds`."""
    if not seconds or not hasattr(signal, "setitimer"):
        return fn()

    def ring(signum, frame):
        raise _Alarm(f"over the {seconds:.0f} s cap")
    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def say(msg, end="\n"):
    print(msg, end=end, flush=True)


def _err(e):
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:400]


# ================================================================================ environment
class Env:
    """What this machine has: nnfast's CUDA backend (or its simulator), torch with CUDA."""

    def __init__(self, want_torch=True):
        import nnfast as nf
        self.nf = nf
        if not nf.cuda.is_available():
            raise SystemExit("bench --device cuda: nnfast.cuda.is_available() is False "
                             "(no GPU or no numba-cuda)")
        from numba import config
        self.sim = bool(config.ENABLE_CUDASIM)
        self.torch, self.torch_reason = None, None
        if not want_torch:
            self.torch_reason = "left out (--no-torch)"
        elif self.sim:
            self.torch_reason = "under Numba's CUDA simulator: no GPU for torch"
        else:
            try:
                import torch
                if torch.cuda.is_available():
                    self.torch = torch
                    # fp32 against fp32: no TF32 in cuBLAS or cuDNN (conv defaults to TF32)
                    torch.backends.cuda.matmul.allow_tf32 = False
                    torch.backends.cudnn.allow_tf32 = False
                else:
                    self.torch_reason = f"torch {torch.__version__} has no CUDA here"
            except Exception as e:  # noqa: BLE001
                self.torch_reason = f"torch not importable ({_err(e)})"

    def sync(self):
        self.nf.cuda.synchronize()
        if self.torch is not None:
            self.torch.cuda.synchronize()

    def meta(self, argv, args):
        nf = self.nf
        versions = {"nnfast": nf.__version__, "numpy": np.__version__,
                    "python": platform.python_version()}
        for dist in ("numba", "numba-cuda", "torch"):
            versions[dist] = _dist_version(dist)
        if self.torch is not None:
            versions["torch_cuda"] = self.torch.version.cuda
        gpu = nf.cuda.get_device_name()
        try:
            from numba import cuda
            if not self.sim:
                d = cuda.get_current_device()
                gpu += f" (cc {d.compute_capability[0]}.{d.compute_capability[1]})"
                versions["cuda_driver"] = ".".join(map(str, cuda.cudadrv.driver.driver
                                                       .get_version()))
        except Exception:  # noqa: BLE001
            pass
        return {"date": datetime.date.today().isoformat(),
                "time": datetime.datetime.now().isoformat(timespec="seconds"),
                "command": " ".join(argv), "gpu": gpu, "simulator": self.sim,
                "host": f"{platform.node()}, {os.cpu_count()} CPUs, Python "
                        f"{platform.python_version()}", "versions": versions,
                "commit": _git_commit(), "torch": self.torch_reason or "cuda",
                "tf32": False, "settings": {k: getattr(args, k) for k in
                                            ("quick", "smoke", "repeats", "warmup", "block_ms",
                                             "budget_s", "compile_cap_s",
                                             "compile_total_s")}}


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None


def _git_commit():
    try:
        import subprocess
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PACKAGE_PARENT, timeout=5,
                           capture_output=True, text=True)
        return r.stdout.strip() or None
    except Exception:  # noqa: BLE001
        return None


# ================================================================================ timing
def block(fn, iters, sync):
    """Seconds per call of `iters` back-to-back calls between two device synchronisations."""
    sync()
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return (time.perf_counter() - t0) / iters


def interleaved(parts, args, sync, budget):
    """Fills each part's `times`: warm-up rounds, then timed rounds of one block each."""
    block_s = args.block_ms / 1e3
    for p in parts:
        if args.smoke:
            p.iters = 1
            continue
        try:
            t = block(p.fn, 1, sync)                 # one more warm call, then a first guess
            t = block(p.fn, max(1, min(20, int(0.2 * block_s / max(t, 1e-7)))), sync)
            p.iters = max(1, min(args.max_iters, int(block_s / max(t, 1e-7))))
        except Exception as e:  # noqa: BLE001
            p.fail(f"timing failed: {_err(e)}", args)
    live = [p for p in parts if p.error is None]
    for rnd in range(args.warmup + args.repeats):
        if rnd > args.warmup and budget.left() <= 0:
            break                                    # keep the rounds already timed
        k = rnd % max(1, len(live))
        for p in live[k:] + live[:k]:
            if p.error is not None:
                continue
            try:
                t = block(p.fn, p.iters, sync)
            except Exception as e:  # noqa: BLE001
                p.fail(f"timing failed: {_err(e)}", args)
                continue
            if rnd >= args.warmup:
                p.times.append(t)


class Part:
    """One participant of a case: its step function, its check, its block times."""

    def __init__(self, label):
        self.label = label
        self.fn = None
        self.iters = 0
        self.times, self.info = [], {}
        self.error = self.skipped = None

    def fail(self, msg, args):
        self.error = msg
        say(f"\n    ! {self.label}: {msg}")
        if args.verbose:
            traceback.print_exc()

    def result(self):
        if self.skipped is not None:
            return {"skipped": self.skipped, **self.info}
        if self.error is not None:
            return {"error": self.error, **self.info}
        if not self.times:
            return {"skipped": "not timed (time budget spent)", **self.info}
        s = statistics.median(self.times)
        return {"s": s, "times_s": self.times, "iters": self.iters, **self.info}


# ================================================================================ training cases
def run_training_case(case, env, args, budget, compile_state):
    """One case's row: correctness of nnfast CUDA vs CPU, then every participant timed."""
    row = {"case": case["id"], "kind": case["kind"], "params": cc.public(case),
           "correctness": {}, "results": {}}
    parts = {lab: Part(lab) for lab in NF + TORCH}
    if budget.left() <= 0:
        for lab, p in parts.items():
            p.skipped = "the run's time budget (--budget-s) was spent"
            row["results"][lab] = p.result()
        say("    skipped: the time budget was spent")
        return row
    prob = cc.make_problem(case)
    ref = None
    try:
        ref = cc.nnfast_reference(env.nf, case, prob, args.check_steps)
    except Exception as e:  # noqa: BLE001
        row["correctness"]["error"] = f"nnfast CPU reference failed: {_err(e)}"
        for p in parts.values():
            p.fail("no CPU reference to check against", args)
    for lab, p in parts.items():
        if ref is None:
            break
        try:
            budget.check()
            if lab in TORCH and env.torch is None:
                raise Skip(env.torch_reason)
            if lab == "torch compile" and compile_state.get("off"):
                raise Skip(compile_state["off"])
        except Skip as e:
            p.skipped = str(e)
            say(f"    {lab}: skipped ({e})")
            continue
        say(f"    {lab}: build and check ...", end="")
        t0 = time.perf_counter()
        try:
            p.fn, p.info = prepare(lab, case, prob, ref, row, env, args, compile_state)
            say(f" ok ({time.perf_counter() - t0:.1f} s)")
        except Skip as e:
            p.skipped = str(e)
            say(f" skipped ({e})")
        except Exception as e:  # noqa: BLE001
            p.fail(_err(e), args)
    live = [p for p in parts.values() if p.fn is not None and p.error is None
            and p.skipped is None]
    if live:
        say(f"    timing {len(live)} participant(s) ...", end="")
        t0 = time.perf_counter()
        interleaved(live, args, env.sync, budget)
        say(f" {time.perf_counter() - t0:.1f} s")
    for lab, p in parts.items():
        row["results"][lab] = p.result()
    best = _best_nnfast(row)
    if best:
        row["nnfast_best"] = best
        s = row["results"][best]["s"]
        row["speedup"] = {f"{lab}/nnfast": r["s"] / s for lab, r in row["results"].items()
                          if "s" in r and lab not in NF}
    cc.release(env)
    return row


def prepare(lab, case, prob, ref, row, env, args, compile_state):
    """(timed call, info) of one participant, after its correctness check."""
    if lab == "nnfast cuda":
        fn, verdict = cc.nnfast_cuda_checked(env.nf, case, prob, ref, args.check_steps)
        row["correctness"] = verdict
        if not verdict["ok"]:
            raise AssertionError("nnfast CUDA differs from nnfast CPU: "
                                 + "; ".join(verdict["errors"]))
        return fn, {}
    if lab == "nnfast compiled":
        return cc.nnfast_compiled(env.nf, case, prob, ref, args.check_steps)
    variant = lab.split()[1]
    if variant != "compile":
        return cc.torch_participant(env.torch, variant, case, prob, ref, args.check_steps)
    cap = args.compile_cap_s
    t0 = time.perf_counter()
    try:
        fn, info = capped(cap, lambda: cc.torch_participant(env.torch, variant, case, prob,
                                                            ref, args.check_steps))
    except _Alarm as e:
        compile_state["off"] = (f"torch.compile's warm-up ran over the {cap:.0f} s cap in "
                                f"case {case['id']}")
        raise RuntimeError(f"warm-up {e}") from None
    finally:
        compile_state["spent"] = compile_state.get("spent", 0.0) + time.perf_counter() - t0
    info["warmup_s"] = round(time.perf_counter() - t0, 1)
    if compile_state["spent"] > args.compile_total_s:
        compile_state["off"] = (f"torch.compile warm-ups took {compile_state['spent']:.0f} s in "
                                f"all (--compile-total-s {args.compile_total_s:g})")
    return fn, info


def _best_nnfast(row):
    timed = [(row["results"][lab]["s"], lab) for lab in NF if "s" in row["results"][lab]]
    return min(timed)[1] if timed else None


# ================================================================================ SGEMM
def run_sgemm_case(n, env, args, budget):
    """nnfast's K.sgemm vs cuBLAS on n x n x n, NN, fp32, checked before timed."""
    from nnfast import backend
    from nnfast.backend.cuda import empty, from_host
    K = backend.get("cuda")
    m = k = n
    flops = 2.0 * m * n * k
    rng = np.random.default_rng(n)
    A = rng.standard_normal((m, k), dtype=np.float32)
    B = rng.standard_normal((k, n), dtype=np.float32)
    rows = np.sort(rng.choice(m, size=min(m, CHECK_ROWS), replace=False))
    ref = A[rows].astype(np.float64) @ B.astype(np.float64)
    tol = 1e-4 * np.sqrt(k) * (1.0 + np.abs(ref))
    row = {"case": f"{m}x{n}x{k} NN", "m": m, "n": n, "k": k, "flops": flops, "results": {}}
    ours, theirs = Part("nnfast sgemm"), Part("cublas")
    try:
        budget.check()
        dA, dB, dC = from_host(A), from_host(B), empty((m, n), np.float32)

        def run_ours():
            K.sgemm(False, False, 1.0, dA, dB, 0.0, dC)
        run_ours()
        env.sync()
        worst = float(np.max(np.abs(dC.get()[rows] - ref) / tol))
        ours.info["check"] = {"worst_error_over_tol": worst, "rows": len(rows)}
        if not worst <= 1.0:
            raise AssertionError(f"error {worst:.2f}x the tolerance 1e-4*sqrt(K)*(1+|C64|)")
        ours.fn = run_ours
    except Skip as e:
        ours.skipped = str(e)
    except Exception as e:  # noqa: BLE001
        ours.fail(_err(e), args)
    try:
        budget.check()
        if env.torch is None:
            raise Skip(env.torch_reason)
        torch = env.torch
        tA, tB = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
        tC = torch.empty((m, n), device="cuda", dtype=torch.float32)

        def run_theirs():
            torch.matmul(tA, tB, out=tC)
        run_theirs()
        env.sync()
        worst = float(np.max(np.abs(tC[torch.from_numpy(rows).cuda()].cpu().numpy() - ref)
                             / tol))
        theirs.info["check"] = {"worst_error_over_tol": worst, "rows": len(rows)}
        if not worst <= 1.0:
            raise AssertionError(f"error {worst:.2f}x the tolerance")
        theirs.fn = run_theirs
    except Skip as e:
        theirs.skipped = str(e)
    except Exception as e:  # noqa: BLE001
        theirs.fail(_err(e), args)
    live = [p for p in (ours, theirs) if p.fn is not None and p.error is None]
    if live:
        interleaved(live, args, env.sync, budget)
    for p in (ours, theirs):
        r = p.result()
        if "s" in r:
            r["gflops"] = flops / r["s"] / 1e9
        row["results"][p.label] = r
    a, b = row["results"]["nnfast sgemm"], row["results"]["cublas"]
    if "gflops" in a and "gflops" in b:
        row["fraction_of_cublas"] = a["gflops"] / b["gflops"]
    cc.release(env)
    return row


# ================================================================================ report
def targets(doc):
    out = []
    for row in doc["cases"]:
        if row["case"] in TARGETS:
            base, need = TARGETS[row["case"]]
            got = row.get("speedup", {}).get(f"{base}/nnfast")
            out.append({"what": f"{row['case']}: {base} time / nnfast time "
                        f"({row.get('nnfast_best', 'nnfast')})", "target": need,
                        "measured": got, "met": None if got is None else got >= need})
    for row in doc["sgemm"]:
        if row["n"] == SGEMM_TARGET[0]:
            got = row.get("fraction_of_cublas")
            out.append({"what": f"SGEMM {row['case']}: nnfast GFLOP/s / cuBLAS GFLOP/s",
                        "target": SGEMM_TARGET[1], "measured": got,
                        "met": None if got is None else got >= SGEMM_TARGET[1]})
    return out


def _us(r):
    if "s" in r:
        s = r["s"] * 1e6
        return f"{s:.1f}" if s < 1000 else f"{s:.0f}"
    return "FAIL" if "error" in r else "—"


def tables(doc):
    lines = ["## training step (Adam), µs per step; ratio = torch time / best nnfast time",
             "| case | " + " | ".join(f"{lab} µs" for lab in NF + TORCH)
             + " | " + " | ".join(f"{lab} ÷ nnfast" for lab in TORCH) + " | target |",
             "|" + "---|" * (2 + len(NF) + 2 * len(TORCH))]
    for row in doc["cases"]:
        res = row["results"]
        sp = row.get("speedup", {})
        tgt = TARGETS.get(row["case"])
        lines.append("| " + " | ".join(
            [row["case"]] + [_us(res.get(lab, {})) for lab in NF + TORCH]
            + [f"{sp[lab + '/nnfast']:.2f}" if lab + "/nnfast" in sp else "—" for lab in TORCH]
            + [f"{tgt[0]} ≥ {tgt[1]}x" if tgt else ""]) + " |")
    lines += ["", "## SGEMM fp32 (NN), GFLOP/s = 2mnk/t; cuBLAS with TF32 off",
              "| case | nnfast µs | nnfast GFLOP/s | cuBLAS GFLOP/s | nnfast / cuBLAS | target |",
              "|---|---|---|---|---|---|"]
    for row in doc["sgemm"]:
        a, b = row["results"]["nnfast sgemm"], row["results"]["cublas"]
        fr = row.get("fraction_of_cublas")
        lines.append(f"| {row['case']} | {_us(a)} | "
                     + (f"{a['gflops']:.0f}" if "gflops" in a else _us(a)) + " | "
                     + (f"{b['gflops']:.0f}" if "gflops" in b else _us(b)) + " | "
                     + (f"{fr:.0%}" if fr is not None else "—") + " | "
                     + (f"≥ {SGEMM_TARGET[1]:.0%}" if row["n"] == SGEMM_TARGET[0] else "")
                     + " |")
    lines += ["", "## targets"]
    for t in doc["targets"]:
        got = "not measured" if t["measured"] is None else f"{t['measured']:.2f}"
        verdict = {True: "MET", False: "NOT MET", None: "—"}[t["met"]]
        lines.append(f"- {t['what']}: {got} (target ≥ {t['target']}) {verdict}")
    return lines


def collect_errors(doc):
    errs = list(doc.get("run_errors", []))
    for row in doc["cases"] + doc["sgemm"]:
        for lab, r in row["results"].items():
            if "error" in r:
                errs.append(f"{row['case']} {lab}: {r['error']}")
    return errs


# ================================================================================ main
def parser(prog):
    ap = argparse.ArgumentParser(prog=f"{prog} --device cuda", description=TITLE)
    ap.add_argument("--quick", action="store_true",
                    help="3 repeats, shorter blocks, SGEMM 1024 and 4096 only")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny sizes for the simulator: checks the code path, times nothing "
                    "worth reading")
    ap.add_argument("--repeats", type=int, help="timed rounds (default 7; quick 3; smoke 1)")
    ap.add_argument("--warmup", type=int, help="untimed rounds first (default 1; smoke 0)")
    ap.add_argument("--block-ms", type=float, help="work per timed block (default 40 ms; "
                    "quick 20)")
    ap.add_argument("--max-iters", type=int, default=2000, help="most steps in one block")
    ap.add_argument("--check-steps", type=int, help="training steps checked (default 3)")
    ap.add_argument("--cases", help="comma-separated case ids or kinds (mlp, cnn, lstm, "
                    "sgemm) to run; default all")
    ap.add_argument("--budget-s", type=float, default=0.0,
                    help="stop starting new work after this many seconds (0: no limit)")
    ap.add_argument("--compile-cap-s", type=float, default=60.0,
                    help="cap on one torch.compile warm-up (default 60 s); after one overruns "
                    "torch compile is skipped for the remaining cases")
    ap.add_argument("--compile-total-s", type=float, default=180.0,
                    help="once torch.compile warm-ups took this long in all (default 180 s), "
                    "the remaining cases skip it")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    ap.add_argument("--out", help="folder of the results (default ./" + DEFAULT_OUT_NAME
                    + "; python -m bench in a checkout: bench/results)")
    ap.add_argument("--json", help="results file (default OUT/cuda-<date>.json)")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks of failures")
    return ap


def main(argv=None, prog="python -m nnfast.bench", default_out=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser(prog).parse_args(argv)
    args.repeats = args.repeats or (1 if args.smoke else 3 if args.quick else 7)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.smoke else 1)
    args.block_ms = args.block_ms or (0.1 if args.smoke else 20.0 if args.quick else 40.0)
    if args.smoke:
        args.max_iters = 1
    args.check_steps = args.check_steps or (2 if args.smoke else 3)
    t_start = time.perf_counter()
    budget = Budget(args.budget_s)
    env = Env(want_torch=not args.no_torch)
    doc = {"meta": env.meta([prog, "--device", "cuda"] + argv, args), "cases": [],
           "sgemm": [], "targets": [], "errors": [], "run_errors": []}
    out = args.out or default_out or os.path.join(os.getcwd(), DEFAULT_OUT_NAME)
    path = args.json or os.path.join(out, f"cuda-{doc['meta']['date']}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    say(f"# nnfast bench --device cuda: {doc['meta']['gpu']}; torch: {doc['meta']['torch']}; "
        f"repeats {args.repeats} after {args.warmup} warm-up, blocks {args.block_ms:g} ms")
    wanted = None if not args.cases else {c.strip() for c in args.cases.split(",")}
    todo = [c for c in cc.cases(args.quick, args.smoke)
            if wanted is None or c["id"] in wanted or c["kind"] in wanted]
    sizes = ([16] if args.smoke else [1024, 4096] if args.quick else SGEMM_SIZES)
    if wanted is not None and "sgemm" not in wanted:
        sizes = [n for n in sizes if f"sgemm{n}" in wanted]
    # what the targets need runs first, so a run cut short by --budget-s has it
    order = sorted(todo, key=lambda c: (c["id"] not in TARGETS, todo.index(c)))
    for n in sizes:
        say(f"sgemm {n}^3 ...", end="")
        try:
            t0 = time.perf_counter()
            doc["sgemm"].append(run_sgemm_case(n, env, args, budget))
            say(f" {time.perf_counter() - t0:.1f} s")
        except Exception as e:  # noqa: BLE001  (a bug of this script: record, go on)
            doc["run_errors"].append(f"sgemm {n}: {_err(e)}")
            say(f"\n    ! sgemm {n}: {_err(e)}")
        _write(path, doc, t_start)
    compile_state = {}
    for case in order:
        say(f"{case['id']} ({case['kind']}):")
        try:
            doc["cases"].append(run_training_case(case, env, args, budget, compile_state))
        except Exception as e:  # noqa: BLE001
            doc["run_errors"].append(f"{case['id']}: {_err(e)}")
            say(f"    ! {case['id']}: {_err(e)}")
            if args.verbose:
                traceback.print_exc()
        doc["cases"].sort(key=lambda row: [c["id"] for c in todo].index(row["case"]))
        _write(path, doc, t_start)
    _write(path, doc, t_start)
    say("")
    say("\n".join(tables(doc)))
    say(f"\nwrote {path} ({time.perf_counter() - t_start:.0f} s in all)")
    if doc["errors"]:
        say(f"{len(doc['errors'])} failure(s):\n  " + "\n  ".join(doc["errors"]))
        return 1
    return 0


def _write(path, doc, t_start):
    doc["targets"] = targets(doc)     # every time: a run killed later still has them
    doc["errors"] = collect_errors(doc)
    doc["meta"]["seconds"] = round(time.perf_counter() - t_start, 1)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
