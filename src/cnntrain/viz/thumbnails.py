"""Small pictures of samples embedded in a page as data: URLs, so a page shows them offline from one file.

    thumbnail_url(sample)   # "data:image/png;base64,..." for a (C, *spatial) uint8 sample

An image no larger than THUMBNAIL_PX is kept pixel for pixel as a PNG (the page scales it up without
smoothing); a larger one is shrunk to fit and kept as a JPEG, a tenth of the bytes of a PNG of a photograph.
A signal is its line plot (mosaic.py's), as a PNG.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from cnntrain.viz.mosaic import sample_picture

THUMBNAIL_PX = 64
JPEG_QUALITY = 85


def thumbnail_url(sample: np.ndarray, largest: int = THUMBNAIL_PX) -> str:
    """The sample as an image a page can show, at most `largest` pixels a side: see the module docstring."""
    sample = np.asarray(sample)
    image = Image.fromarray(sample_picture(sample))
    buffer = io.BytesIO()
    if sample.ndim == 2 or max(image.size) <= largest:  # a signal's lines: already small, sharp as PNG
        image.save(buffer, format="PNG")
        kind = "png"
    else:
        image.thumbnail((largest, largest), Image.Resampling.LANCZOS)
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        kind = "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"
