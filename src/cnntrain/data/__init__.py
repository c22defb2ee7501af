"""Datasets as tensors: synthetic sets, image folders and torchvision sets as uint8, a user's arrays as float32.

`load_data(data, seed)` is the one entry point; the helpers compute normalization
statistics and apply augmentation or translations to batches.
"""

import importlib
import pkgutil

from cnntrain.data.augment import augment_batch, shift_images
from cnntrain.data.datasets import DATASETS, dataset_loader, known_num_classes, list_datasets, load_data
from cnntrain.data.splits import Split, Splits
from cnntrain.data.stats import channel_stats

# Every module of the package is imported, so each dataset's `@register` runs: adding a dataset is one
# new module, with no list here to extend (datasets.py holds the one list of names).
for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
del _module

__all__ = [
    "DATASETS",
    "Split",
    "Splits",
    "augment_batch",
    "channel_stats",
    "dataset_loader",
    "known_num_classes",
    "list_datasets",
    "load_data",
    "shift_images",
]
