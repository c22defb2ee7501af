"""`cnntrain train --resume`: a run stopped anywhere (Ctrl-C, SIGKILL, a crash between two writes) and
resumed ends with exactly the weights of a run never stopped; a finished run extends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cnntrain.errors import CheckpointError, ConfigError, Interrupted
from cnntrain.run.progress import Progress
from cnntrain.run.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


def last_weights(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "last.pt", weights_only=True)["model"]


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def scalar_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return [e.step for e in events.Scalars(tag)]


class StopAfter(Progress):
    """Ctrl-C right after epoch `n` is saved, without a second process."""

    def __init__(self, n: int, action=None):
        self.n, self.action = n, action

    def epoch(self, record):
        if record["epoch"] == self.n:
            if self.action:
                self.action()
            else:
                raise KeyboardInterrupt


# --- a real process, stopped by a real signal -------------------------------------------------------


@pytest.fixture(scope="module")
def kill_config(tmp_path_factory, tiny_yaml) -> Path:
    """The tiny model on 2000 32x32 images for 3 epochs: long enough to stop a process in the middle."""
    config = yaml.safe_load(tiny_yaml)
    config["data"].update(image_size=32, train_size=2000, val_size=200)
    config["train"]["epochs"] = 3
    for layer in config["model"]["layers"]:
        if isinstance(layer, dict) and "conv2d" in layer:
            layer["conv2d"]["out_channels"] = 16
    path = tmp_path_factory.mktemp("kill") / "kill.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def never_stopped(kill_config, tmp_path_factory, one_thread) -> Path:
    return train(kill_config, out=tmp_path_factory.mktemp("never") / "run").run_dir


def start_training(config: Path, run: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env["OMP_NUM_THREADS"] = "1"  # as this process trains (see the one_thread fixture)
    # A shell that starts a job in the background (as a CI harness may start this suite) ignores SIGINT in it,
    # and an ignored signal stays ignored across exec: Python then installs no KeyboardInterrupt handler and
    # the "Ctrl-C" below would be lost. The child hears Ctrl-C as a terminal's process would.
    return subprocess.Popen([sys.executable, "-m", "cnntrain", "train", "-c", str(config), "--out", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def stop_after_first_epoch(proc: subprocess.Popen, run: Path) -> list[int]:
    """Freeze the process (SIGSTOP) as soon as epoch 1 is logged, and say which epochs it had logged then.
    Frozen, it cannot run on while the test looks: the signal that follows lands where the test checked."""
    wait_for_first_epoch(proc, run)
    proc.send_signal(signal.SIGSTOP)
    logged = epochs_logged(run)
    assert logged[-1] < 3 and not (run / "summary.json").exists(), (
        f"the run had logged epochs {logged} before it was frozen: kill_config is too short for this machine")
    return logged


def wait_for_first_epoch(proc: subprocess.Popen, run: Path) -> None:
    metrics = run / "metrics.jsonl"
    for _ in range(60000):  # polls, not a timer on the work itself; a hung process fails the test
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            return
        if proc.poll() is not None:
            pytest.fail(f"training ended (status {proc.returncode}) before epoch 1: {proc.communicate()[1]}")
        time.sleep(0.002)
    proc.kill()
    pytest.fail("no epoch finished")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_a_stopped_process_resumes_to_the_same_weights(sig, kill_config, never_stopped, tmp_path, cli, same_weights):
    run = tmp_path / "run"
    proc = start_training(kill_config, run)
    frozen_at = stop_after_first_epoch(proc, run)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)  # a pending Ctrl-C is delivered as the process thaws
    out, err = proc.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert f"cnntrain train --resume {run}" in err and "Traceback" not in err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert epochs_logged(run) == frozen_at  # stopped where it was frozen, not an epoch later

    code, _, err = cli("train", "--resume", run, "--quiet")
    assert code == 0, err
    assert epochs_logged(run) == [1, 2, 3]
    assert same_weights(last_weights(run), last_weights(never_stopped))


# --- in this process ------------------------------------------------------------------------------------


def test_ctrl_c_in_process_saves_and_names_the_resume_command(tiny_config, tmp_path, same_weights):
    """One-cycle keeps its place in the cycle across the stop."""
    sets = ["train.scheduler=onecycle", "train.epochs=3"]
    straight = train(tiny_config, overrides=sets, out=tmp_path / "straight").run_dir
    run = tmp_path / "stopped"
    with pytest.raises(Interrupted) as stopped:
        train(tiny_config, overrides=sets, out=run, progress=StopAfter(1))
    assert stopped.value.exit_code == 130
    assert f"holds epoch 1. Resume with: cnntrain train --resume {run}" in str(stopped.value)
    assert epochs_logged(run) == [1] and not (run / "summary.json").exists()

    resumed = train(resume=run)
    assert resumed.run_dir == run.resolve()
    assert epochs_logged(run) == [1, 2, 3]
    assert same_weights(last_weights(run), last_weights(straight))
    assert resumed.summary["epochs"] == 3 and (run / "summary.json").exists()


def test_a_crash_between_writes_leaves_no_duplicate_epoch(tiny_config, tmp_path, same_weights):
    """Epochs 2 and 3 were logged (metrics, TensorBoard) but last.pt still holds epoch 1, as after a kill
    between the writes: resuming from the checkpoint file drops them and logs each epoch once."""
    run = tmp_path / "run"
    side = tmp_path / "epoch1.pt"
    keep = StopAfter(1, lambda: shutil.copy(run / "checkpoints" / "last.pt", side))
    finished = train(tiny_config, overrides=["train.epochs=3"], out=run, progress=keep)
    full = last_weights(run)
    shutil.copy(side, run / "checkpoints" / "last.pt")
    (run / "summary.json").unlink()

    resumed = train(resume=run / "checkpoints" / "last.pt")
    assert epochs_logged(run) == [1, 2, 3]
    for tag in ("train/loss", "val/loss", "val/acc", "lr"):
        assert scalar_steps(run, tag) == [1, 2, 3], tag
    assert scalar_steps(run, "hparam/best_val_acc") == [3]  # the first finish's value is purged too
    assert same_weights(last_weights(run), full)
    assert resumed.summary["final"] == finished.summary["final"] | {
        k: resumed.summary["final"][k] for k in ("images_per_sec", "epoch_seconds")}


def test_extending_a_finished_run_equals_training_longer(tiny_config, tmp_path, same_weights):
    run = train(tiny_config, out=tmp_path / "run").run_dir  # 2 epochs
    longer = train(tiny_config, overrides=["train.epochs=3"], out=tmp_path / "longer").run_dir
    extended = train(resume=run, overrides=["train.epochs=3"])
    assert extended.summary["epochs"] == 3 and epochs_logged(run) == [1, 2, 3]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 3
    assert same_weights(last_weights(run), last_weights(longer))


def test_a_finished_onecycle_run_extends(tiny_config, tmp_path):
    run = train(tiny_config, overrides=["train.scheduler=onecycle", "train.epochs=1"], out=tmp_path / "run").run_dir
    train(resume=run, overrides=["train.epochs=2"])
    assert epochs_logged(run) == [1, 2]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory, tiny_yaml, one_thread) -> Path:
    root = tmp_path_factory.mktemp("done")
    (root / "tiny.yaml").write_text(tiny_yaml)
    return train(root / "tiny.yaml", overrides=["train.epochs=1"], out=root / "run").run_dir


def test_resuming_a_finished_run_says_how_to_extend_it(done_run):
    extend = r"nothing to do; extend it with --resume .* --set train.epochs=N \(N > 1\)"
    with pytest.raises(ConfigError, match=extend):
        train(resume=done_run)


@pytest.mark.parametrize("override,message", [
    ("train.lr=0.5", "train.lr cannot change on --resume"),
    ("train.optimizer=sgd", "train.optimizer cannot change on --resume"),
    ("train.monitor=val_loss", "train.monitor cannot change on --resume"),
])
def test_settings_the_checkpoint_fixes_cannot_change_on_resume(override, message, done_run):
    with pytest.raises(ConfigError, match=message):
        train(resume=done_run, overrides=[override, "train.epochs=2"])


def test_a_changed_model_does_not_fit_the_checkpoint(done_run):
    with pytest.raises(CheckpointError, match="layer conv2: conv2.weight is 8 x 8 x 3 x 3 in the checkpoint"):
        train(resume=done_run, overrides=["model.layers.conv2.out_channels=4", "train.epochs=2"])


def test_resume_needs_a_run(done_run, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        train(resume=tmp_path / "missing")
    loose = tmp_path / "loose.pt"
    shutil.copy(done_run / "checkpoints" / "last.pt", loose)
    with pytest.raises(CheckpointError, match="not inside a run directory"):
        train(resume=loose, overrides=["train.epochs=2"])


PRACTICAL = ["train.epochs=3", "train.ema=0.9", "train.scheduler=plateau", "train.plateau_patience=0",
             "train.accumulate=2", "train.class_weights=balanced", "data.sampler=balanced"]


def test_ema_plateau_accumulation_and_balancing_resume_exactly(tiny_config, tmp_path, same_weights):
    """The weight average, the plateau's count of bad epochs and the balanced draw all continue exactly."""
    straight = train(tiny_config, overrides=PRACTICAL, out=tmp_path / "straight").run_dir
    run = tmp_path / "stopped"
    with pytest.raises(Interrupted):
        train(tiny_config, overrides=PRACTICAL, out=run, progress=StopAfter(1))
    train(resume=run)
    a, b = (torch.load(r / "checkpoints" / "last.pt", weights_only=True) for r in (straight, run))
    assert same_weights(a["model"], b["model"]) and same_weights(a["ema"]["train_model"], b["ema"]["train_model"])
    assert not same_weights(a["model"], a["ema"]["train_model"])  # `model` is the average, not the weights
    assert a["scheduler"] == b["scheduler"] and a["ema"]["updates"] == b["ema"]["updates"]
    best = [torch.load(r / "checkpoints" / "best.pt", weights_only=True)["model"] for r in (straight, run)]
    assert same_weights(*best)


