"""Samplers (torch.utils.data names and semantics): which indices, in which order.

Each built-in sampler draws an epoch's indices as ONE NumPy array (`_indices()`, private) and
iterates over it; BatchSampler slices that array. The DataLoader's fast path uses the arrays
directly, the plain iteration protocol (`for i in sampler`) gives Python ints as torch does.
Both consume the same random draws, so the fast and the plain path give the same batches.

generator: None (nnfast's global generator, seeded by nnfast.manual_seed), an int seed (a
private generator made once: epochs differ, the run repeats) or a numpy Generator. Streams
differ from PyTorch's (the distributions are the same, the values are not).
"""
import numbers

import numpy as np

from ._random import as_generator, integers, resolve_later

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


def _positive_int(x):
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, bool) and x > 0


class Sampler:
    """Base class: subclasses define __iter__ (and __len__ when they know it)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError

    def _indices(self):
        """All indices of one epoch as an int64 array (default: iterate)."""
        return np.fromiter(iter(self), dtype=np.int64)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the dataset (or num_samples draws with replacement).

    As torch: without replacement and num_samples > len(data_source), whole permutations are
    concatenated and the last one cut short."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = resolve_later(generator, "RandomSampler: generator")
        if not isinstance(replacement, bool):
            raise TypeError("replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not _positive_int(self.num_samples):
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self):
        n, m = len(self.data_source), int(self.num_samples)
        rng = as_generator(self.generator)
        if self.replacement:
            return integers(rng, n, m).astype(np.int64)
        parts = [rng.permutation(n) for _ in range(m // n)]
        if m % n:
            parts.append(rng.permutation(n)[:m % n])
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, without replacement."""

    def __init__(self, indices, generator=None):
        self.indices = indices
        self.generator = resolve_later(generator, "SubsetRandomSampler: generator")

    def _indices(self):
        idx = np.asarray(self.indices, dtype=np.int64)
        return idx[as_generator(self.generator).permutation(len(idx))]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices in [0, len(weights)) drawn with probability proportional to weights
    (torch.multinomial semantics: with replacement by default; without, an index is drawn at
    most once and num_samples may not exceed the number of non-zero weights).

    For class imbalance: weights = class_weight[y] gives each class the same expected share."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        if not _positive_int(num_samples):
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = np.asarray(getattr(weights, "data", weights), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = resolve_later(generator, "WeightedRandomSampler: generator")

    def _indices(self):
        rng = as_generator(self.generator)
        p = self.weights / self.weights.sum()
        if self.replacement:
            # Inverse-CDF sampling: one uniform per draw, O(n + m log n).
            cdf = np.cumsum(p)
            u = rng.random(self.num_samples) * cdf[-1]
            idx = np.searchsorted(cdf, u, side="right")
            # u * cdf[-1] may round up to cdf[-1]: clamp to the last index that can be drawn.
            return np.minimum(idx, np.flatnonzero(p)[-1]).astype(np.int64)
        return rng.choice(len(p), size=self.num_samples, replace=False, p=p).astype(np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of batch_size (the last one shorter unless
    drop_last)."""

    def __init__(self, sampler, batch_size, drop_last):
        if not _positive_int(batch_size):
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def _batches(self):
        """Index arrays, one per batch, from one epoch array of the inner sampler."""
        idx = self.sampler._indices() if isinstance(self.sampler, Sampler) else \
            np.fromiter(iter(self.sampler), dtype=np.int64)
        bs = self.batch_size
        stop = len(idx) - len(idx) % bs if self.drop_last else len(idx)
        for s in range(0, stop, bs):
            yield idx[s:s + bs]

    def __iter__(self):
        for b in self._batches():
            yield b.tolist()

    def __len__(self):
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
