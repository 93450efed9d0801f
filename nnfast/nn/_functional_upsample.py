"""interpolate / upsample: nearest, nearest-exact, linear (3-D), bilinear (4-D) and area
resizing (torch's F.interpolate rules), with gradients.

The index and weight tables are computed here with torch 2.13's CPU formulas, in the input's
precision where torch uses it (opmath: float for float32, double for float64; nearest
indices always go through a float scale, as torch's nearest_idx does):
  scale    = 1/scale_factor when a scale factor is given and not recomputed, else in/out;
             bilinear with align_corners: (in - 1)/(out - 1) (0 for out == 1)
  nearest  src = min(floor(o * scale), in - 1);  nearest-exact: floor((o + 0.5) * scale)
  bilinear src = align_corners ? o * scale : max(scale * (o + 0.5) - 0.5, 0);
           i0 = min(floor(src), in - 1), i1 = i0 + (i0 < in - 1), l1 = clamp(src - i0, 0, 1)
           (and i0 = i1 = o, l1 = 0 when in == out)
float32 then runs the loops of csrc/upsample.c; float64 the NumPy gathers below. 3-D input
(N, C, L) is resized as planes of height 1 ('linear' is 'bilinear' with a trivial height
table). 'area' is adaptive average pooling, as in torch.
Not supported: bicubic, trilinear, 5-D input and antialias.
"""
import math
import numbers

import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "area")


def _scales(dims, scale_factor):
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != dims:
            raise ValueError(f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of {dims} "
                             f"and scale_factor of shape {list(scale_factor)}.")
        return [float(s) for s in scale_factor]
    return [float(scale_factor)] * dims


