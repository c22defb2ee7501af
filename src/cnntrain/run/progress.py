"""What a long-running library call reports while it runs. The library prints nothing itself:
the CLI passes a subclass that draws Rich bars or plain lines (cli/output.py)."""

from __future__ import annotations


class Progress:
    """No-op hooks; override the ones you want."""

    def start(self, *, epochs: int, first_epoch: int, steps: int) -> None: ...

    def batch(self, *, step: int, steps: int, loss: float, acc: float, images_per_sec: float) -> None: ...

    def epoch(self, record: dict) -> None: ...

    def end(self) -> None: ...

    def note(self, message: str) -> None:
        """A line worth reading before the epochs start, e.g. what model.init loaded."""

    def warning(self, message: str) -> None:
        """Something the user should know that does not stop the run, e.g. a skipped corrupt image."""
