"""Misaligned arrays at the C seam.

A float32 array need not start at a multiple of 4 bytes (np.frombuffer at an odd offset, a
packed record's field, a memory map). The kernels read through float pointers, which C
allows only when aligned: the _C seam runs such calls on aligned copies (nnfast/_C_align.pxi)
and writes the outputs back. Each case runs on aligned arrays and on misaligned copies of
the same values; the results must be identical (the sanitizer run, test_sanitizers.py,
shows no misaligned load reaches C).
"""
import os

import numpy as np
import pytest

import nnfast as nf
import nnfast.nn.functional as F
from nnfast import _C, nn

from helpers import misaligned

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _leaf(A, a):
    return nf.from_numpy(A(a)).requires_grad_(True)


def _backward(A, outs, leaves):
    """Each output's backward from its own upstream gradient made by A; outputs and the
    leaves' gradients as arrays."""
    for k, o in enumerate(outs):
        o.backward(nf.from_numpy(A(_r(*o.shape, seed=100 + k))))
    return [o.detach().numpy() for o in outs] + [t.grad.numpy() for t in leaves]


MISALIGNED_CASES = {}


def _case(fn):
    MISALIGNED_CASES[fn.__name__] = fn
    return fn


@_case
def activations(A):
    x = _leaf(A, _r(4, 6))
    w = _leaf(A, np.linspace(0.1, 0.6, 6).astype(np.float32))
    fns = (F.relu, F.gelu, F.silu, F.sigmoid, F.tanh, F.elu, F.softplus, F.mish, F.hardswish,
           F.selu, F.logsigmoid, lambda t: F.leaky_relu(t, 0.1), lambda t: F.softmax(t, 1),
           lambda t: F.log_softmax(t, 1), lambda t: F.prelu(t, w))
    return _backward(A, [f(x) for f in fns], [x, w])


@_case
def linear_and_matmul(A):
    x, W, b = _leaf(A, _r(5, 7)), _leaf(A, _r(3, 7, seed=1)), _leaf(A, _r(3, seed=2))
    B = _leaf(A, _r(7, 4, seed=3))
    return _backward(A, [F.linear(x, W, b), nf.matmul(x, B)], [x, W, b, B])


@_case
def losses(A):
    z = _leaf(A, _r(6, 4))
    labels = nf.from_numpy(A(np.array([0, 3, 1, 2, 2, 0], np.int64)))
    cw = nf.from_numpy(A(np.array([1.0, 2.0, 0.5, 1.0], np.float32)))
    y = nf.from_numpy(A(_r(6, 4, seed=1)))
    p01 = np.random.default_rng(2).uniform(0, 1, (6, 4)).astype(np.float32)
    probs = nf.from_numpy(A(p01 / p01.sum(1, keepdims=True)))
    pw = nf.from_numpy(A(np.full(4, 2.0, np.float32)))
    outs = [F.cross_entropy(z, labels), F.cross_entropy(z, labels, weight=cw, label_smoothing=0.1),
            F.nll_loss(F.log_softmax(z, 1), labels, weight=cw), F.cross_entropy(z, probs),
            F.mse_loss(z, y), F.l1_loss(z, y), F.smooth_l1_loss(z, y), F.huber_loss(z, y),
            F.binary_cross_entropy_with_logits(z, nf.from_numpy(A(p01)), pos_weight=pw),
            F.binary_cross_entropy(F.sigmoid(z), nf.from_numpy(A(p01))),
            F.mse_loss(z, y, reduction="none")]
    return _backward(A, outs, [z])


@_case
def optimizers_and_clipping(A):
    out = []
    makers = (lambda ps: nf.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
              lambda ps: nf.optim.Adam(ps, lr=0.01, amsgrad=True),
              lambda ps: nf.optim.AdamW(ps, lr=0.01),
              lambda ps: nf.optim.RMSprop(ps, lr=0.01, centered=True, momentum=0.5),
              lambda ps: nf.optim.Adagrad(ps, lr=0.1), lambda ps: nf.optim.Adadelta(ps),
              lambda ps: nf.optim.Adamax(ps), lambda ps: nf.optim.NAdam(ps),
              lambda ps: nf.optim.RAdam(ps), lambda ps: nf.optim.ASGD(ps),
              lambda ps: nf.optim.Rprop(ps))
    for k, make in enumerate(makers):
        params = [nn.Parameter(nf.from_numpy(A(_r(5, 3, seed=k)))),
                  nn.Parameter(nf.from_numpy(A(_r(3, seed=k + 50))))]
        opt = make(params)
        for step in range(3):
            opt.zero_grad()
            for j, p in enumerate(params):
                p.grad = nf.from_numpy(A(_r(*p.shape, seed=1000 * k + 10 * step + j)))
            nn.utils.clip_grad_norm_(params, 0.5)
            nn.utils.clip_grad_value_(params, 0.1)
            opt.step()
        out += [p.detach().numpy().copy() for p in params]
    return out


