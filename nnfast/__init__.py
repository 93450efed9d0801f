"""nnfast — a small, fast neural-network training engine with a PyTorch-like API.

    import nnfast as nf
    from nnfast import nn, optim
"""
import builtins as _builtins
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

from . import autograd  # noqa: E402
from .autograd import (enable_grad, inference_mode, is_grad_enabled, no_grad,  # noqa: E402
                       set_grad_enabled, is_inference_mode_enabled)
from .errors import DTypeError, ShapeError  # noqa: E402
from .random import (Generator, get_rng_state, initial_seed, manual_seed,  # noqa: E402
                     seed, set_rng_state)
from .device import device  # noqa: E402
from .tensor import (Tensor, Size, bool_, double, float, float16, float32, float64,  # noqa: A004,E402
                     bfloat16, half, int, int8, int16, int32, int64, long, short, uint8,
                     complex64, cfloat, get_default_dtype, set_default_dtype)
bool = bool_   # noqa: A001 - torch.bool
from ._ops.arith import abs, add, exp, log, matmul, mul, neg, pow, sqrt, sub, where  # noqa
from ._ops.elementwise import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan,  # noqa
    arctanh, asin, asinh, atan, atanh, ceil, cos, cosh, deg2rad, erf, erfc, erfinv, exp2,
    expm1, fix, floor, frac, log10, log1p, log2, log_softmax, logit, nan_to_num,
    negative, positive, rad2deg, reciprocal, relu, round, rsqrt, sgn, sigmoid, sign, sin,
    sinc, sinh, softmax, square, tan, tanh, trunc)
from ._ops.binary import (addcdiv, addcmul, arctan2, atan2, clamp, clamp_max, clamp_min,  # noqa
    clip, copysign, div, divide, float_power, floor_divide, fmax, fmin, fmod, gcd,
    heaviside, hypot, lcm, lerp, logaddexp, logaddexp2, maximum, minimum, nextafter,
    remainder, true_divide, xlogy)
from ._ops.compare import (allclose, bitwise_and, bitwise_left_shift, bitwise_not,  # noqa
    bitwise_or, bitwise_right_shift, bitwise_xor, eq, equal, ge, greater, greater_equal,
    gt, isclose, isfinite, isin, isinf, isnan, isneginf, isposinf, isreal, le, less,
    less_equal, logical_and, logical_not, logical_or, logical_xor, lt, ne, not_equal,
    signbit)
subtract, multiply, absolute = sub, mul, abs
from ._ops.reduce import argmax, argmin, max, mean, min, sum  # noqa: A004,E402,F401
from ._ops.shape import (cat, flatten, permute, reshape, squeeze, stack, transpose,  # noqa
                         unsqueeze)
from ._ops.creation import (arange, as_tensor, asarray, empty, empty_like, eye,  # noqa
    from_numpy, full, full_like, linspace, logspace, ones, ones_like, tensor, zeros,
    zeros_like)
from ._ops.sampling import (bernoulli, multinomial, normal, poisson, rand, rand_like,  # noqa
    randint, randint_like, randn, randn_like, randperm)
from ._ops.dtypes import (can_cast, dtype, finfo, iinfo, is_complex, is_floating_point,  # noqa
    is_tensor, numel, promote_types, result_type)
from ._ops.count import bincount, histc  # noqa: E402,F401
from ._ops.printing import set_printoptions, get_printoptions  # noqa: E402,F401
from . import cuda, backends, accelerator  # noqa: E402,F401
from . import distributed  # noqa: E402,F401  (mpi4py is imported by init_process_group only)
# reductions, shape and indexing, linear algebra (nnfast/_ops/reduce, scan, sort, shape,
# join, tri, index, scatter_reduce, linalg)
from ._ops.reduce import (all, amax, amin, aminmax, any, argmax, argmin,  # noqa: A004,E402,F401
                          count_nonzero, logsumexp, max, mean, min, nanmean, nansum, norm,
                          prod, std, std_mean, sum, var, var_mean)
from ._ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp  # noqa: E402,F401
from ._ops.sort import (argsort, bucketize, kthvalue, median, mode, msort,  # noqa: E402,F401
                        nanmedian, searchsorted, sort, topk, unique, unique_consecutive)
