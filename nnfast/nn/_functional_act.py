"""Functional activations: relu, leaky_relu, prelu, elu, sigmoid, tanh, gelu, silu, softmax,
log_softmax (PyTorch's torch.nn.functional names, arguments and defaults).

Each call records one autograd node. float32 inputs run the compiled kernels of csrc/act.c;
float64 inputs run the plain NumPy references below (same formulas), which are also what the
tests hold the compiled path to. Other dtypes raise DTypeError.

Deviations from PyTorch:
- inplace=True is done in place only when no gradient is being recorded for the input.
  When one is, the result is computed out of place instead (same values and gradients; the
  input keeps its values): without version counters nnfast cannot tell whether an earlier
  node saved the array that would be overwritten, and PyTorch models written with
  nn.ReLU(inplace=True) must still train after changing the import.
- Integer inputs raise DTypeError (PyTorch accepts some, e.g. relu on int64).
- float64 GELU (exact) uses math.erf element by element: correct but slow; it exists for
  gradient checks.
"""
import math
import warnings

import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..backend import contiguous

__all__ = ["relu", "leaky_relu", "prelu", "elu", "sigmoid", "tanh", "gelu", "silu",
           "softmax", "log_softmax"]

# Kernel kinds of nnfast/_C_act.pxi (act_forward / act_backward).
_RELU, _LEAKY_RELU, _ELU, _SIGMOID, _TANH, _GELU, _GELU_TANH, _SILU = range(8)
_SAVES_OUTPUT = (_SIGMOID, _TANH)  # derivative computed from the forward output
_NAMES = {_RELU: "Relu", _LEAKY_RELU: "LeakyRelu", _ELU: "Elu", _SIGMOID: "Sigmoid",
          _TANH: "Tanh", _GELU: "Gelu", _GELU_TANH: "Gelu", _SILU: "Silu"}


# ===================================================================== input checks

def _check_input(input, who):
    if isinstance(input, Tensor):
        x = input
    elif isinstance(input, np.ndarray):
        x = Tensor._make(input)
    else:
        raise TypeError(f"{who}: expected a Tensor, got {type(input).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise DTypeError(f"{who}: expected a float32 or float64 input, got dtype {x.dtype} "
                         f"(shape {x.shape}); convert it with .float()")
    return x


def _flat(a):
    """A C-contiguous float32 1-D view (copying only when needed)."""
    if a.__class__ is np.ndarray:   # (the host case without a Python frame)
        return np.ascontiguousarray(a, dtype=np.float32).reshape(-1)
    return contiguous(a, dtype=np.float32).reshape(-1)


# ===================================================================== NumPy references

def _erf(x):
    # np.asarray: for a 0-d x, frompyfunc returns a bare Python float (no .astype)
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x)).astype(x.dtype)


def _ref_forward(kind, x, a=0.0):
    """f(x) in NumPy, same formulas as csrc/act.c (x float32 or float64)."""
    dt = x.dtype.type
    with np.errstate(over="ignore", invalid="ignore"):
        if kind == _RELU:
            return np.where(x < 0, dt(0), x)
        if kind == _LEAKY_RELU:
            return np.where(x > 0, x, x * dt(a))
        if kind == _ELU:
            return np.where(x <= 0, np.expm1(np.minimum(x, 0)) * dt(a), x)
        if kind == _SIGMOID:
            return dt(1) / (dt(1) + np.exp(-x))
        if kind == _TANH:
            return np.tanh(x)
        if kind == _GELU:
            return x * dt(0.5) * (dt(1) + _erf(x * dt(math.sqrt(0.5))))
        if kind == _GELU_TANH:
            inner = dt(math.sqrt(2 / math.pi)) * (x + dt(0.044715) * x * x * x)
            return dt(0.5) * x * (dt(1) + np.tanh(inner))
        if kind == _SILU:
            return x / (dt(1) + np.exp(-x))
    raise ValueError(f"unknown activation kind {kind}")


