# Norm family (csrc/norm.c): BatchNorm over [N, C, S], LayerNorm over [M, D].
# Arrays are flat (1-D) C-contiguous float32 views; the Python side reshapes. Optional
# arrays are None (passed to C as NULL).

cdef extern from "nnfast.h":
    void nf_batch_norm_stats(float *mean, float *invstd, float *running_mean,
                             float *running_var, const float *x, nf_int N, nf_int C, nf_int S,
                             double momentum, double eps) nogil
    void nf_batch_norm_stats_ref(float *mean, float *invstd, float *running_mean,
                                 float *running_var, const float *x, nf_int N, nf_int C,
                                 nf_int S, double momentum, double eps) nogil
    void nf_batch_norm_apply(float *out, const float *x, const float *mean,
                             const float *invstd, const float *weight, const float *bias,
                             nf_int N, nf_int C, nf_int S) nogil
    void nf_batch_norm_apply_ref(float *out, const float *x, const float *mean,
                                 const float *invstd, const float *weight, const float *bias,
                                 nf_int N, nf_int C, nf_int S) nogil
    void nf_batch_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *invstd,
                                const float *weight, nf_int N, nf_int C, nf_int S,
                                int training) nogil
    void nf_batch_norm_backward_ref(float *dinp, float *dweight, float *dbias,
                                    const float *dout, const float *x, const float *mean,
                                    const float *invstd, const float *weight, nf_int N,
                                    nf_int C, nf_int S, int training) nogil
    void nf_layer_norm_forward(float *out, float *mean, float *rstd, const float *x,
                               const float *weight, const float *bias, nf_int M, nf_int D,
                               double eps) nogil
    void nf_layer_norm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                const float *x, const float *mean, const float *rstd,
                                const float *weight, nf_int M, nf_int D) nogil


cdef int _sz(str who, str name, nf_int have, nf_int want) except -1:
    if have != want:
        raise ValueError(f"{who}: {name} has {have} elements, expected {want}")
    return 0


