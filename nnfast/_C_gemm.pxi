# GEMM family: nf_sgemm, nf_linear_*, nf_colsum (csrc/gemm/).

cdef extern from "nnfast.h":
    void nf_sgemm(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
                  const float *A, nf_int lda, const float *B, nf_int ldb,
                  float beta, float *C, nf_int ldc) nogil
    void nf_sgemm_ref(int transA, int transB, nf_int M, nf_int N, nf_int K, float alpha,
                      const float *A, nf_int lda, const float *B, nf_int ldb,
                      float beta, float *C, nf_int ldc) nogil
    const char *nf_gemm_isa() nogil
    int nf_gemm_set_isa(const char *isa) nogil
    void nf_colsum(float *out, const float *x, nf_int M, nf_int N, float beta) nogil
    void nf_linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                           nf_int M, nf_int K, nf_int N) nogil
    void nf_linear_backward(float *dinp, float *dweight, float *dbias,
                            const float *dout, const float *inp, const float *weight,
                            nf_int M, nf_int K, nf_int N, int accumulate) nogil
    void nf_sgemm_prec(int prec, int transA, int transB, nf_int M, nf_int N, nf_int K,
                       float alpha, const float *A, nf_int lda, const float *B, nf_int ldb,
                       float beta, float *C, nf_int ldc) nogil
    const char *nf_gemm_bf16_isa() nogil
    const char *nf_gemm_fp16_isa() nogil
    enum:
        NF_PREC_FP32
        NF_PREC_BF16
        NF_PREC_FP16
    int nf_gemm_set_bf16(const char *mode) nogil
    ctypedef struct nf_gemm_epi:
        pass
    void nf_linear_forward_prec(int prec, float *out, const float *inp, const float *weight,
                                const float *bias, nf_int M, nf_int K, nf_int N,
                                const nf_gemm_epi *epi) nogil
    void nf_linear_backward_prec(int prec, float *dinp, float *dweight, float *dbias,
                                 const float *dout, const float *inp, const float *weight,
                                 nf_int M, nf_int K, nf_int N, int accumulate,
                                 const nf_gemm_epi *dinp_epi,
                                 const nf_gemm_epi *dweight_epi) nogil
    double nf_bf16_peak(float *sink, nf_int iters) nogil


def gemm_isa():
    return nf_gemm_isa().decode()


def gemm_set_isa(str isa):
    """Force a GEMM kernel set; returns False if this CPU/build cannot run it."""
    b = isa.encode()
    return nf_gemm_set_isa(b) == 0


def gemm_bf16_isa():
    """The bf16 tile in use: "avx512_bf16" (vdpbf16ps), else "<isa>+round"."""
    return nf_gemm_bf16_isa().decode()


def gemm_fp16_isa():
    """The fp16 (autocast to float16) set in use: "<isa>+fp16"."""
    return nf_gemm_fp16_isa().decode()


# The kernels' precision codes (nnfast.h's NF_PREC_*), for nnfast.amp
PREC_FP32, PREC_BF16, PREC_FP16 = NF_PREC_FP32, NF_PREC_BF16, NF_PREC_FP16


cdef int _check_prec(int prec) except -1:
    """prec as nnfast.h's NF_PREC_*: 0 fp32, 1 bf16, 2 fp16."""
    if prec != NF_PREC_FP32 and prec != NF_PREC_BF16 and prec != NF_PREC_FP16:
        raise ValueError(f"precision {prec}: expected {NF_PREC_FP32} (fp32), {NF_PREC_BF16} "
                         f"(bf16) or {NF_PREC_FP16} (fp16)")
    return 0


def gemm_set_bf16(str mode):
    """"emulate" (round operands, fp32 tile) or "auto"; False for another word."""
    return nf_gemm_set_bf16(mode.encode()) == 0


def bf16_peak(int64_t iters):
    """fma_peak for vdpbf16ps: the flops done (0 without AVX512-BF16)."""
    cdef float sink = 0
    cdef double flops
    if iters < 0:
        raise ValueError(f"iters must be >= 0, got {iters}")
    with nogil:
        flops = nf_bf16_peak(&sink, iters)
    return flops


