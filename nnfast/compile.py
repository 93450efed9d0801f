"""compile_step: one training step (zero_grad, forward, loss, backward, optimizer step) of a
plain MLP or small CNN, run as a fixed sequence of compiled-kernel calls on preallocated
workspaces.

    step = nf.compile_step(model, loss_fn, optimizer)
    for x, y in loader:
        loss = step(x, y)          # a Python float, as loss.item() of the eager loop

Contract: for the same inputs, parameters, gradients (p.grad), optimizer state and the loss
are bit-for-bit those of the eager loop

    optimizer.zero_grad(); loss = loss_fn(model(x), y); loss.backward(); optimizer.step()

because the step calls the very kernels the eager layers call, with the same arguments, in
the same order; only the Python around them (Tensors, Nodes, the tape, fresh arrays) is gone.

What is captured (checked once, at compile time):
  model      a Sequential (nested Sequentials flattened) of Linear, the activations of
             act.c and act_extra.c (ReLU, LeakyReLU, ELU, Sigmoid, Tanh, GELU, SiLU,
             Softplus, Hardtanh, Mish, ...), Identity, Flatten(start_dim=1, end_dim=-1),
             Dropout (p < 1), BatchNorm1d (training mode), LayerNorm over the features and
             Residual blocks of those; or a CNN: Conv2d (zeros padding, any stride,
             dilation, groups), MaxPool2d, AvgPool2d, AdaptiveAvgPool2d and BatchNorm2d
             layers with activations and Dropout between them on (N, C, H, W) input, then
             a Flatten and the layers above (its workspaces are kept per input shape and
             thread count). float32 parameters, each used once;
  loss_fn    CrossEntropyLoss (class-index targets; weight, ignore_index, label_smoothing,
             reduction 'mean' or 'sum') or MSELoss (reduction 'mean' or 'sum');
  optimizer  any nnfast optimizer holding exactly the model's parameters. SGD, Adam, AdamW,
             RMSprop and Adagrad (float32, not subclassed to change their step) hand their
             update to the same C call, from their second step on (the first creates the
             state): one kernel call per group, the very call their step() makes. Any other
             optimizer, or any step their step() would take another way (a group with
             unequal step counts, ...), runs its own step() after the C call.
Anything else gives an eager step with the same call signature: step.compiled is False and
step.reason says why.

What is read at every call (so it behaves as the eager loop does): the optimizer's
param_groups (lr changes by schedulers, other options) and state, model.train()/eval() (for
Dropout), the loss module's options, and whether each parameter still lives in the
optimizer's flat buffer and requires grad. A call the compiled sequence does not cover —
another input rank or dtype, a target out of range, an empty batch, an input that requires
grad, gradients disabled, a parameter replaced or frozen since — runs the eager loop for that
call, which also raises the eager loop's errors for bad inputs. So every input kind (ndarray,
Tensor, list, strided, float64, labels of any integer dtype, an empty batch) gets exactly the
eager loop's answer: the same loss and state, or the same exception (tests/test_compile.py).
The layer list and the layer options (slopes, Dropout's p, ...) are captured at compile time
and checked at every call:
after a change the calls run the eager loop (correct, not fast); compile again to capture
the new model.

A DistributedDataParallel model (nnfast/nn/parallel) is captured through its .module; the
C call then stops after backward, the gradients are averaged over the ranks (the wrapper's
reducer), and optimizer.step() makes the update from the averaged gradients: the numbers of
the eager DDP loop, the update as one C call per group still.

A model on CUDA is captured the same way and runs as two fused kernel launches a step
(nnfast/compile_cuda.py, nnfast/backend/cuda/fused_mlp.py): same numbers to float32
rounding, not bit for bit; this module only dispatches to it.

Workspaces are kept per batch size (the last four sizes seen), so a steady state allocates
nothing but the loss float.
"""

import math

import numpy as np

