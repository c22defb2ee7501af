"""Tests for cnntrain.tasks.compare: one tiny comparison of the shipped mlp and cnn, checked file by file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnntrain.errors import CnntrainError
from cnntrain.tasks.compare import default_configs, find_config, shift_amounts

TINY = ["train.epochs=1", "data.train_size=120", "data.val_size=60", "data.test_size=60",
        "data.image_size=24", "train.featuremap_every=0", "train.device=cpu"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """`cnntrain compare` with the default configs on a tiny budget: (output folder, terminal text)."""
    from typer.testing import CliRunner

    from cnntrain.cli.app import app

    out = tmp_path_factory.mktemp("compare") / "cmp"
    args = ["compare", "--out", str(out), "--quiet"] + [a for s in TINY for a in ("--set", s)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output


def test_compare_json(compared):
    out, _ = compared
    document = json.loads((out / "compare.json").read_text())
    models = {m["name"]: m for m in document["models"]}
    assert list(models) == ["mlp", "cnn"]
    for m in models.values():
        assert Path(m["config"]).name == f"{m['name']}.yaml"
        assert isinstance(m["params"], int) and isinstance(m["macs"], int)
        for key in ("train_seconds", "images_per_sec", "test_acc"):
            assert isinstance(m[key], float) and m[key] >= 0
        assert list(m["shift_acc"]) == ["0", "1", "2", "3", "4"]  # scaled to 24 pixels
        assert all(0 <= v <= 1 for v in m["shift_acc"].values())
        assert m["shift_acc"]["0"] == m["test_acc"]
    assert models["cnn"]["params"] < models["mlp"]["params"]  # the lesson


def test_compare_files_and_table(compared):
    out, text = compared
    assert (out / "compare.png").stat().st_size > 0
    for name in ("mlp", "cnn"):
        assert (out / name / "checkpoints" / "best.pt").is_file()
        assert list((out / name).glob("events.out.tfevents.*"))  # tensorboard --logdir DIR overlays them
    assert "mlp" in text and "cnn" in text and "shift" in text


def test_reusing_an_output_folder_with_other_settings_is_refused(compared):
    """The same settings go on with the runs there (tests/test_user_mistakes.py); others would mix results."""
    from cnntrain.tasks.compare import compare

    out, _ = compared
    with pytest.raises(CnntrainError, match="holds a comparison with other settings"):
        compare(overrides=[*TINY, "train.seed=1"], out=out)


def test_bad_config_fails_before_training(tmp_path):
    from cnntrain.tasks.compare import compare

    with pytest.raises(CnntrainError, match="not found"):
        compare([tmp_path / "missing.yaml"], out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_default_configs_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert [p.name for p in default_configs()] == ["mlp.yaml", "cnn.yaml"]
    assert all(p.is_file() for p in default_configs())
    assert find_config("cnn.yaml").is_file()


def test_shift_amounts_scale_with_the_image():
    assert shift_amounts(64) == [0, 2, 4, 8, 12]
    assert shift_amounts(32) == [0, 1, 2, 4, 6]


def test_test_split_is_the_one_training_used():
    """compare skips regenerating the training images; the test images must not change by it."""
    import torch

    from cnntrain.config.loader import load_config
    from cnntrain.data import load_data
    from cnntrain.tasks.compare import _test_split

    config = load_config(find_config("cnn.yaml"), TINY)
    x, y = _test_split(config, {})
    full = load_data(config.data, config.train.seed).test
    assert torch.equal(x, full.x) and torch.equal(y, full.y)


def test_default_protocol_trains_on_centred_objects(compared):
    out, _ = compared
    document = json.loads((out / "compare.json").read_text())
    assert [m["placement"] for m in document["models"]] == ["centered", "centered"]
    assert "centred objects" in document["protocol"]
    for name in ("mlp", "cnn"):
        assert "placement: centered" in (out / name / "config.yaml").read_text()


@pytest.mark.parametrize("extra, file_value, expected", [
    ([], None, "centered"),
    (["data.placement=random"], None, "random"),  # today's protocol
    ([], "random", "random"),  # a config that names its placement keeps it
])
def test_placement_protocol_gives_way_to_the_user(tmp_path, extra, file_value, expected):
    from cnntrain.tasks.compare import _load

    text = find_config("cnn.yaml").read_text()
    if file_value:
        text = text.replace("  dataset: shapes\n", f"  dataset: shapes\n  placement: {file_value}\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert _load(path, extra).data.placement == expected


def test_compare_page_in_a_browser(compared, page):
    """compare.html shows compare.json's numbers, and the shifted example as each model predicted it."""
    from cnntrain.run.load import load_trained
    from cnntrain.tasks.compare import _test_split
    from cnntrain.tasks.compare_outputs import shifted

    out, _ = compared
    document = json.loads((out / "compare.json").read_text())
    page.open(out / "compare.html")
    assert page.broken_images() == [] and page.console_errors() == [] and page.network_urls() == []
    driver = page.driver
    for key in ("params", "macs", "test_acc"):
        cells = driver.find_elements("css selector", f'#numbers-table tr[data-key="{key}"] td')
        assert [float(c.get_attribute("data-value")) for c in cells] == [m[key] for m in document["models"]]
    for shift in document["shifts"]:
        cells = driver.find_elements("css selector", f'#shift-table tr[data-shift="{shift}"] td')
        assert [float(c.get_attribute("data-value")) for c in cells] == [m["shift_acc"][str(shift)]
                                                                          for m in document["models"]]
    assert "centred objects" in driver.find_element("id", "protocol").text
    example = document["example"]
    for m in document["models"]:
        trained = load_trained(Path(m["run_dir"]) / "checkpoints" / "best.pt")
        x, y = _test_split(trained.config, {})
        shown = [c.get_attribute("data-class") for c in
                 driver.find_elements("css selector", f'#example-table tr[data-model="{m["name"]}"] td')]
        predicted = [trained.classes[int(trained.logits(shifted(x, s, trained.config.train.seed)[
            example["index"]:example["index"] + 1]).argmax())] for s in document["shifts"]]
        assert shown == predicted
    assert len(list((out / "shifted").glob("shift_*.png"))) == len(document["shifts"])


