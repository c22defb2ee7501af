"""A trained model as an application gets it: raw pixels in, class scores out.

An exported model that disagrees with its PyTorch original nearly always had its preprocessing
re-implemented differently outside. Here the normalization is part of the graph, so the file takes
what an application has (pixels 0-255, uint8 or float) and the file's metadata says the rest.
"""

from __future__ import annotations

import json

import torch
from torch import nn

from cnntrain import __version__
from cnntrain.errors import CheckpointError
from cnntrain.run.normalize import DeviceNormalizer

INPUT_NAME = "pixels"
OUTPUT_NAMES = ("logits", "probabilities")
INPUT_DTYPES = {"uint8": torch.uint8, "float32": torch.float32}
# What cnntrain does to an image file before the graph (data/decode.py), for those who do it elsewhere.
PREPROCESSING = ("pixels 0-255, channels first; an image file gets its EXIF orientation applied, transparency "
                 "composited over black, conversion to grayscale (1 channel) or RGB (3), and a resize to the "
                 "input size with PIL's bilinear filter; the normalization is inside the graph")
ARRAY_PREPROCESSING = ("float values in the data's own units, channels first, brought to the input size by the "
                       "config's data.resize (padding takes the training mean, the normalization's `mean`); the "
                       "standardisation is inside the graph")


class PixelClassifier(nn.Module):
    """pixels (N, C, *spatial), 0-255 -> (logits, probabilities), both (N, classes) float32."""

    def __init__(self, model: nn.Module, normalize: DeviceNormalizer):
        super().__init__()
        self.model = model
        # buffers, so every exporter stores them with the weights
        self.register_buffer("scale", normalize.scale)
        self.register_buffer("shift", normalize.shift)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = DeviceNormalizer(self.scale, self.shift)(pixels)  # the op training normalizes with
        logits = self.model(x)
        return logits, logits.softmax(1)


def build_pixel_classifier(trained) -> PixelClassifier:
    """The checkpoint's model with its normalization in front, on the CPU in eval mode."""
    shape = input_shape_of(trained)
    normalize = trained.normalizer.to(torch.device("cpu"), len(shape) - 1)
    return PixelClassifier(trained.model.cpu(), normalize).eval()


def input_shape_of(trained) -> tuple[int, ...]:
    """(C, *spatial) the exported graph takes: the training samples' shape, as the checkpoint records it."""
    shape = trained.input_shape or trained.config.input_shape()
    if any(size is None for size in shape):
        raise CheckpointError(f"{trained.path}: the checkpoint records no input size and data.image_size is "
                              "null; set it with --set data.image_size=[H,W] to export a fixed-size model")
    return tuple(int(size) for size in shape)


def export_metadata(trained, input_dtype: str) -> dict[str, str]:
    """What the file alone must tell a user, as strings (ONNX metadata_props, TorchScript extra files)."""
    return {
        "classes": json.dumps(list(trained.classes)),
        "input_shape": json.dumps(list(input_shape_of(trained))),  # (C, *spatial); the batch is dynamic
        "input_dtype": input_dtype,
        "input_range": "0-255" if trained.normalizer.unit == 255 else "float",
        "preprocessing": PREPROCESSING if trained.normalizer.unit == 255 else ARRAY_PREPROCESSING,
        "normalization": json.dumps(trained.normalizer.as_dict()),  # applied inside the graph
        "outputs": json.dumps(list(OUTPUT_NAMES)),
        "config": json.dumps(trained.config.to_dict()),
        "epoch": json.dumps(trained.epoch),
        "cnntrain_version": __version__,
        "torch_version": str(torch.__version__),
    }
