"""nn.utils.rnn (PackedSequence, pack/pad helpers) and RNN/LSTM/GRU over packed input,
against torch 2.13: packed layout, outputs, each sequence's final state, and gradients of the
input, the initial state and every parameter; flatten_parameters; bad input."""
import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as TR

import nnfast as nf
from nnfast import nn
from nnfast.errors import DTypeError, ShapeError
from nnfast.nn.utils import rnn as NR
from helpers import assert_close, copy_weights


def _pair(x, dtype=np.float32):
    x = np.asarray(x, dtype)
    return nf.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted,lengths", [(True, [6, 4, 4, 2, 1]),
                                                    (False, [3, 6, 2, 6, 1]),
                                                    (False, [5, 5, 5, 5, 5])])
def test_pack_and_pad_match_torch(batch_first, enforce_sorted, lengths):
    rng = np.random.default_rng(0)
    T = max(lengths) + 1   # one step of padding beyond the longest
    x = rng.standard_normal((5, T, 3) if batch_first else (T, 5, 3))
    nx, tx = _pair(x, np.float64)
    n = NR.pack_padded_sequence(nx, lengths, batch_first, enforce_sorted)
    t = TR.pack_padded_sequence(tx, lengths, batch_first, enforce_sorted)
    assert isinstance(n, NR.PackedSequence) and n._fields == t._fields
    assert_close(n.data, t.data)
    np.testing.assert_array_equal(n.batch_sizes.numpy(), t.batch_sizes.numpy())
    assert n.batch_sizes.dtype == np.int64
    for a, b in ((n.sorted_indices, t.sorted_indices), (n.unsorted_indices, t.unsorted_indices)):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    pn, ln = NR.pad_packed_sequence(n, batch_first, padding_value=-2.0, total_length=T + 1)
    pt, lt = TR.pad_packed_sequence(t, batch_first, padding_value=-2.0, total_length=T + 1)
    assert_close(pn, pt)
    np.testing.assert_array_equal(ln.numpy(), lt.numpy())
    up = rng.standard_normal(pt.shape)
    pn.backward(nf.tensor(up))
    pt.backward(torch.from_numpy(up))
    assert_close(nx.grad, tx.grad)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side):
    rng = np.random.default_rng(1)
    seqs = [rng.standard_normal((n, 2, 3)).astype(np.float32) for n in (3, 5, 1)]
    pairs = [_pair(s) for s in seqs]
    n = NR.pad_sequence([p[0] for p in pairs], batch_first, 0.5, side)
    t = TR.pad_sequence([p[1] for p in pairs], batch_first, 0.5, side)
    assert_close(n, t)
    up = rng.standard_normal(t.shape).astype(np.float32)
    n.backward(nf.tensor(up))
    t.backward(torch.from_numpy(up))
    for a, b in pairs:
        assert_close(a.grad, b.grad)


def test_pack_sequence_and_unpack_match_torch():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (2, 5, 3)]
    n = NR.pack_sequence([nf.tensor(s) for s in seqs], enforce_sorted=False)
    t = TR.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=False)
    assert_close(n.data, t.data)
    np.testing.assert_array_equal(n.sorted_indices.numpy(), t.sorted_indices.numpy())
    for a, b in zip(NR.unpack_sequence(n), TR.unpack_sequence(t)):
        assert_close(a, b)
    padded = NR.pad_sequence([nf.tensor(s) for s in seqs], batch_first=True)
    for a, s in zip(NR.unpad_sequence(padded, [2, 5, 3], batch_first=True), seqs):
        assert_close(a, s)


RNNS = [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("LSTM", {}),
    ("GRU", dict(batch_first=True)),
    ("GRU", dict(bidirectional=True, num_layers=3)),
    ("RNN", dict(num_layers=2)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True, bias=False)),
]


