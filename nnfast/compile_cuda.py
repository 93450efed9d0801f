"""compile_step for a model on CUDA: the whole MLP step in two kernel launches.

    model.to("cuda"); opt = optim.Adam(model.parameters())
    step = nf.compile_step(model, loss_fn, opt)     # a CudaCompiledStep when it fits
    loss = step(x, y)          # a Python float, as loss.item() of the eager loop
    loss = step.launch(x, y)   # the loss as a 0-d CudaArray: no wait for the device

The model, loss and optimizer are captured as compile.py captures them (the same layers,
losses and checks at every call); the step then runs as nnfast/backend/cuda/fused_mlp.py's
two kernels: launch 1 = forward, loss, its gradient and backward of every row tile (weight
gradients as per-block partials), launch 2 = the partials summed in block order into the
optimizer's flat gradient buffer and, for Adam/AdamW and SGD, the update on the optimizer's
own flat buffers (fl.param, fl.grad, fl.buffers), so eager and compiled steps can alternate
on one state. Other optimizers (and the first step, which creates the state) run their own
step() after launch 2. Batches may live on the host (copied once) or on the device.

Same numbers as the eager step to float32 rounding (the GEMM order differs), not bit for
bit as the CPU's compiled step. What differs from the CPU's compile_step: a non-finite loss
is not raised (it stays NaN on the device, as the eager CUDA loop leaves it); class labels
on the device are checked with one small kernel that waits for the device (labels on the
host are checked on the host, free).

Fused: a chain of Linear layers, each followed by at most one activation (ReLU, LeakyReLU,
ELU, Sigmoid, Tanh, GELU, SiLU) and then at most one Dropout, every width after the input
<= fused_mlp.MAXW, one parameter group. Anything else gives the eager loop with a reason.
No CUDA graph: the simulator that the tests run on cannot execute one, so it is left out.
"""
import numpy as np

from . import _C
from .compile import (_CE, _DROPOUT, _LINEAR, _ACT, CompiledStep, _EagerStep, _F32, _I64,
                      _U8, _Unsupported, _capture)
from .nn import _functional_dropout as _FD
from .nn import _functional_loss as _FL
from .tensor import Tensor

__all__ = ["compile_cuda_step", "CudaCompiledStep"]


def _fused_layers(ops, fl):
    """fused_mlp's layer list from compile.py's op list (raises _Unsupported)."""
    from .backend.cuda import fused_mlp as FM
    index = {id(p): i for i, p in enumerate(fl.params)}
    layers, drops = [], []
    for op in ops:
        code = op[0]
        if code == _LINEAR:
            w, b = op[2], op[3]
            n_out, n_in = w.shape
            layers.append([n_in, n_out, index[id(w)], None if b is None else index[id(b)],
                           None, 0.0, None, 1.0])
            continue
        if not layers:
            raise _Unsupported(f"{type(op[1]).__name__} before the first Linear: the fused "
                               "CUDA step starts with a Linear")
        cur = layers[-1]
        if code == _ACT:
            if cur[4] is not None or cur[6] is not None:
                raise _Unsupported("two activations, or an activation after a Dropout, "
                                   "between Linear layers: not fused on CUDA")
            cur[4], cur[5] = op[2], op[3]
        elif code == _DROPOUT:
            if cur[6] is not None:
                raise _Unsupported("two Dropouts between Linear layers: not fused on CUDA")
            if len(drops) == FM.MAX_DROPOUT:
                raise _Unsupported(f"more than {FM.MAX_DROPOUT} Dropout layers: not fused "
                                   "on CUDA")
            p = op[2]
            cur[6] = len(drops)
            cur[7] = float(_FD._scale(p, _F32)) if p > 0 else 1.0
            drops.append(op)
        else:
            raise _Unsupported(f"{type(op[1]).__name__}: not fused on CUDA (the fused step "
                               "takes act.c's activations)")
    maxw = FM.MAXW
    wide = [n_out for _, n_out, *_ in layers if n_out > maxw]
    if wide:
        raise _Unsupported(f"widths above {maxw} on CUDA ({max(wide)}): the fused step "
                           "keeps a row tile's layers on chip; the eager CUDA loop runs")
    return [tuple(x) for x in layers], drops


