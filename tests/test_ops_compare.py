"""Comparisons, value tests, isclose/allclose/equal, logical and bitwise ops and their
operators (nnfast/_ops/compare.py) held to torch 2.13: result dtypes and values, promotion,
aliases, in-place twins, out=, bad input."""
import numpy as np
import pytest
import torch

import nnfast as nf

F32 = np.float32


def tdt(t):
    return np.dtype(str(t.dtype).replace("torch.", ""))


# ============================================================= logical and bitwise

@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor", "bitwise_and",
                                  "bitwise_or", "bitwise_xor", "bitwise_left_shift",
                                  "bitwise_right_shift"])
@pytest.mark.parametrize("dts", [(np.int64, np.int64), (np.bool_, np.bool_),
                                 (np.int32, np.int64), (np.uint8, np.bool_), (F32, np.int64)])
def test_logical_and_bitwise(name, dts):
    a = np.array([0, 1, 2, 3, 5, 6]).astype(dts[0])
    b = np.array([0, 1, 1, 0, 3, 2]).astype(dts[1])
    try:
        t = getattr(torch, name)(torch.from_numpy(a), torch.from_numpy(b))
    except RuntimeError as e:
        with pytest.raises(type(e)):
            getattr(nf, name)(nf.tensor(a), nf.tensor(b))
        return
    n = getattr(nf, name)(nf.tensor(a), nf.tensor(b))
    assert n.dtype == tdt(t), f"{n.dtype} vs {t.dtype}"
    np.testing.assert_array_equal(n.numpy(), t.numpy())
    m = getattr(nf.tensor(a), name)(nf.tensor(b))
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    n2, t2 = nf.tensor(a), torch.from_numpy(a.copy())
    try:
        getattr(t2, name + "_")(torch.from_numpy(b))
    except RuntimeError as e:
        with pytest.raises(type(e)):
            getattr(n2, name + "_")(nf.tensor(b))
        return
    getattr(n2, name + "_")(nf.tensor(b))
    assert n2.dtype == tdt(t2)
    np.testing.assert_array_equal(n2.numpy(), t2.numpy())


def test_logical_not_bitwise_not_and_operators():
    for a in (np.array([0, 1, -2, 7]), np.array([True, False, True]),
              np.array([0.0, 1.5, -2.0], F32)):
        n, t = nf.tensor(a), torch.from_numpy(a.copy())
        np.testing.assert_array_equal(nf.logical_not(n).numpy(), torch.logical_not(t).numpy())
        if a.dtype.kind == "f":
            with pytest.raises(TypeError, match="invert"):
                ~n
            with pytest.raises(NotImplementedError, match="Float"):
                nf.bitwise_not(n)
            with pytest.raises(NotImplementedError, match="Float"):
                n & n
            continue
        for expr in (lambda x: ~x, lambda x: x & x, lambda x: x | 1, lambda x: 1 ^ x,
                     lambda x: x ^ x, lambda x: 3 & x):
            r, s = expr(n), expr(t)
            assert r.dtype == tdt(s)
            np.testing.assert_array_equal(r.numpy(), s.numpy())
    n, t = nf.tensor([1, 2, 8]), torch.tensor([1, 2, 8])
    np.testing.assert_array_equal((n << 2).numpy(), (t << 2).numpy())
    np.testing.assert_array_equal((n >> 1).numpy(), (t >> 1).numpy())
    n &= 3
    n |= nf.tensor([4, 4, 4])
    n ^= 1
    t &= 3
    t |= torch.tensor([4, 4, 4])
    t ^= 1
    np.testing.assert_array_equal(n.numpy(), t.numpy())


# ============================================================= comparisons

CMP = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
       "not_equal"]


