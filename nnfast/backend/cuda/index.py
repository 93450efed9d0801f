"""Indexing of CudaArrays: advanced getitem/setitem, np.add.at and kin, nonzero/argwhere/
flatnonzero, take/take_along_axis/put_along_axis, tril/triu/diag (sorting is in sort.py).

Advanced indexing is planned on the host (NumPy's rules: boolean masks become their nonzero
indices, integer indices are broadcast together, the indexed dims go first unless all the
advanced indices sit next to each other) and run as two kernels: one writes the element
offset of every result element, in (broadcast index dims, other dims) order, then a gather
or scatter moves the data. Out-of-range indices raise IndexError as in NumPy: for a device
index array that costs a sync (its min and max come to the host), as does a boolean mask
(its count sizes the result), except in `a[mask] = scalar` with a mask of a's shape (one
masked-fill kernel).

Deterministic throughout: `ufunc.at` sorts the destination offsets (sort.py's stable sort)
and folds each destination's sources in their original order, one thread per destination;
`a[idx] = v` where integer index arrays may repeat a destination goes the same way so that
the last write wins, as in NumPy; mask keys scatter directly (their destinations are
distinct). nonzero compacts in fixed chunks whose offsets come from a scan.
Not here: take with mode != 'raise'.
"""
import numbers

import numba
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index

from . import _launch
from ._strided import _offset_dev
from .array import HOOKS, CudaArray, _basic_index, empty, from_host, full, implements
from .convert import copy_into, fill
from .reduce import _add, _max, _min, _mul
from .scan import scan_rows

__all__ = []

SIM = _launch.SIM
CHUNK = 4 if SIM else 256        # elements per thread of the stream compaction
grid = _launch.grid


# ---------------------------------------------------------------------- kernels
@cuda.jit
def _count_chunks(src, n, chunk, counts):
    c = cuda.grid(1)
    while c < counts.size:
        k = 0
        for j in range(c * chunk, min(c * chunk + chunk, n)):
            if src[j] != 0:
                k += 1
        counts[c] = k
        c += cuda.gridsize(1)


@cuda.jit
def _write_chunks(src, n, chunk, ends, out):
    # ends: inclusive scan of the chunk counts, so chunk c writes from ends[c - 1]
    c = cuda.grid(1)
    while c < ends.size:
        k = ends[c - 1] if c > 0 else 0
        for j in range(c * chunk, min(c * chunk + chunk, n)):
            if src[j] != 0:
                out[k] = j
                k += 1
        c += cuda.gridsize(1)


@cuda.jit
def _unravel(flat, shape, out):
    # out[d, i] = coordinate d of flat index flat[i]
    m = flat.size
    i = cuda.grid(1)
    while i < m:
        f = flat[i]
        for d in range(len(shape) - 1, -1, -1):
            out[d * m + i] = f % shape[d]
            f //= shape[d]
        i += cuda.gridsize(1)


@cuda.jit
def _plan_offsets(offs, nb, nrest, src_off, rest_shape, rest_est, idx, adv_shape, adv_est):
    # offs[b * nrest + r]: offset of result element (broadcast index b, other dims r)
    total = nb * nrest
    i = cuda.grid(1)
    while i < total:
        b = i // nrest
        o = _offset_dev(i - b * nrest, rest_shape, rest_est, src_off)
        for j in range(len(adv_shape)):
            v = idx[j * nb + b]
            if v < 0:
                v += adv_shape[j]
            o += v * adv_est[j]
        offs[i] = o
        i += cuda.gridsize(1)


@cuda.jit
def _masked_fill(ab, ao, ae, shape, n, mb, mo, me, v):
    # a[i] = v where mask[i]: a[mask] = scalar without counting the mask on the host
    i = cuda.grid(1)
    while i < n:
        if mb[_offset_dev(i, shape, me, mo)]:
            ab[_offset_dev(i, shape, ae, ao)] = v
        i += cuda.gridsize(1)


@cuda.jit
def _gather(out, src, offs):
    i = cuda.grid(1)
    while i < out.size:
        out[i] = src[offs[i]]
        i += cuda.gridsize(1)


@cuda.jit
def _scatter(dst, val, offs):
    i = cuda.grid(1)
    while i < offs.size:
        dst[offs[i]] = val[i]
        i += cuda.gridsize(1)


