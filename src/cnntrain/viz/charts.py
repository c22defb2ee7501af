"""Labelled charts drawn with matplotlib: confusion matrices, model comparisons, training curves, 1D inputs.

matplotlib is imported lazily, with the Agg backend, because it is slow to import and must never
need a display. `pictures.py` holds the pixel-exact pictures (feature maps, filters).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from cnntrain.viz.png import save_png

# --- confusion matrix -----------------------------------------------------------------------


def confusion_matrix_image(
    matrix: np.ndarray, classes: list[str], normalized: bool = False, *, title: str | None = None
) -> np.ndarray:
    """Render the confusion-matrix chart (rows = true class, columns = predicted) as RGB."""
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(classes):
        raise ValueError(f"expected a {len(classes)}x{len(classes)} matrix, got {m.shape}")
    values = _row_normalize(m) if normalized else m
    k = len(classes)
    side = min(max(4.0, 0.45 * k + 2.5), 16.0)
    fig = new_figure((side + 1.0, side))
    ax = fig.add_subplot()
    vmax = 1.0 if normalized else max(1, int(m.max()))
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    _label_classes(ax, classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    default = "confusion matrix (row-normalized)" if normalized else "confusion matrix"
    ax.set_title(title or default)
    if k <= 20:  # beyond that the numbers no longer fit in the cells
        _annotate_cells(ax, values, normalized, vmax)
    fig.tight_layout()
    return figure_image(fig)


def save_confusion_matrix(
    matrix: np.ndarray,
    classes: list[str],
    path: str | os.PathLike,
    *,
    normalized: bool = False,
    title: str | None = None,
) -> Path:
    """Write the confusion-matrix chart as a PNG."""
    return save_png(confusion_matrix_image(matrix, classes, normalized, title=title), path)


def _row_normalize(m: np.ndarray) -> np.ndarray:
    """Each row as fractions of its total (recall per true class); empty rows stay zero."""
    sums = m.sum(axis=1, keepdims=True).astype(np.float64)
    return m / np.where(sums > 0, sums, 1.0)


def _label_classes(ax, classes: list[str]) -> None:
    """Class names on both axes, smaller when many; none past 60 classes, where they'd overlap."""
    k = len(classes)
    if k > 60:
        ax.set_xticks([])
        ax.set_yticks([])
        return
    size = 10 if k <= 20 else 6
    ax.set_xticks(range(k), labels=classes, rotation=45, ha="right", rotation_mode="anchor",
                  fontsize=size)
    ax.set_yticks(range(k), labels=classes, fontsize=size)


def _annotate_cells(ax, values: np.ndarray, normalized: bool, vmax: float) -> None:
    """Write each cell's value, white on dark cells so it stays readable."""
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.2f}" if normalized else str(int(v))
        color = "white" if v > vmax / 2 else "black"
        ax.text(j, i, text, ha="center", va="center", color=color, fontsize=8)


# --- model comparison -----------------------------------------------------------------------