@_case
def dropout(A):
    x, x4 = _leaf(A, _r(4, 8)), _leaf(A, _r(2, 3, 4, 4, seed=1))
    return _backward(A, [F.dropout(x, 0.3, training=True), F.dropout2d(x4, 0.5, training=True)],
                     [x, x4])


@_case
def norms(A):
    x, x4 = _leaf(A, _r(4, 3, 5)), _leaf(A, _r(2, 4, 3, 3, seed=1))
    w, b = _leaf(A, _r(3, seed=2)), _leaf(A, _r(3, seed=3))
    wl, bl = _leaf(A, _r(5, seed=4)), _leaf(A, _r(5, seed=5))
    wg, bg = _leaf(A, _r(4, seed=6)), _leaf(A, _r(4, seed=7))
    rm = nf.from_numpy(A(np.zeros(3, np.float32)))
    rv = nf.from_numpy(A(np.ones(3, np.float32)))
    outs = [F.batch_norm(x, rm, rv, w, b, training=True),
            F.batch_norm(x, rm, rv, w, b, training=False),
            F.layer_norm(x, (5,), wl, bl), F.group_norm(x4, 2, wg, bg)]
    return _backward(A, outs, [x, x4, w, b, wl, bl, wg, bg]) + [rm.numpy(), rv.numpy()]


@_case
def conv_and_pools(A):
    x = _leaf(A, _r(2, 3, 6, 6))
    w, b = _leaf(A, _r(4, 3, 3, 3, seed=1)), _leaf(A, _r(4, seed=2))
    x1, w1 = _leaf(A, _r(2, 3, 8, seed=3)), _leaf(A, _r(4, 3, 3, seed=4))
    wt = _leaf(A, _r(3, 2, 3, 3, seed=5))
    outs = [F.conv2d(x, w, b, padding=1), F.conv1d(x1, w1), F.conv_transpose2d(x, wt),
            F.max_pool2d(x, 2), F.avg_pool2d(x, 3, stride=2, padding=1),
            F.adaptive_avg_pool2d(x, 4), F.adaptive_max_pool2d(x, 2),
            F.interpolate(x, scale_factor=2, mode="nearest"),
            F.interpolate(x, size=(5, 7), mode="bilinear", align_corners=False)]
    return _backward(A, outs, [x, w, b, x1, w1, wt])


@_case
def recurrent_and_embedding(A):
    outs, leaves = [], []
    for k, cls in enumerate((nn.LSTM, nn.GRU, nn.RNN)):
        nf.manual_seed(k)
        m = cls(3, 4, num_layers=2, bidirectional=True)
        x = _leaf(A, _r(5, 2, 3, seed=k))
        h0 = nf.from_numpy(A(_r(4, 2, 4, seed=k + 10)))
        hx = (h0, nf.from_numpy(A(_r(4, 2, 4, seed=k + 20)))) if cls is nn.LSTM else h0
        outs.append(m(x, hx)[0])
        leaves += [x, *m.parameters()]
    W = _leaf(A, _r(5, 3, seed=30))
    idx = nf.from_numpy(A(np.array([[0, 2, 4], [3, 1, 2]], np.int64)))
    outs += [F.embedding(idx, W), F.embedding(idx, W, scale_grad_by_freq=True)]
    return _backward(A, outs, leaves + [W])


@_case
def compiled_step(A):
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    step = nf.compile_step(model, nn.CrossEntropyLoss(),
                           nf.optim.Adam(model.parameters(), lr=0.01))
    X, y = A(_r(16, 6)), A(np.arange(16, dtype=np.int64) % 3)
    losses = [np.float64(step(X, y)) for _ in range(3)]
    return losses + [p.detach().numpy().copy() for p in model.parameters()]


@_case
def kneighbors_and_smote(A):
    X = A(_r(9, 3))
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    Xr, yr = nf.data.SMOTE(k_neighbors=2, random_state=0).fit_resample(X, A(y))
    return [nf.data.kneighbors(X, 2), Xr, yr]


def test_misaligned_helper_makes_misaligned_arrays():
    for a in (_r(3), np.arange(4, dtype=np.int64), np.float32(2.0)):
        m = misaligned(a)
        assert not m.flags.aligned and np.array_equal(m, a) and m.dtype == a.dtype


