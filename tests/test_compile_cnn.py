"""compile_step on CNNs (Conv2d, max/avg/adaptive pooling, BatchNorm2d, activations and
Dropout on (N, C, H, W), then Flatten and the MLP layers): bit-for-bit the eager loop,
torch's numbers, fit() using it, and the eager loop's answer for inputs the captured step
does not cover."""
import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn, optim
from nnfast.train import fit
from test_compile import assert_same_state, eager_step, run_both, twins


def assert_same_buffers(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert np.array_equal(s1[k].numpy(), s2[k].numpy()), k


def run_alternating_threads(m1, o1, step, lf, data):
    """The eager loop on (m1, o1) and the captured step side by side, the thread count
    alternating 1, 2 between calls; the losses compared."""
    before = nf.get_num_threads()
    try:
        for i, (x, y) in enumerate(data):
            nf.set_num_threads(1 + i % 2)
            assert eager_step(m1, lf, o1, x, y) == step(x, y)
    finally:
        nf.set_num_threads(before)


def assert_raises_as_eager(m1, o1, step, lf, x, y):
    """The eager loop and the captured step both raise, the same exception and message."""
    errs = []
    for fn in (lambda: eager_step(m1, lf, o1, x, y), lambda: step(x, y)):
        with pytest.raises(Exception) as e:
            fn()
        errs.append((type(e.value), str(e.value)))
    assert errs[0] == errs[1]


def cnn_data(shape, n_out=10, batches=(8,), nsteps=6, seed=0, kind="ce"):
    rng = np.random.default_rng(seed)
    out = []
    for s in range(nsteps):
        b = batches[s % len(batches)]
        x = rng.standard_normal((b,) + shape).astype(np.float32)
        y = (rng.integers(0, n_out, b).astype(np.int64) if kind == "ce"
             else rng.standard_normal((b, n_out)).astype(np.float32))
        out.append((nf.from_numpy(x), nf.from_numpy(y)))
    return out


def small_cnn(c_in=1, side=12, act=nn.ReLU, pool=None, conv2=None, extra=(), norm=None,
              pool_layer=nn.MaxPool2d):
    """Conv -> act -> Conv -> [norm] -> act -> pool -> Flatten -> Linear, sizes from a dry
    run."""
    def build():
        layers = [nn.Conv2d(c_in, 4, 3), act(), nn.Conv2d(4, 6, 3, **(conv2 or {})),
                  *([norm()] if norm else []), act(),
                  pool_layer(**(pool or {"kernel_size": 2})), *[f() for f in extra],
                  nn.Flatten()]
        with nf.no_grad():
            n = nn.Sequential(*layers)(nf.zeros((1, c_in, side, side))).shape[1]
        return nn.Sequential(*layers, nn.Linear(n, 10))
    return build


CASES = {
    "plain": small_cnn(),
    # a 9x9 pool input: the 2x2 pool's last row and column belong to no window
    "odd pool input": small_cnn(side=13),
    "padding 1": small_cnn(conv2={"padding": 1}),
    "padding same": small_cnn(conv2={"padding": "same"}),
    "stride 2, dilation 2": small_cnn(side=16, conv2={"stride": 2, "dilation": 2}),
    "groups 2, no bias": small_cnn(conv2={"groups": 2, "bias": False}),
    "pool 3 stride 2 ceil": small_cnn(side=13, pool={"kernel_size": 3, "stride": 2,
                                                      "ceil_mode": True}),
    "pool padding": small_cnn(pool={"kernel_size": 3, "stride": 2, "padding": 1}),
    "gelu, dropout": small_cnn(act=nn.GELU, extra=(lambda: nn.Dropout(0.3),)),
    "leaky relu, 3 channels": small_cnn(c_in=3, act=lambda: nn.LeakyReLU(0.1)),
    # activations whose backward reads their output: written over the conv's output
    "tanh": small_cnn(act=nn.Tanh),
    "sigmoid, padding 1": small_cnn(act=nn.Sigmoid, conv2={"padding": 1}),
    # 8 -> 16 channels on 10x10: Winograd, its ReLU over its output and its dinp
    "winograd conv, relu": lambda: nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 4 * 4, 10)),
    "avgpool": small_cnn(pool_layer=nn.AvgPool2d),
    "avgpool 3 stride 2 pad 1, no pad count, ceil": small_cnn(
        side=13, pool_layer=nn.AvgPool2d, pool={"kernel_size": 3, "stride": 2, "padding": 1,
                                               "count_include_pad": False, "ceil_mode": True}),
    "avgpool divisor 3": small_cnn(pool_layer=nn.AvgPool2d,
                                   pool={"kernel_size": 2, "divisor_override": 3}),
    "adaptive avgpool 1": small_cnn(pool_layer=nn.AdaptiveAvgPool2d, pool={"output_size": 1}),
    "adaptive avgpool (3, None)": small_cnn(pool_layer=nn.AdaptiveAvgPool2d,
                                            pool={"output_size": (3, None)}),
    "batchnorm2d": small_cnn(norm=lambda: nn.BatchNorm2d(6)),
    "batchnorm2d momentum None, no affine": small_cnn(
        norm=lambda: nn.BatchNorm2d(6, momentum=None, affine=False)),
    "batchnorm2d no running stats": small_cnn(
        norm=lambda: nn.BatchNorm2d(6, track_running_stats=False)),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("threads", [1, 2])
