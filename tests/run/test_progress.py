"""Progress while training: Rich bars on a terminal, one plain line per epoch anywhere else, nothing with
--quiet, and never a print from the library itself."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from cnntrain.run.progress import Progress
from cnntrain.run.train import train

pytestmark = pytest.mark.usefixtures("one_thread")

RECORD = {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 0.9, "val_acc": 0.6, "lr": 0.01,
          "images_per_sec": 1000.0, "epoch_seconds": 0.5}


def test_a_pipe_gets_one_plain_line_per_epoch(tiny_config, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([sys.executable, "-m", "cnntrain", "train", "-c", str(tiny_config), "--out",
                           str(tmp_path / "run")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "\x1b[" not in out and "\r" not in out and "━" not in out  # no colours, no bars, no redraws
    lines = out.splitlines()
    assert [line.split("  ")[0] for line in lines if line.startswith("epoch ")] == ["epoch 1/2", "epoch 2/2"]
    assert f"run directory: {tmp_path / 'run'}" in lines
    assert any(line.startswith("done in ") and "best val_acc" in line for line in lines)


def test_quiet_prints_only_the_result(tiny_config, tmp_path, cli):
    code, out, err = cli("train", "-c", tiny_config, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    assert "epoch 1/2" not in out and "epoch 2/2" not in out
    assert "done in" in out and f"run directory: {tmp_path / 'run'}" in out


def test_the_library_prints_nothing(tiny_config, tmp_path, capsys):
    train(tiny_config, out=tmp_path / "run", overrides=["train.epochs=1"])
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_progress_follows_the_terminal(monkeypatch):
    from rich.console import Console

    from cnntrain.cli import output as render

    monkeypatch.setattr(render, "out", Console(file=io.StringIO(), force_terminal=False))
    assert type(render.progress_for(quiet=False)) is render.PlainProgress
    quiet = render.progress_for(quiet=True)
    assert isinstance(quiet, Progress) and not isinstance(quiet, (render.PlainProgress, render.RichProgress))
    monkeypatch.setattr(render, "out", Console(file=io.StringIO(), force_terminal=True, width=120))
    assert type(render.progress_for(quiet=False)) is render.RichProgress


def test_rich_bars_on_a_terminal(monkeypatch):
    from rich.console import Console

    from cnntrain.cli import output as render

    screen = io.StringIO()
    monkeypatch.setattr(render, "out", Console(file=screen, force_terminal=True, width=120, highlight=False))
    bars = render.progress_for(quiet=False)
    bars.start(epochs=2, first_epoch=1, steps=4)
    for step in range(1, 5):
        bars.batch(step=step, steps=4, loss=1.0 / step, acc=0.5, images_per_sec=1000.0)
    bars.epoch(RECORD)
    bars.end()
    shown = screen.getvalue()
    assert "\x1b[" in shown and "━" in shown
    assert "epochs" in shown and "batches" in shown and "epoch 1/2" in shown


def test_epoch_line_reads_well():
    from cnntrain.cli.output import epoch_line

    line = epoch_line(RECORD, 5)
    assert line.startswith("epoch 1/5  train_loss 1.0000  train_acc 50.00%  val_loss 0.9000  val_acc 60.00%")
    assert "1,000 img/s" in line and line.endswith("0.5s")
