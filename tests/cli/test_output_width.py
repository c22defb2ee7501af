"""Output read by a program (a pipe, a log, `grep`) is never wrapped: the same bytes whatever COLUMNS or
the terminal says, paths and numbers whole, tables at their natural width."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CNN = Path(__file__).resolve().parents[2] / "configs" / "cnn.yaml"


def piped(args: list[str], columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "CLICOLOR_FORCE")}
    if columns is not None:
        env["COLUMNS"] = columns
    done = subprocess.run([sys.executable, "-m", "cnntrain", *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def summaries() -> dict:
    return {columns: piped(["summary", "--config", str(CNN)], columns) for columns in (None, "40", "300")}


def test_a_piped_table_is_the_same_whatever_columns_says(summaries):
    assert summaries[None] == summaries["40"] == summaries["300"]


def test_a_piped_table_takes_its_natural_width_and_clips_nothing(summaries):
    lines = summaries["40"].splitlines()
    assert max(map(len, lines)) > 80  # wider than any default terminal: nothing was cut to fit one
    assert "…" not in summaries["40"]
    assert any("conv1" in line and "conv2d" in line and "16 x 64 x 64" in line for line in lines)


def test_a_long_path_in_a_message_stays_on_one_line(tmp_path):
    out = tmp_path / ("a-folder-name-long-enough-to-wrap-" * 3) / "o"
    text = piped(["explore", "--config", str(CNN), "--out", str(out)], "40")
    page = out / "explore.html"
    assert any(str(page) in line and "MB)" in line for line in text.splitlines()), text
