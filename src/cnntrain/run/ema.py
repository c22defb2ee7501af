"""An exponential moving average of the weights (`train.ema`): the model that is validated and saved
as the checkpoints' `model`, so best.pt, evaluate, predict and featuremaps all use the average.

After every optimizer step: average = d * average + (1 - d) * weights, where
d = min(decay, (1 + updates) / (10 + updates)) as in TensorFlow's ExponentialMovingAverage: early on
the average follows the weights closely instead of dragging the random initialisation along for the
~1 / (1 - decay) steps a short run may not even have. Buffers (batch norm's running statistics) are
copied, not averaged: they are running averages already.
"""

from __future__ import annotations

import copy

import torch


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, weight in zip(self.model.parameters(), model.parameters(), strict=True):
            average.lerp_(weight, 1 - d)
        for average, buffer in zip(self.model.buffers(), model.buffers(), strict=True):
            average.copy_(buffer)
        self.updates += 1
