"""`cnntrain evaluate`: how well a checkpoint classifies a split of its data, or a folder of your own.

    from cnntrain.tasks.evaluate import evaluate
    result = evaluate("runs/cnn/1/checkpoints/best.pt")          # its test split
    result = evaluate("runs/cnn/1/checkpoints/best.pt", data="my_test_images/")
    result.as_dict()["per_class"]["circle"]["f1"]

An exported `model.onnx` works in place of the checkpoint: onnxruntime runs it.

The numbers come from the confusion matrix (rows = true class, columns = predicted), a pure
function of predictions and labels (`metrics_from_confusion`), so they can be checked by hand. Where it
fails comes from the probabilities (run/error_analysis.py): ROC AUC per class (scikit-learn), the expected
calibration error and its reliability diagram (calibration.png), and the top losses, the wrong answers it
was surest of (top_losses.png, each image beside its Grad-CAM where the model has a layer with a map).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnntrain.atomic import atomic_write_text, check_writable
from cnntrain.data import load_data
from cnntrain.data.array_inputs import is_array_data, load_labelled_arrays
from cnntrain.data.array_sources import DATA_FILES
from cnntrain.data.files import load_labelled_folder
from cnntrain.errors import ConfigError, DataError
from cnntrain.run.checkpoint import home_of
from cnntrain.run.error_analysis import TOP_LOSSES, calibration, roc_auc, sample_names, top_losses
from cnntrain.run.inference import loss_and_accuracy
from cnntrain.run.load import load_for_inference, training_mean
from cnntrain.run.metrics import confusion_matrix, metrics_from_confusion, top_k_accuracy
from cnntrain.run.outputs import (
    CALIBRATION,
    NO_MAP,
    TOP_LOSSES_PICTURE,
    find_mistakes,
    mistake_heatmaps,
    save_calibration_picture,
    save_mistakes_picture,
    save_top_losses_picture,
)
from cnntrain.viz.charts import save_confusion_matrix

SPLITS = ("test", "val")
TOP_K = 5  # top-5 accuracy is reported only when there are more classes than this


# --- the command -----------------------------------------------------------------------------


@dataclass
class EvalResult:
    checkpoint: str
    split: str  # "test", "val", or the --data folder
    classes: list[str]
    loss: float
    top5_accuracy: float | None
    matrix: np.ndarray  # (K, K) counts, rows = true class
    metrics: dict  # metrics_from_confusion
    out_dir: Path
    files: dict = field(default_factory=dict)  # what was written: name -> path
    epoch: int | None = None
    roc_auc: dict = field(default_factory=dict)  # error_analysis.roc_auc
    ece: float | None = None  # expected calibration error
    top_losses: list = field(default_factory=list)  # error_analysis.top_losses

    @property
    def accuracy(self) -> float:
        return self.metrics["accuracy"]

    def as_dict(self) -> dict:
        """The `evaluate --json` object. accuracy, loss, classes, per_class and confusion_matrix are an
        interface; the rest is extra."""
        return {
            "accuracy": self.accuracy, "loss": self.loss, "top5_accuracy": self.top5_accuracy,
            "classes": list(self.classes), "per_class": self.metrics["per_class"],
            "macro": self.metrics["macro"], "weighted": self.metrics["weighted"],
            "confusion_matrix": self.matrix.tolist(), "samples": int(self.matrix.sum()),
            "split": self.split, "checkpoint": self.checkpoint, "epoch": self.epoch,
            "files": {k: str(v) for k, v in self.files.items()},
            "roc_auc": self.roc_auc, "ece": self.ece, "top_losses": self.top_losses,
        }


def evaluate(checkpoint: str | Path, *, data: str | Path | None = None, split: str | None = None,
             out: str | Path | None = None, predictions: str | Path | None = None,
             overrides=()) -> EvalResult:
    """Evaluate a checkpoint (or an exported .onnx file) on its config's split (default test) or on a
    folder of class subfolders."""
    import torch

    if data is not None and split is not None:
        raise ConfigError("--split picks a split of the checkpoint's own data; with --data the folder is "
                          "the evaluation set, so drop --split")
    split = split or "test"
    if split not in SPLITS:
        raise ConfigError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    # a folder, or a whole labelled set of arrays in one file (.npz, UCR/UEA tables)
    if data is not None and Path(data).exists() and not Path(data).is_dir() \
            and Path(data).suffix.lower() not in DATA_FILES:
        raise DataError(f"--data {data} is a file, not a folder: give a folder with one subfolder per class "
                        "(for single images without labels use `cnntrain predict`)")
    if out is not None:
        check_writable(out)
    if predictions is not None:
        check_writable(predictions, file=True, flag="--predictions")
    trained = load_for_inference(checkpoint, overrides)
    x, y, paths, label = _samples(trained, data, split)
    if len(y) == 0:
        raise DataError(f"the {label} split is empty: nothing to evaluate")
    logits = torch.as_tensor(trained.logits(x))  # (N, K); an OnnxModel gives numpy
    k = len(trained.classes)
    loss, _ = loss_and_accuracy(logits, y)
    matrix = confusion_matrix(y.numpy(), logits.argmax(1).numpy(), k)
    top5 = top_k_accuracy(logits.numpy(), y.numpy(), TOP_K) if k > TOP_K else None
    out_dir = Path(out) if out is not None else home_of(trained.path) / f"eval-{label}"
    result = EvalResult(str(trained.path), label, trained.classes, loss, top5, matrix,
                        metrics_from_confusion(matrix, trained.classes), out_dir, epoch=trained.epoch)
    probs = torch.softmax(logits, 1)
    result.files = _write_pictures(result)
    _analyse_errors(result, trained, x, y.numpy(), probs.numpy(), sample_names(label, len(y), paths))
    if predictions is not None:
        files = paths or [str(i) for i in range(len(y))]  # synthetic data: the sample's index
        result.files["predictions"] = write_predictions(predictions, files, y, probs, trained.classes)
    return result


def _samples(trained, data, split: str):
    """(x uint8, y, each sample's file or name (None when they have none), label) of the evaluation set."""
    if data is not None and is_array_data(trained.config.data):
        x, y, names = load_labelled_arrays(data, trained.config.data, trained.classes, training_mean(trained))
        return x, y, names, Path(data).resolve().name
    if data is not None:
        images = load_labelled_folder(data, trained.preprocessing(), trained.classes)
        return images.x, images.y, images.paths, Path(data).resolve().name
    splits = load_data(trained.config.data, trained.config.train.seed)
    if list(splits.classes) != list(trained.classes):
        raise DataError(f"{trained.config.source}: its data now has the classes {', '.join(splits.classes)} but "
                        f"the model was trained on {', '.join(trained.classes)}; evaluate on a folder with --data")
    chosen = getattr(splits, split)
    return chosen.x, chosen.y, chosen.paths, split  # paths: None for data without files (synthetic, arrays)


def _write_pictures(result: EvalResult) -> dict:

    title = f"{result.split}: accuracy {result.accuracy:.2%}"
    return {
        "confusion_matrix": save_confusion_matrix(result.matrix, result.classes,
                                                  result.out_dir / "confusion_matrix.png", title=title),
        "confusion_matrix_normalized": save_confusion_matrix(
            result.matrix, result.classes, result.out_dir / "confusion_matrix_normalized.png",
            normalized=True, title=f"{title} (rows: recall per class)"),
    }


def _analyse_errors(result: EvalResult, trained, x, labels: np.ndarray, probs: np.ndarray, names: list[str]):
    """Where the model fails: mistakes.png, ROC AUC, calibration (calibration.png), top losses (top_losses.png)."""
    mistakes = find_mistakes(labels, probs, result.classes)
    written = {"mistakes": save_mistakes_picture(result.out_dir / "mistakes.png", x, mistakes)}
    bins = calibration(labels, probs)
    result.roc_auc, result.ece = roc_auc(labels, probs, result.classes), _finite(bins.ece)
    result.top_losses = top_losses(mistakes, names)
    written["calibration"] = save_calibration_picture(result.out_dir / CALIBRATION, bins,
                                                      title=f"{result.split}, accuracy {result.accuracy:.2%}")
    written["top_losses"] = _top_losses_picture(result.out_dir / TOP_LOSSES_PICTURE, trained, x, mistakes)
    result.files.update({name: path for name, path in written.items() if path is not None})


def _top_losses_picture(path: Path, trained, x, mistakes: list) -> Path | None:
    """top_losses.png, each image beside its Grad-CAM where the model can give one."""
    built = getattr(trained, "built", None)  # None for an exported model: onnxruntime gives no gradients
    found = None
    if built is not None:
        found = mistake_heatmaps(trained.model, trained.layers, trained.normalizer, x, mistakes[:TOP_LOSSES],
                                 trained.classes)
    if found is None:
        why = NO_MAP if built is not None else "an exported model gives no gradients (evaluate its checkpoint)"
        return save_top_losses_picture(path, x, mistakes, why=why)
    heat, layer = found
    return save_top_losses_picture(path, x, mistakes, heat=heat, layer=layer)


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None  # JSON has no NaN


def write_predictions(path: str | Path, paths: list[str], labels, probs, classes: list[str]) -> Path:
    """One CSV row per sample: path, true, predicted, confidence (the predicted class's probability)."""
    confidence, predicted = probs.max(1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "true", "predicted", "confidence"])
    for p, t, q, c in zip(paths, labels.tolist(), predicted.tolist(), confidence.tolist()):
        writer.writerow([p, classes[t], classes[q], f"{c:.6f}"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, buffer.getvalue())
    return path
