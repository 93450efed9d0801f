"""The CUDA GEMM family (nnfast/backend/cuda/gemm.py) against the CPU kernels of nnfast._C and
NumPy, under the simulator: sizes cross the simulator's 8x8x4 tiles (and its grid of 2 blocks)
in every dimension."""
import numpy as np
import pytest
from conftest import dev, host

from nnfast import _C

RNG = np.random.default_rng(15)
SIZES = [(1, 1, 1), (7, 5, 3), (17, 9, 13)]   # (M, N, K)


def rand(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def close(got, want, rtol=1e-5, atol=1e-5):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---------------------------------------------------------------------- sgemm
@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("m,n,k", SIZES)
def test_sgemm_matches_C_and_numpy(K, ta, tb, m, n, k):
    A = rand(k, m) if ta else rand(m, k)
    B = rand(n, k) if tb else rand(k, n)
    C = rand(m, n)
    want = C.copy()
    _C.sgemm(ta, tb, 1.5, A, B, -0.5, want)
    dC = dev(C)
    K.sgemm(ta, tb, 1.5, dev(A), dev(B), -0.5, dC)
    close(host(dC), want)
    opA, opB = (A.T if ta else A), (B.T if tb else B)
    close(host(dC), 1.5 * opA.astype(np.float64) @ opB - 0.5 * C, rtol=1e-4)
    ref = dev(C)
    K.sgemm(ta, tb, 1.5, dev(A), dev(B), -0.5, ref, reference=True)
    close(host(dC), host(ref))


@pytest.mark.parametrize("ta,tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_sgemm_split_k_matches_C(K, ta, tb):
    # One 4x4 tile and k = 37: split into parts of 20 and 17 (in the simulator's config),
    # summed in order into C.
    m, n, k = 3, 2, 37
    A = rand(k, m) if ta else rand(m, k)
    B = rand(n, k) if tb else rand(k, n)
    C = rand(m, n)
    for beta in (0.0, 0.5):
        want = C.copy()
        _C.sgemm(ta, tb, 1.25, A, B, beta, want)
        dC = dev(C if beta else np.full_like(C, np.nan))
        K.sgemm(ta, tb, 1.25, dev(A), dev(B), beta, dC)
        close(host(dC), want)


def test_sgemm_beta_zero_never_reads_c(K):
    A, B = rand(9, 6), rand(6, 11)
    dC = dev(np.full((9, 11), np.nan, np.float32))
    K.sgemm(False, False, 2.0, dev(A), dev(B), 0.0, dC)
    assert np.isfinite(host(dC)).all()
    close(host(dC), 2.0 * A @ B)


def test_sgemm_empty_k_scales_c(K):
    C = rand(5, 3)
    dC = dev(C)
    K.sgemm(False, False, 1.0, dev(np.empty((5, 0), np.float32)),
            dev(np.empty((0, 3), np.float32)), 0.25, dC)
    close(host(dC), 0.25 * C)


def test_sgemm_rejects_bad_shapes_and_dtypes(K):
    A, B, C = dev(rand(3, 4)), dev(rand(5, 2)), dev(rand(3, 2))
    with pytest.raises(ValueError, match=r"op\(A\) is \(3, 4\), op\(B\) is \(5, 2\)"):
        K.sgemm(False, False, 1.0, A, B, 0.0, C)
    with pytest.raises(ValueError, match="float32"):
        K.sgemm(False, False, 1.0, dev(rand(3, 4, dtype=np.float64)), dev(rand(4, 2)), 0.0, C)
    with pytest.raises(ValueError, match="C-contiguous"):
        K.sgemm(False, False, 1.0, dev(rand(4, 3)).T, dev(rand(4, 2)), 0.0, C)


# ---------------------------------------------------------------------- colsum
@pytest.mark.parametrize("m,n,beta", [(5, 3, 0.0), (37, 3, 0.5), (0, 4, 2.0)])
def test_colsum_matches_C(K, m, n, beta):
    # 37 rows cut into chunks (the two-pass path); 0 rows only scale out.
    x, out = rand(m, n), rand(n)
    want = out.copy()
    _C.colsum(want, x, beta)
    d = dev(out if beta else np.full(n, np.nan, np.float32))
    K.colsum(d, dev(x), beta)
    close(host(d), want)


def test_colsum_rejects_mismatch(K):
    with pytest.raises(ValueError, match=r"x is \(4, 3\), out is \(2,\)"):
        K.colsum(dev(rand(2)), dev(rand(4, 3)), 0.0)


# ---------------------------------------------------------------------- linear
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward_matches_C(K, with_bias):
    M, Kin, N = 11, 6, 9
    x, w = rand(M, Kin), rand(N, Kin)
    b = rand(N) if with_bias else None
    want = np.empty((M, N), np.float32)
    _C.linear_forward(want, x, w, b)
    out = dev(np.full((M, N), np.nan, np.float32))
    K.linear_forward(out, dev(x), dev(w), None if b is None else dev(b))
    close(host(out), want)


def test_linear_forward_rejects_mismatch(K):
    with pytest.raises(ValueError, match=r"inp \(3, 4\), weight \(2, 5\)"):
        K.linear_forward(dev(rand(3, 2)), dev(rand(3, 4)), dev(rand(2, 5)), None)
    with pytest.raises(ValueError, match=r"bias \(3,\) for 2 outputs"):
        K.linear_forward(dev(rand(3, 2)), dev(rand(3, 4)), dev(rand(2, 4)), dev(rand(3)))


@pytest.mark.parametrize("accumulate", [False, True])
def test_linear_backward_matches_C(K, accumulate):
    M, Kin, N = 10, 7, 9
    dout, x, w = rand(M, N), rand(M, Kin), rand(N, Kin)
    dx0, dw0, db0 = rand(M, Kin), rand(N, Kin), rand(N)
    dx, dw, db = dx0.copy(), dw0.copy(), db0.copy()
    _C.linear_backward(dx, dw, db, dout, x, w, accumulate)
    g = [dev(dx0), dev(dw0), dev(db0)]
    K.linear_backward(*g, dev(dout), dev(x), dev(w), accumulate)
    for got, want in zip(g, (dx, dw, db)):
        close(host(got), want)


def test_linear_backward_none_grads_and_zero_rows(K):
    M, Kin, N = 6, 5, 4
    dout, x, w = rand(M, N), rand(M, Kin), rand(N, Kin)
    dw = np.zeros((N, Kin), np.float32)
    _C.linear_backward(None, dw, None, dout, x, w, False)
    g = dev(np.full((N, Kin), np.nan, np.float32))
    K.linear_backward(None, g, None, dev(dout), dev(x), dev(w), False)
    close(host(g), dw)
    # No rows: parameter gradients zeroed (or kept when accumulating), as _C.
    e = lambda *s: dev(np.empty(s, np.float32))
    gw, gb = dev(np.full((N, Kin), np.nan, np.float32)), dev(np.full(N, np.nan, np.float32))
    K.linear_backward(e(0, Kin), gw, gb, e(0, N), e(0, Kin), dev(w), False)
    assert not host(gw).any() and not host(gb).any()
    gb = dev(np.ones(N, np.float32))
    K.linear_backward(None, None, gb, e(0, N), e(0, Kin), dev(w), True)
    close(host(gb), np.ones(N))


def test_linear_backward_long_batch_splits_k(K):
    # dweight = dout^T @ inp over 37 rows fills one tile: a split-K product.
    M, Kin, N = 37, 2, 3
    dout, x, w = rand(M, N), rand(M, Kin), rand(N, Kin)
    dx, dw, db = rand(M, Kin), rand(N, Kin), rand(N)
    g = [dev(dx), dev(dw), dev(db)]
    _C.linear_backward(dx, dw, db, dout, x, w, True)
    K.linear_backward(*g, dev(dout), dev(x), dev(w), True)
    for got, want in zip(g, (dx, dw, db)):
        close(host(got), want)


def test_linear_backward_rejects_bad_grad_shape(K):
    with pytest.raises(ValueError, match=r"dweight \(4, 4\), expected \(4, 5\)"):
        K.linear_backward(None, dev(rand(4, 4)), None, dev(rand(3, 4)), dev(rand(3, 5)),
                          dev(rand(4, 5)), False)


def test_linear_act_forward_matches_linear_then_act(K):
    M, Kin, N = 5, 4, 9
    x, w, b = rand(M, Kin), rand(N, Kin), rand(N)
    pre, pre_nb = np.empty((M, N), np.float32), np.empty((M, N), np.float32)
    _C.linear_forward(pre, x, w, b)
    _C.linear_forward(pre_nb, x, w, None)
    dx, dw, db = dev(x), dev(w), dev(b)
    for kind in range(8):   # odd kinds with the bias, even ones without
        a = 0.1 if kind == _C.ACT_LEAKY_RELU else 1.3
        want = np.empty_like(pre)
        _C.act_forward(kind, want.reshape(-1), (pre if kind % 2 else pre_nb).reshape(-1), a)
        out = dev(np.empty((M, N), np.float32))
        K.linear_act_forward(out, dx, dw, db if kind % 2 else None, kind, a)
        close(host(out), want, rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="unknown kind 8"):
        K.linear_act_forward(out, dx, dw, db, 8)
    from nnfast.backend.cuda.gemm import gemm_bias_act
    want = np.empty_like(pre)
    _C.act_forward(_C.ACT_TANH, want.reshape(-1), pre.reshape(-1))
    gemm_bias_act(_C.ACT_TANH)(out, dx, dw, db)
    close(host(out), want, rtol=2e-5, atol=2e-6)


# ---------------------------------------------------------------------- np.matmul, np.dot
@pytest.mark.parametrize("sa,sb", [((4,), (4, 3)), ((5, 4), (4,)), ((4,), (4,)),
                                   ((2, 1, 3, 4), (3, 4, 5)), ((3, 9), (9, 10)),
                                   ((4, 3), (2, 3, 5)), ((2, 3, 4), (4,))])
def test_matmul_shapes_match_numpy(sa, sb):
    a, b = rand(*sa), rand(*sb)
    got = dev(a) @ dev(b)
    want = a @ b
    assert got.shape == want.shape and got.dtype == np.float32
    close(host(got), want)


def test_matmul_reads_views_in_place_and_copies_the_rest():
    a, b = rand(6, 3), rand(5, 6)
    close(host(dev(a).T @ dev(b).T), a.T @ b.T)     # TT through the strides
    # Batch dims (2, 3) of a broadcast (2, 1): no single batch stride, so a copy.
    x, y = rand(2, 1, 4, 3), rand(3, 3, 2)
    close(host(np.matmul(dev(x), dev(y))), x @ y)
    # Core rows 2 apart (read in place, ld = 8), and strided both ways (copied).
    X, y2 = rand(3, 7, 4), rand(3, 4, 2)
    close(host(dev(X)[:, ::2] @ dev(y2)), X[:, ::2] @ y2)
    close(host(dev(X)[:, ::2, ::2] @ dev(y2[:, :2])), X[:, ::2, ::2] @ y2[:, :2])


def test_matmul_out_float64_and_errors():
    a, b = rand(3, 4, dtype=np.float64), rand(4, 5, dtype=np.float64)
    got = dev(a) @ dev(b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(host(got), a @ b, rtol=1e-12)
    x, y = rand(2, 5, 3, dtype=np.float64), rand(3, 4, dtype=np.float64)
    np.testing.assert_allclose(host(dev(x) @ dev(y)), x @ y, rtol=1e-12)   # batched f64
    np.testing.assert_allclose(host(dev(y).T @ dev(x).swapaxes(1, 2)), y.T @ x.swapaxes(1, 2),
                               rtol=1e-12)
    mixed = dev(a) @ dev(b.astype(np.float32))
    assert mixed.dtype == np.float64
    out = dev(np.full((3, 5), np.nan, np.float32))
    res = np.matmul(dev(a.astype(np.float32)), dev(b.astype(np.float32)), out=out)
    assert res is out
    close(host(out), a @ b, rtol=1e-4)
    sq, other = rand(3, 3), rand(3, 3)
    d = dev(sq)
    d @= dev(other)                                # out overlaps an operand: via a temporary
    close(host(d), sq @ other)
    for sa, sb in (((3, 4), (5, 6)), ((2, 3, 4), (3, 4, 5)), ((), (3,))):
        with pytest.raises(ValueError) as want:
            np.matmul(np.zeros(sa), np.zeros(sb))
        with pytest.raises(ValueError) as got:
            # (reshape: from_host makes a 0-d host array 1-D, as np.ascontiguousarray does)
            np.matmul(dev(np.zeros(sa, np.float32)).reshape(sa),
                      dev(np.zeros(sb, np.float32)).reshape(sb))
        assert str(got.value) == str(want.value)


def test_dot_matches_numpy():
    a, b, v = rand(3, 4), rand(4, 2), rand(4)
    close(host(np.dot(dev(a), dev(b))), a @ b)
    close(host(np.dot(dev(v), dev(v))), v @ v)
    t = rand(2, 3, 4)
    close(host(np.dot(dev(t), dev(b))), np.dot(t, b))


@pytest.mark.parametrize("spec,sa,sb", [("ij,jk->ik", (3, 4), (4, 5)), ("ij,kj->ki", (3, 4), (5, 4)),
                                        ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("i,ij", (4,), (4, 3)),
                                        ("ji,j->i", (4, 3), (4,)), ("i,i->", (5,), (5,))])
def test_einsum_matrix_products_match_numpy(spec, sa, sb):
    a, b = rand(*sa), rand(*sb)
    got = np.einsum(spec, dev(a), dev(b))
    want = np.einsum(spec, a, b)
    assert got.shape == want.shape
    close(host(got), want)


def test_einsum_errors():
    with pytest.raises(ValueError) as want:
        np.einsum("ij,jk->ik", np.zeros((3, 4)), np.zeros((5, 2)))
    with pytest.raises(ValueError) as got:
        np.einsum("ij,jk->ik", dev(rand(3, 4)), dev(rand(5, 2)))
    assert str(got.value) == str(want.value)
    with pytest.raises(NotImplementedError, match="einsum"):
        np.einsum("ii->i", dev(rand(3, 3)))