def test_cnn_matches_eager(name, threads):
    c_in = 3 if "3 channels" in name else 1
    side = {"stride 2, dilation 2": 16, "pool 3 stride 2 ceil": 13,
            "odd pool input": 13}.get(name, 12)
    before = nf.get_num_threads()
    nf.set_num_threads(threads)
    try:
        step, _, _ = run_both(CASES[name], lambda p: optim.Adam(p, lr=1e-2),
                              nn.CrossEntropyLoss(), cnn_data((c_in, side, side),
                                                              batches=(8, 5)))
    finally:
        nf.set_num_threads(before)
    assert step.eager_calls == 0


def test_threaded_cnn_matches_eager_as_the_thread_count_changes():
    # big enough that the convolutions, pools and norms run on the thread team (the small
    # cases above stay on one thread); the count alternates between calls
    def build():
        return nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3), nn.BatchNorm2d(32), nn.ReLU(),
                             nn.Conv2d(32, 16, 3, padding=1, groups=2), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    (m1, o1), (m2, o2) = twins(build, lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    run_alternating_threads(m1, o1, step, lf, cnn_data((3, 28, 28), batches=(16, 5)))
    assert step.eager_calls == 0
    assert_same_state(m1, o1, m2, o2)
    assert_same_buffers(m1, m2)


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                           nn.Linear(4, 3)), (1, 1, 3, 3)),       # one value a channel
    (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, eps=0.0), nn.Flatten(),
                           nn.Linear(36, 3)), (4, 1, 5, 5)),      # eps 0 in training
    (lambda: nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)), (1, 6)),
])
def test_batchnorm_batches_eager_refuses_raise_as_eager(build, shape):
    (m1, o1), (m2, o2) = twins(build, lambda p: optim.SGD(p, lr=0.1))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    assert step.compiled
    x = nf.from_numpy(np.ones(shape, np.float32))
    y = nf.from_numpy(np.zeros(shape[0], np.int64))
    assert_raises_as_eager(m1, o1, step, lf, x, y)
    assert_same_state(m1, o1, m2, o2)
    assert_same_buffers(m1, m2)


@pytest.mark.parametrize("make_opt", [lambda p: optim.SGD(p, lr=0.05, momentum=0.9),
                                      lambda p: optim.AdamW(p, lr=1e-2),
                                      lambda p: optim.RMSprop(p, lr=1e-3)])
def test_cnn_optimizers_and_mse_match_eager(make_opt):
    run_both(small_cnn(), make_opt, nn.CrossEntropyLoss(), cnn_data((1, 12, 12)))
    run_both(small_cnn(), make_opt, nn.MSELoss(), cnn_data((1, 12, 12), kind="mse"))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_cnn_under_autocast_matches_eager(dtype):
    (m1, o1), (m2, o2) = twins(small_cnn(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    for x, y in cnn_data((1, 12, 12)):
        with nf.autocast("cpu", dtype=getattr(nf, dtype)):
            a = eager_step(m1, lf, o1, x, y)
            b = step(x, y)
        assert a == b
    assert step.eager_calls == 0
    assert_same_state(m1, o1, m2, o2)


def test_cnn_new_image_sizes_and_thread_counts_mid_run():
    # another image size is another workspace (the Linear still fits: a global pool would be
    # needed otherwise); the conv plan follows the thread count, as the eager layers' does
    (m1, o1), (m2, o2) = twins(small_cnn(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    run_alternating_threads(m1, o1, step, lf, cnn_data((1, 12, 12), batches=(8, 3)))
    assert step.eager_calls == 0
    assert_same_state(m1, o1, m2, o2)
    # an image size the Linear does not take: the eager loop's error, nothing updated
    x, y = cnn_data((1, 14, 14), nsteps=1)[0]
    assert_raises_as_eager(m1, o1, step, lf, x, y)
    assert step.eager_calls == 1


@pytest.mark.parametrize("bad", ["flat input", "channels", "float64", "5-D"])
def test_cnn_inputs_it_does_not_cover_run_eager(bad):
    (m1, o1), (m2, o2) = twins(small_cnn(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    x, y = cnn_data((1, 12, 12), nsteps=1)[0]
    xd = x.numpy()
    x = {"flat input": xd.reshape(8, -1), "channels": np.repeat(xd, 2, axis=1),
         "float64": xd.astype(np.float64), "5-D": xd[None]}[bad]
    r = []
    for fn in (lambda: eager_step(m1, lf, o1, nf.from_numpy(x), y),
               lambda: step(nf.from_numpy(x), y)):
        try:
            r.append(fn())
        except Exception as e:     # noqa: BLE001 - the comparison is the point
            r.append((type(e), str(e)))
    assert r[0] == r[1]
    assert step.eager_calls == 1
    assert_same_state(m1, o1, m2, o2)


@pytest.mark.parametrize("build, why", [
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.Conv2d(1, 2, 3)), "after"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(10, 10)), "4-D activations"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm1d(2), nn.Flatten(),
                           nn.Linear(200, 10)), "BatchNorm1d"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(144, 8), nn.BatchNorm2d(8),
                           nn.Linear(8, 10)), "BatchNorm2d"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, return_indices=True),
                           nn.Flatten(), nn.Linear(50, 10)), "return_indices"),
    (lambda: nn.Sequential(nn.Linear(12, 10), nn.Conv2d(1, 2, 3)), "after"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Conv2d(1, 2, 3),
                           nn.Flatten(), nn.Linear(8, 10)), "after a Flatten"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.AdaptiveAvgPool2d(1),
                           nn.Flatten(), nn.Linear(2, 10)), "after a Flatten"),
])
def test_cnn_it_cannot_capture_runs_eager(build, why):
    model = build()
    step = nf.compile_step(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()))
    assert step.compiled is False and why in step.reason


