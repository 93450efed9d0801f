"""compile_step's capture: which models, losses and optimizers the C step can run, as an op
list (code, module, arguments...) for nnfast/compile.py's workspace and nnfast/compile_cuda.py.

A model is captured when it is a plain Sequential (nested Sequentials flattened) of Linear,
the activations of act.c and act_extra.c, Dropout, BatchNorm1d, LayerNorm, Residual blocks
of those (identity or Linear shortcut), Flatten of the input and Identity, with every
parameter one of those layers'; anything else raises
_Unsupported with the reason, which compile_step reports as `step.reason`. Where the caller
allows it (the CPU step), a CNN too: Conv2d (zeros padding), MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d and BatchNorm2d layers, with the activations and Dropout between them, on
(N, C, H, W) input, then a Flatten and the layers above; its sizes come from each call's
input (op_sizes).
"""
import math

import numpy as np

from .nn import _functional_act as _FA
from .nn import _functional_act_extra as _FX
from .nn import activation as _A
from .nn.activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, SiLU, Tanh
from .nn import _functional_conv as _FC
from .nn.container import Sequential
from .nn.conv import Conv2d
from .nn.dropout import Dropout
from .nn.linear import Flatten, Identity, Linear
from .nn.loss import CrossEntropyLoss, MSELoss
from .nn.module import Module
from .nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .nn.residual import Residual
from .optim.optimizer import Optimizer

# op codes of the captured sequence
(_LINEAR, _ACT, _DROPOUT, _ACT_EXTRA, _BN, _LN, _RES_BEGIN, _RES_END, _CONV,
 _MAXPOOL, _AVGPOOL, _ADAPTIVE_AVGPOOL) = range(12)  # NF_MLP_*
_SPATIAL_OPS = (_CONV, _MAXPOOL, _AVGPOOL, _ADAPTIVE_AVGPOOL)   # (N, C, H, W) -> (N, C', H', W')
_PARAM_OPS = (_LINEAR, _BN, _LN, _RES_END, _CONV)   # ops (code, module, weight, bias, ...)
_CE, _MSE = range(2)                  # = NF_MLP_LOSS_*
_F32, _I64, _U8 = np.dtype(np.float32), np.dtype(np.int64), np.dtype(np.uint8)


class _Unsupported(Exception):
    pass


def _own_forward(m, cls):
    """m runs cls's forward and Module's __call__ (no override that could change the math)."""
    t = type(m)
    return t.forward is cls.forward and t.__call__ is Module.__call__ and not m._has_hooks()


def _flatten_sequential(model, containers=None):
    if not isinstance(model, Sequential) or not _own_forward(model, Sequential):
        raise _Unsupported(f"the model is a {type(model).__name__}, not a plain Sequential")
    if containers is not None:
        containers.append((model._modules, tuple(model._modules.values())))
    out = []
    for m in model._modules.values():
        if m is None:
            continue
        if isinstance(m, Sequential):
            out.extend(_flatten_sequential(m, containers))
        else:
            out.append(m)
    return out


def _hyper(m):
    """The options of a captured layer that its kernels read (checked at every call)."""
    if type(m) is Dropout:
        return m.p
    if type(m) is LeakyReLU:
        return m.negative_slope
    if type(m) is ELU:
        return m.alpha
    if type(m) is GELU:
        return m.approximate
    opts = _EXTRA_OPTIONS.get(type(m))
    if opts:
        return tuple(getattr(m, k) for k in opts)
    if type(m) in (BatchNorm1d, BatchNorm2d):   # (training mode is checked at each call)
        return (m.eps, m.momentum, m.track_running_stats) + tuple(
            id(t) if t is None else id(t._storage) for t in
            (m.running_mean, m.running_var, m.num_batches_tracked))
    if type(m) is LayerNorm:
        return (m.eps, tuple(m.normalized_shape))
    if type(m) is Conv2d:
        return (m.stride, m.padding, m.dilation, m.groups, m.padding_mode)
    if type(m) is MaxPool2d:
        return (m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, m.return_indices)
    if type(m) is AvgPool2d:
        return (m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                m.divisor_override)
    if type(m) is AdaptiveAvgPool2d:
        return (m.output_size,)
    return None


