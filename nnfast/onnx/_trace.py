"""The recording mode: while export runs the model's forward once, Module.__call__ and a set
of Tensor ops are wrapped so that each call also adds ONNX nodes to the graph.

A layer with a converter (_layers.CONVERTERS) is one unit: its own forward runs untraced and
the converter writes its nodes. A container (Sequential, ModuleList, ModuleDict, Residual) or
a user's Module runs its forward traced, so the layers it calls and the tensor ops between
them (RECORDED_NAMES below: arithmetic, matmul, the activations, reshape/view/flatten,
transpose/permute, cat, int and slice indexing) are recorded. Every other nnfast layer is
refused by name.

Each traced tensor maps to its ONNX value name by id(); the tensors are kept alive for the
length of the trace so an id is never reused. A tensor that reaches a recorded op without a
name came from an op this recorder does not know, and the error says so rather than baking
its traced value into the graph as a constant.
"""
import numpy as np

from .. import _ops  # noqa: F401  (the Tensor methods are bound by importing the ops)
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor

_ACTIVE = [None]   # the Tracer of the export in progress (exports don't nest)


class ExportError(RuntimeError):
    """A model (or one of its ops) that nnfast.onnx.export cannot write as ONNX."""


def to_numpy(t):
    return np.array(t.detach().cpu().numpy(), copy=True)


class Tracer:
    def __init__(self, graph, model):
        self.g = graph
        self.names = {}
        self._alive = []
        self.depth = 0                 # > 0 inside a converted layer or a recorded op
        self.paths = {id(m): ("model" + ("." + n if n else "")) for n, m in
                      model.named_modules()}
        self.params = {id(p): n for n, p in model.named_parameters()}
        self.params.update({id(b): n for n, b in model.named_buffers() if b is not None})
        self.where = ["model"]         # the module whose forward is running
        self.dynamic_sizes = set()     # the traced sizes of the inputs' dynamic axes

    # -- values -------------------------------------------------------------------------
    def bind(self, t, name):
        self.names[id(t)] = name
        self._alive.append(t)

    def name(self, t):
        """The ONNX value of a Tensor (a parameter used directly becomes an initializer)."""
        if not isinstance(t, Tensor):
            raise ExportError(f"nnfast.onnx.export: expected a Tensor in {self.where[-1]}, "
                              f"got {type(t).__name__}")
        n = self.names.get(id(t))
        if n is not None:
            return n
        if id(t) in self.params or isinstance(t, Parameter):
            n = self.g.weight(to_numpy(t), self.params.get(id(t), "param"))
            self.bind(t, n)
            return n
        raise ExportError(
            f"nnfast.onnx.export: a tensor used at {self.where[-1]} (shape "
            f"{tuple(t.shape)}) was made by an operation the ONNX exporter does not record; "
            f"the ops recorded between layers: {', '.join(sorted(RECORDED_NAMES))}")

    def operand(self, x, like):
        """A Tensor's value, or a Python number as a constant of `like`'s dtype."""
        if isinstance(x, Tensor):
            return self.name(x)
        if isinstance(x, (int, float, bool, np.number)):
            return self.g.const(x, dtype=like.dtype)
        raise ExportError(f"nnfast.onnx.export: cannot export an operand of type "
                          f"{type(x).__name__} in {self.where[-1]}")

    def bind_outputs(self, out, names):
        if isinstance(out, Tensor):
            self.bind(out, names)
        elif isinstance(out, (tuple, list)):
            for o, n in zip(out, names):
                if o is not None:
                    self.bind_outputs(o, n)

    def path(self, module):
        return self.paths.get(id(module), f"{self.where[-1]}.<{type(module).__name__}>")

    # -- the wrapped Module.__call__ ------------------------------------------------------
    def call_module(self, original, module, args, kwargs):
        from ._layers import COMPOSITES, converter_for
        if self.depth:
            return original(module, *args, **kwargs)
        conv = converter_for(module)
        path = self.path(module)
        if conv is None:
            if not (isinstance(module, COMPOSITES) or not _is_nnfast_layer(module)):
                raise ExportError(f"nnfast.onnx.export: no ONNX export for nn."
                                  f"{type(module).__name__} (used at {path})")
            self.where.append(path)
            try:
                return original(module, *args, **kwargs)
            finally:
                self.where.pop()
        self.where.append(path)
        try:
            self.depth += 1
            try:
                out = original(module, *args, **kwargs)
            finally:
                self.depth -= 1
            names = conv(self, module, args, kwargs, out)
        finally:
            self.where.pop()
        self.bind_outputs(out, names)
        return out


