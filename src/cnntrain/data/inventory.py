"""What a folder of data files holds before training reads it: each file's own size and pixel mode (from
its header; nothing is decoded), the files that cannot be read, and the files in class folders that
training never looks at (a .gif among .png files, a .txt). `cnntrain doctor` reports them.

Image folders: the files `imagefolder` would decode, found by the same walk and split by the same seed.
Arrays (`data.dataset: arrays`): one row per sample file of a folder layout, or per row of a stacked file.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from cnntrain.config import DataSettings
from cnntrain.data import decode
from cnntrain.data.array_files import ARRAY_EXTENSIONS, read_sample
from cnntrain.data.array_sources import find_parts
from cnntrain.data.folder_layout import arrange
from cnntrain.data.walk import EXTENSIONS
from cnntrain.errors import DataError

GREY_MODES = ("1", "L", "LA", "I", "F", "I;16", "I;16L", "I;16B", "I;16N")
ODD_AREA = 4.0  # an image with 4x more or fewer pixels than the median one is an odd size


@dataclass
class FileInfo:
    path: str
    size: tuple[int, ...] | None  # (W, H) of an image as stored; an array sample's shape
    mode: str | None  # PIL's pixel mode ("RGB", "L", ...); an array's dtype
    error: str | None = None  # why it cannot be read


@dataclass
class Inventory:
    files: list[FileInfo]  # every file training would read
    kind: str  # images; arrays as sample "files", one "stacked" array, or a "table"'s rows
    ignored: dict[str, str] = field(default_factory=dict)  # path -> why training skips it

    def unreadable(self) -> dict[str, str]:
        return {f.path: f.error for f in self.files if f.error}


def image_inventory(root: str, data: DataSettings, seed: int) -> Inventory:
    """The files of an image folder as `imagefolder` finds them, each with its header's size and mode."""
    _, blocks = arrange(root, data, seed)
    files = [_header(os.path.join(root, e.rel)) for block in blocks.values() for e in block]
    return Inventory(files, "images", _ignored(root, EXTENSIONS))


def _header(path: str) -> FileInfo:
    try:
        with Image.open(path) as img:  # reads the header only
            return FileInfo(path, img.size, img.mode)
    except (UnidentifiedImageError, *decode.CORRUPT_ERRORS) as err:
        return FileInfo(path, None, None, f"not a readable image ({type(err).__name__}: {err})")


def array_inventory(root: str) -> Inventory:
    """The samples of array data: one FileInfo per file of a folder layout (read, so a broken file is
    found), or one per row of an .npz, .npy pair or table (whose file either reads or not)."""
    try:
        parts = find_parts(root)
    except DataError as err:
        return Inventory([FileInfo(str(root), None, None, str(err))], "files")
    files, kind = [], "files"
    for part in parts.values():
        if isinstance(part.samples, np.ndarray):
            shape, dtype = tuple(part.samples.shape[1:]), str(part.samples.dtype)
            files += [FileInfo(name, shape, dtype) for name in part.names]
            kind = "stacked"
        else:
            files += [_array_file(sample, name) for sample, name in zip(part.samples, part.names)]
            kind = "table" if part.samples and isinstance(part.samples[0], np.ndarray) else kind
    return Inventory(files, kind, _ignored(root, ARRAY_EXTENSIONS) if os.path.isdir(root) else {})


def _array_file(sample, name: str) -> FileInfo:
    if isinstance(sample, np.ndarray):  # a table's row
        return FileInfo(name, tuple(sample.shape), str(sample.dtype))
    try:
        array = read_sample(sample)
    except DataError as err:
        return FileInfo(name, None, None, str(err))
    return FileInfo(name, tuple(array.shape), "float32")


def _ignored(root: str, extensions: tuple[str, ...]) -> dict[str, str]:
    """Files inside class folders that the loader skips for their extension (hidden files aside)."""
    top = [os.path.join(root, s) for s in ("train", "val", "test")] if os.path.isdir(os.path.join(root, "train")) \
        else [root]
    ignored = {}
    for folder in filter(os.path.isdir, top):
        for name in sorted(os.listdir(folder)):
            if name.startswith(".") or not os.path.isdir(os.path.join(folder, name)):
                continue
            for dirpath, dirnames, filenames in os.walk(os.path.join(folder, name), followlinks=True):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for f in sorted(filenames):
                    if not f.startswith(".") and not f.lower().endswith(extensions):
                        ignored[os.path.join(dirpath, f)] = (f"not a file training reads ({' '.join(extensions)});"
                                                             " it is skipped")
    return ignored


def size_summary(files: list[FileInfo], train_size: tuple[int, ...] | None, channels: int, images: bool) -> dict:
    """Sizes and modes as stored, and what training does to them: `train_size` is data.image_size as
    (H, W) (or a sample's spatial size for arrays), None when each image keeps its own."""
    readable = [f for f in files if f.size is not None]
    shown = [_size_text(f.size, images) for f in readable]
    summary = {"train_size": list(train_size) if train_size else None, "channels": channels,
               "sizes": dict(Counter(shown).most_common(10)), "distinct_sizes": len(set(shown)),
               "modes": dict(Counter(f.mode for f in readable).most_common())}
    if images and readable:
        summary.update(_image_sizes(readable, train_size))
    return summary


def _size_text(size: tuple[int, ...], images: bool) -> str:
    return f"{size[0]}x{size[1]}" if images else str(list(size))


def _image_sizes(files: list[FileInfo], train_size: tuple[int, int] | None) -> dict:
    """How many images are resized and by how much; odd sizes; grey images among colour ones."""
    areas = [f.size[0] * f.size[1] for f in files]
    median = statistics.median(areas)
    odd = [f.path for f, a in zip(files, areas) if a * ODD_AREA < median or a > ODD_AREA * median]
    out = {"odd_sizes": odd, "grey": sum(f.mode in GREY_MODES for f in files)}
    out["colour"] = len(files) - out["grey"]
    if train_size is not None:
        h, w = train_size
        scales = [(w / f.size[0], h / f.size[1]) for f in files]
        resized = [s for s in scales if s != (1.0, 1.0)]
        out["resized"] = len(resized)
        out["scale"] = {"min": min(min(s) for s in scales), "max": max(max(s) for s in scales)}
        out["aspect_changed"] = sum(abs(sx / sy - 1) > 0.1 for sx, sy in resized)  # stretched by over 10%
    return out
