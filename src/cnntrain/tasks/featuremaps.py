"""`cnntrain featuremaps`: what each layer makes of one image, as pictures, raw arrays and a web page.

    from cnntrain.tasks.featuremaps import featuremaps
    result = featuremaps("photo.jpg", config="configs/edges.yaml")     # fixed Sobel filters
    result = featuremaps("photo.jpg", checkpoint="runs/cnn/1/checkpoints/best.pt")
    np.load(result.out_dir / "00_sobel.npy")                          # (C, H, W) float32

The image is preprocessed as the config's data would be (channels, resize to data.image_size;
with image_size null it keeps its own size). With a checkpoint the input is standardised with the
checkpoint's mean and std; with only a config there is no training data, so there is no
normalisation either: the network sees the pixels / 255, in [0, 1]. An untrained model is seeded
by train.seed, so the same config always shows the same random filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from cnntrain.atomic import check_writable
from cnntrain.config.loader import Config, load_config
from cnntrain.data import load_data
from cnntrain.data.array_inputs import is_array_data
from cnntrain.data.datasets import known_num_classes
from cnntrain.data.files import load_sample
from cnntrain.errors import CnntrainError, ConfigError, DataError
from cnntrain.model.builder import build_model
from cnntrain.model.capture import capture, default_layers, select_layers
from cnntrain.model.init import given_normalization, init_source, initialize, sized_for_init
from cnntrain.run.load import load_trained
from cnntrain.run.normalize import Normalizer
from cnntrain.run.outputs import display_values
from cnntrain.run.rundir import run_dir_of_checkpoint
from cnntrain.viz.charts import values_bar_image
from cnntrain.viz.page import write_page
from cnntrain.viz.pictures import feature_grid_image, filters_image, save_feature_grid, save_filters, save_image
from cnntrain.viz.png import save_png

SCALES = ("channel", "layer")
SAMPLE_SIZE = 64


@dataclass
class Subject:
    """The model to look into, the config it came from, and how its input is standardised."""

    config: Config
    model: torch.nn.Module
    layers: list  # LayerInfo of the top-level layers, with the shapes this input gives
    normalizer: Normalizer
    normalization: str  # in words, for the report
    run_dir: Path | None  # the checkpoint's run directory; None for a bare config
    step: int  # the checkpoint's epoch (0 untrained): the TensorBoard step
    classes: list | None = None  # the checkpoint's class names; None for a bare config


@dataclass
class LayerMaps:
    """One layer's outputs for the image; file names are relative to the output folder."""

    index: str
    name: str
    type: str
    shape: list
    stats: dict
    grid: str
    npy: str
    filters: str | None = None


@dataclass
class FeatureMapsResult:
    out_dir: Path
    html: Path
    image: str
    normalization: str
    layers: list = field(default_factory=list)  # LayerMaps


def load_subject(*, checkpoint=None, config=None, image=None, overrides=(),
                 sample: bool = False) -> tuple[Subject, np.ndarray | None]:
    """The model of a checkpoint (trained) or of a config (untrained, seeded by train.seed), and the
    image read as that model's input, (C, *spatial); a null image_size takes the image's own size.
    With no image and `sample`, the input is the first test image of the config's own data."""

    if checkpoint is not None and config is not None:
        raise ConfigError("give --checkpoint or --config, not both: a checkpoint carries the config its model "
                          "was trained with (change it with --set)")
    if checkpoint is None and config is None:
        raise ConfigError("give --checkpoint CKPT to look into a trained model, or --config CONFIG for an "
                          "untrained one (hand-designed filters such as configs/edges.yaml stay as designed)")
    if checkpoint is not None:
        return _trained_subject(checkpoint, image, overrides, sample)
    cfg = load_config(config, overrides)
    pixels = _input(image, cfg, sample)
    cfg = _sized(cfg, pixels)
    torch.manual_seed(cfg.train.seed)
    source = init_source(cfg)
    cfg = sized_for_init(cfg, source)
    built = build_model(cfg, num_classes=known_num_classes(cfg.data, cfg.where("data", "dataset")))
    initialize(built, cfg, source=source)  # model.init's weights, train.freeze
    given = given_normalization(cfg, source)  # data.mean/std, or model.init's torchvision weights'
    unit = 1.0 if is_array_data(cfg.data) else 255.0  # float arrays are taken in their own units
    if given is not None:
        normalizer = Normalizer(**given, unit=unit)
        how = f"{_formula(normalizer)}, mean {_numbers(normalizer.mean)}, std {_numbers(normalizer.std)}"
    else:
        normalizer = Normalizer([0.0] * cfg.data.channels, [1.0] * cfg.data.channels, unit)
        how = ("none: a model from a config sees the values as they are" if unit == 1 else
               "none: a model from a config sees the pixels / 255, in [0, 1]")
    return Subject(cfg, built.model.eval(), built.layers, normalizer, how, None, 0), pixels


def _formula(normalizer: Normalizer) -> str:
    return "(pixels / 255 - mean) / std" if normalizer.unit == 255 else "(x - mean) / std"


