"""What the synthetic datasets (shapes, volumes, signals) share.

Each one only has to say how to draw a batch of foreground masks (alpha in [0, 1]) for
given labels; this module picks the labels, colours the masks, adds noise, quantizes to
uint8 and assembles the three splits. Everything random comes from a torch.Generator
seeded from the run's seed, one per split, so the same seed gives the same bytes and the
global RNG is untouched.
"""

from __future__ import annotations

import hashlib
import math
from typing import Callable

import torch

from cnntrain.config import DataSettings
from cnntrain.data import options
from cnntrain.data.splits import Split, Splits, digest

# (labels (B,), spatial size, generator) -> alpha (B, *spatial) float32 in [0, 1]
Renderer = Callable[[torch.Tensor, tuple[int, ...], torch.Generator], torch.Tensor]

# Values per chunk: bounds the float temporaries (~16 MB each) whatever the dataset
# size, and keeps a chunk small enough to stay in cache while the elementwise ops run
# over it.
CHUNK_VALUES = 1 << 20

SPLITS = ("train", "val", "test")


def derive_seed(seed: int, *parts: object) -> int:
    """An independent 63-bit seed per (seed, dataset, split), stable across runs."""
    raw = hashlib.sha256(repr((int(seed), *parts)).encode()).digest()
    return int.from_bytes(raw[:8], "little") & ((1 << 63) - 1)


def balanced_labels(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """n labels in shuffled order with every class count within one of n / k."""
    return (torch.arange(n) % k)[torch.randperm(n, generator=gen)]  # (n,) int64


def uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)  # (n,)


def colorize(alpha: torch.Tensor, channels: int, gen: torch.Generator) -> torch.Tensor:
    """Foreground/background colours per sample mixed by alpha, plus Gaussian noise.

    alpha (B, *S) -> (B, C, *S) float, roughly in [0, 1]. Grayscale is a bright object
    on a darker background; with several channels both colours are random, and one
    random channel is forced to differ by 0.5 so no sample is ever invisible.
    """
    b, spatial = alpha.shape[0], alpha.shape[1:]
    if channels == 1:
        bg = uniform(b, 0.0, 0.4, gen)[:, None]  # (B, 1)
        fg = bg + uniform(b, 0.35, 0.6, gen)[:, None]  # at most 1.0
    else:
        bg = torch.rand(b, channels, generator=gen)  # (B, C)
        fg = torch.rand(b, channels, generator=gen)
        k = torch.randint(channels, (b,), generator=gen)
        rows = torch.arange(b)
        base = bg[rows, k]
        fg[rows, k] = torch.where(base < 0.5, base + 0.5, base - 0.5)
    sigma = uniform(b, 0.02, 0.08, gen)
    expand = (b, channels) + (1,) * len(spatial)
    img = torch.randn((b, channels, *spatial), generator=gen)  # (B, C, *S)
    img.mul_(sigma.view((b,) + (1,) * (len(spatial) + 1))).add_(bg.view(expand))
    img.addcmul_(alpha.unsqueeze(1), (fg - bg).view(expand))
    return img


def quantize(img: torch.Tensor) -> torch.Tensor:
    """float in [0, 1] -> uint8 0..255, rounded (what noise pushed out is clamped)."""
    return img.mul_(255.0).add_(0.5).clamp_(0.0, 255.0).to(torch.uint8)


def render_split(
    n: int,
    k: int,
    spatial: tuple[int, ...],
    channels: int,
    render: Renderer,
    gen: torch.Generator,
) -> Split:
    """n samples with balanced labels, generated chunk by chunk into one tensor."""
    y = balanced_labels(n, k, gen)
    x = torch.empty((n, channels, *spatial), dtype=torch.uint8)  # (N, C, *S)
    chunk = max(1, CHUNK_VALUES // (math.prod(spatial) * channels))
    for start in range(0, n, chunk):
        labels = y[start : start + chunk]
        alpha = render(labels, spatial, gen)  # (B, *S)
        x[start : start + chunk] = quantize(colorize(alpha, channels, gen))
    return Split(x=x, y=y)


def synthetic_splits(
    name: str,
    data: DataSettings,
    seed: int,
    available: list[str],
    render: Renderer,
    dims: int,
    minimum: int,
) -> Splits:
    """The three splits of a synthetic dataset, sized by data.*_size."""
    spatial = options.spatial_size(data, dims, minimum=minimum)
    channels = options.channels(data)
    classes = options.synthetic_classes(available, data)
    sizes = {
        "train": options.count(data.train_size, "train_size", minimum=1),
        "val": options.count(data.val_size, "val_size"),
        "test": options.count(data.test_size, "test_size"),
    }
    parts = {}
    for split in SPLITS:
        gen = torch.Generator().manual_seed(derive_seed(seed, name, split))
        parts[split] = render_split(
            sizes[split], len(classes), spatial, channels, render, gen
        )
    tensors = [t for s in SPLITS for t in (parts[s].x, parts[s].y)]
    return Splits(
        **parts,
        classes=classes,
        fingerprint=digest(name, classes, *tensors),
        warnings=[],
    )
