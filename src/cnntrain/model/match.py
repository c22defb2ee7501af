"""Which of a file's tensors goes into which of the model's: by structure, not by name.

A state_dict lists tensors in the order its model registers them, so torchvision's
`layer1.0.conv1.weight` pairs with cnntrain's `layer1.0.0.body.0.weight` by position. Each pair must agree
in shape and in kind (weight, bias, running_mean, ...). Only the end may disagree: the classifier head
when `num_classes` changed, or a new head of several layers; those tensors keep their fresh initialisation
and are reported. A disagreement before that is an error naming the layer where the two part.

A .safetensors file does not keep that order (it sorts by dtype and name). Its tensors are put back in
order one layer at a time: each model layer takes the first unused layer of the file, in natural name
order (conv2 before conv10), with the same tensors and shapes.
"""

from __future__ import annotations

import re

from cnntrain.errors import CheckpointError
from cnntrain.text import shape_text


def match_tensors(target: dict, source: dict, label: str, *, ordered: bool = True) -> tuple[dict, list]:
    """(target name -> source tensor, skipped target tensors with the reason) or CheckpointError."""
    names = list(source)
    if set(target) <= set(source):  # the model's own names (a cnntrain checkpoint): those first
        names = list(target) + [n for n in source if n not in target]
    elif not ordered:
        names = _arrange(target, source)
    targets, sources = list(target.items()), [(n, source[n]) for n in names]
    n = 0
    while n < min(len(targets), len(sources)) and _fits(targets[n], sources[n]):
        n += 1
    rest = sources[n:]
    if len({_owner(name) for name, _ in rest}) > 1 or n == 0:
        raise _parting(label, targets, sources, n)
    pairs = {t_name: s_value for (t_name, _), (_, s_value) in zip(targets[:n], sources[:n])}
    return pairs, [_skipped(t, rest[i] if i < len(rest) else None) for i, t in enumerate(targets[n:])]


def _fits(target: tuple, source: tuple) -> bool:
    (t_name, t_value), (s_name, s_value) = target, source
    return _kind(t_name) == _kind(s_name) and tuple(t_value.shape) == tuple(s_value.shape)


def _skipped(target: tuple, source: tuple | None) -> dict:
    name, value = target
    if source is None:
        reason = "the file has no tensor for it"
    else:
        reason = f"the file's {source[0]} is {_shape(source[1])}"
    return {"name": name, "shape": _shape(value), "reason": reason}


def _parting(label: str, targets: list, sources: list, n: int) -> CheckpointError:
    fix = "use a config that builds the same network (configs/resnet18.yaml for resnet18 weights)"
    if n >= len(targets):
        extra = sources[n][0]
        return CheckpointError(f"model.init {label} does not fit this model: the file goes on after the model's "
                               f"last layer, with `{_owner(extra)}` ({_described(sources[n])}); {fix}")
    if n >= len(sources):
        return CheckpointError(f"model.init {label} does not fit this model: the file ends before layer "
                               f"`{_owner(targets[n][0])}` ({_described(targets[n])}); {fix}")
    return CheckpointError(f"model.init {label} does not fit this model: they part at layer "
                           f"`{_owner(targets[n][0])}` ({_described(targets[n])}) where the file has "
                           f"`{_owner(sources[n][0])}` ({_described(sources[n])}); {fix}")


def _described(item: tuple) -> str:
    name, value = item
    return f"{_kind(name)} {_shape(value)}"


def _shape(value) -> str:
    return shape_text(value.shape) if value.dim() else "scalar"


def _owner(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _kind(name: str) -> str:
    return name.rsplit(".", 1)[-1]


# --- a .safetensors file's order --------------------------------------------------------------------------------


def _arrange(target: dict, source: dict) -> list:
    """The source's names in the model's layer order, as far as the layers fit; the rest after, in name order."""
    pool = _layers(source, sorted(source, key=_natural))
    ordered, used = [], set()
    for owner, names in _layers(target, list(target)).items():
        want = {_kind(n): tuple(target[n].shape) for n in names}
        found = next((o for o, ns in pool.items() if o not in used and
                      {_kind(n): tuple(source[n].shape) for n in ns} == want), None)
        if found is None:
            break  # the head, or where the two part: the positional match reports it
        used.add(found)
        by_kind = {_kind(n): n for n in pool[found]}
        ordered += [by_kind[_kind(n)] for n in names]  # the model's order within a layer
    return ordered + [n for o, ns in pool.items() if o not in used for n in ns]


def _layers(tensors: dict, order: list) -> dict:
    layers: dict = {}
    for name in order:
        layers.setdefault(_owner(name), []).append(name)
    return layers


def _natural(name: str) -> list:
    """layer2.10 after layer2.9: numbers compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]
