"""The images behind each cell of report.html's confusion matrix, for the page to show when a cell is clicked.

    cells = confusion_cells(labels, probs, samples, names)
    cells["members"][true][predicted]   # indices into cells["thumbnails"], surest first
    cells["thumbnails"][i]              # {"src": data: URL, "name": file or "test[17]", "prob": 0.93}

Every picture is embedded in the page (a data: URL), so the report stays one file that opens offline. A cell
shows at most PER_CELL images, and fewer when the page would otherwise carry more than MAX_THUMBNAILS in all
(a big test set; with more non-empty cells than that, none): the page says how many more there are.
"""

from __future__ import annotations

import numpy as np

from cnntrain.run.outputs import display_values
from cnntrain.viz.thumbnails import thumbnail_url

PER_CELL = 24
MAX_THUMBNAILS = 1200  # 32x32 colour images: 2-4 kB each, a page of a few MB at most


def confusion_cells(labels, probs, samples, names: list[str]) -> dict:
    """{"members": K x K lists of thumbnail indices, "thumbnails": [...], "per_cell": the cap used}."""
    probs = np.asarray(probs)
    predicted, confidence = probs.argmax(1), probs.max(1)
    members, cap = cell_members(np.asarray(labels), predicted, confidence, probs.shape[1], per_cell=PER_CELL,
                                budget=MAX_THUMBNAILS)
    chosen = sorted({i for row in members for cell in row for i in cell})
    position = {sample: n for n, sample in enumerate(chosen)}
    pixels = display_values(np.stack([np.asarray(samples[i]) for i in chosen])) if chosen else []
    thumbnails = [{"src": thumbnail_url(p), "name": names[i], "prob": float(confidence[i])}
                  for i, p in zip(chosen, pixels)]
    return {"members": [[[position[i] for i in cell] for cell in row] for row in members],
            "thumbnails": thumbnails, "per_cell": cap}


def cell_members(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, k: int, *,
                 per_cell: int = PER_CELL, budget: int = MAX_THUMBNAILS) -> tuple[list, int]:
    """Sample indices per cell [true][predicted], the surest first (ties by index), at most `cap` each: the
    largest cap up to `per_cell` whose cells hold no more than `budget` samples in all. ([K][K] lists, cap)"""
    order = np.lexsort((np.arange(len(labels)), -confidence))
    cells = [[[] for _ in range(k)] for _ in range(k)]
    for i in order.tolist():
        cells[labels[i]][predicted[i]].append(i)
    sizes = np.array([len(cell) for row in cells for cell in row])
    cap = per_cell
    while cap > 0 and np.minimum(sizes, cap).sum() > budget:
        cap -= 1
    return [[cell[:cap] for cell in row] for row in cells], cap
