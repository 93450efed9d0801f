"""The `nnfast` command's model: the MLP it trains, and reading a model.nnf back safely.

A model.nnf holds {"model": state dict, "scaler": StandardScaler state, "meta": layer sizes,
feature names, classes...}. The metadata says what to build, so a file whose metadata was
edited or forged could make `predict` allocate whatever it says (a 35 KB file asked for
1.3 GB). `read_model_file` therefore checks every metadata field's type and range and the
shape of every stored weight against the layer plan the metadata describes before anything is
built: the model then takes no more memory than the weights the file really holds.

A model saved by `nnfast.train.save_model` (a Sequential of known layers that `fit` trained)
uses the same file; its metadata holds, instead of `hidden`/`activation`/`dropout`, a
`layers` list: one {"type": class name, "args": constructor arguments} per layer, checked
the same way (known type, exactly the known arguments, each typed and in range, the Linear
sizes chained, every weight's shape) before anything is built.

What this is not: a general model format (only MLP-shaped Sequentials of the layers in
`_LAYER_ARGS`: Linear, the activations, Softmax/LogSoftmax, Dropout, Identity, BatchNorm1d,
LayerNorm).
"""
import numpy as np

from ._cli_inputs import CLIError

ACTIVATIONS = ("relu", "leaky_relu", "elu", "gelu", "silu", "tanh", "sigmoid", "prelu")
_MAX_SIZE = 2 ** 31 - 1  # beyond the kernels' int sizes: no real layer is this wide


def mlp_plan(n_in, hidden, n_out, activation="relu", dropout=0.0):
    """The layers of the MLP, in Sequential order: ("linear", in, out), ("act", name) or
    ("dropout", p). build_mlp and the weight-shape check both read this one plan."""
    plan = []
    sizes = [n_in] + list(hidden)
    for a, b in zip(sizes[:-1], sizes[1:]):
        plan += [("linear", a, b), ("act", activation)]
        if dropout > 0:
            plan.append(("dropout", dropout))
    plan.append(("linear", sizes[-1], n_out))
    return plan


def build_mlp(n_in, hidden, n_out, activation="relu", dropout=0.0):
    from . import nn
    acts = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "gelu": nn.GELU,
            "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "prelu": nn.PReLU}
    make = {"linear": lambda a, b: nn.Linear(a, b), "act": lambda name: acts[name](),
            "dropout": lambda p: nn.Dropout(p)}
    return nn.Sequential(*[make[kind](*args) for kind, *args in
                           mlp_plan(n_in, hidden, n_out, activation, dropout)])


def mlp_state_shapes(plan):
    """{state-dict key: shape} of the model build_mlp makes from `plan`."""
    shapes = {}
    for i, (kind, *args) in enumerate(plan):
        if kind == "linear":
            a, b = args
            shapes[f"{i}.weight"], shapes[f"{i}.bias"] = (b, a), (b,)
        elif kind == "act" and args[0] == "prelu":
            shapes[f"{i}.weight"] = (1,)  # nn.PReLU(): one shared slope
    return shapes


# ============================================================================ reading model.nnf

class ModelFile:
    """A model.nnf whose metadata, weights and scaler agree (see read_model_file)."""

    def __init__(self, path, meta, state, scaler):
        self.path, self.meta, self.state, self.scaler = path, meta, state, scaler

    def build(self):
        m = self.meta
        if "layers" in m:
            model = build_sequential(m["layers"])
        else:
            model = build_mlp(m["n_in"], m["hidden"], m["n_out"], m["activation"],
                              m["dropout"])
        model.load_state_dict(self.state)
        return model


