"""The nnfast benchmark harness: `python -m nnfast.bench` / `nnfast bench` (in a checkout also
`python -m bench`, which records into bench/results/; see the repository's bench/README.md).

Sections (each a module of this package with cases / participants / prepare / check / work):
  peak   measured ceilings: FMA-loop and vdpbf16ps-loop GFLOP/s, NumPy copy GB/s (peak.py)
  step   MLP training step with Adam vs torch (default, fused) and JAX  (step.py)
  bf16   that step compiled under nf.autocast bf16 vs fp32 and torch.autocast (bf16.py)
  gemm   sgemm vs NumPy and torch, NN/NT/TN                             (bench_gemm.py)
  act    activation forward + backward                                  (act.py)
  optim  Adam / SGD step, GB/s against a NumPy copy                      (optim.py)
  conv   Conv2d forward + backward                                      (bench_conv.py)
  cnn    small CNN training step, eager loop and train.fit vs torch     (bench_cnn.py)
  lstm   LSTM training step                                             (bench_rnn.py)
  bf16acc  test accuracy of an MLP trained in fp32 and in bf16 on scikit-learn's digits and
         breast-cancer data, untimed: one "evaluate" call per worker    (bf16_acc.py)
  ddp    DistributedDataParallel over MPI: 2 ranks vs 1, the allreduce's cost, untimed by
         the harness (the ranks time themselves under mpirun; needs nnfast[mpi])  (ddp.py)
  cuda   `--device cuda` / `--only cuda`: nnfast CUDA vs PyTorch CUDA on one GPU, its own
         runner in one process (cuda.py; bench/CUDA.md), not the CPU workers below

Method in brief: every framework x thread count runs in its own worker process (_worker.py)
with its thread pools sized by environment before import; only one worker computes at any
moment. Each participant is built, its result checked against the reference (torch, or a
float64 product for GEMM) and only then timed: `warmup` untimed rounds, then `repeats` rounds,
each round one block per participant, rounds interleaved across all workers (rotating the
order), so machine noise hits everyone alike. The figure is the median block (per-iteration time); peak keeps the best.
"""
import argparse
import datetime
import importlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

# The harness's own NumPy work (float64 references, checks) runs on one OpenBLAS thread: a
# multi-threaded OpenBLAS pool spins ~0.1 s after each call, and here that would take a core
# from the worker being timed next (measured: the first rounds of every 2-thread case ran 2x
# slow). When NumPy is imported already (`nnfast bench`, tests), the timing waits instead.
threadpool_may_spin = "numpy" in sys.modules
if not threadpool_may_spin:
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

from .common import DEFAULT_OUT_NAME, FLOP_SECTIONS, PACKAGE_PARENT, SECTIONS, not_installed
from .report import format_table, notes, peak_summary, write_png



# ================================================================================ workers
class WorkerError(RuntimeError):
    pass


