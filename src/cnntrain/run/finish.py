"""The end of a run: the best checkpoint on the test split, summary.json, and the final report with its mistakes.

    summary = finish(end, engine, log, seconds)    # end: a RunEnd, which Session builds
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass
from typing import Callable

import torch

from cnntrain import __version__
from cnntrain.config.loader import Config
from cnntrain.data.splits import Split
from cnntrain.run.checkpoint import load_checkpoint
from cnntrain.run.distributed import World, barrier
from cnntrain.run.engine import Engine
from cnntrain.run.inference import loss_and_accuracy
from cnntrain.run.metrics import confusion_matrix
from cnntrain.run.normalize import Normalizer
from cnntrain.run.report import TestOutcome, test_section, write_report
from cnntrain.run.rundir import RunDir
from cnntrain.viz.charts import confusion_matrix_image


@dataclass
class RunEnd:
    """What the end of a run needs to know about it; the weights and the best epoch come from the Engine."""

    config: Config  # as the run saved it (data.num_classes filled in)
    run_dir: RunDir
    world: World
    device: torch.device
    test: Split  # the test split as the data holds it (uint8 images or float arrays)
    classes: list[str]
    data_fingerprint: str
    normalizer: Normalizer
    layers: list  # the model's LayerInfo, for the report's Grad-CAM
    init: dict | None  # what model.init loaded, for summary.json
    # (model, samples) -> (N, K) float32 logits on the CPU, computed as validation computes them
    logits: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]


def best_on_test(end: RunEnd, engine: Engine):
    """Test-split metrics of the best checkpoint, its confusion matrix for TensorBoard, and its logits."""
    split = end.test
    if len(split.y) == 0 or not end.run_dir.best.exists():
        return None, None, None

    barrier(end.world)
    best = load_checkpoint(end.run_dir.best, map_location=end.device)
    engine.core.load_state_dict(best["model"])
    logits = end.logits(engine.core, split.x)
    loss, acc = loss_and_accuracy(logits, split.y)
    matrix = confusion_matrix(split.y.numpy(), logits.argmax(1).numpy(), len(end.classes))
    image = confusion_matrix_image(matrix, end.classes, title="test, best checkpoint")
    return {"loss": loss, "acc": acc, "epoch": best["epoch"]}, image, logits


def write_final_report(end: RunEnd, engine: Engine, logits, best_epoch: int | None) -> None:
    """The final report.html: with the best checkpoint's test predictions, and mistakes.png."""
    test = None
    if logits is not None:
        # engine.core holds the best checkpoint's weights since best_on_test
        outcome = TestOutcome("test", list(end.classes), end.test.y.numpy(), torch.softmax(logits, 1).numpy(),
                              end.test.x, best_epoch, model=engine.core, layers=end.layers,
                              normalizer=end.normalizer, paths=end.test.paths)
        test = test_section(end.run_dir, outcome)
    write_report(end.run_dir, test=test, finished=True)


def finish(end: RunEnd, engine: Engine, log, seconds: float) -> dict:
    """summary.json, the last TensorBoard records, and the final report."""
    records = end.run_dir.read_metrics() if end.world.is_main else []
    test, confusion, logits = best_on_test(end, engine)
    train = end.config.train
    summary = {
        "name": end.config.name,
        "run_dir": str(end.run_dir.path),
        "epochs": records[-1]["epoch"] if records else 0,
        "best": {"metric": engine.best.metric, "value": engine.best.value, "epoch": engine.best.epoch},
        "final": records[-1] if records else None,
        "test": test,
        "seconds": seconds,
        "device": str(end.device),
        "world_size": end.world.size,
        "seed": train.seed,
        "classes": list(end.classes),
        "params": sum(p.numel() for p in engine.core.parameters()),
        "trainable_params": sum(p.numel() for p in engine.core.parameters() if p.requires_grad),
        "frozen": train.freeze,
        "init": end.init,
        "data_fingerprint": end.data_fingerprint,
        "versions": versions(),
    }
    if end.world.is_main:
        best = {"hparam/best_" + engine.best.metric: engine.best.value or 0.0}
        log.hparams(hyperparameters(end.config), best, step=summary["epochs"])
        if confusion is not None:
            log.images("confusion_matrix", {"test": confusion}, summary["epochs"])
        log.close()
        end.run_dir.write_summary(summary)
        write_final_report(end, engine, logits, best_epoch=test["epoch"] if test else None)
    return summary


def hyperparameters(config: Config) -> dict:
    """TensorBoard's HParams view: every train.* and data.* setting, and each layer's arguments as
    model.layers.NAME.ARG (by index when unnamed), as `--set` and `cnntrain tune` address them, so the
    runs of a tuning study show what was searched."""
    values = {f"{section}.{k}": v for section in ("train", "data") for k, v in asdict(getattr(config, section)).items()}
    for index, layer in enumerate(config.model.layers):
        args = next(iter(layer.values())) if isinstance(layer, dict) and len(layer) == 1 else None
        if isinstance(args, dict):
            name = args.get("name", index)
            values |= {f"model.layers.{name}.{k}": v for k, v in args.items() if k != "name"}
    return {**values, "model": config.name}


def versions() -> dict:
    # The installed distribution's version: importing torchvision for it would cost a second and 150 MB.
    from importlib.metadata import PackageNotFoundError, version

    try:
        vision = version("torchvision")
    except PackageNotFoundError:
        vision = "not installed"
    return {"cnntrain": __version__, "torch": str(torch.__version__), "torchvision": vision,
            "python": platform.python_version()}
