"""nnfast.utils.data (torch.utils.data's path), DataLoader's worker options, collate against
torch, nnfast.nn.modules paths and parameters_to_vector / vector_to_parameters."""
import collections
import importlib

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import nnfast as nf
import nnfast.utils.data as nud
from helpers import assert_close


def as_np(x):
    if isinstance(x, (torch.Tensor, nf.Tensor)):
        return x.detach().numpy()
    return x


def same(a, b):
    """nnfast batch a equals torch batch b, structure included (integer dtypes aside)."""
    if isinstance(b, torch.Tensor):
        assert isinstance(a, nf.Tensor)
        np.testing.assert_array_equal(as_np(a), as_np(b))
        assert a.shape == tuple(b.shape)
        if b.dtype.is_floating_point or b.dtype == torch.bool:
            assert str(a.dtype) == str(b.dtype).replace("torch.", "")
    elif isinstance(b, dict):
        assert type(a) is type(b) and list(a) == list(b)
        for k in b:
            same(a[k], b[k])
    elif isinstance(b, tuple) and hasattr(b, "_fields"):
        assert type(a).__name__ == type(b).__name__
        for x, y in zip(a, b):
            same(x, y)
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b


def test_torch_import_paths():
    from nnfast.utils.data import DataLoader, Dataset, TensorDataset  # noqa: F401
    from nnfast.utils.data import (ConcatDataset, IterableDataset, Subset,  # noqa: F401
                                   default_collate, get_worker_info, random_split)
    from nnfast.utils.data.dataloader import DataLoader as D2
    from nnfast.utils.data.sampler import RandomSampler
    from nnfast.utils.data.dataset import Dataset as DS2
    assert D2 is DataLoader is nf.data.DataLoader and DS2 is Dataset
    assert RandomSampler is nf.data.RandomSampler and nf.utils.data is nud
    assert get_worker_info() is None
    for name in ("Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
                 "ChainDataset", "StackDataset", "DataLoader", "random_split", "default_collate",
                 "default_convert", "Sampler", "SequentialSampler", "RandomSampler",
                 "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
                 "get_worker_info"):
        assert hasattr(nud, name), name


Point = collections.namedtuple("Point", "x y")


class Samples(tud.Dataset):
    """Works under both libraries: yields numbers, arrays, dicts, namedtuples."""
    kind = "dict"

    def __len__(self):
        return 7

    def __getitem__(self, i):
        arr = np.arange(3, dtype=np.float32) + i
        if self.kind == "dict":
            return {"x": arr, "y": i, "w": float(i) / 2, "name": f"s{i}", "flag": i % 2 == 0}
        if self.kind == "namedtuple":
            return Point(arr, i)
        return (arr, (i, [float(i), i * 2]))


@pytest.mark.parametrize("kind", ["dict", "namedtuple", "nested"])
def test_default_collate_matches_torch(kind):
    ds = Samples()
    ds.kind = kind
    t = list(tud.DataLoader(ds, batch_size=3))
    n = list(nud.DataLoader(ds, batch_size=3))
    assert len(n) == len(t)
    for a, b in zip(n, t):
        same(a, b)


def test_default_collate_tensors_and_numbers_direct():
    same(nud.default_collate([nf.ones(2), nf.zeros(2)]),
         tud.default_collate([torch.ones(2), torch.zeros(2)]))
    same(nud.default_collate([1.5, 2.0]), tud.default_collate([1.5, 2.0]))
    same(nud.default_collate([True, False]), tud.default_collate([True, False]))
    same(nud.default_collate([np.float32(1), np.float32(2)]),
         tud.default_collate([np.float32(1), np.float32(2)]))


def test_subset_concat_stack_chain_random_split():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    ds = nud.TensorDataset(nf.tensor(x))
    sub = nud.Subset(ds, [4, 1, 7])
    np.testing.assert_array_equal(sub[1][0].numpy(), x[1])
    cat = nud.ConcatDataset([sub, ds])
    assert len(cat) == 13 and float(cat[3][0][0]) == 0.0
    st = nud.StackDataset(a=ds, b=ds)
    assert set(st[2]) == {"a", "b"}
    with pytest.raises(ValueError, match="Size mismatch"):
        nud.StackDataset(ds, sub)

    class Stream(nud.IterableDataset):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(self.n))

        def __len__(self):
            return self.n
    assert list(nud.ChainDataset([Stream(2), Stream(3)])) == [0, 1, 0, 1, 2]
    parts = nud.random_split(ds, [0.5, 0.3, 0.2], generator=0)
    assert [len(p) for p in parts] == [5, 3, 2]
    assert sorted(i for p in parts for i in p.indices) == list(range(10))
    class TStream(tud.IterableDataset):
        def __iter__(self):
            return iter(range(5))
    same(list(nud.DataLoader(Stream(5), batch_size=2)),
         list(tud.DataLoader(TStream(), batch_size=2)))


