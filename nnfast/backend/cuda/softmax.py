"""Softmax and LogSoftmax on CUDA (part of the activation family: nnfast/backend/cuda/act.py
re-exports them), with the _C contract of csrc/act.c: along D of an array viewed as
[outer, D, inner], forward and backward from the saved output.

Deterministic reductions in two layouts:
- one block per row (o, k) (grid-stride over rows): threads stride over d, max and sum go
  through a fixed shared-memory tree of THREADS floats;
- one thread per column (o, k), walking its D values in order as the C's blocked loop does:
  for many columns (inner >= COLUMNS_MIN, where a warp reads consecutive floats of each row)
  and for short rows (D <= SHORT_ROW: a block per row would leave most threads idle).
The max keeps a NaN once seen (a row with a NaN is all NaN, as in torch and the C); exp and
log are libdevice's, so results agree with the CPU to float32 rounding.

What it is not: strided, float64, or a fused softmax-cross-entropy (that is the loss family's).
"""
import math

import numpy as np
from numba import cuda, float32
from numba import types as nbt

from . import _launch
from ._block import block_fold, block_sum, larger_nan
from ._checks import need, need_flat

__all__ = ["softmax_forward", "softmax_backward"]

# Layout choice (see the docstring)
COLUMNS_MIN = 32
SHORT_ROW = 32

_F = np.float32
F0, F1 = _F(0), _F(1)
NEG_INF = _F(-np.inf)

_cache = {}


def _softmax_rows_kernel(threads, log):
    """One block per row (o, k) of [outer, D, inner] (grid-stride over rows): threads stride
    over d; max and sum go through a fixed shared-memory tree."""
    assert threads & (threads - 1) == 0, "the tree halves a power of two"
    key = ("smrows", threads, log)
    k = _cache.get(key)
    if k is not None:
        return k

    def kern(out, inp, outer, D, inner):
        sm = cuda.shared.array(threads, float32)
        t = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < outer * inner:
            o = r // inner
            base = o * D * inner + (r - o * inner)
            m = NEG_INF
            d = t
            while d < D:
                m = larger_nan(m, inp[base + d * inner])   # NaN rows: all NaN, as torch
                d += threads
            mx = block_fold(sm, m, t, threads, larger_nan)
            s = F0
            d = t
            while d < D:
                e = _F(math.exp(inp[base + d * inner] - mx))
                if not log:
                    out[base + d * inner] = e
                s += e
                d += threads
            total = block_sum(sm, s, t, threads)
            d = t
            if log:
                lse = _F(math.log(total))
                while d < D:
                    o_ = base + d * inner
                    out[o_] = inp[o_] - mx - lse
                    d += threads
            else:
                inv = F1 / total
                while d < D:
                    out[base + d * inner] *= inv
                    d += threads
            r += cuda.gridDim.x

    k = _cache[key] = cuda.jit(kern)
    return k


def _softmax_rows_backward_kernel(threads, log):
    """Backward, same layout: softmax dx = y * (g - <g, y>), log dx = g - exp(y) * sum(g)."""
    assert threads & (threads - 1) == 0, "the tree halves a power of two"
    key = ("smrows_b", threads, log)
    k = _cache.get(key)
    if k is not None:
        return k

    def kern(dinp, dout, out, outer, D, inner):
        sm = cuda.shared.array(threads, float32)
        t = cuda.threadIdx.x
        r = cuda.blockIdx.x
        while r < outer * inner:
            o = r // inner
            base = o * D * inner + (r - o * inner)
            s = F0
            d = t
            while d < D:
                if log:
                    s += dout[base + d * inner]
                else:
                    s += dout[base + d * inner] * out[base + d * inner]
                d += threads
            total = block_sum(sm, s, t, threads)
            d = t
            while d < D:
                o_ = base + d * inner
                if log:
                    dinp[o_] = dout[o_] - _F(math.exp(out[o_])) * total
                else:
                    dinp[o_] = out[o_] * (dout[o_] - total)
                d += threads
            r += cuda.gridDim.x

    k = _cache[key] = cuda.jit(kern)
    return k


