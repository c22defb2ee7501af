"""A Ctrl-C during training is never lost.

Python turns SIGINT into KeyboardInterrupt wherever the main thread happens to be. When that is inside a
finalizer (a `__del__` or weakref callback that the garbage collector runs between two lines of ours),
Python reports the exception as "ignored" and carries on: the key press is gone and the run trains to the
end. So while a run trains, the handler also records the press, and the training loop checks the record
after every step: a press swallowed that way stops the run one step later, like any other. Python would
also print the swallowed exception's traceback ("Exception ignored in ..."); the press is honoured, so
that report is dropped and the user sees cnntrain's one line.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

_pressed = False


def _record_and_raise(signum, frame):
    global _pressed
    _pressed = True
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt, as Python's own handler does


@contextlib.contextmanager
def recording_ctrl_c():
    """Record Ctrl-C presses for `raise_if_pressed` while the block runs."""
    global _pressed
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield  # a handler of someone else's (or none, from this thread) is in charge: leave it alone
        return
    _pressed = False
    signal.signal(signal.SIGINT, _record_and_raise)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _quiet_about_ctrl_c(previous_hook)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.unraisablehook = previous_hook
        _pressed = False


def _quiet_about_ctrl_c(previous_hook):
    def hook(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):  # recorded: raise_if_pressed honours it
            previous_hook(unraisable)
    return hook


def _record(signum, frame):
    global _pressed
    _pressed = True


@contextlib.contextmanager
def holding_ctrl_c():
    """Ctrl-C waits until the block ends, then raises as usual: a KeyboardInterrupt inside torch.save
    leaves its zip writer to fail on the way out, and that RuntimeError hides the Ctrl-C from the user."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, _record_and_raise)):
        yield  # Ctrl-C is ignored, or someone else's handler is in charge
        return
    previous = signal.signal(signal.SIGINT, _record)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    raise_if_pressed()


@contextlib.contextmanager
def ignoring_ctrl_c():
    """Ctrl-C does nothing while the block runs: the bookkeeping after a first press must not be cut short."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread hears signals
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_pressed() -> None:
    """KeyboardInterrupt if Ctrl-C was pressed since the last check (its own exception may have been lost)."""
    global _pressed
    if _pressed:
        _pressed = False
        raise KeyboardInterrupt
