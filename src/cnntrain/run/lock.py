"""One writer per run directory: an advisory lock (flock) on RUN/lock, held while a process trains there.

Two `train --resume` of the same run started together would otherwise both train, interleave their
epochs in metrics.jsonl and overwrite each other's checkpoints. The lock belongs to the open file, so
the OS drops it when the process ends in any way, kill -9 included: a dead process never leaves a run
locked, and the PID left in the file means nothing once nobody holds the lock. Readers (evaluate,
featuremaps, predict) never take it. Under torchrun rank 0 writes the run directory, so only it locks.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from cnntrain.errors import RunLocked

LOCK_FILE = "lock"


class RunLock:
    """The lock a training process holds on its run directory; `take` once, `release` when done."""

    def __init__(self):
        # torchrun sets RANK; the other ranks write nothing into the run directory.
        self.enabled = int(os.environ.get("RANK", "0")) == 0
        self.fd: int | None = None

    def take(self, run: Path) -> None:
        if not self.enabled or self.fd is not None:
            return
        path = Path(run) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLocked(f"{run} is in use by another cnntrain process (PID {holder}), which is training in it; "
                            f"wait for it to finish or stop it, then try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = None


def _holder(fd: int) -> str:
    """The PID the lock's holder wrote. It writes it just after taking the lock: a process that asks in
    between finds the file empty (or just truncated), so it looks again for up to a second."""
    deadline = time.monotonic() + 1.0
    while True:
        pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if pid or time.monotonic() > deadline:
            return pid or "unknown"
        time.sleep(0.01)
