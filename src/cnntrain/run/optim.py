"""Optimizers and learning-rate schedules from the `train` section.

Every schedule steps once per optimizer step, so warm-up and cosine are smooth; `step` decays per
epoch as in the PyTorch examples. `plateau` is the exception: it steps once per epoch, on the
validation metric train.monitor names (see `steps_with_optimizer`).
"""

from __future__ import annotations

import math

import torch

from cnntrain.config import TrainSettings
from cnntrain.errors import ConfigError


def build_optimizer(params, train: TrainSettings) -> torch.optim.Optimizer:
    params = list(params)
    if not params:  # torch's own "empty parameter list" ValueError would read like a bug
        raise ConfigError("the model has no trainable parameters (every layer is `trainable: false` or frozen), "
                          "so there is nothing to train; look at it with `cnntrain featuremaps --config ...`, "
                          "or make a layer trainable")
    name, lr, wd = train.optimizer, train.lr, train.weight_decay
    if name == "sgd":
        if train.nesterov and not train.momentum:  # else torch's ValueError on the first run
            raise ConfigError("train.nesterov needs train.momentum above 0 (sgd); set train.momentum=0.9 or "
                              "train.nesterov=false")
        return torch.optim.SGD(params, lr=lr, momentum=train.momentum, nesterov=train.nesterov,
                               weight_decay=wd)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=train.momentum, weight_decay=wd)
    optimizers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adadelta": torch.optim.Adadelta}
    return optimizers[name](params, lr=lr, weight_decay=wd)


def build_scheduler(optimizer, train: TrainSettings, steps_per_epoch: int):
    total = train.epochs * steps_per_epoch
    if train.scheduler == "plateau":
        mode = "max" if train.monitor.endswith("acc") else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=train.gamma,
                                                          patience=train.plateau_patience)
    if train.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=train.lr, total_steps=max(total, 1))
    factor = _schedule(train, steps_per_epoch, total)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def steps_with_optimizer(scheduler) -> bool:
    """Whether the scheduler steps with every optimizer step (all but plateau, which waits for a metric)."""
    return not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _schedule(train: TrainSettings, steps_per_epoch: int, total: int):
    """Multiplier of the base learning rate at each step: linear warm-up, then the schedule."""
    warmup = train.warmup_epochs * steps_per_epoch
    kind, gamma, step_size = train.scheduler, train.gamma, train.step_size

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if kind == "step":
            return gamma ** ((step // steps_per_epoch) // step_size)
        if kind == "cosine":
            progress = (step - warmup) / max(total - warmup, 1)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return 1.0

    return factor
