"""Metrics on NumPy arrays: classification (accuracy, precision/recall/F1, confusion matrix)
and regression (MSE, MAE, R²), with scikit-learn's definitions.

Classification metrics take integer labels, or scores/logits of shape (N, C) (argmax is taken)
or (N,) / (N, 1) probabilities-or-logits for binary problems (threshold given by `threshold`,
0.0 for logits, which is what a BCEWithLogitsLoss model outputs).
"""
import numpy as np

from ..tensor import to_numpy

__all__ = ["accuracy", "confusion_matrix", "precision_recall_f1", "precision", "recall",
           "f1_score", "mse", "mae", "r2_score", "get_metric", "METRICS"]


def _labels(y_pred, threshold=0.0):
    p = to_numpy(y_pred)
    if p.dtype.kind in "iub":
        return p.reshape(-1).astype(np.int64)
    if p.ndim == 2 and p.shape[1] > 1:
        return p.argmax(axis=1)
    return (p.reshape(-1) > threshold).astype(np.int64)


def accuracy(y_true, y_pred, threshold=0.0):
    t = to_numpy(y_true).reshape(-1)
    p = _labels(y_pred, threshold)
    if len(t) != len(p):
        raise ValueError(f"accuracy: {len(t)} targets but {len(p)} predictions")
    return float((t == p).mean()) if len(t) else float("nan")


def confusion_matrix(y_true, y_pred, num_classes=None, threshold=0.0):
    """C[i, j] = number of samples of true class i predicted as class j."""
    t = to_numpy(y_true).reshape(-1).astype(np.int64)
    p = _labels(y_pred, threshold)
    k = num_classes or int(max(t.max(initial=0), p.max(initial=0)) + 1)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision_recall_f1(y_true, y_pred, average="macro", num_classes=None, threshold=0.0):
    """(precision, recall, f1): per-class arrays when average is None, else their macro mean
    (scikit-learn's zero_division=0 convention: an empty denominator counts as 0)."""
    cm = confusion_matrix(y_true, y_pred, num_classes, threshold).astype(np.float64)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        rec = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    if average is None:
        return prec, rec, f1
    if average != "macro":
        raise ValueError(f"average must be 'macro' or None, got {average!r}")
    return float(prec.mean()), float(rec.mean()), float(f1.mean())


def precision(y_true, y_pred, average="macro", **kw):
    return precision_recall_f1(y_true, y_pred, average, **kw)[0]


def recall(y_true, y_pred, average="macro", **kw):
    return precision_recall_f1(y_true, y_pred, average, **kw)[1]


def f1_score(y_true, y_pred, average="macro", **kw):
    return precision_recall_f1(y_true, y_pred, average, **kw)[2]


def _reg(y_true, y_pred):
    t = to_numpy(y_true).astype(np.float64)
    p = to_numpy(y_pred).astype(np.float64)
    if t.size != p.size:
        raise ValueError(f"{t.size} targets but {p.size} predictions")
    return t.reshape(-1), p.reshape(-1)


def mse(y_true, y_pred):
    t, p = _reg(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mae(y_true, y_pred):
    t, p = _reg(y_true, y_pred)
    return float(np.mean(np.abs(t - p)))


def r2_score(y_true, y_pred):
    """1 - SS_res / SS_tot (1.0 for a perfect fit; 0.0 when SS_tot is 0 and the fit is not)."""
    t, p = _reg(y_true, y_pred)
    ss_res = float(np.sum((t - p) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


METRICS = {"accuracy": accuracy, "acc": accuracy, "precision": precision, "recall": recall,
           "f1": f1_score, "mse": mse, "mae": mae, "r2": r2_score}


def get_metric(metric):
    """(name, fn) for a metric name or a callable fn(y_true, y_pred) -> float."""
    if callable(metric):
        return getattr(metric, "__name__", "metric"), metric
    try:
        return metric, METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(METRICS)}") from None
