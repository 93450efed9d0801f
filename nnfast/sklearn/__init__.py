"""nnfast.sklearn: scikit-learn estimators training nnfast models.

    from nnfast.sklearn import NNClassifier, NNRegressor
    make_pipeline(StandardScaler(), NNClassifier(hidden_layer_sizes=(64,))).fit(X, y)

NNClassifier and NNRegressor take MLPClassifier's / MLPRegressor's names and defaults
(hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate_init, max_iter,
tol, early_stopping, validation_fraction, n_iter_no_change, random_state, warm_start,
verbose, shuffle), any nnfast optimizer by name as `solver`, and any nnfast Module through
`module=` (an instance, or a class built from `module__*` parameters, as skorch does).
The training step is nf.compile_step's captured step when the model allows it.

scikit-learn is an optional extra: importing nnfast never imports it; this package does.
"""
try:
    import sklearn  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "nnfast.sklearn needs scikit-learn, which is not installed: "
        'pip install "nnfast[sklearn]"') from e

from ._base import EXPECTED_FAILED_CHECKS
from ._classifier import NNClassifier
from ._regressor import NNRegressor

# EXPECTED_FAILED_CHECKS: the check_estimator checks that cannot pass, with the reason, for
# check_estimator(est, expected_failed_checks=...) and parametrize_with_checks
__all__ = ["NNClassifier", "NNRegressor", "EXPECTED_FAILED_CHECKS"]
