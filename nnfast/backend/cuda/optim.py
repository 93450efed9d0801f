"""optim family on the GPU: fused optimizer updates over flat buffers, clipping helpers.

The same kernels as csrc/optim.c and csrc/optim_extra.c (read their headers), under the same
names and argument orders as nnfast._C: one grid-stride kernel per optimizer updating a
whole parameter group's flat float32 buffers in one launch. The functionals
(nnfast/optim/_functional*.py) compute every scalar that depends on the step count on the
host, in Python double, and pass it rounded to float32: they stay kernel arguments here, so
the step count never needs to live on the device.

Rounding: inside each element the float32 operations follow the C's order exactly, through
_rounding.py's never-fused `_mul` / `_add` / `_sub` / `_fma` / `_sqrt` (read why there) and
IEEE division. The updates therefore equal the C bit for bit: tested under the simulator
(where fma is emulated exactly); on the device by reading the PTX (every float op is
fma.rn / mul.rn / add.rn / sub.rn / div.rn / sqrt.rn / rcp.rn, a plain mul.f32 only where it
feeds a division), not yet by a run on a GPU.

Reductions (sumsq, maxabs) are deterministic: each block reduces its grid-stride share in a
fixed shared-memory tree, and a second one-block pass combines the block partials in a fixed
tree; no float atomics. sumsq accumulates in double as the C does and returns a 0-d float64
CudaArray (the C returns a double; clip_grad_norm_ takes a square root of a sum of them in
double), equal to the C's to double rounding (the summation order differs). maxabs is exact.

Not here: validation of hyper-parameters (nnfast/optim does it), float64 parameters (the
functionals' NumPy references), sparse gradients.
"""
import numpy as np
from numba import cuda, float32, float64, int32, int64

from . import _launch
from ._block import block_fold, larger_nan, plus
from ._rounding import _add, _fma, _mul, _sqrt, _sub, device_fn
from .array import CudaArray, empty, zeros

__all__ = ["sgd_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step",
           "adamax_step", "nadam_step", "radam_step", "asgd_step", "rprop_step",
           "sumsq", "maxabs", "scale_", "clamp_"]

SIM = _launch.SIM
ONE = np.float32(1.0)
ZERO = np.float32(0.0)
HALF = np.float32(0.5)

# ===================================================================== step kernels
# Each reads one element of every buffer, updates it, writes it back; flags are runtime
# int32 arguments (uniform across the grid, so the branches cost nothing next to the
# memory traffic). An absent optional buffer (None in the C) is passed as `param` with its
# flag 0 and never touched.

# SGD's and Adam's update of element i given its gradient g: their kernels' loop bodies,
# and fused_mlp.py's (which applies them to a gradient it has just reduced).
@device_fn
def _sgd_elem(param, buf, i, g, neg_lr, weight_decay, momentum, one_minus_dampening,
              has_buf, nesterov, maximize, init_buf):
    p = param[i]
    if maximize:
        g = -g
    if weight_decay != ZERO:
        g = _fma(p, weight_decay, g)
    if has_buf:
        if init_buf:
            b = g
        else:
            b = _fma(g, one_minus_dampening, _mul(buf[i], momentum))
        buf[i] = b
        if nesterov:
            g = _fma(b, momentum, g)
        else:
            g = b
    param[i] = _fma(g, neg_lr, p)


@device_fn
def _adam_elem(param, exp_avg, exp_avg_sq, max_exp_avg_sq, i, g, param_scale, l2, coef,
               small, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size,
               amsgrad, maximize):
    p = _mul(param[i], param_scale)
    if maximize:
        g = -g
    if l2 != ZERO:
        g = _fma(p, l2, g)
    m0 = exp_avg[i]
    m = _fma(coef, _sub(g, m0), m0 if small else g)
    exp_avg[i] = m
    v = _fma(_mul(one_minus_beta2, g), g, _mul(exp_avg_sq[i], beta2))
    exp_avg_sq[i] = v
    if amsgrad:
        vm = max_exp_avg_sq[i]
        v = vm if vm > v else v
        max_exp_avg_sq[i] = v
    denom = _add(_sqrt(v) / bias_correction2_sqrt, eps)
    param[i] = _add(p, (neg_step_size * m) / denom)


