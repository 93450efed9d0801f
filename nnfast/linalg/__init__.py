"""nnfast.linalg: torch.linalg's norms, inverse, determinants and solve (differentiable),
and NumPy-backed decompositions (forward only: they refuse inputs that require grad rather
than return a result without a gradient).

Batched over leading dimensions like torch. Errors are RuntimeErrors (LinAlgError for a
singular matrix), never NumPy's LinAlgError.
"""
import numpy as np

from .. import autograd as ag
from ..tensor import Tensor
from .._ops.arith import matmul
from .._ops.core import _as_tensor, _result, _unbroadcast, _unary
from .._ops.dims import return_type, write_out
from .._ops.linalg import cross as _cross, linalg_norm as norm, matrix_norm, vector_norm
from .._ops.tri import diagonal as _diagonal

__all__ = ["LinAlgError", "norm", "vector_norm", "matrix_norm", "inv", "inv_ex", "det",
           "slogdet", "solve", "cross", "matmul", "multi_dot", "matrix_power", "vecdot",
           "diagonal", "cholesky", "qr", "eigh", "eigvalsh", "svd", "svdvals", "pinv",
           "matrix_rank", "eigvals", "cond"]

_state = ag._state


class LinAlgError(RuntimeError):
    """A singular or otherwise unsuitable matrix (torch.linalg.LinAlgError)."""


def _square(x, who):
    x = _as_tensor(x, who)
    if x.ndim < 2:
        raise RuntimeError(f"{who}: The input tensor A must have at least 2 dimensions.")
    if x.shape[-1] != x.shape[-2]:
        raise RuntimeError(f"{who}: A must be batches of square matrices, but they are "
                           f"{x.shape[-2]} by {x.shape[-1]} matrices")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"{who}: Expected a floating point or complex tensor as input. Got "
                           f"{x.dtype}")
    return x


def _mT(a):
    return np.swapaxes(a, -1, -2)


def inv(A, *, out=None):
    A = _square(A, "linalg.inv")
    try:
        res = np.linalg.inv(A._storage)
    except np.linalg.LinAlgError:
        raise LinAlgError("linalg.inv: The diagonal element is zero, the inversion could not be "
                          "completed because the input matrix is singular.") from None
    rt = _mT(res)
    r = _unary(A, res, lambda g: (-(rt @ g @ rt),), "LinalgInv", saves_output=True)
    return write_out(out, r, "linalg.inv", (A,))


def inv_ex(A, *, check_errors=False):
    A = _square(A, "linalg.inv_ex")
    try:
        return return_type("inv_ex", ("inverse", "info"))(inv(A), Tensor._make(
            np.zeros(A.shape[:-2], np.int32)))
    except LinAlgError:
        if check_errors:
            raise
        n = A.shape[-1]
        return return_type("inv_ex", ("inverse", "info"))(
            Tensor._make(np.full(A.shape, np.nan, A.dtype)),
            Tensor._make(np.full(A.shape[:-2], n, np.int32)))


def _adjugate_t(a):
    """adj(a)^T through the SVD, well defined for singular matrices too (d det / d a)."""
    u, s, vh = np.linalg.svd(a)
    n = s.shape[-1]
    prods = np.stack([np.prod(np.delete(s, i, axis=-1), axis=-1) for i in range(n)], -1) \
        if n > 1 else np.ones_like(s)
    sign = np.linalg.det(u) * np.linalg.det(vh)
    adj = _mT(vh) @ (prods[..., :, None] * _mT(u))
    return _mT(adj * sign[..., None, None])


def det(A, *, out=None):
    A = _square(A, "linalg.det")
    ad = A._storage
    res = np.asarray(np.linalg.det(ad), A.dtype)
    r = _unary(A, res, lambda g: ((np.asarray(g)[..., None, None] * _adjugate_t(ad))
                                  .astype(A.dtype),), "LinalgDet", saved=(A,))
    return write_out(out, r, "linalg.det", (A,))


