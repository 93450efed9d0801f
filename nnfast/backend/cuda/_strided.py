"""The strided map kernels every elementwise op is built from.

`map_kernel(fn, nin)` makes a kernel computing out[i] = fn(in_1[i], ..., in_nin[i]) over a
shape, each operand given as (flat buffer, element offset, element strides); a stride of 0
broadcasts. One kernel per (fn, nin); Numba specialises it per dtype and ndim. The index
arithmetic (a div/mod per dimension) costs little next to the memory traffic of ops that
touch each element once.

`run(kernel, out, *inputs)` launches it: operands are CudaArrays, or host scalars passed
through as kernel arguments (`fn` must accept them as such).
"""
from numba import cuda

from . import _launch

_cache = {}


def _offset(i, shape, est, off):
    o = off
    for d in range(len(shape) - 1, -1, -1):
        n = shape[d]
        o += (i % n) * est[d]
        i //= n
    return o


_offset_dev = cuda.jit(device=True, inline=True)(_offset)


def map_kernel(fn, nin):
    key = (fn, nin)
    k = _cache.get(key)
    if k is not None:
        return k
    off_of = _offset_dev
    if nin == 0:
        def kern(ob, oo, oe, shape, n, a):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                ob[off_of(i, shape, oe, oo)] = fn(a)
                i += step
    elif nin == 1:
        def kern(ob, oo, oe, shape, n, ab, ao, ae):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                ob[off_of(i, shape, oe, oo)] = fn(ab[off_of(i, shape, ae, ao)])
                i += step
    elif nin == 2:
        def kern(ob, oo, oe, shape, n, ab, ao, ae, bb, bo, be):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                ob[off_of(i, shape, oe, oo)] = fn(ab[off_of(i, shape, ae, ao)],
                                                  bb[off_of(i, shape, be, bo)])
                i += step
    elif nin == 3:
        def kern(ob, oo, oe, shape, n, ab, ao, ae, bb, bo, be, cb, co, ce):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                ob[off_of(i, shape, oe, oo)] = fn(ab[off_of(i, shape, ae, ao)],
                                                  bb[off_of(i, shape, be, bo)],
                                                  cb[off_of(i, shape, ce, co)])
                i += step
    else:
        raise ValueError(f"map_kernel: {nin} inputs (at most 3)")
    k = _cache[key] = cuda.jit(kern)
    return k


def operand(a, shape):
    """(buffer, offset, strides) of CudaArray a broadcast to shape."""
    nlead = len(shape) - a.ndim
    # a shape that does not broadcast would be walked with its own strides past its end
    if nlead < 0 or any(n != m and n != 1 for n, m in zip(a.shape, shape[nlead:])):
        raise ValueError(f"could not broadcast input array from shape {a.shape} into shape "
                         f"{tuple(shape)}")
    est = (0,) * nlead + tuple(0 if n == 1 and m != 1 else s
                               for n, m, s in zip(a.shape, shape[nlead:], a._est))
    return a._block.buf, a._off, est


def run(kernel, out, *inputs):
    """Launch a map kernel writing CudaArray `out` from CudaArray inputs (broadcast to out's
    shape); a 0-d shape runs as (1,)."""
    shape = out.shape or (1,)
    n = out.size
    if n == 0:
        return out
    args = [out._block.buf, out._off, tuple(out._est) or (1,), tuple(shape), n]
    for a in inputs:
        if hasattr(a, "_block"):
            b, o, e = operand(a, out.shape)
            args += [b, o, e or (0,)]
        else:
            args.append(a)
    kernel[_launch.grid(n)](*args)
    return out

