"""Reading files that torch.save wrote, without importing torch and without running code.

A torch.save file is a zip: `<root>/data.pkl` (a pickle of the saved object) and one member
`<root>/data/<key>` per storage (the raw bytes). The pickle names storages through
persistent ids ('storage', torch.FloatStorage, key, location, numel) and rebuilds tensors
with `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`.

This reader is a restricted unpickler: it resolves only a fixed allowlist of globals (the
rebuild functions, storage classes, dtypes, torch.Size, torch.device, OrderedDict and the
codec pickle uses for bytes) to nnfast's own stand-ins, and refuses every other global with
pickle.UnpicklingError naming it. The file is treated as hostile: storage lengths are held
against the bytes actually present, every member against the file's inflation budget, every
tensor's offset, sizes and strides against its storage, and the bytes a tensor's copy needs
against the same budget, before a single element is read; the result's nesting is bounded
(nnfast/_io_checks.py). A malformed file raises CorruptFileError (a ValueError and an
UnpicklingError). Tensors come back as nnfast Tensors (a tensor covering its whole storage
takes it; other views of one storage are copies, so they do not share memory afterwards),
parameters as nnfast Parameters.

Not read: the legacy (pre-1.6, non-zip) torch format, tensor subclasses, quantized and sparse
tensors, and any Python object beyond containers, numbers, strings and bytes.
"""
import collections
import io as _io
import pickle

import numpy as np

from . import _io_checks
from ._io_checks import CorruptFileError

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
    __slots__ = ("array", "taken")

    def __init__(self, array):
        self.array = array   # 1-D ndarray over the storage's elements
        self.taken = False   # handed out whole to a tensor: later views copy


def _make_rebuild_tensor(budget):
    def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None,
                       metadata=None):
        from .tensor import Tensor
        arr = _strided(storage, offset, size, stride, budget)
        t = Tensor._make(arr)
        if requires_grad:
            if arr.dtype.kind not in "fc":
                raise CorruptFileError("an integer tensor is marked requires_grad")
            t.requires_grad_(True)
        return t
    return rebuild_tensor


def _rebuild_parameter(data, requires_grad, hooks=None, state=None):
    from .nn.parameter import Parameter
    from .tensor import Tensor
    if not isinstance(data, Tensor):
        _refuse(f"a parameter made from {type(data).__name__}")
    return Parameter(data, bool(requires_grad))


def _contiguous_strides(size):
    out, step = [], 1
    for s in reversed(size):
        out.append(step)
        step *= s
    return tuple(reversed(out))


def _strided(storage, offset, size, stride, budget):
    """The tensor's elements, after checking the geometry against the storage and the copy's
    size against the budget: the storage itself when the tensor covers all of it, C-ordered
    and it is the first to, else a copy."""
    if not isinstance(storage, _Storage):
        _refuse(f"a tensor over {type(storage).__name__}")
    ok_ints = all(isinstance(v, int) and not isinstance(v, bool)
                  for v in (offset, *size, *stride)) \
        and isinstance(size, tuple) and isinstance(stride, tuple)
    if not ok_ints or len(size) != len(stride) or len(size) > 64:
        raise CorruptFileError(f"bad tensor geometry size={size!r:.100} stride={stride!r:.100} "
                               f"offset={offset!r:.40}")
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CorruptFileError(f"negative size, stride or offset in a tensor (size={size}, "
                               f"stride={stride}, offset={offset})")
    base = storage.array
    n = base.shape[0]
    numel = 1
    for s in size:
        numel *= s
    if numel == 0:
        return np.zeros(size, dtype=base.dtype)
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= n:
        raise CorruptFileError(
            f"a tensor of size {size} (stride {stride}, offset {offset}) reads element {last} "
            f"of a storage of {n} elements: the file is corrupt")
    if (offset == 0 and numel == n and not storage.taken
            and all(sz == 1 or st == c for sz, st, c in zip(size, stride,
                                                            _contiguous_strides(size)))):
        storage.taken = True
        return base.reshape(size)
    item = base.dtype.itemsize
    budget.take(numel * item, f"a tensor of size {size} ({numel} elements of {item} bytes, "
                              f"from a storage of {n})")
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
    """pickle's Python unpickler with globals, persistent ids and BUILD restricted. It keeps
    its own stack (no recursion however deep the pickle nests)."""

    def __init__(self, data, read_storage, budget):
        super().__init__(_io.BytesIO(data))
        self._read_storage = read_storage
        self._storages = {}
        self._rebuild_tensor = _make_rebuild_tensor(budget)

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor
        return _find(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CorruptFileError(f"unsupported persistent id {pid!r:.80}")
        _, stype, key, location, numel = pid
        if not isinstance(stype, _StorageType):
            raise CorruptFileError(f"unknown storage type {stype!r:.80}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise CorruptFileError("bad storage record in a torch file")
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


def load_torch_zip(z, root, map_location=None, budget=None):
    """The object in a torch.save zip. budget: the file's _io_checks.Budget (io.load makes
    it from the file's size); every member read and every tensor copied is charged to it."""
    if budget is None:
        budget = _io_checks.Budget(max(i.header_offset + i.compress_size
                                       for i in z.infolist()))
    names = {i.filename: i for i in z.infolist()}
    order = "little"
    if f"{root}/byteorder" in names:
        raw = _io_checks.read_member(z, names[f"{root}/byteorder"], budget)
        order = raw.decode("ascii", "replace").strip()
        if order not in ("little", "big"):
            raise CorruptFileError(f"unknown byte order {order!r:.20}")

    def read_storage(key, type_name, numel):
        member = f"{root}/data/{key}"
        if member not in names:
            raise CorruptFileError(f"the torch file lacks storage {key!r:.40}")
        info = names[member]
        kind = _STORAGES[type_name]
        itemsize = 2 if kind == "bfloat16" else np.dtype(kind).itemsize
        if info.file_size != numel * itemsize:
            raise CorruptFileError(
                f"storage {key} should hold {numel} elements of {itemsize} bytes "
                f"({numel * itemsize} bytes) but has {info.file_size}: the file is corrupt")
        budget.check_member(info)
        end = "<" if order == "little" else ">"
        file_dtype = np.dtype(end + "u2") if kind == "bfloat16" \
            else np.dtype(kind).newbyteorder(end)
        arr = np.empty(numel, file_dtype)
        with z.open(info) as f:
            _io_checks.read_into(f, arr, f"storage {member}")
        if not arr.dtype.isnative:
            arr = arr.byteswap(inplace=True).view(arr.dtype.newbyteorder("="))
        if kind == "bfloat16":    # the top half of a float32
            budget.take(numel * 4, f"storage {member} widened to float32")
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr

    pkl = f"{root}/data.pkl"
    obj = _Unpickler(_io_checks.read_member(z, names[pkl], budget), read_storage,
                     budget).load()
    _io_checks.check_depth(obj, "the torch file's object")
    return obj
