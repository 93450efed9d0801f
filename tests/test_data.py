"""nnfast.data loading, splitting and scaling; torch.utils.data is the oracle where it has the
same thing, hand-computed expectations for the scikit-learn parts (sklearn is not a dep)."""
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                         MinMaxScaler, RandomSampler, SequentialSampler, StandardScaler, Subset,
                         SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                         default_collate, random_split, train_test_split)


def _np(t):
    return t.detach().numpy() if isinstance(t, nf.Tensor) else t.numpy()


def _data(n=10, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64) % 3
    return X, y


# ------------------------------------------------------------------------------ datasets

def test_tensor_dataset_indexing_matches_torch():
    X, y = _data()
    ds, tds = TensorDataset(nf.tensor(X), y), tud.TensorDataset(torch.tensor(X), torch.tensor(y))
    assert len(ds) == len(tds) == 10
    for i in (0, 3, -1):
        a, b = ds[i], tds[i]
        assert isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], nf.Tensor)
        np.testing.assert_array_equal(_np(a[0]), b[0].numpy())
        assert int(a[1].item()) == int(b[1])
    np.testing.assert_array_equal(_np(ds[2:5][0]), tds[2:5][0].numpy())


def test_tensor_dataset_size_mismatch():
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (10, True),
                                                  (4, True), (11, False), (11, True)])
def test_dataloader_order_and_len_match_torch(batch_size, drop_last):
    X, y = _data()
    nl = DataLoader(TensorDataset(X, y), batch_size=batch_size, drop_last=drop_last)
    tl = tud.DataLoader(tud.TensorDataset(torch.tensor(X), torch.tensor(y)),
                        batch_size=batch_size, drop_last=drop_last)
    assert len(nl) == len(tl)
    nb, tb = list(nl), list(tl)
    assert len(nb) == len(tb)
    for a, b in zip(nb, tb):
        assert type(a) is type(b) is list
        for x, t in zip(a, b):
            assert isinstance(x, nf.Tensor) and x.dtype == np.dtype(str(t.dtype)[6:])
            np.testing.assert_array_equal(x.detach().numpy(), t.numpy())


def test_dataloader_dtypes():
    X = np.zeros((6, 2), np.float32)
    ds = TensorDataset(X, np.arange(6, dtype=np.int32), np.arange(6, dtype=np.float64),
                       np.ones(6, bool))
    xb, yb, zb, bb = next(iter(DataLoader(ds, batch_size=4)))
    assert (xb.dtype, yb.dtype, zb.dtype, bb.dtype) == (np.float32, np.int64, np.float64, np.bool_)


def test_dataloader_shuffle_is_seeded_and_a_permutation():
    X, y = _data(50)
    ds = TensorDataset(X, y)

    def epoch(loader):
        return np.concatenate([b[0].detach().numpy()[:, 0] for b in loader]) // 3

    l1 = DataLoader(ds, batch_size=8, shuffle=True, generator=7)
    l2 = DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(7))
    e1, e1b = epoch(l1), epoch(l1)
    assert sorted(e1.tolist()) == list(range(50))
    assert not np.array_equal(e1, np.arange(50))
    assert not np.array_equal(e1, e1b)              # a new order each epoch
    np.testing.assert_array_equal(e1, epoch(l2))     # int seed == Generator with that seed
    nf.manual_seed(3)
    g1 = epoch(DataLoader(ds, batch_size=8, shuffle=True))
    nf.manual_seed(3)
    np.testing.assert_array_equal(g1, epoch(DataLoader(ds, batch_size=8, shuffle=True)))


def test_fast_path_equals_general_path():
    """The one-index-per-tensor path gives what per-sample fetch + default_collate gives."""
    X, y = _data(23)

    class Plain(Dataset):       # same samples, no batch gathering -> general path
        def __len__(self):
            return 23

        def __getitem__(self, i):
            return X[i], y[i]

    fast = list(DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True, generator=1))
    slow = list(DataLoader(Plain(), batch_size=5, shuffle=True, generator=1))
    assert len(fast) == len(slow) == 5
    for a, b in zip(fast, slow):
        for u, v in zip(a, b):
            assert u.dtype == v.dtype
            np.testing.assert_array_equal(u.detach().numpy(), v.detach().numpy())


