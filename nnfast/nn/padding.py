"""Padding modules (torch.nn names, arguments and reprs): shells over F.pad
(nnfast/nn/_functional_misc.py). An int padding pads every side by that amount."""
from . import _functional_misc as F
from .module import Module

__all__ = ["ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d",
           "CircularPad2d", "CircularPad3d"]


def _sides(padding, k, who):
    if isinstance(padding, int):
        return (int(padding),) * (2 * k)
    padding = tuple(int(p) for p in padding)
    if len(padding) != 2 * k:
        raise ValueError(f"{who}: padding must be an int or a tuple of {2 * k} ints, got "
                         f"{padding}")
    return padding


class _Pad(Module):
    _k, _mode = 1, "constant"

    def __init__(self, padding):
        super().__init__()
        self.padding = _sides(padding, self._k, type(self).__name__)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    _k = 1


class ConstantPad2d(_ConstantPad):
    _k = 2


class ConstantPad3d(_ConstantPad):
    _k = 3


class _ZeroPad(_ConstantPad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPad):
    _k = 1


class ZeroPad2d(_ZeroPad):
    _k = 2


class ZeroPad3d(_ZeroPad):
    _k = 3


class ReflectionPad1d(_Pad):
    _k, _mode = 1, "reflect"


class ReflectionPad2d(_Pad):
    _k, _mode = 2, "reflect"


class ReflectionPad3d(_Pad):
    _k, _mode = 3, "reflect"


class ReplicationPad1d(_Pad):
    _k, _mode = 1, "replicate"


class ReplicationPad2d(_Pad):
    _k, _mode = 2, "replicate"


class ReplicationPad3d(_Pad):
    _k, _mode = 3, "replicate"


class CircularPad1d(_Pad):
    _k, _mode = 1, "circular"


class CircularPad2d(_Pad):
    _k, _mode = 2, "circular"


class CircularPad3d(_Pad):
    _k, _mode = 3, "circular"
