"""Dataset name -> loader function (and class names, where they are fixed), filled by `@register`.

The one list of dataset names: `data.dataset` is checked against it here (the config layer never
imports data), and `cnntrain schema` takes its choices from `list_datasets()`. The package's
`__init__` imports every module beside this one, so a new dataset is one module with `@register`.
"""

from __future__ import annotations

from typing import Callable

import torch

from cnntrain.config import DataSettings
from cnntrain.data.crossval import fold_splits
from cnntrain.data.splits import Splits
from cnntrain.errors import DataError, did_you_mean

Loader = Callable[[DataSettings, int], Splits]

DATASETS: dict[str, Loader] = {}
_FIXED_CLASSES: dict[str, list[str]] = {}  # the built-in sets' classes, known before any data loads


def register(name: str, classes: list[str] | None = None) -> Callable[[Loader], Loader]:
    """Add a loader under `name`; importing its module makes it available."""

    def add(loader: Loader) -> Loader:
        assert name not in DATASETS, f"dataset {name!r} registered twice"
        DATASETS[name] = loader
        if classes is not None:
            _FIXED_CLASSES[name] = list(classes)
        return loader

    return add


def list_datasets() -> list[str]:
    return sorted(DATASETS)


def dataset_loader(name, where: str | None = None) -> Loader:
    """The loader registered as `name`; an unknown name names the key (at `where`, a config's file:line)
    and the nearest registered name."""
    loader = DATASETS.get(name) if isinstance(name, str) else None
    if loader is None:
        at = f"{where}: " if where else ""
        raise DataError(f"{at}unknown data.dataset {name!r}{did_you_mean(name, list_datasets())}")
    return loader


def known_num_classes(data: DataSettings, where: str | None = None) -> int | None:
    """The output width a model has before any data loads: data.num_classes, or a built-in dataset's."""
    dataset_loader(data.dataset, where)
    if data.num_classes:
        return data.num_classes
    classes = _FIXED_CLASSES.get(data.dataset)
    return len(classes) if classes else None


def load_data(data: DataSettings, seed: int, where: str | None = None) -> Splits:
    """Build the train/val/test splits the config's `data` section describes.

    `data` is the resolved section (`config.data`); `seed` makes synthetic data and
    every random split reproducible; `where` places data.dataset in its config for an error.
    """
    splits = dataset_loader(data.dataset, where)(data, seed)
    _check(splits)
    if data.folds:  # cross-validation: this fold's train and val, dealt from train+val
        splits = fold_splits(splits, data.folds, data.fold, seed)
    return splits


def _check(splits: Splits) -> None:
    """Invariants every loader keeps: a failure is a loader bug, not the user's."""
    shape = splits.train.x.shape[1:]
    for split in (splits.train, splits.val, splits.test):
        assert split.x.dtype in (torch.uint8, torch.float32), split.x.dtype  # images, arrays
        assert split.y.dtype == torch.int64, split.y.dtype
        assert split.x.shape[1:] == shape and split.x.shape[0] == split.y.shape[0]
        assert split.paths is None or len(split.paths) == len(split.y)
