"""What `cnntrain doctor` examines, as a Config whose data section says how to read it.

- `--config C`: C's data, read exactly as `train` reads it, except that unreadable files are skipped
  (and reported) instead of stopping the read, and cross-validation settings are dropped (all of it).
- `--data ROOT`: an image folder (or array data) with the preprocessing that suits it (the most common
  image size, at most `SIDE` pixels a side; grey when every image is), and a small CNN for `--folds`.
  With a checkpoint, the checkpoint's own channels and size instead.
- neither, with `--checkpoint`: the data the checkpoint's config names.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from cnntrain.config.loader import Config, config_from_dict, load_config
from cnntrain.data.inventory import GREY_MODES, Inventory, array_inventory, image_inventory
from cnntrain.data.tables import TABLE_EXTENSIONS
from cnntrain.data.walk import walk_images
from cnntrain.errors import ConfigError

READ_ALL = ("data.on_corrupt=skip", "data.folds=null", "data.fold=0")
SIDE = 64  # --data: the longest side of a larger image, read smaller; a small CNN trains on it in minutes
# --data --folds: a few epochs at a high rate, in batches small enough for a few hundred steps on a small set:
# each epoch also writes the fold's checkpoint and curves, so steps are cheaper than epochs
EPOCHS, LR = 4, 0.01


@dataclass
class Target:
    config: Config  # data.on_corrupt skip, no folds
    inventory: Inventory | None  # the files, for image folders and arrays
    notes: list[str] = field(default_factory=list)  # how it was read
    problems: list[str] = field(default_factory=list)  # settings train would refuse


def doctor_target(config=None, data=None, trained=None, overrides=()) -> Target:
    """The Config (and files) the doctor reads: from --config, --data, or the checkpoint's own config."""
    if config is not None and data is not None:
        raise ConfigError("give --config C or --data ROOT, not both")
    if config is not None:
        target = _with_inventory(load_config(config, [*overrides, *READ_ALL]))
    elif data is not None:
        target = _data_target(Path(data), trained, overrides)
    elif trained is not None:
        target = _with_inventory(config_from_dict(trained.config.to_dict(), str(trained.path),
                                                  [*overrides, *READ_ALL]))
    else:
        raise ConfigError("give --config C or --data ROOT (the data to check), or --checkpoint CKPT (its data)")
    return _readable(target)


def _with_inventory(config: Config) -> Target:
    data = config.data
    if data.dataset == "imagefolder":
        return Target(config, image_inventory(str(data.root), data, config.train.seed))
    if data.dataset == "arrays":
        return Target(config, array_inventory(str(data.root)))
    return Target(config, None)  # built-in and torchvision sets: no files of the user's


def _readable(target: Target) -> Target:
    """An image folder of mixed sizes with image_size null: train refuses it; read it at the usual size."""
    config, files = target.config, target.inventory.files if target.inventory else []
    sizes = Counter(f.size for f in files if f.size is not None)
    if config.data.dataset != "imagefolder" or config.data.image_size is not None or len(sizes) < 2:
        return target
    (w, h), _ = sizes.most_common(1)[0]
    config = config_from_dict(config.to_dict(), config.source, [f"data.image_size=[{h}, {w}]"])
    target.problems.append(f"the images come in {len(sizes)} sizes and data.image_size is null, so train refuses "
                           f"them; set data.image_size (the doctor read them at [{h}, {w}], the most common)")
    return Target(config, target.inventory, target.notes, target.problems)


# --- --data ROOT ----------------------------------------------------------------------------------


