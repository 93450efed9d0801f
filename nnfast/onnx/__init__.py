"""nnfast.onnx.export: an nnfast model as an ONNX file, for onnxruntime and other runtimes.

    import nnfast.onnx
    nnfast.onnx.export(model, (x,), "model.onnx")   # torch.onnx.export's order and names

The export runs the model's forward once on the example input (eval mode, no grad) and
records each layer call and each tensor op between layers (_trace.py); the layers become
ONNX ops (_layers.py, _recurrent.py), the weights initializers. Dim 0 of every input and
output is dynamic ("batch") unless dynamic_axes says otherwise. The ops used are those of
opset 17 (the default; 17 is where LayerNormalization arrives).

What it is not: a general tracer. Control flow is frozen to the traced path, and a tensor op
outside the recorded set (see _trace.RECORDED_NAMES) is refused with an error naming where
it was used. onnx is an optional extra: `pip install "nnfast[onnx]"`.
"""
try:
    import onnx
except ImportError as e:   # the extra is not installed
    raise ImportError('nnfast.onnx needs the onnx package: pip install "nnfast[onnx]"') from e

import numpy as np

from ..nn.module import Module
from ..tensor import Tensor
from ._graph import Graph, save, value_info
from ._trace import ExportError, Tracer, recording

__all__ = ["DEFAULT_OPSET", "ExportError", "export"]

DEFAULT_OPSET = 17
_MIN_OPSET = 17   # LayerNormalization


def _as_args(args):
    if isinstance(args, Tensor):
        return (args,)
    if isinstance(args, np.ndarray):
        return (Tensor._make(np.ascontiguousarray(args)),)
    if isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple) or not args:
        raise TypeError(f"nnfast.onnx.export: args must be a Tensor or a non-empty tuple of "
                        f"example inputs, got {type(args).__name__}")
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            a = Tensor._make(np.ascontiguousarray(a))
        if not isinstance(a, Tensor):
            raise TypeError(f"nnfast.onnx.export: example input {i} must be a Tensor, got "
                            f"{type(a).__name__}")
        out.append(a)
    return tuple(out)


def _flat_outputs(out):
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out if o is not None for t in _flat_outputs(o)]
    raise ExportError(f"nnfast.onnx.export: the model returned {type(out).__name__}; "
                      f"export needs a Tensor or a (nested) tuple of Tensors")


def _names(given, n, stem, what):
    if given is None:
        return [stem] if n == 1 else [f"{stem}_{i}" for i in range(n)]
    given = list(given)
    if len(given) > n:
        raise ValueError(f"nnfast.onnx.export: {len(given)} {what} for {n} "
                         f"{'inputs' if what == 'input_names' else 'outputs'}")
    return given + [f"{stem}_{i}" for i in range(len(given), n)]


def _dims(shape, axes):
    """The value-info dims: a name where the axis is dynamic, the traced size elsewhere."""
    if isinstance(axes, (list, tuple)):
        axes = {a: None for a in axes}
    dims = list(shape)
    for a, label in (axes or {}).items():
        if not -len(dims) <= a < len(dims):
            raise ValueError(f"nnfast.onnx.export: dynamic axis {a} is out of range for a "
                             f"tensor of shape {tuple(shape)}")
        dims[a] = label or f"dim_{a % len(dims)}"
    return dims


def export(model, args=(), f=None, *, kwargs=None, verbose=None, input_names=None,
           output_names=None, opset_version=None, export_params=True, dynamic_axes=None,
           dynamo=True, external_data=True, optimize=True, do_constant_folding=True,
           keep_initializers_as_inputs=False, training=None):
    """Writes `model` as ONNX to `f` (a path or a binary file object; None writes nothing)
    and returns the onnx.ModelProto. dynamo/external_data/optimize/do_constant_folding/
    keep_initializers_as_inputs are accepted for torch.onnx.export's callers and change
    nothing (this exporter has one path and writes the weights inside the file)."""
    if not isinstance(model, Module):
        raise TypeError(f"nnfast.onnx.export: model must be an nnfast.nn.Module, got "
                        f"{type(model).__name__}")
    if kwargs:
        raise TypeError("nnfast.onnx.export: keyword inputs (kwargs=) are not supported; "
                        "pass the example inputs positionally in args")
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    top = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not _MIN_OPSET <= opset <= top:
        raise ValueError(f"nnfast.onnx.export: opset_version must be an int in "
                         f"[{_MIN_OPSET}, {top}], got {opset_version!r}")
    xs = _as_args(args)
    in_names = _names(input_names, len(xs), "input", "input_names")
    graph = Graph(export_params=export_params)
    for n in in_names:
        graph._names.add(n)
    tracer = Tracer(graph, model)
    if dynamic_axes is None:
        dynamic_axes = {n: {0: "batch"} for n, t in
                        zip(in_names, xs) if t.ndim > 0}
        default_axes = True
    else:
        default_axes = False
    for x, n in zip(xs, in_names):
        axes = dynamic_axes.get(n) or ()
        tracer.dynamic_sizes.update(int(x.shape[a]) for a in axes if -x.ndim <= a < x.ndim)
    was_training = model.training
    import nnfast
    model.eval()
    try:
        with nnfast.no_grad(), recording(tracer):
            for x, n in zip(xs, in_names):
                tracer.bind(x, n)
            out = model(*xs)
            outs = _flat_outputs(out)
            out_values = [tracer.name(t) for t in outs]
    finally:
        model.train(was_training)
    out_names = _names(output_names, len(outs), "output", "output_names")
    if default_axes:   # an output's batch is its first dim of the traced batch size (an
        # RNN's h_n has it in dim 1)
        for n, t in zip(out_names, outs):
            at = [a for a, size in enumerate(t.shape) if size in tracer.dynamic_sizes][:1]
            if at:
                dynamic_axes[n] = {at[0]: "batch"}
    unknown = set(dynamic_axes) - set(in_names) - set(out_names)
    if unknown:
        raise ValueError(f"nnfast.onnx.export: dynamic_axes names {sorted(unknown)} are "
                         f"neither input_names {in_names} nor output_names {out_names}")
    for x, n in zip(xs, in_names):
        graph.add_input(n, x.dtype, _dims(x.shape, dynamic_axes.get(n)))
    outputs = []
    for t, v, n in zip(outs, out_values, out_names):
        graph.nodes.append(onnx.helper.make_node("Identity", [v], [n], name=f"{n}_identity"))
        outputs.append(value_info(n, t.dtype, _dims(t.shape, dynamic_axes.get(n))))
    proto = graph.model(outputs, opset, doc=f"exported by nnfast from {type(model).__name__}")
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    if f is not None:
        save(proto, f)
    return proto
