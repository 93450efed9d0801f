"""Dropout family on CUDA: csrc/dropout.c's kernels as Numba kernels, with the same random
stream, so that one seed gives the CPU's mask and output bit for bit on the device.

What it is: elementwise and channel ("feature") dropout forward and backward, and the L1/L2
penalty helpers sumabs (a 0-d float32 device array, not a Python float: no host sync) and
l1l2_backward. Same names, argument order, defaults and semantics as nnfast._C
(nnfast/_C_dropout.pxi), with CudaArray for ndarray.

The random numbers (csrc/dropout.c's header comment): element i of a call draws
    h(k) = splitmix64_finalizer(seed + (k + 1) * 0x9E3779B97F4A7C15),  k = i / 2
    u(i) = low 32 bits of h(k) for even i, high 32 bits for odd i
and is kept when u(i) >= thresh; a channel-dropout row r uses u(r). Every thread computes the
hash of its own element from (seed, i): no state, no dependence on the launch shape. The
uint64 arithmetic wraps modulo 2^64 on the device; the simulator runs it as NumPy scalars,
which warn on wraparound, so there _mul64/_add64 wrap through Python ints instead (the same
values; the device code is the plain expression).

What it is not: a general RNG, strided, or float64. p == 0 and p == 1 are the caller's (the
functional returns x, or x * 0, without a kernel). `reference=True` selects the same kernel
(the CPU's plain loop exists to check its fast loop; the device has one).
"""
import numpy as np
from numba import cuda
from numba import types as nbt

from . import _launch
from ._checks import need, need_all, need_flat
from .act import _abs_term, channel_sum, channel_sum_kernels
from .array import empty, zeros

__all__ = ["dropout_forward", "dropout_backward", "feature_dropout_forward",
           "feature_dropout_backward", "sumabs", "l1l2_backward"]

_U = np.uint64
U8 = np.uint8
GOLDEN = _U(0x9E3779B97F4A7C15)
MIX1 = _U(0xBF58476D1CE4E5B9)
MIX2 = _U(0x94D049BB133111EB)
ONE64, LOW32 = _U(1), _U(0xFFFFFFFF)
SH27, SH30, SH31, SH32 = _U(27), _U(30), _U(31), _U(32)
F0, F1 = np.float32(0), np.float32(1)
_M64 = (1 << 64) - 1

_dev = cuda.jit(device=True, inline=True)

if _launch.SIM:
    @_dev
    def _mul64(a, b):
        return _U((int(a) * int(b)) & _M64)

    @_dev
    def _add64(a, b):
        return _U((int(a) + int(b)) & _M64)
else:
    @_dev
    def _mul64(a, b):
        return a * b

    @_dev
    def _add64(a, b):
        return a + b


@_dev
def _bits(seed, i):
    """u(i): the 32 random bits of element i (as a uint64)."""
    z = _add64(seed, _mul64(_U(i >> 1) + ONE64, GOLDEN))
    z = _mul64(z ^ (z >> SH30), MIX1)
    z = _mul64(z ^ (z >> SH27), MIX2)
    z = z ^ (z >> SH31)
    return (z >> _U((i & 1) * 32)) & LOW32


# ===================================================================== kernels

@cuda.jit
def _dropout_kernel(out, mask, inp, n, seed, thresh, scale, write_mask):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        keep = _bits(seed, i) >= thresh
        if write_mask:
            mask[i] = 1 if keep else 0
        out[i] = inp[i] * (scale if keep else F0)   # times 0: a dropped -x gives -0, NaN NaN
        i += step


@cuda.jit
def _dropout_backward_kernel(dinp, dout, mask, n, scale):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        dinp[i] = dout[i] * (scale if mask[i] != 0 else F0)
        i += step