def _norm_op(m, width):
    """(code, m, weight, bias) of a BatchNorm1d or LayerNorm over (N, width) rows, else
    raises _Unsupported."""
    w, b = m._parameters.get("weight"), m._parameters.get("bias")
    if type(m) in (BatchNorm1d, BatchNorm2d):
        n = m.num_features
        for t in (m.running_mean, m.running_var):
            if t is not None and (t._storage.dtype != np.float32 or t._storage.shape != (n,)
                                  or not t._storage.flags.c_contiguous):
                raise _Unsupported(f"a {type(m).__name__} whose running statistics are not "
                                   f"float32 ({n},) arrays")
        code = _BN
    else:
        if len(m.normalized_shape) != 1:
            raise _Unsupported(f"LayerNorm{tuple(m.normalized_shape)} over more than the "
                               "features")
        n, code = m.normalized_shape[0], _LN
    for p in (w, b):
        if p is not None and (p._storage.dtype != np.float32 or p._storage.shape != (n,)):
            raise _Unsupported(f"a {type(m).__name__} whose parameters are not float32 ({n},)")
    if width is not None and width != n:
        raise _Unsupported(f"{type(m).__name__}({n}) follows a layer of {width} features")
    return (code, m, w, b)


# the act_extra.c activations: class -> (kind, the (a, b) its functional passes the kernel)
_EXTRA_KINDS = {
    _A.Softplus: (_FX._SOFTPLUS, lambda m: (m.beta, m.threshold)),
    _A.Hardtanh: (_FX._HARDTANH, lambda m: (m.min_val, m.max_val)),
    _A.ReLU6: (_FX._HARDTANH, lambda m: (0.0, 6.0)),
    _A.Mish: (_FX._MISH, None), _A.Hardswish: (_FX._HARDSWISH, None),
    _A.Hardsigmoid: (_FX._HARDSIGMOID, None), _A.Softsign: (_FX._SOFTSIGN, None),
    _A.LogSigmoid: (_FX._LOGSIGMOID, None),
    _A.Threshold: (_FX._THRESHOLD, lambda m: (m.threshold, m.value)),
    _A.CELU: (_FX._CELU, lambda m: (m.alpha, 1.0 / m.alpha)),
    _A.SELU: (_FX._SELU, None),
}
_EXTRA_OPTIONS = {_A.Softplus: ("beta", "threshold"), _A.Hardtanh: ("min_val", "max_val"),
                  _A.Threshold: ("threshold", "value"), _A.CELU: ("alpha",)}


def _activation_extra(m):
    """(kind, a, b) of an act_extra.c activation module with plain float options, else None."""
    entry = _EXTRA_KINDS.get(type(m))
    if entry is None or not _own_forward(m, type(m)):
        return None
    kind, args = entry
    try:
        a, b = (0.0, 0.0) if args is None else (float(v) for v in args(m))
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return kind, a, b


def _activation(m):
    """(kernel kind, scalar) of a supported activation module, else None."""
    for cls, kind in ((ReLU, _FA._RELU), (Sigmoid, _FA._SIGMOID), (Tanh, _FA._TANH),
                      (SiLU, _FA._SILU)):
        if type(m) is cls:
            return kind, 0.0
    if type(m) is LeakyReLU:
        return _FA._LEAKY_RELU, float(m.negative_slope)
    if type(m) is ELU:
        return _FA._ELU, float(m.alpha)
    if type(m) is GELU:
        if m.approximate not in ("none", "tanh"):
            return None
        return (_FA._GELU if m.approximate == "none" else _FA._GELU_TANH), 0.0
    return None


def _capture_model(model, spatial=False):
    """The op list [(code, module, extra...)], the containers and layer options to check at
    each call, and whether the first op is a Flatten of the input; spatial: convolutions,
    pooling and BatchNorm2d may come before the first Flatten (see is_spatial)."""
    st = _CaptureState(spatial)
    _capture_layers(_flatten_sequential(model, st.containers), st)
    if not any(op[0] == _LINEAR for op in st.ops):
        raise _Unsupported("the model has no Linear layer")
    if st.spatial:
        raise _Unsupported("the model's output is 4-D (no Flatten and Linear after its last "
                           "convolution or pooling)")
    # what each call checks has not changed since: every container's layer list and the
    # options of the layers that have some
    hypers = tuple((op[1], _hyper(op[1])) for op in st.ops if _hyper(op[1]) is not None)
    return st.ops, st.flatten_input, tuple(st.containers), hypers


