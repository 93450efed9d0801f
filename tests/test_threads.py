"""Threads: nnfast beside other thread pools (NumPy's OpenBLAS, processes forked after nnfast
has run a team of threads), each such case in a fresh interpreter under a timeout so that a
hang fails instead of stalling; and nnfast inside a threaded tool (threads training their own
models, short-lived request threads, set_num_threads from any thread), in this one."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(nf.__file__)))
ENV = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], env=dict(ENV, **env), cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_shortens_openblas_spin_only_before_numpy_and_when_unset():
    show = "import os; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    assert _run("import nnfast; " + show) == "16"
    # NumPy already loaded: OpenBLAS has read its setting, so nnfast does not pretend
    assert _run("import numpy, nnfast; " + show) == "None"
    assert _run("import nnfast; " + show, OPENBLAS_THREAD_TIMEOUT="20") == "20"


_FORK = """
import multiprocessing as mp, numpy as np, nnfast as nf
from nnfast import nn
nf.set_num_threads(2)
A = np.ones((512, 512), np.float32)
def gemm(_):
    out = np.empty_like(A)
    nf._C.sgemm(False, False, 1.0, A, A, 0.0, out)    # big enough to open a team
    return float(out[0, 0]), nf.get_num_threads()
if __name__ == "__main__":
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    step = nf.compile_step(model, nn.CrossEntropyLoss(),
                           nf.optim.Adam(model.parameters(), lr=1e-3))
    x = np.ones((128, 784), np.float32)
    step(x, np.zeros(128, np.int64))        # the parent's team has run
    print(gemm(0))
    with mp.get_context("fork").Pool(2) as pool:
        print(pool.map(gemm, range(4)))
    print(gemm(0))
"""


def test_processes_forked_after_a_team_ran_use_one_thread_and_finish():
    """GCC's OpenMP runtime does not survive fork: a child that opened a team after its
    parent had one used to hang. Children now start on one thread; the parent keeps its."""
    lines = _run(_FORK).splitlines()
    assert lines == ["(512.0, 2)", "[(512.0, 1), (512.0, 1), (512.0, 1), (512.0, 1)]",
                     "(512.0, 2)"]


# ---------------------------------------------------------------- threads inside one process
# Tools that embed nnfast run it from worker threads: each thread its own model, short-lived
# request threads, set_num_threads called from wherever. These run in this interpreter.


@pytest.fixture
def two_threads():
    """Kernels on a team of two, so that every kernel big enough opens one (and restores)."""
    old = nf.get_num_threads()
    nf.set_num_threads(2)
    yield
    nf.set_num_threads(old)


def _in_threads(fns):
    """Run each fn on its own thread, all released together; their results, in order. A
    thread's exception is raised here."""
    start = threading.Barrier(len(fns))
    out, errors = [None] * len(fns), []

    def body(i, fn):
        try:
            start.wait()
            out[i] = fn()
        except BaseException as e:   # noqa: BLE001 (handed to the test below)
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def _team_size():
    """Threads the next kernel runs on: the peak probe's FLOPs count every team member
    (2 per lane per FMA, 12 chains, 1 round each)."""
    lanes = 16 if nf._C.cpu_has("avx512f") else 8
    return round(nf._C.fma_peak(1) / (2 * lanes * 12))


def _get_in_new_thread():
    return _in_threads([lambda: (nf.get_num_threads(), _team_size())])[0]


