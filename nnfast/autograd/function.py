"""torch.autograd.Function for custom ops, and the legacy Variable.

    class Exp(nf.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            y, = ctx.saved_tensors
            return grad * y

    y = Exp.apply(x)

forward runs with gradient recording off; its outputs get one node whose backward calls the
user's backward with Tensors and takes Tensors (or None) back, one per forward input.
"""
import numpy as np

from . import Node, _state


class FunctionCtx:
    def __init__(self):
        self.saved_tensors = ()
        self.needs_input_grad = ()
        self._non_differentiable = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors
        self._saved_versions = [(t, t._version) for t in tensors if t is not None]

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class _FunctionMeta(type):
    pass


class Function(metaclass=_FunctionMeta):
    """Subclass with static forward(ctx, *args) and backward(ctx, *grads); call .apply."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor
        ctx = FunctionCtx()
        tensor_args = [a for a in args if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        prev = _state.grad_enabled
        _state.grad_enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            _state.grad_enabled = prev
        if not (prev and any(ctx.needs_input_grad)):
            return out
        outs = out if isinstance(out, tuple) else (out,)
        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        diff = [i for i, o in enumerate(outs) if isinstance(o, Tensor)
                and id(o) not in ctx._non_differentiable and o.dtype.kind in "fc"]
        if not diff:
            return out
        name = cls.__name__

        def grads_of(g, k):
            """The user's backward, called once per output position k (others get zeros)."""
            gs = []
            for i, o in enumerate(outs):
                if not isinstance(o, Tensor):
                    gs.append(None)
                elif i == k:
                    gs.append(Tensor._make(g))
                else:
                    gs.append(Tensor._make(np.zeros_like(o._storage, shape=o.shape))
                              if ctx.materialize_grads else None)
            for t, v in getattr(ctx, "_saved_versions", ()):
                if t._version != v:
                    raise RuntimeError(
                        "one of the variables needed for gradient computation has been "
                        f"modified by an inplace operation: {name}Backward needs a tensor "
                        f"saved at version {v}, now at version {t._version}")
            res = cls.backward(ctx, *gs)
            if not isinstance(res, tuple):
                res = (res,)
            if len(res) < len(args):
                raise RuntimeError(f"function {name}Backward returned an incorrect number of "
                                   f"gradients (expected {len(args)}, got {len(res)})")
            picked = []
            for i in positions:
                r = res[i]
                if r is None:
                    picked.append(None)
                    continue
                arr = r._storage if isinstance(r, Tensor) else np.asarray(r)
                want = args[i].shape
                if arr.shape != want:
                    try:
                        arr = np.broadcast_to(arr, want)
                    except ValueError:
                        raise RuntimeError(f"Function {name}Backward returned an invalid "
                                           f"gradient at index {i} - got {list(arr.shape)} but "
                                           f"expected shape compatible with {list(want)}"
                                           ) from None
                picked.append(arr)
            return tuple(picked)

        results = list(outs)
        for k in diff:
            o = outs[k]
            node = Node(tuple(tensor_args), (lambda g, k=k: grads_of(g, k)), name)
            results[k] = Tensor._make(o._storage, True, node)
        return tuple(results) if isinstance(out, tuple) else results[0]


def Variable(data, requires_grad=False, volatile=False):   # noqa: N802 - PyTorch's name
    """The legacy torch.autograd.Variable: today simply a tensor."""
    from ..tensor import Tensor
    t = data if isinstance(data, Tensor) else Tensor(data)
    if requires_grad:
        t.requires_grad_(True)
    return t
