"""GEMM family (csrc/gemm/): nf_sgemm in every form and kernel set, Linear forward/backward,
colsum, threading, and the Cython edge's checks. NumPy float64 is the oracle; tolerances are
float32 ones scaled by sqrt(K), since the rounding error of a length-K dot product grows so."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import nnfast._C as C

ISAS = ["ref", "avx2", "avx512"]
CPU_FEATURE = {"ref": None, "avx2": "avx2", "avx512": "avx512f"}


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test under each kernel set this CPU can execute; restore auto afterwards."""
    name = request.param
    if not C.gemm_set_isa(name):
        pytest.skip(f"CPU or build lacks {CPU_FEATURE[name]} (kernel set {name!r})")
    assert C.gemm_isa() == name
    yield name
    assert C.gemm_set_isa("auto")


def opnd(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def expected(tA, tB, alpha, A, B, beta, C0):
    a = A.T if tA else A
    b = B.T if tB else B
    out = alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if beta != 0:
        out += beta * C0.astype(np.float64)
    return out


def check_close(got, want, K, scale=1.0):
    tol = 2e-6 * np.sqrt(max(K, 1)) * scale * (1 + np.abs(want))
    bad = ~(np.abs(got - want) <= tol)
    assert not bad.any(), f"{bad.sum()} mismatches, max err {np.nanmax(np.abs(got - want))}"


def run_sgemm(rng, tA, tB, M, N, K, alpha, beta, reference=False):
    A = opnd(rng, (K, M) if tA else (M, K))
    B = opnd(rng, (N, K) if tB else (K, N))
    C0 = opnd(rng, (M, N))
    # beta == 0 must not read C: fill it with NaN, which would poison any read.
    Cm = C0.copy() if beta != 0 else np.full((M, N), np.nan, np.float32)
    C.sgemm(tA, tB, alpha, A, B, beta, Cm, reference=reference)
    check_close(Cm, expected(tA, tB, alpha, A, B, beta, C0), K, scale=max(1, abs(alpha)))


TRANS = [(0, 0), (0, 1), (1, 0), (1, 1)]
SHAPES = [(0, 5, 3), (4, 0, 3), (3, 4, 0), (1, 1, 1), (2, 3, 1), (7, 13, 5), (8, 32, 64),
          (9, 33, 17), (31, 37, 41), (32, 32, 64), (65, 127, 129), (300, 70, 1000),
          (17, 1100, 400), (1030, 20, 30)]


@pytest.mark.parametrize("tA,tB", TRANS)
def test_sgemm_shapes(isa, tA, tB):
    rng = np.random.default_rng(1)
    for M, N, K in SHAPES:
        run_sgemm(rng, tA, tB, M, N, K, 1.0, 0.0)


@pytest.mark.parametrize("tA,tB", TRANS)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.5, 0.0), (2.0, -1.5), (0.0, 0.5)])
def test_sgemm_alpha_beta(isa, tA, tB, alpha, beta):
    rng = np.random.default_rng(2)
    for M, N, K in [(5, 7, 3), (40, 70, 130), (129, 65, 500)]:
        run_sgemm(rng, tA, tB, M, N, K, alpha, beta)


def test_sgemm_k0_scales_c(isa):
    Cm = np.ones((3, 4), np.float32)
    C.sgemm(False, False, 1.0, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32),
            2.0, Cm)
    assert (Cm == 2.0).all()
    Cm[:] = np.nan
    C.sgemm(False, False, 1.0, np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32),
            0.0, Cm)
    assert (Cm == 0.0).all()


@settings(max_examples=60, deadline=None)
@given(M=st.integers(1, 70), N=st.integers(1, 90), K=st.integers(1, 80),
       tA=st.booleans(), tB=st.booleans(), beta=st.sampled_from([0.0, 1.0, 0.25]),
       isa=st.sampled_from(ISAS), seed=st.integers(0, 2**16))
def test_sgemm_hypothesis(M, N, K, tA, tB, beta, isa, seed):
    if not C.gemm_set_isa(isa):
        return
    try:
        run_sgemm(np.random.default_rng(seed), tA, tB, M, N, K, 0.75, beta)
    finally:
        C.gemm_set_isa("auto")


