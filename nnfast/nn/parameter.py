"""Parameter: a leaf Tensor that a Module registers as learnable."""
import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    __slots__ = ()

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._storage  # shares storage, as torch.nn.Parameter(tensor) does
        else:
            arr = np.asarray(data)
            if arr.dtype.kind != "f":
                arr = arr.astype(np.float32)
        self._init(arr, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol):
        # a pickled Parameter comes back a Parameter (Tensor's reduction would give a Tensor)
        return (_rebuild_parameter, (self._storage, self.requires_grad))


def _rebuild_parameter(arr, requires_grad):
    return Parameter(Tensor._make(arr), requires_grad)


class Buffer(Tensor):
    """A tensor that registers as a buffer when assigned to a Module attribute (torch's
    nn.Buffer); persistent=False keeps it out of state_dict. The module stores a plain
    Tensor on the same storage."""
    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent=True):
        if data is None:
            arr = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            arr = data._storage
        else:
            arr = np.asarray(data)
        self._init(arr, False)
        self.persistent = persistent
