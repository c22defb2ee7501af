"""Tests for `cnntrain explain`: its files, JSON and errors on 1D, 2D and 3D models, and --filters.

Whether the maps mean anything is tests/model/test_attribution.py's question; here the command is checked
through the real CLI on the session's tiny trained run (16 x 16 grey shapes).
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from cnntrain.model.attribution import METHODS

JSON_KEYS = {"path", "predicted", "probability", "target", "method", "layer", "heatmap"}


@pytest.fixture
def images(tmp_path):
    """Two grey images of different sizes in a class folder (`square`) and a third elsewhere, with the same
    stem as one of them."""
    rng = np.random.default_rng(0)
    for path, shape in ((tmp_path / "in" / "square" / "a.png", (20, 30)),
                        (tmp_path / "in" / "square" / "b.png", (16, 16)),
                        (tmp_path / "in" / "other" / "a.png", (16, 16))):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(path)
    return tmp_path / "in"


@pytest.mark.parametrize("method", METHODS)
def test_each_method_writes_a_map_at_the_input_resolution(trained_run, images, tmp_path, cli, method):
    out = tmp_path / "out"
    code, stdout, err = cli("explain", "--checkpoint", trained_run.run_dir, images / "square" / "a.png",
                            "--method", method, "--out", out, "--json")
    assert code == 0, err
    (found,) = json.loads(stdout)
    assert set(found) == JSON_KEYS and found["method"] == method
    assert found["heatmap"] == str(out / f"a_{method}.npy")
    heat = np.load(found["heatmap"])
    # the resolution the network read: the 30 x 20 image resized to the run's data.image_size, 16
    assert heat.dtype == np.float32 and heat.shape == (16, 16) and np.isfinite(heat).all()
    assert found["target"] == found["predicted"] and 0 < found["probability"] <= 1
    picture = Image.open(out / f"a_{method}.png")
    assert picture.mode == "RGB" and picture.width > 2 * picture.height  # input | map | overlay
    assert (found["layer"] is not None) == (method in ("gradcam", "gradcam++"))


def test_folders_are_walked_and_names_kept_apart(trained_run, images, tmp_path, cli):
    out = tmp_path / "out"
    code, stdout, err = cli("explain", "--checkpoint", trained_run.run_dir, images, "--out", out, "--json")
    assert code == 0, err
    found = json.loads(stdout)
    assert [r["path"] for r in found] == [str(images / "other" / "a.png"), str(images / "square" / "a.png"),
                                          str(images / "square" / "b.png")]
    # a second a.png does not overwrite the first
    assert [r["heatmap"] for r in found] == [str(out / f"{stem}_gradcam.npy") for stem in ("a", "a-2", "b")]
    assert all(np.load(r["heatmap"]).shape == (16, 16) for r in found)


def test_gradcam_looks_at_the_last_spatial_layer_unless_told(trained_run, images, tmp_path, cli):
    """TINY_TRAIN ends conv2, relu, adaptivemaxpool2d(1): the pool's 1 x 1 says nothing about where."""
    code, stdout, err = cli("explain", "--checkpoint", trained_run.run_dir, images / "square" / "b.png",
                            "--out", tmp_path / "o", "--json")
    assert code == 0, err
    assert json.loads(stdout)[0]["layer"] == "relu_2"
    code, stdout, err = cli("explain", "--checkpoint", trained_run.run_dir, images / "square" / "b.png",
                            "--layer", "conv1", "--out", tmp_path / "o", "--json")
    assert code == 0, err
    assert json.loads(stdout)[0]["layer"] == "conv1"


def test_targets(trained_run, images, tmp_path, cli):
    def targets(*args):
        code, stdout, err = cli("explain", "--checkpoint", trained_run.run_dir, *args, "--out", tmp_path / "o",
                                "--json")
        assert code == 0, err
        return [r["target"] for r in json.loads(stdout)]

    assert targets(images / "square", "--target", "true") == ["square", "square"]
    assert targets(images / "square", "--target", "star") == ["star", "star"]


