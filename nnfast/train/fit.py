"""fit(): the training loop a PyTorch user would write, with validation, metrics, callbacks,
regularisation, gradient clipping, progress and resumable checkpoints.

    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters()),
                  (X_train, y_train), val_split=0.1, epochs=50, batch_size=64,
                  metrics=["accuracy"], callbacks=[EarlyStopping(patience=5)])

Data may be a pair (x, y) of arrays, Tensors or nested lists of numbers — batched here with
one fancy-index per array, shuffled by a generator seeded from `seed` (when None, a seed drawn
from nnfast's global generator, so nf.manual_seed makes the run repeatable) — a Dataset
(shuffled by that same generator), or any re-iterable of (x, y) batches such as a DataLoader.
float64 data are trained on in the model's dtype (float32 unless made .double()). Ambiguous
data (a 1-D x, ragged lists, x and y of different lengths, targets that would broadcast
against the outputs) and empty data are refused; train/_inputs.py lists every form and check.

With TerminateOnNaN, a non-finite loss (nnfast's losses raise FloatingPointError; a custom
one may return nan) stops training before that step's update: the epoch is logged with loss
nan, no on_epoch_end callback runs and no checkpoint is written. Without it the error
propagates. A checkpoint saved by fit (checkpoint_path=... at each epoch's end, or
ModelCheckpoint with save_training_state=True, every N steps with save_freq=N) holds the
model, optimizer, scheduler, callbacks, history, epoch and every random stream the run draws
from (fit's, nnfast's global, Python's and NumPy's globals, and the generators of the loaders'
samplers and transforms), plus, mid-epoch, how far the epoch got; so after a kill at any
moment `fit(..., resume_from=path)` with the same data set-up continues bit for bit as if
never interrupted (nnfast/train/_resume.py).
"""
import math
import sys
import time

import numpy as np

from .. import autograd as ag
from .. import io
from .. import random as _random
from . import _resume
from ..device import as_device
from ..tensor import Tensor, to_numpy
from ._inputs import as_inputs, batches as _batches, check_output_fits_target
from ._inputs import model_float_dtype, read_data, read_fit_data
from .callbacks import Callback, LRSchedulerCallback, TerminateOnNaN
from .history import History
from .metrics import get_metric
from .progress import ProgressBar

__all__ = ["fit", "evaluate", "predict", "Trainer"]


