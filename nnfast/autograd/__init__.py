"""The tape: coarse nodes and a topological backward pass.

A node is made once per layer call or fused operation (not per scalar), holding the input
tensors and a closure that calls the matching compiled backward. `backward()` walks the graph
in reverse topological order, handing each node the gradient of its output and adding what it
returns into its inputs' gradients.

A node's backward closure returns one gradient array (or None) per input. A node may instead
write a leaf's gradient straight into that leaf's storage through `grad_sink(leaf)` (this is
how Linear puts dW into the optimizer's flat gradient buffer without a temporary) and then
return None for it.

A node lists the tensors whose storage its backward reads (`saved`) with their version
counts at the time; an in-place change to one of them before backward raises PyTorch's error
there instead of returning a wrong gradient.

Grad mode, inference mode and anomaly detection are per thread, as in PyTorch
(autograd/grad_mode.py).
"""
import heapq
import itertools

import numpy as np

from ..backend import DeviceArray, table_of
from .grad_mode import (_state, _set_grad, _decorate, detect_anomaly,  # noqa: F401
                        enable_grad, inference_mode, is_anomaly_enabled, is_grad_enabled,
                        is_inference_mode_enabled, no_grad, set_detect_anomaly,
                        set_grad_enabled)


_seq = itertools.count(1)   # creation order of nodes, and of in-place changes


class Node:
    __slots__ = ("inputs", "backward", "name", "saved", "seq", "out")

    def __init__(self, inputs, backward, name, saved=()):
        self.inputs = inputs      # tuple of Tensors (or None), aligned with backward's result
        self.backward = backward  # grad_out (ndarray) -> tuple of ndarray-or-None
        self.name = name
        self.saved = saved        # tensors whose values backward reads (None entries allowed)
        self.seq = next(_seq)     # an in-place change with a later number invalidates saved
        self.out = None           # the output tensor, when it has hooks or retains its grad
        tr = _state.track         # DistributedDataParallel counts its parameters' uses
        if tr is not None:
            for t in inputs:
                if t is not None and id(t) in tr:
                    tr[id(t)] += 1

    def save_output(self, out):
        """Also guard the node's own output (backward reads it: exp, sigmoid, ...)."""
        self.saved = tuple(self.saved) + (out,)

    def name_(self):
        return f"{self.name}Backward0"

    def __repr__(self):
        return f"<{self.name}Backward0>"

    @property
    def next_functions(self):
        return tuple((e if isinstance(e, Node) else None, 0) for e in _edges(self))


def _edges(node):
    """Where each input's gradient goes: the node that made the input when this node was
    created, or the input itself for a leaf. An in-place op that later gave an input a new
    node left (its number, the old node, the old requires_grad) in the input's history, so
    this node's gradient still reaches the old one."""
    seq = node.seq
    out = []
    for t in node.inputs:
        if t is None:
            out.append(None)
            continue
        hist = t._rebased
        if hist is not None:
            for rseq, prev_node, prev_rg in hist:
                if rseq > seq:
                    out.append((t if prev_node is None else prev_node) if prev_rg else None)
                    break
            else:
                hist = None
            if hist is not None:
                continue
        if not t.requires_grad:
            out.append(None)
        else:
            n = t._node
            out.append(t if n is None else n)
    return out


_last_rebase = [0]   # the creation number of the latest rebase, in any thread


def record_rebase(t):
    """t is about to take a new node (an in-place op recorded on it): nodes made before now
    keep sending their gradient to its old node (_edges reads this history)."""
    seq = next(_seq)
    hist = (seq, t._node, t.requires_grad)
    t._rebased = [hist] if t._rebased is None else t._rebased + [hist]
    _last_rebase[0] = seq


def needs_grad(*inputs):
    """True when an op over these inputs must record a node."""
    if not _state.grad_enabled:
        return False
    for t in inputs:
        if t is not None and t.requires_grad:
            return True
    return False


def _tensor_class():
    global _Tensor
    if _Tensor is None:
        from ..tensor import Tensor
        _Tensor = Tensor
    return _Tensor


_Tensor = None   # nnfast.tensor.Tensor, imported on first use (tensor.py imports this module)


