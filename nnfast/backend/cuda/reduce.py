"""Reductions of CudaArrays: np.sum/mean/prod/max/min/argmax/argmin/any/all/var/std/
count_nonzero/nansum and the `ufunc.reduce` hook (scans are in scan.py).

Every reduction first views its input as rows: the reduced axes are moved last and, unless
that view is already contiguous, copied into a contiguous (M, N) temp. Then one block per
output row: each thread folds the elements tid, tid+T, ... in order, and a fixed shared
memory tree joins the T partials. Very long rows with few outputs go in two passes (rows
split into fixed chunks, then the chunk partials reduced again). Short rows take one
thread each, and leading axes of a contiguous array are read in place as columns (one
thread per output, walking down). The order of operations depends only on the shapes, so
a sum is bit-identical from run to run; no float atomics.

Results follow NumPy's dtypes (sum of ints/bools -> int64, mean of ints -> float64); float16
accumulates in float32. NaN propagates through max/min/argmax as in NumPy. A reduction over
all axes gives a 0-d CudaArray (never a host scalar: no sync).
Not here: complex dtypes, `where=` masks other than True.
"""
import math

import numba
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from . import _launch
from ._block import block_fold
from .array import HOOKS, CudaArray, empty, implements
from .convert import copy_into

__all__ = []

SIM = _launch.SIM
THREADS = 4 if SIM else 256        # threads per block of the row reductions (a power of 2)
CHUNK = 16 if SIM else 16384        # row chunk of the first pass for long rows
SHORT = 3 if SIM else 32            # rows this short: one thread per row, no block tree
COLS_MIN = 2 if SIM else 1024       # reduce leading axes in place ("columns") from this many
COLS_MAX_N = 64 if SIM else 65536   # outputs, unless the columns are longer than this
MAX_BLOCKS = _launch.MAX_BLOCKS
_NOVALUE = np._NoValue


# ---------------------------------------------------------------------- device scalar ops
@cuda.jit(device=True, inline=True)
def isnan(x):
    """True for a float NaN; False for any int or bool (no math.isnan needed per type)."""
    return x != x  # noqa: PLR0124


@cuda.jit(device=True, inline=True)
def _pre_id(x, s):
    return x


@cuda.jit(device=True, inline=True)
def _pre_truth(x, s):
    return numba.uint8(1) if x != 0 else numba.uint8(0)


@cuda.jit(device=True, inline=True)
def _pre_count(x, s):
    return numba.int64(1) if x != 0 else numba.int64(0)


@cuda.jit(device=True, inline=True)
def _pre_nan0(x, s):
    return numba.float32(0) if isnan(x) else x     # NaN -> 0 (float32 widens as x needs)


@cuda.jit(device=True, inline=True)
def _pre_sqdev(x, s):
    d = x - s
    return d * d


@cuda.jit(device=True, inline=True)
def _add(a, b):
    return a + b


@cuda.jit(device=True, inline=True)
def _mul(a, b):
    return a * b


@cuda.jit(device=True, inline=True)
def _max(a, b):
    if isnan(a):        # NaN wins, as in NumPy
        return a
    if isnan(b):
        return b
    return max(a, b)


@cuda.jit(device=True, inline=True)
def _min(a, b):
    if isnan(a):
        return a
    if isnan(b):
        return b
    return min(a, b)


@cuda.jit(device=True, inline=True)
def _post_id(v, div):
    return v


@cuda.jit(device=True, inline=True)
def _post_div(v, div):
    return v / div


@cuda.jit(device=True, inline=True)
def _post_sqrtdiv(v, div):
    return math.sqrt(v / div)


@cuda.jit(device=True, inline=True)
def _post_bool(v, div):
    return v != 0


# name -> (pre of the first pass, combine, post of the last pass)
_OPS = {
    "sum": (_pre_id, _add, _post_id),
    "prod": (_pre_id, _mul, _post_id),
    "max": (_pre_id, _max, _post_id),
    "min": (_pre_id, _min, _post_id),
    "any": (_pre_truth, _max, _post_bool),
    "all": (_pre_truth, _min, _post_bool),
    "count": (_pre_count, _add, _post_id),
    "nansum": (_pre_nan0, _add, _post_id),
    "mean": (_pre_id, _add, _post_div),
    "sqdev": (_pre_sqdev, _add, _post_div),
    "sqdev_sqrt": (_pre_sqdev, _add, _post_sqrtdiv),
}
_cache = {}


