"""What a resumable checkpoint needs beyond weights and optimizer: every random stream the run
draws from, and, for a checkpoint written mid-epoch, where the epoch stands.

Streams: fit's own generator (shuffling and splitting array data), nnfast's global generator
(dropout, init, samplers and transforms given generator=None), Python's `random` and NumPy's
legacy global state (a custom Dataset may use them), and every NumPy generator reachable from
the training and validation data (a DataLoader's samplers, its dataset's transforms, a
collate_fn's closure), the model, the loss and the callbacks (nnfast.data._random.
find_generators). The data's generators are matched by position, so the resumed run must
build its loaders the same way.

Mid-epoch: the checkpoint keeps the states of all streams as the epoch began and the number of
batches done. Resuming draws the epoch's order again from the epoch-start states, fetches and
drops the batches already trained on (no forward or backward), then puts every stream back
to its state at the checkpoint: the same next batch, the same dropout masks, for any data a
re-iteration reproduces (arrays, DataLoader with any sampler, transforms, workers).
"""
import warnings

import numpy as np

from ..data.dataloader import DataLoader
from ..data._random import (find_generators, generator_states, global_states,
                            set_generator_states, set_global_states, walk_streams)


def run_generators(trainer, data_only=False):
    """(fit's generator and the data's, those of the model, loss and callbacks, whether the
    data reaches code from outside nnfast, which may use Python's or NumPy's globals)."""
    data_gens, custom_code = walk_streams([trainer.rng, *trainer.data_roots])
    if data_only:
        return data_gens, [], custom_code
    cbs = [{k: v for k, v in vars(c).items() if k != "trainer"} for c in trainer.callbacks]
    others = [g for g in find_generators(trainer.model, trainer.loss_fn, cbs)
              if not any(g is d for d in data_gens)]
    return data_gens, others, custom_code


def _loaders(trainer):
    return [d for d in trainer.data_roots if isinstance(d, DataLoader)]


def rng_states(trainer, epoch_start=False):
    """Every stream's state. At an epoch's start (kept only to draw the epoch's order again
    on a mid-epoch resume) only the streams the data draws from are taken, and Python's and
    NumPy's globals only when the data reaches custom code: they cost 0.1 ms and nnfast's own
    data classes never use them."""
    data_gens, others, custom_code = run_generators(trainer, data_only=epoch_start)
    states = {"fit": generator_states(data_gens[:1])[0],
              "generators": generator_states(data_gens[1:]),
              "globals": global_states(custom_code or not epoch_start),
              # a DataLoader's workers seed themselves from its epoch count
              "loaders": [d._counters() for d in _loaders(trainer)]}
    if not epoch_start:
        states["other_generators"] = generator_states(others)
    return states


def set_rng_states(trainer, states):
    """Restore rng_states() output; also reads checkpoints from before the data's streams
    were saved (fit's and the global generator only).

    The data's generators must match (else the batches would differ: ValueError); those of
    the model, loss and callbacks are restored when they match, with a warning when they do
    not (a callback may make its generator only in on_train_begin)."""
    from .. import random as _random
    data_gens, others, _ = run_generators(trainer, data_only="other_generators" not in states)
    set_generator_states(data_gens[:1], [states["fit"]], "resume: fit's generator")
    if "globals" not in states:
        _random.set_rng_state(states["global"])
        return
    set_global_states(states["globals"])
    set_generator_states(data_gens[1:], states["generators"],
                         "resume: the random generators of the training and validation data")
    try:
        set_generator_states(others, states.get("other_generators", []),
                             "resume: the model's, loss's and callbacks' random generators")
    except ValueError as e:
        warnings.warn(f"{e}; they are left as they are, so the resumed run may differ from "
                      f"an uninterrupted one", RuntimeWarning, stacklevel=4)
    for loader, counters in zip(_loaders(trainer), states.get("loaders", ())):
        loader._set_counters(counters)


class EpochTotals:
    """The running sums train_epoch reports at the end of an epoch."""

    def __init__(self):
        self.total, self.count, self.norm_sum, self.nsteps = 0.0, 0, 0.0, 0
        self.outs, self.targets = [], []

    def state_dict(self):
        return {"total": self.total, "count": self.count, "norm_sum": self.norm_sum,
                "nsteps": self.nsteps,
                "outs": np.concatenate(self.outs) if self.outs else None,
                "targets": np.concatenate(self.targets) if self.targets else None}

    def load_state_dict(self, state):
        self.total, self.count = float(state["total"]), int(state["count"])
        self.norm_sum, self.nsteps = float(state["norm_sum"]), int(state["nsteps"])
        self.outs = [] if state["outs"] is None else [np.asarray(state["outs"])]
        self.targets = [] if state["targets"] is None else [np.asarray(state["targets"])]


def load_callback_states(callbacks, saved):
    """The k-th saved state of a callback class goes to the k-th callback of that class, so a
    callback added or left out on resume (a logger, a kill switch) shifts nothing."""
    if saved and not all(isinstance(s, dict) and set(s) == {"type", "state"} for s in saved):
        # written before callbacks were named: positional, when the lists match
        if len(saved) == len(callbacks):
            for c, s in zip(callbacks, saved):
                if s:
                    c.load_state_dict(s)
        return
    by_type = {}
    for s in saved:
        by_type.setdefault(s["type"], []).append(s["state"])
    for c in callbacks:
        states = by_type.get(type(c).__name__)
        if states:
            s = states.pop(0)
            if s:
                c.load_state_dict(s)
