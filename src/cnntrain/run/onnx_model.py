"""An exported .onnx file run by onnxruntime, offering what predict and evaluate use of a checkpoint's
`Trained`: classes, config, preprocessing() and logits(x).

Inference needs numpy and onnxruntime only: this module never imports torch, so the same code
serves where PyTorch is not installed. Classes, input shape and the config come from the file's
metadata (written by `cnntrain export`); the normalization is inside the graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnntrain.config import Config, DataSettings, config_from_dict
from cnntrain.errors import CheckpointError, DataError

REQUIRED_METADATA = ("classes", "input_shape", "input_dtype", "config")
BATCH = 256  # images per onnxruntime call: bounded memory for large evaluation sets


@dataclass
class OnnxModel:
    path: Path
    session: object  # onnxruntime.InferenceSession
    classes: list[str]
    input_shape: tuple[int, ...]  # (C, *spatial); the batch dimension is dynamic
    input_dtype: str  # "uint8" or "float32": pixels 0-255 either way
    config: Config  # the checkpoint's config: its data section, for `evaluate` on the default split
    epoch: int | None
    metadata: dict

    def preprocessing(self):
        """Image files become (C, H, W) at the exported size, as for the checkpoint it came from."""
        # deferred: data.files reads image files with torch; inference below does not need it
        from cnntrain.data.files import Preprocessing

        return Preprocessing.of(DataSettings(channels=self.input_shape[0], image_size=list(self.input_shape[1:])))

    def logits(self, x) -> np.ndarray:
        """(N, classes) float32 logits for pixels x (N, C, *spatial), an array or a CPU tensor."""
        x = np.asarray(x).astype(self.input_dtype, copy=False)
        if tuple(x.shape[1:]) != self.input_shape:
            raise DataError(f"{self.path} takes inputs of shape [N, {', '.join(map(str, self.input_shape))}], "
                                  f"not {list(x.shape)}")
        batches = [self.session.run(["logits"], {"pixels": x[i:i + BATCH]})[0] for i in range(0, len(x), BATCH)]
        return np.concatenate(batches) if batches else np.empty((0, len(self.classes)), np.float32)


def load_onnx(path: str | Path, data: bytes | None = None) -> OnnxModel:
    """An exported model from `path` (or from its bytes `data`, named `path` in messages)."""
    path = Path(path)
    session = _session(path, data)
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise CheckpointError(f"{path}: an ONNX model without cnntrain's metadata (no {', '.join(missing)}); "
                              "pass a file written by `cnntrain export`")
    try:
        classes = json.loads(metadata["classes"])
        shape = tuple(json.loads(metadata["input_shape"]))
        config = config_from_dict(json.loads(metadata["config"]), source=str(path))
        epoch = json.loads(metadata.get("epoch", "null"))
    except ValueError as err:
        raise CheckpointError(f"{path}: its cnntrain metadata is damaged ({err}); export the model again") from None
    return OnnxModel(path, session, classes, shape, metadata["input_dtype"], config, epoch, metadata)


def _session(path: Path, data: bytes | None):
    import onnxruntime  # deferred: half a second, and only this path needs it

    if data is None:
        if not path.is_file():
            raise CheckpointError(f"{path}: ONNX model not found; pass a file written by `cnntrain export`")
        data = path.read_bytes()
    try:
        return onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own Fail/InvalidProtobuf/... classes
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"{path}: not a readable ONNX model, or truncated/corrupt ({first}); "
                              "export it again with `cnntrain export`") from None
