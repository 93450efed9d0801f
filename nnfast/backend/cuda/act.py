"""Activation family on CUDA: the kernels of csrc/act.c and csrc/act_extra.c as Numba kernels.

What it is: elementwise forward and derivative of every kind of `act_forward` (ReLU ... SiLU,
codes 0-7) and `act_extra_forward` (Softplus ... SELU, NF_ACTX_* codes 0-9), `act_math`,
per-channel PReLU, and (re-exported from softmax.py, where they live) Softmax / LogSoftmax.
Same names, argument order, defaults and semantics as nnfast._C (nnfast/_C_act.pxi), with
CudaArray for ndarray; every backward overwrites (never accumulates), as the C does.

Numerics: formula by formula the C kernels' (the same selects, so kinks and -0.0 land on the
same side; the same clamps around exp), with libdevice's expf/expm1f/tanhf/erff/log1pf in
place of act.c's own polynomial versions: each side is within ~2 ulp of the true value, so
results agree to float32 rounding, not bit for bit. Every constant is a np.float32 so that
nothing is promoted to double on the device. Clamps and kinks are written as selects, not
min/max, because the selects decide where a NaN goes, as the C's do.

PReLU's dweight is reduced deterministically: summed in double in two passes (fixed
per-block partials, then one block per channel), never with atomics. That reducer,
`channel_sum`, also serves dropout.py's sumabs.

What it is not: strided (contiguous float32 arrays only, as the C's memoryviews) or float64.
"""
import math

import numpy as np
from numba import cuda, float32, float64
from numba import types as nbt

from . import _launch
from ._block import block_sum
from ._checks import need, need_flat
from . import softmax as _softmax
from .array import empty
from .softmax import softmax_backward, softmax_forward

__all__ = ["act_forward", "act_backward", "act_extra_forward", "act_extra_backward", "act_math",
           "prelu_forward", "prelu_backward", "softmax_forward", "softmax_backward"]

ACT_COUNT = 8      # NF_ACT_RELU .. NF_ACT_SILU (csrc/nnfast.h)
ACTX_COUNT = 10    # NF_ACTX_SOFTPLUS .. NF_ACTX_SELU

_F = np.float32
F0, F1, F2, F3, F6, HALF = _F(0), _F(1), _F(2), _F(3), _F(6), _F(0.5)
SQRT1_2 = _F(0.70710678118654752440)
GELU_PDF = _F(0.39894228040143267794)     # 1 / sqrt(2 pi)
GELU_BETA = _F(0.79788456080286535588)    # sqrt(2 / pi)
GELU_KAPPA = _F(0.044715)
GELU_3KAPPA = _F(3) * GELU_KAPPA          # C folds 3.0f * kappa in float
SIXTH = _F(1) / _F(6)
SELU_ALPHA = _F(1.6732632423543772848170429916717)
SELU_SCALE = _F(1.0507009873554804934193349852946)
SELU_NEG = SELU_ALPHA * SELU_SCALE
EXP_SIG_LO, EXP_SIG_HI = _F(-87), _F(89)
TWENTY = _F(20)

_dev = cuda.jit(device=True, inline=True)


# ===================================================================== scalar math

@_dev
def _exp_sig(x):
    """act.c's exp_sig: exp with x clamped to [-87, 89] (NaN passes), for 1 + exp(x)."""
    x = EXP_SIG_LO if x < EXP_SIG_LO else x
    x = EXP_SIG_HI if x > EXP_SIG_HI else x
    return _F(math.exp(x))


@_dev
def _sigmoid(x):
    return F1 / (F1 + _exp_sig(-x))


@_dev
def _tanh_softplus(x):
    """tanh(log1p(exp(x))) = p / (p + 2), p = e (e + 2), e = exp(min(x, 20))."""
    e = _F(math.exp(x if x < TWENTY else TWENTY))
    p = e * (e + F2)
    return p / (p + F2)


# ===================================================================== act.c kinds
# forward f(x, a, b) -> y; backward g(dy, saved, a, b) -> dx (saved: y for sigmoid and tanh,
# else x). Each line is the C loop body of the kernel of the same name.

@_dev
def _relu_f(x, a, b):
    return F0 if x < F0 else x


@_dev
def _relu_b(dy, x, a, b):
    return F0 if x <= F0 else dy


@_dev
def _leaky_f(x, a, b):
    return x if x > F0 else x * a