def row_kernel(op, acc, first, final, threads=THREADS):
    """out[o] = post(fold(pre(src[start:end]))) for output o = (row, chunk); acc: the NumPy
    dtype of the partials (the shared-memory tree's type)."""
    key = ("row", op, np.dtype(acc), first, final, threads)
    k = _cache.get(key)
    if k is not None:
        return k
    pre, combine, post = _OPS[op]
    if not first:
        pre = _pre_id
    if not final:
        post = _post_id
    acc_t = numba.from_dtype(np.dtype(acc))

    def kern(src, n_out, row_len, chunk, nchunks, shift, sstep, ident, has_init, init, div,
             out):
        sm = cuda.shared.array(threads, acc_t)
        tid = cuda.threadIdx.x
        o = cuda.blockIdx.x
        while o < n_out:
            row = o // nchunks
            start = row * row_len + (o % nchunks) * chunk
            end = min(start + chunk, row * row_len + row_len)
            s = shift[row * sstep]
            v = ident
            j = start + tid
            while j < end:
                v = combine(v, pre(src[j], s))
                j += threads
            r = block_fold(sm, v, tid, threads, combine)
            if tid == 0:
                if has_init:
                    r = combine(r, init)
                out[o] = post(r, div)
            o += cuda.gridDim.x
    k = _cache[key] = cuda.jit(kern)
    return k


def seq_kernel(op, acc):
    """out[o] = post(fold(pre(src[o*seg + j*elem] for j < n))): one thread per output, in
    order; for short rows (seg=n, elem=1) and for leading-axis reductions (seg=1, elem=m:
    neighbouring threads read neighbouring elements)."""
    key = ("seq", op, np.dtype(acc))
    k = _cache.get(key)
    if k is not None:
        return k
    pre, combine, post = _OPS[op]

    def kern(src, m, n, seg, elem, shift, sstep, ident, has_init, init, div, out):
        o = cuda.grid(1)
        while o < m:
            s = shift[o * sstep]
            v = ident
            for j in range(n):
                v = combine(v, pre(src[o * seg + j * elem], s))
            if has_init:
                v = combine(v, init)
            out[o] = post(v, div)
            o += cuda.gridsize(1)
    k = _cache[key] = cuda.jit(kern)
    return k


def arg_seq_kernel(is_max):
    """arg_kernel's result for short rows: one thread per row, left to right."""
    key = ("argseq", is_max)
    k = _cache.get(key)
    if k is not None:
        return k

    def kern(src, n_rows, row_len, out):
        row = cuda.grid(1)
        while row < n_rows:
            base = row * row_len
            bv = src[base]
            bi = 0
            for j in range(1, row_len):
                x = src[base + j]
                if not isnan(bv) and (isnan(x) or (x > bv if is_max else x < bv)):
                    bv = x
                    bi = j
            out[row] = bi
            row += cuda.gridsize(1)
    k = _cache[key] = cuda.jit(kern)
    return k


def arg_kernel(is_max, acc, threads=THREADS):
    """out[row] = index of the first max (min) of src[row, :]; the first NaN if any."""
    key = ("arg", is_max, np.dtype(acc), threads)
    k = _cache.get(key)
    if k is not None:
        return k
    acc_t = numba.from_dtype(np.dtype(acc))

    def kern(src, n_rows, row_len, out):
        sv = cuda.shared.array(threads, acc_t)
        si = cuda.shared.array(threads, numba.int64)
        tid = cuda.threadIdx.x
        row = cuda.blockIdx.x
        while row < n_rows:
            base = row * row_len
            bi = numba.int64(-1)
            bv = src[base]
            j = tid
            while j < row_len:
                x = src[base + j]
                # later elements win only when strictly better (ties keep the first index)
                if bi < 0 or (not isnan(bv) and (isnan(x) or (x > bv if is_max else x < bv))):
                    bv = x
                    bi = j
                j += threads
            sv[tid] = bv
            si[tid] = bi
            cuda.syncthreads()
            w = threads // 2
            while w > 0:
                if tid < w:
                    ai = si[tid]
                    bj = si[tid + w]
                    if bj >= 0:
                        av = sv[tid]
                        xv = sv[tid + w]
                        take = ai < 0
                        if not take:
                            if isnan(av):
                                take = isnan(xv) and bj < ai
                            elif isnan(xv):
                                take = True
                            elif xv == av:
                                take = bj < ai
                            else:
                                take = xv > av if is_max else xv < av
                        if take:
                            sv[tid] = xv
                            si[tid] = bj
                cuda.syncthreads()
                w //= 2
            if tid == 0:
                out[row] = si[0]
            cuda.syncthreads()
            row += cuda.gridDim.x
    k = _cache[key] = cuda.jit(kern)
    return k


