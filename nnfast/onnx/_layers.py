"""One converter per nnfast layer: conv(tracer, module, args, kwargs, out) -> the ONNX value
name(s) of the layer's output, written with the ops of opset 17 (the layers ONNX has as one
op map to it; the rest are composed, e.g. GELU, SiLU, GroupNorm). The layer's own forward has
already run on the traced input, so a converter can read shapes off `out`.

Deliberately not here: training-mode behaviour (the export runs in eval mode, so Dropout is
the identity and BatchNorm uses its running statistics) and layers that have no ONNX form;
those are refused by name in _trace.py.
"""
import math

import numpy as np

from .. import nn
from ._recurrent import convert_rnn
from ._trace import ExportError, flatten_dims, to_numpy

COMPOSITES = (nn.Sequential, nn.ModuleList, nn.ModuleDict, nn.Residual)


def _x(tr, args, kwargs):
    x = args[0] if args else kwargs.get("input")
    return x, tr.name(x)


def _tup(v, n):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _refuse(tr, module, why):
    raise ExportError(f"nnfast.onnx.export: no ONNX export for nn.{type(module).__name__} "
                      f"with {why} (used at {tr.where[-1]})")


# -- simple elementwise layers ------------------------------------------------------------------
def _op(op, **attrs_of):
    """A layer that is one ONNX op whose attributes are read off the module."""
    def conv(tr, m, args, kwargs, out):
        xn = _x(tr, args, kwargs)[1]
        return tr.g.node(op, [xn], hint=op, **{k: f(m) for k, f in attrs_of.items()})
    return conv


def _identity(tr, m, args, kwargs, out):
    return _x(tr, args, kwargs)[1]


def _c(tr, value, like):
    return tr.g.const(value, dtype=like.dtype)


