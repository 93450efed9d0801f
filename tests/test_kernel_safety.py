"""Kernel safety: whatever a user passes, a C kernel never crashes, hangs or touches memory
out of bounds. Every example either returns a result of the right shape or raises a clear
Python exception (ValueError / TypeError / RuntimeError / IndexError / FloatingPointError).

Three parts:
  * regression tests for bugs found by fuzzing under AddressSanitizer/UBSan;
  * hypothesis fuzzers over the public API of every kernel family with adversarial inputs:
    zero-size and size-1 dimensions, primes, non-contiguous / transposed / negative-stride /
    read-only / Fortran-order arrays, float64 and int dtypes, NaN and Inf;
  * direct calls of the low-level nnfast._C wrappers with inconsistent sizes and index arrays.

The normal suite runs few examples per fuzzer (fast). tests/test_sanitizers.py runs this file
again on an ASan+UBSan build of the extension (NNFAST_SANITIZE=1, see setup.py). For a longer
sanitizer run by hand, raise NNFAST_FUZZ_EXAMPLES (-s shows the sanitizer's report):
  NNFAST_SANITIZE=1 python setup.py build_ext --inplace --force
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \\
  ASAN_OPTIONS=detect_leaks=0 NNFAST_FUZZ_EXAMPLES=2000 python -m pytest -s tests/test_kernel_safety.py
then rebuild normally (python setup.py build_ext --inplace).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnfast as nf
import nnfast.nn.functional as F
from nnfast import _C, nn
from nnfast.errors import ShapeError

from helpers import misaligned

# The fuzzers feed deliberately odd inputs: the warnings they raise are expected.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")

ALLOWED = (ValueError, TypeError, RuntimeError, IndexError, FloatingPointError)
N_EXAMPLES = int(os.environ.get("NNFAST_FUZZ_EXAMPLES", "60"))
fuzz = settings(max_examples=N_EXAMPLES, deadline=None,
                suppress_health_check=list(HealthCheck))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _in_subprocess(code, timeout=60):
    """Run code in a fresh interpreter: a hang fails the test instead of blocking the run."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, timeout=timeout,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


# ====================================================================== regression tests

def test_embedding_backward_uses_the_indices_of_the_forward():
    # Found by ASan: Embedding kept a view of the caller's index array; refilling it before
    # backward() made the compiled scatter-add write at the new (out-of-range) rows.
    emb = nn.Embedding(4, 3)
    idx = np.array([0, 1, 1], np.int64)
    y = emb(idx)
    idx[0] = 10 ** 6
    y.sum().backward()
    assert np.array_equal(emb.weight.grad.detach().numpy().sum(axis=1), [3.0, 6.0, 0.0, 0.0])
    t = nf.tensor(np.array([2, 3], np.int64))
    emb.weight.grad = None
    y = emb(t)
    t.detach().numpy()[:] = -7
    y.sum().backward()
    assert np.array_equal(emb.weight.grad.detach().numpy().sum(axis=1), [0.0, 0.0, 3.0, 3.0])


def test_embedding_kernels_reject_out_of_range_indices():
    # The _C seam checks every index against the table before the gather / scatter-add.
    w = np.ones((5, 3), np.float32)
    for bad in (5, -1, 2 ** 62, -2 ** 63):
        idx = np.array([0, bad, 1], np.int64)
        with pytest.raises(IndexError, match="out of range for 5 rows"):
            _C.embedding_forward(np.empty((3, 3), np.float32), w, idx)
        with pytest.raises(IndexError, match="out of range for 5 rows"):
            _C.embedding_backward(np.zeros((5, 3), np.float32), np.ones((3, 3), np.float32),
                                  idx, None, -1)
    dw = np.zeros((5, 3), np.float32)
    _C.embedding_backward(dw, np.ones((2, 3), np.float32), np.array([4, 0], np.int64), None, -1)
    assert dw[4].tolist() == [1, 1, 1] and dw[0].tolist() == [1, 1, 1]


def test_a_grad_of_the_wrong_shape_is_an_error_not_a_kernel_target():
    # Found by ASan: autograd handed a hand-assigned .grad of another shape to the kernels as
    # the place to accumulate into; Embedding's scatter-add then wrote past it.
    for layer, x in ((nn.Embedding(1000, 3), np.array([999, 998], np.int64)),
                     (nn.Linear(3, 4), nf.tensor(np.ones((2, 3), np.float32))),
                     (nn.Conv2d(2, 3, 3), nf.tensor(np.ones((1, 2, 5, 5), np.float32))),
                     (nn.LayerNorm(3), nf.tensor(np.ones((4, 3), np.float32)))):
        layer.weight.grad = nf.tensor(np.zeros((2, 3), np.float32))
        with pytest.raises(ShapeError, match=r"\.grad of a tensor of shape .* has shape \(2, 3\)"):
            layer(x).sum().backward()


def test_max_pool_huge_padding_does_not_hang():
    # Found by fuzzing: the forward stepped a window's start out of the padding one dilation
    # at a time (kernel 2**40, padding 2**39: 2**39 steps per window).
    out = _in_subprocess("""
        import numpy as np, nnfast as nf, nnfast.nn.functional as F
        x = nf.tensor(np.arange(4, dtype=np.float32).reshape(1, 1, 2, 2), requires_grad=True)
        y = F.max_pool2d(x, 2 ** 40, stride=1, padding=2 ** 39)
        y.sum().backward()
        print(y.shape, float(y.detach().numpy().max()), x.grad.detach().numpy().sum())
    """)
    assert out.split()[-2:] == ["3.0", "9.0"]   # every window holds the whole image


def test_avg_pool_huge_kernel_has_no_integer_overflow():
    # Found by UBSan: the count_include_pad divisor (window height * width) overflowed int64.
    x = nf.tensor(np.ones((1, 1, 2, 2), np.float32), requires_grad=True)
    y = F.avg_pool2d(x, 2 ** 62, stride=1, padding=2 ** 61)
    assert y.shape == (1, 1, 3, 3) and np.all(np.isfinite(y.detach().numpy())) and np.all(y.detach().numpy() >= 0)
    y.sum().backward()
    assert x.grad.shape == (1, 1, 2, 2)


def test_class_loss_kernels_reject_labels_out_of_range():
    # The _C seam checks labels before the kernels index input/dinput/weight with them.
    x = np.zeros(6, np.float32)
    for fn in (_C.cross_entropy_loss, _C.nll_loss):
        for bad in (3, -1, 2 ** 62):
            t = np.array([0, bad], np.int64)
            with pytest.raises(IndexError, match="out of range for 3 classes"):
                fn(None, np.empty(6, np.float32), x, t, None, 2, 3, 1, -100, 1, *(
                    (0.0,) if fn is _C.cross_entropy_loss else ()))
        t = np.array([0, -100], np.int64)   # ignore_index is fine
        args = (None, None, x, t, None, 2, 3, 1, -100, 2)
        assert np.isfinite(fn(*args, *((0.0,) if fn is _C.cross_entropy_loss else ())))
        with pytest.raises(ValueError, match="negative size"):
            fn(None, None, np.zeros(3, np.float32), np.zeros(1, np.int64), None, -1, 3, -1, -100,
               2, *((0.0,) if fn is _C.cross_entropy_loss else ()))


