"""Feature scaling with scikit-learn's semantics: StandardScaler and MinMaxScaler.

Statistics are accumulated in float64 (partial_fit merges batches exactly, Chan et al.'s
pairwise update); transform works in the input's float dtype, so float32 features stay
float32 (integer input becomes float32, nnfast's working type; scikit-learn would give float64).
nnfast Tensors in give Tensors out. Fitted scalers save and load like modules:
`state_dict()` is a dict of NumPy arrays (np.savez-able, nnfast.save-able beside a model's),
`load_state_dict()` restores it.

Differences from scikit-learn: NaN / Inf in the input raise ValueError (scikit-learn treats NaN
as missing); no sparse input, no sample_weight.
"""
import numpy as np

from ..tensor import Tensor

__all__ = ["StandardScaler", "MinMaxScaler"]


def _check_2d(X, who, finite=True):
    is_tensor = isinstance(X, Tensor)
    arr = np.asarray(X._storage if is_tensor else X)
    if arr.ndim != 2:
        raise ValueError(f"{who}: expected a 2-D array (n_samples, n_features), got shape "
                         f"{arr.shape}; reshape with X.reshape(-1, 1) for a single feature or "
                         "X.reshape(1, -1) for a single sample")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected a numeric array, got dtype {arr.dtype}")
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float32)
    if finite and not np.all(np.isfinite(arr)):
        raise ValueError(f"{who}: input contains NaN or infinity")
    return arr, is_tensor


def _out(arr, is_tensor):
    return Tensor._make(arr) if is_tensor else arr


def _zero_scale_to_one(scale, constant=None):
    """Features of zero spread are left unscaled (scale 1), as scikit-learn does."""
    scale = scale.copy()
    if constant is None:
        constant = scale < 10 * np.finfo(scale.dtype).eps
    scale[constant] = 1.0
    return scale


class _Scaler:
    _fitted_attr = None

    def fit(self, X, y=None):
        self._reset()
        return self.partial_fit(X, y)

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)

    def _check_fitted(self, who):
        if getattr(self, self._fitted_attr, None) is None and not hasattr(self, "n_samples_seen_"):
            raise RuntimeError(f"This {type(self).__name__} instance is not fitted yet. Call "
                               f"'fit' with appropriate arguments before using '{who}'.")

    def _check_features(self, arr, who):
        if arr.shape[1] != self.n_features_in_:
            raise ValueError(f"{type(self).__name__}.{who}: X has {arr.shape[1]} features, but "
                             f"{type(self).__name__} is expecting {self.n_features_in_} "
                             "features as input.")

    def state_dict(self):
        """The fitted state as a dict of NumPy arrays (absent statistics are left out)."""
        out = {}
        for name in self._state_keys:
            v = getattr(self, name, None)
            if v is not None:
                out[name] = np.array(v)
        return out

    def load_state_dict(self, state):
        self._reset()
        unknown = set(state) - set(self._state_keys)
        if unknown:
            raise KeyError(f"{type(self).__name__}.load_state_dict: unexpected keys "
                           f"{sorted(unknown)}")
        for name in self._state_keys:
            if name in state:
                v = np.asarray(state[name])
                setattr(self, name, v.item() if v.ndim == 0 else v.astype(np.float64))
        self._after_load()
        return self

    def _after_load(self):
        pass


