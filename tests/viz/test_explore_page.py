"""The explore page in a real browser (headless Chromium): clicks and sliders give what PyTorch and the
conv arithmetic give, computed here in Python; 1D and 3D models render; nothing leaves the machine."""

from __future__ import annotations

import random
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from cnntrain.model.arithmetic import conv_out, pool_out

# conv1 (k3 s2 p1) -> relu -> pool (k2 s2) -> conv2 (k3 p1 d2) -> avg (k3 s2 p1, ceil) -> flatten -> out
NET_2D = """
name: net2d
data: {dataset: shapes, channels: 3, image_size: [22, 26], num_classes: 4}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    - relu
    - maxpool2d: {name: pool, kernel_size: 2}
    - conv2d: {name: conv2, out_channels: 3, kernel_size: 3, padding: 2, dilation: 2}
    - avgpool2d: {name: avg, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
    - flatten
    - linear: {name: out, out_features: num_classes}
train: {seed: 3}
"""
NET_1D = """
name: net1d
data: {dataset: signals, channels: 2, image_size: [40], num_classes: 3}
model:
  layers:
    - conv1d: {name: conv1, out_channels: 3, kernel_size: 5, padding: 2}
    - maxpool1d: {name: pool, kernel_size: 2}
    - conv1d: {name: conv2, out_channels: 2, kernel_size: 3, stride: 2}
    - flatten
    - linear: num_classes
"""
NET_3D = """
name: net3d
data: {dataset: volumes, channels: 1, image_size: [6, 8, 8], num_classes: 2}
model:
  layers:
    - conv3d: {name: conv1, out_channels: 2, kernel_size: 3, padding: 1}
    - relu
    - maxpool3d: {name: pool, kernel_size: 2}
    - adaptiveavgpool3d: 1
    - flatten
    - linear: num_classes
"""


def _explore(tmp_path, text: str, image: np.ndarray, suffix: str):
    """The page for `text` and `image`, the subject it shows, and every layer's output computed here."""
    from cnntrain.tasks.explore import explore
    from cnntrain.tasks.featuremaps import load_subject

    config = tmp_path / "net.yaml"
    config.write_text(textwrap.dedent(text), encoding="utf-8")
    path = tmp_path / f"input{suffix}"
    Image.fromarray(image).save(path) if suffix == ".png" else np.save(path, image)
    result = explore(path, config=config, out=tmp_path / "page")
    subject, pixels = load_subject(config=config, image=path)
    x = subject.normalizer.to("cpu", pixels.ndim - 1)(torch.from_numpy(np.array(pixels))[None]).float()
    outputs = []  # every top-level layer's output, computed here, not read from the page
    with torch.no_grad():
        for module in subject.model:
            x = module(x)
            outputs.append(x[0])
    return result, subject, outputs


