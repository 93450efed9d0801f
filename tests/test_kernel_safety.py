"""Kernel safety: whatever a user passes, a C kernel never crashes, hangs or touches memory
out of bounds. Every example either returns a result of the right shape or raises a clear
Python exception (ValueError / TypeError / RuntimeError / IndexError / FloatingPointError).

Three parts:
  * regression tests for bugs found by fuzzing under AddressSanitizer/UBSan;
  * hypothesis fuzzers over the public API of every kernel family with adversarial inputs:
    zero-size and size-1 dimensions, primes, non-contiguous / transposed / negative-stride /
    read-only / Fortran-order arrays, float64 and int dtypes, NaN and Inf;
  * direct calls of the low-level nnfast._C wrappers with inconsistent sizes and index arrays.

The normal suite runs few examples per fuzzer (fast). For a sanitizer run build an
ASan+UBSan extension and raise NNFAST_FUZZ_EXAMPLES (README of the asan branch report):
  CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \\
  LDFLAGS="-fsanitize=address,undefined" python setup.py build_ext --inplace --force
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \\
  ASAN_OPTIONS=detect_leaks=0 NNFAST_FUZZ_EXAMPLES=2000 python -m pytest tests/test_kernel_safety.py
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

ALLOWED = (ValueError, TypeError, RuntimeError, IndexError, FloatingPointError)
N_EXAMPLES = int(os.environ.get("NNFAST_FUZZ_EXAMPLES", "25"))
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
    assert np.array_equal(emb.weight.grad.data.sum(axis=1), [3.0, 6.0, 0.0, 0.0])
    t = nf.tensor(np.array([2, 3], np.int64))
    emb.weight.grad = None
    y = emb(t)
    t.data[:] = -7
    y.sum().backward()
    assert np.array_equal(emb.weight.grad.data.sum(axis=1), [0.0, 0.0, 3.0, 3.0])


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
        print(y.shape, float(y.data.max()), x.grad.data.sum())
    """)
    assert out.split()[-2:] == ["3.0", "9.0"]   # every window holds the whole image


def test_avg_pool_huge_kernel_has_no_integer_overflow():
    # Found by UBSan: the count_include_pad divisor (window height * width) overflowed int64.
    x = nf.tensor(np.ones((1, 1, 2, 2), np.float32), requires_grad=True)
    y = F.avg_pool2d(x, 2 ** 62, stride=1, padding=2 ** 61)
    assert y.shape == (1, 1, 3, 3) and np.all(np.isfinite(y.data)) and np.all(y.data >= 0)
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
    assert y.shape == () and np.isclose(float(y.data), 0.25179067376115694)
    assert np.isclose(float(x.grad.data), float(t.grad))


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
            assert y.shape == tuple(ty.shape) and np.allclose(y.data, ty.numpy())
        else:   # torch refuses an empty row; every window lies in the zero padding
            assert y.shape == (1, 2, 7, 1) and np.all(y.data == 0)
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
                        reduction="sum", **kw).data) == 0.0
