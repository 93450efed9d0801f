"""Sequential's eager fast path: a chain of layers that compile_step could capture (Linear,
the activations, Dropout, BatchNorm1d in training, LayerNorm, Residual blocks of those; or a
CNN of Conv2d, pooling and BatchNorm2d layers before those) runs
its forward as one C call over a private workspace and records one autograd node whose
backward is one C call (csrc/step.c's nf_mlp_forward / nf_mlp_backward).

Why: a ported PyTorch loop spends most of a small model's step in Python (a Module call, a
functional, a Tensor and a Node per layer each way). The kernels and their arguments are
the layers' own, in the same order, so values and gradients are bit for bit those of the
layer-by-layer path; only the Python between them is gone.

What keeps it the eager path:
  - anything it does not cover runs the layers one by one (the caller's loop): hooks on a
    member module, anomaly mode, a DistributedDataParallel forward whose reduction can
    overlap backward (several buffer pieces), an input that requires grad or is not a
    float32 (N, features) array ((N, C, H, W) for a CNN) the layers take, a parameter that
    is frozen, replaced or not float32, BatchNorm in eval mode, a layer
    list or layer option changed since the capture (then it captures again);
  - the output is an array of its own; the workspace (activations, masks, statistics) stays
    private to one graph: a workspace is lent to a forward and comes back when that graph's
    backward function is freed, so graphs kept alive side by side each hold their own (at
    most _MAX_LENT per batch size; beyond that the layer-by-layer path runs);
  - parameter gradients go where the layers' own backward puts them (autograd.grad_sink:
    the optimizer's flat buffer, an existing .grad to accumulate into, or a fresh array),
    and through the engine when a parameter has hooks or autograd.grad captures them.
"""
import math

import numpy as np

from .. import autograd as ag
from ..tensor import Tensor

_MAX_SHAPES = 4   # batch sizes with workspaces kept
_MAX_LENT = 4     # workspaces of one batch size alive at once
_F32 = np.dtype(np.float32)
_STALE = object()   # Chain.forward: the layers changed since the capture

_PLAIN_CALL = [None]   # Module.__call__ before any hook (nnfast/nn/module.py)
_FD = _amp = _grad_sink = _Module = None   # set by _imports
_mods = None   # (compile, _compile_capture, amp, _functional_dropout, hooks, Module), lazily


def _imports():
    global _mods, _FD, _amp, _grad_sink, _Module
    if _mods is None:
        from .. import compile as C, _compile_capture as CC, amp
        from . import _functional_dropout as FD, _hooks
        from .module import Module, PLAIN_CALL
        _PLAIN_CALL[0] = PLAIN_CALL
        _FD, _amp, _grad_sink = FD, amp, ag.grad_sink
        _Module = Module
        _mods = (C, CC, amp, FD, _hooks, Module)
    return _mods


class _Rejected:
    """A capture that failed, remembered until the Sequential's own layer list changes or
    its parameters are cast or moved (Module._cast/_move drop it). A nested change it misses
    costs speed only: a chain in use is checked at every call."""
    __slots__ = ("layers",)

    def __init__(self, seq):
        self.layers = tuple(seq._modules.values())


class _Workspace:
    """compile.py's buffers of one batch size, and who holds them."""
    __slots__ = ("ws", "grads")

    def __init__(self, ws, grads):
        self.ws, self.grads = ws, grads   # grads: per op index, the arrays the plan writes


