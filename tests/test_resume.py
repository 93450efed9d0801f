"""Resuming: fit for 6 epochs in one go == fit 3 epochs with a checkpoint, then brand-new
model/optimizer/scheduler objects resumed to 6 epochs. Bit for bit (np.array_equal), with
Dropout (the global RNG), Adam + StepLR, shuffling and a seeded validation split."""
import csv

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.optim.lr_scheduler import StepLR
from nnfast.train import CSVLogger, EarlyStopping, LRSchedulerCallback, ModelCheckpoint, fit


def blobs(n=96, classes=3, features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, features)) * 2
    y = np.arange(n) % classes
    x = centers[y] + rng.standard_normal((n, features))
    return x.astype(np.float32), y.astype(np.int64)


def make(dropout=True, opt="adam", sched=True, init_seed=0):
    """A fresh model/optimizer/scheduler; the model is initialised from init_seed."""
    nf.manual_seed(init_seed)
    layers = [nn.Linear(6, 32), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    model = nn.Sequential(*layers, nn.Linear(32, 3))
    if opt == "adam":
        o = optim.Adam(model.parameters(), lr=0.01)
    else:
        o = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    s = StepLR(o, step_size=2, gamma=0.5) if sched else None
    return model, o, s


def state(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def no_time(h):
    return {k: v for k, v in h.history.items() if k != "time"}


def assert_bitwise_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def assert_same_optimizer_state(o1, o2):
    s1, s2 = o1.state_dict(), o2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for i in s1["state"]:
        for k, v in s1["state"][i].items():
            assert np.array_equal(np.asarray(getattr(v, "data", v)),
                                  np.asarray(getattr(s2["state"][i][k], "data",
                                                     s2["state"][i][k]))), (i, k)


def straight_vs_resumed(tmp_path, fit_kw, dropout=True, opt="adam", sched=True,
                        callbacks=lambda: []):
    data = blobs()
    # one go: 6 epochs
    model_a, opt_a, sched_a = make(dropout, opt, sched)
    nf.manual_seed(123)          # the global RNG (dropout masks) as it stands when fit starts
    h_a = fit(model_a, nn.CrossEntropyLoss(), opt_a, data, epochs=6, scheduler=sched_a,
              callbacks=callbacks(), verbose=False, **fit_kw)
    # interrupted: 3 epochs with a checkpoint ...
    path = tmp_path / "ck.nnf"
    model_b, opt_b, sched_b = make(dropout, opt, sched)
    nf.manual_seed(123)
    h_b1 = fit(model_b, nn.CrossEntropyLoss(), opt_b, data, epochs=3, scheduler=sched_b,
               callbacks=callbacks(), verbose=False, checkpoint_path=path, **fit_kw)
    assert len(h_b1) == 3
    # ... then new objects (different init, RNG moved on) resumed to 6
    model_c, opt_c, sched_c = make(dropout, opt, sched, init_seed=99)
    nf.manual_seed(7)
    h_c = fit(model_c, nn.CrossEntropyLoss(), opt_c, data, epochs=6, scheduler=sched_c,
              callbacks=callbacks(), verbose=False, resume_from=path, **fit_kw)
    assert_bitwise_equal(state(model_a), state(model_c))
    assert_same_optimizer_state(opt_a, opt_c)
    assert no_time(h_a) == no_time(h_c)
    assert h_c.epoch == [1, 2, 3, 4, 5, 6]
    assert nf.get_rng_state() == nf.random.default_generator().bit_generator.state
    return h_a, h_c, model_a, model_c, sched_a, sched_c


def test_resume_adam_steplr_dropout_shuffle(tmp_path):
    h_a, _, _, _, sched_a, sched_c = straight_vs_resumed(
        tmp_path, dict(batch_size=16, shuffle=True, seed=5))
    assert sched_a.last_epoch == sched_c.last_epoch == 6
    assert h_a["lr"] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])


def test_resume_with_val_split_and_metrics_and_seed_none(tmp_path):
    # seed=None draws fit's seed from the global generator; the checkpoint keeps it, so the
    # resumed run splits off the same validation rows
    h_a, _, _, _, _, _ = straight_vs_resumed(
        tmp_path, dict(batch_size=16, val_split=0.25, metrics=["accuracy", "f1"]))
    assert "val_accuracy" in h_a.history


def test_resume_sgd_without_scheduler_or_dropout(tmp_path):
    straight_vs_resumed(tmp_path, dict(batch_size=10, seed=1), dropout=False, opt="sgd",
                        sched=False)


def test_resume_per_step_schedule_and_callbacks_state(tmp_path):
    def callbacks():
        return [EarlyStopping(monitor="loss", patience=100)]
    h_a, h_c, *_ = straight_vs_resumed(tmp_path, dict(batch_size=32, seed=2),
                                       callbacks=callbacks)
    assert h_a["lr"] == h_c["lr"]


