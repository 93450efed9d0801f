"""Reading files that torch.save wrote, without importing torch and without running code.

A torch.save file is a zip: `<root>/data.pkl` (a pickle of the saved object) and one member
`<root>/data/<key>` per storage (the raw bytes). The pickle names storages through
persistent ids ('storage', torch.FloatStorage, key, location, numel) and rebuilds tensors
with `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`.

This reader is a restricted unpickler: it resolves only a fixed allowlist of globals (the
rebuild functions, storage classes, dtypes, torch.Size, torch.device, OrderedDict and the
codec pickle uses for bytes) to nnfast's own stand-ins, and refuses every other global with
pickle.UnpicklingError naming it. The file is treated as hostile: storage lengths are held
against the bytes actually present, and every tensor's offset, sizes and strides against its
storage, before a single element is read. Tensors come back as nnfast Tensors (copies: views
of one storage do not share memory afterwards), parameters as nnfast Parameters.

Not read: the legacy (pre-1.6, non-zip) torch format, tensor subclasses, quantized and sparse
tensors, and any Python object beyond containers, numbers, strings and bytes.
"""
import collections
import io as _io
import pickle

import numpy as np

__all__ = ["is_torch_zip", "load_torch_zip"]

# torch storage class name -> (NumPy dtype, converter name or None)
_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64, "ComplexDoubleStorage": np.complex128,
    "BFloat16Storage": "bfloat16",
}
_DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
           "float16": "float16", "half": "float16", "int64": "int64", "long": "int64",
           "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
           "int8": "int8", "uint8": "uint8", "bool": "bool", "complex64": "complex64",
           "complex128": "complex128", "bfloat16": "float32"}


def _refuse(what):
    raise pickle.UnpicklingError(
        f"nnfast.load: this torch file holds {what}, which nnfast does not load (it reads "
        "state dicts: tensors, parameters, containers, numbers and strings, and never runs "
        "code from a file)")


class _StorageType:
    """Stand-in for torch.FloatStorage & co. inside the pickle."""

    def __init__(self, name):
        self.name = name


class _Storage:
    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array   # 1-D ndarray over the storage's elements


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                    metadata=None):
    from .tensor import Tensor
    arr = _strided(storage, offset, size, stride)
    t = Tensor._make(arr)
    if requires_grad:
        if arr.dtype.kind not in "fc":
            raise pickle.UnpicklingError("nnfast.load: an integer tensor marked requires_grad")
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, hooks=None, state=None):
    from .nn.parameter import Parameter
    from .tensor import Tensor
    if not isinstance(data, Tensor):
        _refuse(f"a parameter made from {type(data).__name__}")
    return Parameter(data, bool(requires_grad))


