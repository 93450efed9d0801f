"""Shape operations that keep the elements: reshape/view, flatten/unflatten, permute,
transpose/movedim, squeeze/unsqueeze, expand/broadcast, narrow/select, atleast_Nd, and the
shape-changing in-place twins (t_, squeeze_...). Results NumPy can make as views of the
input are views (they share its version count); view() refuses what would need a copy.

Joining and splitting (cat, stack, split, repeat, flip...) are in join.py; triangles and
diagonals in tri.py.
"""
import numpy as np

from .. import autograd as ag
from ..errors import ShapeError
from ..tensor import Tensor, _LEAF_INPLACE
from .core import _bind, _unbroadcast, _view, as_strided, zeros_on
from .dims import dim_list, int_shape, norm_dim, norm_dims

_state = ag._state


def _infer(shape, size):
    """A shape with one -1 resolved against `size` elements; torch's error when impossible."""
    known, neg = 1, -1
    for i, s in enumerate(shape):
        if s == -1:
            if neg >= 0:
                raise RuntimeError("only one dimension can be inferred")
            neg = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if neg >= 0:
        if known == 0 or size % known:
            raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {size}")
        shape = shape[:neg] + (size // known,) + shape[neg + 1:]
    elif known != size:
        raise ShapeError(f"shape '{list(shape)}' is invalid for input of size {size}")
    return shape


def reshape(x, *shape):
    shape = _infer(int_shape(shape), x._storage.size)
    src = x.shape
    return _view(x, x._storage.reshape(shape), lambda g: (g.reshape(src),), "Reshape")


def view(x, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer, Tensor)):
        return _view_dtype(x, shape[0])
    shape = _infer(int_shape(shape), x._storage.size)
    xd = x._storage
    try:
        out = xd.reshape(shape) if xd.flags.c_contiguous else np.reshape(xd, shape, copy=False)
    except ValueError:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.") from None
    src = x.shape
    return _view(x, out, lambda g: (g.reshape(src),), "View")


def _view_dtype(x, dtype):
    from .dims import as_dtype
    dt = as_dtype(dtype)
    if dt.itemsize != x.dtype.itemsize and x.ndim == 0:
        raise RuntimeError("self.dim() cannot be 0 to view a tensor as a dtype with a different "
                           "element size")
    return Tensor._make(x._storage.view(dt))._view_of(x)


def view_as(x, other):
    return view(x, other.shape)


def reshape_as(x, other):
    return reshape(x, other.shape)


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = norm_dim(start_dim, x.ndim), norm_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    n = 1
    for v in x._storage.shape[s:e + 1]:
        n *= v
    return reshape(x, x._storage.shape[:s] + (n,) + x._storage.shape[e + 1:])


def unflatten(x, dim, sizes):
    d = norm_dim(dim, x.ndim)
    sizes = int_shape((sizes,))
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = x.shape[d]
    try:
        sizes = _infer(sizes, n)
    except (RuntimeError, ShapeError):
        raise RuntimeError(f"unflatten: Provided sizes {list(sizes)} don't multiply up to the "
                           f"size of dim {dim} ({n}) in the input tensor") from None
    return reshape(x, x.shape[:d] + sizes + x.shape[d + 1:])


def permute(x, *dims):
    dims = dim_list(dims)
    if len(dims) != x.ndim:
        raise ShapeError(f"permute: number of dims don't match in permute: the tensor has "
                         f"{x.ndim} dims (shape {tuple(x.shape)}), got dims {dims}")
    nd = tuple(norm_dim(d, x.ndim) for d in dims)
    if sorted(nd) != list(range(x.ndim)):
        raise ShapeError(f"permute: repeated dim in permute: dims {dims} for a tensor of shape "
                         f"{tuple(x.shape)}")
    if x.ndim == 0:
        return _view(x, x._storage.view(), lambda g: (g,), "Permute")
    inv = tuple(np.argsort(nd))
    return _view(x, np.transpose(x._storage, nd), lambda g: (np.transpose(g, inv),),
                 "Permute")


def transpose(x, dim0, dim1):
    if x.ndim == 0:
        norm_dim(dim0, 0), norm_dim(dim1, 0)
        return permute(x)
    dims = list(range(x.ndim))
    a, b = norm_dim(dim0, x.ndim), norm_dim(dim1, x.ndim)
    dims[a], dims[b] = dims[b], dims[a]
    return permute(x, *dims)


def t(x):
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return permute(x, *reversed(range(x.ndim)))


def _mT(x):
    if x.ndim < 2:
        raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. "
                           f"Got {x.ndim}-D tensor.")
    return transpose(x, -2, -1)


def adjoint(x):
    if x.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of "
                           f"matrices. Got {x.ndim}-D tensor.")
    y = transpose(x, -2, -1)
    return y.conj() if x.dtype.kind == "c" else y


def movedim(x, source, destination):
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} "
                           f"dims) should contain the same number of dims as destination "
                           f"({list(dst)} dims)")
    src, dst = norm_dims(src, x.ndim, False), norm_dims(dst, x.ndim, False)
    if x.ndim == 0:
        return permute(x)
    order = [d for d in range(x.ndim) if d not in src]
    for d_dst, d_src in sorted(zip(dst, src)):
        order.insert(d_dst, d_src)
    return permute(x, *order)


def unsqueeze(x, dim):
    d = norm_dim(dim, x.ndim + 1)
    src = x.shape
    return _view(x, np.expand_dims(x._storage, d), lambda g: (g.reshape(src),), "Unsqueeze")


