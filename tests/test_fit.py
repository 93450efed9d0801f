"""fit(), evaluate(), predict(): the loop itself, its data handling and its options,
checked against hand-written PyTorch-style loops on small synthetic data."""
import io
import math

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn, optim
from nnfast.nn import utils as nnu
from nnfast.optim.lr_scheduler import StepLR
from nnfast.train import Callback, evaluate, fit, predict
from nnfast.train import metrics as M


def blobs(n=90, classes=3, features=4, seed=0, spread=0.6):
    """Separable Gaussian blobs: (float32 x, int64 y)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 3
    y = np.arange(n) % classes
    rng.shuffle(y)
    x = centers[y] + spread * rng.standard_normal((n, features))
    return x.astype(np.float32), y.astype(np.int64)


def mlp(features=4, classes=3, hidden=16, seed=0):
    nf.manual_seed(seed)
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def params(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def assert_params_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


class Recorder(Callback):
    def __init__(self):
        self.batches = 0
        self.epoch_logs = []

    def on_batch_end(self, step, logs):
        self.batches += 1

    def on_epoch_end(self, epoch, logs):
        self.epoch_logs.append(dict(logs))


# ----------------------------------------------------------------------------- basics
def test_fit_trains_and_history_has_one_entry_per_epoch():
    x, y = blobs()
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02), (x, y),
            epochs=8, batch_size=16, verbose=False, seed=0)
    assert len(h) == 8 and h.epoch == list(range(1, 9))
    assert set(h.history) == {"loss", "grad_norm", "lr", "time"}
    for k in h.history:
        assert len(h[k]) == 8 and all(math.isfinite(v) for v in h[k])
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert all(t >= 0 for t in h["time"]) and all(g > 0 for g in h["grad_norm"])
    assert h["lr"] == [0.02] * 8
    assert M.accuracy(y, predict(model, x)) > 0.9
    assert not h.stopped_early and h.stop_reason is None
    assert h.last("loss") == h["loss"][-1] and "loss" in h and "val_loss" not in h
    assert "8 epochs" in repr(h)


def test_epochs_zero_returns_empty_history_and_leaves_model_alone():
    x, y = blobs()
    model = mlp()
    before = params(model)
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=0, verbose=False)
    assert len(h) == 0 and h.history == {}
    assert_params_equal(before, params(model))


def test_one_epoch_equals_a_hand_written_loop():
    x, y = blobs(n=50)
    model, ref = mlp(), mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        (x, y), epochs=2, batch_size=16, shuffle=False, verbose=False)
    opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(2):
        for s in range(0, 50, 16):
            opt.zero_grad()
            loss_fn(ref(nf.tensor(x[s:s + 16])), nf.tensor(y[s:s + 16])).backward()
            opt.step()
    assert_params_equal(params(model), params(ref))


def test_batch_size_larger_than_the_data_is_one_full_batch_step():
    x, y = blobs(n=20)
    model, ref = mlp(), mlp()
    rec = Recorder()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
        epochs=3, batch_size=1000, callbacks=[rec], verbose=False, seed=1)
    assert rec.batches == 3
    opt = optim.SGD(ref.parameters(), lr=0.5)
    for _ in range(3):          # shuffling a full batch only permutes rows: mean loss same
        opt.zero_grad()
        nn.CrossEntropyLoss()(ref(nf.tensor(x)), nf.tensor(y)).backward()
        opt.step()
    for k, v in params(ref).items():
        np.testing.assert_allclose(params(model)[k], v, rtol=1e-5, atol=1e-6)


def test_last_partial_batch_is_used_and_loss_is_sample_weighted():
    x, y = blobs(n=10)
    model = mlp()
    rec = Recorder()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), (x, y),
            epochs=1, batch_size=4, shuffle=False, callbacks=[rec], verbose=False)
    assert rec.batches == 3            # 4 + 4 + 2
    with nf.no_grad():
        losses = [nn.CrossEntropyLoss()(model(nf.tensor(x[s:s + 4])), nf.tensor(y[s:s + 4]))
                  .item() for s in (0, 4, 8)]
    assert h["loss"][0] == pytest.approx((4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10)


# ----------------------------------------------------------------------------- data forms
def test_iterable_of_batches_list_and_tuple_and_tensors():
    x, y = blobs(n=60)
    batches = [(x[s:s + 20], y[s:s + 20]) for s in range(0, 60, 20)]
    model_a, model_b, model_c = mlp(), mlp(), mlp()
    for model, data in ((model_a, batches), (model_b, tuple(batches)),
                        (model_c, [(nf.tensor(a), nf.tensor(b)) for a, b in batches])):
        rec = Recorder()
        h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), data,
                epochs=2, callbacks=[rec], verbose=False)
        assert rec.batches == 6 and len(h) == 2
    assert_params_equal(params(model_a), params(model_b))
    assert_params_equal(params(model_a), params(model_c))
    # the same as array data without shuffling
    model_d = mlp()
    fit(model_d, nn.CrossEntropyLoss(), optim.SGD(model_d.parameters(), lr=0.1), (x, y),
        epochs=2, batch_size=20, shuffle=False, verbose=False)
    assert_params_equal(params(model_a), params(model_d))


def test_tensor_and_torch_and_list_inputs_accepted():
    x, y = blobs(n=30)
    for data in ((nf.tensor(x), nf.tensor(y)), (torch.from_numpy(x), torch.from_numpy(y)),
                 [x, y]):
        model = mlp()
        h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), data,
                epochs=1, verbose=False)
        assert len(h) == 1 and math.isfinite(h["loss"][0])


def test_float64_regression_data_trains_as_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))                      # float64, as NumPy makes them
    y = (x @ np.array([1.0, -2.0, 0.5]))[:, None] + 0.3   # float64 targets too
    nf.manual_seed(0)
    model = nn.Linear(3, 1)
    h = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            val_data=(x[:16], y[:16]), epochs=20, batch_size=16, metrics=["mse", "r2"],
            verbose=False, seed=0)
    assert h["loss"][-1] < 1e-3 and h["val_r2"][-1] > 0.999
    assert model.weight.dtype == np.float32
    # the same for float64 targets in an iterable of batches
    h2 = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1),
             [(x[:32], y[:32])], epochs=1, verbose=False)
    assert math.isfinite(h2["loss"][0])


# ----------------------------------------------------------------------------- validation
def test_val_data_adds_val_keys_and_matches_evaluate():
    x, y = blobs(n=90, seed=0)
    xv, yv = blobs(n=30, seed=0)[0] + 0.1, blobs(n=30, seed=0)[1]
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), (x, y),
            val_data=(xv, yv), epochs=3, metrics=["accuracy"], verbose=False, seed=0)
    assert {"val_loss", "val_accuracy", "accuracy"} <= set(h.history)
    ev = evaluate(model, nn.CrossEntropyLoss(), (xv, yv), metrics=["accuracy"])
    assert h["val_loss"][-1] == pytest.approx(ev["loss"], rel=1e-6)
    assert h["val_accuracy"][-1] == ev["accuracy"] == M.accuracy(yv, predict(model, xv))
    # evaluate also takes batches and leaves the model in the mode it found
    model.train()
    ev2 = evaluate(model, nn.CrossEntropyLoss(), [(xv[:10], yv[:10]), (xv[10:], yv[10:])],
                   metrics=["accuracy"])
    assert ev2["loss"] == pytest.approx(ev["loss"], rel=1e-6) and model.training


class TargetSpy:
    """A metric callable that records the targets it is given (train, then val, per epoch)."""
    __name__ = "spy"

    def __init__(self):
        self.seen = []

    def __call__(self, yt, yp):
        self.seen.append(np.array(yt))
        return 0.0


def test_val_split_is_stratified_and_seeded():
    x, y = blobs(n=100, classes=4)
    y[:8] = 3                          # unbalanced classes
    counts = np.bincount(y)

    def split(seed):
        spy = TargetSpy()
        model = mlp(classes=4)
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), (x, y),
            val_split=0.2, epochs=1, metrics=[spy], verbose=False, seed=seed)
        return spy.seen[0], spy.seen[1]

    train_y, val_y = split(0)
    assert len(train_y) + len(val_y) == 100
    np.testing.assert_array_equal(np.bincount(val_y, minlength=4),
                                  [int(round(c * 0.2)) for c in counts])
    np.testing.assert_array_equal(np.bincount(train_y, minlength=4),
                                  counts - np.bincount(val_y, minlength=4))
    again = split(0)
    np.testing.assert_array_equal(val_y, again[1])
    np.testing.assert_array_equal(train_y, again[0])


def test_val_split_rows_are_disjoint_and_depend_on_seed():
    x, y = blobs(n=60)
    ids = np.arange(60)

    def val_rows(seed):
        # a linear "model" that outputs its first input feature: the row id
        spy = TargetSpy()
        xx = np.concatenate([ids[:, None].astype(np.float32), x], 1)
        model = nn.Linear(5, 1)

        def ident(yt, yp):
            spy.seen.append(np.array(yt))
            return 0.0
        fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.0),
            (xx, ids[:, None].astype(np.float32)), val_split=0.25, epochs=1,
            metrics=[ident], verbose=False, seed=seed, shuffle=False)
        return spy.seen[0].ravel(), spy.seen[1].ravel()

    tr0, va0 = val_rows(0)
    assert len(va0) == 15 and len(tr0) == 45
    assert set(tr0).isdisjoint(va0) and set(tr0) | set(va0) == set(range(60))
    tr1, va1 = val_rows(1)
    assert set(va1) != set(va0)
    np.testing.assert_array_equal(val_rows(0)[1], va0)


def test_seed_none_is_repeatable_after_manual_seed():
    x, y = blobs()

    def run():
        model = mlp(seed=7)            # calls nf.manual_seed(7)
        h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), (x, y),
                val_split=0.2, epochs=3, batch_size=8, verbose=False)
        return params(model), {k: v for k, v in h.history.items() if k != "time"}

    p1, h1 = run()
    p2, h2 = run()
    assert_params_equal(p1, p2)
    assert h1 == h2


def test_same_seed_same_run_different_seed_different_run():
    x, y = blobs()
    runs = []
    for seed in (3, 3, 4):
        model = mlp()
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.05), (x, y),
            epochs=2, batch_size=8, verbose=False, seed=seed)
        runs.append(params(model))
    assert_params_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0]["0.weight"], runs[2]["0.weight"])


def test_bad_arguments():
    x, y = blobs(n=20)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, loss, opt, (x, y), epochs=-1, verbose=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, loss, opt, (x, y), batch_size=0, verbose=False)
    with pytest.raises(ValueError, match="20 inputs but 19 targets"):
        fit(model, loss, opt, (x, y[:-1]), verbose=False)
    with pytest.raises(ValueError, match="either val_data or val_split"):
        fit(model, loss, opt, (x, y), val_data=(x, y), val_split=0.2, verbose=False)
    with pytest.raises(ValueError, match="val_split needs array data"):
        fit(model, loss, opt, [(x, y)], val_split=0.2, verbose=False)
    with pytest.raises(ValueError, match="leaves no rows"):
        fit(model, loss, opt, (x, y), val_split=0.01, verbose=False)
    with pytest.raises(ValueError, match="l1 and l2"):
        fit(model, loss, opt, (x, y), l2=-1.0, verbose=False)
    with pytest.raises(TypeError, match="Callback instances"):
        fit(model, loss, opt, (x, y), callbacks=[lambda: None], verbose=False)
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, loss, opt, (x, y), metrics=["bogus"], verbose=False)


# ----------------------------------------------------------------------------- options
@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.05), (0.02, 0.03)])
def test_l1_l2_penalty_matches_a_hand_written_step(l1, l2):
    x, y = blobs(n=24)
    model, ref = mlp(), mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
            epochs=1, batch_size=24, shuffle=False, l1=l1, l2=l2, verbose=False)
    opt = optim.SGD(ref.parameters(), lr=0.5)
    opt.zero_grad()
    data_loss = nn.CrossEntropyLoss()(ref(nf.tensor(x)), nf.tensor(y))
    loss = data_loss
    if l1:
        loss = loss + nnu.l1_penalty(ref, l1)
    if l2:
        loss = loss + nnu.l2_penalty(ref, l2)
    loss.backward()
    opt.step()
    assert_params_equal(params(model), params(ref))
    assert h["loss"][0] == pytest.approx(data_loss.item())     # the logged loss is the data loss
    # and the penalty did change something
    plain = mlp()
    fit(plain, nn.CrossEntropyLoss(), optim.SGD(plain.parameters(), lr=0.5), (x, y),
        epochs=1, batch_size=24, shuffle=False, verbose=False)
    assert not np.array_equal(params(plain)["0.weight"], params(model)["0.weight"])
    np.testing.assert_array_equal(params(plain)["0.bias"], params(model)["0.bias"])  # no bias


def test_clip_grad_norm_matches_a_hand_written_step_and_logs_the_unclipped_norm():
    x, y = blobs(n=24)
    model, ref = mlp(), mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.5), (x, y),
            epochs=1, batch_size=24, shuffle=False, clip_grad_norm=0.05, verbose=False)
    opt = optim.SGD(ref.parameters(), lr=0.5)
    opt.zero_grad()
    nn.CrossEntropyLoss()(ref(nf.tensor(x)), nf.tensor(y)).backward()
    norm = nnu.clip_grad_norm_(ref.parameters(), 0.05).item()
    clipped = nnu.get_total_norm([p.grad for p in ref.parameters()]).item()
    opt.step()
    assert norm > 0.05 and clipped == pytest.approx(0.05, rel=1e-4)
    assert_params_equal(params(model), params(ref))
    assert h["grad_norm"][0] == pytest.approx(norm, rel=1e-6)


def test_metrics_list_names_and_callables():
    x, y = blobs(n=60)
    model = mlp()

    def worst(yt, yp):
        return -1.0
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01), (x, y),
            val_data=(x[:30], y[:30]), epochs=2, metrics=["accuracy", "f1", worst],
            verbose=False, seed=0)
    for k in ("accuracy", "f1", "worst", "val_accuracy", "val_f1", "val_worst"):
        assert len(h[k]) == 2, k
    assert h["worst"] == [-1.0, -1.0]
    out = predict(model, x[:30])
    assert h["val_accuracy"][-1] == M.accuracy(y[:30], out)
    assert h["val_f1"][-1] == pytest.approx(M.f1_score(y[:30], out))
    assert 0 <= h["accuracy"][0] <= 1


def test_train_metric_is_over_the_epochs_outputs():
    x, y = blobs(n=30)
    model = mlp()
    h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.0), (x, y),
            epochs=1, batch_size=7, metrics=["accuracy"], verbose=False, seed=0)
    assert h["accuracy"][0] == M.accuracy(y, predict(model, x))   # lr 0: outputs unchanged


def test_scheduler_argument_records_lr_per_epoch():
    x, y = blobs(n=30)
    model = mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=5, verbose=False,
            scheduler=StepLR(opt, step_size=2, gamma=0.5))
    assert h["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)   # 5 steps: decayed at 2 and 4


# ----------------------------------------------------------------------------- NaN
def test_huge_lr_raises_floatingpointerror_without_terminate_on_nan():
    x, y = blobs(n=40)
    model = mlp()
    with pytest.raises(FloatingPointError):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1e30), (x, y),
            epochs=5, batch_size=8, verbose=False)


def test_nan_in_data_raises_without_terminate_on_nan():
    x, y = blobs(n=40)
    x[17, 2] = np.nan
    model = mlp()
    with pytest.raises(FloatingPointError, match="input"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
            epochs=1, batch_size=8, shuffle=False, verbose=False)


# ----------------------------------------------------------------------------- output
def test_verbose_false_prints_nothing(capsys):
    x, y = blobs(n=20)
    model = mlp()
    stream = io.StringIO()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        val_split=0.2, epochs=2, verbose=False, stream=stream, metrics=["accuracy"])
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        epochs=1, verbose=False)
    out = capsys.readouterr()
    assert out.out == "" and out.err == "" and stream.getvalue() == ""


def test_verbose_on_a_pipe_prints_one_line_per_epoch_and_no_bar():
    x, y = blobs(n=20)
    model = mlp()
    stream = io.StringIO()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), (x, y),
        val_split=0.2, epochs=3, batch_size=4, stream=stream, metrics=["accuracy"])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in stream.getvalue()
    assert lines[0].startswith("epoch 1/3") and "val_loss" in lines[0] and "accuracy" in lines[0]


def test_predict_batches_and_keeps_mode():
    x, _ = blobs(n=25)
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    a = predict(model, x, batch_size=7)
    b = predict(model, nf.tensor(x), batch_size=100)
    assert a.shape == (25, 3) and np.array_equal(a, b)       # eval mode: dropout off
    assert model.training
    with nf.no_grad():
        model.eval()
        np.testing.assert_array_equal(a, model(nf.tensor(x)).detach().numpy())
    assert predict(model, x[:0]).shape[0] == 0


def test_fit_runs_the_compiled_step_where_it_applies_with_the_eager_numbers(monkeypatch):
    """fit uses nf.compile_step for a model it captures, on every batch (the check of each
    epoch's first batch against the target reads the step's output shape); the weights,
    losses, gradient norms and metrics are those of the eager loop bit for bit, which a
    callback with an on_after_backward (it must run between backward and the update) still
    gets."""
    from nnfast.compile import CompiledStep
    from nnfast.train.callbacks import Callback

    calls = []
    original = CompiledStep.__call__

    def counted(self, x, y):
        calls.append(len(x))
        return original(self, x, y)
    monkeypatch.setattr(CompiledStep, "__call__", counted)

    class Watch(Callback):
        def on_after_backward(self, step):
            pass

    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 12)).astype(np.float32)
    y = rng.integers(0, 3, 200)
    runs = []
    for callbacks in ([], [Watch()]):
        nf.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        opt = nf.optim.Adam(model.parameters(), lr=1e-2)
        h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, batch_size=32,
                metrics=["accuracy"], callbacks=callbacks, verbose=0, seed=1)
        logs = {k: v for k, v in h.history.items() if k != "time"}
        runs.append((logs, [p.detach().numpy().copy() for p in model.parameters()]))
    assert len(calls) == 3 * 7            # 7 batches an epoch
    (h_compiled, w_compiled), (h_eager, w_eager) = runs
    assert h_compiled == h_eager
    for a, b in zip(w_compiled, w_eager):
        assert np.array_equal(a, b)


def test_the_returned_history_does_not_keep_the_captured_step(monkeypatch):
    """History keeps its trainer, but not the trainer's captured step: its workspaces are
    freed when fit returns (not at the next cycle collection), for the next fit to reuse."""
    import gc
    import weakref

    import nnfast.compile
    made = []
    original = nnfast.compile.compile_step

    def recorded(*args, **kwargs):
        step = original(*args, **kwargs)
        made.append(weakref.ref(step))
        return step
    monkeypatch.setattr(nnfast.compile, "compile_step", recorded)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    gc.disable()
    try:
        h = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), 0.1), (x, y),
                epochs=2, batch_size=16, verbose=0)
        assert made and all(r() is None for r in made)
        assert h.trainer.model is model
    finally:
        gc.enable()


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.Sequential(nn.Linear(4, 1)), (20, 4)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 1)),
     (20, 1, 4, 4)),
])
def test_fit_refuses_broadcasting_targets_before_the_compiled_step_updates(build, shape):
    # the captured step (MLP or CNN) gives the output's shape for the check, so a y of
    # (n,) against outputs (n, 1) is refused before any update, as on the eager path
    from nnfast.errors import ShapeError
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(20).astype(np.float32)
    model = build()
    assert nf.compile_step(model, nn.MSELoss(), nf.optim.SGD(model.parameters(), 0.1)).compiled
    before = [p.detach().numpy().copy() for p in model.parameters()]
    with pytest.raises(ShapeError, match=r"reshape y to \(8, 1\)"):
        fit(model, nn.MSELoss(), nf.optim.SGD(model.parameters(), 0.1), (x, y), epochs=1,
            batch_size=8, verbose=0)
    for a, p in zip(before, model.parameters()):
        assert np.array_equal(a, p.detach().numpy())
