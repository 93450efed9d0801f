# upsample family (csrc/upsample.c): nearest / bilinear resizing of planes [P, H, W] through
# index and weight tables. The kernels trust the tables, so every index is checked here.

cdef extern from "nnfast.h":
    void nf_upsample_nearest2d_forward(float *out, const float *inp, const nf_int *hi,
                                       const nf_int *wi, nf_int P, nf_int H, nf_int W,
                                       nf_int OH, nf_int OW) nogil
    void nf_upsample_nearest2d_backward(float *dinp, const float *dout, const nf_int *hi,
                                        const nf_int *wi, nf_int P, nf_int H, nf_int W,
                                        nf_int OH, nf_int OW) nogil
    void nf_upsample_bilinear2d_forward(float *out, const float *inp, const nf_int *h0,
                                        const nf_int *h1, const float *lh, const nf_int *w0,
                                        const nf_int *w1, const float *lw, nf_int P, nf_int H,
                                        nf_int W, nf_int OH, nf_int OW) nogil
    void nf_upsample_bilinear2d_backward(float *dinp, const float *dout, const nf_int *h0,
                                         const nf_int *h1, const float *lh, const nf_int *w0,
                                         const nf_int *w1, const float *lw, nf_int P,
                                         nf_int H, nf_int W, nf_int OH, nf_int OW) nogil


cdef int _table(str who, const int64_t[::1] t, nf_int n, nf_int limit) except -1:
    cdef nf_int i
    if t.shape[0] != n:
        raise ValueError(f"{who}: index table of {t.shape[0]} entries, expected {n}")
    for i in range(n):
        if t[i] < 0 or t[i] >= limit:
            raise ValueError(f"{who}: index {t[i]} outside [0, {limit})")
    return 0


cdef int _planes(str who, tuple x, tuple y) except -1:
    if x[0] != y[0]:
        raise ValueError(f"{who}: {x[0]} and {y[0]} planes")
    _size(who, x[0], x[1], x[2])
    _size(who, y[0], y[1], y[2])
    return 0


def upsample_nearest2d(float[:, :, ::1] out, const float[:, :, ::1] inp,
                       const int64_t[::1] hi, const int64_t[::1] wi, bint backward=False):
    """forward: out[P,OH,OW] = inp[P,H,W] at (hi, wi); backward: out is dinp[P,H,W] and inp
    is dout[P,OH,OW] (scatter-add, dinp overwritten)."""
    if _mis(&out[0, 0, 0], 4) or _mis(&inp[0, 0, 0], 4) or _mis(&hi[0], 8) or _mis(&wi[0], 8):
        return _realigned(upsample_nearest2d, (out, inp, hi, wi, backward), (0,))
    who = "upsample_nearest2d"
    cdef nf_int P, OH, OW, H, W
    if backward:
        _planes(who, (inp.shape[0], inp.shape[1], inp.shape[2]), (out.shape[0], out.shape[1], out.shape[2]))
        P, OH, OW = inp.shape[0], inp.shape[1], inp.shape[2]
        H, W = out.shape[1], out.shape[2]
    else:
        _planes(who, (out.shape[0], out.shape[1], out.shape[2]), (inp.shape[0], inp.shape[1], inp.shape[2]))
        P, OH, OW = out.shape[0], out.shape[1], out.shape[2]
        H, W = inp.shape[1], inp.shape[2]
    _table(who, hi, OH, H)
    _table(who, wi, OW, W)
    if P * OH * OW == 0 or P * H * W == 0:
        if backward and P * H * W:
            out[...] = 0
        return
    with nogil:
        if backward:
            nf_upsample_nearest2d_backward(&out[0, 0, 0], &inp[0, 0, 0], &hi[0], &wi[0], P, H,
                                           W, OH, OW)
        else:
            nf_upsample_nearest2d_forward(&out[0, 0, 0], &inp[0, 0, 0], &hi[0], &wi[0], P, H,
                                          W, OH, OW)


def upsample_bilinear2d(float[:, :, ::1] out, const float[:, :, ::1] inp,
                        const int64_t[::1] h0, const int64_t[::1] h1, const float[::1] lh,
                        const int64_t[::1] w0, const int64_t[::1] w1, const float[::1] lw,
                        bint backward=False):
    """As upsample_nearest2d, with two rows/columns per output and their weights."""
    if (_mis(&out[0, 0, 0], 4) or _mis(&inp[0, 0, 0], 4) or _mis(&h0[0], 8) or _mis(&h1[0], 8) or
        _mis(&lh[0], 4) or _mis(&w0[0], 8) or _mis(&w1[0], 8) or _mis(&lw[0], 4)):
        return _realigned(upsample_bilinear2d, (out, inp, h0, h1, lh, w0, w1, lw, backward), (0,))
    who = "upsample_bilinear2d"
    cdef nf_int P, OH, OW, H, W
    if backward:
        _planes(who, (inp.shape[0], inp.shape[1], inp.shape[2]), (out.shape[0], out.shape[1], out.shape[2]))
        P, OH, OW = inp.shape[0], inp.shape[1], inp.shape[2]
        H, W = out.shape[1], out.shape[2]
    else:
        _planes(who, (out.shape[0], out.shape[1], out.shape[2]), (inp.shape[0], inp.shape[1], inp.shape[2]))
        P, OH, OW = out.shape[0], out.shape[1], out.shape[2]
        H, W = inp.shape[1], inp.shape[2]
    _table(who, h0, OH, H)
    _table(who, h1, OH, H)
    _table(who, w0, OW, W)
    _table(who, w1, OW, W)
    if lh.shape[0] != OH or lw.shape[0] != OW:
        raise ValueError(f"{who}: weight tables of {lh.shape[0]}, {lw.shape[0]} entries, "
                         f"expected {OH}, {OW}")
    if P * OH * OW == 0 or P * H * W == 0:
        if backward and P * H * W:
            out[...] = 0
        return
    with nogil:
        if backward:
            nf_upsample_bilinear2d_backward(&out[0, 0, 0], &inp[0, 0, 0], &h0[0], &h1[0],
                                            &lh[0], &w0[0], &w1[0], &lw[0], P, H, W, OH, OW)
        else:
            nf_upsample_bilinear2d_forward(&out[0, 0, 0], &inp[0, 0, 0], &h0[0], &h1[0],
                                           &lh[0], &w0[0], &w1[0], &lw[0], P, H, W, OH, OW)