def _strided(storage, offset, size, stride):
    """A copy of the tensor's elements, after checking the geometry against the storage."""
    if not isinstance(storage, _Storage):
        _refuse(f"a tensor over {type(storage).__name__}")
    ok_ints = all(isinstance(v, int) and not isinstance(v, bool)
                  for v in (offset, *size, *stride)) \
        and isinstance(size, tuple) and isinstance(stride, tuple)
    if not ok_ints or len(size) != len(stride) or len(size) > 64:
        raise pickle.UnpicklingError(f"nnfast.load: bad tensor geometry size={size!r} "
                                     f"stride={stride!r} offset={offset!r}")
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise pickle.UnpicklingError(f"nnfast.load: negative size, stride or offset in a "
                                     f"tensor (size={size}, stride={stride}, offset={offset})")
    base = storage.array
    n = base.shape[0]
    numel = 1
    for s in size:
        numel *= s
    if numel == 0:
        return np.zeros(size, dtype=base.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= n:
        raise pickle.UnpicklingError(
            f"nnfast.load: a tensor of size {size} (stride {stride}, offset {offset}) reads "
            f"element {last} of a storage of {n} elements: the file is corrupt")
    item = base.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(base[offset:], shape=size,
                                           strides=tuple(st * item for st in stride),
                                           writeable=False)
    return np.array(view, order="C", copy=True)


def _encode_latin1(text, encoding="latin1"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        _refuse("a _codecs.encode call other than pickle's bytes encoding")
    return text.encode("latin1")


def _size(*args):
    from .tensor import Size
    return Size(*args)


def _device(*args):
    from .device import device
    return device(*args)


def _dtype(name):
    return np.dtype(_DTYPES[name])   # nnfast's dtypes are NumPy's


def _find(module, name):
    if module == "collections" and name == "OrderedDict":
        return collections.OrderedDict
    if module == "torch._utils" and name == "_rebuild_tensor_v2":
        return _rebuild_tensor
    if module == "torch._utils" and name in ("_rebuild_parameter",
                                             "_rebuild_parameter_with_state"):
        return _rebuild_parameter
    if module == "torch" and name in _STORAGES:
        return _StorageType(name)
    if module == "torch" and name == "Size":
        return _size
    if module == "torch" and name == "device":
        return _device
    if module == "torch" and name in _DTYPES:
        return _dtype(name)
    if module == "_codecs" and name == "encode":
        return _encode_latin1
    if module == "builtins" and name in ("set", "frozenset", "complex", "slice"):
        return {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice}[name]
    raise pickle.UnpicklingError(
        f"nnfast.load: unsupported global {module}.{name} in a torch file. nnfast reads "
        "torch state dicts (tensors and containers) without running code; a whole pickled "
        "model or custom object needs torch itself to load")


class _Unpickler(pickle._Unpickler):
    """pickle's Python unpickler with globals, persistent ids and BUILD restricted."""

    def __init__(self, data, read_storage):
        super().__init__(_io.BytesIO(data))
        self._read_storage = read_storage
        self._storages = {}

    def find_class(self, module, name):
        return _find(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"nnfast.load: unsupported persistent id {pid!r:.80}")
        _, stype, key, location, numel = pid
        if not isinstance(stype, _StorageType):
            raise pickle.UnpicklingError(f"nnfast.load: unknown storage type {stype!r:.80}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError("nnfast.load: bad storage record in a torch file")
        if key not in self._storages:
            self._storages[key] = _Storage(self._read_storage(key, stype.name, numel))
        return self._storages[key]

    dispatch = dict(pickle._Unpickler.dispatch)

    def _load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        # BUILD sets attributes: allowed only for OrderedDict's `_metadata` (torch's
        # state_dict version records), never on tensors or anything else
        if not (type(inst) is collections.OrderedDict and isinstance(state, dict)
                and set(state) <= {"_metadata"}):
            _refuse(f"object state for a {type(inst).__name__}")
        inst.__dict__.update(state)

    dispatch[pickle.BUILD[0]] = _load_build

    def _refuse_op(self):
        _refuse("an extension-registry or instance-creation opcode")

    for _op in (pickle.INST, pickle.OBJ, pickle.NEWOBJ, pickle.NEWOBJ_EX, pickle.EXT1,
                pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse_op
    del _op


def is_torch_zip(z):
    """The root folder of a torch.save zip (the part before /data.pkl), or None."""
    for n in z.namelist():
        if n.endswith("/data.pkl") and n.count("/") == 1:
            return n[:-len("/data.pkl")]
    return None


def _bfloat16_to_float32(raw):
    u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return u.view(np.float32)


def load_torch_zip(z, root, map_location=None):
    names = set(z.namelist())
    order = "little"
    if f"{root}/byteorder" in names:
        order = z.read(f"{root}/byteorder").decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise pickle.UnpicklingError(f"nnfast.load: unknown byte order {order!r:.20}")

    def read_storage(key, type_name, numel):
        member = f"{root}/data/{key}"
        if member not in names:
            raise pickle.UnpicklingError(f"nnfast.load: the torch file lacks storage {key!r:.40}")
        info = z.getinfo(member)
        kind = _STORAGES[type_name]
        itemsize = 2 if kind == "bfloat16" else np.dtype(kind).itemsize
        if info.file_size != numel * itemsize:
            raise pickle.UnpicklingError(
                f"nnfast.load: storage {key} should hold {numel} elements of {itemsize} bytes "
                f"({numel * itemsize} bytes) but has {info.file_size}: the file is corrupt")
        raw = z.read(member)
        if kind == "bfloat16":
            if order == "big":
                raw = np.frombuffer(raw, ">u2").astype("<u2").tobytes()
            return _bfloat16_to_float32(raw)
        dt = np.dtype(kind).newbyteorder("<" if order == "little" else ">")
        return np.frombuffer(raw, dtype=dt).astype(np.dtype(kind).newbyteorder("="))

    try:
        return _Unpickler(z.read(f"{root}/data.pkl"), read_storage).load()
    except pickle.UnpicklingError:
        raise
    except (EOFError, IndexError, KeyError, TypeError, ValueError, AttributeError,
            RecursionError, OverflowError, MemoryError) as e:
        raise pickle.UnpicklingError(f"nnfast.load: corrupt torch file "
                                     f"({type(e).__name__}: {str(e)[:200]})") from None
