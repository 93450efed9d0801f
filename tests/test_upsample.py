"""Upsample / F.interpolate (nearest, nearest-exact, bilinear) against torch 2.13: forward and
input gradients for float32 (csrc/upsample.c) and float64 (NumPy), odd sizes and scales,
the module's printing, and bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnfast as nf
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import functional as F
from helpers import assert_close, check_op, fd_grad

CASES_4D = [
    dict(scale_factor=2),
    dict(scale_factor=3),
    dict(size=(5, 7)),
    dict(size=(13, 4)),
    dict(scale_factor=(1.7, 0.6)),
    dict(scale_factor=0.5),
    dict(scale_factor=1.3, recompute_scale_factor=True),
    dict(size=9, mode="nearest-exact"),
    dict(scale_factor=2.5, mode="nearest-exact"),
    dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=2.3, mode="bilinear"),
    dict(scale_factor=0.4, mode="bilinear"),
    dict(size=(9, 4), mode="bilinear"),
    dict(size=(9, 4), mode="bilinear", align_corners=True),
    dict(size=(1, 1), mode="bilinear", align_corners=True),
    dict(size=(6, 7), mode="bilinear"),             # same size: identity
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
    dict(scale_factor=(3, 1), mode="bilinear", align_corners=True),
    dict(size=(3, 4), mode="area"),
    dict(scale_factor=1.5, mode="area"),
]


@pytest.mark.parametrize("kw", CASES_4D, ids=[str(c) for c in CASES_4D])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_4d_matches_torch(kw, dtype):
    tol = 2e-6 if dtype == np.float32 else 1e-12
    check_op([(2, 3, 6, 7)], lambda x: TF.interpolate(x, **kw),
             lambda x: F.interpolate(x, **kw), atol=tol, rtol=tol, dtype=dtype)


CASES_3D = [dict(scale_factor=2), dict(size=17), dict(scale_factor=0.37),
            dict(size=4, mode="nearest-exact"), dict(scale_factor=2.2, mode="nearest-exact"),
            dict(scale_factor=1.7, mode="linear"), dict(size=4, mode="linear"),
            dict(size=13, mode="linear", align_corners=True), dict(size=5, mode="area")]


@pytest.mark.parametrize("kw", CASES_3D, ids=[str(c) for c in CASES_3D])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_3d_matches_torch(kw, dtype):
    tol = 2e-6 if dtype == np.float32 else 1e-12
    check_op([(2, 3, 11)], lambda x: TF.interpolate(x, **kw), lambda x: F.interpolate(x, **kw),
             atol=tol, rtol=tol, dtype=dtype)


def test_bilinear_finite_differences_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 3, 4))
    up = rng.standard_normal((1, 2, 5, 7))

    def f(xv):
        return float((F.interpolate(nf.tensor(xv), size=(5, 7), mode="bilinear").numpy()
                      * up).sum())

    nx = nf.tensor(x, requires_grad=True)
    (F.interpolate(nx, size=(5, 7), mode="bilinear") * nf.tensor(up)).sum().backward()
    np.testing.assert_allclose(nx.grad.numpy(), fd_grad(f, x.copy()), atol=1e-8)


def test_kernel_matches_reference():
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 6))
    for kw in (dict(scale_factor=2.5), dict(size=(7, 3), mode="bilinear")):
        a = F.interpolate(nf.tensor(x.astype(np.float32)), **kw).numpy()
        b = F.interpolate(nf.tensor(x), **kw).numpy()
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_upsample_modules_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for cls, kw in (("Upsample", dict(scale_factor=2)),
                    ("Upsample", dict(size=(3, 8), mode="bilinear")),
                    ("Upsample", dict(scale_factor=(2, 3), mode="bilinear",
                                      align_corners=True)),
                    ("UpsamplingNearest2d", dict(scale_factor=2)),
                    ("UpsamplingBilinear2d", dict(size=(7, 9)))):
        m, t = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
        assert repr(m) == repr(t)
        nx, tx = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        yn, yt = m(nx), t(tx)
        assert_close(yn, yt, atol=1e-6)
        yn.pow(2).sum().backward()
        yt.pow(2).sum().backward()
        assert_close(nx.grad, tx.grad, atol=1e-5)


def test_interpolate_bad_input():
    x = nf.randn(1, 2, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        F.interpolate(x, size=(2, 3, 4))
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        F.interpolate(x, scale_factor=(2, 3, 4))
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="needs 4D"):
        F.interpolate(nf.randn(1, 2, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="needs 3D"):
        F.interpolate(x, scale_factor=2, mode="linear")
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, mode="area", align_corners=False)
    with pytest.raises(NotImplementedError, match="2D input"):
        F.interpolate(nf.randn(2, 4), scale_factor=2)
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")
    with pytest.raises(NotImplementedError, match="antialias"):
        F.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
    with pytest.raises(ShapeError, match="should be positive"):
        F.interpolate(x, scale_factor=0.1)
    with pytest.raises(ShapeError, match="greater than 0"):
        F.interpolate(x, size=(0, 2))
    with pytest.raises(DTypeError):
        F.interpolate(nf.tensor(np.ones((1, 1, 2, 2), np.int64)), scale_factor=2)
    with pytest.raises(TypeError, match="Tensor"):
        F.interpolate(np.ones((1, 1, 2, 2), np.float32).tolist(), scale_factor=2)


def test_signature_as_torch():
    from helpers import same_signature
    assert same_signature(F.interpolate, TF.interpolate)


def test_upsample_kernels_check_tables():
    from nnfast import _C
    x = np.zeros((2, 3, 4), np.float32)
    out = np.empty((2, 5, 6), np.float32)
    ok_h, ok_w = np.zeros(5, np.int64), np.zeros(6, np.int64)
    _C.upsample_nearest2d(out, x, ok_h, ok_w)
    with pytest.raises(ValueError, match="outside"):
        _C.upsample_nearest2d(out, x, ok_h + 3, ok_w)
    with pytest.raises(ValueError, match="entries, expected 6"):
        _C.upsample_nearest2d(out, x, ok_h, ok_w[:5])
    with pytest.raises(ValueError, match="planes"):
        _C.upsample_nearest2d(np.empty((1, 5, 6), np.float32), x, ok_h, ok_w)
    lh, lw = np.zeros(5, np.float32), np.zeros(6, np.float32)
    with pytest.raises(ValueError, match="outside"):
        _C.upsample_bilinear2d(out, x, ok_h, ok_h - 1, lh, ok_w, ok_w, lw)
    with pytest.raises(ValueError, match="weight tables"):
        _C.upsample_bilinear2d(out, x, ok_h, ok_h, lh[:4], ok_w, ok_w, lw)
