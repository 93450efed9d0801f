# optim family, less common optimizers (csrc/optim_extra.c): Adadelta, Adamax, NAdam, RAdam,
# ASGD, Rprop. Python (nnfast/optim/_functional_extra.py) computes the scalars; these wrappers
# only check sizes (with _same_size from _C_optim.pxi).

cdef extern from "nnfast.h":
    void nf_adadelta_step(float *param, float *square_avg, float *acc_delta, const float *grad,
                          nf_int n, float neg_lr, float rho, float one_minus_rho, float eps,
                          float weight_decay, int maximize) nogil
    void nf_adamax_step(float *param, float *exp_avg, float *exp_inf, const float *grad,
                        nf_int n, float weight_decay, float beta1_weight, float beta2,
                        float eps, float neg_clr, int maximize) nogil
    void nf_nadam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                       nf_int n, float decay, float beta1_weight, float beta2,
                       float one_minus_beta2, float bias_correction2, float eps, float c_grad,
                       float c_avg, int maximize, int decoupled) nogil
    void nf_radam_step(float *param, float *exp_avg, float *exp_avg_sq, const float *grad,
                       nf_int n, float decay, float beta1_weight, float beta2,
                       float one_minus_beta2, float bias_correction1, float lr,
                       float bias_correction2_sqrt, float rect, float eps, int maximize,
                       int decoupled, int rectify) nogil
    void nf_asgd_step(float *param, float *ax, const float *grad, nf_int n, float weight_decay,
                      float param_scale, float neg_eta, float mu, int maximize,
                      int average) nogil
    void nf_rprop_step(float *param, float *prev, float *step_size, const float *grad,
                       nf_int n, float etaminus, float etaplus, float step_size_min,
                       float step_size_max, int maximize) nogil


cdef inline nf_int _sizes(float[::1] param, const float[::1] grad, a, str aname, b=None,
                          str bname="") except -1:
    """param's length, after checking grad and the state arrays a (and b) match it."""
    cdef nf_int n = param.shape[0]
    _same_size(n, grad.shape[0], "grad")
    _same_size(n, len(a), aname)
    if b is not None:
        _same_size(n, len(b), bname)
    return n


def adadelta_step(float[::1] param, float[::1] square_avg, float[::1] acc_delta,
                  const float[::1] grad, float neg_lr, float rho, float one_minus_rho,
                  float eps, float weight_decay, bint maximize):
    if (_mis(&param[0], 4) or _mis(&square_avg[0], 4) or _mis(&acc_delta[0], 4) or
        _mis(&grad[0], 4)):
        return _realigned(adadelta_step, (param, square_avg, acc_delta, grad, neg_lr, rho,
                                          one_minus_rho, eps, weight_decay, maximize), (0, 1, 2))
    cdef nf_int n = _sizes(param, grad, square_avg, "square_avg", acc_delta, "acc_delta")
    if n == 0:
        return
    with nogil:
        nf_adadelta_step(&param[0], &square_avg[0], &acc_delta[0], &grad[0], n, neg_lr, rho,
                         one_minus_rho, eps, weight_decay, maximize)


def adamax_step(float[::1] param, float[::1] exp_avg, float[::1] exp_inf,
                const float[::1] grad, float weight_decay, float beta1_weight, float beta2,
                float eps, float neg_clr, bint maximize):
    if _mis(&param[0], 4) or _mis(&exp_avg[0], 4) or _mis(&exp_inf[0], 4) or _mis(&grad[0], 4):
        return _realigned(adamax_step, (param, exp_avg, exp_inf, grad, weight_decay, beta1_weight,
                                        beta2, eps, neg_clr, maximize), (0, 1, 2))
    cdef nf_int n = _sizes(param, grad, exp_avg, "exp_avg", exp_inf, "exp_inf")
    if n == 0:
        return
    with nogil:
        nf_adamax_step(&param[0], &exp_avg[0], &exp_inf[0], &grad[0], n, weight_decay,
                       beta1_weight, beta2, eps, neg_clr, maximize)


