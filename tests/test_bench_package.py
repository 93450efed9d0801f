"""The benchmark harness as part of the package (nnfast/bench/): it runs from a directory
outside the checkout, with nothing of the checkout but the nnfast package on the path; it
says how to install a missing comparison framework and still measures nnfast; its results go
under the current directory, never into the package. No timing is asserted."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--quick", "--threads", "1", "--repeats", "1", "--warmup", "0", "--block-ms", "1",
        "--no-jax", "--no-png"]
# torch hidden from the harness: find_spec("torch") answers None when sys.modules holds None
HIDE_TORCH = ("import sys; sys.modules['torch'] = None; "
              "from nnfast.bench.harness import main; sys.exit(main(sys.argv[1:]))")


@pytest.fixture
def outside(tmp_path):
    """A working directory outside the checkout, and an environment whose only way to
    nnfast is PYTHONPATH (the checkout's root: no `bench` shim importable from the cwd)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    return run_dir, env


def _run(args, cwd, env, timeout=120):
    return subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_python_m_nnfast_bench_runs_outside_the_checkout(outside):
    run_dir, env = outside
    r = _run(["-m", "nnfast.bench", "--only", "gemm", "--json", "out.json"] + TINY,
             run_dir, env)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads((run_dir / "out.json").read_text())
    assert list(doc["sections"]) == ["peak", "gemm"]
    assert doc["meta"]["command"].startswith("python -m nnfast.bench --only gemm")
    for row in doc["sections"]["gemm"]:
        assert row["results"]["nnfast"]["gflops"] > 0
    # the harness is the package's, not a checkout's bench/ found through the cwd
    r = _run(["-c", "import nnfast.bench.harness as h; print(h.__file__)"], run_dir, env)
    assert r.stdout.strip() == os.path.join(ROOT, "nnfast", "bench", "harness.py")


def test_default_results_folder_is_under_the_current_directory(outside):
    run_dir, env = outside
    i = TINY.index("--threads")
    no_threads = TINY[:i] + TINY[i + 2:]
    r = _run(["-m", "nnfast.bench", "--only", "peak"] + no_threads, run_dir, env)
    assert r.returncode == 0, r.stdout + r.stderr
    written = list((run_dir / "nnfast-bench-results").glob("bench-*.json"))
    assert len(written) == 1
    doc = json.loads(written[0].read_text())
    assert "peak" in doc["sections"]
    assert doc["meta"]["threads"] == [1]       # --quick: one thread count unless --threads
    r = _run(["-m", "nnfast.bench", "--only", "peak", "--out", "mine"] + TINY, run_dir, env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(list((run_dir / "mine").glob("bench-*.json"))) == 1
    assert not any(f.startswith("bench-") for f in os.listdir(os.path.join(ROOT, "nnfast",
                                                                            "bench")))


def test_missing_torch_is_reported_with_the_install_hint(outside):
    run_dir, env = outside
    r = _run(["-c", HIDE_TORCH, "--only", "act", "--json", "out.json"] + TINY, run_dir, env)
    assert r.returncode == 0, r.stdout + r.stderr
    hint = "torch not installed: pip install torch==2.13.0 to compare"
    assert hint in r.stderr
    doc = json.loads((run_dir / "out.json").read_text())
    assert "torch" not in doc["meta"]["versions"]
    rows = doc["sections"]["act"]
    assert rows
    for row in rows:
        res = row["results"]
        assert res["torch"] == {"skipped": hint}
        # nnfast is still timed, and said to be unchecked rather than passed off as checked
        assert res["nnfast"]["s"] > 0
        assert "not checked" in res["nnfast"]["unchecked"] and hint in res["nnfast"]["unchecked"]


def test_nnfast_bench_help_outside_the_checkout(outside):
    run_dir, env = outside
    r = _run(["-m", "nnfast.cli", "bench", "--help"], run_dir, env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "usage: nnfast bench" in r.stdout and "--quick" in r.stdout and "--out" in r.stdout


def test_setuptools_ships_the_bench_package():
    """pyproject's packages.find picks nnfast.bench up (so a wheel carries it)."""
    from setuptools import find_packages
    assert "nnfast.bench" in find_packages(ROOT, include=["nnfast*"])