def test_validation_and_evaluate_use_the_weight_average(tiny_config, tmp_path):
    """best.pt's `model` is the average that was validated: evaluate on val gives the logged val_acc."""
    from cnntrain.tasks.evaluate import evaluate

    result = train(tiny_config, overrides=["train.ema=0.9"], out=tmp_path / "run")
    best = result.summary["best"]
    assert evaluate(result.run_dir / "checkpoints" / "best.pt", split="val").accuracy == pytest.approx(best["value"])


def test_ema_cannot_change_on_resume(done_run):
    with pytest.raises(ConfigError, match="train.ema cannot change on --resume"):
        train(resume=done_run, overrides=["train.ema=0.99", "train.epochs=2"])


# --- Ctrl-C while the run finishes (testing the best checkpoint, summary.json, report.html) -----------


def test_ctrl_c_while_testing_the_best_checkpoint_keeps_every_epoch_and_resume_finishes(
        tiny_config, tmp_path, monkeypatch, same_weights):
    straight = train(tiny_config, out=tmp_path / "straight")
    run = tmp_path / "stopped"
    with monkeypatch.context() as patch:
        patch.setattr("cnntrain.run.finish.best_on_test", _ctrl_c)
        with pytest.raises(Interrupted) as stopped:
            train(tiny_config, out=run)
    assert stopped.value.exit_code == 130
    assert f"Test the best checkpoint and write summary.json and report.html with: cnntrain train --resume {run}" \
        in str(stopped.value)
    assert epochs_logged(run) == [1, 2] and not (run / "summary.json").exists()
    assert same_weights(last_weights(run), last_weights(straight.run_dir))

    finished = train(resume=run)  # no epoch left: only the end runs
    assert epochs_logged(run) == [1, 2]
    assert finished.summary["test"] == straight.summary["test"]
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2


def test_ctrl_c_while_writing_the_final_report_leaves_a_finished_run(tiny_config, tmp_path, monkeypatch, cli):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr("cnntrain.run.finish.write_final_report", _ctrl_c)
        with pytest.raises(Interrupted) as stopped:
            train(tiny_config, out=run)
    assert stopped.value.exit_code == 130
    assert f"the run is finished ({run / 'summary.json'} holds its results). Rebuild its page with: " \
           f"cnntrain report {run}" in str(stopped.value)
    assert json.loads((run / "summary.json").read_text())["epochs"] == 2
    assert "mistakes.png" not in (run / "report.html").read_text()  # the page of epoch 2, as it was

    code, _, err = cli("report", run)
    assert code == 0, err
    assert "mistakes.png" in (run / "report.html").read_text()  # the final page, with the test section


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt
