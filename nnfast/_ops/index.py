"""Indexing: x[index] (basic, integer-array and boolean), x[index] = value / index_put,
gather/scatter, index_select/add/copy/fill, masked_fill/scatter/select, take,
take_along_dim, nonzero/argwhere and where(condition).

Errors are torch's: an index out of range is an IndexError (RuntimeError for gather and
scatter, as torch raises), with torch's words ("dimension", not NumPy's "axis").
"""
import numbers

import numpy as np

from .. import autograd as ag
from ..tensor import Tensor
from .core import (_bind, _result, _unary, _unbroadcast, _view, as_array, asarray_on,
                   check_devices, zeros_on)
from .dims import index_array, norm_dim, write_out
from .scan import scatter_add_along

_state = ag._state


def _index_item(i):
    if isinstance(i, Tensor):
        a = i._storage
        if a.dtype.kind not in "iub":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return a.astype(bool) if a.dtype == np.uint8 else a
    if isinstance(i, list) and any(isinstance(v, Tensor) for v in i):
        return np.asarray([v.item() if isinstance(v, Tensor) else v for v in i])
    if isinstance(i, np.ndarray) and i.dtype.kind not in "iub":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return i


def _index(index):
    if isinstance(index, tuple):
        return tuple(_index_item(i) for i in index)
    return _index_item(index)


def _is_basic(index):
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


def _torch_words(err):
    msg = str(err)
    if msg.startswith("too many indices"):
        return IndexError(msg.split(":")[0].replace("array", "tensor") + " of dimension "
                          + msg.split("array is ")[-1].split("-")[0])
    return IndexError(msg.replace("axis", "dimension").replace("array", "tensor"))


def _split_mixed(index):
    """torch applies integers as plain selections before array indices; NumPy treats an int
    beside an array as an array index (which moves the result's dims). For such an index:
    (the basic part, the array part applied to its result); else None."""
    if not isinstance(index, tuple):
        return None
    arrays = [isinstance(i, (np.ndarray, list)) for i in index]
    ints = [isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in index]
    if not any(arrays) or not any(ints):
        return None
    basic = tuple(slice(None) if a else i for i, a in zip(index, arrays))
    rest = tuple(i if a else (Ellipsis if i is Ellipsis else slice(None))
                 for i, a, n in zip(index, arrays, ints) if not n)
    return basic, rest


def _target(arr, idx):
    """(array, index) to read or write arr[idx] with torch's meaning: for an int beside an
    array index, the basic part is applied first (a view), the array part to that."""
    mixed = _split_mixed(idx)
    if mixed is None:
        return arr, idx
    return arr[mixed[0]], mixed[1]


def getitem(x, index):
    index = _index(index)
    mixed = _split_mixed(index)
    if mixed is not None:
        return getitem(getitem(x, mixed[0]), mixed[1])
    xd = x._storage
    try:
        out = xd[index]
    except IndexError as e:
        raise _torch_words(e) from None
    basic = _is_basic(index)
    shape, dtype = x.shape, x.dtype

    def backward(g):
        gx = zeros_on(xd, shape, dtype)
        if basic:
            gx[index] = g
        else:
            np.add.at(gx, index, g)
        return (gx,)
    if basic:
        return _view(x, out, backward, "Index")
    return _unary(x, out, backward, "Index")


def index_put(x, indices, values, accumulate=False):
    """x with x[indices] = values (or += with accumulate), out of place; recorded in the
    graph (this is also what x[index] = v records)."""
    idx = _index(indices)
    v = values if isinstance(values, Tensor) else Tensor._make(asarray_on(x._storage, values,
                                                                              x.dtype))
    out = x._storage.copy()
    vd = v._storage
    try:
        dst, sub = _target(out, idx)
        target = dst[sub].shape
        if accumulate:
            np.add.at(dst, sub, vd.astype(out.dtype, copy=False))
        else:
            dst[sub] = vd
    except IndexError as e:
        raise _torch_words(e) from None
    except ValueError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(v.shape)} cannot be "
                           f"broadcast to indexing result of shape {list(target)}") from None
    vshape = v.shape

    def backward(g):
        gx = g
        if not accumulate:
            gx = g.copy()
            dst, sub = _target(gx, idx)
            dst[sub] = 0
        gv = None
        if v.requires_grad:
            dst, sub = _target(g, idx)
            gi = as_array(dst[sub])
            if gi.ndim < len(vshape):
                gi = gi.reshape((1,) * (len(vshape) - gi.ndim) + gi.shape)
            elif gi.ndim > len(vshape):
                gi = gi.sum(axis=tuple(range(gi.ndim - len(vshape))))
            gv = _unbroadcast(gi, vshape).astype(v.dtype)
        return gx, gv
    return _result(out, (x, v), backward, "IndexPut")


