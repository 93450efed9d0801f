"""float32 arithmetic rounded as csrc/optim.c rounds it, for the optimizer kernels (optim.py,
fused_mlp.py's update).

The C is compiled with fp-contract=off (a product is rounded before it is added, fused
multiply-adds only where it calls fmaf, which is where torch's CPU kernels fuse), while NVVM
and ptxas contract `a * b + c` into an fma by default; so every product that meets an
addition goes through `_mul` / `_add` / `_sub` (libdevice's never-fused *_rn), every fmaf
through `_fma`, sqrtf through `_sqrt` (sqrt.rn).
Under the simulator the same names are plain functions on NumPy float32 scalars, fma
emulated exactly. `device_fn` makes a device function of code that calls them (a plain
function under the simulator, where these are not device functions).

Not here: float64, division (`/` is already IEEE, div.rn), the kernels themselves.
"""
import math

import numpy as np
from numba import cuda

from . import _launch

SIM = _launch.SIM

device_fn = (lambda f: f) if SIM else cuda.jit(device=True, inline=True)

if SIM:
    def _mul(a, b):
        return np.float32(a) * np.float32(b)

    def _add(a, b):
        return np.float32(a) + np.float32(b)

    def _sub(a, b):
        return np.float32(a) - np.float32(b)

    def _sqrt(x):
        return np.sqrt(np.float32(x))

    def _fma(a, b, c):
        """fmaf, correctly rounded: the product is exact in double; the double sum's own
        rounding error (TwoSum) breaks the one case where rounding it again to float32
        could go wrong, a sum exactly halfway between two floats."""
        p = float(a) * float(b)
        c = float(c)
        s = p + c
        r = np.float32(s)
        if not math.isfinite(s) or float(r) == s:
            return r
        t = s - p
        e = (p - (s - t)) + (c - t)
        if e != 0.0:
            other = np.nextafter(r, np.float32(np.inf if s > float(r) else -np.inf))
            if abs(float(other) - s) == abs(float(r) - s) and (e > 0.0) == (float(other) > s):
                r = other
        return r
else:   # compiled for the device: optim.py's PTX_CHECKS cover these
    from numba.cuda import libdevice

    @cuda.jit(device=True, inline=True)
    def _mul(a, b):
        return libdevice.fmul_rn(a, b)

    @cuda.jit(device=True, inline=True)
    def _add(a, b):
        return libdevice.fadd_rn(a, b)

    @cuda.jit(device=True, inline=True)
    def _sub(a, b):
        return libdevice.fsub_rn(a, b)

    @cuda.jit(device=True, inline=True)
    def _sqrt(x):
        return libdevice.fsqrt_rn(x)

    @cuda.jit(device=True, inline=True)
    def _fma(a, b, c):
        return libdevice.fmaf(a, b, c)
