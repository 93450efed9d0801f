"""Inference for services (issue 16, part 4): inference_mode, the eval-mode batch predict,
save_model + `nnfast predict`, and one model served from several threads (docs/serving.md)."""
import csv
import threading
import tracemalloc

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import cli, nn
from nnfast.data import StandardScaler
from nnfast.train import fit, predict, save_model


def _mlp(seed=0, n_in=6, n_out=3):
    nf.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, n_out))


# ----------------------------------------------------------------------------- inference_mode
def test_inference_mode_records_nothing_and_reports_itself():
    w = nf.randn(3, 3, requires_grad=True)
    assert not nf.is_inference_mode_enabled()
    with nf.inference_mode():
        assert nf.is_inference_mode_enabled() and not nf.is_grad_enabled()
        y = (w @ w).sum()
        assert not y.requires_grad and y.grad_fn is None
    assert not nf.is_inference_mode_enabled() and nf.is_grad_enabled()
    assert (w @ w).sum().requires_grad


@pytest.mark.parametrize("outer", ["none", "no_grad", "inference", "enable_grad"])
@pytest.mark.parametrize("inner", ["inference", "inference_off", "no_grad", "enable_grad"])
def test_nested_modes_match_torch(outer, inner):
    def modes(lib):
        make = {"none": None, "no_grad": lib.no_grad, "enable_grad": lib.enable_grad,
                "inference": lambda: lib.inference_mode(),
                "inference_off": lambda: lib.inference_mode(False)}
        seen = []
        o = make[outer]() if make[outer] else None
        if o:
            o.__enter__()
        with make[inner]():
            seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        if o:
            o.__exit__(None, None, None)
        seen.append((lib.is_grad_enabled(), lib.is_inference_mode_enabled()))
        return seen

    assert modes(nf) == modes(torch)


def test_inference_mode_as_decorator_in_every_form():
    @nf.inference_mode
    def bare():
        return nf.is_inference_mode_enabled()

    @nf.inference_mode()
    def called():
        return nf.is_inference_mode_enabled()

    @nf.inference_mode(False)
    def off():
        return nf.is_inference_mode_enabled(), nf.is_grad_enabled()

    assert bare() and called() and bare.__name__ == "bare"
    with nf.inference_mode():
        assert off() == (False, True)
        assert nf.is_inference_mode_enabled()
    assert not nf.is_inference_mode_enabled()


def test_modes_restore_on_exception_and_refuse_bad_arguments():
    with pytest.raises(KeyError):
        with nf.inference_mode():
            raise KeyError("x")
    assert nf.is_grad_enabled() and not nf.is_inference_mode_enabled()
    with pytest.raises(TypeError, match="bool"):
        nf.inference_mode("yes")
    with pytest.raises(TypeError):
        nf.no_grad(3)
    # set_grad_enabled keeps its three forms
    nf.set_grad_enabled(False)
    assert not nf.is_grad_enabled()
    nf.set_grad_enabled(True)
    with nf.set_grad_enabled(False):
        assert not nf.is_grad_enabled()
    assert nf.is_grad_enabled()

    @nf.set_grad_enabled(False)
    def f():
        return nf.is_grad_enabled()

    assert nf.is_grad_enabled() and f() is False and nf.is_grad_enabled()


def test_modes_are_per_thread():
    seen = {}
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait(5)
        seen["other"] = (nf.is_grad_enabled(), nf.is_inference_mode_enabled())
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with nf.inference_mode():
        inside.set()
        done.wait(5)
    t.join()
    assert seen["other"] == (True, False)


@pytest.mark.parametrize("make", [nf.no_grad, nf.inference_mode, nf.enable_grad],
                         ids=["no_grad", "inference_mode", "enable_grad"])
