"""`cnntrain doctor`: what is wrong with the data (unreadable files, duplicates and leakage, balance, sizes,
likely label errors). Exit status 0 when it found nothing, 1 when it found something, 2 on a usage error."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.options import INSPECT, JsonOption, Listed, OptionalConfigOption, SetOption

LISTED = Listed(INSPECT, order=60)  # where `cnntrain --help` shows it
_SHOWN = 10  # rows per table in the terminal; doctor.json and doctor.html hold them all


def doctor(
    config: OptionalConfigOption = None,
    data: Annotated[Optional[Path], typer.Option("--data", show_default=False,
                                                 help="Check this folder instead of a config's data: an image "
                                                      "folder (one subfolder per class) or array data.")] = None,
    folds: Annotated[Optional[int], typer.Option("--folds", metavar="K", show_default=False,
                                                 help="Check labels too: train K folds (as `train --folds`) so "
                                                      "every sample is scored by a model that never saw it.")]
    = None,
    checkpoint: Annotated[Optional[Path], typer.Option("--checkpoint", show_default=False,
                                                       help="Check labels with this checkpoint (.pt or run "
                                                            "directory): the samples it did not train on.")] = None,
    json_: JsonOption = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", show_default=False,
                                                help="Folder for doctor.json and doctor.html "
                                                     "(default: runs/<name>/doctor).")] = None,
    set_: SetOption = None,
) -> None:
    """Find what is wrong with the data: unreadable files, duplicates within and across splits, class balance,
    sizes and modes, and (with --folds or --checkpoint) likely label errors."""
    from cnntrain.cli import output as render
    from cnntrain.tasks.doctor import doctor as run_doctor

    result = run_doctor(config, data=data, checkpoint=checkpoint, folds=folds, out=out, overrides=set_ or [],
                        progress=render.progress_for(json_))
    render.print_json(result.as_dict()) if json_ else doctor_report(result)
    if not result.clean:
        raise typer.Exit(1)


def doctor_report(result) -> None:
    from cnntrain.cli.output import escape, out, shown_path

    d = result.as_dict()
    counts = ", ".join(f"{n:,} {s}" for s, n in d["samples"].items())
    out.print(f"[bold]{escape(d['source'])}[/] ({escape(d['dataset'])}): {counts}; {len(d['classes'])} classes",
              soft_wrap=True)
    if result.clean:
        out.print("[bold green]nothing found[/]: the data looks clean")
    else:
        out.print(f"[bold red]found {len(d['findings'])} kind{'s' if len(d['findings']) > 1 else ''} of problem[/]:")
        for line in d["findings"]:
            out.print(f"  - {escape(line)}", soft_wrap=True)
    _tables(d)
    for note in [d["label_check"]["note"], *d["notes"]]:
        out.print(f"[dim]{escape(note)}[/]", soft_wrap=True)
    out.print(f"wrote [bold]{escape(shown_path(d['files']['json']))}[/] and "
              f"[bold]{escape(shown_path(d['files']['html']))}[/]", soft_wrap=True)


def _tables(d: dict) -> None:
    from cnntrain.cli.output import out

    if d["corrupt"]:
        out.print(_table("unreadable or skipped files", ["file", "why"],
                         [[p, d["corrupt_reasons"][p]] for p in d["corrupt"]]))
    if d["duplicates"]:
        rows = [[g["kind"] + (f" ({g['distance']} bits)" if g["kind"] == "near" else ""), ", ".join(g["splits"]),
                 ", ".join(dict.fromkeys(g["labels"])), "\n".join(g["paths"])] for g in d["duplicates"]]
        out.print(_table("duplicates", ["kind", "splits", "labels", "files"], rows))
    if d["label_issues"]:
        rows = [[i["path"], i["split"], i["given"], i["suggested"], f"{i['score']:.3f}"] for i in d["label_issues"]]
        out.print(_table("likely label errors (score: the given label's probability, out of sample)",
                         ["file", "split", "given", "suggested", "score"], rows))
    if d["balance"]:
        b = d["balance"]
        rows = [[c, *(f"{b[s][c]:,}" for s in ("train", "val", "test"))] for c in d["classes"]]
        out.print(_table("samples per class", ["class", "train", "val", "test"], rows, limit=50))


def _table(title: str, columns: list[str], rows: list[list[str]], limit: int = _SHOWN):
    from rich.table import Table

    from cnntrain.cli.output import escape

    more = f" (the first {limit} of {len(rows)})" if len(rows) > limit else ""
    table = Table(title=title + more, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows[:limit]:
        table.add_row(*(escape(str(cell)) for cell in row))
    return table