def test_gelu_of_a_0d_float64_tensor():
    # Found by the activation fuzzer: the float64 reference's erf returned a bare Python float
    # for a 0-d input and gelu raised AttributeError instead of computing.
    x = nf.tensor(np.float64(0.387), requires_grad=True)
    y = F.gelu(x)
    y.backward()
    t = torch.tensor(0.387, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.gelu(t).backward()
    assert y.shape == () and np.isclose(float(y.detach().numpy()), 0.25179067376115694)
    assert np.isclose(float(x.grad.detach().numpy()), float(t.grad))


def test_kneighbors_rejects_nan_and_inf():
    # Found by the kNN fuzzer: NaN/inf distances compare false, so the C selection padded
    # rows with index -1 and the NumPy engine picked a row as its own neighbour; callers
    # (SMOTE, users) would silently index with those.
    for bad in (np.nan, np.inf, 1e30):
        X = np.array([[0.0], [bad], [1.0]])
        for engine in ("c", "numpy"):
            with pytest.raises(ValueError, match="NaN or infinity"):
                nf.data.kneighbors(X, 1, engine=engine)


def test_c_seam_rejects_sizes_whose_product_overflows():
    # Found by UBSan fuzzing the _C wrappers: sizes were multiplied in nf_int, so N = 2**62+1,
    # C = 4 gave N*C*S == 4 (wrapped), matched a 4-float buffer, and the kernel looped over
    # 2**62+1 rows; pooling/conv index arithmetic (oh*sh) overflowed for huge strides.
    f4, big = np.ones(4, np.float32), 2 ** 62 + 1
    with pytest.raises(ValueError, match="overflow"):
        _C.batch_norm_stats(np.empty(4, np.float32), np.empty(4, np.float32), None, None, f4,
                            big, 4, 1, 0.1, 1e-5)
    with pytest.raises(ValueError, match="overflow"):
        _C.softmax_forward(np.empty(4, np.float32), f4, big, 4, 1)
    with pytest.raises(ValueError, match="overflow"):
        _C.prelu_forward(np.empty(4, np.float32), f4, f4, big, 4, 1)
    with pytest.raises(ValueError, match="overflow"):
        _C.cross_entropy_loss(None, None, f4, np.zeros(1, np.int64), None, big, 4, 2 ** 62,
                              -100, 2, 0.0)
    with pytest.raises(ValueError, match="overflow"):
        _C.rnn_layer_forward(0, False, big, 4, 1, 1, 1, 0, *[f4] * 13)
    with pytest.raises(ValueError, match="overflow"):
        _C.max_pool2d_forward(np.empty((1, 3, 1), np.float32), np.empty((1, 3, 1), np.int64),
                              np.ones((1, 1, 1), np.float32), (1, 1), (2 ** 62, 1), (0, 0),
                              (1, 1))
    with pytest.raises(ValueError, match="overflow|bad geometry"):
        _C.conv2d_forward(np.empty((1, 1, 3, 1), np.float32), None,
                          np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32),
                          None, (1, 1, 1, 1, 1, 1, 1, 3, 1, 2 ** 62, 1, 0, 0, 1, 1, 1))


def test_conv2d_of_an_empty_row_with_padding():
    # Found by UBSan fuzzing conv2d: im2col/col2im formed row + iw0 for a window starting in
    # the left padding - a pointer before the array, and NULL + offset for W == 0 (UB).
    for shape in ((1, 1, 3, 0), (2, 2, 3, 4)):
        x = nf.tensor(np.ones(shape, np.float32), requires_grad=True)
        w = nf.tensor(np.ones((2, shape[1], 1, 3), np.float32), requires_grad=True)
        y = F.conv2d(x, w, padding=2, stride=(1, 2))
        if shape[3]:
            ty = torch.nn.functional.conv2d(torch.ones(shape), torch.ones(2, shape[1], 1, 3),
                                            padding=2, stride=(1, 2))
            assert y.shape == tuple(ty.shape) and np.allclose(y.detach().numpy(), ty.numpy())
        else:   # torch refuses an empty row; every window lies in the zero padding
            assert y.shape == (1, 2, 7, 1) and np.all(y.detach().numpy() == 0)
        y.sum().backward()
        assert x.grad.shape == shape and w.grad.shape == w.shape


def test_float64_binary_losses_of_an_empty_batch_with_weights():
    # Found by the loss fuzzer: the float64 reference tiled the (empty) weight with
    # n // w.size and raised ZeroDivisionError; torch returns an empty loss.
    for fn, kw in ((F.binary_cross_entropy, {}), (F.binary_cross_entropy_with_logits,
                                                  {"pos_weight": nf.tensor(np.ones(0))})):
        x = nf.tensor(np.zeros(0), requires_grad=True)
        out = fn(x, nf.tensor(np.zeros(0)), weight=nf.tensor(np.ones(0)), reduction="none",
                 **kw)
        assert out.shape == (0,) and out.dtype == np.float64
        assert float(fn(x, nf.tensor(np.zeros(0)), weight=nf.tensor(np.ones(0)),
                        reduction="sum", **kw).detach().numpy()) == 0.0


# ====================================================================== adversarial inputs

LAYOUTS = ("c", "fortran", "strided", "negative", "readonly", "float64", "int", "nonfinite",
           "misaligned")
DIM = st.sampled_from([0, 1, 1, 2, 3, 5, 7])          # zero, one, small primes


def adversarial(shape, layout, seed=0, scale=2.0):
    """A float32 array of `shape` (values in +-scale) made awkward in one way."""
    rng = np.random.default_rng(seed)
    a = np.asarray(rng.uniform(-scale, scale, shape), dtype=np.float32)
    if layout == "fortran" and a.ndim:       # asfortranarray makes a 0-d array 1-d
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        a = np.repeat(a, 2, axis=-1)[..., ::2]
    elif layout == "negative" and a.ndim:
        a = np.flip(a)                       # a view with negative strides
    elif layout == "readonly":
        a.setflags(write=False)
    elif layout == "float64":
        a = a.astype(np.float64)
    elif layout == "int":
        a = np.asarray(np.round(a).astype(np.int64))
    elif layout == "misaligned":
        a = misaligned(a)
    elif layout == "nonfinite" and a.size:
        flat = a.reshape(-1)
        for v, i in zip((np.nan, np.inf, -np.inf), rng.integers(0, a.size, 3)):
            flat[i] = v
    return a


def leaf(shape, layout, seed=0, scale=2.0, grad=True):
    a = adversarial(shape, layout, seed, scale)
    t = nf.from_numpy(np.asarray(a))
    if grad and a.dtype.kind == "f":
        t.requires_grad_(True)
    return t


def attempt(fn, shape=None):
    """fn() or None if it raised an allowed exception; checks the result's shape."""
    try:
        out = fn()
    except ALLOWED:
        return None
    if shape is not None:
        got = out.shape if hasattr(out, "shape") else np.shape(out)
        assert tuple(got) == tuple(shape), f"shape {tuple(got)}, expected {tuple(shape)}"
    return out


