"""The pictures a run directory keeps current, so a run can be looked at instead of read:

    curves.png                loss, accuracy and learning rate per epoch (after every epoch)
    train_batch.png           the first training batch of epoch 1, as the network receives it
    featuremaps/epoch_NNN.png the fixed validation image's feature maps at each logged epoch
    mistakes.png              the test images the best checkpoint gets wrong (at the end)
    mistakes_gradcam.png      the same, with Grad-CAM: where the model looked for the class it chose
    top_losses.png            the surest of those mistakes, each image beside its Grad-CAM
    calibration.png           the reliability diagram: is it right as often as it is sure? (run/error_analysis.py)
    report.html               all of it on one page (run/report.py)

Training calls `RunOutputs` on rank 0; `cnntrain report` and `cnntrain evaluate` use the functions.
Every file is written atomically (viz/png.py), so a page reloading mid-run never shows half a picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnntrain.run.error_analysis import TOP_LOSSES, Calibration
from cnntrain.run.normalize import Normalizer
from cnntrain.run.rundir import RunDir
from cnntrain.viz.calibration import save_reliability_diagram
from cnntrain.viz.charts import save_curves
from cnntrain.viz.mosaic import (
    MAX_TILES,
    Caption,
    pair_tile,
    sample_tile,
    save_mosaic,
    tiles_image,
    titled_column_image,
    titled_image,
)
from cnntrain.viz.png import save_png

CURVES = "curves.png"
TRAIN_BATCH = "train_batch.png"
MISTAKES = "mistakes.png"
MISTAKES_GRADCAM = "mistakes_gradcam.png"
TOP_LOSSES_PICTURE = "top_losses.png"
CALIBRATION = "calibration.png"
FEATUREMAPS = "featuremaps"
REPORT = "report.html"
WRONG_RED = (185, 28, 28)
NO_MAP = "the model has no layer that still has a map to look at (an MLP)"  # why there is no Grad-CAM


def output_paths(run: RunDir) -> list[Path]:
    """The files beside the checkpoints that a run rewrites (for clearing a killed writer's temp files)."""
    return [run.path / name for name in (CURVES, TRAIN_BATCH, MISTAKES, MISTAKES_GRADCAM, TOP_LOSSES_PICTURE,
                                         CALIBRATION, REPORT)]


def featuremap_frame(epoch: int) -> str:
    return f"{FEATUREMAPS}/epoch_{epoch:03d}.png"


def display_pixels(x: torch.Tensor, normalizer: Normalizer) -> np.ndarray:
    """Undo the normalization of a batch (B, C, *spatial) for display: uint8 pixels as the data held them
    (augmented pixels too: a rotation's corners or a shift's border show as they were filled)."""
    x = x.detach().cpu()
    pixels = normalizer.to(x.device, x.dim() - 2).invert(x)
    if normalizer.unit != 255:
        return display_values(pixels.numpy())
    return pixels.round().clamp(0, 255).to(torch.uint8).numpy()


def display_values(samples: np.ndarray) -> np.ndarray:
    """Samples for pictures as uint8: pixels as they are; float arrays (volts, Hounsfield units) stretched
    per sample from their minimum to their maximum, since they have no fixed range to show."""
    samples = np.asarray(samples)
    if samples.dtype == np.uint8:
        return samples
    flat = samples.reshape(len(samples), -1).astype(np.float64)
    low, high = flat.min(1, keepdims=True), flat.max(1, keepdims=True)
    scaled = (flat - low) / np.where(high > low, high - low, 1.0) * 255
    return np.rint(scaled).astype(np.uint8).reshape(samples.shape)


def save_batch_picture(path: Path, pixels: np.ndarray, labels, classes: list[str]) -> Path:
    """Up to 32 samples (B, C, *spatial) uint8, each captioned with its class."""
    captions = [Caption((classes[int(y)],)) for y in list(labels)[:MAX_TILES]]
    return save_mosaic(pixels[:MAX_TILES], captions, path)


@dataclass
class Mistake:
    sample: int  # index into the evaluated split (or folder)
    true: str
    predicted: str
    prob: float  # the probability the model gave its predicted class


def find_mistakes(labels: np.ndarray, probs: np.ndarray, classes: list[str]) -> list[Mistake]:
    """Every wrong prediction, most confident first (ties by sample index)."""
    labels, probs = np.asarray(labels), np.asarray(probs)
    predicted, confidence = probs.argmax(1), probs.max(1)
    wrong = np.flatnonzero(predicted != labels)
    order = wrong[np.lexsort((wrong, -confidence[wrong]))]
    return [Mistake(int(i), classes[int(labels[i])], classes[int(predicted[i])], float(confidence[i]))
            for i in order]


def save_mistakes_picture(path: Path, samples: np.ndarray, mistakes: list[Mistake], *,
                          heat: np.ndarray | None = None) -> Path | None:
    """The first 32 mistakes as a mosaic captioned true / predicted + probability (with `heat`, each map
    laid over its image); None when there are none."""
    shown = mistakes[:MAX_TILES]
    if not shown:
        Path(path).unlink(missing_ok=True)  # an old picture would show mistakes the model no longer makes
        return None
    return save_mosaic(_pixels(samples, shown), _captions(shown), path, heat=heat)


def save_top_losses_picture(path: Path, samples, mistakes: list[Mistake], *, heat: np.ndarray | None = None,
                            layer: str | None = None, why: str = "") -> Path | None:
    """top_losses.png: the TOP_LOSSES surest mistakes captioned true / predicted + probability, each beside
    its Grad-CAM `heat` (N, *spatial) at `layer`; without heat, the images alone and `why` in the title.
    None when there are no mistakes."""
    shown = mistakes[:TOP_LOSSES]
    if not shown:
        Path(path).unlink(missing_ok=True)  # an old picture would show mistakes the model no longer makes
        return None
    pixels = _pixels(samples, shown)
    title = f"The {len(shown)} wrong answers the model was surest of, surest first"
    if heat is None:
        tiles, columns = [sample_tile(p) for p in pixels], 8
        title += f". No Grad-CAM: {why}"
    else:
        tiles, columns = [pair_tile(p, h) for p, h in zip(pixels, heat)], 4
        title += (f": each image, and beside it its Grad-CAM at layer {layer} for the class it chose "
                  "(brighter: that region raised the wrong answer more)")
    return save_png(titled_image(tiles_image(tiles, _captions(shown), columns=columns), title), path)


def _pixels(samples, shown: list[Mistake]) -> np.ndarray:
    return display_values(np.stack([np.asarray(samples[m.sample]) for m in shown]))


def _captions(shown: list[Mistake]) -> list[Caption]:
    return [Caption((f"true: {m.true}", f"pred: {m.predicted} {m.prob:.0%}"), ((0, 0, 0), WRONG_RED))
            for m in shown]


def save_calibration_picture(path: Path, bins: Calibration, *, title: str) -> Path:
    """calibration.png: the reliability diagram of `bins` (error_analysis.calibration)."""
    return save_reliability_diagram(bins.edges, bins.counts, bins.accuracy, bins.confidence, bins.ece, path,
                                    title=title)


def mistake_heatmaps(model: torch.nn.Module, layers: list, normalizer: Normalizer, samples,
                     mistakes: list[Mistake], classes: list[str]) -> tuple[np.ndarray, str] | None:
    """Grad-CAM of the first 32 mistakes for the class the model chose, at its last layer that still has
    a map: ((N, *spatial) maps, that layer's name). None when there is nothing to show or no such layer
    (an MLP has no map to look at)."""
    from cnntrain.model.attribution import attribution_map, spatial_layers  # deferred: captum takes ~1 s

    maps, shown = spatial_layers(layers), mistakes[:MAX_TILES]
    if not maps or not shown:
        return None
    layer = maps[-1]
    module = dict(model.named_children())[layer.name]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # the map of the model as it predicts: dropout off, batch norm on its running statistics
    try:
        heat = []
        for m in shown:
            sample = samples[m.sample]
            x = (sample if torch.is_tensor(sample) else torch.from_numpy(np.array(sample)))[None].to(device)
            x = normalizer.to(device, x.dim() - 2)(x)
            heat.append(attribution_map(model, x, target=classes.index(m.predicted), method="gradcam",
                                        layer=module).numpy())
    finally:
        model.train(was_training)
    return np.stack(heat), layer.name


def save_featuremap_frame(path: Path, images: dict[str, np.ndarray]) -> Path:
    """One epoch's feature-map grids (layer name -> (H, W, 3)), each titled, stacked top to bottom."""
    return save_png(titled_column_image(images), path)


class RunOutputs:
    """What a training run writes beside its checkpoints after each epoch and at the end (rank 0 only)."""

    def __init__(self, run: RunDir, *, classes: list[str], normalizer: Normalizer, title: str):
        self.run, self.classes, self.normalizer, self.title = run, classes, normalizer, title

    def watch_first_batch(self, engine) -> None:
        """Have the engine hand over its next batch (epoch 1's first) as the model receives it."""

        def first_batch(x: torch.Tensor, y: torch.Tensor) -> None:
            engine.on_batch = None  # only the first one
            pixels = display_pixels(x[:MAX_TILES], self.normalizer)
            save_batch_picture(self.run.path / TRAIN_BATCH, pixels, y[:MAX_TILES].cpu().tolist(), self.classes)

        engine.on_batch = first_batch

    def featuremaps(self, epoch: int, images: dict[str, np.ndarray]) -> None:
        if images:  # an MLP has no conv or pooling layer to show
            save_featuremap_frame(self.run.path / featuremap_frame(epoch), images)

    def curves(self, best_epoch: int | None) -> None:
        write_curves(self.run, best_epoch=best_epoch, title=self.title)


def write_curves(run: RunDir, *, best_epoch: int | None, title: str) -> Path | None:
    """curves.png from metrics.jsonl; None when no epoch is logged yet."""
    records = run.read_metrics()
    if not records:
        return None
    return save_curves(records, run.path / CURVES, best_epoch=best_epoch, title=title)
