"""save / load: state dicts, whole training checkpoints and fitted preprocessing, atomically.

Format: one .npz file (NumPy's zip of .npy arrays, no pickle) holding every array of the
object plus a JSON description of the structure around them (dicts with str or int keys,
lists, tuples, numbers, strings, None, nnfast Tensors and NumPy arrays). Loading never
unpickles, so a checkpoint from elsewhere cannot run code.

Writes go to a temporary file in the same folder that is then renamed over the target, so a
crash mid-save leaves the previous checkpoint intact (os.replace is atomic on POSIX and
Windows).

PyTorch interop: `Module.load_state_dict` accepts torch tensors directly; `to_torch` turns an
nnfast state dict into torch tensors (needs torch installed) for `torch_model.load_state_dict`.
"""
import io as _io
import json
import os
import tempfile
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .tensor import Tensor, to_numpy

__all__ = ["save", "load", "to_torch", "from_torch"]

_FORMAT = "nnfast-save-1"


def _encode(obj, arrays):
    if isinstance(obj, Tensor):
        arrays.append(obj._storage)
        return {"__tensor__": len(arrays) - 1}
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("nnfast.save: cannot save an array of dtype object (it would need "
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
    raise TypeError(f"nnfast.save: cannot save an object of type {type(obj).__name__} "
                    "(supported: dicts, lists, tuples, numbers, strings, None, Tensors, arrays)")


def _encode_key(k):
    if isinstance(k, bool) or not isinstance(k, (str, int, np.integer)):
        raise TypeError(f"nnfast.save: dict keys must be str or int, got {type(k).__name__}")
    return k if isinstance(k, str) else {"__int__": int(k)}


def _decode(node, arrays):
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if isinstance(node, dict):
        if "__tensor__" in node:
            return Tensor._make(arrays[node["__tensor__"]])
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


def save(obj, path):
    """Save obj (a state dict, a checkpoint dict, ...) to path, atomically."""
    arrays = []
    meta = {"format": _FORMAT, "root": _encode(obj, arrays)}
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".nnfast-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr("__meta__.json", json.dumps(meta))
                for i, a in enumerate(arrays):
                    buf = _io.BytesIO()
                    np.save(buf, a, allow_pickle=False)  # np.save keeps 0-d shapes and any layout
                    z.writestr(f"a{i}.npy", buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _final_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """Load what save() wrote. Tensors come back as nnfast Tensors, arrays as arrays."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"nnfast.load: no such file: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            meta = json.loads(z.read("__meta__.json"))
            if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise ValueError(f"nnfast.load: {path} is not an nnfast file (format "
                                 f"{meta.get('format') if isinstance(meta, dict) else None!r})")
            names = sorted((n for n in z.namelist() if n.endswith(".npy")),
                           key=lambda n: int(n[1:-4]))
            arrays = [np.load(_io.BytesIO(z.read(n)), allow_pickle=False) for n in names]
        return _decode(meta["root"], arrays)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"nnfast.load: {path} is not an nnfast file ({e})") from None
    except (zlib.error, EOFError, IndexError, TypeError, ValueError) as e:
        if str(e).startswith("nnfast.load:"):
            raise
        raise ValueError(f"nnfast.load: {path} is corrupt ({type(e).__name__}: {e})") from None


def to_torch(state_dict):
    """An nnfast state dict as an OrderedDict of torch tensors (for torch's load_state_dict)."""
    import torch
    return OrderedDict((k, torch.from_numpy(np.array(to_numpy(v), copy=True)))
                       for k, v in state_dict.items())


def from_torch(state_dict):
    """A torch state dict (or any mapping of array-likes) as an OrderedDict of NumPy arrays."""
    return OrderedDict((k, np.array(to_numpy(v), copy=True)) for k, v in state_dict.items())
