"""Pictures that explain themselves (issue 22 part 3): captions, frames and a colour key on the grids, a
one-epoch curve with an integer axis, and a shift test that keeps a noisy background noisy."""

from __future__ import annotations

import numpy as np

from cnntrain.viz import annotate, charts, pictures

ORANGE = np.array(annotate._FRAME, dtype=np.uint8)


def orange_pixels(image: np.ndarray) -> int:
    return int((image == ORANGE).all(-1).sum())


def test_a_channel_of_one_value_gets_a_frame_and_the_key_says_so():
    maps = np.random.default_rng(0).normal(size=(4, 6, 6)).astype(np.float32)
    plain = pictures.labelled_feature_grid(maps)
    maps[2] = 0.0
    framed = pictures.labelled_feature_grid(maps)
    assert orange_pixels(plain) == 0 and orange_pixels(framed) >= 4 * 48 - 4  # a whole tile's outline
    assert framed.shape[0] > pictures.feature_grid_image(maps).shape[0]  # captions and the key


def test_signed_and_non_negative_layers_get_their_own_key():
    signed = pictures.labelled_feature_grid(np.linspace(-1, 1, 32, dtype=np.float32).reshape(2, 4, 4))
    positive = pictures.labelled_feature_grid(np.linspace(0, 1, 32, dtype=np.float32).reshape(2, 4, 4))
    grid_h = pictures.feature_grid_image(np.zeros((2, 4, 4), np.float32)).shape[0] + annotate._CAPTION_PX
    for picture, cmap, other in ((signed, pictures.DIVERGING_CMAP, pictures.SEQUENTIAL_CMAP),
                                 (positive, pictures.SEQUENTIAL_CMAP, pictures.DIVERGING_CMAP)):
        key = picture[grid_h:]  # under the grid: the bar runs from one end of the layer's colormap to the other
        assert (key == pictures.colormap_table(cmap)[0]).all(-1).any()
        assert not (key == pictures.colormap_table(other)[0]).all(-1).any()


def test_small_filters_get_their_numbers_and_names():
    sobel = np.array([[[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]]], dtype=np.float32)
    named = pictures.labelled_filters(sobel, rgb=False, names=["sobel_x"])
    big = np.random.default_rng(0).normal(size=(2, 1, 7, 7)).astype(np.float32)
    assert named.shape[1] >= 3 * pictures._NUMBER_CELL_PX  # cells wide enough for a number each
    assert pictures.labelled_filters(big, rgb=False).shape[0] < 7 * pictures._NUMBER_CELL_PX


def test_one_epoch_is_one_integer_tick():
    fig = charts.new_figure((4, 3))
    ax = fig.add_subplot()
    ax.plot([1], [0.5], marker="o", label="train")
    charts._finish_curve(ax, "loss", None)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1.0]


def test_the_shift_test_fills_the_border_with_the_images_own_noise():
    import torch

    from cnntrain.tasks.compare_outputs import shifted

    noise = (torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 200).to(torch.uint8)
    moved = shifted(noise, 6, seed=0)
    rows = [moved[i, 0, r] for i in range(8) for r in (0, 1, -1, -2)]
    cols = [moved[i, 0, :, c] for i in range(8) for c in (0, 1, -1, -2)]
    assert all(len(torch.unique(line)) > 4 for line in rows + cols)  # no flat strip at any edge


def test_a_model_near_chance_is_marked_not_trained():
    assert charts.model_label({"name": "cnn", "chance": 1 / 6, "test_acc": 0.17}).endswith("not trained")
    assert charts.model_label({"name": "cnn", "chance": 1 / 6, "test_acc": 0.9}) == "cnn"