def squeeze(x, dim=None):
    src = x.shape
    if dim is None:
        out = np.squeeze(x._storage)
    else:
        dims = norm_dims(dim, x.ndim, empty_is_all=False)
        # as torch: dims whose size is not 1 are left alone
        out = np.squeeze(x._storage, tuple(d for d in dims if x.shape[d] == 1))
    return _view(x, out, lambda g: (g.reshape(src),), "Squeeze")


def broadcast_to(x, shape):
    shape = int_shape((shape,))
    src = x.shape
    if len(shape) < x.ndim:
        raise RuntimeError(f"expand(torch.FloatTensor{{{list(src)}}}, size={list(shape)}): the "
                           "number of sizes provided ({}) must be greater or equal to the number "
                           "of dimensions in the tensor ({})".format(len(shape), x.ndim))
    lead = len(shape) - x.ndim
    full = []
    for i, s in enumerate(shape):
        if s == -1:
            if i < lead:
                raise RuntimeError(f"The expanded size of the tensor (-1) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
            s = src[i - lead]
        elif i >= lead and src[i - lead] != 1 and src[i - lead] != s:
            raise RuntimeError(f"The expanded size of the tensor ({s}) must match the existing "
                               f"size ({src[i - lead]}) at non-singleton dimension {i}.  Target "
                               f"sizes: {list(shape)}.  Tensor sizes: {list(src)}")
        full.append(s)
    # a writable view with zero strides, as torch's expand (fill_ and x[i] = v write through)
    xd = x._storage
    strides = (0,) * lead + tuple(0 if s == 1 and f != 1 else st
                                  for s, f, st in zip(xd.shape, full[lead:], xd.strides))
    out = as_strided(xd, tuple(full), strides, writeable=xd.flags.writeable)
    return _view(x, out, lambda g: (_unbroadcast(g, src),), "Expand")


def expand(x, *shape):
    return broadcast_to(x, int_shape(shape))


def expand_as(x, other):
    return broadcast_to(x, other.shape)


def broadcast_shapes(*shapes):
    try:
        return tuple(np.broadcast_shapes(*[(s,) if isinstance(s, int) else tuple(s)
                                           for s in shapes]))
    except ValueError:
        raise RuntimeError(f"shape mismatch: objects cannot be broadcast to a single shape "
                           f"({', '.join(str(list(s)) for s in shapes)})") from None


def broadcast_tensors(*tensors):
    tensors = dim_list(tensors)
    shape = broadcast_shapes(*[t.shape for t in tensors])
    return tuple(broadcast_to(t, shape) for t in tensors)


def narrow(x, dim, start, length):
    d = norm_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(start, Tensor):
        start = start.item()
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got "
                         f"{start})")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return select_slice(x, d, slice(start, start + length))


def select_slice(x, d, sl):
    """x[..., sl, ...] with sl at dim d: a view."""
    index = (slice(None),) * d + (sl,)
    xd = x._storage
    shape = x.shape

    def backward(g):
        gx = zeros_on(xd, shape, x.dtype)
        gx[index] = g
        return (gx,)
    return _view(x, xd[index], backward, "Slice")


def select(x, dim, index):
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    n = x.shape[d]
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(x.shape)} at dimension {dim}")
    return select_slice(x, d, int(index) % n)


def _atleast(n, tensors):
    single = len(tensors) == 1 and not isinstance(tensors[0], (list, tuple))
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) \
        else tensors
    out = []
    for t in items:
        if t.ndim >= n:
            out.append(t)
        elif n == 1 or t.ndim == 0:
            out.append(reshape(t, (1,) * n))
        elif n == 2:
            out.append(unsqueeze(t, 0))
        else:
            out.append(reshape(t, (1,) + tuple(t.shape) + (1,)) if t.ndim == 1
                       else unsqueeze(t, -1))
    return out[0] if single else tuple(out)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


def _shape_inplace(fn):
    """A shape-changing in-place method (t_, squeeze_...): self becomes fn(self), a view."""
    def method(self, *args, **kwargs):
        if _state.grad_enabled and self.requires_grad and self._node is None:
            raise RuntimeError(_LEAF_INPLACE)
        old = Tensor._make(self._storage, self.requires_grad, self._node)
        res = fn(old, *args, **kwargs)
        self._storage = res._storage
        if _state.grad_enabled and res._node is not None:
            self._node = res._node
            if self._hooks is not None or self._retains_grad:
                self._node.out = self
        return self
    return method


_bind({"reshape": reshape, "view": view, "view_as": view_as, "reshape_as": reshape_as,
       "flatten": flatten, "unflatten": unflatten, "transpose": transpose,
       "swapaxes": transpose, "swapdims": transpose, "t": t, "permute": permute,
       "movedim": movedim, "moveaxis": movedim, "unsqueeze": unsqueeze, "squeeze": squeeze,
       "expand": expand, "expand_as": expand_as, "broadcast_to": broadcast_to,
       "narrow": narrow, "select": select, "adjoint": adjoint,
       "t_": _shape_inplace(t), "transpose_": _shape_inplace(transpose),
       "swapaxes_": _shape_inplace(transpose), "swapdims_": _shape_inplace(transpose),
       "squeeze_": _shape_inplace(squeeze), "unsqueeze_": _shape_inplace(unsqueeze),
       "T": property(lambda self: permute(self, *reversed(range(self.ndim)))),
       "mT": property(_mT), "H": property(lambda self: adjoint(self) if self.ndim == 2
                                          else t(self)),
       "mH": property(adjoint)})

from .join import cat, stack  # noqa: E402,F401  (their old home; they live in join.py)
