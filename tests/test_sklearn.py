"""nnfast.sklearn: NNClassifier and NNRegressor against scikit-learn's estimator contract
(check_estimator, every check), in Pipeline / GridSearchCV(n_jobs=2) / cross_val_score, and
their own features: partial_fit, pickling, module=, weights, warm_start, early_stopping."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnfast as nf  # noqa: E402
from nnfast.sklearn import EXPECTED_FAILED_CHECKS, NNClassifier, NNRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([NNClassifier(hidden_layer_sizes=(32,), max_iter=100),
                          NNRegressor(hidden_layer_sizes=(32,), max_iter=100)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_check_estimator(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def test_optional_extra_import_nnfast_alone_and_without_sklearn():
    # one interpreter: importing nnfast leaves sklearn unimported; nnfast.sklearn without
    # scikit-learn raises an ImportError naming the extra
    code = ("import sys, nnfast\n"
            "print('sklearn' in sys.modules)\n"
            "sys.modules['sklearn'] = None\n"
            "try:\n    import nnfast.sklearn\n"
            "except ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    first, message = out.stdout.split("\n", 1)
    assert first == "False"
    assert 'pip install "nnfast[sklearn]"' in message


def test_pipeline_grid_search_n_jobs_2(cancer):
    X_tr, X_te, y_tr, y_te = cancer
    pipe = make_pipeline(StandardScaler(), NNClassifier(max_iter=30, random_state=0))
    grid = GridSearchCV(pipe, {"nnclassifier__hidden_layer_sizes": [(8,), (32,)]},
                        cv=3, n_jobs=2)
    grid.fit(X_tr, y_tr)
    assert set(grid.best_params_) == {"nnclassifier__hidden_layer_sizes"}
    assert grid.cv_results_["mean_test_score"].shape == (2,)
    assert grid.best_score_ > 0.9
    assert grid.score(X_te, y_te) > 0.9


def test_cross_val_score_digits(digits):
    X_tr, _, y_tr, _ = digits
    pipe = make_pipeline(StandardScaler(), NNClassifier((64,), max_iter=40, random_state=0))
    scores = cross_val_score(pipe, X_tr, y_tr, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_digits_multiclass_accuracy_and_compiled_step(digits):
    X_tr, X_te, y_tr, y_te = digits
    sc = StandardScaler().fit(X_tr)
    clf = NNClassifier((64,), max_iter=20, random_state=0).fit(sc.transform(X_tr), y_tr)
    assert clf._step.compiled, clf._step.reason
    assert clf.score(sc.transform(X_te), y_te) > 0.9
    proba = clf.predict_proba(sc.transform(X_te))
    assert proba.shape == (len(X_te), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)],
                                  clf.predict(sc.transform(X_te)))
    assert len(clf.loss_curve_) == clf.n_iter_ == 20
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.validation_scores_ is None
    # MLPClassifier's weight attributes, in its (n_in, n_out) layout
    assert clf.n_layers_ == 3 and [c.shape for c in clf.coefs_] == [(64, 64), (64, 10)]
    assert [b.shape for b in clf.intercepts_] == [(64,), (10,)]
    hidden = np.maximum(sc.transform(X_te) @ clf.coefs_[0] + clf.intercepts_[0], 0)
    np.testing.assert_allclose(hidden @ clf.coefs_[1] + clf.intercepts_[1],
                               clf._forward(sc.transform(X_te)), rtol=1e-4, atol=1e-4)
    with pytest.raises(NotFittedError):
        NNClassifier().coefs_


def test_string_labels_and_regression_multioutput(cancer):
    X_tr, X_te, y_tr, y_te = cancer
    sc = StandardScaler().fit(X_tr)
    names = np.array(["benign", "malignant"], dtype=object)
    clf = NNClassifier((16,), max_iter=20, random_state=0).fit(sc.transform(X_tr), names[y_tr])
    assert list(clf.classes_) == ["benign", "malignant"]
    assert clf.score(sc.transform(X_te), names[y_te]) > 0.9
    # a 2-D y: two outputs, predicted as a 2-D array
    Y = np.c_[sc.transform(X_tr)[:, 0], sc.transform(X_tr)[:, 1] * 2.0]
    reg = NNRegressor((32,), max_iter=100, random_state=0).fit(sc.transform(X_tr), Y)
    assert reg._step.compiled, reg._step.reason
    assert reg.n_outputs_ == 2 and reg.predict(sc.transform(X_te)).shape == (len(X_te), 2)
    assert reg.score(sc.transform(X_tr), Y) > 0.9


def test_partial_fit_online_learning_improves(digits):
    X_tr, X_te, y_tr, y_te = digits
    sc = StandardScaler().fit(X_tr)
    X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
    clf = NNClassifier((64,), learning_rate_init=1e-2, batch_size=25, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X_tr[:50], y_tr[:50])
    scores = []
    for start in range(0, 800, 100):   # a stream of batches of 100 samples
        clf.partial_fit(X_tr[start:start + 100], y_tr[start:start + 100],
                        classes=np.arange(10))
        scores.append(clf.score(X_te, y_te))
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 8
    assert scores[-1] > scores[0] + 0.2 and scores[-1] > 0.8
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X_tr[:10], np.full(10, 11))
    with pytest.raises(ValueError, match="early_stopping"):
        NNClassifier(early_stopping=True).partial_fit(X_tr[:10], y_tr[:10], classes=range(10))


def test_partial_fit_regressor_improves():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(5, 2))
    reg = NNRegressor((32,), learning_rate_init=1e-2, random_state=0)
    X_test = rng.normal(size=(200, 5))
    scores = []
    for _ in range(40):
        X = rng.normal(size=(50, 5))
        reg.partial_fit(X, X @ W)
        scores.append(reg.score(X_test, X_test @ W))
    assert scores[-1] > 0.9 and scores[-1] > scores[0]


def test_pickle_round_trip_identical_and_trainable(cancer):
    X_tr, X_te, y_tr, _ = cancer
    sc = StandardScaler().fit(X_tr)
    X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
    clf = NNClassifier((16,), max_iter=5, random_state=0).fit(X_tr, y_tr)
    copy = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(copy.predict_proba(X_te), clf.predict_proba(X_te))
    # the optimizer state travelled: one more online step gives the same weights both ways
    clf.partial_fit(X_tr, y_tr)
    copy.partial_fit(X_tr, y_tr)
    assert copy._step.compiled
    np.testing.assert_array_equal(copy.predict_proba(X_te), clf.predict_proba(X_te))
    reg = NNRegressor((8,), max_iter=5, random_state=0).fit(X_tr, X_tr[:, 0])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X_te),
                                  reg.predict(X_te))
    custom = NNClassifier(module=SmallNet, module__n_hidden=4, max_iter=3,
                          random_state=0).fit(X_tr, y_tr)
    back = pickle.loads(pickle.dumps(custom))
    assert back.module__n_hidden == 4
    np.testing.assert_array_equal(back.predict_proba(X_te), custom.predict_proba(X_te))


class SmallNet(nf.nn.Module):
    def __init__(self, n_in=30, n_hidden=8, n_out=2):
        super().__init__()
        self.hidden = nf.nn.Linear(n_in, n_hidden)
        self.out = nf.nn.Linear(n_hidden, n_out)

    def forward(self, x):
        return self.out(nf.tanh(self.hidden(x)))


def test_module_instance_and_class_with_module_params(cancer):
    X_tr, X_te, y_tr, y_te = cancer
    sc = StandardScaler().fit(X_tr)
    X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
    net = SmallNet()
    before = net.hidden.weight.detach().numpy().copy()
    clf = NNClassifier(module=net, max_iter=30, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.9
    assert clf.module_ is not net      # the parameter is left as given
    np.testing.assert_array_equal(net.hidden.weight.detach().numpy(), before)

    clf = NNClassifier(module=SmallNet, module__n_hidden=4, max_iter=30, random_state=0)
    assert clf.get_params()["module__n_hidden"] == 4
    clf.set_params(module__n_hidden=6)
    twin = clone(clf)
    assert twin.module__n_hidden == 6
    twin.fit(X_tr, y_tr)
    assert twin.module_.hidden.weight.shape == (6, 30)
    assert twin.score(X_te, y_te) > 0.9
    assert not twin._step.compiled      # a custom forward: the eager step, same results

    with pytest.raises(ValueError, match="expects"):
        NNClassifier(module=SmallNet, module__n_out=3).fit(X_tr, y_tr)
    with pytest.raises(TypeError, match="Module"):
        NNClassifier(module="mlp").fit(X_tr, y_tr)
    with pytest.raises(TypeError, match="unexpected"):
        NNClassifier(modul__n_out=3).fit(X_tr, y_tr)


def _imbalanced():
    X, y = make_classification(n_samples=400, n_features=6, weights=[0.9, 0.1],
                               class_sep=0.5, random_state=0)
    return X, y


def test_class_weight_and_sample_weight_shift_predictions():
    X, y = _imbalanced()
    kw = dict(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    plain = NNClassifier(**kw).fit(X, y).predict(X).mean()
    balanced = NNClassifier(class_weight="balanced", **kw).fit(X, y).predict(X).mean()
    heavy = NNClassifier(class_weight={1: 20.0}, **kw).fit(X, y).predict(X).mean()
    assert plain < balanced < heavy
    sw = np.where(y == 1, 9.0, 1.0)
    weighted = NNClassifier(**kw).fit(X, y, sample_weight=sw).predict(X).mean()
    assert weighted > plain + 0.1
    # weights all equal: exactly the unweighted fit (the same compiled step)
    a = NNClassifier(**kw).fit(X, y).predict_proba(X)
    b = NNClassifier(**kw).fit(X, y, sample_weight=np.full(len(y), 3.0)).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="balanced"):
        NNClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1])
    # regression: weighting the samples of one half of X pulls the fit towards them
    rng = np.random.default_rng(1)
    Xr = rng.normal(size=(300, 1))
    yr = np.where(Xr[:, 0] > 0, 1.0, 0.0) + 0.5 * (np.arange(300) % 2)
    w = np.where(np.arange(300) % 2 == 1, 50.0, 1.0)
    reg_w = NNRegressor((8,), max_iter=100, random_state=0).fit(Xr, yr, sample_weight=w)
    reg_p = NNRegressor((8,), max_iter=100, random_state=0).fit(Xr, yr)
    assert reg_w.predict(Xr).mean() > reg_p.predict(Xr).mean() + 0.1


def test_warm_start_continues(cancer):
    X_tr, _, y_tr, _ = cancer
    X_tr = StandardScaler().fit_transform(X_tr)
    clf = NNClassifier((16,), max_iter=5, warm_start=True, random_state=0).fit(X_tr, y_tr)
    module, first = clf.module_, list(clf.loss_curve_)
    clf.fit(X_tr, y_tr)
    assert clf.module_ is module and len(clf.loss_curve_) == 10
    assert clf.loss_curve_[:5] == first and clf.loss_curve_[-1] < first[-1]
    cold = NNClassifier((16,), max_iter=5, random_state=0).fit(X_tr, y_tr)
    cold.fit(X_tr, y_tr)
    assert len(cold.loss_curve_) == 5 and cold.loss_curve_ == first
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X_tr, np.where(y_tr == 1, 2, y_tr) + (np.arange(len(y_tr)) == 0))


def test_early_stopping(digits):
    X_tr, _, y_tr, _ = digits
    X_tr = StandardScaler().fit_transform(X_tr)
    clf = NNClassifier((32,), early_stopping=True, n_iter_no_change=2, max_iter=200,
                       random_state=0).fit(X_tr, y_tr)
    assert clf.n_iter_ < 200 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_loss_ is None
    assert clf.best_validation_score_ == max(clf.validation_scores_) > 0.8
    # the best epoch's weights are restored, in place (the compiled step still owns them)
    state = clf.module_.state_dict()
    assert all(np.array_equal(state[k].numpy(), clf._best_state[k]) for k in state)
    # a warm start may switch early stopping off: the loss record takes over
    clf.set_params(warm_start=True, early_stopping=False, max_iter=2).fit(X_tr, y_tr)
    assert clf._step.compiled and clf.best_loss_ == min(clf.loss_curve_)
    reg = NNRegressor((16,), early_stopping=True, max_iter=300, n_iter_no_change=3,
                      random_state=0).fit(X_tr, X_tr[:, 10])
    assert reg.n_iter_ < 300 and reg.best_validation_score_ == max(reg.validation_scores_)
    with pytest.raises(ValueError, match="validation set is too small"):
        NNClassifier(early_stopping=True).fit(X_tr[:10], y_tr[:10])


def test_random_state_reproducible_and_global_stream_untouched(cancer):
    X_tr, X_te, y_tr, _ = cancer
    sc = StandardScaler().fit(X_tr)
    X_tr, X_te = sc.transform(X_tr), sc.transform(X_te)
    nf.manual_seed(123)
    expected = nf.randn(3).numpy()
    nf.manual_seed(123)
    a = NNClassifier((16,), max_iter=5, random_state=7).fit(X_tr, y_tr)
    np.testing.assert_array_equal(nf.randn(3).numpy(), expected)
    b = NNClassifier((16,), max_iter=5, random_state=7).fit(X_tr, y_tr)
    c = NNClassifier((16,), max_iter=5, random_state=8).fit(X_tr, y_tr)
    np.testing.assert_array_equal(a.predict_proba(X_te), b.predict_proba(X_te))
    assert a.loss_curve_ == b.loss_curve_ != c.loss_curve_


@pytest.mark.parametrize("solver", ["adam", "sgd", "adamw", "rmsprop", "adagrad", "nadam"])
def test_solvers_and_activations(cancer, solver):
    X_tr, X_te, y_tr, y_te = cancer
    sc = StandardScaler().fit(X_tr)
    clf = NNClassifier((16,), activation="tanh", solver=solver, max_iter=20,
                       learning_rate_init=1e-2, random_state=0)
    clf.fit(sc.transform(X_tr), y_tr)
    assert type(clf.optimizer_).__name__.lower() == solver
    assert clf._step.compiled, clf._step.reason
    assert clf.score(sc.transform(X_te), y_te) > 0.9


def test_l2_alpha_shrinks_weights(cancer):
    X_tr, _, y_tr, _ = cancer
    X_tr = StandardScaler().fit_transform(X_tr)
    norms = [np.linalg.norm(NNClassifier((16,), alpha=a, max_iter=30, random_state=0)
                            .fit(X_tr, y_tr).module_[0].weight.detach().numpy())
             for a in (0.0, 10.0)]
    assert norms[1] < 0.8 * norms[0]


def test_bad_parameters_and_inputs(cancer):
    X_tr, _, y_tr, _ = cancer
    for params, match in [({"solver": "lbfgs"}, "lbfgs"), ({"solver": "newton"}, "optimizer"),
                          ({"activation": "softplus2"}, "activation"),
                          ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
                          ({"max_iter": 0}, "max_iter"), ({"alpha": -1.0}, "alpha"),
                          ({"batch_size": 0}, "batch_size"),
                          ({"class_weight": "heavy"}, "class_weight"),
                          ({"class_weight": {7: 2.0}}, "label 7"),
                          ({"solver": "rprop"}, "weight_decay")]:
        with pytest.raises(ValueError, match=match):
            NNClassifier(**{"max_iter": 1, **params}).fit(X_tr, y_tr)
    with pytest.raises(NotFittedError):
        NNRegressor().predict(X_tr)
    with pytest.raises(ValueError, match="Unknown label type"):
        NNClassifier(max_iter=1).fit(X_tr, X_tr[:, 0])
    fitted = NNClassifier((4,), max_iter=1).fit(X_tr, y_tr)
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X_tr[:, :5])


def test_feature_names_in_from_dataframe_columns(cancer):
    pd = pytest.importorskip("pandas")
    X_tr, _, y_tr, _ = cancer
    cols = [f"f{i}" for i in range(X_tr.shape[1])]

    def _Frame(data, columns):
        return pd.DataFrame(data, columns=columns)

    clf = NNClassifier((4,), max_iter=1).fit(_Frame(X_tr, cols), y_tr)
    assert list(clf.feature_names_in_) == cols and clf.n_features_in_ == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf.predict(_Frame(X_tr, cols))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(_Frame(X_tr, cols[::-1]))


def test_convergence_warning_and_verbose(cancer, capsys):
    X_tr, _, y_tr, _ = cancer
    X_tr = StandardScaler().fit_transform(X_tr)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        NNClassifier((4,), max_iter=2, verbose=True).fit(X_tr, y_tr)
    assert "Iteration 2, loss = " in capsys.readouterr().out
