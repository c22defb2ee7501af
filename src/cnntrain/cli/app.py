"""The `cnntrain` command line: a thin Typer shell over the library, and the list of its commands.

Each command is one module under cli/: its typed options, one library call imported inside its body
(so `cnntrain --help` never loads torch), its terminal output, and `LISTED`, where `--help` shows it.
COMMANDS below gathers them: adding a command is its module and its test, no edit here. User mistakes
arrive as CnntrainError and leave as one line on stderr with exit status 2; anything else is a bug and
keeps its traceback.

No `from __future__ import annotations` here: Typer reads every command's annotations at each start,
and evaluating them from strings costs more than the objects themselves.
"""

import importlib
import pkgutil
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cnntrain.cli.lean import import_rich_help
from cnntrain.cli.options import PANELS
from cnntrain.errors import CnntrainError

import_rich_help()  # before Typer draws any help: without rich.markdown and rich.traceback


# What the commands share; every other module under cli/ is one command. Not imported here: output.py
# loads the library's Progress, which `cnntrain --help` has no use for.
SHARED = ("app", "lean", "options", "output")


def _commands() -> dict:
    """name -> (function, help panel), in the order `cnntrain --help` lists them: each command module's
    function named like the module (lr_find.lr_find is `cnntrain lr-find`), placed by its LISTED."""
    found = []
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name not in SHARED:
            module = importlib.import_module(f"{__package__}.{info.name}")
            panel, order = module.LISTED
            found.append((PANELS.index(panel), order, info.name, getattr(module, info.name)))
    return {name.replace("_", "-"): (function, PANELS[panel]) for panel, _, name, function in sorted(found)}


COMMANDS = _commands()

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
