"""Class weights and resamplers (imbalanced-learn semantics, hand-computed expectations),
the blockwise kNN behind SMOTE (compiled selection == NumPy reference == brute force), and the
issue's end-to-end requirement: each remedy improves minority recall on a 1:20 problem."""
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import _C, nn, optim
from nnfast.data import (SMOTE, DataLoader, RandomOverSampler, RandomUnderSampler,
                         StandardScaler, TensorDataset, compute_class_weight,
                         compute_pos_weight, compute_sample_weight, kneighbors,
                         train_test_split)
from nnfast.datasets import make_classification


def _imbalanced(counts=(50, 10, 5), d=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)]).astype(np.int64)
    X = (rng.standard_normal((len(y), d)) + 3 * y[:, None]).astype(np.float32)
    return X, y


# ------------------------------------------------------------------------------ class weights

def test_compute_class_weight_balanced_and_dict():
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = compute_class_weight("balanced", classes=np.arange(3), y=y)
    assert w.dtype == np.float32
    np.testing.assert_allclose(w, [10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1)])
    np.testing.assert_allclose(compute_class_weight({2: 5.0}, classes=np.arange(3), y=y), [1, 1, 5])
    np.testing.assert_array_equal(compute_class_weight(None, classes=np.arange(3), y=y), 1)
    sw = compute_sample_weight("balanced", y)
    np.testing.assert_allclose(sw, w[y])
    with pytest.raises(ValueError, match="classes should include all valid labels"):
        compute_class_weight("balanced", classes=np.arange(2), y=y)
    with pytest.raises(ValueError, match="classes should have valid labels that are in y"):
        compute_class_weight("balanced", classes=np.arange(4), y=y)
    with pytest.raises(ValueError, match="not in classes"):
        compute_class_weight({7: 1.0}, classes=np.arange(3), y=y)
    with pytest.raises(ValueError, match="'balanced'"):
        compute_class_weight("balance", classes=np.arange(3), y=y)


def test_class_weight_feeds_cross_entropy_like_torch():
    import torch
    y = np.array([0] * 6 + [1] * 3 + [2] * 1)
    w = compute_class_weight("balanced", classes=np.arange(3), y=y)
    logits = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
    ours = nn.CrossEntropyLoss(weight=w)(nf.tensor(logits), nf.tensor(y))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(w))(torch.tensor(logits),
                                                                 torch.tensor(y))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-5)


def test_compute_pos_weight():
    np.testing.assert_allclose(compute_pos_weight(np.array([0, 0, 0, 1])), [3.0])
    pw = compute_pos_weight(np.array([[1, 0], [0, 1], [0, 1], [0, 1]], np.float32))
    np.testing.assert_allclose(pw, [3.0, 1 / 3])
    assert pw.dtype == np.float32
    target = nf.tensor(np.eye(2, dtype=np.float32)[[0, 1, 1, 1]])
    assert np.isfinite(nn.BCEWithLogitsLoss(pos_weight=pw)(nf.zeros(4, 2), target).item())
    with pytest.raises(ValueError, match="no positive sample"):
        compute_pos_weight(np.zeros(3))
    with pytest.raises(ValueError, match="only 0 and 1"):
        compute_pos_weight(np.array([0, 2]))


# ------------------------------------------------------------------------------ resamplers

def test_random_over_sampler_counts_and_rows():
    X, y = _imbalanced()
    ros = RandomOverSampler(random_state=0)
    Xr, yr = ros.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(Xr[:65], X)                 # originals first
    np.testing.assert_array_equal(Xr, X[ros.sample_indices_])
    np.testing.assert_array_equal(yr, y[ros.sample_indices_])
    assert ros.sampling_strategy_ == {1: 40, 2: 45}
    _, ym = RandomOverSampler(sampling_strategy="minority", random_state=0).fit_resample(X, y)
    assert np.bincount(ym).tolist() == [50, 10, 50]
    _, yd = RandomOverSampler(sampling_strategy={1: 20}, random_state=0).fit_resample(X, y)
    assert np.bincount(yd).tolist() == [50, 20, 5]


