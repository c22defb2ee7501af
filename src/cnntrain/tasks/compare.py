"""`cnntrain compare`: train several models on the same data, epochs and seed, and measure them.

    from cnntrain.tasks.compare import compare
    result = compare()                       # configs/mlp.yaml against configs/cnn.yaml
    result = compare(["a.yaml", "b.yaml"], overrides=["train.epochs=3"], out="runs/ab")

The central lesson: a CNN shares small filters over the image, so it needs far fewer parameters
than an MLP, and since the same filter looks everywhere, an object moved a few pixels is still
recognised. Each model's best checkpoint is tested on the test images as they are and shifted by
a few pixel amounts in seeded random directions (the same directions for every model), the
uncovered border filled with the image's background.

The protocol: the built-in shapes and volumes are generated centred (`data.placement=centered`) for
training and testing, so that the shift alone moves the objects, unless the config or a --set names
data.placement itself (`--set data.placement=random`: objects anywhere, in training too).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import yaml

from cnntrain.atomic import atomic_write_text, check_writable
from cnntrain.config.loader import Config, load_config
from cnntrain.data import load_data
from cnntrain.errors import CnntrainError, ConfigError, Interrupted
from cnntrain.model.summary import summarize
from cnntrain.run.load import load_trained
from cnntrain.run.rundir import RunDir, new_run_dir
from cnntrain.run.train import train
from cnntrain.tasks.compare_live import live_shift
from cnntrain.tasks.compare_outputs import protocol_text, shift_example, shifted, write_compare_page
from cnntrain.viz.charts import save_compare_plot
from cnntrain.viz.explore_page import float_b64

DEFAULT_CONFIGS = ("mlp.yaml", "cnn.yaml")
CENTERED = "data.placement=centered"
BUILT_IN = ("shapes", "volumes", "signals")  # generated: data.train_size and val_size are the splits' sizes
# Shifts as fractions of the image's shorter side: 0, 2, 4, 8, 12 pixels at 64x64.
SHIFT_FRACTIONS = (0, 1 / 32, 1 / 16, 1 / 8, 3 / 16)


@dataclass
class ModelResult:
    """One model's row of the comparison; the field names are compare.json's interface."""

    name: str
    config: str
    run_dir: str
    params: int
    macs: int
    train_seconds: float  # the training epochs, each with its validation pass
    images_per_sec: float  # training throughput, averaged over epochs
    test_acc: float  # best checkpoint, unshifted test images
    shift_acc: dict  # "pixels" -> test accuracy with every image shifted that far
    val_acc: list = field(default_factory=list)  # per epoch, for the plot
    placement: str = "random"  # data.placement it trained and was tested with (shapes and volumes)
    dataset: str = ""
    epochs: int = 0  # epochs trained
    images: dict = field(default_factory=dict)  # split -> images in it; train and val only for built-in data
    chance: float = 0.0  # the accuracy of guessing: 1 / classes


@dataclass
class CompareResult:
    out_dir: Path
    models: list  # ModelResult
    shifts: list
    json_path: Path
    plot_path: Path
    page_path: Path | None = None  # compare.html


def package_configs() -> Path:
    """The configs/ folder shipped next to the source tree (src/cnntrain -> repo/configs)."""
    return Path(__file__).resolve().parents[3] / "configs"


def find_config(path: str | Path) -> Path:
    """A config path as given, else (for a bare or configs/-relative name) the shipped one."""
    path = Path(path)
    if path.exists() or path.is_absolute() or path.parent not in (Path("."), Path("configs")):
        return path
    shipped = package_configs() / path.name
    return shipped if shipped.is_file() else path


def default_configs() -> list[Path]:
    return [find_config(Path("configs") / name) for name in DEFAULT_CONFIGS]


def shift_amounts(side: int) -> list[int]:
    """Shifts in pixels that scale with the image: 0, 2, 4, 8, 12 at 64; 0, 1, 2, 4, 6 at 32."""
    return sorted({round(side * f) for f in SHIFT_FRACTIONS})


def compare(configs: list[str | Path] | None = None, *, overrides=(), out: str | Path | None = None,
            shifts: list[int] | None = None, progress=None, on_model: Callable | None = None,
            runs_root: str | Path = "runs") -> CompareResult:
    """Train each config with the same overrides, measure each best checkpoint, write compare.json/.png.

    `on_model(i, n, config)` is called before each model trains (the CLI prints a heading).
    """
    if out is not None:
        check_writable(out)
    paths = [find_config(p) for p in configs] if configs else default_configs()
    loaded = [_load(p, list(overrides)) for p in paths]  # every config checked before any training
    names = _run_names(loaded)
    out_dir = Path(out) if out is not None else new_run_dir("compare", None, runs_root).path
    _check_same_comparison(out_dir, loaded, names)
    data_cache: dict = {}
    models, trained = [], []
    for i, (path, config, name) in enumerate(zip(paths, loaded, names)):
        if on_model is not None:
            on_model(i, len(loaded), config)
        try:
            result, model = _one_model(path, config, out_dir / name, shifts, data_cache, progress)
        except Interrupted:
            raise Interrupted(f"interrupted while training {name}; the models trained so far are kept. To go on, "
                              f"run the same compare again with --out {out_dir}: finished models are reused "
                              "and a stopped one resumes where it stopped") from None
        models.append(result)
        trained.append(model)
    shifts = sorted(int(s) for s in models[0].shift_acc)
    test_x, test_y = _test_split(trained[0].config, data_cache)
    example = shift_example(out_dir, trained, [m.name for m in models], test_x, test_y, shifts,
                            trained[0].config.train.seed)
    json_path, plot_path = _write(out_dir, models, shifts, example)
    live = None if example is None else live_shift(trained, [m.name for m in models], test_x, example["index"],
                                                    example["true"], float_b64)
    page = write_compare_page(out_dir, json.loads(json_path.read_text(encoding="utf-8")), live)
    return CompareResult(out_dir, models, shifts, json_path, plot_path, page)


def _load(path: Path, overrides: list[str]) -> Config:
    """The config with compare's protocol: centred objects, unless the config or a --set places them."""
    config = load_config(path, overrides)
    named = config.line_of("data", "placement") is not None or any(
        o.split("=", 1)[0].strip() == "data.placement" for o in overrides)
    return config if named else load_config(path, [CENTERED, *overrides])


