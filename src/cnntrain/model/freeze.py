"""`train.freeze`: layers whose weights stay as loaded while the rest of the model trains.

A frozen layer's parameters get `requires_grad=False`, so the optimizer (which takes only trainable
parameters) never sees them, and its batch-norm layers stay in eval mode: they normalise with the loaded
running statistics and never update them, even while `model.train()` switches everything else.
"""

from __future__ import annotations

import types

from torch import nn

from cnntrain.errors import ConfigError, did_you_mean
from cnntrain.model.builder import BuiltModel


def freeze_layers(built: BuiltModel, freeze) -> list[str]:
    """Freeze the layers `train.freeze` names (a list, or {all_but_last: N}); return their names."""
    names = _names(built, freeze)
    for name in names:
        module = built.model.get_submodule(name)
        module.requires_grad_(False)
        for norm in module.modules():
            if isinstance(norm, nn.modules.batchnorm._BatchNorm):
                norm.train = types.MethodType(_stay_in_eval, norm)
                norm.eval()
    for info in built.layers:  # the summary's trainable and frozen counts per layer
        params = built.model.get_submodule(info.name).parameters()
        info.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    return names


def _stay_in_eval(module: nn.Module, mode: bool = True) -> nn.Module:
    """A frozen batch norm's `train()`: eval whatever is asked, so its running statistics stay as loaded."""
    return nn.Module.train(module, False)


def _names(built: BuiltModel, freeze) -> list[str]:
    top = [info.name for info in built.layers]
    if isinstance(freeze, dict):
        weighted = [info.name for info in built.layers if info.params]
        keep = freeze["all_but_last"]
        return weighted[: max(len(weighted) - keep, 0)]
    for name in freeze:
        try:
            built.model.get_submodule(name)
        except AttributeError:
            raise ConfigError(f"train.freeze: no layer `{name}` in the model (a layer name, or a dotted path "
                              f"into a block such as layer4.0){did_you_mean(name, top)}") from None
    return list(freeze)
