"""Callbacks (hooks and order, EarlyStopping, ModelCheckpoint, LRSchedulerCallback,
TerminateOnNaN, CSVLogger, GradientMonitor), ProgressBar and History (incl. plot)."""
import builtins
import csv
import io
import math
import sys
import warnings

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.optim.lr_scheduler import ReduceLROnPlateau, StepLR
from nnfast.train import (Callback, CSVLogger, EarlyStopping, GradientMonitor, GradientWarning,
                          History, LRSchedulerCallback, ModelCheckpoint, ProgressBar,
                          TerminateOnNaN, fit)


def blobs(n=60, classes=3, features=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    y = np.arange(n) % classes
    x = centers[y] + 0.6 * rng.standard_normal((n, features))
    return x.astype(np.float32), y.astype(np.int64)


def mlp(seed=0):
    nf.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def params(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def scripted(values):
    """A metric callable returning values[i] at its i-th call (train data only: once/epoch)."""
    it = iter(values)

    def score(yt, yp):
        return next(it)
    return score


class Snapshots(Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self):
        self.weights = []

    def on_epoch_end(self, epoch, logs):
        self.weights.append(params(self.trainer.model))


def run(callbacks, epochs=6, metrics=(), lr=0.1, val=False, **kw):
    x, y = blobs()
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr), (x, y),
            val_data=(x[:20], y[:20]) if val else None, epochs=epochs, batch_size=20,
            callbacks=callbacks, metrics=metrics, verbose=False, seed=0, **kw)
    return model, h


# ----------------------------------------------------------------------------- hooks
class Log(Callback):
    def __init__(self, name, events):
        self.name, self.events = name, events

    def on_train_begin(self, logs=None):
        self.events.append((self.name, "train_begin"))

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append((self.name, "epoch_begin", epoch))

    def on_after_backward(self, step):
        assert all(p.grad is not None for p in self.trainer.model.parameters())
        self.events.append((self.name, "after_backward", step))

    def on_batch_end(self, step, logs):
        assert set(logs) == {"loss"}
        self.events.append((self.name, "batch_end", step))

    def on_epoch_end(self, epoch, logs):
        assert {"loss", "val_loss", "lr", "time", "grad_norm"} <= set(logs)
        self.events.append((self.name, "epoch_end", epoch))

    def on_train_end(self, logs=None):
        self.events.append((self.name, "train_end"))


def test_hooks_run_in_order_for_every_callback_in_list_order():
    events = []
    a, b = Log("a", events), Log("b", events)
    x, y = blobs(n=40)
    model = mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        val_data=(x, y), epochs=2, batch_size=20, callbacks=[a, b], verbose=False)
    assert a.trainer is b.trainer and a.trainer.model is model
    want = []
    for n in "ab":
        want.append((n, "train_begin"))
    step = 0
    for e in range(2):
        want += [(n, "epoch_begin", e) for n in "ab"]
        for _ in range(2):
            want += [(n, "after_backward", step) for n in "ab"]
            step += 1
            want += [(n, "batch_end", step) for n in "ab"]
        want += [(n, "epoch_end", e) for n in "ab"]
    want += [(n, "train_end") for n in "ab"]
    assert events == want


def test_on_after_backward_sees_gradients_before_the_step():
    seen = []

    class Grab(Callback):
        def on_after_backward(self, step):
            model = self.trainer.model
            seen.append((params(model), {k: p.grad.detach().numpy().copy()
                                          for k, p in model.named_parameters()}))

    model, _ = run([Grab()], epochs=1, lr=0.3)
    # plain SGD: w_after = w_before - lr * grad, checked on the last step
    assert len(seen) == 3
    g = seen[-1][1]
    for k, v in params(model).items():
        np.testing.assert_allclose(v, seen[-1][0][k] - 0.3 * g[k], rtol=1e-6, atol=1e-7)


def test_train_end_runs_even_when_training_raises():
    ended = []

    class End(Callback):
        def on_train_end(self, logs=None):
            ended.append(True)

    class Boom(Callback):
        def on_epoch_end(self, epoch, logs):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run([End(), Boom()], epochs=2)
    assert ended == [True]


