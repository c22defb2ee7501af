"""What commands print: -q prints only the result, a resumed run's paths read like a fresh run's, and a
closed pipe ends the command quietly."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_quiet_prints_the_result_and_a_resumed_run_its_path_as_typed(cli, tiny_config, tmp_path, monkeypatch,
                                                                      one_thread):
    monkeypatch.chdir(tmp_path)
    code, fresh, _ = cli("train", "-c", tiny_config, "--out", "run", "-q", "--set", "train.epochs=1")
    assert code == 0, fresh
    assert "next:" not in fresh and "cnntrain evaluate" not in fresh  # quiet: the result, no suggestions
    assert "done" in fresh and "run directory: run\n" in fresh
    code, resumed, _ = cli("train", "--resume", "run", "--set", "train.epochs=2")
    assert code == 0, resumed
    assert "run directory: run\n" in resumed and str(tmp_path) not in resumed.split("next:")[0]
    assert "next:" in resumed and "cnntrain evaluate --checkpoint run/checkpoints/best.pt" in resumed


def test_a_closed_pipe_ends_quietly():
    """`cnntrain --help | head -0`: the reader is gone before the first line; no traceback, no exit 1 but
    the SIGPIPE end `cat` and `yes` have."""
    process = subprocess.Popen([sys.executable, "-m", "cnntrain", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, cwd=ROOT)
    process.stdout.close()
    _, err = process.communicate(timeout=120)
    assert process.returncode == -13 and err == b"", (process.returncode, err)
