"""`cnntrain compare`: models trained alike, side by side (numbers, shift robustness, compare.html)."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import TRAIN, Listed, QuietOption, SetOption

LISTED = Listed(TRAIN, order=40)  # where `cnntrain --help` shows it


def compare(
    configs: Annotated[Optional[list[Path]], typer.Argument(help="Configs to compare (default: configs/mlp.yaml "
                                                            "configs/cnn.yaml).", metavar="CONFIG",
                                                            show_default=False)] = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for compare.json, compare.png and "
                                                "each model's run (default: runs/compare/<n>).",
                                                show_default=False)] = None,
    quiet: QuietOption = False,
) -> None:
    """Train models on the same data, epochs and seed; compare parameters, speed, accuracy and shift robustness.

    The --set overrides apply to every model, e.g. --set data.dataset=imagefolder --set data.root=DIR.
    """
    from cnntrain.cli import output as render
    from cnntrain.tasks.compare import compare as run_compare

    result = run_compare(configs or None, overrides=set_ or [], out=out, progress=render.progress_for(quiet),
                         on_model=None if quiet else compare_heading)
    compare_table(result, quiet=quiet)


def compare_heading(i: int, n: int, config) -> None:
    from cnntrain.cli.output import escape, out

    out.print(f"\n[bold]model {i + 1}/{n}: {escape(config.name)}[/] ({escape(str(config.source))})")


def compare_table(result, *, quiet: bool = False) -> None:
    """Models side by side as columns, measurements as rows: fits a terminal for a few models."""
    from rich.table import Table

    from cnntrain.cli.output import escape, human, out

    table = Table(title=f"comparison: {escape(str(result.out_dir))}", title_justify="left")
    table.add_column("")
    for m in result.models:
        table.add_column(escape(m.name), justify="right")
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
    page = f", [bold]{escape(str(result.page_path))}[/]" if getattr(result, "page_path", None) else ""
    out.print(f"wrote [bold]{escape(str(result.json_path))}[/]{page} and [bold]{escape(str(result.plot_path))}[/]")
    if not quiet:
        out.print(f"next:\n  tensorboard --logdir {escape(str(result.out_dir))}")


def _shifted(value) -> str:
    return "-" if value is None else f"{value:.1%}"
