"""Stratified K-fold cross-validation over train+val: which samples each fold holds out.

The pool is the training split followed by the validation split, as the dataset's loader gives them;
the test split is never touched. Fold `i` of `k` validates on the pool samples `held_out(...)[i]`
and trains on the rest. The folds depend only on the labels, `k` and the seed, so a fold's run
directory (its config says `data.folds` and `data.fold`) reruns and resumes on the same samples.
"""

from __future__ import annotations

from collections import Counter

import torch

from cnntrain.data.splits import Split, Splits, digest
from cnntrain.errors import DataError

_SEED_SALT = 0x6F6C6473  # the folds draw from their own generator, not the loaders' (b"olds")


def pool(splits: Splits) -> Split:
    """train + val as one split: the samples cross-validation deals into folds."""
    paths = None
    if splits.train.paths is not None and splits.val.paths is not None:
        paths = splits.train.paths + splits.val.paths
    return Split(torch.cat([splits.train.x, splits.val.x]), torch.cat([splits.train.y, splits.val.y]), paths)


def held_out(labels: torch.Tensor, k: int, seed: int, classes: list[str] | None = None) -> list[torch.Tensor]:
    """For each of `k` folds, the sorted indices (into `labels`) it validates on.

    Stratified: each class is shuffled and dealt round-robin, so every fold holds each class's share
    (to one sample) and every sample is held out exactly once.
    """
    counts = Counter(labels.tolist())
    if k < 2:
        raise DataError(f"--folds {k}: cross-validation needs at least 2 folds")
    rarest, smallest = min(counts.items(), key=lambda item: (item[1], item[0]))
    if k > smallest:
        name = classes[rarest] if classes else str(rarest)
        raise DataError(f"--folds {k} is more than the {smallest} samples of class '{name}' in train+val: every "
                        f"fold must hold out some of each class; use --folds {smallest} or fewer")
    gen = torch.Generator().manual_seed(seed ^ _SEED_SALT)
    folds: list[list[torch.Tensor]] = [[] for _ in range(k)]
    dealt = 0
    for label in sorted(counts):
        idx = (labels == label).nonzero().squeeze(1)
        idx = idx[torch.randperm(idx.numel(), generator=gen)]
        for i in range(k):  # the deal goes on where the last class stopped: fold sizes differ by one at most
            folds[(dealt + i) % k].append(idx[i::k])
        dealt += idx.numel()
    return [torch.sort(torch.cat(parts)).values for parts in folds]


def fold_splits(splits: Splits, k: int, fold: int, seed: int) -> Splits:
    """The splits of fold `fold` (0-based) of `k`: train and val dealt anew from the pool, test as it was."""
    if not 0 <= fold < k:
        raise DataError(f"data.fold is {fold}, but data.folds={k} has folds 0 to {k - 1}")
    everything = pool(splits)
    held = held_out(everything.y, k, seed, splits.classes)[fold]
    keep = torch.ones(len(everything), dtype=torch.bool)
    keep[held] = False
    train = _subset(everything, keep.nonzero().squeeze(1))
    val = _subset(everything, held)
    return Splits(train, val, splits.test, splits.classes, digest(splits.fingerprint, "folds", k, fold, seed),
                  splits.warnings)


def _subset(split: Split, index: torch.Tensor) -> Split:
    paths = [split.paths[i] for i in index.tolist()] if split.paths is not None else None
    return Split(split.x[index], split.y[index], paths)
