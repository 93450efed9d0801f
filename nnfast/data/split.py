"""train_test_split with scikit-learn's semantics (sklearn.model_selection.train_test_split).

Sizes: a float test_size / train_size is a fraction in (0, 1), an int an absolute count;
n_test = ceil(test_size * n), n_train = floor(train_size * n); when only one is given the other
is the rest; default test_size=0.25. Shuffled splits draw one permutation (test = its first
n_test entries, train the next n_train), as ShuffleSplit. Stratified splits follow
StratifiedShuffleSplit: per-class train and test counts are apportioned to the class sizes by
largest remainder (ties broken at random), each class is permuted and cut, and both index sets
are permuted again.

random_state: None (nnfast's global generator), an int (np.random.RandomState(seed), the same
kind of generator scikit-learn makes from an int), or a numpy Generator / RandomState.
"""
import math
import numbers

import numpy as np

from ..tensor import Tensor
from ._random import as_generator

__all__ = ["train_test_split"]


def _n_samples(a):
    if isinstance(a, (Tensor, np.ndarray)):
        if a.ndim == 0:
            raise TypeError("train_test_split: a 0-d array has no samples")
        return a.shape[0]
    return len(a)


def _take(a, idx):
    if isinstance(a, Tensor):
        return Tensor._make(a._storage[idx])
    if isinstance(a, np.ndarray):
        return a[idx]
    if isinstance(a, list):
        return [a[i] for i in idx.tolist()]
    return np.asarray(a)[idx]


def _split_sizes(n, test_size, train_size):
    if test_size is None and train_size is None:
        test_size = 0.25
    for name, v in (("test_size", test_size), ("train_size", train_size)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (numbers.Real, np.number)):
            raise ValueError(f"Invalid value for {name}: {v!r}")
        is_int = isinstance(v, (numbers.Integral, np.integer))
        if (is_int and (v <= 0 or v >= n)) or (not is_int and not 0 < v < 1):
            raise ValueError(f"{name}={v} should be either positive and smaller than the number "
                             f"of samples {n} or a float in the (0, 1) range")
    ints = (numbers.Integral, np.integer)
    float_test = test_size is not None and not isinstance(test_size, ints)
    float_train = train_size is not None and not isinstance(train_size, ints)
    if float_test and float_train and test_size + train_size > 1:
        raise ValueError(f"The sum of test_size and train_size = {test_size + train_size}, "
                         "should be in the (0, 1) range. Reduce test_size and/or train_size.")
    n_test = n_train = None
    if test_size is not None:
        n_test = math.ceil(test_size * n) if float_test else int(test_size)
    if train_size is not None:
        n_train = math.floor(train_size * n) if float_train else int(train_size)
    if n_train is None:
        n_train = n - n_test
    elif n_test is None:
        n_test = n - n_train
    if n_train + n_test > n:
        raise ValueError(f"The sum of train_size and test_size = {n_train + n_test}, should be "
                         f"smaller than the number of samples {n}. Reduce test_size and/or "
                         "train_size.")
    if n_train == 0:
        raise ValueError(f"With n_samples={n}, test_size={test_size} and train_size={train_size}, "
                         "the resulting train set will be empty. Adjust any of the "
                         "aforementioned parameters.")
    return n_train, n_test


def _apportion(counts, n_draws, rng):
    """Integer draws per class, proportional to counts, summing to n_draws: floors first, then
    one extra for the classes with the largest remainders (ties in random order)."""
    exact = counts / counts.sum() * n_draws
    out = np.floor(exact)
    need = int(n_draws - out.sum())
    if need > 0:
        rem = exact - out
        for value in np.sort(np.unique(rem))[::-1]:
            (tied,) = np.where(rem == value)
            k = min(len(tied), need)
            out[rng.choice(tied, size=k, replace=False)] += 1
            need -= k
            if need == 0:
                break
    return out.astype(np.int64)


def _stratified(y, n_train, n_test, rng):
    y = np.asarray(y._storage if isinstance(y, Tensor) else y)
    if y.ndim == 2:   # multi-output labels: each distinct row is a class
        _, inv = np.unique(y, axis=0, return_inverse=True)
    elif y.ndim == 1:
        _, inv = np.unique(y, return_inverse=True)
    else:
        raise ValueError(f"train_test_split: stratify must be 1-D or 2-D, got shape {y.shape}")
    inv = inv.reshape(-1)
    counts = np.bincount(inv)
    n_classes = len(counts)
    if counts.min() < 2:
        raise ValueError("The least populated class in y has only 1 member, which is too few. "
                         "The minimum number of groups for any class cannot be less than 2.")
    if n_train < n_classes:
        raise ValueError(f"The train_size = {n_train} should be greater or equal to the number "
                         f"of classes = {n_classes}")
    if n_test < n_classes:
        raise ValueError(f"The test_size = {n_test} should be greater or equal to the number "
                         f"of classes = {n_classes}")
    by_class = np.split(np.argsort(inv, kind="mergesort"), np.cumsum(counts)[:-1])
    n_i = _apportion(counts, n_train, rng)
    t_i = _apportion(counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(n_classes):
        members = by_class[i][rng.permutation(counts[i])]
        train.append(members[:n_i[i]])
        test.append(members[n_i[i]:n_i[i] + t_i[i]])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None, shuffle=True,
                     stratify=None):
    """Split arrays (NumPy arrays, nnfast Tensors or lists, same length) into random train and
    test subsets: returns [a_train, a_test, b_train, b_test, ...], each of its input's kind.

    stratify: labels whose class proportions both subsets keep (requires shuffle=True)."""
    if not arrays:
        raise ValueError("At least one array required as input")
    lengths = [_n_samples(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: {lengths}")
    n = lengths[0]
    n_train, n_test = _split_sizes(n, test_size, train_size)
    if not shuffle:
        if stratify is not None:
            raise ValueError("Stratified train/test split is not implemented for shuffle=False")
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
            rng = np.random.RandomState(int(random_state))
        else:
            rng = as_generator(random_state, "train_test_split: random_state")
        if stratify is not None:
            if _n_samples(stratify) != n:
                raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                                 f"stratify has {_n_samples(stratify)}, arrays have {n}")
            train, test = _stratified(stratify, n_train, n_test, rng)
        else:
            perm = rng.permutation(n)
            test, train = perm[:n_test], perm[n_test:n_test + n_train]
    out = []
    for a in arrays:
        out += [_take(a, train), _take(a, test)]
    return out
