"""conv_transpose2d and conv_transpose1d: the functional forms (torch's names and rules).

A transposed convolution is the adjoint of a convolution, so it runs on Conv2d's kernels
(csrc/conv.c) with the roles swapped. Take the convolution whose input is the transposed
convolution's output y (N, C_out, H_out, W_out), whose weight is w (C_in, C_out/groups, kH,
kW) read as (out_channels, in_channels/groups, kH, kW), and whose output is x (N, C_in, H, W):
  forward   y  = conv2d's input gradient of x       (GEMM w^T @ x, then col2im)
  backward  dx = conv2d(dy, w)                       (im2col + GEMM)
            dw = conv2d's weight gradient, dout = x, input = dy   (im2col + GEMM)
            db = sums of dy over (N, H_out, W_out).
No new C: the geometry tuple is the convolution's, (N, C_out, H_out, W_out, C_in, kH, kW, H,
W, stride, padding, dilation, groups); output_padding only makes H_out/W_out larger (rows no
window reaches stay zero). conv_transpose1d views (N, C, L) as height-1 images. float64 runs
the NumPy references of _functional_conv.py, adjoint-wise, as the kernels do.
"""
import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..amp import AUTOCAST_SEEN as _AUTOCAST_SEEN, lowp as _lowp
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ._functional_conv import (_batched, _conv2d_ref, _conv2d_ref_backward, _float_input,
                               _is_int, _pair, _param_dests, _tensor, _workspace)
from ._functional_conv1d import _single
from ..backend import contiguous

__all__ = ["conv_transpose2d", "conv_transpose1d"]


def _check_common(x, w, bias, groups, wdim, who):
    xd, wd = x._storage, w._storage
    _float_input(xd, who)
    if wd.ndim != wdim:
        dims = "kH, kW" if wdim == 4 else "kL"
        raise ShapeError(f"{who}: weight must be {wdim}-D (in_channels, out_channels/groups, "
                         f"{dims}), got shape {wd.shape}")
    if xd.ndim not in (wdim - 1, wdim):
        raise ShapeError(f"{who}: Expected {wdim - 1}D (unbatched) or {wdim}D (batched) input "
                         f"to {str(who).split('(')[0]}, but got input of shape {xd.shape}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"{who}: input has dtype {xd.dtype} but the weight is {wd.dtype}; "
                         "convert the input with .float() (or the model with .double())")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive integer, got {groups!r}")
    Cin, OCg = wd.shape[0], wd.shape[1]
    C = xd.shape[1] if xd.ndim == wdim else xd.shape[0]
    if Cin % groups:
        raise ShapeError(f"{who}: in_channels ({Cin}, the weight's first dimension) must be "
                         f"divisible by groups={groups}")
    if C != Cin:
        raise ShapeError(f"{who}: expected input with {Cin} channels (weight of shape "
                         f"{wd.shape}), got input of shape {xd.shape}")
    OC = OCg * groups
    if bias is not None:
        bias = _tensor(bias, who)
        if bias._storage.shape != (OC,):
            raise ShapeError(f"{who}: bias must have shape ({OC},), got {bias._storage.shape}")
        if bias._storage.dtype != wd.dtype:
            raise DTypeError(f"{who}: bias has dtype {bias._storage.dtype} but the weight is "
                             f"{wd.dtype}")
    return bias, OC