@_dev
def _leaky_b(dy, x, a, b):
    return dy if x > F0 else dy * a


@_dev
def _elu_f(x, a, b):
    e = _F(math.expm1(x if x < F0 else F0)) * a
    return e if x <= F0 else x


@_dev
def _elu_b(dy, x, a, b):
    g = dy * a * _F(math.exp(x if x < F0 else F0))
    return g if x <= F0 else dy


@_dev
def _sigmoid_f(x, a, b):
    return _sigmoid(x)


@_dev
def _sigmoid_b(dy, y, a, b):
    return dy * (F1 - y) * y


@_dev
def _tanh_f(x, a, b):
    return _F(math.tanh(x))


@_dev
def _tanh_b(dy, y, a, b):
    return dy * (F1 - y * y)


@_dev
def _gelu_f(x, a, b):
    return x * HALF * (F1 + _F(math.erf(x * SQRT1_2)))


@_dev
def _gelu_b(dy, x, a, b):
    t = x * SQRT1_2
    cdf = HALF * (F1 + _F(math.erf(t)))
    pdf = GELU_PDF * _F(math.exp(-(t * t)))    # the C takes exp(-t^2) from its erf
    return dy * (cdf + x * pdf)


@_dev
def _gelu_tanh_f(x, a, b):
    inner = GELU_BETA * (x + GELU_KAPPA * (x * x * x))
    return HALF * x * (F1 + _F(math.tanh(inner)))


@_dev
def _gelu_tanh_b(dy, x, a, b):
    x2 = x * x
    inner = GELU_BETA * (x + GELU_KAPPA * (x2 * x))
    t = _F(math.tanh(inner))
    left = HALF * (F1 + t)
    right = (F1 - t * t) * (GELU_BETA * (F1 + GELU_3KAPPA * x2))
    return dy * (left + HALF * x * right)


@_dev
def _silu_f(x, a, b):
    return x / (F1 + _exp_sig(-x))


@_dev
def _silu_b(dy, x, a, b):
    s = _sigmoid(x)
    return dy * s * (F1 + x * (F1 - s))


# ===================================================================== act_extra.c kinds

@_dev
def _softplus_f(x, beta, th):
    z = x * beta
    return x if z > th else _F(math.log1p(_F(math.exp(z)))) / beta


@_dev
def _softplus_b(dy, x, beta, th):
    z = x * beta
    e = _F(math.exp(z))
    return dy if z > th else dy * e / (e + F1)


@_dev
def _hardtanh_f(x, lo, hi):
    v = lo if x < lo else x
    return hi if v > hi else v


@_dev
def _hardtanh_b(dy, x, lo, hi):
    return F0 if (x <= lo or x >= hi) else dy


@_dev
def _mish_f(x, a, b):
    return x * _tanh_softplus(x)


@_dev
def _mish_b(dy, x, a, b):
    t = _tanh_softplus(x)
    s = F1 / (F1 + _F(math.exp(-x)))
    return dy * (t + x * s * (F1 - t * t))


@_dev
def _hard_ramp(x):
    r = x + F3
    r = F0 if r < F0 else r
    return F6 if r > F6 else r


@_dev
def _hardswish_f(x, a, b):
    return x * _hard_ramp(x) / F6


@_dev
def _hardswish_b(dy, x, a, b):
    mid = dy * (x / F3 + HALF)
    return F0 if x <= -F3 else (mid if x < F3 else dy)


@_dev
def _hardsigmoid_f(x, a, b):
    return _hard_ramp(x) / F6


@_dev
def _hardsigmoid_b(dy, x, a, b):
    return dy * SIXTH if (x > -F3 and x < F3) else F0


@_dev
def _softsign_f(x, a, b):
    return x / (abs(x) + F1)


@_dev
def _softsign_b(dy, x, a, b):
    d = abs(x) + F1
    return dy / (d * d) + (x - x)     # x - x: NaN at +-inf, as torch's composite gradient


@_dev
def _logsigmoid_f(x, a, b):
    m = x if x < F0 else F0
    return m - _F(math.log1p(_F(math.exp(-abs(x)))))


@_dev
def _logsigmoid_b(dy, x, a, b):
    z = _F(math.exp(-abs(x)))
    q = z / (F1 + z)
    return dy * (F1 - q if x < F0 else q)


