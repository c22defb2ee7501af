"""tune.html: the template (templates/tune.html) filled with tune.json's data and each trial's page link.

The data: tune.json (study, metric, direction, space, best_value, best_params, best_trial, importances,
trials) and reports {trial number: link to its report.html or folds.html}, relative to the page. The
template draws the optimisation history, the parallel coordinates and the importances as SVG itself:
no plotting library, no network.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.viz.page import write_page


def write_tune_page(path: Path, data: dict) -> Path:
    return write_page(path, "tune.html", data)
