"""Walk a config's layer list and build the model, asking the registry for each layer.

No per-type branches here: the builder threads the shape from layer to layer, names the layers,
tracks the receptive field, and puts the file, line and layer into every error.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn

from cnntrain.config.loader import Config, layer_entry, layer_name
from cnntrain.errors import CnntrainError, ConfigError
from cnntrain.model.blocks import expand_block
from cnntrain.model.registry import Built, create_layer
from cnntrain.text import shape_text

# Attribute names of nn.Sequential (forward, training, cuda, ...): nn.Module refuses them as child names.
_RESERVED = frozenset(dir(nn.Sequential()))


@dataclass
class LayerInfo:
    """One layer as the summary shows it. Shapes are per sample (no batch dimension)."""

    index: str
    name: str
    type: str
    in_shape: tuple
    out_shape: tuple
    params: int
    trainable_params: int
    macs: int
    receptive_field: tuple | None  # per spatial dimension; None once every output sees everything
    jump: tuple | None  # distance in input pixels between neighbouring outputs (product of strides)
    line: int | None = None
    children: list = field(default_factory=list)


@dataclass
class Body:
    """A list of layers built in a row: what a block gets back from `ctx.build_body`."""

    module: nn.Sequential
    out_shape: tuple
    infos: list
    macs: int
    kernel: tuple | None
    stride: tuple | None
    is_global: bool


@dataclass
class BuiltModel:
    model: nn.Sequential
    layers: list  # LayerInfo per top-level config layer
    input_shape: tuple
    output_shape: tuple
    num_classes: int | None


def build_model(config: Config, *, num_classes: int | None = None, device=None) -> BuiltModel:
    """Build the config's model. `device="meta"` builds shapes and counts without allocating weights."""
    num_classes = num_classes or config.data.num_classes
    ctx = BuildContext(config, num_classes)
    input_shape = config.input_shape()
    with torch.device(device) if device is not None else contextlib.nullcontext():
        body = ctx.walk(config.model.layers, input_shape, ("model", "layers"), top_level=True)
    return BuiltModel(body.module, body.infos, input_shape, body.out_shape, num_classes)


def shaped_layers(config: Config, built: BuiltModel, spatial) -> list:
    """`built`'s top-level LayerInfo with every shape known, for pictures that need them (feature maps,
    Grad-CAM): with data.image_size null, rebuilt for samples of `spatial` size (the size it trained on).
    The weights do not depend on the size; the rebuild is on the meta device, and leaves the global RNG
    as it found it (a run's own draws come after)."""
    if config.data.image_size is not None or not spatial:
        return built.layers
    sized = config.replace(data={"image_size": [int(s) for s in spatial]})
    with torch.random.fork_rng(devices=[]):
        return build_model(sized, num_classes=built.num_classes, device="meta").layers


