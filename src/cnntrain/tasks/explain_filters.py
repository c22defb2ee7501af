"""`cnntrain explain --filters LAYER`: what each filter (channel) of a layer looks for.

    from cnntrain.tasks.explain_filters import explain_filters
    result = explain_filters("runs/mnist_cnn/1", "conv2", channels=[0, 1, 2])
    np.load(result.array)          # (3, C, H, W) float32 pixels in [0, 1], one input per channel

Activation maximisation (model/maximize.py): for each channel, the input that excites it most on
average, found by regularised gradient ascent from grey. A conv layer is taken together with the
norms and activations that follow it, as the network uses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnntrain.atomic import atomic_writer
from cnntrain.errors import CnntrainError
from cnntrain.model.capture import select_layers
from cnntrain.model.maximize import STEPS, maximize_channels, split_channelwise
from cnntrain.run.load import Trained
from cnntrain.run.rundir import run_dir_of_checkpoint
from cnntrain.tasks.explain import load_explainable
from cnntrain.viz.heatmaps import patterns_image
from cnntrain.viz.png import save_png

MAX_CHANNELS = 64  # the default: a layer's first channels, as many as a grid stays readable with


@dataclass
class FilterPatterns:
    layer: str
    channels: list[int]
    picture: Path  # the grid PNG, one tile per channel
    array: Path  # the .npy, (K, C, *spatial) float32 pixels in [0, 1]

    def as_dict(self) -> dict:
        """The `explain --filters --json` form; its keys are an interface."""
        return {"layer": self.layer, "channels": self.channels, "picture": str(self.picture),
                "array": str(self.array)}


def explain_filters(checkpoint, layer: str, *, channels: list | None = None, steps: int | None = None, out=None,
                    tensorboard=None, overrides=()) -> FilterPatterns:
    """The input that maximises each chosen channel of `layer` (name or index) on average; default
    channels: the first MAX_CHANNELS. Writes filters_<layer>.png and .npy; `tensorboard` (a run
    directory) also gets the grid."""
    steps = STEPS if steps is None else steps
    if steps < 1:
        raise CnntrainError(f"--steps must be at least 1, got {steps}")
    if tensorboard is not None and not Path(tensorboard).is_dir():
        raise CnntrainError(f"--tensorboard {tensorboard}: no such run directory; pass one written by "
                            "`cnntrain train` (e.g. runs/cnn/1)")
    trained = load_explainable(checkpoint, overrides)
    layers = trained.layers
    (info,) = select_layers(layers, [str(layer)])
    chosen = parse_channels(channels, info)
    shape = _input_shape(trained)
    body, head = split_channelwise(layers, info)
    split, end = int(body[-1].index) + 1, int((head or body)[-1].index) + 1
    to_input = trained.normalizer.to(trained.device, len(shape) - 1)
    patterns = maximize_channels(trained.model[:split], trained.model[split:end], chosen, input_shape=shape,
                                 to_input=to_input, steps=steps, seed=trained.config.train.seed,
                                 device=trained.device).numpy()
    after = [i.name for i in body[1:] + head]
    upto = f" (with {', '.join(after)})" if after else ""
    title = f"What each channel of {info.name}{upto} looks for: {trained.config.name}, {steps} steps"
    image = patterns_image(patterns, chosen, title=title)
    out_dir = Path(out) if out is not None else run_dir_of_checkpoint(trained.path).path / "explain"
    result = _write(out_dir, info.name, chosen, patterns, image)
    if tensorboard is not None:
        _log_tensorboard(Path(tensorboard), info.name, image, trained.epoch or 0)
    return result


def parse_channels(channels: list | None, info) -> list[int]:
    """--channels as ints, repeatable or comma-separated, each below the layer's channel count."""
    count = int(info.out_shape[0])
    if not channels:
        return list(range(min(count, MAX_CHANNELS)))
    chosen = []
    for part in (p.strip() for item in channels for p in str(item).split(",") if p.strip()):
        if not re.fullmatch(r"\d+", part) or int(part) >= count:
            raise CnntrainError(f"--channels {part!r}: {info.name} has channels 0 to {count - 1}")
        chosen.append(int(part))
    return list(dict.fromkeys(chosen))  # in the order given, each once


def _input_shape(trained: Trained) -> tuple:
    shape = trained.input_shape or trained.config.input_shape()
    if any(s is None for s in shape):
        raise CnntrainError(f"{trained.path}: the input size is unknown (data.image_size null and no size in the "
                            "checkpoint); pass it with --set data.image_size=[H,W]")
    return tuple(int(s) for s in shape)


def _write(out_dir: Path, layer: str, channels: list[int], patterns: np.ndarray, image: np.ndarray) -> FilterPatterns:
    stem = "filters_" + re.sub(r"[^A-Za-z0-9_-]+", "_", layer)
    out_dir.mkdir(parents=True, exist_ok=True)
    array = out_dir / f"{stem}.npy"
    with atomic_writer(array, "wb") as f:
        np.save(f, patterns.astype(np.float32))
    picture = save_png(image, out_dir / f"{stem}.png")
    return FilterPatterns(layer, channels, picture, array)


def _log_tensorboard(run: Path, layer: str, image: np.ndarray, step: int) -> None:
    from cnntrain.run.tblog import TensorBoardLog  # deferred: tensorboard takes ~1 s to import

    log = TensorBoardLog(run)
    try:
        log.images("explain/filters", {layer: image}, step)
    finally:
        log.close()
