"""The `nnfast` command: the README's main job, the user's own data, and helpful errors."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from nnfast import cli
from nnfast.datasets import load_digits, make_regression


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_train_on_digits_reaches_the_issue_bar(capsys, tmp_path):
    code, out, err = _run(capsys, "train", "--json", "--out", str(tmp_path / "run"))
    assert code == 0, err
    s = json.loads(out.strip().splitlines()[-1])
    assert s["dataset"] == "digits" and s["rows"] == 1797 and s["task"] == "classify"
    assert s["test_accuracy"] >= 0.96
    for f in ("model.nnf", "checkpoint.nnf", "history.csv", "summary.json"):
        assert (tmp_path / "run" / f).exists(), f
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["test_accuracy"] == \
        s["test_accuracy"]


def test_human_readable_summary(capsys, tmp_path):
    code, out, err = _run(capsys, "train", "--epochs", "3", "--out", str(tmp_path))
    assert code == 0
    assert "test accuracy" in out and "digits" in out and "wrote" in out
    assert "epoch 3/3" in err  # per-epoch lines go to stderr with the (silent) progress bar


def _write_digits_csv(path):
    d = load_digits()
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"p{i}" for i in range(64)] + ["label"])
        for x, y in zip(d.data, d.target):
            w.writerow([int(v) for v in x] + [names[y]])


def test_csv_with_string_labels_then_predict(capsys, tmp_path):
    data = tmp_path / "digits.csv"
    _write_digits_csv(data)
    code, out, err = _run(capsys, "train", "--data", str(data), "--target", "label", "--json",
                          "--out", str(tmp_path / "m"), "--hidden", "64", "--epochs", "30")
    assert code == 0, err
    s = json.loads(out)
    assert s["test_accuracy"] > 0.9 and "seven" in s["classes"]
    code, out, err = _run(capsys, "predict", "--model", str(tmp_path / "m"), "--data", str(data),
                          "--output", str(tmp_path / "p.csv"))
    assert code == 0, err
    rows = list(csv.reader(open(tmp_path / "p.csv")))
    assert rows[0][0] == "prediction" and len(rows) == 1798
    truth = [r[-1] for r in csv.reader(open(data))][1:]
    acc = np.mean([p[0] == t for p, t in zip(rows[1:], truth)])
    assert acc > 0.9
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)


def test_npz_regression(capsys, tmp_path):
    x, y = make_regression(400, 5, noise=0.1, random_state=0)
    np.savez(tmp_path / "reg.npz", X=x, y=y)
    code, out, err = _run(capsys, "train", "--data", str(tmp_path / "reg.npz"), "--json",
                          "--out", str(tmp_path / "r"))
    assert code == 0, err
    s = json.loads(out)
    assert s["task"] == "regress" and s["test_r2"] > 0.9
    code, out, err = _run(capsys, "predict", "--model", str(tmp_path / "r"), "--data",
                          str(tmp_path / "reg.npz"), "--output", str(tmp_path / "p.csv"))
    assert code == 0, err


@pytest.mark.parametrize("extra", [
    ["--schedule", "onecycle", "--optimizer", "adamw", "--activation", "gelu"],
    ["--resample", "smote", "--class-weight", "balanced", "--dropout", "0.1"],
    ["--resample", "under", "--l1", "1e-5", "--l2", "1e-4", "--schedule", "plateau"],
    ["--optimizer", "sgd", "--lr", "0.05", "--schedule", "cosine", "--hidden", "32,32"],
])
def test_training_options(capsys, tmp_path, extra):
    code, out, err = _run(capsys, "train", "--json", "--epochs", "15", "--out", str(tmp_path),
                          *extra)
    assert code == 0, err
    assert json.loads(out)["test_accuracy"] > 0.85


def _error(capsys, *argv):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    return err


def test_helpful_errors(capsys, tmp_path):
    assert "no such file" in _error(capsys, "train", "--data", str(tmp_path / "nope.csv"))
    good = tmp_path / "ok.csv"
    good.write_text("a,b,y\n1,2,0\n3,4,1\n")
    assert "no column named 'label'" in _error(capsys, "train", "--data", str(good),
                                                "--target", "label")
    text = tmp_path / "text.csv"
    text.write_text("a,colour,y\n1,red,0\n2,blue,1\n")
    assert "non-numeric feature column(s): 'colour'" in _error(capsys, "train", "--data",
                                                               str(text))
    nan = tmp_path / "nan.csv"
    nan.write_text("a,b,y\n1,,0\n2,nan,1\n3,4,1\n")
    assert "'b' (2 rows: lines 2, 3)" in _error(capsys, "train", "--data", str(nan))
    np.savez(tmp_path / "bad.npz", X=np.array([[1.0, np.nan]]), y=np.array([1]))
    assert "NaN" in _error(capsys, "train", "--data", str(tmp_path / "bad.npz"))
    assert "--hidden" in _error(capsys, "train", "--hidden", "12,abc")
    assert "no model" in _error(capsys, "predict", "--model", str(tmp_path / "none"),
                                "--data", str(good))


def test_info_names_the_kernel_set(capsys):
    code, out, _ = _run(capsys, "info")
    assert code == 0 and "GEMM kernels:" in out


def test_console_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "nnfast.cli", "info"], capture_output=True,
                       text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert r.returncode == 0, r.stderr
    assert "nnfast" in r.stdout