def test_one_shared_instance_entered_from_two_threads(make):
    """A (grad on) enters, B (grad off) enters, A exits, B exits: each thread gets back its
    own state (the old code kept `prev` on the instance, so A restored B's)."""
    shared = make()
    steps = [threading.Event() for _ in range(4)]
    after = {}

    def run(name, grad, enter_at, exit_at):
        nf.set_grad_enabled(grad)
        if enter_at:
            steps[enter_at - 1].wait(5)
        shared.__enter__()
        steps[enter_at].set()
        steps[exit_at - 1].wait(5)
        shared.__exit__(None, None, None)
        after[name] = (nf.is_grad_enabled(), nf.is_inference_mode_enabled())
        steps[exit_at].set()

    a = threading.Thread(target=run, args=("a", True, 0, 2))
    b = threading.Thread(target=run, args=("b", False, 1, 3))
    a.start(), b.start()
    a.join(10), b.join(10)
    assert after == {"a": (True, False), "b": (False, False)}


def test_a_decorated_function_runs_in_many_threads_at_once():
    @nf.no_grad()
    def work(barrier):
        barrier.wait(5)   # every thread is inside the block at the same moment
        return nf.is_grad_enabled()

    barrier, results, after = threading.Barrier(6), [], []

    def run():
        results.append(work(barrier))
        after.append(nf.is_grad_enabled())

    ts = [threading.Thread(target=run) for _ in range(6)]
    [t.start() for t in ts]
    [t.join(10) for t in ts]
    assert results == [False] * 6 and after == [True] * 6

    # one shared `with` instance, six threads inside at once, half of them with grad off
    shared, inside, back = nf.inference_mode(), threading.Barrier(6), {}

    def run_shared(i):
        nf.set_grad_enabled(i % 2 == 0)
        with shared:
            inside.wait(5)
        back[i] = nf.is_grad_enabled()

    ts = [threading.Thread(target=run_shared, args=(i,)) for i in range(6)]
    [t.start() for t in ts]
    [t.join(10) for t in ts]
    assert back == {i: i % 2 == 0 for i in range(6)}


# ----------------------------------------------------------------------------- predict
def test_predict_matches_the_forward_in_eval_mode_and_restores_the_mode():
    model = _mlp()
    x = np.random.default_rng(0).standard_normal((103, 6)).astype(np.float32)
    model.eval()
    with nf.no_grad():
        want = model(nf.tensor(x)).numpy()
    model.train()
    for bs in (1, 10, 103, 1000):
        got = predict(model, x, batch_size=bs)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
        assert got.shape == (103, 3) and got.dtype == np.float32
        assert model.training   # put back
    model.eval()
    predict(model, x)
    assert not model.training
    assert predict(model, np.zeros((0, 6), np.float32)).shape == (0,)


def test_predict_refuses_bad_batch_size_and_row_changing_models():
    model = _mlp()
    x = np.zeros((4, 6), np.float32)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            predict(model, x, batch_size=bad)

    class Pool(nn.Module):
        def forward(self, t):
            return t.sum(0, keepdim=True)

    with pytest.raises(ValueError, match="one output row per input row"):
        predict(Pool(), x, batch_size=2)


def test_predict_allocates_the_output_and_one_batch_only():
    """tracemalloc's peak for one call stays within the result plus a few batches of
    activations, and does not grow over 20 calls (nothing kept between calls)."""
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    x = np.random.default_rng(1).standard_normal((20000, 32)).astype(np.float32)
    out_bytes = 20000 * 10 * 4                     # 800 KB
    batch_bytes = 256 * 64 * 4                     # one batch's widest activation, 64 KB
    predict(model, x, batch_size=256)              # warm caches (kernel tables, pools)

    def peak_over(calls):
        tracemalloc.start()
        for _ in range(calls):
            predict(model, x, batch_size=256)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak

    one, twenty = peak_over(1), peak_over(20)
    # the old path (a list of batch outputs, then concatenate) peaked at twice the output
    assert one < out_bytes + 8 * batch_bytes, one
    assert twenty < one + 4 * batch_bytes, (one, twenty)


