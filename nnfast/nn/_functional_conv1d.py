"""conv1d, the 1-D pools and adaptive max pooling: the functional forms (torch's names, rules
and error types).

The 1-D forms run the 2-D kernels (csrc/conv.c, csrc/pool.c) on a height-1 view of the input,
(N, C, L) -> (N, C, 1, L): no copy, and one autograd node per call, as conv2d. The height-1
im2col takes the same row loops as a 2-D call with a one-row image, so no separate kernel is
needed. Adaptive max pooling has its own forward kernel (nf_adaptive_max_pool2d_forward); its
backward is max pooling's scatter by argmax. float64 runs the NumPy references of
_functional_conv.py.
"""
import numpy as np

from ..backend import contiguous
from ..backend import table_of
from ..errors import DTypeError, ShapeError
from ._functional_conv import (_adaptive_bounds, _adaptive_out, _batched, _conv_padding, _conv_run,
                               _float_input, _is_int, _max_pool_result, _pool_input, _tensor,
                               adaptive_avg_pool2d, avg_pool2d, max_pool2d)

__all__ = ["conv1d", "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"]


def _single(v, name, who):
    """An int or a 1-sequence of ints -> int (torch's _single)."""
    if _is_int(v):
        return int(v)
    if isinstance(v, (tuple, list)) and len(v) == 1 and _is_int(v[0]):
        return int(v[0])
    raise ShapeError(f"{who}: expected {name} to be a single integer value or a list of 1 "
                     f"values to match the convolution dimensions, but got {name}={v!r}")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           _who="conv1d"):
    """1-D convolution (cross-correlation) of input (N, C, L) or (C, L) with weight
    (out_channels, C/groups, kL), as torch.nn.functional.conv1d; padding an int, a 1-tuple,
    'valid' or 'same' (stride 1; the odd pixel of 'same' goes to the right)."""
    who = _who
    x = _tensor(input, who)
    w = _tensor(weight, who)
    xd, wd = x._storage, w._storage
    _float_input(xd, who)
    if wd.ndim != 3:
        raise ShapeError(f"{who}: weight must be 3-D (out_channels, in_channels/groups, kL), "
                         f"got shape {wd.shape}")
    if xd.ndim not in (2, 3):
        raise ShapeError(f"{who}: Expected 2D (unbatched) or 3D (batched) input to conv1d, "
                         f"but got input of shape {xd.shape}")
    if xd.dtype != wd.dtype:
        raise DTypeError(f"{who}: input has dtype {xd.dtype} but the weight is {wd.dtype}; "
                         "convert the input with .float() (or the model with .double())")
    if not _is_int(groups) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive integer, got {groups!r}")
    s = _single(stride, "stride", who)
    d = _single(dilation, "dilation", who)
    if s < 1:
        raise ValueError(f"{who}: stride must be positive, got {s}")
    if d < 1:
        raise ValueError(f"{who}: dilation must be positive, got {d}")
    if not isinstance(padding, str):
        padding = _single(padding, "padding", who)
        if padding < 0:
            raise ValueError(f"{who}: negative padding is not supported, got {padding}")
    x4, unbatched = _batched(xd[..., None, :], who, "conv1d")
    N, C, _, L = x4.shape
    OC, Cg, K = wd.shape
    if OC % groups:
        raise ShapeError(f"{who}: out_channels ({OC}, the weight's first dimension) must be "
                         f"divisible by groups={groups}")
    if C != Cg * groups:
        raise ShapeError(f"{who}: expected input with {Cg * groups} channels (weight of shape "
                         f"{wd.shape}, groups={groups}), got input of shape {xd.shape}")
    if bias is not None:
        bias = _tensor(bias, who)
        if bias._storage.shape != (OC,):
            raise ShapeError(f"{who}: bias must have shape ({OC},), got {bias._storage.shape}")
        if bias._storage.dtype != wd.dtype:
            raise DTypeError(f"{who}: bias has dtype {bias._storage.dtype} but the weight is "
                             f"{wd.dtype}")
    if isinstance(padding, str):
        _, _, pl, pr = _conv_padding(padding, (1, K), (1, d), (1, s), who)
    else:
        pl = pr = padding
    e = d * (K - 1) + 1
    if L + pl + pr < e:
        raise ShapeError(f"{who}: padded input length ({L + pl + pr}) is smaller than the "
                         f"kernel ({e}, dilation {d}); input of shape {xd.shape}")
    OL = (L + pl + pr - e) // s + 1
    geom = (N, C, 1, L, OC, 1, K, 1, OL, 1, s, 0, pl, 1, d, groups)
    return _conv_run(x, w, bias, x4, wd[:, :, None, :], unbatched, geom, (0, 0, pl, pr),
                     (1, s), (1, d), groups, one_d=True)