def _run_names(configs: list[Config]) -> list[str]:
    """Each model's folder under DIR: its config name, numbered when two configs share one."""
    names, seen = [], {}
    for config in configs:
        seen[config.name] = seen.get(config.name, 0) + 1
        names.append(config.name if seen[config.name] == 1 else f"{config.name}-{seen[config.name]}")
    return names


def _check_same_comparison(out_dir: Path, configs: list[Config], names: list[str]) -> None:
    """Runs already under DIR (an earlier compare, stopped or finished) are gone on with only if they
    were started from the same settings; otherwise their results would be mixed with others'."""
    for config, name in zip(configs, names):
        run = RunDir(out_dir / name)
        if not run.last.exists():
            continue
        saved, wanted = run.read_config()[1] or {}, yaml.safe_load(yaml.safe_dump(config.to_dict()))
        if wanted["data"]["num_classes"] is None:  # the run fills it in from its data
            saved.get("data", {}).pop("num_classes", None)
            wanted["data"].pop("num_classes")
        if saved != wanted:
            raise CnntrainError(f"{out_dir} holds a comparison with other settings ({run.path} was trained from "
                                "another config or --set); choose another --out, or leave --out out to count up "
                                "runs/compare/<n>")


def _one_model(path: Path, config: Config, run_dir: Path, shifts, data_cache: dict, progress):
    """Train one config and measure its best checkpoint: (ModelResult, the loaded Trained model)."""

    run = RunDir(run_dir)
    if not run.summary.exists():  # finished by an earlier compare into this --out: reused as it is
        # stopped earlier (Ctrl-C, a kill): resumed, to the weights an uninterrupted run would have
        result = train(resume=run_dir, progress=progress) if run.last.exists() else train(config, out=run_dir,
                                                                                         progress=progress)
        run = RunDir(result.run_dir)
    if not run.best.exists():
        raise CnntrainError(f"{run.path}: training wrote no best checkpoint; nothing to compare")
    trained = load_trained(run.best)
    size = summarize(trained.config, num_classes=len(trained.classes))
    records = run.read_metrics()
    test_x, test_y = _test_split(trained.config, data_cache)
    if len(test_y) == 0:
        raise ConfigError(f"{path}: the test split is empty; compare needs test images (data.test_size, "
                          "or data.test_fraction for an image folder)")
    shift_acc = shift_accuracy(trained, test_x, test_y, shifts, trained.config.train.seed)
    return ModelResult(
        name=config.name, config=str(path), run_dir=str(run.path), params=size.total_params, macs=size.macs,
        train_seconds=sum(r["epoch_seconds"] for r in records),
        images_per_sec=sum(r["images_per_sec"] for r in records) / max(1, len(records)),
        test_acc=shift_acc["0"] if "0" in shift_acc else _accuracy(trained, test_x, test_y), shift_acc=shift_acc,
        val_acc=[r["val_acc"] for r in records], placement=trained.config.data.placement,
        dataset=trained.config.data.dataset, epochs=len(records), images=_split_sizes(trained.config, len(test_y)),
        chance=1 / len(trained.classes),
    ), trained


def _split_sizes(config: Config, test: int) -> dict:
    """Images per split: the built-in datasets' sizes are settings; a folder's only its test split says here."""
    data = config.data
    sizes = {"train": data.train_size, "val": data.val_size} if data.dataset in BUILT_IN else {}
    return sizes | {"test": test}


def _test_split(config: Config, cache: dict):
    """The test images; generated or decoded once for every model that shares the data section."""
    key = json.dumps([asdict(config.data), config.train.seed], sort_keys=True, default=str)
    if key not in cache:
        # Synthetic data draws each split from its own seeded generator, so the test split is the same
        # bytes without generating the training images again; other datasets ignore these sizes.
        test = load_data(replace(config.data, train_size=1, val_size=0), config.train.seed).test
        cache[key] = (test.x, test.y)
    return cache[key]


def shift_accuracy(trained, x, y, shifts: list[int] | None, seed: int) -> dict:
    """Test accuracy with every image moved by each amount; the directions are seeded by (seed,
    amount), so every model sees exactly the same shifted images."""

    shifts = shifts if shifts is not None else shift_amounts(min(x.shape[2:]))
    return {str(int(pixels)): _accuracy(trained, shifted(x, pixels, seed), y) for pixels in shifts}


def _accuracy(trained, x, y) -> float:
    return float((trained.logits(x).argmax(1) == y).float().mean())


def _write(out_dir: Path, models: list[ModelResult], shifts: list[int], example: dict | None) -> tuple[Path, Path]:
    document = {"models": [asdict(m) for m in models], "shifts": shifts, "protocol": protocol_text(models),
                "example": example}
    json_path = out_dir / "compare.json"
    atomic_write_text(json_path, json.dumps(document, indent=2) + "\n")
    plot = save_compare_plot([asdict(m) for m in models], out_dir / "compare.png")
    return json_path, plot