def slogdet(A, *, out=None):
    A = _square(A, "linalg.slogdet")
    ad = A._storage
    sign, logabs = np.linalg.slogdet(ad)

    def backward(g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return ((np.asarray(g)[..., None, None] * _mT(np.linalg.inv(ad))).astype(A.dtype),)
    la = _unary(A, np.asarray(logabs, A.dtype), backward, "LinalgSlogdet", saved=(A,))
    res = return_type("slogdet", ("sign", "logabsdet"))(Tensor._make(np.asarray(sign, A.dtype)),
                                                         la)
    return write_out(out, res, "linalg.slogdet", (A,))


def solve(A, B, *, left=True, out=None):
    A = _square(A, "linalg.solve")
    B = _as_tensor(B, "linalg.solve")
    if not left:
        from .._ops.shape import transpose
        return write_out(out, transpose(solve(transpose(A, -1, -2), transpose(B, -1, -2)),
                                        -1, -2), "linalg.solve", (A, B))
    if A.dtype != B.dtype:
        raise RuntimeError(f"linalg.solve: Expected A and B to have the same dtype, but found "
                           f"A of type {A.dtype} and B of type {B.dtype} instead")
    ad, bd = A._storage, B._storage
    n = ad.shape[-1]
    vec = bd.ndim == 1 or (bd.ndim == ad.ndim - 1 and bd.shape == ad.shape[:-1])
    b2 = bd[..., None] if vec else bd
    if b2.shape[-2] != n:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A and B for the equation "
                           f"AX = B ({ad.shape[-2]}x{n} and {bd.shape[-2 if not vec else -1]}"
                           f"x{1 if vec else bd.shape[-1]})")
    try:
        x = np.linalg.solve(ad, b2)
    except np.linalg.LinAlgError:
        raise LinAlgError("torch.linalg.solve: The solver failed because the input matrix is "
                          "singular.") from None
    except ValueError:
        raise RuntimeError(f"linalg.solve: Incompatible shapes of A {list(A.shape)} and B "
                           f"{list(B.shape)}") from None

    def backward(g):
        g2 = g[..., None] if vec else g
        gb = np.linalg.solve(_mT(ad), g2)
        ga = -(gb @ _mT(x))
        ga = _unbroadcast(ga, A.shape).astype(A.dtype) if A.requires_grad else None
        gbo = None
        if B.requires_grad:
            gbo = _unbroadcast(gb[..., 0] if vec else gb, B.shape).astype(B.dtype)
        return ga, gbo
    r = _result(x[..., 0] if vec else x, (A, B), backward, "LinalgSolve", saved=(A, B))
    return write_out(out, r, "linalg.solve", (A, B))


def cross(input, other, *, dim=-1, out=None):
    return _cross(input, other, dim, out=out)


def multi_dot(tensors, *, out=None):
    tensors = [_as_tensor(t, "linalg.multi_dot") for t in tensors]
    if len(tensors) < 2:
        raise RuntimeError(f"multi_dot(): expected at least 2 tensors but got {len(tensors)}")
    r = tensors[0]
    for t in tensors[1:]:
        r = matmul(r, t)
    return write_out(out, r, "linalg.multi_dot", tensors)


def matrix_power(A, n, *, out=None):
    A = _as_tensor(A, "linalg.matrix_power")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise RuntimeError("linalg.matrix_power: A must be batches of square matrices")
    if n < 0:
        A, n = inv(A), -n
    if n == 0:
        eye = np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape).copy()
        return write_out(out, Tensor._make(eye), "linalg.matrix_power", (A,))
    r = A
    for _ in range(n - 1):
        r = matmul(r, A)
    return write_out(out, r, "linalg.matrix_power", (A,))


def vecdot(x, y, *, dim=-1, out=None):
    from .._ops.arith import mul
    from .._ops.reduce import sum as _sum
    return write_out(out, _sum(mul(x, y), dim), "linalg.vecdot", (x, y))


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return _diagonal(A, offset, dim1, dim2)


# ------------------------------------------------------------------ forward-only


def _forward_only(x, who):
    x = _as_tensor(x, who)
    if _state.grad_enabled and x.requires_grad:
        raise RuntimeError(f"{who}: nnfast has no derivative for this function yet; call it on "
                           "a detached tensor (x.detach()) or under no_grad()")
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"{who}: Expected a floating point or complex tensor as input. Got "
                           f"{x.dtype}")
    return x._storage


def _t(a):
    return Tensor._make(np.asarray(a))


