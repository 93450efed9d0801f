"""Conv1d, ConvTranspose1d/2d, the 1-D pools and adaptive max pooling against torch 2.13:
forward, input and parameter gradients (float32 kernels and the float64 references), modules
with torch's weights, init, printing, and bad input."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nnfast as nf
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn import functional as F
from helpers import assert_close, check_op, copy_weights, fd_grad

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

# ------------------------------------------------------------------ conv1d

CONV1D = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 3, 9), (4, 3, 3), dict(padding=2, stride=2)),
    ((2, 4, 11), (6, 2, 3), dict(groups=2, dilation=2, padding=1)),
    ((3, 6, 10), (6, 1, 5), dict(groups=6, padding="same")),      # depthwise, 'same'
    ((2, 3, 8), (4, 3, 4), dict(padding="same")),                 # odd total padding
    ((2, 3, 8), (5, 3, 2), dict(padding="same", dilation=3)),
    ((2, 3, 7), (4, 3, 7), dict(padding="valid")),                # kernel == input
    ((3, 8, 5), (16, 8, 1), {}),                                  # 1x1 fast path
    ((1, 1, 1), (2, 1, 1), {}),
    ((2, 3, 13), (5, 3, 3), dict(stride=3, padding=(1,), dilation=(2,))),
    ((3, 10), (4, 3, 3), dict(padding=1)),                        # unbatched (C, L)
]


@pytest.mark.parametrize("xs,ws,kw", CONV1D, ids=[str(c) for c in CONV1D])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv1d_matches_torch(xs, ws, kw, bias, dtype):
    shapes = [xs, ws] + ([(ws[0],)] if bias else [])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    check_op(shapes, lambda x, w, b=None: TF.conv1d(x, w, b, **kw),
             lambda x, w, b=None: F.conv1d(x, w, b, **kw), atol=tol, rtol=tol, dtype=dtype)


def test_conv1d_finite_differences_float64():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7))
    w = rng.standard_normal((3, 2, 3))
    up = rng.standard_normal((2, 3, 4))

    def f(xv):
        return float((F.conv1d(nf.tensor(xv), nf.tensor(w), stride=2, padding=1).numpy()
                      * up).sum())

    nx = nf.tensor(x, requires_grad=True)
    (F.conv1d(nx, nf.tensor(w), stride=2, padding=1) * nf.tensor(up)).sum().backward()
    np.testing.assert_allclose(nx.grad.numpy(), fd_grad(f, x.copy()), atol=1e-7)


def test_conv1d_module_matches_torch_and_init():
    nf.manual_seed(0)
    m = nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2)
    assert m.weight.shape == (6, 2, 3) and m.bias.shape == (6,)
    assert m.kernel_size == (3,) and m.stride == (2,) and m.padding == (1,)
    bound = 1 / math.sqrt(2 * 3)
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    big = nn.Conv1d(64, 64, 5)
    b = 1 / math.sqrt(64 * 5)
    assert 0.9 * b < np.abs(big.weight.detach().numpy()).max() <= b
    t = torch.nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2)
    copy_weights(t, m)
    x = np.random.default_rng(0).standard_normal((3, 4, 12)).astype(np.float32)
    nx, tx = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = m(nx), t(tx)
    assert_close(yn, yt, atol=1e-5)
    yn.sum().backward()
    yt.sum().backward()
    assert_close(nx.grad, tx.grad, atol=1e-5)
    assert_close(m.weight.grad, t.weight.grad, atol=1e-4)
    assert_close(m.bias.grad, t.bias.grad, atol=1e-4)
    assert repr(m) == repr(t)
    for kw in (dict(padding="same", bias=False), dict(padding="valid"), {}):
        assert repr(nn.Conv1d(1, 2, 3, **kw)) == repr(torch.nn.Conv1d(1, 2, 3, **kw))
    assert set(m.state_dict()) == set(t.state_dict())


def test_conv1d_gradients_accumulate():
    rng = np.random.default_rng(2)
    t = torch.nn.Conv1d(3, 4, 3, padding=1)
    m = nn.Conv1d(3, 4, 3, padding=1)
    copy_weights(t, m)
    for _ in range(2):
        x = rng.standard_normal((2, 3, 6)).astype(np.float32)
        m(nf.tensor(x)).pow(2).sum().backward()
        t(torch.from_numpy(x)).pow(2).sum().backward()
    assert_close(m.weight.grad, t.weight.grad, atol=1e-4)
    assert_close(m.bias.grad, t.bias.grad, atol=1e-4)


def test_conv1d_bad_input():
    w = nf.randn(4, 3, 3)
    with pytest.raises(ShapeError, match=r"2D \(unbatched\) or 3D"):
        F.conv1d(nf.randn(1, 2, 3, 10), w)
    with pytest.raises(ShapeError, match="weight must be 3-D"):
        F.conv1d(nf.randn(2, 3, 10), nf.randn(4, 3, 3, 3))
    with pytest.raises(ShapeError, match="expected input with 3 channels"):
        F.conv1d(nf.randn(2, 5, 10), w)
    with pytest.raises(ShapeError, match="smaller than the kernel"):
        F.conv1d(nf.randn(2, 3, 2), w)
    with pytest.raises(ShapeError, match="single integer value"):
        F.conv1d(nf.randn(2, 3, 10), w, padding=(1, 2))
    with pytest.raises(ValueError, match="not supported for strided"):
        F.conv1d(nf.randn(2, 3, 10), w, stride=2, padding="same")
    with pytest.raises(DTypeError, match="float64"):
        F.conv1d(nf.randn(2, 3, 10).double(), w)
    with pytest.raises(ShapeError, match=r"bias must have shape \(4,\)"):
        F.conv1d(nf.randn(2, 3, 10), w, nf.randn(3))
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="Invalid padding string"):
        nn.Conv1d(3, 4, 3, padding="full")


# ------------------------------------------------------------------ transposed convolution

CT2D = [
    ((2, 3, 5, 4), (3, 4, 3, 3), {}),
    ((2, 3, 5, 4), (3, 4, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 4, 5), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2))),
    ((2, 4, 5, 5), (4, 2, 3, 3), dict(groups=2, stride=2)),
    ((1, 6, 4, 4), (6, 1, 3, 3), dict(groups=6, padding=1)),        # depthwise
    ((2, 3, 4, 4), (3, 2, 3, 3), dict(dilation=2, padding=1)),
    ((2, 3, 4, 4), (3, 2, 3, 3), dict(dilation=3, stride=2, output_padding=2)),  # op < dil
    ((2, 8, 5, 5), (8, 4, 1, 1), {}),                                # 1x1
    ((2, 3, 3, 3), (3, 5, 4, 4), dict(stride=2, padding=1)),          # the usual 2x upsampler
    ((3, 4, 5), (3, 2, 2, 2), dict(stride=2)),                        # unbatched
    ((1, 1, 1, 1), (1, 1, 1, 1), {}),
]


@pytest.mark.parametrize("xs,ws,kw", CT2D, ids=[str(c) for c in CT2D])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose2d_matches_torch(xs, ws, kw, bias, dtype):
    groups = kw.get("groups", 1)
    shapes = [xs, ws] + ([(ws[1] * groups,)] if bias else [])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    check_op(shapes, lambda x, w, b=None: TF.conv_transpose2d(x, w, b, **kw),
             lambda x, w, b=None: F.conv_transpose2d(x, w, b, **kw), atol=tol, rtol=tol,
             dtype=dtype)


CT1D = [
    ((2, 3, 5), (3, 4, 3), {}),
    ((2, 4, 6), (4, 3, 3), dict(stride=3, padding=1, output_padding=2)),
    ((2, 4, 6), (4, 1, 4), dict(groups=4, dilation=2)),
    ((3, 7), (3, 2, 2), dict(stride=2)),
]


@pytest.mark.parametrize("xs,ws,kw", CT1D, ids=[str(c) for c in CT1D])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose1d_matches_torch(xs, ws, kw, dtype):
    groups = kw.get("groups", 1)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    check_op([xs, ws, (ws[1] * groups,)], lambda x, w, b: TF.conv_transpose1d(x, w, b, **kw),
             lambda x, w, b: F.conv_transpose1d(x, w, b, **kw), atol=tol, rtol=tol,
             dtype=dtype)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> with the same weight."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 8))
    w = rng.standard_normal((6, 2, 3, 3))
    kw = dict(stride=2, padding=1, groups=2)
    y = rng.standard_normal(F.conv2d(nf.tensor(x), nf.tensor(w), **kw).shape)
    lhs = (F.conv2d(nf.tensor(x), nf.tensor(w), **kw).numpy() * y).sum()
    ct = F.conv_transpose2d(nf.tensor(y), nf.tensor(w), output_padding=(0, 1), **kw)
    assert ct.shape == x.shape
    assert abs(lhs - (x * ct.numpy()).sum()) < 1e-9 * abs(lhs)


@pytest.mark.parametrize("cls", ["ConvTranspose1d", "ConvTranspose2d"])
def test_conv_transpose_module_matches_torch(cls):
    nf.manual_seed(0)
    args = (4, 6, 3)
    kw = dict(stride=2, padding=1, output_padding=1, groups=2)
    m, t = getattr(nn, cls)(*args, **kw), getattr(torch.nn, cls)(*args, **kw)
    assert m.weight.shape == tuple(t.weight.shape) == ((4, 3, 3) if cls.endswith("1d")
                                                       else (4, 3, 3, 3))
    bound = 1 / math.sqrt(3 * (3 if cls.endswith("1d") else 9))   # fan_in = out/groups * k
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert repr(m) == repr(t)
    assert set(m.state_dict()) == set(t.state_dict())
    copy_weights(t, m)
    shape = (2, 4, 5) if cls.endswith("1d") else (2, 4, 5, 4)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    nx, tx = nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yn, yt = m(nx), t(tx)
    assert_close(yn, yt, atol=1e-5)
    up = np.random.default_rng(1).standard_normal(yt.shape).astype(np.float32)
    yn.backward(nf.tensor(up))
    yt.backward(torch.from_numpy(up))
    assert_close(nx.grad, tx.grad, atol=1e-4)
    assert_close(m.weight.grad, t.weight.grad, atol=1e-4)
    assert_close(m.bias.grad, t.bias.grad, atol=1e-4)


def test_conv_transpose2d_output_size():
    t = torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    m = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    copy_weights(t, m)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    for size in ([7, 7], [8, 8], (1, 2, 8, 7)):
        assert_close(m(nf.tensor(x), output_size=size), t(torch.from_numpy(x),
                                                          output_size=size), atol=1e-5)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        m(nf.tensor(x), output_size=[9, 9])


def test_conv_transpose_bad_input():
    w = nf.randn(3, 4, 3, 3)
    with pytest.raises(ValueError, match="output padding must be smaller"):
        F.conv_transpose2d(nf.randn(1, 3, 4, 4), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output padding must be smaller"):
        nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ShapeError, match="expected input with 3 channels"):
        F.conv_transpose2d(nf.randn(1, 4, 4, 4), w)
    with pytest.raises(ShapeError, match="weight must be 4-D"):
        F.conv_transpose2d(nf.randn(1, 3, 4, 4), nf.randn(3, 4, 3))
    with pytest.raises(ShapeError, match=r"3D \(unbatched\) or 4D"):
        F.conv_transpose2d(nf.randn(3, 4), w)
    with pytest.raises(ShapeError, match=r"bias must have shape \(4,\)"):
        F.conv_transpose2d(nf.randn(1, 3, 4, 4), w, nf.randn(3))
    with pytest.raises(ShapeError, match="too small"):
        F.conv_transpose2d(nf.randn(1, 3, 1, 1), nf.randn(3, 4, 1, 1), padding=1)
    with pytest.raises(ShapeError, match="divisible by groups"):
        F.conv_transpose2d(nf.randn(1, 3, 4, 4), w, groups=2)
    with pytest.raises(DTypeError, match="float64"):
        F.conv_transpose1d(nf.randn(1, 3, 4).double(), nf.randn(3, 4, 3))
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect")


# ------------------------------------------------------------------ 1-D and adaptive pools

POOLS = [
    (lambda m: m.max_pool1d, dict(kernel_size=3)),
    (lambda m: m.max_pool1d, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    (lambda m: m.max_pool1d, dict(kernel_size=2, stride=1, dilation=3)),
    (lambda m: m.avg_pool1d, dict(kernel_size=3)),
    (lambda m: m.avg_pool1d, dict(kernel_size=4, stride=3, padding=2, ceil_mode=True,
                                  count_include_pad=False)),
    (lambda m: m.adaptive_avg_pool1d, dict(output_size=4)),
    (lambda m: m.adaptive_avg_pool1d, dict(output_size=13)),
    (lambda m: m.adaptive_max_pool1d, dict(output_size=3)),
]


@pytest.mark.parametrize("i", range(len(POOLS)))
@pytest.mark.parametrize("shape", [(2, 3, 11), (3, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool1d_matches_torch(i, shape, dtype):
    fn, kw = POOLS[i]
    check_op([shape], lambda x: fn(TF)(x, **kw), lambda x: fn(F)(x, **kw), dtype=dtype)


@pytest.mark.parametrize("out", [(3, 4), 2, (None, 3), (7, 10), (9, 12), 1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_max_pool2d_matches_torch(out, dtype):
    check_op([(2, 3, 7, 10)], lambda x: TF.adaptive_max_pool2d(x, out),
             lambda x: F.adaptive_max_pool2d(x, out), dtype=dtype)
    x = np.random.default_rng(0).standard_normal((3, 7, 10)).astype(dtype)
    yn, ind = F.adaptive_max_pool2d(nf.tensor(x), out, return_indices=True)
    yt, tind = TF.adaptive_max_pool2d(torch.from_numpy(x), out, return_indices=True)
    assert_close(yn, yt)
    assert np.array_equal(ind.numpy(), tind.numpy()) and ind.dtype == np.int64


def test_pool_indices_ties_and_nan_as_torch():
    x = np.array([[[1, 3, 3, 2, np.nan, 0, 5, 5]]], np.float32)
    for fn, kw in ((F.max_pool1d, dict(kernel_size=3, stride=2)),
                   (F.adaptive_max_pool1d, dict(output_size=3))):
        tfn = getattr(TF, fn.__name__)
        yn, i = fn(nf.tensor(x), return_indices=True, **kw)
        yt, ti = tfn(torch.from_numpy(x), return_indices=True, **kw)
        np.testing.assert_array_equal(yn.numpy(), yt.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_pool_modules_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8)).astype(np.float32)
    x1 = x[:, :, 0]
    for name, args, inp in (("MaxPool1d", (3, 2, 1), x1), ("AvgPool1d", (3, 2, 1), x1),
                            ("AdaptiveAvgPool1d", (4,), x1), ("AdaptiveMaxPool1d", (4,), x1),
                            ("AdaptiveMaxPool2d", ((3, None),), x),
                            ("AdaptiveMaxPool2d", (2,), x)):
        m, t = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(m) == repr(t)
        assert_close(m(nf.tensor(inp)), t(torch.from_numpy(inp)))
    m, t = nn.MaxPool1d(2, return_indices=True), torch.nn.MaxPool1d(2, return_indices=True)
    assert np.array_equal(m(nf.tensor(x1))[1].numpy(), t(torch.from_numpy(x1))[1].numpy())


def test_pool1d_bad_input():
    with pytest.raises(ShapeError, match=r"2-D \(unbatched\) or 3-D"):
        F.max_pool1d(nf.randn(1, 2, 3, 10), 2)
    with pytest.raises(ShapeError, match=r"2-D \(unbatched\) or 3-D"):
        F.adaptive_avg_pool1d(nf.randn(10), 2)
    with pytest.raises(ValueError, match="pad should be at most half"):
        F.avg_pool1d(nf.randn(2, 3, 10), 2, padding=2)
    with pytest.raises(ValueError, match="pad should be at most half"):
        nn.MaxPool1d(2, padding=2)
    with pytest.raises(ShapeError, match="too small"):
        F.max_pool1d(nf.randn(2, 3, 2), 3)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(nf.randn(2, 3, 4, 4), (1, 2, 3))
    with pytest.raises(DTypeError):
        F.adaptive_max_pool2d(nf.tensor(np.ones((1, 2, 3, 3), np.int64)), 2)


KEYWORD_CALLS = [
    ("conv1d", (2, 4, 9), dict(weight=(6, 2, 3), bias=(6,), stride=2, padding=1, dilation=1,
                               groups=2)),
    ("conv_transpose1d", (2, 4, 9), dict(weight=(4, 3, 3), bias=(6,), stride=2, padding=1,
                                         output_padding=1, groups=2, dilation=1)),
    ("conv_transpose2d", (2, 4, 5, 5), dict(weight=(4, 3, 3, 3), bias=(6,), stride=2,
                                            padding=1, output_padding=1, groups=2,
                                            dilation=1)),
    ("max_pool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, dilation=1,
                                   ceil_mode=True, return_indices=False)),
    ("avg_pool1d", (2, 3, 9), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                   count_include_pad=False)),
    ("adaptive_avg_pool1d", (2, 3, 9), dict(output_size=4)),
    ("adaptive_max_pool1d", (2, 3, 9), dict(output_size=4, return_indices=False)),
    ("adaptive_max_pool2d", (2, 3, 9, 7), dict(output_size=(4, 3), return_indices=False)),
]


@pytest.mark.parametrize("name,xs,kw", KEYWORD_CALLS, ids=[c[0] for c in KEYWORD_CALLS])
def test_functionals_take_torchs_keywords(name, xs, kw):
    """Every argument passed by torch's keyword name (torch's builtins have no inspectable
    signature, so the names are checked by calling)."""
    rng = np.random.default_rng(0)
    arrays = {k: rng.standard_normal(v).astype(np.float32) for k, v in kw.items()
              if k in ("weight", "bias")}
    x = rng.standard_normal(xs).astype(np.float32)
    tkw = {k: (torch.from_numpy(arrays[k]) if k in arrays else v) for k, v in kw.items()}
    nkw = {k: (nf.tensor(arrays[k]) if k in arrays else v) for k, v in kw.items()}
    assert_close(getattr(F, name)(input=nf.tensor(x), **nkw),
                 getattr(TF, name)(input=torch.from_numpy(x), **tkw), atol=1e-5)


def test_encoder_decoder_trains_like_torch():
    """Conv2d -> GroupNorm -> ReLU -> MaxPool2d -> ConvTranspose2d -> Upsample(bilinear) and a
    Conv1d/AdaptiveMaxPool1d head: five SGD steps with momentum, parameters held to torch."""
    def build(lib):
        n = lib.nn

        class Net(n.Module):
            def __init__(self):
                super().__init__()
                self.enc = n.Sequential(n.Conv2d(2, 8, 3, padding=1), n.GroupNorm(4, 8),
                                        n.ReLU(), n.MaxPool2d(2))
                self.dec = n.Sequential(n.ConvTranspose2d(8, 4, 3, stride=2, padding=1,
                                                          output_padding=1),
                                        n.Upsample(scale_factor=1.5, mode="bilinear"))
                self.head = n.Sequential(n.Conv1d(4, 3, 3, padding="same"),
                                         n.AdaptiveMaxPool1d(2))

            def forward(self, x):
                y = self.dec(self.enc(x))          # (N, 4, 12, 12)
                return self.head(y.mean(2))        # (N, 3, 2)

        return Net()

    torch.manual_seed(0)
    tnet, nnet = build(torch), build(nf)
    copy_weights(tnet, nnet)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.05, momentum=0.9)
    nopt = nf.optim.SGD(nnet.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.standard_normal((3, 2, 8, 8)).astype(np.float32)
        yt = tnet(torch.from_numpy(x))
        yn = nnet(nf.tensor(x))
        assert_close(yn, yt, atol=1e-4)
        topt.zero_grad()
        nopt.zero_grad()
        yt.pow(2).mean().backward()
        yn.pow(2).mean().backward()
        topt.step()
        nopt.step()
    tp = dict(tnet.named_parameters())
    for name, p in nnet.named_parameters():
        assert_close(p, tp[name], atol=1e-4, what=name)