def setitem(x, index, value):
    """x[index] = value: in place, recorded in the graph when gradients are involved."""
    if _state.grad_enabled and (x.requires_grad or
                                (isinstance(value, Tensor) and value.requires_grad)):
        x._inplace(index_put, index, value)
        return
    v = value._storage if isinstance(value, Tensor) else value
    idx = _index(index)
    if not x._storage.flags.writeable:
        from ..tensor import _OVERLAP
        raise RuntimeError(_OVERLAP)
    try:
        dst, sub = _target(x._storage, idx)
        dst[sub] = v
    except IndexError as e:
        raise _torch_words(e) from None
    except ValueError:
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(np.shape(v))} cannot "
                           f"be broadcast to indexing result of shape "
                           f"{list(dst[sub].shape)}") from None
    x._bump()


# ------------------------------------------------------------------ gather / scatter

def _check_gather_index(x, d, idx, who, src=None):
    if idx.__class__ is not x._storage.__class__ or (
            src is not None and src._storage.__class__ is not idx.__class__):
        check_devices(x._storage, idx, None if src is None else src._storage)
    if idx.ndim != x.ndim and not (idx.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError(f"Index tensor must have the same number of dimensions as "
                           f"{'input' if who == 'gather' else 'self'} tensor")
    for k in range(idx.ndim):
        if k != d and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index "
                               f"{list(idx.shape)} to be no larger than self {list(x.shape)} "
                               f"apart from dimension {d}")
        if src is not None and idx.shape[k] > src.shape[k]:
            raise RuntimeError(f"Expected index {list(idx.shape)} to be no larger than self "
                               f"{list(x.shape)} apart from dimension {d} and to be no larger "
                               f"size than src {list(src.shape)}")
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise RuntimeError(f"index {bad} is out of bounds for dimension {d} with size {n}")


def _grid(idx, d):
    grid = list(np.indices(idx.shape, sparse=True))
    grid[d] = idx
    return tuple(grid)


def gather(x, dim, index, *, sparse_grad=False, out=None):
    d = norm_dim(dim, x.ndim)
    idx = index_array(index, "gather")
    _check_gather_index(x, d, idx, "gather")
    xd = x._storage if x.ndim else x._storage.reshape(1)
    idx2 = idx.reshape(1) if idx.ndim == 0 else idx
    if x.ndim == 0 and idx.ndim:
        idx2 = idx.reshape(-1)
    res = xd[_grid(idx2, d)].reshape(idx.shape)
    shape, dtype = x.shape, x.dtype

    def backward(g):
        return (scatter_add_along(xd.shape, dtype, d, idx2, g.reshape(idx2.shape))
                .reshape(shape),)
    return write_out(out, _unary(x, res, backward, "Gather"), "gather", (x,))


def _as_src(src, x):
    if isinstance(src, Tensor):
        return src
    return Tensor._make(asarray_on(x._storage, src, x.dtype))


