"""A built model as a program the pages' JavaScript runs (viz/templates/live_net.js): live pages.

explore.html and compare.html recompute the model in the browser when a learner draws or moves the
input, so the page must hold every layer's settings and weights. `page_program(model)` walks the
modules and writes one JSON node per layer, the weights as float32 arrays under keys of their own
(`w:<qualified name>`, as the explore page's up-close arithmetic already names a conv's weights, so a
page carries each array once). Eval-mode semantics: dropout is the identity, batch norm is its running
statistics folded into one scale and shift per channel (computed in float64, stored in float32).

A layer the browser does not compute (transposed conv, upsampling, softmax, local response norm,
instance/group/layer norm, a padding mode other than zeros) makes the whole model not live: the
program is None and `why` says which layer, so the page can say it instead of showing wrong numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from cnntrain.model.blocks import Residual

# Pointwise activations: torch class -> (name in live_net.js, its arguments read off the module)
_ACTIVATIONS = {
    nn.ReLU: ("relu", ()), nn.ReLU6: ("hardtanh", ()), nn.LeakyReLU: ("leakyrelu", ("negative_slope",)),
    nn.ELU: ("elu", ("alpha",)), nn.CELU: ("celu", ("alpha",)), nn.SELU: ("selu", ()), nn.SiLU: ("silu", ()),
    nn.Mish: ("mish", ()), nn.Hardswish: ("hardswish", ()), nn.Hardsigmoid: ("hardsigmoid", ()),
    nn.Hardtanh: ("hardtanh", ("min_val", "max_val")), nn.Sigmoid: ("sigmoid", ()), nn.Tanh: ("tanh", ()),
    nn.Softplus: ("softplus", ("beta", "threshold")), nn.GELU: ("gelu", ("approximate",)),
}
_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_POOLS = {nn.MaxPool1d: "max", nn.MaxPool2d: "max", nn.MaxPool3d: "max",
          nn.AvgPool1d: "avg", nn.AvgPool2d: "avg", nn.AvgPool3d: "avg"}
_ADAPTIVE = {nn.AdaptiveMaxPool1d: "max", nn.AdaptiveMaxPool2d: "max", nn.AdaptiveMaxPool3d: "max",
             nn.AdaptiveAvgPool1d: "avg", nn.AdaptiveAvgPool2d: "avg", nn.AdaptiveAvgPool3d: "avg"}
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class NotLive(Exception):
    """A layer the page cannot compute; its message names the layer."""


@dataclass
class Program:
    """The model's top-level layers as nodes, and the float32 arrays their keys name."""

    layers: list | None  # one node per top-level layer; None when the page cannot compute the model
    arrays: dict = field(default_factory=dict)  # key -> float32 ndarray
    why: str = ""  # why not, when layers is None

    def as_dict(self) -> dict:
        return {"layers": self.layers, "why": self.why}


def page_program(model: nn.Module, dims: int) -> Program:
    """The top-level layers of `model` (an nn.Sequential of named layers, in eval mode) as JSON nodes."""
    arrays: dict = {}
    try:
        layers = [_node(module, name, dims, arrays) for name, module in model.named_children()]
    except NotLive as err:
        return Program(None, why=str(err))
    return Program(layers, arrays)


