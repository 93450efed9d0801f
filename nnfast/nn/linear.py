"""Linear, Identity, Flatten and Unflatten."""
import math

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import LayerName, Module
from .parameter import Parameter


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight^T + bias, weight of shape (out_features, in_features) as in PyTorch."""

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: feature counts must be >= 0, got in_features="
                             f"{in_features}, out_features={out_features}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's default: kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        p = self._parameters   # (not self.weight: Module.__getattr__ costs a call a read)
        w, b = p.get("weight"), p.get("bias")
        if w is None:   # replaced by a plain attribute (a parametrization, weight norm)
            w = self.weight
        if b is None and "bias" not in p:
            b = self.bias
        return F.linear(input, w, b, _who=LayerName(self))

    def _who(self):
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        # an ndarray as every other layer takes one (Linear's rule; ndarray.flatten differs)
        x = input if isinstance(input, Tensor) else F._as_tensor(input, "Flatten")
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension `dim` into `unflattened_size` (one entry may be -1)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        if not isinstance(dim, int):
            raise TypeError(f"Unflatten: dim must be an int, got {type(dim).__name__}")
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) for s in unflattened_size):
            raise TypeError("unflattened_size must be a tuple of ints, but found type "
                            f"{type(unflattened_size).__name__}")
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        x = input if isinstance(input, Tensor) else F._as_tensor(input, "Unflatten")
        shape = tuple(x.shape)
        d = self.dim % len(shape) if shape else 0
        if not -len(shape) <= self.dim < len(shape):
            raise IndexError(f"Dimension out of range (expected to be in range of "
                             f"[{-len(shape)}, {len(shape) - 1}], but got {self.dim})")
        sizes = list(self.unflattened_size)
        known = math.prod(s for s in sizes if s != -1)
        if sizes.count(-1) > 1 or (sizes.count(-1) == 0 and known != shape[d]) or \
                (sizes.count(-1) == 1 and (known == 0 or shape[d] % known)):
            raise ShapeError(f"unflatten: Provided sizes {sizes} don't multiply up to the size "
                             f"of dim {self.dim} ({shape[d]}) in the input tensor")
        # the -1 resolved here: reshape cannot infer it when another dimension is 0 (an
        # empty batch), although this dimension's size says what it is
        sizes = [shape[d] // known if s == -1 else s for s in sizes]
        return x.reshape(shape[:d] + tuple(sizes) + shape[d + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
