"""save_model + `nnfast predict` for every kind of model fit() trains: nnfast's layer families,
containers and custom Modules (found again through --import), and forged files refused with a
message before anything large is allocated (nnfast/_module_tree.py, nnfast/_cli_model.py)."""
import csv
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import nnfast as nf
import nnfast.nn.functional as F
from nnfast import cli, nn
from nnfast._cli_model import read_model_file
from nnfast.train import fit, predict, save_model


class Scaled(nn.Module):
    """A custom Module: plain attributes, an nnfast function, a direct parameter, buffers."""

    def __init__(self, n_in=5, hidden=7, n_out=3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, n_out)
        self.gain = nn.Parameter(nf.ones(hidden) * 0.5)
        self.register_buffer("shift", nf.full((hidden,), 0.1))
        self.register_buffer("mask", nf.ones(hidden), persistent=False)
        self.act, self.power, self.sizes = F.silu, 2, (n_in, hidden)

    def forward(self, x):
        h = self.act(self.body(x) * self.gain + self.shift) * self.mask
        return self.head(h ** self.power)


class Recurrent(nn.Module):
    def __init__(self, kind="LSTM"):
        super().__init__()
        self.emb = nn.Embedding(11, 6, padding_idx=0)
        self.rnn = getattr(nn, kind)(6, 8, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Linear(16, 4)

    def forward(self, tokens):
        seq = self.rnn(self.emb(tokens))[0]
        return F.log_softmax(self.out(seq[:, -1]), dim=-1)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 8)
        self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True,
                                                                     dropout=0.0), 2)
        self.head = nn.Linear(8, 2)

    def forward(self, x):   # (n, 4, 3): four steps of three features
        return self.head(self.enc(self.proj(x)).mean(1))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, stride=2, groups=2),
                         nn.GroupNorm(2, 6), nn.GELU(), nn.AdaptiveAvgPool2d((2, 2)),
                         nn.Dropout2d(0.1), nn.Flatten(), nn.Linear(24, 3))


def _upsampling():
    return nn.Sequential(nn.Unflatten(1, (2, 4, 4)), nn.ConvTranspose2d(2, 3, 2, stride=2),
                         nn.ReflectionPad2d(1), nn.Upsample(scale_factor=0.5, mode="bilinear"),
                         nn.AvgPool2d(2, ceil_mode=True), nn.Flatten(), nn.LayerNorm(27),
                         nn.Linear(27, 1))


def _conv1d():
    return nn.Sequential(nn.Conv1d(2, 5, 3, padding="same"),
                         nn.ELU(), nn.MaxPool1d(2), nn.BatchNorm1d(5), nn.Conv1d(5, 4, 2),
                         nn.AdaptiveMaxPool1d(1), nn.Flatten(), nn.Softmax(dim=1))


def _residual():
    return nn.Sequential(nn.Linear(4, 8), nn.Residual(nn.Sequential(nn.Linear(8, 8),
                                                                    nn.Hardswish())),
                         nn.Residual(nn.Linear(8, 6), shortcut=nn.Linear(8, 6, bias=False)),
                         nn.Mish(), nn.Linear(6, 2))


# (model maker, sample shape, inputs dtype, task)
CASES = {
    "cnn": (_cnn, (1, 10, 10), "float32", "classify"),
    "upsampling": (_upsampling, (32,), "float32", "regress"),
    "conv1d": (_conv1d, (2, 9), "float32", "classify"),
    "residual": (_residual, (4,), "float32", "classify"),
    "custom": (Scaled, (5,), "float32", "classify"),
    "lstm": (lambda: Recurrent("LSTM"), (7,), "int64", "classify"),
    "gru": (lambda: Recurrent("GRU"), (7,), "int64", "classify"),
    "rnn": (lambda: Recurrent("RNN"), (7,), "int64", "classify"),
    "transformer": (Encoder, (4, 3), "float32", "classify"),
}