def test_fast_path_makes_no_per_sample_calls(monkeypatch):
    X, y = _data(1000)
    ds = TensorDataset(X, y)
    monkeypatch.setattr(TensorDataset, "_get_batch", _counting(TensorDataset._get_batch))
    batches = list(DataLoader(ds, batch_size=100))
    assert len(batches) == 10 and _counting.calls == 10


def _counting(f):
    _counting.calls = 0

    def g(*a, **k):
        _counting.calls += 1
        return f(*a, **k)
    return g


def test_subset_fast_path_and_random_split_subsets():
    X, y = _data(20)
    sub = Subset(TensorDataset(X, y), [5, 3, 9, 1])
    b = next(iter(DataLoader(sub, batch_size=4)))
    np.testing.assert_array_equal(b[1].detach().numpy(), y[[5, 3, 9, 1]])
    np.testing.assert_array_equal(sub[1][0].detach().numpy(), X[3])


def test_custom_collate_and_batch_size_none():
    X, y = _data(6)
    ds = TensorDataset(X, y)
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return default_collate(samples)
    out = list(DataLoader(ds, batch_size=4, collate_fn=collate))
    assert seen == [4, 2] and out[0][0].shape == (4, 3)
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 6 and single[0][0].shape == (3,)


def test_default_collate_matches_torch():
    samples = [(np.ones(2, np.float32) * i, i, float(i), {"a": i}) for i in range(3)]
    ours = default_collate(samples)
    theirs = tud.default_collate(samples)
    assert type(ours) is type(theirs) is list
    np.testing.assert_array_equal(ours[0].detach().numpy(), theirs[0].numpy())
    assert ours[1].dtype == np.int64 and theirs[1].dtype == torch.int64
    assert ours[2].dtype == np.float64 and theirs[2].dtype == torch.float64
    np.testing.assert_array_equal(ours[3]["a"].detach().numpy(), theirs[3]["a"].numpy())


def test_iterable_dataset_batches_in_order():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))
    got = [b.detach().numpy().tolist() for b in DataLoader(Stream(), batch_size=3)]
    assert got == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_concat_dataset():
    a, b = TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))
    c = ConcatDataset([a, b])
    assert len(c) == 5 and int(c[3][0].item()) == 10 and int(c[-1][0].item()) == 11


@pytest.mark.parametrize("kwargs,match", [
    (dict(shuffle=True, sampler=[0, 1]), "mutually exclusive with shuffle"),
    (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler option is mutually exclusive"),
    (dict(batch_sampler=[[0]], drop_last=True), "batch_sampler option is mutually exclusive"),
    (dict(batch_size=None, drop_last=True), "mutually exclusive with drop_last"),
    (dict(batch_size=0), "batch_size should be a positive integer"),
])
def test_dataloader_argument_errors_match_torch(kwargs, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        DataLoader(TensorDataset(X, y), **kwargs)
    with pytest.raises(ValueError, match=match):
        tud.DataLoader(tud.TensorDataset(torch.tensor(X)), **kwargs)


def test_custom_sampler_and_batch_sampler():
    X, y = _data()
    ds = TensorDataset(X, y)
    b = [t[1].detach().numpy().tolist() for t in DataLoader(ds, batch_size=2, sampler=[9, 0, 4])]
    assert b == [[0, 0], [1]]      # y = i % 3 at i = 9, 0 | 4
    bs = [t[0].detach().numpy()[:, 0].tolist() for t in DataLoader(ds, batch_sampler=[[1, 2], [0]])]
    assert bs == [[3.0, 6.0], [0.0]]


# ------------------------------------------------------------------------------ samplers

@given(n=st.integers(1, 40), bs=st.integers(1, 12), drop=st.booleans())
@settings(max_examples=30, deadline=None)
def test_batch_sampler_matches_torch(n, bs, drop):
    ours = list(BatchSampler(SequentialSampler(range(n)), bs, drop))
    theirs = list(tud.BatchSampler(tud.SequentialSampler(range(n)), bs, drop))
    assert ours == theirs
    assert len(BatchSampler(range(n), bs, drop)) == len(tud.BatchSampler(range(n), bs, drop))


def test_random_sampler_semantics():
    s = RandomSampler(range(10), generator=0)
    assert sorted(s) == list(range(10)) and len(s) == 10
    long = list(RandomSampler(range(4), num_samples=10, generator=0))
    assert len(long) == 10
    assert sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=0))
    assert len(rep) == 50 and set(rep) <= {0, 1, 2}
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    assert list(RandomSampler(range(8), generator=5)) == list(RandomSampler(range(8), generator=5))