def _ref_backward(kind, g, s, a=0.0):
    """g * f'(x) in NumPy; s is the forward output for sigmoid/tanh, else the input."""
    dt = s.dtype.type
    with np.errstate(over="ignore", invalid="ignore"):
        if kind == _RELU:
            return np.where(s <= 0, dt(0), g)
        if kind == _LEAKY_RELU:
            return np.where(s > 0, g, g * dt(a))
        if kind == _ELU:
            return np.where(s <= 0, g * dt(a) * np.exp(np.minimum(s, 0)), g)
        if kind == _SIGMOID:
            return g * (dt(1) - s) * s
        if kind == _TANH:
            return g * (dt(1) - s * s)
        if kind == _GELU:
            cdf = dt(0.5) * (dt(1) + _erf(s * dt(math.sqrt(0.5))))
            pdf = dt(1 / math.sqrt(2 * math.pi)) * np.exp(s * s * dt(-0.5))
            return g * (cdf + s * pdf)
        if kind == _GELU_TANH:
            beta, kappa = dt(math.sqrt(2 / math.pi)), dt(0.044715)
            t = np.tanh(beta * (s + kappa * s * s * s))
            right = (dt(1) - t * t) * (beta * (dt(1) + dt(3) * kappa * s * s))
            return g * (dt(0.5) * (dt(1) + t) + dt(0.5) * s * right)
        if kind == _SILU:
            sg = dt(1) / (dt(1) + np.exp(-s))
            return g * sg * (dt(1) + s * (dt(1) - sg))
    raise ValueError(f"unknown activation kind {kind}")


def _ref_softmax(x, axis, log):
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=axis, keepdims=True)
        z = x - m
        if log:
            return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        e = np.exp(z)
        return e / np.sum(e, axis=axis, keepdims=True)


def _ref_softmax_backward(g, y, axis, log):
    if log:
        return g - np.exp(y) * np.sum(g, axis=axis, keepdims=True)
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def _ref_prelu(x3, w):
    """x3 viewed as [N, C, S], w[C]."""
    return np.where(x3 > 0, x3, w.reshape(1, -1, 1) * x3)


def _ref_prelu_backward(g3, x3, w):
    dx = np.where(x3 > 0, g3, w.reshape(1, -1, 1) * g3)
    dw = np.where(x3 > 0, 0, x3 * g3).sum(axis=(0, 2)).astype(x3.dtype)
    return dx, dw


# ===================================================================== elementwise core

class _Family:
    """One elementwise kernel table: the compiled pair (float32) and its NumPy twins
    (float64), all called as (kind, ..., a, b); `saves_output`: the kinds whose derivative
    reads the forward output instead of the input."""

    def __init__(self, c_forward, c_backward, ref_forward, ref_backward, names,
                 saves_output=()):
        self.c_forward, self.c_backward = c_forward, c_backward   # kernel names
        self.ref_forward, self.ref_backward = ref_forward, ref_backward
        self.names, self.saves_output = names, saves_output


_BASE = _Family("act_forward", "act_backward",
                lambda k, x, a, b: _ref_forward(k, x, a),
                lambda k, g, s, a, b: _ref_backward(k, g, s, a), _NAMES, _SAVES_OUTPUT)


