"""F.one_hot, normalize, cosine_similarity, pairwise_distance, pad, embedding, the distance
and padding modules, Unflatten, and torch-matching signatures of older functionals."""
import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_close, check_op

import nnfast as nf
from nnfast import nn
from nnfast.nn import _functional_misc as FM
from nnfast.nn import functional as F


# ===================================================================== one_hot

@pytest.mark.parametrize("shape,nc", [((5,), -1), ((2, 3), 7), ((), 4), ((0,), 3),
                                      ((2, 0, 3), 2)])
def test_one_hot_matches_torch(shape, nc):
    idx = np.random.default_rng(1).integers(0, 2 if nc == -1 else nc, shape)
    if nc == -1:
        idx.flat[0] = 4
    a = F.one_hot(nf.tensor(idx), nc)
    b = TF.one_hot(torch.from_numpy(idx), nc)
    assert a.dtype == nf.int64
    assert_close(a, b, 0, 0)


def test_one_hot_errors():
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(nf.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(nf.tensor(np.array([1, 2], np.int32)))
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(nf.tensor([-1, 2]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(nf.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(nf.tensor(np.zeros(0, np.int64)))


# ===================================================================== normalize

@pytest.mark.parametrize("shape,p,dim", [((3, 4), 2, 1), ((3, 4), 1, 0), ((2, 3, 5), 3, -1),
                                         ((2, 3, 5), float("inf"), 1), ((6,), 2, 0),
                                         ((2, 3, 4), 2, (1, 2)), ((4, 5), 0.5, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_matches_torch(shape, p, dim, dtype):
    tol = 1e-6 if dtype == np.float32 else 1e-12
    check_op([shape], lambda x: TF.normalize(x, p, dim), lambda x: F.normalize(x, p, dim),
             atol=tol, rtol=tol * 10, dtype=dtype)


def test_normalize_zero_rows_and_eps():
    x = np.array([[0.0, 0.0, 0.0], [1e-8, 0.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    check_op(None, lambda t: TF.normalize(t, eps=1e-6), lambda t: F.normalize(t, eps=1e-6),
             inputs=[x], atol=1e-5)


def test_normalize_errors():
    with pytest.raises(IndexError, match=r"\[-2, 1\].*got 2"):
        F.normalize(nf.randn(3, 4), dim=2)
    with pytest.raises(nf.DTypeError, match="floating"):
        F.normalize(nf.tensor([[1, 2]]))


# ===================================================================== cosine / pairwise

@pytest.mark.parametrize("s1,s2,dim", [((3, 4), (3, 4), 1), ((3, 4), (4,), 1),
                                       ((2, 3, 4), (2, 1, 4), -1), ((5,), (5,), 0),
                                       ((2, 3, 4), (2, 3, 4), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cosine_similarity_matches_torch(s1, s2, dim, dtype):
    tol = 1e-6 if dtype == np.float32 else 1e-12
    check_op([s1, s2], lambda a, b: TF.cosine_similarity(a, b, dim),
             lambda a, b: F.cosine_similarity(a, b, dim), atol=tol, rtol=tol * 10, dtype=dtype)
    tm, nm = torch.nn.CosineSimilarity(dim), nn.CosineSimilarity(dim)
    check_op([s1, s2], tm, nm, atol=tol, rtol=tol * 10, dtype=dtype)


def test_cosine_similarity_zero_vector():
    a = np.zeros((2, 3), np.float32)
    a[1] = [1, 2, 3]
    check_op(None, TF.cosine_similarity, F.cosine_similarity,
             inputs=[a, np.ones((2, 3), np.float32)], atol=1e-6)


@pytest.mark.parametrize("s1,s2", [((3, 4), (3, 4)), ((3, 4), (4,)), ((5,), (5,)),
                                   ((2, 3, 4), (2, 3, 4))])
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, float("inf")])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_torch(s1, s2, p, keepdim):
    check_op([s1, s2], lambda a, b: TF.pairwise_distance(a, b, p, 1e-6, keepdim),
             lambda a, b: F.pairwise_distance(a, b, p, 1e-6, keepdim), atol=1e-5, rtol=1e-5)
    check_op([s1, s2], torch.nn.PairwiseDistance(p, 1e-6, keepdim),
             nn.PairwiseDistance(p, 1e-6, keepdim), atol=1e-12, rtol=1e-10, dtype=np.float64)


def test_pairwise_distance_ties_and_zero():
    a = np.array([[1.0, -3.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    check_op(None, lambda x, y: TF.pairwise_distance(x, y, float("inf"), 0.0),
             lambda x, y: F.pairwise_distance(x, y, float("inf"), 0.0),
             inputs=[a, np.zeros((2, 3), np.float32)])
    check_op(None, lambda x, y: TF.pairwise_distance(x, y, 2, 0.0),
             lambda x, y: F.pairwise_distance(x, y, 2, 0.0),
             inputs=[a, np.zeros((2, 3), np.float32)])


def test_distance_errors():
    with pytest.raises(nf.ShapeError, match="broadcast"):
        F.cosine_similarity(nf.randn(3, 4), nf.randn(3, 5))
    with pytest.raises(IndexError, match="range"):
        F.cosine_similarity(nf.randn(3, 4), nf.randn(3, 4), dim=2)
    with pytest.raises(nf.ShapeError, match="broadcast"):
        F.pairwise_distance(nf.randn(3, 4), nf.randn(2, 4))
    with pytest.raises(nf.DTypeError, match="float64"):
        F.pairwise_distance(nf.randn(3, 4), nf.randn(3, 4).double())


# ===================================================================== pad

PADS = [
    ((2, 3), (1, 2), "constant"), ((2, 3), (1, 0, 2, 1), "constant"),
    ((2, 3, 4), (1, 1, 1, 1, 1, 1), "constant"), ((5,), (-1, 2), "constant"),
    ((2, 5), (-1, -2, 1, 0), "constant"),
    ((2, 5), (2, 3), "reflect"), ((2, 3, 5), (4, 1), "reflect"),
    ((2, 4, 5), (1, 2, 3, 0), "reflect"), ((1, 2, 4, 5), (1, 2, 3, 0), "reflect"),
    ((1, 2, 3, 4, 5), (1, 1, 2, 2, 1, 0), "reflect"), ((1, 2, 5), (-1, 2), "reflect"),
    ((2, 5), (2, 3), "replicate"), ((2, 3, 4, 5), (3, 1, 0, 2), "replicate"),
    ((1, 1, 5), (-1, 2), "replicate"), ((2, 2, 3, 4), (1, 1, 1, 1, 1, 1), "replicate"),
    ((2, 5), (2, 3), "circular"), ((1, 2, 3, 4), (3, 1, 2, 2), "circular"),
    ((1, 2, 5), (2, -3), "circular"),
    ((1, 1, 5), (-1, 2), "circular"),
]


@pytest.mark.parametrize("shape,pad,mode", PADS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pad_matches_torch(shape, pad, mode, dtype):
    check_op([shape], lambda x: TF.pad(x, pad, mode), lambda x: F.pad(x, pad, mode),
             atol=1e-6, rtol=1e-6, dtype=dtype)


def test_pad_value_and_dtypes():
    check_op([(2, 3)], lambda x: TF.pad(x, (1, 2, 0, 1), value=-1.5),
             lambda x: F.pad(x, (1, 2, 0, 1), value=-1.5))
    a = np.arange(5)
    assert_close(F.pad(nf.tensor(a), (1, 1), value=2.5), TF.pad(torch.from_numpy(a), (1, 1),
                                                               value=2.5), 0, 0)
    e = np.zeros((2, 0), np.float32)
    assert_close(F.pad(nf.tensor(e), (1, 2), value=3.0),
                 TF.pad(torch.from_numpy(e), (1, 2), value=3.0), 0, 0)


def test_pad_errors():
    x = nf.randn(1, 1, 3)
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(x, (1,))
    with pytest.raises(RuntimeError, match="less than or equal to two times"):
        F.pad(nf.randn(2, 3), (1, 1, 1, 1, 1, 1))
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(NotImplementedError, match="Padding size 2 is not supported for 1D"):
        F.pad(nf.randn(3), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode foo"):
        F.pad(x, (1, 1), mode="foo")
    with pytest.raises(RuntimeError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(RuntimeError, match="negative size"):
        F.pad(nf.randn(5), (-3, -3))


MODS = [
    (lambda: (torch.nn.ZeroPad2d(1), nn.ZeroPad2d(1)), (2, 3, 4)),
    (lambda: (torch.nn.ZeroPad2d((1, 2, 3, 4)), nn.ZeroPad2d((1, 2, 3, 4))), (1, 2, 3, 4)),
    (lambda: (torch.nn.ZeroPad1d(2), nn.ZeroPad1d(2)), (2, 3, 4)),
    (lambda: (torch.nn.ConstantPad1d(2, 3.5), nn.ConstantPad1d(2, 3.5)), (2, 3, 4)),
    (lambda: (torch.nn.ConstantPad2d((1, 2, 0, 1), 0.5), nn.ConstantPad2d((1, 2, 0, 1), 0.5)),
     (2, 3, 4)),
    (lambda: (torch.nn.ConstantPad3d(1, -1.0), nn.ConstantPad3d(1, -1.0)), (1, 2, 3, 4)),
    (lambda: (torch.nn.ReflectionPad1d(2), nn.ReflectionPad1d(2)), (2, 3, 4)),
    (lambda: (torch.nn.ReflectionPad2d(1), nn.ReflectionPad2d(1)), (2, 3, 4)),
    (lambda: (torch.nn.ReflectionPad2d((1, 0, 2, 1)), nn.ReflectionPad2d((1, 0, 2, 1))),
     (1, 2, 3, 4)),
    (lambda: (torch.nn.ReflectionPad3d(1), nn.ReflectionPad3d(1)), (1, 2, 3, 4, 5)),
    (lambda: (torch.nn.ReplicationPad1d(2), nn.ReplicationPad1d(2)), (2, 3, 4)),
    (lambda: (torch.nn.ReplicationPad2d((1, 0, 2, 0)), nn.ReplicationPad2d((1, 0, 2, 0))),
     (1, 2, 3, 4)),
    (lambda: (torch.nn.ReplicationPad3d(1), nn.ReplicationPad3d(1)), (2, 3, 4, 5)),
    (lambda: (torch.nn.CircularPad1d(1), nn.CircularPad1d(1)), (2, 3, 4)),
    (lambda: (torch.nn.CircularPad2d(1), nn.CircularPad2d(1)), (1, 2, 3, 4)),
    (lambda: (torch.nn.CircularPad3d(1), nn.CircularPad3d(1)), (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("i", range(len(MODS)))
def test_padding_modules_match_torch(i):
    make, shape = MODS[i]
    tm, nm = make()
    assert repr(tm) == repr(nm)
    check_op([shape], tm, nm, atol=1e-6)


# ===================================================================== Unflatten, embedding

def test_unflatten_matches_torch():
    for dim, sizes, shape in [(1, (2, 3), (4, 6)), (-1, (2, -1), (3, 4, 6)), (0, (1, 4), (4,))]:
        tm, nm = torch.nn.Unflatten(dim, sizes), nn.Unflatten(dim, sizes)
        assert repr(tm) == repr(nm)
        check_op([shape], tm, nm)
    with pytest.raises(RuntimeError, match=r"don't multiply up to the size of dim 1 \(6\)"):
        nn.Unflatten(1, (2, 4))(nf.randn(3, 6))
    with pytest.raises(TypeError):
        nn.Unflatten(1, 6)


def test_embedding_functional_matches_torch():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((10, 4)).astype(np.float32)
    idx = rng.integers(0, 10, (3, 5))
    for pad_idx in (None, 2, -1):
        tw = torch.from_numpy(w.copy()).requires_grad_()
        nw = nf.tensor(w, requires_grad=True)
        ty = TF.embedding(torch.from_numpy(idx), tw, padding_idx=pad_idx)
        ny = F.embedding(nf.tensor(idx), nw, padding_idx=pad_idx)
        assert_close(ny, ty, 0, 0)
        g = rng.standard_normal(ty.shape).astype(np.float32)
        ty.backward(torch.from_numpy(g))
        ny.backward(nf.tensor(g))
        assert_close(nw.grad, tw.grad, 1e-6, 1e-6)


# ===================================================================== signatures, exports

@pytest.mark.parametrize("name", ["dropout", "softmax", "log_softmax", "silu", "leaky_relu",
                                  "elu", "hardtanh", "relu6", "mish", "hardswish",
                                  "hardsigmoid", "celu", "selu", "threshold", "normalize",
                                  "pad", "embedding", "kl_div", "poisson_nll_loss",
                                  "gaussian_nll_loss", "margin_ranking_loss",
                                  "triplet_margin_loss", "cosine_embedding_loss",
                                  "soft_margin_loss", "hinge_embedding_loss",
                                  "multilabel_soft_margin_loss", "mse_loss", "l1_loss",
                                  "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss",
                                  "binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_signatures_match_torch(name):
    """Same parameter names, order and defaults as torch's Python-level functionals."""
    def params(f):   # private extras (_stacklevel, _who) aside
        return [(p.name, p.default) for p in inspect.signature(f).parameters.values()
                if not p.name.startswith("_")]
    assert params(getattr(F, name)) == params(getattr(TF, name))


def test_gelu_softmax_keywords_like_torch():
    x = np.random.default_rng(3).standard_normal((3, 4)).astype(np.float32)
    assert_close(F.gelu(nf.tensor(x), approximate="tanh"),
                 TF.gelu(torch.from_numpy(x), approximate="tanh"), 5e-6)
    assert_close(F.softmax(nf.tensor(x), dim=1, dtype=nf.float64),
                 TF.softmax(torch.from_numpy(x), dim=1, dtype=torch.float64), 1e-12)
    assert_close(F.dropout(nf.tensor(x), p=0.3, training=False), torch.from_numpy(x), 0)


def test_exports():
    for name in FM.__all__:
        assert callable(getattr(F, name))
    for name in nn.padding.__all__ + nn.distance.__all__ + ["Unflatten"]:
        assert hasattr(nn, name)
