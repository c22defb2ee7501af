"""report.html: one page that answers "did it learn, did it overfit, what does it get wrong, what do its
filters do" from the files of a run directory, without TensorBoard, a server or the network.

`write_report(run)` reads what the run directory holds (config.yaml, metrics.jsonl, summary.json and the
pictures of run/outputs.py) and leaves out, with a note, what it lacks: training rebuilds the page after
every epoch, and `cnntrain report RUN` (tasks/report.py) rebuilds it for any run, older ones included.
The test section comes from predictions handed in (`TestOutcome`), not from a file: training passes its
final test pass, `cnntrain report` runs the best checkpoint again.

The page's data (templates/report.html builds the page from it): name, run_dir, status {finished, epoch,
epochs, refresh_seconds}, summary {test_acc, test_loss, best, params, seconds, device}, config_html
(highlight_yaml's escaped HTML), model (summary --json), images {curves, train_batch, mistakes: links
relative to the page or null; calibration, top_losses too}, test {split, epoch, classes, matrix, metrics,
samples, total_mistakes, mistakes, roc_auc, ece, top_losses, gradcam_layer, gradcam_why, cells} or null (cells:
run/confusion_cells.py, the images behind each cell of the matrix), filmstrip [{epoch, image}] and notes
{section: why it is empty}.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from cnntrain.config import config_from_dict
from cnntrain.errors import CnntrainError
from cnntrain.model.summary import summarize, summary_dict
from cnntrain.run.confusion_cells import confusion_cells
from cnntrain.run.error_analysis import calibration, roc_auc, sample_names, top_losses
from cnntrain.run.metrics import confusion_matrix, metrics_from_confusion
from cnntrain.run.normalize import Normalizer
from cnntrain.run.outputs import (
    CALIBRATION,
    CURVES,
    FEATUREMAPS,
    MISTAKES,
    MISTAKES_GRADCAM,
    NO_MAP,
    REPORT,
    TOP_LOSSES_PICTURE,
    TRAIN_BATCH,
    find_mistakes,
    mistake_heatmaps,
    save_calibration_picture,
    save_mistakes_picture,
    save_top_losses_picture,
)
from cnntrain.run.rundir import RunDir
from cnntrain.viz.page import highlight_yaml, write_page

REFRESH_SECONDS = 15  # a page open during training reloads itself to show each new epoch
MISTAKES_LISTED = 32


@dataclass
class TestOutcome:
    """The best checkpoint's predictions on a split: what the test section and mistakes.png are made of."""

    split: str
    classes: list[str]
    labels: np.ndarray  # (N,) true class indices
    probs: np.ndarray  # (N, K) softmax probabilities
    samples: object  # (N, C, *spatial) uint8, indexable: the images themselves, for mistakes.png
    epoch: int | None  # of the checkpoint
    # The model that made the predictions, for the Grad-CAM of its mistakes (none without it).
    model: torch.nn.Module | None = None
    layers: list | None = None  # its builder LayerInfo
    normalizer: Normalizer | None = None
    paths: list[str] | None = None  # each sample's file (image folders); None names them "test[17]"


def test_section(run: RunDir, outcome: TestOutcome) -> dict:
    """Write mistakes.png, mistakes_gradcam.png, top_losses.png and calibration.png, and return the page's
    test data: confusion matrix and the images behind its cells, per-class metrics, ROC AUC, calibration,
    mistakes and top losses."""
    labels, probs = np.asarray(outcome.labels), np.asarray(outcome.probs)
    matrix = confusion_matrix(labels, probs.argmax(1), len(outcome.classes))
    mistakes = find_mistakes(labels, probs, outcome.classes)
    names = sample_names(outcome.split, len(labels), outcome.paths)
    save_mistakes_picture(run.path / MISTAKES, outcome.samples, mistakes)
    layer, why = _gradcam_pictures(run, outcome, mistakes)
    bins = calibration(labels, probs)
    save_calibration_picture(run.path / CALIBRATION, bins, title=f"{outcome.split} split, best checkpoint")
    return {"split": outcome.split, "epoch": outcome.epoch, "classes": list(outcome.classes),
            "matrix": matrix.tolist(), "metrics": metrics_from_confusion(matrix, outcome.classes),
            "samples": int(len(labels)), "total_mistakes": len(mistakes),
            "mistakes": [asdict(m) | {"name": names[m.sample]} for m in mistakes[:MISTAKES_LISTED]],
            "roc_auc": roc_auc(labels, probs, outcome.classes), "ece": bins.ece,
            "top_losses": top_losses(mistakes, names), "gradcam_layer": layer, "gradcam_why": why,
            "cells": confusion_cells(labels, probs, outcome.samples, names)}


def _gradcam_pictures(run: RunDir, outcome: TestOutcome, mistakes: list) -> tuple[str | None, str]:
    """mistakes_gradcam.png, where the model can say where it looked, and top_losses.png (with the same maps
    when there are some): (the layer Grad-CAM looked at, or None; why there is no map)."""
    found = None
    if outcome.model is not None:
        found = mistake_heatmaps(outcome.model, outcome.layers, outcome.normalizer, outcome.samples, mistakes,
                                 outcome.classes)
    why = "" if found or not mistakes else NO_MAP if outcome.model is not None else "the page was built without it"
    if found is None:
        (run.path / MISTAKES_GRADCAM).unlink(missing_ok=True)  # an old picture would not match these mistakes
        save_top_losses_picture(run.path / TOP_LOSSES_PICTURE, outcome.samples, mistakes, why=why)
        return None, why
    heat, layer = found
    save_mistakes_picture(run.path / MISTAKES_GRADCAM, outcome.samples, mistakes, heat=heat)
    save_top_losses_picture(run.path / TOP_LOSSES_PICTURE, outcome.samples, mistakes, heat=heat, layer=layer)
    return layer, why


