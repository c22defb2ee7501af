"""Labelled mosaics of input samples: a training batch as the network receives it, the test images a
model gets wrong, or each of them beside its Grad-CAM (`pair_tile`), each tile with a caption under it.

A sample is (C, L), (C, H, W) or (C, D, H, W) uint8: a 2D image is shown as it is (grey for one
channel, colour for three, the first channel otherwise), a volume by its middle depth slice and a
signal as lines, one colour per channel. numpy and PIL only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnntrain.viz.pictures import colormap_table
from cnntrain.viz.png import save_png

MAX_TILES = 32
COLUMNS = 8
TILE_PX = 96  # images are zoomed by whole pixels to about this size (never below their own size)
SIGNAL_SIZE = (128, 64)  # (width, height) of one signal tile
_GAP = 6
_CAPTION_LINE_PX = 13
_BACKGROUND = (255, 255, 255)
HEAT_CMAP = "inferno"  # as `cnntrain explain` draws its maps
HEAT_ALPHA = 0.7  # at the map's peak; where it is zero the sample shows through
_SIGNAL_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189))


@dataclass(frozen=True)
class Caption:
    """Lines of text under a tile; `color` for each line (RGB)."""

    lines: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...] = ()


def mosaic_image(samples: np.ndarray, captions: list[Caption], *, columns: int = COLUMNS,
                 heat: np.ndarray | None = None) -> np.ndarray:
    """Up to MAX_TILES samples (N, C, *spatial) uint8 in rows of `columns`, each captioned: (H, W, 3).
    With `heat` (N, *spatial), each tile shows its map over the sample (`heat_tile`)."""
    samples = np.asarray(samples)[:MAX_TILES]
    if samples.dtype != np.uint8 or samples.ndim not in (3, 4, 5):
        raise ValueError(f"expected uint8 samples (N, C, *spatial) with 1-3 spatial dims, got "
                         f"{samples.dtype} {samples.shape}")
    if len(samples) == 0:
        raise ValueError("no samples to draw")
    tiles = [sample_tile(s) if heat is None else heat_tile(s, h) for s, h in zip(samples, _each(heat, len(samples)))]
    return tiles_image(tiles, captions, columns=columns)


def tiles_image(tiles: list[np.ndarray], captions: list[Caption], *, columns: int = COLUMNS) -> np.ndarray:
    """Pictures (h, w, 3) uint8 of one size in rows of `columns`, each with its caption under it: (H, W, 3)."""
    tile_h, tile_w = tiles[0].shape[:2]
    lines = max(len(c.lines) for c in captions[: len(tiles)])
    origins, (width, height) = mosaic_layout(len(tiles), tile_h, tile_w, lines, columns=columns)
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = _font(11)
    cell_w = _cell_width(tile_w)
    for tile, caption, (x, y) in zip(tiles, captions, origins):
        canvas.paste(Image.fromarray(tile), (x, y))
        for j, line in enumerate(caption.lines):
            color = caption.colors[j] if j < len(caption.colors) else (0, 0, 0)
            draw.text((x, y + tile_h + 2 + j * _CAPTION_LINE_PX), _fit(line, cell_w, font, draw), fill=color,
                      font=font)
    return np.asarray(canvas)


def save_mosaic(samples: np.ndarray, captions: list[Caption], path: str | os.PathLike, *,
                heat: np.ndarray | None = None) -> Path:
    return save_png(mosaic_image(samples, captions, heat=heat), path)


def _each(heat, n: int) -> list:
    return [None] * n if heat is None else list(heat)


def mosaic_layout(n: int, tile_h: int, tile_w: int, caption_lines: int, *, columns: int = COLUMNS):
    """Where each of n tiles goes, row by row with `_GAP` px around every cell: ([(x, y) top-left], (W, H))."""
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    cell_w, cell_h = _cell_width(tile_w), tile_h + _CAPTION_LINE_PX * caption_lines + 4
    origins = [(_GAP + (i % cols) * (cell_w + _GAP), _GAP + (i // cols) * (cell_h + _GAP)) for i in range(n)]
    return origins, (cols * cell_w + (cols + 1) * _GAP, rows * cell_h + (rows + 1) * _GAP)


def _cell_width(tile_w: int) -> int:
    return max(tile_w, 84)  # room for a caption under a small tile


def sample_tile(sample: np.ndarray) -> np.ndarray:
    """One sample (C, *spatial) uint8 as an (h, w, 3) picture, an image zoomed by whole pixels to about TILE_PX."""
    pixels = sample_picture(sample)
    if sample.ndim == 2:
        return pixels
    zoom = max(1, round(TILE_PX / max(pixels.shape[:2])))
    return np.repeat(np.repeat(pixels, zoom, axis=0), zoom, axis=1)


def sample_picture(sample: np.ndarray) -> np.ndarray:
    """One sample (C, *spatial) uint8 as (h, w, 3) at its own size: an image as it is (a volume's middle
    slice, which cuts through the object), a signal as lines (SIGNAL_SIZE)."""
    if sample.ndim == 2:
        return _signal_tile(sample)
    if sample.ndim == 4:
        sample = sample[:, sample.shape[1] // 2]
    pixels = sample if sample.shape[0] == 3 else np.repeat(sample[:1], 3, axis=0)
    return np.ascontiguousarray(pixels.transpose(1, 2, 0))


def pair_tile(sample: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The sample's tile and, beside it, the same with its map laid over (`heat_tile`)."""
    tile = sample_tile(sample)
    gap = np.full((tile.shape[0], 2, 3), _BACKGROUND, dtype=np.uint8)  # narrower than between pairs
    return np.concatenate([tile, gap, heat_tile(sample, heat)], axis=1)