def _softmax_columns_kernel(log):
    """One thread per column (o, k) (grid-stride), walking its D values in order, as the C's
    blocked loop does for inner > 1."""
    key = ("smcols", log)
    k = _cache.get(key)
    if k is not None:
        return k

    def kern(out, inp, outer, D, inner):
        c = cuda.grid(1)
        step = cuda.gridsize(1)
        while c < outer * inner:
            o = c // inner
            base = o * D * inner + (c - o * inner)
            m = NEG_INF
            for d in range(D):
                m = larger_nan(m, inp[base + d * inner])   # NaN rows: all NaN, as torch
            s = F0
            for d in range(D):
                e = _F(math.exp(inp[base + d * inner] - m))
                if not log:
                    out[base + d * inner] = e
                s += e
            if log:
                lse = _F(math.log(s))
                for d in range(D):
                    o_ = base + d * inner
                    out[o_] = inp[o_] - m - lse
            else:
                inv = F1 / s
                for d in range(D):
                    out[base + d * inner] *= inv
            c += step

    k = _cache[key] = cuda.jit(kern)
    return k


def _softmax_columns_backward_kernel(log):
    key = ("smcols_b", log)
    k = _cache.get(key)
    if k is not None:
        return k

    def kern(dinp, dout, out, outer, D, inner):
        c = cuda.grid(1)
        step = cuda.gridsize(1)
        while c < outer * inner:
            o = c // inner
            base = o * D * inner + (c - o * inner)
            s = F0
            for d in range(D):
                if log:
                    s += dout[base + d * inner]
                else:
                    s += dout[base + d * inner] * out[base + d * inner]
            for d in range(D):
                o_ = base + d * inner
                if log:
                    dinp[o_] = dout[o_] - _F(math.exp(out[o_])) * s
                else:
                    dinp[o_] = out[o_] * (dout[o_] - s)
            c += step

    k = _cache[key] = cuda.jit(kern)
    return k


def _softmax_sizes(who, outer, D, inner, **arrays):
    outer, D, inner = int(outer), int(D), int(inner)
    if outer < 0 or D < 0 or inner < 0:
        raise ValueError(f"{who}: negative size in [outer, D, inner] = [{outer}, {D}, {inner}]")
    n = outer * D * inner
    for name, a in arrays.items():
        need(who, name, a)
        if a.size != n:
            raise ValueError(f"{who}: {name} has {a.size} elements for [outer, D, inner] = "
                             f"[{outer}, {D}, {inner}]")
        need_flat(who, name, a)
    return outer, D, inner


def _by_columns(D, inner):
    return inner >= COLUMNS_MIN or D <= SHORT_ROW


def softmax_forward(out, inp, outer, D, inner, log=False):
    """Softmax (or log-softmax) along D of inp viewed as [outer, D, inner]."""
    outer, D, inner = _softmax_sizes("softmax_forward", outer, D, inner, out=out, inp=inp)
    if outer * D * inner == 0:
        return
    log = bool(log)
    if _by_columns(D, inner):
        _softmax_columns_kernel(log)[_launch.grid(outer * inner)](out.flat, inp.flat, outer,
                                                                  D, inner)
    else:
        rows = outer * inner
        kern = _softmax_rows_kernel(_launch.THREADS, log)
        kern[min(rows, _launch.MAX_BLOCKS), _launch.THREADS](out.flat, inp.flat, outer, D,
                                                             inner)


def softmax_backward(dinp, dout, out, outer, D, inner, log=False):
    """Gradient of softmax_forward from its saved output."""
    outer, D, inner = _softmax_sizes("softmax_backward", outer, D, inner, dinp=dinp,
                                     dout=dout, out=out)
    if outer * D * inner == 0:
        return
    log = bool(log)
    args = (dinp.flat, dout.flat, out.flat, outer, D, inner)
    if _by_columns(D, inner):
        _softmax_columns_backward_kernel(log)[_launch.grid(outer * inner)](*args)
    else:
        rows = outer * inner
        kern = _softmax_rows_backward_kernel(_launch.THREADS, log)
        kern[min(rows, _launch.MAX_BLOCKS), _launch.THREADS](*args)


# ===================================================================== PTX checks

_V, _I = nbt.float32[::1], nbt.int64
PTX_CHECKS = []
for _log in (False, True):
    PTX_CHECKS += [(_softmax_rows_kernel(256, _log), (_V, _V, _I, _I, _I)),
                   (_softmax_rows_backward_kernel(256, _log), (_V, _V, _V, _I, _I, _I)),
                   (_softmax_columns_kernel(_log), (_V, _V, _I, _I, _I)),
                   (_softmax_columns_backward_kernel(_log), (_V, _V, _V, _I, _I, _I))]