def test_reference_path_matches():
    rng = np.random.default_rng(3)
    for tA, tB in TRANS:
        run_sgemm(rng, tA, tB, 19, 23, 29, 1.25, 0.5, reference=True)


def test_sgemm_wrapper_rejects_mismatch():
    A = np.zeros((3, 4), np.float32)
    B = np.zeros((5, 6), np.float32)
    Cm = np.zeros((3, 6), np.float32)
    with pytest.raises(ValueError):
        C.sgemm(False, False, 1.0, A, B, 0.0, Cm)
    with pytest.raises(ValueError):
        C.sgemm(False, True, 1.0, A, np.zeros((6, 5), np.float32), 0.0, Cm)
    with pytest.raises(ValueError):
        C.sgemm(True, False, 1.0, A, np.zeros((4, 6), np.float32), 0.0, Cm)


def test_sgemm_rejects_readonly_output():
    A = np.ones((3, 4), np.float32)
    B = np.ones((4, 5), np.float32)
    Cm = np.full((3, 5), 7.0, np.float32)
    Cm.setflags(write=False)
    with pytest.raises(ValueError):
        C.sgemm(False, False, 1.0, A, B, 0.0, Cm)
    assert (Cm == 7.0).all()


class _Sub(np.ndarray):
    pass


@pytest.mark.parametrize("bad", ["swapped", "float64", "strided", "rank3", "list"])
@pytest.mark.parametrize("slot", ["A", "B", "C"])
def test_sgemm_operand_intake_rejects(bad, slot):
    """ndarrays are read through NumPy's C API, anything else through the buffer protocol;
    both refuse what the kernel cannot read, and C is left untouched."""
    ops = {"A": np.ones((3, 4), np.float32), "B": np.ones((4, 5), np.float32),
           "C": np.full((3, 5), 7.0, np.float32)}
    good = ops[slot]
    ops[slot] = {"swapped": lambda: good.astype(">f4"), "float64": lambda: good.astype(np.float64),
                 "strided": lambda: np.repeat(good, 2, axis=1)[:, ::2],
                 "rank3": lambda: good[..., None], "list": lambda: good.tolist()}[bad]()
    with pytest.raises(TypeError if bad == "list" else ValueError):
        C.sgemm(False, False, 1.0, ops["A"], ops["B"], 0.0, ops["C"])
    if slot != "C":
        assert (ops["C"] == 7.0).all()


def test_sgemm_operand_intake_accepts_views_and_buffers():
    """Read-only inputs, ndarray subclasses, offset views and non-NumPy buffers (memoryview)
    all give the float64 product."""
    rng = np.random.default_rng(5)
    A = opnd(rng, (6, 4))[1:4]  # offset C-contiguous view
    B = opnd(rng, (4, 5))
    B.setflags(write=False)
    want = A.astype(np.float64) @ B.astype(np.float64)
    for a, b in [(A, B), (A.view(_Sub), B), (memoryview(A), memoryview(B))]:
        Cm = np.full((3, 5), np.nan, np.float32)
        C.sgemm(False, False, 1.0, a, b, 0.0, Cm.view(_Sub) if a is not A else Cm)
        np.testing.assert_allclose(Cm, want, rtol=1e-5, atol=1e-5)


def test_isa_selection():
    assert C.gemm_set_isa("auto")
    best = C.gemm_isa()
    assert best in ISAS
    assert not C.gemm_set_isa("no-such-isa")
    assert C.gemm_isa() == best
    assert C.gemm_set_isa("ref") and C.gemm_isa() == "ref"
    assert C.gemm_set_isa("auto") and C.gemm_isa() == best


# ---------------------------------------------------------------------------------------
# Linear layer and colsum
# ---------------------------------------------------------------------------------------

LINEAR_SHAPES = [(1, 1, 1), (3, 5, 7), (32, 64, 32), (64, 784, 128), (37, 100, 45)]


