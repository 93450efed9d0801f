"""nn.utils: gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_), and L1/L2
and activity penalties to add to a loss (l1_penalty, l2_penalty, activity_penalty).

Gradients that are adjacent slices of one buffer (an optimizer's flat gradient buffer) are
processed as one span, so clipping a whole model is a couple of C calls. float32 gradients go
through the C helpers of csrc/optim.c; other dtypes through NumPy.
"""
import math

import numpy as np

from ... import _C
from ...backend import DeviceArray, table_of
from ...tensor import Tensor
from .._convert import parameters_to_vector, vector_to_parameters  # noqa: F401
from ...backend import contiguous

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "l1_penalty", "l2_penalty", "activity_penalty"]


def _params_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _spans(arrays):
    """Merge arrays that are consecutive C-contiguous pieces of one float32 buffer into 1-D
    spans (in order); other arrays come back as they are (flattened where contiguous)."""
    if arrays and isinstance(arrays[0], DeviceArray):
        return _device_spans(arrays)
    out = []
    cur = None          # (base, start address, end address)
    for a in arrays:
        ok = a.dtype == np.float32 and a.flags.c_contiguous
        if not ok:
            if cur is not None:
                out.append(cur[3])
                cur = None
            out.append(a)
            continue
        addr = _C.data_address(a)
        base = a.base if a.base is not None else a
        if cur is not None and cur[0] is base and cur[2] == addr and base.flags.c_contiguous \
                and base.dtype == np.float32:
            start = (cur[1] - _C.data_address(base)) // 4
            span = base.reshape(-1)[start:start + (addr + a.nbytes - cur[1]) // 4]
            cur = (base, cur[1], addr + a.nbytes, span)
        else:
            if cur is not None:
                out.append(cur[3])
            cur = (base, addr, addr + a.nbytes, a.reshape(-1))
    if cur is not None:
        out.append(cur[3])
    return out


def _device_spans(arrays):
    """_spans for device arrays: views of one block at consecutive offsets merge."""
    out = []
    for a in arrays:
        table_of(a)   # all on one device
        prev = out[-1] if out else None
        if (prev is not None and a.dtype == prev.dtype and a.flags.c_contiguous
                and prev.flags.c_contiguous and a._block is prev._block
                and prev._off + prev.size == a._off):
            out[-1] = type(a)(a._block, prev._off, (prev.size + a.size,), (1,), a.dtype)
        else:
            out.append(a.reshape(-1) if a.flags.c_contiguous else a)
    return out


def _device_total_norm(spans, p):
    """The total p-norm of device arrays as a 0-d float64 device array (no host wait)."""
    K = table_of(*spans)
    parts = []
    for s in spans:
        fast = s.dtype == np.float32 and s.flags.c_contiguous and s.ndim == 1
        if p == 2.0:
            parts.append(K.sumsq(s).astype(np.float64) if fast else
                         np.sum(np.square(s.astype(np.float64))))
        elif p in (math.inf, -math.inf):
            if s.size:
                ad = np.abs(s.astype(np.float64))
                parts.append(np.max(ad) if p > 0 else np.min(ad))
        elif p == 0:
            parts.append(np.count_nonzero(s).astype(np.float64))
        else:
            parts.append(np.sum(np.abs(s.astype(np.float64)) ** p))
    if not parts:
        return K.scalar(0.0 if p != -math.inf else math.inf, np.float64)
    v = np.stack([x.reshape(()) for x in parts])
    if p == 2.0:
        return np.sqrt(np.sum(v))
    if p == math.inf:
        return np.max(v)
    if p == -math.inf:
        return np.min(v)
    if p == 0:
        return np.sum(v)
    return np.sum(v) ** (1.0 / p)


def _norm(a, p):
    """||a||_p as float (double), the p-norm family of torch.linalg.vector_norm."""
    c = a.dtype == np.float32 and a.flags.c_contiguous and a.ndim == 1
    if p == 2.0:
        return math.sqrt(_C.sumsq(a) if c else float(np.sum(np.square(a, dtype=np.float64))))
    if p == math.inf:
        if a.size == 0:
            return 0.0
        return float(_C.maxabs(a)) if c else float(np.max(np.abs(a)))
    ad = np.abs(a.astype(np.float64))
    if p == -math.inf:
        return float(np.min(ad)) if a.size else math.inf
    if p == 0:
        return float(np.count_nonzero(a))
    if p == 1.0:
        return float(ad.sum())
    return float(np.sum(ad ** p) ** (1.0 / p))


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Norm of the given tensors viewed as one vector (torch.nn.utils.get_total_norm)."""
    tensors = _params_list(tensors)
    norm_type = float(norm_type)
    if len(tensors) == 0:
        return Tensor._make(np.array(0.0, np.float32))
    arrays = [t._storage if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    dtype = np.result_type(*[a.dtype for a in arrays])
    spans = _spans(arrays)
    if isinstance(spans[0], DeviceArray):
        total = _device_total_norm(spans, norm_type).astype(dtype)
        if error_if_nonfinite and not bool(np.isfinite(total)):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                               "`parameters` is non-finite, so it cannot be clipped. To "
                               "disable this error and scale the gradients by the non-finite "
                               "norm anyway, set `error_if_nonfinite=False`")
        return Tensor._make(total)
    if norm_type == 2.0:
        total = math.sqrt(sum(_norm(s, 2.0) ** 2 for s in spans))
    elif norm_type in (math.inf, -math.inf):
        vals = [_norm(s, norm_type) for s in spans]
        # NaN-propagating max / min (Python's max and min are not)
        total = math.nan if any(map(math.isnan, vals)) else (
            max(vals) if norm_type > 0 else min(vals))
    elif norm_type == 0:
        total = sum(_norm(s, 0) for s in spans)
    else:
        total = sum(_norm(s, norm_type) ** norm_type for s in spans) ** (1.0 / norm_type)
    total = np.array(total, dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                           "`parameters` is non-finite, so it cannot be clipped. To disable "
                           "this error and scale the gradients by the non-finite norm anyway, "
                           "set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale gradients by min(max_norm / (total_norm + 1e-6), 1), as torch."""
    grads = [p.grad._storage for p in _params_list(parameters) if p.grad is not None]
    if not grads:
        return
    tn = total_norm._storage if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    # float32 arithmetic exactly as torch: max_norm / (total_norm + 1e-6), clamped to 1.
    coef = np.asarray(float(max_norm), tn.dtype) / (tn + tn.dtype.type(1e-6))
    coef = np.minimum(coef, tn.dtype.type(1.0))
    for s in _spans(grads):
        if isinstance(s, DeviceArray):   # the coefficient stays on the device: no wait
            s *= coef.astype(s.dtype)
        elif s.dtype == np.float32 and s.flags.c_contiguous and s.ndim == 1:
            _C.scale_(s, float(coef))
        else:
            s *= coef.astype(s.dtype)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Clip the gradients' total norm to max_norm in place; returns the total norm (a 0-d
    Tensor, computed before clipping). norm_type may be inf."""
    params = _params_list(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    grads = [p.grad._storage for p in _params_list(parameters) if p.grad is not None]
    for s in _spans(grads):
        if s.dtype == np.float32 and s.flags.c_contiguous and s.ndim == 1:
            table_of(s).clamp_(s, -clip_value, clip_value)
        else:
            np.clip(s, -clip_value, clip_value, out=s)


# ============================================================================ penalties
# l1_penalty / l2_penalty / activity_penalty: differentiable scalars to add to a loss. Each
# records ONE node over all the tensors it reads; the value comes from compiled reductions
# (_C.sumabs, and optim.c's _C.sumsq) accumulated in double, the backward from one compiled
# pass per tensor, dx = a * sign(x) + b * x (_C.l1l2_backward).

from ... import autograd as _ag  # noqa: E402


def _penalty(tensors, l1, l2, scale=1.0, name="Penalty"):
    """scale * sum over tensors of (l1 * sum|t| + l2 * sum t^2), a 0-d Tensor with one node.

    float32 C-contiguous tensors use the compiled kernels, others NumPy (in double)."""
    tensors = list(tensors)
    arrays = [t._storage for t in tensors]
    dtype = np.result_type(*[a.dtype for a in arrays]) if arrays else np.dtype(np.float32)
    total = 0.0
    if scale != 0.0:
        for a in arrays:
            c = a.dtype == np.float32 and a.flags.c_contiguous
            flat = a.reshape(-1)
            K = table_of(flat)
            if l1:
                total = total + l1 * (K.sumabs(flat) if c else
                                      np.sum(np.abs(flat.astype(np.float64))))
            if l2:
                total = total + l2 * (K.sumsq(flat) if c else
                                      np.sum(np.square(flat.astype(np.float64))))
    out = (total * scale).astype(dtype) if isinstance(total, DeviceArray) else \
        np.array(total * scale, dtype)
    if not _ag.needs_grad(*tensors) or (l1 == 0.0 and l2 == 0.0):
        return Tensor._make(out)

    def backward(g):
        g = float(g)
        a_coef, b_coef = g * l1 * scale, 2.0 * g * l2 * scale
        grads = []
        for t, a in zip(tensors, arrays):
            if not t.requires_grad:
                grads.append(None)
                continue
            if a.dtype == np.float32:
                K = table_of(a)
                dx = K.empty(a.shape, np.float32)
                K.l1l2_backward(dx.reshape(-1), contiguous(a).reshape(-1),
                                 a_coef, b_coef)
            else:
                dt = a.dtype.type
                dx = dt(a_coef) * ((a > 0).astype(a.dtype) - (a < 0).astype(a.dtype))
                if b_coef != 0.0:
                    dx = dx + dt(b_coef) * a
            grads.append(dx)
        return tuple(grads)

    return Tensor._make(out, True, _ag.Node(tuple(tensors), backward, name))


def _check_coef(value, what):
    value = float(value)
    if not (value >= 0.0 and math.isfinite(value)):
        raise ValueError(f"{what} must be a finite non-negative number, got {value}")
    return value


def _is_bias(name):
    """A parameter counts as a bias when the last part of its name starts with 'bias'
    (Linear/Conv `bias`, RNN `bias_ih_l0` / `bias_hh_l0`)."""
    return name.rsplit(".", 1)[-1].startswith("bias")


def _penalty_params(parameters, include_bias, who):
    from ..module import Module
    if isinstance(parameters, Module):
        return [p for n, p in parameters.named_parameters()
                if include_bias or not _is_bias(n)]
    if isinstance(parameters, Tensor):
        return [parameters]
    out = []
    for item in parameters:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
            if include_bias or not _is_bias(str(item[0])):
                out.append(item[1])     # (name, parameter) pairs, as named_parameters()
        elif isinstance(item, Tensor):
            out.append(item)
        else:
            raise TypeError(f"{who}: expected a Module, a Tensor or an iterable of Tensors "
                            f"(or of (name, Tensor) pairs), got an item of type "
                            f"{type(item).__name__}")
    return out


def l1_penalty(parameters, weight=1.0, include_bias=False):
    """weight * sum |w| over the given parameters: a differentiable 0-d Tensor to add to a
    loss (L1 regularisation; its gradient is weight * sign(w), sign(0) = 0).

    parameters: a Module (its parameters; those whose name's last part starts with 'bias'
    are left out unless include_bias=True), an iterable of Tensors (all used), an iterable
    of (name, Tensor) pairs such as model.named_parameters() (biases filtered by name as for
    a Module), or one Tensor. One autograd node for all of them; the sums are accumulated in
    double and the result has the parameters' dtype. No parameters give 0."""
    weight = _check_coef(weight, "l1_penalty: weight")
    return _penalty(_penalty_params(parameters, include_bias, "l1_penalty"), weight, 0.0,
                    name="L1Penalty")


