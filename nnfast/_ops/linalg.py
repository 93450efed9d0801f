"""Matrix products and friends: mm, bmm, mv, dot, vdot, inner, outer/ger, addmm, addmv,
addr, baddbmm, addbmm (and their in-place twins), einsum, tensordot, trace, kron, cross,
cdist, and the vector/matrix norms behind torch.norm and nnfast.linalg.

float32 matrix products run on the compiled GEMM (arith._mm_2d; bmm loops over it per
batch); other dtypes on NumPy. Compositions (addmm = beta*input + alpha*mm ...) are built
from differentiable ops, so their gradients follow.
"""
import numbers

import numpy as np

from ..tensor import Tensor, float32
from .arith import _gemm_batched, _mm_2d, abs as _abs, add, lowp_of, matmul, mul
from .core import (_as_tensor, _bind, _result, _unary, _unbroadcast, as_array, asarray_on,
                   host_only, zeros_on)
from .dims import expand_reduced, norm_dim, norm_dims, write_out


def _same_dtype(a, b, who="expected m1 and m2 to have the same dtype"):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{who}, but got: {_w(a.dtype)} != {_w(b.dtype)}")


def _w(dt):
    return {"float32": "float", "float64": "double", "int64": "long int",
            "int32": "int"}.get(str(dt), str(dt))


def _mm_node(a, b, out_arr, name, lp=False):
    ad, bd = a._storage, b._storage

    def backward(g):
        return (_mm_2d(g, bd, tb=True, lp=lp) if a.requires_grad else None,
                _mm_2d(ad, g, ta=True, lp=lp) if b.requires_grad else None)
    return _result(out_arr, (a, b), backward, name, saved=(a, b))


def mm(input, mat2, *, out=None):
    a, b = _as_tensor(input, "mm"), _as_tensor(mat2, "mm")
    if a.ndim != 2:
        raise RuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise RuntimeError("mat2 must be a matrix")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x"
                           f"{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    _same_dtype(a, b)
    lp = lowp_of(a._storage, b._storage)
    return write_out(out, _mm_node(a, b, _mm_2d(a._storage, b._storage, lp=lp), "Mm", lp),
                     "mm", (a, b))


def _bmm_arr(x, y, tx=False, ty=False, lp=False):
    if x.dtype == float32 and y.dtype == float32:
        return _gemm_batched(x, y, tx, ty, lp)
    return np.matmul(np.swapaxes(x, 1, 2) if tx else x, np.swapaxes(y, 1, 2) if ty else y)


def bmm(input, mat2, *, out=None):
    a, b = _as_tensor(input, "bmm"), _as_tensor(mat2, "bmm")
    if a.ndim != 3:
        raise RuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise RuntimeError("batch2 must be a 3D tensor")
    if b.shape[0] != a.shape[0] or b.shape[1] != a.shape[2]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, "
                           f"{b.shape[1]}].")
    _same_dtype(a, b, "expected scalar type")
    ad, bd = a._storage, b._storage
    lp = lowp_of(ad, bd)
    res = _bmm_arr(ad, bd, lp=lp) if ad.shape[0] else \
        zeros_on(ad, (0, ad.shape[1], bd.shape[2]), ad.dtype)

    def backward(g):
        return (_bmm_arr(g, bd, ty=True, lp=lp) if a.requires_grad else None,
                _bmm_arr(ad, g, tx=True, lp=lp) if b.requires_grad else None)
    return write_out(out, _result(res, (a, b), backward, "Bmm", saved=(a, b)), "bmm", (a, b))


def mv(input, vec, *, out=None):
    a, v = _as_tensor(input, "mv"), _as_tensor(vec, "mv")
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {a.ndim}, {v.ndim}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"size mismatch, got input ({a.shape[0]}), mat ({a.shape[0]}x"
                           f"{a.shape[1]}), vec ({v.shape[0]})")
    _same_dtype(a, v)
    return write_out(out, matmul(a, v), "mv", (a, v))


