"""How fit(), evaluate() and predict() read their data: the forms accepted, how each becomes
batches, and the checks that refuse data whose meaning would have to be guessed.

Accepted forms of `train_data` / `val_data` (each trains exactly as the equivalent arrays do):
  (x, y)        a pair (tuple or list) whose two items are arrays: ndarrays, nnfast or torch
                Tensors, anything with __array__, or nested lists/tuples of numbers (rows).
                Batched here by one fancy index per array.
  Dataset       an nnfast map-style Dataset: a TensorDataset of two tensors (no transform) is
                read as its arrays; any other one is batched by a DataLoader drawing its
                shuffles from fit's generator (so the order is the arrays' order). An
                IterableDataset is batched in its own order (it cannot be shuffled).
  batches       a DataLoader or any re-iterable of (x, y) batches; a list or tuple of batches
                must hold exactly (x, y) pairs (a loader's batches may carry more items after
                x and y, which are ignored).

Refused, with a message naming the problem: one bare array (no targets), a dict or string,
ragged lists, non-numeric values, x and y with different row counts, a 1-D floating x (one
sample of many features or many samples of one feature?), 0-d data, no rows at all (the mean
loss of nothing is undefined), a loader that yields no batches (e.g. a generator used up by
the first epoch), and targets that would broadcast against the model's outputs to a third
shape (y of shape (n,) for outputs (n, 1): a custom loss would silently compare every output
with every target).

Floating data are trained on in the model's floating dtype when they are float64 (float32
for nnfast's usual models; float64 kept for a model made .double()); integer targets become
int64 (class indices as PyTorch's losses take them).
"""
import math

import numpy as np

from ..errors import ShapeError
from ..tensor import Tensor, to_numpy

__all__ = ["ArrayData", "model_float_dtype", "as_inputs", "as_targets", "read_data",
           "read_fit_data", "batches", "check_output_fits_target"]


def model_float_dtype(model):
    """The dtype float64 data are cast to: the model's first floating parameter's, else
    float32."""
    if model is not None:
        for p in model.parameters():
            if p._storage.dtype.kind == "f":
                return p._storage.dtype
    return np.dtype(np.float32)


# ----------------------------------------------------------------------------- one array
def _is_array(a):
    """An array object (not a Python sequence): ndarray, Tensor, torch tensor, __array__."""
    return isinstance(a, (np.ndarray, Tensor)) or (
        not isinstance(a, (list, tuple, str, bytes, dict)) and hasattr(a, "__array__"))


def _is_rows(a):
    """A nested list/tuple of numbers (rows), told apart from a list of batches or arrays by
    its first leaf: a number (or nothing: an empty list)."""
    while isinstance(a, (list, tuple)):
        if not a:
            return True
        a = a[0]
    return not _is_array(a) and not isinstance(a, dict)   # (strings: refused as non-numbers)


def _nested_shape(a):
    """The shape a nested list would have, following first items: [[1, 2], [3]] -> (2, 2)."""
    shape = []
    while isinstance(a, (list, tuple)):
        shape.append(len(a))
        if not a:
            break
        a = a[0]
    return tuple(shape)


def _describe(shape):
    return ("a single value" if not shape else f"{shape[0]} values" if len(shape) == 1
            else f"shape {shape}")


def _ragged(seq):
    """Where a nested list stops being rectangular: 'row 3 has 2 values, row 0 has 4'."""
    first = _nested_shape(seq[0])
    for i, row in enumerate(seq):
        s = _nested_shape(row)
        if s != first:
            return f"row {i} has {_describe(s)}, row 0 has {_describe(first)}"
    for i, row in enumerate(seq):
        if isinstance(row, (list, tuple)) and row:
            inner = _ragged(row)
            if inner:
                return f"in row {i}: {inner}"
    return None


