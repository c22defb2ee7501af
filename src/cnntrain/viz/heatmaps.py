"""Pictures for `cnntrain explain`: heat maps over the input, and what each filter looks for.

    save_explanation(pixels, heat, "cat_gradcam.png", title="cat.png: predicted cat (93.1%)")

A 2D input is shown as input | heat map | overlay; a 1D signal as its line plot with a heat strip
under it; a 3D volume as rows of depth slices (input, heat map, overlay). Maps that are never
negative (Grad-CAM, saliency) use a sequential colormap from 0; signed ones (integrated
gradients, occlusion) a diverging one centred on 0, red for the class and blue against it.
numpy and matplotlib only (charts.py's figures without pyplot).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np

from cnntrain.viz.charts import figure_image, new_figure
from cnntrain.viz.pictures import even_indices
from cnntrain.viz.png import save_png

HEAT_CMAP = "inferno"
SIGNED_CMAP = "RdBu_r"
OVERLAY_ALPHA = 0.8  # at the map's peak; a zero is transparent, so the input shows where nothing is
MAX_SLICES = 6  # depth slices shown of a 3D volume
PANEL_IN = 3.2  # inches per panel, at 100 dpi


def explanation_image(pixels: np.ndarray, heat: np.ndarray, *, title: str, signed: bool = False,
                      stretched: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 picture of `heat` ([L], [H, W] or [D, H, W]) over `pixels` ([C, *spatial], 0..255).

    `stretched`: the pixels are a float array stretched from its minimum to its maximum for display (a
    signal's axis then says so instead of "value / 255")."""
    image = _unit(pixels)
    heat = np.nan_to_num(np.asarray(heat, dtype=np.float32))
    if image.shape[1:] != heat.shape:
        raise ValueError(f"the map {heat.shape} does not cover the input {image.shape}")
    scale = _scale(heat, signed)
    draw = {1: _signal_figure, 2: _image_figure, 3: _volume_figure}[heat.ndim]
    fig = draw(image, heat, scale)
    if heat.ndim == 1:  # the line plot's axis: the only one of the three figures with a value scale
        fig.axes[0].set_ylabel("value (min → 0, max → 1)" if stretched else "value / 255")
    _title(fig, title)
    return figure_image(fig)


def save_explanation(pixels: np.ndarray, heat: np.ndarray, path: str | os.PathLike, *, title: str,
                     signed: bool = False, stretched: bool = False) -> Path:
    return save_png(explanation_image(pixels, heat, title=title, signed=signed, stretched=stretched), path)


def _image_figure(image: np.ndarray, heat: np.ndarray, scale: dict):
    fig = new_figure((3 * PANEL_IN + 0.6, PANEL_IN + 0.5))
    axes = fig.subplots(1, 3)
    _show_input(axes[0], image)
    shown = axes[1].imshow(heat, interpolation="nearest", **scale)
    _show_input(axes[2], image)
    axes[2].imshow(heat, interpolation="nearest", alpha=_alpha(heat, scale), **scale)
    for ax, name in zip(axes, ("input", "heat map", "overlay")):
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.03, pad=0.02)
    return fig


def _signal_figure(image: np.ndarray, heat: np.ndarray, scale: dict):
    fig = new_figure((9, 3.6))
    signal, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    for c, channel in enumerate(image):
        signal.plot(channel, linewidth=1, label=f"channel {c}")
    if 1 < len(image) <= 10:
        signal.legend(loc="upper right", fontsize=8)
    length = heat.shape[0]
    shown = strip.imshow(heat[None], aspect="auto", interpolation="nearest", extent=(-0.5, length - 0.5, 0, 1),
                         **scale)
    strip.set_yticks([])
    strip.set_ylabel("heat", rotation=0, ha="right", va="center")
    strip.set_xlabel("position")
    fig.colorbar(shown, ax=[signal, strip], fraction=0.03, pad=0.02)
    return fig


