"""Dropout: the counter-based mask (C fast == C plain == NumPy reference), its statistics,
repeatability, torch's rule (out = x * mask / (1 - p), p = 1, eval), gradients, in-place,
channel dropout, bad inputs, and a training run that matches torch given the same masks."""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C, nn, optim
from nnfast.nn import _functional_dropout as FD
from nnfast.nn import functional as F
from helpers import assert_close, copy_weights, fd_grad

U64 = st.integers(0, 2**64 - 1)
P_OPEN = st.floats(1e-6, 1 - 1e-6)


def _x(shape, seed=0, dtype=np.float32):
    """Inputs with no zeros, so out != 0 exactly where an element was kept."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return a.astype(dtype)


def _seed_of_next_call(s):
    """The seed F.dropout will draw after nf.manual_seed(s) (and reseed to s again)."""
    nf.manual_seed(s)
    seed = FD._draw_seed()
    nf.manual_seed(s)
    return seed


# ============================================================ the kernel and its RNG

@settings(max_examples=60)
@given(n=st.integers(0, 700), seed=U64, p=P_OPEN)
def test_c_fast_equals_c_plain_equals_numpy_reference(n, seed, p):
    x = _x(n, seed % 1000)
    thr, scale = FD._threshold(p), FD._scale(p, np.dtype(np.float32))
    out_f, out_r = np.empty_like(x), np.empty_like(x)
    m_f, m_r = np.empty(n, np.uint8), np.empty(n, np.uint8)
    _C.dropout_forward(out_f, m_f, x, seed, thr, scale)
    _C.dropout_forward(out_r, m_r, x, seed, thr, scale, True)
    ref = FD._ref_mask(seed, n, p)
    np.testing.assert_array_equal(m_f, ref.astype(np.uint8))
    np.testing.assert_array_equal(m_r, m_f)
    np.testing.assert_array_equal(out_f, out_r)
    np.testing.assert_array_equal(out_f, x * np.where(ref, scale, np.float32(0)))
    # without a mask buffer: same output
    out_n = np.empty_like(x)
    _C.dropout_forward(out_n, None, x, seed, thr, scale)
    np.testing.assert_array_equal(out_n, out_f)


def test_mask_does_not_depend_on_thread_count():
    n = 300_001  # above the OpenMP threshold, not a multiple of the block
    x = _x(n)
    thr, scale = FD._threshold(0.4), FD._scale(0.4, np.dtype(np.float32))
    outs = []
    before = nf.get_num_threads()
    try:
        for t in (1, 2, 3):
            nf.set_num_threads(t)
            o, m = np.empty_like(x), np.empty(n, np.uint8)
            _C.dropout_forward(o, m, x, 99, thr, scale)
            outs.append((o, m))
    finally:
        nf.set_num_threads(before)
    for o, m in outs[1:]:
        np.testing.assert_array_equal(o, outs[0][0])
        np.testing.assert_array_equal(m, outs[0][1])
    np.testing.assert_array_equal(outs[0][1], FD._ref_mask(99, n, 0.4).astype(np.uint8))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_statistics_keep_fraction_exact_scale_mean_preserved(p):
    n = 1_000_000
    nf.manual_seed(1)
    x = nf.ones(n)
    y = F.dropout(x, p).detach().numpy()
    kept = y != 0
    frac = kept.mean()
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(frac - (1 - p)) < 5 * sigma, (frac, 1 - p)
    scale = np.float32(1) / np.float32(1 - p)
    assert np.all(y[kept] == scale)           # exactly the float32 1/(1-p)
    assert np.all(y[~kept] == 0)
    assert abs(y.mean(dtype=np.float64) - 1.0) < 5 * sigma * float(scale)
    # neighbours (the two halves of one hash) and blocks are not correlated
    a, b = kept[0::2].astype(np.float64), kept[1::2].astype(np.float64)
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / math.sqrt(n / 2)
    assert abs(np.corrcoef(kept[:-128], kept[128:])[0, 1]) < 5 / math.sqrt(n)


def test_keep_probability_follows_p_finely():
    # threshold = floor(p * 2^32): the drop probability is p to within 2^-32
    for p in (1e-9, 0.25, 1 / 3, 0.999999):
        assert abs(FD._threshold(p) / 2**32 - p) <= 2**-32
    seeds = range(20)
    frac = np.mean([FD._ref_mask(s, 50_000, 0.02).mean() for s in seeds])
    assert abs(frac - 0.98) < 5 * math.sqrt(0.02 * 0.98 / 1e6)


# ============================================================ F.dropout / nn.Dropout

def test_manual_seed_repeats_and_calls_differ():
    x = nf.tensor(_x((64, 33)))
    nf.manual_seed(5)
    a, b = F.dropout(x, 0.5).detach().numpy(), F.dropout(x, 0.5).detach().numpy()
    nf.manual_seed(5)
    a2, b2 = F.dropout(x, 0.5).detach().numpy(), F.dropout(x, 0.5).detach().numpy()
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    assert not np.array_equal(a != 0, b != 0)
    nf.manual_seed(6)
    assert not np.array_equal(F.dropout(x, 0.5).detach().numpy() != 0, a != 0)


def test_c_mask_equals_reference_mask_through_the_api():
    x = _x((37, 29))
    seed = _seed_of_next_call(11)
    y = F.dropout(nf.tensor(x), 0.3).detach().numpy()
    ref = FD._ref_mask(seed, x.size, 0.3).reshape(x.shape)
    np.testing.assert_array_equal(y != 0, ref)
    np.testing.assert_array_equal(y, x * np.where(ref, FD._scale(0.3, y.dtype), np.float32(0)))
    # float64 (NumPy reference) draws the identical mask from the same seed
    nf.manual_seed(11)
    y64 = F.dropout(nf.tensor(x.astype(np.float64)), 0.3).detach().numpy()
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64 != 0, ref)
    np.testing.assert_allclose(y64, x.astype(np.float64) * ref / 0.7, rtol=1e-15)


@settings(max_examples=25)
@given(shape=st.lists(st.integers(0, 9), min_size=0, max_size=3), p=st.floats(0.05, 0.95),
       s=st.integers(0, 1000))
def test_gradient_is_mask_times_scale_times_dout(shape, p, s):
    x = nf.tensor(_x(tuple(shape), s), requires_grad=True)
    seed = _seed_of_next_call(s)
    y = F.dropout(x, p)
    n = x.numel()
    if n == 0:
        assert y is x
        return
    g = np.random.default_rng(s).standard_normal(tuple(shape)).astype(np.float32)
    y.backward(nf.tensor(g))
    mask = FD._ref_mask(seed, n, p).reshape(tuple(shape))
    scale = FD._scale(p, np.dtype(np.float32))
    np.testing.assert_array_equal(x.grad.detach().numpy(), g * np.where(mask, scale, np.float32(0)))


def test_eval_and_training_false_are_the_identity_without_a_node():
    x = nf.tensor(_x((4, 5)), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    d = nn.Dropout(0.5)
    d.eval()
    assert d(x) is x
    model = nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.9))
    model.eval()
    xi = nf.tensor(_x((4, 5)))
    np.testing.assert_array_equal(model(xi).detach().numpy(), model[0](xi).detach().numpy())
    model.train()
    assert model[1].training
    y = model(xi).detach().numpy()
    assert np.count_nonzero(y == 0) > 0


def test_p0_identity_and_p1_zeros_as_torch():
    x = nf.tensor(_x((3, 4)), requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert nn.Dropout(0.0)(x) is x
    special = np.array([1.0, -2.0, np.nan, np.inf, -np.inf, 0.0], np.float32)
    t = torch.nn.functional.dropout(torch.from_numpy(special.copy()), 1.0).numpy()
    n = F.dropout(nf.tensor(special), 1.0).detach().numpy()
    np.testing.assert_array_equal(np.signbit(n), np.signbit(t))
    np.testing.assert_array_equal(np.isnan(n), np.isnan(t))
    np.testing.assert_array_equal(n[~np.isnan(n)], t[~np.isnan(t)])
    y = F.dropout(x, 1.0)
    y.backward(nf.tensor(np.ones((3, 4), np.float32)))
    np.testing.assert_array_equal(x.grad.detach().numpy(), np.zeros((3, 4), np.float32))
    assert np.all(y.detach().numpy() == 0)


def test_dropped_specials_follow_torchs_multiply_by_zero_rule():
    x = np.array([-1.0, np.inf, np.nan, -np.inf] * 64, np.float32)
    dropped = FD._ref_mask(_seed_of_next_call(3), x.size, 0.5) == 0
    y = F.dropout(nf.tensor(x), 0.5).detach().numpy()
    assert dropped.any()
    with np.errstate(invalid="ignore"):
        ex = x * np.where(~dropped, FD._scale(0.5, y.dtype), np.float32(0))
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ex))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ex))


def test_empty_input_returns_it():
    for shape in [(0,), (0, 5), (3, 0, 2)]:
        x = nf.tensor(np.zeros(shape, np.float32), requires_grad=True)
        assert F.dropout(x, 0.5) is x
        assert nn.Dropout(0.3)(x) is x
        assert F.dropout2d(nf.tensor(np.zeros((0, 3, 2, 2), np.float32)), 0.5).shape == \
            (0, 3, 2, 2)


def test_zero_dim_input():
    nf.manual_seed(0)
    vals = {float(F.dropout(nf.tensor(3.0), 0.5).item()) for _ in range(40)}
    assert vals == {0.0, 6.0}


def test_inplace_without_grad_overwrites_the_input():
    x0 = _x((50, 7))
    x = nf.tensor(x0)
    nf.manual_seed(2)
    expected = F.dropout(nf.tensor(x0), 0.4).detach().numpy()
    nf.manual_seed(2)
    y = F.dropout(x, 0.4, inplace=True)
    assert y is x
    np.testing.assert_array_equal(x.detach().numpy(), expected)
    # module form, a non-contiguous view (written through), and float64
    base = _x((8, 6))
    view = nf.tensor(base[:, ::2].copy())
    view.data = nf.from_numpy(base[:, ::2])
    nf.manual_seed(2)
    exp2 = F.dropout(nf.tensor(base[:, ::2].copy()), 0.4).detach().numpy()
    nf.manual_seed(2)
    assert nn.Dropout(0.4, inplace=True)(view) is view
    np.testing.assert_array_equal(base[:, ::2], exp2)
    x64 = nf.tensor(x0.astype(np.float64))
    nf.manual_seed(2)
    F.dropout(x64, 0.4, inplace=True)
    np.testing.assert_array_equal(x64.detach().numpy() != 0, expected != 0)


def test_inplace_with_grad_computes_out_of_place():
    x0 = _x((10, 3))
    x = nf.tensor(x0, requires_grad=True)
    nf.manual_seed(4)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is not x
    np.testing.assert_array_equal(x.detach().numpy(), x0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy() != 0, y.detach().numpy() != 0)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.7, 1 / 3])
def test_same_rule_as_torch(p):
    x = _x(20_000, 7)
    torch.manual_seed(0)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = torch.nn.functional.dropout(xt, p)
    g = np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    mt = (yt.detach().numpy() != 0)
    scale = FD._scale(p, np.dtype(np.float32))
    # torch's output and gradient follow out = x * mask * scale exactly, with our scale
    np.testing.assert_array_equal(yt.detach().numpy(), x * np.where(mt, scale, np.float32(0)))
    np.testing.assert_array_equal(xt.grad.numpy(), g * np.where(mt, scale, np.float32(0)))
    # and so do ours
    xn = nf.tensor(x, requires_grad=True)
    yn = F.dropout(xn, p)
    yn.backward(nf.tensor(g))
    mn = yn.detach().numpy() != 0
    np.testing.assert_array_equal(yn.detach().numpy(), x * np.where(mn, scale, np.float32(0)))
    np.testing.assert_array_equal(xn.grad.detach().numpy(), g * np.where(mn, scale, np.float32(0)))
    assert abs(mn.mean() - mt.mean()) < 6 * math.sqrt(p * (1 - p) / x.size)


def test_finite_differences_float64_with_fixed_seed():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((5, 6))
    w = rng.standard_normal((5, 6))

    def f(a):
        nf.manual_seed(21)
        y = F.dropout(nf.tensor(a), 0.35)
        return float((y.detach().numpy() * w).sum())

    x = nf.tensor(x0.copy(), requires_grad=True)
    nf.manual_seed(21)
    y = F.dropout(x, 0.35)
    (y * nf.tensor(w)).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.detach().numpy(), fd_grad(f, x0.copy()), atol=1e-8)


def test_module_api_and_repr():
    d = nn.Dropout(0.2, inplace=True)
    assert repr(d) == "Dropout(p=0.2, inplace=True)"
    assert repr(nn.Dropout2d()) == "Dropout2d(p=0.5, inplace=False)"
    assert list(d.parameters()) == [] and d.state_dict() == {}
    for cls in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d):
        assert cls().p == 0.5


# ============================================================ channel dropout

@pytest.mark.parametrize("fn,tfn,shape,rows", [
    (F.dropout1d, torch.nn.functional.dropout1d, (6, 5, 7), 30),
    (F.dropout1d, torch.nn.functional.dropout1d, (5, 7), 5),
    (F.dropout2d, torch.nn.functional.dropout2d, (4, 6, 3, 5), 24),
    (F.dropout3d, torch.nn.functional.dropout3d, (3, 4, 2, 3, 2), 12),
    (F.dropout3d, torch.nn.functional.dropout3d, (4, 2, 3, 2), 4),
])
def test_channel_dropout_masks_whole_channels(fn, tfn, shape, rows):
    x = _x(shape, 1)
    xn = nf.tensor(x, requires_grad=True)
    seed = _seed_of_next_call(8)
    y = fn(xn, 0.5)
    rmask = FD._ref_mask(seed, rows, 0.5)
    scale = np.float32(2.0)
    expected = (x.reshape(rows, -1) * np.where(rmask, scale, np.float32(0))[:, None])
    np.testing.assert_array_equal(y.detach().numpy(), expected.reshape(shape))
    g = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    y.backward(nf.tensor(g))
    np.testing.assert_array_equal(
        xn.grad.detach().numpy(),
        (g.reshape(rows, -1) * np.where(rmask, scale, np.float32(0))[:, None]).reshape(shape))
    # torch's rule: each channel is all zero or all x * scale
    yt = tfn(torch.from_numpy(x), 0.5).numpy().reshape(rows, -1)
    kept = np.all(yt != 0, axis=1)
    assert np.all(kept | np.all(yt == 0, axis=1))
    np.testing.assert_array_equal(yt[kept], x.reshape(rows, -1)[kept] * scale)
    # float64 draws the same channel mask
    nf.manual_seed(8)
    y64 = fn(nf.tensor(x.astype(np.float64)), 0.5).detach().numpy()
    np.testing.assert_array_equal(y64 != 0, y.detach().numpy() != 0)
    # eval: identity
    assert fn(xn, 0.5, training=False) is xn


def test_channel_dropout_statistics_and_modules():
    nf.manual_seed(0)
    m = nn.Dropout2d(0.25)
    y = m(nf.ones(200, 100, 2, 2)).detach().numpy().reshape(20000, 4)
    kept = y[:, 0] != 0
    assert np.all(y[kept] == np.float32(1) / np.float32(0.75)) and np.all(y[~kept] == 0)
    assert abs(kept.mean() - 0.75) < 5 * math.sqrt(0.75 * 0.25 / 20000)
    m.eval()
    z = nf.ones(2, 3, 4, 4)
    assert m(z) is z


def test_channel_dropout_bad_ranks_as_torch():
    with pytest.raises(RuntimeError, match="Expected 2D or 3D input"):
        F.dropout1d(nf.ones(2, 3, 4, 5), 0.5)
    with pytest.raises(RuntimeError, match="Expected 2D or 3D input"):
        nn.Dropout1d()(nf.ones(4))
    with pytest.warns(UserWarning, match="assuming that channel-wise 1D dropout"):
        F.dropout2d(nf.ones(2, 3, 4), 0.5)
    with pytest.warns(UserWarning, match="Received a 2-D input to dropout3d"):
        F.dropout3d(nf.ones(2, 3), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="at least 2 dimensions"):
            F.dropout2d(nf.ones(5), 0.5)
        assert np.all(F.dropout2d(nf.ones(5), 1.0).detach().numpy() == 0)   # torch: p == 1 zeroes any rank


# ============================================================ bad inputs

@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_bad_p_raises_value_error(p):
    msg = "dropout probability has to be between 0 and 1"
    for fn in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d):
        with pytest.raises(ValueError, match=msg):
            fn(nf.ones(2, 3, 4), p)
    for cls in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d):
        with pytest.raises(ValueError, match=msg):
            cls(p)


def test_bad_inputs():
    with pytest.raises(nf.DTypeError, match="dropout.*int64"):
        F.dropout(nf.tensor(np.arange(4)), 0.5)
    with pytest.raises(RuntimeError):   # DTypeError is also a RuntimeError, as torch's
        nn.Dropout()(nf.tensor(np.arange(4)))
    with pytest.raises(TypeError, match="dropout: expected a Tensor, got list"):
        F.dropout([1.0, 2.0], 0.5)


# ============================================================ training with dropout

def _torch_dropout(h, seed, p):
    mask = FD._ref_mask(seed, h.numel(), p).reshape(tuple(h.shape))
    scale = float(FD._scale(p, np.dtype(np.float32)))
    return h * torch.from_numpy(np.where(mask, np.float32(scale), np.float32(0)))


def test_training_with_dropout_matches_torch_given_the_same_masks():
    """An MLP with two Dropout layers trained with SGD: torch, fed the masks nnfast draws
    (reproduced from the seeds), gives the same losses and weights; eval switches it off."""
    sizes, p, steps, batch = (12, 32, 16, 4), 0.3, 25, 16
    torch.manual_seed(0)
    tl = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(p),
                          nn.Linear(32, 16), nn.ReLU(), nn.Dropout(p), nn.Linear(16, 4))
    copy_weights(torch.nn.Sequential(*tl), nn.Sequential(model[0], model[3], model[6]))
    t_params = [q for layer in tl for q in layer.parameters()]
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=0.9)
    n_opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, batch, 12)).astype(np.float32)
    ys = rng.integers(0, 4, (steps, batch))
    nf.manual_seed(123)
    seeds = np.random.default_rng(123)   # the global generator's stream, drawn the same way
    crit_t, crit_n = torch.nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    lt_all, ln_all = [], []
    for s in range(steps):
        s1 = int(seeds.integers(0, 1 << 64, dtype=np.uint64))
        s2 = int(seeds.integers(0, 1 << 64, dtype=np.uint64))
        h = torch.relu(tl[0](torch.from_numpy(xs[s])))
        h = torch.relu(tl[1](_torch_dropout(h, s1, p)))
        out = tl[2](_torch_dropout(h, s2, p))
        lt = crit_t(out, torch.from_numpy(ys[s]))
        t_opt.zero_grad()
        lt.backward()
        t_opt.step()
        ln = crit_n(model(nf.tensor(xs[s])), nf.tensor(ys[s]))
        n_opt.zero_grad()
        ln.backward()
        n_opt.step()
        lt_all.append(lt.item())
        ln_all.append(ln.item())
    np.testing.assert_allclose(ln_all, lt_all, rtol=1e-4, atol=1e-5)
    for (tl_i, nl_i) in zip(tl, (model[0], model[3], model[6])):
        assert_close(nl_i.weight, tl_i.weight, atol=2e-5, rtol=1e-4, what="weight")
        assert_close(nl_i.bias, tl_i.bias, atol=2e-5, rtol=1e-4, what="bias")
    # eval: deterministic and equal to torch's network without dropout
    model.eval()
    xe = xs[0]
    a, b = model(nf.tensor(xe)).detach().numpy(), model(nf.tensor(xe)).detach().numpy()
    np.testing.assert_array_equal(a, b)
    with torch.no_grad():
        te = tl[2](torch.relu(tl[1](torch.relu(tl[0](torch.from_numpy(xe))))))
    assert_close(a, te, atol=2e-5, rtol=1e-4, what="eval output")
    model.train()
    assert not np.array_equal(model(nf.tensor(xe)).detach().numpy(), model(nf.tensor(xe)).detach().numpy())
