"""explore.html's input panel in a real browser (headless Chromium): a stroke drawn with pointer events, the
keyboard, an image file through the file input, a 1D curve and a 3D test sample each make the page rerun
the model, and every layer it holds, the probabilities and the up-close arithmetic equal PyTorch's on
the same input, computed here; bad files are told apart on the page; nothing leaves the machine."""

from __future__ import annotations

import base64
import textwrap
import time

import numpy as np
import pytest
import torch
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from cnntrain.model.program import page_program

# torch's note that an even kernel with padding "same" pads a copy: the 1D model below does it on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

# RGB, batch norm, GELU, a residual block with a grouped conv, ceil-mode max pool, padded avg pool, dropout;
# below: a dilated conv, "same" padding of an even kernel (one more zero on the right), 1D and 3D
LIVE_RGB = """
name: livergb
data: {dataset: shapes, channels: 3, image_size: [20, 24], num_classes: 4, test_size: 8}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    - batchnorm2d
    - gelu
    - residual:
        name: block
        body:
          - conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
          - leakyrelu
          - conv2d: {out_channels: 6, kernel_size: 3, padding: 1, groups: 2}
        shortcut: auto
    - maxpool2d: {name: pool, kernel_size: 2, ceil_mode: true}
    - avgpool2d: {name: avg, kernel_size: 3, stride: 2, padding: 1}
    - dropout: 0.2
    - flatten
    - linear: {name: out, out_features: num_classes}
train: {seed: 3}
"""
LIVE_GREY = """
name: livegrey
data: {dataset: shapes, channels: 1, image_size: 16, num_classes: 3, test_size: 8}
model:
  layers:
    - conv2d: {name: conv1, out_channels: 4, kernel_size: 3, padding: 1}
    - relu
    - maxpool2d: 2
    - conv2d: {name: conv2, out_channels: 4, kernel_size: 3, dilation: 2, padding: 1}
    - adaptivemaxpool2d: 1
    - flatten
    - linear: num_classes
"""
LIVE_1D = """
name: live1d
data: {dataset: signals, channels: 1, image_size: [48], num_classes: 3, test_size: 8}
model:
  layers:
    - conv1d: {name: conv1, out_channels: 3, kernel_size: 4, padding: same}
    - batchnorm1d
    - silu
    - maxpool1d: 2
    - conv1d: {name: conv2, out_channels: 2, kernel_size: 3, stride: 2}
    - flatten
    - linear: num_classes
"""
LIVE_3D = """
name: live3d
data: {dataset: volumes, channels: 1, image_size: [8, 8, 8], num_classes: 2, test_size: 8}
model:
  layers:
    - conv3d: {name: conv1, out_channels: 2, kernel_size: 3, padding: 1}
    - tanh
    - maxpool3d: {name: pool, kernel_size: 2}
    - adaptiveavgpool3d: 1
    - flatten
    - linear: num_classes
"""

# every array the page computes with, as base64 float32: the input, each layer's output, inner convs' in/out
_B64 = """
const b64 = (a) => { const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192)); return btoa(s); };
"""
_READ = _B64 + """
const keys = ["input", ...LAYERS.map((e, i) => `out${i}`), ...INNER.flatMap((e) => [`in:${e.name}`, `out:${e.name}`])];
return {pixels: b64(LV.pixels), arrays: Object.fromEntries(keys.map((k) => [k, b64(floats(k))])),
        probs: DATA.prediction ? DATA.prediction.probs || null : null,
        bars: [...document.querySelectorAll("#prediction .bar")].map((b) => [b.dataset.class, Number(b.dataset.value)]),
        updates: Number(document.body.dataset.liveUpdates || 0)};
"""


def _floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """name -> (explore result, subject) for each tiny config above, written with `explore`."""
    from cnntrain.tasks.explore import explore
    from cnntrain.tasks.featuremaps import load_subject

    folder = tmp_path_factory.mktemp("live")
    made = {}
    for name, text in (("rgb", LIVE_RGB), ("grey", LIVE_GREY), ("1d", LIVE_1D), ("3d", LIVE_3D)):
        config = folder / f"{name}.yaml"
        config.write_text(textwrap.dedent(text), encoding="utf-8")
        result = explore(config=config, out=folder / name)
        subject, _ = load_subject(config=config)
        made[name] = (result, subject)
    return made


def _reference(subject, pixels: np.ndarray) -> dict:
    """What PyTorch computes on `pixels` (C, *spatial), under the page's keys."""
    x = subject.normalizer.to("cpu", pixels.ndim - 1)(torch.from_numpy(pixels.copy())[None]).float()
    found, handles = {"input": x[0]}, []
    for name, module in subject.model.named_modules():
        if "." in name and isinstance(module, torch.nn.modules.conv._ConvNd):
            def hook(module, inputs, output, name=name):
                found[f"in:{name}"], found[f"out:{name}"] = inputs[0][0], output[0]

            handles.append(module.register_forward_hook(hook))
    with torch.no_grad():
        y = x
        for i, module in enumerate(subject.model):
            y = module(y)
            found[f"out{i}"] = y[0]
    for handle in handles:
        handle.remove()
    found["probs"] = torch.softmax(y[0].double(), 0)
    return {k: v.numpy() for k, v in found.items()}


