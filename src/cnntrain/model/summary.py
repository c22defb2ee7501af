"""What a model is, layer by layer, before any training: shapes, parameters, multiply-adds, receptive field.

The model is built on PyTorch's meta device, so even VGG-16's 138M parameters cost no memory and no
time; every number comes from the shapes, which follow the convolution arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnntrain.config.loader import Config
from cnntrain.data.datasets import known_num_classes
from cnntrain.model.builder import LayerInfo, build_model
from cnntrain.model.init import init_source, initialize, sized_for_init
from cnntrain.model.layers import count

BYTES_PER_FLOAT = 4


@dataclass
class ModelSummary:
    name: str
    input_shape: tuple
    output_shape: tuple
    layers: list  # LayerInfo per top-level layer
    total_params: int
    trainable_params: int
    macs: int
    buffer_count: int
    init: dict | None = None  # what model.init loads (InitReport.as_dict()), when the summary checked it

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def param_bytes(self) -> int:
        return (self.total_params + self.buffer_count) * BYTES_PER_FLOAT

    @property
    def activation_bytes(self) -> int:
        """Forward activations of one sample in float32: what training keeps for the backward pass."""
        return sum(count(layer.out_shape) for layer in self.layers) * BYTES_PER_FLOAT


# Built-in datasets whose classes are fixed in code: a summary sizes `num_classes` from them without
# generating any data. Other datasets need data.num_classes (or the loaded data) for that.
def summarize(config: Config, num_classes: int | None = None, *, weights: bool = False) -> ModelSummary:
    """train.freeze shows as frozen parameters; with `weights`, model.init's file is read and matched
    to the model (nothing is copied: the model has no memory), so a misfit shows before training."""
    source = init_source(config) if weights else None
    config = sized_for_init(config, source)
    num_classes = num_classes or known_num_classes(config.data, config.where("data", "dataset"))
    # Building draws initial weights from the global RNG even on the meta device: a summary taken
    # mid-run (the report page, between epochs) must leave it as an exact resume expects.
    with torch.random.fork_rng(devices=[]):
        built = build_model(config, num_classes=num_classes, device="meta")
    report = initialize(built, config, source=source)
    params = list(built.model.parameters())
    return ModelSummary(
        name=config.name,
        input_shape=built.input_shape,
        output_shape=built.output_shape,
        layers=built.layers,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        macs=sum(layer.macs for layer in built.layers),
        buffer_count=sum(b.numel() for b in built.model.buffers() if b.is_floating_point()),
        init=report.as_dict() if report is not None else None,
    )


def compact_value(values):
    """(5, 5) -> 5: one number when every spatial dimension agrees; None stays None."""
    if values is None:
        return None
    values = list(values)
    return values[0] if len(set(values)) == 1 else values


def layer_dict(layer: LayerInfo) -> dict:
    return {
        "index": int(layer.index) if layer.index.isdigit() else layer.index,
        "name": layer.name,
        "type": layer.type,
        "output_shape": list(layer.out_shape),
        "params": layer.params,
        "trainable_params": layer.trainable_params,
        "macs": layer.macs,
        "receptive_field": compact_value(layer.receptive_field),
        "jump": compact_value(layer.jump),
        "line": layer.line,
    }


def summary_dict(summary: ModelSummary) -> dict:
    """The `summary --json` object; its keys are an interface."""
    return {
        "name": summary.name,
        "input_shape": list(summary.input_shape),
        "output_shape": list(summary.output_shape),
        "total_params": summary.total_params,
        "trainable_params": summary.trainable_params,
        "macs": summary.macs,
        "param_bytes": summary.param_bytes,
        "activation_bytes": summary.activation_bytes,
        "layers": [layer_dict(layer) for layer in summary.layers],
        "init": summary.init,
    }
