"""The CUDA conv2d kernels against nnfast._C on the same inputs (run under the simulator)."""
import numpy as np
import pytest

from nnfast import _C
from nnfast.backend.cuda import conv as conv_mod

from conftest import dev, host

RTOL, ATOL = 1e-5, 1e-5


def _geom(N, C, H, W, OC, k, s=(1, 1), p=(0, 0), d=(1, 1), G=1):
    OH = (H + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    OW = (W + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    return (N, C, H, W, OC, k[0], k[1], OH, OW, s[0], s[1], p[0], p[1], d[0], d[1], G)


def _data(geom, seed=0):
    N, C, H, W, OC, KH, KW, OH, OW = geom[:9]
    G = geom[15]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((OC, C // G, KH, KW)).astype(np.float32)
    b = rng.standard_normal(OC).astype(np.float32)
    g = rng.standard_normal((N, OC, OH, OW)).astype(np.float32)
    return x, w, b, g


def _ws(geom, backward):
    return np.empty(max(1, _C.conv2d_workspace(geom, backward)), np.float32)


def _forward_both(K, geom, x, w, b):
    out = np.empty((geom[0], geom[4], geom[7], geom[8]), np.float32)
    _C.conv2d_forward(out, _ws(geom, False), x, w, b, geom)
    dout = dev(np.full(out.shape, np.nan, np.float32))
    K.conv2d_forward(dout, None, dev(x), dev(w), None if b is None else dev(b), geom)
    return out, host(dout)


def _backward_both(K, geom, x, w, g, need=(True, True, True), accumulate=False, seed=1):
    """(C results, CUDA results) of conv2d_backward; with accumulate the gradients start
    from the same random values on both sides."""
    rng = np.random.default_rng(seed)
    start_w = rng.standard_normal(w.shape).astype(np.float32)
    start_b = rng.standard_normal(geom[4]).astype(np.float32)
    cx = np.full(x.shape, np.nan, np.float32) if need[0] else None
    cw = start_w.copy() if need[1] else None
    cb = start_b.copy() if need[2] else None
    _C.conv2d_backward(cx, cw, cb, _ws(geom, True), g, x, w, geom, accumulate)
    kx = dev(np.full(x.shape, np.nan, np.float32)) if need[0] else None
    kw = dev(start_w) if need[1] else None
    kb = dev(start_b) if need[2] else None
    K.conv2d_backward(kx, kw, kb, None, dev(g), dev(x), dev(w), geom, accumulate)
    return (cx, cw, cb), (host(kx), host(kw), host(kb))


CASES = [
    # N, C, H, W, OC, kernel, stride, padding, dilation, groups
    dict(N=2, C=2, H=4, W=5, OC=3, k=(3, 3), p=(1, 1)),                       # "same", bias
    dict(N=1, C=2, H=6, W=5, OC=4, k=(3, 2), s=(2, 1), p=(1, 0), d=(1, 2), G=2),
    dict(N=2, C=3, H=5, W=5, OC=3, k=(2, 2), s=(2, 2), G=3),                   # depthwise
    dict(N=1, C=3, H=4, W=3, OC=2, k=(1, 1)),                                  # 1x1
    dict(N=1, C=2, H=5, W=6, OC=3, k=(3, 3), s=(3, 2), p=(2, 1), d=(2, 1)),    # pad > k/2
    dict(N=2, C=2, H=1, W=7, OC=2, k=(1, 3), s=(1, 2), p=(0, 1)),             # conv1d
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items()))
def test_conv2d_forward_backward_match_the_cpu(K, case):
    geom = _geom(**case)
    x, w, b, g = _data(geom)
    want, got = _forward_both(K, geom, x, w, b)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    want, got = _backward_both(K, geom, x, w, g)
    for c, k in zip(want, got):
        np.testing.assert_allclose(k, c, rtol=RTOL, atol=ATOL)


def test_conv2d_without_bias_and_accumulating_gradients(K):
    geom = _geom(N=2, C=2, H=4, W=5, OC=2, k=(2, 3), p=(0, 1))
    x, w, _, g = _data(geom, seed=3)
    want, got = _forward_both(K, geom, x, w, None)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    want, got = _backward_both(K, geom, x, w, g, accumulate=True)
    for c, k in zip(want, got):
        np.testing.assert_allclose(k, c, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False),
                                  (False, False, True)])
def test_conv2d_backward_computes_only_what_is_asked(K, need):
    geom = _geom(N=1, C=2, H=4, W=4, OC=2, k=(3, 3), p=(1, 1))
    x, w, _, g = _data(geom, seed=4)
    want, got = _backward_both(K, geom, x, w, g, need=need)
    for c, k, n in zip(want, got, need):
        assert (k is None) == (not n)
        if n:
            np.testing.assert_allclose(k, c, rtol=RTOL, atol=ATOL)


def test_conv2d_dweight_in_one_split_writes_in_place(K, monkeypatch):
    # the split count follows the tile count; one split overwrites dweight directly
    monkeypatch.setattr(conv_mod, "SPLIT_TARGET", 1)
    geom = _geom(N=1, C=2, H=4, W=3, OC=2, k=(2, 2))
    x, w, _, g = _data(geom, seed=5)
    assert conv_mod._splits(1, geom[0] * geom[7] * geom[8], conv_mod.TILES[2]) == 1
    want, got = _backward_both(K, geom, x, w, g, need=(False, True, False))
    np.testing.assert_allclose(got[1], want[1], rtol=RTOL, atol=ATOL)


def test_conv_transpose_call_pattern_input_gradient_with_aliased_inp(K):
    # ConvTranspose's forward: conv2d_backward(out, None, None, ws, x, out, w, geom, False)
    geom = _geom(N=1, C=3, H=5, W=4, OC=2, k=(3, 3), s=(2, 2), p=(1, 1))
    x, w, _, g = _data(geom, seed=6)
    want = np.empty(x.shape, np.float32)
    _C.conv2d_backward(want, None, None, _ws(geom, True), g, want, w, geom, False)
    out = dev(np.full(x.shape, np.nan, np.float32))
    K.conv2d_backward(out, None, None, None, dev(g), out, dev(w), geom, False)
    np.testing.assert_allclose(host(out), want, rtol=RTOL, atol=ATOL)


def test_conv2d_is_deterministic(K):
    geom = _geom(N=2, C=2, H=4, W=4, OC=2, k=(3, 3), p=(1, 1))
    x, w, _, g = _data(geom, seed=7)
    runs = []
    for _ in range(2):
        dw = dev(np.zeros(w.shape, np.float32))
        db = dev(np.zeros(2, np.float32))
        K.conv2d_backward(None, dw, db, None, dev(g), dev(x), dev(w), geom, True)
        runs.append((host(dw), host(db)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_conv2d_empty_batch_and_channels(K):
    # no samples: outputs untouched, gradients zeroed unless accumulating
    geom = _geom(N=0, C=2, H=3, W=3, OC=2, k=(2, 2))
    x, w, _, g = _data(geom)
    K.conv2d_forward(dev(np.empty((0, 2, 2, 2), np.float32)), None, dev(x), dev(w), None, geom)
    want, got = _backward_both(K, geom, x, w, g)
    for c, k in zip(want, got):
        np.testing.assert_array_equal(k, c)
    want, got = _backward_both(K, geom, x, w, g, accumulate=True)
    for c, k in zip(want, got):
        np.testing.assert_array_equal(k, c)


def test_conv2d_workspace_is_zero_and_ws_is_not_needed(K):
    geom = _geom(N=1, C=2, H=3, W=3, OC=2, k=(2, 2))
    assert K.conv2d_workspace(geom, False) == 0 and K.conv2d_workspace(geom, True) == 0


def test_conv2d_rejects_bad_calls(K):
    geom = _geom(N=1, C=2, H=3, W=3, OC=2, k=(2, 2))
    x, w, b, g = _data(geom)
    out = dev(np.empty((1, 2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="16 fields"):
        K.conv2d_workspace(geom[:15], False)
    with pytest.raises(ValueError, match="bad geometry"):
        K.conv2d_forward(out, None, dev(x), dev(w), None, geom[:15] + (3,))
    with pytest.raises(ValueError, match="inp has shape"):
        K.conv2d_forward(out, None, dev(x[:, :1]), dev(w), None, geom)
    with pytest.raises(ValueError, match="bias"):
        K.conv2d_forward(out, None, dev(x), dev(w), dev(b[:1]), geom)
    with pytest.raises(ValueError, match="float32"):
        K.conv2d_forward(out, None, dev(x.astype(np.float64)), dev(w), None, geom)
    with pytest.raises(ValueError, match="dweight has shape"):
        K.conv2d_backward(None, dev(w[:1]), None, None, dev(g), dev(x), dev(w), geom, False)
    with pytest.raises(ValueError, match="reference"):
        K.conv2d_backward(None, dev(w), None, None, dev(g), dev(x), dev(w), geom, True, True)


def test_reciprocal_division_of_the_gathers_is_exact():
    div = getattr(conv_mod._div, "py_func", conv_mod._div)
    for b in list(range(1, 40)) + [49, 64, 97, 784, 3136, 12544, 50176]:
        inv = 1.0 / b
        for a in list(range(0, 300)) + [b * j + e for j in (1000, 99999, 2 ** 30 // b)
                                         for e in (-1, 0, 1)]:
            assert div(a, b, inv) == a // b, (a, b)
    rng = np.random.default_rng(0)
    for a, b in zip(rng.integers(0, 2 ** 49, 2000), rng.integers(1, 2 ** 20, 2000)):
        a, b = int(a), int(b)
        for x in (a, a - a % b, a - a % b - 1):
            if x >= 0:
                assert div(x, b, 1.0 / b) == x // b, (x, b)


def test_conv2d_at_production_tile_sizes(K, monkeypatch):
    # the GPU's tiles (256 threads, 64x64x16) on one tile: the tile-load layout holds there
    tiles = (64, 64, 16, 4, 4)
    for name, ops in (("_forward", (conv_mod._WEIGHT, conv_mod._COL, conv_mod._store_out,
                                    False)),
                      ("_dinp", (conv_mod._WEIGHT_T, conv_mod._TAPS, conv_mod._store_dinp,
                                 False)),
                      ("_dweight", (conv_mod._DOUT, conv_mod._COL, conv_mod._store_dweight,
                                    True))):
        monkeypatch.setattr(conv_mod, name, conv_mod.gemm_kernel(*ops, tiles))
    geom = _geom(N=1, C=2, H=3, W=4, OC=2, k=(2, 2), p=(1, 0))
    x, w, b, g = _data(geom, seed=8)
    want, got = _forward_both(K, geom, x, w, b)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    want, got = _backward_both(K, geom, x, w, g, need=(True, True, False), accumulate=True)
    for c, k in zip(want[:2], got[:2]):
        np.testing.assert_allclose(k, c, rtol=RTOL, atol=ATOL)
