"""`imagefolder`: your own images, one folder per class.

Layouts (class names are the sorted folder names; hidden folders such as the
default cache folder `.cnntrain-cache` are ignored; files are found recursively
inside a class folder):

    root/<class>/<image>        all images are split into train/val/test per
                                class by data.val_fraction and
                                data.test_fraction (seeded)
    root/train/<class>/<image>  a split layout: train/ defines the classes;
    root/val/<class>/<image>    optional: without val/, val is split off train
                                by data.val_fraction (stratified, seeded)
    root/test/<class>/<image>   optional: without test/, test is split off
                                train by data.test_fraction, so there is always
                                held-out data for `evaluate` (test_fraction 0
                                gives an empty test split)

Extensions: .png .jpg .jpeg .bmp, any case. Images are converted to
data.channels (1 = "L", 3 = "RGB") and resized to data.image_size (bilinear).
With image_size null they keep their own size, which must then be the same for
all.

Decoding happens once: pixels go to an on-disk cache (see cache.py) that later
loads memory-map without opening a single image. Within the cache the files are
ordered train, val, test, so each split is a contiguous slice of the map rather
than a copy in RAM.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from cnntrain.config import DataSettings
from cnntrain.data import decode, options
from cnntrain.data.cache import FORMAT, Cache, Cached, FileId
from cnntrain.data.datasets import register
from cnntrain.data.folder_layout import Entry, arrange
from cnntrain.data.splits import Split, Splits, digest
from cnntrain.data.synthetic import SPLITS
from cnntrain.errors import DataError

# files handed to the thread pool at a time: bounds decoded arrays held in memory
BATCH = 256
MAX_WARNINGS = 20  # skipped files reported one by one; the rest are counted


@register("imagefolder")
def load_imagefolder(data: DataSettings, seed: int) -> Splits:
    root = str(data.root)
    channels = options.channels(data, image=True)
    size = options.spatial_size(data, 2, minimum=1, allow_none=True)
    policy = options.on_corrupt(data)
    classes, blocks = arrange(root, data, seed)
    options.check_num_classes(data, classes, f"image folder {root}")

    # The cache's row order: train, val, test, so every split is one slice of it.
    entries = [e for s in SPLITS for e in blocks[s]]
    cache = Cache(
        _cache_dir(data, root),
        digest("imagefolder", FORMAT, os.path.abspath(root), channels, size),
    )
    key = digest(cache.prefix, [e.id for e in entries])
    cached = cache.load(key)
    notes = [] if cached else [_cache_note(data, cache, len(entries))]
    cached = cached or build(cache, key, root, entries, channels, size, policy)
    cache.prune(keep=key)

    warns = _corrupt_policy(root, entries, cached.failed, policy)
    kept = set(cached.kept)
    splits, start = {}, 0
    for s in SPLITS:
        block = [e for e in blocks[s] if e.id in kept]
        x = cached.pixels[start : start + len(block)]  # a view of the map, not a copy
        start += len(block)
        y = torch.tensor([e.label for e in block], dtype=torch.int64)
        splits[s] = Split(x=x, y=y, paths=[os.path.join(root, e.rel) for e in block])
    assert start == cached.pixels.shape[0], "cache rows must match the kept files"
    if len(splits["train"]) == 0:
        raise DataError(f"no readable training images in {root}")
    # The key covers the files in row order; the split sizes say where each split
    # starts (two splits can list the same files in the same order).
    sizes = [len(splits[s]) for s in SPLITS]
    fingerprint = digest("imagefolder", key, classes, sorted(cached.failed), sizes)
    return Splits(**splits, classes=classes, fingerprint=fingerprint, warnings=warns, notes=notes)


def _cache_dir(data: DataSettings, root: str) -> str:
    return str(data.cache_dir or os.path.join(root, ".cnntrain-cache"))


def _cache_note(data: DataSettings, cache: Cache, count: int) -> str:
    # It writes into the user's own folder unless told otherwise: say so, once, when it does.
    where = "" if data.cache_dir else " (inside the data folder; set data.cache_dir to keep it elsewhere)"
    return f"decoding {count} images once into the cache {cache.folder}{where}"


# --- decoding into the cache ----------------------------------------------------------


def build(
    cache: Cache, key: str, root: str, entries: list[Entry], channels: int, size, policy
) -> Cached:
    """Decode what the previous cache lacks, write the new cache, and map it."""
    source = _Source(root, channels, size, policy, cache.previous())
    with _pil_limits():
        shape = (len(entries), *source.first_image(entries).shape)
        try:
            with cache.writer(key, shape) as writer:
                writer.commit(*source.fill(writer.rows, entries))
        except OSError as err:  # decoding errors never get here: they are data
            raise DataError(
                f"cannot write the image cache in {cache.folder} ({err}); free some"
                " space or set data.cache_dir to a writable folder"
            ) from None
    cached = cache.load(key)
    assert cached is not None, "a cache just written must load"
    return cached


class _Source:
    """Pixels per file, copied or decoded.

    A file with the same path, size and mtime as in the previous cache is copied
    from it; the others are decoded by a pool of threads.
    """

    def __init__(self, root: str, channels: int, size, policy: str, old: Cached | None):
        self.root, self.channels, self.size, self.policy = root, channels, size, policy
        self.old = old
        self.reuse = {fid: i for i, fid in enumerate(old.kept)} if old else {}
        self.known_bad = dict(old.failed) if old else {}  # file -> why it failed

    def fill(self, rows: np.ndarray, entries: list[Entry]):
        """Write each decodable file into the next row; -> (count, kept, failed)."""
        n, kept, failed = 0, [], {}
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(entries), BATCH):
                batch = entries[start : start + BATCH]
                todo = [e for e in batch if self._new(e)]
                decoded = dict(zip((e.id for e in todo), pool.map(self.decode, todo)))
                for e in batch:
                    pixels = decoded[e.id] if self._new(e) else self._old(e)
                    if isinstance(pixels, str):  # the reason it could not be decoded
                        self._corrupt(e, pixels)
                        failed[e.id] = pixels
                        continue
                    if pixels.shape != rows.shape[1:]:
                        raise _size_error(self.root, e, rows.shape[1:], pixels.shape)
                    rows[n] = pixels
                    n += 1
                    kept.append(e.id)
        return n, kept, failed

    def first_image(self, entries: list[Entry]) -> np.ndarray:
        """An image with the cache's (C, H, W).

        When image_size is null, the first decodable file decides.
        """
        if self.size is not None:
            return np.empty((self.channels, *self.size), dtype=np.uint8)
        if self.old is not None and self.old.kept:
            return self.old.pixels[0].numpy()
        for e in entries:
            pixels = self.decode(e) if self._new(e) else self._old(e)
            if not isinstance(pixels, str):
                return pixels
            self._corrupt(e, pixels)
        raise DataError(f"none of the {len(entries)} images in {self.root} can be read")

    def decode(self, e: Entry) -> np.ndarray | str:
        """(C, H, W) pixels, or why the file is corrupt (bombs and odd modes raise)."""
        try:
            return decode.decode(
                os.path.join(self.root, e.rel), self.channels, self.size
            )
        except decode.CorruptImage as err:
            return str(err)

    def _new(self, e: Entry) -> bool:
        return e.id not in self.reuse and e.id not in self.known_bad

    def _old(self, e: Entry) -> np.ndarray | str:
        if e.id in self.known_bad:
            return self.known_bad[e.id]
        return self.old.pixels[self.reuse[e.id]].numpy()

    def _corrupt(self, e: Entry, reason: str) -> None:
        if self.policy == "error":
            raise _corrupt_error(self.root, e.rel, reason)


@contextlib.contextmanager
def _pil_limits():
    """While decoding, PIL's decompression-bomb limit is ours and warns as an error.

    Warning filters are process-wide, so the decoding threads see it too.
    """
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = decode.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


# --- errors and warnings --------------------------------------------------------------


def _corrupt_policy(
    root: str, entries: list[Entry], failed: dict[FileId, str], policy: str
) -> list[str]:
    """Apply this run's on_corrupt to the files the cache knows are corrupt."""
    bad = [e for e in entries if e.id in failed]
    if bad and policy == "error":
        raise _corrupt_error(root, bad[0].rel, failed[bad[0].id])
    warns = [
        f"skipped corrupt image {os.path.join(root, e.rel)} ({failed[e.id]})"
        for e in bad[:MAX_WARNINGS]
    ]
    if len(bad) > MAX_WARNINGS:
        warns.append(f"skipped {len(bad) - MAX_WARNINGS} more corrupt images in {root}")
    return warns


def _corrupt_error(root: str, rel: str, reason: str) -> DataError:
    return DataError(
        f"{os.path.join(root, rel)} is not a readable image ({reason}); fix or"
        " delete it, or set data.on_corrupt=skip to skip such files with a warning"
    )


def _size_error(root, e, want, got) -> DataError:
    return DataError(
        f"images differ in size: {os.path.join(root, e.rel)} is {got[2]}x{got[1]}"
        f" while earlier ones are {want[2]}x{want[1]}; set data.image_size"
        f" (e.g. [{want[1]}, {want[2]}]) to resize all"
    )
