"""The ONNX graph being built: value names, nodes, initializers (weights), constants, and the
ModelProto at the end, through onnx.helper. It knows nothing of nnfast's layers; the layer
converters (_layers.py, _recurrent.py) and the tensor-op recorder (_trace.py) add to it."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_ELEM = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
         np.dtype(np.float16): TensorProto.FLOAT16, np.dtype(np.int64): TensorProto.INT64,
         np.dtype(np.int32): TensorProto.INT32, np.dtype(np.bool_): TensorProto.BOOL,
         np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8}


def elem_type(dtype, who="nnfast.onnx.export"):
    try:
        return _ELEM[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"{who}: no ONNX element type for dtype {np.dtype(dtype)}") from None


class Graph:
    def __init__(self, export_params=True):
        self.export_params = export_params
        self.nodes = []
        self.initializers = []
        self.inputs = []      # ValueInfoProtos of the graph inputs (weights as inputs too
        self._param_inputs = []  # when export_params=False)
        self._names = set()
        self._counts = {}
        self._const_cache = {}

    def fresh(self, hint):
        """A value name not used yet, readable in Netron: 'linear_out_3'."""
        hint = "".join(c if c.isalnum() or c in "._" else "_" for c in hint) or "v"
        n = self._counts.get(hint, 0)
        name = hint if n == 0 and hint not in self._names else f"{hint}_{n}"
        while name in self._names:
            n += 1
            name = f"{hint}_{n}"
        self._counts[hint] = n + 1
        self._names.add(name)
        return name

    def node(self, op, inputs, n_out=1, hint=None, **attrs):
        """Adds one node; returns its output name (or the list of names when n_out > 1)."""
        outs = [self.fresh(f"{hint or op}_out") for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op, list(inputs), outs,
                                           name=self.fresh(hint or op), **attrs))
        return outs[0] if n_out == 1 else outs

    def weight(self, array, hint):
        """A trained array as an initializer (or, with export_params=False, a graph input)."""
        array = np.ascontiguousarray(array)
        name = self.fresh(hint)
        if self.export_params:
            self.initializers.append(numpy_helper.from_array(array, name))
        else:
            self._param_inputs.append(helper.make_tensor_value_info(
                name, elem_type(array.dtype), list(array.shape)))
        return name

    def const(self, value, dtype=np.int64):
        """A small constant (shapes, axes, scalars) as an initializer, shared by value."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._const_cache:
            name = self.fresh("const")
            self.initializers.append(numpy_helper.from_array(array, name))
            self._const_cache[key] = name
        return self._const_cache[key]

    def add_input(self, name, dtype, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type(dtype), shape))

    def model(self, outputs, opset_version, doc=""):
        graph = helper.make_graph(self.nodes, "nnfast_model", self.inputs + self._param_inputs,
                                  outputs, initializer=self.initializers, doc_string=doc)
        m = helper.make_model(graph, producer_name="nnfast",
                              opset_imports=[helper.make_opsetid("", opset_version)])
        # onnxruntime reads models whose IR version it knows; onnx 1.23 writes a newer one by
        # default than older runtimes accept, so write the oldest that carries this opset
        m.ir_version = helper.find_min_ir_version_for(list(m.opset_import))
        return m


def value_info(name, dtype, shape):
    return helper.make_tensor_value_info(name, elem_type(dtype), shape)


def save(model, f):
    if isinstance(f, (str, bytes)) or hasattr(f, "__fspath__"):
        onnx.save(model, f)
    elif hasattr(f, "write"):
        f.write(model.SerializeToString())
    else:
        raise TypeError(f"nnfast.onnx.export: f must be a path or a writable file object, got "
                        f"{type(f).__name__}")
