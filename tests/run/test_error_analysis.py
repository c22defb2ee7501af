"""Error analysis on cases small enough to count by hand: ROC AUC as the share of (positive, negative) pairs
ranked right, ECE on constructed bins, the bins against scikit-learn's calibration_curve, the cells of the
clickable confusion matrix, the thumbnails, and the top-losses picture with and without Grad-CAM."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from cnntrain.run.confusion_cells import cell_members
from cnntrain.run.error_analysis import calibration, roc_auc, sample_names, top_losses
from cnntrain.run.outputs import Mistake, find_mistakes, save_top_losses_picture

# Three classes, six samples; each row sums to 1.
LABELS = np.array([0, 0, 1, 1, 2, 2])
PROBS = np.array([[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6],
                  [0.3, 0.3, 0.4]])


def pairs_ranked_right(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by its definition: the share of (positive, negative) pairs whose positive scores higher,
    a tie counting half."""
    wins = [1.0 if p > n else 0.5 if p == n else 0.0 for p in score[positive] for n in score[~positive]]
    return sum(wins) / len(wins)


def test_roc_auc_is_the_share_of_pairs_ranked_right():
    auc = roc_auc(LABELS, PROBS, ["a", "b", "c"])
    # class a: positives 0.7, 0.3 against negatives 0.5, 0.1, 0.2, 0.3: 4 + (2 + 0.5) of 8 pairs
    assert auc["per_class"]["a"] == pytest.approx(6.5 / 8)
    for k, name in enumerate("abc"):
        assert auc["per_class"][name] == pytest.approx(pairs_ranked_right(LABELS == k, PROBS[:, k]))
    assert auc["macro"] == pytest.approx(np.mean([pairs_ranked_right(LABELS == k, PROBS[:, k]) for k in range(3)]))
    assert auc["undefined"] == {}


def test_a_class_without_images_has_no_auc_and_says_why():
    labels = np.array([0, 0, 1, 1])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1]])
    auc = roc_auc(labels, probs, ["a", "b", "c"])
    assert auc["per_class"]["c"] is None and "no image of this class" in auc["undefined"]["c"]
    assert auc["macro"] == pytest.approx((auc["per_class"]["a"] + auc["per_class"]["b"]) / 2)
    only = roc_auc(np.zeros(3, int), probs[:3, :2], ["a", "b"])  # one class only: nothing is defined
    assert only["macro"] is None and set(only["undefined"]) == {"a", "b"}
    diverged = roc_auc(labels, np.full((4, 3), np.nan), ["a", "b", "c"])
    assert diverged["macro"] is None and "NaN" in diverged["undefined"]["a"]


def test_ece_on_constructed_bins():
    # four images at confidence 0.9, three of them right; two at 0.6, both right
    probs = np.array([[0.9, 0.1]] * 4 + [[0.6, 0.4]] * 2)
    labels = np.array([0, 0, 0, 1, 0, 0])
    bins = calibration(labels, probs)
    assert bins.ece == pytest.approx(4 / 6 * abs(0.75 - 0.9) + 2 / 6 * abs(1.0 - 0.6))
    assert bins.counts.sum() == 6 and sorted(bins.counts[bins.counts > 0]) == [2, 4]
    assert len(bins.edges) == 16  # 15 equal-width bins
    right = calibration(np.array([0, 0, 1, 0]), np.array([[0.75, 0.25]] * 4))  # sure 75%, right 75%
    assert right.ece == pytest.approx(0.0)


def test_bins_agree_with_scikit_learns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(400, 5)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.where(rng.random(400) < 0.7, probs.argmax(1), rng.integers(0, 5, 400))
    bins = calibration(labels, probs)
    accuracy, confidence = calibration_curve(probs.argmax(1) == labels, probs.max(1), n_bins=15)
    filled = bins.counts > 0
    np.testing.assert_allclose(bins.accuracy[filled], accuracy)
    np.testing.assert_allclose(bins.confidence[filled], confidence)
    assert np.isnan(bins.accuracy[~filled]).all()