@cuda.jit
def _feature_kernel(out, mask, inp, R, S, seed, thresh, scale, write_mask):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    if write_mask:            # rows' decisions first (they exist even when S == 0)
        r = i
        while r < R:
            mask[r] = 1 if _bits(seed, r) >= thresh else 0
            r += step
    n = R * S
    while i < n:
        keep = _bits(seed, i // S) >= thresh
        out[i] = inp[i] * (scale if keep else F0)
        i += step


@cuda.jit
def _feature_backward_kernel(dinp, dout, mask, S, n, scale):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        dinp[i] = dout[i] * (scale if mask[i // S] != 0 else F0)
        i += step


@cuda.jit
def _l1l2_kernel(dinp, inp, n, a, b):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        x = inp[i]
        s = (F1 if x > F0 else F0) - (F1 if x < F0 else F0)   # sign(0) = sign(NaN) = 0
        # b == 0: L1 alone, without the 0 * x term that would turn an infinite x into NaN
        dinp[i] = a * s if b == F0 else a * s + b * x
        i += step


# ===================================================================== checks

def _uint(who, name, v, bits):
    v = int(v)
    if not 0 <= v < (1 << bits):
        raise OverflowError(f"{who}: {name} = {v} does not fit in uint{bits}")
    return _U(v)


_placeholder = []


def _no_mask():
    """A 1-byte device array standing for mask=None (the kernels then never touch it); from
    Numba directly, so that it never shows in nnfast's memory accounting."""
    if not _placeholder:
        _placeholder.append(cuda.device_array(1, np.uint8))
    return _placeholder[0]


def _random_args(who, seed, thresh, scale):
    return (_uint(who, "seed", seed, 64), _uint(who, "thresh", thresh, 32),
            np.float32(scale))


# ===================================================================== public API

def dropout_forward(out, mask, inp, seed, thresh, scale, reference=False):
    """out = inp * (keep ? scale : 0), keep = u(i) >= thresh; mask (or None) gets keep.
    out may be inp."""
    who = "dropout_forward"
    need_all(who, ("mask",), out=out, inp=inp)
    need(who, "mask", mask, U8, optional=True)
    n = inp.size
    if out.size != n:
        raise ValueError(f"{who}: out has {out.size} elements, inp {n}")
    if mask is not None and mask.size != n:
        raise ValueError(f"{who}: mask has {mask.size} elements, inp {n}")
    po, pi = need_flat(who, "out", out), need_flat(who, "inp", inp)
    pm = _no_mask() if mask is None else need_flat(who, "mask", mask, np.uint8)
    seed, thresh, scale = _random_args(who, seed, thresh, scale)
    if n:
        _dropout_kernel[_launch.grid(n)](po, pm, pi, n, seed, thresh, scale, mask is not None)


def dropout_backward(dinp, dout, mask, scale):
    """dinp = dout * (mask ? scale : 0). dinp may be dout."""
    who = "dropout_backward"
    need_all(who, dinp=dinp, dout=dout)
    need(who, "mask", mask, U8)
    n = dout.size
    if dinp.size != n or mask.size != n:
        raise ValueError(f"{who}: dinp {dinp.size}, dout {n}, mask {mask.size} elements")
    pd, pg = need_flat(who, "dinp", dinp), need_flat(who, "dout", dout)
    pm = need_flat(who, "mask", mask, np.uint8)
    if n:
        _dropout_backward_kernel[_launch.grid(n)](pd, pg, pm, n, np.float32(scale))


def _rows(who, R, S, **arrays):
    R, S = int(R), int(S)
    if R < 0 or S < 0:
        raise ValueError(f"{who}: negative size [R, S] = [{R}, {S}]")
    for name, a in arrays.items():
        need(who, name, a, U8 if name == "mask" else np.float32,
             optional=name == "mask" and who == "feature_dropout_forward")
        want = R if name == "mask" else R * S
        if a is not None and a.size != want:
            raise ValueError(f"{who}: {name} has {a.size} elements for [R, S] = [{R}, {S}]")
    return R, S


def feature_dropout_forward(out, mask, inp, R, S, seed, thresh, scale):
    """inp viewed as [R, S]: row r scaled by (keep_r ? scale : 0); mask[R] (or None)."""
    who = "feature_dropout_forward"
    R, S = _rows(who, R, S, out=out, inp=inp, mask=mask)
    po, pi = need_flat(who, "out", out), need_flat(who, "inp", inp)
    pm = _no_mask() if mask is None else need_flat(who, "mask", mask, np.uint8)
    seed, thresh, scale = _random_args(who, seed, thresh, scale)
    work = max(R * S, R if mask is not None else 0)
    if work:
        _feature_kernel[_launch.grid(work)](po, pm, pi, R, S, seed, thresh, scale,
                                            mask is not None)


def feature_dropout_backward(dinp, dout, mask, R, S, scale):
    """dinp[R, S] = dout * (mask[r] ? scale : 0)."""
    who = "feature_dropout_backward"
    R, S = _rows(who, R, S, dinp=dinp, dout=dout, mask=mask)
    pd, pg = need_flat(who, "dinp", dinp), need_flat(who, "dout", dout)
    pm = need_flat(who, "mask", mask, np.uint8)
    n = R * S
    if n:
        _feature_backward_kernel[_launch.grid(n)](pd, pg, pm, S, n, np.float32(scale))


def sumabs(x):
    """Sum of |x| of a float32 vector, accumulated in double in a fixed order; a 0-d float32
    device array (the CPU returns the double as a Python float)."""
    px = need_flat("sumabs", "x", x)
    n = x.size
    if n == 0:
        return zeros((), np.float32)
    out = empty((), np.float32)
    channel_sum(out.flat, _abs_term, px, px, 1, 1, n)
    return out


def l1l2_backward(dinp, inp, a, b):
    """dinp = a * sign(inp) + b * inp (b == 0: a * sign(inp))."""
    who = "l1l2_backward"
    need_all(who, dinp=dinp, inp=inp)
    n = inp.size
    if dinp.size != n:
        raise ValueError(f"{who}: dinp has {dinp.size} elements, inp {n}")
    pd, pi = need_flat(who, "dinp", dinp), need_flat(who, "inp", inp)
    if n:
        _l1l2_kernel[_launch.grid(n)](pd, pi, n, np.float32(a), np.float32(b))


# ===================================================================== PTX checks

_V, _B, _I = nbt.float32[::1], nbt.uint8[::1], nbt.int64
_partial, _final = channel_sum_kernels(_abs_term, 256)
PTX_CHECKS = [
    (_dropout_kernel, (_V, _B, _V, _I, nbt.uint64, nbt.uint64, nbt.float32, nbt.boolean)),
    (_dropout_backward_kernel, (_V, _V, _B, _I, nbt.float32)),
    (_feature_kernel, (_V, _B, _V, _I, _I, nbt.uint64, nbt.uint64, nbt.float32, nbt.boolean)),
    (_feature_backward_kernel, (_V, _V, _B, _I, _I, nbt.float32)),
    (_l1l2_kernel, (_V, _V, _I, nbt.float32, nbt.float32)),
    (_partial, (nbt.float64[::1], _V, _V, _I, _I, _I, _I)),
    (_final, (_V, nbt.float64[::1], _I, _I)),
]
