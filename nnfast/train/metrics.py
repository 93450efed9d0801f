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


def _label_pair(y_true, y_pred, num_classes, threshold, who):
    """Integer targets and predictions, checked, and the number of classes k: num_classes,
    or else enough for the largest label and for every column of (N, C) scores."""
    t = to_numpy(y_true).reshape(-1).astype(np.int64)
    p = _labels(y_pred, threshold)
    if len(t) != len(p):
        raise ValueError(f"{who}: {len(t)} targets but {len(p)} predictions")
    if (len(t) and t.min() < 0) or (len(p) and p.min() < 0):
        raise ValueError(f"{who}: class labels must be non-negative")
    if num_classes is not None:
        k = int(num_classes)
        if len(t) and max(t.max(), p.max()) >= k:
            raise ValueError(f"{who}: label {int(max(t.max(), p.max()))} is out of range for "
                             f"num_classes={k}")
    else:
        k = int(max(t.max(initial=0), p.max(initial=0)) + 1)
        scores = to_numpy(y_pred)
        if scores.dtype.kind == "f" and scores.ndim == 2 and scores.shape[1] > 1:
            k = max(k, scores.shape[1])
    return t, p, k


def confusion_matrix(y_true, y_pred, num_classes=None, threshold=0.0):
    """C[i, j] = number of samples of true class i predicted as class j."""
    t, p, k = _label_pair(y_true, y_pred, num_classes, threshold, "confusion_matrix")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def precision_recall_f1(y_true, y_pred, average="macro", num_classes=None, threshold=0.0):
    """(precision, recall, f1): per-class arrays (index = class) when average is None, else
    their macro mean. As scikit-learn: an empty denominator counts as 0 (zero_division=0),
    and the macro mean is over the labels that occur in y_true or y_pred, or over
    range(num_classes) when num_classes is given (sklearn's labels=)."""
    if average not in (None, "macro"):
        raise ValueError(f"average must be 'macro' or None, got {average!r}")
    t, p, k = _label_pair(y_true, y_pred, num_classes, threshold, "precision_recall_f1")
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(cm.sum(0) > 0, tp / cm.sum(0), 0.0)
        rec = np.where(cm.sum(1) > 0, tp / cm.sum(1), 0.0)
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    if average is None:
        return prec, rec, f1
    present = np.ones(k, bool) if num_classes is not None else (cm.sum(0) + cm.sum(1)) > 0
    if not present.any():
        return float("nan"), float("nan"), float("nan")
    return (float(prec[present].mean()), float(rec[present].mean()),
            float(f1[present].mean()))


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
