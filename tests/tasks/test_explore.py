"""Tests for cnntrain.tasks.explore and `cnntrain explore`: what the page carries (checked against the model),
--layers and the size budget, escaping, checkpoints, --open and the user's mistakes."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
from PIL import Image

SMALL = """
name: small
data: {dataset: shapes, channels: 3, image_size: 12, num_classes: 3}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 5, kernel_size: 3}
    - flatten
    - linear: num_classes
"""


@pytest.fixture
def small(write_config, tmp_path):
    """(config path, image path): a 3-channel model and a random 15 x 17 picture (resized to 12 x 12)."""
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (15, 17, 3), dtype=np.uint8)).save(image)
    return write_config(SMALL), image


def page_data(html) -> dict:
    text = html.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', text, re.S)
    return json.loads(match.group(1))


def floats(data: dict, key: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(data["arrays"][key]), "<f4")


def test_cli_writes_the_page_and_says_its_size(small, tmp_path, cli):
    config, image = small
    code, out, err = cli("explore", "--config", config, "--image", image, "--out", tmp_path / "o")
    assert code == 0, err
    html = tmp_path / "o" / "explore.html"
    assert f"({html.stat().st_size / 1e6:.1f} MB)" in out and "explore.html" in out
    data = page_data(html)
    from cnntrain.tasks.featuremaps import load_subject

    subject, pixels = load_subject(config=config, image=image)
    assert [e["name"] for e in data["layers"]] == [info.name for info in subject.layers]
    assert [e["out_shape"] for e in data["layers"]] == [list(info.out_shape) for info in subject.layers]
    # the numbers the browser computes with are the model's own
    np.testing.assert_array_equal(floats(data, "w:conv1"), subject.model[0].weight.detach().numpy().ravel())
    np.testing.assert_allclose(floats(data, "input"), pixels.ravel() / 255, atol=1e-6)  # --config: pixels / 255
    conv2 = data["layers"][3]
    assert conv2["conv"]["k"] == [3, 3] and conv2["in_key"] == "out2" and conv2["rf"] == [8, 8]
    assert [c["name"] for c in data["why"]] == ["conv1", "conv2"]
    assert data["why"][1]["dense"] == f"{(4 * 6 * 6) * (5 * 4 * 4):,}" and data["why"][1]["conv"] == f"{5 * 4 * 9:,}"
    assert len(data["prediction"]["top"]) == 3
    assert "live input: draw, drop an image or pick a test sample" in out and data["live"]["program"]


def test_layers_choose_what_is_up_close(small, tmp_path, cli):
    config, image = small
    code, out, err = cli("explore", "--config", config, "--image", image, "--out", tmp_path / "o",
                         "--layers", "conv2,2")
    assert code == 0, err
    layers = page_data(tmp_path / "o" / "explore.html")["layers"]
    assert [e["name"] for e in layers if e["up_close"]] == ["maxpool2d_1", "conv2"]
    assert "full" not in layers[0] and "conv" not in layers[0] and "thumbs" in layers[0]
    assert "thumbnails only" in out and "conv1, relu_1" in out


def test_the_size_budget_keeps_big_models_small(small, tmp_path, monkeypatch):
    from cnntrain.tasks import explore as module

    config, image = small
    whole = module.explore(image, config=config, out=tmp_path / "a")
    monkeypatch.setattr(module, "UP_CLOSE_BYTES", 5_500)  # conv1 alone: (3 + 4) * 144 + 112 floats, its map
    narrow = module.explore(image, config=config, out=tmp_path / "b")
    assert whole.left_out == [] and narrow.up_close == ["conv1"] and narrow.size < whole.size
    assert narrow.left_out == ["relu_1", "maxpool2d_1", "conv2"]


def test_text_from_the_config_is_escaped(write_config, tmp_path, small):
    _, image = small
    config = write_config(SMALL.replace("name: conv1", "name: '</script><b>&x'").replace("name: small", "name: 'a<i>'"),
                          "hostile.yaml")
    from cnntrain.tasks.explore import explore

    result = explore(image, config=config, out=tmp_path / "o")
    text = result.html.read_text(encoding="utf-8")
    assert "<b>" not in text and "<i>" not in text and text.count("</script>") == 2
    assert page_data(result.html)["layers"][0]["name"] == "</script><b>&x"


def test_a_checkpoint_names_its_classes(trained_run, tmp_path):
    from cnntrain.run.load import load_trained
    from cnntrain.tasks.explore import explore

    result = explore(checkpoint=trained_run.run_dir)  # no image: the first test image of its data
    classes = load_trained(trained_run.run_dir, device="cpu").classes
    assert result.prediction[0] in classes and result.html.parent.parent == trained_run.run_dir / "explore"
    assert page_data(result.html)["prediction"]["named"] is True
    assert "the checkpoint's" in result.normalization


def test_open_hands_the_page_to_the_browser(small, tmp_path, cli, monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    config, image = small
    code, _, err = cli("explore", "--config", config, "--image", image, "--out", tmp_path / "o", "--open")
    assert code == 0, err
    assert opened == [(tmp_path / "o" / "explore.html").resolve().as_uri()]


@pytest.mark.parametrize("args, message", [
    ([], "give --checkpoint CKPT"),
    (["--layers", "nope"], "no layer 'nope'; choose by name or index from: 0:conv1"),
    (["--layers", "conv1.body.0"], "no conv layer 'conv1.body.0' inside a block; the conv layers inside blocks: "),
])
def test_mistakes_are_one_line(small, tmp_path, cli, args, message):
    config, image = small
    extra = ["--config", config, "--image", image] if args else []
    code, _, err = cli("explore", *extra, *args, "--out", tmp_path / "o")
    assert code == 2 and message in err and "Traceback" not in err


RESIDUAL = """
name: res
data: {dataset: shapes, channels: 1, image_size: 16, num_classes: 2}
model:
  layers:
    - conv2d: {name: stem, out_channels: 4, kernel_size: 3, padding: 1}
    - residual:
        name: block
        body:
          - conv2d: {out_channels: 6, kernel_size: 3, stride: 2, padding: 1}
          - relu
          - conv2d: {out_channels: 6, kernel_size: 3, padding: 1}
        shortcut: auto
    - adaptiveavgpool2d: 1
    - flatten
    - linear: num_classes
