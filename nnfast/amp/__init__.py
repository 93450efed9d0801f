"""nnfast.amp: automatic mixed precision, as torch.amp: `nf.autocast("cpu", dtype=nf.bfloat16)`.

Inside the block (or decorated function) the matmul-backed ops of CPU tensors (Linear,
matmul/mm/bmm/addmm/baddbmm and the layers built on them) multiply bfloat16-rounded operands
with fp32 accumulation, on the bf16 GEMM (csrc/gemm/: vdpbf16ps where the CPU has
AVX512-BF16, else operands rounded while packing and the fp32 tile). Their backward runs the
same way, whatever the mode when backward() is called, as PyTorch's does. Everything else
(reductions, losses, norms, softmax, optimizers) stays fp32, and so do parameters, their
gradients and optimizer state: the fp32 weights are the master copy.

Where nnfast differs from PyTorch: it has no bfloat16 tensors, so an autocast op's output is
a float32 tensor holding the fp32 accumulation (PyTorch rounds it to a bfloat16 tensor): the
numbers agree to bfloat16's precision and nnfast's are the more accurate. float16 autocast is
not implemented (it raises), nor is autocast on the CUDA backend (it warns and stays off, as
PyTorch does on a machine without CUDA). The mode is per thread, as PyTorch's.
"""
import functools
import threading
import warnings

from ..tensor import bfloat16, float16

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "get_autocast_dtype"]


class _ThreadState(threading.local):
    cpu_bf16 = False     # the one lower-precision mode nnfast has

    def __init__(self):
        self.saved = []


_state = _ThreadState()
# Set (never unset) once any thread enters autocast: until then the matmul ops skip the
# per-thread check.
AUTOCAST_SEEN = [False]


def lowp(table):
    """Whether ops on `table`'s device run in bf16 now (this thread, autocast on)."""
    return AUTOCAST_SEEN[0] and _state.cpu_bf16 and table.name == "cpu"


def _dtype_name(dtype):
    return getattr(dtype, "name", None) or str(getattr(dtype, "__name__", dtype))


class autocast:
    """torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None): a context
    manager and decorator. device_type "cpu" takes dtype bfloat16 (the default); "cuda" is
    accepted and stays off with a warning (nnfast's CUDA kernels are fp32 only)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = device_type
        self.fast_dtype = dtype if dtype is not None else \
            (bfloat16 if device_type == "cpu" else float16)
        self._enabled = bool(enabled)
        if device_type == "cpu":
            if self._enabled and _dtype_name(self.fast_dtype) != "bfloat16":
                raise RuntimeError(
                    f"nnfast autocast on cpu supports dtype nnfast.bfloat16; "
                    f"{_dtype_name(self.fast_dtype)} autocast (torch.float16 on the CPU) is not "
                    "implemented")
        elif device_type == "cuda":
            if self._enabled:
                warnings.warn("nnfast's CUDA backend has no bfloat16/float16 kernels: "
                              "autocast('cuda') is disabled", UserWarning, stacklevel=2)
            self._enabled = False
        else:
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}' (nnfast has 'cpu' and 'cuda')")

    def __enter__(self):
        _state.saved.append(_state.cpu_bf16)
        if self.device == "cpu":
            _state.cpu_bf16 = self._enabled
            if self._enabled:
                AUTOCAST_SEEN[0] = True
        return self

    def __exit__(self, *exc):
        _state.cpu_bf16 = _state.saved.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device, self.fast_dtype, self._enabled):
                return fn(*args, **kwargs)
        return wrapper


def is_autocast_available(device_type):
    return device_type == "cpu"


def is_autocast_enabled(device_type="cuda"):
    """torch.is_autocast_enabled(device_type): this thread's mode for that device."""
    return device_type == "cpu" and _state.cpu_bf16


def get_autocast_dtype(device_type):
    return bfloat16 if device_type == "cpu" else float16


def is_autocast_cpu_enabled():
    return _state.cpu_bf16


def get_autocast_cpu_dtype():
    return bfloat16