@cuda.jit
def _sgd_kernel(param, buf, grad, n, neg_lr, weight_decay, momentum, one_minus_dampening,
                has_buf, nesterov, maximize, init_buf):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        _sgd_elem(param, buf, i, grad[i], neg_lr, weight_decay, momentum, one_minus_dampening,
                  has_buf, nesterov, maximize, init_buf)
        i += step


@cuda.jit
def _adam_kernel(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, param_scale, l2,
                 beta1_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
                 neg_step_size, amsgrad, maximize):
    # lerp(m, g, w) as torch's vectorised CPU kernel: fma(coef, g - m, small ? m : g)
    small = abs(beta1_weight) < HALF
    coef = beta1_weight if small else _sub(beta1_weight, ONE)
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        _adam_elem(param, exp_avg, exp_avg_sq, max_exp_avg_sq, i, grad[i], param_scale, l2,
                   coef, small, beta2, one_minus_beta2, bias_correction2_sqrt, eps,
                   neg_step_size, amsgrad, maximize)
        i += step


@cuda.jit
def _rmsprop_kernel(param, square_avg, grad_avg, momentum_buf, grad, n, neg_lr, alpha,
                    one_minus_alpha, eps, weight_decay, momentum, centered, use_momentum,
                    maximize):
    small = abs(one_minus_alpha) < HALF
    coef = one_minus_alpha if small else _sub(one_minus_alpha, ONE)
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != ZERO:
            g = _fma(p, weight_decay, g)
        sq = _fma(_mul(one_minus_alpha, g), g, _mul(square_avg[i], alpha))
        square_avg[i] = sq
        if centered:
            ga0 = grad_avg[i]
            ga = _fma(coef, _sub(g, ga0), ga0 if small else g)
            grad_avg[i] = ga
            avg = _sqrt(_fma(-ga, ga, sq))
        else:
            avg = _sqrt(sq)
        avg = _add(avg, eps)
        if use_momentum:
            b = _add(_mul(momentum_buf[i], momentum), g / avg)
            momentum_buf[i] = b
            param[i] = _fma(b, neg_lr, p)
        else:
            param[i] = _add(p, (neg_lr * g) / avg)
        i += step


@cuda.jit
def _adagrad_kernel(param, state_sum, grad, n, neg_clr, weight_decay, eps, maximize):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != ZERO:
            g = _fma(p, weight_decay, g)
        s = _fma(g, g, state_sum[i])
        state_sum[i] = s
        std = _add(_sqrt(s), eps)
        param[i] = _add(p, (neg_clr * g) / std)
        i += step


@cuda.jit
def _adadelta_kernel(param, square_avg, acc_delta, grad, n, neg_lr, rho, one_minus_rho, eps,
                     weight_decay, maximize):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != ZERO:
            g = _fma(p, weight_decay, g)
        sq = _fma(_mul(one_minus_rho, g), g, _mul(square_avg[i], rho))
        square_avg[i] = sq
        std = _sqrt(_add(sq, eps))
        a0 = acc_delta[i]
        delta = _mul(_sqrt(_add(a0, eps)) / std, g)
        acc_delta[i] = _fma(_mul(one_minus_rho, delta), delta, _mul(a0, rho))
        param[i] = _fma(delta, neg_lr, p)
        i += step


@cuda.jit
def _adamax_kernel(param, exp_avg, exp_inf, grad, n, weight_decay, beta1_weight, beta2, eps,
                   neg_clr, maximize):
    small = abs(beta1_weight) < HALF
    coef = beta1_weight if small else _sub(beta1_weight, ONE)
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != ZERO:
            g = _fma(p, weight_decay, g)
        m0 = exp_avg[i]
        m = _fma(coef, _sub(g, m0), m0 if small else g)
        exp_avg[i] = m
        a = _mul(exp_inf[i], beta2)
        b = _add(abs(g), eps)
        u = a if a > b else b          # b when b is NaN
        u = a if a != a else u         # a when a is NaN (torch.maximum propagates NaN)
        exp_inf[i] = u
        param[i] = _add(p, (neg_clr * m) / u)
        i += step


