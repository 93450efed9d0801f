"""What the Tensor ops need that no kernel family owns: np.einsum on CudaArrays, and
`strided_view` (as_strided for device arrays).

einsum is planned on the host and run as existing kernels: each operand first sums away the
letters no one else needs, then operands contract pairwise, left to right, as one batched
GEMM each (np.matmul: batch letters x kept letters of a x contracted letters, times
contracted x kept letters of b), and the result is transposed into the output's order. The
numbers are the GEMM's (float32 sums in its order), as the CPU's einsum gives BLAS's.

Not here: repeated subscripts within one operand (diagonals, "ii->i"), the implicit form
without "->", ellipses (nnfast's einsum expands them before calling), einsum's out=.
"""
import numpy as np

from .array import FUNCS, implements, missing

_one_product = FUNCS.get(np.einsum)   # the GEMM family's: einsums that are one matrix product

__all__ = ["strided_view"]   # K.strided_view; einsum is reached through np.einsum
PTX_CHECKS = []   # no kernels of its own: einsum runs the GEMM family's


def _parse(subscripts, n):
    if "->" not in subscripts or "." in subscripts:
        raise missing("numpy.einsum without an explicit '->' output (or with '...')")
    lhs, rhs = subscripts.replace(" ", "").split("->")
    subs = lhs.split(",")
    if len(subs) != n:
        raise ValueError(f"einsum: {len(subs)} operand subscripts for {n} operands")
    for s in subs + [rhs]:
        if len(set(s)) != len(s):
            raise missing("numpy.einsum with a repeated subscript in one operand (a diagonal)")
    return subs, rhs


def _reduce_to(a, s, keep):
    """a (letters s) summed over the letters not in `keep`; returns (array, letters)."""
    axes = tuple(i for i, c in enumerate(s) if c not in keep)
    if axes:
        a = a.sum(axis=axes)
        s = "".join(c for c in s if c in keep)
    return a, s


def _sizes(a, s, b, t):
    size = {}
    for arr, letters in ((a, s), (b, t)):
        for c, n in zip(letters, arr.shape):
            if size.get(c, 1) == 1:
                size[c] = n
            elif n not in (1, size[c]):
                raise ValueError(f"einsum: operands could not be broadcast (subscript {c}: "
                                 f"{size[c]} and {n})")
    return size


def _arranged(a, s, order, size):
    """a with its letters put in `order` (missing letters as unit dims), broadcast to the
    sizes of `order`."""
    perm = [s.index(c) for c in order if c in s]
    if perm != list(range(len(perm))):
        a = a.transpose(perm)
    dims = iter(a.shape)
    a = a.reshape(tuple(next(dims) if c in s else 1 for c in order))
    target = tuple(size[c] for c in order)
    return a if a.shape == target else np.broadcast_to(a, target)


def _contract(a, s, b, t, keep):
    """The pairwise product of a (letters s) and b (letters t), keeping the letters in keep."""
    size = _sizes(a, s, b, t)
    batch = [c for c in s if c in t and c in keep]
    contr = [c for c in s if c in t and c not in keep]
    a_only = [c for c in s if c not in t]
    b_only = [c for c in t if c not in s]

    def prod(cs):
        n = 1
        for c in cs:
            n *= size[c]
        return n
    am = _arranged(a, s, batch + a_only + contr, size)
    bm = _arranged(b, t, batch + contr + b_only, size)
    nb, m, k, n = prod(batch), prod(a_only), prod(contr), prod(b_only)
    am = am.reshape(nb, m, k) if am.flags.c_contiguous else am.copy().reshape(nb, m, k)
    bm = bm.reshape(nb, k, n) if bm.flags.c_contiguous else bm.copy().reshape(nb, k, n)
    out = np.matmul(am, bm).reshape(tuple(size[c] for c in batch + a_only + b_only))
    return out, "".join(batch + a_only + b_only)


@implements(np.einsum)
def einsum(subscripts, *operands, out=None, optimize=False, **kwargs):
    if _one_product is not None:   # one matrix product (NumPy's errors, the implicit form)
        try:
            return _one_product(subscripts, *operands, out=out, optimize=optimize, **kwargs)
        except NotImplementedError:
            pass
    if out is not None or kwargs:
        raise missing("numpy.einsum with out= or other options")
    subs, rhs = _parse(subscripts, len(operands))
    arrs = list(operands)
    for i in range(len(arrs)):   # sum away letters that no other operand nor the output has
        others = set(rhs).union(*(subs[j] for j in range(len(arrs)) if j != i))
        arrs[i], subs[i] = _reduce_to(arrs[i], subs[i], others)
    a, s = arrs[0], subs[0]
    for j in range(1, len(arrs)):
        keep = set(rhs).union(*subs[j + 1:])
        a, s = _contract(a, s, arrs[j], subs[j], keep)
    a, s = _reduce_to(a, s, set(rhs))
    if s != rhs:
        a = a.transpose([s.index(c) for c in rhs])
    return a.copy() if not a.flags.c_contiguous else a


def strided_view(a, shape, strides):
    """np.lib.stride_tricks.as_strided for a CudaArray: a view of a's elements with these
    shape and (byte) strides from a's first element (expand, diagonal, unfold). Unlike
    NumPy's, a view reaching outside the memory block is refused: kernels trust views."""
    size = a.dtype.itemsize
    est = []
    for s in strides:
        if s % size:
            raise ValueError("strided_view: strides must be whole elements")
        est.append(s // size)
    shape = tuple(int(n) for n in shape)
    if len(shape) != len(est) or any(n < 0 for n in shape):
        raise ValueError(f"strided_view: shape {shape} does not fit strides {tuple(strides)}")
    if all(shape):   # kernels trust a view's extent: it must stay inside the memory block
        lo = a._off + sum(e * (n - 1) for e, n in zip(est, shape) if e < 0)
        hi = a._off + sum(e * (n - 1) for e, n in zip(est, shape) if e > 0)
        if lo < 0 or hi >= a._block.buf.shape[0]:
            raise ValueError(f"strided_view: shape {shape} with strides {tuple(strides)} "
                             "reaches outside the array's memory")
    return a._view(shape, tuple(est))

