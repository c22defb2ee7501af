"""Write pixels as a PNG file, atomically: every picture cnntrain saves goes through here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from cnntrain.atomic import atomic_writer


def save_png(pixels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write (H, W) or (H, W, 3) uint8 pixels as an L or RGB PNG, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path, "wb") as f:
        Image.fromarray(np.ascontiguousarray(pixels)).save(f, format="PNG")
    return path
