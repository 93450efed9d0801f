"""2-D pooling on the GPU with the `_C` contract (nnfast/_C_conv.pxi, csrc/pool.c).

What it is: one thread per output element (forward) or per input element (backward) over
planes [P, H, W] (P = N*C), grid-striding, with csrc/pool.c's rules:
  max:  taps spaced by dilation, those outside the input skipped; a tap wins if greater than
        the best so far or NaN (ties keep the first in row-major order, NaN propagates);
        idx = ih*W + iw in the plane (int64), the first window position when no tap is inside;
  avg:  window clipped to the padded input gives pool_size, to the input the taps summed;
        divisor = divisor_override if non-zero, else pool_size (count_include_pad) or taps;
  adaptive: rows [floor(oh*H/OH), ceil((oh+1)*H/OH)), likewise columns.
Backward kernels gather, no atomics: each input element sums, in output order (oh outer, ow
inner, the order of the C's scatter-adds), the outputs whose window holds it, so results are
those of the CPU bit for bit. max_pool2d_backward gets only (dinp, dout, idx) from _C's
signature, which does not say which outputs can point at a pixel. The forwards remember the
windows of the idx array they wrote (by identity, while it lives), and the optional
`window=` argument (CUDA only: (kernel, stride, padding, dilation), or "adaptive") can give
them; with windows the backward gathers from those outputs alone, without (idx made
elsewhere) each plane is summed by one thread in output order (correct and deterministic,
slow on big planes).
What it is not: channels-last, 3-D, LP or fractional pooling.
"""
import math
import weakref

import numpy as np
from numba import cuda, float32, float64, int64, types

from . import _launch
from ._checks import need_planes, no_overlap

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_avg_pool2d_backward", "adaptive_max_pool2d_forward"]

INT64_MAX = 2 ** 63 - 1
_NEG_INF = float32(-math.inf)


def _grid(n):
    return _launch.grid(n)


# ------------------------------------------------------------------------ window helpers

@cuda.jit(device=True, inline=True)
def plane_pos(i, H, W):
    """(plane, row, column) of flat element i of a stack of H x W planes."""
    p = i // (H * W)
    r = i - p * H * W
    h = r // W
    return p, h, r - h * W


@cuda.jit(device=True, inline=True)
def _first_tap(i0, d):
    """The first tap i0 + k*d >= 0 (i0 may be negative)."""
    if i0 < 0:
        i0 += (-i0 + d - 1) // d * d
    return i0


@cuda.jit(device=True, inline=True)
def _ad_start(o, n_in, n_out):
    return (o * n_in) // n_out


@cuda.jit(device=True, inline=True)
def _ad_end(o, n_in, n_out):
    return ((o + 1) * n_in + n_out - 1) // n_out


@cuda.jit(device=True, inline=True)
def _avg_window(oh, ow, H, W, KH, KW, sh, sw, ph, pw, count_include_pad, divisor_override):
    """(h0, h1, w0, w1, divisor) of avg pooling's window at (oh, ow), as csrc/pool.c."""
    a = oh * sh - ph
    c = ow * sw - pw
    b = min(a + KH, H + ph)
    d = min(c + KW, W + pw)
    pool_size = float64(b - a) * float64(d - c)
    a = max(a, 0)
    c = max(c, 0)
    b = min(b, H)
    d = min(d, W)
    if divisor_override != 0:
        div = float32(divisor_override)
    elif count_include_pad:
        div = float32(pool_size)
    else:
        div = float32((b - a) * (d - c))
    return a, b, c, d, div


@cuda.jit(device=True, inline=True)
def _window_max(x, base, W, h0, h1, dh, w0, w1, dw):
    """(max, flat index) over taps [h0, h1) step dh x [w0, w1) step dw of plane x[base:]."""
    best = h0 * W + w0
    m = _NEG_INF
    for ih in range(h0, h1, dh):
        for iw in range(w0, w1, dw):
            v = x[base + ih * W + iw]
            if v > m or v != v:
                m = v
                best = ih * W + iw
    return m, best


