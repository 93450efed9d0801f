"""The data the ports train on: nnfast's embedded 8x8 digits (NumPy arrays, no download) in
place of MNIST, in a fixed order, so torch and nnfast see the same batches."""
import numpy as np


def digits(n_train=512, n_test=256, seed=0):
    """(x_train, y_train, x_test, y_test): images (N, 1, 8, 8) float32 in [0, 1], labels int64."""
    from nnfast.datasets import load_digits   # here: a script puts its checkout first
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(X))
    X = (X[order] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y[order].astype(np.int64)
    return (X[:n_train], y[:n_train], X[n_train:n_train + n_test], y[n_train:n_train + n_test])
