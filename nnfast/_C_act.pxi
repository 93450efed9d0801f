# Activation family (csrc/act.c): elementwise, PReLU, Softmax/LogSoftmax.
# Arrays are flat (1-D) C-contiguous float32 views; the Python side reshapes.

cdef extern from "nnfast.h":
    void nf_relu_forward(float *out, const float *inp, nf_int n) nogil
    void nf_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n) nogil
    void nf_leaky_relu_forward(float *out, const float *inp, nf_int n, float slope) nogil
    void nf_leaky_relu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                                float slope) nogil
    void nf_elu_forward(float *out, const float *inp, nf_int n, float alpha) nogil
    void nf_elu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                         float alpha) nogil
    void nf_sigmoid_forward(float *out, const float *inp, nf_int n) nogil
    void nf_sigmoid_backward(float *dinp, const float *dout, const float *out, nf_int n) nogil
    void nf_tanh_forward(float *out, const float *inp, nf_int n) nogil
    void nf_tanh_backward(float *dinp, const float *dout, const float *out, nf_int n) nogil
    void nf_gelu_forward(float *out, const float *inp, nf_int n, int approximate_tanh) nogil
    void nf_gelu_backward(float *dinp, const float *dout, const float *inp, nf_int n,
                          int approximate_tanh) nogil
    void nf_silu_forward(float *out, const float *inp, nf_int n) nogil
    void nf_silu_backward(float *dinp, const float *dout, const float *inp, nf_int n) nogil
    void nf_prelu_forward(float *out, const float *inp, const float *weight,
                          nf_int N, nf_int C, nf_int S) nogil
    void nf_prelu_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                           const float *weight, nf_int N, nf_int C, nf_int S) nogil
    void nf_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D,
                            nf_int inner) nogil
    void nf_softmax_backward(float *dinp, const float *dout, const float *out,
                             nf_int outer, nf_int D, nf_int inner) nogil
    void nf_log_softmax_forward(float *out, const float *inp, nf_int outer, nf_int D,
                                nf_int inner) nogil
    void nf_log_softmax_backward(float *dinp, const float *dout, const float *out,
                                 nf_int outer, nf_int D, nf_int inner) nogil
    void nf_act_math(float *out, const float *inp, nf_int n, int which, int ref) nogil


# Elementwise kinds, in the order of the tables below.
ACT_RELU, ACT_LEAKY_RELU, ACT_ELU, ACT_SIGMOID, ACT_TANH, ACT_GELU, ACT_GELU_TANH, ACT_SILU = range(8)


def act_forward(int kind, float[::1] out, const float[::1] inp, float a=0.0, float b=0.0):
    """out = f(inp) elementwise; `a` is the op's scalar (slope, alpha). out may be inp.
    `b` is unused: the act_extra kinds' second scalar, so both families share one call."""
    if _mis(&out[0], 4) or _mis(&inp[0], 4):
        return _realigned(act_forward, (kind, out, inp, a, b), (1,))
    cdef nf_int n = inp.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"act_forward: out has {out.shape[0]} elements, inp {n}")
    if not 0 <= kind < 8:
        raise ValueError(f"act_forward: unknown kind {kind}")
    if n == 0:
        return
    cdef float *po = &out[0]
    cdef const float *pi = &inp[0]
    with nogil:
        if kind == 0:
            nf_relu_forward(po, pi, n)
        elif kind == 1:
            nf_leaky_relu_forward(po, pi, n, a)
        elif kind == 2:
            nf_elu_forward(po, pi, n, a)
        elif kind == 3:
            nf_sigmoid_forward(po, pi, n)
        elif kind == 4:
            nf_tanh_forward(po, pi, n)
        elif kind == 5:
            nf_gelu_forward(po, pi, n, 0)
        elif kind == 6:
            nf_gelu_forward(po, pi, n, 1)
        else:
            nf_silu_forward(po, pi, n)


