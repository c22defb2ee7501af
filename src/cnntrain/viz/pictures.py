"""Pictures for learning CNNs: feature maps, filters and inputs, pixel for pixel (charts: charts.py).

Every function takes plain numpy arrays, so this module never needs torch. The `*_image`
functions return (H, W, 3) uint8 arrays (handy for TensorBoard); the `save_*` functions write
a PNG atomically (via `cnntrain.atomic`: a temporary file in the same directory, then
`os.replace`, so a reader never sees half a picture) and return its path.

matplotlib (through charts.py, lazily) only supplies the colormap tables.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnntrain.viz import annotate
from cnntrain.viz.charts import agg_matplotlib, line_plot_image
from cnntrain.viz.png import save_png

SEQUENTIAL_CMAP = "viridis"
DIVERGING_CMAP = "RdBu_r"  # blue < 0 < red, near-white at zero

_TILE_SEP = 2  # px between channels or filters
_INNER_SEP = 1  # px between the slices or in-channels inside one tile
_SEP_GRAY = 48  # separators are dark so they never read as a value of either colormap
_INNER_GRAY = 150  # lighter inner separators keep tile borders easy to tell apart
_MAP_PX = 48  # small feature maps are zoomed until a tile is at least this tall
_MAX_TILE_PX = 512  # ...but never wider than this
_STRIPE_PX = 8  # height of one 1D channel stripe
_STRIPE_MIN_W = 256  # short 1D maps are stretched to at least this width
_STRIPE_MAX_W = 1024  # long 1D maps are subsampled to at most this many columns
_MAX_SLICES = 8  # depth slices shown per 3D channel
_FILTER_PX = 32  # a kernel's longer side is zoomed to about this many px
_MAX_FILTERS = 64
_NUMBERED_MAX_K = 5  # kernels up to 5x5 (at most 3 in-channels, 16 filters) get their weights written in
_NUMBER_CELL_PX = 30  # ...in cells this wide
_MAX_IN_CHANNELS = 8
_INPUT_PX = 128  # small inputs are zoomed until their longer side is at least this


# --- feature maps ---------------------------------------------------------------------------


def feature_grid_image(
    maps: np.ndarray, *, scale: str = "channel", max_channels: int = 64
) -> np.ndarray:
    """Tile one sample's layer output ([C, L], [C, H, W] or [C, D, H, W]) into an RGB picture.

    `scale="channel"` stretches every channel over its own range (shows each channel's pattern);
    `scale="layer"` uses one range for the layer (shows which channels are strong). Signed
    outputs get a diverging colormap centred on zero, non-negative ones a sequential one.
    """
    _, _, tiles = _grid_tiles(maps, scale, max_channels)
    return _mosaic(tiles, _grid_cols(*tiles.shape[:3]), _TILE_SEP)


def _grid_tiles(maps: np.ndarray, scale: str, max_channels: int) -> tuple[np.ndarray, bool, np.ndarray]:
    """(the channels shown, whether they are signed, their RGB tiles)."""
    x = _finite(np.asarray(maps, dtype=np.float32))
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"expected feature maps [C, L], [C, H, W] or [C, D, H, W], got {x.shape}")
    if scale not in ("channel", "layer"):
        raise ValueError(f"scale must be 'channel' or 'layer', got {scale!r}")
    x = x[:max_channels]
    signed = _is_signed(x)
    axes = tuple(range(1, x.ndim)) if scale == "channel" else None
    t = _normalize(x, axes, signed)
    return x, signed, _map_tiles(t, DIVERGING_CMAP if signed else SEQUENTIAL_CMAP)


def labelled_feature_grid(maps: np.ndarray, *, scale: str = "channel", max_channels: int = 64,
                          names: list[str] | None = None) -> np.ndarray:
    """`feature_grid_image` for a reader without the code: each tile captioned with its channel number, an
    orange frame round a channel of one value, and a colour key saying what the colours are and why."""
    x, signed, tiles = _grid_tiles(maps, scale, max_channels)
    flat = [bool(np.ptp(channel) == 0) for channel in x]
    captions = [f"{i} {names[i]}" if names and i < len(names) else str(i) for i in range(len(x))]
    grid = annotate.captioned_mosaic(tiles, _grid_cols(*tiles.shape[:3]), _TILE_SEP, captions, flat, _SEP_GRAY)
    notes = [annotate.SIGNED_NOTE if signed else annotate.POSITIVE_NOTE,
             "tiles are numbered by channel; " + ("each is scaled to its own range" if scale == "channel"
                                                  else "one scale for the whole layer"),
             "orange frame: a channel with one value everywhere" if any(flat) else "",
             f"the first {len(x)} of {len(maps)} channels" if len(maps) > len(x) else ""]
    if scale == "layer":
        m = float(np.abs(x).max())
        low, high = (annotate.value_text(-m), annotate.value_text(m)) if signed else (
            annotate.value_text(float(x.min())), annotate.value_text(float(x.max())))
    else:
        low, high = ("-largest", "+largest") if signed else ("lowest", "highest")
    return annotate.with_key(grid, colormap_table(DIVERGING_CMAP if signed else SEQUENTIAL_CMAP), low, high, notes,
                             middle="0" if signed else None)


def save_feature_grid(
    maps: np.ndarray, path: str | os.PathLike, *, scale: str = "channel", title: str | None = None,
    names: list[str] | None = None,
) -> Path:
    """Write `labelled_feature_grid(maps)` as a PNG, with an optional title band above it; `names`
    caption the channels of a layer of named kernels (sobel_x ...)."""
    return save_png(_titled(labelled_feature_grid(maps, scale=scale, names=names), title), path)


def _map_tiles(t: np.ndarray, cmap: str) -> np.ndarray:
    """One equal-size RGB tile per channel, [C, h, w, 3], from values already in [0, 1]."""
    if t.ndim == 2:  # 1D: each channel is a horizontal heat stripe
        t = t[:, even_indices(t.shape[1], _STRIPE_MAX_W)]
        sx = max(1, math.ceil(_STRIPE_MIN_W / t.shape[1]))
        return _colorize(_upscale(t[:, None, :], _STRIPE_PX, sx), cmap)
    if t.ndim == 3:
        s = _zoom(*t.shape[1:], _MAP_PX)
        return _colorize(_upscale(t, s, s), cmap)
    t = t[:, even_indices(t.shape[1], _MAX_SLICES)]  # 3D: each channel is a row of slices
    s = _zoom(*t.shape[2:], _MAP_PX)
    slices = _colorize(_upscale(t, s, s), cmap)
    return np.stack([_mosaic(channel, len(channel), _INNER_SEP, _INNER_GRAY) for channel in slices])


# --- filters --------------------------------------------------------------------------------


def filters_image(weight: np.ndarray, *, rgb: bool) -> np.ndarray:
    """Draw conv weights [out, in, k], [out, in, kh, kw] or [out, in, kd, kh, kw] as RGB.

    With `rgb=True`, 2D kernels over 3 input channels become colour patches (what a first layer
    looks for in the image). Otherwise every filter is a row of its first in-channels in a
    diverging colormap centred on zero; 1D kernels are stacked stripes, 3D kernels show their
    middle depth slice. Each filter is scaled by its own largest weight.
    """
    _, tiles = _filter_tiles(weight, rgb)
    return _mosaic(tiles, _grid_cols(*tiles.shape[:3]), _TILE_SEP)


def _filter_tiles(weight: np.ndarray, rgb: bool, cell: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    w = _finite(np.asarray(weight, dtype=np.float32))
    if w.ndim not in (3, 4, 5):
        raise ValueError(f"expected conv weights with 3 to 5 dims, got {w.shape}")
    w = w[:_MAX_FILTERS]
    if rgb and w.ndim == 4 and w.shape[1] == 3:
        return w, _rgb_filter_tiles(w)
    return w, _signed_filter_tiles(w, cell)


def labelled_filters(weight: np.ndarray, *, rgb: bool, names: list[str] | None = None) -> np.ndarray:
    """`filters_image` captioned with each filter's number or name (e.g. sobel_x), with its weights written
    in when the filters are small enough to read, a frame round a filter of one value, and a colour key."""
    w = np.asarray(weight)
    small = (w.ndim == 4 and max(w.shape[2:]) <= _NUMBERED_MAX_K and min(w.shape[1], _MAX_IN_CHANNELS) <= 3
             and len(w) <= 16 and not (rgb and w.shape[1] == 3))
    w, tiles = _filter_tiles(weight, rgb, _NUMBER_CELL_PX if small else None)
    if small:
        tiles = _numbered(tiles, w[:, :_MAX_IN_CHANNELS])
    captions = [names[i] if names and i < len(names) else str(i) for i in range(len(w))]
    flat = [bool(np.ptp(f) == 0) for f in w]
    grid = annotate.captioned_mosaic(tiles, _grid_cols(*tiles.shape[:3]), _TILE_SEP, captions, flat, _SEP_GRAY)
    if rgb and w.ndim == 4 and w.shape[1] == 3:
        return annotate.with_key(grid, colormap_table("gray"), "lowest", "highest",
                                 ["colour patches: each filter's weights on the red, green and blue inputs, "
                                  "scaled from its lowest to its highest weight"])
    notes = [annotate.SIGNED_NOTE, "each filter is scaled to its own largest |weight|; side by side: its first "
             f"{min(w.shape[1], _MAX_IN_CHANNELS)} of {w.shape[1]} input channels",
             "orange frame: a filter with one value everywhere" if any(flat) else ""]
    return annotate.with_key(grid, colormap_table(DIVERGING_CMAP), "-largest", "+largest", notes, middle="0")


def _numbered(tiles: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Filters w [out, in, kh, kw] written into their tiles, whose in-channels sit side by side."""
    out, kw, cell = tiles.copy(), w.shape[3], _NUMBER_CELL_PX
    for c in range(w.shape[1]):
        left = c * (kw * cell + _INNER_SEP)
        out[:, :, left:left + kw * cell] = annotate.numbered(out[:, :, left:left + kw * cell], w[:, c], cell)
    return out


def save_filters(weight: np.ndarray, path: str | os.PathLike, *, rgb: bool, names: list[str] | None = None) -> Path:
    """Write `labelled_filters(weight, rgb=rgb, names=names)` as a PNG."""
    return save_png(labelled_filters(weight, rgb=rgb, names=names), path)


def _rgb_filter_tiles(w: np.ndarray) -> np.ndarray:
    """[out, 3, kh, kw] -> [out, h, w, 3] colour patches, each filter min-max scaled as a whole."""
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    span = w.max(axis=(1, 2, 3), keepdims=True) - lo
    t = (w - lo) / np.where(span > 0, span, 1.0)
    s = max(1, math.ceil(_FILTER_PX / max(w.shape[2:])))
    return np.round(_upscale(t, s, s) * 255).astype(np.uint8).transpose(0, 2, 3, 1)


def _signed_filter_tiles(w: np.ndarray, cell: int | None = None) -> np.ndarray:
    """[out, in, ...] -> [out, h, w, 3]: each filter's in-channels side by side, zero = white."""
    one_d = w.ndim == 3
    if w.ndim == 5:  # the middle depth slice carries the spatial pattern of a 3D kernel
        w = w[:, :, w.shape[2] // 2]
    if one_d:
        w = w[:, :, None, :]
    w = w[:, :_MAX_IN_CHANNELS]
    m = np.abs(w).max(axis=(1, 2, 3), keepdims=True)
    t = 0.5 + 0.5 * w / np.where(m > 0, m, 1.0)
    s = cell or max(1, math.ceil(_FILTER_PX / max(w.shape[2:])))
    sy = max(s, _STRIPE_PX) if w.shape[2] == 1 else s  # keep 1-px-tall kernels visible
    patches = _colorize(_upscale(t, sy, s), DIVERGING_CMAP)
    cols = 1 if one_d else w.shape[1]  # 1D: in-channels stacked as stripes
    return np.stack([_mosaic(f, cols, _INNER_SEP, _INNER_GRAY) for f in patches])


# --- input images ---------------------------------------------------------------------------


def save_image(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write one input sample as a PNG: [C, L] as a line plot, [C, H, W] as an image
    (L for one channel, RGB for three, grey channels side by side otherwise) and
    [C, D, H, W] as a row of depth slices. Floats are expected in [0, 1]."""
    a = np.asarray(array)
    if a.ndim == 2:

        return save_png(line_plot_image(a), path)
    if a.ndim not in (3, 4):
        raise ValueError(f"expected an input [C, L], [C, H, W] or [C, D, H, W], got {a.shape}")
    pixels = _to_uint8(a)
    if pixels.ndim == 3:
        return save_png(_input_picture(pixels), path)
    slices = [_input_picture(pixels[:, d]) for d in even_indices(pixels.shape[1], _MAX_SLICES)]
    return save_png(_mosaic(np.stack(slices), len(slices), _TILE_SEP), path)


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Pixels as uint8. Floats outside [0, 1] (e.g. a still-normalised input) are min-max
    stretched rather than clipped, so the picture is never a flat white or black."""
    if a.dtype == np.uint8:
        return a
    a = _finite(a.astype(np.float32))
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo if hi > lo else 1.0)
    return np.round(a * 255).astype(np.uint8)


def _input_picture(pixels: np.ndarray) -> np.ndarray:
    """[C, H, W] uint8 -> (h, w, 3) for RGB, else (h, w') with the grey channels side by side."""
    s = max(1, math.ceil(_INPUT_PX / max(pixels.shape[1:])))
    pixels = _upscale(pixels, s, s)
    if pixels.shape[0] == 3:
        return pixels.transpose(1, 2, 0)
    return _mosaic(pixels, pixels.shape[0], _TILE_SEP)


# --- shared helpers -------------------------------------------------------------------------


def _finite(x: np.ndarray) -> np.ndarray:
    """NaN/inf (a diverged run) as 0, so ranges and colour lookups stay defined."""
    return np.where(np.isfinite(x), x, 0).astype(x.dtype, copy=False)


def _is_signed(x: np.ndarray) -> bool:
    """True when x has both signs beyond float noise, so a diverging colormap should show them."""
    lo, hi = float(x.min()), float(x.max())
    eps = 1e-6 * (hi - lo)
    return lo < -eps and hi > eps


def _normalize(x: np.ndarray, axes: tuple[int, ...] | None, signed: bool) -> np.ndarray:
    """Scale x into [0, 1] over `axes` (None: one range for all). Signed data is scaled
    symmetrically so that 0 lands exactly on 0.5, the colormap's centre. Constant data maps
    to 0 (or 0.5 if it is all zeros and signed) instead of dividing by zero."""
    if signed:
        m = np.abs(x).max(axis=axes, keepdims=True)
        return 0.5 + 0.5 * x / np.where(m > 0, m, 1.0)
    lo = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - lo
    return (x - lo) / np.where(span > 0, span, 1.0)


@lru_cache(maxsize=None)
def colormap_table(name: str) -> np.ndarray:
    """A matplotlib colormap as a (256, 3) uint8 table: every picture and page colours alike."""

    rgba = agg_matplotlib().colormaps[name](np.linspace(0.0, 1.0, 256))
    return np.round(rgba[:, :3] * 255).astype(np.uint8)


def _colorize(t: np.ndarray, cmap: str) -> np.ndarray:
    """Values in [0, 1] -> RGB (shape + (3,)), indexing the table the way matplotlib does."""
    idx = np.clip((t * 256).astype(np.int64), 0, 255)
    return colormap_table(cmap)[idx]


def _upscale(a: np.ndarray, sy: int, sx: int) -> np.ndarray:
    """Nearest-neighbour zoom of the last two axes, so every value stays one crisp block."""
    return np.repeat(np.repeat(a, sy, axis=-2), sx, axis=-1)


def _zoom(h: int, w: int, target: int) -> int:
    """Integer zoom that makes h at least `target` px without making w wider than the cap."""
    return max(1, min(math.ceil(target / h), _MAX_TILE_PX // w))


def even_indices(n: int, k: int) -> np.ndarray:
    """At most k indices spread evenly over range(n), first and last included."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def _grid_cols(n: int, tile_h: int, tile_w: int) -> int:
    """Columns that make n tiles of tile_h x tile_w come out roughly square overall."""
    return int(min(n, max(1, round(math.sqrt(n * tile_h / tile_w)))))


def _mosaic(tiles: np.ndarray, cols: int, sep: int, fill: int = _SEP_GRAY) -> np.ndarray:
    """Lay out equal-size tiles [N, h, w, ...] row by row, `cols` per row, `sep` px apart."""
    n, h, w = tiles.shape[:3]
    rows = math.ceil(n / cols)
    shape = (rows * h + (rows - 1) * sep, cols * w + (cols - 1) * sep) + tiles.shape[3:]
    out = np.full(shape, fill, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        out[r * (h + sep) : r * (h + sep) + h, c * (w + sep) : c * (w + sep) + w] = tile
    return out


def _titled(pixels: np.ndarray, title: str | None) -> np.ndarray:
    """Add a white band with `title` above the picture (widened if the title is longer)."""
    if not title:
        return pixels
    font = ImageFont.load_default()
    _, _, text_w, text_h = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), title, font)
    pad = 4
    h, w = pixels.shape[:2]
    canvas = Image.new("RGB", (max(w, text_w + 2 * pad), h + text_h + 2 * pad), "white")
    ImageDraw.Draw(canvas).text((pad, pad), title, fill="black", font=font)
    canvas.paste(Image.fromarray(pixels), (0, text_h + 2 * pad))
    return np.asarray(canvas)