@cuda.jit(device=True, inline=True)
def _sub(a, b):
    return a - b


@cuda.jit(device=True, inline=True)
def _second(a, b):
    return b


_at_cache = {}


def at_kernel(fn):
    """dst[s[k]] = fn(dst[s[k]], val[perm[k]]) over sorted offsets s, one thread per run."""
    k = _at_cache.get(fn)
    if k is None:
        def kern(dst, val, sorted_offs, perm, heads):
            h = cuda.grid(1)
            nh = heads.size
            n = sorted_offs.size
            while h < nh:
                start = heads[h]
                end = heads[h + 1] if h + 1 < nh else n
                o = sorted_offs[start]
                acc = dst[o]
                for k in range(start, end):
                    acc = fn(acc, val[perm[k]])
                dst[o] = acc
                h += cuda.gridsize(1)
        k = _at_cache[fn] = cuda.jit(kern)
    return k


@cuda.jit
def _tri(src, out, rows, cols, k, lower):
    # out = src where (col - row <= k) for tril, (col - row >= k) for triu, else 0
    i = cuda.grid(1)
    while i < out.size:
        c = i % cols
        r = (i // cols) % rows
        keep = (c - r <= k) if lower else (c - r >= k)
        out[i] = src[i] if keep else src[i] - src[i]
        i += cuda.gridsize(1)


# ---------------------------------------------------------------------- nonzero
def flat_nonzero(a):
    """int64 flat indices of the nonzero elements of `a` (C order); syncs for the count."""
    src = a if a.is_contiguous else copy_into(empty(a.shape, a.dtype), a)
    n = src.size
    nch = (n + CHUNK - 1) // CHUNK
    if n == 0:
        return empty((0,), np.int64)
    flat = src.reshape(-1).flat
    counts = empty((nch,), np.int64)
    _count_chunks[grid(nch)](flat, n, CHUNK, counts.flat)
    ends = scan_rows("sum", counts.reshape(1, nch)).reshape(-1)
    total = int(ends[nch - 1:].get()[0])
    out = empty((total,), np.int64)
    if total:
        _write_chunks[grid(nch)](flat, n, CHUNK, ends.flat, out.flat)
    return out


def _coords(a):
    """(ndim, count) int64 coordinates of the nonzero elements of `a`."""
    flat = flat_nonzero(a)
    m = flat.size
    coords = empty((a.ndim, m), np.int64)
    if m:
        _unravel[grid(m)](flat.flat, tuple(a.shape), coords.reshape(-1).flat)
    return coords


def nonzero(a):
    if a.ndim == 0:
        raise ValueError("Calling nonzero on 0d arrays is not allowed. Use "
                         "np.atleast_1d(scalar).nonzero() instead.")
    coords = _coords(a)
    return tuple(coords[d] for d in range(a.ndim))


HOOKS["nonzero"] = nonzero
implements(np.nonzero)(nonzero)


@implements(np.flatnonzero)
def flatnonzero(a):
    return flat_nonzero(a)


@implements(np.argwhere)
def argwhere(a):
    if a.ndim == 0:
        return empty((flat_nonzero(a.reshape(1)).size, 0), np.int64)
    c = _coords(a).T
    return copy_into(empty(c.shape, np.int64), c)


# ---------------------------------------------------------------------- advanced indexing
def _is_array(k):
    return isinstance(k, (CudaArray, np.ndarray, list))


def _index_array(k, dim_size, axis):
    """An int64 CudaArray of indices into a dim of `dim_size`, checked in range."""
    if isinstance(k, CudaArray):
        if k.dtype.kind not in "iu":
            raise IndexError("arrays used as indices must be of integer (or boolean) type")
        if k.size:
            lo, hi = int(np.min(k).get()), int(np.max(k).get())
            bad = hi if hi >= dim_size else lo if lo < -dim_size else None
            if bad is not None:
                raise IndexError(f"index {bad} is out of bounds for axis {axis} with size "
                                 f"{dim_size}")
        return k if k.dtype == np.int64 else copy_into(empty(k.shape, np.int64), k)
    h = np.asarray(k)
    if h.size == 0:
        h = h.astype(np.int64)
    if h.dtype.kind not in "iu":
        raise IndexError("arrays used as indices must be of integer (or boolean) type")
    bad = h[(h >= dim_size) | (h < -dim_size)]
    if bad.size:
        raise IndexError(f"index {bad.flat[0]} is out of bounds for axis {axis} with size "
                         f"{dim_size}")
    return from_host(h.astype(np.int64))


def _is_bool(k):
    if isinstance(k, CudaArray):
        return k.dtype == np.bool_
    if isinstance(k, (bool, np.bool_)):
        return True
    return _is_array(k) and np.asarray(k).dtype == np.bool_


class _Plan:
    """Where each element of a[key] lives: `offs` in (broadcast, other dims) order."""

    def __init__(self, a, key):
        if not isinstance(key, tuple):
            key = (key,)
        if any(isinstance(k, (bool, np.bool_)) for k in key):
            raise NotImplementedError("a Python bool as an index on a CUDA array")
        consumed = sum(np.ndim(k) if _is_bool(k) and not isinstance(k, CudaArray)
                       else k.ndim if _is_bool(k) else 0 if k is None or k is Ellipsis else 1
                       for k in key)
        if sum(1 for k in key if k is Ellipsis) > 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        if consumed > a.ndim:
            raise IndexError(f"too many indices for array: array is {a.ndim}-dimensional, "
                             f"but {consumed} were indexed")
        ell = [i for i, k in enumerate(key) if k is Ellipsis]
        if ell:
            i = ell[0]
            key = key[:i] + (slice(None),) * (a.ndim - consumed) + key[i + 1:]
        else:
            key = key + (slice(None),) * (a.ndim - consumed)
        # masks -> their nonzero indices; ints -> 0-d index arrays
        entries, d = [], 0
        self.may_repeat = False     # can two result elements share a destination?
        for k in key:
            if k is None or isinstance(k, slice):
                entries.append(k)
                d += k is not None
            elif _is_bool(k):
                m = k if isinstance(k, CudaArray) else from_host(np.asarray(k))
                for j, n in enumerate(m.shape):
                    if a.shape[d + j] != n:
                        raise IndexError(
                            f"boolean index did not match indexed array along axis {d + j}; "
                            f"size of axis is {a.shape[d + j]} but size of corresponding "
                            f"boolean axis is {n}")
                entries.extend(("idx", c, a.shape[d + j]) for j, c in enumerate(nonzero(m)
                                                                              if m.ndim else ()))
                d += m.ndim
            else:
                if not _is_array(k) and not isinstance(k, numbers.Integral):
                    raise IndexError("only integers, slices (`:`), ellipsis (`...`), "
                                     "numpy.newaxis (`None`) and integer or boolean arrays "
                                     "are valid indices")
                ix = _index_array(k, a.shape[d], d)
                self.may_repeat |= ix.size > 1
                entries.append(("idx", ix, a.shape[d]))
                d += 1
        if not any(isinstance(e, tuple) for e in entries):
            # a basic key (ufunc.at with slices): index 0 of a new unit dim stands in
            entries.insert(0, ("new", from_host(np.zeros((), np.int64)), 1))
        basic = tuple(None if isinstance(e, tuple) and e[0] == "new" else
                      slice(None) if isinstance(e, tuple) else e for e in entries)
        view = _basic_index(a, basic)
        adv = [(vd, e[1], e[2]) for vd, e in enumerate(entries) if isinstance(e, tuple)]
        adv_pos = [vd for vd, _, _ in adv]
        try:
            bshape = np.broadcast_shapes(*[ix.shape for _, ix, _ in adv])
        except ValueError:
            raise IndexError("shape mismatch: indexing arrays could not be broadcast "
                             "together with shapes " + " ".join(str(ix.shape)
                                                                for _, ix, _ in adv)) from None
        nb = int(np.prod(bshape, dtype=np.int64))
        idx = empty((len(adv), nb), np.int64)
        for j, (_, ix, _) in enumerate(adv):
            if nb:
                copy_into(idx[j].reshape(bshape), _broadcast(ix, bshape))
        rest = [vd for vd in range(view.ndim) if vd not in adv_pos]
        self.rest_shape = tuple(view.shape[vd] for vd in rest)
        rest_est = tuple(view._est[vd] for vd in rest)
        self.bshape = bshape
        self.work_shape = bshape + self.rest_shape
        nrest = int(np.prod(self.rest_shape, dtype=np.int64))
        self.offs = empty((nb * nrest,), np.int64)
        if nb * nrest:
            _plan_offsets[grid(nb * nrest)](
                self.offs.flat, nb, nrest, view._off, self.rest_shape or (1,),
                rest_est or (0,), idx.reshape(-1).flat,
                tuple(n for _, _, n in adv), tuple(view._est[vd] for vd in adv_pos))
        # NumPy puts the broadcast dims where the advanced indices were when they are all
        # next to each other, else first
        first = adv_pos[0]
        together = adv_pos == list(range(first, first + len(adv_pos)))
        p = sum(1 for vd in rest if vd < first) if together else 0
        nbd, nr = len(bshape), len(self.rest_shape)
        self.order = (list(range(nbd, nbd + p)) + list(range(nbd))
                      + list(range(nbd + p, nbd + nr)))     # work dims -> result dims
        self.shape = tuple(self.work_shape[o] for o in self.order)


def _broadcast(x, shape):
    return np.broadcast_to(x, shape)


def getitem(a, key):
    plan = _Plan(a, key)
    out = empty(plan.work_shape, a.dtype)
    if out.size:
        _gather[grid(out.size)](out.reshape(-1).flat, a._block.buf, plan.offs.flat)
    if plan.order != sorted(plan.order):
        out = out.transpose(plan.order)
        out = copy_into(empty(out.shape, out.dtype), out)
    return out


def _fit(v, ndim):
    """v without leading unit dims beyond ndim (NumPy's assignments drop them)."""
    while v.ndim > ndim and v.shape[0] == 1:
        v = v.reshape(v.shape[1:])
    return v


def _values_in_work_order(plan, value, dtype):
    """`value` broadcast to the result shape, as a contiguous array in work order."""
    v = value if isinstance(value, CudaArray) else from_host(np.asarray(value, dtype=dtype))
    v = _fit(v, len(plan.shape))
    try:
        if np.broadcast_shapes(v.shape, plan.shape) != tuple(plan.shape):
            raise ValueError
    except ValueError:
        raise ValueError(f"shape mismatch: value array of shape {v.shape} could not be "
                         f"broadcast to indexing result of shape {plan.shape}") from None
    v = _broadcast(v, plan.shape)
    inv = [plan.order.index(w) for w in range(len(plan.order))]
    v = v.transpose(inv) if v.ndim else v
    return copy_into(empty(plan.work_shape, dtype), v)


def setitem(a, key, value):
    view = _basic_index(a, key) if not isinstance(key, list) else None
    if view is not None:
        if isinstance(value, CudaArray):
            value = _fit(value, view.ndim)
            try:
                ok = np.broadcast_shapes(value.shape, view.shape) == view.shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"could not broadcast input array from shape {value.shape} "
                                 f"into shape {view.shape}")
            if value._block is a._block:       # overlapping source: copy it first
                value = copy_into(empty(value.shape, value.dtype), value)
            copy_into(view, value)
        elif np.ndim(value) == 0:
            fill(view, value)
        else:
            setitem(a, key, from_host(np.asarray(value, dtype=a.dtype)))
        return
    mask = key[0] if isinstance(key, tuple) and len(key) == 1 else key
    if (isinstance(mask, CudaArray) and mask.dtype == np.bool_ and mask.shape == a.shape
            and a.ndim and not isinstance(value, CudaArray) and np.ndim(value) == 0):
        if a.size:
            _masked_fill[grid(a.size)](a._block.buf, a._off, a._est, a.shape, a.size,
                                       mask._block.buf, mask._off, mask._est,
                                       np.asarray(value).astype(a.dtype)[()])
        return
    plan = _Plan(a, key)
    if plan.offs.size == 0:
        return
    vals = _values_in_work_order(plan, value, a.dtype)
    if plan.may_repeat:      # NumPy's rule, deterministically: the last write wins
        _fold_in_order(a, plan, vals, _second)
    else:
        _scatter[grid(plan.offs.size)](a._block.buf, vals.reshape(-1).flat, plan.offs.flat)


