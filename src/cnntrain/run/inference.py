"""Run a model over uint8 image tensors: large batches, no autograd, autocast where asked."""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from cnntrain.run.normalize import DeviceNormalizer


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