class StandardScaler(_Scaler):
    """z = (x - mean_) / scale_ per feature; scale_ is the population standard deviation
    (ddof=0), or 1 for a constant feature."""

    _fitted_attr = "scale_"
    _state_keys = ("with_mean", "with_std", "mean_", "var_", "scale_", "n_samples_seen_",
                   "n_features_in_")

    def __init__(self, *, copy=True, with_mean=True, with_std=True):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std

    def __repr__(self):
        args = [f"{k}=False" for k in ("with_mean", "with_std") if not getattr(self, k)]
        return f"StandardScaler({', '.join(args)})"

    def _reset(self):
        for name in ("mean_", "var_", "scale_", "n_samples_seen_", "n_features_in_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, X, y=None):
        """Update the statistics with a batch of rows (exact: same as fitting all rows)."""
        arr, _ = _check_2d(X, "StandardScaler.partial_fit")
        x = arr.astype(np.float64)
        n_b = x.shape[0]
        if n_b == 0:
            raise ValueError("StandardScaler.partial_fit: found array with 0 sample(s)")
        if hasattr(self, "n_samples_seen_"):
            self._check_features(arr, "partial_fit")
        mean_b = x.mean(axis=0)
        m2_b = ((x - mean_b) ** 2).sum(axis=0)
        n_a = getattr(self, "n_samples_seen_", 0)
        if n_a == 0:
            mean, m2 = mean_b, m2_b
        else:
            mean_a = self._mean_acc
            m2_a = self._var_acc * n_a
            n = n_a + n_b
            delta = mean_b - mean_a
            mean = mean_a + delta * (n_b / n)
            m2 = m2_a + m2_b + delta ** 2 * (n_a * n_b / n)
        self.n_samples_seen_ = n_a + n_b
        self.n_features_in_ = x.shape[1]
        self._mean_acc = mean
        self._var_acc = m2 / self.n_samples_seen_
        self._set_public()
        return self

    def _set_public(self):
        n, mean, var = self.n_samples_seen_, self._mean_acc, self._var_acc
        self.mean_ = mean.copy() if self.with_mean or self.with_std else None
        if self.with_std:
            self.var_ = var.copy()
            # Constant features: a variance within float64 rounding error of zero
            # (as scikit-learn: it bounds the error of the two-pass variance).
            eps = np.finfo(np.float64).eps
            constant = var <= n * eps * var + (n * mean * eps) ** 2
            self.scale_ = _zero_scale_to_one(np.sqrt(var), constant)
        else:
            self.var_ = self.scale_ = None
        if not self.with_mean and not self.with_std:
            self.mean_ = None

    def _after_load(self):
        self.with_mean, self.with_std = bool(self.with_mean), bool(self.with_std)
        self.n_samples_seen_ = int(self.n_samples_seen_)
        self.n_features_in_ = int(self.n_features_in_)
        self._mean_acc = np.asarray(self.mean_ if self.mean_ is not None
                                    else np.zeros(self.n_features_in_), np.float64)
        self._var_acc = np.asarray(self.var_ if getattr(self, "var_", None) is not None
                                   else np.zeros(self.n_features_in_), np.float64)
        for name in ("mean_", "var_", "scale_"):
            if not hasattr(self, name):
                setattr(self, name, None)

    def transform(self, X, copy=None):
        self._check_fitted("transform")
        arr, is_tensor = _check_2d(X, "StandardScaler.transform")
        self._check_features(arr, "transform")
        out = arr.copy() if arr is (X._storage if is_tensor else X) else arr
        if self.with_mean:
            out -= self.mean_.astype(out.dtype)
        if self.with_std:
            out /= self.scale_.astype(out.dtype)
        return _out(out, is_tensor)

    def inverse_transform(self, X, copy=None):
        self._check_fitted("inverse_transform")
        arr, is_tensor = _check_2d(X, "StandardScaler.inverse_transform")
        self._check_features(arr, "inverse_transform")
        out = arr.copy() if arr is (X._storage if is_tensor else X) else arr
        if self.with_std:
            out *= self.scale_.astype(out.dtype)
        if self.with_mean:
            out += self.mean_.astype(out.dtype)
        return _out(out, is_tensor)


class MinMaxScaler(_Scaler):
    """x' = x * scale_ + min_, mapping each feature's [data_min_, data_max_] onto
    feature_range; a constant feature is only shifted (range 1)."""

    _fitted_attr = "scale_"
    _state_keys = ("feature_range", "clip", "data_min_", "data_max_", "data_range_", "scale_",
                   "min_", "n_samples_seen_", "n_features_in_")

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def __repr__(self):
        return f"MinMaxScaler(feature_range={tuple(self.feature_range)})"

    def _reset(self):
        for name in ("data_min_", "data_max_", "data_range_", "scale_", "min_",
                     "n_samples_seen_", "n_features_in_"):
            self.__dict__.pop(name, None)

    def partial_fit(self, X, y=None):
        lo, hi = self.feature_range
        if lo >= hi:
            raise ValueError("Minimum of desired feature range must be smaller than maximum. "
                             f"Got {tuple(self.feature_range)}.")
        arr, _ = _check_2d(X, "MinMaxScaler.partial_fit")
        if arr.shape[0] == 0:
            raise ValueError("MinMaxScaler.partial_fit: found array with 0 sample(s)")
        if hasattr(self, "n_samples_seen_"):
            self._check_features(arr, "partial_fit")
        dmin = arr.min(axis=0).astype(np.float64)
        dmax = arr.max(axis=0).astype(np.float64)
        if hasattr(self, "n_samples_seen_"):
            dmin = np.minimum(self.data_min_, dmin)
            dmax = np.maximum(self.data_max_, dmax)
        self.n_samples_seen_ = getattr(self, "n_samples_seen_", 0) + arr.shape[0]
        self.n_features_in_ = arr.shape[1]
        self.data_min_, self.data_max_ = dmin, dmax
        self.data_range_ = dmax - dmin
        self.scale_ = (hi - lo) / _zero_scale_to_one(self.data_range_)
        self.min_ = lo - dmin * self.scale_
        return self

    def _after_load(self):
        self.feature_range = tuple(np.asarray(self.feature_range).tolist())
        self.clip = bool(self.clip)
        self.n_samples_seen_ = int(self.n_samples_seen_)
        self.n_features_in_ = int(self.n_features_in_)

    def transform(self, X):
        self._check_fitted("transform")
        arr, is_tensor = _check_2d(X, "MinMaxScaler.transform")
        self._check_features(arr, "transform")
        out = arr * self.scale_.astype(arr.dtype) + self.min_.astype(arr.dtype)
        if self.clip:
            np.clip(out, self.feature_range[0], self.feature_range[1], out=out)
        return _out(out, is_tensor)

    def inverse_transform(self, X):
        self._check_fitted("inverse_transform")
        arr, is_tensor = _check_2d(X, "MinMaxScaler.inverse_transform")
        self._check_features(arr, "inverse_transform")
        out = (arr - self.min_.astype(arr.dtype)) / self.scale_.astype(arr.dtype)
        return _out(out, is_tensor)