def heat_tile(sample: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """sample_tile with a non-negative map (*spatial, as the sample) laid over it in HEAT_CMAP, as opaque
    as the map is strong relative to its peak: where the model looked (Grad-CAM)."""
    tile = sample_tile(sample).astype(np.float32)
    h, w = tile.shape[:2]
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0, None)
    if heat.ndim == 3:  # the volume's middle slice, as sample_tile shows it
        heat = heat[heat.shape[0] // 2]
    if heat.ndim == 1:  # a signal: each position's strength over the tile's full height
        heat = np.repeat(heat[None, np.linspace(0, len(heat) - 1, w).round().astype(int)], h, axis=0)
    else:
        heat = np.repeat(np.repeat(heat, h // heat.shape[0], axis=0), w // heat.shape[1], axis=1)
    peak = float(heat.max())
    strength = heat / peak if peak > 0 else heat  # (h, w) in [0, 1]
    color = colormap_table(HEAT_CMAP)[np.clip((strength * 255).astype(int), 0, 255)].astype(np.float32)
    alpha = (HEAT_ALPHA * strength)[..., None]
    return np.round(tile * (1 - alpha) + color * alpha).astype(np.uint8)


def _signal_tile(signal: np.ndarray) -> np.ndarray:
    """(C, L) -> lines on a white tile, all channels on one 0..255 scale so their levels compare."""
    width, height = SIGNAL_SIZE
    image = Image.new("RGB", SIGNAL_SIZE, (250, 250, 250))
    draw = ImageDraw.Draw(image)
    length = signal.shape[1]
    xs = np.linspace(1, width - 2, length) if length > 1 else np.array([width / 2])
    for c, channel in enumerate(signal[: len(_SIGNAL_COLORS)]):
        ys = (height - 2) - channel.astype(np.float64) / 255.0 * (height - 4)
        points = list(zip(xs.tolist(), ys.tolist()))
        draw.line(points, fill=_SIGNAL_COLORS[c], width=1) if len(points) > 1 else draw.point(points)
    draw.rectangle((0, 0, width - 1, height - 1), outline=(200, 200, 200))
    return np.asarray(image)


def titled_column_image(pictures: dict[str, np.ndarray]) -> np.ndarray:
    """Pictures (title -> (h, w, 3) uint8) stacked top to bottom, each under its title: (H, W, 3)."""
    font = _font(12)
    width = max(p.shape[1] for p in pictures.values()) + 2 * _GAP
    height = sum(p.shape[0] + _CAPTION_LINE_PX + 2 * _GAP for p in pictures.values()) + _GAP
    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw, y = ImageDraw.Draw(canvas), _GAP
    for title, picture in pictures.items():
        draw.text((_GAP, y), _fit(title, width - 2 * _GAP, font, draw), fill=(0, 0, 0), font=font)
        y += _CAPTION_LINE_PX + _GAP
        canvas.paste(Image.fromarray(np.ascontiguousarray(picture)), (_GAP, y))
        y += picture.shape[0] + _GAP
    return np.asarray(canvas)


def titled_image(picture: np.ndarray, title: str, *, min_width: int = 480) -> np.ndarray:
    """`picture` (h, w, 3) under `title`, wrapped to its width (widened to `min_width` for a short title)."""
    font = _font(12)
    width = max(picture.shape[1] + 2 * _GAP, min_width)
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(title, width - 2 * _GAP, font, draw)
    top = _GAP + len(lines) * (_CAPTION_LINE_PX + 2)
    canvas = Image.new("RGB", (width, top + picture.shape[0] + _GAP), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(lines):
        draw.text((_GAP, _GAP + i * (_CAPTION_LINE_PX + 2)), line, fill=(0, 0, 0), font=font)
    canvas.paste(Image.fromarray(np.ascontiguousarray(picture)), (_GAP, top))
    return np.asarray(canvas)


def _wrap(text: str, width: int, font, draw) -> list[str]:
    """Words of `text` in lines no wider than `width` px (a longer word gets a line of its own)."""
    lines = [""]
    for word in text.split():
        joined = f"{lines[-1]} {word}".strip()
        if lines[-1] and draw.textlength(joined, font=font) > width:
            lines.append(word)
        else:
            lines[-1] = joined
    return lines


def _font(size: int):
    """Pillow's own font at `size` px; Pillow before 10.1 has only its small bitmap font."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def _fit(text: str, width: int, font, draw) -> str:
    """Shorten `text` with an ellipsis until it fits `width` px (long class names)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