def test_compare_slider_moves_the_image_and_every_model_answers_live(compared, page, tmp_path):
    """The slider (a range input: arrow keys, or dragged) moves the example pixel by pixel; each model's
    probabilities in the page equal PyTorch's on the same moved image, filled with its background."""
    import torch
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    from cnntrain.data.augment import border_median, translate
    from cnntrain.run.load import load_trained
    from cnntrain.tasks.compare import _test_split

    out, _ = compared
    document = json.loads((out / "compare.json").read_text())
    trained = {m["name"]: load_trained(Path(m["run_dir"]) / "checkpoints" / "best.pt") for m in document["models"]}
    first = next(iter(trained.values()))
    x, _ = _test_split(first.config, {})
    image = x[document["example"]["index"]][None]  # (1, C, H, W) uint8
    page.open(out / "compare.html")
    driver = page.driver
    slider = driver.find_element("id", "shift-slider")
    assert slider.get_attribute("type") == "range"

    def check(shift: int):
        assert driver.find_element("id", "move").get_attribute("data-shift") == str(shift)
        offsets = torch.tensor([[0] * (image.dim() - 3) + [shift]])
        moved = translate(image, offsets, fill=border_median(image))
        for name, model in trained.items():
            cell = driver.find_element("css selector", f'#live-table tr[data-model="{name}"] td')
            probs = json.loads(cell.get_attribute("data-probs"))
            want = model.logits(moved).double().softmax(1)[0].numpy()
            assert probs == pytest.approx(want.tolist(), rel=1e-4, abs=1e-7)
            assert cell.get_attribute("data-class") == model.classes[int(want.argmax())]

    check(0)
    slider.send_keys(Keys.ARROW_RIGHT * 3)
    check(3)
    slider.send_keys(Keys.ARROW_LEFT * 5)
    check(-2)
    ActionChains(driver).drag_and_drop_by_offset(slider, slider.size["width"] // 2, 0).perform()
    check(int(slider.get_attribute("max")))
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element("id", "move"))
    driver.save_screenshot(str(tmp_path / "slider.png"))
    assert page.console_errors() == [] and page.network_urls() == []
