# optim family (csrc/optim.c): fused optimizer updates over flat buffers, clipping helpers.
# Python (nnfast/optim/_functional.py) computes the scalars; these wrappers only check sizes.

cdef extern from "nnfast.h":
    void nf_sgd_step(float *param, float *momentum_buf, const float *grad, nf_int n,
                     float neg_lr, float weight_decay, float momentum,
                     float one_minus_dampening, int nesterov, int maximize, int init_buf) nogil
    void nf_adam_step(float *param, float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                      const float *grad, nf_int n, float param_scale, float weight_decay,
                      float beta1_weight, float beta2, float one_minus_beta2,
                      float bias_correction2_sqrt, float eps, float neg_step_size,
                      int maximize) nogil
    void nf_rmsprop_step(float *param, float *square_avg, float *grad_avg, float *momentum_buf,
                         const float *grad, nf_int n, float neg_lr, float alpha,
                         float one_minus_alpha, float eps, float weight_decay, float momentum,
                         int maximize) nogil
    void nf_adagrad_step(float *param, float *sum, const float *grad, nf_int n, float neg_clr,
                         float weight_decay, float eps, int maximize) nogil
    double nf_sumsq(const float *x, nf_int n) nogil
    float nf_maxabs(const float *x, nf_int n) nogil
    void nf_scale(float *x, nf_int n, float s) nogil
    void nf_clamp(float *x, nf_int n, float lo, float hi) nogil


cdef inline void _same_size(nf_int n, nf_int m, str name) except *:
    if m != n:
        raise ValueError(f"optimizer kernel: {name} has {m} elements, param has {n}")


def sgd_step(param, momentum_buf, grad, float neg_lr, float weight_decay, float momentum,
             float one_minus_dampening, bint nesterov, bint maximize, bint init_buf):
    if _mis_obj(param) or _mis_obj(momentum_buf) or _mis_obj(grad):
        return _realigned(sgd_step, (param, momentum_buf, grad, neg_lr, weight_decay, momentum,
                                     one_minus_dampening, nesterov, maximize, init_buf), (0, 1))
    cdef _Held h
    cdef float *pp
    cdef float *pm
    cdef float *pv
    cdef float *px
    cdef float *ps
    cdef float *pa
    cdef float *pb
    cdef const float *pg
    cdef nf_int n
    h.n = 0
    try:
        pp = <float *>_hold(&h, param, -1, True, False, "sgd_step: param")
        n = _held_len(&h, 0)
        pg = <const float *>_hold(&h, grad, n, False, False, "sgd_step: grad")
        pb = <float *>_hold(&h, momentum_buf, n, True, True, "sgd_step: momentum_buf")
        if n == 0:
            return
        with nogil:
            nf_sgd_step(pp, pb, pg, n, neg_lr, weight_decay, momentum, one_minus_dampening,
                        nesterov, maximize, init_buf)
    finally:
        _release(&h)


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, float param_scale,
              float weight_decay, float beta1_weight, float beta2, float one_minus_beta2,
              float bias_correction2_sqrt, float eps, float neg_step_size, bint maximize):
    if (_mis_obj(param) or _mis_obj(exp_avg) or _mis_obj(exp_avg_sq) or
            _mis_obj(max_exp_avg_sq) or _mis_obj(grad)):
        return _realigned(adam_step, (param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad,
                                      param_scale, weight_decay, beta1_weight, beta2,
                                      one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size,
                                      maximize), (0, 1, 2, 3))
    cdef _Held h
    cdef float *pp
    cdef float *pm
    cdef float *pv
    cdef float *px
    cdef float *ps
    cdef float *pa
    cdef float *pb
    cdef const float *pg
    cdef nf_int n
    h.n = 0
    try:
        pp = <float *>_hold(&h, param, -1, True, False, "adam_step: param")
        n = _held_len(&h, 0)
        pg = <const float *>_hold(&h, grad, n, False, False, "adam_step: grad")
        pm = <float *>_hold(&h, exp_avg, n, True, False, "adam_step: exp_avg")
        pv = <float *>_hold(&h, exp_avg_sq, n, True, False, "adam_step: exp_avg_sq")
        px = <float *>_hold(&h, max_exp_avg_sq, n, True, True, "adam_step: max_exp_avg_sq")
        if n == 0:
            return
        with nogil:
            nf_adam_step(pp, pm, pv, px, pg, n, param_scale, weight_decay, beta1_weight,
                         beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size,
                         maximize)
    finally:
        _release(&h)


