"""3x3 stride-1 fp32 convolutions run by Winograd F(2x2, 3x3) (csrc/conv_winograd.c): the C
kernels against the direct loops, the layer against torch, the fallback to im2col where a
value is inf or NaN, and the portable transforms (the AVX-512 ones run by default here) in a
process of their own. (A workspace sized at another thread count: test_kernel_safety.)"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import _C, nn

# (N, C, H, W), OC, (ph, pw), (OH, OW) or None for the symmetric padding's
CASES = [
    ((4, 16, 26, 26), 32, (0, 0), None),      # the bench CNN's second layer
    ((3, 8, 9, 7), 8, (1, 1), None),          # odd output sizes: tiles cut at the edge
    ((2, 9, 10, 11), 12, (1, 0), None),
    ((5, 16, 5, 6), 16, (2, 2), None),        # padding 2: tiles wholly in the padding
    ((2, 8, 40, 70), 8, (1, 1), None),        # 35 tiles a row: three 16-tile vectors
    ((2, 8, 37, 35), 9, (2, 1), None),
    ((1, 32, 33, 17), 8, (1, 1), None),       # one image (backward on one thread)
    ((3, 8, 8, 9), 10, (1, 1), (8, 9)),       # padding "same" with the bottom/right implied
    ((2, 8, 6, 6), 8, (0, 0), (4, 4)),        # the smallest output it takes
    ((2, 64, 14, 14), 8, (0, 0), None),       # sums of 576 products
]


def _geom(xs, oc, pads, out):
    n, c, h, w = xs
    oh, ow = out if out else (h + 2 * pads[0] - 2, w + 2 * pads[1] - 2)
    return (n, c, h, w, oc, 3, 3, oh, ow, 1, 1, pads[0], pads[1], 1, 1, 1)


def _problem(xs, oc, pads, out, seed=0):
    rng = np.random.default_rng(seed)
    geom = _geom(xs, oc, pads, out)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal((oc, xs[1], 3, 3)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    g = rng.standard_normal((xs[0], oc, geom[7], geom[8])).astype(np.float32)
    return geom, x, w, b, g


def _direct(geom, x, w, b, g):
    out = np.empty_like(g)
    _C.conv2d_forward(out, None, x, w, b, geom, reference=True)
    grads = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    _C.conv2d_backward(*grads, None, g, x, w, geom, False, reference=True)
    return out, grads


def _kernels(geom, x, w, b, g):
    """[out, dinp, dweight, dbias] of the kernels nnfast runs (Winograd or its fallback)."""
    ws = np.empty(_C.conv2d_workspace(geom, True), np.float32)
    out = np.empty_like(g)
    _C.conv2d_forward(out, ws, x, w, b, geom)
    grads = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    _C.conv2d_backward(*grads, ws, g, x, w, geom, False)
    return [out] + grads


def _tol(c):
    # sums of 9 * C products of unit normals, rounded in another order
    return 2e-6 * 9 * c


def check_against_direct_loops(xs, oc, pads, out):
    geom, x, w, b, g = _problem(xs, oc, pads, out)
    ref_out, ref_grads = _direct(geom, x, w, b, g)
    tol = _tol(xs[1])
    ws = np.empty(_C.conv2d_workspace(geom, True), np.float32)
    got = np.full_like(g, np.nan)
    _C.conv2d_forward(got, ws, x, w, b, geom)
    np.testing.assert_allclose(got, ref_out, atol=tol, rtol=1e-5)
    grads = [np.full_like(x, np.nan), np.full_like(w, 7.0), np.full_like(b, 7.0)]
    _C.conv2d_backward(*grads, ws, g, x, w, geom, False)
    for a, r in zip(grads, ref_grads):
        np.testing.assert_allclose(a, r, atol=tol * 4, rtol=1e-5)
    # accumulate adds onto what is there; each gradient alone
    _C.conv2d_backward(None, grads[1], grads[2], ws, g, x, w, geom, True)
    np.testing.assert_allclose(grads[1], 2 * ref_grads[1], atol=tol * 8, rtol=1e-5)
    np.testing.assert_allclose(grads[2], 2 * ref_grads[2], atol=tol * 8, rtol=1e-5)
    dx = np.full_like(x, np.nan)
    _C.conv2d_backward(dx, None, None, ws, g, x, w, geom, False)
    np.testing.assert_allclose(dx, ref_grads[0], atol=tol * 4, rtol=1e-5)
    dw = np.full_like(w, np.nan)
    _C.conv2d_backward(None, dw, None, ws, g, x, w, geom, False)
    np.testing.assert_allclose(dw, ref_grads[1], atol=tol * 4, rtol=1e-5)
    # no bias
    _C.conv2d_forward(got, ws, x, w, None, geom)
    np.testing.assert_allclose(got, ref_out - b[None, :, None, None], atol=tol, rtol=1e-5)


@pytest.fixture(params=[1, 2])
def threads(request):
    before = nf.get_num_threads()
    nf.set_num_threads(request.param)
    yield request.param
    nf.set_num_threads(before)


@pytest.mark.parametrize("xs,oc,pads,out", CASES)
def test_kernels_equal_direct_loops(xs, oc, pads, out, threads):
    check_against_direct_loops(xs, oc, pads, out)


@pytest.mark.parametrize("where", ["input", "dout"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_values_give_the_direct_sums_inf_and_nan(where, value):
    # Winograd would mix an inf with its neighbours (inf - inf = NaN); the kernels run
    # im2col instead, whose sums have the direct loops' inf and NaN in the same places.
    # (A non-finite weight goes to im2col too, before any transform; im2col multiplies the
    # padding's zeros by it, where the direct loops skip them: NaN there, as before.)
    geom, x, w, b, g = _problem((3, 8, 10, 10), 8, (1, 1), None, seed=1)
    {"input": x, "dout": g}[where].flat[37] = value
    ref_out, ref_grads = _direct(geom, x, w, b, g)
    for a, r in zip(_kernels(geom, x, w, b, g), [ref_out] + ref_grads):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(r))
        np.testing.assert_array_equal(np.isposinf(a), np.isposinf(r))
        np.testing.assert_array_equal(np.isneginf(a), np.isneginf(r))
        fin = np.isfinite(r)
        np.testing.assert_allclose(a[fin], r[fin], atol=_tol(8) * 4, rtol=1e-5)


@pytest.mark.parametrize("where", ["input", "dout"])
def test_overflow_in_the_transforms_falls_back(where):
    # a 2x2 pattern of +-1e38 that Winograd's transform sums to 4e38 (past FLT_MAX), where
    # every direct sum stays far from it (the other operand scaled by 1e-3): the results are
    # im2col's, finite wherever the direct loops' are
    geom, x, w, b, g = _problem((2, 8, 9, 9), 8, (1, 1), None, seed=2)
    w *= 1e-3
    if where == "input":   # V = B^T d B: (d00 - d02) - (d20 - d22)
        g *= 1e-3
        x[1, 2, 3:6:2, 3:6:2] = [[1e38, -1e38], [-1e38, 1e38]]
    else:                  # dM = A dY A^T: dy00 + dy01 + dy10 + dy11
        x *= 1e-3
        g[0, 5, 2:4, 2:4] = 1e38
    ref_out, ref_grads = _direct(geom, x, w, b, g)
    for a, r in zip(_kernels(geom, x, w, b, g), [ref_out] + ref_grads):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(r))
        fin = np.isfinite(r)
        np.testing.assert_allclose(a[fin], r[fin], rtol=1e-4, atol=1e-4 * np.abs(r[fin]).max())


@pytest.mark.parametrize("padding", [0, 1, 2, "same"])
def test_layer_trains_like_torch(padding):
    # Conv2d(16, 32, 3) forward, gradients and three Adam steps against torch
    torch.manual_seed(0)
    tconv = torch.nn.Conv2d(16, 32, 3, padding=padding)
    conv = nn.Conv2d(16, 32, 3, padding=padding)
    conv.load_state_dict({k: nf.from_numpy(v.detach().numpy().copy())
                          for k, v in tconv.state_dict().items()})
    topt = torch.optim.Adam(tconv.parameters(), lr=1e-2)
    opt = nf.optim.Adam(conv.parameters(), lr=1e-2)
    rng = np.random.default_rng(2)
    for step in range(3):
        x = rng.standard_normal((6, 16, 13, 11)).astype(np.float32)
        tx = torch.from_numpy(x).requires_grad_(True)
        nx = nf.tensor(x, requires_grad=True)
        ty, ny = tconv(tx), conv(nx)
        np.testing.assert_allclose(ny.detach().numpy(), ty.detach().numpy(), atol=2e-4,
                                   rtol=1e-4)
        topt.zero_grad()
        opt.zero_grad()
        (ty * ty).sum().backward()
        (ny * ny).sum().backward()
        np.testing.assert_allclose(nx.grad.numpy(), tx.grad.numpy(), atol=2e-3, rtol=1e-4)
        np.testing.assert_allclose(conv.weight.grad.numpy(), tconv.weight.grad.numpy(),
                                   atol=2e-2, rtol=1e-4)
        topt.step()
        opt.step()
    np.testing.assert_allclose(conv.weight.detach().numpy(), tconv.weight.detach().numpy(),
                               atol=1e-5, rtol=1e-5)


_SUBPROCESS = """
import sys
sys.path.insert(0, {tests!r})
import nnfast as nf
import test_conv_winograd as t
for threads in (1, 2):
    nf.set_num_threads(threads)
    for case in t.CASES:
        t.check_against_direct_loops(*case)
print("ok")
"""


@pytest.mark.parametrize("mode", ["portable", "0"])
def test_portable_transforms_and_im2col_equal_direct_loops(mode):
    # the AVX-512 transforms run here by default: NNFAST_CONV_WINOGRAD=portable (read once
    # per process) reaches the portable ones, 0 the im2col path on the same shapes
    env = dict(os.environ, NNFAST_CONV_WINOGRAD=mode)
    code = _SUBPROCESS.format(tests=os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
