"""Top-k classes for image files without labels.

    from cnntrain.tasks.predict import predict
    for image in predict("runs/cnn/1/checkpoints/best.pt", ["photo.png"], top_k=3):
        print(image.path, image.predictions)

An exported `model.onnx` works in place of the checkpoint: onnxruntime runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cnntrain.data.files import image_files, load_images, stack
from cnntrain.errors import CnntrainError
from cnntrain.run.trained import load_for_inference


@dataclass
class ImagePrediction:
    path: str
    predictions: list[tuple[str, float]]  # (class, probability), most likely first

    def as_dict(self) -> dict:
        """The `predict --json` form; its keys are an interface."""
        return {"path": self.path,
                "predictions": [{"class": c, "probability": p} for c, p in self.predictions]}


def predict(checkpoint: str | Path, inputs: list[str | Path], *, top_k: int = 5,
            overrides=()) -> list[ImagePrediction]:
    """The top-k classes, with softmax probabilities, of every image file (folders are walked).
    `checkpoint` is a checkpoint, a run directory or an exported .onnx file."""
    if top_k < 1:
        raise CnntrainError(f"--top-k must be at least 1, got {top_k}")
    files = image_files(inputs)
    trained = load_for_inference(checkpoint, overrides)
    x = stack(load_images(files, trained.preprocessing()), files)  # (N, C, H, W) uint8
    probs = torch.as_tensor(trained.logits(x)).softmax(1)  # (N, classes); an OnnxModel gives numpy
    top = probs.topk(min(top_k, len(trained.classes)), dim=1)
    return [ImagePrediction(str(f), [(trained.classes[i], p) for p, i in zip(values, indices)])
            for f, values, indices in zip(files, top.values.tolist(), top.indices.tolist())]
