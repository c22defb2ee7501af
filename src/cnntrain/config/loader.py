"""Load a YAML config safely, apply `--set` overrides, fill defaults and validate.

Never imports torch: every command reads its config before any heavy import. Code reads a section's
values as attributes (`config.train.lr`, settings.py); `Config.to_dict` gives the plain data (dicts,
lists, scalars) that serialises into `config.yaml` and into checkpoints unchanged.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnntrain.config.keys import KEYS, SECTIONS, validate_section
from cnntrain.config.settings import SETTINGS, DataSettings, ModelSettings, TrainSettings
from cnntrain.errors import ConfigError, check_keys, did_you_mean

TOP_LEVEL = ("name",) + SECTIONS
MAX_DEPTH = 100  # nesting levels; real configs use fewer than 10
MAX_VALUES = 100_000  # values in all; ResNet-18's config has a few hundred


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float. PyYAML follows YAML 1.1, where a float needs a
    dot (`1.0e-3`), so the way everyone writes a learning rate would arrive as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


@dataclass(frozen=True)
class Config:
    """A resolved config: every default filled in, every value checked, each section a frozen object."""

    name: str
    data: DataSettings
    model: ModelSettings
    train: TrainSettings
    source: str = "<config>"
    # Line of each node in the source file, keyed by its path ("model", "layers", 3): error messages.
    lines: dict = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The plain-dict form (keys in the table's order) that config.yaml and checkpoints hold."""
        sections = {section: dataclasses.asdict(getattr(self, section)) for section in SECTIONS}
        return {"name": self.name, **sections}

    def replace(self, **sections: dict) -> Config:
        """A new Config with some keys of some sections changed, e.g. `config.replace(train={"epochs": 1})`.
        This one stays as it was: a task never changes the Config it was given, so its caller can reuse it
        (copied deeply, as the sections' lists and dicts are theirs to share otherwise)."""
        new = copy.deepcopy(self)
        changed = {section: dataclasses.replace(getattr(new, section), **copy.deepcopy(values))
                   for section, values in sections.items()}
        return dataclasses.replace(new, **changed)

    def line_of(self, *path) -> int | None:
        return self.lines.get(tuple(path))

    def where(self, *path) -> str:
        """`file:line` of a node, or just the file when the line is unknown."""
        line = self.line_of(*path)
        return f"{self.source}:{line}" if line else self.source

    def input_shape(self) -> tuple:
        """(C, *spatial) of one sample; spatial sizes may be None when the data decides them."""
        return (self.data.channels, *spatial_size(self.data.image_size))


def spatial_size(image_size) -> tuple:
    """An int is a square image; a list of 1, 2 or 3 ints a signal, image or volume; None keeps 2D."""
    if image_size is None:
        return (None, None)
    if isinstance(image_size, int):
        return (image_size, image_size)
    return tuple(image_size)


