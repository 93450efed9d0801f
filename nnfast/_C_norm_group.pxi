# GroupNorm (csrc/norm_group.c) over x[N, C, S] in G groups. Flat C-contiguous float32 views
# in; optional arrays are None (NULL). Only the sizes the kernel relies on are checked.

cdef extern from "nnfast.h":
    void nf_group_norm_forward(float *out, float *mean, float *rstd, const float *x,
                               const float *weight, const float *bias, nf_int N, nf_int C,
                               nf_int S, nf_int G, double eps) nogil
    void nf_group_norm_backward(float *dinp, float *dweight, float *dbias, double *ws,
                                const float *dout, const float *x, const float *mean,
                                const float *rstd, const float *weight, nf_int N, nf_int C,
                                nf_int S, nf_int G) nogil


cdef int _gn_sizes(str who, nf_int N, nf_int C, nf_int S, nf_int G) except -1:
    if N < 0 or C < 0 or S < 0 or G < 1 or C % G:
        raise ValueError(f"{who}: bad sizes N={N} C={C} S={S} G={G}")
    _size(who, N, C, S)
    return 0


def group_norm_forward(float[::1] out not None, float[::1] mean not None,
                       float[::1] rstd not None, const float[::1] x not None,
                       const float[::1] weight, const float[::1] bias, nf_int N, nf_int C,
                       nf_int S, nf_int G, double eps):
    """out = group-normalised x[N,C,S] * weight[c] + bias[c]; mean/rstd[N*G] written."""
    if (_mis(&out[0], 4) or _mis(&mean[0], 4) or _mis(&rstd[0], 4) or _mis(&x[0], 4) or
        _mis(&weight[0], 4) or _mis(&bias[0], 4)):
        return _realigned(group_norm_forward, (out, mean, rstd, x, weight, bias, N, C, S, G,
                                               eps), (0, 1, 2))
    who = "group_norm_forward"
    _gn_sizes(who, N, C, S, G)
    _sz(who, "x", x.shape[0], N * C * S)
    _sz(who, "out", out.shape[0], N * C * S)
    _sz(who, "mean", mean.shape[0], N * G)
    _sz(who, "rstd", rstd.shape[0], N * G)
    if weight is not None:
        _sz(who, "weight", weight.shape[0], C)
    if bias is not None:
        _sz(who, "bias", bias.shape[0], C)
    if N * C == 0:
        return
    cdef float *po = &out[0] if out.shape[0] > 0 else NULL
    cdef float *pm = _wp(mean)
    cdef float *pr = _wp(rstd)
    cdef const float *px = _rp(x)
    cdef const float *pw = _rp(weight)
    cdef const float *pb = _rp(bias)
    with nogil:
        nf_group_norm_forward(po, pm, pr, px, pw, pb, N, C, S, G, eps)


def group_norm_backward(float[::1] dinp, float[::1] dweight, float[::1] dbias,
                        double[::1] ws not None, const float[::1] dout not None,
                        const float[::1] x not None, const float[::1] mean not None,
                        const float[::1] rstd not None, const float[::1] weight, nf_int N,
                        nf_int C, nf_int S, nf_int G):
    """dinp/dweight/dbias (each or None) of group_norm_forward; ws: 2*N*C doubles."""
    if (_mis(&dinp[0], 4) or _mis(&dweight[0], 4) or _mis(&dbias[0], 4) or _mis(&ws[0], 8) or
        _mis(&dout[0], 4) or _mis(&x[0], 4) or _mis(&mean[0], 4) or _mis(&rstd[0], 4) or
        _mis(&weight[0], 4)):
        return _realigned(group_norm_backward, (dinp, dweight, dbias, ws, dout, x, mean, rstd,
                                                weight, N, C, S, G), (0, 1, 2, 3))
    who = "group_norm_backward"
    _gn_sizes(who, N, C, S, G)
    _sz(who, "dout", dout.shape[0], N * C * S)
    _sz(who, "x", x.shape[0], N * C * S)
    _sz(who, "mean", mean.shape[0], N * G)
    _sz(who, "rstd", rstd.shape[0], N * G)
    if ws.shape[0] < 2 * N * C:
        raise ValueError(f"{who}: workspace of {ws.shape[0]} doubles, needs {2 * N * C}")
    if dinp is not None:
        _sz(who, "dinp", dinp.shape[0], N * C * S)
    if dweight is not None:
        _sz(who, "dweight", dweight.shape[0], C)
    if dbias is not None:
        _sz(who, "dbias", dbias.shape[0], C)
    if weight is not None:
        _sz(who, "weight", weight.shape[0], C)
    if C == 0:
        return
    cdef float *pdi = _wp(dinp)
    cdef float *pdw = _wp(dweight)
    cdef float *pdb = _wp(dbias)
    cdef double *pws = &ws[0] if ws.shape[0] > 0 else NULL
    cdef const float *pdo = _rp(dout)
    cdef const float *px = _rp(x)
    cdef const float *pm = _rp(mean)
    cdef const float *pr = _rp(rstd)
    cdef const float *pw = _rp(weight)
    if N * C * S == 0:
        pdi = NULL
    with nogil:
        nf_group_norm_backward(pdi, pdw, pdb, pws, pdo, px, pm, pr, pw, N, C, S, G)
