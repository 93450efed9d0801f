"""MaxPool2d, AvgPool2d, AdaptiveAvgPool2d against torch 2.13, the NumPy references and
finite differences; bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import functional as F
from nnfast.nn import _functional_conv as FC
from helpers import assert_close, check_op, fd_grad

MAX_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((2, 3, 10, 10), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((1, 2, 9, 11), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1))),
    ((2, 2, 11, 11), dict(kernel_size=3, stride=2, padding=1, dilation=2)),
    ((2, 2, 10, 9), dict(kernel_size=(2, 3), dilation=(3, 2), ceil_mode=True)),
    ((3, 5, 5), dict(kernel_size=2, stride=1)),                       # unbatched
    ((2, 1, 5, 5), dict(kernel_size=5)),
    ((2, 1, 4, 6), dict(kernel_size=4, stride=3, ceil_mode=True, padding=2)),
]


@pytest.mark.parametrize("shape,kw", MAX_CASES, ids=[str(c) for c in MAX_CASES])
def test_max_pool2d_matches_torch(shape, kw):
    check_op([shape], lambda x: TF.max_pool2d(x, **kw), lambda x: F.max_pool2d(x, **kw))
    mod = nn.MaxPool2d(**kw)
    tmod = torch.nn.MaxPool2d(**kw)
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert_close(mod(nf.tensor(x)), tmod(torch.from_numpy(x)))


@pytest.mark.parametrize("shape,kw", MAX_CASES[:6], ids=[str(c) for c in MAX_CASES[:6]])
def test_max_pool2d_indices_match_torch(shape, kw):
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    out, idx = F.max_pool2d(nf.tensor(x), return_indices=True, **kw)
    tout, tidx = TF.max_pool2d(torch.from_numpy(x), return_indices=True, **kw)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.detach().numpy(), tidx.numpy())
    assert_close(out, tout)
    m_out, m_idx = nn.MaxPool2d(return_indices=True, **kw)(nf.tensor(x))
    np.testing.assert_array_equal(m_idx.detach().numpy(), tidx.numpy())


@pytest.mark.parametrize("shape,ceil", [((3, 4, 24, 24), False), ((2, 3, 7, 9), False),
                                        ((2, 3, 7, 9), True), ((1, 2, 2, 70), False)])
def test_max_pool2d_2x2_rows_match_torch_on_ties_nan_and_inf(shape, ceil):
    # 2x2 stride-2 windows take the vectorised row path (pool_avx512.c on AVX-512; odd
    # sizes leave a column/row out, ceil_mode's partial windows go the general way): values
    # and argmax as torch's, with ties, NaNs (first or later tap) and infinities in every
    # tap position
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, shape).astype(np.float32)
    flat = x.reshape(-1)
    picks = rng.choice(flat.size, flat.size // 5, replace=False)
    flat[picks[0::3]] = np.nan
    flat[picks[1::3]] = -np.inf
    flat[picks[2::3]] = np.inf
    out, idx = F.max_pool2d(nf.tensor(x), 2, ceil_mode=ceil, return_indices=True)
    tout, tidx = TF.max_pool2d(torch.from_numpy(x), 2, ceil_mode=ceil, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(out.numpy(), tout.numpy())   # NaNs compare equal here


def test_max_pool2d_ties_take_first_and_nan_propagates():
    x = np.zeros((1, 1, 4, 4), np.float32)        # all ties
    x[0, 0, 3, 3] = np.nan
    out, idx = F.max_pool2d(nf.tensor(x), 2, return_indices=True)
    tout, tidx = TF.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(idx.detach().numpy(), tidx.numpy())
    np.testing.assert_array_equal(np.isnan(out.detach().numpy()), np.isnan(tout.numpy()))
    # tied gradients go to the first element only, as torch
    xt = torch.ones((1, 1, 4, 4), requires_grad=True)
    TF.max_pool2d(xt, 3, 1).sum().backward()
    xn = nf.tensor(np.ones((1, 1, 4, 4), np.float32), requires_grad=True)
    F.max_pool2d(xn, 3, 1).sum().backward()
    assert_close(xn.grad, xt.grad)
    # -inf everywhere: the first in-bounds index, as torch
    x = np.full((1, 1, 5, 5), -np.inf, np.float32)
    _, idx = F.max_pool2d(nf.tensor(x), 3, 2, padding=1, return_indices=True)
    _, tidx = TF.max_pool2d(torch.from_numpy(x), 3, 2, padding=1, return_indices=True)
    np.testing.assert_array_equal(idx.detach().numpy(), tidx.numpy())


AVG_CASES = [
    ((2, 3, 8, 8), dict(kernel_size=2)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((2, 3, 10, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ((2, 3, 10, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                         count_include_pad=False)),
    ((2, 3, 10, 9), dict(kernel_size=(3, 2), stride=(2, 3), ceil_mode=True)),
    ((2, 2, 7, 7), dict(kernel_size=3, padding=1, divisor_override=5)),
    ((2, 2, 7, 7), dict(kernel_size=3, stride=2, ceil_mode=True, divisor_override=2)),
    ((3, 6, 5), dict(kernel_size=2, stride=1)),                          # unbatched
    ((2, 1, 4, 6), dict(kernel_size=4, stride=3, ceil_mode=True, padding=2)),
]


@pytest.mark.parametrize("shape,kw", AVG_CASES, ids=[str(c) for c in AVG_CASES])
def test_avg_pool2d_matches_torch(shape, kw):
    check_op([shape], lambda x: TF.avg_pool2d(x, **kw), lambda x: F.avg_pool2d(x, **kw))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert_close(nn.AvgPool2d(**kw)(nf.tensor(x)), torch.nn.AvgPool2d(**kw)(torch.from_numpy(x)))


ADAPT_CASES = [((2, 3, 8, 8), 1), ((2, 3, 8, 8), (2, 2)), ((2, 3, 7, 5), (3, 2)),
               ((2, 3, 5, 7), (None, 3)), ((2, 3, 5, 7), (4, None)), ((3, 10, 6), (4, 4)),
               ((1, 2, 3, 3), (5, 7)), ((2, 2, 6, 6), (6, 6))]


@pytest.mark.parametrize("shape,size", ADAPT_CASES, ids=[str(c) for c in ADAPT_CASES])
def test_adaptive_avg_pool2d_matches_torch(shape, size):
    check_op([shape], lambda x: TF.adaptive_avg_pool2d(x, size),
             lambda x: F.adaptive_avg_pool2d(x, size))
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    assert_close(nn.AdaptiveAvgPool2d(size)(nf.tensor(x)),
                 torch.nn.AdaptiveAvgPool2d(size)(torch.from_numpy(x)))


def test_pools_empty_batch():
    x = nf.tensor(np.zeros((0, 2, 4, 4), np.float32), requires_grad=True)
    for y in (F.max_pool2d(x, 2), F.avg_pool2d(x, 2), F.adaptive_avg_pool2d(x, 3)):
        assert y.shape[:2] == (0, 2)
        y.sum().backward()
        assert x.grad.shape == (0, 2, 4, 4)


ALL = ([("max", s, k) for s, k in MAX_CASES] + [("avg", s, k) for s, k in AVG_CASES]
       + [("adaptive", s, k) for s, k in ADAPT_CASES])


def _fn(kind, kw):
    if kind == "max":
        return lambda x: F.max_pool2d(x, **kw)
    if kind == "avg":
        return lambda x: F.avg_pool2d(x, **kw)
    return lambda x: F.adaptive_avg_pool2d(x, kw)


@pytest.mark.parametrize("kind,shape,kw", ALL, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in ALL])
def test_c_path_equals_numpy_reference(kind, shape, kw):
    # float32 kernels vs the same inputs through the float64 reference
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    f = _fn(kind, kw)
    x32 = nf.tensor(x, requires_grad=True)
    x64 = nf.tensor(x.astype(np.float64), requires_grad=True)
    y32, y64 = f(x32), f(x64)
    assert y64.dtype == np.float64
    np.testing.assert_allclose(y32.detach().numpy(), y64.detach().numpy(), atol=1e-6, rtol=1e-5)
    up = rng.standard_normal(y32.shape)
    y32.backward(nf.tensor(up.astype(np.float32)))
    y64.backward(nf.tensor(up))
    np.testing.assert_allclose(x32.grad.detach().numpy(), x64.grad.detach().numpy(), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind,kw", [
    ("max", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max", dict(kernel_size=2, dilation=2)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg", dict(kernel_size=2, divisor_override=3)),
    ("adaptive", (3, 2))])
def test_float64_finite_differences_and_torch(kind, kw):
    rng = np.random.default_rng(4)
    x = rng.permutation(np.arange(2 * 6 * 5, dtype=np.float64)).reshape(1, 2, 6, 5) / 10
    f = _fn(kind, kw)
    tfn = {"max": lambda t: TF.max_pool2d(t, **kw) if isinstance(kw, dict) else None,
           "avg": lambda t: TF.avg_pool2d(t, **kw) if isinstance(kw, dict) else None,
           "adaptive": lambda t: TF.adaptive_avg_pool2d(t, kw)}[kind]
    check_op([x.shape], tfn, f, atol=1e-12, rtol=1e-12, dtype=np.float64, inputs=[x])
    up = rng.standard_normal(f(nf.tensor(x)).shape)
    xt = nf.tensor(x, requires_grad=True)
    (f(xt) * nf.tensor(up)).sum().backward()
    num = fd_grad(lambda v: float((f(nf.tensor(v)).detach().numpy() * up).sum()), x.copy())
    assert_close(xt.grad, num, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2),
       ceil=st.booleans(), cip=st.booleans(), which=st.sampled_from(["max", "avg"]))
def test_pools_hypothesis_vs_torch(n, c, h, w, kh, kw, sh, sw, ph, pw, dh, ceil, cip, which):
    ph, pw = min(ph, kh // 2), min(pw, kw // 2)
    d = dh if which == "max" else 1
    oh = FC._pool_out_size(h, kh, ph, sh, d, ceil)
    ow = FC._pool_out_size(w, kw, pw, sw, 1, ceil)
    if oh < 1 or ow < 1:
        return   # too small (tested with the bad inputs)
    if which == "max" and c * n > 1 and any(
            not any(0 <= o * sh - ph + k * d < h for k in range(kh)) for o in range(oh)):
        # A window entirely in padding: torch's backward adds its gradient at an index past
        # the plane, i.e. into the next plane, so torch is no oracle here (nnfast gives it
        # no gradient; see test_max_pool_window_entirely_in_padding_...).
        return
    if which == "max":
        kws = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(d, 1),
                   ceil_mode=ceil)
        _, tidx = TF.max_pool2d(torch.zeros(n, c, h, w), return_indices=True, **kws)
        # A window with no tap inside the input gets an index past its plane; torch's backward
        # then adds that window's gradient into the NEXT channel's plane (seen with c=2, h=w=1,
        # kh=2, ph=1, dh=2). nnfast gives such windows no gradient: compare values only.
        empty_window = bool((tidx >= h * w).any())
        check_op([(n, c, h, w)], lambda x: TF.max_pool2d(x, **kws),
                 lambda x: F.max_pool2d(x, **kws), grad=not empty_window)
    else:
        kws = dict(kernel_size=(kh, kw), stride=(sh, sw), padding=(ph, pw), ceil_mode=ceil,
                   count_include_pad=cip)
        check_op([(n, c, h, w)], lambda x: TF.avg_pool2d(x, **kws),
                 lambda x: F.avg_pool2d(x, **kws))


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), oh=st.integers(1, 8), ow=st.integers(1, 8))
def test_adaptive_hypothesis_vs_torch(h, w, oh, ow):
    check_op([(2, 2, h, w)], lambda x: TF.adaptive_avg_pool2d(x, (oh, ow)),
             lambda x: F.adaptive_avg_pool2d(x, (oh, ow)))


def test_bad_inputs():
    x = nf.tensor(np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="pad should be at most half of kernel size"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(ValueError, match="kernel size should be greater than zero"):
        nn.AvgPool2d(0)
    with pytest.raises(ValueError, match="stride should be greater than zero"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="dilation should be greater than zero"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(ValueError, match="divisor_override must be a non-zero int"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(ShapeError, match=r"MaxPool2d.*\(2, 3, 4, 4\).*too small"):
        nn.MaxPool2d(5)(x)
    with pytest.raises(ShapeError, match=r"3-D \(unbatched\) or 4-D.*\(4, 4\)"):
        nn.AvgPool2d(2)(nf.tensor(np.zeros((4, 4), np.float32)))
    with pytest.raises(ShapeError, match="non-empty"):
        F.max_pool2d(nf.tensor(np.zeros((2, 0, 4, 4), np.float32)), 2)
    with pytest.raises(DTypeError, match="int64"):
        F.adaptive_avg_pool2d(nf.tensor(np.zeros((1, 1, 4, 4), np.int64)), 2)
    with pytest.raises(ValueError, match="output_size must be"):
        F.adaptive_avg_pool2d(x, (1, 2, 3))
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        F.max_pool2d(x, (2, 2, 2))


def test_max_pool_window_entirely_in_padding_gives_no_gradient_to_other_channels():
    # torch 2.13 scatters an empty window's gradient into the next plane; nnfast does not
    x = nf.tensor(np.ones((1, 2, 1, 1), np.float32), requires_grad=True)
    F.max_pool2d(x, kernel_size=(2, 1), stride=1, padding=(1, 0), dilation=(2, 1)).sum().backward()
    assert np.array_equal(x.grad.detach().numpy(), np.zeros((1, 2, 1, 1), np.float32))


def test_max_pool_window_entirely_in_padding_has_no_gradient_and_no_stray_write():
    # padding + dilation can leave a window with no tap inside the input: torch returns -inf
    # and an index past the plane; backward must give zero gradient and write nothing stray.
    kws = dict(kernel_size=(2, 1), stride=1, padding=(1, 0), dilation=(2, 1))
    check_op([(1, 1, 1, 3)], lambda x: TF.max_pool2d(x, **kws),
             lambda x: F.max_pool2d(x, **kws), inputs=[np.zeros((1, 1, 1, 3), np.float32)])
    y, idx = F.max_pool2d(nf.tensor(np.ones((1, 1, 1, 3), np.float32)), return_indices=True,
                          **kws)
    ty, tidx = TF.max_pool2d(torch.ones(1, 1, 1, 3), return_indices=True, **kws)
    assert np.array_equal(idx.detach().numpy(), tidx.numpy())


def test_portable_2x2_loops():
    """The same tests on the portable 2x2 loops (NNFAST_POOL=portable, read once per process:
    AVX-512 hosts run the AVX-512 ones otherwise)."""
    import os
    import subprocess
    import sys
    if os.environ.get("NNFAST_POOL") == "portable":
        return   # this is the subprocess
    env = dict(os.environ, NNFAST_POOL="portable")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "-o", "addopts=", os.path.abspath(__file__)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
