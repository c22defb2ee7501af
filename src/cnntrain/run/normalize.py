"""Input normalisation: the per-channel mean and std a run trains with, applied on the device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Normalizer:
    """uint8 pixels -> standardised floats in one fused multiply-subtract on the device.

    (x / 255 - mean) / std == x * scale - shift, with scale = 1 / (255 std), shift = mean / std.
    """

    mean: list
    std: list

    def to(self, device, dims: int) -> "DeviceNormalizer":
        shape = (1, -1) + (1,) * dims  # broadcast over (B, C, *spatial)
        std = torch.tensor(self.std, dtype=torch.float32, device=device)
        std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant channel is only centred
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device)
        return DeviceNormalizer((1 / (255 * std)).view(shape), (mean / std).view(shape))

    def as_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}


@dataclass
class DeviceNormalizer:
    scale: torch.Tensor
    shift: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(-self.shift, x.float(), self.scale)  # (B, C, *spatial) float32

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized floats back to pixel values 0-255 (float): for pictures of what the model saw."""
        return (x.float() + self.shift) / self.scale
