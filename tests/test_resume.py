"""Resuming: fit for 6 epochs in one go == fit 3 epochs with a checkpoint, then brand-new
model/optimizer/scheduler objects resumed to 6 epochs. Bit for bit (np.array_equal), with
Dropout (the global RNG), Adam + StepLR, shuffling and a seeded validation split."""
import csv
import functools
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.data import (Compose, DataLoader, Dataset, GaussianNoise, IterableDataset,
                         RandomSampler, Sampler, SubsetRandomSampler, TensorDataset,
                         WeightedRandomSampler, default_collate)
from nnfast.optim.lr_scheduler import StepLR
from nnfast.train import (Callback, CSVLogger, EarlyStopping, GradientMonitor,
                          LRSchedulerCallback,
                          ModelCheckpoint, fit)


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
    assert set(ck["rng"]) == {"fit", "generators", "other_generators", "globals", "loaders"}
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


# ------------------------------------------------------------------ the resume matrix
# Every loader set-up x every kind of kill: the run killed, then resumed with brand-new
# objects (model initialised differently, loader rebuilt, global RNG moved on), gives the
# uninterrupted run's per-step losses, history and weights bit for bit. All models have
# Dropout (the global RNG, drawn between the loader's draws).
N, BS, EPOCHS = 40, 8, 3          # 5 steps an epoch, 15 in all
STEPS = N // BS * EPOCHS


class Killed(Exception):
    """Stands for the process dying (the SIGKILL test below kills a real one)."""


class KillAt(Callback):
    """Die in the middle of training step `step` (backward done, update not made), or at the
    end of epoch `epoch_end` (0-based) before any checkpoint of it is written."""

    def __init__(self, step=None, epoch_end=None, sigkill=False):
        self.step, self.epoch_end, self.sigkill = step, epoch_end, sigkill

    def _die(self):
        if self.sigkill:
            os.kill(os.getpid(), signal.SIGKILL)
        raise Killed

    def on_after_backward(self, step):
        if step + 1 == self.step:
            self._die()

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch_end:
            self._die()


class StepLosses(Callback):
    def __init__(self):
        self.losses = {}

    def on_batch_end(self, step, logs):
        self.losses[step] = logs["loss"]


class NoisyRows(Dataset):
    """A map-style dataset (the general loader path) drawing noise from its own generator."""

    def __init__(self, x, y, seed):
        self.x, self.y, self.rng = x, y, np.random.default_rng(seed)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i] + self.rng.normal(0, 0.1, self.x.shape[1]).astype(np.float32), self.y[i]


class LegacyShuffle(Sampler):
    """A user sampler shuffling with NumPy's legacy global state (np.random.permutation)."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(np.random.permutation(self.n).tolist())

    def __len__(self):
        return self.n


class PyRandomStream(IterableDataset):
    """A stream whose noise comes from Python's `random` module."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __iter__(self):
        for xi, yi in zip(self.x, self.y):
            yield xi + np.float32(random.gauss(0, 0.1)), yi


