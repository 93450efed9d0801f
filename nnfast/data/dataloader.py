"""DataLoader (torch.utils.data.DataLoader semantics, single process) and default_collate.

Fast path: when the dataset can gather a whole batch at once -- a TensorDataset, a Subset of
one, a NumPy array or nnfast Tensor used as the dataset -- and collate_fn is the default, each
batch is one fancy index per tensor over the batch's index array, then wrapped as nnfast
Tensors: a few NumPy calls per batch, no Python loop over samples. Any other dataset (or a
custom collate_fn, which by contract receives a list of samples) goes through the general
path: ds[i] per index (or ds.__getitems__(indices)), then collate_fn.

Batch dtypes: floating arrays keep their dtype (float32 stays float32), integer arrays become
int64 (what the losses take as class labels), bool stays bool. PyTorch keeps every integer
dtype as is; this is the one deliberate difference. Python floats collate to float64 and
Python ints to int64, as in PyTorch.

Worker processes: num_workers > 0 loads batches in worker processes (nnfast/data/_workers.py)
with PyTorch's semantics: the same batches in the same order as num_workers=0 for a map-style
dataset, worker_init_fn(worker_id), get_worker_info() inside workers, an IterableDataset
iterated by every worker. For a TensorDataset the main process is usually faster (a batch is
a few NumPy calls). pin_memory is accepted and changes nothing on the CPU.

Resuming: state_dict() / load_state_dict(), as torchdata's StatefulDataLoader, hold the state
of every generator the loader draws from (sampler, batch sampler, dataset and its transforms,
collate_fn; found by walking their attributes) and, mid-epoch, the batches already given: a
loader built the same way continues with the next batch, bit for bit. To continue an epoch it
draws the epoch's order again from the states the epoch began with and skips (fetches and
drops) the batches given. nnfast's global generator is the caller's to save (get_rng_state).
"""
import collections.abc
import numbers

import numpy as np

from ..tensor import Tensor
from .dataset import IterableDataset, Subset, TensorDataset
from ._random import (find_generators, generator_states, global_states, set_generator_states,
                      set_global_states, walk_streams)
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

_END = object()

from ._workers import get_worker_info  # noqa: E402


def _batch_dtype(arr):
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    return arr


def _to_tensor(arr):
    return Tensor._make(_batch_dtype(np.asarray(arr)))