def read_model_file(path):
    import nnfast as nf
    try:
        saved = nf.load(path)
    except Exception as e:  # whatever a damaged file makes the loader raise
        msg = str(e)
        if msg.startswith("nnfast.load: "):  # the loader's messages name the file already
            raise CLIError(f"cannot read the model: {msg[len('nnfast.load: '):]}") from None
        raise CLIError(f"cannot read the model {path}: {type(e).__name__}: {msg}") from None
    if not isinstance(saved, dict):
        raise CLIError(f"{path} is not a model written by `nnfast train` (it holds a "
                       f"{type(saved).__name__})")
    if "meta" not in saved and {"model", "optimizer", "epoch"} <= set(saved):
        raise CLIError(f"{path} is a training checkpoint (for resuming), not a model: pass the "
                       "run folder or the model.nnf beside it to --model")
    absent = [k for k in ("model", "scaler", "meta") if k not in saved]
    if absent:
        keys = ", ".join(repr(k) for k in list(saved)[:6]) + (", ..." if len(saved) > 6 else "")
        raise CLIError(f"{path} is not a model written by `nnfast train` (no "
                       f"{' / '.join(absent)} entry; its entries: {keys or 'none'})")
    meta, state = saved["meta"], saved["model"]
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise CLIError(f"{path}: corrupt model file (meta and model must be dicts)")
    if "layers" in meta:
        _check_layers_meta(meta, path)
        _check_state(layers_state_shapes(meta["layers"]), state, path,
                     lambda: "the layers' sizes")
    else:
        _check_meta(meta, len(state), path)
        _check_weights(meta, state, path)
    scaler = None if saved["scaler"] is None and "layers" in meta else \
        _read_scaler(saved["scaler"], meta["n_in"], path)
    return ModelFile(path, meta, state, scaler)


def _bad(path, what):
    return CLIError(f"{path}: corrupt model metadata: {what}")


def _size(meta, key, path):
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(path, f"{key} must be an integer, got {v!r}"[:200])
    if not 1 <= v <= _MAX_SIZE:
        raise _bad(path, f"{key} = {v} is not a usable layer size (1 to {_MAX_SIZE})")
    return v


def _str_list(meta, key, n, path):
    v = meta.get(key)
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _bad(path, f"{key} must be a list of names")
    if len(v) != n:
        raise _bad(path, f"{len(v)} {key} for {n} {'inputs' if key == 'features' else 'outputs'}")
    seen = set()
    for s in v:
        if s in seen:
            raise CLIError(f"{path}: the model was trained on two columns named {s!r}, so its "
                           "predictions cannot tell them apart; rename one and retrain")
        seen.add(s)


def _check_meta(meta, n_arrays, path):
    n_in, n_out = _size(meta, "n_in", path), _size(meta, "n_out", path)
    hidden = meta.get("hidden")
    if not isinstance(hidden, list):
        raise _bad(path, f"hidden must be a list of layer sizes, got {type(hidden).__name__}")
    if 2 * (len(hidden) + 1) > n_arrays:  # each Linear stores a weight and a bias
        raise _bad(path, f"{len(hidden)} hidden layers, but the file holds only {n_arrays} "
                   "weight arrays")
    for i in range(len(hidden)):
        _size({f"hidden[{i}]": hidden[i]}, f"hidden[{i}]", path)
    if meta.get("activation") not in ACTIVATIONS:
        raise _bad(path, f"unknown activation {meta.get('activation')!r}"[:200])
    d = meta.get("dropout")
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
        raise _bad(path, f"dropout must be in [0, 1), got {d!r}"[:200])
    task = meta.get("task")
    if task not in ("classify", "regress"):
        raise _bad(path, f"unknown task {task!r}"[:200])
    _str_list(meta, "features", n_in, path)
    if task == "classify":
        _str_list(meta, "classes", n_out, path)
    elif n_out != 1:
        raise _bad(path, f"a regression model has 1 output, not {n_out}")


def _check_weights(meta, state, path):
    """Every stored array is the float array of the shape the metadata's layer plan needs,
    and nothing else is stored."""
    expected = mlp_state_shapes(mlp_plan(meta["n_in"], meta["hidden"], meta["n_out"],
                                         meta["activation"], meta["dropout"]))
    _check_state(expected, state, path,
                 lambda: f"the layer sizes {[meta['n_in']] + meta['hidden'] + [meta['n_out']]}")


def _check_state(expected, state, path, sizes):
    extra = [k for k in state if k not in expected]
    if extra:
        raise CLIError(f"{path}: the weights do not match the metadata: unexpected entry "
                       f"{extra[0]!r}"[:300])
    for key, shape in expected.items():
        if key not in state:
            raise CLIError(f"{path}: the weights do not match the metadata: no {key!r} (the "
                           "metadata describes more layers than the file holds)")
        arr = _as_array(state[key])
        if key.endswith(".num_batches_tracked"):   # BatchNorm's step count
            if arr is None or arr.dtype.kind not in "iu" or arr.shape != ():
                raise CLIError(f"{path}: {key!r} is not an integer count")
            continue
        if arr is None or arr.dtype.kind != "f":
            raise CLIError(f"{path}: weight {key!r} is not a float array")
        if tuple(arr.shape) != shape:
            raise CLIError(f"{path}: the weights do not match the metadata: {key!r} has shape "
                           f"{tuple(arr.shape)}, {sizes()} need {shape}")
        if not np.isfinite(arr).all():
            raise CLIError(f"{path}: weight {key!r} holds NaN or infinite values")


