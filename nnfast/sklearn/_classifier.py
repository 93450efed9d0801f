"""NNClassifier: MLPClassifier's contract (binary and multiclass, any label type, class and
sample weights, partial_fit with classes= on the first call) trained by nnfast.

The model outputs one logit per class, trained with cross-entropy (a binary problem gets two
logits and softmax, the same model family as MLPClassifier's one logistic unit).
"""
import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import validate_data

from .. import nn
from ..tensor import Tensor
from ._base import _NNBase


class NNClassifier(ClassifierMixin, _NNBase):
    """Multi-layer perceptron classifier trained by nnfast (MLPClassifier's parameters).

    Parameters beyond MLPClassifier's: `solver` names any nnfast optimizer ('adam', 'sgd',
    'adamw', 'rmsprop', 'adagrad', 'nadam', ...), `activation` also takes nnfast's
    ('gelu', 'silu', 'elu', 'leaky_relu'), `class_weight` (None, 'balanced' or a dict
    {label: weight}) multiplies the sample weights, and `module` is an nnfast Module (an
    instance, deep-copied at each fresh fit, or a class built from the module__* parameters)
    mapping (n_samples, n_features) float32 to (n_samples, n_classes) logits.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (DataFrame input),
    module_, optimizer_, loss_, loss_curve_, best_loss_, validation_scores_,
    best_validation_score_, n_iter_, t_, n_outputs_.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 tol=1e-4, early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 class_weight=None, random_state=None, warm_start=False, verbose=False,
                 shuffle=True, module=None, **module_params):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate_init=learning_rate_init,
            max_iter=max_iter, tol=tol, early_stopping=early_stopping,
            validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
            random_state=random_state, warm_start=warm_start, verbose=verbose,
            shuffle=shuffle, module=module, **module_params)
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X, y (labels of any type) for up to max_iter epochs."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over the batch X, y from the current weights (online learning).
        `classes`, every label that will ever be seen, is required on the first call."""
        _check_partial_fit_first_call(self, classes)   # sets classes_ on the first call
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    # -- hooks of the shared fit loop ---------------------------------------------------------
    def _validate_xy(self, X, y, reset, incremental, classes):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), reset=reset)
        check_classification_targets(y)
        if incremental:
            unseen = np.setdiff1d(np.unique(y), self.classes_)
            if len(unseen):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {np.unique(y)}.")
        elif reset or not hasattr(self, "classes_"):
            self.classes_ = np.unique(y)
        else:   # warm_start
            if not np.array_equal(np.unique(y), self.classes_):
                raise ValueError("warm_start can only be used where `y` has the same classes "
                                 f"as in the previous call to fit. Previously got "
                                 f"{self.classes_}, `y` has {np.unique(y)}")
        self.n_outputs_ = len(self.classes_)
        return X, np.searchsorted(self.classes_, y).astype(np.int64)

    def _n_model_outputs(self):
        return len(self.classes_)

    def _outputs_meaning(self):
        return "one logit per class"

    def _loss_fn(self):
        return nn.CrossEntropyLoss()

    def _per_sample_loss(self, out, targets):
        return nn.functional.cross_entropy(out, Tensor._make(targets), reduction="none")

    def _stratify(self, targets):
        counts = np.bincount(targets)
        return targets if counts[counts > 0].min() >= 2 else None

    def _sample_weights(self, X, targets, sample_weight, incremental):
        cw = self.class_weight
        if cw is None:
            return super()._sample_weights(X, targets, sample_weight, incremental)
        if isinstance(cw, str) and cw == "balanced":
            if incremental:
                raise ValueError("class_weight 'balanced' is not supported for partial_fit: "
                                 "the class frequencies of the whole stream are unknown; "
                                 "pass a dict of weights")
            present = self.classes_[np.unique(targets)]
            per_class = np.ones(len(self.classes_))
            per_class[np.unique(targets)] = compute_class_weight(
                "balanced", classes=present, y=self.classes_[targets])
        elif isinstance(cw, dict):
            per_class = np.ones(len(self.classes_))
            for label, w in cw.items():
                where = np.flatnonzero(self.classes_ == label)
                if not len(where):
                    raise ValueError(f"class_weight has the label {label!r}, which is not "
                                     f"among the classes {self.classes_}")
                per_class[where[0]] = float(w)
        else:
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
        sw = super()._sample_weights(X, targets, sample_weight, incremental)
        sw = np.ones(len(targets)) if sw is None else sw
        return sw * per_class[targets]

    def _validation_score(self, logits, targets, weights):
        return accuracy_score(targets, logits.argmax(axis=1), sample_weight=weights)

    # -- prediction ---------------------------------------------------------------------------
    def predict(self, X):
        """The most probable class of each row of X."""
        logits = self._forward(X)   # first: it raises NotFittedError before fit
        return self.classes_[logits.argmax(axis=1)]

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits), columns in the order of classes_."""
        logits = self._forward(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of predict_proba."""
        logits = self._forward(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags
