"""The training loop: batches straight from uint8 tensors, one epoch at a time, checkpointed after each.

Everything random is either derived from (seed, epoch) (the shuffle or balanced draw, the
augmentation) or saved in the checkpoint (the global RNG behind dropout), so a run stopped after any
epoch and resumed ends with exactly the weights of a run never stopped.

One optimizer step takes `train.accumulate` micro-batches of `train.batch_size` images: their
gradients add up to those of one batch of the group's size (see `step`), so the loss scaler,
grad_clip, the schedules and the weight average all act once per group, as on one large batch.

Other tasks take the same two seams: `epoch_batches(epoch)` (an epoch's steps, with the generator their
augmentation draws from) and `step(group, aug_gen)`. `cnntrain lr-find` steps through them with a rising
rate, so its steps are the steps `cnntrain train` takes.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from cnntrain.config import TrainSettings
from cnntrain.data import augment_batch
from cnntrain.errors import CheckpointError, TrainingDiverged
from cnntrain.run.balance import balanced_order
from cnntrain.run.ctrl_c import raise_if_pressed
from cnntrain.run.device import CORES
from cnntrain.run.distributed import World, all_sum
from cnntrain.run.ema import EMA
from cnntrain.run.inference import autocast
from cnntrain.run.normalize import DeviceNormalizer
from cnntrain.run.optim import build_optimizer, build_scheduler, steps_with_optimizer
from cnntrain.run.progress import Progress
from cnntrain.run.unstable import step_failures


@dataclass
class EpochStats:
    loss: float
    acc: float
    images: int
    seconds: float


@dataclass
class Best:
    metric: str
    value: float | None = None
    epoch: int = 0
    bad_epochs: int = 0  # epochs since the last improvement, for early stopping

    def update(self, record: dict) -> bool:
        value = record[self.metric]
        better = self.value is None or (value > self.value if self.metric.endswith("acc") else value < self.value)
        if better and not math.isnan(value):
            self.value, self.epoch, self.bad_epochs = value, record["epoch"], 0
            return True
        self.bad_epochs += 1
        return False


@dataclass
class EpochBatches:
    """One epoch on this rank: its optimizer steps, each a group of train.accumulate index batches ((B,) rows
    of the training set), and the generator their augmentation draws from."""

    groups: list[list[torch.Tensor]]
    aug_gen: torch.Generator


@dataclass
class Engine:
    model: torch.nn.Module  # what trains: possibly DDP- or compile-wrapped
    core: torch.nn.Module  # the plain model whose state_dict is saved
    train_x: torch.Tensor
    train_y: torch.Tensor
    normalize: DeviceNormalizer
    train_cfg: TrainSettings
    augment: dict
    device: torch.device
    world: World = field(default_factory=World)
    amp_dtype: torch.dtype | None = None
    memory_format: torch.memory_format | None = None
    class_weights: torch.Tensor | None = None  # (K,) loss weight per class, on the device
    sampler: str = "shuffle"  # data.sampler: "balanced" draws every class equally often
    # Sees each batch (x, y) exactly as the model receives it: train_batch.png takes epoch 1's first.
    on_batch: Callable | None = None

    def __post_init__(self):
        self.optimizer = build_optimizer([p for p in self.core.parameters() if p.requires_grad], self.train_cfg)
        self.scheduler = build_scheduler(self.optimizer, self.train_cfg, self.steps_per_epoch)
        # fp16 gradients underflow without loss scaling; a disabled scaler is a no-op, so the step has one path.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.best = Best(self.train_cfg.monitor)
        self.step_lr = self.lr
        self.ema = EMA(self.core, self.train_cfg.ema) if self.train_cfg.ema is not None else None

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch: groups of train.accumulate batches."""
        shard = math.ceil(len(self.train_y) / self.world.size)
        batches = math.ceil(shard / self.train_cfg.batch_size)
        return max(math.ceil(batches / self.train_cfg.accumulate), 1)

    @property
    def eval_model(self) -> torch.nn.Module:
        """The model to validate and save: the weight average when train.ema is on."""
        return self.ema.model if self.ema is not None else self.core

    # --- one epoch ---

    def epoch_batches(self, epoch: int) -> EpochBatches:
        """This rank's steps of an epoch. The order and the augmentation follow from (seed, epoch) alone:
        nothing to save, so a resumed run draws exactly what the never-stopped one drew."""
        seed = self.train_cfg.seed
        labels = self.train_y if self.sampler == "balanced" else None
        # Where the images are (a GPU-resident set), so each step's index_select needs no copy.
        order = epoch_shard(len(self.train_y), seed, epoch, self.world, labels).to(self.train_x.device)
        batch_size, accumulate = self.train_cfg.batch_size, self.train_cfg.accumulate
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches.pop()  # batch norm cannot train on a batch of one image
        # The last group may be short: it steps as the smaller batch it is (see step), not carried over.
        groups = [batches[i:i + accumulate] for i in range(0, len(batches), accumulate)]
        return EpochBatches(groups, _generator(seed, epoch, 1))

    def train_epoch(self, epoch: int, progress: Progress) -> EpochStats:
        self.model.train()
        batches = self.epoch_batches(epoch)
        steps = len(batches.groups)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        weight_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen, start = 0, time.perf_counter()
        report_every = max(steps // 50, 1)
        with self._join():
            for done, group in enumerate(CORES.follow(batches.groups), 1):  # threads: the cores others leave free
                with step_failures(self.train_cfg):  # e.g. train.lr=1e300: a key to fix, not a traceback
                    loss, weight, hits = self.step(group, batches.aug_gen)
                raise_if_pressed()  # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed (run/ctrl_c.py)
                loss_sum += loss
                weight_sum += weight
                correct += hits
                seen += sum(len(index) for index in group)
                if done % report_every == 0 or done == steps:
                    mean_loss = loss_sum.item() / weight_sum.item()
                    if not math.isfinite(mean_loss):
                        raise TrainingDiverged(f"the training loss became {mean_loss} at epoch {epoch}, step {done}")
                    rate = seen / (time.perf_counter() - start)
                    progress.batch(step=done, steps=steps, loss=mean_loss, acc=correct.item() / seen,
                                   images_per_sec=rate * self.world.size)
        seconds = time.perf_counter() - start
        # The last step's loss was computed before its update: that update may still have blown the
        # weights up, and saving them would overwrite the last good checkpoint.
        if not torch.stack([torch.isfinite(p).all() for p in self.core.parameters()]).all():
            raise TrainingDiverged(f"the weights became NaN or infinite in epoch {epoch}")
        total_loss, total_weight, total_correct, total_seen = all_sum(
            [loss_sum.item(), weight_sum.item(), correct.item(), seen], self.world)
        return EpochStats(total_loss / total_weight, total_correct / total_seen, int(total_seen), seconds)

    def step(self, group: list[torch.Tensor], aug_gen: torch.Generator):
        """One optimizer step on a group of micro-batches (index tensors): (loss sum, weight sum, hits)."""
        labels = [self.train_y.index_select(0, index).to(self.device, non_blocking=True) for index in group]
        # Each micro-batch's summed loss over the whole group's weight (its image count without class
        # weights): the gradients add up to one batch of the group's size, short last group included.
        total = sum(self._weight(y) for y in labels)
        loss_sum, hits = 0.0, 0
        self.optimizer.zero_grad(set_to_none=True)
        for i, (index, y) in enumerate(zip(group, labels)):
            x = self._inputs(index, aug_gen)  # (B, C, *spatial)
            if self.on_batch is not None:
                self.on_batch(x, y)
            # DDP averages the gradients over ranks once per group, at its last backward.
            with self._no_sync(i < len(group) - 1):
                with autocast(self.device, self.amp_dtype):
                    logits = self.model(x)
                    loss = F.cross_entropy(logits.float(), y, weight=self.class_weights, reduction="sum",
                                           label_smoothing=self.train_cfg.label_smoothing)
                self.scaler.scale(loss / total).backward()
            loss_sum += loss.detach()
            hits += (logits.detach().argmax(1) == y).sum()
        # unscale before clipping, so the threshold applies to the true gradient norm
        self.scaler.unscale_(self.optimizer)
        if self.train_cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.core.parameters(), self.train_cfg.grad_clip)
        self.scaler.step(self.optimizer)  # skipped by the scaler when fp16 gradients overflowed
        self.scaler.update()
        self.step_lr = self.lr  # the rate this step used; after scheduler.step() it is the next step's
        if steps_with_optimizer(self.scheduler):
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.core)
        return loss_sum, total, hits

    def _inputs(self, index: torch.Tensor, aug_gen: torch.Generator) -> torch.Tensor:
        # index_select, not x[index]: the same rows, and 5x faster for a batch of small uint8 images.
        x = self.normalize(self.train_x.index_select(0, index).to(self.device, non_blocking=True))  # (B, C, *spatial)
        if self.augment:
            x = augment_batch(x, self.augment, aug_gen)
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format)
        return x

    def _weight(self, y: torch.Tensor) -> torch.Tensor | float:
        """What cross-entropy's mean divides by: the images' class weights, or their count."""
        if self.class_weights is None:
            return float(len(y))
        return self.class_weights[y].sum()

    def validated(self, record: dict) -> None:
        """After an epoch's validation: the plateau schedule steps on the monitored metric."""
        if not steps_with_optimizer(self.scheduler):
            self.scheduler.step(record[self.best.metric])

    def _no_sync(self, skip: bool):
        return self.model.no_sync() if skip and self.world.distributed else contextlib.nullcontext()

    def _join(self):
        """Ranks whose shard has one batch fewer wait for the others instead of hanging DDP."""
        return self.model.join() if self.world.distributed else contextlib.nullcontext()

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    # --- checkpoint state ---

    def state(self, epoch: int) -> dict:
        return {
            "model": self.eval_model.state_dict(),
            # With train.ema, `model` holds the average; the weights training goes on from are here.
            "ema": None if self.ema is None else {"updates": self.ema.updates, "train_model": self.core.state_dict()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": epoch,
            "best": {"metric": self.best.metric, "value": self.best.value, "epoch": self.best.epoch,
                     "bad_epochs": self.best.bad_epochs},
            "rng": rng_state(),
        }

    def load_state(self, state: dict) -> None:
        try:
            if self.ema is not None:
                self.ema.model.load_state_dict(state["model"])
                self.ema.updates = state["ema"]["updates"]
            self.core.load_state_dict(state["ema"]["train_model"] if self.ema is not None else state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise CheckpointError(f"the checkpoint does not fit this config (was the model or optimizer changed "
                                  f"with --set?): {str(error).splitlines()[0]}") from None
        # The schedule's length comes from the config, not the checkpoint: `--set train.epochs=N` on a
        # finished onecycle run stretches its cycle instead of stepping past the end of the old one.
        shape = {k: v for k, v in vars(self.scheduler).items() if k in ("total_steps", "_schedule_phases")}
        self.scheduler.load_state_dict(state["scheduler"])
        vars(self.scheduler).update(shape)
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        best = state["best"]
        self.best = Best(best["metric"], best["value"], best["epoch"], best["bad_epochs"])
        set_rng_state(state["rng"])


def epoch_shard(n: int, seed: int, epoch: int, world: World, labels: torch.Tensor | None = None) -> torch.Tensor:
    """This rank's indices for an epoch: one order of n samples, shared by all ranks through (seed, epoch),
    dealt out round-robin, so the ranks together see each drawn sample exactly once. The order is a
    shuffle of range(n), or with `labels` a balanced draw (each class equally often, balance.py)."""
    generator = _generator(seed, epoch, 0)
    order = torch.randperm(n, generator=generator) if labels is None else balanced_order(labels, generator)
    return order[world.rank:: world.size]


def _generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A generator that depends only on (seed, epoch, stream): nothing to save for an exact resume."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 16 + stream)


def rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": list(random.getstate()[1]),
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if state.get("python"):
        random.setstate((3, tuple(state["python"]), None))