def _gelu(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    g = tr.g
    if m.approximate == "tanh":   # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = g.node("Mul", [g.node("Mul", [xn, xn]), xn])
        inner = g.node("Mul", [g.node("Add", [xn, g.node("Mul", [x3, _c(tr, 0.044715, x)])]),
                               _c(tr, math.sqrt(2 / math.pi), x)])
        t = g.node("Tanh", [inner])
    else:                          # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Mul", [xn, _c(tr, 1 / math.sqrt(2), x)])])
    half_x = g.node("Mul", [xn, _c(tr, 0.5, x)])
    return g.node("Mul", [half_x, g.node("Add", [t, _c(tr, 1.0, x)])], hint="gelu")


def _silu(tr, m, args, kwargs, out):
    xn = _x(tr, args, kwargs)[1]
    return tr.g.node("Mul", [xn, tr.g.node("Sigmoid", [xn])], hint="silu")


def _softplus_of(tr, x, xn, beta, threshold):
    """torch's softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold."""
    g = tr.g
    bx = g.node("Mul", [xn, _c(tr, beta, x)]) if beta != 1 else xn
    sp = g.node("Softplus", [bx])
    if beta != 1:
        sp = g.node("Div", [sp, _c(tr, beta, x)])
    return g.node("Where", [g.node("Greater", [bx, _c(tr, threshold, x)]), xn, sp])


def _softplus(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    return _softplus_of(tr, x, xn, m.beta, m.threshold)


def _mish(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    return tr.g.node("Mul", [xn, tr.g.node("Tanh", [_softplus_of(tr, x, xn, 1.0, 20.0)])])


def _logsigmoid(tr, m, args, kwargs, out):
    xn = _x(tr, args, kwargs)[1]   # log sigmoid x = -softplus(-x)
    return tr.g.node("Neg", [tr.g.node("Softplus", [tr.g.node("Neg", [xn])])])


def _threshold(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    return tr.g.node("Where", [tr.g.node("Greater", [xn, _c(tr, m.threshold, x)]), xn,
                               _c(tr, m.value, x)])


def _hardtanh(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    return tr.g.node("Clip", [xn, _c(tr, m.min_val, x), _c(tr, m.max_val, x)])


def _prelu(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    w = to_numpy(m.weight)
    if w.size > 1 and x.ndim > 2:   # one slope per channel (dim 1): shape (C, 1, ...)
        w = w.reshape((w.size,) + (1,) * (x.ndim - 2))
    return tr.g.node("PRelu", [xn, tr.g.weight(w, tr.where[-1] + ".weight")])


def _softmax_dim(m, x):
    d = m.dim if m.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
    return d + x.ndim if d < 0 else d


def _softmax(op):
    def conv(tr, m, args, kwargs, out):
        x, xn = _x(tr, args, kwargs)
        return tr.g.node(op, [xn], axis=_softmax_dim(m, x))
    return conv


# -- linear, embedding, shapes ----------------------------------------------------------------
def _linear(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    g, p = tr.g, tr.where[-1]
    w = to_numpy(m.weight)
    b = None if m.bias is None else g.weight(to_numpy(m.bias), p + ".bias")
    if x.ndim == 2:
        return g.node("Gemm", [xn, g.weight(w, p + ".weight")] + ([b] if b else []),
                      transB=1, hint="linear")
    y = g.node("MatMul", [xn, g.weight(np.ascontiguousarray(w.T), p + ".weight_t")])
    return g.node("Add", [y, b], hint="linear") if b else y


def _embedding(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    if m.max_norm is not None:
        _refuse(tr, m, "max_norm (it renormalizes the weight at each lookup)")
    idx = xn if x.dtype == np.int64 else tr.g.node("Cast", [xn], to=7)   # 7: INT64
    return tr.g.node("Gather", [tr.g.weight(to_numpy(m.weight), tr.where[-1] + ".weight"),
                                idx], hint="embedding")


def _flatten(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    return tr.g.node("Reshape", [xn, tr.g.const(flatten_dims(x.shape, out.shape,
                                                             m.start_dim))], hint="flatten")


def _unflatten(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    d = m.dim % x.ndim
    sizes = list(m.unflattened_size)
    target = [0] * d + sizes + [int(s) for s in out.shape[d + len(sizes):]]
    if d == 0 and -1 not in sizes:   # keep a dynamic batch: the first size becomes -1
        target[0] = -1
    return tr.g.node("Reshape", [xn, tr.g.const(target)], hint="unflatten")


# -- convolution and pooling --------------------------------------------------------------------
def _conv_pads(tr, m, n):
    if m.padding_mode != "zeros":
        _refuse(tr, m, f"padding_mode={m.padding_mode!r}")
    if m.padding == "valid":
        return [0] * (2 * n)
    if m.padding == "same":   # torch puts the odd pixel at the end
        total = [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        return [t // 2 for t in total] + [t - t // 2 for t in total]
    p = list(_tup(m.padding, n))
    return p + p


def _conv(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    n, g, p = m._n, tr.g, tr.where[-1]
    ins = [xn, g.weight(to_numpy(m.weight), p + ".weight")]
    if m.bias is not None:
        ins.append(g.weight(to_numpy(m.bias), p + ".bias"))
    if not m.transposed:
        return g.node("Conv", ins, kernel_shape=list(m.kernel_size), strides=list(m.stride),
                      pads=_conv_pads(tr, m, n), dilations=list(m.dilation), group=m.groups,
                      hint="conv")
    pads = list(_tup(m.padding, n))
    # output_padding read off the traced output, so forward(x, output_size=...) is covered
    natural = [s * (i - 1) + d * (k - 1) + 1 - 2 * q for s, i, d, k, q in
               zip(m.stride, x.shape[2:], m.dilation, m.kernel_size, pads)]
    out_pad = [int(o) - nat for o, nat in zip(out.shape[2:], natural)]
    return g.node("ConvTranspose", ins, kernel_shape=list(m.kernel_size),
                  strides=list(m.stride), pads=pads + pads, dilations=list(m.dilation),
                  group=m.groups, output_padding=out_pad, hint="conv_transpose")


def _pool(op, n):
    def conv(tr, m, args, kwargs, out):
        x, xn = _x(tr, args, kwargs)
        if getattr(m, "return_indices", False):
            _refuse(tr, m, "return_indices=True")
        if getattr(m, "divisor_override", None):
            _refuse(tr, m, "divisor_override")
        pads = list(_tup(m.padding, n))
        attrs = {"kernel_shape": list(_tup(m.kernel_size, n)),
                 "strides": list(_tup(m.stride, n)), "pads": pads + pads,
                 "ceil_mode": int(bool(m.ceil_mode))}
        if op == "MaxPool":
            attrs["dilations"] = list(_tup(m.dilation, n))
        else:
            attrs["count_include_pad"] = int(bool(m.count_include_pad))
        unbatched = x.ndim == n + 1
        if unbatched:
            xn = tr.g.node("Unsqueeze", [xn, tr.g.const([0])])
        y = tr.g.node(op, [xn], hint=op, **attrs)
        return tr.g.node("Squeeze", [y, tr.g.const([0])]) if unbatched else y
    return conv


def _adaptive(op, n):
    def conv(tr, m, args, kwargs, out):
        x, xn = _x(tr, args, kwargs)
        if getattr(m, "return_indices", False):
            _refuse(tr, m, "return_indices=True")
        if x.ndim != n + 2:
            _refuse(tr, m, f"an unbatched {x.ndim}-D input")
        ins, outs = list(x.shape[2:]), list(out.shape[2:])
        if all(o == 1 for o in outs):
            return tr.g.node("Global" + op, [xn])
        if any(i % o for i, o in zip(ins, outs)):
            _refuse(tr, m, f"output_size {tuple(outs)} that does not divide the input size "
                           f"{tuple(ins)} (ONNX has no adaptive pooling)")
        k = [i // o for i, o in zip(ins, outs)]
        return tr.g.node(op, [xn], kernel_shape=k, strides=k)
    return conv


# -- normalization -----------------------------------------------------------------------------
def _batchnorm(tr, m, args, kwargs, out):
    xn = _x(tr, args, kwargs)[1]
    if m.running_mean is None:
        _refuse(tr, m, "track_running_stats=False (it normalizes by each batch's statistics)")
    g, p, C = tr.g, tr.where[-1], m.num_features
    dt = m.running_mean.dtype
    scale = to_numpy(m.weight) if m.weight is not None else np.ones(C, dt)
    bias = to_numpy(m.bias) if m.bias is not None else np.zeros(C, dt)
    return g.node("BatchNormalization",
                  [xn, g.weight(scale, p + ".weight"), g.weight(bias, p + ".bias"),
                   g.weight(to_numpy(m.running_mean), p + ".running_mean"),
                   g.weight(to_numpy(m.running_var), p + ".running_var")],
                  epsilon=float(m.eps), hint="batchnorm")


def _layernorm(tr, m, args, kwargs, out):
    x, xn = _x(tr, args, kwargs)
    g, p, shape = tr.g, tr.where[-1], m.normalized_shape
    scale = to_numpy(m.weight) if m.weight is not None else np.ones(shape, x.dtype)
    ins = [xn, g.weight(scale, p + ".weight")]
    if m.bias is not None:
        ins.append(g.weight(to_numpy(m.bias), p + ".bias"))
    return g.node("LayerNormalization", ins, axis=-len(shape), epsilon=float(m.eps),
                  hint="layernorm")


def _groupnorm(tr, m, args, kwargs, out):
    """Opset 17 has no GroupNormalization: reshape to (N, G, -1), InstanceNormalization over
    the groups, reshape back, then the per-channel affine."""
    x, xn = _x(tr, args, kwargs)
    g, p, G = tr.g, tr.where[-1], m.num_groups
    grouped = g.node("Reshape", [xn, g.const([0, G, -1])])
    normed = g.node("InstanceNormalization",
                    [grouped, g.const(np.ones(G), x.dtype), g.const(np.zeros(G), x.dtype)],
                    epsilon=float(m.eps))
    y = g.node("Reshape", [normed, g.node("Shape", [xn])], hint="groupnorm")
    if m.weight is not None:
        per_channel = (m.num_channels,) + (1,) * (x.ndim - 2)
        y = g.node("Mul", [y, g.weight(to_numpy(m.weight).reshape(per_channel), p + ".weight")])
        y = g.node("Add", [y, g.weight(to_numpy(m.bias).reshape(per_channel), p + ".bias")])
    return y


CONVERTERS = {
    nn.ReLU: _op("Relu"), nn.Sigmoid: _op("Sigmoid"), nn.Tanh: _op("Tanh"),
    nn.LeakyReLU: _op("LeakyRelu", alpha=lambda m: float(m.negative_slope)),
    nn.ELU: _op("Elu", alpha=lambda m: float(m.alpha)),
    nn.CELU: _op("Celu", alpha=lambda m: float(m.alpha)),
    nn.SELU: _op("Selu"), nn.Softsign: _op("Softsign"), nn.Hardswish: _op("HardSwish"),
    nn.Hardsigmoid: _op("HardSigmoid", alpha=lambda m: 1 / 6, beta=lambda m: 0.5),
    nn.GELU: _gelu, nn.SiLU: _silu, nn.Softplus: _softplus, nn.Mish: _mish,
    nn.LogSigmoid: _logsigmoid, nn.Threshold: _threshold, nn.Hardtanh: _hardtanh,
    nn.ReLU6: _hardtanh, nn.PReLU: _prelu,
    nn.Softmax: _softmax("Softmax"), nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Identity: _identity, nn.Dropout: _identity, nn.Dropout1d: _identity,
    nn.Dropout2d: _identity, nn.Dropout3d: _identity,
    nn.Linear: _linear, nn.Embedding: _embedding, nn.Flatten: _flatten,
    nn.Unflatten: _unflatten,
    nn.Conv1d: _conv, nn.Conv2d: _conv, nn.ConvTranspose1d: _conv, nn.ConvTranspose2d: _conv,
    nn.MaxPool1d: _pool("MaxPool", 1), nn.MaxPool2d: _pool("MaxPool", 2),
    nn.AvgPool1d: _pool("AveragePool", 1), nn.AvgPool2d: _pool("AveragePool", 2),
    nn.AdaptiveAvgPool1d: _adaptive("AveragePool", 1),
    nn.AdaptiveAvgPool2d: _adaptive("AveragePool", 2),
    nn.AdaptiveMaxPool1d: _adaptive("MaxPool", 1), nn.AdaptiveMaxPool2d: _adaptive("MaxPool", 2),
    nn.BatchNorm1d: _batchnorm, nn.BatchNorm2d: _batchnorm, nn.LayerNorm: _layernorm,
    nn.GroupNorm: _groupnorm,
    nn.RNN: convert_rnn, nn.LSTM: convert_rnn, nn.GRU: convert_rnn,
}


def converter_for(module):
    """The converter of the module's class, or of a base class whose forward it keeps (a
    subclass that overrides forward is traced as a user's Module instead)."""
    for cls in type(module).__mro__:
        conv = CONVERTERS.get(cls)
        if conv is not None:
            return conv if type(module).forward is cls.forward else None
    return None