def _vec_pair(a, b, who):
    a, b = _as_tensor(a, who), _as_tensor(b, who)
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    if a.dtype != b.dtype:
        raise RuntimeError(f"{who} : expected both vectors to have same dtype, but found "
                           f"{_w(a.dtype)} and {_w(b.dtype)}")
    return a, b


def dot(input, other, *, out=None):
    a, b = _vec_pair(input, other, "dot")
    ad, bd = a._storage, b._storage
    res = as_array(np.dot(ad, bd), ad.dtype)
    return write_out(out, _result(res, (a, b), lambda g: (g * bd, g * ad), "Dot",
                                  saved=(a, b)), "dot", (a, b))


def vdot(input, other, *, out=None):
    a, b = _vec_pair(input, other, "vdot")
    if a.dtype.kind == "c":
        a = Tensor._make(np.conj(a._storage))
    return dot(a, b, out=out)


def inner(input, other, *, out=None):
    a, b = _as_tensor(input, "inner"), _as_tensor(other, "inner")
    if a.ndim == 0 or b.ndim == 0:
        return write_out(out, mul(a, b), "inner", (a, b))
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner() the last dimension must match on both input tensors but "
                           f"got shapes {list(a.shape)} and {list(b.shape)}")
    return write_out(out, tensordot(a, b, ([-1], [-1])), "inner", (a, b))


def outer(input, vec2, *, out=None):
    a, b = _as_tensor(input, "outer"), _as_tensor(vec2, "outer")
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got {a.ndim}-D and {b.ndim}-D")
    ad, bd = a._storage, b._storage
    res = ad[:, None] * bd[None, :]   # np.multiply.outer, on any device
    return write_out(out, _result(res, (a, b), lambda g: (g @ bd, g.T @ ad), "Outer",
                                  saved=(a, b)), "outer", (a, b))


ger = outer


def _scaled(t, s):
    return t if s == 1 else mul(t, s)


def _affine(input, prod, beta, alpha):
    """beta * input + alpha * prod; with beta == 0 input is ignored (NaN too), as in torch."""
    if beta == 0:
        # input is ignored (a NaN in it too) but still gets its zero gradient, as in torch
        p = _scaled(prod, alpha)
        shape = np.broadcast_shapes(input.shape, p.shape)
        res = np.broadcast_to(p._storage, shape).copy()
        return _result(res, (input, p), lambda g: (zeros_on(g, input.shape, input.dtype),
                                                    _unbroadcast(g, p.shape)), "AddmmBeta0")
    return add(_scaled(input, beta), _scaled(prod, alpha))


def addmm(input, mat1, mat2, *, beta=1, alpha=1, out=None):
    input = _as_tensor(input, "addmm")
    return write_out(out, _affine(input, mm(mat1, mat2), beta, alpha), "addmm",
                     (input, mat1, mat2))


def addmv(input, mat, vec, *, beta=1, alpha=1, out=None):
    input = _as_tensor(input, "addmv")
    return write_out(out, _affine(input, mv(mat, vec), beta, alpha), "addmv", (input, mat, vec))


def addr(input, vec1, vec2, *, beta=1, alpha=1, out=None):
    input = _as_tensor(input, "addr")
    return write_out(out, _affine(input, outer(vec1, vec2), beta, alpha), "addr",
                     (input, vec1, vec2))


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    input = _as_tensor(input, "baddbmm")
    return write_out(out, _affine(input, bmm(batch1, batch2), beta, alpha), "baddbmm",
                     (input, batch1, batch2))


def addbmm(input, batch1, batch2, *, beta=1, alpha=1, out=None):
    from .reduce import sum as _sum
    input = _as_tensor(input, "addbmm")
    return write_out(out, _affine(input, _sum(bmm(batch1, batch2), 0), beta, alpha), "addbmm",
                     (input, batch1, batch2))