from . import _C
from . import amp as _amp
from . import autograd as ag
from ._compile_capture import (_ACT, _ACT_EXTRA, _ADAPTIVE_AVGPOOL, _AVGPOOL, _BN, _CE,  # noqa: F401
                               _CONV, _DROPOUT, _F32, _I64, _LINEAR, _LN, _MAXPOOL, _MSE,
                               _PARAM_OPS, _RES_BEGIN, _RES_END, _SPATIAL_OPS, _U8,
                               _Unsupported, _capture, _hyper, is_spatial, layers_unchanged,
                               op_sizes)
from .nn import _functional_act as _FA
from .nn import _functional_dropout as _FD
from .nn import _functional_loss as _FL
from .tensor import Tensor

__all__ = ["compile_step"]

_MAX_SHAPES = 4   # workspaces kept, one per batch size


class _EagerStep:
    """The eager loop behind compile_step's callable interface."""

    compiled = False

    def __init__(self, model, loss_fn, optimizer, reason):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.reason = reason

    def __call__(self, x, y):
        opt = self.optimizer
        opt.zero_grad()
        self._out = out = self.model(x)
        loss = self.loss_fn(out, y)
        loss.backward()
        opt.step()
        return loss.item()

    def last_output(self):
        """The model's output of the last call, as an array of its own (fit's metrics)."""
        out = getattr(self, "_out", None)
        return None if out is None else np.array(out.detach().numpy())

    def __repr__(self):
        return f"<eager training step ({self.reason})>"


def _saves_output(kind):
    """The activation's backward can read its output instead of its input: those whose
    kernels do, and ReLU, whose mask x <= 0 is relu(x) <= 0 for every x (NaN and -0.0
    included)."""
    return kind in _FA._SAVES_OUTPUT or kind == _FA._RELU


