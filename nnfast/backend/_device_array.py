"""The base class of every non-NumPy storage, importable without any GPU library.

Tensor and the seam test `isinstance(arr, DeviceArray)` to tell device storage from host
arrays without importing the backend that made it.
"""


class DeviceArray:
    __slots__ = ()
    device = None   # the nf.device the memory lives on (set by each subclass)
