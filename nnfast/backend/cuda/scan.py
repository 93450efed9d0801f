"""Scans of CudaArrays: np.cumsum/cumprod and the `ufunc.accumulate` hook (np.add,
multiply, maximum, minimum, logaddexp).

The scanned axis is moved last into contiguous rows (reduce.as_rows). Many rows: one thread
per row, left to right. Few long rows: each row is cut into chunks of SCAN_CHUNK, one
thread folds each chunk to its total, the totals are scanned the same way (recursively),
and each chunk is rescanned from the total before it. The order depends only on the
shapes: the same bits every run, no atomics. Result dtypes follow NumPy.
"""
import math

import numba
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index

from . import _launch
from .array import HOOKS, empty, implements
from .convert import copy_into
from .reduce import _add, _max, _min, _mul, _result_dtype, as_rows, isnan

__all__ = []

SIM = _launch.SIM
SCAN_CHUNK = 4 if SIM else 64       # scans of few rows: each thread folds this many
SCAN_ROWS = 4 if SIM else 8192      # rows from which a scan runs one thread per row


@cuda.jit(device=True, inline=True)
def _logaddexp(a, b):
    if isnan(a) or isnan(b):
        return a + b
    m = max(a, b)
    if m == -math.inf:
        return m
    return m + math.log1p(math.exp(-abs(a - b)))


_SCANS = {"sum": _add, "prod": _mul, "max": _max, "min": _min, "logaddexp": _logaddexp}

_cache = {}


def scan_kernel(op):
    """out[row, j] = fold(src[row, :j+1]), one thread per row, left to right."""
    key = ("scan", op)
    k = _cache.get(key)
    if k is not None:
        return k
    combine = _SCANS[op]

    def kern(src, n_rows, row_len, out):
        row = cuda.grid(1)
        while row < n_rows:
            base = row * row_len
            if row_len > 0:
                v = src[base]
                out[base] = v
                for j in range(1, row_len):
                    v = combine(v, src[base + j])
                    out[base + j] = v
            row += cuda.gridsize(1)
    k = _cache[key] = cuda.jit(kern)
    return k


def chunk_scan_kernel(op, with_prefix):
    """For each (row, chunk) t: the running fold over the chunk, started from pref[t - 1]
    (the inclusive fold of the row's earlier chunks) when with_prefix and the chunk is not
    the row's first; writes the whole run to out when with_prefix, else its total only."""
    key = ("chunkscan", op, with_prefix)
    k = _cache.get(key)
    if k is not None:
        return k
    combine = _SCANS[op]

    def kern(src, m, n, chunk, nch, pref, out):
        t = cuda.grid(1)
        while t < m * nch:
            row = t // nch
            c = t - row * nch
            start = row * n + c * chunk
            end = min(start + chunk, row * n + n)
            v = src[start]
            if with_prefix:
                if c > 0:
                    v = combine(pref[t - 1], v)
                out[start] = v
            for j in range(start + 1, end):
                v = combine(v, src[j])
                if with_prefix:
                    out[j] = v
            if not with_prefix:
                out[t] = v
            t += cuda.gridsize(1)
    k = _cache[key] = cuda.jit(kern)
    return k


# ---------------------------------------------------------------------- host side
def scan_rows(op, rows):
    """Inclusive scan of each row of contiguous (M, N) `rows`. Many rows: one thread per
    row. Few: rows cut into chunks of SCAN_CHUNK, the chunk totals scanned (recursively),
    then each chunk rescanned from its prefix; a fixed order for given shapes."""
    m, n = rows.shape
    r = empty(rows.shape, rows.dtype)
    if m == 0 or n == 0:
        return r
    if m >= SCAN_ROWS or n <= SCAN_CHUNK:
        scan_kernel(op)[_launch.grid(m)](rows.flat, m, n, r.flat)
        return r
    nch = (n + SCAN_CHUNK - 1) // SCAN_CHUNK
    totals = empty((m, nch), rows.dtype)
    chunk_scan_kernel(op, False)[_launch.grid(m * nch)](rows.flat, m, n, SCAN_CHUNK, nch,
                                                        totals.flat, totals.flat)
    pref = scan_rows(op, totals)
    chunk_scan_kernel(op, True)[_launch.grid(m * nch)](rows.flat, m, n, SCAN_CHUNK, nch,
                                                       pref.flat, r.flat)
    return r


def scan(op, a, axis, res_dtype, out=None):
    """Inclusive scan along one axis (axis None: of the flattened array)."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    ax = normalize_axis_index(axis, a.ndim)
    rows, kept = as_rows(a, (ax,), dtype=res_dtype)
    r = scan_rows(op, rows).reshape(kept + (a.shape[ax],))
    if ax != a.ndim - 1:
        order = list(range(a.ndim - 1))
        order.insert(ax, a.ndim - 1)
        r = r.transpose(order)
        t = empty(r.shape, r.dtype)
        r = copy_into(t, r)
    if out is not None:
        if tuple(out.shape) != tuple(r.shape):
            raise ValueError("provided out is the wrong size for the accumulation")
        copy_into(out, r)
        return out
    return r


@implements(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    return scan("sum", a, axis, _result_dtype(np.cumsum, dtype, a.dtype), out)


@implements(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    return scan("prod", a, axis, _result_dtype(np.cumprod, dtype, a.dtype), out)


_UFUNC_SCAN = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min",
               np.logaddexp: "logaddexp"}


def ufunc_accumulate(ufunc, array, axis=0, dtype=None, out=None):
    op = _UFUNC_SCAN.get(ufunc)
    if op is None:
        raise NotImplementedError(f"nnfast's CUDA backend has no kernel for "
                                  f"numpy.{ufunc.__name__}.accumulate")
    if isinstance(out, tuple):
        out = out[0]
    res = ufunc.accumulate(np.zeros(1, array.dtype), dtype=dtype).dtype
    return scan(op, array, axis, res, out)


HOOKS["ufunc_accumulate"] = ufunc_accumulate


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, i64 = numba.float32, numba.int64
    checks = []
    checks.append((scan_kernel("sum"), (i64[::1], i64, i64, i64[::1])))
    for with_prefix in (False, True):   # nonzero's chunk counts
        checks.append((chunk_scan_kernel("sum", with_prefix),
                       (i64[::1], i64, i64, i64, i64, i64[::1], i64[::1])))
    for op in _SCANS:
        checks.append((scan_kernel(op), (f32[::1], i64, i64, f32[::1])))
        for with_prefix in (False, True):
            checks.append((chunk_scan_kernel(op, with_prefix),
                           (f32[::1], i64, i64, i64, i64, f32[::1], f32[::1])))
    return checks


PTX_CHECKS = _ptx_checks()
