"""Block-wide reductions in a fixed shared-memory tree, for every CUDA family.

One order for all: thread t stores its value in sh[t], then for h = n/2, n/4, ..., 1 the
threads t < h set sh[t] = join(sh[t], sh[t + h]), a barrier after each halving. The order
never depends on timing, so a result is the same on every launch (and a refactor that keeps
this order keeps every result bit for bit).

Device functions only (`inline=True`: each kernel gets its own copy, with n constant where
the caller's is). Every thread of the block must call them (they hold barriers). sh has at
least n elements of the partials' type; n is a power of two, at most the block's threads.
Not here: the two-array arg-reductions (value and index, reduce.py) and the column trees of
a 2-D block (norm.py), whose pairing differs.
"""

from numba import cuda


@cuda.jit(device=True, inline=True)
def plus(a, b):
    return a + b


@cuda.jit(device=True, inline=True)
def larger(a, b):
    """b where b > a, else a (a NaN already in a stays; a NaN in b is passed over)."""
    return b if b > a else a


@cuda.jit(device=True, inline=True)
def larger_nan(a, b):
    """The larger, a NaN sticking once seen (b wins if it is NaN: nothing compares greater)."""
    return b if b > a or b != b else a


@cuda.jit(device=True, inline=True)
def smaller(a, b):
    return b if b < a else a


@cuda.jit(device=True, inline=True)
def block_fold(sh, v, t, n, join):
    """join of the n threads' values v by the fixed halving tree; every thread gets the
    result, and sh is free for the next call when it returns."""
    sh[t] = v
    cuda.syncthreads()
    h = n // 2
    while h > 0:
        if t < h:
            sh[t] = join(sh[t], sh[t + h])
        cuda.syncthreads()
        h //= 2
    r = sh[0]
    cuda.syncthreads()   # everyone has read sh[0] before sh is written again
    return r


@cuda.jit(device=True, inline=True)
def block_sum(sh, v, t, n):
    """Sum of the n threads' values v (block_fold with +)."""
    return block_fold(sh, v, t, n, plus)
