"""`cnntrain train --fast-dev-run`: everything a run does, on one batch, in a folder deleted afterwards.

    from cnntrain.tasks.fast_dev_run import fast_dev_run
    result = fast_dev_run("configs/cnn.yaml")   # raises the error a real run would meet, or returns

A typo in a layer, a shape that does not fit, a dataset path, a TensorBoard or checkpoint problem:
each would otherwise show after the first epoch of a long run. Here one training step, one validation
batch and one test batch go through the model, the data, the logging, the checkpoints (saved, then the
best one loaded back for the test) and the pictures, and nothing is left under runs/.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cnntrain.config.loader import Config, load_config
from cnntrain.errors import CnntrainError, Interrupted
from cnntrain.run.progress import Progress
from cnntrain.run.train import train


@dataclass
class FastDevRunResult:
    summary: dict  # summary.json of the throw-away run
    files: list[str]  # what the run wrote, relative to its directory, before it was deleted
    seconds: float


def fast_dev_run(config: str | Path | Config, *, overrides=(), progress: Progress | None = None) -> FastDevRunResult:
    started = time.perf_counter()
    if not isinstance(config, Config):
        config = load_config(config, overrides)
    # generating thousands of synthetic images would take most of the time (only the built-in sets read these)
    data, batch = config.data, config.train.batch_size
    sizes = {"train_size": min(data.train_size, batch), "val_size": min(data.val_size, batch),
             "test_size": min(data.test_size, batch)}
    config = config.replace(train={"epochs": 1}, data=sizes)
    with tempfile.TemporaryDirectory(prefix="cnntrain-fast-dev-run-") as folder:
        run = Path(folder) / "run"
        try:
            result = train(config, out=run, progress=progress, fast_dev_run=True)
        except CnntrainError as error:
            raise _without_folder(error, run) from None
        files = sorted(p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file() and p.name != "lock")
    return FastDevRunResult(result.summary, files, time.perf_counter() - started)


def _without_folder(error: CnntrainError, run: Path) -> CnntrainError:
    """The error with every clause that names the throw-away run cut out: the folder is deleted by the time
    the user reads it, and a --resume of it cannot work."""
    if isinstance(error, Interrupted):
        return Interrupted("interrupted; --fast-dev-run keeps nothing")
    clauses = [c for c in re.split(r"(?<=[;.])\s+", str(error)) if str(run) not in c]
    message = re.sub(r";$", ".", clauses[0]) if len(clauses) > 1 else clauses[0].rstrip(";")
    return type(error)(" ".join([message, *clauses[1:]]))