# ------------------------------------------------------------------------------ 1-D pools

def _pool1(v, name, who, default=None):
    if v is None or (isinstance(v, (tuple, list)) and len(v) == 0):
        return default
    if _is_int(v):
        return int(v)
    if isinstance(v, (tuple, list)) and len(v) == 1 and _is_int(v[0]):
        return int(v[0])
    raise ValueError(f"{who}: {name} must be an int or a 1-tuple of ints, got {v!r}")


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, _who="max_pool1d"):
    """1-D max pooling over (N, C, L) or (C, L); indices are positions along L."""
    k = _pool1(kernel_size, "kernel_size", _who)
    s = _pool1(stride, "stride", _who, k)
    p = _pool1(padding, "padding", _who)
    d = _pool1(dilation, "dilation", _who)
    return max_pool2d(input, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices,
                      _who=_who, _one_d=True)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, _who="avg_pool1d"):
    """1-D average pooling over (N, C, L) or (C, L)."""
    k = _pool1(kernel_size, "kernel_size", _who)
    s = _pool1(stride, "stride", _who, k)
    p = _pool1(padding, "padding", _who)
    return avg_pool2d(input, (1, k), (1, s), (0, p), ceil_mode, count_include_pad, None,
                      _who=_who, _one_d=True)


def adaptive_avg_pool1d(input, output_size, _who="adaptive_avg_pool1d"):
    """Average pooling of (N, C, L) or (C, L) to output_size positions."""
    o = _pool1(output_size, "output_size", _who)
    if o is None:
        raise ValueError(f"{_who}: output_size must be an int, got {output_size!r}")
    return adaptive_avg_pool2d(input, (1, o), _who=_who, _one_d=True)


def adaptive_max_pool1d(input, output_size, return_indices=False,
                        _who="adaptive_max_pool1d"):
    """Max pooling of (N, C, L) or (C, L) to output_size positions."""
    o = _pool1(output_size, "output_size", _who)
    if o is None:
        raise ValueError(f"{_who}: output_size must be an int, got {output_size!r}")
    return adaptive_max_pool2d(input, (1, o), return_indices, _who=_who, _one_d=True)


# ------------------------------------------------------------------------------ adaptive max

def adaptive_max_pool2d(input, output_size, return_indices=False,
                        _who="adaptive_max_pool2d", _one_d=False):
    """Max pooling to a fixed output size (None keeps that input size); with return_indices
    also the flat argmax (ih*W + iw) of each output, as torch."""
    who = _who
    x, xd, x4, unbatched = _pool_input(input, who, _one_d)
    N, C, H, W = x4.shape
    OH, OW = _adaptive_out(who, output_size, H, W)
    planes = contiguous(x4).reshape(N * C, H, W)
    K = table_of(planes)
    fast = xd.dtype == np.float32
    if fast:
        out = K.empty((N * C, OH, OW), np.float32)
        idx = K.empty((N * C, OH, OW), np.int64)
        K.adaptive_max_pool2d_forward(out, idx, planes)
    else:
        out, idx = _adaptive_max_ref(planes, OH, OW)
    return _max_pool_result(x, out, idx, (N, C, H, W), unbatched, _one_d, return_indices,
                            "AdaptiveMaxPool2D")


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=True):
    return adaptive_max_pool2d(input, output_size, True)


def _adaptive_max_ref(planes, OH, OW):
    """planes[P, H, W] -> (out, idx), the first maximum of each window (NaN wins)."""
    P, H, W = planes.shape
    h0, h1 = _adaptive_bounds(H, OH)
    w0, w1 = _adaptive_bounds(W, OW)
    out = np.empty((P, OH, OW), planes.dtype)
    idx = np.empty((P, OH, OW), np.int64)
    for i in range(OH):
        for j in range(OW):
            win = planes[:, h0[i]:h1[i], w0[j]:w1[j]].reshape(P, -1)
            nan = np.isnan(win)
            a = np.where(nan.any(axis=1), nan.argmax(axis=1),
                         np.where(nan, -np.inf, win).argmax(axis=1))
            out[:, i, j] = win[np.arange(P), a]
            ww = w1[j] - w0[j]
            idx[:, i, j] = (h0[i] + a // ww) * W + w0[j] + a % ww
    return out, idx
