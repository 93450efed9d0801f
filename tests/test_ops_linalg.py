"""Matrix products, einsum, norms and nnfast.linalg against torch: values, gradients,
batched and odd shapes, out=, and torch's errors."""
import numpy as np
import pytest
import torch

import nnfast as nf
from helpers import assert_close, check_both as check, fd_grad

F32, F64 = np.float32, np.float64
RNG = np.random.default_rng(2)


def rand(*shape, dtype=F32):
    return RNG.uniform(-2, 2, shape).astype(dtype)


def well_conditioned(*shape, dtype=F32):
    a = RNG.uniform(-1, 1, shape)
    return (a + 3 * np.eye(shape[-1])).astype(dtype)


PRODUCTS = [
    ("mm", lambda M, a, b: M.mm(a, b), [(3, 4), (4, 5)]),
    ("mm_method", lambda M, a, b: a.mm(b), [(1, 7), (7, 1)]),
    ("bmm", lambda M, a, b: M.bmm(a, b), [(3, 2, 4), (3, 4, 5)]),
    ("bmm_method", lambda M, a, b: a.bmm(b), [(1, 3, 3), (1, 3, 2)]),
    ("matmul_batched_bcast", lambda M, a, b: M.matmul(a, b), [(2, 1, 3, 4), (3, 4, 2)]),
    ("matmul_vec", lambda M, a, b: a @ b, [(3, 4), (4,)]),
    ("mv", lambda M, a, b: M.mv(a, b), [(3, 4), (4,)]),
    ("dot", lambda M, a, b: M.dot(a, b), [(5,), (5,)]),
    ("vdot", lambda M, a, b: a.vdot(b), [(5,), (5,)]),
    ("inner", lambda M, a, b: M.inner(a, b), [(2, 4), (3, 4)]),
    ("outer", lambda M, a, b: M.outer(a, b), [(3,), (4,)]),
    ("ger", lambda M, a, b: a.ger(b), [(3,), (2,)]),
    ("addmm", lambda M, c, a: M.addmm(c, a, a.t()), [(3,), (3, 4)]),
    ("addmm_scaled", lambda M, c, a: c.addmm(a, a.t(), beta=0.5, alpha=-2), [(3, 3), (3, 4)]),
    ("addmm_beta0", lambda M, c, a: M.addmm(c, a, a.t(), beta=0), [(3, 3), (3, 4)]),
    ("addmv", lambda M, c, a: M.addmv(c, a, a[0], alpha=3), [(2,), (2, 3)]),
    ("addr", lambda M, c, a: M.addr(c, a, a, beta=2), [(3, 3), (3,)]),
    ("baddbmm", lambda M, c, a: M.baddbmm(c, a, a.transpose(1, 2), alpha=0.5),
     [(2, 3, 3), (2, 3, 4)]),
    ("addbmm", lambda M, c, a: M.addbmm(c, a, a.transpose(1, 2)), [(3, 3), (2, 3, 4)]),
    ("tensordot", lambda M, a, b: M.tensordot(a, b, dims=([1, 0], [0, 2])),
     [(3, 2, 4), (2, 5, 3)]),
    ("tensordot_int", lambda M, a, b: M.tensordot(a, b, 1), [(3, 4), (4, 2)]),
    ("kron", lambda M, a, b: M.kron(a, b), [(2, 3), (3, 2)]),
    ("kron_mixed_ndim", lambda M, a, b: a.kron(b), [(2,), (2, 3)]),
    ("cross", lambda M, a, b: M.cross(a, b, dim=1), [(4, 3), (4, 3)]),
    ("cross_default_dim", lambda M, a, b: a.cross(b), [(3, 2), (3, 2)]),
    ("linalg_cross_bcast", lambda M, a, b: M.linalg.cross(a, b), [(2, 3), (1, 3)]),
    ("multi_dot", lambda M, a, b: M.linalg.multi_dot([a, b, b.t()]), [(2, 3), (3, 4)]),
    ("vecdot", lambda M, a, b: M.linalg.vecdot(a, b), [(2, 3), (2, 3)]),
]


@pytest.mark.parametrize("name,f,shapes", PRODUCTS, ids=[p[0] for p in PRODUCTS])
def test_products(name, f, shapes):
    check(f, *[rand(*s) for s in shapes], atol=1e-4)
    check(f, *[rand(*s, dtype=F64) for s in shapes], atol=1e-10, rtol=1e-10)


EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk", [(3, 4), (4, 2)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(3, 3)]),
    ("ij->", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,i->", [(5,), (5,)]),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
    ("b...,b->...", [(2, 3, 4), (2,)]),
    ("ijk,k->ij", [(2, 3, 4), (4,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("iij->j", [(3, 3, 2)]),
    ("ij,kj->ikj", [(2, 3), (4, 3)]),
    ("ab, bc -> ca", [(2, 3), (3, 4)]),
    ("ij,ij->i", [(1, 3), (4, 3)]),
    ("->", [()]),
    (",->", [(), ()]),
    ("i,->i", [(3,), ()]),
    ("eed,ba,->bad", [(2, 2, 3), (4, 1), ()]),
]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(eq, shapes):
    check(lambda M, *a: M.einsum(eq, *a), *[rand(*s) for s in shapes], atol=1e-4)
    check(lambda M, *a: M.einsum(eq, list(a)), *[rand(*s, dtype=F64) for s in shapes],
          atol=1e-10, rtol=1e-10)


def test_trace():
    check(lambda M, a: M.trace(a), rand(3, 4))
    check(lambda M, a: a.trace(), rand(4, 4, dtype=F64))
    t = torch.trace(torch.arange(9).reshape(3, 3))
    n = nf.trace(nf.arange(9).reshape(3, 3))
    assert n.dtype == np.int64 and n.item() == t.item()


# ------------------------------------------------------------------ norms

NORMS = [
    ("vector_default", lambda M, a: M.linalg.vector_norm(a)),
    ("vector_1", lambda M, a: M.linalg.vector_norm(a, 1, dim=1)),
    ("vector_inf", lambda M, a: M.linalg.vector_norm(a, float("inf"), dim=(0, 2))),
    ("vector_neginf", lambda M, a: M.linalg.vector_norm(a, -float("inf"), dim=-1)),
    ("vector_3_keep", lambda M, a: M.linalg.vector_norm(a, 3, dim=0, keepdim=True)),
    ("vector_half", lambda M, a: M.linalg.vector_norm(a, 0.5, dim=2)),
    ("vector_0", lambda M, a: M.linalg.vector_norm(a, 0, dim=2)),
    ("vector_dtype", lambda M, a: M.linalg.vector_norm(a, dtype=M.float64)),
    ("matrix_fro", lambda M, a: M.linalg.matrix_norm(a)),
    ("matrix_nuc", lambda M, a: M.linalg.matrix_norm(a, "nuc")),
    ("matrix_2", lambda M, a: M.linalg.matrix_norm(a, 2, dim=(0, 2))),
    ("matrix_neg2", lambda M, a: M.linalg.matrix_norm(a, -2)),
    ("matrix_1", lambda M, a: M.linalg.matrix_norm(a, 1)),
    ("matrix_neg1_keep", lambda M, a: M.linalg.matrix_norm(a, -1, keepdim=True)),
    ("matrix_inf_dims", lambda M, a: M.linalg.matrix_norm(a, float("inf"), dim=(2, 0))),
    ("matrix_nuc_keep", lambda M, a: M.linalg.matrix_norm(a, "nuc", keepdim=True)),
    ("norm_default", lambda M, a: M.linalg.norm(a)),
    ("norm_dim1", lambda M, a: M.linalg.norm(a, dim=1)),
    ("norm_dim2", lambda M, a: M.linalg.norm(a, dim=(1, 2))),
    ("norm_ord_vec", lambda M, a: M.linalg.norm(a, 3, dim=-1)),
    ("norm_ord_mat", lambda M, a: M.linalg.norm(a, "fro", dim=(0, 1))),
    ("norm_2d", lambda M, a: M.linalg.norm(a[0], 2)),
    ("norm_1d", lambda M, a: M.linalg.norm(a[0, 0], 1)),
    ("torch_norm_nuc", lambda M, a: M.norm(a, "nuc", dim=(1, 2))),
]


@pytest.mark.parametrize("name,f", NORMS, ids=[n for n, _ in NORMS])
def test_norms(name, f):
    grad = name != "vector_0"   # torch's ord=0 gradient has a broken shape; ours is zeros
    check(f, rand(2, 3, 4), atol=1e-4, rtol=1e-4, grad=grad)
    check(f, rand(2, 3, 4, dtype=F64), atol=1e-9, rtol=1e-9, grad=grad)


def test_norm_at_zero_has_zero_gradient_like_torch():
    check(lambda M, a: M.linalg.vector_norm(a, dim=1), np.zeros((2, 3), F32))
    check(lambda M, a: M.linalg.vector_norm(a, 3), np.zeros((2, 3), F32))


# ------------------------------------------------------------------ inverse, det, solve

@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_inv_det_slogdet(shape):
    a = well_conditioned(*shape, dtype=F64)
    check(lambda M, x: M.linalg.inv(x), a, atol=1e-9, rtol=1e-9)
    check(lambda M, x: M.linalg.det(x), a, atol=1e-9, rtol=1e-9)
    check(lambda M, x: M.linalg.slogdet(x).logabsdet, a, atol=1e-9, rtol=1e-9)
    check(lambda M, x: M.linalg.inv(x), a.astype(F32), atol=1e-4)
    sign_t = torch.linalg.slogdet(torch.from_numpy(-a)).sign
    np.testing.assert_array_equal(nf.linalg.slogdet(nf.tensor(-a)).sign.numpy(), sign_t.numpy())


def test_det_of_singular_matrix_gradient_is_the_adjugate():
    # torch 2.13 returns zeros here; the derivative of det is the adjugate's transpose,
    # which finite differences confirm (nonzero for a rank n-1 matrix)
    a = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, 1.0, -1.0]], F64)
    x = nf.tensor(a, requires_grad=True)
    nf.linalg.det(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), fd_grad(np.linalg.det, a.copy()), atol=1e-6)
    assert np.abs(x.grad.numpy()).max() > 1