def test_random_under_sampler_counts_and_rows():
    X, y = _imbalanced()
    rus = RandomUnderSampler(random_state=0)
    Xr, yr = rus.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [5, 5, 5]
    assert np.all(np.diff(yr) >= 0)                            # grouped by class
    np.testing.assert_array_equal(Xr, X[rus.sample_indices_])
    assert len(set(rus.sample_indices_.tolist())) == 15        # no replacement
    _, ym = RandomUnderSampler(sampling_strategy="majority", random_state=0).fit_resample(X, y)
    assert np.bincount(ym).tolist() == [5, 10, 5]


def test_float_strategy_binary():
    X, y = _imbalanced((40, 10))
    _, yo = RandomOverSampler(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    assert np.bincount(yo).tolist() == [40, 20]
    _, yu = RandomUnderSampler(sampling_strategy=0.5, random_state=0).fit_resample(X, y)
    assert np.bincount(yu).tolist() == [20, 10]
    with pytest.raises(ValueError, match="only valid for binary"):
        RandomOverSampler(sampling_strategy=0.5).fit_resample(*_imbalanced())


def test_resampler_errors():
    X, y = _imbalanced()
    with pytest.raises(ValueError, match="not valid for over-sampling"):
        RandomOverSampler(sampling_strategy="majority").fit_resample(X, y)
    with pytest.raises(ValueError, match="greater or equal to the original number"):
        RandomOverSampler(sampling_strategy={0: 10}).fit_resample(X, y)
    with pytest.raises(ValueError, match="less or equal to the original number"):
        RandomUnderSampler(sampling_strategy={2: 10}).fit_resample(X, y)
    with pytest.raises(ValueError, match="X has 65 samples but y has 3"):
        RandomOverSampler().fit_resample(X, y[:3])
    with pytest.raises(ValueError, match="class 2 has 5 samples; k_neighbors=5 needs at least 6"):
        SMOTE(random_state=0).fit_resample(X, y)


def test_tensor_in_tensor_out():
    X, y = _imbalanced()
    Xr, yr = RandomOverSampler(random_state=0).fit_resample(nf.tensor(X), nf.tensor(y))
    assert isinstance(Xr, nf.Tensor) and isinstance(yr, nf.Tensor) and Xr.shape == (150, 3)


def test_smote_counts_segments_and_determinism():
    X, y = _imbalanced((60, 20, 12), d=4)
    sm = SMOTE(k_neighbors=3, random_state=0)
    Xr, yr = sm.fit_resample(X, y)
    assert np.bincount(yr).tolist() == [60, 60, 60]
    assert Xr.dtype == np.float32
    np.testing.assert_array_equal(Xr[:92], X)
    for c in (1, 2):
        Xc = X[y == c]
        nbr = kneighbors(Xc, 3)
        new = Xr[92:][yr[92:] == c]
        # each synthetic point lies on a segment from a member to one of its 3 neighbours
        for p in new:
            ok = False
            for i in range(len(Xc)):
                for j in nbr[i]:
                    d = Xc[j] - Xc[i]
                    u = float(np.dot(p - Xc[i], d) / np.dot(d, d))
                    if -1e-5 <= u <= 1 + 1e-5 and np.allclose(Xc[i] + u * d, p, atol=1e-4):
                        ok = True
                        break
                if ok:
                    break
            assert ok, f"synthetic point {p} of class {c} is not on a neighbour segment"
    Xr2, yr2 = SMOTE(k_neighbors=3, random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(Xr, Xr2)
    Xr3, _ = SMOTE(k_neighbors=3, random_state=1).fit_resample(X, y)
    assert not np.array_equal(Xr, Xr3)


def test_resamplers_deterministic_by_seed():
    X, y = _imbalanced()
    for cls in (RandomOverSampler, RandomUnderSampler):
        a = cls(random_state=3).fit_resample(X, y)[0]
        b = cls(random_state=3).fit_resample(X, y)[0]
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ kNN

def _brute_knn(A, k):
    A = A.astype(np.float64)
    D = ((A[:, None, :] - A[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    return np.argsort(D, axis=1, kind="stable")[:, :k]


@given(m=st.integers(2, 70), d=st.integers(1, 9), k=st.integers(1, 8), block=st.integers(1, 80),
       seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_kneighbors_engines_agree_with_brute_force(m, d, k, block, seed):
    k = min(k, m - 1)
    # integer coordinates: exact float32 distances, so ties are real and must go to the lower index
    A = np.random.default_rng(seed).integers(-3, 4, (m, d)).astype(np.float32)
    ref = _brute_knn(A, k)
    np.testing.assert_array_equal(kneighbors(A, k, block_rows=block), ref)
    np.testing.assert_array_equal(kneighbors(A, k, block_rows=block, engine="numpy"), ref)


@given(M=st.integers(0, 20), N=st.integers(0, 70), k=st.integers(1, 6), off=st.integers(-1, 5),
       seed=st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_knn_select_kernel_equals_reference(M, N, k, off, seed):
    rng = np.random.default_rng(seed)
    g = rng.integers(-5, 5, (M, N)).astype(np.float32)
    cn = rng.integers(0, 3, N).astype(np.float32)
    out = [(np.empty((M, k), np.int64), np.empty((M, k), np.float32)) for _ in range(2)]
    _C.knn_select(out[0][0], out[0][1], g, cn, off)
    _C.knn_select(out[1][0], out[1][1], g, cn, off, reference=True)
    np.testing.assert_array_equal(out[0][0], out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])
    v = g + cn
    for i in range(M):       # against a stable sort of the admissible columns
        cols = [j for j in np.argsort(v[i], kind="stable") if not (off >= 0 and j == i + off)][:k]
        assert out[0][0][i, :len(cols)].tolist() == cols
        assert np.all(out[0][0][i, len(cols):] == -1)


def test_knn_select_shape_errors():
    with pytest.raises(ValueError, match="knn_select"):
        _C.knn_select(np.empty((2, 3), np.int64), np.empty((2, 2), np.float32),
                      np.zeros((2, 5), np.float32), None, -1)
    with pytest.raises(ValueError, match="need at least k \\+ 1"):
        kneighbors(np.zeros((3, 2)), 3)


def test_smote_100k_rows_is_fast():
    X, y = make_classification(100_000, 20, n_informative=5, weights=[0.9, 0.1], flip_y=0,
                               random_state=0)
    t = time.perf_counter()
    Xr, yr = SMOTE(random_state=0).fit_resample(X, y)
    dt = time.perf_counter() - t
    print(f"\nSMOTE 100k x 20 (minority {np.bincount(y)[1]} rows): {dt:.2f} s")
    assert np.bincount(yr)[0] == np.bincount(yr)[1] == np.bincount(y)[0]
    assert dt < 30, f"SMOTE on 100k rows took {dt:.1f} s: a quadratic blow-up?"


# ------------------------------------------------------------------------------ end to end

def _minority_recall(Xtr, ytr, Xte, yte, weight=None, steps=300):
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(Xtr.shape[1], 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=128, shuffle=True, generator=0)
    step = 0
    while step < steps:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            step += 1
            if step == steps:
                break
    with nf.no_grad():
        pred = model(nf.tensor(Xte)).detach().numpy().argmax(1)
    return float((pred[yte == 1] == 1).mean()), float((pred[yte == 0] == 0).mean())


def test_each_remedy_improves_minority_recall_on_1_to_20():
    X, y = make_classification(3000, 8, n_informative=4, n_redundant=2, n_clusters_per_class=2,
                               weights=[20 / 21, 1 / 21], flip_y=0.0, class_sep=0.8,
                               random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    scaler = StandardScaler().fit(Xtr)
    Xtr, Xte = scaler.transform(Xtr), scaler.transform(Xte)
    assert np.bincount(ytr).tolist() == [2000, 100]
    base, _ = _minority_recall(Xtr, ytr, Xte, yte)
    results = {"class weights": _minority_recall(
        Xtr, ytr, Xte, yte, weight=compute_class_weight("balanced", classes=np.arange(2), y=ytr))}
    for sampler in (RandomOverSampler(random_state=0), RandomUnderSampler(random_state=0),
                    SMOTE(random_state=0)):
        Xr, yr = sampler.fit_resample(Xtr, ytr)
        results[type(sampler).__name__] = _minority_recall(Xr, yr, Xte, yte)
    print(f"\nminority recall: none {base:.2f}, " +
          ", ".join(f"{k} {v[0]:.2f} (majority {v[1]:.2f})" for k, v in results.items()))
    for name, (rec, maj) in results.items():
        assert rec >= base + 0.15, f"{name}: minority recall {rec:.2f} vs {base:.2f} without"
        assert maj > 0.5, f"{name}: majority recall collapsed to {maj:.2f}"