def write_report(run: RunDir, *, test: dict | None = None, finished: bool | None = None,
                 notes: dict | None = None) -> Path:
    """(Re)write run/report.html from the run directory's files; `test` from `test_section`.

    `finished`: None infers it (summary.json covers the last logged epoch).
    """
    records = run.read_metrics()
    summary = _read_summary(run)
    last_epoch = records[-1]["epoch"] if records else 0
    if finished is None:
        finished = summary is not None and summary.get("epochs") == last_epoch
    config_text, config_dict = run.read_config()
    model, model_note = _model(config_dict, summary)
    notes = {**_notes(run, config_dict, test), **({"model": model_note} if model_note else {}), **(notes or {})}
    data = {
        "name": (config_dict or {}).get("name") or run.path.name,
        "run_dir": str(run.path),
        "status": {"finished": finished, "epoch": last_epoch,
                   "epochs": ((config_dict or {}).get("train") or {}).get("epochs"),
                   "refresh_seconds": None if finished else REFRESH_SECONDS},
        "summary": _headline(summary if finished else None, records, model),
        "config_html": highlight_yaml(config_text) if config_text is not None else None,
        "model": model,
        "images": {name: _present(run, file) for name, file in
                   (("curves", CURVES), ("train_batch", TRAIN_BATCH), ("mistakes", MISTAKES),
                    ("mistakes_gradcam", MISTAKES_GRADCAM), ("top_losses", TOP_LOSSES_PICTURE),
                    ("calibration", CALIBRATION))},
        "test": test,
        "filmstrip": _filmstrip(run, last_epoch),
        "notes": notes,
    }
    if test is None:  # a picture without its test section could be stale
        for name in ("mistakes", "mistakes_gradcam", "top_losses", "calibration"):
            data["images"][name] = None
    return write_page(run.path / REPORT, "report.html", data=data)


def _read_summary(run: RunDir) -> dict | None:
    try:
        return json.loads(run.summary.read_text(encoding="utf-8")) if run.summary.is_file() else None
    except ValueError:
        return None  # a damaged summary only costs the page its headline numbers


def _model(config: dict | None, summary: dict | None) -> tuple[dict | None, str | None]:
    """The layer table (summary --json), from the run's config on the meta device: no weights needed."""
    if config is None:
        return None, "config.yaml is missing or unreadable: no model table."
    classes = (summary or {}).get("classes")
    try:
        resolved = config_from_dict(config, source="config.yaml")
        return summary_dict(summarize(resolved, num_classes=len(classes) if classes else None)), None
    except CnntrainError as error:
        return None, f"The model table could not be built: {error}"


def _headline(summary: dict | None, records: list[dict], model: dict | None) -> dict:
    """The numbers at the top: from summary.json once training has finished, else from the epochs so far."""
    if summary is not None:
        test = summary.get("test") or {}
        return {"test_acc": test.get("acc"), "test_loss": test.get("loss"), "best": summary.get("best"),
                "params": summary.get("params"), "seconds": summary.get("seconds"), "device": summary.get("device")}
    best = max((r for r in records if r.get("val_acc") is not None), key=lambda r: r["val_acc"], default=None)
    return {"test_acc": None, "test_loss": None,
            "best": {"metric": "val_acc", "value": best["val_acc"], "epoch": best["epoch"]} if best else None,
            "params": model["total_params"] if model else None,
            "seconds": sum(r.get("epoch_seconds", 0) for r in records), "device": None}


def _present(run: RunDir, name: str) -> str | None:
    """A picture's link relative to the page, if the file exists."""
    return name if (run.path / name).is_file() else None


def _filmstrip(run: RunDir, last_epoch: int) -> list[dict]:
    """featuremaps/epoch_NNN.png in epoch order; frames past the last logged epoch (a resume's) left out."""
    frames = []
    for path in (run.path / FEATUREMAPS).glob("epoch_*.png"):
        match = re.fullmatch(r"epoch_(\d+)\.png", path.name)
        if match and int(match[1]) <= last_epoch:
            frames.append({"epoch": int(match[1]), "image": f"{FEATUREMAPS}/{path.name}"})
    return sorted(frames, key=lambda f: f["epoch"])


def _notes(run: RunDir, config: dict | None, test: dict | None) -> dict:
    """Why a section is empty, in words."""
    train = (config or {}).get("train") or {}
    notes = {
        "curves": "No epoch is logged yet (metrics.jsonl).",
        "train_batch": "This run has no train_batch.png: training writes it in epoch 1 (runs made before "
                       "cnntrain wrote pictures have none).",
        "featuremaps": "No feature maps were saved for this run (runs made before cnntrain saved them "
                       "have none; they are in TensorBoard).",
        "config": "This run has no config.yaml.",
    }
    if train.get("featuremap_every") == 0:
        notes["featuremaps"] = "train.featuremap_every is 0: no feature maps were logged."
    if test is None:
        notes["test"] = ("No test results: training writes them at its end, and `cnntrain report "
                         f"{run.path}` rebuilds them from checkpoints/best.pt.")
    return notes
