"""fit()'s data forms: every accepted form trains exactly as the NumPy arrays do (rows of x
paired with rows of y), ambiguous or empty data are refused with a message naming the problem.
"""
import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast import nn, optim
from nnfast.data import DataLoader, Dataset, IterableDataset, Subset, TensorDataset
from nnfast.errors import ShapeError
from nnfast.train import evaluate, fit, predict

N, D, C = 40, 4, 3


def data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def train(train_data, *, loss=None, out=C, dtype=None, shuffle=True, epochs=2, **kw):
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, out))
    if dtype is not None:
        model = model.to(dtype)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    h = fit(model, loss or nn.CrossEntropyLoss(), opt, train_data, epochs=epochs,
            batch_size=16, shuffle=shuffle, seed=3, verbose=False, **kw)
    return h, [p.detach().numpy().copy() for p in model.parameters()]


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for p, q in zip(a, b):
        assert p.dtype == q.dtype and np.array_equal(p, q)


class RowsDataset(Dataset):
    """A map-style dataset of its own (no batch fast path): one (row, label) per index."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


class RowsStream(IterableDataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __iter__(self):
        return iter(zip(self.x, self.y))


# ----------------------------------------------------------------------------- accepted forms
FORMS = {
    "tuple of lists": lambda x, y: (x.tolist(), y.tolist()),
    "list of lists": lambda x, y: [x.tolist(), y.tolist()],
    "list x, array y": lambda x, y: (x.tolist(), y),
    "array x, list y": lambda x, y: (x, y.tolist()),
    "tuple rows": lambda x, y: (tuple(map(tuple, x.tolist())), tuple(y.tolist())),
    "nnfast tensors": lambda x, y: (nf.tensor(x), nf.tensor(y)),
    "torch tensors": lambda x, y: (torch.from_numpy(x), torch.from_numpy(y)),
    "float64 x": lambda x, y: (x.astype(np.float64), y),
    "int32 labels": lambda x, y: (x, y.astype(np.int32)),
    "uint8 labels": lambda x, y: (x, y.astype(np.uint8)),
    "Fortran-order x": lambda x, y: (np.asfortranarray(x), y),
    "TensorDataset": lambda x, y: TensorDataset(x, y),
    "map-style Dataset": lambda x, y: RowsDataset(x, y),
    "Subset": lambda x, y: Subset(TensorDataset(x, y), list(range(len(x)))),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_trains_as_the_arrays(form):
    """The issue's case first: (X.tolist(), y.tolist()) used to be iterated as two 'batches'
    (x = row 0, y = row 1) and trained on the wrong pairs."""
    x, y = data()
    ref_h, ref = train((x, y))
    h, got = train(FORMS[form](x, y))
    assert_same_weights(ref, got)
    assert h["loss"] == ref_h["loss"]


def test_regression_lists_pair_rows_with_rows():
    x, _ = data()
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)) + 0.3
    _, ref = train((x, y), loss=nn.MSELoss(), out=1)
    _, got = train((x.tolist(), y.tolist()), loss=nn.MSELoss(), out=1)
    assert_same_weights(ref, got)


@pytest.mark.parametrize("form", ["DataLoader", "IterableDataset", "list of batches"])
def test_batch_forms_in_order_train_as_unshuffled_arrays(form):
    x, y = data()
    ref_h, ref = train((x, y), shuffle=False)
    src = {"DataLoader": lambda: DataLoader(TensorDataset(x, y), batch_size=16),
           "IterableDataset": lambda: RowsStream(x, y),
           "list of batches": lambda: [(x[s:s + 16].tolist(), y[s:s + 16].tolist())
                                       for s in range(0, N, 16)]}[form]()
    h, got = train(src, shuffle=False)
    assert_same_weights(ref, got)
    assert h["loss"] == ref_h["loss"]


def test_val_split_and_val_data_take_every_form():
    x, y = data(60)
    ref_h, ref = train((x, y), val_split=0.25)
    h, got = train((x.tolist(), y.tolist()), val_split=0.25)
    assert_same_weights(ref, got)
    assert h["val_loss"] == ref_h["val_loss"]
    h2, got2 = train(TensorDataset(x, y), val_split=0.25)
    assert_same_weights(ref, got2)
    xv, yv = data(20, seed=1)
    a, _ = train((x, y), val_data=(xv, yv))
    for val in ((xv.tolist(), yv.tolist()), TensorDataset(xv, yv), RowsDataset(xv, yv),
                DataLoader(TensorDataset(xv, yv), batch_size=7)):
        b, _ = train((x, y), val_data=val)
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-6)


def test_float64_model_keeps_float64_data():
    x, y = data()
    _, ref = train((x.astype(np.float64), y), dtype=np.float64)
    assert ref[0].dtype == np.float64
    _, got = train((x.astype(np.float64).tolist(), y.tolist()), dtype=np.float64)
    assert_same_weights(ref, got)


def test_evaluate_and_predict_take_the_same_forms():
    x, y = data()
    nf.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.ReLU(), nn.Linear(8, C))
    ref = evaluate(model, nn.CrossEntropyLoss(), (x, y), metrics=["accuracy"])
    for form in ((x.tolist(), y.tolist()), TensorDataset(x, y), RowsDataset(x, y)):
        got = evaluate(model, nn.CrossEntropyLoss(), form, metrics=["accuracy"])
        assert got["loss"] == pytest.approx(ref["loss"], rel=1e-6)
        assert got["accuracy"] == ref["accuracy"]
    assert np.array_equal(predict(model, x.tolist()), predict(model, x))


def test_dataset_shuffles_come_from_fit_and_resume_exactly(tmp_path):
    """A Dataset is shuffled by fit's own generator (which its checkpoints hold), so a
    resumed run equals the uninterrupted one."""
    x, y = data()
    ds = RowsDataset(x, y)
    _, whole = train(ds, epochs=4)
    path = str(tmp_path / "run.nnf")
    train(ds, epochs=2, checkpoint_path=path)
    _, resumed = train(ds, epochs=4, resume_from=path)
    assert_same_weights(whole, resumed)


# ----------------------------------------------------------------------------- refused forms
def _mse_by_hand(out, target):          # a custom loss: broadcasts as its operands do
    return ((out - target) ** 2).mean()


REFUSED = [
    ("rows differ", lambda x, y: (x, y[:-1]), ValueError, "40 inputs but 39 targets"),
    ("rows differ, lists", lambda x, y: (x.tolist(), y.tolist()[:-2]), ValueError,
     "40 inputs but 38 targets"),
    ("1-D float x", lambda x, y: (x[:, 0], y), ShapeError,
     r"1-D \(shape \(40,\)\).*reshape\(-1, 1\)"),
    ("ragged rows", lambda x, y: (x.tolist()[:2] + [[1.0, 2.0, 3.0]] + x.tolist()[3:], y),
     ValueError, "ragged nested list.*row 2 has 3 values, row 0 has 4"),
    ("ragged deeper", lambda x, y: ([[[1.0, 2.0], [3.0]]] * N, y), ValueError,
     "ragged.*in row 0: row 1 has 1 values, row 0 has 2"),
    ("ragged depth", lambda x, y: ([[1.0, 2.0], 3.0] * 20, y), ValueError,
     "ragged.*row 1 has a single value, row 0 has 2 values"),
    ("strings", lambda x, y: ([["a", "b", "c", "d"]] * N, y), TypeError,
     "must hold numbers, got dtype <U1"),
    ("0-d y", lambda x, y: (x, np.int64(3)), ValueError, "single value"),
    ("one array", lambda x, y: x, TypeError, r"one array of shape \(40, 4\) with no targets"),
    ("a dict", lambda x, y: {"x": x, "y": y}, TypeError, "got dict"),
    ("batch of three", lambda x, y: [(x[:20], y[:20], y[:20]), (x[20:], y[20:])], TypeError,
     "batch 0 of train_data is a tuple of 3 items; expected an \\(x, y\\) pair"),
    ("batch rows differ", lambda x, y: [(x[:20], y[:20]), (x[20:], y[21:])], ValueError,
     r"batch 1 of train_data has inputs of shape \(20, 4\) but targets of shape \(19,\)"),
    ("list of row arrays", lambda x, y: (list(x), list(y)), TypeError,
     "expected an \\(x, y\\) pair"),
]


@pytest.mark.parametrize("name, make, exc, match", REFUSED, ids=[r[0] for r in REFUSED])
def test_ambiguous_data_is_refused_naming_the_problem(name, make, exc, match):
    x, y = data()
    with pytest.raises(exc, match=match):
        train(make(x, y))


def test_x_and_y_as_two_arguments_is_refused():
    """fit's fifth argument is val_data: fit(model, loss, opt, x, y) must not train on x's
    rows as batches."""
    x, y = data()
    nf.manual_seed(0)
    model = nn.Linear(D, C)
    with pytest.raises(TypeError, match="train_data is one array"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), x, y,
            verbose=False)


def test_targets_that_would_broadcast_are_refused():
    """y of shape (n,) for outputs (n, 1): a hand-written loss would compare every output
    with every target (an (n, n) difference) and train on nonsense."""
    x, _ = data()
    y = x[:, :1] * 2.0
    with pytest.raises(ShapeError, match=r"targets of shape \(16,\).*outputs of shape "
                                         r"\(16, 1\).*broadcast to \(16, 16\).*reshape"):
        train((x, y[:, 0]), loss=_mse_by_hand, out=1)
    h, _ = train((x, y), loss=_mse_by_hand, out=1)   # the right shape trains
    assert np.isfinite(h["loss"]).all()
    xv = x[:8]
    with pytest.raises(ShapeError, match="in val_data"):
        train((x, y), val_data=(xv, y[:8, 0]), loss=_mse_by_hand, out=1)


def test_class_index_targets_of_the_wrong_shape_are_refused():
    x, y = data()
    with pytest.raises(ShapeError, match="target shape"):
        train((x, y[:, None]))


# ----------------------------------------------------------------------------- empty data
EMPTY = {
    "arrays": lambda x, y: (x[:0], y[:0]),
    "lists": lambda x, y: ([], []),
    "TensorDataset": lambda x, y: TensorDataset(x[:0], y[:0]),
    "Dataset": lambda x, y: RowsDataset(x[:0], y[:0]),
    "DataLoader": lambda x, y: DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4),
    "no batches": lambda x, y: [],
}


@pytest.mark.parametrize("form", list(EMPTY))
def test_no_rows_raise_instead_of_a_nan_loss(form):
    x, y = data()
    with pytest.raises(ValueError, match="no rows|no samples|no batches"):
        train(EMPTY[form](x, y))


def test_empty_validation_data_and_evaluate_raise():
    x, y = data()
    with pytest.raises(ValueError, match="val_data has no rows"):
        train((x, y), val_data=(x[:0], y[:0]))
    model = nn.Linear(D, C)
    with pytest.raises(ValueError, match="evaluate: data has no rows"):
        evaluate(model, nn.CrossEntropyLoss(), (x[:0], y[:0]))


def test_a_generator_used_up_after_one_epoch_is_named():
    x, y = data()
    batches = ((x[s:s + 16], y[s:s + 16]) for s in range(0, N, 16))
    with pytest.raises(ValueError, match="gave no batches \\(pass 2 over it; a generator"):
        train(batches, epochs=2)


def test_two_batches_of_nested_lists_read_as_batches_or_refused_when_ambiguous():
    x, y = data(32)
    two = [(x[:16].tolist(), y[:16].tolist()), (x[16:].tolist(), y[16:].tolist())]
    _, ref = train((x, y), shuffle=False)
    _, got = train(two, shuffle=False)          # rows of x beside labels: only batches fit
    assert_same_weights(ref, got)
    # an autoencoder's batches (y = x) read as 2 rows of (16, 4) arrays too: refused
    auto = [(x[:16].tolist(), x[:16].tolist()), (x[16:].tolist(), x[16:].tolist())]
    with pytest.raises(ValueError, match="ambiguous.*2 \\(x, y\\) batches"):
        train(auto, loss=nn.MSELoss(), out=D)


def test_evaluate_does_not_draw_on_the_global_generator():
    # a loop that evaluates between epochs keeps the dropout masks of one that does not
    import nnfast as nf
    from nnfast import nn
    from nnfast.train import evaluate
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = nn.Sequential(nn.Linear(4, 2))
    nf.manual_seed(3)
    before = nf.get_rng_state()
    evaluate(model, nn.CrossEntropyLoss(), (x, y))
    np.testing.assert_array_equal(np.asarray(nf.get_rng_state()), np.asarray(before))