class Trainer:
    """The state of one fit() run; callbacks see it as `self.trainer`."""

    def __init__(self, model, loss_fn, optimizer, scheduler=None, callbacks=(), metrics=(),
                 l1=0.0, l2=0.0, clip_grad_norm=None, seed=None):
        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.callbacks = list(callbacks)
        if scheduler is not None and not any(isinstance(c, LRSchedulerCallback)
                                             for c in self.callbacks):
            self.callbacks.append(LRSchedulerCallback(scheduler))
        self.metrics = [get_metric(m) for m in metrics]
        self.l1, self.l2 = float(l1), float(l2)
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"l1 and l2 must be >= 0, got l1={l1}, l2={l2}")
        self.clip_grad_norm = clip_grad_norm
        if seed is None:   # from nnfast's global generator, so nf.manual_seed makes fit repeatable
            seed = int(_random.default_generator().integers(2 ** 63))
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.history = History()
        self.epoch = 0
        self.step_count = 0
        self.stop_training = False
        self.terminated = False      # stopped by TerminateOnNaN: the weights are not usable
        self.resumed = False         # load_checkpoint ran (callbacks' on_train_begin sees it)
        self.resume_position = 0     # batches of the current epoch done before a resume
        self.data_roots = ()         # (train, val) data: their random streams are checkpointed
        self._pending_checkpoints = []
        self._resume_point = None    # a mid-epoch checkpoint's position, used by train_epoch
        self._epoch_start = None     # every stream's state as this epoch began
        self._totals = None
        self._step = False           # the compiled step: not decided until the first epoch
        self.net = model             # what trains: the model, or its DistributedDataParallel
        self.ranks = None            # fit(distributed=True): this rank's place (_distributed)
        self.device = model_device(model)   # batches are moved there
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be nnfast.train.Callback instances, got "
                                f"{type(c).__name__}")
            c.trainer = self

    def stop(self, reason, terminated=False):
        self.stop_training = True
        self.terminated = self.terminated or terminated
        self.history.stopped_early = True
        self.history.stop_reason = reason

    # ---------------------------------------------------------------- one epoch
    def _penalty(self):
        from ..nn import utils as nnu
        total = None
        if self.l1:
            total = nnu.l1_penalty(self.model, self.l1)
        if self.l2:
            p = nnu.l2_penalty(self.model, self.l2)
            total = p if total is None else total + p
        act = nnu.activity_penalty(self.model)
        if act.requires_grad:  # a constant 0 when the model has no ActivityRegularization
            total = act if total is None else total + act
        return total

    def _epoch_batches(self, data, batch_size, shuffle, totals, bar):
        """This epoch's batches; after a mid-epoch resume, the ones not yet trained on (see
        nnfast/train/_resume.py). The streams' states are taken before the batches are made:
        a sampler may draw the epoch's order as soon as it is iterated."""
        point, self._resume_point = self._resume_point, None
        if point is None:
            self.resume_position = 0
            self._epoch_start = _resume.rng_states(self, epoch_start=True)
            return iter(_batches(data, batch_size, shuffle, self.rng, self._share()))
        _resume.set_rng_states(self, point["epoch_start"])
        self._epoch_start = point["epoch_start"]
        batches = iter(_batches(data, batch_size, shuffle, self.rng, self._share()))
        for i in range(point["batches"]):
            if next(batches, None) is None:
                raise ValueError(f"resume: the checkpoint was written after {point['batches']} "
                                 f"batches of epoch {self.epoch + 1}, but this data gives {i}")
        _resume.set_rng_states(self, point["rng"])
        totals.load_state_dict(point["totals"])
        bar.update(point["batches"], loss=totals.total / max(totals.count, 1))
        return batches

    def _share(self):
        return None if self.ranks is None else self.ranks.share

    def _compiled_step(self):
        """nf.compile_step's captured step when this fit can use it: the model and loss are
        ones it captures, and nothing has to run between backward and the update (no
        clipping, penalty, or callback's on_after_backward). It gives the eager loop's
        numbers bit for bit, so fit's results do not depend on which ran. Else None."""
        from ..compile import compile_step
        from ..nn import ActivityRegularization
        if self._step is not False:
            return self._step
        self._step = None
        hooks = [c for c in self.callbacks
                 if type(c).on_after_backward is not Callback.on_after_backward]
        # (distributed with TerminateOnNaN: every rank must see a bad loss before backward)
        nan_vote = self.ranks is not None and any(isinstance(c, TerminateOnNaN)
                                                  for c in self.callbacks)
        if self.device.type == "cpu" and self.clip_grad_norm is None and not self.l1 and \
                not self.l2 and not hooks and not nan_vote and \
                not any(isinstance(m, ActivityRegularization) for m in self.model.modules()):
            step = compile_step(self.net, self.loss_fn, self.optimizer)
            self._step = step if step.compiled else None
        return self._step

    def train_epoch(self, data, batch_size, shuffle, bar):
        from ..nn import utils as nnu
        self.model.train()
        acc = self._totals = _resume.EpochTotals()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        guard = any(isinstance(c, TerminateOnNaN) for c in self.callbacks)
        first = True
        step = self._compiled_step()
        for xb, yb in self._epoch_batches(data, batch_size, shuffle, acc, bar):
            if self.device.type != "cpu":
                xb, yb = xb.to(self.device), yb.to(self.device)
            if step is not None and first:   # the captured step knows its output's shape
                shape = step.output_shape(xb)
                if shape is not None:
                    check_output_fits_target(shape, yb, data)
                    first = False
            if step is not None and not first:
                try:   # zero_grad + forward + loss + backward + step, in one C call
                    value, problem, updated = step(xb, yb), None, True
                except FloatingPointError as e:   # no gradient written, no update made
                    if not guard:
                        raise
                    value, problem, updated = math.nan, str(e), False
                out = None
            else:
                updated = False
                self.optimizer.zero_grad()
                out = self.net(xb)
                if first:   # once per epoch: y (n,) against outputs (n, 1) is refused
                    check_output_fits_target(out.shape, yb, data)
                    first = False
                try:
                    loss = self.loss_fn(out, yb)
                    value = loss.item()
                    problem = None if math.isfinite(value) else f"the loss is {value}"
                except FloatingPointError as e:   # nnfast's losses raise on a non-finite value
                    if not guard:
                        raise
                    problem = str(e)
            if guard and self.ranks is not None:   # a bad loss on any rank stops them all
                if self.ranks.any(problem is not None) and problem is None:
                    problem = "a non-finite loss on another rank"
            if problem is not None and guard:
                # stop before backward/step: no update is made from a non-finite loss
                self.stop(f"training terminated at step {self.step_count}: {problem}",
                          terminated=True)
                break
            if not updated:
                pen = self._penalty()
                if pen is not None:
                    loss = loss + pen
                loss.backward()
                for c in self.callbacks:
                    c.on_after_backward(self.step_count)
            if self.clip_grad_norm is not None:
                gnorm = float(nnu.clip_grad_norm_(params, self.clip_grad_norm).item())
            else:   # the gradients the update used (the compiled step leaves them in .grad)
                gnorm = float(nnu.get_total_norm(
                    [p.grad for p in params if p.grad is not None]).item())
            if not updated:
                self.optimizer.step()
            n = len(xb)
            acc.total += value * n
            acc.count += n
            acc.norm_sum += gnorm
            acc.nsteps += 1
            if self.metrics:
                acc.outs.append(to_numpy(out) if out is not None else step.last_output())
                acc.targets.append(to_numpy(yb))
            self.step_count += 1
            logs = {"loss": value}
            for c in self.callbacks:
                c.on_batch_end(self.step_count, logs)
            bar.update(1, loss=acc.total / acc.count)
            # checkpoints asked for by on_batch_end (ModelCheckpoint(save_freq=N)): this step
            # is complete, so they hold exactly the state to resume from
            pending, self._pending_checkpoints = self._pending_checkpoints, []
            if not self.terminated:
                for path in pending:
                    self.save_checkpoint(path, self.epoch, mid_epoch=True)
            if self.stop_training:
                break
        self._totals = None
        total, count = acc.total, acc.count
        targets, outs = acc.targets, acc.outs
        if self.ranks is not None:   # the logs of all ranks' batches, the same everywhere
            total, count = self.ranks.sum(total, count)
            if self.metrics:
                targets, outs = self.ranks.gather_arrays(targets), self.ranks.gather_arrays(outs)
        logs = {"loss": total / count if count and not self.terminated else math.nan,
                "grad_norm": acc.norm_sum / acc.nsteps if acc.nsteps else math.nan}
        if self.metrics and outs:
            yt, yp = np.concatenate(targets), np.concatenate(outs)
            for name, fn in self.metrics:
                logs[name] = float(fn(yt, yp))
        return logs

    def evaluate(self, data, batch_size=1024):
        """Mean loss and metrics over data, in eval mode, without gradients."""
        was_training = self.model.training
        self.model.eval()
        total, count = 0.0, 0
        outs, targets = [], []
        try:
            with ag.no_grad():
                for i, (xb, yb) in enumerate(_batches(data, batch_size, False, self.rng)):
                    if self.device.type != "cpu":
                        xb, yb = xb.to(self.device), yb.to(self.device)
                    out = self.model(xb)
                    if i == 0:
                        check_output_fits_target(out.shape, yb, data)
                    total += self.loss_fn(out, yb).item() * len(xb)
                    count += len(xb)
                    outs.append(to_numpy(out))
                    targets.append(to_numpy(yb))
        finally:
            self.model.train(was_training)
        logs = {"loss": total / count if count else math.nan}
        if outs:
            yt, yp = np.concatenate(targets), np.concatenate(outs)
            for name, fn in self.metrics:
                logs[name] = float(fn(yt, yp))
        return logs

    # ---------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path, epoch, mid_epoch=False):
        """Everything to resume from: at the end of an epoch (epoch = epochs done), or with
        mid_epoch after a training step of epoch `epoch` (0-based)."""
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "callbacks": [{"type": type(c).__name__, "state": c.state_dict()}
                          for c in self.callbacks],
            "history": self.history.state_dict(),
            "epoch": int(epoch),
            "step": int(self.step_count),
            "seed": self.seed,
            "rng": _resume.rng_states(self),
            "position": None,
        }
        if mid_epoch:
            state["position"] = {"batches": int(self._totals.nsteps),
                                 "epoch_start": self._epoch_start,
                                 "totals": self._totals.state_dict()}
        if self.ranks is None or self.ranks.main:   # distributed: rank 0 writes
            io.save(state, path)

    def request_checkpoint(self, path):
        """Save a full checkpoint to path once this step (asked from on_batch_end) or epoch
        (from on_epoch_end) is complete, every callback run, so resuming from it is exact."""
        self._pending_checkpoints.append(path)

    def load_checkpoint(self, path):
        """Restore what save_checkpoint wrote (path, or the dict io.load returned)."""
        state = io.load(path) if not isinstance(path, dict) else path
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        _resume.load_callback_states(self.callbacks, state["callbacks"])
        self.history.load_state_dict(state["history"])
        self.epoch = state["epoch"]
        self.step_count = state["step"]
        _resume.set_rng_states(self, state["rng"])
        position = state.get("position")
        if position is not None:   # written mid-epoch: train_epoch continues that epoch
            self._resume_point = dict(position, rng=state["rng"])
            self.resume_position = int(position["batches"])
        self.resumed = True
        return state