@pytest.mark.parametrize("args,message", [
    (["--target", "stra"], "did you mean `star`"),
    (["--target", "true"], "'other' is not a class of this model"),
    (["--method", "saliency", "--layer", "conv1"], "--layer applies to gradcam and gradcam++ only"),
    (["--layer", "output"], "output has no spatial output"),
    (["--layer", "nope"], "no layer 'nope'"),
    (["--filters", "conv1"], "either inputs to explain or --filters"),
    (["--channels", "1"], "--channels and --tensorboard go with --filters"),
])
def test_mistakes_are_one_line(trained_run, images, tmp_path, cli, args, message):
    code, _, err = cli("explain", "--checkpoint", trained_run.run_dir, images, *args, "--out", tmp_path / "o")
    assert code == 2 and message in err and "Traceback" not in err


def test_an_exported_model_cannot_be_explained(images, tmp_path, cli):
    (tmp_path / "model.onnx").write_bytes(b"not read")
    code, _, err = cli("explain", "--checkpoint", tmp_path / "model.onnx", images)
    assert code == 2 and "needs the PyTorch model" in err


def test_the_run_directory_gets_explain_and_a_page(trained_run, images, tmp_path, cli):
    run = shutil.copytree(trained_run.run_dir, tmp_path / "run")  # the session's run stays as it was
    code, stdout, err = cli("explain", "--checkpoint", run, images / "square")
    assert code == 0, err
    page = run / "explain" / "index.html"
    assert str(page) in stdout
    links = _links(page.read_text(encoding="utf-8"))
    assert sorted(links) == ["a_gradcam.npy", "a_gradcam.png", "b_gradcam.npy", "b_gradcam.png"]
    # a later run into the same folder adds to the page; a map written again is shown once
    (run / "explain" / "a_gradcam.png").unlink()
    for method in ("occlusion", "gradcam"):
        code, _, err = cli("explain", "--checkpoint", run, images / "square" / "b.png", "--method", method)
        assert code == 0, err
    links = _links(page.read_text(encoding="utf-8"))
    assert links == ["b_occlusion.npy", "b_occlusion.png", "b_gradcam.npy", "b_gradcam.png"]
    assert all((page.parent / link).is_file() for link in links)


def _links(html: str) -> list[str]:
    class Links(HTMLParser):
        found: list = []

        def handle_starttag(self, tag, attrs):
            self.found += [unquote(v) for k, v in attrs if k in ("href", "src")]

    parser = Links()
    parser.found = []
    parser.feed(html)
    return parser.found


# --- 1D signals and 3D volumes: .npy inputs -------------------------------------------------------

SIGNALS = """
name: tiny1d
data: {dataset: signals, channels: 1, image_size: [64], train_size: 64, val_size: 32, test_size: 32}
model:
  layers:
    - conv1d: {name: conv1, out_channels: 4, kernel_size: 5, padding: 2}
    - relu
    - maxpool1d: 2
    - adaptiveavgpool1d: 1
    - flatten
    - linear: num_classes
train: {epochs: 1, batch_size: 32, device: cpu, featuremap_every: 0}
"""

VOLUMES = """
name: tiny3d
data: {dataset: volumes, channels: 1, image_size: [8, 8, 8], train_size: 64, val_size: 32, test_size: 32}
model:
  layers:
    - conv3d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - maxpool3d: 2
    - adaptivemaxpool3d: 1
    - flatten
    - linear: num_classes
train: {epochs: 1, batch_size: 32, device: cpu, featuremap_every: 0}
"""


@pytest.fixture(scope="module")
def runs_1d_3d(tmp_path_factory, one_thread):
    from cnntrain.run.train import train

    folder = tmp_path_factory.mktemp("dims")
    runs = {}
    for name, text, shape in (("1d", SIGNALS, (1, 64)), ("3d", VOLUMES, (1, 8, 8, 8))):
        config = folder / f"{name}.yaml"
        config.write_text(text.lstrip("\n"), encoding="utf-8")
        inputs = folder / f"inputs{name}"
        inputs.mkdir()
        rng = np.random.default_rng(0)
        for n in range(2):
            np.save(inputs / f"x{n}.npy", rng.integers(0, 255, shape, dtype=np.uint8))
        runs[name] = (train(config, out=folder / name).run_dir, inputs, shape[1:])
    return runs


