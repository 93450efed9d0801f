"""How tensors print: PyTorch's layout, value for value, and nnfast.set_printoptions.

The rules PyTorch follows (torch/_tensor_str.py), restated:
- Floats share one format, chosen from the finite nonzero values: all integral -> "3." style;
  scientific when max/min of their magnitudes exceeds 1000, the largest exceeds 1e8 or
  (not integral) the smallest is under 1e-4; else fixed with `precision` decimals. Every
  element is right-aligned to the widest of those values (NaN and inf do not widen it).
- Integers and bools are right-aligned to the widest element.
- Past `threshold` elements the tensor is summarised: `edgeitems` at each end of every
  dimension, "..." between (and the format is chosen from the shown elements only).
- A row wraps after as many elements as fit in `linewidth` (element width + 2 each).
- Suffixes: size= for empty tensors that are not 1-D, dtype= unless it is the default float
  type, int64 or bool, then grad_fn=<...> or requires_grad=True.
"""
import math

import numpy as np

from ..tensor import bool_, float16, get_default_dtype, int64

_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
            "sci_mode": None}
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """torch.set_printoptions: the same options, kept for the whole process as in torch
    (sci_mode is set by every call: leaving it out means automatic)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}")
        p, t, e, w = _PROFILES[profile]
        _OPTIONS.update(precision=p, threshold=t, edgeitems=e, linewidth=w)
    for k, v in (("precision", precision), ("threshold", threshold),
                 ("edgeitems", edgeitems), ("linewidth", linewidth)):
        if v is not None:
            _OPTIONS[k] = v
    _OPTIONS["sci_mode"] = sci_mode


def get_printoptions():
    return dict(_OPTIONS)


class _Format:
    """One format for all the elements of a tensor (see the module docstring)."""

    def __init__(self, arr):
        self.floating = arr.dtype.kind == "f"
        self.int_mode, self.sci = True, False
        self.width = 1
        prec = _OPTIONS["precision"]
        flat = arr.reshape(-1)
        if not self.floating:
            if flat.size:
                self.width = max(len(str(v)) for v in flat.tolist())
            return
        vals = flat[np.isfinite(flat) & (flat != 0)]
        if vals.size == 0:
            return
        mag = np.abs(vals).astype(np.float64)
        lo, hi = mag.min(), mag.max()
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        sci = _OPTIONS["sci_mode"]
        self.sci = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) if sci is None else sci
        values = vals.tolist()
        if self.sci:
            self.width = max(len(f"{v:.{prec}e}") for v in values)
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in values)
        else:
            self.width = max(len(f"{v:.{prec}f}") for v in values)

    def __call__(self, v):
        prec = _OPTIONS["precision"]
        if not self.floating:
            s = str(v)
        elif self.sci:
            s = f"{v:{self.width}.{prec}e}"
        elif self.int_mode:
            s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
        else:
            s = f"{v:.{prec}f}"
        return s.rjust(self.width)


def _summarised(arr, e):
    """The elements shown when summarising: e at each end of every dimension."""
    idx = [np.r_[0:e, n - e:n] if n > 2 * e else np.arange(n) for n in arr.shape]
    return arr[np.ix_(*idx)] if idx else arr


def _vector(arr, indent, summarise, fmt):
    e = _OPTIONS["edgeitems"]
    per_line = max(1, math.floor((_OPTIONS["linewidth"] - indent) / (fmt.width + 2)))
    if summarise and not e:
        data = ["..."]
    elif summarise and arr.shape[0] > 2 * e:
        data = [fmt(v) for v in arr[:e].tolist()] + [" ..."] + \
            [fmt(v) for v in arr[-e:].tolist()]
    else:
        data = [fmt(v) for v in arr.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(arr, indent, summarise, fmt):
    if arr.ndim == 0:
        return fmt(arr.item())
    if arr.ndim == 1:
        return _vector(arr, indent, summarise, fmt)
    e = _OPTIONS["edgeitems"]
    n = arr.shape[0]
    if summarise and n > 2 * e:
        rows = [_nested(arr[i], indent + 1, summarise, fmt) for i in range(e)] + ["..."] + \
            [_nested(arr[i], indent + 1, summarise, fmt) for i in range(n - e, n)]
    else:
        rows = [_nested(arr[i], indent + 1, summarise, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _body(arr, indent):
    if arr.size == 0:
        return "[]"
    if arr.dtype == float16:
        arr = arr.astype(np.float32)
    summarise = arr.size > _OPTIONS["threshold"]
    fmt = _Format(_summarised(arr, _OPTIONS["edgeitems"]) if summarise else arr)
    return _nested(arr, indent, summarise, fmt)


def _with_suffixes(text, suffixes, indent):
    parts = [text]
    last = len(text) - text.rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > _OPTIONS["linewidth"]:
            parts.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            parts.append(", " + s)
            last += len(s) + 2
    return "".join(parts) + ")"


def tensor_repr(t, prefix="tensor("):
    arr = t._storage
    indent = len(prefix)
    suffixes = []
    if type(arr) is not np.ndarray and hasattr(arr, "get"):   # a device array: print a copy
        suffixes.append(f"device='{t.device}'")
        arr = arr.get()
    default = get_default_dtype()
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype != default:
            suffixes.append(f"dtype=torch.{arr.dtype}")
    elif arr.dtype not in (default, int64, bool_, np.dtype(np.complex64)):
        suffixes.append(f"dtype=torch.{arr.dtype}")
    if t._node is not None:
        suffixes.append(f"grad_fn={t._node!r}")
    elif t.requires_grad:
        suffixes.append("requires_grad=True")
    return _with_suffixes(prefix + _body(arr, indent), suffixes, indent)