class _Workspace:
    """The device buffers of one batch size M: each layer's pre-activation and output, the
    per-block gradient partials and loss partials."""

    def __init__(self, K, FM, m, width_sum, numel):
        rows = FM.TILES[0]
        self.blocks = min((m + rows - 1) // rows, FM.MAX_BLOCKS)
        self.ws = K.empty(max(1, 2 * m * width_sum), np.float32)
        self.part = K.empty(self.blocks * numel, np.float32)
        self.lpart = K.empty(self.blocks, np.float64)
        self.stats = K.empty(1, np.float64)


class CudaCompiledStep(CompiledStep):
    """A captured training step on CUDA; see the module docstring."""

    def __init__(self, model, loss_fn, optimizer, ops, flatten_input, views, loss_kind,
                 containers, hypers, layers, drops):
        super().__init__(model, loss_fn, optimizer, ops, flatten_input, views, loss_kind,
                         containers, hypers)
        from .backend import cuda as K
        from .backend.cuda import fused_mlp as FM
        self._K, self._FM = K, FM
        self._fl = optimizer._flat[0]
        meta, fmeta, self._width_sum = FM.meta_arrays(layers, self._fl.offsets)
        self._meta, self._fmeta = K.from_host(meta), K.from_host(fmeta)
        self._nlayers = len(layers)
        self._drops = drops
        self._thresh = [np.uint64(_FD._threshold(o[2]) if o[2] > 0 else 0) for o in drops]
        self._kernels = FM.kernels(*FM.TILES)
        self._none_i64 = K.empty(0, np.int64)
        self._none_f32 = K.empty(0, np.float32)
        self.fused_updates = 0   # calls whose optimizer update ran inside launch 2

    def __repr__(self):
        return f"<compiled CUDA training step of {self._nlayers} fused layers>"

    def __call__(self, x, y):
        loss = self.launch(x, y)
        return float(loss.get()) if hasattr(loss, "get") else loss

    def _run_eager(self, x, y):
        """The eager loop, with batches on the host moved to the device first (the fused
        path accepts them there, so a call it does not cover must too)."""
        return super()._run_eager(self._to_device(x), self._to_device(y))

    def _to_device(self, a):
        if isinstance(a, np.ndarray):
            a = Tensor._make(a)
        if isinstance(a, Tensor) and a.device.type == "cpu":
            return a.to("cuda")
        return a

    def _workspace(self, m):
        ws = self._work.get(m)
        if ws is None:
            if len(self._work) >= 4:
                self._work.pop(next(iter(self._work)))
            ws = self._work[m] = _Workspace(self._K, self._FM, m, self._width_sum,
                                            self._fl.numel)
        return ws

    # ------------------------------------------------------------------ inputs
    def _device(self, a, dtype):
        """a (host ndarray or CudaArray) as a contiguous device array of dtype, or None."""
        K = self._K
        if isinstance(a, K.CudaArray):
            if a.dtype != dtype:
                a = a.astype(dtype)
            return K.ascontiguous(a)
        return K.from_host(np.ascontiguousarray(a, dtype=dtype))

    def launch(self, x, y):
        """The step without waiting for the device: the loss as a 0-d float32 CudaArray
        (or, for a call the fused kernels do not cover, the eager loop's float)."""
        K = self._K
        batch = self._captured_batch(x, y, (np.ndarray, K.CudaArray))
        if batch is None:
            return self._run_eager(x, y)
        xd, yd, red = batch
        m = xd.shape[0]
        lf = self.loss_fn
        C = self._n_out
        cw, ti, tf = self._none_f32, self._none_i64, self._none_f32
        ii, ls, mse_scale = 0, 0.0, 1.0
        if self._loss_kind == _CE:
            ls = lf.label_smoothing
            if yd.shape != (m,) or yd.dtype not in (_I64, _U8) or not 0.0 <= ls <= 1.0:
                return self._run_eager(x, y)
            ii = int(lf.ignore_index)
            if isinstance(yd, np.ndarray):
                t = np.ascontiguousarray(yd, dtype=_I64)
                if _C.bad_label(t, C, ii) >= 0:
                    return self._run_eager(x, y)
                ti = K.from_host(t)
            else:
                ti = self._device(yd, _I64)
                if K.bad_label(ti, C, ii) >= 0:     # waits for the device
                    return self._run_eager(x, y)
            if lf.weight is not None:
                try:
                    w = lf.weight._storage if isinstance(lf.weight, Tensor) else lf.weight
                    if not isinstance(w, K.CudaArray):
                        w = _FL._class_weight(w, C, _F32, "cross_entropy")
                    elif w.shape != (C,):
                        return self._run_eager(x, y)
                    cw = self._device(w, _F32)
                except Exception:
                    return self._run_eager(x, y)
            ls = float(ls)
        else:
            if yd.shape != (m, C) or yd.dtype != _F32:
                return self._run_eager(x, y)
            tf = self._device(yd, _F32)
            if red == _FL.MEAN:
                mse_scale = _FL._safe_inverse(m * C)
        xg = self._device(xd, _F32)
        ws = self._work.get(m) or self._workspace(m)
        # dropout: one seed per active layer, drawn in forward order as the eager loop does
        active, seeds = 0, [np.uint64(0)] * 4
        for k, o in enumerate(self._drops):
            if o[1].training and o[2] > 0.0:
                active |= 1 << k
                seeds[k] = np.uint64(_FD._draw_seed())
        thresh = self._thresh + [np.uint64(0)] * (4 - len(self._thresh))
        # p.grad as backward leaves it (launch 2 writes the buffer behind it)
        for p, gt, gv in zip(self._params, self._grad_tensors, self._gviews):
            if gt._storage is not gv:
                gt = Tensor._make(gv)
            p.grad = gt
        opt = self.optimizer
        fl = self._fl
        records = opt._take_step_records()
        rec = records[0] if records else None
        if rec is not None and rec[0] not in (_C.UPDATE_ADAM, _C.UPDATE_SGD):
            opt._undo_step_records()      # its own kernel, after the gradient is reduced
            rec = None
        fused, reduce_update = self._kernels
        FM = self._FM
        try:
            fused[ws.blocks, FM.TILES[1]](
                xg.flat, ti.flat, tf.flat, cw.flat, fl.param.flat, self._meta.flat,
                self._fmeta.flat, self._nlayers, m, ws.ws.flat, ws.part.flat, fl.numel,
                ws.lpart.flat, ws.stats.flat, self._loss_kind, int(red == _FL.MEAN), ii, ls,
                np.float32(mse_scale), active, *seeds, *thresh)
            res = K.empty((), np.float32)
            kind, states, floats, ints = FM.UPDATE_NONE, (), (), ()
            if rec is not None:
                kind, _, _, states, floats, ints = rec
            pf = fl.param.flat
            s = [pf if b is None else b.flat for b in states] + [pf] * (3 - len(states))
            f = [np.float32(v) for v in floats] + [np.float32(0)] * (8 - len(floats))
            if kind == _C.UPDATE_ADAM:
                i = [np.int32(bool(ints[0])), np.int32(states[2] is not None), np.int32(0)]
            elif kind == _C.UPDATE_SGD:
                i = [np.int32(bool(ints[0])), np.int32(bool(ints[1])),
                     np.int32(states[0] is not None)]
            else:
                i = [np.int32(0)] * 3
            ce_mean = self._loss_kind == _CE and red == _FL.MEAN
            reduce_update[K._launch.grid(fl.numel)](
                ws.part.flat, ws.blocks, fl.numel, fl.grad.flat, pf, *s, kind, *f, *i,
                ws.lpart.flat, ws.stats.flat, res.flat,
                float(np.float32(mse_scale)) if self._loss_kind != _CE else 1.0,
                int(ce_mean))
        except BaseException:
            if rec is not None:
                opt._undo_step_records()
            raise
        if rec is None:
            opt.step()
        else:
            self.fused_updates += 1
        return res


def compile_cuda_step(model, loss_fn, optimizer):
    """compile_step for a model whose parameters live on CUDA (compile.py dispatches)."""
    try:
        devices = {str(p.device) for p in model.parameters()}
        if len(devices) != 1:
            raise _Unsupported(f"the model's parameters are on several devices "
                               f"({', '.join(sorted(devices))})")
        ops, flatten_input, containers, hypers, loss_kind, views = _capture(
            model, loss_fn, optimizer)
        if len(optimizer._flat) != 1:
            raise _Unsupported(f"the optimizer has {len(optimizer._flat)} parameter groups: "
                               "the fused CUDA step updates one flat buffer")
        fl = optimizer._flat[0]
        if not isinstance(fl.param, type(next(iter(model.parameters()))._storage)):
            raise _Unsupported("the optimizer's buffers are not on the model's device "
                               "(make the optimizer after model.to('cuda'))")
        layers, drops = _fused_layers(ops, fl)
    except _Unsupported as e:
        return _EagerStep(model, loss_fn, optimizer, str(e))
    return CudaCompiledStep(model, loss_fn, optimizer, ops, flatten_input, views, loss_kind,
                            containers, hypers, layers, drops)
