"""Settings that pass the config check but cannot train, named by their key when training fails.

The config checks each value on its own (`train.lr` is any finite number >= 0). Some values still
cannot work: a learning rate of 1e300 does not fit the float32 arithmetic of the optimizer, whose first
step then fails inside PyTorch with "value cannot be converted to type float without overflow"; a
momentum of 1 or more makes every step larger than the last. The user needs the key and a value to try,
not PyTorch's traceback.
"""

from __future__ import annotations

import contextlib

import torch

from cnntrain.config import TrainSettings
from cnntrain.errors import TrainingDiverged

FLOAT32_MAX = float(torch.finfo(torch.float32).max)  # parameters and optimizer state are float32
TYPICAL = {"lr": "0.001", "weight_decay": "0.0001", "momentum": "0.9", "gamma": "0.7"}


def suspect(train: TrainSettings) -> tuple[str, str] | None:
    """(key, why) of the first setting in `train` that cannot train, or None if each one could."""
    for key, value in (("lr", train.lr), ("weight_decay", train.weight_decay), ("momentum", train.momentum)):
        if key == "momentum" and train.optimizer not in ("sgd", "rmsprop"):
            continue  # only sgd and rmsprop read train.momentum
        if value > FLOAT32_MAX:
            return key, f"train.{key}={value:g} is beyond float32's range (at most {FLOAT32_MAX:.3g})"
        if key == "momentum" and value >= 1:
            return key, f"train.momentum={value:g} is not below 1, so every step adds to the last one's size"
    if train.scheduler == "step" and train.gamma > 1:
        return "gamma", (f"train.gamma={train.gamma:g} is above 1, so the step schedule raises the learning "
                         "rate every train.step_size epochs instead of lowering it")
    return None


def advice(train: TrainSettings) -> str:
    """What to try after a failed or diverged step: the suspect key with a typical value, else train.lr."""
    found = suspect(train)
    if found is None:
        return "Lower train.lr (find one with `cnntrain lr-find`) or set train.grad_clip"
    key = found[0]
    hint = " (find one with `cnntrain lr-find`)" if key == "lr" else ""
    return f"Try --set train.{key}={TYPICAL[key]}{hint}"


@contextlib.contextmanager
def step_failures(train: TrainSettings):
    """Around a training step: an arithmetic overflow that a setting explains becomes TrainingDiverged
    naming that setting. Any other exception, or an overflow no setting explains, is a bug and passes."""
    try:
        yield
    except (RuntimeError, OverflowError) as error:
        found = suspect(train)
        overflow = isinstance(error, OverflowError) or "overflow" in str(error)
        if found is None or not overflow:
            raise
        raise TrainingDiverged(f"a training step failed: {found[1]}") from error
