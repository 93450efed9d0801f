"""Joining, splitting and rearranging: cat/stack and their h/v/d/column forms, split, chunk,
tensor_split, unbind, repeat, tile, repeat_interleave, flip, roll, rot90, meshgrid, unfold
(sliding windows), diff.

Pieces from split/chunk/unbind and unfold's windows are views of the input;
cat/stack/repeat/flip/roll copy, as in torch.
"""
import itertools

import numpy as np

from ..tensor import Tensor
from ..backend import table_of
from .core import (_as_tensor, _bind, _promote, _result, _unary, as_strided, host_only, is_device,
                   zeros_on)
from .dims import dim_list, int_shape, norm_dim, write_out
from .shape import atleast_1d, atleast_2d, atleast_3d, broadcast_to, reshape, select, \
    select_slice


def _tensor_list(tensors, who):
    if isinstance(tensors, Tensor):
        raise TypeError(f"{who}(): argument 'tensors' must be a tuple or list of Tensors, not "
                        "Tensor")
    tensors = [_as_tensor(t, who) for t in tensors]
    if not tensors:
        raise ValueError(f"{who}(): expected a non-empty list of Tensors")
    return tensors


def cat(tensors, dim=0, *, out=None):
    tensors = _tensor_list(tensors, "torch.cat")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise RuntimeError(f"zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated")
    # as torch: 1-D empty tensors are skipped beside tensors of more dimensions
    shapes = [t._storage.shape for t in tensors]
    skip = [len(s) == 1 and s[0] == 0 for s in shapes]
    if all(skip):
        skip = [False] * len(tensors)
    live = [t for t, s in zip(tensors, skip) if not s]
    ref = live[0]._storage
    d = norm_dim(dim, ref.ndim)
    rshape = ref.shape
    for i, s in enumerate(shapes):
        if skip[i]:
            continue
        if len(s) != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} "
                               f"and {len(s)}")
        if s[:d] == rshape[:d] and s[d + 1:] == rshape[d + 1:]:
            continue
        k = next(k for k in range(ref.ndim) if k != d and s[k] != rshape[k])
        raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. Expected "
                           f"size {rshape[k]} but got size {s[k]} for tensor number {i} in "
                           "the list.")
    dt = ref
    for t in live[1:]:
        if t._storage.dtype != dt.dtype:
            dt = np.empty((1,), _promote(dt, t._storage))
    arrays = [t._storage for t in live]
    table_of(*arrays)   # the mixed-device error
    out_arr = np.concatenate(arrays, axis=d) if dt is ref else \
        np.concatenate(arrays, axis=d, dtype=dt.dtype)
    sizes = [None if sk else s[d] for s, sk in zip(shapes, skip)]
    bounds = list(itertools.accumulate([s for s in sizes if s is not None][:-1]))

    def backward(g):
        parts = iter(np.split(g, bounds, axis=d))
        grads = []
        for t, s in zip(tensors, sizes):
            part = zeros_on(g, t.shape, g.dtype) if s is None else next(parts)
            grads.append(part.astype(t.dtype) if t.dtype.kind in "fc" else None)
        return tuple(grads)
    return write_out(out, _result(out_arr, tuple(tensors), backward, "Cat"), "cat", tensors)


concat = concatenate = cat


def stack(tensors, dim=0, *, out=None):
    tensors = _tensor_list(tensors, "stack")
    shape0 = tensors[0]._storage.shape
    for i, t in enumerate(tensors):
        if t._storage.shape != shape0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(tensors[0].shape)} at entry 0 and {list(t.shape)} at "
                               f"entry {i}")
    d = norm_dim(dim, tensors[0].ndim + 1)
    dt = tensors[0]._storage
    for t in tensors[1:]:
        if t._storage.dtype != dt.dtype:
            dt = np.empty((1,), _promote(dt, t._storage))
    arrays = [t._storage for t in tensors]
    table_of(*arrays)   # the mixed-device error
    res = np.stack(arrays, axis=d, dtype=dt.dtype)

    def backward(g):
        return tuple(np.take(g, i, axis=d).astype(t.dtype) if t.dtype.kind in "fc" else None
                     for i, t in enumerate(tensors))
    return write_out(out, _result(res, tuple(tensors), backward, "Stack"), "stack", tensors)


def hstack(tensors, *, out=None):
    tensors = atleast_1d(*_tensor_list(tensors, "hstack"))
    tensors = tensors if isinstance(tensors, tuple) else (tensors,)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None):
    t = atleast_2d(*_tensor_list(tensors, "vstack"))
    return cat(t if isinstance(t, tuple) else (t,), 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None):
    t = atleast_3d(*_tensor_list(tensors, "dstack"))
    return cat(t if isinstance(t, tuple) else (t,), 2, out=out)


def column_stack(tensors, *, out=None):
    tensors = _tensor_list(tensors, "column_stack")
    cols = [reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in tensors]
    return cat(cols, 1, out=out)


def _pieces(x, d, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(select_slice(x, d, slice(start, start + s)))
        start += s
    return tuple(out)


def split(x, split_size_or_sections, dim=0):
    d = norm_dim(dim, x.ndim)
    n = x.shape[d]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)):
        if s < 0 or (s == 0 and n != 0):
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={s}" if s < 0 else "split_size can only be 0 if "
                               "dimension size is 0, but got dimension size of " + str(n))
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
        if not sizes:
            sizes = [0]
    else:
        sizes = list(int_shape((s,)))
        if sum(sizes) != n or any(v < 0 for v in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    return _pieces(x, d, sizes)


def split_with_sizes(x, split_sizes, dim=0):
    return split(x, list(split_sizes), dim)


def chunk(x, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = norm_dim(dim, x.ndim)
    n = x.shape[d]
    if n == 0:
        return _pieces(x, d, [0] * chunks)
    size = -(-n // chunks)
    return split(x, size, d)


def tensor_split(x, indices_or_sections, dim=0):
    d = norm_dim(dim, x.ndim)
    n = x.shape[d]
    s = indices_or_sections
    if isinstance(s, Tensor) and s.ndim == 0:
        s = s.item()
    if isinstance(s, (int, np.integer)):
        if s <= 0:
            raise RuntimeError(f"number of sections must be larger than 0, got {s}")
        q, r = divmod(n, s)
        return _pieces(x, d, [q + 1] * r + [q] * (s - r))
    idx = [int(i) for i in (s.tolist() if isinstance(s, Tensor) else s)]
    bounds = [0] + [min(max(i if i >= 0 else i + n, 0), n) for i in idx] + [n]
    return tuple(select_slice(x, d, slice(a, max(a, b))) for a, b in zip(bounds, bounds[1:]))


def unbind(x, dim=0):
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        raise IndexError("Dimension specified as 0 but tensor has no dimensions")
    return tuple(select(x, d, i) for i in range(x.shape[d]))


def repeat(x, *sizes):
    reps = int_shape(sizes)
    if len(reps) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {list(reps)}")
    src = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    out = np.tile(x._storage.reshape(src), reps)
    shape = x.shape

    def backward(g):
        inter = []
        for r, s in zip(reps, src):
            inter += [r, s]
        return (g.reshape(inter).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(shape),)
    return _unary(x, out, backward, "Repeat")


def tile(x, dims):
    reps = int_shape((dims,))
    reps = (1,) * (x.ndim - len(reps)) + reps
    return repeat(x, reps)


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None):
    if repeats is None:   # torch.repeat_interleave(repeats): indices repeated
        r = x._storage
        if r.ndim > 1:
            raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
        host_only("repeat_interleave(repeats)", r)
        return Tensor._make(np.repeat(np.arange(r.shape[0]), r).astype(np.int64))
    if dim is None:
        x, d = reshape(x, -1), 0
    else:
        d = norm_dim(dim, x.ndim)
        if x.ndim == 0:
            x = reshape(x, 1)
    n = x.shape[d]
    r = repeats._storage if isinstance(repeats, Tensor) else np.asarray(repeats)
    if is_device(r):
        r = table_of(r).to_host(r)   # the output's size depends on the counts
    if r.ndim > 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    if r.ndim == 1 and r.shape[0] not in (1, n):
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {r.shape[0]} and input.size({d}) = {n}")
    if (r < 0).any():
        raise RuntimeError("repeats can not be negative")
    r = np.broadcast_to(r.reshape(-1), (n,)) if r.ndim == 1 else np.full(n, int(r))
    src_idx = np.repeat(np.arange(n), r)
    out = np.take(x._storage, src_idx, axis=d)
    shape = x.shape

    def backward(g):
        gx = zeros_on(g, shape, x.dtype)
        np.add.at(gx, (slice(None),) * d + (src_idx,), g)
        return (gx,)
    return _unary(x, out, backward, "RepeatInterleave")


def flip(x, *dims):
    dims = tuple(norm_dim(d, x.ndim) for d in dim_list(dims))
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"dim {dims[0]} appears multiple times in the list of dims")
    if x.ndim == 0 or not dims:
        return _unary(x, x._storage.copy(), lambda g: (g,), "Flip")
    return _unary(x, np.flip(x._storage, dims).copy(), lambda g: (np.flip(g, dims),), "Flip")


def fliplr(x):
    if x.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(x, 1)


def flipud(x):
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(x, 0)


def roll(x, shifts, dims=None):
    sh = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    if dims is None:
        if len(sh) != 1:
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(sh)}, "
                               "dims:0")
        flat = x._storage.reshape(-1)
        shape = x.shape
        return _unary(x, np.roll(flat, sh[0]).reshape(shape),
                      lambda g: (np.roll(g.reshape(-1), -sh[0]).reshape(shape),), "Roll")
    dm = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(sh) != len(dm):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(dm)}")
    dm = tuple(norm_dim(d, x.ndim) for d in dm)
    neg = tuple(-s for s in sh)
    return _unary(x, np.roll(x._storage, sh, dm), lambda g: (np.roll(g, neg, dm),), "Roll")