def save_compare_plot(models: list[dict], path: str | os.PathLike) -> Path:
    """Two panels: validation accuracy per epoch and accuracy vs input shift, one line per model.

    Each model dict has `name`, `val_acc` (fractions per epoch) and `shift_acc` ({"pixels":
    fraction}), and may have `params` (named in the legend); a missing or empty series is simply not drawn.
    """
    fig = new_figure((12, 4.5))
    ax_epoch, ax_shift = fig.subplots(1, 2)
    for i, model in enumerate(models):
        style = {"color": f"C{i % 10}", "label": model_label(model)}  # same colour in both panels
        acc = list(model.get("val_acc") or [])
        if acc:
            marker = "o" if len(acc) <= 30 else None
            ax_epoch.plot(range(1, len(acc) + 1), 100 * np.asarray(acc), marker=marker, **style)
        shifts = sorted((int(k), v) for k, v in (model.get("shift_acc") or {}).items())
        if shifts:
            xs, ys = zip(*shifts)
            ax_shift.plot(xs, 100 * np.asarray(ys), marker="o", **style)
    _finish_panel(ax_epoch, "validation split: accuracy per epoch", "epoch")
    _finish_panel(ax_shift, "test split: accuracy vs shift (pixels)", "shift (pixels)")
    chance = max((m.get("chance") or 0 for m in models), default=0)
    for ax in (ax_epoch, ax_shift) if chance else ():  # after the x range is set from the models' lines
        ax.axhline(100 * chance, color="gray", linestyle="--", linewidth=1, label=f"chance ({chance:.0%})")
        ax.legend(fontsize=8)
    epochs = sorted({m.get("epochs") for m in models if m.get("epochs")})
    sizes = (models[0].get("images") or {}) if models else {}
    facts = [f"{epochs[0]} epochs" if len(epochs) == 1 else "", ", ".join(f"{n:,} {s}" for s, n in sizes.items())]
    fig.suptitle("model comparison" + "".join(f"; {f}" for f in facts if f))
    fig.tight_layout()
    return save_png(figure_image(fig), path)


def model_label(model: dict) -> str:
    """`mlp (410,906 params)`: the legend names the price of each model beside its curve, and a model near
    chance is marked as not trained rather than judged."""
    params = model.get("params")
    label = f"{model['name']} ({params:,} params)" if isinstance(params, int) else model["name"]
    chance, acc = model.get("chance") or 0, model.get("test_acc")
    return label + (" - not trained" if chance and acc is not None and acc < 1.2 * chance else "")


def _finish_panel(ax, title: str, xlabel: str) -> None:
    """Title, labels, a 0-100 % y axis, integer x ticks and a legend (or a note if empty)."""
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    lines = [line.get_xdata() for line in ax.get_lines() if len(line.get_xdata())]
    if lines:  # half an epoch either side: one epoch is "1", not 0.945 ... 1.050
        ax.set_xlim(min(map(min, lines)) - 0.5, max(map(max, lines)) + 0.5)
    ax.grid(alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)


def line_plot_image(signal: np.ndarray) -> np.ndarray:
    """[C, L] -> a line chart with one line per channel."""
    fig = new_figure((8, 3))
    ax = fig.add_subplot()
    for c, channel in enumerate(np.asarray(signal, dtype=np.float32)):
        ax.plot(channel, linewidth=1, label=f"channel {c}")
    if 1 < len(signal) <= 10:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlabel("position")
    ax.set_ylabel("value")
    fig.tight_layout()
    return figure_image(fig)