def _elementwise(input, kind, who, a=0.0, inplace=False, b=0.0, fam=_BASE):
    x = _check_input(input, who)
    xd = x._storage
    K = table_of(xd)
    fast = xd.dtype == np.float32
    if inplace and not ag.needs_grad(x):
        if fast and xd.flags.c_contiguous and xd.flags.writeable:
            v = xd.reshape(-1)
            getattr(K, fam.c_forward)(kind, v, v, a, b)
        else:
            xd[...] = _elementwise(Tensor._make(xd), kind, who, a, False, b, fam)._storage
        return x
    if fast:
        xc = contiguous(xd).reshape(xd.shape)  # (ascontiguousarray makes 0-d 1-d)
        out = K.empty(xd.shape, np.float32)
        getattr(K, fam.c_forward)(kind, out.reshape(-1), xc.reshape(-1), a, b)
    else:
        xc = xd
        out = fam.ref_forward(kind, xd, a, b)
    if not ag.needs_grad(x):
        return Tensor._make(out)
    saved = out if kind in fam.saves_output else xc

    def backward(g):
        if fast:
            g = _flat(g)
            if x.requires_grad and x._node is None:
                # a leaf with no gradient yet: write it into the leaf's own storage (as
                # Linear does) rather than into a temporary the tape would then copy there
                sink, acc = ag.grad_sink(x)
                if sink is not None and not acc:
                    getattr(K, fam.c_backward)(kind, sink.reshape(-1), g, saved.reshape(-1), a, b)
                    return (None,)
            dx = K.empty(saved.shape, np.float32)
            getattr(K, fam.c_backward)(kind, dx.reshape(-1), g, saved.reshape(-1), a, b)
            return (dx,)
        return (fam.ref_backward(kind, g.astype(saved.dtype, copy=False), saved, a, b),)

    # the derivative reads the output (sigmoid, tanh, ...) or the input (the rest)
    saves_out = kind in fam.saves_output
    node = ag.Node((x,), backward, fam.names[kind], () if saves_out else (x,))
    y = Tensor._make(out, True, node)
    if saves_out:
        node.save_output(y)
    return y


# ===================================================================== public API