def _is_nnfast_layer(module):
    return type(module).__module__.startswith("nnfast.nn.")


# -- the recorded tensor ops ----------------------------------------------------------------
def _binary(op, swap=False):
    def emit(tr, out, a, b):
        x, y = (b, a) if swap else (a, b)
        return tr.g.node(op, [tr.operand(x, out), tr.operand(y, out)])
    return emit


def _unary(op):
    return lambda tr, out, x: tr.g.node(op, [tr.name(x)])


def _dim(d, n):
    return d + n if d < 0 else d


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return [int(s) for s in shape]


def reshape_to(tr, x_name, in_shape, target):
    """Reshape keeping the dynamic dims dynamic: a target dim equal to the input's at the same
    place becomes 0 (ONNX's 'copy this dim'), one equal to a dynamic axis's traced size found
    elsewhere in the input is read off the input's Shape at run time (h.reshape(h.size(1), -1)
    on an RNN's (layers, batch, hidden) state), the rest stay as traced."""
    g, pieces, dynamic = tr.g, [], False
    for i, s in enumerate(target):
        if s != -1 and i < len(in_shape) and s == in_shape[i] and s != 0:
            pieces.append(0)
        elif s in tr.dynamic_sizes and s in in_shape:
            pieces.append(g.node("Shape", [x_name], start=list(in_shape).index(s),
                                 end=list(in_shape).index(s) + 1))
            dynamic = True
        else:
            pieces.append(s)
    if not dynamic:
        return g.node("Reshape", [x_name, g.const(pieces)])
    parts = [p if isinstance(p, str) else g.const([p]) for p in pieces]
    return g.node("Reshape", [x_name, g.node("Concat", parts, axis=0)])


def _reshape(tr, out, x, *shape):
    return reshape_to(tr, tr.name(x), tuple(x.shape), _shape_args(shape))


def flatten_dims(in_shape, out_shape, start):
    """The Reshape target of flatten(start, end): leading dims kept, the merged dim -1."""
    start = _dim(start, len(in_shape)) if in_shape else 0
    return [0] * start + [-1] + [int(s) for s in out_shape[start + 1:]]