# ---------------------------------------------------------------------- host side
_dummy = {}


def _no_shift():
    d = _dummy.get("shift")
    if d is None:
        d = _dummy["shift"] = empty((1,), np.float64)
        d.fill(0)
    return d


def _axes(a, axis):
    if axis is None:
        return tuple(range(a.ndim))
    return tuple(sorted(normalize_axis_tuple(axis, a.ndim)))   # the set, in memory order


def as_rows(a, axes, dtype=None):
    """(contiguous (M, N) CudaArray, kept shape): the reduced axes moved last."""
    keep = [d for d in range(a.ndim) if d not in axes]
    perm = keep + list(axes)
    kept = tuple(a.shape[d] for d in keep)
    n = 1
    for d in axes:
        n *= a.shape[d]
    v = a.transpose(perm) if a.ndim else a
    if dtype is not None and np.dtype(dtype) != a.dtype or not v.is_contiguous:
        t = empty(v.shape, a.dtype if dtype is None else dtype)
        copy_into(t, v)
        v = t
    m = 1
    for s in kept:
        m *= s
    return v.reshape(m, n), kept


class Segments:
    """The input of a reduction as m outputs of n elements each: element j of output o is
    src[o * seg + j * elem] of a contiguous flat array."""

    def __init__(self, src, m, n, seg, elem):
        self.src, self.m, self.n, self.seg, self.elem = src, m, n, seg, elem


def as_segments(a, axes):
    """(Segments, kept shape). Leading reduced axes of a contiguous array are read in place
    as columns when there are many outputs; else the rows of as_rows."""
    keep = [d for d in range(a.ndim) if d not in axes]
    kept = tuple(a.shape[d] for d in keep)
    m = int(np.prod(kept, dtype=np.int64))
    n = a.size // m if m else int(np.prod([a.shape[d] for d in axes], dtype=np.int64))
    if (a.is_contiguous and keep and axes and tuple(axes) == tuple(range(len(axes)))
            and m >= COLS_MIN and n <= COLS_MAX_N):
        return Segments(a.reshape(-1), m, n, 1, m), kept
    rows, kept = as_rows(a, axes)
    return Segments(rows.reshape(-1), m, n, n, 1), kept


def _result_dtype(np_fn, dtype, in_dtype, **kw):
    return np_fn(np.zeros(1, in_dtype), dtype=dtype, **kw).dtype


def _acc_dtype(res):
    return np.dtype(np.float32) if res == np.float16 else res


def _ident(op, acc):
    acc = np.dtype(acc)
    if op in ("max", "all"):
        v = -np.inf if acc.kind == "f" else np.iinfo(acc).min if acc.kind in "iu" else 0
        if op == "all":
            v = 1
    elif op in ("min",):
        v = np.inf if acc.kind == "f" else np.iinfo(acc).max if acc.kind in "iu" else 1
    elif op == "prod":
        v = 1
    else:
        v = 0
    return np.asarray(v).astype(acc)[()]


def _finish(res, kept, axes, ndim, keepdims, out):
    if keepdims:
        it = iter(kept)
        res = res.reshape(tuple(1 if d in axes else next(it) for d in range(ndim)))
    else:
        res = res.reshape(kept)
    if out is not None:
        if not isinstance(out, CudaArray):
            raise TypeError("out must be a CudaArray for a CUDA reduction")
        if tuple(out.shape) != tuple(res.shape):
            raise ValueError(f"output parameter has shape {out.shape}, expected {res.shape}")
        copy_into(out, res)
        return out
    return res


def reduce_segments(seg, op, res_dtype, acc_dtype, shift=None, div=1, init=None):
    """Reduce Segments `seg` to a (m,) array of res_dtype."""
    m, n = seg.m, seg.n
    acc_dtype = np.dtype(acc_dtype)
    ident = _ident(op, acc_dtype)
    div = np.asarray(div).astype(acc_dtype if acc_dtype.kind == "f" else np.float64)[()]
    sh, sstep = (shift, 1) if shift is not None else (_no_shift(), 0)
    has_init = init is not None
    init_v = np.asarray(init if has_init else ident).astype(acc_dtype)[()]
    out = empty((m,), res_dtype)
    if m == 0:
        return out
    if seg.elem != 1 or n <= SHORT:
        seq_kernel(op, acc_dtype)[_launch.grid(m)](seg.src.flat, m, n, seg.seg, seg.elem,
                                                   sh.flat, sstep, ident, has_init, init_v,
                                                   div, out.flat)
        return out
    src, first = seg.src, True
    # few long rows: a first pass over fixed chunks, then the chunk partials
    while n > CHUNK and m < MAX_BLOCKS * 4:
        nch = (n + CHUNK - 1) // CHUNK
        part = empty((m * nch,), acc_dtype)
        k = row_kernel(op, acc_dtype, first, False)
        k[min(m * nch, MAX_BLOCKS), THREADS](src.flat, m * nch, n, CHUNK, nch, sh.flat, sstep,
                                             ident, False, init_v, div, part.flat)
        src, n, first, sh, sstep = part, nch, False, _no_shift(), 0
    k = row_kernel(op, acc_dtype, first, True)
    k[min(m, MAX_BLOCKS), THREADS](src.flat, m, n, max(n, 1), 1, sh.flat, sstep, ident,
                                   has_init, init_v, div, out.flat)
    return out