def _data(shape, dtype, task, n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 11, (n,) + shape) if dtype == "int64" else \
        rng.standard_normal((n,) + shape).astype(np.float32)
    y = rng.integers(0, 2, n) if task == "classify" else \
        rng.standard_normal((n, 1)).astype(np.float32)
    return x, y


def _trained(name, seed=0):
    make, shape, dtype, task = CASES[name]
    nf.manual_seed(seed)
    model = make()
    x, y = _data(shape, dtype, task)
    loss = nn.CrossEntropyLoss() if task == "classify" else nn.MSELoss()
    if name in ("lstm", "gru", "rnn"):
        loss = nn.NLLLoss()
    fit(model, loss, nf.optim.Adam(model.parameters(), lr=0.01), (x, y), epochs=2,
        batch_size=16, verbose=0)
    return model, x


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_family_saves_and_serves_bit_for_bit(tmp_path, capsys, name):
    model, x = _trained(name)
    make, shape, dtype, task = CASES[name]
    meta = {"task": task, "input_shape": shape}
    if name in ("custom", "residual"):
        del meta["input_shape"]   # read off the first Linear layer
    save_model(model, tmp_path / "m.nnf", meta=meta)
    f = read_model_file(str(tmp_path / "m.nnf"))
    built = f.build()
    assert type(built) is type(model) and repr(built) == repr(model) and not built.training
    assert f.meta["input_dtype"] == dtype and f.meta["input_shape"] == list(shape)
    want = predict(model, x)
    assert np.array_equal(predict(built, x), want)
    assert np.array_equal(predict(built, f.inputs(x.reshape(len(x), -1).astype(np.float64))),
                          want)
    # and the command: rows of features in, one prediction per row out
    np.savez(tmp_path / "x.npz", X=x.reshape(len(x), -1))
    assert cli.main(["predict", "--model", str(tmp_path / "m.nnf"), "--data",
                     str(tmp_path / "x.npz"), "--output", str(tmp_path / "p.csv")]) == 0
    rows = _read_csv(tmp_path / "p.csv")[1:]
    if task == "classify":
        assert [int(r[0]) for r in rows] == list(want.argmax(1))
        prob = np.array([r[1:] for r in rows], float)
        np.testing.assert_allclose(prob.sum(1), 1, atol=1e-5)
        ref = np.exp(want) if name in ("lstm", "gru", "rnn") else want if name == "conv1d" \
            else np.exp(want - want.max(1, keepdims=True))
        np.testing.assert_allclose(prob, ref / ref.sum(1, keepdims=True), atol=2e-6)
    else:
        np.testing.assert_allclose(np.array(rows, float), want, rtol=1e-5, atol=1e-6)


