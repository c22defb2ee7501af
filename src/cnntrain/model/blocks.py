"""Blocks: layers made of layers. `residual`, `repeat`, `sequential`, and the config's own `blocks:`.

A config may define reusable blocks under `model.blocks`, with `$parameters`:

    blocks:
      basic:                        # a ResNet basic block
        residual:
          body:
            - conv2d: {out_channels: $channels, kernel_size: 3, stride: $stride, padding: 1, bias: false}
            - ...
    layers:
      - basic: {channels: 128, stride: 2}
"""

from __future__ import annotations

import copy
import re

from torch import nn

from cnntrain.errors import ConfigError, ShapeError
from cnntrain.model.registry import Built, register
from cnntrain.text import shape_text

_PARAM = re.compile(r"^\$([A-Za-z_]\w*)$")
MAX_REPEAT = 1000  # ResNet-1001 repeats a block 111 times; a billion copies would never finish building


class Residual(nn.Module):
    """y = activation(body(x) + shortcut(x)): the skip connection of ResNet."""

    def __init__(self, body: nn.Module, shortcut: nn.Module, activation: nn.Module):
        super().__init__()
        self.body, self.shortcut, self.activation = body, shortcut, activation

    def forward(self, x):
        return self.activation(self.body(x) + self.shortcut(x))


@register("residual")
def residual(in_shape, ctx, *, body, shortcut=None, activation: str | dict | None = "relu"):
    """activation(body(x) + shortcut(x)). shortcut: null (identity), `auto` (1x1 conv + batchnorm
    where the body changes the shape, as in ResNet) or a list of layers. activation: a layer, or null."""
    main = ctx.build_body(body, in_shape, "body")
    if shortcut == "auto":
        shortcut = None if main.out_shape == tuple(in_shape) else _projection(in_shape, main)
    skip = ctx.build_body(shortcut or [], in_shape, "shortcut")
    if skip.out_shape != main.out_shape:
        hint = "set `shortcut: auto` for a projection" if shortcut is None else "make the shortcut match"
        raise ShapeError(
            f"the body gives {shape_text(main.out_shape)} but the shortcut gives {shape_text(skip.out_shape)}; {hint}"
        )
    after = ctx.build_body([activation] if activation else [], main.out_shape, "activation")
    return Built(
        Residual(main.module, skip.module, after.module),
        main.out_shape,
        macs=main.macs + skip.macs,
        kernel=main.kernel,
        stride=main.stride,
        is_global=main.is_global,
        children=main.infos + skip.infos + after.infos,
    )


def _projection(in_shape, main) -> list:
    dims = len(in_shape) - 1
    stride = list(main.stride) if main.stride else 1
    return [
        {f"conv{dims}d": {"out_channels": main.out_shape[0], "kernel_size": 1, "stride": stride, "bias": False}},
        f"batchnorm{dims}d",
    ]


@register("repeat")
def repeat(in_shape, ctx, *, times, body):
    """The body (a list of layers) `times` times in a row, each copy with its own weights."""
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise ConfigError(f"repeat needs `times` as a positive int, got {times!r}")
    if times > MAX_REPEAT:
        raise ConfigError(f"repeat `times` {times:,} is more than {MAX_REPEAT:,}; "
                          "the model would never finish building")
    if not isinstance(body, list):
        raise ConfigError(f"repeat needs `body` as a list of layers, got {body!r}")
    copies = []
    shape = in_shape
    for i in range(times):
        copies.append(ctx.build_body(body, shape, str(i)))
        shape = copies[-1].out_shape
    return ctx.chain(nn.Sequential(*(c.module for c in copies)), copies)


@register("sequential", first_arg="layers")
def sequential(in_shape, ctx, *, layers):
    """A list of layers as one layer (what a `blocks:` definition with several layers becomes)."""
    body = ctx.build_body(layers, in_shape, "layers")
    return ctx.chain(body.module, [body])


def expand_block(name: str, definition, args):
    """A `model.blocks` entry with its `$parameters` replaced by the call's arguments.

    Errors name only the block: the builder adds the file, line and layer.
    """
    args = {} if args is None else args
    if not isinstance(args, dict):
        raise ConfigError(f"block `{name}` takes named arguments, e.g. {{channels: 64}}")
    args = {k: v for k, v in args.items() if k != "name"}
    wanted = sorted(_parameters(definition))
    missing = [p for p in wanted if p not in args]
    extra = [a for a in args if a not in wanted]
    if missing or extra:
        problem = f"needs {', '.join(missing)}" if missing else f"has no parameter {', '.join(map(str, extra))}"
        raise ConfigError(f"block `{name}` {problem}; its parameters: {', '.join(wanted) or '(none)'}")
    expanded = _substitute(copy.deepcopy(definition), args)
    return {"sequential": expanded} if isinstance(expanded, list) else expanded


def _parameters(node) -> set:
    if isinstance(node, str):
        match = _PARAM.match(node)
        return {match.group(1)} if match else set()
    if isinstance(node, dict):
        return set().union(*map(_parameters, node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*map(_parameters, node)) if node else set()
    return set()


def _substitute(node, args):
    if isinstance(node, str):
        match = _PARAM.match(node)
        return args[match.group(1)] if match else node
    if isinstance(node, dict):
        return {k: _substitute(v, args) for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, args) for v in node]
    return node
