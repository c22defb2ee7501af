"""Where a `cnntrain tune` study lives, and what keeps it whole when processes die.

Storage: Optuna's file journal inside the output folder by default (no server; several processes
append to it safely), or a database URL (`sqlite:///...`, `postgresql://...`) that several machines
share. A study remembers its search space and metric; the same name with another space is refused.

Workers: each tuning process holds a lock (flock) on its own file in DIR/workers for as long as it
lives, and tags every trial it asks for with that file's name. A trial still RUNNING whose worker's
lock is free was cut short (kill -9, a crash, a lost machine): the next worker to look marks it failed
and says so in its run directory. The OS drops a flock however a process ends, so no dead worker
looks alive; a trial whose worker file is not here (another machine, its own DIR) is left to that
machine's workers.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import socket
import uuid
from pathlib import Path

import optuna
from optuna.trial import TrialState

from cnntrain.errors import ConfigError

JOURNAL = "tune.journal"
WORKERS = "workers"
UNTAGGED = datetime.timedelta(minutes=2)  # a worker tags its trial milliseconds after asking
CUT_SHORT = "the tuner was stopped during this trial (killed, crashed or its machine lost)"

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the library prints nothing; the CLI shows trials


def open_storage(url: str | None, out: Path):
    """Optuna storage for `--storage URL`, or the journal file in `out`; an unreachable one is one line."""
    if url is None:
        from optuna.storages.journal import JournalFileBackend

        out.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(out / JOURNAL)))
    scheme = url.split(":", 1)[0].lower()
    if not (scheme == "sqlite" or scheme.startswith("postgresql")):
        raise ConfigError(f"--storage {shown_url(url)}: not a database URL cnntrain knows; give sqlite:///FILE or "
                          "postgresql://USER:PASSWORD@HOST/DB, or leave it out for a journal file in --out")
    # the driver the postgresql extra installs, whatever SQLAlchemy's default for the plain scheme
    engine_url = "postgresql+psycopg://" + url[len("postgresql://"):] if url.startswith("postgresql://") else url
    try:
        return optuna.storages.RDBStorage(engine_url, engine_kwargs={"pool_pre_ping": True})
    except Exception as error:  # sqlalchemy and the driver raise their own kinds; all mean the same here
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        raise ConfigError(f"--storage {shown_url(url)}: cannot reach the database "
                          f"({reason[0] if reason else type(error).__name__}); check the URL and that it "
                          "is running") from None


def shown_url(url: str) -> str:
    """A URL with its password hidden, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def open_study(storage, name: str, space: dict, metric: str, pruner) -> optuna.Study:
    """Create the study, or load it after checking it searches the same space for the same metric."""
    direction = "maximize" if metric.endswith("acc") else "minimize"
    study = optuna.create_study(storage=storage, study_name=name, direction=direction, pruner=pruner,
                                load_if_exists=True)
    attrs = study.user_attrs
    if attrs.get("metric", metric) != metric:
        raise ConfigError(f"--study {name}: a study of that name exists for --metric {attrs['metric']}, not "
                          f"{metric}; use that metric to continue it, or another --study name")
    if "space" not in attrs:
        # metric first: a process starting at the same moment reads "space" as the sign that both are there
        study.set_user_attr("metric", metric)
        study.set_user_attr("space", space)
    elif attrs["space"] != space:
        raise ConfigError(f"--study {name}: a study of that name exists with another space "
                          f"({differences(attrs['space'], space)}); use the same space to continue it, or another "
                          "--study name")
    return study


def differences(there: dict, here: dict) -> str:
    parts = [f"{k} only there" for k in there if k not in here]
    parts += [f"{k} only here" for k in here if k not in there]
    parts += [f"{k}: {there[k]} there, {here[k]} here" for k in here if k in there and there[k] != here[k]]
    return "; ".join(parts)


class WorkerLock:
    """This process's liveness, as a flock on DIR/workers/<host>-<pid>-<id>.lock."""

    def __init__(self, out: Path):
        folder = out / WORKERS
        folder.mkdir(parents=True, exist_ok=True)
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.fd = os.open(folder / f"{self.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh name: nobody else holds it

    def release(self) -> None:
        os.close(self.fd)


def alive(out: Path, worker: str | None) -> bool | None:
    """Whether the worker of that name still holds its lock; None when its file is not here to tell."""
    if not worker:
        return None
    path = out / WORKERS / f"{worker}.lock"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def cut_short(study: optuna.Study, out: Path) -> list[optuna.trial.FrozenTrial]:
    """RUNNING trials whose worker is gone, or that never got one (killed between asking and tagging)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    now = datetime.datetime.now()
    return [t for t in running if alive(out, t.user_attrs.get("worker")) is False
            or ("worker" not in t.user_attrs and t.datetime_start and now - t.datetime_start > UNTAGGED)]
