"""save / load: state dicts, whole training checkpoints and fitted preprocessing, atomically.

Format: one .npz file (NumPy's zip of .npy arrays, stored uncompressed, no pickle) holding
every array of the object plus a (deflated) JSON description of the structure around them (dicts with str or int keys,
lists, tuples, numbers, strings, None, nnfast Tensors and NumPy arrays). Loading never
unpickles, so a checkpoint from elsewhere cannot run code.

Writes go to a temporary file in the target's folder (through symlinks) that is fsynced and
renamed over the target, so a crash mid-save leaves the previous checkpoint intact
(os.replace is atomic on POSIX and Windows); temporaries of killed saves are removed by the
next save to that folder. Loads treat the file as hostile. Both: nnfast/_io_checks.py.

Objects this format cannot hold (a whole Module, an arbitrary class) are pickled instead,
into the same kind of zip (format "nnfast-pickle-1"). As PyTorch >= 2.6, `load` refuses such a
file unless called with weights_only=False, since unpickling can run code.

`load` also reads files written by `torch.save` (state dicts: tensors, parameters and
containers) without importing torch and without running code: see nnfast/_io_torch.py.

`f` may be a path or a binary file object (open file, io.BytesIO); writes to a path are
atomic, writes to a file object go straight to it.

PyTorch interop: `Module.load_state_dict` accepts torch tensors directly; `to_torch` turns an
nnfast state dict into torch tensors (needs torch installed) for `torch_model.load_state_dict`.
"""
import io as _io
import json
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np

from . import _io_checks, _io_torch
from ._io_checks import CorruptFileError
from .device import as_device, check_available
from .device import device as _device_cls
from .tensor import Tensor, to_numpy

__all__ = ["save", "load", "to_torch", "from_torch"]

_FORMAT = "nnfast-save-1"
_PICKLE_FORMAT = "nnfast-pickle-1"


class _NeedsPickle(TypeError):
    """The object holds something the safe format cannot encode."""


def _too_deep(what):
    return ValueError(f"nnfast.save: {what} is nested more than {_io_checks.MAX_DEPTH} levels "
                      "deep, more than nnfast.load reads back")