def nadam_step(float[::1] param, float[::1] exp_avg, float[::1] exp_avg_sq,
               const float[::1] grad, float decay, float beta1_weight, float beta2,
               float one_minus_beta2, float bias_correction2, float eps, float c_grad,
               float c_avg, bint maximize, bint decoupled):
    if _mis(&param[0], 4) or _mis(&exp_avg[0], 4) or _mis(&exp_avg_sq[0], 4) or _mis(&grad[0], 4):
        return _realigned(nadam_step, (param, exp_avg, exp_avg_sq, grad, decay, beta1_weight,
                                       beta2, one_minus_beta2, bias_correction2, eps, c_grad,
                                       c_avg, maximize, decoupled), (0, 1, 2))
    cdef nf_int n = _sizes(param, grad, exp_avg, "exp_avg", exp_avg_sq, "exp_avg_sq")
    if n == 0:
        return
    with nogil:
        nf_nadam_step(&param[0], &exp_avg[0], &exp_avg_sq[0], &grad[0], n, decay, beta1_weight,
                      beta2, one_minus_beta2, bias_correction2, eps, c_grad, c_avg, maximize,
                      decoupled)


def radam_step(float[::1] param, float[::1] exp_avg, float[::1] exp_avg_sq,
               const float[::1] grad, float decay, float beta1_weight, float beta2,
               float one_minus_beta2, float bias_correction1, float lr,
               float bias_correction2_sqrt, float rect, float eps, bint maximize,
               bint decoupled, bint rectify):
    if _mis(&param[0], 4) or _mis(&exp_avg[0], 4) or _mis(&exp_avg_sq[0], 4) or _mis(&grad[0], 4):
        return _realigned(radam_step, (param, exp_avg, exp_avg_sq, grad, decay, beta1_weight,
                                       beta2, one_minus_beta2, bias_correction1, lr,
                                       bias_correction2_sqrt, rect, eps, maximize, decoupled,
                                       rectify), (0, 1, 2))
    cdef nf_int n = _sizes(param, grad, exp_avg, "exp_avg", exp_avg_sq, "exp_avg_sq")
    if n == 0:
        return
    with nogil:
        nf_radam_step(&param[0], &exp_avg[0], &exp_avg_sq[0], &grad[0], n, decay, beta1_weight,
                      beta2, one_minus_beta2, bias_correction1, lr, bias_correction2_sqrt,
                      rect, eps, maximize, decoupled, rectify)


def asgd_step(float[::1] param, float[::1] ax, const float[::1] grad, float weight_decay,
              float param_scale, float neg_eta, float mu, bint maximize, bint average):
    if _mis(&param[0], 4) or _mis(&ax[0], 4) or _mis(&grad[0], 4):
        return _realigned(asgd_step, (param, ax, grad, weight_decay, param_scale, neg_eta, mu,
                                      maximize, average), (0, 1))
    cdef nf_int n = _sizes(param, grad, ax, "ax")
    if n == 0:
        return
    with nogil:
        nf_asgd_step(&param[0], &ax[0], &grad[0], n, weight_decay, param_scale, neg_eta, mu,
                     maximize, average)


def rprop_step(float[::1] param, float[::1] prev, float[::1] step_size, const float[::1] grad,
               float etaminus, float etaplus, float step_size_min, float step_size_max,
               bint maximize):
    if _mis(&param[0], 4) or _mis(&prev[0], 4) or _mis(&step_size[0], 4) or _mis(&grad[0], 4):
        return _realigned(rprop_step, (param, prev, step_size, grad, etaminus, etaplus,
                                       step_size_min, step_size_max, maximize), (0, 1, 2))
    cdef nf_int n = _sizes(param, grad, prev, "prev", step_size, "step_size")
    if n == 0:
        return
    with nogil:
        nf_rprop_step(&param[0], &prev[0], &step_size[0], &grad[0], n, etaminus, etaplus,
                      step_size_min, step_size_max, maximize)
