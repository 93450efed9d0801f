"""nnfast.onnx.export: each layer family exported, checked by onnx.checker, run in onnxruntime
at two batch sizes (the dynamic batch axis) and held to nnfast's own output; the refusals;
`nnfast export` on a `nnfast train` folder."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
import nnfast.onnx as nf_onnx

ATOL = 1e-5
BATCHES = (3, 5)


def _numpy(t):
    return t.detach().numpy()


def roundtrip(model, make_inputs, atol=ATOL, **export_kw):
    """Export on make_inputs(BATCHES[0]); run both batch sizes in onnxruntime; compare every
    output with nnfast's (eval mode). Returns the largest difference seen."""
    nf.manual_seed(0)
    buf = io.BytesIO()
    proto = nf_onnx.export(model, make_inputs(BATCHES[0]), buf, **export_kw)
    onnx.checker.check_model(proto, full_check=True)
    sess = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    model.eval()
    worst = 0.0
    for b in BATCHES:
        xs = make_inputs(b)
        got = sess.run(None, {i.name: _numpy(x) for i, x in zip(sess.get_inputs(), xs)})
        with nf.no_grad():
            ref = model(*xs)
        refs = _flatten(ref)
        assert len(got) == len(refs)
        for g, r in zip(got, refs):
            assert g.shape == tuple(r.shape), (g.shape, tuple(r.shape))
            np.testing.assert_allclose(g, _numpy(r), atol=atol, rtol=1e-4)
            worst = max(worst, float(np.abs(g - _numpy(r)).max()))
    return worst


def _flatten(out):
    if isinstance(out, nf.Tensor):
        return [out]
    return [t for o in out if o is not None for t in _flatten(o)]


def feats(*shape):
    def make(b):
        rng = np.random.default_rng(b)
        return (nf.tensor(rng.standard_normal((b,) + shape).astype(np.float32)),)
    return make


def tokens(vocab, T):
    def make(b):
        return (nf.tensor(np.random.default_rng(b).integers(0, vocab, (b, T))),)
    return make


# -- dense layers and every activation -----------------------------------------------------------
def test_sequential_mlp():
    nf.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 8),
                          nn.Tanh(), nn.Linear(8, 4), nn.LogSoftmax(dim=1))
    roundtrip(model, feats(6))


ACTIVATIONS = [nn.ReLU(), nn.LeakyReLU(0.2), nn.PReLU(), nn.ELU(0.7), nn.Sigmoid(), nn.Tanh(),
               nn.GELU(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Softmax(dim=-1),
               nn.LogSoftmax(dim=1), nn.Softplus(beta=2.0, threshold=3.0), nn.Hardtanh(-0.5, 1.5),
               nn.ReLU6(), nn.Mish(), nn.Hardswish(), nn.Hardsigmoid(), nn.Softsign(),
               nn.LogSigmoid(), nn.Threshold(0.1, -2.0), nn.CELU(0.5), nn.SELU(),
               nn.Identity()]


@pytest.mark.parametrize("act", ACTIVATIONS, ids=lambda a: repr(a))
def test_activation(act):
    nf.manual_seed(2)
    # a scale of 4 reaches the saturated parts (Softplus's threshold, ReLU6's 6)
    model = nn.Sequential(nn.Linear(5, 7), act)
    model[0].weight.data = model[0].weight * 4
    roundtrip(model, feats(5))


def test_linear_on_3d_input_and_prelu_per_channel():
    nf.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.Unflatten(2, (2, 3)), nn.Flatten(1),
                          nn.Linear(12, 3, bias=False))
    roundtrip(model, feats(2, 4))
    conv = nn.Sequential(nn.Conv2d(2, 3, 1), nn.PReLU(3))
    roundtrip(conv, feats(2, 4, 4))


# -- convolution, pooling, normalization ----------------------------------------------------------
def test_cnn():
    nf.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.Conv2d(8, 6, 3, padding="same", bias=False), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(6, 3))
    _randomize_bn_stats(model)
    roundtrip(model, feats(3, 12, 12))


def test_conv1d_family():
    nf.manual_seed(5)
    model = nn.Sequential(nn.Conv1d(2, 4, 4, padding="same"), nn.BatchNorm1d(4), nn.ELU(),
                          nn.MaxPool1d(2, ceil_mode=True), nn.AvgPool1d(2),
                          nn.AdaptiveMaxPool1d(2), nn.Flatten(), nn.BatchNorm1d(8))
    _randomize_bn_stats(model)
    roundtrip(model, feats(2, 15))


def test_conv_transpose_and_groupnorm():
    nf.manual_seed(6)
    model = nn.Sequential(nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
                          nn.GroupNorm(3, 6), nn.SiLU(), nn.AdaptiveAvgPool2d((2, 5)))
    for p in model.parameters():
        p.data = nf.randn(*p.shape)
    roundtrip(model, feats(4, 5, 5))
    roundtrip(nn.Sequential(nn.ConvTranspose1d(3, 2, 3, stride=2, dilation=2)), feats(3, 6))


