"""The imagefolder on-disk cache: decoded pixels in a .npy file plus a .json note.

Why this shape:
- A plain .npy can be memory-mapped (np.load(mmap_mode="c")), so a folder larger
  than RAM still trains, several processes share the same page-cache pages, and a
  second run starts without decoding anything. "c" (copy-on-write) gives a
  writable tensor without ever touching the file.
- Both files are written to temporary names in the cache folder, flushed,
  fsync'ed and then renamed with os.replace, the .json last: a cache only counts
  once its .json exists, so a crash at any point leaves either the old cache or
  the new one, never half of one.
- Names are `<prefix>-<key>`. The prefix identifies the folder and preprocessing
  (root, channels, image size, format version); the key also hashes every file's
  path, size and mtime. A changed file changes the key, and the next load
  rebuilds; unchanged files are copied from the previous cache with the same
  prefix instead of being decoded again.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from cnntrain.atomic import atomic_write_bytes, fsync_dir

FORMAT = 1  # bump when the cache layout or the decoding changes

# Identity of one source file: (relative path, size in bytes, mtime in ns).
FileId = tuple[str, int, int]

# A fixed-size .npy header (format 1.0) so the row count can be rewritten in place once
# we know how many images decoded; 128 bytes leave room for any shape.
_HEADER_BYTES = 128


@dataclass
class Cached:
    pixels: torch.Tensor  # (M, C, H, W) uint8, memory-mapped; one row per decoded file
    kept: list[FileId]  # the files of those rows, in order
    # files that could not be decoded -> the reason
    failed: dict[FileId, str] = field(default_factory=dict)


class Cache:
    def __init__(self, folder: str, prefix: str):
        self.folder, self.prefix = folder, prefix

    def path(self, key: str, ext: str) -> str:
        return os.path.join(self.folder, f"{self.prefix}-{key}.{ext}")

    def load(self, key: str) -> Cached | None:
        """The cache for `key`, memory-mapped; None when missing or unreadable."""
        try:
            with open(self.path(key, "json")) as f:
                meta = json.load(f)
            if meta.get("format") != FORMAT or meta.get("key") != key:
                return None
            arr = np.load(self.path(key, "npy"), mmap_mode="c")
            if list(arr.shape) != meta["shape"] or arr.dtype != np.uint8:
                return None
            kept = [tuple(e) for e in meta["kept"]]
            failed = {tuple(e[:3]): e[3] for e in meta["failed"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            return None  # absent, truncated or foreign: rebuilding is always safe
        if len(kept) != arr.shape[0]:
            return None
        return Cached(torch.from_numpy(arr), kept, failed)  # type: ignore[arg-type]

    def previous(self) -> Cached | None:
        """The newest complete cache of this prefix, whatever its key.

        Its rows are copied for unchanged files instead of decoding them again.
        """
        metas = sorted(
            glob.glob(os.path.join(glob.escape(self.folder), f"{self.prefix}-*.json")),
            key=_mtime,
        )
        for meta in reversed(metas):
            key = os.path.basename(meta)[len(self.prefix) + 1 : -len(".json")]
            cached = self.load(key)
            if cached is not None:
                return cached
        return None

    def writer(self, key: str, shape: tuple[int, ...]) -> "Writer":
        os.makedirs(self.folder, exist_ok=True)
        return Writer(self, key, shape)

    def prune(self, keep: str) -> None:
        """Delete this prefix's superseded caches and crash-abandoned temp files.

        Temp files must be a week old, so a build running elsewhere keeps its own.
        """
        folder = glob.escape(self.folder)
        for path in glob.glob(os.path.join(folder, f"{self.prefix}-*")):
            if not os.path.basename(path).startswith(f"{self.prefix}-{keep}."):
                _remove(path)
        for path in glob.glob(os.path.join(folder, f".{self.prefix}-*.tmp")):
            if time.time() - _mtime(path) > 7 * 24 * 3600:
                _remove(path)


class Writer:
    """Fill `rows` (an np.memmap of the full shape), then `commit` the first n."""

    def __init__(self, cache: Cache, key: str, shape: tuple[int, ...]):
        self.cache, self.key, self.shape = cache, key, shape
        fd, self.tmp = tempfile.mkstemp(
            dir=cache.folder, prefix=f".{cache.prefix}-{key}.", suffix=".npy.tmp"
        )
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_npy_header(shape))
                _reserve(f, _HEADER_BYTES + int(np.prod(shape)))
        except BaseException:
            _remove(self.tmp)
            raise
        self.rows = np.memmap(
            self.tmp, dtype=np.uint8, mode="r+", offset=_HEADER_BYTES, shape=shape
        )

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc) -> None:
        self.rows = None  # unmap
        _remove(self.tmp)  # after a commit it has been renamed away; otherwise clean up

    def commit(self, n: int, kept: list[FileId], failed: dict[FileId, str]) -> None:
        assert n == len(kept) <= self.shape[0]
        self.rows.flush()
        self.rows = None
        shape = (n, *self.shape[1:])
        with open(self.tmp, "r+b") as f:
            f.write(_npy_header(shape))  # same length, so the data offset does not move
            f.truncate(_HEADER_BYTES + int(np.prod(shape)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(self.tmp, self.cache.path(self.key, "npy"))
        meta = {
            "format": FORMAT,
            "key": self.key,
            "shape": list(shape),
            "kept": [list(e) for e in kept],
            "failed": [[*e, reason] for e, reason in failed.items()],
        }
        atomic_write_bytes(self.cache.path(self.key, "json"), json.dumps(meta).encode())
        fsync_dir(self.cache.folder)


def _reserve(f, size: int) -> None:
    """Give the file its full size up front, reserving the disk space.

    With posix_fallocate a full disk is an OSError here rather than a SIGBUS later,
    when the memory map writes into a hole of a sparse file.
    """
    f.truncate(size)
    if hasattr(os, "posix_fallocate") and size > 0:
        try:
            os.posix_fallocate(f.fileno(), 0, size)
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise  # ENOSPC and the like: report; unsupported: keep the sparse file


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy v1.0 header for a C-order uint8 array, padded to exactly _HEADER_BYTES."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(shape)}, }}"
    pad = _HEADER_BYTES - 10 - len(text) - 1
    assert pad >= 0, shape
    body = (text + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