@pytest.mark.parametrize("name", CMP)
def test_comparison_functions_methods_and_inplace(name):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], F32)
    b = np.array([2.0, 2.0, 2.0], F32)
    for on, ot in ((nf.tensor(b), torch.from_numpy(b)), (2.0, 2.0), (2, 2)):
        t = getattr(torch, name)(torch.from_numpy(a), ot)
        for n in (getattr(nf, name)(nf.tensor(a), on), getattr(nf.tensor(a), name)(on)):
            assert n.dtype == np.bool_ and not n.requires_grad
            np.testing.assert_array_equal(n.numpy(), t.numpy())
    x, y = nf.tensor(a), torch.from_numpy(a.copy())
    getattr(x, name + "_")(2.0)
    getattr(y, name + "_")(2.0)
    assert x.dtype == F32
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    o = nf.empty(0, dtype=nf.bool)
    assert getattr(nf, name)(nf.tensor(a), 2.0, out=o) is o and o.shape == (2, 3)


def test_comparisons_promote_like_torch():
    # float32 against a Python float compares in float32; ints against floats in float
    assert (nf.tensor([0.1]) == 0.1).item() is True
    np.testing.assert_array_equal((nf.tensor([1, 2]) < 1.5).numpy(), [True, False])
    np.testing.assert_array_equal((nf.tensor(1.0) < nf.tensor([1.0, 2.0], dtype=nf.float64))
                                  .numpy(), [False, True])
    assert (nf.tensor([1.0]) == None) is False   # noqa: E711 - torch's behaviour
    assert (nf.tensor([1.0]) != None) is True    # noqa: E711
    assert nf.tensor([1.0]) != "x"
    with pytest.raises(TypeError):
        nf.tensor([1.0]) < "x"
    with pytest.raises(RuntimeError, match="must match the size"):
        nf.tensor([1.0, 2.0]) == nf.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="other"):
        nf.eq(nf.tensor([1.0]), None)


def test_value_tests():
    x = np.array([1.0, np.nan, np.inf, -np.inf, -0.0, 0.0], F32)
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "signbit", "isreal"):
        for arr in (x, np.array([1, -2, 0]), np.array([True, False])):
            try:
                t = getattr(torch, name)(torch.from_numpy(arr.copy()))
            except RuntimeError as e:
                with pytest.raises(type(e)):
                    getattr(nf, name)(nf.tensor(arr))
                continue
            for n in (getattr(nf, name)(nf.tensor(arr)), getattr(nf.tensor(arr), name)()):
                assert n.dtype == np.bool_
                np.testing.assert_array_equal(n.numpy(), t.numpy(), err_msg=name)
    np.testing.assert_array_equal(nf.isin(nf.tensor([1, 2, 3]), nf.tensor([2, 5])).numpy(),
                                  [False, True, False])


def test_isclose_allclose_equal():
    a = np.array([1.0, 1.0 + 1e-6, np.nan, np.inf, -np.inf, 1.0], F32)
    b = np.array([1.0, 1.0, np.nan, np.inf, np.inf, 1.1], F32)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0, "rtol": 0.0}):
        n = nf.isclose(nf.tensor(a), nf.tensor(b), **kw)
        t = torch.isclose(torch.from_numpy(a), torch.from_numpy(b), **kw)
        np.testing.assert_array_equal(n.numpy(), t.numpy(), err_msg=str(kw))
        assert nf.allclose(nf.tensor(a), nf.tensor(b), **kw) == \
            torch.allclose(torch.from_numpy(a), torch.from_numpy(b), **kw)
        assert nf.tensor(a).allclose(nf.tensor(b), **kw) == \
            torch.from_numpy(a).allclose(torch.from_numpy(b), **kw)
    np.testing.assert_array_equal(nf.isclose(nf.tensor([1, 2]), nf.tensor([1, 3])).numpy(),
                                  [True, False])
    with pytest.raises(RuntimeError, match="Float did not match Double"):
        nf.isclose(nf.tensor([1.0]), nf.tensor([1.0], dtype=nf.float64))
    with pytest.raises(RuntimeError, match="rtol"):
        nf.isclose(nf.tensor([1.0]), nf.tensor([1.0]), rtol=-1)
    assert nf.equal(nf.tensor([1.0, 2.0]), nf.tensor([1, 2])) is True
    assert nf.equal(nf.tensor([1.0, 2.0]), nf.tensor([1.0, 2.0, 3.0])) is False
    assert nf.tensor([1.0]).equal(nf.tensor([2.0])) is False