@_dev
def _threshold_f(x, th, value):
    return value if x <= th else x


@_dev
def _threshold_b(dy, x, th, value):
    return F0 if x <= th else dy


@_dev
def _celu_f(x, alpha, inv):
    z = x * inv
    e = _F(math.expm1(z if z < F0 else F0)) * alpha
    return e if x < F0 else x


@_dev
def _celu_b(dy, x, alpha, inv):
    s = F1 / alpha                    # torch's input scale from the float alpha, not b
    c = alpha * s
    z = x * s
    g = dy * c * _F(math.exp(z if z < F0 else F0))
    return g if x <= F0 else dy


@_dev
def _selu_f(x, a, b):
    e = _F(math.expm1(x if x < F0 else F0)) * SELU_NEG
    return e if x < F0 else x * SELU_SCALE


@_dev
def _selu_b(dy, x, a, b):
    g = dy * SELU_NEG * _F(math.exp(x if x < F0 else F0))
    return g if x <= F0 else dy * SELU_SCALE


_ACT = ((_relu_f, _relu_b), (_leaky_f, _leaky_b), (_elu_f, _elu_b), (_sigmoid_f, _sigmoid_b),
        (_tanh_f, _tanh_b), (_gelu_f, _gelu_b), (_gelu_tanh_f, _gelu_tanh_b),
        (_silu_f, _silu_b))
_ACTX = ((_softplus_f, _softplus_b), (_hardtanh_f, _hardtanh_b), (_mish_f, _mish_b),
         (_hardswish_f, _hardswish_b), (_hardsigmoid_f, _hardsigmoid_b),
         (_softsign_f, _softsign_b), (_logsigmoid_f, _logsigmoid_b),
         (_threshold_f, _threshold_b), (_celu_f, _celu_b), (_selu_f, _selu_b))
assert len(_ACT) == ACT_COUNT and len(_ACTX) == ACTX_COUNT


# ===================================================================== elementwise kernels

_cache = {}


def _unary_kernel(fn):
    """out[i] = fn(inp[i], a, b) over n elements (out may be inp)."""
    key = ("unary", fn)
    k = _cache.get(key)
    if k is None:
        def kern(out, inp, n, a, b):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                out[i] = fn(inp[i], a, b)
                i += step
        k = _cache[key] = cuda.jit(kern)
    return k


def _binary_kernel(fn):
    """dinp[i] = fn(dout[i], saved[i], a, b) over n elements (dinp may be dout)."""
    key = ("binary", fn)
    k = _cache.get(key)
    if k is None:
        def kern(dinp, dout, saved, n, a, b):
            i = cuda.grid(1)
            step = cuda.gridsize(1)
            while i < n:
                dinp[i] = fn(dout[i], saved[i], a, b)
                i += step
        k = _cache[key] = cuda.jit(kern)
    return k


def _kind(who, kind, count):
    kind = int(kind)
    if not 0 <= kind < count:
        raise ValueError(f"{who}: unknown kind {kind}")
    return kind


def _same(who, names, arrays):
    for nm, a in zip(names, arrays):
        need(who, nm, a)
    n = arrays[0].size
    if any(a.size != n for a in arrays):
        raise ValueError(f"{who}: " + ", ".join(f"{nm} {a.size}" for nm, a in zip(names, arrays))
                         + " elements")
    return n


def _forward(table, count, who, kind, out, inp, a, b):
    kind = _kind(who, kind, count)
    n = _same(who, ("out", "inp"), (out, inp))
    po, pi = need_flat(who, "out", out), need_flat(who, "inp", inp)
    if n:
        _unary_kernel(table[kind][0])[_launch.grid(n)](po, pi, n, _F(a), _F(b))


def _backward(table, count, who, kind, dinp, dout, saved, a, b, saved_name="saved"):
    kind = _kind(who, kind, count)
    n = _same(who, ("dinp", "dout", saved_name), (dinp, dout, saved))
    pd, pg = need_flat(who, "dinp", dinp), need_flat(who, "dout", dout)
    ps = need_flat(who, saved_name, saved)
    if n:
        _binary_kernel(table[kind][1])[_launch.grid(n)](pd, pg, ps, n, _F(a), _F(b))


def act_forward(kind, out, inp, a=0.0, b=0.0):
    """out = f(inp) elementwise; `a` is the op's scalar (slope, alpha). out may be inp."""
    _forward(_ACT, ACT_COUNT, "act_forward", kind, out, inp, a, b)


