"""One process writes a run directory at a time: a second trainer gets one line naming the run and the
holder's PID (exit 2), readers keep working, and a process killed with SIGKILL leaves the run unlocked."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from cnntrain.atomic import read_jsonl
from cnntrain.errors import RunLocked
from cnntrain.run.checkpoint import load_checkpoint
from cnntrain.run.lock import LOCK_FILE, RunLock

ENV = {**{k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")},
       "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_yaml):
    from cnntrain.run.train import train

    folder = tmp_path_factory.mktemp("lock")
    (folder / "tiny.yaml").write_text(tiny_yaml)
    return train(folder / "tiny.yaml", overrides=["train.epochs=1"], out=folder / "run").run_dir


@pytest.fixture
def run(tmp_path, finished):
    """A finished one-epoch run of TINY_TRAIN, a copy of its own."""
    return shutil.copytree(finished, tmp_path / "run")


@pytest.fixture
def held(run):
    """The run's lock, held by this test as another process would hold it."""
    lock = RunLock()
    lock.take(run)
    yield lock
    lock.release()


def test_a_second_trainer_gets_one_line_naming_the_run_and_the_holder(run, held, cli, tiny_config):
    for args in (["--resume", run, "--set", "train.epochs=2"], ["--config", tiny_config, "--out", run]):
        code, _, err = cli("train", *args, "--quiet")
        assert code == 2
        assert str(run) in err and f"PID {os.getpid()}" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1]  # nothing was written


def test_readers_keep_working_on_a_locked_run(run, held, cli):
    code, _, err = cli("evaluate", "--checkpoint", run, "--json")
    assert code == 0, err
    code, _, err = cli("featuremaps", "--checkpoint", run, "--list-layers")
    assert code == 0, err


def test_the_lock_is_released_when_training_ends_or_fails(run, cli):
    code, _, err = cli("train", "--resume", run, "--set", "train.epochs=2", "--quiet")
    assert code == 0, err
    code, _, err = cli("train", "--resume", run, "--set", "train.epochs=2", "--quiet")
    assert code == 2 and "nothing to do" in err  # a failed start released it as well
    lock = RunLock()
    lock.take(run)  # would raise RunLocked if either call had kept it
    lock.release()


def test_a_second_lock_in_the_same_directory_is_refused(tmp_path):
    first, second = RunLock(), RunLock()
    first.take(tmp_path)
    try:
        with pytest.raises(RunLocked, match=f"PID {os.getpid()}"):
            second.take(tmp_path)
    finally:
        first.release()
    second.take(tmp_path)
    second.release()


def start_resume(run, epochs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnntrain", "train", "--quiet", "--resume", str(run),
                             "--set", f"train.epochs={epochs}"], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_resumes_started_together_one_trains_and_a_sigkill_leaves_the_run_unlocked(run, cli):
    # Far more epochs than either could finish: the winner still holds the run when the loser asks.
    procs = [start_resume(run, 100_000), start_resume(run, 100_000)]
    try:
        deadline = time.monotonic() + 240
        while all(p.poll() is None for p in procs):
            assert time.monotonic() < deadline, "neither process gave up the run"
            time.sleep(0.1)
        loser = next(p for p in procs if p.poll() is not None)
        winner = next(p for p in procs if p is not loser)
        _, err = loser.communicate()
        assert loser.returncode == 2, err
        assert err.strip().splitlines() == [f"error: {run.resolve()} is in use by another cnntrain process "
                                            f"(PID {winner.pid}), which is training in it; wait for it to "
                                            "finish or stop it, then try again"]
        assert winner.poll() is None
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.communicate()
    assert winner.returncode == -signal.SIGKILL
    done = load_checkpoint(run)["epoch"]
    code, _, err = cli("train", "--resume", run, "--set", f"train.epochs={done + 1}", "--quiet")
    assert code == 0, err  # the killed winner's lock went with it
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == list(range(1, done + 2))
    assert (run / LOCK_FILE).exists()


def test_a_holder_that_has_not_written_its_pid_yet_is_named_once_it_has(tmp_path):
    """The holder writes its PID just after taking the lock: asked in between, the file is still empty."""
    import fcntl
    import threading

    fd = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: it conflicts within one process too
        threading.Timer(0.05, lambda: os.pwrite(fd, b"4242\n", 0)).start()
        with pytest.raises(RunLocked, match=r"\(PID 4242\)"):
            RunLock().take(tmp_path)
    finally:
        os.close(fd)