@pytest.mark.parametrize("ashape,bshape", [((3, 3), (3, 2)), ((3, 3), (3,)), ((2, 3, 3), (2, 3, 1)),
                                           ((2, 3, 3), (3, 4)), ((2, 3, 3), (2, 3))])
def test_solve(ashape, bshape):
    a, b = well_conditioned(*ashape, dtype=F64), rand(*bshape, dtype=F64)
    check(lambda M, x, y: M.linalg.solve(x, y), a, b, atol=1e-9, rtol=1e-9)


def test_solve_left_false():
    a, b = well_conditioned(3, 3, dtype=F64), rand(2, 3, dtype=F64)
    check(lambda M, x, y: M.linalg.solve(x, y, left=False), a, b, atol=1e-9, rtol=1e-9)


def test_matrix_power():
    a = well_conditioned(3, 3, dtype=F64) / 3
    for n in (0, 1, 3, -2):
        t = torch.linalg.matrix_power(torch.from_numpy(a), n)
        assert_close(nf.linalg.matrix_power(nf.tensor(a), n), t, atol=1e-9)
    check(lambda M, x: M.linalg.matrix_power(x, 3), a, atol=1e-9)


def test_forward_only_decompositions():
    a = well_conditioned(4, 4, dtype=F64)
    spd = a @ a.T
    ta, ts = torch.from_numpy(a), torch.from_numpy(spd)
    na, ns = nf.tensor(a), nf.tensor(spd)
    assert_close(nf.linalg.cholesky(ns), torch.linalg.cholesky(ts), atol=1e-9)
    assert_close(nf.linalg.cholesky(ns, upper=True), torch.linalg.cholesky(ts, upper=True),
                 atol=1e-9)
    assert_close(nf.linalg.eigvalsh(ns), torch.linalg.eigvalsh(ts), atol=1e-9)
    assert_close(nf.linalg.svdvals(na), torch.linalg.svdvals(ta), atol=1e-9)
    assert_close(nf.linalg.pinv(na), torch.linalg.pinv(ta), atol=1e-9)
    assert nf.linalg.matrix_rank(na).item() == torch.linalg.matrix_rank(ta).item()
    q, r = nf.linalg.qr(na)
    assert_close(q @ r, a, atol=1e-9)
    u, s, vh = nf.linalg.svd(na, full_matrices=False)
    assert_close((u * s) @ vh, a, atol=1e-9)
    w, v = nf.linalg.eigh(ns)
    assert_close(w, torch.linalg.eigh(ts).eigenvalues, atol=1e-9)
    with pytest.raises(RuntimeError, match="derivative"):
        nf.linalg.svd(nf.tensor(a, requires_grad=True))
    with pytest.raises(nf.linalg.LinAlgError):
        nf.linalg.cholesky(nf.tensor(-spd))


