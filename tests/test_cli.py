"""The `nnfast` command: the README's main job."""
import json
import subprocess
import sys

from nnfast import cli


def test_train_json_reaches_good_accuracy(capsys):
    assert cli.main(["train", "--epochs", "4", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["test_accuracy"] >= 0.9
    assert summary["steps"] > 0 and summary["model"].startswith("20-")


def test_train_is_repeatable_with_a_seed(capsys):
    cli.main(["train", "--epochs", "1", "--json", "--seed", "3"])
    a = json.loads(capsys.readouterr().out.strip())
    cli.main(["train", "--epochs", "1", "--json", "--seed", "3"])
    b = json.loads(capsys.readouterr().out.strip())
    assert a["test_accuracy"] == b["test_accuracy"]


def test_info_names_the_kernel_set(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "GEMM kernels:" in out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "nnfast.cli", "info"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "nnfast" in r.stdout