def loader_kwargs():
    return dict(batch_size=4, shuffle=True, drop_last=True, collate_fn=None)


def test_workers_give_the_same_batches_as_the_main_process():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    ds = nud.TensorDataset(nf.tensor(x), nf.tensor(y))
    ref = [(a.numpy().copy(), b.numpy().copy())
           for a, b in nud.DataLoader(ds, batch_size=3, shuffle=True, generator=7)]
    dl = nud.DataLoader(ds, batch_size=3, shuffle=True, generator=7, num_workers=2,
                        pin_memory=True, persistent_workers=True, prefetch_factor=4,
                        worker_init_fn=lambda i: None, timeout=60)
    got = [(a.numpy(), b.numpy()) for a, b in dl]
    assert len(got) == len(ref) == 7
    for (a, b), (c, d) in zip(got, ref):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert dl.num_workers == 2 and dl.pin_memory and dl.prefetch_factor == 4
    assert len(list(dl)) == 7   # a second epoch


class WhoLoads(tud.Dataset):
    """Records which worker produced each sample (under either library)."""

    def __init__(self, info):
        self.info = info

    def __len__(self):
        return 10

    def __getitem__(self, i):
        w = self.info()
        return {"x": np.float32(i * i), "worker": -1 if w is None else w.id,
                "n": 0 if w is None else w.num_workers}


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_worker_assignment_and_worker_info_match_torch(workers):
    t = list(tud.DataLoader(WhoLoads(tud.get_worker_info), batch_size=4, num_workers=workers))
    n = list(nud.DataLoader(WhoLoads(nud.get_worker_info), batch_size=4, num_workers=workers))
    same(n, t)


def shards(lib, shard):
    class Shards(lib.IterableDataset):
        def __iter__(self):
            w = lib.get_worker_info()
            if w is None or not shard:
                return iter(range(11))
            return iter(range(w.id, 11, w.num_workers))
    return Shards()


