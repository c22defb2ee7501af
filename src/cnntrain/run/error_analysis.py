"""Where a classifier fails, from its predicted probabilities: how well each class is ranked (ROC AUC), how
far its confidence is from its accuracy (calibration), and the wrong answers it was surest of (top losses).

    auc = roc_auc(labels, probs, classes)   # {"per_class": {"circle": 0.97, ...}, "macro": 0.95, "undefined": {}}
    bins = calibration(labels, probs)       # bins.ece, and the bins of the reliability diagram
    top_losses(find_mistakes(labels, probs, classes), names)

ROC AUC is scikit-learn's `roc_auc_score`, each class against the rest from its own probability column; the
macro average is their plain mean, which is scikit-learn's `multi_class="ovr", average="macro"` when every class
has test images. A class with no test image (or with all of them) has nothing to rank against: its AUC is None,
with the reason in "undefined", and the macro average is taken over the others.

Expected calibration error (Guo et al. 2017, "On Calibration of Modern Neural Networks"): each image's
confidence is the probability of the class it predicted; the images go into 15 equal-width confidence bins
[0, 1/15], (1/15, 2/15], ..., (14/15, 1], and ECE = sum over bins of (images in bin / N) * |accuracy - mean
confidence|: 0 when the model is right exactly as often as it says. scikit-learn has no ECE, so the bins are
counted here with numpy, on the edges of its `calibration_curve` (the tests check one against the other).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15  # the usual count since Guo et al.; fewer hide miscalibration, more leave bins nearly empty
TOP_LOSSES = 16  # the surest mistakes listed and drawn with their Grad-CAM


def sample_names(split: str, count: int, paths: list[str] | None) -> list[str]:
    """What to call each sample: its file, or for data without files (built-in synthetic sets) its index
    in the split, as "test[17]"."""
    return list(paths) if paths else [f"{split}[{i}]" for i in range(count)]


def roc_auc(labels, probs, classes: list[str]) -> dict:
    """One-vs-rest ROC AUC per class and their macro average: {"per_class": {class: AUC or None}, "macro":
    AUC or None, "undefined": {class: why it has none}}."""
    from sklearn.metrics import roc_auc_score  # deferred: scikit-learn takes about a second to import

    labels, probs = np.asarray(labels), np.asarray(probs, dtype=np.float64)
    per_class, undefined = {}, {}
    for k, name in enumerate(classes):
        positives = int((labels == k).sum())
        if not np.isfinite(probs[:, k]).all():
            per_class[name], undefined[name] = None, "its probabilities are not all numbers (NaN): the model diverged"
        elif positives in (0, len(labels)):
            per_class[name] = None
            undefined[name] = ("no image of this class to rank above the others" if positives == 0 else
                               "every image is of this class: no other class to rank it against")
        else:
            per_class[name] = float(roc_auc_score(labels == k, probs[:, k]))
    defined = [v for v in per_class.values() if v is not None]
    return {"per_class": per_class, "macro": float(np.mean(defined)) if defined else None, "undefined": undefined}


@dataclass
class Calibration:
    """The confidence bins of a reliability diagram, and the expected calibration error they add up to."""

    edges: np.ndarray  # (BINS + 1,) from 0 to 1
    counts: np.ndarray  # (BINS,) images per bin
    accuracy: np.ndarray  # (BINS,) fraction of them predicted right; NaN in an empty bin
    confidence: np.ndarray  # (BINS,) their mean confidence; NaN in an empty bin
    ece: float


def calibration(labels, probs, bins: int = BINS) -> Calibration:
    """Bin every sample by its confidence (the predicted class's probability): see the module docstring."""
    probs = np.asarray(probs, dtype=np.float64)
    confidence = probs.max(1)
    correct = (probs.argmax(1) == np.asarray(labels)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence)  # bins closed on the right, as calibration_curve's
    counts = np.bincount(which, minlength=bins)
    filled = counts > 0
    accuracy, mean_confidence = np.full(bins, np.nan), np.full(bins, np.nan)
    accuracy[filled] = np.bincount(which, weights=correct, minlength=bins)[filled] / counts[filled]
    mean_confidence[filled] = np.bincount(which, weights=confidence, minlength=bins)[filled] / counts[filled]
    gaps = np.abs(accuracy[filled] - mean_confidence[filled])
    ece = float(counts[filled] @ gaps / len(confidence)) if len(confidence) else float("nan")
    return Calibration(edges, counts, accuracy, mean_confidence, ece)


def top_losses(mistakes: list, names: list[str], n: int = TOP_LOSSES) -> list[dict]:
    """The first n mistakes (find_mistakes: the surest first) as {path, true, predicted, probability}."""
    return [{"path": names[m.sample], "true": m.true, "predicted": m.predicted, "probability": m.prob}
            for m in mistakes[:n]]