def _volume_figure(image: np.ndarray, heat: np.ndarray, scale: dict):
    depths = even_indices(heat.shape[0], MAX_SLICES)
    fig = new_figure((len(depths) * PANEL_IN * 0.6 + 0.8, 3 * PANEL_IN * 0.6 + 0.6))
    axes = np.asarray(fig.subplots(3, len(depths), squeeze=False))
    for col, d in enumerate(depths):
        _show_input(axes[0, col], image[:, d])
        shown = axes[1, col].imshow(heat[d], interpolation="nearest", **scale)
        _show_input(axes[2, col], image[:, d])
        axes[2, col].imshow(heat[d], interpolation="nearest", alpha=_alpha(heat[d], scale), **scale)
        axes[0, col].set_title(f"depth {d}", fontsize=8)
    for row, name in enumerate(("input", "heat map", "overlay")):
        axes[row, 0].text(-0.08, 0.5, name, transform=axes[row, 0].transAxes, rotation=90, ha="right",
                          va="center", fontsize=8)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.03, pad=0.02)
    return fig


def _show_input(ax, image: np.ndarray) -> None:
    """[C, H, W] in [0, 1]: RGB for three channels, else the channels' mean in grey."""
    if image.shape[0] == 3:
        ax.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    else:
        ax.imshow(image.mean(axis=0), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


# --- what each filter looks for ---------------------------------------------------------------


def patterns_image(patterns: np.ndarray, channels: list[int], *, title: str) -> np.ndarray:
    """One tile per channel of the inputs that excite it most ([K, C, *spatial] in [0, 1]): images as
    grey or RGB pictures (a 3D volume by its middle depth slice), signals as line plots. Each tile is
    stretched over its own range: the pattern matters, not its contrast (the .npy keeps the values)."""
    patterns = np.nan_to_num(np.asarray(patterns, dtype=np.float32))
    if patterns.ndim == 5:
        patterns = patterns[:, :, patterns.shape[2] // 2]
    count = len(patterns)
    cols = int(min(count, max(1, round(np.sqrt(count * (1 if patterns.ndim == 4 else 0.25))))))
    rows = -(-count // cols)
    tile = (2.2, 1.2) if patterns.ndim == 3 else (1.4, 1.5)
    fig = new_figure((cols * tile[0] + 0.4, rows * tile[1] + 0.7))
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= count:
            continue
        if patterns.ndim == 3:
            for channel in patterns[k]:
                ax.plot(channel, linewidth=1)
            ax.set_axis_on()
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            _show_input(ax, _stretch(patterns[k]))
        ax.set_title(f"channel {channels[k]}", fontsize=8)
    _title(fig, title)
    return figure_image(fig)


def save_patterns(patterns: np.ndarray, channels: list[int], path: str | os.PathLike, *, title: str) -> Path:
    return save_png(patterns_image(patterns, channels, title=title), path)


# --- helpers ----------------------------------------------------------------------------------


def _unit(pixels: np.ndarray) -> np.ndarray:
    """Input pixels 0..255 (uint8 or float) as float32 in [0, 1]."""
    return np.clip(np.nan_to_num(np.asarray(pixels, dtype=np.float32)) / 255.0, 0.0, 1.0)


def _scale(heat: np.ndarray, signed: bool) -> dict:
    """imshow's colormap and range: signed maps symmetric around 0, the others from 0 to their peak."""
    peak = float(np.abs(heat).max()) or 1.0
    if signed:
        return {"cmap": SIGNED_CMAP, "vmin": -peak, "vmax": peak}
    return {"cmap": HEAT_CMAP, "vmin": 0.0, "vmax": peak}


def _alpha(heat: np.ndarray, scale: dict) -> np.ndarray:
    """Per-pixel opacity of the overlay: the map's strength relative to its colour scale."""
    return OVERLAY_ALPHA * np.clip(np.abs(heat) / scale["vmax"], 0.0, 1.0)


def _stretch(image: np.ndarray) -> np.ndarray:
    lo, hi = float(image.min()), float(image.max())
    return (image - lo) / (hi - lo) if hi > lo else image  # a flat tile keeps its own grey


def _title(fig, text: str) -> None:
    """The title over the whole figure, wrapped to its width, then a layout that makes room for it."""
    width = max(20, int(fig.get_figwidth() * 11))  # characters of 10-point text per line, with room to spare
    fig.suptitle(textwrap.fill(_plain(text), width), fontsize=10)
    fig.set_layout_engine("constrained")


def _plain(text: str) -> str:
    """User text (file and class names) drawn as written: `$` would start matplotlib's math mode."""
    return text.replace("$", r"\$")
