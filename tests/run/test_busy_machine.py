"""Same config + same seed => bit-identical weights whatever else the machine is doing: the thread count
decides how float sums split, so a run fixes it once (run/device.py: run_threads) and keeps it on resume.
Real neighbours burn real cores here; nothing is timed."""

from __future__ import annotations

import contextlib
import os
import subprocess

import pytest
import torch

from cnntrain.errors import Interrupted
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

SETS = ["train.epochs=2", "data.train_size=128", "data.val_size=64", "data.test_size=32"]


@contextlib.contextmanager
def burning(cores: int):
    """`cores` processes each spinning on a core, as a user's other work would; always stopped."""
    procs = []
    try:
        for _ in range(cores):
            procs.append(subprocess.Popen(["sh", "-c", "while :; do :; done"]))
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


class StopAfter(Progress):
    """Ctrl-C once epoch `n` is saved."""

    def __init__(self, n: int):
        self.n = n

    def epoch(self, record):
        if record["epoch"] == self.n:
            raise KeyboardInterrupt


def checkpoint(run) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)


@pytest.fixture
def threads_back():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_same_seed_same_weights_beside_busy_neighbours_and_after_a_resume(tiny_config, tmp_path, same_weights,
                                                                          threads_back):
    """Beside one burning neighbour, then beside two and stopped after epoch 1, then resumed with none and
    another thread count in the process: were the count to follow the free cores, each would differ."""
    assert os.environ["OMP_WAIT_POLICY"] == "passive"  # set by `import cnntrain` (conftest) before torch loaded
    with burning(1):
        one = train(tiny_config, overrides=SETS, out=tmp_path / "one").run_dir
    stopped = tmp_path / "stopped"
    with burning(2), pytest.raises(Interrupted):
        train(tiny_config, overrides=SETS, out=stopped, progress=StopAfter(1))
    torch.set_num_threads(1)  # as if resumed under another OMP_NUM_THREADS: the run's recorded count holds
    train(resume=stopped)
    assert torch.get_num_threads() == 1  # a library call gives the process its count back
    runs = [checkpoint(run) for run in (one, stopped)]
    assert [c["threads"] for c in runs] == [threads_back] * 2 and [c["epoch"] for c in runs] == [2, 2]
    assert same_weights(runs[0]["model"], runs[1]["model"])


def test_a_set_thread_count_is_the_runs(tiny_config, tmp_path, threads_back):
    run = train(tiny_config, overrides=["train.threads=1", "train.epochs=1"], out=tmp_path / "run").run_dir
    assert checkpoint(run)["threads"] == 1 and torch.get_num_threads() == threads_back
