"""nnfast.data.transforms: batch augmentation, seeded, composable, DataLoader-ready."""
import numpy as np
import pytest

import nnfast as nf
from nnfast import nn
from nnfast.data import DataLoader, TensorDataset, default_collate
from nnfast.data.transforms import Compose, GaussianNoise, Mixup, RandomShift, mixup_criterion


def _images(n=6, shape=(5, 5), seed=0):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def test_gaussian_noise():
    x = np.zeros((2000, 10), np.float32)
    out = GaussianNoise(0.5, generator=0)(x)
    assert out.dtype == np.float32 and np.all(x == 0)          # input untouched
    assert abs(out.std() - 0.5) < 0.01 and abs(out.mean()) < 0.01
    np.testing.assert_array_equal(out, GaussianNoise(0.5, generator=0)(x))
    t = GaussianNoise(0.1, generator=0)(nf.tensor(x))
    assert isinstance(t, nf.Tensor)
    xo, yo = GaussianNoise(0.1, generator=0)(x, np.arange(2000))
    np.testing.assert_array_equal(yo, np.arange(2000))
    with pytest.raises(TypeError, match="float"):
        GaussianNoise(0.1)(np.zeros(3, np.int64))


def _shift_ref(img, dy, dx):
    out = np.zeros_like(img)
    H, W = img.shape[-2:]
    for i in range(H):
        for j in range(W):
            si, sj = i - dy, j - dx
            if 0 <= si < H and 0 <= sj < W:
                out[..., i, j] = img[..., si, sj]
    return out


@pytest.mark.parametrize("shape", [(7, 4, 5), (9, 3, 4, 6), (3, 1, 1)])
def test_random_shift_matches_reference(shape):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    t = RandomShift(2, generator=3)
    shifts = RandomShift(2, generator=3).shifts(shape[0])
    out = t(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert np.all(np.abs(shifts) <= 2)
    for i in range(shape[0]):
        np.testing.assert_array_equal(out[i], _shift_ref(x[i], *shifts[i]))


def test_random_shift_zero_and_fill_and_errors():
    x = _images()
    np.testing.assert_array_equal(RandomShift(0)(x), x)
    out = RandomShift.apply(x, np.array([[5, 0]] * 6), fill=-1.0)
    np.testing.assert_array_equal(out, -1.0)
    with pytest.raises(ValueError, match="expected images"):
        RandomShift(1)(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1)


def test_mixup_soft_targets_and_pairs():
    x = _images(8, (3,))
    y = np.arange(8) % 4
    mix = Mixup(alpha=0.4, num_classes=4, generator=0)
    xm, ym = mix(x, y)
    assert ym.shape == (8, 4) and ym.dtype == np.float32
    np.testing.assert_allclose(ym.sum(1), 1.0, rtol=1e-6)
    # recover lam and the pairing from the same seed
    rng = np.random.default_rng(0)
    lam = rng.beta(0.4, 0.4)
    perm = rng.permutation(8)
    np.testing.assert_allclose(xm, lam * x + (1 - lam) * x[perm], rtol=1e-6)
    np.testing.assert_allclose(ym, lam * np.eye(4)[y] + (1 - lam) * np.eye(4)[y[perm]], rtol=1e-6)
    xm2, ya, yb, lam2 = Mixup(alpha=0.4, generator=0).pairs(x, y)
    np.testing.assert_allclose(xm2, xm)
    np.testing.assert_array_equal(ya, y)
    np.testing.assert_array_equal(yb, y[perm])
    assert lam2 == pytest.approx(lam)
    with pytest.raises(ValueError, match="num_classes"):
        Mixup()(x, y)


def test_mixup_losses_agree():
    """Cross-entropy with the mixed soft targets == lam-weighted sum of the two hard losses."""
    x = _images(8, (3,))
    y = np.arange(8) % 4
    logits = nf.tensor(np.random.default_rng(2).standard_normal((8, 4)).astype(np.float32))
    _, ym = Mixup(1.0, num_classes=4, generator=5)(x, y)
    _, ya, yb, lam = Mixup(1.0, generator=5).pairs(x, y)
    ce = nn.CrossEntropyLoss()
    soft = ce(logits, nf.tensor(ym))
    hard = mixup_criterion(ce, logits, nf.tensor(ya), nf.tensor(yb), lam)
    assert soft.item() == pytest.approx(hard.item(), rel=1e-5)


def test_compose_and_tensor_io():
    x = _images(4)
    y = np.arange(4)
    aug = Compose([RandomShift(1, generator=0), GaussianNoise(0.01, generator=0),
                   Mixup(0.2, num_classes=4, generator=0)])
    xo, yo = aug(x, y)
    assert xo.shape == x.shape and yo.shape == (4, 4)
    xo2, yo2 = Compose([RandomShift(1, generator=0), GaussianNoise(0.01, generator=0),
                        Mixup(0.2, num_classes=4, generator=0)])(nf.tensor(x), nf.tensor(y))
    assert isinstance(xo2, nf.Tensor) and isinstance(yo2, nf.Tensor)
    np.testing.assert_array_equal(xo2.detach().numpy(), xo)
    only_x = Compose([RandomShift(1, generator=0)])(x)
    assert isinstance(only_x, np.ndarray)


def test_transform_in_tensor_dataset_via_dataloader():
    x = _images(10)
    y = np.arange(10) % 2
    ds = TensorDataset(x, y, transform=Compose([RandomShift(1, generator=0),
                                                GaussianNoise(0.0, generator=0)]))
    batches = list(DataLoader(ds, batch_size=4))
    assert [b[0].shape for b in batches] == [(4, 5, 5), (4, 5, 5), (2, 5, 5)]
    shifts = RandomShift(1, generator=0).shifts(4)
    np.testing.assert_array_equal(batches[0][0].detach().numpy(), RandomShift.apply(x[:4], shifts))
    np.testing.assert_array_equal(batches[0][1].detach().numpy(), y[:4])
    xi, yi = ds[3]
    assert xi.shape == (5, 5) and int(yi.item()) == 1
    mixed = TensorDataset(x.reshape(10, -1), y, transform=Mixup(1.0, num_classes=2, generator=0))
    xb, yb = next(iter(DataLoader(mixed, batch_size=5)))
    assert yb.shape == (5, 2) and yb.dtype == np.float32


def test_transform_via_collate_fn():
    x = _images(6)
    y = np.arange(6)
    noise = GaussianNoise(0.1, generator=0)
    loader = DataLoader(TensorDataset(x, y), batch_size=3,
                        collate_fn=lambda s: list(noise(*default_collate(s))))
    xb, yb = next(iter(loader))
    np.testing.assert_array_equal(yb.detach().numpy(), [0, 1, 2])
    assert np.abs(xb.detach().numpy() - x[:3]).max() > 0
