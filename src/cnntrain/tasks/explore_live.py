"""What explore.html needs to answer a new input itself: the model as a program for the page's
JavaScript (model/program.py), the checkpoint's normalisation, and a few test samples to pick from.

The page recomputes every layer when the learner draws, drops an image or picks a sample, so it carries
every weight. A model past LIVE_PARAMS parameters or LIVE_MACS multiply-adds per input (ResNet-18 at 224:
11.7 M and 1.8 G) would make a page of tens of megabytes that answers in seconds; such a page, and one
with a layer the browser does not compute, says why and keeps the one input it was written for.
"""

from __future__ import annotations

import base64
from dataclasses import replace

import numpy as np
import torch

from cnntrain.data import load_data
from cnntrain.errors import CnntrainError
from cnntrain.model.program import page_program

LIVE_PARAMS = 3_000_000  # 12 MB of float32 weights, 16 MB as base64 in the page
LIVE_MACS = 150_000_000  # about a second of plain JavaScript per input
SAMPLES = 8  # test samples carried in the page


def live_data(subject, pixels: np.ndarray, arrays: dict, encode) -> dict:
    """The page's `live` entry; the program's weights go into `arrays` (key -> base64 via `encode`),
    sharing the keys the up-close arithmetic uses."""
    dims = pixels.ndim - 1
    normalize = subject.normalizer.to("cpu", dims)
    entry = {"kind": ("signal", "image", "volume")[dims - 1], "shape": list(pixels.shape),
             "norm": {"scale": normalize.scale.flatten().tolist(), "shift": normalize.shift.flatten().tolist()},
             "pixels": _pixels(pixels), "samples": _samples(subject, pixels.shape), "classes": subject.classes,
             "program": None, "why": ""}
    params = sum(p.numel() for p in subject.model.parameters())
    macs = sum(info.macs for info in subject.layers)
    if params > LIVE_PARAMS or macs > LIVE_MACS:
        entry["why"] = (f"the model has {params:,} parameters and {macs:,} multiply-adds per input: in the page "
                        f"that is about {4 * params / 1e6 * 4 / 3:.0f} MB and seconds per change (the limit is "
                        f"{LIVE_PARAMS:,} parameters and {LIVE_MACS:,} multiply-adds)")
        return entry
    program = page_program(subject.model, dims)
    if program.layers is None:
        entry["why"] = program.why
        return entry
    for key, array in program.arrays.items():
        arrays.setdefault(key, encode(array))
    entry["program"] = program.layers
    return entry


def _pixels(array: np.ndarray) -> dict:
    """An input as the page reads it: uint8 or float32 values in pixel units (0..255), base64."""
    if array.dtype == np.uint8:
        return {"dtype": "u8", "b64": base64.b64encode(array.tobytes()).decode("ascii")}
    return {"dtype": "f4", "b64": base64.b64encode(np.ascontiguousarray(array, "<f4").tobytes()).decode("ascii")}


def _samples(subject, shape: tuple) -> list:
    """The first SAMPLES test samples of the config's data, when they have the page's input shape; none
    when the data cannot be read here (a folder moved away)."""
    # Synthetic data draws each split from its own seeded generator: small train and val sizes give the
    # same test split without generating the training images (as compare does). The samples are a
    # convenience: never a download for them (a data set not on disk gives none).
    data = replace(subject.config.data, train_size=1, val_size=0, download=False)
    try:
        splits = load_data(data, subject.config.train.seed)
    except (CnntrainError, OSError):
        return []
    split = splits.test
    classes = subject.classes or splits.classes
    samples = []
    for i in range(min(SAMPLES, len(split))):
        x = split.x[i].numpy() if isinstance(split.x, torch.Tensor) else np.asarray(split.x[i])
        if tuple(x.shape) != tuple(shape):
            return []
        label = int(split.y[i])
        name = classes[label] if classes and label < len(classes) else f"class {label}"
        samples.append({"label": f"test sample {i}: {name}", **_pixels(x)})
    return samples
