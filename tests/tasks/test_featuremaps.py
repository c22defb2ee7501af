"""Tests for cnntrain.tasks.featuremaps: maps checked against an independent computation, shapes against
the conv arithmetic, the web page's links, and the command's options and errors."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from cnntrain.errors import CnntrainError
from conftest import ROOT

EDGES = ROOT / "configs" / "edges.yaml"
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64)
SOBEL_Y = SOBEL_X.T


@pytest.fixture
def square_png(tmp_path):
    """A white square on black, 40 x 50 (not square, so H and W cannot be swapped unnoticed)."""
    pixels = np.zeros((40, 50), np.uint8)
    pixels[10:30, 15:38] = 255
    path = tmp_path / "square.png"
    Image.fromarray(pixels).save(path)
    return path


def correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """What a conv layer computes (cross-correlation), with one pixel of zero padding, in numpy."""
    padded = np.pad(image, 1)
    h, w = image.shape
    return sum(kernel[i, j] * padded[i:i + h, j:j + w] for i in range(3) for j in range(3))


def test_sobel_maps_match_numpy(square_png, tmp_path):
    from cnntrain.tasks.featuremaps import featuremaps

    result = featuremaps(square_png, config=EDGES, out=tmp_path / "out")
    maps = np.load(tmp_path / "out" / "00_sobel.npy")
    # --config has no normalization: the network sees the 8-bit pixels / 255
    image = np.asarray(Image.open(square_png), np.float64) / 255
    assert maps.dtype == np.float32 and maps.shape == (2, 40, 50)
    np.testing.assert_allclose(maps[0], correlate(image, SOBEL_X), atol=1e-5)
    np.testing.assert_allclose(maps[1], correlate(image, SOBEL_Y), atol=1e-5)
    assert maps[0, 20, 15] > 0 > maps[0, 20, 37]  # dark-to-bright edge positive, bright-to-dark negative
    for name in ("00_sobel.png", "00_sobel_filters.png", "input.png", "index.html"):
        assert (tmp_path / "out" / name).is_file()
    (layer,) = result.layers
    assert layer.stats["min"] == pytest.approx(float(maps.min()))
    assert layer.stats["sparsity"] == pytest.approx(float((maps == 0).mean()))


def test_without_an_image_the_first_test_image_of_the_data_is_used(tmp_path, cli):
    """A learner with no photo at hand still sees edges: edges.yaml on its own built-in data."""
    from cnntrain.tasks.featuremaps import data_sample

    code, out, err = cli("featuremaps", "--config", EDGES, "--out", tmp_path / "out")
    assert code == 0, err
    from cnntrain.config.loader import load_config

    image = data_sample(load_config(EDGES))[0].astype(np.float64) / 255  # (H, W) of the grey sample
    maps = np.load(tmp_path / "out" / "00_sobel.npy")
    assert maps.shape == (2, *image.shape)
    np.testing.assert_allclose(maps[0], correlate(image, SOBEL_X), atol=1e-5)
    assert np.abs(maps).max() > 0.5  # a shape's edges, not a blank picture


STRIDED = """
name: strided
data: {dataset: shapes, channels: 3, image_size: null, num_classes: 3}
model:
  layers:
    - conv2d: {name: a, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    - conv2d: {name: b, out_channels: 5, kernel_size: 5, stride: 3, padding: 2}
    - maxpool2d: {name: pool, kernel_size: 2}
    - flatten
    - linear: {out_features: num_classes}
"""


def conv_out(i: int, k: int, s: int, p: int) -> int:
    return (i + 2 * p - k) // s + 1


def test_shapes_follow_the_conv_arithmetic(square_png, tmp_path, write_config):
    from cnntrain.tasks.featuremaps import featuremaps

    # The image keeps its own 40 x 50 (image_size null); the linear layer after the pool never runs.
    featuremaps(square_png, config=write_config(STRIDED), out=tmp_path / "o")
    h, w = conv_out(40, 3, 2, 1), conv_out(50, 3, 2, 1)
    assert np.load(tmp_path / "o" / "00_a.npy").shape == (4, h, w) == (4, 20, 25)
    h, w = conv_out(h, 5, 3, 2), conv_out(w, 5, 3, 2)
    assert np.load(tmp_path / "o" / "01_b.npy").shape == (5, h, w) == (5, 7, 9)
    assert np.load(tmp_path / "o" / "02_pool.npy").shape == (5, h // 2, w // 2)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for key, value in attrs if key in ("src", "href")]


def test_html_links_resolve(trained_run, tmp_path):
    from cnntrain.tasks.featuremaps import featuremaps

    pixels = np.random.default_rng(1).integers(0, 255, (24, 24, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    result = featuremaps(tmp_path / "photo.png", checkpoint=trained_run.run_dir / "checkpoints" / "best.pt")
    assert result.out_dir == trained_run.run_dir / "featuremaps" / "photo"  # the default folder
    assert "mean" in result.normalization  # the checkpoint's normalization
    parser = _Links()
    parser.feed(result.html.read_text(encoding="utf-8"))
    files = [unquote(link) for link in parser.links if not link.startswith("#")]
    assert "input.png" in files and "00_conv1_filters.png" in files and "00_conv1.npy" in files
    assert all((result.out_dir / f).is_file() for f in files)
    assert np.load(result.out_dir / "00_conv1.npy").shape == (8, 16, 16)  # resized to image_size 16


def test_tensorboard_logging(trained_run, square_png, tmp_path):
    from cnntrain.tasks.featuremaps import featuremaps

    before = set(trained_run.run_dir.glob("events.out.tfevents.*"))
    featuremaps(square_png, checkpoint=trained_run.run_dir, layers=["conv1"], out=tmp_path / "o",
                tensorboard=trained_run.run_dir)
    assert set(trained_run.run_dir.glob("events.out.tfevents.*")) - before
    with pytest.raises(CnntrainError, match="no such run directory"):
        featuremaps(square_png, checkpoint=trained_run.run_dir, tensorboard=tmp_path / "nope")


def test_layers_by_name_and_index_and_scale(square_png, tmp_path, cli):
    cnn = ROOT / "configs" / "cnn.yaml"
    code, out, err = cli("featuremaps", "--config", cnn, "--image", square_png, "--layers", "conv1,5",
                         "--layers", "6", "--scale", "layer", "--out", tmp_path / "o")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").glob("*.npy")) == ["00_conv1.npy", "05_maxpool2d_2.npy",
                                                                       "06_conv3.npy"]
    assert np.load(tmp_path / "o" / "00_conv1.npy").shape == (16, 64, 64)  # resized to cnn.yaml's 64


def test_default_folder_for_a_config(square_png, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("featuremaps", "--config", EDGES, "--image", square_png)
    assert code == 0, err
    assert (tmp_path / "featuremaps" / "edges-square" / "00_sobel.npy").is_file()


def test_untrained_model_is_seeded(square_png, tmp_path):
    from cnntrain.tasks.featuremaps import featuremaps

    cnn = ROOT / "configs" / "cnn.yaml"
    for out in ("a", "b"):
        featuremaps(square_png, config=cnn, layers=["conv1"], out=tmp_path / out)
    assert np.array_equal(np.load(tmp_path / "a" / "00_conv1.npy"), np.load(tmp_path / "b" / "00_conv1.npy"))


def test_npy_input_for_a_1d_model(tmp_path, write_config):
    from cnntrain.tasks.featuremaps import featuremaps

    config = write_config("""
        name: sig
        data: {dataset: signals, channels: 2, image_size: [64]}
        model:
          layers:
            - conv1d: {name: c, out_channels: 3, kernel_size: 5}
            - flatten
            - linear: {out_features: num_classes}
    """)
    np.save(tmp_path / "signal.npy", np.random.default_rng(0).random((2, 64)).astype(np.float32))
    featuremaps(tmp_path / "signal.npy", config=config, out=tmp_path / "o")
    assert np.load(tmp_path / "o" / "00_c.npy").shape == (3, 60)
    np.save(tmp_path / "wrong.npy", np.zeros((3, 64), np.float32))
    with pytest.raises(CnntrainError, match="2 x 64"):
        featuremaps(tmp_path / "wrong.npy", config=config, out=tmp_path / "o")


def test_list_layers(cli):
    code, out, err = cli("featuremaps", "--config", ROOT / "configs" / "cnn.yaml", "--list-layers")
    assert code == 0, err
    for text in ("conv1", "maxpool2d_1", "adaptivemaxpool2d_1", "16 x 64 x 64", "output"):
        assert text in out


def test_usage_errors(square_png, cli):
    code, _, err = cli("featuremaps", "--config", EDGES, "--checkpoint", "x.pt", "--image", square_png)
    assert code == 2 and "--checkpoint" in err and "--config" in err
    code, _, err = cli("featuremaps", "--config", EDGES, "--image", square_png.with_name("missing.png"))
    assert code == 2 and "missing.png" in err


def test_unknown_layer_exits_2_without_traceback(square_png, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "cnntrain", "featuremaps", "--config", str(EDGES), "--image", str(square_png),
         "--layers", "conv9", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "conv9" in proc.stderr and "0:sobel" in proc.stderr


def test_a_config_with_model_init_shows_the_loaded_weights_with_its_normalization(square_png, tmp_path):
    import torch

    from cnntrain.config.loader import load_config
    from cnntrain.data.files import load_sample
    from cnntrain.model.builder import build_model
    from cnntrain.tasks.featuremaps import featuremaps

    cnn = ROOT / "configs" / "cnn.yaml"
    torch.manual_seed(99)  # other weights than the config's own seed would give
    pretrained = build_model(load_config(cnn, ["data.num_classes=6"])).model
    torch.save(pretrained.state_dict(), tmp_path / "w.pt")
    result = featuremaps(square_png, config=cnn, layers=["conv1"], out=tmp_path / "o",
                         overrides=[f"model.init={tmp_path / 'w.pt'}", "data.mean=[0.25]", "data.std=[0.5]"])
    assert "mean 0.25, std 0.5" in result.normalization
    pixels = torch.tensor(np.array(load_sample(square_png, load_config(cnn).data)), dtype=torch.float32)[None]
    with torch.no_grad():
        want = pretrained.conv1((pixels / 255 - 0.25) / 0.5)[0].numpy()
    np.testing.assert_allclose(np.load(tmp_path / "o" / "00_conv1.npy"), want, rtol=1e-5, atol=1e-5)