# ----------------------------------------------------------------------------- EarlyStopping
def test_early_stopping_patience():
    es = EarlyStopping(monitor="score", mode="min", patience=2)
    _, h = run([es], epochs=10, metrics=[scripted([5, 4, 4.5, 4.2, 3.0, 9, 9, 9, 9, 9])])
    # best 4 at epoch 2; 4.5, 4.2 don't improve -> stop after epoch 4
    assert len(h) == 4 and h.stopped_early and es.stopped_epoch == 3
    assert es.best == 4 and es.best_epoch == 1
    assert "score did not improve for 2 epochs" in h.stop_reason


def test_early_stopping_min_delta():
    # improvements of 0.05 are below min_delta=0.1 and do not count
    es = EarlyStopping(monitor="score", mode="min", patience=2, min_delta=0.1)
    _, h = run([es], epochs=10, metrics=[scripted([1.0, 0.95, 0.85, 0.5, 0.45, 0.42, 0, 0, 0, 0])])
    assert len(h) == 6 and es.best == 0.5
    es = EarlyStopping(monitor="score", mode="min", patience=2, min_delta=-0.1)  # abs() taken
    assert es.min_delta == 0.1


def test_early_stopping_mode_max_and_auto():
    es = EarlyStopping(monitor="score", mode="max", patience=1)
    _, h = run([es], epochs=10, metrics=[scripted([0.1, 0.5, 0.4, 0.9, 0.9, 0.9] + [0] * 4)])
    assert len(h) == 3 and es.best == 0.5
    assert EarlyStopping(monitor="val_accuracy").mode == "max"
    assert EarlyStopping(monitor="val_loss").mode == "min"
    assert EarlyStopping(monitor="r2").mode == "max"
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="largest")


def test_early_stopping_never_improving_nan_stops():
    es = EarlyStopping(monitor="score", mode="min", patience=2)
    _, h = run([es], epochs=10, metrics=[scripted([math.nan] * 10)])
    assert len(h) == 2 and es.best_epoch is None


def test_early_stopping_restore_best_weights():
    snaps = Snapshots()
    es = EarlyStopping(monitor="score", mode="min", patience=3, restore_best_weights=True)
    model, h = run([snaps, es], epochs=10, metrics=[scripted([3, 2, 1, 2, 2, 2, 0, 0, 0, 0])])
    assert len(h) == 6
    best = snaps.weights[2]
    for k, v in params(model).items():
        assert np.array_equal(v, best[k]), k
    assert not np.array_equal(snaps.weights[-1]["0.weight"], best["0.weight"])


def test_early_stopping_without_restore_keeps_last_weights():
    snaps = Snapshots()
    es = EarlyStopping(monitor="score", mode="min", patience=3)
    model, _ = run([snaps, es], epochs=10, metrics=[scripted([3, 2, 1, 2, 2, 2, 0, 0, 0, 0])])
    for k, v in params(model).items():
        assert np.array_equal(v, snaps.weights[-1][k])


def test_early_stopping_on_real_val_loss_and_reuse_starts_fresh():
    es = EarlyStopping(patience=2)           # monitors val_loss
    _, h = run([es], epochs=4, val=True)
    assert es.best == min(h["val_loss"])
    # a second fit with the same callback does not inherit best/wait from the first
    _, h2 = run([es], epochs=1, val=True)
    assert es.best == h2["val_loss"][0] and es.wait == 0


def test_early_stopping_missing_monitor_names_what_is_logged():
    with pytest.raises(KeyError, match="'val_loss' is not logged.*val_data"):
        run([EarlyStopping()], epochs=2)


# ----------------------------------------------------------------------------- ModelCheckpoint
def test_model_checkpoint_best_only_writes_on_improvement(tmp_path):
    snaps = Snapshots()
    mc = ModelCheckpoint(str(tmp_path / "m{epoch}.nnf"), monitor="score", mode="min")
    run([snaps, mc], epochs=6, metrics=[scripted([3, 2, 2.5, 1, 1, 4])])
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["m1.nnf", "m2.nnf", "m4.nnf"]
    assert mc.best == 1 and mc.best_path.endswith("m4.nnf")
    model = mlp(seed=5)
    model.load_state_dict(nf.load(mc.best_path))
    for k, v in params(model).items():
        assert np.array_equal(v, snaps.weights[3][k])


