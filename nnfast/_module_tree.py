"""A Module as data, for model files: its class, plain attributes, parameters, buffers, children.

`describe(model)` gives one node per module: {"class": "module:QualName", "attrs": {name:
value}, "params": [[name, present]], "buffers": [[name, "state" | "none" | "inline", array]],
"children":
[[name, node or None]]}. Parameters and persistent buffers live in the file's state dict (the
node names them); attributes are what the module's constructor left in its __dict__ (sizes,
strides, flags, names, nnfast functions such as an activation), so every nnfast layer and any
custom Module built of them is described without knowing its constructor.

`rebuild(node, state, classes)` makes the module back without running any constructor: the
class is created empty (`cls.__new__` + Module.__init__), the attributes, parameters, buffers
and children are put back, and the class's own forward runs at predict time. A file is hostile
(nnfast/io.py reads it without unpickling), so rebuild checks every field: the class is an
nnfast.nn.Module subclass found by `classes` (nnfast's own, or a module the caller imported or
named: importing runs code, so a file never decides what is imported), attribute values are
plain data within bounds, every parameter is a finite float array of the file, and no state
entry is left over. Memory then is what the file holds; the model's activations are checked
by the probe in nnfast/_cli_model.py.

What this is not: pickling. Attributes a constructor sets to other objects (a lambda, an open
file, a NumPy generator) cannot be stored, and save_model says which one.
"""
import importlib
import re
import sys

import numpy as np

MAX_NODES = 10_000
MAX_DEPTH = 32      # nnfast.load reads about 40 levels of modules (its JSON nesting cap)
MAX_ITEMS = 4096     # elements of one attribute's tuple/list/dict
MAX_STR = 1000
MAX_INT = 2 ** 63 - 1
_FUNCTION = "__nnfast_function__"    # {"__nnfast_function__": "nnfast.nn.functional:relu"}
_TENSOR = "__nnfast_tensor__"        # {"__nnfast_tensor__": array}: a plain Tensor attribute
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEY = re.compile(r"[A-Za-z0-9_]{1,200}\Z")
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_base_keys = None


# Attributes of nnfast's own layers that set how large an output is, against what a layer could
# really use: a forged padding of 10^9 would otherwise ask for one huge array in the probe
_SIZE_LIMITS = {"padding": 1024, "output_padding": 1024, "stride": 1024, "dilation": 1024,
                "kernel_size": 4096, "scale_factor": 64, "size": 65536, "output_size": 65536,
                "unflattened_size": 2 ** 26}


def _within(v, limit):
    if isinstance(v, (tuple, list)):
        return all(_within(x, limit) for x in v)
    return not isinstance(v, (int, float)) or isinstance(v, bool) or abs(v) <= limit


class ModelError(ValueError):
    """A module that cannot be described, or a node that does not rebuild (names where)."""


def _module_keys():
    global _base_keys
    if _base_keys is None:
        from .nn import Module
        _base_keys = frozenset(Module().__dict__)
    return _base_keys


# ================================================================================ describe

def class_ref(cls):
    q = cls.__qualname__
    if "<locals>" in q:
        raise ModelError(f"class {q} is defined inside a function, so a model file cannot name "
                         "it: define it at the top level of a module")
    return f"{cls.__module__}:{q}"


def describe(module, path="model"):
    """The node of `module` and its children (ModelError naming the attribute it cannot store)."""
    from .tensor import Tensor, to_numpy
    count = [0]

    def node(m, where, depth):
        count[0] += 1
        if count[0] > MAX_NODES or depth > MAX_DEPTH:
            raise ModelError(f"{where}: more than {MAX_NODES} modules or {MAX_DEPTH} levels")
        base = _module_keys()
        attrs = {k: _encode(v, f"{where}.{k}") for k, v in m.__dict__.items()
                 if k not in base and k != "_fused_chain"}   # a run-time cache
        params = [[n, p is not None] for n, p in m._parameters.items()]
        buffers = []
        for n, b in m._buffers.items():
            if b is not None and not isinstance(b, Tensor):
                raise ModelError(f"{where}.{n}: a buffer that is not a Tensor")
            buffers.append([n, "none", None] if b is None else [n, "state", None]
                           if n not in m._non_persistent_buffers else
                           [n, "inline", np.array(to_numpy(b), order="C")])
        children = [[n, None if c is None else node(c, f"{where}.{n}", depth + 1)]
                    for n, c in m._modules.items()]
        return {"class": class_ref(type(m)), "attrs": attrs, "params": params,
                "buffers": buffers, "children": children}

    return node(module, path, 0)


