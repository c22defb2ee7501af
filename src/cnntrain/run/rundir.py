"""The run directory: where a training run puts everything, under names other tools rely on.

    config.yaml          the resolved config; `cnntrain train --config` reruns it
    metrics.jsonl        one JSON object per epoch
    checkpoints/last.pt  after every epoch; checkpoints/best.pt at the best monitored metric
    summary.json         best and final metrics, time, device, versions, data fingerprint
    events.out.tfevents.*  TensorBoard, in the run directory itself
    lock                 locked (flock) by the process training here; holds its PID (lock.py)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from cnntrain.atomic import append_line, atomic_write_text, read_jsonl, rewrite_jsonl_upto
from cnntrain.errors import CnntrainError
from cnntrain.run.lock import RunLock


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def last(self) -> Path:
        return self.path / "checkpoints" / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "checkpoints" / "best.pt"

    def write_config(self, config: dict) -> None:
        text = "# Resolved by cnntrain: every default filled in. Rerun with: cnntrain train --config this-file\n"
        atomic_write_text(self.config, text + yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> tuple[str | None, dict | None]:
        """config.yaml's text and its data, each None when missing or damaged (a report page says so)."""
        try:
            text = self.config.read_text(encoding="utf-8") if self.config.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None, None
        try:
            data = yaml.safe_load(text) if text is not None else None
        except yaml.YAMLError:
            return text, None
        return text, data if isinstance(data, dict) else None

    def append_metrics(self, record: dict) -> None:
        append_line(self.metrics, json.dumps(record))

    def read_metrics(self) -> list[dict]:
        return read_jsonl(self.metrics) if self.metrics.exists() else []

    def truncate_metrics(self, epoch: int) -> None:
        """Keep epochs up to the checkpoint's: a crash between the two writes leaves no duplicate."""
        rewrite_jsonl_upto(self.metrics, "epoch", epoch)

    def write_summary(self, summary: dict) -> None:
        atomic_write_text(self.summary, json.dumps(summary, indent=2) + "\n")


def new_run_dir(name: str, out: str | Path | None, root: str | Path = "runs", *,
                lock: RunLock | None = None) -> RunDir:
    """`--out DIR` exactly; otherwise runs/<name>/<n>, n counting up from 1. With `lock`, the new
    directory is locked before anything is checked or written in it."""
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        if lock is not None:
            lock.take(path)  # before the check: two `--out DIR` started together must not both pass it
        if (path / "checkpoints" / "last.pt").exists():
            raise CnntrainError(f"{path} already holds a run; continue it with --resume {path}, "
                                "or choose another --out")
        return RunDir(path)
    parent = Path(root) / name
    parent.mkdir(parents=True, exist_ok=True)
    numbers = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
    n = max(numbers, default=0) + 1
    while True:  # mkdir without exist_ok: two runs started together never share a folder
        try:
            (parent / str(n)).mkdir()
        except FileExistsError:
            n += 1
            continue
        if lock is not None:
            lock.take(parent / str(n))
        return RunDir(parent / str(n))


def run_dir_of_checkpoint(checkpoint: Path) -> RunDir:
    """runs/x/3/checkpoints/last.pt -> runs/x/3."""
    return RunDir(checkpoint.resolve().parent.parent)
