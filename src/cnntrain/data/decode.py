"""Decode one image file into uint8 (C, H, W) with the configured channels and size.

Runs in worker threads (PIL releases the GIL while decoding). Failures are classified,
because the policy differs: a corrupt or truncated file may be skipped (data.on_corrupt:
skip), while a decompression bomb or a pixel mode that cannot be converted always stops
with a DataError.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image, ImageOps

from cnntrain.errors import DataError

# Far above any training image, far below what would exhaust memory: a 40-megapixel
# RGB image decodes to 120 MB. PIL's own limit is set to this while a folder is
# decoded (see imagefolder).
MAX_IMAGE_PIXELS = 40_000_000

# What a broken file makes PIL raise, depending on the format and where data ends.
CORRUPT_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    TypeError,
)


class CorruptImage(Exception):
    """The file is not a decodable image; carries PIL's reason."""


def decode(path: str, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """path -> (C, H, W) uint8; size (H, W) to resize to, None keeps the image's."""
    img = _open(path)
    img = _to_mode(img, channels, path)
    if size is not None and img.size != (size[1], size[0]):
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # (W, H)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, H, W)


def _open(path: str) -> Image.Image:
    """Open and fully decode, applying the EXIF orientation so photos are upright."""
    try:
        with Image.open(path) as img:  # reads the header only
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise _bomb(path, f"{img.width}x{img.height} pixels")
            img.load()
            return ImageOps.exif_transpose(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _bomb(path, str(err)) from None
    except CORRUPT_ERRORS as err:
        raise CorruptImage(f"{type(err).__name__}: {err}") from None


def _bomb(path: str, detail: str) -> DataError:
    return DataError(
        f"{path} is larger than cnntrain's limit of {MAX_IMAGE_PIXELS:,} pixels"
        f" ({detail}): a decompression bomb or a huge photo; shrink or remove it"
    )


def _to_mode(img: Image.Image, channels: int, path: str) -> Image.Image:
    """Convert any PIL mode to "L" (channels=1) or "RGB" (channels=3).

    Transparency is composited over black (the premultiplied colour), palettes are
    expanded first so their transparency is honoured, and high-bit-depth grayscale is
    scaled to 8 bits instead of being clipped (PIL's own convert("L") clips 16-bit
    values at 255).
    """
    target = "L" if channels == 1 else "RGB"
    try:
        if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
            img = _deep_gray(img)
        if img.mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        if img.mode in ("RGBA", "RGBa", "LA", "La", "PA"):
            black = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(black, img.convert("RGBA")).convert("RGB")
        if img.mode not in ("L", "RGB"):
            img = img.convert("RGB")  # CMYK, YCbCr, HSV, 1, ...
        return img if img.mode == target else img.convert(target)
    except (ValueError, OSError, KeyError) as err:
        raise DataError(
            f"{path} has pixel mode {img.mode!r}, which cnntrain cannot convert"
            f" ({err}); convert it to PNG or JPEG (RGB or grayscale)"
        ) from None


def _deep_gray(img: Image.Image) -> Image.Image:
    """16/32-bit int or float grayscale -> 8-bit "L", keeping relative brightness."""
    arr = np.asarray(img).astype(np.float64)
    if img.mode.startswith("I;16"):
        arr = arr / 257.0  # 0..65535 -> 0..255
    elif img.mode == "I":
        # Some Pillow versions open 16-bit PNGs as "I".
        arr = arr / 257.0 if arr.max(initial=0) > 255 else arr
    elif arr.size and 0.0 <= arr.min() and arr.max() <= 1.0:
        arr = arr * 255.0  # float images in [0, 1]
    gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return Image.fromarray(gray)  # 2D uint8 -> "L"
