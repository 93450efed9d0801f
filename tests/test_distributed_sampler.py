"""DistributedSampler against torch.utils.data.distributed.DistributedSampler (given num_replicas
and rank, torch's needs no process group): every rank's sequence for many lengths, replica
counts, seeds, epochs, shuffle and drop_last, the shares' coverage, errors, DataLoader use."""
import sys
import types

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from hypothesis import given, settings, strategies as st
from torch.utils.data.distributed import DistributedSampler as TorchDS

import nnfast as nf
from nnfast.data import distributed as nfd
from nnfast.utils.data.distributed import DistributedSampler


class Sized:
    """A dataset of n items (the sampler only needs len)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def both(n, num_replicas, rank, **kw):
    ds = Sized(n)
    return DistributedSampler(ds, num_replicas, rank, **kw), TorchDS(ds, num_replicas, rank, **kw)


def assert_same(ours, theirs, epoch=None):
    if epoch is not None:
        ours.set_epoch(epoch)
        theirs.set_epoch(epoch)
    got, want = list(ours), list(theirs)
    assert got == want
    assert all(type(i) is int for i in got)
    assert len(ours) == len(theirs) == len(got)
    assert ours.num_samples == theirs.num_samples
    assert ours.total_size == theirs.total_size
    return got


def shares(n, num_replicas, **kw):
    return [list(DistributedSampler(Sized(n), num_replicas, r, **kw))
            for r in range(num_replicas)]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n,num_replicas", [(0, 1), (0, 3), (1, 1), (1, 4), (2, 5), (3, 4),
                                            (7, 1), (7, 2), (7, 3), (10, 2), (10, 4),
                                            (11, 11), (12, 5), (100, 7), (1000, 8)])
def test_every_rank_equals_torch(n, num_replicas, shuffle, drop_last):
    for rank in range(num_replicas):
        ours, theirs = both(n, num_replicas, rank, shuffle=shuffle, drop_last=drop_last)
        assert_same(ours, theirs)


@settings(max_examples=150)
@given(n=st.integers(0, 300), num_replicas=st.integers(1, 9), data=st.data(),
       shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(-2**40, 2**40), epoch=st.integers(0, 1000))
def test_random_shapes_equal_torch(n, num_replicas, data, shuffle, drop_last, seed, epoch):
    rank = data.draw(st.integers(0, num_replicas - 1))
    ours, theirs = both(n, num_replicas, rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
    assert_same(ours, theirs, epoch)


def test_shuffle_is_torch_randperm_bit_for_bit():
    # seeds past 32 bits and negative ones: torch keeps the low 32 bits of the uint64 seed
    for seed in [0, 1, 42, 2**31, 2**32 + 7, 2**40 + 3, 2**63 - 1, -1, -5]:
        for n in [2, 3, 17, 1000, 50_000]:
            g = torch.Generator()
            g.manual_seed(seed)
            assert nfd._torch_randperm(n, seed) == torch.randperm(n, generator=g).tolist()


def test_past_torchs_small_randperm_still_partitions(monkeypatch):
    # torch's other algorithm (214M+ items) is not reproduced; what must hold still holds
    monkeypatch.setattr(nfd, "_TORCH_SMALL_RANDPERM", 10)
    parts = shares(50, 4, seed=3)
    assert parts == shares(50, 4, seed=3)
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(50)) and len(flat) == 52
    assert flat != sorted(flat)
    assert parts != shares(50, 4, seed=4)


def test_set_epoch_changes_shuffled_order_as_torch():
    ours, theirs = both(50, 3, 1, shuffle=True, seed=7)
    orders = [assert_same(ours, theirs, epoch) for epoch in range(4)]
    assert len({tuple(o) for o in orders}) == 4
    assert assert_same(ours, theirs, 2) == orders[2]   # an epoch's order repeats
    assert list(ours) == orders[2]                     # and iterating again does not draw
    # seed + epoch is what is seeded
    a = DistributedSampler(Sized(50), 3, 1, seed=5)
    a.set_epoch(3)
    b = DistributedSampler(Sized(50), 3, 1, seed=8)
    assert list(a) == list(b)


def test_set_epoch_without_shuffle_keeps_order():
    ours, theirs = both(10, 3, 2, shuffle=False)
    assert assert_same(ours, theirs, 0) == assert_same(ours, theirs, 5) == [2, 5, 8, 1]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n,num_replicas", [(12, 4), (13, 4), (3, 5), (100, 7), (1, 3)])
def test_shares_cover_and_pad_from_the_start(n, num_replicas, shuffle):
    parts = shares(n, num_replicas, shuffle=shuffle, seed=3)
    assert {len(p) for p in parts} == {-(-n // num_replicas)}
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(n))   # union covers the dataset
    # interleaved back, the shares are one order followed by its own start (the padding)
    total = len(parts[0]) * num_replicas
    order = [parts[k % num_replicas][k // num_replicas] for k in range(total)]
    assert sorted(order[:n]) == list(range(n))
    assert order[n:] == (order[:n] * num_replicas)[:total - n]
    if n % num_replicas == 0:
        assert len(flat) == len(set(flat))   # disjoint when it divides


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("n,num_replicas", [(12, 4), (13, 4), (3, 5), (100, 7), (5, 5)])
def test_drop_last_shares_are_disjoint_and_even(n, num_replicas, shuffle):
    parts = shares(n, num_replicas, shuffle=shuffle, drop_last=True, seed=1)
    assert {len(p) for p in parts} == {n // num_replicas}
    flat = [i for p in parts for i in p]
    assert len(flat) == len(set(flat)) == n - n % num_replicas
    assert set(flat) <= set(range(n))


def test_same_order_on_every_rank_for_an_epoch():
    # each rank builds its own sampler (its own process in real use): the shares still fit
    n, world = 37, 4
    for epoch in range(3):
        parts = []
        for r in range(world):
            s = DistributedSampler(Sized(n), world, r, seed=11)
            s.set_epoch(epoch)
            parts.append(list(s))
        assert {i for p in parts for i in p} == set(range(n))


def test_attributes_as_torch():
    ours, theirs = both(10, 3, 1, shuffle=False, seed=4, drop_last=True)
    for name in ["num_replicas", "rank", "epoch", "drop_last", "shuffle", "seed", "num_samples",
                 "total_size"]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.dataset is not None
    assert isinstance(ours, nf.utils.data.Sampler)
    assert nf.utils.data.DistributedSampler is DistributedSampler is nf.data.DistributedSampler
    assert sys.modules["nnfast.utils.data.distributed"] is nfd


@pytest.mark.parametrize("num_replicas,rank", [(2, 2), (2, -1), (0, 0), (-1, 0), (3, 7)])
def test_invalid_rank_raises_as_torch(num_replicas, rank):
    with pytest.raises(ValueError) as theirs:
        TorchDS(Sized(5), num_replicas, rank)
    with pytest.raises(ValueError) as ours:
        DistributedSampler(Sized(5), num_replicas, rank)
    assert str(ours.value) == str(theirs.value)


def test_non_integer_arguments_raise():
    with pytest.raises(TypeError, match="num_replicas"):
        DistributedSampler(Sized(5), 2.0, 0)
    with pytest.raises(TypeError, match="rank"):
        DistributedSampler(Sized(5), 2, "0")
    s = DistributedSampler(Sized(5), 2, 0)
    s.set_epoch(1.5)
    with pytest.raises(TypeError, match="epoch"):
        list(s)
    with pytest.raises(TypeError):   # no length, as torch
        DistributedSampler(iter(range(3)), 2, 0)


def test_no_process_group_raises(monkeypatch):
    # nnfast.distributed not importable (None in sys.modules makes the import fail)
    monkeypatch.setitem(sys.modules, "nnfast.distributed", None)
    for kw in [{}, {"num_replicas": 2}, {"rank": 0}]:
        with pytest.raises(RuntimeError, match="init_process_group"):
            DistributedSampler(Sized(5), **kw)
        with pytest.raises(ValueError):   # what torch 2.13 raises
            DistributedSampler(Sized(5), **kw)
    with pytest.raises(ValueError, match="init_process_group"):
        TorchDS(Sized(5))


def fake_dist(initialized, world=3, rank=1):
    m = types.ModuleType("nnfast.distributed")
    m.is_initialized = lambda: initialized
    m.get_world_size = lambda: world
    m.get_rank = lambda: rank
    return m


def test_num_replicas_and_rank_from_the_process_group(monkeypatch):
    monkeypatch.setitem(sys.modules, "nnfast.distributed", fake_dist(True, 3, 1))
    s = DistributedSampler(Sized(10), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (3, 1, [1, 4, 7, 0])
    s = DistributedSampler(Sized(10), rank=2, shuffle=False)   # only what is missing is asked
    assert (s.num_replicas, s.rank) == (3, 2)
    monkeypatch.setitem(sys.modules, "nnfast.distributed", fake_dist(True, 2, 5))
    with pytest.raises(ValueError, match="Invalid rank 5"):
        DistributedSampler(Sized(10))
    monkeypatch.setitem(sys.modules, "nnfast.distributed", fake_dist(False))
    with pytest.raises(RuntimeError, match="Default process group has not been initialized"):
        DistributedSampler(Sized(10))


def test_dataset_length_change():
    ds = Sized(10)
    ours, theirs = DistributedSampler(ds, 3, 0), TorchDS(ds, 3, 0)
    ds.n = 9                                # shrinking without drop_last still pads: as torch
    assert list(ours) == list(theirs)
    ds.n = 13                               # growing past total_size: torch fails too
    with pytest.raises(AssertionError):
        list(theirs)
    with pytest.raises(RuntimeError, match="13 items but had 10"):
        list(ours)
    ds = Sized(10)
    ours, theirs = (DistributedSampler(ds, 3, 0, drop_last=True),
                    TorchDS(ds, 3, 0, drop_last=True))
    ds.n = 20                               # drop_last cuts to total_size: as torch
    assert list(ours) == list(theirs)
    ds.n = 8
    with pytest.raises(AssertionError):
        list(theirs)
    with pytest.raises(RuntimeError, match="8 items"):
        list(ours)


@pytest.mark.parametrize("drop_last", [False, True])
def test_dataloader_batches_equal_torch(drop_last):
    x = np.arange(46 * 3, dtype=np.float32).reshape(46, 3)
    y = np.arange(46, dtype=np.int64)
    nds = nf.data.TensorDataset(nf.tensor(x), nf.tensor(y))
    tds = tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    for rank in range(3):
        ns = DistributedSampler(nds, 3, rank, seed=2, drop_last=drop_last)
        ts = TorchDS(tds, 3, rank, seed=2, drop_last=drop_last)
        nl = nf.data.DataLoader(nds, batch_size=4, sampler=ns, drop_last=drop_last)
        tl = tud.DataLoader(tds, batch_size=4, sampler=ts, drop_last=drop_last)
        assert len(nl) == len(tl)
        seen = []
        for epoch in range(3):
            ns.set_epoch(epoch)
            ts.set_epoch(epoch)
            got = [(xb.numpy(), yb.numpy()) for xb, yb in nl]
            want = [(xb.numpy(), yb.numpy()) for xb, yb in tl]
            assert len(got) == len(want) == len(nl)
            for (gx, gy), (wx, wy) in zip(got, want):
                np.testing.assert_array_equal(gx, wx)
                np.testing.assert_array_equal(gy, wy)
            seen.append(np.concatenate([g[1] for g in got]).tolist())
        assert seen[0] != seen[1] != seen[2]   # set_epoch reshuffles


def test_dataloader_without_batching():
    nds = nf.data.TensorDataset(nf.tensor(np.arange(10, dtype=np.float32)))
    s = DistributedSampler(nds, 2, 1, shuffle=False)
    got = [float(b[0].item()) for b in nf.data.DataLoader(nds, batch_size=None, sampler=s)]
    assert got == [1.0, 3.0, 5.0, 7.0, 9.0]
