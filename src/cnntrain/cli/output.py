"""What every command's terminal output shares: the two consoles, JSON, errors and warnings, progress,
short numbers, and `escape` (user text shown literally, never read as Rich markup). Each command's own
tables and lines live in its module beside its options (cli/train.py, cli/evaluate.py, ...).

The library returns data; `cli` turns it into text. Only `cli` imports rich.
"""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console, ConsoleDimensions
from rich.markup import escape

from cnntrain.run.progress import Progress


class _Console(Console):
    """Wraps lines for a person at a terminal, never for a program: when its stream is a pipe, a file or a
    test's buffer, lines stay whole (a path, a number or a JSON line is never cut in two) and tables take
    their natural width, whatever COLUMNS or the terminal that started the pipe says."""

    PIPED_WIDTH = 10_000  # wide enough for any table; Rich needs some width to lay one out

    def _piped(self) -> bool:
        try:
            return not self.file.isatty()
        except (AttributeError, ValueError, OSError):  # closed or unusual streams: treat as a program's
            return True

    @property
    def soft_wrap(self) -> bool:
        return self._piped() or self._soft_wrap

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value

    @property
    def size(self):
        if self._piped():
            return ConsoleDimensions(self.PIPED_WIDTH, super().size.height)
        return super().size


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)


def human(n: float, unit: str = "") -> str:
    """1_234_567 -> '1.23M': short numbers for multiply-adds and bytes."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:g}{unit}"


def human_bytes(n: int) -> str:
    for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{n / scale:.2f} {suffix}"
    return f"{n} B"


def shown_path(path) -> str:
    """A path as the user would type it: relative to the working directory when it lies inside it, so a
    resumed run (whose directory the library resolves) reads like a fresh one."""
    from pathlib import Path

    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) if path.is_absolute() else str(path)
    except ValueError:
        return str(path)


def percent(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def print_json(obj) -> None:
    """One JSON object on stdout and nothing else there: for scripts and `jq`."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    # escape: a message quotes user text (paths, `[sobel_x, sobel_y]`) that Rich would read as markup
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True, soft_wrap=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def reporting_rank() -> bool:
    """Under torchrun every rank runs the command; rank 0 alone reports progress and results."""
    return os.environ.get("RANK", "0") in ("", "0")


# --- training progress ----------------------------------------------------------------------------


def epoch_line(record: dict, epochs: int) -> str:
    return (f"epoch {record['epoch']}/{epochs}  train_loss {record['train_loss']:.4f}  "
            f"train_acc {record['train_acc']:.2%}  val_loss {record['val_loss']:.4f}  "
            f"val_acc {record['val_acc']:.2%}  lr {record['lr']:.3g}  "
            f"{record['images_per_sec']:,.0f} img/s  {record['epoch_seconds']:.1f}s")


class QuietProgress(Progress):
    """--quiet: no progress, but warnings (e.g. skipped images) still reach stderr."""

    def warning(self, message):
        warn(message)


class PlainProgress(QuietProgress):
    """One line per epoch and no control codes: for CI logs, pipes and files."""

    def start(self, *, epochs, first_epoch, steps):
        self.epochs = epochs

    def note(self, message):
        print(message, flush=True)

    def epoch(self, record):
        print(epoch_line(record, self.epochs), flush=True)


class RichProgress(QuietProgress):
    """Bars for epochs and batches, with loss, accuracy, images/s and time left."""

    def note(self, message):
        out.print(message, markup=False, highlight=False, soft_wrap=True)

    def start(self, *, epochs, first_epoch, steps):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as Bars

        self.epochs = epochs
        self.bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=out, transient=False)
        self.bars.start()
        self.epoch_task = self.bars.add_task("epochs", total=epochs, completed=first_epoch - 1, info="")
        self.batch_task = self.bars.add_task("batches", total=steps, info="")

    def batch(self, *, step, steps, loss, acc, images_per_sec):
        if step <= getattr(self, "last_step", 0):  # a new epoch (reports come every few steps): restart the clock
            self.bars.reset(self.batch_task, total=steps)
        self.last_step = step
        self.bars.update(self.batch_task, completed=step,
                         info=f"loss {loss:.4f}  acc {acc:.2%}  {images_per_sec:,.0f} img/s")

    def epoch(self, record):
        self.bars.console.print(epoch_line(record, self.epochs))
        self.bars.update(self.epoch_task, advance=1, info=f"val_acc {record['val_acc']:.2%}")

    def end(self):
        if hasattr(self, "bars"):
            self.bars.stop()


def progress_for(quiet: bool) -> Progress:
    if not reporting_rank():
        return Progress()  # rank 0 reports for the whole torchrun job
    if quiet:
        return QuietProgress()
    return RichProgress() if out.is_terminal else PlainProgress()