class _Workspace:
    """The buffers of one batch size M and the C op table over them (nnfast._C.MlpPlan):
    each op's output, the gradient w.r.t. each op's input (from the first Linear on), the
    dropout masks, and d(loss)/d(logits)."""

    def __init__(self, ops, first, m, sample_shape):
        """sample_shape: (n_in,), or (C, H, W) for a spatial model; raises _Unsupported when
        the input does not fit the model (that call runs eager)."""
        spec, norms, begins = [], [], {}
        if isinstance(sample_shape, int):
            sample_shape = (sample_shape,)
        sizes = op_sizes(ops, sample_shape)
        width = sizes[0][0]
        convs = [(m,) + sz[2][1:] for op, sz in zip(ops, sizes) if op[0] == _CONV]
        # one conv.c scratch for every Conv2d (each call uses it only while it runs), sized
        # for this thread count: the eager layers' plan, so the same partial sums
        ws_floats = max((max(_C.conv2d_workspace(g, False), _C.conv2d_workspace(g, True))
                         for g in convs), default=0)
        conv_ws = np.empty(ws_floats, np.float32) if ws_floats else None
        for k, op in enumerate(ops):
            code = op[0]
            n_out, geom = sizes[k][1], sizes[k][2]
            spatial = None
            if code == _CONV:
                spatial = ((m,) + geom[1:], conv_ws)
            elif code == _MAXPOOL:
                spatial = ((m,) + geom[1:], np.empty(m * n_out, np.int64))
            elif code == _AVGPOOL:
                div = op[1].divisor_override
                if div is not None and (type(div) is not int or div == 0):
                    raise _Unsupported("AvgPool2d's divisor_override")   # eager raises
                spatial = ((m,) + geom[1:], (bool(op[1].count_include_pad), int(div or 0)))
            elif code == _ADAPTIVE_AVGPOOL:
                spatial = ((m,) + geom[1:], None)
            # A Linear or Conv2d and the activation after it run as one (the activation in
            # the GEMM's or the transform's epilogue, block by block), so they can share
            # buffers, which saves a pass over memory each way: forward writes the activation
            # over the layer's output when its backward reads only that output (nothing
            # reads a Linear's or a conv's own output later); backward applies the
            # activation's derivative to the dinp of the Linear, conv or max pool above it in
            # place (the kernels allow out == inp and dinp == dout).
            after_layer = code == _ACT and k > 0 and ops[k - 1][0] in (_LINEAR, _CONV)
            if after_layer and _saves_output(op[2]):
                out = spec[k - 1][10]
            else:
                out = np.empty((m, n_out), np.float32)
            if k > first and code in (_LINEAR, _CONV, _MAXPOOL) and ops[k - 1][0] == _ACT:
                dinp = spec[k - 1][11]    # the activation's dinp: k - 1 > first
            elif k > first:
                dinp = np.empty((m, width), np.float32)
            else:
                dinp = None
            if code == _RES_BEGIN:    # the block reads its input: no output of its own
                begins[k] = width
                spec.append((code, op[2], 0.0, 0, width, width, None, None, None, None, None,
                             dinp, None, 0, 0.0, 0.0))
            elif code == _RES_END:
                b0 = next(j for j in range(k - 1, -1, -1)
                          if ops[j][0] == _RES_BEGIN and ops[j][2] == k)
                w, b = op[2], op[3]
                # the Linear shortcut's input gradient, when the Residual's input needs one
                dinp = np.empty((m, begins[b0]), np.float32) if w is not None and \
                    b0 > first else None
                spec.append((code, b0, 0.0, 0, width, width, None if w is None else w._storage,
                             None if b is None else b._storage, op[4], op[5], out, dinp, None,
                             0, 0.0, 0.0))
            elif code == _LINEAR:
                w, b = op[2], op[3]
                spec.append((code, 0, 0.0, 0, width, n_out, w._storage,
                             None if b is None else b._storage, op[4], op[5], out, dinp, None, 0,
                             0.0, 0.0))
            elif code == _ACT:
                spec.append((code, op[2], op[3], _saves_output(op[2]), width, n_out,
                             None, None, None, None, out, dinp, None, 0, 0.0, 0.0))
            elif code == _ACT_EXTRA:
                spec.append((code, op[2], op[3], 0, width, n_out,
                             None, None, None, None, out, dinp, None, 0, 0.0, op[4]))
            elif code in (_BN, _LN):
                w, b = op[2], op[3]
                spec.append((code, 0, 0.0, 0, width, n_out, None if w is None else w._storage,
                             None if b is None else b._storage, op[4], op[5], out, dinp, None,
                             0, 0.0, 0.0))
                mod = op[1]
                inner = geom or 1   # BatchNorm2d: H*W values per channel
                if code == _BN and (m * inner == 1 or not mod.eps > 0.0):
                    # training BatchNorm refuses one value a channel and eps <= 0: eager
                    # raises those
                    raise _Unsupported("BatchNorm training on this batch")
                if code == _BN and geom:
                    spatial = (geom,)
                n = width // inner if code == _BN else m
                track = code == _BN and mod.running_mean is not None
                norms.append((k, np.empty(n, np.float32), np.empty(n, np.float32),
                              mod.running_mean._storage if track else None,
                              mod.running_var._storage if track else None, float(mod.eps)))
            elif code == _DROPOUT:
                p = op[2]
                mask = np.empty(m * width, np.uint8) if k > first else None
                thresh = _FD._threshold(p) if p > 0 else 0
                scale = float(_FD._scale(p, np.dtype(np.float32)))
                spec.append((code, 0, 0.0, 0, width, n_out, None, None, None, None, out, dinp,
                             mask, thresh, scale, 0.0))
            elif code in _SPATIAL_OPS:
                w, b = (op[2], op[3]) if code == _CONV else (None, None)
                spec.append((code, 0, 0.0, 0, width, n_out, None if w is None else w._storage,
                             None if b is None else b._storage,
                             op[4] if code == _CONV else None,
                             op[5] if code == _CONV else None, out, dinp, None, 0, 0.0, 0.0))
            spec[-1] += (spatial,)
            width = n_out
        self.dlogits = np.empty((m, width), np.float32)
        self.plan = _C.MlpPlan(spec, m, self.dlogits)
        for norm in norms:
            self.plan.set_norm(*norm)
        self.outs = [sp[10] for sp in spec]


def workspace_key(spatial, m, sample):
    """What a workspace is kept under: the batch size, and for a CNN the image shape and the
    thread count too (the conv plan, and so its partial sums, depends on it)."""
    return (m, sample, _C.get_num_threads()) if spatial else m


