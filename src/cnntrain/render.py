"""Everything cnntrain shows on a terminal: Rich tables, JSON, progress, errors.

The library returns data; this module turns it into text. Only here and in `cli` is rich imported.
"""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from cnntrain.progress import Progress

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


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


def shape(values) -> str:
    return " x ".join("?" if v is None else str(v) for v in values)


def print_json(obj) -> None:
    """One JSON object on stdout and nothing else there: for scripts and `jq`."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", soft_wrap=True)


def summary_table(summary) -> None:
    table = Table(title=f"{summary.name}: input {shape(summary.input_shape)}", title_justify="left")
    columns = ["#", "name", "type", "output shape", "params", "MACs", "RF", "jump"]
    if summary.frozen_params:  # only worth a column when some filters are hand-designed and fixed
        columns.insert(5, "frozen")
    for column in columns:
        table.add_column(column, justify="left" if column in ("name", "type", "output shape") else "right",
                         overflow="fold", min_width=len(column))
    for layer in summary.layers:
        row = {
            "#": layer.index, "name": layer.name, "type": layer.type, "output shape": shape(layer.out_shape),
            "params": f"{layer.params:,}", "frozen": f"{layer.params - layer.trainable_params:,}",
            "MACs": human(layer.macs) if layer.macs else "", "RF": _geometry(layer.receptive_field),
            "jump": _geometry(layer.jump),
        }
        table.add_row(*(row[c] for c in columns))
    out.print(table)
    out.print(
        f"params: [bold]{summary.total_params:,}[/] (trainable {summary.trainable_params:,}, "
        f"frozen {summary.frozen_params:,})   MACs per sample: [bold]{human(summary.macs)}[/]\n"
        f"model size: {human_bytes(summary.param_bytes)}   activations per sample: "
        f"{human_bytes(summary.activation_bytes)}   output: {shape(summary.output_shape)}"
    )
    out.print("[dim]RF: receptive field in input pixels; jump: input pixels between neighbouring outputs "
              "(product of strides); '-': every output sees the whole input[/]")


def _geometry(values) -> str:
    if values is None:
        return "-"
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


# --- training progress ----------------------------------------------------------------------------


def epoch_line(record: dict, epochs: int) -> str:
    return (f"epoch {record['epoch']}/{epochs}  train_loss {record['train_loss']:.4f}  "
            f"train_acc {record['train_acc']:.2%}  val_loss {record['val_loss']:.4f}  "
            f"val_acc {record['val_acc']:.2%}  lr {record['lr']:.3g}  "
            f"{record['images_per_sec']:,.0f} img/s  {record['epoch_seconds']:.1f}s")


class PlainProgress(Progress):
    """One line per epoch and no control codes: for CI logs, pipes and files."""

    def start(self, *, epochs, first_epoch, steps):
        self.epochs = epochs

    def epoch(self, record):
        print(epoch_line(record, self.epochs), flush=True)


class RichProgress(Progress):
    """Bars for epochs and batches, with loss, accuracy, images/s and time left."""

    def start(self, *, epochs, first_epoch, steps):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn,
                                   TimeRemainingColumn)

        self.epochs = epochs
        self.bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=out, transient=False)
        self.bars.start()
        self.epoch_task = self.bars.add_task("epochs", total=epochs, completed=first_epoch - 1, info="")
        self.batch_task = self.bars.add_task("batches", total=steps, info="")

    def batch(self, *, step, steps, loss, acc, images_per_sec):
        if step == 1 or step <= 2:
            self.bars.reset(self.batch_task, total=steps)
        self.bars.update(self.batch_task, completed=step,
                         info=f"loss {loss:.4f}  acc {acc:.2%}  {images_per_sec:,.0f} img/s")

    def epoch(self, record):
        self.bars.console.print(epoch_line(record, self.epochs))
        self.bars.update(self.epoch_task, advance=1, info=f"val_acc {record['val_acc']:.2%}")

    def end(self):
        if hasattr(self, "bars"):
            self.bars.stop()


def progress_for(quiet: bool) -> Progress:
    if quiet:
        return Progress()
    return RichProgress() if out.is_terminal else PlainProgress()


def train_done(result) -> None:
    s = result.summary
    run = result.run_dir
    best = s["best"]
    value = best["value"]
    shown = f"{value:.2%}" if value is not None and best["metric"].endswith("acc") else f"{value}"
    out.print(f"\n[bold green]done[/] in {s['seconds']:.1f}s{' (stopped early)' if result.stopped_early else ''}: "
              f"best {best['metric']} {shown} at epoch {best['epoch']}"
              + (f"; test accuracy {s['test']['acc']:.2%}" if s.get("test") else ""))
    out.print(f"run directory: [bold]{run}[/]")
    out.print("next:\n"
              f"  cnntrain evaluate --checkpoint {run}/checkpoints/best.pt\n"
              f"  cnntrain featuremaps --checkpoint {run}/checkpoints/best.pt --image IMAGE\n"
              f"  tensorboard --logdir {run}")
