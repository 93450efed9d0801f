"""nnfast.backend — one kernel table per device, found from the arrays an op is given.

A functional validates its inputs, asks `table_of(...)` for the table of their device and
calls `K.<kernel>(out, ...)` on it; it never names `_C` or Numba. The tables:

- `cpu`: today's compiled kernels (`nnfast._C`) plus NumPy's allocators;
- `cuda`: Numba CUDA kernels on `CudaArray` storage (nnfast/backend/cuda/), imported only
  when a CUDA tensor is first made, so importing nnfast never imports Numba.

Each table has the same names with the same signatures (outputs first), so an op reads the
same on every device. A table is found from the storage's type: one dict lookup.
"""
import numpy as np

from ._device_array import DeviceArray
from . import cpu

__all__ = ["table_of", "get", "cpu", "DeviceArray", "contiguous", "move"]

_BY_TYPE = {np.ndarray: cpu}   # storage type -> table (CudaArray added when cuda loads)
_BY_NAME = {"cpu": cpu}


def _device_name(arr):
    return "cpu" if isinstance(arr, np.ndarray) else str(arr.device)


_ND = np.ndarray
_ascontiguousarray = np.ascontiguousarray


def table_of(*arrays):
    """The kernel table of the arrays' device (None entries are skipped).

    Raises PyTorch's RuntimeError when they live on different devices."""
    for a in arrays:   # the common case, all on the host, in as few steps as possible
        if a is not None and a.__class__ is not _ND:
            return _table_of(arrays)
    return cpu


def _table_of(arrays):
    k = None
    first = None
    for a in arrays:
        if a is None:
            continue
        t = _BY_TYPE.get(type(a))
        if t is None:
            if not isinstance(a, DeviceArray):   # NumPy scalars, subclasses: host arrays
                t = cpu
            else:
                t = _BY_TYPE[type(a)] = _load(a.device.type)
        if k is None:
            k, first = t, a
        elif t is not k or (t is not cpu and a.device != first.device):
            raise RuntimeError(
                "Expected all tensors to be on the same device, but found at least two "
                f"devices, {_device_name(first)} and {_device_name(a)}!")
    return cpu if k is None else k


def _load(name):
    if name == "cuda":
        from . import cuda as table
        _BY_TYPE[table.CudaArray] = table
        _BY_NAME["cuda"] = table
        return table
    raise RuntimeError(f"nnfast has no {name} backend")


def get(device):
    """The table of a device (an nf.device, or its name)."""
    name = device if isinstance(device, str) else device.type
    t = _BY_NAME.get(name)
    return t if t is not None else _load(name)


def move(arr, dev):
    """arr on device dev (an nf.device): arr itself when it is there, else a copy."""
    on_host = arr.__class__ is _ND or not isinstance(arr, DeviceArray)
    if dev.type == ("cpu" if on_host else arr.device.type):
        return arr
    if dev.type == "cpu":
        return arr.get()
    return get(dev).from_host(arr if on_host else arr.get())


def contiguous(a, dtype=None):
    """np.ascontiguousarray on any device (NumPy's own does not dispatch to device arrays)."""
    if a.__class__ is _ND or not isinstance(a, DeviceArray):
        return _ascontiguousarray(a, dtype)
    return table_of(a).ascontiguous(a, dtype)