def test_top_losses_name_each_sample():
    mistakes = find_mistakes(LABELS, PROBS, ["a", "b", "c"])
    rows = top_losses(mistakes, sample_names("test", 6, None))
    assert rows[0] == {"path": "test[2]", "true": "b", "predicted": "a", "probability": 0.5}
    assert [r["path"] for r in rows] == ["test[2]", "test[1]"]  # surest first
    assert sample_names("val", 2, ["x/1.png", "y/2.png"]) == ["x/1.png", "y/2.png"]


def test_cells_hold_the_surest_first_within_the_budget():
    labels = np.array([0] * 30 + [0] * 3 + [1] * 2)
    predicted = np.array([0] * 30 + [1] * 3 + [1] * 2)
    confidence = np.linspace(0.2, 0.9, 35)
    cells, cap = cell_members(labels, predicted, confidence, 2)
    assert cap == 24 and len(cells[0][0]) == 24 and cells[1][0] == []
    assert cells[0][0] == list(range(29, 5, -1))  # the surest 24 of the 30, surest first
    cells, cap = cell_members(labels, predicted, confidence, 2, budget=10)
    assert cap == 5 and [len(c) for row in cells for c in row] == [5, 3, 0, 2]  # 5 + 3 + 2 = 10
    tied, _ = cell_members(np.zeros(3, int), np.zeros(3, int), np.full(3, 0.5), 1)
    assert tied[0][0] == [0, 1, 2]


def _decoded(url: str) -> Image.Image:
    kind, data = url.split(";base64,")
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_thumbnails_keep_small_images_exact_and_shrink_big_ones():
    from cnntrain.viz.thumbnails import THUMBNAIL_PX, thumbnail_url

    small = np.arange(16 * 16, dtype=np.uint8).reshape(1, 16, 16)
    url = thumbnail_url(small)
    assert url.startswith("data:image/png;base64,")
    assert np.array_equal(np.asarray(_decoded(url).convert("L")), small[0])
    big = _decoded(thumbnail_url(np.zeros((3, 200, 100), np.uint8)))
    assert big.format == "JPEG" and big.size == (THUMBNAIL_PX // 2, THUMBNAIL_PX)
    assert _decoded(thumbnail_url(np.zeros((2, 40), np.uint8))).format == "PNG"  # a signal's line plot


def _first_tile_is(picture: Image.Image, tile: np.ndarray) -> bool:
    """Whether the picture's first tile (under its title, whose height depends on the wrapping) is `tile`."""
    pixels, (h, w) = np.asarray(picture.convert("RGB")), tile.shape[:2]
    return any(np.array_equal(pixels[y:y + h, 12:12 + w], tile) for y in range(0, 120))


@pytest.mark.parametrize("shape", [(1, 12, 12), (2, 40), (1, 6, 6, 6)], ids=["2d", "1d", "3d"])
def test_top_losses_picture_with_and_without_grad_cam(tmp_path, shape):
    from cnntrain.viz.mosaic import pair_tile, sample_tile

    rng = np.random.default_rng(1)
    samples = rng.integers(0, 255, (5, *shape), dtype=np.uint8)
    mistakes = [Mistake(i, "flat", "wave", 0.9 - i / 10) for i in range(5)]
    heat = rng.random((5, *shape[1:]))
    with_map = Image.open(save_top_losses_picture(tmp_path / "a.png", samples, mistakes, heat=heat, layer="c1"))
    without = Image.open(save_top_losses_picture(tmp_path / "b.png", samples, mistakes, why="no map here"))
    assert with_map.format == without.format == "PNG" and min(without.size) >= 100
    assert _first_tile_is(with_map, pair_tile(samples[0], heat[0]))  # the image, and its map beside it
    assert _first_tile_is(without, sample_tile(samples[0]))
    assert save_top_losses_picture(tmp_path / "a.png", samples, [], why="") is None
    assert not (tmp_path / "a.png").exists()  # no mistakes: no stale picture