def act_backward(int kind, float[::1] dinp, const float[::1] dout, const float[::1] saved,
                 float a=0.0, float b=0.0):
    """dinp = dout * f'(x); `saved` is the forward output for sigmoid/tanh, else the input."""
    if _mis(&dinp[0], 4) or _mis(&dout[0], 4) or _mis(&saved[0], 4):
        return _realigned(act_backward, (kind, dinp, dout, saved, a, b), (1,))
    cdef nf_int n = dout.shape[0]
    if dinp.shape[0] != n or saved.shape[0] != n:
        raise ValueError(f"act_backward: dinp {dinp.shape[0]}, dout {n}, "
                         f"saved {saved.shape[0]} elements")
    if not 0 <= kind < 8:
        raise ValueError(f"act_backward: unknown kind {kind}")
    if n == 0:
        return
    cdef float *pd = &dinp[0]
    cdef const float *pg = &dout[0]
    cdef const float *ps = &saved[0]
    with nogil:
        if kind == 0:
            nf_relu_backward(pd, pg, ps, n)
        elif kind == 1:
            nf_leaky_relu_backward(pd, pg, ps, n, a)
        elif kind == 2:
            nf_elu_backward(pd, pg, ps, n, a)
        elif kind == 3:
            nf_sigmoid_backward(pd, pg, ps, n)
        elif kind == 4:
            nf_tanh_backward(pd, pg, ps, n)
        elif kind == 5:
            nf_gelu_backward(pd, pg, ps, n, 0)
        elif kind == 6:
            nf_gelu_backward(pd, pg, ps, n, 1)
        else:
            nf_silu_backward(pd, pg, ps, n)


def prelu_forward(float[::1] out, const float[::1] inp, const float[::1] weight,
                  nf_int N, nf_int C, nf_int S):
    """out = inp > 0 ? inp : weight[c] * inp over inp viewed as [N, C, S]."""
    if _mis(&out[0], 4) or _mis(&inp[0], 4) or _mis(&weight[0], 4):
        return _realigned(prelu_forward, (out, inp, weight, N, C, S), (0,))
    cdef nf_int total = _size("prelu_forward", N, C, S)
    if C < 1 or inp.shape[0] != total or out.shape[0] != total or weight.shape[0] != C:
        raise ValueError(f"prelu_forward: inp {inp.shape[0]}, out {out.shape[0]}, weight "
                         f"{weight.shape[0]} elements for [N, C, S] = [{N}, {C}, {S}]")
    if total == 0:
        return
    with nogil:
        nf_prelu_forward(&out[0], &inp[0], &weight[0], N, C, S)


def prelu_backward(dinp, dweight, const float[::1] dout, const float[::1] inp,
                   const float[::1] weight, nf_int N, nf_int C, nf_int S):
    """dinp[N*C*S] and dweight[C] (overwritten; either may be None)."""
    if (_mis_obj(dinp) or _mis_obj(dweight) or _mis(&dout[0], 4) or _mis(&inp[0], 4) or
        _mis(&weight[0], 4)):
        return _realigned(prelu_backward, (dinp, dweight, dout, inp, weight, N, C, S), (0, 1))
    cdef float[::1] di, dw
    cdef float *pdi = NULL
    cdef float *pdw = NULL
    cdef nf_int total = _size("prelu_backward", N, C, S)
    if C < 1 or inp.shape[0] != total or dout.shape[0] != total \
            or weight.shape[0] != C:
        raise ValueError(f"prelu_backward: inp {inp.shape[0]}, dout {dout.shape[0]}, weight "
                         f"{weight.shape[0]} elements for [N, C, S] = [{N}, {C}, {S}]")
    if dinp is not None:
        di = dinp
        if di.shape[0] != total:
            raise ValueError("prelu_backward: dinp size")
        if total > 0:
            pdi = &di[0]
    if dweight is not None:
        dw = dweight
        if dw.shape[0] != C:
            raise ValueError("prelu_backward: dweight size")
        pdw = &dw[0]
    cdef const float *pg = &dout[0] if total > 0 else NULL
    cdef const float *px = &inp[0] if total > 0 else NULL
    with nogil:
        nf_prelu_backward(pdi, pdw, pg, px, &weight[0], N, C, S)


def softmax_forward(float[::1] out, const float[::1] inp, nf_int outer, nf_int D,
                    nf_int inner, bint log=False):
    """Softmax (or log-softmax) along D of inp viewed as [outer, D, inner]."""
    if _mis(&out[0], 4) or _mis(&inp[0], 4):
        return _realigned(softmax_forward, (out, inp, outer, D, inner, log), (0,))
    cdef nf_int total = _size("softmax_forward", outer, D, inner)
    if inp.shape[0] != total or out.shape[0] != total:
        raise ValueError(f"softmax_forward: inp {inp.shape[0]}, out {out.shape[0]} elements "
                         f"for [outer, D, inner] = [{outer}, {D}, {inner}]")
    if total == 0:
        return
    with nogil:
        if log:
            nf_log_softmax_forward(&out[0], &inp[0], outer, D, inner)
        else:
            nf_softmax_forward(&out[0], &inp[0], outer, D, inner)