class Worker:
    """A nnfast.bench._worker process for one framework at one thread count."""

    def __init__(self, framework, threads, logdir):
        self.framework, self.threads = framework, threads
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
        if framework != "numpy":
            # NumPy's BLAS is not what this worker measures; its pool would only spin after
            # the worker's own setup and take a core from the pool that is timed
            env["OPENBLAS_NUM_THREADS"] = "1"
        env["PYTHONPATH"] = PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                    else "")
        if framework == "jax":
            env["JAX_PLATFORMS"] = "cpu"
            if threads == 1:
                env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                                    "false intra_op_parallelism_threads=1").strip()
        self.log = os.path.join(logdir, f"{framework}-{threads}.log")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                          "_worker.py"), framework, str(threads)],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=open(self.log, "w"), text=True, bufsize=1)
        hello = self._recv()
        if not hello.get("ok"):
            self.close()
            raise WorkerError(hello.get("error", "worker failed to start"))

    def _recv(self):
        line = self.proc.stdout.readline()
        if not line:
            with open(self.log) as f:
                tail = f.read()[-1500:]
            raise WorkerError(f"{self.framework} worker ({self.threads} thr) died:\n{tail}")
        return json.loads(line)

    def call(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._recv()

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class Pool:
    """Workers started on first use and kept for the whole run."""

    def __init__(self, logdir, available):
        self.logdir, self.available = logdir, available
        self.workers, self.failed = {}, {}

    def get(self, framework, threads):
        key = (framework, threads)
        if key in self.failed:
            raise WorkerError(self.failed[key])
        if key not in self.workers:
            if not self.available.get(framework, False):
                self.failed[key] = (not_installed(framework) if framework in ("torch", "jax")
                                    else f"{framework} is left out")
                raise WorkerError(self.failed[key])
            try:
                self.workers[key] = Worker(framework, threads, self.logdir)
            except WorkerError as e:
                self.failed[key] = str(e)
                raise
        return self.workers[key]

    def close(self):
        for w in self.workers.values():
            w.close()


# ================================================================================ running
class Part:
    def __init__(self, label, framework, variant, threads):
        self.label, self.framework, self.variant, self.threads = label, framework, variant, threads
        self.key = None
        self.times, self.info = [], {}
        self.checks = None
        self.error = self.skipped = self.unchecked = None


def run_case(mod, case, args, pool, tmpdir):
    parts = [Part(label, fw, var, t) for t in args.threads
             for (label, fw, var) in mod.participants(case)]
    # seconds of work per timed block: a section may fix it (peak) or scale --block-ms (step)
    block_s = getattr(mod, "BLOCK_S", None) or (
        args.block_ms / 1e3 * getattr(mod, "BLOCK_FACTOR", 1.0) * args.block_scale)
    for i, p in enumerate(parts):
        try:
            w = pool.get(p.framework, p.threads)
        except WorkerError as e:
            p.skipped = str(e).splitlines()[0]
            continue
        p.key = f"{mod.SECTION}/{case['id']}/{p.variant}"
        path = os.path.join(tmpdir, f"check{i}.npz")
        r = w.call(op="prepare", section=mod.__name__.split(".")[-1], key=p.key, case=case,
                   variant=p.variant, block_s=block_s, check_path=path)
        if not r["ok"]:
            if r.get("skip"):
                p.skipped = r["error"]
            else:
                p.error = f"prepare failed: {r['error']}"
                if args.verbose:
                    print(r.get("trace", ""), file=sys.stderr)
            p.key = None
            continue
        p.info = r["info"]
        if r["checked"]:
            with np.load(path) as z:
                p.checks = {k: z[k] for k in z.files}
            os.remove(path)
    _check_parts(mod, case, parts)
    if threadpool_may_spin:
        time.sleep(0.15)   # the harness's own OpenBLAS pool (NumPy imported before us) idles
    active = [p for p in parts if p.key and not p.error]
    prev = None
    # Warm-up rounds are run like the others and thrown away: on the VM the first second or
    # so of a case ran slow for every participant (2-thread blocks of round 1 up to 1.9x the
    # later ones, torch, JAX and nnfast alike), a machine effect rather than a library's.
    timed = max(args.repeats, getattr(mod, "MIN_REPEATS", 0))
    for rnd in range(args.warmup + timed):
        k = rnd % max(1, len(active))
        for p in active[k:] + active[:k]:
            w = pool.get(p.framework, p.threads)
            if prev is not None and prev is not w and prev.threads > 1:
                # let the last worker's spinning thread pool (OpenMP, OpenBLAS) go to sleep
                time.sleep(args.pause * (4 if prev.framework == "numpy" else 1))
            r = w.call(op="time", key=p.key)
            prev = w
            if not r["ok"]:
                p.error = f"timing failed: {r['error']}"
                active = [a for a in active if a is not p]
                break
            if rnd >= args.warmup:
                p.times.append(r["t"])
    for p in parts:
        if p.key:
            pool.get(p.framework, p.threads).call(op="drop", key=p.key)
    return parts


def run_untimed(mod, case, args, pool):
    """A section whose figures are not times (UNTIMED: bf16acc): one "evaluate" request per
    participant at the lowest thread count of the run, its answer the row's result."""
    t = min(args.threads)
    res = {}
    for label, fw, variant in mod.participants(case):
        try:
            w = pool.get(fw, t)
        except WorkerError as e:
            res[label] = {"skipped": str(e).splitlines()[0]}
            continue
        r = w.call(op="evaluate", section=mod.__name__.split(".")[-1], case=case,
                   variant=variant)
        if r["ok"]:
            res[label] = r["result"]
        elif r.get("skip"):
            res[label] = {"skipped": r["error"]}
        else:
            res[label] = {"error": f"evaluate failed: {r['error']}"}
            if args.verbose:
                print(r.get("trace", ""), file=sys.stderr)
    return [{"case": case["id"], "params": {k: v for k, v in case.items() if k != "id"},
             "threads": t, "results": res}]


def _check_parts(mod, case, parts):
    """Correctness before timing: every participant's check arrays against the reference."""
    ref_kind = getattr(mod, "REFERENCE", None)
    if ref_kind is None:
        return
    if ref_kind == "float64":
        ref, ref_name = mod.reference(case), "the float64 result"
    else:
        src = next((p for p in parts if p.label == ref_kind and p.checks is not None), None)
        ref, ref_name = (src.checks if src else None), f"{ref_kind} ({src.threads if src else '?'} thr)"
        # the reference framework not installed (its parts all skipped): the others are timed
        # but said to be unchecked, so an installed nnfast still benchmarks itself
        ref_parts = [p for p in parts if p.label == ref_kind]
        missing = (src is None and ref_parts and all(p.skipped for p in ref_parts)
                   and ref_parts[0].skipped)
    # PARTIAL_CHECKS (bf16): the reference answers several checks (its bf16 and its fp32
    # losses); each participant is held to the ones it gives, and must give one
    partial = getattr(mod, "PARTIAL_CHECKS", False)
    for p in parts:
        if p.checks is None or p.error:
            continue
        if ref is None and missing:
            p.unchecked, p.checks = f"not checked ({missing})", None
            continue
        if ref is None:
            p.error = f"no {ref_kind} result to check against; not timed"
            continue
        names = [n for n in ref if n in p.checks] if partial else list(ref)
        if not names:
            p.error = f"none of {ref_name}'s checks ({', '.join(ref)}) given; not timed"
            continue
        for name in names:
            want = ref[name]
            msg = (mod.check(case, name, p.checks[name], want) if name in p.checks
                   else f"{name}: missing")
            if msg:
                p.error = f"result differs from {ref_name}: {msg}; not timed"
                break
        p.checks = None


def summarise(mod, case, parts):
    stat = min if getattr(mod, "STAT", "median") == "best" else statistics.median
    base = getattr(mod, "BASELINE", "nnfast")   # the ratios are "X ÷ base"
    w = mod.work(case)
    rows = []
    for t in sorted({p.threads for p in parts}):
        res = {}
        for p in (p for p in parts if p.threads == t):
            if p.skipped:
                res[p.label] = {"skipped": p.skipped}
                continue
            if p.error or not p.times:
                res[p.label] = {"error": p.error or "not timed"}
                continue
            # a call of several steps (cnn's fit: one fit() of 8 batches) is quoted per step
            per = p.info.get("steps_per_call", 1)
            times = [x / per for x in p.times]
            s = stat(times)
            d = {"s": s, "times_s": times, **({"info": p.info} if p.info else {}),
                 **({"unchecked": p.unchecked} if p.unchecked else {})}
            flops = p.info.get("flops", w.get("flops"))
            nbytes = p.info.get("bytes", w.get("bytes"))
            if flops:
                d["gflops"] = flops / s / 1e9
            if nbytes:
                d["gbs"] = nbytes / s / 1e9
            res[p.label] = d
        row = {"case": case["id"], "params": {k: v for k, v in case.items() if k != "id"},
               "threads": t, "work": w, "results": res}
        ref = res.get(base, {}).get("s")
        if ref:
            row["speedup"] = {f"{lab}/{base}": r["s"] / ref for lab, r in res.items()
                              if "s" in r and lab != base}
        rows.append(row)
    return rows


# ================================================================================ main
def _parser(prog):
    ap = argparse.ArgumentParser(
        prog=prog, description="nnfast vs PyTorch and JAX, whichever is installed (the "
        "repository's bench/README.md explains the method)")
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated sections (default all): {','.join(SECTIONS)}; or "
                    "cuda alone (the GPU benchmark)")
    ap.add_argument("--threads", help="thread counts, e.g. 1,2 (default; --quick: 1)")
    ap.add_argument("--quick", action="store_true",
                    help="under a minute: one thread, fewer shapes, 3 repeats, shorter blocks")
    ap.add_argument("--repeats", type=int, help="timed blocks per participant (default 5; "
                    "--quick 3)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed rounds before the timed ones (default 1)")
    ap.add_argument("--block-ms", type=float, default=25.0,
                    help="work per timed block in ms (default 25; the step section 4x that)")
    ap.add_argument("--pause", type=float, default=0.03,
                    help="seconds to wait after a multi-threaded worker's block before another "
                    "worker's (x4 after NumPy's OpenBLAS, whose threads spin longer)")
    ap.add_argument("--no-jax", action="store_true", help="leave JAX out even if installed")
    ap.add_argument("--out", help="folder of the results (default ./" + DEFAULT_OUT_NAME
                    + "; python -m bench in a checkout: bench/results)")
    ap.add_argument("--json", help="results file (default OUT/bench-<date>.json); the PNG "
                    "chart goes beside it")
    ap.add_argument("--no-png", action="store_true", help="do not write the PNG chart")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks of failures")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cuda: the GPU benchmark instead (nnfast/bench/cuda.py, bench/CUDA.md; same "
                    "as --only cuda; `--device cuda --help` for its options)")
    return ap