# Arrays come in through the buffer protocol directly: a typed memoryview costs ~100 ns per
# argument to set up, a tenth of a whole 32x64x32 GEMM. _view makes the same checks that
# `const float[:, ::1]` makes (C-contiguous float32 of the right rank; writable for outputs)
# and raises the same errors (ValueError; TypeError for objects without a buffer).
# An ndarray that passes those checks is read through NumPy's C API instead of exporting a
# buffer (NumPy builds a format string and caches buffer info per export: ~0.15 us of a
# 1.5 us 32x64x32 call). Its view then owns nothing (obj NULL) and PyBuffer_Release skips
# it; the caller's argument keeps the array alive, and a held reference makes resize()
# refuse, so the data cannot move while the GIL is released.
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS,
                             PyBUF_FORMAT, PyBUF_WRITABLE)
from libc.string cimport memset
cimport numpy as cnp
cnp.import_array()


cdef int _view(object o, Py_buffer *v, int ndim, bint writable, str who) except -1:
    """Acquire o's buffer into v as a C-contiguous float32 array of rank ndim, or raise.
    v arrives zeroed (_clear); the ndarray path leaves its obj NULL."""
    cdef cnp.ndarray a
    if cnp.PyArray_Check(o):
        a = <cnp.ndarray>o
        if (cnp.PyArray_NDIM(a) == ndim and cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32
                and cnp.PyArray_ISNOTSWAPPED(a) and cnp.PyArray_IS_C_CONTIGUOUS(a)
                and (not writable or cnp.PyArray_ISWRITEABLE(a))):
            v.buf = cnp.PyArray_DATA(a)
            v.ndim = ndim
            v.itemsize = 4
            v.shape = <Py_ssize_t *>cnp.PyArray_DIMS(a)
            return 0
    PyObject_GetBuffer(o, v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (PyBUF_WRITABLE if writable else 0))
    cdef const char *f = v.format
    if f[0] in b"=<@":  # native little-endian float32 may carry a byte-order prefix
        f += 1
    if v.ndim != ndim or v.itemsize != 4 or f[0] != b"f" or f[1] != 0:
        raise ValueError(f"{who} must be a C-contiguous {ndim}-D float32 array, "
                         f"got format {v.format.decode()!r} with {v.ndim} dimension(s)")
    return 0


cdef inline void _clear(Py_buffer *v) noexcept:
    memset(v, 0, sizeof(Py_buffer))  # PyBuffer_Release skips a view never acquired


# A wrapper's 1-D arrays, held from their check to the kernel's return: a typed memoryview
# costs ~0.5 us to acquire on a fast machine (several per optimizer or loss call), this an
# ndarray test and a few field reads.
cdef struct _Held:
    Py_buffer v[8]
    int n


cdef void *_hold(_Held *h, object o, nf_int n, bint writable, bint optional, str who,
                 int typenum=cnp.NPY_FLOAT32) except? NULL:
    """o as a C-contiguous 1-D array of n elements (n < 0: any length) of typenum (float32
    or int64), its data pointer; None gives NULL when optional. _release(h) lets go."""
    if o is None:
        if optional:
            return NULL
        raise TypeError(f"{who} must be an array, not None")
    cdef Py_buffer *v = &h.v[h.n]
    cdef cnp.ndarray a
    memset(v, 0, sizeof(Py_buffer))
    if typenum == cnp.NPY_FLOAT32:
        _view(o, v, 1, writable, who)
    elif cnp.PyArray_Check(o) and cnp.PyArray_NDIM(<cnp.ndarray>o) == 1 and \
            cnp.PyArray_TYPE(<cnp.ndarray>o) == cnp.NPY_INT64 and \
            cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>o) and \
            cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>o) and \
            (not writable or cnp.PyArray_ISWRITEABLE(<cnp.ndarray>o)):
        a = <cnp.ndarray>o
        v.buf, v.ndim, v.itemsize = cnp.PyArray_DATA(a), 1, 8
        v.shape = <Py_ssize_t *>cnp.PyArray_DIMS(a)
    else:
        raise ValueError(f"{who} must be a C-contiguous 1-D int64 array")
    h.n += 1
    if n >= 0 and v.shape[0] != n:
        raise ValueError(f"{who} has {v.shape[0]} elements, expected {n}")
    return v.buf


cdef inline nf_int _held_len(_Held *h, int i) noexcept:
    return h.v[i].shape[0]