def _to_ndarray(a, who, what):
    """a as an ndarray, or a clear ValueError/TypeError naming who, what and why."""
    if isinstance(a, (list, tuple)):
        try:
            arr = np.asarray(a)
        except ValueError:
            arr = None
        if arr is None or arr.dtype == object:
            where = _ragged(a) if a else None
            raise ValueError(f"{who}: {what} is a ragged nested list"
                             f"{' (' + where + ')' if where else ''}; every row must have "
                             f"the same shape")
    else:
        arr = to_numpy(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: {what} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{who}: {what} is a single value (0-d); expected one row per sample")
    return arr


def as_inputs(x, dtype=np.float32, who="fit", what="x", allow_1d_float=False):
    """Inputs as a C-contiguous ndarray: float64 becomes `dtype` (the model's)."""
    a = _to_ndarray(x, who, what)
    if a.dtype == np.float64 and dtype != a.dtype:
        a = a.astype(dtype)
    if a.ndim == 1 and a.dtype.kind == "f" and a.shape[0] and not allow_1d_float:
        n = a.shape[0]
        raise ShapeError(f"{who}: {what} is 1-D (shape ({n},)): is it {n} samples of one "
                         f"feature or one sample of {n} features? Pass x.reshape(-1, 1) or "
                         f"x.reshape(1, -1)")
    return np.ascontiguousarray(a)


def as_targets(y, dtype=np.float32, who="fit", what="y"):
    """Targets as an ndarray: float64 becomes `dtype`, integer labels int64 (bool stays)."""
    a = _to_ndarray(y, who, what)
    if a.dtype == np.float64 and dtype != a.dtype:
        return a.astype(dtype)
    if a.dtype.kind in "iu" and a.dtype != np.int64:
        return a.astype(np.int64)
    return a


# ----------------------------------------------------------------------------- data forms
class ArrayData(tuple):
    """(x, y) arrays that fit() batches itself, told apart from a tuple of batches."""

    name = "train_data"


class _DatasetData:
    """A map-style or iterable Dataset, batched by a DataLoader at each pass."""

    def __init__(self, dataset, name, dtype, who="fit"):
        self.dataset, self.name, self.dtype, self.who = dataset, name, dtype, who

    def __len__(self):
        return len(self.dataset)


class _BatchData:
    """A re-iterable of (x, y) batches, each converted and checked as it comes."""

    def __init__(self, source, name, dtype, strict, who="fit"):
        self.source, self.name, self.dtype, self.who = source, name, dtype, who
        self.strict = strict     # a list/tuple of batches: each must be exactly (x, y)
        self.passes = 0

    def __len__(self):
        return len(self.source)


def _is_pair(data):
    return isinstance(data, (tuple, list)) and len(data) == 2 and all(
        _is_array(a) or (isinstance(a, (list, tuple)) and _is_rows(a)) for a in data)


def _looks_like_batch(a):
    """A 2-item list/tuple of sequences of equal length: an (x, y) batch given as lists."""
    return isinstance(a, (list, tuple)) and len(a) == 2 and all(
        isinstance(e, (list, tuple)) for e in a) and len(a[0]) == len(a[1])


def _tensor_dataset_arrays(data):
    """The (x, y) arrays of a plain TensorDataset of two tensors (else None)."""
    from ..data.dataset import TensorDataset
    if isinstance(data, TensorDataset) and data.transform is None and \
            type(data).__getitem__ is TensorDataset.__getitem__ and len(data._arrays) == 2:
        return data._arrays
    return None


def read_data(data, name="train_data", dtype=np.float32, who="fit"):
    """One of the accepted forms (module docstring) as ArrayData, _DatasetData or
    _BatchData; raises for the refused ones."""
    from ..data.dataloader import DataLoader
    from ..data.dataset import Dataset
    if isinstance(data, (ArrayData, _DatasetData, _BatchData)):
        return data
    pair = _tensor_dataset_arrays(data)
    if pair is None and _is_pair(data):
        pair = data
        if all(_looks_like_batch(a) for a in data):
            # nested lists that read both as (x, y) rows and as two (x, y) batches
            try:
                as_inputs(data[0], dtype, who, "x")
                as_targets(data[1], dtype, who, "y")
            except (TypeError, ValueError):
                pair = None          # not arrays: two batches
            else:
                raise ValueError(f"{who}: {name} is ambiguous: its nested lists read both as "
                                 f"(x, y) of {len(data[0])} rows and as 2 (x, y) batches; "
                                 f"pass x and y as arrays, or the batches as a DataLoader")
    if pair is not None:
        x = as_inputs(pair[0], dtype, who, f"{name} x")
        y = as_targets(pair[1], dtype, who, f"{name} y")
        if len(x) != len(y):
            raise ValueError(f"{who}: {len(x)} inputs but {len(y)} targets in {name} (x has "
                             f"shape {x.shape}, y has shape {y.shape}); each row of x needs "
                             f"one row of y")
        if len(x) == 0:
            raise ValueError(f"{who}: {name} has no rows (x has shape {x.shape}); the loss "
                             f"of no samples is undefined")
        out = ArrayData((x, y))
        out.name = name
        return out
    if isinstance(data, Dataset):
        return _DatasetData(data, name, dtype, who)
    if isinstance(data, DataLoader):
        return _BatchData(data, name, dtype, False, who)
    if _is_array(data):
        shape = getattr(data, "shape", None)
        raise TypeError(f"{who}: {name} is one array{f' of shape {tuple(shape)}' if shape else ''}"
                        f" with no targets; pass inputs and targets together as (x, y), a "
                        f"Dataset or a DataLoader: fit(model, loss_fn, optimizer, (x, y))")
    if isinstance(data, (dict, str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(f"{who}: {name} must be (x, y) arrays, a Dataset, a DataLoader or an "
                        f"iterable of (x, y) batches, got {type(data).__name__}")
    if isinstance(data, (list, tuple)):
        if not data:
            raise ValueError(f"{who}: {name} is an empty {type(data).__name__}: no rows, no "
                             f"batches")
        return _BatchData(data, name, dtype, True, who)
    return _BatchData(data, name, dtype, False, who)


def _split(x, y, fraction, rng):
    """Random (stratified for integer labels) split off `fraction` of the rows."""
    n = len(x)
    n_val = int(math.floor(n * fraction))
    if not 0 < n_val < n:
        raise ValueError(f"val_split={fraction} leaves no rows for validation or training "
                         f"({n} rows)")
    if y.dtype.kind in "iu" and y.ndim == 1:
        val_idx = []
        classes, counts = np.unique(y, return_counts=True)
        for c, cnt in zip(classes, counts):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            val_idx.append(idx[:int(round(cnt * fraction))])
        val_idx = np.sort(np.concatenate(val_idx))
    else:
        val_idx = np.sort(rng.permutation(n)[:n_val])
    mask = np.ones(n, bool)
    mask[val_idx] = False
    return x[mask], y[mask], x[val_idx], y[val_idx]


def read_fit_data(train_data, val_data, val_split, model, batch_size, rng):
    """fit()'s data as (train, val or None, steps per epoch or 0 when unknown)."""
    dtype = model_float_dtype(model)
    train = read_data(train_data, "train_data", dtype)
    if val_split:
        if not isinstance(train, ArrayData):
            raise ValueError("fit: val_split needs array data (x, y); pass val_data instead")
        if val_data is not None:
            raise ValueError("fit: pass either val_data or val_split, not both")
        x, y, xv, yv = _split(train[0], train[1], val_split, rng)
        train = ArrayData((x, y))
        val = ArrayData((xv, yv))
        val.name = "the validation split"
    else:
        val = None if val_data is None else read_data(val_data, "val_data", dtype)
    if isinstance(train, ArrayData):
        steps = math.ceil(len(train[0]) / batch_size)
    elif isinstance(train, _DatasetData):
        try:
            steps = math.ceil(len(train) / batch_size)
        except TypeError:      # an IterableDataset without a length
            steps = 0
    else:
        steps = len(train.source) if hasattr(train.source, "__len__") else 0
    return train, val, steps


# ----------------------------------------------------------------------------- batching
def _cast_batch(b, dtype, target):
    if isinstance(b, Tensor):
        a = b._storage
        if a.dtype == np.float64 and a.dtype != dtype:
            return Tensor._make(a.astype(dtype))
        if target and a.dtype.kind in "iu" and a.dtype != np.int64:
            return Tensor._make(a.astype(np.int64))
        return b
    if target:
        return Tensor._make(as_targets(b, dtype, "fit", "a batch's y"))
    return Tensor._make(as_inputs(b, dtype, "fit", "a batch's x", allow_1d_float=True))


def _iter_batches(data):
    data.passes += 1
    count = 0
    for i, batch in enumerate(data.source):
        if not isinstance(batch, (tuple, list)) or len(batch) < 2 or \
                (data.strict and len(batch) != 2):
            what = (f"a {type(batch).__name__} of {len(batch)} items"
                    if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}")
            raise TypeError(f"{data.who}: batch {i} of {data.name} is {what}; expected an (x, y) "
                            f"pair (a list of batches holds (x, y) tuples; to pass arrays, "
                            f"give (x, y) with x and y arrays or nested lists of numbers)")
        xb = _cast_batch(batch[0], data.dtype, False)
        yb = _cast_batch(batch[1], data.dtype, True)
        if xb._storage.ndim == 0 or yb._storage.ndim == 0 or len(xb) != len(yb):
            raise ValueError(f"{data.who}: batch {i} of {data.name} has inputs of shape "
                             f"{tuple(xb.shape)} but targets of shape {tuple(yb.shape)}; "
                             f"each row of x needs one row of y")
        count += 1
        yield xb, yb
    if count == 0:
        raise ValueError(f"{data.who}: {data.name} gave no batches (pass {data.passes} over it; a "
                         f"generator or iterator is used up by its first pass: pass a list, "
                         f"a Dataset or a DataLoader)")


def batches(data, batch_size, shuffle, rng, share=None):
    """(x, y) Tensor batches of data (read_data's forms; other forms are read first).
    share: order -> this process's part of it (fit(distributed=True)); batches the caller
    made (a DataLoader) are used as they come."""
    if not isinstance(data, (ArrayData, _DatasetData, _BatchData)):
        data = read_data(data)
    if share is not None and isinstance(data, _DatasetData) and \
            not _is_iterable_dataset(data.dataset):
        from ..data.dataloader import DataLoader
        n = len(data.dataset)
        order = share(rng.permutation(n) if shuffle else np.arange(n))
        data = _BatchData(DataLoader(data.dataset, batch_size=batch_size,
                                     sampler=order.tolist()), data.name, data.dtype, False,
                          data.who)
    if isinstance(data, ArrayData):
        x, y = data
        n = len(x)
        order = rng.permutation(n) if shuffle else np.arange(n)
        if share is not None:
            order, shuffle = share(order), True   # (always indexed: a part of the rows)
            n = len(order)
        for s in range(0, n, batch_size):
            idx = order[s:s + batch_size]
            if shuffle or batch_size < n:
                yield Tensor._make(x[idx]), Tensor._make(y[idx])
            else:
                yield Tensor._make(x), Tensor._make(y)
        return
    if isinstance(data, _DatasetData):
        from ..data.dataloader import DataLoader
        from ..data.dataset import IterableDataset
        if isinstance(data.dataset, IterableDataset):
            loader = DataLoader(data.dataset, batch_size=batch_size)
        else:
            if len(data.dataset) == 0:
                raise ValueError(f"{data.who}: {data.name} is a Dataset with no samples; the "
                                 f"loss of no samples is undefined")
            # fit's generator draws the shuffles: the same order as the arrays would get
            loader = DataLoader(data.dataset, batch_size=batch_size, shuffle=shuffle,
                                generator=rng)
        data = _BatchData(loader, data.name, data.dtype, False, data.who)
    yield from _iter_batches(data)


def _is_iterable_dataset(ds):
    from ..data.dataset import IterableDataset
    return isinstance(ds, IterableDataset)


def check_output_fits_target(out_shape, y, data=None):
    """Refuse targets that would broadcast against outputs of out_shape to a third shape: y
    (n,) with outputs (n, 1) would compare every output with every target in a custom loss."""
    name = getattr(data, "name", "the data")
    os_, ys = tuple(out_shape), tuple(y.shape)
    if os_ == ys:
        return
    try:
        b = np.broadcast_shapes(os_, ys)
    except ValueError:
        return        # the loss itself says what it expects (class indices, ...)
    if b != os_ and b != ys:
        hint = (f"; reshape y to {os_} (y.reshape(-1, 1))" if len(os_) == 2 and os_[1] == 1
                and ys == os_[:1] else "")
        raise ShapeError(f"fit: targets of shape {ys} in {name} do not fit the model's "
                         f"outputs of shape {os_}: they would broadcast to {b}{hint}")
