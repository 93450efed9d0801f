"""Functional activations, the less common ones: softplus, hardtanh, relu6, mish, hardswish,
hardsigmoid, softsign, logsigmoid, threshold, celu, selu (torch.nn.functional's names,
arguments and defaults).

Same machinery as _functional_act.py (one autograd node per call, `_elementwise`): float32
runs the compiled kernels of csrc/act_extra.c, float64 the NumPy references below (the same
formulas), which the tests also hold the compiled path to. Other dtypes raise DTypeError
(PyTorch accepts integers for a few of these, e.g. hardtanh).

inplace=True follows _functional_act.py: in place when no gradient is recorded for the
input, else computed out of place with the same values and gradients.
"""
import numpy as np

from ._functional_act import _Family, _elementwise, elu, leaky_relu, relu

__all__ = ["softplus", "hardtanh", "relu6", "mish", "hardswish", "hardsigmoid", "softsign",
           "logsigmoid", "threshold", "celu", "selu", "relu_", "elu_", "leaky_relu_",
           "hardtanh_", "threshold_", "celu_", "selu_"]

# Kernel kinds: NF_ACTX_* of csrc/nnfast.h, in its order.
(_SOFTPLUS, _HARDTANH, _MISH, _HARDSWISH, _HARDSIGMOID, _SOFTSIGN, _LOGSIGMOID, _THRESHOLD,
 _CELU, _SELU) = range(10)
_NAMES = {_SOFTPLUS: "Softplus", _HARDTANH: "Hardtanh", _MISH: "Mish",
          _HARDSWISH: "Hardswish", _HARDSIGMOID: "Hardsigmoid", _SOFTSIGN: "Softsign",
          _LOGSIGMOID: "LogSigmoid", _THRESHOLD: "Threshold", _CELU: "Celu", _SELU: "Selu"}

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ===================================================================== NumPy references

def _ref_forward(kind, x, a, b):
    """f(x) in NumPy, same formulas as csrc/act_extra.c (a, b: the kind's two scalars)."""
    dt = x.dtype.type
    one, zero, three, six = dt(1), dt(0), dt(3), dt(6)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if kind == _SOFTPLUS:
            z = x * dt(a)
            return np.where(z > dt(b), x, np.log1p(np.exp(z)) / dt(a))
        if kind == _HARDTANH:
            return np.minimum(np.maximum(x, dt(a)), dt(b))
        if kind == _MISH:
            return x * np.tanh(np.log1p(np.exp(x)))
        if kind == _HARDSWISH:
            return x * np.minimum(np.maximum(x + three, zero), six) / six
        if kind == _HARDSIGMOID:
            return np.minimum(np.maximum(x + three, zero), six) / six
        if kind == _SOFTSIGN:
            return x / (np.abs(x) + one)
        if kind == _LOGSIGMOID:
            return np.minimum(x, zero) - np.log1p(np.exp(-np.abs(x)))
        if kind == _THRESHOLD:
            return np.where(x <= dt(a), dt(b), x)
        if kind == _CELU:
            return np.where(x <= 0, np.expm1(np.minimum(x * dt(b), zero)) * dt(a), x)
        if kind == _SELU:
            neg = dt(SELU_ALPHA) * dt(SELU_SCALE)
            return np.where(x <= 0, np.expm1(np.minimum(x, zero)) * neg, x * dt(SELU_SCALE))
    raise ValueError(f"unknown activation kind {kind}")


