"""`cnntrain tune`: search settings with Optuna; a live table of the trials on a terminal.

No `from __future__ import annotations` in a command module: Typer reads its annotations at every start.
"""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, ConfigOption, Listed, SetOption

LISTED = Listed(TRAIN, order=70)  # where `cnntrain --help` shows it


class Metric(str, Enum):
    val_acc = "val_acc"
    val_loss = "val_loss"


class Pruner(str, Enum):
    median = "median"
    hyperband = "hyperband"
    none = "none"


def tune(
    config: ConfigOption,
    space: Annotated[Path, typer.Option(
        "--space", metavar="SPACE.yaml", show_default=False,
        help="YAML: dotted config keys to ranges, e.g. `train.lr: {float: [1e-4, 1e-1], log: true}`.")],
    trials: Annotated[int, typer.Option(
        "--trials", "-n", metavar="N", help="Trials in the study, all workers and machines together.")] = 20,
    timeout: Annotated[Optional[float], typer.Option(
        "--timeout", metavar="S", show_default=False, help="Start no trial after this many seconds.")] = None,
    metric: Annotated[Metric, typer.Option(
        "--metric", metavar="METRIC", help="What a trial scores, its best epoch's: val_acc or val_loss.")
    ] = Metric.val_acc,
    pruner: Annotated[Pruner, typer.Option(
        "--pruner", metavar="PRUNER", help="Stop unpromising trials after an epoch: median, hyperband or none.")
    ] = Pruner.median,
    storage: Annotated[Optional[str], typer.Option(
        "--storage", metavar="URL", show_default=False,
        help="sqlite:///FILE or postgresql://... for a study several machines share (default: a journal file in "
             "--out).")] = None,
    study: Annotated[Optional[str], typer.Option(
        "--study", metavar="NAME", show_default=False, help="Study name (default: the config's name).")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", "-j", metavar="K", help="Worker processes here, each with its share of the CPU threads.")] = 1,
    folds: Annotated[Optional[int], typer.Option(
        "--folds", metavar="K", show_default=False, help="Score each trial by K-fold cross-validation (the mean).")]
    = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="DIR", show_default=False,
        help="Folder for trials/, tune.json, best.yaml, tune.html (default: runs/tune/<study>).")] = None,
) -> None:
    """Search settings with Optuna: each trial an ordinary run in DIR/trials/<n>, unpromising ones pruned.

    The same command again (or on another machine with the same --storage and --study) continues the study.
    """
    from cnntrain.cli import output as render
    from cnntrain.tasks.tune import tune as run_tune

    with TrialsTable(render.out, metric.value) as table:
        result = run_tune(config, space, trials=trials, timeout=timeout, metric=metric.value, pruner=pruner.value,
                          storage=storage, study=study, workers=workers, folds=folds, overrides=set_ or [],
                          out=out, progress=table)
    tune_done(result)


class TrialsTable:
    """A Rich live table of the trials on a terminal; one line per finished trial elsewhere."""

    def __init__(self, console, metric: str):
        self.console, self.metric, self.live, self.printed = console, metric, None, set()

    def __enter__(self):
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._table([]), console=self.console, refresh_per_second=2, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.stop()

    def update(self, rows: list[dict]) -> None:
        if self.live is not None:
            self.live.update(self._table(rows))
            return
        for row in rows:
            if row["state"] != "running" and row["number"] not in self.printed:
                self.printed.add(row["number"])
                self.console.print(_line(row, self.metric), markup=False, soft_wrap=True)

    def _table(self, rows: list[dict]):
        from rich.table import Table

        keys = list(rows[-1]["params"]) if rows else []
        table = Table(title="trials", title_justify="left")
        for column in ["#", "state", self.metric, *keys, "epochs", "seconds"]:
            table.add_column(column, justify="left" if column == "state" else "right")
        for row in rows[-30:]:  # the newest: a terminal holds no more
            table.add_row(str(row["number"]), row["state"], _value(row["value"], self.metric),
                          *(_param(row["params"].get(k)) for k in keys), str(row["epochs"]),
                          "" if row["seconds"] is None else f"{row['seconds']:.0f}")
        return table


def _value(value, metric: str) -> str:
    return "" if value is None else f"{value:.2%}" if metric.endswith("acc") else f"{value:.4f}"


def _param(value) -> str:
    return "" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def _line(row: dict, metric: str) -> str:
    params = " ".join(f"{k}={_param(v)}" for k, v in row["params"].items())
    reason = f": {row['reason']}" if row.get("reason") else ""
    return (f"trial {row['number']} {row['state']} {metric} {_value(row['value'], metric) or '-'} "
            f"({row['epochs']} epochs) {params}{reason}")


def tune_done(result) -> None:
    from rich.markup import escape

    from cnntrain.cli.output import out

    if result.best_trial is None:
        out.print("[bold yellow]no trial finished[/]; see the reasons in tune.json")
    else:
        params = ", ".join(f"{k}={_param(v)}" for k, v in result.best_params.items())
        out.print(f"[bold green]best[/]: trial {result.best_trial}, {result.metric} "
                  f"[bold]{_value(result.best_value, result.metric)}[/] with {escape(params)}", soft_wrap=True)
    out.print(f"wrote {escape(str(result.json_path))}, {escape(str(result.page))}"
              + (f", {escape(str(result.best_yaml))}" if result.best_yaml else ""), soft_wrap=True)
    if result.best_yaml:
        out.print(f"next:\n  cnntrain train --config {result.best_yaml}\n  tensorboard --logdir {result.out_dir}",
                  markup=False, soft_wrap=True)
