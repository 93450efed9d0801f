"""Functional dropout: dropout, dropout1d, dropout2d, dropout3d (PyTorch's names, arguments,
defaults and checks).

The rule is PyTorch's CPU rule: in training, out = x * (keep ? 1/(1-p) : 0) with keep ~
Bernoulli(1 - p) per element (per (sample, channel) for dropout1d/2d/3d), the scale rounded to
the input's dtype first, and a dropped element multiplied by 0 (so -x gives -0 and inf/NaN give
NaN, as in torch). The backward is dout * (keep ? scale : 0). p == 0, training=False and empty
inputs return the input itself (no node, no copy); p == 1 gives x * 0.

Random numbers: each call draws one 64-bit seed from nnfast's global generator
(nnfast.random.default_generator(), which nf.manual_seed seeds) and the mask is a pure
function of (seed, element index): a counter-based SplitMix64 hash (csrc/dropout.c). float32
inputs run the compiled kernels; float64 inputs run the NumPy reference below, which computes
the same bits (tests hold the C mask equal to it). The masks differ from torch's (its stream is
its own); the rule is the same.

Deviations from PyTorch:
- inplace=True is done in place only when no gradient is recorded for the input; otherwise
  the result is computed out of place (same values and gradients; the input keeps its values).
  PyTorch raises for an in-place op on a leaf that requires grad.
- Integer inputs raise DTypeError (a RuntimeError, as torch's error for them).
"""
import math
import warnings

import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..random import default_generator
from ..tensor import Tensor
from ._functional_act import _check_input  # the same float-tensor check
from ..backend import contiguous

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]

_TWO32 = 4294967296.0


# ===================================================================== input checks

def _check_p(p):
    if not 0.0 <= p <= 1.0:   # NaN fails too
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def _draw_seed():
    """One 64-bit seed from the global generator (so nf.manual_seed repeats a run)."""
    return int(default_generator().integers(0, 1 << 64, dtype=np.uint64))


def _threshold(p):
    """Element i is kept when its 32 random bits are >= floor(p * 2^32) (0 < p < 1)."""
    return int(math.floor(p * _TWO32))   # exact: scaling by 2^32 does not round


def _scale(p, dtype):
    """1 / (1 - p) as torch computes it: 1 - p in double, rounded to dtype, then divided."""
    one = dtype.type(1)
    return one / dtype.type(1.0 - p)


# ===================================================================== NumPy reference

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _ref_bits(seed, n):
    """u(i) for i in [0, n): the 32 random bits per element of csrc/dropout.c."""
    k = np.arange(1, (n + 1) // 2 + 1, dtype=np.uint64)
    z = np.uint64(seed) + k * _GOLDEN          # uint64 arithmetic wraps modulo 2^64
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    u = np.empty(2 * z.size, np.uint32)
    u[0::2] = z & np.uint64(0xFFFFFFFF)
    u[1::2] = z >> np.uint64(32)
    return u[:n]


def _ref_mask(seed, n, p):
    """The keep-mask (bool[n]) the C kernels draw for this seed and p."""
    return _ref_bits(seed, n) >= np.uint32(_threshold(p))


# ===================================================================== core

def _apply(input, p, training, inplace, who, rows=None):
    """Dropout of the elements of input (rows=None) or of whole rows of input viewed as
    [rows, -1] (channel dropout). Returns a Tensor."""
    x = _check_input(input, who)
    xd = x._storage
    if not training or p == 0.0 or xd.size == 0:
        return x
    grad = ag.needs_grad(x)
    fast = xd.dtype == np.float32
    dt = xd.dtype.type
    if p == 1.0:
        # torch: input * zeros({}) -- keeps -0 and turns inf/NaN into NaN
        with np.errstate(invalid="ignore"):
            if inplace and not grad:
                xd *= dt(0)
                return x
            out = xd * dt(0)
        if not grad:
            return Tensor._make(out)

        def backward_zero(g):
            with np.errstate(invalid="ignore"):
                return (g.astype(xd.dtype, copy=False) * dt(0),)

        return Tensor._make(out, True, ag.Node((x,), backward_zero, "Dropout"))

    seed, thresh, scale = _draw_seed(), _threshold(p), _scale(p, xd.dtype)
    n = xd.size
    R = n if rows is None else rows
    S = 1 if rows is None else n // rows
    in_place = inplace and not grad and fast and xd.flags.c_contiguous and xd.flags.writeable
    K = table_of(xd)
    if fast:
        xc = contiguous(xd).reshape(-1)
        out = xd if in_place else K.empty(xd.shape, np.float32)
        mask = K.empty(R, np.uint8) if grad else None
        if rows is None:
            K.dropout_forward(out.reshape(-1), mask, xc, seed, thresh, scale)
        else:
            K.feature_dropout_forward(out.reshape(-1), mask, xc, R, S, seed, thresh, scale)
    else:
        keep = _ref_mask(seed, R, p)
        mask = keep.astype(np.uint8)
        m = np.where(keep, scale, dt(0)).astype(xd.dtype)
        with np.errstate(invalid="ignore"):
            out = (xd.reshape(R, S) * m[:, None]).reshape(xd.shape)
    if in_place:
        return x
    if inplace and not grad:
        xd[...] = out
        return x
    if not grad:
        return Tensor._make(out)

    def backward(g):
        if fast:
            gc = contiguous(g, dtype=np.float32).reshape(-1)
            dx = K.empty(xd.shape, np.float32)
            if rows is None:
                K.dropout_backward(dx.reshape(-1), gc, mask, scale)
            else:
                K.feature_dropout_backward(dx.reshape(-1), gc, mask, R, S, scale)
            return (dx,)
        gm = np.where(mask.astype(bool), scale, dt(0)).astype(xd.dtype)
        return ((g.astype(xd.dtype, copy=False).reshape(R, S) * gm[:, None])
                .reshape(xd.shape),)

    return Tensor._make(out, True, ag.Node((x,), backward, "Dropout"))


def _feature(input, p, training, inplace, who, batched):
    """Channel dropout: one decision per (sample, channel); unbatched inputs are one sample."""
    x = _check_input(input, who)
    shape = x.shape if batched else (1,) + x.shape
    # (as in torch, p == 1 zeroes an input of any rank without this check)
    if training and 0.0 < p < 1.0 and x._storage.size and len(shape) < 2:
        raise RuntimeError(f"{who}: Feature dropout requires at least 2 dimensions in the "
                           f"input (got shape {x.shape})")
    rows = shape[0] * shape[1] if len(shape) >= 2 else None
    return _apply(x, p, training, inplace, who, rows)


# ===================================================================== public API

def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p), in training."""
    p = _check_p(p)
    return _apply(input, p, training, inplace, "dropout")


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p."""
    p = _check_p(p)
    x = _check_input(input, "dropout1d")
    if x.ndim not in (2, 3):
        raise RuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {x.ndim}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs).")
    return _feature(x, p, training, inplace, "dropout1d", batched=x.ndim == 3)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, H, W) inputs with probability p.

    As in torch 2.13, a 3-D input is taken as (N, C, L) (1-D channel dropout) with a warning,
    and other ranks warn and are treated as (N, C, ...)."""
    p = _check_p(p)
    x = _check_input(input, "dropout2d")
    if x.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2)
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _feature(x, p, training, inplace, "dropout2d", batched=True)


def dropout3d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p."""
    p = _check_p(p)
    x = _check_input(input, "dropout3d")
    if x.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {x.ndim}-D input to dropout3d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout3d "
            "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2)
    return _feature(x, p, training, inplace, "dropout3d", batched=x.ndim == 5)