def rmsprop_step(param, square_avg, grad_avg, momentum_buf, grad, float neg_lr, float alpha,
                 float one_minus_alpha, float eps, float weight_decay, float momentum,
                 bint maximize):
    if (_mis_obj(param) or _mis_obj(square_avg) or _mis_obj(grad_avg) or
            _mis_obj(momentum_buf) or _mis_obj(grad)):
        return _realigned(rmsprop_step, (param, square_avg, grad_avg, momentum_buf, grad, neg_lr,
                                         alpha, one_minus_alpha, eps, weight_decay, momentum,
                                         maximize), (0, 1, 2, 3))
    cdef _Held h
    cdef float *pp
    cdef float *pm
    cdef float *pv
    cdef float *px
    cdef float *ps
    cdef float *pa
    cdef float *pb
    cdef const float *pg
    cdef nf_int n
    h.n = 0
    try:
        pp = <float *>_hold(&h, param, -1, True, False, "rmsprop_step: param")
        n = _held_len(&h, 0)
        pg = <const float *>_hold(&h, grad, n, False, False, "rmsprop_step: grad")
        ps = <float *>_hold(&h, square_avg, n, True, False, "rmsprop_step: square_avg")
        pa = <float *>_hold(&h, grad_avg, n, True, True, "rmsprop_step: grad_avg")
        pb = <float *>_hold(&h, momentum_buf, n, True, True, "rmsprop_step: momentum_buf")
        if n == 0:
            return
        with nogil:
            nf_rmsprop_step(pp, ps, pa, pb, pg, n, neg_lr, alpha, one_minus_alpha, eps,
                            weight_decay, momentum, maximize)
    finally:
        _release(&h)


def adagrad_step(param, sum, grad, float neg_clr, float weight_decay, float eps,
                 bint maximize):
    if _mis_obj(param) or _mis_obj(sum) or _mis_obj(grad):
        return _realigned(adagrad_step, (param, sum, grad, neg_clr, weight_decay, eps,
                                         maximize), (0, 1))
    cdef _Held h
    cdef float *pp
    cdef float *pm
    cdef float *pv
    cdef float *px
    cdef float *ps
    cdef float *pa
    cdef float *pb
    cdef const float *pg
    cdef nf_int n
    h.n = 0
    try:
        pp = <float *>_hold(&h, param, -1, True, False, "adagrad_step: param")
        n = _held_len(&h, 0)
        pg = <const float *>_hold(&h, grad, n, False, False, "adagrad_step: grad")
        ps = <float *>_hold(&h, sum, n, True, False, "adagrad_step: sum")
        if n == 0:
            return
        with nogil:
            nf_adagrad_step(pp, ps, pg, n, neg_clr, weight_decay, eps, maximize)
    finally:
        _release(&h)


def sumsq(const float[::1] x):
    """Sum of squares of a float32 vector, accumulated in double."""
    if _mis(&x[0], 4):
        return _realigned(sumsq, (x,), ())
    cdef nf_int n = x.shape[0]
    if n == 0:
        return 0.0
    cdef double r
    with nogil:
        r = nf_sumsq(&x[0], n)
    return r


def maxabs(const float[::1] x):
    if _mis(&x[0], 4):
        return _realigned(maxabs, (x,), ())
    cdef nf_int n = x.shape[0]
    if n == 0:
        return 0.0
    cdef float r
    with nogil:
        r = nf_maxabs(&x[0], n)
    return r


def scale_(float[::1] x, float s):
    if _mis(&x[0], 4):
        return _realigned(scale_, (x, s), (0,))
    cdef nf_int n = x.shape[0]
    if n == 0:
        return
    with nogil:
        nf_scale(&x[0], n, s)


def clamp_(float[::1] x, float lo, float hi):
    if _mis(&x[0], 4):
        return _realigned(clamp_, (x, lo, hi), (0,))
    cdef nf_int n = x.shape[0]
    if n == 0:
        return
    with nogil:
        nf_clamp(&x[0], n, lo, hi)