def _cuda_run(argv):
    """The arguments for nnfast/bench/cuda.py when this is a GPU run (--device cuda or --only cuda),
    else None. The GPU run has its own options, so it is picked before parsing."""
    rest, cuda = [], False
    it = iter(argv)
    for a in it:
        key, eq, val = a.partition("=")
        if key in ("--device", "--only"):
            val = val if eq else next(it, "")
            if (key == "--device" and val == "cuda") or (key == "--only" and val == "cuda"):
                cuda = True
                continue
            if key == "--only" and "cuda" in val.split(","):
                raise SystemExit("bench: run the cuda section by itself (--only cuda or "
                                 "--device cuda)")
            rest += [key, val]
        else:
            rest.append(a)
    return rest if cuda else None


def main(argv=None, prog="python -m nnfast.bench", default_out=None):
    argv_used = sys.argv[1:] if argv is None else list(argv)
    cuda_argv = _cuda_run(argv_used)
    if cuda_argv is not None:
        from .cuda import main as cuda_main
        return cuda_main(cuda_argv, prog=prog, default_out=default_out)
    args = _parser(prog).parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad:
        print(f"{prog}: unknown section(s) {', '.join(bad)}; choose from {', '.join(SECTIONS)}",
              file=sys.stderr)
        return 2
    try:
        # --quick: one thread count, half the workers to start and no 2-thread blocks, which
        # on a shared 2-core machine are both the slowest and the noisiest
        args.threads = sorted({int(t) for t in (args.threads or ("1" if args.quick
                                                                   else "1,2")).split(",")})
        if min(args.threads) < 1:
            raise ValueError
    except ValueError:
        print(f"{prog}: --threads wants positive integers like 1,2", file=sys.stderr)
        return 2
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.block_scale = 0.4 if args.quick else 1.0
    if args.warmup < 0:
        print(f"{prog}: --warmup wants 0 or more rounds", file=sys.stderr)
        return 2
    if any(s in only for s in FLOP_SECTIONS) and "peak" not in only:
        only.insert(0, "peak")      # %peak figures need the measured peak
    only = [s for s in SECTIONS if s in only]
    have = {name: _importable(name) for name in ("torch", "jax", "nnfast")}
    available = {"nnfast": have["nnfast"], "torch": have["torch"], "numpy": True,
                 "jax": have["jax"] and not args.no_jax}
    for name in ("torch", "jax"):
        if not have[name] and not (name == "jax" and args.no_jax):
            # nnfast is still measured; where torch is the reference its results run unchecked
            print(f"{prog}: {not_installed(name)}" + (
                " (nnfast's results that torch would check run unchecked)"
                if name == "torch" else ""), file=sys.stderr)

    meta = _meta(prog, argv_used, args, available)
    print(f"# nnfast bench {meta['date']}: {meta['machine']}; load average "
          f"{meta['loadavg_start']} at start")
    print(f"# {meta['versions']}; threads {args.threads}; repeats {args.repeats} "
          f"(after {args.warmup} warm-up)"
          + ("" if available["jax"] else "; JAX " + ("left out" if args.no_jax
                                                      else "not installed")))
    t_start = time.perf_counter()
    results, peaks = {}, {}
    with tempfile.TemporaryDirectory(prefix="nnfast-bench-") as tmpdir:
        pool = Pool(tmpdir, available)
        try:
            for name in only:
                mod = importlib.import_module(f"{__package__}.{SECTIONS[name]}")
                t0 = time.perf_counter()
                print(f"{name}: {mod.TITLE} ...", end="", flush=True)
                rows = []
                for case in mod.cases(args.quick):
                    if getattr(mod, "UNTIMED", False):
                        rows += run_untimed(mod, case, args, pool)
                        for lab, r in rows[-1]["results"].items():
                            if "error" in r:
                                print(f"\n  ! {name} {case['id']} {lab}: {r['error']}", end="",
                                      flush=True)
                        continue
                    parts = run_case(mod, case, args, pool, tmpdir)
                    rows += summarise(mod, case, parts)
                    for p in parts:
                        if p.error:
                            print(f"\n  ! {name} {case['id']} {p.label} ({p.threads} thr): "
                                  f"{p.error}", end="", flush=True)
                results[name] = rows
                print(f" {time.perf_counter() - t0:.0f} s", flush=True)
            if "peak" in results and any(s in results for s in FLOP_SECTIONS):
                # the peak again, now at the end: on a shared machine either moment may have
                # been a busy one; the %peak figures use the better of the two
                mod = importlib.import_module(f"{__package__}.peak")
                for case in mod.cases(args.quick):
                    if case["id"] == "fma" or (case["id"] == "bf16" and "bf16" in results):
                        again = summarise(mod, case, run_case(mod, case, args, pool, tmpdir))
                        for row in again:
                            row["case"] = f"{case['id']} (end of run)"
                        results["peak"] += again
        finally:
            pool.close()
    bf16_peaks = {}
    for row in results.get("peak", []):
        for probe, best in (("nnfast FMA probe", peaks), ("nnfast BF16 probe", bf16_peaks)):
            r = row["results"].get(probe, {})
            if "gflops" in r:
                best[row["threads"]] = max(best.get(row["threads"], 0.0), r["gflops"])
    for name in FLOP_SECTIONS:
        # a section's PEAK names the ceiling of each participant: bf16's bf16 ones are quoted
        # against the bf16 probe (no figure where the CPU has no AVX512-BF16), others the FMA's
        kinds = getattr(importlib.import_module(f"{__package__}.{SECTIONS[name]}"), "PEAK", {})
        for row in results.get(name, []):
            for lab, r in row["results"].items():
                kind = kinds.get(lab, "fma")
                ceiling = (bf16_peaks if kind == "bf16" else peaks).get(row["threads"])
                if kind != "fma" and "gflops" in r:
                    r["peak_kind"] = kind
                if "gflops" in r and ceiling:
                    r["pct_peak"] = 100.0 * r["gflops"] / ceiling
    for name, rows in results.items():
        mod = importlib.import_module(f"{__package__}.{SECTIONS[name]}")
        print(f"\n## {name}: {mod.TITLE}")
        print("\n".join(format_table(name, rows)))
        for note in notes(name, rows):
            print(note)
        unchecked = sorted({r["unchecked"] for row in rows for r in row["results"].values()
                            if "unchecked" in r})
        for msg in unchecked:
            print(f"(these figures are {msg})")
    total = time.perf_counter() - t_start
    errors = [f"{s} {row['case']} {lab} ({row['threads']} thr): {r['error']}"
              for s, rows in results.items() for row in rows
              for lab, r in row["results"].items() if "error" in r]
    doc = {"meta": {**meta, "seconds": round(total, 1), "loadavg_end": _loadavg()},
           "peak": peak_summary(results, peaks, bf16_peaks), "sections": results, "errors": errors}
    out = args.out or default_out or os.path.join(os.getcwd(), DEFAULT_OUT_NAME)
    path = args.json or os.path.join(out, f"bench-{meta['date']}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\nwrote {path} ({total:.0f} s in all)")
    if not args.no_png:
        png = write_png(os.path.splitext(path)[0] + ".png", results)
        if png:
            print(f"wrote {png}")
    if errors:
        print(f"{len(errors)} participant(s) failed (see above); their cells read FAIL",
              file=sys.stderr)
        return 1
    return 0


def _meta(prog, argv, args, available):
    import nnfast as nf
    bf16_tile = getattr(nf._C, "gemm_bf16_isa", lambda: "no")()
    versions = [f"nnfast {nf.__version__} ({nf._C.gemm_isa()} GEMM, {bf16_tile} bf16 tile)",
                f"numpy {np.__version__}"]
    for name in ("torch", "jax"):
        if available.get(name):
            spec = importlib.util.find_spec(name)
            versions.append(f"{name} {_dist_version(name) or spec.name}")
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"date": datetime.date.today().isoformat(),
            "time": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([prog] + argv), "machine": f"{cpu}, {os.cpu_count()} CPUs, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            "versions": ", ".join(versions), "threads": args.threads, "repeats": args.repeats, "warmup": args.warmup,
            "quick": args.quick, "block_ms": args.block_ms, "pause_s": args.pause,
            "loadavg_start": _loadavg()}


def _importable(name):
    """Whether `import name` would find something, without importing it (torch takes
    seconds); a broken or shadowed install counts as missing rather than failing the run."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001
        return None