def meshgrid(*tensors, indexing=None):
    tensors = list(tensors[0]) if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) \
        else list(tensors)
    indexing = indexing or "ij"
    if indexing not in ("ij", "xy"):
        raise ValueError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but "
                         f"received: {indexing}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"torch.meshgrid: Expected 0D or 1D tensor in the tensor list but "
                               f"got: {t}")
    flat = [reshape(t, -1) for t in tensors]
    swap = indexing == "xy" and len(flat) >= 2
    if swap:
        flat[0], flat[1] = flat[1], flat[0]
    shape = tuple(t.shape[0] for t in flat)
    n = len(flat)
    grids = [broadcast_to(reshape(t, tuple(-1 if i == k else 1 for i in range(n))), shape)
             for k, t in enumerate(flat)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def unfold(x, dimension, size, step):
    """Windows of `size` elements every `step` along `dimension`, as a new last dim (a view)."""
    if x.ndim == 0:
        x0 = reshape(x, 1)
        return reshape(unfold(x0, 0, size, step), (size,)) if size == 1 else unfold(x0, 0, size,
                                                                                    step)
    d = norm_dim(dimension, x.ndim)
    n = x.shape[d]
    if size > n:
        raise RuntimeError(f"maximum size for tensor at dimension {d} is {n} but size is {size}")
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    nw = (n - size) // step + 1
    xd = x._storage
    shape = xd.shape[:d] + (nw,) + xd.shape[d + 1:] + (size,)
    strides = xd.strides[:d] + (xd.strides[d] * step,) + xd.strides[d + 1:] + (xd.strides[d],)
    out = as_strided(xd, shape, strides, writeable=xd.flags.writeable)
    src = x.shape

    def backward(g):
        gx = zeros_on(g, src, x.dtype)
        for j in range(size):
            gx[(slice(None),) * d + (slice(j, j + step * (nw - 1) + 1, step),)] += g[..., j]
        return (gx,)
    from .core import _view
    return _view(x, out, backward, "Unfold")


def rot90(x, k=1, dims=(0, 1)):
    from .shape import transpose
    if len(dims) != 2:
        raise RuntimeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise RuntimeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = norm_dim(dims[0], x.ndim), norm_dim(dims[1], x.ndim)
    if d0 == d1:
        raise RuntimeError(f"expected rotation dims to be different, but got dim0 = {d0} and "
                           f"dim1 = {d1}")
    k %= 4
    if k == 1:
        return transpose(flip(x, d1), d0, d1)
    if k == 2:
        return flip(x, d0, d1)
    if k == 3:
        return transpose(flip(x, d0), d0, d1)
    return _unary(x, x._storage.copy(), lambda g: (g,), "Rot90")


def diff(x, n=1, dim=-1, prepend=None, append=None):
    from .arith import sub
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    parts = [p if p.ndim else broadcast_to(p, x.shape[:d] + (1,) + x.shape[d + 1:])
             for p in (prepend, x, append) if p is not None]
    y = cat(parts, d) if len(parts) > 1 else x
    for _ in range(n):
        m = y.shape[d]
        if m == 0:
            break
        a, b = select_slice(y, d, slice(1, m)), select_slice(y, d, slice(0, m - 1))
        y = Tensor._make(a._storage != b._storage) if y.dtype == np.bool_ else sub(a, b)
    return y


_bind({"unfold": unfold, "rot90": rot90, "diff": diff, "split": split,
       "split_with_sizes": split_with_sizes, "chunk": chunk, "tensor_split": tensor_split,
       "unbind": unbind, "repeat": repeat, "tile": lambda self, *dims: tile(self, dims[0] if len(dims) == 1 else dims),
       "repeat_interleave": repeat_interleave, "flip": flip, "fliplr": fliplr,
       "flipud": flipud, "roll": roll})