# ----------------------------------------------------------------------------- save_model
def _trained_classifier(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((120, 4)) * 5 + 3).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 6).astype(np.int64)
    scaler = StandardScaler().fit(x)
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 12), nn.PReLU(12), nn.Dropout(0.1), nn.Linear(12, 2))
    fit(model, nn.CrossEntropyLoss(), nf.optim.Adam(model.parameters(), lr=0.05),
        (scaler.transform(x).astype(np.float32), y), epochs=15, batch_size=32, verbose=0)
    path = tmp_path / "clf.nnf"
    save_model(model, path, scaler=scaler, meta={"classes": ["no", "yes"],
                                                 "features": ["a", "b", "c", "d"]})
    return model, scaler, x, y, path


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_save_model_then_nnfast_predict_from_npz_and_csv(tmp_path, capsys):
    model, scaler, x, y, path = _trained_classifier(tmp_path)
    want = predict(model, scaler.transform(x).astype(np.float32))
    np.savez(tmp_path / "x.npz", X=x)
    assert cli.main(["predict", "--model", str(path), "--data", str(tmp_path / "x.npz"),
                     "--output", str(tmp_path / "p.csv")]) == 0
    rows = _read_csv(tmp_path / "p.csv")
    assert rows[0] == ["prediction", "p_no", "p_yes"]
    labels = np.array(["no", "yes"])[want.argmax(1)]
    assert [r[0] for r in rows[1:]] == list(labels)
    assert (labels == np.array(["no", "yes"])[y]).mean() > 0.9
    # a CSV finds the columns by name, in any order, a target column ignored
    with open(tmp_path / "x.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["d", "target", "b", "a", "c"])
        for r, t in zip(x, y):
            w.writerow([repr(float(r[3])), t, repr(float(r[1])), repr(float(r[0])),
                        repr(float(r[2]))])
    assert cli.main(["predict", "--model", str(path), "--data", str(tmp_path / "x.csv"),
                     "--output", str(tmp_path / "q.csv")]) == 0
    assert _read_csv(tmp_path / "q.csv") == rows


def test_save_model_regression_and_softmax_outputs(tmp_path, capsys):
    nf.manual_seed(1)
    reg = nn.Sequential(nn.Linear(3, 5), nn.GELU("tanh"), nn.Linear(5, 2))
    save_model(reg, tmp_path / "r.nnf", meta={"task": "regress"})
    x = np.random.default_rng(2).standard_normal((7, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    assert cli.main(["predict", "--model", str(tmp_path / "r.nnf"), "--data",
                     str(tmp_path / "x.npz"), "--output", str(tmp_path / "r.csv")]) == 0
    rows = _read_csv(tmp_path / "r.csv")
    assert rows[0] == ["prediction_0", "prediction_1"]
    np.testing.assert_allclose(np.array(rows[1:], float), predict(reg, x), rtol=1e-5)

    sm = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 3), nn.Softmax(dim=1))
    save_model(sm, tmp_path / "s.nnf")
    assert cli.main(["predict", "--model", str(tmp_path / "s.nnf"), "--data",
                     str(tmp_path / "x.npz"), "--output", str(tmp_path / "s.csv")]) == 0
    rows = _read_csv(tmp_path / "s.csv")
    assert rows[0] == ["prediction", "p_0", "p_1", "p_2"]
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], float), predict(sm, x),
                               atol=1e-6)


