"""The search space of `cnntrain tune`: SPACE.yaml read, checked against the config, and sampled.

    train.lr: {float: [1e-4, 1e-1], log: true}
    model.layers.conv1.out_channels: {int: [8, 64], step: 8}
    train.optimizer: {choice: [adam, sgd]}

Each key is a dotted config key as `--set` takes it (layers by index or name). Before the first trial
every key is set to each end of its range (each choice) and the config checked, so a misspelt key
gets `--set`'s did-you-mean, and a value the key cannot take is named; a layer argument is checked by
building the model once. A value that passes and still cannot train (a kernel larger than its map)
is a failed trial, not an error here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cnntrain.config.loader import line_numbers, load_config, parse_yaml
from cnntrain.errors import ConfigError, UnknownLayerError, check_keys

KINDS = ("float", "int", "choice")
OPTIONS = {"float": ("float", "log", "step"), "int": ("int", "log", "step"), "choice": ("choice",)}


@dataclass(frozen=True)
class Param:
    key: str  # dotted config key
    kind: str  # float, int or choice
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def as_dict(self) -> dict:
        """The spec as SPACE.yaml wrote it, normalised: what a study remembers to compare spaces."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        spec = {self.kind: [self.low, self.high]}
        return {**spec, **({"log": True} if self.log else {}), **({"step": self.step} if self.step else {})}

    def suggest(self, trial):
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.key, self.low, self.high, step=self.step or 1, log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def ends(self) -> list:
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


@dataclass(frozen=True)
class Space:
    source: str
    params: tuple[Param, ...]

    def as_dict(self) -> dict:
        return {p.key: p.as_dict() for p in self.params}

    def suggest(self, trial) -> dict:
        return {p.key: p.suggest(trial) for p in self.params}


def setting(key: str, value) -> str:
    """A `--set` for one sampled value: JSON is YAML, so a string stays a string and 1e-05 a float."""
    return f"{key}={json.dumps(value)}"


def load_space(path: str | Path) -> Space:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: search space not found; write a YAML file such as "
                          "`train.lr: {float: [1e-4, 1e-1], log: true}`")
    text = path.read_text(encoding="utf-8")
    raw = parse_yaml(text, str(path))
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(f"{path}: a search space maps dotted config keys to ranges, e.g. "
                          "`train.lr: {float: [1e-4, 1e-1], log: true}`")
    lines = line_numbers(text)
    params = tuple(_param(str(key), spec, _where(path, lines, key)) for key, spec in raw.items())
    return Space(str(path), params)


def _where(path: Path, lines: dict, key) -> str:
    line = lines.get((key,))
    return f"{path}:{line}: {key}" if line else f"{path}: {key}"


def _param(key: str, spec, where: str) -> Param:
    kinds = [k for k in KINDS if isinstance(spec, dict) and k in spec]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give one of {{float: [low, high]}}, {{int: [low, high]}} or "
                          f"{{choice: [a, b, ...]}}, got {spec!r}")
    kind = kinds[0]
    check_keys(spec, OPTIONS[kind], where, where=f"a {kind} range")
    if kind == "choice":
        choices = spec["choice"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: the choice is empty; list at least one value, e.g. {{choice: [adam, sgd]}}")
        return Param(key, kind, choices=tuple(choices))
    bounds, log, step = spec[kind], spec.get("log", False), spec.get("step")
    number = int if kind == "int" else (int, float)
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(isinstance(b, number) and not isinstance(b, bool) for b in bounds)):
        raise ConfigError(f"{where}: {kind} takes [low, high] as two {'integers' if kind == 'int' else 'numbers'}, "
                          f"got {bounds!r}")
    low, high = bounds
    if low > high:
        raise ConfigError(f"{where}: the range is [{low}, {high}], low > high; write it as [{high}, {low}]")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: log is true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: `log: true` needs a low above 0 (a log scale has no 0), got {low}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, number) or step <= 0):
        raise ConfigError(f"{where}: step must be a positive {'integer' if kind == 'int' else 'number'}, got {step!r}")
    if step is not None and log:
        raise ConfigError(f"{where}: step and log do not combine (Optuna samples a log scale continuously); "
                          "drop one")
    if kind == "float":
        low, high, step = float(low), float(high), None if step is None else float(step)
    return Param(key, kind, low, high, log, step)


def check_space(space: Space, config: str | Path, overrides=()) -> None:
    """Every key set to each end of its range (each choice), the config checked; then the model built once
    with the lows, for the layer arguments only the layer registry knows."""
    overrides = list(overrides)
    for param in space.params:
        for value in param.ends():
            try:
                load_config(config, overrides + [setting(param.key, value)])
            except ConfigError as error:
                raise ConfigError(_located(error, param, space, value)) from None
    lows = [setting(p.key, p.ends()[0]) for p in space.params]
    loaded = load_config(config, overrides + lows)
    from cnntrain.data import dataset_loader, known_num_classes
    from cnntrain.model.builder import build_model

    for param in space.params:
        if param.key == "data.dataset":  # the names are data's registry, which the config check cannot see
            for value in param.ends():
                dataset_loader(value, space.source)
    try:
        build_model(loaded, num_classes=known_num_classes(loaded.data, loaded.where("data", "dataset")) or 2)
    except UnknownLayerError as error:
        raise ConfigError(f"{space.source}: {error}") from None
    except ConfigError:
        pass  # an impossible shape at the low end: those trials fail with the reason, the others run


def _located(error: ConfigError, param: Param, space: Space, value) -> str:
    """`--set`'s message, said of the space file."""
    message = str(error)
    prefix = f"--set {param.key}"
    if message.startswith(prefix):
        return f"{space.source}: {param.key}{message[len(prefix):]}"
    return f"{space.source}: {param.key} = {value!r}: {message}"
