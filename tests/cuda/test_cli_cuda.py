"""`nnfast train --device cuda` and `nnfast predict --device cuda` give the CPU's results."""
import json

import numpy as np

from nnfast import cli


def _csv(path, n=24):
    g = np.random.default_rng(0)
    x = g.standard_normal((n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    with open(path, "w") as f:
        f.write("a,b,c,label\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    return path


def test_train_and_predict_on_cuda_match_the_cpu(tmp_path, capsys):
    data = str(_csv(tmp_path / "d.csv"))
    summaries = {}
    for device in ("cpu", "cuda"):
        out = str(tmp_path / device)
        code = cli.main(["train", "--data", data, "--device", device, "--epochs", "2",
                         "--hidden", "4", "--batch-size", "8", "--patience", "5",
                         "--out", out, "--json"])
        text = capsys.readouterr().out
        assert code == 0, text
        summaries[device] = json.loads(text)
        code = cli.main(["predict", "--model", out, "--data", data, "--device", device,
                         "--output", str(tmp_path / f"{device}.pred.csv")])
        assert code == 0, capsys.readouterr()
        assert "wrote 24 predictions" in capsys.readouterr().out
    cpu, gpu = summaries["cpu"], summaries["cuda"]
    assert gpu["epochs_run"] == cpu["epochs_run"]
    np.testing.assert_allclose(gpu["best_val_loss"], cpu["best_val_loss"], rtol=1e-5)
    assert gpu["test_accuracy"] == cpu["test_accuracy"]
    assert (tmp_path / "cpu.pred.csv").read_text() == (tmp_path / "cuda.pred.csv").read_text()
