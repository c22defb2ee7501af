"""The CLI over the foundation: `summary` and `schema` through Typer, user mistakes as one line on stderr
with exit status 2 (a real subprocess, since `main()` converts them), and `--help` without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnntrain.cli.app import app
from cnntrain.errors import CnntrainError, ConfigError, ShapeError
from conftest import ROOT

runner = CliRunner()


def cnntrain(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnntrain", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_commands_and_does_not_import_torch():
    code = (
        "import sys\n"
        "from cnntrain.cli.app import app\n"
        "assert 'torch' not in sys.modules, 'importing cnntrain.cli.app imported torch'\n"
        "sys.argv = ['cnntrain', '--help']\n"
        "try:\n"
        "    app()\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "assert 'torch' not in sys.modules, '--help imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "120"})
    assert result.returncode == 0, result.stderr
    for command in ("summary", "schema"):
        assert command in result.stdout


def test_summary_json_through_typer():
    result = runner.invoke(app, ["summary", "--config", str(ROOT / "configs" / "lenet5.yaml"), "--json",
                                 "--set", "model.layers.c1.out_channels=8", "-s", "model.layers.c1.out_channels=12"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["layers"][0]["name"] == "c1" and summary["layers"][0]["output_shape"] == [12, 28, 28]
    assert summary["output_shape"] == [10]


def test_summary_table_through_typer():
    result = runner.invoke(app, ["summary", "-c", str(ROOT / "configs" / "mnist_cnn.yaml")])
    assert result.exit_code == 0, result.output
    assert "conv1" in result.stdout and "1,199,882" in result.stdout


def test_schema_through_typer():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert "conv2d" in json.loads(result.stdout)["$defs"]["layer"]["anyOf"][0]["enum"]


def test_user_errors_reach_main_as_cnntrain_errors(write_config):
    path = write_config("data: {channels: 1, image_size: 4}\n"
                        "model:\n  layers:\n    - conv2d: {out_channels: 3, kernel_size: 7}\n")
    result = runner.invoke(app, ["summary", "--config", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ShapeError)
    result = runner.invoke(app, ["summary", "--config", str(path), "--set", "model.layers.conv9.out_channels=1"])
    assert isinstance(result.exception, ConfigError)
    assert "no layer is named `conv9`" in str(result.exception)


# --- real subprocesses: what a user sees -----------------------------------------------------------------


def test_missing_config_file(tmp_path):
    assert_user_error(cnntrain("summary", "--config", str(tmp_path / "nope.yaml")), "config file not found")


def test_shape_error_is_one_line(write_config):
    path = write_config("data: {channels: 1, image_size: 4}\nmodel:\n  layers:\n    - relu\n"
                        "    - conv2d: {name: big, out_channels: 3, kernel_size: 7}\n")
    assert_user_error(cnntrain("summary", "--config", str(path)),
                      "layer 1 'big' (conv2d, line 5)", "kernel_size 7 > input 4x4", "use padding",
                      "its input is 1x4x4")


def test_python_tag_is_never_executed(write_config, tmp_path):
    marker = tmp_path / "pwned"
    path = write_config(f"name: !!python/object/apply:os.system ['touch {marker}']\nmodel: {{layers: [relu]}}\n")
    assert_user_error(cnntrain("summary", "--config", str(path)), "is not allowed", "c.yaml:1:")
    assert not marker.exists()


def test_unknown_set_key(write_config):
    path = write_config("model: {layers: [relu]}\n")
    assert_user_error(cnntrain("summary", "--config", str(path), "--set", "train.epoch=3"),
                      "--set train.epoch: unknown key `epoch` in `train`; did you mean `epochs`?")


@pytest.mark.parametrize("args", [["--help"], ["summary", "--help"]])
def test_help_exits_zero(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "--config" in result.stdout or "summary" in result.stdout


def test_errors_are_cnntrain_errors():
    assert issubclass(ShapeError, ConfigError) and issubclass(ConfigError, CnntrainError)


def test_a_model_with_nothing_to_train_is_a_user_error(tmp_path):
    """configs/edges.yaml is all fixed Sobel filters: train says so instead of torch's ValueError."""
    result = cnntrain("train", "--config", "configs/edges.yaml", "--set", "data.image_size=32",
                      "--out", str(tmp_path / "run"))
    assert_user_error(result, "no trainable parameters", "featuremaps")
    assert not (tmp_path / "run" / "checkpoints").exists()
