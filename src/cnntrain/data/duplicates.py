"""Duplicate samples: exact copies and near copies, whichever splits they are in.

- Exact: the same values as training reads them (pixels after decoding and resizing, or float arrays),
  by a content hash per sample. A PNG and a BMP of the same picture are one sample here, as they are to
  the model.
- Near: the same picture re-encoded, slightly resized or lightly edited. ImageHash's perceptual hash
  (pHash: the signs of the 8x8 lowest frequencies of the image's DCT, 64 bits) changes in a few bits
  under such edits and in about half of them between unrelated pictures; two samples within
  `NEAR_BITS` bits are near copies. 2D images only: a series or a volume has no such hash.

Samples are indexed 0..N-1 over whatever the caller concatenated (the doctor: train, val, test).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from PIL import Image

# Of pHash's 64 bits. Re-encoding a picture as JPEG and resizing it by a few pixels flips 0-6 bits
# at training sizes of 32 pixels and more; unrelated pictures differ in ~32. Libraries that dedupe
# photos use up to 10, but small training images share more of their coarse layout by chance.
NEAR_BITS = 6
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


def perceptual_hashes(x: torch.Tensor) -> np.ndarray:
    """(N,) uint64: the pHash of each 2D image of x (N, C, H, W) uint8 (colour is read as grey)."""
    import imagehash  # deferred: it imports scipy, which only this check needs

    out = np.empty(len(x), dtype=np.uint64)
    for i, sample in enumerate(x.numpy()):
        picture = Image.fromarray(sample[0] if sample.shape[0] == 1 else sample[:3].transpose(1, 2, 0))
        bits = imagehash.phash(picture).hash.ravel()  # (64,) bool
        out[i] = np.packbits(bits).view(">u8")[0]
    return out


def near_groups(hashes: np.ndarray, exact: list[list[int]], max_bits: int = NEAR_BITS) -> list[tuple[list[int], int]]:
    """Groups of samples whose perceptual hashes differ in at most `max_bits` bits, as (indices, the
    largest distance within the group's pairs), not counting exact copies (one copy stands for its group).

    Every pair is compared (vectorised, block by block): 10,000 images take well under a second. A group
    is a connected component of near pairs, so a chain of small edits stays one group.
    """
    stand_in = np.ones(len(hashes), dtype=bool)
    for group in exact:
        stand_in[group[1:]] = False
    index = np.flatnonzero(stand_in)
    pairs = _close_pairs(hashes[index], max_bits)
    parent = list(range(len(index)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in pairs:
        parent[root(a)] = root(b)
    members: dict[int, list[int]] = {}
    worst: dict[int, int] = {}
    for a, b, bits in pairs:
        r = root(a)
        worst[r] = max(worst.get(r, 0), bits)
    for i in sorted({i for a, b, _ in pairs for i in (a, b)}):
        members.setdefault(root(i), []).append(int(index[i]))
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
