"""DistributedSampler (torch.utils.data.distributed): each of num_replicas processes reads its
own share of a map-style dataset, the shares together covering it.

One epoch's order (the same on every rank, so the shares fit together):
  shuffle=False: 0, 1, ..., n - 1;  shuffle=True: a permutation seeded by seed + epoch.
Not drop_last: the order is padded to a multiple of num_replicas by repeating it from the
start (a few indices then appear twice); drop_last: its tail is cut to such a multiple. Rank r
takes every num_replicas-th index from r on. Every sequence equals torch's, shuffled ones
included: the permutation is torch.randperm's own algorithm (below), not nnfast.randperm,
whose NumPy stream differs from torch's. Past 214,748,363 items torch switches to another
randperm algorithm, not reproduced: the order there is still deterministic and the same on
every rank, but not torch's.

Not here: process groups (nnfast.distributed, asked only when num_replicas or rank is None).
"""
import importlib
import numbers

import numpy as np

from .sampler import Sampler

__all__ = ["DistributedSampler"]

# torch.randperm on CPU shuffles with 32-bit draws below this n (UINT32_MAX / 20) and switches
# to another algorithm above it; that one is not reproduced (see _permutation).
_TORCH_SMALL_RANDPERM = 0xFFFFFFFF // 20


class _NoProcessGroup(RuntimeError, ValueError):
    """No default process group. A RuntimeError, and a ValueError too: torch 2.13 raises
    ValueError here, so code written against either catches it."""


def _torch_randperm(n, seed):
    """torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist(), bit for bit.

    torch's CPU generator is MT19937 seeded with the seed's low 32 bits by the reference
    init_genrand (what NumPy's legacy RandomState seeding is); randperm then swaps r[i] with
    r[i + draw % (n - i)] for i = 0 .. n - 2, one 32-bit draw each."""
    if n <= 1:
        return list(range(n))
    key = np.random.RandomState(seed & 0xFFFFFFFF).get_state(legacy=False)["state"]["key"]
    bits = np.random.MT19937()
    bits.state = {"bit_generator": "MT19937", "state": {"key": key, "pos": 624}}
    steps = np.arange(n - 1, dtype=np.int64)
    # the swap partners for all steps at once; only the swaps themselves are sequential
    partner = (bits.random_raw(n - 1).astype(np.int64) % (n - steps) + steps).tolist()
    r = list(range(n))
    for i, j in enumerate(partner):
        r[i], r[j] = r[j], r[i]
    return r


def _permutation(n, seed):
    if n < _TORCH_SMALL_RANDPERM:   # ~0.7 s per million indices (torch: ~0.1 s)
        return np.array(_torch_randperm(n, seed), dtype=np.int64)
    # 214M+ indices: deterministic and the same on every rank, but not torch's order
    return np.random.default_rng(seed % (1 << 64)).permutation(n)


def _from_process_group(what):
    """get_world_size() or get_rank() of nnfast.distributed's default group."""
    try:
        dist = importlib.import_module("nnfast.distributed")
    except ImportError as e:
        raise _NoProcessGroup(
            f"DistributedSampler: {what} was not given and there is no default process "
            f"group (nnfast.distributed cannot be imported: {e}); call "
            f"nnfast.distributed.init_process_group() first, or pass num_replicas and "
            f"rank") from None
    is_initialized = getattr(dist, "is_initialized", None)
    if is_initialized is not None and not is_initialized():
        raise _NoProcessGroup(
            "Default process group has not been initialized, please make sure to call "
            f"init_process_group (DistributedSampler: {what} was not given; call "
            "nnfast.distributed.init_process_group() first, or pass num_replicas and rank).")
    return dist.get_world_size() if what == "num_replicas" else dist.get_rank()


def _as_int(x, name):
    if not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"DistributedSampler: {name} must be an int, got "
                        f"{type(x).__name__}")
    return int(x)


class DistributedSampler(Sampler):
    """Restricts loading to this rank's share of the dataset (torch's arguments, attributes
    and sequences). Call set_epoch(epoch) before each epoch's iteration so that shuffled
    orders differ between epochs; the order is the same on every rank for the same epoch.

        sampler = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=0)
        loader = DataLoader(ds, batch_size=32, sampler=sampler)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for xb, yb in loader: ...
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        if num_replicas is None:
            num_replicas = _from_process_group("num_replicas")
        if rank is None:
            rank = _from_process_group("rank")
        num_replicas = _as_int(num_replicas, "num_replicas")
        rank = _as_int(rank, "rank")
        if rank >= num_replicas or rank < 0:   # also rejects num_replicas <= 0, as torch
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = _as_int(seed, "seed")
        n = self._built_len = len(dataset)
        # drop_last: the largest multiple of num_replicas not above n; else the smallest
        # not below it (torch's ceil formulas, in integers)
        self.num_samples = n // num_replicas if drop_last else -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def _indices(self):
        n = len(self.dataset)
        pad = self.total_size - n
        # torch fails on these too: the shares no longer fit (a length change that still
        # fits, shrinking without drop_last or growing with it, is served as torch does)
        if pad < 0 and not self.drop_last or pad > 0 and (self.drop_last or n == 0):
            raise RuntimeError(f"DistributedSampler: the dataset has {n} items but had "
                               f"{self._built_len} when the sampler was built; build a new "
                               f"sampler for it")
        if self.shuffle:
            order = _permutation(n, self.seed + _as_int(self.epoch, "epoch"))
        else:
            order = np.arange(n, dtype=np.int64)
        if pad > 0:
            order = np.concatenate([order, np.resize(order, pad)])   # cycles from the start
        return order[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """The epoch whose order the next iteration yields (shuffle=True: seeded by
        seed + epoch; shuffle=False: no effect)."""
        self.epoch = epoch
