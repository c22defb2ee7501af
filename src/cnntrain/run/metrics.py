"""Classification metrics from counts alone: the confusion matrix (rows = true class, columns =
predicted) and what follows from it, pure functions of predictions and labels, checkable by hand."""

from __future__ import annotations

import numpy as np


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts: entry [t, p] is how many samples of true class t were predicted p."""
    true, predicted = np.asarray(true, np.int64), np.asarray(predicted, np.int64)
    return np.bincount(true * num_classes + predicted, minlength=num_classes**2).reshape(num_classes, num_classes)


def metrics_from_confusion(matrix: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, and their macro and weighted averages.

    A ratio with nothing to count (a class never predicted has no precision) is 0, as
    scikit-learn's zero_division=0 does, so averages stay defined.
    """
    m = np.asarray(matrix, dtype=np.float64)
    hits, support, predicted = np.diag(m), m.sum(1), m.sum(0)
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_class = {name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                        "support": int(support[i])} for i, name in enumerate(classes)}
    weights = _ratio(support, np.full_like(support, support.sum()))
    return {
        "accuracy": float(hits.sum() / m.sum()) if m.sum() else float("nan"),
        "per_class": per_class,
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "weighted": {"precision": float(precision @ weights), "recall": float(recall @ weights),
                     "f1": float(f1 @ weights)},
    }


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose true class is among the k highest logits."""
    top = np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(1).mean())
