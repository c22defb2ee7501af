"""Channel and size conversion of uint8 image tensors (N, C, H, W)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R 601 luma, the weights PIL uses for convert("L"), so all loaders agree on gray.
LUMA = (0.299, 0.587, 0.114)
CHUNK = 4096  # images per chunk of float work


def to_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, C, H, W) uint8 with C in {1, 3} -> (N, channels, H, W) uint8."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    assert c == 3 and channels == 1, (c, channels)
    weights = torch.tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)
    out = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=torch.uint8)
    for s in range(0, x.shape[0], CHUNK):
        gray = (x[s : s + CHUNK].float() * weights).sum(1, keepdim=True)
        out[s : s + CHUNK] = gray.round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, C, H, W) uint8 -> (N, C, *size), bilinear with antialiasing like PIL."""
    if tuple(x.shape[2:]) == tuple(size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], *size), dtype=torch.uint8)
    for s in range(0, x.shape[0], CHUNK):
        chunk = F.interpolate(
            x[s : s + CHUNK].float(),
            size=size,
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )
        out[s : s + CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out