def _reduce(op, a, axis, res_dtype, keepdims, out, init=None, where=True, name=None):
    if where is not True:
        raise NotImplementedError("nnfast's CUDA reductions take no where= mask")
    axes = _axes(a, axis)
    seg, kept = as_segments(a, axes)
    if seg.n == 0 and op in ("max", "min") and init is None:
        raise ValueError(f"zero-size array to reduction operation {name or op + 'imum'} "
                         "which has no identity")
    acc = np.dtype(np.uint8) if op in ("any", "all") else _acc_dtype(np.dtype(res_dtype))
    if op in ("max", "min") and np.dtype(res_dtype) == np.bool_:
        op, acc = ("any" if op == "max" else "all"), np.dtype(np.uint8)
    div = seg.n if op == "mean" else 1
    if op == "mean" and div == 0:
        div = np.nan
    r = reduce_segments(seg, op, res_dtype, acc, div=div, init=init)
    return _finish(r, kept, axes, a.ndim, keepdims, out)


def _init(initial):
    return None if initial is _NOVALUE else initial


@implements(np.sum)
def sum_(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NOVALUE, where=True):
    res = _result_dtype(np.sum, dtype, a.dtype)
    return _reduce("sum", a, axis, res, keepdims, out, _init(initial), where)


@implements(np.nansum)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NOVALUE, where=True):
    res = _result_dtype(np.nansum, dtype, a.dtype)
    op = "nansum" if a.dtype.kind == "f" else "sum"
    return _reduce(op, a, axis, res, keepdims, out, _init(initial), where)


@implements(np.prod)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=_NOVALUE, where=True):
    res = _result_dtype(np.prod, dtype, a.dtype)
    return _reduce("prod", a, axis, res, keepdims, out, _init(initial), where)


@implements(np.max, np.amax)
def max_(a, axis=None, out=None, keepdims=False, initial=_NOVALUE, where=True):
    return _reduce("max", a, axis, a.dtype, keepdims, out, _init(initial), where, "maximum")


@implements(np.min, np.amin)
def min_(a, axis=None, out=None, keepdims=False, initial=_NOVALUE, where=True):
    return _reduce("min", a, axis, a.dtype, keepdims, out, _init(initial), where, "minimum")


@implements(np.any)
def any_(a, axis=None, out=None, keepdims=False, *, where=True):
    return _reduce("any", a, axis, np.bool_, keepdims, out, where=where)


@implements(np.all)
def all_(a, axis=None, out=None, keepdims=False, *, where=True):
    return _reduce("all", a, axis, np.bool_, keepdims, out, where=where)


@implements(np.count_nonzero)
def count_nonzero(a, axis=None, *, keepdims=False):
    """A 0-d int64 CudaArray for axis=None (NumPy gives a Python int: that would sync)."""
    return _reduce("count", a, axis, np.int64, keepdims, None)


@implements(np.mean)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=True):
    res = _result_dtype(np.mean, dtype, a.dtype)
    return _reduce("mean", a, axis, res, keepdims, out, where=where)


def _var(a, axis, dtype, out, ddof, keepdims, where, sqrt):
    if where is not True:
        raise NotImplementedError("nnfast's CUDA reductions take no where= mask")
    res = _result_dtype(np.var, dtype, a.dtype)
    acc = _acc_dtype(res)
    axes = _axes(a, axis)
    seg, kept = as_segments(a, axes)
    n = seg.n
    mu = reduce_segments(seg, "mean", acc, acc, div=n if n else np.nan)
    d = max(n - ddof, 0)
    r = reduce_segments(seg, "sqdev_sqrt" if sqrt else "sqdev", res, acc, shift=mu,
                    div=d if n else np.nan)
    return _finish(r, kept, axes, a.ndim, keepdims, out)


