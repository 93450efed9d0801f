"""Nearest and bilinear resizing of planes on the GPU with the `_C` contract
(nnfast/_C_upsample.pxi, csrc/upsample.c).

What it is: the tables the functional computes (nnfast/nn/_functional_upsample.py: source
rows/columns and weights, int64 and float32 device arrays) drive
  nearest:  out[p, oh, ow] = inp[p, hi[oh], wi[ow]]
  bilinear: out = (x00*a0 + x01*a1)*b0 + (x10*a0 + x11*a1)*b1, rows h0/h1[oh] with
            b1 = lh[oh], b0 = 1 - b1, columns w0/w1[ow] with a1 = lw[ow], a0 = 1 - a1;
one thread per output element. The backward (backward=True: out is dinp[P, H, W], inp is
dout[P, OH, OW], dinp overwritten) is a gather, no atomics: a one-thread kernel inverts each
table (which outputs read input row ih, in output order: a counting sort into CSR lists),
then each input element sums the outputs that read it, rows outer and columns inner: the
order of the C's scatter-adds (nearest: the same bits; bilinear: the same terms, grouped by
row tap first).
Tables may be given as host (NumPy) arrays: then every entry is checked as the C seam does
and they are copied over. Device tables have only their lengths checked (reading them back
would wait for the device), and an entry outside the plane is never followed (the forward
reads 0 there, the backward drops it): a wrong table cannot touch memory it should not.
What it is not: bicubic, area (that is adaptive_avg_pool2d), antialiased or 3-D resizing.
"""
import numpy as np
from numba import cuda, float32, int64, types

from . import _launch
from ._checks import need_planes, no_overlap
from .array import CudaArray, empty, from_host
from .pool import plane_pos

__all__ = ["upsample_nearest2d", "upsample_bilinear2d"]


# ------------------------------------------------------------------------ forward

