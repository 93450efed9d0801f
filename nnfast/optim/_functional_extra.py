"""The update rules of the less common optimizers (Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop),
each with two engines, exactly as _functional.py (read its docstring): lists of NumPy arrays
(a group's flat buffers are lists of one), float32 C-contiguous -> the fused C loop
(csrc/optim_extra.c), anything else -> the NumPy reference below; engine="numpy" forces the
reference, which the tests hold equal to the C path.

Per-parameter scalar state (NAdam's mu_product, ASGD's eta and mu) comes as float32 arrays of
one element (0-d or shape (1,)), read and advanced in place as torch advances its 0-d float32
tensors. `steps` holds each parameter's step count after this step's increment.

The `*_scalars` functions compute the kernels' float arguments in Python double as torch 2.13's
single-tensor implementations do; compile_step's update records use them too.
"""

import numpy as np

from ..backend import table_of
from ._functional import _f, _flat, _fma, _lerp, _use_c

__all__ = ["adadelta", "adamax", "nadam", "radam", "asgd", "rprop"]

_F32 = np.float32


def _decay(p, g, decay, decoupled):
    """Weight decay as NAdam / RAdam apply it: p scaled in place (decoupled) or g + decay * p."""
    if decoupled:
        p *= _f(decay, p)
    elif decay != 0:
        g = _fma(p, _f(decay, p), g)
    return g


def _decay_scalar(lr, weight_decay, decoupled):
    """(decay, decoupled) for the kernels: 1 - lr*wd scaling p, or the L2 term (0: none)."""
    if weight_decay == 0:
        return 0.0, False
    return (1 - lr * weight_decay, True) if decoupled else (weight_decay, False)


# ===================================================================================== Adadelta
def adadelta(params, grads, square_avgs, acc_deltas, *, lr, rho, eps, weight_decay, maximize,
             engine="auto"):
    """torch's _single_tensor_adadelta."""
    sc = adadelta_scalars(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)
    for p, g, sq, acc in zip(params, grads, square_avgs, acc_deltas):
        if _use_c(engine, p, g, sq, acc):
            K = table_of(p, g)
            K.adadelta_step(_flat(p), _flat(sq), _flat(acc), _flat(g), *sc, maximize)
        else:
            _adadelta_ref(p, g, sq, acc, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                          maximize=maximize)


def adadelta_scalars(*, lr, rho, eps, weight_decay):
    """nf_adadelta_step's floats: (neg_lr, rho, 1 - rho, eps, weight_decay)."""
    return (-lr, rho, 1 - rho, eps, weight_decay)


def _adadelta_ref(p, g, sq, acc, *, lr, rho, eps, weight_decay, maximize):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    sq[...] = _fma(_f(1 - rho, sq) * g, g, sq * _f(rho, sq))
    std = np.sqrt(sq + _f(eps, sq))
    delta = np.sqrt(acc + _f(eps, acc)) / std * g
    acc[...] = _fma(_f(1 - rho, acc) * delta, delta, acc * _f(rho, acc))
    p[...] = _fma(delta, _f(-lr, p), p)


# ===================================================================================== Adamax
def adamax(params, grads, exp_avgs, exp_infs, steps, *, beta1, beta2, lr, weight_decay, eps,
           maximize, engine="auto"):
    """torch's _single_tensor_adamax (capturable=False)."""
    for i, (p, g, m, u) in enumerate(zip(params, grads, exp_avgs, exp_infs)):
        sc = adamax_scalars(steps[i], beta1=beta1, beta2=beta2, lr=lr,
                            weight_decay=weight_decay, eps=eps)
        if _use_c(engine, p, g, m, u):
            K = table_of(p, g)
            K.adamax_step(_flat(p), _flat(m), _flat(u), _flat(g), *sc, maximize)
        else:
            _adamax_ref(p, g, m, u, weight_decay=weight_decay, beta1=beta1, beta2=beta2,
                        eps=eps, neg_clr=sc[4], maximize=maximize)


def adamax_scalars(step, *, beta1, beta2, lr, weight_decay, eps):
    """nf_adamax_step's floats: (weight_decay, 1 - beta1, beta2, eps, -lr / (1 - beta1^step))."""
    clr = lr / (1 - beta1 ** float(step))
    return (weight_decay, 1 - beta1, beta2, eps, -clr)