@implements(np.var)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True):
    return _var(a, axis, dtype, out, ddof, keepdims, where, False)


@implements(np.std)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=True):
    return _var(a, axis, dtype, out, ddof, keepdims, where, True)


def _arg(is_max, a, axis, out, keepdims):
    name = "argmax" if is_max else "argmin"
    if axis is None:
        rows, kept, axes = as_rows(a.reshape(-1), (0,))[0], (), tuple(range(a.ndim))
    else:
        ax = normalize_axis_index(axis, a.ndim)
        axes = (ax,)
        rows, kept = as_rows(a, axes)
    m, n = rows.shape
    if n == 0:
        raise ValueError(f"attempt to get {name} of an empty sequence")
    r = empty((m,), np.int64)
    if m:
        src = rows
        if a.dtype == np.bool_:
            src = empty(rows.shape, np.uint8)
            copy_into(src, rows)
        if n <= SHORT:
            arg_seq_kernel(is_max)[_launch.grid(m)](src.flat, m, n, r.flat)
        else:
            arg_kernel(is_max, src.dtype)[min(m, MAX_BLOCKS), THREADS](src.flat, m, n, r.flat)
    if axis is None and keepdims:
        return _finish(r, (), axes, a.ndim, True, out)
    return _finish(r, kept, axes, a.ndim, keepdims, out)


@implements(np.argmax)
def argmax(a, axis=None, out=None, *, keepdims=False):
    return _arg(True, a, axis, out, keepdims)


@implements(np.argmin)
def argmin(a, axis=None, out=None, *, keepdims=False):
    return _arg(False, a, axis, out, keepdims)


# ---------------------------------------------------------------------- ufunc hooks
_UFUNC_REDUCE = {np.add: "sum", np.multiply: "prod", np.maximum: "max", np.minimum: "min",
                 np.logical_and: "all", np.logical_or: "any"}


def ufunc_reduce(ufunc, array, axis=0, dtype=None, out=None, keepdims=False,
                 initial=_NOVALUE, where=True):
    op = _UFUNC_REDUCE.get(ufunc)
    if op is None:
        raise NotImplementedError(f"nnfast's CUDA backend has no kernel for "
                                  f"numpy.{ufunc.__name__}.reduce")
    if isinstance(out, tuple):
        out = out[0]
    if op in ("any", "all"):
        res = np.dtype(np.bool_)
    elif op in ("max", "min"):
        res = np.dtype(dtype) if dtype is not None else array.dtype
    else:
        res = ufunc.reduce(np.zeros(1, array.dtype), dtype=dtype).dtype
    a = array if dtype is None or op not in ("max", "min") else array.astype(dtype)
    init = _init(initial)
    if init is not None and op in ("any", "all"):
        init = bool(init)
    return _reduce(op, a, axis, res, keepdims, out, init, where, ufunc.__name__)


HOOKS["ufunc_reduce"] = ufunc_reduce


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, f64, i64, u8, b1 = numba.float32, numba.float64, numba.int64, numba.uint8, numba.boolean
    checks = []
    for op, acc, src, res in (("sum", f32, f32, f32), ("sum", i64, i64, i64),
                              ("max", f32, f32, f32), ("min", f32, f32, f32),
                              ("prod", f32, f32, f32), ("any", u8, f32, b1),
                              ("count", i64, f32, i64), ("nansum", f32, f32, f32),
                              ("mean", f32, f32, f32), ("sqdev", f32, f32, f32),
                              ("sqdev_sqrt", f32, f32, f32)):
        for first, final in ((True, True), (True, False), (False, True)):
            k = row_kernel(op, np.dtype(str(acc)), first, final, 256)
            s = src if first else acc
            r = res if final else acc
            sh = f32 if op.startswith("sqdev") and first else f64
            checks.append((k, (s[::1], i64, i64, i64, i64, sh[::1], i64, acc, b1, acc, acc,
                               r[::1])))
        k = seq_kernel(op, np.dtype(str(acc)))
        sh = f32 if op.startswith("sqdev") else f64
        checks.append((k, (src[::1], i64, i64, i64, i64, sh[::1], i64, acc, b1, acc, acc,
                           res[::1])))
    for is_max in (True, False):
        checks.append((arg_kernel(is_max, np.float32, 256), (f32[::1], i64, i64, i64[::1])))
    checks.append((arg_kernel(True, np.int64, 256), (i64[::1], i64, i64, i64[::1])))
    for is_max in (True, False):
        checks.append((arg_seq_kernel(is_max), (f32[::1], i64, i64, i64[::1])))
    return checks


PTX_CHECKS = _ptx_checks()
