"""Run a model over uint8 image tensors: normalisation on the device, large batches, no autograd."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F


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


def autocast(device: torch.device, dtype):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.inference_mode()
def predict_logits(model, x: torch.Tensor, normalize: DeviceNormalizer, device: torch.device, *,
                   batch_size: int = 512, dtype=None, memory_format=None) -> torch.Tensor:
    """Logits for every sample of a uint8 tensor, as float32 on the CPU: (N, classes)."""
    was_training = model.training
    model.eval()
    outputs = []
    try:
        for start in range(0, len(x), batch_size):
            batch = normalize(x[start:start + batch_size].to(device, non_blocking=True))
            if memory_format is not None:
                batch = batch.contiguous(memory_format=memory_format)
            with autocast(device, dtype):
                outputs.append(model(batch).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0)


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    if len(labels) == 0:
        return float("nan"), float("nan")
    loss = F.cross_entropy(logits, labels).item()
    return loss, (logits.argmax(1) == labels).float().mean().item()