def backprop(out, *inputs):
    """Backward with a random upstream gradient; every gradient has its input's shape."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    outs = [o for o in outs if isinstance(o, nf.Tensor) and o.requires_grad]
    if not outs:
        return
    total = None
    for i, o in enumerate(outs):
        up = nf.tensor(np.random.default_rng(i).standard_normal(o.shape).astype(o.dtype))
        term = (o * up).sum()
        total = term if total is None else total + term
    try:
        total.backward()
    except ALLOWED:
        return
    for t in inputs:
        if isinstance(t, nf.Tensor) and t.grad is not None:
            assert t.grad.shape == t.shape, f"grad {t.grad.shape} for input {t.shape}"


def torch_shape(fn):
    try:
        return tuple(fn().shape)
    except Exception:   # noqa: BLE001 - torch's own refusal: then only nnfast's no-crash counts
        return None


layouts = st.sampled_from(LAYOUTS)
shapes = st.lists(DIM, min_size=0, max_size=4).map(tuple)


# ----------------------------------------------------------------------- activations

@fuzz
@given(shape=shapes, layout=layouts, which=st.integers(0, 9), dim=st.integers(-5, 4),
       inplace=st.booleans(), seed=st.integers(0, 3))
def test_fuzz_activations(shape, layout, which, dim, inplace, seed):
    x = leaf(shape, layout, seed, grad=not inplace)
    fns = [lambda: F.relu(x, inplace=inplace), lambda: F.leaky_relu(x, 0.1, inplace=inplace),
           lambda: F.elu(x, 1.5, inplace=inplace), lambda: F.sigmoid(x), lambda: F.tanh(x),
           lambda: F.gelu(x), lambda: F.gelu(x, approximate="tanh"),
           lambda: F.silu(x, inplace=inplace), lambda: F.softmax(x, dim),
           lambda: F.log_softmax(x, dim)]
    out = attempt(fns[which], x.shape)
    if out is not None:
        backprop(out, x)


@fuzz
@given(shape=shapes, layout=layouts, wlen=st.sampled_from([0, 1, 2, 3, 5]),
       wlayout=layouts, seed=st.integers(0, 3))
def test_fuzz_prelu(shape, layout, wlen, wlayout, seed):
    x = leaf(shape, layout, seed)
    w = leaf((wlen,), wlayout, seed + 1)
    out = attempt(lambda: F.prelu(x, w), x.shape)
    if out is not None:
        backprop(out, x, w)
    if len(shape) >= 2 and wlen >= 1:
        m = nn.PReLU(wlen)
        out = attempt(lambda: m(x), x.shape)
        if out is not None:
            backprop(out, x)


# ----------------------------------------------------------------------- linear, matmul

@fuzz
@given(shape=shapes, fin=DIM, fout=DIM, layout=layouts, wlayout=layouts, bias=st.booleans(),
       bshape=st.sampled_from([None, (0,), (1,), (3,), (2, 3)]), seed=st.integers(0, 3))
def test_fuzz_linear(shape, fin, fout, layout, wlayout, bias, bshape, seed):
    x = leaf(shape, layout, seed)
    w = leaf((fout, fin), wlayout, seed + 1)
    b = leaf(bshape if bshape is not None else (fout,), layout, seed + 2) if bias else None
    want = torch_shape(lambda: torch.nn.functional.linear(
        torch.zeros(shape), torch.zeros(fout, fin), None if b is None else torch.zeros(b.shape)))
    out = attempt(lambda: F.linear(x, w, b))
    if out is not None:
        if want is not None:
            assert out.shape == want
        backprop(out, x, w, b)
    lin = nn.Linear(fin, fout, bias=bias)
    out = attempt(lambda: lin(x))
    if out is not None:
        backprop(out, x)


@fuzz
@given(a=shapes, b=shapes, la=layouts, lb=layouts, seed=st.integers(0, 3))
def test_fuzz_matmul(a, b, la, lb, seed):
    x, y = leaf(a, la, seed), leaf(b, lb, seed + 1)
    want = torch_shape(lambda: torch.matmul(torch.zeros(a), torch.zeros(b)))
    out = attempt(lambda: nf.matmul(x, y))
    if out is not None:
        if want is not None:
            assert out.shape == want
        backprop(out, x, y)


# ----------------------------------------------------------------------- losses

@fuzz
@given(shape=shapes, layout=layouts, tlayout=layouts, which=st.integers(0, 5),
       red=st.sampled_from(["none", "mean", "sum"]), seed=st.integers(0, 3),
       wshape=st.sampled_from([None, "same", (1,), (2,)]))
def test_fuzz_pointwise_losses(shape, layout, tlayout, which, red, seed, wshape):
    x = leaf(shape, layout, seed)
    y = leaf(shape, tlayout, seed + 1, grad=False)
    if which >= 4:   # binary losses want targets in [0, 1] (and inputs, for BCE)
        y = nf.from_numpy(np.asarray(np.abs(y.detach().numpy()) / 2 if y.dtype.kind == "f" else y.detach().numpy()))
        if which == 4:
            x = nf.from_numpy(np.asarray(np.abs(x.detach().numpy()) / 2 if x.dtype.kind == "f" else x.detach().numpy()))
            if x.dtype.kind == "f":
                x.requires_grad_(True)
    w = None if wshape is None else leaf(shape if wshape == "same" else wshape, layout, 9,
                                         grad=False)
    fns = [lambda: F.mse_loss(x, y, reduction=red, weight=w),
           lambda: F.l1_loss(x, y, reduction=red, weight=w),
           lambda: F.huber_loss(x, y, reduction=red, delta=0.5, weight=w),
           lambda: F.smooth_l1_loss(x, y, reduction=red, beta=0.5),
           lambda: F.binary_cross_entropy(x, y, weight=w, reduction=red),
           lambda: F.binary_cross_entropy_with_logits(x, y, weight=w, reduction=red,
                                                      pos_weight=w)]
    out = attempt(fns[which], shape if red == "none" else ())
    if out is not None:
        backprop(out, x)


@fuzz
@given(n=DIM, c=DIM, extra=st.lists(DIM, max_size=2), layout=layouts,
       label=st.sampled_from(["ok", "edges", "neg", "big", "ignore", "float", "int32"]),
       ignore_index=st.sampled_from([-100, 0, 1, 2 ** 40]), weighted=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.3, 1.0]), red=st.sampled_from(["none", "mean", "sum"]),
       nll=st.booleans(), unbatched=st.booleans(), seed=st.integers(0, 3))
def test_fuzz_class_losses(n, c, extra, layout, label, ignore_index, weighted, smoothing, red,
                           nll, unbatched, seed):
    shape = (c,) if unbatched else (n, c, *extra)
    tshape = () if unbatched else (n, *extra)
    x = leaf(shape, layout, seed)
    rng = np.random.default_rng(seed)
    t = rng.integers(0, max(c, 1), tshape)
    if label == "edges" and t.size:
        t.reshape(-1)[0], t.reshape(-1)[-1] = 0, c - 1
    elif label == "neg" and t.size:
        t.reshape(-1)[0] = -1
    elif label == "big" and t.size:
        t.reshape(-1)[-1] = c + 2 ** 40
    elif label == "ignore" and t.size:
        t[...] = ignore_index
    elif label == "float":
        t = t.astype(np.float32)
    elif label == "int32":
        t = t.astype(np.int32)
    w = leaf((c,), layout, seed + 1, grad=False) if weighted else None
    if nll:
        fn = lambda: F.nll_loss(x, nf.from_numpy(t), weight=w, ignore_index=ignore_index,  # noqa
                                reduction=red)
    else:
        fn = lambda: F.cross_entropy(x, nf.from_numpy(t), weight=w,  # noqa: E731
                                     ignore_index=ignore_index, reduction=red,
                                     label_smoothing=smoothing)
    out = attempt(fn, tshape if red == "none" else ())
    if out is not None:
        backprop(out, x)
    # class-probability targets of the input's shape
    p = leaf(shape, layout, seed + 2)
    out = attempt(lambda: F.cross_entropy(x, p, weight=w, reduction=red,
                                          label_smoothing=smoothing), None)
    if out is not None:
        backprop(out, x, p)


# ----------------------------------------------------------------------- optimizers, clipping

@fuzz
@given(sizes=st.lists(st.lists(DIM, max_size=3).map(tuple), min_size=1, max_size=4),
       opt=st.integers(0, 6), grads=st.sampled_from(["all", "none", "some", "nonfinite"]),
       steps=st.integers(1, 3), clip=st.integers(0, 3), seed=st.integers(0, 3))
def test_fuzz_optimizers_and_clipping(sizes, opt, grads, steps, clip, seed):
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(rng.standard_normal(s).astype(np.float32)) for s in sizes]
    make = [lambda p: nf.optim.SGD(p, lr=0.1),
            lambda p: nf.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
            lambda p: nf.optim.Adam(p, lr=0.1, amsgrad=True, weight_decay=0.1),
            lambda p: nf.optim.AdamW(p, lr=0.1, maximize=True),
            lambda p: nf.optim.RMSprop(p, lr=0.1, centered=True, momentum=0.5),
            lambda p: nf.optim.Adagrad(p, lr=0.1, lr_decay=0.1),
            lambda p: nf.optim.SGD([{"params": p[:1]}, {"params": p[1:], "lr": 0.5}], lr=0.1)]
    o = attempt(lambda: make[opt](params))
    if o is None:
        return
    for step in range(steps):
        for i, p in enumerate(params):
            if grads == "none" or (grads == "some" and (i + step) % 2):
                p.grad = None
            else:
                g = rng.standard_normal(p.shape).astype(np.float32)
                if grads == "nonfinite" and g.size:
                    g.reshape(-1)[0] = np.nan if i % 2 else np.inf
                p.grad = nf.tensor(g)
        if clip == 1:
            attempt(lambda: nn.utils.clip_grad_norm_(params, 0.5), ())
        elif clip == 2:
            attempt(lambda: nn.utils.clip_grad_norm_(params, 0.5, norm_type=float("inf"),
                                                     error_if_nonfinite=True), ())
        elif clip == 3:
            attempt(lambda: nn.utils.clip_grad_value_(params, 0.1))
        attempt(o.step)
        attempt(o.zero_grad)
    for p, s in zip(params, sizes):
        assert p.shape == s


# ----------------------------------------------------------------------- dropout, norms

@fuzz
@given(shape=shapes, layout=layouts, which=st.integers(0, 3),
       p=st.sampled_from([0.0, 0.3, 1.0, -0.1, 1.5, float("nan")]), training=st.booleans(),
       inplace=st.booleans(), seed=st.integers(0, 3))
def test_fuzz_dropout(shape, layout, which, p, training, inplace, seed):
    x = leaf(shape, layout, seed, grad=not inplace)
    fn = (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d)[which]
    out = attempt(lambda: fn(x, p, training, inplace), shape)
    if out is not None:
        backprop(out, x)


@fuzz
@given(shape=st.lists(DIM, min_size=1, max_size=4).map(tuple), layout=layouts,
       training=st.booleans(), running=st.booleans(), affine=st.booleans(),
       clen=st.sampled_from([None, 0, 1, 2]), nshape=st.integers(0, 3), seed=st.integers(0, 3))
def test_fuzz_batch_and_layer_norm(shape, layout, training, running, affine, clen, nshape, seed):
    x = leaf(shape, layout, seed)
    C = (shape[1] if len(shape) > 1 else shape[0]) if clen is None else clen
    rm = nf.from_numpy(np.zeros(C, np.float32)) if running else None
    rv = nf.from_numpy(np.ones(C, np.float32)) if running else None
    w = leaf((C,), layout, seed + 1) if affine else None
    b = leaf((C,), layout, seed + 2) if affine else None
    out = attempt(lambda: F.batch_norm(x, rm, rv, w, b, training=training or not running),
                  shape)
    if out is not None:
        backprop(out, x, w, b)
    ns = shape[len(shape) - min(nshape, len(shape)):] if nshape else (clen or 0,)
    lw = leaf(ns, layout, seed + 3) if affine else None
    lb = leaf(ns, layout, seed + 4) if affine else None
    out = attempt(lambda: F.layer_norm(x, ns, lw, lb), shape)
    if out is not None:
        backprop(out, x, lw, lb)
    for mod in (lambda: nn.BatchNorm1d(max(C, 1)), lambda: nn.BatchNorm2d(max(C, 1)),
                lambda: nn.LayerNorm(ns)):
        m = attempt(mod)
        if m is not None:
            out = attempt(lambda: m(x), shape)
            if out is not None:
                backprop(out, x)


# ----------------------------------------------------------------------- conv, pooling

SMALL = st.integers(0, 6)
KER = st.sampled_from([1, 2, 3, 5, 7, 8])


@fuzz
@given(n=SMALL, c=st.sampled_from([0, 1, 2, 3, 4, 6]), h=SMALL, w=SMALL,
       oc=st.sampled_from([0, 1, 2, 3, 6]), kh=KER, kw=KER, stride=st.integers(0, 4),
       padding=st.sampled_from([0, 1, 3, 8, -1, "same", "valid"]), dilation=st.integers(0, 3),
       groups=st.sampled_from([0, 1, 2, 3]), bias=st.booleans(), layout=layouts,
       unbatched=st.booleans(), seed=st.integers(0, 3))
def test_fuzz_conv2d(n, c, h, w, oc, kh, kw, stride, padding, dilation, groups, bias, layout,
                     unbatched, seed):
    shape = (c, h, w) if unbatched else (n, c, h, w)
    cg = c // groups if groups else c
    x = leaf(shape, layout, seed)
    wt = leaf((oc, cg, kh, kw), layout, seed + 1)
    b = leaf((oc,), layout, seed + 2) if bias else None
    kws = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    want = torch_shape(lambda: torch.nn.functional.conv2d(
        torch.zeros(shape), torch.zeros(oc, cg, kh, kw), None, **kws))
    out = attempt(lambda: F.conv2d(x, wt, b, **kws))
    if out is not None:
        if want is not None and np.prod(want) > 0:   # torch shapes empty results oddly
            assert out.shape == want
        backprop(out, x, wt, b)


@fuzz
@given(n=SMALL, c=SMALL, h=st.integers(0, 9), w=st.integers(0, 9), kh=KER, kw=KER,
       stride=st.sampled_from([None, 0, 1, 2, 3, 7]), ph=st.integers(-1, 4),
       pw=st.integers(0, 4), dilation=st.integers(0, 3), ceil=st.booleans(),
       cip=st.booleans(), div=st.sampled_from([None, 0, 1, -3, 5]), which=st.integers(0, 2),
       osize=st.sampled_from([0, 1, 2, 3, 5, 11, None]), layout=layouts,
       unbatched=st.booleans(), seed=st.integers(0, 3))
def test_fuzz_pooling(n, c, h, w, kh, kw, stride, ph, pw, dilation, ceil, cip, div, which,
                      osize, layout, unbatched, seed):
    shape = (c, h, w) if unbatched else (n, c, h, w)
    x = leaf(shape, layout, seed)
    tx = torch.zeros(shape)
    TF = torch.nn.functional
    if which == 0:
        kws = dict(kernel_size=(kh, kw), stride=stride, padding=(ph, pw), dilation=dilation,
                   ceil_mode=ceil)
        want = torch_shape(lambda: TF.max_pool2d(tx, **kws))
        out = attempt(lambda: F.max_pool2d(x, return_indices=True, **kws))
        if out is not None:
            y, idx = out
            if want is not None:
                assert y.shape == want
            assert idx.shape == y.shape and idx.dtype == np.int64
            backprop(y, x)
    elif which == 1:
        kws = dict(kernel_size=(kh, kw), stride=stride, padding=(ph, pw), ceil_mode=ceil,
                   count_include_pad=cip, divisor_override=div)
        want = torch_shape(lambda: TF.avg_pool2d(tx, **kws))
        out = attempt(lambda: F.avg_pool2d(x, **kws))
        if out is not None:
            if want is not None:
                assert out.shape == want
            backprop(out, x)
    else:
        size = (osize, kh) if kh != 8 else osize
        want = torch_shape(lambda: TF.adaptive_avg_pool2d(tx, size))
        out = attempt(lambda: F.adaptive_avg_pool2d(x, size))
        if out is not None:
            if want is not None:
                assert out.shape == want
            backprop(out, x)


# ----------------------------------------------------------------------- recurrent, embedding

@fuzz
@given(mode=st.sampled_from(["RNN", "LSTM", "GRU", "RNN_relu"]), T=SMALL, B=SMALL,
       I=st.integers(1, 4), H=st.integers(1, 4), layers=st.integers(1, 2),
       bidir=st.booleans(), bias=st.booleans(), batch_first=st.booleans(),
       xin=st.sampled_from(["ok", "wrong_I", "2d", "4d"]), hx=st.sampled_from([None, "ok", "bad"]),
       layout=layouts, seed=st.integers(0, 3))
def test_fuzz_rnn(mode, T, B, I, H, layers, bidir, bias, batch_first, xin, hx, layout, seed):
    kw = dict(num_layers=layers, bias=bias, batch_first=batch_first, bidirectional=bidir)
    if mode == "RNN_relu":
        m = nn.RNN(I, H, nonlinearity="relu", **kw)
    else:
        m = getattr(nn, mode)(I, H, **kw)
    shape = {"ok": (T, B, I), "wrong_I": (T, B, I + 1), "2d": (T, I), "4d": (T, B, I, 1)}[xin]
    if batch_first and len(shape) == 3:
        shape = (shape[1], shape[0], shape[2])
    x = leaf(shape, layout, seed)
    D = 2 if bidir else 1
    h = None
    if hx is not None:
        hs = (layers * D, B, H) if hx == "ok" else (layers * D + 1, B, H)
        h0 = leaf(hs if len(shape) == 3 else hs[:1] + hs[2:], layout, seed + 1)
        h = (h0, leaf(h0.shape, layout, seed + 2)) if mode == "LSTM" else h0
    out = attempt(lambda: m(x) if h is None else m(x, h))
    if out is not None:
        y = out[0]
        if xin == "ok":
            assert y.shape[-1] == D * H and y.shape[:-1] == shape[:-1]
        backprop(y, x)


@fuzz
@given(V=st.sampled_from([0, 1, 2, 7]), D=st.sampled_from([0, 1, 3]), ishape=shapes,
       which=st.sampled_from(["ok", "edges", "neg", "big", "float", "int32", "uint8"]),
       padding_idx=st.sampled_from([None, 0, -1, 6, 7, -8]), freq=st.booleans(),
       layout=st.sampled_from(["c", "fortran", "negative", "readonly", "strided"]),
       seed=st.integers(0, 3))
def test_fuzz_embedding(V, D, ishape, which, padding_idx, freq, layout, seed):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, max(V, 1), ishape)
    if which == "edges" and idx.size:
        idx.reshape(-1)[0], idx.reshape(-1)[-1] = 0, V - 1
    elif which == "neg" and idx.size:
        idx.reshape(-1)[0] = -1
    elif which == "big" and idx.size:
        idx.reshape(-1)[-1] = V + 2 ** 40
    elif which in ("float", "int32", "uint8"):
        idx = idx.astype({"float": np.float32, "int32": np.int32, "uint8": np.uint8}[which])
    if layout == "fortran" and idx.ndim:
        idx = np.asfortranarray(idx)
    elif layout == "negative" and idx.ndim:
        idx = np.flip(idx)
    elif layout == "readonly":
        idx.setflags(write=False)
    elif layout == "strided" and idx.ndim:
        idx = np.repeat(idx, 2, axis=-1)[..., ::2]
    weight = leaf((V, D), "c", seed)
    out = attempt(lambda: F.embedding(nf.from_numpy(np.asarray(idx)), weight, padding_idx,
                                      scale_grad_by_freq=freq), idx.shape + (D,))
    if out is not None:
        backprop(out, weight)
    try:
        emb = nn.Embedding(V, D, padding_idx=padding_idx, scale_grad_by_freq=freq)
    except (AssertionError,) + ALLOWED:   # torch's own assert for padding_idx out of range
        return
    out = attempt(lambda: emb(np.asarray(idx)), idx.shape + (D,))
    if out is not None:
        backprop(out, emb.weight)


# ----------------------------------------------------------------------- kNN, SMOTE, loaders

@fuzz
@given(m=st.integers(0, 9), d=st.integers(0, 4), k=st.integers(-1, 10),
       dup=st.booleans(), layout=layouts, block=st.sampled_from([None, 1, 2, 3, 100]),
       engine=st.sampled_from(["c", "numpy"]), seed=st.integers(0, 3))
def test_fuzz_kneighbors_and_smote(m, d, k, dup, layout, block, engine, seed):
    X = adversarial((m, d), layout, seed)
    if dup and m > 1 and layout not in ("readonly",) and X.flags.writeable:
        X[1:] = X[0]                       # duplicate points: ties everywhere
    out = attempt(lambda: nf.data.kneighbors(X, k, block_rows=block, engine=engine), (m, k))
    if out is not None and out.size:
        assert out.min() >= 0 and out.max() < m
        assert not np.any(out == np.arange(m)[:, None])
    y = np.arange(m) % 3 if m else np.zeros(0, np.int64)
    res = attempt(lambda: nf.data.SMOTE(k_neighbors=k, random_state=seed).fit_resample(X, y))
    if res is not None:
        Xr, yr = res
        assert Xr.shape[0] == yr.shape[0] >= m and Xr.shape[1:] == X.shape[1:]


@fuzz
@given(n=st.integers(0, 7), feat=st.lists(DIM, max_size=2).map(tuple), bs=st.integers(-1, 8),
       shuffle=st.booleans(), drop_last=st.booleans(), layout=layouts, seed=st.integers(0, 3))
def test_fuzz_data_loader(n, feat, bs, shuffle, drop_last, layout, seed):
    X = adversarial((n,) + feat, layout, seed)
    y = np.arange(n)
    ds = attempt(lambda: nf.data.TensorDataset(nf.from_numpy(X), nf.from_numpy(y)))
    if ds is None:
        return
    dl = attempt(lambda: nf.data.DataLoader(ds, batch_size=bs, shuffle=shuffle,
                                            drop_last=drop_last, generator=seed))
    if dl is None:
        return
    seen = 0
    try:
        for xb, yb in dl:
            assert xb.shape[1:] == feat and xb.shape[0] == yb.shape[0] <= bs
            seen += xb.shape[0]
    except ALLOWED:
        return
    assert seen == (n // bs * bs if drop_last else n)


# ====================================================================== the _C seam directly
# Each wrapper gets arrays of independently drawn lengths/ranks/dtypes and arbitrary sizes:
# it must either run (sizes consistent) or raise - never read or write past a buffer.

def _arr(shape, kind="f4"):
    """An array of `shape`: float32/float64 ones, int64 indices in [-3, 10), uint8, or None."""
    if kind == "none":
        return None
    if kind == "i8":
        return np.random.default_rng(sum(shape)).integers(-3, 10, shape).astype(np.int64)
    if kind == "u1":
        return np.ones(shape, np.uint8)
    return np.ones(shape, np.float32 if kind == "f4" else np.float64)


def _args(spec, ints):
    """Scalar arguments of a wrapper's spec: 'I' int, 'B' bool, 'F' float, 'Tk' k-tuple."""
    out, ii = [], 0
    for s in spec:
        if s == "I":
            out.append(ints[ii % len(ints)])
            ii += 1
        elif s == "B":
            out.append(bool(ints[ii % len(ints)] % 2))
            ii += 1
        elif s == "F":
            out.append(0.5)
        elif s[0] == "T":
            k = int(s[1:])
            out.append(tuple(ints[(ii + j) % len(ints)] for j in range(k)))
            ii += k
    return out


