"""Joining, splitting and rearranging CudaArrays: np.concatenate/stack/append, split/
array_split, flip, roll, repeat, tile, pad (constant mode), diff.

Nearly all of it is views plus strided copies: a result is allocated once and each piece is
written by convert.copy_into into a view of it (copy_into casts dtypes and broadcasts), so
no kernel of its own but diff's subtraction. flip and split return views, as NumPy does.
Shapes, dtypes and errors follow NumPy. Host arrays among the inputs are copied to the device.
Not here: np.pad modes other than 'constant'.
"""
import numbers
import operator

import numba
import numpy as np
from numba import cuda
from numpy.lib.array_utils import normalize_axis_index

from . import _strided
from .array import CudaArray, empty, from_host, implements
from .convert import copy_into, fill

__all__ = []


def _dev(x):
    return x if isinstance(x, CudaArray) else from_host(np.asarray(x))


def _slab(a, axis, start, stop):
    """a[..., start:stop, ...] along `axis` (a view)."""
    return a[(slice(None),) * axis + (slice(start, stop),)]


# ---------------------------------------------------------------------- concatenate & co.
@implements(np.concatenate)
def concatenate(arrays, axis=0, out=None, dtype=None, casting="same_kind"):
    arrays = [_dev(x) for x in arrays]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    if axis is None:
        arrays, axis = [x.reshape(-1) for x in arrays], 0
    first = arrays[0]
    if first.ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = normalize_axis_index(axis, first.ndim)
    for i, x in enumerate(arrays[1:], 1):
        if x.ndim != first.ndim:
            raise ValueError(
                "all the input arrays must have same number of dimensions, but the array at "
                f"index 0 has {first.ndim} dimension(s) and the array at index {i} has "
                f"{x.ndim} dimension(s)")
        for d in range(first.ndim):
            if d != ax and x.shape[d] != first.shape[d]:
                raise ValueError(
                    "all the input array dimensions except for the concatenation axis must "
                    f"match exactly, but along dimension {d}, the array at index 0 has size "
                    f"{first.shape[d]} and the array at index {i} has size {x.shape[d]}")
    shape = list(first.shape)
    shape[ax] = sum(x.shape[ax] for x in arrays)
    shape = tuple(shape)
    if out is not None:
        if tuple(out.shape) != shape:
            raise ValueError("Output array is the wrong shape")
        res = out
    else:
        res = empty(shape, np.dtype(dtype) if dtype is not None
                    else np.result_type(*[x.dtype for x in arrays]))
    at = 0
    for x in arrays:
        n = x.shape[ax]
        if n and x.size:
            copy_into(_slab(res, ax, at, at + n), x)
        at += n
    return res