def act_backward(kind, dinp, dout, saved, a=0.0, b=0.0):
    """dinp = dout * f'(x); `saved` is the forward output for sigmoid/tanh, else the input."""
    _backward(_ACT, ACT_COUNT, "act_backward", kind, dinp, dout, saved, a, b)


def act_extra_forward(kind, out, inp, a=0.0, b=0.0):
    """out = f(inp) elementwise for an NF_ACTX_* kind; out may be inp."""
    _forward(_ACTX, ACTX_COUNT, "act_extra_forward", kind, out, inp, a, b)


def act_extra_backward(kind, dinp, dout, inp, a=0.0, b=0.0):
    """dinp = dout * f'(inp) for an NF_ACTX_* kind; dinp may be dout."""
    _backward(_ACTX, ACTX_COUNT, "act_extra_backward", kind, dinp, dout, inp, a, b, "inp")


# ===================================================================== act_math

@_dev
def _math(x, which, ref):
    """exp (0), expm1 (1), tanh (2), erf (3). The device has one libm (libdevice), so ref
    selects the same functions, except that act.c's own expm1 clamps x to [-20, 20]."""
    if which == 0:
        return _F(math.exp(x))
    if which == 1:
        if not ref:
            x = -TWENTY if x < -TWENTY else (TWENTY if x > TWENTY else x)
        return _F(math.expm1(x))
    if which == 2:
        return _F(math.tanh(x))
    return _F(math.erf(x))


@cuda.jit
def _math_kernel(out, inp, n, which, ref):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        out[i] = _math(inp[i], which, ref)
        i += step


def act_math(out, inp, which, ref=False):
    """Test hook: exp (0) / expm1 (1) / tanh (2) / erf (3) elementwise."""
    n = _same("act_math", ("out", "inp"), (out, inp))
    po, pi = need_flat("act_math", "out", out), need_flat("act_math", "inp", inp)
    if n:
        _math_kernel[_launch.grid(n)](po, pi, n, int(which), bool(ref))


# ===================================================================== PReLU

