"""The `cnntrain` command line: a thin Typer shell over the library, and the one list of its commands.

Each command is one module under cli/: its typed options, one library call imported inside its body
(so `cnntrain --help` never loads torch) and its terminal output. COMMANDS below is the one place they
are listed; adding a command is its module, one row here and its test. User mistakes arrive as
CnntrainError and leave as one line on stderr with exit status 2; anything else is a bug and keeps its
traceback.

No `from __future__ import annotations` here: Typer reads every command's annotations at each start,
and evaluating them from strings costs more than the objects themselves.
"""

import signal
import sys
from typing import Annotated, Optional

import typer

from cnntrain.cli import (
    compare,
    evaluate,
    explain,
    explore,
    export,
    featuremaps,
    lr_find,
    predict,
    report,
    schema,
    summary,
    train,
    tune,
)
from cnntrain.cli.lean import import_rich_help
from cnntrain.cli.options import INSPECT, TRAIN
from cnntrain.errors import CnntrainError

import_rich_help()  # before Typer draws any help: without rich.markdown and rich.traceback

# name -> (function, help panel), in the order `cnntrain --help` lists them
COMMANDS = {
    "train": (train.train, TRAIN),
    "evaluate": (evaluate.evaluate, TRAIN),
    "predict": (predict.predict, TRAIN),
    "compare": (compare.compare, TRAIN),
    "export": (export.export, TRAIN),
    "lr-find": (lr_find.lr_find, TRAIN),
    "tune": (tune.tune, TRAIN),
    "report": (report.report, TRAIN),
    "summary": (summary.summary, INSPECT),
    "schema": (schema.schema, INSPECT),
    "featuremaps": (featuremaps.featuremaps, INSPECT),
    "explain": (explain.explain, INSPECT),
    "explore": (explore.explore, INSPECT),
}

app = typer.Typer(
    name="cnntrain",
    help="Describe a CNN in YAML, train it, evaluate it, and look inside.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a real bug shows a plain Python traceback
    rich_markup_mode="rich",
)

for _name, (_function, _panel) in COMMANDS.items():
    app.command(_name, rich_help_panel=_panel)(_function)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"cnntrain {version('cnntrain')}")
        raise typer.Exit()


@app.callback()
def _cnntrain(
    version: Annotated[Optional[bool], typer.Option("--version", metavar="", callback=_version, is_eager=True,
                                                    help="Print cnntrain's version and exit.")] = None,
) -> None:
    """Describe a CNN in YAML, train it, evaluate it, and look inside."""


def main() -> None:
    # `cnntrain ... | head`: once the reader has gone, end as `cat` or `yes` do, by SIGPIPE, quietly (a shell
    # says 141). Python ignores SIGPIPE, and then click and Rich turn the error into a silent exit 1.
    closed_pipe = getattr(signal, "SIGPIPE", None)  # none on Windows
    previous = signal.signal(closed_pipe, signal.SIG_DFL) if closed_pipe else None
    try:
        app()
    except CnntrainError as error:
        from cnntrain.cli import output as render

        render.error(str(error))
        sys.exit(getattr(error, "exit_code", 2))
    finally:
        if closed_pipe:
            signal.signal(closed_pipe, previous)  # main() called in-process (tests) leaves Python's default