# ------------------------------------------------------------------ einsum

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _parse_einsum(eq, ops):
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(ops):
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation" if len(ops) > len(subs) else
                           "einsum(): fewer operands were provided than specified in the "
                           "equation")
    used = set(c for c in eq if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    ell_n = 0
    for s, op in zip(subs, ops):
        if "..." in s:
            ell_n = max(ell_n, op.ndim - (len(s) - 3))
    ell = "".join(free[:ell_n])
    out_subs = []
    for s, op in zip(subs, ops):
        if "..." in s:
            k = op.ndim - (len(s) - 3)
            s = s.replace("...", ell[ell_n - k:] if k else "")
        if len(s) != op.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s)}) "
                               f"does not match the number of dimensions ({op.ndim}) for "
                               "operand " + str(len(out_subs)) + " and no ellipsis was given")
        out_subs.append(s)
    if arrow:
        rhs = rhs.replace("...", ell)
    else:
        letters = "".join(out_subs)
        rhs = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                   and c not in ell))
    sizes = {}
    for i, (s, op) in enumerate(zip(out_subs, ops)):
        for c, n in zip(s, op.shape):
            if c in sizes and n != sizes[c] and n != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {i} which "
                                   f"does not broadcast with previously seen size {sizes[c]}")
            sizes[c] = max(sizes.get(c, 1), n) if c in sizes else n
    return out_subs, rhs, sizes


def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ops = [_as_tensor(o, "einsum") for o in operands]
    subs, rhs, sizes = _parse_einsum(equation, ops)
    arrs = [o._storage for o in ops]
    res = as_array(np.einsum(",".join(subs) + "->" + rhs, *arrs, optimize=len(ops) > 2))

    def backward(g):
        grads = []
        for i, (s, o) in enumerate(zip(subs, ops)):
            if not o.requires_grad:
                grads.append(None)
                continue
            others = [(subs[j], arrs[j]) for j in range(len(ops)) if j != i]
            avail = set(rhs) | set("".join(t for t, _ in others))
            uniq = "".join(dict.fromkeys(c for c in s if c in avail))
            eq = ",".join([rhs] + [t for t, _ in others]) + "->" + uniq
            gi = np.einsum(eq, g, *[a for _, a in others], optimize=len(others) > 1)
            # letters only in this operand were summed away: broadcast them back
            full = "".join(dict.fromkeys(s))
            shape_full = tuple(sizes[c] for c in full)
            gi = np.broadcast_to(np.expand_dims(gi, tuple(k for k, c in enumerate(full)
                                                          if c not in uniq))
                                 if len(full) != len(uniq) else gi, shape_full)
            if len(full) != len(s):   # repeated subscripts: the gradient lies on a diagonal
                host_only("einsum with a repeated subscript", g)
                z = np.zeros(tuple(sizes[c] for c in s), g.dtype)
                np.einsum(s + "->" + full, z)[...] = gi
                gi = z
            gi = _unbroadcast_same_ndim(gi, o.shape)
            grads.append(gi.astype(o.dtype))
        return tuple(grads)
    return _result(res, tuple(ops), backward, "Einsum", saved=tuple(ops))


def _unbroadcast_same_ndim(g, shape):
    axes = tuple(k for k, (a, b) in enumerate(zip(g.shape, shape)) if b == 1 and a != 1)
    if axes:
        return g.sum(axis=axes, keepdims=True)
    return g if g.flags.c_contiguous else g.copy()   # C order on any device, 0-d stays 0-d


def tensordot(a, b, dims=2, out=None):
    a, b = _as_tensor(a, "tensordot"), _as_tensor(b, "tensordot")
    if isinstance(dims, Tensor):
        dims = dims.tolist()
    if isinstance(dims, numbers.Integral):
        if dims < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={dims}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, numbers.Integral) else list(da)
        db = [db] if isinstance(db, numbers.Integral) else list(db)
    da = [norm_dim(d, a.ndim) for d in da]
    db = [norm_dim(d, b.ndim) for d in db]
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    la = _LETTERS[:a.ndim]
    lb = list(_LETTERS[a.ndim:a.ndim + b.ndim])
    for x, y in zip(da, db):
        if a.shape[x] != b.shape[y]:
            raise RuntimeError(f"contracted dimensions need to match, but first has size "
                               f"{a.shape[x]} in dim {x} and second has size {b.shape[y]} in "
                               f"dim {y}")
        lb[y] = la[x]
    lb = "".join(lb)
    rhs = "".join(c for i, c in enumerate(la) if i not in da) + \
        "".join(c for i, c in enumerate(lb) if i not in db)
    return write_out(out, einsum(f"{la},{lb}->{rhs}", a, b), "tensordot", (a, b))


