"""save_model: a model trained by fit() written as a model file `nnfast predict` reads.

The file is the kind `nnfast train --out` writes (nnfast/_cli_model.py): {"model": state dict,
"scaler": a fitted StandardScaler's state or None, "meta": {"tree": the module as data
(nnfast/_module_tree.py), "input_shape", "input_dtype", "output", "n_in", "n_out", "task",
"features", "classes"}}. Any Module saves: nnfast's layers and containers, and custom Modules
built of them, whose class `nnfast predict --import MODULE` finds again. `read_model_file`
checks every field before the model serves.
"""
import math
import os

import numpy as np

__all__ = ["save_model"]

INPUT_DTYPES = ("float32", "float64", "int64")
OUTPUTS = ("logits", "probabilities", "log_probabilities", "values")


def _default_input(model):
    """(input_shape, input_dtype) read off the first nnfast layer holding weights (a Linear,
    BatchNorm1d or LayerNorm fixes the row's width, an Embedding takes int64 ids), else
    (None, its dtype). A custom Module's own parameters do not count: its forward decides."""
    from .. import nn
    for m in model.modules():
        weight = m._parameters.get("weight")
        if not type(m).__module__.startswith("nnfast.") or weight is None:
            continue
        dtype = str(weight.dtype)
        if type(m) in (nn.Linear, nn.BatchNorm1d):
            return (getattr(m, "in_features", getattr(m, "num_features", None)),), dtype
        if type(m) is nn.LayerNorm:
            return tuple(m.normalized_shape), dtype
        return None, "int64" if isinstance(m, nn.Embedding) else dtype
    return None, "float32"


def probe(model, input_shape, input_dtype, batch=2):
    """Run the eval-mode model on zeros of (batch, *input_shape): (output array, the class
    name of the last leaf module that ran). Leaves the training flags as they were."""
    from ..autograd import grad_mode as ag
    from ..tensor import Tensor, to_numpy
    flags = [(m, m.training) for m in model.modules()]
    last, handles = [None], []
    for m in model.modules():
        if not m._modules:
            handles.append(m.register_forward_hook(
                lambda mod, args, out: last.__setitem__(0, type(mod).__name__)))
    try:
        model.eval()
        with ag.inference_mode():
            out = model(Tensor._make(np.zeros((batch,) + tuple(input_shape), input_dtype)))
    finally:
        for h in handles:
            h.remove()
        for m, t in flags:
            m.training = t
    if not isinstance(out, Tensor):
        raise ValueError(f"the model returned a {type(out).__name__}: a model file serves "
                         "models that return one Tensor")
    return to_numpy(out), last[0]


def save_model(model, path, scaler=None, meta=None):
    """Write `model` (any nn.Module fit() trains: nnfast's layers, Sequential/Residual
    containers, and custom Modules built of them) to `path` for `nnfast predict --model path`.

    scaler: a fitted nnfast.data.StandardScaler applied to the features before the model
    (as `nnfast train` does), or None. meta (all optional): "task" ("classify" | "regress"; a
    model of more than one output classifies by default), "features" (column names, default
    x0, x1, ...), "classes" (default "0", "1", ...), "input_shape" (one sample's shape, such
    as (1, 28, 28) for a CNN: predict reshapes each row of features to it; read off a first
    Linear layer when not given) and "input_dtype" ("float32", "float64" or "int64", the last
    for Embedding inputs). A custom Module's class must be importable by its module's name:
    `nnfast predict --import that.module` finds it again.
    """
    from .. import io
    from .._module_tree import ModelError, describe
    from ..nn import Module
    from ..tensor import to_numpy
    if not isinstance(model, Module):
        raise TypeError(f"save_model: model must be an nnfast.nn.Module, got "
                        f"{type(model).__name__}")
    meta = dict(meta or {})
    unknown = set(meta) - {"task", "features", "classes", "input_shape", "input_dtype"}
    if unknown:
        raise ValueError(f"save_model: unknown meta key(s) {sorted(map(str, unknown))} (it "
                         "takes task, features, classes, input_shape, input_dtype)")
    try:
        tree = describe(model)
    except ModelError as e:
        raise ValueError(f"save_model: {e}") from None
    shape, dtype = _default_input(model)
    shape = meta.get("input_shape", shape)
    dtype = str(meta.get("input_dtype", dtype))
    if shape is None:
        raise ValueError("save_model: the model does not start with a Linear layer, so give "
                         "one sample's shape: meta={'input_shape': (channels, height, width)} "
                         "or (sequence length,) ...")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not 1 <= len(shape) <= 8 or not all(isinstance(s, (int, np.integer)) and
                                           not isinstance(s, bool) and s >= 1 for s in shape):
        raise ValueError(f"save_model: input_shape must be 1 to 8 positive sizes, got {shape}")
    shape = tuple(int(s) for s in shape)
    if dtype not in INPUT_DTYPES:
        raise ValueError(f"save_model: input_dtype must be one of {INPUT_DTYPES}, got {dtype!r}")
    try:
        out, last = probe(model, shape, dtype)
    except Exception as e:
        raise ValueError(f"save_model: the model does not run on a batch of input_shape "
                         f"{shape} ({dtype}): {type(e).__name__}: {e}") from None
    if out.ndim not in (1, 2) or out.shape[0] != 2:
        raise ValueError(f"save_model: for a batch of 2 the model gave outputs of shape "
                         f"{out.shape}: predict serves models with one output row per input")
    n_in, n_out = math.prod(shape), (1 if out.ndim == 1 else out.shape[1])
    task = meta.get("task", "classify" if n_out > 1 else "regress")
    if task not in ("classify", "regress"):
        raise ValueError(f"save_model: task must be 'classify' or 'regress', got {task!r}")
    features = [str(f) for f in meta.get("features", [f"x{i}" for i in range(n_in)])]
    if len(features) != n_in or len(set(features)) != n_in:
        raise ValueError(f"save_model: {len(features)} feature names (distinct: "
                         f"{len(set(features))}) for a model of {n_in} inputs")
    output = "values"
    if task == "classify":
        output = {"Softmax": "probabilities", "LogSoftmax": "log_probabilities"}.get(
            last, "logits")
    info = {"tree": tree, "input_shape": list(shape), "input_dtype": dtype, "output": output,
            "n_in": n_in, "n_out": n_out, "task": task, "features": features}
    if task == "classify":
        classes = [str(c) for c in meta.get("classes", range(n_out))]
        if len(classes) != n_out or len(set(classes)) != n_out:
            raise ValueError(f"save_model: {len(classes)} class names (distinct: "
                             f"{len(set(classes))}) for a model of {n_out} outputs")
        info["classes"] = classes
    elif "classes" in meta:
        raise ValueError("save_model: classes given for a regression model")
    scaler_state = None
    if scaler is not None:
        scaler_state = scaler.state_dict()
        n = scaler_state.get("n_features_in_")
        if scaler_state.get("scale_") is None or n is None or int(n) != n_in:
            raise ValueError(f"save_model: the scaler must be fitted on the model's {n_in} "
                             f"features (it has n_features_in_={n})")
    state = {k: np.array(to_numpy(v), order="C") for k, v in model.state_dict().items()}
    io.save({"model": state, "scaler": scaler_state, "meta": info}, os.fspath(path))
