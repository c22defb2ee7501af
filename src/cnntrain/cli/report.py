"""`cnntrain report RUN`: rebuild a run's report.html (curves, test results, mistakes, pictures)."""

from pathlib import Path
from typing import Annotated

import typer

from cnntrain.cli.options import TRAIN, Listed

LISTED = Listed(TRAIN, order=80)  # where `cnntrain --help` shows it


def report(
    run: Annotated[Path, typer.Argument(help="A run directory (runs/<name>/<n>) or one of its checkpoints.",
                                        show_default=False)],
) -> None:
    """Rebuild a run's report.html: curves, test results and mistakes of the best checkpoint, pictures.

    Works for any run, older ones too; sections a run has nothing for are left out with a note.
    """
    from cnntrain.cli.output import escape, out
    from cnntrain.tasks.report import report as run_report

    result = run_report(run)
    for section, why in result.skipped.items():
        out.print(f"[dim]{escape(section)}: {escape(why)}[/]")
    out.print(f"wrote [bold]{escape(str(result.page))}[/] ({len(result.files)} pictures)\n"
              f"open it in a browser: {escape(result.page.resolve().as_uri())}")
