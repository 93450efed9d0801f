"""dtype queries and rules: finfo, iinfo, promote_types, result_type, can_cast, is_tensor,
is_floating_point, numel (torch's names, fields and answers).

nnfast's dtypes are NumPy dtypes; promotion follows PyTorch, not NumPy: the operand of the
higher category (bool < integer < floating) decides, so int64 with float16 is float16.
"""
import builtins
import numbers

import numpy as np

from ..tensor import Tensor, _as_dtype, _MissingDtype, bfloat16, bool_
from .core import _category, _promote, _tensor_like

_BF16 = dict(bits=16, eps=0.0078125, max=3.3895313892515355e+38,
             min=-3.3895313892515355e+38, tiny=1.1754943508222875e-38,
             smallest_normal=1.1754943508222875e-38, resolution=0.01)


def _g(v):
    return f"{v:g}"


class finfo:
    """Machine limits of a floating dtype (default: nnfast.get_default_dtype())."""

    def __init__(self, type=None):   # noqa: A002 - torch's argument name
        if isinstance(type, _MissingDtype) and type is bfloat16:
            self.__dict__.update(_BF16, dtype="bfloat16")
            return
        if type is None:
            from ..tensor import get_default_dtype
            type = get_default_dtype()
        dt = _as_dtype(type)
        if dt.kind != "f":
            raise TypeError("torch.finfo() requires a floating point input type. Use "
                            "torch.iinfo to handle 'torch.finfo'")
        f = np.finfo(dt)
        self.bits = int(f.bits)
        self.eps = float(f.eps)
        self.max = float(f.max)
        self.min = float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)
        self.dtype = str(dt)

    def __eq__(self, other):
        return isinstance(other, finfo) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash(self.dtype)

    def __repr__(self):
        return (f"finfo(resolution={_g(self.resolution)}, min={_g(self.min)}, "
                f"max={_g(self.max)}, eps={_g(self.eps)}, "
                f"smallest_normal={_g(self.smallest_normal)}, tiny={_g(self.tiny)}, "
                f"dtype={self.dtype})")


class iinfo:
    """Limits of an integer dtype."""

    def __init__(self, type):   # noqa: A002
        dt = _as_dtype(type)
        if dt == bool_:
            raise TypeError("torch.bool is not supported by torch.iinfo")
        if dt.kind not in "iu":
            raise TypeError("torch.iinfo() requires an integer input type. Use torch.finfo "
                            "to handle 'torch.iinfo'")
        i = np.iinfo(dt)
        self.bits = int(i.bits)
        self.max = int(i.max)
        self.min = int(i.min)
        self.dtype = str(dt)

    def __eq__(self, other):
        return isinstance(other, iinfo) and self.__dict__ == other.__dict__

    def __hash__(self):
        return hash(self.dtype)

    def __repr__(self):
        return f"iinfo(min={_g(float(self.min))}, max={_g(float(self.max))}, dtype={self.dtype})"


def is_tensor(obj):
    return isinstance(obj, Tensor)


def _need_tensor(x, who):
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}(): argument 'input' (position 1) must be Tensor, not "
                        f"{builtins.type(x).__name__}")


def is_floating_point(input):
    _need_tensor(input, "is_floating_point")
    return input.dtype.kind == "f"


def is_complex(input):
    _need_tensor(input, "is_complex")
    return input.dtype.kind == "c"


def numel(input):
    _need_tensor(input, "numel")
    return input.numel()


def promote_types(type1, type2):
    """The dtype both promote to: the higher category wins, within one the wider type."""
    a, b = _as_dtype(type1), _as_dtype(type2)
    if a == b:
        return a
    ca, cb = _category(a), _category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def result_type(tensor1, tensor2):
    """The dtype of an arithmetic op on these operands (tensors or Python numbers)."""
    for x in (tensor1, tensor2):
        if not isinstance(x, (Tensor, numbers.Number)):
            raise TypeError(f"result_type(): expected a Tensor or a Number, got "
                            f"{builtins.type(x).__name__}")
    a, b = tensor1, tensor2
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        from .creation import tensor
        a, b = tensor(a), tensor(b)
        return _promote(a._storage, b._storage)
    if not isinstance(a, Tensor):
        a = _tensor_like(a, b)
    if not isinstance(b, Tensor):
        b = _tensor_like(b, a)
    return _promote(a._storage, b._storage)


def can_cast(from_, to):
    """Whether PyTorch casts from_ to `to` in type promotion (no float to int, nothing to
    bool but bool, no complex to real)."""
    a, b = _as_dtype(from_), _as_dtype(to)
    return _category(a) <= _category(b) and not (a.kind == "c" and b.kind != "c") and \
        (b != bool_ or a == bool_)


# torch.dtype: what nnfast's dtypes are (isinstance checks, annotations)
dtype = np.dtype

PUBLIC = {"dtype": dtype, "finfo": finfo, "iinfo": iinfo, "is_tensor": is_tensor,
          "is_floating_point": is_floating_point, "is_complex": is_complex, "numel": numel,
          "promote_types": promote_types, "result_type": result_type, "can_cast": can_cast}
