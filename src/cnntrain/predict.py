"""A trained model back from its checkpoint, and its top-k classes for images without labels.

    from cnntrain.predict import predict
    for image in predict("runs/cnn/1/checkpoints/best.pt", ["photo.png"], top_k=3):
        print(image.path, image.predictions)

`load_trained` is what every command that runs a checkpoint shares (evaluate, featuremaps,
compare): the config that rebuilds the model, its weights, class names and normalisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cnntrain.builder import build_model
from cnntrain.checkpoint import load_checkpoint, resolve_checkpoint_path
from cnntrain.config import Config, config_from_dict
from cnntrain.errors import CheckpointError, CnntrainError
from cnntrain.inference import Normalizer, predict_logits


@dataclass
class Trained:
    """A model rebuilt from a checkpoint, in eval mode on `device`, with what it was trained with."""

    path: Path  # the checkpoint file
    config: Config
    built: object  # builder.BuiltModel; built.model holds the trained weights
    classes: list[str]
    normalizer: Normalizer
    device: torch.device
    epoch: int | None
    input_shape: tuple | None  # (C, *spatial) of the training samples, as the checkpoint records it

    @property
    def model(self) -> torch.nn.Module:
        return self.built.model

    def preprocessing(self):
        """How image files become this model's input. With image_size null: the training size,
        since a model trained on one size (flatten, then linear) may accept no other."""
        from cnntrain.images import Preprocessing

        prep = Preprocessing.of(self.config.data)
        if prep.size is None and self.input_shape and len(self.input_shape) == 3:
            prep.size = tuple(self.input_shape[1:])
        return prep

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, classes) float32 logits on the CPU for uint8 samples x (N, C, *spatial)."""
        normalize = self.normalizer.to(self.device, x.dim() - 2)
        return predict_logits(self.model, x, normalize, self.device,
                              batch_size=self.config.train["eval_batch_size"])


def load_trained(checkpoint: str | Path, overrides=(), device: str | None = None) -> Trained:
    """Rebuild the checkpoint's model from the config it carries (`--set` applies on top)."""
    from cnntrain.device import resolve_device

    path = resolve_checkpoint_path(checkpoint)
    state = load_checkpoint(path)
    config = config_from_dict(state["config"], source=str(path), overrides=overrides)
    classes = list(state.get("classes") or [])
    if not classes:
        raise CheckpointError(f"{path}: the checkpoint names no classes; pass one written by `cnntrain train`")
    built = build_model(config, num_classes=len(classes))
    try:
        built.model.load_state_dict(state["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[1:2] or [str(err)]
        raise CheckpointError(f"{path}: its weights do not fit the model its config builds "
                              f"(did a --set change a layer?): {first[0].strip()}") from None
    norm = state.get("normalization") or {"mean": [0.0] * config.data["channels"],
                                          "std": [1.0] * config.data["channels"]}
    target = resolve_device(device or config.train["device"])
    built.model.to(target).eval()
    shape = tuple(state["input_shape"]) if state.get("input_shape") else None
    return Trained(path, config, built, classes, Normalizer(**norm), target, state.get("epoch"), shape)



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
    """The top-k classes, with softmax probabilities, of every image file (folders are walked)."""
    from cnntrain.images import image_files, load_images, stack

    if top_k < 1:
        raise CnntrainError(f"--top-k must be at least 1, got {top_k}")
    files = image_files(inputs)
    trained = load_trained(checkpoint, overrides)
    x = stack(load_images(files, trained.preprocessing()), files)  # (N, C, H, W) uint8
    probs = trained.logits(x).softmax(1)  # (N, classes)
    top = probs.topk(min(top_k, len(trained.classes)), dim=1)
    return [ImagePrediction(str(f), [(trained.classes[i], p) for p, i in zip(values, indices)])
            for f, values, indices in zip(files, top.values.tolist(), top.indices.tolist())]