def fit(model, loss_fn, optimizer, train_data, val_data=None, *, val_split=0.0, epochs=10,
        batch_size=32, shuffle=True, callbacks=(), metrics=(), scheduler=None, l1=0.0,
        l2=0.0, clip_grad_norm=None, seed=None, verbose=True, checkpoint_path=None,
        resume_from=None, stream=None, device=None, distributed=False):
    """Train `model` and return a History (see the module docstring).

    device: moves the model there first ("cuda", "cpu"; None: where it is); batches follow
    the model's device. distributed: train over the ranks mpirun started, each on its share
    of the data, gradients averaged (nnfast/train/_distributed.py); rank 0 writes."""
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1 (got {epochs}, {batch_size})")
    if device is not None:
        model.to(as_device(device))
    resume_state = io.load(resume_from) if resume_from is not None else None
    if seed is None and resume_state is not None and "seed" in resume_state:
        seed = resume_state["seed"]   # the same validation split and shuffles as the first run
    ranks = net = None
    if distributed:
        from ._distributed import join
        ranks, net = join(model)
        model = net.module
        if seed is None:
            seed = int(_random.default_generator().integers(2 ** 63))
        seed = ranks.agree_seed(seed)
        verbose = verbose and ranks.main
    trainer = Trainer(model, loss_fn, optimizer, scheduler, callbacks, metrics, l1, l2,
                      clip_grad_norm, seed)
    if ranks is not None:
        trainer.net, trainer.ranks = net, ranks
    stream = stream if stream is not None else sys.stderr
    # checkpoints walk the data as the caller gave it (its loaders, samplers, transforms)
    trainer.data_roots = (train_data, val_data)
    train_data, val_data, steps_per_epoch = read_fit_data(train_data, val_data, val_split,
                                                          model, batch_size, trainer.rng)
    if resume_state is not None:
        trainer.load_checkpoint(resume_state)
    for c in trainer.callbacks:
        c.on_train_begin()
    try:
        for epoch in range(trainer.epoch, epochs):
            for c in trainer.callbacks:
                c.on_epoch_begin(epoch)
            t0 = time.perf_counter()
            bar = ProgressBar(steps_per_epoch, f"epoch {epoch + 1}/{epochs} ", stream) \
                if verbose else ProgressBar(1, stream=_Null())
            logs = trainer.train_epoch(train_data, batch_size, shuffle, bar)
            bar.close()
            if val_data is not None and not trainer.terminated:
                for k, v in trainer.evaluate(val_data).items():
                    logs["val_" + k] = v
            logs["lr"] = float(optimizer.param_groups[0]["lr"])
            logs["time"] = time.perf_counter() - t0
            if not trainer.terminated:   # no early-stopping/checkpoint/schedule on NaN weights
                for c in trainer.callbacks:
                    c.on_epoch_end(epoch, logs)
            trainer.history.append(epoch + 1, logs)
            trainer.epoch = epoch + 1
            if verbose:
                shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items() if k != "time")
                stream.write(f"epoch {epoch + 1}/{epochs}  {shown}  ({logs['time']:.2f}s)\n")
                stream.flush()
            # the epoch is complete: now checkpoints hold exactly the state to resume from
            # (none after a NaN: the previous checkpoint stays the one to go back to)
            pending, trainer._pending_checkpoints = trainer._pending_checkpoints, []
            if not trainer.terminated:
                for path in pending + ([checkpoint_path] if checkpoint_path is not None else []):
                    trainer.save_checkpoint(path, trainer.epoch)
            if trainer.stop_training:
                if verbose and trainer.history.stop_reason:
                    stream.write(trainer.history.stop_reason + "\n")
                break
    finally:
        for c in trainer.callbacks:
            c.on_train_end()
        # the returned History keeps the trainer: not its captured step, whose workspaces
        # (40 MB for the bench CNN) would stay allocated, and the next fit() would fault in
        # fresh pages for its own (1 ms a step of an 8-step fit); it is rebuilt if needed
        trainer._step = False
    trainer.history.trainer = trainer
    return trainer.history


class _Null:
    def write(self, s):
        pass

    def flush(self):
        pass

    def isatty(self):
        return False


def model_device(model):
    """The device of a model's first parameter or buffer (the CPU when it has none)."""
    from ..device import CPU
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return CPU


def evaluate(model, loss_fn, data, metrics=(), batch_size=1024):
    """{'loss': ..., metric: ...} over data (arrays (x, y) or an iterable of batches)."""
    # evaluation never shuffles: a fixed seed keeps it from drawing on the global generator
    # (which would change a training loop's later dropout masks)
    t = Trainer(model, loss_fn, None, metrics=metrics, seed=0)
    return t.evaluate(read_data(data, "data", model_float_dtype(model), "evaluate"), batch_size)


def predict(model, x, batch_size=1024):
    """Model outputs for x (array or Tensor) as a NumPy array, in eval mode, batched.

    Runs under inference_mode (no tape), each batch's output written into one result array
    allocated on the first batch: beyond that array, a call allocates only what the layers
    need for one batch. A model already in eval mode is left untouched, so one model may
    serve predict() calls from several threads at once (docs/serving.md); a model in
    training mode is put in eval mode for the call and back after it."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"predict: batch_size must be a positive integer, got {batch_size!r}")
    x = as_inputs(x, model_float_dtype(model), "predict", "x")
    dev = model_device(model)
    was_training = model.training
    if was_training:
        model.eval()
    n, result = len(x), None
    try:
        with ag.inference_mode():
            for s in range(0, n, batch_size):
                batch = x[s:s + batch_size]
                arr = to_numpy(model(Tensor._make(batch)._to_device(dev)))
                if result is None:
                    result = np.empty((n,) + arr.shape[1:], arr.dtype)
                if arr.shape[:1] != batch.shape[:1] or arr.shape[1:] != result.shape[1:]:
                    raise ValueError(f"predict: the model gave outputs of shape {arr.shape} "
                                     f"for a batch of {len(batch)} rows (after "
                                     f"{result.shape[1:]} per row): predict needs one "
                                     "output row per input row, the same shape each batch")
                result[s:s + len(batch)] = arr
    finally:
        if was_training:
            model.train(True)
    return result if result is not None else np.empty((0,), np.float32)
