"""float16 autocast on the CPU (issue 17), as torch.autocast("cpu", dtype=torch.float16): the
rounding to IEEE halves against NumPy's (every edge: overflow, subnormals, NaN, signs) on
each fp32 kernel set, the fp16 GEMM as the product of rounded operands, the API and its
per-thread dtype against torch's, overflow and convolutions against torch's fp16 autocast,
and the recurrent and convolution kernels against float64 references on rounded operands.
(The matmul ops and training against torch, compile_step bit for bit with the eager loop
and accuracy run for both dtypes in test_autocast.py.)"""
import threading
import warnings

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import _C, nn
from test_autocast import SHAPES
import test_autocast_layers as L

# float16 keeps 11 significant bits: one rounding of an operand is up to 2^-11 relative
FP16_EPS = 2.0 ** -10


def round_fp16(x):
    """x rounded to float16 (nearest even; inf beyond 65504), as float32."""
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


class _Fp16Operands(L._Bf16Operands):
    round = staticmethod(round_fp16)


def _isas():
    out = ["ref"]
    if _C.cpu_has("avx2") and _C.cpu_has("fma"):
        out.append("avx2")
    if _C.cpu_has("avx512f"):
        out.append("avx512")
    return out


@pytest.fixture(params=_isas())
def fp32_set(request):
    """Each fp32 kernel set this CPU runs (the fp16 set is it with rounding packers)."""
    before = _C.gemm_isa()
    assert _C.gemm_set_isa(request.param)
    yield request.param
    _C.gemm_set_isa(before)


def _edge_bits():
    rng = np.random.default_rng(0)
    parts = [rng.integers(0, 2 ** 32, 100000, dtype=np.uint64).astype(np.uint32),
             np.arange(0x477F0000, 0x47800000, 7),     # around 65504 and the overflow bound
             np.arange(0x38700000, 0x38900000, 13),    # the smallest normal half, 2^-14
             np.arange(0x32F00000, 0x34000000, 101),   # half's subnormals and below 2^-25
             np.arange(0, 0x00100000, 977),            # float32 subnormals
             np.array([0x477FE000, 0x477FF000, 0x477FEFFF, 0x477FF001, 0x38800000, 0x387FFFFF,
                       0x33000000, 0x33000001, 0x32FFFFFF, 0x33800000, 0x33C00000, 0x7F800000,
                       0x7FC00001, 0x7F800001, 0x7F7FFFFF, 0x3F800000, 0, 1])]
    bits = np.concatenate([p.astype(np.uint32) for p in parts])
    return np.concatenate([bits, bits ^ np.uint32(0x80000000)])


def test_fp16_rounding_is_numpys(fp32_set):
    """A K = 1 product by ones is each operand once rounded: it must be NumPy's float16 cast,
    bit for bit (inf past 65504, subnormal halves, NaN stays NaN), signs included (a zero's
    sign aside: the tile adds its products to +0)."""
    x = _edge_bits().view(np.float32)
    out = np.zeros((x.size, 32), np.float32)
    _C.sgemm(False, False, 1.0, x.reshape(-1, 1).copy(), np.ones((1, 32), np.float32), 0.0,
             out, False, 2)
    assert _C.gemm_fp16_isa() == fp32_set + "+fp16"
    want = round_fp16(x)
    nan = np.isnan(want)
    got = out[:, 0]
    assert np.array_equal(np.isnan(got), nan)
    nz = ~nan & (want != 0)
    assert np.array_equal(got[nz].view(np.uint32), want[nz].view(np.uint32))
    assert np.all(got[~nan & (want == 0)] == 0)
    assert np.isinf(got).sum() > 1000 and ((got != 0) & (np.abs(got) < 2.0 ** -14)).sum() > 1000
    assert np.array_equal(out[~nan], np.repeat(got[~nan, None], 32, 1))


