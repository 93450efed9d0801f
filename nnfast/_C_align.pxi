# Alignment at the seam. The C kernels read and write float / double / int64 elements
# through plain pointers, which C allows only at addresses aligned to the element type
# (UBSan: "load of misaligned address"; on some CPUs a fault). NumPy arrays can be misaligned:
# np.frombuffer at an odd offset, a field of a packed record, a memory-mapped file. Each
# wrapper tests its arrays' addresses first (a few integer operations) and hands the rare
# misaligned call to _realigned, which runs the wrapper again on aligned copies and copies
# the outputs back. So the kernels never see a misaligned pointer, and callers get the same
# results, in place where the wrapper writes in place.
cimport numpy as cnp
from cpython.buffer cimport PyObject_CheckBuffer
import numpy as _np
cnp.import_array()


cdef inline bint _mis(const void *p, size_t itemsize) noexcept nogil:
    """Whether p is not a multiple of itemsize (NULL, an absent or empty array's, is)."""
    return (<size_t>p) % itemsize != 0


cdef inline bint _mis_obj(object o) except -1:
    """Whether o, an argument taken as an object (an array, None or a scalar), is an array
    NumPy calls misaligned. Non-ndarray buffers are rare: they take the slow test."""
    if cnp.PyArray_Check(o):
        return not cnp.PyArray_ISALIGNED(<cnp.ndarray>o)
    if o is None or not PyObject_CheckBuffer(o):
        return False
    try:
        return not _np.asarray(o).flags.aligned
    except (TypeError, ValueError):
        return False    # not an array NumPy reads: the wrapper raises its own error


def _realigned(fn, tuple args, tuple outs):
    """fn(*args) with every misaligned array argument replaced by an aligned copy; the copies
    of the arguments at positions `outs` (the ones fn writes) are copied back afterwards.
    Arguments on the same memory share one copy, so an output that is also an input (an
    in-place call) stays one array."""
    cdef list a = list(args)
    cdef dict copies = {}
    cdef list back = []
    for i in range(len(a)):
        o = a[i]
        if o is None or not PyObject_CheckBuffer(o):
            continue
        try:
            arr = _np.asarray(o)
        except (TypeError, ValueError):
            continue
        # (NumPy calls an empty array aligned wherever it points; the wrappers' test does not)
        if arr.flags.aligned and (<size_t>cnp.PyArray_DATA(<cnp.ndarray>arr)) % \
                max(arr.itemsize, 1) == 0:
            continue
        key = (<size_t>cnp.PyArray_DATA(<cnp.ndarray>arr), arr.shape, arr.strides, arr.dtype.str)
        c = copies.get(key)
        if c is None:
            c = copies[key] = arr.copy(order="C")   # a new array: aligned
        a[i] = c
        if i in outs:
            back.append((arr, c))
    result = fn(*a)
    for arr, c in back:
        _np.copyto(arr, c)
    return result