from ._ops.shape import (adjoint, atleast_1d, atleast_2d, atleast_3d,  # noqa: E402,F401
                         broadcast_shapes, broadcast_tensors, broadcast_to, flatten, movedim,
                         narrow, permute, reshape, select, squeeze, t, transpose, unflatten,
                         unsqueeze)
from ._ops.shape import movedim as moveaxis, transpose as swapaxes  # noqa: E402,F401
from ._ops.shape import transpose as swapdims  # noqa: E402,F401
from ._ops.join import (cat, chunk, column_stack, concat, concatenate, dstack,  # noqa: E402,F401
                        diff, flip, fliplr, flipud, hstack, meshgrid, repeat_interleave, roll,
                        rot90, row_stack, split, stack, tensor_split, tile, unbind, vstack)
from ._ops.tri import (diag, diag_embed, diagflat, diagonal, tril, tril_indices,  # noqa: E402,F401
                      triu, triu_indices)
from ._ops.index import (argwhere, gather, index_add, index_copy, index_fill,  # noqa: E402,F401
                         index_put, index_select, masked_fill, masked_scatter, masked_select,
                         nonzero, scatter, scatter_add, take, take_along_dim)
from ._ops.index import where  # noqa: E402,F401  (one- and three-argument forms)
from ._ops.scatter_reduce import scatter_reduce  # noqa: E402,F401
from ._ops.linalg import (addbmm, addmm, addmv, addr, baddbmm, bmm, cross, dot,  # noqa: E402,F401
                          cdist, einsum, ger, inner, kron, mm, mv, outer, tensordot, trace,
                          vdot)

__version__ = "0.1.0"


def set_num_threads(n):
    """Threads used by nnfast's kernels (OpenMP); also settable with OMP_NUM_THREADS.

    Process-wide, as in PyTorch: the next kernel in every thread uses the new count,
    whichever thread made the call (and threads started later too).

    A process forked from this one starts on one thread: GCC's OpenMP runtime does not
    survive fork, and a child that opens a team of threads after its parent has used one
    hangs. Start children with the "spawn" method to give them threads of their own."""
    import numbers
    if not isinstance(n, numbers.Integral) or isinstance(n, _builtins.bool):
        raise _ThreadCountError(f"set_num_threads expects an int, but got {type(n).__name__}")
    if n < 1:
        raise _ThreadCountError("set_num_threads expects a positive integer")
    if n > _MAX_THREADS:   # OpenMP aborts the process when it cannot start a team's threads
        raise _ThreadCountError(f"set_num_threads: {n} threads is more than nnfast runs "
                                f"(at most {_MAX_THREADS})")
    _C.set_num_threads(_builtins.int(n))


_MAX_THREADS = 1024


class _ThreadCountError(ValueError, RuntimeError):
    """PyTorch raises RuntimeError; nnfast raised ValueError before (both catch it)."""


# (see set_num_threads) multiprocessing's default start method on Linux is fork
_os.register_at_fork(after_in_child=lambda: _C.set_num_threads(1))


def get_num_threads():
    """The process-wide thread count of nnfast's kernels (see set_num_threads)."""
    return _C.get_num_threads()


from . import linalg  # noqa: E402,F401
from .linalg import det, logdet, matrix_power, slogdet  # noqa: E402,F401
from .linalg import inv as inverse  # noqa: E402,F401
from . import nn, optim  # noqa: E402,F401
from . import amp  # noqa: E402,F401
from .amp import (autocast, get_autocast_cpu_dtype, get_autocast_dtype,  # noqa: E402,F401
                  is_autocast_cpu_enabled, is_autocast_enabled)
from . import data, datasets, io, train, utils  # noqa: E402,F401
from .io import load, save  # noqa: E402,F401
from .compile import compile_step  # noqa: E402,F401

from ._missing import install as _install_missing  # noqa: E402
from ._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py); Tensor's after every method is bound
__getattr__ = _module_getattr(__name__, "torch")
_install_missing(Tensor, "torch.Tensor")
