"""Sorting and searching of CudaArrays: np.sort/argsort (stable), np.unique (also along an
axis), np.bincount, np.searchsorted, np.isin; and the stable row sort that index.py's `ufunc.at`
builds on.

The sort is a merge sort by passes over runs of width 1, 2, 4, ...: each element finds its
place in the merged pair of runs by a binary search in the other run (ties: the left run
first), so every pass is one race-free, deterministic launch over all elements, rows of a
batch side by side. NaN sorts last, as in NumPy. bincount and unique work on sorted values:
each bin (each run of equal values) is read by one thread, in sorted order, so weighted
counts come out the same every run. bincount's length needs max(x) on the host: a sync.
Not here: kind= (every sort is stable), order=, sorter-free searchsorted of n-d arrays.
"""
import numba
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index

from . import _launch
from .array import CudaArray, empty, from_host, full, implements
from .convert import copy_into
from .index import flat_nonzero, getitem, take
from .reduce import isnan

__all__ = []

grid = _launch.grid


# ---------------------------------------------------------------------- kernels
@cuda.jit(device=True, inline=True)
def _lt(a, b):
    """NumPy's sort order: NaN after everything."""
    return a < b or (isnan(b) and not isnan(a))


@cuda.jit
def _merge_pass(kin, iin, kout, iout, total, n, width):
    # element i of run r lands at its rank in the merge of runs 2q and 2q+1: its index in
    # its own run plus the count of the other run's elements before it (ties: left first)
    p = cuda.grid(1)
    while p < total:
        row = p // n
        base = row * n
        i = p - base
        run = i // width
        start = (run // 2) * 2 * width
        key = kin[p]
        if run % 2 == 0:
            lo = min(start + width, n)
            hi = min(start + 2 * width, n)
            own = i - start
            l, h = lo, hi
            while l < h:
                mid = (l + h) // 2
                if _lt(kin[base + mid], key):
                    l = mid + 1
                else:
                    h = mid
        else:
            lo = start
            hi = start + width
            own = i - hi
            l, h = lo, hi
            while l < h:
                mid = (l + h) // 2
                if not _lt(key, kin[base + mid]):
                    l = mid + 1
                else:
                    h = mid
        d = base + start + own + (l - lo)
        kout[d] = key
        iout[d] = iin[p]
        p += cuda.gridsize(1)


@cuda.jit
def _iota_rows(out, total, n):
    p = cuda.grid(1)
    while p < total:
        out[p] = p % n
        p += cuda.gridsize(1)


@cuda.jit
def _heads(keys, flags, equal_nan):
    # flags[k] = 1 where a new run of equal keys starts (NaNs equal when equal_nan)
    k = cuda.grid(1)
    while k < keys.size:
        if k == 0:
            flags[k] = 1
        else:
            a = keys[k]
            b = keys[k - 1]
            flags[k] = 0 if (a == b or (equal_nan and isnan(a) and isnan(b))) else 1
        k += cuda.gridsize(1)


@cuda.jit
def _bin_search(sorted_vals, queries, right, out):
    # out[q] = number of sorted values < query (<= when right)
    n = sorted_vals.size
    q = cuda.grid(1)
    while q < queries.size:
        key = queries[q]
        l, h = 0, n
        while l < h:
            mid = (l + h) // 2
            x = sorted_vals[mid]
            if (not _lt(key, x)) if right else _lt(x, key):
                l = mid + 1
            else:
                h = mid
        out[q] = l
        q += cuda.gridsize(1)


@cuda.jit
def _bin_counts(sorted_vals, perm, weights, use_w, out):
    # out[v] = count (or sum of weights, in sorted order) of the values equal to v
    n = sorted_vals.size
    v = cuda.grid(1)
    while v < out.size:
        l, h = 0, n
        while l < h:
            mid = (l + h) // 2
            if sorted_vals[mid] < v:
                l = mid + 1
            else:
                h = mid
        acc = out[v] - out[v]
        k = l
        while k < n and sorted_vals[k] == v:
            acc += weights[perm[k]] if use_w else 1
            k += 1
        out[v] = acc
        v += cuda.gridsize(1)


@cuda.jit
def _row_heads(rows, n, k, flags, equal_nan):
    # flags[r] = 1 where sorted row r (of k elements) differs from row r - 1
    r = cuda.grid(1)
    while r < n:
        new = r == 0
        if not new:
            for j in range(k):
                a = rows[r * k + j]
                b = rows[(r - 1) * k + j]
                if not (a == b or (equal_nan and isnan(a) and isnan(b))):
                    new = True
                    break
        flags[r] = 1 if new else 0
        r += cuda.gridsize(1)


@cuda.jit
def _run_lengths(heads, n, out):
    h = cuda.grid(1)
    while h < heads.size:
        out[h] = (heads[h + 1] if h + 1 < heads.size else n) - heads[h]
        h += cuda.gridsize(1)


@cuda.jit
def _run_ids(heads, perm, out):
    # out[perm[k]] = the run that sorted position k belongs to (last head <= k)
    n = perm.size
    k = cuda.grid(1)
    while k < n:
        l, h = 0, heads.size
        while l < h:
            mid = (l + h) // 2
            if heads[mid] <= k:
                l = mid + 1
            else:
                h = mid
        out[perm[k]] = l - 1
        k += cuda.gridsize(1)


# ---------------------------------------------------------------------- sorting
def argsort_rows(rows, want_keys=False):
    """Stable ascending sort of each row of contiguous (M, N) `rows`: (perm, sorted keys)."""
    m, n = rows.shape
    total = m * n
    k0 = rows.reshape(-1)
    if k0.dtype == np.bool_:
        k0 = copy_into(empty((total,), np.uint8), k0)
    ka, kb = empty((total,), k0.dtype), empty((total,), k0.dtype)
    ia, ib = empty((total,), np.int64), empty((total,), np.int64)
    if total:
        copy_into(ka, k0)
        _iota_rows[grid(total)](ia.flat, total, n)
        width = 1
        while width < n:
            _merge_pass[grid(total)](ka.flat, ia.flat, kb.flat, ib.flat, total, n, width)
            ka, kb, ia, ib = kb, ka, ib, ia
            width *= 2
    keys = ka.reshape(m, n)
    if want_keys and rows.dtype == np.bool_:
        keys = copy_into(empty((m, n), np.bool_), keys)
    return ia.reshape(m, n), keys


def _along_last(a, axis):
    """(contiguous rows with `axis` last, function putting a row result back)."""
    from .reduce import as_rows
    if axis is None:
        a, axis = a.reshape(-1), 0
    ax = normalize_axis_index(axis, a.ndim)
    rows, kept = as_rows(a, (ax,))

    def back(r):
        r = r.reshape(kept + (a.shape[ax],))
        if ax == a.ndim - 1:
            return r
        order = list(range(a.ndim - 1))
        order.insert(ax, a.ndim - 1)
        r = r.transpose(order)
        return copy_into(empty(r.shape, r.dtype), r)
    return rows, back


@implements(np.argsort)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise NotImplementedError("argsort with order=")
    rows, back = _along_last(a, axis)
    return back(argsort_rows(rows)[0])


@implements(np.sort)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    if order is not None:
        raise NotImplementedError("sort with order=")
    rows, back = _along_last(a, axis)
    return back(argsort_rows(rows, want_keys=True)[1])


# ---------------------------------------------------------------------- counting, searching, unique
@implements(np.bincount)
def bincount(x, weights=None, minlength=0):
    if x.ndim != 1:
        raise ValueError("object too deep for desired array")
    if x.dtype.kind not in "iub":
        raise TypeError("Cannot cast array data from dtype('float64') to dtype('int64') "
                        "according to the rule 'safe'")
    if minlength < 0:
        raise ValueError("'minlength' must not be negative")
    n = x.size
    length = minlength
    if n:
        lo, hi = int(np.min(x).get()), int(np.max(x).get())
        if lo < 0:
            raise ValueError("'list' argument must have no negative elements")
        length = max(hi + 1, minlength)
    xs = x if x.dtype == np.int64 else copy_into(empty(x.shape, np.int64), x)
    perm, s = argsort_rows(xs.reshape(1, n), want_keys=True)
    if weights is not None:
        if weights.shape != x.shape:
            raise ValueError("The weights and list don't have the same length.")
        w = copy_into(empty((n,), np.float64), weights)
        out = full((length,), 0, np.float64)
    else:
        w = empty((1,), np.int64)
        out = full((length,), 0, np.int64)
    if length:
        _bin_counts[grid(length)](s.reshape(-1).flat, perm.reshape(-1).flat, w.flat,
                                  weights is not None, out.flat)
    return out


@implements(np.searchsorted)
def searchsorted(a, v, side="left", sorter=None):
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right' (got {side!r})")
    if a.ndim != 1:
        raise ValueError("object too deep for desired array")
    if sorter is not None:
        a = take(a, sorter)
    q = v if isinstance(v, CudaArray) else from_host(np.asarray(v))
    dt = np.result_type(a.dtype, q.dtype)
    sa = a if a.dtype == dt and a.is_contiguous else copy_into(empty(a.shape, dt), a)
    sq = copy_into(empty(q.shape, dt), q)
    out = empty(q.shape, np.int64)
    if out.size:
        _bin_search[grid(out.size)](sa.flat, sq.reshape(-1).flat, side == "right",
                                    out.reshape(-1).flat)
    return out


def _sorted_runs(ar, axis, equal_nan):
    """(sorted items, perm, heads): the items of `ar` (its elements, or its slices along
    `axis`, as contiguous (n, k) rows) stably sorted, perm[i] the original position of
    sorted item i, heads the sorted positions where a run of equal items starts."""
    if axis is None:
        rows = ar.reshape(-1, 1)
    else:
        rows = np.moveaxis(ar, axis, 0)
        rows = copy_into(empty(rows.shape, ar.dtype), rows).reshape(rows.shape[0], -1)
    n, k = rows.shape
    if k == 1:
        perm, s = argsort_rows(rows.reshape(1, n), want_keys=True)
        perm, s = perm.reshape(-1), s.reshape(n, 1)
    else:
        # lexicographic: stable sorts by each column, the last one first
        perm = from_host(np.arange(n, dtype=np.int64))
        for j in range(k - 1, -1, -1):
            col = getitem(rows, (perm, j))
            p, _ = argsort_rows(col.reshape(1, n))
            perm = getitem(perm, p.reshape(-1))
        s = getitem(rows, perm) if n else rows
    flags = empty((n,), np.uint8)
    if n:
        _row_heads[grid(n)](s.reshape(-1).flat, n, k, flags.flat, bool(equal_nan))
    return s, perm, flat_nonzero(flags)


@implements(np.unique)
def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None,
           *, equal_nan=True, sorted=True):
    if axis is not None:
        axis = normalize_axis_index(axis, ar.ndim)
        if ar.size == 0 and ar.shape[axis]:
            raise NotImplementedError("np.unique along an axis of empty slices")
    s, perm, heads = _sorted_runs(ar, axis, equal_nan)
    n, nu = perm.size, heads.size
    u = getitem(s, heads)
    if axis is None:
        u = u.reshape(-1)
    else:
        u = u.reshape((nu,) + tuple(np.delete(ar.shape, axis)))
        u = np.moveaxis(u, 0, axis)
        u = copy_into(empty(u.shape, u.dtype), u)
    res = [u]
    if return_index:
        res.append(getitem(perm, heads))
    if return_inverse:
        inv = empty((n,), np.int64)
        if n:
            _run_ids[grid(n)](heads.flat, perm.flat, inv.flat)
        res.append(inv.reshape(ar.shape) if axis is None else inv)
    if return_counts:
        cnt = empty((nu,), np.int64)
        if nu:
            _run_lengths[grid(nu)](heads.flat, n, cnt.flat)
        res.append(cnt)
    return res[0] if len(res) == 1 else tuple(res)


