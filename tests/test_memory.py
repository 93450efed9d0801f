"""Memory: a 100-epoch digits run does not grow, and training allocates little beyond what it
must hold (parameters, gradients, optimizer state, one batch of activations)."""
import os
import platform
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import nnfast as nf
from nnfast import nn, optim
from nnfast.datasets import load_digits
from nnfast.train import Callback, fit


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _Probe(Callback):
    def __init__(self):
        self.rss, self.traced = [], []

    def on_epoch_end(self, epoch, logs):
        self.rss.append(_rss())
        self.traced.append(tracemalloc.get_traced_memory()[0])


def _digits():
    d = load_digits()
    x = ((d.data - d.data.mean(0)) / (d.data.std(0) + 1e-8)).astype(np.float32)
    return x, d.target


BATCH, HIDDEN = 32, 128


def _model_and_optimizer():
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10))
    return model, optim.Adam(model.parameters(), lr=1e-3)


def test_training_allocates_within_1_5x_of_what_it_must_hold():
    x, y = _digits()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        model, opt = _model_and_optimizer()
        tracemalloc.reset_peak()
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=3, batch_size=BATCH,
            verbose=False, seed=0)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    n_params = sum(p.detach().numpy().size for p in model.parameters())
    state = 4 * n_params * 4                     # parameters, gradients, exp_avg, exp_avg_sq
    # one step's activations and their gradients: BATCH rows of 64 + 128 + 128 + 10 floats,
    # each held once forward and once backward
    activations = 2 * 4 * BATCH * (64 + HIDDEN + HIDDEN + 10)
    must_hold = state + activations
    print(f"peak traced {peak} B, must hold {must_hold} B ({peak / must_hold:.2f}x)")
    assert peak <= 1.5 * must_hold, (peak, must_hold)


def test_100_epoch_digits_run_does_not_grow():
    x, y = _digits()
    model, opt = _model_and_optimizer()
    probe = _Probe()
    tracemalloc.start()
    try:
        fit(model, nn.CrossEntropyLoss(), opt, (x, y), epochs=100, batch_size=BATCH,
            verbose=False, seed=0, callbacks=[probe])
    finally:
        tracemalloc.stop()
    # past warm-up neither the traced heap nor the RSS grows with the epochs, beyond the
    # History's few floats per epoch
    assert probe.traced[-1] - probe.traced[9] < 90 * 1024, probe.traced[9::10]
    if "asan" not in os.environ.get("LD_PRELOAD", ""):
        # (under AddressSanitizer freed memory sits in its quarantine, so RSS says nothing)
        assert probe.rss[-1] - probe.rss[9] < 1 << 20, probe.rss[9::10]


def test_contiguous_span_detection_does_not_leak():
    # NumPy 2.4's __array_interface__ leaks on views; gradient-norm code must not use it
    params = list(nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2)).parameters())
    optim.SGD(params, lr=0.1)           # gradients now live side by side in one flat buffer
    for p in params:
        nf.autograd.grad_sink(p)[0][...] = 1.0
    tracemalloc.start()
    try:
        nn.utils.get_total_norm([p.grad for p in params])
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(5000):
            nn.utils.get_total_norm([p.grad for p in params])
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 16 * 1024, grown


_FAULTS = """
import resource, numpy as np, nnfast
def step():   # three 1 MiB temporaries, touched, then freed: a small step's churn
    bufs = [np.ones(1 << 18, np.float32) for _ in range(3)]
    return sum(float(b[-1]) for b in bufs)
step(); step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="the malloc tuning is glibc's")
def test_import_keeps_freed_temporaries_unless_the_user_tuned_malloc():
    """Step temporaries freed at the end of a step are reused by the next one instead of
    being returned to the OS and faulted in again (768 page faults per step here with
    glibc's own trimming); a malloc setting of the user's own is left alone."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(nf.__file__)))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}

    def faults(**extra):
        out = subprocess.run([sys.executable, "-c", _FAULTS], env=dict(env, **extra),
                             capture_output=True, text=True, check=True, cwd=root)
        return int(out.stdout.strip())
    assert faults() < 200                                      # 20 steps
    assert faults(MALLOC_TRIM_THRESHOLD_="0") > 5000          # trimmed every step