HOOKS["getitem"] = getitem
HOOKS["setitem"] = setitem

_AT_OPS = {np.add: _add, np.subtract: _sub, np.multiply: _mul, np.maximum: _max,
           np.minimum: _min}


def ufunc_at(ufunc, a, indices, b=None):
    fn = _AT_OPS.get(ufunc)
    if fn is None:
        raise NotImplementedError(f"nnfast's CUDA backend has no kernel for "
                                  f"numpy.{ufunc.__name__}.at")
    if b is None:
        raise NotImplementedError(f"numpy.{ufunc.__name__}.at needs the operand b")
    plan = _Plan(a, indices)
    n = plan.offs.size
    if n == 0:
        return
    _fold_in_order(a, plan, _values_in_work_order(plan, b, a.dtype), fn)


def _fold_in_order(a, plan, vals, fn):
    """a[dest] = fn(...fn(fn(a[dest], v1), v2)..., vk) for each destination, its values in
    their order in `vals`: the destinations sorted (stably), one thread per destination."""
    from .sort import _heads, argsort_rows  # sort.py builds on this module
    n = plan.offs.size
    perm, s = argsort_rows(plan.offs.reshape(1, n), want_keys=True)
    s = s.reshape(-1)
    flags = empty((n,), np.uint8)
    _heads[grid(n)](s.flat, flags.flat, True)
    heads = flat_nonzero(flags)
    at_kernel(fn)[grid(heads.size)](a._block.buf, vals.reshape(-1).flat, s.flat,
                                    perm.reshape(-1).flat, heads.flat)