def _encode(obj, arrays, depth=1):
    """obj as JSON-able data, arrays appended to `arrays`. depth: the JSON nesting level the
    result sits at (load refuses files nested past MAX_DEPTH, so save does too)."""
    if depth > _io_checks.MAX_DEPTH:
        raise _too_deep("the object")
    if isinstance(obj, Tensor):
        arrays.append(to_numpy(obj))   # a device tensor is saved from a host copy
        node = {"__tensor__": len(arrays) - 1}
        if type(obj).__name__ == "Parameter":
            node["param"] = True
        if obj.requires_grad:
            node["requires_grad"] = True
        return node
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise _NeedsPickle("nnfast.save: cannot save an array of dtype object (it would need "
                            "pickle)")
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch.Tensor
        arrays.append(to_numpy(obj))
        return {"__tensor__": len(arrays) - 1}
    if isinstance(obj, dict):     # {"__dict__": [[key, value], ...]}: values 3 levels down
        items = [[_encode_key(k), _encode(v, arrays, depth + 3)] for k, v in obj.items()]
        return {"__odict__" if isinstance(obj, OrderedDict) else "__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, depth + 2) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays, depth + 1) for v in obj]
    if isinstance(obj, (bool, type(None), str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if np.isfinite(f) else {"__float__": repr(f)}
    raise _NeedsPickle(f"nnfast.save: cannot save an object of type {type(obj).__name__} "
                       "without pickle")


def _encode_key(k):
    if isinstance(k, bool) or not isinstance(k, (str, int, np.integer)):
        raise _NeedsPickle(f"nnfast.save: dict keys must be str or int, got {type(k).__name__}")
    return k if isinstance(k, str) else {"__int__": int(k)}


def _is_index(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _decode(node, array):
    """The object a JSON node describes; array(i) gives the i-th stored array. Depth is
    bounded before this runs (json_depth), so recursing is safe."""
    if isinstance(node, list):
        return [_decode(v, array) for v in node]
    if not isinstance(node, dict):
        return node
    if "__tensor__" in node:
        t = Tensor._make(array(node["__tensor__"]))
        if node.get("param"):
            from .nn.parameter import Parameter
            return Parameter(t, bool(node.get("requires_grad")))
        if node.get("requires_grad") and t.dtype.kind in "fc":
            t.requires_grad_(True)
        return t
    if "__array__" in node:
        return array(node["__array__"])
    if "__tuple__" in node and isinstance(node["__tuple__"], list):
        return tuple(_decode(v, array) for v in node["__tuple__"])
    if "__float__" in node and isinstance(node["__float__"], str):
        return float(node["__float__"])
    items = node.get("__odict__", node.get("__dict__"))
    if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2
                                              for p in items):
        raise CorruptFileError(f"the metadata holds an unknown node {json.dumps(node)[:80]}")
    out = OrderedDict() if "__odict__" in node else {}
    for k, v in items:
        if isinstance(k, dict) and _is_index(k.get("__int__")) and len(k) == 1:
            k = k["__int__"]
        elif not isinstance(k, str):
            raise CorruptFileError(f"the metadata holds a dict key {json.dumps(k)[:80]}")
        out[k] = _decode(v, array)
    return out


def _prepare(obj, pickle_protocol):
    """(metadata, pickle payload or None, arrays): the safe format when obj fits it, else a
    pickle in the same zip."""
    arrays = []
    try:
        return {"format": _FORMAT, "root": _encode(obj, arrays)}, None, arrays
    except _NeedsPickle:
        pass
    meta = {"format": _PICKLE_FORMAT, "type": type(obj).__qualname__}
    try:
        payload = pickle.dumps(obj, protocol=max(2, pickle_protocol))
    except (pickle.PicklingError, AttributeError, TypeError) as e:
        raise TypeError(f"nnfast.save: cannot save an object of type "
                        f"{type(obj).__name__}: {e}") from None
    except RecursionError:
        raise _too_deep("the pickled object") from None
    return meta, payload, []


def _write_zip(out, meta, payload, arrays):
    """The file: arrays stored as .npy members, uncompressed (weights barely compress, and a
    stored member can be checked against the file's size before it is read)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("__meta__.json", json.dumps(meta), compress_type=zipfile.ZIP_DEFLATED)
        if payload is not None:
            z.writestr("data.pkl", payload)
        for i, a in enumerate(arrays):
            with z.open(f"a{i}.npy", "w", force_zip64=a.nbytes > (1 << 30)) as w:
                np.save(w, a, allow_pickle=False)  # np.save keeps 0-d shapes and any layout


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save obj (a state dict, a checkpoint dict, a whole model...) to f: a path or a binary
    file object. A path is written atomically, through symlinks to their target, keeping
    the target's mode. State dicts and checkpoints use the safe format; anything else is
    pickled (and needs load(..., weights_only=False) to come back)."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("nnfast.save: only the standard pickle module is supported")
    meta, payload, arrays = _prepare(obj, pickle_protocol)
    if hasattr(f, "write"):
        _write_zip(f, meta, payload, arrays)
        if hasattr(f, "flush"):
            f.flush()
        return
    _io_checks.write_atomically(os.fspath(f), lambda out: _write_zip(out, meta, payload, arrays))


def _check_map_location(map_location):
    """A map onto a device without a backend here raises (CUDA without a GPU, MPS, ...)."""
    if map_location is None or callable(map_location) and not isinstance(map_location, str):
        return
    targets = map_location.values() if isinstance(map_location, dict) else [map_location]
    for t in targets:
        check_available(as_device(t), "loaded tensor")


def _pickle_refused(name):
    return pickle.UnpicklingError(
        f"nnfast.load: {name} holds a pickled Python object (e.g. a whole model saved with "
        "nnfast.save(model, path)). Weights only load failed: loading it runs code from the "
        "file, so nnfast.load refuses it by default, as PyTorch >= 2.6. Pass "
        "weights_only=False to load it, only if you trust the source of the file; or save "
        "model.state_dict() instead.")


# torch's legacy (pre-1.6) format opens with its magic number pickled as a long
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


def _refuse_legacy_torch(source, name):
    pos = source.tell()
    head = source.read(len(_TORCH_LEGACY_MAGIC))
    source.seek(pos)
    if head == _TORCH_LEGACY_MAGIC:
        raise ValueError(f"nnfast.load: {name} is in torch's legacy format (saved with "
                         "_use_new_zipfile_serialization=False); nnfast reads torch's zip "
                         "format: load it with torch and torch.save it again")


_ARRAY_MEMBER = "a{}.npy"


class _Counting:
    """A reader that counts the bytes read through it (the .npy header's length)."""

    def __init__(self, f):
        self.f, self.count = f, 0

    def read(self, n=-1):
        b = self.f.read(n)
        self.count += len(b)
        return b


def _read_npy(z, info, budget):
    """One .npy member as a fresh array: its header is held against the member's size
    before the array is allocated, and the data is read straight into it."""
    what = f"array {info.filename}"
    budget.check_member(info)
    with z.open(info) as f:
        c = _Counting(f)
        try:
            version = np.lib.format.read_magic(c)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(c)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(c)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as e:
            raise CorruptFileError(f"{what} has a bad .npy header ({e})") from None
        if dtype.hasobject or dtype.itemsize == 0:
            raise CorruptFileError(f"{what} has dtype {dtype}, which nnfast does not load "
                                   "(object arrays need pickle; empty items hold nothing)")
        if len(shape) > 64 or any(not _is_index(s) or s < 0 for s in shape):
            raise CorruptFileError(f"{what} has a bad shape {shape!r:.100}")
        nbytes = dtype.itemsize
        for s in shape:
            nbytes *= s
        held = info.file_size - c.count
        if nbytes != held:
            raise CorruptFileError(f"{what} says shape {shape} of {dtype} ({nbytes} bytes) but "
                                   f"holds {held} bytes after its header")
        arr = np.empty(shape, dtype, order="F" if fortran else "C")
        _io_checks.read_into(f, arr, what)
    return arr


def _read_nnfast(z, budget, name, weights_only):
    """The object in an nnfast-format zip, or ("pickle", payload) for the pickle format."""
    infos = {i.filename: i for i in z.infolist()}
    if "__meta__.json" not in infos:
        raise CorruptFileError("not an nnfast file (it has no __meta__.json)")
    raw = _io_checks.read_member(z, infos["__meta__.json"], budget)
    depth = _io_checks.json_depth(raw)
    if depth > _io_checks.MAX_DEPTH:
        raise CorruptFileError(f"its metadata is nested {depth} levels deep, more than "
                               f"{_io_checks.MAX_DEPTH}")
    try:
        meta = json.loads(raw)
    except ValueError as e:
        raise CorruptFileError(f"not an nnfast file (bad metadata: {e})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == _PICKLE_FORMAT:
        if weights_only:
            raise _pickle_refused(name)
        if "data.pkl" not in infos:
            raise CorruptFileError("a pickle-format file without its data.pkl")
        return "pickle", _io_checks.read_member(z, infos["data.pkl"], budget)
    if fmt != _FORMAT or "root" not in meta:
        raise CorruptFileError(f"not an nnfast file (format {fmt!r:.60})")
    arrays = {}

    def array(i):
        if not _is_index(i):
            raise CorruptFileError(f"the metadata names an array by {json.dumps(i)[:40]}")
        if i not in arrays:
            member = infos.get(_ARRAY_MEMBER.format(i))
            if member is None:
                raise CorruptFileError(f"the metadata refers to array {i}, which the file "
                                       "lacks")
            arrays[i] = _read_npy(z, member, budget)
        return arrays[i]
    return "object", _decode(meta["root"], array)


def _open_source(f):
    """(source for zipfile, whether we opened it)."""
    if hasattr(f, "read"):
        seekable = hasattr(f, "seek") and hasattr(f, "seekable") and f.seekable()
        return (f if seekable else _io.BytesIO(f.read())), False
    path = os.fspath(f)
    if not os.path.exists(path):
        raise FileNotFoundError(f"nnfast.load: no such file: {path}")
    return open(path, "rb"), True


def _read_any(source, name, map_location, weights_only):
    """What the file holds: ("object", obj) or ("pickle", payload). Every way a file can be
    malformed comes out as CorruptFileError (a ValueError); refusals to run code as
    pickle.UnpicklingError; MemoryError and I/O errors opening the file as themselves."""
    try:
        _refuse_legacy_torch(source, name)
        budget = _io_checks.Budget(_io_checks.source_size(source))
        with zipfile.ZipFile(source) as z:
            root = _io_torch.is_torch_zip(z)
            if root is not None:
                return "object", _io_torch.load_torch_zip(z, root, map_location, budget)
            return _read_nnfast(z, budget, name, weights_only)
    except CorruptFileError as e:
        raise CorruptFileError(f"nnfast.load: {name}: {e}") from None
    except MemoryError:
        raise
    except pickle.UnpicklingError as e:
        if str(e).startswith("nnfast.load:"):   # a refusal to run the file's code
            raise
        raise CorruptFileError(f"nnfast.load: {name} is corrupt (UnpicklingError: "
                               f"{str(e)[:200]})") from None
    except ValueError as e:
        if str(e).startswith("nnfast.load:"):
            raise
        raise CorruptFileError(f"nnfast.load: {name} is corrupt ({type(e).__name__}: "
                               f"{str(e)[:200]})") from None
    except zipfile.BadZipFile as e:
        raise CorruptFileError(f"nnfast.load: {name} is not an nnfast file, or is corrupt "
                               f"({e})") from None
    except Exception as e:   # noqa: BLE001 -- zipfile, zlib, struct... on damaged bytes
        raise CorruptFileError(f"nnfast.load: {name} is corrupt ({type(e).__name__}: "
                               f"{str(e)[:200]})") from None


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what save() wrote, or a state dict that torch.save wrote, from a path or a binary
    file object. Tensors come back as nnfast Tensors, arrays as arrays.

    weights_only (default True, as PyTorch >= 2.6): refuse files that need unpickling
    arbitrary objects; pass False for a whole pickled model from a trusted source.

    The file is treated as hostile (see nnfast/_io_checks.py): shapes and sizes are checked
    against its bytes before anything is allocated, inflation and nesting are bounded, and a
    malformed file raises ValueError naming it and what is wrong."""
    _check_map_location(map_location)
    weights_only = True if weights_only is None else bool(weights_only)
    name = _io_checks.file_label(f)
    source, opened = _open_source(f)
    try:
        kind, value = _read_any(source, name, map_location, weights_only)
    finally:
        if opened:
            source.close()
    if kind == "pickle":            # weights_only=False: the caller trusts the file's code
        value = pickle.loads(value, **pickle_load_args)
    return _mapped(value, map_location)


def _mapped(value, map_location):
    """value with its tensors moved as map_location says (a device, or a {from: to} dict
    whose "cpu" entry applies: files hold host data); tensors load on the CPU otherwise."""
    if isinstance(map_location, dict):
        target = map_location.get("cpu")
    elif isinstance(map_location, (str, _device_cls)):
        target = map_location
    else:
        return value
    if target is None or as_device(target).type == "cpu":
        return value
    dev = as_device(target)

    def move(v):
        if isinstance(v, Tensor):
            t = v.detach()._to_device(dev)
            t.requires_grad = v.requires_grad
            return t
        if isinstance(v, (dict, OrderedDict)):
            return type(v)((k, move(x)) for k, x in v.items())
        if isinstance(v, (list, tuple)):
            return type(v)(move(x) for x in v)
        return v
    return move(value)


def to_torch(state_dict):
    """An nnfast state dict as an OrderedDict of torch tensors (for torch's load_state_dict)."""
    import torch
    return OrderedDict((k, torch.from_numpy(np.array(to_numpy(v), copy=True)))
                       for k, v in state_dict.items())


def from_torch(state_dict):
    """A torch state dict (or any mapping of array-likes) as an OrderedDict of NumPy arrays."""
    return OrderedDict((k, np.array(to_numpy(v), copy=True)) for k, v in state_dict.items())
