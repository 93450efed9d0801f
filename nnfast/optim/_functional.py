"""The update rules, one function per optimizer, each with two engines.

Every function takes lists of NumPy arrays (a parameter group's flat buffers are lists of one),
updates params and state in place, and dispatches each element of the lists:

  * float32 C-contiguous arrays  -> the fused C loop (csrc/optim.c, via nnfast._C),
  * anything else (float64 for gradient checks, odd layouts) -> the NumPy reference below.

`engine="numpy"` forces the reference, which the tests hold equal to the C path. Scalars are
computed here in Python double exactly as torch 2.13's single-tensor implementations compute
them; both engines then follow torch's float32 operation order, including its fused
multiply-adds (emulated in the reference through float64, exact for float32 operands but in
vanishingly rare double-rounding cases).

`steps` holds each parameter's step count *after* this step's increment (torch's state["step"]).
"""
import numpy as np

from ..backend import table_of

__all__ = ["sgd", "adam", "rmsprop", "adagrad"]

_F32 = np.dtype(np.float32)


def _use_c(engine, *arrays):
    if engine == "numpy":
        return False
    if engine not in ("auto", "c"):
        raise ValueError(f"engine must be 'auto', 'c' or 'numpy', got {engine!r}")
    ok = True
    for a in arrays:
        if a is not None and not (a.dtype == _F32 and a.flags.c_contiguous):
            ok = False
            break
    if engine == "c" and not ok:
        raise ValueError("engine='c' needs float32 C-contiguous arrays")
    return ok


def _flat(a):
    return a if a is None or a.ndim == 1 else a.reshape(-1)


def _fma(a, b, c):
    """a * b + c rounded once, in a's dtype (float32: exact through float64)."""
    if np.result_type(a, b, c) == np.float32:
        return (_f64(a) * _f64(b) + c).astype(np.float32)
    return a * b + c


def _f64(x):
    return x.astype(np.float64) if hasattr(x, "astype") else np.float64(x)


def _f(x, like):
    """A Python scalar as the array's working precision (torch casts scalars to the dtype)."""
    return like.dtype.type(x)


# ===================================================================================== SGD
def sgd(params, grads, momentum_buffers, *, lr, weight_decay, momentum, dampening, nesterov,
        maximize, first, engine="auto"):
    """torch's _single_tensor_sgd. momentum_buffers[i] may be None when momentum == 0;
    first[i] says the buffer is new (it is set to the gradient, as torch does)."""
    for i, (p, g) in enumerate(zip(params, grads)):
        buf = momentum_buffers[i] if momentum != 0 else None
        if _use_c(engine, p, g, buf):
            K = table_of(p, g)
            K.sgd_step(_flat(p), _flat(buf), _flat(g),
                        *sgd_scalars(lr=lr, weight_decay=weight_decay, momentum=momentum,
                                     dampening=dampening), nesterov, maximize, first[i])
        else:
            _sgd_ref(p, g, buf, lr=lr, weight_decay=weight_decay, momentum=momentum,
                     dampening=dampening, nesterov=nesterov, maximize=maximize, first=first[i])


def sgd_scalars(*, lr, weight_decay, momentum, dampening):
    """nf_sgd_step's float arguments: (neg_lr, weight_decay, momentum, 1 - dampening)."""
    return (-lr, weight_decay, momentum, 1 - dampening)


def _sgd_ref(p, g, buf, *, lr, weight_decay, momentum, dampening, nesterov, maximize, first):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    if momentum != 0:
        if first:
            buf[...] = g
        else:
            buf[...] = _fma(g, _f(1 - dampening, p), buf * _f(momentum, p))
        g = _fma(buf, _f(momentum, p), g) if nesterov else buf
    p[...] = _fma(g, _f(-lr, p), p)


