"""The training engine shared by NNClassifier and NNRegressor: building the model and the
optimizer, the epoch loop (mini-batches, early stopping, the no-improvement stop), the
prediction forward, parameters of the form module__*, and pickling.

What it is not: a second fit loop for nnfast users (nnfast.train.fit is that); it mirrors
scikit-learn's MLP (sklearn/neural_network/_multilayer_perceptron.py) attribute for
attribute so that code written against MLPClassifier reads the same fitted attributes.
"""
import copy
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import nn, optim
from .. import random as _random
from ..autograd import no_grad
from ..compile import compile_step
from ..nn.module import Module
from ..tensor import Tensor

# sklearn's MLP activation names, then nnfast's own
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid,
                "identity": nn.Identity, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
                "silu": nn.SiLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU}

_SOLVERS = {c.__name__.lower(): c for c in
            (optim.Adam, optim.AdamW, optim.SGD, optim.RMSprop, optim.Adagrad,
             optim.Adadelta, optim.Adamax, optim.NAdam, optim.RAdam, optim.ASGD, optim.Rprop)}

# check_estimator checks that cannot pass, with the reason (for check_estimator's and
# parametrize_with_checks' expected_failed_checks argument)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data":
        "mini-batch training: a sample of weight 2 and the same sample twice fall in different "
        "batches, so the two fits differ (sklearn's MLP passes it only with solver='lbfgs', "
        "a full-batch solver nnfast's estimators do not offer)",
}


def _float32(X):
    # a fresh C-contiguous float32 copy: the kernels write nothing into it, but a read-only
    # memmap (joblib's) must not reach the Tensor
    return np.array(X, dtype=np.float32, order="C", copy=True)


class _SeededRandom:
    """Run a block with nnfast's global generator seeded, then give the caller's stream back,
    so a fit with random_state=k is repeatable and leaves nnfast.manual_seed's stream alone."""

    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        self.saved = _random.get_rng_state()
        _random.manual_seed(self.seed)

    def __exit__(self, *exc):
        _random.set_rng_state(self.saved)
        return False