# ------------------------------------------------------------------------ max pooling

@cuda.jit
def _max_fwd(out, idx, x, P, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p, oh, ow = plane_pos(i, OH, OW)
        ih0 = oh * sh - ph
        iw0 = ow * sw - pw
        ih1 = min(ih0 + (KH - 1) * dh + 1, H)
        iw1 = min(iw0 + (KW - 1) * dw + 1, W)
        m, best = _window_max(x, p * H * W, W, _first_tap(ih0, dh), ih1, dh,
                              _first_tap(iw0, dw), iw1, dw)
        out[i] = m
        idx[i] = best
        i += cuda.gridsize(1)


@cuda.jit
def _adaptive_max_fwd(out, idx, x, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p, oh, ow = plane_pos(i, OH, OW)
        m, best = _window_max(x, p * H * W, W, _ad_start(oh, H, OH), _ad_end(oh, H, OH), 1,
                              _ad_start(ow, W, OW), _ad_end(ow, W, OW), 1)
        out[i] = m
        idx[i] = best
        i += cuda.gridsize(1)


@cuda.jit
def _max_bwd_window(dinp, dout, idx, P, H, W, OH, OW, KH, KW, sh, sw, ph, pw, dh, dw,
                    adaptive):
    """dinp[p, ih, iw] = sum of dout over the outputs whose window may hold (ih, iw) and
    whose idx is it, in output order."""
    i = cuda.grid(1)
    n = P * H * W
    while i < n:
        p, ih, iw = plane_pos(i, H, W)
        pos = i - p * H * W   # the pixel within its plane, as idx holds it
        if adaptive:   # outputs o with start(o) <= i < end(o)
            oh0 = (ih * OH) // H
            oh1 = min(((ih + 1) * OH + H - 1) // H, OH)
            ow0 = (iw * OW) // W
            ow1 = min(((iw + 1) * OW + W - 1) // W, OW)
        else:          # outputs o with o*s - pad <= i <= o*s - pad + (K-1)*d
            th = ih + ph - (KH - 1) * dh
            tw = iw + pw - (KW - 1) * dw
            oh0 = 0 if th <= 0 else (th + sh - 1) // sh
            ow0 = 0 if tw <= 0 else (tw + sw - 1) // sw
            oh1 = min((ih + ph) // sh + 1, OH)
            ow1 = min((iw + pw) // sw + 1, OW)
        s = float32(0.0)
        base = p * OH * OW
        for oh in range(oh0, oh1):
            for ow in range(ow0, ow1):
                j = base + oh * OW + ow
                if idx[j] == pos:
                    s += dout[j]
        dinp[i] = s
        i += cuda.gridsize(1)


@cuda.jit
def _max_bwd_planes(dinp, dout, idx, P, H, W, OH, OW):
    """One thread per plane: zero it, then add dout at idx in output order (as the C)."""
    p = cuda.grid(1)
    hw = H * W
    while p < P:
        for j in range(p * hw, (p + 1) * hw):
            dinp[j] = float32(0.0)
        for j in range(p * OH * OW, (p + 1) * OH * OW):
            t = idx[j]
            if 0 <= t < hw:
                dinp[p * hw + t] += dout[j]
        p += cuda.gridsize(1)


# ------------------------------------------------------------------------ average pooling

@cuda.jit
def _avg_fwd(out, x, P, H, W, OH, OW, KH, KW, sh, sw, ph, pw, count_include_pad,
             divisor_override):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p, oh, ow = plane_pos(i, OH, OW)
        h0, h1, w0, w1, div = _avg_window(oh, ow, H, W, KH, KW, sh, sw, ph, pw,
                                          count_include_pad, divisor_override)
        s = float32(0.0)
        if h0 < h1 and w0 < w1:
            base = p * H * W
            for ih in range(h0, h1):
                for iw in range(w0, w1):
                    s += x[base + ih * W + iw]
            s = s / div
        out[i] = s
        i += cuda.gridsize(1)


@cuda.jit
def _avg_bwd(dinp, dout, P, H, W, OH, OW, KH, KW, sh, sw, ph, pw, count_include_pad,
             divisor_override):
    """dinp[p, ih, iw] = sum of dout/div over the windows holding (ih, iw): outputs with
    o*s - pad <= i < o*s - pad + K, in output order."""
    i = cuda.grid(1)
    n = P * H * W
    while i < n:
        p, ih, iw = plane_pos(i, H, W)
        th = ih + ph - KH + 1
        tw = iw + pw - KW + 1
        oh0 = 0 if th <= 0 else (th + sh - 1) // sh
        ow0 = 0 if tw <= 0 else (tw + sw - 1) // sw
        oh1 = min((ih + ph) // sh + 1, OH)
        ow1 = min((iw + pw) // sw + 1, OW)
        s = float32(0.0)
        base = p * OH * OW
        for oh in range(oh0, oh1):
            for ow in range(ow0, ow1):
                h0, h1, w0, w1, div = _avg_window(oh, ow, H, W, KH, KW, sh, sw, ph, pw,
                                                  count_include_pad, divisor_override)
                if h0 <= ih < h1 and w0 <= iw < w1:
                    s += dout[base + oh * OW + ow] / div
        dinp[i] = s
        i += cuda.gridsize(1)


@cuda.jit
def _adaptive_avg_fwd(out, x, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p, oh, ow = plane_pos(i, OH, OW)
        h0 = _ad_start(oh, H, OH)
        h1 = _ad_end(oh, H, OH)
        w0 = _ad_start(ow, W, OW)
        w1 = _ad_end(ow, W, OW)
        s = float32(0.0)
        base = p * H * W
        for ih in range(h0, h1):
            for iw in range(w0, w1):
                s += x[base + ih * W + iw]
        out[i] = s / float32(h1 - h0) / float32(w1 - w0)   # torch: / kh / kw
        i += cuda.gridsize(1)


@cuda.jit
def _adaptive_avg_bwd(dinp, dout, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * H * W
    while i < n:
        p, ih, iw = plane_pos(i, H, W)
        oh0 = (ih * OH) // H
        oh1 = min(((ih + 1) * OH + H - 1) // H, OH)
        ow0 = (iw * OW) // W
        ow1 = min(((iw + 1) * OW + W - 1) // W, OW)
        s = float32(0.0)
        base = p * OH * OW
        for oh in range(oh0, oh1):
            h0 = _ad_start(oh, H, OH)
            h1 = _ad_end(oh, H, OH)
            if h0 <= ih < h1:
                for ow in range(ow0, ow1):
                    w0 = _ad_start(ow, W, OW)
                    w1 = _ad_end(ow, W, OW)
                    if w0 <= iw < w1:
                        s += dout[base + oh * OW + ow] / float32(h1 - h0) / float32(w1 - w0)
        dinp[i] = s
        i += cuda.gridsize(1)


# ------------------------------------------------------------------------ the table's API

def _pool_fits(who, H, W, OH, OW, kernel, stride, padding, dilation):
    """Well-formed windows whose index arithmetic fits int64 (as the Cython seam checks)."""
    if len(kernel) != 2 or len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        raise ValueError(f"{who}: kernel, stride, padding and dilation must be pairs")
    for n, on, k, st, p, d in ((H, OH, kernel[0], stride[0], padding[0], dilation[0]),
                               (W, OW, kernel[1], stride[1], padding[1], dilation[1])):
        if k < 1 or st < 1 or d < 1 or p < 0:
            raise ValueError(f"{who}: kernel {kernel}, stride {stride}, dilation {dilation} "
                             f"must be >= 1 and padding {padding} >= 0")
        if on * st + p + k * d + n > INT64_MAX:
            raise ValueError(f"{who}: kernel {kernel}, stride {stride}, padding {padding}, "
                             f"dilation {dilation} overflow the index arithmetic")


# id(idx) -> (weak reference to idx, the windows that wrote it): what max_pool2d_backward
# needs to gather, found without the functional passing it. An entry leaves with its array.
_windows = {}


def _remember(idx, window):
    key = id(idx)
    _windows[key] = (weakref.ref(idx, lambda _, key=key: _windows.pop(key, None)), window)


def _recall(idx):
    ref, window = _windows.get(id(idx), (None, None))
    return window if ref is not None and ref() is idx else None


def max_pool2d_forward(out, idx, inp, kernel, stride, padding, dilation):
    who = "max_pool2d_forward"
    o, (P, OH, OW) = need_planes(f"{who}: out", out)
    ix, ishape = need_planes(f"{who}: idx", idx, np.int64)
    x, (Pi, H, W) = need_planes(f"{who}: inp", inp)
    no_overlap(who, {"out": out, "idx": idx}, {"inp": inp})
    _pool_fits(who, H, W, OH, OW, kernel, stride, padding, dilation)
    if Pi != P or ishape != (P, OH, OW):
        raise ValueError(f"{who}: out/idx/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError(f"{who}: empty input or non-positive window")
    _max_fwd[_grid(P * OH * OW)](o, ix, x, P, H, W, OH, OW, int(kernel[0]), int(kernel[1]),
                                 int(stride[0]), int(stride[1]), int(padding[0]),
                                 int(padding[1]), int(dilation[0]), int(dilation[1]))
    _remember(idx, (tuple(kernel), tuple(stride), tuple(padding), tuple(dilation)))


def max_pool2d_backward(dinp, dout, idx, window=None):
    """dinp = the scatter-add of dout at idx, computed as a gather. window (CUDA only): the
    forward's (kernel, stride, padding, dilation), or "adaptive" after
    adaptive_max_pool2d_forward; it says which outputs can point at a pixel (None: the
    windows the forward that wrote idx remembered, else every output of its plane, summed
    by one thread per plane)."""
    who = "max_pool2d_backward"
    di, (P, H, W) = need_planes(f"{who}: dinp", dinp)
    d, (Po, OH, OW) = need_planes(f"{who}: dout", dout)
    ix, ishape = need_planes(f"{who}: idx", idx, np.int64)
    no_overlap(who, {"dinp": dinp}, {"dout": dout, "idx": idx})
    if Po != P or ishape != (P, OH, OW):
        raise ValueError(f"{who}: dinp/dout/idx shapes disagree")
    if P * H * W == 0:
        return
    if window is None:
        window = _recall(idx)
    if window is None or OH * OW == 0:
        if OH * OW == 0:
            d, ix = di, di   # not read
        _max_bwd_planes[_grid(P)](di, d, ix, P, H, W, OH, OW)
        return
    if window == "adaptive":
        geo = (1, 1, 1, 1, 0, 0, 1, 1, True)
    else:
        k, s, p, dl = window
        _pool_fits(who, H, W, OH, OW, tuple(k), tuple(s), tuple(p), tuple(dl))
        geo = (int(k[0]), int(k[1]), int(s[0]), int(s[1]), int(p[0]), int(p[1]),
               int(dl[0]), int(dl[1]), False)
    _max_bwd_window[_grid(P * H * W)](di, d, ix, P, H, W, OH, OW, *geo)


def avg_pool2d_forward(out, inp, kernel, stride, padding, count_include_pad,
                       divisor_override):
    who = "avg_pool2d_forward"
    o, (P, OH, OW) = need_planes(f"{who}: out", out)
    x, (Pi, H, W) = need_planes(f"{who}: inp", inp)
    no_overlap(who, {"out": out}, {"inp": inp})
    _pool_fits(who, H, W, OH, OW, kernel, stride, padding, (1, 1))
    if Pi != P:
        raise ValueError(f"{who}: out/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError(f"{who}: empty input or non-positive window")
    _avg_fwd[_grid(P * OH * OW)](o, x, P, H, W, OH, OW, int(kernel[0]), int(kernel[1]),
                                 int(stride[0]), int(stride[1]), int(padding[0]),
                                 int(padding[1]), bool(count_include_pad),
                                 int(divisor_override))


def avg_pool2d_backward(dinp, dout, kernel, stride, padding, count_include_pad,
                        divisor_override):
    who = "avg_pool2d_backward"
    di, (P, H, W) = need_planes(f"{who}: dinp", dinp)
    d, (Po, OH, OW) = need_planes(f"{who}: dout", dout)
    no_overlap(who, {"dinp": dinp}, {"dout": dout})
    _pool_fits(who, H, W, OH, OW, kernel, stride, padding, (1, 1))
    if Po != P:
        raise ValueError(f"{who}: dinp/dout shapes disagree")
    if P * H * W == 0:
        return
    if OH * OW == 0:
        d = di   # not read: every window range is empty
    _avg_bwd[_grid(P * H * W)](di, d, P, H, W, OH, OW, int(kernel[0]), int(kernel[1]),
                               int(stride[0]), int(stride[1]), int(padding[0]),
                               int(padding[1]), bool(count_include_pad),
                               int(divisor_override))


def adaptive_avg_pool2d_forward(out, inp):
    who = "adaptive_avg_pool2d_forward"
    o, (P, OH, OW) = need_planes(f"{who}: out", out)
    x, (Pi, H, W) = need_planes(f"{who}: inp", inp)
    no_overlap(who, {"out": out}, {"inp": inp})
    if Pi != P:
        raise ValueError(f"{who}: out/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError(f"{who}: empty input planes")
    _adaptive_avg_fwd[_grid(P * OH * OW)](o, x, P, H, W, OH, OW)


def adaptive_avg_pool2d_backward(dinp, dout):
    who = "adaptive_avg_pool2d_backward"
    di, (P, H, W) = need_planes(f"{who}: dinp", dinp)
    d, (Po, OH, OW) = need_planes(f"{who}: dout", dout)
    no_overlap(who, {"dinp": dinp}, {"dout": dout})
    if Po != P:
        raise ValueError(f"{who}: dinp/dout shapes disagree")
    if P * H * W == 0:
        return
    if OH == 0 or OW == 0:
        raise ValueError(f"{who}: empty output planes")
    _adaptive_avg_bwd[_grid(P * H * W)](di, d, P, H, W, OH, OW)


def adaptive_max_pool2d_forward(out, idx, inp):
    """Adaptive max pooling of planes; the backward is max_pool2d_backward with idx."""
    who = "adaptive_max_pool2d_forward"
    o, (P, OH, OW) = need_planes(f"{who}: out", out)
    ix, ishape = need_planes(f"{who}: idx", idx, np.int64)
    x, (Pi, H, W) = need_planes(f"{who}: inp", inp)
    no_overlap(who, {"out": out, "idx": idx}, {"inp": inp})
    if Pi != P or ishape != (P, OH, OW):
        raise ValueError(f"{who}: out/idx/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError(f"{who}: empty input planes")
    _adaptive_max_fwd[_grid(P * OH * OW)](o, ix, x, P, H, W, OH, OW)
    _remember(idx, "adaptive")


# ------------------------------------------------------------------------ PTX checks

_F = types.float32[::1]
_I = types.int64[::1]
_B = types.boolean
_WIN = (int64,) * 8

PTX_CHECKS = [
    (_max_fwd, (_F, _I, _F) + (int64,) * 5 + _WIN),
    (_adaptive_max_fwd, (_F, _I, _F) + (int64,) * 5),
    (_max_bwd_window, (_F, _F, _I) + (int64,) * 5 + _WIN + (_B,)),
    (_max_bwd_planes, (_F, _F, _I) + (int64,) * 5),
    (_avg_fwd, (_F, _F) + (int64,) * 5 + (int64,) * 6 + (_B, int64)),
    (_avg_bwd, (_F, _F) + (int64,) * 5 + (int64,) * 6 + (_B, int64)),
    (_adaptive_avg_fwd, (_F, _F) + (int64,) * 5),
    (_adaptive_avg_bwd, (_F, _F) + (int64,) * 5),
]
