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


def gemm_isa():
    return nf_gemm_isa().decode()


def gemm_set_isa(str isa):
    """Force a GEMM kernel set; returns False if this CPU/build cannot run it."""
    b = isa.encode()
    return nf_gemm_set_isa(b) == 0


def sgemm(bint transA, bint transB, float alpha, const float[:, ::1] A, const float[:, ::1] B,
          float beta, float[:, ::1] C, bint reference=False):
    """C = alpha * op(A) @ op(B) + beta * C on C-contiguous float32 2-D arrays."""
    cdef nf_int M = C.shape[0], N = C.shape[1]
    cdef nf_int K = A.shape[0] if transA else A.shape[1]
    cdef nf_int am = A.shape[1] if transA else A.shape[0]
    cdef nf_int bk = B.shape[1] if transB else B.shape[0]
    cdef nf_int bn = B.shape[0] if transB else B.shape[1]
    if am != M or bk != K or bn != N:
        raise ValueError(f"sgemm: op(A) is ({am}, {K}), op(B) is ({bk}, {bn}), C is ({M}, {N})")
    if M == 0 or N == 0:
        return
    cdef const float *pa = &A[0, 0] if A.shape[0] * A.shape[1] > 0 else NULL
    cdef const float *pb = &B[0, 0] if B.shape[0] * B.shape[1] > 0 else NULL
    with nogil:
        if reference:
            nf_sgemm_ref(transA, transB, M, N, K, alpha, pa, A.shape[1], pb, B.shape[1],
                         beta, &C[0, 0], N)
        else:
            nf_sgemm(transA, transB, M, N, K, alpha, pa, A.shape[1], pb, B.shape[1],
                     beta, &C[0, 0], N)


def colsum(float[::1] out, const float[:, ::1] x, float beta):
    if x.shape[1] != out.shape[0]:
        raise ValueError(f"colsum: x is ({x.shape[0]}, {x.shape[1]}), out is ({out.shape[0]},)")
    if out.shape[0] == 0:
        return
    cdef const float *px = &x[0, 0] if x.shape[0] > 0 else NULL
    with nogil:
        nf_colsum(&out[0], px, x.shape[0], x.shape[1], beta)


def linear_forward(float[:, ::1] out, const float[:, ::1] inp, const float[:, ::1] weight, bias):
    """out[M,N] = inp[M,K] @ weight[N,K]^T (+ bias[N])."""
    cdef nf_int M = inp.shape[0], K = inp.shape[1], N = weight.shape[0]
    cdef const float[::1] b
    cdef const float *pb = NULL
    if weight.shape[1] != K or out.shape[0] != M or out.shape[1] != N:
        raise ValueError(f"linear_forward: inp ({M}, {K}), weight ({N}, {weight.shape[1]}), "
                         f"out ({out.shape[0]}, {out.shape[1]})")
    if bias is not None:
        b = bias
        if b.shape[0] != N:
            raise ValueError(f"linear_forward: bias ({b.shape[0]},) for {N} outputs")
        if N > 0:
            pb = &b[0]
    if M == 0 or N == 0:
        return
    cdef const float *pi = &inp[0, 0] if K > 0 else NULL
    cdef const float *pw = &weight[0, 0] if K > 0 else NULL
    with nogil:
        nf_linear_forward(&out[0, 0], pi, pw, pb, M, K, N)


def linear_backward(dinp, dweight, dbias, const float[:, ::1] dout, const float[:, ::1] inp,
                    const float[:, ::1] weight, bint accumulate):
    """Gradients of linear_forward; dinp/dweight/dbias may be None (not needed)."""
    cdef nf_int M = inp.shape[0], K = inp.shape[1], N = weight.shape[0]
    cdef float[:, ::1] di, dw
    cdef float[::1] db
    cdef float *pdi = NULL
    cdef float *pdw = NULL
    cdef float *pdb = NULL
    if weight.shape[1] != K or dout.shape[0] != M or dout.shape[1] != N:
        raise ValueError(f"linear_backward: inp ({M}, {K}), weight ({N}, {weight.shape[1]}), "
                         f"dout ({dout.shape[0]}, {dout.shape[1]})")
    if dinp is not None:
        di = dinp
        if di.shape[0] != M or di.shape[1] != K:
            raise ValueError("linear_backward: dinp shape")
        if M * K > 0:
            pdi = &di[0, 0]
    if dweight is not None:
        dw = dweight
        if dw.shape[0] != N or dw.shape[1] != K:
            raise ValueError("linear_backward: dweight shape")
        if N * K > 0:
            pdw = &dw[0, 0]
    if dbias is not None:
        db = dbias
        if db.shape[0] != N:
            raise ValueError("linear_backward: dbias shape")
        if N > 0:
            pdb = &db[0]
    cdef const float *pdo = &dout[0, 0] if M * N > 0 else NULL
    cdef const float *pi = &inp[0, 0] if M * K > 0 else NULL
    cdef const float *pw = &weight[0, 0] if N * K > 0 else NULL
    if M == 0:
        # No rows: parameter gradients are zero (or unchanged when accumulating).
        if not accumulate:
            if pdw != NULL:
                dw[:, :] = 0
            if pdb != NULL:
                db[:] = 0
        return
    with nogil:
        nf_linear_backward(pdi, pdw, pdb, pdo, pi, pw, M, K, N, accumulate)