@pytest.mark.skipif(not nf._C.has_openmp(), reason="built without OpenMP")
def test_set_num_threads_from_a_worker_reaches_every_thread(two_threads):
    """The count is process-wide, as in PyTorch: it used to be the calling thread's OpenMP
    setting, so a worker's call left the main thread, and threads started later, as they
    were."""
    assert (nf.get_num_threads(), _team_size()) == (2, 2)
    _in_threads([lambda: nf.set_num_threads(1)])
    assert (nf.get_num_threads(), _team_size()) == (1, 1)
    assert _get_in_new_thread() == (1, 1)
    _in_threads([lambda: nf.set_num_threads(3)])
    assert (nf.get_num_threads(), _team_size()) == (3, 3)
    assert _get_in_new_thread() == (3, 3)
    nf.set_num_threads(2)
    assert _get_in_new_thread() == (2, 2)
    for bad, msg in ((0, "a positive integer"), (-3, "a positive integer"),
                     (2.5, "an int, but got float"), ("2", "an int, but got str"),
                     (True, "an int, but got bool"), (10**6, "at most 1024")):
        with pytest.raises(RuntimeError, match=msg):   # torch's type (and a ValueError)
            nf.set_num_threads(bad)
    assert nf.get_num_threads() == 2
    nf.set_num_threads(np.int64(1))
    assert _get_in_new_thread() == (1, 1)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _under_asan():
    with open("/proc/self/maps") as f:
        maps = f.read()
    return "libasan" in maps or "libclang_rt.asan" in maps


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
@pytest.mark.skipif(os.path.exists("/proc/self/maps") and _under_asan(),
                    reason="ASan's quarantine holds freed memory (its leak check covers this)")
def test_short_lived_threads_give_their_gemm_scratch_back(two_threads):
    """Each thread that ran a GEMM, and each thread of its OpenMP team, kept its packing
    workspace after it ended: 1,000 request threads grew the process by 375 MiB with this
    GEMM (1.2 GiB with larger ones); now each is freed when its thread ends."""
    a = np.ones((40, 384), np.float32)     # packs both operands, on a team of two
    b = np.ones((384, 256), np.float32)

    def request():
        out = np.empty((40, 256), np.float32)
        nf._C.sgemm(False, False, 1.0, a, b, 0.0, out)
        assert out[0, 0] == 384.0

    def run(n):
        for _ in range(n):
            t = threading.Thread(target=request)
            t.start()
            t.join()

    run(20)          # the allocator's arenas and thread stacks are in place
    before = _rss()
    run(1000)
    grown = _rss() - before
    assert grown < 100 * 2**20, f"RSS grew by {grown / 2**20:.0f} MiB over 1,000 threads"


# Deterministic models of three kinds, each trained by its own thread. Sizes open OpenMP
# teams in the GEMMs, the convolution and the optimizers' loops.
def _mlp():
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.Tanh(),
                         nn.Linear(128, 10))


class _Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8 * 12 * 12, 10)

    def forward(self, x):
        return self.head(nn.functional.relu(self.conv(x)).flatten(1))


class _Lstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(16, 64, batch_first=True)
        self.head = nn.Linear(64, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


_KINDS = {
    "mlp": (_mlp, (64,), lambda p: optim.Adam(p, lr=1e-3)),
    "conv": (_Conv, (3, 12, 12), lambda p: optim.SGD(p, lr=1e-2, momentum=0.9)),
    "lstm": (_Lstm, (12, 16), lambda p: optim.Adam(p, lr=1e-3, weight_decay=1e-4)),
}


def _job(kind, seed, steps=6, batch=64, compiled=False):
    """A model, its optimizer and its data, made here (on the calling thread, serially);
    returns train(): M steps, then (losses, final weights)."""
    make, shape, make_opt = _KINDS[kind]
    nf.manual_seed(seed)
    model = make()
    opt = make_opt(model.parameters())
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch) + shape).astype(np.float32)
    ys = rng.integers(0, 10, (steps, batch))
    loss_fn = nn.CrossEntropyLoss()
    step = nf.compile_step(model, loss_fn, opt) if compiled else None
    if compiled:
        assert step.compiled, step.reason

    def train():
        losses = []
        for x, y in zip(xs, ys):
            if compiled:
                losses.append(step(x, y))
                continue
            opt.zero_grad()
            loss = loss_fn(model(nf.tensor(x)), nf.tensor(y))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}

    return train


def _assert_same_runs(serial, concurrent):
    for (ls, ws), (lc, wc) in zip(serial, concurrent):
        assert ls == lc
        assert ws.keys() == wc.keys()
        for k in ws:
            assert np.array_equal(ws[k], wc[k]), k


