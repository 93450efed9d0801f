"""Imbalanced classes: class weights for the losses, and resamplers with imbalanced-learn's
semantics (RandomOverSampler, RandomUnderSampler, SMOTE; `fit_resample(X, y)`).

sampling_strategy (as imbalanced-learn):
  "auto"          over-samplers: "not majority"; under-samplers: "not minority"
  "minority" / "majority" / "not minority" / "not majority" / "all"
                  which classes to resample: over-sampling brings each selected class up to the
                  majority count, under-sampling brings each selected class down to the
                  minority count ("minority" is not valid for under-sampling, "majority" not
                  for over-sampling)
  float           binary targets only: the wanted n_minority / n_majority after resampling
  dict            {class: wanted number of samples} (>= current when over-sampling, <= when
                  under-sampling); classes left out are not touched
  callable        y -> such a dict
Outputs: over-samplers return the original rows first, then the new rows class by class;
RandomUnderSampler returns the kept rows grouped by class (sorted class order). X may be a
NumPy array or an nnfast Tensor (a Tensor comes back); y is 1-D.

random_state: None (nnfast's global generator), an int seed, or a numpy Generator/RandomState.
"""
import numbers

import numpy as np

from .. import _C
from ..tensor import Tensor
from ._random import as_generator, integers

__all__ = ["compute_class_weight", "compute_sample_weight", "compute_pos_weight",
           "RandomOverSampler", "RandomUnderSampler", "SMOTE", "kneighbors"]


def _np(a):
    return np.asarray(a._storage if isinstance(a, Tensor) else a)


# ------------------------------------------------------------------------------ class weights

def compute_class_weight(class_weight, *, classes, y):
    """Per-class weights in the order of `classes`, as a float32 array ready for
    nn.CrossEntropyLoss(weight=...) (classes = 0..C-1).

    class_weight: "balanced" -> n_samples / (n_classes * bincount(y)), n_classes counting the
    distinct labels in y (scikit-learn's formula); a dict {class: weight} (classes not in it
    weigh 1); None -> all ones."""
    classes = _np(classes)
    y = _np(y).reshape(-1)
    if classes.ndim != 1:
        raise ValueError(f"compute_class_weight: classes must be 1-D, got shape {classes.shape}")
    if len(np.setdiff1d(np.unique(y), classes)):
        raise ValueError("classes should include all valid labels that can be in y; "
                         f"y has {np.setdiff1d(np.unique(y), classes).tolist()} not in classes")
    if class_weight is None or (isinstance(class_weight, dict) and not class_weight):
        return np.ones(len(classes), np.float32)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be dict, 'balanced', or None, got: "
                             f"{class_weight!r}")
        labels, counts = np.unique(y, return_counts=True)
        if not np.all(np.isin(classes, labels)):
            raise ValueError("classes should have valid labels that are in y; missing from y: "
                             f"{np.setdiff1d(classes, labels).tolist()}")
        recip = len(y) / (len(labels) * counts.astype(np.float64))
        return recip[np.searchsorted(labels, classes)].astype(np.float32)
    if isinstance(class_weight, dict):
        unknown = [c for c in class_weight if c not in set(classes.tolist())]
        if unknown:
            raise ValueError(f"compute_class_weight: class_weight has labels {unknown} that are "
                             f"not in classes {classes.tolist()}")
        w = np.ones(len(classes), np.float64)
        for i, c in enumerate(classes.tolist()):
            if c in class_weight:
                w[i] = class_weight[c]
        return w.astype(np.float32)
    raise ValueError(f"class_weight must be dict, 'balanced', or None, got: {class_weight!r}")


def compute_sample_weight(class_weight, y):
    """Per-sample weights (float32, y's length): the class weight of each sample's label,
    e.g. for WeightedRandomSampler(compute_sample_weight("balanced", y), len(y))."""
    y = _np(y).reshape(-1)
    classes = np.unique(y)
    w = compute_class_weight(class_weight, classes=classes, y=y)
    return w[np.searchsorted(classes, y)]


