"""Everything cnntrain shows on a terminal: Rich tables, JSON, progress, errors.

The library returns data; this module turns it into text. Only here and in `cli` is rich imported.
"""

from __future__ import annotations

import json
import os
import sys

from rich.console import Console, ConsoleDimensions
from rich.table import Table

from cnntrain.run.progress import Progress
from cnntrain.text import SPACED, compact_text, shape_text


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


def print_json(obj) -> None:
    """One JSON object on stdout and nothing else there: for scripts and `jq`."""
    sys.stdout.write(json.dumps(obj, indent=2) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    # escape: a message quotes user text (paths, `[sobel_x, sobel_y]`) that Rich would read as markup
    err.print(f"[bold red]error:[/] {_escape(message)}", markup=True, soft_wrap=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {_escape(message)}", soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def reporting_rank() -> bool:
    """Under torchrun every rank runs the command; rank 0 alone reports progress and results."""
    return os.environ.get("RANK", "0") in ("", "0")


def summary_table(summary) -> None:
    table = Table(title=f"{summary.name}: input {shape_text(summary.input_shape, SPACED)}", title_justify="left")
    columns = ["#", "name", "type", "output shape", "params", "MACs", "RF", "jump"]
    if summary.frozen_params:  # only worth a column when some weights are fixed (train.freeze, fixed filters)
        columns.insert(5, "frozen")
    for column in columns:
        table.add_column(column, justify="left" if column in ("name", "type", "output shape") else "right",
                         overflow="fold", min_width=len(column))
    for layer in summary.layers:
        row = {
            "#": layer.index, "name": layer.name, "type": layer.type,
            "output shape": shape_text(layer.out_shape, SPACED),
            "params": f"{layer.params:,}", "frozen": f"{layer.params - layer.trainable_params:,}",
            "MACs": human(layer.macs) if layer.macs else "", "RF": compact_text(layer.receptive_field),
            "jump": compact_text(layer.jump),
        }
        table.add_row(*(row[c] for c in columns))
    out.print(table)
    out.print(
        f"params: [bold]{summary.total_params:,}[/] (trainable {summary.trainable_params:,}, "
        f"frozen {summary.frozen_params:,})   MACs per sample: [bold]{human(summary.macs)}[/]\n"
        f"model size: {human_bytes(summary.param_bytes)}   activations per sample: "
        f"{human_bytes(summary.activation_bytes)}   output: {shape_text(summary.output_shape, SPACED)}"
    )
    out.print("[dim]RF: receptive field in input pixels; jump: input pixels between neighbouring outputs "
              "(product of strides); '-': every output sees the whole input[/]")
    if summary.init:
        init = summary.init
        out.print(f"model.init: {init['loaded']} tensors fit, from {init['source']} (sha256 {init['sha256'][:12]})",
                  markup=False, soft_wrap=True)
        for skipped in init["skipped"]:
            out.print(f"  {skipped['name']} {skipped['shape']} stays freshly initialised: {skipped['reason']}",
                      markup=False, soft_wrap=True)


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


def train_done(result) -> None:
    from rich.markup import escape

    s = result.summary
    run = result.run_dir
    best = s["best"]
    value = best["value"]
    shown = "n/a" if value is None else f"{value:.2%}" if best["metric"].endswith("acc") else f"{value:.4f}"
    out.print(f"\n[bold green]done[/] in {s['seconds']:.1f}s{' (stopped early)' if result.stopped_early else ''}: "
              f"best {best['metric']} {shown} at epoch {best['epoch']}"
              + (f"; test accuracy {s['test']['acc']:.2%}" if s.get("test") else ""))
    # soft_wrap: a long path must stay on one line, to be copied (rich wraps at 80 columns in a pipe).
    out.print(f"run directory: [bold]{escape(str(run))}[/]", soft_wrap=True)
    out.print("next:\n"
              f"  python -m webbrowser {(run / 'report.html').resolve().as_uri()}   # the run at a glance\n"
              f"  cnntrain evaluate --checkpoint {run}/checkpoints/best.pt\n"
              f"  cnntrain featuremaps --checkpoint {run}/checkpoints/best.pt    # add --image PHOTO for your own\n"
              f"  tensorboard --logdir {run}\n"
              f"  cnntrain train --resume {run} --set train.epochs={s['epochs'] + 5}   # train longer",
              markup=False, soft_wrap=True)


# --- evaluate, predict, compare, featuremaps ------------------------------------------------------

_MATRIX_MAX_CLASSES = 20  # wider confusion matrices no longer fit a terminal: see the PNG


def _e(text) -> str:
    """User text (class names, paths) shown literally, never read as Rich markup."""
    from rich.markup import escape

    return escape(str(text))


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def evaluate_report(result) -> None:
    d = result.as_dict()
    top5 = f"   top-5 accuracy [bold]{_pct(d['top5_accuracy'])}[/]" if d["top5_accuracy"] is not None else ""
    out.print(f"[bold]{_e(d['split'])}[/]: {d['samples']:,} images   accuracy [bold]{_pct(d['accuracy'])}[/]   "
              f"loss {d['loss']:.4f}{top5}")
    table = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, m in d["per_class"].items():
        table.add_row(_e(name), f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['support']:,}")
    table.add_section()
    for label in ("macro", "weighted"):
        m = d[label]
        table.add_row(f"{label} avg", f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      f"{d['samples']:,}")
    out.print(table)
    if len(d["classes"]) <= _MATRIX_MAX_CLASSES:
        out.print(_matrix_table(d["confusion_matrix"], d["classes"], normalized=False))
        out.print(_matrix_table(d["confusion_matrix"], d["classes"], normalized=True))
    for path in d["files"].values():
        out.print(f"wrote [bold]{_e(path)}[/]")


def _matrix_table(matrix, classes, *, normalized: bool) -> Table:
    title = "confusion matrix, rows normalized (recall)" if normalized else "confusion matrix (counts)"
    table = Table(title=f"{title}: rows = true class, columns = predicted", title_justify="left")
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(_e(name), justify="right")
    for name, row in zip(classes, matrix):
        total = sum(row) or 1
        cells = [f"{v / total:.2f}" if normalized else str(v) for v in row]
        table.add_row(_e(name), *cells)
    return table


def predictions_table(predictions) -> None:
    k = max((len(p.predictions) for p in predictions), default=0)
    table = Table(title=f"top-{k} classes per image", title_justify="left", show_lines=k > 1)
    table.add_column("image", overflow="fold")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for p in predictions:
        names = [f"[bold]{_e(name)}[/]" if i == 0 else _e(name) for i, (name, _) in enumerate(p.predictions)]
        table.add_row(_e(p.path), "\n".join(names), "\n".join(f"{prob:.1%}" for _, prob in p.predictions))
    out.print(table)


def compare_heading(i: int, n: int, config) -> None:
    out.print(f"\n[bold]model {i + 1}/{n}: {_e(config.name)}[/] ({_e(config.source)})")


def compare_table(result) -> None:
    """Models side by side as columns, measurements as rows: fits a terminal for a few models."""
    table = Table(title=f"comparison: {_e(result.out_dir)}", title_justify="left")
    table.add_column("")
    for m in result.models:
        table.add_column(_e(m.name), justify="right")
    rows = {
        "parameters": [f"{m.params:,}" for m in result.models],
        "multiply-adds": [human(m.macs) for m in result.models],
        "training time": [f"{m.train_seconds:.1f}s" for m in result.models],
        "images/s": [f"{m.images_per_sec:,.0f}" for m in result.models],
        "test accuracy": [f"{m.test_acc:.1%}" for m in result.models],
    }
    for pixels in (s for s in result.shifts if s):
        rows[f"shifted {pixels}px"] = [_shifted(m.shift_acc.get(str(pixels))) for m in result.models]
    for label, cells in rows.items():
        table.add_row(label, *cells)
    out.print(table)
    out.print("[dim]shift: every test image moved that many pixels in a seeded random direction "
              "(the same for every model), the border filled with its background[/]")
    page = f", [bold]{_e(result.page_path)}[/]" if getattr(result, "page_path", None) else ""
    out.print(f"wrote [bold]{_e(result.json_path)}[/]{page} and [bold]{_e(result.plot_path)}[/]\n"
              f"next:\n  tensorboard --logdir {_e(result.out_dir)}")


def _shifted(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def layers_list(layers, defaults: set) -> None:
    table = Table(title="layers (* = shown by default)", title_justify="left")
    for column in ("#", "name", "type", "output shape", "default"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for info in layers:
        table.add_row(str(info.index), _e(info.name), info.type, shape_text(info.out_shape, SPACED),
                      "*" if info.name in defaults else "")
    out.print(table)
    out.print("[dim]pick layers with --layers NAME_OR_INDEX (repeatable or comma-separated)[/]")


def featuremaps_done(result) -> None:
    table = Table(title=f"feature maps of {_e(result.image)}", title_justify="left")
    for column in ("#", "name", "type", "shape", "min", "max", "mean", "std", "zeros"):
        table.add_column(column, justify="left" if column in ("name", "type", "shape") else "right")
    for layer in result.layers:
        s = layer.stats
        table.add_row(str(layer.index), _e(layer.name), layer.type, shape_text(layer.shape, SPACED), f"{s['min']:.3g}",
                      f"{s['max']:.3g}", f"{s['mean']:.3g}", f"{s['std']:.3g}", f"{s['sparsity']:.1%}")
    out.print(table)
    out.print(f"input normalization: {result.normalization}")
    out.print(f"wrote [bold]{_e(result.out_dir)}[/] (PNG grids, filters, .npy arrays); open [bold]{_e(result.html)}[/]")
