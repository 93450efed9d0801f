# conv family: Conv2d on the GEMM (csrc/conv.c) and 2-D pooling (csrc/pool.c).
#
# A conv call's geometry travels as one tuple, in nf_conv2d_geom's field order:
#   (N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G)
# The Python API (nnfast/nn/_functional_conv.py) validates it; here only what the C side
# relies on is checked: array shapes agree with the geometry and the workspace is big enough.

cdef extern from "nnfast.h":
    ctypedef struct nf_conv2d_geom:
        nf_int N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G
    nf_int nf_conv2d_workspace(const nf_conv2d_geom *g, int backward) nogil
    void nf_conv2d_forward(float *out, float *ws, nf_int ws_size, const float *inp,
                           const float *weight, const float *bias,
                           const nf_conv2d_geom *g, int prec) nogil
    void nf_conv2d_backward(float *dinp, float *dweight, float *dbias, float *ws,
                            nf_int ws_size, const float *dout, const float *inp,
                            const float *weight, const nf_conv2d_geom *g, int accumulate,
                            int prec) nogil
    void nf_conv2d_forward_ref(float *out, const float *inp, const float *weight,
                               const float *bias, const nf_conv2d_geom *g) nogil
    void nf_conv2d_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *inp, const float *weight,
                                const nf_conv2d_geom *g) nogil
    void nf_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P,
                               nf_int H, nf_int W, nf_int OH, nf_int OW, nf_int KH, nf_int KW,
                               nf_int sh, nf_int sw, nf_int ph, nf_int pw, nf_int dh,
                               nf_int dw) nogil
    void nf_max_pool2d_backward(float *dinp, const float *dout, const int64_t *idx, nf_int P,
                                nf_int H, nf_int W, nf_int OH, nf_int OW) nogil
    void nf_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H, nf_int W,
                               nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh,
                               nf_int sw, nf_int ph, nf_int pw, int count_include_pad,
                               nf_int divisor_override) nogil
    void nf_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H, nf_int W,
                                nf_int OH, nf_int OW, nf_int KH, nf_int KW, nf_int sh,
                                nf_int sw, nf_int ph, nf_int pw, int count_include_pad,
                                nf_int divisor_override) nogil
    void nf_adaptive_avg_pool2d_forward(float *out, const float *inp, nf_int P, nf_int H,
                                        nf_int W, nf_int OH, nf_int OW) nogil
    void nf_adaptive_avg_pool2d_backward(float *dinp, const float *dout, nf_int P, nf_int H,
                                         nf_int W, nf_int OH, nf_int OW) nogil
    void nf_adaptive_max_pool2d_forward(float *out, int64_t *idx, const float *inp, nf_int P,
                                        nf_int H, nf_int W, nf_int OH, nf_int OW) nogil


cdef nf_conv2d_geom _geom(tuple t) except *:
    cdef nf_conv2d_geom g
    if len(t) != 16:
        raise ValueError(f"conv2d geometry must have 16 fields, got {len(t)}")
    N, C, H, W, OC, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G = t
    if min(t) < 0 or OH * sh + abs(ph) + KH * dh + H > INT64_MAX \
            or OW * sw + abs(pw) + KW * dw + W > INT64_MAX:   # Python ints: no overflow here
        raise ValueError(f"conv2d: bad geometry {t} (negative, or overflowing index arithmetic)")
    (g.N, g.C, g.H, g.W, g.OC, g.KH, g.KW, g.OH, g.OW,
     g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.G) = t
    if g.G < 1 or g.C % g.G or g.OC % g.G or min(g.sh, g.sw, g.dh, g.dw) < 1:
        raise ValueError(f"conv2d: bad geometry {t}")
    return g


cdef _check4(str who, shape, tuple want):
    if tuple(shape[:4]) != want:
        raise ValueError(f"{who} has shape {tuple(shape[:4])}, expected {want}")