SEAM = {   # wrapper: argument spec in order
    "sgemm": ["B", "B", "F", "A2", "A2", "F", "A2"],
    "colsum": ["A", "A2", "F"],
    "linear_forward": ["A2", "A2", "A2", "A"],
    "linear_backward": ["A2", "A2", "A", "A2", "A2", "A2", "B"],
    "act_forward": ["I", "A", "A", "F"],
    "act_backward": ["I", "A", "A", "A", "F"],
    "prelu_forward": ["A", "A", "A", "I", "I", "I"],
    "prelu_backward": ["A", "A", "A", "A", "A", "I", "I", "I"],
    "softmax_forward": ["A", "A", "I", "I", "I", "B"],
    "softmax_backward": ["A", "A", "A", "I", "I", "I", "B"],
    "pointwise_loss": ["K", "A", "A", "A", "A", "A", "A", "F", "F"],
    "cross_entropy_loss": ["A", "A", "A", "Ai", "A", "I", "I", "I", "I", "I", "F"],
    "nll_loss": ["A", "A", "A", "Ai", "A", "I", "I", "I", "I", "I"],
    "cross_entropy_prob_loss": ["A", "A", "A", "A", "A", "A", "I", "I", "I", "I", "F"],
    "bce_loss": ["A", "A", "A", "A", "A", "A", "F"],
    "bce_logits_loss": ["A", "A", "A", "A", "A", "A", "A", "F"],
    "sgd_step": ["A", "A", "A", "F", "F", "F", "F", "B", "B", "B"],
    "adam_step": ["A", "A", "A", "A", "A", "F", "F", "F", "F", "F", "F", "F", "F", "B"],
    "rmsprop_step": ["A", "A", "A", "A", "A", "F", "F", "F", "F", "F", "F", "B"],
    "adagrad_step": ["A", "A", "A", "F", "F", "F", "B"],
    "dropout_forward": ["A", "Au", "A", "I", "I", "F"],
    "dropout_backward": ["A", "A", "Au", "F"],
    "feature_dropout_forward": ["A", "Au", "A", "I", "I", "I", "I", "F"],
    "feature_dropout_backward": ["A", "A", "Au", "I", "I", "F"],
    "l1l2_backward": ["A", "A", "F", "F"],
    "batch_norm_stats": ["A", "A", "A", "A", "A", "I", "I", "I", "F", "F"],
    "batch_norm_apply": ["A", "A", "A", "A", "A", "A", "I", "I", "I"],
    "batch_norm_backward": ["A", "A", "A", "A", "A", "A", "A", "A", "I", "I", "I", "B"],
    "layer_norm_forward": ["A", "A", "A", "A", "A", "A", "I", "I", "F"],
    "layer_norm_backward": ["A", "A", "A", "A", "A", "A", "A", "A", "I", "I"],
    "conv2d_forward": ["A4", "A", "A4", "A4", "A", "T16"],
    "conv2d_backward": ["A4", "A4", "A", "A", "A4", "A4", "A4", "T16", "B"],
    "max_pool2d_forward": ["A3", "Ai3", "A3", "T2", "T2", "T2", "T2"],
    "max_pool2d_backward": ["A3", "A3", "Ai3"],
    "avg_pool2d_forward": ["A3", "A3", "T2", "T2", "T2", "B", "I"],
    "avg_pool2d_backward": ["A3", "A3", "T2", "T2", "T2", "B", "I"],
    "adaptive_avg_pool2d_forward": ["A3", "A3"],
    "adaptive_avg_pool2d_backward": ["A3", "A3"],
    "embedding_forward": ["A2", "A2", "Ai"],
    "embedding_backward": ["A2", "A2", "Ai", "A", "I"],
    "knn_select": ["Ai2", "A2", "A2", "A", "I"],
}


