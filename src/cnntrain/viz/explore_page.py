"""The `cnntrain explore` page: one self-contained HTML file, data + one readable template.

The template (templates/explore.html, templates/explore/: explore.css, explore.js: vanilla JavaScript, no build step) is
inlined with the data as JSON in a <script type="application/json">, so the page opens from disk
with no server and no network. Feature maps travel as 8-bit PNG sprites (one tile per channel and
depth slice, each tile scaled over its channel's own range); numbers the page computes with (inputs,
weights, the model's own outputs) travel as float32, base64, only for the layers shown up close.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from cnntrain.atomic import atomic_write_text
from cnntrain.viz.page import script_json
from cnntrain.viz.pictures import colormap_table

_TEMPLATE = resources.files("cnntrain.viz") / "templates" / "explore"
_MARKERS = re.compile(r"/\*STYLE\*/|/\*SCRIPT\*/|\{\{TITLE\}\}|\{\{DATA\}\}")
# inlined as one <script>, in this order; the last one boots the page
_SCRIPTS = ("explore.js", "explore_strip.js", "explore_detail.js", "explore_playground.js", "explore_lessons.js")
_MAX_SPRITE_WIDTH = 8192  # pixels; browsers decode wider images, but slower


def float_b64(array: np.ndarray) -> str:
    """float32 little-endian bytes as base64: exact numbers for the page to compute with."""
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def as_cdhw(maps: np.ndarray) -> np.ndarray:
    """(C, L), (C, H, W) or (C, D, H, W) as (C, D, H, W): the page handles every rank as depth slices."""
    while maps.ndim < 4:
        maps = maps[:, None]
    return maps


def quantize(maps: np.ndarray) -> tuple[np.ndarray, list, list]:
    """Each channel scaled over its own min..max to 0..255; returns (uint8, mins, maxs)."""
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    lo, hi = flat.min(axis=1), flat.max(axis=1)
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.rint((flat - lo[:, None]) / span[:, None] * 255).clip(0, 255).astype(np.uint8)
    return scaled.reshape(maps.shape), lo.tolist(), hi.tolist()


def shrink(tiles: np.ndarray, factor: int) -> np.ndarray:
    """(C, D, H, W) uint8 averaged over factor x factor blocks of H and W (edges padded)."""
    if factor <= 1:
        return tiles
    c, d, h, w = tiles.shape
    hh, ww = math.ceil(h / factor) * factor, math.ceil(w / factor) * factor
    padded = np.pad(tiles.astype(np.float32), ((0, 0), (0, 0), (0, hh - h), (0, ww - w)), mode="edge")
    blocks = padded.reshape(c, d, hh // factor, factor, ww // factor, factor).mean(axis=(3, 5))
    return np.rint(blocks).astype(np.uint8)


def sprite(tiles: np.ndarray) -> dict:
    """(C, D, H, W) uint8 as one grey PNG: tile c*D + d at column t % cols, row t // cols."""
    c, d, h, w = tiles.shape
    count = c * d
    cols = max(1, min(count, math.ceil(math.sqrt(count * h / w)), _MAX_SPRITE_WIDTH // w))
    rows = math.ceil(count / cols)
    sheet = np.zeros((rows * h, cols * w), np.uint8)
    for t, tile in enumerate(tiles.reshape(count, h, w)):
        sheet[(t // cols) * h:(t // cols + 1) * h, (t % cols) * w:(t % cols + 1) * w] = tile
    return {"png": png_b64(sheet), "cols": cols, "w": w, "h": h, "d": d, "c": c}


def png_b64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", optimize=False, compress_level=6)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def colormap(name: str = "viridis") -> list:
    """256 RGB entries of a perceptual colormap, so the page colours maps as matplotlib would."""
    return colormap_table(name).astype(int).tolist()


def write_explore_html(path: Path, *, title: str, data: dict) -> Path:
    """Write the page to `path` (atomically) and return it."""
    parts = {"/*STYLE*/": (_TEMPLATE / "explore.css").read_text(encoding="utf-8"),
             "/*SCRIPT*/": "\n".join((_TEMPLATE / name).read_text(encoding="utf-8") for name in _SCRIPTS),
             "{{TITLE}}": html.escape(title), "{{DATA}}": script_json(data)}
    # One pass, so a marker inside the inserted text is never replaced again.
    template = (_TEMPLATE.parent / "explore.html").read_text(encoding="utf-8")
    page = _MARKERS.sub(lambda match: parts[match.group(0)], template)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path