def test_model_checkpoint_fixed_path_holds_the_best_model(tmp_path):
    path = tmp_path / "best.nnf"
    snaps = Snapshots()
    mc = ModelCheckpoint(path, monitor="score", mode="max")
    run([snaps, mc], epochs=5, metrics=[scripted([0.1, 0.7, 0.3, 0.6, 0.2])])
    loaded = nf.load(path)
    for k, v in snaps.weights[1].items():
        assert np.array_equal(loaded[k].detach().numpy(), v)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.nnf"]   # no temp files


def test_model_checkpoint_every_epoch(tmp_path):
    mc = ModelCheckpoint(str(tmp_path / "e{epoch}.nnf"), save_best_only=False)
    run([mc], epochs=3)              # no monitor needed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.nnf", "e2.nnf", "e3.nnf"]


def test_model_checkpoint_training_state_holds_the_completed_epoch(tmp_path):
    path = tmp_path / "full.nnf"
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, verbose=False,
            callbacks=[ModelCheckpoint(path, save_best_only=False, save_training_state=True)],
            scheduler=sched, seed=0)
    state = nf.load(path)
    assert state["epoch"] == 3
    assert state["history"]["epoch"] == [1, 2, 3]                 # this epoch included
    assert state["scheduler"]["last_epoch"] == sched.last_epoch == 3   # stepped already
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.0125)
    assert state["history"]["history"]["loss"] == h["loss"]


# ----------------------------------------------------------------------------- LR schedules
def test_lr_scheduler_callback_per_step():
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=2, batch_size=20, verbose=False,
            callbacks=[LRSchedulerCallback(sched, interval="step")], scheduler=sched)
    # 3 steps per epoch; the lr logged is the lr after the epoch's last step
    assert sched.last_epoch == 6 and h["lr"] == pytest.approx([0.125, 0.125 / 8])
    with pytest.raises(ValueError, match="interval"):
        LRSchedulerCallback(sched, interval="batch")


def test_reduce_lr_on_plateau_is_stepped_with_the_monitored_value():
    x, y = blobs()
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=1.0)
    plateau = ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=0)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=4, verbose=False,
            callbacks=[LRSchedulerCallback(plateau, monitor="score")],
            metrics=[scripted([1.0, 2.0, 0.5, 0.6])])
    assert h["lr"] == pytest.approx([1.0, 1.0, 0.1, 0.1])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


# ----------------------------------------------------------------------------- TerminateOnNaN
def test_terminate_on_nan_with_huge_lr_stops_gracefully(tmp_path):
    x, y = blobs(n=40)
    model = mlp()
    csv_path = tmp_path / "log.csv"
    snaps = Snapshots()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e30), (x, y),
            val_data=(x, y), epochs=5, batch_size=8, verbose=False,
            callbacks=[snaps, TerminateOnNaN(), EarlyStopping(patience=10),
                       CSVLogger(csv_path)])
    assert h.stopped_early and "terminated" in h.stop_reason and len(h) < 5
    assert math.isnan(h["loss"][-1])
    assert len(snaps.weights) == len(h) - 1        # no on_epoch_end for the NaN epoch


def test_terminate_on_nan_with_nan_data_stops_before_the_update():
    x, y = blobs(n=40)
    x[17, 2] = np.nan                 # the third batch of 8
    model = mlp()
    seen = []

    class Steps(Callback):
        def on_batch_end(self, step, logs):
            seen.append(params(self.trainer.model))

    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=3, batch_size=8, shuffle=False, verbose=False,
            callbacks=[TerminateOnNaN(), Steps()])
    assert len(h) == 1 and h.stopped_early and "input" in h.stop_reason
    assert len(seen) == 2
    for k, v in params(model).items():       # weights are those after the 2 finite steps
        assert np.isfinite(v).all() and np.array_equal(v, seen[-1][k])


