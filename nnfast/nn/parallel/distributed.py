"""DistributedDataParallel: one model replica per MPI rank, gradients averaged over ranks.

    dist.init_process_group("mpi")
    model = DistributedDataParallel(model)          # every rank now holds rank 0's weights
    opt = nf.optim.Adam(model.parameters())
    loss_fn(model(x_local), y_local).backward()     # .grad = the mean over the ranks
    opt.step()

At wrap: every rank's parameter and buffer names, shapes and dtypes are compared (an error
names the first parameter that differs and the ranks), then rank 0's parameters and buffers
are broadcast. Each forward pass (with grad mode on, outside no_sync) hooks the outputs so
that the backward through them runs the reduction (_reducer.py: pieces of the optimizer's
flat gradient buffer start while the backward still runs, the rest when it ends): .grad
becomes the sum over ranks / world size, which for a mean-reduced loss over equal local batches is the
gradient of the whole N*b batch. Buffers (BatchNorm's running statistics) are broadcast
from rank 0 at each such forward, as torch does with broadcast_buffers=True.

compile_step(ddp_model, ...) captures ddp_model.module and runs the captured forward and
backward, this reduction, then the optimizer's step (nnfast/compile.py).

Not here: CUDA modules, device_ids/output_device, process groups other than the world,
comm hooks, static_graph, join(), mixed_precision.
"""
import contextlib
import pickle

import numpy as np

from ... import autograd as ag
from ...distributed import _group
from ...distributed.collectives import _allgather_bytes, _staged
from ...tensor import Tensor
from ..module import Module
from ._reducer import Reducer

__all__ = ["DistributedDataParallel"]


class DistributedDataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0,
                 broadcast_buffers=None, init_sync=True, process_group=None,
                 bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False,
                 delay_all_reduce_named_params=None, param_to_hook_all_reduce=None,
                 mixed_precision=None, device_mesh=None, skip_all_reduce_unused_params=False,
                 **kwargs):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError("DistributedDataParallel wraps an nnfast.nn.Module, got "
                            f"{type(module).__name__}")
        pg = _group.require(process_group)
        if device_ids not in (None, []) or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids and output_device are for "
                             "a module on one CUDA device; nnfast's runs CPU modules (leave "
                             "them None)")
        for what, v in (("mixed_precision", mixed_precision), ("device_mesh", device_mesh),
                        ("delay_all_reduce_named_params", delay_all_reduce_named_params),
                        ("param_to_hook_all_reduce", param_to_hook_all_reduce)):
            if v is not None:
                raise NotImplementedError(f"DistributedDataParallel({what}=...) is not "
                                          "supported by nnfast yet")
        if static_graph:
            raise NotImplementedError("DistributedDataParallel(static_graph=True) is not "
                                      "supported by nnfast yet")
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if not isinstance(t._storage, np.ndarray):
                raise NotImplementedError(
                    f"DistributedDataParallel: {name} is on {t.device}; nnfast's "
                    "DistributedDataParallel runs CPU modules")
        if bucket_cap_mb is None:
            bucket_cap_mb = 25
        if not float(bucket_cap_mb) > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.bucket_cap_mb = bucket_cap_mb
        self.dim = dim
        self.device_ids = None
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        object.__setattr__(self, "process_group", pg)
        named = list(module.named_parameters())
        _check_same_model(pg, named, list(module.named_buffers()), module)
        if init_sync:
            _broadcast_tensors(pg, [p for _, p in named] + list(module.buffers()),
                               "DistributedDataParallel: broadcasting rank 0's parameters")
        object.__setattr__(self, "reducer", Reducer(pg, named, bucket_cap_mb,
                                                    self.find_unused_parameters))
        object.__setattr__(self, "_queued", None)

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        sync = ag.is_grad_enabled() and self.require_backward_grad_sync
        self.require_forward_param_sync = sync
        if sync:
            self._sync_buffers()
        # with several buffer pieces, reductions can start during backward if it runs layer
        # by layer: ask Sequential's fused chain (one node for all its layers) to step aside
        st = ag._state
        pieces = len(getattr(self.reducer, "pieces", ()))   # (none before the first plan)
        prev, st.layered = st.layered, st.layered or (sync and pieces > 1)
        try:
            out = self.module(*inputs, **kwargs)
        finally:
            st.layered = prev
        if ag.is_grad_enabled():
            self._hook_outputs(out, sync)
        return out

    def _sync_buffers(self):
        """Rank 0's buffers to every rank (torch's broadcast_buffers)."""
        if self.broadcast_buffers and self.process_group.size > 1:
            bufs = list(self.module.buffers())
            if bufs:
                _broadcast_tensors(self.process_group, bufs,
                                   "DistributedDataParallel buffer broadcast")

    def _hook_outputs(self, out, sync):
        hook = self._on_output_grad if sync else self._on_local_output_grad
        for t in _tensors_in(out):
            if t.requires_grad:
                t.register_hook(hook)

    def _first_in_this_backward(self):
        # once per backward pass, however many outputs it reaches (each pass has its own
        # callback list; a pass that raised leaves nothing behind)
        cbs = ag._state.callbacks
        if self._queued is cbs or ag._state.sinks_off:   # sinks_off: autograd.grad, no .grad
            return False
        object.__setattr__(self, "_queued", cbs)
        return True

    def _on_output_grad(self, grad):
        # the backward through our outputs has begun: start the reduction (pieces whose
        # gradients are final start as the pass goes on) and finish it once the pass ends
        if self._first_in_this_backward():
            self.reducer.begin(early=True)
            ag.queue_callback(self._finish_backward)
        return None

    def _on_local_output_grad(self, grad):
        # a backward inside no_sync: nothing to reduce, only restart the node counts
        if self._first_in_this_backward():
            ag.queue_callback(self.reducer.open_window)
        return None

    def _finish_backward(self):
        try:
            self.reducer.end()
        finally:
            self.reducer.open_window()

    def _reduce_gradients(self):
        """Average the gradients now (compile_step calls it between backward and step)."""
        self.reducer.reduce()

    # ------------------------------------------------------------------ torch's API
    @contextlib.contextmanager
    def no_sync(self):
        """Gradients of the backward passes of forwards run inside accumulate locally; the
        first synchronised backward after it reduces the accumulated sum."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    def register_comm_hook(self, state, hook):
        raise NotImplementedError("DistributedDataParallel.register_comm_hook is not "
                                  "supported by nnfast yet (gradients are averaged by "
                                  "allreduce)")

    def join(self, *args, **kwargs):
        raise NotImplementedError("DistributedDataParallel.join (uneven inputs) is not "
                                  "supported by nnfast yet: every rank must run the same "
                                  "number of synchronised backward passes")

    def extra_repr(self):
        return ""

    def _get_name(self):
        return "DistributedDataParallel"


def _tensors_in(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensors_in(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors_in(o)


def _broadcast_tensors(pg, tensors, what):
    """Rank 0's values of tensors into every rank's, one nonblocking broadcast each."""
    if pg.size == 1:
        return
    staged, reqs = [], []
    for t in tensors:
        a = t._storage
        buf, back = _staged(a, "broadcast")
        staged.append((t, a, buf, back))
        reqs.append(pg.comm.Ibcast(buf, root=0))
    _group.wait(pg, reqs, what)
    for t, a, buf, back in staged:
        if back:
            a[...] = buf
        t._bump()


def _check_same_model(pg, named_params, named_buffers, module):
    """Every rank's model has the same parameters and buffers (names, shapes, dtypes, in
    order) and the same layers (each submodule's class: a Tanh where another rank has a ReLU
    has no parameter to tell); otherwise every rank raises the same error naming the first
    difference."""
    mine = [("parameter", n, tuple(p.shape), str(p._storage.dtype), bool(p.requires_grad))
            for n, p in named_params]
    mine += [("buffer", n, tuple(b.shape), str(b._storage.dtype), False)
             for n, b in named_buffers]
    mine += [("module", n or "(the model)", (), f"{type(m).__module__}.{type(m).__qualname__}",
              True) for n, m in module.named_modules()]
    got = _allgather_bytes(pg, pickle.dumps(mine),
                           "DistributedDataParallel: comparing the ranks' models")
    sigs = [pickle.loads(b) for b in got]
    ref = sigs[0]
    for r in range(1, pg.size):
        s = sigs[r]
        if s == ref:
            continue
        for k in range(max(len(ref), len(s))):
            a = ref[k] if k < len(ref) else None
            b = s[k] if k < len(s) else None
            if a != b:
                break
        raise RuntimeError(
            "DistributedDataParallel: the model differs across ranks, " + _diff(a, b, r) +
            " (every rank must build the same model before wrapping it)")


def _diff(a, b, r):
    def say(x):
        return (f"{x[0]} '{x[1]}' of shape {list(x[2])}, {x[3]}"
                + ("" if x[4] or x[0] == "buffer" else ", requires_grad=False"))
    if a is None:
        return f"rank {r} has an extra {say(b)} that rank 0 lacks"
    if b is None:
        return f"rank 0 has {say(a)} that rank {r} lacks"
    if a[0] == "module" and b[0] == "module" and a[1] == b[1]:
        return f"module '{a[1]}' is a {a[3]} on rank 0 and a {b[3]} on rank {r}"
    if a[1] != b[1] or a[0] != b[0]:
        return f"rank 0 has {say(a)} where rank {r} has {say(b)}"
    return f"{a[0]} '{a[1]}': rank 0 has {say(a)[len(a[0]) + len(a[1]) + 4:]}, rank {r} has " \
           f"{say(b)[len(b[0]) + len(b[1]) + 4:]}"