@cuda.jit
def _prelu_forward_kernel(out, inp, weight, C, S, n):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        x = inp[i]
        out[i] = x if x > F0 else x * weight[(i // S) % C]
        i += step


@cuda.jit
def _prelu_dinp_kernel(dinp, dout, inp, weight, C, S, n):
    i = cuda.grid(1)
    step = cuda.gridsize(1)
    while i < n:
        dy = dout[i]
        dinp[i] = dy if inp[i] > F0 else dy * weight[(i // S) % C]
        i += step


@_dev
def _prelu_dw_term(x, dy):
    """One element's share of dweight: x <= 0 ? x * dy : 0 (the float product, as the C)."""
    return float64(F0 if x > F0 else x * dy)


@_dev
def _abs_term(x, unused):
    return abs(float64(x))


def channel_sum_kernels(term, threads):
    """Two kernels summing term(x, y) in double over each channel c of x, y viewed as
    [N, C, S], deterministically (no atomics):
      partial(part, x, y, N, C, S, P): block q = c * P + p sums elements j = p*threads + t,
        stepping P*threads, of channel c's N*S (j -> x[(j // S * C + c) * S + j % S]) in a
        fixed shared-memory tree into part[q];
      final(out, part, C, P): one block per channel sums its P partials the same way and
        writes float32(sum) to out[c]."""
    assert threads & (threads - 1) == 0, "the tree halves a power of two"
    key = ("chsum", term, threads)
    k = _cache.get(key)
    if k is not None:
        return k

    def partial(part, x, y, N, C, S, P):
        sm = cuda.shared.array(threads, float64)
        t = cuda.threadIdx.x
        m = N * S
        q = cuda.blockIdx.x
        while q < C * P:
            c = q // P
            j = (q - c * P) * threads + t
            acc = float64(0)
            while j < m:
                o = (j // S * C + c) * S + j % S
                acc += term(x[o], y[o])
                j += P * threads
            total = block_sum(sm, acc, t, threads)
            if t == 0:
                part[q] = total
            q += cuda.gridDim.x

    def final(out, part, C, P):
        sm = cuda.shared.array(threads, float64)
        t = cuda.threadIdx.x
        c = cuda.blockIdx.x
        while c < C:
            acc = float64(0)
            j = t
            while j < P:
                acc += part[c * P + j]
                j += threads
            total = block_sum(sm, acc, t, threads)
            if t == 0:
                out[c] = float32(total)
            c += cuda.gridDim.x

    k = _cache[key] = (cuda.jit(partial), cuda.jit(final))
    return k


def channel_sum(out, term, x, y, N, C, S):
    """out[c] = float32(sum in double of term(x, y) over channel c of [N, C, S]); N*S > 0."""
    threads = _launch.THREADS
    partial, final = channel_sum_kernels(term, threads)
    per = N * S
    # parts per channel: enough blocks to fill the device, each block >= 4 elements a thread
    P = max(1, min(_launch.MAX_BLOCKS // max(C, 1) or 1, -(-per // (threads * 4))))
    part = empty((C * P,), np.float64)
    partial[min(C * P, _launch.MAX_BLOCKS), threads](part.flat, x, y, N, C, S, P)
    final[min(C, _launch.MAX_BLOCKS), threads](out, part.flat, C, P)


def _prelu_sizes(who, N, C, S, **arrays):
    N, C, S = int(N), int(C), int(S)
    if N < 0 or C < 1 or S < 0:
        raise ValueError(f"{who}: bad sizes [N, C, S] = [{N}, {C}, {S}]")
    want = {"weight": C, "dweight": C}
    for name, a in arrays.items():
        need(who, name, a, optional=name in ("dinp", "dweight"))
        if a is not None and a.size != want.get(name, N * C * S):
            raise ValueError(f"{who}: {name} has {a.size} elements for [N, C, S] = "
                             f"[{N}, {C}, {S}]")
    return N, C, S


def prelu_forward(out, inp, weight, N, C, S):
    """out = inp > 0 ? inp : weight[c] * inp over inp viewed as [N, C, S]."""
    who = "prelu_forward"
    N, C, S = _prelu_sizes(who, N, C, S, out=out, inp=inp, weight=weight)
    po, pi = need_flat(who, "out", out), need_flat(who, "inp", inp)
    pw = need_flat(who, "weight", weight)
    n = N * C * S
    if n:
        _prelu_forward_kernel[_launch.grid(n)](po, pi, pw, C, S, n)


def prelu_backward(dinp, dweight, dout, inp, weight, N, C, S):
    """dinp[N*C*S] and dweight[C] (overwritten; either may be None)."""
    who = "prelu_backward"
    N, C, S = _prelu_sizes(who, N, C, S, dinp=dinp, dweight=dweight, dout=dout, inp=inp,
                           weight=weight)
    pg, pi = need_flat(who, "dout", dout), need_flat(who, "inp", inp)
    pw = need_flat(who, "weight", weight)
    pd = None if dinp is None else need_flat(who, "dinp", dinp)
    pdw = None if dweight is None else need_flat(who, "dweight", dweight)
    n = N * C * S
    if pd is not None and n:
        _prelu_dinp_kernel[_launch.grid(n)](pd, pg, pi, pw, C, S, n)
    if pdw is not None:
        if n:
            channel_sum(pdw, _prelu_dw_term, pi, pg, N, C, S)
        else:
            dweight.fill(0)


# ===================================================================== PTX checks

_V = nbt.float32[::1]
_I = nbt.int64
_PROD_THREADS = 256


def _ptx_checks():
    ew = [(_unary_kernel(f), (_V, _V, _I, nbt.float32, nbt.float32)) for f, _ in _ACT + _ACTX]
    ew += [(_binary_kernel(b), (_V, _V, _V, _I, nbt.float32, nbt.float32))
           for _, b in _ACT + _ACTX]
    ew.append((_math_kernel, (_V, _V, _I, _I, nbt.boolean)))
    ew.append((_prelu_forward_kernel, (_V, _V, _V, _I, _I, _I)))
    ew.append((_prelu_dinp_kernel, (_V, _V, _V, _V, _I, _I, _I)))
    for term in (_prelu_dw_term,):
        partial, final = channel_sum_kernels(term, _PROD_THREADS)
        ew.append((partial, (nbt.float64[::1], _V, _V, _I, _I, _I, _I)))
        ew.append((final, (_V, nbt.float64[::1], _I, _I)))
    return ew + _softmax.PTX_CHECKS


PTX_CHECKS = _ptx_checks()