@settings(max_examples=N_EXAMPLES * 8, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(SEAM)),
       lens=st.lists(st.sampled_from([0, 1, 2, 3, 4, 6, 8, 12, 24]), min_size=1, max_size=6),
       kinds=st.lists(st.sampled_from(["f4", "f4", "f4", "f8", "none", "i8"]), min_size=1,
                      max_size=6),
       ints=st.lists(st.sampled_from([-2 ** 62, -7, -1, 0, 1, 2, 3, 4, 6, 2 ** 31, 2 ** 62]),
                     min_size=1, max_size=16))
def test_fuzz_c_seam_with_inconsistent_arguments(name, lens, kinds, ints):
    spec = SEAM[name]
    args = []
    ai = ii = 0
    for s in spec:
        if s.startswith("A"):
            nd = int(s[-1]) if s[-1].isdigit() else 1
            kind = "i8" if "i" in s else "u1" if "u" in s else kinds[ai % len(kinds)]
            dims = tuple(lens[(ai + j) % len(lens)] for j in range(nd))
            args.append(_arr(dims, kind))
            ai += 1
        elif s == "K":
            args.append("huber")
        else:
            part = _args([s], ints[ii:] + ints[:ii])
            args.append(part[0])
            ii += 16 if s == "T16" else 2 if s == "T2" else 1
    if name.startswith("act_") and isinstance(args[0], int):
        args[0] = args[0] % 9                           # include one unknown kind
    try:
        getattr(_C, name)(*args)
    except (ALLOWED + (OverflowError,)):   # OverflowError: an int beyond nf_int's range
        pass


