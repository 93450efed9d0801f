"""Max, average and adaptive pooling in 1-D and 2-D (PyTorch's arguments, defaults, rules and
printing); the 1-D layers run the 2-D kernels on a height of 1."""
from . import functional as F
from ._functional_conv import _pool_args
from .module import LayerName, Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        # fail at construction, not at the first batch
        _pool_args(self._who(), kernel_size, stride, padding, dilation)

    def forward(self, input):
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
                            _who=LayerName(self))

    def _who(self):
        return f"MaxPool2d({self.extra_repr()})"

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override
        _pool_args(self._who(), kernel_size, stride, padding, 1)

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override, _who=LayerName(self))

    def _who(self):
        return f"AvgPool2d({self.extra_repr()})"

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool(Module):
    """Pooling to a fixed output size; subclasses name the functional (`_fn`)."""
    _fn = None

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return type(self)._fn(input, self.output_size, _who=LayerName(self))

    def _who(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _AdaptiveMaxPool(_AdaptivePool):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input):
        return type(self)._fn(input, self.output_size, self.return_indices, _who=LayerName(self))


class AdaptiveAvgPool2d(_AdaptivePool):
    _fn = staticmethod(F.adaptive_avg_pool2d)


class MaxPool1d(MaxPool2d):
    """1-D max pooling over (N, C, L) or (C, L) input (the 2-D kernel on a height of 1)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        Module.__init__(self)
        self.kernel_size = kernel_size
        self.stride = stride if (stride is not None) else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode
        _pool1d_check(self._who(), kernel_size, self.stride, padding, dilation)

    def forward(self, input):
        return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
                            _who=LayerName(self))

    def _who(self):
        return f"MaxPool1d({self.extra_repr()})"


def _one(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _pool1d_check(who, kernel_size, stride, padding, dilation):
    from ._functional_conv1d import _pool1
    k = _pool1(kernel_size, "kernel_size", who)
    s = _pool1(stride, "stride", who, k)
    p = _pool1(padding, "padding", who)
    d = _pool1(dilation, "dilation", who)
    _pool_args(who, (1, k), (1, s), (0, p), (1, d))


class AvgPool1d(Module):
    """1-D average pooling over (N, C, L) or (C, L) input."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        self.kernel_size = _one(kernel_size)
        self.stride = _one(stride if (stride is not None and stride != []) else kernel_size)
        self.padding = _one(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        _pool1d_check(self._who(), self.kernel_size, self.stride, self.padding, 1)

    def forward(self, input):
        return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, _who=LayerName(self))

    def _who(self):
        return f"AvgPool1d({self.extra_repr()})"

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool1d(_AdaptivePool):
    _fn = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveMaxPool1d(_AdaptiveMaxPool):
    _fn = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPool):
    _fn = staticmethod(F.adaptive_max_pool2d)