"""The command list and the help: every command is one module under cli/ listed in COMMANDS, and its
--help shows every default, names what repeatable options take and shows no type for flags."""

from __future__ import annotations

import pkgutil
import re

import pytest
from typer.testing import CliRunner

import cnntrain.cli
from cnntrain.cli.app import COMMANDS, app

runner = CliRunner()
NOT_COMMANDS = {"app", "lean", "options", "output"}  # the shell, and what the commands share


def test_every_command_module_is_listed_once():
    modules = {m.name for m in pkgutil.iter_modules(cnntrain.cli.__path__)} - NOT_COMMANDS
    listed = {function.__module__.rsplit(".", 1)[-1] for function, _ in COMMANDS.values()}
    assert listed == modules
    assert len(listed) == len(COMMANDS)  # one command per module
    for name, (function, _) in COMMANDS.items():
        assert function.__name__ == name.replace("-", "_")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_defaults_and_plain_types(name):
    result = runner.invoke(app, [name, "--help"], env={"COLUMNS": "100"}, terminal_width=100)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text, "a flag is given, not given a value"
    assert "<list[" not in text, "a repeatable option names what it takes"
    # Rich reads `[default: x]` in help text as markup and drops it, leaving "data ." behind
    assert not re.search(r"\w \.(\s|│)", text), text


def test_a_default_written_in_the_help_survives():
    text = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "100"}, terminal_width=100).output
    assert "(default: test)" in text


def test_no_word_is_wrapped_inside():
    text = runner.invoke(app, ["explain", "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert "integrated-gradients" in text


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_on_80_columns_cuts_nothing_short(name):
    """A narrow help column ends long words with an ellipsis (--set's example did in lr-find's help)."""
    text = runner.invoke(app, [name, "--help"], env={"COLUMNS": "80"}, terminal_width=80).output
    assert "\u2026" not in text, text


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and re.fullmatch(r"cnntrain \d+\.\d+\.\d+\S*\n", result.output)