def test_resume_step_interval_scheduler(tmp_path):
    data = blobs()

    def run(epochs, resume=None, ck=None, init_seed=0):
        model, o, s = make(init_seed=init_seed)
        nf.manual_seed(1)
        h = fit(model, nn.CrossEntropyLoss(), o, data, epochs=epochs, batch_size=24, seed=3,
                callbacks=[LRSchedulerCallback(s, interval="step")], verbose=False,
                checkpoint_path=ck, resume_from=resume)
        return model, s, h

    m_a, s_a, h_a = run(5)
    run(2, ck=tmp_path / "c.nnf")
    m_c, s_c, h_c = run(5, resume=tmp_path / "c.nnf", init_seed=4)
    assert s_a.last_epoch == s_c.last_epoch == 20
    assert_bitwise_equal(state(m_a), state(m_c))
    assert no_time(h_a) == no_time(h_c)


def test_resume_from_a_model_checkpoint_training_state(tmp_path):
    data = blobs()
    model_a, opt_a, sched_a = make()
    nf.manual_seed(0)
    h_a = fit(model_a, nn.CrossEntropyLoss(), opt_a, data, epochs=5, batch_size=16, seed=0,
              scheduler=sched_a, verbose=False)
    model_b, opt_b, sched_b = make()
    nf.manual_seed(0)
    fit(model_b, nn.CrossEntropyLoss(), opt_b, data, epochs=2, batch_size=16, seed=0,
        scheduler=sched_b, verbose=False,
        callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.nnf", save_best_only=False,
                                   save_training_state=True)])
    model_c, opt_c, sched_c = make(init_seed=3)
    h_c = fit(model_c, nn.CrossEntropyLoss(), opt_c, data, epochs=5, batch_size=16, seed=0,
              scheduler=sched_c, verbose=False,
              callbacks=[ModelCheckpoint(tmp_path / "e{epoch}.nnf", save_best_only=False,
                                         save_training_state=True)],
              resume_from=tmp_path / "e2.nnf")
    assert_bitwise_equal(state(model_a), state(model_c))
    assert no_time(h_a) == no_time(h_c)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"e{i}.nnf" for i in range(1, 6)]


def test_checkpoint_contents(tmp_path):
    data = blobs()
    model, o, s = make()
    fit(model, nn.CrossEntropyLoss(), o, data, epochs=2, scheduler=s, seed=11, verbose=False,
        checkpoint_path=tmp_path / "ck.nnf")
    ck = nf.load(tmp_path / "ck.nnf")
    assert {"model", "optimizer", "scheduler", "callbacks", "history", "epoch", "step", "rng",
            "seed"} <= set(ck)
    assert ck["epoch"] == 2 and ck["seed"] == 11 and ck["step"] == 2 * 3
    assert ck["scheduler"]["last_epoch"] == 2
    assert set(ck["rng"]) == {"fit", "generators", "globals"}
    assert set(ck["rng"]["globals"]) == {"nnfast", "python", "numpy"}
    assert ck["position"] is None   # written at the end of an epoch
    assert_bitwise_equal({k: v.detach().numpy() for k, v in ck["model"].items()}, state(model))


def test_resume_when_already_done_trains_no_more(tmp_path):
    data = blobs()
    model, o, s = make()
    fit(model, nn.CrossEntropyLoss(), o, data, epochs=3, seed=0, verbose=False,
        checkpoint_path=tmp_path / "ck.nnf")
    model2, o2, _ = make(init_seed=1)
    h = fit(model2, nn.CrossEntropyLoss(), o2, data, epochs=3, seed=0, verbose=False,
            resume_from=tmp_path / "ck.nnf")
    assert len(h) == 3
    assert_bitwise_equal(state(model), state(model2))


def test_resume_continues_the_csv_log(tmp_path):
    data = blobs()
    log = tmp_path / "log.csv"
    model, o, s = make()
    fit(model, nn.CrossEntropyLoss(), o, data, epochs=2, seed=0, verbose=False,
        callbacks=[CSVLogger(log)], checkpoint_path=tmp_path / "ck.nnf")
    model2, o2, _ = make()
    fit(model2, nn.CrossEntropyLoss(), o2, data, epochs=4, seed=0, verbose=False,
        callbacks=[CSVLogger(log)], resume_from=tmp_path / "ck.nnf")
    rows = list(csv.reader(open(log)))
    assert [r[0] for r in rows] == ["epoch", "1", "2", "3", "4"]


def test_resume_from_missing_or_bad_file(tmp_path):
    model, o, _ = make()
    with pytest.raises(FileNotFoundError):
        fit(model, nn.CrossEntropyLoss(), o, blobs(), epochs=2, verbose=False,
            resume_from=tmp_path / "nope.nnf")
    (tmp_path / "bad.nnf").write_text("garbage")
    with pytest.raises(ValueError, match="not an nnfast file"):
        fit(model, nn.CrossEntropyLoss(), o, blobs(), epochs=2, verbose=False,
            resume_from=tmp_path / "bad.nnf")