HOOKS["ufunc_at"] = ufunc_at


# ---------------------------------------------------------------------- take & co.
@implements(np.take)
def take(a, indices, axis=None, out=None, mode="raise"):
    if mode != "raise":
        raise NotImplementedError(f"np.take with mode={mode!r} on a CUDA array")
    if axis is None:
        a, axis = a.reshape(-1), 0
    ax = normalize_axis_index(axis, a.ndim)
    r = getitem(a, (slice(None),) * ax + (indices,))
    if out is not None:
        copy_into(out, r)
        return out
    return r


def _along_axis_key(arr, indices, axis):
    """The advanced-index key equivalent to take_along_axis(arr, indices, axis)."""
    if arr.ndim != indices.ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    key = []
    for d in range(arr.ndim):
        if d == axis:
            key.append(indices)
        else:
            shape = [1] * arr.ndim
            shape[d] = arr.shape[d]
            key.append(np.arange(arr.shape[d]).reshape(shape))
    return tuple(key)


@implements(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    if axis is None:
        arr, axis = arr.reshape(-1), 0
    ax = normalize_axis_index(axis, arr.ndim)
    return getitem(arr, _along_axis_key(arr, indices, ax))


@implements(np.put_along_axis)
def put_along_axis(arr, indices, values, axis):
    if axis is None:
        raise NotImplementedError("np.put_along_axis with axis=None on a CUDA array")
    ax = normalize_axis_index(axis, arr.ndim)
    setitem(arr, _along_axis_key(arr, indices, ax), values)


# ---------------------------------------------------------------------- triangles, diagonals
def _tri_op(m, k, lower):
    if m.ndim < 2:
        raise ValueError("tril/triu of an array of fewer than 2 dimensions")
    src = m if m.is_contiguous else copy_into(empty(m.shape, m.dtype), m)
    out = empty(m.shape, m.dtype)
    if out.size:
        _tri[grid(out.size)](src.reshape(-1).flat, out.reshape(-1).flat, m.shape[-2],
                             m.shape[-1], int(k), lower)
    return out


@implements(np.tril)
def tril(m, k=0):
    return _tri_op(m, k, True)


@implements(np.triu)
def triu(m, k=0):
    return _tri_op(m, k, False)


@implements(np.diag)
def diag(v, k=0):
    k = int(k)
    if v.ndim == 1:
        n = v.shape[0] + abs(k)
        out = full((n, n), 0, v.dtype)
        off = k if k >= 0 else -k * n
        copy_into(out._view((v.shape[0],), (n + 1,), out._off + off), v)
        return out
    if v.ndim == 2:
        r, c = v.shape
        start_r, start_c = (0, k) if k >= 0 else (-k, 0)
        cnt = max(0, min(r - start_r, c - start_c))
        off = v._off + (start_r * v._est[0] + start_c * v._est[1] if cnt else 0)
        d = v._view((cnt,), (v._est[0] + v._est[1],), off)
        return copy_into(empty((cnt,), v.dtype), d)
    raise ValueError("Input must be 1- or 2-d.")


def _diagonal_view(a, offset, axis1, axis2):
    """The offset diagonal of the (axis1, axis2) planes as a view, its dim last."""
    ax1, ax2 = normalize_axis_index(axis1, a.ndim), normalize_axis_index(axis2, a.ndim)
    if ax1 == ax2:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [d for d in range(a.ndim) if d not in (ax1, ax2)]
    r, c = a.shape[ax1], a.shape[ax2]
    s1, s2 = a._est[ax1], a._est[ax2]
    i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
    cnt = max(0, min(r - i0, c - j0))
    off = a._off + (i0 * s1 + j0 * s2 if cnt else 0)
    return a._view([a.shape[d] for d in rest] + [cnt], [a._est[d] for d in rest] + [s1 + s2],
                   off)


@implements(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    if a.ndim < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    return np.sum(_diagonal_view(a, int(offset), axis1, axis2), axis=-1, dtype=dtype, out=out)


@implements(np.fill_diagonal)
def fill_diagonal(a, val, wrap=False):
    """In place, as NumPy: the main diagonal (every index equal) takes `val`, cycled; a tall
    matrix with wrap=True restarts the diagonal after each square block and its gap row."""
    if a.ndim < 2:
        raise ValueError("array must be at least 2-d")
    if a.ndim > 2 and len(set(a.shape)) != 1:
        raise ValueError("All dimensions of input must be of equal length")
    if a.ndim == 2 and wrap and a.shape[0] > a.shape[1] + 1:
        # the wrapped diagonal is every (cols + 1)-th element of the flattened matrix
        if not a.is_contiguous:
            raise NotImplementedError("np.fill_diagonal(wrap=True) of a strided CUDA array")
        step = a.shape[1] + 1
        view = a._view(((a.size + step - 1) // step,), (step,))
    else:
        n = min(a.shape)
        view = a._view((n,), (sum(a._est),))
    if not isinstance(val, CudaArray) and np.ndim(val) == 0:
        fill(view, val)
        return
    v = val.reshape(-1) if isinstance(val, CudaArray) else None
    if v is None:
        h = np.asarray(val, a.dtype).reshape(-1)
        v = from_host(np.resize(h, view.shape) if h.size else h)
    if v.size not in (1, view.size):
        raise NotImplementedError("np.fill_diagonal with a device val of another length "
                                  "than the diagonal")
    if view.size:
        copy_into(view, v)


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, i64, u8, b1 = numba.float32, numba.int64, numba.uint8, numba.boolean
    checks = [
        (_count_chunks, (b1[::1], i64, i64, i64[::1])),
        (_count_chunks, (u8[::1], i64, i64, i64[::1])),
        (_write_chunks, (b1[::1], i64, i64, i64[::1], i64[::1])),
        (_unravel, (i64[::1], numba.types.UniTuple(i64, 2), i64[::1])),
        (_plan_offsets, (i64[::1], i64, i64, i64, numba.types.UniTuple(i64, 2),
                         numba.types.UniTuple(i64, 2), i64[::1], numba.types.UniTuple(i64, 1),
                         numba.types.UniTuple(i64, 1))),
        (_gather, (f32[::1], f32[::1], i64[::1])),
        (_masked_fill, (f32[::1], i64, numba.types.UniTuple(i64, 2),
                        numba.types.UniTuple(i64, 2), i64, b1[::1], i64,
                        numba.types.UniTuple(i64, 2), f32)),
        (_scatter, (f32[::1], f32[::1], i64[::1])),
        (_tri, (f32[::1], f32[::1], i64, i64, i64, b1)),
    ]
    for fn in (_add, _sub, _mul, _max, _min, _second):
        checks.append((at_kernel(fn), (f32[::1], f32[::1], i64[::1], i64[::1], i64[::1])))
    return checks


PTX_CHECKS = _ptx_checks()