class _CaptureState:
    def __init__(self, spatial_ok=False):
        self.ops, self.containers, self.seen = [], [], set()
        self.width = None        # feature count flowing between layers (None before a Linear)
        self.flatten_input = False
        self.spatial_ok = spatial_ok
        self.spatial = False     # the activations are (N, C, H, W) here (after a Conv2d)
        self.flat = False        # a Flatten or Linear came: no convolution or pooling after


def is_spatial(ops):
    """The captured model takes (N, C, H, W) input: its first op that is not elementwise is
    a convolution or pooling."""
    return next((op[0] in _SPATIAL_OPS for op in ops
                 if op[0] not in (_ACT, _ACT_EXTRA, _DROPOUT)), False)


def _linear_params(m, width):
    w, b = m._parameters.get("weight"), m._parameters.get("bias")
    if w is None or w._storage.dtype != np.float32 or w._storage.ndim != 2:
        raise _Unsupported("a Linear layer without a float32 2-D weight")
    if w._storage.size == 0:
        raise _Unsupported("a Linear layer with no features")
    if b is not None and (b._storage.dtype != np.float32 or b._storage.shape != (w.shape[0],)):
        raise _Unsupported("a Linear layer with a bias that is not float32 (out,)")
    if width is not None and width != w.shape[1]:
        raise _Unsupported(f"Linear(in_features={w.shape[1]}) follows a layer of "
                           f"{width} features")
    return w, b


def _capture_layers(modules, st):
    ops = st.ops
    for m in modules:
        if id(m) in st.seen:
            raise _Unsupported(f"module {m!r} appears twice in the model")
        st.seen.add(id(m))
        if st.spatial and type(m) in (Linear, BatchNorm1d, LayerNorm, Residual):
            raise _Unsupported(f"a {type(m).__name__} on 4-D activations (compile_step takes "
                               "them after a Flatten)")
        if type(m) in _SPATIAL_MODULES and _own_forward(m, type(m)):
            ops.append(_spatial_op(m, st))
            st.spatial = True
        elif type(m) is BatchNorm2d and st.spatial and _own_forward(m, BatchNorm2d):
            ops.append(_norm_op(m, None))   # its channels are checked against each input
        elif type(m) is Linear:
            w, b = _linear_params(m, st.width)
            ops.append((_LINEAR, m, w, b))
            st.width = w.shape[0]
            st.flat = True
        elif type(m) is Identity:
            continue
        elif type(m) is Flatten:
            if (m.start_dim, m.end_dim) not in ((1, -1),):
                raise _Unsupported(f"Flatten(start_dim={m.start_dim}, end_dim={m.end_dim})")
            if not ops:
                st.flatten_input = True
            st.spatial, st.flat = False, True
            # (N, C, H, W) activations are stored as (N, C*H*W) rows already, and after a
            # Linear they are (N, features): flattening is a no-op
        elif type(m) in (BatchNorm1d, LayerNorm) and _own_forward(m, type(m)):
            ops.append(_norm_op(m, st.width))
            st.width = m.num_features if type(m) is BatchNorm1d else m.normalized_shape[0]
        elif type(m) is Residual and _own_forward(m, Residual):
            _capture_residual(m, st)
        elif type(m) is Dropout:
            if not 0.0 <= m.p < 1.0:
                raise _Unsupported(f"Dropout(p={m.p})")
            ops.append((_DROPOUT, m, float(m.p)))
        elif _activation(m) is not None and _own_forward(m, type(m)):
            kind, a = _activation(m)
            ops.append((_ACT, m, kind, a))
        elif _activation_extra(m) is not None:
            ops.append((_ACT_EXTRA, m) + _activation_extra(m))
        else:
            raise _Unsupported(f"layer {type(m).__name__} is not supported by compile_step")


_SPATIAL_MODULES = {Conv2d: _CONV, MaxPool2d: _MAXPOOL, AvgPool2d: _AVGPOOL,
                    AdaptiveAvgPool2d: _ADAPTIVE_AVGPOOL}


