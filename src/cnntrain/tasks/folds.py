"""`cnntrain train --folds K`: stratified K-fold cross-validation, each fold an ordinary run directory.

    from cnntrain.tasks.folds import train_folds
    result = train_folds("configs/cnn.yaml", 5, out="runs/cv")
    for fold in result.folds:      # DIR/fold_0 ... DIR/fold_4, each with report.html and checkpoints
        print(fold.run_dir, fold.value, fold.held_out[:5])
    print(result.mean, result.std)  # of the best val_acc (train.monitor) of each fold

train+val is dealt into K stratified folds (data/crossval.py); fold i trains on the others and
validates on it, the test split untouched. `fold.held_out` indexes the pool `crossval.pool(load_data(
config.data, seed))`, train then val: every training sample is held out by exactly one fold, whose
checkpoint therefore gives it an out-of-sample prediction. A fold run's config.yaml says
`data.folds: K` and `data.fold: i`, so it reruns and resumes like any run; `train_folds` again on the
same DIR skips the folds that finished and resumes the one that was cut short.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from cnntrain.atomic import atomic_write_text
from cnntrain.config.loader import Config, config_from_dict, load_config
from cnntrain.data import load_data
from cnntrain.data.crossval import held_out, pool
from cnntrain.errors import ConfigError
from cnntrain.run.progress import Progress
from cnntrain.run.rundir import RunDir, new_run_dir
from cnntrain.run.train import train
from cnntrain.viz.page import write_page

SUMMARY = "summary.json"
PAGE = "folds.html"


@dataclass
class Fold:
    index: int
    run_dir: Path
    held_out: torch.Tensor  # (n,) int64: indices into train+val (crossval.pool) that this fold validates on
    value: float | None  # the best value of the metric over its epochs


@dataclass
class FoldsResult:
    out_dir: Path
    metric: str
    folds: list[Fold]
    mean: float | None
    std: float | None  # sample standard deviation over the folds (n - 1)
    page: Path

    def as_dict(self) -> dict:
        return {"metric": self.metric, "mean": self.mean, "std": self.std, "k": len(self.folds),
                "folds": [f.value for f in self.folds], "runs": [f.run_dir.name for f in self.folds],
                "held_out": [len(f.held_out) for f in self.folds]}


def fold_overrides(k: int, fold: int) -> list[str]:
    """The --set that makes a run fold `fold` of `k`."""
    return [f"data.folds={k}", f"data.fold={fold}"]


def best_value(records: list[dict], metric: str) -> float | None:
    """The best `metric` over a run's epochs (highest accuracy, lowest loss); None before any epoch."""
    values = [r[metric] for r in records if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    if not values:
        return None
    return max(values) if metric.endswith("acc") else min(values)


def fold_indices(config: Config, k: int) -> list[torch.Tensor]:
    """Each fold's held-out indices into train+val, from the config's data and train.seed (loads the data)."""
    if k < 2:
        raise ConfigError(f"--folds {k}: cross-validation needs at least 2 folds")
    seed = config.train.seed
    splits = load_data(replace(config.data, folds=None, fold=0), seed, config.where("data", "dataset"))
    return held_out(pool(splits).y, k, seed, splits.classes)


def train_folds(config: str | Path | Config, k: int, *, overrides=(), out=None, metric: str | None = None,
                progress: Progress | None = None, fold_progress: Callable[[int], Progress] | None = None,
                runs_root: str | Path = "runs") -> FoldsResult:
    """Train fold 0..k-1 into DIR/fold_<i> (DIR: `out`, or runs/<name>/<n>); write DIR/summary.json and
    DIR/folds.html. `fold_progress(i)` gives each fold its own Progress (tune reports through it)."""
    resolved = config if isinstance(config, Config) else load_config(config, overrides)
    metric = metric or resolved.train.monitor
    indices = fold_indices(resolved, k)  # a bad K fails here, before anything trains
    out_dir = _out_dir(resolved, out, runs_root)
    folds = []
    for i, held in enumerate(indices):
        run_dir = out_dir / f"fold_{i}"
        fold_config = config_from_dict(resolved.to_dict(), source=resolved.source, overrides=fold_overrides(k, i))
        _train_fold(fold_config, run_dir, fold_progress(i) if fold_progress else progress or Progress())
        folds.append(Fold(i, run_dir, held, best_value(RunDir(run_dir).read_metrics(), metric)))
    return _finish(out_dir, metric, folds)


def _out_dir(config: Config, out, runs_root) -> Path:
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        return Path(out)
    return new_run_dir(config.name, None, runs_root).path


def _train_fold(config: Config, run_dir: Path, progress: Progress) -> None:
    """A finished fold stays; one cut short resumes; otherwise it starts."""
    run = RunDir(run_dir)
    if run.summary.is_file():
        return
    if run.last.is_file():
        train(resume=run_dir, progress=progress)
    else:
        train(config, out=run_dir, progress=progress)


def _finish(out_dir: Path, metric: str, folds: list[Fold]) -> FoldsResult:
    values = [f.value for f in folds if f.value is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    page = out_dir / PAGE
    result = FoldsResult(out_dir, metric, folds, mean, std, page)
    atomic_write_text(out_dir / SUMMARY, json.dumps(result.as_dict(), indent=2) + "\n")
    reports = {f.run_dir.name: f"{f.run_dir.name}/report.html" for f in folds if (f.run_dir / "report.html").is_file()}
    write_page(page, "folds.html", data={**result.as_dict(), "reports": reports, "out_dir": str(out_dir)})
    return result
