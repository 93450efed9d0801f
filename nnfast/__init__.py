"""nnfast — a small, fast neural-network training engine with a PyTorch-like API.

    import nnfast as nf
    from nnfast import nn, optim
"""
import numbers as _numbers
import os as _os
import sys as _sys

# NumPy's OpenBLAS keeps its threads spinning for 2^28 cycles (~70 ms) after each threaded
# call; on a small machine they take the cores nnfast's threads need next. A 784-256-128-10
# compiled step on 2 threads, with one 256x256 float64 matmul between steps: 5.0 ms, against
# 0.8-1.2 ms with a 2^16-cycle spin (0.8 ms without the matmul); the matmul itself 0.5-0.7
# ms either way. OpenBLAS reads the setting once, when NumPy loads it: this takes effect
# only when nnfast is imported before NumPy, and never over the user's own setting.
if "numpy" not in _sys.modules and "OPENBLAS_THREAD_TIMEOUT" not in _os.environ:
    _os.environ["OPENBLAS_THREAD_TIMEOUT"] = "16"

import numpy as _np  # noqa: E402

# OpenMP threads that wait for work spin for ~300K iterations by default (libgomp) before
# they sleep. On a small machine shared with other processes a spinning worker takes the
# core that the thread it waits for needs: measured on 2 loaded Zen4 vCPUs, a 784-128-10
# training step on 2 threads took 0.5-18 ms with the default and 0.52-0.55 ms with a 1000
# spin count. 10000 is still short next to the default but outlasts the serial stretches
# inside a training step (a small layer, the loss), so the worker is not put to sleep and
# woken again there: 784-256-128-10 on 2 idle vCPUs 795-813 -> 756-790 us (best of 15),
# 784-128-10 beside one busy process 506 -> 430 us, beside two 709-757 -> 466-543 us.
# (OMP_WAIT_POLICY=passive was 0.37-0.40 ms against 0.26 ms idle: its futex wake-ups cost
# more than they save.) Set only when the user has set neither, and only effective if
# nothing in the process has loaded libgomp yet.
if "OMP_WAIT_POLICY" not in _os.environ and "GOMP_SPINCOUNT" not in _os.environ:
    _os.environ["GOMP_SPINCOUNT"] = "10000"

from . import _C  # noqa: E402

# Freed step temporaries stay on the heap for the next step instead of going back to the OS
# and being faulted in again (csrc/runtime.c: an eager LSTM step 2.9 -> 1.4 ms). The cost:
# up to 64 MiB of freed memory kept by the process. Not when the user tuned malloc.
if (not any(k in _os.environ for k in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                                         "MALLOC_TOP_PAD_"))
        and "glibc.malloc" not in _os.environ.get("GLIBC_TUNABLES", "")):
    _C.malloc_keep(64 << 20)

from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .errors import DTypeError, ShapeError
from .random import get_rng_state, initial_seed, manual_seed, set_rng_state
from .tensor import (Tensor, bool_, cat, double, float, float32, float64, int32, int64,  # noqa: A004
                     long, stack, where)
from .tensor import abs, exp, log, matmul, max, mean, min, sqrt, sum  # noqa: A004,F401
from .tensor import pow, reshape, transpose, flatten, permute, unsqueeze, squeeze, clamp  # noqa: F401

__version__ = "0.1.0"


def tensor(data, dtype=None, requires_grad=False):
    """A new tensor holding a copy of data.

    Like torch.tensor: NumPy arrays and scalars keep their dtype, Python floats become
    float32, Python ints int64, bools bool."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        arr = _np.array(data, dtype=dtype, copy=True)
    elif isinstance(data, (_np.ndarray, _np.generic)):
        arr = _np.array(data, copy=True)   # NumPy arrays and scalars keep their dtype
    else:
        arr = _np.array(data)
        if arr.dtype == _np.float64:
            arr = arr.astype(_np.float32)
        elif arr.dtype.kind in "iu":
            arr = arr.astype(_np.int64)
    return Tensor._make(arr, requires_grad)


def from_numpy(array):
    """A tensor sharing memory with a NumPy array (no copy), as torch.from_numpy."""
    if not isinstance(array, _np.ndarray):
        raise TypeError(f"from_numpy expects an np.ndarray, got {type(array).__name__}")
    return Tensor._make(array)


def as_tensor(data, dtype=None):
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, _np.ndarray) and (dtype is None or data.dtype == dtype):
        return Tensor._make(data)
    return tensor(data, dtype=dtype)


def _factory(fill):
    def make(*size, dtype=None, requires_grad=False):
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        return Tensor._make(fill(size, _np.dtype(dtype or _np.float32)), requires_grad)
    return make


zeros = _factory(lambda s, d: _np.zeros(s, d))
ones = _factory(lambda s, d: _np.ones(s, d))
empty = _factory(lambda s, d: _np.empty(s, d))


def full(size, fill_value, dtype=None, requires_grad=False):
    """As torch.full: without dtype, a bool fill gives bool, an int int64, a float float32."""
    if dtype is None:
        if isinstance(fill_value, (bool, _np.bool_)):
            dtype = _np.bool_
        elif isinstance(fill_value, _numbers.Integral):
            dtype = _np.int64
        else:
            dtype = _np.float32
    return Tensor._make(_np.full(size, fill_value, _np.dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return Tensor._make(_np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return Tensor._make(_np.ones(t.shape, dtype or t.dtype), requires_grad)


def arange(*args, dtype=None):
    arr = _np.arange(*args)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype(_np.float32)
    return Tensor._make(arr)


def _random_factory(draw):
    def make(*size, dtype=None, requires_grad=False, generator=None):
        if len(size) == 1 and isinstance(size[0], (tuple, list)):
            size = tuple(size[0])
        from . import random as r
        g = generator or r.default_generator()
        return Tensor._make(draw(g, size).astype(dtype or _np.float32), requires_grad)
    return make


rand = _random_factory(lambda g, s: g.random(s))
randn = _random_factory(lambda g, s: g.standard_normal(s))


def randint(low, high=None, size=None, dtype=None, generator=None):
    """Integers in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    from . import random as r
    if size is None and isinstance(high, (tuple, list)):
        high, size = None, high   # the two-argument form randint(high, size)
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint() missing the required argument 'size'")
    g = generator or r.default_generator()
    return Tensor._make(g.integers(low, high, size).astype(dtype or _np.int64))


def set_num_threads(n):
    """Threads used by nnfast's kernels (OpenMP); also settable with OMP_NUM_THREADS.

    A process forked from this one starts on one thread: GCC's OpenMP runtime does not
    survive fork, and a child that opens a team of threads after its parent has used one
    hangs. Start children with the "spawn" method to give them threads of their own."""
    _C.set_num_threads(int(n))


# (see set_num_threads) multiprocessing's default start method on Linux is fork
_os.register_at_fork(after_in_child=lambda: _C.set_num_threads(1))


def get_num_threads():
    return _C.get_num_threads()


from . import nn, optim  # noqa: E402,F401
from . import data, datasets, io, train  # noqa: E402,F401
from .io import load, save  # noqa: E402,F401
from .compile import compile_step  # noqa: E402,F401