def _spatial_op(m, st):
    """(CONV, m, weight, bias) or (a pool's code, m) of a layer on (N, C, H, W)
    activations."""
    if not st.spatial_ok:
        raise _Unsupported(f"layer {type(m).__name__} is not supported by this captured step")
    if st.flat:
        raise _Unsupported(f"a {type(m).__name__} after a Flatten or Linear")
    if type(m) is MaxPool2d and m.return_indices:
        raise _Unsupported("MaxPool2d(return_indices=True)")
    if type(m) is not Conv2d:
        return (_SPATIAL_MODULES[type(m)], m)
    if m.padding_mode != "zeros":
        raise _Unsupported(f"Conv2d(padding_mode={m.padding_mode!r})")
    w, b = m._parameters.get("weight"), m._parameters.get("bias")
    if w is None or w._storage.dtype != np.float32 or w._storage.ndim != 4 or \
            w._storage.size == 0:
        raise _Unsupported("a Conv2d layer without a float32 4-D weight")
    if b is not None and (b._storage.dtype != np.float32 or b._storage.shape != (w.shape[0],)):
        raise _Unsupported("a Conv2d layer with a bias that is not float32 (out_channels,)")
    return (_CONV, m, w, b)


def op_sizes(ops, sample_shape):
    """Per op, (n_in, n_out, geometry or None) for input samples of sample_shape ((n_in,),
    or (C, H, W) for a spatial model), as the eager layers compute them: a convolution's or
    pool's geometry is conv2d's tuple with N = 0 (the batch set by the caller), a
    BatchNorm2d's the H*W values per channel. Raises _Unsupported where the eager layers
    would raise (sizes that do not fit): that call runs eager, which raises."""
    shape = tuple(sample_shape)
    out = []
    for op in ops:
        code, m = op[0], op[1]
        n_in, geom = math.prod(shape), None
        if code in _SPATIAL_OPS:
            if len(shape) != 3:
                raise _Unsupported("a convolution or pooling on flat input")
            geom = _conv_geom(m, shape) if code == _CONV else _pool_geom(m, shape)
            shape = (geom[4], geom[7], geom[8])
        elif code == _LINEAR:
            if n_in != op[2]._storage.shape[1]:
                raise _Unsupported("the activations do not fit a Linear")
            shape = (op[2]._storage.shape[0],)
        elif code == _BN and type(m) is BatchNorm2d:   # geom: H*W values per channel
            if len(shape) != 3 or shape[0] != m.num_features:
                raise _Unsupported("the activations' channels do not fit the BatchNorm2d")
            geom = shape[1] * shape[2]
        elif code in (_BN, _LN) and n_in != (m.num_features if code == _BN else
                                             m.normalized_shape[0]):
            raise _Unsupported(f"the activations do not fit the {type(m).__name__}")
        out.append((n_in, math.prod(shape), geom))
    return out


def _conv_geom(m, shape):
    C, H, W = shape
    OC, Cg, KH, KW = m.weight._storage.shape
    if C != Cg * m.groups:
        raise _Unsupported("the input's channels do not fit the Conv2d")
    pt, pb, pl, pr = _FC._conv_padding(m.padding, (KH, KW), m.dilation, m.stride, "Conv2d")
    eh, ew = m.dilation[0] * (KH - 1) + 1, m.dilation[1] * (KW - 1) + 1
    if H + pt + pb < eh or W + pl + pr < ew:
        raise _Unsupported("the input is smaller than the Conv2d's kernel")
    OH = (H + pt + pb - eh) // m.stride[0] + 1
    OW = (W + pl + pr - ew) // m.stride[1] + 1
    return (0, C, H, W, OC, KH, KW, OH, OW, m.stride[0], m.stride[1], pt, pl,
            m.dilation[0], m.dilation[1], m.groups)


def _pool_geom(m, shape):
    C, H, W = shape
    if type(m) is AdaptiveAvgPool2d:
        OH, OW = _FC._adaptive_out("adaptive_avg_pool2d", m.output_size, H, W)
        k, s, p, d = (1, 1), (1, 1), (0, 0), (1, 1)
    else:
        dil = m.dilation if type(m) is MaxPool2d else 1
        k, s, p, d = _FC._pool_args("pool2d", m.kernel_size, m.stride, m.padding, dil)
        OH = _FC._pool_out_size(H, k[0], p[0], s[0], d[0], m.ceil_mode)
        OW = _FC._pool_out_size(W, k[1], p[1], s[1], d[1], m.ceil_mode)
    if OH < 1 or OW < 1:
        raise _Unsupported(f"the input is smaller than the {type(m).__name__}'s window")
    return (0, C, H, W, C, k[0], k[1], OH, OW, s[0], s[1], p[0], p[1], d[0], d[1], 1)


