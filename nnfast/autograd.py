"""The tape: coarse nodes and a topological backward pass.

A node is made once per layer call or fused operation (not per scalar), holding the input
tensors and a closure that calls the matching compiled backward. `backward()` walks the graph
in reverse topological order, handing each node the gradient of its output and adding what it
returns into its inputs' gradients.

A node's backward closure returns one gradient array (or None) per input. A node may instead
write a leaf's gradient straight into that leaf's storage through `grad_sink(leaf)` (this is
how Linear puts dW into the optimizer's flat gradient buffer without a temporary) and then
return None for it.
"""
import numpy as np

_grad_enabled = True


class Node:
    __slots__ = ("inputs", "backward", "name")

    def __init__(self, inputs, backward, name):
        self.inputs = inputs      # tuple of Tensors (or None), aligned with backward's result
        self.backward = backward  # grad_out (ndarray) -> tuple of ndarray-or-None
        self.name = name

    def __repr__(self):
        return f"<{self.name}Backward>"


def is_grad_enabled():
    return _grad_enabled


def _decorate(make_ctx, fn):
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_ctx():
            return fn(*args, **kwargs)

    return wrapper


class set_grad_enabled:
    """Sets gradient recording on or off: as a call (takes effect at once), a context
    manager (restores the previous mode on exit) or a function decorator (as in PyTorch)."""

    def __init__(self, mode):
        global _grad_enabled
        self.prev = _grad_enabled
        self.mode = bool(mode)
        _grad_enabled = self.mode

    def __call__(self, fn):
        # Used as @set_grad_enabled(mode): undo the immediate effect of __init__ and apply
        # the mode only while fn runs.
        global _grad_enabled
        _grad_enabled = self.prev
        mode = self.mode
        return _decorate(lambda: set_grad_enabled(mode), fn)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False


class _GradMode:
    mode = True

    def __new__(cls, orig_func=None):
        # `@no_grad` without parentheses, as PyTorch allows.
        if orig_func is None:
            return super().__new__(cls)
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments")
        return _decorate(cls, orig_func)

    def __enter__(self):
        global _grad_enabled
        self.prev = _grad_enabled
        _grad_enabled = self.mode

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False

    def __call__(self, fn):
        return _decorate(self.__class__, fn)


class no_grad(_GradMode):
    """Disable gradient recording inside a `with` block or a decorated function."""
    mode = False


class enable_grad(_GradMode):
    """Enable gradient recording inside a `with` block or a decorated function."""
    mode = True


def needs_grad(*inputs):
    """True when an op over these inputs must record a node."""
    if not _grad_enabled:
        return False
    for t in inputs:
        if t is not None and t.requires_grad:
            return True
    return False


def _tensor_class():
    global _Tensor
    if _Tensor is None:
        from .tensor import Tensor
        _Tensor = Tensor
    return _Tensor


_Tensor = None   # nnfast.tensor.Tensor, imported on first use (tensor.py imports this module)


def grad_sink(leaf):
    """Where a node may write `leaf`'s gradient directly: (array, accumulate).

    accumulate=False means the caller must overwrite every element of the array; True means
    add into it. The leaf's `.grad` is set to the array before the caller writes it.
    """
    Tensor = _Tensor or _tensor_class()
    g = leaf.grad
    if g is not None:
        d = g.data
        if d.shape != leaf.data.shape:
            # a .grad assigned by hand with another shape: kernels would write past it
            _grad_shape_error(leaf, d)
        if d.flags.c_contiguous and d.flags.writeable and d.dtype == leaf.data.dtype:
            return d, True
        return None, False
    buf = leaf._grad_buf
    if buf is None or buf.shape != leaf.data.shape or buf.dtype != leaf.data.dtype:
        # C order even when leaf.data is not (empty_like would keep a Fortran layout)
        buf = np.empty(leaf.data.shape, leaf.data.dtype)
    elif not (buf.flags.c_contiguous and buf.flags.writeable):
        return None, False   # the caller returns the gradient; _accumulate_leaf fills buf
    leaf.grad = Tensor._make(buf)
    return buf, False


def _grad_shape_error(leaf, d):
    from .errors import ShapeError
    raise ShapeError(f"the .grad of a tensor of shape {leaf.data.shape} has shape {d.shape}; "
                     "a gradient must have its tensor's shape (set .grad = None to reset it)")


def _accumulate_leaf(leaf, g):
    Tensor = _Tensor or _tensor_class()
    if leaf.grad is not None and leaf.grad.data.shape != leaf.data.shape:
        _grad_shape_error(leaf, leaf.grad.data)
    if g.shape != leaf.data.shape:
        g = np.broadcast_to(g, leaf.data.shape)
    if leaf.grad is None:
        buf = leaf._grad_buf
        if buf is not None and buf.shape == leaf.data.shape:
            np.copyto(buf, g)
        else:
            buf = np.array(g, dtype=leaf.data.dtype, copy=True)
        leaf.grad = Tensor._make(buf)
    else:
        leaf.grad.data += g


def _topological_order(root):
    """(non-leaf tensors reachable from root that require grad, inputs before outputs;
    the leaves requiring grad that they reach, each once).

    Leaves are kept out of the depth-first walk (they have nothing below them), so the walk
    visits one entry per node; the relative order of the nodes is what a walk over every
    tensor gives."""
    order = []
    leaves = []
    seen = set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        node = t._node
        if node is None:
            leaves.append(t)
            continue
        stack.append((t, True))
        for inp in node.inputs:
            if inp is not None and inp.requires_grad and id(inp) not in seen:
                if inp._node is None:
                    seen.add(id(inp))
                    leaves.append(inp)
                else:
                    stack.append((inp, False))
    return order, leaves


def run_backward(root, grad):
    """Backpropagate `grad` (an ndarray shaped like root) through the graph behind root."""
    global _grad_enabled
    prev = _grad_enabled
    _grad_enabled = False
    try:
        order, leaves = _topological_order(root)
        pending = {id(root): grad}
        for t in reversed(order):
            g = pending.pop(id(t), None)
            if g is None:
                continue
            node = t._node
            if t._retains_grad:
                _accumulate_leaf(t, g)
            in_grads = node.backward(g)
            for inp, gi in zip(node.inputs, in_grads):
                if gi is None or inp is None or not inp.requires_grad:
                    continue
                k = id(inp)
                prev_g = pending.get(k)
                # Never add in place: gi may alias another input's gradient.
                pending[k] = gi if prev_g is None else prev_g + gi
        # every node is done: each leaf's gradient is complete (summed in node order)
        for t in leaves:
            g = pending.pop(id(t), None)
            if g is not None:
                _accumulate_leaf(t, g)
    finally:
        _grad_enabled = prev
