"""Seeded synthetic data sets: make_classification, make_regression, make_moons, make_spirals,
make_blobs (scikit-learn's names, arguments and return order; make_spirals is nnfast's).

random_state: None (nnfast's global generator, seeded by nnfast.manual_seed), an int seed, or a
numpy Generator / RandomState. The same seed gives the same data on every run and platform
that NumPy's generators are stable on. Values differ from scikit-learn's for the same seed
(different random streams); the constructions are described in each docstring.

Dtypes: X float32 (nnfast's working type), class labels int64, regression targets float32.
"""
import numbers

import numpy as np

from ..data._random import as_generator, integers

__all__ = ["make_classification", "make_regression", "make_moons", "make_spirals", "make_blobs"]


def _count(name, v, minimum=0):
    if not isinstance(v, (numbers.Integral, np.integer)) or isinstance(v, bool) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _split_evenly(n, parts):
    sizes = np.full(parts, n // parts, dtype=np.int64)
    sizes[:n % parts] += 1
    return sizes


def _hypercube_vertices(n_vertices, dim, rng):
    """n_vertices distinct corners of {0, 1}^dim, chosen at random."""
    if dim <= 30:
        codes = rng.choice(2 ** dim, size=n_vertices, replace=False)
        return ((codes[:, None] >> np.arange(dim)) & 1).astype(np.float64)
    out = set()
    rows = []
    while len(rows) < n_vertices:   # 2^dim is huge: collisions are vanishingly rare
        v = tuple(integers(rng, 2, dim).tolist())
        if v not in out:
            out.add(v)
            rows.append(v)
    return np.array(rows, dtype=np.float64)


def make_classification(n_samples=100, n_features=20, *, n_informative=2, n_redundant=2,
                        n_repeated=0, n_classes=2, n_clusters_per_class=2, weights=None,
                        flip_y=0.01, class_sep=1.0, hypercube=True, shift=0.0, scale=1.0,
                        shuffle=True, random_state=None):
    """A random n_classes classification problem (scikit-learn's construction, own code).

    Each class is n_clusters_per_class Gaussian clusters in the n_informative-dimensional
    informative subspace: cluster centres are distinct vertices of a hypercube of side
    2 * class_sep (hypercube=False: random points in that cube), points are standard normal,
    multiplied by a random (n_informative, n_informative) matrix with entries U(-1, 1) per
    cluster (random covariance), then moved to the centre. Then:
      redundant features: random linear combinations of the informative ones (weights U(-1, 1));
      repeated features: copies of random informative/redundant columns;
      the remaining n_features - n_informative - n_redundant - n_repeated: N(0, 1) noise;
      weights: class proportions (length n_classes, or n_classes - 1 with the last one the
        rest): class k gets about n_samples * weights[k] samples, split evenly among its
        clusters -- the way to make an imbalanced problem, e.g. weights=[0.95, 0.05];
      flip_y: that fraction of samples (on average) get a label drawn uniformly at random
        (so it may stay the same): label noise;
      X = (X + shift) * scale; with shuffle, rows and columns are permuted (the informative
        features are then not the first columns).
    Returns (X float32 (n_samples, n_features), y int64 (n_samples,))."""
    n_samples = _count("n_samples", n_samples, 1)
    n_features = _count("n_features", n_features, 1)
    n_informative = _count("n_informative", n_informative, 1)
    n_redundant = _count("n_redundant", n_redundant)
    n_repeated = _count("n_repeated", n_repeated)
    n_classes = _count("n_classes", n_classes, 1)
    n_clusters_per_class = _count("n_clusters_per_class", n_clusters_per_class, 1)
    if n_informative + n_redundant + n_repeated > n_features:
        raise ValueError("Number of informative, redundant and repeated features must sum to "
                         f"less than the number of total features ({n_informative} + "
                         f"{n_redundant} + {n_repeated} > {n_features})")
    n_clusters = n_classes * n_clusters_per_class
    if n_informative < np.log2(n_clusters):
        raise ValueError(f"n_classes({n_classes}) * n_clusters_per_class({n_clusters_per_class})"
                         f" must be smaller or equal 2**n_informative({n_informative})="
                         f"{2 ** n_informative}")
    if not 0 <= flip_y <= 1:
        raise ValueError(f"flip_y must be in [0, 1], got {flip_y}")
    if weights is None:
        w = np.full(n_classes, 1.0 / n_classes)
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) == n_classes - 1:
            w = np.append(w, 1.0 - w.sum())
        if len(w) != n_classes:
            raise ValueError(f"Weights specified but incompatible with number of classes: "
                             f"{len(w)} weights for {n_classes} classes")
        if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"weights must be non-negative and sum to 1, got {w.tolist()}")
    rng = as_generator(random_state, "make_classification: random_state")

    per_cluster = np.array([int(n_samples * w[k % n_classes] / n_clusters_per_class)
                            for k in range(n_clusters)], dtype=np.int64)
    for i in range(n_samples - int(per_cluster.sum())):
        per_cluster[i % n_clusters] += 1

    if hypercube:
        centroids = _hypercube_vertices(n_clusters, n_informative, rng)
    else:
        centroids = rng.random((n_clusters, n_informative))
    centroids = centroids * (2 * class_sep) - class_sep

    X = np.zeros((n_samples, n_features), dtype=np.float64)
    y = np.zeros(n_samples, dtype=np.int64)
    X[:, :n_informative] = rng.standard_normal((n_samples, n_informative))
    start = 0
    for k in range(n_clusters):
        stop = start + per_cluster[k]
        y[start:stop] = k % n_classes
        A = 2 * rng.random((n_informative, n_informative)) - 1
        X[start:stop, :n_informative] = X[start:stop, :n_informative] @ A + centroids[k]
        start = stop
    if n_redundant:
        B = 2 * rng.random((n_informative, n_redundant)) - 1
        X[:, n_informative:n_informative + n_redundant] = X[:, :n_informative] @ B
    n_used = n_informative + n_redundant
    if n_repeated:
        cols = ((n_used - 1) * rng.random(n_repeated) + 0.5).astype(np.int64)
        X[:, n_used:n_used + n_repeated] = X[:, cols]
    n_used += n_repeated
    if n_used < n_features:
        X[:, n_used:] = rng.standard_normal((n_samples, n_features - n_used))
    if flip_y > 0:
        flip = rng.random(n_samples) < flip_y
        y[flip] = integers(rng, n_classes, int(flip.sum()))
    X = (X + shift) * scale
    if shuffle:
        rows = rng.permutation(n_samples)
        X, y = X[rows], y[rows]
        X = X[:, rng.permutation(n_features)]
    return X.astype(np.float32), y


