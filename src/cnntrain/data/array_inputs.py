"""A user's own array files for a model trained on `data.dataset: arrays`: what predict, explain,
featuremaps and `evaluate --data` read.

`.npy` and NIfTI files hold one sample each; a table file (`.tsv` in the UCR layout, label first and
possibly empty, or `.ts`) holds one sample per row. Each sample is brought to the model's input as
training did: channels first, `data.resize` to data.image_size, padding filled with the training
mean of its channel (`fill`, the checkpoint's normalisation mean), values otherwise as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnntrain.config import DataSettings
from cnntrain.data.array_files import ARRAY_EXTENSIONS, read_sample
from cnntrain.data.array_resize import fit, resize_mode
from cnntrain.data.array_sources import Part, find_parts
from cnntrain.data.arrays import array_size, as_channels_first, labels_of
from cnntrain.data.tables import TABLE_EXTENSIONS, is_table, read_table
from cnntrain.errors import DataError

INPUT_EXTENSIONS = (*ARRAY_EXTENSIONS, *TABLE_EXTENSIONS)


def is_array_data(data: DataSettings) -> bool:
    """Whether a config's model reads float arrays (data.dataset arrays) rather than image files."""
    return data.dataset == "arrays"


@dataclass
class ArrayInputs:
    x: torch.Tensor  # (N, C, *size) float32
    names: list[str]  # a file, or "file:row" for a table's rows


def input_files(inputs: list[str | Path]) -> list[Path]:
    """Files named directly, plus every array or table file under the folders named (sorted)."""
    if not inputs:
        raise DataError("no inputs given; pass .npy, .nii, .nii.gz or .tsv/.ts files, or folders of them")
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(Path(d) / f for d, _, names in os.walk(item) for f in names
                           if f.lower().endswith(INPUT_EXTENSIONS) and not f.startswith("."))
            if not found:
                raise DataError(f"folder {item} holds no arrays ({' '.join(INPUT_EXTENSIONS)})")
            files += found
        elif item.is_file():
            files.append(item)
        else:
            raise DataError(f"{item}: no such file or folder")
    return files


def load_array_inputs(inputs: list[str | Path], data: DataSettings, fill: list[float]) -> ArrayInputs:
    """Every sample of the files (and folders) named, as the model's input."""
    samples, names = [], []
    for path in input_files(inputs):
        if is_table(path):
            table = read_table(path, need_labels=False)
            samples += table.rows
            names += table.names
        elif path.name.lower().endswith(ARRAY_EXTENSIONS):
            samples.append(read_sample(path))
            names.append(str(path))
        else:
            raise DataError(f"{path}: not an array this model reads; pass .npy, .nii, .nii.gz, .tsv or .ts")
    return ArrayInputs(prepare(samples, names, data, fill), names)


def prepare(samples: list[np.ndarray], names: list[str], data: DataSettings, fill: list[float]) -> torch.Tensor:
    size = array_size(data)
    mode = resize_mode(data, len(size))
    out = torch.empty((len(samples), data.channels, *size), dtype=torch.float32)
    for i, (sample, name) in enumerate(zip(samples, names)):
        out[i] = torch.from_numpy(fit(as_channels_first(sample, len(size), data.channels, name), size, mode, name))
    mean = torch.tensor(fill, dtype=torch.float32).view(1, -1, *[1] * len(size)).expand_as(out)
    pad = out.isnan()
    out[pad] = mean[pad]
    return out


def load_labelled_arrays(root: str | Path, data: DataSettings, classes: list[str], fill: list[float]):
    """`evaluate --data`: labelled arrays in any layout training reads (class folders, .npz, tables); the
    test part where the data has one, else all of it. Returns (x, y, names)."""
    parts = find_parts(root)
    chosen = [parts["test"]] if "test" in parts else list(parts.values())
    samples, labels, names = [], [], []
    for part in chosen:
        items = list(part.samples)
        samples += [read_sample(s) if not isinstance(s, np.ndarray) else np.asarray(s, np.float32) for s in items]
        labels += part.labels
        names += part.names
    y = labels_of(Part(samples, labels, names, str(root)), classes)
    return prepare(samples, names, data, fill), y, names
