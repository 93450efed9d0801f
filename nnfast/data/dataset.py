"""Datasets (torch.utils.data names): Dataset, IterableDataset, TensorDataset, Subset,
ConcatDataset, random_split.

A map-style dataset answers `len(ds)` and `ds[i]`. TensorDataset and Subset additionally answer
`_get_batch(indices)` (private): the whole batch gathered with one fancy index per array. The
DataLoader uses it when it can (see dataloader.py), so loading a batch costs a few NumPy calls
instead of a Python loop over samples.

Beyond PyTorch: TensorDataset takes `transform=`, a callable applied to each gathered BATCH:
`transform(*arrays)` receives one NumPy array per tensor (rows = samples) and returns the same
number of arrays (a single array when the dataset holds one tensor). The transforms in
nnfast.data.transforms follow this contract, e.g.

    ds = TensorDataset(X, y, transform=Compose([RandomShift(1), GaussianNoise(0.1)]))
    loader = DataLoader(ds, batch_size=64, shuffle=True)

Input-only transforms change the first array and pass the others through; Mixup changes both
inputs and labels. `ds[i]` applies the transform to a batch of one sample.
"""
import bisect
import math
import numbers
import warnings

import numpy as np

from ..tensor import Tensor
from ._random import as_generator

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "StackDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define __getitem__ (and usually __len__)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of samples: subclasses define __iter__. DataLoader batches it in order."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


def _array_of(t, who):
    if isinstance(t, Tensor):
        return t._storage
    if isinstance(t, np.ndarray):
        return t
    arr = np.asarray(t)
    if arr.dtype == object:
        raise TypeError(f"{who}: expected Tensors or arrays, got {type(t).__name__}")
    return arr


def _wrap(a):
    return Tensor._make(a if isinstance(a, np.ndarray) else np.asarray(a))


def _is_int(i):
    return isinstance(i, (numbers.Integral, np.integer)) and not isinstance(i, bool)


class TensorDataset(Dataset):
    """Samples are rows of the given tensors (nnfast Tensors or NumPy arrays, same first
    dimension): ds[i] is the tuple (t[i] for t in tensors), as torch's TensorDataset.

    transform: optional callable applied to batches (see the module docstring)."""

    def __init__(self, *tensors, transform=None):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = tuple(_array_of(t, "TensorDataset") for t in tensors)
        for a in arrays:
            if a.ndim == 0:
                raise ValueError("TensorDataset: a 0-d tensor has no samples to index")
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            raise ValueError("Size mismatch between tensors: first dimensions are "
                             f"{[a.shape[0] for a in arrays]}")
        if transform is not None and not callable(transform):
            raise TypeError(f"TensorDataset: transform must be callable, got "
                            f"{type(transform).__name__}")
        self._arrays = arrays
        self.tensors = tuple(_wrap(a) for a in arrays)
        self.transform = transform

    def __len__(self):
        return self._arrays[0].shape[0]

    def _apply_transform(self, batch):
        out = self.transform(*batch)
        if not isinstance(out, tuple):
            out = (out,)
        if len(out) != len(batch):
            raise ValueError(f"TensorDataset: transform returned {len(out)} arrays for "
                             f"{len(batch)} tensors")
        return tuple(o._storage if isinstance(o, Tensor) else np.asarray(o) for o in out)

    def _get_batch(self, indices):
        """One fancy index per array (a copy), then the transform; returns ndarrays."""
        batch = tuple(a[indices] for a in self._arrays)
        return batch if self.transform is None else self._apply_transform(batch)

    def __getitem__(self, index):
        if self.transform is None:
            return tuple(_wrap(a[index]) for a in self._arrays)
        if _is_int(index):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"index {index} is out of range for a dataset of {n} samples")
            return tuple(_wrap(a[0]) for a in self._get_batch(np.array([index % n])))
        return tuple(_wrap(a) for a in self._get_batch(np.arange(len(self))[index]))


class Subset(Dataset):
    """The samples of `dataset` at `indices` (a sequence of ints), as torch's Subset."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices):
        mapped = [self.indices[i] for i in indices]
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__(mapped)
        return [self.dataset[i] for i in mapped]

    def _index_array(self):
        idx = getattr(self, "_idx_cache", None)
        if idx is None or idx[0] is not self.indices:
            idx = (self.indices, np.asarray(self.indices, dtype=np.int64))
            self._idx_cache = idx
        return idx[1]


class ConcatDataset(Dataset):
    """The samples of several datasets one after another, as torch's ConcatDataset."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        start = 0 if d == 0 else self.cumulative_sizes[d - 1]
        return self.datasets[d][idx - start]


class ChainDataset(IterableDataset):
    """Several IterableDatasets streamed one after another (torch's ChainDataset)."""

    def __init__(self, datasets):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise AssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class StackDataset(Dataset):
    """Samples of several equally long datasets side by side (torch's StackDataset):
    StackDataset(a, b)[i] == (a[i], b[i]); StackDataset(x=a, y=b)[i] == {"x": a[i], "y": b[i]}."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via "
                             "``kwargs``) like input/output, but both types are given.")
        parts = list(args) or list(kwargs.values())
        if not parts:
            raise ValueError("At least one dataset should be passed")
        n = len(parts[0])
        if any(len(d) != n for d in parts):
            raise ValueError("Size mismatch between datasets")
        self._length = n
        self.datasets = tuple(args) if args else dict(kwargs)

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self):
        return self._length


def random_split(dataset, lengths, generator=None):
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    As torch.utils.data.random_split: `lengths` are ints summing to len(dataset), or fractions
    summing to 1, turned into floor(frac * n) each with the remainder handed out one by one,
    round-robin from the first split. generator: None (nnfast's global generator), an int
    seed, or a numpy Generator."""
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        n = len(dataset)
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(math.floor(n * frac))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        lengths = sizes
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. "
                              "This might result in an empty dataset.", stacklevel=2)
    if any(not _is_int(x) or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                         f"summing to 1, got {lengths}")
    if sum(lengths) != len(dataset):
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm = as_generator(generator, "random_split: generator").permutation(sum(lengths)).tolist()
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start:start + length]))
        start += length
    return out