@implements(np.stack)
def stack(arrays, axis=0, out=None, *, dtype=None, casting="same_kind"):
    arrays = [_dev(x) for x in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    if any(x.shape != arrays[0].shape for x in arrays):
        raise ValueError("all input arrays must have the same shape")
    ax = normalize_axis_index(axis, arrays[0].ndim + 1)
    return concatenate([np.expand_dims(x, ax) for x in arrays], ax, out, dtype)


@implements(np.append)
def append(arr, values, axis=None):
    arr, values = _dev(arr), _dev(values)
    if axis is None:
        return concatenate([arr.reshape(-1), values.reshape(-1)], 0)
    return concatenate([arr, values], axis)


# ---------------------------------------------------------------------- split
@implements(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    ax = normalize_axis_index(axis, ary.ndim)
    n = ary.shape[ax]
    if isinstance(indices_or_sections, numbers.Integral):
        sections = operator.index(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extra = divmod(n, sections)
        sizes = [each + 1] * extra + [each] * (sections - extra)
        bounds = [0]
        for s in sizes:
            bounds.append(bounds[-1] + s)
    else:
        bounds = [0] + [operator.index(i) for i in indices_or_sections] + [n]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        lo = max(min(lo if lo >= 0 else lo + n, n), 0)
        hi = max(min(hi if hi >= 0 else hi + n, n), 0)
        out.append(_slab(ary, ax, lo, max(lo, hi)))
    return out


@implements(np.split)
def split(ary, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, numbers.Integral):
        n = ary.shape[normalize_axis_index(axis, ary.ndim)]
        if indices_or_sections == 0 or n % indices_or_sections:
            raise ValueError("array split does not result in an equal division")
    return array_split(ary, indices_or_sections, axis)


# ---------------------------------------------------------------------- rearranging
def _axes_arg(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    return tuple(normalize_axis_index(a, ndim) for a in axes)


@implements(np.flip)
def flip(m, axis=None):
    shape, est, off = list(m.shape), list(m._est), m._off
    for a in _axes_arg(axis, m.ndim):
        if shape[a]:
            off += (shape[a] - 1) * est[a]
        est[a] = -est[a]
    return m._view(shape, est, off)


@implements(np.roll)
def roll(a, shift, axis=None):
    if axis is None:
        return roll(a.reshape(-1), shift, 0).reshape(a.shape)
    axes = _axes_arg(axis, a.ndim)
    shifts = (shift,) if isinstance(shift, numbers.Integral) else tuple(shift)
    if len(shifts) != len(axes):
        shifts, axes = np.broadcast_arrays(np.asarray(shifts), np.asarray(axes))
    per_axis = [0] * a.ndim
    for s, ax in zip(np.ravel(shifts), np.ravel(axes)):
        per_axis[int(ax)] += int(s)
    res = a
    for ax, s in enumerate(per_axis):
        n = a.shape[ax]
        if n == 0 or s % n == 0:
            continue
        s %= n
        out = empty(a.shape, a.dtype)
        copy_into(_slab(out, ax, s, n), _slab(res, ax, 0, n - s))
        copy_into(_slab(out, ax, 0, s), _slab(res, ax, n - s, n))
        res = out
    return res if res is not a else copy_into(empty(a.shape, a.dtype), a)


@implements(np.repeat)
def repeat(a, repeats, axis=None):
    a = _dev(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    ax = normalize_axis_index(axis, a.ndim)
    n = a.shape[ax]
    if isinstance(repeats, CudaArray):
        repeats = repeats.get()          # the result's size depends on it: a sync
    reps = np.asarray(repeats)
    if reps.dtype.kind not in "iub":
        raise TypeError("Cannot cast array data from dtype('float64') to dtype('int64') "
                        "according to the rule 'safe'")
    if (reps < 0).any():
        raise ValueError("repeats may not contain negative values.")
    if reps.ndim == 0 or reps.size == 1:
        r = int(reps.reshape(-1)[0])
        shape = a.shape[:ax + 1] + (r,) + a.shape[ax + 1:]
        est = a._est[:ax + 1] + (0,) + a._est[ax + 1:]
        out = copy_into(empty(shape, a.dtype), a._view(shape, est))
        return out.reshape(a.shape[:ax] + (n * r,) + a.shape[ax + 1:])
    if reps.shape != (n,):
        raise ValueError(f"operands could not be broadcast together with shape ({n},) "
                         f"{reps.shape}")
    idx = np.repeat(np.arange(n), reps)
    return np.take(a, from_host(idx), axis=ax)


@implements(np.tile)
def tile(A, reps):
    A = _dev(A)
    reps = (reps,) if isinstance(reps, numbers.Integral) else tuple(reps)
    d = max(len(reps), A.ndim)
    shape = (1,) * (d - A.ndim) + A.shape
    est = (0,) * (d - A.ndim) + A._est
    reps = (1,) * (d - len(reps)) + reps
    vshape, vest = [], []
    for r, n, s in zip(reps, shape, est):
        vshape += [r, n]
        vest += [0, s]
    out = copy_into(empty(vshape, A.dtype), A._view(vshape, vest, A._off))
    return out.reshape(tuple(r * n for r, n in zip(reps, shape)))


@implements(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    if mode != "constant":
        raise NotImplementedError(f"np.pad mode={mode!r} on a CUDA array (only 'constant')")
    extra = set(kwargs) - {"constant_values"}
    if extra:
        raise ValueError(f"unsupported keyword arguments for mode 'constant': {extra}")
    nd = array.ndim
    pw = np.asarray(pad_width)
    if pw.dtype.kind not in "iu":
        raise TypeError("`pad_width` must be of integral type.")
    pw = np.broadcast_to(pw, (nd, 2)) if pw.ndim <= 1 or pw.shape != (nd, 2) else pw
    if (pw < 0).any():
        raise ValueError("index can't contain negative values")
    cv = np.broadcast_to(np.asarray(kwargs.get("constant_values", 0)), (nd, 2))
    shape = tuple(int(n + b + e) for n, (b, e) in zip(array.shape, pw))
    out = empty(shape, array.dtype)
    center = out[tuple(slice(int(b), int(b) + n) for n, (b, _) in zip(array.shape, pw))]
    if array.size:
        copy_into(center, array)
    # NumPy's order: axis by axis, each pad slab over the whole extent of the others
    for ax in range(nd):
        b, e = int(pw[ax, 0]), int(pw[ax, 1])
        if b:
            fill(_slab(out, ax, 0, b), cv[ax, 0])
        if e:
            fill(_slab(out, ax, shape[ax] - e, shape[ax]), cv[ax, 1])
    return out


# ---------------------------------------------------------------------- diff
@cuda.jit(device=True, inline=True)
def _sub(a, b):
    return a - b


@cuda.jit(device=True, inline=True)
def _ne(a, b):
    return a != b


@implements(np.diff)
def diff(a, n=1, axis=-1, prepend=np._NoValue, append=np._NoValue):
    if n == 0:
        return a
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    if a.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    ax = normalize_axis_index(axis, a.ndim)
    parts = []
    for extra in (prepend, append):
        if extra is np._NoValue:
            parts.append(None)
            continue
        x = _dev(extra)
        if x.ndim == 0:
            shape = list(a.shape)
            shape[ax] = 1
            x = np.broadcast_to(x, tuple(shape))
        parts.append(x)
    if parts[0] is not None or parts[1] is not None:
        a = concatenate([p for p in (parts[0], a, parts[1]) if p is not None], ax)
    fn = _ne if a.dtype == np.bool_ else _sub
    for _ in range(n):
        m = a.shape[ax]
        shape = a.shape[:ax] + (max(m - 1, 0),) + a.shape[ax + 1:]
        out = empty(shape, a.dtype)
        if out.size:
            _strided.run(_strided.map_kernel(fn, 2), out, _slab(a, ax, 1, m),
                         _slab(a, ax, 0, m - 1))
        a = out
    return a


# ---------------------------------------------------------------------- PTX checks
def _ptx_checks():
    f32, i64, b1 = numba.float32, numba.int64, numba.boolean
    tup = numba.types.UniTuple(i64, 2)
    return [(_strided.map_kernel(fn, 2), (t[::1], i64, tup, tup, i64, t[::1], i64, tup,
                                          t[::1], i64, tup))
            for fn, t in ((_sub, f32), (_sub, i64), (_ne, b1))]


PTX_CHECKS = _ptx_checks()
