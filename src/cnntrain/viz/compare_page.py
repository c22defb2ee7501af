"""compare.html: the template (templates/compare.html) filled with compare.json's data.

The data: models (compare.json's rows), shifts, protocol (a sentence), example {index, true, chosen,
frames [{shift, image, predictions {model: {class, prob, right}}}]} or null, plot (compare.png) and
reports {model: link to its report.html}; every link is relative to the page.
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.viz.page import write_page


def write_compare_page(path: Path, data: dict) -> Path:
    return write_page(path, "compare.html", data)