# ===================================================================================== Adam
def adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, *, amsgrad, beta1,
         beta2, lr, weight_decay, eps, maximize, decoupled_weight_decay=False, engine="auto"):
    """torch's _single_tensor_adam (capturable=False); AdamW is decoupled_weight_decay=True."""
    for i, (p, g, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
        vmax = max_exp_avg_sqs[i] if amsgrad else None
        sc = adam_scalars(steps[i], beta1=beta1, beta2=beta2, lr=lr, weight_decay=weight_decay,
                          eps=eps, decoupled_weight_decay=decoupled_weight_decay)
        if _use_c(engine, p, g, m, v, vmax):
            K = table_of(p, g)
            K.adam_step(_flat(p), _flat(m), _flat(v), _flat(vmax), _flat(g), *sc, maximize)
        else:
            param_scale, l2, _, _, _, bias_correction2_sqrt, _, neg_step_size = sc
            _adam_ref(p, g, m, v, vmax, param_scale=param_scale, l2=l2, beta1=beta1,
                      beta2=beta2, bias_correction2_sqrt=bias_correction2_sqrt, eps=eps,
                      step_size=-neg_step_size, maximize=maximize)


def adam_scalars(step, *, beta1, beta2, lr, weight_decay, eps, decoupled_weight_decay):
    """nf_adam_step's float arguments for the step count `step` (after its increment):
    (param_scale, l2, 1 - beta1, beta2, 1 - beta2, bias_correction2_sqrt, eps, -step_size)."""
    step = float(step)
    bias_correction1 = 1 - beta1 ** step
    bias_correction2 = 1 - beta2 ** step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2 ** 0.5
    param_scale, l2 = 1.0, 0.0
    if weight_decay != 0:
        if decoupled_weight_decay:
            param_scale = 1 - lr * weight_decay
        else:
            l2 = weight_decay
    return (param_scale, l2, 1 - beta1, beta2, 1 - beta2, bias_correction2_sqrt, eps,
            -step_size)


def _lerp(start, end, weight):
    """torch.lerp as its vectorised CPU kernel computes it (one fused multiply-add)."""
    w = _f(weight, start)
    if abs(w) < 0.5:
        return _fma(w, end - start, start)
    return _fma(w - start.dtype.type(1), end - start, end)


def _adam_ref(p, g, m, v, vmax, *, param_scale, l2, beta1, beta2, bias_correction2_sqrt, eps,
              step_size, maximize):
    g = -g if maximize else g
    if param_scale != 1.0:
        p *= _f(param_scale, p)
    if l2 != 0:
        g = _fma(p, _f(l2, p), g)
    m[...] = _lerp(m, g, 1 - beta1)
    v[...] = _fma(_f(1 - beta2, v) * g, g, v * _f(beta2, v))
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    denom = np.sqrt(v) / _f(bias_correction2_sqrt, v) + _f(eps, v)
    p += (_f(-step_size, p) * m) / denom


# ===================================================================================== RMSprop
def rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, *, lr, alpha, eps,
            weight_decay, momentum, centered, maximize, engine="auto"):
    """torch's _single_tensor_rmsprop. grad_avgs[i] is used only when centered,
    momentum_buffers[i] only when momentum > 0."""
    for i, (p, g, sq) in enumerate(zip(params, grads, square_avgs)):
        ga = grad_avgs[i] if centered else None
        buf = momentum_buffers[i] if momentum > 0 else None
        if _use_c(engine, p, g, sq, ga, buf):
            K = table_of(p, g)
            K.rmsprop_step(_flat(p), _flat(sq), _flat(ga), _flat(buf), _flat(g),
                            *rmsprop_scalars(lr=lr, alpha=alpha, eps=eps,
                                             weight_decay=weight_decay, momentum=momentum),
                            maximize)
        else:
            _rmsprop_ref(p, g, sq, ga, buf, lr=lr, alpha=alpha, eps=eps,
                         weight_decay=weight_decay, momentum=momentum, maximize=maximize)


def rmsprop_scalars(*, lr, alpha, eps, weight_decay, momentum):
    """nf_rmsprop_step's float arguments: (neg_lr, alpha, 1 - alpha, eps, weight_decay,
    momentum)."""
    return (-lr, alpha, 1 - alpha, eps, weight_decay, momentum)


def _rmsprop_ref(p, g, sq, ga, buf, *, lr, alpha, eps, weight_decay, momentum, maximize):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    sq[...] = _fma(_f(1 - alpha, sq) * g, g, sq * _f(alpha, sq))
    if ga is not None:
        ga[...] = _lerp(ga, g, 1 - alpha)
        avg = np.sqrt(_fma(-ga, ga, sq))
    else:
        avg = np.sqrt(sq)
    avg = avg + _f(eps, avg)
    if buf is not None:
        buf[...] = buf * _f(momentum, buf) + g / avg
        p[...] = _fma(buf, _f(-lr, p), p)
    else:
        p += (_f(-lr, p) * g) / avg


# ===================================================================================== Adagrad
def adagrad(params, grads, state_sums, steps, *, lr, weight_decay, lr_decay, eps, maximize,
            engine="auto"):
    """torch's _single_tensor_adagrad (dense gradients)."""
    for i, (p, g, s) in enumerate(zip(params, grads, state_sums)):
        sc = adagrad_scalars(steps[i], lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                             eps=eps)
        if _use_c(engine, p, g, s):
            K = table_of(p, g)
            K.adagrad_step(_flat(p), _flat(s), _flat(g), *sc, maximize)
        else:
            _adagrad_ref(p, g, s, clr=-sc[0], weight_decay=weight_decay, eps=eps,
                         maximize=maximize)


def adagrad_scalars(step, *, lr, lr_decay, weight_decay, eps):
    """nf_adagrad_step's float arguments for the step count `step` (after its increment):
    (neg_clr, weight_decay, eps)."""
    clr = lr / (1 + (float(step) - 1) * lr_decay)
    return (-clr, weight_decay, eps)


def _adagrad_ref(p, g, s, *, clr, weight_decay, eps, maximize):
    g = -g if maximize else g
    if weight_decay != 0:
        g = _fma(p, _f(weight_decay, p), g)
    s[...] = _fma(g, g, s)
    std = np.sqrt(s) + _f(eps, s)
    p += (_f(-clr, p) * g) / std
