"""`cnntrain evaluate`: accuracy, per-class metrics, the confusion matrix, and where a checkpoint fails (ROC AUC,
calibration, its surest mistakes)."""

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, JsonOption, Listed, ModelOption, SetOption

LISTED = Listed(TRAIN, order=20)  # where `cnntrain --help` shows it

_MATRIX_MAX_CLASSES = 20  # wider confusion matrices no longer fit a terminal: see the PNG
_TOP_LOSSES_SHOWN = 5  # the rest are in --json and top_losses.png


class EvalSplit(str, Enum):
    test = "test"
    val = "val"


def evaluate(
    checkpoint: ModelOption,
    data: Annotated[Optional[Path], typer.Option("--data", help="A folder with one subfolder per class (your own "
                                                 "test images) instead of the checkpoint's data.",
                                                 show_default=False)] = None,
    split: Annotated[Optional[EvalSplit], typer.Option("--split", help="Split of the checkpoint's data "
                                                       "(default: test).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the PNGs: confusion matrix, "
                                                "mistakes, top losses, calibration (default: <run dir>/"
                                                "eval-<split>).", show_default=False)] = None,
    json_: JsonOption = False,
    predictions: Annotated[Optional[Path], typer.Option("--predictions", help="Write one CSV row per image: "
                                                        "path, true, predicted, confidence.",
                                                        show_default=False)] = None,
    set_: SetOption = None,
) -> None:
    """Accuracy, per-class precision/recall/F1/ROC AUC, the confusion matrix, calibration and the surest mistakes
    of a checkpoint on test data."""
    from cnntrain.cli import output as render
    from cnntrain.tasks.evaluate import evaluate as run_evaluate

    result = run_evaluate(checkpoint, data=data, split=split.value if split else None, out=out,
                          predictions=predictions, overrides=set_ or [])
    render.print_json(result.as_dict()) if json_ else evaluate_report(result)


def evaluate_report(result) -> None:
    from rich.table import Table

    from cnntrain.cli.output import escape, out, percent

    d = result.as_dict()
    top5 = f"   top-5 accuracy [bold]{percent(d['top5_accuracy'])}[/]" if d["top5_accuracy"] is not None else ""
    out.print(f"[bold]{escape(d['split'])}[/]: {d['samples']:,} images   accuracy [bold]{percent(d['accuracy'])}[/]"
              f"   loss {d['loss']:.4f}{top5}")
    table = Table(title="per class", title_justify="left")
    for column in ("class", "precision", "recall", "F1", "ROC AUC", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    auc = d["roc_auc"]
    for name, m in d["per_class"].items():
        table.add_row(escape(name), f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      _number(auc["per_class"][name]), f"{m['support']:,}")
    table.add_section()
    for label in ("macro", "weighted"):
        m = d[label]
        table.add_row(f"{label} avg", f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}",
                      _number(auc["macro"]) if label == "macro" else "", f"{d['samples']:,}")
    out.print(table)
    for name, why in auc["undefined"].items():
        out.print(f"[dim]no ROC AUC for {escape(name)}: {escape(why)}[/]")
    if len(d["classes"]) <= _MATRIX_MAX_CLASSES:
        out.print(_matrix_table(d["confusion_matrix"], d["classes"], normalized=False))
        out.print(_matrix_table(d["confusion_matrix"], d["classes"], normalized=True))
    out.print(f"calibration: expected calibration error [bold]{_number(d['ece'])}[/] (0 = as sure as it is right; "
              "see calibration.png)")
    if d["top_losses"]:
        out.print(_top_losses_table(d["top_losses"][:_TOP_LOSSES_SHOWN]))
    for path in d["files"].values():
        out.print(f"wrote [bold]{escape(path)}[/]")


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _top_losses_table(rows: list[dict]):
    from rich.table import Table

    from cnntrain.cli.output import escape, percent

    table = Table(title="top losses: the wrong answers it was surest of", title_justify="left")
    for column in ("file", "true", "predicted", "probability"):
        table.add_column(column, justify="right" if column == "probability" else "left")
    for row in rows:
        table.add_row(escape(row["path"]), escape(row["true"]), escape(row["predicted"]), percent(row["probability"]))
    return table


def _matrix_table(matrix, classes, *, normalized: bool):
    from rich.table import Table

    from cnntrain.cli.output import escape

    title = "confusion matrix, rows normalized (recall)" if normalized else "confusion matrix (counts)"
    table = Table(title=f"{title}: rows = true class, columns = predicted", title_justify="left")
    table.add_column("true \\ predicted")
    for name in classes:
        table.add_column(escape(name), justify="right")
    for name, row in zip(classes, matrix):
        total = sum(row) or 1
        cells = [f"{v / total:.2f}" if normalized else str(v) for v in row]
        table.add_row(escape(name), *cells)
    return table
