"""`nnfast train` / `nnfast predict` on files other tools wrote (issue 14, CLI input).

Every bad file must give one line on stderr ("nnfast <command>: error: ..." naming the file,
the line and the column where there is one) and exit status 2, never a traceback; and a
model file's metadata is checked against its weights before anything is built.
"""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import nnfast as nf
from nnfast import cli
from nnfast._cli_model import build_mlp, mlp_plan, mlp_state_shapes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    return [[f"{a:.4f}", f"{b:.4f}", str(int(a + b > 0))] for a, b in x]


def _write(path, header, rows, encoding="utf-8", bom=False):
    text = "\n".join(",".join(r) for r in [header] + rows) + "\n"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
    return str(path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model (2-8-8-2) trained on columns a, b -> y: its run folder."""
    d = tmp_path_factory.mktemp("cli_inputs")
    data = _write(d / "train.csv", ["a", "b", "y"], _rows())
    code = cli.main(["train", "--data", data, "--json", "--epochs", "1", "--hidden", "8,8",
                     "--out", str(d / "run")])
    assert code == 0
    return d / "run"


def _main(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _fails(capsys, *argv):
    """The single error line of a run that must fail with status 2."""
    code, _, err = _main(capsys, *argv)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"nnfast {argv[0]}: error: "), lines[0]
    return lines[0]


def _predict(capsys, run, data, tmp_path, *extra):
    return _fails(capsys, "predict", "--model", run, "--data", data,
                  "--output", tmp_path / "p.csv", *extra)


# ---------------------------------------------------------------- values float32 cannot hold

@pytest.mark.parametrize("value, says", [("inf", "not a finite number"),
                                         ("-Infinity", "not a finite number"),
                                         ("1e39", "too large for float32")])
def test_non_finite_or_float32_overflowing_cells_are_named_by_line_and_column(
        capsys, tmp_path, run, value, says):
    rows = _rows()
    rows[4][1] = value  # file line 6: header, then rows 0..4
    data = _write(tmp_path / "bad.csv", ["a", "b", "y"], rows)
    for msg in (_fails(capsys, "train", "--data", data, "--epochs", "1", "--out", tmp_path),
                _predict(capsys, run, data, tmp_path)):
        assert "bad.csv: line 6, column 'b'" in msg and repr(value) in msg and says in msg


def test_regression_target_beyond_float32_is_named(capsys, tmp_path):
    rows = [[r[0], r[1], f"{float(r[0]) * 3.5:.3f}"] for r in _rows()]
    rows[9][2] = "1e39"
    data = _write(tmp_path / "reg.csv", ["a", "b", "y"], rows)
    msg = _fails(capsys, "train", "--data", data, "--task", "regress", "--out", tmp_path)
    assert "target column 'y': line 11" in msg and "'1e39'" in msg


def test_npz_features_beyond_float32_are_refused(capsys, tmp_path):
    x = np.ones((30, 3))
    x[7, 2] = 1e39
    np.savez(tmp_path / "big.npz", X=x, y=np.arange(30) % 2)
    msg = _fails(capsys, "train", "--data", tmp_path / "big.npz", "--out", tmp_path)
    assert "row 7, column 2" in msg and "float32" in msg


# ---------------------------------------------------------------- text encodings

def test_latin1_bytes_name_the_line_and_the_encoding_option(capsys, tmp_path):
    rows = _rows()
    data = _write(tmp_path / "latin.csv", ["a", "b", "catégorie"], rows, encoding="latin-1")
    msg = _fails(capsys, "train", "--data", data, "--out", tmp_path)
    assert "latin.csv: line 1" in msg and "--encoding" in msg
    code, out, err = _main(capsys, "train", "--data", data, "--encoding", "latin-1", "--json",
                           "--epochs", "1", "--hidden", "4", "--out", tmp_path / "m")
    assert code == 0, err
    assert nf.load(tmp_path / "m" / "model.nnf")["meta"]["target"] == "catégorie"
    assert "unknown --encoding 'klingon'" in _fails(capsys, "train", "--data", data,
                                                    "--encoding", "klingon")


def test_utf16_file_is_read_with_encoding_and_named_without(capsys, tmp_path):
    data = _write(tmp_path / "u16.csv", ["a", "b", "y"], _rows(), encoding="utf-16")
    assert "--encoding utf-16" in _fails(capsys, "train", "--data", data, "--out", tmp_path)
    code, _, err = _main(capsys, "train", "--data", data, "--encoding", "utf-16", "--json",
                         "--epochs", "1", "--hidden", "4", "--out", tmp_path / "m")
    assert code == 0, err


def test_utf8_bom_before_the_header_is_not_part_of_the_first_name(capsys, tmp_path, run):
    rows = [[r[2], r[0], r[1]] for r in _rows()]  # the first column is the target
    data = _write(tmp_path / "bom.csv", ["y", "a", "b"], rows, bom=True)
    code, _, err = _main(capsys, "train", "--data", data, "--target", "y", "--json",
                         "--epochs", "1", "--hidden", "4", "--out", tmp_path / "m")
    assert code == 0, err
    assert nf.load(tmp_path / "m" / "model.nnf")["meta"]["features"] == ["a", "b"]
    code, _, err = _main(capsys, "predict", "--model", run, "--data", data,
                         "--output", tmp_path / "p.csv")  # trained on a file without a BOM
    assert code == 0, err


# ---------------------------------------------------------------- table shape

def test_ragged_rows_are_named_by_their_file_line(capsys, tmp_path, run):
    rows = _rows()
    rows[5] = rows[5][:2]
    text = "\n".join(",".join(r) for r in [["a", "b", "y"]] + rows[:3] + [[""]] + rows[3:])
    (tmp_path / "ragged.csv").write_text(text + "\n")  # a blank line 5, the short row on 8
    data = tmp_path / "ragged.csv"
    for msg in (_fails(capsys, "train", "--data", data, "--out", tmp_path),
                _predict(capsys, run, data, tmp_path)):  # predict used to read past it
        assert "ragged.csv: line 8 has 2 fields, the header has 3" in msg


def test_a_quoted_newline_keeps_line_numbers_right(capsys, tmp_path):
    rows = _rows()
    text = "a,b,y,c\n" + "".join(f'{r[0]},{r[1]},{r[2]},"7\n"\n' for r in rows[:3])
    text += f"{rows[3][0]},inf,1,7\n"  # 3 records of 2 lines each: record 4 is on line 8
    (tmp_path / "q.csv").write_text(text + "".join(",".join(r) + ",7\n" for r in rows[4:]))
    msg = _fails(capsys, "train", "--data", tmp_path / "q.csv", "--target", "y",
                 "--out", tmp_path)
    assert "line 8, column 'b'" in msg


def test_a_table_without_feature_columns_is_refused(capsys, tmp_path):
    (tmp_path / "one.csv").write_text("y\n0\n1\n")
    assert "no feature columns besides the target 'y'" in _fails(
        capsys, "train", "--data", tmp_path / "one.csv", "--out", tmp_path)


def test_csv_module_errors_are_one_line_with_the_line(capsys, tmp_path):
    rows = _rows()
    rows[2][0] = "x" * 200_000  # beyond csv's field size limit
    data = _write(tmp_path / "wide.csv", ["a", "b", "y"], rows)
    assert "wide.csv: line 4: field larger than field limit" in _fails(
        capsys, "train", "--data", data, "--out", tmp_path)


def test_duplicate_column_names_are_refused_in_train_and_predict(capsys, tmp_path, run):
    data = _write(tmp_path / "dup.csv", ["a", "a", "y"], _rows())
    for msg in (_fails(capsys, "train", "--data", data, "--out", tmp_path),
                _predict(capsys, run, data, tmp_path)):
        assert "dup.csv: duplicate column name 'a' (columns 1 and 2" in msg
    data = _write(tmp_path / "dup2.csv", ["a", "b", "b", "y"],  # a duplicate predict ignores
                  [r[:2] + r[1:] for r in _rows()])
    assert "duplicate column name 'b'" in _predict(capsys, run, data, tmp_path)


def test_a_model_trained_on_duplicate_names_is_refused(capsys, tmp_path, run):
    saved = nf.load(run / "model.nnf")
    saved["meta"]["features"] = ["a", "a"]  # what train wrote before duplicates were refused
    nf.save(saved, tmp_path / "dup.nnf")
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    assert "two columns named 'a'" in _predict(capsys, tmp_path / "dup.nnf", data, tmp_path)


# ---------------------------------------------------------------- model files

def test_checkpoint_given_as_model_is_named_as_such(capsys, tmp_path, run):
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    msg = _predict(capsys, run / "checkpoint.nnf", data, tmp_path)
    assert "checkpoint.nnf is a training checkpoint" in msg and "model.nnf" in msg
    nf.save(nf.load(run / "model.nnf")["model"], tmp_path / "sd.nnf")  # a bare state dict
    assert "not a model written by `nnfast train`" in _predict(capsys, tmp_path / "sd.nnf",
                                                               data, tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_model_file_is_one_line(capsys, tmp_path, run, damage):
    good = (run / "model.nnf").read_bytes()
    bad = {"garbage": b"PK\x03\x04" + b"\x00junk" * 50, "truncated": good[:len(good) // 2],
           "empty": b""}[damage]
    (tmp_path / "bad.nnf").write_bytes(bad)
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    assert "bad.nnf" in _predict(capsys, tmp_path / "bad.nnf", data, tmp_path)


def _forged(run, tmp_path, **meta):
    saved = nf.load(run / "model.nnf")
    saved["meta"].update(meta)
    nf.save(saved, tmp_path / "forged.nnf")
    return tmp_path / "forged.nnf"


def test_metadata_is_checked_against_the_weights_before_building(capsys, tmp_path, run):
    # a few-KB file whose metadata asks for a 4000x4000 layer (64 MB) over 8-wide weights
    forged = _forged(run, tmp_path, hidden=[4000, 4000])
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    tracemalloc.start()
    try:
        msg = _predict(capsys, forged, data, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "weights do not match the metadata" in msg and "(4000, 2)" in msg
    assert peak < 16 * 2 ** 20, f"{peak / 2 ** 20:.0f} MiB allocated before refusing"


@pytest.mark.parametrize("meta, says", [
    ({"n_in": 10 ** 12}, "not a usable layer size"),
    ({"hidden": [-3]}, "hidden[0] = -3 is not a usable layer size"),
    ({"hidden": "8"}, "hidden must be a list"),
    ({"hidden": [8] * 1000}, "1000 hidden layers, but the file holds only 6"),
    ({"hidden": [8.5]}, "hidden[0] must be an integer"),
    ({"n_out": True}, "n_out must be an integer"),
    ({"activation": "os.system"}, "unknown activation"),
    ({"features": ["a"]}, "1 features for 2 inputs"),
    ({"classes": None}, "classes must be a list of names"),
    ({"dropout": 7}, "dropout must be in [0, 1)"),
    ({"task": "regress"}, "a regression model has 1 output"),
])
def test_absurd_or_inconsistent_metadata_is_refused(capsys, tmp_path, run, meta, says):
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    msg = _predict(capsys, _forged(run, tmp_path, **meta), data, tmp_path)
    assert "forged.nnf" in msg and says in msg


def test_forged_weights_and_scaler_are_refused(capsys, tmp_path, run):
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    saved = nf.load(run / "model.nnf")
    saved["model"]["0.weight"] = np.full((8, 2), np.nan, np.float32)
    nf.save(saved, tmp_path / "w.nnf")
    assert "'0.weight' holds NaN" in _predict(capsys, tmp_path / "w.nnf", data, tmp_path)
    saved = nf.load(run / "model.nnf")
    saved["model"]["9.weight"] = np.zeros(3, np.float32)
    nf.save(saved, tmp_path / "w.nnf")
    assert "unexpected entry '9.weight'" in _predict(capsys, tmp_path / "w.nnf", data, tmp_path)
    saved = nf.load(run / "model.nnf")
    saved["scaler"]["scale_"] = np.ones(5)
    nf.save(saved, tmp_path / "s.nnf")
    assert "scaler's scale_" in _predict(capsys, tmp_path / "s.nnf", data, tmp_path)


@pytest.mark.parametrize("activation, dropout", [("relu", 0.0), ("prelu", 0.2), ("gelu", 0.1)])
def test_the_weight_check_matches_what_build_mlp_makes(activation, dropout):
    model = build_mlp(3, [5, 4], 2, activation, dropout)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == mlp_state_shapes(mlp_plan(3, [5, 4], 2, activation, dropout))


# ---------------------------------------------------------------- any other failure

def test_other_failures_are_one_line_too(capsys, tmp_path, run):
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    msg = _fails(capsys, "predict", "--model", run, "--data", data,
                 "--output", tmp_path / "no" / "such" / "dir" / "p.csv")
    assert "FileNotFoundError" in msg and "p.csv" in msg
    with pytest.raises(SystemExit) as exit_:  # argparse's usage errors
        cli.main(["train", "--epochs", "many"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("nnfast train: error: argument --epochs") and "--help" in err


def test_keyboard_interrupt_is_not_swallowed(monkeypatch, tmp_path):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "cmd_predict", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["predict", "--model", str(tmp_path), "--data", str(tmp_path / "x.csv")])


def test_no_traceback_from_the_installed_command(tmp_path, run):
    (tmp_path / "bad.nnf").write_bytes(b"\x00" * 64)
    data = _write(tmp_path / "x.csv", ["a", "b", "y"], _rows())
    r = subprocess.run([sys.executable, "-m", "nnfast.cli", "predict", "--model",
                        str(tmp_path / "bad.nnf"), "--data", data], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("nnfast predict: error: ")
