"""Tests for cnntrain.viz.pictures: shapes, scaling, colormaps and the PNG files it writes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnntrain.viz import charts, pictures

RNG = np.random.default_rng(0)


def _cmap_rgb(name: str, t: float) -> np.ndarray:
    import matplotlib

    return np.round(np.array(matplotlib.colormaps[name](t)[:3]) * 255).astype(np.uint8)


def _luminance(img: np.ndarray) -> np.ndarray:
    return img[..., :3] @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize(
    "shape",
    [(8, 100), (8, 5000), (16, 28, 28), (3, 1, 1), (100, 7, 7), (4, 20, 8, 8), (2, 3, 5, 5)],
)
@pytest.mark.parametrize("scale", ["channel", "layer"])
def test_feature_grid_image_shape_and_dtype(shape, scale):
    img = pictures.feature_grid_image(RNG.standard_normal(shape).astype(np.float32), scale=scale)
    assert img.dtype == np.uint8
    assert img.ndim == 3 and img.shape[2] == 3
    assert img.shape[0] >= 8 and img.shape[1] >= 48


def test_feature_grid_zooms_tiny_maps():
    img = pictures.feature_grid_image(np.ones((1, 3, 3), np.float32))
    assert img.shape[0] >= 48


def test_feature_grid_rejects_bad_input():
    with pytest.raises(ValueError):
        pictures.feature_grid_image(np.zeros((5,), np.float32))
    with pytest.raises(ValueError):
        pictures.feature_grid_image(np.zeros((2, 4, 4), np.float32), scale="global")


def test_channel_scaling_brightens_a_weak_channel_that_layer_scaling_keeps_dim():
    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    maps = np.stack([100 * ramp, ramp])  # channel 1 has 1/100 of channel 0's range
    bright = {
        scale: int((_luminance(pictures.feature_grid_image(maps, scale=scale)) > 150).sum())
        for scale in ("channel", "layer")
    }
    # Per channel both tiles are the same full ramp; per layer only channel 0 reaches the top.
    assert bright["channel"] == 2 * bright["layer"] > 0


def test_signed_maps_use_a_diverging_colormap_centred_on_zero():
    maps = np.array([[[-1, -1, -1], [0, 0, 0], [1, 1, 1]]], dtype=np.float32)
    img = pictures.feature_grid_image(maps).astype(int)
    h, w, _ = img.shape
    negative, zero, positive = img[0, 0], img[h // 2, w // 2], img[-1, -1]
    assert (zero == _cmap_rgb(pictures.DIVERGING_CMAP, 0.5)).all()
    assert negative[2] > negative[0]  # blue side
    assert positive[0] > positive[2]  # red side


def test_signed_zero_stays_central_even_when_the_range_is_lopsided():
    maps = np.array([[[-0.1, 0.0, 10.0]]], dtype=np.float32)
    img = pictures.feature_grid_image(maps, scale="layer")
    zero = img[img.shape[0] // 2, img.shape[1] // 2]
    assert (zero == _cmap_rgb(pictures.DIVERGING_CMAP, 0.5)).all()


def test_non_negative_maps_use_the_sequential_colormap():
    maps = np.array([[[0.0, 1.0], [2.0, 3.0]]], dtype=np.float32)
    img = pictures.feature_grid_image(maps)
    assert (img[0, 0] == _cmap_rgb(pictures.SEQUENTIAL_CMAP, 0.0)).all()
    assert (img[-1, -1] == _cmap_rgb(pictures.SEQUENTIAL_CMAP, 1.0)).all()


@pytest.mark.parametrize("scale", ["channel", "layer"])
@pytest.mark.parametrize("fill", [0.0, 5.0, -2.0])
def test_constant_channels_do_not_divide_by_zero(scale, fill):
    maps = np.full((3, 6, 6), fill, dtype=np.float32)
    maps[1] = RNG.standard_normal((6, 6))
    with np.errstate(divide="raise", invalid="raise"):
        img = pictures.feature_grid_image(maps, scale=scale)
        alone = pictures.feature_grid_image(maps[:1], scale=scale)
    assert img.dtype == np.uint8
    assert len(np.unique(alone.reshape(-1, 3), axis=0)) == 1  # one flat colour


def test_non_finite_values_are_tolerated():
    maps = RNG.standard_normal((2, 4, 4)).astype(np.float32)
    maps[0, 0, 0], maps[1, 1, 1] = np.nan, np.inf
    with np.errstate(invalid="raise"):
        assert pictures.feature_grid_image(maps).dtype == np.uint8


def test_max_channels_limits_the_tiles():
    few = pictures.feature_grid_image(np.ones((4, 8, 8), np.float32), max_channels=1)
    many = pictures.feature_grid_image(np.ones((4, 8, 8), np.float32))
    assert few.size < many.size


@pytest.mark.parametrize(
    "shape, rgb",
    [
        ((16, 3, 3, 3), True),
        ((16, 3, 3, 3), False),
        ((32, 16, 5, 5), False),
        ((200, 64, 3, 3), False),
        ((8, 4, 7), False),
        ((8, 2, 3, 3, 3), True),
    ],
)
def test_filters_image_shape_and_dtype(shape, rgb):
    img = pictures.filters_image(RNG.standard_normal(shape).astype(np.float32), rgb=rgb)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_a_single_3x3_kernel_is_zoomed_to_be_visible():
    for weight, rgb in [(np.ones((1, 3, 3, 3)), True), (np.ones((1, 1, 3, 3)), False)]:
        img = pictures.filters_image(weight.astype(np.float32), rgb=rgb)
        assert min(img.shape[:2]) >= 24


def test_rgb_filters_are_colour_patches():
    weight = np.zeros((1, 3, 2, 2), np.float32)
    weight[0, 0] = 1.0  # only the red input channel responds
    img = pictures.filters_image(weight, rgb=True)
    assert (img[0, 0] == [255, 0, 0]).all()


def test_signed_filters_are_centred_on_zero():
    weight = np.array([[[[-1.0, 0.0, 2.0]]]], dtype=np.float32)  # [1, 1, 1, 3]
    img = pictures.filters_image(weight, rgb=False)
    assert (img[0, img.shape[1] // 2] == _cmap_rgb(pictures.DIVERGING_CMAP, 0.5)).all()
    assert (img[0, -1] == _cmap_rgb(pictures.DIVERGING_CMAP, 1.0)).all()


def _open(path):
    with Image.open(path) as im:
        im.load()
        return im


def test_saved_pngs_open_with_the_expected_mode(tmp_path):
    maps = RNG.standard_normal((4, 8, 8)).astype(np.float32)
    cases = {
        "grid.png": (pictures.save_feature_grid(maps, tmp_path / "grid.png"), "RGB"),
        "titled.png": (
            pictures.save_feature_grid(maps, tmp_path / "titled.png", title="#1 conv (Conv2d)"),
            "RGB",
        ),
        "filters.png": (
            pictures.save_filters(RNG.standard_normal((4, 3, 3, 3)), tmp_path / "filters.png",
                                  rgb=True),
            "RGB",
        ),
        "gray.png": (pictures.save_image(RNG.random((1, 28, 28)), tmp_path / "gray.png"), "L"),
        "rgb.png": (
            pictures.save_image(RNG.integers(0, 256, (3, 32, 32), dtype=np.uint8),
                                tmp_path / "rgb.png"),
            "RGB",
        ),
        "signal.png": (pictures.save_image(RNG.random((2, 200)), tmp_path / "signal.png"), "RGB"),
        "volume.png": (pictures.save_image(RNG.random((1, 12, 8, 8)), tmp_path / "volume.png"),
                       "L"),
    }
    for name, (path, mode) in cases.items():
        assert path == tmp_path / name
        assert _open(path).mode == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(cases)  # no temp files left
    grid, titled = _open(tmp_path / "grid.png"), _open(tmp_path / "titled.png")
    assert titled.height > grid.height


def test_save_image_zooms_small_inputs(tmp_path):
    path = pictures.save_image(RNG.random((1, 28, 28)), tmp_path / "mnist.png")
    assert min(_open(path).size) >= 128


def test_save_image_stretches_floats_outside_unit_range(tmp_path):
    path = pictures.save_image(RNG.standard_normal((1, 8, 8)) * 3, tmp_path / "norm.png")
    pixels = np.asarray(_open(path))
    assert pixels.min() == 0 and pixels.max() == 255


def test_confusion_matrix_png_is_non_trivial(tmp_path):
    matrix = RNG.integers(0, 30, (10, 10))
    classes = [f"class {i}" for i in range(10)]
    for normalized in (False, True):
        path = charts.save_confusion_matrix(
            matrix, classes, tmp_path / f"cm_{normalized}.png", normalized=normalized
        )
        img = np.asarray(_open(path))
        assert img.shape[0] > 200 and img.shape[1] > 200
        assert len(np.unique(img.reshape(-1, img.shape[-1]), axis=0)) > 20


def test_confusion_matrix_image_for_many_classes_and_empty_rows():
    matrix = np.zeros((25, 25), dtype=np.int64)
    matrix[0, 0] = 3
    with np.errstate(divide="raise", invalid="raise"):
        img = charts.confusion_matrix_image(matrix, [str(i) for i in range(25)], normalized=True)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_confusion_matrix_rejects_mismatched_classes():
    with pytest.raises(ValueError):
        charts.confusion_matrix_image(np.zeros((3, 3), int), ["a", "b"])


def test_compare_plot_png_exists(tmp_path):
    models = [
        {"name": "plain", "val_acc": [0.5, 0.7, 0.8], "shift_acc": {"0": 0.8, "4": 0.3, "2": 0.6}},
        {"name": "pooled", "val_acc": [0.4, 0.75, 0.85], "shift_acc": {"0": 0.85, "2": 0.8}},
        {"name": "untested", "val_acc": [0.6], "shift_acc": {}},
    ]
    path = charts.save_compare_plot(models, tmp_path / "compare.png")
    img = _open(path)
    assert img.mode == "RGB" and img.width > img.height > 200