def relu(input, inplace=False):
    """max(x, 0) elementwise (NaN stays NaN)."""
    return _elementwise(input, _RELU, "relu", 0.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    return _elementwise(input, _LEAKY_RELU, "leaky_relu", float(negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _elementwise(input, _ELU, "elu", float(alpha), inplace)


def sigmoid(input):
    """1 / (1 + exp(-x))."""
    return _elementwise(input, _SIGMOID, "sigmoid")


def tanh(input):
    return _elementwise(input, _TANH, "tanh")


def gelu(input, approximate="none"):
    """x * Phi(x) (approximate='none', via erf) or its tanh approximation ('tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate argument must be either none or tanh, "
                         f"got {approximate!r}")
    return _elementwise(input, _GELU if approximate == "none" else _GELU_TANH, "gelu")


def silu(input, inplace=False):
    """x * sigmoid(x), computed as x / (1 + exp(-x))."""
    return _elementwise(input, _SILU, "silu", 0.0, inplace)


def prelu(input, weight, _who="prelu"):
    """x if x > 0 else weight[c] * x, c the channel (dim 1; a 1-element weight is shared).

    As in PyTorch: weight is 0-D or 1-D; with more than one element it must match
    input.shape[1] (an input of rank 1 counts as one channel)."""
    x = _check_input(input, _who)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{_who}: weight must be a Tensor, got {type(weight).__name__}")
    xd, wd = x._storage, weight._storage
    if wd.dtype != xd.dtype:
        raise DTypeError(f"{_who}: input has dtype {xd.dtype} but the weight is {wd.dtype}; "
                         f"convert the input with .float() (or the module with .double())")
    if wd.ndim > 1:
        raise ShapeError(f"{_who}: weight must be a scalar or 1-D, got shape {wd.shape}")
    nw = wd.size
    if nw != 1:
        if xd.ndim == 0:
            raise ShapeError(f"{_who}: a 0-dim input needs a single weight, got weight of "
                             f"shape {wd.shape}")
        channels = xd.shape[1] if xd.ndim > 1 else 1
        if channels != nw:
            raise ShapeError(f"{_who}: weight has {nw} parameters but the input has "
                             f"{channels} channel(s) (dim 1 of input shape {xd.shape})")
        N, C, S = xd.shape[0], nw, math.prod(xd.shape[2:])
    else:
        N, C, S = 1, 1, xd.size
    fast = xd.dtype == np.float32
    K = table_of(xd, wd)
    wc = contiguous(wd).reshape(-1)
    if fast:
        xc = _flat(xd)
        out = K.empty(xd.shape, np.float32)
        if xd.size:
            K.prelu_forward(out.reshape(-1), xc, wc, N, C, S)
    else:
        xc = xd.reshape(N, C, S)
        out = _ref_prelu(xc, wc).reshape(xd.shape)
    if not ag.needs_grad(x, weight):
        return Tensor._make(out)

    def backward(g):
        want_x, want_w = x.requires_grad, weight.requires_grad
        if not xd.size:
            return (K.zeros(xd.shape, xd.dtype) if want_x else None,
                    K.zeros(wd.shape, wd.dtype) if want_w else None)
        if fast:
            dx = K.empty(xd.shape, np.float32) if want_x else None
            dw = K.empty(C, np.float32) if want_w else None
            K.prelu_backward(None if dx is None else dx.reshape(-1), dw, _flat(g), xc, wc,
                              N, C, S)
        else:
            dx, dw = _ref_prelu_backward(g.reshape(N, C, S), xc, wc)
            dx = dx.reshape(xd.shape) if want_x else None
        return dx, (dw.reshape(wd.shape) if want_w else None)

    return Tensor._make(out, True, ag.Node((x, weight), backward, "Prelu"))


def _get_softmax_dim(name, ndim, stacklevel):
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_impl(input, dim, dtype, log, stacklevel):
    who = "log_softmax" if log else "softmax"
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise DTypeError(f"{who}: dtype must be float32 or float64, got {dtype}")
        if isinstance(input, np.ndarray):
            input = Tensor._make(input)
        if isinstance(input, Tensor) and input.dtype != dtype:
            input = input.type(dtype)  # records the cast, so gradients flow back through it
    x = _check_input(input, who)
    xd = x._storage
    ndim = xd.ndim
    if dim is None:
        dim = _get_softmax_dim(who, ndim, stacklevel + 1)
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not isinstance(dim, (int, np.integer)) or not lo <= dim <= hi:
        raise IndexError(f"{who}: dimension out of range (expected to be in range of "
                         f"[{lo}, {hi}], but got {dim})")
    shape = xd.shape if ndim else (1,)
    d = int(dim) % len(shape)
    outer = math.prod(shape[:d])
    D = shape[d]
    inner = math.prod(shape[d + 1:])
    fast = xd.dtype == np.float32
    K = table_of(xd)
    if fast:
        xc = _flat(xd)
        out = K.empty(xd.shape, np.float32)
        K.softmax_forward(out.reshape(-1), xc, outer, D, inner, log)
    elif xd.size:
        out = _ref_softmax(xd.reshape(outer, D, inner), 1, log).reshape(xd.shape)
    else:
        out = K.empty(xd.shape, xd.dtype)
    if not ag.needs_grad(x):
        return Tensor._make(out)

    def backward(g):
        if fast:
            dx = K.empty(xd.shape, np.float32)
            K.softmax_backward(dx.reshape(-1), _flat(g), out.reshape(-1), outer, D, inner, log)
            return (dx,)
        if not xd.size:
            return (K.zeros(xd.shape, xd.dtype),)
        g3 = g.astype(xd.dtype, copy=False).reshape(outer, D, inner)
        return (_ref_softmax_backward(g3, out.reshape(outer, D, inner), 1, log)
                .reshape(xd.shape),)

    return Tensor._make(out, True, ag.Node((x,), backward, "LogSoftmax" if log else "Softmax"))


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along dim, stably (the max is subtracted first).

    dim=None follows PyTorch's deprecated implicit choice (0 for 0-, 1- and 3-D inputs, else
    1) and warns as PyTorch does. dtype casts the input first (the cast is differentiable)."""
    return _softmax_impl(input, dim, dtype, False, _stacklevel)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along dim (same dim/dtype rules as softmax)."""
    return _softmax_impl(input, dim, dtype, True, _stacklevel)
