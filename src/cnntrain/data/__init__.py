"""Datasets as tensors: synthetic sets, image folders and torchvision sets as uint8, a user's arrays as float32.

`load_data(data, seed)` is the one entry point; the helpers compute normalization
statistics and apply augmentation or translations to batches.
"""

# Importing the dataset modules registers them in DATASETS.
from cnntrain.data import (  # noqa: F401
    arrays,
    imagefolder,
    shapes,
    signals,
    torchvision_sets,
    volumes,
)
from cnntrain.data.augment import augment_batch, shift_images
from cnntrain.data.datasets import DATASETS, known_num_classes, load_data
from cnntrain.data.splits import Split, Splits
from cnntrain.data.stats import channel_stats

__all__ = [
    "DATASETS",
    "Split",
    "Splits",
    "augment_batch",
    "channel_stats",
    "known_num_classes",
    "load_data",
    "shift_images",
]
