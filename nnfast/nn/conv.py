"""Conv1d, Conv2d, ConvTranspose1d and ConvTranspose2d: PyTorch's parameters, attributes,
defaults, init and printing, over the functionals of _functional_conv*.py (all on the Conv2d
kernels of csrc/conv.c)."""
import math

import numpy as np

from . import functional as F
from . import init
from .module import LayerName, Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]


def _ntuple(v, n, name, cls):
    if isinstance(v, (tuple, list)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            what = "an int or a pair of ints" if n == 2 else "an int or a 1-tuple"
            raise ValueError(f"{cls}: {name} must be {what}, got {v!r}")
        return tuple(int(e) for e in v)
    return (int(v),) * n


class _ConvNd(Module):
    _n = 2
    _transposed = False
    _modes = ("zeros", "reflect", "replicate", "circular")

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, padding_mode, output_padding=0, dtype=None):
        super().__init__()
        cls, n = type(self).__name__, self._n
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError(f"in_channels must be divisible by groups (in_channels="
                             f"{in_channels}, groups={groups})")
        if out_channels % groups != 0:
            raise ValueError(f"out_channels must be divisible by groups (out_channels="
                             f"{out_channels}, groups={groups})")
        kernel_size = _ntuple(kernel_size, n, "kernel_size", cls)
        stride = _ntuple(stride, n, "stride", cls)
        dilation = _ntuple(dilation, n, "dilation", cls)
        if min(kernel_size) < 1:
            raise ValueError(f"{cls}: kernel_size must be positive, got {kernel_size}")
        if min(stride) < 1:
            raise ValueError(f"{cls}: stride must be positive, got {stride}")
        if min(dilation) < 1:
            raise ValueError(f"{cls}: dilation must be positive, got {dilation}")
        if isinstance(padding, str) and not self._transposed:
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and stride != (1,) * n:
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, n, "padding", cls)
            if min(padding) < 0:
                raise ValueError(f"{cls}: negative padding is not supported, got {padding}")
        if padding_mode not in self._modes:
            raise ValueError(f"padding_mode must be one of {list(self._modes)}, but got "
                             f"padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            if self._transposed:
                raise ValueError(f'Only "zeros" padding mode is supported for {cls}')
            raise NotImplementedError(f"{cls}: padding_mode={padding_mode!r} is not "
                                      "implemented in nnfast (only 'zeros')")
        output_padding = _ntuple(output_padding, n, "output_padding", cls)
        if self._transposed:
            for op, s, d in zip(output_padding, stride, dilation):
                if op < 0 or (op >= s and op >= d):
                    raise ValueError(f"{cls}: output padding must be smaller than either "
                                     f"stride or dilation, got output_padding="
                                     f"{output_padding}, stride={stride}, dilation={dilation}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.padding_mode = padding_mode
        self.transposed = self._transposed
        self.output_padding = output_padding
        dt = np.dtype(dtype or np.float32)
        if self._transposed:   # torch's layout: (in, out/groups, *kernel)
            shape = (in_channels, out_channels // groups) + kernel_size
        else:
            shape = (out_channels, in_channels // groups) + kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dt))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dt))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's: kaiming_uniform(a=sqrt(5)) -> U(+-1/sqrt(fan_in)); bias U(+-1/sqrt(fan_in)),
        # fan_in from the weight's dim 1 (so out/groups * kernel for the transposed ones).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in != 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def _who(self):
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self):
        n = self._n
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"    # torch prints padding=same unquoted
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv1d(_ConvNd):
    """y = conv1d(x, weight) + bias over (N, C, L) or (C, L) input, weight (out_channels,
    in_channels/groups, kL). padding: int, 1-tuple, "valid" or "same" (stride 1)."""
    _n = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, input):
        return F.conv1d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups, _who=LayerName(self))


class Conv2d(_ConvNd):
    """y = conv2d(x, weight) + bias with weight (out_channels, in_channels/groups, kH, kW).

    padding: int, pair, "valid" or "same" (stride 1 only; the extra pixel of an odd total goes
    to the bottom/right, as in PyTorch). Only padding_mode="zeros" is implemented."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True, padding_mode="zeros", device=None,
                 dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding,
                        self.dilation, self.groups, _who=LayerName(self))


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def _output_padding(self, input, output_size):
        """torch's rule: the output_padding that makes the output output_size (the trailing
        spatial sizes of it are used), checked against the reachable range."""
        if output_size is None:
            return self.output_padding
        n = self._n
        size = [int(v) for v in output_size]
        if len(size) > n:
            size = size[-n:]
        if len(size) != n:
            raise ValueError(f"{self._who()}: output_size must have {n} or {n + 2} elements "
                             f"(got {len(output_size)})")
        spatial = input.shape[-n:]
        res = []
        for i in range(n):
            lo = ((spatial[i] - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + self.stride[i] - 1
            if not lo <= size[i] <= hi:
                raise ValueError(f"{self._who()}: requested an output size of {size}, but "
                                 f"valid sizes range from {lo} to {hi} (for an input of "
                                 f"{list(spatial)})")
            res.append(size[i] - lo)
        return tuple(res)


class ConvTranspose1d(_ConvTransposeNd):
    """The adjoint of Conv1d: weight (in_channels, out_channels/groups, kL)."""
    _n = 1

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose1d(input, self.weight, self.bias, self.stride, self.padding,
                                  op, self.groups, self.dilation, _who=LayerName(self))


class ConvTranspose2d(_ConvTransposeNd):
    """The adjoint of Conv2d (sometimes called a deconvolution): weight (in_channels,
    out_channels/groups, kH, kW); H_out = (H-1)*stride - 2*padding + dilation*(kH-1) +
    output_padding + 1."""

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  op, self.groups, self.dilation, _who=LayerName(self))
