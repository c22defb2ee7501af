"""report.html of a run: the template (templates/report.html) filled with the run's data as JSON.

The data (run/report.py builds it): name, run_dir, status {finished, epoch, epochs, refresh_seconds},
summary {test_acc, test_loss, best, params, seconds, device}, config_html (highlight_yaml's escaped
HTML), model (summary --json), images {curves, train_batch, mistakes: links relative to the page or
null}, test {split, epoch, classes, matrix, metrics, samples, total_mistakes, mistakes} or null,
filmstrip [{epoch, image}] and notes {section: why it is empty}.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.viz.page import write_page


def write_report_page(path: Path, data: dict) -> Path:
    return write_page(path, "report.html", data)
