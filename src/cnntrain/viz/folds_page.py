"""folds.html: the template (templates/folds.html) filled with a cross-validation's summary.json.

The data: metric, mean, std, k, folds (per-fold values), runs (fold folder names), held_out (samples
each fold validates on), reports {run: link to its report.html} and out_dir; links relative to the page.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.viz.page import write_page


def write_folds_page(path: Path, data: dict) -> Path:
    return write_page(path, "folds.html", data)