def _adamax_ref(p, g, m, u, *, weight_decay, beta1, beta2, eps, neg_clr, maximize):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    m[...] = _lerp(m, g, 1 - beta1)
    np.maximum(u * _f(beta2, u), np.abs(g) + _f(eps, u), out=u)   # NaN-propagating, as torch
    p += (_f(neg_clr, p) * m) / u


# ===================================================================================== NAdam
def nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, *, beta1, beta2, lr,
          weight_decay, eps, momentum_decay, decoupled_weight_decay, maximize, engine="auto"):
    """torch's _single_tensor_nadam (capturable=False). mu_products[i]: a one-element float32
    array, multiplied by this step's mu in place."""
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        sc, mu_product = nadam_scalars(steps[i], mu_products[i], beta1=beta1, beta2=beta2,
                                       lr=lr, weight_decay=weight_decay, eps=eps,
                                       momentum_decay=momentum_decay,
                                       decoupled_weight_decay=decoupled_weight_decay)
        mu_products[i][...] = mu_product
        decoupled = _decay_scalar(lr, weight_decay, decoupled_weight_decay)[1]
        if _use_c(engine, p, g, m, v):
            K = table_of(p, g)
            K.nadam_step(_flat(p), _flat(m), _flat(v), _flat(g), *sc, maximize, decoupled)
        else:
            _nadam_ref(p, g, m, v, *sc, maximize=maximize, decoupled=decoupled)


def nadam_scalars(step, mu_product, *, beta1, beta2, lr, weight_decay, eps, momentum_decay,
                  decoupled_weight_decay):
    """(nf_nadam_step's floats: decay, 1 - beta1, beta2, 1 - beta2, bias_correction2, eps,
    c_grad, c_avg; the new mu_product as float32) for the step count `step` and the
    mu_product before this step."""
    step = float(step)
    bias_correction2 = 1 - beta2 ** step
    decay, _ = _decay_scalar(lr, weight_decay, decoupled_weight_decay)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
    # torch: mu_product (a float32 0-d tensor) *= mu, in float32
    mu_product = _F32(np.asarray(mu_product, _F32).reshape(())) * _F32(mu)
    mp = float(mu_product)
    c_grad = -lr * (1.0 - mu) / (1.0 - mp)
    c_avg = (-lr * mu_next) / (1.0 - mp * mu_next)
    return ((decay, 1 - beta1, beta2, 1 - beta2, bias_correction2, eps, c_grad, c_avg),
            mu_product)


def _nadam_ref(p, g, m, v, decay, beta1_weight, beta2, one_minus_beta2, bias_correction2, eps,
               c_grad, c_avg, *, maximize, decoupled):
    g = -g if maximize else g
    g = _decay(p, g, decay, decoupled)
    m[...] = _lerp(m, g, beta1_weight)
    v[...] = _fma(_f(one_minus_beta2, v) * g, g, v * _f(beta2, v))
    denom = np.sqrt(v / _f(bias_correction2, v)) + _f(eps, v)
    p += (_f(c_grad, p) * g) / denom
    p += (_f(c_avg, p) * m) / denom


# ===================================================================================== RAdam
def radam(params, grads, exp_avgs, exp_avg_sqs, steps, *, beta1, beta2, lr, weight_decay, eps,
          decoupled_weight_decay, maximize, engine="auto"):
    """torch's _single_tensor_radam (capturable=False)."""
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        sc, flags = radam_scalars(steps[i], beta1=beta1, beta2=beta2, lr=lr,
                                  weight_decay=weight_decay, eps=eps,
                                  decoupled_weight_decay=decoupled_weight_decay)
        if _use_c(engine, p, g, m, v):
            K = table_of(p, g)
            K.radam_step(_flat(p), _flat(m), _flat(v), _flat(g), *sc, maximize, *flags)
        else:
            _radam_ref(p, g, m, v, *sc, maximize=maximize, decoupled=flags[0],
                       rectify=flags[1])


def radam_scalars(step, *, beta1, beta2, lr, weight_decay, eps, decoupled_weight_decay):
    """(nf_radam_step's floats: decay, 1 - beta1, beta2, 1 - beta2, bias_correction1, lr,
    sqrt(bias_correction2), rect, eps; its flags (decoupled, rectify))."""
    step = float(step)
    decay, decoupled = _decay_scalar(lr, weight_decay, decoupled_weight_decay)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
    rectify = rho_t > 5.0
    rect = 0.0
    if rectify:
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    return ((decay, 1 - beta1, beta2, 1 - beta2, bias_correction1, lr, bias_correction2 ** 0.5,
             rect, eps), (decoupled, rectify))


