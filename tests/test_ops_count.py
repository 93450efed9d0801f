"""bincount and histc against torch: values, dtypes, weights, minlength, errors."""
import numpy as np
import pytest
import torch

import nnfast as nf


@pytest.mark.parametrize("values", [[1, 1, 3], [0], [], [5, 0, 5, 2]])
@pytest.mark.parametrize("minlength", [0, 3, 8])
def test_bincount_matches_torch(values, minlength):
    a = np.array(values, np.int64)
    got = nf.bincount(nf.tensor(a), minlength=minlength)
    want = torch.bincount(torch.tensor(a), minlength=minlength)
    assert got.dtype == nf.int64 and got.tolist() == want.tolist()
    assert nf.tensor(a).bincount(minlength=minlength).tolist() == want.tolist()


@pytest.mark.parametrize("wdtype", [np.float32, np.float64])
def test_bincount_weights(wdtype):
    a = np.array([1, 1, 3, 0], np.int64)
    w = np.array([0.5, 1.0, 2.0, -1.0], wdtype)
    got = nf.bincount(nf.tensor(a), weights=nf.tensor(w))
    want = torch.bincount(torch.tensor(a), weights=torch.tensor(w))
    assert str(want.dtype) == "torch." + str(got.dtype)
    np.testing.assert_allclose(got.numpy(), want.numpy())


def test_bincount_bad_input():
    for bad in (nf.tensor([-1, 2]), nf.tensor([[1, 2]])):
        with pytest.raises(RuntimeError, match="1-d non-negative integral"):
            nf.bincount(bad)
    with pytest.raises(NotImplementedError):
        nf.bincount(nf.tensor([1.0]))
    with pytest.raises(RuntimeError, match="same length"):
        nf.bincount(nf.tensor([1, 2]), weights=nf.tensor([1.0]))


@pytest.mark.parametrize("bins,lo,hi", [(4, 0, 3), (10, 0, 0), (3, -1, 1), (5, 2, 2)])
def test_histc_matches_torch(bins, lo, hi):
    a = np.array([1.0, 2.0, 1.0, -0.5, 2.5, 7.0], np.float32)
    got = nf.histc(nf.tensor(a), bins=bins, min=lo, max=hi)
    want = torch.histc(torch.tensor(a), bins=bins, min=lo, max=hi)
    assert got.dtype == nf.float32
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    out = nf.zeros(bins)
    assert nf.histc(nf.tensor(a), bins=bins, min=lo, max=hi, out=out) is out
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    with pytest.raises(RuntimeError, match="bins must be > 0"):
        nf.histc(nf.tensor(a), bins=0)