def test_c_seam_rejects_undersized_outputs_and_index_arrays():
    f = np.ones(12, np.float32)
    with pytest.raises(ValueError):
        _C.act_forward(0, np.empty(11, np.float32), f)
    with pytest.raises(ValueError):
        _C.softmax_forward(np.empty(12, np.float32), f, 2, 3, 3)
    with pytest.raises(ValueError):
        _C.sgd_step(np.ones(12, np.float32), np.ones(11, np.float32), f, -0.1, 0, 0.9, 1,
                    False, False, True)
    with pytest.raises(ValueError):
        _C.max_pool2d_backward(np.empty((2, 2, 2), np.float32), np.ones((2, 1, 1), np.float32),
                               np.zeros((1, 1, 1), np.int64))
    dx = np.full((1, 2, 2), 7, np.float32)   # stray indices are skipped, not written
    _C.max_pool2d_backward(dx, np.ones((1, 1, 3), np.float32),
                           np.array([[[-1, 4, 2 ** 40]]], np.int64))
    assert np.all(dx == 0)
    with pytest.raises(ValueError):
        _C.conv2d_forward(np.empty((1, 1, 2, 2), np.float32), None,
                          np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32),
                          None, (1, 1, 3, 3, 1, 2, 2, 3, 3, 1, 1, 0, 0, 1, 1, 1))
    with pytest.raises(ValueError):
        e1, e2 = np.empty(1, np.float32), np.empty(2, np.float32)   # T=2, B=I=H=1
        _C.rnn_layer_forward(0, False, 2, 1, 1, 1, 1, 0, e1, e1, None, e2, None, e1, e2, e1,
                             e1, None, None, e1, None)   # out has 1 float, needs 2


