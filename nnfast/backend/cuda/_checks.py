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


def need_all(who, optional=(), dtype=np.float32, **arrays):
    """need() for each named array (the names in `optional` may be None)."""
    for name, a in arrays.items():
        need(who, name, a, dtype, name in optional)