cdef inline float *_p4(float[:, :, :, ::1] a):
    return &a[0, 0, 0, 0] if a is not None and a.size > 0 else NULL


cdef inline const float *_c4(const float[:, :, :, ::1] a):
    return &a[0, 0, 0, 0] if a is not None and a.size > 0 else NULL


def conv2d_workspace(tuple geom, bint backward):
    """Floats of scratch the conv2d kernels want now (0: none)."""
    cdef nf_conv2d_geom g = _geom(geom)
    return nf_conv2d_workspace(&g, backward)


def conv2d_forward(float[:, :, :, ::1] out, float[::1] ws, const float[:, :, :, ::1] inp,
                   const float[:, :, :, ::1] weight, const float[::1] bias, tuple geom,
                   bint reference=False, int prec=0):
    """out = conv2d(inp, weight) + bias by im2col + GEMM (reference: the direct loops; prec:
    the GEMMs' precision, as sgemm's)."""
    _check_prec(prec)
    if (_mis(&out[0, 0, 0, 0], 4) or _mis(&ws[0], 4) or _mis(&inp[0, 0, 0, 0], 4) or
        _mis(&weight[0, 0, 0, 0], 4) or _mis(&bias[0], 4)):
        return _realigned(conv2d_forward, (out, ws, inp, weight, bias, geom, reference, prec),
                          (0, 1))
    cdef nf_conv2d_geom g = _geom(geom)
    _check4("conv2d_forward: out", out.shape, (g.N, g.OC, g.OH, g.OW))
    _check4("conv2d_forward: inp", inp.shape, (g.N, g.C, g.H, g.W))
    _check4("conv2d_forward: weight", weight.shape, (g.OC, g.C // g.G, g.KH, g.KW))
    if bias is not None and bias.shape[0] != g.OC:
        raise ValueError(f"conv2d_forward: bias ({bias.shape[0]},) for {g.OC} channels")
    cdef nf_int need = 0 if reference else nf_conv2d_workspace(&g, 0)
    cdef nf_int have = 0 if ws is None else ws.shape[0]
    if have < need:
        raise ValueError(f"conv2d_forward: workspace of {have} floats, needs {need}")
    if out.size == 0:
        return
    cdef float *pw = &ws[0] if have > 0 else NULL
    cdef const float *pb = &bias[0] if bias is not None and g.OC > 0 else NULL
    cdef float *po = _p4(out)
    cdef const float *pi = _c4(inp)
    cdef const float *pwt = _c4(weight)
    with nogil:
        if reference:
            nf_conv2d_forward_ref(po, pi, pwt, pb, &g)
        else:
            nf_conv2d_forward(po, pw, have, pi, pwt, pb, &g, prec)


def conv2d_backward(float[:, :, :, ::1] dinp, float[:, :, :, ::1] dweight, float[::1] dbias,
                    float[::1] ws, const float[:, :, :, ::1] dout,
                    const float[:, :, :, ::1] inp, const float[:, :, :, ::1] weight,
                    tuple geom, bint accumulate, bint reference=False, int prec=0):
    """Gradients of conv2d_forward; dinp/dweight/dbias may be None (not needed); prec as
    conv2d_forward's."""
    _check_prec(prec)
    if (_mis(&dinp[0, 0, 0, 0], 4) or _mis(&dweight[0, 0, 0, 0], 4) or _mis(&dbias[0], 4) or
        _mis(&ws[0], 4) or _mis(&dout[0, 0, 0, 0], 4) or _mis(&inp[0, 0, 0, 0], 4) or
        _mis(&weight[0, 0, 0, 0], 4)):
        return _realigned(conv2d_backward, (dinp, dweight, dbias, ws, dout, inp, weight, geom,
                                            accumulate, reference, prec), (0, 1, 2, 3))
    cdef nf_conv2d_geom g = _geom(geom)
    _check4("conv2d_backward: dout", dout.shape, (g.N, g.OC, g.OH, g.OW))
    _check4("conv2d_backward: inp", inp.shape, (g.N, g.C, g.H, g.W))
    _check4("conv2d_backward: weight", weight.shape, (g.OC, g.C // g.G, g.KH, g.KW))
    if dinp is not None:
        _check4("conv2d_backward: dinp", dinp.shape, (g.N, g.C, g.H, g.W))
    if dweight is not None:
        _check4("conv2d_backward: dweight", dweight.shape, (g.OC, g.C // g.G, g.KH, g.KW))
    if dbias is not None and dbias.shape[0] != g.OC:
        raise ValueError(f"conv2d_backward: dbias ({dbias.shape[0]},) for {g.OC} channels")
    if reference and accumulate:
        raise ValueError("conv2d_backward: the reference overwrites (accumulate=False only)")
    cdef nf_int need = 0 if reference else nf_conv2d_workspace(&g, 1)
    cdef nf_int have = 0 if ws is None else ws.shape[0]
    if have < need:
        raise ValueError(f"conv2d_backward: workspace of {have} floats, needs {need}")
    cdef float *pw = &ws[0] if have > 0 else NULL
    cdef float *pdi = _p4(dinp)
    cdef float *pdw = _p4(dweight)
    cdef float *pdb = &dbias[0] if dbias is not None and g.OC > 0 else NULL
    cdef const float *pdo = _c4(dout)
    cdef const float *pi = _c4(inp)
    cdef const float *pwt = _c4(weight)
    if g.C == 0 or g.H == 0 or g.W == 0:   # no input elements: dinp is empty, dweight zero
        pdi = NULL
    with nogil:
        if reference:
            nf_conv2d_backward_ref(pdi, pdw, pdb, pdo, pi, pwt, &g)
        else:
            nf_conv2d_backward(pdi, pdw, pdb, pw, have, pdo, pi, pwt, &g, accumulate, prec)


# Pooling: planes [P, H, W] in, [P, OH, OW] out (the Python side reshapes NCHW to planes).

cdef int _pool_fits(str who, object H, object W, object OH, object OW, tuple kernel,
                    tuple stride, tuple padding, tuple dilation) except -1:
    """Windows are well formed (kernel, stride, dilation >= 1, padding >= 0) and the kernels'
    index arithmetic (oh*sh - ph + kh*dh, H + ph, ...) cannot overflow nf_int: checked in
    Python ints before anything is converted."""
    if len(kernel) != 2 or len(stride) != 2 or len(padding) != 2 or len(dilation) != 2:
        raise ValueError(f"{who}: kernel, stride, padding and dilation must be pairs")
    for n, on, k, st, p, d in ((H, OH, kernel[0], stride[0], padding[0], dilation[0]),
                               (W, OW, kernel[1], stride[1], padding[1], dilation[1])):
        if k < 1 or st < 1 or d < 1 or p < 0:
            raise ValueError(f"{who}: kernel {kernel}, stride {stride}, dilation {dilation} "
                             f"must be >= 1 and padding {padding} >= 0")
        if on * st + p + k * d + n > INT64_MAX:
            raise ValueError(f"{who}: kernel {kernel}, stride {stride}, padding {padding}, "
                             f"dilation {dilation} overflow the index arithmetic")
    return 0


def max_pool2d_forward(float[:, :, ::1] out, int64_t[:, :, ::1] idx,
                       const float[:, :, ::1] inp, tuple kernel, tuple stride, tuple padding,
                       tuple dilation):
    if _mis(&out[0, 0, 0], 4) or _mis(&idx[0, 0, 0], 8) or _mis(&inp[0, 0, 0], 4):
        return _realigned(max_pool2d_forward, (out, idx, inp, kernel, stride, padding,
                                               dilation), (0, 1))
    _pool_fits("max_pool2d_forward", inp.shape[1], inp.shape[2], out.shape[1], out.shape[2],
               kernel, stride, padding, dilation)
    cdef nf_int P = inp.shape[0], H = inp.shape[1], W = inp.shape[2]
    cdef nf_int OH = out.shape[1], OW = out.shape[2]
    cdef nf_int KH = kernel[0], KW = kernel[1], sh = stride[0], sw = stride[1]
    cdef nf_int ph = padding[0], pw = padding[1], dh = dilation[0], dw = dilation[1]
    if out.shape[0] != P or idx.shape[0] != P or idx.shape[1] != OH or idx.shape[2] != OW:
        raise ValueError("max_pool2d_forward: out/idx/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0 or min(KH, KW, sh, sw, dh, dw) < 1:
        raise ValueError("max_pool2d_forward: empty input or non-positive window")
    with nogil:
        nf_max_pool2d_forward(&out[0, 0, 0], &idx[0, 0, 0], &inp[0, 0, 0], P, H, W, OH, OW,
                              KH, KW, sh, sw, ph, pw, dh, dw)


def max_pool2d_backward(float[:, :, ::1] dinp, const float[:, :, ::1] dout,
                        const int64_t[:, :, ::1] idx):
    if _mis(&dinp[0, 0, 0], 4) or _mis(&dout[0, 0, 0], 4) or _mis(&idx[0, 0, 0], 8):
        return _realigned(max_pool2d_backward, (dinp, dout, idx), (0,))
    cdef nf_int P = dinp.shape[0], H = dinp.shape[1], W = dinp.shape[2]
    cdef nf_int OH = dout.shape[1], OW = dout.shape[2]
    if dout.shape[0] != P or idx.shape[0] != P or idx.shape[1] != OH or idx.shape[2] != OW:
        raise ValueError("max_pool2d_backward: dinp/dout/idx shapes disagree")
    if P * H * W == 0:
        return
    with nogil:
        nf_max_pool2d_backward(&dinp[0, 0, 0], &dout[0, 0, 0] if OH * OW > 0 else NULL,
                               &idx[0, 0, 0] if OH * OW > 0 else NULL, P, H, W, OH, OW)


def avg_pool2d_forward(float[:, :, ::1] out, const float[:, :, ::1] inp, tuple kernel,
                       tuple stride, tuple padding, bint count_include_pad,
                       nf_int divisor_override):
    if _mis(&out[0, 0, 0], 4) or _mis(&inp[0, 0, 0], 4):
        return _realigned(avg_pool2d_forward, (out, inp, kernel, stride, padding,
                                               count_include_pad, divisor_override), (0,))
    _pool_fits("avg_pool2d_forward", inp.shape[1], inp.shape[2], out.shape[1], out.shape[2],
               kernel, stride, padding, (1, 1))
    cdef nf_int P = inp.shape[0], H = inp.shape[1], W = inp.shape[2]
    cdef nf_int OH = out.shape[1], OW = out.shape[2]
    cdef nf_int KH = kernel[0], KW = kernel[1], sh = stride[0], sw = stride[1]
    cdef nf_int ph = padding[0], pw = padding[1]
    if out.shape[0] != P:
        raise ValueError("avg_pool2d_forward: out/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0 or min(KH, KW, sh, sw) < 1:
        raise ValueError("avg_pool2d_forward: empty input or non-positive window")
    with nogil:
        nf_avg_pool2d_forward(&out[0, 0, 0], &inp[0, 0, 0], P, H, W, OH, OW, KH, KW, sh, sw,
                              ph, pw, count_include_pad, divisor_override)


def avg_pool2d_backward(float[:, :, ::1] dinp, const float[:, :, ::1] dout, tuple kernel,
                        tuple stride, tuple padding, bint count_include_pad,
                        nf_int divisor_override):
    if _mis(&dinp[0, 0, 0], 4) or _mis(&dout[0, 0, 0], 4):
        return _realigned(avg_pool2d_backward, (dinp, dout, kernel, stride, padding,
                                                count_include_pad, divisor_override), (0,))
    _pool_fits("avg_pool2d_backward", dinp.shape[1], dinp.shape[2], dout.shape[1],
               dout.shape[2], kernel, stride, padding, (1, 1))
    cdef nf_int P = dinp.shape[0], H = dinp.shape[1], W = dinp.shape[2]
    cdef nf_int OH = dout.shape[1], OW = dout.shape[2]
    cdef nf_int KH = kernel[0], KW = kernel[1], sh = stride[0], sw = stride[1]
    cdef nf_int ph = padding[0], pw = padding[1]
    if dout.shape[0] != P:
        raise ValueError("avg_pool2d_backward: dinp/dout shapes disagree")
    if P * H * W == 0:
        return
    if min(KH, KW, sh, sw) < 1:
        raise ValueError("avg_pool2d_backward: non-positive window")
    with nogil:
        nf_avg_pool2d_backward(&dinp[0, 0, 0], &dout[0, 0, 0] if OH * OW > 0 else NULL, P, H,
                               W, OH, OW, KH, KW, sh, sw, ph, pw, count_include_pad,
                               divisor_override)


def adaptive_avg_pool2d_forward(float[:, :, ::1] out, const float[:, :, ::1] inp):
    if _mis(&out[0, 0, 0], 4) or _mis(&inp[0, 0, 0], 4):
        return _realigned(adaptive_avg_pool2d_forward, (out, inp), (0,))
    cdef nf_int P = inp.shape[0], H = inp.shape[1], W = inp.shape[2]
    cdef nf_int OH = out.shape[1], OW = out.shape[2]
    if out.shape[0] != P:
        raise ValueError("adaptive_avg_pool2d_forward: out/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError("adaptive_avg_pool2d_forward: empty input planes")
    with nogil:
        nf_adaptive_avg_pool2d_forward(&out[0, 0, 0], &inp[0, 0, 0], P, H, W, OH, OW)


def adaptive_avg_pool2d_backward(float[:, :, ::1] dinp, const float[:, :, ::1] dout):
    if _mis(&dinp[0, 0, 0], 4) or _mis(&dout[0, 0, 0], 4):
        return _realigned(adaptive_avg_pool2d_backward, (dinp, dout), (0,))
    cdef nf_int P = dinp.shape[0], H = dinp.shape[1], W = dinp.shape[2]
    cdef nf_int OH = dout.shape[1], OW = dout.shape[2]
    if dout.shape[0] != P:
        raise ValueError("adaptive_avg_pool2d_backward: dinp/dout shapes disagree")
    if P * H * W == 0:
        return
    if OH == 0 or OW == 0:
        raise ValueError("adaptive_avg_pool2d_backward: empty output planes")
    with nogil:
        nf_adaptive_avg_pool2d_backward(&dinp[0, 0, 0], &dout[0, 0, 0], P, H, W, OH, OW)


def adaptive_max_pool2d_forward(float[:, :, ::1] out, int64_t[:, :, ::1] idx,
                                const float[:, :, ::1] inp):
    """Adaptive max pooling of planes; the backward is max_pool2d_backward with idx."""
    if _mis(&out[0, 0, 0], 4) or _mis(&idx[0, 0, 0], 8) or _mis(&inp[0, 0, 0], 4):
        return _realigned(adaptive_max_pool2d_forward, (out, idx, inp), (0, 1))
    cdef nf_int P = inp.shape[0], H = inp.shape[1], W = inp.shape[2]
    cdef nf_int OH = out.shape[1], OW = out.shape[2]
    if out.shape[0] != P or idx.shape[0] != P or idx.shape[1] != OH or idx.shape[2] != OW:
        raise ValueError("adaptive_max_pool2d_forward: out/idx/inp shapes disagree")
    if P * OH * OW == 0:
        return
    if H == 0 or W == 0:
        raise ValueError("adaptive_max_pool2d_forward: empty input planes")
    with nogil:
        nf_adaptive_max_pool2d_forward(&out[0, 0, 0], &idx[0, 0, 0], &inp[0, 0, 0], P, H, W,
                                       OH, OW)