def scatter(x, dim, index, src=None, value=None, *, reduce=None, out=None):
    if src is None and value is None:
        raise TypeError("scatter(): expected src or value")
    if src is None or not isinstance(src, Tensor):
        return _scatter_value(x, dim, index, value if src is None else src, reduce, out)
    d = norm_dim(dim, x.ndim)
    idx = index_array(index, "scatter")
    if src.ndim != x.ndim and not (src.ndim <= 1 and x.ndim <= 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as src tensor")
    _check_gather_index(x, d, idx, "scatter", src)
    if reduce not in (None, "add", "multiply"):
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")
    grid = _grid(idx, d)
    sl = tuple(slice(0, s) for s in idx.shape)
    res = x._storage.copy()
    srcv = src._storage[sl].astype(res.dtype, copy=False)
    if reduce is None:
        res[grid] = srcv
    elif reduce == "add":
        np.add.at(res, grid, srcv)
    else:
        np.multiply.at(res, grid, srcv)
    sshape = src.shape

    def backward(g):
        if reduce == "multiply":
            raise RuntimeError("the derivative of scatter with reduce='multiply' is not "
                               "implemented")
        gx = g
        if reduce is None:
            gx = g.copy()
            gx[grid] = 0
        gs = None
        if src.requires_grad:
            gs = zeros_on(g, sshape, src.dtype)
            gs[sl] = g[grid]
        return gx, gs
    return write_out(out, _result(res, (x, src), backward, "Scatter"), "scatter", (x, src))


def _scatter_value(x, dim, index, value, reduce, out):
    d = norm_dim(dim, x.ndim)
    idx = index_array(index, "scatter")
    _check_gather_index(x, d, idx, "scatter")
    grid = _grid(idx, d)
    res = x._storage.copy()
    if reduce is None:
        res[grid] = value
    elif reduce == "add":
        np.add.at(res, grid, as_array(value, res.dtype))
    elif reduce == "multiply":
        np.multiply.at(res, grid, as_array(value, res.dtype))
    else:
        raise RuntimeError(f"reduce argument must be either add or multiply, got {reduce}")

    def backward(g):
        gx = g.copy()
        if reduce is None:
            gx[grid] = 0
        elif reduce == "multiply":
            np.multiply.at(gx, grid, as_array(value, gx.dtype))
        return (gx,)
    return write_out(out, _unary(x, res, backward, "Scatter"), "scatter", (x,))


def scatter_add(x, dim, index, src, *, out=None):
    return scatter(x, dim, index, _as_src(src, x), reduce="add", out=out)


# ------------------------------------------------------------------ index_* along one dim

def _dim_index(x, dim, index, who):
    d = norm_dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    idx = index_array(index, who)
    if idx.ndim > 1:
        raise IndexError(f"{who}(): Index is supposed to be a vector")
    idx = idx.reshape(-1)
    if idx.__class__ is not x._storage.__class__:
        check_devices(x._storage, idx)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError("index out of range in self")
    return d, idx


def _along(d, idx):
    return (slice(None),) * d + (idx,)


def index_select(x, dim, index, *, out=None):
    d, idx = _dim_index(x, dim, index, "index_select")
    xd = x._storage if x.ndim else x._storage.reshape(1)
    res = np.take(xd, idx, axis=d)
    if x.ndim == 0:
        res = res.reshape(())
    shape, dtype = x.shape, x.dtype

    def backward(g):
        gx = zeros_on(xd, xd.shape, dtype)
        np.add.at(gx, _along(d, idx), g.reshape(res.shape if x.ndim else (1,)))
        return (gx.reshape(shape),)
    return write_out(out, _unary(x, res, backward, "IndexSelect"), "index_select", (x,))


def _check_source(x, d, idx, source, who):
    want = list(x.shape)
    if x.ndim:
        want[d] = idx.size
    if source.ndim and list(source.shape) != want:
        if source.shape[d] != idx.size if source.ndim > d else True:
            raise RuntimeError(f"{who}(): Number of indices ({idx.size}) should be equal to "
                               f"source.size(dim): ({source.shape[d] if source.ndim > d else 1})"
                               f", for dim: {d}")
        raise RuntimeError(f"{who}(): source shape {list(source.shape)} does not match the "
                           f"expected shape {want}")


def index_add(x, dim, index, source, *, alpha=1, out=None):
    d, idx = _dim_index(x, dim, index, "index_add_")
    source = _as_src(source, x)
    _check_source(x, d, idx, source, "index_add_")
    res = x._storage.copy()
    sd = source._storage.astype(res.dtype, copy=False)
    np.add.at(res, _along(d, idx), sd * alpha if alpha != 1 else sd)
    sshape = source.shape

    def backward(g):
        gs = None
        if source.requires_grad:
            gs = np.take(g, idx, axis=d).reshape(sshape)
            gs = (gs * alpha if alpha != 1 else gs).astype(source.dtype)
        return g, gs
    return write_out(out, _result(res, (x, source), backward, "IndexAdd"), "index_add",
                     (x, source))


def index_copy(x, dim, index, source, *, out=None):
    d, idx = _dim_index(x, dim, index, "index_copy_")
    source = _as_src(source, x)
    _check_source(x, d, idx, source, "index_copy_")
    res = x._storage.copy()
    res[_along(d, idx)] = source._storage.reshape(np.take(res, idx, axis=d).shape)
    sshape = source.shape

    def backward(g):
        gx = g.copy()
        gx[_along(d, idx)] = 0
        gs = np.take(g, idx, axis=d).reshape(sshape).astype(source.dtype) \
            if source.requires_grad else None
        return gx, gs
    return write_out(out, _result(res, (x, source), backward, "IndexCopy"), "index_copy",
                     (x, source))


def _fill_value(value, x, who):
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"{who} only supports a 0-dimensional value tensor, but got "
                               f"tensor with {value.ndim} dimension(s).")
        return value
    if not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"{who}(): value must be a number or a 0-d tensor, got "
                        f"{type(value).__name__}")
    return Tensor._make(np.asarray(value).astype(x.dtype))   # 0-d: goes with any device