def values_bar_image(values: np.ndarray, *, title: str, xlabel: str) -> np.ndarray:
    """A layer output holding one number per channel or feature ([F], or [C, 1, 1] after a global pool)
    as bars on one value axis: drawn as tiles, each 1x1 tile would be scaled against itself and look blank."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    fig = new_figure((min(12.0, 4 + 0.12 * len(values)), 3.4))
    ax = fig.add_subplot()
    colors = np.where(values < 0, "#2166ac", "#b2182b")  # the grids' diverging colours: blue < 0 < red
    ax.bar(np.arange(len(values)), values, color=colors, width=0.8)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlim(-0.6, len(values) - 0.4)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("value")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return figure_image(fig)


# --- training curves (curves.png) -----------------------------------------------------------

TRAIN_COLOR, VAL_COLOR, LR_COLOR, BEST_COLOR = "C0", "C1", "C2", "C3"


def curves_image(records: list[dict], *, best_epoch: int | None = None, title: str = "") -> np.ndarray:
    """Three panels (loss, accuracy, learning rate) over epochs, from metrics.jsonl records: (H, W, 3)."""
    fig = new_figure((13, 3.8))
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    epochs = [r["epoch"] for r in records]
    marker = "o" if len(records) <= 30 else None
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy (%)")):
        scale = 100 if key == "acc" else 1
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            ax.plot(epochs, _series(records, f"{split}_{key}", scale), marker=marker, color=color, label=split)
        ax.set_ylabel(label)
    ax_lr.plot(epochs, _series(records, "lr", 1), marker=marker, color=LR_COLOR, label="learning rate")
    ax_lr.set_ylabel("learning rate")
    lrs = [v for v in _series(records, "lr", 1) if math.isfinite(v)]
    if _spans_decades(lrs):
        ax_lr.set_yscale("log")
    else:  # a constant lr would get ticks like "+1e-3" over 0.00000...: show the value itself
        ax_lr.ticklabel_format(axis="y", style="plain", useOffset=False)
        if lrs and max(lrs) == min(lrs):
            ax_lr.set_ylim(0, 2 * lrs[0] if lrs[0] > 0 else 1)
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy"), (ax_lr, "learning rate")):
        _finish_curve(ax, name, best_epoch)
    if title:
        fig.suptitle(title)
    # Fixed margins, not tight_layout: this is drawn after every epoch, and tight_layout draws twice.
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.14, top=0.84, wspace=0.3)
    return figure_image(fig)


def save_curves(records: list[dict], path: str | os.PathLike, *, best_epoch: int | None = None,
                title: str = "") -> Path:
    return save_png(curves_image(records, best_epoch=best_epoch, title=title), path)


def _series(records: list[dict], key: str, scale: float) -> list[float]:
    """A metric per epoch; a missing or null value (an empty validation split) is a gap, not a zero."""
    values = [r.get(key) for r in records]
    return [v * scale if isinstance(v, (int, float)) and math.isfinite(v) else float("nan") for v in values]


def _spans_decades(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return bool(positive) and max(positive) / min(positive) >= 100


def _finish_curve(ax, name: str, best_epoch: int | None) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    lines = [line.get_xdata() for line in ax.get_lines() if len(line.get_xdata())]
    if lines:  # half an epoch either side: one epoch is "1", not 0.945 ... 1.050
        ax.set_xlim(min(map(min, lines)) - 0.5, max(map(max, lines)) + 0.5)
    ax.grid(alpha=0.3)
    if best_epoch:
        ax.axvline(best_epoch, color=BEST_COLOR, linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
    ax.legend(fontsize=8)


# --- learning-rate range test ---------------------------------------------------------------


def save_lr_find_plot(lrs: list[float], losses: list[float], smoothed: list[float], suggestion: float | None,
                      rule: str, path: str | os.PathLike) -> Path:
    """Loss against learning rate on a log axis: each step's loss, its smoothed curve, the suggestion."""
    fig = new_figure((8, 4.5))
    ax = fig.add_subplot()
    ax.plot(lrs, losses, color="C0", alpha=0.3, linewidth=1, label="loss per step")
    ax.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed")
    if suggestion is not None:
        at = int(np.argmin(np.abs(np.log(lrs) - np.log(suggestion))))
        ax.axvline(suggestion, color="C3", linestyle="--", linewidth=1)
        ax.plot([suggestion], [smoothed[at]], "o", color="C3", label=f"suggestion {suggestion:.2g} ({rule})")
    finite = [v for v in smoothed if np.isfinite(v)]
    if finite:  # the blow-up at the end would squash the interesting part flat
        # the lowest single step too, so its dips show whole below the smoothed curve
        low, first = min(finite + [v for v in losses if np.isfinite(v)]), finite[0]
        ax.set_ylim(low - 0.1 * (first - low + 1e-3), max(first, low) + 0.5 * (first - low + 1e-3))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title("learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(figure_image(fig), path)


# --- matplotlib without pyplot -------------------------------------------------------------


def agg_matplotlib():
    """matplotlib on the display-free Agg backend, imported only when a picture needs it."""
    import matplotlib

    matplotlib.use("Agg")
    return matplotlib


def new_figure(size: tuple[float, float]):
    """A Figure with its own Agg canvas; pyplot is avoided so no global figure state leaks."""
    agg_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def figure_image(fig) -> np.ndarray:
    """Draw the figure and return its pixels as (H, W, 3) uint8."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
