"""`cnntrain train` as a library call: config -> device -> data -> model -> engine -> run directory.

    from cnntrain.run.train import train
    result = train("configs/cnn.yaml", out="runs/try")
"""

from __future__ import annotations

from pathlib import Path

from cnntrain.atomic import check_writable
from cnntrain.config.loader import Config, load_config
from cnntrain.errors import ConfigError, Interrupted
from cnntrain.run.device import process_as_found
from cnntrain.run.lock import RunLock
from cnntrain.run.progress import Progress
from cnntrain.run.resume import load_resumable, run_to_resume
from cnntrain.run.session import Session, TrainResult


def train(config: str | Path | Config | None = None, *, overrides=(), out=None, resume=None,
          progress: Progress | None = None, runs_root: str | Path = "runs", fast_dev_run: bool = False) -> TrainResult:
    """Train a model from a config (or continue the run a checkpoint belongs to) and write its run dir.
    fast_dev_run: one batch of each split (see tasks/fast_dev_run.py, which also picks a temporary `out`)."""
    progress = progress or Progress()
    if (config is None) == (resume is None):
        raise ConfigError("give a config (--config) to start a run, or a run to continue (--resume RUN_DIR), not both")
    if resume is not None and out is not None:
        raise ConfigError("a resumed run continues in its own directory; drop --out")
    if out is not None:
        check_writable(out)
    checkpoint = None
    lock = RunLock()  # one process writes a run directory at a time; released below, or by the OS on a kill
    try:
        with process_as_found():  # the run fixes its own thread count (device.configure); given back after
            if resume is not None:
                lock.take(run_to_resume(resume).path)  # before reading its checkpoint: that is what we continue
                config, checkpoint = load_resumable(resume, overrides)
            elif not isinstance(config, Config):
                config = load_config(config, overrides)
            session = Session(config, checkpoint, progress, lock=lock, fast_dev_run=fast_dev_run)
            return session.run(out, resume, runs_root)
    except KeyboardInterrupt:  # before the run directory had a checkpoint
        raise Interrupted("interrupted before training started; nothing was saved") from None
    finally:
        lock.release()
