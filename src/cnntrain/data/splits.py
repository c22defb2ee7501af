"""What every loader returns: three splits of uint8 tensors, and their description."""

from __future__ import annotations

import hashlib
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
