"""run/ctrl_c.py: a Ctrl-C whose KeyboardInterrupt a finalizer swallowed still stops the run, one step later."""

from __future__ import annotations

import os
import signal

import pytest

from cnntrain.errors import Interrupted
from cnntrain.run.ctrl_c import raise_if_pressed, recording_ctrl_c
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

# The swallowed KeyboardInterrupt is what Python reports as an "unraisable" exception: expected here.
pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")]


class _PressedDuringCleanUp:
    """Ctrl-C arriving while the garbage collector runs a __del__: Python reports it as 'ignored' and drops it."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)


def press_ctrl_c_inside_a_finalizer() -> None:
    _PressedDuringCleanUp()  # made and freed at once: its __del__ runs here, and the exception is dropped


class SwallowedAtStep(Progress):
    def __init__(self, step: int):
        self.step, self.steps_after = step, 0

    def batch(self, *, step, steps, loss, acc, images_per_sec):
        if step == self.step:
            press_ctrl_c_inside_a_finalizer()  # no KeyboardInterrupt reaches this line
        elif step > self.step:
            self.steps_after += 1


def test_a_press_swallowed_by_a_finalizer_is_raised_at_the_next_check():
    with recording_ctrl_c():
        press_ctrl_c_inside_a_finalizer()
        with pytest.raises(KeyboardInterrupt):
            raise_if_pressed()
        raise_if_pressed()  # once: the press is used up
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_run_stops_one_step_after_a_swallowed_press(tiny_config, tmp_path):
    progress = SwallowedAtStep(step=2)
    with pytest.raises(Interrupted, match="Resume with: cnntrain train --resume"):
        train(tiny_config, overrides=["train.epochs=2"], out=tmp_path / "run", progress=progress)
    assert progress.steps_after == 0  # it stopped at the step it was pressed in, not at the end of the run
    assert not (tmp_path / "run" / "summary.json").exists()


class _FailsDuringCleanUp:
    def __del__(self):
        raise ValueError("a real bug in a finalizer")


def test_only_the_swallowed_press_goes_unreported(monkeypatch):
    """Python would print "Exception ignored in ... KeyboardInterrupt" with a traceback; the press is honoured,
    so it says nothing. Any other exception a finalizer drops is still reported."""
    import sys

    reported = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: reported.append(type(unraisable.exc_value)))
    with recording_ctrl_c():
        press_ctrl_c_inside_a_finalizer()
        _FailsDuringCleanUp()
        with pytest.raises(KeyboardInterrupt):
            raise_if_pressed()
    assert reported == [ValueError]
    press_ctrl_c_inside_a_finalizer()  # outside a run Python's own report is left alone
    assert reported == [ValueError, KeyboardInterrupt]


def test_a_press_while_a_checkpoint_is_written_waits_for_the_file(tmp_path, monkeypatch):
    """Interrupted inside torch.save, the zip writer fails on its way out and its RuntimeError hid the Ctrl-C
    (a traceback and exit status 1). The press now waits for the file, then stops the run as usual."""
    import torch

    from cnntrain.run import checkpoint

    real_save = torch.save

    def pressed_mid_save(state, f):
        os.kill(os.getpid(), signal.SIGINT)
        real_save(state, f)

    monkeypatch.setattr(torch, "save", pressed_mid_save)
    state = {"weights": torch.arange(6.0)}
    for during_a_run in (True, False):
        path = tmp_path / f"{during_a_run}.pt"
        with pytest.raises(KeyboardInterrupt):
            if during_a_run:
                with recording_ctrl_c():
                    checkpoint.save_checkpoint(state, path)
            else:
                checkpoint.save_checkpoint(state, path)
        assert torch.equal(torch.load(path, weights_only=True)["weights"], state["weights"])  # whole
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
