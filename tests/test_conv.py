"""Conv2d / F.conv2d against torch 2.13, the NumPy reference, finite differences; bad input;
and a small CNN that learns the embedded digits."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C, nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import functional as F
from nnfast.nn._functional_conv import _conv2d_ref, _conv2d_ref_backward
from helpers import assert_close, check_op, copy_weights, fd_grad

# (x shape, w shape, kwargs); weight is (OC, C/groups, kH, kW)
CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),
    ((2, 3, 9, 8), (6, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0))),
    ((1, 4, 8, 8), (4, 2, 3, 3), dict(groups=2, padding=1)),
    ((2, 6, 7, 7), (6, 1, 3, 3), dict(groups=6, padding=1, stride=2)),      # depthwise
    ((2, 6, 7, 7), (12, 1, 3, 3), dict(groups=6)),                          # multiplier 2
    ((2, 3, 9, 9), (5, 3, 3, 3), dict(dilation=2, padding=2)),
    ((2, 3, 9, 10), (5, 3, 2, 3), dict(dilation=(2, 1), padding="same")),
    ((2, 3, 8, 8), (4, 3, 4, 4), dict(padding="same")),                    # odd total padding
    ((2, 3, 8, 5), (4, 3, 2, 1), dict(padding="same", dilation=(3, 1))),
    ((2, 3, 5, 5), (4, 3, 3, 3), dict(padding="valid")),
    ((3, 8, 5, 5), (16, 8, 1, 1), {}),                                       # 1x1 fast path
    ((3, 8, 5, 5), (16, 8, 1, 1), dict(stride=2)),                           # 1x1 strided
    ((3, 8, 5, 5), (4, 8, 1, 1), dict(padding=1)),                           # 1x1 padded
    ((1, 1, 1, 1), (2, 1, 1, 1), {}),
    ((2, 2, 5, 4), (3, 2, 5, 4), {}),                                        # kernel == input
    ((2, 3, 11, 13), (5, 3, 3, 5), dict(stride=3, padding=(2, 1))),
]


def _ids(c):
    return f"{c[0]}-{c[1]}-{c[2]}"


@pytest.mark.parametrize("xs,ws,kw", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(xs, ws, kw, bias):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])

    def tfn(x, w, b=None):
        return TF.conv2d(x, w, b, **kw)

    def nfn(x, w, b=None):
        return F.conv2d(x, w, b, **kw)

    check_op(shapes, tfn, nfn, atol=1e-4, rtol=1e-4)


def test_conv2d_unbatched_and_batch_one():
    check_op([(3, 6, 5), (4, 3, 3, 3), (4,)], lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             lambda x, w, b: F.conv2d(x, w, b, padding=1), atol=1e-4)
    check_op([(1, 3, 6, 5), (4, 3, 3, 3)], lambda x, w: TF.conv2d(x, w, stride=2),
             lambda x, w: F.conv2d(x, w, stride=2), atol=1e-4)


def test_conv2d_big_batch_threads_and_chunks():
    # batch chunks of several samples, threads over chunks, odd tail chunk
    check_op([(67, 5, 8, 8), (16, 5, 3, 3), (16,)],
             lambda x, w, b: TF.conv2d(x, w, b, padding=1),
             lambda x, w, b: F.conv2d(x, w, b, padding=1), atol=2e-4, rtol=2e-4)
    # one big sample: the GEMM threads itself
    check_op([(1, 16, 40, 40), (32, 16, 3, 3)], lambda x, w: TF.conv2d(x, w),
             lambda x, w: F.conv2d(x, w), atol=5e-4, rtol=5e-4)


@pytest.mark.parametrize("threads", [1, 2])
def test_conv2d_same_result_any_thread_count(threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((33, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    old = _C.get_num_threads()
    _C.set_num_threads(threads)
    try:
        out = F.conv2d(nf.tensor(x), nf.tensor(w), padding=1)
    finally:
        _C.set_num_threads(old)
    assert_close(out, t, atol=1e-4)


def test_conv2d_empty_batch():
    x = nf.tensor(np.zeros((0, 3, 5, 5), np.float32), requires_grad=True)
    conv = nn.Conv2d(3, 4, 3)
    y = conv(x)
    assert y.shape == (0, 4, 3, 3)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    assert np.all(conv.weight.grad.detach().numpy() == 0) and np.all(conv.bias.grad.detach().numpy() == 0)


def test_conv2d_no_input_grad_and_accumulation():
    # input without grad (a data batch); weight gradient accumulates over two backward calls
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    conv = nn.Conv2d(3, 5, 3, padding=1)
    tconv = torch.nn.Conv2d(3, 5, 3, padding=1)
    copy_weights(tconv, conv)
    for _ in range(2):
        conv(nf.tensor(x)).sum().backward()
        tconv(torch.from_numpy(x)).sum().backward()
    assert_close(conv.weight.grad, tconv.weight.grad, atol=1e-4)
    assert_close(conv.bias.grad, tconv.bias.grad, atol=1e-4)


def test_conv2d_weight_used_twice():
    # the same weight in two calls: one grad sink fresh, then accumulated through pending
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 3)).astype(np.float32)
    tw = torch.tensor(w, requires_grad=True)
    tx = torch.tensor(x)
    TF.conv2d(TF.conv2d(tx, tw, padding=1), tw, padding=1).sum().backward()
    nw = nn.Parameter(w)
    F.conv2d(F.conv2d(nf.tensor(x), nw, padding=1), nw, padding=1).sum().backward()
    assert_close(nw.grad, tw.grad, atol=1e-3, rtol=1e-4)


def test_conv2d_module_matches_torch_and_init():
    nf.manual_seed(0)
    m = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    assert m.weight.shape == (6, 2, 3, 2) and m.bias.shape == (6,)
    bound = 1 / math.sqrt(2 * 3 * 2)
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    # kaiming_uniform(a=sqrt(5)) and the bias share the bound 1/sqrt(fan_in); spread covers it
    big = nn.Conv2d(64, 64, 3)
    b = 1 / math.sqrt(64 * 9)
    assert 0.9 * b < np.abs(big.weight.detach().numpy()).max() <= b
    assert abs(big.weight.detach().numpy().std() - b / math.sqrt(3)) < 0.02 * b
    t = torch.nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    copy_weights(t, m)
    x = np.random.default_rng(0).standard_normal((3, 4, 7, 8)).astype(np.float32)
    assert_close(m(nf.tensor(x)), t(torch.from_numpy(x)), atol=1e-5)
    assert repr(m) == repr(t)
    assert repr(nn.Conv2d(1, 2, 3, padding="same", bias=False)) == \
        repr(torch.nn.Conv2d(1, 2, 3, padding="same", bias=False))
    assert nn.Conv2d(2, 2, 3, bias=False).bias is None
    assert set(dict(m.named_parameters())) == {"weight", "bias"}


# --------------------------------------------------------------------- references

REF_CASES = [
    ((2, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), pads=(1, 1, 0, 0), dilation=(1, 2),
                                      groups=2)),
    ((2, 3, 8, 8), (4, 3, 4, 4), dict(stride=(1, 1), pads=(1, 2, 1, 2), dilation=(1, 1),
                                      groups=1)),
    ((1, 2, 5, 5), (2, 1, 1, 1), dict(stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
                                      groups=2)),
    # stride 1 and OW == W: im2col copies each plane as one shifted run; rows cut by the
    # height (OH < H, a kernel taller than the input, a plane with no valid row), dilation,
    # one-column images
    ((2, 3, 5, 4), (4, 3, 3, 3), dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                                      groups=1)),
    ((2, 2, 6, 5), (3, 2, 3, 3), dict(stride=(1, 1), pads=(0, 0, 1, 1), dilation=(1, 1),
                                      groups=1)),
    ((1, 2, 7, 6), (3, 2, 3, 3), dict(stride=(1, 1), pads=(2, 2, 2, 2), dilation=(2, 2),
                                      groups=1)),
    ((2, 2, 4, 1), (3, 2, 3, 1), dict(stride=(1, 1), pads=(1, 1, 0, 0), dilation=(1, 1),
                                      groups=1)),
    ((2, 3, 3, 2), (2, 3, 5, 3), dict(stride=(1, 1), pads=(2, 2, 1, 1), dilation=(1, 1),
                                      groups=1)),
    ((2, 2, 1, 3), (2, 2, 3, 3), dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                                      groups=1)),
    ((1, 4, 6, 5), (4, 2, 3, 5), dict(stride=(1, 1), pads=(0, 0, 2, 2), dilation=(2, 1),
                                      groups=2)),
    # planes longer than the column pattern im2col keeps (1024 floats): runs of 25 rows of
    # 40, the first starting at row 1 (top padding) or 2 (dilation); then rows wider than
    # the pattern (1030), which take the row-by-row path
    ((1, 2, 40, 40), (3, 2, 3, 3), dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                                        groups=1)),
    ((1, 1, 37, 40), (2, 1, 3, 3), dict(stride=(1, 1), pads=(2, 2, 2, 2), dilation=(2, 2),
                                        groups=1)),
    ((1, 1, 3, 1030), (2, 1, 3, 3), dict(stride=(1, 1), pads=(1, 1, 1, 1), dilation=(1, 1),
                                         groups=1)),
    # stride 1, no padding, OW < W by at most a quarter: the column matrix on the input's
    # width (each row one contiguous copy, the extra columns dropped): one sample per chunk
    # (26x26), several (10x10: 4 a chunk, 9 samples so the last chunk is short), dilation,
    # groups, a kernel as tall as the input
    ((3, 4, 26, 26), (6, 4, 3, 3), dict(stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
                                        groups=1)),
    ((9, 3, 10, 10), (5, 3, 3, 3), dict(stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
                                        groups=1)),
    ((5, 4, 17, 21), (6, 2, 3, 3), dict(stride=(1, 1), pads=(0, 0, 0, 0), dilation=(2, 2),
                                        groups=2)),
    ((4, 2, 5, 12), (3, 2, 5, 3), dict(stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1),
                                       groups=1)),
]


def _geom(xs, ws, stride, pads, dilation, groups, OH, OW):
    return (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], OH, OW, stride[0], stride[1],
            pads[0], pads[2], dilation[0], dilation[1], groups)


@pytest.mark.parametrize("xs,ws,kw", REF_CASES)
def test_c_kernels_equal_numpy_reference_and_direct_loops(xs, ws, kw):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    ref = _conv2d_ref(x, w, b, kw["stride"], kw["pads"], kw["dilation"], kw["groups"])
    geom = _geom(xs, ws, kw["stride"], kw["pads"], kw["dilation"], kw["groups"],
                 ref.shape[2], ref.shape[3])
    ws_ = np.empty(max(1, _C.conv2d_workspace(geom, True)), np.float32)
    out = np.empty_like(ref)
    _C.conv2d_forward(out, ws_, x, w, b, geom)
    direct = np.empty_like(ref)
    _C.conv2d_forward(direct, None, x, w, b, geom, reference=True)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(direct, ref, atol=1e-5, rtol=1e-5)
    g = rng.standard_normal(ref.shape).astype(np.float32)
    rdx, rdw, rdb = _conv2d_ref_backward(g, x, w, kw["stride"], kw["pads"], kw["dilation"],
                                         kw["groups"])
    dx, dw, db = np.empty_like(x), np.full_like(w, 7.0), np.full_like(b, 7.0)
    _C.conv2d_backward(dx, dw, db, ws_, g, x, w, geom, False)
    for a, r in ((dx, rdx), (dw, rdw), (db, rdb)):
        np.testing.assert_allclose(a, r, atol=1e-4, rtol=1e-5)
    # accumulate adds onto what is there
    _C.conv2d_backward(None, dw, db, ws_, g, x, w, geom, True)
    np.testing.assert_allclose(dw, 2 * rdw, atol=2e-4, rtol=1e-5)
    np.testing.assert_allclose(db, 2 * rdb, atol=2e-4, rtol=1e-5)
    ddx, ddw, ddb = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    _C.conv2d_backward(ddx, ddw, ddb, None, g, x, w, geom, False, reference=True)
    for a, r in ((ddx, rdx), (ddw, rdw), (ddb, rdb)):
        np.testing.assert_allclose(a, r, atol=1e-4, rtol=1e-5)


def test_wide_column_matrix_past_one_gemm_block_equals_direct_loops():
    # the wide layout with K = 64 channels x 9 taps over two GEMM K blocks (sums of 576
    # products: compared at the rounding of such sums)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 64, 14, 14)).astype(np.float32)
    w = rng.standard_normal((8, 64, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    geom = (3, 64, 14, 14, 8, 3, 3, 12, 12, 1, 1, 0, 0, 1, 1, 1)
    ws_ = np.empty(max(1, _C.conv2d_workspace(geom, True)), np.float32)
    out, direct = np.empty((3, 8, 12, 12), np.float32), np.empty((3, 8, 12, 12), np.float32)
    _C.conv2d_forward(out, ws_, x, w, b, geom)
    _C.conv2d_forward(direct, None, x, w, b, geom, reference=True)
    np.testing.assert_allclose(out, direct, atol=2e-4, rtol=1e-5)
    g = rng.standard_normal(out.shape).astype(np.float32)
    got = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    ref = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    _C.conv2d_backward(*got, ws_, g, x, w, geom, False)
    _C.conv2d_backward(*ref, None, g, x, w, geom, False, reference=True)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, atol=5e-4, rtol=1e-5)


def test_float64_matches_torch_and_finite_differences():
    kw = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    check_op([(2, 4, 6, 7), (4, 2, 3, 2), (4,)],
             lambda x, w, b: TF.conv2d(x, w, b, **kw), lambda x, w, b: F.conv2d(x, w, b, **kw),
             atol=1e-10, rtol=1e-10, dtype=np.float64)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 4))
    w = rng.standard_normal((2, 1, 2, 3))
    b = rng.standard_normal(2)
    up = rng.standard_normal((1, 2, 5, 4))     # 'same' keeps 5 x 4

    def loss(xx, ww, bb):
        return float((F.conv2d(nf.tensor(xx), nf.tensor(ww), nf.tensor(bb), padding="same",
                               groups=2).detach().numpy() * up).sum())

    tx, tw, tb = (nf.tensor(a, requires_grad=True) for a in (x, w, b))
    (F.conv2d(tx, tw, tb, padding="same", groups=2) * nf.tensor(up)).sum().backward()
    assert_close(tx.grad, fd_grad(lambda v: loss(v, w, b), x.copy()), atol=1e-7)
    assert_close(tw.grad, fd_grad(lambda v: loss(x, v, b), w.copy()), atol=1e-7)
    assert_close(tb.grad, fd_grad(lambda v: loss(x, w, v), b.copy()), atol=1e-7)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(0, 3), cg=st.integers(1, 3), ocg=st.integers(1, 3),
       groups=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       ph=st.integers(0, 2), pw=st.integers(0, 2), dh=st.integers(1, 2), dw=st.integers(1, 2),
       bias=st.booleans())
def test_conv2d_hypothesis_vs_torch(n, cg, ocg, groups, h, w, kh, kw, sh, sw, ph, pw, dh,
                                    dw, bias):
    if h + 2 * ph < dh * (kh - 1) + 1 or w + 2 * pw < dw * (kw - 1) + 1:
        return  # (kernel larger than the padded input: tested with the bad inputs)
    c, oc = cg * groups, ocg * groups
    kws = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=groups)
    shapes = [(n, c, h, w), (oc, cg, kh, kw)] + ([(oc,)] if bias else [])
    check_op(shapes, lambda *a: TF.conv2d(*a, **kws), lambda *a: F.conv2d(*a, **kws),
             atol=1e-4, rtol=1e-4)


# --------------------------------------------------------------------- bad input

def test_bad_inputs():
    conv = nn.Conv2d(1, 16, 3)
    with pytest.raises(ShapeError, match=r"Conv2d\(1, 16.*1 channels.*\(2, 3, 8, 8\)"):
        conv(nf.tensor(np.zeros((2, 3, 8, 8), np.float32)))
    with pytest.raises(ShapeError, match=r"3-D \(unbatched\) or 4-D.*\(8, 8\)"):
        conv(nf.tensor(np.zeros((8, 8), np.float32)))
    with pytest.raises(ShapeError, match=r"3-D \(unbatched\) or 4-D"):
        conv(nf.tensor(np.zeros((1, 1, 1, 8, 8), np.float32)))
    with pytest.raises(ShapeError, match=r"smaller than the kernel"):
        conv(nf.tensor(np.zeros((2, 1, 2, 8), np.float32)))
    with pytest.raises(DTypeError, match="float64"):
        conv(nf.tensor(np.zeros((2, 1, 8, 8), np.float64)))
    with pytest.raises(DTypeError, match="int64"):
        conv(nf.tensor(np.zeros((2, 1, 8, 8), np.int64)))
    assert isinstance(ShapeError("x"), RuntimeError)    # torch raises RuntimeError here
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match="not supported for strided"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match="stride must be positive"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="negative padding"):
        nn.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match="dilation must be positive"):
        nn.Conv2d(1, 1, 3, dilation=(1, 0))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(NotImplementedError, match="reflect"):
        nn.Conv2d(1, 1, 3, padding_mode="reflect")
    x = nf.tensor(np.zeros((2, 4, 5, 5), np.float32))
    with pytest.raises(ShapeError, match="divisible by groups=2"):
        F.conv2d(x, nf.tensor(np.zeros((3, 2, 3, 3), np.float32)), groups=2)
    with pytest.raises(ShapeError, match="weight must be 4-D"):
        F.conv2d(x, nf.tensor(np.zeros((3, 4, 3), np.float32)))
    with pytest.raises(ShapeError, match=r"bias must have shape \(3,\)"):
        F.conv2d(x, nf.tensor(np.zeros((3, 4, 3, 3), np.float32)),
                 nf.tensor(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="stride must be an int or a pair"):
        F.conv2d(x, nf.tensor(np.zeros((3, 4, 3, 3), np.float32)), stride=(1, 1, 1))
    with pytest.raises(ValueError, match="not supported for strided"):
        F.conv2d(x, nf.tensor(np.zeros((3, 4, 3, 3), np.float32)), stride=2, padding="same")


# --------------------------------------------------------------------- a small CNN

def _digits_split():
    path = os.path.join(os.path.dirname(nf.__file__), "datasets", "data", "digits.npz")
    with np.load(path) as d:
        images, target = d["images"], d["target"]
    x = (images.astype(np.float32) / 16.0)[:, None]          # (1797, 1, 8, 8)
    y = target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    return x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]


def test_small_cnn_learns_digits():
    # Conv-ReLU-MaxPool twice, then Linear; Adam with a cosine learning-rate decay. One
    # thread: the batches are small, and on a 2-core machine shared with other test runs a
    # spinning OpenMP pool costs more than it gains (seeds 0-3 all reach 0.989-0.992).
    xtr, ytr, xte, yte = _digits_split()
    nf.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 10))
    lr, epochs = 3e-3, 12
    opt = nf.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    old = _C.get_num_threads()
    _C.set_num_threads(1)
    try:
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
            order = rng.permutation(len(ytr))
            for i in range(0, len(order), 32):
                b = order[i:i + 32]
                opt.zero_grad()
                loss = loss_fn(model(nf.tensor(xtr[b])), nf.tensor(ytr[b]))
                loss.backward()
                opt.step()
        model.eval()
        with nf.no_grad():
            pred = model(nf.tensor(xte)).detach().numpy().argmax(axis=1)
    finally:
        _C.set_num_threads(old)
    acc = float((pred == yte).mean())
    assert acc >= 0.98, f"test accuracy {acc:.4f}"


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_wide_column_matrix_non_finite_input_gives_torch_nan_pattern(value):
    # valid stride-1 convolutions lay the column matrix on the input's width; its extra
    # columns hold inputs times a zero gradient, which an inf or NaN there would turn into
    # NaN weight-gradient taps torch does not have: backward zeroes them when an input is
    # not finite
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 10, 10)).astype(np.float32)
    x[0, 1, 4, 9] = value          # the last column: only kernel column 2 reads it
    x[1, 0, 0, 0] = value          # the first: only column 0, row 0
    w = np.abs(rng.standard_normal((3, 2, 3, 3))).astype(np.float32)
    g = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w).requires_grad_()
    TF.conv2d(xt, wt).backward(torch.from_numpy(g))
    xn, wn = nf.from_numpy(x), nf.tensor(w, requires_grad=True)
    F.conv2d(xn, wn).backward(nf.from_numpy(g))
    np.testing.assert_array_equal(np.isnan(wn.grad.numpy()), np.isnan(wt.grad.numpy()))
    fin = ~np.isnan(wt.grad.numpy())
    np.testing.assert_allclose(wn.grad.numpy()[fin], wt.grad.numpy()[fin], rtol=1e-4,
                               atol=1e-4)