def test_a_custom_class_is_found_again_only_through_import(tmp_path, capsys, monkeypatch):
    (tmp_path / "shop_models.py").write_text(textwrap.dedent("""
        import nnfast.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Linear(3, 4)
                self.b = nn.Linear(4, 2)
                self.slope = 0.2

            def forward(self, x):
                return self.b(nn.functional.leaky_relu(self.a(x), self.slope))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import shop_models
    nf.manual_seed(4)
    model = shop_models.Net()
    save_model(model, tmp_path / "m.nnf", meta={"classes": ["a", "b"]})
    x = np.random.default_rng(1).standard_normal((6, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", X=x)
    argv = ["predict", "--model", str(tmp_path / "m.nnf"), "--data", str(tmp_path / "x.npz"),
            "--output", str(tmp_path / "p.csv")]
    monkeypatch.delitem(sys.modules, "shop_models")   # a fresh `nnfast predict` process
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "shop_models:Net" in err and "--import shop_models" in err, err
    assert "shop_models" not in sys.modules            # the file alone imported nothing
    monkeypatch.chdir(tmp_path)                         # found in the current folder
    assert cli.main(argv + ["--import", "shop_models"]) == 0
    labels = np.array(["a", "b"])[predict(model, x).argmax(1)]
    assert [r[0] for r in _read_csv(tmp_path / "p.csv")[1:]] == list(labels)


def test_save_model_refuses_what_a_file_cannot_hold(tmp_path):
    class Local(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(ValueError, match="inside a function"):
        save_model(Local(), tmp_path / "x.nnf", meta={"input_shape": (2,)})
    m = Scaled()
    m.act = lambda t: t
    with pytest.raises(ValueError, match=r"model\.act is a function"):
        save_model(m, tmp_path / "x.nnf")
    with pytest.raises(ValueError, match="input_shape"):
        save_model(_cnn(), tmp_path / "x.nnf")
    with pytest.raises(ValueError, match="does not run on a batch of input_shape"):
        save_model(_cnn(), tmp_path / "x.nnf", meta={"input_shape": (3, 10, 10)})
    with pytest.raises(ValueError, match="returned a tuple"):
        save_model(nn.LSTM(3, 4), tmp_path / "x.nnf", meta={"input_shape": (2, 3)})
    with pytest.raises(ValueError, match="one output row per input"):
        save_model(nn.Conv1d(2, 2, 1), tmp_path / "x.nnf", meta={"input_shape": (2, 5)})
    with pytest.raises(TypeError, match="nnfast.nn.Module"):
        save_model(lambda x: x, tmp_path / "x.nnf")
    with pytest.raises(ValueError, match="feature names"):
        save_model(nn.Linear(2, 1), tmp_path / "x.nnf", meta={"features": ["a"]})
    with pytest.raises(ValueError, match="n_features_in_"):
        from nnfast.data import StandardScaler
        save_model(nn.Linear(2, 1), tmp_path / "x.nnf",
                   scaler=StandardScaler().fit(np.zeros((3, 5))))
    assert not (tmp_path / "x.nnf").exists()


# ------------------------------------------------------------------------- forged files
def _forge(tmp_path, edit, model=None, shape=(3,)):
    nf.manual_seed(0)
    model = model or nn.Sequential(nn.Linear(3, 4), nn.PReLU(4), nn.BatchNorm1d(4),
                                   nn.Linear(4, 2))
    save_model(model, tmp_path / "m.nnf", meta={"input_shape": shape})
    saved = nf.load(tmp_path / "m.nnf")
    edit(saved)
    nf.save(saved, tmp_path / "forged.nnf")
    np.savez(tmp_path / "x.npz", X=np.zeros((2, int(np.prod(shape))), np.float32))
    return ["predict", "--model", str(tmp_path / "forged.nnf"), "--data",
            str(tmp_path / "x.npz")]


def _node(saved, *path):
    node = saved["meta"]["tree"]
    for i in path:
        node = node["children"][i][1]
    return node


def _nest(saved, depth):
    node = _node(saved)
    for _ in range(depth):
        node = {"class": "nnfast.nn:Sequential", "attrs": {}, "params": [], "buffers": [],
                "children": [["0", node]]}
    saved["meta"]["tree"] = node


FORGERIES = [
    (lambda s: _node(s, 1).__setitem__("class", "os:system"), "not an nnfast.nn.Module"),
    (lambda s: _node(s, 1).__setitem__("class", "builtins:object"), "not an nnfast.nn.Module"),
    (lambda s: _node(s, 1).__setitem__("class", "antigravity:Fly"), "--import antigravity"),
    (lambda s: _node(s, 1).__setitem__("class", "nnfast.nn:Linear.__init__"), "not an nnfast"),
    (lambda s: _node(s, 1)["attrs"].__setitem__("_parameters", {}), "Module's own"),
    (lambda s: _node(s, 1)["attrs"].__setitem__("__class__", 1), "Module's own"),
    (lambda s: _node(s, 1)["attrs"].__setitem__("a.b", 1), "usable attribute name"),
    (lambda s: _node(s, 1)["attrs"].__setitem__("f", {"__nnfast_function__": "os:system"}),
     "not an nnfast function"),
    (lambda s: _node(s, 1)["attrs"].__setitem__("f", {1: 2}), "str keys"),
    (lambda s: _node(s, 0)["params"].append(["extra", True]), "no '0.extra'"),
    (lambda s: _node(s, 0).__setitem__("params", [["weight", True], ["weight", True]]),
     "given twice"),
    (lambda s: _node(s).pop("buffers"), "must hold exactly"),
    (lambda s: s["model"].pop("3.bias"), "no '3.bias'"),
    (lambda s: s["model"].__setitem__("9.weight", np.zeros(1, np.float32)), "unexpected"),
    (lambda s: s["model"].__setitem__("0.weight", np.zeros((4, 3), np.int64)), "float"),
    (lambda s: s["model"]["0.weight"].__setitem__((0, 0), np.nan), "NaN"),
    (lambda s: s["model"].__setitem__("2.num_batches_tracked", np.zeros(3, np.float32)),
     "not an integer count"),
    # weights of other sizes than the layers say: the layer's own check, in the probe
    (lambda s: (s["model"].__setitem__("0.weight", np.zeros((9, 3), np.float32)),
                s["model"].__setitem__("0.bias", np.zeros(9, np.float32))), "does not run"),
    (lambda s: s["meta"].update(n_out=5, classes=list("abcde")), "the metadata says 5 outputs"),
    (lambda s: s["meta"].__setitem__("input_shape", [4]), "n_in = 3 is not the size"),
    (lambda s: s["meta"].__setitem__("input_shape", [2 ** 40]), "input_shape[0]"),
    (lambda s: s["meta"].__setitem__("input_dtype", "object"), "input_dtype"),
    (lambda s: s["meta"].__setitem__("output", "values"), "cannot give values"),
    (lambda s: s["meta"].__setitem__("classes", ["a"]), "classes"),
    (lambda s: s["meta"].__setitem__("layers", s["meta"].pop("tree")), "older nnfast"),
    (lambda s: _nest(s, 34), "levels"),
]


@pytest.mark.parametrize("edit, message", FORGERIES)
def test_forged_files_are_refused_with_a_message(tmp_path, capsys, edit, message):
    argv = _forge(tmp_path, edit)
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "antigravity" not in sys.modules


def _big_padding(s):
    _node(s, 1)["attrs"]["padding"] = (10 ** 9, 10 ** 9)


def _upsample_chain(s):
    up = {"class": "nnfast.nn:Upsample", "attrs": {
        "name": "Upsample", "size": None, "scale_factor": 64.0, "mode": "nearest",
        "align_corners": None, "recompute_scale_factor": None},
        "params": [], "buffers": [], "children": []}
    s["meta"]["tree"]["children"][1:1] = [[f"u{i}", up] for i in range(4)]


@pytest.mark.parametrize("edit, message", [(_big_padding, "is beyond 1024"),
                                           (_upsample_chain, "values for one sample")])
def test_forged_sizes_fail_before_they_allocate(tmp_path, capsys, edit, message):
    model = nn.Sequential(nn.Unflatten(1, (1, 3, 3)), nn.Conv2d(1, 2, 3, padding=1),
                          nn.Flatten(), nn.Linear(18, 2))
    argv = _forge(tmp_path, edit, model, shape=(9,))
    tracemalloc.start()
    code = cli.main(argv)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert peak < 600 * 2 ** 20   # the probe stops at its cap (256 MB), not at 64^8 values


def test_nnfast_export_takes_a_saved_cnn_rows_in(tmp_path, capsys):
    import onnxruntime as ort

    from nnfast.data import StandardScaler
    model, x = _trained("cnn")
    rows = x.reshape(len(x), -1) * 3 + 1
    scaler = StandardScaler().fit(rows)
    save_model(model, tmp_path / "m.nnf", scaler=scaler, meta={"input_shape": (1, 10, 10)})
    assert cli.main(["export", "--model", str(tmp_path / "m.nnf"), "--onnx",
                     str(tmp_path / "m.onnx")]) == 0
    got = ort.InferenceSession(str(tmp_path / "m.onnx")).run(
        None, {"features": rows.astype(np.float32)})[0]
    want = predict(model, scaler.transform(rows).astype(np.float32).reshape(x.shape))
    np.testing.assert_allclose(got, want, atol=1e-5)