def test_subset_random_sampler():
    s = SubsetRandomSampler([3, 7, 11, 20], generator=0)
    assert sorted(s) == [3, 7, 11, 20] and len(s) == 4


def test_weighted_random_sampler():
    w = [0.0, 1.0, 3.0, 0.0]
    draws = np.array(list(WeightedRandomSampler(w, 20000, generator=0)))
    counts = np.bincount(draws, minlength=4)
    assert counts[0] == counts[3] == 0
    assert abs(counts[2] / 20000 - 0.75) < 0.02
    nr = list(WeightedRandomSampler([1, 1, 1, 5], 4, replacement=False, generator=0))
    assert sorted(nr) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="non-zero weights"):
        WeightedRandomSampler([1, 0, 0], 2, replacement=False)
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1, 2]], 2)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1, 2], True)


# ------------------------------------------------------------------------------ random_split

@pytest.mark.parametrize("n,lengths", [(10, [3, 7]), (30, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]),
                                       (7, [0.1, 0.2, 0.7]), (5, [1.0]), (10, [0.25, 0.25, 0.5])])
def test_random_split_lengths_match_torch(n, lengths):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = random_split(range(n), lengths, generator=0)
        theirs = tud.random_split(range(n), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    allidx = sorted(i for s in ours for i in s.indices)
    assert allidx == list(range(n))


def test_random_split_errors_and_seed():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 6])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        tud.random_split(range(10), [3, 6])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(range(2), [0.9, 0.1], generator=0)
    a = random_split(range(20), [0.5, 0.5], generator=3)
    b = random_split(range(20), [0.5, 0.5], generator=3)
    assert a[0].indices == b[0].indices


# ------------------------------------------------------------------------------ train_test_split

def test_train_test_split_sizes_and_order():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    assert len(Xte) == 5 and len(Xtr) == 15          # ceil(0.25 * 20)
    np.testing.assert_array_equal(Xtr[:, 0] // 2, ytr)
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(20))
    assert [len(a) for a in train_test_split(y, test_size=0.33)] == [13, 7]   # ceil(6.6) = 7
    assert [len(a) for a in train_test_split(y, train_size=0.33)] == [6, 14]  # floor(6.6) = 6
    assert [len(a) for a in train_test_split(y, test_size=3, train_size=10)] == [10, 3]
    tr, te = train_test_split(y, shuffle=False, test_size=0.2)
    np.testing.assert_array_equal(tr, np.arange(16))
    np.testing.assert_array_equal(te, np.arange(16, 20))
    # sklearn's ShuffleSplit with an int seed: RandomState(seed).permutation, test first
    perm = np.random.RandomState(5).permutation(20)
    tr, te = train_test_split(y, random_state=5)
    np.testing.assert_array_equal(te, perm[:5])
    np.testing.assert_array_equal(tr, perm[5:])


def test_train_test_split_kinds():
    lst = list(range(8))
    t = nf.tensor(np.arange(8.0, dtype=np.float32))
    a_tr, a_te, t_tr, t_te = train_test_split(lst, t, test_size=0.5, random_state=1)
    assert isinstance(a_tr, list) and isinstance(t_tr, nf.Tensor)
    np.testing.assert_array_equal(np.array(a_tr, np.float32), t_tr.detach().numpy())


def test_train_test_split_stratified_keeps_proportions():
    y = np.array([0] * 60 + [1] * 30 + [2] * 10)
    X = np.arange(100)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    assert np.bincount(yte).tolist() == [12, 6, 2]
    assert np.bincount(ytr).tolist() == [48, 24, 8]
    np.testing.assert_array_equal(y[Xtr], ytr)
    assert len(set(Xtr) & set(Xte)) == 0
    # remainders: 7 classes-worth of rounding handed out by largest remainder
    y2 = np.array([0] * 5 + [1] * 5 + [2] * 5)
    _, te = train_test_split(y2, test_size=0.4, stratify=y2, random_state=0)
    assert np.bincount(te).tolist() == [2, 2, 2]
    a = train_test_split(X, y, stratify=y, random_state=4)
    b = train_test_split(X, y, stratify=y, random_state=4)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("kwargs,match", [
    (dict(test_size=1.5), "test_size=1.5 should be either positive"),
    (dict(test_size=20), "test_size=20 should be either positive"),
    (dict(test_size=0.6, train_size=0.6), "The sum of test_size and train_size"),
    (dict(stratify=np.arange(20) % 2, shuffle=False), "not implemented for shuffle=False"),
    (dict(stratify=np.r_[np.zeros(19), 1]), "least populated class"),
    (dict(test_size=15, train_size=10), "should be smaller than the number of samples"),
])
def test_train_test_split_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(np.arange(20), **kwargs)