class _NNBase(BaseEstimator):
    """Parameters and the fit loop common to NNClassifier and NNRegressor."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", solver="adam", alpha=1e-4,
                 batch_size="auto", learning_rate_init=1e-3, max_iter=200, tol=1e-4,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 random_state=None, warm_start=False, verbose=False, shuffle=True,
                 module=None, **module_params):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.shuffle = shuffle
        self.module = module
        unexpected = [k for k in module_params if not k.startswith("module__")]
        if unexpected:   # reported by fit: sklearn's __init__ never raises
            self._unexpected_params = unexpected
        for key, value in module_params.items():
            if key.startswith("module__"):
                setattr(self, key, value)

    # -- parameters: skorch's module__* pattern on top of BaseEstimator's ---------------------
    def _module_params(self):
        return {k: v for k, v in vars(self).items() if k.startswith("module__")}

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update(self._module_params())
        return params

    def set_params(self, **params):
        if "module_params" in params:
            # the name of __init__'s **module_params: taken as a dict of module__* values;
            # anything else is reported by fit (check_do_not_raise_errors_in_init_or_set_params)
            extra = params.pop("module_params")
            if isinstance(extra, dict):
                params.update(extra)
            else:
                self._unexpected_params = ["module_params"]
        for key in [k for k in params if k.startswith("module__")]:
            setattr(self, key, params.pop(key))
        return super().set_params(**params)

    # -- pickling: the optimizer travels as its state_dict ------------------------------------
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        state.pop("_step", None)        # workspaces and kernel handles: rebuilt on demand
        opt = state.pop("optimizer_", None)
        if opt is not None:
            # parameters are views into the optimizer's flat buffer; pickled apart they would
            # come back as two unrelated arrays, so the optimizer is rebuilt on the module
            state["_optimizer_state"] = opt.state_dict()
        return state

    def __setstate__(self, state):
        opt_state = state.pop("_optimizer_state", None)
        super().__setstate__(state)
        if opt_state is not None:
            self.optimizer_ = self._make_optimizer(self.module_, self._opt_batch_size)
            self.optimizer_.load_state_dict(opt_state)

    # -- checking the hyper-parameters (at fit, never in __init__, as sklearn does) -----------
    def _check_params(self):
        name = type(self).__name__
        if getattr(self, "_unexpected_params", None):
            raise TypeError(f"{name} got unexpected parameters {self._unexpected_params} "
                            "(only module__* parameters are passed on to the module)")
        if self.module is None:
            sizes = self.hidden_layer_sizes
            sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
            if any(not isinstance(s, (int, np.integer)) or s <= 0 for s in sizes):
                raise ValueError(f"hidden_layer_sizes must be positive integers, got "
                                 f"{self.hidden_layer_sizes!r}")
            if self.activation not in _ACTIVATIONS:
                raise ValueError(f"activation {self.activation!r} is not one of "
                                 f"{sorted(_ACTIVATIONS)}")
        elif not (isinstance(self.module, Module)
                  or (isinstance(self.module, type) and issubclass(self.module, Module))):
            raise TypeError(f"module must be an nnfast Module instance or class, got "
                            f"{type(self.module).__name__}")
        self._solver_class()
        for attr, lo in (("alpha", 0.0), ("tol", 0.0)):
            v = getattr(self, attr)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not v >= lo:
                raise ValueError(f"{attr} must be a non-negative number, got {v!r}")
        if not self.learning_rate_init > 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        for attr in ("max_iter", "n_iter_no_change"):
            v = getattr(self, attr)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{attr} must be a positive integer, got {v!r}")
        if self.batch_size != "auto" and (not isinstance(self.batch_size, (int, np.integer))
                                          or self.batch_size < 1):
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got "
                             f"{self.batch_size!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r} ({name})")

    def _solver_class(self):
        s = self.solver
        if isinstance(s, type) and issubclass(s, optim.Optimizer):
            return s
        if isinstance(s, str) and s.lower() in _SOLVERS:
            return _SOLVERS[s.lower()]
        if isinstance(s, str) and s.lower() == "lbfgs":
            raise ValueError("solver='lbfgs' is not offered: LBFGS needs a closure over the "
                             "whole data set; use 'adam', 'sgd', 'adamw', 'rmsprop', ...")
        raise ValueError(f"solver {s!r} is not an nnfast optimizer; one of {sorted(_SOLVERS)} "
                         "or an nnfast.optim.Optimizer subclass")

    # -- building -----------------------------------------------------------------------------
    def _build_module(self, n_in, n_out):
        if self.module is None:
            sizes = self.hidden_layer_sizes
            sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
            layers, width = [], n_in
            for h in sizes:
                layers += [nn.Linear(width, int(h)), _ACTIVATIONS[self.activation]()]
                width = int(h)
            layers.append(nn.Linear(width, n_out))
            return nn.Sequential(*layers)
        if isinstance(self.module, Module):
            return copy.deepcopy(self.module)   # the parameter itself stays untouched
        kwargs = {k[len("module__"):]: v for k, v in self._module_params().items()}
        return self.module(**kwargs)

    def _make_optimizer(self, module, batch_size):
        cls = self._solver_class()
        params = list(module.parameters())
        # sklearn's L2: alpha/2 * ||W||^2 / n_batch added to the loss, weights only (not the
        # biases), i.e. grad += alpha/n_batch * W: the optimizers' weight_decay on the weights
        weights = [p for p in params if p.ndim >= 2]
        others = [p for p in params if p.ndim < 2]
        kwargs = {"lr": self.learning_rate_init}
        if cls is optim.SGD:
            kwargs.update(momentum=0.9, nesterov=True)   # sklearn's MLP 'sgd' defaults
        if self.alpha > 0:
            if "weight_decay" not in cls.__init__.__code__.co_varnames:
                raise ValueError(f"solver {self.solver!r} has no weight_decay, so alpha (L2) "
                                 "cannot be applied; set alpha=0")
            groups = [{"params": weights, "weight_decay": float(self.alpha) / batch_size}]
            if others:
                groups.append({"params": others, "weight_decay": 0.0})
        else:
            groups = [{"params": params}]
            if "weight_decay" in cls.__init__.__code__.co_varnames:
                groups[0]["weight_decay"] = 0.0
        return cls(groups, **kwargs)

    def _l2_penalty(self):
        sq = sum(float(np.dot(a, a)) for a in
                 (p.detach().numpy().ravel() for p in self.module_.parameters() if p.ndim >= 2))
        return 0.5 * float(self.alpha) * sq / self._opt_batch_size

    # -- MLP's weight attributes, read from the module's Linear layers ------------------------
    def _linears(self):
        check_is_fitted(self, "module_")   # NotFittedError is an AttributeError too
        return [m for m in self.module_.modules() if isinstance(m, nn.Linear)]

    @property
    def coefs_(self):
        """MLP's coefs_: each Linear layer's weight, copied, as (n_in, n_out) (sklearn's
        layout; nnfast's, PyTorch's, is (n_out, n_in))."""
        return [m.weight.detach().numpy().T.copy() for m in self._linears()]

    @property
    def intercepts_(self):
        """MLP's intercepts_: each Linear layer's bias, copied (zeros where it has none)."""
        return [m.bias.detach().numpy().copy() if m.bias is not None
                else np.zeros(m.out_features, np.float32) for m in self._linears()]

    @property
    def n_layers_(self):
        """MLP's n_layers_: the input layer, the hidden layers and the output layer."""
        return len(self._linears()) + 1

    # -- the forward used by predict ----------------------------------------------------------
    def _forward(self, X):
        """Validated X -> the model's raw outputs, float32 (n_samples, n_out), eval mode."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self._raw_forward(_float32(X))

    def _raw_forward(self, X32):
        was_training = self.module_.training
        self.module_.eval()
        try:
            with no_grad():
                out = self.module_(Tensor._make(X32)).numpy()
        finally:
            self.module_.train(was_training)
        return np.asarray(out).reshape(len(X32), -1)

    # -- training -----------------------------------------------------------------------------
    def _training_step(self):
        if getattr(self, "_step", None) is None:
            self._step = compile_step(self.module_, self._loss_fn(), self.optimizer_)
        return self._step

    def _weighted_step(self, xb, tb, wb):
        """One eager step of sum_i w_i * loss_i / sum_i w_i (sample weights: the compiled step
        takes none). The weights of a batch are normalised here."""
        total = float(wb.sum())
        self.optimizer_.zero_grad()
        out = self.module_(Tensor._make(xb))
        per = self._per_sample_loss(out, tb)
        if total <= 0:
            return 0.0
        w = (wb / total).astype(np.float32)
        if per.ndim == 2:   # MSE per element: mean over the outputs too
            w = np.ascontiguousarray(np.repeat(w[:, None] / per.shape[1], per.shape[1], axis=1))
        loss = (per * Tensor._make(w)).sum()
        loss.backward()
        self.optimizer_.step()
        return loss.item()

    def _fit(self, X, y, sample_weight=None, incremental=False, classes=None):
        self._check_params()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "module_") or (not self.warm_start and not incremental)
        X, targets = self._validate_xy(X, y, reset=first_pass, incremental=incremental,
                                       classes=classes)
        weights = self._sample_weights(X, targets, sample_weight, incremental)
        X = _float32(X)
        if first_pass or not hasattr(self, "_rng"):
            self._rng = check_random_state(self.random_state)
        # later partial_fit / warm-start calls continue the stream: new shuffles and new
        # dropout masks each call, and still the same sequence for the same random_state
        rng = self._rng
        seed = int(rng.randint(np.iinfo(np.int32).max))
        n_out = self._n_model_outputs()
        with _SeededRandom(seed):
            if first_pass:
                self._start(X, n_out)
            self._start_tracking(incremental)
            self._train(X, targets, weights, rng, incremental)
        return self

    def _start(self, X, n_out):
        n = len(X)
        batch = min(200, n) if self.batch_size == "auto" else self.batch_size
        module = self._build_module(X.shape[1], n_out)
        probe = None
        try:
            module.eval()
            with no_grad():
                probe = module(Tensor._make(X[:1])).numpy()
        except Exception as e:
            raise ValueError(f"the module failed on an input of shape {X[:1].shape} "
                             f"({n_out} outputs expected): {e}") from e
        if probe.shape != (1, n_out):
            raise ValueError(f"the module's output for an input of shape {X[:1].shape} has "
                             f"shape {probe.shape}; {type(self).__name__} expects (1, {n_out})"
                             f" ({self._outputs_meaning()})")
        module.train()
        self.module_ = module
        self._opt_batch_size = max(1, min(int(batch), n))   # the L2 scale: alpha / batch
        self.optimizer_ = self._make_optimizer(module, self._opt_batch_size)
        self._step = None
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.t_ = 0
        self.validation_scores_ = self.best_validation_score_ = self.best_loss_ = None

    def _start_tracking(self, incremental):
        """The stopping criterion's record, for this fit's early_stopping (which a warm start
        may have switched since the last fit)."""
        if not incremental:
            self._no_improvement_count = 0
        if self.early_stopping and self.validation_scores_ is None:
            self.validation_scores_, self.best_validation_score_ = [], -np.inf
            self.best_loss_ = None
        elif not self.early_stopping and self.best_loss_ is None:
            self.best_loss_ = min(self.loss_curve_, default=np.inf)
            self.validation_scores_ = self.best_validation_score_ = None

    def _train(self, X, targets, weights, rng, incremental):
        if self.early_stopping:
            split = [X, targets] + ([weights] if weights is not None else [])
            parts = train_test_split(*split, random_state=rng, test_size=self.validation_fraction,
                                     stratify=self._stratify(targets))
            X_tr, X_val, t_tr, t_val = parts[:4]
            w_tr, w_val = (parts[4], parts[5]) if weights is not None else (None, None)
            if len(X_val) < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
        else:
            X_tr, t_tr, w_tr = X, targets, weights
        n = len(X_tr)
        if self.batch_size != "auto" and self.batch_size > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        batch = int(np.clip(self._opt_batch_size, 1, n))
        step = self._training_step()
        self.module_.train()
        self.n_iter_ = 0
        for _ in range(self.max_iter):
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            total = 0.0
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                xb = X_tr[idx] if self.shuffle else X_tr[start:start + batch]
                tb = t_tr[idx]
                if w_tr is None:
                    total += step(xb, tb) * len(idx)
                else:
                    total += self._weighted_step(xb, tb, w_tr[idx]) * len(idx)
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = total / n + (self._l2_penalty() if self.alpha > 0 else 0.0)
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
            self._update_no_improvement(X_val, t_val, w_val) if self.early_stopping \
                else self._update_no_improvement()
            if not np.isfinite(self.loss_):
                raise ValueError(f"the training loss became {self.loss_} at iteration "
                                 f"{self.n_iter_}; lower learning_rate_init or scale X")
            if self._no_improvement_count > self.n_iter_no_change:
                if self.verbose:
                    what = "Validation score" if self.early_stopping else "Training loss"
                    print(f"{what} did not improve more than tol={self.tol} for "
                          f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                break
            if incremental:
                break
            if self.n_iter_ == self.max_iter:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                              "reached and the optimization hasn't converged yet.",
                              ConvergenceWarning)
        if self.early_stopping and hasattr(self, "_best_state"):
            self.module_.load_state_dict(self._best_state)   # in place: the flat buffer stays
        self.module_.eval()

    def _update_no_improvement(self, X_val=None, t_val=None, w_val=None):
        if self.early_stopping:
            score = self._validation_score(self._raw_forward(X_val), t_val, w_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = {k: v.detach().numpy().copy()
                                    for k, v in self.module_.state_dict().items()}
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _sample_weights(self, X, targets, sample_weight, incremental):
        """Per-sample weights, or None when every sample weighs the same (then the compiled
        step trains with the plain mean, exactly the unweighted fit)."""
        if sample_weight is None:
            return None
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if len(sw) and np.all(sw == sw[0]) and sw[0] > 0:
            return None
        return sw
