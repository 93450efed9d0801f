"""The argument checks every CUDA table function makes before it launches anything.

The `_C` wrappers get theirs from Cython's typed memoryviews (`float[::1]`: a buffer, of that
dtype, C-contiguous; `not None`); a Numba kernel checks nothing, and under a real GPU a wrong
array reads or writes out of bounds, while a host ndarray is silently copied to the device
and back (a hidden synchronisation, and the "output" lands in a host copy). `need` is the
memoryview's check for one argument, naming it, in attribute reads only (no device sync).

Not here: sizes (each family knows its own), index values (device arrays are not read back:
the kernels clamp or skip a bad index instead, see each family).
"""
import numpy as np

from .array import CudaArray


def need(who, name, a, dtype=np.float32, optional=False):
    """a, checked to be a contiguous CudaArray of dtype (None passes when optional)."""
    if a is None:
        if optional:
            return None
        raise TypeError(f"{who}: {name} is required, got None")
    if not isinstance(a, CudaArray):
        raise TypeError(f"{who}: {name} must be a CUDA array, got {type(a).__name__}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{who}: {name} must be {np.dtype(dtype).name}, got dtype {a.dtype}")
    if not a.is_contiguous:
        raise ValueError(f"{who}: {name} must be contiguous")
    return a


def need_flat(who, name, a, dtype=np.float32):
    """need(), then a's flat device view (what the grid-stride kernels take)."""
    return need(who, name, a, dtype).flat


def need_rank(who, a, ndim, dtype=np.float32):
    """a, checked to be a contiguous ndim-D CudaArray of dtype (who names the argument:
    the check of a fixed-rank memoryview such as float[:, :, ::1])."""
    if not isinstance(a, CudaArray):
        raise TypeError(f"{who} must be a CUDA array, got {type(a).__name__}")
    if a.dtype != dtype or not a.is_contiguous or a.ndim != ndim:
        raise ValueError(f"{who} must be a contiguous {ndim}-D {np.dtype(dtype).name} array")
    return a


def need_planes(who, a, dtype=np.float32):
    """(flat view, (P, H, W)) of a stack of planes, after need_rank(who, a, 3, dtype) (the
    layout pooling and resampling kernels take)."""
    need_rank(who, a, 3, dtype)
    return a.flat, a.shape


def need_all(who, optional=(), dtype=np.float32, **arrays):
    """need() for each named array (the names in `optional` may be None)."""
    for name, a in arrays.items():
        need(who, name, a, dtype, name in optional)


def _span(a):
    """(block, first, end) of a contiguous CudaArray's elements."""
    return a._block, a._off, a._off + a.size


def no_overlap(who, writes, reads):
    """Raise if an array a kernel writes shares memory with one it reads (or another it
    writes): gathers and stencils (conv, pooling, resampling, embedding) read other
    threads' elements, so an overlap gives wrong numbers that depend on the schedule.
    writes, reads: {name: CudaArray or None}, contiguous (checked by need first)."""
    named = [(n, a, True) for n, a in writes.items() if a is not None and a.size]
    named += [(n, a, False) for n, a in reads.items() if a is not None and a.size]
    for i, (n1, a1, w1) in enumerate(named):
        b1, lo1, hi1 = _span(a1)
        for n2, a2, w2 in named[i + 1:]:
            b2, lo2, hi2 = _span(a2)
            if (w1 or w2) and b1 is b2 and lo1 < hi2 and lo2 < hi1:
                raise ValueError(f"{who}: {n1} and {n2} share memory (the kernel reads one "
                                 "while it writes the other)")