def _sizes(who, in_sizes, size, scale_factor, recompute):
    """(output sizes, the scales the kernel uses: None = from the sizes)."""
    dims = len(in_sizes)
    if size is not None and scale_factor is not None:
        raise ValueError(f"{who}: only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (tuple, list)):
            if len(size) != dims:
                raise ValueError(f"{who}: Input and output must have the same number of "
                                 f"spatial dimensions, but got input with spatial dimensions "
                                 f"of {list(in_sizes)} and output size of {list(size)}. "
                                 f"Please provide input tensor in (N, C, d1, d2, ...,dK) "
                                 f"format and output size in (o1, o2, ...,oK) format.")
            out = [int(s) for s in size]
        elif isinstance(size, numbers.Integral):
            out = [int(size)] * dims
        else:
            raise TypeError(f"{who}: size must be an int or a tuple of ints, got {size!r}")
        if min(out) <= 0:
            raise ShapeError(f"{who}: output sizes should be greater than 0, got {out}")
        return out, [None] * dims
    if scale_factor is None:
        raise ValueError(f"{who}: either size or scale_factor should be defined")
    sc = _scales(dims, scale_factor)
    out = [int(math.floor(float(n) * s)) for n, s in zip(in_sizes, sc)]
    if min(out) <= 0:
        raise ShapeError(f"{who}: input of spatial size {list(in_sizes)} with scale_factor "
                         f"{scale_factor} gives output size {out}, which should be positive")
    return out, ([None] * dims if recompute else sc)


def _nearest_table(n_in, n_out, scale, exact, opdt):
    if scale is not None and scale > 0:
        s = np.float32(opdt.type(1.0 / scale))
    else:
        s = np.float32(opdt.type(n_in) / opdt.type(n_out))
    o = np.arange(n_out)
    if exact:
        src = np.floor(((o + 0.5) * np.float64(s)).astype(np.float32))
    else:
        src = np.floor(o.astype(np.float32) * s)
    return np.minimum(src.astype(np.int64), n_in - 1)


def _linear_table(n_in, n_out, scale, align_corners, opdt):
    """(i0, i1, l1) of each output position along one axis, torch's rules in opdt."""
    o = np.arange(n_out)
    if n_in == n_out:
        return o.astype(np.int64), o.astype(np.int64), np.zeros(n_out, opdt)
    t = opdt.type
    if align_corners:
        s = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = t(s) * o.astype(opdt)
    else:
        s = t(1.0 / scale) if scale is not None and scale > 0 else t(n_in) / t(n_out)
        src = t(s) * (o.astype(opdt) + t(0.5)) - t(0.5)
        src = np.where(src < 0, t(0), src).astype(opdt)
    i0 = np.minimum(np.floor(src.astype(np.float32) if opdt == np.float32 else src)
                    .astype(np.int64), n_in - 1)
    l1 = np.clip(src - i0.astype(opdt), t(0), t(1)).astype(opdt)
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, l1


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False, _who="interpolate"):
    """Resize input (N, C, H, W) with mode 'nearest', 'nearest-exact', 'bilinear' or 'area',
    or (N, C, L) with 'nearest', 'nearest-exact', 'linear' or 'area', to `size` or by
    `scale_factor`, as F.interpolate."""
    who = _who
    if not isinstance(input, Tensor):
        raise TypeError(f"{who}: expected a Tensor input, got {type(input).__name__}")
    x = input
    xd = x._storage
    if mode not in _MODES:
        if mode in ("bicubic", "trilinear"):
            raise NotImplementedError(f"{who}: mode={mode!r} is not implemented in nnfast "
                                      f"(supported: {', '.join(_MODES)})")
        raise NotImplementedError(f"{who}: unknown mode {mode!r}; supported: "
                                  f"{', '.join(_MODES)}")
    if antialias:
        raise NotImplementedError(f"{who}: antialias=True is not implemented in nnfast")
    if mode.startswith("nearest") or mode == "area":
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if xd.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{who}: expected a float32 or float64 input, got dtype {xd.dtype}")
    if xd.ndim not in (3, 4) or (mode == "bilinear" and xd.ndim != 4) or (
            mode == "linear" and xd.ndim != 3):
        want = {"bilinear": "4D", "linear": "3D"}.get(mode, "3D or 4D")
        raise NotImplementedError(f"{who}: got {xd.ndim}D input of shape {xd.shape}, but "
                                  f"mode={mode!r} needs {want} input (N, C, ...) in nnfast")
    if 0 in xd.shape[1:]:
        raise ShapeError(f"{who}: expected non-empty channel and spatial dimensions, got "
                         f"input of shape {xd.shape}")
    one_d = xd.ndim == 3
    in_sizes = list(xd.shape[2:])
    out_sizes, scales = _sizes(who, in_sizes, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        from ._functional_conv import adaptive_avg_pool2d
        return adaptive_avg_pool2d(x, (1, out_sizes[0]) if one_d else tuple(out_sizes),
                                   _who=who, _one_d=one_d)
    N, C = xd.shape[:2]
    H, W = (1, in_sizes[0]) if one_d else in_sizes
    OH, OW = (1, out_sizes[0]) if one_d else out_sizes
    sh, sw = (None, scales[0]) if one_d else scales
    opdt = xd.dtype
    planes = contiguous(xd).reshape(N * C, H, W)
    K = table_of(planes)
    fast = xd.dtype == np.float32
    linear = mode in ("linear", "bilinear")
    if linear:
        tabs = (_linear_table(H, OH, sh, align_corners, opdt)
                + _linear_table(W, OW, sw, align_corners, opdt))
    else:
        ex = mode == "nearest-exact"
        tabs = (_nearest_table(H, OH, sh, ex, opdt), _nearest_table(W, OW, sw, ex, opdt))
    if K.name != "cpu":   # the index/weight tables are made on the host
        tabs = tuple(K.asarray(t) for t in tabs)
    if fast:
        out = K.empty((N * C, OH, OW), np.float32)
        if linear:
            K.upsample_bilinear2d(out, planes, *tabs)
        else:
            K.upsample_nearest2d(out, planes, *tabs)
    else:
        out = _ref_forward(planes, linear, tabs)
    shape = (N, C) + tuple(out_sizes)
    res = out.reshape(shape)
    if not ag.needs_grad(x):
        return Tensor._make(res)

    def backward(g):
        g3 = contiguous(g, dtype=xd.dtype).reshape(N * C, OH, OW)
        if fast:
            dx = K.empty((N * C, H, W), np.float32)
            if linear:
                K.upsample_bilinear2d(dx, g3, *tabs, backward=True)
            else:
                K.upsample_nearest2d(dx, g3, *tabs, backward=True)
        else:
            dx = _ref_backward(g3, H, W, linear, tabs)
        return (dx.reshape(xd.shape),)

    name = "UpsampleBilinear2D" if linear else "UpsampleNearest2D"
    return Tensor._make(res, True, ag.Node((x,), backward, name))


def _ref_forward(planes, linear, tabs):
    if not linear:
        hi, wi = tabs
        return planes[:, hi[:, None], wi[None, :]]
    h0, h1, lh, w0, w1, lw = tabs
    one = planes.dtype.type(1)
    a1, a0 = lw[None, None, :], one - lw[None, None, :]
    b1, b0 = lh[None, :, None], one - lh[None, :, None]
    r0, r1 = planes[:, h0], planes[:, h1]
    return ((r0[:, :, w0] * a0 + r0[:, :, w1] * a1) * b0
            + (r1[:, :, w0] * a0 + r1[:, :, w1] * a1) * b1)


def _ref_backward(g3, H, W, linear, tabs):
    P = g3.shape[0]
    dx = np.zeros((P, H * W), g3.dtype)
    if not linear:
        hi, wi = tabs
        flat = (hi[:, None] * W + wi[None, :]).reshape(-1)
        np.add.at(dx, (slice(None), flat), g3.reshape(P, -1))
        return dx.reshape(P, H, W)
    h0, h1, lh, w0, w1, lw = tabs
    one = g3.dtype.type(1)
    for hh, bh in ((h0, one - lh), (h1, lh)):
        for ww, aw in ((w0, one - lw), (w1, lw)):
            flat = (hh[:, None] * W + ww[None, :]).reshape(-1)
            wgt = (bh[:, None] * aw[None, :]).reshape(-1)
            np.add.at(dx, (slice(None), flat), g3.reshape(P, -1) * wgt)
    return dx.reshape(P, H, W)


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate (as torch's F.upsample)."""
    return interpolate(input, size, scale_factor, mode, align_corners, _who="upsample")


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest", _who="upsample_nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True,
                       _who="upsample_bilinear")
