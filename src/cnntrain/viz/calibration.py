"""The reliability diagram (calibration.png): is the model right as often as it says it is?

    save_reliability_diagram(edges, counts, accuracy, confidence, ece, "calibration.png", title="test")

Top panel: for each confidence bin, a bar as high as the fraction of its images predicted right, a dot at
their mean confidence, and the diagonal where the two agree; a bar below the diagonal is a model surer than
it is right (overconfident). Each bar is labelled with its number of images, which the bottom panel shows
as a histogram: a bin of three images says little. numpy and matplotlib (charts.py's figures, no pyplot).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnntrain.viz.charts import figure_image, new_figure
from cnntrain.viz.png import save_png

ACCURACY_COLOR, CONFIDENCE_COLOR, GAP_COLOR = "#2b6cb0", "#111111", "#e53e3e"


def reliability_image(edges, counts, accuracy, confidence, ece: float, *, title: str = "") -> np.ndarray:
    """(H, W, 3) uint8: the two panels for bins `edges` (B + 1,), `counts`, `accuracy`, `confidence` (B,)."""
    from matplotlib.ticker import MaxNLocator  # matplotlib only once a picture is drawn (charts.py)

    edges, counts = np.asarray(edges, dtype=np.float64), np.asarray(counts)
    accuracy, confidence = np.asarray(accuracy, dtype=np.float64), np.asarray(confidence, dtype=np.float64)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    filled = counts > 0
    fig = new_figure((7, 7.8))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfectly calibrated")
    top.bar(centres[filled], accuracy[filled], width=width[filled] * 0.9, color=ACCURACY_COLOR,
                   edgecolor="white", label="accuracy of the bin's images")
    # the gap hatched, not filled: it lies over the bar where the model is underconfident
    top.bar(centres[filled], confidence[filled] - accuracy[filled], bottom=accuracy[filled],
            width=width[filled] * 0.9, fill=False, hatch="///", edgecolor=GAP_COLOR, linewidth=0.8,
            label="gap to their confidence")
    top.plot(centres[filled], confidence[filled], "o", color=CONFIDENCE_COLOR, markersize=4,
             label="their mean confidence")
    for x, y, n in zip(centres[filled], np.maximum(accuracy, confidence)[filled], counts[filled]):
        top.text(x, y + 0.01, f"n={n}", ha="center", va="bottom", fontsize=7)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.08)
    top.set_ylabel("accuracy (fraction right)")
    top.grid(alpha=0.3)
    fig.suptitle(f"{title + ': ' if title else ''}expected calibration error (ECE) {ece:.3f}\n"
                 f"{int(counts.sum()):,} images in {len(counts)} bins by confidence\n"
                 "a bar below the diagonal: surer than right (overconfident); above it: underconfident", fontsize=10)
    fig.legend(*top.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.915), ncol=2,
               fontsize=8, frameon=False)
    bottom.bar(centres, counts, width=width * 0.9, color="#718096")
    bottom.set_xlabel("confidence: the probability of the predicted class")
    bottom.set_ylabel("images")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(alpha=0.3)
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.08, top=0.845, hspace=0.08)
    return figure_image(fig)


def save_reliability_diagram(edges, counts, accuracy, confidence, ece: float, path: str | os.PathLike, *,
                             title: str = "") -> Path:
    return save_png(reliability_image(edges, counts, accuracy, confidence, ece, title=title), path)
