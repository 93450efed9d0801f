"""nnfast.datasets — a small real data set shipped with the package, and seeded synthetic
generators (scikit-learn names and arguments).

    X, y = nnfast.datasets.load_digits(return_X_y=True)
    X, y = nnfast.datasets.make_classification(1000, weights=[0.95, 0.05], random_state=0)

Arrays are NumPy: features float32 (nnfast's working type), class labels int64.
"""
from ._base import Bunch, load_digits
from ._generators import make_blobs, make_classification, make_moons, make_regression, make_spirals

__all__ = ["Bunch", "load_digits", "make_classification", "make_regression", "make_moons",
           "make_spirals", "make_blobs"]
