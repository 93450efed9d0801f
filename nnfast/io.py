"""save / load: state dicts, whole training checkpoints and fitted preprocessing, atomically.

Format: one .npz file (NumPy's zip of .npy arrays, no pickle) holding every array of the
object plus a JSON description of the structure around them (dicts with str or int keys,
lists, tuples, numbers, strings, None, nnfast Tensors and NumPy arrays). Loading never
unpickles, so a checkpoint from elsewhere cannot run code.

Writes go to a temporary file in the same folder that is then renamed over the target, so a
crash mid-save leaves the previous checkpoint intact (os.replace is atomic on POSIX and
Windows).

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
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from . import _io_torch
from .device import as_device, check_available
from .tensor import Tensor, to_numpy

__all__ = ["save", "load", "to_torch", "from_torch"]

_FORMAT = "nnfast-save-1"
_PICKLE_FORMAT = "nnfast-pickle-1"


class _NeedsPickle(TypeError):
    """The object holds something the safe format cannot encode."""


def _encode(obj, arrays):
    if isinstance(obj, Tensor):
        arrays.append(obj._storage)
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
    if isinstance(obj, dict):
        items = [[_encode_key(k), _encode(v, arrays)] for k, v in obj.items()]
        return {"__odict__" if isinstance(obj, OrderedDict) else "__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, arrays) for v in obj]
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


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            t = Tensor._make(arrays[node["__tensor__"]])
            if node.get("param"):
                from .nn.parameter import Parameter
                return Parameter(t, bool(node.get("requires_grad")))
            if node.get("requires_grad") and t.dtype.kind in "fc":
                t.requires_grad_(True)
            return t
        if "__array__" in node:
            return arrays[node["__array__"]]
        if "__tuple__" in node:
            return tuple(_decode(v, arrays) for v in node["__tuple__"])
        if "__float__" in node:
            return float(node["__float__"])
        kind = OrderedDict if "__odict__" in node else dict
        items = node.get("__odict__", node.get("__dict__"))
        return kind((k["__int__"] if isinstance(k, dict) else k, _decode(v, arrays))
                    for k, v in items)
    return node


def _final_mode(path):
    """The file's mode after the rename: the replaced file's, or what open() would give
    (0666 less the umask) -- mkstemp's 0600 would make checkpoints unreadable to others."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _zip_bytes(obj, pickle_protocol):
    """The file's bytes: the safe format when obj fits it, else a pickle in the same zip."""
    arrays = []
    try:
        meta = {"format": _FORMAT, "root": _encode(obj, arrays)}
        payload = None
    except _NeedsPickle:
        meta = {"format": _PICKLE_FORMAT, "type": type(obj).__qualname__}
        try:
            payload = pickle.dumps(obj, protocol=max(2, pickle_protocol))
        except (pickle.PicklingError, AttributeError, TypeError) as e:
            raise TypeError(f"nnfast.save: cannot save an object of type "
                            f"{type(obj).__name__}: {e}") from None
    buf = _io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("__meta__.json", json.dumps(meta))
        if payload is not None:
            z.writestr("data.pkl", payload)
        for i, a in enumerate(arrays):
            b = _io.BytesIO()
            np.save(b, a, allow_pickle=False)  # np.save keeps 0-d shapes and any layout
            z.writestr(f"a{i}.npy", b.getvalue())
    return buf.getvalue()


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save obj (a state dict, a checkpoint dict, a whole model...) to f: a path (written
    atomically) or a binary file object. State dicts and checkpoints use the safe format;
    anything else is pickled (and needs load(..., weights_only=False) to come back)."""
    if pickle_module is not None and pickle_module is not pickle:
        raise TypeError("nnfast.save: only the standard pickle module is supported")
    data = _zip_bytes(obj, pickle_protocol)
    if hasattr(f, "write"):
        f.write(data)
        if hasattr(f, "flush"):
            f.flush()
        return
    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nnfast-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _check_map_location(map_location):
    """Only CPU targets exist here; a map onto CUDA (or another device) raises."""
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
    if isinstance(source, str):
        with open(source, "rb") as fh:
            head = fh.read(len(_TORCH_LEGACY_MAGIC))
    else:
        pos = source.tell()
        head = source.read(len(_TORCH_LEGACY_MAGIC))
        source.seek(pos)
    if head == _TORCH_LEGACY_MAGIC:
        raise ValueError(f"nnfast.load: {name} is in torch's legacy format (saved with "
                         "_use_new_zipfile_serialization=False); nnfast reads torch's zip "
                         "format: load it with torch and torch.save it again")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None,
         **pickle_load_args):
    """Load what save() wrote, or a state dict that torch.save wrote, from a path or a binary
    file object. Tensors come back as nnfast Tensors, arrays as arrays.

    weights_only (default True, as PyTorch >= 2.6): refuse files that need unpickling
    arbitrary objects; pass False for a whole pickled model from a trusted source."""
    _check_map_location(map_location)
    weights_only = True if weights_only is None else bool(weights_only)
    if hasattr(f, "read"):
        name = getattr(f, "name", "the file object")
        source = f if hasattr(f, "seek") and hasattr(f, "seekable") and f.seekable() \
            else _io.BytesIO(f.read())
    else:
        name = os.fspath(f)
        if not os.path.exists(name):
            raise FileNotFoundError(f"nnfast.load: no such file: {name}")
        source = name
    _refuse_legacy_torch(source, name)
    try:
        with zipfile.ZipFile(source) as z:
            root = _io_torch.is_torch_zip(z)
            if root is not None:
                return _io_torch.load_torch_zip(z, root, map_location)
            meta = json.loads(z.read("__meta__.json"))
            fmt = meta.get("format") if isinstance(meta, dict) else None
            if fmt == _PICKLE_FORMAT:
                if weights_only:
                    raise _pickle_refused(name)
                return pickle.loads(z.read("data.pkl"), **pickle_load_args)
            if fmt != _FORMAT:
                raise ValueError(f"nnfast.load: {name} is not an nnfast file (format {fmt!r})")
            names = sorted((n for n in z.namelist() if n.endswith(".npy")),
                           key=lambda n: int(n[1:-4]))
            arrays = [np.load(_io.BytesIO(z.read(n)), allow_pickle=False) for n in names]
        return _decode(meta["root"], arrays)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"nnfast.load: {name} is not an nnfast file ({e})") from None
    except (zlib.error, EOFError, IndexError, TypeError, ValueError) as e:
        if str(e).startswith("nnfast.load:"):
            raise
        raise ValueError(f"nnfast.load: {name} is corrupt ({type(e).__name__}: {e})") from None


def to_torch(state_dict):
    """An nnfast state dict as an OrderedDict of torch tensors (for torch's load_state_dict)."""
    import torch
    return OrderedDict((k, torch.from_numpy(np.array(to_numpy(v), copy=True)))
                       for k, v in state_dict.items())


def from_torch(state_dict):
    """A torch state dict (or any mapping of array-likes) as an OrderedDict of NumPy arrays."""
    return OrderedDict((k, np.array(to_numpy(v), copy=True)) for k, v in state_dict.items())
