"""The forward of 3x3 convolutions of one input channel (stride 1, dilation 1, one group) on
the direct AVX-512 loops (csrc/conv_direct_avx512.c): against conv_ref.c's direct loops at 1
and 2 threads, against torch through the layer, and against the im2col path
(NNFAST_CONV_DIRECT=0, read once per process) in its inf/NaN pattern."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import _C, nn

# (N, C, H, W), OC, (KH, KW), (ph, pw): widths across one, two and three 16-lane pieces,
# output channels not a multiple of the 8 a pass takes, padding wider than the kernel's reach
CASES = [
    ((4, 1, 28, 28), 16, (3, 3), (0, 0)),    # the bench CNN's first layer
    ((3, 1, 9, 7), 5, (3, 3), (1, 1)),
    ((2, 1, 12, 40), 13, (3, 3), (1, 2)),
    ((2, 1, 7, 35), 8, (3, 3), (2, 2)),
    ((1, 1, 3, 3), 1, (3, 3), (3, 3)),       # outputs whose windows lie mostly in padding
    ((2, 1, 4, 16), 20, (3, 3), (2, 0)),
    ((3, 1, 3, 50), 9, (3, 3), (0, 4)),
    ((2, 1, 30, 33), 32, (3, 3), (1, 1)),    # 1 -> 32, "same"
]


def _geom(xs, oc, k, pads):
    n, c, h, w = xs
    oh, ow = h + 2 * pads[0] - k[0] + 1, w + 2 * pads[1] - k[1] + 1
    return (n, c, h, w, oc, k[0], k[1], oh, ow, 1, 1, pads[0], pads[1], 1, 1, 1)


def _problem(case, seed=0):
    xs, oc, k, pads = case
    rng = np.random.default_rng(seed)
    geom = _geom(xs, oc, k, pads)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((oc, xs[1]) + k).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    return geom, x, w, b


def _forward(geom, x, w, b, reference=False):
    out = np.empty((geom[0], geom[4], geom[7], geom[8]), np.float32)
    ws = None if reference else np.empty(max(_C.conv2d_workspace(geom, False), 1), np.float32)
    _C.conv2d_forward(out, ws, x, w, b, geom, reference=reference)
    return out


@pytest.mark.parametrize("case", CASES, ids=[str(c[0]) + str(c[2]) for c in CASES])
@pytest.mark.parametrize("threads", [1, 2])
def test_direct_forward_equals_direct_loops(case, threads):
    geom, x, w, b = _problem(case)
    before = nf.get_num_threads()
    nf.set_num_threads(threads)
    try:
        got = _forward(geom, x, w, b)
        got_nb = _forward(geom, x, w, None)
    finally:
        nf.set_num_threads(before)
    want = _forward(geom, x, w, b, reference=True)
    taps = geom[1] * geom[5] * geom[6]
    tol = 1e-6 * (np.abs(w).max() * np.abs(x).max() * taps + np.abs(b).max())
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)
    np.testing.assert_allclose(got_nb, want - b[None, :, None, None], rtol=0, atol=tol)


def test_layer_matches_torch():
    torch.manual_seed(0)
    tm = torch.nn.Conv2d(1, 10, 3, padding=1)
    nm = nn.Conv2d(1, 10, 3, padding=1)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 1, 21, 19)).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    xn = nf.tensor(x, requires_grad=True)
    yt, yn = tm(xt), nm(xn)
    np.testing.assert_allclose(yn.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = np.random.default_rng(2).standard_normal(yt.shape).astype(np.float32)
    yt.backward(torch.from_numpy(g))
    yn.backward(nf.tensor(g))
    np.testing.assert_allclose(xn.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nm.weight.grad.numpy(), tm.weight.grad.numpy(), rtol=1e-4,
                               atol=1e-4)


_IM2COL = """
import json, sys
import numpy as np
sys.path.insert(0, {tests!r})
import test_conv_direct as t
print(json.dumps([t._forward(*t._nonfinite(c)).tolist() for c in t.CASES[:4]]))
"""


def _nonfinite(case):
    """A problem with inf and NaN in the input and an inf weight (padding meets it: 0 * inf)"""
    geom, x, w, b = _problem(case, seed=3)
    x.reshape(-1)[[5, 17, 40]] = [np.inf, -np.inf, np.nan]
    w.reshape(-1)[2] = np.inf
    return geom, x, w, b


def test_nonfinite_pattern_is_im2cols():
    env = dict(os.environ, NNFAST_CONV_DIRECT="0")
    code = _IM2COL.format(tests=os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    for case, im2col in zip(CASES[:4], json.loads(r.stdout)):
        im2col = np.asarray(im2col, np.float32)
        got = _forward(*_nonfinite(case))
        assert np.array_equal(np.isnan(got), np.isnan(im2col)), case
        assert np.array_equal(np.isposinf(got), np.isposinf(im2col)), case
        assert np.array_equal(np.isneginf(got), np.isneginf(im2col)), case
        fin = np.isfinite(im2col)
        assert fin.any() and not fin.all()
        np.testing.assert_allclose(got[fin], im2col[fin], rtol=1e-5, atol=1e-4)