def l2_penalty(parameters, weight=1.0, include_bias=False):
    """weight * sum w^2 over the given parameters: a differentiable 0-d Tensor to add to a
    loss (its gradient is 2 * weight * w). Same parameter selection as l1_penalty.

    Note the convention: no 1/2 factor, so l2_penalty(model, wd / 2) added to the loss
    gives the same gradient as an optimizer's weight_decay=wd (applied to the selected
    parameters only)."""
    weight = _check_coef(weight, "l2_penalty: weight")
    return _penalty(_penalty_params(parameters, include_bias, "l2_penalty"), 0.0, weight,
                    name="L2Penalty")


def activity_penalty(model):
    """The sum of the `penalty` of every nn.ActivityRegularization layer in model (its
    last training-mode forward), as a 0-d Tensor to add to the loss: 0 when there is none.

    In a custom loop:  loss = criterion(model(x), y) + nn.utils.activity_penalty(model)."""
    from ..dropout import ActivityRegularization
    total = None
    for m in model.modules():
        if isinstance(m, ActivityRegularization) and m.penalty is not None:
            total = m.penalty if total is None else total + m.penalty
    if total is None:
        return Tensor._make(np.array(0.0, np.float32))
    return total

from . import rnn  # noqa: E402,F401  (nn.utils.rnn: packed sequences)

from ..._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py)
__getattr__ = _module_getattr(__name__, "torch.nn.utils")
