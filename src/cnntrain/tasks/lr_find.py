"""`cnntrain lr-find`: the learning-rate range test (Smith, 2017, "Cyclical Learning Rates").

    from cnntrain.tasks.lr_find import lr_find
    result = lr_find("configs/cnn.yaml")     # result.suggestion, result.chart, result.json_path

Train from the config's initial weights for up to 100 steps while the learning rate rises
exponentially from 1e-7 to 10, and record the loss of each step. The loss first barely moves (the
rate is too small to matter), then falls, then blows up. The suggestion is the rate where the
smoothed loss falls fastest (its steepest descent against log(lr)): large enough to learn quickly,
still well below where training breaks down. The steps are the training steps of `cnntrain train`
(same data order, augmentation, precision, clipping), with the config's optimizer; its schedule is
replaced by the rising rate. Nothing is saved but the curve: the model and optimizer are thrown away.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnntrain.atomic import atomic_write_text, check_writable
from cnntrain.config.loader import Config, load_config
from cnntrain.errors import ConfigError, DataError, Interrupted
from cnntrain.run.device import process_as_found
from cnntrain.run.engine import Engine
from cnntrain.run.progress import Progress
from cnntrain.run.rundir import new_run_dir
from cnntrain.run.session import Session
from cnntrain.viz.charts import save_lr_find_plot

RULE = "steepest descent of the smoothed loss"
SMOOTHING = 0.9  # exponential moving average of the loss, bias-corrected: one batch's noise is not a trend
DIVERGED = 4.0  # stop once the smoothed loss is this many times its lowest value
SKIP = 0.1  # the first tenth of the curve: the average is still settling and the rate too small to matter


@dataclass
class LrFindResult:
    lrs: list[float]
    losses: list[float]  # each step's loss, as measured
    smoothed: list[float]
    suggestion: float | None  # None: the loss never fell, no rate to suggest
    rule: str
    stopped: str  # why the test ended: "diverged" or "last step"
    out_dir: Path
    chart: Path
    json_path: Path


def lr_find(config: str | Path | Config, *, overrides=(), out: str | Path | None = None, start_lr: float = 1e-7,
            end_lr: float = 10.0, steps: int = 100, progress: Progress | None = None,
            runs_root: str | Path = "runs") -> LrFindResult:
    """Run the range test on a config's model and data; write lr_find.png and lr_find.json into `out`
    (default runs/lr-find/<n>). The config file is never changed."""
    if not 0 < start_lr < end_lr or steps < 5:
        raise ConfigError(f"lr-find needs 0 < start_lr < end_lr and at least 5 steps, got {start_lr:g}, "
                          f"{end_lr:g}, {steps}")
    if out is not None:
        check_writable(out)
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    progress = progress or Progress()
    try:
        with process_as_found():  # the thread count and denormal flushing training sets
            lrs, losses = _range_test(config, np.geomspace(start_lr, end_lr, steps).tolist(), progress)
    except KeyboardInterrupt:
        progress.end()
        raise Interrupted(f"interrupted; nothing written (the chart comes when the sweep ends or the loss "
                          f"diverges). Run lr-find again, with fewer --steps (this one had {steps}) or a lower "
                          f"--end-lr (this one {end_lr:g}) for a shorter sweep") from None
    smoothed = smooth(losses)
    suggestion = suggest(lrs, smoothed)
    stopped = "last step" if len(lrs) == steps else "diverged"
    out_dir = Path(out) if out is not None else new_run_dir("lr-find", None, runs_root).path
    out_dir.mkdir(parents=True, exist_ok=True)
    chart = save_lr_find_plot(lrs, losses, smoothed, suggestion, RULE, out_dir / "lr_find.png")
    record = {"config": config.name, "optimizer": config.train.optimizer, "rule": RULE, "stopped": stopped,
              "suggestion": suggestion, "lrs": lrs, "losses": [_finite(v) for v in losses],
              "smoothed": [_finite(v) for v in smoothed]}
    json_path = out_dir / "lr_find.json"
    atomic_write_text(json_path, json.dumps(record, indent=1) + "\n")
    return LrFindResult(lrs, losses, smoothed, suggestion, RULE, stopped, out_dir, chart, json_path)


def _range_test(config: Config, schedule: list[float], progress: Progress) -> tuple[list[float], list[float]]:
    """Train one step per rate in `schedule` until the smoothed loss diverges: (rates used, their losses)."""
    engine = _engine(config, progress)
    if len(engine.train_y) < 2:
        raise DataError("lr-find needs at least two training images")  # batch norm cannot train on one
    lrs, losses, epoch, groups = [], [], 0, []
    progress.start(epochs=1, first_epoch=1, steps=len(schedule))
    for step, lr in enumerate(schedule, 1):
        if not groups:  # a small training set is gone through again, in the order its next epoch would take
            epoch += 1
            batches = engine.epoch_batches(epoch)
            groups = list(batches.groups)
        for param_group in engine.optimizer.param_groups:
            param_group["lr"] = lr
        try:
            # One optimizer step as `train` takes it (train.accumulate batches): (loss sum, weight, hits).
            loss_sum, weight, _ = engine.step(groups.pop(0), batches.aug_gen)
        except (RuntimeError, OverflowError) as error:
            if "overflow" not in str(error) and not isinstance(error, OverflowError):
                raise  # a bug, not the rate
            break  # the rate is beyond the optimizer's float32 arithmetic: the curve ends here
        lrs.append(lr)
        losses.append(float(loss_sum) / float(weight))
        progress.batch(step=step, steps=len(schedule), loss=losses[-1], acc=float("nan"), images_per_sec=0.0)
        if diverged(smooth(losses)):
            break
    progress.end()
    return lrs, losses


def _engine(config: Config, progress: Progress) -> Engine:
    """What `cnntrain train` would train (data, model.init's weights, freeze, class weights, sampler,
    optimizer) with a constant schedule that the test sets by hand, and no weight average."""
    config = config.replace(train={"scheduler": "none", "warmup_epochs": 0, "epochs": 1, "ema": None})
    return Session(config, None, progress).prepare()  # progress: e.g. skipped corrupt images


def smooth(losses: list[float]) -> list[float]:
    """Bias-corrected exponential moving average (as in Adam's moments): no pull towards 0 at the start."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        out.append(average / (1 - SMOOTHING**i))
    return out


def diverged(smoothed: list[float]) -> bool:
    last = smoothed[-1]
    return not math.isfinite(last) or (len(smoothed) > 5 and last > DIVERGED * min(smoothed))


def suggest(lrs: list[float], smoothed: list[float]) -> float | None:
    """The rate where the smoothed loss falls fastest against log10(lr), before its lowest point."""
    values = np.asarray(smoothed, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.sum() < 5:
        return None
    first = int(len(values) * SKIP)
    lowest = first + int(np.nanargmin(np.where(finite, values, np.nan)[first:]))
    if lowest - first < 2:
        return None  # the loss never fell after the first steps: no rate here learns
    window = slice(first, lowest + 1)
    slopes = np.gradient(values[window], np.log10(np.asarray(lrs)[window]))
    if slopes.min() >= 0:
        return None
    return float(lrs[first + int(np.argmin(slopes))])


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN
