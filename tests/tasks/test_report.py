"""The run at a glance: the pictures and report.html a training run writes, checked by what they show and in
a real browser, and `cnntrain report` rebuilding the page of a run made before there were pictures."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cnntrain.viz.mosaic import MAX_TILES, heat_tile, mosaic_layout, sample_tile

EPOCHS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_yaml, one_thread):
    """A TINY_TRAIN run of two epochs that logs feature maps every epoch, trained through the CLI."""
    from typer.testing import CliRunner

    from cnntrain.cli.app import app

    folder = tmp_path_factory.mktemp("report")
    (folder / "tiny.yaml").write_text(tiny_yaml, encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "-c", str(folder / "tiny.yaml"), "--out", str(folder / "run"),
                                      "--quiet", "--set", f"train.epochs={EPOCHS}", "--set",
                                      "train.featuremap_every=1"])
    assert result.exit_code == 0, result.output
    return folder / "run"


@pytest.fixture(scope="module")
def data(run):
    """The run's splits, generated again from its config."""
    from cnntrain.config import config_from_dict
    from cnntrain.data import load_data

    config = config_from_dict(json.loads(json.dumps(_yaml(run / "config.yaml"))))
    return load_data(config.data, config.train.seed)


@pytest.fixture(scope="module")
def evaluated(run, tmp_path_factory):
    """`cnntrain evaluate --json --predictions` on the best checkpoint: (its JSON, its CSV rows, its out folder)."""
    from typer.testing import CliRunner

    from cnntrain.cli.app import app

    out = tmp_path_factory.mktemp("eval")
    result = CliRunner().invoke(app, ["evaluate", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--json",
                                      "--out", str(out / "e"), "--predictions", str(out / "p.csv")])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), list(csv.DictReader((out / "p.csv").open())), out / "e"


def _yaml(path):
    import yaml

    return yaml.safe_load(path.read_text())


def _tiles(picture_path, samples, lines: int) -> list[np.ndarray]:
    """The tiles of a mosaic PNG, cut out where mosaic_layout put them."""
    picture = np.asarray(Image.open(picture_path).convert("RGB"))
    tile_h, tile_w = sample_tile(samples[0]).shape[:2]
    origins, size = mosaic_layout(len(samples), tile_h, tile_w, lines)
    assert picture.shape[:2] == (size[1], size[0])
    return [picture[y:y + tile_h, x:x + tile_w] for x, y in origins]


def _expected_mistakes(rows: list[dict]) -> list[tuple]:
    """evaluate's wrong predictions, most confident first: (sample, true, predicted)."""
    wrong = [r for r in rows if r["true"] != r["predicted"]]
    wrong.sort(key=lambda r: (-float(r["confidence"]), int(r["path"])))
    return [(int(r["path"]), r["true"], r["predicted"]) for r in wrong]


def test_every_file_is_there(run):
    for name in ("curves.png", "train_batch.png", "mistakes.png", "mistakes_gradcam.png", "top_losses.png",
                 "calibration.png", "report.html"):
        assert (run / name).stat().st_size > 0, name
    frames = sorted(p.name for p in (run / "featuremaps").glob("*.png"))
    assert frames == [f"epoch_{e:03d}.png" for e in range(1, EPOCHS + 1)]
    assert not list(run.glob(".*.tmp"))  # every write was atomic and finished


def test_train_batch_shows_the_first_batch_with_its_labels(run, data):
    """No augmentation in TINY_TRAIN: the de-normalized batch is the epoch's first images, pixel for pixel."""
    from cnntrain.run.distributed import World
    from cnntrain.run.engine import epoch_shard

    config = _yaml(run / "config.yaml")
    index = epoch_shard(len(data.train.y), config["train"]["seed"], 1, World())[: config["train"]["batch_size"]]
    samples = data.train.x[index][:MAX_TILES].numpy()
    for tile, sample in zip(_tiles(run / "train_batch.png", samples, lines=1), samples):
        assert np.abs(tile.astype(int) - sample_tile(sample).astype(int)).max() <= 1  # float round trip


def test_mistakes_png_shows_evaluates_wrong_images_in_order(run, data, evaluated):
    _, rows, _ = evaluated
    expected = _expected_mistakes(rows)[:MAX_TILES]
    assert expected, "the tiny model should get some test images wrong"
    samples = data.test.x[[s for s, _, _ in expected]].numpy()
    for tile, sample in zip(_tiles(run / "mistakes.png", samples, lines=2), samples):
        assert np.array_equal(tile, sample_tile(sample))


def test_gradcam_of_each_mistake_is_where_the_best_checkpoint_looked(run, data, evaluated):
    """Each tile of mistakes_gradcam.png: Grad-CAM for the predicted class, recomputed from best.pt."""
    from cnntrain.model.attribution import attribution_map, default_target_layer
    from cnntrain.run.load import load_trained

    trained = load_trained(run / "checkpoints" / "best.pt", device="cpu")
    layer = default_target_layer(trained.built.layers)
    module = dict(trained.model.named_children())[layer.name]
    normalize = trained.normalizer.to("cpu", 2)
    expected = _expected_mistakes(evaluated[1])[:MAX_TILES]
    samples = data.test.x[[s for s, _, _ in expected]]
    tiles = _tiles(run / "mistakes_gradcam.png", samples.numpy(), lines=2)
    for tile, sample, (_, _, predicted) in zip(tiles, samples, expected):
        heat = attribution_map(trained.model, normalize(sample[None]), target=trained.classes.index(predicted),
                               method="gradcam", layer=module)
        want = heat_tile(sample.numpy(), heat.numpy())
        assert np.abs(tile.astype(int) - want.astype(int)).max() <= 1
        assert not np.array_equal(want, sample_tile(sample.numpy()))  # a map was laid over it


def test_evaluate_writes_the_same_gallery(run, evaluated):
    _, _, out = evaluated
    assert np.array_equal(np.asarray(Image.open(out / "mistakes.png")), np.asarray(Image.open(run / "mistakes.png")))
    # the surest mistakes beside their Grad-CAM: the same from evaluate as from the end of training
    ours, training = (np.asarray(Image.open(d / "top_losses.png")).astype(int) for d in (out, run))
    assert ours.shape == training.shape and np.abs(ours - training).max() <= 1


def _check_page(page, path) -> None:
    page.open(path)
    assert page.broken_images() == []
    assert page.console_errors() == []
    assert page.network_urls() == []


def _value(page, element_id: str) -> float:
    return float(page.driver.find_element("id", element_id).get_attribute("data-value"))


def _table(page, element_id: str) -> list[list[str]]:
    return page.driver.execute_script(
        "return [...document.getElementById(arguments[0]).rows].map(r => [...r.cells].map(c => c.textContent))",
        element_id)


def test_report_page_in_a_browser(run, page, evaluated):
    summary = json.loads((run / "summary.json").read_text())
    d, rows, _ = evaluated
    _check_page(page, run / "report.html")
    # curves, batch, mistakes, their Grad-CAM, top losses, calibration, and a frame per epoch
    assert page.driver.execute_script("return document.images.length") == 6 + EPOCHS
    assert _value(page, "test-acc") == summary["test"]["acc"]
    assert _value(page, "params") == summary["params"]
    assert page.driver.find_element("id", "test-acc").text == f"{100 * summary['test']['acc']:.2f}%"
    per_class = {r[0]: r[1:4] for r in _table(page, "per-class")[1:]}
    for name, m in d["per_class"].items():
        assert per_class[name] == [f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}"]
    confusion = [[int(c) for c in r[1:]] for r in _table(page, "confusion")[1:]]
    assert confusion == d["confusion_matrix"]
    listed = [(int(r[1]), r[2], r[3]) for r in _table(page, "mistakes-table")[1:]]
    assert listed == _expected_mistakes(rows)[:len(listed)] and listed
    frames = page.driver.execute_script(
        "return [...document.querySelectorAll('#filmstrip figcaption')].map(f => f.textContent)")
    assert frames == [f"after epoch {e}" for e in range(1, EPOCHS + 1)]


def _click(page, row: int, column: int, *, key: bool = False) -> list[str]:
    """Click (or focus and press Enter on) a confusion-matrix cell: the names of the images it shows."""
    from selenium.webdriver.common.keys import Keys

    cell = page.driver.find_elements("css selector", "#confusion tr")[row + 1].find_elements("tag name", "td")[column]
    cell.send_keys(Keys.ENTER) if key else cell.click()
    images = page.driver.find_elements("css selector", "#cell-images img")
    return [image.get_attribute("data-name") for image in images]