def test_layernorm_and_groupnorm_affine_off():
    nf.manual_seed(7)
    ln = nn.LayerNorm((4, 5))
    ln.weight.data, ln.bias.data = nf.randn(4, 5), nf.randn(4, 5)
    roundtrip(nn.Sequential(ln, nn.LayerNorm(5, elementwise_affine=False)), feats(4, 5))
    roundtrip(nn.Sequential(nn.GroupNorm(2, 4, affine=False)), feats(4, 3))


def _randomize_bn_stats(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.data = nf.randn(m.num_features) * 0.5
            m.running_var.data = nf.rand(m.num_features) + 0.5
            m.weight.data = nf.randn(m.num_features)


# -- recurrent layers -----------------------------------------------------------------------------
class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * 2 * 6, 3)

    def forward(self, x):
        out, (h, c) = self.lstm(x)
        # the final states of every layer and direction: (L*D, B, H) -> (B, L*D*H)
        return self.fc(h.transpose(0, 1).reshape(h.shape[1], -1)), out, c


def test_lstm_classifier():
    nf.manual_seed(8)
    roundtrip(LSTMClassifier(), feats(7, 4))


class LastStep(nn.Module):
    """The usual many-to-one classifier: the output at the last time step, by indexing."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1]), out[..., 1:5:2], out[:, 2, :3]


def test_indexing_between_layers():
    nf.manual_seed(15)
    roundtrip(LastStep(), feats(7, 4))


class GRUWithState(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(3, 5, num_layers=2)

    def forward(self, x, h0):
        return self.gru(x, h0)


def test_gru_seq_first_with_initial_state():
    nf.manual_seed(9)

    def make(b):   # (seq, batch, feature): the batch is dim 1 here
        rng = np.random.default_rng(b)
        return (nf.tensor(rng.standard_normal((6, b, 3)).astype(np.float32)),
                nf.tensor(rng.standard_normal((2, b, 5)).astype(np.float32)))
    axes = {"x": {1: "batch"}, "h0": {1: "batch"}, "out": {1: "batch"}, "hn": {1: "batch"}}
    roundtrip(GRUWithState(), make, input_names=["x", "h0"], output_names=["out", "hn"],
              dynamic_axes=axes)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn(nonlinearity):
    nf.manual_seed(10)
    model = nn.RNN(3, 4, nonlinearity=nonlinearity, batch_first=True, bidirectional=True)
    roundtrip(model, feats(5, 3))


def test_lstm_with_initial_state_and_no_bias():
    nf.manual_seed(11)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True, bias=False)

        def forward(self, x, h, c):
            return self.lstm(x, (h, c))[0]

    def make(b):
        rng = np.random.default_rng(b)
        return tuple(nf.tensor(rng.standard_normal(s).astype(np.float32))
                     for s in ((b, 5, 3), (1, b, 4), (1, b, 4)))
    axes = {"input_0": [0], "input_1": [1], "input_2": [1], "output": [0]}
    roundtrip(M(), make, dynamic_axes=axes)


class TextGRU(nn.Module):
    def __init__(self, vocab=20, dim=8, hidden=10, classes=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim, padding_idx=0)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.head = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, classes))

    def forward(self, tokens):
        _, h = self.gru(self.embed(tokens))
        return self.head(h.reshape(h.shape[1], -1))


def test_embedding_gru_text_model():
    nf.manual_seed(12)
    roundtrip(TextGRU(), tokens(20, 9))


# -- custom modules and the tensor ops between layers ---------------------------------------------
class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.b = nn.Linear(4, 6)
        self.gate = nn.Parameter(nf.randn(6, 6))
        self.out = nn.Linear(12, 2)

    def forward(self, x):
        h = nf.relu(self.a(x)) * self.b(x).sigmoid() + 1.5
        h = (h - 0.25) / 2
        g = nn.functional.tanh(h @ self.gate)
        both = nf.cat([h, g], dim=1)
        both = both.view(both.shape[0], 2, 6).permute(0, 2, 1).flatten(1)
        return self.out(-both + 2 * both)


def test_custom_module():
    nf.manual_seed(13)
    roundtrip(Custom(), feats(4))


def test_residual_blocks():
    nf.manual_seed(14)
    model = nn.Sequential(nn.Linear(5, 8),
                          nn.Residual(nn.Sequential(nn.ReLU(), nn.Linear(8, 8))),
                          nn.Residual(nn.Linear(8, 4), shortcut=nn.Linear(8, 4, bias=False)))
    roundtrip(model, feats(5))


# -- options --------------------------------------------------------------------------------------
def test_names_opset_file_and_fixed_batch(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2))
    path = tmp_path / "m.onnx"
    proto = nf_onnx.export(model, (nf.randn(4, 3),), str(path), input_names=["x"],
                           output_names=["y"], opset_version=18, dynamic_axes={})
    loaded = onnx.load(str(path))
    assert [i.name for i in loaded.graph.input] == ["x"]
    assert [o.name for o in loaded.graph.output] == ["y"]
    assert loaded.opset_import[0].version == 18 and proto.opset_import[0].version == 18
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [4, 3]        # dynamic_axes={}: no dynamic dim
    default = nf_onnx.export(model, nf.randn(4, 3))    # a bare Tensor as args, f=None
    assert default.opset_import[0].version == nf_onnx.DEFAULT_OPSET == 17
    dim0 = default.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim0.dim_param == "batch"


def test_export_params_false_makes_weights_inputs():
    model = nn.Sequential(nn.Linear(3, 2))
    proto = nf_onnx.export(model, (nf.randn(4, 3),), None, export_params=False)
    assert {i.name for i in proto.graph.input} >= {"input", "model.0.weight", "model.0.bias"}
    assert not [t for t in proto.graph.initializer if t.name.startswith("model.0")]


def test_export_restores_training_mode_and_leaves_no_patches():
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    model.train()
    add, call = nf.Tensor.__add__, nn.Module.__call__
    nf_onnx.export(model, (nf.randn(2, 3),))
    assert model.training and model[1].training
    assert nf.Tensor.__add__ is add and nn.Module.__call__ is call


# -- refusals -------------------------------------------------------------------------------------
def test_unsupported_layer_is_named_with_its_path():
    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)

        def forward(self, x):
            return self.encoder(x)
    with pytest.raises(nf_onnx.ExportError,
                       match=r"no ONNX export for nn.TransformerEncoderLayer \(used at "
                             r"model.encoder\)"):
        nf_onnx.export(Enc(), (nf.randn(3, 2, 8),))


def test_unrecorded_tensor_op_is_refused_not_baked_in():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(x.abs())
    with pytest.raises(nf_onnx.ExportError, match=r"used at model.fc .* does not record"):
        nf_onnx.export(M(), (nf.randn(2, 3),))
    # the failed export put everything back: a plain call and a fresh export both work
    assert M()(nf.randn(2, 3)).shape == (2, 3)
    roundtrip(nn.Sequential(nn.Linear(3, 2)), feats(3))


def test_refused_layer_options():
    with pytest.raises(nf_onnx.ExportError, match="unbatched"):
        nf_onnx.export(nn.GRU(2, 3), (nf.randn(4, 2),))
    with pytest.raises(nf_onnx.ExportError, match="does not divide"):
        nf_onnx.export(nn.AdaptiveAvgPool2d(3), (nf.randn(1, 1, 5, 5),))


def test_bad_arguments():
    with pytest.raises(TypeError, match="must be an nnfast.nn.Module"):
        nf_onnx.export(lambda x: x, (nf.randn(2),))
    with pytest.raises(TypeError, match="example input 0 must be a Tensor"):
        nf_onnx.export(nn.Linear(2, 2), ("x",))
    with pytest.raises(ValueError, match="opset_version"):
        nf_onnx.export(nn.Linear(2, 2), (nf.randn(1, 2),), opset_version=11)
    with pytest.raises(ValueError, match="dynamic_axes names"):
        nf_onnx.export(nn.Linear(2, 2), (nf.randn(1, 2),), dynamic_axes={"nope": [0]})


def test_without_onnx_the_import_error_names_the_extra():
    code = ("import sys; sys.modules['onnx'] = None\n"
            "try:\n    import nnfast.onnx\nexcept ImportError as e:\n    print(e)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                       check=False, env=dict(os.environ, PYTHONPATH=root))
    assert 'pip install "nnfast[onnx]"' in r.stdout, r.stdout + r.stderr


def test_importing_nnfast_does_not_import_onnx():
    code = "import sys, nnfast, nnfast.nn; print('onnx' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False,
                       env=dict(os.environ, PYTHONPATH=root))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_export_round_trip(tmp_path, capsys):
    from nnfast import cli
    out = str(tmp_path / "run")
    assert cli.main(["train", "--epochs", "2", "--hidden", "16", "--out", out, "--json"]) == 0
    path = str(tmp_path / "digits.onnx")
    assert cli.main(["export", "--model", out, "--onnx", path]) == 0
    assert "input 'features'" in capsys.readouterr().out
    saved = cli.read_model_file(os.path.join(out, "model.nnf"))
    model = saved.build().eval()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 16, (7, saved.meta["n_in"])).astype(np.float32)
    with nf.no_grad():
        ref = _numpy(model(nf.tensor(saved.scaler.transform(x).astype(np.float32))))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"features": x})
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert props["task"] == "classify" and "classes" in props


def test_cli_export_without_a_model_fails_cleanly(tmp_path, capsys):
    from nnfast import cli
    code = cli.main(["export", "--model", str(tmp_path), "--onnx", str(tmp_path / "m.onnx")])
    assert code == 2
    assert "no model at" in capsys.readouterr().err
