"""Every config key outside model.layers: its type, default, allowed values and meaning.

Defaults live here and nowhere else. `loader.py` validates against this table, `model/schema.py` turns it
into JSON Schema and `--set` checks against it, so a key added here is checked and autocompleted with no
other edit but its typed field in `settings.py`, which code reads (`config.train.lr`); a test holds the two
together. The checks below work on the section as the YAML gave it, a dict, before it becomes that object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from cnntrain.errors import ConfigError, check_keys, did_you_mean

SECTIONS = ("data", "model", "train")


@dataclass(frozen=True)
class Field:
    default: Any
    types: tuple  # accepted Python types after YAML parsing; None in `types` allows null
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None

    def check(self, value, where: str) -> Any:
        if value is None and type(None) in self.types:
            return value
        # bool is an int subclass in Python; a YAML `true` is not a size.
        ok = isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)
        if isinstance(value, int) and not isinstance(value, bool) and float in self.types:
            ok, value = True, float(value)
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in self.types)
            raise ConfigError(f"{where}: expected {names}, got {value!r} ({type(value).__name__})")
        if self.choices and value not in self.choices:

            raise ConfigError(f"{where}: {value!r} is not allowed{did_you_mean(value, self.choices)}")
        if isinstance(value, float) and not math.isfinite(value):  # `.nan` and `.inf` pass every comparison test
            raise ConfigError(f"{where}: must be a finite number, got {value}")
        if self.minimum is not None and isinstance(value, (int, float)) and value < self.minimum:
            raise ConfigError(f"{where}: must be at least {self.minimum}, got {value}")
        if self.maximum is not None and isinstance(value, (int, float)) and value > self.maximum:
            raise ConfigError(f"{where}: must be at most {self.maximum}, got {value}")
        return value


NONE = type(None)

DATA = {
    # No choices here: the names are data's registry (data/datasets.py), checked where the data loads.
    "dataset": Field("shapes", (str,), "a registered dataset (`cnntrain schema` lists them); shapes, volumes, "
                     "signals are built in"),
    "root": Field("data", (str,), "folder of an image folder or of torchvision's files; for arrays: class "
                  "folders of .npy/.nii(.gz), an .npz, a folder of x/y .npy files, or UCR/UEA .tsv/.ts tables"),
    "channels": Field(1, (int,), "input channels: 1 grayscale, 3 RGB", minimum=1),
    "image_size": Field(28, (int, list, NONE), "int for a square image; [L], [H, W] or [D, H, W]; "
                        "null keeps each image's own size (featuremaps)"),
    "num_classes": Field(None, (int, NONE), "number of classes; null takes it from the data", minimum=2),
    "train_size": Field(4000, (int,), "synthetic data: training images", minimum=1),
    "val_size": Field(1000, (int,), "synthetic data: validation images", minimum=1),
    "test_size": Field(1000, (int,), "synthetic data: test images", minimum=1),
    "placement": Field("random", (str,), "shapes, volumes: objects anywhere they fit (random) or in the "
                       "middle (centered)", ("random", "centered")),
    "val_fraction": Field(0.1, (float,), "fraction of train split off for validation", minimum=0.0,
                          maximum=0.9),
    "test_fraction": Field(0.1, (float,), "image folders without test/: fraction held out",
                           minimum=0.0, maximum=0.9),
    "download": Field(False, (bool,), "torchvision datasets: download missing files"),
    "cache_dir": Field(None, (str, NONE), "decoded-image cache; null is <root>/.cnntrain-cache"),
    "on_corrupt": Field("error", (str,), "a corrupt image stops loading (error) or is skipped",
                        ("error", "skip")),
    "normalize": Field(True, (bool,), "standardise with the training split's per-channel mean and std"),
    "mean": Field(None, (list, NONE), "per-channel mean on the 0-1 scale to standardise with instead of the "
                  "data's, e.g. [0.485, 0.456, 0.406] for ImageNet weights; null: the data's (or the weights')"),
    "std": Field(None, (list, NONE), "per-channel std on the 0-1 scale, given with data.mean"),
    "resize": Field(None, (str, NONE), "arrays: how a sample of another size becomes data.image_size: "
                    "interpolate, pad (keep the start), crop (keep the centre) or none; null: pad for series, "
                    "interpolate for images and volumes", ("interpolate", "pad", "crop", "none")),
    "augment": Field({}, (dict,), "batch augmentation: shift (px), crop (padding), flip, rotation (deg), "
                     "flip_axes, scale, noise"),
    "folds": Field(None, (int, NONE), "cross-validation: deal train+val into this many stratified folds "
                   "(the test split untouched); `cnntrain train --folds K` trains every fold", minimum=2),
    "fold": Field(0, (int,), "cross-validation: the fold (0-based) held out for validation", minimum=0),
    "sampler": Field("shuffle", (str,), "order of training images per epoch: shuffle (each image once) or "
                     "balanced (each class drawn equally often; minority images repeat)", ("shuffle", "balanced")),
}

# data.augment's keys (data/augment.py); a key left out is off.
AUGMENT = {
    "shift": Field(0, (int, list, NONE), "move by up to this many whole pixels per axis (or a list, one per "
                   "axis)", minimum=0),
    "crop": Field(0, (int, NONE), "pad by this many zeros and crop back to size", minimum=0),
    "flip": Field(False, (bool, NONE), "mirror the last axis of half the samples"),
    "rotation": Field(0.0, (float, NONE), "rotate by up to this many degrees (2D)", minimum=0.0, maximum=180.0),
    "flip_axes": Field([], (list, NONE), "mirror each listed spatial axis (0: time or depth) of half the samples"),
    "scale": Field(0.0, (float, NONE), "multiply by a random factor in [1 - scale, 1 + scale]", minimum=0.0,
                   maximum=1.0),
    "noise": Field(0.0, (float, NONE), "add Gaussian noise of this std (standardised units)", minimum=0.0),
}

MODEL = {
    "layers": Field([], (list,), "the layers, in order"),
    "blocks": Field({}, (dict,), "reusable blocks: name -> layer with $parameters"),
    "init": Field(None, (str, NONE), "start from trained weights: a cnntrain checkpoint or run directory, a "
                  "state_dict (.pt, .pth), a .safetensors file, or torchvision:<weights>, e.g. "
                  "torchvision:resnet18.IMAGENET1K_V1"),
}

TRAIN = {
    "epochs": Field(10, (int,), "passes over the training set", minimum=1),
    "batch_size": Field(64, (int,), "images per step", minimum=1),
    "eval_batch_size": Field(512, (int,), "images per evaluation batch", minimum=1),
    "seed": Field(0, (int,), "seed for data, initialisation and order", minimum=0, maximum=2**32 - 1),
    "device": Field("auto", (str,), "auto, cpu, cuda, cuda:N or mps"),
    "optimizer": Field("adam", (str,), "optimizer", ("sgd", "adam", "adamw", "adadelta", "rmsprop")),
    "lr": Field(0.001, (float,), "learning rate", minimum=0.0),
    "momentum": Field(0.9, (float,), "sgd and rmsprop momentum", minimum=0.0),
    "nesterov": Field(False, (bool,), "sgd: Nesterov momentum"),
    "weight_decay": Field(0.0, (float,), "L2 penalty", minimum=0.0),
    "scheduler": Field("none", (str,), "learning-rate schedule; plateau decays by gamma when train.monitor "
                       "stops improving", ("none", "step", "cosine", "onecycle", "plateau")),
    "step_size": Field(1, (int,), "step scheduler: epochs between decays", minimum=1),
    "gamma": Field(0.7, (float,), "step and plateau schedulers: decay factor", minimum=0.0),
    "plateau_patience": Field(2, (int,), "plateau scheduler: epochs without improvement before a decay",
                              minimum=0),
    "warmup_epochs": Field(0, (int,), "linear warm-up epochs before the schedule", minimum=0),
    "label_smoothing": Field(0.0, (float,), "cross-entropy label smoothing", minimum=0.0,
                             maximum=1.0),
    "grad_clip": Field(None, (float, NONE), "clip the gradient norm to this value", minimum=0.0),
    "accumulate": Field(1, (int,), "micro-batches of batch_size per optimizer step: a batch N times larger "
                        "in the memory of one", minimum=1),
    "class_weights": Field(None, (str, list, dict, NONE), "loss weight per class: balanced (n_samples / "
                           "(n_classes * count)), a list in class order, or {class name: weight} (others 1)"),
    "ema": Field(None, (float, NONE), "decay of an exponential moving average of the weights, e.g. 0.999; "
                 "validated and saved as the model in the checkpoints", minimum=0.0, maximum=1.0),
    "early_stopping": Field(None, (int, NONE), "stop after this many epochs without improvement", minimum=1),
    "monitor": Field("val_acc", (str,), "metric for best.pt and early stopping", ("val_acc", "val_loss")),
    "deterministic": Field(False, (bool,), "deterministic algorithms (slower on CUDA)"),
    "threads": Field(None, (int, NONE), "CPU threads, fixed for the whole run so the weights do not depend on "
                     "the machine's load; null: torch's count at the start (one per core, or OMP_NUM_THREADS), "
                     "kept by --resume", minimum=1),
    "threads_follow_load": Field(False, (bool,), "trades exactness for speed: use only the cores other "
                                 "processes leave free, changing the thread count between batches; faster on "
                                 "a busy machine, but the weights then depend on the load"),
    "precision": Field("fp32", (str,), "fp32, or autocast to bf16 / fp16", ("fp32", "bf16", "fp16")),
    "channels_last": Field(None, (bool, NONE), "channels_last memory format; null: on with CUDA or bf16"),
    "compile": Field(False, (bool,), "torch.compile the model"),
    "featuremap_every": Field(1, (int,), "log feature maps to TensorBoard every N epochs (0: never)",
                              minimum=0),
    "histograms": Field(False, (bool,), "log weight histograms to TensorBoard"),
    "graph": Field(False, (bool,), "log the model graph to TensorBoard"),
    "freeze": Field([], (list, dict), "layers whose weights stay as loaded (batch norm statistics too): "
                    "names, each with its children, e.g. [conv1, bn1, layer1]; or {all_but_last: N} for every "
                    "layer but the last N with weights"),
    "overfit_batches": Field(0, (int,), "quick check: train on the same N batches every epoch, validated on "
                             "those images, to prove the model can fit them (0: off)", minimum=0),
}

KEYS = {"data": DATA, "model": MODEL, "train": TRAIN}
DEFAULTS = {section: {key: f.default for key, f in fields.items()} for section, fields in KEYS.items()}


def validate_section(section: str, values: dict, source: str, lines: dict) -> dict:
    """Fill defaults, reject unknown keys (with a suggestion) and check every value's type; the result holds
    every key of the section, the keyword arguments of its settings object (settings.SETTINGS)."""

    fields = KEYS[section]
    check_keys(values, fields, source, where=f"`{section}`")
    resolved = {}

    def where(key: str) -> str:
        line = lines.get((section, key))
        return f"{source}:{line}: {section}.{key}" if line else f"{source}: {section}.{key}"

    for key, spec in fields.items():
        value = values.get(key, spec.default)
        resolved[key] = spec.check(_copy(value), where(key))
    if section == "data":
        _check_fold(resolved, where)
        _check_image_size(resolved["image_size"], source)
        _check_statistics(resolved, where)
        _check_augment(resolved["augment"], source)
    if section == "train":
        _check_class_weights(resolved["class_weights"], where("class_weights"))
        _check_plateau(resolved, source)
        _check_freeze(resolved["freeze"], where("freeze"))
    return resolved


def _check_fold(data: dict, where) -> None:
    if data["fold"] and (data["folds"] is None or data["fold"] >= data["folds"]):
        folds = data["folds"]
        raise ConfigError(f"{where('fold')}: fold {data['fold']} does not exist with data.folds={folds}; "
                          "folds count from 0 to data.folds - 1")


def _check_augment(augment: dict, source: str) -> None:
    """Each augmentation's value, checked like a key of its own: a shift of -3 or "abc" would pass the
    section check (any mapping) and fail only in the first training step."""
    check_keys(augment, AUGMENT, source, where="`data.augment`")
    for key, value in augment.items():
        augment[key] = AUGMENT[key].check(value, f"{source}: data.augment.{key}")
        if isinstance(value, list) and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                               for v in value):
            raise ConfigError(f"{source}: data.augment.{key}: expected a list of ints >= 0, got {value!r}")


def _copy(value):
    return {**value} if isinstance(value, dict) else list(value) if isinstance(value, list) else value


def _check_class_weights(weights, where: str) -> None:
    """The form of train.class_weights; the class names and count are checked against the data."""
    if isinstance(weights, str) and weights != "balanced":
        raise ConfigError(f"{where}: {weights!r} is not allowed{did_you_mean(weights, ['balanced'])}, "
                          "or give a list or a mapping of class name to weight")
    values = weights.values() if isinstance(weights, dict) else weights if isinstance(weights, list) else ()
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ConfigError(f"{where}: every weight must be a positive number, got {value!r}")


def _check_plateau(train: dict, source: str) -> None:
    if train["scheduler"] != "plateau":
        return
    if train["warmup_epochs"]:
        raise ConfigError(f"{source}: train.warmup_epochs does not combine with the plateau scheduler, which sets "
                          "the rate itself once per epoch; set train.warmup_epochs=0 or use cosine")
    if train["gamma"] >= 1:
        raise ConfigError(f"{source}: train.gamma is {train['gamma']}, but the plateau scheduler multiplies the "
                          "rate by it to lower it; use a value below 1, such as 0.5")


def _check_image_size(size, source: str) -> None:
    bad = isinstance(size, list) and (
        not 1 <= len(size) <= 3 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
    )
    if bad or (isinstance(size, int) and size <= 0):
        raise ConfigError(f"{source}: data.image_size must be a positive int or a list of 1-3 positive ints, "
                          f"got {size!r}")


def _check_statistics(data: dict, where) -> None:
    mean, std = data["mean"], data["std"]
    if (mean is None) != (std is None):
        raise ConfigError(f"{where('mean' if mean is not None else 'std')}: data.mean and data.std go together; "
                          "give both or neither")
    for key, values, low in (("mean", mean, -math.inf), ("std", std, 0.0)):
        if values is None:
            continue
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)
        if not numbers or len(values) != data["channels"] or not all(v > low for v in values):
            what = "positive numbers" if key == "std" else "numbers"
            raise ConfigError(f"{where(key)}: must be a list of {data['channels']} {what} (one per channel, "
                              f"on the 0-1 scale), got {values!r}")


def _check_freeze(freeze, where: str) -> None:
    if isinstance(freeze, dict):
        count = freeze.get("all_but_last")
        if list(freeze) != ["all_but_last"] or not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ConfigError(f"{where}: as a mapping it is {{all_but_last: N}} with N >= 0, got {freeze!r}")
    elif not all(isinstance(name, str) and name for name in freeze):
        raise ConfigError(f"{where}: must list layer names, e.g. [conv1, bn1, layer1], got {freeze!r}")