def test_a_confusion_matrix_cell_shows_its_images(run, page, evaluated):
    d, rows, _ = evaluated
    _check_page(page, run / "report.html")
    matrix, classes = np.array(d["confusion_matrix"]), d["classes"]
    wrong = np.where(np.eye(len(classes), dtype=bool), 0, matrix)
    cells = [np.unravel_index(wrong.argmax(), wrong.shape), np.unravel_index(np.diag(matrix).argmax(), wrong.shape)]
    for n, (i, j) in enumerate(cells):
        behind = [r for r in rows if (r["true"], r["predicted"]) == (classes[i], classes[j])]
        behind.sort(key=lambda r: (-float(r["confidence"]), int(r["path"])))
        assert _click(page, i, j, key=n == 1) == [f"test[{r['path']}]" for r in behind]  # surest first
        assert len(behind) == matrix[i, j] > 0
    assert page.broken_images() == [] and page.console_errors() == []
    auc = {r[0]: r[4] for r in _table(page, "per-class")[1:]}
    assert auc["macro average"] == f"{d['roc_auc']['macro']:.3f}"
    assert _value(page, "ece") == pytest.approx(d["ece"], abs=1e-12)


def test_a_full_cell_shows_its_first_images_and_how_many_more(tmp_path, page, monkeypatch):
    """30 images in one cell, at most 24 shown; class names and file names that look like HTML stay text."""
    from cnntrain.run import confusion_cells
    from cnntrain.run.report import TestOutcome, test_section, write_report
    from cnntrain.run.rundir import RunDir

    monkeypatch.setattr(confusion_cells, "PER_CELL", 24)
    classes = ["<b>cat</b>", "dog<script>alert(1)</script>"]
    labels = np.array([0] * 30 + [1] * 2)
    probs = np.array([[0.9, 0.1]] * 30 + [[0.7, 0.3], [0.2, 0.8]])
    samples = np.random.default_rng(0).integers(0, 255, (32, 3, 8, 8), dtype=np.uint8)
    paths = [f"<img src=x onerror=alert({i})>.png" for i in range(32)]
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    test = test_section(run, TestOutcome("test", classes, labels, probs, samples, 1, paths=paths))
    _check_page(page, write_report(run, test=test, finished=True))
    assert len(_click(page, 0, 0)) == 24
    assert page.driver.find_element("css selector", "#cell-images .more").text.startswith("and 6 more")
    assert _click(page, 1, 0) == [paths[30]]
    assert classes[1] in page.driver.find_element("css selector", "#cell-images h3").text
    assert _table(page, "mistakes-table")[1][-1] == paths[30]  # the mistakes table names the file, as text
    count = "return document.querySelectorAll(arguments[0]).length"
    assert page.driver.execute_script(count, "script") == 2  # the page's data and its script
    assert page.driver.execute_script(count, "b, img[src='x']") == 0
    assert page.console_errors() == []


def test_report_rebuilds_an_old_run(run, tmp_path, cli, page):
    """A run from before pictures: metrics, checkpoints and summary only. The page is rebuilt from those."""
    old = tmp_path / "old"
    shutil.copytree(run, old, ignore=shutil.ignore_patterns("*.png", "*.html", "featuremaps"))
    code, out, err = cli("report", old)
    assert code == 0, err
    assert "train_batch" in out and "report.html" in out
    for name in ("curves.png", "mistakes.png", "mistakes_gradcam.png", "top_losses.png", "calibration.png",
                 "report.html"):
        assert (old / name).is_file(), name
    assert np.array_equal(np.asarray(Image.open(old / "mistakes.png")), np.asarray(Image.open(run / "mistakes.png")))
    rebuilt, trained = (np.asarray(Image.open(d / "mistakes_gradcam.png")).astype(int) for d in (old, run))
    assert np.abs(rebuilt - trained).max() <= 1
    _check_page(page, old / "report.html")
    text = page.driver.find_element("tag name", "body").text
    assert "no train_batch.png" in text and "No feature maps were saved" in text
    summary = json.loads((old / "summary.json").read_text())
    assert _value(page, "test-acc") == summary["test"]["acc"]


def test_report_of_a_folder_that_is_no_run(tmp_path, cli):
    code, out, err = cli("report", tmp_path)
    assert code == 2 and "not a run directory" in err and "Traceback" not in err
