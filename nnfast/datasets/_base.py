"""Embedded data: load_digits, and the Bunch container it returns."""
import os

import numpy as np

__all__ = ["Bunch", "load_digits"]

_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

_DIGITS_DESCR = """\
Optical recognition of handwritten digits (test set)
----------------------------------------------------

Source: UCI Machine Learning Repository, "Optical Recognition of Handwritten Digits"
(E. Alpaydin and C. Kaynak, 1998), licensed CC BY 4.0:
https://archive.ics.uci.edu/ml/datasets/optical+recognition+of+handwritten+digits
This is the 1,797-image test set (file optdigits.tes).

Instances: 1797 (about 180 per class). Classes: 10 (digits 0-9).
Features: 64 = an 8x8 image; each pixel is an integer in 0..16, the count of "on" pixels in a
4x4 block of a 32x32 bitmap of a digit written by one of 43 people (30 for the training set,
13 for this test set in the original split).

Here: data float32 (1797, 64), images float32 (1797, 8, 8), target int64 (1797,).
"""


class Bunch(dict):
    """A dict whose keys are also attributes (bunch.data is bunch["data"])."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key, value):
        self[key] = value

    def __dir__(self):
        return list(self.keys())


def _digits_file():
    try:   # importlib.resources finds the file also inside zipped installs
        from importlib.resources import files
        return files("nnfast.datasets").joinpath("data", "digits.npz")
    except (ImportError, ModuleNotFoundError, TypeError):   # pragma: no cover - old Pythons
        return os.path.join(_DATA_DIR, "digits.npz")


def load_digits(*, n_class=10, return_X_y=False, as_frame=False):
    """Load the handwritten digits data set (classification, 10 classes, 8x8 images).

    Data: the UCI Machine Learning Repository's "Optical Recognition of Handwritten Digits"
    (E. Alpaydin and C. Kaynak, 1998; CC BY 4.0;
    https://archive.ics.uci.edu/ml/datasets/optical+recognition+of+handwritten+digits),
    its 1,797-image test set (optdigits.tes), shipped inside the package (no network access).

    Parameters follow sklearn.datasets.load_digits:
      n_class: keep only the digits 0 .. n_class - 1 (1..10).
      return_X_y: return (data, target) instead of a Bunch.
      as_frame: not supported (nnfast does not depend on pandas): True raises.

    Returns a Bunch with data float32 (n, 64) in 0..16, images float32 (n, 8, 8),
    target int64 (n,), target_names int64 arange(n_class), feature_names ["pixel_0_0", ...],
    DESCR (text); or (data, target) with return_X_y."""
    if as_frame:
        raise NotImplementedError("load_digits: as_frame=True needs pandas, which nnfast does "
                                  "not depend on; use the NumPy arrays (as_frame=False)")
    if not isinstance(n_class, int) or not 1 <= n_class <= 10:
        raise ValueError(f"load_digits: n_class must be an int in 1..10, got {n_class!r}")
    src = _digits_file()
    with (src.open("rb") if hasattr(src, "open") else open(src, "rb")) as f:
        with np.load(f) as z:
            images = z["images"].astype(np.float32)
            target = z["target"].astype(np.int64)
    if n_class < 10:
        keep = target < n_class
        images, target = images[keep], target[keep]
    data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target
    return Bunch(data=data, target=target, frame=None,
                 feature_names=[f"pixel_{r}_{c}" for r in range(8) for c in range(8)],
                 target_names=np.arange(n_class, dtype=np.int64), images=images,
                 DESCR=_DIGITS_DESCR)
