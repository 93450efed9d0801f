"""conv2d and 2-D pooling: the functional forms (torch.nn.functional's names and rules).

float32 runs the compiled kernels (csrc/conv.c, csrc/pool.c); float64 runs the plain NumPy
references below (`_conv2d_ref` and friends), which have the same semantics and are what the
tests hold the kernels to (and use for finite differences). Each call records one autograd
node whose backward calls the matching derivative kernel.

Arguments are validated here, once, with torch's rules: output sizes, "same"/"valid"
padding (asymmetric when the total is odd), pooling's ceil_mode and pad <= kernel/2 checks.
"""
import numbers
import threading

import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..amp import AUTOCAST_SEEN as _AUTOCAST_SEEN, lowp as _lowp
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["conv2d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d",
           "adaptive_avg_pool2d"]


# ------------------------------------------------------------------------------ helpers

def _tensor(x, who):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _pair(v, name, who):
    """An int or a pair of ints -> (a, b)."""
    if _is_int(v):
        return (int(v), int(v))
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(e) for e in v):
        return (int(v[0]), int(v[1]))
    if isinstance(v, (tuple, list)) and len(v) == 1 and _is_int(v[0]):
        return (int(v[0]), int(v[0]))
    raise ValueError(f"{who}: {name} must be an int or a pair of ints, got {v!r}")


_tls = threading.local()


def _workspace(n, K):
    """A float32 scratch of at least n floats on K's device, kept per thread and device (no
    steady-state allocation)."""
    spaces = getattr(_tls, "ws", None)
    if spaces is None:
        spaces = _tls.ws = {}
    buf = spaces.get(K.name)
    if buf is None or buf.shape[0] < n:
        buf = spaces[K.name] = K.empty(max(n, 1), np.float32)
    return buf


def _float_input(xd, who):
    if xd.dtype.kind != "f" or xd.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{who}: expected a float32 or float64 input, got dtype {xd.dtype}")


def _batched(xd, who, name="conv2d"):
    """(N, C, H, W) view of a 3-D (unbatched) or 4-D input, and whether it was unbatched."""
    if xd.ndim == 4:
        return xd, False
    if xd.ndim == 3:
        return xd[None], True
    raise ShapeError(f"{who}: expected a 3-D (unbatched) or 4-D (batched) input to {name}, "
                     f"got input of shape {xd.shape}")


def _param_dests(w, bias, need_w, need_b, dtype, K):
    """Where a backward writes dweight and dbias, and the accumulate flag for both.

    Leaves' gradients are written in place when autograd offers a sink (grad_sink); the two
    share one accumulate flag, so a fresh sink is zeroed when the other one accumulates.
    Returns (dw, db, dw_sunk, db_sunk, acc)."""
    dw = db = None
    dw_sunk = db_sunk = False
    acc = None
    if need_w and w._node is None and dtype == np.float32:
        dw, a = ag.grad_sink(w)
        if dw is not None:
            dw_sunk, acc = True, a
    if need_b and bias._node is None and dtype == np.float32:
        db, a = ag.grad_sink(bias)
        if db is not None:
            db_sunk = True
            if acc is None:
                acc = a
            elif a != acc:
                (db if not a else dw)[...] = 0
                acc = True
    acc = bool(acc)
    if need_w and dw is None:
        dw = K.zeros(w._storage.shape, dtype) if acc else K.empty(w._storage.shape, dtype)
    if need_b and db is None:
        db = K.zeros(bias._storage.shape, dtype) if acc else K.empty(bias._storage.shape, dtype)
    return dw, db, dw_sunk, db_sunk, acc


# ------------------------------------------------------------------------------ conv2d

def _conv_padding(padding, kernel, dilation, stride, who):
    """(top, bottom, left, right) zero padding, torch's rules for ints, pairs and strings."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{who}: padding='same' is not supported for strided "
                                 f"convolutions (stride={stride})")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]   # the odd one goes to the end
            return tuple(pads)
        raise ValueError(f"{who}: invalid padding string {padding!r}, should be one of "
                         "{'valid', 'same'}")
    ph, pw = _pair(padding, "padding", who)
    if ph < 0 or pw < 0:
        raise ValueError(f"{who}: negative padding is not supported, got {padding!r}")
    return (ph, ph, pw, pw)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           _who="conv2d"):
    """2-D convolution (cross-correlation) of input (N, C, H, W) or (C, H, W) with weight
    (out_channels, C/groups, kH, kW), as torch.nn.functional.conv2d."""
    who = _who
    x = _tensor(input, who)
    w = _tensor(weight, who)
    xd, wd = x._storage, w._storage
    _float_input(xd, who)
    if wd.ndim != 4:
        raise ShapeError(f"{who}: weight must be 4-D (out_channels, in_channels/groups, kH, "
                         f"kW), got shape {wd.shape}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"{who}: input has dtype {xd.dtype} but the weight is {wd.dtype}; "
                         "convert the input with .float() (or the model with .double())")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive integer, got {groups!r}")
    stride = _pair(stride, "stride", who)
    dilation = _pair(dilation, "dilation", who)
    if min(stride) < 1:
        raise ValueError(f"{who}: stride must be positive, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"{who}: dilation must be positive, got {dilation}")
    x4, unbatched = _batched(xd, who)
    N, C, H, W = x4.shape
    OC, Cg, KH, KW = wd.shape
    if OC % groups:
        raise ShapeError(f"{who}: out_channels ({OC}, the weight's first dimension) must be "
                         f"divisible by groups={groups}")
    if C != Cg * groups:
        raise ShapeError(f"{who}: expected input with {Cg * groups} channels (weight of shape "
                         f"{wd.shape}, groups={groups}), got input of shape {xd.shape}")
    if bias is not None:
        bias = _tensor(bias, who)
        if bias._storage.shape != (OC,):
            raise ShapeError(f"{who}: bias must have shape ({OC},), got {bias._storage.shape}")
        if bias._storage.dtype != wd.dtype:
            raise DTypeError(f"{who}: bias has dtype {bias._storage.dtype} but the weight is "
                             f"{wd.dtype}")
    pt, pb, pl, pr = _conv_padding(padding, (KH, KW), dilation, stride, who)
    eh, ew = dilation[0] * (KH - 1) + 1, dilation[1] * (KW - 1) + 1
    if H + pt + pb < eh or W + pl + pr < ew:
        raise ShapeError(f"{who}: padded input size per channel ({H + pt + pb} x "
                         f"{W + pl + pr}) is smaller than the kernel ({eh} x {ew}, "
                         f"dilation {dilation}); input of shape {xd.shape}")
    OH = (H + pt + pb - eh) // stride[0] + 1
    OW = (W + pl + pr - ew) // stride[1] + 1
    geom = (N, C, H, W, OC, KH, KW, OH, OW, stride[0], stride[1], pt, pl,
            dilation[0], dilation[1], groups)
    return _conv_run(x, w, bias, x4, wd, unbatched, geom, (pt, pb, pl, pr), stride, dilation,
                     groups)


def _conv_run(x, w, bias, x4, w4, unbatched, geom, pads, stride, dilation, groups,
              one_d=False):
    """The checked convolution: x4 (N, C, H, W) and w4 (OC, C/G, KH, KW) are views of x's and
    w's arrays (conv1d passes height-1 views, one_d=True: the output drops that height);
    gradients come back in x's and w's shapes."""
    xd, wd = x._storage, w._storage
    K = table_of(xd, wd, None if bias is None else bias._storage)
    N, C, H, W = x4.shape
    OC, OH, OW = geom[4], geom[7], geom[8]
    fast = xd.dtype == np.float32
    x4c = contiguous(x4)
    wc = contiguous(w4)
    bc = None if bias is None else contiguous(bias._storage)
    lp = fast and _AUTOCAST_SEEN[0] and _lowp(K)   # autocast: bf16/fp16 GEMMs, forward and backward
    amp = {"prec": lp} if lp else {}   # (the CUDA table's kernels take no such flag)
    if fast:
        out = K.empty((N, OC, OH, OW), np.float32)
        ws = _workspace(K.conv2d_workspace(geom, False), K)
        K.conv2d_forward(out, ws, x4c, wc, bc, geom, **amp)
    else:
        out = _conv2d_ref(x4c, wc, bc, stride, pads, dilation, groups)
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
        if fast:
            dx = K.empty((N, C, H, W), np.float32) if need_x else None
            ws = _workspace(K.conv2d_workspace(geom, True), K)
            K.conv2d_backward(dx, None if dw is None else dw.reshape(wc.shape), db, ws, g4,
                               x4c, wc, geom, acc, **amp)
        else:
            dx, dw_, db_ = _conv2d_ref_backward(g4, x4c, wc, stride, pads, dilation, groups,
                                                need_x, need_w, need_b)
            dw = dw_.reshape(wd.shape) if need_w else None
            db = db_ if need_b else None
        if dx is not None:
            dx = dx.reshape(xd.shape)
        return (dx, None if dw_sunk else dw, None if db_sunk else db)

    return Tensor._make(res, True, ag.Node((x, w, bias), backward, "Convolution"))


# NumPy reference (any float dtype). x[N,C,H,W], w[OC,C/G,KH,KW], pads (top, bottom, left,
# right). The column tensor col[N, C, KH*KW, OH, OW] holds the strided windows of the padded
# input; a grouped einsum does the rest.

def _windows(xp, KH, KW, stride, dilation, OH, OW):
    sh, sw = stride
    dh, dw = dilation
    return [xp[:, :, kh * dh: kh * dh + sh * (OH - 1) + 1: sh,
               kw * dw: kw * dw + sw * (OW - 1) + 1: sw]
            for kh in range(KH) for kw in range(KW)]


def _conv_out_size(H, W, KH, KW, stride, pads, dilation):
    OH = (H + pads[0] + pads[1] - dilation[0] * (KH - 1) - 1) // stride[0] + 1
    OW = (W + pads[2] + pads[3] - dilation[1] * (KW - 1) - 1) // stride[1] + 1
    return OH, OW


def _conv2d_ref(x, w, b, stride, pads, dilation, groups):
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    OH, OW = _conv_out_size(H, W, KH, KW, stride, pads, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    col = np.stack(_windows(xp, KH, KW, stride, dilation, OH, OW), axis=2)
    col = col.reshape(N, groups, Cg * KH * KW, OH * OW)
    wg = w.reshape(groups, OC // groups, Cg * KH * KW)
    out = np.einsum("gok,ngkp->ngop", wg, col, optimize=True).reshape(N, OC, OH, OW)
    if b is not None:
        out = out + b.reshape(1, OC, 1, 1)
    return contiguous(out, dtype=x.dtype)


def _conv2d_ref_backward(g, x, w, stride, pads, dilation, groups, need_x=True, need_w=True,
                         need_b=True):
    N, C, H, W = x.shape
    OC, Cg, KH, KW = w.shape
    OH, OW = g.shape[2], g.shape[3]
    gg = g.reshape(N, groups, OC // groups, OH * OW)
    wg = w.reshape(groups, OC // groups, Cg * KH * KW)
    dx = dw = db = None
    if need_b:
        db = g.sum(axis=(0, 2, 3)).astype(x.dtype)
    if need_w:
        xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
        col = np.stack(_windows(xp, KH, KW, stride, dilation, OH, OW), axis=2)
        col = col.reshape(N, groups, Cg * KH * KW, OH * OW)
        dw = np.einsum("ngop,ngkp->gok", gg, col, optimize=True).reshape(w.shape)
        dw = dw.astype(x.dtype)
    if need_x:
        dcol = np.einsum("gok,ngop->ngkp", wg, gg, optimize=True)
        dcol = dcol.reshape(N, C, KH * KW, OH, OW)
        dxp = np.zeros((N, C, H + pads[0] + pads[1], W + pads[2] + pads[3]), x.dtype)
        for k, win in enumerate(_windows(dxp, KH, KW, stride, dilation, OH, OW)):
            win += dcol[:, :, k]     # win is a view into dxp
        dx = contiguous(dxp[:, :, pads[0]: pads[0] + H, pads[2]: pads[2] + W])
    return dx, dw, db


# ------------------------------------------------------------------------------ pooling

def _pool_out_size(size, k, pad, stride, dilation, ceil_mode):
    """torch's pooling_output_shape: with ceil_mode the last window must start inside the
    input or the left padding."""
    num = size + 2 * pad - dilation * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_args(who, kernel_size, stride, padding, dilation):
    k = _pair(kernel_size, "kernel_size", who)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) \
        else _pair(stride, "stride", who)
    p = _pair(padding, "padding", who)
    d = _pair(dilation, "dilation", who)
    if min(k) < 1:
        raise ValueError(f"{who}: kernel size should be greater than zero, got {k}")
    if min(s) < 1:
        raise ValueError(f"{who}: stride should be greater than zero, got {s}")
    if min(d) < 1:
        raise ValueError(f"{who}: dilation should be greater than zero, got {d}")
    if min(p) < 0:
        raise ValueError(f"{who}: padding must be non-negative, got {p}")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{who}: pad should be at most half of kernel size, got padding {p} "
                         f"for kernel_size {k}")
    return k, s, p, d


def _pool_input(input, who, one_d=False):
    """(x, its array, an (N, C, H, W) view, unbatched); one_d: (N, C, L) or (C, L) input
    viewed with a height of 1 (the 1-D pools run the 2-D kernels)."""
    x = _tensor(input, who)
    xd = x._storage
    _float_input(xd, who)
    if one_d:
        if xd.ndim not in (2, 3):
            raise ShapeError(f"{who}: expected a 2-D (unbatched) or 3-D (batched) input, got "
                             f"input of shape {xd.shape}")
        x4, unbatched = _batched(xd[..., None, :], who, "pooling")
    else:
        x4, unbatched = _batched(xd, who, "pooling")
    if 0 in x4.shape[1:] or (unbatched and xd.shape[0] == 0):
        raise ShapeError(f"{who}: expected non-empty channel and spatial dimensions, got input "
                         f"of shape {xd.shape}")
    return x, xd, x4, unbatched


def _pool_shape(N, C, OH, OW, unbatched, one_d):
    return ((C,) if unbatched else (N, C)) + ((OW,) if one_d else (OH, OW))


def _out_sizes(who, xd, H, W, k, s, p, d, ceil_mode):
    OH = _pool_out_size(H, k[0], p[0], s[0], d[0], ceil_mode)
    OW = _pool_out_size(W, k[1], p[1], s[1], d[1], ceil_mode)
    if OH < 1 or OW < 1:
        raise ShapeError(f"{who}: input of shape {xd.shape} gives output size {OH} x {OW} "
                         f"(kernel {k}, stride {s}, padding {p}, dilation {d}): too small")
    return OH, OW


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, _who="max_pool2d", _one_d=False):
    """2-D max pooling; with return_indices also the flat argmax (ih*W + iw) per output."""
    who = _who
    k, s, p, d = _pool_args(who, kernel_size, stride, padding, dilation)
    x, xd, x4, unbatched = _pool_input(input, who, _one_d)
    N, C, H, W = x4.shape
    OH, OW = _out_sizes(who, xd, H, W, k, s, p, d, ceil_mode)
    planes = contiguous(x4).reshape(N * C, H, W)
    K = table_of(planes)
    fast = xd.dtype == np.float32
    if fast:
        out = K.empty((N * C, OH, OW), np.float32)
        idx = K.empty((N * C, OH, OW), np.int64)
        K.max_pool2d_forward(out, idx, planes, k, s, p, d)
    else:
        out, idx = _max_pool_ref(planes, k, s, p, d, OH, OW)
    return _max_pool_result(x, out, idx, (N, C, H, W), unbatched, _one_d, return_indices,
                            "MaxPool2DWithIndices")


def _max_pool_result(x, out, idx, nchw, unbatched, one_d, return_indices, name):
    """The output (and indices) of a max pool whose forward wrote out/idx (N*C, OH, OW): its
    backward scatters each gradient to the argmax it came from (max and adaptive max)."""
    N, C, H, W = nchw
    OH, OW = out.shape[1:]
    xd = x._storage
    K = table_of(xd)
    fast = xd.dtype == np.float32
    shape = _pool_shape(N, C, OH, OW, unbatched, one_d)
    res = out.reshape(shape)
    indices = Tensor._make(idx.reshape(shape))
    if not ag.needs_grad(x):
        return (Tensor._make(res), indices) if return_indices else Tensor._make(res)

    def backward(g):
        g3 = contiguous(g, dtype=xd.dtype).reshape(N * C, OH, OW)
        if fast:
            dx = K.empty((N * C, H, W), np.float32)
            K.max_pool2d_backward(dx, g3, idx)
        else:
            dx = K.zeros((N * C, H * W), xd.dtype)
            np.add.at(dx, (np.arange(N * C)[:, None], idx.reshape(N * C, -1)),
                      g3.reshape(N * C, -1))
        return (dx.reshape(xd.shape),)

    t = Tensor._make(res, True, ag.Node((x,), backward, name))
    return (t, indices) if return_indices else t


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode=False, return_indices=True):
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _max_pool_ref(planes, k, s, p, d, OH, OW):
    """planes[P, H, W] -> (out[P, OH, OW], idx[P, OH, OW]) with the kernel's rules."""
    P, H, W = planes.shape
    need_h = (OH - 1) * s[0] + (k[0] - 1) * d[0] + 1
    need_w = (OW - 1) * s[1] + (k[1] - 1) * d[1] + 1
    xp = np.full((P, max(need_h, H + p[0]), max(need_w, W + p[1])), -np.inf, planes.dtype)
    xp[:, p[0]: p[0] + H, p[1]: p[1] + W] = planes
    oh = np.arange(OH)[:, None]
    ow = np.arange(OW)[None, :]
    # the first in-bounds tap of each window: torch's starting index
    ih0 = oh * s[0] - p[0]
    iw0 = ow * s[1] - p[1]
    ih0 = np.where(ih0 < 0, ih0 + (-ih0 + d[0] - 1) // d[0] * d[0], ih0)
    iw0 = np.where(iw0 < 0, iw0 + (-iw0 + d[1] - 1) // d[1] * d[1], iw0)
    best = np.broadcast_to(ih0 * W + iw0, (P, OH, OW)).astype(np.int64)
    m = np.full((P, OH, OW), -np.inf, planes.dtype)
    for kh in range(k[0]):
        for kw in range(k[1]):
            r0, c0 = kh * d[0], kw * d[1]
            v = xp[:, r0: r0 + s[0] * (OH - 1) + 1: s[0], c0: c0 + s[1] * (OW - 1) + 1: s[1]]
            ih = oh * s[0] - p[0] + r0
            iw = ow * s[1] - p[1] + c0
            inside = (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            take = ((v > m) | np.isnan(v)) & inside
            m = np.where(take, v, m)
            best = np.where(take, ih * W + iw, best)
    return contiguous(m), contiguous(best, dtype=np.int64)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None, _who="avg_pool2d",
               _one_d=False):
    """2-D average pooling with torch's divisor rules (count_include_pad, divisor_override)."""
    who = _who
    k, s, p, _ = _pool_args(who, kernel_size, stride, padding, 1)
    if divisor_override is not None:
        if not _is_int(divisor_override) or divisor_override == 0:
            raise ValueError(f"{who}: divisor_override must be a non-zero int, got "
                             f"{divisor_override!r}")
    div = int(divisor_override or 0)
    x, xd, x4, unbatched = _pool_input(input, who, _one_d)
    N, C, H, W = x4.shape
    OH, OW = _out_sizes(who, xd, H, W, k, s, p, (1, 1), ceil_mode)
    planes = contiguous(x4).reshape(N * C, H, W)
    K = table_of(planes)
    fast = xd.dtype == np.float32
    if fast:
        out = K.empty((N * C, OH, OW), np.float32)
        K.avg_pool2d_forward(out, planes, k, s, p, bool(count_include_pad), div)
    else:
        out = _avg_pool_ref(planes, k, s, p, OH, OW, count_include_pad, div)
    shape = _pool_shape(N, C, OH, OW, unbatched, _one_d)
    res = out.reshape(shape)
    if not ag.needs_grad(x):
        return Tensor._make(res)

    def backward(g):
        g3 = contiguous(g, dtype=xd.dtype).reshape(N * C, OH, OW)
        if fast:
            dx = K.empty((N * C, H, W), np.float32)
            K.avg_pool2d_backward(dx, g3, k, s, p, bool(count_include_pad), div)
        else:
            dx = _avg_pool_ref_backward(g3, H, W, k, s, p, count_include_pad, div)
        return (dx.reshape(xd.shape),)

    return Tensor._make(res, True, ag.Node((x,), backward, "AvgPool2D"))


def _avg_windows(H, W, k, s, p, OH, OW, count_include_pad, div):
    """Per-output clipped window bounds and divisors (torch's CPU formulas)."""
    def axis(n, kk, ss, pp, on):
        a = np.arange(on) * ss - pp
        b = np.minimum(a + kk, n + pp)
        size = b - a
        return np.maximum(a, 0), np.minimum(b, n), size
    h0, h1, hs = axis(H, k[0], s[0], p[0], OH)
    w0, w1, wsz = axis(W, k[1], s[1], p[1], OW)
    if div:
        d = np.full((OH, OW), float(div))
    elif count_include_pad:
        d = (hs[:, None] * wsz[None, :]).astype(float)
    else:
        d = ((h1 - h0)[:, None] * (w1 - w0)[None, :]).astype(float)
    return h0, h1, w0, w1, d


def _avg_pool_ref(planes, k, s, p, OH, OW, count_include_pad, div):
    P, H, W = planes.shape
    h0, h1, w0, w1, d = _avg_windows(H, W, k, s, p, OH, OW, count_include_pad, div)
    out = np.zeros((P, OH, OW), planes.dtype)
    for i in range(OH):
        for j in range(OW):
            if h0[i] < h1[i] and w0[j] < w1[j]:
                out[:, i, j] = planes[:, h0[i]:h1[i], w0[j]:w1[j]].sum(axis=(1, 2)) / d[i, j]
    return out


def _avg_pool_ref_backward(g3, H, W, k, s, p, count_include_pad, div):
    P, OH, OW = g3.shape
    h0, h1, w0, w1, d = _avg_windows(H, W, k, s, p, OH, OW, count_include_pad, div)
    dx = np.zeros((P, H, W), g3.dtype)
    for i in range(OH):
        for j in range(OW):
            dx[:, h0[i]:h1[i], w0[j]:w1[j]] += (g3[:, i, j] / d[i, j])[:, None, None]
    return dx


def _adaptive_bounds(n, on):
    o = np.arange(on)
    return (o * n) // on, ((o + 1) * n + on - 1) // on


def _adaptive_out(who, output_size, H, W):
    """(OH, OW) of an adaptive pool: an int, None (keep that input size) or a pair of them."""
    if _is_int(output_size) or output_size is None:
        output_size = (output_size, output_size)
    if not isinstance(output_size, (tuple, list)) or len(output_size) != 2 or not all(
            v is None or _is_int(v) for v in output_size):
        raise ValueError(f"{who}: output_size must be an int, None or a pair of them, got "
                         f"{output_size!r}")
    OH = H if output_size[0] is None else int(output_size[0])
    OW = W if output_size[1] is None else int(output_size[1])
    if OH < 0 or OW < 0:
        raise ValueError(f"{who}: output_size must be non-negative, got {(OH, OW)}")
    return OH, OW


def adaptive_avg_pool2d(input, output_size, _who="adaptive_avg_pool2d", _one_d=False):
    """Average pooling to a fixed output size; None in output_size keeps that input size."""
    who = _who
    x, xd, x4, unbatched = _pool_input(input, who, _one_d)
    N, C, H, W = x4.shape
    OH, OW = _adaptive_out(who, output_size, H, W)
    planes = contiguous(x4).reshape(N * C, H, W)
    K = table_of(planes)
    fast = xd.dtype == np.float32
    if fast:
        out = K.empty((N * C, OH, OW), np.float32)
        K.adaptive_avg_pool2d_forward(out, planes)
    else:
        out = _adaptive_ref(planes, OH, OW)
    shape = _pool_shape(N, C, OH, OW, unbatched, _one_d)
    res = out.reshape(shape)
    if not ag.needs_grad(x):
        return Tensor._make(res)

    def backward(g):
        g3 = contiguous(g, dtype=xd.dtype).reshape(N * C, OH, OW)
        if g3.size == 0:
            dx = K.zeros((N * C, H, W), xd.dtype)
        elif fast:
            dx = K.empty((N * C, H, W), np.float32)
            K.adaptive_avg_pool2d_backward(dx, g3)
        else:
            dx = _adaptive_ref_backward(g3, H, W)
        return (dx.reshape(xd.shape),)

    return Tensor._make(res, True, ag.Node((x,), backward, "AdaptiveAvgPool2D"))


def _adaptive_ref(planes, OH, OW):
    P, H, W = planes.shape
    h0, h1 = _adaptive_bounds(H, OH)
    w0, w1 = _adaptive_bounds(W, OW)
    out = np.empty((P, OH, OW), planes.dtype)
    for i in range(OH):
        for j in range(OW):
            out[:, i, j] = planes[:, h0[i]:h1[i], w0[j]:w1[j]].mean(axis=(1, 2))
    return out


def _adaptive_ref_backward(g3, H, W):
    P, OH, OW = g3.shape
    h0, h1 = _adaptive_bounds(H, OH)
    w0, w1 = _adaptive_bounds(W, OW)
    dx = np.zeros((P, H, W), g3.dtype)
    for i in range(OH):
        for j in range(OW):
            n = (h1[i] - h0[i]) * (w1[j] - w0[j])
            dx[:, h0[i]:h1[i], w0[j]:w1[j]] += (g3[:, i, j] / n)[:, None, None]
    return dx