@pytest.mark.parametrize("name", sorted(MISALIGNED_CASES))
def test_misaligned_arrays_give_the_results_of_aligned_ones(name):
    nf.manual_seed(0)
    want = MISALIGNED_CASES[name](np.copy)
    nf.manual_seed(0)
    got = MISALIGNED_CASES[name](misaligned)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(g, w, err_msg=f"{name}: result {k}")


def test_the_c_seam_writes_misaligned_outputs_back_in_place():
    x = misaligned(np.array([-1, 2, -3, 4, -5], np.float32))
    _C.act_forward(0, x, x)                   # relu in place: out is inp
    np.testing.assert_array_equal(x, [0, 2, 0, 4, 0])
    out = misaligned(np.zeros(5, np.float32))
    src = misaligned(np.array([-1, 2, -3, 4, -5], np.float32))
    src.setflags(write=False)
    _C.act_forward(0, out, src)
    np.testing.assert_array_equal(out, [0, 2, 0, 4, 0])
    A, B = _r(3, 4), _r(4, 2, seed=1)
    C = misaligned(np.ones((3, 2), np.float32))
    _C.sgemm(False, False, 1.0, misaligned(A), misaligned(B), 1.0, C)   # C += A @ B
    np.testing.assert_allclose(C, A @ B + 1, rtol=1e-5, atol=1e-6)
    t = nf.from_numpy(misaligned(np.array([-1, 2], np.float32)))   # shares the caller's memory
    F.relu(t, inplace=True)
    np.testing.assert_array_equal(t.numpy(), [0, 2])
    with pytest.raises(ValueError, match="elements"):   # misaligned and wrong: same error
        _C.act_forward(0, misaligned(np.zeros(4, np.float32)), misaligned(_r(5)))


def test_empty_arrays_at_odd_addresses_pass_the_seam():
    # NumPy calls an empty array aligned wherever it points; the seam must still hand the
    # kernel an aligned one (it recursed until the stack ran out)
    e = np.frombuffer(bytearray(8), np.float32, count=0, offset=1)
    assert e.flags.aligned and e.ctypes.data % 4
    _C.act_forward(0, e, e)
    _C.layer_norm_forward(e, np.empty(0, np.float32), np.empty(0, np.float32), e, None, None,
                          0, 4, 1e-5)
    out = np.frombuffer(bytearray(8), np.float32, count=0, offset=1).reshape(0, 2)
    _C.sgemm(False, False, 1.0, np.zeros((0, 3), np.float32), np.zeros((3, 2), np.float32),
             0.0, out)


def test_every_c_wrapper_taking_arrays_tests_their_alignment():
    """A wrapper added later must start with the alignment test too (nnfast/_C_align.pxi):
    each top-level def of nnfast/_C_*.pxi with an array parameter (a typed memoryview, or an
    untyped one) hands misaligned calls to _realigned."""
    import glob
    import re
    missing = []
    for path in sorted(glob.glob(os.path.join(ROOT, "nnfast", "_C_*.pxi"))):
        if path.endswith("_C_align.pxi"):
            continue
        src = open(path).read()
        for m in re.finditer(r"^def (\w+)\((.*?)\):\n(.*?)(?=^\S|\Z)", src, re.S | re.M):
            params = [p.split("=")[0].strip() for p in re.split(r",(?![^\[]*\])", m.group(2))]
            takes_arrays = any("[" in p or (p and len(p.split()) == 1) for p in params)
            if takes_arrays and f"_realigned({m.group(1)}," not in m.group(3) and \
                    m.group(1) not in REFUSES_MISALIGNED:
                missing.append(f"{os.path.basename(path)}: {m.group(1)}")
    assert not missing, missing


# Wrappers whose arrays arrive inside a record (nested, so _realigned cannot swap them) and
# only ever from nnfast's own aligned buffers: they refuse a misaligned array instead.
REFUSES_MISALIGNED = {"run_update"}


def test_run_update_refuses_a_misaligned_array():
    from nnfast import _C
    buf = np.zeros(4 * 10 + 1, np.uint8)
    odd = np.frombuffer(buf.data, np.float32, 10, offset=1)   # misaligned float32
    fine = np.zeros(10, np.float32)
    rec = (_C.UPDATE_SGD, odd, fine, (), (0.1, 0.0, 0.0, 1.0), (0, 0, 0))
    with pytest.raises(ValueError, match="not aligned"):
        _C.run_update(rec)
    rec = (_C.UPDATE_SGD, fine, odd, (), (0.1, 0.0, 0.0, 1.0), (0, 0, 0))
    with pytest.raises(ValueError, match="not aligned"):
        _C.run_update(rec)