def _encode(v, where, depth=0):
    from .tensor import Tensor, to_numpy
    if depth > 8:
        raise ModelError(f"{where}: nested more than 8 levels")
    if v is None or isinstance(v, (bool, str)):
        if isinstance(v, str) and len(v) > MAX_STR:
            raise ModelError(f"{where}: a string of more than {MAX_STR} characters")
        return v
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, (tuple, list)):
        if len(v) > MAX_ITEMS:
            raise ModelError(f"{where}: more than {MAX_ITEMS} items")
        out = [_encode(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
        return tuple(out) if isinstance(v, tuple) else out
    if isinstance(v, dict):
        if len(v) > MAX_ITEMS or not all(isinstance(k, str) for k in v) or \
                set(v) & {_FUNCTION, _TENSOR}:
            raise ModelError(f"{where}: a dict attribute needs at most {MAX_ITEMS} str keys")
        return {k: _encode(x, f"{where}[{k!r}]", depth + 1) for k, x in v.items()}
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
        return np.array(v, order="C")
    if isinstance(v, Tensor):
        return {_TENSOR: np.array(to_numpy(v), order="C")}
    mod = getattr(v, "__module__", None) or ""
    if callable(v) and (mod == "nnfast" or mod.startswith("nnfast.")) and \
            not isinstance(v, type) and hasattr(v, "__qualname__"):
        ref = f"{mod}:{v.__qualname__}"
        if _find(ref, lambda m: sys.modules.get(m)) is v:
            return {_FUNCTION: ref}
    raise ModelError(f"{where} is a {type(v).__name__}: a model file holds attributes that are "
                     "numbers, strings, tuples/lists/dicts of them, arrays, Tensors or nnfast "
                     "functions (save its state_dict with nnfast.save instead)")


# ================================================================================= rebuild

def _find(ref, module_of):
    """The object `ref` ("package.module:Qual.Name") names, or None."""
    if not isinstance(ref, str) or ref.count(":") != 1 or len(ref) > MAX_STR:
        return None
    mod_name, qual = ref.split(":")
    if not _MODULE_NAME.match(mod_name) or not all(_NAME.match(p) for p in qual.split(".")):
        return None
    obj = module_of(mod_name)
    for part in qual.split("."):
        obj = getattr(obj, part, None) if obj is not None else None
    return obj


def class_finder(imports=()):
    """How rebuild finds a class: nnfast's own modules, modules already imported, and those
    the caller named in `imports` (and their submodules), imported on demand."""
    named = tuple(imports)

    def module_of(name):
        if name in sys.modules:
            return sys.modules[name]
        if name == "nnfast" or name.startswith("nnfast.") or \
                any(name == n or name.startswith(n + ".") for n in named):
            try:
                return importlib.import_module(name)
            except ImportError:
                return None
        return None

    def find(ref, where):
        from .nn import Module
        cls = _find(ref, module_of)
        if isinstance(cls, type) and issubclass(cls, Module):
            return cls
        mod = ref.split(":")[0] if isinstance(ref, str) and ":" in ref else None
        if cls is None and mod and _MODULE_NAME.match(mod) and mod not in sys.modules and \
                mod != "__main__":
            raise ModelError(f"{where}: the model's class {ref} is in the module {mod}, which "
                             f"is not imported: name it to import it (`nnfast predict --import "
                             f"{mod}`; importing runs that module's code, so only for code "
                             "you trust)")
        if cls is None and mod == "__main__":
            raise ModelError(f"{where}: the model's class {ref} was defined in the script that "
                             "saved it: move it into a module and name that module with "
                             "--import")
        raise ModelError(f"{where}: {str(ref)[:200]!r} is not an nnfast.nn.Module class")

    return find


def _fields(node, where):
    want = {"class", "attrs", "params", "buffers", "children"}
    if not isinstance(node, dict) or set(node) != want:
        raise ModelError(f"{where}: a module node must hold exactly {sorted(want)}")
    for k in ("params", "buffers", "children"):
        if not isinstance(node[k], list) or len(node[k]) > MAX_ITEMS:
            raise ModelError(f"{where}: {k} must be a list of at most {MAX_ITEMS} entries")
    if not isinstance(node["attrs"], dict) or len(node["attrs"]) > MAX_ITEMS:
        raise ModelError(f"{where}: attrs must be a dict")


def _name(n, where, taken, pattern=None):
    """An attribute name (an identifier), or with pattern=_KEY a child/parameter/buffer name
    (Sequential's are "0", "1"...); once per module."""
    if not isinstance(n, str) or not (pattern or _NAME).match(n) or n in taken:
        raise ModelError(f"{where}: {str(n)[:80]!r} is not a usable attribute name"
                         + (" (given twice)" if n in taken else ""))
    taken.add(n)
    return n


def _decode(v, where, depth=0):
    from .nn import functional  # noqa: F401  (nnfast.nn.functional:... refs resolve)
    from .tensor import Tensor
    if depth > 8:
        raise ModelError(f"{where}: nested more than 8 levels")
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        if len(v) > MAX_STR:
            raise ModelError(f"{where}: a string of more than {MAX_STR} characters")
        return v
    if isinstance(v, int):
        if abs(v) > MAX_INT:
            raise ModelError(f"{where}: {v} is out of range")
        return v
    if isinstance(v, float):
        return v
    if isinstance(v, (tuple, list)):
        if len(v) > MAX_ITEMS:
            raise ModelError(f"{where}: more than {MAX_ITEMS} items")
        out = [_decode(x, f"{where}[{i}]", depth + 1) for i, x in enumerate(v)]
        return tuple(out) if isinstance(v, tuple) else out
    if isinstance(v, np.ndarray):
        if v.dtype.kind not in "biuf":
            raise ModelError(f"{where}: an array of dtype {v.dtype}")
        return v
    if isinstance(v, dict):
        if set(v) == {_FUNCTION}:
            ref = v[_FUNCTION]
            fn = _find(ref, lambda m: sys.modules.get(m) if m == "nnfast" or
                       m.startswith("nnfast.") else None)
            if fn is None or isinstance(fn, type) or not callable(fn):
                raise ModelError(f"{where}: {str(ref)[:200]!r} is not an nnfast function")
            return fn
        if set(v) == {_TENSOR} and isinstance(v[_TENSOR], np.ndarray):
            return Tensor._make(_decode(v[_TENSOR], where, depth + 1))
        if len(v) > MAX_ITEMS or not all(isinstance(k, str) for k in v):
            raise ModelError(f"{where}: a dict attribute needs at most {MAX_ITEMS} str keys")
        return {k: _decode(x, f"{where}[{k!r}]", depth + 1) for k, x in v.items()}
    raise ModelError(f"{where}: a {type(v).__name__} value")


def _state_array(state, key, where, kind):
    if key not in state:
        raise ModelError(f"the weights do not match the model: no {key!r}")
    arr = state.pop(key)
    from .tensor import Tensor
    if isinstance(arr, Tensor):
        arr = arr._storage
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in kind:
        raise ModelError(f"{key!r} is not a {'float' if kind == 'f' else 'numeric'} array")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ModelError(f"weight {key!r} holds NaN or infinite values")
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def rebuild(node, state, find_class):
    """The module `node` describes, with its parameters and persistent buffers taken from
    `state` ({key: array}, which must hold exactly those). ModelError says what is wrong."""
    from .nn import Module, Parameter
    from .tensor import Tensor
    state = dict(state)
    count = [0]
    base = _module_keys()

    def build(nd, prefix, where, depth):
        count[0] += 1
        if count[0] > MAX_NODES or depth > MAX_DEPTH:
            raise ModelError(f"{where}: more than {MAX_NODES} modules or {MAX_DEPTH} levels")
        _fields(nd, where)
        cls = find_class(nd["class"], where)
        m = cls.__new__(cls)
        Module.__init__(m)
        taken = set()
        for k, v in nd["attrs"].items():
            if k in base or k.startswith("__"):
                raise ModelError(f"{where}: attribute {str(k)[:80]!r} is Module's own")
            v = _decode(v, f"{where}.{k}")
            if cls.__module__.startswith("nnfast.") and k in _SIZE_LIMITS and \
                    not _within(v, _SIZE_LIMITS[k]):
                raise ModelError(f"{where}: {cls.__name__}.{k} = {str(v)[:80]} is beyond "
                                 f"{_SIZE_LIMITS[k]}")
            m.__dict__[_name(k, where, taken)] = v
        for entry in nd["params"]:
            if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[1], bool):
                raise ModelError(f"{where}: a params entry must be [name, present]")
            n = _name(entry[0], where, taken, _KEY)
            m._parameters[n] = Parameter(_state_array(state, prefix + n, where, "f")) \
                if entry[1] else None
        for entry in nd["buffers"]:
            if not isinstance(entry, list) or len(entry) != 3 or \
                    entry[1] not in ("state", "none", "inline") or \
                    (entry[2] is not None) != (entry[1] == "inline"):
                raise ModelError(f"{where}: a buffers entry must be [name, 'state' | 'none' | "
                                 "'inline', array for 'inline' else None]")
            n, kind, v = _name(entry[0], where, taken, _KEY), entry[1], entry[2]
            if kind == "state":       # a persistent buffer: in the weights
                arr = _state_array(state, prefix + n, where, "biuf")
                if n == "num_batches_tracked" and (arr.shape != () or arr.dtype.kind not in
                                                   "iu"):
                    raise ModelError(f"{prefix + n!r} is not an integer count")
                m._buffers[n] = Tensor._make(arr)
            elif kind == "none":
                m._buffers[n] = None
            else:                      # non-persistent: the node holds its value
                if not isinstance(v, np.ndarray) or v.dtype.kind not in "biuf":
                    raise ModelError(f"{where}: buffer {n!r} is not a numeric array")
                m._buffers[n] = Tensor._make(np.ascontiguousarray(v))
                m._non_persistent_buffers.add(n)
        for entry in nd["children"]:
            if not isinstance(entry, list) or len(entry) != 2:
                raise ModelError(f"{where}: a children entry must be [name, node]")
            n = _name(entry[0], where, taken, _KEY)
            m._modules[n] = None if entry[1] is None else \
                build(entry[1], f"{prefix}{n}.", f"{where}.{n}", depth + 1)
        return m

    model = build(node, "", "model", 0)
    if state:
        raise ModelError(f"the weights do not match the model: unexpected entry "
                         f"{str(next(iter(state)))[:200]!r}")
    return model.eval()
