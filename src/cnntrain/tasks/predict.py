"""Top-k classes for image files (or, for a model of float arrays, .npy, NIfTI and table files) without labels.

    from cnntrain.tasks.predict import predict
    for image in predict("runs/cnn/1/checkpoints/best.pt", ["photo.png"], top_k=3):
        print(image.path, image.predictions)

An exported `model.onnx` works in place of the checkpoint: onnxruntime runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cnntrain.data.array_inputs import is_array_data, load_array_inputs
from cnntrain.data.files import image_files, load_images, stack
from cnntrain.errors import CnntrainError, DataError, SomeUnreadable
from cnntrain.run.load import load_for_inference, training_mean


@dataclass
class ImagePrediction:
    path: str
    predictions: list[tuple[str, float]]  # (class, probability), most likely first; [] when unreadable
    error: str | None = None  # why the file could not be read

    def as_dict(self) -> dict:
        """The `predict --json` form; its keys are an interface (`error` only for an unreadable file)."""
        entry = {"path": self.path, "predictions": [{"class": c, "probability": p} for c, p in self.predictions]}
        return entry | ({"error": self.error} if self.error else {})


def predict(checkpoint: str | Path, inputs: list[str | Path], *, top_k: int = 5,
            overrides=()) -> list[ImagePrediction]:
    """The top-k classes, with softmax probabilities, of every image file (folders are walked).
    `checkpoint` is a checkpoint, a run directory or an exported .onnx file."""
    if top_k < 1:
        raise CnntrainError(f"--top-k must be at least 1, got {top_k}")
    trained = load_for_inference(checkpoint, overrides)
    unreadable: dict = {}
    if is_array_data(trained.config.data):  # float arrays: one prediction per file, or per table row
        arrays = load_array_inputs(inputs, trained.config.data, training_mean(trained))
        files = readable = arrays.names
        x = arrays.x  # (N, C, *spatial) float32
    else:
        files = image_files(inputs)
        images = load_images(files, trained.preprocessing(), unreadable)
        if not images:
            raise DataError(next(iter(unreadable.values())) if len(files) == 1
                            else unreadable_message(unreadable, files))
        readable = [f for f in files if f not in unreadable]
        x = stack(images, readable)  # (N, C, H, W) uint8
    probs = torch.as_tensor(trained.logits(x)).softmax(1)  # (N, classes); an OnnxModel gives numpy
    top = probs.topk(min(top_k, len(trained.classes)), dim=1)
    answers = {f: [(trained.classes[i], p) for p, i in zip(values, indices)]
               for f, values, indices in zip(readable, top.values.tolist(), top.indices.tolist())}
    return [ImagePrediction(str(f), answers.get(f, []), unreadable.get(f)) for f in files]


def unreadable_message(unreadable: dict, files: list) -> str:
    """One line naming the files that could not be read, each with why."""
    reasons = "; ".join(unreadable.values())
    return f"{len(unreadable)} of {len(files)} files could not be read, so they have no answer: {reasons}"


def check_all_read(results: list[ImagePrediction]) -> None:
    """After the answers are shown: SomeUnreadable (exit status 1) if any file had none."""
    failed = {r.path: r.error for r in results if r.error}
    if failed:
        raise SomeUnreadable(unreadable_message(failed, results))
