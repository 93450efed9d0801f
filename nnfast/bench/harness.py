"""The nnfast benchmark harness: `python -m nnfast.bench` / `nnfast bench` (in a checkout also
`python -m bench`, which records into bench/results/; see the repository's bench/README.md).

Sections (each a module of this package with cases / participants / prepare / check / work):
  peak   measured ceilings: FMA-loop GFLOP/s and NumPy copy GB/s        (peak.py)
  step   MLP training step with Adam vs torch (default, fused) and JAX  (step.py)
  gemm   sgemm vs NumPy and torch, NN/NT/TN                             (bench_gemm.py)
  act    activation forward + backward                                  (act.py)
  optim  Adam / SGD step, GB/s against a NumPy copy                      (optim.py)
  conv   Conv2d forward + backward                                      (bench_conv.py)
  lstm   LSTM training step                                             (bench_rnn.py)
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

from .common import DEFAULT_OUT_NAME, PACKAGE_PARENT, not_installed

SECTIONS = {"peak": "peak", "step": "step", "gemm": "bench_gemm", "act": "act",
            "optim": "optim", "conv": "bench_conv", "lstm": "bench_rnn"}
FLOP_SECTIONS = ("step", "gemm", "conv", "lstm")


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
    for p in parts:
        if p.checks is None or p.error:
            continue
        if ref is None and missing:
            p.unchecked, p.checks = f"not checked ({missing})", None
            continue
        if ref is None:
            p.error = f"no {ref_kind} result to check against; not timed"
            continue
        for name, want in ref.items():
            msg = (mod.check(case, name, p.checks[name], want) if name in p.checks
                   else f"{name}: missing")
            if msg:
                p.error = f"result differs from {ref_name}: {msg}; not timed"
                break
        p.checks = None


def summarise(mod, case, parts):
    stat = min if getattr(mod, "STAT", "median") == "best" else statistics.median
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
            s = stat(p.times)
            d = {"s": s, "times_s": p.times, **({"info": p.info} if p.info else {}),
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
        ref = res.get("nnfast", {}).get("s")
        if ref:
            row["speedup"] = {f"{lab}/nnfast": r["s"] / ref for lab, r in res.items()
                              if "s" in r and lab != "nnfast"}
        rows.append(row)
    return rows


# ================================================================================ tables
def _fmt_t(s):
    return f"{s * 1e6:.1f}" if s < 1e-3 else f"{s * 1e6:.0f}"


def _cell(r, kind):
    if "skipped" in r:
        return "—"
    if "error" in r:
        return "FAIL"
    if kind == "us":
        return _fmt_t(r["s"])
    if kind == "gflops":
        pct = f" ({r['pct_peak']:.0f}%)" if "pct_peak" in r else ""
        return f"{r['gflops']:.1f}{pct}"
    if kind == "gbs":
        return f"{r['gbs']:.1f}"
    return "?"


def _labels(rows):
    seen = []
    for row in rows:
        for lab, r in row["results"].items():
            if lab not in seen and "skipped" not in r:
                seen.append(lab)
    return seen


def format_table(section, rows):
    labels = _labels(rows)
    if not rows or not labels:
        return ["(nothing ran)"]
    head, lines = [], []
    if section == "peak":
        head = ["threads", "FMA peak GFLOP/s (start, end of run)", "NumPy copy GB/s (64 MiB)"]
        by_t = {}
        for row in rows:
            for lab, r in row["results"].items():
                by_t.setdefault(row["threads"], []).append((lab, r))
        for t, d in sorted(by_t.items()):
            fma = ", ".join(f"{r['gflops']:.1f}" if "gflops" in r else _cell(r, "us")
                            for lab, r in d if lab == "nnfast FMA probe")
            cp = ", ".join(f"{r['gbs']:.1f}" if "gbs" in r else _cell(r, "us")
                           for lab, r in d if lab == "numpy copy")
            lines.append([str(t), fma, cp])
        return _md(head, lines)
    others = [lab for lab in labels if lab not in ("nnfast", "numpy copy")]
    if section == "step":
        head = ["model", "threads"] + [f"{lab} µs" for lab in labels] + [
            "nnfast GFLOP/s (%peak)"] + [f"{lab} ÷ nnfast" for lab in others]
        for row in rows:
            res = row["results"]
            lines.append([row["case"], str(row["threads"])]
                         + [_cell(res.get(lab, {"skipped": 1}), "us") for lab in labels]
                         + [_cell(res.get("nnfast", {"skipped": 1}), "gflops")]
                         + [_ratio(row, lab) for lab in others])
        return _md(head, lines)
    kind = "gflops" if section in FLOP_SECTIONS else "gbs"
    unit = "GFLOP/s (%peak)" if kind == "gflops" else "GB/s"
    head = ["case", "threads", "nnfast µs"] + [f"{lab} {unit}" for lab in labels]
    if section == "optim":
        head.append("nnfast % of copy")
    head += [f"{lab} ÷ nnfast" for lab in others]
    for row in rows:
        res = row["results"]
        line = [row["case"], str(row["threads"]), _cell(res.get("nnfast", {"skipped": 1}), "us")]
        line += [_cell(res.get(lab, {"skipped": 1}), kind) for lab in labels]
        if section == "optim":
            nf, cp = res.get("nnfast", {}), res.get("numpy copy", {})
            line.append(f"{100 * nf['gbs'] / cp['gbs']:.0f}%" if "gbs" in nf and "gbs" in cp
                        else "—")
        line += [_ratio(row, lab) for lab in others]
        lines.append(line)
    return _md(head, lines)


def _ratio(row, lab):
    v = row.get("speedup", {}).get(f"{lab}/nnfast")
    return f"{v:.2f}" if v is not None else "—"


def _md(head, lines):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return out


# ================================================================================ chart
def write_png(path, sections):
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        print("(no PNG: matplotlib is not installed; pip install matplotlib for the chart)")
        return None
    del matplotlib
    panels = [(name, rows) for name, rows in sections.items() if name != "peak" and rows]
    if not panels:
        return None
    heights = [max(1, len(rows)) * 0.22 + 0.8 for _, rows in panels]
    fig = Figure(figsize=(9, sum(heights)))
    axes = fig.subplots(len(panels), 1, gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], panels):
        names, vals, colors = [], [], []
        for row in rows:
            sp = {k.split("/")[0]: v for k, v in row.get("speedup", {}).items()
                  if not k.startswith("numpy copy") and not k.startswith("nnfast")}
            if not sp:
                continue
            best = min(sp, key=lambda k: sp[k])   # fastest other participant
            names.append(f"{row['case']} · {row['threads']}t (vs {best})")
            vals.append(sp[best])
            colors.append("tab:green" if sp[best] >= 1 else "tab:red")
        ax.barh(range(len(vals)), vals, color=colors)
        ax.set_yticks(range(len(vals)), names, fontsize=6)
        ax.invert_yaxis()
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{name}: fastest other's time ÷ nnfast's (> 1: nnfast faster)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


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
                case = mod.cases(args.quick)[0]
                again = summarise(mod, case, run_case(mod, case, args, pool, tmpdir))
                for row in again:
                    row["case"] = "fma (end of run)"
                results["peak"] += again
        finally:
            pool.close()
    for row in results.get("peak", []):
        r = row["results"].get("nnfast FMA probe", {})
        if "gflops" in r:
            peaks[row["threads"]] = max(peaks.get(row["threads"], 0.0), r["gflops"])
    for name in FLOP_SECTIONS:
        for row in results.get(name, []):
            for r in row["results"].values():
                if "gflops" in r and peaks.get(row["threads"]):
                    r["pct_peak"] = 100.0 * r["gflops"] / peaks[row["threads"]]
    for name, rows in results.items():
        mod = importlib.import_module(f"{__package__}.{SECTIONS[name]}")
        print(f"\n## {name}: {mod.TITLE}")
        print("\n".join(format_table(name, rows)))
        unchecked = sorted({r["unchecked"] for row in rows for r in row["results"].values()
                            if "unchecked" in r})
        for msg in unchecked:
            print(f"(these figures are {msg})")
    total = time.perf_counter() - t_start
    errors = [f"{s} {row['case']} {lab} ({row['threads']} thr): {r['error']}"
              for s, rows in results.items() for row in rows
              for lab, r in row["results"].items() if "error" in r]
    doc = {"meta": {**meta, "seconds": round(total, 1), "loadavg_end": _loadavg()},
           "peak": _peak_summary(results, peaks), "sections": results, "errors": errors}
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


def _peak_summary(results, peaks):
    out = {}
    for t, g in peaks.items():
        out[str(t)] = {"fma_gflops": g, "fma_gflops_measured": [
            row["results"]["nnfast FMA probe"].get("gflops")
            for row in results.get("peak", []) if row["threads"] == t
            and "nnfast FMA probe" in row["results"]]}
    for row in results.get("peak", []):
        r = row["results"].get("numpy copy", {})
        if "gbs" in r:
            out.setdefault(str(row["threads"]), {})["copy_gbs_64MiB"] = r["gbs"]
    for row in results.get("gemm", []):
        for lab, r in row["results"].items():
            d = out.setdefault(str(row["threads"]), {})
            if "gflops" in r and r["gflops"] > d.get("best_gemm", {}).get("gflops", 0):
                d["best_gemm"] = {"gflops": r["gflops"], "library": lab, "case": row["case"]}
    return out


def _meta(prog, argv, args, available):
    import nnfast as nf
    versions = [f"nnfast {nf.__version__} ({nf._C.gemm_isa()} GEMM)", f"numpy {np.__version__}"]
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
