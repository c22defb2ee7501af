"""`cnntrain report RUN`: (re)build a run directory's report.html, for any run, older ones included.

    from cnntrain.tasks.report import report
    result = report("runs/cnn/1")
    result.page          # runs/cnn/1/report.html
    result.skipped       # {"train_batch": "why"}: sections this run has nothing for

curves.png is redrawn from metrics.jsonl, and the test section (mistakes.png, top_losses.png,
calibration.png) from the best checkpoint run again over its config's test split. What only training can
make (the first training batch, the feature maps of each epoch) is shown where the run saved it and
otherwise left out with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnntrain.data import load_data
from cnntrain.errors import CheckpointError, CnntrainError, DataError
from cnntrain.run.engine import Best
from cnntrain.run.load import load_trained
from cnntrain.run.outputs import (
    CALIBRATION,
    CURVES,
    FEATUREMAPS,
    MISTAKES,
    MISTAKES_GRADCAM,
    TOP_LOSSES_PICTURE,
    TRAIN_BATCH,
    write_curves,
)
from cnntrain.run.report import TestOutcome, test_section, write_report
from cnntrain.run.rundir import RunDir, run_dir_of_checkpoint


@dataclass
class ReportResult:
    run_dir: Path
    page: Path
    files: list = field(default_factory=list)  # the pictures the page shows
    skipped: dict = field(default_factory=dict)  # section -> why it is empty


def report(run: str | Path) -> ReportResult:
    """Rebuild report.html (and curves.png, mistakes.png) of a run directory or of a checkpoint's run."""
    run_dir = _run_dir(Path(run))
    config = run_dir.read_config()[1] or {}  # {} when missing or damaged: the page says so
    title = str(config.get("name") or run_dir.path.name)
    monitor = (config.get("train") or {}).get("monitor", "val_acc")
    write_curves(run_dir, best_epoch=_best_epoch(run_dir, monitor), title=title)
    test, why = _test(run_dir)
    notes = {"test": why} if why else {}
    page = write_report(run_dir, test=test, notes=notes)
    return _result(run_dir, page, test is not None, notes)


def _run_dir(path: Path) -> RunDir:
    """The run directory, or of a checkpoint inside one (RUN/checkpoints/*.pt); anything else is refused."""
    is_checkpoint = path.is_file() and path.resolve().parent.name == "checkpoints"
    run = run_dir_of_checkpoint(path) if is_checkpoint else RunDir(path)
    if not run.path.is_dir() or not (run.config.is_file() or run.metrics.is_file() or run.last.is_file()):
        raise CnntrainError(f"{path}: not a run directory (no config.yaml, metrics.jsonl or checkpoints/last.pt); "
                            "pass a folder written by `cnntrain train` (or a checkpoint in it), e.g. runs/cnn/1")
    return run


def _best_epoch(run: RunDir, monitor: str) -> int | None:
    """The best epoch by the run's monitored metric, replayed over metrics.jsonl as training judged it."""
    best = Best(monitor)
    for record in run.read_metrics():
        if record.get(best.metric) is not None:
            best.update(record)
    return best.epoch or None


def _test(run: RunDir) -> tuple[dict | None, str | None]:
    """The best checkpoint's test section, or why there is none."""
    if not run.best.is_file():
        return None, f"No test results: {run.best} does not exist (training stopped before its first epoch ended)."
    try:
        trained = load_trained(run.best, device="cpu")
        splits = load_data(trained.config.data, trained.config.train.seed)
    except (DataError, CheckpointError) as error:
        return None, f"No test results: the best checkpoint or its data could not be loaded ({error})."
    if list(splits.classes) != list(trained.classes):
        return None, "No test results: the config's data now has other classes than the model was trained on."
    split = splits.test
    if len(split.y) == 0:
        return None, "No test results: the data has no test split (data.test_size or data.test_fraction)."
    probs = trained.logits(split.x).softmax(1)
    outcome = TestOutcome("test", trained.classes, split.y.numpy(), probs.numpy(), split.x, trained.epoch,
                          model=trained.model, layers=trained.layers, normalizer=trained.normalizer,
                          paths=split.paths)
    return test_section(run, outcome), None


def _result(run: RunDir, page: Path, has_test: bool, notes: dict) -> ReportResult:
    files = [run.path / name for name in (CURVES, TRAIN_BATCH, MISTAKES, MISTAKES_GRADCAM, TOP_LOSSES_PICTURE,
                                          CALIBRATION) if (run.path / name).is_file()]
    frames = sorted((run.path / FEATUREMAPS).glob("epoch_*.png"))
    skipped = {} if has_test else dict(notes)
    if not (run.path / TRAIN_BATCH).is_file():
        skipped["train_batch"] = "not saved by this run (training writes it in epoch 1)"
    if not frames:
        skipped["featuremaps"] = "no feature maps saved by this run (train.featuremap_every)"
    return ReportResult(run.path, page, files + frames, skipped)
