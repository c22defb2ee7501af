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
the same storage and study joins in (tune_study.py: storage, liveness of workers).
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from cnntrain.config.loader import load_config
from cnntrain.errors import CnntrainError, ConfigError, Interrupted
from cnntrain.run.progress import Progress
from cnntrain.run.rundir import RunDir
from cnntrain.run.train import train
from cnntrain.tasks.folds import best_value, fold_indices, train_folds
from cnntrain.tasks.tune_outputs import TuneResult, finish_trial_dir, trial_rows, write_outputs
from cnntrain.tasks.tune_space import Space, check_space, load_space, setting
from cnntrain.tasks.tune_study import CUT_SHORT, WorkerLock, cut_short, open_storage, open_study, shown_url

METRICS = ("val_acc", "val_loss")
PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class TuneJob:
    """Everything a worker process needs, as plain values (it crosses a process start)."""

    config: str
    space: str
    out: str
    trials: int
    timeout: float | None
    metric: str
    pruner: str
    storage: str | None
    study: str
    folds: int | None
    overrides: tuple[str, ...]
    epochs: int  # per run, for the pruner's steps across folds
    seed: int | None = None  # the sampler's (TPE): None draws afresh; worker i of several takes seed + i


class TuneProgress:
    """What tune reports while it runs: the trials table, whenever it changes. No-op by default."""

    def update(self, rows: list[dict]) -> None: ...


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
    except KeyboardInterrupt:  # outside a trial (asking Optuna, writing the outputs)
        raise _interrupted(job) from None
    return write_outputs(_load(job), job)


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
                  overrides, loaded.train["epochs"])
    open_study(open_storage(storage, out), name, space.as_dict(), metric, _pruner(job))  # create, or check it
    return job


def _pruner(job: TuneJob):
    if job.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    if job.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=job.epochs * (job.folds or 1))
    return optuna.pruners.NopPruner()


def _load(job: TuneJob, worker: int = 0) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=None if job.seed is None else job.seed + worker)
    return optuna.load_study(study_name=job.study, storage=open_storage(job.storage, Path(job.out)),
                             pruner=_pruner(job), sampler=sampler)


def _interrupted(job: TuneJob) -> Interrupted:
    where = f"--storage {shown_url(job.storage)}" if job.storage else f"{job.out}"
    return Interrupted(f"interrupted; the finished trials are kept in {where} (study {job.study}); run the same "
                       "command again to continue the study")


# --- one worker: ask, train, tell, until the study has its trials ---------------------------------


def run_worker(job: TuneJob, progress: TuneProgress | None = None, started: float | None = None,
               worker: int = 0) -> None:
    progress = progress or TuneProgress()
    started = time.monotonic() if started is None else started
    out = Path(job.out)
    study = _load(job, worker)
    space = load_space(job.space)
    lock = WorkerLock(out)
    try:
        while True:
            for trial in cut_short(study, out):
                fail_trial(study, trial.number, out, CUT_SHORT, interrupted=True)
            if _counted(study) >= job.trials or (job.timeout and time.monotonic() - started > job.timeout):
                return
            trial = study.ask()
            trial.set_user_attr("worker", lock.name)
            trial.set_user_attr("run", f"trials/{trial.number}")
            run_trial(study, trial, job, space, progress)
            write_outputs(study, job)
            progress.update(trial_rows(study))
    finally:
        lock.release()


def _counted(study: optuna.Study) -> int:
    """Trials that count towards --trials: finished or running, but not those cut short (they are redone)."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state != TrialState.WAITING and not t.user_attrs.get("interrupted"))


def run_trial(study: optuna.Study, trial: optuna.Trial, job: TuneJob, space: Space, progress: TuneProgress) -> None:
    params = space.suggest(trial)
    sets = [*job.overrides, *(setting(key, value) for key, value in params.items())]
    run_dir = Path(job.out) / "trials" / str(trial.number)
    try:
        value = _train_trial(job, sets, run_dir, trial, lambda: progress.update(trial_rows(study)))
    except optuna.TrialPruned:
        study.tell(trial, state=TrialState.PRUNED)
        finish_trial_dir(study, trial.number, run_dir)
        return
    except (Interrupted, KeyboardInterrupt):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the bookkeeping short
        fail_trial(study, trial.number, Path(job.out), "interrupted (Ctrl-C)", interrupted=True)
        raise _interrupted(job) from None
    except CnntrainError as error:  # this setting cannot train: the study goes on
        fail_trial(study, trial.number, Path(job.out), str(error))
        return
    except BaseException as error:  # a bug in cnntrain: the trial says so, the traceback goes on up
        fail_trial(study, trial.number, Path(job.out), f"cnntrain failed: {error!r}")
        raise
    if value is None:
        fail_trial(study, trial.number, Path(job.out), f"no epoch gave a finite {job.metric}")
        return
    study.tell(trial, value)
    finish_trial_dir(study, trial.number, run_dir)


def _train_trial(job: TuneJob, sets: list[str], run_dir: Path, trial: optuna.Trial, changed) -> float | None:
    if job.folds:
        result = train_folds(job.config, job.folds, overrides=sets, out=run_dir, metric=job.metric,
                             fold_progress=lambda i: TrialProgress(trial, job.metric, i * job.epochs, changed))
        return result.mean
    train(job.config, overrides=sets, out=run_dir, progress=TrialProgress(trial, job.metric, 0, changed))
    return best_value(RunDir(run_dir).read_metrics(), job.metric)


class TrialProgress(Progress):
    """Reports the metric to the trial after every epoch, and stops the run when the pruner says so."""

    def __init__(self, trial: optuna.Trial, metric: str, offset: int, changed):
        self.trial, self.metric, self.offset, self.changed = trial, metric, offset, changed

    def epoch(self, record: dict) -> None:
        value = record.get(self.metric)
        if isinstance(value, (int, float)) and value == value and abs(value) != float("inf"):
            self.trial.report(float(value), self.offset + record["epoch"])
        self.changed()
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {record['epoch']}")


def fail_trial(study: optuna.Study, number: int, out: Path, reason: str, *, interrupted: bool = False) -> None:
    """Mark a RUNNING trial failed with its reason, in the study and in its run directory."""
    trial = study.get_trials(deepcopy=False)[number]
    storage = study._storage  # Optuna's public API sets attributes only through a live Trial object
    storage.set_trial_user_attr(trial._trial_id, "reason", reason)
    if interrupted:
        storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
    with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
        study.tell(number, state=TrialState.FAIL)
    finish_trial_dir(study, number, out / "trials" / str(number))


# --- several worker processes on this machine ------------------------------------------------------


def _run_workers(job: TuneJob, workers: int, progress: TuneProgress) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch threads or locks copied
    with _environment(OMP_NUM_THREADS=str(max(1, cores // workers))):  # read once, when torch loads
        processes = [context.Process(target=worker_main, args=(job, i), name=f"cnntrain-tune-{i}")
                     for i in range(workers)]
        for process in processes:
            process.start()
    study = _load(job)
    try:
        while any(p.is_alive() for p in processes):
            processes[0].join(1.0)
            progress.update(trial_rows(study))
    except KeyboardInterrupt:
        _stop(processes)
        raise _interrupted(job) from None
    codes = [p.exitcode for p in processes]
    if 130 in codes:
        raise _interrupted(job)
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


def worker_main(job: TuneJob, worker: int) -> None:
    """A worker process's entry: its trials' errors are the trials'; its own end it as cnntrain does."""
    try:
        run_worker(job, worker=worker)
    except Interrupted:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except CnntrainError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


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

