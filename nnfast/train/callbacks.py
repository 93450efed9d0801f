"""Callbacks for fit(): early stopping, checkpoints, schedules, NaN guard, CSV log, gradient
monitor. Each hook receives the epoch (0-based) or step and a `logs` dict of floats."""
import csv
import math
import os
import warnings

import numpy as np

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "LRSchedulerCallback",
           "TerminateOnNaN", "CSVLogger", "GradientMonitor", "GradientWarning"]

_MAX_IS_BETTER = ("acc", "accuracy", "f1", "precision", "recall", "r2")


def _mode_for(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if name in _MAX_IS_BETTER else "min"


def _writes(trainer):
    """Whether this process writes files: not a rank other than 0 of fit(distributed=True)."""
    ranks = getattr(trainer, "ranks", None)
    return ranks is None or ranks.main


class Callback:
    """Base class; `self.trainer` (model, optimizer, history, stop_training) is set by fit()."""
    trainer = None

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_after_backward(self, step):
        """Gradients of this step are in place; the optimizer has not stepped yet."""

    def on_batch_end(self, step, logs):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class _Monitor(Callback):
    def __init__(self, monitor, mode, min_delta):
        self.monitor = monitor
        self.mode = _mode_for(monitor, mode)
        self.min_delta = abs(min_delta)
        self.best = math.inf if self.mode == "min" else -math.inf

    def _value(self, logs):
        if self.monitor not in logs:
            raise KeyError(f"{type(self).__name__}: metric {self.monitor!r} is not logged "
                           f"(available: {sorted(logs)}); pass val_data/val_split for val_* "
                           "metrics")
        return logs[self.monitor]

    def _improved(self, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(_Monitor):
    """Stop when `monitor` has not improved by more than min_delta for `patience` epochs;
    optionally put back the weights of the best epoch when training ends."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=5, mode="auto",
                 restore_best_weights=False, verbose=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights
        self.verbose = verbose
        self.wait = 0
        self.best_epoch = None
        self.best_weights = None
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        if not getattr(self.trainer, "resumed", False):   # a new run starts from scratch
            self.best = math.inf if self.mode == "min" else -math.inf
            self.wait, self.best_epoch, self.best_weights, self.stopped_epoch = 0, None, None, None

    def on_epoch_end(self, epoch, logs):
        value = self._value(logs)
        if self._improved(value):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = {k: v._storage.copy()
                                     for k, v in self.trainer.model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.trainer.stop(f"early stopping: {self.monitor} did not improve for "
                              f"{self.patience} epochs (best {self.best:.6g} at epoch "
                              f"{self.best_epoch + 1 if self.best_epoch is not None else '-'})")

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.trainer.model.load_state_dict(self.best_weights)

    def state_dict(self):
        return {"best": self.best, "wait": self.wait, "best_epoch": self.best_epoch,
                "best_weights": self.best_weights}

    def load_state_dict(self, state):
        self.best, self.wait = state["best"], state["wait"]
        self.best_epoch, self.best_weights = state["best_epoch"], state["best_weights"]


class ModelCheckpoint(_Monitor):
    """Save the model's state_dict (or, with save_training_state, a full resumable
    checkpoint) to `path` when `monitor` improves (or every epoch if save_best_only=False).

    save_freq (Keras' name): "epoch", or an int N to save every N training steps, in the
    middle of epochs too (needs save_best_only=False); fit resumes such a checkpoint at the
    next batch of that epoch. `path` may contain `{epoch}` (the epoch saved in, from 1) and
    `{step}` (training steps done)."""

    def __init__(self, path, monitor="val_loss", mode="auto", save_best_only=True,
                 min_delta=0.0, save_training_state=False, save_freq="epoch"):
        super().__init__(monitor, mode, min_delta)
        if save_freq != "epoch" and not (isinstance(save_freq, int)
                                         and not isinstance(save_freq, bool) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive int "
                             f"(steps), got {save_freq!r}")
        if save_freq != "epoch" and save_best_only:
            raise ValueError("ModelCheckpoint: save_freq in steps saves unconditionally; pass "
                             "save_best_only=False")
        self.path = os.fspath(path)
        self.save_best_only = save_best_only
        self.save_training_state = save_training_state
        self.save_freq = save_freq
        self.best_path = None

    def on_batch_end(self, step, logs):
        if self.save_freq != "epoch" and step % self.save_freq == 0:
            self._save(self.trainer.epoch + 1, step)

    def on_epoch_end(self, epoch, logs):
        if self.save_freq != "epoch":
            return
        if self.save_best_only:
            value = self._value(logs)
            if not self._improved(value):
                return
            self.best = value
        self._save(epoch + 1, self.trainer.step_count)

    def _save(self, epoch, step):
        path = self.path.format(epoch=epoch, step=step)
        if self.save_training_state:
            # written by fit once the step or epoch is complete (every callback run, history
            # updated): saving here would miss what later callbacks (the lr schedule) do
            self.trainer.request_checkpoint(path)
        elif _writes(self.trainer):
            from .. import io
            io.save(self.trainer.model.state_dict(), path)
        self.best_path = path

    def state_dict(self):
        return {"best": self.best, "best_path": self.best_path}

    def load_state_dict(self, state):
        self.best, self.best_path = state["best"], state["best_path"]


class LRSchedulerCallback(Callback):
    """Step an lr scheduler every epoch (default) or every step. ReduceLROnPlateau is
    stepped with the monitored value (default val_loss, or loss without validation)."""

    def __init__(self, scheduler, interval="epoch", monitor=None):
        if interval not in ("epoch", "step"):
            raise ValueError(f"interval must be 'epoch' or 'step', got {interval!r}")
        self.scheduler = scheduler
        self.interval = interval
        self.monitor = monitor
        self.plateau = type(scheduler).__name__ == "ReduceLROnPlateau"

    def on_batch_end(self, step, logs):
        if self.interval == "step" and not self.plateau:
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs):
        if self.plateau:
            key = self.monitor or ("val_loss" if "val_loss" in logs else "loss")
            self.scheduler.step(logs[key])
        elif self.interval == "epoch":
            self.scheduler.step()

    def state_dict(self):
        return {"scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state["scheduler"])


class TerminateOnNaN(Callback):
    """Stop training (instead of raising) when the loss becomes NaN or infinite."""

    def on_batch_end(self, step, logs):
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.trainer.stop(f"loss became {loss} at step {step}: training terminated")


class CSVLogger(Callback):
    """Write one row per epoch (epoch and every logged value) to a CSV file."""

    def __init__(self, path, separator=",", append=False):
        self.path = os.fspath(path)
        self.separator = separator
        self.append = append
        self.keys = None

    def on_train_begin(self, logs=None):
        resumed = getattr(self.trainer, "resumed", False)   # a resumed run continues the file
        if not self.append and not resumed and os.path.exists(self.path) and \
                _writes(self.trainer):
            os.unlink(self.path)

    def on_epoch_end(self, epoch, logs):
        if self.keys is None:
            self.keys = sorted(logs)
        if not _writes(self.trainer):
            return
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        with open(self.path, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.separator)
            if new:
                w.writerow(["epoch"] + self.keys)
            w.writerow([epoch + 1] + [logs.get(k, "") for k in self.keys])


class GradientWarning(UserWarning):
    """A layer's gradients vanished or exploded."""


class GradientMonitor(Callback):
    """Record per-layer gradient norms every `every` steps and warn, naming the layer, when a
    layer's norm falls below `vanish` or rises above `explode`.

    `norms[layer]` is the list of per-epoch mean norms; a layer is a module path such as
    "3" or "encoder.0" (the parameters' names without ".weight"/".bias")."""

    def __init__(self, vanish=1e-7, explode=1e3, every=1, warn=True):
        self.vanish = vanish
        self.explode = explode
        self.every = max(int(every), 1)
        self.warn = warn
        self.norms = {}
        self._epoch_sums = {}
        self._count = 0
        self._warned = set()

    def _layers(self):
        layers = {}
        model = self.trainer.model
        for name, p in model.named_parameters():
            # the model's own parameters (a bare Linear: "weight", "bias") are one layer
            layer = name.rsplit(".", 1)[0] if "." in name else type(model).__name__
            layers.setdefault(layer, []).append(p)
        return layers

    def on_after_backward(self, step):
        if step % self.every:
            return
        self._count += 1
        for layer, params in self._layers().items():
            sq = 0.0
            for p in params:
                if p.grad is not None:
                    g = p.grad._storage
                    sq += float(np.dot(g.reshape(-1), g.reshape(-1)))
            norm = math.sqrt(sq)
            self._epoch_sums[layer] = self._epoch_sums.get(layer, 0.0) + norm
            if self.warn and (layer, "v") not in self._warned and norm < self.vanish:
                self._warned.add((layer, "v"))
                warnings.warn(f"gradients of layer '{layer}' are vanishing: norm {norm:.3g} < "
                              f"{self.vanish:g} at step {step}", GradientWarning, stacklevel=2)
            if self.warn and (layer, "x") not in self._warned and not norm <= self.explode:
                self._warned.add((layer, "x"))
                warnings.warn(f"gradients of layer '{layer}' are exploding: norm {norm:.3g} > "
                              f"{self.explode:g} at step {step}", GradientWarning, stacklevel=2)

    def on_epoch_end(self, epoch, logs):
        for layer, s in self._epoch_sums.items():
            self.norms.setdefault(layer, []).append(s / max(self._count, 1))
        self._epoch_sums = {}
        self._count = 0

    def state_dict(self):
        # string keys: layer names; the pairs of (layer, kind) warned about as lists
        return {"norms": self.norms, "epoch_sums": self._epoch_sums, "count": self._count,
                "warned": sorted([layer, kind] for layer, kind in self._warned)}

    def load_state_dict(self, state):
        self.norms = {k: list(v) for k, v in state["norms"].items()}
        self._epoch_sums = dict(state["epoch_sums"])
        self._count = int(state["count"])
        self._warned = {(layer, kind) for layer, kind in state["warned"]}