def compute_pos_weight(y):
    """n_negative / n_positive per output, for nn.BCEWithLogitsLoss(pos_weight=...).

    y: binary targets of shape (N,) -> shape (1,), or (N, K) multi-label -> shape (K,);
    float32."""
    y = _np(y)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"compute_pos_weight: y must be (N,) or (N, K), got shape {y.shape}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("compute_pos_weight: y must hold only 0 and 1")
    pos = y.sum(axis=0, dtype=np.float64)
    if np.any(pos == 0):
        raise ValueError(f"compute_pos_weight: outputs {np.flatnonzero(pos == 0).tolist()} have "
                         "no positive sample, so n_neg / n_pos is undefined")
    return ((y.shape[0] - pos) / pos).astype(np.float32)


# ------------------------------------------------------------------------ sampling strategies

_OVER = {"auto": "not majority", "minority": "minority", "not minority": "not minority",
         "not majority": "not majority", "all": "all"}
_UNDER = {"auto": "not minority", "majority": "majority", "not minority": "not minority",
          "not majority": "not majority", "all": "all"}


def _targets(strategy, y, kind, who):
    """{class: n} — over: samples to ADD to the class; under: samples to KEEP."""
    classes, counts = np.unique(y, return_counts=True)
    stats = dict(zip(classes.tolist(), counts.tolist()))
    if len(stats) < 2 and not callable(strategy) and not isinstance(strategy, dict):
        raise ValueError(f"{who}: y needs at least 2 classes to resample, got {len(stats)}")
    majority = max(stats, key=stats.get)
    minority = min(stats, key=stats.get)
    if callable(strategy):
        strategy = strategy(y)
    if isinstance(strategy, str):
        table = _OVER if kind == "over" else _UNDER
        if strategy not in table:
            raise ValueError(f"{who}: sampling_strategy {strategy!r} is not valid for "
                             f"{kind}-sampling; use one of {sorted(table)}, a float or a dict")
        mode = table[strategy]
        pick = {"minority": lambda c: c == minority, "majority": lambda c: c == majority,
                "not minority": lambda c: c != minority, "not majority": lambda c: c != majority,
                "all": lambda c: True}[mode]
        if kind == "over":
            return {c: stats[majority] - n for c, n in stats.items() if pick(c)}
        return {c: stats[minority] for c in stats if pick(c)}
    if isinstance(strategy, dict):
        out = {}
        for c, want in strategy.items():
            c = c.item() if isinstance(c, np.generic) else c
            if c not in stats:
                raise ValueError(f"{who}: the class {c!r} in sampling_strategy is not in y "
                                 f"(classes {list(stats)})")
            if not isinstance(want, (numbers.Integral, np.integer)) or want < 0:
                raise ValueError(f"{who}: sampling_strategy[{c!r}] must be a non-negative int, "
                                 f"got {want!r}")
            if kind == "over" and want < stats[c]:
                raise ValueError(f"{who}: with over-sampling, the number of samples in a class "
                                 f"should be greater or equal to the original number of samples. "
                                 f"Class {c!r} has {stats[c]} samples and {want} are asked.")
            if kind == "under" and want > stats[c]:
                raise ValueError(f"{who}: with under-sampling, the number of samples in a class "
                                 f"should be less or equal to the original number of samples. "
                                 f"Class {c!r} has {stats[c]} samples and {want} are asked.")
            out[c] = int(want - stats[c]) if kind == "over" else int(want)
        return out
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        if len(stats) != 2:
            raise ValueError(f"{who}: a float sampling_strategy is only valid for binary "
                             f"targets; y has {len(stats)} classes. Use a dict instead.")
        if not 0 < strategy <= 1:
            raise ValueError(f"{who}: a float sampling_strategy must be in (0, 1], got {strategy}")
        if kind == "over":
            out = {c: int(stats[majority] * strategy - n) for c, n in stats.items()
                   if c != majority}
            if any(v < 0 for v in out.values()):
                raise ValueError(f"{who}: sampling_strategy={strategy} would remove samples from "
                                 "the minority class while over-sampling; increase it")
            return out
        out = {c: int(stats[minority] / strategy) for c in stats if c != minority}
        if any(v > stats[c] for c, v in out.items()):
            raise ValueError(f"{who}: sampling_strategy={strategy} would add samples to the "
                             "majority class while under-sampling; increase it")
        return out
    raise ValueError(f"{who}: sampling_strategy must be a str, float, dict or callable, got "
                     f"{type(strategy).__name__}")