def _data_target(root: Path, trained, overrides) -> Target:
    arrays = _is_arrays(root)
    raw = {"name": root.stem or "data", "data": {"dataset": "arrays" if arrays else "imagefolder", "root": str(root),
                                                 "image_size": None if not arrays else [1]},
           "model": {"layers": small_cnn(2)}, "train": {"epochs": EPOCHS, "lr": LR, "featuremap_every": 0}}
    first = config_from_dict(raw, str(root), [*overrides, *READ_ALL])
    inventory = array_inventory(str(root)) if arrays else image_inventory(str(root), first.data, first.train.seed)
    if trained is not None:
        given = trained.config.data  # read as the checkpoint's model reads its input
        chosen = {"channels": given.channels, "image_size": given.image_size, "resize": given.resize}
    else:
        chosen = _array_input(inventory) if arrays else _image_input(inventory)
    raw["data"].update(chosen)
    size = chosen["image_size"]
    raw["model"]["layers"] = small_cnn(len(size) if isinstance(size, list) else 2)
    samples = sum(f.error is None for f in inventory.files)
    raw["train"]["batch_size"] = min(64, max(8, 2 ** math.floor(math.log2(max(samples, 20) / 20))))
    config = config_from_dict(raw, str(root), [*overrides, *READ_ALL])
    shape = "x".join(str(s) for s in config.input_shape()[1:])
    note = (f"read {root} as {config.data.dataset} at {shape} with {config.data.channels} channel(s); "
            f"--set data.image_size=... or data.channels=... to read it otherwise")
    return Target(config, inventory, [note])


def _is_arrays(root: Path) -> bool:
    """A file (.npz, tables) or a folder without images is array data; a folder with images an image folder."""
    if root.is_file():
        if root.suffix.lower() in (".npz", *TABLE_EXTENSIONS):
            return True
        raise ConfigError(f"--data {root} is a file; give an image folder (one subfolder per class) or array "
                          "data (an .npz, UCR/UEA tables, or class folders of .npy files)")
    if not root.is_dir():
        raise ConfigError(f"--data {root}: no such folder")
    return next(walk_images(root), None) is None


def _image_input(inventory: Inventory) -> dict:
    """The most common image size (shrunk to SIDE pixels on its longer side), grey if every image is."""
    files = [f for f in inventory.files if f.size is not None]
    if not files:
        return {"channels": 3, "image_size": [SIDE, SIDE]}
    (w, h), _ = Counter(f.size for f in files).most_common(1)[0]
    scale = min(1.0, SIDE / max(w, h))
    grey = all(f.mode in GREY_MODES for f in files)
    return {"channels": 1 if grey else 3, "image_size": [max(1, round(h * scale)), max(1, round(w * scale))]}


def _array_input(inventory: Inventory) -> dict:
    """Channels and size from the most common sample shape: [L] a series; [C, L] a series of C channels
    (a table's rows, or C at most 4 and L longer), else [H, W] an image; [C, H, W] an image when C is at
    most 4, else a volume; [C, D, H, W] a volume."""
    shapes = Counter(f.size for f in inventory.files if f.size is not None)
    if not shapes:
        return {"channels": 1, "image_size": [1], "resize": None}
    shape = list(shapes.most_common(1)[0][0])
    series = len(shape) == 2 and (inventory.kind == "table" or shape[1] > shape[0] <= 4)
    if len(shape) == 1 or (len(shape) == 3 and shape[0] > 4) or (len(shape) == 2 and not series):
        channels, size = 1, shape
    else:
        channels, size = shape[0], shape[1:]
    return {"channels": channels, "image_size": size, "resize": None}


def small_cnn(dims: int) -> list:
    """Two convolutions and global max pooling: enough to score labels of most small sets in minutes."""
    return [{f"conv{dims}d": {"out_channels": 16, "kernel_size": 3, "padding": 1}}, "relu",
            {f"maxpool{dims}d": {"kernel_size": 2, "ceil_mode": True}},
            {f"conv{dims}d": {"out_channels": 32, "kernel_size": 3, "padding": 1}}, "relu",
            {f"adaptivemaxpool{dims}d": 1}, "flatten", {"linear": {"out_features": "num_classes"}}]


def output_folder(config: Config, out) -> Path:
    """--out, or runs/<name>/doctor."""
    return Path(out) if out is not None else Path("runs") / config.name / "doctor"