"""


def test_blocks_get_receptive_fields_and_inner_convs_count(write_config, small, tmp_path):
    from cnntrain.tasks.explore import explore

    _, image = small
    result = explore(image, config=write_config(RESIDUAL, "res.yaml"), out=tmp_path / "o")
    data = page_data(result.html)
    block = data["layers"][1]
    # stem (k3 s1 p1), then the body's k3 s2 p1 and k3 s1 p1: offset 1 + 1*1 + 1*2, field 3 + 2 + 2*2
    assert (block["rf"], block["jump"], block["offset"]) == ([9, 9], [2, 2], [4, 4])
    assert data["layers"][2]["rf"] is None  # after a global pool every output sees everything
    why = {c["name"]: c for c in data["why"]}
    assert list(why) == ["stem", "block.body.0", "block.body.2", "block.shortcut.0"]
    assert why["block.body.2"]["dense"] == f"{(6 * 8 * 8) ** 2:,}" and why["block.body.2"]["conv"] == f"{6 * 6 * 9:,}"
    narrow = explore(image, config=write_config(RESIDUAL, "res.yaml"), out=tmp_path / "n", layers=["block.body.2,0"])
    assert narrow.up_close == ["stem", "block.body.2"]
    inner = {e["name"]: e for e in page_data(narrow.html)["inner"]}
    assert inner["block.body.2"]["conv"]["k"] == [3, 3] and "conv" not in inner["block.body.0"]