def _ref_backward(kind, g, x, a, b):
    """g * f'(x) in NumPy (x: the forward input)."""
    dt = x.dtype.type
    one, zero, three = dt(1), dt(0), dt(3)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if kind == _SOFTPLUS:
            z = x * dt(a)
            e = np.exp(z)
            return np.where(z > dt(b), g, g * e / (e + one))
        if kind == _HARDTANH:
            return np.where((x <= dt(a)) | (x >= dt(b)), zero, g)
        if kind == _MISH:
            t = np.tanh(np.log1p(np.exp(x)))
            s = one / (one + np.exp(-x))
            return g * (t + x * s * (one - t * t))
        if kind == _HARDSWISH:
            return np.where(x <= -three, zero, np.where(x < three, g * (x / three + dt(0.5)), g))
        if kind == _HARDSIGMOID:
            return np.where((x > -three) & (x < three), g * dt(np.float32(1 / 6)), zero)
        if kind == _SOFTSIGN:
            d = np.abs(x) + one
            return g / (d * d) + (x - x)   # NaN at +-inf, as torch
        if kind == _LOGSIGMOID:
            z = np.exp(-np.abs(x))
            q = z / (one + z)
            return g * np.where(x < 0, one - q, q)
        if kind == _THRESHOLD:
            return np.where(x <= dt(a), zero, g)
        if kind == _CELU:
            s = dt(1.0 / float(np.float32(a)))   # torch: 1 / alpha.toFloat(), not b
            c = dt(a) * s
            return np.where(x <= 0, g * c * np.exp(np.minimum(x * s, zero)), g)
        if kind == _SELU:
            neg = dt(SELU_ALPHA) * dt(SELU_SCALE)
            return np.where(x <= 0, g * neg * np.exp(np.minimum(x, zero)), g * dt(SELU_SCALE))
    raise ValueError(f"unknown activation kind {kind}")


_EXTRA = _Family("act_extra_forward", "act_extra_backward", _ref_forward, _ref_backward,
                 _NAMES)


def _number(v, who, what):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {what} must be a number, got {type(v).__name__}")
    return float(v)


# ===================================================================== public API

def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold."""
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    return _elementwise(input, _SOFTPLUS, "softplus", beta, False, threshold, _EXTRA)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clamped to [min_val, max_val]."""
    min_val = _number(min_val, "hardtanh", "min_val")
    max_val = _number(max_val, "hardtanh", "max_val")
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _elementwise(input, _HARDTANH, "hardtanh", min_val, inplace, max_val, _EXTRA)


def relu6(input, inplace=False):
    """min(max(x, 0), 6) (hardtanh(x, 0, 6), with its zero gradient at 0 and 6)."""
    return _elementwise(input, _HARDTANH, "relu6", 0.0, inplace, 6.0, _EXTRA)


def mish(input, inplace=False):
    """x * tanh(softplus(x))."""
    return _elementwise(input, _MISH, "mish", 0.0, inplace, 0.0, _EXTRA)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6."""
    return _elementwise(input, _HARDSWISH, "hardswish", 0.0, inplace, 0.0, _EXTRA)


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6."""
    return _elementwise(input, _HARDSIGMOID, "hardsigmoid", 0.0, inplace, 0.0, _EXTRA)


def softsign(input):
    """x / (1 + |x|)."""
    return _elementwise(input, _SOFTSIGN, "softsign", 0.0, False, 0.0, _EXTRA)


def logsigmoid(input):
    """log(sigmoid(x)), as min(x, 0) - log1p(exp(-|x|))."""
    return _elementwise(input, _LOGSIGMOID, "logsigmoid", 0.0, False, 0.0, _EXTRA)


def threshold(input, threshold, value, inplace=False):
    """value where x <= threshold, else x."""
    th = _number(threshold, "threshold", "threshold")
    value = _number(value, "threshold", "value")
    return _elementwise(input, _THRESHOLD, "threshold", th, inplace, value, _EXTRA)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    alpha = _number(alpha, "celu", "alpha")
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")  # torch's words
    return _elementwise(input, _CELU, "celu", alpha, inplace, 1.0 / alpha, _EXTRA)


def selu(input, inplace=False):
    """scale * (max(0, x) + min(0, alpha * (exp(x) - 1))), the fixed alpha and scale of
    Klambauer et al. (1.6732632..., 1.0507009...)."""
    return _elementwise(input, _SELU, "selu", 0.0, inplace, 0.0, _EXTRA)


# torch.nn.functional's in-place spellings (same rule as inplace=True above)

def relu_(input):
    return relu(input, inplace=True)


def elu_(input, alpha=1.0):
    return elu(input, alpha, inplace=True)


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, inplace=True)


_threshold = threshold   # the function, which threshold_'s own argument name shadows


def threshold_(input, threshold, value):
    return _threshold(input, threshold, value, inplace=True)


def celu_(input, alpha=1.0):
    return celu(input, alpha, inplace=True)


def selu_(input):
    return selu(input, inplace=True)
