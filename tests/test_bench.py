"""Smoke tests of the benchmark harness (nnfast/bench/; tests/test_bench_package.py runs it
from outside the checkout): it runs on tiny settings, checks results
before timing, and writes JSON with the expected structure. No timing is asserted: the
machine is shared and the figures are whatever they are."""
import json
import os
import subprocess
import sys

import pytest

from nnfast import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_nnfast_bench_tiny_run_writes_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = cli.main(["bench", "--only", "step,gemm,optim", "--quick", "--threads", "1",
                   "--repeats", "1", "--block-ms", "1", "--no-jax", "--no-png",
                   "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    doc = json.loads(out.read_text())
    assert set(doc) >= {"meta", "peak", "sections", "errors"}
    assert doc["errors"] == []
    assert doc["meta"]["command"].startswith("nnfast bench --only step,gemm,optim")
    assert "torch" in doc["meta"]["versions"]
    # peak was added for the %peak figures, and measured
    assert list(doc["sections"]) == ["peak", "step", "gemm", "optim"]
    assert doc["peak"]["1"]["fma_gflops"] > 0
    assert doc["peak"]["1"]["best_gemm"]["gflops"] > 0
    step = doc["sections"]["step"]
    assert [r["case"] for r in step] == ["64-32-10 b32", "784-128-10 b64",
                                         "784-256-128-10 b128"]   # --quick: 3 of 4 models
    for row in step:
        assert row["threads"] == 1
        res = row["results"]
        for lab in ("nnfast", "torch", "torch fused"):
            assert res[lab]["s"] > 0 and len(res[lab]["times_s"]) == 1
            assert res[lab]["gflops"] > 0 and "pct_peak" in res[lab]
        assert "jax" not in res or "skipped" in res["jax"]
        assert set(row["speedup"]) >= {"torch/nnfast", "torch fused/nnfast"}
        comp = res.get("nnfast compiled", {"skipped": ""})
        assert "skipped" in comp or comp["s"] > 0
    gemm = doc["sections"]["gemm"]
    assert {r["params"]["form"] for r in gemm} == {"NN", "NT", "TN"}
    for row in gemm:
        assert set(row["results"]) == {"nnfast", "numpy", "torch"}
        assert all(r["gflops"] > 0 for r in row["results"].values())
    for row in doc["sections"]["optim"]:
        assert row["results"]["nnfast"]["gbs"] > 0
        assert row["results"]["numpy copy"]["gbs"] > 0
    # the markdown tables were printed
    assert "## step" in printed and "| 784-256-128-10 b128 | 1 |" in printed


def test_bench_rejects_unknown_section():
    r = subprocess.run([sys.executable, "-m", "bench", "--only", "gemm,nosuch"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "unknown section(s) nosuch" in r.stderr


def test_check_failure_is_reported_and_not_timed(monkeypatch):
    """A participant whose result differs from the reference is marked FAIL, never timed."""
    from nnfast.bench import bench_gemm, harness
    from nnfast.bench.common import compare
    assert compare("x", [1.0, 2.0], [1.0, 2.0], 0, 0) is None
    assert "max excess error" in compare("x", [1.0, 2.5], [1.0, 2.0], 1e-3, 0)
    case = bench_gemm.cases(True)[0]
    parts = [harness.Part(lab, fw, var, 1) for lab, fw, var in bench_gemm.participants(case)]
    ref = bench_gemm.reference(case)["C"]
    parts[0].checks = {"C": ref + 1.0}
    parts[1].checks = {"C": ref.astype("float32")}
    harness._check_parts(bench_gemm, case, parts)
    assert parts[0].error and "not timed" in parts[0].error
    assert parts[1].error is None