@pytest.mark.parametrize("dims,method", [("1d", "gradcam"), ("1d", "integrated-gradients"), ("3d", "gradcam")])
def test_signals_and_volumes(runs_1d_3d, tmp_path, cli, dims, method):
    run, inputs, spatial = runs_1d_3d[dims]
    code, stdout, err = cli("explain", "--checkpoint", run, inputs, "--method", method, "--out", tmp_path / "o",
                            "--json")
    assert code == 0, err
    found = json.loads(stdout)
    assert [r["path"] for r in found] == [str(inputs / "x0.npy"), str(inputs / "x1.npy")]
    for r in found:
        assert np.load(r["heatmap"]).shape == spatial
        assert Image.open(r["heatmap"].replace(".npy", ".png")).mode == "RGB"


# --- what each filter looks for ----------------------------------------------------------------------


def test_filters_grid_array_and_tensorboard(trained_run, tmp_path, cli):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = shutil.copytree(trained_run.run_dir, tmp_path / "run")
    code, stdout, err = cli("explain", "--checkpoint", run, "--filters", "conv2", "--channels", "0,3",
                            "--channels", "5", "--steps", "8", "--tensorboard", run, "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["layer"] == "conv2" and result["channels"] == [0, 3, 5]
    patterns = np.load(result["array"])
    assert patterns.shape == (3, 1, 16, 16) and patterns.dtype == np.float32
    assert 0 <= patterns.min() and patterns.max() <= 1
    assert result["picture"] == str(run / "explain" / "filters_conv2.png") and Image.open(result["picture"]).width
    events = EventAccumulator(str(run), size_guidance={"images": 0})
    events.Reload()
    assert "explain/filters/conv2" in events.Tags()["images"]


def test_filters_errors(trained_run, cli, tmp_path):
    for args, message in ((["--filters", "conv2", "--channels", "8"], "conv2 has channels 0 to 7"),
                          (["--filters", "nope"], "no layer 'nope'"),
                          (["--filters", "conv1", "--tensorboard", tmp_path / "none"], "no such run directory")):
        code, _, err = cli("explain", "--checkpoint", trained_run.run_dir, *args, "--out", tmp_path / "o")
        assert code == 2 and message in err, err


def test_each_pattern_excites_its_channel_more_than_the_data_does(trained_run, tmp_path):
    """Activation maximisation finds, for each channel, an input it responds to more strongly (on average
    over positions) than to any test image of the data the model learned from."""
    import torch

    from cnntrain.data import load_data
    from cnntrain.run.load import load_trained
    from cnntrain.tasks.explain_filters import explain_filters

    result = explain_filters(trained_run.run_dir, "conv2", steps=64, out=tmp_path)
    trained = load_trained(trained_run.run_dir, device="cpu")
    relu = trained.model[:5]  # conv1, relu, maxpool, conv2, relu: the layer with its activation
    normalize = trained.normalizer.to("cpu", 2)
    test = load_data(trained.config.data, trained.config.train.seed).test.x
    with torch.no_grad():
        data = relu(normalize(test)).mean(dim=(2, 3)).amax(dim=0)  # (8,): each channel's best test image
        patterns = torch.from_numpy(np.load(result.array)) * 255
        found = relu(normalize(patterns)).mean(dim=(2, 3)).diagonal()  # pattern k, channel k
    alive = data > 0  # a channel no image ever excites gives the ascent no foothold either
    assert alive.sum() >= 4
    assert (found[alive] > data[alive]).all(), (found, data)


def test_the_command_offers_every_method():
    from cnntrain.cli.explain import Method

    assert tuple(m.value for m in Method) == METHODS
