"""BatchNorm1d/2d, LayerNorm and their functional twins against torch 2.13; the compiled
kernels held equal to the plain C loops and to the NumPy reference; float64 finite
differences; bad input."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
import nnfast.nn.functional as F
from nnfast import _C, nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import _functional_norm as FN

from helpers import assert_close, check_op, copy_weights, fd_grad

ATOL, RTOL = 2e-5, 2e-4


def _pair(kind, C, **kw):
    tm = {"bn1": torch.nn.BatchNorm1d, "bn2": torch.nn.BatchNorm2d}[kind](C, **kw)
    nm = {"bn1": nn.BatchNorm1d, "bn2": nn.BatchNorm2d}[kind](C, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            if tm.bias is not None:
                tm.bias.uniform_(-1, 1)
    copy_weights(tm, nm)
    return tm, nm


def _run_steps(tm, nm, shape, steps, rng, train=True):
    """Forward + backward `steps` times on the same fresh batches; compare everything."""
    tm.train(train)
    nm.train(train)
    for _ in range(steps):
        x = (rng.standard_normal(shape) * 2 + 0.5).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xt = torch.tensor(x, requires_grad=True)
        xn = nf.tensor(x, requires_grad=True)
        yt, yn = tm(xt), nm(xn)
        assert yn.shape == tuple(yt.shape) and yn.dtype == np.float32
        # x - mean cancels when a channel's values nearly agree: float32 rounding of x (which
        # torch's float sums add to) is then amplified by 1/sqrt(var + eps) in the output
        axes = (0,) + tuple(range(2, len(shape)))
        amp = float(np.max(np.abs(x)) / np.sqrt(x.astype(np.float64).var(axis=axes).min()
                                                + 1e-5)) if train else 0.0
        assert_close(yn, yt, ATOL + 8 * np.finfo(np.float32).eps * amp, RTOL, "forward")
        yt.backward(torch.tensor(g))
        yn.backward(nf.tensor(g))
        assert_close(xn.grad, xt.grad, ATOL, RTOL, "input grad")
        for name, p in tm.named_parameters():
            assert_close(getattr(nm, name).grad, p.grad, 1e-4, RTOL, f"{name}.grad")
        for name, b in tm.named_buffers():
            assert_close(getattr(nm, name), b, ATOL, RTOL, name)
        tm.zero_grad()
        nm.zero_grad()


# ===================================================================== BatchNorm vs torch

@pytest.mark.parametrize("kind,shape", [
    ("bn1", (8, 5)), ("bn1", (2, 1)), ("bn1", (4, 3, 7)), ("bn1", (2, 3, 1)),
    ("bn1", (6, 200)), ("bn1", (3, 70, 5)), ("bn2", (3, 4, 5, 6)), ("bn2", (2, 1, 3, 3)),
    ("bn2", (2, 3, 7, 5)), ("bn2", (1, 2, 3, 1)), ("bn2", (2, 130, 2, 3)),
])
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
def test_batchnorm_train_eval_matches_torch(kind, shape, momentum):
    rng = np.random.default_rng(1)
    tm, nm = _pair(kind, shape[1], momentum=momentum)
    _run_steps(tm, nm, shape, 3, rng, train=True)
    assert int(nm.num_batches_tracked.item()) == int(tm.num_batches_tracked) == 3
    _run_steps(tm, nm, shape, 1, rng, train=False)
    assert int(nm.num_batches_tracked.item()) == 3


@pytest.mark.parametrize("kw", [dict(affine=False), dict(track_running_stats=False),
                                dict(affine=False, track_running_stats=False),
                                dict(bias=False), dict(eps=1e-3, momentum=0.3)])
@pytest.mark.parametrize("kind,shape", [("bn1", (6, 4)), ("bn1", (3, 4, 5)),
                                        ("bn2", (2, 4, 3, 5))])
def test_batchnorm_options_match_torch(kw, kind, shape):
    rng = np.random.default_rng(2)
    tm, nm = _pair(kind, shape[1], **kw)
    _run_steps(tm, nm, shape, 2, rng, train=True)
    _run_steps(tm, nm, shape, 1, rng, train=False)   # no running stats: batch stats in eval


def test_batchnorm_state_dict_like_torch_and_loads_torch():
    for kind in ("bn1", "bn2"):
        for kw in (dict(), dict(affine=False), dict(track_running_stats=False)):
            tm, nm = _pair(kind, 3, **kw)
            ts, ns = tm.state_dict(), nm.state_dict()
            assert list(ns) == list(ts)
            for k in ts:
                assert ns[k].shape == tuple(ts[k].shape), k
                assert str(ns[k].dtype) == str(ts[k].dtype).replace("torch.", ""), k
            assert [n for n, _ in nm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    # train torch a few steps, load its state into a fresh nnfast layer: same eval output
    tm = torch.nn.BatchNorm2d(4)
    rng = np.random.default_rng(3)
    for _ in range(4):
        tm(torch.tensor(rng.standard_normal((3, 4, 2, 2)).astype(np.float32) * 3 + 1))
    nm = nn.BatchNorm2d(4)
    nm.load_state_dict(tm.state_dict())
    assert nm.num_batches_tracked.dtype == np.int64 and nm.num_batches_tracked.item() == 4
    tm.eval()
    nm.eval()
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert_close(nm(nf.tensor(x)), tm(torch.tensor(x)), ATOL, RTOL, "eval after load")
    assert repr(nm) == repr(tm)
    assert repr(nn.BatchNorm1d(3, affine=False)) == repr(torch.nn.BatchNorm1d(3, affine=False))


def test_batchnorm_double_module_and_cast_keeps_int64():
    nm = nn.BatchNorm1d(3).double()
    assert nm.weight.dtype == np.float64 and nm.num_batches_tracked.dtype == np.int64
    tm = torch.nn.BatchNorm1d(3).double()
    x = np.random.default_rng(4).standard_normal((5, 3))
    y = nm(nf.tensor(x, dtype=np.float64))
    assert y.dtype == np.float64
    assert_close(y, tm(torch.tensor(x)), 1e-12, 1e-12)
    assert_close(nm.running_var, tm.running_var, 1e-12, 1e-12)


def test_batchnorm_empty_batch_like_torch():
    x = np.zeros((0, 3, 4), np.float32)
    for train in (True, False):
        tm, nm = _pair("bn1", 3)
        tm.train(train)
        nm.train(train)
        xn = nf.tensor(x, requires_grad=True)
        yn = nm(xn)
        yt = tm(torch.tensor(x))
        assert yn.shape == tuple(yt.shape) == (0, 3, 4)
        yn.sum().backward()
        assert xn.grad.shape == (0, 3, 4)
        assert_close(nm.running_mean, tm.running_mean)
        assert_close(nm.running_var, tm.running_var)
        np.testing.assert_array_equal(nm.weight.grad.detach().numpy(), 0)


def test_batchnorm_no_grad_still_updates_running_stats():
    tm, nm = _pair("bn1", 4)
    x = np.random.default_rng(5).standard_normal((6, 4)).astype(np.float32)
    with nf.no_grad():
        y = nm(nf.tensor(x))
    assert y.grad_fn is None
    with torch.no_grad():
        tm(torch.tensor(x))
    assert_close(nm.running_mean, tm.running_mean, ATOL, RTOL)
    assert_close(nm.running_var, tm.running_var, ATOL, RTOL)


# ===================================================================== F.batch_norm

@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_functional_batch_norm_matches_torch(training, affine):
    rng = np.random.default_rng(6)
    shape = (4, 3, 5)
    rm0 = rng.standard_normal(3).astype(np.float32)
    rv0 = rng.uniform(0.5, 2, 3).astype(np.float32)
    w0 = rng.uniform(0.5, 1.5, 3).astype(np.float32)
    b0 = rng.standard_normal(3).astype(np.float32)
    rm_t, rv_t = torch.tensor(rm0), torch.tensor(rv0)
    rm_n, rv_n = nf.tensor(rm0), nf.tensor(rv0)

    def tf(x, *p):
        return torch.nn.functional.batch_norm(x, rm_t, rv_t, *p, training=training,
                                              momentum=0.2, eps=1e-4)

    def nff(x, *p):
        return F.batch_norm(x, rm_n, rv_n, *p, training=training, momentum=0.2, eps=1e-4)

    shapes = [shape, (3,), (3,)] if affine else [shape]
    inputs = [rng.standard_normal(shape).astype(np.float32)] + ([w0, b0] if affine else [])
    check_op(shapes, tf, nff, ATOL, RTOL, inputs=inputs)
    assert_close(rm_n, rm_t, ATOL, RTOL, "running_mean")
    assert_close(rv_n, rv_t, ATOL, RTOL, "running_var")
    # training without running statistics
    if training:
        check_op([shape], lambda x: torch.nn.functional.batch_norm(x, None, None,
                                                                   training=True),
                 lambda x: F.batch_norm(x, None, None, training=True), ATOL, RTOL)


# ===================================================================== LayerNorm vs torch

@pytest.mark.parametrize("shape,ns", [
    ((4, 6), (6,)), ((3, 4, 5), (5,)), ((3, 4, 5), (4, 5)), ((2, 3, 4, 5), (3, 4, 5)),
    ((5,), (5,)), ((2, 1), (1,)), ((3, 300), (300,)), ((2, 3, 17), (17,)), ((0, 4), (4,)),
])
@pytest.mark.parametrize("kw", [dict(), dict(elementwise_affine=False), dict(bias=False),
                                dict(eps=1e-2)])
def test_layernorm_matches_torch(shape, ns, kw):
    rng = np.random.default_rng(7)
    tm = torch.nn.LayerNorm(ns, **kw)
    nm = nn.LayerNorm(ns, **kw)
    if tm.weight is not None:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 1.5)
            if tm.bias is not None:
                tm.bias.uniform_(-1, 1)
    copy_weights(tm, nm)
    assert list(nm.state_dict()) == list(tm.state_dict())
    assert repr(nm) == repr(tm)
    x = (rng.standard_normal(shape) * 3 + 2).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xt, xn = torch.tensor(x, requires_grad=True), nf.tensor(x, requires_grad=True)
    yt, yn = tm(xt), nm(xn)
    assert_close(yn, yt, ATOL, RTOL, "forward")
    yt.backward(torch.tensor(g))
    yn.backward(nf.tensor(g))
    # One normalized element: dx is exactly 0 mathematically, and both libraries return the
    # rounding noise of terms of size rstd * dy = dy / sqrt(eps) ~ 300.
    atol = 1e-3 if ns == (1,) else ATOL
    assert_close(xn.grad, xt.grad, atol, RTOL, "input grad")
    for name, p in tm.named_parameters():
        assert_close(getattr(nm, name).grad, p.grad, 1e-4, RTOL, f"{name}.grad")


def test_functional_layer_norm_matches_torch():
    rng = np.random.default_rng(8)
    check_op([(3, 4, 5), (4, 5), (4, 5)],
             lambda x, w, b: torch.nn.functional.layer_norm(x, (4, 5), w, b, 1e-3),
             lambda x, w, b: F.layer_norm(x, (4, 5), w, b, 1e-3), ATOL, RTOL, seed=1)
    check_op([(6, 7)], lambda x: torch.nn.functional.layer_norm(x, [7]),
             lambda x: F.layer_norm(x, 7), ATOL, RTOL)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert_close(F.layer_norm(nf.tensor(x), (3,), nf.tensor(np.ones(3, np.float32))),
                 torch.nn.functional.layer_norm(torch.tensor(x), (3,), torch.ones(3)))


# ===================================================================== kernels vs references

shapes_ncs = st.tuples(st.integers(1, 9), st.integers(1, 140), st.sampled_from([1, 1, 2, 3, 17]))


@settings(max_examples=40)
@given(shapes_ncs, st.booleans(), st.booleans(), st.integers(0, 2**31 - 1))
def test_batch_norm_kernels_match_references(ncs, affine, training, seed):
    N, C, S = ncs
    if training and N * S == 1:
        N = 2
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, C, S)) * 3 + 1).astype(np.float32)
    g = rng.standard_normal((N, C, S)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, C).astype(np.float32) if affine else None
    b = rng.standard_normal(C).astype(np.float32) if affine else None
    rm, rv = rng.standard_normal(C).astype(np.float32), rng.uniform(0.5, 2, C).astype(np.float32)
    outs = []
    for ref in (False, True):
        m, s = np.empty(C, np.float32), np.empty(C, np.float32)
        rmc, rvc = rm.copy(), rv.copy()
        _C.batch_norm_stats(m, s, rmc, rvc, x.reshape(-1), N, C, S, 0.1, 1e-5, reference=ref)
        y = np.empty(N * C * S, np.float32)
        _C.batch_norm_apply(y, x.reshape(-1), m, s, w, b, N, C, S, reference=ref)
        dx, dw, db = np.empty(N * C * S, np.float32), np.empty(C, np.float32), \
            np.empty(C, np.float32)
        _C.batch_norm_backward(dx, dw, db, g.reshape(-1), x.reshape(-1), m, s, w, N, C, S,
                               training, reference=ref)
        outs.append((m, s, rmc, rvc, y, dx, dw, db))
    # the blocked S == 1 path against the plain per-channel loops
    for a, r in zip(*outs):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6)
    # the compiled path against the NumPy reference
    m, s, rmc, rvc, y, dx, dw, db = outs[0]
    rmr, rvr = rm.astype(np.float64), rv.astype(np.float64)
    mr, sr = FN._ref_bn_stats(x, rmr, rvr, 0.1, 1e-5)
    np.testing.assert_allclose(m, mr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s, sr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rmc, rmr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rvc, rvr, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(y, FN._ref_bn_apply(x, m, s, w, b).reshape(-1),
                               rtol=1e-5, atol=1e-5)
    rdx, rdw, rdb = FN._ref_bn_backward(g, x, m, s, w, training)
    np.testing.assert_allclose(dx, rdx.reshape(-1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, rdb, rtol=1e-4, atol=1e-5)


@settings(max_examples=40)
@given(st.integers(0, 9), st.integers(1, 150), st.booleans(), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_layer_norm_kernels_match_reference(M, D, has_w, has_b, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((M, D)) * 3 + 2).astype(np.float32)
    g = rng.standard_normal((M, D)).astype(np.float32)
    w = rng.uniform(0.5, 1.5, D).astype(np.float32) if has_w else None
    b = rng.standard_normal(D).astype(np.float32) if has_b else None
    y, m, r = np.empty(M * D, np.float32), np.empty(M, np.float32), np.empty(M, np.float32)
    _C.layer_norm_forward(y, m, r, x.reshape(-1), w, b, M, D, 1e-5)
    dx, dw, db = np.empty(M * D, np.float32), np.empty(D, np.float32), np.empty(D, np.float32)
    _C.layer_norm_backward(dx, dw, db, g.reshape(-1), x.reshape(-1), m, r, w, M, D)
    if M == 0:
        np.testing.assert_array_equal(dw, 0)
        np.testing.assert_array_equal(db, 0)
        return
    yr, mr, rr = FN._ref_ln_forward(x, w, b, 1e-5)
    np.testing.assert_allclose(m, mr, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(r, rr, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y, yr.reshape(-1), rtol=1e-5, atol=1e-5)
    rdx, rdw, rdb = FN._ref_ln_backward(g, x, m, r, w)
    # dx = rstd * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat)) cancels terms of size
    # rstd * |dy*w|: its rounding noise scales with them (large when a row is constant)
    scale = float(np.abs(r).max() * np.abs(g).max() * (1.5 if has_w else 1.0))
    np.testing.assert_allclose(dx, rdx.reshape(-1), rtol=1e-4, atol=1e-5 + 1e-6 * scale)
    np.testing.assert_allclose(dw, rdw, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db, rdb, rtol=1e-4, atol=1e-5)


@settings(max_examples=25)
@given(st.sampled_from([(2, 3), (5, 1), (3, 4, 6), (2, 2, 3, 5), (4, 70), (3, 2, 1)]),
       st.booleans(), st.integers(0, 2**31 - 1))
def test_batchnorm_any_shape_matches_torch(shape, train, seed):
    rng = np.random.default_rng(seed)
    kind = "bn2" if len(shape) == 4 else "bn1"
    tm, nm = _pair(kind, shape[1])
    _run_steps(tm, nm, shape, 1, rng, train=train)


def test_large_batch_runs_threaded_paths():
    """Sizes above the OpenMP threshold, both BatchNorm paths and LayerNorm."""
    rng = np.random.default_rng(9)
    for kind, shape in (("bn1", (512, 96)), ("bn2", (8, 16, 24, 24)), ("bn1", (4096, 12))):
        tm, nm = _pair(kind, shape[1])
        _run_steps(tm, nm, shape, 1, rng)
    check_op([(256, 200), (200,), (200,)],
             lambda x, w, b: torch.nn.functional.layer_norm(x, (200,), w, b),
             lambda x, w, b: F.layer_norm(x, (200,), w, b), ATOL, RTOL)


# ===================================================================== finite differences

def test_batch_norm_float64_finite_differences():
    rng = np.random.default_rng(10)
    for training, shape in ((True, (3, 2, 4)), (True, (4, 3)), (False, (3, 2, 4))):
        C = shape[1]
        x0 = rng.standard_normal(shape)
        w0, b0 = rng.uniform(0.5, 1.5, C), rng.standard_normal(C)
        rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
        up = rng.standard_normal(shape)

        def f(x, w, b):
            # running stats are copied so the probe does not move them
            return (F.batch_norm(nf.tensor(x, dtype=np.float64),
                                 nf.tensor(rm, dtype=np.float64),
                                 nf.tensor(rv, dtype=np.float64),
                                 nf.tensor(w, dtype=np.float64), nf.tensor(b, dtype=np.float64),
                                 training=training).detach().numpy() * up).sum()

        xt = nf.tensor(x0, requires_grad=True, dtype=np.float64)
        wt = nf.tensor(w0, requires_grad=True, dtype=np.float64)
        bt = nf.tensor(b0, requires_grad=True, dtype=np.float64)
        y = F.batch_norm(xt, nf.tensor(rm, dtype=np.float64), nf.tensor(rv, dtype=np.float64),
                         wt, bt, training=training)
        assert y.dtype == np.float64
        y.backward(nf.tensor(up, dtype=np.float64))
        assert_close(xt.grad, fd_grad(lambda v: f(v, w0, b0), x0.copy()), 1e-7, 1e-6, "dx")
        assert_close(wt.grad, fd_grad(lambda v: f(x0, v, b0), w0.copy()), 1e-7, 1e-6, "dw")
        assert_close(bt.grad, fd_grad(lambda v: f(x0, w0, v), b0.copy()), 1e-7, 1e-6, "db")


def test_layer_norm_float64_finite_differences():
    rng = np.random.default_rng(11)
    for shape, ns in (((3, 5), (5,)), ((2, 3, 4), (3, 4))):
        x0 = rng.standard_normal(shape)
        w0, b0 = rng.uniform(0.5, 1.5, ns), rng.standard_normal(ns)
        up = rng.standard_normal(shape)

        def f(x, w, b):
            return (F.layer_norm(nf.tensor(x, dtype=np.float64), ns,
                                 nf.tensor(w, dtype=np.float64),
                                 nf.tensor(b, dtype=np.float64)).detach().numpy() * up).sum()

        xt = nf.tensor(x0, requires_grad=True, dtype=np.float64)
        wt = nf.tensor(w0, requires_grad=True, dtype=np.float64)
        bt = nf.tensor(b0, requires_grad=True, dtype=np.float64)
        F.layer_norm(xt, ns, wt, bt).backward(nf.tensor(up, dtype=np.float64))
        assert_close(xt.grad, fd_grad(lambda v: f(v, w0, b0), x0.copy()), 1e-7, 1e-6, "dx")
        assert_close(wt.grad, fd_grad(lambda v: f(x0, v, b0), w0.copy()), 1e-7, 1e-6, "dw")
        assert_close(bt.grad, fd_grad(lambda v: f(x0, w0, v), b0.copy()), 1e-7, 1e-6, "db")


def test_float32_path_equals_float64_reference_through_autograd():
    rng = np.random.default_rng(12)
    x = (rng.standard_normal((5, 4, 3)) * 2).astype(np.float32)
    up = rng.standard_normal((5, 4, 3)).astype(np.float32)
    grads = []
    for dt in (np.float32, np.float64):
        m = nn.BatchNorm1d(4, dtype=dt)
        xt = nf.tensor(x, requires_grad=True, dtype=dt)
        y = m(xt)
        y.backward(nf.tensor(up, dtype=dt))
        grads.append((y.detach().numpy(), xt.grad.detach().numpy(), m.weight.grad.detach().numpy(), m.running_var.detach().numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ===================================================================== bad input

def test_batchnorm_wrong_rank():
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*2D or 3D.*4D.*\(2, 3, 4, 5\)"):
        nn.BatchNorm1d(3)(nf.zeros(2, 3, 4, 5))
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*1D"):
        nn.BatchNorm1d(3)(nf.zeros(3))
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(3\).*4D.*3D.*\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(nf.zeros(2, 3, 4))
    with pytest.raises(RuntimeError):   # ShapeError is also what torch code catches
        nn.BatchNorm2d(3)(nf.zeros(2, 3, 4))


def test_batchnorm_channel_mismatch_leaves_counter():
    m = nn.BatchNorm1d(3)
    with pytest.raises(ShapeError, match=r"BatchNorm1d\(3\).*3 channels.*\(4, 5\)"):
        m(nf.zeros(4, 5))
    with pytest.raises(ShapeError, match=r"BatchNorm2d\(4\).*4 channels.*\(2, 3, 2, 2\)"):
        nn.BatchNorm2d(4)(nf.zeros(2, 3, 2, 2))
    assert m.num_batches_tracked.item() == 0
    with pytest.raises(ShapeError, match="running_mean should contain 4 elements not 3"):
        F.batch_norm(nf.zeros(2, 4), nf.zeros(3), nf.ones(3), training=True)
    with pytest.raises(ShapeError, match="weight should contain 3 elements not 4"):
        F.batch_norm(nf.zeros(2, 3), None, None, nf.ones(4), training=True)


def test_batchnorm_single_value_per_channel_in_training():
    m = nn.BatchNorm1d(3)
    for shape in ((1, 3), (1, 3, 1)):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when "
                                             r"training, got input size torch.Size\(\[1, 3"):
            m(nf.zeros(*shape))
    assert m.num_batches_tracked.item() == 0
    m.eval()
    assert m(nf.zeros(1, 3)).shape == (1, 3)   # fine with running statistics


def test_norm_int_and_mixed_dtype_input():
    with pytest.raises(DTypeError, match=r"BatchNorm1d\(3\).*int64"):
        nn.BatchNorm1d(3)(nf.tensor(np.zeros((4, 3), np.int64)))
    with pytest.raises(DTypeError, match=r"LayerNorm\(\(3,\)\).*int32"):
        nn.LayerNorm(3)(nf.tensor(np.zeros((4, 3), np.int32)))
    with pytest.raises(DTypeError, match="float64.*float32"):
        nn.BatchNorm1d(3)(nf.tensor(np.zeros((4, 3)), dtype=np.float64))
    with pytest.raises(TypeError):
        F.layer_norm([1.0, 2.0], (2,))


def test_layernorm_shape_mismatch():
    with pytest.raises(ShapeError, match=r"LayerNorm\(\(5,\)\).*normalized_shape=\[5\].*"
                                         r"\[\*, 5\].*\[2, 3, 4\]"):
        nn.LayerNorm(5)(nf.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"\[\*, 2, 3, 4, 5\]"):
        F.layer_norm(nf.zeros(2, 3, 4), (2, 3, 4, 5))
    with pytest.raises(ShapeError, match=r"weight of shape torch.Size\(\[5\]\)"):
        F.layer_norm(nf.zeros(2, 3, 4), (4,), nf.ones(5))
    with pytest.raises(ShapeError, match="at least 1-dimensional"):
        F.layer_norm(nf.zeros(3), ())


def test_batch_norm_eval_needs_running_stats_and_eps_rules():
    with pytest.raises(RuntimeError, match="running_mean and running_var must be defined"):
        F.batch_norm(nf.zeros(4, 3), None, None, training=False)
    with pytest.raises(ValueError, match="eps must be positive"):
        F.batch_norm(nf.zeros(4, 3), None, None, training=True, eps=0.0)