def _numbers(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _trained_subject(checkpoint, image, overrides, sample: bool) -> tuple[Subject, np.ndarray | None]:

    trained = load_trained(checkpoint, overrides, device="cpu")
    pixels = _input(image, trained.config, sample)
    config, layers = trained.config, trained.built.layers
    if pixels is not None and config.data.image_size is None:
        # The weights do not depend on the size; rebuilding on the meta device only fills in the shapes.
        config = _sized(config, pixels)
        layers = build_model(config, num_classes=len(trained.classes), device="meta").layers
    mean, std = _numbers(trained.normalizer.mean), _numbers(trained.normalizer.std)
    subject = Subject(config, trained.model, layers, trained.normalizer,
                      f"the checkpoint's: {_formula(trained.normalizer)}, mean {mean}, std {std}",
                      run_dir_of_checkpoint(trained.path).path, trained.epoch or 0, trained.classes)
    return subject, pixels


def _input(image, config: Config, sample: bool) -> np.ndarray | None:

    if image is not None:
        if Path(image).is_dir():
            raise DataError(f"--image {image} is a folder; give one image file in it (or a .npy array)")
        return load_sample(image, config.data)
    return data_sample(config) if sample else None


def data_sample(config: Config) -> np.ndarray:
    """The first test image of the config's own data, (C, *spatial) uint8: built-in data needs no file.
    A config that keeps images at their own size (image_size null) gets SAMPLE_SIZE pixels a side."""

    data = config.data
    if data.image_size is None:
        data = replace(data, image_size=SAMPLE_SIZE)
    splits = load_data(data, config.train.seed)
    split = splits.test if len(splits.test) else splits.val
    return split.x[0].numpy()


def _sized(config: Config, pixels) -> Config:
    """A null image_size takes the input's size, so every shape is known."""
    if pixels is None or config.data.image_size is not None:
        return config
    return config.replace(data={"image_size": [int(s) for s in pixels.shape[1:]]})


def list_model_layers(*, checkpoint=None, config=None, image=None, overrides=()) -> tuple[list, set]:
    """(every top-level LayerInfo, names of the default layers), for `--list-layers`. With an image,
    a null image_size takes its size, so every shape is known."""
    subject, _ = load_subject(checkpoint=checkpoint, config=config, image=image, overrides=overrides)
    return subject.layers, {info.name for info in default_layers(subject.layers)}


def featuremaps(image: str | Path | None = None, *, checkpoint=None, config=None, layers: list[str] | None = None,
                out: str | Path | None = None, scale: str = "channel", tensorboard: str | Path | None = None,
                overrides=()) -> FeatureMapsResult:
    """Capture the chosen layers' outputs for one image and write pictures, .npy arrays and index.html.
    With no image, the first test image of the config's own data."""
    if scale not in SCALES:
        raise ConfigError(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if out is not None:
        check_writable(out)
    if tensorboard is not None and not Path(tensorboard).is_dir():
        raise CnntrainError(f"--tensorboard {tensorboard}: no such run directory; pass one written by "
                            "`cnntrain train` (e.g. runs/cnn/1)")
    subject, pixels = load_subject(checkpoint=checkpoint, config=config, image=image, overrides=overrides,
                                   sample=True)
    image = Path(image) if image is not None else Path(f"{subject.config.data.dataset}-test-0.png")
    chosen = _choose(subject.layers, layers)
    maps = _capture(subject, pixels, chosen)
    out_dir = Path(out) if out is not None else _default_out(subject, image)
    result = _write(subject, pixels, chosen, maps, out_dir, scale, image.name)
    if tensorboard is not None:
        _log_tensorboard(Path(tensorboard), result, maps, subject, scale, image.stem)
    return result


def _choose(layers: list, refs: list[str] | None) -> list:
    """--layers by name or index, repeatable or comma-separated; default: conv, pool, residual."""
    refs = [r.strip() for ref in refs or [] for r in str(ref).split(",") if r.strip()]
    chosen = select_layers(layers, refs) if refs else default_layers(layers)
    if not chosen:
        raise CnntrainError("the model has no conv, pool or residual layer to show; pick layers with --layers "
                            f"(by name or index): {', '.join(f'{i.index}:{i.name}' for i in layers)}")
    return chosen


def _capture(subject: Subject, pixels: np.ndarray, chosen: list) -> dict:
    """name -> (C, *spatial) float32 output of each chosen layer for the one image."""
    x = torch.from_numpy(np.array(pixels))[None]  # (1, C, *spatial); a copy: decoded arrays are read-only
    x = subject.normalizer.to("cpu", x.dim() - 2)(x)
    # Stop after the last chosen layer: what follows (flatten, linear) may want another input size.
    last = max(int(info.index) for info in chosen)
    names = [info.name for info in chosen]
    try:
        outputs = capture(subject.model[: last + 1], x, names)
    except RuntimeError as err:
        raise CnntrainError(f"the model cannot take this input of {' x '.join(map(str, pixels.shape))}: "
                            f"{str(err).splitlines()[0]}") from None
    return {name: outputs[name][0].numpy().astype(np.float32) for name in names}


def _default_out(subject: Subject, image: Path) -> Path:
    if subject.run_dir is not None:
        return subject.run_dir / "featuremaps" / image.stem
    return Path("featuremaps") / f"{subject.config.name}-{image.stem}"


def layer_stats(maps: np.ndarray) -> dict:
    """min, max, mean, std and sparsity (the fraction of exact zeros, which ReLU makes)."""
    values = maps.astype(np.float64)
    return {"min": float(values.min()), "max": float(values.max()), "mean": float(values.mean()),
            "std": float(values.std()), "sparsity": float((values == 0).mean())}


def _write(subject, pixels, chosen, maps, out_dir: Path, scale: str, image_name: str) -> FeatureMapsResult:

    out_dir.mkdir(parents=True, exist_ok=True)
    shown = pixels if pixels.dtype == np.uint8 else pixels / 255.0
    if subject.normalizer.unit != 255:  # float arrays: no fixed range, stretched to their own
        shown = display_values(pixels[None])[0]
    save_image(shown, out_dir / "input.png")
    width = max(2, len(str(len(subject.layers) - 1)))
    modules = dict(subject.model.named_children())
    entries = []
    for info in chosen:
        stem = f"{int(info.index):0{width}d}_{_safe(info.name)}"
        array = maps[info.name]
        np.save(out_dir / f"{stem}.npy", array)
        title = f"#{info.index} {info.name} ({info.type}): {' x '.join(map(str, array.shape))}"
        if one_value_each(array):  # [F] of a linear or flatten, [C, 1, 1] after a global pool
            save_png(values_bar_image(array, title=title, xlabel="feature" if array.ndim == 1 else "channel"),
                     out_dir / f"{stem}.png")
        else:
            save_feature_grid(array, out_dir / f"{stem}.png", scale=scale, title=title,
                              names=kernel_names(subject.config, info.name))
        entry = LayerMaps(info.index, info.name, info.type, list(array.shape), layer_stats(array),
                          f"{stem}.png", f"{stem}.npy")
        weight = conv_weight(modules[info.name])
        if weight is not None:
            save_filters(weight, out_dir / f"{stem}_filters.png", rgb=_sees_colour(info, subject),
                         names=kernel_names(subject.config, info.name))
            entry.filters = f"{stem}_filters.png"
        entries.append(entry)
    title = f"Feature maps of {subject.config.name}: {image_name}"
    html = write_page(out_dir / "index.html", "featuremaps.html", title=title, input_image="input.png",
                      layers=[vars(e) for e in entries])
    return FeatureMapsResult(out_dir, html, image_name, subject.normalization, entries)


def kernel_names(config: Config, name: str) -> list[str] | None:
    """The hand-designed kernels a conv layer was given by name (`weights: [sobel_x, sobel_y]`), to caption
    its filters with; None for learned or numeric weights."""
    for layer in config.model.layers:
        args = next(iter(layer.values()), None) if isinstance(layer, dict) and len(layer) == 1 else None
        if isinstance(args, dict) and args.get("name") == name:
            weights = args.get("weights")
            weights = [weights] if isinstance(weights, str) else weights
            return weights if isinstance(weights, list) and all(isinstance(w, str) for w in weights) else None
    return None


def one_value_each(array: np.ndarray) -> bool:
    """A vector, or maps of a single pixel: one number per channel, drawn as bars on one scale."""
    return array.ndim == 1 or all(side == 1 for side in array.shape[1:])


def _safe(name: str) -> str:
    """A layer name as a portable file name part."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)


def conv_weight(module: torch.nn.Module) -> np.ndarray | None:
    """A conv layer's filters as (out, in, *kernel); None for any other layer."""
    if not isinstance(module, torch.nn.modules.conv._ConvNd):
        return None
    weight = module.weight.detach().float().cpu().numpy()
    return weight.swapaxes(0, 1) if module.transposed else weight  # transposed convs store (in, out, ...)


def _sees_colour(info, subject: Subject) -> bool:
    """A first layer on RGB input: its filters are colour patches of the image."""
    return info.index == subject.layers[0].index and info.in_shape[0] == 3 and len(info.in_shape) == 3


def _log_tensorboard(run: Path, result: FeatureMapsResult, maps: dict, subject, scale: str, stem: str) -> None:
    from cnntrain.run.tblog import TensorBoardLog  # deferred: tensorboard takes ~1 s to import

    modules = dict(subject.model.named_children())
    images = {}
    for entry in result.layers:
        array = maps[entry.name]
        images[entry.name] = (values_bar_image(array, title=entry.name, xlabel="channel") if one_value_each(array)
                              else feature_grid_image(array, scale=scale))
        weight = conv_weight(modules[entry.name])
        if weight is not None:
            info = next(i for i in subject.layers if i.name == entry.name)
            images[f"{entry.name}_filters"] = filters_image(weight, rgb=_sees_colour(info, subject))
    log = TensorBoardLog(run)
    try:
        log.images(f"featuremaps/{stem}", images, subject.step)
    finally:
        log.close()