@cuda.jit
def _member(sorted_vals, queries, invert, out):
    # out[q] = queries[q] is among sorted_vals (by ==: NaN never is), negated by invert
    n = sorted_vals.size
    q = cuda.grid(1)
    while q < queries.size:
        key = queries[q]
        l, h = 0, n
        while l < h:
            mid = (l + h) // 2
            if _lt(sorted_vals[mid], key):
                l = mid + 1
            else:
                h = mid
        found = l < n and sorted_vals[l] == key
        out[q] = found != invert
        q += cuda.gridsize(1)


@implements(np.isin)
def isin(element, test_elements, assume_unique=False, invert=False, *, kind=None):
    e = element if isinstance(element, CudaArray) else from_host(np.asarray(element))
    t = test_elements if isinstance(test_elements, CudaArray) else \
        from_host(np.asarray(test_elements))
    dt = np.result_type(e.dtype, t.dtype)
    tf = copy_into(empty((t.size,), dt), t.reshape(-1))
    _, st = argsort_rows(tf.reshape(1, t.size), want_keys=True)
    ec = copy_into(empty(e.shape, dt), e)
    out = empty(e.shape, np.bool_)
    if out.size:
        _member[grid(out.size)](st.reshape(-1).flat, ec.reshape(-1).flat, bool(invert),
                                out.reshape(-1).flat)
    return out


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, f64, i64, u8, b1 = numba.float32, numba.float64, numba.int64, numba.uint8, numba.boolean
    return [
        (_merge_pass, (f32[::1], i64[::1], f32[::1], i64[::1], i64, i64, i64)),
        (_merge_pass, (i64[::1], i64[::1], i64[::1], i64[::1], i64, i64, i64)),
        (_iota_rows, (i64[::1], i64, i64)),
        (_heads, (i64[::1], u8[::1], b1)),
        (_heads, (f32[::1], u8[::1], b1)),
        (_bin_search, (f32[::1], f32[::1], b1, i64[::1])),
        (_bin_counts, (i64[::1], i64[::1], f64[::1], b1, f64[::1])),
        (_bin_counts, (i64[::1], i64[::1], i64[::1], b1, i64[::1])),
        (_row_heads, (f32[::1], i64, i64, u8[::1], b1)),
        (_run_lengths, (i64[::1], i64, i64[::1])),
        (_run_ids, (i64[::1], i64[::1], i64[::1])),
        (_member, (f32[::1], f32[::1], b1, b1[::1])),
        (_member, (i64[::1], i64[::1], b1, b1[::1])),
    ]


PTX_CHECKS = _ptx_checks()