@cuda.jit
def _nadam_kernel(param, exp_avg, exp_avg_sq, grad, n, decay, beta1_weight, beta2,
                  one_minus_beta2, bias_correction2, eps, c_grad, c_avg, maximize, decoupled):
    small = abs(beta1_weight) < HALF
    coef = beta1_weight if small else _sub(beta1_weight, ONE)
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if decoupled:
            p = _mul(p, decay)
        elif decay != ZERO:
            g = _fma(p, decay, g)
        m0 = exp_avg[i]
        m = _fma(coef, _sub(g, m0), m0 if small else g)
        exp_avg[i] = m
        v = _fma(_mul(one_minus_beta2, g), g, _mul(exp_avg_sq[i], beta2))
        exp_avg_sq[i] = v
        denom = _add(_sqrt(v / bias_correction2), eps)
        p = _add(p, (c_grad * g) / denom)
        param[i] = _add(p, (c_avg * m) / denom)
        i += step


@cuda.jit
def _radam_kernel(param, exp_avg, exp_avg_sq, grad, n, decay, beta1_weight, beta2,
                  one_minus_beta2, bias_correction1, lr, bias_correction2_sqrt, rect, eps,
                  maximize, decoupled, rectify):
    small = abs(beta1_weight) < HALF
    coef = beta1_weight if small else _sub(beta1_weight, ONE)
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if decoupled:
            p = _mul(p, decay)
        elif decay != ZERO:
            g = _fma(p, decay, g)
        m0 = exp_avg[i]
        m = _fma(coef, _sub(g, m0), m0 if small else g)
        exp_avg[i] = m
        v = _fma(_mul(one_minus_beta2, g), g, _mul(exp_avg_sq[i], beta2))
        exp_avg_sq[i] = v
        u = _mul(m / bias_correction1, lr)
        if rectify:
            adaptive = _mul(ONE / _add(_sqrt(v), eps), bias_correction2_sqrt)
            u = _mul(_mul(u, adaptive), rect)
        param[i] = _sub(p, u)
        i += step