def test_terminate_on_nan_with_a_loss_that_returns_nan():
    x, y = blobs(n=40)

    def loss_fn(out, target):
        loss = nn.CrossEntropyLoss()(out, target)
        return loss * nf.tensor(np.float32(np.nan)) if calls.append(1) or len(calls) > 3 \
            else loss
    calls = []
    model = mlp()
    h = fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=3,
            batch_size=10, verbose=False, callbacks=[TerminateOnNaN()])
    assert len(h) == 1 and h.stopped_early and all(np.isfinite(v).all()
                                                   for v in params(model).values())


def test_terminate_on_nan_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs(n=40)
    x[30:, :] = np.nan                    # epoch 2 (shuffle off) is fine until step 4
    path = tmp_path / "ck.nnf"
    model = mlp()

    class Poison(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                self.trainer.model[0].weight.detach().numpy()[:] = np.nan

    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            (x[:30], y[:30]), epochs=3, batch_size=10, shuffle=False, verbose=False,
            callbacks=[TerminateOnNaN(), Poison()], checkpoint_path=path)
    assert len(h) == 2
    state = nf.load(path)
    assert state["epoch"] == 1 and np.isfinite(state["model"]["0.weight"].detach().numpy()).all()


# ----------------------------------------------------------------------------- CSVLogger
def test_csv_logger_contents(tmp_path):
    path = tmp_path / "log.csv"
    _, h = run([CSVLogger(path)], epochs=3, metrics=["accuracy"], val=True)
    rows = list(csv.reader(open(path)))
    assert rows[0] == ["epoch"] + sorted(h.history)
    assert len(rows) == 4 and [r[0] for r in rows[1:]] == ["1", "2", "3"]
    for i, row in enumerate(rows[1:]):
        for key, value in zip(rows[0][1:], row[1:]):
            assert float(value) == h[key][i], key          # repr round trip: exact
    # a new run replaces the file; append=True continues it
    run([CSVLogger(path)], epochs=1)
    assert len(list(csv.reader(open(path)))) == 2
    run([CSVLogger(path, append=True)], epochs=2)
    rows = list(csv.reader(open(path)))
    assert len(rows) == 4 and rows[0][0] == "epoch" and rows[2][0] == "1"


def test_csv_logger_separator(tmp_path):
    path = tmp_path / "log.tsv"
    run([CSVLogger(path, separator="\t")], epochs=2)
    lines = open(path).read().splitlines()
    assert lines[0].startswith("epoch\t") and len(lines) == 3


# ----------------------------------------------------------------------------- GradientMonitor
def _gm_run(model, gm, x, y, lr=0.0):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=lr), (x, y),
            epochs=2, batch_size=20, callbacks=[gm], verbose=False)
    return [str(m.message) for m in w if issubclass(m.category, GradientWarning)]


def test_gradient_monitor_vanishing_in_a_deep_sigmoid_net():
    nf.manual_seed(0)
    layers = []
    for _ in range(24):
        layers += [nn.Linear(8, 8), nn.Sigmoid()]
    model = nn.Sequential(*layers, nn.Linear(8, 3))
    x, y = blobs(n=40, features=8)
    gm = GradientMonitor()
    msgs = _gm_run(model, gm, x, y)
    assert any("layer '0'" in m and "vanishing" in m for m in msgs)
    assert not any("layer '48'" in m for m in msgs)             # the last layer is fine
    assert not any("exploding" in m for m in msgs)
    assert gm.norms["0"][0] < 1e-7 < gm.norms["48"][0]
    assert len(gm.norms["0"]) == 2                                # one mean per epoch


def test_gradient_monitor_vanishing_layer_scaled_by_1e_minus_12():
    model = mlp()
    model[2].weight.detach().numpy()[:] *= 1e-12          # nothing flows back to layer 0
    x, y = blobs(n=40)
    msgs = _gm_run(model, GradientMonitor(), x, y)
    assert len(msgs) == 1 and "gradients of layer '0' are vanishing" in msgs[0]


def test_gradient_monitor_exploding_names_the_layer_and_warns_once():
    model = mlp()
    model[2].weight.detach().numpy()[:] *= 1e7            # layer 0's gradient is scaled up by 1e7
    x, y = blobs(n=40)
    msgs = _gm_run(model, GradientMonitor(), x, y)
    assert len(msgs) == 1 and "gradients of layer '0' are exploding" in msgs[0]
    with pytest.warns(GradientWarning, match="layer '0' are exploding"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), (x, y),
            epochs=1, callbacks=[GradientMonitor()], verbose=False)


