"""The `nnfast` command's model: the MLP it trains, and reading a model.nnf back safely.

A model.nnf holds {"model": state dict, "scaler": StandardScaler state, "meta": layer sizes,
feature names, classes...}. The metadata says what to build, so a file whose metadata was
edited or forged could make `predict` allocate whatever it says (a 35 KB file asked for
1.3 GB). `read_model_file` therefore checks every metadata field's type and range and the
shape of every stored weight against the layer plan the metadata describes before anything is
built: the model then takes no more memory than the weights the file really holds.

A model saved by `nnfast.train.save_model` (any Module `fit` trained) uses the same file; its
metadata holds, instead of `hidden`/`activation`/`dropout`, a `tree`: the module as data
(nnfast/_module_tree.py), rebuilt without running a constructor from weights the file really
holds, every field checked, the attributes that size an nnfast layer's output (padding,
stride, scale_factor...) within bounds. A probe then runs the rebuilt model on one zero sample
of its input shape, each layer's output checked against a size cap, so a forged architecture
(a chain of Upsample) fails with a message before any request runs.
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

    def __init__(self, path, meta, state, scaler, model=None):
        self.path, self.meta, self.state, self.scaler = path, meta, state, scaler
        self._model = model

    def build(self):
        """The model, in eval mode (a fresh one each call)."""
        m = self.meta
        if self._model is not None:   # a save_model tree, rebuilt and probed by the reader
            model, self._model = self._model, None
            return model
        if "tree" in m:
            return _rebuild(m, self.state, self.path, ())
        model = build_mlp(m["n_in"], m["hidden"], m["n_out"], m["activation"], m["dropout"])
        model.load_state_dict(self.state)
        return model.eval()

    def inputs(self, x):
        """Feature rows (n, n_in) as the model's input: reshaped to input_shape and cast."""
        shape, dtype = tuple(self.meta.get("input_shape", [self.meta["n_in"]])), \
            self.meta.get("input_dtype", "float32")
        if dtype == "int64":
            if not np.isfinite(x).all() or (x != np.round(x)).any() or \
                    np.abs(x).max(initial=0) > 2 ** 53:
                raise CLIError(f"the model takes integer inputs (token or category ids), "
                               "the data holds non-integer values")
        return np.ascontiguousarray(x.reshape((len(x),) + shape).astype(dtype))


def read_model_file(path, imports=()):
    """The model file at `path`, checked. imports: module names the caller trusts to be
    imported for a custom Module's class (`nnfast predict --import`)."""
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
    model = None
    if "tree" in meta:
        _check_tree_meta(meta, path)
        model = _rebuild(meta, state, path, imports)
    else:
        if "layers" in meta:
            raise CLIError(f"{path} was written by an older nnfast.train.save_model: save the "
                           "model again with this version")
        _check_meta(meta, len(state), path)
        _check_weights(meta, state, path)
    scaler = None if saved["scaler"] is None and "tree" in meta else \
        _read_scaler(saved["scaler"], meta["n_in"], path)
    return ModelFile(path, meta, state, scaler, model)


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


# ============================================================= models saved by save_model

_PROBE_CAP = 2 ** 26   # elements of one layer's output for one sample (256 MB of float32)


def _check_tree_meta(meta, path):
    from .train._predict import INPUT_DTYPES, OUTPUTS
    shape = meta.get("input_shape")
    if not isinstance(shape, list) or not 1 <= len(shape) <= 8:
        raise _bad(path, "input_shape must be a list of 1 to 8 sizes")
    for i in range(len(shape)):
        _size({f"input_shape[{i}]": shape[i]}, f"input_shape[{i}]", path)
    n_in, n_out = _size(meta, "n_in", path), _size(meta, "n_out", path)
    if int(np.prod(shape, dtype=np.float64)) != n_in or n_in > _PROBE_CAP:
        raise _bad(path, f"n_in = {n_in} is not the size of input_shape {shape}"[:200])
    if meta.get("input_dtype") not in INPUT_DTYPES:
        raise _bad(path, f"input_dtype must be one of {INPUT_DTYPES}")
    if meta.get("output") not in OUTPUTS:
        raise _bad(path, f"output must be one of {OUTPUTS}")
    task = meta.get("task")
    if task not in ("classify", "regress"):
        raise _bad(path, f"unknown task {task!r}"[:200])
    if (task == "classify") != (meta["output"] != "values"):
        raise _bad(path, f"a {task} model cannot give {meta['output']}")
    _str_list(meta, "features", n_in, path)
    if task == "classify":
        _str_list(meta, "classes", n_out, path)


def _rebuild(meta, state, path, imports):
    """The tree rebuilt from the file's weights, then probed on one zero sample: every layer's
    output is checked against _PROBE_CAP as it is made, and the model's output against n_out."""
    from ._module_tree import ModelError, class_finder, rebuild
    from .tensor import Tensor
    from .train._predict import probe
    try:
        model = rebuild(meta["tree"], state, class_finder(imports))
    except ModelError as e:
        raise CLIError(f"{path}: {e}") from None

    def capped(module, args, out):
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, Tensor) and t.numel() > _PROBE_CAP:
                raise CLIError(f"{path}: the layer {type(module).__name__} makes "
                               f"{t.numel()} values for one sample (more than {_PROBE_CAP})")

    handles = [m.register_forward_hook(capped) for m in model.modules()]
    try:
        out, _ = probe(model, meta["input_shape"], meta["input_dtype"], batch=1)
    except CLIError:
        raise
    except (Exception, MemoryError) as e:   # a forged attribute met a layer's own checks
        raise CLIError(f"{path}: the model does not run on one sample of its input shape "
                       f"{meta['input_shape']}: {type(e).__name__}: {str(e)[:300]}") from None
    finally:
        for h in handles:
            h.remove()
    want = (1,) if meta["n_out"] == 1 and out.ndim == 1 else (1, meta["n_out"])
    if out.shape != want:
        raise CLIError(f"{path}: the model gives outputs of shape {out.shape} for one sample, "
                       f"the metadata says {meta['n_out']} outputs")
    return model