@pytest.mark.parametrize("shard", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
def test_iterable_dataset_with_workers_matches_torch(shard, drop_last):
    kw = dict(batch_size=2, num_workers=2, drop_last=drop_last)
    t = list(tud.DataLoader(shards(tud, shard), **kw))
    n = list(nud.DataLoader(shards(nud, shard), **kw))
    same(n, t)


def test_worker_init_fn_runs_in_each_worker(tmp_path):
    def init(i):
        (tmp_path / f"w{i}").write_text(str(nud.get_worker_info().id))
    list(nud.DataLoader(nud.TensorDataset(nf.zeros(8, 1)), batch_size=2, num_workers=3,
                        worker_init_fn=init))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w0", "w1", "w2"]


class Boom(tud.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        if i == 4:
            raise KeyError("sample 4 is broken")
        return np.float32(i)


def test_worker_errors_reach_the_main_process():
    with pytest.raises(KeyError, match="(?s)Caught KeyError in DataLoader worker process.*"
                                       "sample 4 is broken"):
        list(nud.DataLoader(Boom(), batch_size=2, num_workers=2))

    def bad_init(i):
        raise ValueError("no init")
    with pytest.raises(ValueError, match="no init"):
        list(nud.DataLoader(Boom(), batch_size=2, num_workers=1, worker_init_fn=bad_init))


class Dies(tud.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import os
        os._exit(3)


def test_a_dead_worker_raises():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(nud.DataLoader(Dies(), batch_size=2, num_workers=1))


def test_spawned_workers_give_the_same_batches():
    # a dataset of nnfast's own (a spawned child imports what unpickling it needs: not torch)
    ds = nud.TensorDataset(nf.arange(24.0).reshape(12, 2), nf.arange(12))
    kw = dict(batch_size=5, shuffle=True, generator=3)
    got = list(nud.DataLoader(ds, num_workers=2, multiprocessing_context="spawn", **kw))
    ref = list(nud.DataLoader(ds, **kw))
    assert len(got) == len(ref) == 3
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())


def test_worker_option_errors_match_torch():
    ds = nud.TensorDataset(nf.zeros(4, 1))
    tds = tud.TensorDataset(torch.zeros(4, 1))
    for kwargs in ({"num_workers": -1}, {"prefetch_factor": 2},
                   {"persistent_workers": True}):
        with pytest.raises(ValueError) as et:
            tud.DataLoader(tds, **kwargs)
        with pytest.raises(ValueError) as en:
            nud.DataLoader(ds, **kwargs)
        assert str(en.value) == str(et.value), kwargs


def test_custom_collate_and_drop_last_with_workers():
    ds = Samples()
    ds.kind = "nested"
    dl = nud.DataLoader(ds, batch_size=2, drop_last=True, num_workers=2,
                        collate_fn=lambda b: len(b))
    assert list(dl) == [2, 2, 2]
    one = nud.DataLoader(ds, batch_size=None, num_workers=2)
    same(list(one), list(tud.DataLoader(ds, batch_size=None, num_workers=2)))


# ----------------------------------------------------------------------------- nn paths

@pytest.mark.parametrize("path,names", [
    ("module", ["Module"]), ("linear", ["Linear", "Identity"]), ("conv", ["Conv2d"]),
    ("activation", ["ReLU", "Tanh", "Softmax"]), ("loss", ["_Loss", "_WeightedLoss",
                                                          "MSELoss", "CrossEntropyLoss"]),
    ("container", ["Sequential", "ModuleList", "ModuleDict", "ParameterList"]),
    ("batchnorm", ["BatchNorm1d", "BatchNorm2d", "_BatchNorm"]), ("dropout", ["Dropout"]),
    ("rnn", ["LSTM", "GRU", "RNNBase"]), ("pooling", ["MaxPool2d"]),
    ("normalization", ["LayerNorm"]), ("sparse", ["Embedding"]), ("flatten", ["Flatten"])])
def test_nn_modules_paths(path, names):
    mod = importlib.import_module(f"nnfast.nn.modules.{path}")
    tmod = importlib.import_module(f"torch.nn.modules.{path}")
    for name in names:
        assert hasattr(tmod, name)
        assert getattr(mod, name) is getattr(nf.nn, name, None) or name.startswith("_"), name
    assert getattr(nf.nn.modules, names[0].lstrip("_"), None) is not None or \
        names[0].startswith("_")


def test_custom_loss_subclass_from_modules_path():
    from nnfast.nn.modules.loss import _Loss

    class Half(_Loss):
        def forward(self, a, b):
            return ((a - b) * 0.5).abs().mean() if self.reduction == "mean" else (a - b)
    assert float(Half()(nf.ones(2), nf.zeros(2))) == 0.5


def test_parameters_to_vector_and_back_match_torch():
    tm = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    nm = nf.nn.Sequential(nf.nn.Linear(3, 2), nf.nn.Linear(2, 1))
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    tv = torch.nn.utils.parameters_to_vector(tm.parameters())
    nv = nf.nn.utils.parameters_to_vector(nm.parameters())
    assert_close(nv, tv)
    (nv * nf.arange(11, dtype=nf.float32)).sum().backward()
    (tv * torch.arange(11, dtype=torch.float32)).sum().backward()
    for a, b in zip(nm.parameters(), tm.parameters()):
        assert_close(a.grad, b.grad)
    new = np.linspace(-1, 1, 11).astype(np.float32)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(new), tm.parameters())
    w = nm[0].weight
    nf.nn.utils.vector_to_parameters(nf.tensor(new), nm.parameters())
    assert nm[0].weight is w
    for a, b in zip(nm.parameters(), tm.parameters()):
        assert_close(a, b)
    with pytest.raises(RuntimeError, match="11"):
        nf.nn.utils.vector_to_parameters(nf.zeros(5), nm.parameters())
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nf.nn.utils.vector_to_parameters(new, nm.parameters())


def test_persistent_workers_run_init_once_and_serve_every_epoch(tmp_path):
    def init(i):
        with open(tmp_path / f"w{i}", "a") as f:
            f.write("x")
    ds = nud.TensorDataset(nf.arange(12.0).reshape(6, 2))
    dl = nud.DataLoader(ds, batch_size=2, shuffle=True, generator=5, num_workers=2,
                        persistent_workers=True, worker_init_fn=init)
    ref = nud.DataLoader(ds, batch_size=2, shuffle=True, generator=5)
    for _ in range(3):
        for a, b in zip(dl, ref):
            np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    first = next(iter(dl))   # an abandoned epoch: its late results must not leak
    np.testing.assert_array_equal(first[0].numpy(), next(iter(ref))[0].numpy())
    again = [a[0].numpy() for a in dl]
    expect = [b[0].numpy() for b in ref]
    assert len(again) == len(expect) == 3
    for a, b in zip(again, expect):
        np.testing.assert_array_equal(a, b)
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["x", "x"]
    pool = dl._pool
    assert pool.alive()
    del dl
    import gc
    gc.collect()
    assert not pool.workers


def test_persistent_workers_restart_an_iterable_stream_each_epoch():
    ds = shards(nud, True)
    dl = nud.DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True)
    first = [x.numpy().tolist() for x in dl]
    second = [x.numpy().tolist() for x in dl]
    assert first == second and sum(len(b) for b in first) == 11


def test_in_order_false_gives_every_batch_once():
    ds = nud.TensorDataset(nf.arange(40.0).reshape(20, 2))
    got = [b[0].numpy() for b in nud.DataLoader(ds, batch_size=3, num_workers=3,
                                                in_order=False)]
    rows = np.concatenate(got)
    assert len(got) == 7
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(0.0, 40.0, 2))
