"""Finding image files under a folder: the one walk that image folders and user images share."""

from __future__ import annotations

import os
from collections.abc import Iterator

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


def is_image_name(name: str, extensions: tuple[str, ...] = EXTENSIONS) -> bool:
    return name.lower().endswith(extensions) and not name.startswith(".")


def walk_images(folder: str | os.PathLike, extensions: tuple[str, ...] = EXTENSIONS) -> Iterator[str]:
    """Paths of the images (or other files ending in `extensions`, such as .npy arrays) under a folder,
    recursively, following links; hidden files and folders (such as cnntrain's own cache) are skipped.
    Callers sort: the order of os.walk is the disk's."""
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield from (os.path.join(dirpath, f) for f in filenames if is_image_name(f, extensions))
