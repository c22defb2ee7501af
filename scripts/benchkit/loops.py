"""The bare PyTorch loop the targets compare against, and cnntrain's Engine on the same data."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from benchkit.machine import CPU
from cnntrain.data import channel_stats
from cnntrain.model.builder import build_model
from cnntrain.run.device import autocast_dtype
from cnntrain.run.engine import Engine
from cnntrain.run.normalize import Normalizer

# --- the bare loop the targets compare against --------------------------------------------------


def bare_mnist_cnn(num_classes: int = 10) -> nn.Sequential:
    """pytorch/examples' MNIST network, written by hand."""
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Dropout(0.25), nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(128, num_classes))


class BareLoop:
    """The plain loop: a pre-normalized float tensor, randperm indexing, zero_grad/backward/step."""

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, batch_size: int, lr: float, bf16: bool = False):
        torch.manual_seed(0)
        mean, std = channel_stats(x_uint8)
        self.x = (x_uint8.float() / 255 - mean[0]) / std[0]  # (N, 1, 28, 28)
        self.y, self.batch_size, self.bf16 = y, batch_size, bf16
        self.model = bare_mnist_cnn(int(y.max()) + 1)
        if bf16:  # what a hand-written bf16 loop on a CPU would do
            self.model = self.model.to(memory_format=torch.channels_last)
            self.x = self.x.contiguous(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adadelta(self.model.parameters(), lr=lr)

    def epoch(self) -> int:
        self.model.train()
        order = torch.randperm(len(self.y))
        for i in range(0, len(order), self.batch_size):
            index = order[i:i + self.batch_size]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                loss = F.cross_entropy(self.model(self.x[index]), self.y[index])
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return len(order)


def random_images(n: int, classes: int = 10, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return x, torch.randint(0, classes, (n,), generator=g)


def cnntrain_engine(config, x: torch.Tensor, y: torch.Tensor, precision: str) -> Engine:
    """cnntrain's Engine as `train()` builds it (Session._engine): bf16 brings channels_last along."""
    amp = autocast_dtype(precision, CPU)
    memory_format = torch.channels_last if amp is not None else None
    torch.manual_seed(0)
    model = build_model(config, num_classes=int(y.max()) + 1).model
    model = model.to(CPU, memory_format=memory_format or torch.preserve_format)
    normalize = Normalizer(*channel_stats(x)).to(CPU, 2)
    return Engine(model=model, core=model, train_x=x, train_y=y, normalize=normalize, train_cfg=config.train,
                  augment={}, device=CPU, amp_dtype=amp, memory_format=memory_format)


def matmul_turn(dtype: torch.dtype, size: int = 2048, repeats: int = 4):
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)

    def turn() -> float:
        for _ in range(repeats):
            torch.mm(a, b)
        return 2.0 * size**3 * repeats  # FLOPs

    return turn