def make_regression(n_samples=100, n_features=100, *, n_informative=10, n_targets=1, bias=0.0,
                    noise=0.0, shuffle=True, coef=False, random_state=None):
    """A random linear regression problem: X ~ N(0, 1), y = X @ w + bias + N(0, noise^2),
    where w has n_informative non-zero rows with entries 100 * U(0, 1) (the rest zero).
    With shuffle, rows and feature columns are permuted (w's rows with them).
    Returns (X float32 (n, n_features), y float32 (n,) or (n, n_targets)[, coef float32
    (n_features,) or (n_features, n_targets)])."""
    n_samples = _count("n_samples", n_samples, 1)
    n_features = _count("n_features", n_features, 1)
    n_informative = min(_count("n_informative", n_informative), n_features)
    n_targets = _count("n_targets", n_targets, 1)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = as_generator(random_state, "make_regression: random_state")
    X = rng.standard_normal((n_samples, n_features))
    w = np.zeros((n_features, n_targets))
    w[:n_informative] = 100 * rng.random((n_informative, n_targets))
    y = X @ w + bias
    if noise > 0:
        y = y + rng.normal(0.0, noise, y.shape)
    if shuffle:
        rows = rng.permutation(n_samples)
        X, y = X[rows], y[rows]
        cols = rng.permutation(n_features)
        X, w = X[:, cols], w[cols]
    if n_targets == 1:
        y, w = y[:, 0], w[:, 0]
    out = (X.astype(np.float32), y.astype(np.float32))
    return out + (w.astype(np.float32),) if coef else out


def _two_counts(n_samples, name):
    if isinstance(n_samples, (tuple, list)):
        if len(n_samples) != 2:
            raise ValueError(f"{name}: n_samples as a tuple must have two elements")
        return _count("n_samples[0]", n_samples[0]), _count("n_samples[1]", n_samples[1])
    n = _count("n_samples", n_samples, 1)
    return n // 2, n - n // 2


