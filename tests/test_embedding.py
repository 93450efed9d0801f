"""nn.Embedding and F.embedding against torch 2.13; float64 path; bad indices."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnfast as nf
from nnfast import nn
from nnfast.nn import functional as F
from helpers import assert_close, copy_weights, fd_grad


def _compare(idx, V=10, Dm=4, dtype=np.float32, **kw):
    te = torch.nn.Embedding(V, Dm, **kw)
    if dtype == np.float64:
        te = te.double()
    ne = nn.Embedding(V, Dm, dtype=dtype, **kw)
    copy_weights(te, ne)
    to, no = te(torch.from_numpy(idx)), ne(nf.tensor(idx))
    assert_close(no, to, 0, 0, "forward")
    g = np.random.default_rng(0).standard_normal(tuple(to.shape)).astype(dtype)
    to.backward(torch.from_numpy(g))
    no.backward(nf.tensor(g))
    assert_close(ne.weight.grad, te.weight.grad, 1e-6, 1e-5, "dweight")
    return ne


@pytest.mark.parametrize("itype", [np.int64, np.int32])
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 3}, {"padding_idx": -1},
                                {"scale_grad_by_freq": True},
                                {"scale_grad_by_freq": True, "padding_idx": 0}],
                         ids=["plain", "pad3", "pad-1", "freq", "freq_pad0"])
def test_matches_torch(itype, kw):
    rng = np.random.default_rng(1)
    for shape in [(7,), (3, 5), (2, 3, 4), (0,), ()]:
        idx = rng.integers(0, 10, shape).astype(itype)
        if idx.size > 2:
            idx.reshape(-1)[:3] = [3, 3, 0]   # repeats and the padding row
        _compare(np.asarray(idx), **kw)


def test_float64_and_finite_differences():
    idx = np.array([[1, 2, 1], [0, 4, 1]])
    _compare(idx, V=5, Dm=3, dtype=np.float64, padding_idx=2)
    w = np.random.default_rng(2).standard_normal((5, 3))
    g = np.random.default_rng(3).standard_normal((2, 3, 3))

    def f(v):
        return (F.embedding(nf.tensor(idx), nf.tensor(v), padding_idx=2).detach().numpy() * g).sum()
    wt = nf.tensor(w, requires_grad=True)
    (F.embedding(nf.tensor(idx), wt, padding_idx=2) * nf.tensor(g)).sum().backward()
    fd = fd_grad(f, w.copy())
    fd[2] = 0    # the padding row gets no gradient (its lookup still reads it)
    np.testing.assert_allclose(wt.grad.detach().numpy(), fd, atol=1e-8)


@settings(max_examples=30)
@given(V=st.integers(1, 40), Dm=st.integers(0, 37), n=st.integers(0, 60),
       pad=st.one_of(st.none(), st.integers(0, 39)), freq=st.booleans(),
       seed=st.integers(0, 2 ** 16))
def test_compiled_equals_numpy(V, Dm, n, pad, freq, seed):
    """float32 (C gather / scatter-add) against the float64 NumPy path."""
    pad = None if pad is None or pad >= V else pad
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, V, n)
    w = rng.standard_normal((V, Dm))
    g = rng.standard_normal((n, Dm))
    res = []
    for dt in (np.float32, np.float64):
        wt = nf.tensor(w.astype(dt), requires_grad=True)
        out = F.embedding(nf.tensor(idx), wt, padding_idx=pad, scale_grad_by_freq=freq)
        out.backward(nf.tensor(g.astype(dt)))
        res.append((out.detach().numpy(), wt.grad.detach().numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0].astype(np.float32))
    np.testing.assert_allclose(res[0][1], res[1][1], atol=1e-5, rtol=1e-5)


def test_init_padding_and_accumulation():
    nf.manual_seed(0)
    e = nn.Embedding(2000, 16, padding_idx=5)
    w = e.weight.detach().numpy()
    assert w.dtype == np.float32 and np.all(w[5] == 0)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    idx = nf.tensor(np.array([1, 5, 1]))
    e(idx).sum().backward()
    e(idx).sum().backward()   # accumulates into .grad
    assert np.all(e.weight.grad.detach().numpy()[1] == 4) and np.all(e.weight.grad.detach().numpy()[5] == 0)
    assert e.weight.grad.detach().numpy().sum() == 4 * 16
    assert list(e.state_dict()) == list(torch.nn.Embedding(3, 2).state_dict())


def test_from_pretrained_and_frozen():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    e = nn.Embedding.from_pretrained(nf.tensor(w))
    assert not e.weight.requires_grad
    out = e(nf.tensor(np.array([3, 0])))
    np.testing.assert_array_equal(out.detach().numpy(), w[[3, 0]])
    assert out._node is None
    e2 = nn.Embedding.from_pretrained(w, freeze=False)
    assert e2.weight.requires_grad


def test_bad_inputs():
    e = nn.Embedding(10, 3)
    with pytest.raises(IndexError, match=r"index 10 is out of range for 10 embeddings"):
        e(nf.tensor(np.array([1, 10])))
    with pytest.raises(IndexError, match=r"index -1 is out of range"):
        e(nf.tensor(np.array([-1, 2])))
    with pytest.raises(IndexError, match="out of range"):
        e(nf.tensor(np.array([2 ** 40])))
    with pytest.raises(nf.DTypeError, match="int64 or int32 indices, got dtype float32"):
        e(nf.tensor([1.0, 2.0]))
    with pytest.raises(NotImplementedError, match="max_norm"):
        nn.Embedding(10, 3, max_norm=1.0)
    with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(ValueError, match="padding_idx"):
        F.embedding(nf.tensor(np.array([1])), e.weight, padding_idx=-11)
