"""Device memory for nnfast's CUDA tensors: a caching allocator over Numba device arrays.

cuMemAlloc and cuMemFree synchronise the device and cost tens of microseconds, so freed
blocks are kept in pools keyed by (dtype, rounded length) and handed out again, as
PyTorch's caching allocator does. Sizes round up to 512 bytes below 1 MiB and to 2 MiB
above, which bounds the waste at about 2x for tiny tensors and 2 MiB for large ones.
`empty_cache()` gives the pooled blocks back to the driver.

Not here: streams (every kernel runs on the default stream, in order), pinned host memory.
"""
import threading

import numpy as np
from numba import cuda

_lock = threading.Lock()
_pools = {}          # (dtype.str, n) -> [device array]
_stats = {"allocated": 0, "peak": 0, "reserved": 0}


def _rounded_bytes(nbytes):
    if nbytes <= (1 << 20):
        return max(512, (nbytes + 511) // 512 * 512)
    return (nbytes + (2 << 20) - 1) // (2 << 20) * (2 << 20)


class Block:
    """One allocation; back to its pool when the last array viewing it goes away."""
    __slots__ = ("buf", "key", "nbytes", "__weakref__")

    def __init__(self, buf, key, nbytes):
        self.buf = buf
        self.key = key
        self.nbytes = nbytes

    def __del__(self):
        try:
            with _lock:
                _stats["allocated"] -= self.nbytes
                _pools.setdefault(self.key, []).append(self.buf)
        except Exception:   # interpreter shutdown: the driver frees everything
            pass


def allocate(n, dtype):
    """A Block holding at least n elements of dtype (uninitialised)."""
    dtype = np.dtype(dtype)
    nbytes = _rounded_bytes(max(1, n) * dtype.itemsize)
    key = (dtype.str, nbytes // dtype.itemsize)
    with _lock:
        pool = _pools.get(key)
        buf = pool.pop() if pool else None
    if buf is None:
        buf = _device_alloc(key[1], dtype, n)
        with _lock:
            _stats["reserved"] += nbytes
    with _lock:
        _stats["allocated"] += nbytes
        if _stats["allocated"] > _stats["peak"]:
            _stats["peak"] = _stats["allocated"]
    return Block(buf, key, nbytes)


def _device_alloc(count, dtype, requested):
    try:
        return cuda.device_array(count, dtype=dtype)
    except Exception as first:   # numba raises CudaAPIError / driver errors; retry uncached
        if "OUT_OF_MEMORY" not in str(first) and "out of memory" not in str(first).lower():
            raise
        empty_cache()
        try:
            return cuda.device_array(count, dtype=dtype)
        except Exception:
            mib = requested * dtype.itemsize / 2 ** 20
            raise RuntimeError(
                f"CUDA out of memory: tried to allocate {mib:.2f} MiB ({requested} x {dtype}); "
                f"nnfast holds {_stats['allocated'] / 2 ** 20:.2f} MiB in tensors. Free "
                "tensors, use a smaller batch, or call nf.cuda.empty_cache()") from None


def empty_cache():
    """Give every pooled (unused) block back to the driver."""
    with _lock:
        freed = sum(len(v) * int(k[1]) * np.dtype(k[0]).itemsize for k, v in _pools.items())
        _pools.clear()
        _stats["reserved"] -= freed


def memory_allocated():
    return _stats["allocated"]


def max_memory_allocated():
    return _stats["peak"]


def memory_reserved():
    return _stats["reserved"]


def reset_peak_memory_stats():
    _stats["peak"] = _stats["allocated"]