def softmax_backward(float[::1] dinp, const float[::1] dout, const float[::1] out,
                     nf_int outer, nf_int D, nf_int inner, bint log=False):
    """Gradient of softmax_forward from its saved output."""
    if _mis(&dinp[0], 4) or _mis(&dout[0], 4) or _mis(&out[0], 4):
        return _realigned(softmax_backward, (dinp, dout, out, outer, D, inner, log), (0,))
    cdef nf_int total = _size("softmax_backward", outer, D, inner)
    if dinp.shape[0] != total or dout.shape[0] != total \
            or out.shape[0] != total:
        raise ValueError(f"softmax_backward: dinp {dinp.shape[0]}, dout {dout.shape[0]}, out "
                         f"{out.shape[0]} elements for [outer, D, inner] = "
                         f"[{outer}, {D}, {inner}]")
    if total == 0:
        return
    with nogil:
        if log:
            nf_log_softmax_backward(&dinp[0], &dout[0], &out[0], outer, D, inner)
        else:
            nf_softmax_backward(&dinp[0], &dout[0], &out[0], outer, D, inner)


def act_math(float[::1] out, const float[::1] inp, int which, bint ref=False):
    """Test hook: act.c's exp (0) / expm1 (1) / tanh (2) / erf (3), or libm's with ref=True."""
    if _mis(&out[0], 4) or _mis(&inp[0], 4):
        return _realigned(act_math, (out, inp, which, ref), (0,))
    if out.shape[0] != inp.shape[0]:
        raise ValueError("act_math: sizes differ")
    if inp.shape[0] == 0:
        return
    with nogil:
        nf_act_math(&out[0], &inp[0], inp.shape[0], which, ref)


# ---- act_extra.c: Softplus, Hardtanh, Mish, Hardswish, Hardsigmoid, Softsign, LogSigmoid,
# Threshold, CELU, SELU (kinds NF_ACTX_*; the kernels check the kind themselves).

cdef extern from "nnfast.h":
    int NF_ACTX_COUNT
    int nf_act_extra_forward(int kind, float *out, const float *inp, nf_int n, float a,
                             float b) nogil
    int nf_act_extra_backward(int kind, float *dinp, const float *dout, const float *inp,
                              nf_int n, float a, float b) nogil

ACTX_COUNT = NF_ACTX_COUNT


def act_extra_forward(int kind, float[::1] out, const float[::1] inp, float a=0.0,
                      float b=0.0):
    """out = f(inp) elementwise for an NF_ACTX_* kind; out may be inp."""
    if _mis(&out[0], 4) or _mis(&inp[0], 4):
        return _realigned(act_extra_forward, (kind, out, inp, a, b), (1,))
    cdef nf_int n = inp.shape[0]
    cdef int rc = 0
    if out.shape[0] != n:
        raise ValueError(f"act_extra_forward: out has {out.shape[0]} elements, inp {n}")
    if not 0 <= kind < NF_ACTX_COUNT:
        raise ValueError(f"act_extra_forward: unknown kind {kind}")
    if n == 0:
        return
    with nogil:
        rc = nf_act_extra_forward(kind, &out[0], &inp[0], n, a, b)
    if rc != 0:
        raise ValueError(f"act_extra_forward: unknown kind {kind}")


def act_extra_backward(int kind, float[::1] dinp, const float[::1] dout,
                       const float[::1] inp, float a=0.0, float b=0.0):
    """dinp = dout * f'(inp) for an NF_ACTX_* kind; dinp may be dout."""
    if _mis(&dinp[0], 4) or _mis(&dout[0], 4) or _mis(&inp[0], 4):
        return _realigned(act_extra_backward, (kind, dinp, dout, inp, a, b), (1,))
    cdef nf_int n = dout.shape[0]
    cdef int rc = 0
    if dinp.shape[0] != n or inp.shape[0] != n:
        raise ValueError(f"act_extra_backward: dinp {dinp.shape[0]}, dout {n}, "
                         f"inp {inp.shape[0]} elements")
    if not 0 <= kind < NF_ACTX_COUNT:
        raise ValueError(f"act_extra_backward: unknown kind {kind}")
    if n == 0:
        return
    with nogil:
        rc = nf_act_extra_backward(kind, &dinp[0], &dout[0], &inp[0], n, a, b)
    if rc != 0:
        raise ValueError(f"act_extra_backward: unknown kind {kind}")
