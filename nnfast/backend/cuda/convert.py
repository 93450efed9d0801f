"""Copies, conversions and fills of CudaArrays: the hooks array.py calls for `.copy()`,
`np.ascontiguousarray`, `.astype()` and `.fill()`; strided and broadcast sources allowed."""
import numpy as np
from numba import cuda

from . import _strided
from .array import HOOKS, empty

__all__ = []


@cuda.jit(device=True, inline=True)
def _identity(x):
    return x


@cuda.jit(device=True, inline=True)
def _truth(x):
    return x != 0


@cuda.jit(device=True, inline=True)
def _const(v):
    return v


def copy_into(out, src):
    """out[...] = src (src broadcast to out's shape; dtypes converted as NumPy casts)."""
    if src.dtype != np.bool_ and out.dtype == np.bool_:
        _strided.run(_strided.map_kernel(_truth, 1), out, src)
    else:
        _strided.run(_strided.map_kernel(_identity, 1), out, src)
    return out


def astype(a, dtype):
    return copy_into(empty(a.shape, dtype), a)


def fill(a, value):
    v = np.asarray(value).astype(a.dtype)[()]
    _strided.run(_strided.map_kernel(_const, 0), a, v)


HOOKS["copy"] = copy_into
HOOKS["astype"] = astype
HOOKS["fill"] = fill


def _ptx_checks():
    from numba import types
    i64 = types.int64
    f32 = types.Array(types.float32, 1, "C")
    checks = []
    for nd in (1, 3):
        tup = types.UniTuple(i64, nd)
        checks.append((_strided.map_kernel(_identity, 1),
                       (f32, i64, tup, tup, i64, types.Array(types.int64, 1, "C"), i64, tup)))
        checks.append((_strided.map_kernel(_const, 0), (f32, i64, tup, tup, i64, types.float32)))
    return checks


PTX_CHECKS = _ptx_checks()
