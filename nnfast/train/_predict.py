"""save_model: a Sequential trained by fit() written as a model file `nnfast predict` reads.

The file is the one `nnfast train --out` writes (nnfast/_cli_model.py): {"model": state dict,
"scaler": a fitted StandardScaler's state or None, "meta": {"layers": [{"type", "args"}...],
"n_in", "n_out", "task", "features", "classes"}}. The layer list comes from each layer's
constructor arguments; `read_model_file` checks every field against the weights before it
builds anything, since a file from disk may have been edited.
"""
import os

import numpy as np

__all__ = ["save_model"]


def save_model(model, path, scaler=None, meta=None):
    """Write `model` (an nn.Sequential of Linear, activations, Softmax/LogSoftmax, Dropout,
    Identity, BatchNorm1d, LayerNorm) to `path` for `nnfast predict --model path`.

    scaler: a fitted nnfast.data.StandardScaler applied to the features before the model
    (as `nnfast train` does), or None. meta: optional {"task": "classify" | "regress",
    "features": column names, "classes": class names}; by default a model with more than
    one output classifies (classes "0", "1", ...) and features are named x0, x1, ...
    """
    from .. import io, nn
    from .._cli_model import check_layers, layer_spec, layers_io
    from ..tensor import to_numpy
    if type(model) is not nn.Sequential:
        raise TypeError(f"save_model: model must be an nn.Sequential, got "
                        f"{type(model).__name__} (save its state_dict with nnfast.save)")
    layers = [layer_spec(m) for m in model]
    check_layers(layers, "save_model")
    n_in, n_out = layers_io(layers)
    meta = dict(meta or {})
    unknown = set(meta) - {"task", "features", "classes"}
    if unknown:
        raise ValueError(f"save_model: unknown meta key(s) {sorted(map(str, unknown))} "
                         "(it takes task, features, classes)")
    task = meta.get("task", "classify" if n_out > 1 else "regress")
    if task not in ("classify", "regress"):
        raise ValueError(f"save_model: task must be 'classify' or 'regress', got {task!r}")
    features = [str(f) for f in meta.get("features", [f"x{i}" for i in range(n_in)])]
    if len(features) != n_in or len(set(features)) != n_in:
        raise ValueError(f"save_model: {len(features)} feature names (distinct: "
                         f"{len(set(features))}) for a model of {n_in} inputs")
    out = {"layers": layers, "n_in": n_in, "n_out": n_out, "task": task,
           "features": features}
    if task == "classify":
        classes = [str(c) for c in meta.get("classes", range(n_out))]
        if len(classes) != n_out or len(set(classes)) != n_out:
            raise ValueError(f"save_model: {len(classes)} class names (distinct: "
                             f"{len(set(classes))}) for a model of {n_out} outputs")
        out["classes"] = classes
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
    io.save({"model": state, "scaler": scaler_state, "meta": out}, os.fspath(path))