def test_compiled_step_rejects_malformed_update_records():
    """MlpPlan.run's optimizer records (nnfast/_C_step.pxi): every array is checked before the
    C call, and a record it rejects leaves the parameters as they were."""
    from nnfast import nn, optim
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    step = nf.compile_step(model, nn.CrossEntropyLoss(), opt)
    x = np.ones((5, 6), np.float32)
    y = np.array([0, 1, 2, 0, 1], np.int64)
    step(x, y)
    plan = step._work[5].plan
    fl = opt._flat[0]
    n = fl.numel
    good = (_C.UPDATE_SGD, fl.param, fl.grad, (None,), (-0.1, 0.0, 0.0, 1.0), (0, 0, 0))
    f32 = np.ones(n, np.float32)
    bad = [
        (0,) + good[1:],                                        # unknown kind
        (5,) + good[1:],
        (good[0], fl.param[:-1]) + good[2:],                    # sizes differ
        (good[0], fl.param, fl.grad[:-1]) + good[3:],
        (good[0], fl.param.astype(np.float64)) + good[2:],      # dtype
        (good[0], fl.param, fl.grad, (f32[:-1],)) + good[4:],   # a state buffer too short
        (good[0], fl.param[::2]) + good[2:],                    # not contiguous
        good[:4] + ((0.0,) * 11,) + good[5:],                   # too many floats
        good[:5] + ((0,) * 4,),                                 # too many ints
        good[:3] + ((f32, f32, f32, f32),) + good[4:],          # too many states
        (good[0], list(fl.param)) + good[2:],                   # not a buffer
    ]
    # every kind whose C update reads state buffers without a NULL check, given none
    bad += [(kind,) + good[1:] for kind in range(2, _C.UPDATE_LAST + 1)]
    before = fl.param.copy()
    for rec in bad:
        with pytest.raises((ValueError, TypeError, BufferError)):
            plan.run(x, y, None, 0, 1, -100, 0.0, 1.0, (), [rec])
        assert np.array_equal(fl.param, before)
    plan.run(x, y, None, 0, 1, -100, 0.0, 1.0, (), [good])
    assert not np.array_equal(fl.param, before)


def test_mlp_plan_rejects_unknown_op_and_activation_codes():
    """MlpPlan (nnfast/_C_step.pxi) checks the codes nf_mlp_step dispatches on: the
    activation kind indexes act.c's (or act_extra.c's) kernel table, a Residual's ends name
    each other."""
    m = 4
    lin = (0, 0, 0.0, 0, 6, 5, np.ones((5, 6), np.float32), None, np.empty((5, 6), np.float32),
           None, np.empty((m, 5), np.float32), None, None, 0, 0.0, 0.0, None)

    def act(code, kind):
        return (code, kind, 0.0, 0, 5, 5, None, None, None, None,
                np.empty((m, 5), np.float32), np.empty((m, 5), np.float32), None, 0, 0.0, 0.0,
                None)
    for bad in (act(1, 8), act(1, -1), act(3, 10), act(3, -1), act(12, 0), act(-1, 0),
                act(6, 1), act(6, 9), act(7, 0), act(7, 1)):
        with pytest.raises(ValueError, match="unknown code"):
            _C.MlpPlan([lin, bad], m, np.empty((m, 5), np.float32))
    _C.MlpPlan([lin, act(1, 7)], m, np.empty((m, 5), np.float32))
    _C.MlpPlan([lin, act(3, 9)], m, np.empty((m, 5), np.float32))
    # a Residual whose end names a begin that names another end
    end = act(7, 1)[:11] + (None,) + act(7, 1)[12:]   # an identity shortcut: no dinp
    _C.MlpPlan([lin, act(6, 3), act(1, 0), end], m, np.empty((m, 5), np.float32))
    with pytest.raises(ValueError, match="does not begin"):
        _C.MlpPlan([lin, act(6, 3), act(1, 0), end, end], m, np.empty((m, 5), np.float32))