class BuildContext:
    """What a layer builder may ask of the builder: build a nested list of layers (a block's body)."""

    def __init__(self, config: Config, num_classes: int | None):
        self.config = config
        self.num_classes = num_classes
        self._stack: list = []  # (yaml path, display index, receptive-field state) of enclosing layers
        # Layer types are matched in lower case, so block names are too.
        self._blocks = {str(name).lower(): value for name, value in config.model.blocks.items()}
        self._expanding: list = []  # blocks being built, innermost last: a block may not contain itself

    # --- for block builders ---

    def build_body(self, entries, in_shape, label: str) -> Body:
        path, index, geometry = self._stack[-1]
        if not isinstance(entries, list):
            raise ConfigError(f"`{label}` must be a list of layers, got {entries!r}")
        return self.walk(entries, in_shape, path + (label,), index_prefix=f"{index}.{label}", geometry=geometry)

    def chain(self, module: nn.Module, parts: list) -> Built:
        """A block made of bodies run one after another."""
        geometry = [(p.kernel, p.stride, p.is_global) for p in parts]
        kernel, stride, is_global = _compose(geometry, len(parts[0].out_shape) - 1)
        return Built(module, parts[-1].out_shape, sum(p.macs for p in parts), kernel, stride, is_global,
                     children=[info for p in parts for info in p.infos])

    # --- the walk ---

    def walk(self, entries, in_shape, path, *, index_prefix="", geometry=None, top_level=False) -> Body:
        dims = len(in_shape) - 1
        geometry = geometry if geometry is not None else ((1,) * dims, (1,) * dims)
        modules, infos, built_parts = OrderedDict(), [], []
        counters: dict = {}
        # Names given in the file, so that a generated name never takes one (and drops its layer).
        given = {n for n in map(layer_name, entries) if isinstance(n, str)}  # a bad name is refused below
        shape = tuple(in_shape)
        for i, entry in enumerate(entries):
            index = f"{index_prefix}.{i}" if index_prefix else str(i)
            # Inside a block the enclosing layer's error adds the file, line and layer.
            layer_type, args = layer_entry(entry, self._where(path + (i,)) if top_level else f"layer {index}")
            name = self._name(args, layer_type, counters, modules, given, path + (i,), top_level, i)
            built = self._build_one(layer_type, args, shape, path + (i,), index, name, geometry)
            geometry = _advance(geometry, built)
            modules[name] = built.module
            built_parts.append((built.kernel, built.stride, built.is_global))
            infos.append(self._info(index, name, layer_type, shape, built, geometry, path + (i,)))
            shape = tuple(built.out_shape)
        kernel, stride, is_global = _compose(built_parts, dims)
        macs = sum(info.macs for info in infos)
        return Body(nn.Sequential(modules), shape, infos, macs, kernel, stride, is_global)

    def _build_one(self, layer_type, args, shape, path, index, name, geometry) -> Built:
        self._stack.append((path + (layer_type,), index, geometry))
        pushed = False
        try:
            kind = layer_type
            if layer_type in self._blocks:
                if layer_type in self._expanding:
                    chain = " -> ".join([*self._expanding[self._expanding.index(layer_type):], layer_type])
                    raise ConfigError(f"block `{layer_type}` contains itself ({chain})")
                self._expanding.append(layer_type)
                pushed = True
                kind, args = layer_entry(expand_block(layer_type, self._blocks[layer_type], args),
                                         f"block `{layer_type}`")
            return create_layer(kind, self._with_num_classes(args), shape, self)
        except CnntrainError as err:
            if getattr(err, "located", False):
                raise
            line = self.config.line_of(*path)
            where = f"{self.config.source}: layer {index} '{name}' ({layer_type}{f', line {line}' if line else ''})"
            located = type(err)(f"{where}: {err}; its input is {shape_text(shape)}")
            located.located = True
            raise located from None
        finally:
            self._stack.pop()
            if pushed:
                self._expanding.pop()

    def _info(self, index, name, layer_type, in_shape, built, geometry, path) -> LayerInfo:
        params = list(built.module.parameters())
        return LayerInfo(
            index=index,
            name=name,
            type=layer_type,
            in_shape=in_shape,
            out_shape=tuple(built.out_shape),
            params=sum(p.numel() for p in params),
            trainable_params=sum(p.numel() for p in params if p.requires_grad),
            macs=built.macs,
            receptive_field=None if geometry is None else geometry[0],
            jump=None if geometry is None else geometry[1],
            line=self.config.line_of(*path),
            children=built.children,
        )

    def _name(self, args, layer_type, counters, taken, reserved, path, top_level, i) -> str:
        given = args.get("name") if isinstance(args, dict) else None
        if given is None:
            # Keras-style names (conv2d_1) at the top; a block's inner layers are numbered like nn.Sequential.
            name = None if top_level else str(i)
            while name is None or name in taken or name in reserved:
                counters[layer_type] = counters.get(layer_type, 0) + 1
                name = f"{layer_type}_{counters[layer_type]}"
            return name
        if not isinstance(given, str) or not given or "." in given or given in taken or given in _RESERVED:
            problem = ("must be a non-empty string without dots" if not isinstance(given, str) or not given
                       or "." in given else "is used twice" if given in taken
                       else "is taken by PyTorch (an attribute of every module); choose another")
            where = f"{self._where(path)}: " if top_level else ""
            raise ConfigError(f"{where}layer name {given!r} {problem}")
        return given

    def _with_num_classes(self, args):
        """`num_classes` may stand for a width: `linear: num_classes`."""
        if args == "num_classes" or (isinstance(args, dict) and "num_classes" in args.values()):
            if self.num_classes is None:
                raise ConfigError("uses num_classes, which is not known yet; set data.num_classes")
            if isinstance(args, dict):
                return {k: self.num_classes if v == "num_classes" else v for k, v in args.items()}
            return self.num_classes
        return args

    def _where(self, path) -> str:
        return self.config.where(*path)


def _advance(geometry, built: Built):
    """Receptive field after one layer: r += (k - 1) * j; j *= s (per spatial dimension)."""
    if geometry is None or built.is_global:
        return None
    if built.kernel is None:
        return geometry
    rf, jump = geometry
    rf = tuple(r + (k - 1) * j for r, k, j in zip(rf, built.kernel, jump))
    return rf, tuple(j * s for j, s in zip(jump, built.stride))


def _compose(parts, dims: int):
    """One (kernel, stride) equivalent to layers in a row, so a block counts as one layer."""
    geometry = _advance(((1,) * dims, (1,) * dims), Built(None, ()))
    for kernel, stride, is_global in parts:
        geometry = _advance(geometry, Built(None, (), kernel=kernel, stride=stride, is_global=is_global))
    if geometry is None:
        return None, None, True
    return geometry[0], geometry[1], False
