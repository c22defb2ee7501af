"""Crash safety: SIGKILL at awkward moments, and a disk that fills up while a checkpoint is saved.

(Ctrl-C, and a kill after the first epoch, are tests/test_resume.py's.) One run is killed three times,
each at a different kind of moment, and resumed after each kill; it must end with exactly the weights
and metrics of a run never interrupted, with no checkpoint ever half-written and each epoch logged once.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cnntrain.atomic import read_jsonl
from cnntrain.errors import CnntrainError
from cnntrain.run.checkpoint import load_checkpoint

# A wide linear layer makes each checkpoint ~12 MB (weights plus Adam's two moments), so saving it
# takes long enough for a kill to land mid-write; dropout makes the saved RNG state matter.
CONFIG = """\
name: crash
data: {dataset: shapes, channels: 1, image_size: 16, train_size: 200, val_size: 40, test_size: 40}
model:
  layers:
    - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - flatten
    - linear: 1024
    - relu
    - dropout: 0.3
    - linear: num_classes
train: {epochs: 3, batch_size: 32, featuremap_every: 0, device: cpu, seed: 3}
"""
TIMING = ("images_per_sec", "epoch_seconds")
ENV = {**{k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")},
       "OMP_NUM_THREADS": "1"}  # the same thread count in every process: bit-identical arithmetic


def start(*args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cnntrain", "train", "--quiet", *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err


def kill_when(proc: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL the process as soon as ready() holds; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
            return True
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run neither reached the kill point nor finished")
        time.sleep(0.0005)
    return False


def metric_lines(run: Path) -> int:
    try:
        return (run / "metrics.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def saving_last(run: Path) -> bool:
    """A temp file of last.pt exists: a checkpoint is being written right now."""
    try:
        return any(name.startswith(".last.pt.") for name in os.listdir(run / "checkpoints"))
    except FileNotFoundError:
        return False


def assert_consistent(run: Path) -> None:
    """What a kill may leave: whole checkpoints only, and a metrics log the readers accept."""
    for name in ("last.pt", "best.pt"):
        if (run / "checkpoints" / name).exists():
            load_checkpoint(run / "checkpoints" / name)  # raises on a half-written file
    if (run / "metrics.jsonl").exists():
        read_jsonl(run / "metrics.jsonl")


def untimed(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in read_jsonl(run / "metrics.jsonl")]


def same_weights(x: dict, y: dict) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


@pytest.fixture
def one_thread():
    """In-process runs use the subprocesses' single thread: the same arithmetic, bit for bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_sigkill_at_any_moment_then_resume_matches_an_uninterrupted_run(tmp_path, one_thread):
    from cnntrain.run.train import train

    config = tmp_path / "crash.yaml"
    config.write_text(CONFIG)
    reference, run = tmp_path / "reference", tmp_path / "run"
    train(config, out=reference)  # in this process: one start-up fewer

    kills = [
        ("while starting up", lambda: (run / "config.yaml").exists()),
        ("while saving a checkpoint", lambda: metric_lines(run) >= 1 and saving_last(run)),
        ("between logging an epoch and checkpointing it", lambda: metric_lines(run) >= 2),
    ]
    caught_mid_save = False
    for moment, ready in kills:
        resumable = (run / "checkpoints" / "last.pt").exists()
        args = ["--resume", str(run)] if resumable else ["--config", str(config), "--out", str(run)]
        proc = start(*args, cwd=tmp_path)
        if not kill_when(proc, ready):
            break  # finished before this moment came: nothing left to interrupt
        caught_mid_save |= moment == "while saving a checkpoint" and saving_last(run)
        assert_consistent(run)
    if not (run / "summary.json").exists():  # not finished by a run that outlived its kill point
        resumable = (run / "checkpoints" / "last.pt").exists()
        finish(start(*(["--resume", str(run)] if resumable else ["--config", str(config), "--out", str(run)]),
                     cwd=tmp_path))

    assert_consistent(run)
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]  # each epoch exactly once
    assert untimed(run) == untimed(reference)
    for name in ("last.pt", "best.pt"):
        got, want = load_checkpoint(run / "checkpoints" / name), load_checkpoint(reference / "checkpoints" / name)
        assert got["epoch"] == want["epoch"]
        assert same_weights(got["model"], want["model"]), f"{name}: the resumed run's weights differ"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 3 and summary["test"] == json.loads((reference / "summary.json").read_text())["test"]
    # A temp file a kill left mid-save is cleared away on resume, never mistaken for a checkpoint.
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    if not caught_mid_save:
        print("note: the kill meant for mid-save landed after the save had finished")


# --- a full disk ------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see which file is fsynced")
def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, one_thread):
    from cnntrain.run.train import train

    config = tmp_path / "crash.yaml"
    config.write_text(CONFIG.replace("linear: 1024", "linear: 32"))
    run = tmp_path / "run"
    real_fsync, saves = os.fsync, []

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(target).startswith(".last.pt."):
            saves.append(target)
            if len(saves) == 3:  # last.pt of epoch 0 and 1 are saved; epoch 2's finds the disk full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CnntrainError, match="disk full") as error:
        train(config, out=run)
    assert "last.pt" in str(error.value) and "intact" in str(error.value)
    assert load_checkpoint(run)["epoch"] == 1  # the previous checkpoint, whole
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]

    monkeypatch.setattr(os, "fsync", real_fsync)  # space freed: resume finishes the run
    result = train(resume=run)
    assert result.summary["epochs"] == 3
    assert [r["epoch"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]
    reference = train(config, out=tmp_path / "reference")
    assert same_weights(load_checkpoint(run)["model"], load_checkpoint(reference.run_dir)["model"])


def test_stale_temp_files_are_removed_and_nothing_else(tmp_path):
    from cnntrain.atomic import remove_stale_temps

    names = [".last.pt.0badf00d.tmp", ".best.pt.12345678.tmp", ".last.pt.notmine.tmp", "last.pt", "notes.tmp",
             ".other.pt.0badf00d.tmp"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    remove_stale_temps(tmp_path / "last.pt", tmp_path / "best.pt", tmp_path / "missing" / "last.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(set(names) - {".last.pt.0badf00d.tmp",
                                                                             ".best.pt.12345678.tmp"})
