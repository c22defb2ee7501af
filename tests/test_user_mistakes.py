"""Issue 22's list of wrong inputs people really give: each gets one clear line and exit status 2 (1 where
some inputs were answered), writes nothing it should not, and never a traceback."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnntrain.errors import CheckpointError, CnntrainError, Interrupted
from cnntrain.run.progress import Progress

pytestmark = pytest.mark.usefixtures("one_thread")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def run(trained_run) -> Path:
    return trained_run.run_dir


@pytest.fixture
def images(tmp_path) -> Path:
    """A folder of two readable 16x16 PNGs and one corrupt .png."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8)).save(folder / name)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return folder


# --- featuremaps of a layer whose output is a vector ---------------------------------------------


def test_featuremaps_of_vector_layers_writes_values_and_bars(cli, run, tmp_path):
    code, out, err = cli("featuremaps", "--checkpoint", run, "--layers", "output,flatten_1", "--out", tmp_path / "fm")
    assert code == 0, err
    assert np.load(tmp_path / "fm" / "07_output.npy").shape == (6,)  # [F]: one number per class
    assert np.load(tmp_path / "fm" / "06_flatten_1.npy").shape == (8,)
    for png in ("07_output.png", "06_flatten_1.png"):
        assert Image.open(tmp_path / "fm" / png).size[0] > 100


# --- a config that is not UTF-8 -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["summary", "-c"], ["train", "-c"], ["lr-find", "-c"]])
def test_a_latin1_config_is_one_line(cli, tmp_path, command):
    config = tmp_path / "latin1.yaml"
    config.write_bytes("name: net\n# réseau\n".encode("latin-1"))
    code, _, err = cli(*command, config)
    assert code == 2 and f"{config}:2: not UTF-8" in one_line(err)


# --- a dataset name with a typo: data's registry knows the names, the message still names the line -------


@pytest.mark.parametrize("command", [["summary", "-c"], ["train", "-c"], ["lr-find", "-c"],
                                     ["train", "--folds", "2", "-c"]])
