"""The row reductions the CUDA norm kernels share (norm.py: BatchNorm, LayerNorm;
norm_group.py: GroupNorm): a block-wide sum by a fixed shared-memory tree, in double, over a
"row" of values given as runs of S values RS apart, and the host-side argument checks.

Deterministic by construction: the tree's shape depends only on the block size, so the same
input gives the same bits on every run. Not here: the kernels themselves.
"""
import numpy as np
from numba import cuda, float64

from . import _launch
from ._block import block_sum
from ._checks import need

SIM = _launch.SIM
NT = 8 if SIM else 256                 # threads of a row-reducing block (a power of two)
F1 = np.float32(1.0)
F0 = np.float32(0.0)


# ---------------------------------------------------------------------- device helpers
@cuda.jit(device=True, inline=True)
def _block_sum(sh, v, tid):
    """Sum of v over the block's NT threads by the fixed tree of _block.py."""
    return block_sum(sh, v, tid, NT)


@cuda.jit(device=True, inline=True)
def _at(r, j, S, RS):
    """Flat index of value j of row r: rows are runs of S values, runs RS apart (a
    contiguous row of length n is S = n)."""
    q = j // S
    return q * RS + r * S + (j - q * S)


@cuda.jit(device=True, inline=True)
def _sum_range(sh, x, r, j0, j1, S, RS, tid):
    s = 0.0
    for j in range(j0 + tid, j1, NT):
        s += float64(x[_at(r, j, S, RS)])
    return _block_sum(sh, s, tid)


@cuda.jit(device=True, inline=True)
def _sqdev_range(sh, x, r, j0, j1, S, RS, m, tid):
    s = 0.0
    for j in range(j0 + tid, j1, NT):
        d = float64(x[_at(r, j, S, RS)]) - m
        s += d * d
    return _block_sum(sh, s, tid)


@cuda.jit(device=True, inline=True)
def _dsums_range(sh, dy, x, r, j0, j1, S, RS, m, tid):
    """(sum dy, sum dy * (x - m)) over values j0..j1 of row r, in double."""
    a = 0.0
    b = 0.0
    for j in range(j0 + tid, j1, NT):
        i = _at(r, j, S, RS)
        g = float64(dy[i])
        a += g
        b += g * (float64(x[i]) - m)
    return _block_sum(sh, a, tid), _block_sum(sh, b, tid)


@cuda.jit
def _fill_f32(a, n, v):
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        a[i] = v


# ---------------------------------------------------------------------- host side
_dummy = {}


def _opt(a, who, name, n):
    """(flat device view, present flag) of an optional argument; None -> a 1-element stand-in
    the kernel never reads."""
    if a is None:
        d = _dummy.get("f")
        if d is None:
            d = _dummy["f"] = cuda.device_array(1, np.float32)
        return d, 0
    return _flat(a, who, name, n), 1


def _flat(a, who, name, n, dtype=np.float32):
    need(who, name, a, dtype)
    if a.dtype != dtype:
        raise ValueError(f"{who}: {name} must be {np.dtype(dtype).name}, got {a.dtype}")
    if a.size != n:
        raise ValueError(f"{who}: {name} has {a.size} elements, expected {n}")
    if not a.is_contiguous:
        raise ValueError(f"{who}: {name} must be contiguous")
    return a.flat


def _sizes(who, **sizes):
    if any(s < 0 for s in sizes.values()):
        raise ValueError(f"{who}: negative size " + " ".join(f"{k}={v}" for k, v in sizes.items()))


def _blocks(rows):
    return min(max(rows, 1), _launch.MAX_BLOCKS)