def test_cnn_step_matches_torch_over_steps():
    build = small_cnn()
    nf.manual_seed(0)
    model = build()
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
                                 torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(),
                                 torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                 torch.nn.Linear(6 * 4 * 4, 10))
    tmodel.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy())
                            for k, v in model.state_dict().items()})
    step = nf.compile_step(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), 1e-2))
    topt = torch.optim.Adam(tmodel.parameters(), 1e-2)
    tl = torch.nn.CrossEntropyLoss()
    for x, y in cnn_data((1, 12, 12), nsteps=10):
        topt.zero_grad()
        loss = tl(tmodel(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy()))
        loss.backward()
        topt.step()
        assert abs(step(x, y) - loss.item()) < 1e-4 * max(1.0, abs(loss.item()))
    for k, v in tmodel.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[k].numpy(), v.numpy(), rtol=1e-4,
                                   atol=1e-5)
    assert step.compiled and step.eager_calls == 0


def test_fit_trains_a_cnn_with_the_captured_step():
    (m1, o1), (m2, o2) = twins(small_cnn(), lambda p: optim.Adam(p, lr=1e-2))
    lf = nn.CrossEntropyLoss()
    data = cnn_data((1, 12, 12), nsteps=4)
    x = np.concatenate([d[0].numpy() for d in data])
    y = np.concatenate([d[1].numpy() for d in data])
    calls = []
    real = nf.compile_step

    def spy(*a):
        calls.append(real(*a))
        return calls[-1]
    import nnfast.compile as C
    C.compile_step, orig = spy, C.compile_step
    try:
        fit(m2, lf, o2, (x, y), epochs=2, batch_size=8, shuffle=False, verbose=False)
    finally:
        C.compile_step = orig
    assert calls and calls[0].compiled
    for _ in range(2):
        for i in range(0, len(x), 8):
            eager_step(m1, lf, o1, nf.from_numpy(x[i:i + 8]), nf.from_numpy(y[i:i + 8]))
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert np.array_equal(p1.detach().numpy(), p2.detach().numpy())


@pytest.mark.parametrize("name", [k for k in CASES if k.startswith("batchnorm2d")])
def test_cnn_batchnorm2d_buffers_match_eager_and_eval_runs_eager(name):
    # running statistics and the batch count as the eager layers keep them; a step in eval
    # mode (running statistics used) runs the eager loop, then the captured one again
    (m1, o1), (m2, o2) = twins(CASES[name], lambda p: optim.SGD(p, lr=0.1))
    lf = nn.CrossEntropyLoss()
    step = nf.compile_step(m2, lf, o2)
    for i, (x, y) in enumerate(cnn_data((1, 12, 12), batches=(8, 5), nsteps=7)):
        for m in (m1, m2):
            m.train(i % 3 != 1)
        assert eager_step(m1, lf, o1, x, y) == step(x, y)
    assert step.eager_calls == 2
    assert_same_buffers(m1, m2)
    assert_same_state(m1, o1, m2, o2)


_PORTABLE = """
import sys
sys.path.insert(0, {tests!r})
import test_compile_cnn as t
for name in ("plain", "odd pool input", "winograd conv, relu", "gelu, dropout"):
    for threads in (1, 2):
        t.test_cnn_matches_eager(name, threads)
print("ok")
"""


@pytest.mark.parametrize("setting", ["NNFAST_POOL=portable", "NNFAST_CONV_WINOGRAD=0"])
def test_other_paths_match_eager(setting):
    """The 2x2 max pool's portable loops (the AVX-512 ones run by default here), and convs on
    im2col: the captured step's index-free pool backward, run for a conv below it image by
    image (all images first on im2col), against the eager layers', which keep indices. Both
    settings are read once per process."""
    import os
    import subprocess
    import sys
    key, value = setting.split("=")
    env = dict(os.environ, **{key: value})
    code = _PORTABLE.format(tests=os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
