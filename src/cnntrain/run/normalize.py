"""Input normalisation: the per-channel mean and std a run trains with, applied on the device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Normalizer:
    """Samples -> standardised floats in one fused multiply-subtract on the device.

    (x / unit - mean) / std == x * scale - shift, with scale = 1 / (unit std), shift = mean / std.
    `unit` is 255 for uint8 pixels (mean and std on the 0-1 scale) and 1 for float arrays, whose
    mean and std are in the data's own units (volts, Hounsfield units): the checkpoint records it,
    so every command and the exported model standardise alike.
    """

    mean: list
    std: list
    unit: float = 255.0

    def to(self, device, dims: int) -> "DeviceNormalizer":
        shape = (1, -1) + (1,) * dims  # broadcast over (B, C, *spatial)
        std = torch.tensor(self.std, dtype=torch.float32, device=device)
        std = torch.where(std < 1e-6, torch.ones_like(std), std)  # a constant channel is only centred
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device)
        return DeviceNormalizer((1 / (self.unit * std)).view(shape), (mean / std).view(shape))

    def as_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "unit": float(self.unit)}


@dataclass
class DeviceNormalizer:
    scale: torch.Tensor
    shift: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(-self.shift, x.float(), self.scale)  # (B, C, *spatial) float32

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        """Normalized floats back to the values the data held (pixels 0-255, or an array's own units)."""
        return (x.float() + self.shift) / self.scale
