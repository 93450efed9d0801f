# dropout family (csrc/dropout.c): counter-based dropout masks, channel dropout, L1/L2
# penalty helpers. Arrays are flat (1-D) C-contiguous views; the Python side reshapes,
# draws the seed and computes thresh = floor(p * 2^32) and scale = float32(1 / (1 - p)).
from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "nnfast.h":
    void nf_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int n,
                            uint64_t seed, uint32_t thresh, float scale) nogil
    void nf_dropout_forward_ref(float *out, uint8_t *mask, const float *inp, nf_int n,
                                uint64_t seed, uint32_t thresh, float scale) nogil
    void nf_dropout_backward(float *dinp, const float *dout, const uint8_t *mask, nf_int n,
                             float scale) nogil
    void nf_feature_dropout_forward(float *out, uint8_t *mask, const float *inp, nf_int R,
                                    nf_int S, uint64_t seed, uint32_t thresh,
                                    float scale) nogil
    void nf_feature_dropout_backward(float *dinp, const float *dout, const uint8_t *mask,
                                     nf_int R, nf_int S, float scale) nogil
    double nf_sumabs(const float *x, nf_int n) nogil
    void nf_l1l2_backward(float *dinp, const float *inp, nf_int n, float a, float b) nogil


def dropout_forward(float[::1] out, uint8_t[::1] mask, const float[::1] inp, uint64_t seed,
                    uint32_t thresh, float scale, bint reference=False):
    """out = inp * (keep ? scale : 0), keep = u(i) >= thresh; mask (or None) gets keep.
    out may be inp. reference=True runs the plain loop."""
    if _mis(&out[0], 4) or _mis(&mask[0], 1) or _mis(&inp[0], 4):
        return _realigned(dropout_forward, (out, mask, inp, seed, thresh, scale,
                                            reference), (0, 1))
    cdef nf_int n = inp.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"dropout_forward: out has {out.shape[0]} elements, inp {n}")
    if mask is not None and mask.shape[0] != n:
        raise ValueError(f"dropout_forward: mask has {mask.shape[0]} elements, inp {n}")
    if n == 0:
        return
    cdef uint8_t *pm = &mask[0] if mask is not None else NULL
    with nogil:
        if reference:
            nf_dropout_forward_ref(&out[0], pm, &inp[0], n, seed, thresh, scale)
        else:
            nf_dropout_forward(&out[0], pm, &inp[0], n, seed, thresh, scale)


def dropout_backward(float[::1] dinp, const float[::1] dout, const uint8_t[::1] mask,
                     float scale):
    """dinp = dout * (mask ? scale : 0). dinp may be dout."""
    if _mis(&dinp[0], 4) or _mis(&dout[0], 4) or _mis(&mask[0], 1):
        return _realigned(dropout_backward, (dinp, dout, mask, scale), (0,))
    cdef nf_int n = dout.shape[0]
    if dinp.shape[0] != n or mask.shape[0] != n:
        raise ValueError(f"dropout_backward: dinp {dinp.shape[0]}, dout {n}, "
                         f"mask {mask.shape[0]} elements")
    if n == 0:
        return
    with nogil:
        nf_dropout_backward(&dinp[0], &dout[0], &mask[0], n, scale)


def feature_dropout_forward(float[::1] out, uint8_t[::1] mask, const float[::1] inp,
                            nf_int R, nf_int S, uint64_t seed, uint32_t thresh, float scale):
    """inp viewed as [R, S]: row r scaled by (keep_r ? scale : 0); mask[R] (or None)."""
    if _mis(&out[0], 4) or _mis(&mask[0], 1) or _mis(&inp[0], 4):
        return _realigned(feature_dropout_forward, (out, mask, inp, R, S, seed, thresh,
                                                    scale), (0, 1))
    if inp.shape[0] != _size("feature_dropout_forward", R, S) or out.shape[0] != R * S:
        raise ValueError(f"feature_dropout_forward: inp {inp.shape[0]}, out {out.shape[0]} "
                         f"elements for [{R}, {S}]")
    if mask is not None and mask.shape[0] != R:
        raise ValueError(f"feature_dropout_forward: mask has {mask.shape[0]} elements, "
                         f"{R} rows")
    if R == 0:
        return
    cdef uint8_t *pm = &mask[0] if mask is not None else NULL
    cdef const float *pi = &inp[0] if S > 0 else NULL
    cdef float *po = &out[0] if S > 0 else NULL
    with nogil:
        nf_feature_dropout_forward(po, pm, pi, R, S, seed, thresh, scale)


def feature_dropout_backward(float[::1] dinp, const float[::1] dout, const uint8_t[::1] mask,
                             nf_int R, nf_int S, float scale):
    """dinp[R, S] = dout * (mask[r] ? scale : 0)."""
    if _mis(&dinp[0], 4) or _mis(&dout[0], 4) or _mis(&mask[0], 1):
        return _realigned(feature_dropout_backward, (dinp, dout, mask, R, S, scale), (0,))
    if dout.shape[0] != _size("feature_dropout_backward", R, S) or dinp.shape[0] != R * S \
            or mask.shape[0] != R:
        raise ValueError(f"feature_dropout_backward: dinp {dinp.shape[0]}, dout "
                         f"{dout.shape[0]}, mask {mask.shape[0]} elements for [{R}, {S}]")
    if R == 0 or S == 0:
        return
    with nogil:
        nf_feature_dropout_backward(&dinp[0], &dout[0], &mask[0], R, S, scale)


def sumabs(const float[::1] x):
    """Sum of |x| of a float32 vector, accumulated in double."""
    if _mis(&x[0], 4):
        return _realigned(sumabs, (x,), ())
    cdef nf_int n = x.shape[0]
    if n == 0:
        return 0.0
    cdef double r
    with nogil:
        r = nf_sumabs(&x[0], n)
    return r


def l1l2_backward(float[::1] dinp, const float[::1] inp, float a, float b):
    """dinp = a * sign(inp) + b * inp (b == 0: a * sign(inp))."""
    if _mis(&dinp[0], 4) or _mis(&inp[0], 4):
        return _realigned(l1l2_backward, (dinp, inp, a, b), (0,))
    cdef nf_int n = inp.shape[0]
    if dinp.shape[0] != n:
        raise ValueError(f"l1l2_backward: dinp has {dinp.shape[0]} elements, inp {n}")
    if n == 0:
        return
    with nogil:
        nf_l1l2_backward(&dinp[0], &inp[0], n, a, b)
