"""The command line: the Typer app (`app.py`) and its Rich terminal output (`output.py`)."""

from cnntrain.cli.app import app, main

__all__ = ["app", "main"]
