"""`cnntrain tune` across processes: two workers of one study on a real PostgreSQL server and two tuners
on one default journal; Ctrl-C and kill -9 of a tuner mid-trial, and the same command continuing."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CONFIG = """
name: tiny
data: {dataset: shapes, channels: 1, image_size: 12, train_size: 64, val_size: 32, test_size: 16}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {name: output, out_features: num_classes}
train: {epochs: 1, batch_size: 32, lr: 0.01, device: cpu, featuremap_every: 0}
"""
SPACE = "train.lr: {float: [1e-3, 1e-1], log: true}\nmodel.layers.conv1.out_channels: {int: [2, 6]}\n"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "tiny.yaml").write_text(CONFIG.lstrip(), encoding="utf-8")
    (tmp_path / "space.yaml").write_text(SPACE, encoding="utf-8")
    return tmp_path


def tune_command(folder: Path, *args) -> list[str]:
    return [sys.executable, "-m", "cnntrain", "tune", "--config", str(folder / "tiny.yaml"), "--space",
            str(folder / "space.yaml"), "--pruner", "none", *map(str, args)]


def start(command: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    env.setdefault("OMP_NUM_THREADS", "1")
    # A background job ignores SIGINT, and an ignored signal stays ignored across exec: restore it, so the
    # child hears Ctrl-C as a terminal's process would (see tests/run/test_resume.py).
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return out


def study_trials(storage, study: str):
    import optuna

    return optuna.load_study(study_name=study, storage=storage).get_trials()


def journal(out: Path):
    from cnntrain.tasks.tune_study import open_storage

    return open_storage(None, out)


def check_one_study(document: dict, trials, out: Path, wanted: int) -> None:
    """Every trial ran once, in its own run directory, and `wanted` finished (a worker asking at the same
    moment as another may add one)."""
    numbers = [t["number"] for t in document["trials"]]
    assert numbers == sorted(set(numbers))
    states = [(t["state"], t.get("reason")) for t in document["trials"]]
    assert wanted <= sum(s == "complete" for s, _ in states) <= wanted + 1, states
    for t in document["trials"]:
        assert len((out / t["run"] / "metrics.jsonl").read_text().splitlines()) == 1  # one run, one epoch
    assert len({t.user_attrs["worker"] for t in trials}) == 2, "both workers should have run trials"


# --- PostgreSQL: Debian's server in a temporary folder, as an unprivileged user --------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgresql_url():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    assert found, "PostgreSQL's server is missing: apt-get install postgresql (.ci/run does)"
    bindir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="cnntrain-pg-"))
    prefix = []
    if os.geteuid() == 0:  # the server refuses to run as root
        user = "cnntrain-pg"
        if subprocess.run(["id", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                           check=True, capture_output=True)
        shutil.chown(folder, user)
        prefix = ["runuser", "-u", user, "--"]
    data, port = folder / "data", _free_port()
    subprocess.run([*prefix, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*prefix, bindir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-o", options, "start"],
                   check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*prefix, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(folder, ignore_errors=True)


def test_two_workers_share_one_study_on_postgresql(files, postgresql_url):
    out = files / "t"
    text = finish(start(tune_command(files, "--storage", postgresql_url, "--study", "pg", "--workers", 2,
                                     "--trials", 4, "--out", out)))
    document = json.loads((out / "tune.json").read_text())
    assert document["storage"] == postgresql_url and "best" in text
    check_one_study(document, study_trials(postgresql_url, "pg"), out, wanted=4)


def test_two_tuners_share_the_default_journal(files):
    out = files / "t"
    tuners = [start(tune_command(files, "--trials", 4, "--out", out)) for _ in range(2)]
    for proc in tuners:
        finish(proc)
    document = json.loads((out / "tune.json").read_text())
    check_one_study(document, study_trials(journal(out), "tiny"), out, wanted=4)


# --- Ctrl-C, then kill -9, then the same command -------------------------------------------------


def freeze_mid_trial(proc: subprocess.Popen, run: Path) -> None:
    """SIGSTOP the tuner once the trial's first epoch is logged (of 2): the signal after it lands mid-trial."""
    metrics = run / "metrics.jsonl"
    for _ in range(60000):  # polls, not a timer on the work; a hung process fails the test
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            proc.send_signal(signal.SIGSTOP)
            assert not (run / "summary.json").exists()
            return
        if proc.poll() is not None:
            pytest.fail(f"the tuner ended (status {proc.returncode}) before its trial's first epoch: "
                        f"{proc.communicate()[1]}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("no epoch finished")


def test_ctrl_c_and_kill_9_lose_nothing_and_the_same_command_continues(files):
    from cnntrain.tasks.tune_study import CUT_SHORT

    out = files / "t"
    command = tune_command(files, "--trials", 2, "--out", out, "--set", "train.epochs=2")

    proc = start(command)
    freeze_mid_trial(proc, out / "trials" / "0")
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "run the same command again to continue the study" in err and "Traceback" not in err
    shown = json.loads((out / "tune.json").read_text())["trials"]  # the outputs show the study so far
    assert [(t["number"], t["state"], t["reason"]) for t in shown] == [(0, "fail", "interrupted (Ctrl-C)")]

    proc = start(command)
    freeze_mid_trial(proc, out / "trials" / "1")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    finish(start(command))
    trials = json.loads((out / "tune.json").read_text())["trials"]
    assert [(t["number"], t["state"]) for t in trials] == [(0, "fail"), (1, "fail"), (2, "complete"), (3, "complete")]
    assert trials[0]["reason"] == "interrupted (Ctrl-C)" and trials[1]["reason"] == CUT_SHORT
    for number, reason in ((0, "interrupted (Ctrl-C)"), (1, CUT_SHORT)):
        marked = json.loads((out / "trials" / str(number) / "trial.json").read_text())
        assert marked["state"] == "fail" and marked["reason"] == reason  # the run directory says so
        assert (out / "trials" / str(number) / "checkpoints" / "last.pt").is_file()  # and keeps what it had


def test_ctrl_c_on_a_terminal_stops_every_worker_and_each_marks_its_trial(files):
    """A terminal's Ctrl-C goes to the whole foreground process group: the tuner and its workers."""
    out = files / "t"
    command = tune_command(files, "--workers", 2, "--trials", 2, "--out", out, "--set", "train.epochs=40")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            process_group=0, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    logs = [out / "trials" / str(n) / "metrics.jsonl" for n in (0, 1)]
    for _ in range(60000):  # polls, not a timer on the work; a hung process fails the test
        if all(log.exists() and log.read_text().count("\n") >= 1 for log in logs):
            break
        if proc.poll() is not None:
            pytest.fail(f"the tuner ended (status {proc.returncode}) before both trials ran: {proc.communicate()[1]}")
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "run the same command again to continue the study" in err and "Traceback" not in err
    trials = json.loads((out / "tune.json").read_text())["trials"]
    assert [(t["number"], t["state"], t["reason"]) for t in trials] == [
        (n, "fail", "interrupted (Ctrl-C)") for n in (0, 1)]
    for log in logs:
        assert len(log.read_text().splitlines()) < 40  # stopped mid-trial, not left to finish
        marked = json.loads((log.parent / "trial.json").read_text())
        assert marked["state"] == "fail" and (log.parent / "checkpoints" / "last.pt").is_file()