def loader_setups():
    """name -> function(x, y) -> (train_data, val_data, fit kwargs); built fresh per run."""
    def dl(ds, **kw):
        return DataLoader(ds, batch_size=BS, **kw)

    def with_closure(x, y):
        gen = np.random.default_rng(21)   # only a collate_fn's closure holds it

        def collate(samples):
            xb, yb = default_collate(samples)
            return GaussianNoise(0.05, generator=gen)(xb), yb
        return dl(NoisyRows(x, y, 8), shuffle=True, generator=9, collate_fn=collate), None, {}

    return {
        "arrays_fit_shuffles_metrics": lambda x, y: ((x, y), None, dict(
            batch_size=BS, seed=4, metrics=["accuracy"])),
        "shuffle_false": lambda x, y: (dl(TensorDataset(x, y), shuffle=False), None, {}),
        "shuffle_generator_int": lambda x, y: (dl(TensorDataset(x, y), shuffle=True,
                                                  generator=3), None, {}),
        "shuffle_nf_generator_and_val_loader": lambda x, y: (
            dl(TensorDataset(x, y), shuffle=True, generator=nf.Generator().manual_seed(5)),
            dl(TensorDataset(x[:16], y[:16]), shuffle=True, generator=6),
            dict(metrics=["accuracy"])),
        "workers_2_transform_global_rng": lambda x, y: (dl(TensorDataset(x, y, transform=(
            GaussianNoise(0.1))), shuffle=True, generator=2, num_workers=2), None, {}),
        "shuffle_global_rng": lambda x, y: (dl(TensorDataset(x, y), shuffle=True), None, {}),
        "random_sampler_replacement": lambda x, y: (dl(TensorDataset(x, y), sampler=RandomSampler(
            np.arange(N), replacement=True, num_samples=N)), None, {}),
        "weighted_random_sampler": lambda x, y: (dl(TensorDataset(x, y), sampler=(
            WeightedRandomSampler(1.0 + y, N, generator=np.random.default_rng(7)))), None, {}),
        "subset_random_sampler": lambda x, y: (dl(TensorDataset(x, y), sampler=(
            SubsetRandomSampler(np.arange(N), generator=np.random.RandomState(2)))), None, {}),
        "transform_own_generators": lambda x, y: (dl(TensorDataset(x, y, transform=Compose(
            [GaussianNoise(0.1, generator=11), GaussianNoise(0.1, generator=12)])),
            shuffle=True, generator=1), None, {}),
        "transform_global_rng": lambda x, y: (dl(TensorDataset(x, y, transform=GaussianNoise(
            0.1)), shuffle=True), None, {}),
        "dataset_and_collate_generators": with_closure,
        "custom_sampler_numpy_global": lambda x, y: (dl(TensorDataset(x, y),
                                                        sampler=LegacyShuffle(N)), None, {}),
        "iterable_dataset_python_random": lambda x, y: (dl(PyRandomStream(x, y)), None, {}),
    }


SETUPS = loader_setups()
KILLS = {
    # name: (kill, checkpoint kind, the step the checkpoint resumed from was written after)
    "epoch_ckpt_kill_mid_epoch": (dict(step=8), "epoch", 5),
    "epoch_ckpt_kill_before_epoch_ckpt": (dict(epoch_end=1), "epoch", 5),
    "step_ckpt_kill_mid_epoch": (dict(step=9), 2, 8),
    "step_ckpt_on_last_batch_kill_at_epoch_end": (dict(epoch_end=1), 5, 10),
}


def matrix_model(init_seed):
    nf.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    return model, optim.Adam(model.parameters(), lr=0.01)


def matrix_run(setup, tmp, ckpt=None, kill=None, resume=None, init_seed=0, rng_seed=123):
    x, y = blobs(N)
    model, opt = matrix_model(init_seed)
    train, val, kw = SETUPS[setup](x, y)
    recorder = StepLosses()
    cbs = [recorder]
    if ckpt is not None and ckpt != "epoch":
        cbs.append(ModelCheckpoint(tmp / "s{step}.nnf", save_best_only=False,
                                   save_training_state=True, save_freq=ckpt))
    if kill is not None:
        cbs.append(KillAt(**kill))
    nf.manual_seed(rng_seed)
    np.random.seed(rng_seed)      # the process-wide streams custom data code may use
    random.seed(rng_seed)
    try:
        h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=EPOCHS, verbose=False,
                callbacks=cbs, checkpoint_path=tmp / "e.nnf" if ckpt == "epoch" else None,
                resume_from=resume, **kw)
    except Killed:
        h = None
    return model, h, recorder.losses


@functools.lru_cache(maxsize=None)
def straight_run(setup):
    model, h, losses = matrix_run(setup, None)
    return state(model), no_time(h), losses


@pytest.mark.parametrize("kill", sorted(KILLS))
@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_resume_matrix(setup, kill, tmp_path):
    kill_kw, ckpt, resumed_after = KILLS[kill]
    _, h_b, _ = matrix_run(setup, tmp_path, ckpt=ckpt, kill=kill_kw)
    assert h_b is None                       # it died
    path = tmp_path / ("e.nnf" if ckpt == "epoch" else f"s{resumed_after}.nnf")
    assert nf.load(path)["step"] == resumed_after
    resume_matches_straight_run(setup, tmp_path, ckpt, path, resumed_after)


def resume_matches_straight_run(setup, tmp_path, ckpt, path, resumed_after):
    """Resume from path (other init and global seeds, which the checkpoint must override) and
    check the steps after resumed_after, the history and the weights against a straight run."""
    weights_a, hist_a, losses_a = straight_run(setup)
    model_c, h_c, losses_c = matrix_run(setup, tmp_path, ckpt=ckpt, resume=path, init_seed=9,
                                        rng_seed=77)
    assert sorted(losses_c) == list(range(resumed_after + 1, STEPS + 1))
    assert losses_c == {s: losses_a[s] for s in losses_c}
    assert no_time(h_c) == hist_a
    assert_bitwise_equal(state(model_c), weights_a)


def test_the_matrix_sees_every_stream():
    # the streams the set-ups rely on are all found in the loader
    from nnfast.data._random import find_generators
    x, y = blobs(N)
    train, _, _ = SETUPS["transform_own_generators"](x, y)
    gens = find_generators(train)
    assert len(gens) == 3       # the sampler's and the two transforms'
    train, _, _ = SETUPS["dataset_and_collate_generators"](x, y)
    assert len(find_generators(train)) == 3   # sampler, dataset.rng, collate_fn's closure


CHILD = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
import test_resume as T
T.matrix_run({setup!r}, Path({tmp!r}), ckpt={ckpt!r}, kill=dict({kill!r}, sigkill=True))
raise SystemExit("not killed")
"""


@pytest.mark.parametrize("setup,kill", [("transform_global_rng", "step_ckpt_kill_mid_epoch"),
                                        ("shuffle_generator_int", "epoch_ckpt_kill_mid_epoch")])
def test_resume_after_a_real_sigkill(setup, kill, tmp_path):
    kill_kw, ckpt, resumed_after = KILLS[kill]
    root = Path(__file__).resolve().parents[1]
    code = CHILD.format(tests=str(root / "tests"), setup=setup, tmp=str(tmp_path), ckpt=ckpt,
                        kill=kill_kw)
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    path = tmp_path / ("e.nnf" if ckpt == "epoch" else f"s{resumed_after}.nnf")
    resume_matches_straight_run(setup, tmp_path, ckpt, path, resumed_after)


def test_a_torch_style_loop_resumes_mid_epoch_with_loader_state_dict(tmp_path):
    # a hand-written loop saving {'model', 'optimizer', 'rng', 'loader'} as torch users do
    # (torchdata's StatefulDataLoader.state_dict for the loader), killed mid-epoch
    x, y = blobs(N)

    def build(init_seed):
        model, opt = matrix_model(init_seed)
        ds = TensorDataset(x, y, transform=GaussianNoise(0.1, generator=nf.Generator()
                                                         .manual_seed(4)))
        return model, opt, DataLoader(ds, batch_size=BS, shuffle=True, generator=3)

    def train(model, opt, loader, epochs, stop_at=None, ck=None):
        losses = []
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                if len(losses) == stop_at:
                    nf.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                             "rng": nf.get_rng_state(), "loader": loader.state_dict()}, ck)
                    return losses
        return losses

    model_a, opt_a, loader_a = build(0)
    nf.manual_seed(1)
    losses_a = train(model_a, opt_a, loader_a, EPOCHS)
    model_b, opt_b, loader_b = build(0)
    nf.manual_seed(1)
    train(model_b, opt_b, loader_b, EPOCHS, stop_at=7, ck=tmp_path / "ck.nnf")
    model_c, opt_c, loader_c = build(5)
    nf.manual_seed(8)
    ck = nf.load(tmp_path / "ck.nnf")
    model_c.load_state_dict(ck["model"])
    opt_c.load_state_dict(ck["optimizer"])
    nf.set_rng_state(ck["rng"])
    loader_c.load_state_dict(ck["loader"])
    assert ck["loader"]["batches"] == 2          # 7 = one epoch of 5, then 2
    rest = train(model_c, opt_c, loader_c, EPOCHS - 1)   # the rest of epoch 2, then epoch 3
    assert rest == losses_a[7:]
    assert_bitwise_equal(state(model_c), state(model_a))


def test_loader_state_dict_at_an_epoch_boundary_and_with_workers():
    x, y = blobs(24)
    for workers in (0, 2):
        def build():
            return DataLoader(TensorDataset(x, y, transform=GaussianNoise(0.1)), batch_size=6,
                              shuffle=True, generator=2, num_workers=workers)
        nf.manual_seed(3)
        a = build()
        ref = [xb.numpy() for _ in range(3) for xb, _ in a]
        nf.manual_seed(3)
        b = build()
        got = [xb.numpy() for xb, _ in b]
        sd, rng = b.state_dict(), nf.get_rng_state()
        assert sd["batches"] == 0 and sd["epoch_start"] is None   # between epochs
        nf.manual_seed(9)
        c = build()
        c.load_state_dict(sd)
        nf.set_rng_state(rng)
        got += [xb.numpy() for _ in range(2) for xb, _ in c]
        assert len(got) == len(ref) and all(np.array_equal(p, q) for p, q in zip(ref, got))


def test_resume_with_other_data_is_refused(tmp_path):
    x, y = blobs(N)
    model, opt = matrix_model(0)
    fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(x, y), batch_size=BS,
                                                      shuffle=True, generator=1),
        epochs=1, verbose=False, checkpoint_path=tmp_path / "ck.nnf")
    with pytest.raises(ValueError, match="checkpoint holds 1 random generator state.* use 0"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TensorDataset(x, y), batch_size=BS),
            epochs=2, verbose=False, resume_from=tmp_path / "ck.nnf")
    loader = DataLoader(TensorDataset(x, y), batch_size=BS, shuffle=True, generator=1)
    with pytest.raises(ValueError, match="expected a dict from DataLoader.state_dict"):
        loader.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="saved state is of a MT19937 generator"):
        loader.load_state_dict({"generators": [np.random.RandomState(0).get_state(
            legacy=False)], "epoch": 0, "batches": 0})


def test_rng_state_api_as_torch():
    g = nf.Generator().manual_seed(3)
    s = g.get_state()
    a = g.random(4)
    assert np.array_equal(g.set_state(s).random(4), a)
    glob = nf.random.default_generator()
    assert nf.manual_seed(5) is glob          # reseeded in place, as torch
    s = nf.get_rng_state()
    a = nf.rand(3).numpy()
    nf.set_rng_state(s)
    assert np.array_equal(nf.rand(3).numpy(), a)
    with pytest.raises(ValueError, match="expected a PCG64 state"):
        nf.set_rng_state({"bit_generator": "MT19937"})
    with pytest.raises(ValueError, match="malformed PCG64 state"):
        g.set_state({"bit_generator": "PCG64", "state": {}})


def test_model_checkpoint_save_freq_checks_and_names(tmp_path):
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive int"):
        ModelCheckpoint(tmp_path / "m.nnf", save_freq=0)
    with pytest.raises(ValueError, match="pass save_best_only=False"):
        ModelCheckpoint(tmp_path / "m.nnf", save_freq=3)
    model, opt = matrix_model(0)
    fit(model, nn.CrossEntropyLoss(), opt, blobs(N), epochs=2, batch_size=BS, verbose=False,
        callbacks=[ModelCheckpoint(tmp_path / "m{epoch}-{step}.nnf", save_best_only=False,
                                   save_freq=4)])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1-4.nnf", "m2-8.nnf"]
    assert set(nf.load(tmp_path / "m2-8.nnf")) == set(model.state_dict())   # weights only


def test_gradient_monitor_and_step_schedule_survive_a_mid_epoch_resume(tmp_path):
    x, y = blobs(N)

    def run(resume=None, kill=None, init_seed=0):
        model, opt = matrix_model(init_seed)
        sched = StepLR(opt, step_size=4, gamma=0.7)
        mon = GradientMonitor(warn=False)
        cbs = [mon, LRSchedulerCallback(sched, interval="step"),
               ModelCheckpoint(tmp_path / "s{step}.nnf", save_best_only=False,
                               save_training_state=True, save_freq=3)]
        if kill:
            cbs.append(KillAt(step=kill))
        nf.manual_seed(2)
        try:
            h = fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=EPOCHS, batch_size=BS,
                    seed=1, verbose=False, callbacks=cbs, resume_from=resume)
        except Killed:
            return None
        return model, mon, sched, h

    model_a, mon_a, sched_a, h_a = run()
    assert run(kill=8) is None
    model_c, mon_c, sched_c, h_c = run(resume=tmp_path / "s6.nnf", init_seed=3)
    assert mon_c.norms == mon_a.norms and sched_c.last_epoch == sched_a.last_epoch == STEPS
    assert no_time(h_c) == no_time(h_a)
    assert_bitwise_equal(state(model_c), state(model_a))


@pytest.mark.parametrize("setup", ["transform_global_rng", "dataset_and_collate_generators",
                                   "arrays_fit_shuffles_metrics"])
def test_resume_twice_in_the_same_epoch(setup, tmp_path):
    # the second checkpoint is written by a run that itself resumed mid-epoch: it must carry
    # the epoch's start, not the resume point's
    weights_a, hist_a, losses_a = straight_run(setup)
    matrix_run(setup, tmp_path, ckpt=1, kill=dict(step=7))
    matrix_run(setup, tmp_path, ckpt=1, kill=dict(step=9), resume=tmp_path / "s6.nnf",
               init_seed=4, rng_seed=5)
    model_c, h_c, losses_c = matrix_run(setup, tmp_path, ckpt=1, resume=tmp_path / "s8.nnf",
                                        init_seed=9, rng_seed=77)
    assert sorted(losses_c) == list(range(9, STEPS + 1))
    assert losses_c == {s: losses_a[s] for s in losses_c}
    assert no_time(h_c) == hist_a
    assert_bitwise_equal(state(model_c), weights_a)


def test_verbose_resume_mid_epoch_shows_the_epoch_so_far(tmp_path):
    import io as _io
    matrix_run("shuffle_generator_int", tmp_path, ckpt=2, kill=dict(step=9))
    x, y = blobs(N)
    model, opt = matrix_model(1)
    out = _io.StringIO()
    fit(model, nn.CrossEntropyLoss(), opt, SETUPS["shuffle_generator_int"](x, y)[0],
        epochs=EPOCHS, verbose=True, stream=out, resume_from=tmp_path / "s8.nnf")
    text = out.getvalue()
    assert "epoch 2/3" in text and "epoch 3/3" in text and "epoch 1/3 " not in text


@pytest.mark.parametrize("setup", ["transform_own_generators", "shuffle_global_rng"])
def test_kill_at_every_step(setup, tmp_path):
    # a checkpoint after every step, the run killed in the middle of step k for every k:
    # each resume from step k - 1 ends where the uninterrupted run does
    weights_a, hist_a, losses_a = straight_run(setup)
    matrix_run(setup, tmp_path, ckpt=1)        # writes s1 ... s15
    for k in range(2, STEPS + 1):
        model_c, h_c, losses_c = matrix_run(setup, tmp_path, resume=tmp_path / f"s{k - 1}.nnf",
                                            init_seed=k, rng_seed=k)
        assert losses_c == {s: losses_a[s] for s in range(k, STEPS + 1)}, k
        assert no_time(h_c) == hist_a, k
        assert_bitwise_equal(state(model_c), weights_a)


class LateRng(Callback):
    """A user callback that makes its generator only once training begins."""

    def on_train_begin(self, logs=None):
        self.rng = np.random.default_rng(0)


def test_a_callback_generator_missing_at_resume_warns(tmp_path):
    model, opt = matrix_model(0)
    fit(model, nn.CrossEntropyLoss(), opt, blobs(N), epochs=1, batch_size=BS, verbose=False,
        callbacks=[LateRng()], checkpoint_path=tmp_path / "ck.nnf")
    assert len(nf.load(tmp_path / "ck.nnf")["rng"]["other_generators"]) == 1
    with pytest.warns(RuntimeWarning, match="callbacks' random generators.*may differ"):
        fit(model, nn.CrossEntropyLoss(), opt, blobs(N), epochs=2, batch_size=BS,
            verbose=False, callbacks=[LateRng()], resume_from=tmp_path / "ck.nnf")
