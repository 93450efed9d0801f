"""`nnfast bench --device cuda` (nnfast/bench/cuda.py) under the simulator at tiny sizes: the code
path the GPU slot will run, its correctness fields and its JSON. No timing is asserted (the
simulator's figures mean nothing); torch has no CUDA here, so its participants must be
skipped with the reason written down, never failed."""
import json

import numpy as np
import pytest

from nnfast import cli


def test_bench_cuda_smoke_run_writes_json(tmp_path, capsys):
    out = tmp_path / "cuda.json"
    rc = cli.main(["bench", "--device", "cuda", "--smoke", "--cases", "mlp,sgemm",
                   "--json", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    doc = json.loads(out.read_text())
    assert doc["errors"] == [] and doc["run_errors"] == []
    assert doc["meta"]["simulator"] is True
    assert doc["meta"]["command"].startswith("nnfast bench --device cuda --smoke")
    [row] = doc["cases"]
    assert row["case"] == "6-5-3 b4" and row["kind"] == "mlp"
    c = row["correctness"]
    assert c["ok"] is True and c["errors"] == [] and c["steps"] == 2
    assert len(c["losses_cpu"]) == len(c["losses_cuda"]) == 2
    assert c["max_loss_rel_err"] <= 1e-4 and c["max_grad_err_over_max_grad"] <= 1e-4
    assert c["max_weight_abs_err"] <= 1e-3
    res = row["results"]
    assert res["nnfast cuda"]["s"] > 0 and len(res["nnfast cuda"]["times_s"]) == 1
    assert "skipped" in res["nnfast compiled"] or res["nnfast compiled"]["s"] > 0
    for lab in ("torch eager", "torch graphs", "torch compile"):
        assert "simulator" in res[lab]["skipped"]
    assert row["nnfast_best"] in ("nnfast cuda", "nnfast compiled")
    [g] = doc["sgemm"]
    assert g["case"] == "16x16x16 NN"
    assert g["results"]["nnfast sgemm"]["check"]["worst_error_over_tol"] <= 1.0
    assert g["results"]["nnfast sgemm"]["gflops"] > 0
    assert "simulator" in g["results"]["cublas"]["skipped"]
    assert doc["targets"] == []          # the smoke sizes are none of the cases
    assert "## training step" in printed and "| 6-5-3 b4 |" in printed


def test_bench_cuda_models_match_torch_on_the_cpu():
    """The builders make the same networks in nnfast and torch (same state-dict names, same
    loss): torch's eager participant, run on the CPU, reproduces nnfast CPU's losses, and
    the check against nnfast CPU catches a weight that is off."""
    import torch   # a test dependency (pyproject [test])
    import nnfast as nf
    from nnfast.bench import cuda_cases as cc
    for case in cc.cases(smoke=True):
        prob = cc.make_problem(case)
        ref = cc.nnfast_reference(nf, case, prob, 2)
        fn, info = cc.torch_participant(torch, "eager", case, prob, ref, 2, device="cpu")
        assert info["adam"].startswith("default")
        model, loss_fn, opt, batches = cc._nnfast_setup(nf, case, prob, "cpu")
        losses, grads, weights = cc._train_checked(model, loss_fn, opt, batches,
                                                   case["kind"], 2)
        assert cc.verdict_vs_cpu(ref, losses, grads, weights, 2)["ok"]
        name = next(iter(weights))
        bad = dict(weights, **{name: weights[name] + np.float32(0.01)})
        v = cc.verdict_vs_cpu(ref, losses, grads, bad, 2)
        assert not v["ok"] and name in v["errors"][0]


def test_bench_routes_device_cuda():
    from nnfast.bench.harness import _cuda_run
    assert _cuda_run(["--device", "cuda", "--quick"]) == ["--quick"]
    assert _cuda_run(["--only=cuda", "--json", "x"]) == ["--json", "x"]
    assert _cuda_run(["--only", "step", "--device=cpu"]) is None    # the CPU harness's
    assert _cuda_run(["--quick"]) is None
    with pytest.raises(SystemExit):
        _cuda_run(["--only", "step,cuda"])