def _flatten(tr, out, x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return tr.g.node("Reshape", [tr.name(x), tr.g.const([1])])
    return tr.g.node("Reshape", [tr.name(x),
                                 tr.g.const(flatten_dims(x.shape, out.shape, start_dim))])


def _transpose(tr, out, x, d0, d1):
    perm = list(range(x.ndim))
    d0, d1 = _dim(d0, x.ndim), _dim(d1, x.ndim)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return tr.g.node("Transpose", [tr.name(x)], perm=perm)


def _permute(tr, out, x, *dims):
    return tr.g.node("Transpose", [tr.name(x)],
                     perm=[_dim(d, x.ndim) for d in _shape_args(dims)])


def _cat(tr, out, tensors, dim=0, **_):
    return tr.g.node("Concat", [tr.name(t) for t in tensors], axis=_dim(dim, out.ndim))


def _softmax_like(op):
    def emit(tr, out, x, dim=None, *a, **k):
        if dim is None:
            dim = k.get("dim", 0 if x.ndim in (0, 1, 3) else 1)
        return tr.g.node(op, [tr.name(x)], axis=_dim(dim, x.ndim))
    return emit


def _unsqueeze(tr, out, x, dim):
    return tr.g.node("Unsqueeze", [tr.name(x), tr.g.const([_dim(dim, x.ndim + 1)])])


_INT64_MAX = 2**63 - 1


def _getitem(tr, out, x, key):
    """Basic indexing (ints, slices, ...) as one Slice, then a Squeeze of the int dims:
    out[:, -1] on an RNN's output. Tensor and list indices are refused."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        key = key[:i] + (slice(None),) * (x.ndim - len(key) + 1) + key[i + 1:]
    starts, ends, axes, steps, squeeze = [], [], [], [], []
    for d, k in enumerate(key):
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            k = int(k)
            starts.append(k)
            ends.append(_INT64_MAX if k == -1 else k + 1)
            steps.append(1)
            squeeze.append(d)
        elif isinstance(k, slice):
            if k == slice(None):
                continue
            step = 1 if k.step is None else int(k.step)
            if step <= 0:
                raise ExportError(f"nnfast.onnx.export: a slice step of {step} at "
                                  f"{tr.where[-1]} (steps must be positive)")
            starts.append(0 if k.start is None else int(k.start))
            ends.append(_INT64_MAX if k.stop is None else int(k.stop))
            steps.append(step)
        else:
            raise ExportError(f"nnfast.onnx.export: indexing with {type(k).__name__} at "
                              f"{tr.where[-1]} is not recorded (ints and slices are)")
        axes.append(d)
    y = tr.name(x)
    if axes:
        y = tr.g.node("Slice", [y, tr.g.const(starts), tr.g.const(ends), tr.g.const(axes),
                                tr.g.const(steps)])
    if squeeze:
        y = tr.g.node("Squeeze", [y, tr.g.const(squeeze)])
    return y if y != tr.name(x) else tr.g.node("Identity", [y])


_TENSOR_METHODS = {
    "__getitem__": _getitem,
    "__add__": _binary("Add"), "__radd__": _binary("Add", True), "add": _binary("Add"),
    "__sub__": _binary("Sub"), "__rsub__": _binary("Sub", True), "sub": _binary("Sub"),
    "__mul__": _binary("Mul"), "__rmul__": _binary("Mul", True), "mul": _binary("Mul"),
    "__truediv__": _binary("Div"), "__rtruediv__": _binary("Div", True), "div": _binary("Div"),
    "__matmul__": _binary("MatMul"), "matmul": _binary("MatMul"), "__neg__": _unary("Neg"),
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "exp": _unary("Exp"), "reshape": _reshape, "view": _reshape, "flatten": _flatten,
    "transpose": _transpose, "permute": _permute, "unsqueeze": _unsqueeze,
    "softmax": _softmax_like("Softmax"), "log_softmax": _softmax_like("LogSoftmax"),
}
_FUNCTIONS = {
    "relu": _unary("Relu"), "sigmoid": _unary("Sigmoid"), "tanh": _unary("Tanh"),
    "softmax": _softmax_like("Softmax"), "log_softmax": _softmax_like("LogSoftmax"),
    "cat": _cat, "concat": _cat, "matmul": _binary("MatMul"), "reshape": _reshape,
    "flatten": _flatten, "transpose": _transpose, "permute": _permute, "add": _binary("Add"),
    "mul": _binary("Mul"), "sub": _binary("Sub"), "div": _binary("Div"), "exp": _unary("Exp"),
    "unsqueeze": _unsqueeze,
}
RECORDED_NAMES = {"[int/slice]", "+", "-", "*", "/", "@", "neg", "relu", "sigmoid", "tanh", "exp", "reshape",
                  "view", "flatten", "transpose", "permute", "unsqueeze", "cat", "softmax",
                  "log_softmax", "matmul"}


def _recording(original, emit):
    def wrapper(*args, **kwargs):
        tr = _ACTIVE[0]
        if tr is None or tr.depth:
            return original(*args, **kwargs)
        tr.depth += 1
        try:
            out = original(*args, **kwargs)
        finally:
            tr.depth -= 1
        if out is NotImplemented or not isinstance(out, Tensor):
            return out
        tr.bind(out, emit(tr, out, *args, **kwargs))
        return out
    wrapper.__wrapped__ = original
    return wrapper


class recording:
    """with recording(tracer): the model's forward, its calls and ops recorded."""

    def __init__(self, tracer):
        self.tracer = tracer
        self._saved = []

    def _patch(self, owner, name, value):
        self._saved.append((owner, name, owner.__dict__.get(name, _MISSING)))
        setattr(owner, name, value)

    def __enter__(self):
        import nnfast
        import nnfast.nn.functional as F
        if _ACTIVE[0] is not None:
            raise RuntimeError("nnfast.onnx.export: an export is already running")
        _ACTIVE[0] = self.tracer
        original_call = Module.__call__
        tracer = self.tracer

        def traced_call(module, *args, **kwargs):
            return tracer.call_module(original_call, module, args, kwargs)
        self._patch(Module, "__call__", traced_call)
        for name, emit in _TENSOR_METHODS.items():
            fn = getattr(Tensor, name, None)
            if fn is not None:
                self._patch(Tensor, name, _recording(fn, emit))
        for mod in (nnfast, F):
            for name, emit in _FUNCTIONS.items():
                fn = mod.__dict__.get(name)
                if callable(fn):
                    self._patch(mod, name, _recording(fn, emit))
        return self

    def __exit__(self, *exc):
        for owner, name, old in reversed(self._saved):
            if old is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, old)
        _ACTIVE[0] = None
        return False


_MISSING = object()
