"""What makes a grid of tiles readable on its own: a caption on each tile (channel number, filter name),
a frame round a tile of one colour (so it does not look missing), the numbers of small filters, and a
colour key saying what the colours mean and why these ones.

Plain numpy and PIL, like pictures.py, which calls these for the PNGs it writes (TensorBoard keeps the
bare grids).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_CAPTION_PX = 14  # the band above each tile that holds its caption
_FRAME = (255, 127, 14)  # orange: in neither colormap, so a frame never reads as a value
_KEY_BAR_PX = 10
_PAD = 4

SIGNED_NOTE = ("red/blue: these values have both signs (a convolution's weighted sums, and its weights, can be "
               "negative); white is 0")
POSITIVE_NOTE = "viridis: every value here is >= 0 (after a ReLU, or a pool of its outputs); dark is the lowest"


def _font():
    return ImageFont.load_default(size=11)


def _text_width(text: str) -> int:
    return int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(text, font=_font()))


def captioned_mosaic(tiles: np.ndarray, cols: int, sep: int, captions: list[str], framed: list[bool],
                     fill: int) -> np.ndarray:
    """Tiles [N, h, w, 3] laid out `cols` per row, each under a white band with its caption; a framed tile
    gets an orange border drawn on its outermost pixels."""
    n, h, w = tiles.shape[:3]
    w_cell = max(w, max((_text_width(c) + 2 for c in captions), default=0))
    rows = -(-n // cols)
    cell_h = h + _CAPTION_PX
    out = np.full((rows * cell_h + (rows - 1) * sep, cols * w_cell + (cols - 1) * sep, 3), fill, dtype=np.uint8)
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    for i, (tile, caption, frame) in enumerate(zip(tiles, captions, framed)):
        r, c = divmod(i, cols)
        top, left = r * (cell_h + sep), c * (w_cell + sep)
        draw.rectangle([left, top, left + w_cell - 1, top + _CAPTION_PX - 1], fill="white")
        draw.text((left + 1, top), caption, fill="black", font=_font())
        canvas.paste(Image.fromarray(np.ascontiguousarray(tile)), (left, top + _CAPTION_PX))
        if frame:
            draw.rectangle([left, top + _CAPTION_PX, left + w - 1, top + cell_h - 1], outline=_FRAME)
    return np.asarray(canvas)


def numbered(tiles: np.ndarray, values: np.ndarray, cell: int) -> np.ndarray:
    """Write each weight into its `cell`-px square of the tiles [N, h, w, 3] (values [N, rows, cols], the
    layout the tiles show), dark text on light colours and light text on dark ones."""
    out = []
    for tile, grid in zip(tiles, values):
        canvas = Image.fromarray(np.ascontiguousarray(tile))
        draw = ImageDraw.Draw(canvas)
        for (y, x), v in np.ndenumerate(grid):
            if np.isnan(v):
                continue
            text = f"{v:.2g}" if v != 0 else "0"
            colour = tile[y * cell + cell // 2, x * cell + cell // 2]
            ink = "black" if colour.astype(int) @ (299, 587, 114) > 128_000 else "white"
            draw.text((x * cell + (cell - _text_width(text)) // 2, y * cell + cell // 2 - 5), text, fill=ink,
                      font=_font())
        out.append(np.asarray(canvas))
    return np.stack(out)


def with_key(pixels: np.ndarray, table: np.ndarray, low: str, high: str, notes: list[str],
             middle: str | None = None) -> np.ndarray:
    """Add a colour key under the picture: the colormap as a bar from `low` to `high` (and `middle` at its
    centre), then one line per note. The picture is widened (white) when the notes are wider."""
    lines = [n for n in notes if n]
    width = max(pixels.shape[1], 260, *(_text_width(n) + 2 * _PAD for n in lines))
    bar_w = min(width - 2 * _PAD, 360)
    key_h = _PAD + _KEY_BAR_PX + 12 + 12 * len(lines) + _PAD
    canvas = Image.new("RGB", (width, pixels.shape[0] + key_h), "white")
    canvas.paste(Image.fromarray(pixels), (0, 0))
    top = pixels.shape[0] + _PAD
    bar = table[np.linspace(0, 255, bar_w).astype(int)][None].repeat(_KEY_BAR_PX, 0)
    canvas.paste(Image.fromarray(bar), (_PAD, top))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([_PAD - 1, top - 1, _PAD + bar_w, top + _KEY_BAR_PX], outline=(120, 120, 120))
    below = top + _KEY_BAR_PX + 1
    draw.text((_PAD, below), low, fill="black", font=_font())
    draw.text((_PAD + bar_w - _text_width(high), below), high, fill="black", font=_font())
    if middle:
        draw.text((_PAD + (bar_w - _text_width(middle)) // 2, below), middle, fill="black", font=_font())
    for i, line in enumerate(lines):
        draw.text((_PAD, below + 12 * (i + 1)), line, fill="black", font=_font())
    return np.asarray(canvas)


def value_text(v: float) -> str:
    return f"{v:.3g}"