def test_a_misspelt_dataset_is_one_line_naming_its_line_and_the_nearest_name(cli, tmp_path, tiny_yaml, command,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "typo.yaml"
    config.write_text(tiny_yaml.replace("dataset: shapes", "dataset: shapez"), encoding="utf-8")
    code, _, err = cli(*command, config)
    line = one_line(err)
    assert code == 2 and f"{config}:2: unknown data.dataset 'shapez'; did you mean `shapes`?" in line, line
    assert not (tmp_path / "runs").exists()


# --- --out that cannot be written: checked before any work -----------------------------------------


def out_commands(run: Path, config: Path) -> dict:
    return {"train": ["train", "-c", config], "evaluate": ["evaluate", "--checkpoint", run],
            "featuremaps": ["featuremaps", "--checkpoint", run], "explore": ["explore", "--checkpoint", run],
            "lr-find": ["lr-find", "-c", config], "compare": ["compare", config, config],
            "export": ["export", "--checkpoint", run]}


@pytest.mark.parametrize("command", ["train", "evaluate", "featuremaps", "explore", "lr-find", "compare", "export"])
def test_out_on_an_existing_file_is_refused_first(cli, run, tiny_config, tmp_path, command):
    taken = tmp_path / ("model.onnx" if command == "export" else "taken")
    if command == "export":
        taken.mkdir()  # a folder where the file should go
    else:
        taken.write_text("mine")
    code, _, err = cli(*out_commands(run, tiny_config)[command], "--out", taken)
    assert code == 2 and str(taken) in one_line(err)
    assert ("is a folder" if command == "export" else "is an existing file") in err
    assert command == "export" or taken.read_text() == "mine"


@pytest.mark.parametrize("command", ["train", "evaluate", "lr-find", "export"])
def test_out_where_nothing_can_be_written_is_refused_first(cli, run, tiny_config, command):
    target = "/proc/cnntrain/m.onnx" if command == "export" else "/proc/cnntrain-out"
    started = time.perf_counter()
    code, _, err = cli(*out_commands(run, tiny_config)[command], "--out", target)
    assert code == 2 and "cannot write in /proc" in one_line(err)
    assert time.perf_counter() - started < 15  # before the export's verification, not after


# --- report of something that is not a run ---------------------------------------------------------


@pytest.mark.parametrize("thing", ["config", "image"])
def test_report_of_a_config_or_an_image_is_not_a_run(cli, tiny_config, images, thing):
    path = tiny_config if thing == "config" else images / "a.png"
    before = sorted(path.parent.parent.rglob("*"))
    code, _, err = cli("report", path)
    assert code == 2 and "not a run directory" in one_line(err)
    assert sorted(path.parent.parent.rglob("*")) == before  # no report.html anywhere


# --- exported models given to the commands that cannot run them -------------------------------------


@pytest.mark.parametrize("command, suffix, takes", [
    ("evaluate", ".ts", "take a checkpoint (.pt), a run directory or a model.onnx"),
    ("predict", ".pt2", "take a checkpoint (.pt), a run directory or a model.onnx"),
    ("featuremaps", ".onnx", "takes a checkpoint (.pt) or a run directory"),
    ("explore", ".onnx", "takes a checkpoint (.pt) or a run directory"),
    ("export", ".onnx", "takes a checkpoint (.pt) or a run directory"),
])
def test_an_exported_model_says_which_formats_the_command_takes(cli, images, tmp_path, command, suffix, takes):
    model = tmp_path / f"model{suffix}"
    model.write_bytes(b"exported bytes")
    args = [command, "--checkpoint", model] + ([images / "a.png"] if command == "predict" else [])
    code, _, err = cli(*args)
    line = one_line(err)
    assert code == 2 and "written by `cnntrain export`" in line and takes in line and "corrupt" not in line


# --- a resumed run keeps its model -------------------------------------------------------------------


def test_resume_with_a_changed_layer_names_it_and_both_shapes(cli, run, tmp_path):
    copy = shutil.copytree(run, tmp_path / "run")
    code, _, err = cli("train", "--resume", copy, "--set", "model.layers.conv1.out_channels=4",
                       "--set", "train.epochs=2")
    line = one_line(err)
    assert code == 2 and "layer conv1: conv1.weight is 8 x 1 x 3 x 3 in the checkpoint but 4 x 1 x 3 x 3" in line
    assert "A resumed run keeps its model" in line


# --- a run directory means its best checkpoint --------------------------------------------------------


def test_a_run_directory_means_best_pt(run, tmp_path):
    from cnntrain.run.load import load_trained
    from cnntrain.tasks.evaluate import evaluate

    assert load_trained(run).path.name == "best.pt"  # predict, explain, export, featuremaps start here
    assert Path(evaluate(run, out=tmp_path / "eval").checkpoint).name == "best.pt"
    without = shutil.copytree(run, tmp_path / "stopped")
    (without / "checkpoints" / "best.pt").unlink()
    with pytest.raises(CheckpointError, match="no epoch has finished yet: pass checkpoints/last.pt"):
        load_trained(without)


# --- a folder with one corrupt image --------------------------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "explain"])
def test_one_corrupt_image_leaves_the_others_answered(cli, run, images, tmp_path, command):
    out = ["--out", tmp_path / "explain"] if command == "explain" else []
    code, stdout, err = cli(command, "--checkpoint", run, images, *out, "--json")
    answered = {Path(entry["path"]).name for entry in json.loads(stdout) if "error" not in entry}
    assert answered == {"a.png", "b.png"}
    line = one_line(err)
    assert code == 1 and "1 of 3 files could not be read" in line and "broken.png" in line
    assert "use a PNG" not in line and "damaged, or not the format its name says" in line


# --- Ctrl-C ----------------------------------------------------------------------------------------------


class CtrlC(Progress):
    """Ctrl-C at the given batch of the given (1-based) call of `start`: a run, or a compare's model."""

    def __init__(self, batch: int = 1, run: int = 1):
        self.batch_no, self.run_no, self.runs = batch, run, 0

    def start(self, **kwargs):
        self.runs += 1

    def batch(self, *, step, **kwargs):
        if self.runs == self.run_no and step == self.batch_no:
            raise KeyboardInterrupt


def test_lr_find_interrupted_says_what_it_has_and_how_to_go_on(tiny_config, tmp_path):
    from cnntrain.tasks.lr_find import lr_find

    with pytest.raises(Interrupted, match=r"nothing written .* fewer --steps \(this one had 40\)"):
        lr_find(tiny_config, out=tmp_path / "lr", steps=40, progress=CtrlC(batch=3))
    assert not (tmp_path / "lr").exists()


def test_compare_interrupted_goes_on_with_the_same_out(tiny_config, tmp_path, write_config, tiny_yaml):
    from cnntrain.tasks.compare import compare

    other = write_config(tiny_yaml.replace("name: tiny", "name: other"), "other.yaml")
    sets, out = ["train.epochs=2", "data.train_size=128"], tmp_path / "cmp"
    with pytest.raises(Interrupted) as stopped:
        compare([tiny_config, other], overrides=sets, out=out, progress=CtrlC(batch=1, run=2))
    assert f"run the same compare again with --out {out}" in str(stopped.value)
    assert "train --resume" not in str(stopped.value)
    first = (out / "tiny" / "checkpoints" / "best.pt").stat().st_mtime_ns
    result = compare([tiny_config, other], overrides=sets, out=out)
    assert [m.name for m in result.models] == ["tiny", "other"]
    assert (out / "tiny" / "checkpoints" / "best.pt").stat().st_mtime_ns == first  # reused, not retrained
    with pytest.raises(CnntrainError, match="holds a comparison with other settings"):
        compare([tiny_config, other], overrides=["train.epochs=3"], out=out)


def test_fast_dev_run_errors_do_not_point_into_its_deleted_folder(cli, tiny_config):
    code, _, err = cli("train", "-c", tiny_config, "--fast-dev-run", "--set", "train.lr=1e300")
    line = one_line(err)
    assert code == 2 and "beyond float32's range" in line and "cnntrain-fast-dev-run" not in line


# --- where outputs go, and the right message for the wrong kind of path -----------------------------------


def test_evaluate_outside_a_run_writes_next_to_the_file(run, tmp_path):
    from cnntrain.run.checkpoint import home_of
    from cnntrain.tasks.evaluate import evaluate

    loose = tmp_path / "models" / "model.pt"
    loose.parent.mkdir()
    shutil.copy(run / "checkpoints" / "best.pt", loose)
    assert evaluate(loose).out_dir == loose.parent.resolve() / "eval-test"
    assert home_of(loose.with_name("model.onnx")) == loose.parent.resolve()
    assert home_of(run / "export" / "model.onnx") == run.resolve()


def test_wrong_kinds_of_path_get_the_right_message(cli, run, tiny_config, images):
    code, _, err = cli("featuremaps", "--checkpoint", run, "--image", images)
    assert code == 2 and "is a folder; give one image file" in one_line(err)
    code, _, err = cli("evaluate", "--checkpoint", run, "--data", images / "a.png")
    assert code == 2 and "is a file, not a folder" in one_line(err)
    code, _, err = cli("featuremaps", "--checkpoint", run, "--config", tiny_config)
    assert code == 2 and "give --checkpoint or --config, not both" in one_line(err)