def _check_numbers(driver, subject, *, changed: np.ndarray | None = None) -> np.ndarray:
    """The page's pixels, every array it computed and its probabilities against PyTorch's on those pixels."""
    page = driver.execute_script(_READ)
    shape = tuple(int(s) for s in driver.execute_script("return LIVE.shape"))
    pixels = _floats(page["pixels"]).reshape(shape)
    if changed is not None:
        assert not np.array_equal(pixels, changed), "the interaction should change the input"
    expected = _reference(subject, pixels)
    for key, text in page["arrays"].items():
        want = expected[key].reshape(-1)
        np.testing.assert_allclose(_floats(text), want, rtol=1e-4, atol=1e-4 * max(1e-6, np.abs(want).max()),
                                   err_msg=key)
    np.testing.assert_allclose(page["probs"], expected["probs"], rtol=1e-4, atol=1e-7)
    shown = dict(page["bars"])
    assert len(shown) == min(10, len(expected["probs"]))
    for k, p in enumerate(expected["probs"]):
        if f"class {k}" in shown:
            assert shown[f"class {k}"] == pytest.approx(p, rel=1e-4, abs=1e-7)
    conv = driver.find_elements(By.ID, "conv-sum")
    if conv:  # the up-close sum redone from the new input, next to the value the model computed
        model = float(driver.find_element(By.ID, "model-value").get_attribute("data-value"))
        assert float(conv[0].get_attribute("data-value")) == pytest.approx(model, rel=1e-4, abs=1e-5)
        pick = driver.execute_script("return S.pick")
        channel = expected[f"out{pick['layer']}"][pick["c"]]
        want = channel.reshape((1,) * (3 - channel.ndim) + channel.shape)[pick["d"], pick["y"], pick["x"]]
        assert model == pytest.approx(float(want), rel=1e-4, abs=1e-5)
    return pixels


def _open(page, path, updates: int = 0):
    page.open(path)
    deadline = time.time() + 30
    while page.driver.execute_script("return document.body.dataset.ready") != "true":
        assert time.time() < deadline, page.console_errors()
        time.sleep(0.05)
    return page.driver


def _wait_updates(driver, count: int):
    deadline = time.time() + 20
    while int(driver.execute_script("return document.body.dataset.liveUpdates || 0")) < count:
        assert time.time() < deadline, "the page did not recompute"
        time.sleep(0.02)


def test_a_stroke_reruns_every_layer_on_an_rgb_model(page, pages, tmp_path):
    result, subject = pages["rgb"]
    driver = _open(page, result.html)
    before = _floats(driver.execute_script(_B64 + "return b64(LV.pixels);"))
    assert "grey, the same on all three channels" in driver.find_element(By.ID, "live-note").text
    pad = driver.find_element(By.ID, "live-draw")
    assert pad.get_attribute("aria-label").startswith("Drawing canvas, 24 by 20 pixels")
    w, h = pad.size["width"], pad.size["height"]
    ActionChains(driver).move_to_element_with_offset(pad, -w // 3, -h // 3).click_and_hold() \
        .move_by_offset(w // 3, h // 4).move_by_offset(w // 4, h // 3).release().perform()
    _wait_updates(driver, 1)
    before = before.reshape(3, 20, 24)
    pixels = _check_numbers(driver, subject, changed=before)
    stroke = (pixels != before).any(0)
    assert stroke.sum() > 10 and (pixels[:, stroke] == 255).all()  # white: grey, the same on every channel
    driver.save_screenshot(str(tmp_path / "stroke.png"))
    assert page.console_errors() == [] and page.network_urls() == []


def test_the_keyboard_draws_too(page, pages):
    result, subject = pages["grey"]
    driver = _open(page, result.html)
    driver.find_element(By.ID, "live-clear").click()
    _wait_updates(driver, 1)
    pad = driver.find_element(By.ID, "live-draw")
    pad.send_keys(Keys.ARROW_DOWN * 5 + Keys.ARROW_RIGHT * 7 + Keys.SPACE)
    _wait_updates(driver, 2)
    pixels = _check_numbers(driver, subject)
    assert pixels[0, 5, 7] == 255 and pixels.sum() < 255 * 16  # one brush mark on a black canvas
    assert page.console_errors() == []


def test_an_image_file_is_converted_as_predict_converts_it(page, pages, tmp_path):
    from cnntrain.data.files import Preprocessing, load_image

    result, subject = pages["grey"]
    driver = _open(page, result.html)
    photo = tmp_path / "photo.png"  # colour, another size: grey and resized, as predict does
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (29, 37, 3), dtype=np.uint8)).save(photo)
    driver.find_element(By.ID, "live-file").send_keys(str(photo))
    _wait_updates(driver, 1)
    pixels = _check_numbers(driver, subject)
    assert np.array_equal(pixels, load_image(photo, Preprocessing.of(subject.config.data)).astype(np.float32))
    note = driver.find_element(By.ID, "live-note").text
    assert "converted from colour to grey" in note and "resized to 16 × 16" in note
    assert page.console_errors() == [] and page.network_urls() == []