cdef inline void _release(_Held *h) noexcept:
    cdef int i
    for i in range(h.n):
        PyBuffer_Release(&h.v[i])
    h.n = 0


def sgemm(bint transA, bint transB, float alpha, A, B, float beta, C, bint reference=False,
          int prec=0):
    """C = alpha * op(A) @ op(B) + beta * C on C-contiguous float32 2-D arrays. prec: 0 fp32,
    1 the operands rounded to bfloat16, 2 to float16, fp32 accumulation (autocast)."""
    _check_prec(prec)
    if _mis_obj(A) or _mis_obj(B) or _mis_obj(C):
        return _realigned(sgemm, (transA, transB, alpha, A, B, beta, C, reference, prec),
                          (6,))
    cdef Py_buffer va, vb, vc
    cdef nf_int M, N, K, am, bk, bn, lda, ldb
    cdef const float *pa
    cdef const float *pb
    cdef float *pc
    _clear(&va); _clear(&vb); _clear(&vc)
    try:
        _view(A, &va, 2, False, "sgemm: A")
        _view(B, &vb, 2, False, "sgemm: B")
        _view(C, &vc, 2, True, "sgemm: C")
        M, N = vc.shape[0], vc.shape[1]
        K = va.shape[0] if transA else va.shape[1]
        am = va.shape[1] if transA else va.shape[0]
        bk = vb.shape[1] if transB else vb.shape[0]
        bn = vb.shape[0] if transB else vb.shape[1]
        if am != M or bk != K or bn != N:
            raise ValueError(f"sgemm: op(A) is ({am}, {K}), op(B) is ({bk}, {bn}), C is ({M}, {N})")
        if M == 0 or N == 0:
            return
        pa = <const float *>va.buf if K > 0 else NULL
        pb = <const float *>vb.buf if K > 0 else NULL
        pc = <float *>vc.buf
        lda, ldb = va.shape[1], vb.shape[1]
        with nogil:
            if reference:
                nf_sgemm_ref(transA, transB, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, N)
            else:
                nf_sgemm_prec(prec, transA, transB, M, N, K, alpha, pa, lda, pb, ldb, beta,
                              pc, N)
    finally:
        PyBuffer_Release(&va); PyBuffer_Release(&vb); PyBuffer_Release(&vc)


def colsum(out, x, float beta):
    """out[j] = beta * out[j] + sum_i x[i, j]."""
    if _mis_obj(out) or _mis_obj(x):
        return _realigned(colsum, (out, x, beta), (0,))
    cdef Py_buffer vo, vx
    cdef nf_int M, N
    _clear(&vo); _clear(&vx)
    try:
        _view(out, &vo, 1, True, "colsum: out")
        _view(x, &vx, 2, False, "colsum: x")
        M, N = vx.shape[0], vx.shape[1]
        if N != vo.shape[0]:
            raise ValueError(f"colsum: x is ({M}, {N}), out is ({vo.shape[0]},)")
        if N == 0:
            return
        with nogil:
            nf_colsum(<float *>vo.buf, <const float *>vx.buf if M > 0 else NULL, M, N, beta)
    finally:
        PyBuffer_Release(&vo); PyBuffer_Release(&vx)


def linear_forward(out, inp, weight, bias, int prec=0):
    """out[M,N] = inp[M,K] @ weight[N,K]^T (+ bias[N]); prec as sgemm's."""
    _check_prec(prec)
    if _mis_obj(out) or _mis_obj(inp) or _mis_obj(weight) or _mis_obj(bias):
        return _realigned(linear_forward, (out, inp, weight, bias, prec), (0,))
    cdef Py_buffer vo, vi, vw, vb
    cdef nf_int M, K, N
    cdef const float *pb = NULL
    _clear(&vo); _clear(&vi); _clear(&vw); _clear(&vb)
    try:
        _view(out, &vo, 2, True, "linear_forward: out")
        _view(inp, &vi, 2, False, "linear_forward: inp")
        _view(weight, &vw, 2, False, "linear_forward: weight")
        M, K, N = vi.shape[0], vi.shape[1], vw.shape[0]
        if vw.shape[1] != K or vo.shape[0] != M or vo.shape[1] != N:
            raise ValueError(f"linear_forward: inp ({M}, {K}), weight ({N}, {vw.shape[1]}), "
                             f"out ({vo.shape[0]}, {vo.shape[1]})")
        if bias is not None:
            _view(bias, &vb, 1, False, "linear_forward: bias")
            if vb.shape[0] != N:
                raise ValueError(f"linear_forward: bias ({vb.shape[0]},) for {N} outputs")
            pb = <const float *>vb.buf if N > 0 else NULL
        if M == 0 or N == 0:
            return
        with nogil:
            nf_linear_forward_prec(prec, <float *>vo.buf,
                                   <const float *>vi.buf if K > 0 else NULL,
                                   <const float *>vw.buf if K > 0 else NULL, pb, M, K, N, NULL)
    finally:
        PyBuffer_Release(&vo); PyBuffer_Release(&vi); PyBuffer_Release(&vw)
        PyBuffer_Release(&vb)


