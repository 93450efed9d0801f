"""nnfast.amp: automatic mixed precision, as torch.amp: `nf.autocast("cpu", dtype=nf.bfloat16)`
or `dtype=nf.float16`.

Inside the block (or decorated function) the matmul-backed ops of CPU tensors (Linear,
matmul/mm/bmm/addmm/baddbmm and the layers built on them) multiply bfloat16-rounded operands
with fp32 accumulation, on the bf16 GEMM (csrc/gemm/: vdpbf16ps where the CPU has
AVX512-BF16, else operands rounded while packing and the fp32 tile); under float16, operands
rounded to IEEE halves while packing (beyond 65504 they become inf, as torch's do) and the
fp32 tile. Their backward runs the same way, whatever the mode when backward() is called,
as PyTorch's does. Everything else
(reductions, losses, norms, softmax, optimizers) stays fp32, and so do parameters, their
gradients and optimizer state: the fp32 weights are the master copy.

Where nnfast differs from PyTorch: an autocast op's output is a float32 tensor holding the
fp32 accumulation (PyTorch rounds it to a bfloat16 or float16 tensor; nnfast has no
bfloat16 tensors, and keeps one output dtype for both modes): the
numbers agree to bfloat16's (float16's) precision and nnfast's are the more accurate; a
float16 output that would overflow 65504 stays finite. Autocast on the CUDA backend is not
implemented (it warns and stays off, as PyTorch does on a machine without CUDA). The mode is
per thread, as PyTorch's.
"""
import functools
import threading
import warnings

import numpy as np

from .. import _C
from ..tensor import _MissingDtype, bfloat16, float16

__all__ = ["autocast", "is_autocast_available", "is_autocast_enabled", "get_autocast_dtype"]


def _precision(dtype):
    """The kernels' precision code for an autocast dtype (nnfast._C.PREC_*), 0 (fp32) for a
    dtype CPU autocast does not take (torch warns and stays off for those). A torch dtype
    raises, as it does everywhere in nnfast."""
    if isinstance(dtype, _MissingDtype) and dtype.name == "bfloat16":
        return _C.PREC_BF16
    if type(dtype).__module__.split(".")[0] == "torch":
        raise TypeError(f"{dtype!r} is not a dtype (expected e.g. nnfast.float16)")
    if dtype is np.float16 or isinstance(dtype, np.dtype) and dtype == float16:
        return _C.PREC_FP16
    return _C.PREC_FP32


class _ThreadState(threading.local):
    enabled = False      # CPU autocast on in this thread
    dtype = bfloat16     # its dtype (torch.get_autocast_dtype("cpu"))
    prec = 0             # the GEMMs' precision while it is on: 1 bf16, 2 fp16, else 0

    def __init__(self):
        self.saved = []


_state = _ThreadState()
# Set (never unset) once any thread enters autocast: until then the matmul ops skip the
# per-thread check.
AUTOCAST_SEEN = [False]


def lowp(table):
    """The precision ops on `table`'s device run in now (this thread): 0 fp32 (autocast off,
    or a device without it), 1 bf16, 2 fp16; the kernels' `prec` argument."""
    return _state.prec if AUTOCAST_SEEN[0] and table.name == "cpu" else 0


def cpu_precision():
    """This thread's CPU autocast precision, as lowp's."""
    return _state.prec if AUTOCAST_SEEN[0] else 0


class autocast:
    """torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None): a context
    manager and decorator. device_type "cpu" takes dtype bfloat16 or float16 (None: this
    thread's autocast dtype, bfloat16 unless an enclosing block set another); any other dtype
    warns and leaves autocast off, as torch does. "cuda" is accepted and stays off with a
    warning (nnfast's CUDA kernels are fp32 only)."""

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=None):
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        self.device = device_type
        self._enabled = bool(enabled)
        if device_type == "cpu":
            self.fast_dtype = dtype if dtype is not None else _state.dtype
            self._prec = _precision(self.fast_dtype)
            if self._enabled and not self._prec:
                warnings.warn("In CPU autocast, but the target dtype is not supported. "
                              "Disabling autocast.\nCPU Autocast only supports dtypes of "
                              "nnfast.bfloat16, nnfast.float16 currently.", UserWarning,
                              stacklevel=2)
                self._enabled = False
        elif device_type == "cuda":
            self.fast_dtype = dtype if dtype is not None else float16
            self._prec = 0
            if self._enabled:
                warnings.warn("nnfast's CUDA backend has no bfloat16/float16 kernels: "
                              "autocast('cuda') is disabled", UserWarning, stacklevel=2)
            self._enabled = False
        else:
            raise RuntimeError(f"User specified an unsupported autocast device_type "
                               f"'{device_type}' (nnfast has 'cpu' and 'cuda')")

    def __enter__(self):
        _state.saved.append((_state.enabled, _state.dtype, _state.prec))
        if self.device == "cpu":
            _state.enabled, _state.dtype = self._enabled, self.fast_dtype
            _state.prec = self._prec if self._enabled else 0
            if self._enabled:
                AUTOCAST_SEEN[0] = True
        return self

    def __exit__(self, *exc):
        _state.enabled, _state.dtype, _state.prec = _state.saved.pop()
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
    return device_type == "cpu" and _state.enabled


def get_autocast_dtype(device_type):
    """torch.get_autocast_dtype(device_type): this thread's autocast dtype there."""
    return _state.dtype if device_type == "cpu" else float16


def is_autocast_cpu_enabled():
    return _state.enabled


def get_autocast_cpu_dtype():
    return _state.dtype
