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
