"""How tensors print: PyTorch's layout (4 decimals, a shared width, scientific notation for
wide ranges, `...` past a threshold) and nnfast.set_printoptions."""
import numpy as np

from ..tensor import bool_, float32, int64

_OPTIONS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
            "sci_mode": None}
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80),
             "full": (4, float("inf"), 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None):
    """torch.set_printoptions: the same options, kept for the whole process as in torch."""
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


def _float_formatter(arr):
    prec = _OPTIONS["precision"]
    finite = arr[np.isfinite(arr)]
    nz = np.abs(finite[finite != 0])
    int_mode = finite.size == 0 or bool(np.all(finite == np.round(finite)))
    sci = _OPTIONS["sci_mode"]
    if int_mode:
        if sci is None:
            sci = nz.size > 0 and nz.max() > 1e8
        fmt = (lambda v: f"{v:.{prec}e}") if sci else (lambda v: f"{v:.0f}.")
    else:
        if sci is None:
            sci = nz.size > 0 and (nz.max() / nz.min() > 1000.0 or nz.max() > 1e8
                                   or nz.min() < 1e-4)
        fmt = (lambda v: f"{v:.{prec}e}") if sci else (lambda v: f"{v:.{prec}f}")

    def one(v):
        if np.isnan(v):
            return "nan"
        if np.isinf(v):
            return "inf" if v > 0 else "-inf"
        return fmt(float(v))
    sample = arr.reshape(-1)
    if sample.size > _OPTIONS["threshold"]:
        e = _OPTIONS["edgeitems"]
        sample = np.concatenate([sample[:e * 4], sample[-e * 4:]])
    width = max((len(one(v)) for v in sample), default=1)
    return lambda v: one(v).rjust(width)


def _body(arr, prefix):
    if arr.size == 0:
        return "[]"
    kw = dict(separator=", ", prefix=prefix, max_line_width=_OPTIONS["linewidth"],
              threshold=_OPTIONS["threshold"] if _OPTIONS["threshold"] != float("inf")
              else np.iinfo(np.int64).max, edgeitems=_OPTIONS["edgeitems"])
    if arr.dtype.kind == "f":
        kw["formatter"] = {"float_kind": _float_formatter(arr.astype(np.float64))}
    elif arr.dtype == bool_:
        kw["formatter"] = {"bool": lambda v: "True" if v else "False"}
    return np.array2string(arr, **kw)


def tensor_repr(t, prefix="tensor("):
    arr = t._storage
    extra = []
    if arr.size == 0 and arr.ndim != 1:
        extra.append(f"size={tuple(arr.shape)}")
    if arr.dtype not in (float32, int64, bool_):
        extra.append(f"dtype=torch.{arr.dtype}")
    if t._node is not None:
        extra.append(f"grad_fn={t._node!r}")
    elif t.requires_grad:
        extra.append("requires_grad=True")
    body = _body(arr, prefix)
    return prefix + body + "".join(", " + e for e in extra) + ")"
