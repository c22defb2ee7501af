"""A user's own image files, preprocessed the way the config's data would be: channels and size.

`predict`, `evaluate --data` and `featuremaps` read images that were never part of a dataset.
Each one goes through the same decoder as image folders (EXIF orientation, transparency over
black, 16-bit grey scaled to 8 bits), then is converted to data.channels (1 grey, 3 RGB) and
resized to data.image_size; with image_size null it keeps its own size.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from cnntrain.config import DataSettings
from cnntrain.data import decode, options
from cnntrain.data.walk import EXTENSIONS, walk_images
from cnntrain.errors import DataError
from cnntrain.text import SPACED, shape_text


@dataclass
class Preprocessing:
    """What an image file becomes: `channels` (1 or 3) and `size` (H, W), or None for its own."""

    channels: int
    size: tuple[int, int] | None

    @classmethod
    def of(cls, data: DataSettings) -> "Preprocessing":
        """The config's data section as image preprocessing; only 2D image configs take image files."""
        size = data.image_size
        if isinstance(size, list) and len(size) != 2:
            kind = "1D signals" if len(size) == 1 else "3D volumes"
            raise DataError(f"this model reads {kind} (data.image_size {size}), not image files; "
                            "image files need a 2D config such as configs/cnn.yaml")
        files = replace(data, dataset="image files")  # what the checks' messages call them
        return cls(options.channels(files, image=True), options.spatial_size(files, 2, allow_none=True))


def image_files(inputs: list[str | Path], extensions: tuple[str, ...] = EXTENSIONS) -> list[Path]:
    """Files named directly, plus every image (or other `extensions`) under the folders named (sorted,
    recursive)."""
    if not inputs:
        raise DataError("no images given; pass image files or folders of images")
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = _walk(item, extensions)
            if not found:
                kind = "images" if extensions == EXTENSIONS else "inputs"
                raise DataError(f"folder {item} holds no {kind} ({' '.join(extensions)})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: no such image file or folder")
    return files


def _walk(folder: Path, extensions: tuple[str, ...] = EXTENSIONS) -> list[Path]:
    return sorted(map(Path, walk_images(folder, extensions)))


def load_image(path: str | Path, prep: Preprocessing) -> np.ndarray:
    """One image file -> (C, H, W) uint8, or a DataError saying why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        return decode.decode(str(path), prep.channels, prep.size)
    except decode.CorruptImage as err:
        hint = ("damaged, or not the format its name says" if path.suffix.lower() in EXTENSIONS
                else "use a PNG, JPEG or BMP file")
        raise DataError(f"{path} is not a readable image ({err}); {hint}") from None


def load_images(paths: list[Path], prep: Preprocessing, unreadable: dict | None = None) -> list[np.ndarray]:
    """Decode many files in threads (PIL releases the GIL while decoding), keeping their order. With
    `unreadable` (a dict), a file that cannot be read is left out and its path mapped to why, instead
    of stopping the rest."""

    def one(path: Path) -> np.ndarray | None:
        try:
            return load_image(path, prep)
        except DataError as err:
            if unreadable is None:
                raise
            unreadable[path] = str(err)
            return None

    if len(paths) < 2:
        arrays = [one(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            arrays = list(pool.map(one, paths))
    return [a for a in arrays if a is not None]


def stack(arrays: list[np.ndarray], paths: list[Path]) -> torch.Tensor:
    """(N, C, H, W) uint8 from equal-size images; different sizes are an error naming one of each."""
    first = arrays[0].shape
    for array, path in zip(arrays, paths):
        if array.shape != first:
            raise DataError(
                f"images differ in size: {path} is {array.shape[2]}x{array.shape[1]} while {paths[0]} is "
                f"{first[2]}x{first[1]}; set data.image_size (e.g. --set data.image_size=[{first[1]},{first[2]}])"
            )
    return torch.from_numpy(np.stack(arrays))


def load_sample(path: str | Path, data: DataSettings) -> np.ndarray:
    """One input for featuremaps: an image file, or a `.npy` array [C, *spatial] for any config,
    1D signals and 3D volumes included (uint8 pixels kept; floats in [0, 1] scaled to 0..255)."""
    path = Path(path)
    if data.dataset == "arrays":  # float arrays, read as training read them (data/array_inputs.py)
        from cnntrain.data.array_inputs import load_array_inputs  # deferred: it imports this module's package

        return load_array_inputs([path], data, [0.0] * data.channels).x[0].numpy()
    if path.suffix.lower() != ".npy":
        return load_image(path, Preprocessing.of(data))
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        array = np.load(path, allow_pickle=False)  # never unpickles objects
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not a readable .npy array ({err})") from None
    return _check_array(path, array, data)


def _check_array(path: Path, array: np.ndarray, data: DataSettings) -> np.ndarray:
    """An array sample must already have the config's channels, dimensions and (if set) size."""
    size = data.image_size
    dims = len(size) if isinstance(size, list) else 2
    want = (data.channels, *([size] * dims if isinstance(size, int) else size or [None] * dims))
    if array.ndim == dims:  # one channel without its axis
        array = array[None]
    ok = array.ndim == len(want) and all(w is None or w == g for w, g in zip(want, array.shape))
    if not ok or array.dtype.kind not in "uif":
        shown = shape_text(want, SPACED)
        raise DataError(f"{path} holds a {array.dtype} array of shape {list(array.shape)}; this model takes "
                        f"{shown} (channels first), as uint8 pixels or floats in [0, 1]")
    if array.dtype == np.uint8:
        return array
    return array.astype(np.float32) * 255.0 if array.dtype.kind == "f" else array.astype(np.float32)


@dataclass
class LabelledImages:
    """A folder of class subfolders, labelled with the model's class indices."""

    x: torch.Tensor  # (N, C, H, W) uint8
    y: torch.Tensor  # (N,) int64, indices into the model's classes
    paths: list[str]


def load_labelled_folder(root: str | Path, prep: Preprocessing, classes: list[str]) -> LabelledImages:
    """root/<class>/<image>: every class folder must be one of `classes` (the model's)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass a folder holding one subfolder per class")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = ", ".join(classes)
    if not folders:
        raise DataError(f"{root} has no class folders; put the images in subfolders named after the "
                        f"model's classes: {known}")
    unknown = [f.name for f in folders if f.name not in classes]
    if unknown:
        raise DataError(f"{root}: the model does not know the class(es) {', '.join(unknown)}; "
                        f"class folders must be named after its classes: {known}")
    paths, labels = [], []
    for folder in folders:
        found = _walk(folder)
        if not found:
            raise DataError(f"class folder {folder} has no images ({' '.join(EXTENSIONS)})")
        paths += found
        labels += [classes.index(folder.name)] * len(found)
    x = stack(load_images(paths, prep), paths)
    return LabelledImages(x, torch.tensor(labels, dtype=torch.int64), [str(p) for p in paths])