def default_convert(data):
    """Without batching (batch_size=None): arrays become Tensors, containers are walked."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _to_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _to_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Stack a list of samples into a batch, as torch's default_collate: Tensors and arrays are
    stacked into a Tensor with a new first dimension; Python ints -> int64, floats -> float64,
    bools -> bool; dicts and (named)tuples/lists are collated field by field (a tuple of fields
    becomes a list, as in PyTorch); strings stay a list."""
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor) or (isinstance(elem, (np.ndarray, np.generic))
                                    and elem.dtype.kind in "biuf"):
        arrays = [e._storage if isinstance(e, Tensor) else np.asarray(e) for e in batch]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise RuntimeError(f"default_collate: stack expects each sample to have the same "
                               f"shape, got shapes {sorted(shapes)}")
        return _to_tensor(np.stack(arrays))
    if isinstance(elem, (np.ndarray, np.generic)):
        raise TypeError(f"default_collate: cannot batch NumPy arrays of dtype {elem.dtype}")
    if isinstance(elem, bool):
        return Tensor._make(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor._make(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor._make(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain Tensors, NumPy arrays, numbers, "
                    f"dicts or lists; found {type(elem).__name__}")


def _batch_fetcher(dataset):
    """A function indices -> collated batch, when the dataset can gather whole batches;
    None otherwise. Overridden __getitem__ methods are respected (no fast path then)."""
    if isinstance(dataset, (np.ndarray, Tensor)):
        arr = dataset._storage if isinstance(dataset, Tensor) else dataset
        return lambda idx: _to_tensor(arr[idx])
    if isinstance(dataset, TensorDataset) and \
            type(dataset).__getitem__ is TensorDataset.__getitem__:
        return lambda idx: [_to_tensor(a) for a in dataset._get_batch(idx)]
    if isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__ \
            and type(dataset).__getitems__ is Subset.__getitems__:
        inner = _batch_fetcher(dataset.dataset)
        if inner is not None:
            return lambda idx: inner(dataset._index_array()[idx])
    return None


class DataLoader:
    """Batches of a dataset, as torch.utils.data.DataLoader with num_workers=0.

    dataset: map-style (len + getitem), IterableDataset, or an array / Tensor (rows).
    batch_size=None disables batching (samples are converted, not stacked).
    shuffle: a RandomSampler(dataset, generator=generator) each epoch.
    sampler / batch_sampler: custom index orders (mutually exclusive with shuffle; batch_sampler
    also with batch_size, sampler and drop_last), as torch.
    generator: None (nnfast's global generator), an int seed (repeatable), a numpy Generator.
    collate_fn: list of samples -> batch (default_collate). The fast path (module docstring)
    is taken only with the default collate_fn; to transform batches cheaply use
    TensorDataset(..., transform=...) instead of a collate_fn.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
                 timeout=0, worker_init_fn=None, multiprocessing_context=None, generator=None,
                 *, prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self.dataset = dataset
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if self._iterable:
            if batch_size is not None and not (isinstance(batch_size, numbers.Integral)
                                               and batch_size > 0):
                raise ValueError("batch_size should be a positive integer value, but got "
                                 f"batch_size={batch_size}")
        else:
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle \
                    else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self._auto_collation = batch_sampler is not None or (self._iterable and
                                                             batch_size is not None)
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor if prefetch_factor is not None or \
            num_workers == 0 else 2
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._epoch = 0
        self._progress = None   # the epoch being iterated: its start states, batches given
        self._resume = None     # a mid-epoch state_dict to continue at the next iteration
        self._worker_seed0 = None       # set by a resume: the interrupted run's worker seeds
        self._last_worker_seed0 = None  # what the workers' seeds derived from last time

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)   # TypeError when the stream has no length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        gens, custom_code = walk_streams([self])
        resume, self._resume = self.__dict__.get("_resume"), None
        if resume is not None and resume["batches"]:
            return self._tracked(self._replay(resume, gens), gens, resume["epoch_start"],
                                 resume["batches"])
        # taken before _iter_epoch (a sampler may draw at once); Python's and NumPy's global
        # streams only when custom code (a Dataset, sampler, collate_fn) could draw from them
        start = {"generators": generator_states(gens), "globals": global_states(custom_code),
                 **self._counters()}
        return self._tracked(self._iter_epoch(), gens, start, 0)

    def _tracked(self, batches, gens, epoch_start, done):
        """Count the batches handed out, so state_dict() can say where the epoch stands."""
        progress = self._progress = {"gens": gens, "epoch_start": epoch_start, "batches": done}
        for batch in batches:
            progress["batches"] += 1
            yield batch
        if self._progress is progress:
            self._progress = None

    def _replay(self, resume, gens):
        """Continue an epoch a checkpoint was taken in: draw its order again from the streams
        as they were when it began, skip the batches already given, then put every stream
        where it stood at the checkpoint (the process-wide ones as the caller restored them)."""
        start = resume["epoch_start"]
        now_globals = global_states()
        set_generator_states(gens, start["generators"], "DataLoader.load_state_dict")
        set_global_states(start["globals"])
        self._set_counters(start)
        it = self._iter_epoch()
        for _ in range(resume["batches"]):
            if next(it, _END) is _END:
                raise ValueError(f"DataLoader.load_state_dict: the checkpoint was taken after "
                                 f"{resume['batches']} batches of an epoch, this loader has "
                                 f"fewer")
        set_generator_states(gens, resume["generators"], "DataLoader.load_state_dict")
        set_global_states(now_globals)
        yield from it

    def state_dict(self):
        """Where this loader's random streams stand (every generator its sampler, batch
        sampler, dataset, transforms and collate_fn hold), and how far the current epoch has
        got, as torchdata's StatefulDataLoader: a fresh loader built the same way and given
        this by load_state_dict continues with the next batch, identically. nnfast's global
        generator is not included: save nf.get_rng_state() beside it, as with torch."""
        progress = self.__dict__.get("_progress")
        gens = progress["gens"] if progress is not None else find_generators(self)
        state = {"generators": generator_states(gens), **self._counters(), "batches": 0,
                 "epoch_start": None}
        if progress is not None and progress["batches"]:
            state["batches"] = progress["batches"]
            state["epoch_start"] = progress["epoch_start"]
        return state

    def load_state_dict(self, state):
        """Restore what state_dict() returned; a mid-epoch state takes effect at the next
        iteration, which yields the rest of that epoch."""
        if not isinstance(state, dict) or not {"generators", "epoch", "batches"} <= set(state):
            raise ValueError("DataLoader.load_state_dict: expected a dict from "
                             "DataLoader.state_dict()")
        gens = find_generators(self)
        set_generator_states(gens, state["generators"], "DataLoader.load_state_dict")
        self._set_counters(state)
        self._progress = None
        self._resume = state if state["batches"] else None

    def _counters(self):
        """What worker seeds derive from besides nnfast.initial_seed(): the epoch count."""
        d = self.__dict__   # .get: a loader pickled before these attributes existed
        seed0 = d.get("_worker_seed0")
        return {"epoch": self._epoch,
                "worker_seed0": seed0 if seed0 is not None else d.get("_last_worker_seed0")}

    def _set_counters(self, state):
        self._epoch = int(state["epoch"])
        if state.get("worker_seed0") is not None:
            self._worker_seed0 = int(state["worker_seed0"])

    def _iter_epoch(self):
        if self.num_workers > 0:
            from . import _workers
            self._epoch += 1
            return _workers.iterate(self, self._epoch)
        if self._iterable:
            return self._iter_stream()
        if self._auto_collation:
            fetch = _batch_fetcher(self.dataset) if self._default_collate else None
            if fetch is not None and isinstance(self.batch_sampler, BatchSampler):
                return (fetch(idx) for idx in self.batch_sampler._batches())
            return self._iter_batches(fetch)
        return (self.collate_fn(self.dataset[i]) for i in self.sampler)

    def _index_batches(self):
        """What the main process hands to workers: each batch's indices (or each index)."""
        return iter(self.batch_sampler if self._auto_collation else self.sampler)

    def _fetch(self, indices):
        """One batch from its indices (in a worker: the same paths as the main process)."""
        if not self._auto_collation:
            return self.collate_fn(self.dataset[indices])
        cache = self.__dict__.get("_fetch_cache")
        if cache is None:
            cache = self._fetch_cache = [_batch_fetcher(self.dataset)
                                         if self._default_collate else None]
        if cache[0] is not None:
            return cache[0](np.asarray(indices, dtype=np.int64))
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return self.collate_fn(getitems(list(indices)))
        return self.collate_fn([self.dataset[i] for i in indices])

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_fetch_cache", None)
        state.pop("_pool", None)   # worker processes stay with the loader that made them
        state.pop("_progress", None)
        return state

    def _iter_batches(self, fetch):
        getitems = getattr(self.dataset, "__getitems__", None)
        for indices in self.batch_sampler:
            if fetch is not None:
                yield fetch(np.asarray(indices, dtype=np.int64))
            elif callable(getitems):
                yield self.collate_fn(getitems(list(indices)))
            else:
                yield self.collate_fn([self.dataset[i] for i in indices])

    def _iter_stream(self):
        if not self._auto_collation:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)