@pytest.mark.parametrize("M,K,N", LINEAR_SHAPES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_forward(isa, M, K, N, with_bias):
    rng = np.random.default_rng(4)
    x, w, b = opnd(rng, (M, K)), opnd(rng, (N, K)), opnd(rng, (N,))
    out = np.full((M, N), np.nan, np.float32)
    C.linear_forward(out, x, w, b if with_bias else None)
    want = x.astype(np.float64) @ w.T.astype(np.float64) + (b if with_bias else 0)
    check_close(out, want, K)


@pytest.mark.parametrize("M,K,N", LINEAR_SHAPES + [(0, 4, 3)])
@pytest.mark.parametrize("accumulate", [False, True])
def test_linear_backward(isa, M, K, N, accumulate):
    rng = np.random.default_rng(5)
    x, w, dout = opnd(rng, (M, K)), opnd(rng, (N, K)), opnd(rng, (M, N))
    dx = np.full((M, K), np.nan, np.float32)
    dw0, db0 = opnd(rng, (N, K)), opnd(rng, (N,))
    dw = dw0.copy() if accumulate else np.full((N, K), np.nan, np.float32)
    db = db0.copy() if accumulate else np.full((N,), np.nan, np.float32)
    C.linear_backward(dx, dw, db, dout, x, w, accumulate)
    d64 = dout.astype(np.float64)
    check_close(dx, d64 @ w.astype(np.float64), N)
    acc = accumulate
    check_close(dw, d64.T @ x.astype(np.float64) + (dw0 if acc else 0), M)
    check_close(db, d64.sum(0) + (db0 if acc else 0), M)


def test_linear_backward_optional_outputs():
    rng = np.random.default_rng(6)
    x, w, dout = opnd(rng, (9, 5)), opnd(rng, (4, 5)), opnd(rng, (9, 4))
    dw = np.zeros((4, 5), np.float32)
    C.linear_backward(None, dw, None, dout, x, w, False)
    check_close(dw, dout.astype(np.float64).T @ x, 9)
    dx = np.zeros((9, 5), np.float32)
    C.linear_backward(dx, None, None, dout, x, w, False)
    check_close(dx, dout.astype(np.float64) @ w, 4)


def test_linear_rejects_mismatch():
    x, w = np.zeros((3, 4), np.float32), np.zeros((5, 4), np.float32)
    with pytest.raises(ValueError):
        C.linear_forward(np.zeros((3, 4), np.float32), x, w, None)
    with pytest.raises(ValueError):
        C.linear_forward(np.zeros((3, 5), np.float32), x, w, np.zeros(4, np.float32))
    with pytest.raises(ValueError):
        C.linear_backward(None, np.zeros((4, 4), np.float32), None, np.zeros((3, 5), np.float32),
                          x, w, False)


@pytest.mark.parametrize("M,N", [(0, 5), (1, 1), (7, 3), (13, 16), (100, 70), (5, 200), (33, 1029)])
@pytest.mark.parametrize("beta", [0.0, 1.0, 0.5])
def test_colsum(isa, M, N, beta):
    rng = np.random.default_rng(7)
    x = opnd(rng, (M, N))
    out0 = opnd(rng, (N,))
    out = out0.copy() if beta != 0 else np.full((N,), np.nan, np.float32)
    C.colsum(out, x, beta)
    check_close(out, x.astype(np.float64).sum(0) + (beta * out0 if beta else 0), M)


@pytest.mark.parametrize("N", range(1, 17))
def test_narrow_nt_every_width(isa, N):
    # NT with N <= 16 (a classifier's logits) has its own dot-product kernel in the AVX-512
    # set: every width instantiates its own code, rows go in pairs (an odd M leaves one),
    # K in L1-sized stretches (N=16: 256, N=1: 4096) with a masked last 16, and the
    # stretches after the first add onto C. Bias, alpha and beta through every case.
    rng = np.random.default_rng(N)
    for M, K in [(1, 1), (2, 15), (3, 16), (5, 17), (9, 255), (4, 257), (7, 1000), (2, 4200)]:
        for alpha, beta in [(1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)]:
            run_sgemm(rng, 0, 1, M, N, K, alpha, beta)
        A, B, bias = opnd(rng, (M, K)), opnd(rng, (N, K)), opnd(rng, (N,))
        out = np.full((M, N), np.nan, np.float32)
        C.linear_forward(out, A, B, bias)
        check_close(out, A.astype(np.float64) @ B.T.astype(np.float64) + bias, K)


# ---------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("tA,tB", TRANS)
# the last two: several K blocks and outer (NC, MC) blocks in each split direction
@pytest.mark.parametrize("M,N,K", [(256, 300, 200), (1030, 40, 300), (40, 1030, 300),
                                   (600, 700, 900), (1030, 4130, 20), (333, 10, 900),
                                   (10, 1030, 300), (12, 700, 900), (3, 90, 2000)])
def test_multithreaded_matches_single(isa, tA, tB, M, N, K):
    if not C.has_openmp():
        pytest.skip("built without OpenMP")
    rng = np.random.default_rng(8)
    A = opnd(rng, (K, M) if tA else (M, K))
    B = opnd(rng, (N, K) if tB else (K, N))
    bias = opnd(rng, (N,))
    saved = C.get_num_threads()
    try:
        outs = []
        for nt in (1, 2, 3):
            C.set_num_threads(nt)
            Cm = np.full((M, N), np.nan, np.float32)
            C.sgemm(tA, tB, 1.0, A, B, 0.0, Cm)
            outs.append(Cm)
        for o in outs[1:]:
            np.testing.assert_allclose(o, outs[0], rtol=1e-5, atol=1e-5 * np.sqrt(K))
        check_close(outs[0], expected(tA, tB, 1.0, A, B, 0.0, None), K)
        if not tA and tB:  # the Linear forward shape, with its fused bias, threaded
            C.set_num_threads(2)
            out = np.empty((M, N), np.float32)
            C.linear_forward(out, A, B, bias)
            check_close(out, A.astype(np.float64) @ B.T.astype(np.float64) + bias, K)
    finally:
        C.set_num_threads(saved)


def test_concurrent_python_threads():
    """Two Python threads calling in at once (GIL released) must not share a workspace."""
    import threading
    rng = np.random.default_rng(9)
    jobs = []
    for i in range(4):
        A, B = opnd(rng, (150, 300)), opnd(rng, (200, 300))
        jobs.append((A, B, A.astype(np.float64) @ B.T.astype(np.float64)))
    errors = []

    def work(A, B, want):
        for _ in range(10):
            out = np.empty((150, 200), np.float32)
            C.sgemm(False, True, 1.0, A, B, 0.0, out)
            if not np.allclose(out, want, rtol=1e-4, atol=1e-3):
                errors.append("mismatch")

    ts = [threading.Thread(target=work, args=j) for j in jobs]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_wrappers_reject_bad_buffers():
    """dtype, rank, contiguity and writability are checked at the edge, before any write."""
    x, w = np.ones((3, 4), np.float32), np.ones((5, 4), np.float32)
    out = np.full((3, 5), 7.0, np.float32)
    with pytest.raises(ValueError):
        C.linear_forward(out, x.astype(np.float64), w, None)
    with pytest.raises(ValueError):
        C.linear_forward(out, np.ones((3, 8), np.float32)[:, ::2], w, None)
    with pytest.raises(ValueError):
        C.sgemm(False, True, 1.0, x.ravel(), w, 0.0, out)
    with pytest.raises(TypeError):
        C.sgemm(False, True, 1.0, x.tolist(), w, 0.0, out)
    out.setflags(write=False)
    with pytest.raises(ValueError):
        C.linear_forward(out, x, w, None)
    db = np.full(5, 3.0, np.float32)
    db.setflags(write=False)
    with pytest.raises(ValueError):
        C.linear_backward(None, None, db, np.ones((3, 5), np.float32), x, w, False)
    with pytest.raises(ValueError):
        C.colsum(db, np.ones((3, 5), np.float32), 0.0)
    assert (out == 7.0).all() and (db == 3.0).all()
    # read-only inputs are fine
    x.setflags(write=False)
    res = np.empty((3, 5), np.float32)
    C.linear_forward(res, x, w, None)
    assert (res == 4.0).all()


def test_env_var_forces_isa_at_load():
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import nnfast._C as C; print(C.gemm_isa())"
    env = dict(os.environ, NNFAST_GEMM_ISA="ref", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "ref"