def trace(x):
    if x.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x.ndim}")
    xd = x._storage
    dt = xd.dtype if xd.dtype.kind in "fc" else np.dtype(np.int64)
    res = as_array(np.trace(xd) if xd.__class__ is np.ndarray else np.diag(xd).sum(dtype=dt), dt)
    shape = x.shape

    def backward(g):
        return (asarray_on(g, np.eye(shape[0], shape[1], dtype=x.dtype)) * g,)
    return _unary(x, res, backward, "Trace")


def kron(a, b, *, out=None):
    a, b = _as_tensor(a, "kron"), _as_tensor(b, "kron")
    n = max(a.ndim, b.ndim)
    ad = a._storage.reshape((1,) * (n - a.ndim) + a.shape)
    bd = b._storage.reshape((1,) * (n - b.ndim) + b.shape)
    inter = []
    for s, t in zip(ad.shape, bd.shape):
        inter += [s, t]
    ea = ad.reshape([v for s in ad.shape for v in (s, 1)])
    eb = bd.reshape([v for s in bd.shape for v in (1, s)])
    res = (ea * eb).reshape([s * t for s, t in zip(ad.shape, bd.shape)])

    def backward(g):
        gr = g.reshape(inter)
        ga = (gr * eb).sum(axis=tuple(range(1, 2 * n, 2))).reshape(a.shape) \
            if a.requires_grad else None
        gb = (gr * ea).sum(axis=tuple(range(0, 2 * n, 2))).reshape(b.shape) \
            if b.requires_grad else None
        return ga, gb
    return write_out(out, _result(res, (a, b), backward, "Kron", saved=(a, b)), "kron", (a, b))


def _cross(a, b, d):
    """np.cross along axis d on any device: (a1 b2 - a2 b1, a2 b0 - a0 b2, a0 b1 - a1 b0),
    the products NumPy's cross forms, from the operands rolled along d."""
    if a.__class__ is np.ndarray and b.__class__ is np.ndarray:
        return np.cross(a, b, axis=d)
    return np.roll(a, -1, d) * np.roll(b, -2, d) - np.roll(a, -2, d) * np.roll(b, -1, d)


def cross(input, other, dim=None, *, out=None):
    a, b = _as_tensor(input, "cross"), _as_tensor(other, "cross")
    if a.ndim != b.ndim:
        raise RuntimeError("linalg.cross: inputs must have the same number of dimensions.")
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    if dim is None:   # torch.cross's old default: the first dimension of size 3
        dim = next((i for i, s in enumerate(shape) if s == 3), None)
        if dim is None:
            raise RuntimeError("no dimension of size 3 in input")
    d = norm_dim(dim, len(shape))
    if a.shape[d] != 3 or b.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                           f"{a.shape[d]} and {b.shape[d]}")
    ad, bd = a._storage, b._storage
    res = _cross(ad, bd, d)

    def backward(g):
        return (_unbroadcast(_cross(bd, g, d), a.shape) if a.requires_grad else None,
                _unbroadcast(_cross(g, ad, d), b.shape) if b.requires_grad else None)
    return write_out(out, _result(res, (a, b), backward, "Cross", saved=(a, b)),
                     "cross", (a, b))


def cdist(x1, x2, p=2.0, compute_mode=None):
    """Pairwise p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M)."""
    from .shape import unsqueeze
    x1, x2 = _as_tensor(x1, "cdist"), _as_tensor(x2, "cdist")
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors, X1 got: {x1.ndim}D" if
                           x1.ndim < 2 else f"cdist only supports at least 2D tensors, X2 got: "
                           f"{x2.ndim}D")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]}")
    if p < 0:
        raise RuntimeError("cdist only supports non-negative p values")
    from .arith import sub
    return vector_norm(sub(unsqueeze(x1, -2), unsqueeze(x2, -3)), p, -1)


