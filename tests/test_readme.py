"""The README's code runs as written and does what it says."""
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_port_example_trains_and_prints_pytorch_shapes(capsys):
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    ns = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    out = capsys.readouterr().out.strip()
    loss_text, shape_text = out.split(" ", 1)
    assert 0.0 < float(loss_text) < 5.0
    assert shape_text == "torch.Size([128, 64])"
    assert ns["model"].state_dict()["0.weight"].shape == (128, 64)


def test_readme_tutorial_runs_in_order_and_its_claims_hold(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the files the blocks write (mlp.onnx, ...) land there
    blocks = _python_blocks()[1:]
    assert len(blocks) >= 5, "the tutorial blocks are missing"
    ns = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md (tutorial block {i + 1})", "exec"), ns)
    out = capsys.readouterr().out
    assert ns["accuracy"] > 0.95, out
    assert np.bincount(ns["y_smote"])[3] == np.bincount(ns["y_smote"]).max()
    assert max(ns["history"]["val_accuracy"]) > 0.95
    assert ns["same"] is True or ns["same"] == np.True_
    assert "restored model gives identical outputs: True" in out
    assert "onnxruntime agrees: True" in out and "grid search: best" in out


def test_ci_runs_the_readme_test_command():
    readme = open(os.path.join(ROOT, "README.md")).read()
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    line = next(ln for ln in readme.splitlines() if "pytest" in ln and ln.startswith("pip "))
    install, test = (part.strip() for part in line.split("#")[0].split("&&"))
    assert install.replace("pip ", "python3 -m pip ", 1) in ci
    assert "python3 " + test.replace("python ", "", 1) in ci or test in ci
