"""bf16 autocast (issue 17): the bf16 GEMM against a reference on rounded operands (both the
AVX512-BF16 tile and the rounding path), nf.autocast's API and per-thread mode against
torch.autocast, the autocast ops against PyTorch's, training runs, compile_step under
autocast bit for bit with the eager loop (bf16 and fp16), and accuracy on scikit-learn's
datasets (bf16 and fp16). float16's own tests: test_autocast_fp16.py."""
import threading
import warnings

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import _C, nn

# bf16 keeps 8 significant bits: one rounding of an operand is up to 2^-9 relative
BF16_EPS = 2.0 ** -8


def round_bf16(x):
    """x rounded to bfloat16 (nearest even), as float32."""
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


@pytest.fixture(params=["auto", "emulate", "avx512_bf16"])
def bf16_path(request):
    assert _C.gemm_set_bf16(request.param)
    yield _C.gemm_bf16_isa()
    _C.gemm_set_bf16("auto")


def _stays_fp32(isa, tA, tB, M, N):
    """The shapes the fp32 set serves with its own kernels (nnfast.h): fp32 in bf16 mode."""
    return isa == "avx512" and ((tB and not tA and N <= 16) or (not tB and M <= 12))


SHAPES = [(1, 1, 1), (3, 5, 7), (8, 32, 16), (9, 33, 17), (13, 40, 3), (64, 128, 784),
          (100, 17, 1), (40, 96, 513), (200, 300, 40)]