def test_gradient_monitor_bare_module_and_every_and_quiet():
    nf.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = blobs(n=40)
    gm = GradientMonitor(explode=1e-9, every=2, warn=True)
    msgs = _gm_run(model, gm, x, y)
    assert msgs == ["gradients of layer 'Linear' are exploding: norm "
                    f"{msgs[0].split('norm ')[1].split(' ')[0]} > 1e-09 at step 0"]
    assert list(gm.norms) == ["Linear"] and len(gm.norms["Linear"]) == 2
    quiet = GradientMonitor(explode=1e-9, warn=False)
    assert _gm_run(nn.Linear(4, 3), quiet, x, y) == [] and quiet.norms


# ----------------------------------------------------------------------------- ProgressBar
class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_silent_on_a_non_tty():
    s = io.StringIO()
    bar = ProgressBar(10, "epoch 1 ", s)
    for _ in range(10):
        bar.update(1, loss=0.5)
    bar.close()
    assert s.getvalue() == "" and not bar.enabled and bar.n == 10


def test_progress_bar_draws_on_a_tty():
    s = FakeTTY()
    bar = ProgressBar(4, "epoch 1/2 ", s, min_interval=0.0)
    for _ in range(4):
        bar.update(1, loss=0.25)
    text = s.getvalue()
    assert text.count("\r") == 4 and "epoch 1/2 [" in text
    assert "4/4" in text and "steps/s" in text and "ETA" in text and "loss 0.2500" in text
    assert "#" * 24 in text                        # full at the end
    bar.close()
    assert s.getvalue().endswith("\r")


def test_progress_bar_throttles_but_always_draws_the_last_step():
    s = FakeTTY()
    bar = ProgressBar(50, stream=s, min_interval=3600)
    for _ in range(50):
        bar.update(1)
    assert s.getvalue().count("\r") == 2 and "50/50" in s.getvalue()   # first and last


def test_fit_draws_the_bar_on_a_tty_and_not_when_quiet():
    x, y = blobs(n=40)
    model = mlp()
    s = FakeTTY()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=2, batch_size=10, stream=s)
    assert "steps/s" in s.getvalue() and "epoch 2/2" in s.getvalue()
    s2 = FakeTTY()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=2, batch_size=10, stream=s2, verbose=False)
    assert s2.getvalue() == ""


# ----------------------------------------------------------------------------- History
def test_history_append_pads_missing_keys_and_state_dict_roundtrip(tmp_path):
    h = History()
    h.append(1, {"loss": 1.0})
    h.append(2, {"loss": 0.5, "val_loss": 0.7})
    h.append(3, {"val_loss": 0.6})
    assert h["loss"][:2] == [1.0, 0.5] and math.isnan(h["loss"][2])
    assert math.isnan(h["val_loss"][0]) and h["val_loss"][1:] == [0.7, 0.6]
    nf.save(h.state_dict(), tmp_path / "h.nnf")
    h2 = History()
    h2.load_state_dict(nf.load(tmp_path / "h.nnf"))
    assert h2.epoch == [1, 2, 3] and h2["val_loss"][1:] == [0.7, 0.6] and len(h2) == 3
    assert h.last("nope", 42) == 42


def _block_matplotlib(monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_history_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    _, h = run([], epochs=2)
    _block_matplotlib(monkeypatch)
    with pytest.raises(ImportError, match=r"nnfast\[plot\]"):
        h.plot(tmp_path / "curve.png")
    assert not (tmp_path / "curve.png").exists()


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the nnfast[plot] extra) is not "
                                             "installed")
    _, h = run([], epochs=3, metrics=["accuracy"], val=True)
    path = tmp_path / "curve.png"
    assert h.plot(path) == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    h.plot(tmp_path / "loss_only.png", metrics=[], title="run 1")
    assert (tmp_path / "loss_only.png").read_bytes()[:4] == b"\x89PNG"