def _radam_ref(p, g, m, v, decay, beta1_weight, beta2, one_minus_beta2, bias_correction1, lr,
               bias_correction2_sqrt, rect, eps, *, maximize, decoupled, rectify):
    g = -g if maximize else g
    g = _decay(p, g, decay, decoupled)
    m[...] = _lerp(m, g, beta1_weight)
    v[...] = _fma(_f(one_minus_beta2, v) * g, g, v * _f(beta2, v))
    u = (m / _f(bias_correction1, m)) * _f(lr, m)
    if rectify:
        one = v.dtype.type(1)
        adaptive = (one / (np.sqrt(v) + _f(eps, v))) * _f(bias_correction2_sqrt, v)
        u = (u * adaptive) * _f(rect, u)
    p -= u


# ===================================================================================== ASGD
def asgd(params, grads, axs, mus, etas, steps, *, lambd, lr, t0, alpha, weight_decay, maximize,
         engine="auto"):
    """torch's _single_tensor_asgd (capturable=False). mus[i], etas[i]: one-element float32
    arrays, read for this step and then set for the next, as torch does."""
    for i, (p, g, ax) in enumerate(zip(params, grads, axs)):
        sc, flags, (eta, mu) = asgd_scalars(steps[i], etas[i], mus[i], lambd=lambd, lr=lr,
                                            t0=t0, alpha=alpha, weight_decay=weight_decay)
        if _use_c(engine, p, g, ax):
            K = table_of(p, g)
            K.asgd_step(_flat(p), _flat(ax), _flat(g), *sc, maximize, *flags)
        else:
            _asgd_ref(p, g, ax, *sc, maximize=maximize, average=flags[0])
        etas[i][...] = eta
        mus[i][...] = mu


def asgd_scalars(step, eta, mu, *, lambd, lr, t0, alpha, weight_decay):
    """(nf_asgd_step's floats: weight_decay, 1 - lambd*eta, -eta, mu; its flag (average,);
    the new (eta, mu) as float32) for the step count `step` and this step's eta and mu."""
    eta = float(np.asarray(eta).reshape(()))
    mu = float(np.asarray(mu).reshape(()))
    step = float(step)
    new_eta = _F32(lr / ((1 + lambd * lr * step) ** alpha))
    new_mu = _F32(1 / max(1, step - t0))
    return (weight_decay, 1 - lambd * eta, -eta, mu), (mu != 1,), (new_eta, new_mu)


def _asgd_ref(p, g, ax, weight_decay, param_scale, neg_eta, mu, *, maximize, average):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    p *= _f(param_scale, p)
    p[...] = _fma(g, _f(neg_eta, p), p)
    if average:
        ax += (p - ax) * _f(mu, ax)
    else:
        ax[...] = p


# ===================================================================================== Rprop
def rprop(params, grads, prevs, step_sizes, *, step_size_min, step_size_max, etaminus, etaplus,
          maximize, engine="auto"):
    """torch's _single_tensor_rprop."""
    sc = (etaminus, etaplus, step_size_min, step_size_max)
    for p, g, prev, ss in zip(params, grads, prevs, step_sizes):
        if _use_c(engine, p, g, prev, ss):
            K = table_of(p, g)
            K.rprop_step(_flat(p), _flat(prev), _flat(ss), _flat(g), *sc, maximize)
        else:
            _rprop_ref(p, g, prev, ss, *sc, maximize=maximize)


def _rprop_ref(p, g, prev, ss, etaminus, etaplus, step_size_min, step_size_max, *, maximize):
    g = -g if maximize else g
    s = np.sign(g * prev)
    eplus, eminus = _f(etaplus, s), _f(etaminus, s)
    s = np.where(s > 0, eplus, np.where(s < 0, eminus, np.where(s == 0, s.dtype.type(1), s)))
    ss[...] = np.minimum(np.maximum(ss * s, _f(step_size_min, ss)), _f(step_size_max, ss))
    g = np.where(s == eminus, g.dtype.type(0), g)
    p[...] = _fma(-np.sign(g), ss, p)
    prev[...] = g