def test_mlp_plan_checks_conv_and_pool_geometry():
    """A Conv2d or MaxPool2d op's geometry must map its widths (M x C*H*W -> M x OC*OH*OW)
    with N == M, its weight and argmax buffers must be of that size and its conv workspace
    as large as conv.c asks for: the C step trusts all of it."""
    m, geom = 2, (2, 3, 6, 6, 4, 3, 3, 4, 4, 1, 1, 0, 0, 1, 1, 1)
    need = max(_C.conv2d_workspace(geom, False), _C.conv2d_workspace(geom, True))

    def conv(g=geom, w=(4, 3, 3, 3), ws=need, n_in=108, n_out=64):
        return (8, 0, 0.0, 0, n_in, n_out, np.ones(w, np.float32), np.zeros(4, np.float32),
                np.empty(w, np.float32), np.empty(4, np.float32),
                np.empty((m, n_out), np.float32), None, None, 0, 0.0, 0.0,
                (g, np.empty(ws, np.float32) if ws else None))

    def pool(g, n_in=64, n_out=16, idx=m * 16):
        return (9, 0, 0.0, 0, n_in, n_out, None, None, None, None,
                np.empty((m, n_out), np.float32), np.empty((m, n_in), np.float32), None, 0,
                0.0, 0.0, (g, np.empty(idx, np.int64)))
    pg = (2, 4, 4, 4, 4, 2, 2, 2, 2, 2, 2, 0, 0, 1, 1, 1)
    lin = (0, 0, 0.0, 0, 16, 5, np.ones((5, 16), np.float32), None,
           np.empty((5, 16), np.float32), None, np.empty((m, 5), np.float32),
           np.empty((m, 16), np.float32), None, 0, 0.0, 0.0, None)
    dl = np.empty((m, 5), np.float32)
    _C.MlpPlan([conv(), pool(pg), lin], m, dl)
    for bad in ([conv(g=(3,) + geom[1:]), pool(pg), lin],          # N != M
                [conv(n_out=60), pool(pg, n_in=60), lin],          # widths disagree
                [conv(w=(4, 3, 2, 3)), pool(pg), lin],             # weight size
                [conv(ws=need - 1 if need > 1 else 0), pool(pg), lin] if need else None,
                [conv(), pool(pg, idx=m * 16 - 1), lin],           # argmax buffer
                [conv(), pool(pg[:4] + (5,) + pg[5:]), lin],       # a pool changing C
                [conv(), pool(pg[:9] + (0,) + pg[10:]), lin],      # stride 0
                [conv(g=geom[:15] + (2,)), pool(pg), lin]):        # groups not dividing C
        if bad is None:
            continue
        with pytest.raises((ValueError, TypeError)):
            _C.MlpPlan(bad, m, dl)
    # average and adaptive pools: the same geometry checks, options or nothing as the extra
    avg = (10,) + pool(pg)[1:16] + ((pg, (True, 0)),)
    adaptive = (11,) + pool(pg)[1:16] + ((pg, None),)
    _C.MlpPlan([conv(), avg, lin], m, dl)
    _C.MlpPlan([conv(), adaptive, lin], m, dl)
    for bad in (avg[:16] + ((pg[:4] + (5,) + pg[5:], (True, 0)),),
                adaptive[:16] + ((pg[:7] + (3,) + pg[8:], None),)):
        with pytest.raises(ValueError):
            _C.MlpPlan([conv(), bad, lin], m, dl)


# (m, C, side, OC): the im2col path (4 channels in), and Winograd's (16 in and out)
@pytest.mark.parametrize("m,c,side,oc", [(2, 4, 15, 32), (4, 16, 12, 16)])
@pytest.mark.parametrize("sized_at", [1, 2])
def test_mlp_plan_conv_workspace_safe_at_another_thread_count(m, c, side, oc, sized_at):
    """A plan's conv workspace is checked at the thread count it was built with; run at
    another (one thread can want more than two: the chunk is not cut by the batch), the
    kernel plans within the workspace it has (fewer threads, smaller chunks, or im2col for
    Winograd): nothing written past it, the same loss either way."""
    geom = (m, c, side, side, oc, 3, 3, side, side, 1, 1, 1, 1, 1, 1, 1)
    before = _C.get_num_threads()
    try:
        _C.set_num_threads(sized_at)
        need = max(_C.conv2d_workspace(geom, False), _C.conv2d_workspace(geom, True))
        big = np.full(need + 50000, 7.0, np.float32)
        w = np.random.default_rng(3).standard_normal((oc, c, 3, 3)).astype(np.float32) * 0.1
        n_in, n_out = c * side * side, oc * side * side
        conv = (8, 0, 0.0, 0, n_in, n_out, w, None, np.empty_like(w), None,
                np.empty((m, n_out), np.float32), None, None, 0, 0.0, 0.0, (geom, big[:need]))
        lw = np.full((5, n_out), 0.001, np.float32)
        lin = (0, 0, 0.0, 0, n_out, 5, lw, None, np.empty_like(lw), None,
               np.empty((m, 5), np.float32), np.empty((m, n_out), np.float32), None, 0, 0.0,
               0.0, None)
        plan = _C.MlpPlan([conv, lin], m, np.empty((m, 5), np.float32))
        x = np.random.default_rng(4).standard_normal((m, n_in)).astype(np.float32)
        losses = []
        for threads in (1, 2):
            _C.set_num_threads(threads)
            losses.append(plan.run(x, np.zeros(m, np.int64), None, 0, 1, -100, 0.0, 1.0, []))
            assert np.all(big[need:] == 7.0)
    finally:
        _C.set_num_threads(before)
    assert np.isfinite(losses).all()
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)


@pytest.mark.parametrize("oh, ow", [(8, 7), (7, 8), (8, 8), (5, 6)])
def test_conv_kernels_stay_in_bounds_with_any_output_size(oh, ow):
    """The caller computes OH/OW; a geometry whose output is larger or smaller than the
    kernel's reach (not what any layer makes) must still read and write only inside the
    arrays: the fast path equals the direct loops, which skip taps outside the input."""
    rng = np.random.default_rng(0)
    geom = (2, 2, 8, 8, 3, 3, 3, oh, ow, 1, 1, 0, 0, 1, 1, 1)
    x = rng.standard_normal((2, 2, 8, 8)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    pad = np.full(4096, 1e30, np.float32)
    xs = np.concatenate([x.ravel(), pad])[:x.size].reshape(x.shape)   # a copy: what follows it
    ws = np.empty(max(1, _C.conv2d_workspace(geom, True)), np.float32)
    out, ref = np.empty((2, 3, oh, ow), np.float32), np.empty((2, 3, oh, ow), np.float32)
    _C.conv2d_forward(out, ws, xs, w, None, geom)
    _C.conv2d_forward(ref, None, xs, w, None, geom, reference=True)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(out.shape).astype(np.float32)
    buf = np.full(x.size + 64, 5.0, np.float32)
    dx = buf[:x.size].reshape(x.shape)
    dref, dw, dwr = np.empty_like(x), np.empty_like(w), np.empty_like(w)
    _C.conv2d_backward(dx, dw, None, ws, g, xs, w, geom, False)
    _C.conv2d_backward(dref, dwr, None, None, g, xs, w, geom, False, reference=True)
    assert np.all(buf[x.size:] == 5.0)
    np.testing.assert_allclose(dx, dref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, dwr, rtol=1e-5, atol=1e-4)
