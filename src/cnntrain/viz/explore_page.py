"""The explore page's data: feature maps as PNG sprites, numbers as float32 base64 (the page itself is
templates/explore.html with its scripts in templates/explore/, written by viz.page.write_page).

The page opens from disk with no server and no network, so everything travels inside it. Feature maps
travel as 8-bit PNG sprites (one tile per channel and depth slice, each tile scaled over its channel's own
range); numbers the page computes with (inputs, weights, the model's own outputs) travel as float32,
base64, only for the layers shown up close.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from cnntrain.viz.pictures import colormap_table

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