@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("tA, tB", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_fp16_gemm_is_the_product_of_rounded_operands(fp32_set, M, N, K, tA, tB):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    A = rng.standard_normal((K, M) if tA else (M, K)).astype(np.float32)
    B = (rng.standard_normal((N, K) if tB else (K, N)) * 1e-3).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    # every shape rounds (where values overflow must not depend on it), the narrow and
    # few-row ones that bf16 leaves in fp32 included
    a, b = round_fp16(A).astype(np.float64), round_fp16(B).astype(np.float64)
    a, b = (a.T if tA else a), (b.T if tB else b)
    want = 0.5 * (a @ b) + 0.25 * C0
    out = C0.copy()
    _C.sgemm(tA, tB, 0.5, A, B, 0.25, out, False, 2)
    scale = (np.abs(a) @ np.abs(b)).max() + np.abs(C0).max()
    assert np.abs(out - want).max() <= 4e-7 * scale
    if K >= 16:   # and it is not the fp32 product
        exact = 0.5 * (A.astype(np.float64).T if tA else A) @ \
            (B.astype(np.float64).T if tB else B) + 0.25 * C0
        assert np.abs(out - exact).max() > 2e-5 * 0.5 * (np.abs(a) @ np.abs(b)).max()


def test_precision_codes_are_checked():
    A = np.ones((4, 4), np.float32)
    for bad in (-1, 3):
        with pytest.raises(ValueError, match="precision"):
            _C.sgemm(False, False, 1.0, A, A, 0.0, A.copy(), False, bad)


# ------------------------------------------------------------------------- the API
def test_fp16_autocast_api_matches_torch():
    for lib in (nf, torch):
        assert lib.get_autocast_dtype("cpu") == lib.bfloat16
        with lib.autocast("cpu", dtype=lib.float16):
            assert lib.is_autocast_enabled("cpu")
            assert lib.get_autocast_dtype("cpu") == lib.float16
            with lib.autocast("cpu"):          # no dtype: the enclosing block's
                assert lib.get_autocast_dtype("cpu") == lib.float16
            with lib.autocast("cpu", enabled=False):
                assert not lib.is_autocast_enabled("cpu")
                assert lib.get_autocast_dtype("cpu") == lib.float16
            with lib.autocast("cpu", dtype=lib.bfloat16):
                assert lib.get_autocast_dtype("cpu") == lib.bfloat16
            assert lib.get_autocast_dtype("cpu") == lib.float16
        assert lib.get_autocast_dtype("cpu") == lib.bfloat16
        assert not lib.is_autocast_enabled("cpu")
        for dtype in (lib.float32, lib.float64):   # torch: a warning, and autocast stays off
            with pytest.warns(UserWarning, match="not supported"):
                ctx = lib.autocast("cpu", dtype=dtype)
            with ctx:
                assert not lib.is_autocast_enabled("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nf.autocast("cpu", dtype=nf.float64, enabled=False):   # off: nothing to say
            pass


def test_fp16_autocast_is_per_thread():
    lin = nn.Linear(64, 32)
    x = nf.randn(16, 64)
    with nf.no_grad():
        fp32 = lin(x).numpy()
        with nf.autocast("cpu", dtype=nf.bfloat16):
            bf16 = lin(x).numpy()
    seen, results = {}, {}
    go = threading.Event()

    def other():   # its own bf16 block while this thread is in fp16
        go.wait()
        with nf.autocast("cpu"), nf.no_grad():
            seen["dtype"] = nf.get_autocast_dtype("cpu")
            results["other"] = lin(x).numpy()

    t = threading.Thread(target=other)
    t.start()
    with nf.autocast("cpu", dtype=nf.float16), nf.no_grad():
        go.set()
        t.join()
        mine = lin(x).numpy()
    assert seen["dtype"] == nf.bfloat16
    assert np.array_equal(results["other"], bf16)
    assert not np.array_equal(mine, fp32) and not np.array_equal(mine, bf16)


# ------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("n_out", [24, 10, 3])   # 10, 3: the narrow products bf16 keeps fp32
def test_fp16_overflow_is_torchs(n_out):
    """An input past float16's range becomes inf in the product, as in torch's, whatever the
    shape; an output past it stays finite here (nnfast keeps the fp32 accumulation: see
    nnfast.amp)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((16, 40)).astype(np.float32)
    x[3, 5], x[7, 0] = 7e4, -1e5
    w = rng.standard_normal((n_out, 40)).astype(np.float32)
    tw = torch.from_numpy(w)
    with torch.autocast("cpu", dtype=torch.float16):
        want = torch.nn.functional.linear(torch.from_numpy(x), tw).float().numpy()
    with nf.autocast("cpu", dtype=nf.float16):
        got = nn.functional.linear(nf.tensor(x), nf.tensor(w)).numpy()
    assert np.array_equal(np.isinf(got), np.isinf(want)) and np.isinf(got[[3, 7]]).all()
    assert np.array_equal(np.sign(got[[3, 7]]), np.sign(want[[3, 7]]))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=FP16_EPS,
                               atol=FP16_EPS * np.abs(want[fin]).max())
    big = np.full((16, 40), 100.0, np.float32)   # each output 40 * 100 * 100 = 4e5
    if n_out != 24:
        return
    with nf.autocast("cpu", dtype=nf.float16):
        out = nn.functional.linear(nf.tensor(big), nf.tensor(big[:24])).numpy()
    assert np.all(out == 4e5)


@pytest.mark.parametrize("case", ["matmul M=4", "conv 1->4", "linear 2->3"])
def test_fp16_rounds_every_shape_as_torch(case):
    """Few-row products, narrow ones and small convolutions (which bf16 leaves on the fp32
    kernels) round their operands too: an input past 65504 is inf, one of 1 + 2^-12 is 1."""
    rng = np.random.default_rng(5)
    if case == "matmul M=4":
        arrays = [rng.standard_normal((4, 32)), rng.standard_normal((32, 20))]
        run = lambda lib, a, b: a @ b                                          # noqa: E731
    elif case == "conv 1->4":
        arrays = [rng.standard_normal((2, 1, 9, 9)), rng.standard_normal((4, 1, 3, 3))]
        run = lambda lib, a, b: lib.nn.functional.conv2d(a, b)                 # noqa: E731
    else:
        arrays = [rng.standard_normal((5, 2)), rng.standard_normal((3, 2))]
        run = lambda lib, a, b: lib.nn.functional.linear(a, b)                 # noqa: E731
    a, b = (v.astype(np.float32) for v in arrays)
    a.reshape(-1)[0] = 7e4
    a.reshape(-1)[1] = 1 + 2.0 ** -12
    outs = []
    for lib in (torch, nf):
        with lib.autocast("cpu", dtype=lib.float16):
            y = run(lib, lib.tensor(a), lib.tensor(b))
        outs.append(y.float().numpy() if lib is torch else y.numpy())
    want, got = outs
    assert np.isinf(want).any()
    assert np.array_equal(np.isinf(got), np.isinf(want))
    assert np.array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=FP16_EPS,
                               atol=FP16_EPS * np.abs(want[fin]).max())


@pytest.mark.parametrize("i", range(len(L.CONVS)), ids=[c[0] + str(c[2]) for c in L.CONVS])
def test_fp16_conv_layers_match_torch(i):
    tm, nm, xs, gs = L._conv_case(i)
    t_out, t_grads = L._run(torch, tm, xs, gs, dtype="float16")
    n_out, n_grads = L._run(nf, nm, xs, gs, dtype="float16")
    with torch.autocast("cpu", dtype=torch.float16):
        assert tm(torch.from_numpy(xs[0])).dtype == torch.float16
    L._close(n_out, t_out, 2 * FP16_EPS, "output")
    L._close(n_grads, t_grads, 4 * FP16_EPS, "gradient")
    f_out, f_grads = L._run(nf, nm, xs, gs, autocast=False)
    for k, g in list(enumerate(n_out)) + list(n_grads.items()):
        f = (f_out if isinstance(k, int) else f_grads)[k]
        if k != "bias":   # the fp16 numbers: away from fp32's by about its rounding
            assert np.abs(g - f).max() > 1e-5 * np.abs(f).max(), k


@pytest.mark.parametrize("transposed", [False, True])
def test_fp16_conv_is_the_product_of_rounded_operands(transposed):
    L.check_conv_rounded(transposed, "float16", round_fp16, "fp16", apart=1e-5)


@pytest.mark.parametrize("name", L.RNNS)
def test_fp16_rnn_is_the_product_of_rounded_operands(name):
    """torch 2.13's own fp16 recurrences are no oracle (its LSTM raises under fp16 autocast,
    its GRU stays fp32): the float64 reference on rounded operands is."""
    L.test_rnn_autocast_is_the_product_of_rounded_operands(name, "float16", _Fp16Operands,
                                                           apart=1e-5, flips=True)