def fitting_workspace(ops, first, m, sample):
    """_Workspace(ops, first, m, sample), or None when the input does not fit the model (the
    eager layers raise, or cope, for it)."""
    try:
        return _Workspace(ops, first, m, sample)
    except (_Unsupported, ValueError, TypeError):
        return None


class CompiledStep:
    """A captured training step; see the module docstring."""

    compiled = True
    reason = None

    def __init__(self, model, loss_fn, optimizer, ops, flatten_input, views, loss_kind,
                 containers=(), hypers=(), ddp=None):
        # ddp: the DistributedDataParallel wrapping model; its gradients are averaged
        # between the captured backward and the optimizer's step (the eager calls run it)
        self._ddp = ddp
        self.model, self.loss_fn, self.optimizer = ddp or model, loss_fn, optimizer
        self._eager = _EagerStep(ddp or model, loss_fn, optimizer, "eager call")
        gmap = {id(p): g for p, _, g in views}
        # Linear and norm ops carry their weight's and bias's slices of the flat gradient
        # buffer
        ops = [op + tuple(None if t is None else gmap[id(t)] for t in op[2:4])
               if op[0] in _PARAM_OPS else op for op in ops]
        self._ops = ops
        # ops before the first one with parameters get no gradient (of the data batch)
        self._first = next(k for k, o in enumerate(ops) if o[0] in _PARAM_OPS and
                           (o[2] is not None or o[3] is not None))
        self._bns = [(k, o[1]) for k, o in enumerate(ops) if o[0] == _BN]
        linears = [o for o in ops if o[0] == _LINEAR]
        self._n_in = linears[0][2]._storage.shape[1]
        self._n_out = linears[-1][2]._storage.shape[0]
        self._flatten_input = flatten_input
        self._spatial = is_spatial(ops)   # takes (N, C, H, W) batches
        self._loss_kind = loss_kind
        self._dropouts = [o for o in ops if o[0] == _DROPOUT]
        self._params = [v[0] for v in views]
        self._gviews = [v[2] for v in views]
        self._checks = tuple((v[0], v[1]) for v in views)
        self._grad_tensors = [Tensor._make(g) for g in self._gviews]
        # the layers whose parameters the ops hold (a Residual's: its Linear shortcut's)
        self._linears = [(o[1].shortcut if o[0] == _RES_END else o[1], o[2], o[3])
                         for o in ops if o[0] in _PARAM_OPS and
                         not (o[0] == _RES_END and o[2] is None)]
        self._containers = containers
        self._hypers = hypers
        self._work = {}
        self.eager_calls = 0   # calls that ran the eager loop (inputs it does not cover)

    def __repr__(self):
        return f"<compiled training step of {len(self._ops)} ops>"

    # ------------------------------------------------------------------ checks
    def _params_ok(self):
        """The captured model is still the model: same layers, same layer options, the
        parameters still in the optimizer's flat buffer and requiring grad."""
        if not layers_unchanged(self._containers, self._hypers):
            return False
        for p, v in self._checks:
            if p._storage is not v or not p.requires_grad:
                return False
        for mod, w, b in self._linears:
            ps = mod._parameters
            if ps.get("weight") is not w or ps.get("bias") is not b:
                return False
        for _, bn in self._bns:   # the step holds training-mode BatchNorm (eval runs eager)
            if not bn.training:
                return False
        return True

    def _workspace(self, m, sample):
        """The workspace of batch size m and sample shape (with convolutions: and of this
        thread count, which their plan depends on); False when the input does not fit."""
        key = workspace_key(self._spatial, m, sample)
        ws = self._work.get(key)
        if ws is None:
            if len(self._work) >= _MAX_SHAPES:
                self._work.pop(next(iter(self._work)))
            ws = self._work[key] = fitting_workspace(self._ops, self._first, m, sample) or False
        return ws

    # ------------------------------------------------------------------ the step
    def _captured_batch(self, x, y, kinds=(np.ndarray,)):
        """(x's array as (m, n_in), y's array, the loss reduction) when the captured call
        covers this batch (arrays of `kinds`, float32 x, no gradient wanted for them, grad
        mode on, the model unchanged); None when the eager loop must run."""
        xd = x._storage if isinstance(x, Tensor) else x
        yd = y._storage if isinstance(y, Tensor) else y
        if (not isinstance(xd, kinds) or not isinstance(yd, kinds)
                or (isinstance(x, Tensor) and x.requires_grad)
                or (isinstance(y, Tensor) and y.requires_grad)
                or xd.dtype != _F32 or not ag._state.grad_enabled):
            return None
        if self._spatial:   # (N, C, H, W), the sizes checked by the workspace
            if xd.ndim != 4 or xd.shape[0] == 0 or not self._params_ok():
                return None
        elif xd.ndim != 2:
            if not (self._flatten_input and xd.ndim > 2):
                return None
            # the size spelled out: reshape cannot infer a -1 beside a 0 (an empty batch)
            xd = xd.reshape(xd.shape[0], math.prod(xd.shape[1:]))
        if not self._spatial and (xd.shape[1] != self._n_in or xd.shape[0] == 0 or
                                  not self._params_ok()):
            return None
        red = _FL._REDUCTIONS.get(self.loss_fn.reduction)
        if red is None or red == _FL.NONE:
            return None
        return xd, yd, red

    def __call__(self, x, y):
        batch = self._captured_batch(x, y)
        if batch is None:
            return self._run_eager(x, y)
        xd, yd, red = batch
        m = xd.shape[0]
        lf = self.loss_fn
        w = None
        if self._loss_kind == _CE:
            ls = lf.label_smoothing
            if yd.shape != (m,) or yd.dtype not in (_I64, _U8) or not 0.0 <= ls <= 1.0:
                return self._run_eager(x, y)
            t = yd if yd.dtype == _I64 and yd.flags.c_contiguous else \
                np.ascontiguousarray(yd, dtype=_I64)
            ii = int(lf.ignore_index)
            if _C.bad_label(t, self._n_out, ii) >= 0:
                return self._run_eager(x, y)
            if lf.weight is not None:
                try:
                    w = _FL._class_weight(lf.weight, self._n_out, _F32, "cross_entropy")
                except Exception:
                    return self._run_eager(x, y)
            ls = float(ls)
            scale = 1.0
        else:
            if yd.shape != (m, self._n_out) or yd.dtype != _F32:
                return self._run_eager(x, y)
            t = yd if yd.flags.c_contiguous else np.ascontiguousarray(yd)
            ii, ls = 0, 0.0
            scale = _FL._safe_inverse(m * self._n_out) if red == _FL.MEAN else 1.0
        ws = self._workspace(m, xd.shape[1:])
        if ws is False:
            return self._run_eager(x, y)
        if not xd.flags.c_contiguous:
            xd = np.ascontiguousarray(xd)
        if self._spatial:
            xd = xd.reshape(m, -1)
        seeds = [(_FD._draw_seed() if o[1].training and o[2] > 0.0 else None)
                 for o in self._dropouts] if self._dropouts else ()
        # ---- p.grad as backward leaves it (the C call writes the buffers behind them)
        for p, gt, gv in zip(self._params, self._grad_tensors, self._gviews):
            if gt._storage is not gv:
                gt = Tensor._make(gv)
            p.grad = gt
        # ---- BatchNorm's count and running-statistics factor, as its forward sets them
        for k, bn in self._bns:
            factor = 0.0 if bn.momentum is None else bn.momentum
            nbt = bn.num_batches_tracked
            if bn.track_running_stats and nbt is not None:
                np.add(nbt._storage, 1, out=nbt._storage)
                factor = 1.0 / float(nbt._storage) if bn.momentum is None else bn.momentum
            ws.plan.set_momentum(k, float(factor))
        # ---- the optimizer's step, run by the same C call when it is one update per group
        # (with DDP the C call stops after backward: the update must read averaged gradients)
        opt = self.optimizer
        ddp = self._ddp
        if ddp is not None:
            sync = ddp.require_backward_grad_sync
            if sync:
                ddp._sync_buffers()
            records = None
        else:
            records = opt._take_step_records()
        try:
            total = ws.plan.run(xd, t, w, self._loss_kind, red, ii, ls, scale, seeds,
                                records or (), _amp.cpu_precision())
        except BaseException:
            if records is not None:
                opt._undo_step_records()
            raise
        if total - total != 0.0:      # not finite (inf - inf and nan - nan are nan)
            if records is not None:
                opt._undo_step_records()
            self._fail(xd, t, w, ws, total, red, ii)
        if records is None:
            if ddp is not None and sync:
                ddp._reduce_gradients()
            opt.step()
        self._last = (ws, m)
        return float(_F32.type(total))

    def output_shape(self, x):
        """The shape of the logits a captured call on batch x gives, (m, n_out), as the eager
        model's output would have; None when x is not a batch the captured call takes (then
        only running the model tells)."""
        xd = x._storage if isinstance(x, Tensor) else x
        if not isinstance(xd, np.ndarray) or xd.dtype != _F32 or xd.ndim < 2 or \
                xd.shape[0] == 0 or not self._params_ok():
            return None
        m = xd.shape[0]
        if self._spatial:
            ok = xd.ndim == 4 and self._workspace(m, xd.shape[1:]) is not False
        else:
            ok = (xd.ndim == 2 or self._flatten_input) and \
                math.prod(xd.shape[1:]) == self._n_in
        return (m, self._n_out) if ok else None

    def last_output(self):
        """The logits of the last call (what the loss read), as an array of their own."""
        last = getattr(self, "_last", None)
        if last is None:
            return self._eager.last_output()
        ws, m = last
        return self._logits(ws).reshape(m, -1).copy()

    def _run_eager(self, x, y):
        self.eager_calls += 1
        self._last = None
        return self._eager(x, y)

    def _fail(self, xd, t, w, ws, total, red, ii):
        for p in self._params:      # as the eager loop: zero_grad ran, backward did not
            p.grad = None
        if self._loss_kind == _CE:
            who = "cross_entropy"
            named = (("input", self._logits(ws)), ("target", t), ("weight", w))
            hint = (f" (the weights of the non-ignored targets sum to 0, e.g. every target "
                    f"equals ignore_index={ii})") if red == _FL.MEAN else ""
        else:
            who = "mse_loss"
            named = (("input", self._logits(ws)), ("target", t))
            hint = ""
        raise _FL._nonfinite(who, float(total), named, hint)

    def _logits(self, ws):
        """The last op's output that the loss read (inactive dropouts pass their input on)."""
        for k in range(len(self._ops) - 1, -1, -1):
            op = self._ops[k]
            if op[0] != _DROPOUT or (op[1].training and op[2] > 0.0):
                return ws.outs[k].reshape(-1)


