"""What `cnntrain --help` imports: its start-up time is what it imports, so the test checks the modules,
never a time. A real subprocess through `python -X importtime -m cnntrain`, the way a user starts it."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

# Each one is tens of milliseconds the help never uses: the library (torch, numpy, PIL, YAML parsing),
# Rich's Markdown (markdown_it) and tracebacks (pygments), which Typer imports for modes cnntrain
# does not use.
NOT_FOR_HELP = ("torch", "numpy", "PIL", "matplotlib", "yaml", "markdown_it", "pygments", "cnntrain.run",
                "cnntrain.model", "cnntrain.data", "cnntrain.tasks", "cnntrain.config")


def imported_by(*args: str) -> tuple[set[str], subprocess.CompletedProcess]:
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnntrain", *args], capture_output=True,
                            text=True, cwd=ROOT, timeout=120, env={**os.environ, "COLUMNS": "100"})
    modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
               if line.startswith("import time:")}
    return modules, result


def test_help_imports_nothing_it_does_not_show():
    modules, result = imported_by("--help")
    assert result.returncode == 0, result.stderr
    assert "typer.rich_utils" in modules  # importtime did report: the check below means something
    heavy = sorted(m for m in modules if m.split(".")[0] in NOT_FOR_HELP or m.startswith(NOT_FOR_HELP))
    assert heavy == [], f"`cnntrain --help` imported {heavy}"


def test_help_is_still_rich():
    _, result = imported_by("--help")
    assert "╭─ Train and evaluate" in result.stdout and "╭─ Inspect" in result.stdout
    assert "summary" in result.stdout and "train" in result.stdout


def test_the_deferred_rich_classes_still_work():
    """The stand-ins Typer got for rich.markdown.Markdown and rich.traceback.Traceback import the real
    classes when used (e.g. by a `rich_markup_mode="markdown"` app in the same process)."""
    code = ("import sys, io\n"
            "import cnntrain.cli.app\n"
            "from typer import rich_utils\n"
            "from rich.console import Console\n"
            "assert 'markdown_it' not in sys.modules\n"
            "md = rich_utils.Markdown('**bold** text')\n"
            "import rich.markdown\n"
            "assert type(md) is rich.markdown.Markdown and isinstance(md, rich_utils.Markdown)\n"
            "out = io.StringIO(); Console(file=out, width=40).print(md); assert 'bold text' in out.getvalue()\n"
            "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    tb = rich_utils.Traceback.from_exception(type(e), e, "
            "e.__traceback__)\n"
            "import rich.traceback\n"
            "assert isinstance(tb, rich.traceback.Traceback)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