def grad_sink(leaf):
    """Where a node may write `leaf`'s gradient directly: (array, accumulate).

    accumulate=False means the caller must overwrite every element of the array; True means
    add into it. The leaf's `.grad` is set to the array before the caller writes it.
    """
    Tensor = _Tensor or _tensor_class()
    if leaf._hooks is not None or _state.sinks_off:
        return None, False   # the gradient must pass through hooks / go to the caller
    g = leaf.grad
    if g is not None:
        d = g._storage
        if d.shape != leaf._storage.shape:
            # a .grad assigned by hand with another shape: kernels would write past it
            _grad_shape_error(leaf, d)
        if d.flags.c_contiguous and d.flags.writeable and d.dtype == leaf._storage.dtype:
            return d, True
        return None, False
    gt = leaf._grad_buf   # a Tensor on the optimizer's flat gradient buffer, or None
    if gt is not None:
        buf = gt._storage
        if buf.shape == leaf._storage.shape and buf.dtype == leaf._storage.dtype:
            if not (buf.flags.c_contiguous and buf.flags.writeable):
                return None, False   # the caller returns the gradient; _accumulate_leaf fills buf
            if gt._node is not None or gt.requires_grad or gt._hooks is not None:
                # the previous step's .grad was pulled into a graph: hand out a clean one
                gt = leaf._grad_buf = Tensor._make(buf)
            leaf.grad = gt
            return buf, False
    # C order even when leaf._storage is not (empty_like would keep a Fortran layout)
    st = leaf._storage
    buf = np.empty(st.shape, st.dtype) if st.__class__ is np.ndarray else \
        table_of(st).empty(st.shape, st.dtype)
    leaf.grad = Tensor._make(buf)
    return buf, False


def _fresh_copy(g, like):
    """A new C-ordered array holding g in like's dtype, on like's device."""
    if like.__class__ is np.ndarray and g.__class__ is np.ndarray:
        return np.array(g, dtype=like.dtype, copy=True)
    if not isinstance(g, DeviceArray) or g.__class__ is not like.__class__:
        table_of(like, g)   # a gradient from another device: PyTorch's error
    out = table_of(like).empty(like.shape, like.dtype)
    out[...] = g
    return out


def _grad_shape_error(leaf, d):
    from ..errors import ShapeError
    raise ShapeError(f"the .grad of a tensor of shape {leaf._storage.shape} has shape {d.shape}; "
                     "a gradient must have its tensor's shape (set .grad = None to reset it)")


def _accumulate_leaf(leaf, g):
    Tensor = _Tensor or _tensor_class()
    if leaf.grad is not None and leaf.grad._storage.shape != leaf._storage.shape:
        _grad_shape_error(leaf, leaf.grad._storage)
    if g.shape != leaf._storage.shape:
        g = np.broadcast_to(g, leaf._storage.shape)
    if leaf.grad is None:
        gt = leaf._grad_buf
        if gt is not None and gt._storage.shape == leaf._storage.shape and \
                gt._storage.flags.writeable and gt._node is None and not gt.requires_grad:
            np.copyto(gt._storage, g)
            leaf.grad = gt
        else:
            leaf.grad = Tensor._make(_fresh_copy(g, leaf._storage))
    else:
        leaf.grad._storage += g


def _check_saved(node):
    seq = node.seq
    for t in node.saved:
        if t is None:
            continue
        base = t if t._vbase is None else t._vbase
        if base._vcount and base._vmod > seq:
            kind = "output 0 of " + t._node.name_() if t._node is not None else "a leaf"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{t.dtype} tensor of shape {list(t.shape)}], which is "
                f"{kind}, is at version {base._vcount}; it was changed in place after "
                f"{node.name_()} saved it for its gradient. Hint: clone() the tensor before "
                "changing it in place.")


def _check_finite(node, grads):
    for i, gi in enumerate(grads):
        if gi is not None and gi.dtype.kind == "f" and np.isnan(gi).any():
            raise RuntimeError(f"Function '{node.name_()}' returned nan values in its {i}th "
                               "output.")