# ------------------------------------------------------------------ norms

def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, out=None):
    x = _as_tensor(x, "vector_norm")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor "
                           f"as input. Got {_word(x.dtype)}")
    if dtype is not None:
        x = x.type(dtype)
    xd = x._storage
    axes = norm_dims(dim, x.ndim)
    p = float(ord)
    ax = np.abs(xd)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if p == np.inf or p == -np.inf:
            if xd.size == 0:
                raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty "
                                   "tensor because the operation does not have an identity")
            res = (np.max if p > 0 else np.min)(ax, axis=axes, keepdims=keepdim)
        elif p == 0:
            res = (ax != 0).sum(axis=axes, keepdims=keepdim).astype(xd.dtype)
        elif p == 1:
            res = ax.sum(axis=axes, keepdims=keepdim)
        elif p == 2:
            res = np.sqrt((ax * ax).sum(axis=axes, keepdims=keepdim))
        else:
            res = np.power(np.power(ax, p).sum(axis=axes, keepdims=keepdim), 1.0 / p)
    res = as_array(res, xd.dtype)
    shape = x.shape

    def backward(g):
        n = expand_reduced(res, shape, axes, keepdim)
        gg = expand_reduced(g, shape, axes, keepdim)
        with np.errstate(divide="ignore", invalid="ignore"):
            if p == 0:
                gx = zeros_on(xd, shape, xd.dtype)
            elif p == 1:
                gx = np.sign(xd) * gg
            elif p == 2:
                gx = np.where(n == 0, 0, xd / n) * gg
            elif p == np.inf or p == -np.inf:
                mask = ax == n
                gx = np.sign(xd) * mask / mask.sum(axis=axes, keepdims=True) * gg
            else:
                gx = np.where(n == 0, 0, np.sign(xd) * np.power(ax, p - 1) /
                              np.power(n, p - 1)) * gg
        return (gx.astype(xd.dtype),)
    return write_out(out, _unary(x, res, backward, "LinalgVectorNorm", saved=(x,)),
                     "linalg.vector_norm", (x,))


def _word(dt):
    return {"i": "Long", "u": "Byte", "b": "Bool"}.get(dt.kind, str(dt))


def _svd_norm(x, ord, d0, d1, keepdim):
    """'nuc' (sum of singular values) or +-2 (largest / smallest) over dims d0, d1."""
    host_only("the 'nuc' and 2-norms of matrices (an SVD)", x._storage)
    xd = np.moveaxis(x._storage, (d0, d1), (-2, -1))
    u, s, vh = np.linalg.svd(xd, full_matrices=False)
    if ord == "nuc":
        res = s.sum(-1)
    else:
        k = 0 if ord == 2 else -1
        res = s[..., k]
    shape = x.shape

    def backward(g):
        if ord == "nuc":
            gm = g[..., None, None] * (u @ vh)
        else:
            k = 0 if ord == 2 else s.shape[-1] - 1
            gm = g[..., None, None] * (u[..., :, k:k + 1] @ vh[..., k:k + 1, :])
        return (np.moveaxis(gm, (-2, -1), (d0, d1)).astype(x.dtype).reshape(shape),)
    if keepdim:
        res_k = np.expand_dims(res, (min(d0, d1), max(d0, d1)))
        r = _unary(x, as_array(res_k, x.dtype), lambda g: backward(
            np.squeeze(g, (min(d0, d1), max(d0, d1)))), "LinalgMatrixNorm", saved=(x,))
        return r
    return _unary(x, as_array(res, x.dtype), backward, "LinalgMatrixNorm", saved=(x,))


