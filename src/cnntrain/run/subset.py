"""The part of the data a run trains on when it only wants to prove a point before a long run:

- `train.overfit_batches: N` trains on the same N batches of images every epoch and validates on those
  same images: a model that cannot reach ~100% there cannot learn the task either (a bug in the model,
  the labels or the learning rate), and it shows in minutes instead of after a day of training.
- `--fast-dev-run` (tasks/fast_dev_run.py) keeps one batch of each split: one training step, one
  validation batch and one test batch go through everything a run does.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from cnntrain.config import TrainSettings
from cnntrain.data.splits import Split, Splits


def limit_splits(splits: Splits, train: TrainSettings, *, fast_dev_run: bool = False) -> Splits:
    """The splits a run trains on: all of them, unless overfit_batches or fast_dev_run says otherwise."""
    size = train.batch_size
    if fast_dev_run:
        return replace(splits, train=_take(splits.train, torch.arange(min(size, len(splits.train)))),
                       val=_take(splits.val, torch.arange(min(size, len(splits.val)))),
                       test=_take(splits.test, torch.arange(min(size, len(splits.test)))))
    batches = train.overfit_batches
    if not batches:
        return splits
    # A seeded draw, not the first images: those may all be one class in a sorted folder.
    order = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(train.seed))
    fixed = _take(splits.train, order[: batches * size].sort().values)
    return replace(splits, train=fixed, val=fixed)


def _take(split: Split, index: torch.Tensor) -> Split:
    paths = [split.paths[i] for i in index.tolist()] if split.paths is not None else None
    return Split(split.x.index_select(0, index), split.y.index_select(0, index), paths)
