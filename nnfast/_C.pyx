# cython: language_level=3
"""nnfast._C — the Cython seam between NumPy arrays and the C kernels of csrc/.

Only marshalling lives here: typed, C-contiguous memoryviews in, a C call with the GIL
released, nothing out but what the kernel wrote. Checks are limited to what the C side relies
on (matching sizes); user-facing validation with friendly messages is in the Python API.
One .pxi per kernel family, each with its own `cdef extern` block from nnfast.h.
"""
from libc.stdint cimport int64_t, INT64_MAX
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_STRIDES

cdef extern from "nnfast.h":
    ctypedef int64_t nf_int
    void nf_set_num_threads(int n) nogil
    int nf_get_num_threads() nogil
    int nf_has_openmp() nogil
    int nf_malloc_keep(size_t keep_bytes) nogil
    int nf_cpu_has(const char *feature) nogil
    double nf_fma_peak(float *sink, nf_int iters) nogil


cdef nf_int _size(str who, nf_int a, nf_int b=1, nf_int c=1) except -1:
    """a*b*c for a size check the kernels rely on. ValueError if a size is negative or the
    product overflows nf_int: a wrapped product can equal a short buffer's length while the
    kernel loops over the real sizes."""
    if a < 0 or b < 0 or c < 0:
        raise ValueError(f"{who}: negative size in ({a}, {b}, {c})")
    if (b != 0 and a > INT64_MAX // b) or (c != 0 and a * b > INT64_MAX // c):
        raise ValueError(f"{who}: sizes ({a}, {b}, {c}) overflow")
    return a * b * c


def set_num_threads(int n):
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    nf_set_num_threads(n)


def get_num_threads():
    return nf_get_num_threads()


def malloc_keep(size_t keep_bytes):
    """Keep up to keep_bytes of freed heap for reuse (glibc); False where not supported."""
    return nf_malloc_keep(keep_bytes) == 0


def has_openmp():
    return bool(nf_has_openmp())


def data_address(obj):
    """Address of the first element of an array (through the buffer protocol).

    NumPy 2.4's ndarray.__array_interface__ leaks ~48 bytes per call on a view, so hot paths
    that compare addresses (contiguous-span detection) use this instead."""
    cdef Py_buffer view
    PyObject_GetBuffer(obj, &view, PyBUF_STRIDES)
    addr = <size_t>view.buf
    PyBuffer_Release(&view)
    return addr


def cpu_has(str feature):
    b = feature.encode()
    return bool(nf_cpu_has(b))


def fma_peak(int64_t iters):
    """Run the peak-FLOP probe (register-only FMA chains on every OpenMP thread, `iters`
    rounds each); returns the fp32 FLOPs done, for the caller to divide by wall time."""
    cdef float sink = 0
    cdef double flops
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    with nogil:
        flops = nf_fma_peak(&sink, iters)
    return flops


include "_C_align.pxi"   # first: every wrapper below uses it
include "_C_gemm.pxi"
include "_C_act.pxi"
include "_C_loss.pxi"
include "_C_optim.pxi"
include "_C_optim_extra.pxi"
include "_C_dropout.pxi"
include "_C_norm.pxi"
include "_C_norm_group.pxi"
include "_C_conv.pxi"
include "_C_rnn.pxi"
include "_C_resample.pxi"
include "_C_upsample.pxi"
include "_C_step.pxi"
