"""The one registry of layer types.

A layer type is a builder function decorated with `@register`: it takes the incoming shape (one
sample, no batch dimension) and the layer's keyword arguments, and returns the module with its output
shape. Adding a layer type is one function and no other edit; the schema, the summary and the tests
(which parametrize over `list_layers()`) pick it up.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

from cnntrain.errors import ConfigError, UnknownLayerError, did_you_mean

REQUIRED = inspect.Parameter.empty
# Arguments PyTorch takes that the builder fills from the incoming shape, or that make no sense here
# (return_indices makes a pool return a tuple, which the next layer cannot take).
_NEVER_GIVEN = ("self", "device", "dtype", "inplace", "return_indices")


@dataclass
class Built:
    """A built layer and what the summary needs to know about it."""

    module: Any  # torch.nn.Module
    out_shape: tuple
    macs: int = 0
    # Window and step of the layer on each spatial dimension, for the receptive field; None: pointwise.
    kernel: tuple | None = None
    stride: tuple | None = None
    is_global: bool = False  # every output sees the whole input (flatten, linear)
    children: list = field(default_factory=list)  # a block's inner layers, as LayerInfo


@dataclass(frozen=True)
class LayerType:
    name: str
    build: Callable[..., Built]
    arguments: dict  # argument -> default (REQUIRED when it must be given)
    first_arg: str | None  # what a scalar stands for: `linear: 128`
    doc: str
    inferred: tuple = ()  # arguments taken from the input shape
    # Python types an argument's annotation names (PyTorch's or the builder's), where it names any:
    # `momentum: float | None` documents that null is allowed.
    accepts: dict = field(default_factory=dict)

    def nullable(self, argument: str) -> bool:
        return self.arguments.get(argument) is None or type(None) in self.accepts.get(argument, ())


_LAYERS: dict[str, LayerType] = {}


def register(name: str, *, torch_class=None, inferred: tuple = (), first_arg: str | None = None):
    """Decorator: `builder(in_shape, ctx, **args) -> Built` becomes layer type `name`.

    The accepted arguments are those of `torch_class` (minus `inferred`) plus the builder's own
    keyword-only parameters, so a layer accepts exactly what its PyTorch module does.
    """

    def decorate(builder):
        arguments, accepts = {}, {}
        if torch_class is not None:
            arguments.update(_parameters(torch_class.__init__, skip=inferred))
            accepts.update(_annotated_types(torch_class.__init__))
        arguments.update(_parameters(builder, kinds=(inspect.Parameter.KEYWORD_ONLY,)))
        accepts.update(_annotated_types(builder))
        doc = inspect.getdoc(torch_class) if torch_class is not None else inspect.getdoc(builder)
        _LAYERS[name] = LayerType(
            name=name,
            build=builder,
            arguments=arguments,
            first_arg=first_arg or next(iter(arguments), None),
            doc=(doc or "").split("\n\n")[0].replace("\n", " "),
            inferred=tuple(inferred),
            accepts={k: v for k, v in accepts.items() if k in arguments},
        )
        return builder

    return decorate


def _parameters(function, skip=(), kinds=None) -> dict:
    params = {}
    for p in inspect.signature(function).parameters.values():
        if p.name in _NEVER_GIVEN or p.name in skip or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if kinds is None or p.kind in kinds:
            params[p.name] = p.default
    return params


def _annotated_types(function) -> dict:
    """argument -> the plain classes its annotation names (`float | None` -> {float, NoneType})."""
    try:
        hints = typing.get_type_hints(function)
    except (NameError, TypeError):  # an annotation that does not resolve here: judge by the default
        return {}
    return {name: frozenset(_classes(hint)) for name, hint in hints.items() if name != "return"}


def _classes(hint) -> set:
    if isinstance(hint, type):
        return {hint}
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return set().union(*map(_classes, typing.get_args(hint)))
    origin = typing.get_origin(hint)
    return {origin} if isinstance(origin, type) else set()


def list_layers() -> list[str]:
    return sorted(_LAYERS)


def get_layer_type(name: str, where: str = "") -> LayerType:
    if name not in _LAYERS:

        prefix = f"{where}: " if where else ""
        raise UnknownLayerError(f"{prefix}unknown layer type `{name}`{did_you_mean(name, sorted(_LAYERS))}")
    return _LAYERS[name]


def normalize_args(layer: LayerType, args) -> dict:
    """Bare name -> {}, scalar -> {first_arg: scalar}, mapping -> copy; check names and requirements."""
    if args is None:
        args = {}
    elif not isinstance(args, dict):
        if layer.first_arg is None:
            raise ConfigError(f"{layer.name} takes no arguments, got {args!r}")
        args = {layer.first_arg: args}
    args = {k: v for k, v in args.items() if k != "name"}
    for key in args:
        if key in layer.inferred:
            raise UnknownLayerError(f"`{key}` of {layer.name} is inferred from the input; remove it")
        if key not in layer.arguments:

            raise UnknownLayerError(
                f"{layer.name} has no argument `{key}`{did_you_mean(key, list(layer.arguments) or ['(none)'])}"
            )
    missing = [k for k, default in layer.arguments.items() if default is REQUIRED and k not in args]
    if missing:
        raise ConfigError(f"{layer.name} needs {', '.join(missing)}")
    for key, value in args.items():
        _check_kind(layer, key, value)
    return args


def _check_kind(layer: LayerType, key: str, value) -> None:
    """A flag, number or word must be one: PyTorch takes `bias: "no"` as true, and `p: abc` fails obscurely.

    Judged by the default's type; int defaults are left to the builders (padding may also be a word).
    null passes where the argument's annotation allows None (batchnorm `momentum`, residual `activation`);
    a word may also be a mapping where the annotation says so (residual `activation: {leakyrelu: 0.2}`).
    """
    default = layer.arguments[key]
    accepts = layer.accepts.get(key, frozenset())
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok = isinstance(value, str) or (isinstance(value, dict) and dict in accepts)
        kind = "a string or a mapping" if dict in accepts else "a string"
    else:
        return
    if value is None and layer.nullable(key):
        return
    if not ok:
        kind = f"{kind} or null" if layer.nullable(key) else kind
        raise ConfigError(f"{layer.name} `{key}` must be {kind}, got {value!r}")


def create_layer(name: str, args, in_shape: tuple, ctx) -> Built:
    """Build one layer from its config entry, given the shape that reaches it."""
    layer = get_layer_type(name)
    kwargs = normalize_args(layer, args)
    try:
        return layer.build(in_shape, ctx, **kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError) as err:
        # PyTorch's own check on a value, e.g. a string where it wants an int; it also raises
        # RuntimeError (PReLU num_parameters -1) and AssertionError (Hardtanh min_val > max_val).
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"bad argument for {name}: {reason}") from None
