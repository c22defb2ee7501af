"""Capture what layers output, with forward hooks on the model's top-level layers.

Used by `featuremaps` and by training, which logs the maps of one fixed image to TensorBoard.
"""

from __future__ import annotations

import re

import torch

from cnntrain.errors import CnntrainError
from cnntrain.model.registry import list_layers

# Layers worth looking at by default: filters (conv), their summaries (pool) and residual blocks.
_INTERESTING = re.compile(r"^(conv|convtranspose)\dd$|pool\dd$|^residual$")


def default_layers(layers: list) -> list:
    """Every conv, pool and residual block; a config's own blocks (types outside the registry) too."""
    known = set(list_layers())
    return [info for info in layers if _INTERESTING.search(info.type) or info.type not in known]


def select_layers(layers: list, refs: list[str]) -> list:
    """Layers chosen by name or index, in model order."""
    by_key = {info.name: info for info in layers} | {str(info.index): info for info in layers}
    unknown = [ref for ref in refs if ref not in by_key]
    if unknown:
        choices = ", ".join(f"{info.index}:{info.name}" for info in layers)
        raise CnntrainError(f"no layer {', '.join(map(repr, unknown))}; choose by name or index from: {choices}")
    chosen = {by_key[ref].name for ref in refs}
    return [info for info in layers if info.name in chosen]


@torch.inference_mode()
def capture(model: torch.nn.Module, x: torch.Tensor, names: list[str]) -> dict:
    """Run `x` (B, C, *spatial) through the model; return name -> that layer's output, cloned to CPU."""
    outputs, handles = {}, []
    modules = dict(model.named_children())
    for name in names:
        def hook(_module, _inputs, output, name=name):
            outputs[name] = output.detach().float().cpu().clone()

        handles.append(modules[name].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return outputs
