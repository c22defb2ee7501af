"""What `cnntrain tune` leaves in DIR: tune.json, best.yaml, tune.html, and trial.json in each trial's run.

tune.json: `study`, `storage`, `metric`, `direction`, `space`, `best_value`, `best_params`, `best_trial`,
`importances` (Optuna's fANOVA over the finished trials; empty before two) and `trials`, each with
`number`, `state` (complete, pruned, fail, running), `value`, `params`, `epochs` (reported to the
pruner), `seconds`, `run` (relative to DIR), with --folds K `std` (the value's spread across the folds)
and, for a failed trial, `reason`.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

from cnntrain.atomic import atomic_write_text
from cnntrain.config.loader import load_config
from cnntrain.run.report import write_report
from cnntrain.run.rundir import RunDir
from cnntrain.tasks.tune_space import setting
from cnntrain.viz.page import write_page

TRIAL_FILE = "trial.json"


@dataclass
class TuneResult:
    out_dir: Path
    study: str
    metric: str
    best_value: float | None
    best_params: dict | None
    best_trial: int | None
    trials: list[dict]
    importances: dict
    json_path: Path
    best_yaml: Path | None
    page: Path

    def as_dict(self) -> dict:
        return {"study": self.study, "metric": self.metric, "best_value": self.best_value,
                "best_params": self.best_params, "best_trial": self.best_trial, "importances": self.importances,
                "trials": self.trials}


def trial_row(trial: optuna.trial.FrozenTrial) -> dict:
    end = trial.datetime_complete or datetime.datetime.now()
    seconds = (end - trial.datetime_start).total_seconds() if trial.datetime_start else None
    row = {"number": trial.number, "state": trial.state.name.lower(),
           "value": trial.value if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) else None,
           "params": trial.params, "epochs": len(trial.intermediate_values), "seconds": seconds,
           "run": trial.user_attrs.get("run", f"trials/{trial.number}")}
    for key in ("std", "reason"):  # std: across the folds of a --folds K trial
        if key in trial.user_attrs:
            row[key] = trial.user_attrs[key]
    return row


def trial_rows(study: optuna.Study) -> list[dict]:
    return [trial_row(t) for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]


def finish_trial_dir(study: optuna.Study, number: int, run_dir: Path) -> None:
    """trial.json says how the trial ended; a run that stopped early gets its report page as final."""
    if not run_dir.is_dir():
        return
    row = trial_row(study.get_trials(deepcopy=False)[number])
    atomic_write_text(run_dir / TRIAL_FILE, json.dumps(row, indent=2) + "\n")
    run = RunDir(run_dir)
    if row["state"] != "complete" and run.metrics.is_file():
        write_report(run, finished=True)  # no more epochs are coming: the page stops reloading


def importances(study: optuna.Study) -> dict:
    """Optuna's parameter importances, or {} while too few trials have finished to tell."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2 or not complete[0].params:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
    except (RuntimeError, ValueError):  # e.g. every finished trial with the same value
        return {}


def write_outputs(study: optuna.Study, job) -> TuneResult:
    """Under a lock on DIR/tune.lock: every worker writes after each trial it ends (its tell before the lock),
    so whoever writes last has seen every trial told so far and the files are never left behind the study."""
    out = Path(job.out)
    fd = os.open(out / "tune.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return _write_outputs(study, job, out)
    finally:
        os.close(fd)


def _write_outputs(study: optuna.Study, job, out: Path) -> TuneResult:
    rows = trial_rows(study)
    best = _best(study)
    result = TuneResult(out, job.study, job.metric, best.value if best else None, best.params if best else None,
                        best.number if best else None, rows, importances(study), out / "tune.json", None,
                        out / "tune.html")
    document = {"study": job.study, "storage": job.storage or str(out / "tune.journal"), "metric": job.metric,
                "direction": study.direction.name.lower(), "space": study.user_attrs.get("space"),
                "folds": job.folds, **result.as_dict()}
    atomic_write_text(result.json_path, json.dumps(document, indent=2) + "\n")
    if best is not None:
        result.best_yaml = _write_best_yaml(out / "best.yaml", job, best)
    write_page(result.page, "tune.html", data={**document, "reports": _reports(out, rows)})
    return result


def _best(study: optuna.Study):
    try:
        return study.best_trial
    except ValueError:  # no complete trial yet
        return None


def _write_best_yaml(path: Path, job, best) -> Path:
    sets = [*job.overrides, *(setting(k, v) for k, v in best.params.items())]
    config = load_config(job.config, sets).to_dict()
    header = (f"# cnntrain tune: {job.config} with trial {best.number}'s settings ({job.metric} {best.value:.6g}), "
              "every default filled in.\n# Retrain it with: cnntrain train --config this-file\n")
    atomic_write_text(path, header + yaml.safe_dump(config, sort_keys=False))
    return path


def _reports(out: Path, rows: list[dict]) -> dict:
    """Trial number -> its page, relative to DIR: the run's report.html, or folds.html for K folds."""
    links = {}
    for row in rows:
        for page in ("report.html", "folds.html"):
            if (out / row["run"] / page).is_file():
                links[str(row["number"])] = f"{row['run']}/{page}"
    return links