class _Chain:
    """The captured layer chain of one Sequential."""

    def __init__(self, seq, ops, flatten_input, containers, hypers):
        CC = _imports()[1]
        self.ops, self.flatten_input = ops, flatten_input
        self.containers, self.hypers = containers, hypers
        # the members' __dicts__, whose "_hooked" says a member has hooks (seq's own hooks
        # ran in its __call__; holding seq's __dict__, where this chain lives, would be a cycle)
        self.dicts = [m.__dict__ for m in seq.modules() if m is not seq]
        # per parameter op: (op index, the module holding the tensors, weight, bias)
        self.slots = []
        for k, op in enumerate(ops):
            if op[0] in CC._PARAM_OPS and (op[2] is not None or op[3] is not None):
                mod = op[1].shortcut if op[0] == CC._RES_END else op[1]
                self.slots.append((k, mod, op[2], op[3]))
        self.params = tuple(t for _, _, w, b in self.slots for t in (w, b) if t is not None)
        # (op index, 0 weight / 1 bias, tensor), in self.params' order
        self.grad_slots = tuple((k, j, t) for k, _, w, b in self.slots
                                for j, t in enumerate((w, b)) if t is not None)
        self.storages = [p._storage for p in self.params]
        self.first = self.slots[0][0]
        linears = [op for op in ops if op[0] == CC._LINEAR]
        self.n_in = linears[0][2]._storage.shape[1]
        self.dropouts = [op for op in ops if op[0] == CC._DROPOUT]
        self.bns = [(k, op[1]) for k, op in enumerate(ops) if op[0] == CC._BN]
        # a CNN (Conv2d/pooling on (N, C, H, W) first): workspaces per batch size, image
        # shape and thread count (the conv plan's); an MLP's per batch size
        self.spatial = CC.is_spatial(ops)
        self.misfit = set()   # keys of inputs the layers do not take (they raise, one by one)
        self.free = {}    # key -> workspaces not lent
        self.lent = {}    # key -> how many are lent

    # ------------------------------------------------------------------ checks
    def unchanged(self):
        if not _imports()[1].layers_unchanged(self.containers, self.hypers):
            return False
        for k, mod, w, b in self.slots:
            ps = mod._parameters
            if ps.get("weight") is not w or ps.get("bias") is not b:
                return False
        for p, st in zip(self.params, self.storages):
            if p._storage is not st:
                return False
        return True

    def _hooked(self):
        call = _Module.__call__
        if call is _PLAIN_CALL[0]:
            return False   # no hook was ever registered in this process
        if call is not _Module._call_checking_hooks:
            return True    # patched (the ONNX recorder, a profiler): it must see the layers
        if _imports()[4].any_global():
            return True
        return any("_hooked" in d for d in self.dicts)

    # ------------------------------------------------------------------ workspaces
    def _lend(self, key, m, sample):
        """A workspace for key (batch m of samples shaped `sample`); None when none may be
        lent or the input does not fit the layers."""
        if key in self.misfit:
            return None
        free = self.free.get(key)
        if free is None:
            if len(self.free) >= _MAX_SHAPES:   # forget the oldest size (lent ones live on)
                old = next(iter(self.free))
                del self.free[old]
                self.lent.pop(old, None)
            free = self.free[key] = []
            self.lent[key] = 0
        if free:
            return free.pop()
        if self.lent[key] >= _MAX_LENT:
            return None
        C = _imports()[0]
        ops, grads = [], {}
        for k, op in enumerate(self.ops):
            if len(op) >= 4 and op[0] in _imports()[1]._PARAM_OPS:
                # where the plan writes gradients until a backward points it elsewhere (each
                # backward sets the targets it needs before the kernel runs): the optimizer's
                # flat buffer when there is one, so no parameter-sized scratch is kept
                g = tuple(None if t is None else _initial_grad(t) for t in op[2:4])
                grads[k] = list(g)
                op = op + g
            ops.append(op)
        ws = C.fitting_workspace(ops, self.first, m, sample)
        if ws is None:
            if len(self.misfit) < 64:
                self.misfit.add(key)
            return None
        return _Workspace(ws, grads)

    def _give_back(self, key, w):
        free = self.free.get(key)
        if free is not None and len(free) < _MAX_LENT:
            free.append(w)

    # ------------------------------------------------------------------ the call
    def forward(self, x):
        """The chain's output Tensor, None when this call is not covered, _STALE when the
        layers changed since the capture."""
        xd = x._storage if isinstance(x, Tensor) else None
        if xd is None or xd.__class__ is not np.ndarray or xd.dtype != _F32 or \
                x.requires_grad:
            return None
        if self.spatial:
            if xd.ndim != 4:
                return None
        elif xd.ndim != 2:
            if not (self.flatten_input and xd.ndim > 2):
                return None
            xd = xd.reshape(xd.shape[0], math.prod(xd.shape[1:]))
        m = xd.shape[0]
        if not self.unchanged():
            return _STALE
        if m == 0 or (not self.spatial and xd.shape[1] != self.n_in) or self._hooked():
            return None
        key = _imports()[0].workspace_key(self.spatial, m, xd.shape[1:])
        state = ag._state
        if state.anomaly or state.layered:
            # anomaly mode names the layer whose backward made a NaN; DDP's overlapped
            # reduction starts pieces as the layers' nodes finish
            return None
        grad = state.grad_enabled
        if grad:
            n_rg = 0
            for p in self.params:
                if p.requires_grad:
                    n_rg += 1
            if n_rg != len(self.params):
                if n_rg:
                    return None   # some frozen: the layers know which gradients to skip
                grad = False
        for _, bn in self.bns:
            if not bn.training:
                return None
        w = self._lend(key, m, xd.shape[1:])
        if w is None:
            return None
        self.lent[key] = self.lent.get(key, 0) + 1
        try:
            if not (xd.flags.c_contiguous and xd.flags.aligned):
                xd = np.array(xd, order="C")
            if self.spatial:
                xd = xd.reshape(m, -1)
            plan = w.ws.plan
            seeds = [(_FD._draw_seed() if op[1].training and op[2] > 0.0 else None)
                     for op in self.dropouts] if self.dropouts else ()
            for k, bn in self.bns:   # as BatchNorm1d's forward counts and weighs batches
                factor = 0.0 if bn.momentum is None else bn.momentum
                nbt = bn.num_batches_tracked
                if bn.track_running_stats and nbt is not None:
                    np.add(nbt._storage, 1, out=nbt._storage)
                    factor = 1.0 / float(nbt._storage) if bn.momentum is None else \
                        bn.momentum
                plan.set_momentum(k, float(factor))
            lp = _amp.cpu_precision()
            out = w.ws.outs[plan.forward(xd, seeds, lp)].reshape(m, -1).copy()
        except BaseException:
            self._returned(key, w)
            raise
        if not grad:
            self._returned(key, w)
            return Tensor._make(out)
        return Tensor._make(out, True, ag.Node((x,) + self.params, _Backward(self, w, key, lp),
                                               "FusedSequential"))

    def _returned(self, key, w):
        """Workspace w of `key` is free again (its graph is gone)."""
        if self.lent.get(key):
            self.lent[key] -= 1
        self._give_back(key, w)

    def backward(self, w, lp, g):
        """The chain's backward from g = d(...)/d(output) over workspace w; the gradients
        the engine must deliver (x's None, a parameter's when no sink took it)."""
        ws = w.ws
        dout = ws.dlogits
        np.copyto(dout, g, casting="unsafe")   # g may be broadcast (out.sum()) or f64
        grads = [None]            # x: never wanted (the call is not covered then)
        adds = None
        for k, j, t in self.grad_slots:
            sink, acc = _grad_sink(t)
            if sink is not None and not acc:
                arr = sink            # the usual case: written in place
                grads.append(None)
            else:
                arr = np.empty(t._storage.shape, _F32)
                if sink is None:      # hooks or autograd.grad: through the engine
                    grads.append(arr)
                else:                 # an existing .grad: added after the kernel
                    adds = (adds or []) + [(sink, arr)]
                    grads.append(None)
            cur = w.grads[k]
            if arr is not cur[j]:
                cur[j] = arr
                ws.plan.set_grads(k, arr if j == 0 else None, arr if j == 1 else None)
        ws.plan.backward(dout, lp)
        if adds:
            for sink, arr in adds:
                sink += arr
        return tuple(grads)


def _initial_grad(t):
    gb = t._grad_buf
    if gb is not None and gb._storage.__class__ is np.ndarray and \
            gb._storage.shape == t._storage.shape and gb._storage.dtype == _F32 and \
            gb._storage.flags.c_contiguous and gb._storage.flags.writeable:
        return gb._storage
    return np.empty(t._storage.shape, _F32)


class _Backward:
    """A fused node's backward function; when the graph holding it is freed, its workspace
    goes back to the chain."""
    __slots__ = ("chain", "w", "key", "lp")

    def __init__(self, chain, w, key, lp):
        self.chain, self.w, self.key, self.lp = chain, w, key, lp

    def __call__(self, g):
        w = self.w
        if w is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time or "
                "if you need to access saved tensors after calling backward.")
        grads = self.chain.backward(w, self.lp, g)
        if not ag._state.retain_graph:
            # as torch frees a graph's saved values: the workspace goes back now, not when
            # the graph is collected (a hook on the output makes a cycle that only gc breaks)
            self.w = None
            self.chain._returned(self.key, w)
        return grads

    def __del__(self):
        if self.w is not None:
            self.chain._returned(self.key, self.w)


def run(seq, x):
    """seq(x) through its captured chain, or None when the layers must run one by one."""
    ch = seq.__dict__.get("_fused_chain")
    if ch is not None:
        if type(ch) is _Chain:
            out = ch.forward(x)
            if out is not _STALE:
                return out
        elif ch.layers == tuple(seq._modules.values()):
            return None
    ch = _capture(seq)
    if ch is None:
        return None
    out = ch.forward(x)
    return None if out is _STALE else out


def _capture(seq):
    CC = _imports()[1]
    try:
        ops, flatten_input, containers, hypers = CC._capture_model(seq, spatial=True)
        for op in ops:
            if op[0] in CC._PARAM_OPS:
                for t in op[2:4]:
                    if t is not None and (t._storage.__class__ is not np.ndarray or
                                          not t._storage.flags.c_contiguous):
                        raise CC._Unsupported("a parameter off the CPU or not contiguous")
        CC.check_params_captured(ops, list(seq.parameters()))
        ch = _Chain(seq, ops, flatten_input, containers, hypers)
    except CC._Unsupported:
        ch = _Rejected(seq)
    seq.__dict__["_fused_chain"] = ch
    return ch if type(ch) is _Chain else None
