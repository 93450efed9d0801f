"""nnfast.cuda — what PyTorch code asks of torch.cuda before choosing a device.

nnfast has no GPU backend yet, so every answer is that of a machine without CUDA:
`is_available()` is False, `device_count()` 0, seeding is accepted and does nothing.
Functions that need a GPU raise RuntimeError, as torch does without one.
"""

__all__ = ["is_available", "device_count", "manual_seed", "manual_seed_all", "seed",
           "seed_all", "synchronize", "empty_cache", "current_device", "set_device",
           "get_device_name", "memory_allocated", "max_memory_allocated", "is_initialized",
           "is_bf16_supported"]


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def manual_seed(seed):
    """Accepted for PyTorch code that seeds every generator; nnfast has no CUDA one."""
    int(seed)


def manual_seed_all(seed):
    int(seed)


def seed():
    pass


def seed_all():
    pass


def empty_cache():
    pass


def is_bf16_supported(including_emulation=True):
    return False


def _no_cuda(*args, **kwargs):
    raise RuntimeError("nnfast has no CUDA backend yet (nnfast.cuda.is_available() is False)")


synchronize = current_device = set_device = get_device_name = _no_cuda
memory_allocated = max_memory_allocated = _no_cuda