def _capture_residual(m, st):
    """(RES_BEGIN, m, index of its end), the block's ops, (RES_END, m, shortcut weight,
    bias): y = block(x) + x, or + Linear(x)."""
    if st.width is None:
        raise _Unsupported("a Residual before the first Linear (its input width is unknown)")
    st.containers.append((m._modules, tuple(m._modules.values())))
    begin, w_in = len(st.ops), st.width
    st.ops.append(None)   # its end's index is known after the block
    block = m.block
    _capture_layers(_flatten_sequential(block, st.containers)
                    if isinstance(block, Sequential) else [block], st)
    sc = m.shortcut
    if sc is None:
        if st.width != w_in:
            raise _Unsupported(f"a Residual whose block maps {w_in} features to {st.width} "
                               "with an identity shortcut")
        w = b = None
    elif type(sc) is Linear and _own_forward(sc, Linear):
        if id(sc) in st.seen:
            raise _Unsupported(f"module {sc!r} appears twice in the model")
        st.seen.add(id(sc))
        w, b = _linear_params(sc, w_in)
        if w.shape[0] != st.width:
            raise _Unsupported(f"a Residual whose shortcut gives {w.shape[0]} features and "
                               f"block {st.width}")
    else:
        raise _Unsupported(f"a Residual shortcut {type(sc).__name__} (compile_step takes "
                           "the identity or a Linear)")
    st.ops[begin] = (_RES_BEGIN, m, len(st.ops))
    st.ops.append((_RES_END, m, w, b))


def _capture_loss(loss_fn):
    if type(loss_fn) is CrossEntropyLoss:
        return _CE
    if type(loss_fn) is MSELoss:
        return _MSE
    raise _Unsupported(f"loss {type(loss_fn).__name__} is not supported by compile_step "
                       "(CrossEntropyLoss and MSELoss are)")


def _capture_optimizer(optimizer, params):
    if not isinstance(optimizer, Optimizer):
        raise _Unsupported(f"optimizer {type(optimizer).__name__} is not an nnfast optimizer")
    where = {}
    for fl in optimizer._flat:
        for i, p in enumerate(fl.params):
            where[id(p)] = (fl, i)
    if len(where) != len(params) or any(id(p) not in where for p in params):
        raise _Unsupported("the optimizer does not hold exactly the model's parameters")
    views = []
    for p in params:
        fl, i = where[id(p)]
        if fl.dtype != np.float32:
            raise _Unsupported("the optimizer's parameters are not float32")
        views.append((p, fl.views[i], fl.gviews[i]))
    return views


def _capture(model, loss_fn, optimizer, spatial=False):
    """What every device's captured step needs: (ops, flatten_input, containers, hypers,
    loss kind, optimizer views); raises _Unsupported. spatial: CNNs too (the CPU step)."""
    ops, flatten_input, containers, hypers = _capture_model(model, spatial)
    loss_kind = _capture_loss(loss_fn)
    params = list(model.parameters())
    views = _capture_optimizer(optimizer, params)
    check_params_captured(ops, params)
    return ops, flatten_input, containers, hypers, loss_kind, views


def check_params_captured(ops, params):
    """Every parameter is a captured layer's (others would need their own backward)."""
    lin_params = set()
    for op in ops:
        if op[0] in _PARAM_OPS:
            lin_params.update(id(t) for t in op[2:4] if t is not None)
    if len(lin_params) != len(params) or any(id(p) not in lin_params for p in params):
        raise _Unsupported("the model has parameters outside its Linear, Conv2d and norm "
                           "layers")


def layers_unchanged(containers, hypers):
    """The captured layer lists and layer options are still the model's (checked at every
    call of a captured step or chain)."""
    for mods, captured in containers:
        if tuple(mods.values()) != captured:
            return False
    for m, h in hypers:
        if _hyper(m) != h:
            return False
    return True