@cuda.jit
def _asgd_kernel(param, ax, grad, n, weight_decay, param_scale, neg_eta, mu, maximize,
                 average):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        p = param[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != ZERO:
            g = _fma(p, weight_decay, g)
        p = _mul(p, param_scale)
        p = _fma(g, neg_eta, p)
        param[i] = p
        if average:
            a0 = ax[i]
            ax[i] = _add(a0, _mul(_sub(p, a0), mu))
        else:
            ax[i] = p
        i += step


@cuda.jit
def _rprop_kernel(param, prev, step_size, grad, n, etaminus, etaplus, step_size_min,
                  step_size_max, maximize):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        g = -grad[i] if maximize else grad[i]
        prod = _mul(g, prev[i])
        if prod > ZERO:
            s = etaplus
        elif prod < ZERO:
            s = etaminus
        elif prod == ZERO:
            s = ONE
        else:
            s = prod                   # NaN stays NaN
        ss = _mul(step_size[i], s)
        ss = step_size_min if ss < step_size_min else ss     # clamp_: NaN stays NaN
        ss = step_size_max if ss > step_size_max else ss
        step_size[i] = ss
        if s == etaminus:
            g = ZERO
        if g > ZERO:
            sg = ONE
        elif g < ZERO:
            sg = -ONE
        else:
            sg = g                     # torch.sign keeps 0 and NaN
        param[i] = _fma(-sg, ss, param[i])
        prev[i] = g
        i += step


@cuda.jit
def _scale_kernel(x, n, s):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        x[i] = x[i] * s
        i += step


@cuda.jit
def _scale_by_kernel(x, n, s_buf):
    # the factor read on the device (a 0-d CudaArray: no host sync to clip by a norm)
    s = s_buf[0]
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        x[i] = x[i] * s
        i += step


@cuda.jit
def _clamp_kernel(x, n, lo, hi):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        v = x[i]
        v = lo if v < lo else v
        v = hi if v > hi else v
        x[i] = v
        i += step


# ===================================================================== reductions


if SIM:
    def _square64(v):
        w = float(v)
        return w * w
else:
    from numba.cuda import libdevice

    @cuda.jit(device=True, inline=True)
    def _square64(v):
        # the product of two floats is exact in double; dmul_rn keeps NVVM from "shrinking"
        # a plain double(v) * double(v) to a float multiply widened afterwards (it does)
        w = float(v)
        return libdevice.dmul_rn(w, w)


@device_fn
def _same(v):
    return v


@device_fn
def _abs(v):
    return abs(v)


_trees = {}


def _tree_kernel(threads, load, join, dtype, identity):
    """out[b] = join over block b's grid-stride share of load(x[i]), in a fixed
    shared-memory tree of `threads` (a power of two). Launched on many blocks it is pass 1;
    on one block over pass 1's partials, pass 2: a fixed order whatever the timing."""
    key = (threads, load, join)
    k = _trees.get(key)
    if k is not None:
        return k

    def tree(x, n, out):
        sh = cuda.shared.array(threads, dtype)
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * threads + t
        step = cuda.gridDim.x * threads
        acc = identity
        while i < n:
            acc = join(acc, load(x[i]))
            i += step
        acc = block_fold(sh, acc, t, threads, join)
        if t == 0:
            out[cuda.blockIdx.x] = acc

    k = _trees[key] = cuda.jit(tree)
    return k


def _reduction_kernels(threads):
    """(sumsq pass 1, sum pass 2, maxabs pass 1, max pass 2) for blocks of `threads`."""
    z64 = np.float64(0.0)
    return (_tree_kernel(threads, _square64, plus, float64, z64),
            _tree_kernel(threads, _same, plus, float64, z64),
            _tree_kernel(threads, _abs, larger_nan, float32, ZERO),
            _tree_kernel(threads, _same, larger_nan, float32, ZERO))


# ===================================================================== argument handling
def _buf(a, n, name):
    """The flat device view of a float32 state/param array of n elements."""
    if not isinstance(a, CudaArray):
        raise TypeError(f"optimizer kernel: {name} must be a CUDA array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise ValueError(f"optimizer kernel: {name} must be float32, got {a.dtype}")
    if a.size != n:
        raise ValueError(f"optimizer kernel: {name} has {a.size} elements, param has {n}")
    if not a.is_contiguous:
        raise ValueError(f"optimizer kernel: {name} must be contiguous")
    return a.flat


def _opt(a, n, name, param_flat):
    """An optional buffer: (its flat view, 1), or (param's view as a stand-in, 0) for None."""
    if a is None:
        return param_flat, np.int32(0)
    return _buf(a, n, name), np.int32(1)


def _param(param, name="param"):
    if not isinstance(param, CudaArray):
        raise TypeError(f"optimizer kernel: {name} must be a CUDA array, got "
                        f"{type(param).__name__}")
    n = param.size
    return _buf(param, n, name), n


def _f(*xs):
    return tuple(np.float32(x) for x in xs)


def _b(*xs):
    return tuple(np.int32(bool(x)) for x in xs)


def _go(kernel, n, *args):
    kernel[_launch.grid(n)](*args)


# ===================================================================== the table
def sgd_step(param, momentum_buf, grad, neg_lr, weight_decay, momentum, one_minus_dampening,
             nesterov, maximize, init_buf):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    b, has_buf = _opt(momentum_buf, n, "momentum_buf", p)
    if n == 0:
        return
    _go(_sgd_kernel, n, p, b, g, n,
        *_f(neg_lr, weight_decay, momentum, one_minus_dampening),
        has_buf, *_b(nesterov, maximize, init_buf))


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, param_scale, weight_decay,
              beta1_weight, beta2, one_minus_beta2, bias_correction2_sqrt, eps, neg_step_size,
              maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    m = _buf(exp_avg, n, "exp_avg")
    v = _buf(exp_avg_sq, n, "exp_avg_sq")
    vmax, amsgrad = _opt(max_exp_avg_sq, n, "max_exp_avg_sq", p)
    if n == 0:
        return
    _go(_adam_kernel, n, p, m, v, vmax, g, n,
        *_f(param_scale, weight_decay, beta1_weight, beta2, one_minus_beta2,
            bias_correction2_sqrt, eps, neg_step_size),
        amsgrad, *_b(maximize))


def rmsprop_step(param, square_avg, grad_avg, momentum_buf, grad, neg_lr, alpha,
                 one_minus_alpha, eps, weight_decay, momentum, maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    sq = _buf(square_avg, n, "square_avg")
    ga, centered = _opt(grad_avg, n, "grad_avg", p)
    b, use_momentum = _opt(momentum_buf, n, "momentum_buf", p)
    if n == 0:
        return
    _go(_rmsprop_kernel, n, p, sq, ga, b, g, n,
        *_f(neg_lr, alpha, one_minus_alpha, eps, weight_decay, momentum),
        centered, use_momentum, *_b(maximize))


def adagrad_step(param, sum, grad, neg_clr, weight_decay, eps, maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    s = _buf(sum, n, "sum")
    if n == 0:
        return
    _go(_adagrad_kernel, n, p, s, g, n, *_f(neg_clr, weight_decay, eps), *_b(maximize))


def adadelta_step(param, square_avg, acc_delta, grad, neg_lr, rho, one_minus_rho, eps,
                  weight_decay, maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    sq = _buf(square_avg, n, "square_avg")
    acc = _buf(acc_delta, n, "acc_delta")
    if n == 0:
        return
    _go(_adadelta_kernel, n, p, sq, acc, g, n,
        *_f(neg_lr, rho, one_minus_rho, eps, weight_decay), *_b(maximize))


def adamax_step(param, exp_avg, exp_inf, grad, weight_decay, beta1_weight, beta2, eps, neg_clr,
                maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    m = _buf(exp_avg, n, "exp_avg")
    u = _buf(exp_inf, n, "exp_inf")
    if n == 0:
        return
    _go(_adamax_kernel, n, p, m, u, g, n,
        *_f(weight_decay, beta1_weight, beta2, eps, neg_clr), *_b(maximize))


def nadam_step(param, exp_avg, exp_avg_sq, grad, decay, beta1_weight, beta2, one_minus_beta2,
               bias_correction2, eps, c_grad, c_avg, maximize, decoupled):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    m = _buf(exp_avg, n, "exp_avg")
    v = _buf(exp_avg_sq, n, "exp_avg_sq")
    if n == 0:
        return
    _go(_nadam_kernel, n, p, m, v, g, n,
        *_f(decay, beta1_weight, beta2, one_minus_beta2, bias_correction2, eps, c_grad, c_avg),
        *_b(maximize, decoupled))


def radam_step(param, exp_avg, exp_avg_sq, grad, decay, beta1_weight, beta2, one_minus_beta2,
               bias_correction1, lr, bias_correction2_sqrt, rect, eps, maximize, decoupled,
               rectify):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    m = _buf(exp_avg, n, "exp_avg")
    v = _buf(exp_avg_sq, n, "exp_avg_sq")
    if n == 0:
        return
    _go(_radam_kernel, n, p, m, v, g, n,
        *_f(decay, beta1_weight, beta2, one_minus_beta2, bias_correction1, lr,
            bias_correction2_sqrt, rect, eps),
        *_b(maximize, decoupled, rectify))


def asgd_step(param, ax, grad, weight_decay, param_scale, neg_eta, mu, maximize, average):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    a = _buf(ax, n, "ax")
    if n == 0:
        return
    _go(_asgd_kernel, n, p, a, g, n, *_f(weight_decay, param_scale, neg_eta, mu),
        *_b(maximize, average))


def rprop_step(param, prev, step_size, grad, etaminus, etaplus, step_size_min, step_size_max,
               maximize):
    p, n = _param(param)
    g = _buf(grad, n, "grad")
    pv = _buf(prev, n, "prev")
    ss = _buf(step_size, n, "step_size")
    if n == 0:
        return
    _go(_rprop_kernel, n, p, pv, ss, g, n,
        *_f(etaminus, etaplus, step_size_min, step_size_max), *_b(maximize))


def _reduce(x, who, partial_k, combine_k, dtype):
    if not isinstance(x, CudaArray) or x.dtype != np.float32:
        raise TypeError(f"{who}: x must be a float32 CUDA array")
    if not x.is_contiguous:
        raise ValueError(f"{who}: x must be contiguous")
    xf, n = x.flat, x.size
    out = zeros((), dtype)
    if n == 0:
        return out
    blocks, threads = _launch.grid(n)
    part = empty((blocks,), dtype)
    partial_k[blocks, threads](xf, n, part.flat)
    combine_k[1, threads](part.flat, blocks, out.reshape(1).flat)
    return out


def sumsq(x):
    """Sum of squares of a float32 vector, accumulated in double: a 0-d float64 CudaArray."""
    ks = _reduction_kernels(_launch.THREADS)
    return _reduce(x, "sumsq", ks[0], ks[1], np.float64)


def maxabs(x):
    """max |x| as a 0-d float32 CudaArray (NaN if any element is; 0 for an empty x)."""
    ks = _reduction_kernels(_launch.THREADS)
    return _reduce(x, "maxabs", ks[2], ks[3], np.float32)


def scale_(x, s):
    """x *= s in place. s: a number, or a one-element CudaArray (read on the device, so the
    clipping coefficient computed from a device norm needs no host round trip)."""
    xf, n = _param(x, "x")
    if n == 0:
        return
    if isinstance(s, CudaArray):
        if s.size != 1:
            raise ValueError(f"scale_: s must have one element, got shape {s.shape}")
        if s.dtype != np.float32 or not s.is_contiguous:
            s = s.astype(np.float32)
        _go(_scale_by_kernel, n, xf, n, s.reshape(1).flat)
    else:
        _go(_scale_kernel, n, xf, n, np.float32(s))


def clamp_(x, lo, hi):
    """x = min(max(x, lo), hi) in place (NaN stays NaN)."""
    xf, n = _param(x, "x")
    if n == 0:
        return
    _go(_clamp_kernel, n, xf, n, *_f(lo, hi))


# ===================================================================== PTX checks
_A, _F, _I, _N = float32[::1], float32, int32, int64
_prod = _reduction_kernels(256) if not SIM else None
PTX_CHECKS = [
    (_sgd_kernel, (_A, _A, _A, _N) + (_F,) * 4 + (_I,) * 4),
    (_adam_kernel, (_A,) * 5 + (_N,) + (_F,) * 8 + (_I,) * 2),
    (_rmsprop_kernel, (_A,) * 5 + (_N,) + (_F,) * 6 + (_I,) * 3),
    (_adagrad_kernel, (_A,) * 3 + (_N,) + (_F,) * 3 + (_I,)),
    (_adadelta_kernel, (_A,) * 4 + (_N,) + (_F,) * 5 + (_I,)),
    (_adamax_kernel, (_A,) * 4 + (_N,) + (_F,) * 5 + (_I,)),
    (_nadam_kernel, (_A,) * 4 + (_N,) + (_F,) * 8 + (_I,) * 2),
    (_radam_kernel, (_A,) * 4 + (_N,) + (_F,) * 9 + (_I,) * 3),
    (_asgd_kernel, (_A,) * 3 + (_N,) + (_F,) * 4 + (_I,) * 2),
    (_rprop_kernel, (_A,) * 4 + (_N,) + (_F,) * 4 + (_I,)),
    (_scale_kernel, (_A, _N, _F)),
    (_scale_by_kernel, (_A, _N, _A)),
    (_clamp_kernel, (_A, _N, _F, _F)),
]
if _prod is not None:
    PTX_CHECKS += [
        (_prod[0], (_A, _N, float64[::1])),
        (_prod[1], (float64[::1], _N, float64[::1])),
        (_prod[2], (_A, _N, _A)),
        (_prod[3], (_A, _N, _A)),
    ]