def test_bad_files_leave_the_input_and_say_why(page, pages, tmp_path):
    result, _ = pages["grey"]
    driver = _open(page, result.html)
    text, broken = tmp_path / "notes.txt", tmp_path / "broken.png"
    text.write_text("not a picture", encoding="utf-8")
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    for path, said in ((text, "is not an image file"), (broken, "cannot be decoded as an image")):
        driver.find_element(By.ID, "live-file").send_keys(str(path))
        deadline = time.time() + 10
        while said not in driver.find_element(By.ID, "live-note").text:
            assert time.time() < deadline, driver.find_element(By.ID, "live-note").text
            time.sleep(0.05)
    assert int(driver.execute_script("return document.body.dataset.liveUpdates || 0")) == 0
    assert page.console_errors() == []


def test_a_drawn_curve_on_a_1d_model(page, pages):
    result, subject = pages["1d"]
    driver = _open(page, result.html)
    pad = driver.find_element(By.ID, "live-draw")
    w, h = pad.size["width"], pad.size["height"]
    ActionChains(driver).move_to_element_with_offset(pad, -w // 2 + 3, h // 3).click_and_hold() \
        .move_by_offset(w // 2, -h // 2).move_by_offset(w // 3, h // 2).release().perform()
    _wait_updates(driver, 1)
    _check_numbers(driver, subject)
    assert page.console_errors() == []


def test_test_samples_of_a_3d_model(page, pages):
    from selenium.webdriver.support.select import Select

    result, subject = pages["3d"]
    driver = _open(page, result.html)
    choice = Select(driver.find_element(By.ID, "live-sample"))
    assert len(choice.options) == 1 + 8
    choice.select_by_index(3)
    _wait_updates(driver, 1)
    _check_numbers(driver, subject)
    assert page.console_errors() == [] and page.network_urls() == []


def test_a_layer_the_browser_cannot_run_is_named(load):
    config = load("""
        data: {dataset: shapes, channels: 1, image_size: 8, num_classes: 2}
        model:
          layers:
            - conv2d: {out_channels: 2, kernel_size: 3}
            - convtranspose2d: {name: up, out_channels: 2, kernel_size: 2}
            - flatten
            - linear: num_classes
        """)
    from cnntrain.model.builder import build_model

    program = page_program(build_model(config, num_classes=2).model, 2)
    assert program.layers is None and "layer up" in program.why


def test_a_model_past_the_limit_keeps_its_one_input_and_says_why(page, tmp_path, monkeypatch):
    from cnntrain.tasks import explore_live
    from cnntrain.tasks.explore import explore

    monkeypatch.setattr(explore_live, "LIVE_PARAMS", 100)  # as ResNet-18 at 224 is past the real one
    config = tmp_path / "grey.yaml"
    config.write_text(textwrap.dedent(LIVE_GREY), encoding="utf-8")
    result = explore(config=config, out=tmp_path / "page")
    assert "parameters" in result.not_live  # the command prints it
    driver = _open(page, result.html)
    said = driver.find_element(By.ID, "live-off").text
    assert "parameters" in said and "cnntrain explore --image FILE" in said
    assert not driver.find_elements(By.ID, "live-draw") and page.console_errors() == []


def test_a_transparent_image_on_an_rgb_model(page, pages, tmp_path):
    from cnntrain.data.files import Preprocessing, load_image

    result, subject = pages["rgb"]
    driver = _open(page, result.html)
    photo = tmp_path / "sticker.png"  # RGBA of another size: over black, each channel resized, as predict does
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (31, 17, 4), dtype=np.uint8), "RGBA").save(photo)
    driver.find_element(By.ID, "live-file").send_keys(str(photo))
    _wait_updates(driver, 1)
    pixels = _check_numbers(driver, subject)
    expected = load_image(photo, Preprocessing.of(subject.config.data)).astype(np.float32)
    # a canvas keeps see-through colours premultiplied by their alpha: a level off, at most, after that round trip
    assert np.abs(pixels - expected).max() <= 1
    assert "transparency composited over black" in driver.find_element(By.ID, "live-note").text
    assert "may differ by one level" in driver.find_element(By.ID, "live-note").text