@pytest.mark.parametrize("cls,kw", RNNS, ids=[f"{c}-{k}" for c, k in RNNS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_hx", [False, True])
def test_rnn_over_packed_input_matches_torch(cls, kw, dtype, with_hx):
    rng = np.random.default_rng(3)
    torch.manual_seed(0)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tm = getattr(torch.nn, cls)(3, 5, **kw).to(tdt)
    nm = getattr(nn, cls)(3, 5, dtype=dtype, **kw)
    copy_weights(tm, nm)
    bf = kw.get("batch_first", False)
    lengths, B, T = [4, 6, 2, 6, 1], 5, 6
    nx, tx = _pair(rng.standard_normal((B, T, 3) if bf else (T, B, 3)), dtype)
    n_in = NR.pack_padded_sequence(nx, lengths, bf, enforce_sorted=False)
    t_in = TR.pack_padded_sequence(tx, lengths, bf, enforce_sorted=False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    states = [_pair(rng.standard_normal((L * D, B, 5)), dtype)
              for _ in range(2 if cls == "LSTM" else 1)] if with_hx else []
    if not with_hx:
        hx_n = hx_t = None
    elif cls == "LSTM":
        hx_n, hx_t = tuple(s[0] for s in states), tuple(s[1] for s in states)
    else:
        hx_n, hx_t = states[0]
    n_out, n_h = nm(n_in, hx_n)
    t_out, t_h = tm(t_in, hx_t)
    assert isinstance(n_out, NR.PackedSequence)
    np.testing.assert_array_equal(n_out.batch_sizes.numpy(), t_out.batch_sizes.numpy())
    tol = 1e-5 if dtype == np.float32 else 1e-11
    assert_close(n_out.data, t_out.data, atol=tol, what="packed output")
    n_hs = list(n_h) if cls == "LSTM" else [n_h]
    t_hs = list(t_h) if cls == "LSTM" else [t_h]
    for a, b in zip(n_hs, t_hs):
        assert_close(a, b, atol=tol, what="final state")
    pn, _ = NR.pad_packed_sequence(n_out, bf)
    pt, _ = TR.pad_packed_sequence(t_out, bf)
    up = rng.standard_normal(pt.shape).astype(dtype)
    ups = [rng.standard_normal(h.shape).astype(dtype) for h in t_hs]
    loss_n = (pn * nf.tensor(up)).sum()
    loss_t = (pt * torch.from_numpy(up)).sum()
    for a, b, u in zip(n_hs, t_hs, ups):
        loss_n = loss_n + (a * nf.tensor(u)).sum()
        loss_t = loss_t + (b * torch.from_numpy(u)).sum()
    loss_n.backward()
    loss_t.backward()
    gtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_close(nx.grad, tx.grad, atol=gtol, what="input grad")
    for a, b in states:
        assert_close(a.grad, b.grad, atol=gtol, what="initial state grad")
    for (name, p), (_, q) in zip(nm.named_parameters(), tm.named_parameters()):
        assert_close(p.grad, q.grad, atol=gtol, what=name)


def test_packed_training_step_and_flatten_parameters():
    """A model as torch users write it: embedding-free LSTM classifier over packed batches."""
    torch.manual_seed(0)
    tm = torch.nn.LSTM(2, 4, batch_first=True)
    nm = nn.LSTM(2, 4, batch_first=True)
    copy_weights(tm, nm)
    nm.flatten_parameters()
    tm.flatten_parameters()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)
    lengths = [5, 2, 3]
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    nopt = nf.optim.SGD(nm.parameters(), lr=0.1)
    for _ in range(3):
        _, (th, _) = tm(TR.pack_padded_sequence(torch.from_numpy(x), lengths, True, False))
        _, (nh, _) = nm(NR.pack_padded_sequence(nf.tensor(x), lengths, True, False))
        topt.zero_grad()
        nopt.zero_grad()
        th.pow(2).sum().backward()
        nh.pow(2).sum().backward()
        topt.step()
        nopt.step()
    for (name, p), (_, q) in zip(nm.named_parameters(), tm.named_parameters()):
        assert_close(p, q, atol=1e-5, what=name)


def test_packed_bad_input():
    x = nf.randn(5, 4, 3)
    with pytest.raises(ShapeError, match="sorted in decreasing order"):
        NR.pack_padded_sequence(x, [3, 5, 3, 1])
    with pytest.raises(ShapeError, match=r"Expected `len\(lengths\)` to be equal to batch"):
        NR.pack_padded_sequence(x, [5, 3, 3])
    with pytest.raises(ShapeError, match="greater than 0"):
        NR.pack_padded_sequence(x, [5, 3, 0, 0])
    with pytest.raises(ValueError, match="longer than the padded input"):
        NR.pack_padded_sequence(x, [6, 3, 2, 1])
    packed = NR.pack_padded_sequence(x, [5, 3, 3, 1])
    with pytest.raises(ValueError, match="total_length to be at least"):
        NR.pad_packed_sequence(packed, total_length=3)
    with pytest.raises(ShapeError, match="sequence 1 has shape"):
        NR.pad_sequence([nf.ones(2, 3), nf.ones(3, 2)])
    with pytest.raises(ValueError, match="padding_side"):
        NR.pad_sequence([nf.ones(2, 3)], padding_side="middle")
    lstm = nn.LSTM(3, 4)
    with pytest.raises(ShapeError, match="Expected hidden"):
        lstm(packed, (nf.zeros(1, 3, 4), nf.zeros(1, 3, 4)))
    with pytest.raises(ShapeError, match="input_size=2"):
        nn.GRU(2, 4)(packed)
    with pytest.raises(TypeError, match="PackedSequence"):
        NR.pad_packed_sequence(x)
    with pytest.raises(DTypeError, match="does not match weight dtype"):
        lstm(NR.pack_padded_sequence(x.double(), [5, 3, 3, 1]))


@pytest.mark.parametrize("name", ["pack_padded_sequence", "pad_packed_sequence",
                                  "pad_sequence", "pack_sequence", "unpad_sequence",
                                  "unpack_sequence"])
def test_signatures_as_torch(name):
    from helpers import same_signature
    assert same_signature(getattr(NR, name), getattr(TR, name))
