"""What every loader returns: three splits of uint8 tensors, and their description; and the
stratified, seeded split that carves validation and test sets out of a training set."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    """One split: images (or volumes, or signals) and their integer labels.

    x is kept uint8 so a whole dataset costs one byte per value; the trainer converts
    batches to float as it goes.
    """

    x: torch.Tensor  # (N, C, *spatial) uint8; spatial is (L,), (H, W) or (D, H, W)
    y: torch.Tensor  # (N,) int64
    paths: list[str] | None = None  # source file per sample (imagefolder), else None

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass
class Splits:
    train: Split
    val: Split
    test: Split
    classes: list[str]
    fingerprint: str  # short hex digest of the data content and its preprocessing
    # for the CLI to print, e.g. skipped files
    warnings: list[str] = field(default_factory=list)
    # for the CLI to print, not a problem: e.g. where a cache was written
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(C, *spatial) of one sample, what the model's first layer receives."""
        return tuple(int(s) for s in self.train.x.shape[1:])


def digest(*parts: object) -> str:
    """A short, stable hex digest of strings, bytes, numbers and tensors (content)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            _hash_tensor(h, part)
        elif isinstance(part, (bytes, bytearray, memoryview)):
            h.update(bytes(part))
        else:
            h.update(repr(part).encode())
        h.update(b"\x00")  # separator, so ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()[:16]


def _hash_tensor(h: "hashlib._Hash", t: torch.Tensor, chunk: int = 1 << 24) -> None:
    """Hash dtype, shape and bytes, chunk by chunk (no copy of a contiguous tensor)."""
    h.update(f"{t.dtype}{tuple(t.shape)}".encode())
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.dtype != torch.uint8:
        flat = flat.view(torch.uint8)
    for start in range(0, flat.numel(), chunk):
        h.update(flat[start : start + chunk].numpy())  # buffer protocol: no copy


def stratified_split(
    labels: torch.Tensor,
    val_fraction: float,
    test_fraction: float,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Indices (train, val, test), each sorted ascending, drawn per class.

    A class of n samples gives round(n * fraction) to val and to test, but always keeps
    at least one sample for train, so a rare class is never missing from training.
    """
    parts: tuple[list, list, list] = ([], [], [])
    for k in labels.unique(sorted=True).tolist():
        idx = (labels == k).nonzero().squeeze(1)
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        n = idx.numel()
        n_test = min(_round(n * test_fraction), n - 1)
        n_val = min(_round(n * val_fraction), n - 1 - n_test)
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    empty = torch.zeros(0, dtype=torch.int64)
    train, val, test = (torch.sort(torch.cat(p)).values if p else empty for p in parts)
    return train, val, test


def _round(x: float) -> int:
    return int(math.floor(x + 0.5))  # half up, not Python's half-to-even
