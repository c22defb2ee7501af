"""A JSON Schema of the config file, generated from the field table and the dataset and layer registries.

Point a YAML editor at it (`# yaml-language-server: $schema=cnntrain.schema.json`) to get
autocompletion and live checking; every registered layer type appears with its own arguments.
"""

from __future__ import annotations

from cnntrain.config.keys import AUGMENT, KEYS, NONE
from cnntrain.data import list_datasets
from cnntrain.model.registry import REQUIRED, get_layer_type, list_layers

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object", NONE: "null"}
# Arguments that take one size per spatial dimension: an int, or a list of ints.
_SIZES = {"kernel_size", "stride", "padding", "dilation", "output_size", "output_padding", "size"}
_SIZE_SCHEMA = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "array", "items": {"type": "integer"}}]}
# Sizes that may also be a word or leave a dimension to the input.
_SIZE_EXTRA = {
    "padding": [{"enum": ["same", "valid"]}],
    "output_size": [{"type": "null"}, {"type": "array", "items": {"type": ["integer", "null"]}}],
}


def config_schema() -> dict:
    layer = {"$ref": "#/$defs/layer"}
    sections = {name: _section_schema(fields) for name, fields in KEYS.items()}
    sections["model"]["properties"]["layers"] = {"type": "array", "items": layer, "minItems": 1}
    sections["data"]["properties"]["augment"].update(_section_schema(AUGMENT))
    sections["data"]["properties"]["dataset"]["enum"] = list_datasets()  # the config layer cannot know them
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "cnntrain config",
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "description": "names the run folder"}, **sections},
        "$defs": {"layer": _layer_schema(), **{f"layer_{n}": _arguments_schema(n) for n in list_layers()}},
    }


def _section_schema(fields: dict) -> dict:
    properties = {}
    for key, spec in fields.items():
        prop = {"description": spec.help, "type": [_JSON_TYPES[t] for t in spec.types]}
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if spec.minimum is not None:
            prop["minimum"] = spec.minimum
        if spec.maximum is not None:
            prop["maximum"] = spec.maximum
        if spec.default not in (None, [], {}):
            prop["default"] = spec.default
        properties[key] = prop
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _layer_schema() -> dict:
    """A bare name (`relu`), a one-key mapping to arguments, or a block defined in model.blocks."""
    names = list_layers()
    typed = [
        {"type": "object", "required": [n], "additionalProperties": False,
         "properties": {n: {"$ref": f"#/$defs/layer_{n}"}}}
        for n in names
    ]
    user_block = {"type": "object", "minProperties": 1, "maxProperties": 1,
                  "propertyNames": {"not": {"enum": names}}, "description": "a block from model.blocks"}
    return {"anyOf": [{"type": "string", "enum": names}, *typed, user_block]}


def _arguments_schema(name: str) -> dict:
    layer = get_layer_type(name)
    properties = {"name": {"type": "string", "description": "this layer's name"}}
    for arg, default in layer.arguments.items():
        properties[arg] = _argument_schema(arg, default, layer.accepts.get(arg, frozenset()))
    mapping = {"type": "object", "additionalProperties": False, "properties": properties,
               "description": layer.doc}
    if layer.first_arg is None:
        return {"anyOf": [{"type": "null"}, mapping]}
    # A scalar stands for the first argument: `linear: 128`, `dropout: 0.5`; a mapping is never a scalar.
    scalar = {"allOf": [properties[layer.first_arg], {"not": {"type": "object"}}], "description": layer.first_arg}
    return {"anyOf": [{"type": "null"}, mapping, scalar]}


def _argument_schema(arg: str, default, accepts: frozenset) -> dict:
    if arg == "groups":  # an int, or `in_channels` for a depthwise convolution
        return {"anyOf": [{"type": "integer", "minimum": 1}, {"enum": ["in_channels"]}], "default": default}
    if arg in _SIZES:
        sizes = {"anyOf": _SIZE_SCHEMA["anyOf"] + _SIZE_EXTRA.get(arg, [])}
        return {**sizes, **({"default": default} if default is not REQUIRED else {})}
    if default is REQUIRED or default is None:
        return {}
    kind = _JSON_TYPES.get(type(default))
    if not kind:
        return {}
    # What the annotation adds to the default's type: null where documented, a mapping for a layer.
    extra = [_JSON_TYPES[t] for t in (dict, NONE) if t in accepts and _JSON_TYPES[t] != kind]
    return {"type": [kind, *extra] if extra else kind, "default": default}
