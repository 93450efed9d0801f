"""Counting: bincount and histc (torch's names, dtypes and errors; no gradients, as torch)."""
import numpy as np

from ..tensor import Tensor
from .core import _as_tensor, _bind, _write_out, host_only


def bincount(input, weights=None, minlength=0):
    """Occurrences of each value of a 1-D tensor of non-negative integers (summed weights)."""
    x = _as_tensor(input, "bincount")
    xd = x._storage
    if xd.dtype.kind in "fc":
        raise NotImplementedError(f'"bincount_cpu" not implemented for {xd.dtype}')
    if xd.ndim != 1 or xd.dtype.kind not in "iub" or (xd.size and xd.min() < 0):
        raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if not isinstance(minlength, (int, np.integer)) or minlength < 0:
        raise RuntimeError(f"minlength should be >= 0, got {minlength}")
    if weights is None:
        return Tensor._make(np.bincount(xd.astype(np.int64), minlength=int(minlength))
                            .astype(np.int64))
    w = _as_tensor(weights, "bincount").detach()._storage
    if w.shape != xd.shape:
        raise RuntimeError("weights should be 1-d and have the same length as input")
    out_dtype = w.dtype if w.dtype.kind == "f" else np.dtype(np.float64)
    counts = np.bincount(xd.astype(np.int64), weights=w.astype(np.float64),
                         minlength=int(minlength))
    return Tensor._make(counts.astype(out_dtype))


def histc(input, bins=100, min=0, max=0, *, out=None):   # noqa: A002 - torch's names
    """A histogram of `bins` equal bins over [min, max] ([data min, data max] when both are
    0); values outside are ignored, as torch."""
    x = _as_tensor(input, "histc")
    xd = x._storage
    host_only("histc", xd)
    if xd.dtype.kind != "f":
        raise RuntimeError(f'"histogram_cpu" not implemented for {xd.dtype}')
    if bins <= 0:
        raise RuntimeError(f"torch.histc: bins must be > 0, but got {bins} for dimension 0")
    lo, hi = float(min), float(max)
    if lo == hi and xd.size:
        lo, hi = float(xd.min()), float(xd.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi:
        raise RuntimeError(f"torch.histc: max must be larger than min, but got min {lo} max {hi}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise RuntimeError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    counts, _ = np.histogram(xd.reshape(-1), bins=int(bins), range=(lo, hi))
    return _write_out(Tensor._make(counts.astype(xd.dtype)), out, "histc")


_bind({"bincount": bincount, "histc": histc})
