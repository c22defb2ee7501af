"""The config's sections as typed, frozen objects: `config.train.lr`, never `config.train["lr"]`.

keys.py stays the one place a key is declared (its type, default, limits, help, validation, the schema and
`--set`); these classes are how code reads the values. Each field is a key of keys.py's table for its
section, in the table's order, with the table's default (`_default`). A misspelt key is an AttributeError
at the line that wrote it (a type checker and an editor flag it before that), not a KeyError epochs later;
assigning one raises FrozenInstanceError.

Written out rather than generated from the table with dataclasses.make_dataclass: a type checker and an
editor only see annotations written in the source. tests/config/test_settings.py holds the two together:
the fields are the table's keys in its order, each annotation names the table's types, each default is
the table's; a key added to the table without a field fails there (and every config load, as an unexpected
keyword).

Frozen is shallow: a list or mapping inside (model.layers, data.augment, train.freeze) is a plain list or
dict, so the config serialises unchanged; nothing changes one in place, and Config.replace copies them.
Validation is keys.validate_section's, before a section is built; the constructor checks nothing, so a
test can build a section with the keys it needs, e.g. `DataSettings(dataset="arrays", root="x.npz")`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cnntrain.config.keys import DATA, MODEL, TRAIN, Field


def _default(table: dict[str, Field], key: str) -> Any:
    """The table's default as a dataclass default; a list or dict is copied for each object."""
    value = table[key].default
    if isinstance(value, (list, dict)):
        return field(default_factory=lambda: copy.deepcopy(value))
    return field(default=value)


@dataclass(frozen=True, slots=True)
class DataSettings:
    """The `data` section (keys.DATA): where the images come from, their shape and splits."""

    dataset: str = _default(DATA, "dataset")
    root: str = _default(DATA, "root")
    channels: int = _default(DATA, "channels")
    image_size: int | list[int] | None = _default(DATA, "image_size")
    num_classes: int | None = _default(DATA, "num_classes")
    train_size: int = _default(DATA, "train_size")
    val_size: int = _default(DATA, "val_size")
    test_size: int = _default(DATA, "test_size")
    placement: str = _default(DATA, "placement")
    val_fraction: float = _default(DATA, "val_fraction")
    test_fraction: float = _default(DATA, "test_fraction")
    download: bool = _default(DATA, "download")
    cache_dir: str | None = _default(DATA, "cache_dir")
    on_corrupt: str = _default(DATA, "on_corrupt")
    normalize: bool = _default(DATA, "normalize")
    mean: list[float] | None = _default(DATA, "mean")
    std: list[float] | None = _default(DATA, "std")
    resize: str | None = _default(DATA, "resize")
    augment: dict[str, Any] = _default(DATA, "augment")  # keys.AUGMENT's keys; a plain dict
    folds: int | None = _default(DATA, "folds")
    fold: int = _default(DATA, "fold")
    sampler: str = _default(DATA, "sampler")


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """The `model` section (keys.MODEL): layers and blocks stay the plain lists and dicts of the YAML."""

    layers: list[Any] = _default(MODEL, "layers")
    blocks: dict[str, Any] = _default(MODEL, "blocks")
    init: str | None = _default(MODEL, "init")


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """The `train` section (keys.TRAIN): optimisation, schedule, precision and logging."""

    epochs: int = _default(TRAIN, "epochs")
    batch_size: int = _default(TRAIN, "batch_size")
    eval_batch_size: int = _default(TRAIN, "eval_batch_size")
    seed: int = _default(TRAIN, "seed")
    device: str = _default(TRAIN, "device")
    optimizer: str = _default(TRAIN, "optimizer")
    lr: float = _default(TRAIN, "lr")
    momentum: float = _default(TRAIN, "momentum")
    nesterov: bool = _default(TRAIN, "nesterov")
    weight_decay: float = _default(TRAIN, "weight_decay")
    scheduler: str = _default(TRAIN, "scheduler")
    step_size: int = _default(TRAIN, "step_size")
    gamma: float = _default(TRAIN, "gamma")
    plateau_patience: int = _default(TRAIN, "plateau_patience")
    warmup_epochs: int = _default(TRAIN, "warmup_epochs")
    label_smoothing: float = _default(TRAIN, "label_smoothing")
    grad_clip: float | None = _default(TRAIN, "grad_clip")
    accumulate: int = _default(TRAIN, "accumulate")
    class_weights: str | list[float] | dict[str, float] | None = _default(TRAIN, "class_weights")
    ema: float | None = _default(TRAIN, "ema")
    early_stopping: int | None = _default(TRAIN, "early_stopping")
    monitor: str = _default(TRAIN, "monitor")
    deterministic: bool = _default(TRAIN, "deterministic")
    threads: int | None = _default(TRAIN, "threads")
    threads_follow_load: bool = _default(TRAIN, "threads_follow_load")
    precision: str = _default(TRAIN, "precision")
    channels_last: bool | None = _default(TRAIN, "channels_last")
    compile: bool = _default(TRAIN, "compile")
    featuremap_every: int = _default(TRAIN, "featuremap_every")
    histograms: bool = _default(TRAIN, "histograms")
    graph: bool = _default(TRAIN, "graph")
    freeze: list[str] | dict[str, int] = _default(TRAIN, "freeze")
    overfit_batches: int = _default(TRAIN, "overfit_batches")


# Section name -> its class: what the loader builds each validated section into.
SETTINGS = {"data": DataSettings, "model": ModelSettings, "train": TrainSettings}
