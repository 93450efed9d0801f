"""NNRegressor: MLPRegressor's contract (single and multi-output targets, sample weights,
partial_fit) trained by nnfast with the mean squared error."""
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.validation import column_or_1d, validate_data

from .. import nn
from ..tensor import Tensor
from ._base import _NNBase


class NNRegressor(RegressorMixin, _NNBase):
    """Multi-layer perceptron regressor trained by nnfast (MLPRegressor's parameters).

    `solver` names any nnfast optimizer, `activation` takes sklearn's and nnfast's names,
    `module` is an nnfast Module (instance or class + module__* parameters) mapping
    (n_samples, n_features) float32 to (n_samples, n_outputs). The loss is the mean squared
    error (MLPRegressor reports half of it; the gradients differ by that factor of 2).
    y of shape (n_samples,) predicts a 1-D array, y of shape (n_samples, k) a 2-D one.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 tol=1e-4, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 random_state=None, warm_start=False, verbose=False, shuffle=True,
                 module=None, **module_params):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate_init=learning_rate_init,
            max_iter=max_iter, tol=tol, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            shuffle=shuffle, module=module, **module_params)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X, y for up to max_iter epochs."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over the batch X, y from the current weights (online learning)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _validate_xy(self, X, y, reset, incremental, classes):
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if not reset and hasattr(self, "n_outputs_") and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs, but {type(self).__name__} was "
                             f"fitted with {self.n_outputs_}")
        self.n_outputs_ = n_outputs
        return X, np.array(y, dtype=np.float32, order="C").reshape(len(y), n_outputs)

    def _n_model_outputs(self):
        return self.n_outputs_

    def _outputs_meaning(self):
        return "one column per output of y"

    def _loss_fn(self):
        return nn.MSELoss()

    def _per_sample_loss(self, out, targets):
        return nn.functional.mse_loss(out, Tensor._make(targets), reduction="none")

    def _stratify(self, targets):
        return None

    def _validation_score(self, out, targets, weights):
        return r2_score(targets, out, sample_weight=weights)

    def predict(self, X):
        """Predicted targets: (n_samples,) when fitted on a 1-D y, else (n_samples, k)."""
        out = self._forward(X).astype(np.float64)
        return out.ravel() if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