def test_threads_training_their_own_models_match_serial_runs(two_threads):
    """N threads x M steps of Linear/Conv/LSTM models under Adam and SGD, all at once, give
    bit-for-bit the weights and losses of the same runs one after the other."""
    kinds = ["mlp", "conv", "lstm"] * 2
    serial = [_job(k, seed)() for seed, k in enumerate(kinds)]
    concurrent = _in_threads([_job(k, seed) for seed, k in enumerate(kinds)])
    _assert_same_runs(serial, concurrent)


def test_threads_running_compiled_steps_match_serial_runs(two_threads):
    serial = [_job("mlp", seed, compiled=True)() for seed in range(4)]
    concurrent = _in_threads([_job("mlp", seed, compiled=True) for seed in range(4)])
    _assert_same_runs(serial, concurrent)
    eager = [_job("mlp", seed)() for seed in range(4)]
    _assert_same_runs(eager, concurrent)


def _fit_job(seed):
    nf.manual_seed(seed)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((256, 20)).astype(np.float32), rng.integers(0, 3, 256)

    def run():
        hist = nf.train.fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, batch_size=32,
                            seed=seed, val_split=0.2, metrics=["accuracy"], verbose=False)
        return ([float(v) for v in hist.history["loss"]],
                {k: v.numpy().copy() for k, v in model.state_dict().items()})

    return run


def test_threads_calling_fit_match_serial_runs(two_threads):
    serial = [_fit_job(seed)() for seed in range(4)]
    _assert_same_runs(serial, _in_threads([_fit_job(seed) for seed in range(4)]))


def test_inference_threads_leave_a_training_thread_alone(two_threads):
    """Threads evaluating shared models under no_grad beside a thread that trains: the
    trainer records its graph and gets the weights of training alone; the readers' outputs
    are those of a serial run and record nothing."""
    expected = _job("mlp", 0, steps=10)()
    readers = []
    for seed, (kind, (make, shape, _)) in enumerate(_KINDS.items()):
        nf.manual_seed(10 + seed)
        model = make().eval()
        x = nf.tensor(np.random.default_rng(seed).standard_normal((16,) + shape)
                      .astype(np.float32))
        with nf.no_grad():
            readers.append((model, x, model(x).numpy()))
    stop = threading.Event()

    def reader():
        seen = 0
        while not stop.is_set() or seen < 3:
            for model, x, want in readers:   # every reader shares the same three models
                with nf.no_grad():
                    out = model(x)
                    assert not nf.is_grad_enabled()
                assert not out.requires_grad and out.grad_fn is None
                assert np.array_equal(out.numpy(), want)
            seen += 1
        assert nf.is_grad_enabled()
        return seen

    trainer = _job("mlp", 0, steps=10)

    def train():
        try:
            return trainer()
        finally:
            stop.set()

    results = _in_threads([train, reader, reader, reader])
    _assert_same_runs([expected], results[:1])
    assert all(n >= 3 for n in results[1:])
    assert nf.is_grad_enabled()


def test_a_global_hook_added_while_another_thread_finds_none_left_still_runs(monkeypatch):
    """Module calls clear the "global hooks exist" switch once none is left. A thread that
    had just found none left used to clear it after another thread added one, and that hook
    never ran. The interleaving is forced: the first thread's check pauses (with its answer)
    until the second thread has registered."""
    from nnfast.nn import _hooks

    layer = nn.Identity()
    nn.modules.module.register_module_forward_hook(lambda m, a, o: None).remove()
    assert _hooks.global_on[0]     # set by the hook, stale now that it is gone
    real, checked, registered = _hooks.any_global, threading.Event(), threading.Event()
    calls = []

    def slow_check():
        answer = real()
        if not calls:
            calls.append(1)
            checked.set()
            assert registered.wait(10)
        return answer

    monkeypatch.setattr(_hooks, "any_global", slow_check)
    seen = []

    def add_hook():
        assert checked.wait(10)
        handle = nn.modules.module.register_module_forward_hook(lambda m, a, o: seen.append(m))
        registered.set()
        return handle

    handle = _in_threads([lambda: layer(nf.zeros(1)), add_hook])[1]
    try:
        seen.clear()
        layer(nf.zeros(1))
        assert seen == [layer]
    finally:
        handle.remove()