def cholesky(A, *, upper=False, out=None):
    a = _forward_only(A, "linalg.cholesky")
    try:
        L = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        raise LinAlgError("linalg.cholesky: The factorization could not be completed because "
                          "the input is not positive-definite.") from None
    return write_out(out, _t(_mT(L).copy() if upper else L), "linalg.cholesky")


def qr(A, mode="reduced", *, out=None):
    a = _forward_only(A, "linalg.qr")
    q, r = np.linalg.qr(a, mode={"reduced": "reduced", "complete": "complete",
                                 "r": "r"}[mode]) if mode != "r" else \
        (np.zeros((0,), a.dtype), np.linalg.qr(a, mode="r"))
    return write_out(out, return_type("qr", ("Q", "R"))(_t(q), _t(r)), "linalg.qr")


def eigh(A, UPLO="L", *, out=None):
    a = _forward_only(A, "linalg.eigh")
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return write_out(out, return_type("eigh", ("eigenvalues", "eigenvectors"))(_t(w), _t(v)),
                     "linalg.eigh")


def eigvalsh(A, UPLO="L", *, out=None):
    return write_out(out, _t(np.linalg.eigvalsh(_forward_only(A, "linalg.eigvalsh"), UPLO)),
                     "linalg.eigvalsh")


def eigvals(A, *, out=None):
    return write_out(out, _t(np.linalg.eigvals(_forward_only(A, "linalg.eigvals"))
                             .astype(np.complex64 if _as_tensor(A).dtype == np.float32
                                     else np.complex128)), "linalg.eigvals")


def svd(A, full_matrices=True, *, driver=None, out=None):
    a = _forward_only(A, "linalg.svd")
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return write_out(out, return_type("svd", ("U", "S", "Vh"))(_t(u), _t(s), _t(vh)),
                     "linalg.svd")


def svdvals(A, *, driver=None, out=None):
    return write_out(out, _t(np.linalg.svd(_forward_only(A, "linalg.svdvals"),
                                           compute_uv=False)), "linalg.svdvals")


def pinv(A, *, atol=None, rtol=None, hermitian=False, out=None):
    a = _forward_only(A, "linalg.pinv")
    if rtol is None:
        rtol = max(a.shape[-2:]) * np.finfo(a.dtype).eps if atol is None else 0.0
    res = np.linalg.pinv(a, rtol=rtol, hermitian=hermitian) if atol is None else \
        np.linalg.pinv(a, rcond=max(float(atol) / max(np.linalg.svd(a, compute_uv=False)
                                                      .max(), 1e-300), rtol),
                       hermitian=hermitian)
    return write_out(out, _t(res.astype(a.dtype)), "linalg.pinv")


def matrix_rank(A, *, atol=None, rtol=None, hermitian=False, out=None):
    a = _forward_only(A, "linalg.matrix_rank")
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    smax = s.max(axis=-1, initial=0.0)
    if rtol is None:
        rtol = max(a.shape[-2:]) * np.finfo(a.dtype).eps if atol is None or atol == 0 else 0.0
    tol = np.maximum(0.0 if atol is None else atol, rtol * smax)
    return write_out(out, _t((s > tol[..., None]).sum(-1).astype(np.int64)), "linalg.matrix_rank")


def cond(A, p=None, *, out=None):
    a = _forward_only(A, "linalg.cond")
    return write_out(out, _t(np.asarray(np.linalg.cond(a, p), a.dtype)), "linalg.cond")


def logdet(A):
    """torch.logdet: log(det(A)); NaN for a negative determinant, -inf for a singular A."""
    r = slogdet(A)
    from .._ops.arith import add
    sign = r.sign._storage
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(sign < 0, np.nan, np.where(sign == 0, -np.inf, 0)).astype(sign.dtype)
    return add(r.logabsdet, Tensor._make(shift))


# the torch.X and Tensor.X spellings of these
from .._ops.core import _bind  # noqa: E402
_bind({"det": det, "inverse": inv, "logdet": logdet, "slogdet": slogdet,
       "pinverse": lambda self, rcond=1e-15: pinv(self, rtol=rcond),
       "matrix_power": matrix_power, "cholesky": lambda self, upper=False:
           cholesky(self, upper=upper)})