@pytest.fixture(scope="module")
def page_2d(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explore2d")
    image = np.random.default_rng(0).integers(0, 256, (22, 26, 3), dtype=np.uint8)
    return _explore(folder, NET_2D, image, ".png")


RESIDUAL = """
name: res
data: {dataset: shapes, channels: 1, image_size: 16, num_classes: 2}
model:
  layers:
    - conv2d: {name: stem, out_channels: 3, kernel_size: 3, padding: 1}
    - residual:
        name: block
        body:
          - conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
          - relu
          - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
        shortcut: auto
    - adaptiveavgpool2d: 1
    - flatten
    - linear: num_classes
"""


def _ready(page, path):
    page.open(path)
    deadline = time.time() + 30
    while page.driver.execute_script("return document.body.dataset.ready") != "true":
        assert time.time() < deadline, page.console_errors()
        time.sleep(0.05)
    return page.driver


def _click(driver, layer, channel: int, y: int, x: int, depth: int | None = None):
    """Select the layer's card (and for (card, name), the conv layer of that name inside its block) and the
    channel, then click the pixel's centre on the big map, as a user would."""
    card, inner = layer if isinstance(layer, tuple) else (layer, None)
    driver.find_element(By.ID, f"card-{card}").click()
    if inner is not None:
        driver.find_element(By.CSS_SELECTOR, f'#closeup-head button[data-layer="{inner}"]').click()
    driver.find_element(By.CSS_SELECTOR, f'#channels canvas[data-channel="{channel}"]').click()
    if depth is not None:
        driver.execute_script("const s = document.getElementById('depth'); s.value = arguments[0];"
                              "s.dispatchEvent(new Event('input'));", depth)
    canvas = driver.find_element(By.ID, "fmap")
    # an action's offset counts from the centre of the element's visible part: show all of it
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    sx, sy = float(canvas.get_attribute("data-sx")), float(canvas.get_attribute("data-sy"))
    width, height = canvas.size["width"], canvas.size["height"]
    ActionChains(driver).move_to_element_with_offset(
        canvas, int((x + 0.5) * sx - width / 2), int((y + 0.5) * sy - height / 2)).click().perform()


def _value(driver, element_id: str) -> float:
    return float(driver.find_element(By.ID, element_id).get_attribute("data-value"))


def test_conv_click_shows_receptive_field_and_the_models_sum(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    conv2 = subject.layers[3]
    # conv2's receptive field in the input, by hand from the config: offset = p1 + p_pool*j1 + p2*j2
    jump, offset = (4, 4), (1 + 0 * 2 + 2 * 4,) * 2
    assert tuple(conv2.jump) == jump and tuple(conv2.receptive_field) == (3 + 1 * 2 + 4 * 4,) * 2
    for channel, y, x in ((1, 0, 0), (2, 3, 4), (0, 4, 5)):
        _click(driver, 3, channel, y, x)
        box = driver.find_element(By.ID, "rf-box")
        lo = [int(v) for v in box.get_attribute("data-lo").split(",")]
        hi = [int(v) for v in box.get_attribute("data-hi").split(",")]
        assert lo == [y * jump[0] - offset[0], x * jump[1] - offset[1]]
        assert [h - low + 1 for h, low in zip(hi, lo)] == list(conv2.receptive_field)
        expected = float(outputs[3][channel, y, x])
        assert _value(driver, "conv-sum") == pytest.approx(expected, rel=1e-4, abs=1e-5)
        assert _value(driver, "model-value") == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert page.console_errors() == [] and page.network_urls() == []


def test_first_conv_pixel_in_the_padding_corner(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    _click(driver, 0, 3, 0, 0)
    assert driver.find_element(By.ID, "rf-box").get_attribute("data-lo") == "-1,-1"  # padding 1 above and left
    assert _value(driver, "conv-sum") == pytest.approx(float(outputs[0][3, 0, 0]), rel=1e-4, abs=1e-5)
    assert driver.find_elements(By.CSS_SELECTOR, "#explain td.pad")  # the padded cells are shown as such


def test_max_pool_marks_the_true_argmax(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    _, indices = F.max_pool2d(outputs[1][None], 2, return_indices=True)
    width = outputs[1].shape[-1]
    picked = [(c, y, x) for c, y, x in ((0, 0, 0), (1, 2, 3), (3, 4, 2), (2, 1, 4)) if outputs[2][c, y, x] > 0][:3]
    assert picked, "the random image should light up some pooled pixel"
    for c, y, x in picked:
        _click(driver, 2, c, y, x)
        flat = int(indices[0, c, y, x])
        winner = driver.find_element(By.ID, "pool-winner").get_attribute("data-index")
        assert winner == f"{flat // width},{flat % width}"
        assert _value(driver, "model-value") == pytest.approx(float(outputs[2][c, y, x]))


def test_avg_pool_with_padding_and_ceil_mode(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    for c, y, x in ((0, 0, 0), (2, 2, 3)):  # the corner window overlaps the padding; ceil mode adds a column
        _click(driver, 4, c, y, x)
        assert _value(driver, "pool-average") == pytest.approx(float(outputs[4][c, y, x]), rel=1e-4, abs=1e-6)


def _slide(driver, **values):
    driver.execute_script("for (const [k, v] of Object.entries(arguments[0])) {"
                          " const s = document.getElementById('pg-' + k); s.value = v;"
                          " s.dispatchEvent(new Event('input')); }", values)
    return driver.find_element(By.ID, "pg-out").get_attribute("data-out")


def test_playground_follows_the_formula(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    # at the model's own settings, the ripple table repeats every real shape
    cells = driver.find_elements(By.CSS_SELECTOR, "#pg-ripple tr[data-layer] td:nth-child(3)")
    assert [c.text for c in cells] == [" \u00d7 ".join(map(str, o.shape)) for o in outputs]
    rng = random.Random(14)
    select = driver.find_element(By.ID, "pg-layer")
    for layer, pool in ((0, False), (2, True), (3, False)):
        driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));",
                              select, subject.layers[layer].name)
        sizes = subject.layers[layer].in_shape[1:]
        settings = [dict(kernel=rng.randint(1, 9), stride=rng.randint(1, 4), padding=rng.randint(0, 4),
                         dilation=rng.randint(1, 3)) for _ in range(12)]
        settings.append(dict(kernel=9, stride=1, padding=0, dilation=3))  # spans 25 > every input here
        for s in settings:
            k, st, p, d = s["kernel"], s["stride"], s["padding"], s["dilation"]
            if pool:
                outs = [pool_out(n, k, st, p, d) for n in sizes]
                valid = 2 * p <= k and min(outs) >= 1
            else:
                outs = [conv_out(n, k, st, p, d) for n in sizes]
                valid = min(outs) >= 1
            assert _slide(driver, **s) == ("x".join(map(str, outs)) if valid else "invalid"), s
    assert "invalid" in driver.find_element(By.ID, "pg-out").text
    assert page.console_errors() == []


def test_why_convolution_numbers(page, page_2d):
    result, subject, outputs = page_2d
    driver = _ready(page, result.html)
    row = driver.find_element(By.CSS_SELECTOR, '#why-table tr[data-layer="conv1"]')
    inputs, outs = 3 * 22 * 26, int(np.prod(outputs[0].shape))
    assert f"{inputs:,} \u00d7 {outs:,} = {inputs * outs:,}" in row.text
    assert f"{4 * 3 * 3 * 3:,}" in row.text


@pytest.mark.parametrize("text, shape, depth", [(NET_1D, (2, 40), None), (NET_3D, (1, 6, 8, 8), 3)],
                         ids=["1d", "3d"])
def test_1d_and_3d_models(page, tmp_path, text, shape, depth):
    image = np.random.default_rng(1).random(shape).astype(np.float32)
    result, subject, outputs = _explore(tmp_path, text, image, ".npy")
    driver = _ready(page, result.html)
    out = outputs[0]
    position = (depth, 2, 5) if depth is not None else (0, 0, 7)
    _click(driver, 0, 1, position[1], position[2], depth=depth)
    expected = float(out[(1, *position)] if depth is not None else out[1, position[2]])
    assert _value(driver, "conv-sum") == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert driver.find_element(By.ID, "depth-row").is_displayed() == (depth is not None)
    assert page.console_errors() == [] and page.network_urls() == [] and page.broken_images() == []


def test_conv_layers_inside_a_block(page, tmp_path):
    image = np.random.default_rng(2).integers(0, 256, (16, 16), dtype=np.uint8)
    result, subject, _ = _explore(tmp_path, RESIDUAL, image, ".png")
    inner = {}  # what the block's inner convs computed, by a hook here
    hooks = [subject.model.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: inner.__setitem__(name, out[0])) for name in ("block.body.0", "block.body.2",
                                                                                    "block.shortcut.0")]
    x = subject.normalizer.to("cpu", 2)(torch.from_numpy(image)[None, None]).float()
    with torch.no_grad():
        subject.model(x)
    for hook in hooks:
        hook.remove()
    driver = _ready(page, result.html)
    # stem k3 s1 p1; body.0 k3 s2 p1; body.2 k3 s1 p1; shortcut.0 k1 s2 p0: (offset, jump, field) by hand
    for name, offset, field in (("block.body.0", 2, 5), ("block.body.2", 4, 9), ("block.shortcut.0", 1, 3)):
        _click(driver, (1, name), 2, 3, 5)
        box = driver.find_element(By.ID, "rf-box")
        assert box.get_attribute("data-lo") == f"{3 * 2 - offset},{5 * 2 - offset}", name
        assert box.get_attribute("data-hi") == f"{3 * 2 - offset + field - 1},{5 * 2 - offset + field - 1}", name
        assert _value(driver, "conv-sum") == pytest.approx(float(inner[name][2, 3, 5]), rel=1e-4, abs=1e-5)
    # the playground reaches inside the block: stride 1 in its first conv keeps 16 x 16 through the block
    driver.execute_script("const s = document.getElementById('pg-layer'); s.value = 'block.body.0';"
                          "s.dispatchEvent(new Event('change'));")
    assert _slide(driver, stride=2) == "8x8" and _slide(driver, stride=1) == "16x16"
    block_row = driver.find_elements(By.CSS_SELECTOR, '#pg-ripple tr[data-layer="1"] td')
    assert block_row[2].text == "4 \u00d7 16 \u00d7 16" and block_row[1].text == "4 \u00d7 8 \u00d7 8"
    options = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, "#pg-layer option")]
    assert options == ["stem", "block.body.0", "block.body.2"]  # the shortcut follows the body, so it is left out
    assert page.console_errors() == []