# ------------------------------------------------------------------ compiled path, out=

def test_float32_products_use_compiled_gemm_and_match_float64():
    a, b = rand(4, 33, 17), rand(4, 17, 9)
    r32 = nf.bmm(nf.tensor(a), nf.tensor(b)).numpy()
    np.testing.assert_allclose(r32, np.matmul(a.astype(F64), b.astype(F64)), rtol=1e-4,
                               atol=1e-4)
    assert r32.dtype == F32
    x = nf.tensor(a[0][:, :5].T.copy().T)   # non-contiguous operand
    np.testing.assert_allclose(nf.mm(x, nf.tensor(b[0][:5])).numpy(),
                               a[0][:, :5] @ b[0][:5], rtol=1e-4, atol=1e-4)


def test_out_argument():
    a, b = rand(3, 4), rand(4, 2)
    out = nf.empty(0)
    r = nf.mm(nf.tensor(a), nf.tensor(b), out=out)
    assert r is out
    assert_close(out, a @ b, atol=1e-5)
    out = nf.empty(())
    nf.linalg.vector_norm(nf.tensor(a), out=out)
    assert_close(out, np.linalg.norm(a), atol=1e-5)


ERRORS = [
    lambda M: M.mm(M.zeros(2, 3), M.zeros(4, 5)), lambda M: M.mm(M.zeros(3), M.zeros(3, 5)),
    lambda M: M.mm(M.zeros(2, 3), M.zeros(3, 5, dtype=M.float64)),
    lambda M: M.bmm(M.zeros(2, 2, 3), M.zeros(3, 3, 5)),
    lambda M: M.bmm(M.zeros(2, 3), M.zeros(2, 3)),
    lambda M: M.dot(M.zeros(3), M.zeros(4)), lambda M: M.dot(M.zeros(3, 1), M.zeros(3, 1)),
    lambda M: M.mv(M.zeros(2, 3), M.zeros(4)), lambda M: M.outer(M.zeros(2, 2), M.zeros(2)),
    lambda M: M.einsum("ij,jk", M.zeros(2, 3), M.zeros(4, 5)),
    lambda M: M.einsum("ij", M.zeros(2, 3, 4)), lambda M: M.einsum("ij,jk", M.zeros(2, 3)),
    lambda M: M.linalg.inv(M.zeros(2, 2)), lambda M: M.linalg.inv(M.zeros(2, 3)),
    lambda M: M.linalg.solve(M.zeros(2, 2), M.ones(2)),
    lambda M: M.linalg.vector_norm(M.arange(3)), lambda M: M.linalg.norm(M.zeros(2, 2, 2), 2),
    lambda M: M.linalg.matrix_norm(M.zeros(3)), lambda M: M.linalg.matrix_norm(M.zeros(2, 2), 3),
    lambda M: M.cross(M.zeros(2, 3), M.zeros(2, 3), dim=0), lambda M: M.trace(M.zeros(3)),
    lambda M: M.tensordot(M.zeros(2, 3), M.zeros(4, 5), 1), lambda M: M.linalg.det(M.zeros(2, 3)),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_errors_like_torch(k):
    with pytest.raises(Exception) as te:
        ERRORS[k](torch)
    expected = RuntimeError if isinstance(te.value, RuntimeError) else type(te.value)
    with pytest.raises(expected) as ne:
        ERRORS[k](nf)
    assert "numpy" not in str(ne.value).lower() and "axis" not in str(ne.value).lower()


@pytest.mark.parametrize("f", [
    lambda M: M.mm(M.zeros(0, 3), M.zeros(3, 2)), lambda M: M.mm(M.zeros(2, 0), M.zeros(0, 3)),
    lambda M: M.bmm(M.zeros(0, 2, 3), M.zeros(0, 3, 4)), lambda M: M.einsum("ij->j", M.zeros(0, 3)),
    lambda M: M.linalg.vector_norm(M.zeros(0)), lambda M: M.outer(M.zeros(0), M.zeros(3)),
    lambda M: M.dot(M.zeros(0), M.zeros(0)), lambda M: M.kron(M.zeros(0, 2), M.zeros(2, 2)),
    lambda M: M.matmul(M.ones(2, 3, 0), M.ones(2, 0, 4)), lambda M: M.ones(3, 0, 2) @ M.ones(2, 4),
    lambda M: M.bmm(M.ones(2, 3, 0), M.ones(2, 0, 4)), lambda M: M.mm(M.ones(3, 0), M.ones(0, 2)),
])
def test_empty_shapes(f):
    t, n = f(torch), f(nf)
    assert n.shape == t.shape
    np.testing.assert_allclose(n.numpy(), t.numpy())


def _attention_block(M):
    """A causal-attention step written as PyTorch code, using this family's ops."""
    rng = np.random.default_rng(0)
    B, T, C, H = 2, 5, 8, 2
    x = M.tensor(rng.standard_normal((B, T, C)).astype(F32), requires_grad=True)
    w = M.tensor(rng.standard_normal((C, 3 * C)).astype(F32), requires_grad=True)
    q, k, v = (x @ w).split(C, dim=2)
    q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
    att = (q @ k.transpose(-2, -1)) * (1.0 / np.sqrt(C // H))
    mask = M.tril(M.ones(T, T)).view(1, 1, T, T)
    att = att.masked_fill(mask[:, :, :T, :T] == 0, float("-inf"))
    att = (att - att.amax(-1, keepdim=True)).exp()
    att = att / att.sum(-1, keepdim=True)
    y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
    e = M.einsum("btc,btd->bcd", y, x)
    s = M.stack([y.mean(), e.std(), M.topk(y.reshape(B, -1), 3, dim=1).values.sum(),
                 y.max(dim=1)[0].sum(), M.linalg.norm(e), y.norm(dim=-1).sum(),
                 M.cat([y, x], 1).var(1).sum(), y.flatten(1).logsumexp(1).sum()])
    idx = y.argmax(-1)
    loss = s.sum() + M.gather(y, 2, idx.unsqueeze(-1)).sum()
    loss.backward()
    return [t.detach().numpy() for t in (loss, x.grad, w.grad, idx)]


def test_attention_block_written_for_torch_runs_unchanged():
    for n, t in zip(_attention_block(nf), _attention_block(torch)):
        np.testing.assert_allclose(n, t, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ torch.X spellings, cdist

@pytest.mark.parametrize("f", [
    lambda M, a: M.det(a), lambda M, a: a.det(), lambda M, a: M.inverse(a),
    lambda M, a: a.inverse(), lambda M, a: M.logdet(a), lambda M, a: a.slogdet()[1],
    lambda M, a: M.matrix_power(a, 2), lambda M, a: a.matrix_power(3),
])
def test_torch_namespace_linalg_aliases(f):
    check(f, well_conditioned(2, 3, 3, dtype=F64), atol=1e-9, rtol=1e-9)


def test_logdet_of_negative_and_singular():
    for a in (np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros((2, 2))):
        t, n = torch.logdet(torch.from_numpy(a)), nf.logdet(nf.tensor(a))
        np.testing.assert_array_equal(n.numpy(), t.numpy())


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.0, float("inf")])
def test_cdist(p):
    check(lambda M, a, b: M.cdist(a, b, p=p), rand(2, 4, 3), rand(2, 5, 3), atol=1e-4,
          grad=p != 0.0)
    check(lambda M, a, b: M.cdist(a, b, p), rand(4, 3, dtype=F64), rand(5, 3, dtype=F64),
          atol=1e-9, rtol=1e-9, grad=p != 0.0)


def test_cdist_zero_distance_gradient_and_errors():
    x = rand(3, 2)
    check(lambda M, a, b: M.cdist(a, b), x, x.copy())
    with pytest.raises(RuntimeError):
        nf.cdist(nf.zeros(3, 2), nf.zeros(3, 4))


@pytest.mark.parametrize("name", ["addmv_", "addr_", "baddbmm_", "addbmm_", "addmm_"])
def test_inplace_products(name):
    shapes = {"addmv_": [(3,), (3, 4), (4,)], "addr_": [(3, 4), (3,), (4,)],
              "baddbmm_": [(2, 3, 5), (2, 3, 4), (2, 4, 5)], "addbmm_": [(3, 5), (2, 3, 4),
                                                                        (2, 4, 5)],
              "addmm_": [(3, 5), (3, 4), (4, 5)]}[name]
    arrs = [rand(*s) for s in shapes]
    out = []
    for M in (torch, nf):
        c, a, b = (M.tensor(x) for x in arrs)
        r = getattr(c, name)(a, b, beta=0.5, alpha=2)
        assert r is c
        out.append(c.numpy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5, atol=1e-5)