cdef inline float *_wp(float[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


cdef inline const float *_rp(const float[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


def batch_norm_stats(float[::1] mean not None, float[::1] invstd not None, float[::1] running_mean,
                     float[::1] running_var, const float[::1] x not None, nf_int N, nf_int C,
                     nf_int S, double momentum, double eps, bint reference=False):
    """Per-channel mean/invstd of x[N,C,S]; updates running_mean/var (or None) in place."""
    if (_mis(&mean[0], 4) or _mis(&invstd[0], 4) or _mis(&running_mean[0], 4) or
        _mis(&running_var[0], 4) or _mis(&x[0], 4)):
        return _realigned(batch_norm_stats, (mean, invstd, running_mean, running_var, x, N, C, S,
                                             momentum, eps, reference), (0, 1, 2, 3))
    who = "batch_norm_stats"
    if N < 0 or C < 0 or S < 0:
        raise ValueError(f"{who}: negative size ({N}, {C}, {S})")
    _size(who, N, C, S)
    _sz(who, "x", x.shape[0], N * C * S)
    _sz(who, "mean", mean.shape[0], C)
    _sz(who, "invstd", invstd.shape[0], C)
    if running_mean is not None:
        _sz(who, "running_mean", running_mean.shape[0], C)
    if running_var is not None:
        _sz(who, "running_var", running_var.shape[0], C)
    if N * C * S == 0:
        return
    cdef float *pm = _wp(mean)
    cdef float *pi = _wp(invstd)
    cdef float *prm = _wp(running_mean)
    cdef float *prv = _wp(running_var)
    cdef const float *px = _rp(x)
    with nogil:
        if reference:
            nf_batch_norm_stats_ref(pm, pi, prm, prv, px, N, C, S, momentum, eps)
        else:
            nf_batch_norm_stats(pm, pi, prm, prv, px, N, C, S, momentum, eps)


def batch_norm_apply(float[::1] out not None, const float[::1] x not None,
                     const float[::1] mean not None, const float[::1] invstd not None,
                     const float[::1] weight, const float[::1] bias, nf_int N, nf_int C, nf_int S,
                     bint reference=False):
    """out = x * alpha[c] + beta[c] over [N,C,S] (weight/bias may be None)."""
    if (_mis(&out[0], 4) or _mis(&x[0], 4) or _mis(&mean[0], 4) or _mis(&invstd[0], 4) or
        _mis(&weight[0], 4) or _mis(&bias[0], 4)):
        return _realigned(batch_norm_apply, (out, x, mean, invstd, weight, bias, N, C, S,
                                             reference), (0,))
    who = "batch_norm_apply"
    if N < 0 or C < 0 or S < 0:
        raise ValueError(f"{who}: negative size ({N}, {C}, {S})")
    _size(who, N, C, S)
    _sz(who, "x", x.shape[0], N * C * S)
    _sz(who, "out", out.shape[0], N * C * S)
    _sz(who, "mean", mean.shape[0], C)
    _sz(who, "invstd", invstd.shape[0], C)
    if weight is not None:
        _sz(who, "weight", weight.shape[0], C)
    if bias is not None:
        _sz(who, "bias", bias.shape[0], C)
    if N * C * S == 0:
        return
    cdef float *po = _wp(out)
    cdef const float *px = _rp(x)
    cdef const float *pm = _rp(mean)
    cdef const float *pi = _rp(invstd)
    cdef const float *pw = _rp(weight)
    cdef const float *pb = _rp(bias)
    with nogil:
        if reference:
            nf_batch_norm_apply_ref(po, px, pm, pi, pw, pb, N, C, S)
        else:
            nf_batch_norm_apply(po, px, pm, pi, pw, pb, N, C, S)


def batch_norm_backward(float[::1] dinp, float[::1] dweight, float[::1] dbias,
                        const float[::1] dout not None, const float[::1] x not None,
                        const float[::1] mean not None, const float[::1] invstd not None,
                        const float[::1] weight, nf_int N, nf_int C, nf_int S, bint training,
                        bint reference=False):
    """dinp/dweight/dbias (each or None) of batch_norm_apply with the forward's stats."""
    if (_mis(&dinp[0], 4) or _mis(&dweight[0], 4) or _mis(&dbias[0], 4) or _mis(&dout[0], 4) or
        _mis(&x[0], 4) or _mis(&mean[0], 4) or _mis(&invstd[0], 4) or _mis(&weight[0], 4)):
        return _realigned(batch_norm_backward, (dinp, dweight, dbias, dout, x, mean, invstd,
                                                weight, N, C, S, training, reference), (0, 1, 2))
    who = "batch_norm_backward"
    if N < 0 or C < 0 or S < 0:
        raise ValueError(f"{who}: negative size ({N}, {C}, {S})")
    _size(who, N, C, S)
    _sz(who, "dout", dout.shape[0], N * C * S)
    _sz(who, "x", x.shape[0], N * C * S)
    _sz(who, "mean", mean.shape[0], C)
    _sz(who, "invstd", invstd.shape[0], C)
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
    cdef const float *pdo = _rp(dout)
    cdef const float *px = _rp(x)
    cdef const float *pm = _rp(mean)
    cdef const float *pi = _rp(invstd)
    cdef const float *pw = _rp(weight)
    with nogil:
        if reference:
            nf_batch_norm_backward_ref(pdi, pdw, pdb, pdo, px, pm, pi, pw, N, C, S, training)
        else:
            nf_batch_norm_backward(pdi, pdw, pdb, pdo, px, pm, pi, pw, N, C, S, training)


def layer_norm_forward(float[::1] out not None, float[::1] mean not None, float[::1] rstd not None,
                       const float[::1] x not None, const float[::1] weight, const float[::1] bias,
                       nf_int M, nf_int D, double eps):
    """out = normalised rows of x[M,D] (* weight + bias); mean[M], rstd[M] written."""
    if (_mis(&out[0], 4) or _mis(&mean[0], 4) or _mis(&rstd[0], 4) or _mis(&x[0], 4) or
        _mis(&weight[0], 4) or _mis(&bias[0], 4)):
        return _realigned(layer_norm_forward, (out, mean, rstd, x, weight, bias, M, D,
                                               eps), (0, 1, 2))
    who = "layer_norm_forward"
    if M < 0 or D < 0:
        raise ValueError(f"{who}: negative size ({M}, {D})")
    _size(who, M, D)
    _sz(who, "x", x.shape[0], M * D)
    _sz(who, "out", out.shape[0], M * D)
    _sz(who, "mean", mean.shape[0], M)
    _sz(who, "rstd", rstd.shape[0], M)
    if weight is not None:
        _sz(who, "weight", weight.shape[0], D)
    if bias is not None:
        _sz(who, "bias", bias.shape[0], D)
    if M * D == 0:
        return
    cdef float *po = _wp(out)
    cdef float *pm = _wp(mean)
    cdef float *pr = _wp(rstd)
    cdef const float *px = _rp(x)
    cdef const float *pw = _rp(weight)
    cdef const float *pb = _rp(bias)
    with nogil:
        nf_layer_norm_forward(po, pm, pr, px, pw, pb, M, D, eps)


def layer_norm_backward(float[::1] dinp, float[::1] dweight, float[::1] dbias,
                        const float[::1] dout not None, const float[::1] x not None,
                        const float[::1] mean not None, const float[::1] rstd not None,
                        const float[::1] weight, nf_int M, nf_int D):
    """dinp/dweight/dbias (each or None) of layer_norm_forward."""
    if (_mis(&dinp[0], 4) or _mis(&dweight[0], 4) or _mis(&dbias[0], 4) or _mis(&dout[0], 4) or
        _mis(&x[0], 4) or _mis(&mean[0], 4) or _mis(&rstd[0], 4) or _mis(&weight[0], 4)):
        return _realigned(layer_norm_backward, (dinp, dweight, dbias, dout, x, mean, rstd, weight,
                                                M, D), (0, 1, 2))
    who = "layer_norm_backward"
    if M < 0 or D < 0:
        raise ValueError(f"{who}: negative size ({M}, {D})")
    _size(who, M, D)
    _sz(who, "dout", dout.shape[0], M * D)
    _sz(who, "x", x.shape[0], M * D)
    _sz(who, "mean", mean.shape[0], M)
    _sz(who, "rstd", rstd.shape[0], M)
    if dinp is not None:
        _sz(who, "dinp", dinp.shape[0], M * D)
    if dweight is not None:
        _sz(who, "dweight", dweight.shape[0], D)
    if dbias is not None:
        _sz(who, "dbias", dbias.shape[0], D)
    if weight is not None:
        _sz(who, "weight", weight.shape[0], D)
    if D == 0:
        return
    cdef float *pdi = _wp(dinp)
    cdef float *pdw = _wp(dweight)
    cdef float *pdb = _wp(dbias)
    cdef const float *pdo = _rp(dout)
    cdef const float *px = _rp(x)
    cdef const float *pm = _rp(mean)
    cdef const float *pr = _rp(rstd)
    cdef const float *pw = _rp(weight)
    with nogil:
        nf_layer_norm_backward(pdi, pdw, pdb, pdo, px, pm, pr, pw, M, D)
