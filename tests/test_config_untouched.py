"""A task never changes a Config it was given: every task, run for real on a tiny image folder whose images
keep their own size (data.image_size null) and whose class count the data decides (data.num_classes null),
the two values tasks used to fill in by writing into the config they were handed.

Two checks per task: a Config passed in (train, --fast-dev-run, lr-find, folds) has the same bytes after
the task as before; and every Config a task builds on its way (from a file, a checkpoint or a --set) is,
by the task's end, still what it was when it was built, so no helper a task hands it to changes it either.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from cnntrain.config import loader
from cnntrain.config.loader import load_config

pytestmark = pytest.mark.usefixtures("one_thread")

CONFIG = """
name: folder
data: {{dataset: imagefolder, root: {root}, channels: 1, image_size: null, val_fraction: 0.25, test_fraction: 0.25}}
model:
  layers:
    - conv2d: {{name: conv1, out_channels: 4, kernel_size: 3, padding: 1}}
    - relu
    - adaptivemaxpool2d: 1
    - flatten
    - linear: {{name: output, out_features: num_classes}}
train: {{epochs: 1, batch_size: 8, lr: 0.01, device: cpu, featuremap_every: 0}}
"""


def snapshot(config) -> tuple[str, str]:
    """The Config's bytes: its plain-data form as JSON, and its repr (which also tells a tuple from a list)."""
    return json.dumps({"name": config.name, **config.to_dict()}, sort_keys=True, default=repr), repr(config)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of 16 grey 12x12 PNGs (a bright or a dark square), and the config that trains on them."""
    root = tmp_path_factory.mktemp("untouched")
    rng = np.random.default_rng(0)
    for label, level in (("bright", 200), ("dark", 40)):
        (root / "images" / label).mkdir(parents=True)
        for i in range(16):
            pixels = rng.integers(0, 60, (12, 12), dtype=np.uint8)
            pixels[3:9, 3:9] = level
            Image.fromarray(pixels).save(root / "images" / label / f"{i}.png")
    path = root / "folder.yaml"
    path.write_text(CONFIG.format(root=root / "images").lstrip(), encoding="utf-8")
    return root, path


@pytest.fixture
def built_configs(monkeypatch):
    """Every Config built while the test runs (each goes through loader.resolve), with its bytes then;
    at the test's end each must still have them."""
    built = []

    def recording(*args, **kwargs):
        config = resolve(*args, **kwargs)
        built.append((config, snapshot(config)))
        return config

    resolve = loader.resolve
    monkeypatch.setattr(loader, "resolve", recording)
    yield built
    changed = [config.source for config, before in built if snapshot(config) != before]
    assert not changed, f"a task changed the Config it was given, from {changed}"


@pytest.fixture(scope="module")
def trained(folder):
    """A run trained from a Config object: (run directory, its bytes before, after)."""
    from cnntrain.run.train import train

    root, path = folder
    config = load_config(path)
    before = snapshot(config)
    result = train(config, out=root / "run")
    return result.run_dir, before, snapshot(config)


def test_train(trained):
    run, before, after = trained
    assert (run / "checkpoints" / "best.pt").exists()
    assert json.loads((run / "summary.json").read_text())["classes"] == ["bright", "dark"]
    assert after == before  # data.num_classes and image_size stay null in the caller's Config


@pytest.mark.parametrize("task", ["fast_dev_run", "lr_find", "folds"])
def test_tasks_given_a_config(task, folder, built_configs, tmp_path):
    from cnntrain.tasks.fast_dev_run import fast_dev_run
    from cnntrain.tasks.folds import train_folds
    from cnntrain.tasks.lr_find import lr_find

    config = load_config(folder[1])
    before = snapshot(config)
    if task == "fast_dev_run":
        assert fast_dev_run(config).summary["epochs"] == 1
    elif task == "lr_find":
        assert lr_find(config, steps=5, out=tmp_path / "lr").json_path.exists()
    else:
        assert len(train_folds(config, 2, out=tmp_path / "folds").folds) == 2
    assert snapshot(config) == before


def test_commands_on_the_trained_model(trained, folder, built_configs, tmp_path):
    """Each command that reads the checkpoint (its config rebuilt from it) or a config file. The model
    trained with image_size null: its pictures need the layers' shapes at the size it trained on."""
    from cnntrain.tasks.doctor import doctor
    from cnntrain.tasks.evaluate import evaluate
    from cnntrain.tasks.explain import explain
    from cnntrain.tasks.explore import explore
    from cnntrain.tasks.export import export
    from cnntrain.tasks.featuremaps import featuremaps
    from cnntrain.tasks.predict import predict
    from cnntrain.tasks.report import report

    run = trained[0]
    root, path = folder
    image = root / "images" / "dark" / "0.png"
    assert evaluate(run, out=tmp_path / "evaluate").classes == ["bright", "dark"]
    assert predict(run, [image])[0].predictions[0][0] in ("bright", "dark")
    featuremaps(image, checkpoint=run, out=tmp_path / "fm_checkpoint")
    featuremaps(image, config=path, out=tmp_path / "fm_config", overrides=["data.num_classes=2"])  # untrained
    explain(run, [image], out=tmp_path / "explain")
    explore(image, checkpoint=run, out=tmp_path / "explore")
    export(run, out=tmp_path / "model.onnx")
    report(run)  # rebuilds report.html, Grad-CAM of the mistakes included
    doctor(path, checkpoint=run, out=tmp_path / "doctor")  # the file's data, the checkpoint's labels check
    assert len(built_configs) >= 9  # each command built its own Config, and each is unchanged


def test_compare_and_tune(folder, built_configs, tmp_path):
    from cnntrain.tasks.compare import compare
    from cnntrain.tasks.tune import tune

    path = folder[1]
    assert len(compare([path, path], out=tmp_path / "compare", shifts=[0, 1]).models) == 2
    space = tmp_path / "space.yaml"
    space.write_text("train.lr: {float: [0.001, 0.01], log: true}\n", encoding="utf-8")
    tune(path, space, trials=1, out=tmp_path / "tune", pruner="none", seed=0)
    assert len(built_configs) >= 4