def load_config(path: str | Path, overrides: list[str] | tuple = ()) -> Config:
    """Read a YAML file, apply `--set key=value` overrides (the last one wins) and resolve it."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ConfigError(f"{path}: config file not found{hint}; pass a YAML file such as configs/cnn.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:  # e.g. `# réseau` saved as Latin-1: name the line, not a traceback
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 (byte 0x{err.object[err.start]:02x}); save the file as "
                          "UTF-8 (YAML configs are UTF-8 text)") from None
    raw = parse_yaml(text, str(path))
    lines = line_numbers(text)
    return resolve(raw, source=str(path), overrides=overrides, lines=lines, default_name=path.stem)


def config_from_dict(raw: dict, source: str = "<checkpoint>", overrides=()) -> Config:
    """Rebuild a Config from its plain-dict form, as stored in checkpoints and config.yaml."""
    return resolve(copy.deepcopy(raw), source=source, overrides=overrides)


def parse_yaml(text: str, source: str) -> Any:
    """yaml.safe_load with the error turned into `file:line:column: problem`; tags never execute."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:  # PyYAML builds nested values recursively: some hundred levels overflow it
        raise ConfigError(f"{source}: YAML nested too deeply to read; "
                          f"a config needs fewer than {MAX_DEPTH} levels") from None
    except yaml.constructor.ConstructorError as err:
        mark = err.problem_mark
        if "tag" not in (err.problem or ""):  # e.g. "found unhashable key": a list or mapping as a key
            raise ConfigError(f"{source}:{mark.line + 1}:{mark.column + 1}: YAML error: {err.problem}") from None
        tag = (err.problem or "").split("'")[1] if "'" in (err.problem or "") else "tag"
        raise ConfigError(
            f"{source}:{mark.line + 1}:{mark.column + 1}: the tag {tag} is not allowed; a config holds "
            "plain data only (nothing in it was executed)"
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: YAML syntax error: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: YAML error: {err}") from None
    except ValueError as err:  # PyYAML's own conversions: `!!int 0x`, a date like 2024-13-45
        raise ConfigError(f"{source}: YAML error: a value cannot be read ({err})") from None


def line_numbers(text: str) -> dict:
    """Map each node's path (keys and list indices) to its 1-based line, from the YAML node tree."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return {}
    lines: dict = {}
    seen: set = set()  # an alias is the same node again: walk it once (`&a [*a]` would never end)

    def walk(node, path):
        lines[path] = node.start_mark.line + 1
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                walk(value, path + (key.value,))
                lines[path + (key.value,)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    if root is not None:
        walk(root, ())
    return lines


def resolve(raw, *, source: str, overrides=(), lines=None, default_name="model") -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config is a mapping with keys {', '.join(TOP_LEVEL)}")
    for override in overrides:
        apply_override(raw, override, source)
    check_tree(raw, source)
    check_keys(raw, TOP_LEVEL, source, where="the top level")
    sections = {}
    for section in SECTIONS:
        value = raw.get(section) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: `{section}` must be a mapping, got {type(value).__name__}")
        sections[section] = SETTINGS[section](**validate_section(section, value, source, lines or {}))
    layers = sections["model"].layers
    if not isinstance(layers, list) or not layers:
        raise ConfigError(f"{source}: model.layers must be a non-empty list of layers")
    name = raw.get("name", default_name)
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"{source}: `name` must be a plain non-empty string (it names the run folder)")
    return Config(name=name, source=source, lines=lines or {}, **sections)


def check_tree(raw, source: str) -> None:
    """A config is a finite tree of plain values; YAML aliases can make it contain itself (`&a [*a]`)
    or expand exponentially ("billion laughs"), and either would hang or overflow whatever walks it."""
    budget = [MAX_VALUES]

    def walk(node, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0:
            raise ConfigError(f"{source}: the config expands to more than {MAX_VALUES:,} values "
                              "(through YAML aliases?); write it out plainly")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}: the config nests deeper than {MAX_DEPTH} levels, or a YAML alias "
                              "refers to a value that contains it (like `&a [*a]`)")
        for child in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
            walk(child, depth + 1)

    walk(raw, 0)


# --- `--set dotted.key=value` ---------------------------------------------------------------


def apply_override(raw: dict, override: str, source: str = "--set") -> None:
    """Set one dotted key. Values are YAML-typed (`3` is an int, `[1, 2]` a list, `null` None).

    Inside model.layers a segment may be a layer's index or its `name:`; the layer's arguments are
    reached through its type, so `model.layers.conv2.out_channels=64` needs no type name.
    """
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected dotted.key=value, e.g. --set train.epochs=5")
    value = parse_yaml(text, f"--set {key}")
    parts = key.strip().split(".")
    if parts[0] not in TOP_LEVEL:
        raise ConfigError(f"--set {key}: unknown top-level key `{parts[0]}`{did_you_mean(parts[0], TOP_LEVEL)}")
    if len(parts) == 1:  # `name`, or a whole section
        raw[parts[0]] = value
        return
    if parts[0] in KEYS:
        # Check here, so the message names the --set rather than a line of the file.
        fields = KEYS[parts[0]]
        if parts[1] not in fields:
            raise ConfigError(f"--set {key}: unknown key `{parts[1]}` in `{parts[0]}`{did_you_mean(parts[1], fields)}")
        if len(parts) == 2:
            fields[parts[1]].check(value, f"--set {key}")
    if raw.get(parts[0]) is None:  # an empty section (`train:`) is null in YAML
        raw[parts[0]] = {}
    node = raw[parts[0]]
    if parts[:2] == ["model", "layers"] and len(parts) > 2:
        node, parts = _layer_target(raw, parts, key)
    else:
        parts = parts[1:]
    for part in parts[:-1]:
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: `{part}` is inside a value that is not a mapping")
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {key}: cannot set a key inside a value that is not a mapping")
    if parts:
        node[parts[-1]] = value


def _layer_target(raw: dict, parts: list, key: str):
    """Find the layer a `model.layers.<index or name>...` override points at; return its args dict."""
    model = raw.get("model")
    layers = model.get("layers") if isinstance(model, dict) else None  # `--set model=3` came first
    if not isinstance(layers, list):
        raise ConfigError(f"--set {key}: model.layers is not a list in this config")
    index = find_layer(layers, parts[2], key)
    rest = parts[3:]
    if not rest:
        raise ConfigError(f"--set {key}: name an argument of the layer, e.g. {key}.out_channels=64")
    layer_type, args = layer_entry(layers[index], f"--set {key}")
    if not isinstance(args, dict):
        args = {} if args is None else {first_argument(layer_type, key): args}
    layers[index] = {layer_type: args}
    return args, rest


def find_layer(layers: list, ref: str, key: str) -> int:
    if re.fullmatch(r"-?[0-9]+", ref):  # not str.isdigit: "--1" and "²" would pass it, and int() fails
        index = int(ref)
        if not -len(layers) <= index < len(layers):
            raise ConfigError(f"--set {key}: there is no layer {index}; model.layers has {len(layers)} entries")
        return index % len(layers)
    names = [layer_name(entry) for entry in layers]
    if ref not in names:
        known = [n for n in names if n]
        raise ConfigError(f"--set {key}: no layer is named `{ref}`{did_you_mean(ref, known or ['(no named layers)'])}")
    return names.index(ref)


def layer_entry(entry, where: str) -> tuple[str, Any]:
    """A layer is a bare name (`relu`) or a one-key mapping (`{conv2d: {...}}`): return (type, args)."""
    if isinstance(entry, str):
        return entry.lower(), None
    if isinstance(entry, dict) and len(entry) == 1:
        (layer_type, args), = entry.items()
        if isinstance(layer_type, str):
            return layer_type.lower(), args
    raise ConfigError(
        f"{where}: a layer is a name like `relu` or a mapping with one key like "
        f"`conv2d: {{out_channels: 32, kernel_size: 3}}`, got {entry!r}"
    )


def layer_name(entry) -> str | None:
    if isinstance(entry, dict) and len(entry) == 1:
        args = next(iter(entry.values()))
        if isinstance(args, dict):
            return args.get("name")
    return None


def first_argument(layer_type: str, key: str) -> str:
    """The argument a scalar stands for (`linear: 128` means out_features=128), from the layer registry.

    The one import against the layers (an exception in pyproject's import contract): only the
    registry knows each layer's arguments, and a --set into a scalar-form layer needs the name.
    Deferred, so reading a config still never imports torch unless such a --set asks for it.
    """
    from cnntrain.model.registry import get_layer_type

    return get_layer_type(layer_type, where=f"--set {key}").first_arg
