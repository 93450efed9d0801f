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


cdef inline float *_opt_ptr(float[::1] a, nf_int n, str name) except? NULL:
    """Pointer to an optional state array of n elements (None -> NULL)."""
    if a is None:
        return NULL
    if a.shape[0] != n:
        raise ValueError(f"optimizer kernel: {name} has {a.shape[0]} elements, param has {n}")
    return &a[0] if n > 0 else NULL


cdef inline void _same_size(nf_int n, nf_int m, str name) except *:
    if m != n:
        raise ValueError(f"optimizer kernel: {name} has {m} elements, param has {n}")


def sgd_step(float[::1] param, float[::1] momentum_buf, const float[::1] grad, float neg_lr,
             float weight_decay, float momentum, float one_minus_dampening, bint nesterov,
             bint maximize, bint init_buf):
    if _mis(&param[0], 4) or _mis(&momentum_buf[0], 4) or _mis(&grad[0], 4):
        return _realigned(sgd_step, (param, momentum_buf, grad, neg_lr, weight_decay, momentum,
                                     one_minus_dampening, nesterov, maximize, init_buf), (0, 1))
    cdef nf_int n = param.shape[0]
    _same_size(n, grad.shape[0], "grad")
    cdef float *pb = _opt_ptr(momentum_buf, n, "momentum_buf")
    if n == 0:
        return
    with nogil:
        nf_sgd_step(&param[0], pb, &grad[0], n, neg_lr, weight_decay, momentum,
                    one_minus_dampening, nesterov, maximize, init_buf)


def adam_step(float[::1] param, float[::1] exp_avg, float[::1] exp_avg_sq,
              float[::1] max_exp_avg_sq, const float[::1] grad, float param_scale,
              float weight_decay, float beta1_weight, float beta2, float one_minus_beta2,
              float bias_correction2_sqrt, float eps, float neg_step_size, bint maximize):
    if (_mis(&param[0], 4) or _mis(&exp_avg[0], 4) or _mis(&exp_avg_sq[0], 4) or
        _mis(&max_exp_avg_sq[0], 4) or _mis(&grad[0], 4)):
        return _realigned(adam_step, (param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad,
                                      param_scale, weight_decay, beta1_weight, beta2,
                                      one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size,
                                      maximize), (0, 1, 2, 3))
    cdef nf_int n = param.shape[0]
    _same_size(n, grad.shape[0], "grad")
    _same_size(n, exp_avg.shape[0], "exp_avg")
    _same_size(n, exp_avg_sq.shape[0], "exp_avg_sq")
    cdef float *pm = _opt_ptr(max_exp_avg_sq, n, "max_exp_avg_sq")
    if n == 0:
        return
    with nogil:
        nf_adam_step(&param[0], &exp_avg[0], &exp_avg_sq[0], pm, &grad[0], n, param_scale,
                     weight_decay, beta1_weight, beta2, one_minus_beta2, bias_correction2_sqrt,
                     eps, neg_step_size, maximize)


def rmsprop_step(float[::1] param, float[::1] square_avg, float[::1] grad_avg,
                 float[::1] momentum_buf, const float[::1] grad, float neg_lr, float alpha,
                 float one_minus_alpha, float eps, float weight_decay, float momentum,
                 bint maximize):
    if (_mis(&param[0], 4) or _mis(&square_avg[0], 4) or _mis(&grad_avg[0], 4) or
        _mis(&momentum_buf[0], 4) or _mis(&grad[0], 4)):
        return _realigned(rmsprop_step, (param, square_avg, grad_avg, momentum_buf, grad, neg_lr,
                                         alpha, one_minus_alpha, eps, weight_decay, momentum,
                                         maximize), (0, 1, 2, 3))
    cdef nf_int n = param.shape[0]
    _same_size(n, grad.shape[0], "grad")
    _same_size(n, square_avg.shape[0], "square_avg")
    cdef float *pa = _opt_ptr(grad_avg, n, "grad_avg")
    cdef float *pb = _opt_ptr(momentum_buf, n, "momentum_buf")
    if n == 0:
        return
    with nogil:
        nf_rmsprop_step(&param[0], &square_avg[0], pa, pb, &grad[0], n, neg_lr, alpha,
                        one_minus_alpha, eps, weight_decay, momentum, maximize)


def adagrad_step(float[::1] param, float[::1] sum, const float[::1] grad, float neg_clr,
                 float weight_decay, float eps, bint maximize):
    if _mis(&param[0], 4) or _mis(&sum[0], 4) or _mis(&grad[0], 4):
        return _realigned(adagrad_step, (param, sum, grad, neg_clr, weight_decay, eps,
                                         maximize), (0, 1))
    cdef nf_int n = param.shape[0]
    _same_size(n, grad.shape[0], "grad")
    _same_size(n, sum.shape[0], "sum")
    if n == 0:
        return
    with nogil:
        nf_adagrad_step(&param[0], &sum[0], &grad[0], n, neg_clr, weight_decay, eps, maximize)


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