@pytest.mark.parametrize("M, N, K", SHAPES)
@pytest.mark.parametrize("tA, tB", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_bf16_gemm_is_the_product_of_rounded_operands(bf16_path, M, N, K, tA, tB):
    rng = np.random.default_rng(M * 1000 + N * 10 + K)
    A = rng.standard_normal((K, M) if tA else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tB else (K, N)).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    fp32 = _stays_fp32(_C.gemm_isa(), tA, tB, M, N)
    a = (A if fp32 else round_bf16(A)).astype(np.float64)
    b = (B if fp32 else round_bf16(B)).astype(np.float64)
    a, b = (a.T if tA else a), (b.T if tB else b)
    want = 0.5 * (a @ b) + 0.25 * C0
    out = C0.copy()
    _C.sgemm(tA, tB, 0.5, A, B, 0.25, out, False, True)
    # fp32 accumulation of exact products: error ~ K * 2^-24 of the absolute sum
    scale = (np.abs(a) @ np.abs(b)).max() + 1
    assert np.abs(out - want).max() <= 4e-7 * scale, bf16_path
    if not fp32 and K >= 16:   # and it is not the fp32 product
        exact = 0.5 * (A.astype(np.float64).T if tA else A) @ \
            (B.astype(np.float64).T if tB else B) + 0.25 * C0
        assert np.abs(out - exact).max() > 1e-5 * scale


@pytest.mark.parametrize("M, N, K", [(64, 64, 1100), (96, 160, 64), (50, 70, 33)])
@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("tA, tB", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_bf16_gemm_whole_tiles_unscaled(bf16_path, M, N, K, beta, tA, tB):
    # alpha 1 and beta 0 or 1 on whole tiles: the AMX tile reads and writes C in place, and a
    # K over one block (1100) accumulates its later blocks onto C
    rng = np.random.default_rng(K + M)
    A = rng.standard_normal((K, M) if tA else (M, K)).astype(np.float32)
    B = rng.standard_normal((N, K) if tB else (K, N)).astype(np.float32)
    C0 = rng.standard_normal((M, N)).astype(np.float32)
    a, b = round_bf16(A).astype(np.float64), round_bf16(B).astype(np.float64)
    a, b = (a.T if tA else a), (b.T if tB else b)
    want = a @ b + beta * C0
    scale = (np.abs(a) @ np.abs(b)).max() + 1
    before = nf.get_num_threads()
    try:
        for threads in (1, 2):
            nf.set_num_threads(threads)
            out = C0.copy()
            _C.sgemm(tA, tB, 1.0, A, B, beta, out, False, True)
            assert np.abs(out - want).max() <= 4e-7 * scale, (bf16_path, threads)
    finally:
        nf.set_num_threads(before)


def test_bf16_paths_agree_and_name_themselves():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((70, 300)).astype(np.float32)
    B = rng.standard_normal((90, 300)).astype(np.float32)
    names, outs = [], []
    for mode in ("auto", "emulate", "avx512_bf16"):
        assert _C.gemm_set_bf16(mode)
        names.append(_C.gemm_bf16_isa())
        outs.append(np.zeros((70, 90), np.float32))
        _C.sgemm(False, True, 1.0, A, B, 0.0, outs[-1], False, True)
    _C.gemm_set_bf16("auto")
    assert not _C.gemm_set_bf16("fast")
    assert names[1] == _C.gemm_isa() + "+round"
    # without native bf16 instructions "auto" is the emulation itself; AMX comes first
    assert names[0] in ("amx_bf16", "avx512_bf16", names[1])
    assert names[2] == ("avx512_bf16" if _C.cpu_has("avx512bf16") else names[0])
    assert (names[0] == "amx_bf16") == _C.cpu_has("amx_bf16")
    for other in outs[1:]:
        np.testing.assert_allclose(outs[0], other, rtol=0, atol=2e-5)   # summation order only


def test_bf16_peak_is_measured_where_the_cpu_has_it():
    flops = _C.bf16_peak(1000)
    assert (flops > 0) == (_C.gemm_bf16_isa() in ("amx_bf16", "avx512_bf16") or
                           (_C.gemm_isa() == "avx512" and flops > 0))
    with pytest.raises(ValueError):
        _C.bf16_peak(-1)


# ------------------------------------------------------------------------- the API
def test_autocast_api_matches_torch():
    for lib in (nf, torch):
        assert not lib.is_autocast_enabled("cpu")
        with lib.autocast("cpu", dtype=lib.bfloat16):
            assert lib.is_autocast_enabled("cpu")
            assert lib.get_autocast_dtype("cpu") == lib.bfloat16
            with lib.autocast("cpu", enabled=False):
                assert not lib.is_autocast_enabled("cpu")
            assert lib.is_autocast_enabled("cpu")
        assert not lib.is_autocast_enabled("cpu")
        with lib.amp.autocast("cpu"):          # the default CPU dtype is bfloat16
            assert lib.is_autocast_enabled("cpu")

    @nf.autocast("cpu")
    def decorated():
        return nf.is_autocast_enabled("cpu")
    assert decorated() and not nf.is_autocast_enabled("cpu")
    with nf.autocast("cpu"):
        assert nf.is_autocast_cpu_enabled() and nf.get_autocast_cpu_dtype() == nf.bfloat16


def test_autocast_refuses_what_it_does_not_do():
    with pytest.raises(TypeError, match="not a dtype"):   # as everywhere in nnfast
        nf.autocast("cpu", dtype=torch.float16)
    with pytest.raises(RuntimeError, match="unsupported autocast device_type"):
        nf.autocast("tpu")
    with pytest.raises(ValueError, match="device_type"):
        nf.autocast(nf.device("cpu"))
    with pytest.warns(UserWarning, match="CUDA"):
        ctx = nf.autocast("cuda")
    with ctx:
        assert not nf.is_autocast_enabled("cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with nf.autocast("cuda", enabled=False):   # the common CPU-machine guard: silent
            pass


def test_autocast_is_per_thread():
    lin = nn.Linear(64, 32)
    x = nf.randn(16, 64)
    with nf.no_grad():
        fp32 = lin(x).numpy()
    seen, results = {}, {}
    go = threading.Event()

    def other():
        go.wait()
        seen["enabled"] = nf.is_autocast_enabled("cpu")
        with nf.no_grad():
            results["other"] = lin(x).numpy()

    t = threading.Thread(target=other)
    t.start()
    with nf.autocast("cpu"), nf.no_grad():
        go.set()
        t.join()
        mine = lin(x).numpy()
    assert seen["enabled"] is False
    assert np.array_equal(results["other"], fp32)
    assert not np.array_equal(mine, fp32)


# ------------------------------------------------------------------------- ops
def _pair(seed=0, shapes=((16, 40), (40, 24))):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def _grads_close(n_tensors, t_tensors, rtol):
    for n, t in zip(n_tensors, t_tensors):
        assert n.grad.dtype == np.float32 and t.grad.dtype == torch.float32
        g = t.grad.numpy()
        np.testing.assert_allclose(n.grad.numpy(), g, rtol=rtol, atol=rtol * np.abs(g).max())


@pytest.mark.parametrize("dtype, eps", [("bfloat16", BF16_EPS), ("float16", 2.0 ** -10)])
@pytest.mark.parametrize("op", ["matmul", "mm", "bmm", "addmm", "baddbmm", "linear", "@",
                                "batched matmul"])
def test_autocast_ops_match_torch(op, dtype, eps):
    rng = np.random.default_rng(1)
    shapes = {"bmm": ((3, 16, 40), (3, 40, 24)), "baddbmm": ((3, 16, 40), (3, 40, 24)),
              "batched matmul": ((2, 3, 16, 40), (40, 24)), "linear": ((16, 40), (24, 40))}
    arrays = [rng.standard_normal(s).astype(np.float32)
              for s in shapes.get(op, ((16, 40), (40, 24)))]
    bias = rng.standard_normal(24).astype(np.float32)

    def run(lib):
        a, b = (lib.tensor(x.copy(), requires_grad=True) for x in arrays)
        c = lib.tensor(bias.copy())
        with lib.autocast("cpu", dtype=getattr(lib, dtype)):
            out = {"matmul": lambda: lib.matmul(a, b), "mm": lambda: lib.mm(a, b),
                   "bmm": lambda: lib.bmm(a, b), "addmm": lambda: lib.addmm(c, a, b),
                   "baddbmm": lambda: lib.baddbmm(c, a, b), "@": lambda: a @ b,
                   "batched matmul": lambda: lib.matmul(a, b),
                   "linear": lambda: lib.nn.functional.linear(a, b, c)}[op]()
        out.float().sum().backward() if lib is torch else out.sum().backward()
        return out, (a, b)

    (no, (na, nb)), (to, (ta, tb)) = run(nf), run(torch)
    assert to.dtype == getattr(torch, dtype) and no.dtype == np.float32   # fp32 storage here
    want = to.float().detach().numpy()
    # torch's output is rounded to bf16 (fp16) once more; both products are of rounded
    # operands
    np.testing.assert_allclose(no.detach().numpy(), want, rtol=eps,
                               atol=eps * np.abs(want).max())
    _grads_close((na, nb), (ta, tb), 2 * eps)
    # and it really is the low-precision product: away from the fp32 one by its rounding
    with nf.no_grad():
        exact = {"linear": lambda: nf.nn.functional.linear(na, nb, nf.tensor(bias))}.get(
            op, lambda: None)()
    if exact is not None:
        assert np.abs(exact.numpy() - no.detach().numpy()).max() > 1e-4


def test_everything_else_stays_fp32_and_parameters_keep_their_dtype():
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 30), nn.LayerNorm(30), nn.GELU(), nn.Linear(30, 5),
                          nn.LogSoftmax(dim=1))
    x = nf.randn(8, 20)
    y = nf.tensor(np.arange(8) % 5)
    with nf.autocast("cpu"):
        logp = model(x)
        loss = nn.functional.nll_loss(logp, y)
    loss.backward()
    assert loss.dtype == np.float32 and logp.dtype == np.float32
    for p in model.parameters():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32
    # a LayerNorm alone under autocast gives the fp32 numbers exactly
    ln = nn.LayerNorm(30)
    h = nf.randn(4, 30)
    with nf.no_grad():
        plain = ln(h).numpy()
        with nf.autocast("cpu"):
            assert np.array_equal(ln(h).numpy(), plain)


def _mlp_pair(sizes, seed=0):
    """The same ReLU MLP in torch and nnfast (torch's initial weights copied)."""
    torch.manual_seed(seed)

    def layers(lib):
        out = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            out += [lib.nn.Linear(a, b), lib.nn.ReLU()]
        return lib.nn.Sequential(*out[:-1])
    tm, nm = layers(torch), layers(nf)
    nm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    return tm, nm


@pytest.mark.parametrize("dtype, tol", [("bfloat16", (0.03, 0.01)),
                                        ("float16", (0.01, 0.003))])
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_training_under_autocast_follows_torch(opt, dtype, tol):
    tm, nm = _mlp_pair((32, 64, 48, 10))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 3e-3}
    topt = getattr(torch.optim, opt)(tm.parameters(), **kw)
    nopt = getattr(nf.optim, opt)(nm.parameters(), **kw)
    t_losses, n_losses = [], []
    for _ in range(40):
        with torch.autocast("cpu", dtype=getattr(torch, dtype)):
            tl = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        with nf.autocast("cpu", dtype=getattr(nf, dtype)):
            nl = nn.functional.cross_entropy(nm(nf.tensor(x)), nf.tensor(y))
        topt.zero_grad()
        tl.backward()
        topt.step()
        nopt.zero_grad()
        nl.backward()
        nopt.step()
        t_losses.append(tl.item())
        n_losses.append(nl.item())
    assert n_losses[-1] < 0.5 * n_losses[0]
    np.testing.assert_allclose(n_losses, t_losses, rtol=tol[0], atol=tol[1])


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_compile_step_under_autocast_is_the_eager_loop_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 100)).astype(np.float32)
    y = rng.integers(0, 10, 64)

    def make():
        nf.manual_seed(0)
        m = nn.Sequential(nn.Linear(100, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 48),
                          nn.GELU(), nn.Linear(48, 10))
        return m, nf.optim.Adam(m.parameters(), 1e-3)

    (m1, o1), (m2, o2), (m3, o3) = make(), make(), make()
    step = nf.compile_step(m2, nn.CrossEntropyLoss(), o2)
    assert step.compiled
    lf = nn.CrossEntropyLoss()
    for i in range(4):
        nf.manual_seed(100 + i)
        with nf.autocast("cpu", dtype=getattr(nf, dtype)):
            o1.zero_grad()
            loss = lf(m1(nf.tensor(x)), nf.tensor(y))
            loss.backward()
            o1.step()
        nf.manual_seed(100 + i)
        with nf.autocast("cpu", dtype=getattr(nf, dtype)):
            compiled = step(nf.tensor(x), nf.tensor(y))
        assert compiled == loss.item()
        nf.manual_seed(100 + i)
        o3.zero_grad()
        plain = lf(m3(nf.tensor(x)), nf.tensor(y))   # outside autocast: the fp32 step
        plain.backward()
        o3.step()
    for a, b, c in zip(m1.parameters(), m2.parameters(), m3.parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy())
        assert not np.array_equal(a.detach().numpy(), c.detach().numpy())


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("dataset", ["digits", "breast_cancer"])
def test_bf16_accuracy_matches_fp32_on_sklearn_datasets(dataset, dtype):
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    Xtr, Xte = (sc.transform(a).astype(np.float32) for a in (Xtr, Xte))
    n_cls = len(np.unique(y))
    acc = {}
    for bf16 in (False, True):
        nf.manual_seed(0)
        m = nn.Sequential(nn.Linear(X.shape[1], 256), nn.ReLU(), nn.Linear(256, 128),
                          nn.ReLU(), nn.Linear(128, n_cls))
        step = nf.compile_step(m, nn.CrossEntropyLoss(), nf.optim.Adam(m.parameters(), 1e-3))
        rng = np.random.default_rng(0)
        with nf.autocast("cpu", dtype=getattr(nf, dtype), enabled=bf16):
            for _ in range(20):
                idx = rng.permutation(len(Xtr))
                for s in range(0, len(idx) - 63, 64):
                    b = idx[s:s + 64]
                    step(nf.tensor(Xtr[b]), nf.tensor(ytr[b]))
            with nf.no_grad():
                pred = m.eval()(nf.tensor(Xte)).numpy().argmax(1)
        acc[bf16] = 100 * (pred == yte).mean()
    assert acc[False] > 90
    assert abs(acc[True] - acc[False]) <= 0.5, acc