def make_moons(n_samples=100, *, shuffle=True, noise=None, random_state=None):
    """Two interleaving half circles: class 0 on (cos t, sin t), class 1 on
    (1 - cos t, 0.5 - sin t), t evenly spaced in [0, pi]; noise: std of Gaussian noise added
    to each coordinate. n_samples: total (class 0 gets the floor half) or (n_0, n_1).
    Returns (X float32 (n, 2), y int64 (n,))."""
    n0, n1 = _two_counts(n_samples, "make_moons")
    rng = as_generator(random_state, "make_moons: random_state")
    t0, t1 = np.linspace(0, np.pi, n0), np.linspace(0, np.pi, n1)
    X = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1),
                        np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    y = np.concatenate([np.zeros(n0, np.int64), np.ones(n1, np.int64)])
    if shuffle:
        rows = rng.permutation(len(y))
        X, y = X[rows], y[rows]
    if noise is not None and noise > 0:
        X = X + rng.normal(0.0, noise, X.shape)
    return X.astype(np.float32), y


def make_spirals(n_samples=100, n_classes=2, *, noise=0.0, turns=1.0, shuffle=True,
                 random_state=None):
    """n_classes interleaved spiral arms around the origin (not in scikit-learn).

    Arm c holds about n_samples / n_classes points at radius r evenly spaced in [0, 1] and
    angle 2*pi*(turns * r + c / n_classes); noise: std of Gaussian noise added to each
    coordinate. Hard for linear models, easy for a small MLP.
    Returns (X float32 (n, 2), y int64 (n,))."""
    n_samples = _count("n_samples", n_samples, 1)
    n_classes = _count("n_classes", n_classes, 1)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = as_generator(random_state, "make_spirals: random_state")
    Xs, ys = [], []
    for c, n in enumerate(_split_evenly(n_samples, n_classes)):
        r = np.linspace(0.0, 1.0, n)
        theta = 2 * np.pi * (turns * r + c / n_classes)
        Xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], 1))
        ys.append(np.full(n, c, np.int64))
    X, y = np.concatenate(Xs), np.concatenate(ys)
    if shuffle:
        rows = rng.permutation(n_samples)
        X, y = X[rows], y[rows]
    if noise > 0:
        X = X + rng.normal(0.0, noise, X.shape)
    return X.astype(np.float32), y


def make_blobs(n_samples=100, n_features=2, *, centers=None, cluster_std=1.0,
               center_box=(-10.0, 10.0), shuffle=True, random_state=None, return_centers=False):
    """Isotropic Gaussian blobs. centers: an int (that many centres drawn uniformly in
    center_box; default 3) or an array (n_centers, n_features); n_samples: a total split
    evenly (the first centres get the remainder) or a per-centre sequence; cluster_std: one
    value or one per centre. Returns (X float32, y int64[, centers float32])."""
    rng = as_generator(random_state, "make_blobs: random_state")
    if isinstance(n_samples, (numbers.Integral, np.integer)):
        n_total = _count("n_samples", n_samples, 1)
        if centers is None:
            centers = 3
        if isinstance(centers, (numbers.Integral, np.integer)):
            n_features = _count("n_features", n_features, 1)
            lo, hi = center_box
            centers = lo + (hi - lo) * rng.random((int(centers), n_features))
        centers = np.asarray(centers, dtype=np.float64)
        counts = _split_evenly(n_total, len(centers))
    else:
        counts = np.asarray(n_samples, dtype=np.int64)
        if centers is None:
            lo, hi = center_box
            centers = lo + (hi - lo) * rng.random((len(counts), n_features))
        centers = np.asarray(centers, dtype=np.float64)
        if len(centers) != len(counts):
            raise ValueError(f"Length of `n_samples` not consistent with number of centers. "
                             f"Got n_samples = {len(counts)} and centers = {len(centers)}")
    if centers.ndim != 2:
        raise ValueError(f"centers must be an int or a 2-D array, got shape {centers.shape}")
    std = np.broadcast_to(np.asarray(cluster_std, dtype=np.float64), (len(centers),))
    X = np.concatenate([c + rng.standard_normal((n, centers.shape[1])) * s
                        for c, n, s in zip(centers, counts, std)])
    y = np.repeat(np.arange(len(centers), dtype=np.int64), counts)
    if shuffle:
        rows = rng.permutation(len(y))
        X, y = X[rows], y[rows]
    out = (X.astype(np.float32), y)
    return out + (centers.astype(np.float32),) if return_centers else out