def _run_hooks(t, g):
    Tensor = _Tensor or _tensor_class()
    for hook in list(t._hooks.values()):
        r = hook(Tensor._make(g))
        if r is not None:
            g = r._storage if isinstance(r, Tensor) else np.asarray(r)
    return g


def _add_leaf(leaf_g, t, g):
    ent = leaf_g.get(id(t))
    if ent is None:
        leaf_g[id(t)] = [t, g]
    else:
        ent[1] = ent[1] + g   # never in place: g may alias another input's gradient


def run_backward(roots, grads, capture=None, retain=False):
    """Backpropagate `grads` (ndarrays shaped like each root) through the graph behind roots.

    Nodes run in the order PyTorch's engine runs them: the one made last first. A node is
    made after the nodes of its inputs, so when it runs every consumer of its output has
    run and its gradient is complete; a gradient that several consumers send is summed in
    that order. One pass: a node enters the queue when its first gradient arrives.

    Without `capture`, leaves' gradients are accumulated into their `.grad`. With it (a list
    of tensors, autograd.grad), nothing is accumulated: the gradient reaching each captured
    tensor is returned, None where none arrives."""
    if not isinstance(roots, (list, tuple)):
        roots, grads = (roots,), (grads,)
    state = _state
    prev = state.grad_enabled
    state.grad_enabled = False
    prev_retain, state.retain_graph = state.retain_graph, bool(retain)
    anomaly = state.anomaly
    want = None
    prev_callbacks = state.callbacks
    state.callbacks = callbacks = []
    prev_node_done = state.node_done
    if capture is not None:
        prev_sinks = state.sinks_off
        state.sinks_off = True
        captured = {}
        want = {}
        for t in capture:   # a non-leaf is captured at the node that made it
            want[id(t._node) if t._node is not None else id(t)] = t
    try:
        pending = {}   # node -> the gradient of its output so far
        leaf_g = {}    # id(leaf) -> [leaf, its gradient so far]
        queue = []     # (-seq, node) of the nodes with a gradient that have not run
        for r, g in zip(roots, grads):
            n = r._node
            if n is None:   # a leaf among the roots gets its gradient directly
                _add_leaf(leaf_g, r, g)
            elif n in pending:
                pending[n] = pending[n] + g
            else:
                pending[n] = g
                queue.append((-n.seq, n))
        if len(queue) > 1:
            heapq.heapify(queue)
        pop, push = heapq.heappop, heapq.heappush
        rebased = _last_rebase[0]   # nodes made before this may have inputs rebased since
        while queue:
            node = pop(queue)[1]
            g = pending.pop(node)
            if node.out is not None:
                t = node.out
                if t._hooks is not None:
                    g = _run_hooks(t, g)
                if t._retains_grad and capture is None:
                    _accumulate_leaf(t, g)
            if want is not None and id(node) in want:
                captured[id(node)] = g
            if node.saved:
                for st in node.saved:   # only a tensor changed in place needs a look
                    if st is not None and (st if st._vbase is None else st._vbase)._vcount:
                        _check_saved(node)
                        break
            in_grads = node.backward(g)
            ins = node.inputs
            if len(in_grads) != len(ins):
                raise RuntimeError(f"function {node.name_()} returned an incorrect number of "
                                   f"gradients (expected {len(ins)}, got {len(in_grads)})")
            if anomaly:
                _check_finite(node, in_grads)
            # each gradient goes to its input's current node, unless an input was rebased
            # since this node was made: then to the node its history names (_edges)
            current = node.seq > rebased
            for e, gi in zip(ins if current else _edges(node), in_grads):
                if gi is None or e is None:
                    continue
                if current:
                    if not e.requires_grad:
                        continue
                    if e._node is None:
                        _add_leaf(leaf_g, e, gi)
                        continue
                    e = e._node
                elif type(e) is not Node:   # a leaf
                    _add_leaf(leaf_g, e, gi)
                    continue
                p = pending.get(e)
                if p is None:
                    pending[e] = gi
                    push(queue, (-e.seq, e))
                else:
                    pending[e] = p + gi
            nd = state.node_done   # hooks may install it mid-pass (DDP's early reduction)
            if nd is not None:
                for f in nd:
                    f(node, in_grads)
        # every node is done: each leaf's gradient is complete
        for t, g in leaf_g.values():
            if not t.requires_grad:
                continue
            if t._hooks is not None:
                g = _run_hooks(t, g)
            if want is not None:
                if id(t) in want:
                    captured[id(t)] = g
            else:
                _accumulate_leaf(t, g)
        if capture is None:
            # every .grad is final: run what hooks queued (DistributedDataParallel's reduction)
            while callbacks:
                callbacks.pop(0)()
    finally:
        state.grad_enabled = prev
        state.retain_graph = prev_retain
        state.callbacks = prev_callbacks
        state.node_done = prev_node_done
        if capture is not None:
            state.sinks_off = prev_sinks
    if capture is not None:
        return [captured.get(id(t._node) if t._node is not None else id(t)) for t in capture]
    return None