@cuda.jit
def _nearest_fwd(out, x, hi, wi, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p = i // (OH * OW)
        r = i - p * OH * OW
        oh = r // OW
        h = hi[oh]
        w = wi[r - oh * OW]
        v = float32(0.0)
        if 0 <= h < H and 0 <= w < W:
            v = x[(p * H + h) * W + w]
        out[i] = v
        i += cuda.gridsize(1)


@cuda.jit(device=True, inline=True)
def _pixel(x, base, H, W, h, w):
    if 0 <= h < H and 0 <= w < W:
        return x[base + h * W + w]
    return float32(0.0)


@cuda.jit
def _bilinear_fwd(out, x, h0, h1, lh, w0, w1, lw, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * OH * OW
    while i < n:
        p, oh, ow = plane_pos(i, OH, OW)
        base = p * H * W
        b1 = lh[oh]
        b0 = float32(1.0) - b1
        a1 = lw[ow]
        a0 = float32(1.0) - a1
        r0, r1, c0, c1 = h0[oh], h1[oh], w0[ow], w1[ow]
        out[i] = ((_pixel(x, base, H, W, r0, c0) * a0 + _pixel(x, base, H, W, r0, c1) * a1)
                  * b0 +
                  (_pixel(x, base, H, W, r1, c0) * a0 + _pixel(x, base, H, W, r1, c1) * a1)
                  * b1)
        i += cuda.gridsize(1)


# ------------------------------------------------------------------------ backward

@cuda.jit
def _invert(off, ent, cur, t0, t1, two, n_in, n_out):
    """CSR lists of the outputs that read each input index: entries o*2 + tap (tap 0: t0,
    1: t1) of input index i at ent[off[i]:off[i+1]], in output order. One thread: a table
    has n_out entries (an image side), a counting sort over it is short."""
    if cuda.grid(1) != 0:
        return
    for i in range(n_in + 1):
        off[i] = 0
    for o in range(n_out):
        a = t0[o]
        if 0 <= a < n_in:
            off[a + 1] += 1
        if two:
            b = t1[o]
            if 0 <= b < n_in:
                off[b + 1] += 1
    for i in range(n_in):
        off[i + 1] += off[i]
        cur[i] = off[i]
    for o in range(n_out):
        a = t0[o]
        if 0 <= a < n_in:
            ent[cur[a]] = o * 2
            cur[a] += 1
        if two:
            b = t1[o]
            if 0 <= b < n_in:
                ent[cur[b]] = o * 2 + 1
                cur[b] += 1


@cuda.jit
def _nearest_bwd(dinp, dout, offh, enth, offw, entw, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * H * W
    while i < n:
        p, ih, iw = plane_pos(i, H, W)
        base = p * OH * OW
        s = float32(0.0)
        for a in range(offh[ih], offh[ih + 1]):
            row = base + (enth[a] >> 1) * OW
            for b in range(offw[iw], offw[iw + 1]):
                s += dout[row + (entw[b] >> 1)]
        dinp[i] = s
        i += cuda.gridsize(1)


@cuda.jit(device=True, inline=True)
def _tap_weight(e, lt):
    """The weight of CSR entry e: lt[o] for tap 1, 1 - lt[o] for tap 0."""
    l1 = lt[e >> 1]
    return l1 if e & 1 else float32(1.0) - l1


@cuda.jit
def _bilinear_bwd(dinp, dout, offh, enth, lh, offw, entw, lw, P, H, W, OH, OW):
    i = cuda.grid(1)
    n = P * H * W
    while i < n:
        p, ih, iw = plane_pos(i, H, W)
        base = p * OH * OW
        s = float32(0.0)
        for a in range(offh[ih], offh[ih + 1]):
            e = enth[a]
            bh = _tap_weight(e, lh)
            row = base + (e >> 1) * OW
            for b in range(offw[iw], offw[iw + 1]):
                f = entw[b]
                s += bh * _tap_weight(f, lw) * dout[row + (f >> 1)]
        dinp[i] = s
        i += cuda.gridsize(1)


def _inverse(t0, t1, n_in, n_out):
    """(off, ent) CSR arrays inverting table t0 (and t1 if given): CudaArrays, whose
    references keep their pooled blocks from being handed out again while in use."""
    two = t1 is not None
    off = empty((n_in + 1,), np.int64)
    cur = empty((max(n_in, 1),), np.int64)
    ent = empty((max(n_out * (2 if two else 1), 1),), np.int64)
    _invert[1, 1](off.flat, ent.flat, cur.flat, t0, t1 if two else t0, two, n_in, n_out)
    return off, ent


# ------------------------------------------------------------------------ the table's API

def _table(who, t, n, dtype=np.int64, limit=None):
    """t's flat device buffer (None when empty). A host table (the functional computes them
    with NumPy) is checked as the Cython seam does, every index in [0, limit), and copied
    over; a device table's entries are not checked (the kernels never follow a bad one)."""
    if isinstance(t, np.ndarray):
        if t.dtype != dtype or t.ndim != 1:
            raise ValueError(f"{who}: tables must be 1-D {np.dtype(dtype).name}")
        if limit is not None and t.size and (t.min() < 0 or t.max() >= limit):
            raise ValueError(f"{who}: index {t.min() if t.min() < 0 else t.max()} outside "
                             f"[0, {limit})")
        t = from_host(np.ascontiguousarray(t))
    if not isinstance(t, CudaArray):
        raise TypeError(f"{who}: tables must be arrays, got {type(t).__name__}")
    if t.dtype != dtype or not t.is_contiguous or t.ndim != 1:
        raise ValueError(f"{who}: tables must be contiguous 1-D {np.dtype(dtype).name}")
    if t.shape[0] != n:
        raise ValueError(f"{who}: table of {t.shape[0]} entries, expected {n}")
    return t.flat if n else None


def _sizes(who, out, inp, backward):
    """(o, x, P, H, W, OH, OW): buffers and the input/output plane sizes of either pass."""
    o, os_ = need_planes(f"{who}: out", out)
    x, xs = need_planes(f"{who}: inp", inp)
    no_overlap(who, {"out": out}, {"inp": inp})
    if os_[0] != xs[0]:
        raise ValueError(f"{who}: {os_[0]} and {xs[0]} planes")
    P, (H, W), (OH, OW) = os_[0], (os_ if backward else xs)[1:], (xs if backward else os_)[1:]
    return o, x, P, H, W, OH, OW


def _zero_or_nothing(out, P, H, W, OH, OW, backward):
    """The C's empty cases: True when nothing more is to be done."""
    if P * OH * OW == 0 or P * H * W == 0:
        if backward and P * H * W:
            out.fill(0)
        return True
    return False


def upsample_nearest2d(out, inp, hi, wi, backward=False):
    """forward: out[P,OH,OW] = inp[P,H,W] at (hi, wi); backward: out is dinp[P,H,W] and inp
    is dout[P,OH,OW] (the adjoint, dinp overwritten)."""
    who = "upsample_nearest2d"
    o, x, P, H, W, OH, OW = _sizes(who, out, inp, backward)
    th = _table(f"{who}: hi", hi, OH, limit=H)
    tw = _table(f"{who}: wi", wi, OW, limit=W)
    if _zero_or_nothing(out, P, H, W, OH, OW, backward):
        return
    if backward:
        offh, enth = _inverse(th, None, H, OH)
        offw, entw = _inverse(tw, None, W, OW)
        _nearest_bwd[_launch.grid(P * H * W)](o, x, offh.flat, enth.flat, offw.flat,
                                              entw.flat, P, H, W, OH, OW)
    else:
        _nearest_fwd[_launch.grid(P * OH * OW)](o, x, th, tw, P, H, W, OH, OW)


def upsample_bilinear2d(out, inp, h0, h1, lh, w0, w1, lw, backward=False):
    """As upsample_nearest2d, with two rows/columns per output and their weights."""
    who = "upsample_bilinear2d"
    o, x, P, H, W, OH, OW = _sizes(who, out, inp, backward)
    t_h0, t_h1 = _table(f"{who}: h0", h0, OH, limit=H), _table(f"{who}: h1", h1, OH, limit=H)
    t_w0, t_w1 = _table(f"{who}: w0", w0, OW, limit=W), _table(f"{who}: w1", w1, OW, limit=W)
    t_lh = _table(f"{who}: lh", lh, OH, np.float32)
    t_lw = _table(f"{who}: lw", lw, OW, np.float32)
    if _zero_or_nothing(out, P, H, W, OH, OW, backward):
        return
    if backward:
        offh, enth = _inverse(t_h0, t_h1, H, OH)
        offw, entw = _inverse(t_w0, t_w1, W, OW)
        _bilinear_bwd[_launch.grid(P * H * W)](o, x, offh.flat, enth.flat, t_lh, offw.flat,
                                               entw.flat, t_lw, P, H, W, OH, OW)
    else:
        _bilinear_fwd[_launch.grid(P * OH * OW)](o, x, t_h0, t_h1, t_lh, t_w0, t_w1, t_lw, P,
                                                 H, W, OH, OW)


# ------------------------------------------------------------------------ PTX checks

_F = types.float32[::1]
_I = types.int64[::1]
_S5 = (int64,) * 5

PTX_CHECKS = [
    (_nearest_fwd, (_F, _F, _I, _I) + _S5),
    (_bilinear_fwd, (_F, _F, _I, _I, _F, _I, _I, _F) + _S5),
    (_invert, (_I, _I, _I, _I, _I, types.boolean, int64, int64)),
    (_nearest_bwd, (_F, _F, _I, _I, _I, _I) + _S5),
    (_bilinear_bwd, (_F, _F, _I, _I, _F, _I, _I, _F) + _S5),
]
