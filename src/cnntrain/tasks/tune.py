"""`cnntrain tune`: search settings with Optuna, every trial an ordinary run directory.

    from cnntrain.tasks.tune import tune
    result = tune("configs/cnn.yaml", "space.yaml", trials=20, out="runs/tune/cnn")
    print(result.best_value, result.best_params)    # and runs/tune/cnn/{tune.json, best.yaml, tune.html}

Optuna owns the study, the sampler (TPE), the pruner and the storage; cnntrain owns the trial: the
sampled values go in as `--set`s, the trial trains into DIR/trials/<n> (report.html, checkpoints,
TensorBoard), reports the metric after every epoch through its Progress and stops when the pruner
says so (marked pruned, its run directory kept). A setting that cannot train fails its trial with
cnntrain's one-line reason and the study goes on. `workers` > 1 starts that many worker processes,
each with its share of the CPU threads; the same call in other processes or on other machines with
the same storage and study joins in (tune_worker.py: one worker's loop and its trials; tune_study.py:
storage, liveness of workers; tune_outputs.py: tune.json, best.yaml, tune.html).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import time
from pathlib import Path

from cnntrain.config.loader import load_config
from cnntrain.errors import CnntrainError, ConfigError, Interrupted
from cnntrain.run.ctrl_c import ignoring_ctrl_c
from cnntrain.tasks.folds import fold_indices
from cnntrain.tasks.tune_outputs import TuneResult, trial_rows, write_outputs
from cnntrain.tasks.tune_space import check_space, load_space
from cnntrain.tasks.tune_study import open_storage, open_study
from cnntrain.tasks.tune_worker import (
    TuneJob,
    TuneProgress,
    interrupted_error,
    load_study,
    pruner_of,
    run_worker,
    worker_main,
)

__all__ = ["TuneJob", "TuneProgress", "TuneResult", "tune"]

METRICS = ("val_acc", "val_loss")
PRUNERS = ("median", "hyperband", "none")


def tune(config, space, *, trials: int = 20, timeout: float | None = None, metric: str = "val_acc",
         pruner: str = "median", storage: str | None = None, study: str | None = None, workers: int = 1,
         folds: int | None = None, overrides=(), out=None, progress: TuneProgress | None = None,
         seed: int | None = None) -> TuneResult:
    """Run (or continue) a study; write DIR/tune.json, best.yaml and tune.html. Checks everything first.
    `seed` seeds the sampler, for comparisons (scripts/bench_tune.py); the CLI leaves it None."""
    progress = progress or TuneProgress()
    job = _job(config, space, trials, timeout, metric, pruner, storage, study, workers, folds, overrides, out)
    job = dataclasses.replace(job, seed=seed)
    started = time.monotonic()
    try:
        if workers == 1:
            run_worker(job, progress, started)
        else:
            _run_workers(job, workers, progress)
    except (Interrupted, KeyboardInterrupt):  # in a trial (marked failed by now), or asking Optuna
        with ignoring_ctrl_c():  # tune.json and tune.html show the trials so far, the interrupted ones too
            write_outputs(load_study(job), job)
        raise interrupted_error(job) from None
    return write_outputs(load_study(job), job)


def _job(config, space_path, trials, timeout, metric, pruner, storage, study, workers, folds, overrides,
         out) -> TuneJob:
    if metric not in METRICS:
        raise ConfigError(f"--metric {metric}: not a metric tune knows; valid: {', '.join(METRICS)}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner {pruner}: valid: {', '.join(PRUNERS)}")
    for flag, value, low in (("--trials", trials, 1), ("--workers", workers, 1)):
        if value < low:
            raise ConfigError(f"{flag} {value}: must be at least {low}")
    if folds is not None and folds < 2:
        raise ConfigError(f"--folds {folds}: cross-validation needs at least 2 folds")
    overrides = tuple(overrides)
    loaded = load_config(config, overrides)
    space = load_space(space_path)
    check_space(space, config, overrides)
    if folds is not None:
        fold_indices(loaded, folds)  # more folds than the rarest class has samples fails here
    name = study or loaded.name
    out = Path(out) if out is not None else Path("runs") / "tune" / name
    job = TuneJob(str(config), str(space_path), str(out), trials, timeout, metric, pruner, storage, name, folds,
                  overrides, loaded.train.epochs)
    open_study(open_storage(storage, out), name, space.as_dict(), metric, pruner_of(job))  # create, or check it
    return job


# --- several worker processes on this machine ------------------------------------------------------


def _run_workers(job: TuneJob, workers: int, progress: TuneProgress) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads or locks copied
    with _environment(OMP_NUM_THREADS=str(max(1, cores // workers))):  # read once, when torch loads
        processes = [context.Process(target=worker_main, args=(job, i), name=f"cnntrain-tune-{i}")
                     for i in range(workers)]
        for process in processes:
            process.start()
    study = load_study(job)
    try:
        while any(p.is_alive() for p in processes):
            processes[0].join(1.0)
            progress.update(trial_rows(study))
    except KeyboardInterrupt:
        _stop(processes)
        raise interrupted_error(job) from None
    codes = [p.exitcode for p in processes]
    if 130 in codes:
        raise interrupted_error(job)
    if any(codes):
        raise CnntrainError(f"{sum(1 for c in codes if c)} of {workers} worker processes stopped with an error "
                            f"(exit status {', '.join(str(c) for c in codes if c)}): see their message above")


def _stop(processes) -> None:
    """Ctrl-C on a terminal reaches the workers too; give them time to mark their trials, then ask again."""
    deadline = time.monotonic() + 5
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    for process in processes:
        process.join()


@contextlib.contextmanager
def _environment(**values):
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