def queue_callback(fn):
    """Run fn() once the running backward has accumulated every gradient (torch's
    Variable._execution_engine.queue_callback); callable only from a hook during backward.
    autograd.grad drops them (it accumulates nothing)."""
    cbs = _state.callbacks
    if cbs is None:
        raise RuntimeError("Final callbacks can only be installed during backward pass.")
    cbs.append(fn)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _root_grads(outputs, grad_outputs):
    Tensor = _Tensor or _tensor_class()
    grads = []
    for i, out in enumerate(outputs):
        go = grad_outputs[i] if grad_outputs is not None else None
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not "
                               "have a grad_fn")
        if go is None:
            if out._storage.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs "
                                   f"(shape {tuple(out.shape)})")
            grads.append(np.ones_like(out._storage))
        else:
            g = go._storage if isinstance(go, Tensor) else go
            if isinstance(g, DeviceArray) or isinstance(out._storage, DeviceArray):
                table_of(out._storage, g)   # grad_output on another device: PyTorch's error
                g = table_of(out._storage).asarray(g, out.dtype)
            else:
                g = np.asarray(g, dtype=out.dtype)
            if g.shape != out.shape:
                from ..errors import ShapeError
                raise ShapeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                 f"{tuple(g.shape)} and output[{i}] has a shape of "
                                 f"{tuple(out.shape)}.")
            grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """torch.autograd.backward: accumulate the gradients of several outputs at once."""
    if create_graph:
        raise NotImplementedError("nnfast does not support torch.autograd.backward("
                                  "create_graph=True) (higher-order gradients) yet")
    tensors = _as_list(tensors)
    if grad_tensors is not None:
        grad_tensors = _as_list(grad_tensors)
    if inputs is not None:
        raise NotImplementedError("nnfast does not support torch.autograd.backward(inputs=...) "
                                  "yet")
    run_backward(tensors, _root_grads(tensors, grad_tensors), retain=retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """torch.autograd.grad: the gradients of outputs with respect to inputs, returned as a
    tuple instead of accumulated into `.grad` (first order; create_graph is not supported)."""
    Tensor = _Tensor or _tensor_class()
    if create_graph:
        raise NotImplementedError("nnfast does not support torch.autograd.grad(create_graph="
                                  "True) (higher-order gradients) yet")
    if is_grads_batched:
        raise NotImplementedError("nnfast does not support torch.autograd.grad("
                                  "is_grads_batched=True) yet")
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (input {i}) does not "
                               "require grad")
    if grad_outputs is not None:
        grad_outputs = _as_list(grad_outputs)
    got = run_backward(outputs, _root_grads(outputs, grad_outputs), capture=inputs,
                       retain=retain_graph)
    result = []
    for i, (t, g) in enumerate(zip(inputs, got)):
        if g is None:
            if materialize_grads:
                result.append(Tensor._make(np.zeros_like(t._storage)))
                continue
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (input {i}) appears to "
                                   "not have been used in the graph. Set allow_unused=True if "
                                   "this is the desired behavior.")
            result.append(None)
        else:
            if g.shape != t.shape:
                g = np.broadcast_to(g, t.shape)
            result.append(Tensor._make(_fresh_copy(g, t._storage)))
    return tuple(result)


from .function import Function, FunctionCtx, Variable  # noqa: E402,F401