def _as_array(v):
    from .tensor import Tensor
    if isinstance(v, Tensor):
        return v._storage
    return v if isinstance(v, np.ndarray) else None


def _read_scaler(state, n_in, path):
    from .data import StandardScaler
    if not isinstance(state, dict):
        raise CLIError(f"{path}: corrupt model file (the scaler entry is not a dict)")
    for key in ("mean_", "var_", "scale_"):
        v = state.get(key)
        if v is None:
            continue
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "biuf" or v.shape != (n_in,):
            raise CLIError(f"{path}: the scaler's {key} does not match the {n_in} features")
        if not np.isfinite(v).all():
            raise CLIError(f"{path}: the scaler's {key} holds NaN or infinite values")
    if "scale_" not in state or "n_features_in_" not in state:
        raise CLIError(f"{path}: corrupt model file (the scaler is not fitted)")
    n = np.asarray(state["n_features_in_"])
    if n.shape != () or n.dtype.kind not in "iu" or int(n) != n_in:
        raise CLIError(f"{path}: the scaler's n_features_in_ does not match the {n_in} "
                       "features")
    try:
        return StandardScaler().load_state_dict(state)
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise CLIError(f"{path}: corrupt scaler state ({e})") from None


# ============================================================== Sequentials saved by save_model

def _finite(v):
    return not isinstance(v, bool) and isinstance(v, (int, float)) and np.isfinite(v)


# type -> {argument: check}; the arguments are the constructor's, read back from the layer's
# attributes of the same name
_LAYER_ARGS = {
    "Linear": {"in_features": "size", "out_features": "size", "bias": "bool"},
    "ReLU": {}, "Tanh": {}, "Sigmoid": {}, "SiLU": {}, "Identity": {},
    "LeakyReLU": {"negative_slope": "float"},
    "ELU": {"alpha": "float"},
    "GELU": {"approximate": ("none", "tanh")},
    "PReLU": {"num_parameters": "size"},
    "Softmax": {"dim": (1, -1)}, "LogSoftmax": {"dim": (1, -1)},
    "Dropout": {"p": "prob"},
    "BatchNorm1d": {"num_features": "size", "eps": "positive", "momentum": "momentum",
                    "affine": "bool", "track_running_stats": "bool", "bias": "bool"},
    "LayerNorm": {"normalized_shape": "size", "eps": "positive", "elementwise_affine": "bool",
                  "bias": "bool"},
}
_NORMS = {"BatchNorm1d": "num_features", "LayerNorm": "normalized_shape"}  # width argument
_MAX_LAYERS = 10_000


def layer_spec(layer):
    """{"type", "args"} for one layer of a Sequential save_model can write, else ValueError."""
    name = type(layer).__name__
    from . import nn
    if name not in _LAYER_ARGS or type(layer) is not getattr(nn, name, None):
        raise ValueError(f"save_model: cannot describe layer {name} (a file can hold a "
                         f"Sequential of {', '.join(sorted(_LAYER_ARGS))}); save its "
                         "state_dict with nnfast.save instead")
    if name == "Linear":
        return {"type": name, "args": {"in_features": layer.in_features,
                                       "out_features": layer.out_features,
                                       "bias": layer.bias is not None}}
    if name in _NORMS:
        args = {k: getattr(layer, k) for k in _LAYER_ARGS[name] if k != "bias"}
        if name == "LayerNorm":
            if len(layer.normalized_shape) != 1:
                raise ValueError("save_model: a LayerNorm over more than the last axis "
                                 f"({tuple(layer.normalized_shape)}) is not an MLP layer")
            args["normalized_shape"] = int(layer.normalized_shape[0])
        args["bias"] = getattr(layer, "bias", None) is not None
        return {"type": name, "args": args}
    return {"type": name, "args": {k: getattr(layer, k) for k in _LAYER_ARGS[name]}}


def layers_io(layers):
    """(n_in, n_out) of a checked layer list: its first and last Linear's sizes."""
    lin = [d["args"] for d in layers if d["type"] == "Linear"]
    return lin[0]["in_features"], lin[-1]["out_features"]


