"""nnfast.nn.functional — the stateless twins of the layers (PyTorch's torch.nn.functional)."""
import numpy as np

from ..backend import table_of
from .. import autograd as ag
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from ..amp import AUTOCAST_SEEN as _AUTOCAST_SEEN, lowp as _lowp

from ._functional_act import *  # noqa: F401,F403
from ._functional_act_extra import *  # noqa: F401,F403
from ._functional_loss import *  # noqa: F401,F403
from ._functional_loss_extra import *  # noqa: F401,F403
from ._functional_misc import *  # noqa: F401,F403
from ._functional_dropout import *  # noqa: F401,F403
from ._functional_norm import *  # noqa: F401,F403
from ._functional_conv import *  # noqa: F401,F403
from ._functional_conv1d import *  # noqa: F401,F403
from ._functional_conv_transpose import *  # noqa: F401,F403
from ._functional_rnn import *  # noqa: F401,F403
from ._functional_upsample import *  # noqa: F401,F403
from ._functional_attention import *  # noqa: F401,F403
from ..backend import contiguous


def _as_tensor(x, who):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")


def linear(input, weight, bias=None, _who="linear"):
    """y = x @ weight^T + bias over the last dimension of x (any leading shape).

    _who: the caller's name in messages (a layer passes a LayerName)."""
    x = input if isinstance(input, Tensor) else _as_tensor(input, _who)
    w = weight
    xd, wd = x._storage, w._storage
    if wd.ndim != 2:
        raise ShapeError(f"{_who}: weight must be 2-D (out_features, in_features), "
                         f"got shape {wd.shape}")
    n_out, n_in = wd.shape
    if xd.ndim == 0 or xd.shape[-1] != n_in:
        raise ShapeError(f"{_who}: expected input with last dimension {n_in} "
                         f"(in_features), got input of shape {xd.shape}")
    if xd.dtype != wd.dtype:
        kind = "floating" if xd.dtype.kind == "f" else "integer"
        raise DTypeError(f"{_who}: input has dtype {xd.dtype} ({kind}) but the weight "
                         f"is {wd.dtype}; convert the input with .float() (or the model with "
                         f".double())")
    if bias is not None and bias._storage.shape != (n_out,):
        raise ShapeError(f"{_who}: bias must have shape ({n_out},), got "
                         f"{bias._storage.shape}")
    if bias is not None and bias._storage.dtype != wd.dtype:
        raise DTypeError(f"{_who}: bias has dtype {bias._storage.dtype} but the weight "
                         f"is {wd.dtype}")
    K = table_of(xd, wd, None if bias is None else bias._storage)
    lead = xd.shape[:-1]
    flat_in = xd.ndim == 2   # the usual (batch, features): no reshapes on the way
    x2 = xd if flat_in and xd.flags.c_contiguous else contiguous(xd.reshape(-1, n_in))
    m = x2.shape[0]
    fast = wd.dtype == np.float32
    lp = 0   # autocast: bf16/fp16 operands, fp32 accumulation (nnfast/amp), forward and backward
    if fast:
        w2 = wd if wd.flags.c_contiguous else contiguous(wd)
        out = K.empty((m, n_out), dtype=np.float32)
        bd = None if bias is None else bias._storage
        bd = bd if bd is None or bd.flags.c_contiguous else contiguous(bd)
        lp = _AUTOCAST_SEEN[0] and _lowp(K)
        if lp:
            K.linear_forward(out, x2, w2, bd, lp)
        else:
            K.linear_forward(out, x2, w2, bd)
    else:
        w2 = wd
        out = x2 @ wd.T
        if bias is not None:
            out += bias._storage
    if not ag.needs_grad(x, w, bias):
        return Tensor._make(out if flat_in else out.reshape(lead + (n_out,)))

    def backward(g):
        g2 = g if (g.ndim == 2 and g.dtype == wd.dtype and g.flags.c_contiguous) else \
            contiguous(g.reshape(m, n_out), dtype=wd.dtype)
        dx = np.empty_like(x2) if x.requires_grad else None
        dw_dest = db_dest = None
        dw_sink = db_sink = None
        if fast:
            # Write parameter gradients straight into the leaves' storage when we can.
            acc = None
            if w.requires_grad and w._node is None:
                dw_sink, acc_w = ag.grad_sink(w)
                if dw_sink is not None:
                    acc = acc_w
            if bias is not None and bias.requires_grad and bias._node is None:
                db_sink, acc_b = ag.grad_sink(bias)
                if db_sink is not None:
                    if acc is None:
                        acc = acc_b
                    elif acc_b != acc:
                        # one sink is fresh, the other accumulates: make both accumulate
                        (db_sink if not acc_b else dw_sink)[...] = 0
                        acc = True
            dw_dest = dw_sink if dw_sink is not None else (   # C order, whatever wd's layout
                K.empty(wd.shape, np.float32) if w.requires_grad else None)
            db_dest = db_sink if db_sink is not None else (
                K.empty(n_out, np.float32) if bias is not None and bias.requires_grad else None)
            use_acc = bool(acc) if (dw_sink is not None or db_sink is not None) else False
            if use_acc and dw_sink is None and dw_dest is not None:
                dw_dest[...] = 0
            if use_acc and db_sink is None and db_dest is not None:
                db_dest[...] = 0
            if lp:
                K.linear_backward(dx, dw_dest, db_dest, g2, x2, w2, use_acc, lp)
            else:
                K.linear_backward(dx, dw_dest, db_dest, g2, x2, w2, use_acc)
        else:
            if dx is not None:
                dx = g2 @ wd
            if w.requires_grad:
                dw_dest = g2.T @ x2
            if bias is not None and bias.requires_grad:
                db_dest = g2.sum(axis=0)
        return (dx if dx is None or flat_in else dx.reshape(xd.shape),
                None if dw_sink is not None else dw_dest,
                None if db_sink is not None else db_dest)

    return Tensor._make(out if flat_in else out.reshape(lead + (n_out,)), True,
                        ag.Node((x, w, bias), backward, "Linear"))


# The activations' Tensor methods (x.relu(), x.sigmoid(), x.tanh(), x.softmax(dim, dtype=...),
# x.log_softmax(...)) are bound in nnfast/_ops/elementwise.py: they call the kernels above for
# float32/float64 and follow PyTorch's dtype rules for the others.

from .._missing import module_getattr as _module_getattr  # noqa: E402

# torch names nnfast lacks say so (nnfast/_missing.py)
__getattr__ = _module_getattr(__name__, "torch.nn.functional")
