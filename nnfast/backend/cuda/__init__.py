"""The CUDA kernel table: Numba CUDA kernels on CudaArray storage.

Same names and signatures as the CPU table (nnfast/backend/cpu.py, i.e. nnfast._C), with
CudaArray wherever the CPU takes an ndarray. A kernel that returns a Python float on the CPU
(a loss total, a sum of squares) returns a 0-d float32 CudaArray here, so that no op waits
for the device; `scalar()` makes either into this device's 0-d array.

Each family module lists its kernels in `__all__`; every call records its name first so that
an asynchronous kernel error, surfacing at the next synchronisation, names the op.
Importing this module imports Numba (nnfast itself never does until a CUDA tensor is made).
"""
import importlib

import numpy as np

try:
    from numba import cuda as _nb_cuda
except ImportError as e:   # pragma: no cover - depends on the install
    raise RuntimeError("nnfast's CUDA backend needs Numba: pip install 'nnfast[cuda]'") from e

from . import _launch, memory
from .array import (CudaArray, ascontiguous, copy, empty, empty_like, from_host, full,
                    to_host, zeros, zeros_like)

name = "cuda"
asarray = None   # set below: host data -> device array
FAMILIES = ("convert", "elementwise", "elementwise_math", "elementwise_funcs", "reduce", "scan",
            "index", "sort", "join", "gemm", "act", "dropout", "loss", "optim", "norm", "conv",
            "pool", "upsample", "embedding", "rnn", "fused_mlp", "ops_extra")


def _recorded(op, fn):
    record = _launch.record

    def call(*args, **kwargs):
        record(op)
        return fn(*args, **kwargs)
    call.__name__ = op
    call.__doc__ = fn.__doc__
    call.__wrapped__ = fn
    return call


def _load_families():
    g = globals()
    for fam in FAMILIES:
        try:
            mod = importlib.import_module(f"{__name__}.{fam}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{fam}":
                raise
            continue
        for op in getattr(mod, "__all__", ()):
            g[op] = _recorded(op, getattr(mod, op))


def _asarray(x, dtype=None):
    if isinstance(x, CudaArray):
        return x if dtype is None or np.dtype(dtype) == x.dtype else x.astype(dtype)
    return from_host(np.asarray(x, dtype=dtype))


asarray = _asarray


def ones(shape, dtype=np.float32):
    return full(shape, 1, dtype)


def scalar(value, dtype=np.float32):
    """A kernel's scalar result as a 0-d device array (a 0-d CudaArray passes through)."""
    if isinstance(value, CudaArray):
        v = value.reshape(())
        return v if v.dtype == np.dtype(dtype) else v.astype(dtype)
    return from_host(np.asarray(value, dtype=dtype))


def synchronize():
    """Wait for every launched kernel; an error a kernel raised names the op it belongs to."""
    try:
        _nb_cuda.synchronize()
    except Exception as e:
        op = _launch.last_op()
        raise RuntimeError(f"CUDA error in or after {op or 'an nnfast kernel'}: {e}") from e


class MissingKernel(NotImplementedError, AttributeError):
    """No CUDA kernel by that name (an AttributeError too, so hasattr() and imports work)."""


def __getattr__(attr):
    if attr.startswith("_"):
        raise AttributeError(attr)
    raise MissingKernel(f"nnfast's CUDA backend has no kernel '{attr}' yet; move the "
                              "tensors to the CPU (.cpu()) for this op")


_load_families()