def _check_xy(X, y, who, min_ndim=1):
    is_tensor = isinstance(X, Tensor)
    Xa, ya = _np(X), _np(y)
    if Xa.ndim < min_ndim:
        raise ValueError(f"{who}: X must have at least {min_ndim} dimension(s), got shape "
                         f"{Xa.shape}")
    if ya.ndim != 1:
        raise ValueError(f"{who}: y must be 1-D class labels, got shape {ya.shape}")
    if Xa.shape[0] != ya.shape[0]:
        raise ValueError(f"{who}: X has {Xa.shape[0]} samples but y has {ya.shape[0]}")
    return Xa, ya, is_tensor, isinstance(y, Tensor)


def _wrap(a, is_tensor):
    return Tensor._make(a) if is_tensor else a


class _Resampler:
    _kind = None

    def fit(self, X, y):
        _, ya, _, _ = _check_xy(X, y, type(self).__name__ + ".fit")
        self.sampling_strategy_ = _targets(self.sampling_strategy, ya, self._kind,
                                           type(self).__name__)
        return self

    def fit_resample(self, X, y):
        """Resampled (X, y); see the module docstring for sampling_strategy and order."""
        who = type(self).__name__ + ".fit_resample"
        Xa, ya, xt, yt = _check_xy(X, y, who, self._min_ndim)
        self.sampling_strategy_ = _targets(self.sampling_strategy, ya, self._kind,
                                           type(self).__name__)
        Xr, yr = self._resample(Xa, ya, as_generator(self.random_state, who + ": random_state"))
        return _wrap(Xr, xt), _wrap(yr, yt)


class RandomOverSampler(_Resampler):
    """Over-sample by repeating randomly chosen rows of the classes to grow (with replacement).
    `sample_indices_`: the rows of the input that make up the output."""

    _kind, _min_ndim = "over", 1

    def __init__(self, *, sampling_strategy="auto", random_state=None):
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state

    def _resample(self, X, y, rng):
        idx = [np.arange(len(y))]
        for c, n_new in self.sampling_strategy_.items():
            members = np.flatnonzero(y == c)
            if n_new > 0:
                idx.append(members[integers(rng, len(members), n_new)])
        self.sample_indices_ = np.concatenate(idx).astype(np.int64)
        return X[self.sample_indices_], y[self.sample_indices_]


class RandomUnderSampler(_Resampler):
    """Under-sample by keeping a random subset of the rows of the classes to shrink (without
    replacement unless replacement=True). `sample_indices_`: the rows kept."""

    _kind, _min_ndim = "under", 1

    def __init__(self, *, sampling_strategy="auto", random_state=None, replacement=False):
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.replacement = replacement

    def _resample(self, X, y, rng):
        idx = []
        for c in np.unique(y).tolist():
            members = np.flatnonzero(y == c)
            if c in self.sampling_strategy_:
                members = members[rng.choice(len(members), size=self.sampling_strategy_[c],
                                             replace=self.replacement)]
            idx.append(members)
        self.sample_indices_ = np.concatenate(idx).astype(np.int64)
        return X[self.sample_indices_], y[self.sample_indices_]


# ------------------------------------------------------------------------- nearest neighbours

# Distance block: up to 8M floats (32 MB). Small blocks (< ~256 rows) measured 2-3x slower per
# element for both the GEMM (B is re-packed per call) and the selection.
_BLOCK_ELEMS = 1 << 23