def _node(module: nn.Module, name: str, dims: int, arrays: dict) -> dict:
    kind = type(module)
    if isinstance(module, nn.modules.conv._ConvNd):
        return _conv(module, name, dims, arrays)
    if kind in _POOLS:
        return _pool(module, _POOLS[kind], dims)
    if kind in _ADAPTIVE:
        size = module.output_size
        out = list(size) if isinstance(size, (tuple, list)) else [size] * dims
        if any(v is None for v in out):
            raise NotLive(f"layer {name}: an adaptive pool that keeps an input size (None)")
        return {"op": "adaptive", "kind": _ADAPTIVE[kind], "out": out}
    if isinstance(module, _BATCH_NORMS):
        return _batch_norm(module, name, arrays)
    if isinstance(module, _IDENTITY):
        return {"op": "identity"}
    if kind is nn.PReLU:
        arrays[f"w:{name}"] = _floats(module.weight)
        return {"op": "prelu", "weight": f"w:{name}"}
    if kind in _ACTIVATIONS:
        fn, names = _ACTIVATIONS[kind]
        args = {a: getattr(module, a) for a in names}
        if kind is nn.ReLU6:
            args = {"min_val": 0.0, "max_val": 6.0}
        return {"op": "act", "fn": fn, **args}
    if kind is nn.Flatten:
        if module.start_dim != 1 or module.end_dim != -1:
            raise NotLive(f"layer {name}: a flatten other than start_dim 1, end_dim -1")
        return {"op": "flatten"}
    if kind is nn.Linear:
        return {"op": "linear", "in": module.in_features, "out": module.out_features,
                **_weights(module, name, arrays)}
    if kind is nn.Sequential:
        return {"op": "chain", "layers": [_node(child, f"{name}.{key}", dims, arrays)
                                          for key, child in module.named_children()]}
    if kind is Residual:
        return {"op": "residual", "body": _node(module.body, f"{name}.body", dims, arrays),
                "shortcut": _node(module.shortcut, f"{name}.shortcut", dims, arrays),
                "activation": _node(module.activation, f"{name}.activation", dims, arrays)}
    raise NotLive(f"layer {name} ({kind.__name__}) is not computed in the browser")


def _conv(module, name: str, dims: int, arrays: dict) -> dict:
    if module.transposed:
        raise NotLive(f"layer {name}: a transposed conv is not computed in the browser")
    if module.padding_mode != "zeros":
        raise NotLive(f"layer {name}: padding_mode {module.padding_mode!r} (the browser pads with zeros)")
    pads = module._reversed_padding_repeated_twice  # (left, right) per dim, last dim first
    left = [int(pads[2 * (dims - 1 - i)]) for i in range(dims)]
    right = [int(pads[2 * (dims - 1 - i) + 1]) for i in range(dims)]
    return {"op": "conv", "name": name, "k": list(module.kernel_size), "s": list(module.stride), "p": left,
            "pr": right, "d": list(module.dilation), "groups": module.groups, "in": module.in_channels,
            "out": module.out_channels, **_weights(module, name, arrays)}


def _pool(module, kind: str, dims: int) -> dict:
    def per_dim(value):
        return list(value) if isinstance(value, (tuple, list)) else [value] * dims

    return {"op": "pool", "kind": kind, "k": per_dim(module.kernel_size), "s": per_dim(module.stride),
            "p": per_dim(module.padding), "d": per_dim(getattr(module, "dilation", 1)),
            "ceil": bool(module.ceil_mode), "count_include_pad": bool(getattr(module, "count_include_pad", True)),
            "divisor": getattr(module, "divisor_override", None)}


def _batch_norm(module, name: str, arrays: dict) -> dict:
    if not module.track_running_stats or module.running_mean is None:
        raise NotLive(f"layer {name}: batch norm without running statistics")
    mean, var = module.running_mean.double(), module.running_var.double()
    scale = 1 / torch.sqrt(var + module.eps)
    shift = -mean * scale
    if module.affine:
        scale, shift = scale * module.weight.double(), shift * module.weight.double() + module.bias.double()
    arrays[f"scale:{name}"], arrays[f"shift:{name}"] = _floats(scale), _floats(shift)
    return {"op": "affine", "scale": f"scale:{name}", "shift": f"shift:{name}"}


def _weights(module, name: str, arrays: dict) -> dict:
    arrays[f"w:{name}"] = _floats(module.weight)
    if module.bias is None:
        return {"weight": f"w:{name}", "bias": None}
    arrays[f"b:{name}"] = _floats(module.bias)
    return {"weight": f"w:{name}", "bias": f"b:{name}"}


def _floats(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().numpy().copy()


def program_bytes(program: Program) -> int:
    """float32 bytes of every array the program needs."""
    return sum(a.size * 4 for a in program.arrays.values())