def index_fill(x, dim, index, value):
    d, idx = _dim_index(x, dim, index, "index_fill_")
    v = _fill_value(value, x, "index_fill_")
    res = x._storage.copy()
    res[_along(d, idx)] = v._storage.astype(res.dtype)

    def backward(g):
        gx = g.copy()
        gx[_along(d, idx)] = 0
        gv = None
        if v.requires_grad:
            mask = zeros_on(g, g.shape, bool)
            mask[_along(d, idx)] = True
            gv = as_array(g[mask].sum(), v.dtype)
        return gx, gv
    return _result(res, (x, v), backward, "IndexFill")


# ------------------------------------------------------------------ masks

def _bool_mask(mask, who):
    m = mask._storage if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise RuntimeError(f"{who} only supports boolean masks, but got mask with dtype "
                           f"{_word(m.dtype)}")
    return m


def _word(dt):
    return {"f": "float", "i": "long int", "u": "unsigned char"}.get(dt.kind, str(dt))


def _same_device_mask(x, m):
    if m.__class__ is not x._storage.__class__:
        check_devices(x._storage, m)


def _bshape(a, b, who):
    try:
        return np.broadcast_shapes(a, b)
    except ValueError:
        raise RuntimeError(f"{who}: the shape of the mask {list(b)} must be broadcastable with "
                           f"the shape of the input {list(a)}") from None


def masked_fill(x, mask, value):
    m = _bool_mask(mask, "masked_fill_")
    v = _fill_value(value, x, "masked_fill_")
    _same_device_mask(x, m)
    shape = _bshape(x.shape, m.shape, "masked_fill")
    res = np.where(m, v._storage.astype(x.dtype), x._storage)
    res = np.broadcast_to(res, shape).copy() if res.shape != shape else res
    xshape = x.shape

    def backward(g):
        gx = _unbroadcast(np.where(m, 0, g), xshape).astype(x.dtype)
        gv = as_array(np.where(m, g, 0).sum(), v.dtype) if v.requires_grad else None
        return gx, gv
    return _result(res, (x, v), backward, "MaskedFill")


def masked_scatter(x, mask, source):
    m = _bool_mask(mask, "masked_scatter_")
    _same_device_mask(x, m)
    shape = _bshape(x.shape, m.shape, "masked_scatter")
    mb = np.broadcast_to(m, shape)
    count = int(mb.sum())
    if source.numel() < count:
        raise RuntimeError("masked_scatter: expected source to have at least as many elements "
                           f"as the ones in mask ({count}), got {source.numel()}")
    res = np.broadcast_to(x._storage, shape).copy()
    res[mb] = source._storage.reshape(-1)[:count]
    xshape, sshape = x.shape, source.shape

    def backward(g):
        gx = _unbroadcast(np.where(mb, 0, g), xshape)
        gs = None
        if source.requires_grad:
            gs = zeros_on(g, int(np.prod(sshape)), source.dtype)
            gs[:count] = g[mb]
            gs = gs.reshape(sshape)
        return gx, gs
    return _result(res, (x, source), backward, "MaskedScatter")


def masked_select(x, mask, *, out=None):
    m = _bool_mask(mask, "masked_select")
    _same_device_mask(x, m)
    shape = _bshape(x.shape, m.shape, "masked_select")
    mb = np.broadcast_to(m, shape)
    res = np.broadcast_to(x._storage, shape)[mb]
    xshape = x.shape

    def backward(g):
        gx = zeros_on(g, shape, x.dtype)
        gx[mb] = g
        return (_unbroadcast(gx, xshape),)
    return write_out(out, _unary(x, res, backward, "MaskedSelect"), "masked_select", (x,))


# ------------------------------------------------------------------ take, nonzero, where

