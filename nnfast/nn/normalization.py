"""BatchNorm1d, BatchNorm2d, LayerNorm and GroupNorm, with PyTorch's parameters, buffers,
defaults and state_dict keys (weight, bias, running_mean, running_var, num_batches_tracked as
int64).

Deviation from PyTorch: an input that fails validation (wrong rank, channel count or
dtype) leaves num_batches_tracked alone; torch has already counted the batch when its
kernel rejects the channel count. A state_dict without num_batches_tracked (torch's
checkpoints from before version 2) is not filled in: load it with strict=False.
"""
import numbers

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor
from . import _functional_norm as FN
from .module import LayerName, Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm"]


class _BatchNorm(Module):
    _dims = ()          # accepted input ranks
    _dims_text = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None, *, bias=True):
        super().__init__()
        if num_features < 0:
            raise ValueError(f"{type(self).__name__}: num_features must be >= 0, "
                             f"got {num_features}")
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = np.dtype(dtype or np.float32)
        if affine:
            self.weight = Parameter(np.empty(num_features, dt))
            if bias:
                self.bias = Parameter(np.empty(num_features, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(num_features, dt)))
            self.register_buffer("running_var", Tensor._make(np.ones(num_features, dt)))
            self.register_buffer("num_batches_tracked",
                                 Tensor._make(np.zeros((), np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            self.running_mean._storage[...] = 0
            self.running_var._storage[...] = 1
            self.num_batches_tracked._storage[...] = 0

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            self.weight._storage[...] = 1
            if self.bias is not None:
                self.bias._storage[...] = 0

    def _who(self):
        return f"{type(self).__name__}({self.num_features})"

    def _check_input_dim(self, input):
        shape = getattr(input, "shape", None)
        if shape is not None and len(shape) not in self._dims:
            raise ShapeError(f"{self._who()}: expected {self._dims_text} input (got "
                             f"{len(shape)}D input of shape {tuple(shape)})")
        if shape is not None and shape[1] != self.num_features:
            raise ShapeError(f"{self._who()}: expected input with {self.num_features} "
                             f"channels (dim 1), got input of shape {tuple(shape)}")

    def forward(self, input):
        self._check_input_dim(input)
        who = self._who()
        use_batch_stats = self.training or (self.running_mean is None
                                            and self.running_var is None)
        rm = self.running_mean if not self.training or self.track_running_stats else None
        rv = self.running_var if not self.training or self.track_running_stats else None
        # Validate everything before counting the batch.
        FN._bn_check(input, rm, rv, self.weight, self.bias, use_batch_stats, self.eps, who)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            nbt = self.num_batches_tracked._storage
            np.add(nbt, 1, out=nbt)
            factor = 1.0 / float(nbt) if self.momentum is None else self.momentum
        return FN.batch_norm(input, rm, rv, self.weight, self.bias, use_batch_stats, factor,
                             self.eps, _who=who)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input, per channel C."""
    _dims = (2, 3)
    _dims_text = "2D or 3D"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C."""
    _dims = (4,)
    _dims_text = "4D"


class LayerNorm(Module):
    """Normalise over the trailing dims given by normalized_shape, with an elementwise
    weight and bias of that shape (elementwise_affine; bias=False drops the bias)."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dt = np.dtype(dtype or np.float32)
        if elementwise_affine:
            self.weight = Parameter(np.empty(self.normalized_shape, dt))
            if bias:
                self.bias = Parameter(np.empty(self.normalized_shape, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.elementwise_affine:
            self.weight._storage[...] = 1
            if self.bias is not None:
                self.bias._storage[...] = 0

    def forward(self, input):
        return FN.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps,
                             _who=LayerName(self))

    def _who(self):
        return f"LayerNorm({self.normalized_shape})"

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalise each sample over groups of num_channels/num_groups channels (and all the
    trailing dims), then a per-channel weight and bias (affine; bias=False drops the bias)."""

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, device=None,
                 dtype=None, *, bias=True):
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = int(num_groups)
        self.num_channels = int(num_channels)
        self.eps = eps
        self.affine = affine
        dt = np.dtype(dtype or np.float32)
        if affine:
            self.weight = Parameter(np.empty(num_channels, dt))
            if bias:
                self.bias = Parameter(np.empty(num_channels, dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.affine:
            self.weight._storage[...] = 1
            if self.bias is not None:
                self.bias._storage[...] = 0

    def forward(self, input):
        shape = getattr(input, "shape", None)
        who = LayerName(self)
        if shape is not None and len(shape) >= 2 and shape[1] != self.num_channels:
            raise ShapeError(f"{who}: expected input with {self.num_channels} channels "
                             f"(dim 1), got input of shape {tuple(shape)}")
        return FN.group_norm(input, self.num_groups, self.weight, self.bias, self.eps,
                             _who=who)

    def _who(self):
        return f"GroupNorm({self.num_groups}, {self.num_channels})"

    def extra_repr(self):
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