def linear_backward(dinp, dweight, dbias, dout, inp, weight, bint accumulate,
                    int prec=0):
    """Gradients of linear_forward; dinp/dweight/dbias may be None (not needed); prec: the
    two GEMMs' precision, as sgemm's (the bias gradient stays an fp32 sum)."""
    _check_prec(prec)
    if (_mis_obj(dinp) or _mis_obj(dweight) or _mis_obj(dbias) or _mis_obj(dout) or
        _mis_obj(inp) or _mis_obj(weight)):
        return _realigned(linear_backward, (dinp, dweight, dbias, dout, inp, weight,
                                            accumulate, prec), (0, 1, 2))
    cdef Py_buffer vdi, vdw, vdb, vdo, vi, vw
    cdef nf_int M, K, N
    cdef float *pdi = NULL
    cdef float *pdw = NULL
    cdef float *pdb = NULL
    _clear(&vdi); _clear(&vdw); _clear(&vdb); _clear(&vdo); _clear(&vi); _clear(&vw)
    try:
        _view(dout, &vdo, 2, False, "linear_backward: dout")
        _view(inp, &vi, 2, False, "linear_backward: inp")
        _view(weight, &vw, 2, False, "linear_backward: weight")
        M, K, N = vi.shape[0], vi.shape[1], vw.shape[0]
        if vw.shape[1] != K or vdo.shape[0] != M or vdo.shape[1] != N:
            raise ValueError(f"linear_backward: inp ({M}, {K}), weight ({N}, {vw.shape[1]}), "
                             f"dout ({vdo.shape[0]}, {vdo.shape[1]})")
        if dinp is not None:
            _view(dinp, &vdi, 2, True, "linear_backward: dinp")
            if vdi.shape[0] != M or vdi.shape[1] != K:
                raise ValueError(f"linear_backward: dinp ({vdi.shape[0]}, {vdi.shape[1]}), "
                                 f"expected ({M}, {K})")
            if M * K > 0:
                pdi = <float *>vdi.buf
        if dweight is not None:
            _view(dweight, &vdw, 2, True, "linear_backward: dweight")
            if vdw.shape[0] != N or vdw.shape[1] != K:
                raise ValueError(f"linear_backward: dweight ({vdw.shape[0]}, {vdw.shape[1]}), "
                                 f"expected ({N}, {K})")
            if N * K > 0:
                pdw = <float *>vdw.buf
        if dbias is not None:
            _view(dbias, &vdb, 1, True, "linear_backward: dbias")
            if vdb.shape[0] != N:
                raise ValueError(f"linear_backward: dbias ({vdb.shape[0]},), expected ({N},)")
            if N > 0:
                pdb = <float *>vdb.buf
        if M == 0:
            # No rows: parameter gradients are zero (or unchanged when accumulating).
            if not accumulate:
                if pdw != NULL:
                    memset(pdw, 0, N * K * sizeof(float))
                if pdb != NULL:
                    memset(pdb, 0, N * sizeof(float))
            return
        with nogil:
            nf_linear_backward_prec(prec, pdi, pdw, pdb,
                                    <const float *>vdo.buf if N > 0 else NULL,
                                    <const float *>vi.buf if K > 0 else NULL,
                                    <const float *>vw.buf if N * K > 0 else NULL,
                                    M, K, N, accumulate, NULL, NULL)
    finally:
        PyBuffer_Release(&vdi); PyBuffer_Release(&vdw); PyBuffer_Release(&vdb)
        PyBuffer_Release(&vdo); PyBuffer_Release(&vi); PyBuffer_Release(&vw)
