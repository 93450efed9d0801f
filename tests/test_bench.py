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


def test_bf16_cnn_and_accuracy_sections_run_in_quick_mode(tmp_path, capsys):
    """The issue-17 rows: bf16 autocast step (torch autocast + fused Adam and nnfast fp32
    beside it, % of the measured bf16 peak), the small CNN step, bf16 accuracy on sklearn data."""
    import nnfast as nf
    out = tmp_path / "b.json"
    rc = cli.main(["bench", "--only", "bf16,cnn,bf16acc", "--quick", "--threads", "1",
                   "--repeats", "1", "--block-ms", "1", "--no-jax", "--no-png",
                   "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    assert list(doc["sections"]) == ["peak", "bf16", "cnn", "bf16acc"]
    has_bf16 = nf._C.bf16_peak(1) > 0
    peak = doc["peak"]["1"]
    # measured at the start and again at the end, as the FMA peak is
    assert [r["case"] for r in doc["sections"]["peak"]] == [
        "fma", "bf16", "copy 64 MiB", "fma (end of run)", "bf16 (end of run)"]
    if has_bf16:
        assert peak["bf16_gflops"] > 0 and len(peak["bf16_gflops_measured"]) == 2
    else:
        assert peak["bf16_gflops"] is None and "n/a (no AVX512-BF16" in peak["bf16_note"]
    assert f"{nf._C.gemm_bf16_isa()} bf16 tile" in doc["meta"]["versions"]
    bf16 = doc["sections"]["bf16"]
    assert [r["case"] for r in bf16] == ["784-256-128-10 b128"]   # --quick: the smaller model
    for row in bf16:
        res = row["results"]
        for lab in ("nnfast bf16", "torch autocast", "nnfast fp32"):
            assert res[lab]["s"] > 0 and res[lab]["gflops"] > 0
        assert res["nnfast bf16"]["info"]["bf16_tile"] == nf._C.gemm_bf16_isa()
        assert ("pct_peak" in res["nnfast bf16"]) == has_bf16
        assert res["nnfast bf16"]["peak_kind"] == "bf16" and "pct_peak" in res["nnfast fp32"]
        assert set(row["speedup"]) == {"torch autocast/nnfast bf16", "nnfast fp32/nnfast bf16"}
    for row in doc["sections"]["cnn"]:
        res = row["results"]
        assert all(res[lab]["s"] > 0 for lab in ("nnfast", "nnfast compiled", "nnfast fit",
                                                  "torch"))
        assert res["nnfast fit"]["info"]["steps_per_call"] == 8
        assert set(row["speedup"]) == {"nnfast compiled/nnfast", "nnfast fit/nnfast",
                                       "torch/nnfast"}
    acc = doc["sections"]["bf16acc"]
    assert [r["case"] for r in acc] == ["digits", "breast_cancer"]
    for row in acc:
        for lab in ("nnfast", "torch"):
            r = row["results"][lab]
            assert r["fp32_acc"] > 90 and r["bf16_acc"] > 90
            assert r["diff_points"] == pytest.approx(r["bf16_acc"] - r["fp32_acc"])
    assert "## bf16: " in printed and "torch autocast ÷ nnfast bf16" in printed
    assert "nnfast fp32 ÷ nnfast bf16" in printed and "(% bf16 peak)" in printed
    assert "| digits | 1 | 1347 / 450 |" in printed and "within 0.5 points" in printed
    assert f"(bf16 tile that ran: {nf._C.gemm_bf16_isa()})" in printed


def test_bf16_peak_reads_n_a_without_avx512_bf16(monkeypatch):
    """Where _C.bf16_peak answers 0 the probe is skipped with the reason, and the peak table
    shows that reason in the BF16 column instead of a figure."""
    import nnfast._C as C
    from nnfast.bench import harness, peak, report
    from nnfast.bench.common import Skip
    monkeypatch.setattr(C, "bf16_peak", lambda iters: 0.0)
    with pytest.raises(Skip, match=r"n/a \(no AVX512-BF16: nnfast rounds operands and runs "
                                   r"the fp32 tile\)"):
        peak.prepare("nnfast", "bf16", {"id": "bf16"}, 1)
    rows = [{"case": "fma", "threads": 1, "results": {"nnfast FMA probe": {"gflops": 100.0,
                                                                           "s": 1.0}}},
            {"case": "bf16", "threads": 1, "results": {"nnfast BF16 probe": {
                "skipped": peak.NO_BF16}}}]
    table = "\n".join(harness.format_table("peak", rows))
    assert "| 1 | 100.0 | " + peak.NO_BF16 + " |" in table
    summary = report.peak_summary({"peak": rows}, {1: 100.0}, {})
    assert summary["1"]["bf16_gflops"] is None and summary["1"]["bf16_note"] == peak.NO_BF16


def test_bf16_section_holds_each_participant_to_its_precision():
    """The bf16 section's reference gives bf16 and fp32 losses; each nnfast participant is
    checked against the one of its precision, and one giving neither is not timed."""
    import numpy as np
    from nnfast.bench import bf16, harness
    case = bf16.cases(True)[0]
    parts = {lab: harness.Part(lab, fw, var, 1) for lab, fw, var in bf16.participants(case)}
    want = np.array([2.3, 2.2, 2.1])
    parts["torch autocast"].checks = {"losses_bf16": want, "losses_fp32": want + 0.01}
    parts["nnfast bf16"].checks = {"losses_bf16": want + 1e-3}           # within 5e-3
    parts["nnfast fp32"].checks = {"losses_fp32": want + 0.01 + 1e-2}    # past 1e-3
    harness._check_parts(bf16, case, list(parts.values()))
    assert parts["nnfast bf16"].error is None
    err = parts["nnfast fp32"].error
    assert "losses_fp32" in err and "not timed" in err
    ref = harness.Part("torch autocast", "torch", "autocast", 2)
    ref.checks = {"losses_bf16": want, "losses_fp32": want}
    stray = harness.Part("nnfast bf16", "nnfast", "bf16", 2)
    stray.checks = {"losses": want}
    harness._check_parts(bf16, case, [ref, stray])
    assert "none of" in stray.error


def test_bf16_accuracy_rows_say_how_to_get_scikit_learn(monkeypatch):
    import sys as _sys
    from nnfast.bench import bf16_acc, harness
    from nnfast.bench.common import Skip
    monkeypatch.setitem(_sys.modules, "sklearn", None)
    with pytest.raises(Skip, match="pip install scikit-learn"):
        bf16_acc.evaluate("nnfast", "acc", bf16_acc.cases(True)[0], 1)
    rows = [{"case": d, "threads": 1, "results": {"nnfast": {"skipped": bf16_acc.NO_SKLEARN}}}
            for d in bf16_acc.DATASETS]
    assert harness.format_table("bf16acc", rows) == [f"(nothing ran: {bf16_acc.NO_SKLEARN})"]


def test_ddp_section_runs_two_ranks_in_quick_mode(tmp_path, capsys):
    """bench --only ddp: one mpirun per model; 1-rank and 2-rank step times, the no_sync
    compute, the communication per step against the gradient bytes, a bare allreduce."""
    out = tmp_path / "d.json"
    rc = cli.main(["bench", "--only", "ddp", "--quick", "--threads", "1", "--no-jax",
                   "--no-png", "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    doc = json.loads(out.read_text())
    assert doc["errors"] == []
    rows = doc["sections"]["ddp"]
    assert [r["case"] for r in rows] == ["64-32-10 b32/rank", "784-256-128-10 b128/rank"]
    for row in rows:
        r = row["results"]["nnfast"]
        assert r["world"] == 2 and r["bytes"] == 4 * sum(
            a * b + b for a, b in zip(row["params"]["sizes"][:-1], row["params"]["sizes"][1:]))
        for k in ("one_us", "ddp_us", "nosync_us", "allreduce_us"):
            assert r[k] > 0
        assert r["efficiency"] == pytest.approx(r["one_us"] / r["ddp_us"])
    assert "| 64-32-10 b32/rank |" in printed and "efficiency" in printed