def layers_state_shapes(layers):
    shapes = {}
    for i, d in enumerate(layers):
        a = d["args"]
        if d["type"] == "Linear":
            shapes[f"{i}.weight"] = (a["out_features"], a["in_features"])
            if a["bias"]:
                shapes[f"{i}.bias"] = (a["out_features"],)
        elif d["type"] == "PReLU":
            shapes[f"{i}.weight"] = (a["num_parameters"],)
        elif d["type"] in _NORMS:
            n = (a[_NORMS[d["type"]]],)
            if a.get("affine", a.get("elementwise_affine")):
                shapes[f"{i}.weight"] = n
                if a["bias"]:
                    shapes[f"{i}.bias"] = n
            if a.get("track_running_stats"):
                shapes[f"{i}.running_mean"] = shapes[f"{i}.running_var"] = n
                shapes[f"{i}.num_batches_tracked"] = ()   # an integer count (_check_state)
    return shapes


def build_sequential(layers):
    from . import nn
    made = []
    for d in layers:
        cls, a = getattr(nn, d["type"]), d["args"]
        made.append(cls(a["in_features"], a["out_features"], bias=a["bias"])
                    if d["type"] == "Linear" else cls(**a))
    return nn.Sequential(*made)


def check_layers(layers, where):
    """The layer list is one the builder can make, every argument typed and in range, the
    widths chained (each Linear takes the width the one before it gives): a ValueError
    naming the layer otherwise."""
    if not isinstance(layers, list) or not 1 <= len(layers) <= _MAX_LAYERS:
        raise ValueError(f"{where}: layers must be a list of 1 to {_MAX_LAYERS} layers")
    width = None
    for i, d in enumerate(layers):
        if not isinstance(d, dict) or set(d) != {"type", "args"} or \
                not isinstance(d["args"], dict):
            raise ValueError(f"{where}: layers[{i}] must be {{'type': ..., 'args': {{...}}}}")
        kind, args = d["type"], d["args"]
        if kind not in _LAYER_ARGS:
            raise ValueError(f"{where}: layers[{i}] has unknown type {kind!r}"[:200])
        want = _LAYER_ARGS[kind]
        if set(args) != set(want):
            raise ValueError(f"{where}: layers[{i}] ({kind}) takes the arguments "
                             f"{sorted(want)}, the file gives {sorted(map(str, args))}"[:300])
        for k, check in want.items():
            v = args[k]
            ok = {"size": lambda: not isinstance(v, bool) and isinstance(v, int)
                  and 1 <= v <= _MAX_SIZE,
                  "bool": lambda: isinstance(v, bool),
                  "float": lambda: _finite(v),
                  "positive": lambda: _finite(v) and v > 0,
                  "momentum": lambda: v is None or (_finite(v) and 0 <= v <= 1),
                  "prob": lambda: _finite(v) and 0 <= v < 1}.get(check) if \
                isinstance(check, str) else (lambda: not isinstance(v, bool) and v in check)
            if not ok():
                raise ValueError(f"{where}: layers[{i}] ({kind}) has {k}={v!r}"[:200])
        if kind == "Linear":
            if width is not None and args["in_features"] != width:
                raise ValueError(f"{where}: layers[{i}] (Linear) takes "
                                 f"{args['in_features']} features, the layers before it "
                                 f"give {width}")
            width = args["out_features"]
        elif kind in _NORMS:
            n = args[_NORMS[kind]]
            if width is not None and n != width:
                raise ValueError(f"{where}: layers[{i}] ({kind}) normalises {n} features, "
                                 f"the layers before it give {width}")
            width = n
        elif kind == "PReLU" and args["num_parameters"] != 1 and \
                args["num_parameters"] != width:
            raise ValueError(f"{where}: layers[{i}] (PReLU) has {args['num_parameters']} "
                             f"slopes for {width} features")
    if width is None:
        raise ValueError(f"{where}: the layers hold no Linear layer")


def _check_layers_meta(meta, path):
    try:
        check_layers(meta["layers"], path)
    except ValueError as e:
        raise _bad(path, str(e)[len(str(path)) + 2:]) from None
    n_in, n_out = layers_io(meta["layers"])
    for k, v in (("n_in", n_in), ("n_out", n_out)):
        if meta.get(k) != v or isinstance(meta.get(k), bool):
            raise _bad(path, f"{k} = {meta.get(k)!r}, the layers say {v}"[:200])
    task = meta.get("task")
    if task not in ("classify", "regress"):
        raise _bad(path, f"unknown task {task!r}"[:200])
    _str_list(meta, "features", n_in, path)
    if task == "classify":
        _str_list(meta, "classes", n_out, path)