def _out_len(n, k, s, p, op, d, who, what):
    if op < 0 or (op >= s and op >= d):
        raise ValueError(f"{who}: output padding must be smaller than either stride or "
                         f"dilation, but got output_padding {what}={op}, stride={s}, "
                         f"dilation={d}")
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out < 1:
        raise ShapeError(f"{who}: the output {what} would be {out} (input {n}, kernel {k}, "
                         f"stride {s}, padding {p}, dilation {d}): too small")
    return out


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1, _who="conv_transpose2d"):
    """2-D transposed convolution of input (N, C_in, H, W) or (C_in, H, W) with weight
    (C_in, C_out/groups, kH, kW), as torch.nn.functional.conv_transpose2d."""
    who = _who
    x, w = _tensor(input, who), _tensor(weight, who)
    bias, OC = _check_common(x, w, bias, groups, 4, who)
    s = _pair(stride, "stride", who)
    p = _pair(padding, "padding", who)
    op = _pair(output_padding, "output_padding", who)
    d = _pair(dilation, "dilation", who)
    if min(s) < 1 or min(d) < 1:
        raise ValueError(f"{who}: stride {s} and dilation {d} must be positive")
    if min(p) < 0:
        raise ValueError(f"{who}: negative padding is not supported, got {p}")
    wd = w._storage
    x4, unbatched = _batched(x._storage, who, "conv_transpose2d")
    N, C, H, W = x4.shape
    KH, KW = wd.shape[2:]
    OH = _out_len(H, KH, s[0], p[0], op[0], d[0], who, "height")
    OW = _out_len(W, KW, s[1], p[1], op[1], d[1], who, "width")
    geom = (N, OC, OH, OW, C, KH, KW, H, W, s[0], s[1], p[0], p[1], d[0], d[1], groups)
    return _run(x, w, bias, x4, wd, unbatched, geom, False)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1, _who="conv_transpose1d"):
    """1-D transposed convolution of input (N, C_in, L) or (C_in, L) with weight
    (C_in, C_out/groups, kL), as torch.nn.functional.conv_transpose1d."""
    who = _who
    x, w = _tensor(input, who), _tensor(weight, who)
    bias, OC = _check_common(x, w, bias, groups, 3, who)
    s = _single(stride, "stride", who)
    p = _single(padding, "padding", who)
    op = _single(output_padding, "output_padding", who)
    d = _single(dilation, "dilation", who)
    if s < 1 or d < 1:
        raise ValueError(f"{who}: stride {s} and dilation {d} must be positive")
    if p < 0:
        raise ValueError(f"{who}: negative padding is not supported, got {p}")
    wd = w._storage
    x4, unbatched = _batched(x._storage[..., None, :], who, "conv_transpose1d")
    N, C, _, L = x4.shape
    K = wd.shape[2]
    OL = _out_len(L, K, s, p, op, d, who, "length")
    geom = (N, OC, 1, OL, C, 1, K, 1, L, 1, s, 0, p, 1, d, groups)
    return _run(x, w, bias, x4, wd[:, :, None, :], unbatched, geom, True)


def _run(x, w, bias, x4, w4, unbatched, geom, one_d):
    """y (N, OC, OH, OW) from x4 (N, C, H, W) = the adjoint convolution of geom (above)."""
    xd, wd = x._storage, w._storage
    K = table_of(xd, wd, None if bias is None else bias._storage)
    N, OC, OH, OW, C, KH, KW, H, W, sh, sw, ph, pw, dh, dw_, groups = geom
    stride, dil, pads = (sh, sw), (dh, dw_), (ph, ph, pw, pw)
    fast = xd.dtype == np.float32
    x4c = contiguous(x4)
    wc = contiguous(w4)
    lp = fast and _AUTOCAST_SEEN[0] and _lowp(K)   # autocast: bf16/fp16 GEMMs, forward and backward
    amp = {"prec": lp} if lp else {}   # (the CUDA table's kernels take no such flag)
    if fast:
        out = K.empty((N, OC, OH, OW), np.float32)
        ws = _workspace(K.conv2d_workspace(geom, True), K)
        # the convolution's input gradient; its `inp` is not read without dweight
        K.conv2d_backward(out, None, None, ws, x4c, out, wc, geom, False, **amp)
    else:
        out, _, _ = _conv2d_ref_backward(x4c, K.empty((N, OC, OH, OW), xd.dtype), wc, stride,
                                         pads, dil, groups, True, False, False)
    if bias is not None:
        out += bias._storage.reshape(1, OC, 1, 1)
    res = out[0] if unbatched else out
    if one_d:
        res = res.reshape(res.shape[:-2] + (OW,))
    if not ag.needs_grad(x, w, bias):
        return Tensor._make(res)

    def backward(g):
        g4 = contiguous(g, dtype=xd.dtype).reshape(N, OC, OH, OW)
        need_x = x.requires_grad
        need_w = w.requires_grad
        need_b = bias is not None and bias.requires_grad
        dw, db, dw_sunk, db_sunk, acc = _param_dests(w, bias, need_w, need_b, xd.dtype, K)
        dx = None
        if fast:
            if need_x:
                dx = K.empty((N, C, H, W), np.float32)
                ws = _workspace(K.conv2d_workspace(geom, False), K)
                K.conv2d_forward(dx, ws, g4, wc, None, geom, **amp)
            if need_w:
                ws = _workspace(K.conv2d_workspace(geom, True), K)
                K.conv2d_backward(None, dw.reshape(wc.shape), None, ws, x4c, g4, wc, geom,
                                   acc, **amp)
        else:
            if need_x:
                dx = contiguous(
                    _conv2d_ref(g4, wc, None, stride, pads, dil, groups)[:, :, :H, :W])
            if need_w:
                dw = _conv2d_ref_backward(x4c, g4, wc, stride, pads, dil, groups, False, True,
                                          False)[1].reshape(wd.shape)
        if need_b:
            s = g4.sum(axis=(0, 2, 3), dtype=np.float64).astype(xd.dtype)
            if acc:
                db += s
            else:
                db[...] = s
        if dx is not None:
            dx = dx.reshape(xd.shape)
        return (dx, None if dw_sunk else dw, None if db_sunk else db)

    return Tensor._make(res, True, ag.Node((x, w, bias), backward, "ConvolutionBackward"))