def test_saved_model_builds_back_bit_for_bit(tmp_path):
    from nnfast._cli_model import read_model_file
    nf.manual_seed(3)
    m = nn.Sequential(nn.Linear(4, 8), nn.ELU(0.7), nn.Linear(8, 8, bias=False), nn.SiLU(),
                      nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.Linear(8, 2),
                      nn.LogSoftmax(dim=-1))
    save_model(m, tmp_path / "m.nnf")
    f = read_model_file(str(tmp_path / "m.nnf"))
    assert f.scaler is None and repr(f.build()) == repr(m)
    x = np.random.default_rng(0).standard_normal((9, 4)).astype(np.float32)
    assert np.array_equal(predict(f.build(), x), predict(m, x))

    # normalisation layers, their running statistics (updated by a training-mode pass) kept
    m = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 8), nn.LayerNorm(8, bias=False),
                      nn.ReLU(), nn.BatchNorm1d(8, affine=False, momentum=None),
                      nn.Linear(8, 2))
    m(nf.tensor(x))
    save_model(m, tmp_path / "n.nnf")
    built = read_model_file(str(tmp_path / "n.nnf")).build()
    assert repr(built) == repr(m)
    assert np.array_equal(predict(built, x), predict(m, x))


# ----------------------------------------------------------------------------- serving
def test_eight_threads_share_one_model_while_another_trains():
    """docs/serving.md's pattern: one eval-mode model, predict under inference_mode in each
    request thread; outputs equal the serial ones bit for bit, while a ninth thread trains a
    different model (its grad mode on) at the same time."""
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 5)).eval()
    rng = np.random.default_rng(0)
    requests = [rng.standard_normal((int(rng.integers(1, 300)), 20)).astype(np.float32)
                for _ in range(48)]
    serial = [predict(model, r, batch_size=64) for r in requests]

    other = _mlp(seed=5, n_in=20, n_out=5)
    xt = rng.standard_normal((512, 20)).astype(np.float32)
    yt = rng.integers(0, 5, 512)
    training_done, train_losses, errors = threading.Event(), [], []

    def train():
        try:
            h = fit(other, nn.CrossEntropyLoss(), nf.optim.SGD(other.parameters(), lr=0.1),
                    (xt, yt), epochs=6, batch_size=32, verbose=0)
            train_losses.extend(h.history["loss"])
        except Exception as e:  # reported below, not lost in the thread
            errors.append(e)
        finally:
            training_done.set()

    results = {}
    start = threading.Barrier(9)

    def serve(worker):
        try:
            start.wait(10)
            for i in range(worker, len(requests), 8):
                with nf.inference_mode():
                    results[i] = predict(model, requests[i], batch_size=64)
        except Exception as e:
            errors.append(e)

    trainer = threading.Thread(target=lambda: (start.wait(10), train()))
    servers = [threading.Thread(target=serve, args=(w,)) for w in range(8)]
    trainer.start()
    [t.start() for t in servers]
    [t.join(60) for t in servers]
    trainer.join(60)
    assert not errors, errors
    assert training_done.is_set() and len(train_losses) == 6
    assert train_losses[-1] < train_losses[0]          # the trainer really learned
    assert not model.training
    assert sorted(results) == list(range(len(requests)))
    for i, want in enumerate(serial):
        assert np.array_equal(results[i], want), i



def test_tensors_made_in_inference_mode_are_marked_as_torch_marks_them():
    def run(lib):
        a = lib.ones(2)
        with lib.inference_mode():
            b, c = lib.ones(2), a * 2
            with lib.inference_mode(False):
                e = lib.ones(2)
            with lib.no_grad():
                f = lib.zeros(3)
        return [t.is_inference() for t in (a, b, c, e, f, b * 3, c.sum())]
    assert run(nf) == run(torch) == [False, True, True, False, True, False, False]
    # the mark is per thread: a tensor another thread makes meanwhile is an ordinary one
    made, entered, done = {}, threading.Event(), threading.Event()

    def other():
        entered.wait()
        made["t"] = nf.ones(2) + 1
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with nf.inference_mode():
        entered.set()
        done.wait()
        mine = nf.ones(2)
    th.join()
    assert mine.is_inference() and not made["t"].is_inference()
    model = _mlp()
    with nf.inference_mode():
        out = model(nf.randn(4, 6))
    assert out.is_inference() and not model[0].weight.is_inference()
