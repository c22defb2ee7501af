"""Stratified, seeded splitting: every class is divided in the same proportions."""

from __future__ import annotations

import math

import torch


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
