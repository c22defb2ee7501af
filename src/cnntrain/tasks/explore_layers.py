"""What the explore page needs to know about each built layer, read off its PyTorch module.

The builder's LayerInfo gives shapes, parameters, receptive field and jump; the page also needs the
numbers that turn an output pixel back into an input window (kernel, stride, padding, dilation), the
rules that recompute shapes when the playground changes a layer, and, for conv and pool layers, the
settings the browser repeats the layer's arithmetic with.

Geometry is (kernel, stride, left padding) per spatial dimension: output index o sees the input
indices o*s - p .. o*s - p + k - 1. Two layers in a row compose to one such window, so a whole
network prefix is one (receptive field, jump, offset).
"""

from __future__ import annotations

import math

from torch import nn

from cnntrain.model.arithmetic import effective_kernel
from cnntrain.model.blocks import Residual

_MAX_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
_AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE_MAX = (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
_ADAPTIVE_AVG = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)


def dims_tuple(value, dims: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def is_conv(module: nn.Module) -> bool:
    return isinstance(module, nn.modules.conv._ConvNd) and not module.transposed


def left_padding(conv: nn.Module, dims: int) -> tuple:
    """Zeros added before each spatial dimension; PyTorch keeps them reversed, (left, right) per dim."""
    pads = conv._reversed_padding_repeated_twice
    return tuple(int(pads[2 * (dims - 1 - i)]) for i in range(dims))


def total_padding(conv: nn.Module, dims: int) -> tuple:
    pads = conv._reversed_padding_repeated_twice
    return tuple(int(pads[2 * (dims - 1 - i)] + pads[2 * (dims - 1 - i) + 1]) for i in range(dims))


def geometry(module: nn.Module, dims: int):
    """(kernel, stride, left padding) of a layer, or None when an output does not see a fixed window."""
    if is_conv(module):
        kernel = tuple(map(effective_kernel, module.kernel_size, module.dilation))
        return kernel, tuple(module.stride), left_padding(module, dims)
    if isinstance(module, _MAX_POOLS + _AVG_POOLS):
        dilation = dims_tuple(getattr(module, "dilation", 1), dims)
        kernel = tuple(map(effective_kernel, dims_tuple(module.kernel_size, dims), dilation))
        return kernel, dims_tuple(module.stride, dims), dims_tuple(module.padding, dims)
    if isinstance(module, nn.Sequential):
        return compose_all([geometry(child, dims) for child in module], dims)
    if isinstance(module, Residual):
        # The shortcut's 1x1 window lies inside the body's, and the activation is pointwise.
        return geometry(module.body, dims)
    if isinstance(module, (nn.Linear, nn.Flatten, nn.Upsample, nn.modules.conv._ConvNd) + _ADAPTIVE_MAX
                  + _ADAPTIVE_AVG):
        return None
    return identity(dims)


def geometry_before(module: nn.Module, path: list[str], dims: int):
    """The window, in `module`'s input, of the input of its submodule at `path` (names, outermost first):
    everything that runs before that submodule inside `module`. None where a container is not understood."""
    if not path:
        return identity(dims)
    head, rest = path[0], path[1:]
    child = module.get_submodule(head)
    if isinstance(module, nn.Sequential):
        before = []
        for name, sibling in module.named_children():
            if name == head:
                break
            before.append(geometry(sibling, dims))
        return compose(compose_all(before, dims), geometry_before(child, rest, dims))
    if isinstance(module, Residual):
        # body and shortcut both start at the block's input; the activation follows the sum
        start = geometry(module.body, dims) if head == "activation" else identity(dims)
        return compose(start, geometry_before(child, rest, dims))
    return None


def rule_path(module: nn.Module, path: list[str]) -> list[int] | None:
    """Where the submodule at `path` sits in shape_rule(module)'s tree (child indices); None where the rule
    leaves it out (a residual block's shortcut and activation: the body decides the shape)."""
    indices = []
    for head in path:
        if isinstance(module, nn.Sequential):
            indices.append([name for name, _ in module.named_children()].index(head))
        elif isinstance(module, Residual) and head == "body":
            indices.append(0)
        else:
            return None
        module = module.get_submodule(head)
    return indices


def identity(dims: int):
    return (1,) * dims, (1,) * dims, (0,) * dims


def compose(first, second):
    """One window for two layers in a row: k = k1 + (k2 - 1) s1, s = s1 s2, p = p1 + p2 s1."""
    if first is None or second is None:
        return None
    (k1, s1, p1), (k2, s2, p2) = first, second
    return (tuple(a + (b - 1) * s for a, b, s in zip(k1, k2, s1)), tuple(a * b for a, b in zip(s1, s2)),
            tuple(a + b * s for a, b, s in zip(p1, p2, s1)))


def compose_all(parts, dims: int):
    total = identity(dims)
    for part in parts:
        total = compose(total, part)
    return total


def shape_rule(module: nn.Module, dims: int) -> dict:
    """How the layer turns an input shape into its output shape, for the playground to replay."""
    if is_conv(module):
        return {"op": "conv", "k": list(module.kernel_size), "s": list(module.stride), "d": list(module.dilation),
                "pt": list(total_padding(module, dims)), "channels": module.out_channels,
                "groups": module.groups, "bias": module.bias is not None}
    if isinstance(module, nn.modules.conv._ConvNd):  # transposed
        return {"op": "convt", "k": list(module.kernel_size), "s": list(module.stride), "d": list(module.dilation),
                "p": list(module.padding), "op_pad": list(module.output_padding), "channels": module.out_channels}
    if isinstance(module, _MAX_POOLS + _AVG_POOLS):
        rule = pool_settings(module, dims)
        return {"op": "pool", **{key: rule[key] for key in ("k", "s", "p", "d", "ceil")}}
    if isinstance(module, _ADAPTIVE_MAX + _ADAPTIVE_AVG):
        return {"op": "adaptive", "out": list(dims_tuple(module.output_size, dims))}
    if isinstance(module, nn.Sequential):
        return {"op": "chain", "layers": [shape_rule(child, dims) for child in module]}
    if isinstance(module, Residual):
        return {"op": "chain", "layers": [shape_rule(module.body, dims)]}
    if isinstance(module, nn.Flatten):
        plain = module.start_dim == 1 and module.end_dim == -1
        return {"op": "flatten" if plain else "unknown"}
    if isinstance(module, nn.Linear):
        return {"op": "linear", "out": module.out_features, "bias": module.bias is not None}
    if isinstance(module, nn.Upsample):
        return {"op": "unknown"}
    return {"op": "same"}


def conv_settings(module: nn.Module, dims: int) -> dict | None:
    """What the page needs to redo one output pixel of a conv layer; None for padding other than zeros."""
    if not is_conv(module) or module.padding_mode != "zeros":
        return None
    return {"k": list(module.kernel_size), "s": list(module.stride), "p": list(left_padding(module, dims)),
            "d": list(module.dilation), "groups": module.groups, "in_channels": module.in_channels,
            "out_channels": module.out_channels, "bias": module.bias is not None}


def pool_settings(module: nn.Module, dims: int) -> dict | None:
    """A pooling layer's window rule; adaptive pools give their windows by output size instead."""
    if isinstance(module, _MAX_POOLS + _AVG_POOLS):
        is_max = isinstance(module, _MAX_POOLS)
        return {"kind": "max" if is_max else "avg", "k": list(dims_tuple(module.kernel_size, dims)),
                "s": list(dims_tuple(module.stride, dims)), "p": list(dims_tuple(module.padding, dims)),
                "d": list(dims_tuple(getattr(module, "dilation", 1), dims)), "ceil": bool(module.ceil_mode),
                "count_include_pad": bool(getattr(module, "count_include_pad", True)),
                "divisor": getattr(module, "divisor_override", None)}
    if isinstance(module, _ADAPTIVE_MAX + _ADAPTIVE_AVG):
        return {"kind": "adaptive_max" if isinstance(module, _ADAPTIVE_MAX) else "adaptive_avg"}
    return None


def dense_comparison(in_shape, out_shape, conv_weights: int) -> dict:
    """The conv layer's weights against a fully connected layer from the same input to the same output size."""
    inputs, outputs = math.prod(in_shape), math.prod(out_shape)
    dense = inputs * outputs
    return {"conv": f"{conv_weights:,}", "inputs": f"{inputs:,}", "outputs": f"{outputs:,}", "dense": f"{dense:,}",
            "ratio": f"{dense / conv_weights:,.0f}" if conv_weights else "-"}
