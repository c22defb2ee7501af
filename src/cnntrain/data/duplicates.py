"""Duplicate samples: exact copies and near copies, whichever splits they are in.

- Exact: the same values as training reads them (pixels after decoding and resizing, or float arrays),
  by a content hash per sample. A PNG and a BMP of the same picture are one sample here, as they are to
  the model.
- Near: the same picture re-encoded, slightly resized or lightly edited. ImageHash's perceptual hash
  (pHash: the signs of the lowest frequencies of the image's DCT, compared with their median) changes in a
  few bits under such edits and in about half of them between unrelated pictures. Every pair within
  `NEAR_BITS` of the 64-bit pHash (8x8 frequencies) is a candidate, confirmed when the 256-bit pHash
  (16x16 frequencies) differs in at most `CONFIRM_BITS` and the two pictures, shrunk to 16x16 grey,
  correlate at least `CONFIRM_CORRELATION` (brightness, contrast and noise aside, the same picture). The
  coarse hash alone calls any two bright blobs of one size at one place alike (a circle and a square in
  the built-in shapes set), the fine one a disc and a ring; the pixels tell those apart.
  2D images only: a series or a volume has no such hash.

Samples are indexed 0..N-1 over whatever the caller concatenated (the doctor: train, val, test).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Callable

import numpy as np
import torch
from PIL import Image

# Re-encoding a picture as JPEG (quality 70-85) and resizing it by 2-3 pixels flips up to 6 of the 64 bits
# and up to 36 of the 256 at a training size of 32 pixels; unrelated pictures differ in about half of them.
# The shapes set's discs and rings of one size at one place: up to 40 bits, correlation 0.83.
NEAR_BITS = 6
CONFIRM_BITS = 40
CONFIRM_CORRELATION = 0.9
_BLOCK = 1024  # rows of the all-pairs comparison at a time: a (1024, N) uint64 block


def content_hashes(x: torch.Tensor) -> list[bytes]:
    """One digest per sample of x (N, ...): equal samples, and only those, share a digest."""
    return [hashlib.sha256(row.contiguous().numpy()).digest() for row in x]  # buffer protocol: no copy


def exact_groups(hashes: list[bytes]) -> list[list[int]]:
    """The indices of samples that share a digest, in groups of two or more, each in index order."""
    by_hash: dict[bytes, list[int]] = {}
    for i, h in enumerate(hashes):
        by_hash.setdefault(h, []).append(i)
    return [group for group in by_hash.values() if len(group) > 1]


def perceptual_hash(sample: np.ndarray, hash_size: int = 8) -> np.ndarray:
    """The pHash of one 2D image (C, H, W) uint8, colour read as grey, as hash_size**2 / 64 uint64 words."""
    import imagehash  # deferred: it imports scipy, which only this check needs

    bits = imagehash.phash(_picture(sample), hash_size=hash_size).hash.ravel()
    return np.packbits(bits).view(">u8").astype(np.uint64)


def _picture(sample: np.ndarray) -> Image.Image:
    """A 2D image (C, H, W) uint8 as Pillow's: grey, or its first three channels as RGB."""
    return Image.fromarray(sample[0] if sample.shape[0] == 1 else sample[:3].transpose(1, 2, 0))


def perceptual_hashes(x: torch.Tensor) -> np.ndarray:
    """(N,) uint64: the 64-bit pHash of each 2D image of x (N, C, H, W) uint8."""
    return np.array([perceptual_hash(sample)[0] for sample in x.numpy()], dtype=np.uint64).reshape(-1)


def same_picture(sample_of: Callable[[int], np.ndarray]) -> Callable[[int, int], bool]:
    """confirm(i, j): whether the 2D images `sample_of(i)` and `sample_of(j)` (C, H, W) uint8 agree in the
    256-bit pHash and in their 16x16 grey pixels (see the module's docstring); each image read once."""

    @functools.cache
    def look(i: int) -> tuple[np.ndarray, np.ndarray]:
        sample = sample_of(i)
        grey = _picture(sample).convert("L")
        small = np.asarray(grey.resize((16, 16), Image.Resampling.BOX), dtype=np.float64).ravel()
        small -= small.mean()
        return perceptual_hash(sample, 16), small / (np.linalg.norm(small) or 1.0)

    def confirm(i: int, j: int) -> bool:
        (hash_i, pixels_i), (hash_j, pixels_j) = look(i), look(j)
        return int(_popcount(hash_i ^ hash_j).sum()) <= CONFIRM_BITS and pixels_i @ pixels_j >= CONFIRM_CORRELATION

    return confirm


def near_groups(hashes: np.ndarray, exact: list[list[int]], confirm: Callable[[int, int], bool],
                max_bits: int = NEAR_BITS) -> list[tuple[list[int], int]]:
    """Groups of near copies as (indices, the most bits of the 64-bit hash in which a pair of it differs),
    not counting exact copies (one copy stands for its group). `hashes` are the 64-bit pHashes; `confirm(i,
    j)` is asked of each candidate pair (same_picture).

    Every pair is compared (vectorised, block by block): 10,000 images take well under a second. A group
    is a connected component of near pairs, so a chain of small edits stays one group.
    """
    stand_in = np.ones(len(hashes), dtype=bool)
    for group in exact:
        stand_in[group[1:]] = False
    index = np.flatnonzero(stand_in)
    pairs = [(int(index[a]), int(index[b]), bits) for a, b, bits in _close_pairs(hashes[index], max_bits)]
    pairs = [(a, b, bits) for a, b, bits in pairs if confirm(a, b)]
    parent = {i: i for pair in pairs for i in pair[:2]}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = {}
    for i in sorted(parent):
        members.setdefault(root(i), []).append(i)
    worst: dict[int, int] = {}
    for a, _, bits in pairs:
        worst[root(a)] = max(worst.get(root(a), 0), bits)
    return [(group, worst[r]) for r, group in sorted(members.items(), key=lambda item: item[1][0])]


def _close_pairs(hashes: np.ndarray, max_bits: int) -> list[tuple[int, int, int]]:
    """(i, j, distance) for every i < j within max_bits."""
    pairs = []
    for start in range(0, len(hashes), _BLOCK):
        block = hashes[start:start + _BLOCK]
        bits = _popcount(block[:, None] ^ hashes[None, :])  # (b, N)
        rows, cols = np.nonzero(bits <= max_bits)
        keep = cols > rows + start
        pairs += [(int(i) + start, int(j), int(bits[i, j])) for i, j in zip(rows[keep], cols[keep])]
    return pairs


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 element."""
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(x)
    table = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)
    return table[x.view(np.uint8).reshape(*x.shape, 8)].sum(-1, dtype=np.uint8)
