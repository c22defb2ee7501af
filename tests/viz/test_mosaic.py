"""Tests for cnntrain.viz.mosaic and the run pictures: each tile shows its own sample, signals and volumes
get their own picture, captions fit."""

from __future__ import annotations

import numpy as np
import pytest

from cnntrain.viz.mosaic import (
    MAX_TILES,
    Caption,
    heat_tile,
    mosaic_image,
    mosaic_layout,
    sample_tile,
    titled_column_image,
)


def _distinct(n: int, shape: tuple) -> np.ndarray:
    """n samples, each a different constant grey plus a bright corner: (n, *shape) uint8."""
    x = np.zeros((n, *shape), np.uint8) + (np.arange(n, dtype=np.uint8) * 7)[(...,) + (None,) * len(shape)]
    x[(slice(None), slice(None)) + (0,) * (len(shape) - 1)] = 255
    return x


@pytest.mark.parametrize("shape", [(1, 12, 16), (3, 10, 10)])
def test_every_tile_is_its_sample(shape):
    samples = _distinct(11, shape)
    picture = mosaic_image(samples, [Caption((f"c{i}",)) for i in range(11)], columns=4)
    tile_h, tile_w = sample_tile(samples[0]).shape[:2]
    origins, (width, height) = mosaic_layout(11, tile_h, tile_w, 1, columns=4)
    assert picture.shape == (height, width, 3)
    for (x, y), sample in zip(origins, samples):
        assert np.array_equal(picture[y:y + tile_h, x:x + tile_w], sample_tile(sample))


def test_at_most_32_tiles():
    samples = _distinct(40, (1, 8, 8))
    picture = mosaic_image(samples, [Caption(("x",))] * 40)
    _, (width, height) = mosaic_layout(MAX_TILES, *sample_tile(samples[0]).shape[:2], 1)
    assert picture.shape[:2] == (height, width)


def test_a_volume_shows_its_middle_slice():
    volume = np.zeros((1, 5, 8, 8), np.uint8)
    volume[0, 2] = 200  # only the middle slice is bright
    assert sample_tile(volume).min() == 200


def test_a_signal_is_drawn_as_lines():
    signal = np.stack([np.linspace(0, 255, 50), np.full(50, 128)]).astype(np.uint8)  # (2, 50)
    tile = sample_tile(signal)
    colors = {tuple(c) for c in tile.reshape(-1, 3)}
    assert (31, 119, 180) in colors and (255, 127, 14) in colors  # one colour per channel


def test_a_heat_map_colours_only_where_it_is_hot():
    sample = np.full((1, 8, 8), 100, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    assert np.array_equal(heat_tile(sample, heat), sample_tile(sample))  # no map: the image as it is
    heat[2, 5] = 3.0
    tile, plain = heat_tile(sample, heat), sample_tile(sample)
    zoom = plain.shape[0] // 8
    changed = (tile != plain).any(-1)
    assert changed.sum() == zoom * zoom and changed[2 * zoom, 5 * zoom]


def test_long_captions_are_shortened_and_empty_input_refused():
    picture = mosaic_image(_distinct(1, (1, 8, 8)), [Caption(("a" * 200,))])
    assert picture.shape[1] < 200
    with pytest.raises(ValueError):
        mosaic_image(np.zeros((0, 1, 8, 8), np.uint8), [])


def test_titled_column_stacks_every_picture():
    a, b = np.full((10, 30, 3), 50, np.uint8), np.full((20, 12, 3), 90, np.uint8)
    picture = titled_column_image({"conv1": a, "conv2": b})
    assert picture.shape[1] >= 30 and picture.shape[0] > 30
    assert (picture == 50).all(-1).sum() == 300 and (picture == 90).all(-1).sum() == 240


def test_display_pixels_undo_the_normalization():
    import torch

    from cnntrain.run.normalize import Normalizer
    from cnntrain.run.outputs import display_pixels

    x = torch.randint(0, 256, (4, 2, 6, 6), dtype=torch.uint8)
    normalizer = Normalizer([0.3, 0.5], [0.2, 0.0])  # a constant channel: std 0
    shown = display_pixels(normalizer.to("cpu", 2)(x), normalizer)
    assert np.abs(shown.astype(int) - x.numpy().astype(int)).max() <= 1


def test_curves_have_a_gap_for_a_missing_value(tmp_path):
    from cnntrain.viz.charts import save_curves

    records = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "val_loss": None, "val_acc": float("nan"),
                "lr": 0.1 * 0.01 ** (e - 1)} for e in (1, 2, 3)]
    path = save_curves(records, tmp_path / "curves.png", best_epoch=2, title="t")
    assert path.stat().st_size > 0
