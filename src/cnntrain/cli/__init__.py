"""The command line: the Typer app and its list of commands (`app.py`), one module per command (its
options and its terminal output), the options they share (`options.py`) and what their output shares
(`output.py`)."""

from cnntrain.cli.app import app, main

__all__ = ["app", "main"]
