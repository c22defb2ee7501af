"""The command line: the Typer app (`app.py`), its Rich terminal output (`output.py`), and one module
per later command, each registering itself on `app` when imported below."""

from cnntrain.cli.app import app, main

__all__ = ["app", "main"]

from cnntrain.cli import (
    explain,  # noqa: F401,E402
    explore,  # noqa: F401,E402
    export,  # noqa: F401,E402
    lr_find,  # noqa: F401,E402
    report,  # noqa: F401,E402
)
