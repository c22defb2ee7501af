"""Brightness as a giveaway: a class whose images are all darker (or brighter) than the others', so that
a model can score well by reading the exposure instead of the object (one class photographed at night,
scanned on another machine, saved with another gamma).

A class is flagged when the mean intensity of an image tells it from the other classes' images almost
always (the area under the ROC curve of that one number is at least `SEPARATION`, or at most
1 - SEPARATION) and the two means are at least `GAP` of the full 0-255 scale apart. The built-in
shapes set scores 0.44-0.59 and gaps under 0.05: shapes of different sizes differ in brightness a little,
not like that.
"""

from __future__ import annotations

import numpy as np
import torch

SEPARATION = 0.9
GAP = 0.1
_MIN_IMAGES = 5  # fewer images of a class say nothing about its brightness
_CHUNK = 4096


def image_means(x: torch.Tensor) -> np.ndarray:
    """(N,) mean of each uint8 image over its pixels and channels, on the 0-1 scale."""
    means = [x[i:i + _CHUNK].flatten(1).float().mean(1) for i in range(0, len(x), _CHUNK)]
    return (torch.cat(means) / 255.0).numpy() if means else np.zeros(0, dtype=np.float32)


def brightness(means: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    """{"mean": class -> mean intensity, "giveaway": [{class, mean, others, auc}]} for the images given."""
    out = {"mean": {}, "giveaway": []}
    for k, name in enumerate(classes):
        inside, outside = means[labels == k], means[labels != k]
        if not len(inside):
            continue
        out["mean"][name] = float(inside.mean())
        if len(inside) < _MIN_IMAGES or len(outside) < _MIN_IMAGES:
            continue
        auc = _auc(inside, outside)
        gap = float(inside.mean() - outside.mean())
        if abs(gap) >= GAP and (auc >= SEPARATION or auc <= 1 - SEPARATION):
            out["giveaway"].append({"class": name, "mean": float(inside.mean()), "others": float(outside.mean()),
                                    "auc": auc})
    return out


def _auc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an image of the class is brighter than one of the others), ties counting half."""
    from sklearn.metrics import roc_auc_score  # deferred: scikit-learn loads in ~1 s

    truth = np.concatenate([np.ones(len(inside)), np.zeros(len(outside))])
    return float(roc_auc_score(truth, np.concatenate([inside, outside])))