def take(x, index):
    idx = index_array(index, "take")
    if idx.__class__ is not x._storage.__class__:
        check_devices(x._storage, idx)
    n = x._storage.size
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx.max() if idx.max() >= n else idx.min()
        raise IndexError(f"out of range: tried to access index {bad} on a tensor of {n} "
                         "elements.")
    flat = x._storage.reshape(-1)
    res = flat[idx]
    shape, dtype = x.shape, x.dtype

    def backward(g):
        gx = zeros_on(g, n, dtype)
        np.add.at(gx, idx, g)
        return (gx.reshape(shape),)
    return _unary(x, res, backward, "Take")


def take_along_dim(x, indices, dim=None, *, out=None):
    idx = index_array(indices, "take_along_dim")
    if dim is None:
        from .shape import reshape
        return write_out(out, gather(reshape(x, -1), 0, idx.reshape(-1)), "take_along_dim",
                         (x,))
    d = norm_dim(dim, x.ndim)
    if idx.ndim != x.ndim:
        raise RuntimeError("torch.take_along_dim(): input and indices should have the same "
                           f"number of dimensions, but got {x.ndim} dimensions for input, and "
                           f"{idx.ndim} dimensions for indices")
    from .shape import broadcast_to
    xs = list(x.shape)
    ids = list(idx.shape)
    xs[d] = ids[d] = 1
    b = list(np.broadcast_shapes(tuple(xs), tuple(ids)))
    bx, bi = list(b), list(b)
    bx[d], bi[d] = x.shape[d], idx.shape[d]
    xb = broadcast_to(x, tuple(bx)) if tuple(bx) != tuple(x.shape) else x
    return write_out(out, gather(xb, d, np.broadcast_to(idx, tuple(bi))), "take_along_dim", (x,))


def nonzero(x, *, out=None, as_tuple=False):
    xd = x._storage
    if as_tuple:
        arr = xd.reshape(1) if xd.ndim == 0 else xd
        return tuple(Tensor._make(i.astype(np.int64)) for i in np.nonzero(arr))
    if xd.ndim == 0:
        res = zeros_on(xd, (1 if xd.item() else 0, 0), np.int64)
    else:
        res = np.argwhere(xd).astype(np.int64)
    return write_out(out, Tensor._make(res), "nonzero")


def argwhere(x):
    return nonzero(x)


def where(condition, input=None, other=None, *, out=None):
    """where(condition) = nonzero(condition, as_tuple=True); the three-argument form is the
    elementwise select."""
    if input is None and other is None:
        return nonzero(condition if isinstance(condition, Tensor)
                       else Tensor._make(np.asarray(condition)), as_tuple=True)
    try:
        from .elementwise import where as where3
    except ImportError:
        from .arith import where as where3
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        from .core import _as_tensor   # where(c, 1.0, 0.0): two scalars, a float32 result
        input = _as_tensor(input, "where")
    return write_out(out, where3(condition, input, other), "where")


_bind({"__getitem__": getitem, "index_put": index_put, "gather": gather, "scatter": scatter,
       "scatter_add": scatter_add, "index_select": index_select, "index_add": index_add,
       "index_copy": index_copy, "index_fill": index_fill, "masked_fill": masked_fill,
       "masked_scatter": masked_scatter, "masked_select": masked_select, "take": take,
       "take_along_dim": take_along_dim, "nonzero": nonzero, "argwhere": argwhere,
       "where": lambda self, condition, other: where(condition, self, other),
       "index_put_": lambda self, indices, values, accumulate=False:
           self._inplace(index_put, indices, values, accumulate),
       "masked_fill_": lambda self, mask, value: self._inplace(masked_fill, mask, value),
       "masked_scatter_": lambda self, mask, source: self._inplace(masked_scatter, mask,
                                                                   source),
       "scatter_": lambda self, dim, index, src=None, value=None, *, reduce=None:
           self._inplace(scatter, dim, index, src, value, reduce=reduce),
       "scatter_add_": lambda self, dim, index, src: self._inplace(scatter_add, dim, index,
                                                                   src),
       "index_add_": lambda self, dim, index, source, *, alpha=1:
           self._inplace(index_add, dim, index, source, alpha=alpha),
       "index_copy_": lambda self, dim, index, source: self._inplace(index_copy, dim, index,
                                                                    source),
       "index_fill_": lambda self, dim, index, value: self._inplace(index_fill, dim, index,
                                                                    value)})
