"""Per-channel mean and standard deviation, the numbers behind input normalization."""

from __future__ import annotations

import math

import torch

from cnntrain.errors import DataError

CHUNK_VALUES = 1 << 24  # values handled at a time, whatever the dataset size


def channel_stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Mean and (population) std per channel of x (N, C, *spatial), in [0, 1] units.

    uint8 is divided by 255; a float tensor is taken to be in [0, 1] already. Works
    chunk by chunk, so a large (even memory-mapped) set is never copied whole. For uint8
    the chunks are counted into a 256-bin histogram per channel (exact integers, and
    ~10x faster than float sums); the moments are then taken from it in float64.
    """
    if x.shape[0] == 0:
        raise DataError(
            "cannot compute normalization statistics: the training split is empty"
        )
    moments = _uint8_moments(x) if x.dtype == torch.uint8 else _float_moments(x)
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    mean, mean_sq = moments  # (C,) float64 each: E[x], E[x^2]
    var = (mean_sq - mean * mean).clamp_(min=0.0)
    return [float(m) / scale for m in mean], [math.sqrt(float(v)) / scale for v in var]


def _chunks(x: torch.Tensor):
    step = max(1, CHUNK_VALUES // max(1, x[0].numel()))
    for start in range(0, x.shape[0], step):
        part = x[start : start + step].to("cpu")
        yield part.transpose(0, 1).reshape(x.shape[1], -1)  # (C, values)


def _uint8_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    hist = torch.zeros(x.shape[1], 256, dtype=torch.int64)
    for part in _chunks(x):
        for c in range(part.shape[0]):
            hist[c] += torch.bincount(part[c], minlength=256)
    levels = torch.arange(256, dtype=torch.float64)
    count = hist.sum(1).to(torch.float64)
    return (hist * levels).sum(1) / count, (hist * levels.square()).sum(1) / count


def _float_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    count = 0
    for part in _chunks(x):
        part = part.to(torch.float64)
        total += part.sum(1)
        squares += part.square_().sum(1)
        count += part.shape[1]
    return total / count, squares / count
