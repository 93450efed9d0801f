"""nnfast.cuda — torch.cuda's questions and memory statistics, answered by the Numba backend.

`is_available()` imports Numba on first call (nnfast itself never does); it is True when
numba-cuda finds a GPU, or runs its simulator (NUMBA_ENABLE_CUDASIM=1, used by the tests).
Without Numba or a GPU every answer is that of a machine without CUDA, and the functions
that need a GPU raise RuntimeError, as torch does.

One device (cuda:0) is used; more GPUs are not yet spread over.
"""

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "seed",
           "seed_all", "synchronize", "empty_cache", "current_device", "set_device",
           "get_device_name", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "reset_peak_memory_stats", "is_initialized", "is_bf16_supported", "init"]

_available = []


def is_available():
    if not _available:
        try:
            from numba import cuda
            ok = bool(cuda.is_available())
        except Exception:   # no numba, no driver, broken toolkit: no CUDA
            ok = False
        _available.append(ok)
    return _available[0]


def _backend(what):
    if not is_available():
        raise RuntimeError(f"nnfast.cuda.{what}(): no CUDA GPU is available (install "
                           "'nnfast[cuda]' on a machine with an NVIDIA GPU and driver)")
    from .. import backend
    return backend.get("cuda")


def device_count():
    if not is_available():
        return 0
    from numba import config, cuda
    return 1 if config.ENABLE_CUDASIM else max(1, len(cuda.gpus))


def is_initialized():
    return is_available()


def init():
    _backend("init")


def manual_seed(seed):
    """Accepted for PyTorch code that seeds every generator: nnfast's CUDA kernels draw their
    seeds from the one global generator (nf.manual_seed), so CUDA and CPU runs match."""
    int(seed)


def manual_seed_all(seed):
    int(seed)


def seed():
    pass


def seed_all():
    pass


def synchronize(device=None):
    _backend("synchronize").synchronize()


def empty_cache():
    if is_available():
        _backend("empty_cache").memory.empty_cache()


def memory_allocated(device=None):
    """Bytes held by live nnfast CUDA tensors (rounded up to the allocator's block sizes)."""
    return _backend("memory_allocated").memory.memory_allocated()


def max_memory_allocated(device=None):
    return _backend("max_memory_allocated").memory.max_memory_allocated()


def memory_reserved(device=None):
    return _backend("memory_reserved").memory.memory_reserved()


def reset_peak_memory_stats(device=None):
    _backend("reset_peak_memory_stats").memory.reset_peak_memory_stats()


def current_device():
    _backend("current_device")
    return 0


def set_device(device):
    from ..device import as_device
    d = as_device(device) if not isinstance(device, int) else None
    index = device if isinstance(device, int) else (d.index or 0)
    _backend("set_device")
    if index != 0:
        raise RuntimeError(f"nnfast.cuda.set_device({device!r}): nnfast uses one GPU (cuda:0)")


def get_device_name(device=None):
    _backend("get_device_name")
    from numba import config, cuda
    if config.ENABLE_CUDASIM:
        return "Numba CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def is_bf16_supported(including_emulation=True):
    return False
