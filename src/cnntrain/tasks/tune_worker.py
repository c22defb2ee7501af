"""One `cnntrain tune` worker: ask Optuna for a trial, train it as an ordinary run, tell the result; again,
until the study has its trials.

A trial reports its metric after every epoch through its Progress (`TrialProgress`) and stops when the
pruner says so. It ends complete, pruned, or failed with a reason: cnntrain's one line for a setting
that cannot train, "interrupted (Ctrl-C)", or, marked by the next worker to look, cut short by a kill
(tune_study.py). Every end is written to the study and to the trial's run directory (trial.json).
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from cnntrain.errors import CnntrainError, Interrupted
from cnntrain.run.ctrl_c import ignoring_ctrl_c
from cnntrain.run.progress import Progress
from cnntrain.run.rundir import RunDir
from cnntrain.run.train import train
from cnntrain.tasks.folds import best_value, train_folds
from cnntrain.tasks.tune_outputs import finish_trial_dir, trial_rows, write_outputs
from cnntrain.tasks.tune_space import Space, load_space, setting
from cnntrain.tasks.tune_study import CUT_SHORT, WorkerLock, cut_short, open_storage, shown_url


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


def pruner_of(job: TuneJob):
    if job.pruner == "median":
        # Not on epoch 1 alone: its accuracy says little of where a run ends (scripts/bench_tune.py, README)
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if job.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=job.epochs * (job.folds or 1))
    return optuna.pruners.NopPruner()


def load_study(job: TuneJob, worker: int = 0) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=None if job.seed is None else job.seed + worker)
    return optuna.load_study(study_name=job.study, storage=open_storage(job.storage, Path(job.out)),
                             pruner=pruner_of(job), sampler=sampler)


def interrupted_error(job: TuneJob) -> Interrupted:
    where = f"--storage {shown_url(job.storage)}" if job.storage else f"{job.out}"
    return Interrupted(f"interrupted; the finished trials are kept in {where} (study {job.study}); run the same "
                       "command again to continue the study")


# --- one worker: ask, train, tell, until the study has its trials ---------------------------------


def run_worker(job: TuneJob, progress: TuneProgress | None = None, started: float | None = None,
               worker: int = 0) -> None:
    progress = progress or TuneProgress()
    started = time.monotonic() if started is None else started
    out = Path(job.out)
    study = load_study(job, worker)
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
            progress.update(trial_rows(study))
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
        with ignoring_ctrl_c():  # a second Ctrl-C must not cut the bookkeeping short
            fail_trial(study, trial.number, Path(job.out), "interrupted (Ctrl-C)", interrupted=True)
        raise interrupted_error(job) from None
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
        if result.std is not None:  # the spread across folds: tells noise from progress in tune.html
            trial.set_user_attr("std", result.std)
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