def test_train_test_split_inconsistent_lengths():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        train_test_split(np.arange(5), np.arange(6))
    with pytest.raises(ValueError, match="At least one array"):
        train_test_split()


# ------------------------------------------------------------------------------ scalers

def test_standard_scaler_matches_hand_computation():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((50, 4)) * [1, 5, 0.1, 0] + [0, 3, -2, 7]).astype(np.float32)
    s = StandardScaler().fit(X)
    x64 = X.astype(np.float64)
    np.testing.assert_allclose(s.mean_, x64.mean(0))
    np.testing.assert_allclose(s.var_, x64.var(0))                   # population variance
    np.testing.assert_allclose(s.scale_, np.r_[x64.std(0)[:3], 1.0])  # constant feature -> 1
    Z = s.transform(X)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z[:, :3].mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(Z[:, :3].std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(Z[:, 3], 0)
    np.testing.assert_allclose(s.inverse_transform(Z), X, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(StandardScaler().fit_transform(X), Z)
    Zt = s.transform(nf.tensor(X))
    assert isinstance(Zt, nf.Tensor)
    np.testing.assert_allclose(Zt.detach().numpy(), Z)
    assert s.n_samples_seen_ == 50 and s.n_features_in_ == 4


def test_standard_scaler_options_partial_fit_and_state_dict(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3)) * 3 + 1
    nm = StandardScaler(with_mean=False).fit(X)
    np.testing.assert_allclose(nm.transform(X), X / X.std(0))
    ns = StandardScaler(with_std=False).fit(X)
    assert ns.scale_ is None and ns.var_ is None
    np.testing.assert_allclose(ns.transform(X), X - X.mean(0))
    inc = StandardScaler()
    for chunk in np.array_split(X, 4):
        inc.partial_fit(chunk)
    np.testing.assert_allclose(inc.mean_, X.mean(0))
    np.testing.assert_allclose(inc.var_, X.var(0))
    sd = inc.state_dict()
    assert all(isinstance(v, np.ndarray) for v in sd.values())
    np.savez(tmp_path / "s.npz", **sd)
    with np.load(tmp_path / "s.npz") as z:
        back = StandardScaler().load_state_dict(dict(z))
    np.testing.assert_allclose(back.transform(X), inc.transform(X))
    assert back.n_samples_seen_ == 30


def test_scaler_errors():
    s = StandardScaler()
    with pytest.raises(RuntimeError, match="not fitted"):
        s.transform(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expected a 2-D array"):
        s.fit(np.zeros(5))
    s.fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="X has 3 features, but StandardScaler is expecting 2"):
        s.transform(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        StandardScaler().fit(np.array([[np.nan]]))
    with pytest.raises(ValueError, match="Minimum of desired feature range"):
        MinMaxScaler(feature_range=(1, 0)).fit(np.zeros((2, 2)))


def test_min_max_scaler():
    X = np.array([[1.0, -1.0, 2.0], [2.0, 0.0, 2.0], [0.0, 1.0, 2.0]], np.float32)
    s = MinMaxScaler().fit(X)
    np.testing.assert_allclose(s.transform(X), [[0.5, 0, 0], [1, 0.5, 0], [0, 1, 0]])
    np.testing.assert_allclose(s.inverse_transform(s.transform(X)), X)
    s2 = MinMaxScaler(feature_range=(-1, 1), clip=True).fit(X)
    np.testing.assert_allclose(s2.transform(np.array([[5.0, 0, 2]], np.float32)), [[1, 0, -1]])
    back = MinMaxScaler().load_state_dict(s2.state_dict())
    np.testing.assert_allclose(back.transform(X), s2.transform(X))
    assert back.feature_range == (-1, 1) and back.clip is True
