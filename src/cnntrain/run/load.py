"""Load a trained model back from its checkpoint: the config that rebuilds it, its weights, class names
and normalisation (`load_trained`), or from a file `cnntrain export` wrote (`load_for_inference`).
Every command that runs a trained model (evaluate, predict, featuremaps, compare, ...) starts here;
`train.py` is the other direction, config to trained model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from cnntrain.config import Config, config_from_dict
from cnntrain.data.files import Preprocessing
from cnntrain.errors import CheckpointError, ConfigError
from cnntrain.model.builder import build_model, shaped_layers
from cnntrain.run.checkpoint import load_checkpoint, resolve_model_path, weights_mismatch
from cnntrain.run.device import resolve_device
from cnntrain.run.inference import predict_logits
from cnntrain.run.normalize import Normalizer


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

    @property
    def layers(self) -> list:
        """The top-level LayerInfo with every shape known: a model trained with image_size null has them
        for the size it trained on (its input_shape)."""
        return shaped_layers(self.config, self.built, self.input_shape[1:] if self.input_shape else None)

    def preprocessing(self):
        """How image files become this model's input. With image_size null: the training size,
        since a model trained on one size (flatten, then linear) may accept no other."""
        prep = Preprocessing.of(self.config.data)
        if prep.size is None and self.input_shape and len(self.input_shape) == 3:
            prep.size = tuple(self.input_shape[1:])
        return prep

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, classes) float32 logits on the CPU for uint8 samples x (N, C, *spatial)."""
        normalize = self.normalizer.to(self.device, x.dim() - 2)
        return predict_logits(self.model, x, normalize, self.device,
                              batch_size=self.config.train.eval_batch_size)


def load_trained(checkpoint: str | Path, overrides=(), device: str | None = None) -> Trained:
    """Rebuild the checkpoint's model from the config it carries (`--set` applies on top). A run directory
    means its best checkpoint (checkpoints/best.pt)."""
    _refuse_exported(checkpoint, "this command takes a checkpoint (.pt) or a run directory; only evaluate and "
                     "predict run an exported model.onnx")
    path = resolve_model_path(checkpoint)
    state = load_checkpoint(path)
    config = config_from_dict(state["config"], source=str(path), overrides=overrides)
    classes = list(state.get("classes") or [])
    if not classes:
        raise CheckpointError(f"{path}: the checkpoint names no classes; pass one written by `cnntrain train`")
    built = build_model(config, num_classes=len(classes))
    mismatch = weights_mismatch(built.model, state["model"])
    if mismatch is not None:
        raise CheckpointError(f"{path}: its weights do not fit the model its config builds "
                              f"(did a --set change a layer?): {mismatch}")
    built.model.load_state_dict(state["model"])
    norm = state.get("normalization") or {"mean": [0.0] * config.data.channels,
                                          "std": [1.0] * config.data.channels}
    target = resolve_device(device or config.train.device)
    built.model.to(target).eval()
    shape = tuple(state["input_shape"]) if state.get("input_shape") else None
    return Trained(path, config, built, classes, Normalizer(**norm), target, state.get("epoch"), shape)


def load_for_inference(model: str | Path, overrides=()):
    """What predict and evaluate run: a checkpoint (or run directory) as `Trained`, or a file written
    by `cnntrain export --format onnx` as an `OnnxModel` that onnxruntime runs. Both offer classes,
    config, preprocessing() and logits(x)."""
    if Path(model).suffix.lower() != ".onnx":
        _refuse_exported(model, "evaluate and predict take a checkpoint (.pt), a run directory or a model.onnx "
                         "from `cnntrain export`; a .ts or .pt2 file runs in your own PyTorch code "
                         "(torch.jit.load, torch.export.load)")
        return load_trained(model, overrides)
    if overrides:
        raise ConfigError(f"{model}: --set changes a checkpoint's config, but an exported model is fixed; "
                          "drop --set, or pass the checkpoint it was exported from")
    from cnntrain.run.onnx_model import load_onnx  # deferred: onnxruntime only for .onnx files

    return load_onnx(model)


EXPORTED = {".onnx": "an ONNX", ".ts": "a TorchScript", ".pt2": "a torch.export"}  # what `cnntrain export` writes


def _refuse_exported(path, takes: str) -> None:
    """An exported model given where a checkpoint is needed: name what it is and what the command takes,
    rather than calling it a corrupt checkpoint."""
    kind = EXPORTED.get(Path(path).suffix.lower())
    if kind is not None and not Path(path).is_dir():
        raise CheckpointError(f"{path} is {kind} model written by `cnntrain export`; {takes}")


def training_mean(model) -> list[float]:
    """The training split's mean per channel, which an array sample's padding becomes: a checkpoint's
    (`Trained`) or an exported file's (`OnnxModel`, from its metadata)."""
    normalizer = getattr(model, "normalizer", None)
    if normalizer is not None:
        return list(normalizer.mean)
    return list(json.loads(model.metadata["normalization"])["mean"])
