"""nnfast.datasets: the embedded digits and the seeded generators."""
import numpy as np
import pytest

import nnfast as nf
from nnfast.datasets import (Bunch, load_digits, make_blobs, make_classification, make_moons,
                             make_regression, make_spirals)


def test_load_digits_bunch():
    b = load_digits()
    assert isinstance(b, Bunch) and b.data is b["data"]
    assert b.data.shape == (1797, 64) and b.data.dtype == np.float32
    assert b.images.shape == (1797, 8, 8) and b.images.dtype == np.float32
    assert b.target.shape == (1797,) and b.target.dtype == np.int64
    np.testing.assert_array_equal(b.data, b.images.reshape(1797, 64))
    assert b.data.min() == 0 and b.data.max() == 16
    np.testing.assert_array_equal(np.unique(b.data), np.arange(17))
    # the UCI optdigits test set's class counts
    assert np.bincount(b.target).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    np.testing.assert_array_equal(b.target_names, np.arange(10))
    assert "Alpaydin" in b.DESCR and "CC BY 4.0" in b.DESCR
    assert len(b.feature_names) == 64
    assert "Alpaydin" in load_digits.__doc__


def test_load_digits_options():
    X, y = load_digits(return_X_y=True)
    assert X.shape == (1797, 64) and y.shape == (1797,)
    X3, y3 = load_digits(n_class=3, return_X_y=True)
    assert set(y3.tolist()) == {0, 1, 2} and len(y3) == 178 + 182 + 177
    with pytest.raises(NotImplementedError, match="as_frame"):
        load_digits(as_frame=True)
    with pytest.raises(ValueError, match="n_class"):
        load_digits(n_class=11)


def test_make_classification_shapes_weights_and_seed():
    X, y = make_classification(2000, 10, n_informative=3, n_redundant=2, n_repeated=1,
                               weights=[0.9, 0.1], flip_y=0.0, random_state=0)
    assert X.shape == (2000, 10) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [1800, 200]
    X2, y2 = make_classification(2000, 10, n_informative=3, n_redundant=2, n_repeated=1,
                                 weights=[0.9, 0.1], flip_y=0.0, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    # rank: 3 informative + 2 redundant (linear in them) + 1 repeated -> 3 + 4 noise columns
    assert np.linalg.matrix_rank(X.astype(np.float64), tol=1e-3) == 7
    # a repeated column equals some other column
    cols = [(i, j) for i in range(10) for j in range(i + 1, 10) if np.array_equal(X[:, i], X[:, j])]
    assert len(cols) == 1
    # weights of length n_classes - 1: the last class is the rest
    _, y3 = make_classification(1000, n_classes=3, n_informative=3, weights=[0.5, 0.3],
                                flip_y=0.0, random_state=1)
    # per cluster floor(n * w / n_clusters_per_class) (1 - 0.8 rounds just below 0.2), the
    # remainder handed out round-robin over the clusters
    assert np.bincount(y3).tolist() == [501, 301, 198]


def test_make_classification_flip_y_and_separation():
    X, y = make_classification(4000, 5, n_informative=2, n_redundant=0, n_clusters_per_class=1,
                               flip_y=0.0, class_sep=3.0, shuffle=False, random_state=0)
    # well separated: a nearest-centroid rule on the informative columns is near perfect
    c = np.stack([X[y == k, :2].mean(0) for k in (0, 1)])
    pred = np.argmin(((X[:, None, :2] - c) ** 2).sum(-1), axis=1)
    assert (pred == y).mean() > 0.97
    _, yf = make_classification(4000, 5, n_informative=2, n_redundant=0, n_clusters_per_class=1,
                                flip_y=0.5, class_sep=3.0, shuffle=False, random_state=0)
    changed = (yf != y).mean()
    assert 0.18 < changed < 0.32      # half are redrawn, half of those land on the other class


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_features=3, n_informative=2, n_redundant=2), "must sum to less than"),
    (dict(n_informative=1, n_classes=2, n_clusters_per_class=2), "must be smaller or equal"),
    (dict(weights=[0.2, 0.3, 0.5]), "incompatible with number of classes"),
    (dict(n_samples=0), "n_samples must be an int >= 1"),
])
def test_make_classification_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_classification(**kwargs)


def test_make_regression():
    X, y, coef = make_regression(200, 8, n_informative=3, noise=0.0, bias=2.0, coef=True,
                                 random_state=0)
    assert X.shape == (200, 8) and y.shape == (200,) and coef.shape == (8,)
    assert np.count_nonzero(coef) == 3 and np.all((coef >= 0) & (coef <= 100))
    np.testing.assert_allclose(X @ coef + 2.0, y, rtol=1e-4, atol=1e-3)
    Xn, yn, cn = make_regression(200, 8, n_informative=3, noise=5.0, bias=2.0, coef=True,
                                 random_state=0)
    assert 4.0 < np.std(yn - Xn @ cn - 2.0) < 6.0
    _, y2, c2 = make_regression(50, 4, n_targets=2, coef=True, random_state=0)
    assert y2.shape == (50, 2) and c2.shape == (4, 2)


def test_make_moons_and_spirals_and_blobs():
    X, y = make_moons(101, random_state=0)
    assert X.shape == (101, 2) and np.bincount(y).tolist() == [50, 51]
    r0 = np.linalg.norm(X[y == 0], axis=1)
    np.testing.assert_allclose(r0, 1.0, atol=1e-6)                     # no noise: on the circle
    np.testing.assert_allclose(np.linalg.norm(X[y == 1] - [1, 0.5], axis=1), 1.0, atol=1e-6)
    Xn, _ = make_moons(101, noise=0.1, random_state=0)
    assert not np.allclose(Xn, X)
    Xs, ys = make_spirals(300, n_classes=3, random_state=0)
    assert np.bincount(ys).tolist() == [100, 100, 100]
    assert np.linalg.norm(Xs, axis=1).max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(make_spirals(50, noise=0.1, random_state=2)[0],
                                  make_spirals(50, noise=0.1, random_state=2)[0])
    Xb, yb, centers = make_blobs(90, 3, centers=3, cluster_std=0.01, random_state=0,
                                 return_centers=True)
    assert Xb.shape == (90, 3) and np.bincount(yb).tolist() == [30, 30, 30]
    np.testing.assert_allclose(Xb, centers[yb], atol=0.1)


def test_generators_use_global_seed_when_none():
    nf.manual_seed(11)
    a = make_moons(20, noise=0.1)[0]
    nf.manual_seed(11)
    np.testing.assert_array_equal(a, make_moons(20, noise=0.1)[0])