def compile_step(model, loss_fn, optimizer):
    """A callable step(x, y) -> loss (float) doing optimizer.zero_grad(), the forward pass,
    the loss, backward and optimizer.step(), bit-for-bit as the eager loop does.

    Models, losses or optimizers it cannot capture give the eager loop behind the same
    callable; `step.compiled` tells which, `step.reason` why not."""
    devices = {p.device.type for p in model.parameters()}
    if "cuda" in devices:
        from .compile_cuda import compile_cuda_step
        return compile_cuda_step(model, loss_fn, optimizer)
    from .nn.parallel import DistributedDataParallel
    ddp = model if isinstance(model, DistributedDataParallel) else None
    inner = model.module if ddp is not None else model
    try:
        for p in model.parameters():
            if p.device.type != "cpu":
                raise _Unsupported(f"the model is on {p.device}: the captured step runs on "
                                   "the CPU and CUDA only")
        if ddp is not None and (ddp.module._has_hooks() or ddp._has_hooks()):
            raise _Unsupported("the DistributedDataParallel model has module hooks")
        ops, flatten_input, containers, hypers, loss_kind, views = _capture(
            inner, loss_fn, optimizer, spatial=True)
    except _Unsupported as e:
        return _EagerStep(model, loss_fn, optimizer, str(e))
    return CompiledStep(inner, loss_fn, optimizer, ops, flatten_input, views, loss_kind,
                        containers, hypers, ddp=ddp)
