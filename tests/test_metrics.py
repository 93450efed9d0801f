"""nnfast.train.metrics against hand-computed values and the textbook formulas
(scikit-learn's definitions, zero_division=0)."""
import math

import numpy as np
import pytest
import torch

import nnfast as nf
from nnfast.train import metrics as M


# ----------------------------------------------------------------------------- accuracy
def test_accuracy_from_labels_logits_and_binary_scores():
    y = np.array([0, 1, 2, 2, 1])
    assert M.accuracy(y, np.array([0, 1, 1, 2, 0])) == pytest.approx(3 / 5)
    logits = np.array([[5, 1, 0], [0, 2, 1], [0, 3, 1], [0, 0, 9], [1, 0, 0]], np.float32)
    assert M.accuracy(y, logits) == pytest.approx(3 / 5)            # argmax: 0 1 1 2 0
    yb = np.array([1, 0, 1, 0])
    logit = np.array([2.0, -1.0, -0.5, 0.0], np.float32)             # > 0 is class 1: 1 0 0 0
    assert M.accuracy(yb, logit) == pytest.approx(3 / 4)
    assert M.accuracy(yb, logit[:, None]) == pytest.approx(3 / 4)    # (N, 1) too
    assert M.accuracy(yb.astype(np.float32), np.array([.9, .2, .6, .4]), threshold=0.5) == 1.0
    assert M.accuracy(yb, np.array([True, False, True, False])) == 1.0
    # Tensors (nnfast and torch) are accepted
    assert M.accuracy(nf.tensor(y), nf.tensor(logits)) == pytest.approx(0.6)
    assert M.accuracy(torch.tensor(y), torch.tensor(logits)) == pytest.approx(0.6)
    # against torch's argmax
    expect = (torch.tensor(logits).argmax(1) == torch.tensor(y)).float().mean().item()
    assert M.accuracy(y, logits) == pytest.approx(expect)


def test_accuracy_bad_and_empty_inputs():
    with pytest.raises(ValueError, match="3 targets but 2 predictions"):
        M.accuracy([0, 1, 2], [0, 1])
    assert math.isnan(M.accuracy(np.zeros(0, np.int64), np.zeros((0, 3), np.float32)))


# ----------------------------------------------------------------------------- confusion
def test_confusion_matrix_hand_computed():
    t = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    want = np.array([[1, 1, 0], [0, 2, 1], [1, 0, 0]])
    np.testing.assert_array_equal(M.confusion_matrix(t, p), want)
    # with num_classes, extra rows/columns of zeros
    cm = M.confusion_matrix(t, p, num_classes=4)
    assert cm.shape == (4, 4) and cm[:3, :3].tolist() == want.tolist() and cm[3].sum() == 0
    # the sum is the sample count, rows are true-class counts
    assert cm.sum() == 6 and cm.sum(1)[:3].tolist() == [2, 3, 1]


def test_confusion_matrix_from_logits_has_every_class_of_the_scores():
    # class 3 never appears in targets or argmax, but the scores say there are 4 classes
    logits = np.eye(4, dtype=np.float32)[[0, 1, 2, 0]]
    cm = M.confusion_matrix(np.array([0, 1, 2, 1]), logits)
    assert cm.shape == (4, 4)
    assert cm.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_confusion_matrix_binary_logits():
    cm = M.confusion_matrix(np.array([1, 0, 1, 0]), np.array([2.0, -1.0, -0.5, 0.5]))
    assert cm.tolist() == [[1, 1], [1, 1]]


def test_confusion_matrix_rejects_out_of_range_and_mismatched_labels():
    with pytest.raises(ValueError, match="num_classes=2"):
        M.confusion_matrix([0, 1, 2], [0, 1, 1], num_classes=2)
    with pytest.raises(ValueError, match="num_classes=2"):
        M.confusion_matrix([0, 1, 1], [0, 2, 1], num_classes=2)   # would land in row 1 silently
    with pytest.raises(ValueError, match="negative"):
        M.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(ValueError, match="1 targets but 3 predictions"):
        M.confusion_matrix([1], [0, 1, 1])                          # would broadcast silently


# ----------------------------------------------------------------------------- P / R / F1
def _prf_formula(t, p, labels):
    """Per-class precision/recall/F1 straight from the definitions."""
    out = []
    for c in labels:
        tp = np.sum((t == c) & (p == c))
        fp = np.sum((t != c) & (p == c))
        fn = np.sum((t == c) & (p != c))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else 0.0
        out.append((prec, rec, f1))
    return np.array(out).T


def test_precision_recall_f1_hand_computed():
    t = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    prec, rec, f1 = M.precision_recall_f1(t, p, average=None)
    np.testing.assert_allclose(prec, [1 / 2, 2 / 3, 0.0])
    np.testing.assert_allclose(rec, [1 / 2, 2 / 3, 0.0])
    np.testing.assert_allclose(f1, [1 / 2, 2 / 3, 0.0])
    mp, mr, mf = M.precision_recall_f1(t, p)
    assert mp == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert mr == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert mf == pytest.approx((1 / 2 + 2 / 3) / 3)
    assert M.precision(t, p) == mp and M.recall(t, p) == mr and M.f1_score(t, p) == mf
    np.testing.assert_array_equal(M.f1_score(t, p, average=None), f1)


def test_precision_differs_from_recall():
    t = np.array([0, 0, 0, 1])
    p = np.array([0, 1, 1, 1])
    prec, rec, f1 = M.precision_recall_f1(t, p, average=None)
    np.testing.assert_allclose(prec, [1.0, 1 / 3])
    np.testing.assert_allclose(rec, [1 / 3, 1.0])
    np.testing.assert_allclose(f1, [0.5, 0.5])


def test_zero_division_counts_as_zero():
    # class 1 is never predicted (precision 0/0), class 2 is predicted but never true
    t = np.array([0, 0, 1, 1])
    p = np.array([0, 2, 0, 0])
    prec, rec, f1 = M.precision_recall_f1(t, p, average=None)
    np.testing.assert_allclose(prec, [1 / 3, 0.0, 0.0])
    np.testing.assert_allclose(rec, [1 / 2, 0.0, 0.0])
    np.testing.assert_allclose(f1, [0.4, 0.0, 0.0])
    assert not np.isnan(prec).any() and not np.isnan(f1).any()
    # all correct on one class only
    assert M.precision_recall_f1([1, 1], [1, 1]) == (1.0, 1.0, 1.0)


def test_macro_average_is_over_the_labels_present_like_scikit_learn():
    # labels 0 and 2 occur, 1 never does (in targets nor predictions): it is not averaged in
    t = np.array([0, 0, 2, 2])
    p = np.array([0, 2, 2, 2])
    prec, rec, f1 = _prf_formula(t, p, [0, 2])
    got = M.precision_recall_f1(t, p)
    np.testing.assert_allclose(got, [prec.mean(), rec.mean(), f1.mean()])
    # with num_classes the caller names the labels: absent ones count as 0 (sklearn labels=)
    prec3, rec3, f13 = _prf_formula(t, p, [0, 1, 2])
    got3 = M.precision_recall_f1(t, p, num_classes=3)
    np.testing.assert_allclose(got3, [prec3.mean(), rec3.mean(), f13.mean()])


@pytest.mark.parametrize("seed", range(5))
def test_prf_matches_the_formulas_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 5, 40)
    p = np.where(rng.random(40) < 0.6, t, rng.integers(0, 5, 40))
    labels = np.union1d(t, p)
    want = _prf_formula(t, p, labels)
    per = M.precision_recall_f1(t, p, average=None)
    for got, w in zip(per, want):
        np.testing.assert_allclose(got[labels], w)
    np.testing.assert_allclose(M.precision_recall_f1(t, p), want.mean(axis=1))
    np.testing.assert_allclose(M.accuracy(t, p), np.mean(t == p))


def test_prf_bad_average():
    with pytest.raises(ValueError, match="average"):
        M.precision_recall_f1([0, 1], [0, 1], average="micro")


# ----------------------------------------------------------------------------- regression
def test_mse_mae_r2_hand_computed():
    t = np.array([3.0, -0.5, 2.0, 7.0])
    p = np.array([2.5, 0.0, 2.0, 8.0])
    assert M.mse(t, p) == pytest.approx((0.25 + 0.25 + 0 + 1) / 4)
    assert M.mae(t, p) == pytest.approx((0.5 + 0.5 + 0 + 1) / 4)
    ss_tot = np.sum((t - t.mean()) ** 2)
    assert M.r2_score(t, p) == pytest.approx(1 - 1.5 / ss_tot)
    assert M.r2_score(t, p) == pytest.approx(0.9486081370449679)   # the classic example
    # against torch's losses
    tt, tp = torch.tensor(t), torch.tensor(p)
    assert M.mse(t, p) == pytest.approx(torch.nn.functional.mse_loss(tp, tt).item())
    assert M.mae(t, p) == pytest.approx(torch.nn.functional.l1_loss(tp, tt).item())


def test_regression_metrics_shapes_and_types():
    t = np.arange(6, dtype=np.float32).reshape(6, 1)
    p = nf.tensor(np.arange(6, dtype=np.float32) + 1)               # (6,) vs (6, 1) is fine
    assert M.mse(t, p) == 1.0 and M.mae(t, p) == 1.0
    assert M.r2_score(t, t) == 1.0
    assert M.r2_score(t, np.full(6, t.mean())) == 0.0                 # the mean predictor
    assert M.r2_score(t, -t) < 0                                       # worse than the mean
    with pytest.raises(ValueError, match="6 targets but 5 predictions"):
        M.mse(t, np.zeros(5))


def test_r2_constant_targets():
    t = np.full(4, 2.0)
    assert M.r2_score(t, t) == 1.0            # perfect
    assert M.r2_score(t, t + 1) == 0.0        # not perfect: 0 (sklearn's force_finite)


# ----------------------------------------------------------------------------- get_metric
def test_get_metric_names_and_callables():
    assert M.get_metric("accuracy") == ("accuracy", M.accuracy)
    assert M.get_metric("acc")[1] is M.accuracy
    for name in ("precision", "recall", "f1", "mse", "mae", "r2"):
        assert M.get_metric(name)[0] == name

    def top2(y, p):
        return 0.5
    assert M.get_metric(top2) == ("top2", top2)
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        M.get_metric("auc")