def matrix_norm(x, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    from .reduce import amax, amin, sum as _sum
    x = _as_tensor(x, "matrix_norm")
    if x.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.matrix_norm: Expected a floating point or complex tensor "
                           f"as input. Got {_word(x.dtype)}")
    if dtype is not None:
        x = x.type(dtype)
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError("linalg.matrix_norm: dim must be a 2-tuple. Got " + str(dim))
    d0, d1 = norm_dim(dim[0], x.ndim), norm_dim(dim[1], x.ndim)
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if ord == "fro":
        r = vector_norm(x, 2, (d0, d1), keepdim)
    elif ord in ("nuc", 2, -2):
        r = _svd_norm(x, ord, d0, d1, keepdim)
    elif ord in (1, -1, np.inf, -np.inf):
        # 1: largest column sum of |x|; inf: largest row sum
        sum_dim, ext_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        s = _sum(_abs(x), sum_dim, keepdim=True)
        r = (amax if ord > 0 else amin)(s, ext_dim, keepdim=True)
        if not keepdim:
            from .shape import squeeze
            r = squeeze(r, (d0, d1))
    else:
        raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    return write_out(out, r, "linalg.matrix_norm", (x,))


def linalg_norm(x, ord=None, dim=None, keepdim=False, *, dtype=None, out=None):
    x = _as_tensor(x, "linalg.norm")
    if dim is not None and not isinstance(dim, (tuple, list)):
        dim = (dim,)
    if ord is None:
        if dim is not None and len(dim) == 2:
            r = matrix_norm(x, "fro", dim, keepdim, dtype=dtype)
        else:
            r = vector_norm(x, 2, dim, keepdim, dtype=dtype)
    elif dim is None:
        if x.ndim == 1:
            r = vector_norm(x, ord, None, keepdim, dtype=dtype)
        elif x.ndim == 2:
            r = matrix_norm(x, ord, (-2, -1), keepdim, dtype=dtype)
        else:
            raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input "
                               f"must be 1D or 2D. Got {x.ndim}D.")
    elif len(dim) == 1:
        if isinstance(ord, str):
            raise RuntimeError(f"linalg.vector_norm: ord must be a number, got {ord}")
        r = vector_norm(x, ord, dim, keepdim, dtype=dtype)
    elif len(dim) == 2:
        r = matrix_norm(x, ord, dim, keepdim, dtype=dtype)
    else:
        raise RuntimeError("linalg.norm: If dim is specified, it must be of length 1 or 2. Got "
                           + str(list(dim)))
    return write_out(out, r, "linalg.norm", (x,))


_bind({"mm": mm, "bmm": bmm, "mv": mv, "dot": dot, "vdot": vdot, "inner": inner,
       "outer": outer, "ger": ger, "addmm": lambda self, m1, m2, *, beta=1, alpha=1:
           addmm(self, m1, m2, beta=beta, alpha=alpha),
       "addmv": lambda self, m, v, *, beta=1, alpha=1: addmv(self, m, v, beta=beta, alpha=alpha),
       "addr": lambda self, a, b, *, beta=1, alpha=1: addr(self, a, b, beta=beta, alpha=alpha),
       "baddbmm": lambda self, a, b, *, beta=1, alpha=1:
           baddbmm(self, a, b, beta=beta, alpha=alpha),
       "addbmm": lambda self, a, b, *, beta=1, alpha=1:
           addbmm(self, a, b, beta=beta, alpha=alpha),
       "addmm_": lambda self, m1, m2, *, beta=1, alpha=1:
           self._inplace(addmm, m1, m2, beta=beta, alpha=alpha),
       "tensordot": tensordot, "trace": trace, "kron": kron, "cross": cross,
       "addmv_": lambda self, m, v, *, beta=1, alpha=1:
           self._inplace(addmv, m, v, beta=beta, alpha=alpha),
       "addr_": lambda self, a, b, *, beta=1, alpha=1:
           self._inplace(addr, a, b, beta=beta, alpha=alpha),
       "baddbmm_": lambda self, a, b, *, beta=1, alpha=1:
           self._inplace(baddbmm, a, b, beta=beta, alpha=alpha),
       "addbmm_": lambda self, a, b, *, beta=1, alpha=1:
           self._inplace(addbmm, a, b, beta=beta, alpha=alpha)})