def kneighbors(X, k, block_rows=None, engine="c"):
    """Indices (m, k) int64 of the k nearest other rows of each row of X (m, d), by Euclidean
    distance, nearest first (ties: lower index first); a row is never its own neighbour.

    Blockwise, never an (m, m) matrix: for a block of rows, ||a||^2 + ||b||^2 - 2 a.b with the
    2 a.b term from the float32 GEMM (nnfast._C.sgemm) and ||a||^2 dropped (constant per row,
    it cannot change the ranking); then k are selected per row by the compiled
    nnfast._C.knn_select (engine="c"), or by a full stable argsort of each row
    (engine="numpy": the slow, plainly correct reference the tests hold the C path to).
    Distances are float32, so rows at nearly equal distance may come out in either order."""
    A = np.ascontiguousarray(_np(X), dtype=np.float32)
    if A.ndim != 2:
        raise ValueError(f"kneighbors: X must be 2-D, got shape {A.shape}")
    m = A.shape[0]
    if not 0 < k < m:
        raise ValueError(f"kneighbors: k={k} neighbours need at least k + 1 = {k + 1} rows, "
                         f"got {m}")
    if engine not in ("c", "numpy"):
        raise ValueError(f"kneighbors: engine must be 'c' or 'numpy', got {engine!r}")
    sq = np.einsum("ij,ij->i", A, A)
    if not np.all(np.isfinite(sq)):
        # NaN/inf distances compare false: the selection would pad with index -1 (or pick the
        # row itself) and callers would silently index with it
        raise ValueError("kneighbors: X contains NaN or infinity, or values too large for "
                         "float32 squared distances")
    bs = block_rows or max(1, min(m, _BLOCK_ELEMS // m))
    out = np.empty((m, k), np.int64)
    dist = np.empty((m, k), np.float32)
    D = np.empty((bs, m), np.float32)
    for s in range(0, m, bs):
        e = min(m, s + bs)
        Db = D[:e - s]
        _C.sgemm(False, True, -2.0, A[s:e], A, 0.0, Db)
        if engine == "c":
            _C.knn_select(out[s:e], dist[s:e], Db, sq, s)
            continue
        Db += sq
        Db[np.arange(e - s), np.arange(s, e)] = np.inf          # not your own neighbour
        out[s:e] = np.argsort(Db, axis=1, kind="stable")[:, :k]
    return out


class SMOTE(_Resampler):
    """Synthetic Minority Over-sampling TEchnique (Chawla et al., 2002).

    For each class to grow: find each member's k_neighbors nearest members of the same class;
    each new sample picks a member x uniformly at random, one of its k neighbours n uniformly,
    and u ~ U(0, 1): x_new = x + u * (n - x), a point on the segment between them.
    X must be 2-D numeric (float X keeps its dtype, integer X gives float32); the neighbour
    search is the blockwise GEMM in `kneighbors`, so 100k rows take seconds."""

    _kind, _min_ndim = "over", 2

    def __init__(self, *, sampling_strategy="auto", random_state=None, k_neighbors=5):
        self.sampling_strategy = sampling_strategy
        self.random_state = random_state
        self.k_neighbors = k_neighbors

    def _resample(self, X, y, rng):
        k = self.k_neighbors
        if not isinstance(k, (numbers.Integral, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"SMOTE: k_neighbors must be a positive int, got {k!r}")
        if X.ndim != 2:
            raise ValueError(f"SMOTE: X must be 2-D (n_samples, n_features), got shape {X.shape}")
        if X.dtype.kind not in "biuf":
            raise TypeError(f"SMOTE: X must be numeric, got dtype {X.dtype}")
        if X.dtype.kind != "f":
            X = X.astype(np.float32)
        if not np.all(np.isfinite(X)):
            raise ValueError("SMOTE: X contains NaN or infinity")
        new_X, new_y = [X], [y]
        for c, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            Xc = X[y == c]
            if len(Xc) <= k:
                raise ValueError(f"SMOTE: class {c!r} has {len(Xc)} samples; k_neighbors={k} "
                                 f"needs at least {k + 1}")
            nn = kneighbors(Xc, k)
            draw = integers(rng, len(Xc) * k, n_new)
            rows, cols = draw // k, draw % k
            u = rng.random(n_new).astype(X.dtype)[:, None]
            base = Xc[rows]
            new_X.append(base + u * (Xc[nn[rows, cols]] - base))
            new_y.append(np.full(n_new, c, dtype=y.dtype))
        return np.concatenate(new_X), np.concatenate(new_y)
